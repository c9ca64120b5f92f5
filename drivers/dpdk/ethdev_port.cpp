#include "drivers/dpdk/ethdev_port.hpp"

#include <rte_cycles.h>
#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <cerrno>
#include <set>
#include <string_view>

namespace sluice {

namespace {

std::string dpdk_error(int code) { return rte_strerror(code < 0 ? -code : code); }

bool starts_with(std::string_view s, std::string_view prefix) {
    return s.substr(0, prefix.size()) == prefix;
}

// Whether the comma-separated arguments after the device name give `key`.
bool has_devarg(std::string_view devargs, std::string_view key) {
    size_t at = devargs.find(',');
    while (at != std::string_view::npos) {
        const size_t next = devargs.find(',', at + 1);
        const std::string_view arg = devargs.substr(
            at + 1, next == std::string_view::npos ? std::string_view::npos : next - at - 1);
        if (arg.substr(0, arg.find('=')) == key) return true;
        at = next;
    }
    return false;
}

// Which driver a vdev name belongs to: the name starts with it (its alias
// eth_af_packet included).
bool is_af_packet(std::string_view name) {
    return starts_with(name, "net_af_packet") || starts_with(name, "eth_af_packet");
}
bool is_af_xdp(std::string_view name) {
    return starts_with(name, "net_af_xdp");
}

// Names that travel to sluicectl: printable, no spaces (the text output
// separates them with spaces).
std::string printable_name(const char* name) {
    std::string out(name);
    for (char& c : out)
        if (c <= 0x20 || c >= 0x7f) c = '_';
    return out;
}

}  // namespace

std::string EthdevPort::with_queue_devargs(const std::string& devargs, uint16_t queues) {
    if (queues <= 1) return devargs;
    const std::string_view name = std::string_view(devargs).substr(0, devargs.find(','));
    const char* key = is_af_packet(name) ? "qpairs" : is_af_xdp(name) ? "queue_count" : nullptr;
    if (key == nullptr || has_devarg(devargs, key)) return devargs;
    return devargs + "," + key + "=" + std::to_string(queues);
}

std::unique_ptr<EthdevPort> EthdevPort::open(const std::string& devargs,
                                             const EthdevPortOptions& options,
                                             std::string* error) {
    const std::string name = devargs.substr(0, devargs.find(','));
    if (name.empty()) {
        *error = "port '" + devargs + "': empty device name";
        return nullptr;
    }
    const std::string probe = with_queue_devargs(devargs, options.queues);
    std::unique_ptr<EthdevPort> port(new EthdevPort);
    const int rc = rte_dev_probe(probe.c_str());
    if (rc != 0 && rc != -EEXIST) {
        // -1 is the driver's own refusal (an absent interface, file or PCI
        // device: DPDK's log says which); other codes mean no driver took it.
        *error = rc == -1 ? "port '" + probe +
                                "': the driver refused the device (is its interface, file or "
                                "PCI device there? DPDK's log line above says why)"
                          : "port '" + probe + "': cannot probe the device (" + dpdk_error(rc) +
                                "; a vdev name starts with its driver, e.g. net_null0 or "
                                "net_af_packet0,iface=eth0)";
        return nullptr;
    }
    if (rc == 0) port->probed_devargs_ = probe;
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
    if (options.tx_buffer > kMaxTxBuffer) {
        *error = what + "a TX buffer of " + std::to_string(options.tx_buffer) +
                 " packets asked for, at most " + std::to_string(kMaxTxBuffer);
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
    tx_buffer_ = options.tx_buffer > 1 ? options.tx_buffer : 0;
    tx_drain_cycles_ = static_cast<uint64_t>(static_cast<double>(rte_get_tsc_hz()) *
                                             static_cast<double>(options.tx_drain_us) / 1e6);
    queue_.assign(queues_, Queue{});
    const int socket = rte_eth_dev_socket_id(port_id_);
    const auto socket_id = static_cast<unsigned>(socket < 0 ? 0 : socket);
    if (tx_buffer_ > 0) {
        // Each queue's slots start on a cache line of their own, so two
        // lcores never write one line.
        const size_t per_line = RTE_CACHE_LINE_SIZE / sizeof(rte_mbuf*);
        const size_t stride = (tx_buffer_ + per_line - 1) / per_line * per_line;
        tx_slots_ = rte_zmalloc_socket("ethdev_tx_buffer", stride * queues_ * sizeof(rte_mbuf*),
                                       RTE_CACHE_LINE_SIZE, static_cast<int>(socket_id));
        if (tx_slots_ == nullptr) {
            *error = what + "no memory for the TX buffers";
            return false;
        }
        for (uint16_t q = 0; q < queues_; ++q)
            queue_[q].tx_buf = static_cast<rte_mbuf**>(tx_slots_) + stride * q;
    }

    std::vector<std::string> notes;
    rte_eth_conf conf{};
    if (queues_ > 1) {
        const std::string n = std::to_string(queues_);
        const uint64_t hash = (RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP) & info.flow_type_rss_offloads;
        if (hash != 0) {
            conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
            conf.rx_adv_conf.rss_conf.rss_key = nullptr;  // the driver's default key
            conf.rx_adv_conf.rss_conf.rss_hf = hash;
            rss_ = true;
            notes.push_back("RSS over " + n + " queues on IP addresses and UDP ports");
        } else if (driver_ == "net_af_packet") {
            notes.push_back(
                "no RSS (net_af_packet offers none): the kernel spreads frames over the " + n +
                " queues by its PACKET_FANOUT hash");
        } else if (driver_ == "net_af_xdp") {
            notes.push_back("no RSS (net_af_xdp offers none): the " + n +
                            " queues are the NIC's, spread by the NIC's own RSS (ethtool -X)");
        } else {
            notes.push_back("no RSS (" + driver_ + " offers none): each of the " + n +
                            " queues receives only what the device puts on it");
        }
    }
    tx_ipv4_cksum_ = (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM) != 0;
    tx_udp_cksum_ = (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_UDP_CKSUM) != 0;
    if (tx_ipv4_cksum_) conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_IPV4_CKSUM;
    if (tx_udp_cksum_) conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_UDP_CKSUM;
    notes.push_back(tx_ipv4_cksum_ && tx_udp_cksum_ ? "TX checksum offload: IPv4 and UDP"
                    : tx_ipv4_cksum_                ? "TX checksum offload: IPv4 only"
                    : tx_udp_cksum_                 ? "TX checksum offload: UDP only"
                                                    : "no TX checksum offload");
    notes.push_back(tx_buffer_ > 0
                        ? "TX bursts of " + std::to_string(tx_buffer_) + ", drained after " +
                              std::to_string(options.tx_drain_us) + " us"
                        : std::string("TX sent at once"));
    for (const std::string& n : notes) notes_ += (notes_.empty() ? "" : "; ") + n;

    if (const int rc = rte_eth_dev_configure(port_id_, queues_, queues_, &conf); rc != 0) {
        *error = what + "cannot configure " + std::to_string(queues_) + " queue pairs" +
                 (rss_ ? " with RSS" : "") + " (" + dpdk_error(rc) + ")";
        return false;
    }
    uint16_t rx_desc = options.rx_descriptors;
    uint16_t tx_desc = options.tx_descriptors;
    rte_eth_dev_adjust_nb_rx_tx_desc(port_id_, &rx_desc, &tx_desc);
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
    rte_eth_xstats_reset(port_id_);
    return true;
}

EthdevPort::~EthdevPort() {
    // The lcores have stopped: what they left buffered is never sent.
    for (Queue& q : queue_)
        if (q.tx_count > 0) rte_pktmbuf_free_bulk(q.tx_buf, q.tx_count);
    rte_free(tx_slots_);
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
    queue_[q].rx_bytes += bytes;
    return got;
}

uint16_t EthdevPort::send(uint16_t q, rte_mbuf** pkts, uint16_t n) noexcept {
    // Lengths first: once the device has a packet, it may be gone (a ring's
    // reader frees it on another lcore).
    uint64_t bytes = 0;
    for (uint16_t i = 0; i < n; ++i) bytes += rte_pktmbuf_pkt_len(pkts[i]);
    uint16_t sent = 0;
    // A full descriptor ring drains within a few tries; after that the rest
    // is dropped rather than the lcore waiting on the device.
    for (int tries = 0; sent < n && tries < 4; ++tries)
        sent += rte_eth_tx_burst(port_id_, q, pkts + sent, static_cast<uint16_t>(n - sent));
    Queue& s = queue_[q];
    if (sent < n) {
        for (uint16_t i = sent; i < n; ++i) bytes -= rte_pktmbuf_pkt_len(pkts[i]);
        s.tx_dropped += n - sent;
        rte_pktmbuf_free_bulk(pkts + sent, n - sent);
    }
    s.tx_bytes += bytes;
    return sent;
}

uint16_t EthdevPort::send_buffered(uint16_t q) noexcept {
    Queue& s = queue_[q];
    const uint16_t n = s.tx_count;
    s.tx_count = 0;
    return send(q, s.tx_buf, n);
}

uint16_t EthdevPort::tx_burst(uint16_t q, rte_mbuf** pkts, uint16_t n) noexcept {
    if (tx_buffer_ == 0) return send(q, pkts, n);
    Queue& s = queue_[q];
    uint16_t sent = 0;
    while (n > 0) {
        // A burst at least as large as the buffer, with nothing waiting
        // before it, goes as it is: no copy.
        if (s.tx_count == 0 && n >= tx_buffer_)
            return static_cast<uint16_t>(sent + send(q, pkts, n));
        if (s.tx_count == 0) s.tx_oldest = rte_rdtsc();
        const uint16_t take = std::min<uint16_t>(n, static_cast<uint16_t>(tx_buffer_ - s.tx_count));
        std::copy(pkts, pkts + take, s.tx_buf + s.tx_count);
        s.tx_count = static_cast<uint16_t>(s.tx_count + take);
        pkts += take;
        n = static_cast<uint16_t>(n - take);
        if (s.tx_count == tx_buffer_) sent = static_cast<uint16_t>(sent + send_buffered(q));
    }
    return sent;
}

void EthdevPort::flush(uint16_t q, bool idle) noexcept {
    Queue& s = queue_[q];
    if (s.tx_count == 0) return;
    if (idle || rte_rdtsc() - s.tx_oldest >= tx_drain_cycles_) send_buffered(q);
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
    for (const Queue& d : queue_) {
        s.tx_errors += d.tx_dropped;
        rx_bytes += d.rx_bytes;
        tx_bytes += d.tx_bytes;
    }
    if (s.rx_bytes == 0) s.rx_bytes = rx_bytes;
    if (s.tx_bytes == 0) s.tx_bytes = tx_bytes;
    return s;
}

EthdevInfo EthdevPort::info() const {
    EthdevInfo out;
    out.driver = driver_;
    rte_eth_link link{};
    if (rte_eth_link_get_nowait(port_id_, &link) == 0) {
        out.link_up = link.link_status == RTE_ETH_LINK_UP;
        out.speed_mbps = link.link_speed == RTE_ETH_SPEED_NUM_UNKNOWN ? 0 : link.link_speed;
    }
    uint16_t mtu = 0;
    if (rte_eth_dev_get_mtu(port_id_, &mtu) == 0) out.mtu = mtu;
    const int count = rte_eth_xstats_get_names(port_id_, nullptr, 0);
    if (count <= 0) return out;
    std::vector<rte_eth_xstat_name> names(static_cast<size_t>(count));
    std::vector<rte_eth_xstat> values(static_cast<size_t>(count));
    const int named =
        rte_eth_xstats_get_names(port_id_, names.data(), static_cast<unsigned>(count));
    const int got = rte_eth_xstats_get(port_id_, values.data(), static_cast<unsigned>(count));
    // Either call may see a different count if the device changed in
    // between (a queue added): use what both agree on.
    if (named <= 0 || got <= 0 || got > count) return out;
    std::set<std::string> seen;
    for (int i = 0; i < got; ++i) {
        const rte_eth_xstat& x = values[static_cast<size_t>(i)];
        if (x.value == 0 || x.id >= static_cast<uint64_t>(std::min(named, count))) continue;
        names[x.id].name[RTE_ETH_XSTATS_NAME_SIZE - 1] = '\0';
        std::string name = printable_name(names[x.id].name);
        if (name.empty() || !seen.insert(name).second) continue;
        out.xstats.emplace_back(std::move(name), x.value);
    }
    return out;
}

}  // namespace sluice
