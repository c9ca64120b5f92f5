// The part the daemon's two Unix-socket servers (uapi_server, ctl_server)
// share: the socket file, and one event-loop core that accepts clients, reads
// their requests, queues their replies and drops the ones that misbehave.
//
//   UnixListener   owns a listening AF_UNIX stream socket and its file: makes
//                  the directory, refuses a path a live daemon holds, replaces
//                  a stale socket, creates the file 0600, and on the way out
//                  removes the file only if it is still the one it made.
//   SecretBuffer   a byte queue that wipes every byte it lets go of, for
//                  requests and replies that carry keys.
//   SocketServer   one epoll fd holding the listener and every client; the
//                  daemon puts fd() in its own epoll and calls poll() when it
//                  is readable and tick() about once a second. Each client's
//                  bytes go to a ServerSession, the protocol's half.
//
// A client's life, all of it non-blocking (no call here waits for a client):
//   accept        refused (closed at once) beyond max_clients
//   read          only while its unsent output is under output_high_water, so
//                 a client that pipelines requests without reading cannot make
//                 the server queue replies without bound
//   consume       the session takes bytes up to the end of one request and
//                 appends its reply; repeated while input and room remain
//   write         as much as the socket takes; the rest waits for EPOLLOUT
//   drop          by tick(): no progress for idle_timeout while in the middle
//                 of a request or with unsent output; at once: unsent output
//                 above max_output
//   close         after a broken stream (the session's error reply sent
//                 first), or when the client closed its end and every reply
//                 to its complete requests has gone
//
// Owner: the control thread. Nothing here is thread-safe; every call comes
// from the thread that runs the daemon's event loop. Client misbehaviour never
// throws out of poll() or tick(): it closes that client and counts why.
#pragma once

#include <sys/epoll.h>
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice {

// ---- UnixListener -----------------------------------------------------------------------

class UnixListener {
public:
    // sizeof(sockaddr_un::sun_path) less the terminating NUL.
    static constexpr size_t kMaxPathLength = 107;

    // Listens on `path` (SOCK_NONBLOCK | SOCK_CLOEXEC). Creates missing parent
    // directories 0755; replaces a socket nobody listens on; refuses a socket
    // a live process listens on and anything that is not a socket. nullptr
    // with one line in *error (without a trailing newline) on failure.
    static std::unique_ptr<UnixListener> open(const std::string& path, std::string* error);

    // Unlinks the path if it is still the socket this object created (same
    // device and inode), so a later daemon's socket at the same path stays,
    // then closes the socket.
    ~UnixListener();
    UnixListener(const UnixListener&) = delete;
    UnixListener& operator=(const UnixListener&) = delete;

    [[nodiscard]] int fd() const noexcept { return fd_; }
    [[nodiscard]] const std::string& path() const noexcept { return path_; }

private:
    UnixListener(int fd, std::string path, dev_t dev, ino_t ino) noexcept
        : fd_(fd), path_(std::move(path)), dev_(dev), ino_(ino) {}

    int fd_;
    std::string path_;
    dev_t dev_;
    ino_t ino_;
};

// ---- SecretBuffer -------------------------------------------------------------------------

// A FIFO of bytes whose memory is wiped before it is reused or freed: bytes
// are wiped as they are consumed, and a growth wipes the old block. UAPI
// requests carry private and preshared keys in hex, and get replies the
// private key.
class SecretBuffer {
public:
    SecretBuffer() = default;
    SecretBuffer(const SecretBuffer&) = delete;
    SecretBuffer& operator=(const SecretBuffer&) = delete;
    ~SecretBuffer() { clear(); }

    void append(std::span<const uint8_t> bytes);
    void append(std::string_view text);
    // Room for n more bytes at the end: write into it, then commit() what was
    // written.
    std::span<uint8_t> prepare(size_t n);
    void commit(size_t n) noexcept { end_ += n; }

    [[nodiscard]] std::span<const uint8_t> data() const noexcept {
        return {block_.get() + begin_, end_ - begin_};
    }
    [[nodiscard]] size_t size() const noexcept { return end_ - begin_; }
    [[nodiscard]] bool empty() const noexcept { return begin_ == end_; }
    // Wipes and drops the first n bytes (n <= size()).
    void consume(size_t n) noexcept;
    // Wipes everything and frees the memory.
    void clear() noexcept;

private:
    void reserve_back(size_t n);

    std::unique_ptr<uint8_t[]> block_;
    size_t capacity_ = 0;
    size_t begin_ = 0;
    size_t end_ = 0;
};

// ---- ServerSession --------------------------------------------------------------------------

// One client's protocol state: UAPI's RequestReader or sluicectl's
// FrameReader, and what answers a request.
class ServerSession {
public:
    enum class Outcome : uint8_t {
        need_more,       // took every byte given; no complete request yet
        answered,        // one request answered, successfully
        answered_error,  // one request answered with an error status
        broken,          // the stream is out of step: close once `out` is sent
    };
    struct Step {
        size_t consumed = 0;
        Outcome outcome = Outcome::need_more;
    };

    virtual ~ServerSession() = default;

    // Takes bytes up to the end of at most one request and appends its reply
    // (or, for broken, the protocol's error reply where it has one) to `out`.
    // Takes at least one byte unless it answers or breaks.
    virtual Step consume(std::span<const uint8_t> bytes, SecretBuffer& out) = 0;
    // No partial request is buffered: a client that closes now closed cleanly.
    [[nodiscard]] virtual bool between_requests() const noexcept = 0;
};

// ---- SocketServer ---------------------------------------------------------------------------

struct ServerLimits {
    size_t max_clients = 64;
    // A client in the middle of a request, or with output it does not read,
    // that makes no progress for this long is dropped by tick().
    std::chrono::milliseconds idle_timeout{10'000};
    // No request of a client is read while this much of its output is unsent.
    size_t output_high_water = 64 * 1024;
    // Unsent output above this drops the client. Backpressure keeps a
    // client's output under output_high_water plus one reply, so this only
    // bounds a single reply: above the largest control-protocol reply (16 MiB).
    size_t max_output = size_t{64} << 20;
    // Bytes read from a client at a time.
    size_t read_chunk = 64 * 1024;
};

// For sluicectl and telemetry. Drops are the server's decision, closes after
// a broken stream the protocol's.
struct ServerCounters {
    uint64_t clients_accepted = 0;
    uint64_t requests = 0;            // requests answered, errors included
    uint64_t request_errors = 0;      // answered with a non-zero errno/status
    uint64_t broken_streams = 0;      // framing lost, or closed mid-request
    uint64_t refused_over_limit = 0;  // closed at accept: max_clients reached
    uint64_t dropped_idle = 0;        // no progress for idle_timeout (tick)
    uint64_t dropped_backlog = 0;     // unsent output above max_output
    uint64_t dropped_io_error = 0;    // a socket error, or an allocation that failed
    uint64_t accept_errors = 0;       // accept() failed (EMFILE and the like)

    [[nodiscard]] uint64_t errors() const noexcept { return request_errors + broken_streams; }
    [[nodiscard]] uint64_t clients_dropped() const noexcept {
        return refused_over_limit + dropped_idle + dropped_backlog + dropped_io_error;
    }
};

class SocketServer {
public:
    using SessionFactory = std::function<std::unique_ptr<ServerSession>()>;

    // Listens on `path` (see UnixListener::open) and makes one session per
    // client with `make_session`. nullptr with one line in *error on failure.
    static std::unique_ptr<SocketServer> create(const std::string& path,
                                                SessionFactory make_session,
                                                const ServerLimits& limits, std::string* error);
    ~SocketServer();
    SocketServer(const SocketServer&) = delete;
    SocketServer& operator=(const SocketServer&) = delete;

    // The epoll fd that holds the listener and every client: readable when
    // poll() has something to do.
    [[nodiscard]] int fd() const noexcept { return epoll_fd_; }
    // Accepts, reads, answers, writes and closes whatever is ready; never waits.
    void poll() noexcept;
    // Drops clients stuck past idle_timeout; resumes accepting after EMFILE.
    void tick(std::chrono::steady_clock::time_point now) noexcept;

    [[nodiscard]] size_t client_count() const noexcept { return clients_.size(); }
    [[nodiscard]] const ServerCounters& counters() const noexcept { return counters_; }
    // Bytes held for all clients: unsent output and unread input.
    [[nodiscard]] size_t buffered_bytes() const noexcept;
    [[nodiscard]] const std::string& path() const noexcept { return listener_->path(); }

private:
    struct Client;

    SocketServer(std::unique_ptr<UnixListener> listener, int epoll_fd, SessionFactory make_session,
                 const ServerLimits& limits) noexcept;

    void accept_clients(std::chrono::steady_clock::time_point now);
    void pause_accepting() noexcept;
    // Does everything one client is ready for; false: close it.
    bool serve(Client& client, uint32_t events, std::chrono::steady_clock::time_point now);
    void answer(Client& client);
    bool flush(Client& client, std::chrono::steady_clock::time_point now);
    void update_interest(Client& client) noexcept;
    void close_client(uint64_t id) noexcept;

    std::unique_ptr<UnixListener> listener_;
    int epoll_fd_;
    SessionFactory make_session_;
    ServerLimits limits_;
    ServerCounters counters_;
    bool accepting_ = true;                                // listener in epoll_fd_
    uint64_t next_id_ = 1;                                 // 0 is the listener's
    std::map<uint64_t, std::unique_ptr<Client>> clients_;  // by id, the epoll key
    std::vector<epoll_event> events_;
};

// What the two protocol servers (UapiServer, CtlServer) share: the socket
// core, the accessors the daemon uses, and the protocol's state that their
// sessions point into. The state is declared before the core, so it is
// destroyed after it: no session outlives what it points to.
class ProtocolServer {
public:
    ProtocolServer(const ProtocolServer&) = delete;
    ProtocolServer& operator=(const ProtocolServer&) = delete;

    // For the daemon's epoll: readable when poll() has work.
    [[nodiscard]] int fd() const noexcept { return core_->fd(); }
    void poll() noexcept { core_->poll(); }
    void tick(std::chrono::steady_clock::time_point now) noexcept { core_->tick(now); }

    [[nodiscard]] size_t client_count() const noexcept { return core_->client_count(); }
    [[nodiscard]] const ServerCounters& counters() const noexcept { return core_->counters(); }
    [[nodiscard]] size_t buffered_bytes() const noexcept { return core_->buffered_bytes(); }
    [[nodiscard]] const std::string& path() const noexcept { return core_->path(); }

protected:
    ProtocolServer() = default;
    ~ProtocolServer() = default;

    std::shared_ptr<const void> state_;  // sessions point here: outlives core_
    std::unique_ptr<SocketServer> core_;
};

}  // namespace sluice
