// The UAPI text codec; see uapi.hpp for the protocol and the error numbers.
#include "control/uapi.hpp"

#include <cassert>
#include <cerrno>
#include <limits>
#include <utility>

#include "control/key_encoding.hpp"
#include "dataplane/decimal.hpp"

namespace sluice::uapi {

namespace {

// Strict prefix parsing for allowed_ip: netip.ParsePrefix requires the
// "/length" (parse_ip_prefix would take a bare address as /32 or /128).
std::optional<IpPrefix> parse_allowed_ip(std::string_view text) {
    if (text.find('/') == std::string_view::npos) return std::nullopt;
    return parse_ip_prefix(text);
}

}  // namespace

// ---- Keys -----------------------------------------------------------------------

bool is_zero(const Key& key) noexcept {
    uint8_t acc = 0;
    for (uint8_t b : key) acc |= b;
    return acc == 0;
}

// ---- Endpoints ----------------------------------------------------------------

std::string SocketEndpoint::to_string() const {
    const std::string port_text = ":" + std::to_string(port);
    if (address.family == IpFamily::v6) return "[" + address.to_string() + "]" + port_text;
    return address.to_string() + port_text;
}

std::optional<SocketEndpoint> parse_socket_endpoint(std::string_view text) {
    const auto split = split_host_port(text);
    if (!split) return std::nullopt;
    // Brackets hold IPv6 only ("[1.2.3.4]:5" is refused by Go too), and
    // without brackets only IPv4 ("::1:51820" would be ambiguous). A '%' zone
    // id fails too, since inet_pton refuses it.
    const auto address = parse_ip_address(split->host);
    const IpFamily wanted = split->bracketed ? IpFamily::v6 : IpFamily::v4;
    if (!address || address->family != wanted) return std::nullopt;
    // The port as wireguard-go reads it (0 and leading zeros included), not
    // parse_port()'s stricter configuration rule.
    const auto port = parse_decimal(split->port, UINT16_MAX, LeadingZeros::allow);
    if (!port) return std::nullopt;
    return SocketEndpoint{*address, static_cast<uint16_t>(*port)};
}

// ---- RequestReader ----------------------------------------------------------------

RequestReader::~RequestReader() {
    secure_wipe(line_.data(), line_.size());
}

bool RequestReader::idle() const noexcept {
    return state_ == State::need_more && phase_ == Phase::op_line && line_.empty();
}

void RequestReader::reset_request() noexcept {
    secure_wipe(line_.data(), line_.size());
    line_.clear();
    secure_wipe(request_.body.data(), request_.body.size());
    request_.body.clear();
    request_bytes_ = 0;
    phase_ = Phase::op_line;
}

void RequestReader::fail(int code, std::string message) {
    reset_request();
    state_ = State::failed;
    error_ = Error{code, std::move(message)};
}

size_t RequestReader::feed(std::string_view bytes) {
    size_t i = 0;
    while (i < bytes.size() && state_ == State::need_more) {
        if (phase_ == Phase::get_terminator) {
            // wireguard-go reads exactly one byte after "get=1\n" and wants
            // the empty line there.
            const char c = bytes[i++];
            ++request_bytes_;
            if (c != '\n') {
                fail(EINVAL, "get=1 must be followed by an empty line");
                break;
            }
            request_.operation = Operation::get;
            state_ = State::ready;
            break;
        }
        const size_t newline = bytes.find('\n', i);
        const size_t end = newline == std::string_view::npos ? bytes.size() : newline;
        const size_t chunk = end - i;
        // Check the limits before copying, so a hostile chunk is never held.
        if (line_.size() + chunk > limits_.max_line) {
            fail(EMSGSIZE, "line longer than " + std::to_string(limits_.max_line) + " bytes");
            i = end;
            break;
        }
        const size_t with_newline = chunk + (newline == std::string_view::npos ? 0 : 1);
        if (request_bytes_ + with_newline > limits_.max_request) {
            fail(EMSGSIZE, "request longer than " + std::to_string(limits_.max_request) + " bytes");
            i = end;
            break;
        }
        line_.append(bytes.substr(i, chunk));
        request_bytes_ += with_newline;
        i = end;
        if (newline == std::string_view::npos) break;
        ++i;  // the '\n'
        finish_line();
    }
    return i;
}

void RequestReader::finish_line() {
    switch (phase_) {
        case Phase::op_line:
            if (line_ == "get=1") {
                phase_ = Phase::get_terminator;
            } else if (line_ == "set=1") {
                request_.operation = Operation::set;
                phase_ = Phase::set_body;
            } else {
                // wireguard-go drops the connection here without a reply; an
                // errno first tells the client why.
                fail(EINVAL, "unknown operation (expected get=1 or set=1)");
                return;
            }
            break;
        case Phase::get_terminator:
            break;  // handled byte by byte in feed()
        case Phase::set_body:
            if (line_.empty()) {
                state_ = State::ready;
                return;  // line_ is empty: nothing to wipe
            }
            request_.body.append(line_);
            request_.body.push_back('\n');
            break;
    }
    secure_wipe(line_.data(), line_.size());
    line_.clear();
}

Request RequestReader::take() {
    assert(state_ == State::ready);
    Request out = std::move(request_);
    request_ = Request{};
    reset_request();
    state_ = State::need_more;
    return out;
}

// ---- parse_set ---------------------------------------------------------------------

namespace {

class SetParser {
public:
    explicit SetParser(SetRequest& out) : out_(out) {}

    Error line(size_t line_number, std::string_view text) {
        line_number_ = line_number;
        const size_t eq = text.find('=');
        if (eq == std::string_view::npos)
            return error(EPROTO,
                         text.empty() ? "empty line inside the request" : "no '=' in the line");
        const std::string_view key = text.substr(0, eq);
        const std::string_view value = text.substr(eq + 1);
        key_ = key;
        if (key == "public_key") {
            const auto k = key_from_hex(value);
            if (!k) return error(EINVAL, "expected 64 hex digits");
            out_.peers.emplace_back();
            out_.peers.back().public_key = *k;
            return {};
        }
        return out_.peers.empty() ? interface_line(key, value)
                                  : peer_line(out_.peers.back(), key, value);
    }

private:
    Error error(int code, std::string_view what) const {
        // Only the key is named: values may be secrets.
        return Error{code, "line " + std::to_string(line_number_) + ": " + printable(key_) + ": " +
                               std::string(what)};
    }

    // Keys come from the client: keep log lines to one line of plain text.
    static std::string printable(std::string_view key) {
        std::string out;
        for (char c : key.substr(0, 64)) out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
        return key.size() > 64 ? out + "..." : out;
    }

    // Each parses one value into its field, or names the error for this line.
    Error hex_key(std::string_view value, SecretKey& out) const {
        const auto k = key_from_hex(value);
        if (!k) return error(EINVAL, "expected 64 hex digits");
        out = *k;
        return {};
    }

    template <typename T>
    Error decimal(std::string_view value, std::optional<T>& out, std::string_view expected) const {
        const auto v = parse_decimal(value, std::numeric_limits<T>::max(), LeadingZeros::allow);
        if (!v) return error(EINVAL, expected);
        out = static_cast<T>(*v);
        return {};
    }

    // wireguard-go accepts exactly "true"; there is no way to say false.
    Error flag(std::string_view value, bool& out) const {
        if (value != "true") return error(EINVAL, "the only value is \"true\"");
        out = true;
        return {};
    }

    Error interface_line(std::string_view key, std::string_view value) {
        InterfaceSet& s = out_.interface;
        if (key == "private_key") return hex_key(value, s.private_key);
        if (key == "listen_port") return decimal(value, s.listen_port, "expected a port 0..65535");
        if (key == "fwmark") return decimal(value, s.fwmark, "expected a number 0..4294967295");
        if (key == "replace_peers") return flag(value, s.replace_peers);
        return error(EINVAL, "not an interface key (peer keys follow a public_key line)");
    }

    Error peer_line(PeerSet& p, std::string_view key, std::string_view value) {
        if (key == "remove") return flag(value, p.remove);
        if (key == "update_only") return flag(value, p.update_only);
        if (key == "replace_allowed_ips") return flag(value, p.replace_allowed_ips);
        if (key == "preshared_key") return hex_key(value, p.preshared_key);
        if (key == "persistent_keepalive_interval")
            return decimal(value, p.persistent_keepalive_interval, "expected seconds 0..65535");
        if (key == "endpoint") {
            const auto e = parse_socket_endpoint(value);
            if (!e) return error(EINVAL, "expected a.b.c.d:port or [ipv6]:port");
            p.endpoint = *e;
            return {};
        }
        if (key == "allowed_ip") {
            const auto prefix = parse_allowed_ip(value);
            if (!prefix) return error(EINVAL, "expected address/length");
            p.allowed_ips.push_back(*prefix);
            return {};
        }
        if (key == "protocol_version")
            return value == "1" ? Error{} : error(EINVAL, "only protocol version 1 exists");
        return error(EINVAL, "not a peer key (interface keys come before the first peer)");
    }

    SetRequest& out_;
    size_t line_number_ = 0;
    std::string_view key_;
};

}  // namespace

Error parse_set(std::string_view body, SetRequest* out) {
    SetRequest request;
    SetParser parser(request);
    size_t number = 2;  // line 1 is "set=1"
    while (!body.empty()) {
        const size_t newline = body.find('\n');
        const std::string_view text = body.substr(0, newline);
        if (Error e = parser.line(number++, text)) return e;
        body.remove_prefix(newline == std::string_view::npos ? body.size() : newline + 1);
    }
    *out = std::move(request);
    return {};
}

// ---- Replies ----------------------------------------------------------------------

std::string format_get(const DeviceStatus& status) {
    std::string out;
    out.reserve(128 + status.peers.size() * 400);
    auto line = [&out](std::string_view key, std::string_view value) {
        out.append(key);
        out.push_back('=');
        out.append(value);
        out.push_back('\n');
    };
    auto key_line = [&line](std::string_view key, const Key& k) {
        std::string hex = key_to_hex(k);
        line(key, hex);
        secure_wipe(hex.data(), hex.size());
    };
    if (status.private_key && !is_zero(*status.private_key))
        key_line("private_key", *status.private_key);
    if (status.listen_port != 0) line("listen_port", std::to_string(status.listen_port));
    if (status.fwmark != 0) line("fwmark", std::to_string(status.fwmark));
    for (const PeerStatus& p : status.peers) {
        key_line("public_key", p.public_key);
        if (p.preshared_key && !is_zero(*p.preshared_key))
            key_line("preshared_key", *p.preshared_key);
        line("protocol_version", "1");
        if (p.endpoint) line("endpoint", p.endpoint->to_string());
        line("last_handshake_time_sec", std::to_string(p.last_handshake_time_sec));
        line("last_handshake_time_nsec", std::to_string(p.last_handshake_time_nsec));
        line("tx_bytes", std::to_string(p.tx_bytes));
        line("rx_bytes", std::to_string(p.rx_bytes));
        line("persistent_keepalive_interval", std::to_string(p.persistent_keepalive_interval));
        for (const IpPrefix& prefix : p.allowed_ips) line("allowed_ip", prefix.to_string());
    }
    out.append("errno=0\n\n");
    return out;
}

std::string format_errno(int code) {
    return "errno=" + std::to_string(code == 0 ? 0 : -code) + "\n\n";
}

}  // namespace sluice::uapi
