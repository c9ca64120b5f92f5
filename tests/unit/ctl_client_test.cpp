// Tests of the sluicectl socket client against a real Unix socket: a fake
// daemon thread in the test answers with the daemon's own dispatch code
// (FrameReader + HandlerTable), or misbehaves on purpose: garbage, a frame
// cut short, silence, one byte at a time, a foreign version, a wrong id.
// Every failure must come back as a ClientError value within the timeout.
#include "control/ctl_client.hpp"

#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace sluice::ctl {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

Key filled(uint8_t b) {
    Key k;
    k.fill(b);
    return k;
}

IpPrefix prefix(std::string_view text) {
    return *parse_ip_prefix(text);
}

// A fresh directory under /tmp: socket paths must fit sun_path's 108 bytes,
// which a build directory's path may not.
class TempDir {
public:
    TempDir() {
        char name[] = "/tmp/sluice-ctl-client-XXXXXX";
        if (::mkdtemp(name) == nullptr) {
            ADD_FAILURE() << "mkdtemp: " << std::strerror(errno);
        }
        path_ = name;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

// A Unix stream socket bound to `path`; listening unless backlog < 0.
int bound_socket(const std::string& path, int backlog) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.data(), path.size());
    EXPECT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0)
        << std::strerror(errno);
    if (backlog >= 0) {
        EXPECT_EQ(::listen(fd, backlog), 0) << std::strerror(errno);
    }
    return fd;
}

bool write_all(int fd, std::span<const uint8_t> bytes) {
    while (!bytes.empty()) {
        const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        bytes = bytes.subspan(static_cast<size_t>(n));
    }
    return true;
}

// Reads until `reader` holds a frame, the peer closes, or `stop` is set.
std::optional<Frame> read_frame(int fd, FrameReader& reader, const std::atomic<bool>& stop) {
    std::vector<uint8_t> buffer(4096);
    while (!stop) {
        if (reader.state() == FrameReader::State::frame_ready) return reader.take();
        if (reader.state() == FrameReader::State::failed) return std::nullopt;
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 20) <= 0) continue;
        const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), 0);
        if (n <= 0) return std::nullopt;
        // Requests come one at a time here, so nothing is left over.
        reader.feed(std::span<const uint8_t>(buffer.data(), static_cast<size_t>(n)));
    }
    return std::nullopt;
}

// What the fake daemon does with one accepted connection.
using Behaviour = std::function<void(int fd, const std::atomic<bool>& stop)>;

// A socket in a temporary directory and a thread that accepts connections on
// it one after another and hands each to the behaviour.
class FakeDaemon {
public:
    explicit FakeDaemon(Behaviour behaviour)
        : path_(dir_.file("d.ctl")), listen_fd_(bound_socket(path_, 8)) {
        thread_ = std::thread([this, b = std::move(behaviour)] {
            while (!stop_) {
                pollfd p{listen_fd_, POLLIN, 0};
                if (::poll(&p, 1, 20) <= 0) continue;
                const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
                if (fd < 0) continue;
                b(fd, stop_);
                ::close(fd);
            }
        });
    }
    ~FakeDaemon() {
        stop_ = true;
        thread_.join();
        ::close(listen_fd_);
    }
    const std::string& path() const { return path_; }

private:
    TempDir dir_;
    std::string path_;
    int listen_fd_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

// The daemon's loop: every request through the real HandlerTable. With
// `byte_by_byte`, each reply goes out one byte per send, with a pause so that
// the client sees many short reads.
Behaviour serve(std::shared_ptr<const HandlerTable> table, bool byte_by_byte = false) {
    return [table = std::move(table), byte_by_byte](int fd, const std::atomic<bool>& stop) {
        FrameReader reader(Kind::request, kMaxRequestPayload);
        while (const auto frame = read_frame(fd, reader, stop)) {
            const std::vector<uint8_t> reply = table->serve(*frame);
            if (!byte_by_byte) {
                if (!write_all(fd, reply)) return;
                continue;
            }
            for (const uint8_t b : reply) {
                if (!write_all(fd, std::span<const uint8_t>(&b, 1))) return;
                std::this_thread::sleep_for(200us);
            }
        }
        if (reader.state() == FrameReader::State::failed) write_all(fd, reader.error_reply());
    };
}

// Reads one request, then does `then` with it.
Behaviour after_request(std::function<void(int, const Frame&, const std::atomic<bool>&)> then) {
    return [then = std::move(then)](int fd, const std::atomic<bool>& stop) {
        FrameReader reader(Kind::request, kMaxRequestPayload);
        if (const auto frame = read_frame(fd, reader, stop)) then(fd, *frame, stop);
    };
}

// Holds the connection open, saying nothing, until the client closes it or
// the test ends.
void stay_silent(int fd, const std::atomic<bool>& stop) {
    uint8_t byte;
    while (!stop) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 20) > 0 && ::recv(fd, &byte, 1, 0) <= 0) return;
    }
}

const VersionResponse kVersion{"0.1.0", kProtocolVersion, "wg0", "kernel", 4242};

std::shared_ptr<HandlerTable> daemon_table() {
    auto table = std::make_shared<HandlerTable>();
    table->add<VersionRequest>(
        [](const VersionRequest&) -> Outcome<VersionRequest> { return kVersion; });
    table->add<ShowRequest>([](const ShowRequest&) -> Outcome<ShowRequest> {
        ShowResponse show;
        show.interface = {"wg0", filled(0x11), 51820, "kernel", 1420, {prefix("10.0.0.1/24")}};
        PeerInfo a;
        a.public_key = filled(0x22);
        a.name = "site-a";
        a.has_preshared_key = true;
        a.endpoint = parse_socket_address("192.0.2.7:51820");
        a.allowed_ips = {prefix("10.0.0.2/32"), prefix("192.168.50.0/24")};
        a.handshake_age_ms = 12'345;
        a.rx_bytes = 1000;
        a.tx_bytes = 2000;
        a.keypairs = {{KeypairSlot::current, 7, 9, 12'345, true, 55}};
        PeerInfo b;
        b.public_key = filled(0x33);
        b.allowed_ips = {prefix("fd00::/64")};
        show.peers = {a, b};
        return show;
    });
    table->add<PeerAddRequest>([](const PeerAddRequest& r) -> Outcome<PeerAddRequest> {
        // Checks that the preshared key and the rest arrived intact.
        if (r.public_key != filled(0x44) || r.name != "new" || r.preshared_key != filled(0x55) ||
            r.allowed_ips != std::vector<IpPrefix>{prefix("10.1.0.0/16")})
            return Failure{EINVAL, "request arrived altered"};
        return PeerAddResponse{};
    });
    table->add<PeerRemoveRequest>([](const PeerRemoveRequest&) -> Outcome<PeerRemoveRequest> {
        return Failure{ENOENT, "no peer named \"x\""};
    });
    table->add<ShowStreamsRequest>([](const ShowStreamsRequest&) -> Outcome<ShowStreamsRequest> {
        StreamSession s;
        s.peer = "site-a";
        s.state = "open";
        s.ssthresh = UINT64_MAX;
        s.counters = {{"packets_sent", 3}};
        s.streams = {{4, true, "open", "ssh", 10, 10, 65536, 0, 0, 65536, 65536, 0, false, false}};
        return StreamsResponse{true, 1 << 20, 4096, {}, {s}};
    });
    return table;
}

ClientResult<Client> connect_to(const std::string& path, std::chrono::milliseconds t = 1s) {
    return Client::connect(path, t);
}

// A connection to `daemon` that must succeed.
Client connected(const FakeDaemon& daemon) {
    auto c = connect_to(daemon.path());
    if (!c) {
        ADD_FAILURE() << describe(c.error());
        std::abort();
    }
    return std::move(c).value();
}

// ---- Replies --------------------------------------------------------------------------

TEST(CtlClient, VersionRoundTrip) {
    FakeDaemon daemon(serve(daemon_table()));
    Client client = connected(daemon);
    const auto reply = client.call(VersionRequest{}, 1s);
    ASSERT_TRUE(reply.ok()) << describe(reply.error());
    EXPECT_EQ(std::get<VersionResponse>(reply.value()), kVersion);
}

TEST(CtlClient, ShowWithPeers) {
    FakeDaemon daemon(serve(daemon_table()));
    Client client = connected(daemon);
    const auto reply = client.call(ShowRequest{}, 1s);
    ASSERT_TRUE(reply.ok()) << describe(reply.error());
    const auto& show = std::get<ShowResponse>(reply.value());
    EXPECT_EQ(show.interface.name, "wg0");
    ASSERT_EQ(show.peers.size(), 2u);
    EXPECT_EQ(show.peers[0].name, "site-a");
    EXPECT_EQ(show.peers[0].allowed_ips.size(), 2u);
    EXPECT_EQ(show.peers[0].keypairs.size(), 1u);
    EXPECT_EQ(show.peers[1].public_key, filled(0x33));
    EXPECT_FALSE(show.peers[1].handshake_age_ms.has_value());
}

TEST(CtlClient, ShowStreams) {
    FakeDaemon daemon(serve(daemon_table()));
    Client client = connected(daemon);
    const auto reply = client.call(ShowStreamsRequest{}, 1s);
    ASSERT_TRUE(reply.ok()) << describe(reply.error());
    const auto& streams = std::get<StreamsResponse>(reply.value());
    EXPECT_TRUE(streams.enabled);
    EXPECT_EQ(streams.memory_used, 4096u);
    ASSERT_EQ(streams.sessions.size(), 1u);
    EXPECT_EQ(streams.sessions[0].peer, "site-a");
    EXPECT_EQ(streams.sessions[0].ssthresh, UINT64_MAX);
    EXPECT_EQ(streams.sessions[0].counters.at(0).second, 3u);
    ASSERT_EQ(streams.sessions[0].streams.size(), 1u);
    EXPECT_EQ(streams.sessions[0].streams[0].forward, "ssh");
}

TEST(CtlClient, PeerAddCarriesEveryField) {
    FakeDaemon daemon(serve(daemon_table()));
    Client client = connected(daemon);
    PeerAddRequest add;
    add.public_key = filled(0x44);
    add.name = "new";
    add.preshared_key = filled(0x55);
    add.allowed_ips = {prefix("10.1.0.0/16")};
    const auto reply = client.call(add, 1s);
    ASSERT_TRUE(reply.ok()) << describe(reply.error());
    EXPECT_TRUE(std::holds_alternative<PeerAddResponse>(reply.value()));
}

TEST(CtlClient, DaemonFailureIsDaemonErrorAndKeepsTheConnection) {
    FakeDaemon daemon(serve(daemon_table()));
    Client client = connected(daemon);

    const auto refused = client.call(PeerRemoveRequest{std::string("x")}, 1s);
    ASSERT_FALSE(refused.ok());
    const ClientError& e = refused.error();
    EXPECT_EQ(e.code, ClientErrc::protocol);
    EXPECT_EQ(e.protocol.code, Errc::daemon_error);
    EXPECT_EQ(e.protocol.status, static_cast<uint32_t>(ENOENT));
    EXPECT_EQ(e.protocol.detail, "no peer named \"x\"");
    EXPECT_EQ(describe(e), "no peer named \"x\" (ENOENT)");

    // A command the table does not serve: ENOSYS from the shared dispatch.
    const auto unserved = client.call(ReloadRequest{}, 1s);
    ASSERT_FALSE(unserved.ok());
    EXPECT_EQ(unserved.error().protocol.code, Errc::daemon_error);
    EXPECT_EQ(unserved.error().protocol.status, static_cast<uint32_t>(ENOSYS));

    // Refusals are well-formed frames, so the connection carries on.
    const auto version = client.call(VersionRequest{}, 1s);
    ASSERT_TRUE(version.ok()) << describe(version.error());
    EXPECT_EQ(std::get<VersionResponse>(version.value()), kVersion);
}

TEST(CtlClient, ReplySplitIntoSingleBytesStillDecodes) {
    FakeDaemon daemon(serve(daemon_table(), /*byte_by_byte=*/true));
    Client client = connected(daemon);
    const auto reply = client.call(VersionRequest{}, 2s);
    ASSERT_TRUE(reply.ok()) << describe(reply.error());
    EXPECT_EQ(std::get<VersionResponse>(reply.value()), kVersion);
    const auto show = client.call(ShowRequest{}, 5s);
    ASSERT_TRUE(show.ok()) << describe(show.error());
    EXPECT_EQ(std::get<ShowResponse>(show.value()).peers.size(), 2u);
}

// ---- No daemon ------------------------------------------------------------------------

TEST(CtlClient, MissingPathIsNoSocket) {
    TempDir dir;
    const std::string path = dir.file("absent.ctl");
    const auto c = connect_to(path);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().code, ClientErrc::no_socket);
    EXPECT_EQ(c.error().sys_errno, ENOENT);
    EXPECT_EQ(describe(c.error()),
              "no sluiced is listening on " + path + " (no such socket); is the daemon running?");

    // A directory in the path that is a file: the same for the operator.
    const std::string file = dir.file("file");
    ::close(::open(file.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
    const auto under_file = connect_to(file + "/x.ctl");
    ASSERT_FALSE(under_file.ok());
    EXPECT_EQ(under_file.error().code, ClientErrc::no_socket);
}

TEST(CtlClient, DeadSocketIsRefused) {
    TempDir dir;
    const std::string path = dir.file("dead.ctl");
    ::close(bound_socket(path, -1));  // the file stays; nobody listens
    const auto c = connect_to(path);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().code, ClientErrc::not_listening);
    EXPECT_FALSE(c.error().not_a_socket);
    EXPECT_EQ(describe(c.error()), "no sluiced is listening on " + path +
                                       " (connection refused); is the daemon running?");
}

TEST(CtlClient, PlainFileIsRefusedAsNotASocket) {
    TempDir dir;
    const std::string path = dir.file("plain.ctl");
    ::close(::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
    const auto c = connect_to(path);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().code, ClientErrc::not_listening);
    EXPECT_TRUE(c.error().not_a_socket);
    EXPECT_NE(describe(c.error()).find(path + " is not a socket"), std::string::npos);
}

TEST(CtlClient, PathTooLongIsAnError) {
    const auto c = connect_to("/tmp/" + std::string(200, 'x'));
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().code, ClientErrc::io);
    EXPECT_EQ(c.error().sys_errno, ENAMETOOLONG);
}

// Root passes any permission check, so as root the connect runs in a child
// that has become nobody.
TEST(CtlClient, PermissionDeniedIsItsOwnError) {
    TempDir dir;
    ASSERT_EQ(::chmod(dir.path().c_str(), 0755), 0);
    const std::string path = dir.file("root-only.ctl");
    const int listener = bound_socket(path, 4);
    ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
    if (::geteuid() != 0) {
        const auto c = connect_to(path);
        ::close(listener);
        ASSERT_FALSE(c.ok());
        EXPECT_EQ(c.error().code, ClientErrc::permission_denied);
        return;
    }
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        if (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0)
            ::_exit(3);
        const auto c = Client::connect(path, 1s);
        ::_exit(c.ok() ? 2 : c.error().code == ClientErrc::permission_denied ? 0 : 1);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ::close(listener);
    ASSERT_TRUE(WIFEXITED(status));
    if (WEXITSTATUS(status) == 3) GTEST_SKIP() << "cannot drop privileges here";
    EXPECT_EQ(WEXITSTATUS(status), 0) << "2: connected anyway; 1: another error";
}

TEST(CtlClient, ConnectTimesOutWhenTheBacklogIsFull) {
    TempDir dir;
    const std::string path = dir.file("busy.ctl");
    // Backlog 0 queues one connection; nobody accepts, so the next waits.
    const int listener = bound_socket(path, 0);
    auto first = connect_to(path, 200ms);
    ASSERT_TRUE(first.ok()) << describe(first.error());
    const auto start = Clock::now();
    const auto second = connect_to(path, 200ms);
    const auto took = Clock::now() - start;
    ::close(listener);
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.error().code, ClientErrc::timed_out);
    EXPECT_TRUE(second.error().during_connect);
    EXPECT_GE(took, 150ms);
    EXPECT_LT(took, 2s);
    EXPECT_EQ(describe(second.error()),
              "sluiced on " + path + " did not accept the connection within 200 ms");
}

// ---- Hostile or broken daemons ----------------------------------------------------------

TEST(CtlClient, GarbageReplyIsAnErrorNotACrash) {
    FakeDaemon daemon(after_request([](int fd, const Frame&, const std::atomic<bool>&) {
        const std::string_view http = "HTTP/1.1 400 Bad Request\r\n\r\n";
        write_all(fd, std::span(reinterpret_cast<const uint8_t*>(http.data()), http.size()));
    }));
    Client client = connected(daemon);
    const auto reply = client.call(VersionRequest{}, 1s);
    ASSERT_FALSE(reply.ok());
    EXPECT_EQ(reply.error().code, ClientErrc::protocol);
    EXPECT_EQ(reply.error().protocol.code, Errc::bad_magic);

    // The stream is no longer trusted: a second call fails at once.
    const auto again = client.call(VersionRequest{}, 1s);
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.error().code, ClientErrc::io);
    EXPECT_EQ(again.error().sys_errno, ENOTCONN);
}

TEST(CtlClient, RandomBytesAfterAValidHeaderAreRefused) {
    // A header that passes, then a payload that is not a VersionResponse.
    FakeDaemon daemon(after_request([](int fd, const Frame& request, const std::atomic<bool>&) {
        std::vector<uint8_t> junk(37);
        for (size_t i = 0; i < junk.size(); ++i) junk[i] = static_cast<uint8_t>(i * 97 + 13);
        Header h;
        h.command = request.header.command;
        h.kind = Kind::response;
        h.request_id = request.header.request_id;
        write_all(fd, encode_frame(h, junk));
    }));
    Client client = connected(daemon);
    const auto reply = client.call(VersionRequest{}, 1s);
    ASSERT_FALSE(reply.ok());
    EXPECT_EQ(reply.error().code, ClientErrc::protocol);
    EXPECT_NE(reply.error().protocol.code, Errc::ok);
    EXPECT_NE(reply.error().protocol.code, Errc::daemon_error);
}

TEST(CtlClient, CloseMidFrameIsTruncated) {
    FakeDaemon daemon(after_request([](int fd, const Frame& request, const std::atomic<bool>&) {
        const auto reply = encode_response(kVersion, request.header.request_id);
        write_all(fd, std::span(reply).first(reply.size() / 2));
    }));
    Client client = connected(daemon);
    const auto reply = client.call(VersionRequest{}, 1s);
    ASSERT_FALSE(reply.ok());
    EXPECT_EQ(reply.error().code, ClientErrc::protocol);
    EXPECT_EQ(reply.error().protocol.code, Errc::truncated);
}

TEST(CtlClient, CloseWithoutAnswerIsClosed) {
    FakeDaemon daemon(after_request([](int, const Frame&, const std::atomic<bool>&) {}));
    Client client = connected(daemon);
    const auto reply = client.call(VersionRequest{}, 1s);
    ASSERT_FALSE(reply.ok());
    EXPECT_EQ(reply.error().code, ClientErrc::closed);
    EXPECT_EQ(describe(reply.error()),
              "sluiced on " + daemon.path() + " closed the connection without answering");
}

TEST(CtlClient, SilentDaemonTimesOutWithinTheTimeout) {
    FakeDaemon daemon(stay_silent);
    Client client = connected(daemon);
    const auto start = Clock::now();
    const auto reply = client.call(VersionRequest{}, 200ms);
    const auto took = Clock::now() - start;
    ASSERT_FALSE(reply.ok());
    EXPECT_EQ(reply.error().code, ClientErrc::timed_out);
    EXPECT_FALSE(reply.error().during_connect);
    EXPECT_GE(took, 190ms);
    EXPECT_LT(took, 2s);
    EXPECT_EQ(describe(reply.error()),
              "sluiced on " + daemon.path() + " did not answer within 200 ms");
}

TEST(CtlClient, TricklingDaemonStillTimesOut) {
    // One byte of a valid reply every 50 ms: each read succeeds, the whole
    // never arrives in time.
    FakeDaemon daemon(
        after_request([](int fd, const Frame& request, const std::atomic<bool>& stop) {
            const auto reply = encode_response(kVersion, request.header.request_id);
            for (size_t i = 0; i < reply.size() && !stop; ++i) {
                if (!write_all(fd, std::span(reply).subspan(i, 1))) return;
                std::this_thread::sleep_for(50ms);
            }
        }));
    Client client = connected(daemon);
    const auto start = Clock::now();
    const auto reply = client.call(VersionRequest{}, 200ms);
    EXPECT_LT(Clock::now() - start, 2s);
    ASSERT_FALSE(reply.ok());
    EXPECT_EQ(reply.error().code, ClientErrc::timed_out);
}

TEST(CtlClient, ReplyOfAnotherVersionIsAMismatch) {
    FakeDaemon daemon(after_request([](int fd, const Frame& request, const std::atomic<bool>&) {
        auto reply = encode_response(kVersion, request.header.request_id);
        reply[4] = 2;  // version, little-endian
        write_all(fd, reply);
    }));
    Client client = connected(daemon);
    const auto reply = client.call(VersionRequest{}, 1s);
    ASSERT_FALSE(reply.ok());
    EXPECT_EQ(reply.error().protocol.code, Errc::wrong_version);
    EXPECT_EQ(reply.error().protocol.version, 2);
}

TEST(CtlClient, ReplyToAnotherRequestIsRefused) {
    FakeDaemon daemon(after_request([](int fd, const Frame& request, const std::atomic<bool>&) {
        write_all(fd, encode_response(kVersion, request.header.request_id + 1));
    }));
    Client client = connected(daemon);
    const auto reply = client.call(VersionRequest{}, 1s);
    ASSERT_FALSE(reply.ok());
    EXPECT_EQ(reply.error().protocol.code, Errc::mismatched_reply);
}

TEST(CtlClient, OversizedReplyIsRefusedFromItsHeader) {
    // The header promises 32 MiB and the daemon then goes quiet: the client
    // must refuse at the header rather than wait for the payload.
    FakeDaemon daemon(
        after_request([](int fd, const Frame& request, const std::atomic<bool>& stop) {
            auto header = encode_response(kVersion, request.header.request_id);
            header.resize(kHeaderSize);
            const uint32_t length = 32u << 20;
            for (int i = 0; i < 4; ++i) header[20 + i] = static_cast<uint8_t>(length >> (8 * i));
            write_all(fd, header);
            stay_silent(fd, stop);
        }));
    Client client = connected(daemon);
    const auto start = Clock::now();
    const auto reply = client.call(VersionRequest{}, 5s);
    EXPECT_LT(Clock::now() - start, 1s);
    ASSERT_FALSE(reply.ok());
    EXPECT_EQ(reply.error().protocol.code, Errc::oversized);
}

TEST(CtlClient, MovedClientKeepsTheConnection) {
    FakeDaemon daemon(serve(daemon_table()));
    Client first = connected(daemon);
    Client second = std::move(first);
    const auto reply = second.call(VersionRequest{}, 1s);
    ASSERT_TRUE(reply.ok()) << describe(reply.error());
}

}  // namespace
}  // namespace sluice::ctl
