#include "drivers/dpdk/l3_over_l2.hpp"

#include <rte_mbuf.h>

namespace sluice {

using frame::FrameDrop;

FramedPort::FramedPort(Port& lower, std::string name)
    : lower_(lower), name_(std::move(name)), queues_(lower.queue_count()) {}

PortStats FramedPort::stats() const noexcept {
    PortStats s = lower_.stats();
    const FrameDropCounts d = drops();
    for (size_t i = 0; i < d.size(); ++i) {
        if (frame::is_send_drop(static_cast<FrameDrop>(i))) {
            s.tx_errors += d[i];
        } else {
            s.rx_errors += d[i];
        }
    }
    return s;
}

FrameDropCounts FramedPort::drops() const noexcept {
    FrameDropCounts sum{};
    for (const QueueCounters& q : queues_)
        for (size_t i = 0; i < sum.size(); ++i) sum[i] += q.drops[i];
    return sum;
}

template <typename Parse>
uint16_t FramedPort::receive(uint16_t q, rte_mbuf** pkts, uint16_t n, Parse parse) noexcept {
    const uint16_t got = lower_.rx_burst(q, pkts, n);
    uint16_t kept = 0;
    for (uint16_t i = 0; i < got; ++i) {
        rte_mbuf* m = pkts[i];
        uint32_t offset = 0;
        uint32_t length = 0;
        const FrameDrop drop =
            m->nb_segs != 1 ? FrameDrop::malformed
                            : parse(rte_pktmbuf_mtod(m, const uint8_t*), rte_pktmbuf_data_len(m), m,
                                    &offset, &length);
        if (drop != FrameDrop::none) {
            count(q, drop);
            rte_pktmbuf_free(m);
            continue;
        }
        rte_pktmbuf_adj(m, static_cast<uint16_t>(offset));
        rte_pktmbuf_trim(m, static_cast<uint16_t>(rte_pktmbuf_data_len(m) - length));
        pkts[kept++] = m;
    }
    return kept;
}

uint16_t UdpOverEthernet::rx_burst(uint16_t q, rte_mbuf** pkts, uint16_t n) noexcept {
    return receive(q, pkts, n,
                   [this](const uint8_t* p, uint32_t len, rte_mbuf* m, uint32_t* off, uint32_t* l) {
                       return frame::parse_udp(p, len, local_, mbuf_endpoint(m), off, l);
                   });
}

uint16_t UdpOverEthernet::tx_burst(uint16_t q, rte_mbuf** pkts, uint16_t n) noexcept {
    uint16_t kept = 0;
    for (uint16_t i = 0; i < n; ++i) {
        rte_mbuf* m = pkts[i];
        const MbufEndpoint& to = *mbuf_endpoint(m);
        const size_t hlen = frame::udp_headers_len(to, local_);
        if (hlen == 0) {
            count(q, FrameDrop::no_route);
            rte_pktmbuf_free(m);
            continue;
        }
        if (to.family == 6 && m->nb_segs != 1) {
            // write_udp_headers sums the payload as one buffer.
            count(q, FrameDrop::chained);
            rte_pktmbuf_free(m);
            continue;
        }
        const uint32_t payload = rte_pktmbuf_pkt_len(m);
        auto* h = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, static_cast<uint16_t>(hlen)));
        if (h == nullptr) {
            count(q, FrameDrop::no_headroom);
            rte_pktmbuf_free(m);
            continue;
        }
        frame::write_udp_headers(h, local_, next_hop_, to, payload);
        pkts[kept++] = m;
    }
    return kept == 0 ? 0 : lower().tx_burst(q, pkts, kept);
}

uint16_t IpOverEthernet::rx_burst(uint16_t q, rte_mbuf** pkts, uint16_t n) noexcept {
    return receive(q, pkts, n,
                   [this](const uint8_t* p, uint32_t len, rte_mbuf*, uint32_t* off, uint32_t* l) {
                       return frame::parse_ip(p, len, mac_, off, l);
                   });
}

uint16_t IpOverEthernet::tx_burst(uint16_t q, rte_mbuf** pkts, uint16_t n) noexcept {
    uint16_t kept = 0;
    for (uint16_t i = 0; i < n; ++i) {
        rte_mbuf* m = pkts[i];
        const uint8_t version =
            rte_pktmbuf_data_len(m) > 0 ? rte_pktmbuf_mtod(m, const uint8_t*)[0] >> 4 : 0;
        auto* h = reinterpret_cast<uint8_t*>(
            rte_pktmbuf_prepend(m, static_cast<uint16_t>(frame::kEthernetLen)));
        if (h == nullptr) {
            count(q, FrameDrop::no_headroom);
            rte_pktmbuf_free(m);
            continue;
        }
        frame::write_ethernet(h, mac_, next_hop_,
                              version == 6 ? frame::kEtherIpv6 : frame::kEtherIpv4);
        pkts[kept++] = m;
    }
    return kept == 0 ? 0 : lower().tx_burst(q, pkts, kept);
}

}  // namespace sluice
