// The socket file and the event-loop core the UAPI and sluicectl servers
// share; see unix_listener.hpp for a client's life. Owner: the control thread.
#include "control/unix_listener.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>
#include <system_error>
#include <utility>

#include "dataplane/keypair.hpp"  // secure_wipe

namespace sluice {

namespace {

std::string reason(int error) {
    return std::error_code(error, std::generic_category()).message();
}

bool set_error(std::string* error, std::string text) {
    if (error) *error = std::move(text);
    return false;
}

// Closes on every early return of UnixListener::open.
class FdGuard {
public:
    explicit FdGuard(int fd) noexcept : fd_(fd) {}
    FdGuard(const FdGuard&) = delete;
    FdGuard& operator=(const FdGuard&) = delete;
    ~FdGuard() {
        if (fd_ >= 0) ::close(fd_);
    }
    [[nodiscard]] int get() const noexcept { return fd_; }
    int release() noexcept { return std::exchange(fd_, -1); }

private:
    int fd_;
};

sockaddr_un address_of(const std::string& path) noexcept {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    return address;
}

// Creates each missing directory above `path`, outermost first. The mode is
// set with chmod as well, since mkdir's is filtered by the umask and wg(8)
// expects /var/run/wireguard to be 0755.
bool make_parent_directories(const std::string& path, std::string* error) {
    const size_t last_slash = path.rfind('/');
    if (last_slash == std::string::npos || last_slash == 0) return true;
    const std::string parent = path.substr(0, last_slash);
    for (size_t pos = 1;;) {
        const size_t slash = parent.find('/', pos);
        const std::string dir = parent.substr(0, slash);
        if (::mkdir(dir.c_str(), 0755) == 0) {
            ::chmod(dir.c_str(), 0755);
        } else if (errno != EEXIST) {
            return set_error(error, "cannot create directory " + dir + ": " + reason(errno));
        }
        if (slash == std::string::npos) break;
        pos = slash + 1;
    }
    struct stat st {};
    if (::stat(parent.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
        return set_error(error, parent + " is not a directory");
    return true;
}

// Clears the way for bind(): nothing at the path, or a socket nobody listens
// on (left by a daemon that died), which is removed. A socket that accepts a
// connection belongs to a live daemon, and anything else at the path is not
// ours to remove.
bool clear_stale_socket(const std::string& path, const sockaddr_un& address, std::string* error) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
        if (errno == ENOENT) return true;
        return set_error(error, "cannot inspect " + path + ": " + reason(errno));
    }
    if (!S_ISSOCK(st.st_mode))
        return set_error(error,
                         path + " exists and is not a socket; remove it or choose another path");
    FdGuard probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (probe.get() < 0) return set_error(error, "cannot create a socket: " + reason(errno));
    // Non-blocking: a live daemon with a full backlog answers EAGAIN rather
    // than making us wait.
    if (::connect(probe.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0 ||
        errno == EAGAIN || errno == EINPROGRESS)
        return set_error(error, path + " is in use by another running daemon");
    if (errno == ENOENT) return true;  // removed meanwhile
    if (errno != ECONNREFUSED)
        return set_error(error, "cannot tell whether " + path + " is in use: " + reason(errno));
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
        return set_error(error, "cannot remove the stale socket " + path + ": " + reason(errno));
    return true;
}

bool would_block(int error) noexcept {
    return error == EAGAIN || error == EWOULDBLOCK;
}

// The client went away: not worth a counter of its own.
bool hung_up(int error) noexcept {
    return error == EPIPE || error == ECONNRESET;
}

}  // namespace

// ---- UnixListener -----------------------------------------------------------------------

std::unique_ptr<UnixListener> UnixListener::open(const std::string& path, std::string* error) {
    if (path.empty()) {
        set_error(error, "the socket path is empty");
        return nullptr;
    }
    if (path.size() > kMaxPathLength) {
        set_error(error, path + ": socket path of " + std::to_string(path.size()) +
                             " bytes, the limit is " + std::to_string(kMaxPathLength));
        return nullptr;
    }
    if (path.find('\0') != std::string::npos) {
        set_error(error, "the socket path contains a NUL byte");
        return nullptr;
    }
    const sockaddr_un address = address_of(path);
    if (!make_parent_directories(path, error) || !clear_stale_socket(path, address, error))
        return nullptr;

    FdGuard fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) {
        set_error(error, "cannot create a socket: " + reason(errno));
        return nullptr;
    }
    // The file must never exist with a mode that lets another user connect.
    // Linux gives the new file the socket inode's mode less the umask, so
    // fchmod covers other threads; the umask covers the rest. (The umask is
    // the process's: a file another thread creates in this window gets
    // 0600 at most, which errs on the safe side.)
    ::fchmod(fd.get(), 0600);
    const mode_t old_umask = ::umask(0177);
    const int bound = ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address);
    const int bind_errno = errno;
    ::umask(old_umask);
    if (bound != 0) {
        set_error(error, bind_errno == EADDRINUSE
                             ? path + " is in use by another running daemon"
                             : "cannot bind " + path + ": " + reason(bind_errno));
        return nullptr;
    }
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || ::chmod(path.c_str(), 0600) != 0 ||
        ::listen(fd.get(), SOMAXCONN) != 0) {
        set_error(error, "cannot listen on " + path + ": " + reason(errno));
        ::unlink(path.c_str());  // just made, nobody else's yet
        return nullptr;
    }
    return std::unique_ptr<UnixListener>(
        new UnixListener(fd.release(), path, st.st_dev, st.st_ino));
}

UnixListener::~UnixListener() {
    // Unlink while still listening: until close() a second daemon sees the
    // socket as live and leaves it alone, so the inode we check is the one
    // we remove.
    struct stat st {};
    if (::lstat(path_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == dev_ &&
        st.st_ino == ino_)
        ::unlink(path_.c_str());
    ::close(fd_);
}

// ---- SecretBuffer -------------------------------------------------------------------------

namespace {
// A drained buffer keeps at most this much memory for the next request.
constexpr size_t kRetainedCapacity = size_t{128} << 10;
constexpr size_t kMinCapacity = 256;
}  // namespace

void SecretBuffer::reserve_back(size_t n) {
    if (capacity_ - end_ >= n) return;
    const size_t used = size();
    if (capacity_ - used >= n) {
        // Room at the front: slide the live bytes down and wipe what they leave.
        std::memmove(block_.get(), block_.get() + begin_, used);
        secure_wipe(block_.get() + used, end_ - used);
        begin_ = 0;
        end_ = used;
        return;
    }
    if (n > SIZE_MAX / 2 - used) throw std::bad_alloc();
    const size_t capacity = std::max({capacity_ * 2, used + n, kMinCapacity});
    auto block = std::make_unique_for_overwrite<uint8_t[]>(capacity);
    if (used != 0) std::memcpy(block.get(), block_.get() + begin_, used);
    if (block_) secure_wipe(block_.get(), end_);
    block_ = std::move(block);
    capacity_ = capacity;
    begin_ = 0;
    end_ = used;
}

void SecretBuffer::append(std::span<const uint8_t> bytes) {
    if (bytes.empty()) return;
    reserve_back(bytes.size());
    std::memcpy(block_.get() + end_, bytes.data(), bytes.size());
    end_ += bytes.size();
}

void SecretBuffer::append(std::string_view text) {
    append(std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

std::span<uint8_t> SecretBuffer::prepare(size_t n) {
    reserve_back(n);
    return {block_.get() + end_, n};
}

void SecretBuffer::consume(size_t n) noexcept {
    n = std::min(n, size());
    secure_wipe(block_.get() + begin_, n);
    begin_ += n;
    if (begin_ != end_) return;
    begin_ = end_ = 0;
    if (capacity_ > kRetainedCapacity) {
        block_.reset();  // every byte already wiped
        capacity_ = 0;
    }
}

void SecretBuffer::clear() noexcept {
    if (block_) secure_wipe(block_.get(), end_);
    block_.reset();
    capacity_ = begin_ = end_ = 0;
}

// ---- SocketServer ---------------------------------------------------------------------------

struct SocketServer::Client {
    Client(uint64_t id_, int fd_, std::unique_ptr<ServerSession> session_,
           std::chrono::steady_clock::time_point now) noexcept
        : id(id_), fd(fd_), session(std::move(session_)), last_progress(now) {}
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;
    ~Client() {
        if (fd >= 0) ::close(fd);  // also takes it out of the epoll set
    }

    uint64_t id;
    int fd;
    std::unique_ptr<ServerSession> session;
    SecretBuffer in;                                      // read, not yet consumed by the session
    SecretBuffer out;                                     // replies not yet sent
    std::chrono::steady_clock::time_point last_progress;  // a byte read or written
    uint32_t interest = EPOLLIN;                          // as registered in epoll
    bool read_closed = false;                             // the client shut its end
    bool closing = false;                                 // close once `out` is sent
};

std::unique_ptr<SocketServer> SocketServer::create(const std::string& path,
                                                   SessionFactory make_session,
                                                   const ServerLimits& limits, std::string* error) {
    std::unique_ptr<UnixListener> listener = UnixListener::open(path, error);
    if (!listener) return nullptr;
    FdGuard epoll_fd(::epoll_create1(EPOLL_CLOEXEC));
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = 0;  // the listener
    if (epoll_fd.get() < 0 ||
        ::epoll_ctl(epoll_fd.get(), EPOLL_CTL_ADD, listener->fd(), &event) != 0) {
        set_error(error, "cannot set up epoll for " + path + ": " + reason(errno));
        return nullptr;
    }
    return std::unique_ptr<SocketServer>(
        new SocketServer(std::move(listener), epoll_fd.release(), std::move(make_session), limits));
}

SocketServer::SocketServer(std::unique_ptr<UnixListener> listener, int epoll_fd,
                           SessionFactory make_session, const ServerLimits& limits) noexcept
    : listener_(std::move(listener)),
      epoll_fd_(epoll_fd),
      make_session_(std::move(make_session)),
      limits_(limits) {
    limits_.max_clients = std::max<size_t>(limits_.max_clients, 1);
    limits_.read_chunk = std::max<size_t>(limits_.read_chunk, 1);
    limits_.output_high_water = std::max<size_t>(limits_.output_high_water, 1);
    // One event per client and one for the listener: a poll() sees them all.
    events_.resize(limits_.max_clients + 1);
}

SocketServer::~SocketServer() {
    clients_.clear();
    ::close(epoll_fd_);
    // listener_ goes last, removing the socket file if it is still ours.
}

size_t SocketServer::buffered_bytes() const noexcept {
    size_t total = 0;
    for (const auto& [id, client] : clients_) total += client->in.size() + client->out.size();
    return total;
}

void SocketServer::poll() noexcept {
    const auto now = std::chrono::steady_clock::now();
    const int ready = ::epoll_wait(epoll_fd_, events_.data(), static_cast<int>(events_.size()), 0);
    for (int i = 0; i < ready; ++i) {
        const uint64_t id = events_[i].data.u64;
        if (id == 0) {
            try {
                accept_clients(now);
            } catch (...) {
                ++counters_.accept_errors;  // out of memory: try again next time
            }
            continue;
        }
        // A client closed earlier in this batch has no entry any more; ids
        // are never reused, so a later client cannot receive its events.
        const auto it = clients_.find(id);
        if (it == clients_.end()) continue;
        bool keep = false;
        try {
            keep = serve(*it->second, events_[i].events, now);
        } catch (...) {  // out of memory, or a callback that threw past its session
            ++counters_.dropped_io_error;
        }
        if (!keep) close_client(id);
    }
}

void SocketServer::tick(std::chrono::steady_clock::time_point now) noexcept {
    if (!accepting_) {
        epoll_event event{};
        event.events = EPOLLIN;
        event.data.u64 = 0;
        accepting_ = ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listener_->fd(), &event) == 0;
    }
    for (auto it = clients_.begin(); it != clients_.end();) {
        const Client& c = *it->second;
        // A client between requests with nothing to send may wait as long as
        // it likes (wg(8) and wireguard-go keep connections too); max_clients
        // bounds how many do.
        const bool owes_or_owed = !c.session->between_requests() || !c.in.empty() || !c.out.empty();
        if (owes_or_owed && now - c.last_progress > limits_.idle_timeout) {
            ++counters_.dropped_idle;
            it = clients_.erase(it);
        } else {
            ++it;
        }
    }
}

void SocketServer::accept_clients(std::chrono::steady_clock::time_point now) {
    // Bounded, so a flood of connections cannot keep the control thread here.
    for (size_t attempt = 0; attempt < limits_.max_clients + 16; ++attempt) {
        const int fd = ::accept4(listener_->fd(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (would_block(errno)) return;
            if (errno == EINTR || errno == ECONNABORTED) continue;
            ++counters_.accept_errors;
            // Out of descriptors or memory: the listener stays readable, so
            // stop watching it until the next tick rather than spin.
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                pause_accepting();
            return;
        }
        if (clients_.size() >= limits_.max_clients) {
            ::close(fd);
            ++counters_.refused_over_limit;
            continue;
        }
        FdGuard guard(fd);
        std::unique_ptr<ServerSession> session = make_session_();
        auto client = std::make_unique<Client>(next_id_++, -1, std::move(session), now);
        client->fd = guard.release();  // from here the Client closes it
        epoll_event event{};
        event.events = client->interest;
        event.data.u64 = client->id;
        if (!client->session || ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) != 0) {
            ++counters_.dropped_io_error;
            continue;  // the Client closes the fd
        }
        ++counters_.clients_accepted;
        clients_.emplace(client->id, std::move(client));
    }
}

void SocketServer::pause_accepting() noexcept {
    if (accepting_ && ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listener_->fd(), nullptr) == 0)
        accepting_ = false;
}

bool SocketServer::serve(Client& client, uint32_t events,
                         std::chrono::steady_clock::time_point now) {
    if (events & EPOLLERR) {
        ++counters_.dropped_io_error;
        return false;
    }
    if ((events & (EPOLLIN | EPOLLHUP)) && (client.interest & EPOLLIN)) {
        // One read per client per poll(), so one busy client cannot starve the rest.
        const std::span<uint8_t> room = client.in.prepare(limits_.read_chunk);
        const ssize_t n = ::recv(client.fd, room.data(), room.size(), MSG_DONTWAIT);
        if (n > 0) {
            client.in.commit(static_cast<size_t>(n));
            client.last_progress = now;
        } else if (n == 0) {
            client.read_closed = true;
        } else if (!would_block(errno) && errno != EINTR) {
            if (!hung_up(errno)) ++counters_.dropped_io_error;
            return false;
        }
    }
    // Answer and send until the input is used up, the output is backed up or
    // the stream broke. Every round answers at least one byte of input.
    for (;;) {
        answer(client);
        if (!flush(client, now)) return false;
        if (client.closing || client.in.empty() || client.out.size() >= limits_.output_high_water)
            break;
    }
    if (client.out.size() > limits_.max_output) {
        ++counters_.dropped_backlog;
        return false;
    }
    if (client.read_closed && client.in.empty() && !client.closing) {
        // Replies to its complete requests still go out; a half-sent request
        // gets none (there is nothing to answer).
        if (!client.session->between_requests()) ++counters_.broken_streams;
        client.closing = true;
    }
    if (client.closing && client.out.empty()) return false;
    update_interest(client);
    return true;
}

void SocketServer::answer(Client& client) {
    while (!client.closing && !client.in.empty() && client.out.size() < limits_.output_high_water) {
        const ServerSession::Step step = client.session->consume(client.in.data(), client.out);
        client.in.consume(step.consumed);
        switch (step.outcome) {
            case ServerSession::Outcome::need_more:
                if (step.consumed == 0) {  // a session that stalls: treat as broken
                    ++counters_.broken_streams;
                    client.closing = true;
                }
                break;
            case ServerSession::Outcome::answered:
                ++counters_.requests;
                break;
            case ServerSession::Outcome::answered_error:
                ++counters_.requests;
                ++counters_.request_errors;
                break;
            case ServerSession::Outcome::broken:
                ++counters_.broken_streams;
                client.closing = true;
                break;
        }
    }
    // Whatever came after a broken request is out of step: never read it.
    if (client.closing) client.in.clear();
}

bool SocketServer::flush(Client& client, std::chrono::steady_clock::time_point now) {
    while (!client.out.empty()) {
        const std::span<const uint8_t> pending = client.out.data();
        const ssize_t n =
            ::send(client.fd, pending.data(), pending.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            client.out.consume(static_cast<size_t>(n));
            client.last_progress = now;
            continue;
        }
        if (n < 0 && would_block(errno)) return true;  // EPOLLOUT will say when
        if (n < 0 && errno == EINTR) continue;
        if (n == 0 || !hung_up(errno)) ++counters_.dropped_io_error;
        return false;
    }
    return true;
}

void SocketServer::update_interest(Client& client) noexcept {
    uint32_t wanted = 0;
    if (!client.read_closed && !client.closing && client.in.empty() &&
        client.out.size() < limits_.output_high_water)
        wanted |= EPOLLIN;
    if (!client.out.empty()) wanted |= EPOLLOUT;
    if (wanted == client.interest) return;
    epoll_event event{};
    event.events = wanted;
    event.data.u64 = client.id;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, client.fd, &event) == 0) client.interest = wanted;
}

void SocketServer::close_client(uint64_t id) noexcept {
    clients_.erase(id);
}

}  // namespace sluice
