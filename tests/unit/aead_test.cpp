// ChaCha20-Poly1305 wrapper: RFC 8439 known answers, single-shot against
// burst, mixed bursts, per-op failure isolation and the WireGuard nonce layout.
#include "dataplane/aead.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace sluice {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes from_hex(std::string_view hex) {
    auto nibble = [](char c) -> uint8_t {
        if (c >= '0' && c <= '9') return static_cast<uint8_t>(c - '0');
        if (c >= 'a' && c <= 'f') return static_cast<uint8_t>(c - 'a' + 10);
        ADD_FAILURE() << "bad hex digit " << c;
        return 0;
    };
    Bytes out;
    for (size_t i = 0; i + 1 < hex.size(); i += 2) {
        out.push_back(static_cast<uint8_t>(nibble(hex[i]) << 4 | nibble(hex[i + 1])));
    }
    EXPECT_EQ(hex.size() % 2, 0u);
    return out;
}

template <size_t N>
std::array<uint8_t, N> array_from_hex(std::string_view hex) {
    const Bytes bytes = from_hex(hex);
    EXPECT_EQ(bytes.size(), N);
    std::array<uint8_t, N> out{};
    std::copy_n(bytes.begin(), std::min(N, bytes.size()), out.begin());
    return out;
}

Bytes bytes_of(std::string_view text) {
    return Bytes(text.begin(), text.end());
}

// ---- RFC 8439 §2.8.2: AEAD_CHACHA20_POLY1305 encryption ------------------
const auto kRfc282Key =
    array_from_hex<32>("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
const auto kRfc282Nonce = array_from_hex<12>("070000004041424344454647");  // constant || IV
const Bytes kRfc282Aad = from_hex("50515253c0c1c2c3c4c5c6c7");
constexpr std::string_view kRfc282Plaintext =
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the "
    "future, sunscreen would be it.";
const Bytes kRfc282Ciphertext = from_hex(
    "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb"
    "69da92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad6"
    "75945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116");
const auto kRfc282Tag = array_from_hex<16>("1ae10b594f09e26a7e902ecbd0600691");

// ---- RFC 8439 Appendix A.5: AEAD decryption ------------------------------
const auto kRfcA5Key =
    array_from_hex<32>("1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0");
const auto kRfcA5Nonce = array_from_hex<12>("000000000102030405060708");
const Bytes kRfcA5Aad = from_hex("f33388860000000000004e91");
const Bytes kRfcA5Ciphertext = from_hex(
    "64a0861575861af460f062c79be643bd5e805cfd345cf389f108670ac76c8cb24c6cfc18755d43eea09ee9"
    "4e382d26b0bdb7b73c321b0100d4f03b7f355894cf332f830e710b97ce98c8a84abd0b948114ad176e008d"
    "33bd60f982b1ff37c8559797a06ef4f0ef61c186324e2b3506383606907b6a7c02b0f9f6157b53c867e4b9"
    "166c767b804d46a59b5216cde7a4e99040c5a40433225ee282a1b0a06c523eaf4534d7f83fa1155b004771"
    "8cbc546a0d072b04b3564eea1b422273f548271a0bb2316053fa76991955ebd63159434ecebb4e466dae5a"
    "1073a6727627097a1049e617d91d361094fa68f0ff77987130305beaba2eda04df997b714d6c6f2c29a6ad"
    "5cb4022b02709b");
const auto kRfcA5Tag = array_from_hex<16>("eead9d67890cbb22392336fea1851f38");
// The RFC's plaintext ends in U+201C/U+201D (the draft boilerplate); as bytes:
const Bytes kRfcA5Plaintext = [] {
    Bytes text = bytes_of(
        "Internet-Drafts are draft documents valid for a maximum of six months and may be "
        "updated, replaced, or obsoleted by other documents at any time. It is inappropriate "
        "to use Internet-Drafts as reference material or to cite them other than as /");
    const Bytes tail = from_hex("e2809c776f726b20696e2070726f67726573732e2fe2809d");
    text.insert(text.end(), tail.begin(), tail.end());
    return text;
}();
// A.5's nonce is 4 zero bytes then 01..08, i.e. a WireGuard nonce for this counter.
constexpr uint64_t kRfcA5Counter = 0x0807060504030201;

// The constant-evaluated path of wireguard_nonce (byte by byte) ...
static_assert(wireguard_nonce(0x0102030405060708) ==
              AeadNonce{0, 0, 0, 0, 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01});

// ... and the run-time one (one 8-byte store) must agree.
TEST(Aead, WireguardNonceLayout) {
    const AeadNonce nonce = wireguard_nonce(0x0102030405060708);
    const AeadNonce expected = {0, 0, 0, 0, 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01};
    EXPECT_EQ(nonce, expected);
    EXPECT_EQ(wireguard_nonce(kRfcA5Counter), kRfcA5Nonce);
    EXPECT_EQ(wireguard_nonce(0), AeadNonce{});
}

TEST(Aead, Rfc8439Section282Encrypt) {
    AeadEngine engine;
    const Bytes plaintext = bytes_of(kRfc282Plaintext);
    ASSERT_EQ(plaintext.size(), 114u);
    Bytes ciphertext(plaintext.size());
    std::array<uint8_t, 16> tag{};
    ASSERT_TRUE(engine.seal(kRfc282Key, kRfc282Nonce, kRfc282Aad, plaintext, ciphertext.data(),
                            tag.data()));
    EXPECT_EQ(ciphertext, kRfc282Ciphertext);
    EXPECT_EQ(tag, kRfc282Tag);

    // And back again, in place.
    ASSERT_TRUE(engine.open(kRfc282Key, kRfc282Nonce, kRfc282Aad, ciphertext, tag.data(),
                            ciphertext.data()));
    EXPECT_EQ(ciphertext, plaintext);
    EXPECT_EQ(engine.engine_errors(), 0u);
}

TEST(Aead, Rfc8439AppendixA5Decrypt) {
    AeadEngine engine;
    ASSERT_EQ(kRfcA5Ciphertext.size(), 265u);
    Bytes plaintext(kRfcA5Ciphertext.size());
    ASSERT_TRUE(engine.open(kRfcA5Key, kRfcA5Nonce, kRfcA5Aad, kRfcA5Ciphertext, kRfcA5Tag.data(),
                            plaintext.data()));
    EXPECT_EQ(plaintext, kRfcA5Plaintext);
}

TEST(Aead, Rfc8439AppendixA5ThroughTheBurstApi) {
    AeadEngine engine;
    Bytes data = kRfcA5Ciphertext;
    auto tag = kRfcA5Tag;
    AeadOp op{.key = kRfcA5Key.data(),
              .counter = kRfcA5Counter,
              .data = data.data(),
              .len = static_cast<uint32_t>(data.size()),
              .tag = tag.data(),
              .aad = kRfcA5Aad.data(),
              .aad_len = static_cast<uint32_t>(kRfcA5Aad.size())};
    engine.open_burst(&op, 1);
    EXPECT_TRUE(op.ok);
    EXPECT_EQ(data, kRfcA5Plaintext);
}

TEST(Aead, OpenRejectsBadTagAndWipesOutput) {
    AeadEngine engine;
    auto tag = kRfcA5Tag;
    tag[15] ^= 0x80;
    Bytes plaintext(kRfcA5Ciphertext.size(), 0xee);
    EXPECT_FALSE(engine.open(kRfcA5Key, kRfcA5Nonce, kRfcA5Aad, kRfcA5Ciphertext, tag.data(),
                             plaintext.data()));
    EXPECT_EQ(plaintext, Bytes(kRfcA5Ciphertext.size(), 0));
    // A wrong nonce is as bad as a wrong tag.
    EXPECT_FALSE(engine.open(kRfcA5Key, kRfcA5Counter + 1, kRfcA5Aad, kRfcA5Ciphertext,
                             kRfcA5Tag.data(), plaintext.data()));
    EXPECT_EQ(engine.engine_errors(), 0u);  // refusals are not engine errors
}

TEST(Aead, CounterNonceMatchesExplicitNonce) {
    AeadEngine engine;
    const Bytes plaintext = bytes_of(kRfc282Plaintext);
    for (uint64_t counter : {uint64_t{0}, uint64_t{1}, uint64_t{0x0102030405060708}, UINT64_MAX}) {
        Bytes by_counter(plaintext.size()), by_nonce(plaintext.size());
        std::array<uint8_t, 16> tag_counter{}, tag_nonce{};
        ASSERT_TRUE(
            engine.seal(kRfc282Key, counter, {}, plaintext, by_counter.data(), tag_counter.data()));
        AeadNonce nonce{};  // written out by hand, not through wireguard_nonce()
        for (int i = 0; i < 8; ++i) nonce[4 + i] = static_cast<uint8_t>(counter >> (8 * i));
        ASSERT_TRUE(
            engine.seal(kRfc282Key, nonce, {}, plaintext, by_nonce.data(), tag_nonce.data()));
        EXPECT_EQ(by_counter, by_nonce) << counter;
        EXPECT_EQ(tag_counter, tag_nonce) << counter;

        // The burst path builds its nonce itself; it must agree too.
        Bytes in_place = plaintext;
        std::array<uint8_t, 16> tag_burst{};
        AeadOp op{.key = kRfc282Key.data(),
                  .counter = counter,
                  .data = in_place.data(),
                  .len = static_cast<uint32_t>(in_place.size()),
                  .tag = tag_burst.data()};
        engine.seal_burst(&op, 1);
        ASSERT_TRUE(op.ok);
        EXPECT_EQ(in_place, by_nonce) << counter;
        EXPECT_EQ(tag_burst, tag_nonce) << counter;
    }
}

// Deterministic material for burst tests: op i of a burst.
struct Material {
    std::array<uint8_t, 32> key{};
    uint64_t counter = 0;
    Bytes plaintext;
    Bytes aad;
};

Material material(unsigned i, uint32_t len) {
    Material m;
    for (unsigned j = 0; j < 32; ++j) m.key[j] = static_cast<uint8_t>(0x40 + 7 * i + j);
    m.counter = (uint64_t{i} << 56) | (0x1234 + i);
    m.plaintext.resize(len);
    for (uint32_t j = 0; j < len; ++j) m.plaintext[j] = static_cast<uint8_t>(j * 31 + i * 7 + 1);
    if (i % 2 == 1) {
        for (unsigned j = 0; j < 12; ++j) m.aad.push_back(static_cast<uint8_t>(0xa0 + j + i));
    }
    return m;
}

constexpr std::array<uint32_t, 8> kMixedLengths = {0, 1, 15, 16, 17, 64, 1420, 9000};
// Tags for material(i, kMixedLengths[i]), computed with libsodium's
// crypto_aead_chacha20poly1305_ietf_encrypt_detached outside this test.
constexpr std::array<std::string_view, 8> kMixedTags = {
    "5565105263335bc868590bde9ddbefef", "3ba01a47336c187d23fb94ba5437b00e",
    "78c52fa9915b59ffa209346efd5baa61", "8bac894415c157983440a6657eb07dd7",
    "ce8fb841df210ccce3094e67c4bbba24", "6429a617092fec2caac55a2372342d11",
    "872ccbb67048cb3d9aa318287e8e7756", "025e0b71d2afd1119fb4fa66d6142789",
};

struct BurstBuffers {
    std::vector<Material> materials;
    std::vector<Bytes> data;
    std::vector<std::array<uint8_t, 16>> tags;
    std::vector<AeadOp> ops;

    explicit BurstBuffers(const std::vector<uint32_t>& lengths) {
        for (size_t i = 0; i < lengths.size(); ++i) {
            materials.push_back(material(static_cast<unsigned>(i), lengths[i]));
            data.push_back(materials.back().plaintext);
        }
        tags.resize(lengths.size());
        for (size_t i = 0; i < lengths.size(); ++i) {
            const Material& m = materials[i];
            ops.push_back(AeadOp{.key = m.key.data(),
                                 .counter = m.counter,
                                 .data = data[i].data(),
                                 .len = static_cast<uint32_t>(data[i].size()),
                                 .tag = tags[i].data(),
                                 .aad = m.aad.empty() ? nullptr : m.aad.data(),
                                 .aad_len = static_cast<uint32_t>(m.aad.size())});
        }
    }
};

TEST(Aead, MixedBurstMatchesReferenceTagsAndDecryptsBack) {
    AeadEngine engine;
    BurstBuffers burst({kMixedLengths.begin(), kMixedLengths.end()});
    engine.seal_burst(burst.ops.data(), burst.ops.size());
    for (size_t i = 0; i < burst.ops.size(); ++i) {
        ASSERT_TRUE(burst.ops[i].ok) << i;
        EXPECT_EQ(burst.tags[i], array_from_hex<16>(kMixedTags[i])) << "len " << kMixedLengths[i];
        if (kMixedLengths[i] > 0) {
            EXPECT_NE(burst.data[i], burst.materials[i].plaintext) << i;
        }
    }
    for (AeadOp& op : burst.ops) op.ok = false;
    engine.open_burst(burst.ops.data(), burst.ops.size());
    for (size_t i = 0; i < burst.ops.size(); ++i) {
        EXPECT_TRUE(burst.ops[i].ok) << i;
        EXPECT_EQ(burst.data[i], burst.materials[i].plaintext) << "len " << kMixedLengths[i];
    }
    EXPECT_EQ(engine.engine_errors(), 0u);
}

TEST(Aead, SingleShotAndBurstAgree) {
    AeadEngine engine;
    std::vector<uint32_t> lengths;
    for (uint32_t len = 0; len < 40; ++len) lengths.push_back(len * 37 % 1500);
    BurstBuffers burst(lengths);
    engine.seal_burst(burst.ops.data(), burst.ops.size());
    for (size_t i = 0; i < lengths.size(); ++i) {
        const Material& m = burst.materials[i];
        Bytes ciphertext(m.plaintext.size());
        std::array<uint8_t, 16> tag{};
        ASSERT_TRUE(
            engine.seal(m.key, m.counter, m.aad, m.plaintext, ciphertext.data(), tag.data()));
        ASSERT_TRUE(burst.ops[i].ok);
        EXPECT_EQ(burst.data[i], ciphertext) << i;
        EXPECT_EQ(burst.tags[i], tag) << i;

        // The burst's output opens single-shot, too.
        Bytes plaintext(ciphertext.size());
        EXPECT_TRUE(engine.open(m.key, m.counter, m.aad, burst.data[i], burst.tags[i].data(),
                                plaintext.data()));
        EXPECT_EQ(plaintext, m.plaintext);
    }
}

TEST(Aead, BurstLongerThanOneSubmitIsChunked) {
    AeadEngine engine;
    const size_t n = 2 * AeadEngine::kMaxBurst + 5;
    std::vector<uint32_t> lengths;
    for (size_t i = 0; i < n; ++i) lengths.push_back(static_cast<uint32_t>(i * 13 % 300));
    BurstBuffers burst(lengths);
    engine.seal_burst(burst.ops.data(), n);
    for (size_t i = 0; i < n; ++i) {
        const Material& m = burst.materials[i];
        std::array<uint8_t, 16> tag{};
        Bytes ciphertext(m.plaintext.size());
        ASSERT_TRUE(
            engine.seal(m.key, m.counter, m.aad, m.plaintext, ciphertext.data(), tag.data()));
        ASSERT_TRUE(burst.ops[i].ok) << i;
        EXPECT_EQ(burst.tags[i], tag) << i;
    }
    engine.open_burst(burst.ops.data(), n);
    for (size_t i = 0; i < n; ++i) {
        EXPECT_TRUE(burst.ops[i].ok) << i;
        EXPECT_EQ(burst.data[i], burst.materials[i].plaintext) << i;
    }
}

enum class Corruption { ciphertext, tag, aad, counter };

class BurstCorruption : public ::testing::TestWithParam<Corruption> {};

TEST_P(BurstCorruption, FailsOnlyTheCorruptedOp) {
    AeadEngine engine;
    std::vector<uint32_t> lengths(32);
    for (size_t i = 0; i < lengths.size(); ++i) lengths[i] = static_cast<uint32_t>(1 + i * 45);

    for (size_t victim : {size_t{0}, size_t{13}, size_t{31}}) {
        BurstBuffers burst(lengths);
        // Every op carries AAD so that corrupting it is possible for any victim.
        std::vector<Bytes> aads(lengths.size(), Bytes{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
        for (size_t i = 0; i < lengths.size(); ++i) {
            burst.ops[i].aad = aads[i].data();
            burst.ops[i].aad_len = static_cast<uint32_t>(aads[i].size());
        }
        engine.seal_burst(burst.ops.data(), burst.ops.size());

        switch (GetParam()) {
            case Corruption::ciphertext:
                burst.data[victim][victim % lengths[victim]] ^= 0x01;
                break;
            case Corruption::tag:
                burst.tags[victim][victim % 16] ^= 0x40;
                break;
            case Corruption::aad:
                aads[victim][11] ^= 0x80;
                break;
            case Corruption::counter:
                burst.ops[victim].counter ^= uint64_t{1} << 63;
                break;
        }
        for (AeadOp& op : burst.ops) op.ok = false;
        engine.open_burst(burst.ops.data(), burst.ops.size());
        for (size_t i = 0; i < lengths.size(); ++i) {
            EXPECT_EQ(burst.ops[i].ok, i != victim) << "victim " << victim << " op " << i;
            if (i != victim) {
                EXPECT_EQ(burst.data[i], burst.materials[i].plaintext) << i;
            }
        }
    }
    EXPECT_EQ(engine.engine_errors(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Aead, BurstCorruption,
                         ::testing::Values(Corruption::ciphertext, Corruption::tag, Corruption::aad,
                                           Corruption::counter));

TEST(Aead, ZeroLengthPayloadHasAKnownTagAndChecksIt) {
    AeadEngine engine;
    const Material m = material(0, 0);
    std::array<uint8_t, 16> tag{};
    AeadOp op{
        .key = m.key.data(), .counter = m.counter, .data = nullptr, .len = 0, .tag = tag.data()};
    engine.seal_burst(&op, 1);
    ASSERT_TRUE(op.ok);
    EXPECT_EQ(tag, array_from_hex<16>(kMixedTags[0]));
    engine.open_burst(&op, 1);
    EXPECT_TRUE(op.ok);
    tag[0] ^= 1;
    engine.open_burst(&op, 1);
    EXPECT_FALSE(op.ok);
}

TEST(Aead, MalformedOpIsRefusedAloneAndCounted) {
    AeadEngine engine;
    BurstBuffers burst({16, 32, 48});
    burst.ops[1].tag = nullptr;
    engine.seal_burst(burst.ops.data(), burst.ops.size());
    EXPECT_TRUE(burst.ops[0].ok);
    EXPECT_FALSE(burst.ops[1].ok);
    EXPECT_TRUE(burst.ops[2].ok);
    EXPECT_EQ(engine.engine_errors(), 1u);
}

TEST(Aead, TagsEqualIsExact) {
    std::array<uint8_t, 16> a{}, b{};
    for (size_t i = 0; i < 16; ++i) a[i] = b[i] = static_cast<uint8_t>(i * 17);
    EXPECT_TRUE(tags_equal(a.data(), b.data()));
    for (size_t byte = 0; byte < 16; ++byte) {
        for (int bit = 0; bit < 8; ++bit) {
            b = a;
            b[byte] ^= static_cast<uint8_t>(1 << bit);
            EXPECT_FALSE(tags_equal(a.data(), b.data())) << byte << ":" << bit;
        }
    }
}

TEST(Aead, OneEnginePerThread) {
    AeadEngine* main_engine = &AeadEngine::this_thread();
    EXPECT_EQ(main_engine, &AeadEngine::this_thread());
    AeadEngine* other_engine = nullptr;
    std::thread([&] { other_engine = &AeadEngine::this_thread(); }).join();
    EXPECT_NE(other_engine, nullptr);
    EXPECT_NE(other_engine, main_engine);
    const std::string level = main_engine->simd_level();
    EXPECT_TRUE(level == "sse" || level == "avx" || level == "avx2" || level == "avx512" ||
                level == "noaesni")
        << level;
}

}  // namespace
}  // namespace sluice
