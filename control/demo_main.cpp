// sluice-demo: two WireGuard endpoints, site-a and site-b, in one process over
// an in-memory link, driven by a simulated clock. Every message crosses the
// link as bytes and goes through the same parsers, handshake, cookie, timer,
// keypair-rotation and ipsec-mb burst code a gateway runs.
//
// The script:
//   1. site-a has 300 packets for site-b and no key: it stages them and
//      initiates; the handshake completes and the staged packets go out.
//   2. site-b answers with 300 packets of its own (it may send once data has
//      confirmed its new keypair).
//   3. an attacker on the link replays, forges, truncates and misaddresses
//      messages, and replays the initiation: each is dropped with its reason.
//   4. two minutes later site-b is under load; site-a's age-based rekey earns
//      a cookie reply first, retries with mac2 and completes. Messages sent on
//      the old keypair and delivered late still decrypt (previous keypair).
//   5. traffic both ways on the new keypairs; counters; PASS or FAIL.
// Exit status 0 when every check held.
#include <arpa/inet.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "control/cookie.hpp"
#include "control/crypto.hpp"
#include "control/key_encoding.hpp"
#include "control/keypair_slots.hpp"
#include "control/noise.hpp"
#include "control/timers.hpp"
#include "dataplane/aead.hpp"
#include "dataplane/index_table.hpp"
#include "dataplane/transport.hpp"

namespace {

using namespace sluice;
using std::chrono::nanoseconds;
using Datagram = std::vector<uint8_t>;

constexpr uint32_t kMtu = wire::kDefaultMtu;
constexpr size_t kBurst = 32;
constexpr size_t kMaxStaged = 1024;

nanoseconds g_now{std::chrono::seconds(1)};
const nanoseconds g_wall_base =
    std::chrono::duration_cast<nanoseconds>(std::chrono::system_clock::now().time_since_epoch());
int g_failures = 0;
bool g_verbose = true;

void say(const char* who, const std::string& what) {
    if (g_verbose)
        std::printf("[%8.3f s] %-7s %s\n", std::chrono::duration<double>(g_now).count() - 1.0, who,
                    what.c_str());
}

void check(bool ok, const std::string& what) {
    std::printf("  %s %s\n", ok ? "ok  " : "FAIL", what.c_str());
    if (!ok) ++g_failures;
}

std::string hex32(uint32_t v) {
    char buf[9];
    std::snprintf(buf, sizeof buf, "%08x", v);
    return buf;
}

// An IPv4/UDP packet whose payload carries a sequence number and a pattern
// derived from it, so the receiver can check order and content.
Datagram inner_packet(uint8_t src_site, uint8_t dst_site, uint32_t seq, size_t size) {
    Datagram p(std::max<size_t>(size, 20 + 8 + 4), 0);
    p[0] = 0x45;
    p[2] = static_cast<uint8_t>(p.size() >> 8);
    p[3] = static_cast<uint8_t>(p.size());
    p[8] = 64;
    p[9] = 17;  // UDP
    const uint8_t src[4] = {10, src_site, 0, 2}, dst[4] = {10, dst_site, 0, 2};
    std::memcpy(&p[12], src, 4);
    std::memcpy(&p[16], dst, 4);
    std::memcpy(&p[28], &seq, 4);
    for (size_t i = 32; i < p.size(); ++i) p[i] = static_cast<uint8_t>(seq * 31 + i);
    return p;
}

std::optional<uint32_t> verify_inner(const uint8_t* p, size_t len) {
    if (len < 32 || p[0] != 0x45 || (size_t{p[2]} << 8 | p[3]) != len) return std::nullopt;
    uint32_t seq;
    std::memcpy(&seq, p + 28, 4);
    for (size_t i = 32; i < len; ++i)
        if (p[i] != static_cast<uint8_t>(seq * 31 + i)) return std::nullopt;
    return seq;
}

struct Link {
    std::deque<Datagram> to_a, to_b;
};

class Endpoint {
public:
    Endpoint(const char* name, uint8_t site, std::deque<Datagram>& out)
        : name_(name),
          site_(site),
          out_(out),
          identity_(StaticIdentity::from_private_key(crypto::random_private_key())),
          checker_(identity_.public_key),
          timers_([] {
              uint16_t r;
              crypto::random_bytes(reinterpret_cast<uint8_t*>(&r), sizeof r);
              return std::chrono::milliseconds(r % wire::kRekeyTimeoutJitterMax.count());
          }) {}

    void know_peer(const Endpoint& peer, const Key& psk) {
        peer_public_ = peer.identity_.public_key;
        handshake_.configure(identity_, peer_public_, psk);
        jar_.emplace(peer_public_);
    }

    const Key& public_key() const { return identity_.public_key; }
    const char* name() const { return name_; }
    void set_under_load(bool on) { under_load_ = on; }
    KeypairSlots& slots() { return slots_; }
    const TransportCounters& counters() const { return counters_; }
    const std::vector<uint32_t>& delivered() const { return delivered_; }
    void forget_delivered() { delivered_.clear(); }
    unsigned handshake_errors(HandshakeError e) const { return hs_errors_[static_cast<size_t>(e)]; }
    unsigned cookie_replies_sent() const { return cookie_replies_sent_; }
    unsigned mac1_drops() const { return mac1_drops_; }
    const Datagram& last_initiation() const { return last_initiation_; }

    // The LAN side hands us inner packets for the peer.
    void send(std::vector<Datagram> packets) {
        for (auto& p : packets) {
            if (staged_.size() == kMaxStaged) {
                ++counters_.dropped(DropReason::no_key);
                continue;
            }
            staged_.push_back(std::move(p));
        }
        flush_staged();
    }

    // Runs due timers and carries out their actions.
    void tick() { carry_out(timers_.poll(g_now)); }

    // The link delivers a batch of datagrams: handshake messages one by one,
    // transport messages as one decrypt burst, as an lcore would.
    void receive(std::deque<Datagram>& in) {
        std::vector<Datagram> transport;
        while (!in.empty()) {
            Datagram d = std::move(in.front());
            in.pop_front();
            if (d.empty()) continue;
            switch (d[0]) {
                case 1:
                    on_initiation(d);
                    break;
                case 2:
                    on_response(d);
                    break;
                case 3:
                    on_cookie_reply(d);
                    break;
                default:
                    transport.push_back(std::move(d));
                    break;
            }
        }
        for (size_t at = 0; at < transport.size(); at += kBurst)
            decrypt(&transport[at], std::min(kBurst, transport.size() - at));
    }

private:
    KeypairTiming timing(const Keypair& kp) const {
        return {kp.send_counter.load(), nanoseconds(kp.birth_ns), kp.we_initiated,
                kp.replay.next_expected() > 0};
    }

    void flush_staged() {
        Keypair* kp = slots_.current();
        if (!kp || !may_send_data(timing(*kp), g_now)) {
            if (!staged_.empty()) carry_out(timers_.send_without_key(g_now));
            return;
        }
        while (!staged_.empty()) {
            const size_t n = std::min(kBurst, staged_.size());
            std::vector<Datagram> bufs(n);
            TransportPacket pkts[kBurst];
            PacketResult results[kBurst];
            for (size_t i = 0; i < n; ++i) {
                const Datagram& inner = staged_[i];
                bufs[i].resize(wire::kTransportHeaderLen + inner.size() + 16 + wire::kAeadTagLen);
                std::memcpy(bufs[i].data() + wire::kTransportHeaderLen, inner.data(), inner.size());
                pkts[i] = {bufs[i].data(), static_cast<uint32_t>(inner.size()),
                           static_cast<uint32_t>(bufs[i].size())};
            }
            staged_.erase(staged_.begin(), staged_.begin() + static_cast<long>(n));
            encrypt_burst(*kp, pkts, n, kMtu, g_now.count(), results, counters_);
            for (size_t i = 0; i < n; ++i) {
                if (results[i].verdict != Verdict::send) continue;
                bufs[i].resize(results[i].length);
                out_.push_back(std::move(bufs[i]));
            }
            timers_.any_authenticated_packet_traversal(g_now);
            timers_.any_authenticated_packet_sent(g_now);
            timers_.data_sent(g_now);
        }
        carry_out(timers_.keep_key_fresh_after_send(g_now, timing(*kp)));
    }

    void send_keepalive() {
        Keypair* kp = slots_.current();
        if (!kp || !may_send_data(timing(*kp), g_now)) return;
        Datagram buf(wire::kTransportMinLen + 16);
        TransportPacket pkt{buf.data(), 0, static_cast<uint32_t>(buf.size())};
        PacketResult r;
        encrypt_burst(*kp, &pkt, 1, kMtu, g_now.count(), &r, counters_);
        if (r.verdict != Verdict::send) return;
        buf.resize(r.length);
        out_.push_back(std::move(buf));
        timers_.any_authenticated_packet_traversal(g_now);
        timers_.any_authenticated_packet_sent(g_now);
    }

    void carry_out(TimerActions actions) {
        if (actions.has(TimerAction::send_initiation)) send_initiation();
        if (actions.has(TimerAction::send_keepalive)) send_keepalive();
        if (actions.has(TimerAction::handshake_gave_up)) {
            say(name_,
                "handshake gave up: " + std::to_string(staged_.size()) + " staged packets dropped");
            counters_.dropped(DropReason::no_key) += staged_.size();
            staged_.clear();
        }
        if (actions.has(TimerAction::zero_keys)) {
            for (auto& kp : slots_.clear()) (void)indices_.remove(kp->local_index);
            handshake_.clear();
            say(name_, "keys zeroed");
        }
    }

    uint32_t new_index(Keypair* value) {
        auto idx = indices_.insert(value);
        if (!idx) {
            std::fprintf(stderr, "sluice-demo: index table full\n");
            std::exit(1);
        }
        return *idx;
    }

    void send_handshake_message(void* msg, size_t len) {
        jar_->add_macs(static_cast<uint8_t*>(msg), len, g_now.count());
        const auto* b = static_cast<const uint8_t*>(msg);
        out_.emplace_back(b, b + len);
        timers_.any_authenticated_packet_traversal(g_now);
        timers_.any_authenticated_packet_sent(g_now);
    }

    void send_initiation() {
        if (handshake_.local_index) (void)indices_.remove(handshake_.local_index);
        const uint32_t idx = new_index(nullptr);
        wire::HandshakeInitiation init;
        const auto ts = Tai64n::from_unix(g_wall_base + g_now);
        if (create_initiation(handshake_, identity_, crypto::random_private_key(), idx, ts, init) !=
            HandshakeError::ok)
            return;
        const bool with_cookie = jar_->has_fresh_cookie(g_now.count());
        send_handshake_message(&init, sizeof init);
        last_initiation_ = out_.back();
        timers_.handshake_initiated(g_now);
        say(name_, "handshake initiation sent (index " + hex32(idx) +
                       (with_cookie ? ", mac2 from cookie)" : ")"));
    }

    // mac1 first, then, under load, mac2 or a cookie reply. True: go on.
    bool admit(const Datagram& d, uint32_t sender_index) {
        const uint8_t source[6] = {192, 0, 2, site_ == 1 ? uint8_t{2} : uint8_t{1}, 0xca, 0x6c};
        const MacCheck mac = checker_.check(d, source, g_now.count());
        if (mac == MacCheck::invalid_mac1) {
            ++mac1_drops_;
            return false;
        }
        if (under_load_ && mac != MacCheck::valid_mac2) {
            wire::CookieReply reply;
            checker_.make_reply(d, sender_index, source, g_now.count(), reply);
            const auto* b = reinterpret_cast<const uint8_t*>(&reply);
            out_.emplace_back(b, b + sizeof reply);
            ++cookie_replies_sent_;
            say(name_, "under load: cookie reply sent instead of a handshake");
            return false;
        }
        return true;
    }

    void count(HandshakeError e) { ++hs_errors_[static_cast<size_t>(e)]; }

    void install(std::unique_ptr<Keypair> kp) {
        Keypair* raw = kp.get();
        *indices_.lookup(raw->local_index) = raw;
        for (auto& old : slots_.install(std::move(kp))) (void)indices_.remove(old->local_index);
    }

    void on_initiation(const Datagram& d) {
        wire::HandshakeInitiation msg;
        const auto parsed =
            parse_message(d.data(), d.size(), wire::MessageType::handshake_initiation, msg);
        if (parsed != HandshakeError::ok) return count(parsed);
        if (!admit(d, msg.sender_index)) return;
        const auto r = consume_initiation(
            msg, identity_, [&](const Key& k) { return k == peer_public_ ? &handshake_ : nullptr; },
            g_now.count());
        if (r.error != HandshakeError::ok) {
            count(r.error);
            say(name_, std::string("initiation refused: ") + to_string(r.error));
            return;
        }
        timers_.any_authenticated_packet_received(g_now);
        timers_.any_authenticated_packet_traversal(g_now);
        const uint32_t idx = new_index(nullptr);
        wire::HandshakeResponse resp;
        if (create_response(handshake_, crypto::random_private_key(), idx, resp) !=
            HandshakeError::ok)
            return;
        auto kp = derive_keypair(handshake_, g_now.count());
        timers_.session_derived(g_now);
        send_handshake_message(&resp, sizeof resp);
        timers_.handshake_response_sent(g_now);
        install(std::move(kp));
        say(name_, "initiation accepted; response sent; new keypair " + hex32(idx) +
                       " waits in next for the initiator's first data");
    }

    void on_response(const Datagram& d) {
        wire::HandshakeResponse msg;
        const auto parsed =
            parse_message(d.data(), d.size(), wire::MessageType::handshake_response, msg);
        if (parsed != HandshakeError::ok) return count(parsed);
        if (!admit(d, msg.sender_index)) return;
        const auto r = consume_response(msg, identity_, [&](uint32_t idx) {
            return idx == handshake_.local_index ? &handshake_ : nullptr;
        });
        if (r.error != HandshakeError::ok) {
            count(r.error);
            say(name_, std::string("response refused: ") + to_string(r.error));
            return;
        }
        auto kp = derive_keypair(handshake_, g_now.count());
        const uint32_t idx = kp->local_index;
        timers_.any_authenticated_packet_received(g_now);
        timers_.any_authenticated_packet_traversal(g_now);
        timers_.session_derived(g_now);
        timers_.handshake_complete(g_now);
        install(std::move(kp));
        say(name_, "response accepted; keypair " + hex32(idx) + " is current");
        if (staged_.empty())
            send_keepalive();  // confirms the keypair to the responder
        else
            flush_staged();
    }

    void on_cookie_reply(const Datagram& d) {
        wire::CookieReply msg;
        const auto parsed = parse_message(d.data(), d.size(), wire::MessageType::cookie_reply, msg);
        if (parsed != HandshakeError::ok) return count(parsed);
        if (msg.receiver_index != handshake_.local_index ||
            !jar_->consume_reply(msg, g_now.count())) {
            say(name_, "cookie reply ignored");
            return;
        }
        say(name_, "cookie reply accepted: the next initiation carries mac2");
    }

    void decrypt(Datagram* msgs, size_t n) {
        TransportPacket pkts[kBurst];
        Keypair* kps[kBurst] = {};
        PacketResult results[kBurst];
        for (size_t i = 0; i < n; ++i) {
            pkts[i] = {msgs[i].data(), static_cast<uint32_t>(msgs[i].size()),
                       static_cast<uint32_t>(msgs[i].size())};
            kps[i] = nullptr;
            if (msgs[i].size() >= wire::kTransportHeaderLen) {
                wire::TransportHeader h;
                std::memcpy(&h, msgs[i].data(), sizeof h);
                if (Keypair** found = indices_.lookup(h.receiver_index)) kps[i] = *found;
            }
        }
        decrypt_burst(kps, pkts, n, g_now.count(), results, counters_);
        for (size_t i = 0; i < n; ++i) {
            if (!results[i].authenticated) continue;
            timers_.any_authenticated_packet_received(g_now);
            timers_.any_authenticated_packet_traversal(g_now);
            bool promoted = false;
            for (auto& old : slots_.received_with(kps[i], &promoted))
                (void)indices_.remove(old->local_index);
            if (promoted) {
                timers_.handshake_complete(g_now);
                say(name_, "first data on keypair " + hex32(kps[i]->local_index) +
                               ": confirmed, now current");
            }
            if (results[i].verdict != Verdict::deliver) continue;
            timers_.data_received(g_now);
            if (auto seq = verify_inner(pkts[i].data + results[i].offset, results[i].length))
                delivered_.push_back(*seq);
            else
                ++corrupt_;
        }
        if (Keypair* cur = slots_.current())
            carry_out(timers_.keep_key_fresh_after_receive(g_now, timing(*cur)));
        flush_staged();  // a promoted keypair may release what waited
    }

    const char* name_;
    uint8_t site_;
    std::deque<Datagram>& out_;
    StaticIdentity identity_;
    Key peer_public_{};
    Handshake handshake_;
    std::optional<CookieJar> jar_;
    CookieChecker checker_;
    PeerTimers timers_;
    KeypairSlots slots_;
    IndexTable<Keypair*> indices_{1024};
    TransportCounters counters_;
    std::deque<Datagram> staged_;
    std::vector<uint32_t> delivered_;
    Datagram last_initiation_;
    unsigned corrupt_ = 0;
    bool under_load_ = false;
    unsigned cookie_replies_sent_ = 0;
    unsigned mac1_drops_ = 0;
    unsigned hs_errors_[static_cast<size_t>(HandshakeError::count)] = {};
};

// Delivers everything on the link, both ways, until it is quiet.
void settle(Link& link, Endpoint& a, Endpoint& b) {
    while (!link.to_a.empty() || !link.to_b.empty()) {
        b.receive(link.to_b);
        a.receive(link.to_a);
    }
}

void advance(Link& link, Endpoint& a, Endpoint& b, nanoseconds by) {
    g_now += by;
    a.tick();
    b.tick();
    settle(link, a, b);
}

std::vector<Datagram> traffic(uint8_t from, uint8_t to, uint32_t first, uint32_t count) {
    static const size_t kSizes[] = {64, 128, 512, 576, 1024, 1280, 1420, 40};
    std::vector<Datagram> out;
    for (uint32_t s = first; s < first + count; ++s)
        out.push_back(inner_packet(from, to, s, kSizes[s % std::size(kSizes)]));
    return out;
}

bool in_order(const std::vector<uint32_t>& seqs, uint32_t first, uint32_t count) {
    if (seqs.size() != count) return false;
    for (uint32_t i = 0; i < count; ++i)
        if (seqs[i] != first + i) return false;
    return true;
}

void print_counters(const Endpoint& e) {
    const auto& c = e.counters();
    std::printf(
        "  %s: tx %llu packets / %llu bytes (%llu keepalives), rx %llu packets / %llu "
        "bytes (%llu keepalives)\n",
        e.name(), static_cast<unsigned long long>(c.tx_packets),
        static_cast<unsigned long long>(c.tx_bytes),
        static_cast<unsigned long long>(c.tx_keepalives),
        static_cast<unsigned long long>(c.rx_packets), static_cast<unsigned long long>(c.rx_bytes),
        static_cast<unsigned long long>(c.rx_keepalives));
    for (size_t i = 1; i < kDropReasonCount; ++i)
        if (c.drops[i])
            std::printf("  %s: drop %-20s %llu\n", e.name(),
                        std::string(drop_reason_name(static_cast<DropReason>(i))).c_str(),
                        static_cast<unsigned long long>(c.drops[i]));
    for (size_t i = 1; i < static_cast<size_t>(HandshakeError::count); ++i)
        if (e.handshake_errors(static_cast<HandshakeError>(i)))
            std::printf("  %s: handshake refused: %-18s %u\n", e.name(),
                        to_string(static_cast<HandshakeError>(i)),
                        e.handshake_errors(static_cast<HandshakeError>(i)));
    if (e.cookie_replies_sent())
        std::printf("  %s: cookie replies sent: %u\n", e.name(), e.cookie_replies_sent());
}

int usage(int rc) {
    std::printf(
        "usage: sluice-demo [--messages N] [--quiet]\n"
        "Runs two WireGuard endpoints in one process over an in-memory link: a\n"
        "handshake, N data messages each way (default 300), hostile packets, a rekey\n"
        "under load with a cookie exchange, and prints what happened.\n");
    return rc;
}

}  // namespace

int main(int argc, char** argv) {
    uint32_t n = 300;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--help" || a == "-h") return usage(0);
        if (a == "--quiet") {
            g_verbose = false;
        } else if (a == "--messages" && i + 1 < argc) {
            char* end = nullptr;
            const long v = std::strtol(argv[++i], &end, 10);
            if (*end || v < 1 || v > 100000) {
                std::fprintf(stderr, "sluice-demo: --messages takes 1..100000\n");
                return 2;
            }
            n = static_cast<uint32_t>(v);
        } else {
            std::fprintf(stderr, "sluice-demo: unknown argument '%s'\n", a.c_str());
            return usage(2);
        }
    }

    crypto::init();
    AeadEngine::this_thread();  // its start-up line goes out before the demo's
    std::fflush(stderr);
    Link link;
    Endpoint a("site-a", 1, link.to_b), b("site-b", 2, link.to_a);
    Key psk;
    crypto::random_bytes(psk.data(), psk.size());
    a.know_peer(b, psk);
    b.know_peer(a, psk);

    std::printf("sluice demo: two WireGuard endpoints over an in-memory link\n");
    std::printf("  site-a public key %s\n  site-b public key %s\n  preshared key in use\n\n",
                key_to_base64(a.public_key()).c_str(), key_to_base64(b.public_key()).c_str());

    std::printf("1. site-a sends %u packets to site-b with no session yet\n", n);
    a.send(traffic(1, 2, 0, n));
    settle(link, a, b);
    check(in_order(b.delivered(), 0, n),
          "site-b received all " + std::to_string(n) + " packets in order, contents intact");
    check(b.slots().current() && b.slots().next() == nullptr,
          "site-b promoted its keypair on the first data");

    std::printf("\n2. site-b answers with %u packets\n", n);
    b.send(traffic(2, 1, 0, n));
    settle(link, a, b);
    check(in_order(a.delivered(), 0, n),
          "site-a received all " + std::to_string(n) + " packets in order, contents intact");

    std::printf("\n3. an attacker on the link\n");
    {
        a.send(traffic(1, 2, n, 4));
        std::vector<Datagram> captured(link.to_b.begin(), link.to_b.end());
        settle(link, a, b);
        const auto before = b.counters();
        for (const auto& m : captured) link.to_b.push_back(m);  // replay
        // A forgery needs a fresh counter, or the replay pre-check stops it
        // before any crypto runs.
        Datagram forged = captured[0];
        forged[8 + 4] ^= 0x40;  // counter + 2^38
        forged[forged.size() / 2] ^= 0x01;
        link.to_b.push_back(forged);
        Datagram misaddressed = captured[1];
        misaddressed[4] ^= 0xff;  // receiver index
        link.to_b.push_back(misaddressed);
        link.to_b.push_back(Datagram(captured[2].begin(), captured[2].begin() + 20));  // truncated
        link.to_b.push_back(a.last_initiation());  // replayed initiation
        Datagram junk(148, 0x01);                  // initiation-sized garbage: fails mac1
        junk[1] = junk[2] = junk[3] = 0;
        link.to_b.push_back(junk);
        settle(link, a, b);
        const auto& after = b.counters();
        auto grew = [&](DropReason r) { return after.dropped(r) - before.dropped(r); };
        check(grew(DropReason::replay) == captured.size(), "4 replayed data messages: replay");
        check(grew(DropReason::auth_failed) == 1, "1 forged data message: auth_failed");
        check(grew(DropReason::unknown_index) == 1, "1 misaddressed message: unknown_index");
        check(grew(DropReason::too_short) == 1, "1 truncated message: too_short");
        check(b.handshake_errors(HandshakeError::replayed_timestamp) == 1,
              "the replayed initiation: replayed_timestamp");
        check(b.mac1_drops() == 1, "garbage with a bad mac1: dropped before any crypto");
        check(b.delivered().size() == n + 4, "nothing from the attacker was delivered");
    }

    std::printf("\n4. two minutes later: site-b is under load and site-a rekeys\n");
    b.set_under_load(true);
    g_now += std::chrono::seconds(121);
    a.tick();
    b.tick();
    Keypair* old_a = a.slots().current();
    const uint32_t old_index = old_a->local_index;
    a.forget_delivered();
    b.forget_delivered();
    a.send(traffic(1, 2, 1000, 8));  // rides the old keypair; triggers the rekey
    // Hold the old-keypair data back: it will arrive after the rekey.
    std::deque<Datagram> late;
    for (auto it = link.to_b.begin(); it != link.to_b.end();) {
        if ((*it)[0] == 4) {
            late.push_back(std::move(*it));
            it = link.to_b.erase(it);
        } else {
            ++it;
        }
    }
    settle(link, a, b);
    check(b.cookie_replies_sent() == 1, "site-b answered the initiation with a cookie reply");
    advance(link, a, b, wire::kRekeyTimeout + wire::kRekeyTimeoutJitterMax);
    check(a.slots().current() && a.slots().current()->local_index != old_index,
          "site-a retried with mac2 and has a new current keypair");
    check(a.slots().previous() == old_a, "site-a's old keypair is now previous");
    b.set_under_load(false);
    for (auto& m : late) link.to_b.push_back(std::move(m));
    settle(link, a, b);
    check(in_order(b.delivered(), 1000, 8),
          "8 messages sent on the old keypair and delivered late still decrypted");

    std::printf("\n5. traffic on the new keypairs\n");
    b.forget_delivered();
    a.send(traffic(1, 2, 2000, n));
    settle(link, a, b);
    b.send(traffic(2, 1, 2000, n));
    settle(link, a, b);
    check(in_order(b.delivered(), 2000, n), "site-b received " + std::to_string(n) + " more");
    check(in_order(a.delivered(), 2000, n), "site-a received " + std::to_string(n) + " more");
    check(b.slots().current() &&
              b.slots().current()->remote_index == a.slots().current()->local_index,
          "both sides use the new session");

    std::printf("\ncounters\n");
    print_counters(a);
    print_counters(b);
    std::printf("\nsluice demo: %s (%d failed checks)\n", g_failures ? "FAIL" : "PASS", g_failures);
    return g_failures ? 1 : 0;
}
