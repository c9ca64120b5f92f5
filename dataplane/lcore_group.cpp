#include "dataplane/lcore_group.hpp"

#include <rte_launch.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

namespace sluice {

namespace {

constexpr unsigned kEventRingSize = 4096;
constexpr unsigned kCommandRingSize = 4096;
constexpr unsigned kHandoffRingSize = 4096;  // rides out an owner preempted for a few ms

rte_mbuf* mbuf_of(void* m) { return static_cast<rte_mbuf*>(m); }
rte_mbuf* mbuf_of(const Event& ev) { return ev.m; }
rte_mbuf* mbuf_of(const Command& cmd) { return cmd.m; }

int lcore_entry(void* arg) {
    static_cast<Lcore*>(arg)->run();
    return 0;
}

}  // namespace

template <typename Elem>
void LcoreGroup::RingFree<Elem>::operator()(rte_ring* r) const {
    Elem e{};
    while (rte_ring_sc_dequeue_elem(r, &e, sizeof e) == 0)
        if (rte_mbuf* m = mbuf_of(e)) rte_pktmbuf_free(m);
    rte_ring_free(r);
}

std::unique_ptr<LcoreGroup> LcoreGroup::create(const LcoreGroupConfig& config,
                                               std::string* error) {
    std::unique_ptr<LcoreGroup> g(new LcoreGroup);
    const auto count = static_cast<unsigned>(config.lcore_ids.size());
    g->rcu_ = Rcu::create(count, error);
    if (!g->rcu_) return nullptr;
    if (config.pipeline) {
        if (count < 2) {
            *error = "pipeline mode needs at least 2 lcores (an rx/tx lcore and a crypto lcore)";
            return nullptr;
        }
        g->pipeline_ = Pipeline::create(config.name, count - 1, error);
        if (!g->pipeline_) return nullptr;
    }
    std::vector<rte_ring*> handoff;
    // Pipeline mode has one receiving lcore: nothing is ever handed over.
    if (count > 1 && !config.pipeline) {
        for (unsigned i = 0; i < count; ++i) {
            const std::string name = config.name + "ho" + std::to_string(i);
            g->handoff_.emplace_back(
                rte_ring_create(name.c_str(), kHandoffRingSize, SOCKET_ID_ANY, RING_F_SC_DEQ));
            if (!g->handoff_.back()) {
                *error = "cannot create the lcore handoff rings";
                return nullptr;
            }
            handoff.push_back(g->handoff_.back().get());
        }
    }
    for (unsigned i = 0; i < count; ++i) {
        const std::string suffix = std::to_string(i);
        g->events_.emplace_back(rte_ring_create_elem((config.name + "ev" + suffix).c_str(),
                                                     sizeof(Event), kEventRingSize, SOCKET_ID_ANY,
                                                     RING_F_SP_ENQ | RING_F_SC_DEQ));
        g->commands_.emplace_back(rte_ring_create_elem((config.name + "cmd" + suffix).c_str(),
                                                       sizeof(Command), kCommandRingSize,
                                                       SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ));
        if (!g->events_.back() || !g->commands_.back()) {
            *error = "cannot create the lcore rings";
            return nullptr;
        }
        LcoreConfig lc;
        lc.index = i;
        lc.lcore_id = config.lcore_ids[i];
        lc.wan = config.wan;
        lc.lan = config.lan;
        lc.events = g->events_.back().get();
        lc.commands = g->commands_.back().get();
        lc.control_wake_fd = config.control_wake_fd;
        lc.snapshot = config.snapshot;
        lc.rcu = g->rcu_.get();
        lc.stop = &g->stop_;
        lc.handoff = handoff;
        lc.wake_fds = &g->wake_fds_;
        lc.burst = config.burst;
        lc.busy_poll_us = config.busy_poll_us;
        if (g->pipeline_) {
            lc.role = i == 0 ? LcoreRole::rx_tx : LcoreRole::crypto;
            lc.pipeline = g->pipeline_.get();
            lc.worker = i == 0 ? 0 : i - 1;
        }
        auto lcore = std::make_unique<Lcore>(lc);
        if (!lcore->init(error)) return nullptr;
        g->wake_fds_.push_back(lcore->wake_fd());
        g->lcores_.push_back(std::move(lcore));
    }
    return g;
}

bool LcoreGroup::launch(std::string* error) {
    for (auto& l : lcores_) {
        const unsigned id = l->config().lcore_id;
        if (rte_eal_remote_launch(lcore_entry, l.get(), id) != 0) {
            *error = "cannot launch lcore " + std::to_string(id);
            return false;
        }
        launched_.push_back(id);
    }
    return true;
}

void LcoreGroup::stop() {
    stop_.store(true, std::memory_order_release);
    for (auto& l : lcores_) l->wake();
    for (unsigned id : launched_) rte_eal_wait_lcore(id);
    launched_.clear();
}

LcoreGroup::~LcoreGroup() {
    stop();
    lcores_.clear();
    pipeline_.reset();
    handoff_.clear();
    events_.clear();
    commands_.clear();
}

}  // namespace sluice
