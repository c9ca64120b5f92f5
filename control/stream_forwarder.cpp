// StreamForwarder, the session side: one streams::Session per peer with
// `streams:`, fed by stream messages from lcores, drained into stream
// messages through the gateway, its events turned into socket work
// (stream_connections.cpp). Stages are listed in stream_forwarder.hpp.
#include "control/stream_forwarder.hpp"

#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "control/key_encoding.hpp"
#include "control/log.hpp"
#include "dataplane/clock.hpp"
#include "control/stream_forwarder_types.hpp"
#include "dataplane/index_table.hpp"  // getrandom_u32

namespace sluice {

namespace {

// A closed session is replaced after this, doubling up to the max while
// sessions keep failing before they open (a version mismatch, say), so a
// broken peer costs a packet now and then, not a stream of them.
constexpr StreamForwarder::Time kRestartMin = std::chrono::seconds(1);
constexpr StreamForwarder::Time kRestartMax = std::chrono::seconds(30);
// Command-ring slots left for handshakes and keepalives.
constexpr size_t kRingReserve = 64;
// When the ring was full: look again this soon.
constexpr StreamForwarder::Time kRingRetry = std::chrono::microseconds(100);

std::string peer_label(const std::string& name, const Key& key) {
    return name.empty() ? key_to_base64(key) : name;
}

}  // namespace

StreamForwarder::StreamForwarder(const Config& config, const Key& our_public_key,
                                 StreamLink link)
    : config_(config),
      our_key_(our_public_key),
      link_(std::move(link)),
      budget_(config.streams.memory_budget) {
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    timer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (epoll_fd_ < 0 || timer_fd_ < 0)
        throw std::runtime_error(std::string("streams: epoll/timerfd: ") + strerror(errno));
}

StreamForwarder::~StreamForwarder() {
    for (auto& [key, c] : conns_)
        if (c->fd >= 0) close(c->fd);
    for (auto& [key, l] : listeners_)
        if (l->fd >= 0) close(l->fd);
    if (timer_fd_ >= 0) close(timer_fd_);
    if (epoll_fd_ >= 0) close(epoll_fd_);
}

StreamForwarder::Peer* StreamForwarder::peer_by_id(uint32_t id) {
    const auto it = peers_.find(id);
    return it == peers_.end() ? nullptr : it->second.get();
}

// ---- Peers and sessions ---------------------------------------------------------------------

void StreamForwarder::set_peer(uint32_t peer_id, const Key& key, const std::string& name,
                               const std::optional<PeerStreamsConfig>& streams) {
    Peer* existing = peer_by_id(peer_id);
    if (!streams) {
        if (existing != nullptr) remove_peer(peer_id);
        return;
    }
    if (existing != nullptr) {
        existing->name = name;
        existing->allow = streams->allow;  // checked at the next connect
        return;
    }
    auto peer = std::make_unique<Peer>();
    peer->id = peer_id;
    peer->key = key;
    peer->name = name;
    peer->allow = streams->allow;
    Peer& ref = *peer;
    peers_[peer_id] = std::move(peer);
    start_session(ref);
}

void StreamForwarder::remove_peer(uint32_t peer_id) {
    Peer* peer = peer_by_id(peer_id);
    if (peer == nullptr) return;
    std::vector<uint64_t> keys;
    for (const auto& [id, key] : peer->conns) keys.push_back(key);
    keys.insert(keys.end(), peer->waiting.begin(), peer->waiting.end());
    for (uint64_t key : keys) close_conn(key, true);
    peer->session.reset();  // its destructor gives its budget reservations back
    peers_.erase(peer_id);
}

void StreamForwarder::start_session(Peer& peer) {
    streams::SessionConfig sc;
    // The side whose static key sorts lower opens the even ids.
    sc.even_ids = std::memcmp(our_key_.data(), peer.key.data(), our_key_.size()) < 0;
    do {
        sc.session_id = getrandom_u32();
    } while (sc.session_id == 0);
    sc.max_packet = config_.interface.mtu;
    const StreamsConfig& s = config_.streams;
    sc.initial_stream_window = s.initial_stream_window;
    sc.max_stream_window = s.max_stream_window;
    sc.initial_session_window = s.initial_session_window;
    sc.max_session_window = s.max_session_window;
    sc.max_streams = s.max_streams;
    sc.idle_timeout = std::chrono::seconds(s.idle_timeout_seconds);
    sc.congestion = s.congestion_control == StreamCongestion::newreno ? streams::Congestion::newreno
                                                                      : streams::Congestion::bbr;
    sc.budget = &budget_;
    peer.session = std::make_unique<streams::Session>(sc);
    peer.restart_at.reset();
    ++counters_.sessions_started;
}

// The session closed (either side, any reason): every connection on it is
// reset, and a new session follows after a back-off.
void StreamForwarder::end_session(Peer& peer, Time now) {
    const streams::SessionInfo info = peer.session->info();
    ++counters_.sessions_closed;
    peer.last_close = std::string(streams::to_string(info.close_error)) +
                      (info.closed_by_peer ? " (by the peer)" : "") +
                      (info.close_reason.empty() ? "" : ": " + info.close_reason);
    log::warning("streams: session with " + peer_label(peer.name, peer.key) + " closed: " +
                 peer.last_close);
    std::vector<uint64_t> keys;
    for (const auto& [id, key] : peer.conns) keys.push_back(key);
    for (uint64_t key : keys) close_conn(key, true);
    peer.conns.clear();
    // A session that opened and then ended starts over at once; one that
    // never opened backs off.
    if (info.close_error == streams::CloseError::peer_restarted || peer.was_open) {
        peer.backoff = kRestartMin;
        peer.restart_at = now;
    } else {
        peer.restart_at = now + peer.backoff;
        peer.backoff = std::min(peer.backoff * 2, kRestartMax);
    }
    peer.was_open = false;
}

void StreamForwarder::on_message(uint32_t peer_id, std::span<const uint8_t> plaintext, Time now) {
    Peer* peer = peer_by_id(peer_id);
    if (peer == nullptr || !peer->session) {
        ++counters_.messages_without_session;
        return;
    }
    if (peer->session->state() == streams::SessionState::closed) {
        // A new session may be what the peer is opening: start it now.
        start_session(*peer);
    }
    if (!peer->session->receive(plaintext, now)) {
        // The peer restarted: its old session is gone, ours closed itself.
        handle_events(*peer, now);
        start_session(*peer);
        peer->session->receive(plaintext, now);
    }
}

// ---- Stage 3 ------------------------------------------------------------------------------------

void StreamForwarder::handle_events(Peer& peer, Time now) {
    using Kind = streams::StreamEvent::Kind;
    for (const streams::StreamEvent& ev : peer.session->take_events()) {
        switch (ev.kind) {
            case Kind::session_open:
                peer.was_open = true;
                peer.backoff = kRestartMin;
                log::info("streams: session with " + peer_label(peer.name, peer.key) + " open");
                promote_waiting(peer, now);
                break;
            case Kind::stream_opened:
                on_remote_stream(peer, ev.id, now);
                break;
            case Kind::readable:
                if (Conn* c = conn_of(peer, ev.id)) {
                    if (c->phase == Conn::Phase::preamble)
                        read_preamble(*c, now);
                    else
                        stream_to_tcp(*c, now);
                }
                break;
            case Kind::writable:
                if (ev.id == UINT64_MAX) {
                    std::vector<uint64_t> keys;
                    for (const auto& [id, key] : peer.conns) keys.push_back(key);
                    for (uint64_t key : keys) {
                        const auto it = conns_.find(key);
                        if (it != conns_.end()) tcp_to_stream(*it->second, now);
                    }
                    promote_waiting(peer, now);
                } else if (Conn* c = conn_of(peer, ev.id)) {
                    tcp_to_stream(*c, now);
                }
                break;
            case Kind::reset:
            case Kind::stop_sending:
                // The far side gave up on this stream (its TCP connection
                // failed, or its target refused): abort ours the same way.
                if (Conn* c = conn_of(peer, ev.id)) reset_conn(*c, ev.error, now);
                break;
            case Kind::stream_closed:
                if (const auto it = peer.conns.find(ev.id); it != peer.conns.end()) {
                    const auto c = conns_.find(it->second);
                    // Both directions are over: whatever the socket still
                    // holds was delivered or never will be.
                    if (c != conns_.end()) close_conn(it->second, false);
                }
                break;
            case Kind::session_closed:
                end_session(peer, now);
                return;
        }
    }
}

void StreamForwarder::transmit(Peer& peer, Time now, size_t* room) {
    streams::Session& s = *peer.session;
    const bool closed = s.state() == streams::SessionState::closed;
    if (!link_.can_send(peer.id)) {
        // A closed session's CLOSE is not worth a handshake.
        const auto t = s.next_timer();
        if (!closed && t && *t <= now) link_.want_keypair(peer.id);
        peer.held = !closed;
        return;
    }
    peer.held = false;
    std::vector<uint8_t>& out = scratch_packet();
    while (*room > 0 && s.transmit(now, &out)) {
        if (!link_.send(peer.id, out)) {
            ++counters_.packets_not_sent;
            *room = 0;  // the loss is the engine's to recover; stop for this round
            break;
        }
        --*room;
    }
}

void StreamForwarder::run(Time now) {
    const size_t ring_room = link_.send_room();
    size_t room = ring_room > kRingReserve ? ring_room - kRingReserve : 0;
    ring_full_ = false;
    for (auto& [id, peer_ptr] : peers_) {
        Peer& peer = *peer_ptr;
        if (!peer.session) continue;
        if (peer.session->state() == streams::SessionState::closed) {
            transmit(peer, now, &room);  // its CLOSE, once, if it has not gone yet
            if (!peer.restart_at || *peer.restart_at > now) {
                expire_waiting(peer, now);
                continue;
            }
            start_session(peer);
        }
        if (const auto t = peer.session->next_timer(); t && *t <= now) peer.session->on_timer(now);
        handle_events(peer, now);
        if (peer.session->state() == streams::SessionState::open) promote_waiting(peer, now);
        // Also the CLOSE of a session that closed just now.
        transmit(peer, now, &room);
        if (peer.session->state() != streams::SessionState::closed) handle_events(peer, now);
        if (room == 0) ring_full_ = true;
        expire_waiting(peer, now);
    }
    arm_timer(next_deadline());
}

std::optional<StreamForwarder::Time> StreamForwarder::next_deadline() const {
    std::optional<Time> best;
    auto consider = [&](std::optional<Time> t) {
        if (t && (!best || *t < *best)) best = t;
    };
    const Time now(monotonic_ns());
    if (ring_full_) consider(now + kRingRetry);
    for (const auto& [id, peer] : peers_) {
        if (!peer->session) continue;
        if (peer->session->state() == streams::SessionState::closed) {
            consider(peer->restart_at);
            continue;
        }
        // Held for want of a keypair: the gateway's own loop (at most a tick
        // away) and the handshake's completion bring us back.
        if (!peer->held) consider(peer->session->next_timer());
        if (!peer->waiting.empty()) {
            if (const auto c = conns_.find(peer->waiting.front()); c != conns_.end())
                consider(c->second->since + kWaitingLimit);
        }
    }
    return best;
}

void StreamForwarder::arm_timer(std::optional<Time> when) {
    if (when == armed_) return;
    armed_ = when;
    itimerspec its{};
    if (when) {
        // 0 would disarm: a deadline already past fires at once instead.
        const int64_t ns = std::max<int64_t>(when->count(), 1);
        its.it_value.tv_sec = ns / 1'000'000'000;
        its.it_value.tv_nsec = ns % 1'000'000'000;
    }
    timerfd_settime(timer_fd_, TFD_TIMER_ABSTIME, &its, nullptr);
}

void StreamForwarder::close_all(Time now) {
    for (auto& [id, peer] : peers_) {
        if (!peer->session || peer->session->state() == streams::SessionState::closed) continue;
        peer->session->close(streams::CloseError::shutdown, "the gateway is stopping");
        size_t room = link_.can_send(peer->id) ? link_.send_room() : 0;
        room = room > kRingReserve ? room - kRingReserve : 0;
        std::vector<uint8_t>& out = scratch_packet();
        while (room > 0 && peer->session->transmit(now, &out)) {
            link_.send(peer->id, out);
            --room;
        }
    }
    std::vector<uint64_t> keys;
    for (const auto& [key, c] : conns_) keys.push_back(key);
    for (uint64_t key : keys) close_conn(key, true);
}

// ---- sluicectl show streams ----------------------------------------------------------------------

ctl::StreamsResponse StreamForwarder::show() const {
    ctl::StreamsResponse r;
    r.enabled = true;
    r.memory_budget = budget_.total();
    r.memory_used = budget_.used();
    const StreamForwarderCounters& g = counters_;
    r.counters = {
        {"connections_accepted", g.connections_accepted},
        {"connections_refused", g.connections_refused},
        {"targets_connected", g.targets_connected},
        {"targets_failed", g.targets_failed},
        {"targets_not_allowed", g.targets_not_allowed},
        {"bad_preambles", g.bad_preambles},
        {"messages_without_session", g.messages_without_session},
        {"packets_not_sent", g.packets_not_sent},
        {"sessions_started", g.sessions_started},
        {"sessions_closed", g.sessions_closed},
        {"tcp_errors", g.tcp_errors},
    };
    auto us = [](Time t) { return static_cast<uint64_t>(std::max<int64_t>(t.count(), 0) / 1000); };
    for (const auto& [id, peer] : peers_) {
        if (!peer->session) continue;
        const streams::SessionInfo info = peer->session->info();
        ctl::StreamSession s;
        s.peer = peer_label(peer->name, peer->key);
        s.state = std::string(streams::to_string(info.state));
        s.session_id = info.session_id;
        s.peer_session_id = info.peer_session_id;
        if (info.state == streams::SessionState::closed) {
            s.close_error = std::string(streams::to_string(info.close_error));
            s.closed_by_peer = info.closed_by_peer;
            s.close_reason = info.close_reason;
        } else if (!peer->last_close.empty()) {
            s.close_reason = "previous session: " + peer->last_close;
        }
        s.srtt_us = us(info.srtt);
        s.min_rtt_us = us(info.min_rtt);
        s.rttvar_us = us(info.rttvar);
        s.cwnd = info.cwnd;
        s.ssthresh = info.ssthresh;
        s.bytes_in_flight = info.bytes_in_flight;
        s.tx_max_data = info.tx_max_data;
        s.tx_data = info.tx_data;
        s.rx_max_data = info.rx_max_data;
        s.rx_data = info.rx_data;
        s.rx_window = info.rx_window;
        s.tx_max_streams = info.tx_max_streams;
        s.rx_max_streams = info.rx_max_streams;
        s.buffered = info.buffered;
        const streams::SessionCounters& c = info.counters;
        s.counters = {
            {"packets_sent", c.packets_sent},
            {"packets_received", c.packets_received},
            {"bytes_sent", c.bytes_sent},
            {"bytes_received", c.bytes_received},
            {"packets_lost", c.packets_lost},
            {"packets_stale", c.packets_stale},
            {"packets_duplicate", c.packets_duplicate},
            {"stream_bytes_sent", c.stream_bytes_sent},
            {"stream_bytes_retransmitted", c.stream_bytes_retransmitted},
            {"stream_bytes_received", c.stream_bytes_received},
            {"pto_fired", c.pto_fired},
            {"congestion_events", c.congestion_events},
            {"streams_opened_local", c.streams_opened_local},
            {"streams_opened_remote", c.streams_opened_remote},
            {"streams_reset", c.streams_reset},
            {"blocked_sent", c.blocked_sent},
            {"blocked_received", c.blocked_received},
            {"window_grows", c.window_grows},
            {"budget_denied", c.budget_denied},
            {"waiting_connections", peer->waiting.size()},
        };
        for (const streams::StreamInfo& si : peer->session->stream_info()) {
            ctl::StreamEntry e;
            e.id = si.id;
            e.local = si.local;
            e.state = si.state;
            if (const auto it = peer->conns.find(si.id); it != peer->conns.end()) {
                if (const auto c2 = conns_.find(it->second); c2 != conns_.end())
                    e.forward = c2->second->label;
            }
            e.tx_written = si.tx_written;
            e.tx_acked = si.tx_acked;
            e.tx_credit = si.tx_credit;
            e.rx_received = si.rx_received;
            e.rx_read = si.rx_read;
            e.rx_credit = si.rx_credit;
            e.rx_window = si.rx_window;
            e.rx_buffered = si.rx_buffered;
            e.fin_sent = si.fin_sent;
            e.fin_received = si.fin_received;
            s.streams.push_back(std::move(e));
        }
        r.sessions.push_back(std::move(s));
    }
    return r;
}

}  // namespace sluice
