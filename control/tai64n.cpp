#include "control/tai64n.hpp"

namespace sluice {
namespace {
constexpr uint64_t kTai64Label = (uint64_t{1} << 62) + 10;
constexpr uint32_t kWhitenMask = ~((uint32_t{1} << 24) - 1);
}  // namespace

Tai64n Tai64n::from_unix(std::chrono::nanoseconds since_epoch) {
    const int64_t total = since_epoch.count();
    const uint64_t secs = kTai64Label + static_cast<uint64_t>(total / 1'000'000'000);
    const uint32_t nanos = static_cast<uint32_t>(total % 1'000'000'000) & kWhitenMask;
    Tai64n t;
    for (int i = 0; i < 8; ++i) t.bytes[i] = static_cast<uint8_t>(secs >> (56 - 8 * i));
    for (int i = 0; i < 4; ++i) t.bytes[8 + i] = static_cast<uint8_t>(nanos >> (24 - 8 * i));
    return t;
}

Tai64n Tai64n::now() {
    return from_unix(std::chrono::duration_cast<std::chrono::nanoseconds>(
        std::chrono::system_clock::now().time_since_epoch()));
}

uint64_t Tai64n::seconds() const {
    uint64_t s = 0;
    for (int i = 0; i < 8; ++i) s = s << 8 | bytes[i];
    return s - kTai64Label;
}

uint32_t Tai64n::nanoseconds() const {
    uint32_t n = 0;
    for (int i = 0; i < 4; ++i) n = n << 8 | bytes[8 + i];
    return n;
}

}  // namespace sluice
