// Known-answer tests for the handshake primitives. Vectors: RFC 7748 §5.2 and
// §6.1 (X25519), RFC 7693 Appendix B and the BLAKE2 reference KAT (BLAKE2s),
// and values cross-checked with Python's hashlib/hmac (keyed BLAKE2s-128,
// HMAC-BLAKE2s), which share no code with OpenSSL's BLAKE2s.
#include "control/crypto.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "control/key_encoding.hpp"

namespace sluice {
namespace {

using crypto::Bytes;

template <size_t N>
std::string hex(const std::array<uint8_t, N>& a) {
    static const char* d = "0123456789abcdef";
    std::string s;
    for (uint8_t b : a) {
        s += d[b >> 4];
        s += d[b & 15];
    }
    return s;
}

Key key(const std::string& h) {
    return *key_from_hex(h);
}

Bytes str(const char* s) {
    return Bytes(reinterpret_cast<const uint8_t*>(s), std::strlen(s));
}

class CryptoTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() { crypto::init(); }
};

TEST_F(CryptoTest, Blake2sDigests) {
    EXPECT_EQ(hex(crypto::hash({str("abc")})),
              "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982");
    EXPECT_EQ(hex(crypto::hash({})),
              "69217a3079908094e11121d042354a7c1f55b6482ca1a51e1b250dfd1ed0eef9");
    // Parts are concatenated.
    EXPECT_EQ(crypto::hash({str("a"), str("bc")}), crypto::hash({str("abc")}));
}

TEST_F(CryptoTest, KeyedBlake2s) {
    // The MAC is BLAKE2s keyed and cut to 16 bytes (checked against hashlib
    // with digest_size=16; the size is a parameter of BLAKE2, not a truncation).
    std::vector<uint8_t> kk(32, 'k');
    EXPECT_EQ(hex(crypto::mac(kk, str("The quick brown fox"))), "adfa2e850ac3d1cf6fc5c7873be7988e");
}

TEST_F(CryptoTest, HmacBlake2s) {
    EXPECT_EQ(hex(crypto::hmac(str("key"), {str("The quick brown fox jumps over the lazy dog")})),
              "f93215bb90d4af4c3061cd932fb169fb8bb8a91d0b4022baea1271e1323cd9a0");
    std::vector<uint8_t> k32(32);
    for (int i = 0; i < 32; ++i) k32[i] = static_cast<uint8_t>(i);
    const uint8_t one = 1;
    EXPECT_EQ(hex(crypto::hmac(k32, {Bytes(&one, 1)})),
              "0eb5b63e94eb0ee56be66329386c25cca6d38e699ce487595a1bfa66e6968f35");
}

TEST_F(CryptoTest, KdfOutputsChainAsNoiseSpecifies) {
    Key ck{};
    for (int i = 0; i < 32; ++i) ck[i] = static_cast<uint8_t>(i);
    Key a, b, c;
    crypto::kdf(ck, str("input"), &a, &b, &c);
    const auto secret = crypto::hmac(ck, {str("input")});
    const uint8_t n1 = 1, n2 = 2, n3 = 3;
    const auto t1 = crypto::hmac(secret, {Bytes(&n1, 1)});
    const auto t2 = crypto::hmac(secret, {t1, Bytes(&n2, 1)});
    const auto t3 = crypto::hmac(secret, {t2, Bytes(&n3, 1)});
    EXPECT_EQ(a, t1);
    EXPECT_EQ(b, t2);
    EXPECT_EQ(c, t3);
    Key only;
    crypto::kdf(ck, str("input"), &only);
    EXPECT_EQ(only, t1);
}

TEST_F(CryptoTest, X25519Rfc7748Section5_2) {
    Key out;
    ASSERT_TRUE(crypto::dh(key("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4"),
                           key("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c"),
                           out));
    EXPECT_EQ(hex(out), "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552");
    ASSERT_TRUE(crypto::dh(key("4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d"),
                           key("e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493"),
                           out));
    EXPECT_EQ(hex(out), "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957");
}

TEST_F(CryptoTest, X25519Rfc7748Section6_1) {
    const Key alice = key("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    const Key bob = key("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
    EXPECT_EQ(hex(crypto::public_key_of(alice)),
              "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
    EXPECT_EQ(hex(crypto::public_key_of(bob)),
              "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
    Key ab, ba;
    ASSERT_TRUE(crypto::dh(alice, crypto::public_key_of(bob), ab));
    ASSERT_TRUE(crypto::dh(bob, crypto::public_key_of(alice), ba));
    EXPECT_EQ(hex(ab), "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
    EXPECT_EQ(ab, ba);
}

TEST_F(CryptoTest, X25519RejectsLowOrderPoints) {
    const Key priv = crypto::random_private_key();
    Key out;
    EXPECT_FALSE(crypto::dh(priv, Key{}, out));  // u = 0
    Key one{};
    one[0] = 1;
    EXPECT_FALSE(crypto::dh(priv, one, out));  // u = 1
}

TEST_F(CryptoTest, RandomPrivateKeysAreClampedAndDistinct) {
    const Key a = crypto::random_private_key(), b = crypto::random_private_key();
    EXPECT_NE(a, b);
    EXPECT_EQ(a[0] & 7, 0);
    EXPECT_EQ(a[31] & 0x80, 0);
    EXPECT_EQ(a[31] & 0x40, 0x40);
}

TEST_F(CryptoTest, AeadRoundTripAndTamper) {
    const Key k = crypto::random_private_key();
    const auto plain = str("handshake field");
    std::vector<uint8_t> sealed(plain.size() + 16), back(plain.size());
    crypto::aead_seal(k, 7, plain, str("aad"), sealed.data());
    ASSERT_TRUE(crypto::aead_open(k, 7, sealed, str("aad"), back.data()));
    EXPECT_TRUE(std::equal(back.begin(), back.end(), plain.begin()));
    EXPECT_FALSE(crypto::aead_open(k, 8, sealed, str("aad"), back.data()));  // other nonce
    EXPECT_FALSE(crypto::aead_open(k, 7, sealed, str("aaD"), back.data()));  // other aad
    sealed[3] ^= 1;
    EXPECT_FALSE(crypto::aead_open(k, 7, sealed, str("aad"), back.data()));
    EXPECT_FALSE(crypto::aead_open(k, 7, Bytes(sealed.data(), 15), str("aad"), back.data()));
}

TEST_F(CryptoTest, XaeadRoundTripAndTamper) {
    const Key k = crypto::random_private_key();
    uint8_t nonce[24];
    crypto::random_bytes(nonce, sizeof nonce);
    uint8_t cookie[16] = {1, 2, 3};
    uint8_t sealed[32], back[16];
    crypto::xaead_seal(k, nonce, cookie, str("mac1"), sealed);
    ASSERT_TRUE(crypto::xaead_open(k, nonce, sealed, str("mac1"), back));
    EXPECT_EQ(0, std::memcmp(back, cookie, 16));
    nonce[23] ^= 1;
    EXPECT_FALSE(crypto::xaead_open(k, nonce, sealed, str("mac1"), back));
}

TEST_F(CryptoTest, KeyEncodings) {
    const Key k = key("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    const std::string b64 = key_to_base64(k);
    EXPECT_EQ(b64.size(), 44u);
    EXPECT_EQ(key_from_base64(b64), k);
    EXPECT_EQ(key_from_hex(key_to_hex(k)), k);
    EXPECT_FALSE(key_from_base64(b64.substr(0, 43)));
    EXPECT_FALSE(key_from_base64(b64 + "="));
    EXPECT_FALSE(key_from_base64(std::string(43, '!') + "="));
    std::string noncanonical = b64;
    noncanonical[42] = 'B';  // sets a bit the padding says must be zero
    if (noncanonical != b64) {
        EXPECT_FALSE(key_from_base64(noncanonical));
    }
    EXPECT_FALSE(key_from_hex(std::string(63, 'a')));
    EXPECT_FALSE(key_from_hex(std::string(64, 'g')));
    EXPECT_EQ(key_from_base64("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="), Key{});
}

}  // namespace
}  // namespace sluice
