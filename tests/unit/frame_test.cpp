// Ethernet/IPv4/IPv6/UDP frames (drivers/dpdk/frame) and the two L3 shapes on
// top of an Ethernet port (drivers/dpdk/l3_over_l2). The frames are built by
// hand here, byte by byte, and the checksums summed by a by-the-book RFC 1071
// model, so the parsers are not checked against their own writers. Every
// parse runs on bytes that end at an unreadable page: reading one byte past
// the frame faults in every build, not only under ASan.
#include "drivers/dpdk/frame.hpp"

#include <gtest/gtest.h>
#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <initializer_list>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "tests/unit/guarded_bytes.hpp"
#include "tests/unit/ones_sum.hpp"

#include "drivers/dpdk/l3_over_l2.hpp"
#include "drivers/eal.hpp"
#include "drivers/mbuf_endpoint.hpp"
#include "tests/unit/eal_environment.hpp"

namespace sluice {
namespace {

using frame::FrameDrop;
using Bytes = std::vector<uint8_t>;

// ---- Addresses -----------------------------------------------------------------

const rte_ether_addr kGatewayMac = {{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}};
const rte_ether_addr kNextHopMac = {{0x02, 0x00, 0x00, 0x00, 0x00, 0x02}};
const rte_ether_addr kOtherMac = {{0x02, 0x00, 0x00, 0x00, 0x00, 0x03}};
const rte_ether_addr kBroadcastMac = {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
const uint8_t kGatewayV4[4] = {192, 0, 2, 1};
const uint8_t kPeerV4[4] = {198, 51, 100, 7};
const uint8_t kGatewayV6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
const uint8_t kPeerV6[16] = {0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7};
constexpr uint16_t kGatewayPort = 51820;
constexpr uint16_t kPeerPort = 40000;

frame::UdpLocal gateway(bool has_v4 = true, bool has_v6 = true) {
    frame::UdpLocal l;
    l.mac = kGatewayMac;
    std::memcpy(l.v4, kGatewayV4, 4);
    l.has_v4 = has_v4;
    std::memcpy(l.v6, kGatewayV6, 16);
    l.has_v6 = has_v6;
    l.port = kGatewayPort;
    return l;
}

MbufEndpoint endpoint(uint8_t family, const uint8_t* addr, uint16_t port) {
    MbufEndpoint ep;
    ep.family = family;
    ep.port = port;
    std::memcpy(ep.addr, addr, family == 4 ? 4 : 16);
    return ep;
}

MbufEndpoint peer_v4() {
    return endpoint(4, kPeerV4, kPeerPort);
}
MbufEndpoint peer_v6() {
    return endpoint(6, kPeerV6, kPeerPort);
}
MbufEndpoint gateway_v4() {
    return endpoint(4, kGatewayV4, kGatewayPort);
}
MbufEndpoint gateway_v6() {
    return endpoint(6, kGatewayV6, kGatewayPort);
}

// The far end's configuration, to parse what the gateway sent it.
frame::UdpLocal peer_side(const MbufEndpoint& peer) {
    frame::UdpLocal l;
    l.mac = kNextHopMac;
    if (peer.family == 4) {
        std::memcpy(l.v4, peer.addr, 4);
        l.has_v4 = true;
    } else {
        std::memcpy(l.v6, peer.addr, 16);
        l.has_v6 = true;
    }
    l.port = peer.port;
    return l;
}

// ---- Bytes by hand ---------------------------------------------------------------

// Offsets into a frame with a 20-byte IPv4 or a 40-byte IPv6 header.
constexpr size_t kIp = 14;
constexpr size_t kV4Total = kIp + 2;
constexpr size_t kV4Flags = kIp + 6;
constexpr size_t kV4Proto = kIp + 9;
constexpr size_t kV4Sum = kIp + 10;
constexpr size_t kV4Dst = kIp + 16;
constexpr size_t kV4Udp = kIp + 20;
constexpr size_t kV6PayloadLen = kIp + 4;
constexpr size_t kV6Next = kIp + 6;
constexpr size_t kV6Dst = kIp + 24;
constexpr size_t kV6Udp = kIp + 40;

using testing::get16;
using testing::ones_sum;
uint16_t get16(const Bytes& b, size_t at) {
    return get16(b.data() + at);
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

// The IPv6 pseudo-header (RFC 8200 §8.1) followed by the UDP datagram.
uint16_t udp6_sum(const uint8_t* ip6, const uint8_t* udp, size_t udp_len) {
    Bytes b;
    append(b, ip6 + 8, 32);  // source and destination
    append16(b, 0);
    append16(b, static_cast<uint16_t>(udp_len));
    append16(b, 0);
    append16(b, 17);
    append(b, udp, udp_len);
    return ones_sum(b.data(), b.size());
}

// The IPv4 pseudo-header (RFC 768) followed by the UDP datagram.
uint16_t udp4_sum(const uint8_t* ip4, const uint8_t* udp, size_t udp_len) {
    Bytes b;
    append(b, ip4 + 12, 8);  // source and destination
    b.push_back(0);
    b.push_back(17);
    append16(b, static_cast<uint16_t>(udp_len));
    append(b, udp, udp_len);
    return ones_sum(b.data(), b.size());
}

// The pseudo-header sums alone, not complemented: what the UDP checksum
// field holds for a device that finishes the sum (DPDK's TX UDP offload).
uint16_t pseudo_sum4(const uint8_t* src, const uint8_t* dst, uint16_t udp_len) {
    Bytes b;
    append(b, src, 4);
    append(b, dst, 4);
    b.push_back(0);
    b.push_back(17);
    append16(b, udp_len);
    return ones_sum(b.data(), b.size());
}
uint16_t pseudo_sum6(const uint8_t* src, const uint8_t* dst, uint32_t udp_len) {
    Bytes b;
    append(b, src, 16);
    append(b, dst, 16);
    append16(b, static_cast<uint16_t>(udp_len >> 16));
    append16(b, static_cast<uint16_t>(udp_len));
    append16(b, 0);
    append16(b, 17);  // three zero bytes, then the next header
    return ones_sum(b.data(), b.size());
}

Bytes payload(size_t n, uint8_t seed = 0) {
    Bytes b(n);
    for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(seed + i * 7 + 1);
    return b;
}

Bytes ethernet(const rte_ether_addr& dst, uint16_t type) {
    Bytes b;
    append(b, dst.addr_bytes, 6);
    append(b, kNextHopMac.addr_bytes, 6);
    append16(b, type);
    return b;
}

// Recomputes the IPv4 header checksum after a test changed the header.
void fix_ipv4_checksum(Bytes& f) {
    size_t ihl = (f[kIp] & 0x0Fu) * 4u;
    if (ihl < 20) ihl = 20;
    put16(f, kV4Sum, 0);
    put16(f, kV4Sum, static_cast<uint16_t>(~ones_sum(f.data() + kIp, ihl)));
}

// The peer's datagram to the gateway, as a NIC hands it over: `options` IPv4
// option bytes (a multiple of 4) and `padding` zero bytes after the packet.
Bytes ipv4_udp(const Bytes& data, size_t padding = 0, const Bytes& options = {}) {
    Bytes f = ethernet(kGatewayMac, 0x0800);
    const size_t ihl = 20 + options.size();
    f.push_back(static_cast<uint8_t>(0x40 | ihl / 4));
    f.push_back(0);
    append16(f, static_cast<uint16_t>(ihl + 8 + data.size()));
    append16(f, 0x1234);  // identification
    append16(f, 0);       // flags and fragment offset
    f.push_back(64);
    f.push_back(17);
    append16(f, 0);
    append(f, kPeerV4, 4);
    append(f, kGatewayV4, 4);
    append(f, options.data(), options.size());
    append16(f, kPeerPort);
    append16(f, kGatewayPort);
    append16(f, static_cast<uint16_t>(8 + data.size()));
    append16(f, 0);
    append(f, data.data(), data.size());
    f.resize(f.size() + padding, 0);
    fix_ipv4_checksum(f);
    return f;
}

Bytes ipv6_udp(const Bytes& data, size_t padding = 0) {
    Bytes f = ethernet(kGatewayMac, 0x86DD);
    append16(f, 0x6000);
    append16(f, 0);
    append16(f, static_cast<uint16_t>(8 + data.size()));
    f.push_back(17);
    f.push_back(64);
    append(f, kPeerV6, 16);
    append(f, kGatewayV6, 16);
    append16(f, kPeerPort);
    append16(f, kGatewayPort);
    append16(f, static_cast<uint16_t>(8 + data.size()));
    append16(f, 0);
    append(f, data.data(), data.size());
    const uint16_t sum =
        static_cast<uint16_t>(~udp6_sum(f.data() + kIp, f.data() + kV6Udp, 8 + data.size()));
    put16(f, kV6Udp + 6, sum == 0 ? 0xFFFF : sum);
    f.resize(f.size() + padding, 0);
    return f;
}

// The same datagram behind a hop-by-hop options header (a PadN option).
Bytes ipv6_hop_by_hop_udp(const Bytes& data) {
    Bytes f = ipv6_udp(data);
    const uint8_t hop_by_hop[8] = {17, 0, 1, 4, 0, 0, 0, 0};
    f.insert(f.begin() + kV6Udp, hop_by_hop, hop_by_hop + 8);
    f[kV6Next] = 0;
    put16(f, kV6PayloadLen, static_cast<uint16_t>(get16(f, kV6PayloadLen) + 8));
    return f;
}

// A who-has for the gateway's address, padded to the Ethernet minimum.
Bytes arp_request() {
    Bytes f = ethernet(kGatewayMac, 0x0806);
    const uint8_t who_has[8] = {0, 1, 8, 0, 6, 4, 0, 1};  // Ethernet, IPv4, request
    const uint8_t unknown[6] = {};
    append(f, who_has, 8);
    append(f, kNextHopMac.addr_bytes, 6);
    append(f, kPeerV4, 4);
    append(f, unknown, 6);
    append(f, kGatewayV4, 4);
    f.resize(60, 0);
    return f;
}

using sluice::testing::GuardedBytes;

struct Parsed {
    FrameDrop drop = FrameDrop::count;
    MbufEndpoint from;
    uint32_t offset = 0;
    uint32_t length = 0;
};

Parsed parse_udp(const Bytes& f, size_t len, const frame::UdpLocal& local = gateway()) {
    const GuardedBytes g(f.data(), len);
    Parsed r;
    r.from.reserved = 0xEE;  // must come back 0
    r.drop = frame::parse_udp(g.data(), static_cast<uint32_t>(len), local, &r.from, &r.offset,
                              &r.length);
    return r;
}
Parsed parse_udp(const Bytes& f, const frame::UdpLocal& local = gateway()) {
    return parse_udp(f, f.size(), local);
}

Parsed parse_ip(const Bytes& f, size_t len, const rte_ether_addr& mac = kGatewayMac) {
    const GuardedBytes g(f.data(), len);
    Parsed r;
    r.drop = frame::parse_ip(g.data(), static_cast<uint32_t>(len), mac, &r.offset, &r.length);
    return r;
}
Parsed parse_ip(const Bytes& f, const rte_ether_addr& mac = kGatewayMac) {
    return parse_ip(f, f.size(), mac);
}

FrameDrop udp_drop(const Bytes& f, const frame::UdpLocal& local = gateway()) {
    return parse_udp(f, local).drop;
}
FrameDrop ip_drop(const Bytes& f, const rte_ether_addr& mac = kGatewayMac) {
    return parse_ip(f, mac).drop;
}

}  // namespace

// gtest prints a FrameDrop by its counter name.
namespace frame {
void PrintTo(FrameDrop drop, std::ostream* os) {
    *os << to_string(drop);
}
}  // namespace frame

namespace {

// ---- write_udp_headers, then parse_udp at the far end -----------------------------

TEST(FrameRoundTrip, Ipv4HeadersParseBackWithAValidHeaderChecksum) {
    for (const size_t n : {0, 1, 2, 33, 148, 1400}) {
        SCOPED_TRACE(n);
        const Bytes data = payload(n, static_cast<uint8_t>(n));
        const MbufEndpoint to = peer_v4();
        const size_t hlen = frame::udp_headers_len(to, gateway());
        ASSERT_EQ(hlen, 42u);
        Bytes f(hlen + n);
        std::copy(data.begin(), data.end(), f.begin() + static_cast<long>(hlen));
        frame::write_udp_headers(f.data(), gateway(), kNextHopMac, to, static_cast<uint32_t>(n));

        EXPECT_EQ(0, std::memcmp(f.data(), kNextHopMac.addr_bytes, 6));
        EXPECT_EQ(0, std::memcmp(f.data() + 6, kGatewayMac.addr_bytes, 6));
        EXPECT_EQ(get16(f, 12), 0x0800);
        EXPECT_EQ(f[kIp], 0x45);
        EXPECT_EQ(get16(f, kV4Total), 28 + n);
        EXPECT_EQ(get16(f, kV4Flags), 0x4000) << "DF, no fragment";
        EXPECT_EQ(f[kV4Proto], 17);
        EXPECT_NE(f[kIp + 8], 0) << "TTL";
        EXPECT_EQ(0, std::memcmp(f.data() + kIp + 12, kGatewayV4, 4));
        EXPECT_EQ(0, std::memcmp(f.data() + kV4Dst, kPeerV4, 4));
        // The header checksum, summed here independently.
        EXPECT_EQ(ones_sum(f.data() + kIp, 20), 0xFFFF);
        Bytes header(f.begin() + kIp, f.begin() + kIp + 20);
        put16(header, 10, 0);
        EXPECT_EQ(get16(f, kV4Sum), static_cast<uint16_t>(~ones_sum(header.data(), 20)));
        EXPECT_EQ(get16(f, kV4Udp), kGatewayPort);
        EXPECT_EQ(get16(f, kV4Udp + 2), kPeerPort);
        EXPECT_EQ(get16(f, kV4Udp + 4), 8 + n);
        EXPECT_EQ(get16(f, kV4Udp + 6), 0) << "IPv4 UDP goes out without a checksum";

        const Parsed p = parse_udp(f, peer_side(to));
        ASSERT_EQ(p.drop, FrameDrop::none);
        EXPECT_EQ(p.from, gateway_v4()) << p.from.to_string();
        EXPECT_EQ(p.from.reserved, 0);
        EXPECT_EQ(p.offset, hlen);
        EXPECT_EQ(p.length, n);
        EXPECT_EQ(Bytes(f.begin() + p.offset, f.begin() + p.offset + p.length), data);
    }
}

TEST(FrameRoundTrip, Ipv6HeadersParseBackWithAValidUdpChecksum) {
    for (const size_t n : {0, 1, 2, 33, 148, 1400}) {
        SCOPED_TRACE(n);
        const Bytes data = payload(n, static_cast<uint8_t>(n));
        const MbufEndpoint to = peer_v6();
        const size_t hlen = frame::udp_headers_len(to, gateway());
        ASSERT_EQ(hlen, 62u);
        Bytes f(hlen + n);
        std::copy(data.begin(), data.end(), f.begin() + static_cast<long>(hlen));
        frame::write_udp_headers(f.data(), gateway(), kNextHopMac, to, static_cast<uint32_t>(n));

        EXPECT_EQ(0, std::memcmp(f.data(), kNextHopMac.addr_bytes, 6));
        EXPECT_EQ(0, std::memcmp(f.data() + 6, kGatewayMac.addr_bytes, 6));
        EXPECT_EQ(get16(f, 12), 0x86DD);
        EXPECT_EQ(f[kIp] >> 4, 6);
        EXPECT_EQ(get16(f, kV6PayloadLen), 8 + n);
        EXPECT_EQ(f[kV6Next], 17);
        EXPECT_NE(f[kIp + 7], 0) << "hop limit";
        EXPECT_EQ(0, std::memcmp(f.data() + kIp + 8, kGatewayV6, 16));
        EXPECT_EQ(0, std::memcmp(f.data() + kV6Dst, kPeerV6, 16));
        EXPECT_EQ(get16(f, kV6Udp), kGatewayPort);
        EXPECT_EQ(get16(f, kV6Udp + 2), kPeerPort);
        EXPECT_EQ(get16(f, kV6Udp + 4), 8 + n);
        // RFC 8200 §8.1: never 0 over IPv6, and the pseudo-header sum checks.
        EXPECT_NE(get16(f, kV6Udp + 6), 0);
        EXPECT_EQ(udp6_sum(f.data() + kIp, f.data() + kV6Udp, 8 + n), 0xFFFF);

        const Parsed p = parse_udp(f, peer_side(to));
        ASSERT_EQ(p.drop, FrameDrop::none);
        EXPECT_EQ(p.from, gateway_v6()) << p.from.to_string();
        EXPECT_EQ(p.from.reserved, 0);
        EXPECT_EQ(p.offset, hlen);
        EXPECT_EQ(p.length, n);
        EXPECT_EQ(Bytes(f.begin() + p.offset, f.begin() + p.offset + p.length), data);
    }
}

// ---- write_udp_headers with checksums left to the device ---------------------------

const frame::TxChecksum kEveryTxChecksum[] = {{false, false}, {true, false}, {false, true}, {true, true}};

std::string describe(frame::TxChecksum c) {
    return std::string("offload ipv4_header=") + (c.ipv4_header ? "yes" : "no") +
           " udp=" + (c.udp ? "yes" : "no");
}

// What a device with these offloads does to a frame on its way out: sums the
// IPv4 header, and finishes the UDP checksum from the pseudo-header sum in
// its field (a result of 0 goes out as 0xFFFF).
void device_finishes(Bytes& f, frame::TxChecksum c) {
    const bool v4 = get16(f, 12) == 0x0800;
    if (v4 && c.ipv4_header) {
        put16(f, kV4Sum, 0);
        put16(f, kV4Sum, static_cast<uint16_t>(~ones_sum(f.data() + kIp, 20)));
    }
    if (c.udp) {
        const size_t udp = v4 ? kV4Udp : kV6Udp;
        const uint16_t sum = static_cast<uint16_t>(~ones_sum(f.data() + udp, get16(f, udp + 4)));
        put16(f, udp + 6, sum == 0 ? 0xFFFF : sum);
    }
}

TEST(FrameWriteChecksums, Ipv4SumsAreWrittenHereOrLeftToTheDevice) {
    for (const frame::TxChecksum c : kEveryTxChecksum) {
        for (const size_t n : {0, 1, 2, 33, 1400}) {
            SCOPED_TRACE(describe(c) + ", payload " + std::to_string(n));
            const MbufEndpoint to = peer_v4();
            const Bytes data = payload(n, static_cast<uint8_t>(n + 3));
            Bytes f(42 + n);
            std::copy(data.begin(), data.end(), f.begin() + 42);
            Bytes plain = f;
            frame::write_udp_headers(f.data(), gateway(), kNextHopMac, to,
                                     static_cast<uint32_t>(n), c);
            frame::write_udp_headers(plain.data(), gateway(), kNextHopMac, to,
                                     static_cast<uint32_t>(n));

            if (c.ipv4_header) {
                EXPECT_EQ(get16(f, kV4Sum), 0) << "left for the device";
            } else {
                EXPECT_EQ(ones_sum(f.data() + kIp, 20), 0xFFFF);
            }
            if (c.udp) {
                EXPECT_EQ(get16(f, kV4Udp + 6),
                          pseudo_sum4(kGatewayV4, kPeerV4, static_cast<uint16_t>(8 + n)));
            } else {
                EXPECT_EQ(get16(f, kV4Udp + 6), 0) << "IPv4 UDP without a checksum";
            }
            // Everything but the two checksums is as without offload.
            Bytes a = f;
            Bytes b = plain;
            for (Bytes* x : {&a, &b}) {
                put16(*x, kV4Sum, 0);
                put16(*x, kV4Udp + 6, 0);
            }
            EXPECT_EQ(a, b);

            device_finishes(f, c);
            EXPECT_EQ(ones_sum(f.data() + kIp, 20), 0xFFFF);
            if (c.udp) {
                EXPECT_EQ(udp4_sum(f.data() + kIp, f.data() + kV4Udp, 8 + n), 0xFFFF);
            }
            const Parsed p = parse_udp(f, peer_side(to));
            ASSERT_EQ(p.drop, FrameDrop::none);
            EXPECT_EQ(Bytes(f.begin() + p.offset, f.begin() + p.offset + p.length), data);
        }
    }
}

TEST(FrameWriteChecksums, Ipv6UdpSumIsWrittenHereOrLeftToTheDevice) {
    for (const frame::TxChecksum c : kEveryTxChecksum) {
        for (const size_t n : {0, 1, 2, 33, 1400}) {
            SCOPED_TRACE(describe(c) + ", payload " + std::to_string(n));
            const MbufEndpoint to = peer_v6();
            const Bytes data = payload(n, static_cast<uint8_t>(n + 5));
            Bytes f(62 + n);
            std::copy(data.begin(), data.end(), f.begin() + 62);
            Bytes plain = f;
            frame::write_udp_headers(f.data(), gateway(), kNextHopMac, to,
                                     static_cast<uint32_t>(n), c);
            frame::write_udp_headers(plain.data(), gateway(), kNextHopMac, to,
                                     static_cast<uint32_t>(n));

            if (c.udp) {
                EXPECT_EQ(get16(f, kV6Udp + 6), pseudo_sum6(kGatewayV6, kPeerV6, 8 + n));
                // The payload is not read: headers written right before an
                // unreadable page come out the same.
                const GuardedBytes g(f.data(), 62);
                frame::write_udp_headers(g.data(), gateway(), kNextHopMac, to,
                                         static_cast<uint32_t>(n), c);
                EXPECT_EQ(Bytes(g.data(), g.data() + 62), Bytes(f.begin(), f.begin() + 62));
            } else {
                EXPECT_EQ(f, plain) << "IPv4 header offload changes nothing for IPv6";
                EXPECT_NE(get16(f, kV6Udp + 6), 0);
                EXPECT_EQ(udp6_sum(f.data() + kIp, f.data() + kV6Udp, 8 + n), 0xFFFF);
            }
            Bytes a = f;
            Bytes b = plain;
            put16(a, kV6Udp + 6, 0);
            put16(b, kV6Udp + 6, 0);
            EXPECT_EQ(a, b) << "everything but the UDP checksum as without offload";

            device_finishes(f, c);
            EXPECT_EQ(udp6_sum(f.data() + kIp, f.data() + kV6Udp, 8 + n), 0xFFFF);
            EXPECT_EQ(get16(f, kV6Udp + 6), get16(plain, kV6Udp + 6)) << "the same sum either way";
            const Parsed p = parse_udp(f, peer_side(to));
            ASSERT_EQ(p.drop, FrameDrop::none);
            EXPECT_EQ(Bytes(f.begin() + p.offset, f.begin() + p.offset + p.length), data);
        }
    }
}

TEST(FrameWrite, EthernetHeaderIsDestinationSourceType) {
    uint8_t h[14] = {};
    frame::write_ethernet(h, kGatewayMac, kNextHopMac, 0x86DD);
    EXPECT_EQ(0, std::memcmp(h, kNextHopMac.addr_bytes, 6));
    EXPECT_EQ(0, std::memcmp(h + 6, kGatewayMac.addr_bytes, 6));
    EXPECT_EQ(get16(h + 12), 0x86DD);
}

TEST(FrameWrite, HeadersLenIsZeroWhenThereIsNoWayToSend) {
    const frame::UdpLocal both = gateway();
    EXPECT_EQ(frame::udp_headers_len(peer_v4(), both), 42u);
    EXPECT_EQ(frame::udp_headers_len(peer_v6(), both), 62u);

    MbufEndpoint no_port = peer_v4();
    no_port.port = 0;
    EXPECT_EQ(frame::udp_headers_len(no_port, both), 0u);
    no_port = peer_v6();
    no_port.port = 0;
    EXPECT_EQ(frame::udp_headers_len(no_port, both), 0u);

    MbufEndpoint no_family = peer_v4();
    no_family.family = 0;
    EXPECT_EQ(frame::udp_headers_len(no_family, both), 0u);
    no_family.family = 5;
    EXPECT_EQ(frame::udp_headers_len(no_family, both), 0u);

    EXPECT_EQ(frame::udp_headers_len(peer_v4(), gateway(false, true)), 0u);
    EXPECT_EQ(frame::udp_headers_len(peer_v6(), gateway(true, false)), 0u);
    EXPECT_EQ(frame::udp_headers_len(peer_v6(), gateway(false, true)), 62u);
    EXPECT_EQ(frame::udp_headers_len(peer_v4(), gateway(true, false)), 42u);
}

TEST(FrameDrops, EveryReasonHasItsOwnCounterName) {
    EXPECT_STREQ(frame::to_string(FrameDrop::none), "none");
    std::set<std::string> names;
    for (size_t i = 1; i < frame::kFrameDropCount; ++i) {
        const std::string name = frame::to_string(static_cast<FrameDrop>(i));
        EXPECT_EQ(name.rfind("frame_", 0), 0u) << name;
        names.insert(name);
    }
    EXPECT_EQ(names.size(), frame::kFrameDropCount - 1);
    EXPECT_STREQ(frame::to_string(FrameDrop::not_udp), "frame_not_udp");
}

// ---- parse_udp: what passes -------------------------------------------------------

TEST(ParseUdp, HandBuiltFramesOfBothFamiliesPass) {
    const Bytes data = payload(37);
    Parsed p = parse_udp(ipv4_udp(data));
    ASSERT_EQ(p.drop, FrameDrop::none);
    EXPECT_EQ(p.from, peer_v4()) << p.from.to_string();
    EXPECT_EQ(p.from.reserved, 0);
    EXPECT_EQ(p.offset, 42u);
    EXPECT_EQ(p.length, 37u);

    p = parse_udp(ipv6_udp(data));
    ASSERT_EQ(p.drop, FrameDrop::none);
    EXPECT_EQ(p.from, peer_v6()) << p.from.to_string();
    EXPECT_EQ(p.from.reserved, 0);
    EXPECT_EQ(p.offset, 62u);
    EXPECT_EQ(p.length, 37u);
}

TEST(ParseUdp, EthernetPaddingAndTrailingIpBytesAreNotPayload) {
    // 20 + 8 + 4 bytes of IPv4 padded to the 60-byte Ethernet minimum.
    Parsed p = parse_udp(ipv4_udp(payload(4), 14));
    ASSERT_EQ(p.drop, FrameDrop::none);
    EXPECT_EQ(p.offset, 42u);
    EXPECT_EQ(p.length, 4u);

    p = parse_udp(ipv6_udp(payload(4), 30));
    ASSERT_EQ(p.drop, FrameDrop::none);
    EXPECT_EQ(p.offset, 62u);
    EXPECT_EQ(p.length, 4u);

    // The IP packet is longer than the UDP datagram: the UDP length rules.
    Bytes f = ipv4_udp(payload(10));
    put16(f, kV4Udp + 4, 8 + 6);
    ASSERT_EQ(udp_drop(f), FrameDrop::none);
    EXPECT_EQ(parse_udp(f).length, 6u);
    f = ipv6_udp(payload(10));
    put16(f, kV6Udp + 4, 8 + 6);
    EXPECT_EQ(parse_udp(f).length, 6u);
}

TEST(ParseUdp, Ipv4OptionsMoveTheUdpHeader) {
    const Bytes nops = {1, 1, 1, 0};  // NOP NOP NOP EOL
    const Parsed p = parse_udp(ipv4_udp(payload(9), 0, nops));
    ASSERT_EQ(p.drop, FrameDrop::none);
    EXPECT_EQ(p.offset, 14u + 24u + 8u);
    EXPECT_EQ(p.length, 9u);
    EXPECT_EQ(p.from, peer_v4());
}

TEST(ParseUdp, DontFragmentIsNotAFragment) {
    Bytes f = ipv4_udp(payload(8));
    put16(f, kV4Flags, 0x4000);
    fix_ipv4_checksum(f);
    EXPECT_EQ(udp_drop(f), FrameDrop::none);
}

// ---- parse_udp: every reason to drop ----------------------------------------------

TEST(ParseUdp, AnotherMacIsNotForUs) {
    for (const rte_ether_addr& mac : {kOtherMac, kBroadcastMac}) {
        Bytes f = ipv4_udp(payload(8));
        std::memcpy(f.data(), mac.addr_bytes, 6);
        EXPECT_EQ(udp_drop(f), FrameDrop::not_for_us);
        f = ipv6_udp(payload(8));
        std::memcpy(f.data(), mac.addr_bytes, 6);
        EXPECT_EQ(udp_drop(f), FrameDrop::not_for_us);
    }
}

TEST(ParseUdp, AnotherDestinationAddressIsNotForUs) {
    Bytes f = ipv4_udp(payload(8));
    f[kV4Dst + 3] = 2;
    fix_ipv4_checksum(f);
    EXPECT_EQ(udp_drop(f), FrameDrop::not_for_us);

    f = ipv6_udp(payload(8));
    f[kV6Dst + 15] = 2;
    EXPECT_EQ(udp_drop(f), FrameDrop::not_for_us);
}

TEST(ParseUdp, AFamilyWithoutALocalAddressIsNotForUs) {
    EXPECT_EQ(udp_drop(ipv4_udp(payload(8)), gateway(false, true)), FrameDrop::not_for_us);
    EXPECT_EQ(udp_drop(ipv6_udp(payload(8)), gateway(true, false)), FrameDrop::not_for_us);
}

TEST(ParseUdp, AnotherPortIsNotForUs) {
    Bytes f = ipv4_udp(payload(8));
    put16(f, kV4Udp + 2, kGatewayPort + 1);
    EXPECT_EQ(udp_drop(f), FrameDrop::not_for_us);
    f = ipv6_udp(payload(8));
    put16(f, kV6Udp + 2, 53);
    EXPECT_EQ(udp_drop(f), FrameDrop::not_for_us);
}

TEST(ParseUdp, ArpAndVlanTagsAreNotIp) {
    EXPECT_EQ(udp_drop(arp_request()), FrameDrop::not_ip);
    Bytes f = ipv4_udp(payload(8));
    put16(f, 12, 0x8100);  // 802.1Q: not unwrapped
    EXPECT_EQ(udp_drop(f), FrameDrop::not_ip);
}

TEST(ParseUdp, TcpIsNotUdp) {
    Bytes f = ipv4_udp(payload(20));
    f[kV4Proto] = 6;
    fix_ipv4_checksum(f);
    EXPECT_EQ(udp_drop(f), FrameDrop::not_udp);

    f = ipv6_udp(payload(20));
    f[kV6Next] = 6;
    EXPECT_EQ(udp_drop(f), FrameDrop::not_udp);
}

TEST(ParseUdp, Ipv6ExtensionHeadersAreNotUdp) {
    const Bytes f = ipv6_hop_by_hop_udp(payload(8));
    EXPECT_EQ(udp_drop(f), FrameDrop::not_udp);
}

TEST(ParseUdp, EveryTruncationIsMalformedAndReadsNothingPastTheEnd) {
    for (const Bytes& f :
         {ipv4_udp(payload(24)), ipv6_udp(payload(24)), ipv4_udp(payload(5), 0, {1, 1, 1, 0})}) {
        ASSERT_EQ(udp_drop(f), FrameDrop::none);
        for (size_t len = 0; len < f.size(); ++len) {
            EXPECT_EQ(parse_udp(f, len).drop, FrameDrop::malformed) << len << " of " << f.size();
        }
    }
}

TEST(ParseUdp, ABadIpv4HeaderChecksumIsDropped) {
    Bytes f = ipv4_udp(payload(8));
    f[kV4Sum + 1] ^= 0x01;
    EXPECT_EQ(udp_drop(f), FrameDrop::bad_checksum);

    f = ipv4_udp(payload(8));
    f[kIp + 12] ^= 0x80;  // the source address changed on the way
    EXPECT_EQ(udp_drop(f), FrameDrop::bad_checksum);

    f = ipv4_udp(payload(8), 0, {1, 1, 1, 0});
    f[kIp + 22] ^= 0x01;  // an option byte: covered too
    EXPECT_EQ(udp_drop(f), FrameDrop::bad_checksum);
}

TEST(ParseUdp, FragmentsAreNotReassembled) {
    for (const uint16_t flags : {0x2000, 0x6000, 0x0001, 0x0100, 0x1FFF, 0x4001}) {
        Bytes f = ipv4_udp(payload(8));
        put16(f, kV4Flags, flags);
        fix_ipv4_checksum(f);
        EXPECT_EQ(udp_drop(f), FrameDrop::fragment) << std::hex << flags;
    }
}

TEST(ParseUdp, Ipv4LengthsThatDoNotAddUpAreMalformed) {
    const Bytes good = ipv4_udp(payload(8));
    const auto with = [&](size_t at, uint16_t v, bool fix) {
        Bytes f = good;
        put16(f, at, v);
        if (fix) fix_ipv4_checksum(f);
        return udp_drop(f);
    };
    const auto total = static_cast<uint16_t>(good.size() - kIp);
    EXPECT_EQ(with(kV4Total, total + 1, true), FrameDrop::malformed) << "total > frame";
    EXPECT_EQ(with(kV4Total, 0xFFFF, true), FrameDrop::malformed);
    EXPECT_EQ(with(kV4Total, 19, true), FrameDrop::malformed) << "total < ihl";
    EXPECT_EQ(with(kV4Total, 0, true), FrameDrop::malformed);
    EXPECT_EQ(with(kV4Total, 27, true), FrameDrop::malformed) << "no room for UDP";
    EXPECT_EQ(with(kV4Udp + 4, 8 + 8 + 1, false), FrameDrop::malformed) << "UDP > IP payload";
    EXPECT_EQ(with(kV4Udp + 4, 7, false), FrameDrop::malformed) << "UDP < 8";
    EXPECT_EQ(with(kV4Udp + 4, 0, false), FrameDrop::malformed);
    EXPECT_EQ(with(kV4Udp + 4, 8, false), FrameDrop::none) << "an empty datagram is one";

    // UDP claims the padding that follows the IP packet.
    Bytes f = ipv4_udp(payload(4), 14);
    put16(f, kV4Udp + 4, 8 + 4 + 1);
    EXPECT_EQ(udp_drop(f), FrameDrop::malformed);
}

TEST(ParseUdp, Ipv4HeaderFieldsThatDoNotAddUpAreMalformed) {
    for (const uint8_t first : {0x44, 0x40, 0x41}) {  // ihl < 5
        Bytes f = ipv4_udp(payload(8));
        f[kIp] = first;
        fix_ipv4_checksum(f);
        EXPECT_EQ(udp_drop(f), FrameDrop::malformed) << std::hex << int{first};
    }
    Bytes f = ipv4_udp(payload(8));
    f[kIp] = 0x4F;  // 60 bytes of header in a 36-byte packet
    EXPECT_EQ(udp_drop(f), FrameDrop::malformed);
    f = ipv4_udp(payload(8));
    f[kIp] = 0x65;  // version 6 under the IPv4 ethertype
    EXPECT_EQ(udp_drop(f), FrameDrop::malformed);
    f = ipv6_udp(payload(8));
    f[kIp] = 0x45;  // version 4 under the IPv6 ethertype
    EXPECT_EQ(udp_drop(f), FrameDrop::malformed);
}

TEST(ParseUdp, Ipv6LengthsThatDoNotAddUpAreMalformed) {
    Bytes f = ipv6_udp(payload(8));
    put16(f, kV6PayloadLen, static_cast<uint16_t>(f.size() - kV6Udp + 1));
    EXPECT_EQ(udp_drop(f), FrameDrop::malformed) << "payload > frame";
    f = ipv6_udp(payload(8));
    put16(f, kV6PayloadLen, 7);
    EXPECT_EQ(udp_drop(f), FrameDrop::malformed) << "no room for UDP";
    f = ipv6_udp(payload(8), 20);
    put16(f, kV6Udp + 4, 8 + 8 + 1);
    EXPECT_EQ(udp_drop(f), FrameDrop::malformed) << "UDP > IPv6 payload, padding or not";
    f = ipv6_udp(payload(8));
    put16(f, kV6Udp + 4, 7);
    EXPECT_EQ(udp_drop(f), FrameDrop::malformed) << "UDP < 8";
    f = ipv6_udp(payload(8));
    put16(f, kV6Udp + 4, 0);  // a jumbogram's: not for a WireGuard port
    EXPECT_EQ(udp_drop(f), FrameDrop::malformed);
}

TEST(ParseUdp, AFrameWithManyFaultsIsDroppedForTheFirstChecked) {
    // A frame with every fault is dropped for the outermost one.
    Bytes f = ipv4_udp(payload(8));
    f[kV4Proto] = 6;
    f[kV4Dst] = 10;
    put16(f, kV4Flags, 0x2000);
    EXPECT_EQ(udp_drop(f), FrameDrop::bad_checksum);
    fix_ipv4_checksum(f);
    EXPECT_EQ(udp_drop(f), FrameDrop::fragment);
    std::memcpy(f.data(), kOtherMac.addr_bytes, 6);
    EXPECT_EQ(udp_drop(f), FrameDrop::not_for_us);
}

// ---- parse_ip -----------------------------------------------------------------------

TEST(ParseIp, PacketsOfBothFamiliesPassWhole) {
    const Bytes v4 = ipv4_udp(payload(30));
    Parsed p = parse_ip(v4);
    ASSERT_EQ(p.drop, FrameDrop::none);
    EXPECT_EQ(p.offset, 14u);
    EXPECT_EQ(p.length, v4.size() - 14);

    const Bytes v6 = ipv6_udp(payload(30));
    p = parse_ip(v6);
    ASSERT_EQ(p.drop, FrameDrop::none);
    EXPECT_EQ(p.offset, 14u);
    EXPECT_EQ(p.length, v6.size() - 14);

    // Any protocol over IP: the LAN carries what the peers send.
    Bytes tcp = ipv4_udp(payload(30));
    tcp[kV4Proto] = 6;
    fix_ipv4_checksum(tcp);
    EXPECT_EQ(ip_drop(tcp), FrameDrop::none);
    EXPECT_EQ(ip_drop(ipv6_hop_by_hop_udp(payload(8))), FrameDrop::none);
}

TEST(ParseIp, EthernetPaddingIsCutOff) {
    const Bytes f = ipv4_udp({}, 18);  // a 28-byte IPv4 packet in a 60-byte frame
    ASSERT_EQ(f.size(), 60u);
    Parsed p = parse_ip(f);
    ASSERT_EQ(p.drop, FrameDrop::none);
    EXPECT_EQ(p.offset, 14u);
    EXPECT_EQ(p.length, 28u);

    p = parse_ip(ipv6_udp({}, 10));
    ASSERT_EQ(p.drop, FrameDrop::none);
    EXPECT_EQ(p.length, 48u);
}

TEST(ParseIp, AnotherMacOrEthertypeIsDropped) {
    Bytes f = ipv4_udp(payload(8));
    std::memcpy(f.data(), kOtherMac.addr_bytes, 6);
    EXPECT_EQ(ip_drop(f), FrameDrop::not_for_us);
    EXPECT_EQ(ip_drop(ipv4_udp(payload(8)), kOtherMac), FrameDrop::not_for_us);
    EXPECT_EQ(ip_drop(arp_request()), FrameDrop::not_ip);
}

TEST(ParseIp, LengthsThatDoNotAddUpAreMalformed) {
    Bytes f = ipv4_udp(payload(8));
    put16(f, kV4Total, static_cast<uint16_t>(f.size() - kIp + 1));
    EXPECT_EQ(ip_drop(f), FrameDrop::malformed) << "total > frame";
    put16(f, kV4Total, 19);
    EXPECT_EQ(ip_drop(f), FrameDrop::malformed) << "total < a header";
    f = ipv4_udp(payload(8));
    f[kIp] = 0x65;
    EXPECT_EQ(ip_drop(f), FrameDrop::malformed) << "version 6 under the IPv4 ethertype";

    f = ipv6_udp(payload(8));
    put16(f, kV6PayloadLen, static_cast<uint16_t>(f.size() - kV6Udp + 1));
    EXPECT_EQ(ip_drop(f), FrameDrop::malformed) << "payload > frame";
    f = ipv6_udp(payload(8));
    f[kIp] = 0x45;
    EXPECT_EQ(ip_drop(f), FrameDrop::malformed) << "version 4 under the IPv6 ethertype";
}

TEST(ParseIp, EveryTruncationIsMalformedAndReadsNothingPastTheEnd) {
    for (const Bytes& f : {ipv4_udp(payload(24)), ipv6_udp(payload(24))}) {
        ASSERT_EQ(ip_drop(f), FrameDrop::none);
        for (size_t len = 0; len < f.size(); ++len) {
            EXPECT_EQ(parse_ip(f, len).drop, FrameDrop::malformed) << len << " of " << f.size();
        }
    }
}

// ---- The adapters over a fake Ethernet port ------------------------------------------

[[maybe_unused]] const auto* const g_eal = EalEnvironment::add("frame-test", 128);

// The lower l2 port: frames queued for rx by the test, frames sent kept for
// it to look at. Its own figures are fixed, to see the adapter add to them.
class FakeEthernet final : public Port {
public:
    explicit FakeEthernet(uint16_t queues) : rx(queues) {
        figures.rx_packets = 100;
        figures.rx_errors = 7;
        figures.tx_errors = 5;
    }
    ~FakeEthernet() override {
        for (auto& q : rx)
            for (rte_mbuf* m : q) rte_pktmbuf_free(m);
        for (const Sent& s : sent) rte_pktmbuf_free(s.m);
    }
    FakeEthernet(const FakeEthernet&) = delete;
    FakeEthernet& operator=(const FakeEthernet&) = delete;

    [[nodiscard]] const std::string& name() const noexcept override { return name_; }
    [[nodiscard]] PortKind kind() const noexcept override { return PortKind::l2_ethernet; }
    [[nodiscard]] uint16_t queue_count() const noexcept override {
        return static_cast<uint16_t>(rx.size());
    }
    uint16_t rx_burst(uint16_t q, rte_mbuf** pkts, uint16_t n) noexcept override {
        uint16_t got = 0;
        while (got < n && !rx[q].empty()) {
            pkts[got++] = rx[q].front();
            rx[q].pop_front();
        }
        return got;
    }
    uint16_t tx_burst(uint16_t q, rte_mbuf** pkts, uint16_t n) noexcept override {
        ++tx_calls;
        for (uint16_t i = 0; i < n; ++i) sent.push_back({pkts[i], q});
        return n;
    }
    [[nodiscard]] int wait_fd(uint16_t q) const noexcept override { return 100 + q; }
    [[nodiscard]] bool rx_pending(uint16_t q) const noexcept override { return q == 1; }
    [[nodiscard]] PortStats stats() const noexcept override { return figures; }

    struct Sent {
        rte_mbuf* m;
        uint16_t queue;
    };
    std::vector<std::deque<rte_mbuf*>> rx;
    std::vector<Sent> sent;
    int tx_calls = 0;
    PortStats figures;

private:
    std::string name_ = "fake0";
};

// A pktmbuf pool without a per-lcore cache, so that what the test counts is
// exactly what the pool holds.
class Pool {
public:
    explicit Pool(unsigned size) : size_(size) {
        static int serial = 0;
        const std::string name = "frame_test_" + std::to_string(serial++);
        pool_ = rte_pktmbuf_pool_create(name.c_str(), size, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                        SOCKET_ID_ANY);
    }
    ~Pool() { rte_mempool_free(pool_); }
    Pool(const Pool&) = delete;
    Pool& operator=(const Pool&) = delete;
    [[nodiscard]] rte_mempool* get() const { return pool_; }
    [[nodiscard]] bool full() const { return rte_mempool_avail_count(pool_) == size_; }
    [[nodiscard]] unsigned available() const { return rte_mempool_avail_count(pool_); }

private:
    rte_mempool* pool_ = nullptr;
    unsigned size_;
};

Bytes bytes_of(const rte_mbuf* m) {
    EXPECT_EQ(m->nb_segs, 1);
    EXPECT_EQ(rte_pktmbuf_pkt_len(m), rte_pktmbuf_data_len(m));
    const auto* p = rte_pktmbuf_mtod(m, const uint8_t*);
    return Bytes(p, p + rte_pktmbuf_data_len(m));
}

class AdapterTest : public ::testing::Test {
protected:
    static constexpr unsigned kPoolSize = 63;
    static constexpr uint16_t kQueues = 2;

    void SetUp() override { ASSERT_NE(pool.get(), nullptr); }

    // `headroom` other than the default: the room left in front of the data.
    rte_mbuf* mbuf(const Bytes& b, const MbufEndpoint& ep = {}, int headroom = -1) {
        rte_mbuf* m = rte_pktmbuf_alloc(pool.get());
        EXPECT_NE(m, nullptr);
        if (m == nullptr) return nullptr;
        if (headroom >= 0) m->data_off = static_cast<uint16_t>(headroom);
        char* p = rte_pktmbuf_append(m, static_cast<uint16_t>(b.size()));
        EXPECT_TRUE(p != nullptr || b.empty());
        if (!b.empty()) std::memcpy(p, b.data(), b.size());
        *mbuf_endpoint(m) = ep;
        return m;
    }

    // The frame split over two segments after `first` bytes.
    rte_mbuf* chain(const Bytes& b, size_t first) {
        rte_mbuf* head = mbuf(Bytes(b.begin(), b.begin() + static_cast<long>(first)));
        rte_mbuf* tail = mbuf(Bytes(b.begin() + static_cast<long>(first), b.end()));
        EXPECT_EQ(rte_pktmbuf_chain(head, tail), 0);
        return head;
    }

    void receive_later(const Bytes& f, uint16_t q = 0) { lower.rx[q].push_back(mbuf(f)); }

    std::vector<rte_mbuf*> receive(Port& port, uint16_t q, uint16_t n = 32) {
        std::vector<rte_mbuf*> pkts(n);
        pkts.resize(port.rx_burst(q, pkts.data(), n));
        return pkts;
    }

    static void release(std::vector<rte_mbuf*>& pkts) {
        for (rte_mbuf* m : pkts) rte_pktmbuf_free(m);
        pkts.clear();
    }

    void release_sent() {
        for (const FakeEthernet::Sent& s : lower.sent) rte_pktmbuf_free(s.m);
        lower.sent.clear();
    }

    Pool pool{kPoolSize};
    FakeEthernet lower{kQueues};
};

FrameDropCounts only(std::initializer_list<std::pair<FrameDrop, uint64_t>> counts) {
    FrameDropCounts c{};
    for (const auto& [drop, n] : counts) c[static_cast<size_t>(drop)] = n;
    return c;
}

std::string describe(const FrameDropCounts& c) {
    std::string s;
    for (size_t i = 0; i < c.size(); ++i)
        if (c[i] != 0)
            s += std::string(frame::to_string(static_cast<FrameDrop>(i))) + "=" +
                 std::to_string(c[i]) + " ";
    return s;
}

TEST_F(AdapterTest, BothAdaptersAnswerForTheLowerPort) {
    UdpOverEthernet wan(lower, "wan", gateway(), kNextHopMac);
    IpOverEthernet lan(lower, "lan", kGatewayMac, kNextHopMac);
    EXPECT_EQ(wan.name(), "wan");
    EXPECT_EQ(lan.name(), "lan");
    EXPECT_EQ(wan.kind(), PortKind::l3_udp);
    EXPECT_EQ(lan.kind(), PortKind::l3_tun);
    EXPECT_EQ(wan.queue_count(), kQueues);
    EXPECT_EQ(wan.wait_fd(1), 101);
    EXPECT_FALSE(lan.rx_pending(0));
    EXPECT_TRUE(lan.rx_pending(1));
    EXPECT_EQ(&wan.lower(), &lower);
    EXPECT_EQ(wan.drops(), FrameDropCounts{});
    EXPECT_EQ(wan.stats().rx_errors, 7u);
    EXPECT_EQ(wan.stats().tx_errors, 5u);
    EXPECT_EQ(wan.stats().rx_packets, 100u);
}

TEST_F(AdapterTest, UdpRxStripsTheHeadersAndRecordsTheSender) {
    UdpOverEthernet wan(lower, "wan", gateway(), kNextHopMac);
    const Bytes a = payload(100, 1);
    const Bytes b = payload(3, 2);
    receive_later(ipv4_udp(a));
    receive_later(ipv6_udp(b, 7));                                        // padded
    lower.rx[0].push_back(mbuf(ipv4_udp(payload(16, 3)), gateway_v6()));  // stale endpoint

    auto got = receive(wan, 0);
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(bytes_of(got[0]), a);
    EXPECT_EQ(*mbuf_endpoint(got[0]), peer_v4()) << mbuf_endpoint(got[0])->to_string();
    EXPECT_EQ(bytes_of(got[1]), b);
    EXPECT_EQ(*mbuf_endpoint(got[1]), peer_v6()) << mbuf_endpoint(got[1])->to_string();
    EXPECT_EQ(bytes_of(got[2]), payload(16, 3));
    EXPECT_EQ(*mbuf_endpoint(got[2]), peer_v4()) << "the sender, not what the mbuf held";
    EXPECT_EQ(mbuf_endpoint(got[2])->reserved, 0);
    EXPECT_EQ(wan.drops(), FrameDropCounts{});
    release(got);
    EXPECT_TRUE(pool.full());
}

TEST_F(AdapterTest, UdpRxTakesNoMoreThanAskedFor) {
    UdpOverEthernet wan(lower, "wan", gateway(), kNextHopMac);
    for (int i = 0; i < 3; ++i) receive_later(ipv4_udp(payload(10, static_cast<uint8_t>(i))));
    auto got = receive(wan, 0, 2);
    EXPECT_EQ(got.size(), 2u);
    release(got);
    got = receive(wan, 0, 2);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(bytes_of(got[0]), payload(10, 2));
    release(got);
    EXPECT_TRUE(receive(wan, 0).empty());
    EXPECT_TRUE(pool.full());
}

TEST_F(AdapterTest, UdpRxDropsAreCountedPerReasonAndFreed) {
    UdpOverEthernet wan(lower, "wan", gateway(), kNextHopMac);
    const Bytes good4 = ipv4_udp(payload(20, 1));
    Bytes other_mac = good4;
    std::memcpy(other_mac.data(), kOtherMac.addr_bytes, 6);
    Bytes tcp = good4;
    tcp[kV4Proto] = 6;
    fix_ipv4_checksum(tcp);
    Bytes bad_sum = good4;
    bad_sum[kV4Sum] ^= 0x10;
    Bytes more_fragments = good4;
    put16(more_fragments, kV4Flags, 0x2000);
    fix_ipv4_checksum(more_fragments);
    Bytes short_ihl = good4;
    short_ihl[kIp] = 0x44;
    fix_ipv4_checksum(short_ihl);

    receive_later(good4);
    receive_later(other_mac);
    receive_later(arp_request());
    receive_later(ipv6_udp(payload(20, 2)));
    receive_later(tcp);
    receive_later(bad_sum);
    receive_later(more_fragments);
    receive_later(Bytes(good4.begin(), good4.begin() + 20));
    receive_later(short_ihl);
    lower.rx[0].push_back(chain(good4, 30));  // a good frame, but in two segments
    receive_later(ipv6_hop_by_hop_udp(payload(8)));

    Bytes other_port = good4;
    put16(other_port, kV4Udp + 2, 4500);
    Bytes offset_fragment = good4;
    put16(offset_fragment, kV4Flags, 0x0010);
    fix_ipv4_checksum(offset_fragment);
    receive_later(other_port, 1);
    receive_later(offset_fragment, 1);

    auto got = receive(wan, 0);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(bytes_of(got[0]), payload(20, 1));
    EXPECT_EQ(bytes_of(got[1]), payload(20, 2));
    release(got);
    EXPECT_TRUE(receive(wan, 1).empty());

    const FrameDropCounts expected = only({{FrameDrop::not_for_us, 2},
                                           {FrameDrop::not_ip, 1},
                                           {FrameDrop::not_udp, 2},
                                           {FrameDrop::malformed, 3},
                                           {FrameDrop::bad_checksum, 1},
                                           {FrameDrop::fragment, 2}});
    EXPECT_EQ(wan.drops(), expected) << describe(wan.drops());
    const PortStats s = wan.stats();
    EXPECT_EQ(s.rx_errors, 7u + 11u) << "the device's and ours";
    EXPECT_EQ(s.tx_errors, 5u);
    EXPECT_EQ(s.rx_packets, 100u);
    EXPECT_TRUE(pool.full()) << pool.available() << " of " << kPoolSize;
}

TEST_F(AdapterTest, UdpTxPrependsHeadersThatParseBack) {
    UdpOverEthernet wan(lower, "wan", gateway(), kNextHopMac);
    const Bytes a = payload(148, 1);
    const Bytes b = payload(33, 2);
    rte_mbuf* pkts[2] = {mbuf(a, peer_v4()), mbuf(b, peer_v6())};
    EXPECT_EQ(wan.tx_burst(1, pkts, 2), 2);
    ASSERT_EQ(lower.sent.size(), 2u);
    EXPECT_EQ(lower.tx_calls, 1) << "one burst down";

    struct Want {
        MbufEndpoint to, from;
        const Bytes& data;
        size_t hlen;
    };
    const Want want[2] = {{peer_v4(), gateway_v4(), a, 42}, {peer_v6(), gateway_v6(), b, 62}};
    for (size_t i = 0; i < 2; ++i) {
        SCOPED_TRACE(i);
        EXPECT_EQ(lower.sent[i].queue, 1);
        const Bytes f = bytes_of(lower.sent[i].m);
        ASSERT_EQ(f.size(), want[i].hlen + want[i].data.size());
        EXPECT_EQ(0, std::memcmp(f.data(), kNextHopMac.addr_bytes, 6));
        const Parsed p = parse_udp(f, peer_side(want[i].to));
        ASSERT_EQ(p.drop, FrameDrop::none);
        EXPECT_EQ(p.from, want[i].from) << p.from.to_string();
        EXPECT_EQ(p.offset, want[i].hlen);
        EXPECT_EQ(Bytes(f.begin() + p.offset, f.begin() + p.offset + p.length), want[i].data);
    }
    const Bytes f6 = bytes_of(lower.sent[1].m);
    EXPECT_EQ(udp6_sum(f6.data() + kIp, f6.data() + kV6Udp, 8 + b.size()), 0xFFFF);
    EXPECT_EQ(ones_sum(bytes_of(lower.sent[0].m).data() + kIp, 20), 0xFFFF);
    EXPECT_EQ(wan.drops(), FrameDropCounts{});
    release_sent();
    EXPECT_TRUE(pool.full());
}

TEST_F(AdapterTest, UdpTxWithoutARouteCountsAndFrees) {
    UdpOverEthernet wan(lower, "wan", gateway(true, false), kNextHopMac);  // no IPv6 address
    MbufEndpoint none;
    none.port = kPeerPort;
    MbufEndpoint no_port = peer_v4();
    no_port.port = 0;
    MbufEndpoint odd_family = peer_v4();
    odd_family.family = 5;
    rte_mbuf* pkts[5] = {mbuf(payload(10), none), mbuf(payload(10), no_port),
                         mbuf(payload(10), peer_v4()), mbuf(payload(10), peer_v6()),
                         mbuf(payload(10), odd_family)};
    EXPECT_EQ(wan.tx_burst(0, pkts, 5), 1);
    ASSERT_EQ(lower.sent.size(), 1u);
    EXPECT_EQ(parse_udp(bytes_of(lower.sent[0].m), peer_side(peer_v4())).drop, FrameDrop::none);
    EXPECT_EQ(wan.drops(), only({{FrameDrop::no_route, 4}})) << describe(wan.drops());
    EXPECT_EQ(wan.stats().tx_errors, 5u + 4u);
    EXPECT_EQ(wan.stats().rx_errors, 7u);
    release_sent();
    EXPECT_TRUE(pool.full()) << pool.available() << " of " << kPoolSize;

    // A burst with nothing left to send does not reach the device.
    rte_mbuf* lost[1] = {mbuf(payload(10), none)};
    EXPECT_EQ(wan.tx_burst(0, lost, 1), 0);
    EXPECT_EQ(lower.tx_calls, 1);
    EXPECT_TRUE(pool.full());
}

TEST_F(AdapterTest, UdpTxDropsChainedIpv6PacketsItCannotChecksum) {
    UdpOverEthernet wan(lower, "wan", gateway(), kNextHopMac);
    rte_mbuf* v6 = mbuf(payload(100), peer_v6());
    ASSERT_EQ(rte_pktmbuf_chain(v6, mbuf(payload(200), peer_v6())), 0);
    rte_mbuf* v4 = mbuf(payload(100), peer_v4());
    ASSERT_EQ(rte_pktmbuf_chain(v4, mbuf(payload(200), peer_v4())), 0);
    rte_mbuf* pkts[2] = {v6, v4};
    // No UDP offload: IPv4 goes out with checksum 0 and its chain as it is;
    // IPv6 would need the checksum over both segments, so it is dropped and
    // counted.
    EXPECT_EQ(wan.tx_burst(0, pkts, 2), 1);
    ASSERT_EQ(lower.sent.size(), 1u);
    EXPECT_EQ(lower.sent[0].m->nb_segs, 2);
    EXPECT_EQ(wan.drops(), only({{FrameDrop::chained, 1}})) << describe(wan.drops());
    release_sent();
    EXPECT_TRUE(pool.full()) << pool.available() << " of " << kPoolSize;
}

// Every segment's bytes, in order.
Bytes all_bytes(const rte_mbuf* m) {
    Bytes b;
    for (const rte_mbuf* s = m; s != nullptr; s = s->next)
        append(b, rte_pktmbuf_mtod(s, const uint8_t*), rte_pktmbuf_data_len(s));
    EXPECT_EQ(b.size(), rte_pktmbuf_pkt_len(m));
    return b;
}

// TX offload flags and lengths an mbuf may carry from its last use.
constexpr uint64_t kStaleTxFlags = RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_VLAN |
                                   RTE_MBUF_F_TX_TCP_CKSUM | RTE_MBUF_F_TX_OUTER_IPV4 |
                                   RTE_MBUF_F_TX_IPV6 | RTE_MBUF_F_TX_IP_CKSUM;
void make_stale(rte_mbuf* m) {
    m->ol_flags |= kStaleTxFlags;
    m->l2_len = 18;
    m->l3_len = 60;
    m->l4_len = 20;
}

TEST_F(AdapterTest, UdpTxAsksTheDeviceForTheChecksumsItOffloads) {
    struct Case {
        frame::TxChecksum offload;
        uint64_t v4, v6;  // the TX flags each frame goes with
    };
    const Case cases[] = {
        {{false, false}, 0, 0},
        {{true, false}, RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM, 0},
        {{false, true}, RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_UDP_CKSUM,
         RTE_MBUF_F_TX_IPV6 | RTE_MBUF_F_TX_UDP_CKSUM},
        {{true, true}, RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_UDP_CKSUM,
         RTE_MBUF_F_TX_IPV6 | RTE_MBUF_F_TX_UDP_CKSUM},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(describe(c.offload));
        UdpOverEthernet wan(lower, "wan", gateway(), kNextHopMac, nullptr, c.offload);
        EXPECT_EQ(wan.tx_checksum().ipv4_header, c.offload.ipv4_header);
        EXPECT_EQ(wan.tx_checksum().udp, c.offload.udp);
        const Bytes a = payload(101, 1);
        const Bytes b = payload(48, 2);
        rte_mbuf* pkts[2] = {mbuf(a, peer_v4()), mbuf(b, peer_v6())};
        for (rte_mbuf* m : pkts) make_stale(m);
        ASSERT_EQ(wan.tx_burst(0, pkts, 2), 2);
        ASSERT_EQ(lower.sent.size(), 2u);

        const rte_mbuf* m4 = lower.sent[0].m;
        const rte_mbuf* m6 = lower.sent[1].m;
        EXPECT_EQ(m4->ol_flags & RTE_MBUF_F_TX_OFFLOAD_MASK, c.v4) << "nothing stale left";
        EXPECT_EQ(m6->ol_flags & RTE_MBUF_F_TX_OFFLOAD_MASK, c.v6) << "nothing stale left";
        if (c.v4 != 0) {
            EXPECT_EQ(m4->l2_len, 14u);
            EXPECT_EQ(m4->l3_len, 20u);
            EXPECT_EQ(m4->l4_len, 8u);
        }
        if (c.v6 != 0) {
            EXPECT_EQ(m6->l2_len, 14u);
            EXPECT_EQ(m6->l3_len, 40u);
            EXPECT_EQ(m6->l4_len, 8u);
        }

        Bytes f4 = bytes_of(m4);
        Bytes f6 = bytes_of(m6);
        if (c.offload.ipv4_header) {
            EXPECT_EQ(get16(f4, kV4Sum), 0);
        } else {
            EXPECT_EQ(ones_sum(f4.data() + kIp, 20), 0xFFFF);
        }
        EXPECT_EQ(get16(f4, kV4Udp + 6),
                  c.offload.udp ? pseudo_sum4(kGatewayV4, kPeerV4, 8 + 101) : 0);
        if (c.offload.udp) {
            EXPECT_EQ(get16(f6, kV6Udp + 6), pseudo_sum6(kGatewayV6, kPeerV6, 8 + 48));
        } else {
            EXPECT_EQ(udp6_sum(f6.data() + kIp, f6.data() + kV6Udp, 8 + 48), 0xFFFF);
        }
        device_finishes(f4, c.offload);
        device_finishes(f6, c.offload);
        if (c.offload.udp) {
            EXPECT_EQ(udp4_sum(f4.data() + kIp, f4.data() + kV4Udp, 8 + 101), 0xFFFF);
        }
        EXPECT_EQ(udp6_sum(f6.data() + kIp, f6.data() + kV6Udp, 8 + 48), 0xFFFF);
        const Parsed p4 = parse_udp(f4, peer_side(peer_v4()));
        ASSERT_EQ(p4.drop, FrameDrop::none);
        EXPECT_EQ(Bytes(f4.begin() + p4.offset, f4.begin() + p4.offset + p4.length), a);
        const Parsed p6 = parse_udp(f6, peer_side(peer_v6()));
        ASSERT_EQ(p6.drop, FrameDrop::none);
        EXPECT_EQ(Bytes(f6.begin() + p6.offset, f6.begin() + p6.offset + p6.length), b);
        EXPECT_EQ(wan.drops(), FrameDropCounts{});
        release_sent();
        EXPECT_TRUE(pool.full());
    }
}

TEST_F(AdapterTest, UdpTxWithUdpOffloadSendsChainedIpv6Whole) {
    UdpOverEthernet wan(lower, "wan", gateway(), kNextHopMac, nullptr, {false, true});
    const Bytes a = payload(100, 1);
    const Bytes b = payload(201, 2);
    rte_mbuf* v6 = mbuf(a, peer_v6());
    ASSERT_EQ(rte_pktmbuf_chain(v6, mbuf(b)), 0);
    make_stale(v6);
    rte_mbuf* pkts[1] = {v6};
    EXPECT_EQ(wan.tx_burst(0, pkts, 1), 1);
    ASSERT_EQ(lower.sent.size(), 1u);
    const rte_mbuf* m = lower.sent[0].m;
    EXPECT_EQ(m->nb_segs, 2);
    EXPECT_EQ(m->ol_flags & RTE_MBUF_F_TX_OFFLOAD_MASK,
              RTE_MBUF_F_TX_IPV6 | RTE_MBUF_F_TX_UDP_CKSUM);
    EXPECT_EQ(m->l2_len, 14u);
    EXPECT_EQ(m->l3_len, 40u);
    EXPECT_EQ(wan.drops(), FrameDropCounts{}) << describe(wan.drops());

    Bytes f = all_bytes(m);
    ASSERT_EQ(f.size(), 62 + a.size() + b.size());
    EXPECT_EQ(get16(f, kV6Udp + 4), 8 + a.size() + b.size());
    EXPECT_EQ(get16(f, kV6Udp + 6), pseudo_sum6(kGatewayV6, kPeerV6, 8 + 301));
    device_finishes(f, {false, true});
    EXPECT_EQ(udp6_sum(f.data() + kIp, f.data() + kV6Udp, 8 + 301), 0xFFFF);
    const Parsed p = parse_udp(f, peer_side(peer_v6()));
    ASSERT_EQ(p.drop, FrameDrop::none);
    Bytes whole = a;
    append(whole, b.data(), b.size());
    EXPECT_EQ(Bytes(f.begin() + p.offset, f.begin() + p.offset + p.length), whole);
    release_sent();
    EXPECT_TRUE(pool.full()) << pool.available() << " of " << kPoolSize;
}

TEST_F(AdapterTest, UdpTxWithoutHeadroomCountsAndFrees) {
    UdpOverEthernet wan(lower, "wan", gateway(), kNextHopMac);
    rte_mbuf* pkts[4] = {mbuf(payload(10), peer_v4(), 41), mbuf(payload(10), peer_v4(), 42),
                         mbuf(payload(10), peer_v6(), 61), mbuf(payload(10), peer_v6(), 62)};
    EXPECT_EQ(wan.tx_burst(0, pkts, 4), 2);
    ASSERT_EQ(lower.sent.size(), 2u);
    EXPECT_EQ(rte_pktmbuf_headroom(lower.sent[0].m), 0);
    EXPECT_EQ(parse_udp(bytes_of(lower.sent[0].m), peer_side(peer_v4())).drop, FrameDrop::none);
    EXPECT_EQ(parse_udp(bytes_of(lower.sent[1].m), peer_side(peer_v6())).drop, FrameDrop::none);
    EXPECT_EQ(wan.drops(), only({{FrameDrop::no_headroom, 2}})) << describe(wan.drops());
    EXPECT_EQ(wan.stats().tx_errors, 5u + 2u);
    release_sent();
    EXPECT_TRUE(pool.full());
}

TEST_F(AdapterTest, IpRxStripsEthernetAndPadding) {
    IpOverEthernet lan(lower, "lan", kGatewayMac, kNextHopMac);
    const Bytes v4 = ipv4_udp({}, 18);  // 28 bytes of IPv4 in 60
    const Bytes v6 = ipv6_udp(payload(40), 3);
    receive_later(v4, 1);
    receive_later(v6, 1);
    auto got = receive(lan, 1);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(bytes_of(got[0]), Bytes(v4.begin() + 14, v4.begin() + 14 + 28));
    EXPECT_EQ(bytes_of(got[1]), Bytes(v6.begin() + 14, v6.end() - 3));
    release(got);
    EXPECT_EQ(lan.drops(), FrameDropCounts{});
    EXPECT_TRUE(pool.full());
}

TEST_F(AdapterTest, IpRxDropsAreCountedPerReasonAndFreed) {
    IpOverEthernet lan(lower, "lan", kGatewayMac, kNextHopMac);
    const Bytes good = ipv6_udp(payload(20));
    Bytes other_mac = good;
    std::memcpy(other_mac.data(), kBroadcastMac.addr_bytes, 6);
    Bytes too_long = ipv4_udp(payload(20));
    put16(too_long, kV4Total, 200);
    receive_later(other_mac);
    receive_later(arp_request());
    receive_later(good);
    receive_later(Bytes(good.begin(), good.begin() + 50));
    receive_later(too_long);
    lower.rx[0].push_back(chain(good, 14));
    auto got = receive(lan, 0);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(bytes_of(got[0]), Bytes(good.begin() + 14, good.end()));
    release(got);
    const FrameDropCounts expected =
        only({{FrameDrop::not_for_us, 1}, {FrameDrop::not_ip, 1}, {FrameDrop::malformed, 3}});
    EXPECT_EQ(lan.drops(), expected) << describe(lan.drops());
    EXPECT_EQ(lan.stats().rx_errors, 7u + 5u);
    EXPECT_EQ(lan.stats().tx_errors, 5u);
    EXPECT_TRUE(pool.full());
}

TEST_F(AdapterTest, IpTxPicksTheEthertypeFromTheIpVersion) {
    IpOverEthernet lan(lower, "lan", kGatewayMac, kNextHopMac);
    const Bytes f4 = ipv4_udp(payload(30));
    const Bytes f6 = ipv6_udp(payload(30));
    const Bytes v4(f4.begin() + 14, f4.end());
    const Bytes v6(f6.begin() + 14, f6.end());
    rte_mbuf* pkts[2] = {mbuf(v6), mbuf(v4)};
    EXPECT_EQ(lan.tx_burst(0, pkts, 2), 2);
    ASSERT_EQ(lower.sent.size(), 2u);
    const Bytes s6 = bytes_of(lower.sent[0].m);
    const Bytes s4 = bytes_of(lower.sent[1].m);
    for (const Bytes* s : {&s6, &s4}) {
        EXPECT_EQ(0, std::memcmp(s->data(), kNextHopMac.addr_bytes, 6));
        EXPECT_EQ(0, std::memcmp(s->data() + 6, kGatewayMac.addr_bytes, 6));
    }
    EXPECT_EQ(get16(s6, 12), 0x86DD);
    EXPECT_EQ(get16(s4, 12), 0x0800);
    EXPECT_EQ(Bytes(s6.begin() + 14, s6.end()), v6);
    EXPECT_EQ(Bytes(s4.begin() + 14, s4.end()), v4);
    // What the next hop makes of it.
    const Parsed p = parse_ip(s4, kNextHopMac);
    ASSERT_EQ(p.drop, FrameDrop::none);
    EXPECT_EQ(p.length, v4.size());
    EXPECT_EQ(parse_ip(s6, kNextHopMac).length, v6.size());
    release_sent();
    EXPECT_TRUE(pool.full());
}

TEST_F(AdapterTest, IpTxWithoutHeadroomCountsAndFrees) {
    IpOverEthernet lan(lower, "lan", kGatewayMac, kNextHopMac);
    const Bytes f4 = ipv4_udp(payload(30));
    const Bytes v4(f4.begin() + 14, f4.end());
    rte_mbuf* pkts[2] = {mbuf(v4, {}, 13), mbuf(v4, {}, 14)};
    EXPECT_EQ(lan.tx_burst(0, pkts, 2), 1);
    ASSERT_EQ(lower.sent.size(), 1u);
    Bytes want = f4;  // the frame it came from, but from us to the next hop
    std::memcpy(want.data(), kNextHopMac.addr_bytes, 6);
    std::memcpy(want.data() + 6, kGatewayMac.addr_bytes, 6);
    EXPECT_EQ(bytes_of(lower.sent[0].m), want);
    EXPECT_EQ(lan.drops(), only({{FrameDrop::no_headroom, 1}})) << describe(lan.drops());
    EXPECT_EQ(lan.stats().tx_errors, 5u + 1u);
    EXPECT_EQ(lan.stats().rx_errors, 7u);
    release_sent();

    rte_mbuf* lost[1] = {mbuf(v4, {}, 0)};
    EXPECT_EQ(lan.tx_burst(0, lost, 1), 0);
    EXPECT_EQ(lower.tx_calls, 1) << "nothing left to send: the device is not called";
    EXPECT_TRUE(pool.full());
}

}  // namespace
}  // namespace sluice
