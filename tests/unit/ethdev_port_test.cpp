// EthdevPort (drivers/dpdk/ethdev_port) on virtual devices: net_ring (what
// the port sends on a queue comes back through that queue's ring) and
// net_null.
// The TX buffer holds packets until its burst is full, the lcore is idle or
// the oldest has waited the drain time; the RSS, checksum-offload and
// information a port reports; the vdev arguments that give it its queues.
#include "drivers/dpdk/ethdev_port.hpp"

#include <gtest/gtest.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_memcpy.h>
#include <rte_mempool.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/unit/eal_environment.hpp"

namespace sluice {
namespace {

[[maybe_unused]] const auto* const g_eal = EalEnvironment::add("ethdev-port-test", 128);

std::string unique(const char* prefix) {
    static int serial = 0;
    return prefix + std::to_string(serial++);
}

// ---- with_queue_devargs (no EAL needed) -------------------------------------------------

TEST(WithQueueDevargs, AfPacketGetsQpairs) {
    EXPECT_EQ(EthdevPort::with_queue_devargs("net_af_packet0,iface=eth0", 4),
              "net_af_packet0,iface=eth0,qpairs=4");
    EXPECT_EQ(EthdevPort::with_queue_devargs("net_af_packet0", 2), "net_af_packet0,qpairs=2");
    EXPECT_EQ(EthdevPort::with_queue_devargs("eth_af_packet1,iface=wan0", 3),
              "eth_af_packet1,iface=wan0,qpairs=3");
    // "qpairs" as a value, or a longer key, is not the argument.
    EXPECT_EQ(EthdevPort::with_queue_devargs("net_af_packet0,iface=qpairs", 2),
              "net_af_packet0,iface=qpairs,qpairs=2");
    EXPECT_EQ(EthdevPort::with_queue_devargs("net_af_packet0,iface=eth0,qpairsx=1", 2),
              "net_af_packet0,iface=eth0,qpairsx=1,qpairs=2");
}

TEST(WithQueueDevargs, AfXdpGetsQueueCount) {
    EXPECT_EQ(EthdevPort::with_queue_devargs("net_af_xdp0,iface=eth1", 3),
              "net_af_xdp0,iface=eth1,queue_count=3");
    EXPECT_EQ(EthdevPort::with_queue_devargs("net_af_xdp0,iface=eth1,start_queue=2", 2),
              "net_af_xdp0,iface=eth1,start_queue=2,queue_count=2");
}

TEST(WithQueueDevargs, LeavesAlone) {
    // Already given, whatever the number: the operator's word stands.
    EXPECT_EQ(EthdevPort::with_queue_devargs("net_af_packet0,iface=eth0,qpairs=2", 4),
              "net_af_packet0,iface=eth0,qpairs=2");
    EXPECT_EQ(EthdevPort::with_queue_devargs("net_af_packet0,qpairs=8,iface=eth0", 4),
              "net_af_packet0,qpairs=8,iface=eth0");
    EXPECT_EQ(EthdevPort::with_queue_devargs("net_af_xdp0,iface=eth1,queue_count=1", 3),
              "net_af_xdp0,iface=eth1,queue_count=1");
    // One queue is every driver's default.
    EXPECT_EQ(EthdevPort::with_queue_devargs("net_af_packet0,iface=eth0", 1),
              "net_af_packet0,iface=eth0");
    EXPECT_EQ(EthdevPort::with_queue_devargs("net_af_xdp0,iface=eth1", 0),
              "net_af_xdp0,iface=eth1");
    // Other drivers, PCI addresses.
    EXPECT_EQ(EthdevPort::with_queue_devargs("net_null0,size=64", 4), "net_null0,size=64");
    EXPECT_EQ(EthdevPort::with_queue_devargs("net_ring0", 4), "net_ring0");
    EXPECT_EQ(EthdevPort::with_queue_devargs("0000:03:00.0", 4), "0000:03:00.0");
    EXPECT_EQ(EthdevPort::with_queue_devargs("", 4), "");
}

// ---- Ports on EAL ----------------------------------------------------------------------

// A pktmbuf pool without a per-lcore cache, so that what the test counts is
// exactly what the pool holds.
class Pool {
public:
    explicit Pool(unsigned size) : size_(size) {
        pool_ = rte_pktmbuf_pool_create(unique("ethdev_test_").c_str(), size, 0, 0,
                                        RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    }
    ~Pool() { rte_mempool_free(pool_); }
    Pool(const Pool&) = delete;
    Pool& operator=(const Pool&) = delete;
    [[nodiscard]] rte_mempool* get() const { return pool_; }
    [[nodiscard]] bool full() const { return rte_mempool_avail_count(pool_) == size_; }

private:
    rte_mempool* pool_ = nullptr;
    unsigned size_;
};

class EthdevPortTest : public ::testing::Test {
protected:
    static constexpr unsigned kPoolSize = 2047;
    static constexpr uint16_t kFrameSize = 60;

    void SetUp() override { ASSERT_NE(pool.get(), nullptr); }

    EthdevPortOptions options(uint16_t queues, uint16_t tx_buffer, uint32_t drain_us) const {
        EthdevPortOptions o;
        o.queues = queues;
        o.pool = pool.get();
        o.rx_descriptors = 256;
        o.tx_descriptors = 256;
        o.tx_buffer = tx_buffer;
        o.tx_drain_us = drain_us;
        return o;
    }

    // A net_ring vdev: 16 queues of rings that hold 1023 frames each, what
    // the port sends on queue q it receives on queue q.
    std::unique_ptr<EthdevPort> ring(const EthdevPortOptions& o) {
        std::string error;
        auto port = EthdevPort::open(unique("net_ring_eth"), o, &error);
        EXPECT_NE(port, nullptr) << error;
        return port;
    }

    // Frames numbered from `first`: the number is in the byte after the
    // Ethernet header, to check the order they arrive in.
    std::vector<rte_mbuf*> frames(uint8_t first, uint16_t count) {
        std::vector<rte_mbuf*> out;
        for (uint16_t i = 0; i < count; ++i) {
            rte_mbuf* m = rte_pktmbuf_alloc(pool.get());
            EXPECT_NE(m, nullptr);
            if (m == nullptr) break;
            EXPECT_NE(rte_pktmbuf_append(m, kFrameSize), nullptr);
            std::vector<uint8_t> bytes(kFrameSize, 0);
            std::fill_n(bytes.begin(), 6, 0xff);  // broadcast
            bytes[14] = static_cast<uint8_t>(first + i);
            rte_memcpy(rte_pktmbuf_mtod(m, uint8_t*), bytes.data(), bytes.size());
            out.push_back(m);
        }
        return out;
    }

    // Sends frames numbered first..first+count-1 on a's queue q.
    uint16_t send(EthdevPort& port, uint16_t q, uint8_t first, uint16_t count) {
        std::vector<rte_mbuf*> f = frames(first, count);
        return port.tx_burst(q, f.data(), static_cast<uint16_t>(f.size()));
    }

    // The numbers of the frames waiting on port's queue q, which are freed.
    static std::vector<int> received(EthdevPort& port, uint16_t q) {
        std::vector<int> out;
        rte_mbuf* pkts[64];
        for (uint16_t n; (n = port.rx_burst(q, pkts, 64)) > 0;) {
            for (uint16_t i = 0; i < n; ++i) {
                out.push_back(rte_pktmbuf_mtod(pkts[i], const uint8_t*)[14]);
                rte_pktmbuf_free(pkts[i]);
            }
        }
        return out;
    }

    static std::vector<int> numbers(int first, int count) {
        std::vector<int> out;
        for (int i = 0; i < count; ++i) out.push_back(first + i);
        return out;
    }

    Pool pool{kPoolSize};
};

constexpr uint32_t kLongDrain = 10'000'000;  // 10 s: never reached in a test

TEST_F(EthdevPortTest, BufferHoldsUntilFull) {
    auto port = ring(options(1, 4, kLongDrain));
    ASSERT_NE(port, nullptr);
    EthdevPort& a = *port;

    EXPECT_EQ(send(a, 0, 1, 3), 0);
    EXPECT_EQ(a.tx_buffered(0), 3);
    EXPECT_TRUE(received(a, 0).empty());
    EXPECT_EQ(a.stats().tx_packets, 0u);  // not sent until the device has them

    EXPECT_EQ(send(a, 0, 4, 1), 4);  // the fourth fills the burst
    EXPECT_EQ(a.tx_buffered(0), 0);
    EXPECT_EQ(received(a, 0), numbers(1, 4));
    const PortStats s = a.stats();
    EXPECT_EQ(s.tx_packets, 4u);
    EXPECT_EQ(s.tx_bytes, 4u * kFrameSize);
    EXPECT_EQ(s.tx_errors, 0u);

    // A burst that overfills the buffer: the buffer's worth goes, the rest
    // waits (2 + 5 = 4 sent, 3 kept), in order.
    EXPECT_EQ(send(a, 0, 10, 2), 0);
    EXPECT_EQ(send(a, 0, 12, 5), 4);
    EXPECT_EQ(a.tx_buffered(0), 3);
    EXPECT_EQ(received(a, 0), numbers(10, 4));
    a.flush(0, true);
    EXPECT_EQ(received(a, 0), numbers(14, 3));
    EXPECT_TRUE(pool.full());
}

TEST_F(EthdevPortTest, LargeBurstsGoAtOnceAndInOrder) {
    auto port = ring(options(1, 4, kLongDrain));
    ASSERT_NE(port, nullptr);
    EthdevPort& a = *port;

    // Nothing waiting: a burst of at least the buffer's size is sent whole.
    EXPECT_EQ(send(a, 0, 1, 10), 10);
    EXPECT_EQ(a.tx_buffered(0), 0);
    EXPECT_EQ(received(a, 0), numbers(1, 10));

    // Two waiting: they and two more fill a burst, the other five are a
    // burst of their own.
    EXPECT_EQ(send(a, 0, 20, 2), 0);
    EXPECT_EQ(send(a, 0, 22, 7), 9);
    EXPECT_EQ(a.tx_buffered(0), 0);
    EXPECT_EQ(received(a, 0), numbers(20, 9));
    EXPECT_EQ(a.stats().tx_packets, 19u);
}

TEST_F(EthdevPortTest, FlushSendsWhenIdle) {
    auto port = ring(options(1, 32, kLongDrain));
    ASSERT_NE(port, nullptr);
    EthdevPort& a = *port;

    send(a, 0, 1, 2);
    a.flush(0, false);  // busy, and the drain time is far off
    EXPECT_EQ(a.tx_buffered(0), 2);
    EXPECT_TRUE(received(a, 0).empty());
    a.flush(0, true);
    EXPECT_EQ(a.tx_buffered(0), 0);
    EXPECT_EQ(received(a, 0), numbers(1, 2));
    a.flush(0, true);  // nothing left: nothing happens
    EXPECT_EQ(a.stats().tx_packets, 2u);
}

TEST_F(EthdevPortTest, FlushSendsAfterTheDrainTime) {
    auto port = ring(options(1, 32, 200'000));  // 200 ms
    ASSERT_NE(port, nullptr);
    EthdevPort& a = *port;

    send(a, 0, 1, 3);
    a.flush(0, false);
    EXPECT_EQ(a.tx_buffered(0), 3);
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    send(a, 0, 4, 1);  // a later packet does not restart the clock
    a.flush(0, false);
    EXPECT_EQ(a.tx_buffered(0), 0);
    EXPECT_EQ(received(a, 0), numbers(1, 4));
}

TEST_F(EthdevPortTest, ZeroDrainFlushesEveryCall) {
    auto port = ring(options(1, 32, 0));
    ASSERT_NE(port, nullptr);
    send(*port, 0, 1, 3);
    EXPECT_EQ(port->tx_buffered(0), 3);  // the burst is still gathered
    port->flush(0, false);
    EXPECT_EQ(received(*port, 0), numbers(1, 3));
}

TEST_F(EthdevPortTest, NoBufferSendsAtOnce) {
    for (const uint16_t tx_buffer : {0, 1}) {
        auto port = ring(options(1, tx_buffer, kLongDrain));
        ASSERT_NE(port, nullptr);
        EXPECT_EQ(send(*port, 0, 1, 1), 1);
        EXPECT_EQ(port->tx_buffered(0), 0);
        EXPECT_EQ(received(*port, 0), numbers(1, 1));
        EXPECT_NE(port->notes().find("TX sent at once"), std::string::npos) << port->notes();
    }
}

TEST_F(EthdevPortTest, QueuesBufferApart) {
    auto port = ring(options(2, 4, kLongDrain));
    ASSERT_NE(port, nullptr);
    EthdevPort& a = *port;

    send(a, 0, 1, 3);
    send(a, 1, 50, 3);
    EXPECT_EQ(a.tx_buffered(0), 3);
    EXPECT_EQ(a.tx_buffered(1), 3);
    a.flush(1, true);
    EXPECT_EQ(a.tx_buffered(0), 3);
    EXPECT_TRUE(received(a, 0).empty());
    EXPECT_EQ(received(a, 1), numbers(50, 3));
    send(a, 0, 4, 1);
    EXPECT_EQ(received(a, 0), numbers(1, 4));
    EXPECT_TRUE(received(a, 1).empty());
}

TEST_F(EthdevPortTest, DropsWhatTheDeviceDoesNotTake) {
    // The ring holds 1023: the rest of a burst is freed and counted, and
    // only what the device took is counted as sent.
    auto port = ring(options(1, 0, 0));
    ASSERT_NE(port, nullptr);
    uint16_t sent = 0;
    for (int i = 0; i < 4; ++i) sent = static_cast<uint16_t>(sent + send(*port, 0, 0, 256));
    sent = static_cast<uint16_t>(sent + send(*port, 0, 0, 4));
    EXPECT_EQ(sent, 1023);
    const PortStats s = port->stats();
    EXPECT_EQ(s.tx_packets, 1023u);
    EXPECT_EQ(s.tx_bytes, 1023u * kFrameSize);
    EXPECT_EQ(s.tx_errors, 5u);
    EXPECT_EQ(received(*port, 0).size(), 1023u);
    EXPECT_TRUE(pool.full());
}

TEST_F(EthdevPortTest, DestroyingFreesTheBuffer) {
    auto port = ring(options(2, 32, kLongDrain));
    ASSERT_NE(port, nullptr);
    send(*port, 0, 1, 5);
    send(*port, 1, 1, 7);
    EXPECT_FALSE(pool.full());
    port.reset();
    EXPECT_TRUE(pool.full());
}

TEST_F(EthdevPortTest, RefusesAnOversizedBuffer) {
    std::string error;
    EthdevPortOptions o = options(1, EthdevPort::kMaxTxBuffer + 1, 100);
    EXPECT_EQ(EthdevPort::open(unique("net_null_eth"), o, &error), nullptr);
    EXPECT_NE(error.find("at most 1024"), std::string::npos) << error;
}

TEST_F(EthdevPortTest, RingHasNoRssAndNoOffloads) {
    auto port = ring(options(2, 32, 100));
    ASSERT_NE(port, nullptr);
    const EthdevPort& a = *port;
    EXPECT_EQ(a.driver(), "net_ring");
    EXPECT_EQ(a.queue_count(), 2);
    EXPECT_FALSE(a.rss());
    EXPECT_NE(a.notes().find("no RSS (net_ring offers none)"), std::string::npos) << a.notes();
    EXPECT_FALSE(a.offers_tx_ipv4_cksum());
    EXPECT_FALSE(a.offers_tx_udp_cksum());
    EXPECT_NE(a.notes().find("no TX checksum offload"), std::string::npos) << a.notes();
    EXPECT_NE(a.notes().find("TX bursts of 32, drained after 100 us"), std::string::npos)
        << a.notes();
}

TEST_F(EthdevPortTest, OneQueueSaysNothingOfRss) {
    auto port = ring(options(1, 0, 0));
    ASSERT_NE(port, nullptr);
    EXPECT_FALSE(port->rss());
    EXPECT_EQ(port->notes().find("RSS"), std::string::npos) << port->notes();
}

TEST_F(EthdevPortTest, NullPortTakesRss) {
    // net_null offers a hash on every protocol (and computes none): the port
    // asks for it with more than one queue.
    std::string error;
    auto port = EthdevPort::open(unique("net_null_eth"), options(2, 0, 0), &error);
    ASSERT_NE(port, nullptr) << error;
    EXPECT_EQ(port->driver(), "net_null");
    EXPECT_TRUE(port->rss());
    EXPECT_NE(port->notes().find("RSS over 2 queues"), std::string::npos) << port->notes();
}

int64_t xstat(const EthdevInfo& info, const std::string& name) {
    for (const auto& [n, v] : info.xstats)
        if (n == name) return static_cast<int64_t>(v);
    return -1;
}

TEST_F(EthdevPortTest, InfoOfARingPort) {
    auto port = ring(options(1, 0, 0));
    ASSERT_NE(port, nullptr);
    const EthdevInfo before = port->info();
    EXPECT_TRUE(before.link_up);
    EXPECT_EQ(before.driver, "net_ring");
    EXPECT_EQ(before.mtu, RTE_ETHER_MTU);
    EXPECT_TRUE(before.xstats.empty());  // only what is not zero

    send(*port, 0, 1, 6);
    const EthdevInfo sent = port->info();
    EXPECT_EQ(xstat(sent, "tx_good_packets"), 6);
    EXPECT_EQ(xstat(sent, "rx_good_packets"), -1);  // zero: left out
    EXPECT_EQ(received(*port, 0).size(), 6u);
    const EthdevInfo both = port->info();
    EXPECT_EQ(xstat(both, "tx_good_packets"), 6);
    EXPECT_EQ(xstat(both, "rx_good_packets"), 6);
    for (const auto& [name, v] : both.xstats) {
        EXPECT_NE(v, 0u) << name;
        EXPECT_FALSE(name.empty());
        EXPECT_EQ(name.find(' '), std::string::npos) << name;
    }
}

TEST_F(EthdevPortTest, InfoOfANullPort) {
    std::string error;
    auto port = EthdevPort::open(unique("net_null_eth"), options(1, 0, 0), &error);
    ASSERT_NE(port, nullptr) << error;
    send(*port, 0, 1, 3);  // net_null frees them and counts
    const EthdevInfo info = port->info();
    EXPECT_TRUE(info.link_up);
    EXPECT_GT(info.speed_mbps, 0u);
    EXPECT_EQ(info.driver, "net_null");
    EXPECT_EQ(xstat(info, "tx_good_packets"), 3);
    EXPECT_TRUE(pool.full());
}

TEST_F(EthdevPortTest, OpenGivesAnAfPacketVdevItsQueues) {
    // Root only (a packet socket), on the loopback interface.
    if (geteuid() != 0) GTEST_SKIP() << "net_af_packet needs root";
    std::string error;
    EthdevPortOptions o = options(2, 0, 0);
    o.promiscuous = false;  // leave lo as it was
    auto port = EthdevPort::open(unique("net_af_packet_eth") + ",iface=lo", o, &error);
    if (!port) GTEST_SKIP() << "no net_af_packet on lo here: " << error;
    EXPECT_EQ(port->queue_count(), 2);
    EXPECT_EQ(port->driver(), "net_af_packet");
    EXPECT_FALSE(port->rss());
    EXPECT_NE(port->notes().find("PACKET_FANOUT"), std::string::npos) << port->notes();
}

}  // namespace
}  // namespace sluice
