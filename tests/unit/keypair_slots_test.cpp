// Keypair rotation as WireGuard does it, seen from both sides of a rekey.
#include "control/keypair_slots.hpp"

#include <gtest/gtest.h>

namespace sluice {
namespace {

std::unique_ptr<Keypair> keypair(uint32_t index, bool initiator) {
    auto kp = std::make_unique<Keypair>();
    kp->local_index = index;
    kp->we_initiated = initiator;
    kp->send_key.fill(static_cast<uint8_t>(index));
    return kp;
}

TEST(KeypairSlots, InitiatorRotatesCurrentIntoPrevious) {
    KeypairSlots s;
    EXPECT_TRUE(s.install(keypair(1, true)).empty());
    EXPECT_EQ(s.current()->local_index, 1u);
    EXPECT_EQ(s.previous(), nullptr);
    EXPECT_TRUE(s.install(keypair(2, true)).empty());
    EXPECT_EQ(s.current()->local_index, 2u);
    EXPECT_EQ(s.previous()->local_index, 1u);
    auto retired = s.install(keypair(3, true));
    ASSERT_EQ(retired.size(), 1u);
    EXPECT_EQ(retired[0]->local_index, 1u);
    EXPECT_EQ(retired[0]->send_key, Key{}) << "a retired keypair must be wiped";
    EXPECT_EQ(s.previous()->local_index, 2u);
}

TEST(KeypairSlots, ResponderWaitsForDataBeforePromoting) {
    KeypairSlots s;
    s.install(keypair(1, true));
    auto retired = s.install(keypair(2, false));
    EXPECT_TRUE(retired.empty());
    EXPECT_EQ(s.current()->local_index, 1u) << "responder keeps sending on the old keypair";
    EXPECT_EQ(s.next()->local_index, 2u);

    bool promoted = true;
    EXPECT_TRUE(s.received_with(s.current(), &promoted).empty());
    EXPECT_FALSE(promoted);

    s.received_with(s.next(), &promoted);
    EXPECT_TRUE(promoted);
    EXPECT_EQ(s.current()->local_index, 2u);
    EXPECT_EQ(s.previous()->local_index, 1u);
    EXPECT_EQ(s.next(), nullptr);
}

TEST(KeypairSlots, ResponderDropsPreviousAndReplacesUnconfirmedNext) {
    KeypairSlots s;
    s.install(keypair(1, true));
    s.install(keypair(2, true));  // previous = 1
    auto retired = s.install(keypair(3, false));
    ASSERT_EQ(retired.size(), 1u);
    EXPECT_EQ(retired[0]->local_index, 1u);
    retired = s.install(keypair(4, false));  // a newer handshake replaces next
    ASSERT_EQ(retired.size(), 1u);
    EXPECT_EQ(retired[0]->local_index, 3u);
    EXPECT_EQ(s.next()->local_index, 4u);
    EXPECT_EQ(s.current()->local_index, 2u);
}

TEST(KeypairSlots, InitiatorKeepsUnconfirmedNextAsPrevious) {
    KeypairSlots s;
    s.install(keypair(1, true));
    s.install(keypair(2, false));  // next = 2, unconfirmed
    auto retired = s.install(keypair(3, true));
    // Both sides started a handshake at once: 2 may still carry data, 1 is old.
    ASSERT_EQ(retired.size(), 1u);
    EXPECT_EQ(retired[0]->local_index, 1u);
    EXPECT_EQ(s.current()->local_index, 3u);
    EXPECT_EQ(s.previous()->local_index, 2u);
    EXPECT_EQ(s.next(), nullptr);
}

TEST(KeypairSlots, FindAndClear) {
    KeypairSlots s;
    s.install(keypair(1, true));
    s.install(keypair(2, true));
    s.install(keypair(3, false));
    EXPECT_EQ(s.find(3), s.next());
    EXPECT_EQ(s.find(2), s.current());
    EXPECT_EQ(s.find(9), nullptr);
    EXPECT_EQ(s.previous(), nullptr) << "installing a responder keypair dropped previous";
    EXPECT_EQ(s.clear().size(), 2u);
    EXPECT_EQ(s.current(), nullptr);
    EXPECT_EQ(s.find(2), nullptr);
}

}  // namespace
}  // namespace sluice
