// uapi-model: serves WireGuard's UAPI from an in-memory DeviceConfig, so that
// wg(8) can drive sluice's codec and model exactly as it drives wireguard-go
// (tests/interop/uapi_wg_diff.sh compares the two).
//
//   uapi-model SOCKET [--record DIR]    listen on SOCKET (e.g.
//       /var/run/wireguard/<name>.sock, mode 0600); one connection at a time;
//       SIGTERM or SIGINT ends it and removes the socket. --record writes
//       every request received to DIR/NNNN-get or DIR/NNNN-set (fuzz seeds).
//   uapi-model --send SOCKET            a raw client: sends stdin to SOCKET,
//       prints the reply up to its first empty line (tests send malformed
//       requests that wg(8) would never produce).
//
// No TUN, no UDP: nothing here needs a network namespace.
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <iterator>
#include <string>
#include <string_view>

#include "control/crypto.hpp"
#include "control/device_config.hpp"
#include "control/uapi.hpp"

namespace {

volatile std::sig_atomic_t g_stop = 0;
volatile std::sig_atomic_t g_listener = -1;

// shutdown() is async-signal-safe and makes a blocked accept() return, which
// closes the window between checking g_stop and calling accept().
void on_signal(int) {
    g_stop = 1;
    if (g_listener >= 0) ::shutdown(g_listener, SHUT_RDWR);
}

bool write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        const ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
}

bool fill_address(const std::string& path, sockaddr_un& addr) {
    std::memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) return false;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    return true;
}

class Server {
public:
    Server(std::string path, std::string record_dir)
        : path_(std::move(path)), record_dir_(std::move(record_dir)) {}

    int run() {
        const int listener = open_listener();
        if (listener < 0) return 1;
        g_listener = listener;
        std::fprintf(stderr, "uapi-model: listening on %s\n", path_.c_str());
        while (!g_stop) {
            const int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0) {
                if (errno == EINTR || g_stop) continue;
                std::perror("uapi-model: accept");
                break;
            }
            serve(fd);
            ::close(fd);
        }
        g_listener = -1;
        ::close(listener);
        ::unlink(path_.c_str());
        return 0;
    }

private:
    int open_listener() {
        sockaddr_un addr;
        if (!fill_address(path_, addr)) {
            std::fprintf(stderr, "uapi-model: socket path too long\n");
            return -1;
        }
        // The directory wg(8) searches; wireguard-go creates it 0755 as well.
        const std::string dir = path_.substr(0, path_.rfind('/'));
        if (!dir.empty()) ::mkdir(dir.c_str(), 0755);
        const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) return -1;
        // A socket file left by a dead server is replaced; a live one is not.
        const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (::connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
            std::fprintf(stderr, "uapi-model: %s is in use\n", path_.c_str());
            ::close(probe);
            ::close(fd);
            return -1;
        }
        ::close(probe);
        ::unlink(path_.c_str());
        // Owner-only from the start (umask: 0700), then 0600 as asked: no
        // window in which another user could connect.
        const mode_t old_mask = ::umask(0077);
        const int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
        ::umask(old_mask);
        if (rc != 0 || ::chmod(path_.c_str(), 0600) != 0 || ::listen(fd, 8) != 0) {
            std::perror("uapi-model: bind/listen");
            ::close(fd);
            return -1;
        }
        return fd;
    }

    void serve(int fd) {
        sluice::uapi::RequestReader reader;
        char buf[4096];
        while (!g_stop) {
            const ssize_t n = ::read(fd, buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            std::string_view data(buf, static_cast<size_t>(n));
            for (;;) {
                data.remove_prefix(reader.feed(data));
                if (reader.state() == sluice::uapi::RequestReader::State::ready) {
                    const sluice::uapi::Request request = reader.take();
                    record(request);
                    std::string reply = handle(request);
                    const bool ok = write_all(fd, reply);
                    sluice::secure_wipe(reply.data(), reply.size());
                    if (!ok) return;
                    continue;
                }
                if (reader.state() == sluice::uapi::RequestReader::State::failed) {
                    std::fprintf(stderr, "uapi-model: bad request: %s\n",
                                 reader.error().message.c_str());
                    write_all(fd, sluice::uapi::format_errno(reader.error().code));
                    return;  // the stream is out of step: close it
                }
                break;  // need more bytes; feed() took all of these
            }
        }
        sluice::secure_wipe(buf, sizeof buf);
    }

    std::string handle(const sluice::uapi::Request& request) {
        if (request.operation == sluice::uapi::Operation::get) {
            std::fprintf(stderr, "uapi-model: get\n");
            return sluice::uapi::format_get(model_.snapshot());
        }
        sluice::uapi::SetRequest set;
        sluice::uapi::Error error = sluice::uapi::parse_set(request.body, &set);
        sluice::DeviceChanges changes;
        if (!error) {
            sluice::ApplyResult r = model_.apply(set);
            error = std::move(r.error);
            changes = std::move(r.changes);
        }
        if (error) {
            std::fprintf(stderr, "uapi-model: set: errno %d: %s\n", error.code,
                         error.message.c_str());
        } else {
            std::fprintf(stderr,
                         "uapi-model: set: ok (%zu added, %zu removed, %zu updated, "
                         "interface %s)\n",
                         changes.added.size(), changes.removed.size(), changes.updated.size(),
                         changes.private_key || changes.listen_port || changes.fwmark
                             ? "changed"
                             : "unchanged");
        }
        return sluice::uapi::format_errno(error.code);
    }

    // The request as it came on the wire (the reader keeps lines verbatim).
    void record(const sluice::uapi::Request& request) {
        if (record_dir_.empty()) return;
        const bool get = request.operation == sluice::uapi::Operation::get;
        char name[32];
        std::snprintf(name, sizeof name, "/%04u-%s", ++recorded_, get ? "get" : "set");
        const std::string file = record_dir_ + name;
        std::FILE* f = std::fopen(file.c_str(), "wb");
        if (!f) return;
        const std::string text = get ? "get=1\n\n" : "set=1\n" + request.body + "\n";
        std::fwrite(text.data(), 1, text.size(), f);
        std::fclose(f);
    }

    std::string path_;
    std::string record_dir_;
    unsigned recorded_ = 0;
    sluice::DeviceConfig model_;
};

// --send: one raw request from stdin, the reply (through its empty line) to stdout.
int send_raw(const std::string& path) {
    sockaddr_un addr;
    if (!fill_address(path, addr)) return 2;
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        std::perror("uapi-model --send: connect");
        return 1;
    }
    const std::string input(std::istreambuf_iterator<char>(std::cin), {});
    if (!write_all(fd, input)) return 1;
    std::string reply;
    char buf[4096];
    // wireguard-go keeps the connection open after a reply, so stop at the
    // empty line that ends one rather than waiting for EOF.
    while (reply.find("\n\n") == std::string::npos && reply != "\n") {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        reply.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    std::fwrite(reply.data(), 1, reply.size(), stdout);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const std::string usage =
        "usage: uapi-model SOCKET [--record DIR]\n"
        "       uapi-model --send SOCKET < request\n";
    if (argc == 3 && std::string_view(argv[1]) == "--send") return send_raw(argv[2]);
    std::string record_dir;
    if (argc == 4 && std::string_view(argv[2]) == "--record") {
        record_dir = argv[3];
    } else if (argc != 2 || argv[1][0] == '-') {
        std::fputs(usage.c_str(), stderr);
        return 2;
    }
    sluice::crypto::init();

    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: a blocked accept() or read() must return
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    std::signal(SIGPIPE, SIG_IGN);  // a client that hangs up is not fatal

    return Server(argv[1], record_dir).run();
}
