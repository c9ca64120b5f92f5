// sluicectl's argv parser, its help text and the choice of socket. No I/O
// here except read_key_file(); main() and the socket client sit on top. The
// replies are rendered in sluicectl_text.cpp and sluicectl_json.cpp.
//
// Every error is one line that starts "sluicectl: " and says what was wrong
// with which word; errors in the shape of the command line end with a pointer
// to --help and exit 64, values that do not parse exit 65.
#include "control/sluicectl_args.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>
#include <utility>

#include "control/key_encoding.hpp"
#include "control/names.hpp"
#include "dataplane/decimal.hpp"

#ifndef SLUICE_VERSION
#define SLUICE_VERSION "unknown"
#endif

namespace sluice::sluicectl {

using ctl::Command;

// ---- Error lines ----------------------------------------------------------------------

namespace {

UsageError usage(const std::string& what) {
    return {exit_code::usage, "sluicectl: " + what + " (see sluicectl --help)"};
}

UsageError bad_value(const std::string& what) {
    return {exit_code::bad_value, "sluicectl: " + what};
}

// A word from the command line, quoted for a message: cut to 64 characters
// and with anything unprintable escaped, so the error stays one line.
std::string quoted(std::string_view text) {
    std::string out = "\"";
    size_t shown = 0;
    for (const char c : text) {
        if (++shown > 64) {
            out += "...";
            break;
        }
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u >= 0x7f || c == '"' || c == '\\') {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", u);
            out += buf;
        } else {
            out += c;
        }
    }
    return out + "\"";
}

// Levenshtein distance, for "did you mean" on a near miss.
size_t distance(std::string_view a, std::string_view b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        size_t diagonal = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            const size_t up = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
            diagonal = up;
        }
    }
    return row[b.size()];
}

template <typename Names>
std::string did_you_mean(std::string_view word, const Names& names) {
    for (const std::string_view name : names)
        if (distance(word, name) <= 2) return "; did you mean \"" + std::string(name) + "\"?";
    return "";
}

bool all_digits(std::string_view s) {
    return !s.empty() &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Seconds with up to three decimals ("1", "0.5", "2.125") as milliseconds.
std::optional<uint64_t> parse_seconds_ms(std::string_view s) {
    const size_t dot = s.find('.');
    const std::string_view whole = s.substr(0, dot);
    std::string_view fraction = dot == std::string_view::npos ? "" : s.substr(dot + 1);
    if (dot != std::string_view::npos &&
        (fraction.empty() || fraction.size() > 3 || !all_digits(fraction)))
        return std::nullopt;
    const auto w = parse_decimal(whole, 1'000'000);
    if (!w) return std::nullopt;
    uint64_t ms = *w * 1000;
    uint64_t scale = 100;
    for (const char c : fraction) {
        ms += static_cast<uint64_t>(c - '0') * scale;
        scale /= 10;
    }
    return ms;
}

}  // namespace

// ---- Options --------------------------------------------------------------------------

namespace {

enum class Opt : uint8_t {
    socket,
    interface,
    json,
    help,
    version,
    watch,
    interval,
    count,
    name,
    endpoint,
    allowed_ips,
    keepalive,
    preshared_key_file,
};

constexpr unsigned bit(Command c) {
    return 1u << static_cast<unsigned>(c);
}
constexpr unsigned kEveryCommand =
    bit(Command::version) | bit(Command::show) | bit(Command::show_lcores) |
    bit(Command::show_ports) | bit(Command::show_drops) | bit(Command::stats) |
    bit(Command::peer_add) | bit(Command::peer_remove) | bit(Command::reload) |
    bit(Command::show_neighbours) | bit(Command::show_streams);
// --json goes with every command that prints something.
constexpr unsigned kPrinting = kEveryCommand & ~bit(Command::peer_add);

struct OptionSpec {
    Opt opt;
    std::string_view name;   // "--socket"
    std::string_view alias;  // "-i", or empty
    bool takes_value;
    unsigned commands;  // the commands it goes with
    bool repeatable;
};

constexpr std::array<OptionSpec, 13> kOptions = {{
    {Opt::socket, "--socket", "", true, kEveryCommand, false},
    {Opt::interface, "--interface", "-i", true, kEveryCommand, false},
    {Opt::json, "--json", "", false, kPrinting, false},
    {Opt::help, "--help", "-h", false, kEveryCommand, true},
    {Opt::version, "--version", "", false, kEveryCommand, true},
    {Opt::watch, "--watch", "", false, bit(Command::stats), false},
    {Opt::interval, "--interval", "", true, bit(Command::stats), false},
    {Opt::count, "--count", "", true, bit(Command::stats), false},
    {Opt::name, "--name", "", true, bit(Command::peer_add) | bit(Command::peer_remove), false},
    {Opt::endpoint, "--endpoint", "", true, bit(Command::peer_add), false},
    {Opt::allowed_ips, "--allowed-ips", "", true, bit(Command::peer_add), true},
    {Opt::keepalive, "--keepalive", "", true, bit(Command::peer_add), false},
    {Opt::preshared_key_file, "--preshared-key-file", "", true, bit(Command::peer_add), false},
}};

const OptionSpec* find_option(std::string_view spelled) {
    for (const OptionSpec& o : kOptions)
        if (spelled == o.name || (!o.alias.empty() && spelled == o.alias)) return &o;
    return nullptr;
}

struct GivenOption {
    const OptionSpec* spec;
    std::string_view spelled;
    std::string_view value;
};

// The command words: "show lcores", "peer add KEY", ...
struct CommandLine {
    Command command = Command::show;
    bool help = false;                        // "sluicectl help"
    std::optional<std::string_view> operand;  // peer add/remove: the public key
};

OrError<CommandLine> parse_words(const std::vector<std::string_view>& words) {
    static constexpr std::array<std::string_view, 6> kFirstWords = {"show",   "stats",   "peer",
                                                                    "reload", "version", "help"};
    CommandLine line;
    size_t used = 1;
    if (words.empty()) return line;  // like wg(8): no command means show
    const std::string_view first = words[0];
    if (first == "help") {
        line.help = true;
    } else if (first == "show") {
        line.command = Command::show;
        if (words.size() > 1) {
            const std::string_view what = words[1];
            static constexpr std::array<std::string_view, 5> kTargets = {"lcores", "ports", "drops",
                                                                         "neighbours", "streams"};
            if (what == "lcores")
                line.command = Command::show_lcores;
            else if (what == "ports")
                line.command = Command::show_ports;
            else if (what == "drops")
                line.command = Command::show_drops;
            else if (what == "neighbours" || what == "neighbors")  // either spelling
                line.command = Command::show_neighbours;
            else if (what == "streams")
                line.command = Command::show_streams;
            else
                return usage("unknown show target " + quoted(what) +
                             ": show takes lcores, ports, drops, neighbours, streams or nothing" +
                             did_you_mean(what, kTargets));
            used = 2;
        }
    } else if (first == "stats") {
        line.command = Command::stats;
    } else if (first == "reload") {
        line.command = Command::reload;
    } else if (first == "version") {
        line.command = Command::version;
    } else if (first == "peer") {
        if (words.size() < 2) return usage("peer needs add or remove");
        const std::string_view what = words[1];
        if (what == "add") {
            line.command = Command::peer_add;
            if (words.size() < 3) return usage("peer add needs the peer's public key");
        } else if (what == "remove") {
            line.command = Command::peer_remove;
        } else {
            static constexpr std::array<std::string_view, 2> kVerbs = {"add", "remove"};
            return usage("unknown peer command " + quoted(what) + ": peer takes add or remove" +
                         did_you_mean(what, kVerbs));
        }
        used = 2;
        if (words.size() > 2) {
            line.operand = words[2];
            used = 3;
        }
    } else {
        return usage("unknown command " + quoted(first) + did_you_mean(first, kFirstWords));
    }
    if (words.size() > used) return usage("unexpected argument " + quoted(words[used]));
    return line;
}

// Fills `r.allowed_ips` from one --allowed-ips value: comma-separated
// prefixes, or "" for none. `seen` spans every --allowed-ips given, so that a
// hub's long list is checked for repeats in n log n.
std::optional<UsageError> add_allowed_ips(ctl::PeerAddRequest& r, std::set<IpPrefix>& seen,
                                          std::string_view list) {
    while (!list.empty()) {
        const size_t comma = list.find(',');
        const std::string_view item = list.substr(0, comma);
        list = comma == std::string_view::npos ? "" : list.substr(comma + 1);
        if (comma != std::string_view::npos && list.empty())
            return bad_value("--allowed-ips: empty entry after ','");
        if (item.empty()) return bad_value("--allowed-ips: empty entry in the list");
        const auto prefix = parse_ip_prefix(item);
        if (!prefix)
            return bad_value("--allowed-ips: bad CIDR " + quoted(item) +
                             ": expected an address and prefix length such as 10.0.0.0/24 or "
                             "fd00::/64");
        if (!prefix->is_masked())
            return bad_value("--allowed-ips: " + quoted(item) +
                             " has bits set past its length; did you mean " +
                             prefix->masked().to_string() + "?");
        if (!seen.insert(*prefix).second)
            return bad_value("--allowed-ips: " + prefix->to_string() + " given twice");
        if (r.allowed_ips.size() == ctl::kMaxAllowedIps)
            return bad_value("--allowed-ips: more than " + std::to_string(ctl::kMaxAllowedIps) +
                             " prefixes");
        r.allowed_ips.push_back(*prefix);
    }
    return std::nullopt;
}

std::optional<UsageError> bad_key(std::string_view what, std::string_view text) {
    return bad_value(std::string(what) + ": bad public key " + quoted(text) +
                     ": expected 44 characters of base64 ending in '='");
}

// Applies one option to the invocation; the option is known to go with the
// command.
std::optional<UsageError> apply(Invocation& inv, const GivenOption& g,
                                std::set<IpPrefix>& allowed_ips_seen) {
    const std::string_view v = g.value;
    switch (g.spec->opt) {
        case Opt::socket:
            if (v.empty() || v.size() > 107)  // sun_path holds 108 bytes with the NUL
                return bad_value("--socket: a socket path is 1 to 107 bytes, got " +
                                 std::to_string(v.size()));
            inv.socket_path = v;
            break;
        case Opt::interface:
            if (!valid_interface_name(v))
                return bad_value(std::string(g.spelled) + ": bad interface name " + quoted(v) +
                                 ": 1 to 15 characters from A-Z a-z 0-9 _ = + . -");
            inv.interface = v;
            break;
        case Opt::json:
            inv.json = true;
            break;
        case Opt::help:
        case Opt::version:
            break;  // handled before the command is looked at
        case Opt::watch:
            inv.watch = true;
            break;
        case Opt::interval: {
            const auto ms = parse_seconds_ms(v);
            if (!ms || *ms < kMinIntervalMs || *ms > kMaxIntervalMs)
                return bad_value("--interval: bad interval " + quoted(v) +
                                 ": expected seconds from 0.1 to 3600, such as 1 or 0.5");
            inv.interval_ms = static_cast<uint32_t>(*ms);
            break;
        }
        case Opt::count: {
            const auto n = parse_decimal(v, 1'000'000'000);
            if (!n || *n == 0)
                return bad_value("--count: bad count " + quoted(v) +
                                 ": expected a number of snapshots from 1 to 1000000000");
            inv.count = *n;
            break;
        }
        case Opt::name: {
            if (!ctl::valid_peer_name(v))
                return bad_value("--name: bad peer name " + quoted(v) +
                                 ": 1 to 64 printable ASCII characters, no space at either end");
            if (auto* add = std::get_if<ctl::PeerAddRequest>(&inv.request))
                add->name = v;
            else
                std::get<ctl::PeerRemoveRequest>(inv.request).peer = std::string(v);
            break;
        }
        case Opt::endpoint: {
            std::string why;
            const auto endpoint = ctl::parse_socket_address(v, &why);
            if (!endpoint) return bad_value("--endpoint: bad endpoint " + quoted(v) + ": " + why);
            std::get<ctl::PeerAddRequest>(inv.request).endpoint = *endpoint;
            break;
        }
        case Opt::allowed_ips:
            return add_allowed_ips(std::get<ctl::PeerAddRequest>(inv.request), allowed_ips_seen, v);
        case Opt::keepalive: {
            const auto seconds = v == "off" ? std::optional<uint64_t>(0) : parse_decimal(v, 65535);
            if (!seconds)
                return bad_value("--keepalive: bad keepalive " + quoted(v) +
                                 ": expected seconds from 0 to 65535, or off");
            std::get<ctl::PeerAddRequest>(inv.request).persistent_keepalive =
                static_cast<uint16_t>(*seconds);
            break;
        }
        case Opt::preshared_key_file:
            if (v.empty()) return bad_value("--preshared-key-file: empty path");
            inv.preshared_key_file = v;
            break;
    }
    return std::nullopt;
}

// The request for `command` with every field at its default: the variant's
// alternatives are in command-id order.
ctl::Request empty_request(Command command) {
    ctl::Request request;
    [&]<size_t... I>(std::index_sequence<I...>) {
        ((static_cast<size_t>(command) == I + 1 ? (void)request.emplace<I>() : void()), ...);
    }
    (std::make_index_sequence<std::variant_size_v<ctl::Request>>());
    return request;
}

}  // namespace

OrError<Invocation> parse_args(std::span<const std::string_view> args) {
    std::vector<std::string_view> words;
    std::vector<GivenOption> given;
    bool options_done = false;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string_view arg = args[i];
        if (!options_done && arg == "--") {
            options_done = true;
            continue;
        }
        if (options_done || arg.size() < 2 || arg[0] != '-') {
            words.push_back(arg);
            continue;
        }
        std::string_view spelled = arg;
        std::optional<std::string_view> inline_value;
        if (arg.starts_with("--")) {
            if (const size_t eq = arg.find('='); eq != std::string_view::npos) {
                spelled = arg.substr(0, eq);
                inline_value = arg.substr(eq + 1);
            }
        }
        const OptionSpec* spec = find_option(spelled);
        if (!spec) {
            std::vector<std::string_view> names;
            for (const OptionSpec& o : kOptions) names.push_back(o.name);
            return usage("unknown option " + quoted(spelled) + did_you_mean(spelled, names));
        }
        std::string_view value;
        if (spec->takes_value) {
            if (inline_value) {
                value = *inline_value;
            } else if (i + 1 < args.size() && !args[i + 1].starts_with("--")) {
                // A value may start with one '-', so "--interval -1" reads as
                // a (bad) interval rather than a missing one.
                value = args[++i];
            } else {
                return usage(std::string(spelled) + " needs a value");
            }
        } else if (inline_value) {
            return usage(std::string(spelled) + " takes no value");
        }
        given.push_back({spec, spelled, value});
    }

    Invocation inv;
    // --help and --version answer whatever else the line says, as most tools do.
    for (const GivenOption& g : given) {
        if (g.spec->opt == Opt::help) {
            inv.action = Invocation::Action::help;
            return inv;
        }
    }
    for (const GivenOption& g : given) {
        if (g.spec->opt == Opt::version) {
            inv.action = Invocation::Action::print_version;
            return inv;
        }
    }

    const auto line = parse_words(words);
    if (const auto* e = std::get_if<UsageError>(&line)) return *e;
    const CommandLine& cl = std::get<CommandLine>(line);
    if (cl.help) {
        inv.action = Invocation::Action::help;
        return inv;
    }
    inv.request = empty_request(cl.command);
    const std::string name(ctl::command_name(cl.command));

    if (cl.command == Command::peer_add) {
        const auto key = key_from_base64(*cl.operand);
        if (!key) return *bad_key("peer add", *cl.operand);
        std::get<ctl::PeerAddRequest>(inv.request).public_key = *key;
    } else if (cl.command == Command::peer_remove && cl.operand) {
        const auto key = key_from_base64(*cl.operand);
        if (!key) return *bad_key("peer remove", *cl.operand);
        std::get<ctl::PeerRemoveRequest>(inv.request).peer = *key;
    }

    std::set<Opt> seen;
    for (const GivenOption& g : given) {
        if (!(g.spec->commands & bit(cl.command)))
            return usage(std::string(g.spelled) + " does not go with " + name);
        if (!seen.insert(g.spec->opt).second && !g.spec->repeatable)
            return usage(std::string(g.spelled) + " given twice");
    }
    if (seen.count(Opt::socket) && seen.count(Opt::interface))
        return usage("give --socket or -i, not both");
    if (cl.command == Command::peer_remove &&
        (cl.operand.has_value() == (seen.count(Opt::name) > 0)))
        return usage(cl.operand ? "peer remove takes a public key or --name, not both"
                                : "peer remove needs a public key or --name NAME");
    std::set<IpPrefix> allowed_ips_seen;
    for (const GivenOption& g : given)
        if (auto e = apply(inv, g, allowed_ips_seen)) return *e;
    if (!inv.watch && (seen.count(Opt::interval) || seen.count(Opt::count)))
        return usage(std::string(seen.count(Opt::interval) ? "--interval" : "--count") +
                     " goes with --watch");
    // The size limit depends on the encoding, so ask the encoder: a request
    // that parses must be one the daemon will take.
    if (const auto encoded = ctl::encode_request(inv.request, 0); !encoded) {
        const ctl::Error& e = encoded.error();
        if (e.code == ctl::Errc::oversized)
            return bad_value(name + ": too many allowed IPs for one request (" + e.detail +
                             "); list them in the configuration file and reload");
        return bad_value(name + ": " + ctl::describe(e));
    }
    return inv;
}

OrError<Invocation> parse_args(int argc, const char* const* argv) {
    std::vector<std::string_view> args;
    for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
    return parse_args(std::span<const std::string_view>(args));
}

std::string client_version_text() {
    return std::string("sluicectl ") + SLUICE_VERSION + " (control protocol " +
           std::to_string(ctl::kProtocolVersion) + ")";
}

std::string help_text() {
    return R"(usage: sluicectl [--socket PATH | -i IFNAME] [--json] COMMAND [ARGUMENTS]

Talks to sluiced over its control socket, /run/sluice/IFNAME.ctl.

commands:
  show                   the interface and its peers: endpoints, allowed IPs,
                         latest handshake, keypairs, transfer (the default)
  show lcores            packet cores: role, packets, bytes, drops, busy share,
                         packets handed to and taken from other lcores
  show ports             ports: driver, device, link, queues, counters
  show drops             drop counters by reason and lcore
  show neighbours        L2 mode's neighbour tables: address, MAC, state, age,
                         next request or expiry, queued packets, per-port
                         counters (also: show neighbors)
  show streams           reliable stream sessions per peer: state, RTT, window,
                         credit, buffers, counters, and each stream's
                         direction, forward and bytes written/acked/read
  stats [--watch [--interval S] [--count N]]
                         port and lcore counters; --watch repeats every S
                         seconds (default 1, 0.1 to 3600) with Rx/Tx pps and
                         bit rates, like testpmd's stats period
  peer add PUBLIC_KEY [--name NAME] [--endpoint ADDR:PORT]
           [--allowed-ips CIDR[,CIDR...]] [--keepalive SECONDS|off]
           [--preshared-key-file FILE]
                         add a peer (wg set edits existing ones)
  peer remove PUBLIC_KEY | peer remove --name NAME
                         remove a peer
  reload                 re-read the configuration file and apply the difference
  version                this program's and the daemon's versions
  help                   this text

options:
  --socket PATH          the control socket to use
  -i, --interface IFNAME use /run/sluice/IFNAME.ctl (default: the only one there)
  --json                 print JSON instead of text (every command but peer add)
  -h, --help             this text
  --version              this program's version, without asking the daemon

exit status: 0 done, 1 the daemon refused or failed, 64 bad usage,
65 a bad value, 69 no daemon, 74 a file could not be read,
76 version mismatch or a malformed reply
)";
}

// ---- Sockets and key files --------------------------------------------------------------

std::string ctl_socket_path(std::string_view interface) {
    return std::string(kCtlSocketDir) + std::string(interface) + ".ctl";
}

OrError<std::string> choose_socket(const Invocation& inv, const std::vector<std::string>& present) {
    if (!inv.socket_path.empty()) return inv.socket_path;
    if (!inv.interface.empty()) return ctl_socket_path(inv.interface);
    std::vector<std::string> interfaces;
    for (const std::string& file : present) {
        if (file.size() <= 4 || !file.ends_with(".ctl")) continue;
        const std::string name = file.substr(0, file.size() - 4);
        if (valid_interface_name(name)) interfaces.push_back(name);
    }
    std::sort(interfaces.begin(), interfaces.end());
    if (interfaces.size() == 1) return ctl_socket_path(interfaces[0]);
    if (interfaces.empty())
        return UsageError{exit_code::no_daemon,
                          "sluicectl: no sluiced is running: " + std::string(kCtlSocketDir) +
                              " holds no .ctl socket (start sluiced, or give --socket PATH)"};
    std::string list;
    for (const std::string& name : interfaces) list += (list.empty() ? "" : ", ") + name;
    return usage("several interfaces are running (" + list + "): pick one with -i IFNAME");
}

OrError<Key> read_key_file(const std::string& path) {
    // Non-blocking so that a FIFO named by mistake fails instead of hanging.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return UsageError{exit_code::io, "sluicectl: cannot read key file " + quoted(path) + ": " +
                                             std::strerror(errno)};
    struct stat st {};
    std::array<char, 128> buf{};
    ssize_t n = -1;
    int saved_errno = 0;
    if (::fstat(fd, &st) != 0) {
        saved_errno = errno;
    } else if (!S_ISREG(st.st_mode)) {
        saved_errno = EINVAL;
    } else {
        n = ::read(fd, buf.data(), buf.size());
        if (n < 0) saved_errno = errno;
    }
    ::close(fd);
    if (n < 0) {
        return UsageError{exit_code::io, "sluicectl: cannot read key file " + quoted(path) + ": " +
                                             (saved_errno == EINVAL ? "not a regular file"
                                                                    : std::strerror(saved_errno))};
    }
    std::string_view text(buf.data(), static_cast<size_t>(n));
    if (text.ends_with('\n')) text.remove_suffix(1);
    const auto key = key_from_base64(text);
    secure_wipe(buf.data(), buf.size());
    if (!key)
        return bad_value("key file " + quoted(path) +
                         ": expected one base64 key (44 characters) and nothing else");
    return *key;
}

UsageError error_for(Command command, const ctl::Error& error) {
    const std::string line =
        "sluicectl: " + std::string(ctl::command_name(command)) + ": " + ctl::describe(error);
    return {error.code == ctl::Errc::daemon_error ? exit_code::failed : exit_code::protocol, line};
}

}  // namespace sluice::sluicectl
