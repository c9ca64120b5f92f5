// The lcore loop's two L3 port shapes (drivers/port.hpp) on top of an
// Ethernet port: the L2 gateway mode of DESIGN §5.
//
//   UdpOverEthernet (l3_udp, the WAN): receive strips Ethernet/IP/UDP from
//     frames for the gateway's address and port and records the sender as
//     the mbuf's endpoint; send prepends them, addressed to the endpoint.
//   IpOverEthernet (l3_tun, the LAN): receive strips the Ethernet header of
//     IPv4/IPv6 frames for our MAC; send prepends one.
//
// Two ways to find the next hop's MAC:
//   static   one next-hop MAC for everything (sluice-perf: the port at the
//            other end of its ring pair);
//   L2 mode  (L2Link given) sluice is a small router on the link. Receive,
//            per frame, before the tunnel sees it:
//              1. ARP / neighbour discovery: a request for one of our
//                 addresses is answered here; every ARP/ND frame is punted
//                 (ring to the control thread) to learn from;
//              2. IP to one of our addresses: echo requests answered here,
//                 the rest dropped (not_forwarded);
//              3. LAN only, forwarding: TTL / hop limit checked and
//                 decremented (ICMP time exceeded at the end), size checked
//                 against the tunnel MTU (ICMP fragmentation needed / packet
//                 too big);
//            send: the next hop is the destination when on-link, else the
//            WAN's gateway or a LAN static route; its MAC comes from the
//            table the control thread publishes (drivers/dpdk/neighbour_table.hpp).
//            A miss punts the whole frame, next hop in its endpoint field,
//            to the control thread, which resolves the neighbour, queues a
//            few frames meanwhile and sends them when it can.
//            Tunnel -> LAN packets have their TTL decremented too.
//
// Each queue is used by its one lcore; the frame drop and L2 counters are per
// queue and summed by the reader (plain loads, a recent value).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dataplane/ip_prefix.hpp"
#include "drivers/dpdk/frame.hpp"
#include "drivers/dpdk/neighbour_table.hpp"
#include "drivers/port.hpp"

struct rte_ring;

namespace sluice {

using FrameDropCounts = std::array<uint64_t, frame::kFrameDropCount>;

// What a punted frame is, in its MbufEndpoint::reserved byte.
enum class Punt : uint8_t {
    learn = 1,            // an ARP / ND frame as received
    await_neighbour = 2,  // a frame to send once the next hop (the endpoint's address) resolves
};

// A LAN destination behind another router.
struct L2Route {
    IpPrefix to;  // masked
    IpAddress via;
};

// The link as sluice owns it in L2 mode. Set up before the lcores start and
// never changed while they run, except the neighbour table (published).
struct L2Link {
    std::vector<IpPrefix> addresses;    // ours; host bits are the address
    std::optional<IpAddress> gateway;   // off-link next hop (the WAN)
    std::vector<L2Route> routes;        // static routes (the LAN)
    uint16_t tunnel_mtu = 0;            // LAN: inner packets above it get ICMP too big; 0: no check
    NeighbourShared* neighbours = nullptr;  // control: publishes; lcores: load
    std::vector<rte_ring*> punt;        // per queue: that queue's lcore enqueues, control dequeues
    int control_wake_fd = -1;           // written once per burst that punted something
};

// Per-queue L2 work, summed by the reader.
struct L2Counters {
    uint64_t arp_replies = 0;
    uint64_t nd_adverts = 0;
    uint64_t echo_replies = 0;
    uint64_t time_exceeded_sent = 0;
    uint64_t too_big_sent = 0;
    uint64_t punted_learn = 0;
    uint64_t punted_await = 0;
    uint64_t punt_full = 0;  // dropped: the ring to control was full
};

// What both adapters share: the lower port and the drop counters.
class FramedPort : public Port {
public:
    // `l2`: L2 mode (see above); null: every frame goes to `next_hop`.
    FramedPort(Port& lower, std::string name, const rte_ether_addr& mac,
               const rte_ether_addr& next_hop, std::unique_ptr<L2Link> l2);
    [[nodiscard]] const std::string& name() const noexcept override { return name_; }
    [[nodiscard]] uint16_t queue_count() const noexcept override { return lower_.queue_count(); }
    [[nodiscard]] int wait_fd(uint16_t q) const noexcept override { return lower_.wait_fd(q); }
    [[nodiscard]] bool rx_pending(uint16_t q) const noexcept override {
        return lower_.rx_pending(q);
    }
    // The lower port's figures; frames dropped here count as rx_errors and
    // tx_errors on top of the device's.
    [[nodiscard]] PortStats stats() const noexcept override;
    // Summed over queues; index by FrameDrop.
    [[nodiscard]] FrameDropCounts drops() const noexcept;
    [[nodiscard]] L2Counters l2_counters() const noexcept;
    [[nodiscard]] Port& lower() const noexcept { return lower_; }
    [[nodiscard]] const L2Link* l2() const noexcept { return l2_.get(); }
    [[nodiscard]] const rte_ether_addr& mac() const noexcept { return mac_; }
    // L2 mode: which of our addresses `a` (family 4 or 6) is, or null.
    [[nodiscard]] const IpPrefix* own_address(uint8_t family, const uint8_t* a) const noexcept;
    void flush(uint16_t q, bool idle) noexcept override { lower_.flush(q, idle); }
    uint16_t tx_frames(uint16_t q, rte_mbuf** pkts, uint16_t n) noexcept override {
        return lower_.tx_burst(q, pkts, n);
    }

protected:
    void count(uint16_t q, frame::FrameDrop drop) noexcept {
        ++queues_[q].drops[static_cast<size_t>(drop)];
    }
    // rx_burst of both adapters: the lower port's frames, each cut down to
    // what `parse(data, len, mbuf, &offset, &length)` finds in it, or freed
    // and counted under the reason it gives.
    template <typename Parse>
    uint16_t receive(uint16_t q, rte_mbuf** pkts, uint16_t n, Parse parse) noexcept;

    // L2 mode, receive: ARP, ND and pings for our addresses; `lan`:
    // forwarding checks too. consumed: answered, punted or dropped here;
    // deliver (LAN): an IP packet of *ip_len bytes after the Ethernet header,
    // checked; pass: the adapter's own parser decides (and counts).
    enum class L2Verdict : uint8_t { pass, consumed, deliver };
    L2Verdict l2_receive(uint16_t q, rte_mbuf* m, bool lan, uint32_t* ip_len) noexcept;
    // L2 mode, send: the frame at m (Ethernet header written but for the
    // destination MAC) goes to `next_hop`: its MAC from the table, or punted.
    // False: the frame was consumed (punted or dropped).
    bool l2_address(uint16_t q, rte_mbuf* m, const IpAddress& next_hop) noexcept;
    // The next hop for a destination: itself on-link, else a route or the gateway.
    [[nodiscard]] std::optional<IpAddress> next_hop_for(uint8_t family, const uint8_t* dst) const noexcept;
    // After an rx or tx burst: send the replies made, wake control (one
    // eventfd write per burst) if anything was punted.
    void finish_burst(uint16_t q) noexcept;

    const rte_ether_addr mac_;
    const rte_ether_addr next_hop_;

private:
    struct alignas(64) QueueCounters {
        FrameDropCounts drops{};
        L2Counters l2{};
        std::vector<rte_mbuf*> replies;  // made during one rx burst
        bool punted = false;
    };
    bool punt(uint16_t q, rte_mbuf* m, Punt kind) noexcept;
    void reply(uint16_t q, rte_mbuf* m) noexcept { queues_[q].replies.push_back(m); }
    [[nodiscard]] const IpPrefix* source_for(uint8_t family) const noexcept;
    void answer_arp(uint16_t q, rte_mbuf* m) noexcept;  // always consumes m
    bool answer_nd(uint16_t q, rte_mbuf* m, uint32_t l3_len) noexcept;
    void send_icmp_error(uint16_t q, rte_mbuf* m, uint8_t family, uint8_t kind, uint32_t quote) noexcept;

    Port& lower_;
    std::string name_;
    std::unique_ptr<L2Link> l2_;
    std::vector<QueueCounters> queues_;
};

// Send, checksums: what `tx_checksum` says the lower port computes is left
// to it (frame::write_udp_headers), and each frame asks for it in its mbuf
// (l2_len, l3_len, l4_len; RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM and/or
// RTE_MBUF_F_TX_UDP_CKSUM, or RTE_MBUF_F_TX_IPV6 | RTE_MBUF_F_TX_UDP_CKSUM);
// every other TX offload flag an mbuf carries from an earlier use is
// cleared. Without UDP offload an IPv6 packet in more than one segment is
// dropped (chained): its checksum is summed here over one buffer.
class UdpOverEthernet final : public FramedPort {
public:
    UdpOverEthernet(Port& lower, std::string name, const frame::UdpLocal& local,
                    const rte_ether_addr& next_hop, std::unique_ptr<L2Link> l2 = nullptr,
                    frame::TxChecksum tx_checksum = {})
        : FramedPort(lower, std::move(name), local.mac, next_hop, std::move(l2)), local_(local),
          tx_checksum_(tx_checksum) {}
    [[nodiscard]] PortKind kind() const noexcept override { return PortKind::l3_udp; }
    uint16_t rx_burst(uint16_t q, rte_mbuf** pkts, uint16_t n) noexcept override;
    uint16_t tx_burst(uint16_t q, rte_mbuf** pkts, uint16_t n) noexcept override;
    [[nodiscard]] const frame::UdpLocal& local() const noexcept { return local_; }
    [[nodiscard]] frame::TxChecksum tx_checksum() const noexcept { return tx_checksum_; }

private:
    frame::UdpLocal local_;
    frame::TxChecksum tx_checksum_;
};

class IpOverEthernet final : public FramedPort {
public:
    IpOverEthernet(Port& lower, std::string name, const rte_ether_addr& mac,
                   const rte_ether_addr& next_hop, std::unique_ptr<L2Link> l2 = nullptr)
        : FramedPort(lower, std::move(name), mac, next_hop, std::move(l2)) {}
    [[nodiscard]] PortKind kind() const noexcept override { return PortKind::l3_tun; }
    uint16_t rx_burst(uint16_t q, rte_mbuf** pkts, uint16_t n) noexcept override;
    uint16_t tx_burst(uint16_t q, rte_mbuf** pkts, uint16_t n) noexcept override;
};

}  // namespace sluice
