// The L2 gateway's own frames (l2_frames.hpp). In order:
//   1. bytes and checksums (loads, stores and Ethernet from frame.hpp): one's-complement sums
//      (RFC 1071, via rte_raw_cksum), the ICMPv6 pseudo-header sum and the
//      incremental update of RFC 1624 (eqn. 3);
//   2. ARP (RFC 826): parse and write;
//   3. neighbour discovery (RFC 4861): parse NS/NA, write NS and NA;
//   4. IP headers: parse, and the forwarding TTL / hop-limit decrement;
//   5. ICMP / ICMPv6 echo (RFC 792, RFC 4443 4.1-4.2): detect, answer in place;
//   6. ICMP errors (RFC 792, RFC 1191, RFC 4443 3.2-3.3) and whether a packet
//      may get one (RFC 1812 4.3.2.7, RFC 4443 2.4(e)).
// Parsers check every length before they read; writers trust the caller's
// room (the sizes are in the header).
#include "drivers/dpdk/l2_frames.hpp"

#include <rte_ip.h>

#include "drivers/dpdk/frame.hpp"

#include <algorithm>
#include <cstring>

namespace sluice::l2 {

namespace {

// ---- 1. Bytes and checksums ------------------------------------------------------

using frame::kEtherIpv4;
using frame::kEtherIpv6;
using frame::load_be16;
using frame::store_be16;
using frame::write_ethernet;
// frame.hpp's sizes, in the type lengths have here.
constexpr auto kEthLen = static_cast<uint32_t>(frame::kEthernetLen);
constexpr auto kIpv4Len = static_cast<uint32_t>(frame::kIpv4Len);
constexpr auto kIpv6Len = static_cast<uint32_t>(frame::kIpv6Len);
constexpr uint32_t kIcmpHeaderLen = 8;
constexpr uint32_t kArpBodyLen = 28;
constexpr uint32_t kNdBodyLen = 24;   // ICMPv6 header + reserved/flags + target
constexpr uint32_t kNdOptionLen = 8;  // one Ethernet link-layer address option
constexpr uint8_t kProtoIcmp = 1;
constexpr uint8_t kProtoIcmpv6 = 58;
constexpr uint8_t kNdHopLimit = 255;
constexpr uint8_t kReplyHopLimit = 64;  // echo replies and ICMP errors, both families

constexpr uint8_t kIcmpEchoReply = 0;
constexpr uint8_t kIcmpUnreachable = 3;
constexpr uint8_t kIcmpFragNeeded = 4;  // code of kIcmpUnreachable
constexpr uint8_t kIcmpEchoRequest = 8;
constexpr uint8_t kIcmpTimeExceeded = 11;
constexpr uint8_t kIcmp6TooBig = 2;
constexpr uint8_t kIcmp6TimeExceeded = 3;
constexpr uint8_t kIcmp6EchoRequest = 128;
constexpr uint8_t kIcmp6EchoReply = 129;
constexpr uint8_t kIcmp6Redirect = 137;

constexpr uint8_t kNdOptSourceLladdr = 1;
constexpr uint8_t kNdOptTargetLladdr = 2;
constexpr uint8_t kNaRouter = 0x80;
constexpr uint8_t kNaSolicited = 0x40;
constexpr uint8_t kNaOverride = 0x20;

void store_be32(uint8_t* p, uint32_t v) noexcept {
    store_be16(p, static_cast<uint16_t>(v >> 16));
    store_be16(p + 2, static_cast<uint16_t>(v));
}

// One's-complement additions of 16-bit sums: the byte order does not matter
// as long as both sides use the same one (rte_raw_cksum's native order).
uint16_t fold(uint32_t sum) noexcept {
    while (sum >> 16) sum = (sum & 0xFFFFu) + (sum >> 16);
    return static_cast<uint16_t>(sum);
}

// The ICMPv6 checksum's sum (not complemented): the pseudo-header of RFC 8200
// 8.1 (addresses of the IPv6 header at ip6, the upper-layer length, next
// header 58), then the message itself.
uint16_t icmp6_sum(const uint8_t* ip6, const uint8_t* msg, uint32_t msg_len) noexcept {
    uint8_t pseudo[40] = {};
    std::memcpy(pseudo, ip6 + 8, 32);
    store_be32(pseudo + 32, msg_len);
    pseudo[39] = kProtoIcmpv6;
    return fold(uint32_t{rte_raw_cksum(pseudo, sizeof pseudo)} + rte_raw_cksum(msg, msg_len));
}

bool icmp4_checksum_ok(const uint8_t* msg, uint32_t len) noexcept {
    return rte_raw_cksum(msg, len) == 0xFFFF;
}
bool icmp6_checksum_ok(const uint8_t* ip6, const uint8_t* msg, uint32_t len) noexcept {
    return icmp6_sum(ip6, msg, len) == 0xFFFF;
}

// The checksum field at msg + 2 (ICMP and ICMPv6 alike), over msg[0, len).
void set_icmp4_checksum(uint8_t* msg, uint32_t len) noexcept {
    store_be16(msg + 2, 0);
    const auto sum = static_cast<uint16_t>(~rte_raw_cksum(msg, len));
    std::memcpy(msg + 2, &sum, 2);  // native-order sum of native-order words
}
void set_icmp6_checksum(const uint8_t* ip6, uint8_t* msg, uint32_t len) noexcept {
    store_be16(msg + 2, 0);
    const auto sum = static_cast<uint16_t>(~icmp6_sum(ip6, msg, len));
    std::memcpy(msg + 2, &sum, 2);
}

void set_ipv4_checksum(uint8_t* ip, uint32_t header_len) noexcept {
    store_be16(ip + 10, 0);
    const auto sum = static_cast<uint16_t>(~rte_raw_cksum(ip, header_len));
    std::memcpy(ip + 10, &sum, 2);
}

// RFC 1624 eqn. 3: the 16-bit word `old_word` of the summed data became
// `new_word`; the checksum at `field` follows, HC' = ~(~HC + ~m + m').
void update_checksum(uint8_t* field, uint16_t old_word, uint16_t new_word) noexcept {
    const uint32_t sum = uint32_t{static_cast<uint16_t>(~load_be16(field))} +
                         static_cast<uint16_t>(~old_word) + new_word;
    store_be16(field, static_cast<uint16_t>(~fold(sum)));
}

bool is_ipv6_multicast(const uint8_t* a) noexcept { return a[0] == 0xFF; }

// ---- 3. Neighbour discovery helpers ------------------------------------------------

// Walks the options of an NS/NA (RFC 4861 4.6): each at least 8 bytes, a
// length of 0 invalid, none past the end. The first option of type `want`
// gives the link-layer address.
bool parse_nd_options(const uint8_t* opt, uint32_t len, uint8_t want, NdInfo* out) noexcept {
    while (len > 0) {
        if (len < 2) return false;
        const uint32_t opt_len = uint32_t{opt[1]} * 8;
        if (opt_len == 0 || opt_len > len) return false;
        if (opt[0] == want && !out->has_lladdr) {  // 8 bytes at least: room for a MAC
            out->has_lladdr = true;
            std::memcpy(out->lladdr.addr_bytes, opt + 2, RTE_ETHER_ADDR_LEN);
        }
        opt += opt_len;
        len -= opt_len;
    }
    return true;
}

// The IPv6 header of an ND message: hop limit 255, ICMPv6 right behind it.
void write_nd_ipv6(uint8_t* ip, const uint8_t src[16], const uint8_t dst[16]) noexcept {
    store_be32(ip, 0x60000000u);
    store_be16(ip + 4, static_cast<uint16_t>(kNdBodyLen + kNdOptionLen));
    ip[6] = kProtoIcmpv6;
    ip[7] = kNdHopLimit;
    std::memcpy(ip + 8, src, 16);
    std::memcpy(ip + 24, dst, 16);
}

// The ICMPv6 part of an NS/NA: type, flags, target, one link-layer address
// option, checksum.
void write_nd_body(uint8_t* ip, uint8_t type, uint8_t flags, const uint8_t target[16],
                   uint8_t option, const rte_ether_addr& lladdr) noexcept {
    uint8_t* icmp = ip + kIpv6Len;
    icmp[0] = type;
    icmp[1] = 0;
    store_be32(icmp + 4, uint32_t{flags} << 24);
    std::memcpy(icmp + 8, target, 16);
    uint8_t* opt = icmp + kNdBodyLen;
    opt[0] = option;
    opt[1] = 1;  // 8 bytes
    std::memcpy(opt + 2, lladdr.addr_bytes, RTE_ETHER_ADDR_LEN);
    set_icmp6_checksum(ip, icmp, kNdBodyLen + kNdOptionLen);
}

// ---- 6. ICMP error helpers ------------------------------------------------------------

// RFC 1812 5.3.7 / 4.3.2.7: 0/8 ("this network"), 127/8, multicast and
// class E (the limited broadcast among them) never name a single host.
bool is_bad_ipv4_source(const uint8_t* a) noexcept {
    return a[0] == 0 || a[0] == 127 || a[0] >= 224;
}
// RFC 1812 4.3.2.7: nor does a packet to a multicast or broadcast address
// get an error (a subnet's directed broadcast is not known here).
bool is_group_ipv4(const uint8_t* a) noexcept { return a[0] >= 224; }

bool is_bad_ipv6_source(const uint8_t* a) noexcept {
    static constexpr uint8_t kZero[15] = {};
    if (is_ipv6_multicast(a)) return true;
    return std::memcmp(a, kZero, 15) == 0 && a[15] <= 1;  // :: and ::1
}

// ICMP types that are queries or replies rather than errors (RFC 792, RFC
// 1256, RFC 950). Unknown types count as errors: no error about them.
bool is_icmp4_informational(uint8_t type) noexcept {
    switch (type) {
        case 0: case 8: case 9: case 10: case 13: case 14: case 15: case 16: case 17: case 18:
            return true;
        default: return false;
    }
}

// Which IPv6 next headers the error check walks past (RFC 8200 4): hop-by-hop,
// routing and destination options, (n + 1) * 8 bytes each.
bool is_ipv6_option_header(uint8_t next) noexcept { return next == 0 || next == 43 || next == 60; }
constexpr uint8_t kIpv6Fragment = 44;

// IPv6: whether the packet is an ICMPv6 error or redirect, or may be one (a
// non-first fragment of ICMPv6, a header chain cut short).
bool is_or_may_be_icmp6_error(const uint8_t* ip, uint32_t total) noexcept {
    uint8_t next = ip[6];
    uint32_t at = kIpv6Len;
    for (;;) {
        if (is_ipv6_option_header(next)) {
            if (total - at < 8) return true;
            const uint32_t ext_len = (uint32_t{ip[at + 1]} + 1) * 8;
            if (ext_len > total - at) return true;
            next = ip[at];
            at += ext_len;
        } else if (next == kIpv6Fragment) {
            if (total - at < 8) return true;
            const bool first = (load_be16(ip + at + 2) & 0xFFF8u) == 0;
            next = ip[at];
            at += 8;
            if (!first) return next == kProtoIcmpv6;  // its type is in another fragment
        } else {
            break;
        }
    }
    if (next != kProtoIcmpv6) return false;
    if (total - at < 1) return true;
    const uint8_t type = ip[at];
    return type < 128 || type == kIcmp6Redirect;
}

}  // namespace

// ---- 2. ARP ---------------------------------------------------------------------------

bool parse_arp(const uint8_t* frame, uint32_t len, ArpInfo* out) noexcept {
    if (len < kArpFrameLen || load_be16(frame + 12) != kEtherArp) return false;
    const uint8_t* arp = frame + kEthLen;
    if (load_be16(arp) != 1 || load_be16(arp + 2) != kEtherIpv4) return false;
    if (arp[4] != RTE_ETHER_ADDR_LEN || arp[5] != 4) return false;
    const uint16_t op = load_be16(arp + 6);
    if (op != kArpRequest && op != kArpReply) return false;
    out->op = op;
    std::memcpy(out->sender_mac.addr_bytes, arp + 8, RTE_ETHER_ADDR_LEN);
    std::memcpy(out->sender_ip, arp + 14, 4);
    std::memcpy(out->target_mac.addr_bytes, arp + 18, RTE_ETHER_ADDR_LEN);
    std::memcpy(out->target_ip, arp + 24, 4);
    return true;
}

uint32_t write_arp(uint8_t* frame, uint16_t op, const rte_ether_addr& sender_mac,
                   const uint8_t sender_ip[4], const rte_ether_addr& target_mac,
                   const uint8_t target_ip[4]) noexcept {
    static constexpr rte_ether_addr kBroadcast = {{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}};
    const bool request = op == kArpRequest;
    write_ethernet(frame, sender_mac, request ? kBroadcast : target_mac, kEtherArp);
    uint8_t* arp = frame + kEthLen;
    store_be16(arp, 1);  // Ethernet
    store_be16(arp + 2, kEtherIpv4);
    arp[4] = RTE_ETHER_ADDR_LEN;
    arp[5] = 4;
    store_be16(arp + 6, op);
    std::memcpy(arp + 8, sender_mac.addr_bytes, RTE_ETHER_ADDR_LEN);
    std::memcpy(arp + 14, sender_ip, 4);
    if (request)
        std::memset(arp + 18, 0, RTE_ETHER_ADDR_LEN);
    else
        std::memcpy(arp + 18, target_mac.addr_bytes, RTE_ETHER_ADDR_LEN);
    std::memcpy(arp + 24, target_ip, 4);
    std::memset(arp + kArpBodyLen, 0, kMinFrameLen - kArpFrameLen);
    return static_cast<uint32_t>(kMinFrameLen);
}

// ---- 3. Neighbour discovery -------------------------------------------------------------

bool parse_nd(const uint8_t* frame, uint32_t len, NdInfo* out) noexcept {
    if (len < kEthLen + kIpv6Len || load_be16(frame + 12) != kEtherIpv6) return false;
    const uint8_t* ip = frame + kEthLen;
    if ((ip[0] >> 4) != 6 || ip[6] != kProtoIcmpv6 || ip[7] != kNdHopLimit) return false;
    const uint32_t icmp_len = load_be16(ip + 4);
    if (icmp_len < kNdBodyLen || icmp_len > len - kEthLen - kIpv6Len) return false;
    const uint8_t* icmp = ip + kIpv6Len;
    const uint8_t type = icmp[0];
    if ((type != kNdSolicit && type != kNdAdvert) || icmp[1] != 0) return false;
    if (!icmp6_checksum_ok(ip, icmp, icmp_len)) return false;
    const uint8_t* target = icmp + 8;
    if (is_ipv6_multicast(target)) return false;

    NdInfo info;
    info.type = type;
    std::memcpy(info.eth_src.addr_bytes, frame + 6, RTE_ETHER_ADDR_LEN);
    std::memcpy(info.ip_src, ip + 8, 16);
    std::memcpy(info.ip_dst, ip + 24, 16);
    std::memcpy(info.target, target, 16);
    if (type == kNdAdvert) {
        info.solicited = (icmp[4] & kNaSolicited) != 0;
        info.override_flag = (icmp[4] & kNaOverride) != 0;
    }
    const uint8_t want = type == kNdSolicit ? kNdOptSourceLladdr : kNdOptTargetLladdr;
    if (!parse_nd_options(icmp + kNdBodyLen, icmp_len - kNdBodyLen, want, &info)) return false;

    // RFC 4861 7.1.1: a solicitation from :: (duplicate address detection)
    // carries no source link-layer address. 7.1.2: an advertisement to a
    // multicast group is never solicited.
    static constexpr uint8_t kUnspecified[16] = {};
    if (type == kNdSolicit && info.has_lladdr && std::memcmp(info.ip_src, kUnspecified, 16) == 0)
        return false;
    if (type == kNdAdvert && info.solicited && is_ipv6_multicast(info.ip_dst)) return false;
    *out = info;
    return true;
}

uint32_t write_nd_solicit(uint8_t* frame, const rte_ether_addr& src_mac, const uint8_t src_ip[16],
                          const uint8_t target[16]) noexcept {
    // The solicited-node group ff02::1:ffXX:XXXX (RFC 4291 2.7.1) and its MAC
    // 33:33 + the group's low 32 bits (RFC 2464 7).
    uint8_t group[16] = {0xFF, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xFF};
    std::memcpy(group + 13, target + 13, 3);
    rte_ether_addr group_mac = {{0x33, 0x33}};
    std::memcpy(group_mac.addr_bytes + 2, group + 12, 4);

    write_ethernet(frame, src_mac, group_mac, kEtherIpv6);
    uint8_t* ip = frame + kEthLen;
    write_nd_ipv6(ip, src_ip, group);
    write_nd_body(ip, kNdSolicit, 0, target, kNdOptSourceLladdr, src_mac);
    return static_cast<uint32_t>(kNdFrameLen);
}

uint32_t write_nd_advert(uint8_t* frame, const rte_ether_addr& src_mac, const uint8_t target[16],
                         const rte_ether_addr& dst_mac, const uint8_t dst_ip[16],
                         bool solicited) noexcept {
    write_ethernet(frame, src_mac, dst_mac, kEtherIpv6);
    uint8_t* ip = frame + kEthLen;
    write_nd_ipv6(ip, target, dst_ip);
    const auto flags = static_cast<uint8_t>(kNaRouter | kNaOverride | (solicited ? kNaSolicited : 0));
    write_nd_body(ip, kNdAdvert, flags, target, kNdOptTargetLladdr, src_mac);
    return static_cast<uint32_t>(kNdFrameLen);
}

// ---- 4. IP headers ----------------------------------------------------------------------

bool parse_ip_header(const uint8_t* ip, uint32_t len, IpView* out) noexcept {
    if (len < 1) return false;
    IpView v;
    if ((ip[0] >> 4) == 4) {
        if (len < kIpv4Len) return false;
        const uint32_t ihl = (ip[0] & 0x0Fu) * 4u;
        const uint32_t total = load_be16(ip + 2);
        if (ihl < kIpv4Len || total < ihl || total > len) return false;
        if (rte_raw_cksum(ip, ihl) != 0xFFFF) return false;
        const uint16_t flags = load_be16(ip + 6);
        v.family = 4;
        v.header_len = ihl;
        v.total_len = total;
        v.protocol = ip[9];
        v.ttl = ip[8];
        v.dont_fragment = (flags & 0x4000u) != 0;
        v.fragment = (flags & 0x3FFFu) != 0;  // MF or an offset
        v.src = ip + 12;
        v.dst = ip + 16;
    } else if ((ip[0] >> 4) == 6) {
        if (len < kIpv6Len) return false;
        const uint32_t total = kIpv6Len + load_be16(ip + 4);
        if (total > len) return false;
        v.family = 6;
        v.header_len = kIpv6Len;
        v.total_len = total;
        v.protocol = ip[6];
        v.ttl = ip[7];
        v.dont_fragment = true;
        v.src = ip + 8;
        v.dst = ip + 24;
    } else {
        return false;
    }
    *out = v;
    return true;
}

bool decrement_ttl(uint8_t* ip, uint32_t len) noexcept {
    if (len < 1) return false;
    if ((ip[0] >> 4) == 4) {
        if (len < kIpv4Len || ip[8] <= 1) return false;
        const uint16_t old_word = load_be16(ip + 8);  // TTL and protocol
        --ip[8];
        update_checksum(ip + 10, old_word, load_be16(ip + 8));
        return true;
    }
    if ((ip[0] >> 4) == 6) {
        if (len < kIpv6Len || ip[7] <= 1) return false;
        --ip[7];
        return true;
    }
    return false;
}

// ---- 5. ICMP echo -------------------------------------------------------------------------

bool is_echo_request(const uint8_t* ip, uint32_t len) noexcept {
    IpView v;
    if (!parse_ip_header(ip, len, &v)) return false;
    const uint32_t icmp_len = v.total_len - v.header_len;
    const uint8_t* icmp = ip + v.header_len;
    if (icmp_len < kIcmpHeaderLen) return false;
    if (v.family == 4) {
        // A fragment's checksum cannot be checked, and it is not reassembled.
        if (v.protocol != kProtoIcmp || v.fragment || icmp[0] != kIcmpEchoRequest) return false;
        return icmp4_checksum_ok(icmp, icmp_len);
    }
    if (v.protocol != kProtoIcmpv6 || icmp[0] != kIcmp6EchoRequest) return false;
    return icmp6_checksum_ok(ip, icmp, icmp_len);
}

void echo_reply_in_place(uint8_t* frame, uint32_t len) noexcept {
    // The caller checked is_echo_request(); these checks only keep a wrong
    // call inside the frame.
    IpView v;
    if (len < kEthLen || !parse_ip_header(frame + kEthLen, len - kEthLen, &v)) return;
    if (v.total_len - v.header_len < kIcmpHeaderLen) return;

    uint8_t mac[RTE_ETHER_ADDR_LEN];
    std::memcpy(mac, frame, RTE_ETHER_ADDR_LEN);
    std::memcpy(frame, frame + 6, RTE_ETHER_ADDR_LEN);
    std::memcpy(frame + 6, mac, RTE_ETHER_ADDR_LEN);

    uint8_t* ip = frame + kEthLen;
    uint8_t* icmp = ip + v.header_len;
    const uint8_t addr_len = v.family == 4 ? 4 : 16;
    uint8_t* src = ip + (v.family == 4 ? 12 : 8);
    uint8_t addr[16];
    std::memcpy(addr, src, addr_len);
    std::memcpy(src, src + addr_len, addr_len);
    std::memcpy(src + addr_len, addr, addr_len);

    // Swapped addresses leave the ICMPv6 pseudo-header sum as it was: only
    // the type word changes in what the ICMP checksum covers.
    const uint16_t old_word = load_be16(icmp);
    if (v.family == 4) {
        ip[8] = kReplyHopLimit;
        set_ipv4_checksum(ip, v.header_len);
        icmp[0] = kIcmpEchoReply;
    } else {
        ip[7] = kReplyHopLimit;
        icmp[0] = kIcmp6EchoReply;
    }
    update_checksum(icmp + 2, old_word, load_be16(icmp));
}

// ---- 6. ICMP errors ---------------------------------------------------------------------

uint32_t write_icmp_error(uint8_t* frame, uint8_t family, IcmpError kind, uint32_t mtu,
                          const rte_ether_addr& src_mac, const uint8_t* src_ip,
                          const rte_ether_addr& dst_mac, uint32_t quote_len) noexcept {
    const auto headers = static_cast<uint32_t>(icmp_error_headers_len(family));
    const uint8_t* quote = frame + headers;
    quote_len = std::min(quote_len, static_cast<uint32_t>(icmp_error_quote_max(family)));
    // The error goes to the quoted packet's source: its header must be there.
    if (quote_len < (family == 6 ? kIpv6Len : kIpv4Len)) return 0;
    const uint32_t icmp_len = kIcmpHeaderLen + quote_len;
    uint8_t* ip = frame + kEthLen;

    if (family == 6) {
        write_ethernet(frame, src_mac, dst_mac, kEtherIpv6);
        store_be32(ip, 0x60000000u);
        store_be16(ip + 4, static_cast<uint16_t>(icmp_len));
        ip[6] = kProtoIcmpv6;
        ip[7] = kReplyHopLimit;
        std::memcpy(ip + 8, src_ip, 16);
        std::memcpy(ip + 24, quote + 8, 16);
        uint8_t* icmp = ip + kIpv6Len;
        const bool too_big = kind == IcmpError::too_big;
        icmp[0] = too_big ? kIcmp6TooBig : kIcmp6TimeExceeded;
        icmp[1] = 0;  // hop limit exceeded in transit / -
        store_be32(icmp + 4, too_big ? mtu : 0);
        set_icmp6_checksum(ip, icmp, icmp_len);
        return headers + quote_len;
    }

    write_ethernet(frame, src_mac, dst_mac, kEtherIpv4);
    ip[0] = 0x45;
    ip[1] = 0xC0;  // precedence "internetwork control" (RFC 1812 4.3.2.5)
    store_be16(ip + 2, static_cast<uint16_t>(kIpv4Len + icmp_len));
    store_be16(ip + 4, 0);  // identification
    store_be16(ip + 6, 0);  // DF clear, not a fragment
    ip[8] = kReplyHopLimit;
    ip[9] = kProtoIcmp;
    std::memcpy(ip + 12, src_ip, 4);
    std::memcpy(ip + 16, quote + 12, 4);
    set_ipv4_checksum(ip, kIpv4Len);
    uint8_t* icmp = ip + kIpv4Len;
    const bool too_big = kind == IcmpError::too_big;
    icmp[0] = too_big ? kIcmpUnreachable : kIcmpTimeExceeded;
    icmp[1] = too_big ? kIcmpFragNeeded : 0;  // TTL exceeded in transit
    store_be16(icmp + 4, 0);
    store_be16(icmp + 6, too_big ? static_cast<uint16_t>(std::min<uint32_t>(mtu, 0xFFFF)) : 0);
    set_icmp4_checksum(icmp, icmp_len);
    return headers + quote_len;
}

bool should_send_icmp_error(const uint8_t* ip, uint32_t len) noexcept {
    IpView v;
    if (!parse_ip_header(ip, len, &v)) return false;
    if (v.family == 6) {
        if (is_bad_ipv6_source(v.src)) return false;
        return !is_or_may_be_icmp6_error(ip, v.total_len);
    }
    if (is_bad_ipv4_source(v.src) || is_group_ipv4(v.dst)) return false;
    if ((load_be16(ip + 6) & 0x1FFFu) != 0) return false;  // not the first fragment
    if (v.protocol != kProtoIcmp) return true;
    if (v.total_len - v.header_len < 1) return false;  // no type to look at
    return is_icmp4_informational(ip[v.header_len]);
}

}  // namespace sluice::l2
