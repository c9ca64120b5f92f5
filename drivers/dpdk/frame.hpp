// Ethernet/IPv4/IPv6/UDP headers as sluice reads and writes them on L2 ports
// (DESIGN §5). Pure functions over bytes, so the parsers of untrusted frames
// are fuzzed on their own (tests/fuzz/fuzz_frame.cpp).
//
// Receive: a frame must be addressed to the port's MAC; WAN frames must be
// UDP to the gateway's address and port, unfragmented, with a valid IPv4
// header checksum (IPv6 has none; the UDP checksum is not checked on either:
// a corrupted WireGuard message fails authentication anyway). LAN frames must
// carry IPv4 or IPv6; Ethernet padding beyond the IP length is cut off.
// Send: IPv4 UDP goes out with checksum 0 (RFC 768 allows it, and every
// WireGuard implementation accepts it); IPv6 UDP with a computed checksum.
// Where the port computes checksums on the way out (TxChecksum), the IPv4
// header checksum is left 0 for it, and the UDP checksum field holds the
// pseudo-header sum the device completes, for IPv4 too.
#pragma once

#include <rte_ether.h>

#include <cstddef>
#include <cstdint>

#include "drivers/mbuf_endpoint.hpp"

namespace sluice::frame {

inline constexpr size_t kEthernetLen = 14;
inline constexpr size_t kIpv4Len = 20;
inline constexpr size_t kIpv6Len = 40;
inline constexpr size_t kUdpLen = 8;
inline constexpr uint16_t kEtherIpv4 = 0x0800;
inline constexpr uint16_t kEtherIpv6 = 0x86DD;

// Network byte order, at any alignment.
[[nodiscard]] inline uint16_t load_be16(const uint8_t* p) noexcept {
    return static_cast<uint16_t>(p[0] << 8 | p[1]);
}
inline void store_be16(uint8_t* p, uint16_t v) noexcept {
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
}

// Why a received frame went no further. One table gives enum and names.
#define SLUICE_FRAME_DROPS(X)                                                     \
    X(not_for_us, "frame_not_for_us")      /* another MAC (broadcast ARP too), address or port */ \
    X(not_ip, "frame_not_ip")              /* to our MAC, another ethertype (ARP replies until L2 mode) */ \
    X(not_udp, "frame_not_udp")            /* IP but not UDP (or IPv6 extension headers) */ \
    X(malformed, "frame_malformed")        /* lengths or header fields do not add up */ \
    X(bad_checksum, "frame_bad_checksum")  /* IPv4 header checksum */              \
    X(fragment, "frame_fragment")          /* an IPv4 fragment: not reassembled */ \
    X(no_headroom, "frame_no_headroom")    /* send: no room to prepend headers */  \
    X(no_route, "frame_no_route")          /* send: no endpoint, or no source address of its family */ \
    X(chained, "frame_chained")            /* send: IPv6 UDP summed here (no UDP offload) needs one segment */ \
    X(not_forwarded, "frame_not_forwarded") /* L2 mode: to our address but no service (not ping), or multicast */ \
    X(ttl_expired, "frame_ttl_expired")    /* L2 mode: TTL / hop limit ran out (time exceeded sent where allowed) */ \
    X(too_big, "frame_too_big")            /* L2 mode: over the tunnel MTU (frag needed / packet too big sent where allowed) */ \
    X(no_neighbour, "frame_no_neighbour")  /* L2 mode, send: next hop unresolved and the control ring full */

enum class FrameDrop : uint8_t {
    none,
#define SLUICE_FRAME_ENUM(name, text) name,
    SLUICE_FRAME_DROPS(SLUICE_FRAME_ENUM)
#undef SLUICE_FRAME_ENUM
        count
};
inline constexpr size_t kFrameDropCount = static_cast<size_t>(FrameDrop::count);

[[nodiscard]] const char* to_string(FrameDrop drop) noexcept;

// Whether a drop happens on the way out (counted as a tx error) rather than
// on receipt.
[[nodiscard]] constexpr bool is_send_drop(FrameDrop drop) noexcept {
    return drop == FrameDrop::no_headroom || drop == FrameDrop::no_route ||
           drop == FrameDrop::chained || drop == FrameDrop::no_neighbour;
}

// The gateway's side of the WAN: its MAC, its addresses (family 0 = none of
// that family) and its UDP port.
struct UdpLocal {
    rte_ether_addr mac{};
    uint8_t v4[4] = {};
    bool has_v4 = false;
    uint8_t v6[16] = {};
    bool has_v6 = false;
    uint16_t port = 0;  // host order
};

// A WAN frame: on `none`, the UDP payload is p[*offset, *offset + *length)
// and *from is its sender.
FrameDrop parse_udp(const uint8_t* p, uint32_t len, const UdpLocal& local, MbufEndpoint* from,
                    uint32_t* offset, uint32_t* length) noexcept;

// A LAN frame: on `none`, the IP packet is p[*offset, *offset + *length).
FrameDrop parse_ip(const uint8_t* p, uint32_t len, const rte_ether_addr& mac, uint32_t* offset,
                   uint32_t* length) noexcept;

// Which checksums the device computes for frames sent (the port's TX
// offloads: RTE_MBUF_F_TX_IP_CKSUM, RTE_MBUF_F_TX_UDP_CKSUM). Both false:
// everything is summed here.
struct TxChecksum {
    bool ipv4_header = false;
    bool udp = false;
};

// Bytes of headers in front of a UDP payload sent to `to` (0: cannot send).
[[nodiscard]] size_t udp_headers_len(const MbufEndpoint& to, const UdpLocal& local) noexcept;

// Writes udp_headers_len() bytes at h, followed in memory by the payload
// (payload_len bytes; the IPv6 UDP checksum is summed over them unless the
// device does it). With `offload`:
//   ipv4_header  the IPv4 header checksum is 0, for the device to fill;
//   udp          the UDP checksum field holds the pseudo-header sum (not
//                complemented, as DPDK's TX UDP checksum offload wants it),
//                IPv4 and IPv6 alike; the payload is not read.
// Without: IPv4 header summed here, IPv4 UDP checksum 0, IPv6 UDP summed.
void write_udp_headers(uint8_t* h, const UdpLocal& local, const rte_ether_addr& next_hop,
                       const MbufEndpoint& to, uint32_t payload_len,
                       TxChecksum offload = {}) noexcept;

void write_ethernet(uint8_t* h, const rte_ether_addr& src, const rte_ether_addr& dst,
                    uint16_t ethertype) noexcept;

}  // namespace sluice::frame
