// WireGuard v1 wire formats and protocol constants, in one place.
//
// Every message is little-endian on the wire. The structs below are laid out
// exactly as the messages are and are only ever filled from or copied into a
// byte buffer with memcpy (never by casting a packet pointer), so alignment
// and strict aliasing never matter and a fuzzer can hand us anything.
#pragma once

#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace sluice::wire {

static_assert(std::endian::native == std::endian::little,
              "wire structs are stored in host order; sluice needs a little-endian host");

// ---- Message types -------------------------------------------------------
enum class MessageType : uint8_t {
    handshake_initiation = 1,
    handshake_response = 2,
    cookie_reply = 3,
    transport_data = 4,
    // sluice's extension, only between two sluice peers that both enable
    // streams (docs/streams.md): laid out as transport data, its plaintext a
    // stream packet, not padded, the 16-byte header authenticated as
    // associated data so neither type can pass for the other. It shares the
    // keypair's counter and replay window with type 4.
    stream = 0x53,
};

// ---- Sizes of the primitives --------------------------------------------
inline constexpr size_t kKeyLen = 32;        // X25519 keys, symmetric keys, hashes
inline constexpr size_t kAeadTagLen = 16;    // Poly1305 tag
inline constexpr size_t kTimestampLen = 12;  // TAI64N
inline constexpr size_t kMacLen = 16;        // mac1, mac2, cookie
inline constexpr size_t kCookieLen = 16;
inline constexpr size_t kXNonceLen = 24;  // XChaCha20-Poly1305 nonce of a cookie reply

// ---- Noise identity -----------------------------------------------------
inline constexpr char kConstruction[] = "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s";
inline constexpr char kIdentifier[] = "WireGuard v1 zx2c4 Jason@zx2c4.com";
inline constexpr char kLabelMac1[] = "mac1----";
inline constexpr char kLabelCookie[] = "cookie--";

// ---- Messages -----------------------------------------------------------
struct HandshakeInitiation {
    uint8_t type;  // MessageType::handshake_initiation
    uint8_t reserved[3];
    uint32_t sender_index;
    uint8_t unencrypted_ephemeral[kKeyLen];
    uint8_t encrypted_static[kKeyLen + kAeadTagLen];
    uint8_t encrypted_timestamp[kTimestampLen + kAeadTagLen];
    uint8_t mac1[kMacLen];
    uint8_t mac2[kMacLen];
};
static_assert(sizeof(HandshakeInitiation) == 148);
static_assert(offsetof(HandshakeInitiation, mac1) == 116);

struct HandshakeResponse {
    uint8_t type;  // MessageType::handshake_response
    uint8_t reserved[3];
    uint32_t sender_index;
    uint32_t receiver_index;
    uint8_t unencrypted_ephemeral[kKeyLen];
    uint8_t encrypted_nothing[kAeadTagLen];
    uint8_t mac1[kMacLen];
    uint8_t mac2[kMacLen];
};
static_assert(sizeof(HandshakeResponse) == 92);
static_assert(offsetof(HandshakeResponse, mac1) == 60);

struct CookieReply {
    uint8_t type;  // MessageType::cookie_reply
    uint8_t reserved[3];
    uint32_t receiver_index;
    uint8_t nonce[kXNonceLen];
    uint8_t encrypted_cookie[kCookieLen + kAeadTagLen];
};
static_assert(sizeof(CookieReply) == 64);

// Transport data: this header, then the padded plaintext encrypted in place,
// then the Poly1305 tag. The counter is the AEAD nonce (little-endian in the
// last 8 bytes of the 12-byte ChaCha20-Poly1305 nonce).
struct TransportHeader {
    uint8_t type;  // MessageType::transport_data
    uint8_t reserved[3];
    uint32_t receiver_index;
    uint64_t counter;
};
static_assert(sizeof(TransportHeader) == 16);
static_assert(offsetof(TransportHeader, counter) == 8);

inline constexpr size_t kTransportHeaderLen = sizeof(TransportHeader);
// A keepalive: header, empty payload, tag.
inline constexpr size_t kTransportMinLen = kTransportHeaderLen + kAeadTagLen;
// The header a stream message (MessageType::stream) authenticates: all of it.
inline constexpr size_t kStreamAadLen = kTransportHeaderLen;
// What a transport message adds to an inner packet before padding.
inline constexpr size_t kTransportOverhead = kTransportHeaderLen + kAeadTagLen;
inline constexpr size_t kPaddingMultiple = 16;

// Every handshake message carries mac1 and mac2 in its last 32 bytes.
template <typename Msg>
constexpr size_t mac1_offset() {
    return offsetof(Msg, mac1);
}

// ---- Protocol constants (as the kernel module and wireguard-go use them) --
using std::chrono::milliseconds;
using std::chrono::seconds;

inline constexpr uint64_t kRekeyAfterMessages = uint64_t{1} << 60;
// 2^64 - 2^13 - 1
inline constexpr uint64_t kRejectAfterMessages = UINT64_MAX - (uint64_t{1} << 13);
inline constexpr seconds kRekeyAfterTime{120};
inline constexpr seconds kRejectAfterTime{180};
inline constexpr seconds kRekeyAttemptTime{90};
inline constexpr seconds kRekeyTimeout{5};
inline constexpr milliseconds kRekeyTimeoutJitterMax{334};  // jitter drawn from [0, 334) ms
inline constexpr seconds kKeepaliveTimeout{10};
inline constexpr seconds kCookieRefreshTime{120};  // cookie secret rotation; cookie lifetime
inline constexpr seconds kCookieSecretLatency{5};
// Keys are wiped when nothing happened for three times REJECT_AFTER_TIME.
inline constexpr seconds kKeyZeroingAfter = 3 * kRejectAfterTime;
// Initiation retries before giving up: REKEY_ATTEMPT_TIME / REKEY_TIMEOUT.
inline constexpr unsigned kMaxTimerHandshakes = kRekeyAttemptTime / kRekeyTimeout;

// Replay window, RFC 6479 layout: 8192 bits in 64-bit words, one word kept
// as slack so a window advance clears whole words; 8128 counters usable.
inline constexpr unsigned kReplayWindowBits = 8192;
inline constexpr unsigned kReplayWordBits = 64;
inline constexpr unsigned kReplayWindowUsable = kReplayWindowBits - kReplayWordBits;

// Load: a handshake queue this deep or deeper means "under load" (cookies on).
inline constexpr unsigned kMaxQueuedHandshakes = 4096;
inline constexpr unsigned kUnderLoadQueueThreshold = kMaxQueuedHandshakes / 8;
inline constexpr seconds kUnderLoadAfterTime{1};
// Per-source handshake rate limit (token bucket).
inline constexpr unsigned kHandshakesPerSecond = 20;
inline constexpr unsigned kHandshakesBurstable = 5;

inline constexpr size_t kMaxPeers = size_t{1} << 20;
inline constexpr uint16_t kDefaultMtu = 1420;

}  // namespace sluice::wire
