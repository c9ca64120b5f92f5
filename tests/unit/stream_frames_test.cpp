// The stream protocol's frame codec and forwarding preamble
// (control/stream_frames.hpp, control/stream_preamble.hpp): every frame
// through the writer and back, the sizes the engine budgets with, varint
// edges, and each named parse error from a crafted packet. ACK parsing is
// checked against a naive model that expands ranges with signed arithmetic.
#include "control/stream_frames.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "control/stream_preamble.hpp"

namespace sluice::streams {
namespace {

using Bytes = std::vector<uint8_t>;

// ---- Helpers ------------------------------------------------------------------------


const PacketHeader kHeader{0x11223344u, 0xa1b2c3d4u, 0x0102030405060708ull};

Bytes encode(const PacketHeader& h, const std::vector<Frame>& frames) {
    Bytes out;
    FrameWriter w(&out);
    w.header(h);
    for (const Frame& f : frames) w.frame(f);
    return out;
}

// A packet header followed by raw frame bytes written by hand.
Bytes raw(std::initializer_list<uint8_t> frame_bytes) {
    Bytes out = encode(kHeader, {});
    out.insert(out.end(), frame_bytes);
    return out;
}

ParseError parse(const Bytes& b, Packet* p) {
    return parse_packet(b, p);
}

ParseError parse(const Bytes& b) {
    Packet p;
    return parse_packet(b, &p);
}

const uint8_t kPayload[] = {'h', 'e', 'l', 'l', 'o', 0, 0xff, 0x80};
const Bytes kLongPayload(300, 0x5a);

// One frame of every type, with values that take different varint lengths.
std::vector<Frame> every_frame() {
    return {
        PingFrame{},
        AckFrame{25, {{100, 1000}, {50, 97}, {0, 10}}},
        OpenFrame{1, 1 << 20, 256 * 1024, 256},
        StreamFrame{4, 0, false, std::span<const uint8_t>(kPayload)},
        StreamFrame{7, (uint64_t{1} << 40) + 3, true, std::span<const uint8_t>(kLongPayload)},
        StreamFrame{9, 12345, true, {}},  // a bare fin
        MaxDataFrame{uint64_t{1} << 32},
        MaxStreamDataFrame{2, 70000},
        MaxStreamsFrame{300},
        DataBlockedFrame{63},
        StreamDataBlockedFrame{16384, 16383},
        StreamsBlockedFrame{64},
        ResetStreamFrame{6, static_cast<uint64_t>(StreamError::connection_reset), 99999},
        StopSendingFrame{8, static_cast<uint64_t>(StreamError::session_closed)},
        CloseFrame{static_cast<uint64_t>(CloseError::shutdown), "gateway stopping"},
        CloseFrame{static_cast<uint64_t>(CloseError::idle_timeout), ""},
    };
}

// ---- Round trips and sizes ----------------------------------------------------------

TEST(StreamFrames, EveryFrameRoundTripsAlone) {
    for (const Frame& f : every_frame()) {
        SCOPED_TRACE(f.index());
        const Bytes b = encode(kHeader, {f});
        EXPECT_EQ(b.size(), kPacketHeaderLen + encoded_size(f));
        Packet p;
        ASSERT_EQ(parse(b, &p), ParseError::none);
        EXPECT_EQ(p.header.sender_session, kHeader.sender_session);
        EXPECT_EQ(p.header.receiver_session, kHeader.receiver_session);
        EXPECT_EQ(p.header.number, kHeader.number);
        ASSERT_EQ(p.frames.size(), 1u);
        EXPECT_TRUE(p.frames[0] == f);
    }
}

TEST(StreamFrames, AllFramesInOnePacketRoundTrip) {
    const auto frames = every_frame();
    const Bytes b = encode(kHeader, frames);
    size_t expected = kPacketHeaderLen;
    for (const Frame& f : frames) expected += encoded_size(f);
    EXPECT_EQ(b.size(), expected);
    Packet p;
    ASSERT_EQ(parse(b, &p), ParseError::none);
    ASSERT_EQ(p.frames.size(), frames.size());
    for (size_t i = 0; i < frames.size(); ++i) EXPECT_TRUE(p.frames[i] == frames[i]) << i;
}

TEST(StreamFrames, HeaderIsLittleEndian) {
    const Bytes b = encode(kHeader, {PingFrame{}});
    const Bytes expected = {0x44, 0x33, 0x22, 0x11, 0xd4, 0xc3, 0xb2, 0xa1, 8,
                            7,    6,    5,    4,    3,    2,    1,    0x01};
    EXPECT_EQ(b, expected);
}

TEST(StreamFrames, StreamDataPointsIntoThePacket) {
    const Bytes b = encode(kHeader, {StreamFrame{4, 0, false, std::span<const uint8_t>(kPayload)}});
    Packet p;
    ASSERT_EQ(parse(b, &p), ParseError::none);
    const auto& s = std::get<StreamFrame>(p.frames[0]);
    EXPECT_EQ(s.data.data(), b.data() + b.size() - sizeof kPayload);
    EXPECT_EQ(s.data.size(), sizeof kPayload);
}

TEST(StreamFrames, PaddingIsSkipped) {
    Bytes b = raw({0x00, 0x00, 0x01, 0x00});
    Packet p;
    ASSERT_EQ(parse(b, &p), ParseError::none);
    ASSERT_EQ(p.frames.size(), 1u);
    EXPECT_TRUE(std::holds_alternative<PingFrame>(p.frames[0]));
    // Padding written through the writer's byte() as the engine pads probes.
    Bytes out;
    FrameWriter w(&out);
    w.header(kHeader);
    w.frame(MaxDataFrame{5});
    for (int i = 0; i < 20; ++i) w.byte(static_cast<uint8_t>(FrameType::padding));
    EXPECT_EQ(w.size(), kPacketHeaderLen + 2 + 20);
    ASSERT_EQ(parse(out, &p), ParseError::none);
    ASSERT_EQ(p.frames.size(), 1u);
}

TEST(StreamFrames, ReusedPacketKeepsNothingOfTheLastOne) {
    Packet p;
    ASSERT_EQ(parse(encode(kHeader, every_frame()), &p), ParseError::none);
    ASSERT_EQ(parse(encode(PacketHeader{1, 0, 2}, {PingFrame{}}), &p), ParseError::none);
    EXPECT_EQ(p.header.sender_session, 1u);
    EXPECT_EQ(p.header.receiver_session, 0u);
    EXPECT_EQ(p.header.number, 2u);
    ASSERT_EQ(p.frames.size(), 1u);
}

TEST(StreamFrames, StreamHeaderSizeMatchesTheWriter) {
    const uint64_t values[] = {
        0, 63, 64, 16383, 16384, (1u << 30) - 1, 1u << 30, kMaxVarint - 70000};
    const size_t lengths[] = {0, 1, 63, 64, 1200, 16383, 16384, 65535};
    for (uint64_t id : values)
        for (uint64_t offset : values)
            for (size_t len : lengths) {
                const Bytes data(len, 1);
                const StreamFrame f{id, offset, (len & 1) != 0, std::span<const uint8_t>(data)};
                Bytes out;
                FrameWriter w(&out);
                w.frame(f);
                EXPECT_EQ(out.size(), stream_header_size(id, offset, len) + len)
                    << id << " " << offset << " " << len;
                EXPECT_EQ(out.size(), encoded_size(f));
            }
}

TEST(StreamFrames, CloseReasonIsCutToTheLimit) {
    const CloseFrame f{static_cast<uint64_t>(CloseError::protocol_violation),
                       std::string(kMaxCloseReasonLen + 50, 'x')};
    const Bytes b = encode(kHeader, {f});
    EXPECT_EQ(b.size(), kPacketHeaderLen + encoded_size(f));
    Packet p;
    ASSERT_EQ(parse(b, &p), ParseError::none);
    EXPECT_EQ(std::get<CloseFrame>(p.frames[0]).reason, std::string(kMaxCloseReasonLen, 'x'));
}

TEST(StreamFrames, OnlyAckIsNotAckEliciting) {
    for (const Frame& f : every_frame())
        EXPECT_EQ(ack_eliciting(f), !std::holds_alternative<AckFrame>(f)) << f.index();
}

TEST(StreamFrames, EnumNamesAreDistinct) {
    std::set<std::string_view> names;
    for (uint8_t i = 0; i < static_cast<uint8_t>(CloseError::count); ++i) {
        const auto n = to_string(static_cast<CloseError>(i));
        EXPECT_NE(n, "unknown");
        EXPECT_TRUE(names.insert(n).second) << n;
    }
    names.clear();
    for (uint64_t i = 0; i <= static_cast<uint64_t>(StreamError::session_closed); ++i) {
        const auto n = to_string(static_cast<StreamError>(i));
        EXPECT_NE(n, "unknown");
        EXPECT_TRUE(names.insert(n).second) << n;
    }
    names.clear();
    for (uint8_t i = 0; i <= static_cast<uint8_t>(ParseError::empty); ++i) {
        const auto n = to_string(static_cast<ParseError>(i));
        EXPECT_NE(n, "unknown");
        EXPECT_TRUE(names.insert(n).second) << n;
    }
    EXPECT_EQ(to_string(static_cast<StreamError>(77)), "unknown");
}

// ---- Varints --------------------------------------------------------------------------

TEST(StreamFrames, VarintBoundaries) {
    struct Case {
        uint64_t value;
        size_t size;
    };
    const Case cases[] = {{0, 1},
                          {63, 1},
                          {64, 2},
                          {16383, 2},
                          {16384, 4},
                          {(uint64_t{1} << 30) - 1, 4},
                          {uint64_t{1} << 30, 8},
                          {kMaxVarint, 8}};
    for (const auto& c : cases) {
        SCOPED_TRACE(c.value);
        EXPECT_EQ(varint_size(c.value), c.size);
        Bytes out;
        FrameWriter w(&out);
        w.varint(c.value);
        ASSERT_EQ(out.size(), c.size);
        const unsigned prefix = c.size == 1 ? 0 : c.size == 2 ? 1 : c.size == 4 ? 2 : 3;
        EXPECT_EQ(out[0] >> 6, prefix);
        // Back through a frame that carries one varint.
        const Bytes b = encode(kHeader, {MaxDataFrame{c.value}});
        EXPECT_EQ(b.size(), kPacketHeaderLen + 1 + c.size);
        Packet p;
        ASSERT_EQ(parse(b, &p), ParseError::none);
        EXPECT_EQ(std::get<MaxDataFrame>(p.frames[0]).limit, c.value);
    }
}

TEST(StreamFrames, VarintBeyondTheRangeIsClampedNotWrapped) {
    Bytes out;
    FrameWriter w(&out);
    w.varint(~uint64_t{0});
    EXPECT_EQ(out, (Bytes{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}));
}

TEST(StreamFrames, NonMinimalVarintsAreAccepted) {
    const uint8_t type = static_cast<uint8_t>(FrameType::max_streams);
    const Bytes encodings[] = {
        raw({type, 0x25}),
        raw({type, 0x40, 0x25}),
        raw({type, 0x80, 0x00, 0x00, 0x25}),
        raw({type, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x25}),
    };
    for (const Bytes& b : encodings) {
        Packet p;
        ASSERT_EQ(parse(b, &p), ParseError::none);
        EXPECT_EQ(std::get<MaxStreamsFrame>(p.frames[0]).limit, 0x25u);
    }
}

// ---- Errors ---------------------------------------------------------------------------

TEST(StreamFrames, ShorterThanTheHeaderIsTooShort) {
    const Bytes full = encode(kHeader, {PingFrame{}});
    for (size_t n = 0; n < kPacketHeaderLen; ++n)
        EXPECT_EQ(parse(Bytes(full.begin(), full.begin() + static_cast<long>(n))),
                  ParseError::too_short)
            << n;
}

TEST(StreamFrames, NoFramesIsEmpty) {
    EXPECT_EQ(parse(encode(kHeader, {})), ParseError::empty);
    EXPECT_EQ(parse(raw({0x00})), ParseError::empty);
    EXPECT_EQ(parse(raw({0x00, 0x00, 0x00, 0x00})), ParseError::empty);
}

TEST(StreamFrames, UnknownTypes) {
    for (unsigned t = static_cast<unsigned>(FrameType::close) + 1; t <= 0xff; ++t)
        EXPECT_EQ(parse(raw({static_cast<uint8_t>(t), 0, 0, 0, 0})), ParseError::unknown_type) << t;
    // After a good frame too: the whole packet is refused.
    EXPECT_EQ(parse(raw({0x01, 0x0e})), ParseError::unknown_type);
}

TEST(StreamFrames, StreamFlagsOtherThanFinAreBad) {
    const uint8_t type = static_cast<uint8_t>(FrameType::stream);
    EXPECT_EQ(parse(raw({type, 0x00, 0x04, 0x00, 0x01, 'x'})), ParseError::none);
    EXPECT_EQ(parse(raw({type, 0x01, 0x04, 0x00, 0x01, 'x'})), ParseError::none);
    EXPECT_EQ(parse(raw({type, 0x02, 0x04, 0x00, 0x01, 'x'})), ParseError::bad_varint);
    EXPECT_EQ(parse(raw({type, 0x80, 0x04, 0x00, 0x01, 'x'})), ParseError::bad_varint);
}

TEST(StreamFrames, StreamLengthBeyondThePacketIsTruncated) {
    const uint8_t type = static_cast<uint8_t>(FrameType::stream);
    EXPECT_EQ(parse(raw({type, 0x00, 0x04, 0x00, 0x02, 'x'})), ParseError::truncated);
    // A length near 2^62 must not be taken at its word (no allocation, no overflow).
    EXPECT_EQ(
        parse(raw({type, 0x00, 0x04, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 'x'})),
        ParseError::truncated);
}

TEST(StreamFrames, StreamReachingPast2To62IsTooLarge) {
    const auto make = [](uint64_t offset, size_t len) {
        const Bytes data(len, 7);
        return encode(kHeader, {StreamFrame{0, offset, false, std::span<const uint8_t>(data)}});
    };
    EXPECT_EQ(parse(make(kMaxVarint - 10, 10)), ParseError::none);  // ends exactly at 2^62 - 1
    EXPECT_EQ(parse(make(kMaxVarint, 0)), ParseError::none);
    EXPECT_EQ(parse(make(kMaxVarint - 10, 11)), ParseError::too_large);
    EXPECT_EQ(parse(make(kMaxVarint, 1)), ParseError::too_large);
}

TEST(StreamFrames, CloseReasonLimits) {
    const uint8_t type = static_cast<uint8_t>(FrameType::close);
    Bytes at_limit = raw({type, 0x05, 0x41, 0x00});  // length 256, two-byte varint
    at_limit.resize(at_limit.size() + kMaxCloseReasonLen, 'r');
    Packet p;
    ASSERT_EQ(parse(at_limit, &p), ParseError::none);
    EXPECT_EQ(std::get<CloseFrame>(p.frames[0]).reason.size(), kMaxCloseReasonLen);

    Bytes over = raw({type, 0x05, 0x41, 0x01});  // 257
    over.resize(over.size() + kMaxCloseReasonLen + 1, 'r');
    EXPECT_EQ(parse(over), ParseError::bad_varint);
    // A huge claimed length is refused before anything is read or allocated.
    EXPECT_EQ(parse(raw({type, 0x05, 0xbf, 0xff, 0xff, 0xff})), ParseError::bad_varint);
    EXPECT_EQ(parse(raw({type, 0x05, 0x05, 'a', 'b'})), ParseError::truncated);
}

// Every prefix of a valid packet: too short inside the header, empty at its
// end, a valid shorter packet at each frame boundary, truncated anywhere else.
TEST(StreamFrames, EveryTruncationIsNamed) {
    const auto frames = every_frame();
    const Bytes full = encode(kHeader, frames);
    std::vector<size_t> boundaries;  // prefix length → how many whole frames
    size_t at = kPacketHeaderLen;
    for (const Frame& f : frames) boundaries.push_back(at += encoded_size(f));
    for (size_t n = 0; n <= full.size(); ++n) {
        SCOPED_TRACE(n);
        Packet p;
        const ParseError e = parse_packet(std::span<const uint8_t>(full.data(), n), &p);
        if (n < kPacketHeaderLen) {
            EXPECT_EQ(e, ParseError::too_short);
        } else if (n == kPacketHeaderLen) {
            EXPECT_EQ(e, ParseError::empty);
        } else if (const auto it = std::find(boundaries.begin(), boundaries.end(), n);
                   it != boundaries.end()) {
            ASSERT_EQ(e, ParseError::none);
            const size_t whole = static_cast<size_t>(it - boundaries.begin()) + 1;
            ASSERT_EQ(p.frames.size(), whole);
            for (size_t i = 0; i < whole; ++i) EXPECT_TRUE(p.frames[i] == frames[i]);
        } else {
            EXPECT_EQ(e, ParseError::truncated);
        }
    }
}

// ---- ACK ranges ---------------------------------------------------------------------

// Raw ACK frame bytes, every field one 8-byte varint so tests can write any value.
Bytes raw_ack(uint64_t largest, uint64_t delay, uint64_t first,
              const std::vector<std::pair<uint64_t, uint64_t>>& gaps_and_lengths,
              uint64_t count_override = UINT64_MAX) {
    Bytes out = encode(kHeader, {});
    FrameWriter w(&out);
    w.byte(static_cast<uint8_t>(FrameType::ack));
    const auto put = [&out](uint64_t v) {
        out.push_back(static_cast<uint8_t>(0xc0 | (v >> 56)));
        for (int i = 6; i >= 0; --i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
    };
    put(largest);
    put(delay);
    put(count_override != UINT64_MAX ? count_override : gaps_and_lengths.size());
    put(first);
    for (const auto& [gap, len] : gaps_and_lengths) {
        put(gap);
        put(len);
    }
    return out;
}

TEST(StreamFrames, AckRangesMustDescendWithAGap) {
    // 100..90, then a gap of one missing number (89), then 88..80.
    Packet p;
    ASSERT_EQ(parse(raw_ack(100, 0, 10, {{0, 8}}), &p), ParseError::none);
    const auto& a = std::get<AckFrame>(p.frames[0]);
    ASSERT_EQ(a.ranges.size(), 2u);
    EXPECT_TRUE((a.ranges[0] == AckRange{90, 100}));
    EXPECT_TRUE((a.ranges[1] == AckRange{80, 88}));
    // The lowest possible second range: it ends at 0.
    EXPECT_EQ(parse(raw_ack(100, 0, 10, {{88, 0}})), ParseError::none);
    // One more and it would end below 0 (overlap or wrap).
    EXPECT_EQ(parse(raw_ack(100, 0, 10, {{89, 0}})), ParseError::bad_ack);
    // A range longer than what lies below it.
    EXPECT_EQ(parse(raw_ack(100, 0, 10, {{0, 89}})), ParseError::bad_ack);
    EXPECT_EQ(parse(raw_ack(100, 0, 10, {{0, 88}})), ParseError::none);
    // The first range longer than the largest acknowledged number.
    EXPECT_EQ(parse(raw_ack(5, 0, 6, {})), ParseError::bad_ack);
    EXPECT_EQ(parse(raw_ack(5, 0, 5, {})), ParseError::none);
    // Huge gaps and lengths do not wrap around.
    EXPECT_EQ(parse(raw_ack(100, 0, 0, {{kMaxVarint, 0}})), ParseError::bad_ack);
    EXPECT_EQ(parse(raw_ack(kMaxVarint, 0, 0, {{0, kMaxVarint}})), ParseError::bad_ack);
}

TEST(StreamFrames, AckRangeCountIsLimited) {
    std::vector<std::pair<uint64_t, uint64_t>> gaps(kMaxAckRanges - 1, {0, 0});
    // 64 ranges of one number each, two apart: 1000, 998, ..., 874.
    Packet p;
    ASSERT_EQ(parse(raw_ack(1000, 0, 0, gaps), &p), ParseError::none);
    EXPECT_EQ(std::get<AckFrame>(p.frames[0]).ranges.size(), kMaxAckRanges);
    gaps.push_back({0, 0});
    EXPECT_EQ(parse(raw_ack(1000, 0, 0, gaps)), ParseError::bad_ack);
    // A claimed count far beyond the bytes is refused before reading them.
    EXPECT_EQ(parse(raw_ack(1000, 0, 0, {}, kMaxVarint)), ParseError::bad_ack);
    // A plausible count with ranges missing is a truncation.
    EXPECT_EQ(parse(raw_ack(1000, 0, 0, {{0, 0}}, 5)), ParseError::truncated);
}

TEST(StreamFrames, WriterSendsAtMostTheAcceptedNumberOfRanges) {
    AckFrame a{7, {}};
    for (uint64_t i = 0; i < kMaxAckRanges + 10; ++i) {
        const uint64_t high = 10000 - 3 * i;
        a.ranges.push_back({high - 1, high});
    }
    const Bytes b = encode(kHeader, {a});
    EXPECT_EQ(b.size(), kPacketHeaderLen + encoded_size(a));
    Packet p;
    ASSERT_EQ(parse(b, &p), ParseError::none);
    const auto& got = std::get<AckFrame>(p.frames[0]);
    ASSERT_EQ(got.ranges.size(), kMaxAckRanges);
    for (size_t i = 0; i < kMaxAckRanges; ++i) EXPECT_TRUE(got.ranges[i] == a.ranges[i]);
}

TEST(StreamFrames, AckWithoutRangesWritesNothing) {
    const AckFrame a{3, {}};
    EXPECT_EQ(encoded_size(a), 0u);
    Bytes out;
    FrameWriter w(&out);
    w.frame(a);
    EXPECT_TRUE(out.empty());
}

// The naive model: ranges expanded with signed 128-bit arithmetic, checked
// for order, gaps and the count; the parser must agree on every input.
struct ModelAck {
    bool ok = false;
    std::vector<AckRange> ranges;
};

ModelAck model_ack(uint64_t largest, uint64_t first,
                   const std::vector<std::pair<uint64_t, uint64_t>>& rest) {
    ModelAck m;
    if (rest.size() + 1 > kMaxAckRanges) return m;
    __int128 high = largest;
    __int128 low = high - static_cast<__int128>(first);
    if (low < 0) return m;
    m.ranges.push_back({static_cast<uint64_t>(low), static_cast<uint64_t>(high)});
    for (const auto& [gap, len] : rest) {
        const __int128 next_high = low - static_cast<__int128>(gap) - 2;
        const __int128 next_low = next_high - static_cast<__int128>(len);
        if (next_high < 0 || next_low < 0) return m;
        // Below the previous range with at least one number missing between.
        if (!(next_high + 1 < low)) return m;
        m.ranges.push_back({static_cast<uint64_t>(next_low), static_cast<uint64_t>(next_high)});
        low = next_low;
    }
    m.ok = true;
    return m;
}

TEST(StreamFrames, AckParserAgreesWithTheNaiveModel) {
    std::mt19937_64 rng(42);
    const auto small = [&rng]() -> uint64_t {
        switch (rng() % 4) {
            case 0:
                return rng() % 4;
            case 1:
                return rng() % 64;
            case 2:
                return rng() % 1000;
            default:
                return rng() % (uint64_t{1} << 20);
        }
    };
    int accepted = 0;
    for (int round = 0; round < 20000; ++round) {
        const uint64_t largest = small() * (rng() % 3 == 0 ? 1000 : 1);
        const uint64_t first = small();
        std::vector<std::pair<uint64_t, uint64_t>> rest(rng() % 70);
        for (auto& [gap, len] : rest) {
            gap = small() % 8;
            len = small() % 8;
        }
        const ModelAck m = model_ack(largest, first, rest);
        Packet p;
        const ParseError e = parse(raw_ack(largest, 1, first, rest), &p);
        ASSERT_EQ(e == ParseError::none, m.ok) << round;
        if (!m.ok) {
            EXPECT_EQ(e, ParseError::bad_ack);
            continue;
        }
        ++accepted;
        const auto& a = std::get<AckFrame>(p.frames[0]);
        ASSERT_EQ(a.ranges.size(), m.ranges.size());
        for (size_t i = 0; i < a.ranges.size(); ++i) EXPECT_TRUE(a.ranges[i] == m.ranges[i]);
        // And what parses writes back to the same ranges.
        Packet again;
        ASSERT_EQ(parse(encode(kHeader, {a}), &again), ParseError::none);
        EXPECT_TRUE(again.frames[0] == Frame{a});
    }
    EXPECT_GT(accepted, 1000);  // the model is not just refusing everything
}

// ---- Forwarding preamble ------------------------------------------------------------

Preamble v4_target() {
    Preamble p;
    p.family = 4;
    p.address[0] = 10, p.address[1] = 1, p.address[2] = 0, p.address[3] = 5;
    p.port = 8080;
    return p;
}

Preamble v6_target() {
    Preamble p;
    p.family = 6;
    const uint8_t a[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5};
    std::copy(std::begin(a), std::end(a), p.address.begin());
    p.port = 22;
    return p;
}

TEST(StreamPreamble, RoundTripsForBothFamilies) {
    for (const Preamble& in : {v4_target(), v6_target()}) {
        SCOPED_TRACE(int{in.family});
        Bytes b;
        encode_preamble(in, &b);
        ASSERT_EQ(b.size(), in.family == 4 ? 8u : 20u);
        EXPECT_EQ(b[0], kPreambleVersion);
        EXPECT_EQ(b[1], in.family);
        EXPECT_EQ(b[2], in.port >> 8);  // big-endian
        EXPECT_EQ(b[3], in.port & 0xff);
        const size_t len = b.size();
        b.insert(b.end(), {'G', 'E', 'T'});  // the stream's data follows
        Preamble out;
        size_t consumed = 0;
        ASSERT_EQ(parse_preamble(b, &out, &consumed), PreambleStatus::ok);
        EXPECT_EQ(consumed, len);
        EXPECT_EQ(out, in);
        EXPECT_LE(consumed, kMaxPreambleLen);
    }
}

TEST(StreamPreamble, EveryProperPrefixNeedsMore) {
    for (const Preamble& in : {v4_target(), v6_target()}) {
        Bytes b;
        encode_preamble(in, &b);
        for (size_t n = 0; n < b.size(); ++n) {
            Preamble out;
            size_t consumed = 99;
            EXPECT_EQ(parse_preamble(std::span<const uint8_t>(b.data(), n), &out, &consumed),
                      PreambleStatus::need_more)
                << int{in.family} << " " << n;
            EXPECT_EQ(consumed, 99u);
        }
    }
}

TEST(StreamPreamble, NamesWhatIsWrongAsSoonAsItShows) {
    Preamble out;
    size_t consumed = 0;
    const auto status = [&](Bytes b) { return parse_preamble(b, &out, &consumed); };
    EXPECT_EQ(status({0}), PreambleStatus::bad_version);
    EXPECT_EQ(status({2, 4, 0, 80, 10, 0, 0, 1}), PreambleStatus::bad_version);
    EXPECT_EQ(status({1, 0}), PreambleStatus::bad_family);
    EXPECT_EQ(status({1, 5, 0, 80, 10, 0, 0, 1}), PreambleStatus::bad_family);
    EXPECT_EQ(status({1, 41, 0, 80}), PreambleStatus::bad_family);
    EXPECT_EQ(status({1, 4, 0, 0}), PreambleStatus::bad_port);
    EXPECT_EQ(status({1, 6, 0, 0, 0x20, 0x01}), PreambleStatus::bad_port);
    EXPECT_EQ(status({1, 4, 0}), PreambleStatus::need_more);  // port 0x00.. may still be non-zero
    EXPECT_EQ(status({1, 4, 0, 1, 127, 0, 0, 1}), PreambleStatus::ok);
    EXPECT_EQ(out.port, 1);
    EXPECT_EQ(status({1, 4, 0xff, 0xff, 127, 0, 0, 1}), PreambleStatus::ok);
    EXPECT_EQ(out.port, 65535);
    for (auto s : {PreambleStatus::ok, PreambleStatus::need_more, PreambleStatus::bad_version,
                   PreambleStatus::bad_family, PreambleStatus::bad_port})
        EXPECT_NE(to_string(s), "unknown");
}

}  // namespace
}  // namespace sluice::streams
