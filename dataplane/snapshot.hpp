// The tables lcores read: one immutable snapshot of every peer's routes,
// keypairs and endpoint, published by the control thread (DESIGN §3).
//
// The control thread never edits a snapshot an lcore may be reading. To change
// anything (a handshake completed, a peer roamed, the configuration changed)
// it builds a new Snapshot, publishes it with one release store, and frees the
// old one, and every keypair that fell out of it, only after each lcore has
// reported a quiescent state since (dataplane/rcu.hpp). An lcore loads the
// pointer once per loop iteration and uses that snapshot for the whole
// iteration, so it never sees half an update.
//
// What changes per packet lives outside the snapshot, in PeerShared: activity
// stamps and byte counts that lcores write with relaxed atomics and the
// control thread reads to drive the timers and answer wg(8).
#pragma once

#include <atomic>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "dataplane/allowed_ips.hpp"
#include "dataplane/index_table.hpp"
#include "dataplane/keypair.hpp"
#include "drivers/mbuf_endpoint.hpp"

namespace sluice {

// Per-peer facts the packet path records. Owner: the control thread allocates
// it with the peer and frees it after a grace period once the peer is gone;
// lcores: store and fetch_add, relaxed (several lcores may serve one peer);
// control: loads. Times are CLOCK_MONOTONIC nanoseconds; 0 = never.
struct alignas(64) PeerShared {
    std::atomic<int64_t> last_rx_authenticated_ns{0};  // any authenticated message, keepalives too
    std::atomic<int64_t> last_rx_data_ns{0};           // a non-empty one
    std::atomic<int64_t> last_tx_authenticated_ns{0};
    std::atomic<int64_t> last_tx_data_ns{0};
    std::atomic<uint64_t> rx_bytes{0};  // transport-message bytes, as wg(8) counts them
    std::atomic<uint64_t> tx_bytes{0};
    std::atomic<uint64_t> rx_packets{0};
    std::atomic<uint64_t> tx_packets{0};

    static void raise(std::atomic<int64_t>& stamp, int64_t now) noexcept {
        if (stamp.load(std::memory_order_relaxed) < now) stamp.store(now, std::memory_order_relaxed);
    }
    // A burst of `packets` messages (`bytes` in all) went out at `now`; `data`
    // when any was more than a keepalive.
    void note_sent(uint64_t packets, uint64_t bytes, bool data, int64_t now) noexcept {
        if (packets == 0) return;
        raise(last_tx_authenticated_ns, now);
        if (data) raise(last_tx_data_ns, now);
        tx_bytes.fetch_add(bytes, std::memory_order_relaxed);
        tx_packets.fetch_add(packets, std::memory_order_relaxed);
    }
};

// One peer as the packet path sees it. Keypair pointers may be null.
struct PeerView {
    uint32_t peer_id = 0;          // the control plane's id (DeviceConfig's PeerId)
    PeerShared* shared = nullptr;  // never null in a published snapshot
    Keypair* current = nullptr;    // sends; decrypts
    Keypair* previous = nullptr;   // decrypts packets in flight across a rekey
    Keypair* next = nullptr;       // responder: decrypts; the first packet on it confirms it
    MbufEndpoint endpoint;         // family 0: unknown, cannot send
};

// A receiver index as the packet path resolves it.
struct IndexRef {
    Keypair* keypair = nullptr;
    uint32_t peer = 0;  // position in Snapshot::peers
};

struct Snapshot {
    uint64_t generation = 0;
    uint16_t mtu = 1420;  // the tunnel MTU: padding stops there
    std::vector<PeerView> peers;
    AllowedIps routes;  // inner address → position in peers
    IndexTable<IndexRef> by_index{size_t{1} << 22};
    std::unordered_map<uint32_t, uint32_t> position_of;  // peer_id → position (control commands)

    [[nodiscard]] const PeerView* peer_by_id(uint32_t peer_id) const noexcept {
        const auto it = position_of.find(peer_id);
        return it == position_of.end() ? nullptr : &peers[it->second];
    }
};

}  // namespace sluice
