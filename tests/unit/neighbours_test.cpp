// NeighbourResolver against a fake clock and fake packets (addresses of ints
// it never dereferences): every state of neighbours.hpp, its deadlines to the
// nanosecond, what each call asks the caller to do and what it counts.
#include "control/neighbours.hpp"

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <optional>
#include <ostream>
#include <utility>
#include <vector>

namespace sluice {

// Readable failures: "10.0.0.1" instead of 17 bytes.
void PrintTo(const IpAddress& address, std::ostream* os) {
    *os << address.to_string();
}

namespace {

using namespace std::chrono_literals;
using Time = NeighbourResolver::Time;
using Packets = std::vector<void*>;
using Usable = std::vector<std::pair<IpAddress, MacAddress>>;

// Not zero, so that a deadline computed from 0 instead of `now` shows.
constexpr Time kT0 = 1000s;
constexpr Time kTick = 1ns;

IpAddress v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    IpAddress address;
    address.family = IpFamily::v4;
    address.addr[0] = a;
    address.addr[1] = b;
    address.addr[2] = c;
    address.addr[3] = d;
    return address;
}

// fd00::<last>
IpAddress v6(uint8_t last) {
    IpAddress address;
    address.family = IpFamily::v6;
    address.addr[0] = 0xfd;
    address.addr[15] = last;
    return address;
}

MacAddress mac(uint8_t last) {
    return {0x02, 0x00, 0x00, 0x00, 0x00, last};
}

const IpAddress kA = v4(10, 0, 0, 1);
const IpAddress kB = v4(10, 0, 0, 2);
const IpAddress kC = v4(10, 0, 0, 3);
const IpAddress kV6 = v6(1);

class Neighbours : public testing::Test {
protected:
    NeighbourResolver resolver;
    Time now = kT0;
    std::array<int, 16> storage{};

    // The i-th fake packet.
    void* pkt(size_t i) { return &storage.at(i); }

    void reset(NeighbourOptions options) { resolver = NeighbourResolver(options); }

    NeighbourActions want(const IpAddress& address, size_t packet) {
        NeighbourActions out;
        resolver.want(address, pkt(packet), now, out);
        return out;
    }

    NeighbourActions learned(const IpAddress& address, const MacAddress& m, bool create = true) {
        NeighbourActions out;
        resolver.learned(address, m, create, now, out);
        return out;
    }

    NeighbourActions tick_at(Time t) {
        now = t;
        NeighbourActions out;
        resolver.tick(now, out);
        return out;
    }

    std::optional<NeighbourEntry> entry(const IpAddress& address) const {
        for (const auto& e : resolver.entries()) {
            if (e.address == address) return e;
        }
        return std::nullopt;
    }

    const NeighbourCounters& counters() const { return resolver.counters(); }
};

bool nothing_to_do(const NeighbourActions& out) {
    return out.solicit.empty() && out.release.empty() && out.drop.empty() && !out.table_changed;
}

// ---- Resolving ---------------------------------------------------------------

TEST_F(Neighbours, FirstWantSolicitsOnceAndQueues) {
    const auto first = want(kA, 0);
    EXPECT_EQ(first.solicit, std::vector<IpAddress>{kA});
    EXPECT_TRUE(first.release.empty());
    EXPECT_TRUE(first.drop.empty());
    EXPECT_FALSE(first.table_changed);

    const auto second = want(kA, 1);
    EXPECT_TRUE(nothing_to_do(second));

    const auto e = entry(kA);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->state, NeighbourState::incomplete);
    EXPECT_FALSE(e->mac);
    EXPECT_EQ(e->tries, 1u);
    EXPECT_EQ(e->queued, 2u);
    EXPECT_EQ(e->since, kT0);
    EXPECT_EQ(counters().requests_sent, 1u);
    EXPECT_EQ(counters().queued, 2u);
    EXPECT_TRUE(resolver.usable().empty());
    EXPECT_EQ(resolver.next_deadline(), kT0 + 1s);
}

TEST_F(Neighbours, RetransmitsEverySecondThenFails) {
    want(kA, 0);
    want(kA, 1);

    EXPECT_TRUE(nothing_to_do(tick_at(kT0 + 1s - kTick)));
    EXPECT_EQ(tick_at(kT0 + 1s).solicit, std::vector<IpAddress>{kA});
    EXPECT_EQ(entry(kA)->tries, 2u);
    EXPECT_EQ(resolver.next_deadline(), kT0 + 2s);
    EXPECT_TRUE(nothing_to_do(tick_at(kT0 + 2s - kTick)));
    EXPECT_EQ(tick_at(kT0 + 2s).solicit, std::vector<IpAddress>{kA});
    EXPECT_EQ(entry(kA)->tries, 3u);
    EXPECT_EQ(counters().requests_sent, 3u);  // probes = 3, the first one included
    EXPECT_TRUE(nothing_to_do(tick_at(kT0 + 3s - kTick)));

    // No answer to the last one either: failed, and what waited is dropped.
    const auto fail = tick_at(kT0 + 3s);
    EXPECT_TRUE(fail.solicit.empty());
    EXPECT_EQ(fail.drop, (Packets{pkt(0), pkt(1)}));
    EXPECT_FALSE(fail.table_changed);
    EXPECT_EQ(entry(kA)->state, NeighbourState::failed);
    EXPECT_EQ(entry(kA)->queued, 0u);
    EXPECT_EQ(entry(kA)->since, kT0 + 3s);
    EXPECT_EQ(counters().failed, 1u);
    EXPECT_EQ(counters().dropped_failed, 2u);
    EXPECT_EQ(counters().requests_sent, 3u);
    EXPECT_EQ(resolver.next_deadline(), kT0 + 6s);  // failed_hold = 3 s

    // Packets during the hold are dropped at once, without a request.
    now = kT0 + 4s;
    const auto held = want(kA, 2);
    EXPECT_TRUE(held.solicit.empty());
    EXPECT_EQ(held.drop, Packets{pkt(2)});
    EXPECT_EQ(counters().dropped_failed, 3u);
    EXPECT_EQ(counters().queued, 2u);
    EXPECT_TRUE(nothing_to_do(tick_at(kT0 + 6s - kTick)));

    // The hold is over: the entry goes, and the next packet starts over.
    EXPECT_TRUE(nothing_to_do(tick_at(kT0 + 6s)));
    EXPECT_FALSE(entry(kA));
    EXPECT_EQ(resolver.next_deadline(), std::nullopt);

    now = kT0 + 7s;
    const auto again = want(kA, 3);
    EXPECT_EQ(again.solicit, std::vector<IpAddress>{kA});
    EXPECT_TRUE(again.drop.empty());
    EXPECT_EQ(entry(kA)->state, NeighbourState::incomplete);
    EXPECT_EQ(entry(kA)->tries, 1u);
    EXPECT_EQ(entry(kA)->queued, 1u);
    EXPECT_EQ(counters().requests_sent, 4u);
    EXPECT_EQ(resolver.next_deadline(), kT0 + 8s);
}

TEST_F(Neighbours, HoldOverStartsOverEvenBeforeTheTick) {
    want(kA, 0);
    tick_at(kT0 + 1s);
    tick_at(kT0 + 2s);
    tick_at(kT0 + 3s);
    ASSERT_EQ(entry(kA)->state, NeighbourState::failed);

    now = kT0 + 6s - kTick;
    EXPECT_EQ(want(kA, 1).drop, Packets{pkt(1)});
    now = kT0 + 6s;  // no tick() since
    const auto out = want(kA, 2);
    EXPECT_EQ(out.solicit, std::vector<IpAddress>{kA});
    EXPECT_TRUE(out.drop.empty());
    EXPECT_EQ(entry(kA)->state, NeighbourState::incomplete);
}

TEST_F(Neighbours, LateTickSendsOneRequestNotABurst) {
    want(kA, 0);
    const auto late = tick_at(kT0 + 5s + 500ms);
    EXPECT_EQ(late.solicit, std::vector<IpAddress>{kA});
    EXPECT_EQ(resolver.next_deadline(), kT0 + 6s + 500ms);
    // A little late keeps the cadence.
    EXPECT_EQ(tick_at(kT0 + 6s + 700ms).solicit, std::vector<IpAddress>{kA});
    EXPECT_EQ(resolver.next_deadline(), kT0 + 7s + 500ms);
}

TEST_F(Neighbours, ReplyReleasesTheQueueInOrder) {
    want(kA, 0);
    want(kA, 1);
    want(kA, 2);
    now = kT0 + 500ms;

    const auto out = learned(kA, mac(1), /*create=*/false);  // the entry exists
    ASSERT_EQ(out.release.size(), 1u);
    EXPECT_EQ(out.release[0].address, kA);
    EXPECT_EQ(out.release[0].mac, mac(1));
    EXPECT_EQ(out.release[0].packets, (Packets{pkt(0), pkt(1), pkt(2)}));
    EXPECT_TRUE(out.drop.empty());
    EXPECT_TRUE(out.solicit.empty());
    EXPECT_TRUE(out.table_changed);

    const auto e = entry(kA);
    EXPECT_EQ(e->state, NeighbourState::reachable);
    EXPECT_EQ(e->mac, mac(1));
    EXPECT_EQ(e->tries, 0u);
    EXPECT_EQ(e->queued, 0u);
    EXPECT_EQ(e->since, kT0 + 500ms);
    EXPECT_EQ(counters().resolved, 1u);
    EXPECT_EQ(counters().released, 3u);
    EXPECT_EQ(counters().changed, 0u);
    EXPECT_EQ(resolver.usable(), (Usable{{kA, mac(1)}}));
    EXPECT_EQ(resolver.next_deadline(), kT0 + 30s + 500ms);

    // No more retransmissions.
    EXPECT_TRUE(nothing_to_do(tick_at(kT0 + 5s)));

    // A packet from an lcore whose table is older is sent at once.
    const auto late = want(kA, 3);
    ASSERT_EQ(late.release.size(), 1u);
    EXPECT_EQ(late.release[0].mac, mac(1));
    EXPECT_EQ(late.release[0].packets, Packets{pkt(3)});
    EXPECT_TRUE(late.solicit.empty());
    EXPECT_FALSE(late.table_changed);
    EXPECT_EQ(counters().released, 4u);
    EXPECT_EQ(counters().queued, 3u);
}

TEST_F(Neighbours, QueueOverflowDropsTheOldest) {
    for (size_t i = 0; i < 4; ++i) EXPECT_TRUE(want(kA, i).drop.empty());
    EXPECT_EQ(want(kA, 4).drop, Packets{pkt(0)});
    EXPECT_EQ(want(kA, 5).drop, Packets{pkt(1)});
    EXPECT_EQ(counters().dropped_queue_full, 2u);
    EXPECT_EQ(counters().queued, 6u);
    EXPECT_EQ(entry(kA)->queued, 4u);

    const auto out = learned(kA, mac(1));
    ASSERT_EQ(out.release.size(), 1u);
    EXPECT_EQ(out.release[0].packets, (Packets{pkt(2), pkt(3), pkt(4), pkt(5)}));
    EXPECT_EQ(counters().released, 4u);
}

TEST_F(Neighbours, SmallerQueue) {
    reset({.max_queued = 1});
    want(kA, 0);
    EXPECT_EQ(want(kA, 1).drop, Packets{pkt(0)});
    EXPECT_EQ(learned(kA, mac(1)).release.at(0).packets, Packets{pkt(1)});
}

// ---- Learning ----------------------------------------------------------------

TEST_F(Neighbours, LearnedWithoutCreateIgnoresAnUnknownAddress) {
    EXPECT_TRUE(nothing_to_do(learned(kA, mac(1), /*create=*/false)));
    EXPECT_TRUE(resolver.entries().empty());
    EXPECT_EQ(resolver.next_deadline(), std::nullopt);
}

TEST_F(Neighbours, LearnedWithCreateAddsAReachableEntry) {
    const auto out = learned(kA, mac(1), /*create=*/true);
    EXPECT_TRUE(out.table_changed);
    EXPECT_TRUE(out.release.empty());
    EXPECT_TRUE(out.solicit.empty());
    EXPECT_EQ(entry(kA)->state, NeighbourState::reachable);
    EXPECT_EQ(entry(kA)->since, kT0);
    EXPECT_EQ(resolver.usable(), (Usable{{kA, mac(1)}}));
    EXPECT_EQ(counters().resolved, 0u);  // nothing was resolving
    EXPECT_EQ(resolver.next_deadline(), kT0 + 30s);
}

TEST_F(Neighbours, MacChangeIsCountedAndPublished) {
    learned(kA, mac(1));
    now = kT0 + 1s;
    const auto same = learned(kA, mac(1), /*create=*/false);
    EXPECT_FALSE(same.table_changed);  // only confirmed
    EXPECT_EQ(resolver.next_deadline(), kT0 + 31s);

    const auto moved = learned(kA, mac(2), /*create=*/false);  // a gratuitous ARP
    EXPECT_TRUE(moved.table_changed);
    EXPECT_EQ(counters().changed, 1u);
    EXPECT_EQ(resolver.usable(), (Usable{{kA, mac(2)}}));

    EXPECT_FALSE(learned(kA, mac(2)).table_changed);
    EXPECT_EQ(counters().changed, 1u);
}

TEST_F(Neighbours, LateReplyToAFailedEntryMakesItReachable) {
    want(kA, 0);
    tick_at(kT0 + 1s);
    tick_at(kT0 + 2s);
    tick_at(kT0 + 3s);
    ASSERT_EQ(entry(kA)->state, NeighbourState::failed);

    now = kT0 + 4s;
    const auto out = learned(kA, mac(1), /*create=*/false);
    EXPECT_TRUE(out.table_changed);
    EXPECT_TRUE(out.release.empty());  // what waited was dropped already
    EXPECT_EQ(entry(kA)->state, NeighbourState::reachable);
    EXPECT_EQ(want(kA, 1).release.at(0).packets, Packets{pkt(1)});
}

// ---- Ageing ------------------------------------------------------------------

TEST_F(Neighbours, ReachableAgesIntoProbingAndAReplyBringsItBack) {
    learned(kA, mac(1));
    EXPECT_TRUE(nothing_to_do(tick_at(kT0 + 30s - kTick)));

    const auto stale = tick_at(kT0 + 30s);
    EXPECT_EQ(stale.solicit, std::vector<IpAddress>{kA});
    EXPECT_FALSE(stale.table_changed);  // the MAC stays usable
    EXPECT_EQ(entry(kA)->state, NeighbourState::probing);
    EXPECT_EQ(entry(kA)->tries, 1u);
    EXPECT_EQ(entry(kA)->since, kT0 + 30s);
    EXPECT_EQ(resolver.usable(), (Usable{{kA, mac(1)}}));
    EXPECT_EQ(resolver.next_deadline(), kT0 + 31s);

    // Still sent to at once while probing.
    EXPECT_EQ(want(kA, 0).release.at(0).packets, Packets{pkt(0)});

    now = kT0 + 30s + 500ms;
    const auto reply = learned(kA, mac(1), /*create=*/false);
    EXPECT_FALSE(reply.table_changed);
    EXPECT_TRUE(reply.release.empty());
    EXPECT_EQ(entry(kA)->state, NeighbourState::reachable);
    EXPECT_EQ(entry(kA)->tries, 0u);
    EXPECT_EQ(counters().resolved, 0u);
    EXPECT_EQ(resolver.next_deadline(), kT0 + 60s + 500ms);
    EXPECT_TRUE(nothing_to_do(tick_at(kT0 + 31s)));
}

TEST_F(Neighbours, ProbingReplyWithAnotherMacIsAChange) {
    learned(kA, mac(1));
    tick_at(kT0 + 30s);
    const auto out = learned(kA, mac(2));
    EXPECT_TRUE(out.table_changed);
    EXPECT_EQ(counters().changed, 1u);
    EXPECT_EQ(resolver.usable(), (Usable{{kA, mac(2)}}));
}

TEST_F(Neighbours, ProbingWithoutAnswerRemovesTheEntry) {
    learned(kA, mac(1));
    EXPECT_EQ(tick_at(kT0 + 30s).solicit, std::vector<IpAddress>{kA});
    EXPECT_TRUE(nothing_to_do(tick_at(kT0 + 31s - kTick)));
    EXPECT_EQ(tick_at(kT0 + 31s).solicit, std::vector<IpAddress>{kA});
    EXPECT_EQ(tick_at(kT0 + 32s).solicit, std::vector<IpAddress>{kA});
    EXPECT_EQ(counters().requests_sent, 3u);
    EXPECT_EQ(resolver.usable(), (Usable{{kA, mac(1)}}));

    const auto gone = tick_at(kT0 + 33s);
    EXPECT_TRUE(gone.solicit.empty());
    EXPECT_TRUE(gone.drop.empty());
    EXPECT_TRUE(gone.table_changed);
    EXPECT_FALSE(entry(kA));
    EXPECT_TRUE(resolver.usable().empty());
    EXPECT_EQ(counters().failed, 0u);  // not a resolution
    EXPECT_EQ(resolver.next_deadline(), std::nullopt);

    // The next packet resolves from scratch.
    EXPECT_EQ(want(kA, 0).solicit, std::vector<IpAddress>{kA});
    EXPECT_EQ(entry(kA)->state, NeighbourState::incomplete);
}

TEST_F(Neighbours, OtherOptions) {
    reset({.reachable = 5s, .retransmit = 250ms, .probes = 2, .failed_hold = 1s});
    want(kA, 0);
    EXPECT_EQ(resolver.next_deadline(), kT0 + 250ms);
    EXPECT_EQ(tick_at(kT0 + 250ms).solicit, std::vector<IpAddress>{kA});
    EXPECT_EQ(tick_at(kT0 + 500ms).drop, Packets{pkt(0)});
    EXPECT_EQ(resolver.next_deadline(), kT0 + 1500ms);
    tick_at(kT0 + 1500ms);
    EXPECT_FALSE(entry(kA));

    learned(kB, mac(2));
    EXPECT_EQ(resolver.next_deadline(), kT0 + 6500ms);
    EXPECT_EQ(tick_at(kT0 + 6500ms).solicit, std::vector<IpAddress>{kB});
    EXPECT_EQ(tick_at(kT0 + 6750ms).solicit, std::vector<IpAddress>{kB});
    EXPECT_TRUE(tick_at(kT0 + 7s).table_changed);
    EXPECT_TRUE(resolver.entries().empty());
}

// ---- Static entries ----------------------------------------------------------

TEST_F(Neighbours, StaticEntriesNeverAgeNorLearn) {
    resolver.add_static(kA, mac(1));
    const auto e = entry(kA);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->state, NeighbourState::permanent);
    EXPECT_EQ(e->mac, mac(1));
    EXPECT_EQ(resolver.usable(), (Usable{{kA, mac(1)}}));
    EXPECT_EQ(resolver.next_deadline(), std::nullopt);

    EXPECT_TRUE(nothing_to_do(learned(kA, mac(2), /*create=*/true)));
    EXPECT_TRUE(nothing_to_do(learned(kA, mac(2), /*create=*/false)));
    EXPECT_EQ(counters().changed, 0u);
    EXPECT_TRUE(nothing_to_do(tick_at(kT0 + 24h)));
    EXPECT_EQ(entry(kA)->state, NeighbourState::permanent);
    EXPECT_EQ(entry(kA)->mac, mac(1));

    const auto out = want(kA, 0);
    ASSERT_EQ(out.release.size(), 1u);
    EXPECT_EQ(out.release[0].mac, mac(1));
    EXPECT_EQ(out.release[0].packets, Packets{pkt(0)});
    EXPECT_TRUE(out.solicit.empty());
}

TEST_F(Neighbours, StaticReplacesALearnedEntry) {
    learned(kA, mac(1));
    learned(kB, mac(2));
    resolver.add_static(kA, mac(9));
    EXPECT_EQ(entry(kA)->state, NeighbourState::permanent);
    EXPECT_EQ(resolver.usable(), (Usable{{kA, mac(9)}, {kB, mac(2)}}));
    EXPECT_EQ(resolver.next_deadline(), kT0 + 30s);  // only B ages
    tick_at(kT0 + 30s);
    EXPECT_EQ(entry(kA)->state, NeighbourState::permanent);
    EXPECT_EQ(entry(kB)->state, NeighbourState::probing);
}

TEST_F(Neighbours, StaticOverAResolvingEntrySendsWhatWaitedNext) {
    want(kA, 0);
    want(kA, 1);
    resolver.add_static(kA, mac(1));
    EXPECT_EQ(resolver.next_deadline(), std::nullopt);
    EXPECT_TRUE(nothing_to_do(tick_at(kT0 + 10s)));

    const auto out = want(kA, 2);
    ASSERT_EQ(out.release.size(), 1u);
    EXPECT_EQ(out.release[0].packets, (Packets{pkt(0), pkt(1), pkt(2)}));
    EXPECT_EQ(counters().released, 3u);
}

// ---- Limits ------------------------------------------------------------------

TEST_F(Neighbours, MaxEntriesBoundsTheTable) {
    reset({.max_entries = 2});
    want(kA, 0);
    learned(kB, mac(2));

    const auto full = want(kC, 1);
    EXPECT_TRUE(full.solicit.empty());
    EXPECT_EQ(full.drop, Packets{pkt(1)});
    EXPECT_EQ(counters().dropped_table_full, 1u);
    EXPECT_EQ(counters().queued, 1u);
    EXPECT_TRUE(nothing_to_do(learned(kC, mac(3), /*create=*/true)));
    EXPECT_EQ(resolver.entries().size(), 2u);

    // Existing entries still learn and resolve.
    EXPECT_EQ(learned(kA, mac(1)).release.at(0).packets, Packets{pkt(0)});

    // Configuration is not learning: a static entry goes in regardless.
    resolver.add_static(kC, mac(3));
    EXPECT_EQ(resolver.entries().size(), 3u);

    // Room again once an entry goes away.
    reset({.max_entries = 1});
    want(kA, 0);
    tick_at(kT0 + 1s);
    tick_at(kT0 + 2s);
    tick_at(kT0 + 3s);
    EXPECT_EQ(want(kB, 1).drop, Packets{pkt(1)});
    tick_at(kT0 + 6s);
    EXPECT_EQ(want(kB, 2).solicit, std::vector<IpAddress>{kB});
}

// ---- Deadlines ---------------------------------------------------------------

TEST_F(Neighbours, NextDeadlineIsTheSoonestOfAnyEntry) {
    EXPECT_EQ(resolver.next_deadline(), std::nullopt);
    resolver.add_static(kC, mac(3));
    EXPECT_EQ(resolver.next_deadline(), std::nullopt);

    learned(kB, mac(2));  // ages at T0 + 30 s
    EXPECT_EQ(resolver.next_deadline(), kT0 + 30s);
    now = kT0 + 100ms;
    want(kA, 0);  // retransmits at T0 + 1.1 s
    EXPECT_EQ(resolver.next_deadline(), kT0 + 1100ms);

    now = kT0 + 200ms;
    learned(kA, mac(1));
    EXPECT_EQ(resolver.next_deadline(), kT0 + 30s);
    now = kT0 + 300ms;
    learned(kB, mac(2));
    EXPECT_EQ(resolver.next_deadline(), kT0 + 30s + 200ms);

    // Ticking early does nothing and changes nothing.
    EXPECT_TRUE(nothing_to_do(tick_at(kT0 + 30s)));
    EXPECT_EQ(resolver.next_deadline(), kT0 + 30s + 200ms);
}

// ---- Addresses ---------------------------------------------------------------

TEST_F(Neighbours, IPv4AndIPv6Mixed) {
    const IpAddress v6b = v6(2);
    want(kV6, 0);
    want(kA, 1);
    want(v6b, 2);
    want(kV6, 3);
    EXPECT_EQ(counters().requests_sent, 3u);

    const auto retry = tick_at(kT0 + 1s);
    EXPECT_EQ(retry.solicit, (std::vector<IpAddress>{kA, kV6, v6b}));  // v4 before v6

    const auto out = learned(kV6, mac(6));
    ASSERT_EQ(out.release.size(), 1u);
    EXPECT_EQ(out.release[0].address, kV6);
    EXPECT_EQ(out.release[0].packets, (Packets{pkt(0), pkt(3)}));
    EXPECT_EQ(entry(kA)->queued, 1u);
    EXPECT_EQ(entry(v6b)->queued, 1u);

    learned(kA, mac(4));
    EXPECT_EQ(resolver.usable(), (Usable{{kA, mac(4)}, {kV6, mac(6)}}));

    const auto all = resolver.entries();
    ASSERT_EQ(all.size(), 3u);
    EXPECT_EQ(all[0].address, kA);
    EXPECT_EQ(all[1].address, kV6);
    EXPECT_EQ(all[2].address, v6b);
}

// ---- Shutdown ----------------------------------------------------------------

TEST_F(Neighbours, TakeAllQueuedEmptiesEveryQueue) {
    want(kB, 0);
    want(kA, 1);
    want(kB, 2);
    learned(kC, mac(3));

    EXPECT_EQ(resolver.take_all_queued(), (Packets{pkt(1), pkt(0), pkt(2)}));
    EXPECT_TRUE(resolver.take_all_queued().empty());
    for (const auto& e : resolver.entries()) EXPECT_EQ(e.queued, 0u) << e.address.to_string();
    EXPECT_EQ(counters().dropped_failed, 0u);
    EXPECT_EQ(counters().released, 0u);

    // The entries themselves carry on, with nothing to release or drop.
    const auto reply = learned(kA, mac(1));
    EXPECT_TRUE(reply.release.empty());
    EXPECT_TRUE(reply.table_changed);
    EXPECT_EQ(counters().resolved, 1u);
    tick_at(kT0 + 1s);
    tick_at(kT0 + 2s);
    EXPECT_TRUE(tick_at(kT0 + 3s).drop.empty());
    EXPECT_EQ(entry(kB)->state, NeighbourState::failed);
    EXPECT_EQ(counters().dropped_failed, 0u);
}

// ---- Names -------------------------------------------------------------------

TEST(NeighbourNames, Mac) {
    EXPECT_EQ(mac_to_string(MacAddress{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}), "02:00:00:00:00:01");
    EXPECT_EQ(mac_to_string(MacAddress{0xff, 0xab, 0x0c, 0x9d, 0x10, 0xe0}), "ff:ab:0c:9d:10:e0");
}

TEST(NeighbourNames, States) {
    EXPECT_STREQ(to_string(NeighbourState::incomplete), "incomplete");
    EXPECT_STREQ(to_string(NeighbourState::reachable), "reachable");
    EXPECT_STREQ(to_string(NeighbourState::probing), "probing");
    EXPECT_STREQ(to_string(NeighbourState::failed), "failed");
    EXPECT_STREQ(to_string(NeighbourState::permanent), "static");
}

}  // namespace
}  // namespace sluice
