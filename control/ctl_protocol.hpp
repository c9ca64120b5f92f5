// The sluicectl control protocol: what sluicectl and sluiced say to each other
// over /run/sluice/<name>.ctl. docs/control-protocol.md is the reference for
// the bytes; this header is the C++ both ends share.
//
// A frame is a 24-byte header (magic "SLCT", protocol version, command id,
// request/response kind, request id, status as an errno, payload length; all
// integers little-endian) and a payload. Payloads are fixed-order fields with
// explicit lengths: no tags, no optional trailing data. That makes the encoder
// a few lines per message and the decoder strict: every byte is accounted for,
// every value is range-checked, and one schema function per message drives
// both directions, so the two cannot drift apart.
//
// Versioning: the header layout is frozen forever; only payloads change, and
// any change to any payload bumps kProtocolVersion. A daemon answers a frame of
// another version with a header of its own version and EPROTONOSUPPORT, so a
// client and a daemon from different releases report one clear mismatch
// instead of misreading each other.
//
// Untrusted bytes (a request at the daemon, a reply at the client) go through
// FrameReader and decode_*: both return errors as values, never throw for bad
// input, never read past what they were given, and allocate at most in
// proportion to the bytes actually received, which the reader caps.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "control/names.hpp"         // sluice::valid_peer_name
#include "dataplane/ip_prefix.hpp"  // sluice::IpAddress, sluice::IpPrefix
#include "dataplane/keypair.hpp"    // sluice::Key, sluice::secure_wipe

namespace sluice::ctl {

// ---- Wire constants -------------------------------------------------------------------

inline constexpr std::array<uint8_t, 4> kMagic = {'S', 'L', 'C', 'T'};
inline constexpr uint16_t kProtocolVersion = 1;
inline constexpr size_t kHeaderSize = 24;

// Requests are small (the largest is a peer with its allowed IPs); the daemon
// reads them from any local client, so their cap is tight. Replies come from
// the daemon and may list many peers.
inline constexpr uint32_t kMaxRequestPayload = 256 * 1024;
inline constexpr uint32_t kMaxResponsePayload = 16 * 1024 * 1024;

// Per-field limits the decoder enforces (docs/control-protocol.md lists them).
inline constexpr size_t kMaxText = 4096;     // any string, in bytes
inline constexpr size_t kMaxPeerName = kMaxPeerNameLength;  // as in the configuration
inline constexpr size_t kMaxShortText = 64;  // names of interfaces, drivers, roles, reasons
inline constexpr size_t kMaxPeers = 65536;   // per show reply
inline constexpr size_t kMaxAllowedIps = 65536;
inline constexpr size_t kMaxAddresses = 256;
inline constexpr size_t kMaxLcores = 1024;
inline constexpr size_t kMaxPorts = 256;
inline constexpr size_t kMaxDropReasons = 256;
inline constexpr size_t kMaxWarnings = 1024;
inline constexpr size_t kMaxKeypairs = 3;  // current, previous, next
inline constexpr size_t kMaxXstats = 512;  // per port (only the non-zero ones travel)
inline constexpr size_t kMaxXstatName = kMaxShortText * 2;  // DPDK's own limit is 63
// Per L2 port: learning stops at 4096 entries (NeighbourOptions::max_entries)
// and the configuration adds at most 256 static ones; the rest is headroom.
inline constexpr size_t kMaxNeighbours = 65536;
// show streams: sessions per reply (one per peer with streams), streams per
// session, named counters per session.
inline constexpr size_t kMaxStreamSessions = 4096;
inline constexpr size_t kMaxStreams = 65536;
inline constexpr size_t kMaxSessionCounters = 64;

// Errno values travel as numbers. They are Linux's (the only platform sluice
// runs on); a status is 0 or 1..kMaxStatus, the kernel's MAX_ERRNO.
inline constexpr uint32_t kMaxStatus = 4095;

// ---- Commands -------------------------------------------------------------------------

// Ids are part of the wire format: never renumber, only append.
enum class Command : uint16_t {
    version = 1,
    show = 2,
    show_lcores = 3,
    show_ports = 4,
    show_drops = 5,
    stats = 6,
    peer_add = 7,
    peer_remove = 8,
    reload = 9,
    show_neighbours = 10,
    show_streams = 11,
};
inline constexpr size_t kCommandCount = 11;

// The table the size check and command names come from. A request payload
// outside [min, max] is refused before decoding; empty requests have max 0.
struct CommandSpec {
    Command command;
    std::string_view name;  // as typed on the sluicectl command line: "show lcores"
    uint32_t min_request_payload;
    uint32_t max_request_payload;
};
extern const std::array<CommandSpec, kCommandCount> kCommands;

// nullopt for an id this version does not know.
std::optional<Command> command_from_id(uint16_t id) noexcept;
const CommandSpec& spec_of(Command command) noexcept;
std::string_view command_name(Command command) noexcept;

// ---- Errors ---------------------------------------------------------------------------

enum class Errc : uint8_t {
    ok = 0,
    // Framing (FrameReader). All but unknown_command end the connection.
    truncated,        // the stream ended inside a frame
    bad_magic,        // not "SLCT": not our protocol at all
    wrong_version,    // a header of another protocol version; Error::version says which
    bad_header,       // reserved bytes set, an unknown kind, a status out of range
    wrong_direction,  // a response where a request belongs, or the reverse
    oversized,        // a payload length above the reader's limit
    // Decoding a whole frame.
    unknown_command,  // a command id this version does not know
    bad_size,         // a payload size the command table refuses outright
    short_payload,    // the payload ends inside a field
    trailing_bytes,   // bytes left after the last field
    bad_value,        // a field holds a value outside its range or rules
    // Client side.
    mismatched_reply,  // the reply names another command or request id
    daemon_error,      // the daemon answered with a non-zero status
};

struct Error {
    Errc code = Errc::ok;
    std::string detail;    // which field and why, for bad_value and friends
    uint32_t status = 0;   // daemon_error: the errno the daemon sent
    uint16_t version = 0;  // wrong_version: the version the other side speaks
    uint16_t command = 0;  // unknown_command: the raw id

    friend bool operator==(const Error&, const Error&) = default;
};

std::string_view errc_name(Errc code) noexcept;
// One line without a trailing newline, e.g. "control protocol mismatch: sluiced
// speaks version 2, this program speaks version 1".
std::string describe(const Error& error);
// The errno a daemon answers a request with when decoding fails this way.
uint32_t errno_for(Errc code) noexcept;

// A value or an Error: std::expected is C++23.
template <typename T>
class Result {
public:
    Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}      // NOLINT
    Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT
    [[nodiscard]] bool ok() const noexcept { return v_.index() == 0; }
    explicit operator bool() const noexcept { return ok(); }
    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    // By value, so that `for (auto b : encode_request(...).value())` does not
    // iterate a temporary that died before the loop began.
    T value() && { return std::get<0>(std::move(v_)); }
    const Error& error() const { return std::get<1>(v_); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

private:
    std::variant<T, Error> v_;
};

// ---- Frames ---------------------------------------------------------------------------

enum class Kind : uint8_t { request = 0, response = 1 };

// The header as decoded. `command` stays a raw id so that a frame with an
// unknown command can still be answered (ENOSYS) with its own id.
struct Header {
    uint16_t version = kProtocolVersion;
    uint16_t command = 0;
    Kind kind = Kind::request;
    uint32_t request_id = 0;
    uint32_t status = 0;  // responses: 0 or an errno; requests: always 0
    uint32_t payload_length = 0;

    friend bool operator==(const Header&, const Header&) = default;
};

struct Frame {
    Header header;
    std::vector<uint8_t> payload;

    friend bool operator==(const Frame&, const Frame&) = default;
};

// The 24 header bytes for `header` followed by `payload` (payload_length is
// taken from payload.size()).
std::vector<uint8_t> encode_frame(Header header, std::span<const uint8_t> payload);

// Cuts a byte stream into frames. Feed it whatever the socket returned, of any
// size; it takes bytes up to the end of one frame and says how many it took,
// so several frames in one read are handed out one at a time. It buffers at
// most one header and one payload of at most `max_payload` bytes, and checks
// each header as soon as it is complete, so an oversized or foreign frame is
// refused before its payload is read. Errors are sticky: after one, the
// stream's framing is lost and the connection must close.
class FrameReader {
public:
    enum class State : uint8_t { need_more, frame_ready, failed };

    // `expect`: the kind this end receives (the daemon reads requests).
    FrameReader(Kind expect, uint32_t max_payload) noexcept;

    // Takes bytes from `bytes` and returns how many it took: fewer than given
    // only when a frame became ready (take() it, then feed the rest) or the
    // stream failed.
    size_t feed(std::span<const uint8_t> bytes);
    // The peer closed the stream: an error unless it closed between frames.
    void finish();

    State state() const noexcept { return state_; }
    // Precondition: state() == frame_ready. Hands the frame over and starts
    // the next one.
    Frame take();
    // Precondition: state() == failed.
    const Error& error() const noexcept { return error_; }
    // After wrong_version, bad_header, wrong_direction or oversized at the
    // daemon: the failure frame to send before closing, so that the client
    // learns why (its header carries this side's version, which is all a
    // client of another version reads). Empty when the header was not ours at
    // all (bad_magic, truncated) or this end is the client.
    std::vector<uint8_t> error_reply() const;
    // No partial frame is buffered.
    bool between_frames() const noexcept { return have_ == 0 && state_ == State::need_more; }

private:
    void fail(Error error);
    void check_header();

    Kind expect_;
    uint32_t max_payload_;
    State state_ = State::need_more;
    std::array<uint8_t, kHeaderSize> header_bytes_{};
    size_t have_ = 0;  // header bytes, then header plus payload bytes, received
    Header header_;
    std::vector<uint8_t> payload_;
    Error error_;
};

// ---- Values carried in payloads -----------------------------------------------------------

// An endpoint as the daemon knows it: an address and a UDP port (1..65535).
// Host names are resolved before they reach the protocol.
struct SocketAddress {
    IpAddress address;
    uint16_t port = 0;

    // "192.0.2.1:51820", "[2001:db8::1]:51820".
    [[nodiscard]] std::string to_string() const;
    friend bool operator==(const SocketAddress&, const SocketAddress&) = default;
};

// "192.0.2.1:51820" or "[2001:db8::1]:51820"; nullopt with the reason in
// *why_not ("the port must be a number 1..65535", ...).
std::optional<SocketAddress> parse_socket_address(std::string_view text,
                                                  std::string* why_not = nullptr);

// The configuration file's rule for peer names: 1 to 64 printable ASCII
// characters, no space at either end (control/names.hpp).
using sluice::valid_peer_name;

// ---- Requests -------------------------------------------------------------------------

// Requests without arguments: one type per command, so that the variant
// below maps each command to exactly one alternative.
template <Command C>
struct EmptyRequest {
    static constexpr Command kCommand = C;
    friend bool operator==(const EmptyRequest&, const EmptyRequest&) = default;
};
using VersionRequest = EmptyRequest<Command::version>;
using ShowRequest = EmptyRequest<Command::show>;
using ShowLcoresRequest = EmptyRequest<Command::show_lcores>;
using ShowPortsRequest = EmptyRequest<Command::show_ports>;
using ShowDropsRequest = EmptyRequest<Command::show_drops>;
using StatsRequest = EmptyRequest<Command::stats>;
using ReloadRequest = EmptyRequest<Command::reload>;
using ShowNeighboursRequest = EmptyRequest<Command::show_neighbours>;
using ShowStreamsRequest = EmptyRequest<Command::show_streams>;

// Adds a peer that is not configured yet; the daemon answers EEXIST when the
// key or the name is taken (wg set edits existing peers).
struct PeerAddRequest {
    static constexpr Command kCommand = Command::peer_add;

    Key public_key{};
    std::string name;                  // empty: none; else valid_peer_name()
    SecretKey preshared_key;  // travels only over the 0600 socket
    std::optional<SocketAddress> endpoint;
    std::vector<IpPrefix> allowed_ips;  // masked (no host bits), each once
    uint16_t persistent_keepalive = 0;  // seconds; 0 = off
    friend bool operator==(const PeerAddRequest&, const PeerAddRequest&) = default;
};

// Removes one peer, named by its public key or by its configured name.
struct PeerRemoveRequest {
    static constexpr Command kCommand = Command::peer_remove;

    std::variant<Key, std::string> peer;

    friend bool operator==(const PeerRemoveRequest&, const PeerRemoveRequest&) = default;
};

// Alternatives in command-id order (index = id - 1; checked in the .cpp).
using Request = std::variant<VersionRequest, ShowRequest, ShowLcoresRequest, ShowPortsRequest,
                             ShowDropsRequest, StatsRequest, PeerAddRequest, PeerRemoveRequest,
                             ReloadRequest, ShowNeighboursRequest, ShowStreamsRequest>;

Command command_of(const Request& request) noexcept;

// ---- Responses ------------------------------------------------------------------------

struct VersionResponse {
    static constexpr Command kCommand = Command::version;

    std::string daemon_version;  // "0.1.0"
    uint16_t protocol = kProtocolVersion;
    std::string interface;  // "wg0"
    std::string driver;     // "kernel", "af_xdp", "dpdk"
    uint64_t uptime_s = 0;

    friend bool operator==(const VersionResponse&, const VersionResponse&) = default;
};

struct InterfaceInfo {
    std::string name;
    Key public_key{};
    uint16_t listen_port = 0;
    std::string driver;
    uint16_t mtu = 0;
    std::vector<IpPrefix> addresses;  // as configured, host bits included

    friend bool operator==(const InterfaceInfo&, const InterfaceInfo&) = default;
};

enum class KeypairSlot : uint8_t { current = 0, previous = 1, next = 2 };
std::string_view slot_name(KeypairSlot slot) noexcept;

struct KeypairInfo {
    KeypairSlot slot = KeypairSlot::current;
    uint32_t local_index = 0;
    uint32_t remote_index = 0;
    uint64_t age_ms = 0;  // since the handshake that made it
    bool we_initiated = false;
    uint64_t messages_sent = 0;  // the send counter

    friend bool operator==(const KeypairInfo&, const KeypairInfo&) = default;
};

struct PeerInfo {
    Key public_key{};
    std::string name;                // empty when the configuration gave none
    bool has_preshared_key = false;  // the key itself never leaves the daemon
    std::optional<SocketAddress> endpoint;
    std::vector<IpPrefix> allowed_ips;
    std::optional<uint64_t> handshake_age_ms;  // nullopt: never
    uint16_t persistent_keepalive = 0;
    uint64_t rx_bytes = 0;
    uint64_t tx_bytes = 0;
    std::vector<KeypairInfo> keypairs;  // at most one per slot

    friend bool operator==(const PeerInfo&, const PeerInfo&) = default;
};

struct ShowResponse {
    static constexpr Command kCommand = Command::show;

    InterfaceInfo interface;
    std::vector<PeerInfo> peers;

    friend bool operator==(const ShowResponse&, const ShowResponse&) = default;
};

// Counters an lcore keeps for itself (DESIGN §3: summed by the reader).
struct LcoreCounters {
    uint64_t rx_packets = 0;
    uint64_t rx_bytes = 0;
    uint64_t tx_packets = 0;
    uint64_t tx_bytes = 0;
    uint64_t dropped = 0;  // all drop reasons together

    friend bool operator==(const LcoreCounters&, const LcoreCounters&) = default;
};

struct LcoreInfo {
    uint32_t lcore_id = 0;
    std::string role;  // "worker" (run-to-completion); pipeline mode: "rx/tx", "crypto"
    LcoreCounters counters;
    uint64_t busy_cycles = 0;   // cycles spent on bursts that carried packets
    uint64_t total_cycles = 0;  // cycles since the lcore started
    // Multi-lcore handoff: WAN packets this lcore passed to the lcore that
    // owns their keypair's receive side, and those it took from the others.
    // (The `{}` let `LcoreInfo{id, role, counters, busy, total}` leave them out.)
    uint64_t handed_out{};
    uint64_t handed_in{};
    // Pipeline mode: packets the rx/tx lcore gave to crypto lcores, or that
    // a crypto lcore sealed or opened; 0 in run-to-completion.
    uint64_t pipelined{};

    friend bool operator==(const LcoreInfo&, const LcoreInfo&) = default;
};

struct LcoresResponse {
    static constexpr Command kCommand = Command::show_lcores;

    std::vector<LcoreInfo> lcores;

    friend bool operator==(const LcoresResponse&, const LcoresResponse&) = default;
};

struct PortCounters {
    uint64_t rx_packets = 0;
    uint64_t rx_bytes = 0;
    uint64_t rx_missed = 0;  // the NIC or socket had no room
    uint64_t rx_errors = 0;
    uint64_t tx_packets = 0;
    uint64_t tx_bytes = 0;
    uint64_t tx_errors = 0;

    friend bool operator==(const PortCounters&, const PortCounters&) = default;
};

// One of a device's extended statistics (DPDK xstats: "rx_q0_packets",
// "mac_remote_errors", ...). The name is 1 to kMaxXstatName characters
// 0x21..0x7E.
struct Xstat {
    std::string name;
    uint64_t value = 0;

    friend bool operator==(const Xstat&, const Xstat&) = default;
};

struct PortInfo {
    uint16_t port_id = 0;
    std::string name;    // "wan", "lan"
    std::string driver;  // "kernel-udp", "tun", "net_af_xdp", "net_ixgbe"
    std::string device;  // as configured: "eth1", "0000:03:00.0"
    bool link_up = false;
    uint32_t speed_mbps = 0;  // 0: unknown
    uint16_t mtu = 0;
    uint16_t rx_queues = 0;
    uint16_t tx_queues = 0;
    PortCounters counters;
    // (The `{}` below let `PortInfo{id, name, ..., counters}` leave them out
    // without -Wmissing-field-initializers.)
    // Why this driver runs the port, one line; empty when there was no
    // choice to explain. E.g. "auto: 0000:03:00.0 is bound to vfio-pci".
    std::string why{};
    // How the port was set up, one line: RSS or what spreads frames over the
    // queues instead, checksum offloads, TX batching. May be empty.
    std::string notes{};
    // The device's extended statistics that are not zero, in its order,
    // each name once; at most kMaxXstats. Empty for kernel ports.
    std::vector<Xstat> xstats{};

    friend bool operator==(const PortInfo&, const PortInfo&) = default;
};

struct PortsResponse {
    static constexpr Command kCommand = Command::show_ports;

    std::vector<PortInfo> ports;

    friend bool operator==(const PortsResponse&, const PortsResponse&) = default;
};

// Drop counters as a matrix: one row per reason, one column per lcore.
// Reasons travel by name (dataplane/drop_reasons.hpp's stable names), so a
// client shows reasons it was not built with.
struct DropRow {
    std::string reason;
    std::vector<uint64_t> per_lcore;  // same length and order as lcore_ids

    friend bool operator==(const DropRow&, const DropRow&) = default;
};

struct DropsResponse {
    static constexpr Command kCommand = Command::show_drops;

    std::vector<uint32_t> lcore_ids;
    std::vector<DropRow> rows;

    friend bool operator==(const DropsResponse&, const DropsResponse&) = default;
};

struct PortStats {
    uint16_t port_id = 0;
    std::string name;
    PortCounters counters;

    friend bool operator==(const PortStats&, const PortStats&) = default;
};

struct LcoreStats {
    uint32_t lcore_id = 0;
    LcoreCounters counters;

    friend bool operator==(const LcoreStats&, const LcoreStats&) = default;
};

// One snapshot of the counters. The client computes rates from two of them
// using the daemon's own monotonic timestamps, so its scheduling jitter and
// the socket's latency do not skew the figures.
struct StatsResponse {
    static constexpr Command kCommand = Command::stats;

    uint64_t timestamp_ns = 0;  // CLOCK_MONOTONIC on the daemon
    std::vector<PortStats> ports;
    std::vector<LcoreStats> lcores;

    friend bool operator==(const StatsResponse&, const StatsResponse&) = default;
};

struct PeerAddResponse {
    static constexpr Command kCommand = Command::peer_add;
    friend bool operator==(const PeerAddResponse&, const PeerAddResponse&) = default;
};

// Says which peer went, whichever way it was named.
struct PeerRemoveResponse {
    static constexpr Command kCommand = Command::peer_remove;

    Key public_key{};
    std::string name;

    friend bool operator==(const PeerRemoveResponse&, const PeerRemoveResponse&) = default;
};

struct ReloadResponse {
    static constexpr Command kCommand = Command::reload;

    uint32_t peers_added = 0;
    uint32_t peers_removed = 0;
    uint32_t peers_changed = 0;
    std::vector<std::string> warnings;  // the configuration loader's, one line each

    friend bool operator==(const ReloadResponse&, const ReloadResponse&) = default;
};

// ---- show neighbours: the L2 gateway mode's neighbour tables

// The states of control/neighbours.hpp, as they travel (never renumber).
enum class NeighbourState : uint8_t {
    incomplete = 0,  // resolving; packets wait
    reachable = 1,   // a MAC, confirmed within the reachable time
    probing = 2,     // a MAC still used while it is asked for again
    failed = 3,      // no answer; packets for it are dropped for a while
    permanent = 4,   // configured ("static")
};
// "incomplete", "reachable", "probing", "failed", "static".
std::string_view neighbour_state_name(NeighbourState state) noexcept;

using MacAddress = std::array<uint8_t, 6>;
std::string mac_text(const MacAddress& mac);  // "02:00:5e:10:00:01"

struct NeighbourInfo {
    IpAddress address;
    NeighbourState state = NeighbourState::incomplete;
    // Present exactly when the state is reachable, probing or static.
    std::optional<MacAddress> mac;
    uint32_t tries = 0;   // requests sent in this round (incomplete, probing)
    uint32_t queued = 0;  // packets waiting for the MAC (incomplete)
    // Since the entry entered its state (reachable: since it was last
    // confirmed), and until its next request, ageing or expiry (0: due now).
    // Absent for static entries, which have neither.
    std::optional<uint64_t> age_ms;
    std::optional<uint64_t> next_ms;

    friend bool operator==(const NeighbourInfo&, const NeighbourInfo&) = default;
};

// One L2 port's resolution counters (control/neighbours.hpp's
// NeighbourCounters and the control thread's failed requests), then what the
// port's lcores counted (drivers/dpdk/l3_over_l2.hpp's L2Counters).
struct NeighbourPortCounters {
    uint64_t requests_sent = 0;
    uint64_t resolved = 0;
    uint64_t changed = 0;
    uint64_t failed = 0;
    uint64_t queued = 0;
    uint64_t released = 0;
    uint64_t dropped_queue_full = 0;
    uint64_t dropped_failed = 0;
    uint64_t dropped_table_full = 0;
    uint64_t requests_failed = 0;  // no mbuf or command ring full for a request
    uint64_t arp_replies = 0;
    uint64_t nd_adverts = 0;
    uint64_t echo_replies = 0;
    uint64_t time_exceeded_sent = 0;
    uint64_t too_big_sent = 0;
    uint64_t punted_learn = 0;
    uint64_t punted_await = 0;
    uint64_t punt_full = 0;

    friend bool operator==(const NeighbourPortCounters&, const NeighbourPortCounters&) = default;
};

struct NeighbourPort {
    std::string port;                       // short name: "wan", "lan"
    std::vector<NeighbourInfo> neighbours;  // in address order, each address once
    NeighbourPortCounters counters;

    friend bool operator==(const NeighbourPort&, const NeighbourPort&) = default;
};

// Empty `ports` is not an error: the kernel and AF_XDP drivers, and DPDK
// ports in L3 mode, resolve no neighbours. `driver` lets the client say so.
struct NeighboursResponse {
    static constexpr Command kCommand = Command::show_neighbours;

    std::string driver;  // "kernel", "af_xdp", "dpdk"
    std::vector<NeighbourPort> ports;

    friend bool operator==(const NeighboursResponse&, const NeighboursResponse&) = default;
};

// ---- show streams: the reliable stream sessions (control/stream_engine.hpp)

// One stream of a session.
struct StreamEntry {
    uint64_t id = 0;
    bool local = false;   // this gateway opened it
    std::string state;    // short name: "open", "half-closed-local", "half-closed-remote", "reset"
    std::string forward;  // the forward it serves: its name or "LISTEN -> TARGET"; "" if none
    uint64_t tx_written = 0;   // bytes the application wrote
    uint64_t tx_acked = 0;     // lowest byte not yet acknowledged
    uint64_t tx_credit = 0;    // the peer's MAX_STREAM_DATA
    uint64_t rx_received = 0;  // highest offset received
    uint64_t rx_read = 0;      // bytes the application read
    uint64_t rx_credit = 0;    // the MAX_STREAM_DATA we granted
    uint64_t rx_window = 0;    // the current receive window
    uint64_t rx_buffered = 0;  // bytes held for the application
    bool fin_sent = false, fin_received = false;

    friend bool operator==(const StreamEntry&, const StreamEntry&) = default;
};

// One peer's stream session.
struct StreamSession {
    std::string peer;   // the peer's name, or its public key in base64 (a peer name either way)
    std::string state;  // short name: "opening", "open", "closed"
    uint32_t session_id = 0, peer_session_id = 0;
    std::string close_error;  // "" or the CloseError name ("credit_overrun", ...): snake_case
    bool closed_by_peer = false;
    std::string close_reason;
    uint64_t srtt_us = 0, min_rtt_us = 0, rttvar_us = 0;
    uint64_t cwnd = 0, ssthresh = 0, bytes_in_flight = 0;  // ssthresh UINT64_MAX: none yet
    uint64_t tx_max_data = 0, tx_data = 0;                 // session credit both ways
    uint64_t rx_max_data = 0, rx_data = 0, rx_window = 0;
    uint64_t tx_max_streams = 0, rx_max_streams = 0;
    uint64_t buffered = 0;  // bytes in send and receive buffers
    // Named session counters in the daemon's order; names snake_case, each once.
    std::vector<std::pair<std::string, uint64_t>> counters;
    std::vector<StreamEntry> streams;  // each id once

    friend bool operator==(const StreamSession&, const StreamSession&) = default;
};

// `enabled` false: no peer has `streams:` configured (then `sessions` is
// empty); true with no sessions: none has opened yet.
struct StreamsResponse {
    static constexpr Command kCommand = Command::show_streams;

    bool enabled = false;
    uint64_t memory_budget = 0, memory_used = 0;  // bytes: the engine's buffer budget
    // The gateway's own: forwarded connections accepted and refused, targets
    // connected, failed and not allowed, stream messages nobody expected...
    std::vector<std::pair<std::string, uint64_t>> counters;
    std::vector<StreamSession> sessions;

    friend bool operator==(const StreamsResponse&, const StreamsResponse&) = default;
};

// Alternatives in command-id order, like Request.
using Response = std::variant<VersionResponse, ShowResponse, LcoresResponse, PortsResponse,
                              DropsResponse, StatsResponse, PeerAddResponse, PeerRemoveResponse,
                              ReloadResponse, NeighboursResponse, StreamsResponse>;

Command command_of(const Response& response) noexcept;

// The response type that answers request type Req.
template <typename Req>
using ResponseFor = std::variant_alternative_t<static_cast<size_t>(Req::kCommand) - 1, Response>;

// A request the daemon could not carry out: an errno and one line for the
// operator ("no peer named \"site-b\"").
struct Failure {
    uint32_t status = 0;
    std::string message;

    friend bool operator==(const Failure&, const Failure&) = default;
};

// ---- Encoding and decoding ----------------------------------------------------------------

// Whole frames, header included. The encoders apply every rule the decoders
// do (one schema drives both), so neither end sends what the other refuses:
// an invalid request comes back as an Error (bad_value, or oversized above
// the command's limit); an invalid reply becomes an EPROTO failure frame and
// one above kMaxResponsePayload an EMSGSIZE failure frame, each saying why.
Result<std::vector<uint8_t>> encode_request(const Request& request, uint32_t request_id);
std::vector<uint8_t> encode_response(const Response& response, uint32_t request_id);
// A failure reply. `command` is the raw id from the request, so that unknown
// commands can be answered too. The message goes through one_line(); a status
// of 0 or above kMaxStatus is sent as EIO (a failure must not read as success).
std::vector<uint8_t> encode_failure(uint16_t command, uint32_t request_id, const Failure& failure);

// Text made fit for any string field: control characters and broken UTF-8
// become '?', and the result is cut at a character boundary to `max` bytes.
// For the daemon's failure messages and reload warnings, which may quote what
// an operator typed.
std::string one_line(std::string_view text, size_t max = kMaxText);

// For the daemon: a request frame (from a FrameReader expecting requests).
Result<Request> decode_request(const Frame& frame);
// For the client: the reply to the request it sent as (command, request_id).
// A non-zero status gives Errc::daemon_error with the daemon's message in
// `detail` and the errno in `status`.
Result<Response> decode_response(const Frame& frame, Command command, uint32_t request_id);
// The same without matching it to a request (tests, fuzzing, tracing).
Result<Response> decode_response(const Frame& frame);

// ---- The daemon's handler table -------------------------------------------------------------

// What a handler returns: the response to its request, or a failure.
template <typename Req>
using Outcome = std::variant<ResponseFor<Req>, Failure>;

// Maps each command to the daemon's handler for it. serve() does the parts
// every command shares: the size check from kCommands, strict decoding, the
// answer to unknown or unregistered commands (ENOSYS) and malformed payloads
// (EBADMSG), and the encoding of the reply. Handlers see only typed,
// validated requests.
class HandlerTable {
public:
    template <typename Req>
    void add(std::function<Outcome<Req>(const Req&)> handler) {
        auto erased = [h = std::move(handler)](const Request& request) -> ErasedOutcome {
            auto out = h(std::get<Req>(request));
            if (auto* failure = std::get_if<Failure>(&out)) return std::move(*failure);
            return Response(std::move(std::get<0>(out)));
        };
        handlers_[static_cast<size_t>(Req::kCommand) - 1] = std::move(erased);
    }

    bool has(Command command) const noexcept {
        return static_cast<bool>(handlers_[static_cast<size_t>(command) - 1]);
    }

    // The reply frame to send for one request frame.
    std::vector<uint8_t> serve(const Frame& request) const;

private:
    using ErasedOutcome = std::variant<Response, Failure>;
    std::array<std::function<ErasedOutcome(const Request&)>, kCommandCount> handlers_;
};

}  // namespace sluice::ctl
