// A DPDK ethdev port (DESIGN §5): a NIC by PCI address, or a virtual device
// by its vdev string (net_null0, net_ring0, net_af_packet0,iface=veth0, ...),
// behind the one port interface. Whole Ethernet frames (PortKind::l2_ethernet);
// drivers/dpdk/l3_over_l2.hpp gives the lcore loop its L3 shapes on top.
//
// One RX/TX queue pair per lcore; queue q belongs to lcore q and nothing here
// locks. Opening probes the device (hot-plug for a vdev string), configures
// the queues on the caller's mempool and starts the port; destroying stops
// and closes it, and removes a device this object probed.
//
// Receiving: with more than one queue the port asks the device for RSS on
// the IP addresses and UDP ports, where it offers a hash (notes() says what
// spreads frames over the queues otherwise).
//
// Sending: tx_burst gathers packets per queue into bursts of
// EthdevPortOptions::tx_buffer and hands a burst to the device when it is
// full; flush() sends what waited longer than tx_drain_us, or everything when
// the lcore is idle. The buffer is the queue's lcore's alone, like the rest
// of the queue's state.
#pragma once

#include <rte_ether.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "drivers/port.hpp"

namespace sluice {

struct EthdevPortOptions {
    uint16_t queues = 1;
    uint16_t rx_descriptors = 1024;
    uint16_t tx_descriptors = 1024;
    rte_mempool* pool = nullptr;  // receive buffers
    bool promiscuous = true;      // frames for the gateway's own MAC are filtered above
    // Packets per queue gathered into one burst before they go to the device
    // (at most kMaxTxBuffer); 0 or 1: every tx_burst goes to the device at
    // once, and flush() has nothing to do.
    uint16_t tx_buffer = 32;
    // How long a buffered packet may wait for its burst to fill; flush()
    // sends it after that (and at once when the lcore is idle).
    uint32_t tx_drain_us = 100;
};

// What sluicectl show ports says about an ethdev port, read while the lcores
// run (counters only: safe from the control thread).
struct EthdevInfo {
    bool link_up = false;
    uint32_t speed_mbps = 0;  // 0: unknown or no link
    uint16_t mtu = 0;
    std::string driver;  // "net_ixgbe", "net_af_packet", ...
    // The device's extended statistics that are not zero, in the device's
    // order; names are printable ASCII without spaces, each once.
    std::vector<std::pair<std::string, uint64_t>> xstats;
};

class EthdevPort final : public Port {
public:
    static constexpr uint16_t kMaxTxBuffer = 1024;

    // Probes `devargs` ("0000:03:00.0", "net_null0,size=1500", ...) and starts
    // it; null with `error` set to one line naming the device and the reason.
    // A vdev string goes through with_queue_devargs() first.
    static std::unique_ptr<EthdevPort> open(const std::string& devargs,
                                            const EthdevPortOptions& options, std::string* error);
    // Configures and starts a port that already exists (e.g. one made from
    // rings with rte_eth_from_rings); it is closed, not removed, on destruction.
    static std::unique_ptr<EthdevPort> attach(uint16_t port_id, const EthdevPortOptions& options,
                                              std::string* error);
    // `devargs` with the argument that makes a vdev create `queues` queue
    // pairs, where its driver takes one and the string does not already give
    // it: ",qpairs=N" for net_af_packet, ",queue_count=N" for net_af_xdp.
    // Anything else, or one queue (every driver's default), comes back as is.
    static std::string with_queue_devargs(const std::string& devargs, uint16_t queues);

    ~EthdevPort() override;
    EthdevPort(const EthdevPort&) = delete;
    EthdevPort& operator=(const EthdevPort&) = delete;

    [[nodiscard]] const std::string& name() const noexcept override { return name_; }
    [[nodiscard]] PortKind kind() const noexcept override { return PortKind::l2_ethernet; }
    [[nodiscard]] uint16_t queue_count() const noexcept override { return queues_; }
    uint16_t rx_burst(uint16_t q, rte_mbuf** pkts, uint16_t n) noexcept override;
    // Takes all n (Port's rules). Returns how many packets the device took
    // during this call, earlier buffered ones included; packets it keeps in
    // the queue's buffer count when they leave it.
    uint16_t tx_burst(uint16_t q, rte_mbuf** pkts, uint16_t n) noexcept override;
    uint16_t tx_frames(uint16_t q, rte_mbuf** pkts, uint16_t n) noexcept override {
        return tx_burst(q, pkts, n);
    }
    void flush(uint16_t q, bool idle) noexcept override;
    [[nodiscard]] PortStats stats() const noexcept override;

    [[nodiscard]] uint16_t port_id() const noexcept { return port_id_; }
    [[nodiscard]] const rte_ether_addr& mac() const noexcept { return mac_; }
    [[nodiscard]] const std::string& driver() const noexcept { return driver_; }

    // The device computes IPv4 header / UDP checksums for mbufs that ask
    // (RTE_MBUF_F_TX_IP_CKSUM, RTE_MBUF_F_TX_UDP_CKSUM with l2_len/l3_len
    // set); both offloads are enabled on the port when offered.
    [[nodiscard]] bool offers_tx_ipv4_cksum() const noexcept { return tx_ipv4_cksum_; }
    [[nodiscard]] bool offers_tx_udp_cksum() const noexcept { return tx_udp_cksum_; }
    // RSS spreads received frames over the queues (more than one queue and
    // a device that offers an IP or UDP hash).
    [[nodiscard]] bool rss() const noexcept { return rss_; }
    // One line on how the port was set up: RSS or what spreads frames
    // instead, checksum offloads, TX batching. For show ports and the log.
    [[nodiscard]] const std::string& notes() const noexcept { return notes_; }
    // Packets waiting in queue q's TX buffer (the queue's lcore, or tests).
    [[nodiscard]] uint16_t tx_buffered(uint16_t q) const noexcept { return queue_[q].tx_count; }

    // Link, MTU, driver and non-zero xstats; safe from the control thread.
    [[nodiscard]] EthdevInfo info() const;

private:
    EthdevPort() = default;
    bool start(const EthdevPortOptions& options, std::string* error);
    // Hands pkts to the device, a few tries; frees and counts what it did
    // not take. Returns how many it took.
    uint16_t send(uint16_t q, rte_mbuf** pkts, uint16_t n) noexcept;
    uint16_t send_buffered(uint16_t q) noexcept;

    // Per queue, owned by the queue's lcore: the TX buffer, frames the device
    // did not take (freed), and bytes counted here for drivers whose own
    // statistics leave them out (net_null counts packets only). The control
    // thread only reads the counters.
    struct alignas(64) Queue {
        rte_mbuf** tx_buf = nullptr;  // tx_buffer_ slots, cache-line aligned
        uint16_t tx_count = 0;
        uint64_t tx_oldest = 0;  // TSC when the oldest buffered packet came
        uint64_t tx_dropped = 0;
        uint64_t rx_bytes = 0;
        uint64_t tx_bytes = 0;
    };

    std::string name_;
    std::string driver_;
    std::string probed_devargs_;  // non-empty: remove the device on destruction
    std::string notes_;
    uint16_t port_id_ = 0;
    uint16_t queues_ = 0;
    uint16_t tx_buffer_ = 0;  // 0: send at once
    uint64_t tx_drain_cycles_ = 0;
    bool started_ = false;
    bool rss_ = false;
    bool tx_ipv4_cksum_ = false;
    bool tx_udp_cksum_ = false;
    rte_ether_addr mac_{};
    std::vector<Queue> queue_;
    void* tx_slots_ = nullptr;  // rte_zmalloc'ed: every queue's tx_buf
};

}  // namespace sluice
