// ChaCha20-Poly1305 (RFC 8439) over Intel ipsec-mb's multi-buffer engine.
//
// One AeadEngine per thread, each owning one IMB_MGR: the manager keeps a job
// queue and per-lane state, so it must never be shared between lcores. The
// SIMD level (SSE/AVX2/AVX-512) is chosen once, when the engine is created.
//
// Two shapes of call:
//   - single-shot seal/open with an explicit 12-byte nonce and associated data,
//     for known-answer tests and the handshake (where the AAD is the Noise hash);
//   - seal_burst/open_burst over an array of in-place operations, which hands a
//     whole burst to the engine at once so the multi-buffer lanes fill up.
//     Keys may differ per operation.
//
// WireGuard's nonce is 4 zero bytes followed by the 64-bit counter, little-endian.
//
// Nothing here allocates or throws after the engine exists; every per-packet
// function is noexcept.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <type_traits>

struct IMB_MGR;  // <intel-ipsec-mb.h>; kept out of this header so users need not include it

namespace sluice {

inline constexpr size_t kAeadKeyLen = 32;
inline constexpr size_t kAeadNonceLen = 12;
inline constexpr size_t kAeadTagSize = 16;

using AeadNonce = std::array<uint8_t, kAeadNonceLen>;
using AeadKeyView = std::span<const uint8_t, kAeadKeyLen>;

// WireGuard's transport nonce: 32 zero bits, then the counter little-endian.
constexpr void write_wireguard_nonce(uint8_t* nonce, uint64_t counter) noexcept {
    if (std::is_constant_evaluated() || std::endian::native != std::endian::little) {
        for (size_t i = 0; i < 4; ++i) nonce[i] = 0;
        for (size_t i = 0; i < 8; ++i) nonce[4 + i] = static_cast<uint8_t>(counter >> (8 * i));
    } else {
        // One 4-byte and one 8-byte store. The byte loop above is not merged
        // by GCC, and reading the nonce back after eight byte stores stalls on
        // store forwarding: measurable per packet at small sizes.
        std::memset(nonce, 0, 4);
        std::memcpy(nonce + 4, &counter, sizeof counter);
    }
}

constexpr AeadNonce wireguard_nonce(uint64_t counter) noexcept {
    AeadNonce nonce{};
    write_wireguard_nonce(nonce.data(), counter);
    return nonce;
}

// Compares two 16-byte tags in time independent of where they differ, so a
// forger learns nothing from how fast a wrong tag is refused.
inline bool tags_equal(const uint8_t* a, const uint8_t* b) noexcept {
    uint64_t a0, a1, b0, b1;
    std::memcpy(&a0, a, 8);
    std::memcpy(&a1, a + 8, 8);
    std::memcpy(&b0, b, 8);
    std::memcpy(&b1, b + 8, 8);
    return ((a0 ^ b0) | (a1 ^ b1)) == 0;
}

// One in-place operation of a burst.
//   seal: data holds len bytes of plaintext, becomes ciphertext; tag is written.
//   open: data holds len bytes of ciphertext, becomes plaintext; tag is read.
// `ok` is the only output besides data/tag. After a failed open, data holds
// unauthenticated bytes: the caller must drop them, never deliver them.
struct AeadOp {
    const uint8_t* key = nullptr;  // 32 bytes
    uint64_t counter = 0;          // nonce = wireguard_nonce(counter)
    uint8_t* data = nullptr;       // may be null when len == 0
    uint32_t len = 0;
    uint8_t* tag = nullptr;  // 16 bytes
    const uint8_t* aad = nullptr;
    uint32_t aad_len = 0;
    bool ok = false;
};

class AeadEngine {
public:
    // Operations handed to ipsec-mb in one submit; longer bursts go in chunks.
    // Well under IMB_MAX_BURST_SIZE (128) so the manager's queue never fills.
    static constexpr size_t kMaxBurst = 64;

    // Creates the manager and picks the best SIMD level this CPU has. Aborts
    // with a message if ipsec-mb cannot be set up: it only happens at start-up
    // (allocation failure, or a CPU without even SSE4.2/AES-NI).
    AeadEngine();
    ~AeadEngine();
    AeadEngine(const AeadEngine&) = delete;
    AeadEngine& operator=(const AeadEngine&) = delete;

    // The calling thread's engine, created on first use. Call it once while an
    // lcore starts so the set-up (and its log line) happens off the packet path.
    static AeadEngine& this_thread() noexcept;

    // "sse", "avx", "avx2", "avx512" or "noaesni": what init_mb_mgr_auto chose.
    [[nodiscard]] const char* simd_level() const noexcept { return simd_level_; }
    // Jobs ipsec-mb refused or did not complete. Always 0 unless there is a bug
    // in how jobs are built; kept so such a bug shows in counters, not silently.
    [[nodiscard]] uint64_t engine_errors() const noexcept { return engine_errors_; }

    // ---- Single-shot, explicit nonce --------------------------------------
    // `out` receives plaintext.size() bytes and may equal plaintext.data().
    // Returns false only if the engine failed (see engine_errors).
    bool seal(AeadKeyView key, const AeadNonce& nonce, std::span<const uint8_t> aad,
              std::span<const uint8_t> plaintext, uint8_t* out, uint8_t* tag) noexcept;
    // False when the tag does not verify; `out` is then zeroed so no
    // unauthenticated plaintext escapes.
    [[nodiscard]] bool open(AeadKeyView key, const AeadNonce& nonce, std::span<const uint8_t> aad,
                            std::span<const uint8_t> ciphertext, const uint8_t* tag,
                            uint8_t* out) noexcept;

    // ---- Single-shot, WireGuard counter nonce -----------------------------
    bool seal(AeadKeyView key, uint64_t counter, std::span<const uint8_t> aad,
              std::span<const uint8_t> plaintext, uint8_t* out, uint8_t* tag) noexcept {
        return seal(key, wireguard_nonce(counter), aad, plaintext, out, tag);
    }
    [[nodiscard]] bool open(AeadKeyView key, uint64_t counter, std::span<const uint8_t> aad,
                            std::span<const uint8_t> ciphertext, const uint8_t* tag,
                            uint8_t* out) noexcept {
        return open(key, wireguard_nonce(counter), aad, ciphertext, tag, out);
    }

    // ---- Bursts, in place, WireGuard counter nonce -------------------------
    void seal_burst(AeadOp* ops, size_t n) noexcept;
    void open_burst(AeadOp* ops, size_t n) noexcept;

private:
    enum class Direction : uint8_t { seal, open };

    void run_chunk(AeadOp* ops, size_t n, Direction direction) noexcept;
    bool run_single(const uint8_t* key, const AeadNonce& nonce, std::span<const uint8_t> aad,
                    const uint8_t* in, uint8_t* out, size_t len, uint8_t* tag_out,
                    Direction direction) noexcept;

    IMB_MGR* mgr_ = nullptr;  // owned; freed in the destructor
    const char* simd_level_ = "none";
    uint64_t engine_errors_ = 0;

    // Per-chunk scratch that must outlive the submit: ipsec-mb reads the nonce
    // and writes the computed tag through pointers stored in the jobs.
    alignas(64) std::array<AeadNonce, kMaxBurst> nonces_{};
    alignas(64) std::array<std::array<uint8_t, kAeadTagSize>, kMaxBurst> computed_tags_{};
};

}  // namespace sluice
