// Internal to the control protocol's implementations: the frame header's byte
// layout and the checks on it, shared by the payload codec (ctl_codec.cpp),
// which builds and decodes whole frames, the stream reader (ctl_frames.cpp),
// and the daemon's server (ctl_server.cpp), which reads a reply's status.
#pragma once

#include <cstddef>
#include <cstdint>

#include "control/ctl_protocol.hpp"

namespace sluice::ctl {

// Little-endian, as every integer on the wire.
inline uint64_t get_le(const uint8_t* p, size_t bytes) noexcept {
    uint64_t v = 0;
    for (size_t i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
    return v;
}

// The kHeaderSize bytes at `out` / `p`; payload_length is written as given.
void put_header(uint8_t* out, const Header& h) noexcept;
Header get_header(const uint8_t* p) noexcept;

// Everything a header can get wrong, in the order a reader meets it. Used by
// the stream reader and again by the decoders, which may be handed frames
// that never went through one.
Error header_problem(const Header& h, Kind expect, uint32_t max_payload, uint8_t reserved_or);

}  // namespace sluice::ctl
