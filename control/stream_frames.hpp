// The frames of sluice's stream protocol (DESIGN §7, docs/streams.md): what
// one decrypted stream message carries, and the codec for it.
//
// A stream message's plaintext is a packet: a 16-byte header (the sender's
// session id, the receiver's session id as the sender knows it (0: not yet),
// both 4 bytes little-endian, and an 8-byte little-endian packet number), then
// one or more frames. The session ids let a receiver tell a restarted peer's
// packets from its old session's, and drop what was meant for a session it no
// longer has. Every frame starts with a one-byte type;
// integers inside frames are variable-length (the two top bits of the first
// byte give the length: 1, 2, 4 or 8 bytes, big-endian, as RFC 9000 §16 does),
// so small values cost one byte. The parser takes untrusted bytes: it never
// reads past the end, never allocates for an attacker-given length, and
// reports the first malformed frame with a named error (fuzz_stream_frames).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace sluice::streams {

inline constexpr uint64_t kMaxVarint = (uint64_t{1} << 62) - 1;
inline constexpr size_t kPacketHeaderLen = 16;
inline constexpr size_t kMaxAckRanges = 64;       // per ACK frame, sent and accepted
inline constexpr size_t kMaxCloseReasonLen = 256;

enum class FrameType : uint8_t {
    padding = 0x00,  // one byte, ignored; not ack-eliciting
    ping = 0x01,
    ack = 0x02,
    open = 0x03,
    stream = 0x04,
    max_data = 0x05,          // session credit
    max_stream_data = 0x06,   // stream credit
    max_streams = 0x07,       // stream-count credit
    data_blocked = 0x08,
    stream_data_blocked = 0x09,
    streams_blocked = 0x0a,
    reset_stream = 0x0b,
    stop_sending = 0x0c,
    close = 0x0d,
};

// Why a session was closed: sent in CLOSE, logged, counted, shown.
enum class CloseError : uint8_t {
    none = 0,
    version_mismatch = 1,     // OPEN with a protocol version we do not speak
    credit_overrun = 2,       // data beyond the session or stream credit we granted
    final_size_change = 3,    // a stream's final size moved, or data beyond it
    stream_limit = 4,         // a stream opened beyond the stream-count credit
    malformed_frame = 5,      // a frame that does not parse
    protocol_violation = 6,   // a frame that parses but may not be sent (bad id...)
    peer_restarted = 7,       // the peer opened a new session: the old one is gone
    idle_timeout = 8,
    shutdown = 9,             // the gateway is stopping or the peer was removed
    count
};
std::string_view to_string(CloseError e) noexcept;

// Application error codes of RESET_STREAM and STOP_SENDING (forwarding's).
enum class StreamError : uint64_t {
    none = 0,
    connection_reset = 1,     // the TCP connection on the other side was reset
    connect_refused = 2,      // the target refused (or could not be reached)
    target_not_allowed = 3,   // the far gateway does not allow this target
    bad_preamble = 4,         // the forwarding preamble did not parse
    session_closed = 5,
};
std::string_view to_string(StreamError e) noexcept;

// Every frame compares by value (a StreamFrame by the bytes it views), so
// tests and the fuzz target can check that a frame survives encoding.
#define SLUICE_FRAME_EQ(T) friend bool operator==(const T&, const T&) = default
struct PingFrame {
    SLUICE_FRAME_EQ(PingFrame);
};
struct AckRange {
    uint64_t low = 0;   // inclusive
    uint64_t high = 0;  // inclusive
    SLUICE_FRAME_EQ(AckRange);
};
struct AckFrame {
    uint64_t ack_delay_us = 0;
    std::vector<AckRange> ranges;  // descending, disjoint, not adjacent; at least one
    SLUICE_FRAME_EQ(AckFrame);
};
struct OpenFrame {
    uint64_t version = 0;
    uint64_t max_data = 0;         // initial session credit
    uint64_t max_stream_data = 0;  // initial credit of every stream
    uint64_t max_streams = 0;      // streams the sender lets the receiver open
    SLUICE_FRAME_EQ(OpenFrame);
};
struct StreamFrame {
    uint64_t id = 0;
    uint64_t offset = 0;
    bool fin = false;
    std::span<const uint8_t> data;  // points into the packet being parsed
    friend bool operator==(const StreamFrame& a, const StreamFrame& b) {
        return a.id == b.id && a.offset == b.offset && a.fin == b.fin &&
               std::equal(a.data.begin(), a.data.end(), b.data.begin(), b.data.end());
    }
};
struct MaxDataFrame { uint64_t limit = 0; SLUICE_FRAME_EQ(MaxDataFrame); };
struct MaxStreamDataFrame { uint64_t id = 0; uint64_t limit = 0; SLUICE_FRAME_EQ(MaxStreamDataFrame); };
struct MaxStreamsFrame { uint64_t limit = 0; SLUICE_FRAME_EQ(MaxStreamsFrame); };
struct DataBlockedFrame { uint64_t limit = 0; SLUICE_FRAME_EQ(DataBlockedFrame); };
struct StreamDataBlockedFrame {
    uint64_t id = 0;
    uint64_t limit = 0;
    SLUICE_FRAME_EQ(StreamDataBlockedFrame);
};
struct StreamsBlockedFrame { uint64_t limit = 0; SLUICE_FRAME_EQ(StreamsBlockedFrame); };
struct ResetStreamFrame {
    uint64_t id = 0;
    uint64_t error = 0;
    uint64_t final_size = 0;
    SLUICE_FRAME_EQ(ResetStreamFrame);
};
struct StopSendingFrame { uint64_t id = 0; uint64_t error = 0; SLUICE_FRAME_EQ(StopSendingFrame); };
struct CloseFrame { uint64_t error = 0; std::string reason; SLUICE_FRAME_EQ(CloseFrame); };
#undef SLUICE_FRAME_EQ

using Frame = std::variant<PingFrame, AckFrame, OpenFrame, StreamFrame, MaxDataFrame,
                           MaxStreamDataFrame, MaxStreamsFrame, DataBlockedFrame,
                           StreamDataBlockedFrame, StreamsBlockedFrame, ResetStreamFrame,
                           StopSendingFrame, CloseFrame>;

// A frame other than ACK and padding asks for an acknowledgement.
bool ack_eliciting(const Frame& f) noexcept;

enum class ParseError : uint8_t {
    none = 0,
    too_short,        // shorter than the packet header
    truncated,        // a frame runs past the end
    unknown_type,
    bad_varint,       // a value beyond what its frame allows
    bad_ack,          // ranges out of order, overlapping, or too many
    too_large,        // a stream frame reaching past 2^62
    empty,            // a packet with no frames
};
std::string_view to_string(ParseError e) noexcept;

struct PacketHeader {
    uint32_t sender_session = 0;    // random per session, never 0
    uint32_t receiver_session = 0;  // 0: the sender has not heard from us yet
    uint64_t number = 0;
};

struct Packet {
    PacketHeader header;
    std::vector<Frame> frames;
};

// Parses a decrypted stream message. On error returns it and leaves `out`
// partially filled; the caller closes the session (malformed_frame).
ParseError parse_packet(std::span<const uint8_t> bytes, Packet* out);

// ---- Writing ------------------------------------------------------------------------

size_t varint_size(uint64_t v) noexcept;

// Appends to a byte vector; the engine checks sizes with encoded_size first.
class FrameWriter {
public:
    explicit FrameWriter(std::vector<uint8_t>* out) : out_(out) {}
    void header(const PacketHeader& h);
    void varint(uint64_t v);
    void byte(uint8_t b) { out_->push_back(b); }
    void frame(const Frame& f);
    size_t size() const noexcept { return out_->size(); }

private:
    std::vector<uint8_t>* out_;
};

// Bytes `f` takes on the wire.
size_t encoded_size(const Frame& f) noexcept;
// Bytes a STREAM frame's header takes (type, flags, id, offset, length).
size_t stream_header_size(uint64_t id, uint64_t offset, size_t len) noexcept;

}  // namespace sluice::streams
