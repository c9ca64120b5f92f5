// Which driver sluiced runs, and the two ports the lcores get from it
// (DESIGN §5). `auto` tries, in order, and keeps the reason each earlier
// choice was not possible (the log and `sluicectl show ports` print it):
//   dpdk    the wan device is a DPDK vdev, or a PCI address bound to a DPDK
//           driver (vfio-pci, uio_pci_generic, igb_uio) — and it opens;
//   af_xdp  the wan device is a kernel interface (or a PCI device's kernel
//           interface) and sluice's XDP program attaches to it;
//   kernel  a UDP socket on listen_port and a TUN device: always possible.
// A configured driver is tried alone: a failure stops start-up.
//
// Shapes built per driver (the lcore loop takes L3 shapes only):
//   kernel  wan UdpPort, lan TunPort;
//   dpdk    wan UdpOverEthernet on an EthdevPort, lan IpOverEthernet on an
//           EthdevPort (or a TunPort when no lan port is configured), both in
//           L2 mode (control/l2_control.hpp resolves their neighbours);
//   af_xdp  as dpdk, the wan EthdevPort being net_af_xdp on the interface.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "control/config.hpp"
#include "control/ctl_protocol.hpp"
#include "control/l2_control.hpp"
#include "drivers/port.hpp"

struct rte_mempool;

namespace sluice {

class EthdevPort;
class FramedPort;
class UdpPort;
class TunPort;
class XdpSteering;

// Start-up facts the ports need.
struct DataplaneContext {
    uint16_t lcores = 1;
    int control_wake_fd = -1;  // the control thread's eventfd (punted frames)
    L2Control* l2 = nullptr;   // makes the L2 links; owned by the caller
};

class DataplanePorts {
public:
    // Opens the ports of the chosen driver; null with `error` (one line, the
    // reasons of every choice tried) when none could start.
    static std::unique_ptr<DataplanePorts> open(const Config& config, const DataplaneContext& context,
                                                std::string* error);
    ~DataplanePorts();
    DataplanePorts(const DataplanePorts&) = delete;
    DataplanePorts& operator=(const DataplanePorts&) = delete;

    [[nodiscard]] Port* wan() const noexcept { return wan_; }
    [[nodiscard]] Port* lan() const noexcept { return lan_; }
    [[nodiscard]] rte_mempool* pool() const noexcept { return pool_; }
    [[nodiscard]] const std::string& driver() const noexcept { return driver_; }
    [[nodiscard]] const std::string& why() const noexcept { return why_; }
    [[nodiscard]] uint16_t listen_port() const noexcept { return listen_port_; }
    // For `sluicectl show ports` (control thread; reads device counters).
    [[nodiscard]] std::vector<ctl::PortInfo> describe() const;
    // What the L2 framing dropped or did, summed over queues, one
    // ("wan_frame_ttl_expired", n) per non-zero figure (sluicectl show drops).
    [[nodiscard]] std::vector<std::pair<std::string, uint64_t>> framing_counts() const;
    // One line per port for the log.
    [[nodiscard]] std::vector<std::string> summary() const;

private:
    DataplanePorts() = default;
    bool open_kernel(const Config& config, const DataplaneContext& context, std::string* error);
    bool open_tun(const Config& config, const DataplaneContext& context, std::string* error);
    bool open_ethdev(const Config& config, const DataplaneContext& context, bool af_xdp,
                     std::string* error);
    bool make_pool(const std::string& name, uint32_t size, uint16_t mtu, rte_mempool** pool,
                   std::string* error);
    void close();

    std::string driver_;
    std::string why_;
    uint16_t listen_port_ = 0;
    Port* wan_ = nullptr;
    Port* lan_ = nullptr;
    rte_mempool* pool_ = nullptr;      // the wan's (control-made packets come from it)
    rte_mempool* lan_pool_ = nullptr;  // a separate pool for a DPDK lan port
    std::string wan_device_;
    std::string lan_device_;
    uint16_t mtu_ = 0;
    std::unique_ptr<UdpPort> udp_;
    std::unique_ptr<TunPort> tun_;
    std::unique_ptr<XdpSteering> xdp_;
    std::unique_ptr<EthdevPort> wan_dev_;
    std::unique_ptr<EthdevPort> lan_dev_;
    std::unique_ptr<FramedPort> wan_framed_;
    std::unique_ptr<FramedPort> lan_framed_;
};

}  // namespace sluice
