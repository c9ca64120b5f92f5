// The sluicectl control protocol: frames, the payload codec and the handler
// table. docs/control-protocol.md describes the same bytes for people.
//
// Each message is described once, by a schema() function that walks its fields
// in wire order. The Encoder and the Decoder are two visitors over that walk,
// so a field cannot be written in one order and read in another, and every
// rule a decoder enforces (ranges, text, uniqueness) is enforced by the encoder
// too: neither end can build a message the other refuses.
#include "control/ctl_protocol.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <set>
#include <type_traits>

namespace sluice::ctl {

// ---- Commands -------------------------------------------------------------------------

namespace {

// The fixed part of a peer_add payload: key, name length, psk flag, endpoint
// flag, allowed-IPs count, keepalive. Anything shorter cannot be one.
constexpr uint32_t kPeerAddMin = 32 + 2 + 1 + 1 + 4 + 2;
// peer_remove: a tag and either a key or a name of 1..64 bytes.
constexpr uint32_t kPeerRemoveMin = 1 + 2 + 1;
constexpr uint32_t kPeerRemoveMax = 1 + 2 + kMaxPeerName;

}  // namespace

const std::array<CommandSpec, kCommandCount> kCommands = {{
    {Command::version, "version", 0, 0},
    {Command::show, "show", 0, 0},
    {Command::show_lcores, "show lcores", 0, 0},
    {Command::show_ports, "show ports", 0, 0},
    {Command::show_drops, "show drops", 0, 0},
    {Command::stats, "stats", 0, 0},
    {Command::peer_add, "peer add", kPeerAddMin, kMaxRequestPayload},
    {Command::peer_remove, "peer remove", kPeerRemoveMin, kPeerRemoveMax},
    {Command::reload, "reload", 0, 0},
}};

// The variants' alternatives must stay in command-id order: decoding picks
// the alternative by id.
template <typename Variant, size_t... I>
constexpr bool in_command_order(std::index_sequence<I...>) {
    return ((static_cast<size_t>(std::variant_alternative_t<I, Variant>::kCommand) == I + 1) &&
            ...);
}
static_assert(std::variant_size_v<Request> == kCommandCount);
static_assert(std::variant_size_v<Response> == kCommandCount);
static_assert(in_command_order<Request>(std::make_index_sequence<kCommandCount>()));
static_assert(in_command_order<Response>(std::make_index_sequence<kCommandCount>()));

std::optional<Command> command_from_id(uint16_t id) noexcept {
    if (id == 0 || id > kCommandCount) return std::nullopt;
    return static_cast<Command>(id);
}

const CommandSpec& spec_of(Command command) noexcept {
    return kCommands[static_cast<size_t>(command) - 1];
}

std::string_view command_name(Command command) noexcept {
    return spec_of(command).name;
}

Command command_of(const Request& request) noexcept {
    return static_cast<Command>(request.index() + 1);
}

Command command_of(const Response& response) noexcept {
    return static_cast<Command>(response.index() + 1);
}

std::string_view slot_name(KeypairSlot slot) noexcept {
    static constexpr std::array<std::string_view, 3> kNames = {"current", "previous", "next"};
    const auto i = static_cast<size_t>(slot);
    return i < kNames.size() ? kNames[i] : "?";
}

// ---- Errors ---------------------------------------------------------------------------

// Indexed by Errc; the names are the enumerators', for logs and tests.
constexpr std::array<std::string_view, 14> kErrcNames = {"ok",
                                                         "truncated",
                                                         "bad_magic",
                                                         "wrong_version",
                                                         "bad_header",
                                                         "wrong_direction",
                                                         "oversized",
                                                         "unknown_command",
                                                         "bad_size",
                                                         "short_payload",
                                                         "trailing_bytes",
                                                         "bad_value",
                                                         "mismatched_reply",
                                                         "daemon_error"};
static_assert(kErrcNames.size() == static_cast<size_t>(Errc::daemon_error) + 1);

std::string_view errc_name(Errc code) noexcept {
    const auto i = static_cast<size_t>(code);
    return i < kErrcNames.size() ? kErrcNames[i] : "?";
}

uint32_t errno_for(Errc code) noexcept {
    switch (code) {
        case Errc::ok:
            return 0;
        case Errc::unknown_command:
            return ENOSYS;
        case Errc::wrong_version:
            return EPROTONOSUPPORT;
        case Errc::oversized:
            return EMSGSIZE;
        case Errc::bad_size:
        case Errc::short_payload:
        case Errc::trailing_bytes:
        case Errc::bad_value:
            return EBADMSG;
        case Errc::truncated:
        case Errc::bad_magic:
        case Errc::bad_header:
        case Errc::wrong_direction:
        case Errc::mismatched_reply:
            return EPROTO;
        case Errc::daemon_error:
            break;
    }
    return EIO;
}

namespace {

std::string with_detail(std::string text, const std::string& detail) {
    if (!detail.empty()) text += ": " + detail;
    return text;
}

}  // namespace

std::string describe(const Error& e) {
    switch (e.code) {
        case Errc::ok:
            return "no error";
        case Errc::truncated:
            return with_detail("the connection closed inside a frame", e.detail);
        case Errc::bad_magic:
            return "not a sluice control stream (the frame does not start with \"SLCT\")";
        case Errc::wrong_version:
            return "control protocol version mismatch: the other end speaks version " +
                   std::to_string(e.version) + ", this end speaks version " +
                   std::to_string(kProtocolVersion) +
                   " (use sluicectl and sluiced from the same release)";
        case Errc::bad_header:
            return with_detail("malformed frame header", e.detail);
        case Errc::wrong_direction:
            return with_detail("unexpected frame kind", e.detail);
        case Errc::oversized:
            return with_detail("frame too large", e.detail);
        case Errc::unknown_command:
            return "unknown command id " + std::to_string(e.command) + " (control protocol " +
                   std::to_string(kProtocolVersion) + ")";
        case Errc::bad_size:
            return with_detail("payload of the wrong size", e.detail);
        case Errc::short_payload:
            return with_detail("payload ends too early", e.detail);
        case Errc::trailing_bytes:
            return with_detail("payload has bytes after its last field", e.detail);
        case Errc::bad_value:
            return with_detail("bad value in payload", e.detail);
        case Errc::mismatched_reply:
            return with_detail("the reply does not match the request", e.detail);
        case Errc::daemon_error: {
            const char* name = strerrorname_np(static_cast<int>(e.status));
            std::string text = e.detail.empty()
                                   ? std::string(std::strerror(static_cast<int>(e.status)))
                                   : e.detail;
            return text + " (" + (name ? name : "errno " + std::to_string(e.status)) + ")";
        }
    }
    return "unknown error";
}

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

// Interface, driver, role and port names: what sluice itself names things.
bool valid_short_name(std::string_view s) noexcept {
    return !s.empty() && s.size() <= kMaxShortText &&
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

bool valid_peer_name(std::string_view name) noexcept {
    if (name.empty() || name.size() > kMaxPeerName || name.front() == ' ' || name.back() == ' ')
        return false;
    return std::all_of(name.begin(), name.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

// ---- Socket addresses -----------------------------------------------------------------

std::string SocketAddress::to_string() const {
    const std::string host = address.to_string();
    const std::string p = ":" + std::to_string(port);
    return address.family == IpFamily::v6 ? "[" + host + "]" + p : host + p;
}

std::optional<SocketAddress> parse_socket_address(std::string_view text, std::string* why_not) {
    auto refuse = [why_not](const char* why) -> std::optional<SocketAddress> {
        if (why_not) *why_not = why;
        return std::nullopt;
    };
    std::string_view host, port;
    bool bracketed = false;
    if (!text.empty() && text.front() == '[') {
        const size_t close = text.find(']');
        if (close == std::string_view::npos) return refuse("no ']' after the IPv6 address");
        if (close + 1 >= text.size() || text[close + 1] != ':')
            return refuse("no ':port' after the ']'");
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
        bracketed = true;
    } else {
        const size_t colon = text.rfind(':');
        if (colon == std::string_view::npos) return refuse("no ':port' at the end");
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
        if (host.find(':') != std::string_view::npos)
            return refuse("an IPv6 endpoint needs brackets: [2001:db8::1]:51820");
        if (host.empty()) return refuse("no address before ':port'");
    }
    const auto address = parse_ip_address(host);
    if (!address) {
        return refuse(bracketed ? "not an IPv6 address inside [ ]"
                                : "not an IP address (sluicectl does not resolve host names)");
    }
    if (bracketed && address->family != IpFamily::v6)
        return refuse("not an IPv6 address inside [ ]");
    // Plain decimal, no sign or leading zeros, 1..65535.
    if (port.empty() || port.size() > 5 || (port.size() > 1 && port[0] == '0') ||
        !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return refuse("the port must be a number 1..65535");
    const unsigned long value = std::stoul(std::string(port));
    if (value == 0 || value > 65535) return refuse("the port must be a number 1..65535");
    return SocketAddress{*address, static_cast<uint16_t>(value)};
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

void put_le(std::vector<uint8_t>& out, uint64_t v, size_t bytes) {
    for (size_t i = 0; i < bytes; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

uint64_t get_le(const uint8_t* p, size_t bytes) noexcept {
    uint64_t v = 0;
    for (size_t i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
    return v;
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
        } else if constexpr (std::is_same_v<V, Key>) {
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
        } else if constexpr (std::is_same_v<V, Key>) {
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

template <typename IO, Is<PeerAddRequest> T>
void schema(IO& io, T& r) {
    io.field("public_key", r.public_key);
    io.text("name", r.name, kMaxPeerName);
    io.check(r.name.empty() || valid_peer_name(r.name), "name",
             "a peer name is 1 to 64 printable ASCII characters, no space at either end");
    io.field("preshared_key", r.preshared_key);
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

template <typename IO, Is<Failure> T>
void schema(IO& io, T& r) {
    io.text("message", r.message, kMaxText);
}

// ---- Frames from messages ---------------------------------------------------------------

void put_header(uint8_t* out, const Header& h) noexcept {
    const auto le = [out](size_t at, uint64_t v, size_t bytes) {
        for (size_t i = 0; i < bytes; ++i) out[at + i] = static_cast<uint8_t>(v >> (8 * i));
    };
    std::copy(kMagic.begin(), kMagic.end(), out);
    le(4, h.version, 2);
    le(6, h.command, 2);
    out[8] = static_cast<uint8_t>(h.kind);
    le(9, 0, 3);  // reserved
    le(12, h.request_id, 4);
    le(16, h.status, 4);
    le(20, h.payload_length, 4);
}

Header get_header(const uint8_t* p) noexcept {
    Header h;
    h.version = static_cast<uint16_t>(get_le(p + 4, 2));
    h.command = static_cast<uint16_t>(get_le(p + 6, 2));
    h.kind = static_cast<Kind>(p[8]);
    h.request_id = static_cast<uint32_t>(get_le(p + 12, 4));
    h.status = static_cast<uint32_t>(get_le(p + 16, 4));
    h.payload_length = static_cast<uint32_t>(get_le(p + 20, 4));
    return h;
}

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

// Everything a header can get wrong, in the order a reader meets it. Used by
// the stream reader and again by the decoders, which may be handed frames
// that never went through one.
Error header_problem(const Header& h, Kind expect, uint32_t max_payload, uint8_t reserved_or) {
    if (h.version != kProtocolVersion) return {Errc::wrong_version, "", 0, h.version};
    if (h.kind != Kind::request && h.kind != Kind::response)
        return {Errc::bad_header, "kind " + std::to_string(static_cast<int>(h.kind))};
    if (reserved_or != 0) return {Errc::bad_header, "reserved bytes are not zero"};
    if (h.kind != expect)
        return {Errc::wrong_direction, expect == Kind::request
                                           ? "a response where a request belongs"
                                           : "a request where a response belongs"};
    if (h.kind == Kind::request && h.status != 0)
        return {Errc::bad_header, "a request with a non-zero status"};
    if (h.status > kMaxStatus)
        return {Errc::bad_header, "status " + std::to_string(h.status) + " is not an errno"};
    if (h.payload_length > max_payload)
        return {Errc::oversized, "payload of " + std::to_string(h.payload_length) +
                                     " bytes, the limit is " + std::to_string(max_payload)};
    return {};
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

std::vector<uint8_t> encode_frame(Header header, std::span<const uint8_t> payload) {
    header.payload_length = static_cast<uint32_t>(payload.size());
    // Reserved up front: one allocation, and GCC 12 stops seeing an
    // out-of-bounds memcpy in the insert that follows a sized construction.
    std::vector<uint8_t> out;
    out.reserve(kHeaderSize + payload.size());
    out.resize(kHeaderSize);
    put_header(out.data(), header);
    out.insert(out.end(), payload.begin(), payload.end());
    return out;
}

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

// ---- FrameReader ----------------------------------------------------------------------

FrameReader::FrameReader(Kind expect, uint32_t max_payload) noexcept
    : expect_(expect), max_payload_(max_payload) {}

void FrameReader::fail(Error error) {
    state_ = State::failed;
    error_ = std::move(error);
    payload_.clear();
    payload_.shrink_to_fit();
}

void FrameReader::check_header() {
    header_ = get_header(header_bytes_.data());
    const uint8_t reserved = header_bytes_[9] | header_bytes_[10] | header_bytes_[11];
    if (Error e = header_problem(header_, expect_, max_payload_, reserved); e.code != Errc::ok)
        fail(std::move(e));
}

size_t FrameReader::feed(std::span<const uint8_t> bytes) {
    size_t used = 0;
    while (used < bytes.size() && state_ == State::need_more) {
        const size_t left = bytes.size() - used;
        if (have_ < kHeaderSize) {
            const size_t n = std::min(kHeaderSize - have_, left);
            std::copy_n(bytes.data() + used, n, header_bytes_.data() + have_);
            // Compare the magic as soon as any of it is here, so that a stray
            // client speaking something else fails on its first byte.
            const size_t magic_seen = std::min(have_ + n, kMagic.size());
            for (size_t i = have_; i < magic_seen; ++i) {
                if (header_bytes_[i] != kMagic[i]) {
                    fail(Error{Errc::bad_magic, {}});
                    return used + (i - have_) + 1;
                }
            }
            have_ += n;
            used += n;
            if (have_ < kHeaderSize) continue;
            check_header();
            if (state_ == State::failed) return used;
            payload_.clear();
            // Reserve what arrives in one socket read at most; the rest grows
            // with the bytes themselves, so a header that promises much and
            // sends little costs little.
            payload_.reserve(std::min<size_t>(header_.payload_length, 64 * 1024));
            if (header_.payload_length == 0) state_ = State::frame_ready;
        } else {
            const size_t n = std::min<size_t>(header_.payload_length - payload_.size(), left);
            payload_.insert(payload_.end(), bytes.data() + used, bytes.data() + used + n);
            have_ += n;
            used += n;
            if (payload_.size() == header_.payload_length) state_ = State::frame_ready;
        }
    }
    return used;
}

void FrameReader::finish() {
    if (state_ != State::need_more || have_ == 0) return;
    const size_t expected =
        have_ < kHeaderSize ? kHeaderSize : kHeaderSize + header_.payload_length;
    fail({Errc::truncated, "after " + std::to_string(have_) + " of " +
                               (have_ < kHeaderSize ? "at least " : "") + std::to_string(expected) +
                               " bytes"});
}

Frame FrameReader::take() {
    Frame frame{header_, std::move(payload_)};
    payload_ = {};
    have_ = 0;
    state_ = State::need_more;
    return frame;
}

std::vector<uint8_t> FrameReader::error_reply() const {
    if (state_ != State::failed || expect_ != Kind::request || have_ < kHeaderSize) return {};
    switch (error_.code) {
        // For wrong_version the other end stops at our header's version and
        // never reads the message; it is there so that every failure frame
        // has the same shape.
        case Errc::wrong_version:
        case Errc::bad_header:
        case Errc::wrong_direction:
        case Errc::oversized:
            return encode_failure(header_.command, header_.request_id,
                                  {errno_for(error_.code), describe(error_)});
        default:
            return {};
    }
}

// ---- HandlerTable ---------------------------------------------------------------------

std::vector<uint8_t> HandlerTable::serve(const Frame& frame) const {
    const Header& h = frame.header;
    Result<Request> request = decode_request(frame);
    if (!request) {
        const Error& e = request.error();
        return encode_failure(h.command, h.request_id, {errno_for(e.code), describe(e)});
    }
    const Command command = command_of(request.value());
    const auto& handler = handlers_[static_cast<size_t>(command) - 1];
    if (!handler)
        return encode_failure(
            h.command, h.request_id,
            {ENOSYS, "sluiced does not serve \"" + std::string(command_name(command)) + "\""});
    try {
        ErasedOutcome outcome = handler(request.value());
        if (auto* failure = std::get_if<Failure>(&outcome))
            return encode_failure(h.command, h.request_id, *failure);
        return encode_response(std::get<Response>(outcome), h.request_id);
    } catch (const std::exception& e) {
        // One failing command must not take the control thread with it; the
        // operator gets the reason and the daemon keeps serving.
        return encode_failure(h.command, h.request_id,
                              {EIO, "sluiced failed to run \"" +
                                        std::string(command_name(command)) + "\": " + e.what()});
    }
}

}  // namespace sluice::ctl
