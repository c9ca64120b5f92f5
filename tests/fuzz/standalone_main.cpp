// Drives a libFuzzer target without libFuzzer: replays every file of a seed
// corpus, then feeds deterministic mutations of those seeds (bit flips,
// truncations, extensions, splices). Used in ordinary gcc builds so that every
// fuzz target builds and runs under `meson test`, sanitizers included.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

std::vector<uint8_t> read_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void run(const std::vector<uint8_t>& input) {
    // Copy into an exactly-sized heap buffer so ASan sees any overread.
    auto* buf = static_cast<uint8_t*>(std::malloc(input.size() ? input.size() : 1));
    if (!input.empty()) std::memcpy(buf, input.data(), input.size());
    LLVMFuzzerTestOneInput(buf, input.size());
    std::free(buf);
}

std::vector<uint8_t> mutate(std::vector<uint8_t> in, const std::vector<std::vector<uint8_t>>& seeds,
                            std::mt19937_64& rng) {
    const int rounds = 1 + static_cast<int>(rng() % 4);
    for (int r = 0; r < rounds; ++r) {
        switch (rng() % 6) {
            case 0:  // flip bits
                if (!in.empty()) in[rng() % in.size()] ^= static_cast<uint8_t>(1u << (rng() % 8));
                break;
            case 1:  // random byte
                if (!in.empty()) in[rng() % in.size()] = static_cast<uint8_t>(rng());
                break;
            case 2:  // truncate
                if (!in.empty()) in.resize(rng() % in.size());
                break;
            case 3:  // extend with random bytes
                for (size_t n = rng() % 64; n > 0; --n) in.push_back(static_cast<uint8_t>(rng()));
                break;
            case 4:  // splice with another seed
                if (!seeds.empty()) {
                    const auto& other = seeds[rng() % seeds.size()];
                    if (!other.empty()) {
                        size_t cut = in.empty() ? 0 : rng() % in.size();
                        size_t from = rng() % other.size();
                        in.resize(cut);
                        in.insert(in.end(), other.begin() + static_cast<long>(from), other.end());
                    }
                }
                break;
            default:  // insert an interesting byte value
                if (!in.empty()) {
                    static constexpr uint8_t kInteresting[] = {0,    1,    2,   3,    4,   0x7f,
                                                               0x80, 0xff, ':', '\n', '-', '['};
                    in[rng() % in.size()] = kInteresting[rng() % sizeof(kInteresting)];
                }
                break;
        }
    }
    return in;
}

}  // namespace

int main(int argc, char** argv) {
    long runs = 10000;
    std::vector<std::vector<uint8_t>> seeds;
    for (int i = 1; i < argc; ++i) {
        if (std::strncmp(argv[i], "--runs=", 7) == 0) {
            runs = std::strtol(argv[i] + 7, nullptr, 10);
            continue;
        }
        std::filesystem::path p(argv[i]);
        if (std::filesystem::is_directory(p)) {
            for (const auto& e : std::filesystem::directory_iterator(p))
                if (e.is_regular_file()) seeds.push_back(read_file(e.path()));
        } else {
            seeds.push_back(read_file(p));
        }
    }
    if (seeds.empty()) seeds.push_back({});
    for (const auto& s : seeds) run(s);
    std::mt19937_64 rng(0x5eed);
    for (long i = 0; i < runs; ++i) run(mutate(seeds[rng() % seeds.size()], seeds, rng));
    std::printf("%zu seeds and %ld mutated inputs ran without a crash\n", seeds.size(), runs);
    return 0;
}
