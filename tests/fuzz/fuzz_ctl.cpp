// Fuzz target for the sluicectl control protocol: the bytes a daemon reads
// from any local client and a client reads from the daemon.
//
// The input is read as a byte stream twice, once by a daemon-side reader and
// once by a client-side one, whole and again in uneven chunks. Beyond "no
// crash, no hang, no sanitizer finding", it traps when:
// - chunked and whole reading disagree about the frames or the error;
// - a frame decodes but does not encode back to the same bytes (the encoding
//   is canonical, so a decoder that accepts two spellings of one value is a
//   bug);
// - a reply the daemon would send (to a good, bad or unknown request, or
//   after a framing error) is not one the client can decode;
// - a rendering of a decoded reply is not newline-terminated JSON on one line.
//
// Inputs that start with "argv\0" are instead NUL-separated sluicectl
// arguments: the parser must give one "sluicectl: " line or a request that
// encodes.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "control/ctl_protocol.hpp"
#include "control/sluicectl_args.hpp"

namespace {

using namespace sluice;
using namespace sluice::ctl;

void check(bool ok) {
    if (!ok) __builtin_trap();
}

struct Reading {
    std::vector<Frame> frames;
    bool failed = false;
    Error error;
    std::vector<uint8_t> error_reply;
};

// `chunk(i)` gives the size of the i-th piece fed to the reader.
template <typename Chunk>
Reading read_stream(Kind expect, uint32_t limit, std::span<const uint8_t> in, Chunk chunk) {
    Reading out;
    FrameReader reader(expect, limit);
    size_t at = 0;
    for (size_t i = 0; at < in.size() && reader.state() != FrameReader::State::failed; ++i) {
        std::span<const uint8_t> piece = in.subspan(at, std::min(chunk(i), in.size() - at));
        at += piece.size();
        while (!piece.empty() && reader.state() != FrameReader::State::failed) {
            const size_t used = reader.feed(piece);
            check(used <= piece.size());
            piece = piece.subspan(used);
            if (reader.state() == FrameReader::State::frame_ready) {
                out.frames.push_back(reader.take());
                check(out.frames.back().payload.size() <= limit);
            } else {
                check(used > 0 || reader.state() == FrameReader::State::failed);
            }
        }
    }
    reader.finish();
    if (reader.state() == FrameReader::State::failed) {
        out.failed = true;
        out.error = reader.error();
        out.error_reply = reader.error_reply();
    }
    return out;
}

std::vector<uint8_t> bytes_of(const Frame& f) {
    return encode_frame(f.header, f.payload);
}

// What a client makes of one reply frame the daemon produced.
void client_reads_daemon_reply(const std::vector<uint8_t>& reply) {
    FrameReader reader(Kind::response, kMaxResponsePayload);
    check(reader.feed(reply) == reply.size());
    check(reader.state() == FrameReader::State::frame_ready);
    const Result<Response> r = decode_response(reader.take());
    // Either a real reply or the daemon's error: never a malformed frame.
    check(r.ok() || r.error().code == Errc::daemon_error);
}

// Reads the stream whole and in uneven pieces; both must see the same.
Reading read_both_ways(Kind expect, uint32_t limit, std::span<const uint8_t> in, size_t stride) {
    Reading whole = read_stream(expect, limit, in, [&](size_t) { return in.size(); });
    const Reading uneven =
        read_stream(expect, limit, in, [&](size_t i) { return 1 + (i * stride) % 13; });
    check(whole.frames == uneven.frames && whole.failed == uneven.failed);
    check(whole.error == uneven.error && whole.error_reply == uneven.error_reply);
    return whole;
}

void fuzz_requests(std::span<const uint8_t> in) {
    const Reading whole = read_both_ways(Kind::request, kMaxRequestPayload, in, 7);
    if (!whole.error_reply.empty()) client_reads_daemon_reply(whole.error_reply);

    const HandlerTable no_handlers;  // every decodable request gets ENOSYS
    for (const Frame& f : whole.frames) {
        const Result<Request> r = decode_request(f);
        if (r.ok()) {
            const auto again = encode_request(r.value(), f.header.request_id);
            check(again.ok() && again.value() == bytes_of(f));
        }
        client_reads_daemon_reply(no_handlers.serve(f));
    }
}

void fuzz_responses(std::span<const uint8_t> in) {
    const Reading whole = read_both_ways(Kind::response, kMaxResponsePayload, in, 5);
    check(whole.error_reply.empty());  // a client never answers

    for (const Frame& f : whole.frames) {
        const Result<Response> r = decode_response(f);
        if (r.ok()) {
            check(encode_response(r.value(), f.header.request_id) == bytes_of(f));
            (void)sluicectl::render_text(r.value());
            const std::string json = sluicectl::render_json(r.value());
            check(!json.empty() && json.find('\n') == json.size() - 1);
            if (const auto* stats = std::get_if<StatsResponse>(&r.value()))
                (void)sluicectl::render_stats_period(stats, *stats);
        } else if (r.error().code == Errc::daemon_error) {
            const Failure failure{r.error().status, r.error().detail};
            check(encode_failure(f.header.command, f.header.request_id, failure) == bytes_of(f));
        }
        (void)describe(r.ok() ? Error{} : r.error());
    }
}

void fuzz_argv(std::span<const uint8_t> in) {
    std::vector<std::string_view> args;
    const std::string_view text(reinterpret_cast<const char*>(in.data()), in.size());
    for (size_t start = 0; start <= text.size();) {
        const size_t nul = std::min(text.find('\0', start), text.size());
        args.push_back(text.substr(start, nul - start));
        start = nul + 1;
    }
    const auto r = sluicectl::parse_args(std::span<const std::string_view>(args));
    if (const auto* e = std::get_if<sluicectl::UsageError>(&r)) {
        check(e->message.starts_with("sluicectl: ") && e->message.find('\n') == std::string::npos);
        check(e->exit_code == sluicectl::exit_code::usage ||
              e->exit_code == sluicectl::exit_code::bad_value);
        return;
    }
    const auto& inv = std::get<sluicectl::Invocation>(r);
    // Whatever the parser accepts, the protocol accepts.
    if (inv.action == sluicectl::Invocation::Action::request)
        check(encode_request(inv.request, 1).ok());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::span<const uint8_t> in(data, size);
    static constexpr std::string_view kArgv("argv\0", 5);
    if (size >= kArgv.size() &&
        std::string_view(reinterpret_cast<const char*>(data), kArgv.size()) == kArgv) {
        fuzz_argv(in.subspan(kArgv.size()));
        return 0;
    }
    fuzz_requests(in);
    fuzz_responses(in);
    return 0;
}
