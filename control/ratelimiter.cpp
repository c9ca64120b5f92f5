// Per-source handshake token buckets. The policy (what a source is, the
// bucket, what happens when the table is full) is at the top of
// ratelimiter.hpp.
#include "control/ratelimiter.hpp"

#include <sodium.h>

#include <algorithm>
#include <cstring>

#include "control/crypto.hpp"

namespace sluice {

// ---- SipHash-2-4 ------------------------------------------------------------

uint64_t siphash24(const SipHashKey& key, uint64_t m0, uint64_t m1) noexcept {
    // libsodium's crypto_shorthash is SipHash-2-4 (DESIGN §4: no hand-written
    // hash code). Message and key bytes are little-endian, as SipHash defines.
    static_assert(crypto_shorthash_BYTES == 8 && crypto_shorthash_KEYBYTES == 16);
    uint8_t in[16], k[16], out[8];
    std::memcpy(in, &m0, 8);
    std::memcpy(in + 8, &m1, 8);
    std::memcpy(k, &key.k0, 8);
    std::memcpy(k + 8, &key.k1, 8);
    crypto_shorthash(out, in, sizeof in, k);
    uint64_t h;
    std::memcpy(&h, out, 8);
    return h;
}

// ---- Sources ----------------------------------------------------------------

namespace {

uint64_t load_be(const uint8_t* p, size_t n) noexcept {
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v = (v << 8) | p[i];
    return v;
}

bool is_v4_mapped(const IpAddress& a) noexcept {
    constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return std::equal(std::begin(kMappedPrefix), std::end(kMappedPrefix), a.addr.begin());
}

}  // namespace

RateSource rate_source_of(const IpAddress& address) noexcept {
    if (address.family == IpFamily::v4) return {IpFamily::v4, load_be(address.addr.data(), 4)};
    if (is_v4_mapped(address)) return {IpFamily::v4, load_be(address.addr.data() + 12, 4)};
    return {IpFamily::v6, load_be(address.addr.data(), 8)};
}

// ---- The limiter ------------------------------------------------------------

namespace {

constexpr int64_t kCost = Ratelimiter::kPacketCost.count();
constexpr int64_t kBurst = Ratelimiter::kBurstCredit.count();

// Nanoseconds from `from` to `to`, 0 if the clock stepped back. Unsigned
// subtraction: the epoch is arbitrary, so the signed difference could overflow.
uint64_t elapsed(int64_t from, int64_t to) noexcept {
    return to > from ? static_cast<uint64_t>(to) - static_cast<uint64_t>(from) : 0;
}

// The credit the entry would hold at `now`, without touching it.
int64_t credit_at(int64_t credit, int64_t last, int64_t now) noexcept {
    const uint64_t gained = std::min<uint64_t>(elapsed(last, now), kBurst);
    return std::min<int64_t>(kBurst, credit + static_cast<int64_t>(gained));
}

SipHashKey random_key() {
    SipHashKey key;
    crypto::random_bytes(reinterpret_cast<uint8_t*>(&key), sizeof key);
    return key;
}

}  // namespace

Ratelimiter::Ratelimiter(size_t max_sources) : Ratelimiter(max_sources, random_key()) {}

Ratelimiter::Ratelimiter(size_t max_sources, const SipHashKey& key)
    : key_(key),
      max_sources_(std::clamp<size_t>(max_sources, 1, kMaxMaxSources)),
      slots_(std::bit_ceil(2 * max_sources_)),
      mask_(slots_.size() - 1),
      shift_(64 - static_cast<unsigned>(std::countr_zero(slots_.size()))) {}

size_t Ratelimiter::memory_bytes() const noexcept {
    return slots_.capacity() * sizeof(Slot);
}

size_t Ratelimiter::home_of(const RateSource& source) const noexcept {
    const uint64_t h = siphash24(key_, source.prefix, static_cast<uint64_t>(source.family));
    // The top bits: shift_ is at most 63 since there are at least 2 slots.
    return static_cast<size_t>(h >> shift_);
}

size_t Ratelimiter::find(const RateSource& source, size_t home) const noexcept {
    const auto family = static_cast<uint8_t>(source.family);
    // Load at most 1/2, so the run ends at an empty slot.
    for (size_t i = home;; i = (i + 1) & mask_) {
        const Slot& s = slots_[i];
        if (s.family == 0) return kNotFound;
        if (s.family == family && s.prefix == source.prefix) return i;
    }
}

void Ratelimiter::insert(const RateSource& source, size_t home, int64_t now) noexcept {
    size_t i = home;
    while (slots_[i].family != 0) i = (i + 1) & mask_;
    slots_[i] = Slot{
        .prefix = source.prefix,
        .last_ns = now,
        .credit_ns = kBurst - kCost,  // a full bucket, minus the handshake being let through
        .home = static_cast<uint32_t>(home),
        .family = static_cast<uint8_t>(source.family),
    };
    ++size_;
}

void Ratelimiter::remove_at(size_t index) noexcept {
    // Backward shift: pull each later entry of the probe run whose home lies
    // at or before the hole into it, so runs stay gap-free and find() may stop
    // at the first empty slot.
    size_t hole = index;
    for (size_t j = (hole + 1) & mask_; slots_[j].family != 0; j = (j + 1) & mask_) {
        const size_t from_home = (j - slots_[j].home) & mask_;
        const size_t from_hole = (j - hole) & mask_;
        if (from_home >= from_hole) {
            slots_[hole] = slots_[j];
            hole = j;
        }
    }
    slots_[hole] = Slot{};
    --size_;
}

bool Ratelimiter::reclaim_one(int64_t now) noexcept {
    const size_t scan = std::min(kReclaimScan, slots_.size());
    for (size_t n = 0; n < scan; ++n, hand_ = (hand_ + 1) & mask_) {
        const Slot& s = slots_[hand_];
        if (s.family == 0 || credit_at(s.credit_ns, s.last_ns, now) < kBurst) continue;
        // The hand stays put: remove_at may shift a not-yet-swept entry here.
        remove_at(hand_);
        ++counters_.reclaimed;
        return true;
    }
    return false;
}

bool Ratelimiter::allow(const IpAddress& source, Time now) noexcept {
    const RateSource key = rate_source_of(source);
    const int64_t t = now.count();
    const size_t home = home_of(key);

    if (const size_t i = find(key, home); i != kNotFound) {
        Slot& s = slots_[i];
        s.credit_ns = credit_at(s.credit_ns, s.last_ns, t);
        s.last_ns = std::max(s.last_ns, t);  // a step back must not earn credit twice
        if (s.credit_ns < kCost) {
            ++counters_.limited;
            return false;
        }
        s.credit_ns -= kCost;
        ++counters_.allowed;
        return true;
    }

    if (size_ >= max_sources_ && !reclaim_one(t)) {
        ++counters_.table_full;
        return false;
    }
    insert(key, home, t);  // remove_at never moves a home, so `home` still holds
    ++counters_.allowed;
    return true;
}

void Ratelimiter::gc(Time now) noexcept {
    const int64_t t = now.count();
    for (size_t i = 0; i < slots_.size(); ++i) {
        // A removal may shift a later, unvisited entry into slot i, so look
        // at i again until it is empty or kept. Shifts only move entries
        // backwards within their run, never to a slot before i that the loop
        // has not seen, so one pass visits every entry.
        while (slots_[i].family != 0 &&
               elapsed(slots_[i].last_ns, t) >= static_cast<uint64_t>(kGcIdleTime.count())) {
            remove_at(i);
            ++counters_.collected;
        }
    }
}

}  // namespace sluice
