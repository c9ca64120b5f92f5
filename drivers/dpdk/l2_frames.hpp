// What a small router says on its links (DESIGN §5, L2 gateway mode): ARP,
// IPv6 neighbour discovery, ICMP/ICMPv6 echo, and the ICMP errors a router
// sends (time exceeded, fragmentation needed, packet too big); plus the TTL /
// hop-limit decrement of forwarding. Pure functions over bytes, like
// frame.hpp, so every parser of untrusted frames is fuzzed on its own
// (tests/fuzz/fuzz_l2_frames.cpp).
//
// Frames start with the Ethernet header (no VLAN tags). Parsers never read
// past `len` and check every length and checksum they rely on; writers are
// given enough room by the caller (the sizes are constants here).
#pragma once

#include <rte_ether.h>

#include <cstddef>
#include <cstdint>

namespace sluice::l2 {

inline constexpr uint16_t kEtherArp = 0x0806;
inline constexpr size_t kArpFrameLen = 14 + 28;  // before Ethernet padding
inline constexpr size_t kMinFrameLen = 60;       // writers pad short frames to this
// Neighbour solicitation / advertisement with one link-layer address option.
inline constexpr size_t kNdFrameLen = 14 + 40 + 24 + 8;

// ---- ARP (RFC 826), Ethernet + IPv4 only ------------------------------------

inline constexpr uint16_t kArpRequest = 1;
inline constexpr uint16_t kArpReply = 2;

struct ArpInfo {
    uint16_t op = 0;  // kArpRequest or kArpReply
    rte_ether_addr sender_mac{};
    uint8_t sender_ip[4] = {};
    rte_ether_addr target_mac{};
    uint8_t target_ip[4] = {};
};

// True for a well-formed ARP frame (ethertype 0x0806, hardware type 1, protocol
// 0x0800, lengths 6 and 4, op 1 or 2); *out filled.
bool parse_arp(const uint8_t* frame, uint32_t len, ArpInfo* out) noexcept;

// Writes an ARP message as a whole frame (padded to kMinFrameLen; returns
// that length). A request goes to the broadcast address with a zero target
// MAC; a reply to `target_mac`.
uint32_t write_arp(uint8_t* frame, uint16_t op, const rte_ether_addr& sender_mac,
                   const uint8_t sender_ip[4], const rte_ether_addr& target_mac,
                   const uint8_t target_ip[4]) noexcept;

// ---- IPv6 neighbour discovery (RFC 4861) -------------------------------------

inline constexpr uint8_t kNdSolicit = 135;
inline constexpr uint8_t kNdAdvert = 136;

struct NdInfo {
    uint8_t type = 0;  // kNdSolicit or kNdAdvert
    rte_ether_addr eth_src{};
    uint8_t ip_src[16] = {};  // :: for a duplicate-address-detection solicitation
    uint8_t ip_dst[16] = {};
    uint8_t target[16] = {};
    bool has_lladdr = false;  // source (NS) or target (NA) link-layer address option
    rte_ether_addr lladdr{};
    bool solicited = false;  // NA flags
    bool override_flag = false;
};

// True for a valid NS or NA: IPv6 next header 58 with no extension headers,
// hop limit 255, ICMPv6 code 0, a correct ICMPv6 checksum, a length of at
// least 24, well-formed options (none of length 0), a target that is not
// multicast; and RFC 4861 7.1's two rules that need no state: a
// solicitation from :: carries no link-layer address option, an
// advertisement to a multicast group is not solicited. *out filled.
bool parse_nd(const uint8_t* frame, uint32_t len, NdInfo* out) noexcept;

// A solicitation for `target` from `src_ip` (with our link-layer address
// option), to the target's solicited-node multicast group and its MAC
// (33:33:ff:xx:xx:xx). Returns kNdFrameLen.
uint32_t write_nd_solicit(uint8_t* frame, const rte_ether_addr& src_mac, const uint8_t src_ip[16],
                          const uint8_t target[16]) noexcept;

// An advertisement of `target` (our address, with our link-layer address
// option, router flag set, override set) to dst_mac/dst_ip; `solicited` as
// the answer to a solicitation. dst_ip ff02::1 for an unsolicited one.
uint32_t write_nd_advert(uint8_t* frame, const rte_ether_addr& src_mac, const uint8_t target[16],
                         const rte_ether_addr& dst_mac, const uint8_t dst_ip[16],
                         bool solicited) noexcept;

// ---- IP headers as a router reads them ----------------------------------------

struct IpView {
    uint8_t family = 0;          // 4 or 6
    uint32_t header_len = 0;     // IPv4 IHL * 4; 40 for IPv6 (extension headers not walked)
    uint32_t total_len = 0;      // from the header; <= the bytes given
    uint8_t protocol = 0;        // IPv4 protocol / IPv6 next header
    uint8_t ttl = 0;             // TTL / hop limit
    bool dont_fragment = false;  // IPv4 DF (IPv6: always true, routers never fragment)
    bool fragment = false;       // IPv4 MF set or offset != 0
    const uint8_t* src = nullptr;  // 4 or 16 bytes inside the packet
    const uint8_t* dst = nullptr;
};

// An IPv4 (valid header checksum, IHL >= 5, total length within len) or IPv6
// (payload length within len) packet starting at `ip`.
bool parse_ip_header(const uint8_t* ip, uint32_t len, IpView* out) noexcept;

// Forwarding: TTL / hop limit minus one, the IPv4 header checksum updated
// incrementally (RFC 1624). False, and nothing changed, when it is already
// 1 or 0: the packet must not be forwarded (send time exceeded).
bool decrement_ttl(uint8_t* ip, uint32_t len) noexcept;

// ---- ICMP echo ----------------------------------------------------------------

// Whether the IP packet at ip[0, len) is an ICMP echo request (type 8) or
// ICMPv6 echo request (type 128) with a correct checksum.
bool is_echo_request(const uint8_t* ip, uint32_t len) noexcept;

// Turns a received echo-request frame into its reply in place: MACs swapped,
// addresses swapped, TTL/hop limit 64, type 0 / 129, checksums fixed. The
// caller has checked is_echo_request() on frame + 14 and that the
// destination is one of its own addresses.
void echo_reply_in_place(uint8_t* frame, uint32_t len) noexcept;

// ---- ICMP errors a router sends ------------------------------------------------

enum class IcmpError : uint8_t {
    time_exceeded,  // ICMP 11/0, ICMPv6 3/0
    too_big,        // ICMP 3/4 "fragmentation needed" with the next-hop MTU; ICMPv6 2/0 with the MTU
};

// Bytes of Ethernet + IP + ICMP header in front of the quoted packet: 42 for
// IPv4 (14 + 20 + 8), 62 for IPv6 (14 + 40 + 8).
[[nodiscard]] constexpr size_t icmp_error_headers_len(uint8_t family) noexcept {
    return family == 6 ? 14 + 40 + 8 : 14 + 20 + 8;
}
// How much of the offending packet an error quotes at most, so the error fits
// the minimum MTU: 576 − 28 = 548 bytes for IPv4, 1280 − 48 = 1232 for IPv6.
[[nodiscard]] constexpr size_t icmp_error_quote_max(uint8_t family) noexcept {
    return family == 6 ? 1280 - 48 : 576 - 28;
}

// Writes the headers of an ICMP error in front of a quoted packet that
// already lies at frame + icmp_error_headers_len(family), `quote_len` bytes
// long (the caller cuts it to icmp_error_quote_max). The error goes from
// src_mac/src_ip (our address on that link) to dst_mac and to the quoted
// packet's source address; `mtu` is the next-hop MTU for too_big. Returns the
// frame's length (0, nothing written, when quote_len is shorter than an IP
// header of that family; a longer quote than the maximum is cut). Never call it for a packet that must not get an error (an
// ICMP error itself, a non-first fragment, a multicast or broadcast source):
// should_send_icmp_error() says.
uint32_t write_icmp_error(uint8_t* frame, uint8_t family, IcmpError kind, uint32_t mtu,
                          const rte_ether_addr& src_mac, const uint8_t* src_ip,
                          const rte_ether_addr& dst_mac, uint32_t quote_len) noexcept;

// RFC 1812 4.3.2.7 / RFC 4443 2.4(e): no error about an ICMP error, an IPv4
// fragment other than the first, or a packet from a multicast, broadcast,
// unspecified or loopback source (IPv4: 0/8, 127/8, 224/3; IPv6: ::, ::1,
// ff00::/8); nor (RFC 1812) about an IPv4 packet to a multicast or the
// limited broadcast address. ICMPv6 redirects count as errors; IPv6
// extension headers are walked to find ICMPv6, and an unknown ICMP type,
// a non-first IPv6 fragment of ICMPv6 or a cut-short header chain is
// taken for an error too. False for what parse_ip_header() rejects.
bool should_send_icmp_error(const uint8_t* ip, uint32_t len) noexcept;

}  // namespace sluice::l2
