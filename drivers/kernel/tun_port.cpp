// The multi-queue TUN port; the stages are listed in tun_port.hpp.
#include "drivers/kernel/tun_port.hpp"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "drivers/kernel/netlink.hpp"
#include "drivers/mbuf_alloc.hpp"

namespace sluice {
namespace {

constexpr const char* kTunDevice = "/dev/net/tun";
constexpr short kTunFlags = IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE;
// A chain longer than this is refused (tx_errors) rather than written in
// pieces, which TUN would take as separate packets. sluice's own packets are
// single mbufs; a chain of more than 16 would be a bug upstream.
constexpr uint16_t kMaxSegments = 16;
constexpr uint32_t kIpv6MinimumMtu = 1280;
// The kernel usually needs well under a millisecond; seconds mean trouble.
constexpr auto kIpv6ReadyTimeout = std::chrono::seconds(3);
constexpr auto kIpv6ReadyPoll = std::chrono::milliseconds(1);

// What the kernel's dev_valid_name() refuses, said before the kernel says
// EINVAL; '%' is refused too, because the kernel would take it as a pattern
// ("tun%d") and pick a name of its own.
std::string check_name(const std::string& name) {
    if (name.empty()) return "a TUN device needs a name";
    if (name.size() >= IFNAMSIZ) {
        return "TUN name '" + name + "' is longer than " + std::to_string(IFNAMSIZ - 1) +
               " characters";
    }
    if (name == "." || name == "..") return "TUN name '" + name + "' is not allowed";
    for (const char c : name) {
        const auto u = static_cast<unsigned char>(c);
        if (u == '/' || u == ':' || u == '%' || u <= ' ' || u == 0x7f) {
            return "TUN name '" + name + "' contains '" + std::string(1, c) +
                   "', which an interface name cannot";
        }
    }
    return {};
}

std::string open_error(const std::string& name, int error) {
    std::string why = std::string(kTunDevice) + ": " + std::strerror(error);
    if (error == ENOENT || error == ENODEV || error == ENXIO) {
        why += " (is the tun module loaded? modprobe tun)";
    }
    return "TUN " + name + ": " + why;
}

std::string attach_error(const std::string& name, int error, bool existed) {
    std::string why;
    switch (error) {
        case EPERM:
        case EACCES:
            why = existed ? "not permitted to attach (needs CAP_NET_ADMIN or the device's owner)"
                          : "not permitted to create the device (needs CAP_NET_ADMIN)";
            break;
        case EINVAL:
            why = existed ? "an interface of that name exists and is not a multi-queue TUN "
                            "without packet information"
                          : "the kernel refused the name or the flags";
            break;
        case EBUSY:
            why = "the device is held by a process that opened it without IFF_MULTI_QUEUE";
            break;
        case E2BIG:
            why = "the device already has as many queues as the kernel allows";
            break;
        default:
            why = "TUNSETIFF failed";
            break;
    }
    return "TUN " + name + ": " + why + ": " + std::strerror(error);
}

bool packet_waiting(int fd) noexcept {
    pollfd p{fd, POLLIN, 0};
    return poll(&p, 1, 0) > 0 && (p.revents & POLLIN);
}

}  // namespace

TunPort::TunPort(std::string name, uint16_t queues, rte_mempool* pool, bool keep_device)
    : name_(std::move(name)),
      queue_count_(queues),
      pool_(pool),
      keep_device_(keep_device),
      queues_(std::make_unique<Queue[]>(queues)) {}

TunPort::~TunPort() {
    // Without IFF_PERSIST the kernel unregisters the device as the last
    // descriptor closes, inside this close(), so it is gone when we return.
    for (uint16_t q = 0; q < queue_count_; ++q) {
        if (queues_[q].fd >= 0) close(queues_[q].fd);
    }
}

std::unique_ptr<TunPort> TunPort::create(const TunPortConfig& config, std::string* error) {
    auto fail = [&](std::string message) {
        if (error) *error = std::move(message);
        return nullptr;
    };
    const std::string& name = config.name;
    if (std::string bad = check_name(name); !bad.empty()) return fail(bad);
    if (config.queues == 0 || config.queues > kMaxQueues) {
        return fail("TUN " + name + ": " + std::to_string(config.queues) +
                    " queues asked for; the kernel allows 1 to " + std::to_string(kMaxQueues));
    }
    if (config.pool == nullptr) return fail("TUN " + name + ": no mempool for receive");
    const uint32_t data_room = rte_pktmbuf_data_room_size(config.pool);
    const uint32_t room = data_room > RTE_PKTMBUF_HEADROOM ? data_room - RTE_PKTMBUF_HEADROOM : 0;
    if (config.mtu > room) {
        return fail("TUN " + name + ": MTU " + std::to_string(config.mtu) + " does not fit the " +
                    std::to_string(room) + " B data room of mempool " + config.pool->name);
    }
    const bool any_v6 = std::any_of(config.addresses.begin(), config.addresses.end(),
                                    [](const IpPrefix& p) { return p.family == IpFamily::v6; });
    if (any_v6 && config.mtu < kIpv6MinimumMtu) {
        return fail("TUN " + name + ": MTU " + std::to_string(config.mtu) +
                    " is below IPv6's minimum of 1280, and an IPv6 address is configured");
    }

    std::string nl_error;
    auto nl = Netlink::open(&nl_error);
    if (!nl) return fail("TUN " + name + ": " + nl_error);
    const bool existed = nl->link_index(name, nullptr).ok();

    std::unique_ptr<TunPort> port(
        new TunPort(name, config.queues, config.pool, config.keep_device));
    for (uint16_t q = 0; q < config.queues; ++q) {
        const int fd = ::open(kTunDevice, O_RDWR | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) return fail(open_error(name, errno));
        port->queues_[q].fd = fd;  // owned by the port from here: closed on any failure
        ifreq ifr{};
        std::memcpy(ifr.ifr_name, name.data(), name.size());
        ifr.ifr_flags = kTunFlags;
        if (ioctl(fd, TUNSETIFF, &ifr) < 0) return fail(attach_error(name, errno, existed));
    }

    // From here a failure leaves things as they were: a device this call
    // created goes (without IFF_PERSIST the port's destructor removes it), a
    // device that was there keeps the IFF_PERSIST it had.
    const int first_fd = port->queues_[0].fd;
    ifreq before{};
    const bool was_persistent =
        existed && ioctl(first_fd, TUNGETIFF, &before) == 0 && (before.ifr_flags & IFF_PERSIST);
    auto undo_and_fail = [&](std::string message) {
        (void)ioctl(first_fd, TUNSETPERSIST, was_persistent ? 1 : 0);
        return fail(std::move(message));
    };
    if (ioctl(first_fd, TUNSETPERSIST, config.keep_device ? 1 : 0) < 0) {
        return undo_and_fail("TUN " + name + ": " + (config.keep_device ? "setting" : "clearing") +
                             " IFF_PERSIST: " + std::strerror(errno));
    }
    if (NetlinkStatus s = nl->link_index(name, &port->ifindex_); !s) {
        return undo_and_fail("TUN " + name + ": " + s.message);
    }
    // By index from here: the name could be changed under us, the index not.
    if (NetlinkStatus s = nl->set_mtu(port->ifindex_, config.mtu); !s) {
        return undo_and_fail("TUN " + name + ": " + s.message);
    }
    for (const IpPrefix& address : config.addresses) {
        if (NetlinkStatus s = nl->add_address(port->ifindex_, address, AddressMode::replace); !s) {
            return undo_and_fail("TUN " + name + ": " + s.message);
        }
    }
    if (NetlinkStatus s = nl->set_link_up(port->ifindex_, true); !s) {
        return undo_and_fail("TUN " + name + ": " + s.message);
    }
    // IPv4 addresses work as soon as the link is up. IPv6 ones only once the
    // kernel finds the link ready (its operational state, set from a work
    // queue) and its address work has installed the local route: a moment
    // after set_link_up returns, during which packets to the address are
    // dropped (Ip6InAddrErrors). Wait for it, bounded, so that the port works
    // when create returns.
    const auto deadline = std::chrono::steady_clock::now() + kIpv6ReadyTimeout;
    for (const IpPrefix& address : config.addresses) {
        if (address.family != IpFamily::v6) continue;
        for (;;) {
            Netlink::RouteLookup route;
            if (nl->lookup_route(address.address(), &route).ok() && route.local) break;
            if (std::chrono::steady_clock::now() > deadline) {
                return undo_and_fail("TUN " + name + ": " + address.address().to_string() +
                                     " is still not a local address " +
                                     std::to_string(kIpv6ReadyTimeout.count()) +
                                     " s after the link came up");
            }
            std::this_thread::sleep_for(kIpv6ReadyPoll);
        }
    }

    port->created_device_ = !existed;
    port->mtu_ = config.mtu;
    port->addresses_ = config.addresses;
    return port;
}

std::string TunPort::describe() const {
    std::string line = "TUN " + name_ + ": ifindex " + std::to_string(ifindex_) + ", " +
                       std::to_string(queue_count_) + (queue_count_ == 1 ? " queue" : " queues") +
                       ", mtu " + std::to_string(mtu_) + ",";
    for (const IpPrefix& address : addresses_) line += " " + address.to_string();
    if (addresses_.empty()) line += " no addresses";
    line += created_device_ ? ", created" : ", attached";
    line += keep_device_ ? ", kept on exit" : ", removed on exit";
    return line;
}

uint16_t TunPort::rx_burst(uint16_t q, rte_mbuf** pkts, uint16_t n) noexcept {
    if (q >= queue_count_ || n == 0) return 0;
    Queue& queue = queues_[q];
    const uint16_t have = alloc_mbufs_up_to(pool_, pkts, n);

    uint16_t got = 0;
    uint64_t bytes = 0;
    uint64_t errors = 0;
    bool drained = false;
    // At most n reads, so a stream of unusable packets cannot hold the lcore.
    for (uint16_t reads = 0; reads < n && got < have; ++reads) {
        rte_mbuf* m = pkts[got];
        const uint16_t room = rte_pktmbuf_tailroom(m);
        // TUN copies what fits and returns the bytes copied, so a packet that
        // fills the mbuf exactly and one cut short look alike; a spill byte
        // past the mbuf tells them apart.
        iovec iov[2] = {{rte_pktmbuf_mtod(m, void*), room}, {&queue.spill, sizeof queue.spill}};
        const ssize_t r = readv(queue.fd, iov, 2);
        if (r < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) ++errors;
            drained = true;
            break;
        }
        // Larger than the mbuf (the MTU was raised past the pool's data room
        // behind our back): the rest is lost, so drop it and reuse the mbuf.
        if (r == 0 || r > room) {
            ++errors;
            continue;
        }
        m->data_len = static_cast<uint16_t>(r);
        m->pkt_len = static_cast<uint32_t>(r);
        bytes += static_cast<uint64_t>(r);
        ++got;
    }
    if (got < have) rte_pktmbuf_free_bulk(pkts + got, have - got);
    // The pool gave fewer mbufs than asked and every one was filled: if the
    // queue still holds a packet, the shortage left it there.
    if (have < n && !drained && packet_waiting(queue.fd)) queue.rx_no_mbuf.add(1);

    if (got) {
        queue.rx_packets.add(got);
        queue.rx_bytes.add(bytes);
    }
    if (errors) queue.rx_errors.add(errors);
    return got;
}

uint16_t TunPort::tx_burst(uint16_t q, rte_mbuf** pkts, uint16_t n) noexcept {
    if (n == 0) return 0;
    if (q >= queue_count_) {
        rte_pktmbuf_free_bulk(pkts, n);
        tx_bad_queue_.fetch_add(n, std::memory_order_relaxed);
        return 0;
    }
    Queue& queue = queues_[q];
    uint16_t sent = 0;
    uint64_t bytes = 0;
    for (uint16_t i = 0; i < n; ++i) {
        const rte_mbuf* m = pkts[i];
        const uint32_t len = rte_pktmbuf_pkt_len(m);
        ssize_t w;
        if (m->nb_segs == 1) {
            w = write(queue.fd, rte_pktmbuf_mtod(m, const void*), m->data_len);
        } else if (m->nb_segs <= kMaxSegments) {
            // One writev for the whole chain: TUN takes each call as one packet.
            iovec iov[kMaxSegments];
            int segments = 0;
            for (const rte_mbuf* s = m; s != nullptr; s = s->next) {
                iov[segments++] = {rte_pktmbuf_mtod(s, void*), s->data_len};
            }
            w = writev(queue.fd, iov, segments);
        } else {
            w = -1;
        }
        if (w == static_cast<ssize_t>(len)) {
            ++sent;
            bytes += len;
        }
    }
    rte_pktmbuf_free_bulk(pkts, n);
    if (sent) {
        queue.tx_packets.add(sent);
        queue.tx_bytes.add(bytes);
    }
    if (sent != n) queue.tx_errors.add(n - sent);
    return sent;
}

int TunPort::wait_fd(uint16_t q) const noexcept {
    return q < queue_count_ ? queues_[q].fd : -1;
}

PortStats TunPort::stats() const noexcept {
    PortStats s;
    for (uint16_t q = 0; q < queue_count_; ++q) {
        const Queue& queue = queues_[q];
        s.rx_packets += queue.rx_packets.get();
        s.rx_bytes += queue.rx_bytes.get();
        s.rx_errors += queue.rx_errors.get();
        s.rx_no_mbuf += queue.rx_no_mbuf.get();
        s.tx_packets += queue.tx_packets.get();
        s.tx_bytes += queue.tx_bytes.get();
        s.tx_errors += queue.tx_errors.get();
    }
    s.tx_errors += tx_bad_queue_.load(std::memory_order_relaxed);
    return s;
}

}  // namespace sluice
