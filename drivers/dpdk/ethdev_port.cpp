#include "drivers/dpdk/ethdev_port.hpp"

#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <cerrno>

namespace sluice {

namespace {

std::string dpdk_error(int code) { return rte_strerror(code < 0 ? -code : code); }

}  // namespace

std::unique_ptr<EthdevPort> EthdevPort::open(const std::string& devargs,
                                             const EthdevPortOptions& options,
                                             std::string* error) {
    const std::string name = devargs.substr(0, devargs.find(','));
    if (name.empty()) {
        *error = "port '" + devargs + "': empty device name";
        return nullptr;
    }
    std::unique_ptr<EthdevPort> port(new EthdevPort);
    const int rc = rte_dev_probe(devargs.c_str());
    if (rc != 0 && rc != -EEXIST) {
        *error = "port '" + devargs + "': cannot probe the device (" + dpdk_error(rc) +
                 "; a vdev name starts with its driver, e.g. net_null0 or net_af_packet0,iface=eth0)";
        return nullptr;
    }
    if (rc == 0) port->probed_devargs_ = devargs;
    uint16_t id = 0;
    if (rte_eth_dev_get_port_by_name(name.c_str(), &id) != 0) {
        // Probed, but not an ethdev (or the name is not the port's name).
        if (rc == 0) rte_eal_hotplug_remove("vdev", name.c_str());
        *error = "port '" + devargs + "': no ethdev port named '" + name + "'";
        return nullptr;
    }
    port->port_id_ = id;
    port->name_ = name;
    if (!port->start(options, error)) return nullptr;
    return port;
}

std::unique_ptr<EthdevPort> EthdevPort::attach(uint16_t port_id, const EthdevPortOptions& options,
                                               std::string* error) {
    if (!rte_eth_dev_is_valid_port(port_id)) {
        *error = "port " + std::to_string(port_id) + ": no such ethdev port";
        return nullptr;
    }
    std::unique_ptr<EthdevPort> port(new EthdevPort);
    port->port_id_ = port_id;
    char name[RTE_ETH_NAME_MAX_LEN] = "";
    rte_eth_dev_get_name_by_port(port_id, name);
    port->name_ = name;
    if (!port->start(options, error)) return nullptr;
    return port;
}

bool EthdevPort::start(const EthdevPortOptions& options, std::string* error) {
    const std::string what = "port '" + name_ + "': ";
    if (options.pool == nullptr || options.queues == 0) {
        *error = what + "needs a mempool and at least one queue";
        return false;
    }
    rte_eth_dev_info info{};
    if (const int rc = rte_eth_dev_info_get(port_id_, &info); rc != 0) {
        *error = what + "cannot read device info (" + dpdk_error(rc) + ")";
        return false;
    }
    driver_ = info.driver_name != nullptr ? info.driver_name : "";
    if (options.queues > info.max_rx_queues || options.queues > info.max_tx_queues) {
        *error = what + std::to_string(options.queues) + " queue pairs asked for, the device has " +
                 std::to_string(std::min(info.max_rx_queues, info.max_tx_queues));
        return false;
    }
    queues_ = options.queues;
    drops_.assign(queues_, QueueDrops{});
    rte_eth_conf conf{};
    if (const int rc = rte_eth_dev_configure(port_id_, queues_, queues_, &conf); rc != 0) {
        *error = what + "cannot configure " + std::to_string(queues_) + " queue pairs (" +
                 dpdk_error(rc) + ")";
        return false;
    }
    uint16_t rx_desc = options.rx_descriptors;
    uint16_t tx_desc = options.tx_descriptors;
    rte_eth_dev_adjust_nb_rx_tx_desc(port_id_, &rx_desc, &tx_desc);
    const int socket = rte_eth_dev_socket_id(port_id_);
    const auto socket_id = static_cast<unsigned>(socket < 0 ? 0 : socket);
    for (uint16_t q = 0; q < queues_; ++q) {
        int rc = rte_eth_rx_queue_setup(port_id_, q, rx_desc, socket_id, nullptr, options.pool);
        if (rc == 0) rc = rte_eth_tx_queue_setup(port_id_, q, tx_desc, socket_id, nullptr);
        if (rc != 0) {
            *error = what + "cannot set up queue " + std::to_string(q) + " (" + dpdk_error(rc) + ")";
            return false;
        }
    }
    if (const int rc = rte_eth_dev_start(port_id_); rc != 0) {
        *error = what + "cannot start (" + dpdk_error(rc) + ")";
        return false;
    }
    started_ = true;
    if (options.promiscuous) rte_eth_promiscuous_enable(port_id_);  // some vdevs refuse: fine
    rte_eth_macaddr_get(port_id_, &mac_);
    rte_eth_stats_reset(port_id_);
    return true;
}

EthdevPort::~EthdevPort() {
    if (started_) rte_eth_dev_stop(port_id_);
    if (rte_eth_dev_is_valid_port(port_id_) && (started_ || !probed_devargs_.empty()))
        rte_eth_dev_close(port_id_);
    if (!probed_devargs_.empty()) {
        const std::string name = probed_devargs_.substr(0, probed_devargs_.find(','));
        // A vdev goes back through the vdev bus; a PCI device stays bound.
        rte_eal_hotplug_remove("vdev", name.c_str());
    }
}

uint16_t EthdevPort::rx_burst(uint16_t q, rte_mbuf** pkts, uint16_t n) noexcept {
    const uint16_t got = rte_eth_rx_burst(port_id_, q, pkts, n);
    uint64_t bytes = 0;
    for (uint16_t i = 0; i < got; ++i) bytes += rte_pktmbuf_pkt_len(pkts[i]);
    drops_[q].rx_bytes += bytes;
    return got;
}

uint16_t EthdevPort::tx_burst(uint16_t q, rte_mbuf** pkts, uint16_t n) noexcept {
    uint64_t bytes = 0;
    for (uint16_t i = 0; i < n; ++i) bytes += rte_pktmbuf_pkt_len(pkts[i]);
    uint16_t sent = 0;
    // A full descriptor ring drains within a few tries; after that the rest
    // is dropped rather than the lcore waiting on the device.
    for (int tries = 0; sent < n && tries < 4; ++tries)
        sent += rte_eth_tx_burst(port_id_, q, pkts + sent, static_cast<uint16_t>(n - sent));
    if (sent < n) {
        for (uint16_t i = sent; i < n; ++i) bytes -= rte_pktmbuf_pkt_len(pkts[i]);
        drops_[q].tx_dropped += n - sent;
        rte_pktmbuf_free_bulk(pkts + sent, n - sent);
    }
    drops_[q].tx_bytes += bytes;
    return sent;
}

PortStats EthdevPort::stats() const noexcept {
    PortStats s;
    rte_eth_stats e{};
    if (rte_eth_stats_get(port_id_, &e) == 0) {
        s.rx_packets = e.ipackets;
        s.rx_bytes = e.ibytes;
        s.tx_packets = e.opackets;
        s.tx_bytes = e.obytes;
        s.rx_errors = e.ierrors + e.imissed;
        s.tx_errors = e.oerrors;
        s.rx_no_mbuf = e.rx_nombuf;
    }
    uint64_t rx_bytes = 0;
    uint64_t tx_bytes = 0;
    for (const QueueDrops& d : drops_) {
        s.tx_errors += d.tx_dropped;
        rx_bytes += d.rx_bytes;
        tx_bytes += d.tx_bytes;
    }
    if (s.rx_bytes == 0) s.rx_bytes = rx_bytes;
    if (s.tx_bytes == 0) s.tx_bytes = tx_bytes;
    return s;
}

}  // namespace sluice
