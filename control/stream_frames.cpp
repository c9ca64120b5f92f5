#include "control/stream_frames.hpp"

#include <algorithm>
#include <cstring>
#include <type_traits>

namespace sluice::streams {

std::string_view to_string(CloseError e) noexcept {
    switch (e) {
        case CloseError::none: return "none";
        case CloseError::version_mismatch: return "version_mismatch";
        case CloseError::credit_overrun: return "credit_overrun";
        case CloseError::final_size_change: return "final_size_change";
        case CloseError::stream_limit: return "stream_limit";
        case CloseError::malformed_frame: return "malformed_frame";
        case CloseError::protocol_violation: return "protocol_violation";
        case CloseError::peer_restarted: return "peer_restarted";
        case CloseError::idle_timeout: return "idle_timeout";
        case CloseError::shutdown: return "shutdown";
        case CloseError::count: break;
    }
    return "unknown";
}

std::string_view to_string(StreamError e) noexcept {
    switch (e) {
        case StreamError::none: return "none";
        case StreamError::connection_reset: return "connection_reset";
        case StreamError::connect_refused: return "connect_refused";
        case StreamError::target_not_allowed: return "target_not_allowed";
        case StreamError::bad_preamble: return "bad_preamble";
        case StreamError::session_closed: return "session_closed";
    }
    return "unknown";
}

std::string_view to_string(ParseError e) noexcept {
    switch (e) {
        case ParseError::none: return "none";
        case ParseError::too_short: return "too_short";
        case ParseError::truncated: return "truncated";
        case ParseError::unknown_type: return "unknown_type";
        case ParseError::bad_varint: return "bad_varint";
        case ParseError::bad_ack: return "bad_ack";
        case ParseError::too_large: return "too_large";
        case ParseError::empty: return "empty";
    }
    return "unknown";
}

bool ack_eliciting(const Frame& f) noexcept { return !std::holds_alternative<AckFrame>(f); }

namespace {

class Reader {
public:
    explicit Reader(std::span<const uint8_t> b) : b_(b) {}
    bool done() const noexcept { return pos_ >= b_.size(); }
    size_t left() const noexcept { return b_.size() - pos_; }
    bool u8(uint8_t* v) {
        if (left() < 1) return false;
        *v = b_[pos_++];
        return true;
    }
    template <typename T>
    bool le(T* v) {
        if (left() < sizeof(T)) return false;
        uint64_t x = 0;
        for (size_t i = sizeof(T); i-- > 0;) x = (x << 8) | b_[pos_ + i];
        pos_ += sizeof(T);
        *v = static_cast<T>(x);
        return true;
    }
    bool varint(uint64_t* v) {
        if (left() < 1) return false;
        const size_t len = size_t{1} << (b_[pos_] >> 6);
        if (left() < len) return false;
        uint64_t x = b_[pos_] & 0x3f;
        for (size_t i = 1; i < len; ++i) x = (x << 8) | b_[pos_ + i];
        pos_ += len;
        *v = x;
        return true;
    }
    bool bytes(size_t n, std::span<const uint8_t>* out) {
        if (left() < n) return false;
        *out = b_.subspan(pos_, n);
        pos_ += n;
        return true;
    }

private:
    std::span<const uint8_t> b_;
    size_t pos_ = 0;
};

ParseError parse_ack(Reader& r, AckFrame* a) {
    uint64_t largest, delay, count, first;
    if (!r.varint(&largest) || !r.varint(&delay) || !r.varint(&count) || !r.varint(&first))
        return ParseError::truncated;
    if (count + 1 > kMaxAckRanges) return ParseError::bad_ack;
    if (first > largest) return ParseError::bad_ack;
    a->ack_delay_us = delay;
    a->ranges.reserve(static_cast<size_t>(count) + 1);  // at most kMaxAckRanges
    a->ranges.push_back({largest - first, largest});
    uint64_t low = largest - first;
    for (uint64_t i = 0; i < count; ++i) {
        uint64_t gap, len;
        if (!r.varint(&gap) || !r.varint(&len)) return ParseError::truncated;
        // The next range ends at least two below the previous low (a gap of
        // one unacknowledged number or more).
        if (low < gap + 2) return ParseError::bad_ack;
        const uint64_t high = low - gap - 2;
        if (len > high) return ParseError::bad_ack;
        a->ranges.push_back({high - len, high});
        low = high - len;
    }
    return ParseError::none;
}

}  // namespace

ParseError parse_packet(std::span<const uint8_t> bytes, Packet* out) {
    // A caller may reuse one Packet for every message: nothing of the last one
    // may survive into this one.
    out->header = PacketHeader{};
    out->frames.clear();
    Reader r(bytes);
    if (!r.le(&out->header.sender_session) || !r.le(&out->header.receiver_session) ||
        !r.le(&out->header.number))
        return ParseError::too_short;
    if (r.done()) return ParseError::empty;
    while (!r.done()) {
        uint8_t type;
        r.u8(&type);
        switch (static_cast<FrameType>(type)) {
            case FrameType::padding:
                continue;
            case FrameType::ping:
                out->frames.emplace_back(PingFrame{});
                break;
            case FrameType::ack: {
                AckFrame a;
                if (ParseError e = parse_ack(r, &a); e != ParseError::none) return e;
                out->frames.emplace_back(std::move(a));
                break;
            }
            case FrameType::open: {
                OpenFrame o;
                if (!r.varint(&o.version) || !r.varint(&o.max_data) ||
                    !r.varint(&o.max_stream_data) || !r.varint(&o.max_streams))
                    return ParseError::truncated;
                out->frames.emplace_back(o);
                break;
            }
            case FrameType::stream: {
                StreamFrame s;
                uint8_t flags;
                uint64_t len;
                if (!r.u8(&flags) || !r.varint(&s.id) || !r.varint(&s.offset) || !r.varint(&len))
                    return ParseError::truncated;
                if (flags > 1) return ParseError::bad_varint;
                s.fin = (flags & 1) != 0;
                if (len > r.left()) return ParseError::truncated;
                if (s.offset + len > kMaxVarint) return ParseError::too_large;
                r.bytes(static_cast<size_t>(len), &s.data);
                out->frames.emplace_back(s);
                break;
            }
            case FrameType::max_data: {
                MaxDataFrame f;
                if (!r.varint(&f.limit)) return ParseError::truncated;
                out->frames.emplace_back(f);
                break;
            }
            case FrameType::max_stream_data: {
                MaxStreamDataFrame f;
                if (!r.varint(&f.id) || !r.varint(&f.limit)) return ParseError::truncated;
                out->frames.emplace_back(f);
                break;
            }
            case FrameType::max_streams: {
                MaxStreamsFrame f;
                if (!r.varint(&f.limit)) return ParseError::truncated;
                out->frames.emplace_back(f);
                break;
            }
            case FrameType::data_blocked: {
                DataBlockedFrame f;
                if (!r.varint(&f.limit)) return ParseError::truncated;
                out->frames.emplace_back(f);
                break;
            }
            case FrameType::stream_data_blocked: {
                StreamDataBlockedFrame f;
                if (!r.varint(&f.id) || !r.varint(&f.limit)) return ParseError::truncated;
                out->frames.emplace_back(f);
                break;
            }
            case FrameType::streams_blocked: {
                StreamsBlockedFrame f;
                if (!r.varint(&f.limit)) return ParseError::truncated;
                out->frames.emplace_back(f);
                break;
            }
            case FrameType::reset_stream: {
                ResetStreamFrame f;
                if (!r.varint(&f.id) || !r.varint(&f.error) || !r.varint(&f.final_size))
                    return ParseError::truncated;
                out->frames.emplace_back(f);
                break;
            }
            case FrameType::stop_sending: {
                StopSendingFrame f;
                if (!r.varint(&f.id) || !r.varint(&f.error)) return ParseError::truncated;
                out->frames.emplace_back(f);
                break;
            }
            case FrameType::close: {
                CloseFrame f;
                uint64_t len;
                std::span<const uint8_t> reason;
                if (!r.varint(&f.error) || !r.varint(&len)) return ParseError::truncated;
                if (len > kMaxCloseReasonLen) return ParseError::bad_varint;
                if (!r.bytes(static_cast<size_t>(len), &reason)) return ParseError::truncated;
                f.reason.assign(reason.begin(), reason.end());
                out->frames.emplace_back(std::move(f));
                break;
            }
            default:
                return ParseError::unknown_type;
        }
    }
    if (out->frames.empty()) return ParseError::empty;
    return ParseError::none;
}

// ---- Writing ----------------------------------------------------------------------------

namespace {

// The ranges an ACK frame carries: the highest kMaxAckRanges, since the
// receiver rejects more. Dropping the lowest ranges only delays their
// acknowledgement (the next ACK or the sender's loss detection covers them).
std::span<const AckRange> sent_ranges(const AckFrame& f) noexcept {
    return std::span<const AckRange>(f.ranges).first(std::min(f.ranges.size(), kMaxAckRanges));
}

}  // namespace

size_t varint_size(uint64_t v) noexcept {
    if (v < (uint64_t{1} << 6)) return 1;
    if (v < (uint64_t{1} << 14)) return 2;
    if (v < (uint64_t{1} << 30)) return 4;
    return 8;
}

void FrameWriter::header(const PacketHeader& h) {
    auto le = [this](uint64_t v, int n) {
        for (int i = 0; i < n; ++i) out_->push_back(static_cast<uint8_t>(v >> (8 * i)));
    };
    le(h.sender_session, 4);
    le(h.receiver_session, 4);
    le(h.number, 8);
}

void FrameWriter::varint(uint64_t v) {
    if (v > kMaxVarint) v = kMaxVarint;  // callers keep values in range; never emit garbage
    const size_t len = varint_size(v);
    const uint8_t prefix = static_cast<uint8_t>(len == 1 ? 0 : len == 2 ? 1 : len == 4 ? 2 : 3);
    for (size_t i = 0; i < len; ++i) {
        uint8_t b = static_cast<uint8_t>(v >> (8 * (len - 1 - i)));
        if (i == 0) b = static_cast<uint8_t>((b & 0x3f) | (prefix << 6));
        out_->push_back(b);
    }
}

void FrameWriter::frame(const Frame& frame) {
    std::visit(
        [this](const auto& f) {
            using T = std::decay_t<decltype(f)>;
            if constexpr (std::is_same_v<T, PingFrame>) {
                byte(static_cast<uint8_t>(FrameType::ping));
            } else if constexpr (std::is_same_v<T, AckFrame>) {
                const auto rs = sent_ranges(f);
                if (rs.empty()) return;  // nothing to acknowledge: no frame (encoded_size 0)
                byte(static_cast<uint8_t>(FrameType::ack));
                varint(rs.front().high);
                varint(f.ack_delay_us);
                varint(rs.size() - 1);
                varint(rs.front().high - rs.front().low);
                for (size_t i = 1; i < rs.size(); ++i) {
                    varint(rs[i - 1].low - rs[i].high - 2);
                    varint(rs[i].high - rs[i].low);
                }
            } else if constexpr (std::is_same_v<T, OpenFrame>) {
                byte(static_cast<uint8_t>(FrameType::open));
                varint(f.version);
                varint(f.max_data);
                varint(f.max_stream_data);
                varint(f.max_streams);
            } else if constexpr (std::is_same_v<T, StreamFrame>) {
                byte(static_cast<uint8_t>(FrameType::stream));
                byte(f.fin ? 1 : 0);
                varint(f.id);
                varint(f.offset);
                varint(f.data.size());
                out_->insert(out_->end(), f.data.begin(), f.data.end());
            } else if constexpr (std::is_same_v<T, MaxDataFrame>) {
                byte(static_cast<uint8_t>(FrameType::max_data));
                varint(f.limit);
            } else if constexpr (std::is_same_v<T, MaxStreamDataFrame>) {
                byte(static_cast<uint8_t>(FrameType::max_stream_data));
                varint(f.id);
                varint(f.limit);
            } else if constexpr (std::is_same_v<T, MaxStreamsFrame>) {
                byte(static_cast<uint8_t>(FrameType::max_streams));
                varint(f.limit);
            } else if constexpr (std::is_same_v<T, DataBlockedFrame>) {
                byte(static_cast<uint8_t>(FrameType::data_blocked));
                varint(f.limit);
            } else if constexpr (std::is_same_v<T, StreamDataBlockedFrame>) {
                byte(static_cast<uint8_t>(FrameType::stream_data_blocked));
                varint(f.id);
                varint(f.limit);
            } else if constexpr (std::is_same_v<T, StreamsBlockedFrame>) {
                byte(static_cast<uint8_t>(FrameType::streams_blocked));
                varint(f.limit);
            } else if constexpr (std::is_same_v<T, ResetStreamFrame>) {
                byte(static_cast<uint8_t>(FrameType::reset_stream));
                varint(f.id);
                varint(f.error);
                varint(f.final_size);
            } else if constexpr (std::is_same_v<T, StopSendingFrame>) {
                byte(static_cast<uint8_t>(FrameType::stop_sending));
                varint(f.id);
                varint(f.error);
            } else if constexpr (std::is_same_v<T, CloseFrame>) {
                byte(static_cast<uint8_t>(FrameType::close));
                varint(f.error);
                const size_t n = std::min(f.reason.size(), kMaxCloseReasonLen);
                varint(n);
                out_->insert(out_->end(), f.reason.begin(), f.reason.begin() + static_cast<long>(n));
            }
        },
        frame);
}

size_t encoded_size(const Frame& frame) noexcept {
    return std::visit(
        [](const auto& f) -> size_t {
            using T = std::decay_t<decltype(f)>;
            auto v = varint_size;
            if constexpr (std::is_same_v<T, PingFrame>) {
                return 1;
            } else if constexpr (std::is_same_v<T, AckFrame>) {
                const auto rs = sent_ranges(f);
                if (rs.empty()) return 0;
                size_t n = 1 + v(rs.front().high) + v(f.ack_delay_us) + v(rs.size() - 1) +
                           v(rs.front().high - rs.front().low);
                for (size_t i = 1; i < rs.size(); ++i)
                    n += v(rs[i - 1].low - rs[i].high - 2) + v(rs[i].high - rs[i].low);
                return n;
            } else if constexpr (std::is_same_v<T, OpenFrame>) {
                return 1 + v(f.version) + v(f.max_data) + v(f.max_stream_data) +
                       v(f.max_streams);
            } else if constexpr (std::is_same_v<T, StreamFrame>) {
                return stream_header_size(f.id, f.offset, f.data.size()) + f.data.size();
            } else if constexpr (std::is_same_v<T, MaxDataFrame> ||
                                 std::is_same_v<T, MaxStreamsFrame> ||
                                 std::is_same_v<T, DataBlockedFrame> ||
                                 std::is_same_v<T, StreamsBlockedFrame>) {
                return 1 + v(f.limit);
            } else if constexpr (std::is_same_v<T, MaxStreamDataFrame> ||
                                 std::is_same_v<T, StreamDataBlockedFrame>) {
                return 1 + v(f.id) + v(f.limit);
            } else if constexpr (std::is_same_v<T, ResetStreamFrame>) {
                return 1 + v(f.id) + v(f.error) + v(f.final_size);
            } else if constexpr (std::is_same_v<T, StopSendingFrame>) {
                return 1 + v(f.id) + v(f.error);
            } else {
                const size_t n = std::min(f.reason.size(), kMaxCloseReasonLen);
                return 1 + v(f.error) + v(n) + n;
            }
        },
        frame);
}

size_t stream_header_size(uint64_t id, uint64_t offset, size_t len) noexcept {
    return 2 + varint_size(id) + varint_size(offset) + varint_size(len);
}

}  // namespace sluice::streams
