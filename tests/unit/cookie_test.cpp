// mac1/mac2 and cookie replies, as a responder under load and its initiator
// see them: the whole exchange, expiry of cookies and secrets, and forged or
// misdirected replies.
#include "control/cookie.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "control/noise.hpp"

namespace sluice {
namespace {

constexpr int64_t kSecond = 1'000'000'000;

class CookieTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() { crypto::init(); }
    void SetUp() override {
        responder = StaticIdentity::from_private_key(crypto::random_private_key());
        // Any 148-byte message will do: the macs do not look inside it.
        msg.resize(sizeof(wire::HandshakeInitiation));
        for (size_t i = 0; i < msg.size(); ++i) msg[i] = static_cast<uint8_t>(i * 7);
    }
    crypto::Bytes bytes() const { return msg; }

    StaticIdentity responder;
    std::vector<uint8_t> msg;
    const uint8_t source_a[6] = {10, 0, 0, 1, 0xca, 0x6c};
    const uint8_t source_b[6] = {10, 0, 0, 2, 0xca, 0x6c};
};

TEST_F(CookieTest, Mac1GuardsEveryByte) {
    CookieChecker checker(responder.public_key);
    CookieJar jar(responder.public_key);
    jar.add_macs(msg.data(), msg.size(), 0);
    EXPECT_EQ(checker.check(bytes(), source_a, 0), MacCheck::valid_mac1);
    for (size_t at = 0; at < msg.size() - 16; ++at) {
        msg[at] ^= 1;
        EXPECT_EQ(checker.check(bytes(), source_a, 0), MacCheck::invalid_mac1) << at;
        msg[at] ^= 1;
    }
    // mac1 for another responder's key is no good here.
    CookieJar other(StaticIdentity::from_private_key(crypto::random_private_key()).public_key);
    other.add_macs(msg.data(), msg.size(), 0);
    EXPECT_EQ(checker.check(bytes(), source_a, 0), MacCheck::invalid_mac1);
    // Too short to hold the macs at all.
    EXPECT_EQ(checker.check(crypto::Bytes(msg.data(), 31), source_a, 0), MacCheck::invalid_mac1);
}

TEST_F(CookieTest, UnderLoadExchangeEarnsMac2ForThatSourceOnly) {
    CookieChecker checker(responder.public_key);
    CookieJar jar(responder.public_key);
    jar.add_macs(msg.data(), msg.size(), 0);
    ASSERT_EQ(checker.check(bytes(), source_a, 0), MacCheck::valid_mac1);

    wire::CookieReply reply;
    checker.make_reply(bytes(), 0xabcd, source_a, 0, reply);
    EXPECT_EQ(reply.type, 3);
    EXPECT_EQ(reply.receiver_index, 0xabcdu);
    ASSERT_TRUE(jar.consume_reply(reply, kSecond));
    EXPECT_TRUE(jar.has_fresh_cookie(kSecond));

    jar.add_macs(msg.data(), msg.size(), 2 * kSecond);
    EXPECT_EQ(checker.check(bytes(), source_a, 2 * kSecond), MacCheck::valid_mac2);
    EXPECT_EQ(checker.check(bytes(), source_b, 2 * kSecond), MacCheck::valid_mac1);
    // Flipping mac2 loses it.
    msg.back() ^= 1;
    EXPECT_EQ(checker.check(bytes(), source_a, 2 * kSecond), MacCheck::valid_mac1);
}

TEST_F(CookieTest, RepliesAreSingleUseAndBoundToTheLastMac1) {
    CookieChecker checker(responder.public_key);
    CookieJar jar(responder.public_key);
    wire::CookieReply reply;

    // Nothing sent yet: an unsolicited reply is ignored.
    checker.make_reply(bytes(), 1, source_a, 0, reply);
    EXPECT_FALSE(jar.consume_reply(reply, 0));

    jar.add_macs(msg.data(), msg.size(), 0);
    checker.make_reply(bytes(), 1, source_a, 0, reply);
    wire::CookieReply forged = reply;
    forged.encrypted_cookie[0] ^= 1;
    EXPECT_FALSE(jar.consume_reply(forged, 0));
    forged = reply;
    forged.nonce[0] ^= 1;
    EXPECT_FALSE(jar.consume_reply(forged, 0));
    ASSERT_TRUE(jar.consume_reply(reply, 0));
    EXPECT_FALSE(jar.consume_reply(reply, 0)) << "a second copy of a reply must be ignored";

    // A reply to an older message (other mac1) does not fit the newest one.
    std::vector<uint8_t> older = msg;
    msg[4] ^= 0xff;
    jar.add_macs(msg.data(), msg.size(), 0);
    checker.make_reply(older, 1, source_a, 0, reply);
    EXPECT_FALSE(jar.consume_reply(reply, 0));
}

TEST_F(CookieTest, CookiesExpireBeforeTheSecretDoes) {
    CookieChecker checker(responder.public_key);
    CookieJar jar(responder.public_key);
    jar.add_macs(msg.data(), msg.size(), 0);
    wire::CookieReply reply;
    checker.make_reply(bytes(), 1, source_a, 0, reply);
    ASSERT_TRUE(jar.consume_reply(reply, 0));
    EXPECT_TRUE(jar.has_fresh_cookie(114 * kSecond));
    EXPECT_FALSE(jar.has_fresh_cookie(115 * kSecond));
    jar.add_macs(msg.data(), msg.size(), 115 * kSecond);
    const std::vector<uint8_t> zeros(16, 0);
    EXPECT_TRUE(std::equal(zeros.begin(), zeros.end(), msg.end() - 16)) << "stale cookie used";
}

TEST_F(CookieTest, SecretRotatesEveryTwoMinutes) {
    CookieChecker checker(responder.public_key);
    CookieJar jar(responder.public_key);
    jar.add_macs(msg.data(), msg.size(), 0);
    wire::CookieReply reply;
    checker.make_reply(bytes(), 1, source_a, 0, reply);
    ASSERT_TRUE(jar.consume_reply(reply, 0));
    EXPECT_EQ(checker.secret_birth_ns(), 0);

    jar.add_macs(msg.data(), msg.size(), 100 * kSecond);
    EXPECT_EQ(checker.check(bytes(), source_a, 119 * kSecond), MacCheck::valid_mac2);
    // At 120 s the secret is replaced: the cookie made from the old one no
    // longer verifies, even though the message is otherwise fine.
    EXPECT_EQ(checker.check(bytes(), source_a, 120 * kSecond), MacCheck::valid_mac1);
    EXPECT_EQ(checker.secret_birth_ns(), 120 * kSecond);
}

TEST_F(CookieTest, WorksOnRealHandshakeMessages) {
    StaticIdentity initiator = StaticIdentity::from_private_key(crypto::random_private_key());
    Handshake hs;
    hs.configure(initiator, responder.public_key, Key{});
    wire::HandshakeInitiation init;
    ASSERT_EQ(
        create_initiation(hs, initiator, crypto::random_private_key(), 5, Tai64n::now(), init),
        HandshakeError::ok);
    CookieJar jar(responder.public_key);
    jar.add_macs(reinterpret_cast<uint8_t*>(&init), sizeof init, 0);
    CookieChecker checker(responder.public_key);
    crypto::Bytes b(reinterpret_cast<const uint8_t*>(&init), sizeof init);
    EXPECT_EQ(checker.check(b, source_a, 0), MacCheck::valid_mac1);
    wire::CookieReply reply;
    checker.make_reply(b, init.sender_index, source_a, 0, reply);
    // The reply survives a round trip through bytes and the parser.
    wire::CookieReply parsed;
    ASSERT_EQ(parse_message(reinterpret_cast<const uint8_t*>(&reply), sizeof reply,
                            wire::MessageType::cookie_reply, parsed),
              HandshakeError::ok);
    EXPECT_TRUE(jar.consume_reply(parsed, 0));
}

}  // namespace
}  // namespace sluice
