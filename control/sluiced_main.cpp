// sluiced: the gateway daemon. Reads one configuration file, starts DPDK's
// EAL, opens the ports, starts the packet lcores and runs the control thread
// until SIGTERM or SIGINT.
//
// Start-up, in order (any failure: one line, non-zero exit, nothing left behind):
//   1. arguments; the configuration (file:line:column on an error)
//   2. (the driver is chosen at step 6, once EAL runs)
//   3. unless --foreground: detach, the parent waiting until the daemon says
//      it is ready (or why it is not), so `sluiced` returns the real outcome
//   4. SIGTERM/SIGINT/SIGHUP blocked in every thread (the control thread reads
//      them from a signalfd)
//   5. EAL (main lcore: control thread; one worker lcore per packet lcore),
//      the mbuf endpoint field
//   6. the driver and its ports (control/dataplane_ports: kernel UDP socket
//      + TUN, DPDK ethdev ports or net_af_xdp in L2 mode; `auto` says why),
//      with the L2 mode's neighbour resolution (control/l2_control)
//   7. rings, RCU, the Gateway (peers, first table), its two sockets
//   8. the lcores, launched on their EAL worker lcores
// Shutdown: the control loop returns; lcores stop; keys are wiped; the
// sockets, ports and EAL go away.
#include <fcntl.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "control/config.hpp"
#include "control/crypto.hpp"
#include "control/gateway.hpp"
#include "control/log.hpp"
#include "dataplane/lcore_group.hpp"
#include "control/dataplane_ports.hpp"
#include "control/l2_control.hpp"
#include "drivers/eal.hpp"
#include "drivers/mbuf_endpoint.hpp"

namespace {

using namespace sluice;

constexpr int kExitUsage = 64;   // EX_USAGE
constexpr int kExitConfig = 1;   // as sluice-check-config: the file is not valid
constexpr int kExitStartup = 2;  // valid file, but the gateway could not start

const char kHelp[] =
    "Usage: sluiced --config FILE [--foreground] [--check]\n"
    "       sluiced --help | --version\n"
    "\n"
    "The sluice WireGuard gateway daemon.\n"
    "\n"
    "  -c, --config FILE   the configuration (YAML; see docs/configuration.md)\n"
    "  -f, --foreground    stay in the foreground and log to stderr; without it\n"
    "                      sluiced detaches once the gateway is up and logs to syslog\n"
    "      --check         validate the configuration and exit (0: valid, 1: not)\n"
    "  -h, --help          this text\n"
    "  -V, --version       the version\n"
    "\n"
    "Signals: SIGTERM or SIGINT shut down cleanly (keys are wiped); SIGHUP\n"
    "re-reads the configuration and applies only what changed.\n"
    "Sockets: wg(8) at /var/run/wireguard/NAME.sock, sluicectl at /run/sluice/NAME.ctl.\n"
    "Exit status: 0 clean shutdown, 1 invalid configuration, 2 start-up failed,\n"
    "64 bad command line.\n";

struct Args {
    std::string config;
    bool foreground = false;
    bool check = false;
};

// Returns -1 to go on, else an exit code.
int parse_args(int argc, char** argv, Args* args) {
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&](const std::string& name) -> const char* {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "sluiced: %s needs a file name\n", name.c_str());
                return nullptr;
            }
            return argv[++i];
        };
        if (a == "-h" || a == "--help") {
            std::fputs(kHelp, stdout);
            return 0;
        } else if (a == "-V" || a == "--version") {
            std::printf("sluiced %s\n", SLUICE_VERSION);
            return 0;
        } else if (a == "-f" || a == "--foreground") {
            args->foreground = true;
        } else if (a == "--check") {
            args->check = true;
        } else if (a == "-c" || a == "--config") {
            const char* v = value(a);
            if (v == nullptr) return kExitUsage;
            args->config = v;
        } else if (a.rfind("--config=", 0) == 0) {
            args->config = a.substr(9);
        } else {
            std::fprintf(stderr, "sluiced: unknown argument \"%s\" (try --help)\n", a.c_str());
            return kExitUsage;
        }
    }
    if (args->config.empty()) {
        std::fprintf(stderr, "sluiced: --config FILE is required (try --help)\n");
        return kExitUsage;
    }
    return -1;
}

// Detaching: the parent waits on a pipe for one line from the daemon: empty
// for "ready", else the reason it failed. Its exit status is the outcome.
int g_ready_fd = -1;

void report_ready(const std::string& failure) {
    if (g_ready_fd < 0) return;
    [[maybe_unused]] ssize_t n = write(g_ready_fd, failure.data(), failure.size());
    close(g_ready_fd);
    g_ready_fd = -1;
}

int fail(const std::string& line) {
    log::error(line);
    report_ready(line);
    return kExitStartup;
}

int detach() {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return -1;
    const pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid > 0) {  // the parent: wait for the verdict
        close(fds[1]);
        std::string msg;
        char buf[512];
        ssize_t n;
        while ((n = read(fds[0], buf, sizeof buf)) > 0) msg.append(buf, static_cast<size_t>(n));
        if (!msg.empty()) {
            std::fprintf(stderr, "sluiced: %s\n", msg.c_str());
            _exit(kExitStartup);
        }
        _exit(0);
    }
    close(fds[0]);
    g_ready_fd = fds[1];
    setsid();
    const int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
        if (null > 2) close(null);
    }
    log::to_syslog("sluiced");
    return 0;
}

// Whether a daemon accepts connections on the Unix socket at `path`.
bool socket_is_live(const std::string& path) {
    sockaddr_un addr{};
    if (path.size() >= sizeof addr.sun_path) return false;
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    const bool live = connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
    close(fd);
    return live;
}

int run(const Args& args, Config config) {
    const std::string name = config.interface.name;

    // 4. Signals, before any thread exists.
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &mask, nullptr);
    signal(SIGPIPE, SIG_IGN);

    // 5. EAL.
    const size_t lcore_count = config.dataplane.lcores.empty() ? 1 : config.dataplane.lcores.size();
    EalOptions eal_options;
    eal_options.process_name = "sluiced";
    eal_options.file_prefix = "sluiced-" + name;
    for (size_t i = 0; i < lcore_count; ++i)
        eal_options.workers.push_back(config.dataplane.lcores.empty()
                                          ? -1
                                          : static_cast<int>(config.dataplane.lcores[i]));
    uint64_t pool_mbufs = config_defaults::kMempoolSize;
    for (const auto* p : {&config.dataplane.wan, &config.dataplane.lan})
        if (*p) pool_mbufs += (*p)->mempool_size;
    // Pools of 2.2 KB mbufs, rings and tables, with room to spare.
    eal_options.memory_mb = static_cast<unsigned>(std::max<uint64_t>(128, 64 + pool_mbufs * 5 / 2048));
    std::string error;
    auto eal = Eal::start(eal_options, &error);
    if (!eal) return fail(error);
    log::info("EAL: " + eal->plan().why);
    if (!register_mbuf_endpoint()) return fail("cannot register the mbuf endpoint field");

    // 6. The driver and its ports (control/dataplane_ports: auto's choice and
    // why), and the L2 mode's neighbour resolution for DPDK and AF_XDP ports.
    const int events_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    NeighbourOptions neighbour_options;
    neighbour_options.reachable = std::chrono::seconds(config.dataplane.neighbour_reachable_seconds);
    // The Gateway lends it its pool, RCU and command path once it exists.
    auto l2 = std::make_unique<L2Control>(neighbour_options);
    DataplaneContext context;
    // Pipeline mode: only the rx/tx lcore touches the ports.
    const bool pipeline = config.dataplane.mode == DataplaneMode::pipeline;
    context.lcores = static_cast<uint16_t>(pipeline ? 1 : lcore_count);
    context.control_wake_fd = events_fd;
    context.l2 = l2.get();
    auto ports = DataplanePorts::open(config, context, &error);
    if (!ports) return fail(error);
    log::info("driver: " + ports->driver() + " (" + ports->why() + ")");
    for (const std::string& line : ports->summary()) log::info(line);
    if (ports->driver() == "kernel" && (config.dataplane.wan || config.dataplane.lan))
        log::warning("the kernel driver does not use dataplane.ports: the WAN is a UDP socket on "
                     "port " + std::to_string(ports->listen_port()) + ", the LAN the TUN device " + name);

    // 7. The lcores with their rings and RCU (dataplane/lcore_group), the gateway.
    std::atomic<const Snapshot*> snapshot{new Snapshot()};
    LcoreGroupConfig lg;
    lg.name = "lc";
    unsigned id;
    RTE_LCORE_FOREACH_WORKER(id) {
        if (lg.lcore_ids.size() < lcore_count) lg.lcore_ids.push_back(id);
    }
    if (lg.lcore_ids.size() < lcore_count) return fail("EAL started fewer worker lcores than configured");
    lg.wan = ports->wan();
    lg.lan = ports->lan();
    lg.snapshot = &snapshot;
    lg.control_wake_fd = events_fd;
    lg.burst = static_cast<uint16_t>(config.dataplane.burst);
    lg.busy_poll_us = config.dataplane.busy_poll_us;
    lg.pipeline = pipeline;
    auto lcores = LcoreGroup::create(lg, &error);
    if (!lcores) return fail(error);
    GatewayIo io;
    io.ports = ports.get();
    io.l2 = l2.get();
    for (auto& l : lcores->lcores()) io.lcores.push_back(l.get());
    io.events_wake_fd = events_fd;
    io.snapshot = &snapshot;
    io.rcu = &lcores->rcu();
    io.control_lcore_id = rte_lcore_id();

    std::unique_ptr<Gateway> gateway;
    try {
        gateway = std::make_unique<Gateway>(std::move(config), io);
    } catch (const std::exception& e) {
        return fail(e.what());
    }
    if (!gateway->open_sockets(&error)) return fail(error);

    // 8. Lcores.
    if (!lcores->launch(&error)) return fail(error);
    log::info("sluiced " SLUICE_VERSION " up: interface " + name + ", " +
              std::to_string(lcore_count) + " lcore(s)" +
              (pipeline ? " in pipeline mode (1 rx/tx, " + std::to_string(lcore_count - 1) + " crypto)"
                        : "") +
              ", driver " + ports->driver() +
              ", listening on port " + std::to_string(ports->listen_port()));
    report_ready("");
    (void)args;

    gateway->run();

    lcores->stop();
    gateway->shutdown();
    gateway.reset();
    l2->shutdown();
    delete snapshot.exchange(nullptr);
    // The rings give their packets back to the pool before it goes.
    lcores.reset();
    l2.reset();
    close(events_fd);
    ports.reset();
    log::info("stopped");
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    Args args;
    if (const int rc = parse_args(argc, argv, &args); rc >= 0) return rc;
    crypto::init();
    Config config;
    try {
        config = load_config_file(args.config);
    } catch (const ConfigError& e) {
        std::fprintf(stderr, "sluiced: %s\n", e.what());
        return kExitConfig;
    }
    for (const auto& w : config.warnings) std::fprintf(stderr, "sluiced: %s\n", w.c_str());
    if (args.check) {
        std::printf("%s: ok (%zu peers)\n", args.config.c_str(), config.peers.size());
        return 0;
    }
    if (geteuid() != 0)
        std::fprintf(stderr, "sluiced: warning: not running as root; creating the TUN device "
                             "and the sockets may fail\n");
    // Before EAL, which would share (and on exit remove) the runtime
    // directory of a daemon already serving this interface.
    for (const std::string& path : {config.control.uapi_socket, config.control.ctl_socket}) {
        if (socket_is_live(path)) {
            std::fprintf(stderr, "sluiced: interface %s is already served by a running daemon (%s)\n",
                         config.interface.name.c_str(), path.c_str());
            return kExitStartup;
        }
    }
    if (!args.foreground && detach() != 0) {
        std::fprintf(stderr, "sluiced: cannot detach: %s\n", std::strerror(errno));
        return kExitStartup;
    }
    return run(args, std::move(config));
}
