// sluice-check-config: validates one tunnel's configuration file without
// touching any device, for operators before a (re)start and for CI on
// configuration repositories. Exit status: 0 valid, 1 invalid, 2 bad usage.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <string_view>

#include "control/config.hpp"

namespace {

constexpr int kExitValid = 0;
constexpr int kExitInvalid = 1;
constexpr int kExitUsage = 2;

void usage(std::FILE* out) {
    std::fputs(
        "usage: sluice-check-config [--quiet] [--dump] FILE\n"
        "\n"
        "Checks a sluice configuration file and prints \"FILE: ok (N peers)\", or the\n"
        "first problem as FILE:LINE:COLUMN: KEY: what was expected, what was found.\n"
        "\n"
        "  -q, --quiet   print nothing when the file is valid; no warnings either\n"
        "  -d, --dump    print the configuration as sluice reads it, with defaults\n"
        "                filled in and private and preshared keys redacted\n"
        "  -h, --help    show this help\n"
        "  --version     show the version\n"
        "\n"
        "Exit status: 0 valid, 1 invalid, 2 bad usage.\n"
        "Reference: docs/configuration.md\n",
        out);
}

}  // namespace

int main(int argc, char** argv) {
    bool quiet = false;
    bool dump = false;
    const char* file = nullptr;
    bool options_done = false;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (!options_done && arg.size() > 1 && arg[0] == '-') {
            if (arg == "--") {
                options_done = true;
            } else if (arg == "-q" || arg == "--quiet") {
                quiet = true;
            } else if (arg == "-d" || arg == "--dump") {
                dump = true;
            } else if (arg == "-h" || arg == "--help") {
                usage(stdout);
                return kExitValid;
            } else if (arg == "--version") {
                std::printf("sluice-check-config %s\n", SLUICE_VERSION);
                return kExitValid;
            } else {
                std::fprintf(stderr, "sluice-check-config: unknown option '%s'\n", argv[i]);
                usage(stderr);
                return kExitUsage;
            }
            continue;
        }
        if (file) {
            std::fprintf(stderr, "sluice-check-config: one FILE only ('%s' and '%s')\n", file,
                         argv[i]);
            usage(stderr);
            return kExitUsage;
        }
        file = argv[i];
    }
    if (!file) {
        std::fputs("sluice-check-config: no FILE given\n", stderr);
        usage(stderr);
        return kExitUsage;
    }

    try {
        const sluice::Config config = sluice::load_config_file(file);
        if (!quiet)
            for (const std::string& w : config.warnings) std::fprintf(stderr, "%s\n", w.c_str());
        if (dump) std::fputs(sluice::dump_config(config).c_str(), stdout);
        if (!quiet) std::printf("%s: ok (%zu peers)\n", file, config.peers.size());
        return kExitValid;
    } catch (const sluice::ConfigError& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return kExitInvalid;
    } catch (const std::exception& e) {
        // Not a property of the file (out of memory, say): still no crash.
        std::fprintf(stderr, "%s: cannot check: %s\n", file, e.what());
        return kExitInvalid;
    }
}
