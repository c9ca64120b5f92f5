// Fuzz target for the configuration loader: any bytes must give a Config or
// a ConfigError. Any other exception escapes and is reported as a crash, as
// is every sanitizer finding; a hang shows as a libFuzzer timeout.
//
// A fuzzed file may name a private_key_file; the loader opens it read-only and
// non-blocking and refuses anything but a regular file, so that is harmless.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "control/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        const sluice::Config config = sluice::parse_config(text, "fuzz.yaml");
        // Walk the result too: the dump touches every field.
        (void)sluice::dump_config(config);
    } catch (const sluice::ConfigError& e) {
        // Errors are one line; a newline would mean a value leaked unescaped.
        const std::string_view what = e.what();
        if (what.find('\n') != std::string_view::npos) __builtin_trap();
    }
    return 0;
}
