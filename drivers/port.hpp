// The one port interface every driver implements (DESIGN §5): batches of
// mbufs in, batches out, never blocking. A virtual call per burst, not per
// packet, as DPDK's own ethdev calls through function pointers.
//
// Two shapes:
//   l3_udp  — the WAN of the kernel driver: each mbuf is one UDP payload
//             (a WireGuard message) and carries its remote endpoint in the
//             mbuf's endpoint field (drivers/mbuf_endpoint.hpp);
//   l3_tun  — the LAN of the kernel driver: each mbuf is one inner IP packet;
//   l2_ethernet — DPDK and AF_XDP ports: whole Ethernet frames.
//
// Queue q of a port belongs to exactly one lcore; nothing here locks.
#pragma once

#include <cstdint>
#include <string>

struct rte_mbuf;
struct rte_mempool;

namespace sluice {

enum class PortKind : uint8_t { l3_udp, l3_tun, l2_ethernet };

// Per-port counters, summed over queues by the reader.
struct PortStats {
    uint64_t rx_packets = 0;
    uint64_t rx_bytes = 0;
    uint64_t tx_packets = 0;
    uint64_t tx_bytes = 0;
    uint64_t rx_errors = 0;   // the OS or NIC reported a receive error
    uint64_t tx_errors = 0;   // a send failed; the packets were freed and counted here
    uint64_t rx_no_mbuf = 0;  // the mempool ran dry; packets left in the kernel/NIC
};

class Port {
public:
    virtual ~Port() = default;

    [[nodiscard]] virtual const std::string& name() const noexcept = 0;
    [[nodiscard]] virtual PortKind kind() const noexcept = 0;
    [[nodiscard]] virtual uint16_t queue_count() const noexcept = 0;

    // Up to n packets from queue q into pkts; returns how many. Never blocks.
    virtual uint16_t rx_burst(uint16_t q, rte_mbuf** pkts, uint16_t n) noexcept = 0;

    // Sends pkts[0..n) on queue q. Takes ownership of all n: packets it could
    // not send are freed and counted in tx_errors, so the caller never has to
    // decide what to do with a remainder. Returns how many were sent.
    virtual uint16_t tx_burst(uint16_t q, rte_mbuf** pkts, uint16_t n) noexcept = 0;

    // A file descriptor that becomes readable when queue q has packets, for
    // lcores that sleep when idle (epoll); -1 when the port can only be polled.
    [[nodiscard]] virtual int wait_fd(uint16_t q) const noexcept {
        (void)q;
        return -1;
    }

    // Packets the port already holds for queue q (e.g. the rest of a GRO read
    // that did not fit the last burst): an lcore must not sleep on wait_fd
    // while this is true, since the fd will not wake it for them.
    [[nodiscard]] virtual bool rx_pending(uint16_t q) const noexcept {
        (void)q;
        return false;
    }

    // Ports that buffer transmissions into whole bursts (EthdevPort) send
    // what has waited on queue q longer than their drain time, or everything
    // when `idle` (the lcore found nothing to do). The lcore calls it once
    // per loop iteration; ports that send at once need not override it.
    virtual void flush(uint16_t q, bool idle) noexcept {
        (void)q;
        (void)idle;
    }

    // Whole frames for the link, already addressed (L2 ports: Ethernet
    // frames the control thread built: ARP, neighbour discovery, packets that
    // waited for a neighbour). Same ownership rules as tx_burst. Ports
    // without a link layer send them as tx_burst does.
    virtual uint16_t tx_frames(uint16_t q, rte_mbuf** pkts, uint16_t n) noexcept {
        return tx_burst(q, pkts, n);
    }

    [[nodiscard]] virtual PortStats stats() const noexcept = 0;
};

}  // namespace sluice
