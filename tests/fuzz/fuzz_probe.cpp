// sluice-perf's probe parser (perf/probe.hpp): rxonly runs it on every frame
// a real port delivers.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "perf/probe.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    // A copy of exactly `size` bytes, so a read past the end is caught by
    // ASan even where the fuzzer's own buffer is larger.
    std::vector<uint8_t> frame(data, data + size);
    sluice::perf::Probe probe;
    const bool found = sluice::perf::read_probe(frame.data(), static_cast<uint32_t>(frame.size()), &probe);
    if (found && frame.size() < 14 + 20 + 8 + sluice::perf::kProbeLen) abort();
    return 0;
}
