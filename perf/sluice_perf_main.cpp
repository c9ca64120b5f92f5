// sluice-perf: testpmd-style performance runs of sluice's dataplane.
//
//   1. options (perf_options.cpp): one clear line and exit 64 on a bad one
//   2. EAL (drivers/eal: hugepages when free, else plain memory), one worker
//      lcore per packet lcore, the mbuf endpoint field, one mbuf pool
//   3. one run per packet size (perf_run.cpp), each printing stats blocks
//      and a summary; exit 2 when a run cannot start
// SIGINT/SIGTERM end the current run early; its summary is still printed.
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <string>

#include "drivers/eal.hpp"
#include "drivers/mbuf_endpoint.hpp"
#include "perf/perf_options.hpp"
#include "perf/perf_run.hpp"

namespace {

using namespace sluice;
using namespace sluice::perf;

constexpr int kExitStartup = 2;
constexpr int kExitUsage = 64;

std::atomic<bool> g_interrupted{false};

void on_signal(int) { g_interrupted.store(true); }

struct PoolDeleter {
    void operator()(rte_mempool* p) const { rte_mempool_free(p); }
};

}  // namespace

int main(int argc, char** argv) {
    Options o;
    std::string error;
    switch (parse_options(argc, argv, &o, &error)) {
        case ParseResult::help: std::fputs(help_text().c_str(), stdout); return 0;
        case ParseResult::version: std::printf("sluice-perf %s\n", SLUICE_VERSION); return 0;
        case ParseResult::error:
            std::fprintf(stderr, "sluice-perf: %s\n", error.c_str());
            return kExitUsage;
        case ParseResult::run: break;
    }
    const bool gateways = o.mode != Mode::txonly && o.mode != Mode::rxonly;
    const bool two = o.mode == Mode::loopback || o.mode == Mode::fwd;
    const unsigned lcores = two ? 2 * o.lcores : o.lcores;
    // Mbufs: each port queue's descriptors and rings, bursts in flight, and
    // the rings between lcores, with room to spare.
    const unsigned ports = gateways ? 4 : 1;
    const unsigned mbufs = std::max(16384u, 4096u * ports * o.lcores + 4096u * lcores);
    const uint16_t data_room =
        static_cast<uint16_t>(RTE_PKTMBUF_HEADROOM + std::max<unsigned>(2048, o.mtu + 256u));
    const size_t pool_mb = static_cast<size_t>(mbufs) * (data_room + 256u) / (1u << 20) + 1;

    EalOptions eo;
    eo.process_name = "sluice-perf";
    eo.telemetry = false;
    for (unsigned i = 0; i < lcores; ++i) eo.workers.push_back(o.cpus.empty() ? -1 : o.cpus[i]);
    eo.memory_mb = o.memory_mb != 0 ? o.memory_mb : pool_mb + 128;
    auto eal = Eal::start(eo, &error);
    if (!eal) {
        std::fprintf(stderr, "sluice-perf: %s\n", error.c_str());
        return kExitStartup;
    }
    if (!register_mbuf_endpoint()) {
        std::fprintf(stderr, "sluice-perf: cannot register the mbuf endpoint field (%s)\n",
                     rte_strerror(rte_errno));
        return kExitStartup;
    }
    std::unique_ptr<rte_mempool, PoolDeleter> pool(rte_pktmbuf_pool_create(
        "perf_pool", mbufs, 256, 0, data_room, static_cast<int>(rte_socket_id())));
    if (!pool) {
        std::fprintf(stderr,
                     "sluice-perf: cannot create a pool of %u mbufs (%s; %zu MB of DPDK heap, "
                     "--memory raises it)\n",
                     mbufs, rte_strerror(rte_errno), eo.memory_mb);
        return kExitStartup;
    }
    if (!o.json)
        std::printf("sluice-perf %s: %s, %u lcore(s)%s, %s\n", SLUICE_VERSION, to_string(o.mode),
                    o.lcores, two ? " per gateway" : "", eal->plan().why.c_str());
    std::fflush(stdout);

    struct sigaction sa{};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);

    for (uint16_t size : o.sizes) {
        if (g_interrupted.load()) break;
        Summary summary;
        if (!run_once(o, size, pool.get(), g_interrupted, &summary, &error)) {
            std::fprintf(stderr, "sluice-perf: %s\n", error.c_str());
            return kExitStartup;
        }
        print_summary(summary, o.json);
    }
    return 0;
}
