// Under-load detection, the bounded worker queue and the admission decision
// against a fake clock: cookies switch on at the queue threshold and off
// exactly kUnderLoadAfterTime later, the rate limiter is consulted only under
// load and only with a valid mac2, and a flood of cookie-less initiations
// cannot keep a peer with a cookie out.
#include "control/handshake_load.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>

#include "dataplane/wire.hpp"

namespace sluice {

// Readable failures: "send_cookie_reply" instead of a number.
void PrintTo(HandshakeVerdict v, std::ostream* os) {
    *os << to_string(v);
}

namespace {

using namespace std::chrono_literals;
using Time = LoadDetector::Time;
using V = HandshakeVerdict;

constexpr Time kT0 = 1000s;
constexpr size_t kThreshold = wire::kUnderLoadQueueThreshold;
constexpr SipHashKey kKey{0x1111111111111111, 0x2222222222222222};

IpAddress v4(uint32_t host_order) {
    IpAddress a;
    for (int i = 0; i < 4; ++i) a.addr[i] = static_cast<uint8_t>(host_order >> (24 - 8 * i));
    return a;
}

const IpAddress kPeer = v4(0xc0000201);  // 192.0.2.1

// ---- LoadDetector -----------------------------------------------------------

TEST(LoadDetector, ThresholdIsAnEighthOfTheQueue) {
    EXPECT_EQ(kThreshold, wire::kMaxQueuedHandshakes / 8);
}

TEST(LoadDetector, NotUnderLoadBelowTheThreshold) {
    LoadDetector load;
    for (Time t = kT0; t < kT0 + 3s; t += 100ms) EXPECT_FALSE(load.under_load(kThreshold - 1, t));
    EXPECT_FALSE(load.still_under_load(kT0 + 3s));
}

TEST(LoadDetector, OnAtTheThresholdAndOffExactlyTheHoldOffLater) {
    LoadDetector load;
    EXPECT_TRUE(load.under_load(kThreshold, kT0));
    EXPECT_TRUE(load.under_load(0, kT0 + wire::kUnderLoadAfterTime - 1ns));
    EXPECT_TRUE(load.still_under_load(kT0 + wire::kUnderLoadAfterTime - 1ns));
    EXPECT_FALSE(load.under_load(0, kT0 + wire::kUnderLoadAfterTime));
    EXPECT_FALSE(load.still_under_load(kT0 + wire::kUnderLoadAfterTime));
}

TEST(LoadDetector, EveryDeepQueueRestartsTheHoldOff) {
    LoadDetector load;
    ASSERT_TRUE(load.under_load(kThreshold + 100, kT0));
    ASSERT_TRUE(load.under_load(kThreshold, kT0 + 600ms));
    EXPECT_TRUE(load.under_load(3, kT0 + 1s + 500ms));
    EXPECT_TRUE(load.under_load(3, kT0 + 600ms + wire::kUnderLoadAfterTime - 1ns));
    EXPECT_FALSE(load.under_load(3, kT0 + 600ms + wire::kUnderLoadAfterTime));
}

TEST(LoadDetector, ShallowObservationsDoNotExtendTheHoldOff) {
    LoadDetector load;
    ASSERT_TRUE(load.under_load(kThreshold, kT0));
    for (Time t = kT0 + 100ms; t < kT0 + wire::kUnderLoadAfterTime; t += 100ms) {
        ASSERT_TRUE(load.under_load(kThreshold - 1, t));
    }
    EXPECT_FALSE(load.under_load(kThreshold - 1, kT0 + wire::kUnderLoadAfterTime));
}

TEST(LoadDetector, NoObservationMeansNoLoadWhateverTheEpoch) {
    // A clock that starts at 0 must not look like an overload at time 0.
    for (const Time epoch : {Time{0}, Time{-1'000'000'000}, kT0}) {
        LoadDetector load;
        EXPECT_FALSE(load.still_under_load(epoch)) << epoch.count();
        EXPECT_FALSE(load.under_load(0, epoch)) << epoch.count();
    }
}

// ---- HandshakeQueue ---------------------------------------------------------

TEST(HandshakeQueue, BoundedAtMaxQueuedHandshakesWithACountedDrop) {
    HandshakeQueue<uint32_t> queue;
    ASSERT_EQ(queue.capacity(), wire::kMaxQueuedHandshakes);
    for (uint32_t i = 0; i < wire::kMaxQueuedHandshakes; ++i) ASSERT_TRUE(queue.push(i)) << i;
    EXPECT_EQ(queue.size(), wire::kMaxQueuedHandshakes);
    EXPECT_EQ(queue.dropped(), 0u);

    EXPECT_FALSE(queue.push(99999));
    EXPECT_FALSE(queue.push(99999));
    EXPECT_EQ(queue.dropped(), 2u);
    EXPECT_EQ(queue.size(), wire::kMaxQueuedHandshakes);

    // One out, one place in; the refused messages never got in.
    ASSERT_EQ(queue.pop(), 0u);
    EXPECT_TRUE(queue.push(wire::kMaxQueuedHandshakes));
    for (uint32_t i = 1; i <= wire::kMaxQueuedHandshakes; ++i) ASSERT_EQ(queue.pop(), i);
    EXPECT_TRUE(queue.empty());
    EXPECT_EQ(queue.pop(), std::nullopt);
}

TEST(HandshakeQueue, FirstInFirstOutAcrossTheWrap) {
    HandshakeQueue<std::string> queue(3);
    uint32_t next_in = 0;
    uint32_t next_out = 0;
    // Two in, one out, many times over: head and tail lap the array.
    for (int round = 0; round < 10; ++round) {
        while (queue.size() < queue.capacity()) ASSERT_TRUE(queue.push(std::to_string(next_in++)));
        ASSERT_EQ(queue.pop(), std::to_string(next_out++));
        ASSERT_EQ(queue.pop(), std::to_string(next_out++));
    }
    while (!queue.empty()) ASSERT_EQ(queue.pop(), std::to_string(next_out++));
    EXPECT_EQ(next_out, next_in);
    EXPECT_EQ(queue.dropped(), 0u);
}

TEST(HandshakeQueue, CapacityIsAtLeastOne) {
    HandshakeQueue<int> queue(0);
    EXPECT_EQ(queue.capacity(), 1u);
    EXPECT_TRUE(queue.push(1));
    EXPECT_FALSE(queue.push(2));
    EXPECT_EQ(queue.dropped(), 1u);
}

// ---- HandshakeGate ----------------------------------------------------------

TEST(HandshakeVerdictName, EveryVerdictHasItsOwnName) {
    EXPECT_STREQ(to_string(V::drop_invalid_mac1), "drop_invalid_mac1");
    EXPECT_STREQ(to_string(V::send_cookie_reply), "send_cookie_reply");
    EXPECT_STREQ(to_string(V::drop_rate_limited), "drop_rate_limited");
    EXPECT_STREQ(to_string(V::admit), "admit");
}

class Gate : public testing::Test {
protected:
    HandshakeGate gate{Ratelimiter(64, kKey)};
};

TEST_F(Gate, InvalidMac1IsDroppedLoadedOrNot) {
    EXPECT_EQ(gate.decide(MacCheck::invalid_mac1, kPeer, 0, kT0), V::drop_invalid_mac1);
    EXPECT_EQ(gate.decide(MacCheck::invalid_mac1, kPeer, kThreshold, kT0), V::drop_invalid_mac1);
    EXPECT_EQ(gate.counters().invalid_mac1, 2u);
    EXPECT_EQ(gate.ratelimiter().tracked(), 0u);
}

TEST_F(Gate, NotUnderLoadEveryValidMac1IsAdmittedUnlimited) {
    for (int i = 0; i < 100; ++i) {
        ASSERT_EQ(gate.decide(MacCheck::valid_mac1, kPeer, kThreshold - 1, kT0), V::admit);
        ASSERT_EQ(gate.decide(MacCheck::valid_mac2, kPeer, kThreshold - 1, kT0), V::admit);
    }
    EXPECT_EQ(gate.counters().admitted, 200u);
    EXPECT_EQ(gate.counters().admitted_under_load, 0u);
    // The limiter was not even consulted.
    EXPECT_EQ(gate.ratelimiter().tracked(), 0u);
}

TEST_F(Gate, UnderLoadWithoutMac2GetsACookieReply) {
    EXPECT_EQ(gate.decide(MacCheck::valid_mac1, kPeer, kThreshold, kT0), V::send_cookie_reply);
    EXPECT_EQ(gate.counters().cookie_replies, 1u);
    EXPECT_EQ(gate.ratelimiter().tracked(), 0u);
}

TEST_F(Gate, UnderLoadWithMac2IsRateLimitedPerSource) {
    for (unsigned i = 0; i < wire::kHandshakesBurstable; ++i) {
        ASSERT_EQ(gate.decide(MacCheck::valid_mac2, kPeer, kThreshold, kT0), V::admit) << i;
    }
    EXPECT_EQ(gate.decide(MacCheck::valid_mac2, kPeer, kThreshold, kT0), V::drop_rate_limited);
    EXPECT_EQ(gate.decide(MacCheck::valid_mac2, v4(0xc0000202), kThreshold, kT0), V::admit);
    EXPECT_EQ(gate.decide(MacCheck::valid_mac2, kPeer, kThreshold, kT0 + Ratelimiter::kPacketCost),
              V::admit);
    EXPECT_EQ(gate.counters().rate_limited, 1u);
    EXPECT_EQ(gate.counters().admitted_under_load, wire::kHandshakesBurstable + 2);
}

TEST_F(Gate, CookiesStayOnForTheHoldOffAfterTheQueueDrains) {
    ASSERT_EQ(gate.decide(MacCheck::valid_mac1, kPeer, kThreshold, kT0), V::send_cookie_reply);
    const Time off = kT0 + wire::kUnderLoadAfterTime;
    EXPECT_EQ(gate.decide(MacCheck::valid_mac1, kPeer, 0, off - 1ns), V::send_cookie_reply);
    EXPECT_TRUE(gate.under_load(off - 1ns));
    EXPECT_EQ(gate.decide(MacCheck::valid_mac1, kPeer, 0, off), V::admit);
    EXPECT_FALSE(gate.under_load(off));
}

TEST_F(Gate, TheQueueDepthCountsEvenWhenTheMessageIsForged) {
    // The depth describes the worker, not the message that brought it.
    ASSERT_EQ(gate.decide(MacCheck::invalid_mac1, kPeer, kThreshold, kT0), V::drop_invalid_mac1);
    EXPECT_EQ(gate.decide(MacCheck::valid_mac1, kPeer, 0, kT0 + 500ms), V::send_cookie_reply);
}

TEST_F(Gate, AdmissionsWithoutLoadDoNotSpendTheSourcesBurst) {
    for (int i = 0; i < 50; ++i) {
        ASSERT_EQ(gate.decide(MacCheck::valid_mac2, kPeer, 0, kT0), V::admit);
    }
    for (unsigned i = 0; i < wire::kHandshakesBurstable; ++i) {
        ASSERT_EQ(gate.decide(MacCheck::valid_mac2, kPeer, kThreshold, kT0), V::admit) << i;
    }
    EXPECT_EQ(gate.decide(MacCheck::valid_mac2, kPeer, kThreshold, kT0), V::drop_rate_limited);
}

TEST_F(Gate, CollectingIdleSourcesForgetsThem) {
    ASSERT_EQ(gate.decide(MacCheck::valid_mac2, kPeer, kThreshold, kT0), V::admit);
    ASSERT_EQ(gate.ratelimiter().tracked(), 1u);
    gate.collect_idle_sources(kT0 + Ratelimiter::kGcIdleTime - 1ns);
    EXPECT_EQ(gate.ratelimiter().tracked(), 1u);
    gate.collect_idle_sources(kT0 + Ratelimiter::kGcIdleTime);
    EXPECT_EQ(gate.ratelimiter().tracked(), 0u);
}

// The control thread's loop in miniature: every millisecond a flood of
// initiations with a valid mac1 and no cookie arrives from ever-new sources,
// one legitimate peer holding a cookie sends one, and the worker finishes 100
// handshakes. Cookies must switch on before the queue overflows, the flood
// must then cost no handshake work, and the peer must get through every time.
TEST(GateUnderFlood, CookiesKeepTheQueueShortAndLetThePeerThrough) {
    HandshakeGate gate{Ratelimiter(Ratelimiter::kDefaultMaxSources, kKey)};
    HandshakeQueue<uint32_t> queue;
    constexpr uint32_t kPeerTag = 0xffffffff;
    constexpr int kFloodPerMs = 1000;
    constexpr int kWorkerPerMs = 100;
    uint32_t flood_source = 0;
    size_t deepest = 0;
    int peer_admitted = 0;

    for (Time now = kT0; now < kT0 + 3s; now += 1ms) {
        for (int i = 0; i < kFloodPerMs; ++i) {
            const V v =
                gate.decide(MacCheck::valid_mac1, v4(0x0a000000 + flood_source), queue.size(), now);
            if (v == V::admit) {
                ASSERT_TRUE(queue.push(flood_source));
            }
            ++flood_source;
        }
        // The peer handshakes every 100 ms, far inside its rate.
        if ((now - kT0) % 100ms == 0ns) {
            const V v = gate.decide(MacCheck::valid_mac2, kPeer, queue.size(), now);
            ASSERT_EQ(v, V::admit) << (now - kT0).count();
            ASSERT_TRUE(queue.push(kPeerTag));
            ++peer_admitted;
        }
        deepest = std::max(deepest, queue.size());
        for (int i = 0; i < kWorkerPerMs && !queue.empty(); ++i) (void)queue.pop();
    }
    EXPECT_EQ(peer_admitted, 30);
    // The flood fills the queue to the threshold, cookies switch on, and it
    // gets no further: only the peer's one message may go past.
    EXPECT_LE(deepest, kThreshold + 1);
    EXPECT_EQ(queue.dropped(), 0u);
    // Once a hold-off second expires the flood gets one more threshold's
    // worth in before cookies come back: three times in three seconds.
    const uint64_t flood_admitted = gate.counters().admitted - peer_admitted;
    EXPECT_GE(flood_admitted, kThreshold);
    EXPECT_LE(flood_admitted, 3 * kThreshold);
    EXPECT_EQ(gate.counters().cookie_replies + flood_admitted, uint64_t{flood_source});
}

}  // namespace
}  // namespace sluice
