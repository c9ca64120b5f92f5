// Ratelimiter against a fake clock: WireGuard's bucket to the nanosecond, IPv6
// sources per /64, a table that stays within its bound under a flood without
// costing a legitimate source its rate, and a naive unbounded model that the
// bounded table must agree with.
#include "control/ratelimiter.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <utility>

#include "dataplane/ip_prefix.hpp"
#include "dataplane/wire.hpp"

namespace sluice {
namespace {

using namespace std::chrono_literals;
using Time = Ratelimiter::Time;

// Not zero, so that a computation that forgets `now` shows.
constexpr Time kT0 = 1000s;
constexpr Time kCost = Ratelimiter::kPacketCost;
constexpr unsigned kBurst = wire::kHandshakesBurstable;
constexpr SipHashKey kKey{0x0123456789abcdef, 0xfedcba9876543210};

IpAddress v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    IpAddress ip;
    ip.addr[0] = a;
    ip.addr[1] = b;
    ip.addr[2] = c;
    ip.addr[3] = d;
    return ip;
}

IpAddress v4(uint32_t host_order) {
    return v4(static_cast<uint8_t>(host_order >> 24), static_cast<uint8_t>(host_order >> 16),
              static_cast<uint8_t>(host_order >> 8), static_cast<uint8_t>(host_order));
}

IpAddress ip(const std::string& text) {
    const auto parsed = parse_ip_address(text);
    EXPECT_TRUE(parsed) << text;
    return parsed.value_or(IpAddress{});
}

// An IPv6 address with the given /64 and interface id.
IpAddress v6(uint64_t prefix, uint64_t interface_id) {
    IpAddress a;
    a.family = IpFamily::v6;
    for (int i = 0; i < 8; ++i) {
        a.addr[i] = static_cast<uint8_t>(prefix >> (56 - 8 * i));
        a.addr[8 + i] = static_cast<uint8_t>(interface_id >> (56 - 8 * i));
    }
    return a;
}

// How many handshakes `source` gets through at `now` before the first refusal
// (stops at 100 so a broken limiter cannot loop for ever).
unsigned burst_at(Ratelimiter& rl, const IpAddress& source, Time now) {
    unsigned n = 0;
    while (n < 100 && rl.allow(source, now)) ++n;
    return n;
}

// ---- SipHash and sources ----------------------------------------------------

TEST(SipHash, MatchesTheReferenceVector) {
    // Reference implementation's vector: key 00..0f, message 00..0f (16 bytes).
    const SipHashKey key{0x0706050403020100, 0x0f0e0d0c0b0a0908};
    EXPECT_EQ(siphash24(key, 0x0706050403020100, 0x0f0e0d0c0b0a0908), 0x3f2acc7f57c29bdbull);
}

TEST(SipHash, EveryKeyAndMessageWordMatters) {
    const uint64_t base = siphash24(kKey, 1, 2);
    EXPECT_NE(siphash24({kKey.k0 ^ 1, kKey.k1}, 1, 2), base);
    EXPECT_NE(siphash24({kKey.k0, kKey.k1 ^ 1}, 1, 2), base);
    EXPECT_NE(siphash24(kKey, 0, 2), base);
    EXPECT_NE(siphash24(kKey, 1, 3), base);
}

TEST(RateSourceOf, Ipv4IsTheAddress) {
    EXPECT_EQ(rate_source_of(v4(192, 0, 2, 1)), (RateSource{IpFamily::v4, 0xc0000201}));
}

TEST(RateSourceOf, Ipv6IsTheTop64Bits) {
    EXPECT_EQ(rate_source_of(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")),
              (RateSource{IpFamily::v6, 0x20010db800010002}));
}

TEST(RateSourceOf, Ipv4MappedIpv6IsTheIpv4Address) {
    EXPECT_EQ(rate_source_of(ip("::ffff:192.0.2.1")), (RateSource{IpFamily::v4, 0xc0000201}));
    // Only ::ffff:0:0/96 is mapped; its /64 neighbours are ordinary IPv6.
    EXPECT_EQ(rate_source_of(ip("::fffe:c000:201")).family, IpFamily::v6);
}

// ---- The bucket -------------------------------------------------------------

TEST(Ratelimiter, BurstThenOneEveryFiftyMilliseconds) {
    Ratelimiter rl(16, kKey);
    const IpAddress a = v4(192, 0, 2, 1);
    ASSERT_EQ(kCost, 50ms);

    EXPECT_EQ(burst_at(rl, a, kT0), kBurst);
    for (int k = 1; k <= 100; ++k) {
        const Time due = kT0 + k * kCost;
        EXPECT_FALSE(rl.allow(a, due - 1ns)) << "a nanosecond early at step " << k;
        EXPECT_TRUE(rl.allow(a, due)) << "on time at step " << k;
        EXPECT_FALSE(rl.allow(a, due)) << "twice at step " << k;
    }
    EXPECT_EQ(rl.counters().allowed, kBurst + 100);
    EXPECT_EQ(rl.counters().limited, 1 + 200u);
    EXPECT_EQ(rl.tracked(), 1u);
}

TEST(Ratelimiter, RefillIsCappedAtTheBurst) {
    Ratelimiter rl(16, kKey);
    const IpAddress a = v4(192, 0, 2, 1);
    ASSERT_EQ(burst_at(rl, a, kT0), kBurst);
    EXPECT_EQ(burst_at(rl, a, kT0 + 1h), kBurst);
}

TEST(Ratelimiter, UnspentCreditCarriesOver) {
    Ratelimiter rl(16, kKey);
    const IpAddress a = v4(192, 0, 2, 1);
    ASSERT_EQ(burst_at(rl, a, kT0), kBurst);
    // 120 ms buy two handshakes and leave 20 ms of credit...
    EXPECT_EQ(burst_at(rl, a, kT0 + 120ms), 2u);
    // ...so 30 ms more buys nothing, and 50 ms more one.
    EXPECT_FALSE(rl.allow(a, kT0 + 150ms - 1ns));
    EXPECT_TRUE(rl.allow(a, kT0 + 150ms));
}

TEST(Ratelimiter, SourcesHaveIndependentBuckets) {
    Ratelimiter rl(16, kKey);
    const IpAddress a = v4(192, 0, 2, 1);
    const IpAddress b = v4(192, 0, 2, 2);
    ASSERT_EQ(burst_at(rl, a, kT0), kBurst);
    EXPECT_EQ(burst_at(rl, b, kT0), kBurst);
    EXPECT_FALSE(rl.allow(a, kT0));
    EXPECT_EQ(rl.tracked(), 2u);
}

TEST(Ratelimiter, Ipv6AddressesInOneSlash64ShareABucket) {
    Ratelimiter rl(16, kKey);
    // Three from one /64 (rotating interface ids) spend one burst between them.
    EXPECT_EQ(burst_at(rl, ip("2001:db8:1:2::1"), kT0), kBurst);
    EXPECT_FALSE(rl.allow(ip("2001:db8:1:2::2"), kT0));
    EXPECT_FALSE(rl.allow(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"), kT0));
    // Neighbouring /64s, on either side, do not.
    EXPECT_EQ(burst_at(rl, ip("2001:db8:1:3::1"), kT0), kBurst);
    EXPECT_EQ(burst_at(rl, ip("2001:db8:1:1:ffff:ffff:ffff:ffff"), kT0), kBurst);
    EXPECT_EQ(rl.tracked(), 3u);
}

TEST(Ratelimiter, Ipv4MappedAddressesShareTheIpv4Bucket) {
    Ratelimiter rl(16, kKey);
    ASSERT_EQ(burst_at(rl, v4(192, 0, 2, 1), kT0), kBurst);
    EXPECT_FALSE(rl.allow(ip("::ffff:192.0.2.1"), kT0));
    // A different IPv4 host behind the same dual-stack socket is not limited.
    EXPECT_EQ(burst_at(rl, ip("::ffff:192.0.2.2"), kT0), kBurst);
    EXPECT_EQ(rl.tracked(), 2u);
}

TEST(Ratelimiter, FamiliesNeverShareABucket) {
    // An IPv4 address and an IPv6 /64 with the same 64-bit value, in a table
    // of four slots so that the IPv6 lookup often starts at the IPv4 entry.
    for (uint32_t value = 0; value < 64; ++value) {
        Ratelimiter rl(2, kKey);
        ASSERT_EQ(burst_at(rl, v4(value), kT0), kBurst) << value;
        EXPECT_EQ(burst_at(rl, v6(value, 42), kT0), kBurst) << value;
    }
}

TEST(Ratelimiter, AClockSteppingBackEarnsNothing) {
    Ratelimiter rl(16, kKey);
    const IpAddress a = v4(192, 0, 2, 1);
    ASSERT_EQ(burst_at(rl, a, kT0 + 1s), kBurst);
    EXPECT_FALSE(rl.allow(a, kT0));
    // Credit counts from the latest time seen, not from the step back.
    EXPECT_EQ(burst_at(rl, a, kT0 + 1s + kCost), 1u);
}

TEST(Ratelimiter, WorksAcrossAnyEpoch) {
    for (const Time epoch : {Time{0}, Time{-5'000'000'000'000}, Time{INT64_MAX - 10'000'000'000}}) {
        Ratelimiter rl(16, kKey);
        const IpAddress a = v4(192, 0, 2, 1);
        EXPECT_EQ(burst_at(rl, a, epoch), kBurst) << epoch.count();
        EXPECT_EQ(burst_at(rl, a, epoch + kCost), 1u) << epoch.count();
        EXPECT_EQ(burst_at(rl, a, epoch + 5s), kBurst) << epoch.count();
    }
}

TEST(Ratelimiter, AnyGapRefillsExactlyTheBurst) {
    // From one end of the clock to the other: the gap overflows int64, which
    // must not wrap into negative credit.
    Ratelimiter rl(16, kKey);
    const IpAddress a = v4(192, 0, 2, 1);
    ASSERT_EQ(burst_at(rl, a, Time::min()), kBurst);
    EXPECT_EQ(burst_at(rl, a, Time::max()), kBurst);
}

// ---- Garbage collection ----------------------------------------------------

TEST(Ratelimiter, GcRemovesEntriesIdleForASecond) {
    Ratelimiter rl(16, kKey);
    const IpAddress a = v4(192, 0, 2, 1);
    const IpAddress b = v4(192, 0, 2, 2);
    ASSERT_TRUE(rl.allow(a, kT0));
    ASSERT_EQ(burst_at(rl, b, kT0 + 900ms), kBurst);

    rl.gc(kT0 + 1s - 1ns);
    EXPECT_EQ(rl.tracked(), 2u);
    rl.gc(kT0 + 1s);
    EXPECT_EQ(rl.tracked(), 1u);
    EXPECT_EQ(rl.counters().collected, 1u);
    // b kept its bucket: 100 ms of credit since it drained, two handshakes,
    // where a forgotten b would get a whole burst.
    EXPECT_EQ(burst_at(rl, b, kT0 + 1s), 2u);

    rl.gc(kT0 + 2s);
    EXPECT_EQ(rl.tracked(), 0u);
}

TEST(Ratelimiter, GcKeepsEverySurvivorFindable) {
    // Thousands of entries in one table, half of them removed: the backward
    // shifts must leave every survivor reachable from its home slot.
    constexpr uint32_t kSources = 4000;
    Ratelimiter rl(kSources, kKey);
    for (uint32_t i = 0; i < kSources; ++i) {
        ASSERT_TRUE(rl.allow(v4(0x0a000000 + i), kT0 + i * 1ms));
    }
    rl.gc(kT0 + 3s);  // idle for 1 s or more: sources 0..2000
    ASSERT_EQ(rl.tracked(), kSources - 2001);
    ASSERT_EQ(rl.counters().collected, 2001u);

    // Touching a survivor finds its entry: nothing new is tracked.
    const Time later = kT0 + 3s;
    for (uint32_t i = 2001; i < kSources; ++i) ASSERT_TRUE(rl.allow(v4(0x0a000000 + i), later));
    EXPECT_EQ(rl.tracked(), kSources - 2001);
    // Touching a collected one makes a new entry.
    for (uint32_t i = 0; i <= 2000; ++i) ASSERT_TRUE(rl.allow(v4(0x0a000000 + i), later));
    EXPECT_EQ(rl.tracked(), kSources);
}

// ---- A full table -----------------------------------------------------------

TEST(Ratelimiter, MaxSourcesIsAtLeastOne) {
    Ratelimiter rl(0, kKey);
    EXPECT_EQ(rl.max_sources(), 1u);
    EXPECT_TRUE(rl.allow(v4(192, 0, 2, 1), kT0));
    EXPECT_FALSE(rl.allow(v4(192, 0, 2, 2), kT0));
    EXPECT_EQ(rl.counters().table_full, 1u);
}

TEST(Ratelimiter, FullTableRefusesNewSourcesUntilAnEntryRefills) {
    Ratelimiter rl(4, kKey);
    // Four sources, one handshake each: full buckets again one packet cost later.
    for (uint8_t i = 1; i <= 4; ++i) ASSERT_TRUE(rl.allow(v4(192, 0, 2, i), kT0));

    const IpAddress newcomer = v4(198, 51, 100, 1);
    EXPECT_FALSE(rl.allow(newcomer, kT0 + kCost - 1ns));
    EXPECT_EQ(rl.counters().table_full, 1u);
    EXPECT_EQ(rl.tracked(), 4u);

    EXPECT_TRUE(rl.allow(newcomer, kT0 + kCost));
    EXPECT_EQ(rl.counters().reclaimed, 1u);
    EXPECT_EQ(rl.tracked(), 4u);
}

TEST(Ratelimiter, AFloodOfNewSourcesCannotResetAnActiveBucket) {
    Ratelimiter rl(4, kKey);
    // Four sources drain their buckets: each is 250 ms from full.
    for (uint8_t i = 1; i <= 4; ++i) ASSERT_EQ(burst_at(rl, v4(192, 0, 2, i), kT0), kBurst);

    const Time almost = kT0 + Ratelimiter::kBurstCredit - 1ns;
    for (uint32_t n = 0; n < 1000; ++n) EXPECT_FALSE(rl.allow(v4(0x0a000000 + n), almost));
    EXPECT_EQ(rl.counters().table_full, 1000u);
    EXPECT_EQ(rl.counters().reclaimed, 0u);
    // Each kept its own state: 250 ms less a nanosecond buys four, not five.
    for (uint8_t i = 1; i <= 4; ++i) EXPECT_EQ(burst_at(rl, v4(192, 0, 2, i), almost), 4u);

    EXPECT_EQ(rl.tracked(), 4u);

    // Once their buckets are full again, forgetting one costs nothing and a
    // newcomer gets its place: each holds a packet's cost less a nanosecond,
    // so four packets' worth and a nanosecond later.
    const Time refilled = almost + 4 * kCost + 1ns;
    EXPECT_FALSE(rl.allow(v4(198, 51, 100, 1), refilled - 1ns));
    EXPECT_TRUE(rl.allow(v4(198, 51, 100, 1), refilled));
    EXPECT_EQ(rl.counters().reclaimed, 1u);
}

TEST(Ratelimiter, MillionSourceFloodStaysBoundedAndSparesTheLegitimateSource) {
    Ratelimiter rl(Ratelimiter::kDefaultMaxSources, kKey);
    const size_t footprint = rl.memory_bytes();
    ASSERT_LE(footprint, size_t{512} * 1024);
    const IpAddress legit = v4(198, 51, 100, 7);
    uint64_t calls = 0;

    // The legitimate source was here before the flood and used its burst.
    ASSERT_EQ(burst_at(rl, legit, kT0), kBurst);
    calls += kBurst + 1;

    // 10^6 distinct sources in one second: every other one an IPv4 host, the
    // rest /64s out of one /32, as a flooder with address space would send.
    constexpr uint32_t kFlood = 1'000'000;
    constexpr uint32_t kLegitEvery = kCost / 1us;  // one flood packet a microsecond
    unsigned legit_allowed = 0;
    for (uint32_t i = 0; i < kFlood; ++i) {
        const Time now = kT0 + i * 1us;
        const IpAddress src =
            i % 2 == 0 ? v4(0x0a000000 + i) : v6(0x20010db800000000 + i, i * 7919);
        (void)rl.allow(src, now);
        ++calls;
        ASSERT_LE(rl.tracked(), rl.max_sources()) << "after flood packet " << i;

        if (i > 0 && i % kLegitEvery == 0) {
            // Exactly its rate: one on time, and not one more (a reset bucket
            // would let a second through).
            ASSERT_TRUE(rl.allow(legit, now)) << "at flood packet " << i;
            ASSERT_FALSE(rl.allow(legit, now)) << "at flood packet " << i;
            calls += 2;
            ++legit_allowed;
        }
    }
    EXPECT_EQ(legit_allowed, kFlood / kLegitEvery - 1);
    EXPECT_EQ(rl.memory_bytes(), footprint);
    EXPECT_EQ(rl.tracked(), rl.max_sources());
    const RatelimiterCounters& c = rl.counters();
    EXPECT_GT(c.table_full, 0u);
    EXPECT_GT(c.reclaimed, 0u);
    EXPECT_EQ(c.allowed + c.limited + c.table_full, calls);

    // A second later everything the flood left is collectable; the legitimate
    // source, still active, is not.
    ASSERT_TRUE(rl.allow(legit, kT0 + 1s + 1s));
    rl.gc(kT0 + 1s + 1s);
    EXPECT_EQ(rl.tracked(), 1u);
}

// ---- Against a naive model --------------------------------------------------

// WireGuard's bucket in the plainest form: one entry per source for ever, no
// bound, no eviction.
class NaiveRatelimiter {
public:
    bool allow(const RateSource& s, Time now) {
        const auto key = std::make_pair(static_cast<int>(s.family), s.prefix);
        auto it = buckets_.find(key);
        if (it == buckets_.end()) {
            buckets_[key] = {Ratelimiter::kBurstCredit - kCost, now};
            return true;
        }
        auto& [credit, last] = it->second;
        credit = std::min(Ratelimiter::kBurstCredit, credit + (now - last));
        last = now;
        if (credit < kCost) return false;
        credit -= kCost;
        return true;
    }

private:
    std::map<std::pair<int, uint64_t>, std::pair<Time, Time>> buckets_;
};

TEST(Ratelimiter, AgreesWithTheNaiveModelWhateverItForgets) {
    // A small table, sources that come and go, gc() now and then: eviction and
    // collection must be invisible except as table_full refusals, and those
    // only when the table is full.
    Ratelimiter rl(64, kKey);
    NaiveRatelimiter model;
    std::mt19937_64 rng(12345);
    std::uniform_int_distribution<int> pick(0, 299);
    std::uniform_int_distribution<int> percent(0, 99);

    Time now = kT0;
    uint64_t table_full_seen = 0;
    for (int op = 0; op < 200'000; ++op) {
        // Alternate busy stretches (table_full, limited) with quiet ones
        // (refilled entries to reclaim, idle ones to collect).
        const int max_step_us = (op / 10'000) % 2 == 0 ? 300 : 30'000;
        now += std::uniform_int_distribution<int>(0, max_step_us)(rng) * 1us;
        if (percent(rng) == 0) {
            rl.gc(now);
            continue;
        }
        // A few busy sources and many occasional ones; v6 sources rotate
        // their interface id within eight /64s.
        const int n = percent(rng) < 50 ? pick(rng) % 8 : pick(rng);
        const IpAddress src =
            n % 3 == 0 ? v6(0x20010db8000000f0 + n % 8, rng()) : v4(0xc0000000 + n);
        const size_t tracked_before = rl.tracked();
        const bool got = rl.allow(src, now);
        if (rl.counters().table_full != table_full_seen) {
            table_full_seen = rl.counters().table_full;
            ASSERT_FALSE(got);
            ASSERT_EQ(tracked_before, rl.max_sources()) << "refused with room, op " << op;
            continue;  // the model never heard of it either
        }
        ASSERT_EQ(got, model.allow(rate_source_of(src), now)) << "op " << op;
        ASSERT_LE(rl.tracked(), rl.max_sources());
    }
    // The run must have exercised what it is about.
    EXPECT_GT(rl.counters().reclaimed, 0u);
    EXPECT_GT(rl.counters().collected, 0u);
    EXPECT_GT(rl.counters().table_full, 0u);
    EXPECT_GT(rl.counters().limited, 0u);
}

}  // namespace
}  // namespace sluice
