// Timers: the packet path's activity stamps become PeerTimers hooks, and the
// actions the timers ask for are carried out. All timing policy stays in
// control/timers.hpp; this file only translates.
#include <rte_mbuf.h>

#include <algorithm>
#include <utility>

#include "control/dataplane_ports.hpp"
#include "control/gateway_peer.hpp"
#include "control/log.hpp"

namespace sluice {

KeypairTiming Gateway::timing_of(const Keypair& kp) const {
    KeypairTiming t;
    t.send_counter = kp.send_counter.load(std::memory_order_relaxed);
    t.birth = Time(kp.birth_ns);
    t.we_initiated = kp.we_initiated;
    // In the current slot a responder's keypair has been confirmed.
    t.received_any = true;
    t.rekey_after_time = rekey_after_time_;
    return t;
}

void Gateway::run_timers(Time now) {
    for (uint32_t id : peer_order_) {
        Peer& peer = *peers_.at(id);
        PeerShared& s = *peer.shared;
        TimerActions actions;

        // The hooks, in the order the stamps say things happened.
        struct Stamp {
            int64_t at;
            int kind;
        };
        Stamp stamps[4];
        int n = 0;
        const int64_t rx_auth = s.last_rx_authenticated_ns.load(std::memory_order_relaxed);
        const int64_t rx_data = s.last_rx_data_ns.load(std::memory_order_relaxed);
        const int64_t tx_auth = s.last_tx_authenticated_ns.load(std::memory_order_relaxed);
        const int64_t tx_data = s.last_tx_data_ns.load(std::memory_order_relaxed);
        if (rx_auth > peer.seen_rx_authenticated) stamps[n++] = {rx_auth, 0};
        if (rx_data > peer.seen_rx_data) stamps[n++] = {rx_data, 1};
        if (tx_auth > peer.seen_tx_authenticated) stamps[n++] = {tx_auth, 2};
        if (tx_data > peer.seen_tx_data) stamps[n++] = {tx_data, 3};
        std::sort(stamps, stamps + n, [](const Stamp& a, const Stamp& b) {
            return a.at != b.at ? a.at < b.at : a.kind < b.kind;
        });
        bool received = false, sent = false;
        for (int i = 0; i < n; ++i) {
            const Time at(stamps[i].at);
            switch (stamps[i].kind) {
                case 0:
                    peer.timers.any_authenticated_packet_received(at);
                    peer.timers.any_authenticated_packet_traversal(at);
                    received = true;
                    break;
                case 1: peer.timers.data_received(at); break;
                case 2:
                    peer.timers.any_authenticated_packet_sent(at);
                    peer.timers.any_authenticated_packet_traversal(at);
                    sent = true;
                    break;
                case 3: peer.timers.data_sent(at); break;
            }
        }
        peer.seen_rx_authenticated = rx_auth;
        peer.seen_rx_data = rx_data;
        peer.seen_tx_authenticated = tx_auth;
        peer.seen_tx_data = tx_data;

        if (Keypair* kp = peer.slots.current()) {
            const KeypairTiming timing = timing_of(*kp);
            if (sent) actions |= peer.timers.keep_key_fresh_after_send(now, timing);
            if (received) actions |= peer.timers.keep_key_fresh_after_receive(now, timing);
        }
        actions |= peer.timers.poll(now);
        carry_out(peer, actions, now);
    }
}

void Gateway::carry_out(Peer& peer, TimerActions actions, Time now) {
    if (actions.empty()) return;
    if (actions.has(TimerAction::zero_keys)) zero_keys(peer);
    if (actions.has(TimerAction::handshake_gave_up)) {
        log::info("peer " + std::to_string(peer.id) + ": no handshake after " +
                  std::to_string(kMaxInitiationsPerAttempt) + " attempts; giving up until there is traffic");
        drop_staged(peer);
    }
    if (actions.has(TimerAction::send_initiation)) send_initiation(peer, now);
    if (actions.has(TimerAction::send_keepalive)) send_keepalive(peer, now);
    // clear_endpoint_source: sockets here are not pinned to a source address.
}

// An empty packet, which goes the way of any packet: out on the current
// keypair, or staged while a handshake is asked for.
void Gateway::send_keepalive(Peer& peer, Time now) {
    if (rte_mbuf* m = rte_pktmbuf_alloc(io_.ports->pool())) stage(peer, m, now);
}

void Gateway::zero_keys(Peer& peer) {
    retire_keypairs(peer.slots.clear());
    forget_handshake_index(peer);
    peer.handshake.clear();
    dirty_ = true;
}

std::optional<Gateway::Time> Gateway::next_deadline() const {
    std::optional<Time> earliest;
    for (const auto& [id, peer] : peers_) {
        const auto d = peer->timers.next_deadline();
        if (d && (!earliest || *d < *earliest)) earliest = d;
    }
    return earliest;
}

}  // namespace sluice
