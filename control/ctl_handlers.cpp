// The daemon's side of the sluicectl protocol: one handler per command,
// registered in a table; serve() decodes a request, runs its handler and
// encodes the reply, so no handler sees a malformed request.
#include <cerrno>
#include <exception>

#include "control/ctl_protocol.hpp"

namespace sluice::ctl {

// ---- HandlerTable ---------------------------------------------------------------------

std::vector<uint8_t> HandlerTable::serve(const Frame& frame) const {
    const Header& h = frame.header;
    Result<Request> request = decode_request(frame);
    if (!request) {
        const Error& e = request.error();
        return encode_failure(h.command, h.request_id, {errno_for(e.code), describe(e)});
    }
    const Command command = command_of(request.value());
    const auto& handler = handlers_[static_cast<size_t>(command) - 1];
    if (!handler)
        return encode_failure(
            h.command, h.request_id,
            {ENOSYS, "sluiced does not serve \"" + std::string(command_name(command)) + "\""});
    try {
        ErasedOutcome outcome = handler(request.value());
        if (auto* failure = std::get_if<Failure>(&outcome))
            return encode_failure(h.command, h.request_id, *failure);
        return encode_response(std::get<Response>(outcome), h.request_id);
    } catch (const std::exception& e) {
        // One failing command must not take the control thread with it; the
        // operator gets the reason and the daemon keeps serving.
        return encode_failure(h.command, h.request_id,
                              {EIO, "sluiced failed to run \"" +
                                        std::string(command_name(command)) + "\": " + e.what()});
    }
}

}  // namespace sluice::ctl
