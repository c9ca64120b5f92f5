// The lcore loop's two L3 port shapes (drivers/port.hpp) on top of an
// Ethernet port: the first piece of the L2 gateway mode (DESIGN §5).
//
//   UdpOverEthernet (l3_udp, the WAN): receive strips Ethernet/IP/UDP from
//     frames for the gateway's address and port and records the sender as
//     the mbuf's endpoint; send prepends them, addressed to the endpoint.
//   IpOverEthernet (l3_tun, the LAN): receive strips the Ethernet header of
//     IPv4/IPv6 frames for our MAC; send prepends one.
//
// Frames go to one static next-hop MAC per port. Neighbour resolution
// (ARP/ND), ICMP and TTL handling are the L2 gateway mode's, still to come;
// until then the next hop is configured (sluice-perf sets it to the port at
// the other end of its ring pair).
//
// Each queue is used by its one lcore; the frame drop counters are per queue
// and summed by the reader (plain loads, a recent value).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "drivers/dpdk/frame.hpp"
#include "drivers/port.hpp"

namespace sluice {

using FrameDropCounts = std::array<uint64_t, frame::kFrameDropCount>;

// What both adapters share: the lower port and the drop counters.
class FramedPort : public Port {
public:
    FramedPort(Port& lower, std::string name);
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
    [[nodiscard]] Port& lower() const noexcept { return lower_; }

protected:
    void count(uint16_t q, frame::FrameDrop drop) noexcept {
        ++queues_[q].drops[static_cast<size_t>(drop)];
    }
    // rx_burst of both adapters: the lower port's frames, each cut down to
    // what `parse(data, len, mbuf, &offset, &length)` finds in it, or freed
    // and counted under the reason it gives.
    template <typename Parse>
    uint16_t receive(uint16_t q, rte_mbuf** pkts, uint16_t n, Parse parse) noexcept;

private:
    struct alignas(64) QueueCounters {
        FrameDropCounts drops{};
    };
    Port& lower_;
    std::string name_;
    std::vector<QueueCounters> queues_;
};

class UdpOverEthernet final : public FramedPort {
public:
    UdpOverEthernet(Port& lower, std::string name, const frame::UdpLocal& local,
                    const rte_ether_addr& next_hop)
        : FramedPort(lower, std::move(name)), local_(local), next_hop_(next_hop) {}
    [[nodiscard]] PortKind kind() const noexcept override { return PortKind::l3_udp; }
    uint16_t rx_burst(uint16_t q, rte_mbuf** pkts, uint16_t n) noexcept override;
    uint16_t tx_burst(uint16_t q, rte_mbuf** pkts, uint16_t n) noexcept override;
    [[nodiscard]] const frame::UdpLocal& local() const noexcept { return local_; }

private:
    frame::UdpLocal local_;
    rte_ether_addr next_hop_;
};

class IpOverEthernet final : public FramedPort {
public:
    IpOverEthernet(Port& lower, std::string name, const rte_ether_addr& mac,
                   const rte_ether_addr& next_hop)
        : FramedPort(lower, std::move(name)), mac_(mac), next_hop_(next_hop) {}
    [[nodiscard]] PortKind kind() const noexcept override { return PortKind::l3_tun; }
    uint16_t rx_burst(uint16_t q, rte_mbuf** pkts, uint16_t n) noexcept override;
    uint16_t tx_burst(uint16_t q, rte_mbuf** pkts, uint16_t n) noexcept override;

private:
    rte_ether_addr mac_;
    rte_ether_addr next_hop_;
};

}  // namespace sluice
