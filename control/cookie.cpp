#include "control/cookie.hpp"

#include <cstring>
#include <string_view>

namespace sluice {
namespace {

using crypto::Bytes;
constexpr size_t kMacsLen = 2 * wire::kMacLen;  // mac1 || mac2 end every handshake message

crypto::Hash labelled_key(std::string_view label, const Key& public_key) {
    return crypto::hash(
        {Bytes(reinterpret_cast<const uint8_t*>(label.data()), label.size()), public_key});
}

constexpr int64_t ns(std::chrono::seconds s) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(s).count();
}

}  // namespace

CookieChecker::CookieChecker(const Key& our_public_key)
    : mac1_key_(labelled_key(wire::kLabelMac1, our_public_key)),
      cookie_key_(labelled_key(wire::kLabelCookie, our_public_key)) {}

crypto::Mac CookieChecker::cookie_for(Bytes source, int64_t now_ns) {
    if (!have_secret_ || now_ns - secret_birth_ns_ >= ns(wire::kCookieRefreshTime)) {
        crypto::random_bytes(secret_.data(), secret_.size());
        secret_birth_ns_ = now_ns;
        have_secret_ = true;
    }
    return crypto::mac(secret_, source);
}

MacCheck CookieChecker::check(Bytes msg, Bytes source, int64_t now_ns) {
    if (msg.size() < kMacsLen) return MacCheck::invalid_mac1;
    const size_t mac1_at = msg.size() - kMacsLen;
    const size_t mac2_at = mac1_at + wire::kMacLen;
    const crypto::Mac mac1 = crypto::mac(mac1_key_, msg.first(mac1_at));
    if (!crypto::equal(mac1, msg.subspan(mac1_at, wire::kMacLen))) return MacCheck::invalid_mac1;
    const crypto::Mac cookie = cookie_for(source, now_ns);
    const crypto::Mac mac2 = crypto::mac(cookie, msg.first(mac2_at));
    if (!crypto::equal(mac2, msg.subspan(mac2_at, wire::kMacLen))) return MacCheck::valid_mac1;
    return MacCheck::valid_mac2;
}

void CookieChecker::make_reply(Bytes msg, uint32_t sender_index, Bytes source, int64_t now_ns,
                               wire::CookieReply& reply) {
    std::memset(&reply, 0, sizeof reply);
    reply.type = static_cast<uint8_t>(wire::MessageType::cookie_reply);
    reply.receiver_index = sender_index;
    crypto::random_bytes(reply.nonce, sizeof reply.nonce);
    const crypto::Mac cookie = cookie_for(source, now_ns);
    // The mac1 we answer is the aad: only the host that sent that exact
    // message can use the reply.
    const Bytes their_mac1 =
        msg.size() >= kMacsLen ? msg.subspan(msg.size() - kMacsLen, wire::kMacLen) : Bytes();
    crypto::xaead_seal(cookie_key_, reply.nonce, cookie, their_mac1, reply.encrypted_cookie);
}

CookieJar::CookieJar(const Key& peer_public_key)
    : mac1_key_(labelled_key(wire::kLabelMac1, peer_public_key)),
      cookie_key_(labelled_key(wire::kLabelCookie, peer_public_key)) {}

bool CookieJar::has_fresh_cookie(int64_t now_ns) const {
    // A margin below the responder's secret lifetime, so we never send a mac2
    // made with a secret the responder has already replaced.
    return have_cookie_ &&
           now_ns - cookie_birth_ns_ < ns(wire::kCookieRefreshTime - wire::kCookieSecretLatency);
}

void CookieJar::add_macs(uint8_t* msg, size_t len, int64_t now_ns) {
    if (len < kMacsLen) return;
    const size_t mac1_at = len - kMacsLen;
    const size_t mac2_at = mac1_at + wire::kMacLen;
    last_mac1_ = crypto::mac(mac1_key_, Bytes(msg, mac1_at));
    std::memcpy(msg + mac1_at, last_mac1_.data(), wire::kMacLen);
    awaiting_reply_ = true;
    if (has_fresh_cookie(now_ns)) {
        const crypto::Mac mac2 = crypto::mac(cookie_, Bytes(msg, mac2_at));
        std::memcpy(msg + mac2_at, mac2.data(), wire::kMacLen);
    } else {
        std::memset(msg + mac2_at, 0, wire::kMacLen);
    }
}

bool CookieJar::consume_reply(const wire::CookieReply& reply, int64_t now_ns) {
    if (!awaiting_reply_) return false;
    crypto::Mac cookie;
    if (!crypto::xaead_open(cookie_key_, reply.nonce, Bytes(reply.encrypted_cookie), last_mac1_,
                            cookie.data()))
        return false;
    cookie_ = cookie;
    cookie_birth_ns_ = now_ns;
    have_cookie_ = true;
    awaiting_reply_ = false;  // one reply per message we sent
    return true;
}

}  // namespace sluice
