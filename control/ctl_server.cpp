// The control protocol's half of the sluicectl socket server: one FrameReader
// per client and HandlerTable::serve() per request. Owner: the control thread.
#include "control/ctl_server.hpp"

#include <utility>
#include <vector>

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
    // The header's status field (offset 16, little-endian).
    static uint32_t status_of(const std::vector<uint8_t>& frame) noexcept {
        if (frame.size() < ctl::kHeaderSize) return 1;
        uint32_t status = 0;
        for (size_t i = 0; i < 4; ++i) status |= uint32_t{frame[16 + i]} << (8 * i);
        return status;
    }

    const ctl::HandlerTable& handlers_;
    ctl::FrameReader reader_{ctl::Kind::request, ctl::kMaxRequestPayload};
};

std::unique_ptr<CtlServer> CtlServer::create(const std::string& path, ctl::HandlerTable handlers,
                                             std::string* error, const ServerLimits& limits) {
    std::unique_ptr<CtlServer> server(new CtlServer());
    server->handlers_ = std::make_unique<ctl::HandlerTable>(std::move(handlers));
    const ctl::HandlerTable* table = server->handlers_.get();
    server->core_ = SocketServer::create(
        path, [table] { return std::make_unique<Session>(*table); }, limits, error);
    if (!server->core_) return nullptr;
    return server;
}

CtlServer::~CtlServer() = default;

}  // namespace sluice
