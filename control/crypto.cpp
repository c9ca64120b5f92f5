#include "control/crypto.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <sodium.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

namespace sluice::crypto {
namespace {

// A failing primitive means the library is broken or missing an algorithm;
// the handshake cannot go on safely, and init() already proved they exist.
[[noreturn]] void fatal(const char* what) {
    std::fprintf(stderr, "sluice: crypto failure: %s\n", what);
    std::abort();
}

struct Algorithms {
    EVP_MD* blake2s = nullptr;
    EVP_MAC* blake2s_mac = nullptr;
    EVP_MAC* hmac = nullptr;

    Algorithms() {
        if (sodium_init() < 0) fatal("libsodium could not initialise");
        blake2s = EVP_MD_fetch(nullptr, "BLAKE2S-256", nullptr);
        blake2s_mac = EVP_MAC_fetch(nullptr, "BLAKE2SMAC", nullptr);
        hmac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
        if (!blake2s || !blake2s_mac || !hmac) fatal("OpenSSL lacks BLAKE2s, BLAKE2SMAC or HMAC");
    }
};

const Algorithms& algorithms() {
    static const Algorithms algs;  // fetched once; OpenSSL objects are thread-safe to share
    return algs;
}

struct MdCtxFree {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct MacCtxFree {
    void operator()(EVP_MAC_CTX* c) const { EVP_MAC_CTX_free(c); }
};
struct PkeyFree {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct PkeyCtxFree {
    void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

std::array<uint8_t, 12> wireguard_nonce(uint64_t counter) {
    std::array<uint8_t, 12> nonce{};
    for (int i = 0; i < 8; ++i) nonce[4 + i] = static_cast<uint8_t>(counter >> (8 * i));
    return nonce;
}

}  // namespace

void init() {
    (void)algorithms();
}

Hash hash(std::initializer_list<Bytes> parts) {
    std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
    if (!ctx || !EVP_DigestInit_ex2(ctx.get(), algorithms().blake2s, nullptr))
        fatal("BLAKE2s init");
    for (Bytes p : parts)
        if (!EVP_DigestUpdate(ctx.get(), p.data(), p.size())) fatal("BLAKE2s update");
    Hash out;
    unsigned int len = 0;
    if (!EVP_DigestFinal_ex(ctx.get(), out.data(), &len) || len != out.size())
        fatal("BLAKE2s final");
    return out;
}

Mac mac(Bytes key, Bytes input) {
    std::unique_ptr<EVP_MAC_CTX, MacCtxFree> ctx(EVP_MAC_CTX_new(algorithms().blake2s_mac));
    size_t size = wire::kMacLen;
    const OSSL_PARAM params[] = {OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &size),
                                 OSSL_PARAM_construct_end()};
    if (!ctx || !EVP_MAC_init(ctx.get(), key.data(), key.size(), params)) fatal("BLAKE2s MAC init");
    if (!EVP_MAC_update(ctx.get(), input.data(), input.size())) fatal("BLAKE2s MAC update");
    Mac out;
    size_t len = 0;
    if (!EVP_MAC_final(ctx.get(), out.data(), &len, out.size()) || len != out.size())
        fatal("BLAKE2s MAC final");
    return out;
}

Hash hmac(Bytes key, std::initializer_list<Bytes> parts) {
    std::unique_ptr<EVP_MAC_CTX, MacCtxFree> ctx(EVP_MAC_CTX_new(algorithms().hmac));
    char digest[] = "BLAKE2S-256";
    const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                                 OSSL_PARAM_construct_end()};
    if (!ctx || !EVP_MAC_init(ctx.get(), key.data(), key.size(), params)) fatal("HMAC init");
    for (Bytes p : parts)
        if (!EVP_MAC_update(ctx.get(), p.data(), p.size())) fatal("HMAC update");
    Hash out;
    size_t len = 0;
    if (!EVP_MAC_final(ctx.get(), out.data(), &len, out.size()) || len != out.size())
        fatal("HMAC final");
    return out;
}

void kdf(const Key& chaining_key, Bytes input, Key* out1, Key* out2, Key* out3) {
    Hash secret = hmac(chaining_key, {input});
    const uint8_t one = 1, two = 2, three = 3;
    Hash t1 = hmac(secret, {Bytes(&one, 1)});
    if (out1) *out1 = t1;
    if (out2 || out3) {
        Hash t2 = hmac(secret, {t1, Bytes(&two, 1)});
        if (out2) *out2 = t2;
        if (out3) {
            Hash t3 = hmac(secret, {t2, Bytes(&three, 1)});
            *out3 = t3;
            secure_wipe(t3.data(), t3.size());
        }
        secure_wipe(t2.data(), t2.size());
    }
    secure_wipe(t1.data(), t1.size());
    secure_wipe(secret.data(), secret.size());
}

Key random_private_key() {
    Key k;
    random_bytes(k.data(), k.size());
    // Clamp as X25519 does, so the stored key is the one wg(8) would show.
    k[0] &= 248;
    k[31] &= 127;
    k[31] |= 64;
    return k;
}

Key public_key_of(const Key& private_key) {
    PkeyPtr pkey(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, private_key.data(),
                                              private_key.size()));
    Key pub;
    size_t len = pub.size();
    if (!pkey || !EVP_PKEY_get_raw_public_key(pkey.get(), pub.data(), &len) || len != pub.size())
        fatal("X25519 public key");
    return pub;
}

bool dh(const Key& private_key, const Key& public_key, Key& shared) {
    PkeyPtr priv(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, private_key.data(),
                                              private_key.size()));
    PkeyPtr peer(EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, public_key.data(),
                                             public_key.size()));
    if (!priv || !peer) fatal("X25519 key import");
    std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(EVP_PKEY_CTX_new(priv.get(), nullptr));
    if (!ctx || EVP_PKEY_derive_init(ctx.get()) <= 0) fatal("X25519 derive init");
    // OpenSSL refuses a peer key that yields the all-zero secret (RFC 7748 §6.1).
    if (EVP_PKEY_derive_set_peer(ctx.get(), peer.get()) <= 0) return false;
    size_t len = shared.size();
    if (EVP_PKEY_derive(ctx.get(), shared.data(), &len) <= 0 || len != shared.size()) return false;
    return !sodium_is_zero(shared.data(), shared.size());
}

void aead_seal(const Key& key, uint64_t counter, Bytes plain, Bytes aad, uint8_t* out) {
    const auto nonce = wireguard_nonce(counter);
    unsigned long long len = 0;
    crypto_aead_chacha20poly1305_ietf_encrypt(out, &len, plain.data(), plain.size(), aad.data(),
                                              aad.size(), nullptr, nonce.data(), key.data());
}

bool aead_open(const Key& key, uint64_t counter, Bytes sealed, Bytes aad, uint8_t* out) {
    if (sealed.size() < wire::kAeadTagLen) return false;
    const auto nonce = wireguard_nonce(counter);
    unsigned long long len = 0;
    return crypto_aead_chacha20poly1305_ietf_decrypt(out, &len, nullptr, sealed.data(),
                                                     sealed.size(), aad.data(), aad.size(),
                                                     nonce.data(), key.data()) == 0;
}

void xaead_seal(const Key& key, const uint8_t nonce[wire::kXNonceLen], Bytes plain, Bytes aad,
                uint8_t* out) {
    unsigned long long len = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(out, &len, plain.data(), plain.size(), aad.data(),
                                               aad.size(), nullptr, nonce, key.data());
}

bool xaead_open(const Key& key, const uint8_t nonce[wire::kXNonceLen], Bytes sealed, Bytes aad,
                uint8_t* out) {
    if (sealed.size() < wire::kAeadTagLen) return false;
    unsigned long long len = 0;
    return crypto_aead_xchacha20poly1305_ietf_decrypt(out, &len, nullptr, sealed.data(),
                                                      sealed.size(), aad.data(), aad.size(), nonce,
                                                      key.data()) == 0;
}

void random_bytes(uint8_t* out, size_t n) {
    (void)algorithms();  // sodium_init() must precede randombytes_buf()
    randombytes_buf(out, n);
}

bool equal(Bytes a, Bytes b) {
    return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace sluice::crypto
