// The probe sluice-perf's generators put in every inner packet, right after
// the IPv4 and UDP headers (UDP port 9): magic "SLPF", the generator queue,
// a sequence number and the TSC at generation. Sinks read it back for
// latency. read_probe() parses frames from anywhere (rxonly counts whatever
// reaches a real port), so it is bounds-checked and fuzzed
// (tests/fuzz/fuzz_probe.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace sluice::perf {

inline constexpr uint32_t kProbeMagic = 0x46504C53;  // "SLPF" little-endian
inline constexpr size_t kProbeLen = 24;
inline constexpr uint16_t kProbeUdpPort = 9;  // discard

struct Probe {
    uint32_t stream = 0;  // generator queue
    uint64_t sequence = 0;
    uint64_t tsc = 0;  // rte_rdtsc() when generated; 0: none (templates)
};

// The probe of an Ethernet frame carrying IPv4/UDP to port 9, if it has one.
inline bool read_probe(const uint8_t* f, uint32_t len, Probe* probe) noexcept {
    constexpr uint32_t kEthernet = 14, kIpv4 = 20, kUdp = 8;
    if (len < kEthernet + kIpv4 + kUdp + kProbeLen) return false;
    if (f[12] != 0x08 || f[13] != 0x00) return false;
    const uint8_t* ip = f + kEthernet;
    if ((ip[0] >> 4) != 4 || ip[9] != 17) return false;
    const uint32_t ihl = (ip[0] & 0x0Fu) * 4u;
    if (ihl < kIpv4) return false;
    if (len < kEthernet + ihl + kUdp + kProbeLen) return false;
    const uint8_t* udp = ip + ihl;
    if (udp[2] != 0 || udp[3] != kProbeUdpPort) return false;
    const uint8_t* p = udp + kUdp;
    uint32_t magic;
    std::memcpy(&magic, p, 4);
    if (magic != kProbeMagic) return false;
    std::memcpy(&probe->stream, p + 4, 4);
    std::memcpy(&probe->sequence, p + 8, 8);
    std::memcpy(&probe->tsc, p + 16, 8);
    return true;
}

}  // namespace sluice::perf
