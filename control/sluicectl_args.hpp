// sluicectl's command line and its output, as pure functions: argv in, a
// typed Invocation (or one error line and an exit code) out; a response
// struct in, the text or JSON to print out. The socket client and main()
// sit on top of these, so everything an operator sees is testable without a
// daemon.
//
//   sluicectl [--socket PATH | -i IFNAME] [--json] COMMAND [ARGUMENTS]
//
// help_text() lists every command; docs/control-protocol.md has the protocol
// underneath.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "control/ctl_protocol.hpp"

namespace sluice::sluicectl {

// Exit codes, from sysexits.h where one fits, so a script can tell "you typed
// it wrong" from "the daemon said no" from "there is no daemon".
namespace exit_code {
inline constexpr int ok = 0;
inline constexpr int failed = 1;      // the daemon refused or failed the command
inline constexpr int usage = 64;      // unknown command or option, missing or extra argument
inline constexpr int bad_value = 65;  // a value that does not parse: key, CIDR, endpoint, ...
inline constexpr int no_daemon = 69;  // no socket, or nothing listening on it
inline constexpr int io = 74;         // a file named on the command line cannot be read
inline constexpr int protocol = 76;   // version mismatch or a malformed reply
}  // namespace exit_code

inline constexpr std::string_view kCtlSocketDir = "/run/sluice/";
inline constexpr uint32_t kDefaultIntervalMs = 1000;
inline constexpr uint32_t kMinIntervalMs = 100;
inline constexpr uint32_t kMaxIntervalMs = 3600 * 1000;

struct Invocation {
    enum class Action : uint8_t {
        help,           // print help_text() and exit 0
        print_version,  // --version: print client_version_text(), ask no daemon
        request,        // send `request` and print the reply
    };
    Action action = Action::request;
    ctl::Request request = ctl::ShowRequest{};

    bool json = false;
    // stats only: repeat every interval_ms and print rates; count 0 = until
    // interrupted.
    bool watch = false;
    uint32_t interval_ms = kDefaultIntervalMs;
    uint64_t count = 0;

    std::string socket_path;  // --socket; empty: see choose_socket()
    std::string interface;    // -i
    // peer add --preshared-key-file: main() reads it with read_key_file() and
    // puts the key into the request, so the key never sits in argv.
    std::string preshared_key_file;

    friend bool operator==(const Invocation&, const Invocation&) = default;
};

// One line for stderr, "sluicectl: ...", without a newline; and the exit code.
struct UsageError {
    int exit_code = exit_code::usage;
    std::string message;

    friend bool operator==(const UsageError&, const UsageError&) = default;
};

template <typename T>
using OrError = std::variant<T, UsageError>;

// `args` excludes argv[0]. Options may come before or after the command
// words; "--opt=value" and "--opt value" both work; "--" ends options.
OrError<Invocation> parse_args(std::span<const std::string_view> args);
OrError<Invocation> parse_args(int argc, const char* const* argv);

std::string help_text();
// "sluicectl 0.1.0 (control protocol 1)"
std::string client_version_text();

// /run/sluice/<interface>.ctl
std::string ctl_socket_path(std::string_view interface);
// The socket to connect to: --socket as given, else -i's socket, else the one
// socket in `present` (the names of the *.ctl files in kCtlSocketDir, without
// the directory). None or several present give an error that says what to do.
OrError<std::string> choose_socket(const Invocation& invocation,
                                   const std::vector<std::string>& present);

// A key file as wg(8) reads one: 44 characters of base64, optionally followed
// by one newline. Errors: exit_code::io when it cannot be read,
// exit_code::bad_value when it holds something else. The contents never
// appear in a message.
OrError<Key> read_key_file(const std::string& path);

// For a protocol error on the way to or from the daemon: the line to print
// ("sluicectl: peer remove: no peer named \"x\" (ENOENT)") and the exit code.
UsageError error_for(ctl::Command command, const ctl::Error& error);

// ---- Output ---------------------------------------------------------------------------

// What sluicectl prints for a reply, ending in a newline (empty for peer add,
// which, like wg set, says nothing when it worked).
std::string render_text(const ctl::Response& response);
// The same as one line of JSON (plus a newline): objects with snake_case keys,
// keys as base64 strings, absent values as null. Every reply renders, peer add
// as {}.
std::string render_json(const ctl::Response& response);

// Rates between two stats snapshots, matched by port and lcore id. Counters
// that went backwards (a daemon restart) give 0; a port or lcore missing from
// the earlier snapshot, or a non-increasing timestamp, gives no rate.
struct Rates {
    uint64_t rx_pps = 0;
    uint64_t rx_bps = 0;
    uint64_t tx_pps = 0;
    uint64_t tx_bps = 0;

    friend bool operator==(const Rates&, const Rates&) = default;
};
std::optional<Rates> port_rates(const ctl::StatsResponse& previous,
                                const ctl::StatsResponse& current, uint16_t port_id);
std::optional<Rates> lcore_rates(const ctl::StatsResponse& previous,
                                 const ctl::StatsResponse& current, uint32_t lcore_id);

// One period of `stats --watch`, laid out like testpmd's "show port stats":
// a block per port, then per lcore, with a throughput section when there is
// a previous snapshot.
std::string render_stats_period(const ctl::StatsResponse* previous,
                                const ctl::StatsResponse& current);
// The same as one JSON line per period, rates null on the first.
std::string render_stats_json(const ctl::StatsResponse* previous,
                              const ctl::StatsResponse& current);

// wg(8)'s ways of writing durations and sizes: "1 minute, 5 seconds",
// "1.21 MiB".
std::string human_duration(uint64_t seconds);
std::string human_bytes(uint64_t bytes);

}  // namespace sluice::sluicectl
