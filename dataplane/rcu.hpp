// Quiescent-state-based reclamation for the tables lcores read (DESIGN §3),
// over DPDK's rte_rcu_qsbr.
//
// Lcores: report quiescent() once per loop iteration, between bursts (they
// hold no pointer into a snapshot across it); go offline() before sleeping on
// epoll and online() after, so a sleeping lcore never holds the control thread
// up. Control thread: publish the new table first, then retire() the old
// things with a function that frees them; reclaim() runs every such function
// whose grace period has ended. Nothing here blocks except synchronize(),
// which shutdown uses.
//
// Thread ids are 0..threads-1: the lcore's index, not its EAL lcore id.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>

struct rte_rcu_qsbr;

namespace sluice {

class Rcu {
public:
    // Null with `error` set when DPDK's allocation fails.
    static std::unique_ptr<Rcu> create(unsigned threads, std::string* error);
    ~Rcu();
    Rcu(const Rcu&) = delete;
    Rcu& operator=(const Rcu&) = delete;

    // ---- lcores ----
    void register_thread(unsigned id) noexcept;
    void unregister_thread(unsigned id) noexcept;
    void online(unsigned id) noexcept;
    void offline(unsigned id) noexcept;
    void quiescent(unsigned id) noexcept;

    // ---- control thread ----
    // Runs `free_fn` once every lcore has passed a quiescent state after now.
    void retire(std::function<void()> free_fn);
    // Runs what is due; returns how many ran.
    size_t reclaim();
    // Waits for a grace period, then runs everything retired.
    void synchronize();
    [[nodiscard]] size_t pending() const noexcept { return retired_.size(); }

private:
    Rcu() = default;
    struct Retired {
        uint64_t token;
        std::function<void()> free_fn;
    };
    rte_rcu_qsbr* qsbr_ = nullptr;
    std::deque<Retired> retired_;
};

}  // namespace sluice
