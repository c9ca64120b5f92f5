// The client end of the sluicectl control socket: connect to a sluiced's
// /run/sluice/<name>.ctl, send one request, wait for its reply. Blocking, with
// a deadline on every step, because sluicectl is a one-shot command that must
// never hang an operator's shell or a monitoring script.
//
// Everything the daemon sends is untrusted: it goes through FrameReader and
// decode_response(), and every failure, from "no such socket" to a reply that
// breaks the protocol, comes back as a ClientError value.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "control/ctl_protocol.hpp"

namespace sluice::ctl {

// Why a connection or a call produced no reply. The connection errors are
// told apart because an operator fixes each differently: start the daemon,
// fix the path, or become root.
enum class ClientErrc : uint8_t {
    no_socket,          // ENOENT, ENOTDIR: nothing at the path
    not_listening,      // ECONNREFUSED: a dead socket or not a socket at all
    permission_denied,  // EACCES, EPERM: the socket is root's (mode 0600)
    timed_out,          // no connection or no whole reply before the deadline
    closed,             // the daemon closed the connection without answering
    io,                 // any other socket error; sys_errno says which
    protocol,           // a reply that breaks the protocol, or a daemon's refusal
};

struct ClientError {
    ClientErrc code = ClientErrc::io;
    std::string path;  // the socket, for the message
    int sys_errno = 0;
    std::chrono::milliseconds timeout{0};  // timed_out: the limit that passed
    bool during_connect = false;           // timed_out: before the daemon accepted
    bool not_a_socket = false;             // not_listening: the path is some other file
    Error protocol;                        // code == protocol (daemon_error included)
};

// One line without "sluicectl: " and without a newline, e.g. "no sluiced is
// listening on /run/sluice/wg0.ctl (connection refused); is the daemon running?".
std::string describe(const ClientError& error);

// A value or a ClientError, shaped like ctl::Result.
template <typename T>
class ClientResult {
public:
    ClientResult(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT
    ClientResult(ClientError error)                                          // NOLINT
        : v_(std::in_place_index<1>, std::move(error)) {}
    [[nodiscard]] bool ok() const noexcept { return v_.index() == 0; }
    explicit operator bool() const noexcept { return ok(); }
    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T value() && { return std::get<0>(std::move(v_)); }
    const ClientError& error() const { return std::get<1>(v_); }

private:
    std::variant<T, ClientError> v_;
};

// One connection to a daemon. Move-only; closes the socket when it goes.
class Client {
public:
    // `timeout` bounds the connect itself (a daemon whose listen backlog is
    // full makes connect wait).
    static ClientResult<Client> connect(const std::string& path, std::chrono::milliseconds timeout);

    // Sends `request` and returns the daemon's reply to it; `timeout` bounds
    // the whole exchange. Any error but daemon_error leaves the stream's
    // framing unknown, so later calls on this client fail at once.
    ClientResult<Response> call(const Request& request, std::chrono::milliseconds timeout);

    Client(Client&& other) noexcept;
    Client& operator=(Client&& other) noexcept;
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;
    ~Client();

private:
    Client(int fd, std::string path) noexcept;
    ClientResult<Frame> exchange(const std::vector<uint8_t>& frame,
                                 std::chrono::steady_clock::time_point deadline,
                                 std::chrono::milliseconds timeout);
    ClientError fail(ClientError error);

    int fd_ = -1;
    std::string path_;
    uint32_t next_request_id_ = 1;
    bool broken_ = false;
    FrameReader reader_{Kind::response, kMaxResponsePayload};
    std::vector<uint8_t> pending_;  // bytes read past the last reply
};

}  // namespace sluice::ctl
