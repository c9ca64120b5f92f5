// The LAN side of the kernel driver (DESIGN §5): a multi-queue TUN device
// (IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE), one non-blocking file descriptor
// per queue and one queue per lcore. Each mbuf holds one inner IP packet with
// no header in front; the pipeline checks the IP header, this port checks
// nothing but the length.
//
// Receive, queue q (sequential, on q's lcore only):
//   1. allocate up to n mbufs from the pool in one bulk call (halving the
//      request while the pool is short);
//   2. read one packet into each mbuf until n packets or EAGAIN (readv, with
//      one spill byte past the mbuf: a packet larger than the mbuf's room,
//      the MTU raised past the pool's data room behind our back, fills it
//      and is dropped into rx_errors);
//   3. free the mbufs left unused in one bulk call; if the pool's shortage
//      left a packet in the kernel, count one rx_no_mbuf (per burst cut
//      short, not per packet: how many wait is not known).
// Transmit, queue q (sequential, on q's lcore only):
//   1. write() each mbuf's data (writev for a chain), one packet per call;
//      a refusal (EAGAIN, EIO while the link is down, EINVAL for a packet
//      that is not IPv4/IPv6) is counted in tx_errors and the burst goes on;
//   2. free all n mbufs in one bulk call.
//   A packet larger than the MTU is not refused: TUN hands it to the stack as
//   if received (the MTU bounds only what the kernel sends into the TUN).
// Nothing blocks; no allocation, no exception, and only the reads and writes
// themselves as system calls (plus one poll() when the mempool runs dry).
//
// The kernel spreads the packets it routes into the TUN over the queues by
// flow hash, so one flow stays on one queue; a packet written to any queue
// enters the kernel's stack the same way.
//
// Device lifetime: a TUN without IFF_PERSIST disappears when the last of its
// queue descriptors closes. With keep_device = false the port clears
// IFF_PERSIST (also on a device it attached to), so the device, with its
// addresses and routes, goes when the port is destroyed or the process dies.
// With keep_device = true it sets IFF_PERSIST: the device stays, down to
// NO-CARRIER but with its MTU and addresses, for the next start to attach to.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/ip_prefix.hpp"
#include "drivers/port.hpp"

namespace sluice {

struct TunPortConfig {
    std::string name;     // the interface name; at most 15 characters (IFNAMSIZ - 1)
    uint16_t queues = 1;  // one per lcore, 1 to 256 (the kernel's MAX_TAP_QUEUES)
    uint32_t mtu = 1420;  // WireGuard's default: 1500 minus the 80 B of outer IPv6/UDP/WG
    // Interface addresses with their prefix length (10.0.0.1/24), which also
    // gives the kernel its route to the subnet through the TUN. An address
    // already on an attached device is replaced, not an error.
    std::vector<IpPrefix> addresses;
    bool keep_device = false;  // IFF_PERSIST: see "Device lifetime" above
    // Receive mbufs come from here; shared by every queue (the pool's
    // per-lcore cache keeps them apart). Its data room must hold the MTU.
    rte_mempool* pool = nullptr;
};

class TunPort final : public Port {
public:
    static constexpr uint16_t kMaxQueues = 256;

    // Creates the device, or attaches to an existing multi-queue TUN of that
    // name, sets its MTU and addresses, brings it up and waits (at most 3 s)
    // until the kernel treats its IPv6 addresses as local, so that the port
    // works when this returns. Returns null with `error` set to one line
    // naming the device and the reason; a device this call created is then
    // removed again, and one it attached to keeps its IFF_PERSIST.
    static std::unique_ptr<TunPort> create(const TunPortConfig& config, std::string* error);
    ~TunPort() override;
    TunPort(const TunPort&) = delete;
    TunPort& operator=(const TunPort&) = delete;

    [[nodiscard]] const std::string& name() const noexcept override { return name_; }
    [[nodiscard]] PortKind kind() const noexcept override { return PortKind::l3_tun; }
    [[nodiscard]] uint16_t queue_count() const noexcept override { return queue_count_; }

    uint16_t rx_burst(uint16_t q, rte_mbuf** pkts, uint16_t n) noexcept override;
    uint16_t tx_burst(uint16_t q, rte_mbuf** pkts, uint16_t n) noexcept override;
    // Readable when queue q has a packet waiting; -1 for a queue that does not exist.
    [[nodiscard]] int wait_fd(uint16_t q) const noexcept override;
    [[nodiscard]] PortStats stats() const noexcept override;

    [[nodiscard]] int ifindex() const noexcept { return ifindex_; }
    [[nodiscard]] bool keeps_device() const noexcept { return keep_device_; }
    // Whether create() made the device (false: it attached to one that existed).
    [[nodiscard]] bool created_device() const noexcept { return created_device_; }
    // One line for the log: "TUN sl0: ifindex 5, 2 queues, mtu 1420,
    // 10.0.0.1/24 fd00::1/64, created, removed on exit".
    [[nodiscard]] std::string describe() const;

private:
    // Written only by the queue's lcore, read by anyone (stats()): relaxed
    // loads and stores, so a reader sees a count at most a burst old, never a
    // torn one, and the writer pays no locked instruction.
    class Counter {
    public:
        void add(uint64_t n) noexcept {
            value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
        }
        [[nodiscard]] uint64_t get() const noexcept {
            return value_.load(std::memory_order_relaxed);
        }

    private:
        std::atomic<uint64_t> value_{0};
    };

    // One cache line per queue so two lcores never write the same line.
    struct alignas(64) Queue {
        int fd = -1;        // set at creation, closed at destruction; read-only between
        uint8_t spill = 0;  // receives the byte past the mbuf of an oversized packet
        Counter rx_packets, rx_bytes, rx_errors, rx_no_mbuf;
        Counter tx_packets, tx_bytes, tx_errors;
    };

    TunPort(std::string name, uint16_t queues, rte_mempool* pool, bool keep_device);

    std::string name_;
    uint16_t queue_count_;
    rte_mempool* pool_;  // receive mbufs come from here
    bool keep_device_;
    bool created_device_ = false;
    int ifindex_ = 0;
    uint32_t mtu_ = 0;
    std::vector<IpPrefix> addresses_;
    std::unique_ptr<Queue[]> queues_;
    // Packets handed to tx_burst with a queue number that does not exist:
    // freed and counted here, since no queue's lcore owns them.
    std::atomic<uint64_t> tx_bad_queue_{0};
};

}  // namespace sluice
