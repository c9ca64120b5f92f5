// Transport data messages: round trips, WireGuard's padding rule, counter
// reservation, every drop reason the transport stage can give, and the
// counters that record them.
#include "dataplane/transport.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/aead.hpp"
#include "dataplane/drop_reasons.hpp"

namespace sluice {
namespace {

using Bytes = std::vector<uint8_t>;

constexpr int64_t kSecond = 1'000'000'000;
constexpr int64_t kBirth = 5000 * kSecond;
constexpr int64_t kNow = kBirth + 1 * kSecond;
constexpr uint32_t kMtu = wire::kDefaultMtu;
constexpr uint32_t kIndex = 0x11223344;
constexpr uint8_t kJunk = 0xa5;  // what fills buffers beyond the data, to catch missing padding

// An inner IPv4 packet of `total` bytes whose header claims `claimed` bytes.
Bytes ipv4_packet(uint32_t total, uint32_t claimed, uint8_t seed = 0) {
    Bytes p(total);
    for (uint32_t i = 0; i < total; ++i) p[i] = static_cast<uint8_t>(i * 7 + seed);
    if (total >= 1) p[0] = 0x45;  // version 4, IHL 5
    if (total >= 4) {
        p[2] = static_cast<uint8_t>(claimed >> 8);
        p[3] = static_cast<uint8_t>(claimed);
    }
    return p;
}
Bytes ipv4_packet(uint32_t total) {
    return ipv4_packet(total, total);
}

Bytes ipv6_packet(uint32_t total, uint32_t claimed_payload, uint8_t seed = 0) {
    Bytes p(total);
    for (uint32_t i = 0; i < total; ++i) p[i] = static_cast<uint8_t>(i * 13 + seed);
    if (total >= 1) p[0] = 0x60;  // version 6
    if (total >= 6) {
        p[4] = static_cast<uint8_t>(claimed_payload >> 8);
        p[5] = static_cast<uint8_t>(claimed_payload);
    }
    return p;
}
Bytes ipv6_packet(uint32_t total) {
    return ipv6_packet(total, total - 40);
}

// A packet buffer that owns its storage; copyable, unlike a TransportPacket view.
struct Packet {
    Bytes storage;
    uint32_t len = 0;

    static Packet plain(const Bytes& inner, uint32_t spare = 64) {
        Packet p;
        p.storage.assign(wire::kTransportHeaderLen + inner.size() + wire::kAeadTagLen + 16 + spare,
                         kJunk);
        std::copy(inner.begin(), inner.end(), p.storage.begin() + wire::kTransportHeaderLen);
        p.len = static_cast<uint32_t>(inner.size());
        return p;
    }
    TransportPacket view() {
        return TransportPacket{storage.data(), len, static_cast<uint32_t>(storage.size())};
    }
    wire::TransportHeader header() const {
        wire::TransportHeader h;
        std::memcpy(&h, storage.data(), sizeof h);
        return h;
    }
    Bytes inner(const PacketResult& r) const {
        return Bytes(storage.begin() + r.offset, storage.begin() + r.offset + r.length);
    }
};

Key test_key(uint8_t seed) {
    Key key;
    for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(seed + 3 * i);
    return key;
}

// One direction of a session: what the sender holds and what the receiver holds.
struct Session {
    Keypair sender;
    Keypair receiver;

    explicit Session(uint8_t key_seed = 1, uint32_t index = kIndex) {
        sender.send_key = test_key(key_seed);
        sender.remote_index = index;
        sender.birth_ns = kBirth;
        receiver.receive_key = test_key(key_seed);
        receiver.local_index = index;
        receiver.birth_ns = kBirth;
    }
};

std::vector<PacketResult> encrypt(Keypair& keypair, std::vector<Packet>& packets,
                                  TransportCounters& counters, uint32_t mtu = kMtu,
                                  int64_t now = kNow) {
    std::vector<TransportPacket> views;
    for (Packet& p : packets) views.push_back(p.view());
    std::vector<PacketResult> results(packets.size());
    encrypt_burst(keypair, views.data(), views.size(), mtu, now, results.data(), counters);
    for (size_t i = 0; i < packets.size(); ++i) packets[i].len = views[i].len;
    return results;
}

std::vector<PacketResult> decrypt(const std::vector<Keypair*>& keypairs,
                                  std::vector<Packet>& packets, TransportCounters& counters,
                                  int64_t now = kNow) {
    std::vector<TransportPacket> views;
    for (Packet& p : packets) views.push_back(p.view());
    std::vector<PacketResult> results(packets.size());
    decrypt_burst(keypairs.data(), views.data(), views.size(), now, results.data(), counters);
    for (size_t i = 0; i < packets.size(); ++i) EXPECT_EQ(views[i].len, packets[i].len);
    return results;
}

std::vector<PacketResult> decrypt(Keypair& keypair, std::vector<Packet>& packets,
                                  TransportCounters& counters, int64_t now = kNow) {
    return decrypt(std::vector<Keypair*>(packets.size(), &keypair), packets, counters, now);
}

uint64_t drops_named(const TransportCounters& counters, std::string_view name) {
    const auto reason = drop_reason_from_name(name);
    EXPECT_TRUE(reason.has_value()) << name;
    return reason ? counters.dropped(*reason) : ~uint64_t{0};
}

void expect_dropped(const PacketResult& r, DropReason reason) {
    EXPECT_EQ(r.verdict, Verdict::drop);
    EXPECT_EQ(drop_reason_name(r.reason), drop_reason_name(reason));
}

// Encrypts one packet and returns it ready to be received.
Packet sealed(Session& s, const Bytes& inner) {
    std::vector<Packet> one{Packet::plain(inner)};
    TransportCounters counters;
    const auto results = encrypt(s.sender, one, counters);
    EXPECT_EQ(results[0].verdict, Verdict::send);
    return one[0];
}

// ---- Drop reason table ----------------------------------------------------

TEST(DropReasons, NamesAreUniqueSnakeCaseAndRoundTrip) {
    std::set<std::string_view> seen;
    for (size_t i = 0; i < kDropReasonCount; ++i) {
        const auto reason = static_cast<DropReason>(i);
        const std::string_view name = drop_reason_name(reason);
        EXPECT_TRUE(seen.insert(name).second) << name;
        EXPECT_FALSE(name.empty());
        for (char c : name) EXPECT_TRUE((c >= 'a' && c <= 'z') || c == '_') << name;
        EXPECT_EQ(drop_reason_from_name(name), reason);
        EXPECT_FALSE(drop_reason_description(reason).empty()) << name;
    }
    EXPECT_EQ(drop_reason_name(DropReason::none), "none");
    EXPECT_EQ(drop_reason_name(DropReason::source_not_allowed), "source_not_allowed");
    EXPECT_FALSE(drop_reason_from_name("no_such_reason").has_value());
    for (const char* needed :
         {"too_short", "bad_type", "unknown_index", "key_expired", "counter_exhausted", "replay",
          "auth_failed", "invalid_inner_packet", "no_capacity", "no_route", "no_key"}) {
        EXPECT_TRUE(drop_reason_from_name(needed).has_value()) << needed;
    }
}

// ---- Round trips --------------------------------------------------------

void round_trip_all_sizes(bool ipv6) {
    Session s;
    TransportCounters tx, rx;
    std::vector<Packet> packets;
    std::vector<Bytes> inners;
    for (uint32_t size = ipv6 ? 40 : 20; size <= 1500; ++size) {
        inners.push_back(ipv6 ? ipv6_packet(size, size - 40, static_cast<uint8_t>(size))
                              : ipv4_packet(size, size, static_cast<uint8_t>(size)));
        packets.push_back(Packet::plain(inners.back()));
    }
    // Bursts of 32, the usual rx/tx burst size.
    for (size_t start = 0; start < packets.size(); start += 32) {
        const size_t end = std::min(packets.size(), start + 32);
        std::vector<Packet> burst(packets.begin() + start, packets.begin() + end);
        const auto sent = encrypt(s.sender, burst, tx);
        for (size_t i = 0; i < burst.size(); ++i) {
            const uint32_t size = static_cast<uint32_t>(inners[start + i].size());
            ASSERT_EQ(sent[i].verdict, Verdict::send) << size;
            EXPECT_EQ(sent[i].length, 32 + padded_length(size, kMtu)) << size;
            EXPECT_EQ(burst[i].len, sent[i].length);
            EXPECT_EQ(burst[i].header().receiver_index, kIndex);
        }
        const auto received = decrypt(s.receiver, burst, rx);
        for (size_t i = 0; i < burst.size(); ++i) {
            const Bytes& inner = inners[start + i];
            ASSERT_EQ(received[i].verdict, Verdict::deliver) << inner.size();
            EXPECT_TRUE(received[i].authenticated);
            EXPECT_EQ(received[i].offset, wire::kTransportHeaderLen);
            EXPECT_EQ(received[i].length, inner.size());
            EXPECT_EQ(burst[i].inner(received[i]), inner) << inner.size();
        }
    }
    EXPECT_EQ(tx.tx_packets, packets.size());
    EXPECT_EQ(rx.rx_packets, packets.size());
    EXPECT_EQ(tx.tx_bytes, rx.rx_bytes);
    EXPECT_EQ(tx.total_drops() + rx.total_drops(), 0u);
}

TEST(Transport, RoundTripEveryIpv4SizeUpTo1500) {
    round_trip_all_sizes(false);
}

TEST(Transport, RoundTripEveryIpv6SizeUpTo1500) {
    round_trip_all_sizes(true);
}

TEST(Transport, OneDecryptBurstMayMixKeypairs) {
    Session a(1, 100), b(77, 200);
    std::vector<Packet> packets;
    std::vector<Keypair*> keypairs;
    std::vector<Bytes> inners;
    for (int i = 0; i < 20; ++i) {
        Session& s = i % 3 == 0 ? b : a;
        inners.push_back(i % 2 ? ipv6_packet(60 + i) : ipv4_packet(100 + i * 50));
        packets.push_back(sealed(s, inners.back()));
        keypairs.push_back(&s.receiver);
    }
    TransportCounters rx;
    const auto results = decrypt(keypairs, packets, rx);
    for (size_t i = 0; i < packets.size(); ++i) {
        ASSERT_EQ(results[i].verdict, Verdict::deliver) << i;
        EXPECT_EQ(packets[i].inner(results[i]), inners[i]);
    }
    // Swapping the keypairs: b's packets fail on a's key with a's index, etc.
    std::vector<Packet> again = packets;
    std::swap(keypairs[0], keypairs[1]);  // packet 0 is b's, packet 1 is a's
    TransportCounters rx2;
    const auto swapped = decrypt(keypairs, again, rx2);
    expect_dropped(swapped[0], DropReason::unknown_index);
    expect_dropped(swapped[1], DropReason::unknown_index);
}

// ---- Padding ------------------------------------------------------------

struct PaddingCase {
    uint32_t len;
    uint32_t mtu;
    uint32_t padded;
};

class Padding : public ::testing::TestWithParam<PaddingCase> {};

TEST_P(Padding, FollowsWireGuardsRuleAndPadsWithZeros) {
    const PaddingCase c = GetParam();
    EXPECT_EQ(padded_length(c.len, c.mtu), c.padded);

    Session s;
    Bytes inner(c.len);
    for (uint32_t i = 0; i < c.len; ++i) inner[i] = static_cast<uint8_t>(i + 1);
    std::vector<Packet> one{Packet::plain(inner)};
    TransportCounters tx;
    const auto results = encrypt(s.sender, one, tx, c.mtu);
    ASSERT_EQ(results[0].verdict, Verdict::send);
    ASSERT_EQ(results[0].length, wire::kTransportHeaderLen + c.padded + wire::kAeadTagLen);

    // Open the payload directly to see the padding the transport layer added.
    const Packet& p = one[0];
    const std::span<const uint8_t> ciphertext(p.storage.data() + wire::kTransportHeaderLen,
                                              c.padded);
    Bytes plaintext(c.padded);
    ASSERT_TRUE(AeadEngine::this_thread().open(s.receiver.receive_key, p.header().counter, {},
                                               ciphertext, ciphertext.data() + c.padded,
                                               plaintext.data()));
    Bytes expected = inner;
    expected.resize(c.padded, 0);
    EXPECT_EQ(plaintext, expected);
}

INSTANTIATE_TEST_SUITE_P(
    Transport, Padding,
    ::testing::Values(PaddingCase{0, 1420, 0}, PaddingCase{1, 1420, 16}, PaddingCase{15, 1420, 16},
                      PaddingCase{16, 1420, 16}, PaddingCase{17, 1420, 32},
                      PaddingCase{1404, 1420, 1408},
                      PaddingCase{1409, 1420, 1420},  // capped at the MTU
                      PaddingCase{1420, 1420, 1420},
                      PaddingCase{1421, 1420, 1421},  // over the MTU: as is
                      PaddingCase{1410, 1419, 1419},  // MTU not a multiple of 16
                      PaddingCase{1419, 1419, 1419}, PaddingCase{100, 0, 112}));  // no MTU known

TEST(Transport, NoCapacityForPaddingAndTagTakesNoCounter) {
    Session s;
    TransportCounters tx;
    // 17 bytes pad to 32: 16 + 32 + 16 = 64 bytes needed.
    Packet tight = Packet::plain(Bytes(17, 1));
    tight.storage.resize(63);
    Packet exact = Packet::plain(Bytes(17, 1));
    exact.storage.resize(64);
    std::vector<Packet> packets{tight, exact};
    const auto results = encrypt(s.sender, packets, tx);
    expect_dropped(results[0], DropReason::no_capacity);
    ASSERT_EQ(results[1].verdict, Verdict::send);
    EXPECT_EQ(packets[1].header().counter, 0u);
    EXPECT_EQ(s.sender.send_counter.load(), 1u);
    EXPECT_EQ(drops_named(tx, "no_capacity"), 1u);
}

// ---- Keepalives -----------------------------------------------------------

TEST(Transport, KeepaliveIsSentAndCountedButNotDelivered) {
    Session s;
    TransportCounters tx, rx;
    std::vector<Packet> packets{Packet::plain({})};
    const auto sent = encrypt(s.sender, packets, tx);
    ASSERT_EQ(sent[0].verdict, Verdict::send);
    EXPECT_EQ(sent[0].length, wire::kTransportMinLen);
    EXPECT_EQ(tx.tx_keepalives, 1u);
    EXPECT_EQ(tx.tx_packets, 1u);

    const auto received = decrypt(s.receiver, packets, rx);
    EXPECT_EQ(received[0].verdict, Verdict::keepalive);
    EXPECT_TRUE(received[0].authenticated);
    EXPECT_EQ(received[0].length, 0u);
    EXPECT_EQ(rx.rx_keepalives, 1u);
    EXPECT_EQ(rx.rx_bytes, wire::kTransportMinLen);
    EXPECT_EQ(rx.total_drops(), 0u);
}

// ---- Counters and replay --------------------------------------------------

TEST(Transport, CountersAreReservedPerBurstAndNeverReused) {
    Session s;
    TransportCounters tx;
    std::vector<uint64_t> seen;
    for (size_t burst_size : {5, 32, 1, 70}) {
        std::vector<Packet> packets;
        for (size_t i = 0; i < burst_size; ++i) packets.push_back(Packet::plain(ipv4_packet(60)));
        const auto results = encrypt(s.sender, packets, tx);
        for (size_t i = 0; i < burst_size; ++i) {
            ASSERT_EQ(results[i].verdict, Verdict::send);
            seen.push_back(packets[i].header().counter);
        }
    }
    ASSERT_EQ(seen.size(), 108u);
    for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], i);
    EXPECT_EQ(s.sender.send_counter.load(), seen.size());
}

TEST(Transport, ConcurrentSendersOnOneKeypairNeverShareACounter) {
    Session s;
    constexpr int kThreads = 4, kBursts = 40, kBurst = 32;
    std::vector<std::vector<uint64_t>> counters_by_thread(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            TransportCounters tx;  // per lcore, as in the dataplane
            for (int b = 0; b < kBursts; ++b) {
                std::vector<Packet> packets(kBurst, Packet::plain(Bytes{}));
                encrypt(s.sender, packets, tx);
                for (const Packet& p : packets) counters_by_thread[t].push_back(p.header().counter);
            }
        });
    }
    for (auto& thread : threads) thread.join();
    std::set<uint64_t> all;
    for (const auto& list : counters_by_thread) {
        for (size_t i = 1; i < list.size(); ++i) EXPECT_LT(list[i - 1], list[i]);
        all.insert(list.begin(), list.end());
    }
    EXPECT_EQ(all.size(), size_t{kThreads} * kBursts * kBurst);
    EXPECT_EQ(*all.rbegin(), all.size() - 1);  // dense: no counter skipped either
}

TEST(Transport, CounterExhaustedAtRejectAfterMessages) {
    Session s;
    TransportCounters tx, rx;
    s.sender.send_counter = wire::kRejectAfterMessages - 2;
    std::vector<Packet> packets(4, Packet::plain(ipv4_packet(40)));
    const auto results = encrypt(s.sender, packets, tx);
    ASSERT_EQ(results[0].verdict, Verdict::send);
    ASSERT_EQ(results[1].verdict, Verdict::send);
    EXPECT_EQ(packets[1].header().counter, wire::kRejectAfterMessages - 1);
    expect_dropped(results[2], DropReason::counter_exhausted);
    expect_dropped(results[3], DropReason::counter_exhausted);
    EXPECT_EQ(drops_named(tx, "counter_exhausted"), 2u);

    // An exhausted keypair is not pushed any further toward 2^64.
    const uint64_t after_first = s.sender.send_counter.load();
    std::vector<Packet> more(4, Packet::plain(ipv4_packet(40)));
    for (const auto& r : encrypt(s.sender, more, tx)) {
        expect_dropped(r, DropReason::counter_exhausted);
    }
    EXPECT_EQ(s.sender.send_counter.load(), after_first);
    EXPECT_EQ(drops_named(tx, "counter_exhausted"), 6u);

    // The last valid counter is still accepted by the receiver...
    std::vector<Packet> last{packets[1]};
    EXPECT_EQ(decrypt(s.receiver, last, rx)[0].verdict, Verdict::deliver);
    // ...and one past it is refused before any decryption.
    std::vector<Packet> past{packets[0]};
    const uint64_t beyond = wire::kRejectAfterMessages;
    std::memcpy(past[0].storage.data() + 8, &beyond, sizeof beyond);
    expect_dropped(decrypt(s.receiver, past, rx)[0], DropReason::counter_exhausted);
}

TEST(Transport, SameMessageTwiceIsAReplay) {
    Session s;
    TransportCounters rx;
    const Packet original = sealed(s, ipv4_packet(100));

    std::vector<Packet> first{original};
    EXPECT_EQ(decrypt(s.receiver, first, rx)[0].verdict, Verdict::deliver);
    std::vector<Packet> second{original};
    const auto again = decrypt(s.receiver, second, rx);
    expect_dropped(again[0], DropReason::replay);
    EXPECT_FALSE(again[0].authenticated);
    EXPECT_EQ(drops_named(rx, "replay"), 1u);
    // Refused by the pre-check, so never decrypted: the message is untouched.
    EXPECT_EQ(second[0].storage, original.storage);

    // Two copies in one burst: both pass the pre-check, only the first the window.
    const Packet other = sealed(s, ipv4_packet(120));
    std::vector<Packet> twice{other, other};
    const auto both = decrypt(s.receiver, twice, rx);
    EXPECT_EQ(both[0].verdict, Verdict::deliver);
    expect_dropped(both[1], DropReason::replay);
    EXPECT_EQ(drops_named(rx, "replay"), 2u);
    EXPECT_EQ(rx.rx_packets, 2u);
}

TEST(Transport, CounterBehindTheWindowIsAReplay) {
    Session s;
    TransportCounters rx;
    const Packet at_0 = sealed(s, ipv4_packet(64));
    s.sender.send_counter = 872;
    const Packet at_872 = sealed(s, ipv4_packet(64));
    const Packet at_873 = sealed(s, ipv4_packet(64));
    s.sender.send_counter = 9000;
    const Packet at_9000 = sealed(s, ipv4_packet(64));

    std::vector<Packet> burst{at_9000, at_0, at_872, at_873};
    const auto results = decrypt(s.receiver, burst, rx);
    EXPECT_EQ(results[0].verdict, Verdict::deliver);
    // 8128 usable counters: 9000 - 8128 = 872 is just outside, 873 just inside.
    expect_dropped(results[1], DropReason::replay);
    expect_dropped(results[2], DropReason::replay);
    EXPECT_EQ(results[3].verdict, Verdict::deliver);
}

// ---- Key age ------------------------------------------------------------

TEST(Transport, KeyExpiredAfterRejectAfterTime) {
    Session s;
    TransportCounters tx, rx;
    const int64_t limit = kBirth + 180 * kSecond;

    std::vector<Packet> late(3, Packet::plain(ipv4_packet(80)));
    for (const auto& r : encrypt(s.sender, late, tx, kMtu, limit)) {
        expect_dropped(r, DropReason::key_expired);
    }
    EXPECT_EQ(s.sender.send_counter.load(), 0u);  // no counters spent on an expired key
    EXPECT_EQ(drops_named(tx, "key_expired"), 3u);

    std::vector<Packet> just_in_time(2, Packet::plain(ipv4_packet(80)));
    const auto sent = encrypt(s.sender, just_in_time, tx, kMtu, limit - 1);
    ASSERT_EQ(sent[0].verdict, Verdict::send);

    std::vector<Packet> copy = just_in_time;
    expect_dropped(decrypt(s.receiver, copy, rx, limit)[0], DropReason::key_expired);
    EXPECT_EQ(decrypt(s.receiver, just_in_time, rx, limit - 1)[0].verdict, Verdict::deliver);
    EXPECT_EQ(drops_named(rx, "key_expired"), 2u);
}

// ---- Malformed messages -----------------------------------------------------

TEST(Transport, TooShortAndTruncated) {
    Session s;
    TransportCounters rx;
    const Packet good = sealed(s, ipv4_packet(200));

    std::vector<Packet> burst{good, good, good, good};
    burst[0].len = wire::kTransportMinLen - 1;  // cannot even hold a keepalive
    burst[1].len = 0;
    burst[2].len = good.len - 1;            // truncated: the tag is now in the wrong place
    burst[3].len = wire::kTransportMinLen;  // truncated to what looks like a keepalive
    const auto results = decrypt(s.receiver, burst, rx);
    expect_dropped(results[0], DropReason::too_short);
    expect_dropped(results[1], DropReason::too_short);
    expect_dropped(results[2], DropReason::auth_failed);
    expect_dropped(results[3], DropReason::auth_failed);
    EXPECT_EQ(drops_named(rx, "too_short"), 2u);
    EXPECT_EQ(drops_named(rx, "auth_failed"), 2u);

    // None of that moved the window: the genuine message still gets through.
    std::vector<Packet> genuine{good};
    EXPECT_EQ(decrypt(s.receiver, genuine, rx)[0].verdict, Verdict::deliver);
}

TEST(Transport, BadTypeOrReservedBytes) {
    Session s;
    TransportCounters rx;
    const Packet good = sealed(s, ipv4_packet(64));
    std::vector<Packet> burst{good, good, good};
    burst[0].storage[0] = static_cast<uint8_t>(wire::MessageType::handshake_initiation);
    burst[1].storage[2] = 1;  // reserved must be zero
    burst[2].storage[0] = 0;
    for (const auto& r : decrypt(s.receiver, burst, rx)) expect_dropped(r, DropReason::bad_type);
    EXPECT_EQ(drops_named(rx, "bad_type"), 3u);
}

TEST(Transport, UnknownIndex) {
    Session s;
    TransportCounters rx;
    const Packet good = sealed(s, ipv4_packet(64));
    std::vector<Packet> burst{good, good};
    Keypair other;
    other.receive_key = s.receiver.receive_key;
    other.local_index = kIndex + 1;  // the caller handed us a keypair for another index
    other.birth_ns = kBirth;
    const auto results = decrypt({nullptr, &other}, burst, rx);
    expect_dropped(results[0], DropReason::unknown_index);
    expect_dropped(results[1], DropReason::unknown_index);
    EXPECT_EQ(drops_named(rx, "unknown_index"), 2u);
}

TEST(Transport, BadTagFailsOnlyThatPacketAndLeavesTheWindowAlone) {
    Session s;
    TransportCounters rx;
    std::vector<Packet> burst;
    for (int i = 0; i < 5; ++i) burst.push_back(sealed(s, ipv4_packet(300 + i)));
    const Packet genuine_2 = burst[2];
    burst[2].storage[burst[2].len - 1] ^= 0x01;                // tag
    burst[4].storage[wire::kTransportHeaderLen + 17] ^= 0x20;  // ciphertext
    const auto results = decrypt(s.receiver, burst, rx);
    EXPECT_EQ(results[0].verdict, Verdict::deliver);
    EXPECT_EQ(results[1].verdict, Verdict::deliver);
    expect_dropped(results[2], DropReason::auth_failed);
    EXPECT_FALSE(results[2].authenticated);
    EXPECT_EQ(results[3].verdict, Verdict::deliver);
    expect_dropped(results[4], DropReason::auth_failed);
    EXPECT_EQ(drops_named(rx, "auth_failed"), 2u);

    std::vector<Packet> retry{genuine_2};
    EXPECT_EQ(decrypt(s.receiver, retry, rx)[0].verdict, Verdict::deliver);
}

TEST(Transport, InvalidInnerPackets) {
    Session s;
    TransportCounters rx;
    const uint32_t padded_100 = padded_length(100, kMtu);  // 112
    std::vector<Bytes> bad = {
        ipv4_packet(100, padded_100 + 1),  // claims more than was decrypted, padding included
        ipv4_packet(100, 19),              // total length shorter than any IPv4 header
        ipv4_packet(16, 20),  // padded to 16 only: too short to hold an IPv4 header at all
        ipv6_packet(100, padded_100 - 40 + 1),
        ipv6_packet(32, 0),  // padded to 32: too short for the fixed IPv6 header
        Bytes(64, 0x50),     // version 5
        Bytes(64, 0x00),     // version 0
    };
    Bytes ihl4 = ipv4_packet(100);
    ihl4[0] = 0x44;  // IHL 4: a header shorter than the minimum
    bad.push_back(ihl4);
    Bytes ihl15 = ipv4_packet(100, 59);
    ihl15[0] = 0x4f;  // 60-byte header, but the total length says 59
    bad.push_back(ihl15);

    std::vector<Packet> burst;
    for (const Bytes& inner : bad) burst.push_back(sealed(s, inner));
    const auto results = decrypt(s.receiver, burst, rx);
    for (size_t i = 0; i < results.size(); ++i) {
        expect_dropped(results[i], DropReason::invalid_inner_packet);
        // Authenticated all the same: the peer did send it.
        EXPECT_TRUE(results[i].authenticated) << i;
    }
    EXPECT_EQ(drops_named(rx, "invalid_inner_packet"), bad.size());
    EXPECT_EQ(rx.rx_packets, 0u);
}

TEST(Transport, InnerLengthWithinThePaddingIsTrimmedToTheClaim) {
    Session s;
    TransportCounters rx;
    // 100 bytes sent, padded to 112; a header claiming 105 is honest enough
    // (the extra bytes are padding), and delivery is trimmed to 105.
    std::vector<Packet> burst{sealed(s, ipv4_packet(100, 105)), sealed(s, ipv6_packet(100, 72))};
    const auto results = decrypt(s.receiver, burst, rx);
    ASSERT_EQ(results[0].verdict, Verdict::deliver);
    EXPECT_EQ(results[0].length, 105u);
    ASSERT_EQ(results[1].verdict, Verdict::deliver);
    EXPECT_EQ(results[1].length, 112u);
}

TEST(Transport, InnerPacketLength) {
    EXPECT_EQ(inner_packet_length(ipv4_packet(20).data(), 20), 20u);
    EXPECT_EQ(inner_packet_length(ipv4_packet(60, 40).data(), 60), 40u);
    EXPECT_EQ(inner_packet_length(ipv4_packet(60, 61).data(), 60), 0u);
    EXPECT_EQ(inner_packet_length(ipv6_packet(40).data(), 40), 40u);
    EXPECT_EQ(inner_packet_length(ipv6_packet(80, 20).data(), 80), 60u);
    EXPECT_EQ(inner_packet_length(ipv6_packet(80, 41).data(), 80), 0u);
    const uint8_t one = 0x45;
    EXPECT_EQ(inner_packet_length(&one, 1), 0u);
    EXPECT_EQ(inner_packet_length(&one, 0), 0u);
}

// ---- A burst with a bit of everything -------------------------------------

TEST(Transport, MixedBurstGivesEachPacketItsOwnVerdictAndCountsByName) {
    Session s;
    TransportCounters rx;
    const Packet data_v4 = sealed(s, ipv4_packet(500));
    const Packet keepalive = sealed(s, {});
    const Packet data_v6 = sealed(s, ipv6_packet(1280));
    Packet forged = sealed(s, ipv4_packet(90));
    forged.storage[wire::kTransportHeaderLen] ^= 1;
    Packet short_one = data_v4;
    short_one.len = 10;

    std::vector<Packet> burst{data_v4, forged, short_one, keepalive, data_v4, data_v6, data_v6};
    std::vector<Keypair*> keypairs(burst.size(), &s.receiver);
    keypairs[6] = nullptr;
    const auto results = decrypt(keypairs, burst, rx);
    EXPECT_EQ(results[0].verdict, Verdict::deliver);
    expect_dropped(results[1], DropReason::auth_failed);
    expect_dropped(results[2], DropReason::too_short);
    EXPECT_EQ(results[3].verdict, Verdict::keepalive);
    expect_dropped(results[4], DropReason::replay);
    EXPECT_EQ(results[5].verdict, Verdict::deliver);
    expect_dropped(results[6], DropReason::unknown_index);

    EXPECT_EQ(rx.rx_packets, 3u);
    EXPECT_EQ(rx.rx_keepalives, 1u);
    EXPECT_EQ(rx.rx_bytes, data_v4.len + keepalive.len + data_v6.len);
    for (const char* name : {"auth_failed", "too_short", "replay", "unknown_index"}) {
        EXPECT_EQ(drops_named(rx, name), 1u) << name;
    }
    EXPECT_EQ(drops_named(rx, "none"), 0u);
    EXPECT_EQ(rx.total_drops(), 4u);
}

// ---- Pipeline mode: the split stages ----------------------------------------

void expect_same_result(const PacketResult& a, const PacketResult& b, size_t i) {
    EXPECT_EQ(a.verdict, b.verdict) << i;
    EXPECT_EQ(drop_reason_name(a.reason), drop_reason_name(b.reason)) << i;
    EXPECT_EQ(a.authenticated, b.authenticated) << i;
    EXPECT_EQ(a.offset, b.offset) << i;
    EXPECT_EQ(a.length, b.length) << i;
}

void expect_same_counters(const TransportCounters& a, const TransportCounters& b) {
    EXPECT_EQ(a.tx_packets, b.tx_packets);
    EXPECT_EQ(a.tx_bytes, b.tx_bytes);
    EXPECT_EQ(a.tx_keepalives, b.tx_keepalives);
    EXPECT_EQ(a.rx_packets, b.rx_packets);
    EXPECT_EQ(a.rx_bytes, b.rx_bytes);
    EXPECT_EQ(a.rx_keepalives, b.rx_keepalives);
    for (size_t r = 0; r < kDropReasonCount; ++r) {
        EXPECT_EQ(a.drops[r], b.drops[r]) << drop_reason_name(static_cast<DropReason>(r));
    }
}

// How the opening is spread over crypto lcores in decrypt_split.
enum class Opening {
    in_order,         // one decrypt_open_burst over every packet that passed the checks
    reversed_halves,  // two "workers": the second half opened first, each half back to front
};

// Decryption as pipeline mode runs it: decrypt_check on every packet (the
// caller counts what it refuses), decrypt_open_burst on those that pass,
// decrypt_accept in arrival order.
std::vector<PacketResult> decrypt_split(const std::vector<Keypair*>& keypairs,
                                        std::vector<Packet>& packets, TransportCounters& counters,
                                        Opening opening = Opening::in_order, int64_t now = kNow) {
    std::vector<TransportPacket> views;
    for (Packet& p : packets) views.push_back(p.view());
    std::vector<PacketResult> results(packets.size());
    std::vector<size_t> go;
    for (size_t i = 0; i < packets.size(); ++i) {
        const DropReason why = decrypt_check(keypairs[i], views[i], now);
        if (why != DropReason::none) {
            results[i].verdict = Verdict::drop;
            results[i].reason = why;
            ++counters.dropped(why);
            continue;
        }
        go.push_back(i);
    }
    // One worker's share: the packets at go[order[0..)], opened in that order.
    auto open = [&](const std::vector<size_t>& order) {
        std::vector<Keypair*> keys;
        std::vector<TransportPacket> share;
        for (size_t j : order) {
            keys.push_back(keypairs[go[j]]);
            share.push_back(views[go[j]]);
        }
        std::vector<PacketResult> opened(order.size());
        decrypt_open_burst(keys.data(), share.data(), share.size(), opened.data());
        for (size_t k = 0; k < order.size(); ++k) {
            EXPECT_FALSE(opened[k].authenticated) << "the window has not seen it yet";
            results[go[order[k]]] = opened[k];
        }
    };
    std::vector<size_t> all(go.size());
    for (size_t j = 0; j < go.size(); ++j) all[j] = j;
    if (opening == Opening::in_order) {
        open(all);
    } else {
        const size_t half = go.size() / 2;
        std::vector<size_t> first(all.begin(), all.begin() + half);
        std::vector<size_t> second(all.begin() + half, all.end());
        std::reverse(first.begin(), first.end());
        std::reverse(second.begin(), second.end());
        open(second);
        open(first);
    }
    for (size_t i : go) decrypt_accept(*keypairs[i], views[i], results[i], counters);
    for (size_t i = 0; i < packets.size(); ++i) EXPECT_EQ(views[i].len, packets[i].len);
    return results;
}

// Two receivers in the same state, for the same packets through both paths.
struct TwinReceivers {
    Session session;
    Keypair twin;

    TwinReceivers() {
        twin.receive_key = session.receiver.receive_key;
        twin.local_index = session.receiver.local_index;
        twin.birth_ns = session.receiver.birth_ns;
    }
};

// Every kind of packet the receive side tells apart, in one burst, and a
// counter both receivers have already seen.
struct MixedBurst {
    std::vector<Packet> packets;
    std::vector<bool> known;  // false: no keypair for it
};

MixedBurst mixed_burst(TwinReceivers& t) {
    Session& s = t.session;
    const Packet seen_before = sealed(s, ipv4_packet(70));
    {
        TransportCounters ignored;
        std::vector<Packet> once{seen_before};
        EXPECT_EQ(decrypt(s.receiver, once, ignored)[0].verdict, Verdict::deliver);
        std::vector<Packet> twice{seen_before};
        EXPECT_EQ(decrypt(t.twin, twice, ignored)[0].verdict, Verdict::deliver);
    }
    const Packet v4 = sealed(s, ipv4_packet(500));
    const Packet v6 = sealed(s, ipv6_packet(1280));
    const Packet keepalive = sealed(s, {});
    Packet forged = sealed(s, ipv4_packet(90));
    forged.storage[forged.len - 3] ^= 0x40;                   // tag
    const Packet invalid_inner = sealed(s, Bytes(64, 0x50));  // version 5
    Packet too_short = sealed(s, ipv4_packet(40));
    too_short.len = wire::kTransportMinLen - 1;
    Packet bad_type = sealed(s, ipv4_packet(40));
    bad_type.storage[1] = 1;  // reserved byte
    const Packet nobodys = sealed(s, ipv4_packet(80));
    const Packet duplicated = sealed(s, ipv6_packet(200));
    const Packet late = sealed(s, ipv4_packet(333));

    MixedBurst b;
    for (const Packet* p : std::initializer_list<const Packet*>{
             &v4, &seen_before, &forged, &duplicated, &invalid_inner, &keepalive, &too_short,
             &nobodys, &v6, &duplicated, &bad_type, &late}) {
        b.packets.push_back(*p);
        b.known.push_back(p != &nobodys);
    }
    return b;
}

std::vector<Keypair*> keypairs_for(const MixedBurst& b, Keypair& keypair) {
    std::vector<Keypair*> keys;
    for (bool known : b.known) keys.push_back(known ? &keypair : nullptr);
    return keys;
}

void split_decrypt_matches_decrypt_burst(Opening opening) {
    TwinReceivers t;
    MixedBurst burst = mixed_burst(t);
    std::vector<Packet> split_copy = burst.packets;
    std::vector<Packet> whole_copy = burst.packets;

    TransportCounters split_counters, whole_counters;
    const auto split =
        decrypt_split(keypairs_for(burst, t.twin), split_copy, split_counters, opening);
    const auto whole = decrypt(keypairs_for(burst, t.session.receiver), whole_copy, whole_counters);

    ASSERT_EQ(split.size(), whole.size());
    for (size_t i = 0; i < split.size(); ++i) {
        expect_same_result(split[i], whole[i], i);
        EXPECT_EQ(split_copy[i].storage, whole_copy[i].storage) << i;
    }
    expect_same_counters(split_counters, whole_counters);
    EXPECT_EQ(t.twin.replay.next_expected(), t.session.receiver.replay.next_expected());

    // And what that is, so that two equally wrong paths cannot agree.
    EXPECT_EQ(whole[0].verdict, Verdict::deliver);
    expect_dropped(whole[1], DropReason::replay);
    EXPECT_FALSE(whole[1].authenticated);
    expect_dropped(whole[2], DropReason::auth_failed);
    EXPECT_EQ(whole[3].verdict, Verdict::deliver);
    expect_dropped(whole[4], DropReason::invalid_inner_packet);
    EXPECT_TRUE(whole[4].authenticated);
    EXPECT_EQ(whole[5].verdict, Verdict::keepalive);
    expect_dropped(whole[6], DropReason::too_short);
    expect_dropped(whole[7], DropReason::unknown_index);
    EXPECT_EQ(whole[8].verdict, Verdict::deliver);
    EXPECT_EQ(whole[8].length, 1280u);
    expect_dropped(whole[9], DropReason::replay);  // the second copy in one burst loses
    EXPECT_FALSE(whole[9].authenticated);
    expect_dropped(whole[10], DropReason::bad_type);
    EXPECT_EQ(whole[11].verdict, Verdict::deliver);
    EXPECT_EQ(whole_counters.rx_packets, 5u);
    EXPECT_EQ(whole_counters.rx_keepalives, 1u);
    EXPECT_EQ(whole_counters.total_drops(), 7u);
}

TEST(TransportSplit, DecryptStagesMatchDecryptBurst) {
    split_decrypt_matches_decrypt_burst(Opening::in_order);
}

TEST(TransportSplit, OpenedOutOfOrderAcceptedInOrderMatchesDecryptBurst) {
    split_decrypt_matches_decrypt_burst(Opening::reversed_halves);
}

TEST(TransportSplit, DuplicateInOneBatchLosesAtAccept) {
    Session s;
    const Packet original = sealed(s, ipv4_packet(150));
    std::vector<Packet> twice{original, original};
    std::vector<TransportPacket> views{twice[0].view(), twice[1].view()};
    // Both pass the pre-check: the window has seen neither.
    EXPECT_EQ(decrypt_check(&s.receiver, views[0], kNow), DropReason::none);
    EXPECT_EQ(decrypt_check(&s.receiver, views[1], kNow), DropReason::none);
    // Opened by two workers, the second copy first.
    Keypair* key = &s.receiver;
    PacketResult results[2];
    decrypt_open_burst(&key, &views[1], 1, &results[1]);
    decrypt_open_burst(&key, &views[0], 1, &results[0]);
    EXPECT_EQ(results[0].verdict, Verdict::deliver);
    EXPECT_EQ(results[1].verdict, Verdict::deliver);
    // Accepted in arrival order: the first wins, the second is a replay.
    TransportCounters rx;
    decrypt_accept(s.receiver, views[0], results[0], rx);
    decrypt_accept(s.receiver, views[1], results[1], rx);
    EXPECT_EQ(results[0].verdict, Verdict::deliver);
    EXPECT_TRUE(results[0].authenticated);
    expect_dropped(results[1], DropReason::replay);
    EXPECT_FALSE(results[1].authenticated);
    EXPECT_EQ(rx.rx_packets, 1u);
    EXPECT_EQ(drops_named(rx, "replay"), 1u);
    // Now the pre-check refuses a third copy before any opening.
    std::vector<Packet> third{original};
    EXPECT_EQ(decrypt_check(&s.receiver, third[0].view(), kNow), DropReason::replay);
}

TEST(TransportSplit, ForgedPacketLeavesTheWindowAlone) {
    Session s;
    TransportCounters rx;
    std::vector<Packet> first{sealed(s, ipv4_packet(60))};
    ASSERT_EQ(decrypt_split({&s.receiver}, first, rx)[0].verdict, Verdict::deliver);
    const uint64_t before = s.receiver.replay.next_expected();
    ASSERT_EQ(before, 1u);

    // Far ahead, so that entering its counter would move the window a long way.
    s.sender.send_counter = 50'000;
    const Packet genuine = sealed(s, ipv4_packet(60));
    std::vector<Packet> forged{genuine};
    forged[0].storage[wire::kTransportHeaderLen + 5] ^= 0x01;  // ciphertext
    const auto results = decrypt_split({&s.receiver}, forged, rx, Opening::reversed_halves);
    expect_dropped(results[0], DropReason::auth_failed);
    EXPECT_FALSE(results[0].authenticated);
    EXPECT_EQ(s.receiver.replay.next_expected(), before);
    EXPECT_EQ(drops_named(rx, "auth_failed"), 1u);
    EXPECT_EQ(rx.rx_packets, 1u);

    // The genuine message and one behind it (within the window) still get through.
    s.sender.send_counter = 49'990;
    std::vector<Packet> after{genuine, sealed(s, ipv4_packet(61))};
    const auto accepted = decrypt_split({&s.receiver, &s.receiver}, after, rx);
    EXPECT_EQ(accepted[0].verdict, Verdict::deliver);
    EXPECT_EQ(accepted[1].verdict, Verdict::deliver);
    EXPECT_EQ(s.receiver.replay.next_expected(), 50'001u);
}

TEST(TransportSplit, UnknownKeypairAtOpeningIsUnknownIndex) {
    // A crypto lcore that no longer finds the keypair passes null.
    Session s;
    std::vector<Packet> one{sealed(s, ipv4_packet(60))};
    TransportPacket view = one[0].view();
    Keypair* none = nullptr;
    PacketResult result;
    result.verdict = Verdict::deliver;  // stale, to see it overwritten
    decrypt_open_burst(&none, &view, 1, &result);
    expect_dropped(result, DropReason::unknown_index);
    EXPECT_FALSE(result.authenticated);
    // decrypt_accept counts it as such and leaves the window alone.
    TransportCounters rx;
    decrypt_accept(s.receiver, view, result, rx);
    expect_dropped(result, DropReason::unknown_index);
    EXPECT_EQ(drops_named(rx, "unknown_index"), 1u);
    EXPECT_EQ(s.receiver.replay.next_expected(), 0u);
}

// Encryption as pipeline mode runs it: encrypt_prepare in order, the packets
// that go sealed by two "workers" (the second half first), encrypt_count.
std::vector<PacketResult> encrypt_split(Keypair& keypair, std::vector<Packet>& packets,
                                        TransportCounters& counters, size_t* prepared = nullptr,
                                        int64_t now = kNow) {
    std::vector<TransportPacket> views;
    for (Packet& p : packets) views.push_back(p.view());
    std::vector<PacketResult> results(packets.size());
    const size_t going =
        encrypt_prepare(keypair, views.data(), views.size(), kMtu, now, results.data(), counters);
    if (prepared != nullptr) *prepared = going;
    std::vector<TransportPacket> go;
    for (size_t i = 0; i < packets.size(); ++i) {
        if (results[i].verdict == Verdict::send) go.push_back(views[i]);
    }
    EXPECT_EQ(go.size(), going);
    std::unique_ptr<bool[]> ok(new bool[go.size() + 1]);
    const size_t half = go.size() / 2;
    encrypt_seal_burst(keypair, go.data() + half, go.size() - half, ok.get() + half);
    encrypt_seal_burst(keypair, go.data(), half, ok.get());
    for (size_t k = 0; k < go.size(); ++k) {
        EXPECT_TRUE(ok[k]) << k;
        encrypt_count(go[k], ok[k], counters);
    }
    for (size_t i = 0; i < packets.size(); ++i) packets[i].len = views[i].len;
    return results;
}

TEST(TransportSplit, EncryptPrepareReservesCountersInPacketOrder) {
    Session s;
    s.sender.send_counter = 1000;
    std::vector<Packet> packets;
    for (uint32_t i = 0; i < 70; ++i) packets.push_back(Packet::plain(ipv4_packet(20 + 9 * i)));
    packets[3] = Packet::plain({});  // a keepalive
    Packet tight = Packet::plain(ipv4_packet(100));
    tight.storage.resize(wire::kTransportHeaderLen + 100 + wire::kAeadTagLen);  // no room to pad
    packets[5] = tight;
    packets[66] = tight;  // in the second chunk

    std::vector<TransportPacket> views;
    for (Packet& p : packets) views.push_back(p.view());
    std::vector<PacketResult> results(packets.size());
    TransportCounters tx;
    const size_t going =
        encrypt_prepare(s.sender, views.data(), views.size(), kMtu, kNow, results.data(), tx);
    EXPECT_EQ(going, 68u);
    EXPECT_EQ(s.sender.send_counter.load(), 1000u + 68u);
    EXPECT_EQ(drops_named(tx, "no_capacity"), 2u);
    EXPECT_EQ(tx.tx_packets, 0u);  // counted once sealed
    uint64_t expected_counter = 1000;
    for (size_t i = 0; i < packets.size(); ++i) {
        if (i == 5 || i == 66) {
            expect_dropped(results[i], DropReason::no_capacity);
            continue;
        }
        ASSERT_EQ(results[i].verdict, Verdict::send) << i;
        const uint32_t inner = packets[i].len;
        EXPECT_EQ(results[i].length, wire::kTransportOverhead + padded_length(inner, kMtu)) << i;
        EXPECT_EQ(views[i].len, results[i].length) << i;
        wire::TransportHeader h;
        std::memcpy(&h, packets[i].storage.data(), sizeof h);
        EXPECT_EQ(h.type, static_cast<uint8_t>(wire::MessageType::transport_data));
        EXPECT_EQ(h.receiver_index, kIndex);
        EXPECT_EQ(h.counter, expected_counter++) << i;
    }
    EXPECT_EQ(results[3].length, wire::kTransportMinLen);  // the keepalive
}

TEST(TransportSplit, SealedBytesAndCountersMatchEncryptBurst) {
    Session split_session, whole_session;
    split_session.sender.send_counter = 4242;
    whole_session.sender.send_counter = 4242;
    std::vector<Packet> packets;
    for (uint32_t i = 0; i < 75; ++i) {
        packets.push_back(
            Packet::plain(i % 2 ? ipv6_packet(40 + 17 * i)
                                : ipv4_packet(20 + 13 * i, 20 + 13 * i, static_cast<uint8_t>(i))));
    }
    packets[0] = Packet::plain({});
    packets[40] = Packet::plain({});
    packets[7] = Packet::plain(Bytes(1, 0x45));  // 48-byte messages: small, not keepalives
    packets[8] = Packet::plain(Bytes(16, 0x60));
    packets[10].storage.resize(40);                 // no_capacity
    packets[1] = Packet::plain(ipv4_packet(1500));  // over the MTU: not padded
    std::vector<Packet> split_copy = packets;
    std::vector<Packet> whole_copy = packets;

    TransportCounters split_counters, whole_counters;
    size_t prepared = 0;
    const auto split = encrypt_split(split_session.sender, split_copy, split_counters, &prepared);
    const auto whole = encrypt(whole_session.sender, whole_copy, whole_counters);
    EXPECT_EQ(prepared, 74u);
    for (size_t i = 0; i < packets.size(); ++i) {
        expect_same_result(split[i], whole[i], i);
        EXPECT_EQ(split_copy[i].len, whole_copy[i].len) << i;
        EXPECT_EQ(split_copy[i].storage, whole_copy[i].storage) << i;
    }
    expect_same_counters(split_counters, whole_counters);
    EXPECT_EQ(split_session.sender.send_counter.load(), whole_session.sender.send_counter.load());
    EXPECT_EQ(split_counters.tx_packets, 74u);
    EXPECT_EQ(split_counters.tx_keepalives, 2u);
    EXPECT_EQ(drops_named(split_counters, "no_capacity"), 1u);

    // What the split path sealed opens on the receiver: a keepalive, data.
    TransportCounters rx;
    std::vector<Packet> received{split_copy[0], split_copy[1], split_copy[2]};
    const auto opened = decrypt(split_session.receiver, received, rx);
    EXPECT_EQ(opened[0].verdict, Verdict::keepalive);
    ASSERT_EQ(opened[1].verdict, Verdict::deliver);
    EXPECT_EQ(received[1].inner(opened[1]), ipv4_packet(1500));
    ASSERT_EQ(opened[2].verdict, Verdict::deliver);
    EXPECT_EQ(received[2].inner(opened[2]), ipv4_packet(46, 46, 2));
    EXPECT_EQ(rx.rx_bytes, split_copy[0].len + split_copy[1].len + split_copy[2].len);
}

TEST(TransportSplit, KeepaliveAloneThroughTheSplitPath) {
    Session s;
    std::vector<Packet> one{Packet::plain({})};
    TransportCounters tx;
    const auto results = encrypt_split(s.sender, one, tx);
    ASSERT_EQ(results[0].verdict, Verdict::send);
    EXPECT_EQ(results[0].length, wire::kTransportMinLen);
    EXPECT_EQ(one[0].len, wire::kTransportMinLen);
    EXPECT_EQ(tx.tx_packets, 1u);
    EXPECT_EQ(tx.tx_keepalives, 1u);
    EXPECT_EQ(tx.tx_bytes, wire::kTransportMinLen);
    TransportCounters rx;
    const auto received = decrypt_split({&s.receiver}, one, rx);
    EXPECT_EQ(received[0].verdict, Verdict::keepalive);
    EXPECT_TRUE(received[0].authenticated);
    EXPECT_EQ(rx.rx_keepalives, 1u);
}

TEST(TransportSplit, EncryptPrepareCountsKeyExpiredAndSpendsNoCounter) {
    Session s;
    s.sender.send_counter = 7;
    std::vector<Packet> packets(3, Packet::plain(ipv4_packet(80)));
    std::vector<TransportPacket> views;
    for (Packet& p : packets) views.push_back(p.view());
    std::vector<PacketResult> results(packets.size());
    TransportCounters tx;
    const int64_t too_late = kBirth + 180 * kSecond;
    EXPECT_EQ(
        encrypt_prepare(s.sender, views.data(), views.size(), kMtu, too_late, results.data(), tx),
        0u);
    for (const auto& r : results) expect_dropped(r, DropReason::key_expired);
    EXPECT_EQ(drops_named(tx, "key_expired"), 3u);
    EXPECT_EQ(s.sender.send_counter.load(), 7u);
    for (size_t i = 0; i < packets.size(); ++i) EXPECT_EQ(views[i].len, 80u);
}

TEST(TransportSplit, EncryptCountOfAnUnsealedPacketIsACryptoError) {
    TransportCounters tx;
    Packet p = Packet::plain(ipv4_packet(100));
    p.len = 32 + 112;
    encrypt_count(p.view(), false, tx);
    EXPECT_EQ(tx.tx_packets, 0u);
    EXPECT_EQ(tx.tx_bytes, 0u);
    EXPECT_EQ(drops_named(tx, "crypto_error"), 1u);
    encrypt_count(p.view(), true, tx);
    EXPECT_EQ(tx.tx_packets, 1u);
    EXPECT_EQ(tx.tx_bytes, 144u);
    EXPECT_EQ(tx.tx_keepalives, 0u);
}

}  // namespace
}  // namespace sluice

// ---- Stream messages (sluice's extension, docs/streams.md) ------------------------------------

namespace sluice {
namespace {

std::vector<PacketResult> encrypt_streams(Keypair& keypair, std::vector<Packet>& packets,
                                          TransportCounters& counters) {
    std::vector<TransportPacket> views;
    for (Packet& p : packets) views.push_back(p.view());
    std::vector<PacketResult> results(packets.size());
    encrypt_burst(keypair, views.data(), views.size(), kMtu, kNow, results.data(), counters,
                  wire::MessageType::stream);
    for (size_t i = 0; i < packets.size(); ++i) packets[i].len = views[i].len;
    return results;
}

Bytes stream_payload(uint32_t n, uint8_t seed) {
    Bytes b(n);
    for (uint32_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(i * 31 + seed);
    return b;
}

TEST(StreamMessages, RoundTripUnpaddedWithTheirOwnVerdict) {
    Session s;
    TransportCounters tx, rx;
    // Not IP packets: the stream engine's packets go through untouched.
    std::vector<Packet> packets = {Packet::plain(stream_payload(1, 1)),
                                   Packet::plain(stream_payload(37, 2)),
                                   Packet::plain(stream_payload(1400, 3))};
    const std::vector<Bytes> sent = {stream_payload(1, 1), stream_payload(37, 2),
                                     stream_payload(1400, 3)};
    const auto out = encrypt_streams(s.sender, packets, tx);
    for (size_t i = 0; i < packets.size(); ++i) {
        ASSERT_EQ(out[i].verdict, Verdict::send);
        EXPECT_EQ(packets[i].storage[0], static_cast<uint8_t>(wire::MessageType::stream));
        // No padding: header + plaintext + tag.
        EXPECT_EQ(packets[i].len, wire::kTransportHeaderLen + sent[i].size() + wire::kAeadTagLen);
    }
    EXPECT_EQ(tx.tx_stream, 3u);
    EXPECT_EQ(tx.tx_keepalives, 0u);
    const auto in = decrypt(s.receiver, packets, rx);
    for (size_t i = 0; i < packets.size(); ++i) {
        ASSERT_EQ(in[i].verdict, Verdict::stream) << i;
        EXPECT_TRUE(in[i].authenticated);
        EXPECT_EQ(packets[i].inner(in[i]), sent[i]);
    }
    EXPECT_EQ(rx.rx_stream, 3u);
    EXPECT_EQ(rx.rx_packets, 3u);
}

TEST(StreamMessages, ShareTheCounterAndReplayWindowWithDataMessages) {
    Session s;
    TransportCounters tx, rx;
    std::vector<Packet> data = {Packet::plain(ipv4_packet(60))};
    std::vector<Packet> stream = {Packet::plain(stream_payload(60, 9))};
    encrypt(s.sender, data, tx);
    encrypt_streams(s.sender, stream, tx);
    // One nonce sequence per keypair, whatever the type.
    EXPECT_EQ(data[0].header().counter, 0u);
    EXPECT_EQ(stream[0].header().counter, 1u);
    std::vector<Packet> both = {data[0], stream[0], stream[0]};
    const auto in = decrypt(s.receiver, both, rx);
    EXPECT_EQ(in[0].verdict, Verdict::deliver);
    EXPECT_EQ(in[1].verdict, Verdict::stream);
    EXPECT_EQ(in[2].reason, DropReason::replay);
}

TEST(StreamMessages, TheTypeIsAuthenticated) {
    Session s;
    TransportCounters tx, rx;
    std::vector<Packet> stream = {Packet::plain(stream_payload(80, 4))};
    std::vector<Packet> data = {Packet::plain(ipv4_packet(80))};
    encrypt_streams(s.sender, stream, tx);
    encrypt(s.sender, data, tx);
    // Relabelled either way, the tag no longer verifies: a stream message
    // cannot be delivered to the LAN, nor a data packet to the stream engine.
    stream[0].storage[0] = static_cast<uint8_t>(wire::MessageType::transport_data);
    data[0].storage[0] = static_cast<uint8_t>(wire::MessageType::stream);
    std::vector<Packet> forged = {stream[0], data[0]};
    const auto in = decrypt(s.receiver, forged, rx);
    EXPECT_EQ(in[0].reason, DropReason::auth_failed);
    EXPECT_EQ(in[1].reason, DropReason::auth_failed);
    EXPECT_FALSE(in[0].authenticated);
    EXPECT_EQ(rx.rx_stream, 0u);
}

TEST(StreamMessages, SplitStagesMatchTheBurst) {
    // Pipeline mode seals and opens by reading the type from the packet.
    Session s;
    TransportCounters tx, rx;
    std::vector<Packet> packets = {Packet::plain(stream_payload(100, 5)),
                                   Packet::plain(stream_payload(7, 6))};
    std::vector<TransportPacket> views;
    for (Packet& p : packets) views.push_back(p.view());
    PacketResult results[2];
    ASSERT_EQ(encrypt_prepare(s.sender, views.data(), 2, kMtu, kNow, results, tx,
                              wire::MessageType::stream),
              2u);
    bool ok[2] = {};
    encrypt_seal_burst(s.sender, views.data(), 2, ok);
    ASSERT_TRUE(ok[0] && ok[1]);
    for (size_t i = 0; i < 2; ++i) {
        encrypt_count(views[i], ok[i], tx);
        packets[i].len = views[i].len;
    }
    EXPECT_EQ(tx.tx_stream, 2u);
    Keypair* keys[2] = {&s.receiver, &s.receiver};
    std::vector<TransportPacket> in;
    for (Packet& p : packets) in.push_back(p.view());
    PacketResult opened[2];
    decrypt_open_burst(keys, in.data(), 2, opened);
    for (size_t i = 0; i < 2; ++i) {
        decrypt_accept(s.receiver, in[i], opened[i], rx);
        EXPECT_EQ(opened[i].verdict, Verdict::stream);
    }
    EXPECT_EQ(packets[0].inner(opened[0]), stream_payload(100, 5));
    EXPECT_EQ(packets[1].inner(opened[1]), stream_payload(7, 6));
}

}  // namespace
}  // namespace sluice
