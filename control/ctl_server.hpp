// The daemon's sluicectl socket, /run/sluice/<name>.ctl: the control protocol
// of docs/control-protocol.md. Each client gets a FrameReader for requests
// (payloads up to kMaxRequestPayload); each complete request frame goes to
// HandlerTable::serve(), whose reply frame is queued in request order. A
// framing error gets FrameReader::error_reply() where the protocol has one
// (none for bad magic: not our protocol) and closes the connection; a request
// the table refuses (ENOSYS, EBADMSG, a handler's errno) keeps it.
//
// Handlers run on the control thread, inside poll(). Request payloads (a peer
// add may carry a preshared key) are wiped once served.
//
// Owner: the control thread. Not thread-safe. Sockets, clients and limits:
// SocketServer (unix_listener.hpp).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "control/ctl_protocol.hpp"
#include "control/unix_listener.hpp"

namespace sluice {

class CtlServer final : public ProtocolServer {
public:
    // Listens on `path` and serves requests with `handlers`; nullptr with one
    // line in *error on failure.
    static std::unique_ptr<CtlServer> create(const std::string& path, ctl::HandlerTable handlers,
                                             std::string* error, const ServerLimits& limits = {});

private:
    class Session;

    CtlServer() = default;
};

}  // namespace sluice
