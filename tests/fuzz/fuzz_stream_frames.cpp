// Fuzz target: a decrypted stream message (control/stream_frames.hpp) and the
// forwarding preamble (control/stream_preamble.hpp), both untrusted bytes.
//
// Properties, each an abort when broken:
//   - parse_packet never reads outside the input (the sanitizers watch), and
//     what it accepts keeps the header's promises: ACK ranges descending with
//     gaps and at most kMaxAckRanges, stream data inside the input and ending
//     at or below 2^62 - 1, close reasons at most kMaxCloseReasonLen;
//   - an accepted packet written back with FrameWriter parses to the same
//     header and frames, each frame taking encoded_size bytes, and writing
//     that again gives the same bytes (the writer's form is canonical);
//   - parse_preamble consumes only what it was given, and an accepted
//     preamble encodes back to exactly the bytes it consumed.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <type_traits>
#include <variant>
#include <vector>

#include "control/stream_frames.hpp"
#include "control/stream_preamble.hpp"

namespace {

using namespace sluice::streams;

void check(bool ok) {
    if (!ok) std::abort();
}


// What the parser promises about a frame it accepted.
void check_accepted(const Frame& f, std::span<const uint8_t> input) {
    if (const auto* a = std::get_if<AckFrame>(&f)) {
        check(!a->ranges.empty() && a->ranges.size() <= kMaxAckRanges);
        for (size_t i = 0; i < a->ranges.size(); ++i) {
            check(a->ranges[i].low <= a->ranges[i].high);
            check(a->ranges[i].high <= kMaxVarint);
            if (i > 0) check(a->ranges[i].high + 1 < a->ranges[i - 1].low);  // below, with a gap
        }
    } else if (const auto* s = std::get_if<StreamFrame>(&f)) {
        check(s->offset <= kMaxVarint && s->data.size() <= kMaxVarint - s->offset);
        if (!s->data.empty())
            check(s->data.data() >= input.data() &&
                  s->data.data() + s->data.size() <= input.data() + input.size());
    } else if (const auto* c = std::get_if<CloseFrame>(&f)) {
        check(c->reason.size() <= kMaxCloseReasonLen);
    }
}

std::vector<uint8_t> write(const Packet& p) {
    std::vector<uint8_t> out;
    FrameWriter w(&out);
    w.header(p.header);
    for (const Frame& f : p.frames) {
        const size_t before = w.size();
        w.frame(f);
        check(w.size() - before == encoded_size(f));
        if (const auto* s = std::get_if<StreamFrame>(&f))
            check(w.size() - before ==
                  stream_header_size(s->id, s->offset, s->data.size()) + s->data.size());
    }
    return out;
}

void check_packet(std::span<const uint8_t> input) {
    Packet p;
    const ParseError e = parse_packet(input, &p);
    check(to_string(e) != "unknown");
    if (input.size() < kPacketHeaderLen) check(e == ParseError::too_short);
    if (e != ParseError::none) return;
    check(!p.frames.empty());
    for (const Frame& f : p.frames) check_accepted(f, input);

    const std::vector<uint8_t> written = write(p);
    check(written.size() <= input.size());  // padding and long varints only shrink
    Packet again;
    check(parse_packet(written, &again) == ParseError::none);
    check(again.header.sender_session == p.header.sender_session &&
          again.header.receiver_session == p.header.receiver_session &&
          again.header.number == p.header.number);
    check(again.frames.size() == p.frames.size());
    for (size_t i = 0; i < p.frames.size(); ++i) check(p.frames[i] == again.frames[i]);
    check(write(again) == written);
}

void check_preamble(std::span<const uint8_t> input) {
    Preamble p;
    size_t consumed = 0;
    const PreambleStatus s = parse_preamble(input, &p, &consumed);
    check(to_string(s) != "unknown");
    if (s != PreambleStatus::ok) return;
    check(consumed <= input.size() && consumed <= kMaxPreambleLen);
    check(p.family == 4 || p.family == 6);
    check(p.port != 0);
    std::vector<uint8_t> encoded;
    encode_preamble(p, &encoded);
    check(encoded.size() == consumed && std::memcmp(encoded.data(), input.data(), consumed) == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size > 65536) return 0;  // more than one stream message can carry
    const std::span<const uint8_t> input(data, size);
    check_packet(input);
    check_preamble(input);
    return 0;
}
