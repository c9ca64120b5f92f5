// Rates between two stats snapshots, for `stats --watch` in text and JSON.
#include "control/sluicectl_rates.hpp"

#include <algorithm>

namespace sluice::sluicectl {

namespace {

uint64_t per_second(uint64_t before, uint64_t after, uint64_t ns, uint64_t scale) {
    if (after < before) return 0;
    // long double keeps 64 bits of mantissa: exact for any realistic delta.
    const long double rate = static_cast<long double>(after - before) * scale * 1e9L / ns;
    return static_cast<uint64_t>(rate + 0.5L);
}

template <typename Counters>
Rates rates_of(const Counters& before, const Counters& after, uint64_t ns) {
    return {per_second(before.rx_packets, after.rx_packets, ns, 1),
            per_second(before.rx_bytes, after.rx_bytes, ns, 8),
            per_second(before.tx_packets, after.tx_packets, ns, 1),
            per_second(before.tx_bytes, after.tx_bytes, ns, 8)};
}

template <typename List, typename Id>
std::optional<Rates> rates_by_id(const List& before, const List& after, uint64_t ns, Id id,
                                 auto id_of) {
    const auto find = [&](const List& list) {
        return std::find_if(list.begin(), list.end(),
                            [&](const auto& e) { return id_of(e) == id; });
    };
    const auto b = find(before);
    const auto a = find(after);
    if (ns == 0 || b == before.end() || a == after.end()) return std::nullopt;
    return rates_of(b->counters, a->counters, ns);
}

}  // namespace

uint64_t elapsed_ns(const ctl::StatsResponse& previous, const ctl::StatsResponse& current) {
    return current.timestamp_ns > previous.timestamp_ns
               ? current.timestamp_ns - previous.timestamp_ns
               : 0;
}

std::optional<Rates> port_rates(const ctl::StatsResponse& previous,
                                const ctl::StatsResponse& current, uint16_t port_id) {
    return rates_by_id(previous.ports, current.ports, elapsed_ns(previous, current), port_id,
                       [](const ctl::PortStats& p) { return p.port_id; });
}

std::optional<Rates> lcore_rates(const ctl::StatsResponse& previous,
                                 const ctl::StatsResponse& current, uint32_t lcore_id) {
    return rates_by_id(previous.lcores, current.lcores, elapsed_ns(previous, current), lcore_id,
                       [](const ctl::LcoreStats& l) { return l.lcore_id; });
}

}  // namespace sluice::sluicectl
