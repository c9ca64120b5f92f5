// Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s as WireGuard v1 uses it.
//
// Message flow (initiator I, responder R):
//   I: create_initiation  ──type 1──►  R: consume_initiation
//   I: consume_response   ◄──type 2──  R: create_response
//   both: derive_keypair  → a Keypair for the dataplane
// mac1/mac2 are not added or checked here; control/cookie does that, before
// anything in this file spends a Diffie-Hellman on a message.
//
// Nothing here draws randomness or reads a clock: the caller passes the
// ephemeral private key, the TAI64N timestamp and "now", so a handshake can be
// replayed byte for byte in a test. Control thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "control/tai64n.hpp"
#include "dataplane/keypair.hpp"
#include "dataplane/wire.hpp"

namespace sluice {

// One X-macro gives the enum and the names used in logs and counters.
#define SLUICE_HANDSHAKE_ERRORS(X)                                                       \
    X(ok)                                                                                \
    X(bad_length)         /* not exactly the message's size */                           \
    X(bad_type)           /* type/reserved field is not this message's */                \
    X(unknown_peer)       /* static key of the initiator is not configured */            \
    X(unknown_index)      /* response to an index we do not have in flight */            \
    X(decrypt_failed)     /* an encrypted field did not authenticate */                  \
    X(weak_key)           /* a Diffie-Hellman result was all zeros */                    \
    X(replayed_timestamp) /* initiation not newer than the newest seen from that peer */ \
    X(initiation_flood)   /* initiations arriving faster than a peer may send them */    \
    X(wrong_state)        /* e.g. a response when no initiation is outstanding */

enum class HandshakeError : uint8_t {
#define SLUICE_X(name) name,
    SLUICE_HANDSHAKE_ERRORS(SLUICE_X)
#undef SLUICE_X
        count
};
const char* to_string(HandshakeError e);

struct StaticIdentity {
    Key private_key{};
    Key public_key{};
    static StaticIdentity from_private_key(const Key& private_key);
    ~StaticIdentity() { secure_wipe(private_key.data(), private_key.size()); }
};

enum class HandshakeState : uint8_t {
    zeroed,
    initiation_created,   // we are the initiator and wait for a response
    initiation_consumed,  // we are the responder and have not answered yet
    response_created,     // responder: answered; keys can be derived
    response_consumed,    // initiator: got the answer; keys can be derived
};

// Per-peer handshake state.
struct Handshake {
    // Set by configure(); fixed for the life of the peer.
    Key remote_static{};
    Key preshared_key{};            // all zeros when the peer has none (as Noise's psk2 expects)
    Key static_static{};            // DH(our static, their static), computed once
    bool static_static_ok = false;  // false: their key is a low-order point; never handshake
    // Precomputed Noise prefix for messages to/from this peer: H after mixing
    // in the responder's static key, and the initial chaining key.
    Key initial_hash_to_peer{};

    // Handshake in flight.
    HandshakeState state = HandshakeState::zeroed;
    Key hash{};
    Key chaining_key{};
    Key ephemeral_private{};
    Key remote_ephemeral{};
    uint32_t local_index = 0;   // our index for this handshake (and the keypair it yields)
    uint32_t remote_index = 0;  // the peer's index

    // Replay and flood protection for initiations from this peer; survive clear().
    Tai64n latest_timestamp{};
    int64_t last_initiation_consumption_ns = INT64_MIN;

    void configure(const StaticIdentity& us, const Key& remote_static_key, const Key& psk);
    // Forgets the handshake in flight (keys wiped), keeps configuration and replay state.
    void clear();
    ~Handshake();
};

// Initiations from one peer closer together than this are a flood.
inline constexpr int64_t kMinInitiationSpacingNs = 1'000'000'000 / 50;

// Initiator: fills everything but mac1/mac2. State becomes initiation_created.
HandshakeError create_initiation(Handshake& hs, const StaticIdentity& us,
                                 const Key& ephemeral_private, uint32_t local_index,
                                 const Tai64n& timestamp, wire::HandshakeInitiation& msg);

// Responder: decrypts the initiator's static key, asks find_peer for that
// peer's Handshake, checks the timestamp and the flood limit and only then
// commits the new state to that handshake (initiation_consumed).
struct ConsumedInitiation {
    HandshakeError error = HandshakeError::ok;
    Handshake* peer = nullptr;  // set whenever the peer was identified
};
ConsumedInitiation consume_initiation(const wire::HandshakeInitiation& msg,
                                      const StaticIdentity& us,
                                      const std::function<Handshake*(const Key&)>& find_peer,
                                      int64_t now_ns);

// Responder: answers a consumed initiation. State becomes response_created.
HandshakeError create_response(Handshake& hs, const Key& ephemeral_private, uint32_t local_index,
                               wire::HandshakeResponse& msg);

// Initiator: find_by_index maps msg.receiver_index to the handshake that sent
// the initiation. State becomes response_consumed on success; on failure the
// handshake is untouched, so a forged response cannot cancel a real one.
struct ConsumedResponse {
    HandshakeError error = HandshakeError::ok;
    Handshake* peer = nullptr;
};
ConsumedResponse consume_response(const wire::HandshakeResponse& msg, const StaticIdentity& us,
                                  const std::function<Handshake*(uint32_t)>& find_by_index);

// Both sides, once the exchange is complete (response_created or
// response_consumed): derives the transport keys and clears the handshake.
// Returns null in any other state.
std::unique_ptr<Keypair> derive_keypair(Handshake& hs, int64_t now_ns);

// Copies bytes into a message struct after checking its exact length and its
// 32-bit type field (type plus three zero reserved bytes).
template <typename Msg>
HandshakeError parse_message(const uint8_t* data, size_t len, wire::MessageType type, Msg& out) {
    if (len != sizeof(Msg)) return HandshakeError::bad_length;
    if (data[0] != static_cast<uint8_t>(type) || data[1] || data[2] || data[3])
        return HandshakeError::bad_type;
    std::memcpy(&out, data, sizeof(Msg));
    return HandshakeError::ok;
}

}  // namespace sluice
