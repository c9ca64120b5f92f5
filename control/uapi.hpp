// WireGuard's cross-platform userspace API (UAPI): the text protocol that
// wg(8) speaks over /var/run/wireguard/<name>.sock to any userspace
// implementation (https://www.wireguard.com/xplatform/#configuration-protocol).
//
//   client: get=1\n\n                       server: key=value\n ... errno=0\n\n
//   client: set=1\nkey=value\n ... \n        server: errno=N\n\n
//
// Three pieces, none of which touches a socket (the daemon's server owns the
// socket and feeds bytes through here):
//   RequestReader  bytes in arbitrary chunks → complete requests, with hard
//                  limits so a client cannot make it buffer without bound;
//   parse_set()    a set body → SetRequest, every value checked, nothing
//                  applied (device_config.hpp applies it, all or nothing);
//   format_get()   a DeviceStatus snapshot → the get reply, keys in the order
//                  wireguard-go writes them.
//
// Error numbers follow wireguard-go, the stock userspace implementation:
// EPROTO for a line without '=', EINVAL for an unknown key, a bad value or an
// unknown operation. EMSGSIZE marks a line or request past ReaderLimits
// (wireguard-go has no request limit, and its 64 KiB line limit surfaces as
// EIO, an accident of its scanner rather than a choice).
// The reply carries the errno negated ("errno=-22"), as wireguard-go writes it:
// wg(8)'s set path computes errno = -N from the reply, so only the negative
// form makes it print "Invalid argument".
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/ip_prefix.hpp"  // IpAddress, IpPrefix
#include "dataplane/keypair.hpp"    // Key, secure_wipe

namespace sluice::uapi {

// ---- Errors -------------------------------------------------------------------

// code is a positive errno value (0: success); message is for logs and never
// contains a key.
struct Error {
    int code = 0;
    std::string message;

    explicit operator bool() const noexcept { return code != 0; }
};

// ---- Keys -----------------------------------------------------------------------

// A private or preshared key that may be absent; wipes itself (keypair.hpp).
using sluice::SecretKey;

// In the UAPI an all-zero key means "none": setting one removes the key, and
// a get writes none for it.
[[nodiscard]] bool is_zero(const Key& key) noexcept;

// ---- Endpoints ----------------------------------------------------------------

// A peer's UDP endpoint as the UAPI carries it: numeric only (wg(8) resolves
// names before it sends), "192.0.2.1:51820" or "[2001:db8::1]:51820".
struct SocketEndpoint {
    IpAddress address;
    uint16_t port = 0;

    // The UAPI form: IPv6 in brackets.
    [[nodiscard]] std::string to_string() const;
    friend bool operator==(const SocketEndpoint&, const SocketEndpoint&) = default;
};

// Accepts what wireguard-go's netip.ParseAddrPort accepts, less IPv6 zone ids
// ("[fe80::1%eth0]:51820"): sluice's packet path has no interface scope to
// send with, so such an endpoint is refused rather than silently mis-sent. The
// port is decimal 0..65535 (leading zeros allowed, as Go's ParseUint allows).
[[nodiscard]] std::optional<SocketEndpoint> parse_socket_endpoint(std::string_view text);

// ---- Reading requests ----------------------------------------------------------

enum class Operation : uint8_t { get, set };

struct Request {
    Operation operation = Operation::get;
    // set only: the key=value lines, each ending in '\n', without the "set=1"
    // line and without the empty line that ends the request.
    std::string body;

    Request() = default;
    Request(Request&&) noexcept = default;
    Request& operator=(Request&&) noexcept = default;
    Request(const Request&) = default;
    Request& operator=(const Request&) = default;
    ~Request() { secure_wipe(body.data(), body.size()); }  // holds keys in hex
};

struct ReaderLimits {
    // The longest line wg(8) sends is about 80 bytes (a key in hex); the
    // longest legitimate endpoint line is under 70.
    size_t max_line = 1024;
    // A whole request: op line, body and terminator. 8 MiB holds `wg setconf`
    // of tens of thousands of peers.
    size_t max_request = size_t{8} << 20;
};

// Splits a byte stream into requests. Memory is bounded by one request
// (ReaderLimits), however the client chunks or pipelines its bytes: feed()
// stops consuming at the end of a complete request and takes no more until the
// caller has taken that request.
//
// Errors end the connection: in state failed the stream is out of step (the
// reader cannot know where the next request starts), so the server writes
// format_errno(error().code) and closes. They are EINVAL for a first line
// other than get=1 or set=1, or a byte other than '\n' after get=1, and
// EMSGSIZE past the limits. A bad *value* inside a well-formed set is not a
// reader error: parse_set() reports it and the connection goes on.
class RequestReader {
public:
    enum class State : uint8_t {
        need_more,  // feed more bytes
        ready,      // take() the request, then feed the rest
        failed,     // reply error() and close
    };

    explicit RequestReader(ReaderLimits limits = {}) noexcept : limits_(limits) {}
    RequestReader(const RequestReader&) = delete;
    RequestReader& operator=(const RequestReader&) = delete;
    ~RequestReader();

    // Consumes bytes up to the end of the first complete request, or up to the
    // byte that made the input malformed, and returns how many it consumed.
    // In state ready or failed it consumes nothing.
    size_t feed(std::string_view bytes);

    [[nodiscard]] State state() const noexcept { return state_; }
    // Precondition: state() == ready. Back to need_more afterwards.
    Request take();
    // Precondition: state() == failed.
    [[nodiscard]] const Error& error() const noexcept { return error_; }
    // True between requests: a client that closes now closed cleanly, one that
    // closes otherwise left a request unfinished.
    [[nodiscard]] bool idle() const noexcept;

private:
    enum class Phase : uint8_t { op_line, get_terminator, set_body };

    void finish_line();
    void fail(int code, std::string message);
    void reset_request() noexcept;

    ReaderLimits limits_;
    State state_ = State::need_more;
    Phase phase_ = Phase::op_line;
    std::string line_;          // the line being read, without its '\n'
    Request request_;           // the request being read, or the ready one
    size_t request_bytes_ = 0;  // bytes of the current request so far
    Error error_;
};

// ---- Set requests ----------------------------------------------------------------

// The interface keys of a set. Each is applied only when present; a key given
// twice keeps its last value, as wireguard-go does.
struct InterfaceSet {
    SecretKey private_key;                // all zeros: remove the private key
    std::optional<uint16_t> listen_port;  // 0: let the implementation pick
    std::optional<uint32_t> fwmark;       // 0: off
    bool replace_peers = false;           // remove every peer first (sections below make new ones)
};

// One peer section: a public_key line and the lines after it up to the next.
// The flags remove, update_only and replace_allowed_ips concern the whole
// section wherever they appear in it, as the kernel's netlink flags do (and as
// the xplatform document describes them). wireguard-go instead acts line by
// line, which differs only for orders wg(8) never sends (it writes remove
// right after public_key, replace_allowed_ips before any allowed_ip, and never
// update_only).
struct PeerSet {
    Key public_key{};
    bool remove = false;       // remove the peer; every other key is ignored
    bool update_only = false;  // skip the section if the peer does not exist yet
    SecretKey preshared_key;   // all zeros: no preshared key
    std::optional<SocketEndpoint> endpoint;
    std::optional<uint16_t> persistent_keepalive_interval;  // seconds; 0: off
    bool replace_allowed_ips = false;   // drop the peer's prefixes before adding these
    std::vector<IpPrefix> allowed_ips;  // as written (host bits kept), in order
};

// A parsed set: the interface keys, then the peer sections in the order they
// came (a public key may repeat; each section applies in turn).
struct SetRequest {
    InterfaceSet interface;
    std::vector<PeerSet> peers;
};

// Parses a set body (Request::body). On success fills *out and returns a
// zero Error; on failure leaves *out untouched and returns:
//   EPROTO  a line without '=' (or an empty line inside the body);
//   EINVAL  an unknown key, an interface key after the first public_key, a
//           peer key before it, or a value that does not parse. Keys are 64
//           hex digits (wg(8) writes lowercase; uppercase passes, as in Go);
//           numbers plain decimal within range (listen_port and
//           persistent_keepalive_interval 16 bits, fwmark 32); booleans
//           exactly "true"; protocol_version exactly "1"; allowed_ip an
//           address with a "/length"; endpoint as parse_socket_endpoint().
[[nodiscard]] Error parse_set(std::string_view body, SetRequest* out);

// ---- Get replies -------------------------------------------------------------------

struct PeerStatus {
    Key public_key{};
    SecretKey preshared_key;
    std::optional<SocketEndpoint> endpoint;
    int64_t last_handshake_time_sec = 0;  // 0 and 0: never
    int64_t last_handshake_time_nsec = 0;
    uint64_t tx_bytes = 0;
    uint64_t rx_bytes = 0;
    uint16_t persistent_keepalive_interval = 0;
    std::vector<IpPrefix> allowed_ips;  // written as given, in order
};

struct DeviceStatus {
    SecretKey private_key;
    uint16_t listen_port = 0;  // the port actually bound; 0: none (not written)
    uint32_t fwmark = 0;       // 0: off (not written)
    std::vector<PeerStatus> peers;
};

// The whole reply to get=1, "errno=0\n\n" included. Order as wireguard-go's:
//   private_key (if any), listen_port (if non-zero), fwmark (if non-zero),
//   then per peer: public_key, preshared_key (if any), protocol_version=1,
//   endpoint (if known), last_handshake_time_sec, last_handshake_time_nsec,
//   tx_bytes, rx_bytes, persistent_keepalive_interval, allowed_ip lines.
// (wireguard-go also writes an all-zero preshared_key for a peer without one;
// wg(8) reads both forms as "none".) The text holds the private key: wipe it
// with secure_wipe once written.
[[nodiscard]] std::string format_get(const DeviceStatus& status);

// "errno=0\n\n" for 0, "errno=-N\n\n" for a positive errno N.
[[nodiscard]] std::string format_errno(int code);

}  // namespace sluice::uapi
