// The sluicectl protocol's payload codec: what each message's bytes are, and
// the text rules its fields keep.
//
// Each message is described once, by a schema() function that walks its fields
// in wire order. The Encoder and the Decoder are two visitors over that walk,
// so a field cannot be written in one order and read in another, and every
// rule a decoder enforces (ranges, text, uniqueness) is enforced by the encoder
// too: neither end can build a message the other refuses.
#include <algorithm>
#include <cstring>
#include <set>
#include <type_traits>

#include "control/ctl_protocol.hpp"
#include "control/ctl_wire.hpp"

namespace sluice::ctl {

// ---- Text and names -------------------------------------------------------------------

namespace {

// Length of the UTF-8 sequence at s[i], or 0 when it is not one that a
// terminal can show safely: malformed, overlong, a surrogate, above U+10FFFF,
// or a control character (C0, DEL, C1). Control characters are refused so
// that nothing a daemon sends can move the cursor or start an escape sequence
// in the operator's terminal, and every text stays one line.
size_t safe_char_length(std::string_view s, size_t i) noexcept {
    const auto b = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
    const uint8_t c = b(i);
    if (c < 0x20 || c == 0x7f) return 0;
    if (c < 0x80) return 1;
    size_t n;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (i + n > s.size()) return 0;
    for (size_t k = 1; k < n; ++k) {
        if ((b(i + k) & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (b(i + k) & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000)) return 0;  // overlong
    if (cp >= 0xd800 && cp <= 0xdfff) return 0;                        // surrogate
    if (cp > 0x10ffff) return 0;
    if (cp >= 0x80 && cp <= 0x9f) return 0;  // C1 controls
    return n;
}

bool safe_text(std::string_view s) noexcept {
    for (size_t i = 0; i < s.size();) {
        const size_t n = safe_char_length(s, i);
        if (n == 0) return false;
        i += n;
    }
    return true;
}

// Interface, driver, role and port names: what sluice itself names things;
// with a longer limit, the device's xstat names.
bool valid_short_name(std::string_view s, size_t max = kMaxShortText) noexcept {
    return !s.empty() && s.size() <= max &&
           std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

// Drop reasons are snake_case identifiers (dataplane/drop_reasons.hpp).
bool valid_reason_name(std::string_view s) noexcept {
    return !s.empty() && s.size() <= kMaxShortText && std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    });
}

}  // namespace

std::string one_line(std::string_view text, size_t max) {
    std::string out;
    for (size_t i = 0; i < text.size();) {
        size_t n = safe_char_length(text, i);
        const std::string_view piece = n ? text.substr(i, n) : std::string_view("?");
        if (out.size() + piece.size() > max) break;
        out += piece;
        i += n ? n : 1;
    }
    return out;
}

// ---- Codec ----------------------------------------------------------------------------

namespace {

template <typename T, typename U>
concept Is = std::same_as<std::remove_const_t<T>, U>;

template <typename T>
struct is_optional : std::false_type {};
template <typename T>
struct is_optional<std::optional<T>> : std::true_type {};

template <typename T>
struct is_variant : std::false_type {};
template <typename... T>
struct is_variant<std::variant<T...>> : std::true_type {};

// A pair travels as its two fields; the rules on them are its owner's.
template <typename T>
struct is_pair : std::false_type {};
template <typename A, typename B>
struct is_pair<std::pair<A, B>> : std::true_type {};

void put_le(std::vector<uint8_t>& out, uint64_t v, size_t bytes) {
    for (size_t i = 0; i < bytes; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// Where in a message a visitor is, for error messages: "peers[2].allowed_ips[0]".
class FieldPath {
public:
    void push(const char* name) { parts_.push_back({name, -1}); }
    void push_index(size_t i) { parts_.push_back({nullptr, static_cast<long>(i)}); }
    void pop() { parts_.pop_back(); }
    std::string text() const {
        std::string out;
        for (const auto& [name, index] : parts_) {
            if (name) {
                if (!out.empty()) out += '.';
                out += name;
            } else {
                out += "[" + std::to_string(index) + "]";
            }
        }
        return out;
    }

private:
    std::vector<std::pair<const char*, long>> parts_;
};

// The rules shared by both visitors. Each returns nullptr when the value is
// fine, else why not.
const char* text_problem(std::string_view s, size_t max) noexcept {
    if (s.size() > max) return "text too long";
    if (!safe_text(s)) return "text is not printable UTF-8 on one line";
    return nullptr;
}

const char* address_problem(const IpAddress& a) noexcept {
    if (a.family != IpFamily::v4 && a.family != IpFamily::v6) return "address family not 4 or 6";
    if (a.family == IpFamily::v4 &&
        std::any_of(a.addr.begin() + 4, a.addr.end(), [](uint8_t b) { return b != 0; }))
        return "bytes set past an IPv4 address";
    return nullptr;
}

// Walks the fields of a message and writes them. Values that break a rule
// are reported rather than written, so the caller can refuse the message.
class Encoder {
public:
    explicit Encoder(std::vector<uint8_t>& out) : out_(out) {}

    bool failed() const noexcept { return !problem_.empty(); }
    const std::string& problem() const noexcept { return problem_; }

    template <typename V>
    void field(const char* name, const V& v) {
        path_.push(name);
        write(v);
        path_.pop();
    }

    void text(const char* name, const std::string& s, size_t max) {
        path_.push(name);
        write_text(s, max);
        path_.pop();
    }

    template <typename V>
    void list(const char* name, const std::vector<V>& items, size_t max) {
        path_.push(name);
        if (items.size() > max) fail("too many entries");
        put_le(out_, items.size(), 4);
        for (size_t i = 0; i < items.size(); ++i) {
            path_.push_index(i);
            write(items[i]);
            path_.pop();
        }
        path_.pop();
    }

    void check(bool ok, const char* name, const char* why) {
        if (ok) return;
        path_.push(name);
        fail(why);
        path_.pop();
    }

private:
    void fail(const char* why) {
        if (problem_.empty()) problem_ = path_.text() + ": " + why;
    }

    void write_text(const std::string& s, size_t max) {
        if (const char* why = text_problem(s, max)) fail(why);
        put_le(out_, s.size(), 2);
        out_.insert(out_.end(), s.begin(), s.end());
    }

    void write_address(const IpAddress& a) {
        if (const char* why = address_problem(a)) fail(why);
        out_.push_back(static_cast<uint8_t>(a.family));
        const size_t n = a.family == IpFamily::v4 ? 4 : 16;
        out_.insert(out_.end(), a.addr.begin(), a.addr.begin() + n);
    }

    template <typename V>
    void write(const V& v) {
        if constexpr (std::is_same_v<V, bool>) {
            out_.push_back(v ? 1 : 0);
        } else if constexpr (std::is_integral_v<V>) {
            put_le(out_, static_cast<uint64_t>(v), sizeof(V));
        } else if constexpr (std::is_same_v<V, KeypairSlot>) {
            out_.push_back(static_cast<uint8_t>(v));
        } else if constexpr (std::is_same_v<V, NeighbourState>) {
            if (v > NeighbourState::permanent) fail("neighbour state not 0..4");
            out_.push_back(static_cast<uint8_t>(v));
        } else if constexpr (std::is_same_v<V, Key> || std::is_same_v<V, MacAddress>) {
            out_.insert(out_.end(), v.begin(), v.end());
        } else if constexpr (std::is_same_v<V, std::string>) {
            write_text(v, kMaxText);
        } else if constexpr (std::is_same_v<V, IpAddress>) {
            write_address(v);
        } else if constexpr (std::is_same_v<V, IpPrefix>) {
            write_address(v.address());
            if (!v.valid()) fail("prefix length out of range");
            out_.push_back(v.length);
        } else if constexpr (std::is_same_v<V, SocketAddress>) {
            write_address(v.address);
            if (v.port == 0) fail("port 0");
            put_le(out_, v.port, 2);
        } else if constexpr (is_optional<V>::value) {
            out_.push_back(v ? 1 : 0);
            if (v) write(*v);
        } else if constexpr (is_variant<V>::value) {
            out_.push_back(static_cast<uint8_t>(v.index() + 1));
            std::visit([&](const auto& alt) { write(alt); }, v);
        } else if constexpr (is_pair<V>::value) {
            write(v.first);
            write(v.second);
        } else {
            schema(*this, v);
        }
    }

    std::vector<uint8_t>& out_;
    FieldPath path_;
    std::string problem_;
};

// Walks the fields of a message and reads them from untrusted bytes. The
// first problem stops it: later reads do nothing, so a schema function needs
// no error checks of its own.
class Decoder {
public:
    explicit Decoder(std::span<const uint8_t> in) : in_(in) {}

    bool failed() const noexcept { return error_.code != Errc::ok; }

    template <typename V>
    void field(const char* name, V& v) {
        if (failed()) return;
        path_.push(name);
        read(v);
        path_.pop();
    }

    void text(const char* name, std::string& s, size_t max) {
        if (failed()) return;
        path_.push(name);
        read_text(s, max);
        path_.pop();
    }

    template <typename V>
    void list(const char* name, std::vector<V>& items, size_t max) {
        if (failed()) return;
        path_.push(name);
        const uint8_t* p = take(4);
        if (p) {
            const uint64_t count = get_le(p, 4);
            // Every element takes at least one byte, so a count above what is
            // left is a lie; refusing it here keeps the loop (and the vector,
            // which grows only as elements arrive) bounded by the payload.
            if (count > max)
                fail(Errc::bad_value,
                     std::to_string(count) + " entries, at most " + std::to_string(max));
            else if (count > in_.size() - pos_)
                fail(Errc::short_payload, std::to_string(count) + " entries announced, " +
                                              std::to_string(in_.size() - pos_) + " bytes left");
            items.clear();
            for (uint64_t i = 0; i < count && !failed(); ++i) {
                path_.push_index(static_cast<size_t>(i));
                items.emplace_back();
                read(items.back());
                path_.pop();
            }
        }
        path_.pop();
    }

    void check(bool ok, const char* name, const char* why) {
        if (ok || failed()) return;
        path_.push(name);
        fail(Errc::bad_value, why);
        path_.pop();
    }

    // After the last field: the whole payload must have been used.
    Error finish() {
        if (!failed() && pos_ != in_.size())
            error_ = {Errc::trailing_bytes, std::to_string(in_.size() - pos_) + " bytes"};
        return error_;
    }

private:
    void fail(Errc code, std::string why) {
        if (failed()) return;
        const std::string where = path_.text();
        error_ = {code, where.empty() ? std::move(why) : where + ": " + why};
    }

    const uint8_t* take(size_t n) {
        if (failed()) return nullptr;
        if (in_.size() - pos_ < n) {
            fail(Errc::short_payload, "needs " + std::to_string(n) + " bytes, " +
                                          std::to_string(in_.size() - pos_) + " left");
            return nullptr;
        }
        const uint8_t* p = in_.data() + pos_;
        pos_ += n;
        return p;
    }

    uint8_t read_byte_in(uint8_t max, const char* why) {
        const uint8_t* p = take(1);
        if (!p) return 0;
        if (*p > max) fail(Errc::bad_value, why);
        return *p;
    }

    void read_text(std::string& s, size_t max) {
        const uint8_t* p = take(2);
        if (!p) return;
        const size_t n = static_cast<size_t>(get_le(p, 2));
        if (n > max)
            return fail(Errc::bad_value,
                        "text of " + std::to_string(n) + " bytes, at most " + std::to_string(max));
        const uint8_t* body = take(n);
        if (!body) return;
        s.assign(reinterpret_cast<const char*>(body), n);
        if (const char* why = text_problem(s, max)) fail(Errc::bad_value, why);
    }

    void read_address(IpAddress& a) {
        const uint8_t* f = take(1);
        if (!f) return;
        if (*f != 4 && *f != 6) return fail(Errc::bad_value, "address family not 4 or 6");
        a.family = static_cast<IpFamily>(*f);
        a.addr.fill(0);
        const size_t n = a.family == IpFamily::v4 ? 4 : 16;
        if (const uint8_t* p = take(n)) std::copy(p, p + n, a.addr.begin());
    }

    template <typename V>
    void read(V& v) {
        if constexpr (std::is_same_v<V, bool>) {
            v = read_byte_in(1, "boolean not 0 or 1") == 1;
        } else if constexpr (std::is_integral_v<V>) {
            if (const uint8_t* p = take(sizeof(V))) v = static_cast<V>(get_le(p, sizeof(V)));
        } else if constexpr (std::is_same_v<V, KeypairSlot>) {
            v = static_cast<KeypairSlot>(read_byte_in(2, "keypair slot not 0, 1 or 2"));
        } else if constexpr (std::is_same_v<V, NeighbourState>) {
            v = static_cast<NeighbourState>(read_byte_in(4, "neighbour state not 0..4"));
        } else if constexpr (std::is_same_v<V, Key> || std::is_same_v<V, MacAddress>) {
            if (const uint8_t* p = take(v.size())) std::copy(p, p + v.size(), v.begin());
        } else if constexpr (std::is_same_v<V, std::string>) {
            read_text(v, kMaxText);
        } else if constexpr (std::is_same_v<V, IpAddress>) {
            read_address(v);
        } else if constexpr (std::is_same_v<V, IpPrefix>) {
            IpAddress a;
            read_address(a);
            v.family = a.family;
            v.addr = a.addr;
            if (const uint8_t* p = take(1)) v.length = *p;
            if (!failed() && !v.valid()) fail(Errc::bad_value, "prefix length out of range");
        } else if constexpr (std::is_same_v<V, SocketAddress>) {
            read_address(v.address);
            if (const uint8_t* p = take(2)) v.port = static_cast<uint16_t>(get_le(p, 2));
            if (!failed() && v.port == 0) fail(Errc::bad_value, "port 0");
        } else if constexpr (is_optional<V>::value) {
            const bool present = read_byte_in(1, "presence flag not 0 or 1") == 1;
            if (failed()) return;
            if (present) {
                v.emplace();
                read(*v);
            } else {
                v.reset();
            }
        } else if constexpr (is_variant<V>::value) {
            const uint8_t tag = read_byte_in(std::variant_size_v<V>, "unknown alternative");
            if (failed()) return;
            if (tag == 0) return fail(Errc::bad_value, "unknown alternative");
            read_alternative(v, tag - 1, std::make_index_sequence<std::variant_size_v<V>>());
        } else if constexpr (is_pair<V>::value) {
            read(v.first);
            read(v.second);
        } else {
            schema(*this, v);
        }
    }

    template <typename V, size_t... I>
    void read_alternative(V& v, size_t index, std::index_sequence<I...>) {
        ((I == index ? (void)read(v.template emplace<I>()) : void()), ...);
    }

    std::span<const uint8_t> in_;
    size_t pos_ = 0;
    FieldPath path_;
    Error error_;
};

// ---- Schemas: one per message, fields in wire order --------------------------------------

// Messages without fields.
template <typename IO, typename T>
requires std::is_empty_v<std::remove_const_t<T>>
void schema(IO&, T&) {}

template <typename List>
bool unique_by(const List& items, auto key) {
    std::set<decltype(key(items.front()))> seen;
    for (const auto& item : items)
        if (!seen.insert(key(item)).second) return false;
    return true;
}

// A SecretKey travels as the std::optional<Key> it is.
std::optional<Key>& as_optional(SecretKey& k) { return k; }
const std::optional<Key>& as_optional(const SecretKey& k) { return k; }

template <typename IO, Is<PeerAddRequest> T>
void schema(IO& io, T& r) {
    io.field("public_key", r.public_key);
    io.text("name", r.name, kMaxPeerName);
    io.check(r.name.empty() || valid_peer_name(r.name), "name",
             "a peer name is 1 to 64 printable ASCII characters, no space at either end");
    io.field("preshared_key", as_optional(r.preshared_key));
    io.field("endpoint", r.endpoint);
    io.list("allowed_ips", r.allowed_ips, kMaxAllowedIps);
    io.check(std::all_of(r.allowed_ips.begin(), r.allowed_ips.end(),
                         [](const IpPrefix& p) { return p.is_masked(); }),
             "allowed_ips", "a prefix has bits set past its length");
    io.check(unique_by(r.allowed_ips, [](const IpPrefix& p) { return p; }), "allowed_ips",
             "a prefix appears twice");
    io.field("persistent_keepalive", r.persistent_keepalive);
}

template <typename IO, Is<PeerRemoveRequest> T>
void schema(IO& io, T& r) {
    io.field("peer", r.peer);
    const auto* name = std::get_if<std::string>(&r.peer);
    io.check(!name || valid_peer_name(*name), "peer",
             "a peer name is 1 to 64 printable ASCII characters, no space at either end");
}

template <typename IO, Is<VersionResponse> T>
void schema(IO& io, T& r) {
    io.text("daemon_version", r.daemon_version, kMaxShortText);
    io.field("protocol", r.protocol);
    io.text("interface", r.interface, kMaxShortText);
    io.text("driver", r.driver, kMaxShortText);
    io.field("uptime_s", r.uptime_s);
}

template <typename IO, Is<InterfaceInfo> T>
void schema(IO& io, T& r) {
    io.text("name", r.name, kMaxShortText);
    io.check(valid_short_name(r.name), "name", "not a name");
    io.field("public_key", r.public_key);
    io.field("listen_port", r.listen_port);
    io.text("driver", r.driver, kMaxShortText);
    io.field("mtu", r.mtu);
    io.list("addresses", r.addresses, kMaxAddresses);
}

template <typename IO, Is<KeypairInfo> T>
void schema(IO& io, T& r) {
    io.field("slot", r.slot);
    io.field("local_index", r.local_index);
    io.field("remote_index", r.remote_index);
    io.field("age_ms", r.age_ms);
    io.field("we_initiated", r.we_initiated);
    io.field("messages_sent", r.messages_sent);
}

template <typename IO, Is<PeerInfo> T>
void schema(IO& io, T& r) {
    io.field("public_key", r.public_key);
    io.text("name", r.name, kMaxPeerName);
    io.check(r.name.empty() || valid_peer_name(r.name), "name", "not a peer name");
    io.field("has_preshared_key", r.has_preshared_key);
    io.field("endpoint", r.endpoint);
    io.list("allowed_ips", r.allowed_ips, kMaxAllowedIps);
    io.field("handshake_age_ms", r.handshake_age_ms);
    io.field("persistent_keepalive", r.persistent_keepalive);
    io.field("rx_bytes", r.rx_bytes);
    io.field("tx_bytes", r.tx_bytes);
    io.list("keypairs", r.keypairs, kMaxKeypairs);
    io.check(unique_by(r.keypairs, [](const KeypairInfo& k) { return k.slot; }), "keypairs",
             "two keypairs in one slot");
}

template <typename IO, Is<ShowResponse> T>
void schema(IO& io, T& r) {
    io.field("interface", r.interface);
    io.list("peers", r.peers, kMaxPeers);
    io.check(unique_by(r.peers, [](const PeerInfo& p) { return p.public_key; }), "peers",
             "a public key appears twice");
}

template <typename IO, Is<LcoreCounters> T>
void schema(IO& io, T& r) {
    io.field("rx_packets", r.rx_packets);
    io.field("rx_bytes", r.rx_bytes);
    io.field("tx_packets", r.tx_packets);
    io.field("tx_bytes", r.tx_bytes);
    io.field("dropped", r.dropped);
}

template <typename IO, Is<LcoreInfo> T>
void schema(IO& io, T& r) {
    io.field("lcore_id", r.lcore_id);
    io.text("role", r.role, kMaxShortText);
    io.check(valid_short_name(r.role), "role", "not a name");
    io.field("counters", r.counters);
    io.field("busy_cycles", r.busy_cycles);
    io.field("total_cycles", r.total_cycles);
    io.field("handed_out", r.handed_out);
    io.field("handed_in", r.handed_in);
    io.field("pipelined", r.pipelined);
}

template <typename IO, Is<LcoresResponse> T>
void schema(IO& io, T& r) {
    io.list("lcores", r.lcores, kMaxLcores);
    io.check(unique_by(r.lcores, [](const LcoreInfo& l) { return l.lcore_id; }), "lcores",
             "an lcore id appears twice");
}

template <typename IO, Is<PortCounters> T>
void schema(IO& io, T& r) {
    io.field("rx_packets", r.rx_packets);
    io.field("rx_bytes", r.rx_bytes);
    io.field("rx_missed", r.rx_missed);
    io.field("rx_errors", r.rx_errors);
    io.field("tx_packets", r.tx_packets);
    io.field("tx_bytes", r.tx_bytes);
    io.field("tx_errors", r.tx_errors);
}

static_assert(kMaxXstatName == 128, "the message below says 128");

template <typename IO, Is<Xstat> T>
void schema(IO& io, T& r) {
    io.text("name", r.name, kMaxXstatName);
    io.check(valid_short_name(r.name, kMaxXstatName), "name",
             "not an xstat name (1 to 128 characters 0x21..0x7E)");
    io.field("value", r.value);
}

template <typename IO, Is<PortInfo> T>
void schema(IO& io, T& r) {
    io.field("port_id", r.port_id);
    io.text("name", r.name, kMaxShortText);
    io.check(valid_short_name(r.name), "name", "not a name");
    io.text("driver", r.driver, kMaxShortText);
    io.text("device", r.device, kMaxText);
    io.field("link_up", r.link_up);
    io.field("speed_mbps", r.speed_mbps);
    io.field("mtu", r.mtu);
    io.field("rx_queues", r.rx_queues);
    io.field("tx_queues", r.tx_queues);
    io.field("counters", r.counters);
    io.text("why", r.why, kMaxText);
    io.text("notes", r.notes, kMaxText);
    io.list("xstats", r.xstats, kMaxXstats);
    io.check(unique_by(r.xstats, [](const Xstat& x) { return x.name; }), "xstats",
             "a name appears twice");
}

template <typename IO, Is<PortsResponse> T>
void schema(IO& io, T& r) {
    io.list("ports", r.ports, kMaxPorts);
    io.check(unique_by(r.ports, [](const PortInfo& p) { return p.port_id; }), "ports",
             "a port id appears twice");
}

template <typename IO, Is<DropRow> T>
void schema(IO& io, T& r) {
    io.text("reason", r.reason, kMaxShortText);
    io.check(valid_reason_name(r.reason), "reason", "not a snake_case reason name");
    io.list("per_lcore", r.per_lcore, kMaxLcores);
}

template <typename IO, Is<DropsResponse> T>
void schema(IO& io, T& r) {
    io.list("lcore_ids", r.lcore_ids, kMaxLcores);
    io.check(unique_by(r.lcore_ids, [](uint32_t id) { return id; }), "lcore_ids",
             "an lcore id appears twice");
    io.list("rows", r.rows, kMaxDropReasons);
    io.check(
        std::all_of(r.rows.begin(), r.rows.end(),
                    [&](const DropRow& row) { return row.per_lcore.size() == r.lcore_ids.size(); }),
        "rows", "a row's column count differs from lcore_ids");
    io.check(unique_by(r.rows, [](const DropRow& row) { return row.reason; }), "rows",
             "a reason appears twice");
}

template <typename IO, Is<PortStats> T>
void schema(IO& io, T& r) {
    io.field("port_id", r.port_id);
    io.text("name", r.name, kMaxShortText);
    io.check(valid_short_name(r.name), "name", "not a name");
    io.field("counters", r.counters);
}

template <typename IO, Is<LcoreStats> T>
void schema(IO& io, T& r) {
    io.field("lcore_id", r.lcore_id);
    io.field("counters", r.counters);
}

template <typename IO, Is<StatsResponse> T>
void schema(IO& io, T& r) {
    io.field("timestamp_ns", r.timestamp_ns);
    io.list("ports", r.ports, kMaxPorts);
    io.check(unique_by(r.ports, [](const PortStats& p) { return p.port_id; }), "ports",
             "a port id appears twice");
    io.list("lcores", r.lcores, kMaxLcores);
    io.check(unique_by(r.lcores, [](const LcoreStats& l) { return l.lcore_id; }), "lcores",
             "an lcore id appears twice");
}

template <typename IO, Is<PeerRemoveResponse> T>
void schema(IO& io, T& r) {
    io.field("public_key", r.public_key);
    io.text("name", r.name, kMaxPeerName);
    io.check(r.name.empty() || valid_peer_name(r.name), "name", "not a peer name");
}

template <typename IO, Is<ReloadResponse> T>
void schema(IO& io, T& r) {
    io.field("peers_added", r.peers_added);
    io.field("peers_removed", r.peers_removed);
    io.field("peers_changed", r.peers_changed);
    io.list("warnings", r.warnings, kMaxWarnings);
}

// Whether an entry in this state has a MAC: the ones packets are sent with.
bool has_mac(NeighbourState state) noexcept {
    return state == NeighbourState::reachable || state == NeighbourState::probing ||
           state == NeighbourState::permanent;
}

template <typename IO, Is<NeighbourInfo> T>
void schema(IO& io, T& r) {
    io.field("address", r.address);
    io.field("state", r.state);
    io.field("mac", r.mac);
    io.check(r.mac.has_value() == has_mac(r.state), "mac",
             "present for reachable, probing and static entries only");
    io.field("tries", r.tries);
    io.field("queued", r.queued);
    io.field("age_ms", r.age_ms);
    io.field("next_ms", r.next_ms);
}

template <typename IO, Is<NeighbourPortCounters> T>
void schema(IO& io, T& r) {
    io.field("requests_sent", r.requests_sent);
    io.field("resolved", r.resolved);
    io.field("changed", r.changed);
    io.field("failed", r.failed);
    io.field("queued", r.queued);
    io.field("released", r.released);
    io.field("dropped_queue_full", r.dropped_queue_full);
    io.field("dropped_failed", r.dropped_failed);
    io.field("dropped_table_full", r.dropped_table_full);
    io.field("requests_failed", r.requests_failed);
    io.field("arp_replies", r.arp_replies);
    io.field("nd_adverts", r.nd_adverts);
    io.field("echo_replies", r.echo_replies);
    io.field("time_exceeded_sent", r.time_exceeded_sent);
    io.field("too_big_sent", r.too_big_sent);
    io.field("punted_learn", r.punted_learn);
    io.field("punted_await", r.punted_await);
    io.field("punt_full", r.punt_full);
}

template <typename IO, Is<NeighbourPort> T>
void schema(IO& io, T& r) {
    io.text("port", r.port, kMaxShortText);
    io.check(valid_short_name(r.port), "port", "not a name");
    io.list("neighbours", r.neighbours, kMaxNeighbours);
    io.check(unique_by(r.neighbours, [](const NeighbourInfo& n) { return n.address; }),
             "neighbours", "an address appears twice");
    io.field("counters", r.counters);
}

template <typename IO, Is<NeighboursResponse> T>
void schema(IO& io, T& r) {
    io.text("driver", r.driver, kMaxShortText);
    io.list("ports", r.ports, kMaxPorts);
    io.check(unique_by(r.ports, [](const NeighbourPort& p) { return p.port; }), "ports",
             "a port name appears twice");
}

// Counters sent by name (show streams): each a text name and a u64, names
// snake_case and unique, so a newer daemon's counters still show.
template <typename IO, typename Counters>  // const when encoding
void named_counters(IO& io, Counters& counters) {
    io.list("counters", counters, kMaxSessionCounters);
    io.check(std::all_of(counters.begin(), counters.end(),
                         [](const auto& c) { return valid_reason_name(c.first); }),
             "counters", "a name is not snake_case (1 to 64 of a-z 0-9 _)");
    io.check(unique_by(counters, [](const auto& c) { return c.first; }), "counters",
             "a name appears twice");
}

template <typename IO, Is<StreamEntry> T>
void schema(IO& io, T& r) {
    io.field("id", r.id);
    io.field("local", r.local);
    io.text("state", r.state, kMaxShortText);
    io.check(valid_short_name(r.state), "state", "not a name");
    io.text("forward", r.forward, kMaxText);
    io.field("tx_written", r.tx_written);
    io.field("tx_acked", r.tx_acked);
    io.field("tx_credit", r.tx_credit);
    io.field("rx_received", r.rx_received);
    io.field("rx_read", r.rx_read);
    io.field("rx_credit", r.rx_credit);
    io.field("rx_window", r.rx_window);
    io.field("rx_buffered", r.rx_buffered);
    io.field("fin_sent", r.fin_sent);
    io.field("fin_received", r.fin_received);
}

template <typename IO, Is<StreamSession> T>
void schema(IO& io, T& r) {
    io.text("peer", r.peer, kMaxPeerName);
    io.check(valid_peer_name(r.peer), "peer", "not a peer name or key");
    io.text("state", r.state, kMaxShortText);
    io.check(valid_short_name(r.state), "state", "not a name");
    io.field("session_id", r.session_id);
    io.field("peer_session_id", r.peer_session_id);
    io.text("close_error", r.close_error, kMaxShortText);
    io.check(r.close_error.empty() || valid_reason_name(r.close_error), "close_error",
             "not a snake_case error name");
    io.field("closed_by_peer", r.closed_by_peer);
    io.text("close_reason", r.close_reason, kMaxText);
    io.field("srtt_us", r.srtt_us);
    io.field("min_rtt_us", r.min_rtt_us);
    io.field("rttvar_us", r.rttvar_us);
    io.field("cwnd", r.cwnd);
    io.field("ssthresh", r.ssthresh);
    io.field("bytes_in_flight", r.bytes_in_flight);
    io.field("tx_max_data", r.tx_max_data);
    io.field("tx_data", r.tx_data);
    io.field("rx_max_data", r.rx_max_data);
    io.field("rx_data", r.rx_data);
    io.field("rx_window", r.rx_window);
    io.field("tx_max_streams", r.tx_max_streams);
    io.field("rx_max_streams", r.rx_max_streams);
    io.field("buffered", r.buffered);
    named_counters(io, r.counters);
    io.list("streams", r.streams, kMaxStreams);
    io.check(unique_by(r.streams, [](const StreamEntry& s) { return s.id; }), "streams",
             "a stream id appears twice");
}

template <typename IO, Is<StreamsResponse> T>
void schema(IO& io, T& r) {
    io.field("enabled", r.enabled);
    io.field("memory_budget", r.memory_budget);
    io.field("memory_used", r.memory_used);
    named_counters(io, r.counters);
    io.list("sessions", r.sessions, kMaxStreamSessions);
}

template <typename IO, Is<Failure> T>
void schema(IO& io, T& r) {
    io.text("message", r.message, kMaxText);
}

// ---- Frames from messages ---------------------------------------------------------------

// Encodes `message` after room for a header, then fills the header in. The
// problem string is empty when every field kept its rules.
template <typename M>
std::vector<uint8_t> frame_of(const M& message, Header header, std::string& problem) {
    std::vector<uint8_t> out(kHeaderSize);
    Encoder encoder(out);
    schema(encoder, message);
    problem = encoder.problem();
    header.payload_length = static_cast<uint32_t>(out.size() - kHeaderSize);
    put_header(out.data(), header);
    return out;
}

template <typename Variant>
Result<Variant> decode_payload(size_t index, std::span<const uint8_t> payload) {
    std::optional<Result<Variant>> out;
    [&]<size_t... I>(std::index_sequence<I...>) {
        ((I == index ? (void)[&] {
            std::variant_alternative_t<I, Variant> value;
            Decoder decoder(payload);
            schema(decoder, value);
            Error e = decoder.finish();
            if (e.code != Errc::ok)
                out.emplace(std::move(e));
            else
                out.emplace(Variant(std::in_place_index<I>, std::move(value)));
        }()
                     : void()),
         ...);
    }
    (std::make_index_sequence<std::variant_size_v<Variant>>());
    return std::move(*out);
}

}  // namespace

Result<std::vector<uint8_t>> encode_request(const Request& request, uint32_t request_id) {
    const Header header{kProtocolVersion,
                        static_cast<uint16_t>(command_of(request)),
                        Kind::request,
                        request_id,
                        0,
                        0};
    std::string problem;
    std::vector<uint8_t> out =
        std::visit([&](const auto& r) { return frame_of(r, header, problem); }, request);
    if (!problem.empty()) return Error{Errc::bad_value, problem};
    const CommandSpec& spec = spec_of(command_of(request));
    const size_t size = out.size() - kHeaderSize;
    if (size > spec.max_request_payload)
        return Error{Errc::oversized, "request payload of " + std::to_string(size) +
                                          " bytes, the limit is " +
                                          std::to_string(spec.max_request_payload)};
    return out;
}

std::vector<uint8_t> encode_failure(uint16_t command, uint32_t request_id, const Failure& failure) {
    Failure f{failure.status, one_line(failure.message, kMaxText)};
    if (f.status == 0 || f.status > kMaxStatus) f.status = EIO;
    std::string problem;  // one_line() leaves nothing to refuse
    return frame_of(f, Header{kProtocolVersion, command, Kind::response, request_id, f.status, 0},
                    problem);
}

std::vector<uint8_t> encode_response(const Response& response, uint32_t request_id) {
    const auto command = static_cast<uint16_t>(command_of(response));
    const Header header{kProtocolVersion, command, Kind::response, request_id, 0, 0};
    std::string problem;
    std::vector<uint8_t> out =
        std::visit([&](const auto& r) { return frame_of(r, header, problem); }, response);
    // A reply the client would refuse becomes a failure that says why, so
    // that a daemon bug shows up as a message rather than a protocol error.
    if (!problem.empty())
        return encode_failure(command, request_id,
                              {EPROTO, "sluiced built an invalid reply: " + problem});
    if (out.size() - kHeaderSize > kMaxResponsePayload)
        return encode_failure(command, request_id,
                              {EMSGSIZE, "the reply is larger than the protocol allows (" +
                                             std::to_string(out.size() - kHeaderSize) + " bytes)"});
    return out;
}

Result<Request> decode_request(const Frame& frame) {
    const Header& h = frame.header;
    if (Error e = header_problem(h, Kind::request, kMaxRequestPayload, 0); e.code != Errc::ok)
        return e;
    if (h.payload_length != frame.payload.size())
        return Error{Errc::bad_header, "payload length does not match the payload"};
    const auto command = command_from_id(h.command);
    if (!command) return Error{Errc::unknown_command, "", 0, 0, h.command};
    const CommandSpec& spec = spec_of(*command);
    const size_t size = frame.payload.size();
    if (size < spec.min_request_payload || size > spec.max_request_payload) {
        return Error{Errc::bad_size,
                     std::string(spec.name) + " takes " +
                         (spec.max_request_payload == 0
                              ? std::string("no payload")
                              : std::to_string(spec.min_request_payload) + ".." +
                                    std::to_string(spec.max_request_payload) + " bytes") +
                         ", got " + std::to_string(size)};
    }
    return decode_payload<Request>(h.command - 1, frame.payload);
}

Result<Response> decode_response(const Frame& frame) {
    const Header& h = frame.header;
    if (Error e = header_problem(h, Kind::response, kMaxResponsePayload, 0); e.code != Errc::ok)
        return e;
    if (h.payload_length != frame.payload.size())
        return Error{Errc::bad_header, "payload length does not match the payload"};
    if (h.status != 0) {
        Failure failure;
        Decoder decoder(frame.payload);
        schema(decoder, failure);
        if (Error e = decoder.finish(); e.code != Errc::ok) return e;
        return Error{Errc::daemon_error, std::move(failure.message), h.status};
    }
    if (!command_from_id(h.command)) return Error{Errc::unknown_command, "", 0, 0, h.command};
    return decode_payload<Response>(h.command - 1, frame.payload);
}

Result<Response> decode_response(const Frame& frame, Command command, uint32_t request_id) {
    const Header& h = frame.header;
    // A version mismatch says more than "mismatched", so it goes first.
    if (h.version != kProtocolVersion) return Error{Errc::wrong_version, "", 0, h.version};
    if (h.command != static_cast<uint16_t>(command))
        return Error{Errc::mismatched_reply, "sent " + std::string(command_name(command)) +
                                                 ", the reply is for command id " +
                                                 std::to_string(h.command)};
    if (h.request_id != request_id)
        return Error{Errc::mismatched_reply, "sent request id " + std::to_string(request_id) +
                                                 ", the reply carries " +
                                                 std::to_string(h.request_id)};
    return decode_response(frame);
}

}  // namespace sluice::ctl
