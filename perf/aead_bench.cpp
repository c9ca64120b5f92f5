// aead-bench: what sluice's ChaCha20-Poly1305 wrapper (dataplane/aead) costs
// over calling ipsec-mb's burst API directly.
//
// Both sides do the same work per burst: build the WireGuard nonces, fill the
// jobs, IMB_GET_NEXT_BURST / IMB_SUBMIT_BURST / IMB_FLUSH_BURST, check job
// status and, when opening, compare the tags in constant time. "raw" is that
// written inline against its own IMB_MGR; "wrapper" is AeadEngine::seal_burst /
// open_burst. One thread, one key, in place, counters advancing per packet.
//
// Measurement: warm-up and calibration, then --reps repetitions of each side,
// interleaved (raw, wrapper, wrapper, raw, ...) so drift and neighbours' noise
// hit both alike; each repetition runs enough bursts to last about
// --seconds / (2 * reps). Reported: median and min ns/packet, Mpps and Gbit/s
// (plaintext bytes) at the median, TSC cycles/packet, and the wrapper's
// overhead relative to raw.
//
// open: the buffers toggle between ciphertext and plaintext (ChaCha20 is an
// XOR stream), so every other pass fails authentication. That costs the same
// as success: ipsec-mb always decrypts and computes the full tag, and the
// comparison is constant-time.
//
// A benchmark, not a test: it never fails on a figure.
#define NO_COMPAT_IMB_API_053
#include <intel-ipsec-mb.h>
#include <rte_cycles.h>
#include <sched.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/aead.hpp"

namespace {

using sluice::AeadEngine;
using sluice::AeadNonce;
using sluice::AeadOp;
using Clock = std::chrono::steady_clock;

enum class Op { seal, open };
enum class Impl { raw, wrapper };

const char* name(Op op) {
    return op == Op::seal ? "seal" : "open";
}
const char* name(Impl impl) {
    return impl == Impl::raw ? "raw" : "wrapper";
}

struct Options {
    std::vector<uint32_t> sizes = {64, 512, 1420};
    unsigned reps = 21;
    double seconds = 2.0;  // per size and op, both sides together
    unsigned burst = 32;
    std::vector<Op> ops = {Op::seal, Op::open};
    int cpu = -1;
    bool json = false;
};

[[noreturn]] void usage(const char* argv0, int status) {
    std::fprintf(status == 0 ? stdout : stderr,
                 "usage: %s [--sizes 64,512,1420] [--reps N] [--seconds S] [--burst N]\n"
                 "          [--ops seal,open] [--cpu N] [--json]\n"
                 "  --seconds  measuring time per size and op, raw and wrapper together\n"
                 "  --cpu      pin the thread to this CPU first\n",
                 argv0);
    std::exit(status);
}

std::vector<std::string> split(std::string_view text) {
    std::vector<std::string> parts;
    size_t start = 0;
    while (start <= text.size()) {
        const size_t comma = std::min(text.find(',', start), text.size());
        parts.emplace_back(text.substr(start, comma - start));
        start = comma + 1;
    }
    return parts;
}

Options parse(int argc, char** argv) {
    Options o;
    try {
        for (int i = 1; i < argc; ++i) {
            const std::string_view arg = argv[i];
            auto value = [&]() -> std::string {
                if (i + 1 >= argc) throw std::invalid_argument(std::string(arg) + " needs a value");
                return argv[++i];
            };
            if (arg == "--sizes") {
                o.sizes.clear();
                for (const auto& s : split(value())) o.sizes.push_back(std::stoul(s));
            } else if (arg == "--reps") {
                o.reps = std::stoul(value());
            } else if (arg == "--seconds") {
                o.seconds = std::stod(value());
            } else if (arg == "--burst") {
                o.burst = std::stoul(value());
            } else if (arg == "--ops") {
                o.ops.clear();
                for (const auto& s : split(value())) {
                    if (s == "seal") {
                        o.ops.push_back(Op::seal);
                    } else if (s == "open") {
                        o.ops.push_back(Op::open);
                    } else {
                        throw std::invalid_argument("unknown op " + s);
                    }
                }
            } else if (arg == "--cpu") {
                o.cpu = std::stoi(value());
            } else if (arg == "--json") {
                o.json = true;
            } else if (arg == "--help" || arg == "-h") {
                usage(argv[0], 0);
            } else {
                throw std::invalid_argument("unknown option " + std::string(arg));
            }
        }
        if (o.reps == 0 || o.seconds <= 0 || o.sizes.empty() || o.ops.empty())
            throw std::invalid_argument("reps, seconds, sizes and ops must be positive/non-empty");
        // Larger bursts would be split by the wrapper but not by the raw side.
        if (o.burst == 0 || o.burst > AeadEngine::kMaxBurst)
            throw std::invalid_argument("burst must be 1.." +
                                        std::to_string(AeadEngine::kMaxBurst));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "aead-bench: %s\n", e.what());
        usage(argv[0], 2);
    }
    return o;
}

// ---- The raw side: ipsec-mb's burst API with nothing in between -----------

class RawIpsecMb {
public:
    RawIpsecMb() {
        mgr_ = alloc_mb_mgr(0);
        if (mgr_ == nullptr) throw std::runtime_error("alloc_mb_mgr failed");
        init_mb_mgr_auto(mgr_, &arch_);
        if (imb_get_errno(mgr_) != 0) throw std::runtime_error("init_mb_mgr_auto failed");
    }
    ~RawIpsecMb() { free_mb_mgr(mgr_); }
    RawIpsecMb(const RawIpsecMb&) = delete;
    RawIpsecMb& operator=(const RawIpsecMb&) = delete;

    // Returns how many jobs completed and (for open) authenticated.
    uint32_t run(Op op, const uint8_t* key, uint64_t first_counter, uint8_t* const* data,
                 uint32_t len, uint8_t* const* tags, uint32_t n) {
        const bool seal = op == Op::seal;
        IMB_JOB* jobs[IMB_MAX_BURST_SIZE];
        const uint32_t got = IMB_GET_NEXT_BURST(mgr_, n, jobs);
        for (uint32_t i = 0; i < got; ++i) {
            const uint64_t counter = first_counter + i;
            std::memset(nonces_[i].data(), 0, 4);
            std::memcpy(nonces_[i].data() + 4, &counter, 8);  // little-endian host
            IMB_JOB* job = jobs[i];
            job->cipher_mode = IMB_CIPHER_CHACHA20_POLY1305;
            job->hash_alg = IMB_AUTH_CHACHA20_POLY1305;
            job->cipher_direction = seal ? IMB_DIR_ENCRYPT : IMB_DIR_DECRYPT;
            job->chain_order = seal ? IMB_ORDER_CIPHER_HASH : IMB_ORDER_HASH_CIPHER;
            job->enc_keys = key;
            job->dec_keys = key;
            job->key_len_in_bytes = 32;
            job->src = data[i];
            job->dst = data[i];
            job->cipher_start_src_offset_in_bytes = 0;
            job->msg_len_to_cipher_in_bytes = len;
            job->hash_start_src_offset_in_bytes = 0;
            job->msg_len_to_hash_in_bytes = len;
            job->iv = nonces_[i].data();
            job->iv_len_in_bytes = 12;
            job->auth_tag_output = seal ? tags[i] : computed_[i].data();
            job->auth_tag_output_len_in_bytes = 16;
            job->u.CHACHA20_POLY1305.aad = kNoAad;
            job->u.CHACHA20_POLY1305.aad_len_in_bytes = 0;
            job->u.CHACHA20_POLY1305.ctx = nullptr;
            job->user_data2 = reinterpret_cast<void*>(uintptr_t{i});
        }
        uint32_t good = 0;
        auto complete = [&](IMB_JOB* job) {
            if (job->status != IMB_STATUS_COMPLETED) return;
            const auto i = reinterpret_cast<uintptr_t>(job->user_data2);
            good += seal || sluice::tags_equal(computed_[i].data(), tags[i]);
        };
        uint32_t done = IMB_SUBMIT_BURST(mgr_, got, jobs);
        for (uint32_t i = 0; i < done; ++i) complete(jobs[i]);
        while (done < got) {
            const uint32_t flushed = IMB_FLUSH_BURST(mgr_, got - done, jobs);
            if (flushed == 0) break;
            for (uint32_t i = 0; i < flushed; ++i) complete(jobs[i]);
            done += flushed;
        }
        return good;
    }

private:
    static constexpr uint8_t kNoAad[16] = {};
    IMB_MGR* mgr_ = nullptr;
    IMB_ARCH arch_ = IMB_ARCH_NONE;
    alignas(64) std::array<AeadNonce, IMB_MAX_BURST_SIZE> nonces_{};
    alignas(64) std::array<std::array<uint8_t, 16>, IMB_MAX_BURST_SIZE> computed_{};
};

// ---- One measurement set-up: a burst of buffers of one size ---------------

struct Workload {
    std::array<uint8_t, 32> key{};
    std::vector<uint8_t> arena;  // buffers, each on its own cache lines
    std::vector<uint8_t*> data;
    std::vector<std::array<uint8_t, 16>> tag_storage;
    std::vector<uint8_t*> tags;
    std::vector<AeadOp> ops;
    uint32_t len;
    uint64_t counter = 0;

    Workload(uint32_t size, unsigned burst) : len(size) {
        for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(i * 29 + 3);
        const size_t stride = (size + 63) / 64 * 64 + 64;
        arena.assign(stride * burst + 64, 0);
        auto* base = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(arena.data()) + 63) &
                                                ~uintptr_t{63});
        tag_storage.resize(burst);
        for (unsigned i = 0; i < burst; ++i) {
            data.push_back(base + i * stride);
            for (uint32_t j = 0; j < size; ++j) data[i][j] = static_cast<uint8_t>(i + j);
            tags.push_back(tag_storage[i].data());
            ops.push_back(AeadOp{.key = key.data(), .data = data[i], .len = size, .tag = tags[i]});
        }
    }
};

// Runs `bursts` bursts of one side; returns how many ops succeeded (kept so
// the work cannot be optimised away).
uint64_t run_bursts(Impl impl, Op op, Workload& w, RawIpsecMb& raw, AeadEngine& engine,
                    uint64_t bursts) {
    const auto n = static_cast<uint32_t>(w.data.size());
    uint64_t good = 0;
    for (uint64_t b = 0; b < bursts; ++b) {
        // open reuses one counter range so the toggling buffers stay openable;
        // seal advances like a real sender.
        const uint64_t first = op == Op::seal ? (w.counter += n) : 0;
        if (impl == Impl::raw) {
            good += raw.run(op, w.key.data(), first, w.data.data(), w.len, w.tags.data(), n);
        } else {
            for (uint32_t i = 0; i < n; ++i) w.ops[i].counter = first + i;
            if (op == Op::seal)
                engine.seal_burst(w.ops.data(), n);
            else
                engine.open_burst(w.ops.data(), n);
            for (uint32_t i = 0; i < n; ++i) good += w.ops[i].ok;
        }
    }
    return good;
}

struct Sample {
    double ns_per_packet;
    double cycles_per_packet;
};

struct Stats {
    double median_ns, min_ns, median_cycles;
};

Stats summarise(std::vector<Sample> samples) {
    auto median_of = [](std::vector<double> v) {
        std::sort(v.begin(), v.end());
        const size_t m = v.size() / 2;
        return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
    };
    std::vector<double> ns, cycles;
    for (const Sample& s : samples) {
        ns.push_back(s.ns_per_packet);
        cycles.push_back(s.cycles_per_packet);
    }
    return Stats{median_of(ns), *std::min_element(ns.begin(), ns.end()), median_of(cycles)};
}

struct Row {
    Op op;
    uint32_t size;
    Stats raw, wrapper;
};

double overhead_pct(double wrapper, double raw) {
    return (wrapper / raw - 1.0) * 100.0;
}

Row measure(Op op, uint32_t size, const Options& o, RawIpsecMb& raw, AeadEngine& engine,
            volatile uint64_t& sink) {
    Workload w(size, o.burst);
    if (op == Op::open) {
        // Start from real ciphertext and tags, under counters 0..n-1: the
        // range run_bursts uses for open.
        for (uint32_t i = 0; i < w.ops.size(); ++i) w.ops[i].counter = i;
        engine.seal_burst(w.ops.data(), w.ops.size());
    }

    // Warm-up (caches, branch predictors, clock ramp) and calibration.
    const double per_rep_s = o.seconds / (2.0 * o.reps);
    uint64_t bursts = 16;
    for (;;) {
        const auto t0 = Clock::now();
        sink = sink + run_bursts(Impl::raw, op, w, raw, engine, bursts);
        sink = sink + run_bursts(Impl::wrapper, op, w, raw, engine, bursts);
        const double took = std::chrono::duration<double>(Clock::now() - t0).count() / 2;
        if (took >= std::min(0.05, per_rep_s / 2)) {
            bursts = std::max<uint64_t>(1, static_cast<uint64_t>(bursts * per_rep_s / took));
            break;
        }
        bursts *= 2;
    }

    std::vector<Sample> raw_samples, wrapper_samples;
    const double packets = static_cast<double>(bursts) * o.burst;
    for (unsigned rep = 0; rep < o.reps; ++rep) {
        for (int k = 0; k < 2; ++k) {
            // ABBA order: each side goes first half of the time.
            const Impl impl = (k == 0) == (rep % 2 == 0) ? Impl::raw : Impl::wrapper;
            const uint64_t c0 = rte_rdtsc();
            const auto t0 = Clock::now();
            sink = sink + run_bursts(impl, op, w, raw, engine, bursts);
            const auto t1 = Clock::now();
            const uint64_t c1 = rte_rdtsc();
            const Sample s{std::chrono::duration<double, std::nano>(t1 - t0).count() / packets,
                           static_cast<double>(c1 - c0) / packets};
            (impl == Impl::raw ? raw_samples : wrapper_samples).push_back(s);
        }
    }
    return Row{op, size, summarise(raw_samples), summarise(wrapper_samples)};
}

std::string cpu_model() {
    std::ifstream cpuinfo("/proc/cpuinfo");
    for (std::string line; std::getline(cpuinfo, line);) {
        if (line.rfind("model name", 0) == 0) {
            const size_t colon = line.find(':');
            if (colon != std::string::npos)
                return line.substr(line.find_first_not_of(' ', colon + 1));
        }
    }
    return "unknown";
}

std::string today() {
    const std::time_t now = std::time(nullptr);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d", std::gmtime(&now));
    return buf;
}

void print_table(const std::vector<Row>& rows, const Options& o, const char* simd,
                 const std::string& cpu) {
    std::printf(
        "aead-bench: ChaCha20-Poly1305, ipsec-mb %s (%s), burst %u, %u reps, %.1f s per "
        "size and op\n",
        imb_get_version_str(), simd, o.burst, o.reps, o.seconds);
    std::printf("cpu: %s, date: %s\n\n", cpu.c_str(), today().c_str());
    std::printf("%-4s %6s %-8s %11s %11s %9s %8s %8s %12s %12s\n", "op", "bytes", "impl",
                "ns/pkt med", "ns/pkt min", "cyc/pkt", "Mpps", "Gbit/s", "overhead med",
                "overhead min");
    for (const Row& r : rows) {
        for (Impl impl : {Impl::raw, Impl::wrapper}) {
            const Stats& s = impl == Impl::raw ? r.raw : r.wrapper;
            std::printf("%-4s %6u %-8s %11.1f %11.1f %9.0f %8.3f %8.2f", name(r.op), r.size,
                        name(impl), s.median_ns, s.min_ns, s.median_cycles, 1e3 / s.median_ns,
                        r.size * 8.0 / s.median_ns);
            if (impl == Impl::wrapper) {
                std::printf(" %+11.2f%% %+11.2f%%",
                            overhead_pct(r.wrapper.median_ns, r.raw.median_ns),
                            overhead_pct(r.wrapper.min_ns, r.raw.min_ns));
            }
            std::printf("\n");
        }
    }
}

void print_json(const std::vector<Row>& rows, const Options& o, const char* simd,
                const std::string& cpu) {
    std::printf(
        "{\"benchmark\":\"aead-bench\",\"aead\":\"chacha20-poly1305\",\"ipsec_mb\":\"%s\","
        "\"simd\":\"%s\",\"cpu\":\"%s\",\"date\":\"%s\",\"burst\":%u,\"reps\":%u,"
        "\"seconds\":%g,\"results\":[",
        imb_get_version_str(), simd, cpu.c_str(), today().c_str(), o.burst, o.reps, o.seconds);
    for (size_t i = 0; i < rows.size(); ++i) {
        const Row& r = rows[i];
        auto side = [&](const char* key, const Stats& s) {
            std::printf(
                "\"%s\":{\"ns_per_packet_median\":%.3f,\"ns_per_packet_min\":%.3f,"
                "\"cycles_per_packet_median\":%.1f,\"mpps\":%.4f,\"gbit_per_s\":%.4f}",
                key, s.median_ns, s.min_ns, s.median_cycles, 1e3 / s.median_ns,
                r.size * 8.0 / s.median_ns);
        };
        std::printf("%s{\"op\":\"%s\",\"bytes\":%u,", i ? "," : "", name(r.op), r.size);
        side("raw", r.raw);
        std::printf(",");
        side("wrapper", r.wrapper);
        std::printf(",\"overhead_pct_median\":%.3f,\"overhead_pct_min\":%.3f}",
                    overhead_pct(r.wrapper.median_ns, r.raw.median_ns),
                    overhead_pct(r.wrapper.min_ns, r.raw.min_ns));
    }
    std::printf("]}\n");
}

}  // namespace

int main(int argc, char** argv) {
    const Options o = parse(argc, argv);
    if (o.cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(o.cpu, &set);
        if (sched_setaffinity(0, sizeof set, &set) != 0) {
            std::perror("aead-bench: sched_setaffinity");
            return 1;
        }
    }
    try {
        RawIpsecMb raw;
        AeadEngine engine;
        volatile uint64_t sink = 0;
        std::vector<Row> rows;
        for (Op op : o.ops) {
            for (uint32_t size : o.sizes) rows.push_back(measure(op, size, o, raw, engine, sink));
        }
        const std::string cpu = cpu_model();
        if (o.json)
            print_json(rows, o, engine.simd_level(), cpu);
        else
            print_table(rows, o, engine.simd_level(), cpu);
        if (engine.engine_errors() != 0) {
            std::fprintf(stderr, "aead-bench: %llu engine errors\n",
                         static_cast<unsigned long long>(engine.engine_errors()));
            return 1;
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "aead-bench: %s\n", e.what());
        return 1;
    }
    return 0;
}
