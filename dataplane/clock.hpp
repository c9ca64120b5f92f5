// The clock of the packet path and the control plane: CLOCK_MONOTONIC in
// nanoseconds. Keypair birth times, activity stamps and timer deadlines are
// all on it, so lcores and the control thread compare them directly.
#pragma once

#include <time.h>

#include <cstdint>

namespace sluice {

inline int64_t monotonic_ns() noexcept {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace sluice
