// The gateway's side of streams (DESIGN §7): it builds the StreamForwarder
// when some peer has `streams:`, tells it which peers have them, and gives it
// a way out: stream packets become Commands for lcore 0, which encrypts them
// as stream messages with the peer's current keypair.
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <algorithm>
#include <cstring>

#include "control/dataplane_ports.hpp"
#include "control/gateway_peer.hpp"
#include "control/log.hpp"
#include "control/stream_forwarder.hpp"

namespace sluice {

void Gateway::start_streams() {
    const bool any = std::any_of(config_.peers.begin(), config_.peers.end(),
                                 [](const PeerConfig& p) { return p.streams.has_value(); });
    if (!any || !identity_) return;
    StreamLink link;
    link.can_send = [this](uint32_t id) { return stream_can_send(id); };
    link.send_room = [this] {
        return static_cast<size_t>(rte_ring_free_count(io_.lcores.front()->config().commands));
    };
    link.send = [this](uint32_t id, std::span<const uint8_t> packet) {
        return send_stream(id, packet);
    };
    link.want_keypair = [this](uint32_t id) {
        if (Peer* peer = peer_by_id(id)) stream_wants_keypair(*peer, Time(monotonic_ns()));
    };
    streams_ = std::make_unique<StreamForwarder>(config_, identity_->public_key, std::move(link));
    for (uint32_t id : peer_order_) sync_stream_peer(*peers_.at(id));
}

void Gateway::sync_stream_peer(const Peer& peer) {
    if (!streams_) return;
    const auto it = std::find_if(config_.peers.begin(), config_.peers.end(),
                                 [&](const PeerConfig& p) { return p.public_key == peer.public_key; });
    if (it == config_.peers.end()) {
        streams_->set_peer(peer.id, peer.public_key, "", std::nullopt);
        return;
    }
    streams_->set_peer(peer.id, peer.public_key, it->name, it->streams);
}

// A session has packets and no keypair to send them with. Unlike a staged
// data packet this asks again every round, and both gateways of a stream
// session ask at once: initiating whenever the timers allow would have each
// side answer the other's initiation and drop its own (the responder's role
// wins), both left holding only an unconfirmed `next` keypair, round after
// round. So it waits while a handshake is under way either way: after we
// answered one (the initiator's first packet confirms our `next`), and after
// we sent one; each wait is REKEY_TIMEOUT plus up to a second of jitter, so
// two gateways that started together drift apart.
void Gateway::stream_wants_keypair(Peer& peer, Time now) {
    const int64_t t = now.count();
    if (t < peer.stream_handshake_after_ns) return;
    const int64_t timeout = std::chrono::nanoseconds(wire::kRekeyTimeout).count();
    const int64_t jitter = static_cast<int64_t>(getrandom_u32() % 1000) * 1'000'000;
    if (const Keypair* next = peer.slots.next(); next != nullptr && t - next->birth_ns < timeout) {
        peer.stream_handshake_after_ns = next->birth_ns + timeout + jitter;
        return;
    }
    if (peer.pending_index != 0 && t - peer.last_initiation_mono_ns < timeout) {
        peer.stream_handshake_after_ns = peer.last_initiation_mono_ns + timeout + jitter;
        return;
    }
    peer.stream_handshake_after_ns = t + timeout + jitter;
    carry_out(peer, peer.timers.send_without_key(now), now);
}

bool Gateway::stream_can_send(uint32_t peer_id) {
    Peer* peer = peer_by_id(peer_id);
    if (peer == nullptr || peer->endpoint.family == 0) return false;
    const Keypair* kp = peer->slots.current();
    return kp != nullptr && may_send_data(timing_of(*kp), Time(monotonic_ns()));
}

bool Gateway::send_stream(uint32_t peer_id, std::span<const uint8_t> packet) {
    rte_mbuf* m = rte_pktmbuf_alloc(io_.ports->pool());
    if (m == nullptr) return false;
    auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, static_cast<uint16_t>(packet.size())));
    // The lcore needs the tag's 16 bytes after the packet (encrypt checks it).
    if (p == nullptr || rte_pktmbuf_tailroom(m) < wire::kAeadTagLen) {
        rte_pktmbuf_free(m);
        return false;
    }
    std::memcpy(p, packet.data(), packet.size());
    Command cmd;
    cmd.kind = Command::Kind::encrypt_stream;
    cmd.peer_id = peer_id;
    cmd.m = m;
    return send_command(cmd);
}

ctl::StreamsResponse Gateway::show_streams() const {
    ctl::StreamsResponse r;
    if (streams_) r = streams_->show();
    // Stream messages from a peer while this gateway has streams off: the
    // peer's config has `streams:` for us, ours not for it.
    if (counters_.stream_messages_unexpected != 0)
        r.counters.emplace_back("stream_messages_unexpected", counters_.stream_messages_unexpected);
    return r;
}

}  // namespace sluice
