// Tests of the configuration loader: a full file read into the expected
// values, defaults, key files, the dump, the address parsers, and a table of
// broken files that must each give one message with the right place, key and
// expectation.
#include "control/config.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "control/crypto.hpp"
#include "control/key_encoding.hpp"

namespace sluice {
namespace {

namespace fs = std::filesystem;

Key key_of(uint8_t fill) {
    Key k;
    k.fill(fill);
    k[31] = 7;  // not all zero even for fill 0
    return k;
}

// The keys the texts below refer to as $PRIV, $PUB1.., $PSK.
const Key kPrivate = key_of(0xa1);
const Key kPeer1 = key_of(0xb2);
const Key kPeer2 = key_of(0xc3);
const Key kPeer3 = key_of(0xd4);
const Key kPsk = key_of(0xe5);

void replace_all(std::string& s, const std::string& from, const std::string& to) {
    for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
        s.replace(at, from.size(), to);
}

// Fills in the placeholders. They are longer than nothing and shorter than
// a key, so columns after them on the same line shift; the tables below never
// point past one.
std::string expand(std::string text, const std::string& dir = "/nonexistent") {
    replace_all(text, "$PRIV", key_to_base64(kPrivate));
    replace_all(text, "$PUB1", key_to_base64(kPeer1));
    replace_all(text, "$PUB2", key_to_base64(kPeer2));
    replace_all(text, "$PUB3", key_to_base64(kPeer3));
    replace_all(text, "$PSK", key_to_base64(kPsk));
    replace_all(text, "$SELF", key_to_base64(crypto::public_key_of(kPrivate)));
    replace_all(text, "$DIR", dir);
    return text;
}

// A temporary directory, removed with everything in it.
class TempDir {
public:
    TempDir() {
        std::string pattern = (fs::temp_directory_path() / "sluice-config-test-XXXXXX").string();
        if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
        path_ = pattern;
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    const fs::path& path() const { return path_; }
    std::string write(const std::string& name, const std::string& content,
                      mode_t mode = 0600) const {
        const fs::path p = path_ / name;
        std::ofstream(p, std::ios::binary) << content;
        ::chmod(p.c_str(), mode);
        return p.string();
    }

private:
    fs::path path_;
};

// ---- A full configuration -------------------------------------------------------

constexpr const char* kFullConfig = R"(# a hub with two road warriors and a site
interface:
  name: wg-hub0
  private_key: $PRIV
  listen_port: 51999
  addresses: [10.10.0.1/24, "fd00:10::1/64"]
  mtu: 1380

dataplane:
  driver: dpdk
  lcores: [2, 3, 4]
  burst: 64
  mode: run-to-completion
  neighbour_reachable_seconds: 45
  ports:
    wan:
      device: "0000:03:00.0"
      rx_ring_size: 2048
      tx_ring_size: 512
      mempool_size: 32767
      addresses: [192.0.2.10/24]
      gateway: 192.0.2.1
      neighbours: [{address: 192.0.2.1, mac: "02:00:00:00:00:01"}]
    lan:
      device: net_af_packet0,iface=veth0
      addresses: [10.20.0.1/16]
      routes: [{to: 10.21.0.0/16, via: 10.20.0.254}]

peers:
  - name: alice-laptop
    public_key: $PUB1
    preshared_key: $PSK
    endpoint: "[2001:db8::7]:40000"
    allowed_ips: [10.10.0.2/32, "fd00:10::2/128"]
    persistent_keepalive: 25
  - name: branch-office
    public_key: $PUB2
    endpoint: branch.example.net:51820
    allowed_ips:
      - 10.30.0.0/16
      - 0.0.0.0/0
  - public_key: $PUB3
    endpoint: 198.51.100.4:1

control:
  uapi_socket: /tmp/sluice-test/wg-hub0.sock
  ctl_socket: /tmp/sluice-test/wg-hub0.ctl
)";

TEST(Config, FullConfigurationReadsIntoTheStructs) {
    const Config c = parse_config(expand(kFullConfig), "hub.yaml");
    EXPECT_EQ(c.file, "hub.yaml");

    EXPECT_EQ(c.interface.name, "wg-hub0");
    EXPECT_EQ(c.interface.private_key, kPrivate);
    EXPECT_EQ(c.interface.public_key, crypto::public_key_of(kPrivate));
    EXPECT_TRUE(c.interface.private_key_file.empty());
    EXPECT_EQ(c.interface.listen_port, 51999);
    ASSERT_EQ(c.interface.addresses.size(), 2u);
    EXPECT_EQ(c.interface.addresses[0].to_string(), "10.10.0.1/24");
    EXPECT_EQ(c.interface.addresses[1].to_string(), "fd00:10::1/64");
    EXPECT_EQ(c.interface.addresses[1].family, IpFamily::v6);
    EXPECT_EQ(c.interface.mtu, 1380);

    const DataplaneConfig& d = c.dataplane;
    EXPECT_EQ(d.driver, Driver::dpdk);
    EXPECT_EQ(d.lcores, (std::vector<uint32_t>{2, 3, 4}));
    EXPECT_EQ(d.burst, 64u);
    EXPECT_EQ(d.mode, DataplaneMode::run_to_completion);
    ASSERT_TRUE(d.wan.has_value());
    EXPECT_EQ(d.wan->device, "0000:03:00.0");
    EXPECT_EQ(d.wan->device_kind, DeviceKind::pci);
    EXPECT_EQ(d.wan->rx_ring_size, 2048u);
    EXPECT_EQ(d.wan->tx_ring_size, 512u);
    EXPECT_EQ(d.wan->mempool_size, 32767u);
    ASSERT_EQ(d.wan->addresses.size(), 1u);
    EXPECT_EQ(d.wan->addresses[0].to_string(), "192.0.2.10/24");
    ASSERT_TRUE(d.wan->gateway.has_value());
    EXPECT_EQ(d.wan->gateway->to_string(), "192.0.2.1");
    ASSERT_TRUE(d.lan.has_value());
    EXPECT_EQ(d.lan->device, "net_af_packet0,iface=veth0");
    EXPECT_EQ(d.lan->device_kind, DeviceKind::vdev);
    EXPECT_EQ(d.lan->rx_ring_size, config_defaults::kRingSize);
    EXPECT_EQ(d.lan->mempool_size, config_defaults::kMempoolSize);
    EXPECT_FALSE(d.lan->gateway.has_value());
    EXPECT_EQ(d.neighbour_reachable_seconds, 45u);
    ASSERT_EQ(d.wan->neighbours.size(), 1u);
    EXPECT_EQ(d.wan->neighbours[0].address.to_string(), "192.0.2.1");
    EXPECT_EQ(d.wan->neighbours[0].mac, (std::array<uint8_t, 6>{2, 0, 0, 0, 0, 1}));
    EXPECT_TRUE(d.wan->routes.empty());
    EXPECT_TRUE(d.lan->neighbours.empty());
    ASSERT_EQ(d.lan->routes.size(), 1u);
    EXPECT_EQ(d.lan->routes[0].to.to_string(), "10.21.0.0/16");
    EXPECT_EQ(d.lan->routes[0].via.to_string(), "10.20.0.254");

    ASSERT_EQ(c.peers.size(), 3u);
    const PeerConfig& alice = c.peers[0];
    EXPECT_EQ(alice.name, "alice-laptop");
    EXPECT_EQ(alice.public_key, kPeer1);
    ASSERT_TRUE(alice.preshared_key.has_value());
    EXPECT_EQ(*alice.preshared_key, kPsk);
    ASSERT_TRUE(alice.endpoint.has_value());
    EXPECT_EQ(alice.endpoint->kind, Endpoint::Kind::ipv6);
    EXPECT_EQ(alice.endpoint->port, 40000);
    EXPECT_EQ(alice.endpoint->to_string(), "[2001:db8::7]:40000");
    ASSERT_EQ(alice.allowed_ips.size(), 2u);
    EXPECT_EQ(alice.allowed_ips[0].to_string(), "10.10.0.2/32");
    EXPECT_EQ(alice.allowed_ips[1].to_string(), "fd00:10::2/128");
    EXPECT_EQ(alice.persistent_keepalive, 25);

    const PeerConfig& branch = c.peers[1];
    EXPECT_EQ(branch.public_key, kPeer2);
    EXPECT_FALSE(branch.preshared_key.has_value());
    ASSERT_TRUE(branch.endpoint.has_value());
    EXPECT_EQ(branch.endpoint->kind, Endpoint::Kind::hostname);
    EXPECT_EQ(branch.endpoint->host, "branch.example.net");
    EXPECT_EQ(branch.endpoint->port, 51820);
    ASSERT_EQ(branch.allowed_ips.size(), 2u);
    EXPECT_EQ(branch.allowed_ips[1].to_string(), "0.0.0.0/0");
    EXPECT_EQ(branch.persistent_keepalive, 0);

    const PeerConfig& third = c.peers[2];
    EXPECT_TRUE(third.name.empty());
    EXPECT_EQ(third.endpoint->kind, Endpoint::Kind::ipv4);
    EXPECT_EQ(third.endpoint->to_string(), "198.51.100.4:1");
    EXPECT_TRUE(third.allowed_ips.empty());

    EXPECT_EQ(c.control.uapi_socket, "/tmp/sluice-test/wg-hub0.sock");
    EXPECT_EQ(c.control.ctl_socket, "/tmp/sluice-test/wg-hub0.ctl");

    // The peer without allowed IPs is legal but worth a warning.
    ASSERT_EQ(c.warnings.size(), 1u);
    EXPECT_NE(c.warnings[0].find("hub.yaml:42:5: peers[2]: warning: no allowed_ips"),
              std::string::npos)
        << c.warnings[0];
}

TEST(Config, DefaultsFillEverythingLeftOut) {
    const Config c = parse_config(expand("interface:\n  name: wg0\n  private_key: $PRIV\n"),
                                  "/etc/sluice/wg0.yaml");
    EXPECT_EQ(c.interface.listen_port, 51820);
    EXPECT_EQ(c.interface.mtu, 1420);
    EXPECT_TRUE(c.interface.addresses.empty());
    EXPECT_EQ(c.dataplane.driver, Driver::automatic);
    EXPECT_TRUE(c.dataplane.lcores.empty());
    EXPECT_EQ(c.dataplane.burst, 32u);
    EXPECT_EQ(c.dataplane.mode, DataplaneMode::run_to_completion);
    EXPECT_FALSE(c.dataplane.wan.has_value());
    EXPECT_FALSE(c.dataplane.lan.has_value());
    EXPECT_EQ(c.dataplane.neighbour_reachable_seconds, 30u);
    EXPECT_TRUE(c.peers.empty());
    EXPECT_EQ(c.control.uapi_socket, "/var/run/wireguard/wg0.sock");
    EXPECT_EQ(c.control.ctl_socket, "/run/sluice/wg0.ctl");
    EXPECT_TRUE(c.warnings.empty());
}

TEST(Config, FlowStyleAndQuotedStringsAreTheSameConfiguration) {
    const Config a = parse_config(
        expand("{interface: {name: \"wg0\", private_key: \"$PRIV\"}, dataplane: {mode: "
               "'pipeline', lcores: [1, 2]}, peers: [{public_key: '$PUB1', allowed_ips: "
               "['10.0.0.0/8']}]}"),
        "flow.yaml");
    EXPECT_EQ(a.interface.name, "wg0");
    EXPECT_EQ(a.dataplane.mode, DataplaneMode::pipeline);
    ASSERT_EQ(a.peers.size(), 1u);
    EXPECT_EQ(a.peers[0].allowed_ips[0].to_string(), "10.0.0.0/8");
}

TEST(Config, AliasesOfCompleteNodesAreAllowed) {
    const Config c = parse_config(expand(R"(interface:
  name: wg0
  private_key: $PRIV
  addresses: &lan [10.0.0.1/24]
dataplane:
  driver: kernel
  ports:
    lan: {device: eth1, addresses: *lan}
)"),
                                  "alias.yaml");
    ASSERT_TRUE(c.dataplane.lan.has_value());
    EXPECT_EQ(c.dataplane.lan->addresses, c.interface.addresses);
}

TEST(Config, EmptyPeerListIsFine) {
    const Config c =
        parse_config(expand("interface: {name: wg0, private_key: $PRIV}\npeers: []\n"), "x.yaml");
    EXPECT_TRUE(c.peers.empty());
}

// ---- Key files --------------------------------------------------------------------

TEST(Config, KeyFilesAreReadRelativeToTheConfigurationFile) {
    TempDir dir;
    dir.write("wg0.key", key_to_base64(kPrivate) + "\n");
    dir.write("alice.psk", key_to_base64(kPsk) + "\r\n");
    const std::string file = dir.write("wg0.yaml", expand(R"(interface:
  name: wg0
  private_key_file: wg0.key
peers:
  - public_key: $PUB1
    preshared_key_file: $DIR/alice.psk
    allowed_ips: [10.0.0.2/32]
)",
                                                          dir.path().string()));
    const Config c = load_config_file(file);
    EXPECT_EQ(c.interface.private_key, kPrivate);
    EXPECT_EQ(c.interface.private_key_file, (dir.path() / "wg0.key").string());
    ASSERT_TRUE(c.peers[0].preshared_key.has_value());
    EXPECT_EQ(*c.peers[0].preshared_key, kPsk);
    EXPECT_EQ(c.peers[0].preshared_key_file, (dir.path() / "alice.psk").string());
    EXPECT_TRUE(c.warnings.empty()) << c.warnings[0];
}

TEST(Config, KeyFileWithoutNewlineIsFine) {
    TempDir dir;
    dir.write("k", key_to_base64(kPrivate));
    const std::string file =
        dir.write("c.yaml", "interface:\n  name: wg0\n  private_key_file: k\n");
    EXPECT_EQ(load_config_file(file).interface.private_key, kPrivate);
}

TEST(Config, KeyFileReadableByOthersGivesAWarning) {
    TempDir dir;
    dir.write("k", key_to_base64(kPrivate) + "\n", 0644);
    const std::string file =
        dir.write("c.yaml", "interface:\n  name: wg0\n  private_key_file: k\n");
    const Config c = load_config_file(file);
    ASSERT_EQ(c.warnings.size(), 1u);
    EXPECT_NE(c.warnings[0].find(file + ":3:21: interface.private_key_file: warning:"),
              std::string::npos)
        << c.warnings[0];
    EXPECT_NE(c.warnings[0].find("0644"), std::string::npos);
}

TEST(Config, InlineKeysInAFileOthersCanReadGiveAWarning) {
    TempDir dir;
    const std::string file =
        dir.write("c.yaml", expand("interface:\n  name: wg0\n  private_key: $PRIV\n"), 0644);
    const Config c = load_config_file(file);
    ASSERT_EQ(c.warnings.size(), 1u);
    EXPECT_NE(c.warnings[0].find("holds keys inline"), std::string::npos) << c.warnings[0];
    EXPECT_EQ(c.warnings[0].find(key_to_base64(kPrivate)), std::string::npos);
}

TEST(Config, MissingConfigurationFileIsAConfigError) {
    try {
        load_config_file("/nonexistent/sluice.yaml");
        FAIL() << "no error";
    } catch (const ConfigError& e) {
        EXPECT_STREQ(e.what(),
                     "/nonexistent/sluice.yaml:1:1: (file): expected a readable configuration "
                     "file, found No such file or directory");
    }
}

TEST(Config, DirectoryAsConfigurationFileIsAConfigError) {
    TempDir dir;
    try {
        load_config_file(dir.path().string());
        FAIL() << "no error";
    } catch (const ConfigError& e) {
        EXPECT_EQ(e.key(), "(file)");
        EXPECT_NE(e.message().find("a directory"), std::string::npos) << e.what();
    }
}

// ---- Dump ---------------------------------------------------------------------------

TEST(Config, DumpRedactsSecretsAndLoadsBack) {
    TempDir dir;
    dir.write("wg0.key", key_to_base64(kPrivate) + "\n");
    dir.write("alice.psk", key_to_base64(kPsk) + "\n");
    std::string text = expand(kFullConfig);
    replace_all(text, "private_key: " + key_to_base64(kPrivate), "private_key_file: wg0.key");
    replace_all(text, "preshared_key: " + key_to_base64(kPsk), "preshared_key_file: alice.psk");
    const Config original = load_config_file(dir.write("hub.yaml", text));
    const std::string dump = dump_config(original);
    EXPECT_EQ(dump.find(key_to_base64(kPrivate)), std::string::npos);
    EXPECT_EQ(dump.find(key_to_base64(kPsk)), std::string::npos);
    EXPECT_NE(dump.find(key_to_base64(crypto::public_key_of(kPrivate))), std::string::npos);

    const Config again = parse_config(dump, (dir.path() / "dump.yaml").string());
    EXPECT_EQ(again.interface.private_key, original.interface.private_key);
    EXPECT_EQ(again.interface.addresses, original.interface.addresses);
    EXPECT_EQ(again.dataplane.lcores, original.dataplane.lcores);
    EXPECT_EQ(again.dataplane.wan->device, original.dataplane.wan->device);
    EXPECT_EQ(again.dataplane.wan->gateway, original.dataplane.wan->gateway);
    EXPECT_EQ(again.dataplane.wan->neighbours, original.dataplane.wan->neighbours);
    EXPECT_EQ(again.dataplane.lan->device, original.dataplane.lan->device);
    EXPECT_EQ(again.dataplane.lan->routes, original.dataplane.lan->routes);
    EXPECT_EQ(again.dataplane.neighbour_reachable_seconds,
              original.dataplane.neighbour_reachable_seconds);
    ASSERT_EQ(again.peers.size(), original.peers.size());
    for (size_t i = 0; i < again.peers.size(); ++i) {
        EXPECT_EQ(again.peers[i].name, original.peers[i].name);
        EXPECT_EQ(again.peers[i].public_key, original.peers[i].public_key);
        EXPECT_EQ(again.peers[i].preshared_key, original.peers[i].preshared_key);
        EXPECT_EQ(again.peers[i].endpoint, original.peers[i].endpoint);
        EXPECT_EQ(again.peers[i].allowed_ips, original.peers[i].allowed_ips);
    }
    EXPECT_EQ(again.control.uapi_socket, original.control.uapi_socket);
}

TEST(Config, DumpOfInlineKeysSaysRedacted) {
    const std::string dump = dump_config(parse_config(expand(kFullConfig), "hub.yaml"));
    EXPECT_NE(dump.find("private_key: (redacted)"), std::string::npos);
    EXPECT_NE(dump.find("preshared_key: (redacted)"), std::string::npos);
    EXPECT_EQ(dump.find(key_to_base64(kPrivate)), std::string::npos);
    EXPECT_EQ(dump.find(key_to_base64(kPsk)), std::string::npos);
}

// ---- L2 ports: static neighbours and routes ---------------------------------------------

#define WG0_IFACE "interface:\n  name: wg0\n  private_key: $PRIV\n"

// The L2 gateway of docs/configuration.md.
constexpr const char* kL2Gateway = R"(interface:
  name: gw0
  private_key: $PRIV
  addresses: [10.250.0.1/24]
dataplane:
  driver: dpdk
  lcores: [2, 3]
  neighbour_reachable_seconds: 120
  ports:
    wan:
      device: net_af_packet0,iface=wan0
      addresses: [192.0.2.1/24, "2001:db8::1/64"]
      gateway: 192.0.2.254
      neighbours:
        - {address: 192.0.2.254, mac: "02:00:00:00:00:fe"}
        - address: "2001:db8::fe"
          mac: 02-00-00-00-00-FE
    lan:
      device: net_af_packet1,iface=lan0
      addresses: [192.168.1.1/24, "fd00:1::1/64"]
      routes:
        - {to: 10.9.0.0/16, via: 192.168.1.254}
        - {to: "fd00:9::/48", via: "fd00:1::fe"}
        - to: 0.0.0.0/0
          via: 192.168.1.253
      neighbours:
        - {address: 192.168.1.254, mac: 0a:1b:2c:3d:4e:5f}
)";

TEST(Config, StaticNeighboursAndRoutesReadIntoThePorts) {
    const Config c = parse_config(expand(kL2Gateway), "gw.yaml");
    EXPECT_TRUE(c.warnings.empty()) << c.warnings[0];
    const DataplaneConfig& d = c.dataplane;
    EXPECT_EQ(d.neighbour_reachable_seconds, 120u);
    ASSERT_TRUE(d.wan && d.lan);
    ASSERT_EQ(d.wan->neighbours.size(), 2u);
    EXPECT_EQ(d.wan->neighbours[0].address.to_string(), "192.0.2.254");
    EXPECT_EQ(d.wan->neighbours[0].mac, (std::array<uint8_t, 6>{2, 0, 0, 0, 0, 0xfe}));
    EXPECT_EQ(d.wan->neighbours[1].address.to_string(), "2001:db8::fe");
    EXPECT_EQ(d.wan->neighbours[1].address.family, IpFamily::v6);
    EXPECT_EQ(d.wan->neighbours[1].mac, (std::array<uint8_t, 6>{2, 0, 0, 0, 0, 0xfe}));
    EXPECT_TRUE(d.wan->routes.empty());
    ASSERT_EQ(d.lan->routes.size(), 3u);
    EXPECT_EQ(d.lan->routes[0].to.to_string(), "10.9.0.0/16");
    EXPECT_EQ(d.lan->routes[0].via.to_string(), "192.168.1.254");
    EXPECT_EQ(d.lan->routes[1].to.to_string(), "fd00:9::/48");
    EXPECT_EQ(d.lan->routes[1].via.to_string(), "fd00:1::fe");
    EXPECT_EQ(d.lan->routes[2].to.to_string(), "0.0.0.0/0");
    ASSERT_EQ(d.lan->neighbours.size(), 1u);
    EXPECT_EQ(d.lan->neighbours[0].mac,
              (std::array<uint8_t, 6>{0x0a, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f}));
}

TEST(Config, StaticNeighboursAndRoutesSurviveTheDump) {
    const Config original = parse_config(expand(kL2Gateway), "gw.yaml");
    const std::string dump = dump_config(original);
    EXPECT_NE(dump.find("neighbour_reachable_seconds: 120"), std::string::npos) << dump;
    EXPECT_NE(dump.find("- {address: 192.0.2.254, mac: \"02:00:00:00:00:fe\"}"), std::string::npos)
        << dump;
    EXPECT_NE(dump.find("- {to: 10.9.0.0/16, via: 192.168.1.254}"), std::string::npos) << dump;
    std::string text = dump;
    replace_all(text, "private_key: (redacted)", "private_key: " + key_to_base64(kPrivate));
    const Config again = parse_config(text, "gw.yaml");
    EXPECT_TRUE(again.warnings.empty()) << again.warnings[0];
    EXPECT_EQ(again.dataplane.neighbour_reachable_seconds, 120u);
    EXPECT_EQ(again.dataplane.wan->addresses, original.dataplane.wan->addresses);
    EXPECT_EQ(again.dataplane.wan->gateway, original.dataplane.wan->gateway);
    EXPECT_EQ(again.dataplane.wan->neighbours, original.dataplane.wan->neighbours);
    EXPECT_EQ(again.dataplane.wan->routes, original.dataplane.wan->routes);
    EXPECT_EQ(again.dataplane.lan->neighbours, original.dataplane.lan->neighbours);
    EXPECT_EQ(again.dataplane.lan->routes, original.dataplane.lan->routes);
    // And the dump of the dump is the same text.
    EXPECT_EQ(dump_config(again), dump);
}

TEST(Config, EmptyNeighboursAndRoutesSurviveTheDump) {
    const Config original =
        parse_config(expand(WG0_IFACE "dataplane:\n  driver: dpdk\n"
                                      "  ports:\n"
                                      "    wan: {device: net_null0, addresses: [192.0.2.2/24]}\n"
                                      "    lan: {device: net_null1, addresses: [10.0.0.1/24],"
                                      " neighbours: [], routes: []}\n"),
                     "e.yaml");
    std::string text = dump_config(original);
    EXPECT_NE(text.find("      neighbours: []\n"), std::string::npos) << text;
    EXPECT_NE(text.find("      routes: []\n"), std::string::npos) << text;
    replace_all(text, "private_key: (redacted)", "private_key: " + key_to_base64(kPrivate));
    const Config again = parse_config(text, "dump.yaml");
    EXPECT_TRUE(again.dataplane.lan->routes.empty());
    EXPECT_EQ(again.dataplane.neighbour_reachable_seconds, 30u);
}

TEST(Config, MacAddressForms) {
    const auto mac_of = [](const std::string& written) {
        const Config c =
            parse_config(expand(WG0_IFACE "dataplane:\n  ports:\n    lan:\n      device: eth1\n"
                                          "      addresses: [10.0.0.1/24]\n      neighbours:\n"
                                          "        - address: 10.0.0.2\n          mac: " +
                                written + "\n"),
                         "m.yaml");
        return c.dataplane.lan->neighbours.at(0).mac;
    };
    const std::array<uint8_t, 6> want{0x02, 0xab, 0xcd, 0xef, 0x01, 0x9f};
    for (const char* written : {"\"02:ab:cd:ef:01:9f\"", "02:ab:cd:ef:01:9f", "02:AB:Cd:eF:01:9F",
                                "'02-ab-cd-ef-01-9f'", "02-AB-CD-EF-01-9F"})
        EXPECT_EQ(mac_of(written), want) << written;
    // A flow map takes an unquoted MAC too.
    const Config c = parse_config(
        expand(WG0_IFACE "dataplane:\n  ports:\n    lan:\n      device: eth1\n"
                         "      addresses: [10.0.0.1/24]\n"
                         "      neighbours: [{address: 10.0.0.2, mac: 02:ab:cd:ef:01:9f}]\n"),
        "m.yaml");
    EXPECT_EQ(c.dataplane.lan->neighbours.at(0).mac, want);
}

TEST(Config, RouteWithHostBitsIsMaskedWithAWarning) {
    const Config c =
        parse_config(expand(WG0_IFACE "dataplane:\n  ports:\n    lan:\n      device: eth1\n"
                                      "      addresses: [10.0.0.1/24]\n      routes:\n"
                                      "        - {to: 10.9.1.1/16, via: 10.0.0.254}\n"),
                     "r.yaml");
    ASSERT_EQ(c.dataplane.lan->routes.size(), 1u);
    EXPECT_EQ(c.dataplane.lan->routes[0].to.to_string(), "10.9.0.0/16");
    ASSERT_EQ(c.warnings.size(), 1u);
    EXPECT_EQ(c.warnings[0],
              "r.yaml:10:16: dataplane.ports.lan.routes[0].to: warning: 10.9.1.1/16 has bits set "
              "past its length; read as 10.9.0.0/16");
}

// A list of n neighbours or routes, for the limits.
std::string many(const char* key, size_t n) {
    std::string text = WG0_IFACE
        "dataplane:\n  ports:\n    lan:\n      device: eth1\n"
        "      addresses: [10.0.0.1/16, \"fd00::1/64\"]\n      ";
    text += std::string(key) + ":\n";
    for (size_t i = 0; i < n; ++i) {
        const std::string host =
            "10.0." + std::to_string(1 + i / 250) + "." + std::to_string(1 + i % 250);
        if (std::string(key) == "neighbours")
            text += "        - {address: " + host + ", mac: \"02:00:00:00:00:01\"}\n";
        else
            text +=
                "        - {to: \"fd00:" + std::to_string(i + 1) + "::/64\", via: \"fd00::fe\"}\n";
    }
    return expand(text);
}

TEST(Config, StaticNeighboursAndRoutesHaveLimits) {
    EXPECT_EQ(parse_config(many("neighbours", config_defaults::kMaxStaticNeighbours), "n.yaml")
                  .dataplane.lan->neighbours.size(),
              config_defaults::kMaxStaticNeighbours);
    EXPECT_EQ(parse_config(many("routes", config_defaults::kMaxStaticRoutes), "n.yaml")
                  .dataplane.lan->routes.size(),
              config_defaults::kMaxStaticRoutes);
    for (const char* key : {"neighbours", "routes"}) {
        const size_t limit = std::string(key) == "neighbours"
                                 ? config_defaults::kMaxStaticNeighbours
                                 : config_defaults::kMaxStaticRoutes;
        try {
            parse_config(many(key, limit + 1), "n.yaml");
            ADD_FAILURE() << key << ": accepted";
        } catch (const ConfigError& e) {
            EXPECT_EQ(e.key(), "dataplane.ports.lan." + std::string(key) + "[" +
                                   std::to_string(limit) + "]");
            EXPECT_EQ(e.line(), 10 + static_cast<int>(limit)) << e.what();
            EXPECT_NE(e.message().find("expected at most " + std::to_string(limit) + " "),
                      std::string::npos)
                << e.what();
        }
    }
}

// What sluiced runs: the ports each driver needs and takes.
TEST(Config, DriversAndTheirPorts) {
    const auto ok = [](const std::string& dataplane) {
        try {
            parse_config(expand(WG0_IFACE + dataplane), "d.yaml");
        } catch (const ConfigError& e) {
            ADD_FAILURE() << dataplane << "\n" << e.what();
        }
    };
    // af_xdp: a kernel interface on the wan, addresses optional, lan optional.
    ok("dataplane:\n  driver: af_xdp\n  ports:\n    wan: {device: eth0}\n");
    ok("dataplane:\n  driver: af_xdp\n  ports:\n    wan:\n      device: eth0\n"
       "      addresses: [192.0.2.2/24]\n      gateway: 192.0.2.1\n"
       "      neighbours: [{address: 192.0.2.1, mac: \"02:00:00:00:00:01\"}]\n");
    ok("dataplane:\n  driver: af_xdp\n  ports:\n    wan: {device: eth0}\n    lan: {device: "
       "eth1}\n");
    // dpdk: two DPDK devices with addresses.
    ok("dataplane:\n  driver: dpdk\n  ports:\n    wan: {device: \"0000:03:00.0\", addresses: "
       "[192.0.2.2/24]}\n    lan: {device: net_null0, addresses: [10.0.0.1/24]}\n");
    // auto: no ports, kernel interfaces, or two DPDK devices.
    ok("dataplane:\n  driver: auto\n");
    ok("dataplane:\n  driver: auto\n  ports:\n    wan: {device: eth0}\n");
    ok("dataplane:\n  ports:\n    wan: {device: eth0}\n    lan: {device: eth1}\n");
    ok("dataplane:\n  ports:\n    wan: {device: \"0000:03:00.0\", addresses: [192.0.2.2/24]}\n"
       "    lan: {device: \"0000:03:00.1\", addresses: [10.0.0.1/24]}\n");
}

#undef WG0_IFACE

// ---- Address parsers ------------------------------------------------------------------

TEST(Cidr, ParsesAndMasks) {
    EXPECT_EQ(parse_ip_prefix("10.1.2.3/8")->masked().to_string(), "10.0.0.0/8");
    EXPECT_EQ(parse_ip_prefix("10.1.2.3")->to_string(), "10.1.2.3/32");
    EXPECT_EQ(parse_ip_prefix("fd00::1")->to_string(), "fd00::1/128");
    EXPECT_EQ(parse_ip_prefix("fd00:1:2:3::/63")->masked().to_string(), "fd00:1:2:2::/63");
    EXPECT_EQ(parse_ip_prefix("::ffff:10.0.0.1/128")->family, IpFamily::v6);
    EXPECT_EQ(parse_ip_prefix("0.0.0.0/0")->to_string(), "0.0.0.0/0");
    EXPECT_TRUE(parse_ip_prefix("10.0.0.0/24")->is_masked());
    EXPECT_FALSE(parse_ip_prefix("10.0.0.1/24")->is_masked());
    for (const char* bad :
         {"", "/24", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/024", "10.0.0.0/-1", "10.0.0.0/+8",
          "010.0.0.0/8", "10.0.0/8", "10.0.0.0.0/8", "fd00::/129", "fd00:::/64", "fe80::1%eth0/64",
          " 10.0.0.0/8", "10.0.0.0/8 ", "1.2.3.4/8/8"})
        EXPECT_FALSE(parse_ip_prefix(bad).has_value()) << bad;
}

TEST(Endpoint, ParsesTheThreeForms) {
    auto v4 = parse_endpoint("192.0.2.1:51820");
    ASSERT_TRUE(v4);
    EXPECT_EQ(v4->kind, Endpoint::Kind::ipv4);
    EXPECT_EQ(v4->port, 51820);
    auto v6 = parse_endpoint("[2001:db8::1]:1");
    ASSERT_TRUE(v6);
    EXPECT_EQ(v6->kind, Endpoint::Kind::ipv6);
    EXPECT_EQ(v6->to_string(), "[2001:db8::1]:1");
    auto name = parse_endpoint("vpn-1.example.com.:65535");
    ASSERT_TRUE(name);
    EXPECT_EQ(name->kind, Endpoint::Kind::hostname);
    EXPECT_EQ(name->host, "vpn-1.example.com.");

    std::string why;
    for (const char* bad :
         {"", "192.0.2.1", "192.0.2.1:", "192.0.2.1:0", "192.0.2.1:65536", "192.0.2.1:08",
          "2001:db8::1:51820", "[2001:db8::1]", "[2001:db8::1]51820", "[192.0.2.1]:1",
          "[fe80::1%eth0]:1", ":51820", "1.2.3.256:1", "-bad.example:1", "bad-.example:1", "a..b:1",
          "under_score.example:1", "sp ace:1"}) {
        why.clear();
        EXPECT_FALSE(parse_endpoint(bad, &why).has_value()) << bad;
        EXPECT_FALSE(why.empty()) << bad;
    }
}

// ---- Broken configurations ---------------------------------------------------------------

struct Broken {
    const char* name;
    const char* yaml;
    int line;
    int column;
    const char* key;
    const char* expect;  // a piece of the message that says what was wrong
};

// The lines every case starts from, where it does not break them itself.
#define IFACE "interface:\n  name: wg0\n  private_key: $PRIV\n"
// A DPDK wan port and a kernel lan port with addresses, lines 4 to 8.
#define PORTS "dataplane:\n  ports:\n"
#define WAN IFACE PORTS "    wan:\n      device: net_null0\n      addresses: [192.0.2.2/24]\n"
#define LAN_ADDRESSES "      addresses: [192.168.1.1/24, \"fd00:1::1/64\"]\n"
#define LAN IFACE PORTS "    lan:\n      device: eth1\n" LAN_ADDRESSES
// A peer with a streams section, its allow list's items from line 8.
#define ALLOW IFACE "peers:\n  - public_key: $PUB1\n    streams:\n      allow:\n"
// Peer b with streams and peer c without, lines 4 to 9; then one forward,
// listen on line 11, peer on 12, target on 13, and FWD_MORE's from line 14.
#define FWD_PEERS                                                                \
    IFACE                                                                        \
    "peers:\n  - name: b\n    public_key: $PUB1\n    streams: {}\n  - name: c\n" \
    "    public_key: $PUB2\n"
#define FWD_MORE(listen, peer, target) \
    "  - listen: " listen "\n    peer: " peer "\n    target: " target "\n"
#define FWD(listen, peer, target) FWD_PEERS "forwards:\n" FWD_MORE(listen, peer, target)

const Broken kBroken[] = {
    // -- the document --
    {"empty file", "", 1, 1, "(document)", "found an empty file"},
    {"only comments", "# nothing here\n\n# at all\n", 1, 1, "(document)", "empty file"},
    {"top level is a list", "- interface\n- peers\n", 1, 1, "(document)",
     "expected a map with the sections interface, dataplane, peers and control, found a list"},
    {"top level is a scalar", "sluice\n", 1, 1, "(document)", "found \"sluice\""},
    {"bad YAML syntax", "interface:\n  name: [wg0\n  mtu: 1420\n", 3, 6, "(yaml)",
     "expected valid YAML, found a syntax error"},
    {"tab indentation", "interface:\n\tname: wg0\n", 2, 6, "(yaml)",
     "indent with spaces, not tabs"},
    {"two documents", IFACE "---\n" IFACE, 4, 1, "(document)",
     "expected one YAML document, found a second one"},
    {"control byte", "interface:\n  name: wg\x01\n", 2, 11, "(file)",
     "expected UTF-8 text, found the control byte 0x01"},
    {"duplicate key", IFACE "  mtu: 1400\n  mtu: 1300\n", 5, 3, "interface.mtu",
     "expected each key once in a map, found \"mtu\" again (first on line 4)"},
    {"list as a key", "? [a, b]\n: 1\n", 1, 3, "(document)",
     "expected a text key, found a list used as a key"},
    {"custom tag", IFACE "  mtu: !big 1400\n", 4, 8, "interface.mtu",
     "expected no YAML tag, found the tag \"!big\""},
    {"alias cycle", IFACE "dataplane: &d {ports: *d}\n", 4, 23, "dataplane.ports",
     "found an alias to a node that contains it"},
    {"nesting too deep", IFACE "x: [[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]\n", 4, 19,
     "x[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]", "levels of nesting"},
    {"merge key", IFACE "peers:\n  - <<: {public_key: $PUB1}\n", 5, 5, "peers[0].<<",
     "YAML merge keys are not supported"},
    // -- unknown and missing keys --
    {"key with a newline", IFACE "\"bad\\nkey\": 1\n", 4, 1, "\"bad\\x0akey\"",
     "found unknown key \"bad\\x0akey\""},
    {"unknown top-level key", IFACE "peer:\n  - public_key: $PUB1\n", 4, 1, "peer",
     "found unknown key \"peer\" (did you mean peers?)"},
    {"unknown key with dash", IFACE "  listen-port: 51820\n", 4, 3, "interface.listen-port",
     "(did you mean listen_port?)"},
    {"wg-quick spelling", IFACE "  ListenPort: 51820\n", 4, 3, "interface.ListenPort",
     "(did you mean listen_port?)"},
    {"key in the wrong section", IFACE "listen_port: 51820\n", 4, 1, "listen_port",
     "(did you mean interface.listen_port?)"},
    {"unknown peer key", IFACE "peers:\n  - public_key: $PUB1\n    alowed_ips: []\n", 6, 5,
     "peers[0].alowed_ips", "did you mean allowed_ips?"},
    {"unrelated unknown key", IFACE "colour: blue\n", 4, 1, "colour",
     "expected one of interface, dataplane, peers, control, streams, forwards, testing, found "
     "unknown key \"colour\""},
    {"missing interface", "peers: []\n", 1, 1, "interface",
     "expected the interface section (a map with name and private_key), found nothing: the key "
     "interface is missing"},
    {"missing name", "interface:\n  private_key: $PRIV\n", 2, 3, "interface.name",
     "the key name is missing"},
    {"missing private key", "interface:\n  name: wg0\n", 2, 3, "interface.private_key",
     "expected a base64 private key in private_key, or its file in private_key_file, found "
     "neither"},
    {"missing public key", IFACE "peers:\n  - name: bob\n    allowed_ips: [10.0.0.0/8]\n", 5, 5,
     "peers[0].public_key", "the key public_key is missing"},
    // -- wrong types --
    {"interface is a list", "interface:\n  - name: wg0\n", 2, 3, "interface",
     "expected the interface section (a map with name and private_key), found a list"},
    {"peers is a map", IFACE "peers:\n  alice:\n    public_key: $PUB1\n", 5, 3, "peers",
     "expected a list of peers (each a map starting with '- '), found a map"},
    {"peer is a string", IFACE "peers:\n  - alice\n", 5, 5, "peers[0]",
     "expected a peer (a map with a public_key), found \"alice\""},
    {"name is a list", "interface:\n  name: [wg0]\n  private_key: $PRIV\n", 2, 9, "interface.name",
     "found a list"},
    {"name is empty", "interface:\n  name:\n  private_key: $PRIV\n", 2, 3, "interface.name",
     "found nothing"},
    {"port is a quoted string", IFACE "  listen_port: \"51820\"\n", 4, 16, "interface.listen_port",
     "expected an integer 1..65535 without quotes, found the string \"51820\""},
    {"port is a word", IFACE "  listen_port: fifty\n", 4, 16, "interface.listen_port",
     "expected an integer 1..65535, found \"fifty\""},
    {"port is a float", IFACE "  listen_port: 5182.0\n", 4, 16, "interface.listen_port",
     "found \"5182.0\""},
    {"addresses is a string", IFACE "  addresses: 10.0.0.1/24\n", 4, 14, "interface.addresses",
     "expected a list of addresses such as [10.0.0.1/24, fd00::1/64], found \"10.0.0.1/24\""},
    {"lcores is a count", IFACE "dataplane:\n  lcores: 4\n", 5, 11, "dataplane.lcores",
     "found 4 (lcores lists CPU ids, not a count)"},
    // -- ranges --
    {"port zero", IFACE "  listen_port: 0\n", 4, 16, "interface.listen_port",
     "expected an integer 1..65535, found 0"},
    {"port too big", IFACE "  listen_port: 65536\n", 4, 16, "interface.listen_port",
     "expected an integer 1..65535, found 65536"},
    {"port negative", IFACE "  listen_port: -1\n", 4, 16, "interface.listen_port", "found -1"},
    {"port overflows 64 bits", IFACE "  listen_port: 99999999999999999999999\n", 4, 16,
     "interface.listen_port", "found 99999999999999999999999"},
    {"mtu too small", IFACE "  mtu: 576\n", 4, 8, "interface.mtu",
     "expected an integer 1280..9000, found 576"},
    {"mtu too big", IFACE "  mtu: 9001\n", 4, 8, "interface.mtu", "found 9001"},
    {"burst zero", IFACE "dataplane:\n  burst: 0\n", 5, 10, "dataplane.burst",
     "expected an integer 1..512, found 0"},
    {"burst too big", IFACE "dataplane:\n  burst: 513\n", 5, 10, "dataplane.burst",
     "expected an integer 1..512, found 513"},
    {"keepalive too big", IFACE "peers:\n  - public_key: $PUB1\n    persistent_keepalive: 65536\n",
     6, 27, "peers[0].persistent_keepalive", "expected an integer 0..65535 seconds (0 = off)"},
    {"lcore id too big", IFACE "dataplane:\n  lcores: [1, 1024]\n", 5, 15, "dataplane.lcores[1]",
     "expected an integer 0..1023, found 1024"},
    {"ring size not a power of two",
     IFACE "dataplane:\n  ports:\n    wan: {device: eth0, rx_ring_size: 1000}\n", 6, 39,
     "dataplane.ports.wan.rx_ring_size", "expected a power of two 64..32768, found 1000"},
    // -- names and enums --
    {"interface name too long", "interface:\n  name: wg0123456789abcd\n  private_key: $PRIV\n", 2,
     9, "interface.name", "found \"wg0123456789abcd\""},
    {"interface name with a slash", "interface:\n  name: wg/0\n  private_key: $PRIV\n", 2, 9,
     "interface.name", "an interface name of 1 to 15 characters"},
    {"driver misspelt", IFACE "dataplane:\n  driver: dpkd\n", 5, 11, "dataplane.driver",
     "expected one of auto, dpdk, af_xdp, kernel, found \"dpkd\" (did you mean dpdk?)"},
    {"mode misspelt", IFACE "dataplane:\n  mode: run_to_completion\n", 5, 9, "dataplane.mode",
     "(did you mean run-to-completion?)"},
    {"duplicate peer name",
     IFACE "peers:\n  - {name: a, public_key: $PUB1}\n  - {name: a, public_key: $PUB2}\n", 6, 12,
     "peers[1].name", "expected a unique peer name, found \"a\", already the name of peers[0]"},
    // -- keys --
    {"private key too short", "interface:\n  name: wg0\n  private_key: c2hvcnQ=\n", 3, 16,
     "interface.private_key",
     "expected a base64 private key (44 characters ending in '='), "
     "found 8 characters"},
    {"private key with a bad character",
     "interface:\n  name: wg0\n  private_key: "
     "oaGhoaGhoaGhoaGhoaGhoaGh*aGhoaGhoaGhoaGhoQc=\n",
     3, 16, "interface.private_key", "found a character that is not base64 at position 25"},
    {"private key is all zeros",
     "interface:\n  name: wg0\n  private_key: "
     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
     3, 16, "interface.private_key", "found the all-zero key"},
    {"both private key forms", IFACE "  private_key_file: /etc/sluice/wg0.key\n", 4, 3,
     "interface.private_key_file",
     "expected either private_key or private_key_file, found both (private_key is on line 3)"},
    {"bad public key", IFACE "peers:\n  - public_key: notakey\n", 5, 17, "peers[0].public_key",
     "expected a base64 public key (44 characters ending in '='), found 7 characters"},
    {"peer is this interface", IFACE "peers:\n  - public_key: $SELF\n", 5, 17,
     "peers[0].public_key", "expected another host's public key, found this interface's own"},
    {"duplicate peer key", IFACE "peers:\n  - public_key: $PUB1\n  - public_key: $PUB1\n", 6, 17,
     "peers[1].public_key",
     "expected each peer's public key once, found the public key of peers[0] again"},
    {"bad preshared key", IFACE "peers:\n  - public_key: $PUB1\n    preshared_key: 12345\n", 6, 20,
     "peers[0].preshared_key", "found 5 characters"},
    {"both preshared key forms",
     IFACE "peers:\n  - public_key: $PUB1\n    preshared_key: $PSK\n    preshared_key_file: psk\n",
     7, 5, "peers[0].preshared_key_file", "found both (preshared_key is on line 6)"},
    // -- prefixes --
    {"bad IPv4 prefix", IFACE "  addresses: [10.0.0.300/24]\n", 4, 15, "interface.addresses[0]",
     "found \"10.0.0.300/24\" (not an IPv4 or IPv6 address)"},
    {"prefix length too long", IFACE "  addresses: [10.0.0.1/33]\n", 4, 15,
     "interface.addresses[0]", "the prefix length must be a number 0..32 for IPv4"},
    {"bad IPv6 prefix", IFACE "peers:\n  - public_key: $PUB1\n    allowed_ips: [\"fd00:::/64\"]\n",
     6, 19, "peers[0].allowed_ips[0]", "found \"fd00:::/64\" (not an IPv4 or IPv6 address)"},
    {"allowed IP with host bits",
     IFACE "peers:\n  - public_key: $PUB1\n    allowed_ips: [10.0.0.1/24]\n", 6, 19,
     "peers[0].allowed_ips[0]",
     "expected a prefix with no bits set past its length (10.0.0.0/24), found \"10.0.0.1/24\""},
    {"same prefix on two peers",
     IFACE "peers:\n  - public_key: $PUB1\n    allowed_ips: [10.0.0.0/24]\n"
           "  - public_key: $PUB2\n    allowed_ips: [10.9.0.0/16, 10.0.0.0/24]\n",
     8, 32, "peers[1].allowed_ips[1]",
     "expected each allowed IP prefix on one peer only, found 10.0.0.0/24, already at "
     "peers[0].allowed_ips[0]"},
    {"same prefix twice on one peer",
     IFACE "peers:\n  - public_key: $PUB1\n    allowed_ips: [fd00::/64, \"fd00::/64\"]\n", 6, 30,
     "peers[0].allowed_ips[1]", "already at peers[0].allowed_ips[0]"},
    {"duplicate interface address", IFACE "  addresses: [10.0.0.1/24, 10.0.0.1/24]\n", 4, 28,
     "interface.addresses[1]", "expected each address once, found 10.0.0.1/24 again"},
    // -- endpoints --
    {"endpoint without port", IFACE "peers:\n  - public_key: $PUB1\n    endpoint: 192.0.2.1\n", 6,
     15, "peers[0].endpoint", "found \"192.0.2.1\" (no ':port' at the end)"},
    {"endpoint port zero", IFACE "peers:\n  - public_key: $PUB1\n    endpoint: 192.0.2.1:0\n", 6,
     15, "peers[0].endpoint", "(the port must be a number 1..65535)"},
    {"endpoint port too big",
     IFACE "peers:\n  - public_key: $PUB1\n    endpoint: host.example:65536\n", 6, 15,
     "peers[0].endpoint", "(the port must be a number 1..65535)"},
    {"IPv6 endpoint without brackets",
     IFACE "peers:\n  - public_key: $PUB1\n    endpoint: \"2001:db8::1:51820\"\n", 6, 15,
     "peers[0].endpoint", "an IPv6 endpoint needs brackets"},
    {"IPv6 endpoint without quotes",
     IFACE "peers:\n  - public_key: $PUB1\n    endpoint: [2001:db8::1]:51820\n", 6, 28, "(yaml)",
     "put IPv6 endpoints in quotes"},
    {"bad host name", IFACE "peers:\n  - public_key: $PUB1\n    endpoint: -vpn.example:51820\n", 6,
     15, "peers[0].endpoint", "(neither an IPv4 address nor a host name)"},
    // -- dataplane and control --
    {"dpdk without ports", IFACE "dataplane:\n  driver: dpdk\n", 5, 11, "dataplane.ports.wan",
     "expected a wan port for driver dpdk"},
    {"dpdk on a kernel interface",
     IFACE
     "dataplane:\n  driver: dpdk\n  ports:\n    wan: {device: eth0, addresses: [192.0.2.2/24]}\n"
     "    lan: {device: eth1, addresses: [10.0.0.1/24]}\n",
     7, 19, "dataplane.ports.wan.device",
     "expected a PCI address or a DPDK vdev for driver dpdk, found the kernel interface \"eth0\""},
    {"kernel driver on a PCI device",
     IFACE "dataplane:\n  driver: kernel\n  ports:\n    wan: {device: \"0000:03:00.0\"}\n", 7, 19,
     "dataplane.ports.wan.device",
     "expected a kernel interface name for driver kernel, found the PCI device \"0000:03:00.0\""},
    {"bad device", IFACE "dataplane:\n  ports:\n    lan:\n      device: \"0000:03:00.9\"\n", 7, 15,
     "dataplane.ports.lan.device", "expected a PCI address (0000:03:00.0), a DPDK vdev"},
    {"DPDK port without addresses",
     IFACE "dataplane:\n  ports:\n    wan:\n      device: net_null0\n", 7, 7,
     "dataplane.ports.wan.addresses", "the port's own addresses"},
    {"gateway off the subnet",
     IFACE
     "dataplane:\n  ports:\n    wan:\n      device: net_null0\n      addresses: [192.0.2.2/24]\n"
     "      gateway: 198.51.100.1\n",
     9, 16, "dataplane.ports.wan.gateway",
     "found 198.51.100.1, outside every subnet in dataplane.ports.wan.addresses"},
    {"mempool smaller than the rings",
     IFACE "dataplane:\n  lcores: [1, 2, 3, 4]\n  ports:\n    wan:\n      device: eth0\n"
           "      mempool_size: 2047\n",
     9, 21, "dataplane.ports.wan.mempool_size",
     "expected at least rx_ring_size x queues + burst = 4128 mbufs, found 2047"},
    {"gateway is the port's own address",
     IFACE
     "dataplane:\n  ports:\n    wan:\n      device: net_null0\n      addresses: [192.0.2.2/24]\n"
     "      gateway: 192.0.2.2\n",
     9, 16, "dataplane.ports.wan.gateway",
     "expected an address other than this port's own, found 192.0.2.2, one of "
     "dataplane.ports.wan.addresses"},
    // -- neighbour_reachable_seconds --
    {"neighbour reachable time zero", IFACE "dataplane:\n  neighbour_reachable_seconds: 0\n", 5, 32,
     "dataplane.neighbour_reachable_seconds", "expected an integer 1..3600 seconds, found 0"},
    {"neighbour reachable time too long", IFACE "dataplane:\n  neighbour_reachable_seconds: 3601\n",
     5, 32, "dataplane.neighbour_reachable_seconds",
     "expected an integer 1..3600 seconds, found 3601"},
    {"neighbour reachable time quoted", IFACE "dataplane:\n  neighbour_reachable_seconds: \"30\"\n",
     5, 32, "dataplane.neighbour_reachable_seconds", "without quotes, found the string \"30\""},
    {"neighbour reachable time misspelt", IFACE "dataplane:\n  neighbor_reachable_seconds: 30\n", 5,
     3, "dataplane.neighbor_reachable_seconds", "(did you mean neighbour_reachable_seconds?)"},
    // -- static neighbours (line 9 on: the wan port is net_null0 on 192.0.2.2/24) --
    {"neighbours misspelt", WAN "      neighbors: []\n", 9, 7, "dataplane.ports.wan.neighbors",
     "(did you mean neighbours?)"},
    {"neighbours is a map", WAN "      neighbours: {address: 192.0.2.1}\n", 9, 19,
     "dataplane.ports.wan.neighbours",
     "expected a list of neighbours such as [{address: 192.0.2.1, mac: \"02:00:00:00:00:01\"}], "
     "found a map"},
    {"neighbour is a string", WAN "      neighbours: [192.0.2.1]\n", 9, 20,
     "dataplane.ports.wan.neighbours[0]",
     "expected a neighbour (a map with address and mac), found \"192.0.2.1\""},
    {"neighbour key misspelt",
     WAN "      neighbours:\n        - {adress: 192.0.2.1, mac: \"02:00:00:00:00:01\"}\n", 10, 12,
     "dataplane.ports.wan.neighbours[0].adress",
     "expected one of address, mac, found unknown key \"adress\" (did you mean address?)"},
    {"neighbour without mac", WAN "      neighbours:\n        - {address: 192.0.2.1}\n", 10, 11,
     "dataplane.ports.wan.neighbours[0].mac", "found nothing: the key mac is missing"},
    {"neighbour without address", WAN "      neighbours:\n        - mac: \"02:00:00:00:00:01\"\n",
     10, 11, "dataplane.ports.wan.neighbours[0].address",
     "found nothing: the key address is missing"},
    {"neighbour address not an address",
     WAN "      neighbours:\n        - {address: gw, mac: \"02:00:00:00:00:01\"}\n", 10, 21,
     "dataplane.ports.wan.neighbours[0].address",
     "expected an IP address on one of this port's subnets, found \"gw\""},
    {"neighbour off the subnet",
     WAN "      neighbours:\n        - {address: 198.51.100.1, mac: \"02:00:00:00:00:01\"}\n", 10,
     21, "dataplane.ports.wan.neighbours[0].address",
     "found 198.51.100.1, outside every subnet in dataplane.ports.wan.addresses"},
    {"neighbour of the other family",
     WAN "      neighbours:\n        - {address: \"2001:db8::1\", mac: \"02:00:00:00:00:01\"}\n",
     10, 21, "dataplane.ports.wan.neighbours[0].address",
     "found 2001:db8::1, outside every subnet in dataplane.ports.wan.addresses"},
    {"neighbour on a port without addresses",
     IFACE "dataplane:\n  driver: af_xdp\n  ports:\n    wan:\n      device: eth0\n"
           "      neighbours: [{address: 192.0.2.1, mac: \"02:00:00:00:00:01\"}]\n",
     9, 30, "dataplane.ports.wan.neighbours[0].address",
     "outside every subnet in dataplane.ports.wan.addresses (the port has no addresses)"},
    {"neighbour is the port itself",
     WAN "      neighbours:\n        - {address: 192.0.2.2, mac: \"02:00:00:00:00:01\"}\n", 10, 21,
     "dataplane.ports.wan.neighbours[0].address",
     "expected an address other than this port's own, found 192.0.2.2"},
    {"neighbour twice",
     WAN "      neighbours:\n        - {address: 192.0.2.1, mac: \"02:00:00:00:00:01\"}\n"
         "        - {address: 192.0.2.1, mac: \"02:00:00:00:00:02\"}\n",
     11, 21, "dataplane.ports.wan.neighbours[1].address",
     "expected each neighbour address once, found 192.0.2.1 again (also "
     "dataplane.ports.wan.neighbours[0])"},
    {"mac too short",
     WAN "      neighbours:\n        - {address: 192.0.2.1, mac: \"02:00:00:00:01\"}\n", 10, 37,
     "dataplane.ports.wan.neighbours[0].mac",
     "expected a unicast MAC address of six hex pairs such as \"02:00:00:00:00:01\", found "
     "\"02:00:00:00:01\" (six pairs of hex digits separated by ':' or '-')"},
    {"mac with mixed separators",
     WAN "      neighbours:\n        - {address: 192.0.2.1, mac: \"02:00-00:00:00:01\"}\n", 10, 37,
     "dataplane.ports.wan.neighbours[0].mac", "(six pairs of hex digits separated by ':' or '-')"},
    {"mac not hex",
     WAN "      neighbours:\n        - {address: 192.0.2.1, mac: \"02:00:00:00:00:0g\"}\n", 10, 37,
     "dataplane.ports.wan.neighbours[0].mac", "found \"02:00:00:00:00:0g\" (six pairs"},
    {"mac without separators",
     WAN "      neighbours:\n        - {address: 192.0.2.1, mac: 020000000001}\n", 10, 37,
     "dataplane.ports.wan.neighbours[0].mac", "found \"020000000001\" (six pairs"},
    {"mac is a list", WAN "      neighbours:\n        - {address: 192.0.2.1, mac: [2, 0]}\n", 10,
     37, "dataplane.ports.wan.neighbours[0].mac", "found a list"},
    {"multicast mac",
     WAN "      neighbours:\n        - {address: 192.0.2.1, mac: \"01:00:5e:00:00:01\"}\n", 10, 37,
     "dataplane.ports.wan.neighbours[0].mac",
     "found \"01:00:5e:00:00:01\" (a multicast address: the low bit of the first byte is set)"},
    {"broadcast mac",
     WAN "      neighbours:\n        - {address: 192.0.2.1, mac: ff-ff-ff-ff-ff-ff}\n", 10, 37,
     "dataplane.ports.wan.neighbours[0].mac",
     "found \"ff-ff-ff-ff-ff-ff\" (the broadcast address)"},
    {"all-zero mac",
     WAN "      neighbours:\n        - {address: 192.0.2.1, mac: \"00:00:00:00:00:00\"}\n", 10, 37,
     "dataplane.ports.wan.neighbours[0].mac", "(the all-zero address)"},
    // -- static routes (line 9 on: the lan port is eth1 on 192.168.1.1/24, fd00:1::1/64) --
    {"routes on the wan", WAN "      routes: [{to: 10.9.0.0/16, via: 192.0.2.1}]\n", 9, 15,
     "dataplane.ports.wan.routes",
     "expected routes on the lan port only (the wan port sends everything off-link to its "
     "gateway), found routes on the wan port"},
    {"routes is a string", LAN "      routes: 10.9.0.0/16\n", 9, 15, "dataplane.ports.lan.routes",
     "expected a list of routes such as [{to: 10.9.0.0/16, via: 192.168.1.254}], found "
     "\"10.9.0.0/16\""},
    {"route is a list", LAN "      routes:\n        - [10.9.0.0/16, 192.168.1.254]\n", 10, 11,
     "dataplane.ports.lan.routes[0]", "expected a route (a map with to and via), found a list"},
    {"route key misspelt",
     LAN "      routes:\n        - {to: 10.9.0.0/16, gateway: 192.168.1.254}\n", 10, 29,
     "dataplane.ports.lan.routes[0].gateway",
     "expected one of to, via, found unknown key \"gateway\""},
    {"route key near miss", LAN "      routes:\n        - {to: 10.9.0.0/16, vai: 192.168.1.254}\n",
     10, 29, "dataplane.ports.lan.routes[0].vai", "(did you mean via?)"},
    {"route without via", LAN "      routes:\n        - {to: 10.9.0.0/16}\n", 10, 11,
     "dataplane.ports.lan.routes[0].via", "found nothing: the key via is missing"},
    {"route without to", LAN "      routes:\n        - via: 192.168.1.254\n", 10, 11,
     "dataplane.ports.lan.routes[0].to", "found nothing: the key to is missing"},
    {"route to a non-prefix",
     LAN "      routes:\n        - {to: 10.9.0.0/40, via: 192.168.1.254}\n", 10, 16,
     "dataplane.ports.lan.routes[0].to",
     "found \"10.9.0.0/40\" (the prefix length must be a number 0..32 for IPv4, 0..128 for IPv6)"},
    {"route via a non-address", LAN "      routes:\n        - {to: 10.9.0.0/16, via: router}\n", 10,
     34, "dataplane.ports.lan.routes[0].via",
     "expected an IP address on one of this port's subnets, found \"router\""},
    {"route via the other family",
     LAN "      routes:\n        - {to: 10.9.0.0/16, via: \"fd00:1::fe\"}\n", 10, 34,
     "dataplane.ports.lan.routes[0].via",
     "expected an IPv4 next hop for the IPv4 prefix 10.9.0.0/16, found fd00:1::fe"},
    {"IPv6 route via IPv4",
     LAN "      routes:\n        - {to: \"fd00:9::/48\", via: 192.168.1.254}\n", 10, 36,
     "dataplane.ports.lan.routes[0].via",
     "expected an IPv6 next hop for the IPv6 prefix fd00:9::/48, found 192.168.1.254"},
    {"route via off the subnet", LAN "      routes:\n        - {to: 10.9.0.0/16, via: 10.0.0.1}\n",
     10, 34, "dataplane.ports.lan.routes[0].via",
     "found 10.0.0.1, outside every subnet in dataplane.ports.lan.addresses"},
    {"route via ourselves", LAN "      routes:\n        - {to: 10.9.0.0/16, via: 192.168.1.1}\n",
     10, 34, "dataplane.ports.lan.routes[0].via",
     "expected an address other than this port's own, found 192.168.1.1"},
    {"route twice",
     LAN "      routes:\n        - {to: 10.9.0.0/16, via: 192.168.1.254}\n"
         "        - {to: 10.9.0.0/16, via: 192.168.1.253}\n",
     11, 16, "dataplane.ports.lan.routes[1].to",
     "expected each destination once, found 10.9.0.0/16 again (also "
     "dataplane.ports.lan.routes[0].to)"},
    {"route twice once masked",
     LAN "      routes:\n        - {to: 10.9.0.0/16, via: 192.168.1.254}\n"
         "        - {to: 10.9.1.0/16, via: 192.168.1.253}\n",
     11, 16, "dataplane.ports.lan.routes[1].to", "found 10.9.0.0/16 again"},
    {"route on a lan without addresses",
     IFACE "dataplane:\n  ports:\n    lan:\n      device: eth1\n"
           "      routes: [{to: 10.9.0.0/16, via: 192.168.1.254}]\n",
     8, 39, "dataplane.ports.lan.routes[0].via", "(the port has no addresses)"},
    // -- drivers and their ports --
    {"auto with a PCI wan and no lan",
     IFACE "dataplane:\n  ports:\n    wan: {device: \"0000:03:00.0\", addresses: [192.0.2.2/24]}\n",
     6, 5, "dataplane.ports.lan",
     "expected a lan port as well: driver auto picks dpdk for the PCI device \"0000:03:00.0\" "
     "(dataplane.ports.wan.device), and dpdk drives both ports, found nothing: the key lan is "
     "missing"},
    {"auto with a vdev lan and a kernel wan",
     IFACE "dataplane:\n  driver: auto\n  ports:\n    wan: {device: eth0}\n"
           "    lan: {device: net_null0, addresses: [10.0.0.1/24]}\n",
     7, 19, "dataplane.ports.wan.device",
     "expected a PCI address or a DPDK vdev: driver auto picks dpdk for the DPDK vdev "
     "\"net_null0\" (dataplane.ports.lan.device), and dpdk drives both ports, found the kernel "
     "interface \"eth0\""},
    {"af_xdp without a wan",
     IFACE "dataplane:\n  driver: af_xdp\n  ports:\n    lan: {device: eth1}\n", 7, 5,
     "dataplane.ports.wan", "expected a wan port for driver af_xdp"},
    {"af_xdp on a vdev",
     IFACE "dataplane:\n  driver: af_xdp\n  ports:\n    wan: {device: \"net_af_xdp0,iface=eth0\", "
           "addresses: [192.0.2.2/24]}\n",
     7, 19, "dataplane.ports.wan.device",
     "expected a kernel interface name for driver af_xdp, found the DPDK vdev"},
    {"dpdk without a lan",
     IFACE "dataplane:\n  driver: dpdk\n  ports:\n    wan: {device: net_null0, addresses: "
           "[192.0.2.2/24]}\n",
     7, 5, "dataplane.ports.lan", "expected a lan port for driver dpdk"},
    {"duplicate lcore", IFACE "dataplane:\n  lcores: [2, 3, 2]\n", 5, 18, "dataplane.lcores[2]",
     "expected each CPU id once, found 2 again (also dataplane.lcores[0])"},
    {"pipeline on one lcore", IFACE "dataplane:\n  lcores: [2]\n  mode: pipeline\n", 6, 9,
     "dataplane.mode", "pipeline needs at least 2"},
    {"pipeline on the default single lcore", IFACE "dataplane:\n  mode: pipeline\n", 5, 9,
     "dataplane.mode", "pipeline needs at least 2"},
    {"relative socket path", IFACE "control:\n  uapi_socket: wg0.sock\n", 5, 16,
     "control.uapi_socket",
     "expected an absolute socket path of at most 107 bytes, found \"wg0.sock\""},
    {"socket path too long",
     IFACE
     "control:\n  ctl_socket: /run/sluice/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.ctl\n",
     5, 15, "control.ctl_socket", "at most 107 bytes"},
    {"both sockets on one path",
     IFACE "control:\n  uapi_socket: /run/x.sock\n  ctl_socket: /run/x.sock\n", 6, 15,
     "control.ctl_socket", "expected a path other than uapi_socket"},
    // -- streams: the engine's settings (line 5, value after "  KEY: ") --
    {"streams is a list", IFACE "streams:\n  - 1\n", 5, 3, "streams",
     "expected the streams section (a map), found a list"},
    {"unknown streams key", IFACE "streams:\n  max_stream: 5\n", 5, 3, "streams.max_stream",
     "(did you mean max_streams?)"},
    {"streams key at the top", IFACE "max_streams: 5\n", 4, 1, "max_streams",
     "(did you mean streams.max_streams?)"},
    {"window below 16 KiB", IFACE "streams:\n  initial_stream_window: 16383\n", 5, 26,
     "streams.initial_stream_window",
     "expected an integer 16384..1099511627776 bytes, found 16383"},
    {"window too big", IFACE "streams:\n  max_session_window: 1099511627777\n", 5, 23,
     "streams.max_session_window", "found 1099511627777"},
    {"memory budget zero", IFACE "streams:\n  memory_budget: 0\n", 5, 18, "streams.memory_budget",
     "expected an integer 16384..1099511627776 bytes, found 0"},
    {"window quoted", IFACE "streams:\n  max_stream_window: \"1048576\"\n", 5, 22,
     "streams.max_stream_window", "without quotes, found the string \"1048576\""},
    {"max streams zero", IFACE "streams:\n  max_streams: 0\n", 5, 16, "streams.max_streams",
     "expected an integer 1..65536, found 0"},
    {"max streams too many", IFACE "streams:\n  max_streams: 65537\n", 5, 16, "streams.max_streams",
     "expected an integer 1..65536, found 65537"},
    {"idle timeout zero", IFACE "streams:\n  idle_timeout: 0\n", 5, 17, "streams.idle_timeout",
     "expected an integer 1..86400 seconds, found 0"},
    {"idle timeout over a day", IFACE "streams:\n  idle_timeout: 86401\n", 5, 17,
     "streams.idle_timeout", "found 86401"},
    {"initial stream window above its max",
     IFACE "streams:\n  initial_stream_window: 1048576\n  max_stream_window: 524288\n", 6, 22,
     "streams.max_stream_window",
     "expected at least streams.initial_stream_window (1048576), found 524288"},
    {"initial stream window above the default max",
     IFACE "streams:\n  initial_stream_window: 33554432\n", 5, 26, "streams.initial_stream_window",
     "expected at most streams.max_stream_window (16777216, its default), found 33554432"},
    {"initial session window above its max",
     IFACE "streams:\n  initial_session_window: 2097152\n  max_session_window: 1048576\n", 6, 23,
     "streams.max_session_window",
     "expected at least streams.initial_session_window (2097152), found 1048576"},
    {"session window below the default stream window",
     IFACE "streams:\n  max_session_window: 8388608\n", 5, 23, "streams.max_session_window",
     "expected at least streams.max_stream_window (16777216, its default), found 8388608"},
    {"stream window above the session window",
     IFACE "streams:\n  max_stream_window: 4194304\n  max_session_window: 2097152\n", 6, 23,
     "streams.max_session_window",
     "expected at least streams.max_stream_window (4194304), found 2097152"},
    {"budget below the default session window", IFACE "streams:\n  memory_budget: 33554432\n", 5,
     18, "streams.memory_budget",
     "expected at least streams.max_session_window (67108864, its default), found 33554432"},
    {"session window above the budget",
     IFACE "streams:\n  memory_budget: 1048576\n  max_stream_window: 524288\n"
           "  max_session_window: 2097152\n",
     5, 18, "streams.memory_budget",
     "expected at least streams.max_session_window (2097152), found 1048576"},
    // -- peers[].streams (targets on line 8, column 11) --
    {"peer streams with no value", IFACE "peers:\n  - public_key: $PUB1\n    streams:\n", 6, 5,
     "peers[0].streams",
     "(a map such as {allow: [127.0.0.1:5201]}, or {} to only forward to "
     "this peer), found nothing"},
    {"peer streams is a list", IFACE "peers:\n  - public_key: $PUB1\n    streams: [1]\n", 6, 14,
     "peers[0].streams", "found a list"},
    {"unknown peer streams key",
     IFACE "peers:\n  - public_key: $PUB1\n    streams:\n      alow: []\n", 7, 7,
     "peers[0].streams.alow", "(did you mean allow?)"},
    {"allow is a string",
     IFACE "peers:\n  - public_key: $PUB1\n    streams:\n      allow: 127.0.0.1:80\n", 7, 14,
     "peers[0].streams.allow",
     "expected a list of targets such as [127.0.0.1:5201, 10.1.0.0/24:22], found \"127.0.0.1:80\""},
    {"target without a port", ALLOW "        - 10.0.0.1\n", 8, 11, "peers[0].streams.allow[0]",
     "found \"10.0.0.1\" (no ':port' at the end)"},
    {"target port zero", ALLOW "        - 10.0.0.1:0\n", 8, 11, "peers[0].streams.allow[0]",
     "(the port must be a number 1..65535)"},
    {"target port too big", ALLOW "        - 10.0.0.1:65536\n", 8, 11, "peers[0].streams.allow[0]",
     "(the port must be a number 1..65535)"},
    {"target prefix with host bits", ALLOW "        - 10.1.0.1/24:22\n", 8, 11,
     "peers[0].streams.allow[0]",
     "expected a prefix with no bits set past its length (10.1.0.0/24:22), found "
     "\"10.1.0.1/24:22\""},
    {"IPv6 target prefix with host bits", ALLOW "        - \"[2001:db8::1/64]:22\"\n", 8, 11,
     "peers[0].streams.allow[0]",
     "expected a prefix with no bits set past its length ([2001:db8::/64]:22)"},
    {"IPv6 target without brackets", ALLOW "        - 2001:db8::5:80\n", 8, 11,
     "peers[0].streams.allow[0]", "(an IPv6 address needs brackets: [2001:db8::5]:80)"},
    {"IPv6 prefix length after the brackets", ALLOW "        - \"[2001:db8::]/64:80\"\n", 8, 11,
     "peers[0].streams.allow[0]",
     "(the prefix length goes inside the brackets: [2001:db8::/64]:80)"},
    {"IPv4 target in brackets", ALLOW "        - \"[10.0.0.1]:22\"\n", 8, 11,
     "peers[0].streams.allow[0]", "(not an IPv6 address inside [ ])"},
    {"target host name", ALLOW "        - localhost:22\n", 8, 11, "peers[0].streams.allow[0]",
     "(a host name: write an IP address, host names are not resolved here)"},
    {"target prefix too long", ALLOW "        - 10.0.0.0/33:22\n", 8, 11,
     "peers[0].streams.allow[0]", "(the prefix length must be a number 0..32)"},
    {"target twice", ALLOW "        - 127.0.0.1:80\n        - 127.0.0.1/32:80\n", 9, 11,
     "peers[0].streams.allow[1]",
     "expected each target once, found 127.0.0.1:80 again (also peers[0].streams.allow[0])"},
    // -- forwards (peers b with streams and c without; listen on line 11, peer 12, target 13) --
    {"forwards is a map", FWD_PEERS "forwards:\n  a: 1\n", 11, 3, "forwards",
     "expected a list of forwards (each a map with listen, peer and target), found a map"},
    {"unknown forward key", FWD_PEERS "forwards:\n  - listen: 127.0.0.1:1\n    targte: x\n", 12, 5,
     "forwards[0].targte", "(did you mean target?)"},
    {"forward without a target", FWD_PEERS "forwards:\n  - listen: 127.0.0.1:1\n    peer: b\n", 11,
     5, "forwards[0].target", "the key target is missing"},
    {"listen without a port", FWD("127.0.0.1", "b", "127.0.0.1:5201"), 11, 13, "forwards[0].listen",
     "expected an IP address and port such as 127.0.0.1:15201 or \"[::1]:15201\", found "
     "\"127.0.0.1\" (no ':port' at the end)"},
    {"listen on a prefix", FWD("127.0.0.0/8:80", "b", "127.0.0.1:5201"), 11, 13,
     "forwards[0].listen", "(an address, not a prefix)"},
    {"listen on a host name", FWD("localhost:80", "b", "127.0.0.1:5201"), 11, 13,
     "forwards[0].listen", "(a host name: write an IP address"},
    {"listen port zero", FWD("127.0.0.1:0", "b", "127.0.0.1:5201"), 11, 13, "forwards[0].listen",
     "(the port must be a number 1..65535)"},
    {"forward target port too big", FWD("127.0.0.1:80", "b", "127.0.0.1:70000"), 13, 13,
     "forwards[0].target", "(the port must be a number 1..65535)"},
    {"target IPv6 without brackets", FWD("127.0.0.1:80", "b", "::1:80"), 13, 13,
     "forwards[0].target", "(an IPv6 address needs brackets"},
    {"target is a prefix", FWD("127.0.0.1:80", "b", "10.0.0.0/8:80"), 13, 13, "forwards[0].target",
     "(an address, not a prefix)"},
    {"forward to no such peer", FWD("127.0.0.1:80", "d", "127.0.0.1:5201"), 12, 11,
     "forwards[0].peer",
     "expected the name or public key of a peer in peers, found \"d\" (no peer has that name)"},
    {"forward to an unknown key", FWD("127.0.0.1:80", "$PUB3", "127.0.0.1:5201"), 12, 11,
     "forwards[0].peer", "found a public key that is no peer's"},
    {"forward to a peer without streams", FWD("127.0.0.1:80", "c", "127.0.0.1:5201"), 12, 11,
     "forwards[0].peer",
     "expected a peer with streams (add `streams: {}` or `streams: {allow: [...]}` to peers[1]), "
     "found \"c\", peers[1], without streams"},
    {"forward by key to a peer without streams", FWD("127.0.0.1:80", "$PUB2", "127.0.0.1:5201"), 12,
     11, "forwards[0].peer", "to peers[1]), found"},
    {"two forwards on one listen socket",
     FWD("127.0.0.1:15201", "b", "127.0.0.1:5201") FWD_MORE("127.0.0.1:15201", "b", "127.0.0.1:22"),
     14, 13, "forwards[1].listen",
     "expected each listen address and port once, found 127.0.0.1:15201 again (also "
     "forwards[0].listen)"},
    {"IPv6 listen socket twice",
     FWD("\"[::1]:80\"", "b", "127.0.0.1:5201") FWD_MORE("\"[0:0::1]:80\"", "b", "127.0.0.1:22"),
     14, 13, "forwards[1].listen", "found [::1]:80 again (also forwards[0].listen)"},
    {"wildcard listen after a specific one",
     FWD("127.0.0.1:15201", "b", "127.0.0.1:5201") FWD_MORE("0.0.0.0:15201", "b", "127.0.0.1:22"),
     14, 13, "forwards[1].listen",
     "found 0.0.0.0:15201, which clashes with forwards[0].listen (127.0.0.1:15201)"},
    {"specific listen after a wildcard",
     FWD("\"[::]:80\"", "b", "127.0.0.1:5201") FWD_MORE("\"[::1]:80\"", "b", "127.0.0.1:22"), 14,
     13, "forwards[1].listen", "found [::1]:80, which clashes with forwards[0].listen ([::]:80)"},
    {"forward name twice",
     FWD_PEERS "forwards:\n  - {name: web, listen: 127.0.0.1:1, peer: b, target: 127.0.0.1:2}\n"
               "  - {name: web, listen: 127.0.0.1:3, peer: b, target: 127.0.0.1:4}\n",
     12, 12, "forwards[1].name",
     "expected a unique forward name, found \"web\", already the name of forwards[0]"},
    {"forward name empty",
     FWD_PEERS "forwards:\n  - {name: \"\", listen: 127.0.0.1:1, peer: b, target: 127.0.0.1:2}\n",
     11, 12, "forwards[0].name",
     "expected a forward name of 1 to 64 printable characters, found \"\""},
    // -- key files (the directory does not exist) --
    {"missing private key file", "interface:\n  name: wg0\n  private_key_file: $DIR/none.key\n", 3,
     21, "interface.private_key_file",
     "expected a readable file holding the base64 private key, found"},
};

#undef FWD
#undef FWD_MORE
#undef FWD_PEERS
#undef ALLOW
#undef LAN
#undef LAN_ADDRESSES
#undef WAN
#undef PORTS
#undef IFACE

class BrokenConfig : public testing::TestWithParam<Broken> {};

TEST_P(BrokenConfig, GivesOneClearMessage) {
    const Broken& b = GetParam();
    const std::string text = expand(b.yaml);
    try {
        const Config c = parse_config(text, "bad.yaml");
        FAIL() << "accepted:\n" << text;
    } catch (const ConfigError& e) {
        const std::string what = e.what();
        SCOPED_TRACE(what);
        EXPECT_EQ(e.file(), "bad.yaml");
        EXPECT_EQ(e.line(), b.line);
        EXPECT_EQ(e.column(), b.column);
        EXPECT_EQ(e.key(), b.key);
        EXPECT_NE(e.message().find(b.expect), std::string::npos);
        // One line, in the documented shape, and no secrets in it.
        EXPECT_EQ(what.find('\n'), std::string::npos);
        EXPECT_EQ(what, "bad.yaml:" + std::to_string(b.line) + ":" + std::to_string(b.column) +
                            ": " + b.key + ": " + e.message());
        EXPECT_EQ(e.message().rfind("expected ", 0), 0u);
        EXPECT_NE(e.message().find(", found "), std::string::npos);
        EXPECT_EQ(what.find(key_to_base64(kPrivate)), std::string::npos);
        EXPECT_EQ(what.find(key_to_base64(kPsk)), std::string::npos);
    }
}

std::string case_name(const testing::TestParamInfo<Broken>& info) {
    std::string name;
    for (const char* p = info.param.name; *p; ++p)
        name += std::isalnum(static_cast<unsigned char>(*p)) ? *p : '_';
    return name;
}

INSTANTIATE_TEST_SUITE_P(Table, BrokenConfig, testing::ValuesIn(kBroken), case_name);

// ---- Inputs that would make yaml-cpp work hard ------------------------------------------

ConfigError error_of(const std::string& text) {
    try {
        parse_config(text, "big.yaml");
    } catch (const ConfigError& e) {
        return e;
    }
    ADD_FAILURE() << "accepted";
    return ConfigError("", 0, 0, "", "");
}

TEST(Config, DeepFlowNestingIsRefusedBeforeParsing) {
    const ConfigError e = error_of("a: " + std::string(100000, '['));
    EXPECT_EQ(e.key(), "(yaml)");
    EXPECT_EQ(e.line(), 1);
    EXPECT_EQ(e.column(), 68);  // the 65th "["
    EXPECT_NE(e.message().find("levels of [ ] and { } nesting"), std::string::npos) << e.what();
}

TEST(Config, ManyFlowIndicatorsAreRefusedBeforeParsing) {
    std::string text = "a: [[";
    for (int i = 0; i < 400000; ++i) text += "[],";
    const ConfigError e = error_of(text);
    EXPECT_EQ(e.key(), "(yaml)");
    EXPECT_NE(e.message().find("flow indicators"), std::string::npos) << e.what();
}

TEST(Config, BracketsInCommentsAndQuotesAreNotNesting) {
    const std::string brackets(200, '[');
    const Config c = parse_config(
        expand("# " + brackets + "\ninterface:\n  name: wg0\n" + "  private_key: $PRIV  # " +
               brackets + "\n" + "peers:\n  - name: 'it''s " + brackets.substr(0, 50) +
               "'\n    public_key: $PUB1\n" + "    allowed_ips: [10.0.0.0/8]\n"),
        "brackets.yaml");
    EXPECT_EQ(c.peers[0].name, "it's " + brackets.substr(0, 50));
}

TEST(Config, OversizedFileIsRefused) {
    const ConfigError e = error_of(std::string((16u << 20) + 1, ' '));
    EXPECT_EQ(e.key(), "(file)");
    EXPECT_NE(e.message().find("expected at most 16777216 bytes"), std::string::npos);
}

// ---- Key file problems, with real files ---------------------------------------------------

struct BrokenKeyFile {
    const char* name;
    const char* content;  // nullptr: make a directory instead
    const char* expect;
};

const BrokenKeyFile kBrokenKeyFiles[] = {
    {"empty", "", "with 0 characters"},
    {"two newlines", "$PRIV\n\n", "with 45 characters"},
    {"leading space", " $PRIV\n", "with 45 characters"},
    {"key and comment", "$PRIV # mine\n", "characters"},
    {"truncated", "oaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoaG\n", "with 39 characters"},
    {"too big", nullptr, "more than 1024 bytes"},
    {"directory", nullptr, "a directory"},
};

class BrokenKeyFileTest : public testing::TestWithParam<BrokenKeyFile> {};

TEST_P(BrokenKeyFileTest, NamesTheKeyAndThePath) {
    const BrokenKeyFile& b = GetParam();
    TempDir dir;
    const fs::path key_path = dir.path() / "wg0.key";
    if (std::string(b.name) == "directory") {
        fs::create_directory(key_path);
    } else if (std::string(b.name) == "too big") {
        dir.write("wg0.key", std::string(5000, 'A'));
    } else {
        dir.write("wg0.key", expand(b.content));
    }
    const std::string file =
        dir.write("wg0.yaml", "interface:\n  name: wg0\n  private_key_file: wg0.key\n");
    try {
        load_config_file(file);
        FAIL() << "accepted";
    } catch (const ConfigError& e) {
        const std::string what = e.what();
        SCOPED_TRACE(what);
        EXPECT_EQ(e.line(), 3);
        EXPECT_EQ(e.column(), 21);
        EXPECT_EQ(e.key(), "interface.private_key_file");
        EXPECT_NE(what.find(key_path.string()), std::string::npos);
        EXPECT_NE(what.find(b.expect), std::string::npos);
        EXPECT_EQ(what.find(key_to_base64(kPrivate)), std::string::npos);
        EXPECT_EQ(what.find('\n'), std::string::npos);
    }
}

std::string key_file_case_name(const testing::TestParamInfo<BrokenKeyFile>& info) {
    std::string name;
    for (const char* p = info.param.name; *p; ++p)
        name += std::isalnum(static_cast<unsigned char>(*p)) ? *p : '_';
    return name;
}

INSTANTIATE_TEST_SUITE_P(Table, BrokenKeyFileTest, testing::ValuesIn(kBrokenKeyFiles),
                         key_file_case_name);

TEST(Config, UnreadableKeyFileNamesTheKeyAndThePath) {
    if (::geteuid() == 0) GTEST_SKIP() << "root reads any file";
    TempDir dir;
    const std::string key = dir.write("wg0.key", key_to_base64(kPrivate) + "\n", 0000);
    const std::string file =
        dir.write("wg0.yaml", "interface:\n  name: wg0\n  private_key_file: wg0.key\n");
    try {
        load_config_file(file);
        FAIL() << "accepted";
    } catch (const ConfigError& e) {
        EXPECT_EQ(e.key(), "interface.private_key_file");
        EXPECT_NE(e.message().find(key + "\": Permission denied"), std::string::npos) << e.what();
    }
}

TEST(Config, KeyFileThatIsAFifoDoesNotBlock) {
    TempDir dir;
    const fs::path fifo = dir.path() / "wg0.key";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    const std::string file =
        dir.write("wg0.yaml", "interface:\n  name: wg0\n  private_key_file: wg0.key\n");
    try {
        load_config_file(file);
        FAIL() << "accepted";
    } catch (const ConfigError& e) {
        EXPECT_NE(e.message().find("not a regular file"), std::string::npos) << e.what();
    }
}

// ---- The sample configurations --------------------------------------------------------------

// deploy/examples must stay valid. Their key files live under /etc/sluice;
// the test points that at a temporary directory with generated keys.
TEST(Config, DeployExamplesAreValid) {
    const fs::path source = fs::path(__FILE__).parent_path().parent_path().parent_path();
    const fs::path examples = source / "deploy" / "examples";
    std::error_code ec;
    if (!fs::is_directory(examples, ec)) GTEST_SKIP() << "no " << examples;
    TempDir dir;
    int checked = 0;
    for (const auto& entry : fs::directory_iterator(examples)) {
        if (entry.path().extension() != ".yaml") continue;
        std::ifstream in(entry.path());
        std::stringstream text;
        text << in.rdbuf();
        std::string yaml = text.str();
        replace_all(yaml, "/etc/sluice/", dir.path().string() + "/");
        // Give every key file the example names a distinct key.
        for (size_t at = yaml.find("_file: "); at != std::string::npos;
             at = yaml.find("_file: ", at + 1)) {
            const size_t start = at + 7;
            const std::string path = yaml.substr(start, yaml.find('\n', start) - start);
            const Key k = key_of(static_cast<uint8_t>(checked * 16 + at % 13 + 1));
            std::ofstream(path) << key_to_base64(k) << "\n";
            ::chmod(path.c_str(), 0600);
        }
        SCOPED_TRACE(entry.path().string());
        try {
            const Config c = parse_config(yaml, entry.path().string());
            EXPECT_TRUE(c.warnings.empty()) << c.warnings[0];
        } catch (const ConfigError& e) {
            ADD_FAILURE() << e.what();
        }
        ++checked;
    }
    EXPECT_GE(checked, 2);
}

// The YAML examples of docs/configuration.md must stay valid, with the key
// files they name replaced by inline keys.
TEST(Config, DocumentationExamplesAreValid) {
    const fs::path source = fs::path(__FILE__).parent_path().parent_path().parent_path();
    std::ifstream in(source / "docs" / "configuration.md");
    if (!in) GTEST_SKIP() << "no docs/configuration.md";
    std::string line;
    std::string block;
    bool inside = false;
    int checked = 0;
    while (std::getline(in, line)) {
        if (!inside) {
            inside = line == "```yaml";
            block.clear();
            continue;
        }
        if (line != "```") {
            if (line.find("private_key_file: ") != std::string::npos)
                line = line.substr(0, line.find("private_key_file: ")) + "private_key: $PRIV";
            if (line.find("preshared_key_file: ") == std::string::npos) block += line + "\n";
            continue;
        }
        inside = false;
        SCOPED_TRACE(block);
        try {
            const Config c = parse_config(expand(block), "doc.yaml");
            EXPECT_TRUE(c.warnings.empty()) << c.warnings[0];
        } catch (const ConfigError& e) {
            ADD_FAILURE() << e.what();
        }
        ++checked;
    }
    EXPECT_GE(checked, 2);
}

}  // namespace
}  // namespace sluice

namespace sluice {
namespace {

TEST(Config, TestingSectionShortensRekeyAndWarns) {
    const Config c = parse_config(
        expand("interface:\n  name: wg0\n  private_key: $PRIV\ntesting:\n  rekey_after_seconds: 3\n"),
        "t.yaml");
    EXPECT_EQ(c.testing.rekey_after_seconds, 3u);
    ASSERT_FALSE(c.warnings.empty());
    EXPECT_NE(c.warnings.back().find("never in production"), std::string::npos) << c.warnings.back();
    const Config d = parse_config(expand("interface:\n  name: wg0\n  private_key: $PRIV\n"), "t.yaml");
    EXPECT_EQ(d.testing.rekey_after_seconds, 0u);
    // Round trip through the dump keeps it.
    EXPECT_NE(dump_config(c).find("rekey_after_seconds: 3"), std::string::npos);
}

TEST(Config, TestingRekeyOutOfRangeIsAnError) {
    for (const char* v : {"0", "121", "-1", "fast"}) {
        try {
            (void)parse_config(expand(std::string("interface:\n  name: wg0\n  private_key: $PRIV\n"
                                                  "testing:\n  rekey_after_seconds: ") +
                                      v + "\n"),
                               "t.yaml");
            ADD_FAILURE() << v << " was accepted";
        } catch (const ConfigError& e) {
            EXPECT_EQ(e.key(), "testing.rekey_after_seconds") << e.what();
            EXPECT_EQ(e.line(), 5) << e.what();
        }
    }
}

}  // namespace
}  // namespace sluice

namespace sluice {
namespace {
TEST(Config, BusyPollDefaultsAndRange) {
    const Config d = parse_config(expand("interface:\n  name: wg0\n  private_key: $PRIV\n"), "t.yaml");
    EXPECT_EQ(d.dataplane.busy_poll_us, 50u);
    const Config c = parse_config(
        expand("interface:\n  name: wg0\n  private_key: $PRIV\ndataplane:\n  busy_poll_us: 0\n"),
        "t.yaml");
    EXPECT_EQ(c.dataplane.busy_poll_us, 0u);
    EXPECT_THROW((void)parse_config(expand("interface:\n  name: wg0\n  private_key: $PRIV\n"
                                           "dataplane:\n  busy_poll_us: 100001\n"),
                                    "t.yaml"),
                 ConfigError);
}
}  // namespace
}  // namespace sluice

// ---- Streams and forwards ------------------------------------------------------------------

namespace sluice {
namespace {

// The example of docs/configuration.md, both sides' settings in one file.
constexpr const char* kStreamsConfig = R"(interface:
  name: wg0
  private_key: $PRIV
streams:
  memory_budget: 134217728
  initial_stream_window: 131072
  max_stream_window: 8388608
  initial_session_window: 524288
  max_session_window: 33554432
  max_streams: 64
  idle_timeout: 120
peers:
  - name: site-b
    public_key: $PUB1
    allowed_ips: [10.1.0.0/24]
    streams:
      allow:
        - 127.0.0.1:5201
        - 10.1.0.0/24:22
        - "[2001:db8::5]:80"
        - "[2001:db8:1::/48]:443"
        - 0.0.0.0/0:7
  - name: site-c
    public_key: $PUB2
    allowed_ips: [10.2.0.0/24]
    streams: {}
  - name: plain
    public_key: $PUB3
    allowed_ips: [10.3.0.0/24]
forwards:
  - name: iperf
    listen: 127.0.0.1:15201
    peer: site-b
    target: 127.0.0.1:5201
  - listen: "[::1]:15201"
    peer: $PUB2
    target: "[2001:db8::7]:22"
  - listen: 0.0.0.0:2222
    peer: site-b
    target: 10.1.0.9:22
  - listen: 127.0.0.2:15201
    peer: site-c
    target: 192.0.2.1:80
)";

std::string streams_config_text() {
    return expand(kStreamsConfig);
}

IpAddress ip(const char* text) {
    return *parse_ip_address(text);
}

StreamTarget target(const char* prefix, uint16_t port) {
    return {*parse_ip_prefix(prefix), port};
}

void expect_same_streams(const StreamsConfig& a, const StreamsConfig& b) {
    EXPECT_EQ(a.memory_budget, b.memory_budget);
    EXPECT_EQ(a.initial_stream_window, b.initial_stream_window);
    EXPECT_EQ(a.max_stream_window, b.max_stream_window);
    EXPECT_EQ(a.initial_session_window, b.initial_session_window);
    EXPECT_EQ(a.max_session_window, b.max_session_window);
    EXPECT_EQ(a.max_streams, b.max_streams);
    EXPECT_EQ(a.idle_timeout_seconds, b.idle_timeout_seconds);
    EXPECT_EQ(a.congestion_control, b.congestion_control);
}

TEST(ConfigStreams, FullExampleReadsIntoTheStructs) {
    const Config c = parse_config(streams_config_text(), "s.yaml");
    EXPECT_TRUE(c.warnings.empty()) << c.warnings[0];
    EXPECT_EQ(c.streams.memory_budget, 134217728u);
    EXPECT_EQ(c.streams.initial_stream_window, 131072u);
    EXPECT_EQ(c.streams.max_stream_window, 8388608u);
    EXPECT_EQ(c.streams.initial_session_window, 524288u);
    EXPECT_EQ(c.streams.max_session_window, 33554432u);
    EXPECT_EQ(c.streams.max_streams, 64u);
    EXPECT_EQ(c.streams.idle_timeout_seconds, 120u);

    ASSERT_EQ(c.peers.size(), 3u);
    ASSERT_TRUE(c.peers[0].streams.has_value());
    EXPECT_EQ(c.peers[0].streams->allow,
              (std::vector<StreamTarget>{target("127.0.0.1/32", 5201), target("10.1.0.0/24", 22),
                                         target("2001:db8::5/128", 80),
                                         target("2001:db8:1::/48", 443), target("0.0.0.0/0", 7)}));
    ASSERT_TRUE(c.peers[1].streams.has_value());
    EXPECT_TRUE(c.peers[1].streams->allow.empty());
    EXPECT_FALSE(c.peers[2].streams.has_value());

    ASSERT_EQ(c.forwards.size(), 4u);
    const ForwardConfig& iperf = c.forwards[0];
    EXPECT_EQ(iperf.name, "iperf");
    EXPECT_EQ(iperf.listen_address, ip("127.0.0.1"));
    EXPECT_EQ(iperf.listen_port, 15201);
    EXPECT_EQ(iperf.peer, "site-b");
    EXPECT_EQ(iperf.peer_key, kPeer1);
    EXPECT_EQ(iperf.target_address, ip("127.0.0.1"));
    EXPECT_EQ(iperf.target_port, 5201);
    // By key, IPv6 on the same port as an IPv4 forward.
    const ForwardConfig& v6 = c.forwards[1];
    EXPECT_TRUE(v6.name.empty());
    EXPECT_EQ(v6.listen_address, ip("::1"));
    EXPECT_EQ(v6.listen_port, 15201);
    EXPECT_EQ(v6.peer, key_to_base64(kPeer2));
    EXPECT_EQ(v6.peer_key, kPeer2);
    EXPECT_EQ(v6.target_address, ip("2001:db8::7"));
    EXPECT_EQ(v6.target_port, 22);
    EXPECT_EQ(c.forwards[2].listen_address, ip("0.0.0.0"));
    EXPECT_EQ(c.forwards[2].peer_key, kPeer1);
    // Another address on a port that a forward already listens on.
    EXPECT_EQ(c.forwards[3].listen_address, ip("127.0.0.2"));
    EXPECT_EQ(c.forwards[3].peer_key, kPeer2);
}

TEST(ConfigStreams, DefaultsWithoutTheSections) {
    const Config c = parse_config(
        expand("interface:\n  name: wg0\n  private_key: $PRIV\npeers:\n  - public_key: $PUB1\n"
               "    allowed_ips: [10.0.0.2/32]\n"),
        "d.yaml");
    EXPECT_TRUE(c.warnings.empty()) << c.warnings[0];
    expect_same_streams(c.streams, StreamsConfig{});
    EXPECT_EQ(c.streams.memory_budget, config_defaults::kStreamMemoryBudget);
    EXPECT_EQ(c.streams.idle_timeout_seconds, config_defaults::kStreamIdleTimeoutSeconds);
    EXPECT_FALSE(c.peers[0].streams.has_value());
    EXPECT_TRUE(c.forwards.empty());
    const std::string dump = dump_config(c);
    EXPECT_EQ(dump.find("streams"), std::string::npos) << dump;
    EXPECT_EQ(dump.find("forwards"), std::string::npos) << dump;
}

TEST(ConfigStreams, EmptySectionsAreFine) {
    const Config c = parse_config(
        expand("interface:\n  name: wg0\n  private_key: $PRIV\nstreams: {}\npeers:\n"
               "  - public_key: $PUB1\n    allowed_ips: [10.0.0.2/32]\n    streams: {allow: []}\n"
               "forwards: []\n"),
        "e.yaml");
    EXPECT_TRUE(c.warnings.empty()) << c.warnings[0];
    expect_same_streams(c.streams, StreamsConfig{});
    ASSERT_TRUE(c.peers[0].streams.has_value());
    EXPECT_TRUE(c.peers[0].streams->allow.empty());
}

TEST(ConfigStreams, WindowsMayBeEqualToTheirLimits) {
    const Config c = parse_config(
        expand("interface:\n  name: wg0\n  private_key: $PRIV\nstreams:\n"
               "  memory_budget: 16384\n  initial_stream_window: 16384\n"
               "  max_stream_window: 16384\n  initial_session_window: 16384\n"
               "  max_session_window: 16384\n  max_streams: 65536\n  idle_timeout: 86400\n"
               "peers:\n  - public_key: $PUB1\n    allowed_ips: [10.0.0.2/32]\n    streams: {}\n"),
        "w.yaml");
    EXPECT_EQ(c.streams.memory_budget, 16384u);
    EXPECT_EQ(c.streams.max_streams, 65536u);
    EXPECT_EQ(c.streams.idle_timeout_seconds, 86400u);
}

TEST(ConfigStreams, SettingsThatNoPeerUsesGiveAWarning) {
    const Config c = parse_config(
        expand("interface:\n  name: wg0\n  private_key: $PRIV\nstreams:\n  max_streams: 8\n"
               "peers:\n  - public_key: $PUB1\n    allowed_ips: [10.0.0.2/32]\n"),
        "w.yaml");
    ASSERT_EQ(c.warnings.size(), 1u);
    EXPECT_EQ(c.warnings[0],
              "w.yaml:5:3: streams: warning: no peer has streams: these settings take effect "
              "only when one does");
    EXPECT_EQ(c.streams.max_streams, 8u);
    // The dump keeps the settings, and with them the warning.
    std::string dump = dump_config(c);
    EXPECT_NE(dump.find("  max_streams: 8\n"), std::string::npos) << dump;
    replace_all(dump, "private_key: (redacted)", "private_key: " + key_to_base64(kPrivate));
    EXPECT_EQ(parse_config(dump, "w.yaml").warnings.size(), 1u);
}

TEST(ConfigStreams, DumpLoadsBackTheSame) {
    const Config original = parse_config(streams_config_text(), "s.yaml");
    const std::string dump = dump_config(original);
    EXPECT_NE(dump.find("    streams:\n      allow: [\"127.0.0.1:5201\", \"10.1.0.0/24:22\", "
                        "\"[2001:db8::5]:80\", \"[2001:db8:1::/48]:443\", \"0.0.0.0/0:7\"]\n"),
              std::string::npos)
        << dump;
    EXPECT_NE(dump.find("    streams:\n      allow: []\n"), std::string::npos) << dump;
    EXPECT_NE(dump.find("  - listen: \"[::1]:15201\"\n"), std::string::npos) << dump;
    std::string text = dump;
    replace_all(text, "private_key: (redacted)", "private_key: " + key_to_base64(kPrivate));
    const Config again = parse_config(text, "s.yaml");
    EXPECT_TRUE(again.warnings.empty()) << again.warnings[0];
    expect_same_streams(again.streams, original.streams);
    ASSERT_EQ(again.peers.size(), original.peers.size());
    for (size_t i = 0; i < again.peers.size(); ++i) {
        ASSERT_EQ(again.peers[i].streams.has_value(), original.peers[i].streams.has_value()) << i;
        if (again.peers[i].streams) {
            EXPECT_EQ(again.peers[i].streams->allow, original.peers[i].streams->allow) << i;
        }
    }
    EXPECT_EQ(again.forwards, original.forwards);
    EXPECT_EQ(dump_config(again), dump);
}

TEST(ConfigStreams, DefaultSettingsAreDumpedWhenAPeerHasStreams) {
    const Config c = parse_config(
        expand("interface:\n  name: wg0\n  private_key: $PRIV\npeers:\n  - public_key: $PUB1\n"
               "    allowed_ips: [10.0.0.2/32]\n    streams: {}\n"),
        "d.yaml");
    const std::string dump = dump_config(c);
    EXPECT_NE(dump.find("streams:\n  memory_budget: 268435456\n"), std::string::npos) << dump;
    EXPECT_NE(dump.find("  idle_timeout: 60\n"), std::string::npos) << dump;
}

}  // namespace
}  // namespace sluice

namespace sluice {
namespace {

TEST(ConfigStreamsCongestion, BbrByDefaultNewRenoOnRequestAnythingElseRefused) {
    const std::string head =
        "interface:\n  name: wg0\n  private_key: $PRIV\npeers:\n  - public_key: $PUB1\n"
        "    allowed_ips: [10.0.0.2/32]\n    streams: {}\n";
    EXPECT_EQ(parse_config(expand(head), "c.yaml").streams.congestion_control, StreamCongestion::bbr);
    const Config reno =
        parse_config(expand(head + "streams:\n  congestion_control: newreno\n"), "c.yaml");
    EXPECT_EQ(reno.streams.congestion_control, StreamCongestion::newreno);
    const std::string dump = dump_config(reno);
    EXPECT_NE(dump.find("congestion_control: newreno"), std::string::npos) << dump;
    try {
        parse_config(expand(head + "streams:\n  congestion_control: cubic\n"), "c.yaml");
        FAIL() << "cubic accepted";
    } catch (const ConfigError& e) {
        EXPECT_EQ(e.key(), "streams.congestion_control");
        EXPECT_EQ(e.line(), 9);
        EXPECT_NE(e.message().find("bbr"), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace sluice
