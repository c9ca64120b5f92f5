#include "dataplane/rcu.hpp"

#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

namespace sluice {

std::unique_ptr<Rcu> Rcu::create(unsigned threads, std::string* error) {
    const size_t size = rte_rcu_qsbr_get_memsize(threads);
    auto* v = static_cast<rte_rcu_qsbr*>(rte_zmalloc("sluice_rcu", size, RTE_CACHE_LINE_SIZE));
    if (v == nullptr || rte_rcu_qsbr_init(v, threads) != 0) {
        rte_free(v);
        if (error) *error = "cannot allocate the RCU state for " + std::to_string(threads) + " lcores";
        return nullptr;
    }
    std::unique_ptr<Rcu> rcu(new Rcu());
    rcu->qsbr_ = v;
    return rcu;
}

Rcu::~Rcu() {
    for (auto& r : retired_) r.free_fn();  // the owner stopped every lcore first
    rte_free(qsbr_);
}

void Rcu::register_thread(unsigned id) noexcept { rte_rcu_qsbr_thread_register(qsbr_, id); }
void Rcu::unregister_thread(unsigned id) noexcept {
    rte_rcu_qsbr_thread_offline(qsbr_, id);
    rte_rcu_qsbr_thread_unregister(qsbr_, id);
}
void Rcu::online(unsigned id) noexcept { rte_rcu_qsbr_thread_online(qsbr_, id); }
void Rcu::offline(unsigned id) noexcept { rte_rcu_qsbr_thread_offline(qsbr_, id); }
void Rcu::quiescent(unsigned id) noexcept { rte_rcu_qsbr_quiescent(qsbr_, id); }

void Rcu::retire(std::function<void()> free_fn) {
    retired_.push_back({rte_rcu_qsbr_start(qsbr_), std::move(free_fn)});
}

size_t Rcu::reclaim() {
    size_t ran = 0;
    // Tokens increase, so the first one not yet safe ends the scan.
    while (!retired_.empty() && rte_rcu_qsbr_check(qsbr_, retired_.front().token, false) == 1) {
        auto fn = std::move(retired_.front().free_fn);
        retired_.pop_front();
        fn();
        ++ran;
    }
    return ran;
}

void Rcu::synchronize() {
    rte_rcu_qsbr_synchronize(qsbr_, RTE_QSBR_THRID_INVALID);
    while (!retired_.empty()) {
        auto fn = std::move(retired_.front().free_fn);
        retired_.pop_front();
        fn();
    }
}

}  // namespace sluice
