// PeerTimers against a fake clock: every timer fires at its deadline and not
// a nanosecond before, and the policy matches WireGuard's.
#include "control/timers.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <ostream>
#include <random>
#include <vector>

namespace sluice {

// Readable failures: "send_initiation|clear_endpoint_source" instead of bytes.
void PrintTo(TimerActions a, std::ostream* os) {
    *os << to_string(a);
}

namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;
using Time = PeerTimers::Time;

// Not zero, so that a deadline computed from 0 instead of `now` shows.
constexpr Time kT0 = 1000s;
constexpr Time kTick = 1ns;
const TimerActions kNone{};
const TimerActions kRetry = TimerAction::send_initiation | TimerAction::clear_endpoint_source;

class Timers : public testing::Test {
protected:
    milliseconds jitter_value{0};
    int jitter_calls = 0;
    PeerTimers timers{[this] {
        ++jitter_calls;
        return jitter_value;
    }};

    // What the caller does after a send_initiation action.
    void send_initiation(Time now) {
        timers.any_authenticated_packet_traversal(now);
        timers.any_authenticated_packet_sent(now);
        timers.handshake_initiated(now);
    }
    // What the caller does after a send_keepalive action (with a keypair).
    void send_keepalive(Time now) {
        timers.any_authenticated_packet_traversal(now);
        timers.any_authenticated_packet_sent(now);
    }
    void send_data(Time now) {
        timers.any_authenticated_packet_traversal(now);
        timers.any_authenticated_packet_sent(now);
        timers.data_sent(now);
    }
    void receive_data(Time now) {
        timers.any_authenticated_packet_received(now);
        timers.any_authenticated_packet_traversal(now);
        timers.data_received(now);
    }

    // Asserts that nothing fires one tick before `deadline` and that exactly
    // `expected` fires at it.
    void expect_fires_at(Time deadline, TimerActions expected) {
        ASSERT_EQ(timers.next_deadline(), deadline);
        EXPECT_EQ(timers.poll(deadline - kTick), kNone);
        EXPECT_EQ(timers.next_deadline(), deadline);
        EXPECT_EQ(timers.poll(deadline), expected);
    }
};

TEST_F(Timers, NothingArmedAtFirst) {
    EXPECT_EQ(timers.next_deadline(), std::nullopt);
    EXPECT_EQ(timers.poll(kT0 + 10000s), kNone);
    EXPECT_EQ(jitter_calls, 0);
}

TEST(TimerActionsTest, ToStringNamesEveryAction) {
    EXPECT_EQ(to_string({}), "none");
    EXPECT_EQ(to_string(TimerAction::send_keepalive), "send_keepalive");
    EXPECT_EQ(to_string(kRetry), "send_initiation|clear_endpoint_source");
    EXPECT_EQ(to_string(TimerAction::zero_keys | TimerAction::handshake_gave_up),
              "zero_keys|handshake_gave_up");
}

// ---- Retransmit handshake -------------------------------------------------

TEST_F(Timers, RetransmitAfterRekeyTimeoutWithMinimumJitter) {
    jitter_value = 0ms;
    ASSERT_EQ(timers.send_without_key(kT0), TimerActions(TimerAction::send_initiation));
    send_initiation(kT0);
    expect_fires_at(kT0 + 5s, kRetry);
}

TEST_F(Timers, RetransmitAfterRekeyTimeoutWithMaximumJitter) {
    jitter_value = 333ms;
    ASSERT_EQ(timers.send_without_key(kT0), TimerActions(TimerAction::send_initiation));
    send_initiation(kT0);
    expect_fires_at(kT0 + 5s + 333ms, kRetry);
    EXPECT_GE(jitter_calls, 1);
}

TEST_F(Timers, JitterOutsideItsRangeIsClamped) {
    jitter_value = 5000ms;
    send_initiation(kT0);
    EXPECT_EQ(timers.next_deadline(), kT0 + 5s + 333ms);

    jitter_value = -7ms;
    send_initiation(kT0 + 10s);
    EXPECT_EQ(timers.next_deadline(), kT0 + 15s);
}

TEST_F(Timers, RetransmitStopsAfterEighteenInitiationsAndGivesUp) {
    ASSERT_EQ(timers.send_without_key(kT0), TimerActions(TimerAction::send_initiation));
    send_initiation(kT0);
    int initiations = 1;
    TimerActions last;
    Time at = kT0;
    for (int guard = 0; guard < 100; ++guard) {
        at = *timers.next_deadline();
        last = timers.poll(at);
        if (!last.has(TimerAction::send_initiation)) break;
        ++initiations;
        send_initiation(at);
    }
    EXPECT_EQ(initiations, 18);
    EXPECT_EQ(timers.handshake_attempts(), 18u);
    EXPECT_EQ(last, TimerActions(TimerAction::handshake_gave_up));
    // Zero jitter: 18 tries 5 s apart, given up at REKEY_ATTEMPT_TIME.
    EXPECT_EQ(at, kT0 + 90s);
    // No more retries; only the wipe of the residue is left.
    expect_fires_at(at + 540s, TimerAction::zero_keys);
    EXPECT_EQ(timers.next_deadline(), std::nullopt);
}

TEST_F(Timers, GivingUpKeepsAnEarlierKeyWipe) {
    timers.session_derived(kT0);
    Time at = kT0 + 100s;
    send_initiation(at);
    for (int i = 1; i < 18; ++i) {
        at = *timers.next_deadline();
        ASSERT_EQ(timers.poll(at), kRetry) << "try " << i;
        send_initiation(at);
    }
    at = *timers.next_deadline();
    ASSERT_EQ(timers.poll(at), TimerActions(TimerAction::handshake_gave_up));
    // The wipe armed by the session stays where it was, not at give-up + 540 s.
    EXPECT_EQ(timers.next_deadline(), kT0 + 540s);
}

TEST_F(Timers, GivingUpCancelsAnOwedKeepalive) {
    Time at = kT0;
    send_initiation(at);
    for (int i = 1; i < 18; ++i) {
        at = *timers.next_deadline();
        ASSERT_EQ(timers.poll(at), kRetry);
        send_initiation(at);
    }
    // Data on an old keypair arrives just after the last try: a keepalive is
    // due 10 s later, after the give-up at at + 5 s.
    receive_data(at + 1ms);
    ASSERT_EQ(timers.next_deadline(), at + 5s);
    ASSERT_EQ(timers.poll(at + 5s), TimerActions(TimerAction::handshake_gave_up));
    EXPECT_EQ(timers.poll(at + 1ms + 10s), kNone);
    EXPECT_EQ(timers.next_deadline(), at + 5s + 540s);
}

TEST_F(Timers, HandshakeCompleteStopsRetransmit) {
    send_initiation(kT0);
    ASSERT_EQ(timers.poll(kT0 + 5s), kRetry);
    send_initiation(kT0 + 5s);
    ASSERT_EQ(timers.handshake_attempts(), 2u);
    timers.handshake_complete(kT0 + 6s);
    EXPECT_EQ(timers.handshake_attempts(), 0u);
    EXPECT_EQ(timers.next_deadline(), std::nullopt);
    EXPECT_EQ(timers.poll(kT0 + 60s), kNone);
}

TEST_F(Timers, WaitingTrafficRestartsTheAttemptCount) {
    Time at = kT0;
    send_initiation(at);
    int initiations = 1;
    for (; initiations < 17; ++initiations) {
        at = *timers.next_deadline();
        ASSERT_EQ(timers.poll(at), kRetry);
        send_initiation(at);
    }
    // A packet is staged 1 s after the 17th try: rate limited, but it means
    // someone still wants the tunnel, so the count starts over.
    EXPECT_EQ(timers.send_without_key(at + 1s), kNone);
    EXPECT_EQ(timers.handshake_attempts(), 0u);
    for (int guard = 0; guard < 100; ++guard) {
        at = *timers.next_deadline();
        const TimerActions a = timers.poll(at);
        if (!a.has(TimerAction::send_initiation)) {
            EXPECT_EQ(a, TimerActions(TimerAction::handshake_gave_up));
            break;
        }
        ++initiations;
        send_initiation(at);
    }
    EXPECT_EQ(initiations, 17 + 18);
}

TEST_F(Timers, RetryHeldBackByARecentResponseIsNotRearmed) {
    send_initiation(kT0);
    // The peer initiated too and we answered: that response's session will
    // confirm itself, so our retry must not race it.
    timers.handshake_response_sent(kT0 + 3s);
    EXPECT_EQ(timers.poll(kT0 + 5s), TimerActions(TimerAction::clear_endpoint_source));
    EXPECT_EQ(timers.next_deadline(), std::nullopt);
}

// ---- Initiation rate limit ------------------------------------------------

TEST_F(Timers, NoTwoInitiationsWithinRekeyTimeout) {
    ASSERT_EQ(timers.send_without_key(kT0), TimerActions(TimerAction::send_initiation));
    send_initiation(kT0);
    EXPECT_EQ(timers.send_without_key(kT0 + 1s), kNone);
    EXPECT_EQ(timers.send_without_key(kT0 + 5s - kTick), kNone);
    EXPECT_EQ(timers.send_without_key(kT0 + 5s), TimerActions(TimerAction::send_initiation));
}

TEST_F(Timers, RateLimitCountsFromTheDecision) {
    // The caller failed to build the initiation and never reported it sent:
    // it still must not be asked again at once, and no retry is armed.
    ASSERT_EQ(timers.send_without_key(kT0), TimerActions(TimerAction::send_initiation));
    EXPECT_EQ(timers.send_without_key(kT0 + 1s), kNone);
    EXPECT_EQ(timers.next_deadline(), std::nullopt);
    EXPECT_EQ(timers.send_without_key(kT0 + 5s), TimerActions(TimerAction::send_initiation));
}

TEST_F(Timers, ResponseSentCountsAgainstTheRateLimit) {
    timers.handshake_response_sent(kT0);
    EXPECT_EQ(timers.send_without_key(kT0 + 4s), kNone);
    EXPECT_EQ(timers.send_without_key(kT0 + 5s), TimerActions(TimerAction::send_initiation));
}

// ---- Passive keepalive ----------------------------------------------------

TEST_F(Timers, KeepaliveOnceAfterDataReceived) {
    receive_data(kT0);
    expect_fires_at(kT0 + 10s, TimerAction::send_keepalive);
    send_keepalive(kT0 + 10s);
    EXPECT_EQ(timers.next_deadline(), std::nullopt);
    EXPECT_EQ(timers.poll(kT0 + 100s), kNone);
}

TEST_F(Timers, NoKeepaliveWhenWeSentInBetween) {
    receive_data(kT0);
    send_data(kT0 + 3s);
    // Only the new-handshake timer of our own send is left.
    EXPECT_EQ(timers.next_deadline(), kT0 + 3s + 15s);
    EXPECT_EQ(timers.poll(kT0 + 10s), kNone);
    EXPECT_EQ(timers.poll(kT0 + 12s), kNone);
}

TEST_F(Timers, KeepaliveDeadlineCountsFromTheFirstUnansweredData) {
    receive_data(kT0);
    receive_data(kT0 + 4s);
    EXPECT_EQ(timers.next_deadline(), kT0 + 10s);
}

TEST_F(Timers, DataDuringAPendingKeepaliveOwesOneMore) {
    receive_data(kT0);
    receive_data(kT0 + 4s);
    ASSERT_EQ(timers.poll(kT0 + 10s), TimerActions(TimerAction::send_keepalive));
    send_keepalive(kT0 + 10s);
    expect_fires_at(kT0 + 20s, TimerAction::send_keepalive);
    send_keepalive(kT0 + 20s);
    // Only one more: nothing arrived while the second was pending.
    EXPECT_EQ(timers.next_deadline(), std::nullopt);
}

TEST_F(Timers, SendingAnythingSettlesAnOwedKeepalive) {
    receive_data(kT0);
    receive_data(kT0 + 4s);
    timers.any_authenticated_packet_sent(kT0 + 5s);
    EXPECT_EQ(timers.next_deadline(), std::nullopt);
    EXPECT_EQ(timers.poll(kT0 + 30s), kNone);
    // Nothing is still owed from before: later data earns exactly one keepalive.
    receive_data(kT0 + 30s);
    ASSERT_EQ(timers.poll(kT0 + 40s), TimerActions(TimerAction::send_keepalive));
    send_keepalive(kT0 + 40s);
    EXPECT_EQ(timers.next_deadline(), std::nullopt);
}

// ---- New handshake after unanswered data ------------------------------------

TEST_F(Timers, NewHandshakeWhenSentDataGoesUnanswered) {
    jitter_value = 0ms;
    send_data(kT0);
    expect_fires_at(kT0 + 15s, kRetry);
}

TEST_F(Timers, NewHandshakeWithMaximumJitter) {
    jitter_value = 333ms;
    send_data(kT0);
    expect_fires_at(kT0 + 15s + 333ms, kRetry);
}

TEST_F(Timers, NewHandshakeDeadlineCountsFromTheFirstUnansweredSend) {
    send_data(kT0);
    send_data(kT0 + 10s);
    EXPECT_EQ(timers.next_deadline(), kT0 + 15s);
}

TEST_F(Timers, AnyAuthenticatedPacketReceivedCancelsNewHandshake) {
    send_data(kT0);
    timers.any_authenticated_packet_received(kT0 + 15s - kTick);
    EXPECT_EQ(timers.next_deadline(), std::nullopt);
    EXPECT_EQ(timers.poll(kT0 + 60s), kNone);
}

TEST_F(Timers, NewHandshakeIsRateLimited) {
    send_data(kT0);  // new handshake due at kT0 + 15 s
    timers.handshake_initiated(kT0 + 12s);
    timers.handshake_complete(kT0 + 13s);
    // Due, but an initiation went out 3 s ago.
    EXPECT_EQ(timers.poll(kT0 + 15s), TimerActions(TimerAction::clear_endpoint_source));
}

// ---- Zeroing key material ---------------------------------------------------

TEST_F(Timers, KeysZeroedFiveHundredFortySecondsAfterSession) {
    timers.session_derived(kT0);
    expect_fires_at(kT0 + 540s, TimerAction::zero_keys);
    EXPECT_EQ(timers.next_deadline(), std::nullopt);
}

TEST_F(Timers, NewSessionPostponesTheWipe) {
    timers.session_derived(kT0);
    timers.session_derived(kT0 + 100s);
    EXPECT_EQ(timers.poll(kT0 + 540s), kNone);
    expect_fires_at(kT0 + 640s, TimerAction::zero_keys);
}

// ---- Persistent keepalive ---------------------------------------------------

TEST_F(Timers, PersistentKeepaliveOffByDefault) {
    timers.any_authenticated_packet_traversal(kT0);
    EXPECT_EQ(timers.next_deadline(), std::nullopt);
}

TEST_F(Timers, PersistentKeepaliveEveryInterval) {
    ASSERT_EQ(timers.set_persistent_keepalive(kT0, 25s), TimerActions(TimerAction::send_keepalive));
    send_keepalive(kT0);
    Time at = kT0;
    for (int i = 0; i < 5; ++i) {
        at += 25s;
        expect_fires_at(at, TimerAction::send_keepalive);
        send_keepalive(at);
    }
}

TEST_F(Timers, PersistentKeepaliveCountsFromTheLastTraversal) {
    (void)timers.set_persistent_keepalive(kT0, 25s);
    send_keepalive(kT0);
    receive_data(kT0 + 20s);  // also arms the passive keepalive at +10 s
    send_keepalive(kT0 + 30s);
    expect_fires_at(kT0 + 55s, TimerAction::send_keepalive);
}

TEST_F(Timers, PersistentKeepaliveChangesAndTurnsOff) {
    ASSERT_EQ(timers.set_persistent_keepalive(kT0, 25s), TimerActions(TimerAction::send_keepalive));
    // Already on: no extra keepalive, and the armed deadline stays.
    send_keepalive(kT0);
    EXPECT_EQ(timers.set_persistent_keepalive(kT0 + 1s, 30s), kNone);
    EXPECT_EQ(timers.next_deadline(), kT0 + 25s);
    EXPECT_EQ(timers.set_persistent_keepalive(kT0 + 2s, 0s), kNone);
    EXPECT_EQ(timers.next_deadline(), std::nullopt);
    timers.any_authenticated_packet_traversal(kT0 + 3s);
    EXPECT_EQ(timers.next_deadline(), std::nullopt);
    EXPECT_EQ(timers.persistent_keepalive(), 0s);
}

// ---- Rekey decisions ----------------------------------------------------------

KeypairTiming keypair(bool we_initiated, Time birth = kT0, uint64_t sent = 0) {
    KeypairTiming kp;
    kp.we_initiated = we_initiated;
    kp.birth = birth;
    kp.send_counter = sent;
    return kp;
}

TEST(RekeyTest, OnSendByMessageCountEitherSide) {
    for (bool initiator : {false, true}) {
        SCOPED_TRACE(initiator ? "initiator" : "responder");
        EXPECT_FALSE(rekey_on_send(keypair(initiator, kT0, uint64_t{1} << 60), kT0 + 1s));
        EXPECT_TRUE(rekey_on_send(keypair(initiator, kT0, (uint64_t{1} << 60) + 1), kT0 + 1s));
    }
}

TEST(RekeyTest, OnSendByAgeInitiatorOnly) {
    EXPECT_FALSE(rekey_on_send(keypair(true), kT0 + 120s - kTick));
    EXPECT_TRUE(rekey_on_send(keypair(true), kT0 + 120s));
    EXPECT_FALSE(rekey_on_send(keypair(false), kT0 + 120s));
    EXPECT_FALSE(rekey_on_send(keypair(false), kT0 + 179s));
}

TEST(RekeyTest, OnReceiveAtOneHundredSixtyFiveSecondsInitiatorOnly) {
    EXPECT_FALSE(rekey_on_receive(keypair(true), kT0 + 165s - kTick));
    EXPECT_TRUE(rekey_on_receive(keypair(true), kT0 + 165s));
    EXPECT_FALSE(rekey_on_receive(keypair(false), kT0 + 165s));
    EXPECT_FALSE(rekey_on_receive(keypair(false), kT0 + 179s));
}

TEST(RekeyTest, UsableForSendingUntilEitherLimit) {
    constexpr uint64_t kLimit = UINT64_MAX - (uint64_t{1} << 13);  // 2^64 - 2^13 - 1
    EXPECT_TRUE(usable_for_sending(keypair(true, kT0, kLimit - 1), kT0 + 1s));
    EXPECT_FALSE(usable_for_sending(keypair(true, kT0, kLimit), kT0 + 1s));
    EXPECT_TRUE(usable_for_sending(keypair(false), kT0 + 180s - kTick));
    EXPECT_FALSE(usable_for_sending(keypair(false), kT0 + 180s));
}

TEST(RekeyTest, UsableForReceivingUntilEitherLimit) {
    constexpr uint64_t kLimit = UINT64_MAX - (uint64_t{1} << 13);
    EXPECT_TRUE(usable_for_receiving(keypair(false), kLimit - 1, kT0 + 1s));
    EXPECT_FALSE(usable_for_receiving(keypair(false), kLimit, kT0 + 1s));
    EXPECT_TRUE(usable_for_receiving(keypair(false), 0, kT0 + 180s - kTick));
    EXPECT_FALSE(usable_for_receiving(keypair(false), 0, kT0 + 180s));
}

TEST(RekeyTest, ResponderSendsDataOnlyAfterKeyConfirmation) {
    KeypairTiming responder = keypair(false);
    EXPECT_FALSE(may_send_data(responder, kT0 + 1s));
    responder.received_any = true;
    EXPECT_TRUE(may_send_data(responder, kT0 + 1s));
    EXPECT_FALSE(may_send_data(responder, kT0 + 180s));

    const KeypairTiming initiator = keypair(true);
    EXPECT_TRUE(may_send_data(initiator, kT0 + 1s));
    EXPECT_FALSE(may_send_data(initiator, kT0 + 180s));
}

TEST_F(Timers, KeepKeyFreshAfterSendAsksWhenDue) {
    EXPECT_EQ(timers.keep_key_fresh_after_send(kT0 + 119s, keypair(true)), kNone);
    EXPECT_EQ(timers.keep_key_fresh_after_send(kT0 + 120s, keypair(false)), kNone);
    EXPECT_EQ(timers.keep_key_fresh_after_send(kT0 + 120s, keypair(true)),
              TimerActions(TimerAction::send_initiation));
    // Every later send asks again, but the rate limit holds it back.
    EXPECT_EQ(timers.keep_key_fresh_after_send(kT0 + 121s, keypair(true)), kNone);
}

TEST_F(Timers, KeepKeyFreshAfterReceiveAsksOncePerHandshake) {
    EXPECT_EQ(timers.keep_key_fresh_after_receive(kT0 + 165s - kTick, keypair(true)), kNone);
    EXPECT_EQ(timers.keep_key_fresh_after_receive(kT0 + 165s, keypair(false)), kNone);
    ASSERT_EQ(timers.keep_key_fresh_after_receive(kT0 + 165s, keypair(true)),
              TimerActions(TimerAction::send_initiation));
    send_initiation(kT0 + 165s);
    // Past the rate limit, yet no second request: it asked once already.
    EXPECT_EQ(timers.keep_key_fresh_after_receive(kT0 + 171s, keypair(true)), kNone);
    EXPECT_EQ(timers.handshake_attempts(), 1u);  // did not reset the count either
    timers.handshake_complete(kT0 + 172s);
    EXPECT_EQ(timers.keep_key_fresh_after_receive(kT0 + 173s, keypair(true)),
              TimerActions(TimerAction::send_initiation));
}

// ---- next_deadline ------------------------------------------------------------

TEST_F(Timers, NextDeadlineIsTheEarliestArmedTimer) {
    timers.session_derived(kT0);  // wipe: kT0 + 540 s
    EXPECT_EQ(timers.next_deadline(), kT0 + 540s);
    (void)timers.set_persistent_keepalive(kT0, 25s);
    timers.any_authenticated_packet_traversal(kT0);  // persistent: kT0 + 25 s
    EXPECT_EQ(timers.next_deadline(), kT0 + 25s);
    send_data(kT0 + 1s);  // new handshake: kT0 + 16 s; persistent: kT0 + 26 s
    EXPECT_EQ(timers.next_deadline(), kT0 + 16s);
    receive_data(kT0 + 2s);  // cancels new handshake; keepalive kT0 + 12 s; persistent kT0 + 27 s
    EXPECT_EQ(timers.next_deadline(), kT0 + 12s);
    send_initiation(kT0 + 3s);  // cancels keepalive; retransmit kT0 + 8 s; persistent kT0 + 28 s
    EXPECT_EQ(timers.next_deadline(), kT0 + 8s);
    timers.handshake_complete(kT0 + 4s);  // cancels retransmit
    EXPECT_EQ(timers.next_deadline(), kT0 + 28s);
    EXPECT_EQ(timers.set_persistent_keepalive(kT0 + 5s, 0s), kNone);
    EXPECT_EQ(timers.next_deadline(), kT0 + 540s);
}

TEST_F(Timers, LatePollFiresEveryDueTimerOnce) {
    receive_data(kT0);
    timers.session_derived(kT0);
    EXPECT_EQ(timers.poll(kT0 + 1000s), TimerAction::send_keepalive | TimerAction::zero_keys);
    EXPECT_EQ(timers.next_deadline(), std::nullopt);
}

// Random events against invariants that hold whatever happens: nothing fires
// before next_deadline(), something is consumed at it, and no two initiations
// go out within REKEY_TIMEOUT.
TEST_F(Timers, RandomEventsKeepTheInvariants) {
    std::mt19937 rng(20240611);
    std::uniform_int_distribution<int> jitter_ms(0, 333);
    std::uniform_int_distribution<int> event(0, 11);
    std::uniform_int_distribution<int> step_ms(1, 4000);
    std::vector<Time> initiations;
    Time now = kT0;
    auto carry_out = [&](TimerActions a, Time at) {
        if (a.has(TimerAction::send_initiation)) {
            initiations.push_back(at);
            send_initiation(at);
        }
        if (a.has(TimerAction::send_keepalive)) send_keepalive(at);
    };
    for (int i = 0; i < 20000; ++i) {
        jitter_value = milliseconds{jitter_ms(rng)};
        const Time next_event = now + milliseconds{step_ms(rng)};
        // Fire every deadline up to the next event, checking each one.
        while (auto d = timers.next_deadline()) {
            if (*d > next_event) break;
            ASSERT_GE(*d, now) << "deadline in the past at step " << i;
            ASSERT_EQ(timers.poll(*d - kTick), kNone) << "fired early at step " << i;
            ASSERT_EQ(timers.next_deadline(), d);
            const TimerActions a = timers.poll(*d);
            const auto after = timers.next_deadline();
            ASSERT_TRUE(!after || *after > *d) << "deadline not consumed at step " << i;
            now = *d;
            carry_out(a, now);
        }
        now = next_event;
        switch (event(rng)) {
            case 0:
                send_data(now);
                break;
            case 1:
                receive_data(now);
                break;
            case 2:
                timers.any_authenticated_packet_received(now);
                break;
            case 3:
                carry_out(timers.send_without_key(now), now);
                break;
            case 4:
                timers.handshake_complete(now);
                break;
            case 5:
                timers.session_derived(now);
                break;
            case 6:
                timers.handshake_response_sent(now);
                break;
            case 7:
                carry_out(timers.set_persistent_keepalive(now, std::chrono::seconds{i % 4 * 7}),
                          now);
                break;
            case 8:
                carry_out(timers.keep_key_fresh_after_send(now, keypair(true, now - 130s)), now);
                break;
            case 9:
                carry_out(timers.keep_key_fresh_after_receive(now, keypair(true, now - 170s)), now);
                break;
            default:
                timers.any_authenticated_packet_traversal(now);
                break;
        }
    }
    ASSERT_GT(initiations.size(), 100u) << "the walk should exercise initiations";
    for (size_t i = 1; i < initiations.size(); ++i) {
        ASSERT_GE(initiations[i] - initiations[i - 1], 5s) << "initiation " << i;
    }
}

// ---- Stopping ---------------------------------------------------------------

TEST_F(Timers, StopCancelsEverythingAndIgnoresHooks) {
    (void)timers.set_persistent_keepalive(kT0, 25s);
    timers.session_derived(kT0);
    send_data(kT0);
    send_initiation(kT0);
    receive_data(kT0 + 1s);
    ASSERT_NE(timers.next_deadline(), std::nullopt);

    timers.stop();
    EXPECT_TRUE(timers.stopped());
    EXPECT_EQ(timers.next_deadline(), std::nullopt);
    EXPECT_EQ(timers.poll(kT0 + 10000s), kNone);

    receive_data(kT0 + 2s);
    send_data(kT0 + 2s);
    send_initiation(kT0 + 2s);
    timers.session_derived(kT0 + 2s);
    EXPECT_EQ(timers.send_without_key(kT0 + 2s), kNone);
    EXPECT_EQ(timers.next_deadline(), std::nullopt);

    // Back up: persistent keepalive resumes, and the rate limit starts afresh.
    EXPECT_EQ(timers.start(kT0 + 3s), TimerActions(TimerAction::send_keepalive));
    EXPECT_EQ(timers.send_without_key(kT0 + 3s), TimerActions(TimerAction::send_initiation));
}

}  // namespace
}  // namespace sluice
