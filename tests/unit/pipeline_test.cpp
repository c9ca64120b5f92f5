// Pipeline mode (dataplane/pipeline): dispatch hands bursts to crypto lcores
// round robin, collect puts what they return back in dispatch order through
// one rte_reorder buffer per direction. The test plays the crypto lcores
// itself: each returns its own packets in the order it took them, as
// Lcore::crypto_iteration does, but the two interleave however the test
// says. Then pipeline_crypto on a real Snapshot against the transport
// stages run in one piece, and what a Pipeline destroyed with packets
// inside gives back.
#include "dataplane/pipeline.hpp"

#include <gtest/gtest.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/snapshot.hpp"
#include "dataplane/transport.hpp"
#include "tests/unit/eal_environment.hpp"

namespace sluice {
namespace {

[[maybe_unused]] const auto* const g_eal = EalEnvironment::add("pipeline-test", 128);

std::string unique(const char* prefix) {
    static int serial = 0;
    return prefix + std::to_string(serial++);
}

using Bytes = std::vector<uint8_t>;
using Burst = std::vector<rte_mbuf*>;

// What the order tests write into each packet: its direction and its place
// in that direction's dispatch order.
struct Tag {
    uint32_t direction;
    uint32_t position;
};

constexpr uint16_t kCollectMax = 64;  // Lcore's kMaxBurst
constexpr uint16_t kCollectBurst = 32;

class PipelineTest : public ::testing::Test {
protected:
    // More than kMaxInFlight: the in-flight bound is reached before the pool
    // runs dry. No per-lcore cache, so the pool's count is exact.
    static constexpr unsigned kPoolSize = 10239;

    void SetUp() override {
        pool_ = rte_pktmbuf_pool_create(unique("pipeline_test_").c_str(), kPoolSize, 0, 0,
                                        RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
        ASSERT_NE(pool_, nullptr);
        std::string error;
        pipeline_ = Pipeline::create(unique("pt"), 2, &error);
        ASSERT_NE(pipeline_, nullptr) << error;
        ASSERT_EQ(pipeline_->workers(), 2u);
    }
    void TearDown() override {
        pipeline_.reset();
        if (pool_ != nullptr) {
            // Whatever a test did, every mbuf is back: none lost, none freed twice.
            EXPECT_EQ(rte_mempool_avail_count(pool_), kPoolSize);
            rte_mempool_free(pool_);
        }
    }

    [[nodiscard]] bool pool_full() const { return rte_mempool_avail_count(pool_) == kPoolSize; }

    // `count` packets of one direction, numbered on from next_[direction].
    Burst tagged(PipelineDirection direction, uint16_t count) {
        Burst out;
        const auto d = static_cast<uint32_t>(direction);
        for (uint16_t i = 0; i < count; ++i) {
            rte_mbuf* m = rte_pktmbuf_alloc(pool_);
            EXPECT_NE(m, nullptr);
            if (m == nullptr) break;
            const Tag tag{d, next_[d]++};
            std::memcpy(rte_pktmbuf_append(m, sizeof tag), &tag, sizeof tag);
            PipelineMeta& meta = pipeline_meta(m);
            meta = PipelineMeta{};
            meta.local_index = 7;
            meta.direction = direction;
            out.push_back(m);
        }
        return out;
    }

    static Tag tag_of(rte_mbuf* m) {
        Tag tag;
        std::memcpy(&tag, rte_pktmbuf_mtod(m, const uint8_t*), sizeof tag);
        return tag;
    }

    // Dispatches a new burst of `count`; returns how many went. The test
    // frees what did not go, as the lcore does, and forgets its numbers.
    uint16_t dispatch(PipelineDirection direction, uint16_t count) {
        Burst burst = tagged(direction, count);
        const uint16_t went =
            pipeline_->dispatch(direction, burst.data(), static_cast<uint16_t>(burst.size()));
        EXPECT_LE(went, burst.size());
        if (went < burst.size()) {
            rte_pktmbuf_free_bulk(burst.data() + went, static_cast<unsigned>(burst.size() - went));
            next_[static_cast<unsigned>(direction)] -= static_cast<uint32_t>(burst.size() - went);
        }
        return went;
    }

    // Crypto lcore w takes everything in its ring, in order.
    void take(unsigned w) {
        void* objs[512];
        unsigned n;
        while ((n = rte_ring_sc_dequeue_burst(pipeline_->to_worker(w), objs, 512, nullptr)) > 0) {
            for (unsigned i = 0; i < n; ++i) taken_[w].push_back(static_cast<rte_mbuf*>(objs[i]));
        }
    }
    // ...and gives back the oldest `count` of what it took (all: SIZE_MAX).
    void give_back(unsigned w, size_t count = SIZE_MAX) {
        count = std::min(count, taken_[w].size());
        Burst back(taken_[w].begin(), taken_[w].begin() + static_cast<ptrdiff_t>(count));
        taken_[w].erase(taken_[w].begin(), taken_[w].begin() + static_cast<ptrdiff_t>(count));
        const unsigned went = rte_ring_sp_enqueue_burst(
            pipeline_->from_worker(w), reinterpret_cast<void* const*>(back.data()),
            static_cast<unsigned>(back.size()), nullptr);
        ASSERT_EQ(went, back.size()) << "the test returned more than a ring holds";
    }

    // One collect(); appends what came out, checking each list holds its own
    // direction only.
    uint16_t collect_once() {
        rte_mbuf* dec[kCollectMax];
        rte_mbuf* enc[kCollectMax];
        uint16_t n_dec = 0xffff, n_enc = 0xffff;
        pipeline_->collect(kCollectBurst, dec, &n_dec, enc, &n_enc, kCollectMax, &reorder_failed_);
        EXPECT_LE(n_dec, kCollectMax);
        EXPECT_LE(n_enc, kCollectMax);
        for (uint16_t i = 0; i < n_dec; ++i) {
            EXPECT_EQ(pipeline_meta(dec[i]).direction, PipelineDirection::decrypt);
            out_[0].push_back(dec[i]);
        }
        for (uint16_t i = 0; i < n_enc; ++i) {
            EXPECT_EQ(pipeline_meta(enc[i]).direction, PipelineDirection::encrypt);
            out_[1].push_back(enc[i]);
        }
        return static_cast<uint16_t>(n_dec + n_enc);
    }
    // collect() until the return rings are empty and nothing more comes out.
    void collect_all() {
        for (int guard = 0; guard < 100000; ++guard) {
            const uint16_t n = collect_once();
            bool rings_empty = true;
            for (unsigned w = 0; w < pipeline_->workers(); ++w)
                rings_empty &= rte_ring_empty(pipeline_->from_worker(w)) != 0;
            if (n == 0 && rings_empty) return;
        }
        ADD_FAILURE() << "collect never ran dry";
    }

    // The positions of what came out of one direction, and the mbufs freed.
    std::vector<uint32_t> drain_out(PipelineDirection direction) {
        const auto d = static_cast<unsigned>(direction);
        std::vector<uint32_t> positions;
        for (rte_mbuf* m : out_[d]) {
            const Tag tag = tag_of(m);
            EXPECT_EQ(tag.direction, d);
            positions.push_back(tag.position);
            rte_pktmbuf_free(m);
        }
        out_[d].clear();
        return positions;
    }

    static std::vector<uint32_t> iota(uint32_t from, uint32_t to) {
        std::vector<uint32_t> v;
        for (uint32_t i = from; i < to; ++i) v.push_back(i);
        return v;
    }

    void expect_settled() {
        EXPECT_EQ(pipeline_->in_flight(), 0u);
        EXPECT_EQ(pipeline_->counters().dispatched, pipeline_->counters().collected);
        EXPECT_EQ(reorder_failed_, 0u);
        for (unsigned w = 0; w < pipeline_->workers(); ++w) {
            EXPECT_TRUE(taken_[w].empty());
            EXPECT_EQ(rte_ring_count(pipeline_->to_worker(w)), 0u);
            EXPECT_EQ(rte_ring_count(pipeline_->from_worker(w)), 0u);
        }
    }

    rte_mempool* pool_ = nullptr;
    std::unique_ptr<Pipeline> pipeline_;
    uint32_t next_[2] = {0, 0};
    std::array<std::deque<rte_mbuf*>, 2> taken_;
    std::array<Burst, 2> out_;
    uint64_t reorder_failed_ = 0;
};

constexpr auto kDecrypt = PipelineDirection::decrypt;
constexpr auto kEncrypt = PipelineDirection::encrypt;
constexpr uint16_t kBursts[] = {32, 7, 50, 1, 64, 20, 33, 3};
constexpr uint32_t kBurstTotal = 32 + 7 + 50 + 1 + 64 + 20 + 33 + 3;

// ---- Order ---------------------------------------------------------------------------------

TEST_F(PipelineTest, WorkerOneReturningEverythingFirstChangesNothingOfTheOrder) {
    for (PipelineDirection d : {kDecrypt, kEncrypt}) {
        SCOPED_TRACE(d == kDecrypt ? "decrypt" : "encrypt");
        const uint32_t first = next_[static_cast<unsigned>(d)];
        for (uint16_t n : kBursts) ASSERT_EQ(dispatch(d, n), n);
        EXPECT_EQ(pipeline_->in_flight(), kBurstTotal);
        take(0);
        take(1);
        // Round robin: both crypto lcores have work.
        EXPECT_FALSE(taken_[0].empty());
        EXPECT_FALSE(taken_[1].empty());
        EXPECT_EQ(taken_[0].size() + taken_[1].size(), kBurstTotal);

        give_back(1);
        collect_all();
        // The first burst is worker 0's: nothing may come out before it.
        EXPECT_TRUE(out_[0].empty());
        EXPECT_TRUE(out_[1].empty());
        EXPECT_EQ(pipeline_->in_flight(), kBurstTotal);

        give_back(0);
        collect_all();
        EXPECT_EQ(drain_out(d), iota(first, first + kBurstTotal));
        EXPECT_TRUE(out_[0].empty() && out_[1].empty());
        expect_settled();
    }
    EXPECT_EQ(pipeline_->counters().dispatched, 2 * kBurstTotal);
}

TEST_F(PipelineTest, InterleavedReturnsComeOutInDispatchOrder) {
    for (PipelineDirection d : {kDecrypt, kEncrypt}) {
        SCOPED_TRACE(d == kDecrypt ? "decrypt" : "encrypt");
        const uint32_t first = next_[static_cast<unsigned>(d)];
        for (int round = 0; round < 3; ++round) {
            for (uint16_t n : kBursts) ASSERT_EQ(dispatch(d, n), n);
        }
        take(0);
        take(1);
        // Small uneven slices, worker 1 ahead, with collects in between.
        const size_t slices[][2] = {{0, 5}, {3, 0}, {1, 17}, {40, 2}, {0, 0}, {9, 30}, {25, 1}};
        for (int pass = 0; !taken_[0].empty() || !taken_[1].empty(); ++pass) {
            for (const auto& s : slices) {
                give_back(1, s[1]);
                give_back(0, s[0]);
                collect_once();
            }
            ASSERT_LT(pass, 1000);
        }
        collect_all();
        EXPECT_EQ(drain_out(d), iota(first, first + 3 * kBurstTotal));
        expect_settled();
    }
}

TEST_F(PipelineTest, BothDirectionsKeepTheirOwnOrder) {
    // Twelve dispatches a round, so that each worker gets bursts of both
    // directions, and worker 0 the first of each.
    for (int round = 0; round < 4; ++round) {
        for (uint16_t n : kBursts) {
            ASSERT_EQ(dispatch(kDecrypt, n), n);
            if (n % 2) {
                ASSERT_EQ(dispatch(kEncrypt, static_cast<uint16_t>(65 - n)), 65 - n);
            }
        }
    }
    const uint32_t decrypts = next_[0], encrypts = next_[1];
    take(0);
    take(1);
    // Worker 1 returns in slices while worker 0 waits, then worker 0 in
    // slices with worker 1's rest.
    while (taken_[1].size() > 100) {
        give_back(1, 37);
        collect_once();
    }
    EXPECT_TRUE(out_[0].empty());  // worker 0 holds both directions' first packets
    EXPECT_TRUE(out_[1].empty());
    while (!taken_[0].empty() || !taken_[1].empty()) {
        give_back(0, 29);
        collect_once();
        give_back(1, 11);
    }
    collect_all();
    EXPECT_EQ(drain_out(kDecrypt), iota(0, decrypts));
    EXPECT_EQ(drain_out(kEncrypt), iota(0, encrypts));
    expect_settled();
    EXPECT_EQ(pipeline_->counters().dispatched, decrypts + encrypts);
}

TEST_F(PipelineTest, NothingAfterTheGapUntilItIsFilled) {
    // Bursts 0 and 2 go to worker 0, 1 and 3 to worker 1.
    for (uint16_t n : {10, 10, 10, 10}) ASSERT_EQ(dispatch(kDecrypt, n), n);
    take(0);
    take(1);
    ASSERT_EQ(taken_[0].size(), 20u);
    ASSERT_EQ(taken_[1].size(), 20u);

    give_back(1);  // bursts 1 and 3
    collect_all();
    EXPECT_TRUE(out_[0].empty());

    give_back(0, 10);  // burst 0: bursts 0 and 1 come out, burst 3 waits for 2
    collect_all();
    EXPECT_EQ(drain_out(kDecrypt), iota(0, 20));
    EXPECT_EQ(pipeline_->in_flight(), 20u);
    collect_all();
    EXPECT_TRUE(out_[0].empty());

    give_back(0, 3);  // the head of burst 2
    collect_all();
    EXPECT_EQ(drain_out(kDecrypt), iota(20, 23));

    give_back(0);
    collect_all();
    EXPECT_EQ(drain_out(kDecrypt), iota(23, 40));
    expect_settled();
}

// ---- Bounds --------------------------------------------------------------------------------

TEST_F(PipelineTest, FullRingsRefuseTheRestWithoutBurningSequenceNumbers) {
    const unsigned capacity = rte_ring_get_capacity(pipeline_->to_worker(0)) +
                              rte_ring_get_capacity(pipeline_->to_worker(1));
    ASSERT_GE(capacity, 2 * (Pipeline::kRingSize - 1));
    ASSERT_LT(capacity, Pipeline::kMaxInFlight);  // the rings, not the bound, stop it here

    // Nobody takes anything: the rings fill.
    uint32_t accepted = 0;
    uint16_t went = 0;
    for (int i = 0; i < 1000; ++i) {
        went = dispatch(i % 3 == 0 ? kEncrypt : kDecrypt, 60);
        accepted += went;
        if (went < 60) break;
    }
    EXPECT_LT(went, 60);
    EXPECT_EQ(accepted, capacity);
    EXPECT_EQ(pipeline_->in_flight(), capacity);
    EXPECT_EQ(dispatch(kDecrypt, 5), 0);
    EXPECT_EQ(dispatch(kEncrypt, 5), 0);
    EXPECT_EQ(pipeline_->counters().dispatched, capacity);

    // Everything back, and a few more after: numbers given to refused
    // packets were handed out again, so there is no hole to wait on.
    take(0);
    take(1);
    give_back(1);
    give_back(0);
    collect_all();
    for (int i = 0; i < 3; ++i) {
        ASSERT_EQ(dispatch(kDecrypt, 9), 9);
        ASSERT_EQ(dispatch(kEncrypt, 4), 4);
    }
    take(1);
    take(0);
    give_back(1);
    give_back(0);
    collect_all();
    EXPECT_EQ(drain_out(kDecrypt), iota(0, next_[0]));
    EXPECT_EQ(drain_out(kEncrypt), iota(0, next_[1]));
    EXPECT_EQ(next_[0] + next_[1], capacity + 3 * 13);
    expect_settled();
}

TEST_F(PipelineTest, PartlyFullRingTakesWhatFitsAndTheNextTheRest) {
    // Worker 0's ring nearly full, worker 1's empty: a burst whose turn is
    // worker 0's is split between them and still comes out whole and in order.
    const unsigned room0 = rte_ring_get_capacity(pipeline_->to_worker(0));
    while (rte_ring_free_count(pipeline_->to_worker(0)) >= 64) {
        ASSERT_EQ(dispatch(kDecrypt, 64), 64);  // worker 0's turn
        ASSERT_EQ(dispatch(kDecrypt, 64), 64);  // worker 1's turn
        take(1);                                // worker 1 keeps its ring empty
    }
    const unsigned free0 = rte_ring_free_count(pipeline_->to_worker(0));
    ASSERT_EQ(free0, room0 % 64);
    ASSERT_GT(free0, 0u);
    ASSERT_EQ(dispatch(kDecrypt, 100), 100);  // worker 0's turn again
    EXPECT_EQ(rte_ring_free_count(pipeline_->to_worker(0)), 0u);
    EXPECT_EQ(rte_ring_count(pipeline_->to_worker(1)), 100 - free0);
    take(0);
    take(1);
    give_back(1);
    give_back(0);
    collect_all();
    EXPECT_EQ(drain_out(kDecrypt), iota(0, next_[0]));
    expect_settled();
}

TEST_F(PipelineTest, NeverMoreThanMaxInFlight) {
    // The very first packet stays with worker 0, so nothing can be drained
    // and everything returned piles up in the reorder buffer.
    ASSERT_EQ(dispatch(kDecrypt, 1), 1);
    take(0);
    ASSERT_EQ(taken_[0].size(), 1u);
    rte_mbuf* const held = taken_[0].front();
    taken_[0].clear();

    // Encrypt packets alongside come out all the while: they count while
    // between dispatch and drain only.
    for (int i = 0; i < 1000; ++i) {
        dispatch(kEncrypt, 8);
        const uint16_t went = dispatch(kDecrypt, 64);
        EXPECT_LE(pipeline_->in_flight(), Pipeline::kMaxInFlight);
        take(0);
        take(1);
        give_back(0);
        give_back(1);
        collect_all();
        if (went < 64) break;
    }
    // The bound counted the encrypt packets of the last round while they
    // were out; the rest of it is for decrypt packets now.
    for (int i = 0; i < 100 && dispatch(kDecrypt, 64) > 0; ++i) {
        EXPECT_LE(pipeline_->in_flight(), Pipeline::kMaxInFlight);
        take(0);
        take(1);
        give_back(0);
        give_back(1);
        collect_all();
    }
    EXPECT_EQ(next_[0], Pipeline::kMaxInFlight);  // every decrypt packet that went, `held` too
    EXPECT_EQ(pipeline_->in_flight(), Pipeline::kMaxInFlight);
    EXPECT_EQ(dispatch(kDecrypt, 1), 0);
    EXPECT_EQ(dispatch(kEncrypt, 1), 0);
    EXPECT_TRUE(out_[0].empty());  // all decrypt output waits for `held`
    EXPECT_GT(next_[1], 0u);
    EXPECT_EQ(drain_out(kEncrypt), iota(0, next_[1]));
    EXPECT_EQ(reorder_failed_, 0u);

    taken_[0].push_back(held);
    give_back(0);
    collect_all();
    EXPECT_EQ(drain_out(kDecrypt), iota(0, Pipeline::kMaxInFlight));
    expect_settled();

    // And the bound holds again from zero.
    EXPECT_EQ(dispatch(kDecrypt, 64), 64);
    take(0);
    take(1);
    give_back(0);
    give_back(1);
    collect_all();
    EXPECT_EQ(drain_out(kDecrypt).size(), 64u);
    expect_settled();
}

TEST_F(PipelineTest, DestroyedWithPacketsInsideGivesEveryMbufBack) {
    // Decrypt bursts A (worker 0), B (1), C (0), D (1); B and D returned and
    // collected: they wait in the reorder buffer for A.
    for (uint16_t n : {16, 16, 16, 16}) ASSERT_EQ(dispatch(kDecrypt, n), n);
    take(1);
    give_back(1);
    collect_all();
    EXPECT_TRUE(out_[0].empty());
    // Encrypt bursts E (0), F (1): F returned, not collected; E with A and C
    // in worker 0's ring.
    ASSERT_EQ(dispatch(kEncrypt, 20), 20);
    ASSERT_EQ(dispatch(kEncrypt, 21), 21);
    take(1);
    give_back(1);
    EXPECT_EQ(rte_ring_count(pipeline_->from_worker(1)), 21u);
    EXPECT_EQ(rte_ring_count(pipeline_->to_worker(0)), 16u + 16u + 20u);
    EXPECT_EQ(pipeline_->in_flight(), 64u + 41u);
    EXPECT_EQ(rte_mempool_avail_count(pool_), kPoolSize - 64 - 41);

    pipeline_.reset();
    EXPECT_TRUE(pool_full());
}

TEST_F(PipelineTest, CreateRefusesNoWorkers) {
    std::string error;
    EXPECT_EQ(Pipeline::create(unique("pt"), 0, &error), nullptr);
    EXPECT_FALSE(error.empty());
}

// ---- pipeline_crypto on a Snapshot -------------------------------------------------------

constexpr int64_t kSecond = 1'000'000'000;
constexpr int64_t kBirth = 5000 * kSecond;
constexpr int64_t kNow = kBirth + 1 * kSecond;

Key test_key(uint8_t seed) {
    Key key;
    for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(seed + 5 * i);
    return key;
}

Bytes ipv4_packet(uint32_t total, uint8_t seed) {
    Bytes p(total);
    for (uint32_t i = 0; i < total; ++i) p[i] = static_cast<uint8_t>(i * 11 + seed);
    p[0] = 0x45;
    p[2] = static_cast<uint8_t>(total >> 8);
    p[3] = static_cast<uint8_t>(total);
    return p;
}

// The send and receive halves of a keypair, as both ends of a session hold them.
struct Ends {
    Keypair ours;    // in the snapshot: seals with send_key, opens with receive_key
    Keypair theirs;  // the peer: opens what we seal, seals what we open

    Ends(uint8_t seed, uint32_t our_index, uint32_t their_index) {
        ours.send_key = test_key(seed);
        ours.receive_key = test_key(static_cast<uint8_t>(seed + 100));
        ours.local_index = our_index;
        ours.remote_index = their_index;
        ours.birth_ns = kBirth;
        theirs.send_key = ours.receive_key;
        theirs.receive_key = ours.send_key;
        theirs.local_index = their_index;
        theirs.remote_index = our_index;
        theirs.birth_ns = kBirth;
    }
};

class PipelineCryptoTest : public PipelineTest {
protected:
    static constexpr uint32_t kIndexA = 0x0a0a0a0a;
    static constexpr uint32_t kIndexB = 0x0b0b0b0b;
    static constexpr uint32_t kGone = 0x0c0c0c0c;  // in no snapshot

    void SetUp() override {
        PipelineTest::SetUp();
        snap_.peers.resize(2);
        ASSERT_TRUE(snap_.by_index.insert_at(kIndexA, IndexRef{&a_.ours, 0}));
        ASSERT_TRUE(snap_.by_index.insert_at(kIndexB, IndexRef{&b_.ours, 1}));
    }

    // An mbuf holding a plaintext inner packet after header room, prepared
    // with encrypt_prepare as Lcore::dispatch_encrypt does, with its meta.
    Burst prepared(Keypair& keypair, const std::vector<Bytes>& inners) {
        Burst mbufs;
        std::vector<TransportPacket> tps;
        for (const Bytes& inner : inners) {
            rte_mbuf* m = rte_pktmbuf_alloc(pool_);
            EXPECT_NE(m, nullptr);
            auto* data = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(
                m, static_cast<uint16_t>(wire::kTransportHeaderLen + inner.size())));
            EXPECT_NE(data, nullptr);
            std::copy(inner.begin(), inner.end(), data + wire::kTransportHeaderLen);
            tps.push_back(
                TransportPacket{data, static_cast<uint32_t>(inner.size()),
                                static_cast<uint32_t>(wire::kTransportHeaderLen + inner.size() +
                                                      rte_pktmbuf_tailroom(m))});
            mbufs.push_back(m);
        }
        std::vector<PacketResult> results(mbufs.size());
        TransportCounters tx;
        EXPECT_EQ(
            encrypt_prepare(keypair, tps.data(), tps.size(), snap_.mtu, kNow, results.data(), tx),
            mbufs.size());
        for (size_t i = 0; i < mbufs.size(); ++i) {
            EXPECT_EQ(results[i].verdict, Verdict::send);
            rte_mbuf* m = mbufs[i];
            m->data_len = static_cast<uint16_t>(results[i].length);
            m->pkt_len = results[i].length;
            PipelineMeta& meta = pipeline_meta(m);
            meta = PipelineMeta{};
            meta.local_index = keypair.local_index;
            meta.direction = PipelineDirection::encrypt;
        }
        return mbufs;
    }

    // What encrypt_burst makes of the same inner packets on a keypair with
    // the same key and send counter: the bytes pipeline_crypto must match.
    std::vector<Bytes> reference(const Keypair& like, uint64_t first_counter,
                                 const std::vector<Bytes>& inners) {
        Keypair copy;
        copy.send_key = like.send_key;
        copy.remote_index = like.remote_index;
        copy.local_index = like.local_index;
        copy.birth_ns = like.birth_ns;
        copy.send_counter = first_counter;
        std::vector<Bytes> storage;
        std::vector<TransportPacket> tps;
        for (const Bytes& inner : inners) {
            Bytes s(wire::kTransportHeaderLen + inner.size() + 64 + wire::kAeadTagLen, 0);
            std::copy(inner.begin(), inner.end(), s.begin() + wire::kTransportHeaderLen);
            storage.push_back(std::move(s));
        }
        for (size_t i = 0; i < inners.size(); ++i) {
            tps.push_back(TransportPacket{storage[i].data(),
                                          static_cast<uint32_t>(inners[i].size()),
                                          static_cast<uint32_t>(storage[i].size())});
        }
        std::vector<PacketResult> results(inners.size());
        TransportCounters tx;
        encrypt_burst(copy, tps.data(), tps.size(), snap_.mtu, kNow, results.data(), tx);
        for (size_t i = 0; i < inners.size(); ++i) {
            EXPECT_EQ(results[i].verdict, Verdict::send);
            storage[i].resize(results[i].length);
        }
        return storage;
    }

    // A transport message from the peer, sealed with `theirs`, in an mbuf
    // with decrypt meta for the snapshot's keypair `local_index`.
    rte_mbuf* from_peer(Keypair& theirs, const Bytes& inner, uint32_t local_index) {
        Bytes s(wire::kTransportHeaderLen + inner.size() + 64 + wire::kAeadTagLen, 0);
        std::copy(inner.begin(), inner.end(), s.begin() + wire::kTransportHeaderLen);
        TransportPacket tp{s.data(), static_cast<uint32_t>(inner.size()),
                           static_cast<uint32_t>(s.size())};
        PacketResult result;
        TransportCounters tx;
        encrypt_burst(theirs, &tp, 1, snap_.mtu, kNow, &result, tx);
        EXPECT_EQ(result.verdict, Verdict::send);
        rte_mbuf* m = rte_pktmbuf_alloc(pool_);
        EXPECT_NE(m, nullptr);
        std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(tp.len)), s.data(), tp.len);
        PipelineMeta& meta = pipeline_meta(m);
        meta = PipelineMeta{};
        meta.local_index = local_index;
        meta.direction = PipelineDirection::decrypt;
        meta.verdict = Verdict::send;  // stale, to see it overwritten
        meta.reason = DropReason::no_route;
        return m;
    }

    static Bytes bytes_of(rte_mbuf* m) {
        const auto* p = rte_pktmbuf_mtod(m, const uint8_t*);
        return Bytes(p, p + rte_pktmbuf_data_len(m));
    }

    Snapshot snap_;
    Ends a_{1, kIndexA, 0x1000};
    Ends b_{2, kIndexB, 0x2000};
};

TEST_F(PipelineCryptoTest, SealsLikeEncryptBurst) {
    a_.ours.send_counter = 300;
    b_.ours.send_counter = 9;
    std::vector<Bytes> for_a, for_b;
    for (uint8_t i = 0; i < 70; ++i) for_a.push_back(ipv4_packet(20 + 21 * i, i));  // two chunks
    for_a[4] = Bytes{};                                                             // a keepalive
    for (uint8_t i = 0; i < 5; ++i) for_b.push_back(ipv4_packet(1400 + i, i));
    const auto want_a = reference(a_.ours, 300, for_a);
    const auto want_b = reference(b_.ours, 9, for_b);

    Burst on_a = prepared(a_.ours, for_a);
    Burst on_b = prepared(b_.ours, for_b);
    EXPECT_EQ(a_.ours.send_counter.load(), 370u);
    EXPECT_EQ(b_.ours.send_counter.load(), 14u);
    // One ring burst with a's packets, then b's, then a's again: runs of one keypair.
    Burst burst(on_a.begin(), on_a.begin() + 40);
    burst.insert(burst.end(), on_b.begin(), on_b.end());
    burst.insert(burst.end(), on_a.begin() + 40, on_a.end());
    pipeline_crypto(snap_, burst.data(), static_cast<uint16_t>(burst.size()));

    TransportCounters tx;
    for (size_t i = 0; i < on_a.size(); ++i) {
        EXPECT_TRUE(pipeline_meta(on_a[i]).sealed) << i;
        EXPECT_EQ(bytes_of(on_a[i]), want_a[i]) << i;
        const TransportPacket tp{rte_pktmbuf_mtod(on_a[i], uint8_t*), rte_pktmbuf_data_len(on_a[i]),
                                 rte_pktmbuf_data_len(on_a[i])};
        encrypt_count(tp, pipeline_meta(on_a[i]).sealed, tx);
    }
    for (size_t i = 0; i < on_b.size(); ++i) {
        EXPECT_TRUE(pipeline_meta(on_b[i]).sealed) << i;
        EXPECT_EQ(bytes_of(on_b[i]), want_b[i]) << i;
    }
    EXPECT_EQ(tx.tx_packets, 70u);
    EXPECT_EQ(tx.tx_keepalives, 1u);

    // The peer opens them.
    Bytes first = bytes_of(on_a[0]);
    TransportPacket tp{first.data(), static_cast<uint32_t>(first.size()),
                       static_cast<uint32_t>(first.size())};
    Keypair* theirs = &a_.theirs;
    PacketResult result;
    TransportCounters rx;
    decrypt_burst(&theirs, &tp, 1, kNow, &result, rx);
    ASSERT_EQ(result.verdict, Verdict::deliver);
    EXPECT_EQ(Bytes(first.begin() + result.offset, first.begin() + result.offset + result.length),
              for_a[0]);

    rte_pktmbuf_free_bulk(burst.data(), static_cast<unsigned>(burst.size()));
}

TEST_F(PipelineCryptoTest, OpensAndSaysWhatEachPacketHolds) {
    const Bytes inner_a = ipv4_packet(333, 1);
    const Bytes inner_b = ipv4_packet(64, 2);
    Burst burst;
    burst.push_back(from_peer(a_.theirs, inner_a, kIndexA));
    burst.push_back(from_peer(b_.theirs, inner_b, kIndexB));  // keys differ per packet
    burst.push_back(from_peer(a_.theirs, {}, kIndexA));       // keepalive
    rte_mbuf* forged = from_peer(a_.theirs, ipv4_packet(100, 3), kIndexA);
    rte_pktmbuf_mtod(forged, uint8_t*)[wire::kTransportHeaderLen + 9] ^= 0x80;
    burst.push_back(forged);
    burst.push_back(from_peer(a_.theirs, Bytes(48, 0x00), kIndexA));     // version 0
    burst.push_back(from_peer(a_.theirs, ipv4_packet(70, 4), kGone));    // keypair gone since
    burst.push_back(from_peer(b_.theirs, ipv4_packet(70, 5), kIndexA));  // a's index, b's key
    std::vector<Bytes> sent;
    for (rte_mbuf* m : burst) sent.push_back(bytes_of(m));

    pipeline_crypto(snap_, burst.data(), static_cast<uint16_t>(burst.size()));

    auto meta = [&](size_t i) -> const PipelineMeta& { return pipeline_meta(burst[i]); };
    EXPECT_EQ(meta(0).verdict, Verdict::deliver);
    EXPECT_EQ(drop_reason_name(meta(0).reason), "none");
    EXPECT_EQ(meta(0).length, inner_a.size());
    EXPECT_EQ(
        Bytes(rte_pktmbuf_mtod(burst[0], uint8_t*) + wire::kTransportHeaderLen,
              rte_pktmbuf_mtod(burst[0], uint8_t*) + wire::kTransportHeaderLen + meta(0).length),
        inner_a);
    EXPECT_EQ(meta(1).verdict, Verdict::deliver);
    EXPECT_EQ(meta(1).length, inner_b.size());
    EXPECT_EQ(meta(2).verdict, Verdict::keepalive);
    EXPECT_EQ(meta(2).length, 0u);
    EXPECT_EQ(meta(3).verdict, Verdict::drop);
    EXPECT_EQ(drop_reason_name(meta(3).reason), "auth_failed");
    EXPECT_EQ(meta(4).verdict, Verdict::drop);
    EXPECT_EQ(drop_reason_name(meta(4).reason), "invalid_inner_packet");
    EXPECT_EQ(meta(5).verdict, Verdict::drop);
    EXPECT_EQ(drop_reason_name(meta(5).reason), "unknown_index");
    EXPECT_EQ(meta(6).verdict, Verdict::drop);
    EXPECT_EQ(drop_reason_name(meta(6).reason), "auth_failed");
    // Opening leaves the message length alone, and a packet it could not
    // open byte for byte as it came.
    for (size_t i = 0; i < burst.size(); ++i)
        EXPECT_EQ(rte_pktmbuf_data_len(burst[i]), sent[i].size()) << i;
    EXPECT_EQ(bytes_of(burst[5]), sent[5]);
    // The crypto lcore does not touch the replay windows.
    EXPECT_EQ(a_.ours.replay.next_expected(), 0u);
    EXPECT_EQ(b_.ours.replay.next_expected(), 0u);

    // The rx/tx lcore then accepts in order, as collect_pipeline does.
    TransportCounters rx;
    for (size_t i : {0, 2, 3, 4}) {
        PacketResult r;
        r.verdict = meta(i).verdict;
        r.reason = meta(i).reason;
        r.offset = static_cast<uint32_t>(wire::kTransportHeaderLen);
        r.length = meta(i).length;
        const TransportPacket tp{rte_pktmbuf_mtod(burst[i], uint8_t*),
                                 rte_pktmbuf_data_len(burst[i]), rte_pktmbuf_data_len(burst[i])};
        decrypt_accept(a_.ours, tp, r, rx);
    }
    EXPECT_EQ(rx.rx_packets, 2u);
    EXPECT_EQ(rx.rx_keepalives, 1u);
    EXPECT_EQ(rx.dropped(DropReason::auth_failed), 1u);
    EXPECT_EQ(rx.dropped(DropReason::invalid_inner_packet), 1u);
    EXPECT_EQ(a_.ours.replay.next_expected(), 4u);  // counters 0..3; the forged one's (2) not

    rte_pktmbuf_free_bulk(burst.data(), static_cast<unsigned>(burst.size()));
}

TEST_F(PipelineCryptoTest, KeypairGoneFromTheSnapshotLeavesPacketsUnsealed) {
    Ends gone(3, kGone, 0x3000);
    const std::vector<Bytes> inners{ipv4_packet(100, 1), ipv4_packet(200, 2)};
    Burst on_gone = prepared(gone.ours, inners);
    Burst on_a = prepared(a_.ours, inners);
    std::vector<Bytes> before;
    for (rte_mbuf* m : on_gone) before.push_back(bytes_of(m));
    Burst burst{on_gone[0], on_a[0], on_gone[1], on_a[1]};
    for (rte_mbuf* m : burst) pipeline_meta(m).sealed = true;  // stale, to see it overwritten
    pipeline_crypto(snap_, burst.data(), static_cast<uint16_t>(burst.size()));
    EXPECT_FALSE(pipeline_meta(on_gone[0]).sealed);
    EXPECT_FALSE(pipeline_meta(on_gone[1]).sealed);
    EXPECT_TRUE(pipeline_meta(on_a[0]).sealed);
    EXPECT_TRUE(pipeline_meta(on_a[1]).sealed);
    EXPECT_EQ(bytes_of(on_gone[0]), before[0]);
    EXPECT_EQ(bytes_of(on_gone[1]), before[1]);
    TransportCounters tx;
    const TransportPacket tp{rte_pktmbuf_mtod(on_gone[0], uint8_t*),
                             rte_pktmbuf_data_len(on_gone[0]), rte_pktmbuf_data_len(on_gone[0])};
    encrypt_count(tp, pipeline_meta(on_gone[0]).sealed, tx);
    EXPECT_EQ(tx.dropped(DropReason::crypto_error), 1u);
    EXPECT_EQ(tx.tx_packets, 0u);
    rte_pktmbuf_free_bulk(burst.data(), static_cast<unsigned>(burst.size()));
}

// The whole trip: dispatch, two crypto lcores running pipeline_crypto on
// what they take, returns interleaved, collect, accept or count.
TEST_F(PipelineCryptoTest, ThroughThePipelineInOrder) {
    std::vector<Bytes> inners;
    for (uint8_t i = 0; i < 90; ++i) inners.push_back(ipv4_packet(40 + 9 * i, i));
    Burst dec;
    for (const Bytes& inner : inners) dec.push_back(from_peer(a_.theirs, inner, kIndexA));
    const auto want_enc = reference(b_.ours, 0, inners);
    Burst enc = prepared(b_.ours, inners);

    // Three dispatches a step: both workers get packets of both directions.
    for (size_t at = 0; at < inners.size(); at += 30) {
        ASSERT_EQ(pipeline_->dispatch(kDecrypt, dec.data() + at, 15), 15);
        ASSERT_EQ(pipeline_->dispatch(kDecrypt, dec.data() + at + 15, 15), 15);
        ASSERT_EQ(pipeline_->dispatch(kEncrypt, enc.data() + at, 30), 30);
    }
    for (unsigned w : {1u, 0u}) {
        take(w);
        Burst work(taken_[w].begin(), taken_[w].end());
        pipeline_crypto(snap_, work.data(), static_cast<uint16_t>(work.size()));
    }
    while (!taken_[0].empty() || !taken_[1].empty()) {
        give_back(1, 13);
        collect_once();
        give_back(0, 7);
    }
    collect_all();
    ASSERT_EQ(out_[0].size(), inners.size());
    ASSERT_EQ(out_[1].size(), inners.size());
    TransportCounters rx;
    for (size_t i = 0; i < inners.size(); ++i) {
        rte_mbuf* m = out_[0][i];
        EXPECT_EQ(m, dec[i]) << i;
        const PipelineMeta& meta = pipeline_meta(m);
        PacketResult r;
        r.verdict = meta.verdict;
        r.reason = meta.reason;
        r.offset = static_cast<uint32_t>(wire::kTransportHeaderLen);
        r.length = meta.length;
        const TransportPacket tp{rte_pktmbuf_mtod(m, uint8_t*), rte_pktmbuf_data_len(m),
                                 rte_pktmbuf_data_len(m)};
        decrypt_accept(a_.ours, tp, r, rx);
        ASSERT_EQ(r.verdict, Verdict::deliver) << i;
        EXPECT_EQ(Bytes(tp.data + r.offset, tp.data + r.offset + r.length), inners[i]) << i;
        EXPECT_EQ(out_[1][i], enc[i]) << i;
        EXPECT_TRUE(pipeline_meta(out_[1][i]).sealed) << i;
        EXPECT_EQ(bytes_of(out_[1][i]), want_enc[i]) << i;
    }
    EXPECT_EQ(rx.rx_packets, inners.size());
    EXPECT_EQ(rx.total_drops(), 0u);
    for (auto& list : out_) {
        rte_pktmbuf_free_bulk(list.data(), static_cast<unsigned>(list.size()));
        list.clear();
    }
    expect_settled();
}

}  // namespace
}  // namespace sluice
