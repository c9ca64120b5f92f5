// The daemon's WireGuard UAPI socket, /var/run/wireguard/<name>.sock: what
// wg(8) connects to. Each request (get=1 or set=1, control/uapi.hpp) is
// answered as wireguard-go answers it:
//   get=1   format_get() of the daemon's snapshot, ending "errno=0\n\n";
//   set=1   parse_set(), then the daemon's apply; "errno=0\n\n" or
//           "errno=-N\n\n". A bad set keeps the connection: the reader has
//           taken the whole request, so the stream is still in step;
//   a reader failure (bad operation line, a line or request past the limits)
//           gets "errno=-N\n\n" and the connection closes.
// A connection may carry any number of requests, pipelined or not.
//
// Requests and get replies carry keys in hex: every buffer holding them is
// wiped once used (SecretBuffer, uapi::Request, and the reply text here).
// The callbacks run on the control thread, inside poll(); an exception from
// one becomes an errno reply (EIO, or ENOMEM for std::bad_alloc).
//
// Owner: the control thread. Not thread-safe. Sockets, clients and limits:
// SocketServer (unix_listener.hpp).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "control/uapi.hpp"
#include "control/unix_listener.hpp"

namespace sluice {

class UapiServer final : public ProtocolServer {
public:
    // The daemon's answer to get=1: a snapshot of the device.
    using GetFn = std::function<uapi::DeviceStatus()>;
    // Applies a parsed set=1 (all or nothing); code 0 or a positive errno.
    using SetFn = std::function<uapi::Error(const uapi::SetRequest&)>;

    // Listens on `path`; nullptr with one line in *error on failure.
    static std::unique_ptr<UapiServer> create(const std::string& path, GetFn get, SetFn set,
                                              std::string* error, const ServerLimits& limits = {},
                                              const uapi::ReaderLimits& reader_limits = {});

private:
    struct Callbacks {
        GetFn get;
        SetFn set;
        uapi::ReaderLimits reader_limits;
    };
    class Session;

    UapiServer() = default;
};

}  // namespace sluice
