// Tests of the sluicectl control protocol: exact bytes of the header, round
// trips of every request and response, frames cut at every byte, each kind of
// broken frame refused with its own error, payload rules, and the handler
// table the daemon will fill.
#include "control/ctl_protocol.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <ostream>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "control/sluicectl_args.hpp"  // render_text, render_json

namespace sluice::ctl {

// gtest shows an Errc by name rather than as a byte.
void PrintTo(Errc code, std::ostream* os) {
    *os << errc_name(code);
}

namespace {

using Bytes = std::vector<uint8_t>;

Key key_of(uint8_t fill) {
    Key k;
    k.fill(fill);
    k[0] = 0x42;
    return k;
}

IpPrefix prefix(std::string_view text) {
    return *parse_ip_prefix(text);
}
IpAddress address(std::string_view text) {
    return *parse_ip_address(text);
}

// One of each request, every field set to something other than its default.
std::vector<Request> sample_requests() {
    PeerAddRequest add;
    add.public_key = key_of(0x11);
    add.name = "site-b";
    add.preshared_key = key_of(0x22);
    add.endpoint = SocketAddress{address("2001:db8::7"), 51820};
    add.allowed_ips = {prefix("10.2.0.0/16"), prefix("fd00:2::/64"), prefix("192.0.2.1/32")};
    add.persistent_keepalive = 25;
    PeerAddRequest bare;  // no optional fields at all
    bare.public_key = key_of(0x12);
    return {VersionRequest{},
            ShowRequest{},
            ShowLcoresRequest{},
            ShowPortsRequest{},
            ShowDropsRequest{},
            StatsRequest{},
            add,
            bare,
            PeerRemoveRequest{key_of(0x33)},
            PeerRemoveRequest{std::string("site b")},
            ReloadRequest{},
            ShowNeighboursRequest{},
            ShowStreamsRequest{}};
}

ShowResponse sample_show() {
    ShowResponse show;
    show.interface = {"wg0",    key_of(0x44), 51820,
                      "kernel", 1420,         {prefix("10.0.0.1/24"), prefix("fd00::1/64")}};
    PeerInfo a;
    a.public_key = key_of(0x55);
    a.name = "site-a";
    a.has_preshared_key = true;
    a.endpoint = SocketAddress{address("192.0.2.9"), 4500};
    a.allowed_ips = {prefix("10.1.0.0/16")};
    a.handshake_age_ms = 65'432;
    a.persistent_keepalive = 25;
    a.rx_bytes = 1'268'000;
    a.tx_bytes = 3'565'158;
    a.keypairs = {{KeypairSlot::current, 0x1234abcd, 0x5678ef01, 65'000, true, 1234},
                  {KeypairSlot::previous, 7, 8, 185'000, false, 99999}};
    PeerInfo b;  // never handshaken, no endpoint, no name
    b.public_key = key_of(0x66);
    show.peers = {a, b};
    return show;
}

// Every state once, on two ports; counters all different.
NeighboursResponse sample_neighbours() {
    const MacAddress mac_a = {0x02, 0x00, 0x5e, 0x10, 0x00, 0x01};
    const MacAddress mac_b = {0x02, 0x00, 0x5e, 0x10, 0x00, 0x02};
    NeighbourPort lan{"lan", {}, {}};
    lan.neighbours = {
        {address("10.0.1.2"), NeighbourState::reachable, mac_a, 0, 0, 1200, 28800},
        {address("10.0.1.9"), NeighbourState::incomplete, std::nullopt, 2, 3, 1400, 600},
        {address("fd00:1::2"), NeighbourState::probing, mac_a, 1, 0, 200, 800},
        {address("fd00:1::9"), NeighbourState::failed, std::nullopt, 3, 0, 500, 2500},
    };
    lan.counters = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18};
    NeighbourPort wan{"wan", {}, {}};
    wan.neighbours = {{address("192.0.2.254"), NeighbourState::permanent, mac_b, 0, 0, std::nullopt,
                       std::nullopt}};
    return {"dpdk", {lan, wan}};
}

// Two sessions, one open with streams and counters, one closed by the peer;
// every field set.
StreamsResponse sample_streams() {
    StreamSession open;
    open.peer = "site-b";
    open.state = "open";
    open.session_id = 0x2a;
    open.peer_session_id = 0x17;
    open.srtt_us = 12'345;
    open.min_rtt_us = 850;
    open.rttvar_us = 2'500;
    open.cwnd = 123'456;
    open.ssthresh = UINT64_MAX;
    open.bytes_in_flight = 4096;
    open.tx_max_data = 4'194'304;
    open.tx_data = 1'048'576;
    open.rx_max_data = 4'194'304;
    open.rx_data = 524'288;
    open.rx_window = 2'097'152;
    open.tx_max_streams = 100;
    open.rx_max_streams = 64;
    open.buffered = 8192;
    open.counters = {{"packets_sent", 10}, {"packets_received", 12}, {"bytes_sent", 1ull << 40}};
    open.streams = {
        {0, true, "open", "ssh", 1024, 1000, 65536, 2048, 2000, 65536, 131072, 48, true, false},
        {3, false, "half-closed-remote", "127.0.0.1:2222 -> 10.0.0.7:22", 10, 5, 65536, 300, 100,
         65536, 65536, 200, false, true},
    };
    // Every number different, so that a swapped field shows.
    StreamSession closed;
    closed.peer = "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=";
    closed.state = "closed";
    closed.session_id = 7;
    closed.peer_session_id = 9;
    closed.close_error = "credit_overrun";
    closed.closed_by_peer = true;
    closed.close_reason = "stream 4: 70000 beyond 65536";
    uint64_t next = 1;
    for (uint64_t* field :
         {&closed.srtt_us, &closed.min_rtt_us, &closed.rttvar_us, &closed.cwnd, &closed.ssthresh,
          &closed.bytes_in_flight, &closed.tx_max_data, &closed.tx_data, &closed.rx_max_data,
          &closed.rx_data, &closed.rx_window, &closed.tx_max_streams, &closed.rx_max_streams,
          &closed.buffered})
        *field = next++;
    return {true, 64ull << 20, 20 * 1024, {}, {open, closed}};
}

std::vector<Response> sample_responses() {
    LcoresResponse lcores{{{1, "worker", {10, 1000, 20, 2000, 3}, 500, 1000, 7, 8},
                           {2, "worker", {11, 1100, 21, 2100, 0}, 0, 0}}};
    PortInfo wan{0, "wan", "kernel-udp", "eth1", true, 10000, 1500, 2, 2, {1, 2, 3, 4, 5, 6, 7}};
    PortInfo lan{1, "lan", "tun", "wg0", false, 0, 1420, 1, 1, {8, 9, 10, 11, 12, 13, 14}};
    wan.why = "auto: 0000:03:00.0 is bound to vfio-pci";
    wan.notes = "RSS over 2 queues on IP addresses and UDP ports; TX bursts of 32";
    wan.xstats = {{"rx_good_packets", 1}, {"rx_q0_bytes", 1ull << 40}, {"mac_remote_errors", 3}};
    DropsResponse drops{{1, 2}, {{"replay", {5, 6}}, {"auth_failed", {0, 1}}}};
    StatsResponse stats{
        123'456'789'000, {{0, "wan", {1, 2, 3, 4, 5, 6, 7}}}, {{1, {10, 1000, 20, 2000, 3}}}};
    return {VersionResponse{"0.1.0", kProtocolVersion, "wg0", "kernel", 3723},
            sample_show(),
            ShowResponse{{"wg1", key_of(0x45), 1, "dpdk", 9000, {}}, {}},
            lcores,
            PortsResponse{{wan, lan}},
            drops,
            DropsResponse{},
            stats,
            PeerAddResponse{},
            PeerRemoveResponse{key_of(0x77), "site-c"},
            ReloadResponse{1, 2, 3, {"peers[0]: a warning", "another one"}},
            sample_neighbours(),
            NeighboursResponse{"kernel", {}},
            sample_streams(),
            StreamsResponse{true, 1 << 20, 0, {{"connections_accepted", 3}}, {}},
            StreamsResponse{}};
}

Bytes encoded(const Request& r, uint32_t id = 7) {
    return encode_request(r, id).value();
}

// Feeds `bytes` to a reader in pieces of `chunk` bytes and collects frames.
struct ReadAll {
    std::vector<Frame> frames;
    FrameReader reader;
};

ReadAll read_all(Kind expect, const Bytes& bytes, size_t chunk, uint32_t limit) {
    ReadAll out{{}, FrameReader(expect, limit)};
    size_t at = 0;
    while (at < bytes.size() && out.reader.state() != FrameReader::State::failed) {
        const size_t n = std::min(chunk, bytes.size() - at);
        size_t used = 0;
        while (used < n) {
            used += out.reader.feed(std::span<const uint8_t>(bytes).subspan(at + used, n - used));
            if (out.reader.state() == FrameReader::State::frame_ready)
                out.frames.push_back(out.reader.take());
            else if (out.reader.state() == FrameReader::State::failed)
                break;
        }
        at += n;
    }
    if (out.reader.state() != FrameReader::State::failed) out.reader.finish();
    return out;
}

Frame one_frame(Kind expect, const Bytes& bytes) {
    auto r = read_all(expect, bytes, bytes.size(), kMaxResponsePayload);
    EXPECT_EQ(r.frames.size(), 1u);
    EXPECT_EQ(r.reader.state(), FrameReader::State::need_more);
    return r.frames.at(0);
}

Error reader_error(Kind expect, const Bytes& bytes, uint32_t limit = kMaxRequestPayload) {
    auto r = read_all(expect, bytes, bytes.size(), limit);
    EXPECT_EQ(r.reader.state(), FrameReader::State::failed);
    return r.reader.error();
}

// A header by hand, for the frames an encoder would never make.
Bytes raw_header(uint16_t version, uint16_t command, uint8_t kind, uint32_t id, uint32_t status,
                 uint32_t length) {
    Bytes b = {'S', 'L', 'C', 'T'};
    auto le = [&b](uint64_t v, int n) {
        for (int i = 0; i < n; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
    };
    le(version, 2);
    le(command, 2);
    b.push_back(kind);
    le(0, 3);
    le(id, 4);
    le(status, 4);
    le(length, 4);
    return b;
}

Frame frame_with(uint16_t command, Kind kind, const Bytes& payload, uint32_t status = 0) {
    return Frame{
        Header{kProtocolVersion, command, kind, 9, status, static_cast<uint32_t>(payload.size())},
        payload};
}

// ---- The header, byte by byte ------------------------------------------------------------

TEST(CtlHeader, ExactBytesOfARequest) {
    const Bytes b = encoded(VersionRequest{}, 0x01020304);
    const Bytes want = {'S', 'L', 'C', 'T', 1, 0, 1, 0, 0, 0, 0, 0,
                        4,   3,   2,   1,   0, 0, 0, 0, 0, 0, 0, 0};
    EXPECT_EQ(b, want);
    EXPECT_EQ(b.size(), kHeaderSize);
}

TEST(CtlHeader, ExactBytesOfPeerRemoveByName) {
    const Bytes b = encoded(PeerRemoveRequest{std::string("ab")}, 5);
    const Bytes want = {'S', 'L', 'C', 'T', 1, 0, 8, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0,
                        0,
                        // tag 2 (name), length 2, "ab"
                        2, 2, 0, 'a', 'b'};
    EXPECT_EQ(b, want);
}

TEST(CtlHeader, ExactBytesOfAFailure) {
    const Bytes b = encode_failure(8, 5, {ENOENT, "no"});
    const Bytes want = {'S', 'L', 'C', 'T', 1, 0, 8, 0, 1, 0, 0, 0, 5,   0,
                        0,   0,   2,   0,   0, 0, 4, 0, 0, 0, 2, 0, 'n', 'o'};
    EXPECT_EQ(b, want);
}

TEST(CtlHeader, EncodeFrameSetsTheLength) {
    const Bytes payload = {1, 2, 3};
    const Bytes b = encode_frame(Header{kProtocolVersion, 2, Kind::response, 1, 0, 999}, payload);
    ASSERT_EQ(b.size(), kHeaderSize + 3);
    EXPECT_EQ(b[20], 3);
    EXPECT_EQ(b[21], 0);
}

// ---- Round trips -----------------------------------------------------------------------

TEST(CtlRoundTrip, EveryRequest) {
    uint32_t id = 1;
    for (const Request& r : sample_requests()) {
        SCOPED_TRACE(std::string(command_name(command_of(r))));
        const Bytes b = encoded(r, id);
        const Frame f = one_frame(Kind::request, b);
        EXPECT_EQ(f.header.request_id, id);
        EXPECT_EQ(f.header.command, static_cast<uint16_t>(command_of(r)));
        const auto back = decode_request(f);
        ASSERT_TRUE(back.ok()) << describe(back.error());
        EXPECT_EQ(back.value(), r);
        // The encoding is canonical: the decoded value encodes to the same bytes.
        EXPECT_EQ(encoded(back.value(), id), b);
        ++id;
    }
}

TEST(CtlRoundTrip, EveryResponse) {
    uint32_t id = 100;
    for (const Response& r : sample_responses()) {
        SCOPED_TRACE(std::string(command_name(command_of(r))));
        const Bytes b = encode_response(r, id);
        const Frame f = one_frame(Kind::response, b);
        EXPECT_EQ(f.header.status, 0u);
        const auto back = decode_response(f, command_of(r), id);
        ASSERT_TRUE(back.ok()) << describe(back.error());
        EXPECT_EQ(back.value(), r);
        EXPECT_EQ(encode_response(back.value(), id), b);
        ++id;
    }
}

TEST(CtlRoundTrip, FailureBecomesDaemonError) {
    const Bytes b = encode_failure(8, 3, {ENOENT, "no peer named \"x\""});
    const auto back = decode_response(one_frame(Kind::response, b), Command::peer_remove, 3);
    ASSERT_FALSE(back.ok());
    EXPECT_EQ(back.error().code, Errc::daemon_error);
    EXPECT_EQ(back.error().status, static_cast<uint32_t>(ENOENT));
    EXPECT_EQ(back.error().detail, "no peer named \"x\"");
    EXPECT_EQ(describe(back.error()), "no peer named \"x\" (ENOENT)");
}

TEST(CtlRoundTrip, FailureWithoutMessageUsesStrerror) {
    const Bytes b = encode_failure(9, 1, {EACCES, ""});
    const auto back = decode_response(one_frame(Kind::response, b));
    EXPECT_EQ(describe(back.error()), "Permission denied (EACCES)");
}

TEST(CtlRoundTrip, FailureMessagesAreMadeOneLine) {
    const Bytes b = encode_failure(9, 1, {0, "line one\nline two\x1b[31m \xff"});
    const auto back = decode_response(one_frame(Kind::response, b));
    ASSERT_EQ(back.error().code, Errc::daemon_error);
    EXPECT_EQ(back.error().status, static_cast<uint32_t>(EIO));  // 0 must not read as success
    EXPECT_EQ(back.error().detail, "line one?line two?[31m ?");
}

TEST(CtlRoundTrip, LongFailureMessageIsCut) {
    const Bytes b = encode_failure(9, 1, {EINVAL, std::string(10000, 'x')});
    const auto back = decode_response(one_frame(Kind::response, b));
    EXPECT_EQ(back.error().detail.size(), kMaxText);
}

// ---- Frames cut anywhere ---------------------------------------------------------------

Bytes all_requests_in_one_stream() {
    Bytes stream;
    uint32_t id = 1;
    for (const Request& r : sample_requests()) {
        const Bytes b = encoded(r, id++);
        stream.insert(stream.end(), b.begin(), b.end());
    }
    return stream;
}

TEST(CtlFrameReader, SplitAtEveryByte) {
    for (const Request& r : sample_requests()) {
        const Bytes b = encoded(r);
        for (size_t cut = 0; cut <= b.size(); ++cut) {
            FrameReader reader(Kind::request, kMaxRequestPayload);
            const std::span<const uint8_t> all(b);
            size_t used = reader.feed(all.first(cut));
            EXPECT_EQ(used, cut);
            used += reader.feed(all.subspan(cut));
            ASSERT_EQ(reader.state(), FrameReader::State::frame_ready) << "cut at " << cut;
            EXPECT_EQ(used, b.size());
            EXPECT_EQ(decode_request(reader.take()).value(), r);
            EXPECT_TRUE(reader.between_frames());
        }
    }
}

TEST(CtlFrameReader, StreamOfFramesInEveryChunkSize) {
    const Bytes stream = all_requests_in_one_stream();
    const auto want = sample_requests();
    for (size_t chunk = 1; chunk <= stream.size(); chunk += (chunk < 64 ? 1 : 37)) {
        SCOPED_TRACE(chunk);
        auto r = read_all(Kind::request, stream, chunk, kMaxRequestPayload);
        ASSERT_EQ(r.reader.state(), FrameReader::State::need_more);
        ASSERT_EQ(r.frames.size(), want.size());
        for (size_t i = 0; i < want.size(); ++i) {
            EXPECT_EQ(r.frames[i].header.request_id, i + 1);
            EXPECT_EQ(decode_request(r.frames[i]).value(), want[i]);
        }
    }
}

TEST(CtlFrameReader, StopsAtTheEndOfEachFrame) {
    const Bytes stream = all_requests_in_one_stream();
    FrameReader reader(Kind::request, kMaxRequestPayload);
    const size_t first = encoded(VersionRequest{}).size();
    EXPECT_EQ(reader.feed(stream), first);
    EXPECT_EQ(reader.state(), FrameReader::State::frame_ready);
    // Feeding while a frame waits takes nothing.
    EXPECT_EQ(reader.feed(std::span<const uint8_t>(stream).subspan(first)), 0u);
}

TEST(CtlFrameReader, TruncatedAtEveryLength) {
    const Bytes b = encoded(sample_requests()[6]);
    for (size_t len = 1; len < b.size(); ++len) {
        FrameReader reader(Kind::request, kMaxRequestPayload);
        reader.feed(std::span<const uint8_t>(b).first(len));
        ASSERT_EQ(reader.state(), FrameReader::State::need_more);
        reader.finish();
        ASSERT_EQ(reader.state(), FrameReader::State::failed) << len;
        EXPECT_EQ(reader.error().code, Errc::truncated);
        EXPECT_TRUE(reader.error_reply().empty());
    }
}

TEST(CtlFrameReader, TruncatedMessageSaysHowFar) {
    const Bytes b = encoded(PeerRemoveRequest{std::string("ab")});
    FrameReader reader(Kind::request, kMaxRequestPayload);
    reader.feed(std::span<const uint8_t>(b).first(26));
    reader.finish();
    EXPECT_EQ(describe(reader.error()),
              "the connection closed inside a frame: after 26 of 29 bytes");
    FrameReader early(Kind::request, kMaxRequestPayload);
    early.feed(std::span<const uint8_t>(b).first(3));
    early.finish();
    EXPECT_EQ(early.error().detail, "after 3 of at least 24 bytes");
}

TEST(CtlFrameReader, ClosingBetweenFramesIsFine) {
    FrameReader reader(Kind::request, kMaxRequestPayload);
    reader.finish();
    EXPECT_EQ(reader.state(), FrameReader::State::need_more);
}

TEST(CtlFrameReader, OversizedIsRefusedFromTheHeaderAlone) {
    const Bytes h = raw_header(1, 7, 0, 4, 0, kMaxRequestPayload + 1);
    FrameReader reader(Kind::request, kMaxRequestPayload);
    EXPECT_EQ(reader.feed(h), kHeaderSize);
    ASSERT_EQ(reader.state(), FrameReader::State::failed);
    EXPECT_EQ(reader.error().code, Errc::oversized);
    EXPECT_EQ(describe(reader.error()),
              "frame too large: payload of 262145 bytes, the limit is 262144");
    // The daemon can say why before it closes.
    const auto reply = decode_response(one_frame(Kind::response, reader.error_reply()));
    ASSERT_EQ(reply.error().code, Errc::daemon_error);
    EXPECT_EQ(reply.error().status, static_cast<uint32_t>(EMSGSIZE));
}

TEST(CtlFrameReader, ExactlyAtTheLimitIsAccepted) {
    Bytes b = raw_header(1, 2, 1, 4, 0, 100);
    b.resize(b.size() + 100, 0);
    auto r = read_all(Kind::response, b, 7, 100);
    EXPECT_EQ(r.frames.size(), 1u);
    EXPECT_EQ(reader_error(Kind::response, b, 99).code, Errc::oversized);
}

TEST(CtlFrameReader, WrongVersionIsAnsweredInOurs) {
    const Bytes h = raw_header(2, 2, 0, 77, 0, 0);
    FrameReader reader(Kind::request, kMaxRequestPayload);
    reader.feed(h);
    ASSERT_EQ(reader.state(), FrameReader::State::failed);
    EXPECT_EQ(reader.error().code, Errc::wrong_version);
    EXPECT_EQ(reader.error().version, 2);
    EXPECT_EQ(describe(reader.error()),
              "control protocol version mismatch: the other end speaks version 2, this end "
              "speaks version 1 (use sluicectl and sluiced from the same release)");
    // The reply: our version, the request's id and command, EPROTONOSUPPORT.
    // A client of version 2 stops at the version; one of ours could read on.
    const Frame f = one_frame(Kind::response, reader.error_reply());
    EXPECT_EQ(f.header.version, 1);
    EXPECT_EQ(f.header.command, 2);
    EXPECT_EQ(f.header.request_id, 77u);
    EXPECT_EQ(f.header.status, static_cast<uint32_t>(EPROTONOSUPPORT));
    const auto back = decode_response(f);
    EXPECT_EQ(back.error().detail, describe(reader.error()));
}

TEST(CtlFrameReader, ClientSeesADaemonOfAnotherVersion) {
    // What a version-1 client gets from a version-3 daemon: the header alone
    // is enough to say so, whatever the payload holds.
    Bytes reply = raw_header(3, 2, 1, 5, EPROTONOSUPPORT, 4);
    reply.insert(reply.end(), {0xde, 0xad, 0xbe, 0xef});
    const Error e = reader_error(Kind::response, reply, kMaxResponsePayload);
    EXPECT_EQ(e.code, Errc::wrong_version);
    EXPECT_EQ(e.version, 3);
}

TEST(CtlFrameReader, BadMagicFailsOnTheFirstWrongByte) {
    const Bytes http = {'G', 'E', 'T', ' ', '/', ' ', 'H', 'T', 'T', 'P'};
    FrameReader reader(Kind::request, kMaxRequestPayload);
    EXPECT_EQ(reader.feed(http), 1u);
    EXPECT_EQ(reader.error().code, Errc::bad_magic);
    EXPECT_TRUE(reader.error_reply().empty());  // not our protocol: no answer

    Bytes late = encoded(VersionRequest{});
    late[3] = 'X';
    FrameReader r2(Kind::request, kMaxRequestPayload);
    EXPECT_EQ(r2.feed(std::span<const uint8_t>(late).first(3)), 3u);
    EXPECT_EQ(r2.state(), FrameReader::State::need_more);
    EXPECT_EQ(r2.feed(std::span<const uint8_t>(late).subspan(3)), 1u);
    EXPECT_EQ(r2.error().code, Errc::bad_magic);
}

TEST(CtlFrameReader, ErrorsAreSticky) {
    FrameReader reader(Kind::request, kMaxRequestPayload);
    reader.feed(Bytes{'X'});
    const Bytes good = encoded(VersionRequest{});
    EXPECT_EQ(reader.feed(good), 0u);
    EXPECT_EQ(reader.state(), FrameReader::State::failed);
    reader.finish();
    EXPECT_EQ(reader.error().code, Errc::bad_magic);
}

TEST(CtlFrameReader, ReservedBytesKindAndStatusAreChecked) {
    Bytes reserved = raw_header(1, 2, 0, 1, 0, 0);
    reserved[10] = 1;
    EXPECT_EQ(reader_error(Kind::request, reserved).code, Errc::bad_header);

    EXPECT_EQ(reader_error(Kind::request, raw_header(1, 2, 7, 1, 0, 0)).code, Errc::bad_header);
    const Error status = reader_error(Kind::request, raw_header(1, 2, 0, 1, 5, 0));
    EXPECT_EQ(status.code, Errc::bad_header);
    EXPECT_EQ(status.detail, "a request with a non-zero status");
    const Error errno_range =
        reader_error(Kind::response, raw_header(1, 2, 1, 1, kMaxStatus + 1, 0));
    EXPECT_EQ(errno_range.code, Errc::bad_header);
    EXPECT_EQ(errno_range.detail, "status 4096 is not an errno");
}

TEST(CtlFrameReader, WrongDirection) {
    const Bytes response = encode_response(PeerAddResponse{}, 1);
    const Error at_daemon = reader_error(Kind::request, response);
    EXPECT_EQ(at_daemon.code, Errc::wrong_direction);
    EXPECT_EQ(at_daemon.detail, "a response where a request belongs");
    const Error at_client = reader_error(Kind::response, encoded(ShowRequest{}));
    EXPECT_EQ(at_client.code, Errc::wrong_direction);
}

TEST(CtlFrameReader, ErrorReplyOnlyAtTheDaemon) {
    FrameReader client(Kind::response, 10);
    client.feed(raw_header(1, 2, 1, 1, 0, 11));
    EXPECT_EQ(client.error().code, Errc::oversized);
    EXPECT_TRUE(client.error_reply().empty());
}

// ---- Decoding whole frames ------------------------------------------------------------------

TEST(CtlDecode, UnknownCommand) {
    const Bytes b = raw_header(1, 99, 0, 3, 0, 0);
    const Frame f = one_frame(Kind::request, b);  // framing is intact
    const auto r = decode_request(f);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::unknown_command);
    EXPECT_EQ(r.error().command, 99);
    EXPECT_EQ(describe(r.error()), "unknown command id 99 (control protocol 1)");
    EXPECT_EQ(decode_request(frame_with(0, Kind::request, {})).error().code, Errc::unknown_command);
    EXPECT_EQ(decode_response(frame_with(kCommandCount + 1, Kind::response, {})).error().code,
              Errc::unknown_command);
}

TEST(CtlDecode, SizeCheckFromTheCommandTable) {
    const auto r = decode_request(frame_with(2, Kind::request, {0}));
    EXPECT_EQ(r.error().code, Errc::bad_size);
    EXPECT_EQ(r.error().detail, "show takes no payload, got 1");
    const auto remove = decode_request(frame_with(8, Kind::request, {1}));
    EXPECT_EQ(remove.error().code, Errc::bad_size);
    EXPECT_EQ(remove.error().detail, "peer remove takes 4..67 bytes, got 1");
}

TEST(CtlDecode, EveryRequestFitsItsTableEntry) {
    for (const Request& r : sample_requests()) {
        const size_t size = encoded(r).size() - kHeaderSize;
        const CommandSpec& spec = spec_of(command_of(r));
        EXPECT_GE(size, spec.min_request_payload) << spec.name;
        EXPECT_LE(size, spec.max_request_payload) << spec.name;
    }
    // The shortest possible ones sit exactly on the minimum.
    EXPECT_EQ(encoded(PeerAddRequest{}).size() - kHeaderSize,
              spec_of(Command::peer_add).min_request_payload);
    EXPECT_EQ(encoded(PeerRemoveRequest{std::string("a")}).size() - kHeaderSize,
              spec_of(Command::peer_remove).min_request_payload);
}

TEST(CtlDecode, LengthFieldMustMatchThePayload) {
    Frame f = frame_with(2, Kind::request, {});
    f.header.payload_length = 3;
    EXPECT_EQ(decode_request(f).error().code, Errc::bad_header);
}

TEST(CtlDecode, MismatchedReply) {
    const Frame f = one_frame(Kind::response, encode_response(PeerAddResponse{}, 5));
    EXPECT_TRUE(decode_response(f, Command::peer_add, 5).ok());
    const auto id = decode_response(f, Command::peer_add, 6);
    EXPECT_EQ(id.error().code, Errc::mismatched_reply);
    EXPECT_EQ(id.error().detail, "sent request id 6, the reply carries 5");
    const auto command = decode_response(f, Command::show, 5);
    EXPECT_EQ(command.error().code, Errc::mismatched_reply);
    EXPECT_EQ(command.error().detail, "sent show, the reply is for command id 7");
}

// Encodes a peer add request and lets the test break its payload.
Frame peer_add_frame(const PeerAddRequest& r) {
    return one_frame(Kind::request, encoded(r));
}

// Decodes a frame whose payload a test edited; Error{} when it decodes.
Error decode_error(Frame f) {
    f.header.payload_length = static_cast<uint32_t>(f.payload.size());
    if (f.header.kind == Kind::request) {
        const auto r = decode_request(f);
        return r.ok() ? Error{} : r.error();
    }
    const auto r = decode_response(f);
    return r.ok() ? Error{} : r.error();
}

TEST(CtlDecode, ShortPayload) {
    // Below the table's minimum the size check answers first (bad_size).
    Frame f = peer_add_frame(std::get<PeerAddRequest>(sample_requests()[6]));
    for (size_t cut = spec_of(Command::peer_add).min_request_payload; cut < f.payload.size();
         ++cut) {
        Frame g = f;
        g.payload.resize(cut);
        EXPECT_EQ(decode_error(g).code, Errc::short_payload) << cut;
    }
    // Every response, cut by one byte (where it has a payload at all).
    for (const Response& r : sample_responses()) {
        Frame g = one_frame(Kind::response, encode_response(r, 1));
        if (g.payload.empty()) continue;
        g.payload.pop_back();
        EXPECT_EQ(decode_error(g).code, Errc::short_payload) << command_name(command_of(r));
    }
}

TEST(CtlDecode, TrailingBytes) {
    for (const Response& r : sample_responses()) {
        Frame g = one_frame(Kind::response, encode_response(r, 1));
        g.payload.push_back(0);
        const Error e = decode_error(g);
        EXPECT_EQ(e.code, Errc::trailing_bytes) << command_name(command_of(r));
        EXPECT_EQ(e.detail, "1 bytes");
    }
    Frame f = peer_add_frame(std::get<PeerAddRequest>(sample_requests()[7]));
    f.payload.push_back(0);
    EXPECT_EQ(decode_error(f).code, Errc::trailing_bytes);
}

// Offsets in the bare peer add payload: key 0..31, name length 32..33,
// psk flag 34, endpoint flag 35, allowed-IPs count 36..39, keepalive 40..41.
TEST(CtlDecode, BadFlagsAndCounts) {
    const Frame bare = peer_add_frame(std::get<PeerAddRequest>(sample_requests()[7]));
    ASSERT_EQ(bare.payload.size(), 42u);

    Frame psk = bare;
    psk.payload[34] = 2;
    EXPECT_EQ(decode_error(psk).detail, "preshared_key: presence flag not 0 or 1");

    Frame count = bare;
    count.payload[36] = 200;  // 200 prefixes announced, 2 bytes left
    const Error c = decode_error(count);
    EXPECT_EQ(c.code, Errc::short_payload);
    EXPECT_EQ(c.detail, "allowed_ips: 200 entries announced, 2 bytes left");

    Frame huge = bare;
    huge.payload[39] = 0x7f;  // above kMaxAllowedIps
    const Error h = decode_error(huge);
    EXPECT_EQ(h.code, Errc::bad_value);
    EXPECT_EQ(h.detail, "allowed_ips: 2130706432 entries, at most 65536");

    Frame name_len = bare;
    name_len.payload[32] = 65;  // a 65-byte name
    EXPECT_EQ(decode_error(name_len).detail, "name: text of 65 bytes, at most 64");
}

TEST(CtlDecode, BadAddressesAndPrefixes) {
    PeerAddRequest r;
    r.endpoint = SocketAddress{address("192.0.2.1"), 80};
    r.allowed_ips = {prefix("10.0.0.0/8")};
    const Frame f = peer_add_frame(r);
    // endpoint: flag 35, family 36, address 37..40, port 41..42;
    // allowed IPs: count 43..46, family 47, address 48..51, length 52.
    ASSERT_EQ(f.payload.size(), 55u);

    Frame family = f;
    family.payload[36] = 5;
    EXPECT_EQ(decode_error(family).detail, "endpoint: address family not 4 or 6");
    Frame port = f;
    port.payload[41] = 0;
    port.payload[42] = 0;
    EXPECT_EQ(decode_error(port).detail, "endpoint: port 0");
    Frame length = f;
    length.payload[52] = 33;
    EXPECT_EQ(decode_error(length).detail, "allowed_ips[0]: prefix length out of range");
    Frame host_bits = f;
    host_bits.payload[49] = 1;  // 10.1.0.0/8
    const Error hb = decode_error(host_bits);
    EXPECT_EQ(hb.code, Errc::bad_value);
    EXPECT_EQ(hb.detail, "allowed_ips: a prefix has bits set past its length");
}

TEST(CtlDecode, DuplicatesAndNames) {
    PeerAddRequest twice;
    twice.allowed_ips = {prefix("10.0.0.0/8"), prefix("10.0.0.0/8")};
    EXPECT_EQ(encode_request(twice, 1).error().detail, "allowed_ips: a prefix appears twice");

    PeerAddRequest named;
    named.name = " padded";
    const auto e = encode_request(named, 1);
    ASSERT_FALSE(e.ok());  // the encoder refuses what the decoder would
    EXPECT_EQ(e.error().code, Errc::bad_value);

    // The same bytes, forced through: the decoder refuses them too.
    named.name = "xpadded";
    Frame f = peer_add_frame(named);
    f.payload[34] = ' ';
    EXPECT_EQ(decode_error(f).detail,
              "name: a peer name is 1 to 64 printable ASCII characters, no space at either end");
}

TEST(CtlDecode, TextRules) {
    PeerRemoveResponse r{key_of(1), "abc"};
    const Frame f = one_frame(Kind::response, encode_response(r, 1));
    // name: length at 32..33, text at 34..36.
    for (const uint8_t bad : {uint8_t{'\n'}, uint8_t{0x1b}, uint8_t{0x7f}, uint8_t{0xff},
                              uint8_t{0xc0}, uint8_t{0x00}}) {
        Frame g = f;
        g.payload[35] = bad;
        EXPECT_EQ(decode_error(g).detail, "name: text is not printable UTF-8 on one line")
            << int(bad);
    }
    // Warnings may hold any printable UTF-8, but no C1 controls or surrogates.
    ReloadResponse ok{0, 0, 0, {"caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x94\x91"}};
    EXPECT_EQ(decode_response(one_frame(Kind::response, encode_response(ok, 1))).value(),
              Response(ok));
    for (const char* bad :
         {"\xc2\x9b", "\xed\xa0\x80", "\xe0\x80\xaf", "\xf4\x90\x80\x80", "\xc3"}) {
        const Bytes reply = encode_response(ReloadResponse{0, 0, 0, {bad}}, 1);
        const auto back = decode_response(one_frame(Kind::response, reply));
        ASSERT_EQ(back.error().code, Errc::daemon_error);
        EXPECT_EQ(back.error().status, static_cast<uint32_t>(EPROTO));
        EXPECT_EQ(back.error().detail,
                  "sluiced built an invalid reply: warnings[0]: text is not printable UTF-8 on "
                  "one line");
    }
}

TEST(CtlDecode, VariantTags) {
    Frame f = one_frame(Kind::request, encoded(PeerRemoveRequest{key_of(3)}));
    for (const uint8_t tag : {0, 3, 255}) {
        Frame g = f;
        g.payload[0] = tag;
        EXPECT_EQ(decode_error(g).detail, "peer: unknown alternative") << int(tag);
    }
}

TEST(CtlDecode, ResponseRules) {
    auto refused = [](const Response& r) {
        const auto back = decode_response(one_frame(Kind::response, encode_response(r, 1)));
        EXPECT_FALSE(back.ok());
        EXPECT_EQ(back.error().status, static_cast<uint32_t>(EPROTO));
        return back.ok() ? std::string() : back.error().detail;
    };
    EXPECT_EQ(refused(DropsResponse{{1, 2}, {{"replay", {1}}}}),
              "sluiced built an invalid reply: rows: a row's column count differs from lcore_ids");
    EXPECT_EQ(refused(DropsResponse{{}, {{"Replay!", {}}}}),
              "sluiced built an invalid reply: rows[0].reason: not a snake_case reason name");
    EXPECT_EQ(refused(DropsResponse{{1, 1}, {}}),
              "sluiced built an invalid reply: lcore_ids: an lcore id appears twice");
    ShowResponse keys = sample_show();
    keys.peers[1].public_key = keys.peers[0].public_key;
    EXPECT_EQ(refused(keys), "sluiced built an invalid reply: peers: a public key appears twice");
    ShowResponse slots = sample_show();
    slots.peers[0].keypairs[1].slot = KeypairSlot::current;
    EXPECT_EQ(refused(slots),
              "sluiced built an invalid reply: peers[0].keypairs: two keypairs in one slot");
    ShowResponse unnamed = sample_show();
    unnamed.interface.name = "";
    EXPECT_EQ(refused(unnamed), "sluiced built an invalid reply: interface.name: not a name");
    LcoresResponse dup{{{1, "worker", {}, 0, 0}, {1, "worker", {}, 0, 0}}};
    EXPECT_EQ(refused(dup), "sluiced built an invalid reply: lcores: an lcore id appears twice");
}

TEST(CtlDecode, KeypairSlotAndBoolRange) {
    ShowResponse s;
    s.interface.name = "wg0";
    PeerInfo p;
    p.keypairs = {{KeypairSlot::next, 1, 2, 3, true, 4}};
    s.peers = {p};
    const Frame f = one_frame(Kind::response, encode_response(s, 1));
    // The keypair is the last 26 bytes: slot, two indices, age, flag, counter.
    Frame slot = f;
    slot.payload[slot.payload.size() - 26] = 3;
    EXPECT_EQ(decode_error(slot).detail, "peers[0].keypairs[0].slot: keypair slot not 0, 1 or 2");
    Frame flag = f;
    flag.payload[flag.payload.size() - 9] = 2;
    EXPECT_EQ(decode_error(flag).detail, "peers[0].keypairs[0].we_initiated: boolean not 0 or 1");
}

TEST(CtlDecode, HostileCountsDoNotAllocate) {
    // A response claiming 2^32-1 peers in 4 bytes: refused from the count,
    // before a single element is built.
    ShowResponse s;
    s.interface.name = "x";
    Frame f = one_frame(Kind::response, encode_response(s, 1));
    const size_t count_at = f.payload.size() - 4;
    for (size_t i = 0; i < 4; ++i) f.payload[count_at + i] = 0xff;
    const Error e = decode_error(f);
    EXPECT_EQ(e.code, Errc::bad_value);
    EXPECT_EQ(e.detail, "peers: 4294967295 entries, at most 65536");
}

// show ports: the port's why, notes and xstats (the last fields of a port).
PortsResponse one_port(std::vector<Xstat> xstats) {
    PortInfo p{0, "wan", "net_ixgbe", "0000:03:00.0", true, 10000, 1500, 2, 2, {}};
    p.why = "auto: 0000:03:00.0 is bound to vfio-pci";
    p.notes = "RSS over 2 queues on IP addresses and UDP ports";
    p.xstats = std::move(xstats);
    return PortsResponse{{p}};
}

TEST(CtlDecode, PortsCutAtEveryByte) {
    const Frame f = one_frame(
        Kind::response, encode_response(one_port({{"rx_q0_packets", 5}, {"tx_q0_packets", 6}}), 1));
    ASSERT_TRUE(decode_response(f).ok());
    for (size_t cut = 0; cut < f.payload.size(); ++cut) {
        Frame g = f;
        g.payload.resize(cut);
        EXPECT_EQ(decode_error(g).code, Errc::short_payload) << cut;
    }
}

TEST(CtlDecode, XstatCounts) {
    // No xstats: the count is the payload's last 4 bytes.
    const Frame f = one_frame(Kind::response, encode_response(one_port({}), 1));
    const size_t count_at = f.payload.size() - 4;
    Frame hostile = f;
    for (size_t i = 0; i < 4; ++i) hostile.payload[count_at + i] = 0xff;
    const Error h = decode_error(hostile);
    EXPECT_EQ(h.code, Errc::bad_value);
    EXPECT_EQ(h.detail, "ports[0].xstats: 4294967295 entries, at most 512");
    Frame lying = f;
    lying.payload[count_at] = 3;
    const Error l = decode_error(lying);
    EXPECT_EQ(l.code, Errc::short_payload);
    EXPECT_EQ(l.detail, "ports[0].xstats: 3 entries announced, 0 bytes left");

    // At the limit, with the longest names, is fine; one more is refused by
    // the daemon's encoder before it reaches a client.
    std::vector<Xstat> many;
    for (size_t i = 0; i < kMaxXstats; ++i) {
        std::string name = "x" + std::to_string(i);
        many.push_back({name + std::string(kMaxXstatName - name.size(), '_'), i});
    }
    const PortsResponse full = one_port(many);
    const auto back = decode_response(one_frame(Kind::response, encode_response(full, 1)));
    ASSERT_TRUE(back.ok()) << describe(back.error());
    EXPECT_EQ(back.value(), Response(full));
    many.push_back({"one_more", 1});
    const auto over =
        decode_response(one_frame(Kind::response, encode_response(one_port(many), 1)));
    ASSERT_FALSE(over.ok());
    EXPECT_EQ(over.error().status, static_cast<uint32_t>(EPROTO));
    EXPECT_EQ(over.error().detail,
              "sluiced built an invalid reply: ports[0].xstats: too many entries");
}

TEST(CtlDecode, XstatNames) {
    // One xstat "ab": name length, 2 bytes of name, then the u64 value.
    const Frame f = one_frame(Kind::response, encode_response(one_port({{"ab", 7}}), 1));
    const size_t len_at = f.payload.size() - 12;
    ASSERT_EQ(f.payload[len_at], 2);
    Frame longer = f;
    longer.payload[len_at] = 129;
    EXPECT_EQ(decode_error(longer).detail,
              "ports[0].xstats[0].name: text of 129 bytes, at most 128");
    Frame empty = f;
    empty.payload[len_at] = 0;
    empty.payload.erase(empty.payload.begin() + static_cast<long>(len_at) + 2,
                        empty.payload.begin() + static_cast<long>(len_at) + 4);
    EXPECT_EQ(decode_error(empty).detail,
              "ports[0].xstats[0].name: not an xstat name (1 to 128 characters 0x21..0x7E)");
    for (const uint8_t bad : {uint8_t{' '}, uint8_t{'\n'}, uint8_t{0x7f}, uint8_t{0xc3}}) {
        Frame g = f;
        g.payload[len_at + 3] = bad;
        EXPECT_EQ(decode_error(g).code, Errc::bad_value) << int(bad);
    }

    auto refused = [](const PortsResponse& r) {
        const auto back = decode_response(one_frame(Kind::response, encode_response(r, 1)));
        EXPECT_FALSE(back.ok());
        return back.ok() ? std::string() : back.error().detail;
    };
    EXPECT_EQ(refused(one_port({{"rx_errors", 1}, {"rx_errors", 2}})),
              "sluiced built an invalid reply: ports[0].xstats: a name appears twice");
    EXPECT_EQ(refused(one_port({{"rx errors", 1}})),
              "sluiced built an invalid reply: ports[0].xstats[0].name: not an xstat name (1 to "
              "128 characters 0x21..0x7E)");
    EXPECT_EQ(refused(one_port({{std::string(kMaxXstatName + 1, 'x'), 1}})),
              "sluiced built an invalid reply: ports[0].xstats[0].name: text too long");
    PortsResponse why = one_port({});
    why.ports[0].why = "auto\nkernel";
    EXPECT_EQ(refused(why),
              "sluiced built an invalid reply: ports[0].why: text is not printable UTF-8 on one "
              "line");
    PortsResponse notes = one_port({});
    notes.ports[0].notes = std::string(kMaxText + 1, 'n');
    EXPECT_EQ(refused(notes), "sluiced built an invalid reply: ports[0].notes: text too long");
}

TEST(CtlDecode, PortFieldsKeepTheirOrder) {
    // The fields of version 1 come first, as they were; why, notes and the
    // xstats follow the counters.
    PortsResponse r = one_port({{"a", 1}});
    r.ports[0].counters = {1, 2, 3, 4, 5, 6, 7};
    const Frame f = one_frame(Kind::response, encode_response(r, 1));
    const std::string why = r.ports[0].why;
    const std::string notes = r.ports[0].notes;
    // ports count 4, port_id 2, name 2+3, driver 2+9, device 2+12, link 1,
    // speed 4, mtu 2, queues 2+2, counters 56.
    const size_t counters_end = 4 + 2 + 5 + 11 + 14 + 1 + 4 + 2 + 4 + 56;
    ASSERT_EQ(f.payload.size(), counters_end + 2 + why.size() + 2 + notes.size() + 4 + 2 + 1 + 8);
    EXPECT_EQ(f.payload[counters_end - 8], 7);  // tx_errors, the last counter
    EXPECT_EQ(f.payload[counters_end], why.size());
    EXPECT_EQ(std::string(f.payload.begin() + static_cast<long>(counters_end) + 2,
                          f.payload.begin() + static_cast<long>(counters_end + 2 + why.size())),
              why);
}

// show lcores: the handoff counters came after the cycles.
TEST(CtlDecode, LcoreHandoffCountersFollowTheCycles) {
    const LcoresResponse r{{{1, "worker", {1, 2, 3, 4, 5}, 6, 7, 0x0102, 0x0304, 0x0506}}};
    const Frame f = one_frame(Kind::response, encode_response(r, 1));
    // lcores count 4, lcore_id 4, role 2+6, counters 40, busy and total 16,
    // then handed_out, handed_in and pipelined.
    const size_t cycles_end = 4 + 4 + 8 + 40 + 16;
    ASSERT_EQ(f.payload.size(), cycles_end + 24);
    EXPECT_EQ(f.payload[cycles_end - 8], 7);  // total_cycles
    EXPECT_EQ(f.payload[cycles_end], 0x02);
    EXPECT_EQ(f.payload[cycles_end + 1], 0x01);
    EXPECT_EQ(f.payload[cycles_end + 8], 0x04);
    EXPECT_EQ(f.payload[cycles_end + 9], 0x03);
    EXPECT_EQ(f.payload[cycles_end + 16], 0x06);
    EXPECT_EQ(f.payload[cycles_end + 17], 0x05);
    for (size_t cut = cycles_end; cut < f.payload.size(); ++cut) {
        Frame g = f;
        g.payload.resize(cut);
        EXPECT_EQ(decode_error(g).code, Errc::short_payload) << cut;
    }
}

// show neighbours: one port "lan" with `n` reachable IPv4 neighbours.
NeighboursResponse lan_neighbours(size_t n) {
    NeighbourPort lan{"lan", {}, {}};
    for (size_t i = 0; i < n; ++i) {
        const uint8_t a[4] = {10, static_cast<uint8_t>(i >> 16), static_cast<uint8_t>(i >> 8),
                              static_cast<uint8_t>(i)};
        lan.neighbours.push_back({IpPrefix::v4(a, 32).address(), NeighbourState::reachable,
                                  MacAddress{2, 0, 0, 0, 0, 1}, 0, 0, 1, 2});
    }
    return {"dpdk", {lan}};
}

// Offsets in lan_neighbours(n)'s payload: driver 2+4, ports count 4, port
// name 2+3, then the neighbours count; the first neighbour's address is
// family and 4 bytes, then its state.
constexpr size_t kNeighboursCountAt = 6 + 4 + 5;
constexpr size_t kFirstStateAt = kNeighboursCountAt + 4 + 5;

TEST(CtlDecode, NeighboursCutAtEveryByte) {
    const Frame f = one_frame(Kind::response, encode_response(sample_neighbours(), 1));
    ASSERT_TRUE(decode_response(f).ok());
    for (size_t cut = 0; cut < f.payload.size(); ++cut) {
        Frame g = f;
        g.payload.resize(cut);
        EXPECT_EQ(decode_error(g).code, Errc::short_payload) << cut;
    }
    Frame longer = f;
    longer.payload.push_back(0);
    EXPECT_EQ(decode_error(longer).code, Errc::trailing_bytes);
}

TEST(CtlDecode, NeighbourCounts) {
    const Frame f = one_frame(Kind::response, encode_response(lan_neighbours(1), 1));
    ASSERT_EQ(f.payload[kNeighboursCountAt], 1);
    Frame hostile = f;
    for (size_t i = 0; i < 4; ++i) hostile.payload[kNeighboursCountAt + i] = 0xff;
    EXPECT_EQ(decode_error(hostile).detail,
              "ports[0].neighbours: 4294967295 entries, at most 65536");
    Frame ports = f;
    for (size_t i = 0; i < 4; ++i) ports.payload[6 + i] = 0xff;
    EXPECT_EQ(decode_error(ports).detail, "ports: 4294967295 entries, at most 256");
    // Within the limit but more than the bytes left: refused before building them.
    Frame lying = f;
    lying.payload[kNeighboursCountAt + 2] = 1;  // 65537
    const Error l = decode_error(lying);
    EXPECT_EQ(l.code, Errc::bad_value);
    lying.payload[kNeighboursCountAt + 2] = 0;
    lying.payload[kNeighboursCountAt + 1] = 1;  // 257
    EXPECT_EQ(decode_error(lying).code, Errc::short_payload);
    EXPECT_EQ(decode_error(lying).detail,
              "ports[0].neighbours: 257 entries announced, " +
                  std::to_string(f.payload.size() - kNeighboursCountAt - 4) + " bytes left");

    // At the limit is fine; one more is refused by the daemon's encoder.
    const NeighboursResponse full = lan_neighbours(kMaxNeighbours);
    const auto back = decode_response(one_frame(Kind::response, encode_response(full, 1)));
    ASSERT_TRUE(back.ok()) << describe(back.error());
    EXPECT_EQ(back.value(), Response(full));
    const auto over = decode_response(
        one_frame(Kind::response, encode_response(lan_neighbours(kMaxNeighbours + 1), 1)));
    ASSERT_FALSE(over.ok());
    EXPECT_EQ(over.error().status, static_cast<uint32_t>(EPROTO));
    EXPECT_EQ(over.error().detail,
              "sluiced built an invalid reply: ports[0].neighbours: too many entries");
}

TEST(CtlDecode, NeighbourRules) {
    const Frame f = one_frame(Kind::response, encode_response(lan_neighbours(1), 1));
    ASSERT_EQ(f.payload[kFirstStateAt], static_cast<uint8_t>(NeighbourState::reachable));
    Frame state = f;
    state.payload[kFirstStateAt] = 5;
    EXPECT_EQ(decode_error(state).detail, "ports[0].neighbours[0].state: neighbour state not 0..4");
    // A failed entry with a MAC: the MAC flag follows the state.
    Frame failed = f;
    failed.payload[kFirstStateAt] = static_cast<uint8_t>(NeighbourState::failed);
    EXPECT_EQ(decode_error(failed).detail,
              "ports[0].neighbours[0].mac: present for reachable, probing and static entries only");
    Frame flag = f;
    flag.payload[kFirstStateAt + 1] = 2;
    EXPECT_EQ(decode_error(flag).detail, "ports[0].neighbours[0].mac: presence flag not 0 or 1");

    auto refused = [](const NeighboursResponse& r) {
        const auto back = decode_response(one_frame(Kind::response, encode_response(r, 1)));
        EXPECT_FALSE(back.ok());
        return back.ok() ? std::string() : back.error().detail;
    };
    NeighboursResponse no_mac = lan_neighbours(1);
    no_mac.ports[0].neighbours[0].mac.reset();
    EXPECT_EQ(refused(no_mac),
              "sluiced built an invalid reply: ports[0].neighbours[0].mac: present for "
              "reachable, probing and static entries only");
    NeighboursResponse twice = lan_neighbours(2);
    twice.ports[0].neighbours[1].address = twice.ports[0].neighbours[0].address;
    EXPECT_EQ(refused(twice),
              "sluiced built an invalid reply: ports[0].neighbours: an address appears twice");
    NeighboursResponse ports = sample_neighbours();
    ports.ports[1].port = "lan";
    EXPECT_EQ(refused(ports), "sluiced built an invalid reply: ports: a port name appears twice");
    NeighboursResponse name = lan_neighbours(0);
    name.ports[0].port = "l a n";
    EXPECT_EQ(refused(name), "sluiced built an invalid reply: ports[0].port: not a name");
    NeighboursResponse bad_state = lan_neighbours(1);
    bad_state.ports[0].neighbours[0].state = static_cast<NeighbourState>(9);
    EXPECT_EQ(refused(bad_state),
              "sluiced built an invalid reply: ports[0].neighbours[0].state: neighbour state not "
              "0..4");
    EXPECT_EQ(neighbour_state_name(NeighbourState::permanent), "static");
    EXPECT_EQ(neighbour_state_name(static_cast<NeighbourState>(9)), "?");
}

// show streams: one session "b", open, with `streams` streams and
// `counters` counters; nothing else set.
StreamsResponse one_session(size_t streams, size_t counters = 0) {
    StreamSession s;
    s.peer = "b";
    s.state = "open";
    for (size_t i = 0; i < counters; ++i) s.counters.push_back({"c" + std::to_string(i), i});
    for (size_t i = 0; i < streams; ++i) {
        StreamEntry e;
        e.id = i * 4;
        e.state = "open";
        s.streams.push_back(e);
    }
    return {true, 1000, 10, {}, {s}};
}

// Offsets in one_session(n)'s payload: enabled 1, memory_budget and
// memory_used 16, the sessions count 4; then the session: peer 2+1, state
// 2+4, session ids 8, close_error 2, closed_by_peer 1, close_reason 2,
// fourteen u64 (112), the counters count 4, the streams count 4. A stream:
// id 8, local 1, state 2+4, forward 2, eight u64 (64), fin_sent, fin_received.
constexpr size_t kGatewayCountersAt = 1 + 16;  // the gateway's counters (none here)
constexpr size_t kSessionsCountAt = kGatewayCountersAt + 4;
constexpr size_t kPeerAt = kSessionsCountAt + 4;
constexpr size_t kCloseErrorAt = kPeerAt + 3 + 6 + 8;
constexpr size_t kCountersCountAt = kCloseErrorAt + 2 + 1 + 2 + 112;
constexpr size_t kStreamsCountAt = kCountersCountAt + 4;
constexpr size_t kFirstStreamAt = kStreamsCountAt + 4;
constexpr size_t kStreamSize = 8 + 1 + 6 + 2 + 64 + 2;

TEST(CtlDecode, StreamsCutAtEveryByte) {
    const Frame f = one_frame(Kind::response, encode_response(sample_streams(), 1));
    ASSERT_TRUE(decode_response(f).ok());
    for (size_t cut = 0; cut < f.payload.size(); ++cut) {
        Frame g = f;
        g.payload.resize(cut);
        EXPECT_EQ(decode_error(g).code, Errc::short_payload) << cut;
    }
    Frame longer = f;
    longer.payload.push_back(0);
    EXPECT_EQ(decode_error(longer).code, Errc::trailing_bytes);
}

TEST(CtlDecode, StreamsLayout) {
    const Frame f = one_frame(Kind::response, encode_response(one_session(1), 1));
    ASSERT_EQ(f.payload.size(), kFirstStreamAt + kStreamSize);
    EXPECT_EQ(f.payload[0], 1);     // enabled
    EXPECT_EQ(f.payload[1], 0xe8);  // memory_budget 1000
    EXPECT_EQ(f.payload[2], 0x03);
    EXPECT_EQ(f.payload[9], 10);  // memory_used
    EXPECT_EQ(f.payload[kSessionsCountAt], 1);
    EXPECT_EQ(f.payload[kPeerAt], 1);
    EXPECT_EQ(f.payload[kPeerAt + 2], 'b');
    EXPECT_EQ(f.payload[kCountersCountAt], 0);
    EXPECT_EQ(f.payload[kStreamsCountAt], 1);
    EXPECT_EQ(f.payload[kFirstStreamAt + 9], 4);  // the stream's state length
    // A counter is a text and a u64.
    const Frame c = one_frame(Kind::response, encode_response(one_session(0, 1), 1));
    ASSERT_EQ(c.payload.size(), kStreamsCountAt + 4 + 2 + 2 + 8);
    EXPECT_EQ(c.payload[kCountersCountAt + 4], 2);
    EXPECT_EQ(c.payload[kCountersCountAt + 6], 'c');
    EXPECT_EQ(c.payload[kCountersCountAt + 7], '0');
}

TEST(CtlDecode, StreamCounts) {
    const Frame f = one_frame(Kind::response, encode_response(one_session(1, 1), 1));
    const size_t streams_count_at = kStreamsCountAt + 12;  // after the one counter
    ASSERT_EQ(f.payload[streams_count_at], 1);
    auto with_count = [&f](size_t at, uint32_t count) {
        Frame g = f;
        for (size_t i = 0; i < 4; ++i) g.payload[at + i] = static_cast<uint8_t>(count >> (8 * i));
        return decode_error(g);
    };
    EXPECT_EQ(with_count(kSessionsCountAt, 0xffffffff).detail,
              "sessions: 4294967295 entries, at most 4096");
    EXPECT_EQ(with_count(kSessionsCountAt, 4097).detail, "sessions: 4097 entries, at most 4096");
    EXPECT_EQ(with_count(kCountersCountAt, 65).detail,
              "sessions[0].counters: 65 entries, at most 64");
    EXPECT_EQ(with_count(streams_count_at, 65537).detail,
              "sessions[0].streams: 65537 entries, at most 65536");
    // Within the limits but more than the bytes left: refused before building them.
    const Error lying = with_count(streams_count_at, 65536);
    EXPECT_EQ(lying.code, Errc::short_payload);
    EXPECT_EQ(lying.detail, "sessions[0].streams: 65536 entries announced, " +
                                std::to_string(f.payload.size() - streams_count_at - 4) +
                                " bytes left");
    EXPECT_EQ(with_count(kSessionsCountAt, 4096).code, Errc::short_payload);

    // At the limits is fine; one more is refused by the daemon's encoder.
    auto round_trip = [](const StreamsResponse& r) {
        const auto back = decode_response(one_frame(Kind::response, encode_response(r, 1)));
        EXPECT_TRUE(back.ok()) << describe(back.error());
        return back.ok() && back.value() == Response(r);
    };
    auto refused = [](const StreamsResponse& r) {
        const auto back = decode_response(one_frame(Kind::response, encode_response(r, 1)));
        EXPECT_FALSE(back.ok());
        if (back.ok()) return std::string();
        EXPECT_EQ(back.error().status, static_cast<uint32_t>(EPROTO));
        return back.error().detail;
    };
    EXPECT_TRUE(round_trip(one_session(kMaxStreams, kMaxSessionCounters)));
    EXPECT_EQ(refused(one_session(kMaxStreams + 1)),
              "sluiced built an invalid reply: sessions[0].streams: too many entries");
    EXPECT_EQ(refused(one_session(0, kMaxSessionCounters + 1)),
              "sluiced built an invalid reply: sessions[0].counters: too many entries");
    StreamsResponse many = one_session(0);
    many.sessions.resize(kMaxStreamSessions, many.sessions[0]);
    EXPECT_TRUE(round_trip(many));
    many.sessions.push_back(many.sessions[0]);
    EXPECT_EQ(refused(many), "sluiced built an invalid reply: sessions: too many entries");
}

TEST(CtlDecode, StreamRules) {
    auto refused = [](const StreamsResponse& r) {
        const auto back = decode_response(one_frame(Kind::response, encode_response(r, 1)));
        EXPECT_FALSE(back.ok());
        return back.ok() ? std::string() : back.error().detail;
    };
    const std::string invalid = "sluiced built an invalid reply: ";
    StreamsResponse r = one_session(2, 2);
    r.sessions[0].streams[1].id = 0;
    EXPECT_EQ(refused(r), invalid + "sessions[0].streams: a stream id appears twice");
    r = one_session(0, 2);
    r.sessions[0].counters[1].first = "c0";
    EXPECT_EQ(refused(r), invalid + "sessions[0].counters: a name appears twice");
    r.sessions[0].counters[1].first = "Lost-Packets";
    EXPECT_EQ(refused(r),
              invalid + "sessions[0].counters: a name is not snake_case (1 to 64 of a-z 0-9 _)");
    r = one_session(0);
    r.sessions[0].peer = "";
    EXPECT_EQ(refused(r), invalid + "sessions[0].peer: not a peer name or key");
    r.sessions[0].peer = std::string(65, 'p');
    EXPECT_EQ(refused(r), invalid + "sessions[0].peer: text too long");
    r = one_session(0);
    r.sessions[0].state = "";
    EXPECT_EQ(refused(r), invalid + "sessions[0].state: not a name");
    r = one_session(0);
    r.sessions[0].close_error = "Credit Overrun";
    EXPECT_EQ(refused(r), invalid + "sessions[0].close_error: not a snake_case error name");
    r = one_session(0);
    r.sessions[0].close_reason = "two\nlines";
    EXPECT_EQ(refused(r),
              invalid + "sessions[0].close_reason: text is not printable UTF-8 on one line");
    r = one_session(1);
    r.sessions[0].streams[0].state = "half closed";
    EXPECT_EQ(refused(r), invalid + "sessions[0].streams[0].state: not a name");
    r = one_session(1);
    r.sessions[0].streams[0].forward = "a\x1b[2Jb";
    EXPECT_EQ(refused(r),
              invalid + "sessions[0].streams[0].forward: text is not printable UTF-8 on one line");

    // The decoder holds the same rules against bytes no encoder made.
    const Frame f = one_frame(Kind::response, encode_response(one_session(1), 1));
    Frame flag = f;
    flag.payload[kFirstStreamAt + 8] = 2;  // local
    EXPECT_EQ(decode_error(flag).detail, "sessions[0].streams[0].local: boolean not 0 or 1");
    Frame fin = f;
    fin.payload[fin.payload.size() - 1] = 7;  // fin_received
    EXPECT_EQ(decode_error(fin).detail, "sessions[0].streams[0].fin_received: boolean not 0 or 1");
    Frame enabled = f;
    enabled.payload[0] = 2;
    EXPECT_EQ(decode_error(enabled).detail, "enabled: boolean not 0 or 1");
    Frame peer = f;
    peer.payload[kPeerAt + 2] = ' ';  // a name of one space
    EXPECT_EQ(decode_error(peer).detail, "sessions[0].peer: not a peer name or key");
    Frame error = f;
    error.payload[kCloseErrorAt] = 65;  // a close_error of 65 bytes
    EXPECT_EQ(decode_error(error).detail, "sessions[0].close_error: text of 65 bytes, at most 64");
}

// ---- What sluicectl prints for the port fields ------------------------------------------------

TEST(CtlRenderPorts, WhyNotesAndWrappedXstats) {
    std::vector<Xstat> xstats;
    for (int q = 0; q < 4; ++q) {
        xstats.push_back({"rx_q" + std::to_string(q) + "_packets", 1000000u + q});
        xstats.push_back({"rx_q" + std::to_string(q) + "_bytes", 1500000000u + q});
    }
    xstats.push_back({"a_name_longer_than_a_line_" + std::string(90, 'x'), 1});
    xstats.push_back({"tx_good_packets", 42});
    PortsResponse r = one_port(xstats);
    r.ports[0].notes = "no TX checksum offload";
    const std::string text = sluicectl::render_text(r);
    EXPECT_EQ(text,
              "port 0 (wan): net_ixgbe on 0000:03:00.0, link up, 10000 Mbit/s, mtu 1500, 2 rx / 2 "
              "tx queues\n"
              "  RX-packets: 0  RX-bytes: 0  RX-missed: 0  RX-errors: 0\n"
              "  TX-packets: 0  TX-bytes: 0  TX-errors: 0\n"
              "  driver chosen: auto: 0000:03:00.0 is bound to vfio-pci\n"
              "  notes: no TX checksum offload\n"
              "  xstats: rx_q0_packets=1000000 rx_q0_bytes=1500000000 rx_q1_packets=1000001 "
              "rx_q1_bytes=1500000001\n"  // 99 columns
              "          rx_q2_packets=1000002 rx_q2_bytes=1500000002 rx_q3_packets=1000003 "
              "rx_q3_bytes=1500000003\n"
              "          a_name_longer_than_a_line_" +
                  std::string(90, 'x') +
                  "=1\n"
                  "          tx_good_packets=42\n");
    // Every line but the one holding the over-long name fits 100 columns.
    size_t start = 0;
    for (size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1) {
        const std::string line = text.substr(start, end - start);
        if (line.find("a_name_longer") == std::string::npos) {
            EXPECT_LE(line.size(), 100u) << line;
        }
    }

    // Without them, a port prints as it always did.
    PortsResponse bare = one_port({});
    bare.ports[0].why.clear();
    bare.ports[0].notes.clear();
    EXPECT_EQ(sluicectl::render_text(bare),
              "port 0 (wan): net_ixgbe on 0000:03:00.0, link up, 10000 Mbit/s, mtu 1500, 2 rx / 2 "
              "tx queues\n"
              "  RX-packets: 0  RX-bytes: 0  RX-missed: 0  RX-errors: 0\n"
              "  TX-packets: 0  TX-bytes: 0  TX-errors: 0\n");
}

TEST(CtlRenderPorts, Json) {
    const PortsResponse r = one_port({{"rx_q0_packets", 5}, {"mac_remote_errors", 1}});
    EXPECT_EQ(sluicectl::render_json(r),
              "{\"ports\":[{\"port_id\":0,\"name\":\"wan\",\"driver\":\"net_ixgbe\",\"device\":"
              "\"0000:03:00.0\",\"link_up\":true,\"speed_mbps\":10000,\"mtu\":1500,\"rx_queues\":2,"
              "\"tx_queues\":2,\"rx_packets\":0,\"rx_bytes\":0,\"rx_missed\":0,\"rx_errors\":0,"
              "\"tx_packets\":0,\"tx_bytes\":0,\"tx_errors\":0,\"why\":\"auto: 0000:03:00.0 is "
              "bound to vfio-pci\",\"notes\":\"RSS over 2 queues on IP addresses and UDP ports\","
              "\"xstats\":{\"rx_q0_packets\":5,\"mac_remote_errors\":1}}]}\n");
    PortsResponse bare = one_port({});
    bare.ports[0].why.clear();
    bare.ports[0].notes.clear();
    const std::string json = sluicectl::render_json(bare);
    EXPECT_NE(json.find("\"tx_errors\":0,\"why\":\"\",\"notes\":\"\",\"xstats\":{}}]}"),
              std::string::npos)
        << json;
}

// ---- Encoding rules -------------------------------------------------------------------------

TEST(CtlEncode, OversizedRequestIsRefused) {
    PeerAddRequest r;
    for (uint32_t i = 0; i < 20000; ++i) {
        uint8_t a[16] = {0xfd};
        a[12] = static_cast<uint8_t>(i >> 8);
        a[13] = static_cast<uint8_t>(i);
        r.allowed_ips.push_back(IpPrefix::v6(a, 128));
    }
    const auto e = encode_request(r, 1);
    ASSERT_FALSE(e.ok());
    EXPECT_EQ(e.error().code, Errc::oversized);
}

TEST(CtlEncode, OversizedReplyBecomesEmsgsize) {
    ReloadResponse r;
    r.warnings.assign(kMaxWarnings, std::string(kMaxText, 'w'));  // 4 MiB: fits
    EXPECT_TRUE(decode_response(one_frame(Kind::response, encode_response(r, 1))).ok());
    ShowResponse big;
    big.interface.name = "wg0";
    big.peers.resize(kMaxPeers);
    for (size_t i = 0; i < big.peers.size(); ++i) {
        big.peers[i].public_key[0] = static_cast<uint8_t>(i);
        big.peers[i].public_key[1] = static_cast<uint8_t>(i >> 8);
        big.peers[i].allowed_ips.assign(20, prefix("fd00::/64"));
    }
    const auto back = decode_response(one_frame(Kind::response, encode_response(big, 1)));
    ASSERT_EQ(back.error().code, Errc::daemon_error);
    EXPECT_EQ(back.error().status, static_cast<uint32_t>(EMSGSIZE));
}

TEST(CtlEncode, InvalidAddressIsRefused) {
    PeerAddRequest r;
    r.endpoint = SocketAddress{address("10.0.0.1"), 0};
    EXPECT_EQ(encode_request(r, 1).error().detail, "endpoint: port 0");
    IpAddress stray = address("10.0.0.1");
    stray.addr[9] = 1;
    r.endpoint = SocketAddress{stray, 1};
    EXPECT_EQ(encode_request(r, 1).error().detail, "endpoint: bytes set past an IPv4 address");
}

// ---- Handler table --------------------------------------------------------------------------

Bytes serve(const HandlerTable& table, const Bytes& request) {
    return table.serve(one_frame(Kind::request, request));
}

TEST(CtlHandlers, ServesATypedRequest) {
    HandlerTable table;
    table.add<ShowRequest>(
        [](const ShowRequest&) -> Outcome<ShowRequest> { return sample_show(); });
    PeerRemoveRequest seen;
    table.add<PeerRemoveRequest>([&](const PeerRemoveRequest& r) -> Outcome<PeerRemoveRequest> {
        seen = r;
        return PeerRemoveResponse{key_of(9), "site-z"};
    });
    EXPECT_TRUE(table.has(Command::show));
    EXPECT_FALSE(table.has(Command::reload));

    const auto show = decode_response(
        one_frame(Kind::response, serve(table, encoded(ShowRequest{}, 4))), Command::show, 4);
    EXPECT_EQ(show.value(), Response(sample_show()));

    const Bytes reply = serve(table, encoded(PeerRemoveRequest{std::string("site-z")}, 5));
    EXPECT_EQ(seen.peer, (std::variant<Key, std::string>(std::string("site-z"))));
    EXPECT_EQ(decode_response(one_frame(Kind::response, reply), Command::peer_remove, 5).value(),
              Response(PeerRemoveResponse{key_of(9), "site-z"}));
}

Error served_error(const HandlerTable& table, const Frame& request) {
    const auto back =
        decode_response(one_frame(Kind::response, table.serve(request)),
                        static_cast<Command>(request.header.command), request.header.request_id);
    EXPECT_FALSE(back.ok());
    return back.error();
}

TEST(CtlHandlers, FailuresAndUnknowns) {
    HandlerTable table;
    table.add<ReloadRequest>([](const ReloadRequest&) -> Outcome<ReloadRequest> {
        return Failure{EINVAL, "/etc/sluice/wg0.yaml:3:5: peers[0].endpoint: expected ..."};
    });
    table.add<StatsRequest>([](const StatsRequest&) -> Outcome<StatsRequest> {
        throw std::runtime_error("counters unavailable");
    });
    const Error reload = served_error(table, frame_with(9, Kind::request, {}));
    EXPECT_EQ(reload.status, static_cast<uint32_t>(EINVAL));
    EXPECT_EQ(reload.detail, "/etc/sluice/wg0.yaml:3:5: peers[0].endpoint: expected ...");

    const Error thrown = served_error(table, frame_with(6, Kind::request, {}));
    EXPECT_EQ(thrown.status, static_cast<uint32_t>(EIO));
    EXPECT_EQ(thrown.detail, "sluiced failed to run \"stats\": counters unavailable");

    const Error unregistered = served_error(table, frame_with(3, Kind::request, {}));
    EXPECT_EQ(unregistered.status, static_cast<uint32_t>(ENOSYS));
    EXPECT_EQ(unregistered.detail, "sluiced does not serve \"show lcores\"");

    // An unknown id cannot be matched to a Command; read the reply raw.
    const auto unknown =
        decode_response(one_frame(Kind::response, table.serve(frame_with(42, Kind::request, {}))));
    EXPECT_EQ(unknown.error().status, static_cast<uint32_t>(ENOSYS));
    EXPECT_EQ(unknown.error().detail, "unknown command id 42 (control protocol 1)");

    const Error malformed = served_error(table, frame_with(8, Kind::request, {9, 9, 9, 9}));
    EXPECT_EQ(malformed.status, static_cast<uint32_t>(EBADMSG));
    EXPECT_EQ(malformed.detail, "bad value in payload: peer: unknown alternative");

    const Error sized = served_error(table, frame_with(9, Kind::request, {1}));
    EXPECT_EQ(sized.status, static_cast<uint32_t>(EBADMSG));
}

TEST(CtlHandlers, WrongVersionFrameIsAnsweredInOurVersion) {
    HandlerTable table;
    Frame f = frame_with(2, Kind::request, {});
    f.header.version = 9;
    const Frame reply = one_frame(Kind::response, table.serve(f));
    EXPECT_EQ(reply.header.version, kProtocolVersion);
    EXPECT_EQ(reply.header.status, static_cast<uint32_t>(EPROTONOSUPPORT));
    EXPECT_EQ(decode_response(reply).error().detail,
              "control protocol version mismatch: the other end speaks version 9, this end "
              "speaks version 1 (use sluicectl and sluiced from the same release)");
}

// ---- Small pieces ---------------------------------------------------------------------------

TEST(CtlCommands, TableIsInIdOrderWithUniqueNames) {
    std::set<std::string_view> names;
    for (size_t i = 0; i < kCommands.size(); ++i) {
        EXPECT_EQ(static_cast<size_t>(kCommands[i].command), i + 1);
        EXPECT_TRUE(names.insert(kCommands[i].name).second);
        EXPECT_EQ(command_from_id(static_cast<uint16_t>(i + 1)), kCommands[i].command);
    }
    EXPECT_EQ(command_from_id(0), std::nullopt);
    EXPECT_EQ(command_from_id(kCommandCount + 1), std::nullopt);
    EXPECT_EQ(command_name(Command::show_drops), "show drops");
    // Appended, so that the ids before it kept their numbers.
    EXPECT_EQ(static_cast<uint16_t>(Command::show_neighbours), 10);
    EXPECT_EQ(command_name(Command::show_neighbours), "show neighbours");
    EXPECT_EQ(static_cast<uint16_t>(Command::show_streams), 11);
    EXPECT_EQ(command_name(Command::show_streams), "show streams");
}

TEST(CtlCommands, ErrnoForEachError) {
    EXPECT_EQ(errno_for(Errc::unknown_command), static_cast<uint32_t>(ENOSYS));
    EXPECT_EQ(errno_for(Errc::wrong_version), static_cast<uint32_t>(EPROTONOSUPPORT));
    EXPECT_EQ(errno_for(Errc::oversized), static_cast<uint32_t>(EMSGSIZE));
    EXPECT_EQ(errno_for(Errc::bad_value), static_cast<uint32_t>(EBADMSG));
    EXPECT_EQ(errno_for(Errc::bad_header), static_cast<uint32_t>(EPROTO));
    EXPECT_EQ(errc_name(Errc::trailing_bytes), "trailing_bytes");
}

TEST(CtlSocketAddress, ParsesAndPrints) {
    struct Case {
        const char* text;
        const char* canonical;
    } good[] = {{"192.0.2.1:51820", "192.0.2.1:51820"},
                {"[2001:db8::1]:1", "[2001:db8::1]:1"},
                {"[2001:DB8:0::1]:65535", "[2001:db8::1]:65535"}};
    for (const Case& c : good) {
        const auto a = parse_socket_address(c.text);
        ASSERT_TRUE(a) << c.text;
        EXPECT_EQ(a->to_string(), c.canonical);
    }
    struct Bad {
        const char* text;
        const char* why;
    } bad[] = {
        {"192.0.2.1", "no ':port' at the end"},
        {"192.0.2.1:0", "the port must be a number 1..65535"},
        {"192.0.2.1:65536", "the port must be a number 1..65535"},
        {"192.0.2.1:051820", "the port must be a number 1..65535"},
        {"192.0.2.1:+5", "the port must be a number 1..65535"},
        {"192.0.2.1:", "the port must be a number 1..65535"},
        {":51820", "no address before ':port'"},
        {"2001:db8::1:51820", "an IPv6 endpoint needs brackets: [2001:db8::1]:51820"},
        {"[2001:db8::1]", "no ':port' after the ']'"},
        {"[2001:db8::1:5", "no ']' after the IPv6 address"},
        {"[192.0.2.1]:5", "not an IPv6 address inside [ ]"},
        {"[fe80::1%eth0]:5", "not an IPv6 address inside [ ]"},
        {"vpn.example.com:51820", "not an IP address (sluicectl does not resolve host names)"},
    };
    for (const Bad& b : bad) {
        std::string why;
        EXPECT_FALSE(parse_socket_address(b.text, &why)) << b.text;
        EXPECT_EQ(why, b.why) << b.text;
    }
}

TEST(CtlText, OneLineAndPeerNames) {
    EXPECT_EQ(one_line("a\tb\r\nc"), "a?b??c");
    EXPECT_EQ(one_line("\xe2\x9c\x93\xe2\x9c\x93", 4), "\xe2\x9c\x93");  // cut on a boundary
    EXPECT_TRUE(valid_peer_name("site b"));
    EXPECT_TRUE(valid_peer_name(std::string(64, 'n')));
    EXPECT_FALSE(valid_peer_name(std::string(65, 'n')));
    EXPECT_FALSE(valid_peer_name(""));
    EXPECT_FALSE(valid_peer_name("trailing "));
    EXPECT_FALSE(valid_peer_name("caf\xc3\xa9"));
}

}  // namespace
}  // namespace sluice::ctl
