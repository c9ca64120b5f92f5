// The L2 gateway's own frames (drivers/dpdk/l2_frames): ARP, neighbour
// discovery, IP headers and the TTL decrement, ICMP echo and ICMP errors.
// Frames are built here byte by byte and their checksums summed by a
// by-the-book RFC 1071 model, so the parsers are not checked against their
// own writers. Every parse runs on bytes that end at an unreadable page:
// reading one byte past `len` faults in every build, not only under ASan.
#include "drivers/dpdk/l2_frames.hpp"

#include <gtest/gtest.h>
#include <rte_ether.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

#include "tests/unit/guarded_bytes.hpp"
#include "tests/unit/ones_sum.hpp"

namespace sluice {
namespace {

using Bytes = std::vector<uint8_t>;
using l2::IcmpError;

// ---- Addresses -----------------------------------------------------------------

const rte_ether_addr kGatewayMac = {{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}};
const rte_ether_addr kHostMac = {{0x02, 0x00, 0x00, 0x00, 0x00, 0x02}};
const rte_ether_addr kZeroMac = {};
const rte_ether_addr kBroadcastMac = {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
const uint8_t kGatewayV4[4] = {192, 0, 2, 1};
const uint8_t kHostV4[4] = {192, 0, 2, 77};
const uint8_t kFarV4[4] = {198, 51, 100, 7};
const uint8_t kGatewayV6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
const uint8_t kHostV6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0x56};
const uint8_t kFarV6[16] = {0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7};
const uint8_t kUnspecifiedV6[16] = {};
const uint8_t kAllNodes[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
const rte_ether_addr kAllNodesMac = {{0x33, 0x33, 0, 0, 0, 1}};
// The solicited-node group of kHostV6 and its MAC.
const uint8_t kHostSolicitedNode[16] = {0xff, 0x02, 0, 0, 0, 0, 0,    0,
                                        0,    0,    0, 1, 0xff, 0x12, 0x34, 0x56};
const rte_ether_addr kHostSolicitedNodeMac = {{0x33, 0x33, 0xff, 0x12, 0x34, 0x56}};

// ---- Bytes by hand ---------------------------------------------------------------

constexpr size_t kIp = 14;

using testing::get16;
using testing::ones_sum;
uint16_t get16(const Bytes& b, size_t at) {
    return get16(b.data() + at);
}
uint32_t get32(const Bytes& b, size_t at) {
    return uint32_t{get16(b, at)} << 16 | get16(b, at + 2);
}
void put16(Bytes& b, size_t at, uint16_t v) {
    b[at] = static_cast<uint8_t>(v >> 8);
    b[at + 1] = static_cast<uint8_t>(v);
}
void append(Bytes& b, const uint8_t* p, size_t n) {
    b.insert(b.end(), p, p + n);
}
void append16(Bytes& b, uint16_t v) {
    b.push_back(static_cast<uint8_t>(v >> 8));
    b.push_back(static_cast<uint8_t>(v));
}
bool same(const uint8_t* a, const uint8_t* b, size_t n) {
    return std::memcmp(a, b, n) == 0;
}
bool same_mac(const uint8_t* a, const rte_ether_addr& m) {
    return same(a, m.addr_bytes, 6);
}
bool same_mac(const rte_ether_addr& a, const rte_ether_addr& m) {
    return same(a.addr_bytes, m.addr_bytes, 6);
}

// The ICMPv6 sum: the pseudo-header (RFC 8200 §8.1) of the IPv6 header at
// ip6, then the message. 0xFFFF when the checksum in it is right.
uint16_t icmp6_sum(const uint8_t* ip6, const uint8_t* msg, size_t n) {
    Bytes b;
    append(b, ip6 + 8, 32);
    append16(b, static_cast<uint16_t>(n >> 16));
    append16(b, static_cast<uint16_t>(n));
    append16(b, 0);
    append16(b, 58);
    append(b, msg, n);
    return ones_sum(b.data(), b.size());
}

// The checksum a full recomputation gives for the IPv4 header at `ip`.
uint16_t ipv4_header_checksum(const uint8_t* ip) {
    const size_t ihl = (ip[0] & 0x0Fu) * 4u;
    Bytes h(ip, ip + ihl);
    h[10] = 0;
    h[11] = 0;
    return static_cast<uint16_t>(~ones_sum(h.data(), h.size()));
}

void fix_ipv4_checksum(Bytes& f, size_t ip = kIp) {
    put16(f, ip + 10, 0);
    put16(f, ip + 10, static_cast<uint16_t>(~ones_sum(f.data() + ip, (f[ip] & 0x0Fu) * 4u)));
}
// The ICMP checksum of an IPv4 packet at `ip` with a 20-byte header.
void fix_icmp4_checksum(Bytes& f, size_t ip = kIp) {
    const size_t icmp = ip + (f[ip] & 0x0Fu) * 4u;
    const size_t n = ip + get16(f, ip + 2) - icmp;
    put16(f, icmp + 2, 0);
    put16(f, icmp + 2, static_cast<uint16_t>(~ones_sum(f.data() + icmp, n)));
}
// The ICMPv6 checksum of an IPv6 packet at `ip` (ICMPv6 right after it).
void fix_icmp6_checksum(Bytes& f, size_t ip = kIp) {
    const size_t n = get16(f, ip + 4);
    put16(f, ip + 40 + 2, 0);
    put16(f, ip + 40 + 2, static_cast<uint16_t>(~icmp6_sum(f.data() + ip, f.data() + ip + 40, n)));
}

Bytes payload(size_t n, uint8_t seed = 0) {
    Bytes b(n);
    for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(seed + i * 7 + 1);
    return b;
}

Bytes ethernet(const rte_ether_addr& dst, const rte_ether_addr& src, uint16_t type) {
    Bytes b;
    append(b, dst.addr_bytes, 6);
    append(b, src.addr_bytes, 6);
    append16(b, type);
    return b;
}

// An IPv4 packet (no Ethernet header): 20-byte header, valid checksum.
Bytes ipv4(uint8_t proto, const uint8_t src[4], const uint8_t dst[4], const Bytes& body,
           uint8_t ttl = 64, uint16_t flags = 0x4000) {
    Bytes p;
    p.push_back(0x45);
    p.push_back(0);
    append16(p, static_cast<uint16_t>(20 + body.size()));
    append16(p, 0xbeef);
    append16(p, flags);
    p.push_back(ttl);
    p.push_back(proto);
    append16(p, 0);
    append(p, src, 4);
    append(p, dst, 4);
    append(p, body.data(), body.size());
    fix_ipv4_checksum(p, 0);
    return p;
}

// An IPv6 packet (no Ethernet header).
Bytes ipv6(uint8_t next, const uint8_t src[16], const uint8_t dst[16], const Bytes& body,
           uint8_t hop_limit = 64) {
    Bytes p;
    append16(p, 0x6000);
    append16(p, 0);
    append16(p, static_cast<uint16_t>(body.size()));
    p.push_back(next);
    p.push_back(hop_limit);
    append(p, src, 16);
    append(p, dst, 16);
    append(p, body.data(), body.size());
    return p;
}

Bytes udp(size_t data_len) {
    Bytes u;
    append16(u, 40000);
    append16(u, 53);
    append16(u, static_cast<uint16_t>(8 + data_len));
    append16(u, 0);
    const Bytes d = payload(data_len, 3);
    append(u, d.data(), d.size());
    return u;
}

// An ICMP / ICMPv6 message without its checksum: type, code, the 2nd word, data.
Bytes icmp(uint8_t type, uint8_t code, uint32_t word, const Bytes& data) {
    Bytes m = {type, code, 0, 0};
    append16(m, static_cast<uint16_t>(word >> 16));
    append16(m, static_cast<uint16_t>(word));
    append(m, data.data(), data.size());
    return m;
}

Bytes with_ethernet(const Bytes& ip, uint16_t type, const rte_ether_addr& dst = kGatewayMac,
                    const rte_ether_addr& src = kHostMac) {
    Bytes f = ethernet(dst, src, type);
    append(f, ip.data(), ip.size());
    return f;
}

// A ping from kFarV4 to the gateway (id 0x1234, sequence 7), as a frame.
Bytes echo4_frame(size_t data_len, uint8_t type = 8) {
    Bytes f = with_ethernet(ipv4(1, kFarV4, kGatewayV4, icmp(type, 0, 0x12340007, payload(data_len)),
                                 57, 0),
                            0x0800);
    fix_icmp4_checksum(f);
    return f;
}
Bytes echo6_frame(size_t data_len, uint8_t type = 128) {
    Bytes f = with_ethernet(ipv6(58, kFarV6, kGatewayV6, icmp(type, 0, 0x12340007, payload(data_len)),
                                 57),
                            0x86DD);
    fix_icmp6_checksum(f);
    return f;
}

// A who-has from the host for the gateway's address, padded.
Bytes arp_frame(uint16_t op = 1, size_t pad_to = 60) {
    Bytes f = ethernet(kBroadcastMac, kHostMac, 0x0806);
    append16(f, 1);
    append16(f, 0x0800);
    f.push_back(6);
    f.push_back(4);
    append16(f, op);
    append(f, kHostMac.addr_bytes, 6);
    append(f, kHostV4, 4);
    append(f, op == 1 ? kZeroMac.addr_bytes : kGatewayMac.addr_bytes, 6);
    append(f, kGatewayV4, 4);
    if (f.size() < pad_to) f.resize(pad_to, 0);
    return f;
}

// Offsets into an ND frame.
constexpr size_t kNdIcmp = kIp + 40;
constexpr size_t kNdTarget = kNdIcmp + 8;
constexpr size_t kNdOptions = kNdIcmp + 24;

// An NS or NA with the given options (raw bytes), checksum right.
Bytes nd_frame(uint8_t type, const uint8_t src[16], const uint8_t dst[16], const uint8_t target[16],
               uint8_t flags, const Bytes& options, const rte_ether_addr& dst_mac = kGatewayMac) {
    Bytes body = {type, 0, 0, 0, flags, 0, 0, 0};
    append(body, target, 16);
    append(body, options.data(), options.size());
    Bytes f = with_ethernet(ipv6(58, src, dst, body, 255), 0x86DD, dst_mac);
    fix_icmp6_checksum(f);
    return f;
}
Bytes lladdr_option(uint8_t type, const rte_ether_addr& mac) {
    Bytes o = {type, 1};
    append(o, mac.addr_bytes, 6);
    return o;
}
Bytes cat_options(const Bytes& a, const Bytes& b) {
    Bytes r = a;
    append(r, b.data(), b.size());
    return r;
}
// The host asks who has the gateway's address.
Bytes ns_frame() {
    return nd_frame(135, kHostV6, kHostSolicitedNode, kGatewayV6, 0, lladdr_option(1, kHostMac));
}
// The host answers the gateway's solicitation: solicited, override.
Bytes na_frame() {
    return nd_frame(136, kHostV6, kGatewayV6, kHostV6, 0x60, lladdr_option(2, kHostMac));
}

using sluice::testing::GuardedBytes;

bool parse_arp(const Bytes& f, size_t len, l2::ArpInfo* out) {
    const GuardedBytes g(f.data(), len);
    return l2::parse_arp(g.data(), static_cast<uint32_t>(len), out);
}
bool parse_arp(const Bytes& f, l2::ArpInfo* out) {
    return parse_arp(f, f.size(), out);
}
bool parse_nd(const Bytes& f, size_t len, l2::NdInfo* out) {
    const GuardedBytes g(f.data(), len);
    return l2::parse_nd(g.data(), static_cast<uint32_t>(len), out);
}
bool parse_nd(const Bytes& f, l2::NdInfo* out) {
    return parse_nd(f, f.size(), out);
}
bool nd_ok(const Bytes& f) {
    l2::NdInfo info;
    return parse_nd(f, &info);
}
// IP-level functions on a packet p[0, len), in guarded memory. The view's
// addresses come back pointing into p, the guarded copy being gone.
bool parse_ip(const Bytes& p, size_t len, l2::IpView* out) {
    const GuardedBytes g(p.data(), len);
    if (!l2::parse_ip_header(g.data(), static_cast<uint32_t>(len), out)) return false;
    out->src = p.data() + (out->src - g.data());
    out->dst = p.data() + (out->dst - g.data());
    return true;
}
bool parse_ip(const Bytes& p, l2::IpView* out) {
    return parse_ip(p, p.size(), out);
}
bool ip_ok(const Bytes& p) {
    l2::IpView v;
    return parse_ip(p, &v);
}
bool is_echo(const Bytes& p, size_t len) {
    const GuardedBytes g(p.data(), len);
    return l2::is_echo_request(g.data(), static_cast<uint32_t>(len));
}
bool is_echo(const Bytes& p) {
    return is_echo(p, p.size());
}
bool should_error(const Bytes& p, size_t len) {
    const GuardedBytes g(p.data(), len);
    return l2::should_send_icmp_error(g.data(), static_cast<uint32_t>(len));
}
bool should_error(const Bytes& p) {
    return should_error(p, p.size());
}
// decrement_ttl on a copy; the copy comes back in *after.
bool decrement(const Bytes& p, size_t len, Bytes* after) {
    const GuardedBytes g(p.data(), len);
    const bool ok = l2::decrement_ttl(g.data(), static_cast<uint32_t>(len));
    after->assign(g.data(), g.data() + len);
    return ok;
}
Bytes ip_of(const Bytes& frame) {
    return Bytes(frame.begin() + kIp, frame.end());
}

// ---- ARP -------------------------------------------------------------------------

TEST(L2Arp, ParsesARequestPaddedOrNot) {
    for (const size_t pad_to : {42, 60}) {
        SCOPED_TRACE(pad_to);
        const Bytes f = arp_frame(1, pad_to);
        ASSERT_EQ(f.size(), pad_to);
        l2::ArpInfo a;
        ASSERT_TRUE(parse_arp(f, &a));
        EXPECT_EQ(a.op, l2::kArpRequest);
        EXPECT_TRUE(same_mac(a.sender_mac, kHostMac));
        EXPECT_TRUE(same(a.sender_ip, kHostV4, 4));
        EXPECT_TRUE(same_mac(a.target_mac, kZeroMac));
        EXPECT_TRUE(same(a.target_ip, kGatewayV4, 4));
    }
}

TEST(L2Arp, ParsesAReply) {
    l2::ArpInfo a;
    ASSERT_TRUE(parse_arp(arp_frame(2), &a));
    EXPECT_EQ(a.op, l2::kArpReply);
    EXPECT_TRUE(same_mac(a.target_mac, kGatewayMac));
}

TEST(L2Arp, RejectsEveryWrongField) {
    struct Case {
        const char* what;
        size_t at;
        uint8_t value;
    };
    for (const Case c : {Case{"ethertype 0x8606", 12, 0x86}, Case{"ethertype IPv4", 13, 0x00},
                         Case{"hardware type", 15, 6}, Case{"protocol type", 16, 0x86},
                         Case{"hardware length", 18, 8}, Case{"protocol length", 19, 16},
                         Case{"op 3", 21, 3}, Case{"op 0", 21, 0}, Case{"op high byte", 20, 1}}) {
        SCOPED_TRACE(c.what);
        Bytes f = arp_frame();
        f[c.at] = c.value;
        l2::ArpInfo a;
        EXPECT_FALSE(parse_arp(f, &a));
    }
}

TEST(L2Arp, RejectsEveryTruncation) {
    const Bytes f = arp_frame(1, 42);
    for (size_t n = 0; n < f.size(); ++n) {
        l2::ArpInfo a;
        EXPECT_FALSE(parse_arp(f, n, &a)) << n;
    }
}

TEST(L2Arp, WritesARequestToBroadcastWithAZeroTarget) {
    Bytes f(l2::kMinFrameLen, 0xAA);
    const uint32_t n = l2::write_arp(f.data(), l2::kArpRequest, kGatewayMac, kGatewayV4, kHostMac,
                                     kHostV4);
    ASSERT_EQ(n, l2::kMinFrameLen);
    EXPECT_TRUE(same_mac(f.data(), kBroadcastMac));
    EXPECT_TRUE(same_mac(f.data() + 6, kGatewayMac));
    EXPECT_EQ(get16(f, 12), 0x0806);
    const uint8_t fixed[8] = {0, 1, 8, 0, 6, 4, 0, 1};
    EXPECT_TRUE(same(f.data() + 14, fixed, 8));
    EXPECT_TRUE(same_mac(f.data() + 22, kGatewayMac));
    EXPECT_TRUE(same(f.data() + 28, kGatewayV4, 4));
    EXPECT_TRUE(same_mac(f.data() + 32, kZeroMac));
    EXPECT_TRUE(same(f.data() + 38, kHostV4, 4));
    for (size_t i = l2::kArpFrameLen; i < f.size(); ++i) EXPECT_EQ(f[i], 0) << "padding " << i;

    l2::ArpInfo a;
    ASSERT_TRUE(parse_arp(f, &a));
    EXPECT_EQ(a.op, l2::kArpRequest);
    EXPECT_TRUE(same_mac(a.sender_mac, kGatewayMac));
    EXPECT_TRUE(same(a.sender_ip, kGatewayV4, 4));
    EXPECT_TRUE(same_mac(a.target_mac, kZeroMac));
    EXPECT_TRUE(same(a.target_ip, kHostV4, 4));
}

TEST(L2Arp, WritesAReplyToTheTarget) {
    Bytes f(l2::kMinFrameLen, 0xAA);
    ASSERT_EQ(l2::write_arp(f.data(), l2::kArpReply, kGatewayMac, kGatewayV4, kHostMac, kHostV4),
              l2::kMinFrameLen);
    EXPECT_TRUE(same_mac(f.data(), kHostMac));
    EXPECT_TRUE(same_mac(f.data() + 6, kGatewayMac));
    EXPECT_EQ(get16(f, 20), 2);
    l2::ArpInfo a;
    ASSERT_TRUE(parse_arp(f, &a));
    EXPECT_EQ(a.op, l2::kArpReply);
    EXPECT_TRUE(same_mac(a.sender_mac, kGatewayMac));
    EXPECT_TRUE(same(a.sender_ip, kGatewayV4, 4));
    EXPECT_TRUE(same_mac(a.target_mac, kHostMac));
    EXPECT_TRUE(same(a.target_ip, kHostV4, 4));
}

// ---- Neighbour discovery ------------------------------------------------------------

TEST(L2Nd, ParsesASolicitation) {
    const Bytes f = ns_frame();
    ASSERT_EQ(icmp6_sum(f.data() + kIp, f.data() + kNdIcmp, 32), 0xFFFF) << "the test's own frame";
    l2::NdInfo nd;
    ASSERT_TRUE(parse_nd(f, &nd));
    EXPECT_EQ(nd.type, l2::kNdSolicit);
    EXPECT_TRUE(same_mac(nd.eth_src, kHostMac));
    EXPECT_TRUE(same(nd.ip_src, kHostV6, 16));
    EXPECT_TRUE(same(nd.ip_dst, kHostSolicitedNode, 16));
    EXPECT_TRUE(same(nd.target, kGatewayV6, 16));
    EXPECT_TRUE(nd.has_lladdr);
    EXPECT_TRUE(same_mac(nd.lladdr, kHostMac));
    EXPECT_FALSE(nd.solicited);
    EXPECT_FALSE(nd.override_flag);
}

TEST(L2Nd, ParsesAnAdvertisementAndItsFlags) {
    l2::NdInfo nd;
    ASSERT_TRUE(parse_nd(na_frame(), &nd));
    EXPECT_EQ(nd.type, l2::kNdAdvert);
    EXPECT_TRUE(same(nd.target, kHostV6, 16));
    EXPECT_TRUE(nd.has_lladdr);
    EXPECT_TRUE(same_mac(nd.lladdr, kHostMac));
    EXPECT_TRUE(nd.solicited);
    EXPECT_TRUE(nd.override_flag);

    for (const uint8_t flags : {0x00, 0x80, 0x20, 0x40, 0xE0}) {
        SCOPED_TRACE(static_cast<int>(flags));
        ASSERT_TRUE(parse_nd(nd_frame(136, kHostV6, kGatewayV6, kHostV6, flags, {}), &nd));
        EXPECT_EQ(nd.solicited, (flags & 0x40) != 0);
        EXPECT_EQ(nd.override_flag, (flags & 0x20) != 0);
        EXPECT_FALSE(nd.has_lladdr);
    }
}

TEST(L2Nd, AcceptsADuplicateAddressDetectionSolicitation) {
    l2::NdInfo nd;
    ASSERT_TRUE(parse_nd(nd_frame(135, kUnspecifiedV6, kHostSolicitedNode, kHostV6, 0, {}), &nd));
    EXPECT_TRUE(same(nd.ip_src, kUnspecifiedV6, 16));
    EXPECT_FALSE(nd.has_lladdr);
}

TEST(L2Nd, TakesTheRightOptionAndSkipsOthers) {
    // NS: a target link-layer address option (type 2) is not the sender's;
    // an unknown 16-byte option is skipped; the source one after it is taken.
    Bytes opts;
    const Bytes unknown = {99, 2, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14};
    append(opts, unknown.data(), unknown.size());
    const Bytes wrong = lladdr_option(2, kBroadcastMac);
    append(opts, wrong.data(), wrong.size());
    const Bytes right = lladdr_option(1, kHostMac);
    append(opts, right.data(), right.size());
    l2::NdInfo nd;
    ASSERT_TRUE(parse_nd(nd_frame(135, kHostV6, kGatewayV6, kGatewayV6, 0, opts), &nd));
    EXPECT_TRUE(nd.has_lladdr);
    EXPECT_TRUE(same_mac(nd.lladdr, kHostMac));

    // Two of them: the first counts.
    opts = cat_options(lladdr_option(1, kHostMac), lladdr_option(1, kBroadcastMac));
    ASSERT_TRUE(parse_nd(nd_frame(135, kHostV6, kGatewayV6, kGatewayV6, 0, opts), &nd));
    EXPECT_TRUE(same_mac(nd.lladdr, kHostMac));

    // NA: only a target link-layer address counts.
    ASSERT_TRUE(parse_nd(nd_frame(136, kHostV6, kGatewayV6, kHostV6, 0, lladdr_option(1, kHostMac)),
                         &nd));
    EXPECT_FALSE(nd.has_lladdr);
}

TEST(L2Nd, IgnoresEthernetPaddingAfterThePacket) {
    Bytes f = ns_frame();
    f.resize(f.size() + 10, 0x55);
    EXPECT_TRUE(nd_ok(f));
}

TEST(L2Nd, RejectsEveryInvalidField) {
    struct Case {
        const char* what;
        size_t at;
        uint8_t value;
        bool fix_checksum;  // so only the field makes it invalid
    };
    for (const Case c : {
             Case{"ethertype", 13, 0x00, false},
             Case{"IP version 4", kIp, 0x40, false},
             Case{"next header hop-by-hop", kIp + 6, 0, false},
             Case{"next header UDP", kIp + 6, 17, false},
             Case{"hop limit 254", kIp + 7, 254, false},
             Case{"hop limit 64", kIp + 7, 64, false},
             Case{"code 1", kNdIcmp + 1, 1, true},
             Case{"type echo request", kNdIcmp, 128, true},
             Case{"type redirect", kNdIcmp, 137, true},
             Case{"checksum", kNdIcmp + 2, 0x00, false},
             Case{"a data byte under the checksum", kNdTarget + 15, 0x99, false},
             Case{"an address under the checksum", kIp + 8 + 15, 0x99, false},
             Case{"multicast target", kNdTarget, 0xff, true},
             Case{"option length 0", kNdOptions + 1, 0, true},
             Case{"option longer than the packet", kNdOptions + 1, 2, true},
         }) {
        SCOPED_TRACE(c.what);
        Bytes f = ns_frame();
        ASSERT_NE(f[c.at], c.value);
        f[c.at] = c.value;
        if (c.fix_checksum) fix_icmp6_checksum(f);
        EXPECT_FALSE(nd_ok(f));
    }
}

TEST(L2Nd, RejectsLengthsThatDoNotAddUp) {
    {
        SCOPED_TRACE("payload length past the frame");
        Bytes f = ns_frame();
        put16(f, kIp + 4, 33);
        EXPECT_FALSE(nd_ok(f));
    }
    {
        SCOPED_TRACE("an ICMPv6 message shorter than 24 bytes");
        Bytes f = nd_frame(135, kHostV6, kGatewayV6, kGatewayV6, 0, {});
        f.erase(f.end() - 8, f.end());
        put16(f, kIp + 4, 16);
        fix_icmp6_checksum(f);
        EXPECT_FALSE(nd_ok(f));
    }
    for (const size_t tail : {1, 2, 7}) {
        SCOPED_TRACE("a partial option of " + std::to_string(tail) + " bytes");
        Bytes f = ns_frame();
        f.resize(f.size() + tail, 1);
        put16(f, kIp + 4, static_cast<uint16_t>(32 + tail));
        fix_icmp6_checksum(f);
        EXPECT_FALSE(nd_ok(f));
    }
}

TEST(L2Nd, RejectsWhatRfc4861SectionSevenForbids) {
    // A duplicate-address-detection solicitation with a link-layer address.
    EXPECT_FALSE(nd_ok(nd_frame(135, kUnspecifiedV6, kHostSolicitedNode, kHostV6, 0,
                                lladdr_option(1, kHostMac))));
    // A solicited advertisement to all nodes; unsolicited it is fine.
    EXPECT_FALSE(nd_ok(nd_frame(136, kHostV6, kAllNodes, kHostV6, 0x60, lladdr_option(2, kHostMac))));
    EXPECT_TRUE(nd_ok(nd_frame(136, kHostV6, kAllNodes, kHostV6, 0x20, lladdr_option(2, kHostMac))));
}

TEST(L2Nd, RejectsEveryTruncation) {
    for (const Bytes& f : {ns_frame(), na_frame()}) {
        for (size_t n = 0; n < f.size(); ++n) {
            l2::NdInfo nd;
            EXPECT_FALSE(parse_nd(f, n, &nd)) << n;
        }
    }
}

TEST(L2Nd, WritesASolicitationToTheSolicitedNodeGroup) {
    Bytes f(l2::kNdFrameLen, 0xAA);
    ASSERT_EQ(l2::write_nd_solicit(f.data(), kGatewayMac, kGatewayV6, kHostV6), l2::kNdFrameLen);
    EXPECT_TRUE(same_mac(f.data(), kHostSolicitedNodeMac));
    EXPECT_TRUE(same_mac(f.data() + 6, kGatewayMac));
    EXPECT_EQ(get16(f, 12), 0x86DD);
    EXPECT_EQ(get32(f, kIp), 0x60000000u);
    EXPECT_EQ(get16(f, kIp + 4), 32);
    EXPECT_EQ(f[kIp + 6], 58);
    EXPECT_EQ(f[kIp + 7], 255);
    EXPECT_TRUE(same(f.data() + kIp + 8, kGatewayV6, 16));
    EXPECT_TRUE(same(f.data() + kIp + 24, kHostSolicitedNode, 16));
    EXPECT_EQ(f[kNdIcmp], 135);
    EXPECT_EQ(f[kNdIcmp + 1], 0);
    EXPECT_EQ(get32(f, kNdIcmp + 4), 0u);
    EXPECT_TRUE(same(f.data() + kNdTarget, kHostV6, 16));
    const Bytes option = lladdr_option(1, kGatewayMac);
    EXPECT_TRUE(same(f.data() + kNdOptions, option.data(), 8));
    EXPECT_EQ(icmp6_sum(f.data() + kIp, f.data() + kNdIcmp, 32), 0xFFFF);

    l2::NdInfo nd;
    ASSERT_TRUE(parse_nd(f, &nd));
    EXPECT_EQ(nd.type, l2::kNdSolicit);
    EXPECT_TRUE(same(nd.target, kHostV6, 16));
    EXPECT_TRUE(same(nd.ip_src, kGatewayV6, 16));
    EXPECT_TRUE(nd.has_lladdr);
    EXPECT_TRUE(same_mac(nd.lladdr, kGatewayMac));
}

TEST(L2Nd, WritesAnAdvertisementSolicitedOrNot) {
    for (const bool solicited : {true, false}) {
        SCOPED_TRACE(solicited);
        const rte_ether_addr& dst_mac = solicited ? kHostMac : kAllNodesMac;
        const uint8_t* dst_ip = solicited ? kHostV6 : kAllNodes;
        Bytes f(l2::kNdFrameLen, 0xAA);
        ASSERT_EQ(l2::write_nd_advert(f.data(), kGatewayMac, kGatewayV6, dst_mac, dst_ip, solicited),
                  l2::kNdFrameLen);
        EXPECT_TRUE(same_mac(f.data(), dst_mac));
        EXPECT_TRUE(same_mac(f.data() + 6, kGatewayMac));
        EXPECT_EQ(get16(f, 12), 0x86DD);
        EXPECT_EQ(get16(f, kIp + 4), 32);
        EXPECT_EQ(f[kIp + 6], 58);
        EXPECT_EQ(f[kIp + 7], 255);
        EXPECT_TRUE(same(f.data() + kIp + 8, kGatewayV6, 16));
        EXPECT_TRUE(same(f.data() + kIp + 24, dst_ip, 16));
        EXPECT_EQ(f[kNdIcmp], 136);
        EXPECT_EQ(get32(f, kNdIcmp + 4), solicited ? 0xE0000000u : 0xA0000000u) << "R, S, O";
        EXPECT_TRUE(same(f.data() + kNdTarget, kGatewayV6, 16));
        const Bytes option = lladdr_option(2, kGatewayMac);
        EXPECT_TRUE(same(f.data() + kNdOptions, option.data(), 8));
        EXPECT_EQ(icmp6_sum(f.data() + kIp, f.data() + kNdIcmp, 32), 0xFFFF);

        l2::NdInfo nd;
        ASSERT_TRUE(parse_nd(f, &nd));
        EXPECT_EQ(nd.type, l2::kNdAdvert);
        EXPECT_EQ(nd.solicited, solicited);
        EXPECT_TRUE(nd.override_flag);
        EXPECT_TRUE(same(nd.target, kGatewayV6, 16));
        EXPECT_TRUE(nd.has_lladdr);
        EXPECT_TRUE(same_mac(nd.lladdr, kGatewayMac));
    }
}

// ---- IP headers -----------------------------------------------------------------------

TEST(L2Ip, ParsesAnIpv4Header) {
    Bytes p = ipv4(17, kHostV4, kFarV4, udp(10), 33, 0x4000);
    p.resize(p.size() + 6, 0);  // Ethernet padding
    l2::IpView v;
    ASSERT_TRUE(parse_ip(p, &v));
    EXPECT_EQ(v.family, 4);
    EXPECT_EQ(v.header_len, 20u);
    EXPECT_EQ(v.total_len, 38u);
    EXPECT_EQ(v.protocol, 17);
    EXPECT_EQ(v.ttl, 33);
    EXPECT_TRUE(v.dont_fragment);
    EXPECT_FALSE(v.fragment);
    EXPECT_EQ(v.src, p.data() + 12);
    EXPECT_EQ(v.dst, p.data() + 16);
    EXPECT_TRUE(same(v.src, kHostV4, 4));
    EXPECT_TRUE(same(v.dst, kFarV4, 4));
}

TEST(L2Ip, ReadsTheFragmentBits) {
    struct Case {
        uint16_t flags;
        bool df;
        bool fragment;
    };
    for (const Case c : {Case{0x0000, false, false}, Case{0x4000, true, false},
                         Case{0x2000, false, true}, Case{0x0001, false, true},
                         Case{0x1FFF, false, true}, Case{0x6010, true, true}}) {
        SCOPED_TRACE(c.flags);
        l2::IpView v;
        ASSERT_TRUE(parse_ip(ipv4(17, kHostV4, kFarV4, udp(0), 64, c.flags), &v));
        EXPECT_EQ(v.dont_fragment, c.df);
        EXPECT_EQ(v.fragment, c.fragment);
    }
}

TEST(L2Ip, ParsesIpv4Options) {
    Bytes p = ipv4(17, kHostV4, kFarV4, udp(0));
    const uint8_t nops[4] = {1, 1, 1, 0};
    p.insert(p.begin() + 20, nops, nops + 4);
    p[0] = 0x46;
    put16(p, 2, static_cast<uint16_t>(p.size()));
    fix_ipv4_checksum(p, 0);
    l2::IpView v;
    ASSERT_TRUE(parse_ip(p, &v));
    EXPECT_EQ(v.header_len, 24u);
    EXPECT_EQ(v.total_len, p.size());
}

TEST(L2Ip, RejectsBrokenIpv4Headers) {
    const Bytes good = ipv4(17, kHostV4, kFarV4, udp(4));
    ASSERT_TRUE(ip_ok(good));
    struct Case {
        const char* what;
        size_t at;
        uint16_t value;  // a 16-bit field
        bool fix_checksum;
    };
    for (const Case c : {Case{"IHL 4", 0, 0x4400, false}, Case{"IHL 0", 0, 0x4000, false},
                         Case{"IHL past the total length", 0, 0x4F00, false},
                         Case{"version 5", 0, 0x5500, true}, Case{"version 0", 0, 0x0500, true},
                         Case{"total length past the bytes", 2, 33, true},
                         Case{"total length below the header", 2, 19, true},
                         Case{"checksum", 10, 0x0000, false}, Case{"ttl", 8, 0x4111, false}}) {
        SCOPED_TRACE(c.what);
        Bytes p = good;
        put16(p, c.at, c.value);
        if (c.fix_checksum) fix_ipv4_checksum(p, 0);
        EXPECT_FALSE(ip_ok(p));
    }
}

TEST(L2Ip, ParsesAnIpv6Header) {
    Bytes p = ipv6(17, kHostV6, kFarV6, udp(12), 9);
    p.resize(p.size() + 3, 0);
    l2::IpView v;
    ASSERT_TRUE(parse_ip(p, &v));
    EXPECT_EQ(v.family, 6);
    EXPECT_EQ(v.header_len, 40u);
    EXPECT_EQ(v.total_len, 60u);
    EXPECT_EQ(v.protocol, 17);
    EXPECT_EQ(v.ttl, 9);
    EXPECT_TRUE(v.dont_fragment);
    EXPECT_FALSE(v.fragment);
    EXPECT_EQ(v.src, p.data() + 8);
    EXPECT_EQ(v.dst, p.data() + 24);
    EXPECT_TRUE(same(v.src, kHostV6, 16));
    EXPECT_TRUE(same(v.dst, kFarV6, 16));

    // No payload at all is a packet too.
    ASSERT_TRUE(parse_ip(ipv6(59, kHostV6, kFarV6, {}), &v));
    EXPECT_EQ(v.total_len, 40u);
}

TEST(L2Ip, RejectsBrokenIpv6Headers) {
    Bytes p = ipv6(17, kHostV6, kFarV6, udp(12));
    put16(p, 4, 21);
    EXPECT_FALSE(ip_ok(p)) << "payload length past the bytes";
    p = ipv6(17, kHostV6, kFarV6, udp(12));
    p[0] = 0x70;
    EXPECT_FALSE(ip_ok(p)) << "version 7";
}

TEST(L2Ip, RejectsEveryTruncation) {
    for (const Bytes& p : {ipv4(17, kHostV4, kFarV4, udp(5)), ipv6(17, kHostV6, kFarV6, udp(5))}) {
        for (size_t n = 0; n < p.size(); ++n) {
            l2::IpView v;
            EXPECT_FALSE(parse_ip(p, n, &v)) << n;
        }
    }
}

// ---- TTL decrement ----------------------------------------------------------------------

TEST(L2Ttl, Ipv4DecrementKeepsTheHeaderChecksumRight) {
    // Every TTL, with headers whose checksums land on many values (0x0000
    // and 0xFFFF sums included: the identification sweeps them).
    for (unsigned ttl = 2; ttl <= 255; ++ttl) {
        for (const uint16_t id : std::initializer_list<uint16_t>{
                 0x0000, 0x1234, 0xFFFF, 0x8000, static_cast<uint16_t>(ttl * 257)}) {
            Bytes p = ipv4(static_cast<uint8_t>(ttl % 3 == 0 ? 6 : 17), kHostV4, kFarV4, udp(3),
                           static_cast<uint8_t>(ttl));
            put16(p, 4, id);
            fix_ipv4_checksum(p, 0);
            Bytes after;
            ASSERT_TRUE(decrement(p, p.size(), &after)) << ttl;
            EXPECT_EQ(after[8], ttl - 1);
            EXPECT_EQ(get16(after, 10), ipv4_header_checksum(after.data())) << ttl << " " << id;
            EXPECT_EQ(ones_sum(after.data(), 20), 0xFFFF);
            after[8] = p[8];
            after[10] = p[10];
            after[11] = p[11];
            EXPECT_EQ(after, p) << "only TTL and checksum change";
        }
    }
}

TEST(L2Ttl, Ipv4ChecksumOfZeroAndItsNeighbours) {
    // Search headers whose checksum after the decrement is 0x0000 (a full
    // recomputation never gives 0xFFFF): the incremental update must agree.
    int zero_seen = 0;
    for (uint32_t id = 0; id <= 0xFFFF; ++id) {
        Bytes p = ipv4(17, kHostV4, kFarV4, {}, 65);
        put16(p, 4, static_cast<uint16_t>(id));
        fix_ipv4_checksum(p, 0);
        Bytes after;
        ASSERT_TRUE(decrement(p, p.size(), &after));
        const uint16_t want = ipv4_header_checksum(after.data());
        if (want == 0) ++zero_seen;
        ASSERT_EQ(get16(after, 10), want) << id;
    }
    EXPECT_GT(zero_seen, 0);
}

TEST(L2Ttl, Ipv6HopLimit) {
    const Bytes p = ipv6(17, kHostV6, kFarV6, udp(3), 64);
    Bytes after;
    ASSERT_TRUE(decrement(p, p.size(), &after));
    EXPECT_EQ(after[7], 63);
    after[7] = 64;
    EXPECT_EQ(after, p);
    const Bytes two = ipv6(17, kHostV6, kFarV6, udp(3), 2);
    ASSERT_TRUE(decrement(two, two.size(), &after));
    EXPECT_EQ(after[7], 1);
}

TEST(L2Ttl, RefusesAtOneAndZeroChangingNothing) {
    for (const uint8_t ttl : {1, 0}) {
        SCOPED_TRACE(static_cast<int>(ttl));
        for (const Bytes& p : {ipv4(17, kHostV4, kFarV4, udp(3), ttl),
                               ipv6(17, kHostV6, kFarV6, udp(3), ttl)}) {
            Bytes after;
            EXPECT_FALSE(decrement(p, p.size(), &after));
            EXPECT_EQ(after, p);
        }
    }
}

TEST(L2Ttl, RefusesWhatIsNotAnIpHeader) {
    Bytes p = ipv4(17, kHostV4, kFarV4, {});
    for (size_t n = 0; n < 20; ++n) {
        Bytes after;
        EXPECT_FALSE(decrement(p, n, &after)) << n;
        EXPECT_EQ(after, Bytes(p.begin(), p.begin() + static_cast<long>(n)));
    }
    const Bytes v6 = ipv6(17, kHostV6, kFarV6, {});
    for (size_t n = 0; n < 40; ++n) {
        Bytes after;
        EXPECT_FALSE(decrement(v6, n, &after)) << n;
    }
    p[0] = 0x55;
    Bytes after;
    EXPECT_FALSE(decrement(p, p.size(), &after));
    EXPECT_EQ(after, p);
}

// ---- ICMP echo --------------------------------------------------------------------------

TEST(L2Echo, RecognisesEchoRequests) {
    for (const size_t n : {0, 1, 2, 31, 56, 1400}) {
        SCOPED_TRACE(n);
        EXPECT_TRUE(is_echo(ip_of(echo4_frame(n))));
        EXPECT_TRUE(is_echo(ip_of(echo6_frame(n))));
        Bytes padded = ip_of(echo4_frame(n));
        padded.resize(padded.size() + 5, 0);
        EXPECT_TRUE(is_echo(padded)) << "padding is not part of the packet";
    }
}

TEST(L2Echo, RejectsWhatIsNotAValidEchoRequest) {
    EXPECT_FALSE(is_echo(ip_of(echo4_frame(8, 0)))) << "echo reply";
    EXPECT_FALSE(is_echo(ip_of(echo6_frame(8, 129)))) << "echo reply";
    EXPECT_FALSE(is_echo(ip_of(echo4_frame(8, 128)))) << "the ICMPv6 type over IPv4";
    EXPECT_FALSE(is_echo(ip_of(echo6_frame(8, 8)))) << "the ICMP type over IPv6";

    Bytes p = ip_of(echo4_frame(8));
    p[20 + 9] ^= 1;
    EXPECT_FALSE(is_echo(p)) << "ICMP checksum";
    p = ip_of(echo6_frame(8));
    p[40 + 9] ^= 1;
    EXPECT_FALSE(is_echo(p)) << "ICMPv6 checksum";
    p = ip_of(echo6_frame(8));
    p[8] ^= 1;
    EXPECT_FALSE(is_echo(p)) << "ICMPv6 checksum covers the source address";
    p = ip_of(echo4_frame(8));
    p[10] ^= 1;
    EXPECT_FALSE(is_echo(p)) << "IPv4 header checksum";
    p = ip_of(echo4_frame(8));
    p[9] = 17;
    fix_ipv4_checksum(p, 0);
    EXPECT_FALSE(is_echo(p)) << "UDP";
    p = ip_of(echo6_frame(8));
    p[6] = 0;
    EXPECT_FALSE(is_echo(p)) << "behind a hop-by-hop header";
    p = ip_of(echo4_frame(8));
    put16(p, 6, 0x2000);
    fix_ipv4_checksum(p, 0);
    EXPECT_FALSE(is_echo(p)) << "a first fragment";

    // An ICMP message shorter than its header.
    p = ipv4(1, kFarV4, kGatewayV4, {8, 0, 0xF7, 0xFF});
    EXPECT_EQ(ones_sum(p.data() + 20, 4), 0xFFFF);
    EXPECT_FALSE(is_echo(p));
}

TEST(L2Echo, RejectsEveryTruncation) {
    for (const Bytes& p : {ip_of(echo4_frame(9)), ip_of(echo6_frame(9))}) {
        for (size_t n = 0; n < p.size(); ++n) EXPECT_FALSE(is_echo(p, n)) << n;
    }
}

TEST(L2Echo, Ipv4ReplyInPlace) {
    for (const size_t n : {0, 1, 31, 56, 1400}) {
        SCOPED_TRACE(n);
        const Bytes request = echo4_frame(n);
        const GuardedBytes g(request);
        l2::echo_reply_in_place(g.data(), static_cast<uint32_t>(request.size()));
        const Bytes reply(g.data(), g.data() + request.size());

        EXPECT_TRUE(same_mac(reply.data(), kHostMac));
        EXPECT_TRUE(same_mac(reply.data() + 6, kGatewayMac));
        EXPECT_EQ(get16(reply, 12), 0x0800);
        EXPECT_TRUE(same(reply.data() + kIp + 12, kGatewayV4, 4));
        EXPECT_TRUE(same(reply.data() + kIp + 16, kFarV4, 4));
        EXPECT_EQ(reply[kIp + 8], 64);
        EXPECT_EQ(reply[kIp + 9], 1);
        EXPECT_EQ(get16(reply, kIp + 2), get16(request, kIp + 2));
        EXPECT_EQ(get16(reply, kIp + 10), ipv4_header_checksum(reply.data() + kIp));
        const size_t icmp = kIp + 20;
        EXPECT_EQ(reply[icmp], 0);
        EXPECT_EQ(reply[icmp + 1], 0);
        EXPECT_EQ(ones_sum(reply.data() + icmp, reply.size() - icmp), 0xFFFF);
        EXPECT_TRUE(same(reply.data() + icmp + 4, request.data() + icmp + 4, 4 + n))
            << "identifier, sequence and data as they were";
        EXPECT_FALSE(is_echo(ip_of(reply)));
    }
}

TEST(L2Echo, Ipv6ReplyInPlace) {
    for (const size_t n : {0, 1, 31, 56, 1400}) {
        SCOPED_TRACE(n);
        const Bytes request = echo6_frame(n);
        const GuardedBytes g(request);
        l2::echo_reply_in_place(g.data(), static_cast<uint32_t>(request.size()));
        const Bytes reply(g.data(), g.data() + request.size());

        EXPECT_TRUE(same_mac(reply.data(), kHostMac));
        EXPECT_TRUE(same_mac(reply.data() + 6, kGatewayMac));
        EXPECT_TRUE(same(reply.data() + kIp + 8, kGatewayV6, 16));
        EXPECT_TRUE(same(reply.data() + kIp + 24, kFarV6, 16));
        EXPECT_EQ(reply[kIp + 7], 64);
        EXPECT_EQ(reply[kIp + 6], 58);
        EXPECT_EQ(get16(reply, kIp + 4), get16(request, kIp + 4));
        const size_t icmp = kIp + 40;
        EXPECT_EQ(reply[icmp], 129);
        EXPECT_EQ(reply[icmp + 1], 0);
        EXPECT_EQ(icmp6_sum(reply.data() + kIp, reply.data() + icmp, reply.size() - icmp), 0xFFFF);
        EXPECT_TRUE(same(reply.data() + icmp + 4, request.data() + icmp + 4, 4 + n));
        EXPECT_FALSE(is_echo(ip_of(reply)));
    }
}

TEST(L2Echo, Ipv4ReplyWithOptionsAndPadding) {
    Bytes f = echo4_frame(5);
    const uint8_t nops[4] = {1, 1, 1, 0};
    f.insert(f.begin() + kIp + 20, nops, nops + 4);
    f[kIp] = 0x46;
    put16(f, kIp + 2, static_cast<uint16_t>(f.size() - kIp));
    fix_ipv4_checksum(f);
    f.resize(60, 0);  // Ethernet padding
    ASSERT_TRUE(is_echo(ip_of(f)));
    const GuardedBytes g(f);
    l2::echo_reply_in_place(g.data(), static_cast<uint32_t>(f.size()));
    const Bytes reply(g.data(), g.data() + f.size());
    EXPECT_EQ(get16(reply, kIp + 10), ipv4_header_checksum(reply.data() + kIp));
    const size_t icmp = kIp + 24;
    EXPECT_EQ(reply[icmp], 0);
    EXPECT_EQ(ones_sum(reply.data() + icmp, get16(reply, kIp + 2) - 24), 0xFFFF);
    EXPECT_TRUE(same(reply.data() + kIp + 20, nops, 4));
}

// ---- ICMP errors --------------------------------------------------------------------------

// The frame an error is written into: room for the headers, then the quote.
Bytes error_buffer(uint8_t family, const Bytes& quote) {
    Bytes f(l2::icmp_error_headers_len(family), 0xAA);
    append(f, quote.data(), quote.size());
    return f;
}

TEST(L2IcmpError, HeaderAndQuoteSizes) {
    EXPECT_EQ(l2::icmp_error_headers_len(4), 42u);
    EXPECT_EQ(l2::icmp_error_headers_len(6), 62u);
    EXPECT_EQ(l2::icmp_error_headers_len(4) - 14 + l2::icmp_error_quote_max(4), 576u);
    EXPECT_EQ(l2::icmp_error_headers_len(6) - 14 + l2::icmp_error_quote_max(6), 1280u);
}

TEST(L2IcmpError, Ipv4TimeExceededAndFragmentationNeeded) {
    for (const IcmpError kind : {IcmpError::time_exceeded, IcmpError::too_big}) {
        for (const size_t data : {0, 1, 100, 2000}) {
            const bool too_big = kind == IcmpError::too_big;
            SCOPED_TRACE(std::to_string(too_big) + " " + std::to_string(data));
            const Bytes offending = ipv4(17, kFarV4, kHostV4, udp(data), 1);
            const size_t quote_len = std::min(offending.size(), l2::icmp_error_quote_max(4));
            const Bytes quote(offending.begin(), offending.begin() + static_cast<long>(quote_len));
            Bytes f = error_buffer(4, quote);
            const uint32_t n = l2::write_icmp_error(f.data(), 4, kind, 1420, kGatewayMac, kGatewayV4,
                                                    kHostMac, static_cast<uint32_t>(quote_len));
            ASSERT_EQ(n, 42 + quote_len);

            EXPECT_TRUE(same_mac(f.data(), kHostMac));
            EXPECT_TRUE(same_mac(f.data() + 6, kGatewayMac));
            EXPECT_EQ(get16(f, 12), 0x0800);
            EXPECT_EQ(f[kIp], 0x45);
            EXPECT_EQ(f[kIp + 1], 0xC0) << "precedence internetwork control (RFC 1812 4.3.2.5)";
            EXPECT_EQ(get16(f, kIp + 2), 28 + quote_len);
            EXPECT_EQ(get16(f, kIp + 6) & 0x4000, 0) << "DF clear";
            EXPECT_EQ(get16(f, kIp + 6) & 0x3FFF, 0) << "not a fragment";
            EXPECT_EQ(f[kIp + 8], 64);
            EXPECT_EQ(f[kIp + 9], 1);
            EXPECT_EQ(get16(f, kIp + 10), ipv4_header_checksum(f.data() + kIp));
            EXPECT_TRUE(same(f.data() + kIp + 12, kGatewayV4, 4));
            EXPECT_TRUE(same(f.data() + kIp + 16, kFarV4, 4)) << "to the offending packet's source";
            const size_t icmp = kIp + 20;
            EXPECT_EQ(f[icmp], too_big ? 3 : 11);
            EXPECT_EQ(f[icmp + 1], too_big ? 4 : 0);
            EXPECT_EQ(get16(f, icmp + 4), 0);
            EXPECT_EQ(get16(f, icmp + 6), too_big ? 1420 : 0) << "next-hop MTU";
            EXPECT_EQ(ones_sum(f.data() + icmp, 8 + quote_len), 0xFFFF);
            EXPECT_TRUE(same(f.data() + 42, quote.data(), quote_len)) << "quote intact";

            l2::IpView v;
            ASSERT_TRUE(parse_ip(ip_of(f), &v));
            EXPECT_EQ(v.total_len, n - 14);
            EXPECT_FALSE(should_error(ip_of(f))) << "no error about this error";
        }
    }
}

TEST(L2IcmpError, Ipv6TimeExceededAndPacketTooBig) {
    for (const IcmpError kind : {IcmpError::time_exceeded, IcmpError::too_big}) {
        for (const size_t data : {0, 1, 100, 3000}) {
            const bool too_big = kind == IcmpError::too_big;
            SCOPED_TRACE(std::to_string(too_big) + " " + std::to_string(data));
            const Bytes offending = ipv6(17, kFarV6, kHostV6, udp(data), 1);
            const size_t quote_len = std::min(offending.size(), l2::icmp_error_quote_max(6));
            const Bytes quote(offending.begin(), offending.begin() + static_cast<long>(quote_len));
            Bytes f = error_buffer(6, quote);
            const uint32_t n = l2::write_icmp_error(f.data(), 6, kind, 1280, kGatewayMac, kGatewayV6,
                                                    kHostMac, static_cast<uint32_t>(quote_len));
            ASSERT_EQ(n, 62 + quote_len);

            EXPECT_TRUE(same_mac(f.data(), kHostMac));
            EXPECT_TRUE(same_mac(f.data() + 6, kGatewayMac));
            EXPECT_EQ(get16(f, 12), 0x86DD);
            EXPECT_EQ(f[kIp] >> 4, 6);
            EXPECT_EQ(get16(f, kIp + 4), 8 + quote_len);
            EXPECT_EQ(f[kIp + 6], 58);
            EXPECT_EQ(f[kIp + 7], 64);
            EXPECT_TRUE(same(f.data() + kIp + 8, kGatewayV6, 16));
            EXPECT_TRUE(same(f.data() + kIp + 24, kFarV6, 16));
            const size_t icmp = kIp + 40;
            EXPECT_EQ(f[icmp], too_big ? 2 : 3);
            EXPECT_EQ(f[icmp + 1], 0);
            EXPECT_EQ(get32(f, icmp + 4), too_big ? 1280u : 0u) << "MTU";
            EXPECT_EQ(icmp6_sum(f.data() + kIp, f.data() + icmp, 8 + quote_len), 0xFFFF);
            EXPECT_TRUE(same(f.data() + 62, quote.data(), quote_len)) << "quote intact";
            EXPECT_LE(n - 14, 1280u);
            EXPECT_FALSE(should_error(ip_of(f)));
        }
    }
}

TEST(L2IcmpError, LargeMtusAndLongQuotes) {
    // A 32-bit MTU over IPv6; IPv4 has 16 bits for it.
    const Bytes v6 = ipv6(17, kFarV6, kHostV6, udp(0));
    Bytes f = error_buffer(6, v6);
    l2::write_icmp_error(f.data(), 6, IcmpError::too_big, 0x00012345, kGatewayMac, kGatewayV6,
                         kHostMac, static_cast<uint32_t>(v6.size()));
    EXPECT_EQ(get32(f, kIp + 40 + 4), 0x00012345u);

    const Bytes v4 = ipv4(17, kFarV4, kHostV4, udp(0));
    f = error_buffer(4, v4);
    l2::write_icmp_error(f.data(), 4, IcmpError::too_big, 9000, kGatewayMac, kGatewayV4, kHostMac,
                         static_cast<uint32_t>(v4.size()));
    EXPECT_EQ(get16(f, kIp + 20 + 6), 9000);

    // A quote longer than the maximum is cut to it.
    const Bytes big = ipv4(17, kFarV4, kHostV4, udp(1000));
    f = error_buffer(4, big);
    EXPECT_EQ(l2::write_icmp_error(f.data(), 4, IcmpError::time_exceeded, 0, kGatewayMac,
                                   kGatewayV4, kHostMac, static_cast<uint32_t>(big.size())),
              42 + l2::icmp_error_quote_max(4));
    EXPECT_EQ(get16(f, kIp + 2), 576);
    EXPECT_EQ(ones_sum(f.data() + kIp + 20, 8 + l2::icmp_error_quote_max(4)), 0xFFFF);
}

TEST(L2IcmpError, RefusesAQuoteWithoutAWholeIpHeader) {
    const Bytes v4 = ipv4(17, kFarV4, kHostV4, udp(0));
    Bytes f = error_buffer(4, v4);
    const Bytes before = f;
    EXPECT_EQ(l2::write_icmp_error(f.data(), 4, IcmpError::time_exceeded, 0, kGatewayMac,
                                   kGatewayV4, kHostMac, 19),
              0u);
    EXPECT_EQ(f, before);
    const Bytes v6 = ipv6(17, kFarV6, kHostV6, udp(0));
    f = error_buffer(6, v6);
    EXPECT_EQ(l2::write_icmp_error(f.data(), 6, IcmpError::too_big, 1280, kGatewayMac, kGatewayV6,
                                   kHostMac, 39),
              0u);
}

// ---- Whether to send an error ----------------------------------------------------------------

TEST(L2ShouldSendError, Ipv4) {
    const uint8_t multicast[4] = {224, 0, 0, 5};
    const uint8_t broadcast[4] = {255, 255, 255, 255};
    const uint8_t zero[4] = {0, 0, 0, 0};
    const uint8_t this_net[4] = {0, 1, 2, 3};
    const uint8_t loopback[4] = {127, 0, 0, 1};
    const uint8_t class_e[4] = {240, 1, 2, 3};

    EXPECT_TRUE(should_error(ipv4(17, kFarV4, kHostV4, udp(10))));
    EXPECT_TRUE(should_error(ipv4(6, kFarV4, kHostV4, payload(20))));
    Bytes padded = ipv4(17, kFarV4, kHostV4, udp(0));
    padded.resize(46, 0);
    EXPECT_TRUE(should_error(padded));
    EXPECT_TRUE(should_error(ipv4(17, kFarV4, kHostV4, udp(10), 64, 0x2000))) << "first fragment";
    EXPECT_FALSE(should_error(ipv4(17, kFarV4, kHostV4, udp(10), 64, 0x2001))) << "a later one";
    EXPECT_FALSE(should_error(ipv4(17, kFarV4, kHostV4, udp(10), 64, 0x0010))) << "the last one";

    for (const uint8_t* bad : {multicast, broadcast, zero, this_net, loopback, class_e}) {
        EXPECT_FALSE(should_error(ipv4(17, bad, kHostV4, udp(10)))) << int{bad[0]};
    }
    EXPECT_FALSE(should_error(ipv4(17, kFarV4, multicast, udp(10))));
    EXPECT_FALSE(should_error(ipv4(17, kFarV4, broadcast, udp(10))));

    // ICMP: queries get errors, errors (and unknown types) do not.
    for (const uint8_t type : {0, 8, 13, 14}) {
        EXPECT_TRUE(should_error(ipv4(1, kFarV4, kHostV4, icmp(type, 0, 0, payload(8)))))
            << int{type};
    }
    for (const uint8_t type : {3, 4, 5, 11, 12, 42, 255}) {
        EXPECT_FALSE(should_error(ipv4(1, kFarV4, kHostV4, icmp(type, 0, 0, payload(28)))))
            << int{type};
    }
    EXPECT_FALSE(should_error(ipv4(1, kFarV4, kHostV4, {}))) << "ICMP without a type";

    Bytes broken = ipv4(17, kFarV4, kHostV4, udp(10));
    broken[10] ^= 1;
    EXPECT_FALSE(should_error(broken)) << "bad header checksum";
}

Bytes extension(uint8_t next, size_t len) {
    Bytes e(len, 0);
    e[0] = next;
    e[1] = static_cast<uint8_t>(len / 8 - 1);
    return e;
}
Bytes fragment_header(uint8_t next, uint16_t offset_and_m) {
    Bytes e = {next, 0};
    append16(e, offset_and_m);
    append16(e, 0xabcd);
    append16(e, 0x0001);
    return e;
}
Bytes cat(const Bytes& a, const Bytes& b) {
    Bytes r = a;
    append(r, b.data(), b.size());
    return r;
}

TEST(L2ShouldSendError, Ipv6) {
    const uint8_t multicast[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    const uint8_t loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

    EXPECT_TRUE(should_error(ipv6(17, kFarV6, kHostV6, udp(10))));
    EXPECT_TRUE(should_error(ipv6(58, kFarV6, kHostV6, icmp(128, 0, 0, payload(4)))));
    EXPECT_TRUE(should_error(ipv6(58, kFarV6, kHostV6, icmp(129, 0, 0, payload(4)))));
    EXPECT_FALSE(should_error(ipv6(17, kUnspecifiedV6, kHostV6, udp(10))));
    EXPECT_FALSE(should_error(ipv6(17, loopback, kHostV6, udp(10))));
    EXPECT_FALSE(should_error(ipv6(17, multicast, kHostV6, udp(10))));
    // RFC 4443 2.4(e.3): Packet Too Big is sent about multicast destinations.
    EXPECT_TRUE(should_error(ipv6(17, kFarV6, multicast, udp(10))));

    for (const uint8_t type : {1, 2, 3, 4, 100, 127, 137}) {
        EXPECT_FALSE(should_error(ipv6(58, kFarV6, kHostV6, icmp(type, 0, 0, payload(40)))))
            << int{type};
    }
    EXPECT_FALSE(should_error(ipv6(58, kFarV6, kHostV6, {}))) << "ICMPv6 without a type";

    // Extension headers are walked to the ICMPv6 type.
    const Bytes error = icmp(3, 0, 0, payload(40));
    const Bytes echo = icmp(128, 0, 0, payload(4));
    EXPECT_FALSE(should_error(ipv6(0, kFarV6, kHostV6, cat(extension(58, 8), error))));
    EXPECT_FALSE(should_error(
        ipv6(0, kFarV6, kHostV6, cat(extension(60, 8), cat(extension(58, 16), error)))));
    EXPECT_TRUE(should_error(ipv6(0, kFarV6, kHostV6, cat(extension(58, 8), echo))));
    EXPECT_TRUE(should_error(ipv6(43, kFarV6, kHostV6, cat(extension(17, 24), udp(3)))));
    EXPECT_FALSE(should_error(ipv6(0, kFarV6, kHostV6, extension(58, 8)))) << "nothing after";
    Bytes cut = ipv6(0, kFarV6, kHostV6, extension(58, 16));
    cut.erase(cut.end() - 8, cut.end());
    put16(cut, 4, 8);
    EXPECT_FALSE(should_error(cut)) << "an extension header past the packet";
    EXPECT_FALSE(should_error(ipv6(60, kFarV6, kHostV6, {58, 0, 0, 0}))) << "half a header";
    EXPECT_FALSE(should_error(ipv6(44, kFarV6, kHostV6, {58, 0, 0, 0}))) << "half a fragment header";

    // Fragments: a first one shows the type; a later one of ICMPv6 may be an error.
    EXPECT_FALSE(should_error(ipv6(44, kFarV6, kHostV6, cat(fragment_header(58, 0x0001), error))));
    EXPECT_TRUE(should_error(ipv6(44, kFarV6, kHostV6, cat(fragment_header(58, 0x0001), echo))));
    EXPECT_FALSE(should_error(ipv6(44, kFarV6, kHostV6, cat(fragment_header(58, 0x0100), echo))));
    EXPECT_TRUE(should_error(ipv6(44, kFarV6, kHostV6, cat(fragment_header(17, 0x0100), udp(3)))));
}

TEST(L2ShouldSendError, NeverPastTheBytes) {
    for (const Bytes& p :
         {ipv4(1, kFarV4, kHostV4, icmp(8, 0, 0, payload(4))),
          ipv6(0, kFarV6, kHostV6, cat(extension(44, 8), cat(fragment_header(58, 0), icmp(1, 0, 0, {})))),
          ipv6(17, kFarV6, kHostV6, udp(3))}) {
        for (size_t n = 0; n < p.size(); ++n) EXPECT_FALSE(should_error(p, n)) << n;
    }
}

}  // namespace
}  // namespace sluice
