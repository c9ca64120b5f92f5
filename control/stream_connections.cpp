// StreamForwarder, the socket side: the forwards' listeners, the TCP
// connections spliced onto streams, and the preamble that tells the far
// gateway where to connect. Every socket is non-blocking and level-triggered
// in our epoll set; interest in reading follows the stream's credit, interest
// in writing follows a socket buffer that filled up.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "control/log.hpp"
#include "control/stream_forwarder.hpp"
#include "control/stream_forwarder_types.hpp"

namespace sluice {

namespace {

// Bytes moved between a socket and a stream per recv/send.
constexpr size_t kChunk = 64 * 1024;
constexpr uint64_t kListenerBit = uint64_t{1} << 63;

socklen_t to_sockaddr(const IpAddress& a, uint16_t port, sockaddr_storage* ss) {
    std::memset(ss, 0, sizeof *ss);
    if (a.family == IpFamily::v4) {
        auto* sin = reinterpret_cast<sockaddr_in*>(ss);
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        std::memcpy(&sin->sin_addr, a.addr.data(), 4);
        return sizeof(sockaddr_in);
    }
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    std::memcpy(&sin6->sin6_addr, a.addr.data(), 16);
    return sizeof(sockaddr_in6);
}

std::string host_port(const IpAddress& a, uint16_t port) {
    return a.family == IpFamily::v6 ? "[" + a.to_string() + "]:" + std::to_string(port)
                                    : a.to_string() + ":" + std::to_string(port);
}

void no_delay(int fd) {
    // Bytes go out as they arrive: the stream engine does the packing.
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

streams::Preamble preamble_of(const IpAddress& a, uint16_t port) {
    streams::Preamble p;
    p.family = a.family == IpFamily::v6 ? 6 : 4;
    std::copy(a.addr.begin(), a.addr.begin() + (p.family == 6 ? 16 : 4), p.address.begin());
    p.port = port;
    return p;
}

IpAddress address_of(const streams::Preamble& p) {
    return IpAddress::of(p.family == 6 ? IpFamily::v6 : IpFamily::v4, p.address.data());
}

}  // namespace

bool StreamForwarder::open_listeners(std::string* error) {
    for (const ForwardConfig& f : config_.forwards) {
        const std::string label = !f.name.empty() ? f.name
                                                  : host_port(f.listen_address, f.listen_port) +
                                                        " -> " +
                                                        host_port(f.target_address, f.target_port);
        sockaddr_storage ss;
        const socklen_t len = to_sockaddr(f.listen_address, f.listen_port, &ss);
        const int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        const int one = 1;
        if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
            bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || listen(fd, 128) != 0) {
            *error = "forward " + label + ": cannot listen on " +
                     host_port(f.listen_address, f.listen_port) + ": " + strerror(errno);
            if (fd >= 0) close(fd);
            return false;
        }
        auto l = std::make_unique<Listener>();
        l->key = kListenerBit | next_key_++;
        l->fd = fd;
        l->forward = &f;
        l->label = label;
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = l->key;
        epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
        log::info("streams: forward " + label + " listening on " +
                  host_port(f.listen_address, f.listen_port) + " for peer " + f.peer);
        listeners_[l->key] = std::move(l);
    }
    return true;
}

// ---- Stage 2 ---------------------------------------------------------------------------------

void StreamForwarder::poll(Time now) {
    uint64_t expirations;
    [[maybe_unused]] ssize_t r = read(timer_fd_, &expirations, sizeof expirations);
    armed_.reset();  // fired or not, run() sets it again
    epoll_event evs[64];
    // Bounded, so sockets cannot starve the gateway's other work.
    for (int round = 0; round < 8; ++round) {
        const int n = epoll_wait(epoll_fd_, evs, 64, 0);
        for (int i = 0; i < n; ++i) {
            const uint64_t key = evs[i].data.u64;
            if (key & kListenerBit) {
                if (const auto it = listeners_.find(key); it != listeners_.end())
                    accept_on(*it->second, now);
            } else {
                conn_event(key, evs[i].events, now);
            }
        }
        if (n < 64) break;
    }
}

void StreamForwarder::accept_on(Listener& l, Time now) {
    for (int i = 0; i < 64; ++i) {
        const int fd = accept4(l.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return;  // EAGAIN, or an error on one connection the client sees
        ++counters_.connections_accepted;
        Peer* peer = nullptr;
        for (auto& [id, p] : peers_)
            if (p->key == l.forward->peer_key) peer = p.get();
        if (peer == nullptr || !peer->session || peer->waiting.size() >= kMaxWaiting) {
            ++counters_.connections_refused;
            close(fd);
            continue;
        }
        no_delay(fd);
        auto c = std::make_unique<Conn>();
        c->key = next_key_++;
        c->fd = fd;
        c->peer_id = peer->id;
        c->local = true;
        c->phase = Conn::Phase::waiting;
        c->label = l.label;
        c->target = preamble_of(l.forward->target_address, l.forward->target_port);
        c->since = now;
        const uint64_t key = c->key;
        conns_[key] = std::move(c);
        peer->waiting.push_back(key);
    }
    // The stream opens (if it can) in this round's run().
}

// Accepted connections get streams, oldest first, while the session is
// open and the peer's stream-count credit lasts.
void StreamForwarder::promote_waiting(Peer& peer, Time now) {
    while (!peer.waiting.empty() && peer.session &&
           peer.session->state() == streams::SessionState::open) {
        const auto it = conns_.find(peer.waiting.front());
        if (it == conns_.end()) {
            peer.waiting.pop_front();
            continue;
        }
        const auto id = peer.session->open_stream(now);
        if (!id) return;  // MAX_STREAMS: a `writable` for the session brings us back
        peer.waiting.pop_front();
        Conn& c = *it->second;
        c.has_stream = true;
        c.stream = *id;
        c.phase = Conn::Phase::open;
        c.pending.clear();
        streams::encode_preamble(c.target, &c.pending);
        peer.conns[*id] = c.key;
        tcp_to_stream(c, now);  // sets the socket's interest (or resets it)
    }
}

void StreamForwarder::expire_waiting(Peer& peer, Time now) {
    while (!peer.waiting.empty()) {
        const auto it = conns_.find(peer.waiting.front());
        if (it != conns_.end() && now - it->second->since < kWaitingLimit) return;
        if (it != conns_.end()) ++counters_.connections_refused;
        const uint64_t key = peer.waiting.front();
        peer.waiting.pop_front();
        close_conn(key, false);
    }
}

void StreamForwarder::on_remote_stream(Peer& peer, uint64_t id, Time now) {
    auto c = std::make_unique<Conn>();
    c->key = next_key_++;
    c->peer_id = peer.id;
    c->local = false;
    c->phase = Conn::Phase::preamble;
    c->has_stream = true;
    c->stream = id;
    c->since = now;
    Conn& ref = *c;
    conns_[c->key] = std::move(c);
    peer.conns[id] = ref.key;
    read_preamble(ref, now);
}

StreamForwarder::Conn* StreamForwarder::conn_of(Peer& peer, uint64_t stream_id) {
    const auto it = peer.conns.find(stream_id);
    if (it == peer.conns.end()) return nullptr;
    const auto c = conns_.find(it->second);
    return c == conns_.end() ? nullptr : c->second.get();
}

void StreamForwarder::read_preamble(Conn& c, Time now) {
    Peer* peer = peer_by_id(c.peer_id);
    if (peer == nullptr || !peer->session) return;
    streams::Session& s = *peer->session;
    for (;;) {
        // Take no byte past the preamble: the rest is the client's data.
        const size_t need = c.pending.size() < 2 ? 2 : (c.pending[1] == 6 ? 20 : 8);
        const std::span<const uint8_t> view = s.peek(c.stream);
        if (view.empty()) {
            if (s.fin_received(c.stream)) {
                ++counters_.bad_preambles;
                reset_conn(c, static_cast<uint64_t>(streams::StreamError::bad_preamble), now);
            }
            return;
        }
        const size_t take = std::min(view.size(), need - c.pending.size());
        c.pending.insert(c.pending.end(), view.begin(), view.begin() + static_cast<std::ptrdiff_t>(take));
        s.consume(c.stream, take, now);
        streams::Preamble p;
        size_t used = 0;
        const streams::PreambleStatus st = streams::parse_preamble(c.pending, &p, &used);
        if (st == streams::PreambleStatus::need_more) continue;
        if (st != streams::PreambleStatus::ok) {
            ++counters_.bad_preambles;
            log::warning("streams: peer " + peer->name + " sent a bad preamble (" +
                         std::string(streams::to_string(st)) + ")");
            reset_conn(c, static_cast<uint64_t>(streams::StreamError::bad_preamble), now);
            return;
        }
        c.pending.clear();
        c.target = p;
        const IpAddress target = address_of(p);
        c.label = "-> " + host_port(target, p.port);
        const bool allowed = std::any_of(peer->allow.begin(), peer->allow.end(),
                                         [&](const StreamTarget& t) {
                                             return t.port == p.port && t.prefix.contains(target);
                                         });
        if (!allowed) {
            ++counters_.targets_not_allowed;
            log::warning("streams: peer " + (peer->name.empty() ? std::string("?") : peer->name) +
                         " asked for " + host_port(target, p.port) +
                         ", which its streams.allow does not list");
            reset_conn(c, static_cast<uint64_t>(streams::StreamError::target_not_allowed), now);
            return;
        }
        sockaddr_storage ss;
        const socklen_t len = to_sockaddr(target, p.port, &ss);
        c.fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c.fd < 0) {
            ++counters_.targets_failed;
            reset_conn(c, static_cast<uint64_t>(streams::StreamError::connect_refused), now);
            return;
        }
        no_delay(c.fd);
        if (connect(c.fd, reinterpret_cast<sockaddr*>(&ss), len) == 0) {
            finish_connect(c, now);
            return;
        }
        if (errno != EINPROGRESS) {
            ++counters_.targets_failed;
            reset_conn(c, static_cast<uint64_t>(streams::StreamError::connect_refused), now);
            return;
        }
        c.phase = Conn::Phase::connecting;
        watch(c, false, true);
        return;
    }
}

void StreamForwarder::finish_connect(Conn& c, Time now) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err == EINPROGRESS) return;
    if (err != 0) {
        ++counters_.targets_failed;
        log::info("streams: connect to " + c.label.substr(3) + " failed: " + strerror(err));
        reset_conn(c, static_cast<uint64_t>(streams::StreamError::connect_refused), now);
        return;
    }
    ++counters_.targets_connected;
    c.phase = Conn::Phase::open;
    const uint64_t key = c.key;
    watch(c, true, false);
    stream_to_tcp(c, now);  // what the client sent before we were connected
    if (const auto it = conns_.find(key); it != conns_.end()) tcp_to_stream(*it->second, now);
}

void StreamForwarder::conn_event(uint64_t key, uint32_t events, Time now) {
    auto it = conns_.find(key);
    if (it == conns_.end()) return;
    Conn& c = *it->second;
    if (c.phase == Conn::Phase::connecting) {
        finish_connect(c, now);
        return;
    }
    if (c.phase != Conn::Phase::open) return;
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) tcp_to_stream(c, now);
    it = conns_.find(key);
    if (it == conns_.end()) return;
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) stream_to_tcp(*it->second, now);
    it = conns_.find(key);
    // A hang-up that nobody reads (credit is out) would fire again at once.
    if (it != conns_.end() && (events & EPOLLHUP) && !it->second->want_read &&
        !it->second->want_write)
        watch(*it->second, false, false);
}

// TCP → stream, as far as the stream's and the session's credit and the
// send buffer go; reading pauses at zero and `writable` resumes it.
void StreamForwarder::tcp_to_stream(Conn& c, Time now) {
    if (c.phase != Conn::Phase::open || c.fd < 0 || c.read_eof) return;
    Peer* peer = peer_by_id(c.peer_id);
    if (peer == nullptr || !peer->session) return;
    streams::Session& s = *peer->session;
    if (!c.pending.empty()) {  // the preamble goes first
        const size_t n = s.write(c.stream, c.pending, now);
        c.pending.erase(c.pending.begin(), c.pending.begin() + static_cast<std::ptrdiff_t>(n));
        if (!c.pending.empty()) {
            watch(c, false, c.want_write);
            return;
        }
    }
    static thread_local std::vector<uint8_t> buf(kChunk);
    for (;;) {
        const size_t room = s.writable(c.stream);
        if (room == 0) {
            // A write that falls short is what asks the engine for a
            // `writable` event once credit or buffer room comes back.
            s.write(c.stream, std::span<const uint8_t>(buf.data(), 1), now);
            watch(c, false, c.want_write);
            return;
        }
        const ssize_t n = recv(c.fd, buf.data(), std::min(room, kChunk), MSG_DONTWAIT);
        if (n > 0) {
            s.write(c.stream, std::span<const uint8_t>(buf.data(), static_cast<size_t>(n)), now);
            continue;
        }
        if (n == 0) {  // half-close: the stream's fin
            s.finish(c.stream);
            c.read_eof = true;
            watch(c, false, c.want_write);
            maybe_done(c);
            return;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            watch(c, true, c.want_write);
            return;
        }
        ++counters_.tcp_errors;
        reset_conn(c, static_cast<uint64_t>(streams::StreamError::connection_reset), now);
        return;
    }
}

// Stream → TCP; bytes are consumed (and so credit granted) only once the
// socket took them.
void StreamForwarder::stream_to_tcp(Conn& c, Time now) {
    if (c.phase != Conn::Phase::open || c.fd < 0 || c.write_shut) return;
    Peer* peer = peer_by_id(c.peer_id);
    if (peer == nullptr || !peer->session) return;
    streams::Session& s = *peer->session;
    for (;;) {
        const std::span<const uint8_t> view = s.peek(c.stream);
        if (view.empty()) {
            if (s.fin_received(c.stream)) {
                shutdown(c.fd, SHUT_WR);
                c.write_shut = true;
                watch(c, c.want_read, false);
                maybe_done(c);
            } else {
                watch(c, c.want_read, false);
            }
            return;
        }
        const ssize_t n = send(c.fd, view.data(), view.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            s.consume(c.stream, static_cast<size_t>(n), now);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            watch(c, c.want_read, true);
            return;
        }
        ++counters_.tcp_errors;
        reset_conn(c, static_cast<uint64_t>(streams::StreamError::connection_reset), now);
        return;
    }
}

void StreamForwarder::reset_conn(Conn& c, uint64_t error, Time now) {
    (void)now;
    Peer* peer = peer_by_id(c.peer_id);
    if (c.has_stream && peer != nullptr && peer->session &&
        peer->session->state() != streams::SessionState::closed &&
        peer->session->has_stream(c.stream)) {
        peer->session->reset(c.stream, error);  // RESET_STREAM and STOP_SENDING
    }
    close_conn(c.key, true);
}

// Both directions finished: the socket can go; the stream finishes on its
// own once the peer acknowledged our fin.
void StreamForwarder::maybe_done(Conn& c) {
    if (c.read_eof && c.write_shut) close_conn(c.key, false);
}

void StreamForwarder::close_conn(uint64_t key, bool abort) {
    const auto it = conns_.find(key);
    if (it == conns_.end()) return;
    Conn& c = *it->second;
    if (c.fd >= 0) {
        if (abort) {
            // An RST, so the client sees the failure rather than a clean end.
            const linger lg{1, 0};
            setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        }
        close(c.fd);  // leaves the epoll set with it
    }
    if (Peer* peer = peer_by_id(c.peer_id)) {
        if (c.has_stream) {
            const auto p = peer->conns.find(c.stream);
            if (p != peer->conns.end() && p->second == key) peer->conns.erase(p);
        }
        std::erase(peer->waiting, key);
    }
    conns_.erase(it);
}

void StreamForwarder::watch(Conn& c, bool read, bool write) {
    c.want_read = read;
    c.want_write = write;
    if (c.fd < 0) return;
    const uint32_t events = (read ? EPOLLIN : 0u) | (write ? EPOLLOUT : 0u);
    if (events == 0) {
        if (c.registered) epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.fd, nullptr);
        c.registered = false;
        return;
    }
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = c.key;
    epoll_ctl(epoll_fd_, c.registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c.fd, &ev);
    c.registered = true;
}

}  // namespace sluice
