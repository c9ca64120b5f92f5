// The WAN side of the kernel driver (DESIGN §5): one UDP socket per queue,
// all bound to one port with SO_REUSEPORT so the kernel spreads peers (UDP
// 4-tuples) over the queues, and each queue is owned by one lcore. Every mbuf
// is one UDP payload; its remote endpoint rides in the mbuf's endpoint field.
//
// Receive, per rx_burst (sequential, on the queue's lcore):
//   1. hand out what an earlier call held back: the remaining datagrams of a
//      GRO read, and the reads queued behind it;
//   2. take a bulk of mbufs from the pool (smaller bulks when it runs low;
//      rx_no_mbuf when that leaves datagrams in the kernel);
//   3. recvmmsg: datagram i lands straight in mbuf i's data area; with GRO on,
//      the part of a coalesced read beyond that mbuf lands in message i's
//      slot of the queue's scratch area;
//   4. per message: drop truncated or oversize datagrams (rx_truncated),
//      record the source as the endpoint (v4-mapped addresses as IPv4), and
//      split a coalesced read into one mbuf per datagram by copying the
//      datagrams after the first out of the scratch area;
//   5. give the unused mbufs back to the pool.
// Send, per tx_burst (sequential):
//   1. turn each mbuf's endpoint into a socket address, dropping packets the
//      socket cannot reach (no endpoint, port 0, a family it does not serve);
//   2. group consecutive packets to one endpoint with one size (the last may
//      be shorter) into one GSO message (an iovec per mbuf and a UDP_SEGMENT
//      cmsg); every other packet is a message of its own;
//   3. sendmmsg; a GSO message the kernel refuses with EIO, EMSGSIZE or
//      EINVAL turns GSO off on that socket and its packets go again one by
//      one; EAGAIN or ENOBUFS drops the rest of the burst (never block); any
//      other error drops that one message;
//   4. free every mbuf.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dataplane/ip_prefix.hpp"
#include "drivers/port.hpp"

namespace sluice {

struct UdpPortConfig {
    std::string name = "wan";
    uint16_t listen_port = 0;  // 0: the kernel picks one, and every queue shares it
    // None: every local address, IPv4 and IPv6 through one dual-stack socket
    // per queue (IPv4 only where the host has no IPv6). An IPv4 address gives
    // IPv4 sockets, an IPv6 address IPv6-only ones (v4-mapped counts as IPv4).
    std::optional<IpAddress> bind_address;
    uint16_t queues = 1;
    rte_mempool* pool = nullptr;  // received packets are mbufs of this pktmbuf pool
    // SO_RCVBUF and SO_SNDBUF of each socket; as root the sysctl caps
    // (net.core.rmem_max, wmem_max) are passed with SO_*BUFFORCE.
    int socket_buffer_bytes = 8 << 20;
    bool gso = true;  // send runs of equal-size packets with UDP_SEGMENT where the kernel can
    bool gro = true;  // accept coalesced reads (UDP_GRO) where the kernel can
    // Tests only: the segment size written into every UDP_SEGMENT cmsg instead
    // of the run's own, so that the kernel refuses GSO (1 × 64 segments is
    // less than any run of two packets over 32 bytes) and the fallback runs.
    uint16_t test_gso_segment_size = 0;
};

// One queue's counters. Owner: the queue's lcore writes them without atomics;
// another thread reading them sees a recent value, as with DPDK's own stats.
struct UdpQueueStats {
    // What stats() sums. rx_no_mbuf counts bursts the pool cut short while
    // datagrams were waiting; they stay in the socket for the next call.
    PortStats port;
    uint64_t rx_truncated = 0;     // datagrams larger than an mbuf's data room; also rx_errors
    uint64_t rx_gro_reads = 0;     // reads that carried several datagrams
    uint64_t rx_gro_segments = 0;  // datagrams those reads carried
    uint64_t tx_gso_sends = 0;     // messages sent with UDP_SEGMENT
    uint64_t tx_gso_segments = 0;  // packets those messages carried
    uint64_t tx_bad_endpoint = 0;  // packets the socket cannot reach; also tx_errors
    uint64_t tx_would_block = 0;   // dropped on a full send buffer or device queue; also tx_errors
};

struct UdpQueue;

class UdpPort final : public Port {
public:
    // Messages per recvmmsg/sendmmsg; larger bursts take several calls.
    static constexpr uint16_t kMaxBurst = 32;

    // Opens and binds every queue's socket, or returns null with `error` set
    // to one line naming the port and the reason (port in use, not a local
    // address, bad pool...).
    static std::unique_ptr<UdpPort> create(const UdpPortConfig& config, std::string* error);
    ~UdpPort() override;
    UdpPort(const UdpPort&) = delete;
    UdpPort& operator=(const UdpPort&) = delete;

    [[nodiscard]] const std::string& name() const noexcept override { return name_; }
    [[nodiscard]] PortKind kind() const noexcept override { return PortKind::l3_udp; }
    [[nodiscard]] uint16_t queue_count() const noexcept override { return queue_count_; }

    uint16_t rx_burst(uint16_t q, rte_mbuf** pkts, uint16_t n) noexcept override;
    uint16_t tx_burst(uint16_t q, rte_mbuf** pkts, uint16_t n) noexcept override;
    [[nodiscard]] int wait_fd(uint16_t q) const noexcept override;
    [[nodiscard]] PortStats stats() const noexcept override;

    // The port every queue is bound to (the kernel's pick when 0 was asked).
    [[nodiscard]] uint16_t local_port() const noexcept { return local_port_; }
    // Whether the sockets are IPv6 sockets that also serve IPv4.
    [[nodiscard]] bool dual_stack() const noexcept { return dual_stack_; }
    [[nodiscard]] const UdpQueueStats& queue_stats(uint16_t q) const noexcept;
    [[nodiscard]] bool gso_active(uint16_t q) const noexcept;
    [[nodiscard]] bool gro_active(uint16_t q) const noexcept;
    // The errno that turned GSO off on queue q while sending; 0 if none did.
    [[nodiscard]] int gso_off_errno(uint16_t q) const noexcept;
    // One line: "on", or why GSO is off on queue q.
    [[nodiscard]] std::string gso_status(uint16_t q) const;
    // One line: "on", or why GRO is off on queue q.
    [[nodiscard]] std::string gro_status(uint16_t q) const;
    // Datagrams of a GRO read held back because the last burst was full (or
    // the pool dry). The socket is not readable for them, so an lcore must
    // not sleep on wait_fd(q) while this is true.
    [[nodiscard]] bool rx_pending(uint16_t q) const noexcept override;
    // One line for the log: address, port, queues, GSO/GRO, buffer sizes.
    [[nodiscard]] std::string describe() const;

private:
    UdpPort() = default;

    std::string name_;
    uint16_t queue_count_ = 0;
    uint16_t local_port_ = 0;
    bool dual_stack_ = false;
    std::string bound_text_;   // "[::]:51820", for describe()
    std::string family_note_;  // why IPv4 only, when a dual-stack socket was refused
    int rx_buffer_bytes_ = 0;  // as the kernel reports it (twice what was set)
    int tx_buffer_bytes_ = 0;
    std::vector<std::unique_ptr<UdpQueue>> queues_;  // queue q: its lcore only
};

}  // namespace sluice
