// wg-probe: the protocol core against a real WireGuard peer, over nothing but
// a plain UDP socket. It proves the handshake, cookies, transport encryption
// and the replay window interoperate with wireguard-go before any gateway
// code exists. tests/interop/wg_probe.sh runs it in network namespaces.
//
//   initiator (default): handshake with the peer, then ICMP echo requests
//     through the tunnel to --ping; every echo reply must come back.
//   --respond: wait for the peer's initiation, answer it, then answer the
//     ICMP echo requests that arrive through the tunnel.
//
// Exit status: 0 when every echo was answered, 1 otherwise, 2 on bad usage.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "control/cookie.hpp"
#include "control/crypto.hpp"
#include "control/key_encoding.hpp"
#include "control/noise.hpp"
#include "dataplane/transport.hpp"

namespace {

using namespace sluice;
using Clock = std::chrono::steady_clock;

constexpr uint16_t kIcmpId = 0x51c3;
constexpr size_t kIcmpPayload = 56;
constexpr uint32_t kMtu = 1420;

struct Options {
    std::string private_key_file;
    std::string peer_public_key;
    std::string preshared_key_file;
    std::string endpoint;  // initiator: where the peer listens
    uint16_t listen_port = 0;
    std::string tunnel_address;  // our address inside the tunnel
    std::string ping;            // initiator: the peer's tunnel address
    int count = 3;
    int timeout_s = 10;
    bool respond = false;
};

[[noreturn]] void usage(const char* why) {
    std::fprintf(stderr,
                 "wg-probe: %s\n"
                 "usage: wg-probe --private-key-file F --peer-public-key B64 --tunnel-address A\n"
                 "                (--endpoint IP:PORT --ping B | --respond --listen-port N)\n"
                 "                [--preshared-key-file F] [--count N] [--timeout S]\n",
                 why);
    std::exit(2);
}

Options parse_args(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage(("missing value for " + a).c_str());
            return argv[++i];
        };
        if (a == "--private-key-file")
            o.private_key_file = value();
        else if (a == "--peer-public-key")
            o.peer_public_key = value();
        else if (a == "--preshared-key-file")
            o.preshared_key_file = value();
        else if (a == "--endpoint")
            o.endpoint = value();
        else if (a == "--listen-port")
            o.listen_port = static_cast<uint16_t>(std::stoi(value()));
        else if (a == "--tunnel-address")
            o.tunnel_address = value();
        else if (a == "--ping")
            o.ping = value();
        else if (a == "--count")
            o.count = std::stoi(value());
        else if (a == "--timeout")
            o.timeout_s = std::stoi(value());
        else if (a == "--respond")
            o.respond = true;
        else
            usage(("unknown option " + a).c_str());
    }
    if (o.private_key_file.empty() || o.peer_public_key.empty() || o.tunnel_address.empty())
        usage("--private-key-file, --peer-public-key and --tunnel-address are required");
    if (!o.respond && (o.endpoint.empty() || o.ping.empty()))
        usage("an initiator needs --endpoint and --ping");
    return o;
}

Key read_key_file(const std::string& path) {
    std::ifstream in(path);
    std::string text;
    std::getline(in, text);
    auto key = key_from_base64(text);
    if (!key) usage(("no base64 key in " + path).c_str());
    return *key;
}

int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
        .count();
}

uint16_t checksum(const uint8_t* p, size_t n) {
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < n; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
    if (n & 1) sum += static_cast<uint32_t>(p[n - 1] << 8);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<uint16_t>(~sum);
}

// An IPv4 ICMP echo (type 8 request, 0 reply) from src to dst.
std::vector<uint8_t> icmp_echo(uint8_t type, in_addr src, in_addr dst, uint16_t id, uint16_t seq,
                               const uint8_t* payload, size_t payload_len) {
    std::vector<uint8_t> p(20 + 8 + payload_len, 0);
    p[0] = 0x45;
    p[2] = static_cast<uint8_t>(p.size() >> 8);
    p[3] = static_cast<uint8_t>(p.size());
    p[8] = 64;  // TTL
    p[9] = IPPROTO_ICMP;
    std::memcpy(&p[12], &src, 4);
    std::memcpy(&p[16], &dst, 4);
    const uint16_t ip_sum = checksum(p.data(), 20);
    p[10] = static_cast<uint8_t>(ip_sum >> 8);
    p[11] = static_cast<uint8_t>(ip_sum);
    uint8_t* icmp = &p[20];
    icmp[0] = type;
    icmp[4] = static_cast<uint8_t>(id >> 8);
    icmp[5] = static_cast<uint8_t>(id);
    icmp[6] = static_cast<uint8_t>(seq >> 8);
    icmp[7] = static_cast<uint8_t>(seq);
    std::memcpy(icmp + 8, payload, payload_len);
    const uint16_t icmp_sum = checksum(icmp, 8 + payload_len);
    icmp[2] = static_cast<uint8_t>(icmp_sum >> 8);
    icmp[3] = static_cast<uint8_t>(icmp_sum);
    return p;
}

struct Echo {
    uint8_t type;
    in_addr src, dst;
    uint16_t id, seq;
    const uint8_t* payload;
    size_t payload_len;
};

std::optional<Echo> parse_echo(const uint8_t* p, size_t n) {
    if (n < 28 || p[0] >> 4 != 4 || p[9] != IPPROTO_ICMP) return std::nullopt;
    const size_t ihl = (p[0] & 0xf) * 4u;
    if (ihl < 20 || n < ihl + 8) return std::nullopt;
    if (checksum(p, ihl) != 0 || checksum(p + ihl, n - ihl) != 0) return std::nullopt;
    Echo e;
    e.type = p[ihl];
    std::memcpy(&e.src, p + 12, 4);
    std::memcpy(&e.dst, p + 16, 4);
    e.id = static_cast<uint16_t>(p[ihl + 4] << 8 | p[ihl + 5]);
    e.seq = static_cast<uint16_t>(p[ihl + 6] << 8 | p[ihl + 7]);
    e.payload = p + ihl + 8;
    e.payload_len = n - ihl - 8;
    return e;
}

class Probe {
public:
    explicit Probe(const Options& o) : opts_(o) {
        crypto::init();
        us_ = StaticIdentity::from_private_key(read_key_file(o.private_key_file));
        auto peer_key = key_from_base64(o.peer_public_key);
        if (!peer_key) usage("--peer-public-key is not a base64 key");
        peer_public_ = *peer_key;
        Key psk{};
        if (!o.preshared_key_file.empty()) psk = read_key_file(o.preshared_key_file);
        handshake_.configure(us_, peer_public_, psk);
        jar_.emplace(peer_public_);
        checker_.emplace(us_.public_key);
        if (inet_pton(AF_INET, o.tunnel_address.c_str(), &tunnel_src_) != 1)
            usage("--tunnel-address must be an IPv4 address");

        fd_ = socket(AF_INET, SOCK_DGRAM, 0);
        sockaddr_in local{};
        local.sin_family = AF_INET;
        local.sin_port = htons(o.listen_port);
        if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
            std::perror("wg-probe: udp socket");
            std::exit(1);
        }
        if (!o.endpoint.empty()) {
            const auto colon = o.endpoint.rfind(':');
            peer_addr_.sin_family = AF_INET;
            if (colon == std::string::npos ||
                inet_pton(AF_INET, o.endpoint.substr(0, colon).c_str(), &peer_addr_.sin_addr) != 1)
                usage("--endpoint must be IPv4:PORT");
            peer_addr_.sin_port =
                htons(static_cast<uint16_t>(std::stoi(o.endpoint.substr(colon + 1))));
        }
    }
    ~Probe() {
        if (fd_ >= 0) close(fd_);
    }

    int run() {
        deadline_ = Clock::now() + std::chrono::seconds(opts_.timeout_s);
        const bool ok = opts_.respond ? run_responder() : run_initiator();
        std::printf("wg-probe: rx %llu packets (%llu keepalives), tx %llu packets, drops %llu\n",
                    static_cast<unsigned long long>(counters_.rx_packets),
                    static_cast<unsigned long long>(counters_.rx_keepalives),
                    static_cast<unsigned long long>(counters_.tx_packets),
                    static_cast<unsigned long long>(counters_.total_drops()));
        for (size_t i = 0; i < kDropReasonCount; ++i)
            if (counters_.drops[i])
                std::printf("wg-probe:   drop %s: %llu\n",
                            std::string(drop_reason_name(static_cast<DropReason>(i))).c_str(),
                            static_cast<unsigned long long>(counters_.drops[i]));
        std::printf("wg-probe: %s\n", ok ? "PASS" : "FAIL");
        return ok ? 0 : 1;
    }

private:
    // Waits for one datagram until the deadline or `wait` passes; returns its length.
    std::optional<size_t> receive(std::chrono::milliseconds wait) {
        const auto until = std::min(deadline_, Clock::now() + wait);
        for (;;) {
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
            if (left.count() <= 0) return std::nullopt;
            pollfd pfd{fd_, POLLIN, 0};
            if (poll(&pfd, 1, static_cast<int>(left.count())) <= 0) continue;
            socklen_t alen = sizeof from_;
            const ssize_t n = recvfrom(fd_, rx_.data(), rx_.size(), 0,
                                       reinterpret_cast<sockaddr*>(&from_), &alen);
            if (n > 0) return static_cast<size_t>(n);
        }
    }

    void send_to_peer(const void* data, size_t len) {
        sendto(fd_, data, len, 0, reinterpret_cast<const sockaddr*>(&peer_addr_),
               sizeof peer_addr_);
    }

    std::vector<uint8_t> source_bytes() const {
        std::vector<uint8_t> s(6);
        std::memcpy(s.data(), &from_.sin_addr, 4);
        std::memcpy(s.data() + 4, &from_.sin_port, 2);
        return s;
    }

    bool mac1_ok(size_t len) {
        return checker_->check(crypto::Bytes(rx_.data(), len), source_bytes(), now_ns()) !=
               MacCheck::invalid_mac1;
    }

    bool run_initiator() {
        const auto started = Clock::now();
        for (int attempt = 1; attempt <= 5 && !keypair_; ++attempt) {
            wire::HandshakeInitiation init;
            local_index_ = random_index();
            if (create_initiation(handshake_, us_, crypto::random_private_key(), local_index_,
                                  Tai64n::now(), init) != HandshakeError::ok) {
                std::printf("wg-probe: cannot create an initiation (bad peer key?)\n");
                return false;
            }
            jar_->add_macs(reinterpret_cast<uint8_t*>(&init), sizeof init, now_ns());
            send_to_peer(&init, sizeof init);
            std::printf("wg-probe: initiation %d sent (index %08x%s)\n", attempt, local_index_,
                        jar_->has_fresh_cookie(now_ns()) ? ", with cookie" : "");
            while (auto n = receive(std::chrono::milliseconds(1000))) {
                if (handle_handshake_reply(*n)) break;
            }
        }
        if (!keypair_) {
            std::printf("wg-probe: no handshake response\n");
            return false;
        }
        const auto rtt =
            std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started);
        std::printf("wg-probe: handshake complete in %lld us (local %08x, remote %08x)\n",
                    static_cast<long long>(rtt.count()), keypair_->local_index,
                    keypair_->remote_index);

        in_addr dst;
        if (inet_pton(AF_INET, opts_.ping.c_str(), &dst) != 1) usage("--ping must be IPv4");
        int answered = 0;
        for (int seq = 1; seq <= opts_.count; ++seq) {
            uint8_t payload[kIcmpPayload];
            for (size_t i = 0; i < sizeof payload; ++i) payload[i] = static_cast<uint8_t>(seq + i);
            send_inner(icmp_echo(8, tunnel_src_, dst, kIcmpId, static_cast<uint16_t>(seq), payload,
                                 sizeof payload));
            bool got = false;
            while (!got) {
                auto n = receive(std::chrono::milliseconds(2000));
                if (!n) break;
                auto inner = receive_inner(*n);
                if (!inner) continue;
                auto echo = parse_echo(inner->data(), inner->size());
                got = echo && echo->type == 0 && echo->id == kIcmpId && echo->seq == seq &&
                      echo->src.s_addr == dst.s_addr && echo->payload_len == sizeof payload &&
                      std::memcmp(echo->payload, payload, sizeof payload) == 0;
            }
            std::printf("wg-probe: echo %d %s\n", seq, got ? "answered" : "LOST");
            answered += got;
        }
        return answered == opts_.count;
    }

    // Response or cookie reply to our initiation; true once keys are derived.
    bool handle_handshake_reply(size_t n) {
        if (n == sizeof(wire::CookieReply) && rx_[0] == 3) {
            wire::CookieReply reply;
            if (parse_message(rx_.data(), n, wire::MessageType::cookie_reply, reply) ==
                    HandshakeError::ok &&
                jar_->consume_reply(reply, now_ns()))
                std::printf("wg-probe: cookie reply accepted (peer under load)\n");
            return false;
        }
        wire::HandshakeResponse resp;
        if (parse_message(rx_.data(), n, wire::MessageType::handshake_response, resp) !=
            HandshakeError::ok)
            return false;
        if (!mac1_ok(n)) {
            std::printf("wg-probe: response with a bad mac1 ignored\n");
            return false;
        }
        const auto r = consume_response(
            resp, us_, [&](uint32_t idx) { return idx == local_index_ ? &handshake_ : nullptr; });
        if (r.error != HandshakeError::ok) {
            std::printf("wg-probe: response refused: %s\n", to_string(r.error));
            return false;
        }
        keypair_ = derive_keypair(handshake_, now_ns());
        return keypair_ != nullptr;
    }

    bool run_responder() {
        std::printf("wg-probe: waiting for an initiation on port %u\n", opts_.listen_port);
        while (!keypair_) {
            auto n = receive(std::chrono::milliseconds(1000));
            if (!n) {
                if (Clock::now() >= deadline_) break;
                continue;
            }
            wire::HandshakeInitiation init;
            if (parse_message(rx_.data(), *n, wire::MessageType::handshake_initiation, init) !=
                    HandshakeError::ok ||
                !mac1_ok(*n))
                continue;
            const auto consumed = consume_initiation(
                init, us_, [&](const Key& k) { return k == peer_public_ ? &handshake_ : nullptr; },
                now_ns());
            if (consumed.error != HandshakeError::ok) {
                std::printf("wg-probe: initiation refused: %s\n", to_string(consumed.error));
                continue;
            }
            peer_addr_ = from_;  // the endpoint follows the authenticated sender
            wire::HandshakeResponse resp;
            local_index_ = random_index();
            if (create_response(handshake_, crypto::random_private_key(), local_index_, resp) !=
                HandshakeError::ok)
                continue;
            jar_->add_macs(reinterpret_cast<uint8_t*>(&resp), sizeof resp, now_ns());
            send_to_peer(&resp, sizeof resp);
            keypair_ = derive_keypair(handshake_, now_ns());
            std::printf("wg-probe: answered the initiation from %s:%u\n", inet_ntoa(from_.sin_addr),
                        ntohs(from_.sin_port));
        }
        if (!keypair_) return false;

        int answered = 0;
        while (answered < opts_.count) {
            auto n = receive(std::chrono::milliseconds(1000));
            if (!n) {
                if (Clock::now() >= deadline_) break;
                continue;
            }
            auto inner = receive_inner(*n);
            if (!inner) continue;
            auto echo = parse_echo(inner->data(), inner->size());
            if (!echo || echo->type != 8 || echo->dst.s_addr != tunnel_src_.s_addr) continue;
            send_inner(icmp_echo(0, tunnel_src_, echo->src, echo->id, echo->seq, echo->payload,
                                 echo->payload_len));
            ++answered;
            std::printf("wg-probe: answered echo seq %u through the tunnel\n", echo->seq);
        }
        return answered == opts_.count;
    }

    void send_inner(const std::vector<uint8_t>& inner) {
        std::vector<uint8_t> buf(wire::kTransportHeaderLen + inner.size() + 16 + wire::kAeadTagLen);
        std::memcpy(buf.data() + wire::kTransportHeaderLen, inner.data(), inner.size());
        TransportPacket pkt{buf.data(), static_cast<uint32_t>(inner.size()),
                            static_cast<uint32_t>(buf.size())};
        PacketResult result;
        encrypt_burst(*keypair_, &pkt, 1, kMtu, now_ns(), &result, counters_);
        if (result.verdict == Verdict::send) send_to_peer(buf.data(), result.length);
    }

    // Decrypts a transport message; the inner packet, if one was delivered.
    std::optional<std::vector<uint8_t>> receive_inner(size_t n) {
        if (n < wire::kTransportMinLen || rx_[0] != 4) return std::nullopt;
        wire::TransportHeader header;
        std::memcpy(&header, rx_.data(), sizeof header);
        Keypair* kp = header.receiver_index == keypair_->local_index ? keypair_.get() : nullptr;
        TransportPacket pkt{rx_.data(), static_cast<uint32_t>(n),
                            static_cast<uint32_t>(rx_.size())};
        PacketResult result;
        decrypt_burst(&kp, &pkt, 1, now_ns(), &result, counters_);
        if (result.verdict != Verdict::deliver) return std::nullopt;
        return std::vector<uint8_t>(rx_.data() + result.offset,
                                    rx_.data() + result.offset + result.length);
    }

    static uint32_t random_index() {
        uint32_t idx = 0;
        while (idx == 0) crypto::random_bytes(reinterpret_cast<uint8_t*>(&idx), sizeof idx);
        return idx;
    }

    const Options& opts_;
    StaticIdentity us_;
    Key peer_public_{};
    Handshake handshake_;
    std::optional<CookieJar> jar_;
    std::optional<CookieChecker> checker_;
    std::unique_ptr<Keypair> keypair_;
    uint32_t local_index_ = 0;
    TransportCounters counters_;
    in_addr tunnel_src_{};
    int fd_ = -1;
    sockaddr_in peer_addr_{};
    sockaddr_in from_{};
    std::vector<uint8_t> rx_ = std::vector<uint8_t>(65536);
    Clock::time_point deadline_;
};

}  // namespace

int main(int argc, char** argv) {
    const Options opts = parse_args(argc, argv);
    Probe probe(opts);
    return probe.run();
}
