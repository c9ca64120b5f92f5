// Pipeline mode's rings, reorder buffers and crypto step; the stages are
// listed in pipeline.hpp.

// rte_reorder_seqn(), the accessor of the sequence number field, is still
// marked experimental in DPDK 22.11 although the field has not changed
// since 20.11.
#define ALLOW_EXPERIMENTAL_API 1

#include "dataplane/pipeline.hpp"

#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_reorder.h>
#include <rte_ring.h>

#include <algorithm>
#include <cstring>

#include "dataplane/snapshot.hpp"

namespace sluice {

namespace {

int g_meta_offset = -1;

void free_ring(rte_ring* r) {
    if (r == nullptr) return;
    void* m;
    while (rte_ring_dequeue(r, &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
    rte_ring_free(r);
}

}  // namespace

bool register_pipeline_meta() {
    if (g_meta_offset >= 0) return true;
    static const rte_mbuf_dynfield kField = {"sluice_dynfield_pipeline", sizeof(PipelineMeta),
                                             alignof(PipelineMeta), 0};
    const int offset = rte_mbuf_dynfield_register(&kField);
    if (offset < 0) return false;
    g_meta_offset = offset;
    return true;
}

PipelineMeta& pipeline_meta(rte_mbuf* m) noexcept {
    return *RTE_MBUF_DYNFIELD(m, g_meta_offset, PipelineMeta*);
}

std::unique_ptr<Pipeline> Pipeline::create(const std::string& name, unsigned workers,
                                           std::string* error) {
    std::unique_ptr<Pipeline> p(new Pipeline);
    if (workers == 0) {
        *error = "pipeline mode needs at least one crypto lcore";
        return nullptr;
    }
    if (!register_pipeline_meta()) {
        *error = "cannot register the pipeline mbuf field: " + std::string(rte_strerror(rte_errno));
        return nullptr;
    }
    for (unsigned w = 0; w < workers; ++w) {
        const std::string suffix = std::to_string(w);
        rte_ring* to = rte_ring_create((name + "pto" + suffix).c_str(), kRingSize, SOCKET_ID_ANY,
                                       RING_F_SP_ENQ | RING_F_SC_DEQ);
        if (to != nullptr) p->to_worker_.push_back(to);
        rte_ring* from = rte_ring_create((name + "pfr" + suffix).c_str(), kRingSize, SOCKET_ID_ANY,
                                         RING_F_SP_ENQ | RING_F_SC_DEQ);
        if (from != nullptr) p->from_worker_.push_back(from);
        if (to == nullptr || from == nullptr) {
            *error = "cannot create the pipeline rings: " + std::string(rte_strerror(rte_errno));
            return nullptr;
        }
    }
    p->decrypt_order_ = rte_reorder_create((name + "rod").c_str(), SOCKET_ID_ANY, kReorderSize);
    p->encrypt_order_ = rte_reorder_create((name + "roe").c_str(), SOCKET_ID_ANY, kReorderSize);
    if (p->decrypt_order_ == nullptr || p->encrypt_order_ == nullptr) {
        *error = "cannot create the pipeline reorder buffers: " +
                 std::string(rte_strerror(rte_errno));
        return nullptr;
    }
    // rte_reorder starts its window at 0 (22.11) or at the first sequence
    // number inserted (later releases). Whichever packet a crypto lcore
    // hands back first, both must agree on where the sequence begins: one
    // placeholder numbered 0 goes through each buffer before any packet, and
    // the packets' numbers start at 1 (and wrap, which its window arithmetic
    // allows).
    for (rte_reorder_buffer* b : {p->decrypt_order_, p->encrypt_order_}) {
        alignas(RTE_CACHE_LINE_SIZE) static rte_mbuf placeholder;
        std::memset(&placeholder, 0, sizeof placeholder);
        rte_mbuf* drained = nullptr;
        if (rte_reorder_insert(b, &placeholder) != 0 || rte_reorder_drain(b, &drained, 1) != 1 ||
            drained != &placeholder) {
            *error = "cannot start the pipeline reorder buffers";
            return nullptr;
        }
    }
    return p;
}

Pipeline::~Pipeline() {
    for (rte_ring* r : to_worker_) free_ring(r);
    for (rte_ring* r : from_worker_) free_ring(r);
    rte_reorder_free(decrypt_order_);  // frees the mbufs it still holds
    rte_reorder_free(encrypt_order_);
}

uint16_t Pipeline::dispatch(PipelineDirection direction, rte_mbuf** pkts, uint16_t n) noexcept {
    if (in_flight_ + n > kMaxInFlight) n = static_cast<uint16_t>(kMaxInFlight - in_flight_);
    uint32_t& seqn = next_seqn_[static_cast<unsigned>(direction)];
    uint16_t done = 0;
    // Each crypto lcore in turn gets the next burst; one that is full is
    // skipped, and only when all are full does the rest stay with the caller.
    for (unsigned tries = 0; tries < workers() && done < n; ++tries) {
        rte_ring* ring = to_worker_[next_worker_];
        next_worker_ = next_worker_ + 1 == workers() ? 0 : next_worker_ + 1;
        for (uint16_t i = done; i < n; ++i) *rte_reorder_seqn(pkts[i]) = seqn + (i - done);
        const unsigned went = rte_ring_sp_enqueue_burst(
            ring, reinterpret_cast<void* const*>(pkts + done), n - done, nullptr);
        // Numbers given to packets that did not go are given again: no holes.
        seqn += went;
        done = static_cast<uint16_t>(done + went);
    }
    in_flight_ += done;
    counters_.dispatched += done;
    return done;
}

void Pipeline::collect(uint16_t burst, rte_mbuf** decrypted, uint16_t* n_decrypted,
                       rte_mbuf** encrypted, uint16_t* n_encrypted, uint16_t max,
                       uint64_t* reorder_failed) noexcept {
    rte_mbuf* back[512];
    burst = std::min<uint16_t>(burst, 512);
    for (rte_ring* ring : from_worker_) {
        const unsigned n =
            rte_ring_sc_dequeue_burst(ring, reinterpret_cast<void**>(back), burst, nullptr);
        for (unsigned i = 0; i < n; ++i) {
            rte_mbuf* m = back[i];
            if (rte_reorder_insert(buffer(pipeline_meta(m).direction), m) != 0) {
                // Out of the buffer's window: cannot happen while in_flight
                // stays under kMaxInFlight; counted, never silent.
                rte_pktmbuf_free(m);
                ++*reorder_failed;
                --in_flight_;
            }
        }
    }
    *n_decrypted = static_cast<uint16_t>(rte_reorder_drain(decrypt_order_, decrypted, max));
    *n_encrypted = static_cast<uint16_t>(rte_reorder_drain(encrypt_order_, encrypted, max));
    const uint32_t out = *n_decrypted + *n_encrypted;
    in_flight_ -= out;
    counters_.collected += out;
}

void pipeline_crypto(const Snapshot& snap, rte_mbuf** pkts, uint16_t n) noexcept {
    constexpr uint16_t kMax = 512;
    n = std::min(n, kMax);
    Keypair* open_keys[kMax];
    TransportPacket open_packets[kMax];
    PacketResult open_results[kMax];
    uint16_t open_of[kMax];
    uint16_t n_open = 0;
    for (uint16_t i = 0; i < n;) {
        rte_mbuf* m = pkts[i];
        PipelineMeta& meta = pipeline_meta(m);
        const IndexRef* ref = snap.by_index.lookup(meta.local_index);
        Keypair* kp = ref != nullptr ? ref->keypair : nullptr;
        if (meta.direction == PipelineDirection::decrypt) {
            open_keys[n_open] = kp;
            open_packets[n_open] = TransportPacket{rte_pktmbuf_mtod(m, uint8_t*),
                                                   rte_pktmbuf_data_len(m), rte_pktmbuf_data_len(m)};
            open_of[n_open++] = i++;
            continue;
        }
        // A run of packets sealed with one keypair (they came as one group).
        uint16_t end = i + 1;
        while (end < n && pipeline_meta(pkts[end]).direction == PipelineDirection::encrypt &&
               pipeline_meta(pkts[end]).local_index == meta.local_index)
            ++end;
        TransportPacket seal_packets[kMax];
        bool ok[kMax];
        const uint16_t count = end - i;
        for (uint16_t k = 0; k < count; ++k) {
            rte_mbuf* s = pkts[i + k];
            seal_packets[k] = TransportPacket{rte_pktmbuf_mtod(s, uint8_t*), rte_pktmbuf_data_len(s),
                                              rte_pktmbuf_data_len(s)};
            ok[k] = false;
        }
        // The keypair left every snapshot since dispatch: nothing to seal
        // with; the rx/tx lcore counts these as crypto_error.
        if (kp != nullptr) encrypt_seal_burst(*kp, seal_packets, count, ok);
        for (uint16_t k = 0; k < count; ++k) pipeline_meta(pkts[i + k]).sealed = ok[k];
        i = end;
    }
    if (n_open == 0) return;
    decrypt_open_burst(open_keys, open_packets, n_open, open_results);
    for (uint16_t k = 0; k < n_open; ++k) {
        PipelineMeta& meta = pipeline_meta(pkts[open_of[k]]);
        meta.verdict = open_results[k].verdict;
        meta.reason = open_results[k].reason;
        meta.length = open_results[k].length;
    }
}

}  // namespace sluice
