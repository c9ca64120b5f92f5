// The stream session engine (stream_engine.hpp says what it does).
//
// Paths through it, all on the caller's (control) thread, all sequential:
//   receive:  parse -> session-id checks (stale, restarted peer) -> duplicate
//             check -> OPEN first, then every frame in order -> ACK scheduling
//             -> writable events for streams that were short of room;
//   transmit: CLOSE if closing; else decide (probe, cwnd, pacer, ACK owed) ->
//             build one packet: ACK, OPEN (until acknowledged), credit and
//             reset frames, then STREAM frames from the send queue round robin.
//
// Timers (all folded into next_timer(), all acted on in on_timer()):
//   - ack_deadline_: an ACK owed for a lone ack-eliciting packet, max_ack_delay
//     after it arrived;
//   - loss_time_: the time-threshold loss timer of RFC 9002 §6.1.2;
//   - PTO: last ack-eliciting packet sent + pto_duration() << pto_count_ while
//     anything is in flight (§6.2);
//   - pacing: when the pacer lets the next full packet go (transmit only);
//   - idle: last_received_ + idle_timeout closes the session;
//   - keepalive: a PING when streams exist and nothing went either way for
//     config.keepalive.
//
// Stream ids: a frame naming a peer stream id above the ones it opened so far
// opens every lower id of its parity too (RFC 9000 §2.1 does the same), so a
// reordered first frame of stream 4 before stream 2's does not need buffering.
// A frame for one of our ids we never handed out is a protocol violation; a
// frame for a stream that is gone (either side) is a late retransmission and
// ignored.

#include "control/stream_engine.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

namespace sluice::streams {

namespace {

constexpr uint64_t kNone = UINT64_MAX;
constexpr Time kInitialRtt = std::chrono::milliseconds(333);  // RFC 9002 §6.2.2
constexpr Time kGranularity = std::chrono::milliseconds(1);
constexpr uint64_t kPacketThreshold = 3;
constexpr unsigned kMaxPtoShift = 10;
constexpr unsigned kProbesPerPto = 2;
constexpr uint64_t kPacingBurstPackets = 10;
// Send data lives in blocks of this size, freed as the peer acknowledges them.
constexpr size_t kSendBlock = 16 * 1024;
// In-order receive data is appended to the previous segment up to this size,
// so peek() hands out large spans instead of one packet's worth.
constexpr size_t kMaxSegment = 64 * 1024;
// Packet-number ranges remembered for duplicate detection and ACKs; older ones
// are forgotten and anything below them counts as a duplicate.
constexpr size_t kMaxReceivedRanges = 256;
// Below this much room a STREAM frame would carry too little to bother.
constexpr size_t kMinStreamFrameRoom = 32;

// Written data of one stream, from the lowest unacknowledged block up.
class SendBuffer {
public:
    void append(std::span<const uint8_t> d) {
        while (!d.empty()) {
            if (blocks_.empty() || blocks_.back().size() == kSendBlock) {
                blocks_.emplace_back();
                blocks_.back().reserve(kSendBlock);
            }
            auto& b = blocks_.back();
            const size_t n = std::min(d.size(), kSendBlock - b.size());
            b.insert(b.end(), d.begin(), d.begin() + static_cast<std::ptrdiff_t>(n));
            d = d.subspan(n);
        }
    }
    // Appends bytes [off, off + len) to out; the caller keeps them held.
    void copy_to(uint64_t off, size_t len, std::vector<uint8_t>* out) const {
        const uint64_t rel = off - base_;
        size_t idx = static_cast<size_t>(rel / kSendBlock);
        size_t at = static_cast<size_t>(rel % kSendBlock);
        while (len > 0) {
            const auto& b = blocks_[idx];
            const size_t n = std::min(len, b.size() - at);
            const size_t old = out->size();
            out->resize(old + n);
            std::memcpy(out->data() + old, b.data() + at, n);
            len -= n;
            ++idx;
            at = 0;
        }
    }
    void release_below(uint64_t off) {
        while (!blocks_.empty() && blocks_.front().size() == kSendBlock &&
               base_ + kSendBlock <= off) {
            blocks_.pop_front();
            base_ += kSendBlock;
        }
    }
    void clear() { blocks_.clear(); }

private:
    std::deque<std::vector<uint8_t>> blocks_;
    uint64_t base_ = 0;  // offset of blocks_.front()[0]
};

std::string describe(uint64_t id) { return "stream " + std::to_string(id); }

}  // namespace

std::string_view to_string(SessionState s) noexcept {
    switch (s) {
        case SessionState::opening: return "opening";
        case SessionState::open: return "open";
        case SessionState::closed: return "closed";
    }
    return "unknown";
}

struct Session::Stream {
    uint64_t id = 0;
    bool local = false;
    bool queued = false;          // in send_queue_
    bool want_writable = false;   // in want_writable_

    // Sending. written <= tx_credit always: write() takes only what credit allows.
    SendBuffer buf;
    uint64_t written = 0, next_send = 0, acked_floor = 0, tx_credit = 0;
    RangeSet acked;  // acknowledged ranges above acked_floor
    RangeSet retx;   // lost ranges to send again
    uint64_t fin_offset = kNone;
    bool fin_needs_send = false, fin_acked = false;
    bool tx_reset = false, reset_pending = false, reset_acked = false;
    uint64_t reset_error = 0;
    uint64_t blocked_at = kNone;  // the credit we last sent STREAM_DATA_BLOCKED for

    // Receiving. Segments are keyed by offset and never overlap; the first may
    // start below rx_read (its front was consumed).
    std::map<uint64_t, std::vector<uint8_t>> segs;
    uint64_t rx_read = 0, rx_highest = 0, rx_credit = 0, rx_window = 0, rx_reserved = 0;
    uint64_t rx_buffered = 0;
    uint64_t final_size = kNone;
    uint64_t epoch_offset = 0;
    Time epoch_time{0};
    bool credit_pending = false, rx_reset = false, stopping = false, stop_pending = false;
    bool readable_pending = false;  // a readable event not yet taken
    uint64_t stop_error = 0;

    std::span<const uint8_t> front() const {
        if (segs.empty()) return {};
        const auto& [at, bytes] = *segs.begin();
        if (at > rx_read) return {};
        return std::span<const uint8_t>(bytes).subspan(static_cast<size_t>(rx_read - at));
    }

    // Stores the bytes of [off, off + data.size()) not held or read yet;
    // returns how many were new.
    size_t insert(uint64_t off, std::span<const uint8_t> data) {
        const uint64_t end = off + data.size();
        if (end <= rx_read) return 0;
        if (off < rx_read) {
            data = data.subspan(static_cast<size_t>(rx_read - off));
            off = rx_read;
        }
        size_t added = 0;
        while (off < end) {
            auto next = segs.upper_bound(off);
            uint64_t prev_end = kNone;
            if (next != segs.begin()) {
                auto prev = std::prev(next);
                prev_end = prev->first + prev->second.size();
                if (prev_end > off) {  // the front of what is left is held already
                    if (prev_end >= end) break;
                    data = data.subspan(static_cast<size_t>(prev_end - off));
                    off = prev_end;
                    continue;
                }
            }
            const uint64_t stop = next == segs.end() ? end : std::min(end, next->first);
            const size_t n = static_cast<size_t>(stop - off);
            const auto piece = data.first(n);
            if (prev_end == off && std::prev(next)->second.size() + n <= kMaxSegment) {
                auto& v = std::prev(next)->second;
                v.insert(v.end(), piece.begin(), piece.end());
            } else {
                segs.emplace_hint(next, off, std::vector<uint8_t>(piece.begin(), piece.end()));
            }
            added += n;
            data = data.subspan(n);
            off = stop;
        }
        rx_buffered += added;
        return added;
    }

    void consume(size_t n) {
        rx_read += n;
        rx_buffered -= n;
        auto it = segs.begin();
        if (it != segs.end() && it->first + it->second.size() <= rx_read) segs.erase(it);
    }

    void discard_received() {
        segs.clear();
        rx_buffered = 0;
    }
};

// ---- RangeSet ----------------------------------------------------------------------

void Session::RangeSet::add(uint64_t low, uint64_t high) {
    if (low >= high) return;
    auto it = ranges.upper_bound(low);
    if (it != ranges.begin()) {
        auto prev = std::prev(it);
        if (prev->second >= low) {
            if (prev->second >= high) return;
            low = prev->first;
            it = prev;
        }
    }
    while (it != ranges.end() && it->first <= high) {
        high = std::max(high, it->second);
        it = ranges.erase(it);
    }
    ranges.emplace(low, high);
}

void Session::RangeSet::subtract(uint64_t low, uint64_t high) {
    if (low >= high) return;
    auto it = ranges.upper_bound(low);
    if (it != ranges.begin()) {
        auto prev = std::prev(it);
        if (prev->second > low) {
            const uint64_t prev_end = prev->second;
            if (prev->first == low) {
                ranges.erase(prev);
            } else {
                prev->second = low;
            }
            if (prev_end > high) {
                ranges.emplace(high, prev_end);
                return;
            }
        }
    }
    while (it != ranges.end() && it->first < high) {
        if (it->second > high) {
            const uint64_t e = it->second;
            ranges.erase(it);
            ranges.emplace(high, e);
            return;
        }
        it = ranges.erase(it);
    }
}

bool Session::RangeSet::contains(uint64_t v) const {
    auto it = ranges.upper_bound(v);
    if (it == ranges.begin()) return false;
    return v < std::prev(it)->second;
}

// ---- Life ---------------------------------------------------------------------------

std::string_view to_string(Congestion c) noexcept {
    return c == Congestion::bbr ? "bbr" : "newreno";
}

Session::Session(const SessionConfig& config)
    : config_(config),
      bbr_(config.max_packet, 10 * config.max_packet),
      cwnd_(10 * config.max_packet) {
    rx_max_streams_ = config_.max_streams;
    rx_max_data_ = config_.initial_session_window;
    rx_window_ = config_.initial_session_window;
    pacer_tokens_ = static_cast<double>(pacing_burst());
}

Session::~Session() {
    for (auto& [id, s] : streams_) release_budget(&s->rx_reserved);
    release_budget(&reserved_);
}

void Session::touch(Time now) {
    if (!clock_started_) {
        clock_started_ = true;
        last_received_ = now;
        last_sent_ = now;
        rx_epoch_time_ = now;
        pacer_last_ = now;
    }
    now_ = std::max(now_, now);
}

void Session::emit(StreamEvent::Kind k, uint64_t id, uint64_t error) {
    events_.push_back(StreamEvent{k, id, error});
}

std::vector<StreamEvent> Session::take_events() {
    for (const auto& e : events_) {
        if (e.kind != StreamEvent::Kind::readable) continue;
        if (auto it = streams_.find(e.id); it != streams_.end()) it->second->readable_pending = false;
    }
    return std::exchange(events_, {});
}

void Session::release_budget(uint64_t* reserved) {
    if (config_.budget != nullptr && *reserved != 0) config_.budget->release(*reserved);
    *reserved = 0;
}

void Session::close(CloseError error, std::string reason) { shut_down(error, std::move(reason), false); }

void Session::violation(CloseError e, std::string reason) { shut_down(e, std::move(reason), false); }

void Session::shut_down(CloseError e, std::string reason, bool by_peer) {
    if (state_ == SessionState::closed) return;
    state_ = SessionState::closed;
    close_error_ = e;
    closed_by_peer_ = by_peer;
    if (reason.size() > kMaxCloseReasonLen) reason.resize(kMaxCloseReasonLen);
    close_reason_ = std::move(reason);
    close_pending_ = !by_peer;
    for (auto& [id, s] : streams_) {
        release_budget(&s->rx_reserved);
        emit(StreamEvent::Kind::stream_closed, id);
    }
    streams_.clear();
    send_queue_.clear();
    sent_.clear();
    bytes_in_flight_ = 0;
    release_budget(&reserved_);
    emit(StreamEvent::Kind::session_closed, 0, static_cast<uint64_t>(e));
}

// ---- Receiving ----------------------------------------------------------------------

bool Session::receive(std::span<const uint8_t> plaintext, Time now) {
    touch(now);
    ++counters_.packets_received;
    counters_.bytes_received += plaintext.size();
    if (state_ == SessionState::closed) return true;

    Packet p;
    const ParseError err = parse_packet(plaintext, &p);
    if (err == ParseError::too_short) {
        violation(CloseError::malformed_frame, "packet shorter than its header");
        return true;
    }
    const PacketHeader& h = p.header;
    // Session ids are judged before the frames: a stale or old-session packet
    // is dropped whatever it holds.
    if ((h.receiver_session != 0 && h.receiver_session != config_.session_id) ||
        h.sender_session == 0) {
        ++counters_.packets_stale;
        return true;
    }
    const bool has_open =
        err == ParseError::none &&
        std::any_of(p.frames.begin(), p.frames.end(),
                    [](const Frame& f) { return std::holds_alternative<OpenFrame>(f); });
    if (peer_session_ != 0 && h.sender_session != peer_session_) {
        if (has_open) {
            close(CloseError::peer_restarted, "peer started a new session");
            return false;
        }
        ++counters_.packets_stale;
        return true;
    }
    if (err != ParseError::none) {
        violation(CloseError::malformed_frame,
                  "malformed packet: " + std::string(to_string(err)));
        return true;
    }
    // Every packet carries OPEN until the OPEN is acknowledged, so one without
    // it from an unknown peer is not from a session we can talk to.
    if (peer_session_ == 0 && !has_open) {
        ++counters_.packets_stale;
        return true;
    }
    if (h.number < received_floor_ || received_.contains(h.number)) {
        ++counters_.packets_duplicate;
        return true;
    }
    last_received_ = now;
    const bool eliciting = std::any_of(p.frames.begin(), p.frames.end(),
                                       [](const Frame& f) { return ack_eliciting(f); });
    note_received(h.number, eliciting, now);

    for (const Frame& f : p.frames) {
        if (const auto* o = std::get_if<OpenFrame>(&f)) on_open(*o, h.sender_session);
        if (state_ == SessionState::closed) return true;
    }
    for (const Frame& f : p.frames) {
        if (std::holds_alternative<OpenFrame>(f)) continue;
        on_frame(f, now);
        if (state_ == SessionState::closed) return true;
    }
    signal_writable();
    return true;
}

void Session::note_received(uint64_t number, bool eliciting, Time now) {
    const bool in_order = !have_received_ || number == largest_received_ + 1;
    received_.add(number, number + 1);
    if (received_.ranges.size() > kMaxReceivedRanges) {
        auto oldest = received_.ranges.begin();
        received_floor_ = std::max(received_floor_, oldest->second);
        received_.ranges.erase(oldest);
    }
    if (!have_received_ || number > largest_received_) {
        largest_received_ = number;
        largest_received_time_ = now;
        have_received_ = true;
    }
    if (!eliciting) return;
    ++ack_eliciting_unacked_;
    if (!in_order || ack_eliciting_unacked_ >= 2) {
        ack_now_ = true;
    } else if (ack_deadline_ == kNever) {
        ack_deadline_ = now + config_.max_ack_delay;
    }
}

void Session::on_open(const OpenFrame& f, uint32_t peer_session) {
    if (peer_session_ != 0) return;  // a retransmission of the OPEN we have
    // Known before the version check, so our CLOSE reaches the peer's session.
    peer_session_ = peer_session;
    if (f.version != config_.version) {
        violation(CloseError::version_mismatch,
                  "peer speaks stream protocol version " + std::to_string(f.version) +
                      ", we speak " + std::to_string(config_.version));
        return;
    }
    tx_max_data_ = f.max_data;
    peer_stream_window_ = f.max_stream_data;
    tx_max_streams_ = f.max_streams;
    state_ = SessionState::open;
    emit(StreamEvent::Kind::session_open);
}

void Session::on_frame(const Frame& frame, Time now) {
    if (const auto* f = std::get_if<AckFrame>(&frame)) {
        on_ack(*f, now);
    } else if (const auto* f = std::get_if<StreamFrame>(&frame)) {
        on_stream(*f, now);
    } else if (const auto* f = std::get_if<MaxDataFrame>(&frame)) {
        if (f->limit > tx_max_data_) {
            tx_max_data_ = f->limit;
            if (want_session_writable_) {
                want_session_writable_ = false;
                emit(StreamEvent::Kind::writable, UINT64_MAX);
            }
        }
    } else if (const auto* f = std::get_if<MaxStreamDataFrame>(&frame)) {
        if (Stream* s = stream_for_peer_frame(f->id)) s->tx_credit = std::max(s->tx_credit, f->limit);
    } else if (const auto* f = std::get_if<MaxStreamsFrame>(&frame)) {
        if (f->limit > tx_max_streams_) {
            tx_max_streams_ = f->limit;
            if (want_session_writable_) {
                want_session_writable_ = false;
                emit(StreamEvent::Kind::writable, UINT64_MAX);
            }
        }
    } else if (std::holds_alternative<DataBlockedFrame>(frame) ||
               std::holds_alternative<StreamsBlockedFrame>(frame)) {
        // Credit goes out as the application reads; a blocked frame changes nothing.
        ++counters_.blocked_received;
    } else if (const auto* f = std::get_if<StreamDataBlockedFrame>(&frame)) {
        ++counters_.blocked_received;
        stream_for_peer_frame(f->id);  // may open the stream, or find the id illegal
    } else if (const auto* f = std::get_if<ResetStreamFrame>(&frame)) {
        on_reset(*f, now);
    } else if (const auto* f = std::get_if<StopSendingFrame>(&frame)) {
        on_stop_sending(*f);
    } else if (const auto* f = std::get_if<CloseFrame>(&frame)) {
        const auto e = f->error < static_cast<uint64_t>(CloseError::count)
                           ? static_cast<CloseError>(f->error)
                           : CloseError::protocol_violation;
        shut_down(e, f->reason, true);
    }
    // PING: only asks for an ACK, which note_received arranged.
}

Session::Stream* Session::create_stream(uint64_t id, bool local) {
    auto s = std::make_unique<Stream>();
    s->id = id;
    s->local = local;
    s->tx_credit = peer_stream_window_;
    s->rx_credit = config_.initial_stream_window;
    s->rx_window = config_.initial_stream_window;
    s->epoch_time = now_;
    Stream* raw = s.get();
    streams_.emplace(id, std::move(s));
    return raw;
}

Session::Stream* Session::stream_for_peer_frame(uint64_t id) {
    const uint64_t index = id >> 1;
    if (ours(id)) {
        if (index >= next_local_index_) {
            violation(CloseError::protocol_violation, "frame for " + describe(id) + ", which we never opened");
            return nullptr;
        }
    } else if (index >= peer_opened_) {
        if (index >= rx_max_streams_) {
            violation(CloseError::stream_limit,
                      describe(id) + " beyond the stream limit " + std::to_string(rx_max_streams_));
            return nullptr;
        }
        const uint64_t parity = config_.even_ids ? 1 : 0;
        while (peer_opened_ <= index) {
            const uint64_t new_id = peer_opened_ * 2 + parity;
            create_stream(new_id, false);
            ++peer_opened_;
            ++counters_.streams_opened_remote;
            emit(StreamEvent::Kind::stream_opened, new_id);
        }
    }
    auto it = streams_.find(id);
    return it == streams_.end() ? nullptr : it->second.get();
}

void Session::on_stream(const StreamFrame& f, Time now) {
    Stream* s = stream_for_peer_frame(f.id);
    if (s == nullptr) return;
    const uint64_t end = f.offset + f.data.size();
    if (s->final_size != kNone && (end > s->final_size || (f.fin && end != s->final_size))) {
        violation(CloseError::final_size_change, describe(f.id) + ": data or fin beyond its final size");
        return;
    }
    if (f.fin && end < s->rx_highest) {
        violation(CloseError::final_size_change, describe(f.id) + ": fin below data already received");
        return;
    }
    if (end > s->rx_credit) {
        violation(CloseError::credit_overrun, describe(f.id) + ": data beyond the stream credit");
        return;
    }
    if (end > s->rx_highest) {
        rx_data_ += end - s->rx_highest;
        s->rx_highest = end;
        if (rx_data_ > rx_max_data_) {
            violation(CloseError::credit_overrun, "data beyond the session credit");
            return;
        }
    }
    const bool fin_new = f.fin && s->final_size == kNone;
    if (fin_new) s->final_size = end;
    if (s->rx_reset) return;
    if (s->stopping) {
        // Nobody will read it: count it read at once so the session credit returns.
        rx_read_ += s->rx_highest - s->rx_read;
        s->rx_read = s->rx_highest;
        maybe_grant_session(now);
        maybe_release(f.id);
        return;
    }
    const size_t added = s->insert(f.offset, f.data);
    counters_.stream_bytes_received += added;
    if (((added > 0 && !s->front().empty()) || fin_new) && !s->readable_pending) {
        s->readable_pending = true;
        emit(StreamEvent::Kind::readable, f.id);
    }
    maybe_release(f.id);
}

void Session::on_reset(const ResetStreamFrame& f, Time now) {
    Stream* s = stream_for_peer_frame(f.id);
    if (s == nullptr) return;
    if ((s->final_size != kNone && f.final_size != s->final_size) || f.final_size < s->rx_highest) {
        violation(CloseError::final_size_change, describe(f.id) + ": RESET_STREAM moves the final size");
        return;
    }
    if (s->rx_reset) return;
    if (f.final_size > s->rx_credit) {
        violation(CloseError::credit_overrun, describe(f.id) + ": final size beyond the stream credit");
        return;
    }
    rx_data_ += f.final_size - s->rx_highest;
    s->rx_highest = f.final_size;
    if (rx_data_ > rx_max_data_) {
        violation(CloseError::credit_overrun, "final size beyond the session credit");
        return;
    }
    s->final_size = f.final_size;
    s->rx_reset = true;
    ++counters_.streams_reset;
    // What was never read is read now, as far as session credit goes.
    rx_read_ += s->final_size - s->rx_read;
    s->rx_read = s->final_size;
    s->discard_received();
    emit(StreamEvent::Kind::reset, f.id, f.error);
    maybe_grant_session(now);
    maybe_release(f.id);
}

void Session::on_stop_sending(const StopSendingFrame& f) {
    Stream* s = stream_for_peer_frame(f.id);
    if (s == nullptr || s->tx_reset || tx_done(*s)) return;
    // As RFC 9000 §3.5: the answer to STOP_SENDING is a RESET_STREAM.
    abandon_sending(*s, f.error);
    emit(StreamEvent::Kind::stop_sending, f.id, f.error);
    maybe_release(f.id);
}

// ---- Loss recovery ------------------------------------------------------------------

void Session::on_ack(const AckFrame& f, Time now) {
    const uint64_t largest = f.ranges.front().high;
    if (largest >= next_pn_) {
        violation(CloseError::protocol_violation, "ACK of packet " + std::to_string(largest) + ", never sent");
        return;
    }
    bool newly_acked = false;
    Time largest_sent{0};
    bool rtt_sample = false;
    const uint64_t in_flight_before = bytes_in_flight_;
    RateSample rs;
    Time newest_sent = Time::min();
    for (const AckRange& r : f.ranges) {
        for (auto it = sent_.lower_bound(r.low); it != sent_.end() && it->first <= r.high;) {
            if (it->first == largest) {
                rtt_sample = true;
                largest_sent = it->second.time;
            }
            newly_acked = true;
            const SentPacket& p = it->second;
            delivered_ += p.size;
            delivered_time_ = now;
            // The rate over the newest packet acknowledged: what was
            // delivered since it left, over the longer of its send and ack
            // spans (so neither a burst of sends nor of ACKs inflates it).
            if (p.time > newest_sent) {
                newest_sent = p.time;
                rs.prior_delivered = p.delivered;
                rs.app_limited = p.app_limited;
                rs.interval = std::max(p.time - p.first_sent_time, now - p.delivered_time);
                first_sent_time_ = p.time;
                rs_packet_delivered_ = p.delivered;
            }
            acked(p);
            it = sent_.erase(it);
        }
        if (state_ == SessionState::closed) return;
    }
    if (newly_acked) rs.delivered = delivered_ - rs_packet_delivered_;
    if (app_limited_until_ != 0 && delivered_ > app_limited_until_) app_limited_until_ = 0;
    if (!have_largest_acked_ || largest > largest_acked_) {
        largest_acked_ = largest;
        have_largest_acked_ = true;
    }
    if (!newly_acked) return;
    if (rtt_sample) {
        const Time delay = std::chrono::microseconds(
            std::min<uint64_t>(f.ack_delay_us, uint64_t{1} << 40));
        update_rtt(now - largest_sent, delay);
    }
    pto_count_ = 0;
    detect_lost(now);
    if (config_.congestion == Congestion::bbr) {
        bbr_.on_ack(now, delivered_, in_flight_before, rs, rtt_sample ? now - largest_sent : Time{0},
                    srtt_);
        cwnd_ = bbr_.cwnd();
    }
}

void Session::update_rtt(Time latest, Time ack_delay) {
    latest_rtt_ = latest;
    if (!have_rtt_) {
        have_rtt_ = true;
        min_rtt_ = latest;
        srtt_ = latest;
        rttvar_ = latest / 2;
        return;
    }
    min_rtt_ = std::min(min_rtt_, latest);
    ack_delay = std::min(ack_delay, config_.max_ack_delay);
    Time adjusted = latest;
    if (latest >= min_rtt_ + ack_delay) adjusted = latest - ack_delay;
    const Time diff = srtt_ > adjusted ? srtt_ - adjusted : adjusted - srtt_;
    rttvar_ = (3 * rttvar_ + diff) / 4;
    srtt_ = (7 * srtt_ + adjusted) / 8;
}

void Session::acked(const SentPacket& p) {
    bytes_in_flight_ -= std::min<uint64_t>(bytes_in_flight_, p.size);
    if (config_.congestion == Congestion::newreno && p.cwnd_limited && p.time > recovery_start_) {
        if (cwnd_ < ssthresh_) {
            cwnd_ += p.size;
        } else {
            cwnd_ += std::max<uint64_t>(1, config_.max_packet * p.size / cwnd_);
        }
    }
    if (p.open) open_acked_ = true;
    for (const Chunk& c : p.chunks) {
        auto it = streams_.find(c.id);
        if (it == streams_.end() || it->second->tx_reset) continue;
        Stream& s = *it->second;
        const uint64_t low = std::max(c.offset, s.acked_floor), high = c.offset + c.len;
        if (low < high) {
            s.acked.add(low, high);
            s.retx.subtract(low, high);
            auto first = s.acked.ranges.begin();
            if (first->first <= s.acked_floor) {
                s.acked_floor = first->second;
                s.acked.ranges.erase(first);
                s.buf.release_below(s.acked_floor);
            }
        }
        if (c.fin) {
            s.fin_acked = true;
            s.fin_needs_send = false;
        }
        maybe_release(c.id);
    }
    for (uint64_t id : p.resets) {
        auto it = streams_.find(id);
        if (it == streams_.end()) continue;
        it->second->reset_acked = true;
        maybe_release(id);
    }
}

void Session::detect_lost(Time now) {
    loss_time_ = kNever;
    if (!have_largest_acked_) return;
    const Time rtt = std::max(latest_rtt_, srtt_);
    const Time delay = std::max(rtt * 9 / 8, kGranularity);
    const Time lost_before = now - delay;
    Time largest_lost_sent = Time::min();
    for (auto it = sent_.begin(); it != sent_.end() && it->first < largest_acked_;) {
        if (it->second.time <= lost_before || largest_acked_ >= it->first + kPacketThreshold) {
            ++counters_.packets_lost;
            bytes_in_flight_ -= std::min<uint64_t>(bytes_in_flight_, it->second.size);
            largest_lost_sent = std::max(largest_lost_sent, it->second.time);
            requeue(it->second);
            it = sent_.erase(it);
        } else {
            loss_time_ = std::min(loss_time_, it->second.time + delay);
            ++it;
        }
    }
    if (largest_lost_sent != Time::min()) congestion_event(largest_lost_sent, now);
}

void Session::congestion_event(Time sent, Time now) {
    if (sent <= recovery_start_) return;  // one reduction per recovery period
    recovery_start_ = now;
    ++counters_.congestion_events;
    // BBR's window follows its model of the path, not single losses.
    if (config_.congestion == Congestion::bbr) return;
    ssthresh_ = std::max<uint64_t>(cwnd_ / 2, 2 * config_.max_packet);
    cwnd_ = ssthresh_;
}

void Session::requeue(const SentPacket& p) {
    if (p.open && !open_acked_) open_pending_ = true;
    if (p.max_data) max_data_pending_ = true;
    if (p.max_streams) max_streams_pending_ = true;
    for (uint64_t id : p.max_stream_data) {
        auto it = streams_.find(id);
        if (it == streams_.end()) continue;
        Stream& s = *it->second;
        if (s.credit_pending || s.final_size != kNone || s.stopping) continue;
        s.credit_pending = true;
        max_stream_data_pending_.push_back(id);
    }
    for (uint64_t id : p.resets) {
        auto it = streams_.find(id);
        if (it == streams_.end() || it->second->reset_acked || it->second->reset_pending) continue;
        it->second->reset_pending = true;
        resets_pending_.push_back(id);
    }
    for (uint64_t id : p.stops) {
        auto it = streams_.find(id);
        if (it == streams_.end() || rx_done(*it->second) || it->second->stop_pending) continue;
        it->second->stop_pending = true;
        stops_pending_.push_back(id);
    }
    for (const Chunk& c : p.chunks) {
        auto it = streams_.find(c.id);
        if (it == streams_.end() || it->second->tx_reset) continue;
        Stream& s = *it->second;
        const uint64_t low = std::max(c.offset, s.acked_floor), high = c.offset + c.len;
        if (low < high) {
            s.retx.add(low, high);
            auto a = s.acked.ranges.upper_bound(low);
            if (a != s.acked.ranges.begin()) --a;
            for (; a != s.acked.ranges.end() && a->first < high; ++a) s.retx.subtract(a->first, a->second);
        }
        if (c.fin && !s.fin_acked) s.fin_needs_send = true;
        enqueue(s);
    }
}

Time Session::pto_duration() const {
    const Time srtt = have_rtt_ ? srtt_ : kInitialRtt;
    const Time rttvar = have_rtt_ ? rttvar_ : kInitialRtt / 2;
    return srtt + std::max(4 * rttvar, kGranularity) + config_.max_ack_delay;
}

Time Session::pto_deadline() const {
    if (sent_.empty()) return kNever;
    return last_eliciting_sent_ + pto_duration() * (1 << std::min(pto_count_, kMaxPtoShift));
}

void Session::on_timer(Time now) {
    touch(now);
    if (state_ == SessionState::closed) return;
    if (now - last_received_ >= config_.idle_timeout) {
        close(CloseError::idle_timeout, "nothing heard for " +
                                            std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                               config_.idle_timeout)
                                                               .count()) +
                                            " ms");
        return;
    }
    if (loss_time_ != kNever) {
        if (now >= loss_time_) detect_lost(now);
    } else if (now >= pto_deadline()) {
        ++pto_count_;
        ++counters_.pto_fired;
        probes_ = kProbesPerPto;
        // The probes carry the oldest data in flight again, so a lost tail
        // is repaired by the probe itself rather than one more round trip.
        requeue(sent_.begin()->second);
    }
    if (ack_deadline_ != kNever && now >= ack_deadline_) ack_now_ = true;
    if (state_ == SessionState::open && !streams_.empty() &&
        now >= std::max(last_received_, last_sent_) + config_.keepalive)
        ping_pending_ = true;
}

std::optional<Time> Session::next_timer() const {
    if (state_ == SessionState::closed) {
        if (close_pending_) return now_;
        return std::nullopt;
    }
    Time t = kNever;
    if ((ack_now_ && ack_eliciting_unacked_ > 0) || probes_ > 0) t = now_;
    if (ack_deadline_ != kNever && !ack_now_) t = std::min(t, ack_deadline_);
    if (eliciting_pending() && cwnd_allows()) t = std::min(t, pacer_ready());
    t = std::min(t, loss_time_ != kNever ? loss_time_ : pto_deadline());
    if (clock_started_) t = std::min(t, last_received_ + config_.idle_timeout);
    if (state_ == SessionState::open && !streams_.empty() && !ping_pending_)
        t = std::min(t, std::max(last_received_, last_sent_) + config_.keepalive);
    if (t == kNever) return std::nullopt;
    return t;
}

// ---- Sending ------------------------------------------------------------------------

bool Session::has_stream_data(const Stream& s) {
    if (s.tx_reset) return false;
    return !s.retx.ranges.empty() || s.next_send < s.written || s.fin_needs_send;
}

void Session::enqueue(Stream& s) {
    if (s.queued || !has_stream_data(s)) return;
    s.queued = true;
    send_queue_.push_back(s.id);
}

bool Session::eliciting_pending() const {
    if (open_pending_ || ping_pending_) return true;
    if (state_ != SessionState::open) return false;
    return max_data_pending_ || max_streams_pending_ || !max_stream_data_pending_.empty() ||
           !resets_pending_.empty() || !stops_pending_.empty() || !stream_blocked_pending_.empty() ||
           data_blocked_pending_ || streams_blocked_pending_ || !send_queue_.empty();
}

bool Session::cwnd_allows() const { return bytes_in_flight_ + config_.max_packet <= cwnd_; }

double Session::pacing_rate() const {
    if (config_.congestion == Congestion::bbr && bbr_.has_estimate())
        return std::max(bbr_.pacing_rate(), 1e-6);  // never 0: pacer_ready divides by it
    const double srtt = static_cast<double>(std::max(srtt_, Time{1}).count());
    return 1.25 * static_cast<double>(cwnd_) / srtt;
}

// Ten packets, or a millisecond's worth at the pacing rate when that is more:
// at gigabit rates ten packets last some tens of microseconds, and waking
// the control thread that often would cost more than the pacing is worth.
uint64_t Session::pacing_burst() const {
    const uint64_t packets = kPacingBurstPackets * config_.max_packet;
    const double per_ms = have_rtt_ ? pacing_rate() * 1e6 : 0;
    const uint64_t quantum = std::max<uint64_t>(packets, static_cast<uint64_t>(per_ms));
    return std::max<uint64_t>(2 * config_.max_packet, std::min<uint64_t>(cwnd_, quantum));
}

void Session::pacer_refill(Time now) {
    const double burst = static_cast<double>(pacing_burst());
    if (!have_rtt_) {
        pacer_tokens_ = burst;
    } else if (now > pacer_last_) {
        pacer_tokens_ = std::min(burst, pacer_tokens_ + static_cast<double>((now - pacer_last_).count()) *
                                                            pacing_rate());
    }
    pacer_last_ = std::max(pacer_last_, now);
}

Time Session::pacer_ready() const {
    if (!have_rtt_) return now_;
    const double need = static_cast<double>(config_.max_packet) - pacer_tokens_;
    if (need <= 0) return now_;
    const auto wait = static_cast<int64_t>(need / pacing_rate()) + 1;
    return std::max(now_, pacer_last_ + Time{wait});
}

bool Session::transmit(Time now, std::vector<uint8_t>* out) {
    touch(now);
    out->clear();
    if (state_ == SessionState::closed) {
        if (!close_pending_) return false;
        close_pending_ = false;
        FrameWriter w(out);
        w.header({config_.session_id, peer_session_, next_pn_++});
        w.frame(CloseFrame{static_cast<uint64_t>(close_error_), close_reason_});
        ++counters_.packets_sent;
        counters_.bytes_sent += out->size();
        return true;
    }
    const bool ack_due = ack_eliciting_unacked_ > 0 &&
                         (ack_now_ || (ack_deadline_ != kNever && now >= ack_deadline_));
    const bool probe = probes_ > 0;
    bool eliciting = probe;
    if (!probe && eliciting_pending() && cwnd_allows()) {
        pacer_refill(now);
        eliciting = pacer_tokens_ >= static_cast<double>(config_.max_packet);
    } else if (!probe && !eliciting_pending() && bytes_in_flight_ < cwnd_) {
        // Nothing to send with room to send it: rates measured until what is
        // in flight now is delivered say more about us than about the path.
        app_limited_until_ = std::max<uint64_t>(delivered_ + bytes_in_flight_, 1);
    }
    if (!eliciting && !ack_due) return false;
    return build(now, eliciting, probe, out);
}

bool Session::build(Time now, bool eliciting_allowed, bool probe, std::vector<uint8_t>* out) {
    out->reserve(config_.max_packet);
    FrameWriter w(out);
    const uint64_t pn = next_pn_;
    w.header({config_.session_id, peer_session_, pn});
    const size_t limit = config_.max_packet;
    SentPacket sp;
    sp.time = now;
    bool eliciting = false;
    auto put = [&](const Frame& f) {
        if (out->size() + encoded_size(f) > limit) return false;
        w.frame(f);
        return true;
    };

    if (ack_eliciting_unacked_ > 0) {
        AckFrame a;
        a.ack_delay_us = static_cast<uint64_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(now - largest_received_time_).count());
        for (auto it = received_.ranges.rbegin();
             it != received_.ranges.rend() && a.ranges.size() < kMaxAckRanges; ++it)
            a.ranges.push_back({it->first, it->second - 1});
        // Keep half the packet for what the ACK rides with.
        while (a.ranges.size() > 1 && encoded_size(a) > limit / 2) a.ranges.pop_back();
        if (put(a)) {
            ack_eliciting_unacked_ = 0;
            ack_now_ = false;
            ack_deadline_ = kNever;
        }
    }
    // Until the peer acknowledged our OPEN every packet carries it (so the peer
    // never sees a packet from us it cannot place), ACK-only ones included.
    if (!open_acked_ && put(OpenFrame{config_.version, config_.initial_session_window,
                                      config_.initial_stream_window, config_.max_streams})) {
        sp.open = true;
        open_pending_ = false;
        eliciting = true;
    }
    if (eliciting_allowed && state_ == SessionState::open) {
        if (max_data_pending_ && put(MaxDataFrame{rx_max_data_})) {
            max_data_pending_ = false;
            sp.max_data = eliciting = true;
        }
        if (max_streams_pending_ && put(MaxStreamsFrame{rx_max_streams_})) {
            max_streams_pending_ = false;
            sp.max_streams = eliciting = true;
        }
        size_t keep = 0;
        for (uint64_t id : max_stream_data_pending_) {
            auto it = streams_.find(id);
            if (it == streams_.end()) continue;
            Stream& s = *it->second;
            if (s.final_size != kNone || s.stopping) {
                s.credit_pending = false;
                continue;
            }
            if (!put(MaxStreamDataFrame{id, s.rx_credit})) {
                max_stream_data_pending_[keep++] = id;
                continue;
            }
            s.credit_pending = false;
            sp.max_stream_data.push_back(id);
            eliciting = true;
        }
        max_stream_data_pending_.resize(keep);
        keep = 0;
        for (uint64_t id : resets_pending_) {
            auto it = streams_.find(id);
            if (it == streams_.end()) continue;
            Stream& s = *it->second;
            if (s.reset_acked) {
                s.reset_pending = false;
                continue;
            }
            if (!put(ResetStreamFrame{id, s.reset_error, s.written})) {
                resets_pending_[keep++] = id;
                continue;
            }
            s.reset_pending = false;
            sp.resets.push_back(id);
            eliciting = true;
        }
        resets_pending_.resize(keep);
        keep = 0;
        for (uint64_t id : stops_pending_) {
            auto it = streams_.find(id);
            if (it == streams_.end()) continue;
            Stream& s = *it->second;
            if (rx_done(s)) {
                s.stop_pending = false;
                continue;
            }
            if (!put(StopSendingFrame{id, s.stop_error})) {
                stops_pending_[keep++] = id;
                continue;
            }
            s.stop_pending = false;
            sp.stops.push_back(id);
            eliciting = true;
        }
        stops_pending_.resize(keep);
        // Blocked frames are hints for the peer's logs and counters: not retransmitted.
        if (data_blocked_pending_ && put(DataBlockedFrame{tx_max_data_})) {
            data_blocked_pending_ = false;
            ++counters_.blocked_sent;
            eliciting = true;
        }
        if (streams_blocked_pending_ && put(StreamsBlockedFrame{tx_max_streams_})) {
            streams_blocked_pending_ = false;
            ++counters_.blocked_sent;
            eliciting = true;
        }
        while (!stream_blocked_pending_.empty() && put(stream_blocked_pending_.back())) {
            stream_blocked_pending_.pop_back();
            ++counters_.blocked_sent;
            eliciting = true;
        }

        while (!send_queue_.empty() && limit - out->size() >= kMinStreamFrameRoom) {
            const uint64_t id = send_queue_.front();
            send_queue_.pop_front();
            auto it = streams_.find(id);
            if (it == streams_.end()) continue;
            Stream& s = *it->second;
            s.queued = false;
            if (!has_stream_data(s)) continue;
            const bool wrote = add_stream_frame(s, sp, out, limit);
            if (has_stream_data(s)) {
                s.queued = true;
                if (wrote) {
                    send_queue_.push_back(id);
                } else {
                    send_queue_.push_front(id);
                }
            }
            if (!wrote) break;
            eliciting = true;
        }
    }
    if (eliciting_allowed && (probe || ping_pending_) && !eliciting) {
        if (put(PingFrame{})) eliciting = true;
    }
    if (eliciting) ping_pending_ = false;
    if (out->size() == kPacketHeaderLen) {
        out->clear();
        return false;
    }

    ++next_pn_;
    ++counters_.packets_sent;
    counters_.bytes_sent += out->size();
    last_sent_ = now;
    if (eliciting) {
        sp.size = static_cast<uint32_t>(out->size());
        sp.cwnd_limited = bytes_in_flight_ + sp.size >= cwnd_ / 2;
        if (bytes_in_flight_ == 0) {  // a new flight: its rate starts now
            delivered_time_ = now;
            first_sent_time_ = now;
        }
        sp.delivered = delivered_;
        sp.delivered_time = delivered_time_;
        sp.first_sent_time = first_sent_time_;
        sp.app_limited = app_limited_until_ != 0;
        bytes_in_flight_ += sp.size;
        last_eliciting_sent_ = now;
        if (probe) {
            --probes_;
        } else {
            pacer_tokens_ -= static_cast<double>(sp.size);
        }
        sent_.emplace(pn, std::move(sp));
    }
    return true;
}

bool Session::add_stream_frame(Stream& s, SentPacket& sp, std::vector<uint8_t>* out, size_t limit) {
    const size_t room = limit - out->size();
    uint64_t off;
    uint64_t avail;
    bool retransmit = false;
    if (!s.retx.ranges.empty()) {
        off = s.retx.ranges.begin()->first;
        avail = s.retx.ranges.begin()->second - off;
        retransmit = true;
    } else if (s.next_send < s.written) {
        off = s.next_send;
        avail = s.written - off;
    } else {
        off = s.fin_offset;  // fin_needs_send: all data went out already
        avail = 0;
    }
    const size_t header = stream_header_size(s.id, off, static_cast<size_t>(std::min<uint64_t>(avail, room)));
    if (header > room || (avail > 0 && header == room)) return false;
    const size_t n = static_cast<size_t>(std::min<uint64_t>(avail, room - header));
    const bool fin = s.fin_needs_send && off + n == s.fin_offset;
    FrameWriter w(out);
    w.byte(static_cast<uint8_t>(FrameType::stream));
    w.byte(fin ? 1 : 0);
    w.varint(s.id);
    w.varint(off);
    w.varint(n);
    s.buf.copy_to(off, n, out);
    if (retransmit) {
        s.retx.subtract(off, off + n);
        counters_.stream_bytes_retransmitted += n;
    } else if (n > 0) {
        s.next_send += n;
        counters_.stream_bytes_sent += n;
    }
    if (fin) s.fin_needs_send = false;
    sp.chunks.push_back(Chunk{s.id, off, static_cast<uint32_t>(n), fin});
    return true;
}

// ---- The application side -----------------------------------------------------------

std::optional<uint64_t> Session::open_stream(Time now) {
    touch(now);
    if (state_ != SessionState::open) return std::nullopt;
    if (next_local_index_ >= tx_max_streams_) {
        if (streams_blocked_at_ != tx_max_streams_) {
            streams_blocked_at_ = tx_max_streams_;
            streams_blocked_pending_ = true;
        }
        want_session_writable_ = true;
        return std::nullopt;
    }
    const uint64_t id = next_local_index_ * 2 + (config_.even_ids ? 0 : 1);
    ++next_local_index_;
    ++counters_.streams_opened_local;
    create_stream(id, true);
    return id;
}

size_t Session::writable(uint64_t id) const {
    if (state_ != SessionState::open) return 0;
    auto it = streams_.find(id);
    if (it == streams_.end()) return 0;
    const Stream& s = *it->second;
    if (s.tx_reset || s.fin_offset != kNone) return 0;
    const uint64_t stream_room = s.tx_credit - s.written;
    const uint64_t session_room = tx_max_data_ > tx_data_ ? tx_max_data_ - tx_data_ : 0;
    const uint64_t held = s.written - s.acked_floor;
    const uint64_t buffer_room = config_.send_buffer > held ? config_.send_buffer - held : 0;
    return static_cast<size_t>(std::min({stream_room, session_room, buffer_room}));
}

size_t Session::write(uint64_t id, std::span<const uint8_t> data, Time now) {
    touch(now);
    auto it = streams_.find(id);
    if (it == streams_.end()) return 0;
    Stream& s = *it->second;
    const size_t n = std::min(data.size(), writable(id));
    if (n < data.size() && state_ == SessionState::open && !s.tx_reset && s.fin_offset == kNone) {
        if (!s.want_writable) {
            s.want_writable = true;
            want_writable_.push_back(id);
        }
        if (s.written + n == s.tx_credit && s.blocked_at != s.tx_credit) {
            s.blocked_at = s.tx_credit;
            stream_blocked_pending_.push_back(StreamDataBlockedFrame{id, s.tx_credit});
        }
        if (tx_data_ + n >= tx_max_data_) {
            want_session_writable_ = true;
            if (data_blocked_at_ != tx_max_data_) {
                data_blocked_at_ = tx_max_data_;
                data_blocked_pending_ = true;
            }
        }
    }
    if (n == 0) return 0;
    s.buf.append(data.first(n));
    s.written += n;
    tx_data_ += n;
    enqueue(s);
    return n;
}

void Session::finish(uint64_t id) {
    auto it = streams_.find(id);
    if (it == streams_.end()) return;
    Stream& s = *it->second;
    if (s.tx_reset || s.fin_offset != kNone) return;
    s.fin_offset = s.written;
    s.fin_needs_send = true;
    enqueue(s);
}

void Session::abandon_sending(Stream& s, uint64_t error) {
    s.tx_reset = true;
    s.reset_error = error;
    s.buf.clear();
    s.retx.ranges.clear();
    s.acked.ranges.clear();
    s.fin_needs_send = false;
    ++counters_.streams_reset;
    if (!s.reset_pending) {
        s.reset_pending = true;
        resets_pending_.push_back(s.id);
    }
}

void Session::stop_receiving(Stream& s, uint64_t error) {
    if (rx_done(s) || s.stopping) return;
    s.stopping = true;
    s.stop_error = error;
    // Discarded bytes (and the gaps between them) count as read for the session.
    rx_read_ += s.rx_highest - s.rx_read;
    s.rx_read = s.rx_highest;
    s.discard_received();
    if (!s.stop_pending) {
        s.stop_pending = true;
        stops_pending_.push_back(s.id);
    }
}

void Session::reset(uint64_t id, uint64_t error) {
    auto it = streams_.find(id);
    if (it == streams_.end() || state_ != SessionState::open) return;
    Stream& s = *it->second;
    if (!s.tx_reset && !tx_done(s)) abandon_sending(s, error);
    stop_receiving(s, error);
    maybe_grant_session(now_);
    maybe_release(id);
}

void Session::stop_sending(uint64_t id, uint64_t error) {
    auto it = streams_.find(id);
    if (it == streams_.end() || state_ != SessionState::open) return;
    stop_receiving(*it->second, error);
    maybe_grant_session(now_);
    maybe_release(id);
}

std::span<const uint8_t> Session::peek(uint64_t id) const {
    auto it = streams_.find(id);
    if (it == streams_.end() || it->second->stopping) return {};
    return it->second->front();
}

void Session::consume(uint64_t id, size_t n, Time now) {
    touch(now);
    auto it = streams_.find(id);
    if (it == streams_.end() || it->second->stopping) return;
    Stream& s = *it->second;
    n = std::min(n, s.front().size());
    if (n == 0) return;
    s.consume(n);
    rx_read_ += n;
    maybe_grant(s, now);
    maybe_grant_session(now);
    maybe_release(id);
}

size_t Session::read(uint64_t id, std::span<uint8_t> out, Time now) {
    size_t total = 0;
    while (total < out.size()) {
        const auto avail = peek(id);
        if (avail.empty()) break;
        const size_t n = std::min(avail.size(), out.size() - total);
        std::memcpy(out.data() + total, avail.data(), n);
        total += n;
        consume(id, n, now);
    }
    return total;
}

bool Session::was_opened(uint64_t id) const {
    return ours(id) ? (id >> 1) < next_local_index_ : (id >> 1) < peer_opened_;
}

bool Session::fin_received(uint64_t id) const {
    auto it = streams_.find(id);
    // A stream that is gone has nothing more to read.
    if (it == streams_.end()) return was_opened(id);
    const Stream& s = *it->second;
    return s.final_size != kNone && s.rx_read == s.final_size && !s.rx_reset;
}

// ---- Flow control and stream life ---------------------------------------------------

void Session::grow_window(uint64_t* window, uint64_t max, uint64_t* reserved) {
    if (*window >= max) return;
    const uint64_t grown = std::min(*window * 2, max);
    if (config_.budget != nullptr && !config_.budget->reserve(grown - *window)) {
        ++counters_.budget_denied;
        return;
    }
    *reserved += grown - *window;
    *window = grown;
    ++counters_.window_grows;
}

void Session::maybe_grant(Stream& s, Time now) {
    if (s.final_size != kNone || s.stopping || s.rx_reset) return;  // no more credit needed
    // Half a window read within two round trips (one credit update's worth:
    // the sender used it up as soon as it came): the window is what limits
    // the stream, so let it grow toward the bandwidth-delay product. Half,
    // not a whole one, so that the hole a lost packet leaves now and then
    // (reading waits a round trip for the retransmission) does not keep a
    // lossy path's window small.
    if (s.rx_read - s.epoch_offset >= s.rx_window / 2) {
        if (have_rtt_ && now - s.epoch_time < 2 * srtt_)
            grow_window(&s.rx_window, config_.max_stream_window, &s.rx_reserved);
        s.epoch_offset = s.rx_read;
        s.epoch_time = now;
    }
    if (s.rx_credit - s.rx_read >= s.rx_window / 2) return;
    s.rx_credit = s.rx_read + s.rx_window;
    if (!s.credit_pending) {
        s.credit_pending = true;
        max_stream_data_pending_.push_back(s.id);
    }
}

void Session::maybe_grant_session(Time now) {
    if (state_ != SessionState::open) return;
    if (rx_read_ - rx_epoch_offset_ >= rx_window_ / 2) {
        if (have_rtt_ && now - rx_epoch_time_ < 2 * srtt_)
            grow_window(&rx_window_, config_.max_session_window, &reserved_);
        rx_epoch_offset_ = rx_read_;
        rx_epoch_time_ = now;
    }
    if (rx_max_data_ - rx_read_ >= rx_window_ / 2) return;
    rx_max_data_ = rx_read_ + rx_window_;
    max_data_pending_ = true;
}

bool Session::tx_done(const Stream& s) {
    if (s.tx_reset) return s.reset_acked;
    return s.fin_acked && s.acked_floor >= s.fin_offset;
}

bool Session::rx_done(const Stream& s) {
    return s.rx_reset || (s.final_size != kNone && s.rx_read >= s.final_size);
}

void Session::maybe_release(uint64_t id) {
    auto it = streams_.find(id);
    if (it == streams_.end()) return;
    Stream& s = *it->second;
    if (!tx_done(s) || !rx_done(s)) return;
    release_budget(&s.rx_reserved);
    if (!s.local) {
        ++peer_closed_;
        rx_max_streams_ = peer_closed_ + config_.max_streams;
        max_streams_pending_ = true;
    }
    streams_.erase(it);
    emit(StreamEvent::Kind::stream_closed, id);
}

void Session::signal_writable() {
    size_t keep = 0;
    for (uint64_t id : want_writable_) {
        auto it = streams_.find(id);
        if (it == streams_.end()) continue;
        if (writable(id) == 0 && !it->second->tx_reset && it->second->fin_offset == kNone) {
            want_writable_[keep++] = id;
            continue;
        }
        it->second->want_writable = false;
        emit(StreamEvent::Kind::writable, id);
    }
    want_writable_.resize(keep);
}

// ---- What it shows ------------------------------------------------------------------

SessionInfo Session::info() const {
    SessionInfo i;
    i.state = state_;
    i.session_id = config_.session_id;
    i.peer_session_id = peer_session_;
    i.close_error = close_error_;
    i.closed_by_peer = closed_by_peer_;
    i.close_reason = close_reason_;
    i.srtt = srtt_;
    i.min_rtt = min_rtt_;
    i.rttvar = rttvar_;
    i.cwnd = cwnd_;
    i.ssthresh = ssthresh_;
    i.bytes_in_flight = bytes_in_flight_;
    i.tx_max_data = tx_max_data_;
    i.tx_data = tx_data_;
    i.rx_max_data = rx_max_data_;
    i.rx_data = rx_data_;
    i.rx_window = rx_window_;
    i.tx_max_streams = tx_max_streams_;
    i.rx_max_streams = rx_max_streams_;
    i.streams = streams_.size();
    for (const auto& [id, s] : streams_) i.buffered += (s->written - s->acked_floor) + s->rx_buffered;
    i.counters = counters_;
    return i;
}

std::vector<StreamInfo> Session::stream_info() const {
    std::vector<StreamInfo> v;
    v.reserve(streams_.size());
    for (const auto& [id, sp] : streams_) {
        const Stream& s = *sp;
        StreamInfo i;
        i.id = id;
        i.local = s.local;
        const bool local_done = s.fin_offset != kNone;
        const bool remote_done = s.final_size != kNone;
        if (s.tx_reset || s.rx_reset || s.stopping) {
            i.state = "reset";
        } else if (local_done && remote_done) {
            i.state = "closed";
        } else if (local_done) {
            i.state = "half-closed-local";
        } else if (remote_done) {
            i.state = "half-closed-remote";
        } else {
            i.state = "open";
        }
        i.tx_written = s.written;
        i.tx_acked = s.acked_floor;
        i.tx_credit = s.tx_credit;
        i.rx_received = s.rx_highest;
        i.rx_read = s.rx_read;
        i.rx_credit = s.rx_credit;
        i.rx_window = s.rx_window;
        i.rx_buffered = s.rx_buffered;
        i.fin_sent = s.fin_offset != kNone && !s.fin_needs_send;
        i.fin_received = remote_done && !s.rx_reset;
        v.push_back(std::move(i));
    }
    return v;
}

}  // namespace sluice::streams
