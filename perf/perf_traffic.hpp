// sluice-perf's traffic: what the generators put into the gateways and what
// the sinks take out of them. Both sit on DPDK ports as a Port wrapper
// (TrafficPort), so the gateways' lcores run their normal loop on them:
//
//   TrafficPort::rx_burst: the lower port's rx_burst (net_null hands out
//     fresh mbufs) → Generator::fill writes the frames (rate limit, packet
//     budget) — the generator's cycles are counted apart from the lcore's;
//   TrafficPort::tx_burst: Sink::consume reads the probe in each frame
//     (latency, counts) → the lower port's tx_burst (net_null frees).
//
// Inner frames: Ethernet, IPv4, UDP (source port 1024 + flow, port 9), then
// a 24-byte probe: magic, stream, sequence number, TSC at generation.
// Encrypted frames (decrypt mode): whole WAN frames copied from per-peer
// templates (perf_tunnel.hpp), with the receiver index of the key epoch the
// generator is in.
//
// Ownership: queue q's state belongs to the lcore polling queue q; the
// counters are relaxed atomics the main thread reads.
#pragma once

#include <rte_ether.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "drivers/port.hpp"
#include "perf/probe.hpp"

namespace sluice::perf {

struct EpochTable;
struct TemplateSet;

inline void bump(std::atomic<uint64_t>& a, uint64_t n) noexcept {
    a.store(a.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

// ---- latency ---------------------------------------------------------------

// Log-linear histogram of TSC cycles: exact below 64, then 32 buckets per
// power of two (within 3%). Recorded by one lcore, read by the main thread.
class LatencyHistogram {
public:
    static constexpr unsigned kBuckets = 64 + 58 * 32;
    void record(uint64_t cycles) noexcept;
    // Adds this histogram's counts to `into` (kBuckets long).
    void add_to(std::vector<uint64_t>& into) const noexcept;

    // The value (cycles) at fraction p of the counts; 0 when empty.
    static uint64_t percentile(const std::vector<uint64_t>& counts, double p) noexcept;
    static unsigned bucket_of(uint64_t cycles) noexcept;
    static uint64_t value_of(unsigned bucket) noexcept;  // the bucket's middle

private:
    std::array<std::atomic<uint64_t>, kBuckets> counts_{};
};

// ---- generator -------------------------------------------------------------

struct GeneratorConfig {
    enum class Kind : uint8_t { inner, encrypted } kind = Kind::inner;
    rte_ether_addr src_mac{};
    rte_ether_addr dst_mac{};
    // Inner: the IPv4 source and destination of peer p (`side` picks the
    // subnet plan of perf_tunnel.hpp) or fixed ones (txonly).
    bool fixed_addresses = false;
    uint8_t fixed_src[4] = {};
    uint8_t fixed_dst[4] = {};
    uint8_t src_side = 0;  // 0: A's subnets, 1: B's subnets
    std::vector<uint16_t> size_pattern;  // inner IP sizes, cycled
    uint32_t flows = 1;
    // Peers each queue generates for (queue q: peers[q]).
    std::vector<std::vector<uint32_t>> peers;
    double rate_pps = 0;         // all queues together; 0: unlimited
    uint64_t packet_limit = 0;   // all queues together; 0: none
    // Encrypted kind.
    const std::vector<TemplateSet>* templates = nullptr;  // by peer
    EpochTable* epochs = nullptr;
};

class Generator {
public:
    explicit Generator(GeneratorConfig config);
    // How many of up to n packets queue q may generate now.
    uint16_t budget(uint16_t q, uint16_t n) noexcept;
    // Writes frames into mbufs[0..n); returns how many were written (the
    // rest, if any, were freed: a peer waiting for its next key epoch).
    uint16_t fill(uint16_t q, rte_mbuf** mbufs, uint16_t n) noexcept;

    [[nodiscard]] uint64_t generated() const noexcept;
    [[nodiscard]] uint64_t bytes() const noexcept;
    [[nodiscard]] uint64_t cycles() const noexcept;
    [[nodiscard]] uint64_t stalls() const noexcept;
    [[nodiscard]] uint64_t queue_cycles(uint16_t q) const noexcept {
        return queues_[q]->cycles.load(std::memory_order_relaxed);
    }
    [[nodiscard]] bool done() const noexcept;  // every queue reached its packet limit
    [[nodiscard]] uint16_t queues() const noexcept { return static_cast<uint16_t>(queues_.size()); }

private:
    struct PeerEpoch {
        uint64_t epoch = 0;
        uint32_t counter = 0;
        uint32_t index = 0;  // the receiver index of `epoch`
    };
    struct alignas(64) Queue {
        std::vector<uint32_t> peers;
        std::vector<PeerEpoch> epochs;  // encrypted: by position in `peers`
        size_t next_peer = 0;
        uint32_t flow = 0;
        size_t size_slot = 0;
        uint64_t sequence = 0;
        uint64_t start_tsc = 0;
        double per_tsc = 0;       // packets per TSC cycle; 0: unlimited
        uint64_t limit = UINT64_MAX;
        std::atomic<uint64_t> generated{0};
        std::atomic<uint64_t> bytes{0};  // frames as written
        std::atomic<uint64_t> cycles{0};
        std::atomic<uint64_t> stalls{0};
    };
    bool write_inner(Queue& q, uint16_t qid, rte_mbuf* m) noexcept;
    bool write_encrypted(Queue& q, rte_mbuf* m) noexcept;

    GeneratorConfig cfg_;
    std::vector<std::unique_ptr<Queue>> queues_;
};

// ---- sink ------------------------------------------------------------------

class Sink {
public:
    // check_order: each generator stream carries one peer's packets, so a
    // probe whose sequence number is below one already seen from its stream
    // was reordered on the way (counted by out_of_order()).
    Sink(uint16_t queues, bool latency, bool check_order = false);
    void consume(uint16_t q, rte_mbuf* const* frames, uint16_t n) noexcept;

    [[nodiscard]] uint64_t packets() const noexcept;
    [[nodiscard]] uint64_t bytes() const noexcept;  // inner IP bytes (frame less Ethernet)
    [[nodiscard]] uint64_t probes() const noexcept;
    [[nodiscard]] uint64_t out_of_order() const noexcept;
    [[nodiscard]] uint64_t cycles() const noexcept;
    [[nodiscard]] uint64_t queue_cycles(uint16_t q) const noexcept {
        return queues_[q]->cycles.load(std::memory_order_relaxed);
    }
    // Latency counts (cycles) summed over queues.
    [[nodiscard]] std::vector<uint64_t> latency() const;

private:
    struct alignas(64) Queue {
        std::atomic<uint64_t> packets{0};
        std::atomic<uint64_t> bytes{0};
        std::atomic<uint64_t> probes{0};
        std::atomic<uint64_t> cycles{0};
        std::atomic<uint64_t> out_of_order{0};
        std::array<uint64_t, 64> next_sequence{};  // per stream: highest seen + 1
        LatencyHistogram histogram;
    };
    bool latency_;
    bool check_order_;
    std::vector<std::unique_ptr<Queue>> queues_;
};

// ---- the port wrapper ------------------------------------------------------

class TrafficPort final : public Port {
public:
    // Without a generator, rx_burst gives what the lower port receives when
    // `pass_rx` (rxonly on a real port), else nothing (net_null would hand out
    // empty frames). Without a sink, tx_burst goes straight to the lower port.
    TrafficPort(Port& lower, Generator* generator, Sink* sink, bool pass_rx = false)
        : lower_(lower), generator_(generator), sink_(sink), pass_rx_(pass_rx) {}
    [[nodiscard]] const std::string& name() const noexcept override { return lower_.name(); }
    [[nodiscard]] PortKind kind() const noexcept override { return lower_.kind(); }
    [[nodiscard]] uint16_t queue_count() const noexcept override { return lower_.queue_count(); }
    uint16_t rx_burst(uint16_t q, rte_mbuf** pkts, uint16_t n) noexcept override;
    uint16_t tx_burst(uint16_t q, rte_mbuf** pkts, uint16_t n) noexcept override;
    // The lower port gathers bursts (EthdevPort): the loop's flushes reach it.
    void flush(uint16_t q, bool idle) noexcept override { lower_.flush(q, idle); }
    // The lower port's, except that a generator's frames count with the
    // length it wrote (net_null counted the length it handed out).
    [[nodiscard]] PortStats stats() const noexcept override;

private:
    Port& lower_;
    Generator* generator_;
    Sink* sink_;
    bool pass_rx_;
};

// An inner IPv4/UDP packet of `size` bytes at `ip`: headers (IPv4 checksum
// computed, UDP checksum 0) from `src`:`sport` to `dst` port 9, then the
// probe. The rest of the payload is left as it is. Generators write one per
// packet; decrypt's templates are made of them too.
void write_inner_ipv4(uint8_t* ip, uint16_t size, const uint8_t src[4], const uint8_t dst[4],
                      uint16_t sport, const Probe& probe) noexcept;

// The IPv4 address of host `host` in peer p's /24 on side 0 (A: 10.64.0.0/10
// onwards) or side 1 (B: 10.128.0.0/10 onwards).
void peer_address(uint8_t side, uint32_t peer, uint8_t host, uint8_t out[4]) noexcept;

}  // namespace sluice::perf
