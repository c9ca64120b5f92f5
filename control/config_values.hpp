// Scalar values of the configuration, internal to the sluice_config library:
// numbers, enumerations, names, keys and key files, paths, prefixes and
// endpoints. Each reader takes a YNode and its key path and returns the value
// or throws the ConfigError that says what was expected and what was found.
//
// Secrets: key material is never put into a message (a bad key is described
// by its length or the position of the first bad character), and the bytes of
// key files are wiped after use.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "control/config.hpp"
#include "control/config_yaml.hpp"
#include "control/names.hpp"

namespace sluice::config_detail {

inline bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

// "1..65535".
std::string range_text(uint64_t lo, uint64_t hi);

// ---- Enumerations and names -------------------------------------------------------------

// The names the file uses, in the order messages list them.
inline constexpr std::pair<std::string_view, Driver> kDrivers[] = {
    {"auto", Driver::automatic},
    {"dpdk", Driver::dpdk},
    {"af_xdp", Driver::af_xdp},
    {"kernel", Driver::kernel},
};
inline constexpr std::pair<std::string_view, StreamCongestion> kCongestionControls[] = {
    {"bbr", StreamCongestion::bbr},
    {"newreno", StreamCongestion::newreno},
};
inline constexpr std::pair<std::string_view, DataplaneMode> kModes[] = {
    {"run-to-completion", DataplaneMode::run_to_completion},
    {"pipeline", DataplaneMode::pipeline},
};

// valid_interface_name() and valid_peer_name() are in control/names.hpp.
// A PCI address, a DPDK vdev with its arguments, or a kernel interface name.
std::optional<DeviceKind> device_kind(std::string_view device);

// Six hex pairs separated by ':' or by '-' (one of the two throughout), in
// either case: "02:00:00:00:00:01", "02-00-00-00-00-0A".
std::optional<std::array<uint8_t, 6>> parse_mac(std::string_view text);

// ---- Addresses with ports ---------------------------------------------------------------

// An IP address and a TCP port: a forward's listen address or target.
struct AddressPort {
    IpAddress address;
    uint16_t port = 0;
};

// "127.0.0.1:15201" or "[::1]:15201" (no host names), and with `prefixes`
// also "10.1.0.0/24:22" or "[2001:db8::/64]:22": the length goes inside the
// brackets. A bare address is a /32 or /128. Host bits are kept as written so
// that the caller can name the masked prefix. nullopt with the reason in
// *why_not.
std::optional<StreamTarget> parse_address_port(std::string_view text, bool prefixes,
                                               std::string* why_not);

// The canonical text of those: "10.1.0.5:80", "10.1.0.0/24:22",
// "[2001:db8::5]:80", "[2001:db8::/64]:80".
std::string address_port_text(const IpAddress& address, uint16_t port);
std::string stream_target_text(const StreamTarget& target);

// ---- Reading values from the tree -------------------------------------------------------

class ValueReader : public TreeReader {
public:
    // Relative file paths are taken from base_dir, the configuration file's
    // directory.
    ValueReader(const Tree& tree, std::string file, std::filesystem::path base_dir,
                std::vector<std::string>& warnings)
        : TreeReader(tree, std::move(file), warnings), base_dir_(std::move(base_dir)) {}

    // A plain decimal in lo..hi, unquoted; `extra` adds to the expectation
    // (" seconds (0 = off)").
    uint64_t integer(const YNode& n, const std::string& path, uint64_t lo, uint64_t hi,
                     std::string_view extra = {}) const;

    // One of the options' names, with a "did you mean" for a near miss.
    template <typename E, size_t N>
    E choice(const YNode& n, const std::string& path,
             const std::pair<std::string_view, E> (&options)[N]) const {
        std::string_view names[N];
        for (size_t i = 0; i < N; ++i) names[i] = options[i].first;
        const std::string expectation = "one of " + joined(names);
        const std::string& t = text(n, path, expectation);
        for (const auto& [name, value] : options)
            if (t == name) return value;
        std::string found = shown(t);
        if (const auto hint = closest(t, names); !hint.empty())
            found += " (did you mean " + std::string(hint) + "?)";
        expected(n, path, expectation, found);
    }

    // A path taken relative to the configuration file's directory, made
    // absolute.
    std::string file_path(const YNode& n, const std::string& path) const;
    // An absolute path that fits in sun_path.
    std::string socket_path(const YNode& n, const std::string& path) const;

    // A base64 key inline; `what` names it in messages ("private key").
    Key key(const YNode& n, const std::string& path, std::string_view what) const;
    // A base64 key in the file this node names; `resolved` gets the absolute
    // path. Warns when other users may read the file.
    Key key_from_file(const YNode& n, const std::string& path, std::string_view what,
                      std::string& resolved) const;

    // A prefix; `network`: a route with no host bits set (allowed_ips), else
    // an address with its subnet (10.0.0.1/24).
    IpPrefix prefix(const YNode& n, const std::string& path, bool network) const;
    // A list of addresses with their subnets, each once.
    std::vector<IpPrefix> address_list(const YNode& n, const std::string& path) const;

    Endpoint endpoint(const YNode& n, const std::string& path) const;
    // An IP address and port, no host name (a forward's listen and target).
    AddressPort address_port(const YNode& n, const std::string& path) const;
    // A target a peer may reach through this gateway: an address or a
    // network prefix (no host bits set, as in allowed_ips) and a port.
    StreamTarget stream_target(const YNode& n, const std::string& path) const;

    // A unicast MAC address (parse_mac's forms; not multicast, broadcast or
    // all zero).
    std::array<uint8_t, 6> mac(const YNode& n, const std::string& path) const;

private:
    std::filesystem::path base_dir_;
};

}  // namespace sluice::config_detail
