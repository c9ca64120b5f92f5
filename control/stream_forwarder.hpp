// TCP service forwarding over streams (DESIGN §7, docs/streams.md): the
// control thread's owner of every stream session (one per peer whose config
// has `streams:`) and of the TCP sockets spliced onto their streams.
//
// Stages, all on the control thread, per loop round of the gateway:
//   1. on_message: each decrypted stream message from an lcore goes to its
//      peer's Session (a peer that restarted gets a new Session);
//   2. poll: socket readiness from our own epoll set (nested in the
//      gateway's): accepts on the forwards' listeners, connects finishing on
//      the far side, bytes from TCP into streams (as much as the stream's and
//      session's credit and the send buffer take; reading pauses at zero and
//      resumes on `writable`), bytes from streams into TCP (consumed, so
//      credit is granted, only once the socket accepted them);
//   3. run: engine timers, engine events (peer-opened streams: read the
//      preamble, check it against the peer's `allow`, connect; fins become
//      shutdown(SHUT_WR); resets and stop-sending abort the TCP connection;
//      a closed session resets all its connections and a new one starts after
//      a back-off), then every session's packets to send, as many as the
//      command ring to lcore 0 has room for and only while the peer has a
//      usable keypair (else a handshake is asked for and the engine keeps the
//      data). Several small writes read in one round share packets.
//
// Everything here belongs to the control thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "control/config.hpp"
#include "control/ctl_protocol.hpp"
#include "control/stream_engine.hpp"
#include "control/stream_preamble.hpp"

namespace sluice {

// What the forwarder needs from the gateway.
struct StreamLink {
    // The peer has a keypair to send with and an endpoint to send to.
    std::function<bool(uint32_t peer_id)> can_send;
    // Stream messages the command ring to lcore 0 can take now.
    std::function<size_t()> send_room;
    // Encrypt `packet` as a stream message to the peer; false: dropped.
    std::function<bool(uint32_t peer_id, std::span<const uint8_t> packet)> send;
    // Data waits and there is no keypair: ask for a handshake (rate-limited
    // by the timers as for staged packets).
    std::function<void(uint32_t peer_id)> want_keypair;
};

struct StreamForwarderCounters {
    uint64_t connections_accepted = 0;   // on a forward's listener
    uint64_t connections_refused = 0;    // closed at once: no session in time, too many waiting
    uint64_t targets_connected = 0;      // the far side: connect() to a target succeeded
    uint64_t targets_failed = 0;         // refused or unreachable
    uint64_t targets_not_allowed = 0;    // the preamble named a target outside `allow`
    uint64_t bad_preambles = 0;
    uint64_t messages_without_session = 0;  // stream messages from a peer without `streams:`
    uint64_t packets_not_sent = 0;          // the link refused a packet (ring full, no mbuf)
    uint64_t sessions_started = 0;
    uint64_t sessions_closed = 0;
    uint64_t tcp_errors = 0;                // a forwarded socket failed (reset, ...)
};

class StreamForwarder {
public:
    using Time = std::chrono::nanoseconds;

    StreamForwarder(const Config& config, const Key& our_public_key, StreamLink link);
    ~StreamForwarder();
    StreamForwarder(const StreamForwarder&) = delete;
    StreamForwarder& operator=(const StreamForwarder&) = delete;

    // Binds every forward's listener; false with `error` naming the forward.
    bool open_listeners(std::string* error);
    // Our epoll set and the timer for engine deadlines: the gateway watches both.
    [[nodiscard]] int fd() const noexcept { return epoll_fd_; }
    [[nodiscard]] int timer_fd() const noexcept { return timer_fd_; }

    // A peer of the gateway (added, changed or at start-up): a session when
    // `streams` is set, none (and its connections reset) when it is not.
    void set_peer(uint32_t peer_id, const Key& key, const std::string& name,
                  const std::optional<PeerStreamsConfig>& streams);
    void remove_peer(uint32_t peer_id);

    // Stage 1.
    void on_message(uint32_t peer_id, std::span<const uint8_t> plaintext, Time now);
    // Stage 2 (after the gateway saw fd() or timer_fd() readable).
    void poll(Time now);
    // Stage 3; then re-arms timer_fd for next_deadline().
    void run(Time now);
    [[nodiscard]] std::optional<Time> next_deadline() const;

    // The gateway is stopping: CLOSE to every peer (while lcores still run),
    // every connection closed.
    void close_all(Time now);

    [[nodiscard]] ctl::StreamsResponse show() const;
    [[nodiscard]] const StreamForwarderCounters& counters() const noexcept { return counters_; }

private:
    struct Peer;
    struct Conn;
    struct Listener;

    // stream_forwarder.cpp: sessions and engine events
    void start_session(Peer& peer);
    void end_session(Peer& peer, Time now);
    void handle_events(Peer& peer, Time now);
    void transmit(Peer& peer, Time now, size_t* room);
    void expire_waiting(Peer& peer, Time now);
    std::vector<uint8_t>& scratch_packet() { return packet_; }
    void arm_timer(std::optional<Time> when);
    Peer* peer_by_id(uint32_t id);

    // stream_connections.cpp: the TCP side
    void accept_on(Listener& listener, Time now);
    void promote_waiting(Peer& peer, Time now);
    void on_remote_stream(Peer& peer, uint64_t id, Time now);
    void conn_event(uint64_t key, uint32_t events, Time now);
    void tcp_to_stream(Conn& c, Time now);
    void stream_to_tcp(Conn& c, Time now);
    void read_preamble(Conn& c, Time now);
    void finish_connect(Conn& c, Time now);
    void reset_conn(Conn& c, uint64_t error, Time now);
    void close_conn(uint64_t key, bool abort);
    void maybe_done(Conn& c);
    void watch(Conn& c, bool read, bool write);
    Conn* conn_of(Peer& peer, uint64_t stream_id);

    const Config& config_;
    Key our_key_;
    StreamLink link_;
    streams::MemoryBudget budget_;
    int epoll_fd_ = -1;
    int timer_fd_ = -1;
    std::optional<Time> armed_;
    std::map<uint32_t, std::unique_ptr<Peer>> peers_;  // by the gateway's peer id
    std::map<uint64_t, std::unique_ptr<Listener>> listeners_;  // by epoll key
    std::map<uint64_t, std::unique_ptr<Conn>> conns_;          // by epoll key
    uint64_t next_key_ = 1;
    bool ring_full_ = false;       // last round stopped for want of command-ring room
    std::vector<uint8_t> packet_;  // transmit's buffer, reused
    StreamForwarderCounters counters_;
};

}  // namespace sluice
