#include "perf/perf_traffic.hpp"

#include <rte_cycles.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_memcpy.h>

#include <algorithm>
#include <bit>
#include <cstring>

#include "drivers/dpdk/frame.hpp"
#include "perf/perf_tunnel.hpp"

namespace sluice::perf {

namespace {

constexpr size_t kInnerHeaders = frame::kIpv4Len + frame::kUdpLen;

void store_be16(uint8_t* p, uint16_t v) noexcept {
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
}

// One per-queue counter summed over the queues (relaxed loads).
template <typename Queues, typename Counter>
uint64_t sum_over(const Queues& queues, Counter counter) noexcept {
    uint64_t s = 0;
    for (const auto& q : queues) s += ((*q).*counter).load(std::memory_order_relaxed);
    return s;
}

}  // namespace

void peer_address(uint8_t side, uint32_t peer, uint8_t host, uint8_t out[4]) noexcept {
    out[0] = 10;
    out[1] = static_cast<uint8_t>((side == 0 ? 64 : 128) + peer / 256);
    out[2] = static_cast<uint8_t>(peer % 256);
    out[3] = host;
}

void write_inner_ipv4(uint8_t* ip, uint16_t size, const uint8_t src[4], const uint8_t dst[4],
                      uint16_t sport, const Probe& probe) noexcept {
    ip[0] = 0x45;
    ip[1] = 0;
    store_be16(ip + 2, size);
    store_be16(ip + 4, 0);
    store_be16(ip + 6, 0);
    ip[8] = 64;
    ip[9] = 17;
    store_be16(ip + 10, 0);
    std::memcpy(ip + 12, src, 4);
    std::memcpy(ip + 16, dst, 4);
    const auto sum = static_cast<uint16_t>(~rte_raw_cksum(ip, frame::kIpv4Len));
    std::memcpy(ip + 10, &sum, 2);
    uint8_t* udp = ip + frame::kIpv4Len;
    store_be16(udp, sport);
    store_be16(udp + 2, kProbeUdpPort);
    store_be16(udp + 4, static_cast<uint16_t>(size - frame::kIpv4Len));
    store_be16(udp + 6, 0);
    uint8_t* p = udp + frame::kUdpLen;
    const uint32_t magic = kProbeMagic;
    std::memcpy(p, &magic, 4);
    std::memcpy(p + 4, &probe.stream, 4);
    std::memcpy(p + 8, &probe.sequence, 8);
    std::memcpy(p + 16, &probe.tsc, 8);
}

// ---- latency ---------------------------------------------------------------

unsigned LatencyHistogram::bucket_of(uint64_t v) noexcept {
    if (v < 64) return static_cast<unsigned>(v);
    const unsigned e = 63u - static_cast<unsigned>(std::countl_zero(v));  // >= 6
    const auto sub = static_cast<unsigned>((v >> (e - 5)) & 31u);
    return 64u + (e - 6u) * 32u + sub;
}

uint64_t LatencyHistogram::value_of(unsigned b) noexcept {
    if (b < 64) return b;
    const unsigned e = 6u + (b - 64u) / 32u;
    const uint64_t sub = (b - 64u) % 32u;
    const uint64_t lower = (32u + sub) << (e - 5u);
    return lower + (uint64_t{1} << (e - 5u)) / 2;
}

void LatencyHistogram::record(uint64_t cycles) noexcept {
    bump(counts_[std::min(bucket_of(cycles), kBuckets - 1)], 1);
}

void LatencyHistogram::add_to(std::vector<uint64_t>& into) const noexcept {
    for (unsigned b = 0; b < kBuckets; ++b) into[b] += counts_[b].load(std::memory_order_relaxed);
}

uint64_t LatencyHistogram::percentile(const std::vector<uint64_t>& counts, double p) noexcept {
    uint64_t total = 0;
    for (uint64_t c : counts) total += c;
    if (total == 0) return 0;
    const auto rank = static_cast<uint64_t>(p * static_cast<double>(total - 1));
    uint64_t seen = 0;
    for (unsigned b = 0; b < counts.size(); ++b) {
        seen += counts[b];
        if (seen > rank) return value_of(b);
    }
    return value_of(static_cast<unsigned>(counts.size() - 1));
}

// ---- generator -------------------------------------------------------------

Generator::Generator(GeneratorConfig config) : cfg_(std::move(config)) {
    const size_t n = cfg_.peers.size();
    for (size_t q = 0; q < n; ++q) {
        auto queue = std::make_unique<Queue>();
        queue->peers = cfg_.peers[q];
        queue->epochs.resize(queue->peers.size());
        if (cfg_.kind == GeneratorConfig::Kind::encrypted) {
            for (size_t i = 0; i < queue->peers.size(); ++i)
                queue->epochs[i].index = cfg_.epochs->peers[queue->peers[i]]->index[0].load(
                    std::memory_order_acquire);
        }
        if (cfg_.rate_pps > 0)
            queue->per_tsc = cfg_.rate_pps / static_cast<double>(n) /
                             static_cast<double>(rte_get_tsc_hz());
        if (cfg_.packet_limit > 0)
            queue->limit = cfg_.packet_limit / n + (q < cfg_.packet_limit % n ? 1 : 0);
        queues_.push_back(std::move(queue));
    }
}

uint16_t Generator::budget(uint16_t qid, uint16_t n) noexcept {
    Queue& q = *queues_[qid];
    const uint64_t done = q.generated.load(std::memory_order_relaxed);
    uint64_t allowed = q.limit - done;
    if (q.per_tsc > 0) {
        const uint64_t now = rte_rdtsc();
        if (q.start_tsc == 0) q.start_tsc = now;
        const auto due = static_cast<uint64_t>(static_cast<double>(now - q.start_tsc) * q.per_tsc) + 1;
        allowed = std::min(allowed, due > done ? due - done : 0);
    }
    return static_cast<uint16_t>(std::min<uint64_t>(n, allowed));
}

bool Generator::write_inner(Queue& q, uint16_t qid, rte_mbuf* m) noexcept {
    const uint16_t size = cfg_.size_pattern[q.size_slot];
    if (++q.size_slot == cfg_.size_pattern.size()) q.size_slot = 0;
    if (static_cast<uint32_t>(size) + frame::kEthernetLen > rte_pktmbuf_tailroom(m) + rte_pktmbuf_data_len(m))
        return false;
    auto* f = rte_pktmbuf_mtod(m, uint8_t*);
    frame::write_ethernet(f, cfg_.src_mac, cfg_.dst_mac, frame::kEtherIpv4);
    uint8_t* ip = f + frame::kEthernetLen;
    uint8_t src[4];
    uint8_t dst[4];
    if (cfg_.fixed_addresses) {
        std::memcpy(src, cfg_.fixed_src, 4);
        std::memcpy(dst, cfg_.fixed_dst, 4);
    } else {
        const uint32_t peer = q.peers[q.next_peer];
        if (++q.next_peer == q.peers.size()) q.next_peer = 0;
        peer_address(cfg_.src_side, peer, 1, src);
        peer_address(static_cast<uint8_t>(1 - cfg_.src_side), peer, 2, dst);
    }
    const auto sport = static_cast<uint16_t>(1024 + q.flow);
    if (++q.flow == cfg_.flows) q.flow = 0;
    write_inner_ipv4(ip, size, src, dst, sport, Probe{qid, q.sequence++, rte_rdtsc()});
    m->data_len = static_cast<uint16_t>(frame::kEthernetLen + size);
    m->pkt_len = m->data_len;
    return true;
}

bool Generator::write_encrypted(Queue& q, rte_mbuf* m) noexcept {
    const size_t pos = q.next_peer;
    if (++q.next_peer == q.peers.size()) q.next_peer = 0;
    const uint32_t peer = q.peers[pos];
    PeerEpoch& pe = q.epochs[pos];
    const TemplateSet& t = (*cfg_.templates)[peer];
    if (pe.counter == t.count) {
        // This epoch's counters are used up: on to the next keypair, once the
        // control tick has published it.
        EpochTable::Peer& ep = *cfg_.epochs->peers[peer];
        const uint64_t next = pe.epoch + 1;
        const unsigned slot = static_cast<unsigned>(next % kEpochSlots);
        if (ep.ready[slot].load(std::memory_order_acquire) != next + 1) return false;
        pe.epoch = next;
        pe.counter = 0;
        pe.index = ep.index[slot].load(std::memory_order_relaxed);
        ep.generator_epoch.store(next, std::memory_order_release);
    }
    const uint32_t i = pe.counter++;
    const uint16_t len = t.lengths[i];
    if (len > rte_pktmbuf_tailroom(m) + rte_pktmbuf_data_len(m)) return false;
    auto* f = rte_pktmbuf_mtod(m, uint8_t*);
    rte_memcpy(f, t.bytes.data() + static_cast<size_t>(t.stride) * i, len);
    std::memcpy(f + TemplateSet::kIndexOffset, &pe.index, 4);
    m->data_len = len;
    m->pkt_len = len;
    return true;
}

uint16_t Generator::fill(uint16_t qid, rte_mbuf** mbufs, uint16_t n) noexcept {
    Queue& q = *queues_[qid];
    const uint64_t t0 = rte_rdtsc();
    uint16_t kept = 0;
    uint64_t stalled = 0;
    uint64_t bytes = 0;
    for (uint16_t i = 0; i < n; ++i) {
        rte_mbuf* m = mbufs[i];
        const bool ok = cfg_.kind == GeneratorConfig::Kind::inner ? write_inner(q, qid, m)
                                                                   : write_encrypted(q, m);
        if (ok) {
            bytes += m->data_len;
            mbufs[kept++] = m;
        } else {
            ++stalled;
            rte_pktmbuf_free(m);
        }
    }
    bump(q.generated, kept);
    bump(q.bytes, bytes);
    if (stalled) bump(q.stalls, stalled);
    bump(q.cycles, rte_rdtsc() - t0);
    return kept;
}

uint64_t Generator::generated() const noexcept { return sum_over(queues_, &Queue::generated); }
uint64_t Generator::bytes() const noexcept { return sum_over(queues_, &Queue::bytes); }
uint64_t Generator::cycles() const noexcept { return sum_over(queues_, &Queue::cycles); }
uint64_t Generator::stalls() const noexcept { return sum_over(queues_, &Queue::stalls); }

bool Generator::done() const noexcept {
    for (const auto& q : queues_)
        if (q->generated.load(std::memory_order_relaxed) < q->limit) return false;
    return true;
}

// ---- sink ------------------------------------------------------------------

Sink::Sink(uint16_t queues, bool latency, bool check_order)
    : latency_(latency), check_order_(check_order) {
    for (uint16_t q = 0; q < queues; ++q) queues_.push_back(std::make_unique<Queue>());
}

void Sink::consume(uint16_t qid, rte_mbuf* const* frames, uint16_t n) noexcept {
    Queue& q = *queues_[qid];
    const uint64_t now = rte_rdtsc();
    uint64_t bytes = 0;
    uint64_t probes = 0;
    uint64_t out_of_order = 0;
    for (uint16_t i = 0; i < n; ++i) {
        const rte_mbuf* m = frames[i];
        const uint32_t len = rte_pktmbuf_data_len(m);
        bytes += len > frame::kEthernetLen ? len - frame::kEthernetLen : 0;
        if (!latency_) continue;
        Probe probe;
        if (read_probe(rte_pktmbuf_mtod(m, const uint8_t*), len, &probe) && probe.tsc != 0 &&
            probe.tsc <= now) {
            q.histogram.record(now - probe.tsc);
            ++probes;
            if (check_order_ && probe.stream < q.next_sequence.size()) {
                uint64_t& next = q.next_sequence[probe.stream];
                if (probe.sequence < next) {
                    ++out_of_order;
                } else {
                    next = probe.sequence + 1;
                }
            }
        }
    }
    bump(q.packets, n);
    bump(q.bytes, bytes);
    bump(q.probes, probes);
    bump(q.out_of_order, out_of_order);
    bump(q.cycles, rte_rdtsc() - now);
}

uint64_t Sink::packets() const noexcept { return sum_over(queues_, &Queue::packets); }
uint64_t Sink::bytes() const noexcept { return sum_over(queues_, &Queue::bytes); }
uint64_t Sink::probes() const noexcept { return sum_over(queues_, &Queue::probes); }
uint64_t Sink::out_of_order() const noexcept { return sum_over(queues_, &Queue::out_of_order); }
uint64_t Sink::cycles() const noexcept { return sum_over(queues_, &Queue::cycles); }

std::vector<uint64_t> Sink::latency() const {
    std::vector<uint64_t> counts(LatencyHistogram::kBuckets, 0);
    for (const auto& q : queues_) q->histogram.add_to(counts);
    return counts;
}

// ---- the port wrapper ------------------------------------------------------

uint16_t TrafficPort::rx_burst(uint16_t q, rte_mbuf** pkts, uint16_t n) noexcept {
    if (generator_ == nullptr) return pass_rx_ ? lower_.rx_burst(q, pkts, n) : 0;
    const uint16_t want = generator_->budget(q, n);
    if (want == 0) return 0;
    const uint16_t got = lower_.rx_burst(q, pkts, want);
    return got == 0 ? 0 : generator_->fill(q, pkts, got);
}

PortStats TrafficPort::stats() const noexcept {
    PortStats s = lower_.stats();
    if (generator_ != nullptr) s.rx_bytes = generator_->bytes();
    return s;
}

uint16_t TrafficPort::tx_burst(uint16_t q, rte_mbuf** pkts, uint16_t n) noexcept {
    if (sink_ != nullptr) sink_->consume(q, pkts, n);
    return lower_.tx_burst(q, pkts, n);
}

}  // namespace sluice::perf
