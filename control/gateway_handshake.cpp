// Handshake messages in and out: the gate (mac1, cookies and rate limiting
// under load), the bounded worker queue, Noise, and keypair installation.
#include <rte_mbuf.h>

#include <cstring>

#include "control/crypto.hpp"
#include "control/gateway_peer.hpp"
#include "control/log.hpp"

namespace sluice {

// Step 1-6 of control/handshake_load.hpp for one message from an lcore.
void Gateway::handshake_message(rte_mbuf* m, Time now) {
    const MbufEndpoint from = *mbuf_endpoint(m);
    const auto* p = rte_pktmbuf_mtod(m, const uint8_t*);
    const size_t len = rte_pktmbuf_data_len(m);
    const uint8_t type = len >= 4 ? p[0] : 0;
    const bool reserved_ok = len >= 4 && p[1] == 0 && p[2] == 0 && p[3] == 0;

    if (type == static_cast<uint8_t>(wire::MessageType::cookie_reply) && reserved_ok &&
        len == sizeof(wire::CookieReply)) {
        wire::CookieReply reply;
        std::memcpy(&reply, p, sizeof reply);
        rte_pktmbuf_free(m);
        process_cookie_reply(reply, now);
        return;
    }
    const bool initiation = type == static_cast<uint8_t>(wire::MessageType::handshake_initiation) &&
                            len == sizeof(wire::HandshakeInitiation);
    const bool response = type == static_cast<uint8_t>(wire::MessageType::handshake_response) &&
                          len == sizeof(wire::HandshakeResponse);
    if (!reserved_ok || (!initiation && !response) || !cookie_checker_ || from.family == 0) {
        ++counters_.handshake_unknown_type;
        rte_pktmbuf_free(m);
        return;
    }
    uint8_t source[18];
    const size_t source_len = cookie_source(from, source);
    const MacCheck mac = cookie_checker_->check(crypto::Bytes(p, len),
                                                crypto::Bytes(source, source_len), now.count());
    const HandshakeVerdict verdict =
        gate_.decide(mac, *address_of(from), queue_.size(), now);
    switch (verdict) {
        case HandshakeVerdict::drop_invalid_mac1:
        case HandshakeVerdict::drop_rate_limited:
            break;  // counted by the gate
        case HandshakeVerdict::send_cookie_reply: {
            uint32_t sender_index;
            std::memcpy(&sender_index, p + 4, 4);
            wire::CookieReply reply;
            cookie_checker_->make_reply(crypto::Bytes(p, len), sender_index,
                                        crypto::Bytes(source, source_len), now.count(), reply);
            send_raw(reinterpret_cast<const uint8_t*>(&reply), sizeof reply, from);
            break;
        }
        case HandshakeVerdict::admit: {
            QueuedHandshake q;
            std::memcpy(q.bytes.data(), p, len);
            q.len = static_cast<uint16_t>(len);
            q.from = from;
            if (!queue_.push(std::move(q))) ++counters_.handshake_queue_full;
            break;
        }
    }
    rte_pktmbuf_free(m);
}

void Gateway::run_handshake_worker(Time now) {
    for (size_t i = 0; i < kHandshakesPerRound; ++i) {
        auto item = queue_.pop();
        if (!item) return;
        if (item->len == sizeof(wire::HandshakeInitiation)) {
            wire::HandshakeInitiation msg;
            std::memcpy(&msg, item->bytes.data(), sizeof msg);
            process_initiation(msg, item->from, now);
        } else {
            wire::HandshakeResponse msg;
            std::memcpy(&msg, item->bytes.data(), sizeof msg);
            process_response(msg, item->from, now);
        }
        secure_wipe(item->bytes.data(), item->bytes.size());
    }
}

void Gateway::process_initiation(const wire::HandshakeInitiation& msg, const MbufEndpoint& from,
                                 Time now) {
    if (!identity_) return;
    // The lookup remembers whose handshake it handed out.
    Peer* peer = nullptr;
    const ConsumedInitiation consumed = consume_initiation(
        msg, *identity_,
        [this, &peer](const Key& key) -> Handshake* {
            peer = peer_by_key(key);
            return peer ? &peer->handshake : nullptr;
        },
        now.count());
    if (consumed.error != HandshakeError::ok) {
        ++counters_.handshake_errors[static_cast<size_t>(consumed.error)];
        return;
    }
    peer->endpoint = from;  // a handshake is authenticated: the peer is there now
    dirty_ = true;
    peer->timers.any_authenticated_packet_received(now);
    peer->timers.any_authenticated_packet_traversal(now);

    forget_handshake_index(*peer);  // our own initiation, if any, lost the race
    const auto index = indices_.insert(peer->id);
    if (!index) return;
    wire::HandshakeResponse response;
    if (create_response(peer->handshake, crypto::random_private_key(), *index, response) !=
        HandshakeError::ok) {
        indices_.remove(*index);
        return;
    }
    peer->jar->add_macs(reinterpret_cast<uint8_t*>(&response), sizeof response, now.count());
    std::unique_ptr<Keypair> kp = derive_keypair(peer->handshake, now.count());
    if (!kp) {
        indices_.remove(*index);
        return;
    }
    install_keypair(*peer, std::move(kp), now);
    // The lcores must know the new keypair before the initiator can answer
    // on it: its first data would otherwise be an unknown index, lost (and
    // left fresh for anyone who captured it to replay later).
    publish();
    if (send_raw(reinterpret_cast<const uint8_t*>(&response), sizeof response, peer->endpoint)) {
        ++counters_.handshake_responses_sent;
        peer->timers.handshake_response_sent(now);
        peer->timers.any_authenticated_packet_sent(now);
        peer->timers.any_authenticated_packet_traversal(now);
    }
}

void Gateway::process_response(const wire::HandshakeResponse& msg, const MbufEndpoint& from,
                               Time now) {
    if (!identity_) return;
    Peer* peer = nullptr;  // the lookup remembers whose handshake it handed out
    const ConsumedResponse consumed =
        consume_response(msg, *identity_, [this, &peer](uint32_t index) -> Handshake* {
            const uint32_t* id = indices_.lookup(index);
            peer = id ? peer_by_id(*id) : nullptr;
            if (peer == nullptr || peer->pending_index != index) peer = nullptr;
            return peer ? &peer->handshake : nullptr;
        });
    if (consumed.error != HandshakeError::ok) {
        ++counters_.handshake_errors[static_cast<size_t>(consumed.error)];
        return;
    }
    peer->endpoint = from;
    dirty_ = true;
    std::unique_ptr<Keypair> kp = derive_keypair(peer->handshake, now.count());
    if (!kp) return;
    peer->pending_index = 0;  // the index now belongs to the keypair
    peer->timers.any_authenticated_packet_received(now);
    peer->timers.any_authenticated_packet_traversal(now);
    peer->timers.handshake_complete(now);
    install_keypair(*peer, std::move(kp), now);
    // The initiator confirms the new keypair to the responder with its first
    // packet: the staged ones, or a keepalive when there are none.
    if (peer->staged.empty()) {
        send_keepalive(*peer, now);
    } else {
        flush_staged(*peer, now);
    }
}

void Gateway::process_cookie_reply(const wire::CookieReply& msg, Time now) {
    const uint32_t* id = indices_.lookup(msg.receiver_index);
    Peer* peer = id ? peer_by_id(*id) : nullptr;
    if (peer == nullptr) return;
    if (peer->jar->consume_reply(msg, now.count())) ++counters_.cookie_replies_received;
}

void Gateway::send_initiation(Peer& peer, Time now, bool probe) {
    if (!identity_ || !peer.handshake.static_static_ok) return;
    if (peer.endpoint.family == 0) {
        ++counters_.no_endpoint;
        return;
    }
    forget_handshake_index(peer);
    const auto index = indices_.insert(peer.id);
    if (!index) return;
    wire::HandshakeInitiation msg;
    if (create_initiation(peer.handshake, *identity_, crypto::random_private_key(), *index,
                          Tai64n::now(), msg) != HandshakeError::ok) {
        indices_.remove(*index);
        return;
    }
    peer.pending_index = *index;
    peer.jar->add_macs(reinterpret_cast<uint8_t*>(&msg), sizeof msg, now.count());
    if (send_raw(reinterpret_cast<const uint8_t*>(&msg), sizeof msg, peer.endpoint)) {
        ++counters_.handshake_initiations_sent;
        peer.last_initiation_mono_ns = now.count();
        if (probe) return;
        peer.timers.handshake_initiated(now);
        peer.timers.any_authenticated_packet_sent(now);
        peer.timers.any_authenticated_packet_traversal(now);
    }
}

// The keypair keeps the index its handshake was given (the peer echoes it in
// every transport message); slots rotate as WireGuard's do.
void Gateway::install_keypair(Peer& peer, std::unique_ptr<Keypair> kp, Time now) {
    ++counters_.handshakes_completed;
    peer.last_handshake_unix_ns = realtime_now_ns();
    peer.last_handshake_mono_ns = now.count();
    peer.timers.session_derived(now);
    retire_keypairs(peer.slots.install(std::move(kp)));
    dirty_ = true;
}

// A handshake we started and that never completed holds an index: release it
// before starting another, or when the responder's role wins.
void Gateway::forget_handshake_index(Peer& peer) {
    if (peer.pending_index != 0) {
        indices_.remove(peer.pending_index);
        peer.pending_index = 0;
    }
}

}  // namespace sluice
