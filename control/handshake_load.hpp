// Handshake admission under load: when the control thread lets a handshake
// message reach the handshake worker, and what it does with the rest.
//
// Handshake messages (initiations and responses; cookie replies carry no
// macs and go straight to the peer's CookieJar) come up from the lcores over
// rings. For each one the control thread, in this order:
//
//   1. observes the worker queue's depth: at kUnderLoadQueueThreshold or
//      deeper we are "under load", and stay so until kUnderLoadAfterTime has
//      passed without such a depth (LoadDetector). Done before the mac check,
//      as in the kernel, because the depth says how busy the worker is
//      whatever this one message turns out to be.
//   2. checks mac1 (CookieChecker::check): without a valid one the message is
//      not for us, or forged; drop it silently (invalid_mac1).
//   3. not under load: admit. A DH per message is affordable while the
//      worker keeps up, so no cookie round trip and no rate limit is imposed.
//   4. under load, no valid mac2: send a cookie reply instead of a handshake
//      (CookieChecker::make_reply). Costs one MAC and one XAEAD, no DH, and
//      the sender needs to receive at its source address to use the cookie,
//      so spoofed sources can go no further.
//   5. under load, valid mac2: the per-source rate limiter (ratelimiter.hpp),
//      keyed by the now-proven source address. Over the rate: drop.
//   6. admit: push onto the bounded worker queue (HandshakeQueue); full means
//      a counted drop and nothing else, never a wait.
//   7. the handshake worker pops messages and does the Noise work (the DH).
//
// HandshakeGate::decide() is steps 1 to 5 as one pure decision; the caller
// carries out the verdict and does step 6. Time is injected as a monotonic
// std::chrono::nanoseconds (any epoch), as everywhere in control/.
//
// Owner: the control thread. None of these classes is thread-safe; should the
// worker get a thread of its own, the queue becomes an SPSC ring with the same
// bound and its depth feeds the same LoadDetector.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "control/cookie.hpp"  // MacCheck
#include "control/ratelimiter.hpp"
#include "dataplane/ip_prefix.hpp"
#include "dataplane/wire.hpp"

namespace sluice {

// ---- Under-load detection ---------------------------------------------------

// WireGuard's rule: under load while the handshake queue is at least
// kUnderLoadQueueThreshold deep, and for kUnderLoadAfterTime after the last
// time it was. The hold-off keeps cookies on across the gaps of a bursty
// flood instead of flapping with every drained batch.
class LoadDetector {
public:
    using Time = std::chrono::nanoseconds;

    // One observation of the queue depth. Returns whether we are under load.
    [[nodiscard]] bool under_load(size_t queue_depth, Time now) noexcept;

    // Whether the last observation still holds at `now`, without making a new
    // one: for reports and counters.
    [[nodiscard]] bool still_under_load(Time now) const noexcept;

private:
    std::optional<Time> last_overloaded_;  // last time the depth reached the threshold
};

// ---- The worker queue ---------------------------------------------------------

// A bounded FIFO, storage allocated once: push() past capacity refuses and
// counts, so a flood costs a counter increment and no memory.
template <typename T>
class HandshakeQueue {
    static_assert(std::is_default_constructible_v<T>, "empty cells hold a default T");
    static_assert(std::is_nothrow_move_assignable_v<T>, "a move must not fail half-way");

public:
    // capacity is at least 1.
    explicit HandshakeQueue(size_t capacity = wire::kMaxQueuedHandshakes)
        : cells_(capacity == 0 ? 1 : capacity) {}

    // false, and dropped() goes up, when the queue is full.
    [[nodiscard]] bool push(T item) noexcept {
        if (size_ == cells_.size()) {
            ++dropped_;
            return false;
        }
        cells_[(head_ + size_) % cells_.size()] = std::move(item);
        ++size_;
        return true;
    }

    [[nodiscard]] std::optional<T> pop() noexcept(kNothrowPop) {
        if (size_ == 0) return std::nullopt;
        // Leave a default T behind so the cell holds nothing of the message.
        std::optional<T> item{std::exchange(cells_[head_], T{})};
        head_ = (head_ + 1) % cells_.size();
        --size_;
        return item;
    }

    [[nodiscard]] size_t size() const noexcept { return size_; }
    [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
    [[nodiscard]] size_t capacity() const noexcept { return cells_.size(); }
    // Messages refused because the queue was full, since construction.
    [[nodiscard]] uint64_t dropped() const noexcept { return dropped_; }

private:
    static constexpr bool kNothrowPop =
        std::is_nothrow_move_constructible_v<T> && std::is_nothrow_default_constructible_v<T>;

    std::vector<T> cells_;
    size_t head_ = 0;
    size_t size_ = 0;
    uint64_t dropped_ = 0;
};

// ---- The decision -------------------------------------------------------------

enum class HandshakeVerdict : uint8_t {
    drop_invalid_mac1,  // not for us, or forged: drop silently
    send_cookie_reply,  // under load and no valid mac2: reply with a cookie, no DH
    drop_rate_limited,  // under load, valid mac2, source over its rate: drop
    admit,              // push onto the worker queue
};

// "send_cookie_reply": for logs and test failures.
[[nodiscard]] const char* to_string(HandshakeVerdict verdict) noexcept;

struct HandshakeGateCounters {
    uint64_t invalid_mac1 = 0;
    uint64_t cookie_replies = 0;
    uint64_t rate_limited = 0;
    uint64_t admitted = 0;
    uint64_t admitted_under_load = 0;  // of admitted: with a valid mac2, within the rate
};

class HandshakeGate {
public:
    using Time = std::chrono::nanoseconds;

    explicit HandshakeGate(Ratelimiter limiter = Ratelimiter{}) noexcept
        : limiter_(std::move(limiter)) {}

    // Steps 1 to 5 of the flow at the top of this file for one handshake
    // message: `mac` is what CookieChecker::check said of it, `source` its
    // sender's address, `queue_depth` the worker queue's size now.
    [[nodiscard]] HandshakeVerdict decide(MacCheck mac, const IpAddress& source, size_t queue_depth,
                                          Time now) noexcept;

    // For the control thread's housekeeping tick.
    void collect_idle_sources(Time now) noexcept { limiter_.gc(now); }

    [[nodiscard]] bool under_load(Time now) const noexcept { return load_.still_under_load(now); }
    [[nodiscard]] const HandshakeGateCounters& counters() const noexcept { return counters_; }
    [[nodiscard]] const Ratelimiter& ratelimiter() const noexcept { return limiter_; }

private:
    LoadDetector load_;
    Ratelimiter limiter_;
    HandshakeGateCounters counters_;
};

}  // namespace sluice
