// ReplayWindow against a naive model of what WireGuard accepts:
//
//   accept(c)  iff  c < REJECT_AFTER_MESSAGES
//              and  c was not accepted before
//              and  (nothing accepted yet, or c > max, or max - c < 8128)
//
// The model keeps every accepted counter in a std::set, so it has no ring,
// no words and no wrap-around: any disagreement is the window's bug.
#include "dataplane/replay_window.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

namespace sluice {
namespace {

constexpr uint64_t kReject = wire::kRejectAfterMessages;
constexpr uint64_t kUsable = wire::kReplayWindowUsable;  // 8128
static_assert(kUsable == 8128);
static_assert(kReject == 0xFFFF'FFFF'FFFF'DFFFull);  // 2^64 - 2^13 - 1

class NaiveWindow {
public:
    bool would_accept(uint64_t c) const {
        if (c >= kReject) return false;
        if (accepted_.count(c) != 0) return false;
        if (!max_ || c > *max_) return true;
        return *max_ - c < kUsable;
    }
    bool accept(uint64_t c) {
        if (!would_accept(c)) return false;
        accepted_.insert(c);
        max_ = max_ ? std::max(*max_, c) : c;
        return true;
    }
    void reset() {
        accepted_.clear();
        max_.reset();
    }
    std::optional<uint64_t> max() const { return max_; }
    // What ReplayWindow::next_expected() should say.
    uint64_t next_expected() const { return max_ ? *max_ + 1 : 0; }

private:
    std::set<uint64_t> accepted_;
    std::optional<uint64_t> max_;
};

// may_accept() is const, but a `mutable` member or a const_cast would slip
// past that; comparing the bytes catches any change.
static_assert(std::is_trivially_copyable_v<ReplayWindow>);
static_assert(std::has_unique_object_representations_v<ReplayWindow>);
bool same_bytes(const ReplayWindow& a, const ReplayWindow& b) {
    return std::memcmp(&a, &b, sizeof(ReplayWindow)) == 0;
}

uint64_t saturating_add(uint64_t a, uint64_t b) {
    return b > UINT64_MAX - a ? UINT64_MAX : a + b;
}
uint64_t saturating_sub(uint64_t a, uint64_t b) {
    return b > a ? 0 : a - b;
}

// Feeds one counter to both and reports the first disagreement.
::testing::AssertionResult step(ReplayWindow& w, NaiveWindow& m, uint64_t c) {
    const ReplayWindow before = w;
    const bool may = w.may_accept(c);
    if (!same_bytes(before, w)) {
        return ::testing::AssertionFailure() << "may_accept(" << c << ") changed the window";
    }
    const bool expected = m.would_accept(c);
    const std::string max_text = m.max() ? std::to_string(*m.max()) : "none";
    if (may != expected) {
        return ::testing::AssertionFailure()
               << "may_accept(" << c << ") = " << may << ", model says " << expected << " (max "
               << max_text << ")";
    }
    const bool got = w.check_and_update(c);
    m.accept(c);
    if (got != expected) {
        return ::testing::AssertionFailure()
               << "check_and_update(" << c << ") = " << got << ", model says " << expected
               << " (max " << max_text << ")";
    }
    if (!got && !same_bytes(before, w)) {
        return ::testing::AssertionFailure()
               << "rejected check_and_update(" << c << ") changed the window";
    }
    if (w.next_expected() != m.next_expected()) {
        return ::testing::AssertionFailure()
               << "after " << c << ": next_expected() " << w.next_expected() << ", model "
               << m.next_expected();
    }
    return ::testing::AssertionSuccess();
}

// Asks may_accept() about every counter in [lo, hi] without recording any.
::testing::AssertionResult probe_range(const ReplayWindow& w, const NaiveWindow& m, uint64_t lo,
                                       uint64_t hi) {
    for (uint64_t c = lo;; ++c) {
        if (w.may_accept(c) != m.would_accept(c)) {
            return ::testing::AssertionFailure()
                   << "may_accept(" << c << ") = " << w.may_accept(c) << ", model says "
                   << m.would_accept(c) << " (max " << (m.max() ? std::to_string(*m.max()) : "none")
                   << ")";
        }
        if (c == hi) break;
    }
    return ::testing::AssertionSuccess();
}

// Everything around the current window: below its edge, inside it, ahead.
::testing::AssertionResult probe_around_max(const ReplayWindow& w, const NaiveWindow& m) {
    const uint64_t max = m.max().value_or(0);
    return probe_range(w, m, saturating_sub(max, kUsable + 200), saturating_add(max, 200));
}

// ---- Known cases ------------------------------------------------------------

TEST(ReplayWindow, FreshWindowAcceptsCounterZeroOnce) {
    ReplayWindow w;
    EXPECT_EQ(w.next_expected(), 0u);
    EXPECT_TRUE(w.may_accept(0));
    EXPECT_TRUE(w.check_and_update(0));
    EXPECT_EQ(w.next_expected(), 1u);
    EXPECT_FALSE(w.may_accept(0));
    EXPECT_FALSE(w.check_and_update(0));
    EXPECT_TRUE(w.check_and_update(1));
    EXPECT_FALSE(w.check_and_update(1));
}

TEST(ReplayWindow, FreshWindowAcceptsAnyFirstCounter) {
    for (uint64_t first : {uint64_t{1}, uint64_t{63}, uint64_t{64}, uint64_t{8127}, uint64_t{8128},
                           uint64_t{8192}, uint64_t{1} << 40, kReject - 1}) {
        ReplayWindow w;
        EXPECT_TRUE(w.check_and_update(first)) << first;
        EXPECT_EQ(w.next_expected(), first + 1) << first;
    }
}

TEST(ReplayWindow, FirstCounterThenCounterZeroObeysWindow) {
    {
        ReplayWindow w;
        ASSERT_TRUE(w.check_and_update(8127));
        EXPECT_TRUE(w.check_and_update(0));  // 8127 - 0 < 8128
    }
    {
        ReplayWindow w;
        ASSERT_TRUE(w.check_and_update(8128));
        EXPECT_FALSE(w.may_accept(0));  // 8128 - 0 == 8128: too old
        EXPECT_FALSE(w.check_and_update(0));
        EXPECT_TRUE(w.check_and_update(1));
    }
    {
        ReplayWindow w;
        ASSERT_TRUE(w.check_and_update(10000));
        EXPECT_FALSE(w.check_and_update(1872));
        EXPECT_TRUE(w.check_and_update(1873));
    }
}

// For the newest counter at every bit position of a word (and a few words
// further), max-8127 is the oldest acceptable and max-8128 the first too old.
TEST(ReplayWindow, ExactWindowEdgeAtEveryBitPosition) {
    for (uint64_t base : {uint64_t{8127}, uint64_t{100000}, uint64_t{1} << 33, kReject - 1 - 200}) {
        for (uint64_t k = 0; k < 200; ++k) {
            const uint64_t max = base + k;
            ReplayWindow w;
            ASSERT_TRUE(w.check_and_update(max)) << max;
            EXPECT_TRUE(w.may_accept(max - 8127)) << max;
            EXPECT_FALSE(w.may_accept(max - 8128)) << max;
            EXPECT_FALSE(w.check_and_update(max - 8128)) << max;
            EXPECT_TRUE(w.check_and_update(max - 8127)) << max;
            EXPECT_FALSE(w.check_and_update(max - 8127)) << max;
            EXPECT_EQ(w.next_expected(), max + 1);
        }
    }
}

// Every counter of a full window can be accepted once, in any order, and
// then none of them again; the bits of all 8128 live in the ring at once.
TEST(ReplayWindow, WholeWindowFillsInAnyOrder) {
    std::mt19937_64 rng(7);
    for (uint64_t max : {uint64_t{8127}, uint64_t{8128 + 63}, uint64_t{1'000'000'007}}) {
        ReplayWindow w;
        ASSERT_TRUE(w.check_and_update(max));
        std::vector<uint64_t> older;
        for (uint64_t c = max - 8127; c < max; ++c) older.push_back(c);
        std::shuffle(older.begin(), older.end(), rng);
        for (uint64_t c : older) ASSERT_TRUE(w.check_and_update(c)) << c;
        for (uint64_t c : older) ASSERT_FALSE(w.check_and_update(c)) << c;
        EXPECT_FALSE(w.check_and_update(max));
        EXPECT_FALSE(w.check_and_update(max - 8128));
        EXPECT_TRUE(w.check_and_update(max + 1));
    }
}

// With every bit of the window set, jump ahead by d. Counters that alias old
// bits in the ring (c + 64k, c + 8192k) must read as fresh after the jump,
// old ones still inside the window must stay rejected.
TEST(ReplayWindow, JumpsOfInterestingSizesAgainstModel) {
    constexpr uint64_t k2e20 = uint64_t{1} << 20, k2e40 = uint64_t{1} << 40;
    constexpr uint64_t k2e62 = uint64_t{1} << 62;
    const uint64_t jumps[] = {1,    63,   64,   65,   127,  128,   4096,  8127,  8128,  8129,
                              8191, 8192, 8193, 8255, 8256, 16384, 16385, k2e20, k2e40, k2e62};
    for (uint64_t start : {uint64_t{8200}, uint64_t{8200 + 31}, uint64_t{1} << 50}) {
        for (uint64_t d : jumps) {
            SCOPED_TRACE(::testing::Message() << "start " << start << " jump " << d);
            ReplayWindow w;
            NaiveWindow m;
            for (uint64_t c = start - 8127; c <= start; ++c) ASSERT_TRUE(step(w, m, c));
            ASSERT_TRUE(step(w, m, start + d));
            ASSERT_TRUE(probe_around_max(w, m));
            // Fill what is fillable, then probe again: nothing may be fresh.
            for (uint64_t c = start + d - 8127; c < start + d; ++c) ASSERT_TRUE(step(w, m, c));
            ASSERT_TRUE(probe_around_max(w, m));
        }
    }
}

// The counter that lands on the same ring bit as an accepted one, exactly one
// ring (8192) later, while that old one is out of the window.
TEST(ReplayWindow, AliasOneRingLaterIsFresh) {
    for (uint64_t c : {uint64_t{0}, uint64_t{1}, uint64_t{63}, uint64_t{64}, uint64_t{5000}}) {
        ReplayWindow w;
        ASSERT_TRUE(w.check_and_update(c));
        ASSERT_TRUE(w.check_and_update(c + 8192 + 10));
        EXPECT_TRUE(w.may_accept(c + 8192)) << c;
        EXPECT_TRUE(w.check_and_update(c + 8192)) << c;
        EXPECT_FALSE(w.check_and_update(c + 8192)) << c;
    }
}

// In-order traffic for many laps of the ring, with holes left behind that
// are filled (or found too old) later.
TEST(ReplayWindow, RingWrapsManyTimes) {
    ReplayWindow w;
    NaiveWindow m;
    std::vector<uint64_t> holes;
    const uint64_t laps = 40;
    for (uint64_t c = 0; c < laps * 8192; ++c) {
        if (c % 97 == 5) {
            holes.push_back(c);  // skipped for now
            continue;
        }
        ASSERT_TRUE(step(w, m, c));
        if (c % 1000 == 0 && c >= 8128) {
            ASSERT_TRUE(step(w, m, c - 8127));  // duplicate at the edge
            ASSERT_TRUE(step(w, m, c - 8128));  // too old
        }
        // Fill even holes just before they fall out of the window, odd ones
        // just after.
        while (!holes.empty() && c - holes.front() >= (holes.front() % 2 ? 8140u : 8100u)) {
            ASSERT_TRUE(step(w, m, holes.front()));
            holes.erase(holes.begin());
        }
    }
    ASSERT_TRUE(probe_around_max(w, m));
}

// Advancing by exactly one word at a time, leaving a single counter per word,
// so every word is cleared and reused without a full clear.
TEST(ReplayWindow, WordStepsAcrossManyLaps) {
    ReplayWindow w;
    NaiveWindow m;
    for (uint64_t c = 3; c < 64 * 128 * 30; c += 64) {
        ASSERT_TRUE(step(w, m, c));
        if (c > 64 * 130) {
            ASSERT_TRUE(step(w, m, c - 1));             // fresh, in the previous word
            ASSERT_TRUE(step(w, m, c - 64 * 126));      // newest 126 words ago: a duplicate
            ASSERT_TRUE(step(w, m, c - 64 * 126 + 1));  // fresh, in the oldest live word
            ASSERT_TRUE(step(w, m, c - 64 * 127));      // 8128 behind: too old
        }
    }
    ASSERT_TRUE(probe_around_max(w, m));
}

TEST(ReplayWindow, CountersNearRejectAfterMessages) {
    ReplayWindow w;
    EXPECT_FALSE(w.may_accept(kReject));
    EXPECT_FALSE(w.check_and_update(kReject));
    EXPECT_FALSE(w.check_and_update(kReject + 1));
    EXPECT_FALSE(w.check_and_update(UINT64_MAX));
    EXPECT_EQ(w.next_expected(), 0u);  // rejected counters leave no trace

    EXPECT_TRUE(w.may_accept(kReject - 1));
    EXPECT_TRUE(w.check_and_update(kReject - 1));  // the last acceptable counter
    EXPECT_EQ(w.next_expected(), kReject);
    EXPECT_FALSE(w.check_and_update(kReject - 1));
    EXPECT_FALSE(w.check_and_update(kReject));
    EXPECT_FALSE(w.check_and_update(UINT64_MAX));
    EXPECT_TRUE(w.check_and_update(kReject - 2));
    EXPECT_TRUE(w.check_and_update(kReject - 1 - 8127));
    EXPECT_FALSE(w.check_and_update(kReject - 1 - 8128));
}

TEST(ReplayWindow, InOrderRunUpToRejectAfterMessages) {
    ReplayWindow w;
    NaiveWindow m;
    for (uint64_t c = kReject - 20000; c != 0; ++c) {  // to UINT64_MAX, then stop on wrap
        ASSERT_TRUE(step(w, m, c));
    }
    EXPECT_EQ(w.next_expected(), kReject);
    ASSERT_TRUE(probe_range(w, m, kReject - 9000, UINT64_MAX));
}

TEST(ReplayWindow, MayAcceptNeverMutates) {
    ReplayWindow w;
    for (uint64_t c : {uint64_t{100}, uint64_t{90}, uint64_t{9000}, uint64_t{8999}}) {
        ASSERT_TRUE(w.check_and_update(c));
    }
    const ReplayWindow before = w;
    std::mt19937_64 rng(3);
    for (int i = 0; i < 20000; ++i) {
        uint64_t c = 0;
        switch (i % 4) {
            case 0:
                c = rng();
                break;
            case 1:
                c = 9000 + rng() % 20000;
                break;  // ahead, across many words
            case 2:
                c = rng() % 9001;
                break;  // behind and at the newest
            case 3:
                c = kReject - 5 + rng() % 10;
                break;
        }
        (void)w.may_accept(c);
    }
    EXPECT_TRUE(same_bytes(before, w));
    // And the answers it gives match what a copy then records.
    for (uint64_t c : {uint64_t{100}, uint64_t{101}, uint64_t{871}, uint64_t{872}, uint64_t{9001},
                       uint64_t{1} << 50, kReject - 1, kReject}) {
        ReplayWindow copy = w;
        EXPECT_EQ(w.may_accept(c), copy.check_and_update(c)) << c;
    }
}

TEST(ReplayWindow, ResetForgetsEverything) {
    ReplayWindow w;
    for (uint64_t c = 0; c < 20000; c += 3) ASSERT_TRUE(w.check_and_update(c));
    ASSERT_TRUE(w.check_and_update(kReject - 1));
    w.reset();
    EXPECT_TRUE(same_bytes(w, ReplayWindow{}));
    EXPECT_EQ(w.next_expected(), 0u);
    EXPECT_TRUE(w.check_and_update(0));
    EXPECT_TRUE(w.check_and_update(3));
    EXPECT_TRUE(w.check_and_update(kReject - 1));
}

// ---- Random sequences --------------------------------------------------------

// How far a generated counter strays from the model's max. `can_go_far` lets
// a run reach the top of the counter space (where it then stays, since the
// window never moves back), so it is off for most seeds.
uint64_t next_counter(std::mt19937_64& rng, const NaiveWindow& m,
                      const std::vector<uint64_t>& recent, bool can_go_far) {
    const uint64_t max = m.max().value_or(0);
    const unsigned kind = static_cast<unsigned>(rng() % 100);
    if (kind < 30) return saturating_add(max, 1 + rng() % 4);    // in order
    if (kind < 40) return saturating_add(max, 1 + rng() % 300);  // small gap
    if (kind < 45) {                                             // word/ring-sized jump
        static constexpr uint64_t kJumps[] = {63, 64, 65, 128, 8127, 8128, 8129, 8191, 8192, 8193};
        return saturating_add(max, kJumps[rng() % std::size(kJumps)]);
    }
    if (kind < 47) return saturating_add(max, 8192 + rng() % 100000);  // far beyond the ring
    if (kind < 70) return saturating_sub(max, rng() % 8400);           // reordered / late
    if (kind < 78) {                                                   // the edge
        static constexpr uint64_t kBack[] = {8126, 8127, 8128, 8129, 8191, 8192};
        return saturating_sub(max, kBack[rng() % std::size(kBack)]);
    }
    if (kind < 93 && !recent.empty()) return recent[rng() % recent.size()];  // duplicate
    if (kind < 95) return saturating_sub(max, rng() % (uint64_t{1} << 20));  // ancient
    if (!can_go_far) return saturating_add(max, rng() % 50);
    if (kind < 98) return saturating_add(max, rng() % (uint64_t{1} << 60));  // huge jump
    return kReject - 3 + rng() % 6;                                          // the very top
}

void run_random(uint64_t seed, size_t steps, bool can_go_far) {
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    std::mt19937_64 rng(seed);
    ReplayWindow w;
    NaiveWindow m;
    std::vector<uint64_t> recent;  // last accepted counters, for duplicates
    for (size_t i = 0; i < steps; ++i) {
        if (rng() % 50000 == 0) {
            w.reset();
            m.reset();
            recent.clear();
        }
        const uint64_t c = next_counter(rng, m, recent, can_go_far);
        const bool fresh = m.would_accept(c);
        ASSERT_TRUE(step(w, m, c)) << "step " << i;
        if (fresh) {
            if (recent.size() < 256) {
                recent.push_back(c);
            } else {
                recent[rng() % recent.size()] = c;
            }
        }
        if (i % 20000 == 0) {
            ASSERT_TRUE(probe_around_max(w, m)) << "step " << i;
        }
    }
    ASSERT_TRUE(probe_around_max(w, m));
}

TEST(ReplayWindow, RandomSequencesMatchModel) {
    for (uint64_t seed = 1; seed <= 6; ++seed) run_random(seed, 150000, false);
}

TEST(ReplayWindow, RandomSequencesReachingTheTopMatchModel) {
    for (uint64_t seed = 101; seed <= 104; ++seed) run_random(seed, 60000, true);
}

}  // namespace
}  // namespace sluice
