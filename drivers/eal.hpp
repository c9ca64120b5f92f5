// Starting DPDK's EAL the same way in every mode (DESIGN §5): mbufs, rings,
// mempools and lcores exist whether the ports are a NIC, AF_XDP or a kernel
// socket, so one pipeline runs everywhere.
//
// Hugepages are used when enough are free and hugetlbfs is mounted
// (--in-memory: nothing left in /var/run or /dev/hugepages after exit);
// otherwise plain memory (--no-huge --no-shconf -m N). DPDK 22.11 refuses
// --in-memory together with --no-huge, which is why the two plans differ.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sluice {

struct HugepageInfo {
    uint64_t free_bytes = 0;  // summed over every page size
    bool hugetlbfs_mounted = false;
};

// Reads /sys/kernel/mm/hugepages and /proc/mounts.
HugepageInfo read_hugepage_info();

struct EalOptions {
    std::string process_name = "sluice";
    // CPU ids for the lcores; the first is the main lcore. Empty: one lcore
    // floating over every CPU the process may use, so a laptop or a test does
    // not pin itself to CPU 0.
    std::vector<unsigned> lcores;
    // Used when `lcores` is empty: the main lcore (lcore 0) floats over every
    // CPU, and worker lcores 1..n follow, each pinned to the CPU given or
    // floating over every CPU (-1). sluiced runs its control thread on the
    // main lcore and its packet lcores on the workers.
    std::vector<int> workers;
    size_t memory_mb = 256;  // heap for mempools and rings
    // Distinguishes several sluice processes on one host (their runtime
    // directories and telemetry sockets). Empty: process_name + pid.
    std::string file_prefix;
    std::vector<std::string> vdevs;        // --vdev arguments
    std::vector<std::string> pci_devices;  // -a arguments; none: no PCI scan at all
    bool telemetry = true;
    int log_level = 4;  // RTE_LOG_WARNING: EAL's start-up chatter stays out of the log
};

struct EalPlan {
    std::vector<std::string> args;  // argv for rte_eal_init, argv[0] included
    bool hugepages = false;
    std::string why;  // one line for the log: which memory and why
};

// Pure: the arguments EAL will get for these options on a host with `huge`.
EalPlan plan_eal(const EalOptions& options, const HugepageInfo& huge, int pid);

// EAL for the life of the process. rte_eal_init succeeds at most once per
// process, so there is at most one Eal; destroying it runs rte_eal_cleanup.
class Eal {
public:
    // Starts EAL or returns null with `error` set to one line saying why.
    static std::unique_ptr<Eal> start(const EalOptions& options, std::string* error);
    ~Eal();
    Eal(const Eal&) = delete;
    Eal& operator=(const Eal&) = delete;

    [[nodiscard]] const EalPlan& plan() const { return plan_; }

private:
    Eal(EalPlan plan, std::string runtime_dir)
        : plan_(std::move(plan)), runtime_dir_(std::move(runtime_dir)) {}
    EalPlan plan_;
    // EAL creates it even without shared config and leaves it behind; the
    // per-process file prefix makes it ours alone to remove.
    std::string runtime_dir_;
};

}  // namespace sluice
