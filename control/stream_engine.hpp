// One stream session: the reliable, ordered, multiplexed byte streams that two
// sluice gateways carry between them (DESIGN §7, docs/streams.md). Pure logic
// over an injected clock, no I/O: the gateway feeds it decrypted packets and
// asks it for packets to encrypt and send; tests drive two of them over a
// simulated link.
//
// What it does, per direction of every stream and for the session:
//   - opening: an OPEN frame each way with the protocol version and the initial
//     limits; nothing else is sent before the peer's OPEN arrived;
//   - flow control on absolute offsets: per-stream credit (MAX_STREAM_DATA),
//     session credit (MAX_DATA, the sum of every stream's highest offset) and
//     stream-count credit (MAX_STREAMS). Credit is granted when the application
//     reads, never on receipt, and without waiting for a BLOCKED frame; the
//     windows grow toward the bandwidth-delay product (doubling while they are
//     used up within two round trips) under a MemoryBudget shared by sessions;
//   - loss recovery after RFC 9002: packet numbers that never repeat, ACK
//     frames with ranges and the ack delay, packet (3) and time (9/8 RTT)
//     thresholds, a probe timeout with exponential backoff;
//   - congestion control: NewReno (slow start, congestion avoidance, one
//     reduction per recovery period), with pacing at 1.25 × cwnd / sRTT;
//   - a peer that breaks the rules (credit overrun, a final size that moves,
//     a stream beyond its limit, a malformed frame) closes the session with a
//     named CloseError, sent to the peer in a CLOSE frame.
//
// Stream ids: the side with the even flag opens 0, 2, 4...; the other 1, 3, 5...
// Ids are used in order, so the n-th stream a side opens is 2n + parity. A
// peer frame naming id N opens every lower peer id not seen yet (as QUIC
// does), so a reordered first frame needs no buffering. Streams are
// bidirectional; one is freed (stream_closed) when our sending side is done
// (fin and all data acknowledged, or our RESET_STREAM acknowledged) and its
// receiving side is done (everything up to fin read, or the peer reset it).
// So the application must finish() or reset() its side of every stream,
// including those the peer opened.
//
// Driving it (the gateway's control thread):
//   - after receive(), after any application call and after on_timer(), call
//     transmit() until it returns false, then arm a timer for next_timer()
//     (it may be <= now: call on_timer() and transmit() again). on_timer() may
//     be called early; it only acts on what is due.
//   - nothing is sent before the peer's OPEN but OPEN, ACK and PING; every
//     packet carries our OPEN until the peer acknowledged it, and a packet from
//     an unknown peer without OPEN is dropped as stale.
//   - open_stream() returns nullopt until session_open; write() takes only
//     what writable() allows (credit and send buffer), so there is no writing
//     before the session is open and nothing written waits for credit. A
//     write() that falls short queues a BLOCKED frame once per limit and
//     arms a writable event for that stream (id UINT64_MAX: session credit or
//     stream count grew after the session was short).
//   - a span from peek() stays valid until the next receive() or consume().
//     fin_received() is true for a stream already freed.
//   - STOP_SENDING from the peer resets our sending side at once with the
//     peer's error (stop_sending event); reset() sends RESET_STREAM and
//     STOP_SENDING; unread data of a stopped stream counts as read for the
//     session credit.
//   - events come in the order things happened: within one packet, frame by
//     frame (stream_opened before that stream's readable); a readable event
//     is not repeated for a stream until take_events() handed the last one.
//     On close every stream gets stream_closed, then session_closed.
//   - close() sends one CLOSE (not retransmitted: a peer that misses it
//     times out); a closed session only answers nothing.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "control/stream_bbr.hpp"
#include "control/stream_frames.hpp"

namespace sluice::streams {

using Time = std::chrono::nanoseconds;  // monotonic, from whoever drives the session
inline constexpr uint64_t kProtocolVersion = 1;

// Receive windows of every session on a gateway come out of one budget, so
// many sessions (or one peer opening many streams) cannot make the gateway
// buffer without bound. Control thread only.
class MemoryBudget {
public:
    explicit MemoryBudget(uint64_t bytes) : total_(bytes) {}
    bool reserve(uint64_t n) noexcept {
        if (used_ + n > total_) return false;
        used_ += n;
        return true;
    }
    void release(uint64_t n) noexcept { used_ = n > used_ ? 0 : used_ - n; }
    uint64_t total() const noexcept { return total_; }
    uint64_t used() const noexcept { return used_; }

private:
    uint64_t total_;
    uint64_t used_ = 0;
};

// NewReno (RFC 9002 §7) halves its window on loss; BBR (stream_bbr.hpp)
// paces at the path's measured rate and holds up under random loss.
enum class Congestion : uint8_t { newreno, bbr };
std::string_view to_string(Congestion c) noexcept;

struct SessionConfig {
    bool even_ids = true;          // which half of the id space this side opens
    Congestion congestion = Congestion::newreno;
    uint32_t session_id = 1;       // random, never 0
    size_t max_packet = 1420;      // plaintext bytes of one packet
    uint64_t initial_stream_window = 256 * 1024;
    uint64_t max_stream_window = 16 * 1024 * 1024;
    uint64_t initial_session_window = 1024 * 1024;
    uint64_t max_session_window = 64 * 1024 * 1024;
    uint64_t max_streams = 256;    // streams the peer may have open at once
    uint64_t send_buffer = 4 * 1024 * 1024;  // per stream: written but not yet acknowledged
    Time max_ack_delay = std::chrono::milliseconds(5);
    Time keepalive = std::chrono::seconds(15);   // PING when streams exist and all is quiet
    Time idle_timeout = std::chrono::seconds(60);  // nothing heard while open: close
    MemoryBudget* budget = nullptr;  // null: unlimited (tests)
    uint64_t version = kProtocolVersion;  // tests set another to see the mismatch
};

enum class SessionState : uint8_t { opening, open, closed };
std::string_view to_string(SessionState s) noexcept;

// What the application learns; take_events() hands them over in order.
struct StreamEvent {
    enum class Kind : uint8_t {
        session_open,        // the peer's OPEN arrived: streams may be opened
        stream_opened,       // the peer opened stream `id`
        readable,            // stream `id` has bytes to read (or its fin)
        writable,            // stream `id` (or, id = UINT64_MAX, the session) can take more
        reset,               // the peer reset its sending side of `id` (error)
        stop_sending,        // the peer asks us to stop sending on `id` (error)
        stream_closed,       // `id` is gone: both directions finished, reset or stopped
        session_closed,      // error/reason in the session
    };
    Kind kind;
    uint64_t id = 0;
    uint64_t error = 0;
};

// One stream as `sluicectl show streams` shows it.
struct StreamInfo {
    uint64_t id = 0;
    bool local = false;             // we opened it
    std::string state;              // "open", "half-closed-local", ... "reset"
    uint64_t tx_written = 0;        // bytes the application wrote
    uint64_t tx_acked = 0;          // lowest byte not yet acknowledged
    uint64_t tx_credit = 0;         // the peer's MAX_STREAM_DATA
    uint64_t rx_received = 0;       // highest offset received
    uint64_t rx_read = 0;           // bytes the application read
    uint64_t rx_credit = 0;         // the MAX_STREAM_DATA we granted
    uint64_t rx_window = 0;         // the current receive window
    uint64_t rx_buffered = 0;       // bytes held for the application
    bool fin_sent = false, fin_received = false;
};

struct SessionCounters {
    uint64_t packets_sent = 0, packets_received = 0;
    uint64_t bytes_sent = 0, bytes_received = 0;  // plaintext packets
    uint64_t packets_lost = 0, packets_stale = 0, packets_duplicate = 0;
    uint64_t stream_bytes_sent = 0, stream_bytes_retransmitted = 0, stream_bytes_received = 0;
    uint64_t pto_fired = 0, congestion_events = 0;
    uint64_t streams_opened_local = 0, streams_opened_remote = 0, streams_reset = 0;
    uint64_t blocked_sent = 0, blocked_received = 0;
    uint64_t window_grows = 0, budget_denied = 0;
};

struct SessionInfo {
    SessionState state = SessionState::opening;
    uint32_t session_id = 0, peer_session_id = 0;
    CloseError close_error = CloseError::none;
    bool closed_by_peer = false;
    std::string close_reason;
    Time srtt{0}, min_rtt{0}, rttvar{0};
    uint64_t cwnd = 0, ssthresh = 0, bytes_in_flight = 0;
    uint64_t tx_max_data = 0, tx_data = 0;  // the peer's session credit and what we used
    uint64_t rx_max_data = 0, rx_data = 0, rx_window = 0;
    uint64_t tx_max_streams = 0, rx_max_streams = 0;
    size_t streams = 0;
    uint64_t buffered = 0;  // bytes held in send and receive buffers
    SessionCounters counters;
};

class Session {
public:
    explicit Session(const SessionConfig& config);
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    // ---- The network side ----
    // One decrypted stream message. Stale packets (another session's) and
    // duplicates are counted and dropped; a malformed or rule-breaking one
    // closes the session. Returns false when the packet carried an OPEN from
    // a different peer session than the one we know: the peer restarted, this
    // session closed itself (peer_restarted) and the caller starts a new one
    // and hands it the same packet.
    bool receive(std::span<const uint8_t> plaintext, Time now);
    // The next packet to send now, into `out` (cleared first); false when
    // there is nothing, or congestion control or pacing says wait.
    bool transmit(Time now, std::vector<uint8_t>* out);
    // When transmit or on_timer next has something to do (nullopt: nothing
    // until a packet or the application acts).
    std::optional<Time> next_timer() const;
    void on_timer(Time now);

    // ---- The application side ----
    // A new local stream, or nullopt: not open yet, or no stream credit.
    std::optional<uint64_t> open_stream(Time now);
    // Bytes write() would take now: the smallest of the stream's and the
    // session's remaining credit and the stream's send buffer room.
    size_t writable(uint64_t id) const;
    size_t write(uint64_t id, std::span<const uint8_t> data, Time now);
    void finish(uint64_t id);                 // fin after what was written
    void reset(uint64_t id, uint64_t error);  // abandon sending, and reading
    void stop_sending(uint64_t id, uint64_t error);
    // Contiguous bytes ready to read (a view into the stream's buffer), and
    // consume() once the application took n of them: that grants credit.
    std::span<const uint8_t> peek(uint64_t id) const;
    void consume(uint64_t id, size_t n, Time now);
    size_t read(uint64_t id, std::span<uint8_t> out, Time now);  // peek + consume
    bool fin_received(uint64_t id) const;  // and everything before it was read
    void close(CloseError error, std::string reason);

    std::vector<StreamEvent> take_events();
    SessionState state() const noexcept { return state_; }
    bool has_stream(uint64_t id) const { return streams_.count(id) != 0; }
    SessionInfo info() const;
    std::vector<StreamInfo> stream_info() const;
    const SessionCounters& counters() const noexcept { return counters_; }

private:
    struct Stream;
    struct Chunk {  // stream data carried by a sent packet
        uint64_t id, offset;
        uint32_t len;
        bool fin;
    };
    // What one ack-eliciting packet carried, so its loss re-queues exactly that
    // (stream data by offset range, control frames with their latest values).
    struct SentPacket {
        Time time{0};
        uint32_t size = 0;
        // Delivery-rate sampling (BBR): the session's delivered count, and
        // when it last grew, as this packet left.
        uint64_t delivered = 0;
        Time delivered_time{0}, first_sent_time{0};
        bool app_limited = false;
        bool cwnd_limited = false;  // only such packets grow cwnd (RFC 9002 §7.8)
        bool open = false, max_data = false, max_streams = false;
        std::vector<Chunk> chunks;
        std::vector<uint64_t> max_stream_data, resets, stops;
    };
    // Disjoint, non-adjacent [low, high) ranges.
    struct RangeSet {
        std::map<uint64_t, uint64_t> ranges;
        void add(uint64_t low, uint64_t high);
        void subtract(uint64_t low, uint64_t high);
        bool contains(uint64_t v) const;
    };

    // receiving
    void on_frame(const Frame& f, Time now);
    void on_open(const OpenFrame& f, uint32_t peer_session);
    void on_ack(const AckFrame& f, Time now);
    void on_stream(const StreamFrame& f, Time now);
    void on_reset(const ResetStreamFrame& f, Time now);
    void on_stop_sending(const StopSendingFrame& f);
    Stream* stream_for_peer_frame(uint64_t id);
    Stream* create_stream(uint64_t id, bool local);
    void note_received(uint64_t number, bool eliciting, Time now);
    void violation(CloseError e, std::string reason);
    void shut_down(CloseError e, std::string reason, bool by_peer);
    // loss recovery
    void update_rtt(Time latest, Time ack_delay);
    void acked(const SentPacket& p);
    void detect_lost(Time now);
    void requeue(const SentPacket& p);
    void congestion_event(Time sent, Time now);
    Time pto_duration() const;
    Time pto_deadline() const;
    // sending
    bool eliciting_pending() const;
    bool cwnd_allows() const;
    void pacer_refill(Time now);
    Time pacer_ready() const;
    double pacing_rate() const;  // bytes per nanosecond
    uint64_t pacing_burst() const;
    bool build(Time now, bool eliciting_allowed, bool probe, std::vector<uint8_t>* out);
    bool add_stream_frame(Stream& s, SentPacket& sp, std::vector<uint8_t>* out, size_t limit);
    static bool has_stream_data(const Stream& s);
    void enqueue(Stream& s);
    // flow control and stream life
    void stop_receiving(Stream& s, uint64_t error);
    void abandon_sending(Stream& s, uint64_t error);
    void maybe_grant(Stream& s, Time now);
    void maybe_grant_session(Time now);
    void grow_window(uint64_t* window, uint64_t max, uint64_t* reserved);
    static bool tx_done(const Stream& s);
    static bool rx_done(const Stream& s);
    void maybe_release(uint64_t id);
    void release_budget(uint64_t* reserved);
    void signal_writable();
    bool was_opened(uint64_t id) const;
    void emit(StreamEvent::Kind k, uint64_t id = 0, uint64_t error = 0);
    void touch(Time now);
    bool ours(uint64_t id) const noexcept { return (id & 1) == (config_.even_ids ? 0u : 1u); }

    static constexpr Time kNever = Time::max();

    SessionConfig config_;
    SessionState state_ = SessionState::opening;
    CloseError close_error_ = CloseError::none;
    bool closed_by_peer_ = false;
    bool close_pending_ = false;  // a CLOSE frame to send
    std::string close_reason_;
    uint32_t peer_session_ = 0;
    bool open_acked_ = false;    // until then every packet carries our OPEN
    bool open_pending_ = true;   // an OPEN must go out even with nothing else to send
    Time now_{0};
    bool clock_started_ = false;

    std::map<uint64_t, std::unique_ptr<Stream>> streams_;
    std::deque<uint64_t> send_queue_;  // streams with something to send, round robin
    uint64_t next_local_index_ = 0;    // streams we opened so far
    uint64_t peer_opened_ = 0;         // streams the peer opened so far
    uint64_t peer_closed_ = 0;         // of those, how many are gone
    uint64_t tx_max_streams_ = 0;      // the peer's MAX_STREAMS
    uint64_t rx_max_streams_ = 0;      // ours
    uint64_t peer_stream_window_ = 0;  // the peer's initial MAX_STREAM_DATA
    bool max_streams_pending_ = false;
    bool streams_blocked_pending_ = false;
    uint64_t streams_blocked_at_ = UINT64_MAX;

    // Session credit. tx_data_ counts what the application wrote: write() takes
    // only what credit allows, so everything buffered may be sent at once.
    uint64_t tx_max_data_ = 0, tx_data_ = 0;
    uint64_t rx_max_data_ = 0, rx_data_ = 0, rx_read_ = 0;
    uint64_t rx_window_ = 0, reserved_ = 0;
    uint64_t rx_epoch_offset_ = 0;
    Time rx_epoch_time_{0};
    bool max_data_pending_ = false;
    bool data_blocked_pending_ = false;
    uint64_t data_blocked_at_ = UINT64_MAX;
    bool want_session_writable_ = false;
    std::vector<uint64_t> want_writable_;  // streams whose write() fell short
    std::vector<uint64_t> max_stream_data_pending_;
    std::vector<uint64_t> resets_pending_;
    std::vector<uint64_t> stops_pending_;
    std::vector<StreamDataBlockedFrame> stream_blocked_pending_;
    bool ping_pending_ = false;

    // Loss recovery and congestion control. sent_ holds the ack-eliciting
    // packets in flight only: ACK-only packets are neither tracked nor counted.
    uint64_t next_pn_ = 0;
    std::map<uint64_t, SentPacket> sent_;
    bool have_largest_acked_ = false;
    uint64_t largest_acked_ = 0;
    Time latest_rtt_{0}, srtt_{0}, rttvar_{0}, min_rtt_{0};
    // Delivery rate (BBR): bytes acknowledged so far, when that last grew,
    // the send time of the newest packet acknowledged, and while the sender
    // had nothing to send, the delivered count that ends that stretch.
    uint64_t delivered_ = 0;
    Time delivered_time_{0}, first_sent_time_{0};
    uint64_t app_limited_until_ = 0;
    uint64_t rs_packet_delivered_ = 0;  // on_ack's scratch: the sample packet's delivered count
    Bbr bbr_;
    bool have_rtt_ = false;
    unsigned pto_count_ = 0;
    unsigned probes_ = 0;
    Time loss_time_ = kNever;
    Time last_eliciting_sent_{0};
    uint64_t bytes_in_flight_ = 0;
    uint64_t cwnd_, ssthresh_ = UINT64_MAX;
    Time recovery_start_ = Time::min();
    double pacer_tokens_ = 0;
    Time pacer_last_{0};

    // Acknowledging what we receive.
    RangeSet received_;               // packet numbers
    uint64_t received_floor_ = 0;     // everything below was seen (or is too old to tell)
    bool have_received_ = false;
    uint64_t largest_received_ = 0;
    Time largest_received_time_{0};
    unsigned ack_eliciting_unacked_ = 0;
    bool ack_now_ = false;
    Time ack_deadline_ = kNever;
    Time last_received_{0};
    Time last_sent_{0};

    std::vector<StreamEvent> events_;
    SessionCounters counters_;
};

}  // namespace sluice::streams
