// The control thread of sluiced (DESIGN §3, §6): owns the peers, their
// handshakes, timers and keypairs, the device configuration that wg(8) and
// sluicectl edit, and the tables the lcores read.
//
// Its loop, per wake-up (epoll over the lcores' event eventfd, the two socket
// servers, the signalfd; at most kTick between rounds while peers exist):
//   1. events from every lcore ring: handshake messages through the gate
//      (mac1, under load: cookies and the per-source rate limit) onto the
//      bounded handshake queue; staged packets (bounded per peer) that ask for
//      a handshake; keypair confirmations; roaming;
//   2. the handshake worker: up to kHandshakesPerRound messages off the queue
//      (Noise, keypair derivation and rotation);
//   3. timers: each peer's activity stamps (written by lcores) become the
//      timer hooks, in time order; then the key-freshness checks and poll();
//      the actions are carried out (initiations, keepalives, key zeroing);
//   4. publish: when anything an lcore reads changed, a new Snapshot, with
//      the old one and every retired keypair freed after a grace period;
//   5. sockets: UAPI (wg) and sluicectl requests; signals (SIGTERM/SIGINT
//      stop, SIGHUP reloads the configuration file);
//   6. streams (stream_forwarder.hpp), when some peer has `streams:`: stream
//      messages (from step 1) into their sessions, forwarded TCP sockets,
//      engine timers, and the sessions' packets out through lcore 0.
//
// Single-threaded: every member belongs to the control thread. Lcores see
// only what is published (Snapshot) and PeerShared.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "control/config.hpp"
#include "control/cookie.hpp"
#include "control/ctl_protocol.hpp"
#include "control/device_config.hpp"
#include "control/handshake_load.hpp"
#include "control/keypair_slots.hpp"
#include "control/noise.hpp"
#include "control/timers.hpp"
#include "dataplane/index_table.hpp"
#include "dataplane/lcore.hpp"
#include "dataplane/rcu.hpp"
#include "dataplane/snapshot.hpp"

struct rte_mempool;
struct rte_ring;

namespace sluice {

class DataplanePorts;
class L2Control;
class UapiServer;
class CtlServer;
class StreamForwarder;

// What sluiced_main built for the gateway: the driver's ports (with their
// pool, listen port, driver name and the reason for it), the lcores and
// their rings. The Gateway uses them; sluiced_main owns them.
struct GatewayIo {
    const DataplanePorts* ports = nullptr;
    L2Control* l2 = nullptr;  // L2 mode's neighbour resolution; null: no L2 port
    std::vector<Lcore*> lcores;
    int events_wake_fd = -1;  // the eventfd lcores write after posting Events
    std::atomic<const Snapshot*>* snapshot = nullptr;
    Rcu* rcu = nullptr;
    unsigned control_lcore_id = 0;
};

// A handshake message admitted by the gate, waiting for the worker.
struct QueuedHandshake {
    std::array<uint8_t, sizeof(wire::HandshakeInitiation)> bytes{};
    uint16_t len = 0;
    MbufEndpoint from;
};

// Counters of the control thread, for sluicectl and telemetry.
struct ControlCounters {
    uint64_t handshake_initiations_sent = 0;
    uint64_t handshake_responses_sent = 0;
    uint64_t handshakes_completed = 0;
    uint64_t cookie_replies_received = 0;
    uint64_t handshake_queue_full = 0;
    uint64_t handshake_unknown_type = 0;  // a handshake-range type with a bad length or reserved bytes
    std::array<uint64_t, static_cast<size_t>(HandshakeError::count)> handshake_errors{};
    uint64_t staged_dropped = 0;   // a peer's staging queue overflowed or its handshake gave up
    uint64_t commands_dropped = 0; // an lcore's command ring was full
    uint64_t no_endpoint = 0;      // a handshake or keepalive with nowhere to go
    uint64_t keypairs_retired = 0;
    uint64_t snapshots_published = 0;
    uint64_t stream_messages_unexpected = 0;  // stream messages with streams off
};

class Gateway {
public:
    static constexpr auto kTick = std::chrono::milliseconds(100);
    static constexpr size_t kMaxStagedPerPeer = 128;  // WireGuard's MAX_STAGED_PACKETS
    static constexpr size_t kHandshakesPerRound = 64;

    // Throws std::runtime_error (one line) when the configuration cannot be
    // turned into a running gateway (a host name that does not resolve...).
    Gateway(Config config, GatewayIo io);
    ~Gateway();
    Gateway(const Gateway&) = delete;
    Gateway& operator=(const Gateway&) = delete;

    // Opens the UAPI and sluicectl sockets; false with `error` on failure.
    bool open_sockets(std::string* error);
    // The loop; returns after SIGTERM/SIGINT (signals must be blocked in
    // every thread; the loop reads them from a signalfd) or request_stop().
    void run();
    void request_stop() noexcept { stop_ = true; }
    // After the lcores stopped: wipes every key, frees staged packets and
    // everything retired.
    void shutdown();

    [[nodiscard]] const ControlCounters& counters() const noexcept { return counters_; }

private:
    struct Peer;
    using Time = std::chrono::nanoseconds;

    // gateway.cpp: the loop, events, publishing
    void drain_events(Time now);
    void handle_event(const Event& ev, Time now);
    void publish();
    void retire_keypairs(KeypairSlots::Retired retired);
    Peer* peer_by_id(uint32_t id);
    Peer* peer_by_key(const Key& key);
    bool send_command(const Command& cmd);
    bool send_raw(const uint8_t* data, size_t len, const MbufEndpoint& to);
    // Queues `m` for the peer (bounded, oldest dropped) and sends the queue
    // if a keypair is usable, else asks for a handshake.
    void stage(Peer& peer, rte_mbuf* m, Time now);
    void flush_staged(Peer& peer, Time now);
    void drop_staged(Peer& peer);

    // gateway_handshake.cpp
    void handshake_message(rte_mbuf* m, Time now);
    void run_handshake_worker(Time now);
    void process_initiation(const wire::HandshakeInitiation& msg, const MbufEndpoint& from,
                            Time now);
    void process_response(const wire::HandshakeResponse& msg, const MbufEndpoint& from, Time now);
    void process_cookie_reply(const wire::CookieReply& msg, Time now);
    // `probe`: the start-up hello, outside the timers. It neither retries nor
    // holds back (rate-limits) the initiation that real traffic asks for, so
    // a peer that is not up yet costs nothing.
    void send_initiation(Peer& peer, Time now, bool probe = false);
    void install_keypair(Peer& peer, std::unique_ptr<Keypair> kp, Time now);
    void forget_handshake_index(Peer& peer);

    // gateway_timers.cpp
    void run_timers(Time now);
    void carry_out(Peer& peer, TimerActions actions, Time now);
    void send_keepalive(Peer& peer, Time now);
    void zero_keys(Peer& peer);
    std::optional<Time> next_deadline() const;
    KeypairTiming timing_of(const Keypair& kp) const;

    // gateway_streams.cpp: the stream forwarder's link to peers and lcores
    void start_streams();
    void sync_stream_peer(const Peer& peer);
    bool stream_can_send(uint32_t peer_id);
    void stream_wants_keypair(Peer& peer, Time now);
    bool send_stream(uint32_t peer_id, std::span<const uint8_t> packet);

    // gateway_peers.cpp: configuration changes (UAPI set, sluicectl, reload)
    void apply_changes(const DeviceChanges& changes, Time now);
    void add_peer(const DevicePeer& dp, Time now);
    void remove_peer(uint32_t id);
    void update_peer(const PeerUpdate& update, Time now);
    void set_identity(Time now);
    std::optional<MbufEndpoint> configured_endpoint(const DevicePeer& dp) const;
    uapi::Error uapi_set(const uapi::SetRequest& request);
    uapi::DeviceStatus uapi_get() const;
    void reload(ctl::ReloadResponse* response, std::string* error);

    // gateway_status.cpp: sluicectl handlers and telemetry
    void register_ctl_handlers(ctl::HandlerTable& table);
    ctl::ShowResponse show() const;
    ctl::LcoresResponse show_lcores() const;
    ctl::PortsResponse show_ports() const;
    ctl::NeighboursResponse show_neighbours() const;
    ctl::StreamsResponse show_streams() const;
    ctl::DropsResponse show_drops() const;
    ctl::StatsResponse stats() const;
    void register_telemetry();
    void unregister_telemetry();

    Config config_;
    GatewayIo io_;
    DeviceConfig device_;
    std::unique_ptr<StaticIdentity> identity_;  // null without a private key
    std::unique_ptr<CookieChecker> cookie_checker_;
    HandshakeGate gate_;
    HandshakeQueue<QueuedHandshake> queue_;
    IndexTable<uint32_t> indices_;  // our local index → peer id (handshakes and keypairs)
    std::map<uint32_t, std::unique_ptr<Peer>> peers_;  // by peer id (DeviceConfig's)
    std::vector<uint32_t> peer_order_;                 // ids in the order peers were added
    std::map<Key, std::string> names_;                 // from the configuration file
    std::chrono::nanoseconds rekey_after_time_;
    bool dirty_ = true;  // something lcores read changed: publish
    bool commands_pending_ = false;  // lcore 0 has commands to pick up: wake it
    uint64_t generation_ = 0;
    std::atomic<bool> stop_{false};
    ControlCounters counters_;
    std::unique_ptr<UapiServer> uapi_server_;
    std::unique_ptr<CtlServer> ctl_server_;
    std::unique_ptr<StreamForwarder> streams_;  // null: no peer has `streams:`
    ctl::HandlerTable handlers_;
    int epoll_fd_ = -1;
    int signal_fd_ = -1;
    std::chrono::steady_clock::time_point started_;
    Time last_gc_{0};
};

}  // namespace sluice
