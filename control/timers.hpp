// WireGuard's per-peer timer policy, as a pure state machine.
//
// Every decision about *when* something happens to a peer lives here and
// nowhere else: the packet path and the handshake code call the hooks below,
// named for what just happened, and carry out the actions they get back.
// There are no threads, no clock and no I/O: the caller passes the monotonic
// time `now` into every call, the jitter comes from an injected source, and
// next_deadline() says when poll() must be called again, so the control
// thread can sleep exactly until then.
//
// The timers (all one-shot; "arm" replaces an earlier deadline, "arm if idle"
// keeps a pending one):
//
//   retransmit_handshake  REKEY_TIMEOUT + jitter after an initiation went out.
//       armed by:    handshake_initiated
//       disarmed by: handshake_complete, stop
//       expiry:      if fewer than kMaxInitiationsPerAttempt initiations went
//                    out since the last fresh request: send_initiation (a retry)
//                    and clear_endpoint_source; otherwise handshake_gave_up,
//                    the send_keepalive timer is disarmed, and zero_key_material
//                    is armed if idle.
//
//   send_keepalive        KEEPALIVE_TIMEOUT after data was received (passive
//                         keepalive: the peer must hear from us even when we
//                         have nothing to say).
//       armed by:    data_received (if idle; if pending, one more keepalive is
//                    owed and goes out KEEPALIVE_TIMEOUT after this one)
//       disarmed by: any_authenticated_packet_sent, give-up, stop
//       expiry:      send_keepalive
//
//   new_handshake         KEEPALIVE_TIMEOUT + REKEY_TIMEOUT + jitter after data
//                         was sent: the peer owes us at least a keepalive by
//                         then, so silence means the session is broken.
//       armed by:    data_sent (if idle)
//       disarmed by: any_authenticated_packet_received, stop
//       expiry:      send_initiation (fresh, rate limited) and
//                    clear_endpoint_source
//
//   zero_key_material     3 * REJECT_AFTER_TIME after the last session was
//                         derived: nothing left can be used, so wipe it.
//       armed by:    session_derived (always, so each new session extends it);
//                    handshake give-up (if idle)
//       disarmed by: stop
//       expiry:      zero_keys
//
//   persistent_keepalive  N seconds after the last authenticated packet in
//                         either direction, if the operator set N > 0 (keeps
//                         NAT and firewall state alive).
//       armed by:    any_authenticated_packet_traversal (always, when N > 0)
//       disarmed by: set_persistent_keepalive(0), stop
//       expiry:      send_keepalive
//
// Handshake initiations are rate limited: none goes out within REKEY_TIMEOUT
// of the previous initiation or handshake response (WireGuard's
// last_sent_handshake). Requests that are not retries (no usable key, rekey
// wanted, new_handshake expiry) restart the attempt count, so a peer with
// traffic waiting keeps trying; only a silent one gives up.
//
// The caller's side of the contract: after carrying out send_initiation it
// calls handshake_initiated (and the two any_authenticated_packet hooks, as
// for every authenticated packet); after sending a keepalive it calls the same
// hooks as for any packet. A send_initiation the caller could not carry out
// (no private key, say) simply leaves no retransmit armed, as in the kernel.
//
// Ownership: one PeerTimers per peer, owned by the control thread and not
// thread-safe; lcores report their events to it over rings. The keypair
// predicates below are pure and may be called from anywhere.
//
// The control thread's loop, in outline:
//
//     for (;;) {
//         wait for ring events, until min(next_deadline() of all peers);
//         for each event: call the hook (data_received, ...) on that peer;
//         for each peer: carry_out(peer.timers.poll(now));
//     }
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "dataplane/wire.hpp"

namespace sluice {

// ---- Actions --------------------------------------------------------------

// What the caller must do after a hook or poll(). Several may come at once.
enum class TimerAction : uint8_t {
    // Create and send a handshake initiation now (the rate limit has already
    // been applied), then call handshake_initiated().
    send_initiation = 1u << 0,
    // Send a keepalive (an empty transport message) on the current keypair; if
    // there is none, stage it like any packet, which asks for a handshake.
    send_keepalive = 1u << 1,
    // Wipe the handshake state and every keypair of this peer.
    zero_keys = 1u << 2,
    // The handshake did not complete after all attempts: drop the packets
    // staged for this peer; no more retries until new traffic asks for one.
    handshake_gave_up = 1u << 3,
    // Forget the local source address used for this peer, in case it is why
    // nothing comes back (the next send picks one afresh). Callers that do not
    // pin a source address ignore it.
    clear_endpoint_source = 1u << 4,
};

// A small set of TimerAction.
class TimerActions {
public:
    constexpr TimerActions() noexcept = default;
    constexpr TimerActions(TimerAction a) noexcept : bits_(static_cast<uint8_t>(a)) {}

    constexpr bool has(TimerAction a) const noexcept {
        return (bits_ & static_cast<uint8_t>(a)) != 0;
    }
    constexpr bool empty() const noexcept { return bits_ == 0; }
    constexpr uint8_t bits() const noexcept { return bits_; }

    constexpr TimerActions& operator|=(TimerActions other) noexcept {
        bits_ |= other.bits_;
        return *this;
    }
    friend constexpr TimerActions operator|(TimerActions a, TimerActions b) noexcept {
        return a |= b;
    }
    friend constexpr bool operator==(TimerActions, TimerActions) noexcept = default;

private:
    uint8_t bits_ = 0;
};

constexpr TimerActions operator|(TimerAction a, TimerAction b) noexcept {
    return TimerActions(a) | TimerActions(b);
}

// "send_initiation|clear_endpoint_source", or "none": for logs and tests.
std::string to_string(TimerActions actions);

// ---- Pure keypair predicates ------------------------------------------------
//
// Cheap enough for the send and receive paths to ask per burst. They take the
// few facts that matter rather than a Keypair so that the policy does not
// depend on how the dataplane stores one.

struct KeypairTiming {
    // The next nonce the send side will use, i.e. messages sent so far.
    uint64_t send_counter = 0;
    // When the handshake that made the keypair completed (same clock as `now`).
    std::chrono::nanoseconds birth{0};
    // We sent the initiation that made this keypair.
    bool we_initiated = false;
    // At least one transport message was received and authenticated on it:
    // for a responder that is the initiator's key confirmation.
    bool received_any = false;
    // REKEY_AFTER_TIME. Only tests shorten it (the configuration's
    // testing.rekey_after_seconds), to see many rekeys in a short run.
    std::chrono::nanoseconds rekey_after_time = wire::kRekeyAfterTime;
};

constexpr std::chrono::nanoseconds keypair_age(const KeypairTiming& kp,
                                               std::chrono::nanoseconds now) noexcept {
    return now - kp.birth;
}

// The keypair may still encrypt: below the nonce limit and younger than
// REJECT_AFTER_TIME. Past either, sending must stop and a handshake is needed.
constexpr bool usable_for_sending(const KeypairTiming& kp, std::chrono::nanoseconds now) noexcept {
    return kp.send_counter < wire::kRejectAfterMessages &&
           keypair_age(kp, now) < wire::kRejectAfterTime;
}

// The keypair may still decrypt a message carrying `counter`.
constexpr bool usable_for_receiving(const KeypairTiming& kp, uint64_t counter,
                                    std::chrono::nanoseconds now) noexcept {
    return counter < wire::kRejectAfterMessages && keypair_age(kp, now) < wire::kRejectAfterTime;
}

// Data may go out on this keypair now. A responder must wait for the first
// message from the initiator on it: until then the initiator may not have the
// keypair at all (the response may be lost), and data sent on it would be
// undecryptable.
constexpr bool may_send_data(const KeypairTiming& kp, std::chrono::nanoseconds now) noexcept {
    return usable_for_sending(kp, now) && (kp.we_initiated || kp.received_any);
}

// After sending on the current keypair: time for a new handshake? Only the
// initiator rekeys on age, so the two sides do not both initiate at 120 s; by
// message count either side may, since only the sender knows its counter.
constexpr bool rekey_on_send(const KeypairTiming& kp, std::chrono::nanoseconds now) noexcept {
    return kp.send_counter > wire::kRekeyAfterMessages ||
           (kp.we_initiated && keypair_age(kp, now) >= kp.rekey_after_time);
}

// After receiving on the current keypair: the initiator's last chance to rekey
// before REJECT_AFTER_TIME kills the session, should its send-side rekey at
// REKEY_AFTER_TIME have been missed (it only sends keepalives, say). The margin
// leaves time for one keepalive round and one handshake retry.
inline constexpr std::chrono::nanoseconds kRekeyOnReceiveAge =
    wire::kRejectAfterTime - wire::kKeepaliveTimeout - wire::kRekeyTimeout;

constexpr bool rekey_on_receive(const KeypairTiming& kp, std::chrono::nanoseconds now) noexcept {
    return kp.we_initiated && keypair_age(kp, now) >= kRekeyOnReceiveAge;
}

// ---- The per-peer state machine -------------------------------------------

// Initiations sent for one handshake attempt before giving up: 18, i.e.
// REKEY_ATTEMPT_TIME of retrying at REKEY_TIMEOUT intervals. (The kernel
// compares with `>` and so sends 20 over about 100 s; the whitepaper and the
// constant's name say 90 s, which is what this does.)
inline constexpr unsigned kMaxInitiationsPerAttempt = wire::kMaxTimerHandshakes;

// Returns a jitter in [0, wire::kRekeyTimeoutJitterMax). Values outside are
// clamped into that range. Called only when a jittered timer is armed.
using JitterSource = std::function<std::chrono::milliseconds()>;

class PeerTimers {
public:
    using Time = std::chrono::nanoseconds;  // monotonic, arbitrary epoch

    explicit PeerTimers(JitterSource jitter);

    // ---- Hooks: called by the packet path and the handshake code ----------

    // A transport message with a non-empty payload went out.
    void data_sent(Time now);
    // A transport message with a non-empty payload was received and authenticated.
    void data_received(Time now);
    // Any authenticated message went out: data, keepalive, initiation, response.
    void any_authenticated_packet_sent(Time now);
    // Any authenticated message came in: data, keepalive, initiation, response.
    void any_authenticated_packet_received(Time now);
    // Before an authenticated message goes out, or after one came in.
    void any_authenticated_packet_traversal(Time now);
    // A handshake initiation went out.
    void handshake_initiated(Time now);
    // A handshake response went out (counts against the initiation rate limit,
    // so that both sides do not initiate at once right after a handshake).
    void handshake_response_sent(Time now);
    // The initiator processed a response, or the responder received the first
    // data on the new keypair (key confirmation).
    void handshake_complete(Time now);
    // New session keys exist: before sending a response, after receiving one.
    void session_derived(Time now);

    // Sets the persistent keepalive interval; 0 turns it off. Turning it on
    // from off asks for a keepalive right away, as wg(8) users expect.
    [[nodiscard]] TimerActions set_persistent_keepalive(Time now, std::chrono::seconds interval);

    // ---- Requests for a handshake -------------------------------------------

    // A packet is waiting to go out and there is no usable keypair.
    [[nodiscard]] TimerActions send_without_key(Time now);
    // After sending on the current keypair: rekey if rekey_on_send() says so.
    [[nodiscard]] TimerActions keep_key_fresh_after_send(Time now, const KeypairTiming& current);
    // After receiving on the current keypair: rekey if rekey_on_receive() says
    // so, once per handshake (every received packet would otherwise ask again).
    [[nodiscard]] TimerActions keep_key_fresh_after_receive(Time now, const KeypairTiming& current);

    // ---- Time -----------------------------------------------------------------

    // Fires every timer whose deadline is <= now, earliest first.
    [[nodiscard]] TimerActions poll(Time now);
    // The earliest armed deadline; nullopt when nothing is armed.
    std::optional<Time> next_deadline() const noexcept;

    // ---- Life cycle -----------------------------------------------------------

    // Peer removed or interface down: cancels every timer and ignores hooks
    // until start(). Forgets the rate limit and attempt count, so a restarted
    // peer may initiate at once.
    void stop() noexcept;
    // Interface up again. Asks for a keepalive if persistent keepalive is on.
    [[nodiscard]] TimerActions start(Time now);
    bool stopped() const noexcept { return stopped_; }

    // ---- Introspection (sluicectl, tests) -----------------------------------

    // Initiations sent in the current attempt.
    unsigned handshake_attempts() const noexcept { return attempts_; }
    std::chrono::seconds persistent_keepalive() const noexcept { return persistent_interval_; }

private:
    // Scoped: the names would otherwise clash with the hooks and actions.
    enum class Timer : unsigned {
        retransmit_handshake,
        send_keepalive,
        new_handshake,
        zero_key_material,
        persistent_keepalive,
    };
    static constexpr unsigned kTimerCount = 5;
    static_assert(static_cast<unsigned>(Timer::persistent_keepalive) + 1 == kTimerCount);

    std::optional<Time>& deadline(Timer t) noexcept { return deadlines_[static_cast<unsigned>(t)]; }
    const std::optional<Time>& deadline(Timer t) const noexcept {
        return deadlines_[static_cast<unsigned>(t)];
    }
    void arm(Timer t, Time at) noexcept { deadline(t) = at; }
    void arm_if_idle(Timer t, Time at) noexcept {
        if (!deadline(t)) deadline(t) = at;
    }
    void disarm(Timer t) noexcept { deadline(t).reset(); }
    bool armed(Timer t) const noexcept { return deadline(t).has_value(); }
    Time jitter();

    // WireGuard's send_queued_handshake_initiation: a retry keeps the attempt
    // count, anything else restarts it; either way subject to the rate limit.
    TimerActions request_initiation(Time now, bool is_retry);
    TimerActions expire(Timer t, Time now);

    JitterSource jitter_;
    std::array<std::optional<Time>, kTimerCount> deadlines_{};
    bool stopped_ = false;

    // When the last initiation or response went out; nullopt: never (or
    // since stop), so an initiation may go out at once.
    std::optional<Time> last_handshake_sent_;
    unsigned attempts_ = 0;
    // Set once keep_key_fresh_after_receive has asked for a handshake; cleared
    // when one completes, so that every received packet does not ask again.
    bool sent_lastminute_handshake_ = false;

    // Data arrived while the keepalive timer was pending: one more keepalive
    // is owed after the pending one.
    bool need_another_keepalive_ = false;
    // The keepalive timer fired owing another: the follow-up is armed when the
    // keepalive actually goes out (any_authenticated_packet_sent), not at
    // expiry, or the send hook of that very keepalive would cancel it.
    bool keepalive_follow_up_ = false;

    std::chrono::seconds persistent_interval_{0};
};

}  // namespace sluice
