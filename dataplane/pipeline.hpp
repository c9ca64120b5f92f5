// Pipeline mode (dataplane.mode: pipeline): one tunnel's crypto spread over
// several lcores, for a single peer whose traffic run-to-completion would
// keep on one core (its keypair's replay window belongs to one lcore).
//
// Roles: lcore 0 is the rx/tx lcore; it alone owns the ports (one queue
// pair), the replay windows, the send counters and the rings to and from the
// control thread. Lcores 1..n-1 are crypto lcores: they only seal and open.
//
// Stages (Lcore runs the rx/tx side, see lcore.hpp; transport.hpp has the
// split transport stages):
//   rx/tx  1. WAN rx, classify, decrypt_check (length, key age, replay
//             pre-check), or LAN rx, route, encrypt_prepare (counters
//             reserved in packet order, header, padding)
//          2. dispatch: a sequence number per direction into each mbuf
//             (rte_reorder's field), the burst to the next crypto lcore's
//             ring, round robin; no room in any: pipeline_full
//   crypto 3. decrypt_open_burst / encrypt_seal_burst, keys looked up in the
//             crypto lcore's own snapshot by the keypair index in the mbuf
//          4. every packet back on its return ring, failures included, so
//             the sequence has no holes
//   rx/tx  5. collect: return rings → one rte_reorder buffer per direction
//             → drained in dispatch order
//          6. decrypt_accept (the replay window sees counters in arrival
//             order), then delivery as in run-to-completion; or
//             encrypt_count and WAN tx
//
// Bounds: at most kMaxInFlight packets are between dispatch and drain, which
// is less than the reorder buffers hold, so an insert never finds its
// sequence number out of the buffer's window.
//
// Ownership: the dispatch and collect side (sequence numbers, reorder
// buffers, in_flight) belongs to the rx/tx lcore; crypto lcore w touches
// only its two rings (single producer, single consumer each).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/transport.hpp"

struct rte_mbuf;
struct rte_ring;
struct rte_reorder_buffer;

namespace sluice {

enum class PipelineDirection : uint8_t { decrypt, encrypt };

// Per-mbuf state between the rx/tx lcore and a crypto lcore (an mbuf
// dynamic field). The rx/tx lcore writes local_index and direction; the
// crypto lcore writes the result fields.
struct PipelineMeta {
    uint32_t local_index = 0;  // the keypair (Snapshot::by_index)
    uint32_t length = 0;       // decrypt: inner packet length (PacketResult::length)
    PipelineDirection direction = PipelineDirection::decrypt;
    Verdict verdict = Verdict::drop;
    DropReason reason = DropReason::none;  // decrypt: why not opened or not deliverable
    bool sealed = false;                   // encrypt: the engine sealed it
};

// Registers the field (once per process); false when DPDK refuses.
bool register_pipeline_meta();
PipelineMeta& pipeline_meta(rte_mbuf* m) noexcept;

struct PipelineCounters {  // written by the rx/tx lcore
    uint64_t dispatched = 0;  // packets given to crypto lcores
    uint64_t collected = 0;   // and taken back in order
};

class Pipeline {
public:
    static constexpr unsigned kRingSize = 1024;       // each way, per crypto lcore
    static constexpr unsigned kReorderSize = 16384;   // per direction
    static constexpr uint32_t kMaxInFlight = kReorderSize / 2;

    // Rings for `workers` crypto lcores and both reorder buffers; null with
    // `error` when DPDK cannot make them. `name` keeps names unique.
    static std::unique_ptr<Pipeline> create(const std::string& name, unsigned workers,
                                            std::string* error);
    ~Pipeline();
    Pipeline(const Pipeline&) = delete;
    Pipeline& operator=(const Pipeline&) = delete;

    [[nodiscard]] unsigned workers() const noexcept {
        return static_cast<unsigned>(to_worker_.size());
    }

    // ---- rx/tx lcore ----
    // Gives pkts[0..n) (all of one direction, metadata written) to crypto
    // lcores in order; returns how many went. The caller drops the rest.
    uint16_t dispatch(PipelineDirection direction, rte_mbuf** pkts, uint16_t n) noexcept;
    // Takes what crypto lcores finished and returns up to `max` packets of
    // each direction in dispatch order. *reorder_failed counts packets the
    // reorder buffer refused (freed; never expected, see Bounds).
    void collect(uint16_t burst, rte_mbuf** decrypted, uint16_t* n_decrypted, rte_mbuf** encrypted,
                 uint16_t* n_encrypted, uint16_t max, uint64_t* reorder_failed) noexcept;
    [[nodiscard]] const PipelineCounters& counters() const noexcept { return counters_; }
    [[nodiscard]] uint32_t in_flight() const noexcept { return in_flight_; }

    // ---- crypto lcore w ----
    [[nodiscard]] rte_ring* to_worker(unsigned w) const noexcept { return to_worker_[w]; }
    [[nodiscard]] rte_ring* from_worker(unsigned w) const noexcept { return from_worker_[w]; }

private:
    Pipeline() = default;
    rte_reorder_buffer* buffer(PipelineDirection d) const noexcept {
        return d == PipelineDirection::decrypt ? decrypt_order_ : encrypt_order_;
    }

    std::vector<rte_ring*> to_worker_;    // owned
    std::vector<rte_ring*> from_worker_;  // owned
    rte_reorder_buffer* decrypt_order_ = nullptr;  // owned
    rte_reorder_buffer* encrypt_order_ = nullptr;  // owned
    uint32_t next_seqn_[2] = {1, 1};  // 0 went through at create()
    unsigned next_worker_ = 0;
    uint32_t in_flight_ = 0;
    PipelineCounters counters_;
};

// One crypto lcore's work on a burst from its ring: looks up the keys in
// `snap` (loaded after the burst was taken, so it is at least as new as the
// snapshot that dispatched it), opens or seals, writes the results into each
// mbuf's PipelineMeta. Order is kept.
struct Snapshot;
void pipeline_crypto(const Snapshot& snap, rte_mbuf** pkts, uint16_t n) noexcept;

}  // namespace sluice
