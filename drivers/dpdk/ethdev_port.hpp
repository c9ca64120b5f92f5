// A DPDK ethdev port (DESIGN §5): a NIC by PCI address, or a virtual device
// by its vdev string (net_null0, net_ring0, net_af_packet0,iface=veth0, ...),
// behind the one port interface. Whole Ethernet frames (PortKind::l2_ethernet);
// drivers/dpdk/l3_over_l2.hpp gives the lcore loop its L3 shapes on top.
//
// One RX/TX queue pair per lcore; queue q belongs to lcore q and nothing here
// locks. Opening probes the device (hot-plug for a vdev string), configures
// the queues on the caller's mempool and starts the port; destroying stops
// and closes it, and removes a device this object probed.
#pragma once

#include <rte_ether.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "drivers/port.hpp"

namespace sluice {

struct EthdevPortOptions {
    uint16_t queues = 1;
    uint16_t rx_descriptors = 1024;
    uint16_t tx_descriptors = 1024;
    rte_mempool* pool = nullptr;  // receive buffers
    bool promiscuous = true;      // frames for the gateway's own MAC are filtered above
};

class EthdevPort final : public Port {
public:
    // Probes `devargs` ("0000:03:00.0", "net_null0,size=1500", ...) and starts
    // it; null with `error` set to one line naming the device and the reason.
    static std::unique_ptr<EthdevPort> open(const std::string& devargs,
                                            const EthdevPortOptions& options, std::string* error);
    // Configures and starts a port that already exists (e.g. one made from
    // rings with rte_eth_from_rings); it is closed, not removed, on destruction.
    static std::unique_ptr<EthdevPort> attach(uint16_t port_id, const EthdevPortOptions& options,
                                              std::string* error);
    ~EthdevPort() override;
    EthdevPort(const EthdevPort&) = delete;
    EthdevPort& operator=(const EthdevPort&) = delete;

    [[nodiscard]] const std::string& name() const noexcept override { return name_; }
    [[nodiscard]] PortKind kind() const noexcept override { return PortKind::l2_ethernet; }
    [[nodiscard]] uint16_t queue_count() const noexcept override { return queues_; }
    uint16_t rx_burst(uint16_t q, rte_mbuf** pkts, uint16_t n) noexcept override;
    uint16_t tx_burst(uint16_t q, rte_mbuf** pkts, uint16_t n) noexcept override;
    [[nodiscard]] PortStats stats() const noexcept override;

    [[nodiscard]] uint16_t port_id() const noexcept { return port_id_; }
    [[nodiscard]] const rte_ether_addr& mac() const noexcept { return mac_; }
    [[nodiscard]] const std::string& driver() const noexcept { return driver_; }

private:
    EthdevPort() = default;
    bool start(const EthdevPortOptions& options, std::string* error);

    // Per queue, owned by the queue's lcore: frames tx_burst could not hand
    // to the device (freed), and bytes counted here for drivers whose own
    // statistics leave them out (net_null counts packets only).
    struct alignas(64) QueueDrops {
        uint64_t tx_dropped = 0;
        uint64_t rx_bytes = 0;
        uint64_t tx_bytes = 0;
    };

    std::string name_;
    std::string driver_;
    std::string probed_devargs_;  // non-empty: remove the device on destruction
    uint16_t port_id_ = 0;
    uint16_t queues_ = 0;
    bool started_ = false;
    rte_ether_addr mac_{};
    std::vector<QueueDrops> drops_;
};

}  // namespace sluice
