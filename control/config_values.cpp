// Scalar values of the configuration; see config_values.hpp.
#include "control/config_values.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <system_error>

#include "control/config_files.hpp"
#include "control/key_encoding.hpp"

namespace sluice {
namespace config_detail {
namespace {

constexpr size_t kMaxKeyFileBytes = 1024;

bool is_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_hex(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool has_control_chars(std::string_view s) {
    return std::any_of(s.begin(), s.end(), [](char c) {
        return static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) == 0x7f;
    });
}

// What is wrong with a key's text, without repeating any of it.
std::string key_problem(std::string_view text) {
    if (text.size() != 44) return std::to_string(text.size()) + " characters";
    for (size_t i = 0; i < 43; ++i) {
        const char c = text[i];
        if (!is_alpha(c) && !is_digit(c) && c != '+' && c != '/')
            return "a character that is not base64 at position " + std::to_string(i + 1);
    }
    if (text[43] != '=') return "44 characters without the final '='";
    return "44 characters that are not a canonical encoding of 32 bytes";
}

// RFC 1123 host name: dot-separated labels of letters, digits and hyphens,
// 1..63 characters each, not starting or ending with a hyphen, 253 in all.
// A name made only of digits and dots is a mistyped IPv4 address, not a name.
bool valid_hostname(std::string_view host) {
    if (host.empty() || host.size() > 253) return false;
    bool only_digits_and_dots = true;
    size_t label_start = 0;
    for (size_t i = 0; i <= host.size(); ++i) {
        if (i == host.size() || host[i] == '.') {
            const std::string_view label = host.substr(label_start, i - label_start);
            // One trailing dot (the root) is allowed: "vpn.example.com."
            if (label.empty() && !(i == host.size() && label_start > 0)) return false;
            if (!label.empty() &&
                (label.size() > 63 || label.front() == '-' || label.back() == '-'))
                return false;
            label_start = i + 1;
            continue;
        }
        const char c = host[i];
        if (!is_alpha(c) && !is_digit(c) && c != '-') return false;
        if (!is_digit(c)) only_digits_and_dots = false;
    }
    return !only_digits_and_dots;
}

}  // namespace

std::string range_text(uint64_t lo, uint64_t hi) {
    return std::to_string(lo) + ".." + std::to_string(hi);
}

// ---- Enumerations and names -------------------------------------------------------------

std::optional<DeviceKind> device_kind(std::string_view d) {
    // PCI: [domain:]bus:device.function, e.g. 0000:03:00.0 or 03:00.0.
    const auto is_pci = [](std::string_view s) {
        const size_t colon = s.find(':');
        if (colon != std::string_view::npos && s.find(':', colon + 1) != std::string_view::npos) {
            if (colon < 4 || colon > 8) return false;
            for (size_t i = 0; i < colon; ++i)
                if (!is_hex(s[i])) return false;
            s.remove_prefix(colon + 1);
        }
        if (s.size() != 7 || s[2] != ':' || s[5] != '.') return false;
        if (!is_hex(s[0]) || !is_hex(s[1]) || !is_hex(s[3]) || !is_hex(s[4])) return false;
        if (s[3] > '1') return false;  // device numbers are 5 bits: 00..1f
        return s[6] >= '0' && s[6] <= '7';
    };
    if (is_pci(d)) return DeviceKind::pci;
    // vdev: net_<driver><n>[,key=value...], e.g. net_af_packet0,iface=veth0.
    if (d.starts_with("net_")) {
        const size_t comma = d.find(',');
        const std::string_view name = d.substr(0, comma);
        if (name.size() <= 4 || !std::all_of(name.begin(), name.end(), [](char c) {
                return is_alpha(c) || is_digit(c) || c == '_';
            }))
            return std::nullopt;
        std::string_view args = comma == std::string_view::npos ? "" : d.substr(comma + 1);
        while (comma != std::string_view::npos) {
            const size_t next = args.find(',');
            const std::string_view arg = args.substr(0, next);
            const size_t eq = arg.find('=');
            if (eq == 0 || eq == std::string_view::npos || eq + 1 == arg.size())
                return std::nullopt;
            for (char c : arg)
                if (static_cast<unsigned char>(c) <= ' ' || static_cast<unsigned char>(c) >= 0x7f)
                    return std::nullopt;
            if (next == std::string_view::npos) break;
            args.remove_prefix(next + 1);
        }
        return DeviceKind::vdev;
    }
    if (valid_interface_name(d)) return DeviceKind::kernel_interface;
    return std::nullopt;
}

std::optional<std::array<uint8_t, 6>> parse_mac(std::string_view t) {
    if (t.size() != 17) return std::nullopt;
    const char separator = t[2];
    if (separator != ':' && separator != '-') return std::nullopt;
    const auto nibble = [](char c) {
        return static_cast<uint8_t>(is_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10);
    };
    std::array<uint8_t, 6> mac{};
    for (size_t i = 0; i < 6; ++i) {
        const size_t at = i * 3;
        if (i > 0 && t[at - 1] != separator) return std::nullopt;
        if (!is_hex(t[at]) || !is_hex(t[at + 1])) return std::nullopt;
        mac[i] = static_cast<uint8_t>(nibble(t[at]) << 4 | nibble(t[at + 1]));
    }
    return mac;
}

// ---- Addresses with ports ---------------------------------------------------------------

std::optional<StreamTarget> parse_address_port(std::string_view t, bool prefixes,
                                               std::string* why_not) {
    auto refuse = [why_not](std::string why) -> std::optional<StreamTarget> {
        if (why_not) *why_not = std::move(why);
        return std::nullopt;
    };
    const bool bracketed = t.starts_with('[');
    if (bracketed) {
        const size_t close = t.find(']');
        if (close != std::string_view::npos && close + 1 < t.size() && t[close + 1] == '/')
            return refuse(prefixes ? "the prefix length goes inside the brackets: "
                                     "[2001:db8::/64]:80"
                                   : "an address, not a prefix");
    } else if (std::count(t.begin(), t.end(), ':') > 1) {
        return refuse("an IPv6 address needs brackets: [2001:db8::5]:80");
    }
    std::string why;
    const auto parts = split_host_port(t, &why);
    if (!parts) return refuse(why);
    const std::string_view host = parts->host;
    if (host.empty()) return refuse("no address before ':port'");
    const bool has_length = host.find('/') != std::string_view::npos;
    if (has_length && !prefixes) return refuse("an address, not a prefix");
    if (bracketed && host.find('%') != std::string_view::npos)
        return refuse("IPv6 zone ids (%eth0) are not supported");
    const std::string_view address = host.substr(0, host.find('/'));
    const auto a = parse_ip_address(address);
    if (!a) {
        if (bracketed) return refuse("not an IPv6 address inside [ ]");
        if (std::any_of(address.begin(), address.end(), is_alpha))
            return refuse("a host name: write an IP address, host names are not resolved here");
        return refuse("not an IPv4 address");
    }
    if (bracketed && a->family != IpFamily::v6) return refuse("not an IPv6 address inside [ ]");
    const auto prefix = parse_ip_prefix(host);
    if (!prefix)
        return refuse(a->family == IpFamily::v4 ? "the prefix length must be a number 0..32"
                                                : "the prefix length must be a number 0..128");
    const auto port = parse_port(parts->port);
    if (!port) return refuse("the port must be a number 1..65535");
    return StreamTarget{*prefix, *port};
}

std::string address_port_text(const IpAddress& address, uint16_t port) {
    const std::string p = ":" + std::to_string(port);
    return address.family == IpFamily::v6 ? "[" + address.to_string() + "]" + p
                                          : address.to_string() + p;
}

std::string stream_target_text(const StreamTarget& target) {
    const IpPrefix& prefix = target.prefix;
    if (prefix.length == IpPrefix::max_length(prefix.family))
        return address_port_text(prefix.address(), target.port);
    const std::string p = ":" + std::to_string(target.port);
    return prefix.family == IpFamily::v6 ? "[" + prefix.to_string() + "]" + p
                                         : prefix.to_string() + p;
}

// ---- Reading values from the tree -------------------------------------------------------

uint64_t ValueReader::integer(const YNode& n, const std::string& path, uint64_t lo, uint64_t hi,
                              std::string_view extra) const {
    const std::string expectation = "an integer " + range_text(lo, hi) + std::string(extra);
    if (n.kind != YNode::Kind::scalar) expected(n, path, expectation, describe(n));
    if (n.quoted) expected(n, path, expectation + " without quotes", "the string " + shown(n.text));
    std::string_view s = n.text;
    const bool negative = !s.empty() && s[0] == '-';
    if (negative) s.remove_prefix(1);
    if (s.empty() || !std::all_of(s.begin(), s.end(), is_digit) || (s.size() > 1 && s[0] == '0'))
        expected(n, path, expectation, shown(n.text));
    uint64_t v = 0;
    bool overflow = false;
    for (char c : s) {
        const auto digit = static_cast<uint64_t>(c - '0');
        if (v > (UINT64_MAX - digit) / 10) overflow = true;
        if (!overflow) v = v * 10 + digit;
    }
    // A number is shown as written, without the quotes a string would get.
    if (negative || overflow || v < lo || v > hi)
        expected(n, path, expectation, n.text.size() <= 24 ? n.text : shown(n.text));
    return v;
}

std::string ValueReader::file_path(const YNode& n, const std::string& path) const {
    const std::string& t = text(n, path, "a file path");
    if (t.empty() || has_control_chars(t))
        expected(n, path, "a file path without control characters", describe(n));
    // Absolute, so that the daemon finds the file again after a chdir("/").
    std::error_code ec;
    const std::filesystem::path p = std::filesystem::absolute(base_dir_ / t, ec);
    return ec ? (base_dir_ / t).string() : p.lexically_normal().string();
}

std::string ValueReader::socket_path(const YNode& n, const std::string& path) const {
    // sun_path holds 108 bytes with the terminating NUL.
    const std::string expectation = "an absolute socket path of at most 107 bytes";
    const std::string& t = text(n, path, expectation);
    if (t.empty() || t[0] != '/' || t.back() == '/' || t.size() > 107 || has_control_chars(t))
        expected(n, path, expectation, shown(t));
    return t;
}

Key ValueReader::key(const YNode& n, const std::string& path, std::string_view what) const {
    const std::string expectation =
        "a base64 " + std::string(what) + " (44 characters ending in '=')";
    // describe() quotes scalars only, so it is safe here; key_problem()
    // describes a bad key without quoting it.
    if (n.kind != YNode::Kind::scalar) expected(n, path, expectation, describe(n));
    const auto k = key_from_base64(n.text);
    if (!k) expected(n, path, expectation, key_problem(n.text));
    return *k;
}

Key ValueReader::key_from_file(const YNode& n, const std::string& path, std::string_view what,
                               std::string& resolved) const {
    resolved = file_path(n, path);
    const std::string expectation = "a readable file holding the base64 " + std::string(what);
    struct stat st {};
    std::string why_not;
    const FileDescriptor fd(open_regular(resolved, st, why_not));
    if (fd.get() < 0) expected(n, path, expectation, shown(resolved) + ": " + why_not);
    char buf[kMaxKeyFileBytes + 1];
    size_t got = 0;
    if (!read_all(fd.get(), buf, sizeof buf, got, why_not))
        expected(n, path, expectation, shown(resolved) + ": " + why_not);
    std::string_view content(buf, got);
    // `wg genkey > file` ends the key with a newline; an editor may add "\r\n".
    if (content.ends_with('\n')) content.remove_suffix(1);
    if (content.ends_with('\r')) content.remove_suffix(1);
    const auto k = got > kMaxKeyFileBytes ? std::nullopt : key_from_base64(content);
    const std::string problem = got > kMaxKeyFileBytes
                                    ? "more than " + std::to_string(kMaxKeyFileBytes) + " bytes"
                                    : key_problem(content);
    secure_wipe(buf, sizeof buf);
    if (!k)
        expected(n, path,
                 "a file holding one base64 " + std::string(what) +
                     " (44 characters and an optional newline)",
                 shown(resolved) + " with " + problem);
    if (st.st_mode & S_IRWXO)
        warn(n, path,
             shown(resolved) + " is accessible by other users (mode " + mode_text(st.st_mode) +
                 "); chmod 600 it");
    return *k;
}

IpPrefix ValueReader::prefix(const YNode& n, const std::string& path, bool network) const {
    const std::string expectation =
        network ? "an IP prefix such as 10.0.0.0/24 or fd00::/64"
                : "an address with its prefix length, such as 10.0.0.1/24 or fd00::1/64";
    const std::string& t = text(n, path, expectation);
    const auto c = parse_ip_prefix(t);
    if (!c) {
        const auto slash = t.find('/');
        std::string found = shown(t);
        if (!parse_ip_address(std::string_view(t).substr(0, slash)))
            found += " (not an IPv4 or IPv6 address)";
        else
            found += " (the prefix length must be a number 0..32 for IPv4, 0..128 for IPv6)";
        expected(n, path, expectation, found);
    }
    if (network && !c->is_masked())
        expected(n, path,
                 "a prefix with no bits set past its length (" + c->masked().to_string() + ")",
                 shown(t));
    return *c;
}

std::vector<IpPrefix> ValueReader::address_list(const YNode& n, const std::string& path) const {
    std::vector<IpPrefix> out;
    std::map<IpPrefix, size_t> seen;
    for_each(n, path, "a list of addresses such as [10.0.0.1/24, fd00::1/64]",
             [&](const YNode& item, const std::string& item_path) {
                 const IpPrefix c = prefix(item, item_path, false);
                 const auto [it, inserted] = seen.emplace(c, out.size());
                 if (!inserted)
                     expected(item, item_path, "each address once",
                              c.to_string() + " again (also " + path + "[" +
                                  std::to_string(it->second) + "])");
                 out.push_back(c);
             });
    return out;
}

Endpoint ValueReader::endpoint(const YNode& n, const std::string& path) const {
    const std::string expectation =
        "an endpoint such as 192.0.2.1:51820, \"[2001:db8::1]:51820\" or vpn.example.com:51820";
    // An unquoted [2001:db8::1] reads as a YAML list.
    if (n.kind == YNode::Kind::sequence)
        expected(n, path, expectation, "a list (put IPv6 endpoints in quotes)");
    const std::string& t = text(n, path, expectation);
    std::string why;
    const auto e = parse_endpoint(t, &why);
    if (!e) expected(n, path, expectation, shown(t) + " (" + why + ")");
    return *e;
}

AddressPort ValueReader::address_port(const YNode& n, const std::string& path) const {
    const std::string expectation =
        "an IP address and port such as 127.0.0.1:15201 or \"[::1]:15201\"";
    // An unquoted [::1]:15201 reads as a YAML list.
    if (n.kind == YNode::Kind::sequence)
        expected(n, path, expectation, "a list (put IPv6 addresses in quotes)");
    const std::string& t = text(n, path, expectation);
    std::string why;
    const auto a = parse_address_port(t, false, &why);
    if (!a) expected(n, path, expectation, shown(t) + " (" + why + ")");
    return {a->prefix.address(), a->port};
}

StreamTarget ValueReader::stream_target(const YNode& n, const std::string& path) const {
    const std::string expectation =
        "a target such as 10.1.0.5:80, 10.1.0.0/24:22 or \"[2001:db8::/64]:22\"";
    if (n.kind == YNode::Kind::sequence)
        expected(n, path, expectation, "a list (put IPv6 targets in quotes)");
    const std::string& t = text(n, path, expectation);
    std::string why;
    const auto target = parse_address_port(t, true, &why);
    if (!target) expected(n, path, expectation, shown(t) + " (" + why + ")");
    // As in allowed_ips: a prefix with host bits set is more likely a typo
    // than a wish for the whole subnet, so name the prefix instead of guessing.
    if (!target->prefix.is_masked())
        expected(n, path,
                 "a prefix with no bits set past its length (" +
                     stream_target_text({target->prefix.masked(), target->port}) + ")",
                 shown(t));
    return *target;
}

std::array<uint8_t, 6> ValueReader::mac(const YNode& n, const std::string& path) const {
    const std::string expectation =
        "a unicast MAC address of six hex pairs such as \"02:00:00:00:00:01\"";
    // An unquoted MAC such as 02:00:00:00:00:01 stays text in our tree, but a
    // number (020000000001) is a scalar too: say what the form is.
    const std::string& t = text(n, path, expectation);
    const auto m = parse_mac(t);
    if (!m)
        expected(n, path, expectation,
                 shown(t) + " (six pairs of hex digits separated by ':' or '-')");
    if (std::all_of(m->begin(), m->end(), [](uint8_t b) { return b == 0; }))
        expected(n, path, expectation, shown(t) + " (the all-zero address)");
    if (std::all_of(m->begin(), m->end(), [](uint8_t b) { return b == 0xff; }))
        expected(n, path, expectation, shown(t) + " (the broadcast address)");
    if ((*m)[0] & 1)
        expected(n, path, expectation,
                 shown(t) + " (a multicast address: the low bit of the first byte is set)");
    return *m;
}

}  // namespace config_detail

// ---- Enumerations ---------------------------------------------------------------------

std::string_view to_string(Driver driver) noexcept {
    for (const auto& [name, value] : config_detail::kDrivers)
        if (value == driver) return name;
    return "?";
}

std::string_view to_string(DataplaneMode mode) noexcept {
    for (const auto& [name, value] : config_detail::kModes)
        if (value == mode) return name;
    return "?";
}

std::string_view to_string(StreamCongestion c) noexcept {
    for (const auto& [name, value] : config_detail::kCongestionControls)
        if (value == c) return name;
    return "?";
}

std::string_view to_string(DeviceKind kind) noexcept {
    switch (kind) {
        case DeviceKind::pci:
            return "PCI device";
        case DeviceKind::vdev:
            return "DPDK vdev";
        case DeviceKind::kernel_interface:
            return "kernel interface";
    }
    return "?";
}

// ---- Endpoints ------------------------------------------------------------------------

std::optional<Endpoint> parse_endpoint(std::string_view text, std::string* why_not) {
    auto refuse = [why_not](const char* why) -> std::optional<Endpoint> {
        if (why_not) *why_not = why;
        return std::nullopt;
    };
    const auto parts = split_host_port(text, why_not);
    if (!parts) return std::nullopt;
    const std::string_view host = parts->host;
    Endpoint e;
    if (parts->bracketed) {
        if (host.find('%') != std::string_view::npos)
            return refuse("IPv6 zone ids (%eth0) are not supported");
        const auto a = parse_ip_address(host);
        if (!a || a->family != IpFamily::v6) return refuse("not an IPv6 address inside [ ]");
        e.kind = Endpoint::Kind::ipv6;
        e.address = *a;
    } else {
        if (host.empty()) return refuse("no host before ':port'");
        if (const auto a = parse_ip_address(host)) {
            e.kind = Endpoint::Kind::ipv4;
            e.address = *a;
        } else if (config_detail::valid_hostname(host)) {
            e.kind = Endpoint::Kind::hostname;
        } else {
            return refuse("neither an IPv4 address nor a host name");
        }
    }
    const auto p = parse_port(parts->port);
    if (!p) return refuse("the port must be a number 1..65535");
    e.host = std::string(host);
    e.port = *p;
    return e;
}

std::string Endpoint::to_string() const {
    const std::string p = ":" + std::to_string(port);
    switch (kind) {
        case Kind::ipv4:
            return address.to_string() + p;
        case Kind::ipv6:
            return "[" + address.to_string() + "]" + p;
        case Kind::hostname:
            break;
    }
    return host + p;
}

}  // namespace sluice
