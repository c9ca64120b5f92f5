#include "perf/perf_options.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <string_view>

namespace sluice::perf {

namespace {

bool parse_u64(std::string_view text, uint64_t min, uint64_t max, uint64_t* out) {
    if (text.empty() || text.size() > 20) return false;
    uint64_t v = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return false;
        if (v > (UINT64_MAX - static_cast<uint64_t>(c - '0')) / 10) return false;
        v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    if (v < min || v > max) return false;
    *out = v;
    return true;
}

bool parse_seconds(std::string_view text, double min, double max, double* out) {
    const std::string s(text);
    if (s.empty()) return false;
    char* end = nullptr;
    errno = 0;
    const double v = std::strtod(s.c_str(), &end);
    if (errno != 0 || end != s.c_str() + s.size() || !std::isfinite(v) || v < min || v > max)
        return false;
    *out = v;
    return true;
}

std::vector<std::string_view> split(std::string_view text, char sep) {
    std::vector<std::string_view> parts;
    size_t start = 0;
    while (true) {
        const size_t at = text.find(sep, start);
        parts.push_back(text.substr(start, at == std::string_view::npos ? std::string_view::npos
                                                                         : at - start));
        if (at == std::string_view::npos) break;
        start = at + 1;
    }
    return parts;
}

bool parse_mode(std::string_view text, Mode* mode) {
    for (Mode m : {Mode::encrypt, Mode::decrypt, Mode::loopback, Mode::fwd, Mode::txonly,
                   Mode::rxonly}) {
        if (text == to_string(m)) {
            *mode = m;
            return true;
        }
    }
    return false;
}

}  // namespace

const char* to_string(Mode mode) noexcept {
    switch (mode) {
        case Mode::encrypt: return "encrypt";
        case Mode::decrypt: return "decrypt";
        case Mode::loopback: return "loopback";
        case Mode::fwd: return "fwd";
        case Mode::txonly: return "txonly";
        case Mode::rxonly: return "rxonly";
    }
    return "?";
}

std::string size_label(uint16_t size) { return size == 0 ? "imix" : std::to_string(size); }

std::string help_text() {
    return R"(usage: sluice-perf [options]

Runs sluice's dataplane (the lcore loop sluiced runs, on DPDK ports) and
reports testpmd-style figures: per-port Rx/Tx packet and bit rates, per-lcore
cycles per packet, drops by reason, latency percentiles.

Modes (--mode, default loopback):
  encrypt    inner IPv4 packets from a net_null generator -> gateway A ->
             WireGuard data messages to a net_null sink
  decrypt    valid data messages (fresh counters; a new keypair every few
             thousand packets, as a rekey would give) -> gateway B -> inner
             packets to a net_null sink; every packet gets the replay check
             and authentication
  loopback   generator -> gateway A (encrypt) -> net_ring pair -> gateway B
             (decrypt) -> sink, with latency from timestamps in the packets
  fwd        two gateways forwarding both ways at once through a net_ring
             pair, each LAN port both generating and sinking
  txonly     generate inner IPv4/UDP frames on --port (a traffic generator for
             a gateway under test); timestamps and sequence numbers inside
  rxonly     count frames arriving on --port, latency from sluice-perf probes

Options:
  --mode MODE            one of the modes above
  --lcores N             packet lcores per gateway (default 1)
  --pipeline             pipeline mode: lcore 0 receives, reorders and sends,
                         the other lcores seal and open (needs --lcores 2 or
                         more; one queue per port; default --peers 1)
  --cpus LIST            pin the lcores to these CPUs, e.g. 2,3 (default: float)
  --burst N              packets per burst, 1..512 (default 32)
  --pkt-size LIST        inner IP packet sizes, 64..MTU, or imix (7x64, 4x576,
                         1xMTU); a list such as 64,512,1420 runs once per size
  --peers N              tunnels between the gateways, 1..16384 (default: one
                         per lcore; one with --pipeline)
  --flows N              inner UDP flows per peer, 1..65535 (default 1)
  --duration S           seconds per run, up to 150 (default 5)
  --packets N            generate exactly N packets, then wait for the rest
  --tx-rate PPS          limit the generators to PPS packets/s in all (default:
                         as fast as they go); e.g. half of a full-rate run for
                         latency at half load
  --stats-period S       a stats block every S seconds; 0: summary only (default 1)
  --mtu N                tunnel MTU, 1280..9000 (default 1420)
  --port DEV             txonly/rxonly: a vdev string or PCI address
                         (default net_null0)
  --eth-peer MAC         txonly: destination MAC of the frames
  --src-ip A, --dst-ip A txonly: inner IPv4 source and destination
                         (default 10.64.0.1 -> 10.128.0.2)
  --memory MB            DPDK heap (default: sized from the run)
  --json                 one JSON object per line (stats periods, summaries)
  -h, --help             this text
  --version              the version

Exit status: 0 done; 2 the run could not start (no memory, a port that does
not exist, ...); 64 bad options.
)";
}

ParseResult parse_options(int argc, char** argv, Options* o, std::string* error) {
    bool peers_set = false;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "-h" || arg == "--help") return ParseResult::help;
        if (arg == "--version") return ParseResult::version;
        if (arg == "--json") {
            o->json = true;
            continue;
        }
        if (arg == "--pipeline") {
            o->pipeline = true;
            continue;
        }
        // Every other option takes a value: "--name value" or "--name=value".
        std::string_view name = arg;
        std::string_view value;
        bool has_value = false;
        if (const size_t eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
            name = arg.substr(0, eq);
            value = arg.substr(eq + 1);
            has_value = true;
        }
        static const std::string_view kValued[] = {
            "--mode", "--lcores", "--cpus", "--burst", "--pkt-size", "--peers", "--flows",
            "--duration", "--packets", "--tx-rate", "--stats-period", "--mtu", "--port",
            "--eth-peer", "--src-ip", "--dst-ip", "--memory"};
        bool known = false;
        for (std::string_view k : kValued) known |= name == k;
        if (!known) {
            *error = "unknown option '" + std::string(arg) + "' (see --help)";
            return ParseResult::error;
        }
        if (!has_value) {
            if (i + 1 >= argc) {
                *error = std::string(name) + " needs a value";
                return ParseResult::error;
            }
            value = argv[++i];
        }
        const std::string v(value);
        auto bad = [&](const std::string& expected) {
            *error = std::string(name) + ": '" + v + "' is not " + expected;
            return ParseResult::error;
        };
        uint64_t n = 0;
        if (name == "--mode") {
            if (!parse_mode(value, &o->mode))
                return bad("a mode (encrypt, decrypt, loopback, fwd, txonly, rxonly)");
        } else if (name == "--lcores") {
            if (!parse_u64(value, 1, 64, &n)) return bad("a number of lcores from 1 to 64");
            o->lcores = static_cast<unsigned>(n);
        } else if (name == "--cpus") {
            o->cpus.clear();
            for (std::string_view part : split(value, ',')) {
                if (!parse_u64(part, 0, 1023, &n)) return bad("a list of CPU numbers such as 2,3");
                o->cpus.push_back(static_cast<int>(n));
            }
        } else if (name == "--burst") {
            if (!parse_u64(value, 1, 512, &n)) return bad("a burst size from 1 to 512");
            o->burst = static_cast<uint16_t>(n);
        } else if (name == "--pkt-size") {
            o->sizes.clear();
            for (std::string_view part : split(value, ',')) {
                if (part == "imix") {
                    o->sizes.push_back(0);
                } else if (parse_u64(part, kMinPacket, 9000, &n)) {
                    o->sizes.push_back(static_cast<uint16_t>(n));
                } else {
                    return bad("a list of packet sizes (64 up to the MTU) or imix");
                }
            }
        } else if (name == "--peers") {
            if (!parse_u64(value, 1, 16384, &n)) return bad("a number of peers from 1 to 16384");
            o->peers = static_cast<uint32_t>(n);
            peers_set = true;
        } else if (name == "--flows") {
            if (!parse_u64(value, 1, 65535, &n)) return bad("a number of flows from 1 to 65535");
            o->flows = static_cast<uint32_t>(n);
        } else if (name == "--duration") {
            if (!parse_seconds(value, 0.1, kMaxDurationS, &o->duration_s))
                return bad("a duration from 0.1 to 150 seconds (keypairs expire after 180 s)");
        } else if (name == "--packets") {
            if (!parse_u64(value, 1, UINT64_MAX / 2, &o->packets)) return bad("a packet count");
        } else if (name == "--tx-rate") {
            if (!parse_u64(value, 1, 1'000'000'000, &o->tx_rate_pps))
                return bad("a rate in packets per second");
        } else if (name == "--stats-period") {
            if (!parse_seconds(value, 0, 3600, &o->stats_period_s))
                return bad("a period in seconds (0: summary only)");
        } else if (name == "--mtu") {
            if (!parse_u64(value, 1280, 9000, &n)) return bad("an MTU from 1280 to 9000");
            o->mtu = static_cast<uint16_t>(n);
        } else if (name == "--port") {
            if (value.empty()) return bad("a device");
            o->port = v;
        } else if (name == "--eth-peer") {
            o->eth_peer = v;  // checked with the other addresses below
        } else if (name == "--src-ip") {
            o->src_ip = v;
        } else if (name == "--dst-ip") {
            o->dst_ip = v;
        } else if (name == "--memory") {
            if (!parse_u64(value, 64, 1 << 20, &n)) return bad("a heap size in MB (at least 64)");
            o->memory_mb = static_cast<size_t>(n);
        }
    }
    for (uint16_t size : o->sizes) {
        if (size > o->mtu) {
            *error = "--pkt-size: " + std::to_string(size) + " is larger than the tunnel MTU (" +
                     std::to_string(o->mtu) + ")";
            return ParseResult::error;
        }
    }
    const bool port_mode = o->mode == Mode::txonly || o->mode == Mode::rxonly;
    if (o->pipeline && (o->lcores < 2 || port_mode)) {
        *error = port_mode ? "--pipeline runs gateways; txonly and rxonly have none"
                           : "--pipeline needs --lcores 2 or more (an rx/tx lcore and crypto lcores)";
        return ParseResult::error;
    }
    if (!peers_set) o->peers = port_queues(*o);
    if (o->peers < port_queues(*o) && !port_mode) {
        *error = "--peers " + std::to_string(o->peers) + " is fewer than --lcores " +
                 std::to_string(o->lcores) + ": an lcore would have no tunnel to serve";
        return ParseResult::error;
    }
    if (!o->cpus.empty()) {
        const unsigned needed = (o->mode == Mode::loopback || o->mode == Mode::fwd) ? 2 * o->lcores
                                                                                     : o->lcores;
        if (o->cpus.size() != needed) {
            *error = "--cpus: " + std::string(to_string(o->mode)) + " with --lcores " +
                     std::to_string(o->lcores) + " runs " + std::to_string(needed) +
                     " lcores; give that many CPUs";
            return ParseResult::error;
        }
    }
    if (!o->port.empty() && !port_mode) {
        *error = "--port is for txonly and rxonly; the other modes run on virtual ports";
        return ParseResult::error;
    }
    return ParseResult::run;
}

}  // namespace sluice::perf
