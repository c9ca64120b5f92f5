// The handshake's primitives, each from a well-kept library (DESIGN §4):
// BLAKE2s-256, keyed BLAKE2s (MAC), HMAC-BLAKE2s and X25519 from OpenSSL 3;
// ChaCha20-Poly1305 (handshake fields) and XChaCha20-Poly1305 (cookie replies)
// from libsodium. Nothing here runs per data packet.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>

#include "dataplane/keypair.hpp"
#include "dataplane/wire.hpp"

namespace sluice::crypto {

using Bytes = std::span<const uint8_t>;
using Hash = std::array<uint8_t, 32>;
using Mac = std::array<uint8_t, wire::kMacLen>;

// Fails loudly at start-up if OpenSSL or libsodium lacks something we need.
// Safe to call more than once; every other function here assumes it ran.
void init();

// HASH(a || b || ...): BLAKE2s with a 32-byte digest.
Hash hash(std::initializer_list<Bytes> parts);
// MAC(key, input): keyed BLAKE2s with a 16-byte digest (mac1, mac2, cookies).
Mac mac(Bytes key, Bytes input);
// HMAC-BLAKE2s with a 32-byte output.
Hash hmac(Bytes key, std::initializer_list<Bytes> parts);

// Noise's HKDF over HMAC-BLAKE2s: returns n (1..3) keys derived from the
// chaining key and the input.
void kdf(const Key& chaining_key, Bytes input, Key* out1, Key* out2 = nullptr, Key* out3 = nullptr);

// X25519.
Key random_private_key();
Key public_key_of(const Key& private_key);
// false when the result is all zeros (a low-order point): the handshake must fail.
[[nodiscard]] bool dh(const Key& private_key, const Key& public_key, Key& shared);

// ChaCha20-Poly1305 with nonce = 4 zero bytes || le64(counter), as WireGuard's
// AEAD(key, counter, plain, aad). out holds plain.size() + 16 bytes.
void aead_seal(const Key& key, uint64_t counter, Bytes plain, Bytes aad, uint8_t* out);
[[nodiscard]] bool aead_open(const Key& key, uint64_t counter, Bytes sealed, Bytes aad,
                             uint8_t* out);

// XChaCha20-Poly1305 with a 24-byte nonce (cookie replies).
void xaead_seal(const Key& key, const uint8_t nonce[wire::kXNonceLen], Bytes plain, Bytes aad,
                uint8_t* out);
[[nodiscard]] bool xaead_open(const Key& key, const uint8_t nonce[wire::kXNonceLen], Bytes sealed,
                              Bytes aad, uint8_t* out);

void random_bytes(uint8_t* out, size_t n);
// Constant-time equality.
[[nodiscard]] bool equal(Bytes a, Bytes b);

}  // namespace sluice::crypto
