// The first bytes of every forwarded stream (docs/streams.md): which target
// the opening gateway asks the far gateway to connect to. The far gateway
// checks it against the opener's `streams.allow` list before connecting.
//
//   byte 0      preamble version (1)
//   byte 1      address family: 4 or 6
//   bytes 2-3   target port, big-endian, never 0
//   bytes 4..   the address: 4 or 16 bytes
//
// The parser takes untrusted bytes (fuzz_stream_frames): it says "need more"
// until the whole preamble is there, and names what is wrong otherwise.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace sluice::streams {

inline constexpr uint8_t kPreambleVersion = 1;
inline constexpr size_t kMaxPreambleLen = 4 + 16;

struct Preamble {
    uint8_t family = 4;  // 4 or 6
    std::array<uint8_t, 16> address{};  // the first 4 bytes for IPv4
    uint16_t port = 0;
    friend bool operator==(const Preamble&, const Preamble&) = default;
};

enum class PreambleStatus : uint8_t { ok, need_more, bad_version, bad_family, bad_port };
std::string_view to_string(PreambleStatus s) noexcept;

// Appends the encoded preamble to `out`.
void encode_preamble(const Preamble& p, std::vector<uint8_t>* out);
// ok: *out filled and *consumed = the preamble's length; need_more: the
// bytes so far are a valid beginning; anything else: the stream is reset.
PreambleStatus parse_preamble(std::span<const uint8_t> bytes, Preamble* out, size_t* consumed);

}  // namespace sluice::streams
