// The sluicectl control protocol's vocabulary: the command table, error
// codes and their descriptions, and socket addresses. The payload codec is in
// ctl_codec.cpp, frames and the stream reader in ctl_frames.cpp, the daemon's
// dispatch in ctl_handlers.cpp; docs/control-protocol.md describes the same
// bytes for people.
#include "control/ctl_protocol.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
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
    {Command::show_neighbours, "show neighbours", 0, 0},
    {Command::show_streams, "show streams", 0, 0},
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

std::string_view neighbour_state_name(NeighbourState state) noexcept {
    static constexpr std::array<std::string_view, 5> kNames = {"incomplete", "reachable", "probing",
                                                               "failed", "static"};
    const auto i = static_cast<size_t>(state);
    return i < kNames.size() ? kNames[i] : "?";
}

std::string mac_text(const MacAddress& mac) {
    char text[18];
    std::snprintf(text, sizeof text, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2],
                  mac[3], mac[4], mac[5]);
    return text;
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
    const auto parts = split_host_port(text, why_not);
    if (!parts) return std::nullopt;
    if (!parts->bracketed && parts->host.empty()) return refuse("no address before ':port'");
    const auto address = parse_ip_address(parts->host);
    if (!address) {
        return refuse(parts->bracketed
                          ? "not an IPv6 address inside [ ]"
                          : "not an IP address (sluicectl does not resolve host names)");
    }
    if (parts->bracketed && address->family != IpFamily::v6)
        return refuse("not an IPv6 address inside [ ]");
    const auto port = parse_port(parts->port);
    if (!port) return refuse("the port must be a number 1..65535");
    return SocketAddress{*address, *port};
}

}  // namespace sluice::ctl
