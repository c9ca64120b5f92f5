// Configuration of one tunnel interface, read from one YAML file.
//
// The loader turns the file into the plain structs below or throws exactly one
// ConfigError naming the file, line, column and key of the first problem. It
// checks everything that can be checked without touching a device: types,
// ranges, key encodings, prefixes, endpoints, duplicates and the few rules
// that tie sections together (a dpdk driver needs DPDK ports, and so on).
// docs/configuration.md is the reference for every key.
//
// The YAML library stays inside config_yaml.cpp: nothing here depends on it,
// so the daemon, sluicectl and the tests see only these structs. Addresses
// and prefixes are dataplane/ip_prefix.hpp's, the types the tables take.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/ip_prefix.hpp"  // sluice::IpAddress, sluice::IpPrefix
#include "dataplane/keypair.hpp"    // sluice::Key

namespace sluice {

// ---- Errors -----------------------------------------------------------------

// One line: "FILE:LINE:COLUMN: KEY: expected ..., found ...". LINE and COLUMN
// count from 1. KEY is a path such as "peers[2].allowed_ips[0]" (list indices
// count from 0), or "(file)", "(yaml)" or "(document)" for problems that
// belong to no key. The text never contains a private or preshared key.
class ConfigError : public std::runtime_error {
public:
    ConfigError(std::string file, int line, int column, std::string key, std::string message);

    const std::string& file() const noexcept { return file_; }
    int line() const noexcept { return line_; }
    int column() const noexcept { return column_; }
    const std::string& key() const noexcept { return key_; }
    // The part after "KEY: ": what was expected and what was found.
    const std::string& message() const noexcept { return message_; }

private:
    std::string file_;
    int line_;
    int column_;
    std::string key_;
    std::string message_;
};

// ---- Endpoints ----------------------------------------------------------------

// A peer's endpoint as written: "192.0.2.1:51820", "[2001:db8::1]:51820" or
// "vpn.example.com:51820". Host names are kept unresolved; the daemon resolves
// them when it starts (and again on reload), never on the packet path.
struct Endpoint {
    enum class Kind : uint8_t { ipv4, ipv6, hostname };

    Kind kind = Kind::ipv4;
    std::string host;   // the host name, or the address without brackets
    IpAddress address;  // valid for ipv4 and ipv6
    uint16_t port = 0;  // 1..65535

    // "192.0.2.1:51820", "[2001:db8::1]:51820", "vpn.example.com:51820".
    std::string to_string() const;
    friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

// nullopt with a reason ("the port must be 1..65535", ...) in *why_not.
std::optional<Endpoint> parse_endpoint(std::string_view text, std::string* why_not = nullptr);

// ---- The configuration ----------------------------------------------------------

namespace config_defaults {
inline constexpr uint16_t kListenPort = 51820;
// 1500 minus the largest WireGuard overhead: outer IPv6 (40) + UDP (8) +
// message header (16) + tag (16).
inline constexpr uint16_t kMtu = 1420;
inline constexpr uint16_t kMinMtu = 1280;  // the IPv6 minimum link MTU
inline constexpr uint16_t kMaxMtu = 9000;  // a jumbo frame
inline constexpr uint32_t kBurst = 32;
inline constexpr uint32_t kMaxBurst = 512;
inline constexpr uint32_t kBusyPollUs = 50;
inline constexpr uint32_t kMaxBusyPollUs = 100000;
inline constexpr uint32_t kRingSize = 1024;
inline constexpr uint32_t kMinRingSize = 64;
inline constexpr uint32_t kMaxRingSize = 32768;
inline constexpr uint32_t kMempoolSize = 16383;  // 2^n - 1 suits DPDK's ring-backed pools
inline constexpr uint32_t kMinMempoolSize = 1023;
inline constexpr uint32_t kMaxMempoolSize = (1u << 24) - 1;
inline constexpr uint32_t kMaxLcoreId = 1023;
inline constexpr size_t kMaxLcores = 128;
inline constexpr uint32_t kNeighbourReachableSeconds = 30;
inline constexpr uint32_t kMaxNeighbourReachableSeconds = 3600;
inline constexpr size_t kMaxStaticNeighbours = 256;  // per port
inline constexpr size_t kMaxStaticRoutes = 256;      // on the lan port
inline constexpr std::string_view kUapiSocketDir = "/var/run/wireguard/";
inline constexpr std::string_view kCtlSocketDir = "/run/sluice/";
}  // namespace config_defaults

enum class Driver : uint8_t { automatic, dpdk, af_xdp, kernel };  // "auto" in the file
enum class DataplaneMode : uint8_t { run_to_completion, pipeline };
enum class DeviceKind : uint8_t { pci, vdev, kernel_interface };
enum class StreamCongestion : uint8_t { bbr, newreno };  // streams.congestion_control

std::string_view to_string(Driver driver) noexcept;
std::string_view to_string(DataplaneMode mode) noexcept;
std::string_view to_string(DeviceKind kind) noexcept;
std::string_view to_string(StreamCongestion c) noexcept;

struct InterfaceConfig {
    std::string name;  // the TUN device and the socket names: [A-Za-z0-9_=+.-]{1,15}
    Key private_key{};
    Key public_key{};              // derived from private_key, for display and self-checks
    std::string private_key_file;  // the path the key came from (resolved); empty when inline
    uint16_t listen_port = config_defaults::kListenPort;
    std::vector<IpPrefix> addresses;  // the tunnel's own addresses; host bits allowed (10.0.0.1/24)
    uint16_t mtu = config_defaults::kMtu;

    InterfaceConfig() = default;
    InterfaceConfig(const InterfaceConfig&) = default;
    InterfaceConfig(InterfaceConfig&&) = default;
    InterfaceConfig& operator=(const InterfaceConfig&) = default;
    InterfaceConfig& operator=(InterfaceConfig&&) = default;
    // Every copy of the private key is wiped when it goes away.
    ~InterfaceConfig() { secure_wipe(private_key.data(), private_key.size()); }
};

// A neighbour whose link-layer address is configured, never resolved:
// `{address: 192.0.2.1, mac: "02:00:00:00:00:01"}`.
struct StaticNeighbour {
    IpAddress address;
    std::array<uint8_t, 6> mac{};
    friend bool operator==(const StaticNeighbour&, const StaticNeighbour&) = default;
};

// A LAN destination behind another router: `{to: 10.9.0.0/16, via: 192.168.1.254}`.
// `via` lies inside one of the lan port's subnets and has the family of `to`.
struct StaticRoute {
    IpPrefix to;  // masked
    IpAddress via;
    friend bool operator==(const StaticRoute&, const StaticRoute&) = default;
};

struct PortConfig {
    std::string device;  // "0000:03:00.0", "net_af_packet0,iface=veth0" or "eth1"
    DeviceKind device_kind = DeviceKind::kernel_interface;
    uint32_t rx_ring_size = config_defaults::kRingSize;  // descriptors per queue, power of two
    uint32_t tx_ring_size = config_defaults::kRingSize;
    uint32_t mempool_size = config_defaults::kMempoolSize;  // mbufs in this port's pool
    // L2 ports only (sluice builds the Ethernet/IP headers itself): our
    // addresses on this link, with their subnets, and the next hop for
    // everything off-link.
    std::vector<IpPrefix> addresses;
    std::optional<IpAddress> gateway;
    std::vector<StaticNeighbour> neighbours;  // L2 ports: entries never resolved nor aged
    std::vector<StaticRoute> routes;          // the lan port only
};

struct DataplaneConfig {
    Driver driver = Driver::automatic;
    std::vector<uint32_t> lcores;  // CPU ids for packet cores; empty: the daemon picks one
    uint32_t burst = config_defaults::kBurst;
    // Kernel driver: how long an lcore keeps polling an idle queue before it
    // sleeps on epoll. Longer trades CPU for latency; 0 sleeps at once.
    uint32_t busy_poll_us = config_defaults::kBusyPollUs;
    DataplaneMode mode = DataplaneMode::run_to_completion;
    std::optional<PortConfig> wan;  // absent: kernel UDP socket on listen_port, any interface
    std::optional<PortConfig> lan;  // absent: a TUN device named after the interface
    // L2 ports: how long a resolved neighbour is used before it is confirmed
    // again (ARP request / neighbour solicitation, 3 tries a second apart).
    uint32_t neighbour_reachable_seconds = config_defaults::kNeighbourReachableSeconds;
};

// A target a peer may ask this gateway to connect to through a forward:
// "10.1.0.5:80", "[2001:db8::5]:22", or a prefix "10.1.0.0/24:80" (any
// address inside it, that port).
struct StreamTarget {
    IpPrefix prefix;  // masked; a single address is a /32 or /128
    uint16_t port = 0;  // 1..65535
    friend bool operator==(const StreamTarget&, const StreamTarget&) = default;
};

// Streams with one peer (DESIGN §7, docs/streams.md): present only when the
// peer's `streams:` key is, and only for peers that are sluice gateways.
struct PeerStreamsConfig {
    std::vector<StreamTarget> allow;  // targets this peer's forwards may reach from here
};

struct PeerConfig {
    std::string name;  // optional, unique when set
    Key public_key{};
    SecretKey preshared_key;
    std::string preshared_key_file;  // resolved path; empty when inline or absent
    std::optional<Endpoint> endpoint;
    std::vector<IpPrefix> allowed_ips;  // masked, unique across all peers
    uint16_t persistent_keepalive = 0;  // seconds; 0 = off
    std::optional<PeerStreamsConfig> streams;  // absent: no stream session with this peer
};

// The gateway-wide settings of the stream engine (`streams:`); every key
// optional. Windows are bytes; they grow from the initial toward the max.
namespace config_defaults {
inline constexpr uint64_t kStreamMemoryBudget = uint64_t{256} << 20;
inline constexpr uint64_t kInitialStreamWindow = 256 * 1024;
inline constexpr uint64_t kMaxStreamWindow = uint64_t{16} << 20;
inline constexpr uint64_t kInitialSessionWindow = uint64_t{1} << 20;
inline constexpr uint64_t kMaxSessionWindow = uint64_t{64} << 20;
inline constexpr uint32_t kMaxStreamsPerPeer = 256;
inline constexpr uint32_t kStreamIdleTimeoutSeconds = 60;
}  // namespace config_defaults

struct StreamsConfig {
    uint64_t memory_budget = config_defaults::kStreamMemoryBudget;  // receive windows, all sessions
    uint64_t initial_stream_window = config_defaults::kInitialStreamWindow;
    uint64_t max_stream_window = config_defaults::kMaxStreamWindow;
    uint64_t initial_session_window = config_defaults::kInitialSessionWindow;
    uint64_t max_session_window = config_defaults::kMaxSessionWindow;
    uint32_t max_streams = config_defaults::kMaxStreamsPerPeer;  // open at once, per peer
    uint32_t idle_timeout_seconds = config_defaults::kStreamIdleTimeoutSeconds;
    StreamCongestion congestion_control = StreamCongestion::bbr;
    friend bool operator==(const StreamsConfig&, const StreamsConfig&) = default;
};

// A TCP service published through the tunnel: this gateway listens on
// `listen`; each accepted connection becomes one stream to `peer`, whose
// gateway connects to `target` (if its config allows it) and splices the two.
struct ForwardConfig {
    std::string name;     // optional label for logs and sluicectl; unique when set
    IpAddress listen_address;
    uint16_t listen_port = 0;  // 1..65535
    std::string peer;          // a peer's name or base64 public key, as written
    Key peer_key{};            // the peer it resolves to (must have `streams:`)
    IpAddress target_address;
    uint16_t target_port = 0;
    friend bool operator==(const ForwardConfig&, const ForwardConfig&) = default;
};

struct ControlConfig {
    std::string uapi_socket;  // default /var/run/wireguard/<name>.sock (wg(8) finds it there)
    std::string ctl_socket;   // default /run/sluice/<name>.ctl (sluicectl)
};

// Options that exist only so tests can see in seconds what takes minutes in
// production. Never set them on a real gateway: the loader warns when they are.
struct TestingConfig {
    // REKEY_AFTER_TIME in seconds (1..120); 0: WireGuard's 120 s. The
    // initiation rate limit (one per REKEY_TIMEOUT, 5 s) still applies.
    uint32_t rekey_after_seconds = 0;
};

struct Config {
    std::string file;  // where it was read from, as given
    InterfaceConfig interface;
    DataplaneConfig dataplane;
    std::vector<PeerConfig> peers;
    ControlConfig control;
    StreamsConfig streams;                // used only when some peer has `streams:`
    std::vector<ForwardConfig> forwards;
    TestingConfig testing;
    // Things that work but deserve a look (a key file others can read, a peer
    // without allowed IPs), one line each in the same format as errors.
    std::vector<std::string> warnings;
};

// ---- Loading ----------------------------------------------------------------------

// Both throw ConfigError and nothing else for a bad file (std::bad_alloc aside).
// Relative private_key_file / preshared_key_file paths are taken from the
// directory of the configuration file (of file_name for parse_config).
Config load_config_file(const std::string& path);
Config parse_config(std::string_view yaml_text, std::string_view file_name);

// The configuration as YAML that the loader accepts back, with every private
// and preshared key replaced by "(redacted)" (so that line alone fails to load).
std::string dump_config(const Config& config);

}  // namespace sluice
