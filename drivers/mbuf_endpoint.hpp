// The remote UDP endpoint of a WAN packet, carried in the mbuf itself (a DPDK
// dynamic field), so the receive path can roam a peer to where its latest
// authenticated packet came from and the send path knows where to send.
//
// Owner: the lcore holding the mbuf. Written by the WAN port on receive and by
// the encrypt stage before transmit; read by the decrypt stage and the port.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

#include "dataplane/ip_prefix.hpp"

struct rte_mbuf;

namespace sluice {

struct MbufEndpoint {
    uint8_t family = 0;  // 4 or 6; 0 = none
    uint8_t reserved = 0;
    uint16_t port = 0;  // host order
    uint8_t addr[16] = {};

    [[nodiscard]] bool operator==(const MbufEndpoint& o) const noexcept {
        return family == o.family && port == o.port &&
               std::memcmp(addr, o.addr, family == 4 ? 4 : 16) == 0;
    }
    [[nodiscard]] std::string to_string() const;  // "192.0.2.1:51820", "[2001:db8::1]:51820"
};
static_assert(sizeof(MbufEndpoint) == 20);

// Registers the dynamic field; call once after EAL started and before any
// mbuf is allocated. Returns false (with rte_errno) if DPDK refused.
bool register_mbuf_endpoint();

// Offset of the field inside rte_mbuf; valid after register_mbuf_endpoint().
extern int g_mbuf_endpoint_offset;

inline MbufEndpoint* mbuf_endpoint(rte_mbuf* m) noexcept {
    return reinterpret_cast<MbufEndpoint*>(reinterpret_cast<uintptr_t>(m) +
                                           static_cast<uintptr_t>(g_mbuf_endpoint_offset));
}

}  // namespace sluice
