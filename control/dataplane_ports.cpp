#include "control/dataplane_ports.hpp"

#include <net/if.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <filesystem>

#include "drivers/af_xdp/xdp_steering.hpp"
#include "drivers/dpdk/ethdev_port.hpp"
#include "drivers/dpdk/l3_over_l2.hpp"
#include "drivers/kernel/tun_port.hpp"
#include "drivers/kernel/udp_port.hpp"

namespace sluice {

namespace {

// "03:00.0" -> "0000:03:00.0", as sysfs names PCI devices.
std::string full_pci_address(const std::string& a) {
    return std::count(a.begin(), a.end(), ':') == 1 ? "0000:" + a : a;
}

// The kernel driver a PCI device is bound to ("vfio-pci", "ixgbe"), "" if none.
std::string pci_driver(const std::string& address) {
    std::error_code ec;
    const auto link = std::filesystem::read_symlink(
        "/sys/bus/pci/devices/" + full_pci_address(address) + "/driver", ec);
    return ec ? std::string() : link.filename().string();
}

// The kernel interface of a PCI device bound to a kernel driver, "" if none.
std::string pci_netdev(const std::string& address) {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(
             "/sys/bus/pci/devices/" + full_pci_address(address) + "/net", ec))
        return e.path().filename().string();
    return {};
}

bool is_dpdk_driver(const std::string& driver) {
    return driver == "vfio-pci" || driver == "uio_pci_generic" || driver == "igb_uio";
}

frame::UdpLocal udp_local(const EthdevPort& dev, const PortConfig& port, uint16_t listen_port) {
    frame::UdpLocal local;
    local.mac = dev.mac();
    local.port = listen_port;
    for (const IpPrefix& p : port.addresses) {
        if (p.family == IpFamily::v4 && !local.has_v4) {
            std::memcpy(local.v4, p.addr.data(), 4);
            local.has_v4 = true;
        } else if (p.family == IpFamily::v6 && !local.has_v6) {
            std::memcpy(local.v6, p.addr.data(), 16);
            local.has_v6 = true;
        }
    }
    return local;
}

std::string mac_text(const rte_ether_addr& a) {
    char buf[RTE_ETHER_ADDR_FMT_SIZE];
    rte_ether_format_addr(buf, sizeof buf, &a);
    return buf;
}

}  // namespace

DataplanePorts::~DataplanePorts() { close(); }

void DataplanePorts::close() {
    // Adapters before the devices under them, devices before their pools.
    wan_framed_.reset();
    lan_framed_.reset();
    wan_dev_.reset();
    lan_dev_.reset();
    xdp_.reset();
    udp_.reset();
    tun_.reset();
    if (pool_ != nullptr) rte_mempool_free(pool_);
    if (lan_pool_ != nullptr) rte_mempool_free(lan_pool_);
    pool_ = lan_pool_ = nullptr;
    wan_ = lan_ = nullptr;
}

std::unique_ptr<DataplanePorts> DataplanePorts::open(const Config& config,
                                                     const DataplaneContext& context,
                                                     std::string* error) {
    std::unique_ptr<DataplanePorts> ports(new DataplanePorts());
    ports->listen_port_ = config.interface.listen_port;
    ports->mtu_ = config.interface.mtu;
    const DataplaneConfig& dp = config.dataplane;
    std::string err;
    switch (dp.driver) {
        case Driver::kernel:
            ports->why_ = "configured";
            if (!ports->open_kernel(config, context, error)) return nullptr;
            return ports;
        case Driver::dpdk:
            ports->why_ = "configured";
            if (!ports->open_ethdev(config, context, false, error)) return nullptr;
            return ports;
        case Driver::af_xdp:
            ports->why_ = "configured";
            if (!ports->open_ethdev(config, context, true, error)) return nullptr;
            return ports;
        case Driver::automatic:
            break;
    }
    // auto: dpdk, af_xdp, kernel; each reason kept.
    if (!dp.wan) {
        ports->why_ = "auto: no wan port configured, so the kernel driver";
        if (!ports->open_kernel(config, context, error)) return nullptr;
        return ports;
    }
    std::vector<std::string> reasons;
    const std::string& device = dp.wan->device;
    std::string netdev;  // the kernel interface af_xdp would run on
    switch (dp.wan->device_kind) {
        case DeviceKind::vdev:
            if (ports->open_ethdev(config, context, false, &err)) {
                ports->why_ = "auto: " + device + " is a DPDK virtual device";
                return ports;
            }
            reasons.push_back("dpdk: " + err);
            ports->close();
            break;
        case DeviceKind::pci: {
            const std::string bound = pci_driver(device);
            if (is_dpdk_driver(bound)) {
                if (ports->open_ethdev(config, context, false, &err)) {
                    ports->why_ = "auto: " + device + " is bound to " + bound;
                    return ports;
                }
                reasons.push_back("dpdk: " + err);
                ports->close();
            } else {
                reasons.push_back("dpdk: " + device +
                                  (bound.empty() ? std::string(" is absent or bound to no driver")
                                                 : " is bound to " + bound + ", not a DPDK driver"));
                netdev = pci_netdev(device);
            }
            break;
        }
        case DeviceKind::kernel_interface:
            reasons.push_back("dpdk: " + device + " is a kernel interface");
            netdev = device;
            break;
    }
    if (netdev.empty()) {
        reasons.push_back("af_xdp: no kernel interface");
    } else if (if_nametoindex(netdev.c_str()) == 0) {
        reasons.push_back("af_xdp: no interface " + netdev);
    } else {
        Config xdp_config = config;
        xdp_config.dataplane.wan->device = netdev;
        xdp_config.dataplane.wan->device_kind = DeviceKind::kernel_interface;
        if (ports->open_ethdev(xdp_config, context, true, &err)) {
            reasons.push_back("af_xdp on " + netdev);
            ports->why_ = "auto: " + reasons.front();
            for (size_t i = 1; i < reasons.size(); ++i) ports->why_ += "; " + reasons[i];
            return ports;
        }
        reasons.push_back("af_xdp: " + err);
        ports->close();
    }
    std::string why = "auto: ";
    for (const auto& r : reasons) why += r + "; ";
    ports->why_ = why + "so the kernel driver";
    if (!ports->open_kernel(config, context, error)) return nullptr;
    return ports;
}

bool DataplanePorts::make_pool(const std::string& name, uint32_t size, uint16_t mtu,
                               rte_mempool** pool, std::string* error) {
    static unsigned serial = 0;
    const std::string unique = "sluiced_" + name + std::to_string(serial++);
    const auto data_room = static_cast<uint16_t>(RTE_PKTMBUF_HEADROOM +
                                                 std::max<uint32_t>(2048, mtu + 128u));
    *pool = rte_pktmbuf_pool_create(unique.c_str(), size, 256, 0, data_room,
                                    static_cast<int>(rte_socket_id()));
    if (*pool == nullptr) {
        if (error)
            *error = "cannot create the mbuf pool for " + name + " (" + std::to_string(size) +
                     " mbufs: " + rte_strerror(rte_errno) + ")";
        return false;
    }
    return true;
}

bool DataplanePorts::open_kernel(const Config& config, const DataplaneContext& context,
                                 std::string* error) {
    driver_ = "kernel";
    if (!make_pool("pool", config_defaults::kMempoolSize, config.interface.mtu, &pool_, error))
        return false;
    UdpPortConfig udp;
    udp.name = "wan";
    udp.listen_port = config.interface.listen_port;
    udp.queues = context.lcores;
    udp.pool = pool_;
    udp_ = UdpPort::create(udp, error);
    if (!udp_) return false;
    listen_port_ = udp_->local_port();
    wan_device_ = udp_->describe();
    wan_ = udp_.get();
    return open_tun(config, context, error);
}

// The LAN as a TUN device named after the interface: the kernel driver's,
// and the DPDK/AF_XDP drivers' when no lan port is configured.
bool DataplanePorts::open_tun(const Config& config, const DataplaneContext& context,
                              std::string* error) {
    TunPortConfig tun;
    tun.name = config.interface.name;
    tun.queues = context.lcores;
    tun.mtu = config.interface.mtu;
    tun.addresses = config.interface.addresses;
    tun.pool = pool_;
    tun_ = TunPort::create(tun, error);
    if (!tun_) return false;
    lan_device_ = config.interface.name;
    lan_ = tun_.get();
    return true;
}

bool DataplanePorts::open_ethdev(const Config& config, const DataplaneContext& context,
                                 bool af_xdp, std::string* error) {
    driver_ = af_xdp ? "af_xdp" : "dpdk";
    const DataplaneConfig& dp = config.dataplane;
    if (!dp.wan) {
        if (error) *error = "no wan port configured";
        return false;
    }
    if (dp.wan->addresses.empty()) {
        if (error)
            *error = "the wan port " + dp.wan->device +
                     " has no addresses: sluice answers ARP/ND on them and sends from them";
        return false;
    }
    std::string devargs = dp.wan->device;
    if (af_xdp) {
        XdpSteeringConfig xc;
        xc.ifname = dp.wan->device;
        xc.udp_port = config.interface.listen_port;
        for (const IpPrefix& p : dp.wan->addresses) xc.addresses.push_back(p.address());
        xc.queues = context.lcores;
        xdp_ = XdpSteering::attach(xc, error);
        if (!xdp_) return false;
        devargs = xdp_->devargs(0);
    }
    if (!make_pool("wan", dp.wan->mempool_size, config.interface.mtu, &pool_, error)) return false;
    EthdevPortOptions o;
    o.queues = context.lcores;
    o.rx_descriptors = static_cast<uint16_t>(dp.wan->rx_ring_size);
    o.tx_descriptors = static_cast<uint16_t>(dp.wan->tx_ring_size);
    o.pool = pool_;
    wan_dev_ = EthdevPort::open(devargs, o, error);
    if (!wan_dev_) return false;
    wan_device_ = dp.wan->device;
    auto wan_link = context.l2->make_link("wan", context.lcores, *dp.wan, 0, context.control_wake_fd, error);
    if (!wan_link) return false;
    // Checksums the device offers (its notes say which) are left to it.
    const frame::TxChecksum tx_checksum{wan_dev_->offers_tx_ipv4_cksum(),
                                        wan_dev_->offers_tx_udp_cksum()};
    wan_framed_ = std::make_unique<UdpOverEthernet>(
        *wan_dev_, "wan", udp_local(*wan_dev_, *dp.wan, config.interface.listen_port),
        rte_ether_addr{}, std::move(wan_link), tx_checksum);
    context.l2->attach("wan", *wan_framed_, Command::Target::wan, dp.wan->neighbours);
    wan_ = wan_framed_.get();

    if (!dp.lan) return open_tun(config, context, error);
    if (dp.lan->addresses.empty()) {
        if (error) *error = "the lan port " + dp.lan->device + " has no addresses";
        return false;
    }
    if (!make_pool("lan", dp.lan->mempool_size, config.interface.mtu, &lan_pool_, error)) return false;
    o.rx_descriptors = static_cast<uint16_t>(dp.lan->rx_ring_size);
    o.tx_descriptors = static_cast<uint16_t>(dp.lan->tx_ring_size);
    o.pool = lan_pool_;
    lan_dev_ = EthdevPort::open(dp.lan->device, o, error);
    if (!lan_dev_) return false;
    lan_device_ = dp.lan->device;
    auto lan_link = context.l2->make_link("lan", context.lcores, *dp.lan, config.interface.mtu,
                                          context.control_wake_fd, error);
    if (!lan_link) return false;
    lan_framed_ = std::make_unique<IpOverEthernet>(*lan_dev_, "lan", lan_dev_->mac(),
                                                   rte_ether_addr{}, std::move(lan_link));
    context.l2->attach("lan", *lan_framed_, Command::Target::lan, dp.lan->neighbours);
    lan_ = lan_framed_.get();
    return true;
}

std::vector<ctl::PortInfo> DataplanePorts::describe() const {
    std::vector<ctl::PortInfo> out;
    const auto add = [&](const Port& port, uint16_t id, const std::string& device) {
        ctl::PortInfo info;
        info.port_id = id;
        info.name = port.name();
        info.device = device;
        info.rx_queues = port.queue_count();
        info.tx_queues = port.queue_count();
        info.link_up = true;
        info.why = id == 0 ? why_ : std::string();
        const EthdevPort* dev = nullptr;
        if (&port == wan_framed_.get()) dev = wan_dev_.get();
        if (&port == lan_framed_.get()) dev = lan_dev_.get();
        if (dev != nullptr) {
            const EthdevInfo i = dev->info();
            info.driver = i.driver;
            info.link_up = i.link_up;
            info.speed_mbps = i.speed_mbps;
            info.mtu = i.mtu;
            info.notes = "mac " + mac_text(dev->mac());
            if (!dev->notes().empty()) info.notes += "; " + dev->notes();
            for (const auto& [name, value] : i.xstats) {
                if (info.xstats.size() == ctl::kMaxXstats) break;
                info.xstats.push_back(ctl::Xstat{name, value});
            }
        } else if (&port == udp_.get()) {
            info.driver = "kernel-udp";
        } else {
            info.driver = "tun";
            info.mtu = mtu_;
        }
        out.push_back(std::move(info));
    };
    if (wan_ != nullptr) add(*wan_, 0, wan_device_);
    if (lan_ != nullptr) add(*lan_, 1, lan_device_);
    return out;
}

std::vector<std::pair<std::string, uint64_t>> DataplanePorts::framing_counts() const {
    std::vector<std::pair<std::string, uint64_t>> out;
    for (const FramedPort* f : {wan_framed_.get(), lan_framed_.get()}) {
        if (f == nullptr) continue;
        const FrameDropCounts d = f->drops();
        for (size_t i = 1; i < d.size(); ++i)
            if (d[i] != 0)
                out.emplace_back(f->name() + "_" + frame::to_string(static_cast<frame::FrameDrop>(i)), d[i]);
        const L2Counters c = f->l2_counters();
        const std::pair<const char*, uint64_t> l2[] = {
            {"arp_replies_sent", c.arp_replies},      {"nd_adverts_sent", c.nd_adverts},
            {"echo_replies_sent", c.echo_replies},    {"time_exceeded_sent", c.time_exceeded_sent},
            {"too_big_sent", c.too_big_sent},         {"punted_to_control", c.punted_learn + c.punted_await},
            {"punt_ring_full", c.punt_full}};
        for (const auto& [name, value] : l2)
            if (value != 0) out.emplace_back(f->name() + "_" + name, value);
    }
    return out;
}

std::vector<std::string> DataplanePorts::summary() const {
    std::vector<std::string> out;
    for (const ctl::PortInfo& p : describe())
        out.push_back(p.name + ": " + p.driver + " on " + p.device + ", " +
                      std::to_string(p.rx_queues) + " queue(s)" +
                      (p.notes.empty() ? std::string() : ", " + p.notes));
    return out;
}

}  // namespace sluice
