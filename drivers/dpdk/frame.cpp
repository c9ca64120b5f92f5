#include "drivers/dpdk/frame.hpp"

#include <rte_byteorder.h>
#include <rte_ip.h>
#include <rte_udp.h>

#include <cstring>

namespace sluice::frame {

namespace {

// The Ethernet header: our MAC, and the ethertype.
bool for_mac(const uint8_t* p, const rte_ether_addr& mac) noexcept {
    return std::memcmp(p, mac.addr_bytes, RTE_ETHER_ADDR_LEN) == 0;
}

}  // namespace

const char* to_string(FrameDrop drop) noexcept {
    switch (drop) {
        case FrameDrop::none: return "none";
#define SLUICE_FRAME_NAME(name, text) \
    case FrameDrop::name: return text;
        SLUICE_FRAME_DROPS(SLUICE_FRAME_NAME)
#undef SLUICE_FRAME_NAME
        case FrameDrop::count: break;
    }
    return "?";
}

FrameDrop parse_udp(const uint8_t* p, uint32_t len, const UdpLocal& local, MbufEndpoint* from,
                    uint32_t* offset, uint32_t* length) noexcept {
    if (len < kEthernetLen) return FrameDrop::malformed;
    if (!for_mac(p, local.mac)) return FrameDrop::not_for_us;
    const uint16_t type = load_be16(p + 12);
    const uint8_t* ip = p + kEthernetLen;
    const uint32_t ip_room = len - static_cast<uint32_t>(kEthernetLen);
    const uint8_t* udp = nullptr;
    uint32_t udp_room = 0;  // bytes from the UDP header to the end of the IP packet
    if (type == kEtherIpv4) {
        if (ip_room < kIpv4Len || (ip[0] >> 4) != 4) return FrameDrop::malformed;
        const uint32_t ihl = (ip[0] & 0x0Fu) * 4u;
        const uint32_t total = load_be16(ip + 2);
        if (ihl < kIpv4Len || total < ihl || total > ip_room) return FrameDrop::malformed;
        if (rte_raw_cksum(ip, ihl) != 0xFFFF) return FrameDrop::bad_checksum;
        if ((load_be16(ip + 6) & 0x3FFFu) != 0) return FrameDrop::fragment;  // MF or an offset
        if (ip[9] != IPPROTO_UDP) return FrameDrop::not_udp;
        if (!local.has_v4 || std::memcmp(ip + 16, local.v4, 4) != 0) return FrameDrop::not_for_us;
        from->family = 4;
        std::memcpy(from->addr, ip + 12, 4);
        std::memset(from->addr + 4, 0, 12);
        udp = ip + ihl;
        udp_room = total - ihl;
    } else if (type == kEtherIpv6) {
        if (ip_room < kIpv6Len || (ip[0] >> 4) != 6) return FrameDrop::malformed;
        const uint32_t payload = load_be16(ip + 4);
        if (payload > ip_room - kIpv6Len) return FrameDrop::malformed;
        if (ip[6] != IPPROTO_UDP) return FrameDrop::not_udp;
        if (!local.has_v6 || std::memcmp(ip + 24, local.v6, 16) != 0) return FrameDrop::not_for_us;
        from->family = 6;
        std::memcpy(from->addr, ip + 8, 16);
        udp = ip + kIpv6Len;
        udp_room = payload;
    } else {
        return FrameDrop::not_ip;
    }
    if (udp_room < kUdpLen) return FrameDrop::malformed;
    const uint32_t udp_len = load_be16(udp + 4);
    if (udp_len < kUdpLen || udp_len > udp_room) return FrameDrop::malformed;
    if (load_be16(udp + 2) != local.port) return FrameDrop::not_for_us;
    from->port = load_be16(udp);
    from->reserved = 0;
    *offset = static_cast<uint32_t>(udp - p) + static_cast<uint32_t>(kUdpLen);
    *length = udp_len - static_cast<uint32_t>(kUdpLen);
    return FrameDrop::none;
}

FrameDrop parse_ip(const uint8_t* p, uint32_t len, const rte_ether_addr& mac, uint32_t* offset,
                   uint32_t* length) noexcept {
    if (len < kEthernetLen) return FrameDrop::malformed;
    if (!for_mac(p, mac)) return FrameDrop::not_for_us;
    const uint16_t type = load_be16(p + 12);
    const uint8_t* ip = p + kEthernetLen;
    const uint32_t room = len - static_cast<uint32_t>(kEthernetLen);
    uint32_t ip_len = 0;
    if (type == kEtherIpv4) {
        if (room < kIpv4Len || (ip[0] >> 4) != 4) return FrameDrop::malformed;
        ip_len = load_be16(ip + 2);
        if (ip_len < kIpv4Len) return FrameDrop::malformed;
    } else if (type == kEtherIpv6) {
        if (room < kIpv6Len || (ip[0] >> 4) != 6) return FrameDrop::malformed;
        ip_len = static_cast<uint32_t>(kIpv6Len) + load_be16(ip + 4);
    } else {
        return FrameDrop::not_ip;
    }
    if (ip_len > room) return FrameDrop::malformed;
    *offset = static_cast<uint32_t>(kEthernetLen);
    *length = ip_len;  // Ethernet padding after the packet is not part of it
    return FrameDrop::none;
}

size_t udp_headers_len(const MbufEndpoint& to, const UdpLocal& local) noexcept {
    if (to.port == 0) return 0;
    if (to.family == 4 && local.has_v4) return kEthernetLen + kIpv4Len + kUdpLen;
    if (to.family == 6 && local.has_v6) return kEthernetLen + kIpv6Len + kUdpLen;
    return 0;
}

void write_ethernet(uint8_t* h, const rte_ether_addr& src, const rte_ether_addr& dst,
                    uint16_t ethertype) noexcept {
    std::memcpy(h, dst.addr_bytes, RTE_ETHER_ADDR_LEN);
    std::memcpy(h + 6, src.addr_bytes, RTE_ETHER_ADDR_LEN);
    store_be16(h + 12, ethertype);
}

void write_udp_headers(uint8_t* h, const UdpLocal& local, const rte_ether_addr& next_hop,
                       const MbufEndpoint& to, uint32_t payload_len, TxChecksum offload) noexcept {
    const auto udp_len = static_cast<uint16_t>(kUdpLen + payload_len);
    uint8_t* ip = h + kEthernetLen;
    if (to.family == 4) {
        write_ethernet(h, local.mac, next_hop, kEtherIpv4);
        ip[0] = 0x45;
        ip[1] = 0;
        store_be16(ip + 2, static_cast<uint16_t>(kIpv4Len + udp_len));
        store_be16(ip + 4, 0);       // identification: unused with DF
        store_be16(ip + 6, 0x4000);  // DF
        ip[8] = 64;
        ip[9] = IPPROTO_UDP;
        store_be16(ip + 10, 0);  // stays 0 for the device with ipv4_header offload
        std::memcpy(ip + 12, local.v4, 4);
        std::memcpy(ip + 16, to.addr, 4);
        if (!offload.ipv4_header) {
            const uint16_t sum = static_cast<uint16_t>(~rte_raw_cksum(ip, kIpv4Len));
            std::memcpy(ip + 10, &sum, 2);  // the sum is in network order already
        }
        uint8_t* udp = ip + kIpv4Len;
        store_be16(udp, local.port);
        store_be16(udp + 2, to.port);
        store_be16(udp + 4, udp_len);
        store_be16(udp + 6, 0);
        if (offload.udp) {
            const uint16_t sum = rte_ipv4_phdr_cksum(reinterpret_cast<const rte_ipv4_hdr*>(ip), 0);
            std::memcpy(udp + 6, &sum, 2);  // network order, like the header sum
        }
        return;
    }
    write_ethernet(h, local.mac, next_hop, kEtherIpv6);
    ip[0] = 0x60;
    ip[1] = 0;
    ip[2] = 0;
    ip[3] = 0;
    store_be16(ip + 4, udp_len);
    ip[6] = IPPROTO_UDP;
    ip[7] = 64;
    std::memcpy(ip + 8, local.v6, 16);
    std::memcpy(ip + 24, to.addr, 16);
    uint8_t* udp = ip + kIpv6Len;
    store_be16(udp, local.port);
    store_be16(udp + 2, to.port);
    store_be16(udp + 4, udp_len);
    store_be16(udp + 6, 0);
    const auto* ip6 = reinterpret_cast<const rte_ipv6_hdr*>(ip);
    const uint16_t sum = offload.udp ? rte_ipv6_phdr_cksum(ip6, 0) : rte_ipv6_udptcp_cksum(ip6, udp);
    std::memcpy(udp + 6, &sum, 2);
}

}  // namespace sluice::frame
