// TAI64N timestamps as WireGuard puts them in handshake initiations: 8 bytes
// big-endian seconds (TAI64 label 2^62 + 10), then 4 bytes big-endian
// nanoseconds. Big-endian makes byte order equal time order, so a responder
// rejects a replayed or older initiation with one memcmp.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <cstring>

#include "dataplane/wire.hpp"

namespace sluice {

struct Tai64n {
    std::array<uint8_t, wire::kTimestampLen> bytes{};

    // From wall-clock time since the Unix epoch. Nanoseconds are rounded down
    // to a multiple of 2^24 ns (~16.8 ms), below the rate at which a peer may
    // initiate, so the timestamp does not leak a precise clock reading.
    static Tai64n from_unix(std::chrono::nanoseconds since_epoch);
    static Tai64n now();

    [[nodiscard]] uint64_t seconds() const;
    [[nodiscard]] uint32_t nanoseconds() const;

    friend bool operator<(const Tai64n& a, const Tai64n& b) {
        return std::memcmp(a.bytes.data(), b.bytes.data(), a.bytes.size()) < 0;
    }
    friend bool operator==(const Tai64n& a, const Tai64n& b) = default;
};

}  // namespace sluice
