// The TUN port and the rtnetlink client against the real kernel. Every test
// runs in a network namespace of its own: the fixture unshares one for the
// test thread and goes back to the original afterwards, so the namespace, and
// every device in it, dies with the test and nothing reaches the host. Needs
// root (CAP_NET_ADMIN and CAP_SYS_ADMIN for unshare); skipped otherwise.
#include "drivers/kernel/tun_port.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <optional>
#include <vector>

#include "drivers/eal.hpp"
#include "drivers/kernel/netlink.hpp"
#include "tests/unit/eal_environment.hpp"

namespace sluice {
namespace {

// ---- EAL, once per process ---------------------------------------------------

// Only as root (every test skips otherwise); the tests report a failed start.
const EalEnvironment* const g_eal = EalEnvironment::add("tun-port-test", 128, true);

// A pktmbuf pool without a per-lcore cache, so that what the test counts is
// exactly what the pool holds.
struct Pool {
    explicit Pool(unsigned size, uint16_t data_room = RTE_MBUF_DEFAULT_BUF_SIZE) {
        static int serial = 0;
        const std::string name = "tun_test_" + std::to_string(serial++);
        pool = rte_pktmbuf_pool_create(name.c_str(), size, 0, 0, data_room, SOCKET_ID_ANY);
    }
    ~Pool() { rte_mempool_free(pool); }
    Pool(const Pool&) = delete;
    Pool& operator=(const Pool&) = delete;
    [[nodiscard]] unsigned available() const { return rte_mempool_avail_count(pool); }
    rte_mempool* pool = nullptr;
};

rte_mbuf* to_mbuf(rte_mempool* pool, const std::vector<uint8_t>& bytes);

IpPrefix prefix(const char* text) {
    auto p = parse_ip_prefix(text);
    EXPECT_TRUE(p.has_value()) << text;
    return p.value_or(IpPrefix{});
}

// ---- the fixture: root, /dev/net/tun and a namespace of our own -----------------

class TunPortTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (geteuid() != 0) GTEST_SKIP() << "needs root for TUN devices and network namespaces";
        if (access("/dev/net/tun", R_OK | W_OK) != 0) {
            GTEST_SKIP() << "/dev/net/tun is not usable: " << std::strerror(errno);
        }
        ASSERT_TRUE(g_eal->started()) << g_eal->error();
        original_netns_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        ASSERT_GE(original_netns_, 0) << std::strerror(errno);
        if (unshare(CLONE_NEWNET) != 0) {
            GTEST_SKIP() << "cannot make a network namespace: " << std::strerror(errno);
        }
        std::string error;
        nl_ = Netlink::open(&error);
        ASSERT_NE(nl_, nullptr) << error;
        pool_ = std::make_unique<Pool>(1023);
        ASSERT_NE(pool_->pool, nullptr);
    }

    void TearDown() override {
        nl_.reset();
        pool_.reset();
        if (original_netns_ >= 0) {
            // Leaving the namespace drops its last reference (the test's
            // ports and sockets are gone by now): the kernel removes it.
            EXPECT_EQ(setns(original_netns_, CLONE_NEWNET), 0) << std::strerror(errno);
            close(original_netns_);
        }
    }

    // A per-namespace sysctl (/proc/sys/net is the opener's namespace).
    static bool write_sysctl(const std::string& path, const char* value) {
        FILE* f = std::fopen(("/proc/sys/net/" + path).c_str(), "w");
        if (!f) return false;
        const bool ok = std::fputs(value, f) >= 0;
        return std::fclose(f) == 0 && ok;
    }

    // The kernel gives a TUN an IPv6 link-local address and sends router
    // solicitations and MLD reports out of it; tests that count every packet
    // turn IPv6 off for interfaces made after this call.
    static void disable_ipv6_on_new_interfaces() {
        // Without IPv6 in the kernel there is no chatter to quiet.
        (void)write_sysctl("ipv6/conf/default/disable_ipv6", "1");
    }

    // The configuration most tests use: sl0 on the test's pool.
    TunPortConfig sl0(std::initializer_list<const char*> addresses, uint16_t queues = 1) {
        TunPortConfig o;
        o.name = "sl0";
        o.queues = queues;
        for (const char* a : addresses) o.addresses.push_back(prefix(a));
        o.pool = pool_->pool;
        return o;
    }

    std::unique_ptr<TunPort> make_port(const TunPortConfig& o) {
        std::string error;
        auto port = TunPort::create(o, &error);
        EXPECT_NE(port, nullptr) << error;
        return port;
    }

    // One packet through tx_burst on queue q; what tx_burst returned.
    uint16_t transmit(TunPort& port, uint16_t q, const std::vector<uint8_t>& packet) {
        rte_mbuf* m = to_mbuf(pool_->pool, packet);
        EXPECT_NE(m, nullptr);
        return m ? port.tx_burst(q, &m, 1) : 0;
    }

    int original_netns_ = -1;
    std::unique_ptr<Netlink> nl_;
    std::unique_ptr<Pool> pool_;
};

bool contains(const std::vector<IpPrefix>& list, const IpPrefix& p) {
    return std::find(list.begin(), list.end(), p) != list.end();
}

// ---- packets -------------------------------------------------------------------

// RFC 1071 one's-complement sum, folded; `sum` carries a pseudo-header's part.
uint16_t checksum(const uint8_t* data, size_t len, uint32_t sum = 0) {
    for (size_t i = 0; i + 1 < len; i += 2) sum += uint32_t{data[i]} << 8 | data[i + 1];
    if (len & 1) sum += uint32_t{data[len - 1]} << 8;
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<uint16_t>(~sum);
}

void put16(uint8_t* p, uint16_t v) {
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
}
uint16_t get16(const uint8_t* p) {
    return static_cast<uint16_t>(p[0] << 8 | p[1]);
}

constexpr uint16_t kEchoId = 0x5c1e;

// An ICMP echo request of `total` bytes (IP header included) with a payload
// that says where each byte sits.
std::vector<uint8_t> icmp4_echo_request(const IpAddress& src, const IpAddress& dst, uint16_t seq,
                                        size_t total = 84) {
    std::vector<uint8_t> p(total);
    p[0] = 0x45;
    put16(&p[2], static_cast<uint16_t>(total));
    put16(&p[4], seq);  // identification
    p[8] = 64;          // TTL
    p[9] = IPPROTO_ICMP;
    std::memcpy(&p[12], src.addr.data(), 4);
    std::memcpy(&p[16], dst.addr.data(), 4);
    put16(&p[10], checksum(p.data(), 20));
    uint8_t* icmp = &p[20];
    icmp[0] = 8;  // echo request
    put16(&icmp[4], kEchoId);
    put16(&icmp[6], seq);
    for (size_t i = 28; i < total; ++i) p[i] = static_cast<uint8_t>(i);
    put16(&icmp[2], checksum(icmp, total - 20));
    return p;
}

// ICMPv6's checksum covers a pseudo-header: source, destination, upper-layer
// length and next header (RFC 8200 §8.1).
uint16_t icmp6_checksum(const uint8_t* ip6) {
    const uint16_t payload = get16(&ip6[4]);
    uint32_t sum = 0;
    for (int i = 8; i < 40; i += 2) sum += get16(&ip6[i]);
    sum += payload;
    sum += IPPROTO_ICMPV6;
    return checksum(&ip6[40], payload, sum);
}

std::vector<uint8_t> icmp6_echo_request(const IpAddress& src, const IpAddress& dst, uint16_t seq) {
    constexpr size_t kPayload = 56;
    std::vector<uint8_t> p(40 + 8 + kPayload);
    p[0] = 0x60;
    put16(&p[4], 8 + kPayload);
    p[6] = IPPROTO_ICMPV6;
    p[7] = 64;  // hop limit
    std::memcpy(&p[8], src.addr.data(), 16);
    std::memcpy(&p[24], dst.addr.data(), 16);
    uint8_t* icmp = &p[40];
    icmp[0] = 128;  // echo request
    put16(&icmp[4], kEchoId);
    put16(&icmp[6], seq);
    for (size_t i = 48; i < p.size(); ++i) p[i] = static_cast<uint8_t>(i);
    put16(&icmp[2], icmp6_checksum(p.data()));
    return p;
}

rte_mbuf* to_mbuf(rte_mempool* pool, const std::vector<uint8_t>& bytes) {
    rte_mbuf* m = rte_pktmbuf_alloc(pool);
    if (!m) return nullptr;
    char* data = rte_pktmbuf_append(m, static_cast<uint16_t>(bytes.size()));
    if (!data) {
        rte_pktmbuf_free(m);
        return nullptr;
    }
    std::memcpy(data, bytes.data(), bytes.size());
    return m;
}

std::vector<uint8_t> bytes_of(const rte_mbuf* m) {
    const auto* p = rte_pktmbuf_mtod(m, const uint8_t*);
    return {p, p + rte_pktmbuf_data_len(m)};
}

struct Received {
    std::vector<uint8_t> packet;
    uint16_t queue = 0;
};

// Waits on every queue's fd (poll, bounded by `timeout`) and drains what
// arrives until `count` packets that `match` accepts have come; packets it
// does not accept (the kernel's own IPv6 chatter) are dropped. Returns what
// came in time, in order of arrival.
std::vector<Received> receive_matching(
    TunPort& port, const std::function<bool(const uint8_t*, size_t)>& match, size_t count,
    std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    std::vector<Received> found;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::vector<pollfd> fds;
    for (uint16_t q = 0; q < port.queue_count(); ++q) fds.push_back({port.wait_fd(q), POLLIN, 0});
    while (found.size() < count) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        if (poll(fds.data(), fds.size(), static_cast<int>(left.count())) <= 0) continue;
        for (uint16_t q = 0; q < port.queue_count(); ++q) {
            if (!(fds[q].revents & POLLIN)) continue;
            rte_mbuf* pkts[32];
            const uint16_t n = port.rx_burst(q, pkts, 32);
            for (uint16_t i = 0; i < n; ++i) {
                const auto* data = rte_pktmbuf_mtod(pkts[i], const uint8_t*);
                if (found.size() < count && match(data, rte_pktmbuf_data_len(pkts[i]))) {
                    found.push_back(Received{bytes_of(pkts[i]), q});
                }
            }
            rte_pktmbuf_free_bulk(pkts, n);
        }
    }
    return found;
}

std::optional<Received> receive_one(TunPort& port,
                                    const std::function<bool(const uint8_t*, size_t)>& match) {
    auto found = receive_matching(port, match, 1);
    if (found.empty()) return std::nullopt;
    return std::move(found.front());
}

bool is_icmp4_echo_reply(const uint8_t* p, size_t len, uint16_t seq) {
    return len >= 28 && (p[0] >> 4) == 4 && p[9] == IPPROTO_ICMP && p[20] == 0 &&
           get16(&p[24]) == kEchoId && get16(&p[26]) == seq;
}

bool is_icmp6_echo_reply(const uint8_t* p, size_t len, uint16_t seq) {
    return len >= 48 && (p[0] >> 4) == 6 && p[6] == IPPROTO_ICMPV6 && p[40] == 129 &&
           get16(&p[44]) == kEchoId && get16(&p[46]) == seq;
}

// A UDP datagram to `dst` from a socket of this namespace; the kernel routes
// it into the TUN, where a queue's reader finds it.
bool send_udp(const char* dst, uint16_t port, const std::string& payload) {
    const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    inet_pton(AF_INET, dst, &to.sin_addr);
    const ssize_t n =
        sendto(fd, payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
    close(fd);
    return n == static_cast<ssize_t>(payload.size());
}

bool is_udp_to(const uint8_t* p, size_t len, uint16_t port) {
    return len >= 28 && (p[0] >> 4) == 4 && p[9] == IPPROTO_UDP && get16(&p[22]) == port;
}

// Interface flags and MTU through the classic ioctls, a second opinion
// beside rtnetlink.
struct LinkState {
    int flags = 0;
    int mtu = 0;
};
std::optional<LinkState> link_state(const char* name) {
    const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return std::nullopt;
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    LinkState s;
    bool ok = ioctl(fd, SIOCGIFFLAGS, &ifr) == 0;
    s.flags = ifr.ifr_flags;
    ok = ok && ioctl(fd, SIOCGIFMTU, &ifr) == 0;
    s.mtu = ifr.ifr_mtu;
    close(fd);
    return ok ? std::optional(s) : std::nullopt;
}

std::string run(const std::string& command) {
    std::string out;
    FILE* p = popen(command.c_str(), "r");
    if (!p) return out;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    pclose(p);
    return out;
}

// ---- tests ---------------------------------------------------------------------

TEST_F(TunPortTest, CreatesAMultiQueueTunWithMtuAndAddresses) {
    auto port = make_port(sl0({"10.77.0.1/24", "fd77::1/64"}, 2));
    ASSERT_NE(port, nullptr);

    EXPECT_EQ(port->name(), "sl0");
    EXPECT_EQ(port->kind(), PortKind::l3_tun);
    EXPECT_EQ(port->queue_count(), 2);
    EXPECT_FALSE(port->keeps_device());
    EXPECT_TRUE(port->created_device());
    EXPECT_EQ(port->describe(),
              "TUN sl0: ifindex " + std::to_string(port->ifindex()) +
                  ", 2 queues, mtu 1420, 10.77.0.1/24 fd77::1/64, created, removed on exit");
    EXPECT_GE(port->wait_fd(0), 0);
    EXPECT_GE(port->wait_fd(1), 0);
    EXPECT_NE(port->wait_fd(0), port->wait_fd(1)) << "one descriptor per queue";
    EXPECT_EQ(port->wait_fd(2), -1);
    EXPECT_EQ(port->ifindex(), static_cast<int>(if_nametoindex("sl0")));

    // What the device is, asked of each queue's descriptor.
    for (uint16_t q = 0; q < 2; ++q) {
        ifreq ifr{};
        ASSERT_EQ(ioctl(port->wait_fd(q), TUNGETIFF, &ifr), 0) << std::strerror(errno);
        EXPECT_STREQ(ifr.ifr_name, "sl0");
        EXPECT_EQ(ifr.ifr_flags & (IFF_TUN | IFF_TAP), IFF_TUN);
        EXPECT_TRUE(ifr.ifr_flags & IFF_NO_PI);
        EXPECT_TRUE(ifr.ifr_flags & IFF_MULTI_QUEUE);
        EXPECT_FALSE(ifr.ifr_flags & IFF_PERSIST) << "removed with the port unless kept";
        EXPECT_TRUE(fcntl(port->wait_fd(q), F_GETFL) & O_NONBLOCK);
    }

    const auto state = link_state("sl0");
    ASSERT_TRUE(state.has_value());
    EXPECT_EQ(state->mtu, 1420);
    EXPECT_TRUE(state->flags & IFF_UP);

    std::vector<IpPrefix> addresses;
    const NetlinkStatus listed = nl_->list_addresses("sl0", &addresses);
    ASSERT_TRUE(listed.ok()) << listed.message;
    EXPECT_TRUE(contains(addresses, prefix("10.77.0.1/24")));
    EXPECT_TRUE(contains(addresses, prefix("fd77::1/64")));
    // Nothing from another interface slipped through the dump's filter.
    EXPECT_FALSE(contains(addresses, prefix("127.0.0.1/8")));
    // Both addresses are live when create() returns: IPv6 needs a moment
    // after the link comes up, and create() waits for it.
    for (const char* own : {"10.77.0.1/32", "fd77::1/128"}) {
        Netlink::RouteLookup route;
        const NetlinkStatus looked = nl_->lookup_route(prefix(own).address(), &route);
        ASSERT_TRUE(looked.ok()) << looked.message;
        EXPECT_TRUE(route.local) << own;
    }

    if (run("command -v ip").empty()) {
        std::printf("ip(8) not installed: the iproute2 cross-check is left out\n");
        return;
    }
    const std::string json = run("ip -j addr show dev sl0 2>&1");
    EXPECT_NE(json.find("\"mtu\":1420"), std::string::npos) << json;
    EXPECT_NE(json.find("\"local\":\"10.77.0.1\",\"prefixlen\":24"), std::string::npos) << json;
    EXPECT_NE(json.find("\"local\":\"fd77::1\",\"prefixlen\":64"), std::string::npos) << json;
}

TEST_F(TunPortTest, KernelAnswersAnIcmpEchoWrittenToTheTun) {
    auto port = make_port(sl0({"10.77.0.1/24"}, 2));
    ASSERT_NE(port, nullptr);

    const IpAddress peer = prefix("10.77.0.2/32").address();
    const IpAddress self = prefix("10.77.0.1/32").address();
    const auto request = icmp4_echo_request(peer, self, 1);
    ASSERT_EQ(transmit(*port, 0, request), 1);

    const auto reply = receive_one(
        *port, [](const uint8_t* p, size_t len) { return is_icmp4_echo_reply(p, len, 1); });
    ASSERT_TRUE(reply.has_value()) << "no echo reply from the kernel within 5 s";
    const auto& r = reply->packet;
    ASSERT_EQ(r.size(), request.size());
    EXPECT_EQ(std::memcmp(&r[12], self.addr.data(), 4), 0) << "from the TUN's address";
    EXPECT_EQ(std::memcmp(&r[16], peer.addr.data(), 4), 0) << "to the sender";
    EXPECT_EQ(checksum(r.data(), 20), 0) << "IPv4 header checksum";
    EXPECT_EQ(checksum(&r[20], r.size() - 20), 0) << "ICMP checksum";
    EXPECT_TRUE(std::equal(r.begin() + 28, r.end(), request.begin() + 28)) << "payload echoed";

    const PortStats s = port->stats();
    EXPECT_EQ(s.tx_packets, 1u);
    EXPECT_EQ(s.tx_bytes, request.size());
    EXPECT_EQ(s.tx_errors, 0u);
    EXPECT_GE(s.rx_packets, 1u);
    EXPECT_GE(s.rx_bytes, r.size());
    EXPECT_EQ(s.rx_no_mbuf, 0u);
    EXPECT_EQ(pool_->available(), 1023u) << "every mbuf back in the pool";
}

TEST_F(TunPortTest, KernelAnswersAnIcmpv6EchoWrittenToTheTun) {
    auto port = make_port(sl0({"fd77::1/64"}, 2));
    ASSERT_NE(port, nullptr);

    const IpAddress peer = prefix("fd77::2/128").address();
    const IpAddress self = prefix("fd77::1/128").address();
    const auto request = icmp6_echo_request(peer, self, 7);
    ASSERT_EQ(icmp6_checksum(request.data()), 0) << "a packet carrying its checksum sums to 0";
    // The second queue this time: any queue feeds the same stack.
    ASSERT_EQ(transmit(*port, 1, request), 1);

    const auto reply = receive_one(
        *port, [](const uint8_t* p, size_t len) { return is_icmp6_echo_reply(p, len, 7); });
    ASSERT_TRUE(reply.has_value()) << "no ICMPv6 echo reply from the kernel within 5 s";
    const auto& r = reply->packet;
    ASSERT_EQ(r.size(), request.size());
    EXPECT_EQ(std::memcmp(&r[8], self.addr.data(), 16), 0);
    EXPECT_EQ(std::memcmp(&r[24], peer.addr.data(), 16), 0);
    EXPECT_EQ(icmp6_checksum(r.data()), 0) << "ICMPv6 checksum over the pseudo-header";
    EXPECT_TRUE(std::equal(r.begin() + 48, r.end(), request.begin() + 48));
    EXPECT_EQ(port->stats().tx_packets, 1u);
    EXPECT_EQ(port->stats().tx_errors, 0u);
}

// TUN does not hold a written packet to the MTU: the packet enters the stack
// as if it had arrived, so a 2000 B echo request on a 1420 B link is answered.
// The answer leaves through the TUN as IPv4 fragments, none larger than the MTU
// (the kernel's ICMP replies do not set DF). What TUN does refuse is a packet
// that is neither IPv4 nor IPv6: that write fails with EINVAL and is counted.
TEST_F(TunPortTest, OversizedWritesAreAcceptedAndNonIpWritesCounted) {
    auto port = make_port(sl0({"10.77.0.1/24"}));
    ASSERT_NE(port, nullptr);

    const IpAddress peer = prefix("10.77.0.2/32").address();
    const IpAddress self = prefix("10.77.0.1/32").address();
    const auto big = icmp4_echo_request(peer, self, 2, 2000);
    std::vector<uint8_t> not_ip(64, 0);  // version nibble 0
    rte_mbuf* pkts[2] = {to_mbuf(pool_->pool, big), to_mbuf(pool_->pool, not_ip)};
    ASSERT_NE(pkts[0], nullptr);
    ASSERT_NE(pkts[1], nullptr);
    EXPECT_EQ(port->tx_burst(0, pkts, 2), 1);
    PortStats s = port->stats();
    EXPECT_EQ(s.tx_packets, 1u) << "the oversized packet was accepted";
    EXPECT_EQ(s.tx_bytes, big.size());
    EXPECT_EQ(s.tx_errors, 1u) << "the non-IP packet was refused";
    EXPECT_EQ(pool_->available(), 1023u) << "tx_burst freed both, sent or not";

    // The reply, from the TUN's address back to the sender, in two fragments.
    auto fragments = receive_matching(
        *port,
        [&](const uint8_t* p, size_t len) {
            return len >= 20 && (p[0] >> 4) == 4 && p[9] == IPPROTO_ICMP &&
                   std::memcmp(&p[12], self.addr.data(), 4) == 0 &&
                   std::memcmp(&p[16], peer.addr.data(), 4) == 0;
        },
        2);
    ASSERT_EQ(fragments.size(), 2u) << "no complete reply to the oversized request";
    // By fragment offset: nothing promises the order they are read in.
    std::sort(fragments.begin(), fragments.end(), [](const Received& a, const Received& b) {
        return (get16(&a.packet[6]) & 0x1fff) < (get16(&b.packet[6]) & 0x1fff);
    });
    const auto& first = fragments[0].packet;
    const auto& last = fragments[1].packet;
    EXPECT_TRUE(is_icmp4_echo_reply(first.data(), first.size(), 2));
    EXPECT_EQ(get16(&first[6]) & 0x3fff, 0x2000) << "first fragment: more fragments, offset 0";
    EXPECT_EQ(get16(&last[6]) & 0x2000, 0) << "the last fragment has MF clear";
    EXPECT_EQ(get16(&first[4]), get16(&last[4])) << "one datagram";
    EXPECT_EQ(fragments[0].queue, fragments[1].queue) << "one flow, one queue";
    for (const auto& f : fragments) EXPECT_LE(f.packet.size(), 1420u) << "within the MTU";
    const size_t reply_bytes = size_t{get16(&last[6]) & 0x1fffu} * 8 + last.size() - 20;
    EXPECT_EQ(reply_bytes, big.size() - 20) << "the fragments add up to the whole reply";
}

TEST_F(TunPortTest, AnEmptyPoolCountsRxNoMbufAndLeavesPacketsInTheKernel) {
    disable_ipv6_on_new_interfaces();
    Pool tiny(8);
    ASSERT_NE(tiny.pool, nullptr);
    TunPortConfig o = sl0({"10.77.0.1/24"});
    o.pool = tiny.pool;
    auto port = make_port(o);
    ASSERT_NE(port, nullptr);

    rte_mbuf* pkts[4];
    EXPECT_EQ(port->rx_burst(0, pkts, 4), 0) << "nothing sent yet";
    EXPECT_EQ(tiny.available(), 8u) << "unused mbufs go back";
    EXPECT_EQ(port->stats().rx_no_mbuf, 0u) << "an empty queue is no shortage";

    rte_mbuf* held[8];
    ASSERT_EQ(rte_pktmbuf_alloc_bulk(tiny.pool, held, 8), 0);
    for (int i = 0; i < 3; ++i)
        ASSERT_TRUE(send_udp("10.77.0.2", 9, "datagram " + std::to_string(i)));
    pollfd p{port->wait_fd(0), POLLIN, 0};
    ASSERT_EQ(poll(&p, 1, 5000), 1) << "the datagrams did not reach the TUN";

    EXPECT_EQ(port->rx_burst(0, pkts, 4), 0);
    EXPECT_EQ(port->stats().rx_no_mbuf, 1u);

    // One mbuf back: one packet in, two still waiting, the shortage counted again.
    rte_pktmbuf_free(held[0]);
    ASSERT_EQ(port->rx_burst(0, pkts, 4), 1);
    EXPECT_TRUE(
        is_udp_to(rte_pktmbuf_mtod(pkts[0], const uint8_t*), rte_pktmbuf_data_len(pkts[0]), 9));
    rte_pktmbuf_free(pkts[0]);
    EXPECT_EQ(port->stats().rx_no_mbuf, 2u);

    // The pool refilled: the two left in the kernel arrive, in order.
    rte_pktmbuf_free_bulk(held + 1, 7);
    ASSERT_EQ(port->rx_burst(0, pkts, 4), 2);
    for (int i = 0; i < 2; ++i) {
        const auto bytes = bytes_of(pkts[i]);
        ASSERT_TRUE(is_udp_to(bytes.data(), bytes.size(), 9));
        EXPECT_EQ(std::string(bytes.begin() + 28, bytes.end()),
                  "datagram " + std::to_string(i + 1));
    }
    rte_pktmbuf_free_bulk(pkts, 2);
    const PortStats s = port->stats();
    EXPECT_EQ(s.rx_no_mbuf, 2u) << "a queue drained with mbufs to spare is no shortage";
    EXPECT_EQ(s.rx_packets, 3u);
    EXPECT_EQ(s.rx_errors, 0u);
    EXPECT_EQ(tiny.available(), 8u);

    // A dry pool in front of an empty queue leaves nothing behind: no count.
    ASSERT_EQ(rte_pktmbuf_alloc_bulk(tiny.pool, held, 8), 0);
    EXPECT_EQ(port->rx_burst(0, pkts, 4), 0);
    EXPECT_EQ(port->stats().rx_no_mbuf, 2u);
    rte_pktmbuf_free_bulk(held, 8);
}

// The MTU raised behind the port's back past its mbufs: the kernel sends a
// packet the mbuf cannot hold, read() reports it truncated, and the port
// drops it into rx_errors and goes on with the next one in the same mbuf.
TEST_F(TunPortTest, PacketsLargerThanAnMbufAreDroppedAndCounted) {
    disable_ipv6_on_new_interfaces();
    Pool small(64, RTE_PKTMBUF_HEADROOM + 1500);
    ASSERT_NE(small.pool, nullptr);
    TunPortConfig o = sl0({"10.77.0.1/24"});
    o.pool = small.pool;
    auto port = make_port(o);
    ASSERT_NE(port, nullptr);
    ASSERT_TRUE(nl_->set_mtu("sl0", 9000).ok());

    ASSERT_TRUE(send_udp("10.77.0.2", 9, std::string(3000, 'x')));
    ASSERT_TRUE(send_udp("10.77.0.2", 9, "small"));
    pollfd p{port->wait_fd(0), POLLIN, 0};
    ASSERT_EQ(poll(&p, 1, 5000), 1) << "the datagrams did not reach the TUN";
    rte_mbuf* pkts[4];
    ASSERT_EQ(port->rx_burst(0, pkts, 4), 1);
    const auto bytes = bytes_of(pkts[0]);
    rte_pktmbuf_free(pkts[0]);
    EXPECT_EQ(bytes.size(), 20u + 8 + 5) << "the small one, whole";
    const PortStats s = port->stats();
    EXPECT_EQ(s.rx_errors, 1u) << "the 3028 B packet, truncated";
    EXPECT_EQ(s.rx_packets, 1u);
    EXPECT_EQ(small.available(), 64u);
}

TEST_F(TunPortTest, NetlinkErrorsAreOneLineWithTheErrnoText) {
    auto port = make_port(sl0({"10.77.0.1/24"}));
    ASSERT_NE(port, nullptr);

    const auto starts_with = [](const std::string& s, const std::string& head) {
        return s.rfind(head, 0) == 0 && s.find('\n') == std::string::npos;
    };
    NetlinkStatus s = nl_->add_address("sl0", prefix("10.77.0.1/24"));
    EXPECT_EQ(s.error, EEXIST);
    EXPECT_TRUE(starts_with(s.message, "add 10.77.0.1/24 to sl0: File exists")) << s.message;
    EXPECT_TRUE(nl_->add_address("sl0", prefix("10.77.0.1/24"), AddressMode::replace).ok())
        << "replace accepts an address that is there";

    s = nl_->add_address("nosuch0", prefix("10.77.0.1/24"));
    EXPECT_EQ(s.error, ENODEV);
    EXPECT_EQ(s.message, "add 10.77.0.1/24 to nosuch0: No such device");
    s = nl_->set_mtu(9999, 1420);
    EXPECT_EQ(s.error, ENODEV);
    EXPECT_EQ(s.message, "set mtu 1420 on ifindex 9999: No such device");
    s = nl_->set_link_up("sl0-but-far-too-long", true);
    EXPECT_EQ(s.error, ENODEV);
    EXPECT_EQ(s.message, "set sl0-but-far-too-long up: No such device");

    s = nl_->delete_address("sl0", prefix("10.77.0.9/24"));
    EXPECT_EQ(s.error, EADDRNOTAVAIL);
    EXPECT_TRUE(starts_with(s.message, "delete 10.77.0.9/24 from sl0: Cannot assign requested"))
        << s.message;
    s = nl_->set_mtu(port->ifindex(), 20);
    EXPECT_EQ(s.error, EINVAL);
    EXPECT_TRUE(starts_with(s.message, "set mtu 20 on sl0: Invalid argument")) << s.message;

    s = nl_->add_route(prefix("10.88.0.0/16"), "sl0");
    ASSERT_TRUE(s.ok()) << s.message;
    s = nl_->add_route(prefix("10.88.1.2/16"), "sl0");  // host bits cleared: the same route
    EXPECT_EQ(s.error, EEXIST);
    EXPECT_TRUE(starts_with(s.message, "add route 10.88.0.0/16 dev sl0: File exists")) << s.message;
    EXPECT_TRUE(nl_->delete_route(prefix("10.88.0.0/16"), "sl0").ok());
    s = nl_->delete_route(prefix("10.88.0.0/16"), "sl0");
    EXPECT_EQ(s.error, ESRCH);
    EXPECT_TRUE(starts_with(s.message, "delete route 10.88.0.0/16 dev sl0: No such process"))
        << s.message;
}

TEST_F(TunPortTest, NetlinkChangesWhatTheKernelDoes) {
    disable_ipv6_on_new_interfaces();
    auto port = make_port(sl0({}));
    ASSERT_NE(port, nullptr);

    // Addresses come and go in the kernel's listing.
    std::vector<IpPrefix> addresses;
    ASSERT_TRUE(nl_->list_addresses(port->ifindex(), &addresses).ok());
    EXPECT_TRUE(addresses.empty());
    ASSERT_TRUE(nl_->add_address("sl0", prefix("10.77.0.1/24")).ok());
    ASSERT_TRUE(nl_->add_address("sl0", prefix("10.78.0.1/16")).ok());
    ASSERT_TRUE(nl_->delete_address("sl0", prefix("10.77.0.1/24")).ok());
    ASSERT_TRUE(nl_->list_addresses("sl0", &addresses).ok());
    EXPECT_EQ(addresses, std::vector<IpPrefix>{prefix("10.78.0.1/16")});

    // A route sends traffic into the TUN; without it the kernel has no way there.
    EXPECT_FALSE(send_udp("192.0.2.7", 4000, "unroutable")) << "no route yet";
    const IpAddress far = prefix("192.0.2.7/32").address();
    Netlink::RouteLookup route;
    NetlinkStatus s = nl_->lookup_route(far, &route);
    EXPECT_EQ(s.error, ENETUNREACH);
    EXPECT_EQ(s.message.rfind("look up the route to 192.0.2.7: Network is unreachable", 0), 0u)
        << s.message;
    s = nl_->add_route(prefix("192.0.2.0/24"), port->ifindex());
    ASSERT_TRUE(s.ok()) << s.message;
    ASSERT_TRUE(nl_->lookup_route(far, &route).ok());
    EXPECT_FALSE(route.local);
    EXPECT_EQ(route.oif, port->ifindex()) << "the route leads into the TUN";
    ASSERT_TRUE(nl_->lookup_route(prefix("10.78.0.1/32").address(), &route).ok());
    EXPECT_TRUE(route.local) << "the TUN's own address is delivered locally";
    ASSERT_TRUE(send_udp("192.0.2.7", 4000, "routed"));
    const auto got =
        receive_one(*port, [](const uint8_t* p, size_t len) { return is_udp_to(p, len, 4000); });
    ASSERT_TRUE(got.has_value()) << "the routed datagram did not come out of the TUN";
    EXPECT_EQ(std::memcmp(&got->packet[16], prefix("192.0.2.7/32").addr.data(), 4), 0);

    // Down and up again, and a new MTU, as the ioctls see them.
    ASSERT_TRUE(nl_->set_link_up("sl0", false).ok());
    EXPECT_FALSE(link_state("sl0")->flags & IFF_UP);
    ASSERT_TRUE(nl_->set_mtu("sl0", 1280).ok());
    ASSERT_TRUE(nl_->set_link_up(port->ifindex(), true).ok());
    EXPECT_TRUE(link_state("sl0")->flags & IFF_UP);
    EXPECT_EQ(link_state("sl0")->mtu, 1280);

    // The loopback of a fresh namespace has its addresses once it is up.
    ASSERT_TRUE(nl_->set_link_up("lo", true).ok());
    ASSERT_TRUE(nl_->list_addresses("lo", &addresses).ok());
    EXPECT_TRUE(contains(addresses, prefix("127.0.0.1/8")));
}

TEST_F(TunPortTest, DeviceGoesWithThePortUnlessKept) {
    TunPortConfig o = sl0({"10.77.0.1/24"}, 2);
    auto port = make_port(o);
    ASSERT_NE(port, nullptr);
    int index = 0;
    EXPECT_TRUE(nl_->link_index("sl0", &index).ok());
    EXPECT_EQ(index, port->ifindex());
    port.reset();
    NetlinkStatus s = nl_->link_index("sl0", &index);
    EXPECT_EQ(s.error, ENODEV) << "a non-persistent TUN goes with its last queue";

    // Kept: the device stays with its addresses, and the next port attaches
    // to it (the address already there is no error) and can still remove it.
    o.keep_device = true;
    port = make_port(o);
    ASSERT_NE(port, nullptr);
    EXPECT_TRUE(port->keeps_device());
    const int kept_index = port->ifindex();
    port.reset();
    ASSERT_TRUE(nl_->link_index("sl0", &index).ok()) << "kept after the port is gone";
    EXPECT_EQ(index, kept_index);
    std::vector<IpPrefix> addresses;
    ASSERT_TRUE(nl_->list_addresses("sl0", &addresses).ok());
    EXPECT_TRUE(contains(addresses, prefix("10.77.0.1/24")));

    // A failed attach leaves the kept device as it found it, persistent:
    // with IPv6 off on sl0, its IPv6 address is refused.
    ASSERT_TRUE(write_sysctl("ipv6/conf/sl0/disable_ipv6", "1"));
    o.keep_device = false;
    o.addresses = {prefix("10.77.0.1/24"), prefix("fd77::1/64")};
    std::string error;
    EXPECT_EQ(TunPort::create(o, &error), nullptr);
    EXPECT_NE(error.find("add fd77::1/64 to sl0: Permission denied"), std::string::npos) << error;
    ASSERT_TRUE(nl_->link_index("sl0", &index).ok()) << "the failed attach removed the device";
    EXPECT_EQ(index, kept_index);

    o.addresses = {prefix("10.77.0.1/24")};
    o.queues = 3;
    port = make_port(o);
    ASSERT_NE(port, nullptr);
    EXPECT_EQ(port->ifindex(), kept_index) << "attached, not created anew";
    EXPECT_FALSE(port->created_device());
    port.reset();
    EXPECT_EQ(nl_->link_index("sl0", &index).error, ENODEV);
}

TEST_F(TunPortTest, CreationErrorsSayWhatIsWrong) {
    TunPortConfig o = sl0({});
    std::string error;
    const auto fails = [&](const TunPortConfig& opt, const std::string& expected) {
        error.clear();
        auto port = TunPort::create(opt, &error);
        EXPECT_EQ(port, nullptr);
        EXPECT_NE(error.find(expected), std::string::npos) << error;
        EXPECT_EQ(error.find('\n'), std::string::npos) << error;
    };

    o.name = "";
    fails(o, "a TUN device needs a name");
    o.name = "sluice-lan-0123456";
    fails(o, "TUN name 'sluice-lan-0123456' is longer than 15 characters");
    o.name = "sl/0";
    fails(o, "contains '/'");
    o.name = "sl0";
    o.queues = 0;
    fails(o, "TUN sl0: 0 queues asked for; the kernel allows 1 to 256");
    o.queues = 1;
    o.pool = nullptr;
    fails(o, "TUN sl0: no mempool for receive");
    o.pool = pool_->pool;
    o.mtu = 9000;
    fails(o, "TUN sl0: MTU 9000 does not fit the 2048 B data room of mempool");
    o.mtu = 1000;
    o.addresses = {prefix("fd77::1/64")};
    fails(o, "MTU 1000 is below IPv6's minimum of 1280");
    o.mtu = 1420;
    o.addresses = {prefix("10.77.0.1/24")};
    EXPECT_EQ(if_nametoindex("sl0"), 0u) << "no failure above left a device behind";

    // A TUN of that name without IFF_MULTI_QUEUE, kept by IFF_PERSIST.
    const int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ifreq ifr{};
    std::strcpy(ifr.ifr_name, "sl0");
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    ASSERT_EQ(ioctl(fd, TUNSETIFF, &ifr), 0) << std::strerror(errno);
    ASSERT_EQ(ioctl(fd, TUNSETPERSIST, 1), 0);
    close(fd);
    fails(o,
          "TUN sl0: an interface of that name exists and is not a multi-queue TUN "
          "without packet information: Invalid argument");
    EXPECT_NE(if_nametoindex("sl0"), 0u) << "someone else's device is left alone";

    // An address the kernel refuses after the device was made (IPv6 is off
    // on new interfaces): the message names it, and the half-made device is
    // removed rather than left half configured.
    disable_ipv6_on_new_interfaces();
    o.name = "sl1";
    o.addresses = {prefix("10.77.0.1/24"), prefix("fd77::1/64")};
    error.clear();
    auto port = TunPort::create(o, &error);
    EXPECT_EQ(port, nullptr);
    EXPECT_EQ(error.rfind("TUN sl1: add fd77::1/64 to sl1: Permission denied", 0), 0u) << error;
    EXPECT_EQ(if_nametoindex("sl1"), 0u) << "the failed port left its device behind";
}

// Without CAP_NET_ADMIN no TUN can be made; a forked child drops the
// capability and reports the message it got through a pipe.
TEST_F(TunPortTest, CreationWithoutCapNetAdminIsRefusedClearly) {
    int out[2];
    ASSERT_EQ(pipe(out), 0);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        close(out[0]);
        __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
        __user_cap_data_struct caps[2]{};
        if (syscall(SYS_capget, &header, caps) != 0) _exit(2);
        caps[CAP_NET_ADMIN / 32].effective &= ~(1u << (CAP_NET_ADMIN % 32));
        if (syscall(SYS_capset, &header, caps) != 0) _exit(3);
        std::string error;
        auto port = TunPort::create(sl0({}), &error);
        if (port) _exit(4);
        (void)!write(out[1], error.data(), error.size());
        _exit(0);
    }
    close(out[1]);
    std::string message;
    char buf[512];
    ssize_t n;
    while ((n = read(out[0], buf, sizeof buf)) > 0) message.append(buf, static_cast<size_t>(n));
    close(out[0]);
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 0) << "2/3: capget/capset failed, 4: the TUN was created";
    EXPECT_EQ(message,
              "TUN sl0: not permitted to create the device (needs CAP_NET_ADMIN): "
              "Operation not permitted");
}

TEST_F(TunPortTest, BadQueueNumbersAreHarmless) {
    auto port = make_port(sl0({}));
    ASSERT_NE(port, nullptr);
    rte_mbuf* pkts[2];
    EXPECT_EQ(port->rx_burst(5, pkts, 2), 0);
    ASSERT_EQ(rte_pktmbuf_alloc_bulk(pool_->pool, pkts, 2), 0);
    EXPECT_EQ(port->tx_burst(5, pkts, 2), 0);
    EXPECT_EQ(port->stats().tx_errors, 2u);
    EXPECT_EQ(pool_->available(), 1023u) << "freed although no queue took them";
}

}  // namespace
}  // namespace sluice
