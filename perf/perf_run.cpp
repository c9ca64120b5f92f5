#include "perf/perf_run.hpp"

#include <rte_cycles.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <thread>

#include "dataplane/lcore_group.hpp"
#include "drivers/dpdk/ethdev_port.hpp"
#include "drivers/dpdk/l3_over_l2.hpp"
#include "drivers/mbuf_alloc.hpp"
#include "perf/perf_traffic.hpp"
#include "perf/perf_tunnel.hpp"

namespace sluice::perf {

namespace {

constexpr uint16_t kWanPortA = 51820;
constexpr uint16_t kWanPortB = 51821;
constexpr unsigned kRingSize = 1024;
// Decrypt templates per peer: enough that key epochs change rarely, few
// enough that the templates stay in cache.
constexpr size_t kTemplateBudget = 3u << 20;

std::string next_name(const char* prefix) {
    static unsigned counter = 0;
    return prefix + std::to_string(counter++);
}

struct RingDeleter {
    void operator()(rte_ring* r) const {
        void* obj;
        while (rte_ring_dequeue(r, &obj) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(obj));
        rte_ring_free(r);
    }
};
using RingPtr = std::unique_ptr<rte_ring, RingDeleter>;

struct Fd {
    int fd = -1;
    ~Fd() {
        if (fd >= 0) close(fd);
    }
};

// txonly/rxonly: no gateway, only the traffic on one queue of one port,
// on an EAL worker lcore of its own. The counters: that loop writes, the
// main thread reads.
struct SoloLoop {
    Port* port = nullptr;
    Generator* gen = nullptr;  // txonly
    Sink* sink = nullptr;      // rxonly
    rte_mempool* pool = nullptr;
    uint16_t queue = 0;
    uint16_t burst = 32;
    const std::atomic<bool>* stop = nullptr;
    std::atomic<uint64_t> busy{0}, total{0}, packets{0};
};

int solo_loop(void* arg) {
    SoloLoop& a = *static_cast<SoloLoop*>(arg);
    rte_mbuf* pkts[512];
    const uint64_t start = rte_rdtsc();
    while (!a.stop->load(std::memory_order_acquire)) {
        const uint64_t t0 = rte_rdtsc();
        uint16_t n = 0;
        if (a.gen != nullptr) {
            const uint16_t want = a.gen->budget(a.queue, a.burst);
            const uint16_t got = want > 0 ? alloc_mbufs_up_to(a.pool, pkts, want) : 0;
            n = got > 0 ? a.gen->fill(a.queue, pkts, got) : 0;
            if (n > 0) a.port->tx_burst(a.queue, pkts, n);
            a.port->flush(a.queue, n == 0);
        } else {
            n = a.port->rx_burst(a.queue, pkts, a.burst);
            if (n > 0) {
                a.sink->consume(a.queue, pkts, n);
                rte_pktmbuf_free_bulk(pkts, n);
            }
        }
        const uint64_t t1 = rte_rdtsc();
        if (n > 0) {
            bump(a.busy, t1 - t0);
            bump(a.packets, n);
        }
        a.total.store(t1 - start, std::memory_order_relaxed);
    }
    return 0;
}

// One gateway: its four layers of ports and its lcores.
struct Gateway {
    std::string label;  // "a", "b"
    std::unique_ptr<EthdevPort> lan_dev, wan_dev;
    std::unique_ptr<Generator> lan_gen, wan_gen;
    std::unique_ptr<Sink> lan_sink, wan_sink;
    std::unique_ptr<TrafficPort> lan_traffic, wan_traffic;
    std::unique_ptr<IpOverEthernet> lan;
    std::unique_ptr<UdpOverEthernet> wan;
    std::unique_ptr<LcoreGroup> lcores;  // null for a gateway the mode does not run
    frame::UdpLocal wan_local;
};

// The lcores of a gateway (none when the mode does not run it).
const std::vector<std::unique_ptr<Lcore>>& lcores_of(const Gateway& g) {
    static const std::vector<std::unique_ptr<Lcore>> none;
    return g.lcores ? g.lcores->lcores() : none;
}

rte_ether_addr fake_mac(uint8_t last) {
    rte_ether_addr m{};
    m.addr_bytes[0] = 0x02;  // locally administered
    m.addr_bytes[1] = 0x53;
    m.addr_bytes[2] = 0x4c;
    m.addr_bytes[5] = last;
    return m;
}

bool parse_mac(const std::string& text, rte_ether_addr* mac) {
    return rte_ether_unformat_addr(text.c_str(), mac) == 0;
}

bool parse_ipv4(const std::string& text, uint8_t out[4]) {
    const auto a = parse_ip_address(text);
    if (!a || a->family != IpFamily::v4) return false;
    std::memcpy(out, a->addr.data(), 4);
    return true;
}

std::vector<uint16_t> size_pattern(uint16_t size, uint16_t mtu) {
    if (size != 0) return {size};
    // 7 × 64, 4 × 576, 1 × MTU, interleaved.
    const uint16_t s = kImixSmall, m = std::min<uint16_t>(kImixMedium, mtu), l = mtu;
    return {s, m, s, s, m, s, l, s, m, s, s, m};
}

class Run {
public:
    Run(const Options& o, uint16_t size, rte_mempool* pool, const std::atomic<bool>& interrupted)
        : o_(o), size_(size), pool_(pool), interrupted_(interrupted) {}
    ~Run();
    // Builds everything; nothing runs yet.
    bool start(std::string* error);
    // Launches the lcores and measures until the run ends.
    bool measure(Summary* summary, std::string* error);

private:
    struct Sample {
        uint64_t tsc = 0;
        std::vector<PortStats> ports;
        std::vector<LcoreCounters> lcores;
        std::vector<uint64_t> gen_cycles;  // per lcore, generator + sink
        std::vector<FrameDropCounts> frame_drops;
        uint64_t generated = 0, delivered = 0, stalls = 0, out_of_order = 0;
    };
    bool open_null(Gateway& g, bool lan, std::string* error);
    bool open_ring_pair(std::string* error);
    int next_worker();
    bool launch(std::string* error);
    Sample sample() const;
    Figures figures(const Sample& a, const Sample& b) const;
    void drain_events();

    const Options& o_;
    uint16_t size_;
    rte_mempool* pool_;
    const std::atomic<bool>& interrupted_;
    std::vector<uint16_t> pattern_;
    double avg_size_ = 0;
    std::vector<std::unique_ptr<Gateway>> gateways_;
    std::unique_ptr<Tunnels> tunnels_;
    std::vector<RingPtr> wan_rings_;  // the net_ring pair's rings
    std::vector<uint16_t> ring_ports_;
    std::atomic<bool> stop_{false};
    Fd control_wake_;
    std::vector<Port*> report_ports_;    // what the port lines show
    std::vector<FramedPort*> framed_;    // whose frame drops count
    std::vector<Generator*> generators_;
    std::vector<Sink*> outputs_;  // where delivered packets are counted
    std::vector<Sink*> latency_sinks_;
    // txonly/rxonly.
    std::unique_ptr<EthdevPort> solo_port_;
    std::unique_ptr<Generator> solo_gen_;
    std::unique_ptr<Sink> solo_sink_;
    std::vector<std::unique_ptr<SoloLoop>> solo_;
    std::vector<unsigned> launched_;  // where the solo loops run
    unsigned worker_ = static_cast<unsigned>(-1);  // the last EAL worker handed out
    bool gateway_mode_ = true;
    uint64_t start_tsc_ = 0;
};

Run::~Run() {
    stop_.store(true, std::memory_order_release);
    for (unsigned id : launched_) rte_eal_wait_lcore(id);
    for (auto& g : gateways_)
        if (g->lcores) g->lcores->stop();
    // Order: tables (their RCU is the lcore groups'), then the lcores with
    // their rings, then ports.
    tunnels_.reset();
    for (auto& g : gateways_) {
        g->lcores.reset();
        g->lan.reset();
        g->wan.reset();
        g->lan_traffic.reset();
        g->wan_traffic.reset();
        g->lan_dev.reset();
        g->wan_dev.reset();
    }
    wan_rings_.clear();  // the ring ports were closed with their EthdevPorts
    gateways_.clear();
    solo_port_.reset();
}

bool Run::open_null(Gateway& g, bool lan, std::string* error) {
    EthdevPortOptions po;
    po.queues = static_cast<uint16_t>(port_queues(o_));
    po.pool = pool_;
    auto dev = EthdevPort::open(next_name("net_null_perf"), po, error);
    if (!dev) return false;
    (lan ? g.lan_dev : g.wan_dev) = std::move(dev);
    return true;
}

bool Run::open_ring_pair(std::string* error) {
    // Rings a→b and b→a, one per queue; A's port receives from b→a.
    std::vector<rte_ring*> ab, ba;
    for (unsigned q = 0; q < port_queues(o_); ++q) {
        for (auto* list : {&ab, &ba}) {
            wan_rings_.emplace_back(rte_ring_create(next_name("perf_wan").c_str(), kRingSize,
                                                    static_cast<int>(rte_socket_id()),
                                                    RING_F_SP_ENQ | RING_F_SC_DEQ));
            if (!wan_rings_.back()) {
                *error = "cannot create the WAN rings (" + std::string(rte_strerror(rte_errno)) + ")";
                return false;
            }
            list->push_back(wan_rings_.back().get());
        }
    }
    const auto n = port_queues(o_);
    const int a = rte_eth_from_rings(next_name("net_ring_perf_a").c_str(), ba.data(), n, ab.data(),
                                     n, rte_socket_id());
    const int b = rte_eth_from_rings(next_name("net_ring_perf_b").c_str(), ab.data(), n, ba.data(),
                                     n, rte_socket_id());
    if (a < 0 || b < 0) {
        *error = "cannot create the net_ring pair (" + std::string(rte_strerror(rte_errno)) + ")";
        return false;
    }
    ring_ports_ = {static_cast<uint16_t>(a), static_cast<uint16_t>(b)};
    EthdevPortOptions po;
    po.queues = static_cast<uint16_t>(port_queues(o_));
    po.pool = pool_;
    for (int s = 0; s < 2; ++s) {
        rte_ether_addr mac = fake_mac(static_cast<uint8_t>(0xA0 + s));
        rte_eth_dev_default_mac_addr_set(ring_ports_[s], &mac);
        gateways_[s]->wan_dev = EthdevPort::attach(ring_ports_[s], po, error);
        if (!gateways_[s]->wan_dev) return false;
    }
    return true;
}

// The next EAL worker lcore, in order; -1 when there is none left.
int Run::next_worker() {
    worker_ = rte_get_next_lcore(worker_, 1, 0);
    return worker_ < RTE_MAX_LCORE ? static_cast<int>(worker_) : -1;
}

bool Run::start(std::string* error) {
    pattern_ = size_pattern(size_, o_.mtu);
    for (uint16_t s : pattern_) avg_size_ += s;
    avg_size_ /= static_cast<double>(pattern_.size());
    control_wake_.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

    const Mode mode = o_.mode;
    gateway_mode_ = mode != Mode::txonly && mode != Mode::rxonly;
    // Peers per queue: peer p is served by queue p % queues.
    const unsigned queues = port_queues(o_);
    std::vector<std::vector<uint32_t>> per_queue(queues);
    for (uint32_t p = 0; p < o_.peers; ++p) per_queue[p % queues].push_back(p);

    if (!gateway_mode_) {
        EthdevPortOptions po;
        po.queues = static_cast<uint16_t>(port_queues(o_));
        po.pool = pool_;
        solo_port_ = EthdevPort::open(o_.port.empty() ? next_name("net_null_perf") : o_.port, po,
                                      error);
        if (!solo_port_) return false;
        report_ports_.push_back(solo_port_.get());
        if (mode == Mode::txonly) {
            GeneratorConfig gc;
            gc.kind = GeneratorConfig::Kind::inner;
            gc.src_mac = solo_port_->mac();
            gc.dst_mac = solo_port_->mac();
            if (!o_.eth_peer.empty() && !parse_mac(o_.eth_peer, &gc.dst_mac)) {
                *error = "--eth-peer: '" + o_.eth_peer + "' is not a MAC address";
                return false;
            }
            gc.fixed_addresses = true;
            if (!parse_ipv4(o_.src_ip, gc.fixed_src) || !parse_ipv4(o_.dst_ip, gc.fixed_dst)) {
                *error = "--src-ip/--dst-ip: IPv4 addresses expected";
                return false;
            }
            gc.size_pattern = pattern_;
            gc.flows = o_.flows;
            gc.peers.assign(o_.lcores, {0});
            gc.rate_pps = static_cast<double>(o_.tx_rate_pps);
            gc.packet_limit = o_.packets;
            solo_gen_ = std::make_unique<Generator>(gc);
            generators_.push_back(solo_gen_.get());
        } else {
            solo_sink_ = std::make_unique<Sink>(static_cast<uint16_t>(o_.lcores), true);
            outputs_.push_back(solo_sink_.get());
            latency_sinks_.push_back(solo_sink_.get());
        }
        for (unsigned q = 0; q < o_.lcores; ++q) {
            auto loop = std::make_unique<SoloLoop>();
            loop->port = solo_port_.get();
            loop->gen = solo_gen_.get();
            loop->sink = solo_sink_.get();
            loop->pool = pool_;
            loop->queue = static_cast<uint16_t>(q);
            loop->burst = o_.burst;
            loop->stop = &stop_;
            solo_.push_back(std::move(loop));
        }
        return true;
    }

    const bool two = mode == Mode::loopback || mode == Mode::fwd;
    // encrypt runs gateway A alone, decrypt gateway B alone.
    const bool has_a = mode != Mode::decrypt;
    const bool has_b = mode != Mode::encrypt;
    for (const char* label : {"a", "b"}) {
        auto g = std::make_unique<Gateway>();
        g->label = label;
        gateways_.push_back(std::move(g));
    }
    // WAN devices.
    if (two) {
        if (!open_ring_pair(error)) return false;
    } else {
        Gateway& g = *gateways_[has_a ? 0 : 1];
        if (!open_null(g, false, error)) return false;
    }
    // Addresses: A 192.0.2.1:51820, B 192.0.2.2:51821.
    for (int s = 0; s < 2; ++s) {
        Gateway& g = *gateways_[s];
        frame::UdpLocal& l = g.wan_local;
        l.mac = g.wan_dev ? g.wan_dev->mac() : fake_mac(static_cast<uint8_t>(0xA0 + s));
        l.v4[0] = 192;
        l.v4[1] = 0;
        l.v4[2] = 2;
        l.v4[3] = static_cast<uint8_t>(1 + s);
        l.has_v4 = true;
        l.port = s == 0 ? kWanPortA : kWanPortB;
    }
    auto endpoint_of = [](const frame::UdpLocal& l) {
        MbufEndpoint e;
        e.family = 4;
        std::memcpy(e.addr, l.v4, 4);
        e.port = l.port;
        return e;
    };
    tunnels_ = std::make_unique<Tunnels>(
        o_.peers, o_.mtu,
        Tunnels::Side{gateways_[0]->wan_local, endpoint_of(gateways_[0]->wan_local)},
        Tunnels::Side{gateways_[1]->wan_local, endpoint_of(gateways_[1]->wan_local)});
    if (mode == Mode::decrypt) {
        const size_t frame_len = 42 + 32 + *std::max_element(pattern_.begin(), pattern_.end());
        const auto count = static_cast<uint32_t>(
            std::clamp<size_t>(kTemplateBudget / frame_len / o_.peers, 256, 8192));
        if (!tunnels_->enable_epochs(pattern_, o_.flows, count, gateways_[1]->wan_local.mac,
                                     error))
            return false;
    }
    for (int s = 0; s < 2; ++s) {
        if ((s == 0 && !has_a) || (s == 1 && !has_b)) continue;
        Gateway& g = *gateways_[s];
        const rte_ether_addr host_mac = fake_mac(static_cast<uint8_t>(0x10 + s));
        // LAN: net_null with a generator of inner packets (A in encrypt and
        // loopback; both in fwd) and/or a sink (B in decrypt and loopback;
        // both in fwd).
        if (!open_null(g, true, error)) return false;
        const bool lan_generates = (s == 0 && mode != Mode::decrypt) || mode == Mode::fwd;
        const bool lan_sinks = (s == 1) || mode == Mode::fwd;
        if (lan_generates) {
            GeneratorConfig gc;
            gc.kind = GeneratorConfig::Kind::inner;
            gc.src_mac = host_mac;
            gc.dst_mac = g.lan_dev->mac();
            gc.src_side = static_cast<uint8_t>(s);
            gc.size_pattern = pattern_;
            gc.flows = o_.flows;
            gc.peers = per_queue;
            const double share = mode == Mode::fwd ? 0.5 : 1.0;
            gc.rate_pps = static_cast<double>(o_.tx_rate_pps) * share;
            gc.packet_limit = static_cast<uint64_t>(static_cast<double>(o_.packets) * share);
            g.lan_gen = std::make_unique<Generator>(gc);
            generators_.push_back(g.lan_gen.get());
        }
        if (lan_sinks) {
            const bool latency = mode != Mode::decrypt;
            // One peer per generator stream: the order of its probes is the
            // tunnel's order.
            const bool check_order = o_.peers == queues;
            g.lan_sink = std::make_unique<Sink>(static_cast<uint16_t>(queues), latency, check_order);
            outputs_.push_back(g.lan_sink.get());
            if (latency) latency_sinks_.push_back(g.lan_sink.get());
        }
        g.lan_traffic = std::make_unique<TrafficPort>(*g.lan_dev, g.lan_gen.get(), g.lan_sink.get());
        g.lan = std::make_unique<IpOverEthernet>(*g.lan_traffic, g.label + ".lan",
                                                 g.lan_dev->mac(), host_mac);
        // WAN: the ring pair, or net_null with a sink (encrypt) or with a
        // generator of data messages (decrypt).
        if (mode == Mode::encrypt) {
            g.wan_sink = std::make_unique<Sink>(static_cast<uint16_t>(queues), false);
            outputs_.push_back(g.wan_sink.get());
        }
        if (mode == Mode::decrypt) {
            GeneratorConfig gc;
            gc.kind = GeneratorConfig::Kind::encrypted;
            gc.src_mac = gateways_[0]->wan_local.mac;
            gc.dst_mac = g.wan_dev->mac();
            gc.size_pattern = pattern_;
            gc.peers = per_queue;
            gc.rate_pps = static_cast<double>(o_.tx_rate_pps);
            gc.packet_limit = o_.packets;
            gc.templates = &tunnels_->templates();
            gc.epochs = tunnels_->epochs();
            g.wan_gen = std::make_unique<Generator>(gc);
            generators_.push_back(g.wan_gen.get());
        }
        g.wan_traffic =
            std::make_unique<TrafficPort>(*g.wan_dev, g.wan_gen.get(), g.wan_sink.get(), two);
        const rte_ether_addr next_hop = gateways_[1 - s]->wan_local.mac;
        g.wan = std::make_unique<UdpOverEthernet>(*g.wan_traffic, g.label + ".wan", g.wan_local,
                                                  next_hop);
        report_ports_.push_back(g.lan.get());
        report_ports_.push_back(g.wan.get());
        framed_.push_back(g.lan.get());
        framed_.push_back(g.wan.get());

        LcoreGroupConfig lg;
        lg.name = "p" + g.label + next_name("");
        for (unsigned q = 0; q < o_.lcores; ++q) {
            const int id = next_worker();
            if (id < 0) {
                *error = "not enough EAL worker lcores";
                return false;
            }
            lg.lcore_ids.push_back(static_cast<unsigned>(id));
        }
        lg.wan = g.wan.get();
        lg.lan = g.lan.get();
        lg.snapshot = tunnels_->snapshot(s);
        lg.control_wake_fd = control_wake_.fd;
        lg.burst = o_.burst;
        lg.busy_poll_us = 0;
        lg.pipeline = o_.pipeline;
        g.lcores = LcoreGroup::create(lg, error);
        if (!g.lcores) return false;
    }
    tunnels_->start(gateways_[0]->lcores ? &gateways_[0]->lcores->rcu() : nullptr,
                    gateways_[1]->lcores ? &gateways_[1]->lcores->rcu() : nullptr);
    return true;
}

}  // namespace

bool Run::launch(std::string* error) {
    if (!gateway_mode_) {
        for (auto& loop : solo_) {
            const int id = next_worker();
            if (id < 0) {
                *error = "not enough EAL worker lcores";
                return false;
            }
            if (rte_eal_remote_launch(solo_loop, loop.get(), static_cast<unsigned>(id)) != 0) {
                *error = "cannot launch lcore " + std::to_string(id);
                return false;
            }
            launched_.push_back(static_cast<unsigned>(id));
        }
        return true;
    }
    for (auto& g : gateways_)
        if (g->lcores && !g->lcores->launch(error)) return false;
    return true;
}

void Run::drain_events() {
    for (auto& g : gateways_) {
        for (const auto& l : lcores_of(*g)) {
            Event ev[64];
            unsigned n;
            while ((n = rte_ring_sc_dequeue_burst_elem(l->config().events, ev, sizeof(Event), 64,
                                                       nullptr)) > 0) {
                for (unsigned i = 0; i < n; ++i)
                    if (ev[i].m != nullptr) rte_pktmbuf_free(ev[i].m);
            }
        }
    }
    uint64_t v;
    [[maybe_unused]] ssize_t r = read(control_wake_.fd, &v, sizeof v);
}

Run::Sample Run::sample() const {
    Sample s;
    s.tsc = rte_rdtsc();
    for (Port* p : report_ports_) s.ports.push_back(p->stats());
    for (FramedPort* f : framed_) s.frame_drops.push_back(f->drops());
    size_t i = 0;
    for (const auto& g : gateways_) {
        for (const auto& l : lcores_of(*g)) {
            s.lcores.push_back(l->counters());
            const auto q = static_cast<uint16_t>(l->config().index);
            // Traffic work on this lcore: its queue of the LAN and WAN wrappers.
            uint64_t c = 0;
            if (l->config().role == LcoreRole::crypto) {  // touches no port
                s.gen_cycles.push_back(0);
                ++i;
                continue;
            }
            if (g->lan_gen) c += g->lan_gen->queue_cycles(q);
            if (g->wan_gen) c += g->wan_gen->queue_cycles(q);
            if (g->lan_sink) c += g->lan_sink->queue_cycles(q);
            if (g->wan_sink) c += g->wan_sink->queue_cycles(q);
            s.gen_cycles.push_back(c);
            ++i;
        }
    }
    for (const auto& c : solo_) {
        LcoreCounters lc;
        lc.busy_cycles = c->busy.load(std::memory_order_relaxed);
        lc.total_cycles = c->total.load(std::memory_order_relaxed);
        lc.lan_rx_packets = c->packets.load(std::memory_order_relaxed);
        s.lcores.push_back(lc);
        s.gen_cycles.push_back(0);
    }
    for (Generator* g : generators_) {
        s.generated += g->generated();
        s.stalls += g->stalls();
    }
    for (Sink* k : outputs_) s.delivered += k->packets();
    for (Sink* k : latency_sinks_) s.out_of_order += k->out_of_order();
    if (!gateway_mode_ && solo_gen_) s.delivered = s.ports[0].tx_packets;
    return s;
}

Figures Run::figures(const Sample& a, const Sample& b) const {
    Figures f;
    const double hz = static_cast<double>(rte_get_tsc_hz());
    f.seconds = static_cast<double>(b.tsc - a.tsc) / hz;
    f.t = static_cast<double>(b.tsc - start_tsc_) / hz;
    const double sec = f.seconds > 0 ? f.seconds : 1;
    for (size_t i = 0; i < report_ports_.size(); ++i) {
        PortFigures p;
        p.name = report_ports_[i]->name();
        for (const auto& g : gateways_) {
            if (report_ports_[i] == g->lan.get()) p.driver = g->lan_dev->driver();
            if (report_ports_[i] == g->wan.get()) p.driver = g->wan_dev->driver();
        }
        if (solo_port_ && report_ports_[i] == solo_port_.get()) p.driver = solo_port_->driver();
        const PortStats& x = a.ports[i];
        const PortStats& y = b.ports[i];
        p.rx_pps = static_cast<double>(y.rx_packets - x.rx_packets) / sec;
        p.tx_pps = static_cast<double>(y.tx_packets - x.tx_packets) / sec;
        p.rx_bps = static_cast<double>(y.rx_bytes - x.rx_bytes) * 8 / sec;
        p.tx_bps = static_cast<double>(y.tx_bytes - x.tx_bytes) * 8 / sec;
        p.total = y;
        f.ports.push_back(p);
    }
    size_t i = 0;
    for (const auto& g : gateways_) {
        for (const auto& l : lcores_of(*g)) {
            const LcoreCounters& x = a.lcores[i];
            const LcoreCounters& y = b.lcores[i];
            LcoreFigures lf;
            lf.label = g->label + "/" + std::to_string(l->config().index);
            lf.lcore_id = l->config().lcore_id;
            // A crypto lcore's packets are those it sealed or opened.
            const bool crypto = l->config().role == LcoreRole::crypto;
            if (o_.pipeline) lf.label += crypto ? " crypto" : " rx/tx";
            const double pkts = static_cast<double>((y.wan_rx_packets - x.wan_rx_packets) +
                                                    (y.lan_rx_packets - x.lan_rx_packets) +
                                                    (y.handed_in - x.handed_in) +
                                                    (crypto ? y.pipelined - x.pipelined : 0));
            const double busy = static_cast<double>(y.busy_cycles - x.busy_cycles);
            const double gen = static_cast<double>(b.gen_cycles[i] - a.gen_cycles[i]);
            const double total = static_cast<double>(y.total_cycles - x.total_cycles);
            lf.packets = pkts;
            lf.cycles_per_packet = pkts > 0 ? std::max(0.0, busy - gen) / pkts : 0;
            lf.gen_cycles_per_packet = pkts > 0 ? gen / pkts : 0;
            lf.busy = total > 0 ? busy / total : 0;
            f.lcores.push_back(lf);
            ++i;
        }
    }
    for (size_t q = 0; q < solo_.size(); ++q) {
        const LcoreCounters& x = a.lcores[q];
        const LcoreCounters& y = b.lcores[q];
        LcoreFigures lf;
        lf.label = std::string(to_string(o_.mode)) + "/" + std::to_string(q);
        lf.lcore_id = q < launched_.size() ? launched_[q] : 0;
        const double pkts = static_cast<double>(y.lan_rx_packets - x.lan_rx_packets);
        const double busy = static_cast<double>(y.busy_cycles - x.busy_cycles);
        const double total = static_cast<double>(y.total_cycles - x.total_cycles);
        lf.packets = pkts;
        lf.cycles_per_packet = pkts > 0 ? busy / pkts : 0;
        lf.busy = total > 0 ? busy / total : 0;
        f.lcores.push_back(lf);
    }
    // Drops by reason, summed over lcores; frame drops; device tx drops.
    std::array<uint64_t, kDropReasonCount> drops{};
    for (size_t k = 0; k < b.lcores.size(); ++k)
        for (size_t r = 1; r < kDropReasonCount; ++r)
            drops[r] += b.lcores[k].transport.drops[r] - a.lcores[k].transport.drops[r];
    for (size_t r = 1; r < kDropReasonCount; ++r)
        if (drops[r] > 0) f.drops.emplace_back(std::string(kDropReasonNames[r]), drops[r]);
    FrameDropCounts fd{};
    for (size_t k = 0; k < b.frame_drops.size(); ++k)
        for (size_t r = 0; r < fd.size(); ++r) fd[r] += b.frame_drops[k][r] - a.frame_drops[k][r];
    for (size_t r = 1; r < fd.size(); ++r)
        if (fd[r] > 0) f.drops.emplace_back(frame::to_string(static_cast<frame::FrameDrop>(r)), fd[r]);
    for (size_t k = 0; k < b.ports.size(); ++k) {
        const PortStats& x = a.ports[k];
        const PortStats& y = b.ports[k];
        // Framed ports' tx_errors include frame drops counted above; the rest
        // is the device refusing (a full ring: the next gateway is slower).
        uint64_t frame_tx = 0;
        if (k < b.frame_drops.size())
            for (size_t r = 0; r < frame::kFrameDropCount; ++r)
                if (frame::is_send_drop(static_cast<frame::FrameDrop>(r)))
                    frame_tx += b.frame_drops[k][r] - a.frame_drops[k][r];
        const uint64_t tx = (y.tx_errors - x.tx_errors) - frame_tx;
        if (tx > 0) f.drops.emplace_back("tx_full:" + report_ports_[k]->name(), tx);
        const uint64_t nombuf = y.rx_no_mbuf - x.rx_no_mbuf;
        if (nombuf > 0) f.drops.emplace_back("rx_no_mbuf:" + report_ports_[k]->name(), nombuf);
    }
    f.generator_stalls = b.stalls - a.stalls;
    f.generated = b.generated - a.generated;
    f.delivered = b.delivered - a.delivered;
    f.out_of_order = b.out_of_order - a.out_of_order;
    f.delivered_pps = static_cast<double>(f.delivered) / sec;
    return f;
}

bool Run::measure(Summary* summary, std::string* error) {
    const uint64_t hz = rte_get_tsc_hz();
    start_tsc_ = rte_rdtsc();
    const Sample first = sample();
    if (!launch(error)) return false;
    Sample last_period = first;
    Sample last_change = first;  // --packets: when the last packet was delivered
    const auto period = static_cast<uint64_t>(o_.stats_period_s * static_cast<double>(hz));
    const auto duration = static_cast<uint64_t>(o_.duration_s * static_cast<double>(hz));
    uint64_t quiet_since = 0;
    uint64_t last_delivered = 0;
    while (!interrupted_.load(std::memory_order_relaxed)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        if (tunnels_) tunnels_->rotate();
        for (auto& g : gateways_)
            if (g->lcores) g->lcores->rcu().reclaim();
        drain_events();
        const uint64_t now = rte_rdtsc();
        if (period > 0 && now - last_period.tsc >= period) {
            Sample s = sample();
            print_period(figures(last_period, s), o_.json);
            last_period = std::move(s);
        }
        if (o_.packets > 0) {
            bool done = true;
            for (Generator* g : generators_) done &= g->done();
            if (!done) continue;
            // Generated all: wait until nothing more arrives for 100 ms;
            // the figures end where the last packet came out.
            uint64_t delivered = 0;
            for (Sink* k : outputs_) delivered += k->packets();
            if (!gateway_mode_ && solo_gen_) delivered = solo_port_->stats().tx_packets;
            if (delivered != last_delivered || quiet_since == 0) {
                last_delivered = delivered;
                quiet_since = now;
                last_change = sample();
            } else if (now - quiet_since >= hz / 10) {
                break;
            }
        } else if (now - first.tsc >= duration) {
            break;
        }
    }
    // Stop the lcores first, so that the end figures and the latency
    // histograms cover the same packets.
    stop_.store(true, std::memory_order_release);
    for (unsigned id : launched_) rte_eal_wait_lcore(id);
    launched_.clear();
    for (auto& g : gateways_)
        if (g->lcores) g->lcores->stop();
    const Sample end = o_.packets > 0 && quiet_since != 0 ? last_change : sample();

    Summary& s = *summary;
    s.mode = o_.mode;
    s.size = size_label(size_);
    s.avg_size = avg_size_;
    s.lcores = o_.lcores;
    s.pipeline = o_.pipeline;
    s.burst = o_.burst;
    s.peers = o_.peers;
    s.flows = o_.flows;
    s.figures = figures(first, end);
    s.mpps = s.figures.delivered_pps / 1e6;
    s.gbps = s.figures.delivered_pps * avg_size_ * 8 / 1e9;
    s.tsc_hz = hz;
    s.keypairs = o_.mode == Mode::decrypt ? tunnels_->keypairs_made() : 0;
    std::vector<uint64_t> counts(LatencyHistogram::kBuckets, 0);
    for (Sink* k : latency_sinks_) {
        const auto c = k->latency();
        for (size_t b = 0; b < counts.size(); ++b) counts[b] += c[b];
    }
    for (uint64_t c : counts) s.latency_samples += c;
    if (s.latency_samples > 0) {
        const double us = 1e6 / static_cast<double>(hz);
        s.has_latency = true;
        s.p50_us = static_cast<double>(LatencyHistogram::percentile(counts, 0.50)) * us;
        s.p99_us = static_cast<double>(LatencyHistogram::percentile(counts, 0.99)) * us;
        s.p999_us = static_cast<double>(LatencyHistogram::percentile(counts, 0.999)) * us;
        s.max_us = static_cast<double>(LatencyHistogram::percentile(counts, 1.0)) * us;
    }
    return true;
}

bool run_once(const Options& options, uint16_t size, rte_mempool* pool,
              const std::atomic<bool>& interrupted, Summary* summary, std::string* error) {
    Run run(options, size, pool, interrupted);
    return run.start(error) && run.measure(summary, error);
}

}  // namespace sluice::perf
