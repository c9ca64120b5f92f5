// Tests of the daemon's Unix-socket servers with real sockets in a temporary
// directory: the socket file's life (mode, a live or stale socket at the path,
// whose inode the destructor removes), the UAPI server as wg(8) drives it, the
// sluicectl server with a HandlerTable, and every way a client can misbehave
// (bad bytes, too many connections, going quiet mid-request, not reading its
// replies). The test thread drives poll() itself; clients are plain sockets
// read without blocking. SecretBuffer is checked against a std::deque.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "control/ctl_protocol.hpp"
#include "control/ctl_server.hpp"
#include "control/key_encoding.hpp"
#include "control/uapi.hpp"
#include "control/uapi_server.hpp"
#include "control/unix_listener.hpp"

namespace sluice {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// ---- Helpers ------------------------------------------------------------------------------------

class TempDir {
public:
    TempDir() {
        std::string pattern =
            (std::filesystem::temp_directory_path() / "sluice-srv-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
        path_ = pattern;
    }
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    [[nodiscard]] std::string file(const std::string& name) const { return path_ + "/" + name; }
    [[nodiscard]] const std::string& path() const { return path_; }

private:
    std::string path_;
};

class Socket {
public:
    explicit Socket(int fd = -1) : fd_(fd) {}
    Socket(Socket&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    Socket& operator=(Socket&& other) noexcept {
        std::swap(fd_, other.fd_);
        return *this;
    }
    ~Socket() {
        if (fd_ >= 0) ::close(fd_);
    }
    [[nodiscard]] int fd() const { return fd_; }

private:
    int fd_;
};

sockaddr_un address_of(const std::string& path) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
    return a;
}

// -1 when nothing accepts at `path`.
Socket connect_to(const std::string& path) {
    Socket s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    const sockaddr_un a = address_of(path);
    if (::connect(s.fd(), reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) return Socket();
    return s;
}

void send_all(const Socket& s, std::string_view bytes) {
    while (!bytes.empty()) {
        const ssize_t n = ::send(s.fd(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
        ASSERT_GT(n, 0) << std::strerror(errno);
        bytes.remove_prefix(static_cast<size_t>(n));
    }
}

void send_all(const Socket& s, const std::vector<uint8_t>& bytes) {
    send_all(s, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

// Polls `server` until `done` or the deadline, waiting on its epoll fd in
// between as the daemon's loop would.
template <typename Server>
bool pump(Server& server, const std::function<bool()>& done,
          std::chrono::milliseconds timeout = 5s) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        server.poll();
        if (done()) return true;
        if (Clock::now() > deadline) return false;
        pollfd p{server.fd(), POLLIN, 0};
        ::poll(&p, 1, 5);
    }
}

// Polls for a while without a goal, so the server sees everything sent so far.
template <typename Server>
void settle(Server& server, std::chrono::milliseconds how_long = 50ms) {
    pump(
        server, [] { return false; }, how_long);
}

// What a client received, and whether the server closed the connection.
struct Received {
    std::string bytes;
    bool closed = false;
};

// Reads what has arrived without blocking.
void read_available(const Socket& s, Received& r) {
    char buf[65536];
    for (;;) {
        const ssize_t n = ::recv(s.fd(), buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) {
            r.bytes.append(buf, static_cast<size_t>(n));
        } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            r.closed = true;
            return;
        } else {
            return;
        }
    }
}

// Serves until the client has `want` (a predicate on its bytes) or was closed.
template <typename Server>
Received receive(Server& server, const Socket& s,
                 const std::function<bool(const std::string&)>& want,
                 std::chrono::milliseconds timeout = 5s) {
    Received r;
    pump(
        server,
        [&] {
            read_available(s, r);
            return r.closed || want(r.bytes);
        },
        timeout);
    return r;
}

size_t count_of(std::string_view haystack, std::string_view needle) {
    size_t n = 0;
    for (size_t at = haystack.find(needle); at != std::string_view::npos;
         at = haystack.find(needle, at + needle.size()))
        ++n;
    return n;
}

// UAPI replies end in an empty line, and only there.
std::function<bool(const std::string&)> replies(size_t n) {
    return [n](const std::string& bytes) { return count_of(bytes, "errno=") >= n; };
}

template <typename Server>
Received until_closed(Server& server, const Socket& s, std::chrono::milliseconds timeout = 5s) {
    return receive(
        server, s, [](const std::string&) { return false; }, timeout);
}

std::string errno_line(int code) {
    return "errno=" + std::to_string(-code) + "\n\n";
}

Key key_of(uint8_t fill) {
    Key k;
    k.fill(fill);
    return k;
}

// ---- UnixListener -------------------------------------------------------------------------------

TEST(UnixListener, CreatesParentDirectoriesAndASocketOnlyTheOwnerCanUse) {
    TempDir dir;
    const std::string path = dir.file("var/run/wireguard/wg0.sock");
    std::string error;
    auto listener = UnixListener::open(path, &error);
    ASSERT_TRUE(listener) << error;

    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    ASSERT_EQ(::stat(dir.file("var/run/wireguard").c_str(), &st), 0);
    EXPECT_TRUE(S_ISDIR(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0755u);

    const int flags = ::fcntl(listener->fd(), F_GETFL);
    EXPECT_TRUE(flags & O_NONBLOCK);
    EXPECT_TRUE(::fcntl(listener->fd(), F_GETFD) & FD_CLOEXEC);
    EXPECT_GE(connect_to(path).fd(), 0);
}

TEST(UnixListener, RefusesAPathALiveDaemonListensOn) {
    TempDir dir;
    const std::string path = dir.file("wg0.sock");
    std::string error;
    auto first = UnixListener::open(path, &error);
    ASSERT_TRUE(first) << error;
    struct stat before {};
    ASSERT_EQ(::stat(path.c_str(), &before), 0);

    auto second = UnixListener::open(path, &error);
    EXPECT_FALSE(second);
    EXPECT_EQ(error, path + " is in use by another running daemon");

    // The first daemon's socket is untouched and still answers.
    struct stat after {};
    ASSERT_EQ(::stat(path.c_str(), &after), 0);
    EXPECT_EQ(after.st_ino, before.st_ino);
    EXPECT_GE(connect_to(path).fd(), 0);
}

TEST(UnixListener, ReplacesAStaleSocket) {
    TempDir dir;
    const std::string path = dir.file("wg0.sock");
    {
        // A daemon that died: its socket file stays, nothing listens.
        Socket dead(::socket(AF_UNIX, SOCK_STREAM, 0));
        const sockaddr_un a = address_of(path);
        ASSERT_EQ(::bind(dead.fd(), reinterpret_cast<const sockaddr*>(&a), sizeof a), 0);
    }
    ASSERT_LT(connect_to(path).fd(), 0);

    std::string error;
    auto listener = UnixListener::open(path, &error);
    ASSERT_TRUE(listener) << error;
    EXPECT_GE(connect_to(path).fd(), 0);
}

TEST(UnixListener, RefusesAPathThatIsNotASocket) {
    TempDir dir;
    const std::string path = dir.file("wg0.sock");
    std::ofstream(path) << "precious\n";

    std::string error;
    EXPECT_FALSE(UnixListener::open(path, &error));
    EXPECT_NE(error.find("is not a socket"), std::string::npos) << error;
    EXPECT_EQ(error.find('\n'), std::string::npos);
    std::ifstream in(path);
    std::string content;
    std::getline(in, content);
    EXPECT_EQ(content, "precious");  // left alone

    ASSERT_EQ(::mkdir(dir.file("d.sock").c_str(), 0755), 0);
    EXPECT_FALSE(UnixListener::open(dir.file("d.sock"), &error));
}

TEST(UnixListener, PathLengthLimit) {
    TempDir dir;
    std::string path = dir.path() + "/";
    path += std::string(UnixListener::kMaxPathLength - path.size(), 'p');
    ASSERT_EQ(path.size(), 107u);
    std::string error;
    auto longest = UnixListener::open(path, &error);
    EXPECT_TRUE(longest) << error;

    error.clear();
    EXPECT_FALSE(UnixListener::open(path + "q", &error));
    EXPECT_NE(error.find("the limit is 107"), std::string::npos) << error;
    EXPECT_FALSE(UnixListener::open("", &error));
}

TEST(UnixListener, DestructorRemovesOnlyItsOwnSocket) {
    TempDir dir;
    const std::string path = dir.file("wg0.sock");
    std::string error;
    auto mine = UnixListener::open(path, &error);
    ASSERT_TRUE(mine) << error;

    // Someone removes our file and a second daemon binds the path.
    ASSERT_EQ(::unlink(path.c_str()), 0);
    auto theirs = UnixListener::open(path, &error);
    ASSERT_TRUE(theirs) << error;
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    const ino_t their_inode = st.st_ino;

    mine.reset();
    ASSERT_EQ(::stat(path.c_str(), &st), 0) << "the other daemon's socket was removed";
    EXPECT_EQ(st.st_ino, their_inode);
    EXPECT_GE(connect_to(path).fd(), 0);

    theirs.reset();
    EXPECT_NE(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(errno, ENOENT);
}

// ---- SecretBuffer -------------------------------------------------------------------------------

TEST(SecretBuffer, BehavesAsAQueueThroughGrowthAndCompaction) {
    SecretBuffer buffer;
    std::deque<uint8_t> model;
    std::mt19937 rng(7);
    uint8_t next = 0;
    for (int round = 0; round < 2000; ++round) {
        const size_t n = rng() % 3000;
        switch (rng() % 3) {
            case 0: {
                std::vector<uint8_t> bytes(n);
                for (auto& b : bytes) b = next++;
                buffer.append(bytes);
                model.insert(model.end(), bytes.begin(), bytes.end());
                break;
            }
            case 1: {
                auto room = buffer.prepare(n);
                ASSERT_EQ(room.size(), n);
                const size_t used = n / 2;
                for (size_t i = 0; i < used; ++i) {
                    room[i] = next;
                    model.push_back(next++);
                }
                buffer.commit(used);
                break;
            }
            default: {
                const size_t take = std::min(n, model.size());
                buffer.consume(take);
                model.erase(model.begin(), model.begin() + static_cast<ptrdiff_t>(take));
            }
        }
        ASSERT_EQ(buffer.size(), model.size());
        const auto data = buffer.data();
        ASSERT_TRUE(std::equal(data.begin(), data.end(), model.begin(), model.end()))
            << "round " << round;
    }
    buffer.clear();
    EXPECT_TRUE(buffer.empty());
}

// ---- UapiServer ---------------------------------------------------------------------------------

// A device for the get callback, changed by the set callback.
struct FakeDevice {
    uapi::DeviceStatus status;
    std::vector<uapi::SetRequest> sets;  // as the server passed them
    uapi::Error next_error;              // what the next set answers
    bool throw_next = false;             // the next set throws instead
    int gets = 0;

    FakeDevice() {
        status.private_key = key_of(0x11);
        status.listen_port = 51820;
        uapi::PeerStatus peer;
        peer.public_key = key_of(0x22);
        peer.allowed_ips = {*parse_ip_prefix("10.0.0.0/24")};
        status.peers.push_back(peer);
    }

    std::unique_ptr<UapiServer> serve(const std::string& path, const ServerLimits& limits = {}) {
        std::string error;
        auto server = UapiServer::create(
            path,
            [this] {
                ++gets;
                return status;
            },
            [this](const uapi::SetRequest& request) {
                if (std::exchange(throw_next, false)) throw std::runtime_error("device gone");
                sets.push_back(request);
                if (request.interface.listen_port)
                    status.listen_port = *request.interface.listen_port;
                return std::exchange(next_error, {});
            },
            &error, limits);
        EXPECT_TRUE(server) << error;
        return server;
    }
};

TEST(UapiServer, GetAnswersTheSnapshot) {
    TempDir dir;
    FakeDevice device;
    auto server = device.serve(dir.file("wg0.sock"));
    ASSERT_TRUE(server);
    EXPECT_EQ(server->client_count(), 0u);

    Socket client = connect_to(dir.file("wg0.sock"));
    send_all(client, "get=1\n\n");
    const Received r = receive(*server, client, replies(1));
    EXPECT_EQ(r.bytes, uapi::format_get(device.status));
    EXPECT_TRUE(r.bytes.ends_with("\nerrno=0\n\n"));
    EXPECT_NE(r.bytes.find("private_key=" + key_to_hex(key_of(0x11)) + "\n"), std::string::npos);
    EXPECT_FALSE(r.closed);
    EXPECT_EQ(server->client_count(), 1u);
    EXPECT_EQ(server->counters().clients_accepted, 1u);
    EXPECT_EQ(server->counters().requests, 1u);
    EXPECT_EQ(server->counters().errors(), 0u);
}

TEST(UapiServer, EpollFdIsReadableOnlyWhenThereIsWork) {
    TempDir dir;
    FakeDevice device;
    auto server = device.serve(dir.file("wg0.sock"));
    ASSERT_TRUE(server);
    pollfd p{server->fd(), POLLIN, 0};
    EXPECT_EQ(::poll(&p, 1, 0), 0);

    Socket client = connect_to(dir.file("wg0.sock"));
    EXPECT_EQ(::poll(&p, 1, 1000), 1) << "a pending connection must wake the daemon";
    server->poll();
    EXPECT_EQ(server->client_count(), 1u);
    EXPECT_EQ(::poll(&p, 1, 0), 0);

    send_all(client, "get=1\n\n");
    EXPECT_EQ(::poll(&p, 1, 1000), 1) << "a request must wake the daemon";
}

TEST(UapiServer, BadSetValueAnswersEinvalAndKeepsTheConnection) {
    TempDir dir;
    FakeDevice device;
    auto server = device.serve(dir.file("wg0.sock"));
    ASSERT_TRUE(server);
    Socket client = connect_to(dir.file("wg0.sock"));

    send_all(client, "set=1\nlisten_port=seventy\n\n");
    Received r = receive(*server, client, replies(1));
    EXPECT_EQ(r.bytes, "errno=-22\n\n");
    EXPECT_EQ(r.bytes, errno_line(EINVAL));
    EXPECT_TRUE(device.sets.empty()) << "a request that does not parse must not reach the device";

    send_all(client, "get=1\n\n");
    r = receive(*server, client, replies(1));
    EXPECT_EQ(r.bytes, uapi::format_get(device.status));
    EXPECT_FALSE(r.closed);
    EXPECT_EQ(server->counters().requests, 2u);
    EXPECT_EQ(server->counters().request_errors, 1u);
    EXPECT_EQ(server->counters().broken_streams, 0u);
}

TEST(UapiServer, SetReachesTheDeviceAndItsErrorComesBack) {
    TempDir dir;
    FakeDevice device;
    auto server = device.serve(dir.file("wg0.sock"));
    ASSERT_TRUE(server);
    Socket client = connect_to(dir.file("wg0.sock"));

    send_all(client, "set=1\nlisten_port=7\n\n");
    EXPECT_EQ(receive(*server, client, replies(1)).bytes, "errno=0\n\n");
    ASSERT_EQ(device.sets.size(), 1u);
    EXPECT_EQ(device.sets[0].interface.listen_port, 7);

    device.next_error = {ENOMEM, "too many peers"};
    send_all(client, "set=1\nlisten_port=8\n\n");
    EXPECT_EQ(receive(*server, client, replies(1)).bytes, errno_line(ENOMEM));
    EXPECT_EQ(server->counters().request_errors, 1u);

    // A daemon callback that throws costs that request, not the connection.
    device.throw_next = true;
    send_all(client, "set=1\nlisten_port=9\n\nget=1\n\n");
    const Received r = receive(*server, client, replies(2));
    EXPECT_EQ(r.bytes, errno_line(EIO) + uapi::format_get(device.status));
    EXPECT_FALSE(r.closed);
    EXPECT_EQ(server->counters().request_errors, 2u);
}

TEST(UapiServer, PipelinedRequestsAreAnsweredInOrder) {
    TempDir dir;
    FakeDevice device;
    auto server = device.serve(dir.file("wg0.sock"));
    ASSERT_TRUE(server);
    const std::string before = uapi::format_get(device.status);
    Socket client = connect_to(dir.file("wg0.sock"));

    send_all(client, "get=1\n\nset=1\nlisten_port=4242\n\nset=1\nbogus=1\n\nget=1\n\n");
    const Received r = receive(*server, client, replies(4));
    uapi::DeviceStatus after = device.status;
    ASSERT_EQ(after.listen_port, 4242);
    EXPECT_EQ(r.bytes, before + "errno=0\n\n" + errno_line(EINVAL) + uapi::format_get(after));
    EXPECT_EQ(server->counters().requests, 4u);
}

TEST(UapiServer, RequestInOneByteWrites) {
    TempDir dir;
    FakeDevice device;
    auto server = device.serve(dir.file("wg0.sock"));
    ASSERT_TRUE(server);
    Socket client = connect_to(dir.file("wg0.sock"));

    const std::string request =
        "set=1\nprivate_key=" + key_to_hex(key_of(0x33)) + "\nlisten_port=9\n\n";
    for (char c : request) {
        send_all(client, std::string_view(&c, 1));
        server->poll();
    }
    const Received r = receive(*server, client, replies(1));
    EXPECT_EQ(r.bytes, "errno=0\n\n");
    ASSERT_EQ(device.sets.size(), 1u);
    EXPECT_EQ(device.sets[0].interface.private_key, uapi::SecretKey(key_of(0x33)));
    EXPECT_EQ(device.sets[0].interface.listen_port, 9);
}

TEST(UapiServer, ClientThatShutsItsEndStillGetsItsReplies) {
    TempDir dir;
    FakeDevice device;
    auto server = device.serve(dir.file("wg0.sock"));
    ASSERT_TRUE(server);
    Socket client = connect_to(dir.file("wg0.sock"));

    // As `printf 'get=1\n\n' | socat - UNIX-CONNECT:...` does.
    send_all(client, "get=1\n\nget=1\n\n");
    ASSERT_EQ(::shutdown(client.fd(), SHUT_WR), 0);
    const Received r = until_closed(*server, client);
    EXPECT_EQ(r.bytes, uapi::format_get(device.status) + uapi::format_get(device.status));
    EXPECT_TRUE(r.closed);
    EXPECT_TRUE(pump(*server, [&] { return server->client_count() == 0; }));
    EXPECT_EQ(server->counters().broken_streams, 0u);
}

TEST(UapiServer, MalformedFirstLineAnswersAndCloses) {
    TempDir dir;
    FakeDevice device;
    auto server = device.serve(dir.file("wg0.sock"));
    ASSERT_TRUE(server);
    Socket client = connect_to(dir.file("wg0.sock"));

    send_all(client, "hello=1\nget=1\n\n");
    const Received r = until_closed(*server, client);
    EXPECT_EQ(r.bytes, errno_line(EINVAL));  // and nothing for the get after it
    EXPECT_TRUE(r.closed);
    EXPECT_EQ(device.gets, 0);
    EXPECT_TRUE(pump(*server, [&] { return server->client_count() == 0; }));
    EXPECT_EQ(server->counters().broken_streams, 1u);
}

TEST(UapiServer, OversizeLineAnswersEmsgsizeAndCloses) {
    TempDir dir;
    FakeDevice device;
    auto server = device.serve(dir.file("wg0.sock"));
    ASSERT_TRUE(server);
    Socket client = connect_to(dir.file("wg0.sock"));

    send_all(client, "set=1\nendpoint=" + std::string(4000, '1'));
    const Received r = until_closed(*server, client);
    EXPECT_EQ(r.bytes, errno_line(EMSGSIZE));
    EXPECT_TRUE(r.closed);
    EXPECT_TRUE(device.sets.empty());
    EXPECT_EQ(server->counters().broken_streams, 1u);
}

TEST(UapiServer, ClientsBeyondTheLimitAreDropped) {
    TempDir dir;
    FakeDevice device;
    auto server = device.serve(dir.file("wg0.sock"));
    ASSERT_TRUE(server);

    std::vector<Socket> clients;
    for (int i = 0; i < 64; ++i) clients.push_back(connect_to(dir.file("wg0.sock")));
    ASSERT_TRUE(pump(*server, [&] { return server->client_count() == 64; }));
    clients.push_back(connect_to(dir.file("wg0.sock")));
    ASSERT_GE(clients.back().fd(), 0);
    ASSERT_TRUE(pump(*server, [&] { return server->counters().refused_over_limit == 1; }));
    EXPECT_EQ(server->client_count(), 64u);
    EXPECT_EQ(server->counters().clients_dropped(), 1u);
    EXPECT_TRUE(until_closed(*server, clients.back(), 1s).closed);

    // The 64 admitted are served.
    for (int i = 0; i < 64; ++i) send_all(clients[static_cast<size_t>(i)], "get=1\n\n");
    for (int i = 0; i < 64; ++i) {
        const Received r = receive(*server, clients[static_cast<size_t>(i)], replies(1));
        ASSERT_EQ(r.bytes, uapi::format_get(device.status)) << "client " << i;
    }

    // A place freed is a place taken.
    clients.front() = Socket();
    ASSERT_TRUE(pump(*server, [&] { return server->client_count() == 63; }));
    Socket late = connect_to(dir.file("wg0.sock"));
    send_all(late, "get=1\n\n");
    EXPECT_EQ(receive(*server, late, replies(1)).bytes, uapi::format_get(device.status));
    EXPECT_EQ(server->counters().refused_over_limit, 1u);
}

TEST(UapiServer, TickDropsAClientIdleMidRequestButNotOneBetweenRequests) {
    TempDir dir;
    FakeDevice device;
    auto server = device.serve(dir.file("wg0.sock"));
    ASSERT_TRUE(server);
    Socket stuck = connect_to(dir.file("wg0.sock"));
    Socket resting = connect_to(dir.file("wg0.sock"));

    send_all(resting, "get=1\n\n");
    ASSERT_FALSE(receive(*server, resting, replies(1)).bytes.empty());
    send_all(stuck, "set=1\nprivate_key=" + key_to_hex(key_of(0x44)).substr(0, 20));
    settle(*server);
    ASSERT_EQ(server->client_count(), 2u);

    const auto now = Clock::now();
    server->tick(now + 5s);
    EXPECT_EQ(server->client_count(), 2u);
    server->tick(now + 11s);
    EXPECT_EQ(server->client_count(), 1u);
    EXPECT_EQ(server->counters().dropped_idle, 1u);

    Received r;
    read_available(stuck, r);
    EXPECT_TRUE(r.closed);
    EXPECT_TRUE(r.bytes.empty());

    send_all(resting, "get=1\n\n");
    EXPECT_EQ(receive(*server, resting, replies(1)).bytes, uapi::format_get(device.status));
}

// A device big enough that one get reply is megabytes.
void make_huge(FakeDevice& device) {
    device.status.peers.clear();
    for (uint32_t i = 0; i < 20000; ++i) {
        uapi::PeerStatus peer;
        peer.public_key = key_of(static_cast<uint8_t>(i));
        peer.public_key[1] = static_cast<uint8_t>(i >> 8);
        peer.allowed_ips = {*parse_ip_prefix("10.0.0.0/8"), *parse_ip_prefix("fd00::/64")};
        device.status.peers.push_back(peer);
    }
}

TEST(UapiServer, ClientThatNeverReadsNeitherBlocksNorGrowsTheServer) {
    TempDir dir;
    FakeDevice device;
    make_huge(device);
    const size_t reply_size = uapi::format_get(device.status).size();
    ASSERT_GT(reply_size, size_t{4} << 20);
    auto server = device.serve(dir.file("wg0.sock"));
    ASSERT_TRUE(server);

    Socket greedy = connect_to(dir.file("wg0.sock"));
    std::string requests;
    for (int i = 0; i < 500; ++i) requests += "get=1\n\n";
    send_all(greedy, requests);

    auto slowest = Clock::duration::zero();
    const auto until = Clock::now() + 300ms;
    while (Clock::now() < until) {
        const auto start = Clock::now();
        server->poll();
        slowest = std::max(slowest, Clock::now() - start);
        pollfd p{server->fd(), POLLIN, 0};
        ::poll(&p, 1, 5);
    }
    EXPECT_LT(slowest, 2s) << "poll() must not wait for the client";
    EXPECT_EQ(server->counters().requests, 1u) << "no reply may be made while one is unsent";
    EXPECT_EQ(device.gets, 1);
    EXPECT_GT(server->buffered_bytes(), 0u);
    EXPECT_LE(server->buffered_bytes(), reply_size + requests.size());

    // Another client is served meanwhile.
    device.status.peers.resize(1);
    Socket other = connect_to(dir.file("wg0.sock"));
    send_all(other, "get=1\n\n");
    EXPECT_EQ(receive(*server, other, replies(1)).bytes, uapi::format_get(device.status));

    // The greedy client goes; the other, between requests, stays.
    server->tick(Clock::now() + 11s);
    EXPECT_EQ(server->counters().dropped_idle, 1u);
    EXPECT_EQ(server->client_count(), 1u);
    EXPECT_EQ(server->buffered_bytes(), 0u);
}

TEST(UapiServer, UnsentOutputAboveTheCapDropsTheClient) {
    TempDir dir;
    FakeDevice device;
    make_huge(device);
    ServerLimits limits;
    limits.max_output = 1 << 20;
    auto server = device.serve(dir.file("wg0.sock"), limits);
    ASSERT_TRUE(server);

    Socket greedy = connect_to(dir.file("wg0.sock"));
    send_all(greedy, "get=1\n\n");
    EXPECT_TRUE(pump(*server, [&] { return server->counters().dropped_backlog == 1; }));
    EXPECT_EQ(server->client_count(), 0u);
    EXPECT_EQ(server->buffered_bytes(), 0u);
}

TEST(UapiServer, SecondServerOnALivePathIsRefusedAndTheFirstKeepsServing) {
    TempDir dir;
    FakeDevice device;
    auto first = device.serve(dir.file("wg0.sock"));
    ASSERT_TRUE(first);
    std::string error;
    auto second = UapiServer::create(
        dir.file("wg0.sock"), [] { return uapi::DeviceStatus{}; },
        [](const uapi::SetRequest&) { return uapi::Error{}; }, &error);
    EXPECT_FALSE(second);
    EXPECT_EQ(error, dir.file("wg0.sock") + " is in use by another running daemon");

    Socket client = connect_to(dir.file("wg0.sock"));
    send_all(client, "get=1\n\n");
    EXPECT_EQ(receive(*first, client, replies(1)).bytes, uapi::format_get(device.status));

    first.reset();
    struct stat st {};
    EXPECT_NE(::stat(dir.file("wg0.sock").c_str(), &st), 0) << "the server removes its socket";
}

// ---- CtlServer ----------------------------------------------------------------------------------

ctl::VersionResponse sample_version() {
    ctl::VersionResponse v;
    v.daemon_version = "0.1.0";
    v.interface = "wg0";
    v.driver = "kernel";
    v.uptime_s = 42;
    return v;
}

std::unique_ptr<CtlServer> serve_ctl(const std::string& path) {
    ctl::HandlerTable table;
    table.add<ctl::VersionRequest>(
        [](const ctl::VersionRequest&) -> ctl::Outcome<ctl::VersionRequest> {
            return sample_version();
        });
    table.add<ctl::ReloadRequest>(
        [](const ctl::ReloadRequest&) -> ctl::Outcome<ctl::ReloadRequest> {
            return ctl::Failure{EINVAL, "wg0.yaml:1:1: broken"};
        });
    std::string error;
    auto server = CtlServer::create(path, std::move(table), &error);
    EXPECT_TRUE(server) << error;
    return server;
}

std::vector<uint8_t> request_frame(const ctl::Request& request, uint32_t id) {
    return ctl::encode_request(request, id).value();
}

std::vector<uint8_t> raw_frame(uint16_t version, uint16_t command, uint32_t id,
                               uint32_t payload_length) {
    ctl::Header h;
    h.command = command;
    h.request_id = id;
    std::vector<uint8_t> frame = ctl::encode_frame(h, {});
    frame[4] = static_cast<uint8_t>(version);
    frame[5] = static_cast<uint8_t>(version >> 8);
    for (size_t i = 0; i < 4; ++i) frame[20 + i] = static_cast<uint8_t>(payload_length >> (8 * i));
    return frame;
}

// The frames in `bytes`, all of which must be whole.
std::vector<ctl::Frame> frames_in(const std::string& bytes) {
    ctl::FrameReader reader(ctl::Kind::response, ctl::kMaxResponsePayload);
    std::vector<ctl::Frame> frames;
    std::span<const uint8_t> rest(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    while (!rest.empty()) {
        rest = rest.subspan(reader.feed(rest));
        if (reader.state() == ctl::FrameReader::State::failed) {
            ADD_FAILURE() << ctl::describe(reader.error());
            break;
        }
        if (reader.state() == ctl::FrameReader::State::frame_ready) frames.push_back(reader.take());
    }
    EXPECT_TRUE(reader.between_frames());
    return frames;
}

std::function<bool(const std::string&)> frames(size_t n) {
    return [n](const std::string& bytes) {
        ctl::FrameReader reader(ctl::Kind::response, ctl::kMaxResponsePayload);
        std::span<const uint8_t> rest(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
        size_t got = 0;
        while (!rest.empty() && reader.state() != ctl::FrameReader::State::failed) {
            rest = rest.subspan(reader.feed(rest));
            if (reader.state() == ctl::FrameReader::State::frame_ready) {
                reader.take();
                ++got;
            }
        }
        return got >= n;
    };
}

TEST(CtlServer, AnswersVersionThroughTheHandlerTable) {
    TempDir dir;
    auto server = serve_ctl(dir.file("wg0.ctl"));
    ASSERT_TRUE(server);
    Socket client = connect_to(dir.file("wg0.ctl"));

    send_all(client, request_frame(ctl::VersionRequest{}, 0x01020304));
    const Received r = receive(*server, client, frames(1));
    const auto got = frames_in(r.bytes);
    ASSERT_EQ(got.size(), 1u);
    const auto response = ctl::decode_response(got[0], ctl::Command::version, 0x01020304);
    ASSERT_TRUE(response.ok()) << ctl::describe(response.error());
    EXPECT_EQ(std::get<ctl::VersionResponse>(response.value()), sample_version());
    EXPECT_FALSE(r.closed);
    EXPECT_EQ(server->counters().requests, 1u);
    EXPECT_EQ(server->counters().errors(), 0u);
}

TEST(CtlServer, UnknownCommandGetsEnosysAndTheConnectionGoesOn) {
    TempDir dir;
    auto server = serve_ctl(dir.file("wg0.ctl"));
    ASSERT_TRUE(server);
    Socket client = connect_to(dir.file("wg0.ctl"));

    // Unknown id, a known command nobody registered, a handler's failure and
    // a version request, pipelined in one write, each answered in order.
    std::vector<uint8_t> bytes = raw_frame(ctl::kProtocolVersion, 999, 1, 0);
    for (const auto& f :
         {request_frame(ctl::ShowRequest{}, 2), request_frame(ctl::ReloadRequest{}, 3),
          request_frame(ctl::VersionRequest{}, 4)})
        bytes.insert(bytes.end(), f.begin(), f.end());
    send_all(client, bytes);
    const Received r = receive(*server, client, frames(4));
    const auto got = frames_in(r.bytes);
    ASSERT_EQ(got.size(), 4u);
    EXPECT_EQ(got[0].header.command, 999);
    EXPECT_EQ(got[0].header.request_id, 1u);
    EXPECT_EQ(got[0].header.status, static_cast<uint32_t>(ENOSYS));
    EXPECT_EQ(got[1].header.request_id, 2u);
    EXPECT_EQ(got[1].header.status, static_cast<uint32_t>(ENOSYS));
    EXPECT_EQ(got[2].header.request_id, 3u);
    EXPECT_EQ(got[2].header.status, static_cast<uint32_t>(EINVAL));
    EXPECT_EQ(got[3].header.request_id, 4u);
    EXPECT_EQ(got[3].header.status, 0u);
    EXPECT_FALSE(r.closed);
    EXPECT_EQ(server->counters().requests, 4u);
    EXPECT_EQ(server->counters().request_errors, 3u);
    EXPECT_EQ(server->counters().broken_streams, 0u);
}

TEST(CtlServer, BadMagicClosesWithoutAnswer) {
    TempDir dir;
    auto server = serve_ctl(dir.file("wg0.ctl"));
    ASSERT_TRUE(server);
    Socket client = connect_to(dir.file("wg0.ctl"));

    send_all(client, "GET / HTTP/1.0\r\n\r\n");
    const Received r = until_closed(*server, client);
    EXPECT_TRUE(r.closed);
    EXPECT_TRUE(r.bytes.empty());
    EXPECT_EQ(server->counters().broken_streams, 1u);
}

TEST(CtlServer, WrongVersionGetsTheErrorReplyThenCloses) {
    TempDir dir;
    auto server = serve_ctl(dir.file("wg0.ctl"));
    ASSERT_TRUE(server);
    Socket client = connect_to(dir.file("wg0.ctl"));

    send_all(client, raw_frame(2, 1, 77, 0));
    const Received r = until_closed(*server, client);
    EXPECT_TRUE(r.closed);
    const auto got = frames_in(r.bytes);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].header.version, ctl::kProtocolVersion);
    EXPECT_EQ(got[0].header.request_id, 77u);
    EXPECT_EQ(got[0].header.status, static_cast<uint32_t>(EPROTONOSUPPORT));
}

TEST(CtlServer, OversizedPayloadIsRefusedBeforeItIsRead) {
    TempDir dir;
    auto server = serve_ctl(dir.file("wg0.ctl"));
    ASSERT_TRUE(server);
    Socket client = connect_to(dir.file("wg0.ctl"));

    send_all(client, raw_frame(ctl::kProtocolVersion, 7, 5, ctl::kMaxRequestPayload + 1));
    const Received r = until_closed(*server, client);
    EXPECT_TRUE(r.closed);
    const auto got = frames_in(r.bytes);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].header.status, static_cast<uint32_t>(EMSGSIZE));
}

TEST(CtlServer, HalfAFrameThenSilenceIsDroppedByTick) {
    TempDir dir;
    auto server = serve_ctl(dir.file("wg0.ctl"));
    ASSERT_TRUE(server);
    Socket client = connect_to(dir.file("wg0.ctl"));

    const auto frame = request_frame(ctl::VersionRequest{}, 1);
    send_all(client, std::string_view(reinterpret_cast<const char*>(frame.data()), 10));
    settle(*server);
    ASSERT_EQ(server->client_count(), 1u);
    server->tick(Clock::now() + 11s);
    EXPECT_EQ(server->client_count(), 0u);
    EXPECT_EQ(server->counters().dropped_idle, 1u);
}

}  // namespace
}  // namespace sluice
