// Fuzz target for the UAPI path a client of /var/run/wireguard/<name>.sock
// reaches: bytes → RequestReader → parse_set → DeviceConfig::apply, and get →
// snapshot → format_get, on one model across every request of the input, as
// one connection would.
//
// Besides "never crash", it checks what must hold for any input:
//   - the reader takes every byte it is offered unless a request is ready
//     or it failed, and never yields a request past its limits;
//   - a failed apply leaves the model exactly as it was (all or nothing);
//   - the model's indexes stay consistent (well_formed), within its limits;
//   - every get reply ends with "errno=0\n\n";
//   - replies do not depend on how the bytes were split.
// The seeds are requests wg(8) sent (captured by uapi-model --record in
// tests/interop/uapi_wg_diff.sh) plus a few malformed ones.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "control/crypto.hpp"
#include "control/device_config.hpp"
#include "control/uapi.hpp"

namespace {

void check(bool ok) {
    if (!ok) std::abort();
}

// Small limits, so that the limit paths run as often as the rest.
constexpr sluice::uapi::ReaderLimits kReaderLimits{200, 16384};
constexpr sluice::DeviceLimits kDeviceLimits{16, 64};

// Serves one request on `model` and returns the reply, as the daemon would.
std::string handle(sluice::DeviceConfig& model, const sluice::uapi::Request& request) {
    check(request.body.size() <= kReaderLimits.max_request);
    if (request.operation == sluice::uapi::Operation::get) {
        check(request.body.empty());
        std::string reply = sluice::uapi::format_get(model.snapshot());
        check(reply.size() >= 9 && reply.compare(reply.size() - 9, 9, "errno=0\n\n") == 0);
        return reply;
    }
    sluice::uapi::SetRequest set;
    if (const sluice::uapi::Error e = sluice::uapi::parse_set(request.body, &set))
        return sluice::uapi::format_errno(e.code);
    const std::string before = sluice::uapi::format_get(model.snapshot());
    const sluice::ApplyResult result = model.apply(set);
    if (result.error) {
        check(result.changes.empty());
        check(sluice::uapi::format_get(model.snapshot()) == before);
    }
    check(model.well_formed());
    check(model.peer_count() <= kDeviceLimits.max_peers);
    check(model.allowed_ip_count() <= kDeviceLimits.max_allowed_ips);
    return sluice::uapi::format_errno(result.error.code);
}

// One connection: the input fed in chunks of `chunk` bytes; returns every
// reply written, in order.
std::string serve(std::string_view input, size_t chunk) {
    sluice::DeviceConfig model(kDeviceLimits);
    sluice::uapi::RequestReader reader(kReaderLimits);
    using State = sluice::uapi::RequestReader::State;
    std::string transcript;
    while (!input.empty()) {
        std::string_view piece = input.substr(0, chunk);
        input.remove_prefix(piece.size());
        for (;;) {
            const size_t used = reader.feed(piece);
            check(used <= piece.size());
            piece.remove_prefix(used);
            if (reader.state() == State::ready) {
                transcript += handle(model, reader.take());
                continue;
            }
            if (reader.state() == State::failed) {
                check(reader.error().code != 0);
                check(reader.feed("get=1\n\n") == 0);
                return transcript + sluice::uapi::format_errno(reader.error().code);
            }
            check(piece.empty());  // need_more: every byte was taken
            break;
        }
    }
    return transcript;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const bool initialised = (sluice::crypto::init(), true);
    (void)initialised;
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    // However the bytes arrive, the replies must be the same: all at once
    // against chunks of 1..17 bytes (the size picked by the input's length,
    // so the seeds stay plain requests).
    check(serve(input, input.size() + 1) == serve(input, 1 + size % 17));
    return 0;
}
