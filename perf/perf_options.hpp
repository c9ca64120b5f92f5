// sluice-perf's command line: testpmd-style options, parsed and checked in
// one place so that every bad option gets one clear line and exit 64.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sluice::perf {

enum class Mode : uint8_t { encrypt, decrypt, loopback, fwd, txonly, rxonly };
[[nodiscard]] const char* to_string(Mode mode) noexcept;

// The simple IMIX of inner packet sizes: 7 × 64, 4 × 576, 1 × the tunnel
// MTU (1420 by default, where an Ethernet IMIX has 1500).
inline constexpr uint16_t kImixSmall = 64;
inline constexpr uint16_t kImixMedium = 576;
inline constexpr unsigned kImixWeights[3] = {7, 4, 1};

inline constexpr uint16_t kMinPacket = 64;      // room for IPv4 + UDP + the probe
inline constexpr double kMaxDurationS = 150.0;  // keypairs are rejected after 180 s

struct Options {
    Mode mode = Mode::loopback;
    unsigned lcores = 1;         // per gateway
    bool pipeline = false;       // --pipeline: lcore 0 rx/tx, the others crypto (dataplane/pipeline.hpp)
    std::vector<int> cpus;       // --cpus: pin the lcores, in order; empty: float
    uint16_t burst = 32;
    // One run per entry, in order (a sweep); 0 stands for imix.
    std::vector<uint16_t> sizes{64};
    uint32_t peers = 0;          // 0: one per lcore (one in pipeline mode)
    uint32_t flows = 1;          // inner UDP source ports per peer
    double duration_s = 5.0;     // used when packets == 0
    uint64_t packets = 0;        // generate exactly this many, then drain
    double stats_period_s = 1.0; // 0: summary only
    uint64_t tx_rate_pps = 0;    // 0: as fast as the generator can
    uint16_t mtu = 1420;         // the tunnel MTU
    bool json = false;
    // txonly/rxonly: the device to send on / count on (vdev string or PCI
    // address); default net_null.
    std::string port;
    std::string eth_peer;        // txonly: destination MAC (default: the port's own)
    std::string src_ip = "10.64.0.1";   // txonly: inner IPv4 source (flows vary the UDP port)
    std::string dst_ip = "10.128.0.2";  // txonly: inner IPv4 destination
    size_t memory_mb = 0;        // EAL heap; 0: sized from the run
};

// Queues per port and generator streams: one per lcore, or one in pipeline
// mode, where only lcore 0 touches the ports.
[[nodiscard]] inline unsigned port_queues(const Options& o) noexcept {
    return o.pipeline ? 1 : o.lcores;
}

enum class ParseResult : uint8_t { run, help, version, error };

// Fills `options`; on error `error` is one line naming the option.
ParseResult parse_options(int argc, char** argv, Options* options, std::string* error);

[[nodiscard]] std::string help_text();

// "64", "imix".
[[nodiscard]] std::string size_label(uint16_t size);

}  // namespace sluice::perf
