// One peer as the control thread keeps it: handshake, cookie jar, timers,
// keypair slots, staged packets and the endpoint it is reached at. Private to
// the gateway_*.cpp files. Control thread only, except `shared`, which lcores
// write (see dataplane/snapshot.hpp).
#pragma once

#include <rte_mbuf.h>

#include <deque>
#include <optional>
#include <memory>
#include <string>

#include "control/gateway.hpp"
#include "dataplane/clock.hpp"  // monotonic_ns

namespace sluice {

struct Gateway::Peer {
    uint32_t id = 0;  // DeviceConfig's PeerId
    Key public_key{};
    Handshake handshake;
    std::unique_ptr<CookieJar> jar;
    PeerTimers timers;
    KeypairSlots slots;
    MbufEndpoint endpoint;  // family 0: unknown
    uint16_t persistent_keepalive = 0;
    // Lcores write; freed through RCU after the peer is removed.
    PeerShared* shared = nullptr;
    std::deque<rte_mbuf*> staged;  // inner packets waiting for a keypair, oldest first
    // Activity stamps already turned into timer hooks.
    int64_t seen_rx_authenticated = 0, seen_rx_data = 0;
    int64_t seen_tx_authenticated = 0, seen_tx_data = 0;
    // Index of a handshake we started that has not yet become a keypair,
    // and when (monotonic) we last sent an initiation, probes included.
    uint32_t pending_index = 0;
    int64_t last_initiation_mono_ns = 0;
    // Streams: no initiation on their behalf before this (see gateway_streams.cpp).
    int64_t stream_handshake_after_ns = 0;
    // For wg(8): wall-clock time of the last completed handshake (0: never),
    // and for sluicectl the monotonic one.
    int64_t last_handshake_unix_ns = 0;
    int64_t last_handshake_mono_ns = 0;

    explicit Peer(JitterSource jitter) : timers(std::move(jitter)) {}
};

// Endpoints in their three forms: the mbuf field the packet path uses, the
// UAPI's and sluicectl's.
MbufEndpoint to_mbuf_endpoint(const IpAddress& address, uint16_t port);
std::optional<IpAddress> address_of(const MbufEndpoint& ep);
// The cookie's "source": address bytes, then the port big-endian.
size_t cookie_source(const MbufEndpoint& ep, uint8_t out[18]);

// Host names of configured endpoints, resolved at start-up and reload.
std::optional<uapi::SocketEndpoint> resolve_endpoint(const Endpoint& e);
// Jitter for the handshake timers (uniform in [0, REKEY_TIMEOUT_JITTER_MAX)).
JitterSource timer_jitter_source();

int64_t realtime_now_ns();

}  // namespace sluice
