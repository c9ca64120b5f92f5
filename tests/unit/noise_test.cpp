// The Noise_IKpsk2 handshake: a fixed-key transcript checked byte for byte
// against an independent reference (tests/tools/handshake_vectors.py), random
// handshakes in both directions, and every way a consume function must refuse
// a message.
#include "control/noise.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "control/cookie.hpp"
#include "control/crypto.hpp"
#include "dataplane/transport.hpp"

namespace sluice {
namespace {

// Output of tests/tools/handshake_vectors.py.
const std::string kInitiation = std::string(
    "\x01\x00\x00\x00\x44\x33\x22\x11\x79\xa6\x31\xee\xde\x1b\xf9\xc9\x8f\x12\x03\x2c\xde\xad\xd0"
    "\xe7\xa0\x79\x39\x8f\xc7\x86\xb8\x8c\xc8\x46\xec\x89\xaf\x85\xa5\x1a\xf0\x22\x5e\xb4\x21\x88"
    "\x6a\xf8\xf5\x4f\xb3\x12\x89\xd4\x9d\xcd\x82\xb0\xf6\xf3\x27\x9d\x40\xd7\xcf\xf9\x13\xfe\xce"
    "\x0c\x64\xad\x22\x6e\xef\x33\x20\x75\x5b\x39\x3b\x72\xf1\x68\x42\xc8\xd7\xee\x78\xa7\x4e\x93"
    "\x7e\x3f\x2a\x82\x88\xf4\xec\xc1\x49\x7e\x7a\x82\xcd\x9a\xf0\x99\x85\x47\x76\x36\xdf\x84\xc3"
    "\x62\x9a\x4b\xdb\x66\xb8\xcb\xe5\x5b\xa2\xba\x16\x45\xa5\x77\xa3\xef\x00\x00\x00\x00\x00\x00"
    "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
    148);
const std::string kResponse = std::string(
    "\x02\x00\x00\x00\x88\x77\x66\x55\x44\x33\x22\x11\x67\x5d\xd5\x74\xed\x77\x89\x31\x0b\x3d\x2e"
    "\x76\x81\xf3\x79\x0b\x46\x6c\x77\x3b\x15\x21\xfe\xcf\x36\x57\x79\x58\x37\x1e\xa5\x2f\xa8\x9d"
    "\x37\x36\x1e\xf7\x26\x64\x27\x17\x34\x27\xab\xbe\xcc\xd0\x6d\xfc\x5b\x10\xf2\x7e\x32\xae\x95"
    "\x78\xca\xb9\x3b\xd6\xab\xfb\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
    92);
const std::string kInitiatorSend = std::string(
    "\xf2\x6d\x13\xbe\x8f\x8f\xe7\xfe\x36\x80\x5b\x47\x50\x32\x85\xe7\x3b\xcb\x2f\xc6\xfe\x3e\xf3"
    "\x78\x34\xe5\xf6\x12\x8a\xd8\xcf\x50",
    32);
const std::string kInitiatorReceive = std::string(
    "\x08\x3b\xda\xb9\x2f\xfb\x8d\xa7\xab\x50\x63\xbb\x2d\x96\xde\x2b\x7e\x09\x00\x8d\x8e\x07\xbc"
    "\xf9\x6a\xc2\x5c\x34\x0a\x77\x86\x65",
    32);
const std::string kFirstData = std::string(
    "\x04\x00\x00\x00\x88\x77\x66\x55\x00\x00\x00\x00\x00\x00\x00\x00\x38\x66\x37\x1e\x77\xfe\xe3"
    "\x6c\xee\x70\x57\x11\x9f\xa7\x8d\xb8\x0f\x63\x15\x38\x36\x68\x1d\x26\x39\x95\xbe\x24\x84\xdd"
    "\x55\x17",
    48);

Key counting_key(uint8_t first) {
    Key k;
    for (int i = 0; i < 32; ++i) k[i] = static_cast<uint8_t>(first + i);
    return k;
}

template <typename Msg>
std::string bytes_of(const Msg& m) {
    return std::string(reinterpret_cast<const char*>(&m), sizeof m);
}

// Two peers that know each other, as two gateways would be configured.
struct Pair {
    StaticIdentity initiator, responder;
    Handshake at_initiator, at_responder;  // each side's state for the other
    CookieJar jar_at_initiator, jar_at_responder;

    Pair(const Key& i_priv, const Key& r_priv, const Key& psk)
        : initiator(StaticIdentity::from_private_key(i_priv)),
          responder(StaticIdentity::from_private_key(r_priv)),
          jar_at_initiator(responder.public_key),
          jar_at_responder(initiator.public_key) {
        at_initiator.configure(initiator, responder.public_key, psk);
        at_responder.configure(responder, initiator.public_key, psk);
    }

    std::function<Handshake*(const Key&)> responder_lookup() {
        return [this](const Key& k) { return k == initiator.public_key ? &at_responder : nullptr; };
    }
    std::function<Handshake*(uint32_t)> initiator_lookup() {
        return [this](uint32_t idx) {
            return at_initiator.state != HandshakeState::zeroed && idx == at_initiator.local_index
                       ? &at_initiator
                       : nullptr;
        };
    }
};

const Tai64n kFixedTime =
    Tai64n::from_unix(std::chrono::seconds(1'700'000'000) + std::chrono::nanoseconds(123'456'789));

class NoiseTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() { crypto::init(); }
};

TEST_F(NoiseTest, FixedKeyTranscriptMatchesIndependentReference) {
    Pair p(counting_key(0), counting_key(32), counting_key(128));

    wire::HandshakeInitiation init;
    ASSERT_EQ(create_initiation(p.at_initiator, p.initiator, counting_key(64), 0x11223344,
                                kFixedTime, init),
              HandshakeError::ok);
    p.jar_at_initiator.add_macs(reinterpret_cast<uint8_t*>(&init), sizeof init, 0);
    EXPECT_EQ(bytes_of(init), kInitiation);

    CookieChecker checker(p.responder.public_key);
    const uint8_t source[6] = {192, 0, 2, 1, 0xca, 0x6c};
    EXPECT_EQ(checker.check(crypto::Bytes(reinterpret_cast<const uint8_t*>(kInitiation.data()),
                                          kInitiation.size()),
                            source, 0),
              MacCheck::valid_mac1);

    wire::HandshakeInitiation parsed;
    ASSERT_EQ(parse_message(reinterpret_cast<const uint8_t*>(kInitiation.data()),
                            kInitiation.size(), wire::MessageType::handshake_initiation, parsed),
              HandshakeError::ok);
    auto consumed = consume_initiation(parsed, p.responder, p.responder_lookup(), 0);
    ASSERT_EQ(consumed.error, HandshakeError::ok);
    EXPECT_EQ(consumed.peer, &p.at_responder);
    EXPECT_EQ(p.at_responder.remote_index, 0x11223344u);
    EXPECT_EQ(p.at_responder.latest_timestamp, kFixedTime);

    wire::HandshakeResponse resp;
    ASSERT_EQ(create_response(p.at_responder, counting_key(96), 0x55667788, resp),
              HandshakeError::ok);
    p.jar_at_responder.add_macs(reinterpret_cast<uint8_t*>(&resp), sizeof resp, 0);
    EXPECT_EQ(bytes_of(resp), kResponse);

    auto got = consume_response(resp, p.initiator, p.initiator_lookup());
    ASSERT_EQ(got.error, HandshakeError::ok);
    auto ki = derive_keypair(p.at_initiator, 1);
    auto kr = derive_keypair(p.at_responder, 2);
    ASSERT_TRUE(ki && kr);
    EXPECT_EQ(std::string(ki->send_key.begin(), ki->send_key.end()), kInitiatorSend);
    EXPECT_EQ(std::string(ki->receive_key.begin(), ki->receive_key.end()), kInitiatorReceive);
    EXPECT_EQ(ki->send_key, kr->receive_key);
    EXPECT_EQ(ki->receive_key, kr->send_key);
    EXPECT_EQ(ki->local_index, 0x11223344u);
    EXPECT_EQ(ki->remote_index, 0x55667788u);
    EXPECT_EQ(kr->local_index, 0x55667788u);
    EXPECT_EQ(kr->remote_index, 0x11223344u);
    EXPECT_TRUE(ki->we_initiated);
    EXPECT_FALSE(kr->we_initiated);
    EXPECT_EQ(ki->birth_ns, 1);
    EXPECT_EQ(p.at_initiator.state, HandshakeState::zeroed);
    EXPECT_EQ(p.at_responder.state, HandshakeState::zeroed);

    // The reference's first transport message opens with the responder's key.
    const auto* data = reinterpret_cast<const uint8_t*>(kFirstData.data());
    uint8_t plain[16];
    ASSERT_TRUE(crypto::aead_open(kr->receive_key, 0,
                                  crypto::Bytes(data + 16, kFirstData.size() - 16), {}, plain));
    EXPECT_EQ(std::string(reinterpret_cast<char*>(plain), 6), "sluice");

    // And the ipsec-mb transport path produces it byte for byte: header,
    // counter 0, zero padding to 16, ciphertext, tag.
    uint8_t buf[64] = {};
    std::memcpy(buf + wire::kTransportHeaderLen, "sluice", 6);
    TransportPacket pkt{buf, 6, sizeof buf};
    PacketResult result;
    TransportCounters counters;
    encrypt_burst(*ki, &pkt, 1, 1420, 1, &result, counters);
    ASSERT_EQ(result.verdict, Verdict::send);
    EXPECT_EQ(std::string(reinterpret_cast<char*>(buf), result.length), kFirstData);

    // The responder's decrypt path authenticates it (the payload is not an IP
    // packet, so it is not delivered).
    Keypair* rx = kr.get();
    TransportPacket in{buf, result.length, sizeof buf};
    decrypt_burst(&rx, &in, 1, 2, &result, counters);
    EXPECT_TRUE(result.authenticated);
    EXPECT_EQ(result.reason, DropReason::invalid_inner_packet);
}

// Runs a whole handshake with fresh random keys; returns both keypairs.
std::pair<std::unique_ptr<Keypair>, std::unique_ptr<Keypair>> handshake(Pair& p, uint32_t i_idx,
                                                                        uint32_t r_idx,
                                                                        const Tai64n& ts,
                                                                        int64_t now) {
    wire::HandshakeInitiation init;
    EXPECT_EQ(create_initiation(p.at_initiator, p.initiator, crypto::random_private_key(), i_idx,
                                ts, init),
              HandshakeError::ok);
    EXPECT_EQ(consume_initiation(init, p.responder, p.responder_lookup(), now).error,
              HandshakeError::ok);
    wire::HandshakeResponse resp;
    EXPECT_EQ(create_response(p.at_responder, crypto::random_private_key(), r_idx, resp),
              HandshakeError::ok);
    EXPECT_EQ(consume_response(resp, p.initiator, p.initiator_lookup()).error, HandshakeError::ok);
    return {derive_keypair(p.at_initiator, now), derive_keypair(p.at_responder, now)};
}

TEST_F(NoiseTest, RandomHandshakesAgreeWithAndWithoutPresharedKey) {
    for (int round = 0; round < 20; ++round) {
        Key psk{};
        if (round % 2) crypto::random_bytes(psk.data(), psk.size());
        Pair p(crypto::random_private_key(), crypto::random_private_key(), psk);
        auto [ki, kr] = handshake(p, 1000 + round, 2000 + round,
                                  Tai64n::from_unix(std::chrono::seconds(round + 1)), 0);
        ASSERT_TRUE(ki && kr);
        EXPECT_EQ(ki->send_key, kr->receive_key);
        EXPECT_EQ(ki->receive_key, kr->send_key);
        EXPECT_NE(ki->send_key, ki->receive_key);
    }
}

TEST_F(NoiseTest, MismatchedPresharedKeyFailsTheResponse) {
    StaticIdentity a = StaticIdentity::from_private_key(crypto::random_private_key());
    StaticIdentity b = StaticIdentity::from_private_key(crypto::random_private_key());
    Handshake at_a, at_b;
    Key psk_a{}, psk_b{};
    psk_a[0] = 1;
    at_a.configure(a, b.public_key, psk_a);
    at_b.configure(b, a.public_key, psk_b);
    wire::HandshakeInitiation init;
    ASSERT_EQ(create_initiation(at_a, a, crypto::random_private_key(), 1, kFixedTime, init),
              HandshakeError::ok);
    // The psk enters only after the initiation, so the responder accepts it...
    ASSERT_EQ(consume_initiation(
                  init, b, [&](const Key&) { return &at_b; }, 0)
                  .error,
              HandshakeError::ok);
    wire::HandshakeResponse resp;
    ASSERT_EQ(create_response(at_b, crypto::random_private_key(), 2, resp), HandshakeError::ok);
    // ...and the initiator refuses the response.
    EXPECT_EQ(consume_response(resp, a, [&](uint32_t) { return &at_a; }).error,
              HandshakeError::decrypt_failed);
    EXPECT_EQ(at_a.state, HandshakeState::initiation_created);
}

TEST_F(NoiseTest, ParseRejectsWrongLengthsAndTypes) {
    const auto* bytes = reinterpret_cast<const uint8_t*>(kInitiation.data());
    wire::HandshakeInitiation init;
    EXPECT_EQ(parse_message(bytes, 147, wire::MessageType::handshake_initiation, init),
              HandshakeError::bad_length);
    std::vector<uint8_t> longer(bytes, bytes + 148);
    longer.push_back(0);
    EXPECT_EQ(
        parse_message(longer.data(), longer.size(), wire::MessageType::handshake_initiation, init),
        HandshakeError::bad_length);
    EXPECT_EQ(parse_message(bytes, 0, wire::MessageType::handshake_initiation, init),
              HandshakeError::bad_length);
    std::vector<uint8_t> copy(bytes, bytes + 148);
    copy[0] = 2;
    EXPECT_EQ(
        parse_message(copy.data(), copy.size(), wire::MessageType::handshake_initiation, init),
        HandshakeError::bad_type);
    copy[0] = 1;
    copy[2] = 1;  // reserved bytes must be zero
    EXPECT_EQ(
        parse_message(copy.data(), copy.size(), wire::MessageType::handshake_initiation, init),
        HandshakeError::bad_type);
    wire::HandshakeResponse resp;
    EXPECT_EQ(parse_message(bytes, 148, wire::MessageType::handshake_response, resp),
              HandshakeError::bad_length);
    const auto* rbytes = reinterpret_cast<const uint8_t*>(kResponse.data());
    EXPECT_EQ(parse_message(rbytes, 92, wire::MessageType::handshake_response, resp),
              HandshakeError::ok);
    wire::CookieReply reply;
    EXPECT_EQ(parse_message(rbytes, 64, wire::MessageType::cookie_reply, reply),
              HandshakeError::bad_type);
    EXPECT_EQ(parse_message(rbytes, 63, wire::MessageType::cookie_reply, reply),
              HandshakeError::bad_length);
}

TEST_F(NoiseTest, EveryTamperedInitiationFieldIsRefused) {
    Pair p(counting_key(0), counting_key(32), Key{});
    wire::HandshakeInitiation init;
    ASSERT_EQ(create_initiation(p.at_initiator, p.initiator, counting_key(64), 7, kFixedTime, init),
              HandshakeError::ok);
    const size_t first = offsetof(wire::HandshakeInitiation, unencrypted_ephemeral);
    const size_t end = offsetof(wire::HandshakeInitiation, mac1);
    for (size_t at = first; at < end; ++at) {
        wire::HandshakeInitiation bad = init;
        reinterpret_cast<uint8_t*>(&bad)[at] ^= 0x20;
        const auto r = consume_initiation(bad, p.responder, p.responder_lookup(), 0);
        // A flipped ephemeral may land on a low-order point; everything else
        // must fail authentication.
        EXPECT_TRUE(r.error == HandshakeError::decrypt_failed ||
                    r.error == HandshakeError::weak_key)
            << "byte " << at << ": " << to_string(r.error);
        EXPECT_EQ(p.at_responder.state, HandshakeState::zeroed) << "byte " << at;
    }
}

TEST_F(NoiseTest, UnknownInitiatorIsRefused) {
    Pair p(counting_key(0), counting_key(32), Key{});
    wire::HandshakeInitiation init;
    ASSERT_EQ(create_initiation(p.at_initiator, p.initiator, counting_key(64), 7, kFixedTime, init),
              HandshakeError::ok);
    const auto r = consume_initiation(
        init, p.responder, [](const Key&) { return nullptr; }, 0);
    EXPECT_EQ(r.error, HandshakeError::unknown_peer);
    EXPECT_EQ(r.peer, nullptr);
}

TEST_F(NoiseTest, ReplayedOrOlderInitiationIsRefused) {
    Pair p(counting_key(0), counting_key(32), Key{});
    wire::HandshakeInitiation first;
    ASSERT_EQ(
        create_initiation(p.at_initiator, p.initiator, counting_key(64), 7, kFixedTime, first),
        HandshakeError::ok);
    ASSERT_EQ(consume_initiation(first, p.responder, p.responder_lookup(), 0).error,
              HandshakeError::ok);
    const Key hash_after_first = p.at_responder.hash;

    // The very same bytes again, a second later (not a flood).
    EXPECT_EQ(consume_initiation(first, p.responder, p.responder_lookup(), 1'000'000'000).error,
              HandshakeError::replayed_timestamp);
    // A fresh initiation with an older timestamp.
    wire::HandshakeInitiation older;
    const Tai64n earlier = Tai64n::from_unix(std::chrono::seconds(1'600'000'000));
    ASSERT_EQ(create_initiation(p.at_initiator, p.initiator, counting_key(65), 8, earlier, older),
              HandshakeError::ok);
    EXPECT_EQ(consume_initiation(older, p.responder, p.responder_lookup(), 2'000'000'000).error,
              HandshakeError::replayed_timestamp);
    EXPECT_EQ(p.at_responder.hash, hash_after_first) << "a refused initiation changed state";
    EXPECT_EQ(p.at_responder.remote_index, 7u);
}

TEST_F(NoiseTest, InitiationFloodIsRefused) {
    Pair p(counting_key(0), counting_key(32), Key{});
    auto initiation_at = [&](int secs) {
        wire::HandshakeInitiation m;
        EXPECT_EQ(create_initiation(p.at_initiator, p.initiator, crypto::random_private_key(), 7,
                                    Tai64n::from_unix(std::chrono::seconds(secs)), m),
                  HandshakeError::ok);
        return m;
    };
    const int64_t t0 = 5'000'000'000;
    ASSERT_EQ(consume_initiation(initiation_at(10), p.responder, p.responder_lookup(), t0).error,
              HandshakeError::ok);
    EXPECT_EQ(consume_initiation(initiation_at(11), p.responder, p.responder_lookup(),
                                 t0 + kMinInitiationSpacingNs - 1)
                  .error,
              HandshakeError::initiation_flood);
    EXPECT_EQ(consume_initiation(initiation_at(12), p.responder, p.responder_lookup(),
                                 t0 + kMinInitiationSpacingNs)
                  .error,
              HandshakeError::ok);
}

TEST_F(NoiseTest, ResponseChecks) {
    Pair p(counting_key(0), counting_key(32), Key{});
    wire::HandshakeInitiation init;
    ASSERT_EQ(create_initiation(p.at_initiator, p.initiator, counting_key(64), 7, kFixedTime, init),
              HandshakeError::ok);
    ASSERT_EQ(consume_initiation(init, p.responder, p.responder_lookup(), 0).error,
              HandshakeError::ok);
    wire::HandshakeResponse resp;
    ASSERT_EQ(create_response(p.at_responder, counting_key(96), 9, resp), HandshakeError::ok);
    // Responding twice to one initiation is a state error.
    wire::HandshakeResponse again;
    EXPECT_EQ(create_response(p.at_responder, counting_key(97), 10, again),
              HandshakeError::wrong_state);

    wire::HandshakeResponse wrong_index = resp;
    wrong_index.receiver_index = 8;
    EXPECT_EQ(consume_response(wrong_index, p.initiator, p.initiator_lookup()).error,
              HandshakeError::unknown_index);

    for (size_t at = offsetof(wire::HandshakeResponse, unencrypted_ephemeral);
         at < offsetof(wire::HandshakeResponse, mac1); ++at) {
        wire::HandshakeResponse bad = resp;
        reinterpret_cast<uint8_t*>(&bad)[at] ^= 0x04;
        const auto e = consume_response(bad, p.initiator, p.initiator_lookup()).error;
        EXPECT_TRUE(e == HandshakeError::decrypt_failed || e == HandshakeError::weak_key)
            << "byte " << at << ": " << to_string(e);
        EXPECT_EQ(p.at_initiator.state, HandshakeState::initiation_created)
            << "a forged response changed state at byte " << at;
    }
    ASSERT_EQ(consume_response(resp, p.initiator, p.initiator_lookup()).error, HandshakeError::ok);
    // Replaying the response once the handshake moved on.
    EXPECT_EQ(consume_response(resp, p.initiator, [&](uint32_t) { return &p.at_initiator; }).error,
              HandshakeError::wrong_state);
}

TEST_F(NoiseTest, LowOrderKeysNeverHandshake) {
    StaticIdentity us = StaticIdentity::from_private_key(crypto::random_private_key());
    Handshake hs;
    hs.configure(us, Key{}, Key{});  // a peer whose public key is the point 0
    EXPECT_FALSE(hs.static_static_ok);
    wire::HandshakeInitiation init;
    EXPECT_EQ(create_initiation(hs, us, crypto::random_private_key(), 1, kFixedTime, init),
              HandshakeError::weak_key);

    // An initiation whose ephemeral is a low-order point.
    Pair p(counting_key(0), counting_key(32), Key{});
    ASSERT_EQ(create_initiation(p.at_initiator, p.initiator, counting_key(64), 7, kFixedTime, init),
              HandshakeError::ok);
    std::memset(init.unencrypted_ephemeral, 0, sizeof init.unencrypted_ephemeral);
    EXPECT_EQ(consume_initiation(init, p.responder, p.responder_lookup(), 0).error,
              HandshakeError::weak_key);
}

TEST_F(NoiseTest, DeriveNeedsACompletedExchange) {
    Pair p(counting_key(0), counting_key(32), Key{});
    EXPECT_EQ(derive_keypair(p.at_initiator, 0), nullptr);
    wire::HandshakeInitiation init;
    ASSERT_EQ(create_initiation(p.at_initiator, p.initiator, counting_key(64), 7, kFixedTime, init),
              HandshakeError::ok);
    EXPECT_EQ(derive_keypair(p.at_initiator, 0), nullptr);
    ASSERT_EQ(consume_initiation(init, p.responder, p.responder_lookup(), 0).error,
              HandshakeError::ok);
    EXPECT_EQ(derive_keypair(p.at_responder, 0), nullptr);
}

TEST_F(NoiseTest, ErrorNamesAreDistinct) {
    std::map<std::string, int> seen;
    for (int i = 0; i < static_cast<int>(HandshakeError::count); ++i)
        ++seen[to_string(static_cast<HandshakeError>(i))];
    EXPECT_EQ(seen.size(), static_cast<size_t>(HandshakeError::count));
    EXPECT_EQ(std::string(to_string(HandshakeError::replayed_timestamp)), "replayed_timestamp");
}

TEST(Tai64nTest, OrderFollowsTimeAndNanosecondsAreWhitened) {
    const auto a = Tai64n::from_unix(std::chrono::seconds(100));
    const auto b = Tai64n::from_unix(std::chrono::seconds(100) + std::chrono::milliseconds(20));
    const auto c = Tai64n::from_unix(std::chrono::seconds(101));
    EXPECT_TRUE(a < b);
    EXPECT_TRUE(b < c);
    EXPECT_FALSE(c < a);
    EXPECT_EQ(a.seconds(), 100u);
    EXPECT_EQ(b.nanoseconds() % (1u << 24), 0u);
    // Within one whitening step two readings are equal, so not "newer".
    const auto d = Tai64n::from_unix(std::chrono::seconds(100) + std::chrono::nanoseconds(5));
    EXPECT_EQ(a, d);
    EXPECT_EQ(a.bytes[0], 0x40);  // TAI64 label 2^62
    EXPECT_GT(Tai64n::now().seconds(), 1'700'000'000u);
}

}  // namespace
}  // namespace sluice
