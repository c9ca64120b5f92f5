// The control thread's half of the L2 gateway mode (DESIGN §5): neighbour
// resolution for each L2 port, over what the lcores punt up.
//
// Per control-loop round (poll):
//   1. drain every queue's punt ring of every L2 port:
//        learn            ARP / ND frames: the sender's MAC into the port's
//                         NeighbourResolver (control/neighbours.hpp);
//        await_neighbour  frames whose next hop had no MAC: queued there
//                         (a few per address), a request sent for a new one;
//   2. the resolvers' timers: retransmissions, ageing, giving up;
//   3. carry out: ARP requests / neighbour solicitations built here and sent
//      as frames through lcore 0 (Command::send_frame); released frames get
//      their destination MAC and go the same way; dropped ones are freed;
//   4. a changed set of (address, MAC) pairs: a new NeighbourTable published
//      for the lcores, the old one freed after an RCU grace period.
//
// Owner: the control thread, for everything here; the lcores see only the
// published tables and the punt rings (single producer: the queue's lcore).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "control/config.hpp"
#include "control/neighbours.hpp"
#include "dataplane/lcore_messages.hpp"
#include "dataplane/rcu.hpp"
#include "drivers/dpdk/l3_over_l2.hpp"

struct rte_mempool;
struct rte_ring;

namespace sluice {

struct L2PortStatus {
    std::string port;  // "wan", "lan"
    std::vector<NeighbourEntry> neighbours;
    NeighbourCounters counters;
    L2Counters l2;  // the lcores' side: replies sent, punts
    uint64_t requests_failed = 0;  // no mbuf or command ring full for a request
};

class L2Control {
public:
    using Time = std::chrono::nanoseconds;
    // Sends one command to lcore 0 (the Gateway's send_command: it frees the
    // mbuf and counts when the ring is full).
    using Sender = std::function<bool(const Command&)>;

    explicit L2Control(NeighbourOptions options);
    // What the control thread lends, once the ports and lcores exist (the
    // Gateway binds itself): the pool for the frames made here, RCU for
    // retiring tables, and its command path to lcore 0. Until then tables
    // are swapped and freed at once and nothing is sent.
    void bind(rte_mempool* pool, Rcu* rcu, Sender send) {
        pool_ = pool;
        rcu_ = rcu;
        send_ = std::move(send);
    }
    ~L2Control();
    L2Control(const L2Control&) = delete;
    L2Control& operator=(const L2Control&) = delete;

    // The link for one L2 port, before its adapter exists: its punt rings
    // (one per queue) and the neighbour table lcores read, both owned here.
    // Null with `error` when DPDK cannot make the rings.
    std::unique_ptr<L2Link> make_link(const std::string& name, uint16_t queues,
                                      const PortConfig& config, uint16_t tunnel_mtu,
                                      int control_wake_fd, std::string* error);
    // The adapter built on that link; publishes its static neighbours.
    void attach(const std::string& name, FramedPort& port, Command::Target target,
                const std::vector<StaticNeighbour>& statics);

    void poll(Time now);
    [[nodiscard]] std::optional<Time> next_deadline() const;
    [[nodiscard]] std::vector<L2PortStatus> status() const;
    // After the lcores stopped: frees every queued and punted frame.
    void shutdown();

private:
    struct Link {
        std::string name;
        FramedPort* port = nullptr;
        Command::Target target = Command::Target::wan;
        std::vector<rte_ring*> rings;
        std::unique_ptr<NeighbourShared> shared;
        NeighbourResolver resolver;
        uint64_t requests_failed = 0;
    };

    void drain(Link& link, Time now);
    void learn(Link& link, rte_mbuf* m, Time now, NeighbourActions& actions);
    void carry_out(Link& link, NeighbourActions& actions);
    void solicit(Link& link, const IpAddress& address);
    void publish(Link& link);
    bool send_frame(Link& link, rte_mbuf* m);

    rte_mempool* pool_ = nullptr;
    Rcu* rcu_ = nullptr;
    NeighbourOptions options_;
    Sender send_;
    std::vector<std::unique_ptr<Link>> links_;
};

}  // namespace sluice
