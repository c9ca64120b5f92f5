// The configuration loader: YAML text → Config, or one ConfigError.
//
// Stages, in order; the first problem found ends the load:
//   1. bytes (config_yaml.cpp): size limit, no control characters (so every
//      later message is one printable line and yaml-cpp never sees a NUL),
//      and a bound on flow-collection nesting that keeps yaml-cpp's memory in
//      check;
//   2. YAML (config_yaml.cpp): yaml-cpp's event parser builds a small tree of
//      our own (Tree) that keeps a line and column for every key and value,
//      rejects duplicate keys, custom tags, alias cycles and deep nesting, and
//      holds no yaml-cpp types, so the schema never meets the library;
//   3. schema (this file): each section is read through a MapView that
//      refuses unknown keys (with a "did you mean") before any value is looked
//      at, then every value is checked for type, range and form
//      (config_values.cpp);
//   4. cross-checks (this file): duplicates across peers, driver against
//      devices, the stream windows against each other, each forward against
//      the peer it names, and so on.
//
// Secrets: key material is never put into a message, and the scalar strings
// of the tree and the bytes of key files are wiped after use.
#include "control/config.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <utility>

#include "control/config_files.hpp"
#include "control/config_values.hpp"
#include "control/config_yaml.hpp"
#include "control/crypto.hpp"
#include "control/key_encoding.hpp"

namespace sluice {
namespace config_detail {
namespace {

// The keys each map of the schema allows.
constexpr std::string_view kTopKeys[] = {"interface", "dataplane", "peers",  "control",
                                         "streams",   "forwards",  "testing"};
constexpr std::string_view kInterfaceKeys[] = {"name",        "private_key", "private_key_file",
                                               "listen_port", "addresses",   "mtu"};
constexpr std::string_view kDataplaneKeys[] = {
    "driver", "lcores", "burst", "mode", "ports", "busy_poll_us", "neighbour_reachable_seconds"};
constexpr std::string_view kPortsKeys[] = {"wan", "lan"};
constexpr std::string_view kPortKeys[] = {"device",       "rx_ring_size", "tx_ring_size",
                                          "mempool_size", "addresses",    "gateway",
                                          "neighbours",   "routes"};
constexpr std::string_view kNeighbourKeys[] = {"address", "mac"};
constexpr std::string_view kRouteKeys[] = {"to", "via"};
constexpr std::string_view kPeerKeys[] = {
    "name",     "public_key",  "preshared_key",        "preshared_key_file",
    "endpoint", "allowed_ips", "persistent_keepalive", "streams"};
constexpr std::string_view kPeerStreamsKeys[] = {"allow"};
constexpr std::string_view kControlKeys[] = {"uapi_socket", "ctl_socket"};
constexpr std::string_view kTestingKeys[] = {"rekey_after_seconds"};
constexpr std::string_view kStreamsKeys[] = {
    "memory_budget",      "initial_stream_window", "max_stream_window", "initial_session_window",
    "max_session_window", "max_streams",           "idle_timeout",      "congestion_control"};
constexpr std::string_view kForwardKeys[] = {"name", "listen", "peer", "target"};

// The stream engine's limits (docs/configuration.md, `streams`). A window
// below 16 KiB holds about ten packets and stalls a stream on every round
// trip; 1 TiB is far past any memory a gateway has and keeps every sum of
// windows clear of overflow.
constexpr uint64_t kMinStreamWindow = 16384;
constexpr uint64_t kMaxStreamBytes = uint64_t{1} << 40;
constexpr uint64_t kMaxStreamsPerPeer = 65536;
constexpr uint64_t kMaxStreamIdleSeconds = 86400;

// Sections a misplaced top-level or section key may have been meant for, for
// hints such as "did you mean interface.listen_port?".
constexpr Section kSections[] = {
    {"interface", kInterfaceKeys}, {"dataplane", kDataplaneKeys}, {"control", kControlKeys},
    {"streams", kStreamsKeys},     {"testing", kTestingKeys},
};

class Checker : public ValueReader {
public:
    using ValueReader::ValueReader;

    Config check(const YNode& root);

private:
    InterfaceConfig interface_section(const YNode& n, const std::string& path) const;
    DataplaneConfig dataplane_section(const YNode& n, const std::string& path) const;
    // `lan`: the lan port, the only one that takes routes.
    PortConfig port(const YNode& n, const std::string& path, bool lan) const;
    // An IP address on one of the port's subnets and not one of its own
    // addresses (a gateway, a neighbour, a next hop).
    IpAddress on_link_address(const YNode& n, const std::string& path,
                              const std::vector<IpPrefix>& addresses,
                              const std::string& addresses_path) const;
    std::vector<StaticNeighbour> neighbours(const YNode& n, const std::string& path,
                                            const PortConfig& port,
                                            const std::string& addresses_path) const;
    std::vector<StaticRoute> routes(const YNode& n, const std::string& path, const PortConfig& port,
                                    const std::string& addresses_path) const;
    std::vector<PeerConfig> peers_section(const YNode& n, const std::string& path,
                                          const InterfaceConfig& interface) const;
    PeerConfig peer(const YNode& n, const std::string& path) const;
    PeerStreamsConfig peer_streams(const YNode& n, const std::string& path) const;
    StreamsConfig streams_section(const YNode& n, const std::string& path) const;
    std::vector<ForwardConfig> forwards_section(const YNode& n, const std::string& path,
                                                const std::vector<PeerConfig>& peers) const;
    // The index of the peer a forward names, by name or by public key.
    size_t forward_peer(const YNode& n, const std::string& path, const std::string& written,
                        const std::vector<PeerConfig>& peers) const;
    ControlConfig control_section(const YNode* n, const std::string& path,
                                  const std::string& name) const;
    TestingConfig testing_section(const YNode& n, const std::string& path) const;
    void check_ports(const MapView& dataplane, DataplaneConfig& dp) const;
    // A secret comes inline or from a file, never both.
    void refuse_both(const MapView& map, const std::string& inline_key,
                     const std::string& file_key) const;
};

// ---- Sections -------------------------------------------------------------------------------

InterfaceConfig Checker::interface_section(const YNode& n, const std::string& path) const {
    const MapView map(*this, n, path, kInterfaceKeys,
                      "the interface section (a map with name and private_key)", kSections);
    InterfaceConfig out;

    const std::string name_expectation =
        "an interface name of 1 to 15 characters from A-Z a-z 0-9 _ = + . -";
    const YNode& name = map.require("name", name_expectation);
    const std::string& name_text = text(name, map.path_of("name"), name_expectation);
    if (!valid_interface_name(name_text))
        expected(name, map.path_of("name"), name_expectation, shown(name_text));
    out.name = name_text;

    const YNode* inline_key = map.find("private_key");
    const YNode* key_file = map.find("private_key_file");
    refuse_both(map, "private_key", "private_key_file");
    if (inline_key) {
        out.private_key = key(*inline_key, map.path_of("private_key"), "private key");
    } else if (key_file) {
        out.private_key = key_from_file(*key_file, map.path_of("private_key_file"), "private key",
                                        out.private_key_file);
    } else {
        expected(n, map.path_of("private_key"),
                 "a base64 private key in private_key, or its file in private_key_file", "neither");
    }
    const YNode& key_node = inline_key ? *inline_key : *key_file;
    const std::string key_path = map.path_of(inline_key ? "private_key" : "private_key_file");
    if (std::all_of(out.private_key.begin(), out.private_key.end(), [](uint8_t b) { return !b; }))
        expected(key_node, key_path, "a private key (wg genkey makes one)", "the all-zero key");
    out.public_key = crypto::public_key_of(out.private_key);

    if (const YNode* v = map.find("listen_port"))
        out.listen_port = static_cast<uint16_t>(integer(*v, map.path_of("listen_port"), 1, 65535));
    if (const YNode* v = map.find("addresses"))
        out.addresses = address_list(*v, map.path_of("addresses"));
    if (const YNode* v = map.find("mtu"))
        out.mtu = static_cast<uint16_t>(
            integer(*v, map.path_of("mtu"), config_defaults::kMinMtu, config_defaults::kMaxMtu));
    return out;
}

PortConfig Checker::port(const YNode& n, const std::string& path, bool lan) const {
    const MapView map(*this, n, path, kPortKeys, "a port (a map with a device)");
    PortConfig out;
    const std::string device_expectation =
        "a PCI address (0000:03:00.0), a DPDK vdev (net_af_packet0,iface=veth0) or a kernel "
        "interface name (eth1)";
    const YNode& device = map.require("device", device_expectation);
    out.device = text(device, map.path_of("device"), device_expectation);
    const auto kind = device_kind(out.device);
    if (!kind) expected(device, map.path_of("device"), device_expectation, shown(out.device));
    out.device_kind = *kind;

    const auto ring = [&](const char* key, uint32_t& field) {
        const YNode* v = map.find(key);
        if (!v) return;
        const uint64_t size = integer(*v, map.path_of(key), config_defaults::kMinRingSize,
                                      config_defaults::kMaxRingSize, " and a power of two");
        if (size & (size - 1))
            expected(*v, map.path_of(key),
                     "a power of two " +
                         range_text(config_defaults::kMinRingSize, config_defaults::kMaxRingSize),
                     std::to_string(size));
        field = static_cast<uint32_t>(size);
    };
    ring("rx_ring_size", out.rx_ring_size);
    ring("tx_ring_size", out.tx_ring_size);
    if (const YNode* v = map.find("mempool_size"))
        out.mempool_size = static_cast<uint32_t>(integer(*v, map.path_of("mempool_size"),
                                                         config_defaults::kMinMempoolSize,
                                                         config_defaults::kMaxMempoolSize));
    if (const YNode* v = map.find("addresses"))
        out.addresses = address_list(*v, map.path_of("addresses"));
    const std::string addresses_path = map.path_of("addresses");
    if (const YNode* v = map.find("gateway"))
        out.gateway = on_link_address(*v, map.path_of("gateway"), out.addresses, addresses_path);
    if (const YNode* v = map.find("neighbours"))
        out.neighbours = neighbours(*v, map.path_of("neighbours"), out, addresses_path);
    if (const YNode* v = map.find("routes")) {
        // The wan port reaches everything off-link through its gateway; LAN
        // destinations behind another router are the lan port's routes.
        if (!lan)
            expected(*v, map.path_of("routes"),
                     "routes on the lan port only (the wan port sends everything off-link to "
                     "its gateway)",
                     "routes on the wan port");
        out.routes = routes(*v, map.path_of("routes"), out, addresses_path);
    }
    return out;
}

IpAddress Checker::on_link_address(const YNode& n, const std::string& path,
                                   const std::vector<IpPrefix>& addresses,
                                   const std::string& addresses_path) const {
    const std::string expectation = "an IP address on one of this port's subnets";
    const auto a = parse_ip_address(text(n, path, expectation));
    if (!a) expected(n, path, expectation, shown(n.text));
    const bool on_link = std::any_of(addresses.begin(), addresses.end(),
                                     [&](const IpPrefix& c) { return c.contains(*a); });
    if (!on_link)
        expected(n, path, expectation,
                 a->to_string() + ", outside every subnet in " + addresses_path +
                     (addresses.empty() ? " (the port has no addresses)" : ""));
    if (std::any_of(addresses.begin(), addresses.end(),
                    [&](IpPrefix c) { return c.address() == *a; }))
        expected(n, path, "an address other than this port's own",
                 a->to_string() + ", one of " + addresses_path);
    return *a;
}

std::vector<StaticNeighbour> Checker::neighbours(const YNode& n, const std::string& path,
                                                 const PortConfig& port,
                                                 const std::string& addresses_path) const {
    std::vector<StaticNeighbour> out;
    std::map<IpAddress, size_t> seen;
    for_each(
        n, path, "a list of neighbours such as [{address: 192.0.2.1, mac: \"02:00:00:00:00:01\"}]",
        [&](const YNode& item, const std::string& item_path) {
            if (out.size() == config_defaults::kMaxStaticNeighbours)
                expected(item, item_path,
                         "at most " + std::to_string(config_defaults::kMaxStaticNeighbours) +
                             " neighbours on a port",
                         "more");
            const MapView map(*this, item, item_path, kNeighbourKeys,
                              "a neighbour (a map with address and mac)");
            const YNode& address =
                map.require("address", "the neighbour's IP address (address: 192.0.2.1)");
            const YNode& mac =
                map.require("mac", "the neighbour's MAC address (mac: \"02:00:00:00:00:01\")");
            StaticNeighbour entry;
            entry.address =
                on_link_address(address, map.path_of("address"), port.addresses, addresses_path);
            if (const auto [it, inserted] = seen.emplace(entry.address, out.size()); !inserted)
                expected(address, map.path_of("address"), "each neighbour address once",
                         entry.address.to_string() + " again (also " + path + "[" +
                             std::to_string(it->second) + "])");
            entry.mac = this->mac(mac, map.path_of("mac"));
            out.push_back(entry);
        });
    return out;
}

std::vector<StaticRoute> Checker::routes(const YNode& n, const std::string& path,
                                         const PortConfig& port,
                                         const std::string& addresses_path) const {
    std::vector<StaticRoute> out;
    std::map<IpPrefix, size_t> seen;
    for_each(
        n, path, "a list of routes such as [{to: 10.9.0.0/16, via: 192.168.1.254}]",
        [&](const YNode& item, const std::string& item_path) {
            if (out.size() == config_defaults::kMaxStaticRoutes)
                expected(item, item_path,
                         "at most " + std::to_string(config_defaults::kMaxStaticRoutes) + " routes",
                         "more");
            const MapView map(*this, item, item_path, kRouteKeys,
                              "a route (a map with to and via)");
            const YNode& to = map.require("to", "the destination prefix (to: 10.9.0.0/16)");
            const YNode& via = map.require("via", "the next hop on the lan (via: 192.168.1.254)");
            StaticRoute entry;
            const std::string to_path = map.path_of("to");
            const std::string via_path = map.path_of("via");
            const IpPrefix written = prefix(to, to_path, false);
            entry.to = written.masked();
            if (const auto [it, inserted] = seen.emplace(entry.to, out.size()); !inserted)
                expected(to, to_path, "each destination once",
                         entry.to.to_string() + " again (also " + path + "[" +
                             std::to_string(it->second) + "].to)");
            // The family first: "outside every subnet" would hide the
            // real mistake.
            const auto hop =
                via.kind == YNode::Kind::scalar ? parse_ip_address(via.text) : std::nullopt;
            if (hop && hop->family != entry.to.family)
                expected(via, via_path,
                         std::string("an IPv") + (entry.to.family == IpFamily::v4 ? "4" : "6") +
                             " next hop for the IPv" +
                             (entry.to.family == IpFamily::v4 ? "4" : "6") + " prefix " +
                             entry.to.to_string(),
                         hop->to_string());
            entry.via = on_link_address(via, via_path, port.addresses, addresses_path);
            if (!written.is_masked())
                warn(to, to_path,
                     written.to_string() + " has bits set past its length; read as " +
                         entry.to.to_string());
            out.push_back(entry);
        });
    return out;
}

DataplaneConfig Checker::dataplane_section(const YNode& n, const std::string& path) const {
    const MapView map(*this, n, path, kDataplaneKeys, "the dataplane section (a map)", kSections);
    DataplaneConfig out;
    if (const YNode* v = map.find("driver"))
        out.driver = choice(*v, map.path_of("driver"), kDrivers);
    if (const YNode* v = map.find("lcores")) {
        const std::string p = map.path_of("lcores");
        const std::string expectation = "a list of CPU ids such as [2, 3]";
        if (v->kind == YNode::Kind::scalar && !v->quoted && !v->text.empty() &&
            std::all_of(v->text.begin(), v->text.end(), is_digit))
            expected(*v, p, expectation, v->text + " (lcores lists CPU ids, not a count)");
        std::map<uint64_t, size_t> seen;
        for_each(*v, p, expectation, [&](const YNode& item, const std::string& item_path) {
            const uint64_t id = integer(item, item_path, 0, config_defaults::kMaxLcoreId);
            if (const auto [it, inserted] = seen.emplace(id, out.lcores.size()); !inserted)
                expected(item, item_path, "each CPU id once",
                         std::to_string(id) + " again (also " + p + "[" +
                             std::to_string(it->second) + "])");
            if (out.lcores.size() == config_defaults::kMaxLcores)
                expected(item, item_path,
                         "at most " + std::to_string(config_defaults::kMaxLcores) + " lcores",
                         "more");
            out.lcores.push_back(static_cast<uint32_t>(id));
        });
    }
    if (const YNode* v = map.find("burst"))
        out.burst =
            static_cast<uint32_t>(integer(*v, map.path_of("burst"), 1, config_defaults::kMaxBurst));
    if (const YNode* v = map.find("busy_poll_us"))
        out.busy_poll_us = static_cast<uint32_t>(integer(
            *v, map.path_of("busy_poll_us"), 0, config_defaults::kMaxBusyPollUs, " microseconds"));
    if (const YNode* v = map.find("neighbour_reachable_seconds"))
        out.neighbour_reachable_seconds = static_cast<uint32_t>(
            integer(*v, map.path_of("neighbour_reachable_seconds"), 1,
                    config_defaults::kMaxNeighbourReachableSeconds, " seconds"));
    if (const YNode* v = map.find("mode")) {
        out.mode = choice(*v, map.path_of("mode"), kModes);
        // An RX lcore and at least one crypto worker; the TX stage may share
        // the RX lcore.
        if (out.mode == DataplaneMode::pipeline && out.lcores.size() < 2)
            expected(*v, map.path_of("mode"),
                     "run-to-completion with a single lcore (pipeline needs at least 2)",
                     "pipeline");
    }
    check_ports(map, out);
    return out;
}

void Checker::refuse_both(const MapView& map, const std::string& inline_key,
                          const std::string& file_key) const {
    if (!map.find(inline_key) || !map.find(file_key)) return;
    expected(*map.find_key(file_key), map.path_of(file_key),
             "either " + inline_key + " or " + file_key,
             "both (" + inline_key + " is on line " +
                 std::to_string(map.find_key(inline_key)->line) + ")");
}

void Checker::check_ports(const MapView& dataplane, DataplaneConfig& dp) const {
    const YNode* ports_node = dataplane.find("ports");
    const std::string ports_path = dataplane.path_of("ports");
    const YNode* wan_node = nullptr;
    const YNode* lan_node = nullptr;
    if (ports_node) {
        const MapView ports(*this, *ports_node, ports_path, kPortsKeys,
                            "the ports (a map with wan and lan)");
        wan_node = ports.find("wan");
        lan_node = ports.find("lan");
        if (wan_node) dp.wan = port(*wan_node, ports.path_of("wan"), false);
        if (lan_node) dp.lan = port(*lan_node, ports.path_of("lan"), true);
    }
    const YNode& driver_node =
        dataplane.find("driver") ? *dataplane.find("driver") : dataplane.node();
    const std::string driver_path = dataplane.path_of("driver");
    const std::string driver_name(to_string(dp.driver));

    // Which ports each driver needs, and which devices it can drive.
    const bool need_wan = dp.driver == Driver::dpdk || dp.driver == Driver::af_xdp;
    const bool need_lan = dp.driver == Driver::dpdk;
    if (need_wan && !dp.wan)
        expected(ports_node ? *ports_node : driver_node, ports_path + ".wan",
                 "a wan port for driver " + driver_name, "nothing: the key wan is missing");
    if (need_lan && !dp.lan)
        expected(ports_node ? *ports_node : driver_node, ports_path + ".lan",
                 "a lan port for driver " + driver_name, "nothing: the key lan is missing");

    const auto check = [&](const std::optional<PortConfig>& p, const YNode* node,
                           const std::string& path) {
        if (!p) return;
        const MapView port_map(*this, *node, path, kPortKeys, "a port");
        const YNode& device = *port_map.find("device");
        const bool l2 = p->device_kind != DeviceKind::kernel_interface;
        if (dp.driver == Driver::dpdk && !l2)
            expected(device, port_map.path_of("device"),
                     "a PCI address or a DPDK vdev for driver dpdk",
                     "the kernel interface " + shown(p->device));
        if ((dp.driver == Driver::af_xdp || dp.driver == Driver::kernel) && l2)
            expected(device, port_map.path_of("device"),
                     "a kernel interface name for driver " + driver_name,
                     "the " + std::string(to_string(p->device_kind)) + " " + shown(p->device));
        // sluice owns the whole link on a DPDK port: it answers ARP/ND for
        // these addresses and sources the tunnel's UDP from them.
        if (l2 && p->addresses.empty())
            expected(*node, port_map.path_of("addresses"),
                     "the port's own addresses (a DPDK port has no kernel addresses)",
                     "nothing: the key addresses is missing");
        // The pool must at least fill every receive ring: one queue per lcore
        // in run-to-completion, one RX queue in pipeline mode.
        const uint64_t queues =
            dp.mode == DataplaneMode::pipeline ? 1 : std::max<size_t>(dp.lcores.size(), 1);
        const uint64_t needed = uint64_t{p->rx_ring_size} * queues + dp.burst;
        if (p->mempool_size < needed) {
            const YNode* m = port_map.find("mempool_size");
            expected(
                m ? *m : *node, port_map.path_of("mempool_size"),
                "at least rx_ring_size x queues + burst = " + std::to_string(needed) + " mbufs",
                std::to_string(p->mempool_size));
        }
    };
    check(dp.wan, wan_node, ports_path + ".wan");
    check(dp.lan, lan_node, ports_path + ".lan");

    // auto runs dpdk as soon as a port is a PCI device or a vdev (af_xdp and
    // kernel take kernel interfaces only), so such a port brings dpdk's rule:
    // both ports, both DPDK devices.
    if (dp.driver != Driver::automatic) return;
    const bool wan_l2 = dp.wan && dp.wan->device_kind != DeviceKind::kernel_interface;
    const bool lan_l2 = dp.lan && dp.lan->device_kind != DeviceKind::kernel_interface;
    if (!wan_l2 && !lan_l2) return;
    const PortConfig& l2 = wan_l2 ? *dp.wan : *dp.lan;
    const std::string l2_path = ports_path + (wan_l2 ? ".wan" : ".lan") + ".device";
    const std::string why = "driver auto picks dpdk for the " +
                            std::string(to_string(l2.device_kind)) + " " + shown(l2.device) + " (" +
                            l2_path + "), and dpdk drives both ports";
    const auto other = [&](const std::optional<PortConfig>& p, const YNode* node,
                           const std::string& role) {
        if (!p)
            expected(*ports_node, ports_path + "." + role, "a " + role + " port as well: " + why,
                     "nothing: the key " + role + " is missing");
        if (p->device_kind == DeviceKind::kernel_interface) {
            const MapView port_map(*this, *node, ports_path + "." + role, kPortKeys, "a port");
            expected(*port_map.find("device"), port_map.path_of("device"),
                     "a PCI address or a DPDK vdev: " + why,
                     "the kernel interface " + shown(p->device));
        }
    };
    if (!wan_l2) other(dp.wan, wan_node, "wan");
    if (!lan_l2) other(dp.lan, lan_node, "lan");
}

PeerConfig Checker::peer(const YNode& n, const std::string& path) const {
    const MapView map(*this, n, path, kPeerKeys, "a peer (a map with a public_key)");
    PeerConfig out;
    if (const YNode* v = map.find("name")) {
        const std::string expectation = "a peer name of 1 to 64 printable characters";
        out.name = text(*v, map.path_of("name"), expectation);
        if (!valid_peer_name(out.name))
            expected(*v, map.path_of("name"), expectation, shown(out.name));
    }
    const YNode& pub =
        map.require("public_key", "a base64 public key (44 characters ending in '=')");
    out.public_key = key(pub, map.path_of("public_key"), "public key");
    if (std::all_of(out.public_key.begin(), out.public_key.end(), [](uint8_t b) { return !b; }))
        expected(pub, map.path_of("public_key"), "a peer's public key", "the all-zero key");

    const YNode* psk = map.find("preshared_key");
    const YNode* psk_file = map.find("preshared_key_file");
    refuse_both(map, "preshared_key", "preshared_key_file");
    if (psk) out.preshared_key = key(*psk, map.path_of("preshared_key"), "preshared key");
    if (psk_file)
        out.preshared_key = key_from_file(*psk_file, map.path_of("preshared_key_file"),
                                          "preshared key", out.preshared_key_file);

    if (const YNode* v = map.find("endpoint")) out.endpoint = endpoint(*v, map.path_of("endpoint"));
    if (const YNode* v = map.find("allowed_ips"))
        for_each(*v, map.path_of("allowed_ips"), "a list of IP prefixes such as [10.0.0.0/24]",
                 [&](const YNode& item, const std::string& item_path) {
                     out.allowed_ips.push_back(prefix(item, item_path, true));
                 });
    if (const YNode* v = map.find("persistent_keepalive"))
        out.persistent_keepalive = static_cast<uint16_t>(
            integer(*v, map.path_of("persistent_keepalive"), 0, 65535, " seconds (0 = off)"));
    if (const YNode* v = map.find("streams"))
        out.streams = peer_streams(*v, map.path_of("streams"));
    return out;
}

PeerStreamsConfig Checker::peer_streams(const YNode& n, const std::string& path) const {
    // `streams:` with nothing after it is "nothing" like every empty value;
    // `streams: {}` is the way to say "a session, no targets".
    const MapView map(*this, n, path, kPeerStreamsKeys,
                      "the peer's stream settings (a map such as {allow: [127.0.0.1:5201]}, or "
                      "{} to only forward to this peer)");
    PeerStreamsConfig out;
    const YNode* allow = map.find("allow");
    if (!allow) return out;
    const std::string allow_path = map.path_of("allow");
    std::map<std::pair<IpPrefix, uint16_t>, size_t> seen;
    for_each(*allow, allow_path, "a list of targets such as [127.0.0.1:5201, 10.1.0.0/24:22]",
             [&](const YNode& item, const std::string& item_path) {
                 const StreamTarget t = stream_target(item, item_path);
                 if (const auto [it, inserted] =
                         seen.emplace(std::pair(t.prefix, t.port), out.allow.size());
                     !inserted)
                     expected(item, item_path, "each target once",
                              stream_target_text(t) + " again (also " + allow_path + "[" +
                                  std::to_string(it->second) + "])");
                 out.allow.push_back(t);
             });
    return out;
}

StreamsConfig Checker::streams_section(const YNode& n, const std::string& path) const {
    const MapView map(*this, n, path, kStreamsKeys, "the streams section (a map)", kSections);
    StreamsConfig out;
    const auto bytes = [&](const char* key, uint64_t& field) {
        if (const YNode* v = map.find(key))
            field = integer(*v, map.path_of(key), kMinStreamWindow, kMaxStreamBytes, " bytes");
    };
    bytes("memory_budget", out.memory_budget);
    bytes("initial_stream_window", out.initial_stream_window);
    bytes("max_stream_window", out.max_stream_window);
    bytes("initial_session_window", out.initial_session_window);
    bytes("max_session_window", out.max_session_window);
    if (const YNode* v = map.find("max_streams"))
        out.max_streams =
            static_cast<uint32_t>(integer(*v, map.path_of("max_streams"), 1, kMaxStreamsPerPeer));
    if (const YNode* v = map.find("idle_timeout"))
        out.idle_timeout_seconds = static_cast<uint32_t>(
            integer(*v, map.path_of("idle_timeout"), 1, kMaxStreamIdleSeconds, " seconds"));
    if (const YNode* v = map.find("congestion_control"))
        out.congestion_control =
            choice(*v, map.path_of("congestion_control"), config_detail::kCongestionControls);

    // The sizes nest: a window starts at most at its maximum, one stream's
    // window fits in the session's, and one session's fits in the budget.
    // The message goes to the larger key when it is written (that is the one
    // an operator lowered), else to the smaller one; the defaults nest, so at
    // least one of the two is written.
    const auto at_most = [&](const char* small_key, uint64_t small, const char* big_key,
                             uint64_t big) {
        if (small <= big) return;
        const YNode* small_node = map.find(small_key);
        if (const YNode* big_node = map.find(big_key))
            expected(*big_node, map.path_of(big_key),
                     "at least " + map.path_of(small_key) + " (" + std::to_string(small) +
                         (small_node ? "" : ", its default") + ")",
                     std::to_string(big));
        expected(small_node ? *small_node : map.node(), map.path_of(small_key),
                 "at most " + map.path_of(big_key) + " (" + std::to_string(big) + ", its default)",
                 std::to_string(small));
    };
    at_most("initial_stream_window", out.initial_stream_window, "max_stream_window",
            out.max_stream_window);
    at_most("initial_session_window", out.initial_session_window, "max_session_window",
            out.max_session_window);
    at_most("max_stream_window", out.max_stream_window, "max_session_window",
            out.max_session_window);
    at_most("max_session_window", out.max_session_window, "memory_budget", out.memory_budget);
    return out;
}

size_t Checker::forward_peer(const YNode& n, const std::string& path, const std::string& written,
                             const std::vector<PeerConfig>& peers) const {
    const std::string expectation = "the name or public key of a peer in peers";
    for (size_t i = 0; i < peers.size(); ++i)
        if (!peers[i].name.empty() && peers[i].name == written) return i;
    // Any base64 key is kept out of the message: it might be a private key
    // pasted into the wrong place.
    const auto k = key_from_base64(written);
    if (k)
        for (size_t i = 0; i < peers.size(); ++i)
            if (peers[i].public_key == *k) return i;
    expected(n, path, expectation,
             k ? std::string("a public key that is no peer's")
               : shown(written) + " (no peer has that name)");
}

std::vector<ForwardConfig> Checker::forwards_section(const YNode& n, const std::string& path,
                                                     const std::vector<PeerConfig>& peers) const {
    std::vector<ForwardConfig> out;
    // Where each name and listen socket was first seen, for duplicate
    // messages. A wildcard address (0.0.0.0, ::) takes the port on every
    // address of its family, so it clashes with any other listen on that port.
    std::map<std::string, size_t> names;
    std::map<std::pair<IpAddress, uint16_t>, size_t> sockets;
    std::map<std::pair<IpFamily, uint16_t>, size_t> ports;
    std::map<std::pair<IpFamily, uint16_t>, size_t> wildcards;
    for_each(
        n, path, "a list of forwards (each a map with listen, peer and target)",
        [&](const YNode& item, const std::string& item_path) {
            const MapView map(*this, item, item_path, kForwardKeys,
                              "a forward (a map with listen, peer and target)");
            ForwardConfig f;
            if (const YNode* v = map.find("name")) {
                const std::string expectation = "a forward name of 1 to 64 printable characters";
                f.name = text(*v, map.path_of("name"), expectation);
                if (!valid_peer_name(f.name))
                    expected(*v, map.path_of("name"), expectation, shown(f.name));
                if (const auto [it, inserted] = names.emplace(f.name, out.size()); !inserted)
                    expected(*v, map.path_of("name"), "a unique forward name",
                             shown(f.name) + ", already the name of " + path + "[" +
                                 std::to_string(it->second) + "]");
            }
            const YNode& listen = map.require(
                "listen", "the address and port this gateway listens on (listen: 127.0.0.1:15201)");
            const YNode& peer_node =
                map.require("peer", "the name or public key of a peer in peers (peer: site-b)");
            const YNode& target =
                map.require("target",
                            "the address and port the peer's gateway connects to (target: "
                            "127.0.0.1:5201)");

            const std::string listen_path = map.path_of("listen");
            const AddressPort l = address_port(listen, listen_path);
            f.listen_address = l.address;
            f.listen_port = l.port;
            const auto first = [&](size_t i) {
                return path + "[" + std::to_string(i) + "].listen";
            };
            const std::string listen_text = address_port_text(l.address, l.port);
            if (const auto it = sockets.find({l.address, l.port}); it != sockets.end())
                expected(listen, listen_path, "each listen address and port once",
                         listen_text + " again (also " + first(it->second) + ")");
            const bool wildcard = l.address == IpAddress{l.address.family, {}};
            const auto& clash = wildcard ? ports : wildcards;
            if (const auto it = clash.find({l.address.family, l.port}); it != clash.end())
                expected(listen, listen_path,
                         "a listen port that no other forward takes on this address or on the "
                         "wildcard address",
                         listen_text + ", which clashes with " + first(it->second) + " (" +
                             address_port_text(out[it->second].listen_address,
                                               out[it->second].listen_port) +
                             ")");
            sockets.emplace(std::pair(l.address, l.port), out.size());
            ports.emplace(std::pair(l.address.family, l.port), out.size());
            if (wildcard) wildcards.emplace(std::pair(l.address.family, l.port), out.size());

            const std::string peer_path = map.path_of("peer");
            f.peer = text(peer_node, peer_path, "the name or public key of a peer in peers");
            const size_t p = forward_peer(peer_node, peer_path, f.peer, peers);
            const std::string peer_at = "peers[" + std::to_string(p) + "]";
            if (!peers[p].streams)
                expected(peer_node, peer_path,
                         "a peer with streams (add `streams: {}` or `streams: {allow: [...]}` to " +
                             peer_at + ")",
                         shown(f.peer) + ", " + peer_at + ", without streams");
            f.peer_key = peers[p].public_key;

            const AddressPort t = address_port(target, map.path_of("target"));
            f.target_address = t.address;
            f.target_port = t.port;
            out.push_back(std::move(f));
        });
    return out;
}

std::vector<PeerConfig> Checker::peers_section(const YNode& n, const std::string& path,
                                               const InterfaceConfig& interface) const {
    std::vector<PeerConfig> peers;
    // Where each key, name and prefix was first seen, for duplicate messages.
    std::map<Key, size_t> keys;
    std::map<std::string, size_t> names;
    std::map<IpPrefix, std::string> prefixes;
    for_each(
        n, path, "a list of peers (each a map starting with '- ')",
        [&](const YNode& item, const std::string& item_path) {
            if (peers.size() == wire::kMaxPeers)
                expected(item, item_path, "at most " + std::to_string(wire::kMaxPeers) + " peers",
                         "more");
            PeerConfig p = peer(item, item_path);
            const MapView map(*this, item, item_path, kPeerKeys, "a peer");
            const YNode& pub = *map.find("public_key");
            if (p.public_key == interface.public_key)
                expected(pub, map.path_of("public_key"), "another host's public key",
                         "this interface's own public key");
            if (const auto [it, inserted] = keys.emplace(p.public_key, peers.size()); !inserted)
                expected(
                    pub, map.path_of("public_key"), "each peer's public key once",
                    "the public key of " + path + "[" + std::to_string(it->second) + "] again");
            if (!p.name.empty()) {
                if (const auto [it, inserted] = names.emplace(p.name, peers.size()); !inserted)
                    expected(*map.find("name"), map.path_of("name"), "a unique peer name",
                             shown(p.name) + ", already the name of " + path + "[" +
                                 std::to_string(it->second) + "]");
            }
            // A prefix routes to exactly one peer; the same prefix twice is
            // a mistake that WireGuard would resolve silently (last wins).
            const YNode* ips = map.find("allowed_ips");
            for (size_t i = 0; i < p.allowed_ips.size(); ++i) {
                const std::string ip_path =
                    map.path_of("allowed_ips") + "[" + std::to_string(i) + "]";
                const auto [it, inserted] = prefixes.emplace(p.allowed_ips[i], ip_path);
                if (!inserted)
                    expected(node(ips->children[i]), ip_path,
                             "each allowed IP prefix on one peer only",
                             p.allowed_ips[i].to_string() + ", already at " + it->second);
            }
            if (p.allowed_ips.empty())
                warn(item, item_path,
                     "no allowed_ips: this peer can neither send nor receive traffic");
            peers.push_back(std::move(p));
        });
    return peers;
}

ControlConfig Checker::control_section(const YNode* n, const std::string& path,
                                       const std::string& name) const {
    ControlConfig out;
    out.uapi_socket = std::string(config_defaults::kUapiSocketDir) + name + ".sock";
    out.ctl_socket = std::string(config_defaults::kCtlSocketDir) + name + ".ctl";
    if (!n) return out;
    const MapView map(*this, *n, path, kControlKeys, "the control section (a map)", kSections);
    if (const YNode* v = map.find("uapi_socket"))
        out.uapi_socket = socket_path(*v, map.path_of("uapi_socket"));
    if (const YNode* v = map.find("ctl_socket")) {
        out.ctl_socket = socket_path(*v, map.path_of("ctl_socket"));
        if (out.ctl_socket == out.uapi_socket)
            expected(*v, map.path_of("ctl_socket"), "a path other than uapi_socket",
                     shown(out.ctl_socket));
    }
    return out;
}

TestingConfig Checker::testing_section(const YNode& n, const std::string& path) const {
    TestingConfig out;
    const MapView map(*this, n, path, kTestingKeys, "the testing section (a map)", kSections);
    if (const YNode* v = map.find("rekey_after_seconds"))
        out.rekey_after_seconds = static_cast<uint32_t>(
            integer(*v, map.path_of("rekey_after_seconds"), 1, 120, " seconds"));
    warn(n, path, "testing options are set: for tests only, never in production");
    return out;
}

Config Checker::check(const YNode& root) {
    const MapView top(*this, root, "", kTopKeys,
                      "a map with the sections interface, dataplane, peers and control", kSections);
    Config out;
    out.file = file();
    out.interface = interface_section(
        top.require("interface", "the interface section (a map with name and private_key)"),
        "interface");
    if (const YNode* v = top.find("dataplane")) out.dataplane = dataplane_section(*v, "dataplane");
    if (const YNode* v = top.find("peers")) out.peers = peers_section(*v, "peers", out.interface);
    out.control = control_section(top.find("control"), "control", out.interface.name);
    if (const YNode* v = top.find("streams")) {
        out.streams = streams_section(*v, "streams");
        if (std::none_of(out.peers.begin(), out.peers.end(),
                         [](const PeerConfig& p) { return p.streams.has_value(); }))
            warn(*v, "streams",
                 "no peer has streams: these settings take effect only when one does");
    }
    if (const YNode* v = top.find("forwards"))
        out.forwards = forwards_section(*v, "forwards", out.peers);
    if (const YNode* v = top.find("testing")) out.testing = testing_section(*v, "testing");
    return out;
}

// ---- Entry points ---------------------------------------------------------------------------

Config parse(std::string_view text, const std::string& file) {
    Tree tree;
    read_tree(text, file, tree);
    std::vector<std::string> warnings;
    const std::filesystem::path base_dir = std::filesystem::path(file).parent_path();
    Checker checker(tree, file, base_dir, warnings);
    Config config = checker.check(tree.nodes[tree.root]);
    config.warnings = std::move(warnings);
    return config;
}

bool has_inline_secrets(const Config& c) {
    if (c.interface.private_key_file.empty()) return true;
    return std::any_of(c.peers.begin(), c.peers.end(), [](const PeerConfig& p) {
        return p.preshared_key && p.preshared_key_file.empty();
    });
}

Config load(const std::string& path) {
    const std::string expectation = "expected a readable configuration file";
    struct stat st {};
    std::string why_not;
    const FileDescriptor fd(open_regular(path, st, why_not));
    if (fd.get() < 0) throw ConfigError(path, 1, 1, "(file)", expectation + ", found " + why_not);
    if (static_cast<uint64_t>(st.st_size) > kMaxFileBytes)
        throw ConfigError(path, 1, 1, "(file)",
                          "expected at most " + std::to_string(kMaxFileBytes) + " bytes, found " +
                              std::to_string(st.st_size));
    // One byte more than the limit, so that a file that grew since fstat is
    // still caught by the size check in parse().
    std::string text(kMaxFileBytes + 1, '\0');
    size_t got = 0;
    if (!read_all(fd.get(), text.data(), text.size(), got, why_not)) {
        wipe_string(text);
        throw ConfigError(path, 1, 1, "(file)", expectation + ", found " + why_not);
    }
    text.resize(got);
    struct Wipe {
        std::string& s;
        ~Wipe() { wipe_string(s); }
    } wipe{text};
    Config config = parse(text, path);
    if ((st.st_mode & S_IRWXO) && has_inline_secrets(config))
        config.warnings.push_back(format_error(
            path, 1, 1, "(file)",
            "warning: the file holds keys inline and is accessible by other users (mode " +
                mode_text(st.st_mode) + "); chmod 600 it or use private_key_file"));
    return config;
}

}  // namespace
}  // namespace config_detail

Config parse_config(std::string_view yaml_text, std::string_view file_name) {
    return config_detail::parse(yaml_text, std::string(file_name));
}

Config load_config_file(const std::string& path) {
    return config_detail::load(path);
}

}  // namespace sluice
