// RFC 1071's one's-complement sum, written by the book and independent of
// DPDK's, so the tests of checksums sluice computes or leaves to a device
// (frame_test, l2_frames_test, ethdev_port_test) check against a second
// implementation.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sluice::testing {

inline uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

// Big-endian 16-bit words, an odd last byte padded with zero, carries folded
// back in; `sum` continues an earlier sum. 0xFFFF over a packet whose
// checksum is right.
inline uint16_t ones_sum(const uint8_t* p, size_t n, uint32_t sum = 0) {
    for (size_t i = 0; i + 1 < n; i += 2) sum += get16(p + i);
    if (n % 2 == 1) sum += static_cast<uint32_t>(p[n - 1]) << 8;
    while (sum >> 16) sum = (sum & 0xFFFFu) + (sum >> 16);
    return static_cast<uint16_t>(sum);
}

}  // namespace sluice::testing
