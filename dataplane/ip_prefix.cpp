// IP addresses and prefixes; see ip_prefix.hpp.
#include "dataplane/ip_prefix.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

#include "dataplane/decimal.hpp"

namespace sluice {

// ---- IpAddress ---------------------------------------------------------------

std::optional<IpAddress> parse_ip_address(std::string_view text) {
    IpAddress a;
    a.family = text.find(':') != std::string_view::npos ? IpFamily::v6 : IpFamily::v4;
    // inet_pton wants a C string: copy into a buffer that fits the longest
    // valid form ("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", 45 chars).
    // An embedded NUL would make inet_pton see a shorter string than we were
    // given, so it is refused rather than silently truncated.
    char buf[INET6_ADDRSTRLEN];
    if (text.empty() || text.size() >= sizeof buf) return std::nullopt;
    if (text.find('\0') != std::string_view::npos) return std::nullopt;
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';
    const int af = a.family == IpFamily::v4 ? AF_INET : AF_INET6;
    if (inet_pton(af, buf, a.addr.data()) != 1) return std::nullopt;
    return a;
}

std::string IpAddress::to_string() const {
    char buf[INET6_ADDRSTRLEN];
    const int af = family == IpFamily::v4 ? AF_INET : AF_INET6;
    if (inet_ntop(af, addr.data(), buf, sizeof buf) == nullptr) return "invalid";
    return buf;
}

// ---- IpPrefix ----------------------------------------------------------------

namespace {

IpPrefix prefix_from_bytes(IpFamily family, const uint8_t* a, uint8_t length) noexcept {
    IpPrefix p;
    p.family = family;
    std::memcpy(p.addr.data(), a, IpPrefix::address_bytes(family));
    p.length = length;
    return p;
}

}  // namespace

IpPrefix IpPrefix::v4(const uint8_t a[4], uint8_t length) noexcept {
    return prefix_from_bytes(IpFamily::v4, a, length);
}

IpPrefix IpPrefix::v6(const uint8_t a[16], uint8_t length) noexcept {
    return prefix_from_bytes(IpFamily::v6, a, length);
}

bool IpPrefix::valid() const noexcept {
    if (family != IpFamily::v4 && family != IpFamily::v6) return false;
    if (length > max_length(family)) return false;
    // A v4 prefix with bytes past its address would compare unequal to the
    // same prefix built cleanly, and would not match its own lookups.
    return std::all_of(addr.begin() + address_bytes(family), addr.end(),
                       [](uint8_t b) { return b == 0; });
}

IpAddress IpAddress::of(IpFamily family, const uint8_t* bytes) noexcept {
    IpAddress a;
    a.family = family;
    std::memcpy(a.addr.data(), bytes, IpPrefix::address_bytes(family));
    return a;
}

bool IpPrefix::contains(IpFamily f, const uint8_t* bytes) const noexcept {
    if (f != family) return false;
    const unsigned whole = length / 8;
    if (std::memcmp(addr.data(), bytes, whole) != 0) return false;
    const unsigned rest = length % 8;
    if (rest == 0) return true;
    const auto mask = static_cast<uint8_t>(0xff00u >> rest);
    return ((addr[whole] ^ bytes[whole]) & mask) == 0;
}

IpPrefix IpPrefix::masked() const noexcept {
    IpPrefix p = *this;
    for (size_t i = 0; i < p.addr.size(); ++i) {
        const unsigned first_bit = static_cast<unsigned>(i) * 8;
        if (first_bit >= length) {
            p.addr[i] = 0;
        } else if (first_bit + 8 > length) {
            p.addr[i] &= static_cast<uint8_t>(0xff00u >> (length - first_bit));
        }
    }
    return p;
}

std::string IpPrefix::to_string() const {
    return address().to_string() + "/" + std::to_string(length);
}

std::optional<IpPrefix> parse_ip_prefix(std::string_view text) {
    const size_t slash = text.find('/');
    const auto address = parse_ip_address(text.substr(0, slash));
    if (!address) return std::nullopt;

    IpPrefix p;
    p.family = address->family;
    p.addr = address->addr;
    const unsigned max = IpPrefix::max_length(p.family);
    if (slash == std::string_view::npos) {
        p.length = static_cast<uint8_t>(max);
        return p;
    }
    // Decimal only; no sign, no spaces, no leading zero (for the same reason
    // inet_pton refuses "010.0.0.1": some parsers would read it as octal).
    const std::string_view len_text = text.substr(slash + 1);
    if (len_text.empty() || len_text.size() > 3) return std::nullopt;
    if (len_text.size() > 1 && len_text[0] == '0') return std::nullopt;
    unsigned len = 0;
    for (char c : len_text) {
        if (c < '0' || c > '9') return std::nullopt;
        len = len * 10 + static_cast<unsigned>(c - '0');
    }
    if (len > max) return std::nullopt;
    p.length = static_cast<uint8_t>(len);
    return p;
}

std::optional<HostPort> split_host_port(std::string_view text, std::string* why_not) {
    auto refuse = [why_not](const char* why) -> std::optional<HostPort> {
        if (why_not) *why_not = why;
        return std::nullopt;
    };
    if (!text.empty() && text.front() == '[') {
        const size_t close = text.find(']');
        if (close == std::string_view::npos) return refuse("no ']' after the IPv6 address");
        if (close + 1 >= text.size() || text[close + 1] != ':')
            return refuse("no ':port' after the ']'");
        return HostPort{text.substr(1, close - 1), text.substr(close + 2), true};
    }
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return refuse("no ':port' at the end");
    const std::string_view host = text.substr(0, colon);
    if (host.find(':') != std::string_view::npos)
        return refuse("an IPv6 endpoint needs brackets: [2001:db8::1]:51820");
    return HostPort{host, text.substr(colon + 1), false};
}

std::optional<uint16_t> parse_port(std::string_view text) {
    const auto value = parse_decimal(text, 65535);
    if (!value || *value == 0) return std::nullopt;
    return static_cast<uint16_t>(*value);
}

}  // namespace sluice
