// The client end of the sluicectl control socket (see ctl_client.hpp).
//
// A call has two stages, each bounded by the call's one deadline:
//   1. send the request frame (non-blocking send, poll for room);
//   2. read until FrameReader holds one whole response frame, then decode it
//      against the request's command and id.
// A send that fails because the daemon closed the connection still goes on to
// stage 2: a daemon that refuses a request (too large, wrong version) answers
// with a failure frame and closes, possibly before it has read all of it, and
// that frame says more than EPIPE does.
#include "control/ctl_client.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <span>

#include "dataplane/keypair.hpp"  // secure_wipe

namespace sluice::ctl {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// What one recv() takes; a reply of up to kMaxResponsePayload arrives in
// chunks of this size.
constexpr size_t kReadChunk = 64 * 1024;

// "5 s" for whole seconds, else "200 ms".
std::string duration_text(milliseconds ms) {
    if (ms.count() >= 1000 && ms.count() % 1000 == 0)
        return std::to_string(ms.count() / 1000) + " s";
    return std::to_string(ms.count()) + " ms";
}

// Milliseconds left until `deadline`, rounded up so that poll() does not wake
// a hair early and spin; 0 once it has passed.
int ms_left(Clock::time_point deadline) {
    const auto left = deadline - Clock::now();
    if (left <= Clock::duration::zero()) return 0;
    const auto ms = std::chrono::ceil<milliseconds>(left).count();
    return static_cast<int>(std::min<int64_t>(ms, 1'000'000'000));
}

// Waits for `events` on `fd`. False when the deadline passed first.
// Errors and hang-ups count as ready: the next send or recv reports them.
bool wait_for(int fd, short events, Clock::time_point deadline) {
    for (;;) {
        const int timeout = ms_left(deadline);
        if (timeout == 0) return false;
        pollfd p{fd, events, 0};
        const int n = ::poll(&p, 1, timeout);
        if (n > 0) return true;
        if (n < 0 && errno != EINTR) return true;  // let the I/O call say what is wrong
    }
}

ClientError connect_error(const std::string& path, int err, milliseconds timeout) {
    ClientError e;
    e.path = path;
    e.sys_errno = err;
    switch (err) {
        case ENOENT:
        case ENOTDIR:
            e.code = ClientErrc::no_socket;
            break;
        case ECONNREFUSED: {
            // Linux refuses a connect to a file that is not a socket the same
            // way as one to a dead socket; the operator's fix differs.
            e.code = ClientErrc::not_listening;
            struct stat st {};
            e.not_a_socket = ::stat(path.c_str(), &st) == 0 && !S_ISSOCK(st.st_mode);
            break;
        }
        case EACCES:
        case EPERM:
            e.code = ClientErrc::permission_denied;
            break;
        case EAGAIN:  // SO_SNDTIMEO ran out while the listen backlog was full
        case ETIMEDOUT:
        case EINPROGRESS:
            e.code = ClientErrc::timed_out;
            e.timeout = timeout;
            e.during_connect = true;
            break;
        default:
            e.code = ClientErrc::io;
            break;
    }
    return e;
}

}  // namespace

std::string describe(const ClientError& e) {
    switch (e.code) {
        case ClientErrc::no_socket:
            return "no sluiced is listening on " + e.path +
                   " (no such socket); is the daemon running?";
        case ClientErrc::not_listening:
            if (e.not_a_socket)
                return e.path +
                       " is not a socket (connection refused); give the control socket "
                       "of a running sluiced";
            return "no sluiced is listening on " + e.path +
                   " (connection refused); is the daemon running?";
        case ClientErrc::permission_denied:
            return "permission denied on " + e.path +
                   "; the control socket is root's, run sluicectl as root";
        case ClientErrc::timed_out:
            if (e.during_connect)
                return "sluiced on " + e.path + " did not accept the connection within " +
                       duration_text(e.timeout);
            return "sluiced on " + e.path + " did not answer within " + duration_text(e.timeout);
        case ClientErrc::closed:
            return "sluiced on " + e.path + " closed the connection without answering";
        case ClientErrc::io:
            return "connection to " + e.path + ": " + std::strerror(e.sys_errno);
        case ClientErrc::protocol:
            return describe(e.protocol);
    }
    return "unknown client error";
}

// ---- Client ---------------------------------------------------------------------------

Client::Client(int fd, std::string path) noexcept : fd_(fd), path_(std::move(path)) {}

Client::Client(Client&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      path_(std::move(other.path_)),
      next_request_id_(other.next_request_id_),
      broken_(other.broken_),
      reader_(std::move(other.reader_)),
      pending_(std::move(other.pending_)) {}

Client& Client::operator=(Client&& other) noexcept {
    if (this != &other) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = std::exchange(other.fd_, -1);
        path_ = std::move(other.path_);
        next_request_id_ = other.next_request_id_;
        broken_ = other.broken_;
        reader_ = std::move(other.reader_);
        pending_ = std::move(other.pending_);
    }
    return *this;
}

Client::~Client() {
    if (fd_ >= 0) ::close(fd_);
}

ClientResult<Client> Client::connect(const std::string& path, milliseconds timeout) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof addr.sun_path)
        return connect_error(path, ENAMETOOLONG, timeout);
    std::memcpy(addr.sun_path, path.data(), path.size());

    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return connect_error(path, errno, timeout);
    Client client(fd, path);  // owns fd from here on

    // A blocking connect to a Unix socket waits while the daemon's listen
    // backlog is full, for as long as SO_SNDTIMEO allows (0 would be forever).
    const auto usec = std::max<int64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(timeout).count(), 1000);
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(usec / 1'000'000);
    tv.tv_usec = static_cast<suseconds_t>(usec % 1'000'000);
    if (::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0)
        return connect_error(path, errno, timeout);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
        return connect_error(path, errno, timeout);

    // From here on every wait is a poll() against the call's deadline.
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)
        return connect_error(path, errno, timeout);
    return client;
}

ClientError Client::fail(ClientError error) {
    broken_ = true;
    error.path = path_;
    return error;
}

ClientResult<Response> Client::call(const Request& request, milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    if (broken_ || fd_ < 0) {
        ClientError e;
        e.code = ClientErrc::io;
        e.sys_errno = ENOTCONN;
        e.path = path_;
        return e;
    }
    const Command command = command_of(request);
    const uint32_t request_id = next_request_id_++;

    Result<std::vector<uint8_t>> encoded = encode_request(request, request_id);
    if (!encoded) {
        // Nothing was sent, so the connection is still good.
        ClientError e;
        e.code = ClientErrc::protocol;
        e.path = path_;
        e.protocol = encoded.error();
        return e;
    }
    ClientResult<Frame> frame = exchange(encoded.value(), deadline, timeout);
    // A peer add request carries the preshared key.
    secure_wipe(encoded.value().data(), encoded.value().size());
    if (!frame) return frame.error();

    Result<Response> response = decode_response(frame.value(), command, request_id);
    if (!response) {
        ClientError e;
        e.code = ClientErrc::protocol;
        e.protocol = response.error();
        // A refusal is a well-formed frame: the connection can carry on. Any
        // other decoding error means the daemon and this client disagree on
        // the protocol, and nothing later on this stream can be trusted.
        if (response.error().code == Errc::daemon_error) {
            e.path = path_;
            return e;
        }
        return fail(std::move(e));
    }
    return std::move(response).value();
}

ClientResult<Frame> Client::exchange(const std::vector<uint8_t>& frame, Clock::time_point deadline,
                                     milliseconds timeout) {
    ClientError timed_out;
    timed_out.code = ClientErrc::timed_out;
    timed_out.timeout = timeout;

    // Stage 1: send.
    int send_errno = 0;
    for (size_t sent = 0; sent < frame.size();) {
        const ssize_t n = ::send(fd_, frame.data() + sent, frame.size() - sent, MSG_NOSIGNAL);
        if (n > 0) {
            sent += static_cast<size_t>(n);
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!wait_for(fd_, POLLOUT, deadline)) return fail(timed_out);
        } else {
            send_errno = n < 0 ? errno : EIO;
            break;  // read what the daemon said before it closed, if anything
        }
    }

    // Stage 2: read one frame. Bytes left from the previous reply come first.
    const auto feed = [this](std::span<const uint8_t> bytes) {
        const size_t used = reader_.feed(bytes);
        if (reader_.state() == FrameReader::State::frame_ready)
            pending_.assign(bytes.begin() + static_cast<ptrdiff_t>(used), bytes.end());
    };
    if (!pending_.empty()) {
        const std::vector<uint8_t> carried = std::exchange(pending_, {});
        feed(carried);
    }
    std::vector<uint8_t> buffer(kReadChunk);
    for (;;) {
        if (reader_.state() == FrameReader::State::frame_ready) return reader_.take();
        if (reader_.state() == FrameReader::State::failed) {
            ClientError e;
            e.code = ClientErrc::protocol;
            e.protocol = reader_.error();
            return fail(std::move(e));
        }
        const ssize_t n = ::recv(fd_, buffer.data(), buffer.size(), 0);
        if (n > 0) {
            feed(std::span<const uint8_t>(buffer.data(), static_cast<size_t>(n)));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!wait_for(fd_, POLLIN, deadline)) return fail(timed_out);
            continue;
        }
        // A daemon that closed with our request unread gives ECONNRESET once
        // its last bytes have been read: for us that is the end of the stream.
        if (n < 0 && errno != ECONNRESET) {
            ClientError e;
            e.code = ClientErrc::io;
            e.sys_errno = errno;
            return fail(std::move(e));
        }
        reader_.finish();
        if (reader_.state() == FrameReader::State::failed) continue;  // truncated, above
        ClientError e;
        e.code = ClientErrc::closed;
        e.sys_errno = send_errno;
        return fail(std::move(e));
    }
}

}  // namespace sluice::ctl
