// Fuzz target: every Ethernet frame a NIC can hand the L2 ports
// (drivers/dpdk/frame), through both parsers. The first input byte picks the
// port's configuration; the frame is the rest. With its bits clear the port
// is the one of the seed corpus (02:00:00:00:00:01, 192.0.2.1, 2001:db8::1,
// UDP 51820), so seeds reach the deepest paths; set, the MAC, addresses and
// port are taken from the frame itself, so mutated frames get past the
// "not for us" checks half of the time too.
//
// A frame parse_udp accepts must lie inside the input, and a reply to its
// sender, written with write_udp_headers, must parse back at the sender.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "drivers/dpdk/frame.hpp"

namespace {

using namespace sluice;
using frame::FrameDrop;

constexpr uint8_t kHasV4 = 0x01;
constexpr uint8_t kHasV6 = 0x02;
constexpr uint8_t kMacFromFrame = 0x04;
constexpr uint8_t kAddressesFromFrame = 0x08;
constexpr uint8_t kPortFromFrame = 0x10;

constexpr rte_ether_addr kSeedMac = {{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}};
constexpr rte_ether_addr kNextHop = {{0x02, 0x00, 0x00, 0x00, 0x00, 0x02}};
constexpr uint8_t kSeedV4[4] = {192, 0, 2, 1};
constexpr uint8_t kSeedV6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

frame::UdpLocal local_for(uint8_t config, const uint8_t* p, size_t len) {
    frame::UdpLocal l;
    l.has_v4 = (config & kHasV4) != 0;
    l.has_v6 = (config & kHasV6) != 0;
    l.mac = kSeedMac;
    if ((config & kMacFromFrame) != 0 && len >= 6) std::memcpy(l.mac.addr_bytes, p, 6);
    std::memcpy(l.v4, kSeedV4, 4);
    std::memcpy(l.v6, kSeedV6, 16);
    if ((config & kAddressesFromFrame) != 0) {
        if (len >= 14 + 20) std::memcpy(l.v4, p + 14 + 16, 4);
        if (len >= 14 + 40) std::memcpy(l.v6, p + 14 + 24, 16);
    }
    l.port = 51820;
    if ((config & kPortFromFrame) != 0 && len >= 14) {
        // Where the UDP destination port is with a 20-byte IPv4 or a 40-byte
        // IPv6 header.
        const size_t at = p[13] == 0xDD ? 14 + 40 + 2 : 14 + 20 + 2;
        if (len >= at + 2) l.port = static_cast<uint16_t>(p[at] << 8 | p[at + 1]);
    }
    return l;
}

// The gateway answers the sender: the frame it writes must come back whole
// at the sender, from the gateway's address and port.
void reply(const frame::UdpLocal& local, const MbufEndpoint& to, const uint8_t* data,
           uint32_t length) {
    const size_t hlen = frame::udp_headers_len(to, local);
    if (hlen == 0) return;  // e.g. the sender's port was 0
    std::vector<uint8_t> out(hlen + length);
    if (length > 0) std::memcpy(out.data() + hlen, data, length);
    frame::write_udp_headers(out.data(), local, kNextHop, to, length);

    frame::UdpLocal sender;
    sender.mac = kNextHop;
    sender.port = to.port;
    if (to.family == 4) {
        sender.has_v4 = true;
        std::memcpy(sender.v4, to.addr, 4);
    } else {
        sender.has_v6 = true;
        std::memcpy(sender.v6, to.addr, 16);
    }
    MbufEndpoint from;
    uint32_t offset = 0;
    uint32_t got = 0;
    if (frame::parse_udp(out.data(), static_cast<uint32_t>(out.size()), sender, &from, &offset,
                         &got) != FrameDrop::none)
        std::abort();
    if (offset != hlen || got != length || from.family != to.family || from.port != local.port)
        std::abort();
    if (std::memcmp(from.addr, to.family == 4 ? local.v4 : local.v6, to.family == 4 ? 4 : 16) != 0)
        std::abort();
    if (length > 0 && std::memcmp(out.data() + offset, data, length) != 0) std::abort();
}

void check_udp(uint8_t config, const uint8_t* p, size_t size) {
    const frame::UdpLocal local = local_for(config, p, size);
    const auto len = static_cast<uint32_t>(size);
    MbufEndpoint from;
    from.reserved = 0xEE;
    uint32_t offset = 0;
    uint32_t length = 0;
    const FrameDrop drop = frame::parse_udp(p, len, local, &from, &offset, &length);
    if (drop == FrameDrop::count || drop == FrameDrop::no_headroom || drop == FrameDrop::no_route)
        std::abort();  // a send-side reason, or none at all, from a parser
    if (drop != FrameDrop::none) return;
    if (uint64_t{offset} + length > len) std::abort();
    if (offset < frame::kEthernetLen + frame::kIpv4Len + frame::kUdpLen) std::abort();
    if (from.reserved != 0) std::abort();
    if (from.family == 4) {
        if (!local.has_v4 || std::memcmp(from.addr, p + 14 + 12, 4) != 0) std::abort();
    } else if (from.family == 6) {
        if (!local.has_v6 || std::memcmp(from.addr, p + 14 + 8, 16) != 0) std::abort();
    } else {
        std::abort();
    }
    if (length <= 2048) reply(local, from, p + offset, length);
}

void check_ip(uint8_t config, const uint8_t* p, size_t size) {
    const rte_ether_addr mac = local_for(config, p, size).mac;
    const auto len = static_cast<uint32_t>(size);
    uint32_t offset = 0;
    uint32_t length = 0;
    const FrameDrop drop = frame::parse_ip(p, len, mac, &offset, &length);
    if (drop == FrameDrop::count || drop == FrameDrop::no_headroom || drop == FrameDrop::no_route)
        std::abort();
    if (drop != FrameDrop::none) return;
    if (uint64_t{offset} + length > len) std::abort();
    if (offset != frame::kEthernetLen || length < frame::kIpv4Len) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0 || size > 65536) return 0;
    const uint8_t config = data[0];
    // The frame in a buffer of its own exact size, so a sanitizer sees any
    // read past its end (the config byte in front would hide an underread).
    const size_t len = size - 1;
    const auto bytes = std::make_unique<uint8_t[]>(len);
    std::memcpy(bytes.get(), data + 1, len);
    check_udp(config, bytes.get(), len);
    check_ip(config, bytes.get(), len);
    return 0;
}
