// The UAPI codec: the request reader (chunking, pipelining, limits, garbage),
// the set parser (every key, good and bad, with wireguard-go's errnos) and the
// get serializer (exact text). The requests below are what wg(8) 1.0.20210914
// sent to tests/interop/uapi-model, byte for byte.
#include "control/uapi.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <initializer_list>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "control/key_encoding.hpp"

namespace sluice::uapi {
namespace {

using State = RequestReader::State;

// Keys as wg(8) writes them: lowercase hex.
const std::string kKeyA = "e2aa755e549af05a312ac95c3709d7cf2a2c2d2ac7cd863687bc39b2a323bf78";
const std::string kKeyB = "884c21e74864c4138ddeaf2e3988494b0ee6c9ca1b687c70380e6594c7e5a96c";
const std::string kKeyC = "efc1aa4d47e0e15e1d3a66445b826ee4233ffd9c1613600aa760bc5907acbff1";

// Each line followed by '\n'.
std::string lines(std::initializer_list<std::string> ls) {
    std::string out;
    for (const std::string& l : ls) out += l + "\n";
    return out;
}

// `wg set IF peer A preshared-key F endpoint 192.0.2.1:51820
// persistent-keepalive 25 allowed-ips 10.0.0.0/24,fd00::/64`
const std::string kWgSetPeer = lines({
    "set=1",
    "public_key=" + kKeyA,
    "preshared_key=" + kKeyC,
    "endpoint=192.0.2.1:51820",
    "persistent_keepalive_interval=25",
    "replace_allowed_ips=true",
    "allowed_ip=10.0.0.0/24",
    "allowed_ip=fd00::/64",
    "",
});

Key key(std::string_view hex) {
    const auto k = key_from_hex(hex);
    EXPECT_TRUE(k.has_value()) << hex;
    return k.value_or(Key{});
}

IpPrefix prefix(std::string_view text) {
    const auto p = parse_ip_prefix(text);
    EXPECT_TRUE(p.has_value()) << text;
    return p.value_or(IpPrefix{});
}

// Feeds `chunks` in order, taking every request as it becomes ready. Returns
// the requests, and the error code if the reader failed (0 otherwise).
struct Outcome {
    std::vector<Request> requests;
    int error = 0;
};

Outcome feed_all(const std::vector<std::string_view>& chunks, ReaderLimits limits = {}) {
    RequestReader reader(limits);
    Outcome out;
    for (std::string_view chunk : chunks) {
        for (;;) {
            chunk.remove_prefix(reader.feed(chunk));
            if (reader.state() == State::ready) {
                out.requests.push_back(reader.take());
                continue;
            }
            if (reader.state() == State::failed) {
                out.error = reader.error().code;
                return out;
            }
            EXPECT_TRUE(chunk.empty()) << "need_more must mean every byte was taken";
            break;
        }
    }
    return out;
}

std::string describe(const std::vector<Request>& requests) {
    std::string s;
    for (const Request& r : requests)
        s += (r.operation == Operation::get ? "GET[" : "SET[") + r.body + "]";
    return s;
}

// ---- SecretKey ----------------------------------------------------------------------

TEST(SecretKey, WipesTheKeyWhenDestroyed) {
    Key k;
    k.fill(0xaa);
    alignas(SecretKey) unsigned char storage[sizeof(SecretKey)];
    SecretKey* secret = new (storage) SecretKey(k);  // placement: to look at the bytes after
    ASSERT_EQ(std::count(storage, storage + sizeof storage, 0xaa), 32);
    secret->~SecretKey();
    EXPECT_EQ(std::count(storage, storage + sizeof storage, 0xaa), 0);
}

TEST(SecretKey, ComparesLikeAnOptional) {
    Key a{}, b{};
    b[0] = 1;
    EXPECT_EQ(SecretKey(a), SecretKey(a));
    EXPECT_NE(SecretKey(a), SecretKey(b));
    EXPECT_NE(SecretKey(a), SecretKey());
    EXPECT_EQ(SecretKey(), SecretKey(std::nullopt));
    EXPECT_EQ(SecretKey(b), b);
    SecretKey s;
    s = b;
    EXPECT_EQ(s, SecretKey(b));
    s.reset();
    EXPECT_FALSE(s.has_value());
}

// ---- RequestReader: well-formed streams ------------------------------------------

TEST(RequestReader, ReadsGet) {
    RequestReader reader;
    EXPECT_TRUE(reader.idle());
    EXPECT_EQ(reader.feed("get=1\n\n"), 7u);
    ASSERT_EQ(reader.state(), State::ready);
    const Request r = reader.take();
    EXPECT_EQ(r.operation, Operation::get);
    EXPECT_EQ(r.body, "");
    EXPECT_EQ(reader.state(), State::need_more);
    EXPECT_TRUE(reader.idle());
}

TEST(RequestReader, ReadsSetBodyVerbatim) {
    RequestReader reader;
    EXPECT_EQ(reader.feed(kWgSetPeer), kWgSetPeer.size());
    ASSERT_EQ(reader.state(), State::ready);
    const Request r = reader.take();
    EXPECT_EQ(r.operation, Operation::set);
    // Without "set=1\n" and without the terminating empty line.
    EXPECT_EQ(r.body, kWgSetPeer.substr(6, kWgSetPeer.size() - 7));
}

TEST(RequestReader, EmptySetIsARequest) {
    const Outcome o = feed_all({"set=1\n\n"});
    EXPECT_EQ(o.error, 0);
    EXPECT_EQ(describe(o.requests), "SET[]");
}

TEST(RequestReader, StopsAtTheEndOfEachPipelinedRequest) {
    const std::string stream = "get=1\n\nset=1\nlisten_port=1\n\nget=1\n\n";
    RequestReader reader;
    std::string_view rest = stream;
    EXPECT_EQ(reader.feed(rest), 7u);  // exactly the first request
    ASSERT_EQ(reader.state(), State::ready);
    EXPECT_EQ(reader.feed(rest.substr(7)), 0u) << "nothing is taken while a request waits";
    EXPECT_EQ(reader.take().operation, Operation::get);
    rest.remove_prefix(7);
    EXPECT_EQ(reader.feed(rest), 21u);
    ASSERT_EQ(reader.state(), State::ready);
    EXPECT_EQ(reader.take().body, "listen_port=1\n");
    rest.remove_prefix(21);
    EXPECT_EQ(reader.feed(rest), 7u);
    EXPECT_EQ(reader.take().operation, Operation::get);
    EXPECT_TRUE(reader.idle());
}

TEST(RequestReader, SameRequestsWhereverTheStreamIsSplit) {
    const std::string stream = "get=1\n\n" + kWgSetPeer + "set=1\n\nget=1\n\n" + kWgSetPeer;
    const Outcome whole = feed_all({stream});
    ASSERT_EQ(whole.error, 0);
    ASSERT_EQ(whole.requests.size(), 5u);
    const std::string expected = describe(whole.requests);
    for (size_t cut = 0; cut <= stream.size(); ++cut) {
        const std::string_view s = stream;
        const Outcome two = feed_all({s.substr(0, cut), s.substr(cut)});
        EXPECT_EQ(two.error, 0) << "cut at " << cut;
        EXPECT_EQ(describe(two.requests), expected) << "cut at " << cut;
    }
    // Every split point at once: one byte at a time.
    std::vector<std::string_view> bytes;
    for (size_t i = 0; i < stream.size(); ++i)
        bytes.push_back(std::string_view(stream).substr(i, 1));
    EXPECT_EQ(describe(feed_all(bytes).requests), expected);
}

TEST(RequestReader, IdleOnlyBetweenRequests) {
    RequestReader reader;
    const std::string_view s = "set=1\nlisten_port=1\n\n";
    for (size_t i = 0; i < s.size(); ++i) {
        EXPECT_EQ(reader.idle(), i == 0) << "after " << i << " bytes";
        EXPECT_EQ(reader.feed(s.substr(i, 1)), 1u);
    }
    ASSERT_EQ(reader.state(), State::ready);
    EXPECT_FALSE(reader.idle()) << "a request waiting to be taken";
    reader.take();
    EXPECT_TRUE(reader.idle());
}

TEST(RequestReader, PassesBinaryBytesInsideLinesToTheParser) {
    const std::string stream = std::string("set=1\nfoo=\0\xff\n\n", 14);
    const Outcome o = feed_all({stream});
    ASSERT_EQ(o.error, 0);
    ASSERT_EQ(o.requests.size(), 1u);
    EXPECT_EQ(o.requests[0].body, std::string("foo=\0\xff\n", 7));
}

// ---- RequestReader: garbage --------------------------------------------------------

TEST(RequestReader, RefusesUnknownOperations) {
    for (std::string_view bad : std::initializer_list<std::string_view>{
             "hello\n", "\n", "get=2\n", "set=0\n", "GET=1\n", "get=1 \n", "set=1\r\n", "get\n",
             std::string_view("get=1\0\n", 7)}) {
        const Outcome o = feed_all({bad});
        EXPECT_EQ(o.error, EINVAL) << bad;
        EXPECT_TRUE(o.requests.empty()) << bad;
    }
}

TEST(RequestReader, GetMustEndWithAnEmptyLine) {
    // wireguard-go reads one byte after "get=1\n" and answers EINVAL if it is
    // not '\n'.
    for (std::string_view bad : {"get=1\nx", "get=1\nlisten_port=1\n\n", "get=1\n\r\n"}) {
        const Outcome o = feed_all({bad});
        EXPECT_EQ(o.error, EINVAL) << bad;
        EXPECT_TRUE(o.requests.empty()) << bad;
    }
}

TEST(RequestReader, AfterFailingTakesNothingMore) {
    RequestReader reader;
    EXPECT_EQ(reader.feed("bad\nget=1\n\n"), 4u) << "consumed through the offending line";
    ASSERT_EQ(reader.state(), State::failed);
    EXPECT_EQ(reader.error().code, EINVAL);
    EXPECT_FALSE(reader.error().message.empty());
    EXPECT_EQ(reader.feed("get=1\n\n"), 0u);
    EXPECT_EQ(reader.state(), State::failed);
    EXPECT_FALSE(reader.idle());
}

TEST(RequestReader, GoodRequestsBeforeGarbageStillCount) {
    const Outcome o = feed_all({"get=1\n\nset=1\n\nnonsense\n"});
    EXPECT_EQ(describe(o.requests), "GET[]SET[]");
    EXPECT_EQ(o.error, EINVAL);
}

// ---- RequestReader: limits -----------------------------------------------------------

TEST(RequestReader, LineLimitIsExact) {
    const ReaderLimits limits{16, 1024};
    const std::string fits = "set=1\n" + std::string(16, 'x') + "\n\n";
    const Outcome ok = feed_all({fits}, limits);
    EXPECT_EQ(ok.error, 0);
    EXPECT_EQ(ok.requests.size(), 1u);
    const std::string too_long = "set=1\n" + std::string(17, 'x') + "\n\n";
    EXPECT_EQ(feed_all({too_long}, limits).error, EMSGSIZE);
    // The op line is a line too.
    EXPECT_EQ(feed_all({std::string(17, 'g') + "\n"}, limits).error, EMSGSIZE);
}

TEST(RequestReader, LongLineFailsWithoutWaitingForItsEnd) {
    // A client that never sends '\n' must not make the reader hold more than
    // one line's worth: the byte past the limit fails the read, at once.
    RequestReader reader(ReaderLimits{16, 1024});
    EXPECT_EQ(reader.feed("set=1\n"), 6u);
    for (int i = 0; i < 16; ++i) {
        EXPECT_EQ(reader.feed("x"), 1u);
        EXPECT_EQ(reader.state(), State::need_more);
    }
    reader.feed("x");
    EXPECT_EQ(reader.state(), State::failed);
    EXPECT_EQ(reader.error().code, EMSGSIZE);

    RequestReader big(ReaderLimits{16, 1024});
    big.feed(std::string(1 << 20, 'x'));  // one huge chunk
    EXPECT_EQ(big.state(), State::failed);
    EXPECT_EQ(big.error().code, EMSGSIZE);
}

TEST(RequestReader, RequestLimitIsExact) {
    // "set=1\n" (6) + 3 × "abcdefg\n" (24) + "\n" (1) = 31 bytes.
    const std::string request = "set=1\nabcdefg\nabcdefg\nabcdefg\n\n";
    ASSERT_EQ(request.size(), 31u);
    EXPECT_EQ(feed_all({request}, ReaderLimits{64, 31}).error, 0);
    EXPECT_EQ(feed_all({request}, ReaderLimits{64, 30}).error, EMSGSIZE);
    // Byte by byte, the limit trips at the first byte past it.
    RequestReader reader(ReaderLimits{64, 30});
    for (size_t i = 0; i < 30; ++i) {
        reader.feed(std::string_view(request).substr(i, 1));
        ASSERT_EQ(reader.state(), State::need_more) << i;
    }
    reader.feed("\n");
    EXPECT_EQ(reader.state(), State::failed);
}

TEST(RequestReader, RequestLimitCountsOnlyTheCurrentRequest) {
    const std::string one = "set=1\nlisten_port=1\n\n";  // 21 bytes
    std::string many;
    for (int i = 0; i < 100; ++i) many += one;
    const Outcome o = feed_all({many}, ReaderLimits{64, one.size()});
    EXPECT_EQ(o.error, 0);
    EXPECT_EQ(o.requests.size(), 100u);
}

// ---- parse_set: good input --------------------------------------------------------------

SetRequest parse_ok(std::string_view body) {
    SetRequest r;
    const Error e = parse_set(body, &r);
    EXPECT_EQ(e.code, 0) << body << ": " << e.message;
    return r;
}

int parse_error(std::string_view body) {
    SetRequest r;
    return parse_set(body, &r).code;
}

TEST(ParseSet, WgSetPeerRequest) {
    const SetRequest r = parse_ok(kWgSetPeer.substr(6, kWgSetPeer.size() - 7));
    EXPECT_FALSE(r.interface.private_key);
    EXPECT_FALSE(r.interface.listen_port);
    ASSERT_EQ(r.peers.size(), 1u);
    const PeerSet& p = r.peers[0];
    EXPECT_EQ(p.public_key, key(kKeyA));
    EXPECT_EQ(p.preshared_key, key(kKeyC));
    ASSERT_TRUE(p.endpoint);
    EXPECT_EQ(p.endpoint->to_string(), "192.0.2.1:51820");
    EXPECT_EQ(p.persistent_keepalive_interval, 25);
    EXPECT_TRUE(p.replace_allowed_ips);
    EXPECT_FALSE(p.remove);
    EXPECT_FALSE(p.update_only);
    EXPECT_EQ(p.allowed_ips, (std::vector<IpPrefix>{prefix("10.0.0.0/24"), prefix("fd00::/64")}));
}

TEST(ParseSet, EmptyBody) {
    const SetRequest r = parse_ok("");
    EXPECT_FALSE(r.interface.private_key || r.interface.listen_port || r.interface.fwmark);
    EXPECT_FALSE(r.interface.replace_peers);
    EXPECT_TRUE(r.peers.empty());
}

TEST(ParseSet, InterfaceKeys) {
    const SetRequest r = parse_ok("private_key=" + kKeyB +
                                  "\nlisten_port=51820\nfwmark=4294967295\nreplace_peers=true\n");
    EXPECT_EQ(r.interface.private_key, key(kKeyB));
    EXPECT_EQ(r.interface.listen_port, 51820);
    EXPECT_EQ(r.interface.fwmark, 4294967295u);
    EXPECT_TRUE(r.interface.replace_peers);
}

TEST(ParseSet, NumbersAsGoParsesThem) {
    EXPECT_EQ(parse_ok("listen_port=0\n").interface.listen_port, 0);
    EXPECT_EQ(parse_ok("listen_port=65535\n").interface.listen_port, 65535);
    EXPECT_EQ(parse_ok("listen_port=00080\n").interface.listen_port, 80);  // leading zeros: Go too
    EXPECT_EQ(parse_ok("fwmark=0\n").interface.fwmark, 0u);
}

TEST(ParseSet, RepeatedInterfaceKeyKeepsTheLast) {
    EXPECT_EQ(parse_ok("listen_port=1\nlisten_port=2\n").interface.listen_port, 2);
}

TEST(ParseSet, HexKeysInEitherCase) {
    std::string upper(kKeyA);
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    EXPECT_EQ(parse_ok("public_key=" + upper + "\n").peers.at(0).public_key, key(kKeyA));
}

TEST(ParseSet, AllZeroKeysParse) {
    // Zeros mean "remove": the parser keeps them, the model interprets them.
    const std::string zeros(64, '0');
    const SetRequest r = parse_ok("private_key=" + zeros + "\npublic_key=" + kKeyA +
                                  "\npreshared_key=" + zeros + "\n");
    EXPECT_EQ(r.interface.private_key, Key{});
    EXPECT_EQ(r.peers.at(0).preshared_key, Key{});
}

TEST(ParseSet, EveryPeerKey) {
    const SetRequest r = parse_ok(
        lines({"public_key=" + kKeyA, "protocol_version=1", "remove=true", "update_only=true",
               "preshared_key=" + kKeyC, "endpoint=[2001:db8::1]:51820",
               "persistent_keepalive_interval=65535", "replace_allowed_ips=true",
               "allowed_ip=0.0.0.0/0", "allowed_ip=::/0", "allowed_ip=10.1.2.3/8"}));
    ASSERT_EQ(r.peers.size(), 1u);
    const PeerSet& p = r.peers[0];
    EXPECT_TRUE(p.remove);
    EXPECT_TRUE(p.update_only);
    EXPECT_TRUE(p.replace_allowed_ips);
    EXPECT_EQ(p.preshared_key, key(kKeyC));
    ASSERT_TRUE(p.endpoint);
    EXPECT_EQ(p.endpoint->to_string(), "[2001:db8::1]:51820");
    EXPECT_EQ(p.persistent_keepalive_interval, 65535);
    // Host bits kept as written; the model masks.
    EXPECT_EQ(p.allowed_ips,
              (std::vector<IpPrefix>{prefix("0.0.0.0/0"), prefix("::/0"), prefix("10.1.2.3/8")}));
}

TEST(ParseSet, PeerSectionsInOrderEvenForARepeatedKey) {
    const SetRequest r =
        parse_ok("public_key=" + kKeyA + "\nallowed_ip=10.0.0.1/32\n" + "public_key=" + kKeyB +
                 "\nremove=true\n" + "public_key=" + kKeyA + "\nallowed_ip=10.0.0.2/32\n");
    ASSERT_EQ(r.peers.size(), 3u);
    EXPECT_EQ(r.peers[0].public_key, key(kKeyA));
    EXPECT_EQ(r.peers[0].allowed_ips, std::vector<IpPrefix>{prefix("10.0.0.1/32")});
    EXPECT_EQ(r.peers[1].public_key, key(kKeyB));
    EXPECT_TRUE(r.peers[1].remove);
    EXPECT_FALSE(r.peers[0].remove);
    EXPECT_EQ(r.peers[2].allowed_ips, std::vector<IpPrefix>{prefix("10.0.0.2/32")});
}

TEST(ParseSet, LastLineWithoutNewline) {
    EXPECT_EQ(parse_ok("listen_port=7").interface.listen_port, 7);
}

TEST(ParseSet, Endpoints) {
    struct Case {
        std::string_view text, canonical;
    };
    for (const Case c :
         {Case{"1.2.3.4:0", "1.2.3.4:0"}, Case{"1.2.3.4:051820", "1.2.3.4:51820"},
          Case{"[::1]:51820", "[::1]:51820"}, Case{"[::ffff:1.2.3.4]:5", "[::ffff:1.2.3.4]:5"},
          Case{"[2001:DB8::1]:65535", "[2001:db8::1]:65535"}}) {
        const auto e = parse_socket_endpoint(c.text);
        ASSERT_TRUE(e) << c.text;
        EXPECT_EQ(e->to_string(), c.canonical);
        EXPECT_EQ(parse_socket_endpoint(e->to_string()), e) << "round trip of " << c.text;
    }
}

// ---- parse_set: bad input -----------------------------------------------------------------

TEST(ParseSet, LineWithoutEqualsIsAProtocolError) {
    EXPECT_EQ(parse_error("listen_port\n"), EPROTO);
    EXPECT_EQ(parse_error("listen_port=1\n\nfwmark=1\n"), EPROTO);  // an empty line inside
    EXPECT_EQ(parse_error("public_key=" + kKeyA + "\nremove\n"), EPROTO);
}

TEST(ParseSet, BadInterfaceValues) {
    const std::string k = kKeyB;
    const std::vector<std::string> bad_keys = {
        "private_key=" + k.substr(1), "private_key=" + k + "0",
        "private_key=", "private_key=" + k.substr(0, 63) + "g", "private_key= " + k.substr(1)};
    for (const std::string& line : bad_keys) EXPECT_EQ(parse_error(line + "\n"), EINVAL) << line;
    for (std::string_view line :
         {"listen_port=65536", "listen_port=-1", "listen_port=+1", "listen_port=", "listen_port= 1",
          "listen_port=1 ", "listen_port=0x10", "listen_port=99999999999999999999999",
          "fwmark=4294967296", "fwmark=-1", "fwmark=0x10", "replace_peers=false",
          "replace_peers=True", "replace_peers=", "replace_peers=true ", "bogus=1", "=1",
          "Listen_port=1", "listen_port =1"}) {
        EXPECT_EQ(parse_error(std::string(line) + "\n"), EINVAL) << line;
    }
}

TEST(ParseSet, BadPeerValues) {
    const std::string head = "public_key=" + kKeyA + "\n";
    for (std::string_view line :
         {"public_key=", "public_key=xyz", "preshared_key=12",
          // endpoints
          "endpoint=", "endpoint=1.2.3.4", "endpoint=1.2.3.4:", "endpoint=:5", "endpoint=::1:5",
          "endpoint=[1.2.3.4]:5", "endpoint=[::1]5", "endpoint=[::1",
          "endpoint=[::1]:", "endpoint=[fe80::1%eth0]:5", "endpoint=1.2.3.4:65536",
          "endpoint=1.2.3.4:+5", "endpoint=1.2.3.4:domain", "endpoint=localhost:5",
          "endpoint=010.1.1.1:5", "endpoint=1.2.3.4:5:6", "endpoint= 1.2.3.4:5",
          // allowed IPs: the /length is required, as netip.ParsePrefix requires it
          "allowed_ip=10.0.0.0", "allowed_ip=10.0.0.0/33", "allowed_ip=::/129",
          "allowed_ip=10.0.0.0/-1", "allowed_ip=10.0.0.0/ 8", "allowed_ip=/8",
          "allowed_ip=fe80::1%lo/64", "allowed_ip=10.0.0.0/8/8", "allowed_ip=",
          // numbers and flags
          "persistent_keepalive_interval=65536", "persistent_keepalive_interval=-1",
          "persistent_keepalive_interval=", "remove=false", "update_only=1",
          "replace_allowed_ips=yes", "protocol_version=2",
          "protocol_version=", "protocol_version=01",
          // keys only a get reply carries, and interface keys after a peer
          "last_handshake_time_sec=0", "tx_bytes=0", "rx_bytes=0", "listen_port=1",
          "private_key=0000000000000000000000000000000000000000000000000000000000000000",
          "replace_peers=true", "fwmark=1", "errno=0", "unknown=1"}) {
        EXPECT_EQ(parse_error(head + std::string(line) + "\n"), EINVAL) << line;
    }
}

TEST(ParseSet, PeerKeysNeedAPublicKeyFirst) {
    for (std::string_view line : {"remove=true", "allowed_ip=10.0.0.0/8", "endpoint=1.2.3.4:5",
                                  "protocol_version=1", "preshared_key=" /* value never read */}) {
        EXPECT_EQ(parse_error(std::string(line) + "\n"), EINVAL) << line;
    }
}

TEST(ParseSet, FailureLeavesTheOutputAlone) {
    SetRequest r;
    r.interface.listen_port = 4242;
    const Error e = parse_set("listen_port=1\npublic_key=" + kKeyA + "\nbad=1\n", &r);
    EXPECT_EQ(e.code, EINVAL);
    EXPECT_EQ(r.interface.listen_port, 4242);
    EXPECT_TRUE(r.peers.empty());
}

TEST(ParseSet, ErrorsNameLineAndKeyButNeverTheValue) {
    SetRequest r;
    const std::string bad_key = std::string(kKeyB.substr(0, 60)) + "zzzz";
    const Error e = parse_set("listen_port=1\nprivate_key=" + bad_key + "\n", &r);
    EXPECT_EQ(e.code, EINVAL);
    EXPECT_NE(e.message.find("line 3"), std::string::npos) << e.message;
    EXPECT_NE(e.message.find("private_key"), std::string::npos) << e.message;
    EXPECT_EQ(e.message.find(kKeyB.substr(0, 20)), std::string::npos) << e.message;
    // A hostile key name is cut short and made printable.
    const Error junk = parse_set(std::string(500, '\x01') + "=1\n", &r);
    EXPECT_EQ(junk.code, EINVAL);
    EXPECT_LT(junk.message.size(), 200u);
    EXPECT_EQ(junk.message.find('\x01'), std::string::npos);
}

// ---- format_get / format_errno -------------------------------------------------------------

TEST(FormatErrno, NegatedLikeWireguardGo) {
    EXPECT_EQ(format_errno(0), "errno=0\n\n");
    EXPECT_EQ(format_errno(EINVAL), "errno=-22\n\n");
    EXPECT_EQ(format_errno(EPROTO), "errno=-71\n\n");
}

TEST(FormatGet, EmptyDevice) {
    EXPECT_EQ(format_get(DeviceStatus{}), "errno=0\n\n");
}

TEST(FormatGet, ExactTextInWireguardGoOrder) {
    DeviceStatus s;
    s.private_key = key(kKeyB);
    s.listen_port = 51820;
    s.fwmark = 16;
    PeerStatus& a = s.peers.emplace_back();
    a.public_key = key(kKeyA);
    a.preshared_key = key(kKeyC);
    a.endpoint = parse_socket_endpoint("192.0.2.1:51820");
    a.last_handshake_time_sec = 1700000000;
    a.last_handshake_time_nsec = 123456789;
    a.tx_bytes = 18446744073709551615u;
    a.rx_bytes = 42;
    a.persistent_keepalive_interval = 25;
    a.allowed_ips = {prefix("10.0.0.0/24"), prefix("fd00::/64")};
    PeerStatus& b = s.peers.emplace_back();
    b.public_key = key(kKeyC);
    b.endpoint = parse_socket_endpoint("[2001:db8::1]:5");
    EXPECT_EQ(format_get(s), lines({"private_key=" + kKeyB,
                                    "listen_port=51820",
                                    "fwmark=16",
                                    "public_key=" + kKeyA,
                                    "preshared_key=" + kKeyC,
                                    "protocol_version=1",
                                    "endpoint=192.0.2.1:51820",
                                    "last_handshake_time_sec=1700000000",
                                    "last_handshake_time_nsec=123456789",
                                    "tx_bytes=18446744073709551615",
                                    "rx_bytes=42",
                                    "persistent_keepalive_interval=25",
                                    "allowed_ip=10.0.0.0/24",
                                    "allowed_ip=fd00::/64",
                                    "public_key=" + kKeyC,
                                    "protocol_version=1",
                                    "endpoint=[2001:db8::1]:5",
                                    "last_handshake_time_sec=0",
                                    "last_handshake_time_nsec=0",
                                    "tx_bytes=0",
                                    "rx_bytes=0",
                                    "persistent_keepalive_interval=0",
                                    "errno=0",
                                    ""}));
}

TEST(FormatGet, LeavesOutUnsetAndZeroFields) {
    DeviceStatus s;
    s.private_key = Key{};  // all zeros: no key, as wireguard-go treats it
    PeerStatus& p = s.peers.emplace_back();
    p.public_key = key(kKeyA);
    p.preshared_key = Key{};
    const std::string text = format_get(s);
    EXPECT_EQ(text.find("private_key="), std::string::npos) << text;
    EXPECT_EQ(text.find("listen_port="), std::string::npos) << text;
    EXPECT_EQ(text.find("fwmark="), std::string::npos) << text;
    EXPECT_EQ(text.find("preshared_key="), std::string::npos) << text;
    EXPECT_EQ(text.find("endpoint="), std::string::npos) << text;
    EXPECT_EQ(text.find("allowed_ip="), std::string::npos) << text;
    EXPECT_EQ(text.rfind("errno=0\n\n"), text.size() - 9);
}

}  // namespace
}  // namespace sluice::uapi
