#include "drivers/dpdk/l3_over_l2.hpp"

#include <rte_mbuf.h>
#include <rte_ring.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "drivers/dpdk/l2_frames.hpp"
#include "drivers/mbuf_endpoint.hpp"

namespace sluice {

using frame::FrameDrop;

namespace {

constexpr uint8_t kIcmpV6 = 58;

bool is_group(const uint8_t* mac) noexcept { return (mac[0] & 1) != 0; }

// Whether the IP packet at ip (ethertype `type`) says UDP: a peek at its
// protocol / next-header byte, the headers are parse_udp's to check.
bool is_udp(const uint8_t* ip, uint32_t room, uint16_t type) noexcept {
    if (type == frame::kEtherIpv4) return room >= frame::kIpv4Len && ip[9] == 17;
    return room >= frame::kIpv6Len && ip[6] == 17;
}

}  // namespace

// ---- FramedPort: counters and the receive loop ------------------------------------------

FramedPort::FramedPort(Port& lower, std::string name, const rte_ether_addr& mac,
                       const rte_ether_addr& next_hop, std::unique_ptr<L2Link> l2)
    : mac_(mac), next_hop_(next_hop), lower_(lower), name_(std::move(name)), l2_(std::move(l2)),
      queues_(lower.queue_count()) {
    for (QueueCounters& q : queues_) q.replies.reserve(512);
}

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

L2Counters FramedPort::l2_counters() const noexcept {
    L2Counters sum;
    for (const QueueCounters& q : queues_) {
        sum.arp_replies += q.l2.arp_replies;
        sum.nd_adverts += q.l2.nd_adverts;
        sum.echo_replies += q.l2.echo_replies;
        sum.time_exceeded_sent += q.l2.time_exceeded_sent;
        sum.too_big_sent += q.l2.too_big_sent;
        sum.punted_learn += q.l2.punted_learn;
        sum.punted_await += q.l2.punted_await;
        sum.punt_full += q.l2.punt_full;
    }
    return sum;
}

template <typename Parse>
uint16_t FramedPort::receive(uint16_t q, rte_mbuf** pkts, uint16_t n, Parse parse) noexcept {
    const uint16_t got = lower_.rx_burst(q, pkts, n);
    uint16_t kept = 0;
    for (uint16_t i = 0; i < got; ++i) {
        rte_mbuf* m = pkts[i];
        if (m->nb_segs != 1) {
            count(q, FrameDrop::malformed);
            rte_pktmbuf_free(m);
            continue;
        }
        uint32_t offset = 0;
        uint32_t length = 0;
        const FrameDrop drop =
            parse(rte_pktmbuf_mtod(m, const uint8_t*), rte_pktmbuf_data_len(m), m, &offset, &length);
        if (drop == FrameDrop::count) continue;  // consumed by the L2 stage
        if (drop != FrameDrop::none) {
            count(q, drop);
            rte_pktmbuf_free(m);
            continue;
        }
        rte_pktmbuf_adj(m, static_cast<uint16_t>(offset));
        rte_pktmbuf_trim(m, static_cast<uint16_t>(rte_pktmbuf_data_len(m) - length));
        pkts[kept++] = m;
    }
    if (l2_) finish_burst(q);
    return kept;
}

void FramedPort::finish_burst(uint16_t q) noexcept {
    QueueCounters& c = queues_[q];
    if (!c.replies.empty()) {
        lower_.tx_burst(q, c.replies.data(), static_cast<uint16_t>(c.replies.size()));
        c.replies.clear();
    }
    if (c.punted) {
        c.punted = false;
        const uint64_t one = 1;
        [[maybe_unused]] ssize_t w = write(l2_->control_wake_fd, &one, sizeof one);
    }
}

// ---- L2 mode: addresses and next hops ------------------------------------------------------

const IpPrefix* FramedPort::own_address(uint8_t family, const uint8_t* a) const noexcept {
    for (const IpPrefix& p : l2_->addresses)
        if (static_cast<uint8_t>(p.family) == family &&
            std::memcmp(p.addr.data(), a, family == 6 ? 16 : 4) == 0)
            return &p;
    return nullptr;
}

const IpPrefix* FramedPort::source_for(uint8_t family) const noexcept {
    for (const IpPrefix& p : l2_->addresses)
        if (static_cast<uint8_t>(p.family) == family) return &p;
    return nullptr;
}

std::optional<IpAddress> FramedPort::next_hop_for(uint8_t family, const uint8_t* dst) const noexcept {
    const auto f = static_cast<IpFamily>(family);  // 4 or 6, as IpFamily counts
    for (const IpPrefix& p : l2_->addresses)
        if (p.contains(f, dst)) return IpAddress::of(f, dst);
    const L2Route* best = nullptr;
    for (const L2Route& r : l2_->routes)
        if (r.to.contains(f, dst) &&
            (best == nullptr || r.to.length > best->to.length))
            best = &r;
    if (best != nullptr) return best->via;
    if (l2_->gateway && static_cast<uint8_t>(l2_->gateway->family) == family) return l2_->gateway;
    return std::nullopt;
}

bool FramedPort::punt(uint16_t q, rte_mbuf* m, Punt kind) noexcept {
    mbuf_endpoint(m)->reserved = static_cast<uint8_t>(kind);
    QueueCounters& c = queues_[q];
    if (q >= l2_->punt.size() || rte_ring_sp_enqueue(l2_->punt[q], m) != 0) {
        ++c.l2.punt_full;
        return false;
    }
    c.punted = true;
    ++(kind == Punt::learn ? c.l2.punted_learn : c.l2.punted_await);
    return true;
}

bool FramedPort::l2_address(uint16_t q, rte_mbuf* m, const IpAddress& next_hop) noexcept {
    const auto family = static_cast<uint8_t>(next_hop.family);
    const NeighbourTable* table = l2_->neighbours->table.load(std::memory_order_acquire);
    const NeighbourKey key = NeighbourKey::of(family, next_hop.addr.data());
    if (const rte_ether_addr* mac = table != nullptr ? table->lookup(key) : nullptr) {
        std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), mac->addr_bytes, RTE_ETHER_ADDR_LEN);
        return true;
    }
    MbufEndpoint& ep = *mbuf_endpoint(m);
    ep = MbufEndpoint{};
    ep.family = family;
    std::memcpy(ep.addr, next_hop.addr.data(), family == 6 ? 16 : 4);
    if (!punt(q, m, Punt::await_neighbour)) {
        count(q, FrameDrop::no_neighbour);
        rte_pktmbuf_free(m);
    }
    return false;
}

// ---- L2 mode: receive ---------------------------------------------------------------------------

void FramedPort::answer_arp(uint16_t q, rte_mbuf* m) noexcept {
    const auto* p = rte_pktmbuf_mtod(m, const uint8_t*);
    l2::ArpInfo arp;
    if (!l2::parse_arp(p, rte_pktmbuf_data_len(m), &arp)) {
        count(q, FrameDrop::malformed);
        rte_pktmbuf_free(m);
        return;
    }
    if (std::memcmp(arp.sender_mac.addr_bytes, mac_.addr_bytes, RTE_ETHER_ADDR_LEN) == 0) {
        rte_pktmbuf_free(m);  // our own request, seen again on a shared segment
        return;
    }
    if (arp.op == l2::kArpRequest && own_address(4, arp.target_ip) != nullptr) {
        if (rte_mbuf* r = rte_pktmbuf_alloc(m->pool)) {
            auto* out = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(r, l2::kMinFrameLen));
            const uint32_t len =
                l2::write_arp(out, l2::kArpReply, mac_, arp.target_ip, arp.sender_mac, arp.sender_ip);
            rte_pktmbuf_trim(r, static_cast<uint16_t>(l2::kMinFrameLen - len));
            ++queues_[q].l2.arp_replies;
            reply(q, r);
        }
    }
    if (!punt(q, m, Punt::learn)) rte_pktmbuf_free(m);
}

bool FramedPort::answer_nd(uint16_t q, rte_mbuf* m, uint32_t l3_len) noexcept {
    const auto* p = rte_pktmbuf_mtod(m, const uint8_t*);
    l2::NdInfo nd;
    if (!l2::parse_nd(p, static_cast<uint32_t>(frame::kEthernetLen + l3_len), &nd)) return false;
    if (std::memcmp(nd.eth_src.addr_bytes, mac_.addr_bytes, RTE_ETHER_ADDR_LEN) == 0) {
        rte_pktmbuf_free(m);
        return true;
    }
    if (nd.type == l2::kNdSolicit && own_address(6, nd.target) != nullptr) {
        static const uint8_t kAllNodes[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
        const bool dad = std::all_of(nd.ip_src, nd.ip_src + 16, [](uint8_t b) { return b == 0; });
        if (rte_mbuf* r = rte_pktmbuf_alloc(m->pool)) {
            auto* out = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(r, l2::kNdFrameLen));
            if (dad) {  // someone tests the address we hold: tell every node
                static const rte_ether_addr kAllNodesMac = {{0x33, 0x33, 0, 0, 0, 1}};
                l2::write_nd_advert(out, mac_, nd.target, kAllNodesMac, kAllNodes, false);
            } else {
                const rte_ether_addr& to = nd.has_lladdr ? nd.lladdr : nd.eth_src;
                l2::write_nd_advert(out, mac_, nd.target, to, nd.ip_src, true);
            }
            ++queues_[q].l2.nd_adverts;
            reply(q, r);
        }
    }
    if (!punt(q, m, Punt::learn)) rte_pktmbuf_free(m);
    return true;
}

void FramedPort::send_icmp_error(uint16_t q, rte_mbuf* m, uint8_t family, uint8_t kind,
                                 uint32_t quote) noexcept {
    const auto* p = rte_pktmbuf_mtod(m, const uint8_t*);
    const IpPrefix* src = source_for(family);
    if (src == nullptr || !l2::should_send_icmp_error(p + frame::kEthernetLen, quote)) {
        rte_pktmbuf_free(m);
        return;
    }
    rte_ether_addr to;
    std::memcpy(to.addr_bytes, p + 6, RTE_ETHER_ADDR_LEN);  // back the way it came
    const size_t headers = l2::icmp_error_headers_len(family);
    const uint32_t kept = std::min<uint32_t>(quote, static_cast<uint32_t>(l2::icmp_error_quote_max(family)));
    // The quoted packet stays where it is; the headers go in front of it.
    auto* frame = reinterpret_cast<uint8_t*>(
        rte_pktmbuf_prepend(m, static_cast<uint16_t>(headers - frame::kEthernetLen)));
    if (frame == nullptr) {
        count(q, FrameDrop::no_headroom);
        rte_pktmbuf_free(m);
        return;
    }
    const auto err = static_cast<l2::IcmpError>(kind);
    const uint32_t len = l2::write_icmp_error(frame, family, err, l2_->tunnel_mtu, mac_,
                                              src->addr.data(), to, kept);
    rte_pktmbuf_trim(m, static_cast<uint16_t>(rte_pktmbuf_data_len(m) - len));
    ++(err == l2::IcmpError::time_exceeded ? queues_[q].l2.time_exceeded_sent
                                           : queues_[q].l2.too_big_sent);
    reply(q, m);
}

FramedPort::L2Verdict FramedPort::l2_receive(uint16_t q, rte_mbuf* m, bool lan,
                                             uint32_t* ip_len) noexcept {
    auto* p = rte_pktmbuf_mtod(m, uint8_t*);
    const uint32_t len = rte_pktmbuf_data_len(m);
    if (len < frame::kEthernetLen) return L2Verdict::pass;  // the parser counts it
    const bool group = is_group(p);
    if (!group && std::memcmp(p, mac_.addr_bytes, RTE_ETHER_ADDR_LEN) != 0) return L2Verdict::pass;
    const uint16_t type = frame::load_be16(p + 12);
    if (type == l2::kEtherArp) {
        answer_arp(q, m);
        return L2Verdict::consumed;
    }
    if (type != frame::kEtherIpv4 && type != frame::kEtherIpv6) return L2Verdict::pass;
    // The WAN's fast path: tunnel traffic (UDP to our MAC) goes straight to
    // parse_udp, which checks the headers once.
    if (!lan && !group && is_udp(p + frame::kEthernetLen, len - frame::kEthernetLen, type))
        return L2Verdict::pass;

    l2::IpView ip;
    if (!l2::parse_ip_header(p + frame::kEthernetLen, len - frame::kEthernetLen, &ip) ||
        ip.family != (type == frame::kEtherIpv4 ? 4 : 6))
        return L2Verdict::pass;
    if (ip.family == 6 && ip.protocol == kIcmpV6 && ip.total_len >= 41) {
        const uint8_t icmp_type = p[frame::kEthernetLen + 40];
        if (icmp_type == l2::kNdSolicit || icmp_type == l2::kNdAdvert) {
            if (!answer_nd(q, m, ip.total_len)) {
                count(q, FrameDrop::malformed);
                rte_pktmbuf_free(m);
            }
            return L2Verdict::consumed;
        }
    }
    if (own_address(ip.family, ip.dst) != nullptr) {
        if (!group && l2::is_echo_request(p + frame::kEthernetLen, ip.total_len)) {
            rte_pktmbuf_trim(m, static_cast<uint16_t>(len - frame::kEthernetLen - ip.total_len));
            l2::echo_reply_in_place(p, frame::kEthernetLen + ip.total_len);
            ++queues_[q].l2.echo_replies;
            reply(q, m);
            return L2Verdict::consumed;
        }
        if (!lan && ip.protocol == 17) return L2Verdict::pass;  // UDP to us: the tunnel's parser
        count(q, FrameDrop::not_forwarded);
        rte_pktmbuf_free(m);
        return L2Verdict::consumed;
    }
    if (!lan) return L2Verdict::pass;  // the WAN forwards nothing: the parser says not_for_us
    if (group) {
        count(q, FrameDrop::not_forwarded);
        rte_pktmbuf_free(m);
        return L2Verdict::consumed;
    }
    // Forwarding into the tunnel: TTL, then the tunnel's MTU.
    if (!l2::decrement_ttl(p + frame::kEthernetLen, ip.total_len)) {
        count(q, FrameDrop::ttl_expired);
        send_icmp_error(q, m, ip.family, static_cast<uint8_t>(l2::IcmpError::time_exceeded),
                        ip.total_len);
        return L2Verdict::consumed;
    }
    if (l2_->tunnel_mtu != 0 && ip.total_len > l2_->tunnel_mtu) {
        count(q, FrameDrop::too_big);
        if (ip.dont_fragment) {
            send_icmp_error(q, m, ip.family, static_cast<uint8_t>(l2::IcmpError::too_big),
                            ip.total_len);
        } else {
            rte_pktmbuf_free(m);  // sluice does not fragment
        }
        return L2Verdict::consumed;
    }
    *ip_len = ip.total_len;  // checked here: parse_ip need not look again
    return L2Verdict::deliver;
}

// ---- UdpOverEthernet ---------------------------------------------------------------------------

uint16_t UdpOverEthernet::rx_burst(uint16_t q, rte_mbuf** pkts, uint16_t n) noexcept {
    return receive(q, pkts, n,
                   [this, q](const uint8_t* p, uint32_t len, rte_mbuf* m, uint32_t* off, uint32_t* l) {
                       uint32_t ip_len = 0;
                       if (l2() != nullptr && l2_receive(q, m, false, &ip_len) == L2Verdict::consumed)
                           return FrameDrop::count;
                       return frame::parse_udp(p, len, local_, mbuf_endpoint(m), off, l);
                   });
}

uint16_t UdpOverEthernet::tx_burst(uint16_t q, rte_mbuf** pkts, uint16_t n) noexcept {
    uint16_t kept = 0;
    for (uint16_t i = 0; i < n; ++i) {
        rte_mbuf* m = pkts[i];
        const MbufEndpoint to = *mbuf_endpoint(m);
        const size_t hlen = frame::udp_headers_len(to, local_);
        std::optional<IpAddress> hop;
        if (hlen != 0 && l2() != nullptr) hop = next_hop_for(to.family, to.addr);
        if (hlen == 0 || (l2() != nullptr && !hop)) {
            count(q, FrameDrop::no_route);
            rte_pktmbuf_free(m);
            continue;
        }
        if (to.family == 6 && m->nb_segs != 1 && !tx_checksum_.udp) {
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
        frame::write_udp_headers(h, local_, next_hop_, to, payload, tx_checksum_);
        // The device's part of the checksums, if any; nothing left over from
        // the mbuf's last trip (received, or sent by another path).
        uint64_t flags = 0;
        if (to.family == 4) {
            if (tx_checksum_.ipv4_header) flags |= RTE_MBUF_F_TX_IP_CKSUM;
            if (tx_checksum_.udp) flags |= RTE_MBUF_F_TX_UDP_CKSUM;
            if (flags != 0) flags |= RTE_MBUF_F_TX_IPV4;
        } else if (tx_checksum_.udp) {
            flags = RTE_MBUF_F_TX_IPV6 | RTE_MBUF_F_TX_UDP_CKSUM;
        }
        m->ol_flags = (m->ol_flags & ~RTE_MBUF_F_TX_OFFLOAD_MASK) | flags;
        if (flags != 0) {
            m->l2_len = frame::kEthernetLen;
            m->l3_len = to.family == 4 ? frame::kIpv4Len : frame::kIpv6Len;
            m->l4_len = frame::kUdpLen;  // not asked for by the API; some PMDs read it
        }
        if (hop && !l2_address(q, m, *hop)) continue;
        pkts[kept++] = m;
    }
    if (l2() != nullptr) finish_burst(q);  // wakes control for what was punted
    return kept == 0 ? 0 : lower().tx_burst(q, pkts, kept);
}

// ---- IpOverEthernet ------------------------------------------------------------------------------

uint16_t IpOverEthernet::rx_burst(uint16_t q, rte_mbuf** pkts, uint16_t n) noexcept {
    return receive(q, pkts, n,
                   [this, q](const uint8_t* p, uint32_t len, rte_mbuf* m, uint32_t* off, uint32_t* l) {
                       uint32_t ip_len = 0;
                       switch (l2() != nullptr ? l2_receive(q, m, true, &ip_len) : L2Verdict::pass) {
                           case L2Verdict::consumed:
                               return FrameDrop::count;
                           case L2Verdict::deliver:
                               *off = static_cast<uint32_t>(frame::kEthernetLen);
                               *l = ip_len;
                               return FrameDrop::none;
                           case L2Verdict::pass:
                               break;
                       }
                       return frame::parse_ip(p, len, mac_, off, l);
                   });
}

uint16_t IpOverEthernet::tx_burst(uint16_t q, rte_mbuf** pkts, uint16_t n) noexcept {
    uint16_t kept = 0;
    for (uint16_t i = 0; i < n; ++i) {
        rte_mbuf* m = pkts[i];
        const uint32_t len = rte_pktmbuf_data_len(m);
        auto* ip = rte_pktmbuf_mtod(m, uint8_t*);
        const uint8_t version = len > 0 ? ip[0] >> 4 : 0;
        std::optional<IpAddress> hop;
        if (l2() != nullptr) {
            // Forwarding out of the tunnel: TTL first (no ICMP back into the tunnel).
            if (!l2::decrement_ttl(ip, len)) {
                count(q, FrameDrop::ttl_expired);
                rte_pktmbuf_free(m);
                continue;
            }
            const uint8_t family = version == 6 ? 6 : 4;
            hop = next_hop_for(family, ip + (family == 6 ? 24 : 16));
            if (!hop) {
                count(q, FrameDrop::no_route);
                rte_pktmbuf_free(m);
                continue;
            }
        }
        auto* h = reinterpret_cast<uint8_t*>(
            rte_pktmbuf_prepend(m, static_cast<uint16_t>(frame::kEthernetLen)));
        if (h == nullptr) {
            count(q, FrameDrop::no_headroom);
            rte_pktmbuf_free(m);
            continue;
        }
        frame::write_ethernet(h, mac_, next_hop_,
                              version == 6 ? frame::kEtherIpv6 : frame::kEtherIpv4);
        if (hop && !l2_address(q, m, *hop)) continue;
        pkts[kept++] = m;
    }
    if (l2() != nullptr) finish_burst(q);
    return kept == 0 ? 0 : lower().tx_burst(q, pkts, kept);
}

}  // namespace sluice
