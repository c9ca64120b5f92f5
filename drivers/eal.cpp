#include "drivers/eal.hpp"

#include <rte_eal.h>
#include <rte_errno.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace sluice {
namespace {

std::atomic<bool> g_eal_started{false};

std::string join(const std::vector<unsigned>& ids) {
    std::string out;
    for (unsigned id : ids) {
        if (!out.empty()) out += ',';
        out += std::to_string(id);
    }
    return out;
}

}  // namespace

HugepageInfo read_hugepage_info() {
    HugepageInfo info;
    namespace fs = std::filesystem;
    std::error_code ec;
    for (const auto& dir : fs::directory_iterator("/sys/kernel/mm/hugepages", ec)) {
        // Directory names look like "hugepages-2048kB".
        const std::string name = dir.path().filename();
        const auto dash = name.find('-');
        if (dash == std::string::npos) continue;
        const uint64_t kb = std::strtoull(name.c_str() + dash + 1, nullptr, 10);
        std::ifstream in(dir.path() / "free_hugepages");
        uint64_t free_pages = 0;
        if (in >> free_pages) info.free_bytes += free_pages * kb * 1024;
    }
    std::ifstream mounts("/proc/mounts");
    std::string line;
    while (std::getline(mounts, line)) {
        std::istringstream fields(line);
        std::string device, mount_point, type;
        if (fields >> device >> mount_point >> type && type == "hugetlbfs") {
            info.hugetlbfs_mounted = true;
            break;
        }
    }
    return info;
}

EalPlan plan_eal(const EalOptions& options, const HugepageInfo& huge, int pid) {
    EalPlan plan;
    auto& a = plan.args;
    a.push_back(options.process_name);
    if (options.lcores.empty()) {
        // Logical lcore 0 may run on any CPU the process is allowed.
        const std::string every_cpu =
            "(0-" + std::to_string(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)) - 1) + ")";
        std::string spec = "--lcores=0@" + every_cpu;
        for (size_t i = 0; i < options.workers.size(); ++i) {
            const int cpu = options.workers[i];
            spec += "," + std::to_string(i + 1) + "@" + (cpu < 0 ? every_cpu : std::to_string(cpu));
        }
        a.push_back(spec);
    } else {
        a.push_back("-l");
        a.push_back(join(options.lcores));
    }
    const uint64_t wanted = uint64_t{options.memory_mb} << 20;
    if (huge.hugetlbfs_mounted && huge.free_bytes >= wanted) {
        plan.hugepages = true;
        a.push_back("--in-memory");
        plan.why = "hugepages: " + std::to_string(huge.free_bytes >> 20) + " MiB free, " +
                   std::to_string(options.memory_mb) + " MiB wanted";
    } else {
        a.push_back("--no-huge");
        a.push_back("--no-shconf");
        a.push_back("-m");
        a.push_back(std::to_string(options.memory_mb));
        plan.why = !huge.hugetlbfs_mounted
                       ? "plain memory: hugetlbfs is not mounted"
                       : "plain memory: " + std::to_string(huge.free_bytes >> 20) +
                             " MiB of hugepages free, " + std::to_string(options.memory_mb) +
                             " MiB wanted";
    }
    a.push_back("--file-prefix=" + (options.file_prefix.empty()
                                        ? options.process_name + "-" + std::to_string(pid)
                                        : options.file_prefix));
    if (options.pci_devices.empty()) {
        a.push_back("--no-pci");
    } else {
        for (const auto& dev : options.pci_devices) {
            a.push_back("-a");
            a.push_back(dev);
        }
    }
    for (const auto& vdev : options.vdevs) a.push_back("--vdev=" + vdev);
    if (!options.telemetry) a.push_back("--no-telemetry");
    a.push_back("--log-level=" + std::to_string(options.log_level));
    return plan;
}

std::unique_ptr<Eal> Eal::start(const EalOptions& options, std::string* error) {
    if (g_eal_started.exchange(true)) {
        if (error) *error = "EAL is already running in this process";
        return nullptr;
    }
    EalPlan plan = plan_eal(options, read_hugepage_info(), static_cast<int>(getpid()));
    std::vector<char*> argv;
    for (auto& arg : plan.args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    // rte_eal_init may permute argv; it works on our copies of the strings.
    if (rte_eal_init(static_cast<int>(argv.size() - 1), argv.data()) < 0) {
        if (error) {
            std::string cmd;
            for (const auto& arg : plan.args) cmd += (cmd.empty() ? "" : " ") + arg;
            *error =
                "EAL did not start (" + std::string(rte_strerror(rte_errno)) + ") with: " + cmd;
        }
        return nullptr;  // EAL cannot be retried in this process: g_eal_started stays set
    }
    return std::unique_ptr<Eal>(new Eal(std::move(plan), rte_eal_get_runtime_dir()));
}

Eal::~Eal() {
    rte_eal_cleanup();
    std::error_code ec;
    if (!runtime_dir_.empty()) std::filesystem::remove_all(runtime_dir_, ec);
}

}  // namespace sluice
