// Anti-replay window for transport counters, in the RFC 6479 layout.
//
// A ring of 64-bit words holds one bit per counter. When a newer counter
// arrives the window slides by whole words: the words it passes over are
// cleared, never shifted, so an advance costs at most one pass over the ring.
// One word is always the partially-filled "current" word, which is why 8192
// bits give 8128 usable counters behind the newest one.
//
// Owner: the lcore that owns the receive side of a keypair; not thread-safe.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>

#include "dataplane/wire.hpp"

namespace sluice {

class ReplayWindow {
public:
    static constexpr unsigned kWords = wire::kReplayWindowBits / wire::kReplayWordBits;
    static_assert((kWords & (kWords - 1)) == 0, "ring size must be a power of two");

    // Cheap pre-check before decryption: false means the counter is surely a
    // replay, too old or past REJECT_AFTER_MESSAGES. True does not record it.
    [[nodiscard]] bool may_accept(uint64_t counter) const noexcept {
        if (counter >= wire::kRejectAfterMessages) return false;
        const uint64_t pos = counter + 1;  // position 0 means "nothing seen yet"
        if (pos > newest_) return true;
        if (newest_ - pos >= wire::kReplayWindowUsable) return false;
        return (ring_[word_of(pos)] & bit_of(pos)) == 0;
    }

    // Call only after the packet authenticated. Returns true and records the
    // counter if it was fresh; false for a replay, a counter too far behind,
    // or one at or past REJECT_AFTER_MESSAGES.
    [[nodiscard]] bool check_and_update(uint64_t counter) noexcept {
        if (counter >= wire::kRejectAfterMessages) return false;
        const uint64_t pos = counter + 1;
        if (pos > newest_) {
            const uint64_t new_word = pos / wire::kReplayWordBits;
            const uint64_t cur_word = newest_ / wire::kReplayWordBits;
            const uint64_t advance = std::min<uint64_t>(new_word - cur_word, kWords);
            for (uint64_t i = 1; i <= advance; ++i) ring_[(cur_word + i) & (kWords - 1)] = 0;
            newest_ = pos;
        } else if (newest_ - pos >= wire::kReplayWindowUsable) {
            return false;
        }
        uint64_t& word = ring_[word_of(pos)];
        const uint64_t bit = bit_of(pos);
        if (word & bit) return false;
        word |= bit;
        return true;
    }

    // Highest counter accepted so far plus one (0: none yet).
    [[nodiscard]] uint64_t next_expected() const noexcept { return newest_; }

    void reset() noexcept {
        newest_ = 0;
        ring_.fill(0);
    }

private:
    static constexpr uint64_t word_of(uint64_t pos) noexcept {
        return (pos / wire::kReplayWordBits) & (kWords - 1);
    }
    static constexpr uint64_t bit_of(uint64_t pos) noexcept {
        return uint64_t{1} << (pos % wire::kReplayWordBits);
    }

    uint64_t newest_ = 0;  // newest accepted counter + 1
    std::array<uint64_t, kWords> ring_{};
};

}  // namespace sluice
