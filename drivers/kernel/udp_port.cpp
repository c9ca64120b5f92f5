// The kernel driver's WAN port; the stages are listed in udp_port.hpp.
#include "drivers/kernel/udp_port.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <utility>

#include "drivers/mbuf_alloc.hpp"
#include "drivers/mbuf_endpoint.hpp"

#ifndef SOL_UDP
#define SOL_UDP IPPROTO_UDP
#endif

namespace sluice {
namespace {

// The largest payload a GRO read can carry: the kernel stops coalescing
// before the IP length field (16 bits) would overflow.
constexpr uint32_t kGroMaxBytes = 65536;
// The kernel's UDP_MAX_SEGMENTS on every version that has UDP_SEGMENT (newer
// ones allow 128; 64 is accepted everywhere).
constexpr uint16_t kMaxGsoSegments = 64;
// Below the 65507 bytes one IPv4 datagram can carry (IPv6: 65527), leaving
// room for IP options, so a run never earns EMSGSIZE for its total alone.
constexpr uint32_t kMaxGsoBytes = 65000;
// iovecs per sendmmsg: one per single-segment mbuf, more for chained ones.
constexpr uint16_t kTxIovecs = 4 * UdpPort::kMaxBurst;
// An ephemeral port is picked by a probe socket and then bound by the queues;
// if another socket takes it in between, pick again this many times.
constexpr int kEphemeralAttempts = 8;

// Which peers a socket can send to: an IPv4 socket, an IPv6-only socket, or
// a dual-stack one (IPv4 peers as v4-mapped addresses).
enum class Reach : uint8_t { v4, v6, both };

union SockAddr {
    sockaddr sa;
    sockaddr_in v4;
    sockaddr_in6 v6;
};

// cmsg buffers, aligned as the CMSG_* macros expect.
union RxControl {
    char buf[CMSG_SPACE(sizeof(int))];  // UDP_GRO: the segment size
    cmsghdr align;
};
union TxControl {
    char buf[CMSG_SPACE(sizeof(uint16_t))];  // UDP_SEGMENT: the segment size
    cmsghdr align;
};

class UniqueFd {
public:
    explicit UniqueFd(int fd = -1) noexcept : fd_(fd) {}
    UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
    UniqueFd& operator=(UniqueFd&& o) noexcept {
        reset(o.release());
        return *this;
    }
    ~UniqueFd() { reset(); }
    [[nodiscard]] int get() const noexcept { return fd_; }
    int release() noexcept { return std::exchange(fd_, -1); }
    void reset(int fd = -1) noexcept {
        if (fd_ >= 0) ::close(fd_);
        fd_ = fd;
    }

private:
    int fd_;
};

}  // namespace

// Everything one queue's lcore touches, in one cache-aligned block so two
// queues never share a line.
struct alignas(64) UdpQueue {
    UdpQueue(int socket_fd, rte_mempool* mbuf_pool, uint32_t data_room, Reach socket_reach)
        : fd(socket_fd), pool(mbuf_pool), room(data_room), reach(socket_reach) {}
    ~UdpQueue() {
        for (uint16_t i = rx_next; i < rx_count; ++i) {
            if (rx_mbufs[i] != nullptr) rte_pktmbuf_free(rx_mbufs[i]);
        }
        if (fd >= 0) ::close(fd);
    }
    UdpQueue(const UdpQueue&) = delete;
    UdpQueue& operator=(const UdpQueue&) = delete;

    // Message i's part of the scratch area: the first `room` bytes take a
    // copy of what landed in the mbuf beyond the first datagram, the rest is
    // where recvmmsg puts what did not fit the mbuf, so a coalesced read ends
    // up contiguous from offset `segment size` on.
    [[nodiscard]] uint8_t* scratch_slot(uint16_t i) const noexcept {
        return scratch.get() + size_t{i} * scratch_stride;
    }

    const int fd;
    rte_mempool* const pool;
    const uint32_t room;  // data room of every mbuf of the pool, past the headroom
    const Reach reach;
    uint16_t test_gso_segment_size = 0;

    bool gro = false;
    bool gso = false;
    const char* gro_off_reason = "turned off in the configuration";
    const char* gso_off_reason = "turned off in the configuration";
    int gro_off_errno = 0;
    int gso_off_errno = 0;

    UdpQueueStats stats;

    // Receive. Messages [rx_next, rx_count) of the last recvmmsg are not
    // handed out yet; rx_split_offset > 0 means message rx_next is a GRO read
    // whose datagrams before that offset are already out.
    uint16_t rx_count = 0;
    uint16_t rx_next = 0;
    uint32_t rx_split_offset = 0;
    uint32_t rx_split_size = 0;
    MbufEndpoint rx_split_endpoint;
    std::array<rte_mbuf*, UdpPort::kMaxBurst> rx_mbufs{};
    std::array<mmsghdr, UdpPort::kMaxBurst> rx_msgs{};
    std::array<std::array<iovec, 2>, UdpPort::kMaxBurst> rx_iov{};
    std::array<SockAddr, UdpPort::kMaxBurst> rx_addr{};
    std::array<RxControl, UdpPort::kMaxBurst> rx_control{};
    // Only with GRO: kMaxBurst slots of (room + 64 KiB). A coalesced read
    // cannot be split by the kernel into our mbufs, so it is read into the
    // mbuf plus this slot and the datagrams after the first are copied out.
    // Allocated without being written, so pages stay untouched (and not
    // resident) until a GRO read lands in them.
    std::unique_ptr<uint8_t[]> scratch;
    size_t scratch_stride = 0;

    // Send. Per packet of the chunk being sent: its socket address (the
    // message of a run points at its first packet's). Per message: the first
    // packet, how many packets, their bytes, whether it carries UDP_SEGMENT.
    std::array<SockAddr, UdpPort::kMaxBurst> tx_addr{};
    std::array<socklen_t, UdpPort::kMaxBurst> tx_addr_len{};
    std::array<mmsghdr, UdpPort::kMaxBurst> tx_msgs{};
    std::array<iovec, kTxIovecs> tx_iov{};
    std::array<TxControl, UdpPort::kMaxBurst> tx_control{};
    std::array<uint16_t, UdpPort::kMaxBurst> tx_first{};
    std::array<uint16_t, UdpPort::kMaxBurst> tx_packets{};
    std::array<uint32_t, UdpPort::kMaxBurst> tx_bytes{};
    std::array<bool, UdpPort::kMaxBurst> tx_gso{};
};

namespace {

// ---- Addresses -----------------------------------------------------------------

MbufEndpoint endpoint_of(const SockAddr& a) noexcept {
    MbufEndpoint ep;
    if (a.sa.sa_family == AF_INET) {
        ep.family = 4;
        ep.port = ntohs(a.v4.sin_port);
        std::memcpy(ep.addr, &a.v4.sin_addr, 4);
    } else if (a.sa.sa_family == AF_INET6) {
        ep.port = ntohs(a.v6.sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&a.v6.sin6_addr)) {
            // IPv4 through the dual-stack socket: the peer is an IPv4 peer.
            ep.family = 4;
            std::memcpy(ep.addr, a.v6.sin6_addr.s6_addr + 12, 4);
        } else {
            ep.family = 6;
            std::memcpy(ep.addr, a.v6.sin6_addr.s6_addr, 16);
        }
    }
    return ep;
}

// The address to send to, or 0 when this socket cannot reach the endpoint.
// Port 0 is refused here because the kernel would answer EINVAL, which on a
// GSO message would wrongly look like the kernel refusing GSO.
socklen_t to_sockaddr(const MbufEndpoint& ep, Reach reach, SockAddr* a) noexcept {
    if (ep.port == 0) return 0;
    if (ep.family == 4 && reach == Reach::v4) {
        a->v4 = sockaddr_in{};
        a->v4.sin_family = AF_INET;
        a->v4.sin_port = htons(ep.port);
        std::memcpy(&a->v4.sin_addr, ep.addr, 4);
        return sizeof(sockaddr_in);
    }
    const bool v4_mapped = ep.family == 4 && reach == Reach::both;
    if (!v4_mapped && !(ep.family == 6 && reach != Reach::v4)) return 0;
    a->v6 = sockaddr_in6{};
    a->v6.sin6_family = AF_INET6;
    a->v6.sin6_port = htons(ep.port);
    if (v4_mapped) {
        a->v6.sin6_addr.s6_addr[10] = 0xff;
        a->v6.sin6_addr.s6_addr[11] = 0xff;
        std::memcpy(a->v6.sin6_addr.s6_addr + 12, ep.addr, 4);
    } else {
        std::memcpy(a->v6.sin6_addr.s6_addr, ep.addr, 16);
    }
    return sizeof(sockaddr_in6);
}

// ---- Receive -------------------------------------------------------------------

bool datagram_waiting(int fd) noexcept {
    char byte;
    return ::recv(fd, &byte, 0, MSG_PEEK | MSG_DONTWAIT) >= 0;
}

// The segment size of a GRO read; 0 when the read is one plain datagram.
uint32_t gro_segment_size(const msghdr& h) noexcept {
    if (h.msg_controllen == 0) return 0;
    for (const cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr;
         c = CMSG_NXTHDR(const_cast<msghdr*>(&h), const_cast<cmsghdr*>(c))) {
        if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
            int size = 0;
            std::memcpy(&size, CMSG_DATA(c), sizeof size);
            return size > 0 ? static_cast<uint32_t>(size) : 0;
        }
    }
    return 0;
}

void fill_packet(UdpQueue& q, rte_mbuf* m, uint32_t len, const MbufEndpoint& ep) noexcept {
    m->data_len = static_cast<uint16_t>(len);
    m->pkt_len = len;
    *mbuf_endpoint(m) = ep;
    q.stats.port.rx_packets++;
    q.stats.port.rx_bytes += len;
}

void drop_truncated(UdpQueue& q, rte_mbuf* m, uint32_t datagrams) noexcept {
    rte_pktmbuf_free(m);
    q.stats.rx_truncated += datagrams;
    q.stats.port.rx_errors += datagrams;
}

// Stage 2, 3 and 5: one recvmmsg into fresh mbufs. Leaves the messages in
// [0, rx_count) for deliver_received().
void receive(UdpQueue& q, uint16_t want) noexcept {
    const uint16_t got = alloc_mbufs_up_to(q.pool, q.rx_mbufs.data(), want);
    int received = 0;
    if (got > 0) {
        for (uint16_t i = 0; i < got; ++i) {
            auto& iov = q.rx_iov[i];
            iov[0] = {rte_pktmbuf_mtod(q.rx_mbufs[i], void*), q.room};
            msghdr& h = q.rx_msgs[i].msg_hdr;
            h.msg_name = &q.rx_addr[i];
            h.msg_namelen = sizeof(SockAddr);
            h.msg_iov = iov.data();
            h.msg_flags = 0;
            if (q.gro) {
                iov[1] = {q.scratch_slot(i) + q.room, kGroMaxBytes};
                h.msg_iovlen = 2;
                h.msg_control = q.rx_control[i].buf;
                h.msg_controllen = sizeof q.rx_control[i].buf;
            } else {
                h.msg_iovlen = 1;
                h.msg_control = nullptr;
                h.msg_controllen = 0;
            }
        }
        do {
            received = ::recvmmsg(q.fd, q.rx_msgs.data(), got, MSG_DONTWAIT, nullptr);
        } while (received < 0 && errno == EINTR);
        if (received < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK) q.stats.port.rx_errors++;
            received = 0;
        }
        if (received < got) rte_pktmbuf_free_bulk(q.rx_mbufs.data() + received, got - received);
    }
    // Counted only when datagrams were left behind for want of mbufs, so a
    // pool that is merely smaller than a burst on an idle socket counts nothing.
    if (got < want && received == got && datagram_waiting(q.fd)) q.stats.port.rx_no_mbuf++;
    q.rx_count = static_cast<uint16_t>(received);
    q.rx_next = 0;
    q.rx_split_offset = 0;
}

// Stage 1 and 4: hands out received messages in order, one mbuf per datagram,
// until `n` are out or the pool runs dry in the middle of a GRO read.
uint16_t deliver_received(UdpQueue& q, rte_mbuf** pkts, uint16_t n) noexcept {
    uint16_t out = 0;
    while (q.rx_next < q.rx_count && out < n) {
        const uint16_t i = q.rx_next;
        const uint32_t len = q.rx_msgs[i].msg_len;
        if (q.rx_split_offset == 0) {
            rte_mbuf* m = q.rx_mbufs[i];
            q.rx_mbufs[i] = nullptr;
            const msghdr& h = q.rx_msgs[i].msg_hdr;
            if ((h.msg_flags & MSG_TRUNC) != 0) {
                drop_truncated(q, m, 1);
                q.rx_next++;
                continue;
            }
            const MbufEndpoint ep = endpoint_of(q.rx_addr[i]);
            const uint32_t seg = gro_segment_size(h);
            if (seg == 0 || len <= seg) {
                // With GRO on, a plain datagram larger than the mbuf spills
                // into the scratch slot instead of being truncated.
                if (len > q.room) {
                    drop_truncated(q, m, 1);
                } else {
                    fill_packet(q, m, len, ep);
                    pkts[out++] = m;
                }
                q.rx_next++;
                continue;
            }
            const uint32_t datagrams = (len + seg - 1) / seg;
            if (seg > q.room) {
                drop_truncated(q, m, datagrams);
                q.rx_next++;
                continue;
            }
            q.stats.rx_gro_reads++;
            q.stats.rx_gro_segments += datagrams;
            // The first datagram stays where it is; what follows it in the
            // mbuf joins the spilled part in the slot.
            uint8_t* slot = q.scratch_slot(i);
            std::memcpy(slot + seg, rte_pktmbuf_mtod_offset(m, uint8_t*, seg),
                        std::min(len, q.room) - seg);
            fill_packet(q, m, seg, ep);
            pkts[out++] = m;
            q.rx_split_offset = seg;
            q.rx_split_size = seg;
            q.rx_split_endpoint = ep;
            continue;
        }
        // The rest of a GRO read, copied out of the slot.
        const uint32_t seg = q.rx_split_size;
        const uint32_t left = (len - q.rx_split_offset + seg - 1) / seg;
        const uint16_t got = alloc_mbufs_up_to(
            q.pool, pkts + out, static_cast<uint16_t>(std::min<uint32_t>(n - out, left)));
        if (got == 0) {
            q.stats.port.rx_no_mbuf++;
            break;
        }
        const uint8_t* slot = q.scratch_slot(i);
        for (uint16_t k = 0; k < got; ++k) {
            const uint32_t size = std::min(seg, len - q.rx_split_offset);
            rte_mbuf* m = pkts[out++];
            std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), slot + q.rx_split_offset, size);
            fill_packet(q, m, size, q.rx_split_endpoint);
            q.rx_split_offset += size;
        }
        if (q.rx_split_offset >= len) {
            q.rx_split_offset = 0;
            q.rx_next++;
        }
    }
    return out;
}

// ---- Send ----------------------------------------------------------------------

// Stage 2: messages for the packets from `from` on, until the chunk, the
// message array or the iovec array ends. Returns the packet after the last
// one taken. `valid` marks packets stage 1 gave an address.
uint16_t build_messages(UdpQueue& q, rte_mbuf* const* pkts, const bool* valid, uint16_t from,
                        uint16_t count, uint16_t* messages) noexcept {
    uint16_t nmsg = 0;
    uint16_t iov_used = 0;
    uint16_t i = from;
    while (i < count && nmsg < UdpPort::kMaxBurst) {
        if (!valid[i]) {
            ++i;
            continue;
        }
        rte_mbuf* first = pkts[i];
        if (iov_used + first->nb_segs > kTxIovecs) break;
        const uint32_t size = first->data_len;
        uint16_t run = 1;
        uint32_t bytes = first->pkt_len;
        if (q.gso && first->nb_segs == 1 && size > 0) {
            const MbufEndpoint& ep = *mbuf_endpoint(first);
            while (i + run < count && run < kMaxGsoSegments && iov_used + run < kTxIovecs) {
                rte_mbuf* next = pkts[i + run];
                const uint32_t next_size = next->data_len;
                if (!valid[i + run] || next->nb_segs != 1 || next_size > size || next_size == 0 ||
                    bytes + next_size > kMaxGsoBytes || !(*mbuf_endpoint(next) == ep)) {
                    break;
                }
                ++run;
                bytes += next_size;
                if (next_size < size) break;  // a shorter packet can only end a run
            }
        }

        mmsghdr& mm = q.tx_msgs[nmsg];
        msghdr& h = mm.msg_hdr;
        h.msg_name = &q.tx_addr[i];
        h.msg_namelen = q.tx_addr_len[i];
        h.msg_iov = &q.tx_iov[iov_used];
        h.msg_flags = 0;
        uint16_t iovs = 0;
        if (run == 1) {
            for (rte_mbuf* s = first; s != nullptr; s = s->next) {
                q.tx_iov[iov_used + iovs++] = {rte_pktmbuf_mtod(s, void*), s->data_len};
            }
            h.msg_control = nullptr;
            h.msg_controllen = 0;
        } else {
            for (uint16_t k = 0; k < run; ++k) {
                rte_mbuf* m = pkts[i + k];
                q.tx_iov[iov_used + iovs++] = {rte_pktmbuf_mtod(m, void*), m->data_len};
            }
            TxControl& control = q.tx_control[nmsg];
            h.msg_control = control.buf;
            h.msg_controllen = sizeof control.buf;
            cmsghdr* c = CMSG_FIRSTHDR(&h);
            c->cmsg_level = SOL_UDP;
            c->cmsg_type = UDP_SEGMENT;
            c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
            const uint16_t segment = q.test_gso_segment_size != 0 ? q.test_gso_segment_size
                                                                  : static_cast<uint16_t>(size);
            std::memcpy(CMSG_DATA(c), &segment, sizeof segment);
        }
        h.msg_iovlen = iovs;
        iov_used = static_cast<uint16_t>(iov_used + iovs);
        q.tx_first[nmsg] = i;
        q.tx_packets[nmsg] = run;
        q.tx_bytes[nmsg] = bytes;
        q.tx_gso[nmsg] = run > 1;
        ++nmsg;
        i = static_cast<uint16_t>(i + run);
    }
    *messages = nmsg;
    return i;
}

bool kernel_refuses_gso(int err) noexcept {
    // EIO: the egress device cannot checksum (GSO needs it); EMSGSIZE and
    // EINVAL: the segment size or count is beyond what this path takes.
    return err == EIO || err == EMSGSIZE || err == EINVAL;
}

// Stages 1 to 3 for up to kMaxBurst packets; returns how many were sent.
uint16_t send_chunk(UdpQueue& q, rte_mbuf* const* pkts, uint16_t count) noexcept {
    std::array<bool, UdpPort::kMaxBurst> valid;
    for (uint16_t i = 0; i < count; ++i) {
        // A chain longer than one message's iovecs cannot be sent; it would
        // take a far longer chain than any sluice stage builds.
        const bool fits = pkts[i]->nb_segs <= kTxIovecs;
        q.tx_addr_len[i] = fits ? to_sockaddr(*mbuf_endpoint(pkts[i]), q.reach, &q.tx_addr[i]) : 0;
        valid[i] = q.tx_addr_len[i] != 0;
        if (!valid[i]) {
            q.stats.port.tx_errors++;
            if (fits) q.stats.tx_bad_endpoint++;
        }
    }

    uint16_t sent = 0;
    uint16_t pos = 0;
    while (pos < count) {
        uint16_t nmsg = 0;
        uint16_t next = build_messages(q, pkts, valid.data(), pos, count, &nmsg);
        uint16_t m = 0;
        while (m < nmsg) {
            const int r = ::sendmmsg(q.fd, &q.tx_msgs[m], nmsg - m, MSG_DONTWAIT);
            if (r > 0) {
                for (int k = 0; k < r; ++k, ++m) {
                    sent = static_cast<uint16_t>(sent + q.tx_packets[m]);
                    q.stats.port.tx_packets += q.tx_packets[m];
                    q.stats.port.tx_bytes += q.tx_bytes[m];
                    if (q.tx_gso[m]) {
                        q.stats.tx_gso_sends++;
                        q.stats.tx_gso_segments += q.tx_packets[m];
                    }
                }
                continue;
            }
            const int err = errno;
            if (err == EINTR) continue;
            if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS) {
                // The send buffer (or the device queue below it) is full and
                // will not drain within this burst: drop the rest rather than
                // spin or block.
                uint64_t dropped = 0;
                for (uint16_t k = q.tx_first[m]; k < count; ++k) dropped += valid[k] ? 1 : 0;
                q.stats.port.tx_errors += dropped;
                q.stats.tx_would_block += dropped;
                return sent;
            }
            if (q.tx_gso[m] && kernel_refuses_gso(err)) {
                // Nothing of a refused GSO message left; send it again, and
                // everything after it, without GSO.
                q.gso = false;
                q.gso_off_reason = "the kernel refused a UDP_SEGMENT send";
                q.gso_off_errno = err;
                next = q.tx_first[m];
                break;
            }
            q.stats.port.tx_errors += q.tx_packets[m];
            ++m;
        }
        pos = next;
    }
    return sent;
}

// ---- Creation ------------------------------------------------------------------

struct BindPlan {
    int family = AF_INET6;
    SockAddr addr{};
    socklen_t addr_len = sizeof(sockaddr_in6);
    bool dual_stack = false;
};

BindPlan plan_any_dual_stack() {
    BindPlan p;
    p.addr.v6.sin6_family = AF_INET6;
    p.addr.v6.sin6_addr = in6addr_any;
    p.dual_stack = true;
    return p;
}

BindPlan plan_v4(const uint8_t* addr4) {
    BindPlan p;
    p.family = AF_INET;
    p.addr.v4.sin_family = AF_INET;
    std::memcpy(&p.addr.v4.sin_addr, addr4, 4);
    p.addr_len = sizeof(sockaddr_in);
    return p;
}

BindPlan plan_for(const IpAddress& a) {
    if (a.family == IpFamily::v4) return plan_v4(a.addr.data());
    in6_addr v6;
    std::memcpy(&v6, a.addr.data(), 16);
    if (IN6_IS_ADDR_V4MAPPED(&v6)) return plan_v4(a.addr.data() + 12);
    BindPlan p;
    p.addr.v6.sin6_family = AF_INET6;
    p.addr.v6.sin6_addr = v6;
    return p;
}

void set_port(BindPlan& p, uint16_t port) {
    if (p.family == AF_INET) {
        p.addr.v4.sin_port = htons(port);
    } else {
        p.addr.v6.sin6_port = htons(port);
    }
}

std::string address_text(const BindPlan& p, uint16_t port) {
    char text[INET6_ADDRSTRLEN] = "";
    if (p.family == AF_INET) {
        inet_ntop(AF_INET, &p.addr.v4.sin_addr, text, sizeof text);
        return std::string(text) + ":" + std::to_string(port);
    }
    inet_ntop(AF_INET6, &p.addr.v6.sin6_addr, text, sizeof text);
    return "[" + std::string(text) + "]:" + std::to_string(port);
}

std::string errno_text(int err) {
    return std::strerror(err);
}

std::string bind_error(const BindPlan& p, uint16_t port, int err) {
    std::string text = "cannot bind " + address_text(p, port) + ": " + errno_text(err);
    if (err == EADDRINUSE) text += " (another socket holds the port; stop it or pick another)";
    if (err == EADDRNOTAVAIL) text += " (not an address of this host)";
    if (err == EACCES) text += " (ports below 1024 need CAP_NET_BIND_SERVICE)";
    return text;
}

struct SocketError {
    int err = 0;
    std::string why;
};

// A non-blocking UDP socket for the plan. The probe (reuseport = false) is
// never bound again after it is closed.
UniqueFd open_socket(const BindPlan& p, bool reuseport, SocketError* e) {
    UniqueFd fd(::socket(p.family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP));
    if (fd.get() < 0) {
        *e = {errno, std::string("cannot open a UDP socket: ") + errno_text(errno)};
        return fd;
    }
    const int one = 1;
    if (p.family == AF_INET6) {
        const int v6only = p.dual_stack ? 0 : 1;
        if (::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only) != 0) {
            *e = {errno, "cannot set IPV6_V6ONLY: " + errno_text(errno)};
            fd.reset();
            return fd;
        }
    }
    if (reuseport && ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
        *e = {errno, "cannot set SO_REUSEPORT: " + errno_text(errno)};
        fd.reset();
    }
    return fd;
}

// Sets one buffer size, returns what the kernel reports. SO_*BUFFORCE passes
// the sysctl cap and needs CAP_NET_ADMIN; without it the plain option takes
// what the cap allows.
int set_buffer(int fd, int force_option, int option, int bytes) noexcept {
    if (::setsockopt(fd, SOL_SOCKET, force_option, &bytes, sizeof bytes) != 0) {
        (void)::setsockopt(fd, SOL_SOCKET, option, &bytes, sizeof bytes);
    }
    int actual = 0;
    socklen_t len = sizeof actual;
    (void)::getsockopt(fd, SOL_SOCKET, option, &actual, &len);
    return actual;
}

struct BoundSockets {
    std::vector<UniqueFd> fds;
    uint16_t port = 0;
};

// Binds one socket per queue to one port. A probe without SO_REUSEPORT goes
// first: its bind fails when any socket holds the port, even a reuseport
// group of another process of this user, which our sockets would otherwise
// join silently and share packets with. For port 0 the probe also picks the
// port, because the kernel's ephemeral search for a reuseport socket may hand
// out a port such a group already holds.
bool bind_queues(BindPlan plan, const UdpPortConfig& c, BoundSockets* out, SocketError* e) {
    for (int attempt = 0; attempt < kEphemeralAttempts; ++attempt) {
        UniqueFd probe = open_socket(plan, false, e);
        if (probe.get() < 0) return false;
        set_port(plan, c.listen_port);
        if (::bind(probe.get(), &plan.addr.sa, plan.addr_len) != 0) {
            *e = {errno, bind_error(plan, c.listen_port, errno)};
            return false;
        }
        SockAddr bound{};
        socklen_t bound_len = sizeof bound;
        if (::getsockname(probe.get(), &bound.sa, &bound_len) != 0) {
            *e = {errno, "getsockname: " + errno_text(errno)};
            return false;
        }
        const uint16_t port = endpoint_of(bound).port;
        probe.reset();

        set_port(plan, port);
        std::vector<UniqueFd> fds;
        bool raced = false;
        for (uint16_t q = 0; q < c.queues; ++q) {
            UniqueFd fd = open_socket(plan, true, e);
            if (fd.get() < 0) return false;
            if (::bind(fd.get(), &plan.addr.sa, plan.addr_len) != 0) {
                if (errno == EADDRINUSE && c.listen_port == 0) {
                    raced = true;
                    break;
                }
                *e = {errno, bind_error(plan, port, errno)};
                return false;
            }
            fds.push_back(std::move(fd));
        }
        if (raced) continue;
        out->fds = std::move(fds);
        out->port = port;
        return true;
    }
    *e = {EADDRINUSE, "cannot keep an ephemeral port: other sockets took each one picked"};
    return false;
}

bool means_no_ipv6(int err) {
    return err == EAFNOSUPPORT || err == EPROTONOSUPPORT || err == EADDRNOTAVAIL;
}

std::string mib(int bytes) {
    return bytes >= (1 << 20) ? std::to_string(bytes >> 20) + " MiB"
                              : std::to_string(bytes >> 10) + " KiB";
}

}  // namespace

// ---- UdpPort -------------------------------------------------------------------

std::unique_ptr<UdpPort> UdpPort::create(const UdpPortConfig& c, std::string* error) {
    auto fail = [&](const std::string& why) -> std::unique_ptr<UdpPort> {
        if (error) *error = "udp port " + c.name + ": " + why;
        return nullptr;
    };
    if (c.queues == 0) return fail("needs at least one queue");
    if (c.pool == nullptr) return fail("needs an mbuf pool");
    if (c.pool->private_data_size < sizeof(rte_pktmbuf_pool_private)) {
        return fail(std::string("mempool ") + c.pool->name + " is not a pktmbuf pool");
    }
    const uint16_t data_room = rte_pktmbuf_data_room_size(c.pool);
    if (data_room <= RTE_PKTMBUF_HEADROOM) {
        return fail(std::string("mbufs of pool ") + c.pool->name +
                    " have no data room beyond the headroom");
    }
    if (c.socket_buffer_bytes <= 0) return fail("socket_buffer_bytes must be positive");
    if (!register_mbuf_endpoint()) {
        return fail(std::string("cannot register the mbuf endpoint field: ") +
                    rte_strerror(rte_errno));
    }

    std::vector<BindPlan> plans;
    if (c.bind_address) {
        plans.push_back(plan_for(*c.bind_address));
    } else {
        plans.push_back(plan_any_dual_stack());
        plans.push_back(plan_v4(std::array<uint8_t, 4>{}.data()));
    }
    std::string family_note;
    BoundSockets bound;
    size_t chosen = 0;
    for (; chosen < plans.size(); ++chosen) {
        SocketError e;
        if (bind_queues(plans[chosen], c, &bound, &e)) break;
        if (chosen + 1 < plans.size() && means_no_ipv6(e.err)) {
            family_note = "IPv4 only, the host refused an IPv6 socket: " + e.why;
            continue;
        }
        return fail(e.why);
    }
    const BindPlan& plan = plans[chosen];

    std::unique_ptr<UdpPort> port(new UdpPort());
    port->name_ = c.name;
    port->queue_count_ = c.queues;
    port->local_port_ = bound.port;
    port->dual_stack_ = plan.dual_stack;
    port->bound_text_ = address_text(plan, bound.port);
    port->family_note_ = family_note;
    const uint32_t room = data_room - RTE_PKTMBUF_HEADROOM;
    for (UniqueFd& fd : bound.fds) {
        const int s = fd.get();
        port->rx_buffer_bytes_ = set_buffer(s, SO_RCVBUFFORCE, SO_RCVBUF, c.socket_buffer_bytes);
        port->tx_buffer_bytes_ = set_buffer(s, SO_SNDBUFFORCE, SO_SNDBUF, c.socket_buffer_bytes);
        const Reach reach =
            plan.family == AF_INET ? Reach::v4 : (plan.dual_stack ? Reach::both : Reach::v6);
        auto q = std::make_unique<UdpQueue>(fd.release(), c.pool, room, reach);
        q->test_gso_segment_size = c.test_gso_segment_size;
        if (c.gro) {
            const int one = 1;
            if (::setsockopt(s, SOL_UDP, UDP_GRO, &one, sizeof one) == 0) {
                q->gro = true;
                q->scratch_stride = (size_t{room} + kGroMaxBytes + 63) & ~size_t{63};
                q->scratch =
                    std::make_unique_for_overwrite<uint8_t[]>(kMaxBurst * q->scratch_stride);
            } else {
                q->gro_off_reason = "the kernel refused UDP_GRO";
                q->gro_off_errno = errno;
            }
        }
        if (c.gso) {
            // Reading the option tells whether this kernel has UDP_SEGMENT at
            // all (4.18+); whether a device can do it shows only when sending.
            int size = 0;
            socklen_t len = sizeof size;
            if (::getsockopt(s, SOL_UDP, UDP_SEGMENT, &size, &len) == 0) {
                q->gso = true;
            } else {
                q->gso_off_reason = "the kernel has no UDP_SEGMENT";
                q->gso_off_errno = errno;
            }
        }
        port->queues_.push_back(std::move(q));
    }
    return port;
}

UdpPort::~UdpPort() = default;

uint16_t UdpPort::rx_burst(uint16_t qi, rte_mbuf** pkts, uint16_t n) noexcept {
    if (qi >= queue_count_ || n == 0) return 0;
    UdpQueue& q = *queues_[qi];
    const uint16_t out = deliver_received(q, pkts, n);
    // Full, or the pool ran dry in the middle of a GRO read: read nothing new,
    // so that datagrams keep their order.
    if (out == n || q.rx_next < q.rx_count) return out;
    receive(q, std::min<uint16_t>(static_cast<uint16_t>(n - out), kMaxBurst));
    return static_cast<uint16_t>(out + deliver_received(q, pkts + out, n - out));
}

uint16_t UdpPort::tx_burst(uint16_t qi, rte_mbuf** pkts, uint16_t n) noexcept {
    if (n == 0) return 0;
    if (qi >= queue_count_) {
        rte_pktmbuf_free_bulk(pkts, n);
        return 0;
    }
    UdpQueue& q = *queues_[qi];
    uint16_t sent = 0;
    for (uint32_t base = 0; base < n; base += kMaxBurst) {
        const auto count = static_cast<uint16_t>(std::min<uint32_t>(kMaxBurst, n - base));
        sent = static_cast<uint16_t>(sent + send_chunk(q, pkts + base, count));
    }
    rte_pktmbuf_free_bulk(pkts, n);
    return sent;
}

int UdpPort::wait_fd(uint16_t q) const noexcept {
    return q < queue_count_ ? queues_[q]->fd : -1;
}

PortStats UdpPort::stats() const noexcept {
    PortStats sum;
    for (const auto& q : queues_) {
        const PortStats& s = q->stats.port;
        sum.rx_packets += s.rx_packets;
        sum.rx_bytes += s.rx_bytes;
        sum.tx_packets += s.tx_packets;
        sum.tx_bytes += s.tx_bytes;
        sum.rx_errors += s.rx_errors;
        sum.tx_errors += s.tx_errors;
        sum.rx_no_mbuf += s.rx_no_mbuf;
    }
    return sum;
}

const UdpQueueStats& UdpPort::queue_stats(uint16_t q) const noexcept {
    return queues_[q]->stats;
}
bool UdpPort::gso_active(uint16_t q) const noexcept {
    return queues_[q]->gso;
}
bool UdpPort::gro_active(uint16_t q) const noexcept {
    return queues_[q]->gro;
}
int UdpPort::gso_off_errno(uint16_t q) const noexcept {
    return queues_[q]->gso_off_errno;
}

bool UdpPort::rx_pending(uint16_t q) const noexcept {
    return queues_[q]->rx_next < queues_[q]->rx_count;
}

std::string UdpPort::gso_status(uint16_t qi) const {
    const UdpQueue& q = *queues_[qi];
    if (q.gso) return "on";
    return std::string(q.gso_off_reason) +
           (q.gso_off_errno != 0 ? " (" + errno_text(q.gso_off_errno) + ")" : "");
}

std::string UdpPort::gro_status(uint16_t qi) const {
    const UdpQueue& q = *queues_[qi];
    if (q.gro) return "on";
    return std::string(q.gro_off_reason) +
           (q.gro_off_errno != 0 ? " (" + errno_text(q.gro_off_errno) + ")" : "");
}

std::string UdpPort::describe() const {
    uint16_t gso = 0;
    uint16_t gro = 0;
    for (const auto& q : queues_) {
        gso = static_cast<uint16_t>(gso + (q->gso ? 1 : 0));
        gro = static_cast<uint16_t>(gro + (q->gro ? 1 : 0));
    }
    const std::string of = "/" + std::to_string(queue_count_);
    std::string text = name_ + ": udp " + bound_text_ + (dual_stack_ ? " (IPv4 and IPv6)" : "") +
                       ", " + std::to_string(queue_count_) + " queues, GSO on " +
                       std::to_string(gso) + of + ", GRO on " + std::to_string(gro) + of +
                       ", socket buffers " + mib(rx_buffer_bytes_) + " rx, " +
                       mib(tx_buffer_bytes_) + " tx";
    if (!family_note_.empty()) text += "; " + family_note_;
    return text;
}

}  // namespace sluice
