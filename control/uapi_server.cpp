// The UAPI protocol's half of the UAPI socket server: one RequestReader per
// client and the answer to each request. Owner: the control thread.
#include "control/uapi_server.hpp"

#include <cerrno>
#include <exception>
#include <new>
#include <string_view>
#include <utility>

#include "dataplane/keypair.hpp"  // secure_wipe

namespace sluice {

class UapiServer::Session final : public ServerSession {
public:
    explicit Session(const Callbacks& callbacks) noexcept
        : callbacks_(callbacks), reader_(callbacks.reader_limits) {}

    Step consume(std::span<const uint8_t> bytes, SecretBuffer& out) override {
        const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
        const size_t used = reader_.feed(text);
        switch (reader_.state()) {
            case uapi::RequestReader::State::need_more:
                return {used, Outcome::need_more};
            case uapi::RequestReader::State::failed:
                out.append(uapi::format_errno(reader_.error().code));
                return {used, Outcome::broken};
            case uapi::RequestReader::State::ready:
                break;
        }
        const uapi::Request request = reader_.take();
        const int code = request.operation == uapi::Operation::get ? get(out) : set(request, out);
        return {used, code == 0 ? Outcome::answered : Outcome::answered_error};
    }

    bool between_requests() const noexcept override { return reader_.idle(); }

private:
    // The reply holds the private key in hex.
    int get(SecretBuffer& out) {
        std::string reply;
        try {
            reply = uapi::format_get(callbacks_.get());
        } catch (const std::exception& e) {
            secure_wipe(reply.data(), reply.size());
            return errno_reply(errno_of(e), out);
        }
        try {
            out.append(reply);
        } catch (...) {
            secure_wipe(reply.data(), reply.size());
            throw;
        }
        secure_wipe(reply.data(), reply.size());
        return 0;
    }

    int set(const uapi::Request& request, SecretBuffer& out) {
        uapi::SetRequest parsed;
        uapi::Error error = uapi::parse_set(request.body, &parsed);
        if (!error) {
            try {
                error = callbacks_.set(parsed);
            } catch (const std::exception& e) {
                error = {errno_of(e), e.what()};
            }
        }
        // A negative code from the daemon would read as success after
        // format_errno's negation; anything but 0 is an error.
        return errno_reply(error.code < 0 ? -error.code : error.code, out);
    }

    static int errno_of(const std::exception& e) noexcept {
        return dynamic_cast<const std::bad_alloc*>(&e) != nullptr ? ENOMEM : EIO;
    }

    static int errno_reply(int code, SecretBuffer& out) {
        out.append(uapi::format_errno(code));
        return code;
    }

    const Callbacks& callbacks_;
    uapi::RequestReader reader_;
};

std::unique_ptr<UapiServer> UapiServer::create(const std::string& path, GetFn get, SetFn set,
                                               std::string* error, const ServerLimits& limits,
                                               const uapi::ReaderLimits& reader_limits) {
    std::unique_ptr<UapiServer> server(new UapiServer());
    auto callbacks = std::make_shared<const Callbacks>(
        Callbacks{std::move(get), std::move(set), reader_limits});
    server->state_ = callbacks;
    server->core_ = SocketServer::create(
        path, [c = callbacks.get()] { return std::make_unique<Session>(*c); }, limits, error);
    if (!server->core_) return nullptr;
    return server;
}


}  // namespace sluice
