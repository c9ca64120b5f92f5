// Fuzz target: every frame an L2 gateway port can receive, through every
// parser of drivers/dpdk/l2_frames (ARP, neighbour discovery, IP headers,
// echo requests, whether an ICMP error may be sent). The input is the whole
// Ethernet frame; the IP functions see the bytes after the Ethernet header
// and, for raw-IP shapes, the input itself.
//
// Invariants, each a __builtin_trap when broken:
//   - what a parser accepts is consistent (types, lengths inside the input)
//     and, rewritten by the matching writer, parses back the same;
//   - decrement_ttl changes the TTL by one and its checksum (kept right) or
//     nothing at all;
//   - echo_reply_in_place gives a reply with valid checksums and swapped
//     addresses, which is no longer an echo request;
//   - an ICMP error about a packet that may get one is a valid packet about
//     which no further error may be sent.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "drivers/dpdk/l2_frames.hpp"

namespace {

using namespace sluice;

constexpr size_t kEth = 14;
constexpr rte_ether_addr kOurMac = {{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}};
constexpr uint8_t kOurV4[4] = {192, 0, 2, 1};
constexpr uint8_t kOurV6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

void check(bool ok) {
    if (!ok) __builtin_trap();
}

// RFC 1071, independent of the library: big-endian words, carries folded.
uint16_t ones_sum(const uint8_t* p, size_t n, uint32_t sum = 0) {
    for (size_t i = 0; i + 1 < n; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
    if (n % 2 == 1) sum += static_cast<uint32_t>(p[n - 1]) << 8;
    while (sum >> 16) sum = (sum & 0xFFFFu) + (sum >> 16);
    return static_cast<uint16_t>(sum);
}
// The ICMPv6 checksum's sum over the pseudo-header of the IPv6 header at ip6.
uint16_t icmp6_sum(const uint8_t* ip6, const uint8_t* msg, size_t n) {
    uint32_t sum = ones_sum(ip6 + 8, 32);
    sum += static_cast<uint32_t>(n >> 16) + static_cast<uint32_t>(n & 0xFFFF) + 58;
    return ones_sum(msg, n, sum);
}
// Whether the ICMP or ICMPv6 checksum of the packet `v` describes verifies.
bool icmp_checksum_ok(const uint8_t* ip, const l2::IpView& v) {
    const uint8_t* msg = ip + v.header_len;
    const size_t n = v.total_len - v.header_len;
    return (v.family == 4 ? ones_sum(msg, n) : icmp6_sum(ip, msg, n)) == 0xFFFF;
}

bool inside(const uint8_t* p, size_t n, const uint8_t* base, size_t len) {
    return p >= base && p + n <= base + len;
}

void check_arp(const uint8_t* f, uint32_t len) {
    l2::ArpInfo a;
    if (!l2::parse_arp(f, len, &a)) return;
    check(len >= l2::kArpFrameLen);
    check(a.op == l2::kArpRequest || a.op == l2::kArpReply);
    uint8_t out[l2::kMinFrameLen];
    check(l2::write_arp(out, a.op, a.sender_mac, a.sender_ip, a.target_mac, a.target_ip) ==
          l2::kMinFrameLen);
    l2::ArpInfo b;
    check(l2::parse_arp(out, sizeof out, &b));
    check(b.op == a.op && std::memcmp(&b.sender_mac, &a.sender_mac, 6) == 0 &&
          std::memcmp(b.sender_ip, a.sender_ip, 4) == 0 &&
          std::memcmp(b.target_ip, a.target_ip, 4) == 0);
    if (a.op == l2::kArpReply) check(std::memcmp(&b.target_mac, &a.target_mac, 6) == 0);
}

void check_nd(const uint8_t* f, uint32_t len) {
    l2::NdInfo nd;
    if (!l2::parse_nd(f, len, &nd)) return;
    check(len >= kEth + 40 + 24);
    check(nd.type == l2::kNdSolicit || nd.type == l2::kNdAdvert);
    check(nd.target[0] != 0xFF);
    if (nd.type == l2::kNdSolicit) check(!nd.solicited && !nd.override_flag);

    // Answer as the gateway would, and ask back: both parse.
    uint8_t out[l2::kNdFrameLen];
    const rte_ether_addr to = nd.has_lladdr ? nd.lladdr : nd.eth_src;
    check(l2::write_nd_advert(out, kOurMac, nd.target, to, nd.ip_src, false) == l2::kNdFrameLen);
    l2::NdInfo back;
    check(l2::parse_nd(out, sizeof out, &back));
    check(back.type == l2::kNdAdvert && !back.solicited && back.override_flag && back.has_lladdr);
    check(std::memcmp(back.target, nd.target, 16) == 0);
    check(std::memcmp(back.ip_dst, nd.ip_src, 16) == 0);

    check(l2::write_nd_solicit(out, kOurMac, kOurV6, nd.target) == l2::kNdFrameLen);
    check(l2::parse_nd(out, sizeof out, &back));
    check(back.type == l2::kNdSolicit && back.has_lladdr);
    check(std::memcmp(back.target, nd.target, 16) == 0);
    check(std::memcmp(back.lladdr.addr_bytes, kOurMac.addr_bytes, 6) == 0);
}

bool check_ip_header(const uint8_t* ip, uint32_t len, l2::IpView* v) {
    if (!l2::parse_ip_header(ip, len, v)) return false;
    check(v->family == 4 || v->family == 6);
    check(v->header_len >= (v->family == 4 ? 20u : 40u));
    check(v->header_len <= v->total_len && v->total_len <= len);
    const size_t addr_len = v->family == 4 ? 4 : 16;
    check(inside(v->src, addr_len, ip, v->header_len) && inside(v->dst, addr_len, ip, v->header_len));
    if (v->family == 6) check(v->dont_fragment && !v->fragment);
    return true;
}

void check_decrement(const uint8_t* ip, uint32_t len) {
    std::vector<uint8_t> copy(ip, ip + len);
    l2::IpView before;
    const bool valid = l2::parse_ip_header(ip, len, &before);
    if (!l2::decrement_ttl(copy.data(), len)) {
        check(len == 0 || std::memcmp(copy.data(), ip, len) == 0);
        if (valid) check(before.ttl <= 1);
        return;
    }
    const uint8_t version = ip[0] >> 4;
    check(version == 4 || version == 6);
    const size_t ttl_at = version == 4 ? 8 : 7;
    check(copy[ttl_at] + 1 == ip[ttl_at]);
    for (size_t i = 0; i < len; ++i) {
        if (i == ttl_at || (version == 4 && (i == 10 || i == 11))) continue;
        check(copy[i] == ip[i]);
    }
    l2::IpView after;
    if (valid) {
        check(l2::parse_ip_header(copy.data(), len, &after));  // the checksum still right
        check(after.ttl + 1 == before.ttl);
    }
}

void check_echo(const uint8_t* f, uint32_t len) {
    if (len < kEth || !l2::is_echo_request(f + kEth, len - kEth)) return;
    l2::IpView request;
    check(l2::parse_ip_header(f + kEth, len - kEth, &request));
    check(request.protocol == (request.family == 4 ? 1 : 58));
    check(icmp_checksum_ok(f + kEth, request));

    const auto copy = std::make_unique<uint8_t[]>(len);
    std::memcpy(copy.get(), f, len);
    l2::echo_reply_in_place(copy.get(), len);
    const uint8_t* ip = copy.get() + kEth;
    check(!l2::is_echo_request(ip, len - kEth));
    l2::IpView reply;
    check(l2::parse_ip_header(ip, len - kEth, &reply));
    check(reply.total_len == request.total_len && reply.header_len == request.header_len);
    check(reply.ttl == 64);
    check(icmp_checksum_ok(ip, reply));
    check(ip[reply.header_len] == (reply.family == 4 ? 0 : 129));
    const size_t addr_len = reply.family == 4 ? 4 : 16;
    check(std::memcmp(reply.src, request.dst, addr_len) == 0);
    check(std::memcmp(reply.dst, request.src, addr_len) == 0);
    check(std::memcmp(copy.get(), f + 6, 6) == 0 && std::memcmp(copy.get() + 6, f, 6) == 0);
    const size_t data_at = reply.header_len + 4;  // identifier, sequence, data
    check(std::memcmp(ip + data_at, f + kEth + data_at, reply.total_len - data_at) == 0);
}

void check_icmp_error(const uint8_t* ip, uint32_t len) {
    if (!l2::should_send_icmp_error(ip, len)) return;
    l2::IpView v;
    check(l2::parse_ip_header(ip, len, &v));
    const size_t headers = l2::icmp_error_headers_len(v.family);
    const size_t quote = std::min<size_t>(v.total_len, l2::icmp_error_quote_max(v.family));
    const rte_ether_addr next_hop = {{0x02, 0, 0, 0, 0, 0x02}};
    for (const l2::IcmpError kind : {l2::IcmpError::time_exceeded, l2::IcmpError::too_big}) {
        std::vector<uint8_t> out(headers + quote);
        std::memcpy(out.data() + headers, ip, quote);
        const uint32_t n = l2::write_icmp_error(out.data(), v.family, kind, 1280, kOurMac,
                                                v.family == 4 ? kOurV4 : kOurV6, next_hop,
                                                static_cast<uint32_t>(quote));
        check(n == out.size());
        l2::IpView e;
        check(l2::parse_ip_header(out.data() + kEth, n - kEth, &e));
        check(e.family == v.family && e.total_len == n - kEth && e.ttl == 64);
        check(std::memcmp(e.dst, v.src, v.family == 4 ? 4 : 16) == 0);
        check(icmp_checksum_ok(out.data() + kEth, e));
        check(std::memcmp(out.data() + headers, ip, quote) == 0);
        check(!l2::should_send_icmp_error(out.data() + kEth, n - kEth));
        check(!l2::is_echo_request(out.data() + kEth, n - kEth));
    }
}

// The IP-level functions on a packet ip[0, len).
void check_ip(const uint8_t* ip, uint32_t len) {
    l2::IpView v;
    const bool parsed = check_ip_header(ip, len, &v);
    if (l2::is_echo_request(ip, len)) check(parsed);
    if (l2::should_send_icmp_error(ip, len)) check(parsed);
    check_decrement(ip, len);
    check_icmp_error(ip, len);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size > 65536) return 0;
    // The frame in a buffer of its own exact size, so a sanitizer sees any
    // read past its end.
    const auto len = static_cast<uint32_t>(size);
    const auto bytes = std::make_unique<uint8_t[]>(size > 0 ? size : 1);
    if (size > 0) std::memcpy(bytes.get(), data, size);
    const uint8_t* f = bytes.get();
    check_arp(f, len);
    check_nd(f, len);
    if (len >= kEth) check_ip(f + kEth, len - static_cast<uint32_t>(kEth));
    check_ip(f, len);  // the same bytes as a raw IP packet (L3 ports)
    check_echo(f, len);
    return 0;
}
