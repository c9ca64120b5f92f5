// mac1, mac2 and cookie replies: WireGuard's defence against handshake floods.
//
// Every handshake message ends in mac1 and mac2:
//   mac1 = MAC(HASH("mac1----" || receiver's static public key), msg up to mac1)
//   mac2 = MAC(cookie, msg up to mac2), or zeros when the sender has no cookie
// A receiver checks mac1 before it spends a Diffie-Hellman on the message.
// Under load it also demands a valid mac2; a message without one gets a cookie
// reply instead of a handshake:
//   cookie = MAC(secret, source address || source port); the secret is
//   replaced every 120 s.
//   reply  = XAEAD(HASH("cookie--" || receiver's static public key), random
//            24-byte nonce, cookie, aad = the mac1 of the message answered)
// The sender keeps the cookie for 120 s minus a margin and puts it in mac2.
//
// Control thread only. Time is injected (now_ns, any monotonic origin).
#pragma once

#include <cstdint>
#include <optional>

#include "control/crypto.hpp"
#include "dataplane/wire.hpp"

namespace sluice {

enum class MacCheck : uint8_t {
    invalid_mac1,  // drop silently
    valid_mac1,    // mac1 good; mac2 absent or stale (under load: send a cookie reply)
    valid_mac2,    // mac1 and mac2 good: the source proved it can receive at its address
};

// Responder side: one per interface, keyed by our own static public key.
class CookieChecker {
public:
    explicit CookieChecker(const Key& our_public_key);

    // msg is a whole handshake message (initiation or response); its last 32
    // bytes are mac1 and mac2. source is the sender's address and port as
    // bytes (4 or 16 address bytes, then the port big-endian).
    [[nodiscard]] MacCheck check(crypto::Bytes msg, crypto::Bytes source, int64_t now_ns);

    // Builds the reply to msg (whose sender_index is given) for that source.
    void make_reply(crypto::Bytes msg, uint32_t sender_index, crypto::Bytes source, int64_t now_ns,
                    wire::CookieReply& reply);

    // When the secret was last replaced; exposed for tests and counters.
    [[nodiscard]] int64_t secret_birth_ns() const { return secret_birth_ns_; }

private:
    crypto::Mac cookie_for(crypto::Bytes source, int64_t now_ns);

    crypto::Hash mac1_key_;    // HASH("mac1----" || our public key)
    crypto::Hash cookie_key_;  // HASH("cookie--" || our public key)
    Key secret_{};
    int64_t secret_birth_ns_ = 0;
    bool have_secret_ = false;
};

// Initiator side (and responder, for its responses): one per peer, keyed by
// that peer's static public key.
class CookieJar {
public:
    explicit CookieJar(const Key& peer_public_key);

    // Writes mac1, and mac2 when we hold a fresh cookie, into msg (a whole
    // handshake message). Remembers mac1 so a cookie reply can be matched.
    void add_macs(uint8_t* msg, size_t len, int64_t now_ns);

    // Accepts a cookie reply that answers the last message we MAC'd. false:
    // nothing was outstanding, or it did not decrypt (forged or stale).
    [[nodiscard]] bool consume_reply(const wire::CookieReply& reply, int64_t now_ns);

    [[nodiscard]] bool has_fresh_cookie(int64_t now_ns) const;

private:
    crypto::Hash mac1_key_;
    crypto::Hash cookie_key_;
    crypto::Mac cookie_{};
    int64_t cookie_birth_ns_ = 0;
    bool have_cookie_ = false;
    crypto::Mac last_mac1_{};
    bool awaiting_reply_ = false;
};

}  // namespace sluice
