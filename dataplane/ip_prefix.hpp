// IP addresses and prefixes, the one form both the packet path (the
// allowed-IPs table) and the configuration use: an address family, 16 bytes in
// network byte order and, for a prefix, a length. IPv4 uses addr[0..3]; the
// other 12 bytes are zero, so that == over the whole array behaves
// (IpPrefix::valid() checks it).
//
// Parsing takes exactly what inet_pton(3) accepts, so "010.0.0.1", "1.2.3",
// "1.2.3.4.5" and zone ids like "fe80::1%eth0" are refused, as is any
// surrounding whitespace (trim first). Nothing here allocates except
// to_string().
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice {

// v4 < v6: the order prefix lists and dumps use.
enum class IpFamily : uint8_t { v4 = 4, v6 = 6 };

// ---- IpAddress ---------------------------------------------------------------
// One address without a length: a gateway, an endpoint's host.
struct IpAddress {
    IpFamily family = IpFamily::v4;
    std::array<uint8_t, 16> addr{};

    // An address of `family` from its 4 or 16 bytes in network order.
    [[nodiscard]] static IpAddress of(IpFamily family, const uint8_t* bytes) noexcept;

    // "10.0.0.1", "fd00::1".
    [[nodiscard]] std::string to_string() const;

    friend bool operator==(const IpAddress&, const IpAddress&) = default;
    friend auto operator<=>(const IpAddress&, const IpAddress&) = default;
};

// ---- IpPrefix ----------------------------------------------------------------
// An address with a prefix length: a route, an allowed-IPs entry, or an
// interface address (where host bits are meaningful: 10.0.0.1/24).
struct IpPrefix {
    IpFamily family = IpFamily::v4;
    std::array<uint8_t, 16> addr{};
    uint8_t length = 0;

    static constexpr uint8_t max_length(IpFamily f) noexcept {
        return f == IpFamily::v4 ? 32 : 128;
    }
    static constexpr size_t address_bytes(IpFamily f) noexcept {
        return f == IpFamily::v4 ? 4 : 16;
    }

    static IpPrefix v4(const uint8_t a[4], uint8_t length) noexcept;
    static IpPrefix v6(const uint8_t a[16], uint8_t length) noexcept;

    // Length within the family's range and no stray bytes past a v4 address.
    [[nodiscard]] bool valid() const noexcept;
    // The same prefix with every bit past `length` cleared (10.1.2.3/8 →
    // 10.0.0.0/8): the form the table stores and prefixes_of() returns.
    [[nodiscard]] IpPrefix masked() const noexcept;
    // Whether the host bits are all zero already; the config loader can warn.
    [[nodiscard]] bool is_masked() const noexcept { return masked() == *this; }
    // The address as written, host bits included.
    [[nodiscard]] IpAddress address() const noexcept { return {family, addr}; }
    // Whether the address (`family`, 4 or 16 bytes in network order) lies
    // inside this prefix; host bits of the prefix itself are ignored.
    [[nodiscard]] bool contains(IpFamily f, const uint8_t* bytes) const noexcept;
    [[nodiscard]] bool contains(const IpAddress& a) const noexcept {
        return contains(a.family, a.addr.data());
    }
    // Canonical text, always with the length: "10.0.0.0/8", "fd00::/64".
    [[nodiscard]] std::string to_string() const;

    friend bool operator==(const IpPrefix&, const IpPrefix&) = default;
    // Family, then address, then length: v4 before v6, the order prefixes_of()
    // returns, and usable as a std::map key.
    friend auto operator<=>(const IpPrefix&, const IpPrefix&) = default;
};

// An address alone, as inet_pton(3) takes it; the family is IPv6 when the
// text holds a ':'.
[[nodiscard]] std::optional<IpAddress> parse_ip_address(std::string_view text);

// Parses "10.0.0.0/8", "fd00::/64", or a bare address as /32 or /128. The
// address part is what parse_ip_address() accepts; the length is plain
// decimal without sign, spaces or leading zeros, and at most 32 or 128. Host
// bits are kept as written: callers that store the prefix get them masked by
// AllowedIps::insert, callers that want to warn can check is_masked().
[[nodiscard]] std::optional<IpPrefix> parse_ip_prefix(std::string_view text);

// ---- Socket addresses --------------------------------------------------------
// "host:port" and "[host]:port", the shape every endpoint is written in, cut
// at the port's colon. The configuration (which also takes host names) and
// sluicectl (addresses only) each check the host their own way, and both read
// the port with parse_port().
struct HostPort {
    std::string_view host;
    std::string_view port;
    bool bracketed = false;  // "[...]:port": the host is meant to be IPv6
};

// nullopt with the reason in *why_not (when given): "no ']' after the IPv6
// address", "no ':port' after the ']'", "no ':port' at the end" or "an IPv6
// endpoint needs brackets: [2001:db8::1]:51820". The host may be empty.
[[nodiscard]] std::optional<HostPort> split_host_port(std::string_view text,
                                                      std::string* why_not = nullptr);

// A UDP port: plain decimal without sign or leading zeros, 1..65535.
[[nodiscard]] std::optional<uint16_t> parse_port(std::string_view text);

}  // namespace sluice
