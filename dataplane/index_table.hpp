// Receiver-index table: the 32-bit index we put in the sender_index field of
// our handshake messages, and that peers echo back as receiver_index in every
// reply and transport message, maps to whatever that message needs (a pending
// handshake or a keypair).
//
// Indices are random, as in the kernel module and wireguard-go: a sequential
// index would tell an observer how many sessions this gateway has set up and
// let an off-path sender guess live ones. They are drawn from an injectable
// source (getrandom(2) by default), redrawn if 0 or already live, so a peer
// can never reach another session's state by index.
//
// Storage: open addressing with linear probing in one power-of-two array,
// load factor at most 1/2, deletion by backward shift (no tombstones, so a
// table with heavy churn, which this is, never degrades). Chosen over
// std::unordered_map because a lookup, done for every transport packet, is
// then one multiply and usually one cache line, with no node per entry and no
// pointer chasing. Index 0 marks an empty slot, which is why 0 is never
// handed out. The slot array grows by doubling up to what max_entries needs
// (an allocation on insert, on the control thread only); lookups never
// allocate.
//
// Owner: the control thread inserts and removes. This class does no locking:
// lcores may only read an instance nobody is editing (a published copy, per
// DESIGN §3).
#pragma once

#include <sys/random.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "dataplane/wire.hpp"

namespace sluice {

// 32 random bits from the kernel's CSPRNG. Throws std::system_error if
// getrandom(2) itself fails (only on a kernel without it: nothing to recover).
inline uint32_t getrandom_u32() {
    uint32_t value = 0;
    auto* out = reinterpret_cast<unsigned char*>(&value);
    size_t got = 0;
    while (got < sizeof value) {
        const ssize_t n = ::getrandom(out + got, sizeof value - got, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw std::system_error(errno, std::generic_category(), "getrandom");
        }
        got += static_cast<size_t>(n);
    }
    return value;
}

template <typename Value>
class IndexTable {
    static_assert(std::is_default_constructible_v<Value>,
                  "empty slots hold a default-constructed Value");
    // Entries move when the array grows and when remove() closes a gap; a
    // move that could throw half-way would lose entries.
    static_assert(std::is_nothrow_move_assignable_v<Value>, "Value must move without throwing");

public:
    using Index = uint32_t;
    using RandomSource = std::function<uint32_t()>;

    // Current, previous and next keypair per peer, plus a pending handshake.
    static constexpr size_t kDefaultMaxEntries = wire::kMaxPeers * 3;
    // Draws before insert() gives up. With the table at most max_entries /
    // 2^32 full (< 0.1% by default), 64 collisions in a row only happen with
    // a broken source; failing then beats spinning for ever.
    static constexpr unsigned kMaxDraws = 64;

    explicit IndexTable(size_t max_entries = kDefaultMaxEntries,
                        RandomSource random = getrandom_u32)
        : max_entries_(std::min<size_t>(max_entries, kMaxAddressable)),
          random_(std::move(random)) {}

    // Stores `value` under a fresh random index and returns the index, or
    // nullopt if the table is full or the source kept returning 0 or live
    // indices. May throw std::bad_alloc (growth) or what the source throws.
    // Nodiscard: an entry whose index is lost can never be removed.
    [[nodiscard]] std::optional<Index> insert(Value value) {
        if (size_ >= max_entries_) return std::nullopt;
        if ((size_ + 1) * 2 > slots_.size()) grow();
        for (unsigned draw = 0; draw < kMaxDraws; ++draw) {
            const Index index = random_();
            if (index == kEmpty || contains(index)) continue;  // redraw
            size_t i = home(index);
            while (slots_[i].index != kEmpty) i = (i + 1) & mask_;
            slots_[i].index = index;
            slots_[i].value = std::move(value);
            ++size_;
            return index;
        }
        return std::nullopt;
    }

    // Stores `value` under an index chosen elsewhere: a published copy keyed
    // by the indices the control plane's own table handed out. false (and
    // nothing stored) for index 0, an index already present, or a full table.
    bool insert_at(Index index, Value value) {
        if (index == kEmpty || size_ >= max_entries_ || contains(index)) return false;
        if ((size_ + 1) * 2 > slots_.size()) grow();
        size_t i = home(index);
        while (slots_[i].index != kEmpty) i = (i + 1) & mask_;
        slots_[i].index = index;
        slots_[i].value = std::move(value);
        ++size_;
        return true;
    }

    // Removes the entry; returns whether it was there.
    bool remove(Index index) noexcept {
        const size_t found = find(index);
        if (found == kNotFound) return false;
        // Backward shift: pull every later entry of the same probe run whose
        // home lies at or before the hole into it, so a run has no gaps and
        // lookups can stop at the first empty slot.
        size_t hole = found;
        for (size_t j = (hole + 1) & mask_; slots_[j].index != kEmpty; j = (j + 1) & mask_) {
            const size_t from_home = (j - home(slots_[j].index)) & mask_;
            const size_t from_hole = (j - hole) & mask_;
            if (from_home >= from_hole) {
                slots_[hole] = std::move(slots_[j]);
                hole = j;
            }
        }
        slots_[hole].index = kEmpty;
        slots_[hole].value = Value{};  // drop what the entry held now, not at reuse
        --size_;
        return true;
    }

    // The value stored under `index`, or nullptr. Per packet: no allocation.
    [[nodiscard]] Value* lookup(Index index) noexcept {
        const size_t i = find(index);
        return i == kNotFound ? nullptr : &slots_[i].value;
    }
    [[nodiscard]] const Value* lookup(Index index) const noexcept {
        const size_t i = find(index);
        return i == kNotFound ? nullptr : &slots_[i].value;
    }
    [[nodiscard]] bool contains(Index index) const noexcept { return find(index) != kNotFound; }

    [[nodiscard]] size_t size() const noexcept { return size_; }
    [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
    [[nodiscard]] size_t max_entries() const noexcept { return max_entries_; }
    [[nodiscard]] bool full() const noexcept { return size_ >= max_entries_; }

    // Forgets every entry; keeps the slot array for reuse.
    void clear() noexcept {
        for (Slot& s : slots_) s = Slot{};
        size_ = 0;
    }

private:
    static constexpr Index kEmpty = 0;
    static constexpr size_t kNotFound = SIZE_MAX;
    // Slot positions come from the top bits of a 32-bit product, so at most
    // 2^32 slots; at load 1/2 that caps entries at 2^31.
    static constexpr size_t kMaxAddressable = size_t{1} << 31;

    struct Slot {
        Index index = kEmpty;
        Value value{};
    };

    // Fibonacci hashing: indices from getrandom are uniform already, but a
    // weak injected source (sequential, clustered) must not degrade probing.
    size_t home(Index index) const noexcept {
        return static_cast<uint32_t>(index * 0x9E3779B1u) >> shift_;
    }

    size_t find(Index index) const noexcept {
        if (index == kEmpty || size_ == 0) return kNotFound;
        for (size_t i = home(index);; i = (i + 1) & mask_) {
            if (slots_[i].index == index) return i;
            if (slots_[i].index == kEmpty) return kNotFound;  // load ≤ 1/2: an empty slot exists
        }
    }

    // Doubles the slot array (16 at first) and re-places every entry. The new
    // array is built aside, so an allocation failure leaves the table intact.
    void grow() {
        const size_t new_size = slots_.empty() ? 16 : slots_.size() * 2;
        std::vector<Slot> old(new_size);
        old.swap(slots_);
        mask_ = new_size - 1;
        shift_ = 32 - static_cast<unsigned>(std::countr_zero(new_size));
        for (Slot& s : old) {
            if (s.index == kEmpty) continue;
            size_t i = home(s.index);
            while (slots_[i].index != kEmpty) i = (i + 1) & mask_;
            slots_[i] = std::move(s);
        }
    }

    size_t max_entries_;
    RandomSource random_;
    std::vector<Slot> slots_;
    size_t mask_ = 0;
    unsigned shift_ = 32;
    size_t size_ = 0;
};

}  // namespace sluice
