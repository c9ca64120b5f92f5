// Per-source token buckets for handshake messages, as WireGuard's ratelimiter
// behaves: each source may pass kHandshakesPerSecond handshakes a second with
// a burst of kHandshakesBurstable. The control thread consults it only under
// load and only for messages whose mac2 proved the source can receive at its
// address (handshake_load.hpp has the whole decision flow), so what it limits
// is a real host hammering us with real handshakes, each costing us a
// Diffie-Hellman.
//
// A source is an IPv4 address or an IPv6 /64: a host is handed at least a /64
// and can rotate its interface id at will, so limiting per /128 would limit
// nothing. An IPv4-mapped IPv6 address (::ffff:a.b.c.d, what a dual-stack
// socket reports) counts as the IPv4 address; otherwise every IPv4 sender
// would share the one bucket of ::ffff:0:0/64.
//
// The bucket, in the kernel's units: credit is kept in nanoseconds, grows by
// one per nanosecond up to kBurstCredit, and a handshake costs kPacketCost. A
// source seen for the first time starts with a full bucket minus its first
// handshake. Time is injected as a monotonic std::chrono::nanoseconds (any
// epoch); a clock that steps back credits nothing.
//
// Memory is fixed at construction: one open-addressing table (linear probing,
// load at most 1/2, backward-shift deletion so churn leaves no tombstones)
// holding at most max_sources entries; nothing allocates afterwards. Slots
// come from SipHash-2-4 of the source under a random per-instance key, so a
// sender cannot choose sources that pile into one probe run.
//
// When the table is full and a new source arrives, the limiter may evict only
// an entry whose bucket has refilled to kBurstCredit: such an entry says
// exactly what a missing entry says (a fresh source gets the same full
// bucket), so forgetting it loses nothing and a flood of new sources can never
// reset an active source's bucket. A short clock-hand sweep looks for one; if
// it finds none, every entry it saw belongs to a source that sent within the
// last kBurstCredit and the newcomer is refused (counted as table_full). That
// is WireGuard's "refuse when full" policy, minus its one cost: a table left
// full of stale entries between two gc() calls no longer shuts new sources
// out. Evicting the least recently seen entry instead would let anyone who
// can send from max_sources addresses wipe every bucket, the legitimate
// sources' and the flooder's own, in a few milliseconds.
//
// gc() removes entries idle for kGcIdleTime (1 s, as the kernel and
// wireguard-go do), which is always lossless by the same argument; call it
// from the control thread's housekeeping tick so tracked() reflects reality.
//
// Owner: the control thread. Not thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "dataplane/ip_prefix.hpp"
#include "dataplane/wire.hpp"

namespace sluice {

// ---- Keyed hashing ----------------------------------------------------------

struct SipHashKey {
    uint64_t k0 = 0;
    uint64_t k1 = 0;
};

// SipHash-2-4 (libsodium's crypto_shorthash) of the 16-byte message
// le64(m0) || le64(m1): a PRF, so slot positions reveal nothing an attacker
// could aim with.
[[nodiscard]] uint64_t siphash24(const SipHashKey& key, uint64_t m0, uint64_t m1) noexcept;

// ---- Sources ----------------------------------------------------------------

// What one bucket is kept for: an IPv4 address, or the top 64 bits of an IPv6
// address, as a big-endian number.
struct RateSource {
    IpFamily family = IpFamily::v4;
    uint64_t prefix = 0;

    friend bool operator==(const RateSource&, const RateSource&) = default;
};

[[nodiscard]] RateSource rate_source_of(const IpAddress& address) noexcept;

// ---- The limiter ------------------------------------------------------------

struct RatelimiterCounters {
    uint64_t allowed = 0;     // handshake may proceed
    uint64_t limited = 0;     // a tracked source over its rate
    uint64_t table_full = 0;  // a new source refused: every entry swept was active
    uint64_t reclaimed = 0;   // refilled entries evicted to make room for a new source
    uint64_t collected = 0;   // idle entries removed by gc()
};

class Ratelimiter {
public:
    using Time = std::chrono::nanoseconds;

    // 512 KiB of slots. Only sources whose mac2 proved their address reach
    // the limiter, and only under load, so 8192 hosts or /64s handshaking
    // within the same quarter second is far past any real peer population.
    // (The kernel allows 65536, 8 per bucket of a 8192-bucket hash.)
    static constexpr size_t kDefaultMaxSources = 8192;
    // Fits the slot index in 32 bits and the table in 512 MiB.
    static constexpr size_t kMaxMaxSources = size_t{1} << 23;

    static constexpr Time kPacketCost = Time{std::chrono::seconds{1}} / wire::kHandshakesPerSecond;
    static constexpr Time kBurstCredit = kPacketCost * wire::kHandshakesBurstable;
    static constexpr Time kGcIdleTime = std::chrono::seconds{1};
    // Slots the full-table sweep examines per new source: bounds the work a
    // flood of new sources costs us per packet, yet covers the whole table
    // every 2 * max_sources / kReclaimScan of them.
    static constexpr size_t kReclaimScan = 64;

    static_assert(kPacketCost * wire::kHandshakesPerSecond == std::chrono::seconds{1},
                  "the rate must divide a second exactly for the bucket to be exact");
    static_assert(kGcIdleTime >= kBurstCredit,
                  "gc() must only remove entries whose bucket has refilled");

    // max_sources is clamped to [1, kMaxMaxSources]. This one draws the hash
    // key from getrandom(2) and throws std::system_error if that fails.
    explicit Ratelimiter(size_t max_sources = kDefaultMaxSources);
    // A fixed key, for tests and for reproducing a bug report.
    Ratelimiter(size_t max_sources, const SipHashKey& key);

    // Whether a handshake from `source` may proceed at `now`; spends one
    // packet of the source's credit if so.
    [[nodiscard]] bool allow(const IpAddress& source, Time now) noexcept;

    // Forgets every source idle for kGcIdleTime or longer.
    void gc(Time now) noexcept;

    [[nodiscard]] size_t tracked() const noexcept { return size_; }
    [[nodiscard]] size_t max_sources() const noexcept { return max_sources_; }
    // The table's whole footprint; fixed at construction.
    [[nodiscard]] size_t memory_bytes() const noexcept;
    [[nodiscard]] const RatelimiterCounters& counters() const noexcept { return counters_; }

private:
    struct Slot {
        uint64_t prefix = 0;
        int64_t last_ns = 0;    // when credit_ns was last brought up to date
        int64_t credit_ns = 0;  // 0 .. kBurstCredit
        uint32_t home = 0;      // slot the hash picked; kept so deletion need not rehash
        uint8_t family = 0;     // 0: empty slot; else the IpFamily value
    };
    static constexpr size_t kNotFound = SIZE_MAX;

    size_t home_of(const RateSource& source) const noexcept;
    size_t find(const RateSource& source, size_t home) const noexcept;
    void insert(const RateSource& source, size_t home, int64_t now) noexcept;
    void remove_at(size_t index) noexcept;
    bool reclaim_one(int64_t now) noexcept;

    SipHashKey key_;
    size_t max_sources_;
    std::vector<Slot> slots_;  // power of two, at least 2 * max_sources_
    size_t mask_;
    unsigned shift_;  // 64 - log2(slots_.size()): the hash's top bits pick the slot
    size_t size_ = 0;
    size_t hand_ = 0;  // where the next full-table sweep starts
    RatelimiterCounters counters_;
};

}  // namespace sluice
