// Reading unsigned decimal numbers from untrusted text (command lines, the
// UAPI, endpoints): digits only, no sign or spaces, overflow-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace sluice {

enum class LeadingZeros : uint8_t {
    refuse,  // "0" but not "08": our own syntax, one spelling per number
    allow,   // as Go's strconv.ParseUint, for peers that write them (wireguard-go)
};

// The value of `text` if it is one or more ASCII digits and at most `max`.
constexpr std::optional<uint64_t> parse_decimal(
    std::string_view text, uint64_t max, LeadingZeros zeros = LeadingZeros::refuse) noexcept {
    if (text.empty()) return std::nullopt;
    if (zeros == LeadingZeros::refuse && text.size() > 1 && text[0] == '0') return std::nullopt;
    uint64_t value = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        const auto digit = static_cast<uint64_t>(c - '0');
        if (digit > max || value > (max - digit) / 10) return std::nullopt;  // would pass max
        value = value * 10 + digit;
    }
    return value;
}

static_assert(parse_decimal("65535", 65535) == 65535);
static_assert(!parse_decimal("65536", 65535));
static_assert(!parse_decimal("08", 100));
static_assert(parse_decimal("08", 100, LeadingZeros::allow) == 8);
static_assert(!parse_decimal("18446744073709551616", UINT64_MAX));

}  // namespace sluice
