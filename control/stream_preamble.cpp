#include "control/stream_preamble.hpp"

namespace sluice::streams {

std::string_view to_string(PreambleStatus s) noexcept {
    switch (s) {
        case PreambleStatus::ok: return "ok";
        case PreambleStatus::need_more: return "need_more";
        case PreambleStatus::bad_version: return "bad_version";
        case PreambleStatus::bad_family: return "bad_family";
        case PreambleStatus::bad_port: return "bad_port";
    }
    return "unknown";
}

void encode_preamble(const Preamble& p, std::vector<uint8_t>* out) {
    out->push_back(kPreambleVersion);
    out->push_back(p.family);
    out->push_back(static_cast<uint8_t>(p.port >> 8));
    out->push_back(static_cast<uint8_t>(p.port & 0xff));
    const size_t n = p.family == 6 ? 16 : 4;
    out->insert(out->end(), p.address.begin(), p.address.begin() + static_cast<std::ptrdiff_t>(n));
}

PreambleStatus parse_preamble(std::span<const uint8_t> bytes, Preamble* out, size_t* consumed) {
    if (bytes.empty()) return PreambleStatus::need_more;
    if (bytes[0] != kPreambleVersion) return PreambleStatus::bad_version;
    if (bytes.size() < 2) return PreambleStatus::need_more;
    if (bytes[1] != 4 && bytes[1] != 6) return PreambleStatus::bad_family;
    if (bytes.size() < 4) return PreambleStatus::need_more;
    const auto port = static_cast<uint16_t>((bytes[2] << 8) | bytes[3]);
    if (port == 0) return PreambleStatus::bad_port;
    const size_t n = bytes[1] == 6 ? 16 : 4;
    if (bytes.size() < 4 + n) return PreambleStatus::need_more;
    *out = Preamble{};
    out->family = bytes[1];
    out->port = port;
    for (size_t i = 0; i < n; ++i) out->address[i] = bytes[4 + i];
    *consumed = 4 + n;
    return PreambleStatus::ok;
}

}  // namespace sluice::streams
