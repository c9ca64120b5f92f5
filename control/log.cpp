#include "control/log.hpp"

#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <string>

namespace sluice::log {

namespace {
std::atomic<bool> g_syslog{false};
std::atomic<int> g_level{static_cast<int>(Level::info)};

const char* tag(Level level) {
    switch (level) {
        case Level::error: return "error: ";
        case Level::warning: return "warning: ";
        case Level::debug: return "debug: ";
        case Level::info: break;
    }
    return "";
}
}  // namespace

void to_syslog(const char* ident) {
    openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
    g_syslog = true;
}

void set_level(Level level) { g_level = static_cast<int>(level); }

void write(Level level, std::string_view line) {
    if (static_cast<int>(level) > g_level.load(std::memory_order_relaxed)) return;
    if (g_syslog.load(std::memory_order_relaxed)) {
        syslog(static_cast<int>(level), "%s%.*s", tag(level), static_cast<int>(line.size()),
               line.data());
        return;
    }
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    char prefix[48];
    const int p = std::snprintf(prefix, sizeof prefix, "[%6ld.%03ld] ", static_cast<long>(ts.tv_sec),
                                ts.tv_nsec / 1'000'000);
    std::string out(prefix, static_cast<size_t>(p > 0 ? p : 0));
    out += tag(level);
    out += line;
    out += '\n';
    [[maybe_unused]] ssize_t n = ::write(STDERR_FILENO, out.data(), out.size());
}

}  // namespace sluice::log
