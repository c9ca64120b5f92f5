// IndexTable: random receiver indices, unique among live entries, in a
// bounded open-addressing table. Sources are injected so that collisions,
// zeros and exhaustion happen on demand instead of once in 2^32.
#include "dataplane/index_table.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <vector>

namespace sluice {
namespace {

// Replays a fixed list of draws (then fails the test if asked for more) and
// counts how many were taken.
struct ScriptedSource {
    std::vector<uint32_t> draws;
    size_t taken = 0;

    IndexTable<int>::RandomSource fn() {
        return [this] {
            if (taken >= draws.size()) {
                ADD_FAILURE() << "source drawn more often than scripted";
                return uint32_t{0};
            }
            return draws[taken++];
        };
    }
};

// The value under an index, or nullopt: a failing table then reports a
// mismatch instead of crashing the test on a null pointer.
std::optional<int> value_of(const IndexTable<int>& t, uint32_t index) {
    const int* v = t.lookup(index);
    return v ? std::optional<int>(*v) : std::nullopt;
}

// Uniform over [1, range]: with a small range, every insert after the first
// few collides with a live entry and must redraw.
IndexTable<int>::RandomSource small_range(std::mt19937& rng, uint32_t range) {
    return [&rng, range] { return 1 + static_cast<uint32_t>(rng() % range); };
}

TEST(IndexTable, InsertLookupRemoveWithTheKernelSource) {
    IndexTable<int> t(10000);
    std::map<uint32_t, int> live;
    for (int i = 0; i < 1000; ++i) {
        const auto index = t.insert(i);
        ASSERT_TRUE(index.has_value());
        EXPECT_NE(*index, 0u);
        ASSERT_TRUE(live.emplace(*index, i).second) << "index handed out twice: " << *index;
    }
    EXPECT_EQ(t.size(), 1000u);
    for (const auto& [index, value] : live) {
        const int* v = t.lookup(index);
        ASSERT_NE(v, nullptr);
        EXPECT_EQ(*v, value);
    }
    // Remove every other one.
    bool drop = false;
    for (auto it = live.begin(); it != live.end();) {
        if ((drop = !drop)) {
            EXPECT_TRUE(t.remove(it->first));
            EXPECT_EQ(t.lookup(it->first), nullptr);
            it = live.erase(it);
        } else {
            ++it;
        }
    }
    EXPECT_EQ(t.size(), live.size());
    for (const auto& [index, value] : live) {
        const int* v = t.lookup(index);
        ASSERT_NE(v, nullptr) << index;
        EXPECT_EQ(*v, value);
    }
}

TEST(IndexTable, LookupOfAbsentIndices) {
    ScriptedSource src{{7, 9}};
    IndexTable<int> t(16, src.fn());
    EXPECT_EQ(t.lookup(0), nullptr);  // empty table
    EXPECT_EQ(t.lookup(7), nullptr);
    EXPECT_FALSE(t.contains(7));
    EXPECT_FALSE(t.remove(7));
    ASSERT_EQ(t.insert(70), 7u);
    ASSERT_EQ(t.insert(90), 9u);
    EXPECT_EQ(t.lookup(0), nullptr);  // 0 is never an index
    EXPECT_FALSE(t.remove(0));
    EXPECT_EQ(t.lookup(8), nullptr);
    EXPECT_EQ(t.lookup(UINT32_MAX), nullptr);
    const IndexTable<int>& ct = t;
    ASSERT_NE(ct.lookup(9), nullptr);
    EXPECT_EQ(value_of(ct, 9), 90);
    EXPECT_TRUE(t.remove(7));
    EXPECT_EQ(t.lookup(7), nullptr);
    EXPECT_FALSE(t.remove(7));
    EXPECT_EQ(value_of(t, 9), 90);
    static_assert(noexcept(t.lookup(1)));
    static_assert(noexcept(ct.lookup(1)));
}

TEST(IndexTable, RedrawsOnZeroAndOnLiveCollisions) {
    ScriptedSource src{{5,             // first insert
                        5, 0, 5, 7,    // second: live, zero, live, fresh
                        7, 5, 0, 9}};  // third
    IndexTable<int> t(16, src.fn());
    EXPECT_EQ(t.insert(1), 5u);
    EXPECT_EQ(t.insert(2), 7u);
    EXPECT_EQ(t.insert(3), 9u);
    EXPECT_EQ(src.taken, src.draws.size());
    EXPECT_EQ(value_of(t, 5), 1);
    EXPECT_EQ(value_of(t, 7), 2);
    EXPECT_EQ(value_of(t, 9), 3);
}

TEST(IndexTable, RemovedIndexCanBeDrawnAgain) {
    ScriptedSource src{{5, 6, 5, 6, 0}};
    IndexTable<int> t(16, src.fn());
    ASSERT_EQ(t.insert(1), 5u);
    ASSERT_EQ(t.insert(2), 6u);
    ASSERT_TRUE(t.remove(5));
    EXPECT_EQ(t.insert(3), 5u);  // free again, so no redraw
    EXPECT_EQ(value_of(t, 5), 3);
    EXPECT_EQ(value_of(t, 6), 2);
    EXPECT_EQ(src.taken, 3u);
}

// Forced collisions at scale: 64 possible indices, 64 inserts. All must be
// distinct, cover the whole range, and the 65th must fail cleanly.
TEST(IndexTable, UniqueUnderForcedCollisions) {
    std::mt19937 rng(1);
    IndexTable<int> t(1000, small_range(rng, 64));
    std::set<uint32_t> seen;
    for (int i = 0; i < 64; ++i) {
        // Late inserts find few free indices; allow the table's own budget,
        // and retry here when a run of bad luck exhausts it.
        std::optional<uint32_t> index;
        for (int attempt = 0; attempt < 100 && !index; ++attempt) index = t.insert(i);
        ASSERT_TRUE(index.has_value()) << "insert " << i;
        ASSERT_TRUE(seen.insert(*index).second) << "duplicate index " << *index;
        ASSERT_GE(*index, 1u);
        ASSERT_LE(*index, 64u);
    }
    EXPECT_EQ(t.size(), 64u);
    EXPECT_FALSE(t.insert(64).has_value());  // every draw collides: gives up
    EXPECT_EQ(t.size(), 64u);
    for (uint32_t index : seen) ASSERT_NE(t.lookup(index), nullptr);
}

TEST(IndexTable, BrokenSourceFailsInsteadOfSpinning) {
    int calls = 0;
    IndexTable<int> t(16, [&calls] {
        ++calls;
        return uint32_t{42};
    });
    EXPECT_EQ(t.insert(1), 42u);
    EXPECT_FALSE(t.insert(2).has_value());
    EXPECT_EQ(calls, 1 + static_cast<int>(IndexTable<int>::kMaxDraws));
    EXPECT_EQ(t.size(), 1u);

    IndexTable<int> zeros(16, [] { return uint32_t{0}; });
    EXPECT_FALSE(zeros.insert(1).has_value());
    EXPECT_TRUE(zeros.empty());
}

TEST(IndexTable, FullTableRefusesWithoutDrawing) {
    uint32_t next = 1;
    int calls = 0;
    IndexTable<int> t(100, [&] {
        ++calls;
        return next++;
    });
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(t.insert(i).has_value()) << i;
    EXPECT_TRUE(t.full());
    EXPECT_EQ(t.size(), t.max_entries());
    EXPECT_FALSE(t.insert(100).has_value());
    EXPECT_EQ(calls, 100);  // a full table does not consume randomness
    ASSERT_TRUE(t.remove(50));
    EXPECT_FALSE(t.full());
    const auto index = t.insert(100);
    ASSERT_TRUE(index.has_value());
    EXPECT_EQ(value_of(t, *index), 100);
    EXPECT_FALSE(t.insert(101).has_value());
    for (uint32_t i = 1; i <= 101; ++i) {
        if (i == 50) continue;
        ASSERT_NE(t.lookup(i), nullptr) << i;  // nothing lost to growth or removal
    }
}

TEST(IndexTable, ZeroCapacityIsAlwaysFull) {
    IndexTable<int> t(0, [] { return uint32_t{1}; });
    EXPECT_FALSE(t.insert(1).has_value());
    EXPECT_EQ(t.lookup(1), nullptr);
}

TEST(IndexTable, DefaultCapacityIsThreePerPeer) {
    IndexTable<int> t;
    EXPECT_EQ(t.max_entries(), wire::kMaxPeers * 3);
}

// Removal closes gaps in probe runs (backward shift). A model map and a
// source over a small range give long runs, wrap-around at the end of the
// slot array and constant churn; every live entry must stay reachable and
// every removed one gone.
TEST(IndexTable, ChurnMatchesModel) {
    for (uint32_t seed = 1; seed <= 20; ++seed) {
        SCOPED_TRACE(::testing::Message() << "seed " << seed);
        std::mt19937 rng(seed);
        std::mt19937 src_rng(seed * 7919);
        const size_t cap = 3 + seed * 5;  // stays in a few small slot arrays
        IndexTable<int> t(cap, small_range(src_rng, static_cast<uint32_t>(cap * 3)));
        std::map<uint32_t, int> model;
        for (int op = 0; op < 4000; ++op) {
            if (rng() % 2 == 0) {
                const auto index = t.insert(op);
                if (model.size() >= cap) {
                    ASSERT_FALSE(index.has_value());
                } else if (index) {
                    ASSERT_NE(*index, 0u);
                    ASSERT_TRUE(model.emplace(*index, op).second) << "duplicate " << *index;
                }
            } else if (!model.empty() && rng() % 4 != 0) {
                auto it = model.begin();
                std::advance(it, static_cast<long>(rng() % model.size()));
                ASSERT_TRUE(t.remove(it->first));
                model.erase(it);
            } else {
                const uint32_t index = static_cast<uint32_t>(rng() % (cap * 3 + 2));
                ASSERT_EQ(t.remove(index), model.erase(index) == 1) << index;
            }
            ASSERT_EQ(t.size(), model.size());
            for (uint32_t index = 0; index <= cap * 3 + 1; ++index) {
                const int* v = t.lookup(index);
                const auto it = model.find(index);
                if (it == model.end()) {
                    ASSERT_EQ(v, nullptr) << "op " << op << " index " << index;
                } else {
                    ASSERT_NE(v, nullptr) << "op " << op << " index " << index;
                    ASSERT_EQ(*v, it->second);
                }
            }
        }
    }
}

TEST(IndexTable, LookupGivesMutableAccess) {
    IndexTable<int> t(4, [] { return uint32_t{3}; });
    ASSERT_EQ(t.insert(1), 3u);
    int* v = t.lookup(3);
    ASSERT_NE(v, nullptr);
    *v = 11;
    EXPECT_EQ(value_of(t, 3), 11);
}

TEST(IndexTable, MoveOnlyValuesAndRemovalReleasesThem) {
    uint32_t next = 1;
    IndexTable<std::unique_ptr<int>> owned(64, [&] { return next++; });
    const auto a = owned.insert(std::make_unique<int>(5));
    ASSERT_TRUE(a.has_value());
    ASSERT_NE(owned.lookup(*a), nullptr);
    EXPECT_EQ(**owned.lookup(*a), 5);

    auto shared = std::make_shared<int>(9);
    uint32_t n = 1;
    IndexTable<std::shared_ptr<int>> t(64, [&] { return n++; });
    std::vector<uint32_t> indices;
    for (int i = 0; i < 40; ++i) {  // grows past 16 slots
        const auto index = t.insert(shared);
        ASSERT_TRUE(index.has_value());
        indices.push_back(*index);
    }
    EXPECT_EQ(shared.use_count(), 41);  // growth moved entries, copied none
    for (uint32_t index : indices) ASSERT_TRUE(t.remove(index));
    EXPECT_EQ(shared.use_count(), 1);  // removal dropped the table's references
    ASSERT_TRUE(t.insert(shared).has_value());
    t.clear();
    EXPECT_EQ(shared.use_count(), 1);
    EXPECT_TRUE(t.empty());
}

TEST(IndexTable, CopyIsIndependent) {
    uint32_t next = 1;
    IndexTable<int> a(8, [&] { return next++; });
    ASSERT_EQ(a.insert(10), 1u);
    IndexTable<int> b = a;
    ASSERT_TRUE(b.remove(1));
    EXPECT_NE(a.lookup(1), nullptr);
    EXPECT_EQ(b.lookup(1), nullptr);
}

TEST(IndexTable, KernelSourceLooksRandom) {
    // Not a randomness test: it catches a source stuck on one value (for
    // example a getrandom() call that never fills its buffer).
    std::set<uint32_t> values;
    for (int i = 0; i < 16; ++i) values.insert(getrandom_u32());
    EXPECT_GT(values.size(), 8u);
}

}  // namespace
}  // namespace sluice

namespace sluice {
namespace {

TEST(IndexTable, InsertAtKeepsTheGivenIndex) {
    IndexTable<int> t(8);
    EXPECT_TRUE(t.insert_at(0xdeadbeef, 1));
    EXPECT_TRUE(t.insert_at(7, 2));
    EXPECT_FALSE(t.insert_at(7, 3)) << "an index already present";
    EXPECT_FALSE(t.insert_at(0, 4)) << "0 marks empty slots";
    ASSERT_NE(t.lookup(0xdeadbeef), nullptr);
    EXPECT_EQ(*t.lookup(0xdeadbeef), 1);
    EXPECT_EQ(*t.lookup(7), 2);
    EXPECT_EQ(t.size(), 2u);
    // Growth past the first array keeps every entry; the cap holds.
    for (uint32_t i = 100; i < 106; ++i) EXPECT_TRUE(t.insert_at(i, static_cast<int>(i)));
    EXPECT_FALSE(t.insert_at(200, 0)) << "max_entries reached";
    for (uint32_t i = 100; i < 106; ++i) EXPECT_EQ(*t.lookup(i), static_cast<int>(i));
    EXPECT_TRUE(t.remove(7));
    EXPECT_TRUE(t.insert_at(200, 9));
}

}  // namespace
}  // namespace sluice
