// One sluice-perf run: builds the ports, gateways and traffic for a mode and
// a packet size, runs the lcores, acts as the gateways' control thread, and
// measures. The stages of a run:
//   1. ports: net_null for generators and sinks, a net_ring pair between the
//      gateways' WANs, or the --port device (txonly/rxonly)
//   2. the L3 framing sluiced's L2 mode uses (drivers/dpdk/l3_over_l2)
//   3. tables (perf_tunnel.hpp): keypairs, routes, endpoints; decrypt templates
//   4. lcores: dataplane/lcore.cpp's loop, one per queue per gateway, on EAL
//      worker lcores (txonly/rxonly: a plain generator or counting loop)
//   5. control tick every millisecond: key epochs, RCU reclamation, events
//      from the lcores; a stats block every --stats-period
//   6. stop, drain, summary
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "drivers/port.hpp"
#include "perf/perf_options.hpp"

struct rte_mempool;

namespace sluice::perf {

struct PortFigures {
    std::string name;
    std::string driver;
    double rx_pps = 0, tx_pps = 0, rx_bps = 0, tx_bps = 0;
    PortStats total;
};

struct LcoreFigures {
    std::string label;  // "a/0": gateway a, queue 0
    unsigned lcore_id = 0;
    double packets = 0;
    double cycles_per_packet = 0;      // the lcore loop, generator and sink cycles taken out
    double gen_cycles_per_packet = 0;  // generator and sink work done on this lcore
    double busy = 0;                   // share of cycles in iterations that moved packets
};

struct Figures {
    double t = 0;        // seconds since the run started
    double seconds = 0;  // the interval
    std::vector<PortFigures> ports;
    std::vector<LcoreFigures> lcores;
    std::vector<std::pair<std::string, uint64_t>> drops;  // non-zero only
    uint64_t generated = 0;
    uint64_t delivered = 0;
    double delivered_pps = 0;
    // Probes behind one already delivered from their stream; counted only
    // where each stream is one peer's (see Sink), else 0.
    uint64_t out_of_order = 0;
    // decrypt: frames the generator threw away while it waited for its next
    // key epoch to be published (not a gateway drop).
    uint64_t generator_stalls = 0;
};

struct Summary {
    Mode mode = Mode::loopback;
    std::string size;  // "64", "imix"
    double avg_size = 0;
    unsigned lcores = 0;
    bool pipeline = false;
    uint16_t burst = 0;
    uint32_t peers = 0;
    uint32_t flows = 0;
    Figures figures;  // the whole run
    double mpps = 0;
    double gbps = 0;  // inner IP bits per second delivered
    bool has_latency = false;
    uint64_t latency_samples = 0;
    double p50_us = 0, p99_us = 0, p999_us = 0, max_us = 0;
    uint64_t keypairs = 0;
    uint64_t tsc_hz = 0;
};

// Runs once; false with `error` (one line) if the run could not start.
bool run_once(const Options& options, uint16_t size, rte_mempool* pool,
              const std::atomic<bool>& interrupted, Summary* summary, std::string* error);

void print_period(const Figures& f, bool json);
void print_summary(const Summary& s, bool json);

}  // namespace sluice::perf
