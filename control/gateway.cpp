// The control thread's loop, the lcore events, and publishing the tables
// lcores read. See gateway.hpp for the order of work in one round.
#include "control/gateway.hpp"

#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <stdexcept>
#include <utility>

#include "control/ctl_server.hpp"
#include "control/dataplane_ports.hpp"
#include "control/gateway_peer.hpp"
#include "control/l2_control.hpp"
#include "control/log.hpp"
#include "control/stream_forwarder.hpp"
#include "control/uapi_server.hpp"

namespace sluice {

// ---- Small shared helpers ----------------------------------------------------------

int64_t realtime_now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

MbufEndpoint to_mbuf_endpoint(const IpAddress& address, uint16_t port) {
    MbufEndpoint ep;
    ep.family = address.family == IpFamily::v4 ? 4 : 6;
    ep.port = port;
    std::memcpy(ep.addr, address.addr.data(), address.family == IpFamily::v4 ? 4 : 16);
    return ep;
}

std::optional<IpAddress> address_of(const MbufEndpoint& ep) {
    if (ep.family != 4 && ep.family != 6) return std::nullopt;
    IpAddress a;
    a.family = ep.family == 4 ? IpFamily::v4 : IpFamily::v6;
    std::memcpy(a.addr.data(), ep.addr, ep.family == 4 ? 4 : 16);
    return a;
}

size_t cookie_source(const MbufEndpoint& ep, uint8_t out[18]) {
    const size_t n = ep.family == 4 ? 4 : 16;
    std::memcpy(out, ep.addr, n);
    out[n] = static_cast<uint8_t>(ep.port >> 8);
    out[n + 1] = static_cast<uint8_t>(ep.port & 0xff);
    return n + 2;
}

// From a generator seeded once by the kernel; the control thread is its only user.
JitterSource timer_jitter_source() {
    return [] {
        static std::mt19937 rng(getrandom_u32());
        std::uniform_int_distribution<int> d(
            0, static_cast<int>(wire::kRekeyTimeoutJitterMax.count()) - 1);
        return std::chrono::milliseconds(d(rng));
    };
}

// ---- Construction ---------------------------------------------------------------------

Gateway::Gateway(Config config, GatewayIo io)
    : config_(std::move(config)),
      io_(std::move(io)),
      rekey_after_time_(config_.testing.rekey_after_seconds != 0
                            ? std::chrono::nanoseconds(std::chrono::seconds(
                                  config_.testing.rekey_after_seconds))
                            : std::chrono::nanoseconds(wire::kRekeyAfterTime)),
      started_(std::chrono::steady_clock::now()) {
    for (const auto& p : config_.peers)
        if (!p.name.empty()) names_[p.public_key] = p.name;
    const Time now(monotonic_ns());
    // L2 mode's frames (ARP, ND, released packets) go out as our commands do.
    if (io_.l2 != nullptr)
        io_.l2->bind(io_.ports->pool(), io_.rcu, [this](const Command& cmd) { return send_command(cmd); });
    device_ = DeviceConfig::from_config(config_, resolve_endpoint);
    set_identity(now);
    for (const DevicePeer* dp : device_.peers()) add_peer(*dp, now);
    start_streams();
    publish();
    // Peers we know how to reach get an initiation right away: a restarted
    // gateway is then back in one handshake, instead of waiting for its
    // peer's session to time out (REKEY_TIMEOUT + KEEPALIVE_TIMEOUT).
    for (uint32_t id : peer_order_) {
        Peer& peer = *peers_.at(id);
        if (peer.endpoint.family != 0) send_initiation(peer, now, /*probe=*/true);
    }
    register_ctl_handlers(handlers_);
    register_telemetry();
}

Gateway::~Gateway() {
    unregister_telemetry();
    if (epoll_fd_ >= 0) close(epoll_fd_);
    if (signal_fd_ >= 0) close(signal_fd_);
}

bool Gateway::open_sockets(std::string* error) {
    uapi_server_ = UapiServer::create(
        config_.control.uapi_socket, [this] { return uapi_get(); },
        [this](const uapi::SetRequest& r) { return uapi_set(r); }, error);
    if (!uapi_server_) return false;
    ctl_server_ = CtlServer::create(config_.control.ctl_socket, handlers_, error);
    if (!ctl_server_) return false;
    if (streams_ && !streams_->open_listeners(error)) return false;
    return true;
}

// ---- The loop ---------------------------------------------------------------------------

void Gateway::run() {
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    signal_fd_ = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    auto watch = [this](int fd) {
        if (fd < 0) return;
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = fd;
        epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
    };
    watch(io_.events_wake_fd);
    watch(signal_fd_);
    if (uapi_server_) watch(uapi_server_->fd());
    if (ctl_server_) watch(ctl_server_->fd());
    if (streams_) {
        watch(streams_->fd());
        watch(streams_->timer_fd());
    }

    while (!stop_.load()) {
        Time now(monotonic_ns());
        int timeout_ms = static_cast<int>(kTick.count());
        auto deadline = next_deadline();
        if (io_.l2 != nullptr) {
            const auto l2 = io_.l2->next_deadline();
            if (l2 && (!deadline || *l2 < *deadline)) deadline = l2;
        }
        if (deadline) {
            const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - now);
            timeout_ms = static_cast<int>(std::clamp<int64_t>(wait.count() + 1, 0, kTick.count()));
        }
        if (!queue_.empty() || dirty_) timeout_ms = 0;
        // Stream deadlines (pacing, ACK delay) are finer than a millisecond:
        // their timerfd wakes the wait, not its timeout.
        epoll_event evs[8];
        const int n = epoll_wait(epoll_fd_, evs, 8, timeout_ms);
        for (int i = 0; i < n; ++i) {
            const int fd = evs[i].data.fd;
            if (fd == io_.events_wake_fd) {
                uint64_t v;
                [[maybe_unused]] ssize_t r = read(fd, &v, sizeof v);
            } else if (fd == signal_fd_) {
                signalfd_siginfo si{};
                while (read(signal_fd_, &si, sizeof si) == sizeof si) {
                    if (si.ssi_signo == SIGHUP) {
                        ctl::ReloadResponse response;
                        std::string err;
                        reload(&response, &err);
                        if (!err.empty()) log::error("reload (SIGHUP): " + err);
                        for (const auto& w : response.warnings) log::warning("reload: " + w);
                    } else {
                        log::info(std::string("shutting down on ") + strsignal(static_cast<int>(si.ssi_signo)));
                        stop_ = true;
                        // Peers hear that our streams end, while lcores still send.
                        if (streams_) streams_->close_all(Time(monotonic_ns()));
                        if (std::exchange(commands_pending_, false)) io_.lcores.front()->wake();
                    }
                }
            } else if (uapi_server_ && fd == uapi_server_->fd()) {
                uapi_server_->poll();
            } else if (ctl_server_ && fd == ctl_server_->fd()) {
                ctl_server_->poll();
            }
        }
        now = Time(monotonic_ns());
        drain_events(now);
        if (streams_) {
            streams_->poll(now);
            streams_->run(now);
        }
        if (io_.l2 != nullptr) io_.l2->poll(now);
        run_handshake_worker(now);
        run_timers(now);
        if (dirty_) publish();
        if (std::exchange(commands_pending_, false)) io_.lcores.front()->wake();
        io_.rcu->reclaim();
        if (now - last_gc_ >= std::chrono::seconds(1)) {
            last_gc_ = now;
            gate_.collect_idle_sources(now);
            const auto steady = std::chrono::steady_clock::now();
            if (uapi_server_) uapi_server_->tick(steady);
            if (ctl_server_) ctl_server_->tick(steady);
        }
    }
}

void Gateway::shutdown() {
    uapi_server_.reset();  // nothing may read peers from here on
    ctl_server_.reset();
    streams_.reset();  // forwarded connections closed
    for (auto& [id, peer] : peers_) {
        drop_staged(*peer);
        retire_keypairs(peer->slots.clear());
        peer->handshake.clear();
        PeerShared* shared = std::exchange(peer->shared, nullptr);
        io_.rcu->retire([shared] { delete shared; });
    }
    identity_.reset();  // wipes the private key
    io_.rcu->synchronize();
    log::info("keys wiped");
}

// ---- Events from lcores ---------------------------------------------------------------------

void Gateway::drain_events(Time now) {
    Event evs[64];
    for (Lcore* lcore : io_.lcores) {
        rte_ring* ring = lcore->config().events;
        unsigned n;
        // Bounded per round, so one busy lcore cannot starve the rest of the loop.
        for (int round = 0; round < 16; ++round) {
            n = rte_ring_sc_dequeue_burst_elem(ring, evs, sizeof(Event), 64, nullptr);
            for (unsigned i = 0; i < n; ++i) handle_event(evs[i], now);
            if (n < 64) break;
        }
    }
}

void Gateway::handle_event(const Event& ev, Time now) {
    switch (ev.kind) {
        case Event::Kind::handshake_message:
            handshake_message(ev.m, now);
            return;
        case Event::Kind::staged: {
            Peer* peer = peer_by_id(ev.peer_id);
            if (peer == nullptr) {
                rte_pktmbuf_free(ev.m);
                return;
            }
            stage(*peer, ev.m, now);
            return;
        }
        case Event::Kind::keypair_confirmed: {
            Peer* peer = peer_by_id(ev.peer_id);
            if (peer == nullptr) return;
            Keypair* kp = peer->slots.find(ev.index);
            if (kp == nullptr || kp != peer->slots.next()) return;  // already handled
            bool promoted = false;
            retire_keypairs(peer->slots.received_with(kp, &promoted));
            if (promoted) {
                peer->timers.handshake_complete(now);
                dirty_ = true;
                flush_staged(*peer, now);
            }
            return;
        }
        case Event::Kind::stream_message: {
            if (streams_) {
                streams_->on_message(ev.peer_id,
                                     std::span<const uint8_t>(rte_pktmbuf_mtod(ev.m, const uint8_t*),
                                                              rte_pktmbuf_data_len(ev.m)),
                                     now);
            } else {
                ++counters_.stream_messages_unexpected;
            }
            rte_pktmbuf_free(ev.m);
            return;
        }
        case Event::Kind::roamed: {
            Peer* peer = peer_by_id(ev.peer_id);
            if (peer == nullptr || peer->endpoint == ev.endpoint) return;
            log::info("peer " + std::to_string(peer->id) + " roamed from " +
                      peer->endpoint.to_string() + " to " + ev.endpoint.to_string());
            peer->endpoint = ev.endpoint;
            dirty_ = true;
            return;
        }
    }
}

// ---- Sending through an lcore -----------------------------------------------------------------

bool Gateway::send_command(const Command& cmd) {
    // Lcore 0 sends everything the control thread originates: any WAN queue
    // reaches any endpoint, and one ring keeps their order.
    Lcore* lcore = io_.lcores.front();
    if (rte_ring_sp_enqueue_elem(lcore->config().commands, const_cast<Command*>(&cmd),
                                 sizeof(Command)) != 0) {
        ++counters_.commands_dropped;
        rte_pktmbuf_free(cmd.m);
        return false;
    }
    commands_pending_ = true;  // one wake-up per round, not one write(2) per command
    return true;
}

bool Gateway::send_raw(const uint8_t* data, size_t len, const MbufEndpoint& to) {
    if (to.family == 0) {
        ++counters_.no_endpoint;
        return false;
    }
    rte_mbuf* m = rte_pktmbuf_alloc(io_.ports->pool());
    if (m == nullptr) return false;
    auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, static_cast<uint16_t>(len)));
    if (p == nullptr) {
        rte_pktmbuf_free(m);
        return false;
    }
    std::memcpy(p, data, len);
    *mbuf_endpoint(m) = to;
    Command cmd;
    cmd.kind = Command::Kind::send_raw;
    cmd.m = m;
    return send_command(cmd);
}

void Gateway::stage(Peer& peer, rte_mbuf* m, Time now) {
    if (peer.staged.size() >= kMaxStagedPerPeer) {  // the oldest goes, as in WireGuard
        rte_pktmbuf_free(peer.staged.front());
        peer.staged.pop_front();
        ++counters_.staged_dropped;
    }
    peer.staged.push_back(m);
    // A keypair may have arrived since the lcore looked: send at once.
    if (Keypair* kp = peer.slots.current(); kp != nullptr && may_send_data(timing_of(*kp), now)) {
        flush_staged(peer, now);
        return;
    }
    carry_out(peer, peer.timers.send_without_key(now), now);
}

void Gateway::flush_staged(Peer& peer, Time now) {
    (void)now;
    // The lcore must see the keypair these packets wait for.
    if (dirty_) publish();
    while (!peer.staged.empty()) {
        Command cmd;
        cmd.kind = Command::Kind::encrypt;
        cmd.peer_id = peer.id;
        cmd.m = peer.staged.front();
        peer.staged.pop_front();
        send_command(cmd);
    }
}

void Gateway::drop_staged(Peer& peer) {
    counters_.staged_dropped += peer.staged.size();
    for (rte_mbuf* m : peer.staged) rte_pktmbuf_free(m);
    peer.staged.clear();
}

// ---- Tables ----------------------------------------------------------------------------------

Gateway::Peer* Gateway::peer_by_id(uint32_t id) {
    const auto it = peers_.find(id);
    return it == peers_.end() ? nullptr : it->second.get();
}

Gateway::Peer* Gateway::peer_by_key(const Key& key) {
    const DevicePeer* dp = device_.find_peer(key);
    return dp == nullptr ? nullptr : peer_by_id(dp->id);
}

void Gateway::retire_keypairs(KeypairSlots::Retired retired) {
    for (auto& kp : retired) {
        if (!kp) continue;
        indices_.remove(kp->local_index);
        ++counters_.keypairs_retired;
        Keypair* raw = kp.release();
        io_.rcu->retire([raw] { delete raw; });  // ~Keypair wipes the keys
        dirty_ = true;
    }
}

void Gateway::publish() {
    auto snap = std::make_unique<Snapshot>();
    snap->generation = ++generation_;
    snap->mtu = config_.interface.mtu;
    snap->peers.reserve(peer_order_.size());
    for (uint32_t id : peer_order_) {
        Peer& peer = *peers_.at(id);
        const auto pos = static_cast<uint32_t>(snap->peers.size());
        PeerView view;
        view.peer_id = id;
        view.shared = peer.shared;
        view.current = peer.slots.current();
        view.previous = peer.slots.previous();
        view.next = peer.slots.next();
        view.endpoint = peer.endpoint;
        snap->peers.push_back(view);
        snap->position_of[id] = pos;
        for (Keypair* kp : {view.current, view.previous, view.next})
            if (kp != nullptr) (void)snap->by_index.insert_at(kp->local_index, IndexRef{kp, pos});
        for (const IpPrefix& prefix : device_.allowed_ips_of(peer.public_key))
            snap->routes.insert(prefix, pos);
    }
    const Snapshot* old = io_.snapshot->exchange(snap.release(), std::memory_order_acq_rel);
    if (old != nullptr) io_.rcu->retire([old] { delete old; });
    ++counters_.snapshots_published;
    dirty_ = false;
}

}  // namespace sluice
