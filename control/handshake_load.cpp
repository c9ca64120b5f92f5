// Handshake admission under load. The decision flow the control thread
// follows for every handshake message is at the top of handshake_load.hpp.
#include "control/handshake_load.hpp"

namespace sluice {

bool LoadDetector::under_load(size_t queue_depth, Time now) noexcept {
    if (queue_depth >= wire::kUnderLoadQueueThreshold) {
        last_overloaded_ = now;
        return true;
    }
    return still_under_load(now);
}

bool LoadDetector::still_under_load(Time now) const noexcept {
    // Off at exactly kUnderLoadAfterTime after the last overload, as in the
    // kernel (wg_birthdate_has_expired) and wireguard-go (underLoadUntil).
    return last_overloaded_ && now < *last_overloaded_ + wire::kUnderLoadAfterTime;
}

const char* to_string(HandshakeVerdict verdict) noexcept {
    switch (verdict) {
        case HandshakeVerdict::drop_invalid_mac1:
            return "drop_invalid_mac1";
        case HandshakeVerdict::send_cookie_reply:
            return "send_cookie_reply";
        case HandshakeVerdict::drop_rate_limited:
            return "drop_rate_limited";
        case HandshakeVerdict::admit:
            return "admit";
    }
    return "unknown";
}

HandshakeVerdict HandshakeGate::decide(MacCheck mac, const IpAddress& source, size_t queue_depth,
                                       Time now) noexcept {
    const bool loaded = load_.under_load(queue_depth, now);

    if (mac == MacCheck::invalid_mac1) {
        ++counters_.invalid_mac1;
        return HandshakeVerdict::drop_invalid_mac1;
    }
    if (!loaded) {
        ++counters_.admitted;
        return HandshakeVerdict::admit;
    }
    if (mac != MacCheck::valid_mac2) {
        ++counters_.cookie_replies;
        return HandshakeVerdict::send_cookie_reply;
    }
    if (!limiter_.allow(source, now)) {
        ++counters_.rate_limited;
        return HandshakeVerdict::drop_rate_limited;
    }
    ++counters_.admitted;
    ++counters_.admitted_under_load;
    return HandshakeVerdict::admit;
}

}  // namespace sluice
