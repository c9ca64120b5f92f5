// Internal to the sluice_ctl library: what the text and JSON renderers of
// `stats --watch` share beyond port_rates() and lcore_rates()
// (sluicectl_args.hpp).
#pragma once

#include <cstdint>

#include "control/sluicectl_args.hpp"

namespace sluice::sluicectl {

// Nanoseconds from `previous` to `current`; 0 when the clock did not advance.
uint64_t elapsed_ns(const ctl::StatsResponse& previous, const ctl::StatsResponse& current);

}  // namespace sluice::sluicectl
