// sluicectl: the operator's command line for a running sluiced. Parses argv
// (sluicectl_args.cpp), connects to the control socket (ctl_client.cpp), sends
// one request and prints the reply as text or JSON; `stats --watch` repeats
// the request every interval and prints rates between snapshots.
//
// Exit status, as in sluicectl_args.hpp's exit_code (sysexits.h values):
//   0   done; also when stats --watch is stopped by SIGINT or SIGTERM
//   1   the daemon refused or failed the command
//   64  bad usage          65  a value that does not parse
//   69  the daemon cannot be reached: no socket, nothing listening, no
//       permission on the socket, no answer within 5 s, or the connection
//       dropped without an answer
//   70  an internal error such as running out of memory (EX_SOFTWARE)
//   74  a key file cannot be read, or standard output cannot be written
//       (quietly when the reader went away: `sluicectl stats --watch | head`)
//   76  version mismatch or a malformed reply
#include <dirent.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "control/ctl_client.hpp"
#include "control/sluicectl_args.hpp"

namespace {

using namespace sluice;
using namespace sluice::sluicectl;
using Clock = std::chrono::steady_clock;

// Long enough for a daemon busy with a reload, short enough that a wedged
// one does not hang a monitoring script.
constexpr std::chrono::milliseconds kTimeout{5000};

// EX_SOFTWARE: not one of exit_code's, since no operator action causes it.
constexpr int kInternalError = 70;

int report(const UsageError& error) {
    std::fprintf(stderr, "%s\n", error.message.c_str());
    return error.exit_code;
}

// Writes all of `text` to stdout with write(2), so each period reaches a pipe
// at once and a failure is seen here rather than lost in stdio's buffer.
// SIGPIPE is ignored, so a reader that went away shows up as EPIPE.
bool write_stdout(std::string_view text) {
    while (!text.empty()) {
        const ssize_t n = ::write(STDOUT_FILENO, text.data(), text.size());
        if (n > 0) {
            text.remove_prefix(static_cast<size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) {  // stdout left non-blocking by whoever gave it to us
            pollfd p{STDOUT_FILENO, POLLOUT, 0};
            ::poll(&p, 1, -1);
            continue;
        }
        const int err = n < 0 ? errno : EIO;
        if (err != EPIPE)
            std::fprintf(stderr, "sluicectl: cannot write to standard output: %s\n",
                         std::strerror(err));
        return false;
    }
    return true;
}

// The names in kCtlSocketDir, for choose_socket(). A directory that is
// missing means no daemon has ever run here, which choose_socket() explains;
// one that cannot be read gets its own line.
std::optional<std::vector<std::string>> list_ctl_dir() {
    const std::string dir(kCtlSocketDir);
    std::vector<std::string> names;
    DIR* d = ::opendir(dir.c_str());
    if (!d) {
        if (errno == ENOENT || errno == ENOTDIR) return names;
        report({exit_code::no_daemon, "sluicectl: cannot list " + dir + " (" +
                                          std::strerror(errno) +
                                          "); give -i IFNAME or --socket PATH"});
        return std::nullopt;
    }
    while (const dirent* entry = ::readdir(d)) {
        const std::string_view name = entry->d_name;
        if (name.ends_with(".ctl")) names.emplace_back(name);
    }
    ::closedir(d);
    return names;
}

// The line for a failure to reach or hear from the daemon. Protocol errors and
// refusals go through error_for(), which knows their exit codes; everything
// else means there is no working daemon on the socket.
int report_client_error(ctl::Command command, const ctl::ClientError& error, bool connecting) {
    if (error.code == ctl::ClientErrc::protocol) return report(error_for(command, error.protocol));
    std::string line = "sluicectl: ";
    if (!connecting) line += std::string(ctl::command_name(command)) + ": ";
    return report({exit_code::no_daemon, line + ctl::describe(error)});
}

// ---- stats --watch --------------------------------------------------------------------

volatile std::sig_atomic_t g_stop = 0;

void on_stop_signal(int) {
    g_stop = 1;
}

// SIGINT and SIGTERM stay blocked except while waiting between periods, where
// ppoll() lets them in atomically: a signal can neither slip in between the
// check and the sleep (and be missed for a whole interval) nor cut a reply in
// half. At worst it waits for the call in flight, which kTimeout bounds.
class StopSignals {
public:
    StopSignals() {
        struct sigaction sa {};
        sa.sa_handler = on_stop_signal;
        sigemptyset(&sa.sa_mask);
        ::sigaction(SIGINT, &sa, nullptr);
        ::sigaction(SIGTERM, &sa, nullptr);
        sigset_t stop;
        sigemptyset(&stop);
        sigaddset(&stop, SIGINT);
        sigaddset(&stop, SIGTERM);
        ::sigprocmask(SIG_BLOCK, &stop, &waiting_);
        sigdelset(&waiting_, SIGINT);
        sigdelset(&waiting_, SIGTERM);
    }

    // Sleeps until `until`; false when a stop signal came first.
    bool sleep_until(Clock::time_point until) const {
        for (;;) {
            if (g_stop) return false;
            const auto left = until - Clock::now();
            if (left <= Clock::duration::zero()) return true;
            const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
            const timespec ts{static_cast<time_t>(ns / 1'000'000'000),
                              static_cast<long>(ns % 1'000'000'000)};
            ::ppoll(nullptr, 0, &ts, &waiting_);
        }
    }

private:
    sigset_t waiting_{};
};

int watch_stats(ctl::Client& client, const Invocation& inv) {
    const StopSignals signals;
    const std::chrono::milliseconds interval(inv.interval_ms);
    std::optional<ctl::StatsResponse> previous;
    auto next = Clock::now();
    for (uint64_t done = 0; inv.count == 0 || done < inv.count;) {
        auto reply = client.call(inv.request, kTimeout);
        if (!reply) return report_client_error(ctl::Command::stats, reply.error(), false);
        auto* current = std::get_if<ctl::StatsResponse>(&reply.value());
        if (!current)  // decode_response() matched the command; this cannot happen
            return report(
                error_for(ctl::Command::stats, {ctl::Errc::mismatched_reply, "not stats"}));
        const ctl::StatsResponse* before = previous ? &*previous : nullptr;
        const std::string period =
            inv.json ? render_stats_json(before, *current) : render_stats_period(before, *current);
        if (!write_stdout(period)) return exit_code::io;
        previous = std::move(*current);
        if (++done == inv.count) break;
        // Periods keep to a fixed grid, so a slow reply does not push every
        // later one back; one that overran its period starts the next now.
        next += interval;
        if (next < Clock::now()) next = Clock::now();
        if (!signals.sleep_until(next)) break;
    }
    return exit_code::ok;
}

int run(const Invocation& parsed) {
    switch (parsed.action) {
        case Invocation::Action::help:
            return write_stdout(help_text()) ? exit_code::ok : exit_code::io;
        case Invocation::Action::print_version:
            return write_stdout(client_version_text() + "\n") ? exit_code::ok : exit_code::io;
        case Invocation::Action::request:
            break;
    }
    Invocation inv = parsed;
    const ctl::Command command = ctl::command_of(inv.request);

    std::vector<std::string> present;
    if (inv.socket_path.empty() && inv.interface.empty()) {
        auto listed = list_ctl_dir();
        if (!listed) return exit_code::no_daemon;
        present = std::move(*listed);
    }
    const auto chosen = choose_socket(inv, present);
    if (const auto* e = std::get_if<UsageError>(&chosen)) return report(*e);
    const std::string& path = std::get<std::string>(chosen);

    if (!inv.preshared_key_file.empty()) {
        auto key = read_key_file(inv.preshared_key_file);
        if (const auto* e = std::get_if<UsageError>(&key)) return report(*e);
        Key& psk = std::get<Key>(key);
        std::get<ctl::PeerAddRequest>(inv.request).preshared_key = psk;
        secure_wipe(psk.data(), psk.size());
    }

    auto connected = ctl::Client::connect(path, kTimeout);
    if (!connected) return report_client_error(command, connected.error(), true);
    ctl::Client& client = connected.value();

    if (inv.watch) return watch_stats(client, inv);

    const auto reply = client.call(inv.request, kTimeout);
    if (!reply) return report_client_error(command, reply.error(), false);
    const std::string out = inv.json ? render_json(reply.value()) : render_text(reply.value());
    return write_stdout(out) ? exit_code::ok : exit_code::io;
}

}  // namespace

int main(int argc, char** argv) {
    // Writes to a closed pipe or socket come back as EPIPE instead of killing
    // the process before it can say anything.
    std::signal(SIGPIPE, SIG_IGN);
    try {
        const auto parsed = parse_args(argc, argv);
        if (const auto* e = std::get_if<UsageError>(&parsed)) return report(*e);
        return run(std::get<Invocation>(parsed));
    } catch (const std::exception& e) {
        // Bad input never throws; this is running out of memory and the like.
        std::fprintf(stderr, "sluicectl: internal error: %s\n", e.what());
        return kInternalError;
    }
}
