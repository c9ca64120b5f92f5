// WireGuard's per-peer timer policy. The list of timers, what arms and what
// disarms each, is at the top of timers.hpp.
#include "control/timers.hpp"

#include <algorithm>
#include <utility>

namespace sluice {

namespace {

using std::chrono::milliseconds;

struct ActionName {
    TimerAction action;
    const char* name;
};
constexpr ActionName kActionNames[] = {
    {TimerAction::send_initiation, "send_initiation"},
    {TimerAction::send_keepalive, "send_keepalive"},
    {TimerAction::zero_keys, "zero_keys"},
    {TimerAction::handshake_gave_up, "handshake_gave_up"},
    {TimerAction::clear_endpoint_source, "clear_endpoint_source"},
};

}  // namespace

std::string to_string(TimerActions actions) {
    std::string out;
    for (const auto& [action, name] : kActionNames) {
        if (!actions.has(action)) continue;
        if (!out.empty()) out += '|';
        out += name;
    }
    return out.empty() ? "none" : out;
}

PeerTimers::PeerTimers(JitterSource jitter) : jitter_(std::move(jitter)) {}

PeerTimers::Time PeerTimers::jitter() {
    // A source that strays out of range must not stretch or shrink the
    // protocol's timeouts, so clamp rather than trust it.
    const milliseconds j = jitter_ ? jitter_() : milliseconds{0};
    return std::clamp(j, milliseconds{0}, wire::kRekeyTimeoutJitterMax - milliseconds{1});
}

// ---- Hooks -------------------------------------------------------------------

void PeerTimers::data_sent(Time now) {
    if (stopped_) return;
    // "If idle": the deadline counts from the first unanswered send, not the
    // latest, or a steady sender would push it out forever.
    if (!armed(Timer::new_handshake)) {
        arm(Timer::new_handshake, now + wire::kKeepaliveTimeout + wire::kRekeyTimeout + jitter());
    }
}

void PeerTimers::data_received(Time now) {
    if (stopped_) return;
    if (armed(Timer::send_keepalive) || keepalive_follow_up_) {
        need_another_keepalive_ = true;
    } else {
        arm(Timer::send_keepalive, now + wire::kKeepaliveTimeout);
    }
}

void PeerTimers::any_authenticated_packet_sent(Time now) {
    if (stopped_) return;
    // Whatever we sent tells the peer we are alive, which is all a passive
    // keepalive would have said; that includes what data arrived before it, so
    // no further keepalive is owed for that data either. (The kernel keeps the
    // "owed" flag here, which can produce one redundant keepalive later.)
    disarm(Timer::send_keepalive);
    need_another_keepalive_ = false;
    if (keepalive_follow_up_) {
        // This is the keepalive that poll() asked for while another was owed.
        keepalive_follow_up_ = false;
        arm(Timer::send_keepalive, now + wire::kKeepaliveTimeout);
    }
}

void PeerTimers::any_authenticated_packet_received(Time /*now*/) {
    if (stopped_) return;
    disarm(Timer::new_handshake);
}

void PeerTimers::any_authenticated_packet_traversal(Time now) {
    if (stopped_) return;
    if (persistent_interval_ > std::chrono::seconds{0}) {
        arm(Timer::persistent_keepalive, now + persistent_interval_);
    }
}

void PeerTimers::handshake_initiated(Time now) {
    if (stopped_) return;
    last_handshake_sent_ = now;
    ++attempts_;
    arm(Timer::retransmit_handshake, now + wire::kRekeyTimeout + jitter());
}

void PeerTimers::handshake_response_sent(Time now) {
    if (stopped_) return;
    last_handshake_sent_ = now;
}

void PeerTimers::handshake_complete(Time /*now*/) {
    if (stopped_) return;
    disarm(Timer::retransmit_handshake);
    attempts_ = 0;
    sent_lastminute_handshake_ = false;
}

void PeerTimers::session_derived(Time now) {
    if (stopped_) return;
    // Always re-armed: the wipe is due 3 * REJECT_AFTER_TIME after the newest
    // session, since older ones are useless by then anyway.
    arm(Timer::zero_key_material, now + wire::kKeyZeroingAfter);
}

TimerActions PeerTimers::set_persistent_keepalive(Time /*now*/, std::chrono::seconds interval) {
    interval = std::max(interval, std::chrono::seconds{0});
    const bool turned_on =
        persistent_interval_ == std::chrono::seconds{0} && interval > std::chrono::seconds{0};
    persistent_interval_ = interval;
    if (interval == std::chrono::seconds{0}) {
        disarm(Timer::persistent_keepalive);
        return {};
    }
    // A changed but still non-zero interval takes effect at the next
    // traversal, as in the kernel; turning it on sends at once so that NAT
    // state is opened without waiting for traffic.
    if (turned_on && !stopped_) return TimerAction::send_keepalive;
    return {};
}

// ---- Requests for a handshake ----------------------------------------------

TimerActions PeerTimers::request_initiation(Time now, bool is_retry) {
    if (stopped_) return {};
    if (!is_retry) attempts_ = 0;
    if (last_handshake_sent_ && now - *last_handshake_sent_ < wire::kRekeyTimeout) return {};
    // Counted from the decision, not only from handshake_initiated(): should
    // the caller fail to build the initiation, it must still not ask again
    // within REKEY_TIMEOUT.
    last_handshake_sent_ = now;
    return TimerAction::send_initiation;
}

TimerActions PeerTimers::send_without_key(Time now) {
    return request_initiation(now, false);
}

TimerActions PeerTimers::keep_key_fresh_after_send(Time now, const KeypairTiming& current) {
    if (!rekey_on_send(current, now)) return {};
    return request_initiation(now, false);
}

TimerActions PeerTimers::keep_key_fresh_after_receive(Time now, const KeypairTiming& current) {
    if (stopped_ || sent_lastminute_handshake_ || !rekey_on_receive(current, now)) return {};
    // Set even when the rate limit holds the initiation back: a retry or the
    // send path will carry on from here, and the receive path must not keep
    // resetting the attempt count with every packet.
    sent_lastminute_handshake_ = true;
    return request_initiation(now, false);
}

// ---- Time ----------------------------------------------------------------------

TimerActions PeerTimers::expire(Timer t, Time now) {
    switch (t) {
        case Timer::retransmit_handshake:
            if (attempts_ >= kMaxInitiationsPerAttempt) {
                // Stop trying until new traffic asks again; whatever we owed
                // the peer as a keepalive cannot go out without a session.
                disarm(Timer::send_keepalive);
                need_another_keepalive_ = false;
                keepalive_follow_up_ = false;
                // Wipe the residue of the half-finished exchange eventually,
                // unless a live session already has the wipe scheduled.
                arm_if_idle(Timer::zero_key_material, now + wire::kKeyZeroingAfter);
                return TimerAction::handshake_gave_up;
            }
            // Not re-armed here: handshake_initiated() does that once the
            // retry is out. If the rate limit holds it back (we sent a
            // response meanwhile), nothing is re-armed, as in the kernel: that
            // response's session confirms itself or new traffic asks again.
            return request_initiation(now, true) | TimerAction::clear_endpoint_source;

        case Timer::send_keepalive:
            if (need_another_keepalive_) {
                need_another_keepalive_ = false;
                keepalive_follow_up_ = true;
            }
            return TimerAction::send_keepalive;

        case Timer::new_handshake:
            return request_initiation(now, false) | TimerAction::clear_endpoint_source;

        case Timer::zero_key_material:
            return TimerAction::zero_keys;

        case Timer::persistent_keepalive:
            if (persistent_interval_ > std::chrono::seconds{0}) return TimerAction::send_keepalive;
            return {};
    }
    return {};
}

TimerActions PeerTimers::poll(Time now) {
    // Nothing is armed while stopped: stop() clears every deadline and every
    // hook that arms one checks stopped_ first.
    TimerActions actions;
    // Earliest first, one at a time, because an expiry may disarm another
    // timer that is also due (giving up cancels the keepalive). Every re-arm
    // lies strictly after `now`, so this ends.
    for (;;) {
        std::optional<Timer> due;
        for (unsigned i = 0; i < kTimerCount; ++i) {
            const auto t = static_cast<Timer>(i);
            if (deadline(t) && *deadline(t) <= now && (!due || *deadline(t) < *deadline(*due))) {
                due = t;
            }
        }
        if (!due) return actions;
        disarm(*due);
        actions |= expire(*due, now);
    }
}

std::optional<PeerTimers::Time> PeerTimers::next_deadline() const noexcept {
    std::optional<Time> earliest;
    for (const auto& d : deadlines_) {
        if (d && (!earliest || *d < *earliest)) earliest = d;
    }
    return earliest;
}

// ---- Life cycle ------------------------------------------------------------------

void PeerTimers::stop() noexcept {
    for (auto& d : deadlines_) d.reset();
    stopped_ = true;
    last_handshake_sent_.reset();
    attempts_ = 0;
    sent_lastminute_handshake_ = false;
    need_another_keepalive_ = false;
    keepalive_follow_up_ = false;
}

TimerActions PeerTimers::start(Time /*now*/) {
    stopped_ = false;
    if (persistent_interval_ > std::chrono::seconds{0}) return TimerAction::send_keepalive;
    return {};
}

}  // namespace sluice
