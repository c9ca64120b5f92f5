// DeviceConfig: WireGuard's set semantics (replace_peers, remove, update_only,
// replace_allowed_ips, prefix moves, own key), all-or-nothing application,
// the change report, snapshots with runtime facts, the builder from Config,
// and a differential test against a naive reference model fed random requests.
#include "control/device_config.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "control/crypto.hpp"
#include "control/key_encoding.hpp"

namespace sluice {
namespace {

using uapi::PeerSet;
using uapi::SetRequest;

class DeviceConfigTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() { crypto::init(); }
};

// RFC 7748 §6.1: Alice's X25519 key pair.
const char* const kAlicePrivate =
    "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
const char* const kAlicePublic = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";

Key hex_key(std::string_view hex) {
    const auto k = key_from_hex(hex);
    EXPECT_TRUE(k.has_value()) << hex;
    return k.value_or(Key{});
}

// A recognisable public key for peer n.
Key peer_key(uint8_t n) {
    Key k{};
    k.fill(n);
    k[0] = 0xa0;
    return k;
}

IpPrefix P(std::string_view text) {
    const auto p = parse_ip_prefix(text);
    EXPECT_TRUE(p.has_value()) << text;
    return p.value_or(IpPrefix{});
}

uapi::SocketEndpoint E(std::string_view text) {
    const auto e = uapi::parse_socket_endpoint(text);
    EXPECT_TRUE(e.has_value()) << text;
    return e.value_or(uapi::SocketEndpoint{});
}

std::vector<std::string> strings(const std::vector<IpPrefix>& v) {
    std::vector<std::string> out;
    for (const IpPrefix& p : v) out.push_back(p.to_string());
    return out;
}

// Sets from the wire text, as the daemon will: parse, then apply.
ApplyResult set(DeviceConfig& d, std::string_view body) {
    SetRequest r;
    const uapi::Error e = uapi::parse_set(body, &r);
    EXPECT_EQ(e.code, 0) << e.message;
    ApplyResult result = d.apply(r);
    EXPECT_TRUE(d.well_formed());
    return result;
}

std::string pk_line(uint8_t n) {
    return "public_key=" + key_to_hex(peer_key(n)) + "\n";
}

std::string get_text(const DeviceConfig& d) {
    return uapi::format_get(d.snapshot());
}

std::vector<Key> keys_of(const std::vector<PeerRef>& refs) {
    std::vector<Key> out;
    for (const PeerRef& r : refs) out.push_back(r.public_key);
    return out;
}

std::vector<Key> peer_order(const DeviceConfig& d) {
    std::vector<Key> out;
    for (const DevicePeer* p : d.peers()) out.push_back(p->public_key);
    return out;
}

std::optional<PeerId> lookup(const DeviceConfig& d, std::string_view addr) {
    const IpPrefix p = P(addr);
    return d.allowed_ips().lookup(p.family, p.addr.data());
}

// ---- The interface ----------------------------------------------------------------

TEST_F(DeviceConfigTest, StartsEmpty) {
    DeviceConfig d;
    EXPECT_FALSE(d.interface().private_key);
    EXPECT_EQ(d.peer_count(), 0u);
    EXPECT_EQ(get_text(d), "errno=0\n\n");
    EXPECT_TRUE(d.well_formed());
}

TEST_F(DeviceConfigTest, PrivateKeyDerivesThePublicKey) {
    DeviceConfig d;
    const ApplyResult r = set(d, std::string("private_key=") + kAlicePrivate + "\n");
    ASSERT_EQ(r.error.code, 0);
    EXPECT_TRUE(r.changes.private_key);
    EXPECT_FALSE(r.changes.listen_port);
    ASSERT_TRUE(d.interface().private_key);
    EXPECT_EQ(*d.interface().private_key, hex_key(kAlicePrivate));
    EXPECT_EQ(d.interface().public_key, hex_key(kAlicePublic));
    // The same key again changes nothing.
    EXPECT_TRUE(set(d, std::string("private_key=") + kAlicePrivate + "\n").changes.empty());
}

TEST_F(DeviceConfigTest, ZeroPrivateKeyRemovesIt) {
    DeviceConfig d;
    set(d, std::string("private_key=") + kAlicePrivate + "\n");
    const ApplyResult r = set(d, "private_key=" + std::string(64, '0') + "\n");
    EXPECT_TRUE(r.changes.private_key);
    EXPECT_FALSE(d.interface().private_key);
    EXPECT_EQ(d.interface().public_key, Key{});
    EXPECT_EQ(get_text(d).find("private_key"), std::string::npos);
}

TEST_F(DeviceConfigTest, ListenPortAndFwmark) {
    DeviceConfig d;
    ApplyResult r = set(d, "listen_port=51820\nfwmark=16\n");
    EXPECT_TRUE(r.changes.listen_port);
    EXPECT_TRUE(r.changes.fwmark);
    EXPECT_FALSE(r.changes.private_key);
    EXPECT_EQ(get_text(d), "listen_port=51820\nfwmark=16\nerrno=0\n\n");
    r = set(d, "fwmark=0\n");
    EXPECT_TRUE(r.changes.fwmark);
    EXPECT_FALSE(r.changes.listen_port);
    EXPECT_EQ(d.interface().fwmark, 0u);
    EXPECT_TRUE(set(d, "listen_port=51820\n").changes.empty());
}

// ---- Peers ---------------------------------------------------------------------------

TEST_F(DeviceConfigTest, AddsPeersInOrderWithTheirSettings) {
    DeviceConfig d;
    const ApplyResult r = set(
        d, pk_line(3) + "preshared_key=" + std::string(63, '0') + "1\nendpoint=192.0.2.1:51820\n" +
               "persistent_keepalive_interval=25\nallowed_ip=10.0.0.1/24\n" + pk_line(1) +
               "endpoint=[2001:db8::1]:5\nallowed_ip=fd00::/64\n" + pk_line(2));
    ASSERT_EQ(r.error.code, 0);
    EXPECT_EQ(keys_of(r.changes.added), (std::vector<Key>{peer_key(3), peer_key(1), peer_key(2)}));
    EXPECT_TRUE(r.changes.removed.empty());
    EXPECT_TRUE(r.changes.updated.empty());
    EXPECT_EQ(peer_order(d), (std::vector<Key>{peer_key(3), peer_key(1), peer_key(2)}));

    const DevicePeer* p3 = d.find_peer(peer_key(3));
    ASSERT_NE(p3, nullptr);
    ASSERT_TRUE(p3->preshared_key);
    EXPECT_EQ((*p3->preshared_key)[31], 1);
    EXPECT_EQ(p3->endpoint, E("192.0.2.1:51820"));
    EXPECT_EQ(p3->persistent_keepalive, 25);
    EXPECT_EQ(strings(d.allowed_ips_of(peer_key(3))), std::vector<std::string>{"10.0.0.0/24"})
        << "stored masked";
    EXPECT_EQ(d.find_peer(p3->id), p3);
    EXPECT_EQ(lookup(d, "10.0.0.77"), p3->id);
    EXPECT_EQ(lookup(d, "fd00::1"), d.find_peer(peer_key(1))->id);
    EXPECT_EQ(lookup(d, "10.0.1.1"), std::nullopt);
    EXPECT_EQ(d.allowed_ip_count(), 2u);
}

TEST_F(DeviceConfigTest, PeerIdsAreDistinctAndNeverZero) {
    DeviceConfig d;
    set(d, pk_line(1) + pk_line(2) + pk_line(3));
    std::vector<PeerId> ids;
    for (const DevicePeer* p : d.peers()) ids.push_back(p->id);
    std::sort(ids.begin(), ids.end());
    EXPECT_EQ(std::unique(ids.begin(), ids.end()), ids.end());
    EXPECT_NE(ids.front(), 0u);
}

TEST_F(DeviceConfigTest, AllowedIpMovesToTheLastPeerThatClaimsIt) {
    DeviceConfig d;
    set(d, pk_line(1) + "allowed_ip=10.1.0.0/16\nallowed_ip=10.2.0.0/16\n" + pk_line(2) +
               "allowed_ip=10.3.0.0/16\n");
    const PeerId id1 = d.find_peer(peer_key(1))->id, id2 = d.find_peer(peer_key(2))->id;
    const ApplyResult r = set(d, pk_line(2) + "allowed_ip=10.1.0.0/16\n");
    EXPECT_EQ(strings(d.allowed_ips_of(peer_key(1))), std::vector<std::string>{"10.2.0.0/16"});
    EXPECT_EQ(strings(d.allowed_ips_of(peer_key(2))),
              (std::vector<std::string>{"10.3.0.0/16", "10.1.0.0/16"}));
    EXPECT_EQ(lookup(d, "10.1.2.3"), id2);
    // Both peers' prefix sets changed: both are reported, nothing added or removed.
    ASSERT_EQ(r.changes.updated.size(), 2u);
    EXPECT_EQ(r.changes.updated[0], (PeerUpdate{peer_key(1), id1, kPeerAllowedIps}));
    EXPECT_EQ(r.changes.updated[1], (PeerUpdate{peer_key(2), id2, kPeerAllowedIps}));
    EXPECT_TRUE(r.changes.added.empty());
    EXPECT_TRUE(r.changes.removed.empty());
}

TEST_F(DeviceConfigTest, PrefixIdentityIgnoresHostBits) {
    DeviceConfig d;
    set(d, pk_line(1) + "allowed_ip=10.0.0.1/8\n" + pk_line(2) + "allowed_ip=10.9.9.9/8\n");
    EXPECT_TRUE(d.allowed_ips_of(peer_key(1)).empty())
        << "10.0.0.1/8 and 10.9.9.9/8 are one prefix";
    EXPECT_EQ(strings(d.allowed_ips_of(peer_key(2))), std::vector<std::string>{"10.0.0.0/8"});
    // Different lengths are different prefixes.
    set(d, pk_line(1) + "allowed_ip=10.0.0.0/9\n");
    EXPECT_EQ(d.allowed_ip_count(), 2u);
}

TEST_F(DeviceConfigTest, ReclaimMovesThePrefixToTheEndWithoutAnUpdate) {
    DeviceConfig d;
    set(d, pk_line(1) + "allowed_ip=10.0.0.0/8\nallowed_ip=fd00::/64\nallowed_ip=1.0.0.0/8\n");
    const ApplyResult r = set(d, pk_line(1) + "allowed_ip=10.0.0.0/8\n");
    // The order both stock implementations report after a re-claim.
    EXPECT_EQ(strings(d.allowed_ips_of(peer_key(1))),
              (std::vector<std::string>{"fd00::/64", "1.0.0.0/8", "10.0.0.0/8"}));
    EXPECT_TRUE(r.changes.empty()) << "the same prefixes route to the same peer";
}

TEST_F(DeviceConfigTest, ReplaceAllowedIps) {
    DeviceConfig d;
    set(d, pk_line(1) + "allowed_ip=10.0.0.0/8\nallowed_ip=fd00::/64\n");
    ApplyResult r = set(d, pk_line(1) + "replace_allowed_ips=true\nallowed_ip=192.168.0.0/16\n");
    EXPECT_EQ(strings(d.allowed_ips_of(peer_key(1))), std::vector<std::string>{"192.168.0.0/16"});
    EXPECT_EQ(lookup(d, "10.1.1.1"), std::nullopt);
    ASSERT_EQ(r.changes.updated.size(), 1u);
    EXPECT_EQ(r.changes.updated[0].fields, kPeerAllowedIps);
    // Replace with nothing: the peer stays, without prefixes.
    r = set(d, pk_line(1) + "replace_allowed_ips=true\n");
    EXPECT_TRUE(d.allowed_ips_of(peer_key(1)).empty());
    EXPECT_EQ(d.peer_count(), 1u);
    EXPECT_EQ(d.allowed_ip_count(), 0u);
    // The same list again is not a change.
    set(d, pk_line(1) + "allowed_ip=10.0.0.0/8\n");
    EXPECT_TRUE(
        set(d, pk_line(1) + "replace_allowed_ips=true\nallowed_ip=10.0.0.0/8\n").changes.empty());
}

TEST_F(DeviceConfigTest, ReplaceAllowedIpsAppliesToTheWholeSection) {
    // As the kernel's WGPEER_F_REPLACE_ALLOWEDIPS flag: wherever the line is.
    DeviceConfig d;
    set(d, pk_line(1) + "allowed_ip=10.0.0.0/8\n");
    set(d, pk_line(1) + "allowed_ip=11.0.0.0/8\nreplace_allowed_ips=true\n");
    EXPECT_EQ(strings(d.allowed_ips_of(peer_key(1))), std::vector<std::string>{"11.0.0.0/8"});
}

TEST_F(DeviceConfigTest, RemovePeer) {
    DeviceConfig d;
    set(d, pk_line(1) + "allowed_ip=10.0.0.0/8\n" + pk_line(2) + "allowed_ip=11.0.0.0/8\n");
    const PeerId id1 = d.find_peer(peer_key(1))->id;
    const ApplyResult r = set(d, pk_line(1) + "remove=true\n");
    EXPECT_EQ(r.changes.removed, (std::vector<PeerRef>{{peer_key(1), id1}}));
    EXPECT_TRUE(r.changes.added.empty());
    EXPECT_EQ(d.find_peer(peer_key(1)), nullptr);
    EXPECT_EQ(d.find_peer(id1), nullptr);
    EXPECT_EQ(lookup(d, "10.1.1.1"), std::nullopt);
    EXPECT_EQ(d.allowed_ip_count(), 1u);
    // Removing a peer that is not there is no error and no change.
    const ApplyResult again = set(d, pk_line(1) + "remove=true\n");
    EXPECT_EQ(again.error.code, 0);
    EXPECT_TRUE(again.changes.empty());
}

TEST_F(DeviceConfigTest, RemoveIgnoresTheRestOfItsSection) {
    // The kernel checks WGPEER_F_REMOVE_ME first: nothing else in the
    // section happens, so the prefix is not taken from peer 2.
    DeviceConfig d;
    set(d, pk_line(2) + "allowed_ip=10.0.0.0/8\n");
    set(d, pk_line(1) + "allowed_ip=10.0.0.0/8\nremove=true\n");
    EXPECT_EQ(d.find_peer(peer_key(1)), nullptr);
    EXPECT_EQ(strings(d.allowed_ips_of(peer_key(2))), std::vector<std::string>{"10.0.0.0/8"});
}

TEST_F(DeviceConfigTest, UpdateOnlySkipsAMissingPeer) {
    DeviceConfig d;
    set(d, pk_line(2) + "allowed_ip=10.0.0.0/8\n");
    const ApplyResult r =
        set(d, pk_line(1) + "allowed_ip=10.0.0.0/8\nupdate_only=true\nendpoint=192.0.2.1:1\n");
    EXPECT_EQ(r.error.code, 0);
    EXPECT_TRUE(r.changes.empty());
    EXPECT_EQ(d.find_peer(peer_key(1)), nullptr);
    EXPECT_EQ(strings(d.allowed_ips_of(peer_key(2))), std::vector<std::string>{"10.0.0.0/8"})
        << "a skipped section takes nothing from anyone";
}

TEST_F(DeviceConfigTest, UpdateOnlyUpdatesAnExistingPeer) {
    DeviceConfig d;
    set(d, pk_line(1));
    const PeerId id = d.find_peer(peer_key(1))->id;
    const ApplyResult r =
        set(d, pk_line(1) +
                   "update_only=true\nendpoint=192.0.2.1:1\npersistent_keepalive_interval=5\n");
    ASSERT_EQ(r.changes.updated.size(), 1u);
    EXPECT_EQ(r.changes.updated[0],
              (PeerUpdate{peer_key(1), id, kPeerEndpoint | kPeerPersistentKeepalive}));
    EXPECT_EQ(d.find_peer(peer_key(1))->endpoint, E("192.0.2.1:1"));
}

TEST_F(DeviceConfigTest, ReplacePeers) {
    DeviceConfig d;
    set(d, pk_line(1) + "allowed_ip=10.0.0.0/8\n" + pk_line(2) + "allowed_ip=11.0.0.0/8\n");
    const PeerId old1 = d.find_peer(peer_key(1))->id, old2 = d.find_peer(peer_key(2))->id;
    const ApplyResult r =
        set(d, "replace_peers=true\n" + pk_line(3) + pk_line(1) + "allowed_ip=12.0.0.0/8\n");
    EXPECT_EQ(peer_order(d), (std::vector<Key>{peer_key(3), peer_key(1)}));
    EXPECT_EQ(strings(d.allowed_ips_of(peer_key(1))), std::vector<std::string>{"12.0.0.0/8"});
    EXPECT_EQ(lookup(d, "11.0.0.1"), std::nullopt);
    // Peer 1 was removed and created again: a new session, so both lists, new id.
    EXPECT_EQ(r.changes.removed, (std::vector<PeerRef>{{peer_key(1), old1}, {peer_key(2), old2}}));
    EXPECT_EQ(keys_of(r.changes.added), (std::vector<Key>{peer_key(3), peer_key(1)}));
    EXPECT_NE(d.find_peer(peer_key(1))->id, old1);
    EXPECT_TRUE(r.changes.updated.empty());
}

TEST_F(DeviceConfigTest, RemoveThenAddAgainInOneRequestIsANewPeer) {
    DeviceConfig d;
    set(d, pk_line(1) + "endpoint=192.0.2.1:1\n");
    const PeerId old = d.find_peer(peer_key(1))->id;
    const ApplyResult r = set(d, pk_line(1) + "remove=true\n" + pk_line(1));
    EXPECT_EQ(r.changes.removed, (std::vector<PeerRef>{{peer_key(1), old}}));
    EXPECT_EQ(keys_of(r.changes.added), std::vector<Key>{peer_key(1)});
    EXPECT_FALSE(d.find_peer(peer_key(1))->endpoint) << "a new peer starts blank";
}

TEST_F(DeviceConfigTest, PresharedKeyZeroRemovesIt) {
    DeviceConfig d;
    set(d, pk_line(1) + "preshared_key=" + std::string(62, '0') + "ff\n");
    ASSERT_TRUE(d.find_peer(peer_key(1))->preshared_key);
    const ApplyResult r = set(d, pk_line(1) + "preshared_key=" + std::string(64, '0') + "\n");
    EXPECT_FALSE(d.find_peer(peer_key(1))->preshared_key);
    ASSERT_EQ(r.changes.updated.size(), 1u);
    EXPECT_EQ(r.changes.updated[0].fields, kPeerPresharedKey);
}

TEST_F(DeviceConfigTest, OwnPublicKeyIsNeverAPeer) {
    DeviceConfig d;
    set(d, std::string("private_key=") + kAlicePrivate + "\n");
    // Ignored silently, as the kernel and wireguard-go ignore it.
    const ApplyResult r = set(
        d, "public_key=" + std::string(kAlicePublic) + "\nallowed_ip=10.0.0.0/8\n" + pk_line(1));
    EXPECT_EQ(r.error.code, 0);
    EXPECT_EQ(peer_order(d), std::vector<Key>{peer_key(1)});
    EXPECT_EQ(d.allowed_ip_count(), 0u);
}

TEST_F(DeviceConfigTest, NewPrivateKeyRemovesThePeerWithItsPublicKey) {
    DeviceConfig d;
    set(d, "public_key=" + std::string(kAlicePublic) + "\nallowed_ip=10.0.0.0/8\n" + pk_line(1));
    ASSERT_EQ(d.peer_count(), 2u);
    const ApplyResult r = set(d, std::string("private_key=") + kAlicePrivate + "\n");
    EXPECT_TRUE(r.changes.private_key);
    EXPECT_EQ(keys_of(r.changes.removed), std::vector<Key>{hex_key(kAlicePublic)});
    EXPECT_EQ(peer_order(d), std::vector<Key>{peer_key(1)});
    EXPECT_EQ(d.allowed_ip_count(), 0u);
}

// ---- All or nothing ---------------------------------------------------------------------

TEST_F(DeviceConfigTest, InvalidRequestChangesNothing) {
    DeviceConfig d;
    set(d, "listen_port=1\n" + pk_line(1) + "allowed_ip=10.0.0.0/8\n");
    const std::string before = get_text(d);

    // A request built in code (the parser cannot produce these): everything
    // before the bad value would be valid, and none of it may happen.
    SetRequest r;
    r.interface.listen_port = 2;
    r.interface.replace_peers = true;
    PeerSet& good = r.peers.emplace_back();
    good.public_key = peer_key(2);
    good.allowed_ips.push_back(P("10.0.0.0/8"));
    PeerSet& bad = r.peers.emplace_back();
    bad.public_key = peer_key(3);
    IpPrefix broken = P("10.0.0.0/8");
    broken.length = 33;
    bad.allowed_ips.push_back(broken);
    ApplyResult result = d.apply(r);
    EXPECT_EQ(result.error.code, EINVAL);
    EXPECT_TRUE(result.changes.empty());
    EXPECT_EQ(get_text(d), before);

    bad.allowed_ips.clear();
    bad.endpoint = E("1.2.3.4:5");
    bad.endpoint->address.addr[7] = 1;  // bytes past an IPv4 address
    EXPECT_EQ(d.apply(r).error.code, EINVAL);
    EXPECT_EQ(get_text(d), before);
    EXPECT_TRUE(d.well_formed());
}

TEST_F(DeviceConfigTest, PeerLimitFailsTheWholeRequest) {
    DeviceConfig d(DeviceLimits{2, 100});
    set(d, pk_line(1));
    const std::string before = get_text(d);
    SetRequest r;
    ASSERT_EQ(uapi::parse_set("listen_port=9\n" + pk_line(2) + pk_line(3), &r).code, 0);
    const ApplyResult result = d.apply(r);
    EXPECT_EQ(result.error.code, ENOMEM);
    EXPECT_EQ(get_text(d), before);
    // At the limit, edits and removals still work.
    EXPECT_EQ(set(d, pk_line(2)).error.code, 0);
    EXPECT_EQ(set(d, pk_line(1) + "endpoint=1.2.3.4:5\n").error.code, 0);
    EXPECT_EQ(set(d, pk_line(1) + "remove=true\n" + pk_line(3)).error.code, 0);
    EXPECT_EQ(d.peer_count(), 2u);
}

TEST_F(DeviceConfigTest, AllowedIpLimitFailsTheWholeRequest) {
    DeviceConfig d(DeviceLimits{10, 2});
    set(d, pk_line(1) + "allowed_ip=10.0.0.0/8\n");
    const ApplyResult r = set(d, pk_line(2) + "allowed_ip=11.0.0.0/8\nallowed_ip=12.0.0.0/8\n");
    EXPECT_EQ(r.error.code, ENOMEM);
    EXPECT_EQ(d.peer_count(), 1u);
    // Moving a prefix does not grow the table.
    EXPECT_EQ(set(d, pk_line(2) + "allowed_ip=10.0.0.0/8\nallowed_ip=11.0.0.0/8\n").error.code, 0);
}

// ---- Snapshots ----------------------------------------------------------------------------

TEST_F(DeviceConfigTest, SnapshotMergesRuntimeFacts) {
    DeviceConfig d;
    set(d, std::string("private_key=") + kAlicePrivate + "\nlisten_port=0\n" + pk_line(1) +
               "endpoint=192.0.2.1:51820\nallowed_ip=10.0.0.0/8\n" + pk_line(2));
    const PeerId id1 = d.find_peer(peer_key(1))->id;
    const PeerRuntimeFn runtime = [id1](const DevicePeer& p) -> std::optional<PeerRuntime> {
        if (p.id != id1) return std::nullopt;  // no session yet
        PeerRuntime rt;
        rt.endpoint = E("[2001:db8::7]:4000");  // roamed
        rt.last_handshake_time_sec = 1700000000;
        rt.last_handshake_time_nsec = 5;
        rt.tx_bytes = 100;
        rt.rx_bytes = 200;
        return rt;
    };
    const uapi::DeviceStatus s = d.snapshot(runtime, 43210);
    EXPECT_EQ(s.listen_port, 43210);
    ASSERT_EQ(s.peers.size(), 2u);
    EXPECT_EQ(s.peers[0].endpoint, E("[2001:db8::7]:4000"));
    EXPECT_EQ(s.peers[0].last_handshake_time_sec, 1700000000);
    EXPECT_EQ(s.peers[0].last_handshake_time_nsec, 5);
    EXPECT_EQ(s.peers[0].tx_bytes, 100u);
    EXPECT_EQ(s.peers[0].rx_bytes, 200u);
    EXPECT_EQ(strings(s.peers[0].allowed_ips), std::vector<std::string>{"10.0.0.0/8"});
    EXPECT_FALSE(s.peers[1].endpoint);
    EXPECT_EQ(s.peers[1].tx_bytes, 0u);
    // Without runtime facts: the configured endpoint and zeros.
    const uapi::DeviceStatus plain = d.snapshot();
    EXPECT_EQ(plain.listen_port, 0);
    EXPECT_EQ(plain.peers[0].endpoint, E("192.0.2.1:51820"));
    EXPECT_EQ(plain.peers[0].last_handshake_time_sec, 0);
    EXPECT_EQ(d.find_peer(peer_key(1))->endpoint, E("192.0.2.1:51820"))
        << "a snapshot never edits the model";
}

TEST_F(DeviceConfigTest, GetTextAfterWgSet) {
    DeviceConfig d;
    set(d, std::string("private_key=") + kAlicePrivate + "\nlisten_port=51820\n" + pk_line(1) +
               "persistent_keepalive_interval=25\nallowed_ip=10.0.0.0/24\nallowed_ip=fd00::/64\n");
    EXPECT_EQ(get_text(d), std::string("private_key=") + kAlicePrivate + "\nlisten_port=51820\n" +
                               pk_line(1) +
                               "protocol_version=1\n"
                               "last_handshake_time_sec=0\n"
                               "last_handshake_time_nsec=0\n"
                               "tx_bytes=0\n"
                               "rx_bytes=0\n"
                               "persistent_keepalive_interval=25\n"
                               "allowed_ip=10.0.0.0/24\n"
                               "allowed_ip=fd00::/64\n"
                               "errno=0\n\n");
}

// ---- From the configuration file ------------------------------------------------------------

Config sample_config() {
    Config c;
    c.interface.name = "wg-test";
    c.interface.private_key = hex_key(kAlicePrivate);
    c.interface.public_key = hex_key(kAlicePublic);
    c.interface.listen_port = 51999;
    PeerConfig& a = c.peers.emplace_back();
    a.public_key = peer_key(1);
    a.preshared_key = peer_key(9);
    a.endpoint = Endpoint{Endpoint::Kind::ipv4, "192.0.2.1", E("192.0.2.1:1").address, 51820};
    a.allowed_ips = {P("10.1.0.0/16"), P("fd01::/64")};
    a.persistent_keepalive = 25;
    PeerConfig& b = c.peers.emplace_back();
    b.public_key = peer_key(2);
    b.endpoint = Endpoint{Endpoint::Kind::hostname, "vpn.example.com", {}, 4500};
    b.allowed_ips = {P("10.2.0.0/16")};
    PeerConfig& e = c.peers.emplace_back();
    e.public_key = peer_key(3);
    e.endpoint = Endpoint{Endpoint::Kind::ipv6, "2001:db8::3", E("[2001:db8::3]:1").address, 7};
    return c;
}

TEST_F(DeviceConfigTest, FromConfig) {
    const DeviceConfig d = DeviceConfig::from_config(sample_config());
    EXPECT_TRUE(d.well_formed());
    EXPECT_EQ(d.interface().private_key, hex_key(kAlicePrivate));
    EXPECT_EQ(d.interface().public_key, hex_key(kAlicePublic));
    EXPECT_EQ(d.interface().listen_port, 51999);
    EXPECT_EQ(peer_order(d), (std::vector<Key>{peer_key(1), peer_key(2), peer_key(3)}));
    const DevicePeer* a = d.find_peer(peer_key(1));
    EXPECT_EQ(a->preshared_key, peer_key(9));
    EXPECT_EQ(a->endpoint, E("192.0.2.1:51820"));
    EXPECT_EQ(a->persistent_keepalive, 25);
    EXPECT_EQ(strings(d.allowed_ips_of(peer_key(1))),
              (std::vector<std::string>{"10.1.0.0/16", "fd01::/64"}));
    EXPECT_FALSE(d.find_peer(peer_key(2))->endpoint) << "a host name needs a resolver";
    EXPECT_FALSE(d.find_peer(peer_key(2))->preshared_key);
    EXPECT_EQ(d.find_peer(peer_key(3))->endpoint, E("[2001:db8::3]:7"));
}

TEST_F(DeviceConfigTest, FromConfigResolvesHostNames) {
    std::vector<std::string> asked;
    const EndpointResolver resolve = [&asked](const Endpoint& e) {
        asked.push_back(e.host);
        return std::optional<uapi::SocketEndpoint>(E("198.51.100.2:" + std::to_string(e.port)));
    };
    const DeviceConfig d = DeviceConfig::from_config(sample_config(), resolve);
    EXPECT_EQ(asked, std::vector<std::string>{"vpn.example.com"}) << "only host names are resolved";
    EXPECT_EQ(d.find_peer(peer_key(2))->endpoint, E("198.51.100.2:4500"));
}

TEST_F(DeviceConfigTest, FromConfigRefusesAnInvalidHandBuiltConfig) {
    Config c = sample_config();
    c.peers[0].allowed_ips[0].length = 99;
    EXPECT_THROW(DeviceConfig::from_config(c), std::invalid_argument);
}

TEST_F(DeviceConfigTest, ApplyConfigReloadsOnlyTheDifference) {
    DeviceConfig d = DeviceConfig::from_config(sample_config());
    const PeerId id1 = d.find_peer(peer_key(1))->id, id2 = d.find_peer(peer_key(2))->id,
                 id3 = d.find_peer(peer_key(3))->id;
    // wg(8) edits since start-up: a roamed endpoint, an extra peer.
    set(d, pk_line(2) + "endpoint=203.0.113.9:9\n" + pk_line(5));

    EXPECT_TRUE(d.apply_config(sample_config()).changes.removed.size() == 1)
        << "only the peer wg(8) added is not in the file";
    EXPECT_EQ(d.find_peer(peer_key(2))->endpoint, E("203.0.113.9:9"))
        << "no endpoint in the file: the current one stays";

    Config next = sample_config();
    next.peers[0].preshared_key.reset();       // peer 1: psk dropped
    next.peers[0].allowed_ips.pop_back();      //         and a prefix
    next.peers.erase(next.peers.begin() + 2);  // peer 3: gone
    PeerConfig& added = next.peers.emplace_back();
    added.public_key = peer_key(4);
    added.allowed_ips = {P("10.4.0.0/16")};
    const ApplyResult r = d.apply_config(next);
    ASSERT_EQ(r.error.code, 0);
    EXPECT_FALSE(r.changes.private_key);
    EXPECT_FALSE(r.changes.listen_port);
    EXPECT_EQ(r.changes.removed, (std::vector<PeerRef>{{peer_key(3), id3}}));
    EXPECT_EQ(keys_of(r.changes.added), std::vector<Key>{peer_key(4)});
    ASSERT_EQ(r.changes.updated.size(), 1u) << "peer 2 is untouched";
    EXPECT_EQ(r.changes.updated[0],
              (PeerUpdate{peer_key(1), id1, kPeerPresharedKey | kPeerAllowedIps}));
    EXPECT_EQ(d.find_peer(peer_key(1))->id, id1) << "sessions survive a reload";
    EXPECT_EQ(d.find_peer(peer_key(2))->id, id2);
    EXPECT_FALSE(d.find_peer(peer_key(1))->preshared_key);
    EXPECT_TRUE(d.well_formed());
    // Applying the same file again changes nothing at all.
    EXPECT_TRUE(d.apply_config(next).changes.empty());
}

TEST_F(DeviceConfigTest, SyncRequestIsWhatWgSyncconfWouldSend) {
    DeviceConfig d;
    set(d, pk_line(7));
    const SetRequest r = d.sync_request(sample_config());
    EXPECT_FALSE(r.interface.replace_peers) << "replace_peers would drop every session";
    ASSERT_EQ(r.peers.size(), 4u);
    EXPECT_EQ(r.peers[0].public_key, peer_key(7));
    EXPECT_TRUE(r.peers[0].remove);
    for (size_t i = 1; i < 4; ++i) {
        EXPECT_TRUE(r.peers[i].replace_allowed_ips);
        EXPECT_TRUE(r.peers[i].preshared_key.has_value()) << "zeros clear an old key";
        EXPECT_TRUE(r.peers[i].persistent_keepalive_interval.has_value());
    }
}

// ---- Differential test against a naive model ----------------------------------------------

// The semantics written the obvious way: vectors searched linearly.
struct RefPeer {
    Key key{};
    std::optional<Key> psk;
    std::optional<uapi::SocketEndpoint> endpoint;
    uint16_t keepalive = 0;
    std::vector<IpPrefix> ips;
};

struct RefDevice {
    std::optional<Key> private_key;
    Key public_key{};
    uint16_t port = 0;
    uint32_t fwmark = 0;
    std::vector<RefPeer> peers;

    void apply(const SetRequest& r) {
        if (r.interface.replace_peers) peers.clear();
        if (r.interface.private_key) {
            if (*r.interface.private_key == Key{}) {
                private_key.reset();
                public_key = Key{};
            } else {
                private_key = r.interface.private_key;
                public_key = crypto::public_key_of(*private_key);
                std::erase_if(peers, [&](const RefPeer& p) { return p.key == public_key; });
            }
        }
        if (r.interface.listen_port) port = *r.interface.listen_port;
        if (r.interface.fwmark) fwmark = *r.interface.fwmark;
        for (const PeerSet& s : r.peers) {
            if (private_key && s.public_key == public_key) continue;
            auto it = std::find_if(peers.begin(), peers.end(),
                                   [&](const RefPeer& p) { return p.key == s.public_key; });
            if (s.remove) {
                if (it != peers.end()) peers.erase(it);
                continue;
            }
            if (it == peers.end()) {
                if (s.update_only) continue;
                peers.push_back(RefPeer{s.public_key, {}, {}, 0, {}});
                it = peers.end() - 1;
            }
            if (s.preshared_key)
                it->psk = *s.preshared_key == Key{} ? std::nullopt : s.preshared_key;
            if (s.endpoint) it->endpoint = s.endpoint;
            if (s.persistent_keepalive_interval) it->keepalive = *s.persistent_keepalive_interval;
            if (s.replace_allowed_ips) it->ips.clear();
            for (const IpPrefix& raw : s.allowed_ips) {
                const IpPrefix m = raw.masked();
                for (RefPeer& p : peers) std::erase(p.ips, m);
                it->ips.push_back(m);
            }
        }
    }

    std::string get_text() const {
        uapi::DeviceStatus s;
        s.private_key = private_key;
        s.listen_port = port;
        s.fwmark = fwmark;
        for (const RefPeer& p : peers) {
            uapi::PeerStatus& st = s.peers.emplace_back();
            st.public_key = p.key;
            st.preshared_key = p.psk;
            st.endpoint = p.endpoint;
            st.persistent_keepalive_interval = p.keepalive;
            st.allowed_ips = p.ips;
        }
        return uapi::format_get(s);
    }
};

SetRequest random_request(std::mt19937_64& rng) {
    static const char* const kPrefixes[] = {"10.0.0.0/8",  "10.1.0.0/16",    "10.1.2.3/16",
                                            "10.1.2.0/24", "0.0.0.0/0",      "192.168.1.1/32",
                                            "fd00::/64",   "fd00::1/64",     "fd00::/8",
                                            "::/0",        "2001:db8::1/128"};
    auto chance = [&rng](unsigned percent) { return rng() % 100 < percent; };
    SetRequest r;
    if (chance(5)) r.interface.replace_peers = true;
    if (chance(10)) {
        // Alice's key (her public key is one of the peers below), zeros, or another.
        const unsigned pick = rng() % 3;
        r.interface.private_key = pick == 0   ? hex_key(kAlicePrivate)
                                  : pick == 1 ? Key{}
                                              : peer_key(42);
    }
    if (chance(10)) r.interface.listen_port = static_cast<uint16_t>(rng() % 3);
    if (chance(10)) r.interface.fwmark = static_cast<uint32_t>(rng() % 3);
    const int sections = static_cast<int>(rng() % 4);
    for (int i = 0; i < sections; ++i) {
        PeerSet& s = r.peers.emplace_back();
        const unsigned who = rng() % 6;
        s.public_key = who == 5 ? hex_key(kAlicePublic) : peer_key(static_cast<uint8_t>(who));
        s.remove = chance(10);
        s.update_only = chance(15);
        if (chance(20)) s.preshared_key = chance(50) ? Key{} : peer_key(99);
        if (chance(20)) s.endpoint = E(chance(50) ? "192.0.2.1:1" : "[2001:db8::9]:2");
        if (chance(20)) s.persistent_keepalive_interval = static_cast<uint16_t>(rng() % 3);
        s.replace_allowed_ips = chance(20);
        for (int n = static_cast<int>(rng() % 4); n > 0; --n)
            s.allowed_ips.push_back(P(kPrefixes[rng() % std::size(kPrefixes)]));
    }
    return r;
}

// The get text with each peer's prefixes sorted: what routing depends on.
std::string routing_view(const DeviceConfig& d) {
    uapi::DeviceStatus s = d.snapshot();
    for (uapi::PeerStatus& p : s.peers) std::sort(p.allowed_ips.begin(), p.allowed_ips.end());
    return uapi::format_get(s);
}

std::vector<PeerRef> refs_of(const DeviceConfig& d) {
    std::vector<PeerRef> out;
    for (const DevicePeer* p : d.peers()) out.push_back({p->public_key, p->id});
    return out;
}

// a minus b, keeping a's order.
std::vector<PeerRef> minus(const std::vector<PeerRef>& a, const std::vector<PeerRef>& b) {
    std::vector<PeerRef> out;
    for (const PeerRef& r : a)
        if (std::find(b.begin(), b.end(), r) == b.end()) out.push_back(r);
    return out;
}

TEST_F(DeviceConfigTest, MatchesANaiveModelOnRandomRequests) {
    std::mt19937_64 rng(20240611);
    for (int run = 0; run < 20; ++run) {
        DeviceConfig d;
        RefDevice ref;
        for (int step = 0; step < 150; ++step) {
            const SetRequest r = random_request(rng);
            const std::string before = routing_view(d);
            const std::vector<PeerRef> peers_before = refs_of(d);
            const ApplyResult result = d.apply(r);
            ASSERT_EQ(result.error.code, 0) << result.error.message;
            ref.apply(r);
            ASSERT_EQ(get_text(d), ref.get_text()) << "run " << run << " step " << step;
            ASSERT_TRUE(d.well_formed()) << "run " << run << " step " << step;

            // The report against the states themselves: removed and added are
            // exactly the ids that went and came; an empty report means
            // nothing routing depends on changed.
            const std::vector<PeerRef> peers_after = refs_of(d);
            EXPECT_EQ(result.changes.removed, minus(peers_before, peers_after));
            EXPECT_EQ(result.changes.added, minus(peers_after, peers_before));
            if (result.changes.empty()) {
                EXPECT_EQ(routing_view(d), before);
            }
            for (const PeerUpdate& u : result.changes.updated) {
                EXPECT_NE(u.fields, 0u);
                EXPECT_NE(std::find(peers_before.begin(), peers_before.end(),
                                    PeerRef{u.public_key, u.id}),
                          peers_before.end());
            }
        }
    }
}

}  // namespace
}  // namespace sluice
