// The packet lcores of one gateway and what they share (DESIGN §3): the RCU
// over the tables they read, each lcore's rings to and from the control
// thread, the handoff rings between them, and their launch and stop.
// sluiced builds one; sluice-perf one per gateway it runs.
//
// Ownership: the group owns its lcores, rings and Rcu; the ports, the
// snapshot pointer and the control thread's eventfd belong to the caller and
// must outlive the group. Destroying the group stops the lcores if they run,
// then frees them, then the rings (whose queued mbufs go back to their pool,
// so the group must go before the pool), then the Rcu.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/lcore.hpp"
#include "dataplane/lcore_messages.hpp"
#include "dataplane/pipeline.hpp"
#include "dataplane/rcu.hpp"

struct rte_ring;

namespace sluice {

struct LcoreGroupConfig {
    std::string name = "lc";       // prefix of the rings' names: unique within the process
    std::vector<unsigned> lcore_ids;  // the EAL lcore of each packet lcore, one per lcore
    Port* wan = nullptr;           // queue i belongs to lcore i
    Port* lan = nullptr;
    const std::atomic<const Snapshot*>* snapshot = nullptr;
    int control_wake_fd = -1;      // written by lcores after posting Events
    uint16_t burst = 32;
    uint32_t busy_poll_us = 50;
    // Pipeline mode (pipeline.hpp): lcore 0 is the rx/tx lcore and owns
    // queue 0 of each port (give the ports one queue), the others are crypto
    // lcores. Needs at least 2 lcores.
    bool pipeline = false;
};

class LcoreGroup {
public:
    // Null with `error` (one line) when a ring, the Rcu or an lcore's fds
    // cannot be made.
    static std::unique_ptr<LcoreGroup> create(const LcoreGroupConfig& config, std::string* error);
    ~LcoreGroup();
    LcoreGroup(const LcoreGroup&) = delete;
    LcoreGroup& operator=(const LcoreGroup&) = delete;

    // Starts every lcore's loop on its EAL lcore.
    bool launch(std::string* error);
    // Asks the lcores to stop, wakes them, waits until each loop returned.
    void stop();

    [[nodiscard]] Rcu& rcu() const noexcept { return *rcu_; }
    // Null in run-to-completion.
    [[nodiscard]] const Pipeline* pipeline() const noexcept { return pipeline_.get(); }
    [[nodiscard]] const std::vector<std::unique_ptr<Lcore>>& lcores() const noexcept {
        return lcores_;
    }

private:
    LcoreGroup() = default;
    // Frees a ring of Elem, first giving the mbufs still queued back to their pool.
    template <typename Elem>
    struct RingFree {
        void operator()(rte_ring* r) const;
    };
    template <typename Elem>
    using RingPtr = std::unique_ptr<rte_ring, RingFree<Elem>>;

    std::unique_ptr<Rcu> rcu_;
    std::unique_ptr<Pipeline> pipeline_;  // pipeline mode only
    std::vector<RingPtr<void*>> handoff_;
    std::vector<RingPtr<Event>> events_;
    std::vector<RingPtr<Command>> commands_;
    std::vector<int> wake_fds_;   // each lcore's eventfd, for handoffs
    std::vector<std::unique_ptr<Lcore>> lcores_;
    std::vector<unsigned> launched_;
    std::atomic<bool> stop_{false};
};

}  // namespace sluice
