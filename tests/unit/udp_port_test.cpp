// The kernel driver's WAN port over loopback: two real UdpPorts (or plain
// sockets) sending to each other, byte-exact payloads and endpoints, GSO runs
// and their fallback, GRO splitting (also across bursts and a dry pool),
// SO_REUSEPORT queues, and the errors creation reports.
#include "drivers/kernel/udp_port.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "drivers/eal.hpp"
#include "drivers/mbuf_endpoint.hpp"
#include "tests/unit/eal_environment.hpp"

namespace sluice {
namespace {

// ---- EAL once per process ------------------------------------------------------

const EalEnvironment* const g_eal = EalEnvironment::add("udp-port-test", 256);

// ---- Helpers -------------------------------------------------------------------

class Pool {
public:
    explicit Pool(unsigned size, uint16_t data_room = RTE_MBUF_DEFAULT_BUF_SIZE) {
        static int counter = 0;
        const std::string name = "udp_test_" + std::to_string(counter++);
        // No per-lcore cache, so what the pool holds is exactly what it says.
        pool_ = rte_pktmbuf_pool_create(name.c_str(), size, 0, 0, data_room, SOCKET_ID_ANY);
    }
    ~Pool() {
        if (pool_ != nullptr) rte_mempool_free(pool_);
    }
    Pool(const Pool&) = delete;
    Pool& operator=(const Pool&) = delete;
    [[nodiscard]] rte_mempool* get() const { return pool_; }
    [[nodiscard]] unsigned in_use() const { return rte_mempool_in_use_count(pool_); }

private:
    rte_mempool* pool_ = nullptr;
};

MbufEndpoint endpoint(const char* address, uint16_t port) {
    MbufEndpoint ep;
    ep.port = port;
    if (inet_pton(AF_INET, address, ep.addr) == 1) {
        ep.family = 4;
    } else if (inet_pton(AF_INET6, address, ep.addr) == 1) {
        ep.family = 6;
    }
    return ep;
}

IpAddress address(const char* text) {
    auto a = parse_ip_address(text);
    EXPECT_TRUE(a.has_value()) << text;
    return a.value_or(IpAddress{});
}

using Bytes = std::vector<uint8_t>;

Bytes payload(size_t index, size_t size, uint8_t seed = 0) {
    Bytes b(size);
    for (size_t j = 0; j < size; ++j) b[j] = static_cast<uint8_t>(index * 131 + j * 7 + seed);
    return b;
}

std::vector<Bytes> payloads(const std::vector<size_t>& sizes, uint8_t seed = 0) {
    std::vector<Bytes> out;
    for (size_t i = 0; i < sizes.size(); ++i) out.push_back(payload(i, sizes[i], seed));
    return out;
}

std::vector<rte_mbuf*> make_packets(rte_mempool* pool, const std::vector<Bytes>& data,
                                    const MbufEndpoint& to) {
    std::vector<rte_mbuf*> pkts;
    for (const Bytes& d : data) {
        rte_mbuf* m = rte_pktmbuf_alloc(pool);
        EXPECT_NE(m, nullptr);
        if (m == nullptr) break;
        char* p = rte_pktmbuf_append(m, static_cast<uint16_t>(d.size()));
        EXPECT_TRUE(p != nullptr || d.empty());
        if (!d.empty()) std::memcpy(p, d.data(), d.size());
        *mbuf_endpoint(m) = to;
        pkts.push_back(m);
    }
    return pkts;
}

// Sends every payload in one tx_burst; returns what tx_burst returned.
uint16_t send(UdpPort& from, rte_mempool* pool, const std::vector<Bytes>& data,
              const MbufEndpoint& to, uint16_t queue = 0) {
    auto pkts = make_packets(pool, data, to);
    return from.tx_burst(queue, pkts.data(), static_cast<uint16_t>(pkts.size()));
}

struct Received {
    Bytes data;
    MbufEndpoint from;
    uint16_t queue = 0;
};

Received take(rte_mbuf* m, uint16_t queue) {
    Received r;
    EXPECT_EQ(m->nb_segs, 1);
    EXPECT_EQ(m->pkt_len, m->data_len);
    const auto* p = rte_pktmbuf_mtod(m, const uint8_t*);
    r.data.assign(p, p + m->data_len);
    r.from = *mbuf_endpoint(m);
    r.queue = queue;
    rte_pktmbuf_free(m);
    return r;
}

// Polls every queue until `expected` packets are in or two seconds passed,
// sleeping on the wait fds when nothing is held back.
std::vector<Received> receive(UdpPort& port, size_t expected, uint16_t burst = 32) {
    std::vector<Received> got;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (got.size() < expected && std::chrono::steady_clock::now() < deadline) {
        bool any = false;
        for (uint16_t q = 0; q < port.queue_count(); ++q) {
            rte_mbuf* pkts[64];
            const uint16_t n = port.rx_burst(q, pkts, burst);
            for (uint16_t i = 0; i < n; ++i) got.push_back(take(pkts[i], q));
            any = any || n > 0 || port.rx_pending(q);
        }
        if (any) continue;
        std::vector<pollfd> fds;
        for (uint16_t q = 0; q < port.queue_count(); ++q) {
            fds.push_back({port.wait_fd(q), POLLIN, 0});
        }
        (void)::poll(fds.data(), fds.size(), 50);
    }
    return got;
}

// Nothing more arrives: what was counted is all there was.
void expect_nothing_more(UdpPort& port) {
    for (uint16_t q = 0; q < port.queue_count(); ++q) {
        rte_mbuf* pkts[32];
        const uint16_t n = port.rx_burst(q, pkts, 32);
        EXPECT_EQ(n, 0) << "queue " << q;
        for (uint16_t i = 0; i < n; ++i) rte_pktmbuf_free(pkts[i]);
    }
}

void expect_payloads(const std::vector<Received>& got, const std::vector<Bytes>& sent,
                     const MbufEndpoint& from) {
    ASSERT_EQ(got.size(), sent.size());
    for (size_t i = 0; i < sent.size(); ++i) {
        EXPECT_EQ(got[i].data, sent[i]) << "packet " << i << " (" << sent[i].size() << " bytes)";
        EXPECT_EQ(got[i].from, from) << "packet " << i << " came from " << got[i].from.to_string();
    }
}

uint16_t bound_port(int fd) {
    sockaddr_storage a{};
    socklen_t len = sizeof a;
    EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
    return a.ss_family == AF_INET ? ntohs(reinterpret_cast<sockaddr_in*>(&a)->sin_port)
                                  : ntohs(reinterpret_cast<sockaddr_in6*>(&a)->sin6_port);
}

std::unique_ptr<UdpPort> open_port(UdpPortConfig c) {
    std::string error;
    auto port = UdpPort::create(c, &error);
    EXPECT_NE(port, nullptr) << error;
    return port;
}

// 32 sizes: the edges (1, 64, 1420, 1472) and a mix, with some neighbours
// equal so the sender also forms GSO runs.
const std::vector<size_t> kMixedSizes = {
    1,  64, 1420, 1472, 1420, 1420, 100, 100,  100,  80, 2, 1472, 512, 513,  64, 64,
    64, 64, 999,  3,    1400, 1400, 900, 1200, 1300, 1,  1, 1,    700, 1472, 60, 1420};

// Names the receiver's GRO setting in parameterized test names.
std::string gro_name(const ::testing::TestParamInfo<bool>& info) {
    return info.param ? "GroOn" : "GroOff";
}

class UdpPortTest : public ::testing::Test {
protected:
    void SetUp() override { ASSERT_TRUE(g_eal->started()) << "EAL did not start"; }
};

// ---- Two ports, both families ----------------------------------------------------

struct LoopbackCase {
    const char* loopback;  // where the peer is
    bool bind_loopback;    // bind to it, rather than the dual-stack any address
};

class LoopbackExchange : public UdpPortTest, public ::testing::WithParamInterface<LoopbackCase> {};

TEST_P(LoopbackExchange, MixedSizesBothWaysArriveIntactFromTheRightEndpoint) {
    const LoopbackCase& c = GetParam();
    Pool pool(1024);
    UdpPortConfig config;
    config.pool = pool.get();
    if (c.bind_loopback) config.bind_address = address(c.loopback);
    config.name = "a";
    auto a = open_port(config);
    config.name = "b";
    auto b = open_port(config);
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->kind(), PortKind::l3_udp);
    EXPECT_EQ(a->dual_stack(), !c.bind_loopback);
    const MbufEndpoint a_ep = endpoint(c.loopback, a->local_port());
    const MbufEndpoint b_ep = endpoint(c.loopback, b->local_port());

    const auto sent = payloads(kMixedSizes);
    ASSERT_EQ(sent.size(), 32u);
    EXPECT_EQ(send(*a, pool.get(), sent, b_ep), 32);
    const auto got = receive(*b, sent.size());
    expect_payloads(got, sent, a_ep);  // v4 through a dual-stack socket reads as family 4
    expect_nothing_more(*b);

    // Back the other way, from mbufs that carry the endpoint they came from:
    // what the decrypt-and-reply path will do.
    const auto reply = payloads(kMixedSizes, 0x5a);
    std::vector<rte_mbuf*> pkts = make_packets(pool.get(), reply, MbufEndpoint{});
    for (size_t i = 0; i < pkts.size(); ++i) *mbuf_endpoint(pkts[i]) = got[i].from;
    EXPECT_EQ(b->tx_burst(0, pkts.data(), static_cast<uint16_t>(pkts.size())), 32);
    expect_payloads(receive(*a, reply.size()), reply, b_ep);

    size_t bytes = 0;
    for (size_t s : kMixedSizes) bytes += s;
    EXPECT_EQ(a->stats().tx_packets, 32u);
    EXPECT_EQ(a->stats().tx_bytes, bytes);
    EXPECT_EQ(b->stats().rx_packets, 32u);
    EXPECT_EQ(b->stats().rx_bytes, bytes);
    EXPECT_EQ(a->stats().rx_packets, 32u);
    EXPECT_EQ(a->stats().tx_errors + b->stats().tx_errors, 0u);
    EXPECT_EQ(a->stats().rx_errors + b->stats().rx_errors, 0u);
    EXPECT_EQ(pool.in_use(), 0u) << "every mbuf went back to the pool";
}

INSTANTIATE_TEST_SUITE_P(Families, LoopbackExchange,
                         ::testing::Values(LoopbackCase{"127.0.0.1", false},
                                           LoopbackCase{"::1", false},
                                           LoopbackCase{"127.0.0.1", true},
                                           LoopbackCase{"::1", true}),
                         [](const auto& info) {
                             return std::string(info.param.loopback[0] == ':' ? "IPv6" : "IPv4") +
                                    (info.param.bind_loopback ? "Bound" : "DualStack");
                         });

// ---- GSO and GRO -----------------------------------------------------------------

class GsoToReceiver : public UdpPortTest, public ::testing::WithParamInterface<bool> {};

TEST_P(GsoToReceiver, RunOfEqualSizesGoesAsOneSendAndArrivesSplitByteExact) {
    const bool gro = GetParam();
    Pool pool(1024);
    UdpPortConfig config;
    config.pool = pool.get();
    auto a = open_port(config);
    config.gro = gro;
    auto b = open_port(config);
    ASSERT_TRUE(a && b);
    ASSERT_TRUE(a->gso_active(0)) << "this kernel has UDP_SEGMENT: " << a->gso_status(0);
    EXPECT_EQ(a->gso_status(0), "on");
    EXPECT_EQ(b->gro_active(0), gro) << b->gro_status(0);

    for (const char* host : {"127.0.0.1", "::1"}) {
        SCOPED_TRACE(host);
        const auto before_a = a->queue_stats(0);
        const auto before_b = b->queue_stats(0);
        // 31 full segments and a shorter last one: one run.
        std::vector<size_t> sizes(31, 1420);
        sizes.push_back(333);
        const auto sent = payloads(sizes, host[0] == ':' ? 1 : 2);
        EXPECT_EQ(send(*a, pool.get(), sent, endpoint(host, b->local_port())), 32);
        EXPECT_EQ(a->queue_stats(0).tx_gso_sends - before_a.tx_gso_sends, 1u);
        EXPECT_EQ(a->queue_stats(0).tx_gso_segments - before_a.tx_gso_segments, 32u);
        expect_payloads(receive(*b, sent.size()), sent, endpoint(host, a->local_port()));
        expect_nothing_more(*b);
        if (gro) {
            // Loopback hands the GSO packet whole to a GRO socket.
            EXPECT_EQ(b->queue_stats(0).rx_gro_reads - before_b.rx_gro_reads, 1u);
            EXPECT_EQ(b->queue_stats(0).rx_gro_segments - before_b.rx_gro_segments, 32u);
        } else {
            EXPECT_EQ(b->queue_stats(0).rx_gro_reads, 0u);
        }
    }
    EXPECT_TRUE(a->gso_active(0));
    EXPECT_EQ(a->stats().tx_errors, 0u);
    EXPECT_EQ(pool.in_use(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Gro, GsoToReceiver, ::testing::Bool(), gro_name);

TEST_F(UdpPortTest, GsoRunsNeedOneEndpointAndOneSizeWithOnlyTheLastShorter) {
    Pool pool(1024);
    UdpPortConfig config;
    config.pool = pool.get();
    auto a = open_port(config);
    auto b = open_port(config);
    auto c = open_port(config);
    ASSERT_TRUE(a && b && c);
    ASSERT_TRUE(a->gso_active(0));
    const MbufEndpoint to_b = endpoint("127.0.0.1", b->local_port());
    const MbufEndpoint to_c = endpoint("127.0.0.1", c->local_port());
    // Runs: [100 100 100 50] [200] [300 300] [300→c] [40] [60 60] [70 30] [70]
    const std::vector<size_t> sizes = {100, 100, 100, 50, 200, 300, 300,
                                       300, 40,  60,  60, 70,  30,  70};
    const auto data = payloads(sizes);
    auto pkts = make_packets(pool.get(), data, to_b);
    *mbuf_endpoint(pkts[7]) = to_c;
    EXPECT_EQ(a->tx_burst(0, pkts.data(), static_cast<uint16_t>(pkts.size())), sizes.size());
    EXPECT_EQ(a->queue_stats(0).tx_gso_sends, 4u);
    EXPECT_EQ(a->queue_stats(0).tx_gso_segments, 10u);

    auto for_b = data;
    for_b.erase(for_b.begin() + 7);
    expect_payloads(receive(*b, for_b.size()), for_b, endpoint("127.0.0.1", a->local_port()));
    expect_payloads(receive(*c, 1), {data[7]}, endpoint("127.0.0.1", a->local_port()));
    EXPECT_EQ(pool.in_use(), 0u);
}

TEST_F(UdpPortTest, GsoRefusedByTheKernelTurnsOffAndStillDelivers) {
    Pool pool(1024);
    UdpPortConfig config;
    config.pool = pool.get();
    auto b = open_port(config);
    config.test_gso_segment_size = 1;  // 32 × 1420 bytes > 64 segments of 1 byte
    auto a = open_port(config);
    ASSERT_TRUE(a && b);
    ASSERT_TRUE(a->gso_active(0));
    EXPECT_EQ(a->gso_off_errno(0), 0);

    const MbufEndpoint to_b = endpoint("::1", b->local_port());
    const auto first = payloads(std::vector<size_t>(32, 1420), 3);
    EXPECT_EQ(send(*a, pool.get(), first, to_b), 32);
    EXPECT_FALSE(a->gso_active(0));
    EXPECT_EQ(a->gso_off_errno(0), EINVAL);
    EXPECT_NE(a->gso_status(0).find("refused"), std::string::npos) << a->gso_status(0);
    EXPECT_EQ(a->queue_stats(0).tx_gso_sends, 0u);
    expect_payloads(receive(*b, first.size()), first, endpoint("::1", a->local_port()));

    // Later bursts go one by one from the start.
    const auto second = payloads(std::vector<size_t>(8, 1000), 4);
    EXPECT_EQ(send(*a, pool.get(), second, to_b), 8);
    expect_payloads(receive(*b, second.size()), second, endpoint("::1", a->local_port()));
    EXPECT_EQ(a->stats().tx_packets, 40u);
    EXPECT_EQ(a->stats().tx_errors, 0u);
    EXPECT_EQ(pool.in_use(), 0u);
}

TEST_F(UdpPortTest, GroReadLargerThanTheBurstIsHandedOutOverLaterBursts) {
    Pool pool(1024);
    UdpPortConfig config;
    config.pool = pool.get();
    auto a = open_port(config);
    auto b = open_port(config);
    ASSERT_TRUE(a && b);
    ASSERT_TRUE(b->gro_active(0));
    // Two GSO runs of 32 (a burst's worth each), then a lone datagram that
    // must come out after both.
    std::vector<size_t> sizes(64, 1000);
    sizes.push_back(7);
    const auto sent = payloads(sizes, 5);
    EXPECT_EQ(send(*a, pool.get(), sent, endpoint("127.0.0.1", b->local_port())), 65);
    EXPECT_EQ(a->queue_stats(0).tx_gso_sends, 2u);

    rte_mbuf* pkts[8];
    ASSERT_EQ(b->rx_burst(0, pkts, 8), 8);
    EXPECT_TRUE(b->rx_pending(0)) << "24 datagrams of the first read are held back";
    std::vector<Received> got;
    for (rte_mbuf* m : pkts) got.push_back(take(m, 0));
    for (auto& r : receive(*b, sent.size() - got.size(), 8)) got.push_back(std::move(r));
    EXPECT_FALSE(b->rx_pending(0));
    expect_payloads(got, sent, endpoint("127.0.0.1", a->local_port()));
    EXPECT_EQ(b->queue_stats(0).rx_gro_reads, 2u);
    EXPECT_EQ(b->queue_stats(0).rx_gro_segments, 64u);
    EXPECT_EQ(pool.in_use(), 0u);
}

// ---- A dry pool ------------------------------------------------------------------

class DryPool : public UdpPortTest, public ::testing::WithParamInterface<bool> {};

TEST_P(DryPool, BurstLargerThanTheFreeMbufsCountsNoMbufAndLosesNothing) {
    const bool gro = GetParam();
    Pool tx_pool(1024);
    Pool rx_pool(64);
    UdpPortConfig config;
    config.pool = tx_pool.get();
    auto a = open_port(config);
    config.pool = rx_pool.get();
    config.gro = gro;
    auto b = open_port(config);
    ASSERT_TRUE(a && b);

    // Leave 16 mbufs free in the receiver's pool.
    std::vector<rte_mbuf*> held(48);
    ASSERT_EQ(rte_pktmbuf_alloc_bulk(rx_pool.get(), held.data(), 48), 0);
    // Distinct sizes send one by one (no GSO); equal sizes make one GRO read.
    std::vector<size_t> sizes;
    for (size_t i = 0; i < 40; ++i) sizes.push_back(gro ? 500 : 100 + i);
    const auto sent = payloads(sizes, 6);
    const MbufEndpoint from = endpoint("127.0.0.1", a->local_port());
    EXPECT_EQ(send(*a, tx_pool.get(), sent, endpoint("127.0.0.1", b->local_port())), 40);

    rte_mbuf* pkts[32];
    const uint16_t first = b->rx_burst(0, pkts, 32);
    EXPECT_GT(first, 0);
    EXPECT_LE(first, 16);
    EXPECT_EQ(b->stats().rx_no_mbuf, 1u);
    EXPECT_EQ(b->rx_pending(0), gro) << "the rest of the GRO read waits in the port";
    // Still dry: nothing comes, nothing held back is lost, and it is counted.
    rte_mbuf* more[32];
    EXPECT_EQ(b->rx_burst(0, more, 32), 0);
    EXPECT_EQ(b->stats().rx_no_mbuf, 2u);
    EXPECT_EQ(b->rx_pending(0), gro);

    std::vector<Received> got;
    for (uint16_t i = 0; i < first; ++i) got.push_back(take(pkts[i], 0));
    rte_pktmbuf_free_bulk(held.data(), static_cast<unsigned>(held.size()));
    for (auto& r : receive(*b, sent.size() - got.size())) got.push_back(std::move(r));
    expect_payloads(got, sent, from);
    expect_nothing_more(*b);
    EXPECT_EQ(b->stats().rx_packets, 40u);
    EXPECT_EQ(b->stats().rx_no_mbuf, 2u) << "counted only while the pool was dry";
    EXPECT_EQ(rx_pool.in_use(), 0u);
    EXPECT_EQ(tx_pool.in_use(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Gro, DryPool, ::testing::Bool(), gro_name);

// ---- Truncation ------------------------------------------------------------------

class Truncation : public UdpPortTest, public ::testing::WithParamInterface<bool> {};

TEST_P(Truncation, DatagramLargerThanAnMbufIsDroppedAndCounted) {
    Pool pool(256, RTE_PKTMBUF_HEADROOM + 512);
    UdpPortConfig config;
    config.pool = pool.get();
    config.gro = GetParam();
    config.bind_address = address("127.0.0.1");
    auto b = open_port(config);
    ASSERT_TRUE(b);

    const int s = ::socket(AF_INET, SOCK_DGRAM, 0);
    ASSERT_GE(s, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(b->local_port());
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const Bytes big = payload(0, 1000);
    const Bytes fits = payload(1, 512);
    ASSERT_EQ(::sendto(s, big.data(), big.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
              1000);
    ASSERT_EQ(::sendto(s, fits.data(), fits.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
              512);
    const uint16_t source = bound_port(s);
    ::close(s);

    const auto got = receive(*b, 1);
    expect_payloads(got, {fits}, endpoint("127.0.0.1", source));
    expect_nothing_more(*b);
    EXPECT_EQ(b->queue_stats(0).rx_truncated, 1u);
    EXPECT_EQ(b->stats().rx_errors, 1u);
    EXPECT_EQ(b->stats().rx_packets, 1u);
    EXPECT_EQ(pool.in_use(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Gro, Truncation, ::testing::Bool(), gro_name);

// ---- Endpoints the socket cannot reach -------------------------------------------

TEST_F(UdpPortTest, PacketsWithoutAReachableEndpointAreCountedAndTheRestDelivered) {
    Pool pool(256);
    UdpPortConfig config;
    config.pool = pool.get();
    config.bind_address = address("127.0.0.1");
    auto a = open_port(config);
    auto b = open_port(config);
    ASSERT_TRUE(a && b);
    EXPECT_FALSE(a->dual_stack());

    const auto data = payloads({10, 20, 30, 40, 50});
    auto pkts = make_packets(pool.get(), data, endpoint("127.0.0.1", b->local_port()));
    *mbuf_endpoint(pkts[1]) = endpoint("::1", b->local_port());  // IPv6 from an IPv4 socket
    *mbuf_endpoint(pkts[2]) = MbufEndpoint{};                    // no endpoint at all
    *mbuf_endpoint(pkts[3]) = endpoint("127.0.0.1", 0);          // port 0
    EXPECT_EQ(a->tx_burst(0, pkts.data(), 5), 2);
    EXPECT_EQ(a->stats().tx_errors, 3u);
    EXPECT_EQ(a->queue_stats(0).tx_bad_endpoint, 3u);
    EXPECT_EQ(a->stats().tx_packets, 2u);
    expect_payloads(receive(*b, 2), {data[0], data[4]}, endpoint("127.0.0.1", a->local_port()));

    // An IPv6 address gives IPv6-only sockets: IPv4 peers are out of reach.
    config.bind_address = address("::1");
    auto v6 = open_port(config);
    ASSERT_TRUE(v6);
    EXPECT_FALSE(v6->dual_stack());
    EXPECT_EQ(send(*v6, pool.get(), {data[0]}, endpoint("127.0.0.1", b->local_port())), 0);
    EXPECT_EQ(v6->queue_stats(0).tx_bad_endpoint, 1u);
    EXPECT_EQ(v6->stats().tx_errors, 1u);
    expect_nothing_more(*b);
    EXPECT_EQ(pool.in_use(), 0u) << "tx_burst frees what it could not send";
}

// ---- Queues ----------------------------------------------------------------------

TEST_F(UdpPortTest, EphemeralPortIsSharedByEveryQueueAndByNoOtherPort) {
    Pool pool(256);
    UdpPortConfig config;
    config.pool = pool.get();
    config.queues = 4;
    auto a = open_port(config);
    auto b = open_port(config);
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->queue_count(), 4);
    EXPECT_NE(a->local_port(), 0);
    EXPECT_NE(a->local_port(), b->local_port());
    for (uint16_t q = 0; q < 4; ++q) {
        EXPECT_GE(a->wait_fd(q), 0);
        EXPECT_EQ(bound_port(a->wait_fd(q)), a->local_port()) << "queue " << q;
        for (uint16_t r = 0; r < q; ++r) EXPECT_NE(a->wait_fd(q), a->wait_fd(r));
    }
    EXPECT_EQ(a->wait_fd(4), -1);
    const std::string text = a->describe();
    EXPECT_NE(text.find(":" + std::to_string(a->local_port())), std::string::npos) << text;
    EXPECT_NE(text.find("4 queues, GSO on 4/4, GRO on 4/4"), std::string::npos) << text;
    EXPECT_NE(text.find("(IPv4 and IPv6)"), std::string::npos) << text;
}

TEST_F(UdpPortTest, ReuseportSpreadsManySourcesOverBothQueues) {
    Pool pool(256);
    UdpPortConfig config;
    config.pool = pool.get();
    config.queues = 2;
    auto b = open_port(config);
    ASSERT_TRUE(b);

    constexpr int kSources = 32;
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(b->local_port());
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::vector<uint16_t> source_ports;
    for (int i = 0; i < kSources; ++i) {
        const int s = ::socket(AF_INET, SOCK_DGRAM, 0);
        ASSERT_GE(s, 0);
        const Bytes data = payload(static_cast<size_t>(i), 40);
        ASSERT_EQ(
            ::sendto(s, data.data(), data.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
            40);
        source_ports.push_back(bound_port(s));
        ::close(s);
    }
    const auto got = receive(*b, kSources);
    ASSERT_EQ(got.size(), static_cast<size_t>(kSources));
    std::vector<bool> seen(kSources, false);
    for (const Received& r : got) {
        // The payload names its sender; its source port must match.
        for (int i = 0; i < kSources; ++i) {
            if (r.data == payload(static_cast<size_t>(i), 40)) {
                EXPECT_FALSE(seen[i]);
                seen[i] = true;
                EXPECT_EQ(r.from, endpoint("127.0.0.1", source_ports[i]));
            }
        }
    }
    for (int i = 0; i < kSources; ++i) EXPECT_TRUE(seen[i]) << "source " << i;
    const uint64_t q0 = b->queue_stats(0).port.rx_packets;
    const uint64_t q1 = b->queue_stats(1).port.rx_packets;
    EXPECT_GT(q0, 0u) << "2^-31 chance that 32 flows all hash to one queue";
    EXPECT_GT(q1, 0u);
    EXPECT_EQ(b->stats().rx_packets, q0 + q1);
    EXPECT_EQ(q0 + q1, static_cast<uint64_t>(kSources));
}

// ---- Creation errors -------------------------------------------------------------

// A port that no one holds right now.
uint16_t free_port() {
    const int s = ::socket(AF_INET6, SOCK_DGRAM, 0);
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    EXPECT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    const uint16_t port = bound_port(s);
    ::close(s);
    return port;
}

TEST_F(UdpPortTest, PortInUseGivesOneClearLine) {
    Pool pool(256);
    UdpPortConfig config;
    config.pool = pool.get();
    config.name = "wan0";
    for (const bool holder_reuseport : {false, true}) {
        SCOPED_TRACE(holder_reuseport ? "holder has SO_REUSEPORT" : "plain holder");
        const int holder = ::socket(AF_INET, SOCK_DGRAM, 0);
        ASSERT_GE(holder, 0);
        const int one = 1;
        if (holder_reuseport) {
            ASSERT_EQ(::setsockopt(holder, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one), 0);
        }
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ASSERT_EQ(::bind(holder, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
        config.listen_port = bound_port(holder);

        std::string error;
        EXPECT_EQ(UdpPort::create(config, &error), nullptr);
        EXPECT_EQ(error.rfind("udp port wan0: cannot bind [::]:" +
                                  std::to_string(config.listen_port) + ": Address already in use",
                              0),
                  0u)
            << error;
        EXPECT_EQ(error.find('\n'), std::string::npos);
        ::close(holder);
    }

    // Another sluice port on the same fixed port is refused too, rather than
    // joining its reuseport group and taking half its traffic.
    config.listen_port = free_port();
    auto first = open_port(config);
    ASSERT_TRUE(first);
    EXPECT_EQ(first->local_port(), config.listen_port);
    std::string error;
    EXPECT_EQ(UdpPort::create(config, &error), nullptr);
    EXPECT_NE(error.find("Address already in use"), std::string::npos) << error;
}

TEST_F(UdpPortTest, BadSettingsGiveOneClearLine) {
    Pool pool(256);
    UdpPortConfig config;
    config.pool = pool.get();
    std::string error;

    config.bind_address = address("192.0.2.1");  // TEST-NET-1: on no host
    EXPECT_EQ(UdpPort::create(config, &error), nullptr);
    EXPECT_EQ(error,
              "udp port wan: cannot bind 192.0.2.1:0: Cannot assign requested address "
              "(not an address of this host)");

    config.bind_address.reset();
    config.queues = 0;
    EXPECT_EQ(UdpPort::create(config, &error), nullptr);
    EXPECT_EQ(error, "udp port wan: needs at least one queue");

    config.queues = 1;
    config.pool = nullptr;
    EXPECT_EQ(UdpPort::create(config, &error), nullptr);
    EXPECT_EQ(error, "udp port wan: needs an mbuf pool");

    Pool tiny(64, RTE_PKTMBUF_HEADROOM);
    config.pool = tiny.get();
    EXPECT_EQ(UdpPort::create(config, &error), nullptr);
    EXPECT_NE(error.find("no data room"), std::string::npos) << error;
}

}  // namespace
}  // namespace sluice
