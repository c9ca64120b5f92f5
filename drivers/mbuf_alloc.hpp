// Taking receive mbufs a burst at a time, shared by every driver's rx path.
#pragma once

#include <rte_mbuf.h>

#include <cstdint>

namespace sluice {

// Up to `want` mbufs from `pool` into `mbufs`; returns how many. All of them
// when the pool has them, else the largest halving of `want` it can give:
// rte_pktmbuf_alloc_bulk is all-or-nothing, and a pool running low should
// still let some packets in.
inline uint16_t alloc_mbufs_up_to(rte_mempool* pool, rte_mbuf** mbufs, uint16_t want) noexcept {
    for (uint16_t n = want; n > 0; n /= 2) {
        if (rte_pktmbuf_alloc_bulk(pool, mbufs, n) == 0) return n;
    }
    return 0;
}

}  // namespace sluice
