#include "control/noise.hpp"

#include <cstring>
#include <string_view>

#include "control/crypto.hpp"

namespace sluice {
namespace {

using crypto::Bytes;

struct NoisePrefix {
    Key chaining_key;  // HASH(construction)
    Key hash;          // HASH(chaining_key || identifier)
};

// The part of the transcript every WireGuard handshake shares.
const NoisePrefix& noise_prefix() {
    static const NoisePrefix prefix = [] {
        NoisePrefix p;
        const std::string_view construction = wire::kConstruction;
        const std::string_view identifier = wire::kIdentifier;
        p.chaining_key = crypto::hash(
            {Bytes(reinterpret_cast<const uint8_t*>(construction.data()), construction.size())});
        p.hash =
            crypto::hash({p.chaining_key, Bytes(reinterpret_cast<const uint8_t*>(identifier.data()),
                                                identifier.size())});
        return p;
    }();
    return prefix;
}

// H = HASH(H || data)
void mix_hash(Key& h, Bytes data) {
    h = crypto::hash({h, data});
}

// The transcript state of one side while it works on one message. Wiped on
// scope exit, so a failed consume leaves no key material behind on the stack.
struct Transcript {
    Key chaining_key{};
    Key hash{};
    Key key{};
    Key shared{};
    ~Transcript() {
        secure_wipe(chaining_key.data(), chaining_key.size());
        secure_wipe(hash.data(), hash.size());
        secure_wipe(key.data(), key.size());
        secure_wipe(shared.data(), shared.size());
    }
};

void wipe(Key& k) {
    secure_wipe(k.data(), k.size());
}

// Noise's "e" token: C = KDF1(C, e); H = HASH(H || e).
void mix_ephemeral(Transcript& t, const Key& ephemeral_public) {
    crypto::kdf(t.chaining_key, ephemeral_public, &t.chaining_key);
    mix_hash(t.hash, ephemeral_public);
}

// Noise's "psk" token: (C, tau, k) = KDF3(C, psk); H = HASH(H || tau).
void mix_psk(Transcript& t, const Key& preshared_key) {
    Key tau;
    crypto::kdf(t.chaining_key, preshared_key, &t.chaining_key, &tau, &t.key);
    mix_hash(t.hash, tau);
    wipe(tau);
}

}  // namespace

const char* to_string(HandshakeError e) {
    switch (e) {
#define SLUICE_X(name)         \
    case HandshakeError::name: \
        return #name;
        SLUICE_HANDSHAKE_ERRORS(SLUICE_X)
#undef SLUICE_X
        case HandshakeError::count:
            break;
    }
    return "unknown";
}

StaticIdentity StaticIdentity::from_private_key(const Key& private_key) {
    StaticIdentity id;
    id.private_key = private_key;
    id.public_key = crypto::public_key_of(private_key);
    return id;
}

void Handshake::configure(const StaticIdentity& us, const Key& remote_static_key, const Key& psk) {
    remote_static = remote_static_key;
    preshared_key = psk;
    static_static_ok = crypto::dh(us.private_key, remote_static, static_static);
    initial_hash_to_peer = noise_prefix().hash;
    mix_hash(initial_hash_to_peer, remote_static);
}

void Handshake::clear() {
    state = HandshakeState::zeroed;
    wipe(hash);
    wipe(chaining_key);
    wipe(ephemeral_private);
    wipe(remote_ephemeral);
    local_index = 0;
    remote_index = 0;
}

Handshake::~Handshake() {
    clear();
    wipe(static_static);
    wipe(preshared_key);
}

HandshakeError create_initiation(Handshake& hs, const StaticIdentity& us,
                                 const Key& ephemeral_private, uint32_t local_index,
                                 const Tai64n& timestamp, wire::HandshakeInitiation& msg) {
    if (!hs.static_static_ok) return HandshakeError::weak_key;
    Transcript t;
    t.chaining_key = noise_prefix().chaining_key;
    t.hash = hs.initial_hash_to_peer;

    std::memset(&msg, 0, sizeof msg);
    msg.type = static_cast<uint8_t>(wire::MessageType::handshake_initiation);
    msg.sender_index = local_index;  // little-endian host (wire.hpp)

    // e
    const Key ephemeral_public = crypto::public_key_of(ephemeral_private);
    std::memcpy(msg.unencrypted_ephemeral, ephemeral_public.data(), wire::kKeyLen);
    mix_ephemeral(t, ephemeral_public);

    // es
    if (!crypto::dh(ephemeral_private, hs.remote_static, t.shared)) return HandshakeError::weak_key;
    crypto::kdf(t.chaining_key, t.shared, &t.chaining_key, &t.key);

    // s
    crypto::aead_seal(t.key, 0, us.public_key, t.hash, msg.encrypted_static);
    mix_hash(t.hash, msg.encrypted_static);

    // ss
    crypto::kdf(t.chaining_key, hs.static_static, &t.chaining_key, &t.key);

    // {t}
    crypto::aead_seal(t.key, 0, timestamp.bytes, t.hash, msg.encrypted_timestamp);
    mix_hash(t.hash, msg.encrypted_timestamp);

    hs.clear();
    hs.state = HandshakeState::initiation_created;
    hs.hash = t.hash;
    hs.chaining_key = t.chaining_key;
    hs.ephemeral_private = ephemeral_private;
    hs.local_index = local_index;
    return HandshakeError::ok;
}

ConsumedInitiation consume_initiation(const wire::HandshakeInitiation& msg,
                                      const StaticIdentity& us,
                                      const std::function<Handshake*(const Key&)>& find_peer,
                                      int64_t now_ns) {
    ConsumedInitiation result;
    Transcript t;
    t.chaining_key = noise_prefix().chaining_key;
    t.hash = noise_prefix().hash;
    mix_hash(t.hash, us.public_key);

    // e
    Key remote_ephemeral;
    std::memcpy(remote_ephemeral.data(), msg.unencrypted_ephemeral, wire::kKeyLen);
    mix_ephemeral(t, remote_ephemeral);

    // es
    if (!crypto::dh(us.private_key, remote_ephemeral, t.shared)) {
        result.error = HandshakeError::weak_key;
        return result;
    }
    crypto::kdf(t.chaining_key, t.shared, &t.chaining_key, &t.key);

    // s
    Key remote_static;
    if (!crypto::aead_open(t.key, 0, Bytes(msg.encrypted_static), t.hash, remote_static.data())) {
        result.error = HandshakeError::decrypt_failed;
        return result;
    }
    mix_hash(t.hash, msg.encrypted_static);

    Handshake* peer = find_peer(remote_static);
    if (!peer) {
        result.error = HandshakeError::unknown_peer;
        return result;
    }
    result.peer = peer;
    if (!peer->static_static_ok) {
        result.error = HandshakeError::weak_key;
        return result;
    }

    // ss
    crypto::kdf(t.chaining_key, peer->static_static, &t.chaining_key, &t.key);

    // {t}
    Tai64n timestamp;
    if (!crypto::aead_open(t.key, 0, Bytes(msg.encrypted_timestamp), t.hash,
                           timestamp.bytes.data())) {
        result.error = HandshakeError::decrypt_failed;
        return result;
    }
    mix_hash(t.hash, msg.encrypted_timestamp);

    // Only an authenticated initiation may touch the peer's state, and only a
    // newer, not-too-soon one may replace a handshake in flight.
    if (!(peer->latest_timestamp < timestamp)) {
        result.error = HandshakeError::replayed_timestamp;
        return result;
    }
    if (peer->last_initiation_consumption_ns != INT64_MIN &&
        now_ns - peer->last_initiation_consumption_ns < kMinInitiationSpacingNs) {
        result.error = HandshakeError::initiation_flood;
        return result;
    }

    peer->clear();
    peer->state = HandshakeState::initiation_consumed;
    peer->hash = t.hash;
    peer->chaining_key = t.chaining_key;
    peer->remote_ephemeral = remote_ephemeral;
    peer->remote_index = msg.sender_index;
    peer->latest_timestamp = timestamp;
    peer->last_initiation_consumption_ns = now_ns;
    return result;
}

HandshakeError create_response(Handshake& hs, const Key& ephemeral_private, uint32_t local_index,
                               wire::HandshakeResponse& msg) {
    if (hs.state != HandshakeState::initiation_consumed) return HandshakeError::wrong_state;
    Transcript t;
    t.chaining_key = hs.chaining_key;
    t.hash = hs.hash;

    std::memset(&msg, 0, sizeof msg);
    msg.type = static_cast<uint8_t>(wire::MessageType::handshake_response);
    msg.sender_index = local_index;        // little-endian host (wire.hpp)
    msg.receiver_index = hs.remote_index;  // little-endian host (wire.hpp)

    // e
    const Key ephemeral_public = crypto::public_key_of(ephemeral_private);
    std::memcpy(msg.unencrypted_ephemeral, ephemeral_public.data(), wire::kKeyLen);
    mix_ephemeral(t, ephemeral_public);

    // ee
    if (!crypto::dh(ephemeral_private, hs.remote_ephemeral, t.shared))
        return HandshakeError::weak_key;
    crypto::kdf(t.chaining_key, t.shared, &t.chaining_key);

    // se
    if (!crypto::dh(ephemeral_private, hs.remote_static, t.shared)) return HandshakeError::weak_key;
    crypto::kdf(t.chaining_key, t.shared, &t.chaining_key);

    // psk
    mix_psk(t, hs.preshared_key);

    // {}
    crypto::aead_seal(t.key, 0, Bytes(), t.hash, msg.encrypted_nothing);
    mix_hash(t.hash, msg.encrypted_nothing);

    hs.state = HandshakeState::response_created;
    hs.hash = t.hash;
    hs.chaining_key = t.chaining_key;
    hs.ephemeral_private = ephemeral_private;
    hs.local_index = local_index;
    return HandshakeError::ok;
}

ConsumedResponse consume_response(const wire::HandshakeResponse& msg, const StaticIdentity& us,
                                  const std::function<Handshake*(uint32_t)>& find_by_index) {
    ConsumedResponse result;
    Handshake* hs = find_by_index(msg.receiver_index);
    if (!hs) {
        result.error = HandshakeError::unknown_index;
        return result;
    }
    result.peer = hs;
    if (hs->state != HandshakeState::initiation_created) {
        result.error = HandshakeError::wrong_state;
        return result;
    }
    Transcript t;
    t.chaining_key = hs->chaining_key;
    t.hash = hs->hash;

    // e
    Key remote_ephemeral;
    std::memcpy(remote_ephemeral.data(), msg.unencrypted_ephemeral, wire::kKeyLen);
    mix_ephemeral(t, remote_ephemeral);

    // ee
    if (!crypto::dh(hs->ephemeral_private, remote_ephemeral, t.shared)) {
        result.error = HandshakeError::weak_key;
        return result;
    }
    crypto::kdf(t.chaining_key, t.shared, &t.chaining_key);

    // se
    if (!crypto::dh(us.private_key, remote_ephemeral, t.shared)) {
        result.error = HandshakeError::weak_key;
        return result;
    }
    crypto::kdf(t.chaining_key, t.shared, &t.chaining_key);

    // psk
    mix_psk(t, hs->preshared_key);

    // {}
    uint8_t nothing[1];
    if (!crypto::aead_open(t.key, 0, Bytes(msg.encrypted_nothing), t.hash, nothing)) {
        result.error = HandshakeError::decrypt_failed;
        return result;
    }
    mix_hash(t.hash, msg.encrypted_nothing);

    hs->state = HandshakeState::response_consumed;
    hs->hash = t.hash;
    hs->chaining_key = t.chaining_key;
    hs->remote_ephemeral = remote_ephemeral;
    hs->remote_index = msg.sender_index;
    return result;
}

std::unique_ptr<Keypair> derive_keypair(Handshake& hs, int64_t now_ns) {
    const bool initiator = hs.state == HandshakeState::response_consumed;
    if (!initiator && hs.state != HandshakeState::response_created) return nullptr;
    auto kp = std::make_unique<Keypair>();
    Key first, second;
    crypto::kdf(hs.chaining_key, Bytes(), &first, &second);
    kp->send_key = initiator ? first : second;
    kp->receive_key = initiator ? second : first;
    wipe(first);
    wipe(second);
    kp->local_index = hs.local_index;
    kp->remote_index = hs.remote_index;
    kp->we_initiated = initiator;
    kp->birth_ns = now_ns;
    hs.clear();
    return kp;
}

}  // namespace sluice
