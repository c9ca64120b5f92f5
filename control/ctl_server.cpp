// The control protocol's half of the sluicectl socket server: one FrameReader
// per client and HandlerTable::serve() per request. Owner: the control thread.
#include "control/ctl_server.hpp"

#include <utility>
#include <vector>

#include "control/ctl_wire.hpp"   // get_header
#include "dataplane/keypair.hpp"  // secure_wipe

namespace sluice {

class CtlServer::Session final : public ServerSession {
public:
    explicit Session(const ctl::HandlerTable& handlers) noexcept : handlers_(handlers) {}

    Step consume(std::span<const uint8_t> bytes, SecretBuffer& out) override {
        const size_t used = reader_.feed(bytes);
        switch (reader_.state()) {
            case ctl::FrameReader::State::need_more:
                return {used, Outcome::need_more};
            case ctl::FrameReader::State::failed:
                out.append(reader_.error_reply());  // empty for bad magic
                return {used, Outcome::broken};
            case ctl::FrameReader::State::frame_ready:
                break;
        }
        ctl::Frame request = reader_.take();
        std::vector<uint8_t> reply;
        try {
            reply = handlers_.serve(request);
        } catch (...) {
            secure_wipe(request.payload.data(), request.payload.size());
            throw;
        }
        secure_wipe(request.payload.data(), request.payload.size());
        out.append(reply);
        return {used, status_of(reply) == 0 ? Outcome::answered : Outcome::answered_error};
    }

    bool between_requests() const noexcept override { return reader_.between_frames(); }

private:
    static uint32_t status_of(const std::vector<uint8_t>& frame) noexcept {
        return frame.size() < ctl::kHeaderSize ? 1 : ctl::get_header(frame.data()).status;
    }

    const ctl::HandlerTable& handlers_;
    ctl::FrameReader reader_{ctl::Kind::request, ctl::kMaxRequestPayload};
};

std::unique_ptr<CtlServer> CtlServer::create(const std::string& path, ctl::HandlerTable handlers,
                                             std::string* error, const ServerLimits& limits) {
    std::unique_ptr<CtlServer> server(new CtlServer());
    auto table = std::make_shared<const ctl::HandlerTable>(std::move(handlers));
    server->state_ = table;
    server->core_ = SocketServer::create(
        path, [t = table.get()] { return std::make_unique<Session>(*t); }, limits, error);
    if (!server->core_) return nullptr;
    return server;
}


}  // namespace sluice
