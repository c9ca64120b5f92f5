// Why the dataplane dropped a packet: one table gives the enum, the names that
// sluicectl and telemetry print, and a one-line description for each.
//
// Adding a reason is one line in SLUICE_DROP_REASONS; the enum, the name table,
// the per-lcore counter arrays (sized by kDropReasonCount) and name lookup all
// follow from it. Names are snake_case and stable: scripts match on them, so
// rename one only together with everything that reads it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace sluice {

// X(name, description). `none` stays first: it means "not dropped", so a
// zero-initialised result reads as "no drop".
#define SLUICE_DROP_REASONS(X)                                                         \
    X(none, "not dropped")                                                             \
    X(too_short, "message shorter than its fixed header (plus tag)")                   \
    X(bad_type, "message type or reserved bytes are not those of a transport message") \
    X(unknown_index, "receiver index names no current keypair")                        \
    X(key_expired, "keypair older than REJECT_AFTER_TIME")                             \
    X(counter_exhausted, "counter at or past REJECT_AFTER_MESSAGES")                   \
    X(replay, "counter already seen or behind the replay window")                      \
    X(auth_failed, "Poly1305 tag did not verify")                                      \
    X(crypto_error, "the AEAD engine rejected the job (a bug, not an attack)")         \
    X(invalid_inner_packet, "decrypted payload is not a well-formed IPv4/IPv6 packet") \
    X(no_capacity, "buffer too small for header, padding and tag")                     \
    X(source_not_allowed, "inner source address outside the peer's allowed IPs")       \
    X(no_route, "inner destination matches no peer's allowed IPs")                     \
    X(no_key, "peer has no current keypair to send with")                              \
    X(no_endpoint, "peer has no known endpoint to send to")                           \
    X(not_ip, "packet from the LAN is not an IPv4/IPv6 packet")                        \
    X(ring_full, "the ring to the control thread was full")                            \
    X(wrong_lcore, "keypair's receive side belongs to another lcore")                 \
    X(pipeline_full, "pipeline mode: every crypto lcore's ring was full")              \
    X(reorder_failed, "pipeline mode: the reorder buffer refused a packet (a bug)")

enum class DropReason : uint8_t {
#define SLUICE_DROP_REASON_ENUM(name, description) name,
    SLUICE_DROP_REASONS(SLUICE_DROP_REASON_ENUM)
#undef SLUICE_DROP_REASON_ENUM
};

inline constexpr size_t kDropReasonCount = 0
#define SLUICE_DROP_REASON_COUNT(name, description) +1
    SLUICE_DROP_REASONS(SLUICE_DROP_REASON_COUNT)
#undef SLUICE_DROP_REASON_COUNT
    ;

inline constexpr std::array<std::string_view, kDropReasonCount> kDropReasonNames = {
#define SLUICE_DROP_REASON_NAME(name, description) #name,
    SLUICE_DROP_REASONS(SLUICE_DROP_REASON_NAME)
#undef SLUICE_DROP_REASON_NAME
};

inline constexpr std::array<std::string_view, kDropReasonCount> kDropReasonDescriptions = {
#define SLUICE_DROP_REASON_DESCRIPTION(name, description) description,
    SLUICE_DROP_REASONS(SLUICE_DROP_REASON_DESCRIPTION)
#undef SLUICE_DROP_REASON_DESCRIPTION
};

static_assert(static_cast<size_t>(DropReason::none) == 0);
static_assert(kDropReasonCount <= 256, "DropReason is stored in one byte");

constexpr size_t index_of(DropReason reason) noexcept {
    return static_cast<size_t>(reason);
}

constexpr std::string_view drop_reason_name(DropReason reason) noexcept {
    return kDropReasonNames[index_of(reason)];
}

constexpr std::string_view drop_reason_description(DropReason reason) noexcept {
    return kDropReasonDescriptions[index_of(reason)];
}

// For sluicectl filters and tests that address a counter by its printed name.
constexpr std::optional<DropReason> drop_reason_from_name(std::string_view name) noexcept {
    for (size_t i = 0; i < kDropReasonCount; ++i) {
        if (kDropReasonNames[i] == name) return static_cast<DropReason>(i);
    }
    return std::nullopt;
}

}  // namespace sluice
