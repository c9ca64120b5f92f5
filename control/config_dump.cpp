// dump_config: the configuration as YAML that the loader accepts back, with
// every default filled in and every private and preshared key redacted.
#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "control/config.hpp"
#include "control/config_values.hpp"
#include "control/key_encoding.hpp"

namespace sluice {

namespace {

// A YAML double-quoted scalar.
std::string yaml_quoted(std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out = "\"";
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += ch;
        } else if (c < 0x20 || c == 0x7f) {
            out += "\\x";
            out += kHex[c >> 4];
            out += kHex[c & 0xf];
        } else {
            out += ch;
        }
    }
    return out + "\"";
}

template <typename T, typename F>
std::string flow_list(const std::vector<T>& items, F&& render) {
    std::string out = "[";
    for (size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + render(items[i]);
    return out + "]";
}

std::string prefix_list(const std::vector<IpPrefix>& prefixes) {
    return flow_list(prefixes, [](const IpPrefix& p) { return p.to_string(); });
}

// An address in a flow map: IPv6 quoted, so that its colons cannot read as
// YAML.
std::string address_text(const IpAddress& a) {
    return a.family == IpFamily::v6 ? yaml_quoted(a.to_string()) : a.to_string();
}

std::string mac_text(const std::array<uint8_t, 6>& mac) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (size_t i = 0; i < mac.size(); ++i) {
        if (i) out += ':';
        out += kHex[mac[i] >> 4];
        out += kHex[mac[i] & 0xf];
    }
    return yaml_quoted(out);
}

void dump_port(std::string& out, const char* role, const PortConfig& p, bool lan) {
    out += "    " + std::string(role) + ":\n";
    out += "      device: " + yaml_quoted(p.device) + "  # " +
           std::string(to_string(p.device_kind)) + "\n";
    out += "      rx_ring_size: " + std::to_string(p.rx_ring_size) + "\n";
    out += "      tx_ring_size: " + std::to_string(p.tx_ring_size) + "\n";
    out += "      mempool_size: " + std::to_string(p.mempool_size) + "\n";
    out += "      addresses: " + prefix_list(p.addresses) + "\n";
    if (p.gateway) out += "      gateway: " + p.gateway->to_string() + "\n";
    out += std::string("      neighbours:") + (p.neighbours.empty() ? " []" : "") + "\n";
    for (const StaticNeighbour& n : p.neighbours)
        out +=
            "        - {address: " + address_text(n.address) + ", mac: " + mac_text(n.mac) + "}\n";
    // Routes belong to the lan port only; the loader refuses them on the wan.
    if (!lan) return;
    out += std::string("      routes:") + (p.routes.empty() ? " []" : "") + "\n";
    for (const StaticRoute& r : p.routes)
        out += "        - {to: " +
               (r.to.family == IpFamily::v6 ? yaml_quoted(r.to.to_string()) : r.to.to_string()) +
               ", via: " + address_text(r.via) + "}\n";
}

bool default_streams(const StreamsConfig& s) {
    const StreamsConfig d;
    return s.memory_budget == d.memory_budget &&
           s.initial_stream_window == d.initial_stream_window &&
           s.max_stream_window == d.max_stream_window &&
           s.initial_session_window == d.initial_session_window &&
           s.max_session_window == d.max_session_window && s.max_streams == d.max_streams &&
           s.idle_timeout_seconds == d.idle_timeout_seconds &&
           s.congestion_control == d.congestion_control;
}

void dump_streams(std::string& out, const StreamsConfig& s) {
    out += "streams:\n";
    out += "  memory_budget: " + std::to_string(s.memory_budget) + "\n";
    out += "  initial_stream_window: " + std::to_string(s.initial_stream_window) + "\n";
    out += "  max_stream_window: " + std::to_string(s.max_stream_window) + "\n";
    out += "  initial_session_window: " + std::to_string(s.initial_session_window) + "\n";
    out += "  max_session_window: " + std::to_string(s.max_session_window) + "\n";
    out += "  max_streams: " + std::to_string(s.max_streams) + "\n";
    out += "  idle_timeout: " + std::to_string(s.idle_timeout_seconds) + "\n";
    out += "  congestion_control: " + std::string(to_string(s.congestion_control)) + "\n";
}

void dump_forwards(std::string& out, const std::vector<ForwardConfig>& forwards) {
    out += "forwards:\n";
    for (const ForwardConfig& f : forwards) {
        out += "  - listen: " +
               yaml_quoted(config_detail::address_port_text(f.listen_address, f.listen_port)) +
               "\n";
        if (!f.name.empty()) out += "    name: " + yaml_quoted(f.name) + "\n";
        // As written, so that the dump names the peer the way the file did.
        const std::string key = key_to_base64(f.peer_key);
        out += "    peer: " + yaml_quoted(f.peer) + (f.peer == key ? "" : "  # " + key) + "\n";
        out += "    target: " +
               yaml_quoted(config_detail::address_port_text(f.target_address, f.target_port)) +
               "\n";
    }
}

}  // namespace

std::string dump_config(const Config& c) {
    constexpr const char* kRedacted = "(redacted)";
    std::string out = "# " + c.file + " as sluice reads it; private and preshared keys redacted\n";
    const InterfaceConfig& i = c.interface;
    out += "interface:\n";
    out += "  name: " + yaml_quoted(i.name) + "\n";
    if (i.private_key_file.empty())
        out += std::string("  private_key: ") + kRedacted + "\n";
    else
        out += "  private_key_file: " + yaml_quoted(i.private_key_file) + "\n";
    out += "  # public_key: " + key_to_base64(i.public_key) + "\n";
    out += "  listen_port: " + std::to_string(i.listen_port) + "\n";
    out += "  addresses: " + prefix_list(i.addresses) + "\n";
    out += "  mtu: " + std::to_string(i.mtu) + "\n";

    const DataplaneConfig& d = c.dataplane;
    out += "dataplane:\n";
    out += "  driver: " + std::string(to_string(d.driver)) + "\n";
    out +=
        "  lcores: " + flow_list(d.lcores, [](uint32_t id) { return std::to_string(id); }) + "\n";
    out += "  burst: " + std::to_string(d.burst) + "\n";
    out += "  busy_poll_us: " + std::to_string(d.busy_poll_us) + "\n";
    out += "  mode: " + std::string(to_string(d.mode)) + "\n";
    out += "  neighbour_reachable_seconds: " + std::to_string(d.neighbour_reachable_seconds) + "\n";
    if (d.wan || d.lan) {
        out += "  ports:\n";
        if (d.wan) dump_port(out, "wan", *d.wan, false);
        if (d.lan) dump_port(out, "lan", *d.lan, true);
    }

    out += c.peers.empty() ? "peers: []\n" : "peers:\n";
    for (const PeerConfig& p : c.peers) {
        out += "  - public_key: " + yaml_quoted(key_to_base64(p.public_key)) + "\n";
        if (!p.name.empty()) out += "    name: " + yaml_quoted(p.name) + "\n";
        if (!p.preshared_key_file.empty())
            out += "    preshared_key_file: " + yaml_quoted(p.preshared_key_file) + "\n";
        else if (p.preshared_key)
            out += std::string("    preshared_key: ") + kRedacted + "\n";
        if (p.endpoint) out += "    endpoint: " + yaml_quoted(p.endpoint->to_string()) + "\n";
        out += "    allowed_ips: " + prefix_list(p.allowed_ips) + "\n";
        out += "    persistent_keepalive: " + std::to_string(p.persistent_keepalive) + "\n";
        if (p.streams) {
            out += "    streams:\n";
            out += "      allow: " +
                   flow_list(p.streams->allow,
                             [](const StreamTarget& t) {
                                 return yaml_quoted(config_detail::stream_target_text(t));
                             }) +
                   "\n";
        }
    }
    // The engine's settings with every default, where some peer uses them or
    // the file changed them (a file that sets them for no peer keeps its
    // warning).
    const bool any_streams = std::any_of(c.peers.begin(), c.peers.end(),
                                         [](const PeerConfig& p) { return p.streams.has_value(); });
    if (any_streams || !default_streams(c.streams)) dump_streams(out, c.streams);
    if (!c.forwards.empty()) dump_forwards(out, c.forwards);

    out += "control:\n";
    out += "  uapi_socket: " + yaml_quoted(c.control.uapi_socket) + "\n";
    out += "  ctl_socket: " + yaml_quoted(c.control.ctl_socket) + "\n";
    if (c.testing.rekey_after_seconds != 0) {
        out += "testing:\n";
        out += "  rekey_after_seconds: " + std::to_string(c.testing.rekey_after_seconds) + "\n";
    }
    return out;
}

}  // namespace sluice
