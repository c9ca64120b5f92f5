// ChaCha20-Poly1305 over ipsec-mb's burst API (see aead.hpp for the contract).
//
// Invariant: the manager's job queue is empty whenever no call of this class
// is running. Every call gets its jobs with IMB_GET_NEXT_BURST, submits them
// with IMB_SUBMIT_BURST and collects the stragglers with IMB_FLUSH_BURST
// before returning, so nothing is ever left in flight between calls and the
// scratch arrays (nonces, computed tags) can be reused by the next call.

// Keep ipsec-mb's pre-0.53 compatibility macros (ENCRYPT, MAX_JOBS, ...) out
// of our namespace: they are plain words that collide with ordinary names.
#define NO_COMPAT_IMB_API_053
#include "dataplane/aead.hpp"

#include <intel-ipsec-mb.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace sluice {
namespace {

static_assert(AeadEngine::kMaxBurst <= IMB_MAX_BURST_SIZE);
static_assert(kAeadTagSize == 16 && kAeadKeyLen == 32 && kAeadNonceLen == 12);

// ipsec-mb refuses a null pointer for src/dst/aad only when the length is
// non-zero, but keeping every pointer valid costs nothing and spares us
// relying on that detail for keepalives (zero-length payloads).
alignas(16) constexpr uint8_t kEmpty[16] = {};

const char* arch_name(IMB_ARCH arch) noexcept {
    switch (arch) {
        case IMB_ARCH_NOAESNI:
            return "noaesni";
        case IMB_ARCH_SSE:
            return "sse";
        case IMB_ARCH_AVX:
            return "avx";
        case IMB_ARCH_AVX2:
            return "avx2";
        case IMB_ARCH_AVX512:
            return "avx512";
        default:
            return "none";
    }
}

struct JobSpec {
    const uint8_t* key;
    const uint8_t* nonce;
    const uint8_t* aad;
    uint64_t aad_len;
    const uint8_t* src;
    uint8_t* dst;
    uint64_t len;
    uint8_t* tag_out;  // seal: the tag; open: where ipsec-mb puts the tag it computes
};

void fill_job(IMB_JOB* job, const JobSpec& spec, bool seal) noexcept {
    // Jobs come from a ring the manager reuses, so every field the
    // ChaCha20-Poly1305 path reads is set here, never assumed from last time.
    job->cipher_mode = IMB_CIPHER_CHACHA20_POLY1305;
    job->hash_alg = IMB_AUTH_CHACHA20_POLY1305;
    // AEAD: encrypt-then-MAC when sealing, MAC-then-decrypt when opening.
    job->cipher_direction = seal ? IMB_DIR_ENCRYPT : IMB_DIR_DECRYPT;
    job->chain_order = seal ? IMB_ORDER_CIPHER_HASH : IMB_ORDER_HASH_CIPHER;
    job->enc_keys = spec.key;
    job->dec_keys = spec.key;
    job->key_len_in_bytes = kAeadKeyLen;
    job->src = spec.src != nullptr ? spec.src : kEmpty;
    job->dst = spec.dst != nullptr ? spec.dst : const_cast<uint8_t*>(kEmpty);
    job->cipher_start_src_offset_in_bytes = 0;
    job->msg_len_to_cipher_in_bytes = spec.len;
    job->hash_start_src_offset_in_bytes = 0;
    job->msg_len_to_hash_in_bytes = spec.len;
    job->iv = spec.nonce;
    job->iv_len_in_bytes = kAeadNonceLen;
    job->auth_tag_output = spec.tag_out;
    job->auth_tag_output_len_in_bytes = kAeadTagSize;
    job->u.CHACHA20_POLY1305.aad = spec.aad != nullptr ? spec.aad : kEmpty;
    job->u.CHACHA20_POLY1305.aad_len_in_bytes = spec.aad_len;
    job->u.CHACHA20_POLY1305.ctx = nullptr;  // only the SGL variant uses a context
}

}  // namespace

AeadEngine::AeadEngine() {
    mgr_ = alloc_mb_mgr(0);
    if (mgr_ == nullptr) {
        std::fprintf(stderr, "sluice: aead: alloc_mb_mgr failed (out of memory)\n");
        std::abort();
    }
    IMB_ARCH arch = IMB_ARCH_NONE;
    init_mb_mgr_auto(mgr_, &arch);
    if (const int err = imb_get_errno(mgr_); err != 0 || arch == IMB_ARCH_NONE) {
        std::fprintf(stderr, "sluice: aead: init_mb_mgr_auto failed: %s\n", imb_get_strerror(err));
        std::abort();
    }
    simd_level_ = arch_name(arch);
}

AeadEngine::~AeadEngine() {
    free_mb_mgr(mgr_);
}

AeadEngine& AeadEngine::this_thread() noexcept {
    thread_local AeadEngine engine;
    thread_local bool announced = false;
    if (!announced) [[unlikely]] {
        announced = true;
        std::fprintf(stderr, "sluice: aead: ipsec-mb %s, %s code path\n", imb_get_version_str(),
                     engine.simd_level());
    }
    return engine;
}

bool AeadEngine::run_single(const uint8_t* key, const AeadNonce& nonce,
                            std::span<const uint8_t> aad, const uint8_t* in, uint8_t* out,
                            size_t len, uint8_t* tag_out, Direction direction) noexcept {
    IMB_JOB* jobs[1];
    if (IMB_GET_NEXT_BURST(mgr_, 1, jobs) != 1) {
        ++engine_errors_;
        return false;
    }
    fill_job(jobs[0], JobSpec{key, nonce.data(), aad.data(), aad.size(), in, out, len, tag_out},
             direction == Direction::seal);
    uint32_t done = IMB_SUBMIT_BURST(mgr_, 1, jobs);
    if (done == 0) {
        if (imb_get_errno(mgr_) != 0) {  // refused: nothing was queued
            ++engine_errors_;
            return false;
        }
        done = IMB_FLUSH_BURST(mgr_, 1, jobs);
    }
    if (done != 1 || jobs[0]->status != IMB_STATUS_COMPLETED) {
        ++engine_errors_;
        return false;
    }
    return true;
}

bool AeadEngine::seal(AeadKeyView key, const AeadNonce& nonce, std::span<const uint8_t> aad,
                      std::span<const uint8_t> plaintext, uint8_t* out, uint8_t* tag) noexcept {
    return run_single(key.data(), nonce, aad, plaintext.data(), out, plaintext.size(), tag,
                      Direction::seal);
}

bool AeadEngine::open(AeadKeyView key, const AeadNonce& nonce, std::span<const uint8_t> aad,
                      std::span<const uint8_t> ciphertext, const uint8_t* tag,
                      uint8_t* out) noexcept {
    uint8_t computed[kAeadTagSize];
    const bool ran = run_single(key.data(), nonce, aad, ciphertext.data(), out, ciphertext.size(),
                                computed, Direction::open);
    if (ran && tags_equal(computed, tag)) return true;
    // The handshake decrypts into buffers it may look at again: leave nothing
    // there that was never authenticated.
    if (out != nullptr && !ciphertext.empty()) std::memset(out, 0, ciphertext.size());
    return false;
}

void AeadEngine::run_chunk(AeadOp* ops, size_t n, Direction direction) noexcept {
    const bool sealing = direction == Direction::seal;
    IMB_JOB* jobs[kMaxBurst];

    const uint32_t available = IMB_GET_NEXT_BURST(mgr_, static_cast<uint32_t>(n), jobs);
    uint32_t queued = 0;
    for (size_t i = 0; i < n; ++i) {
        AeadOp& op = ops[i];
        op.ok = false;
        // A malformed op is the caller's bug; refuse it alone rather than let
        // ipsec-mb's validation reject the whole burst.
        const bool malformed = op.key == nullptr || op.tag == nullptr ||
                               (op.data == nullptr && op.len != 0) ||
                               (op.aad == nullptr && op.aad_len != 0);
        if (malformed || queued == available) [[unlikely]] {
            ++engine_errors_;
            continue;
        }
        write_wireguard_nonce(nonces_[i].data(), op.counter);
        uint8_t* tag_out = sealing ? op.tag : computed_tags_[i].data();
        fill_job(jobs[queued],
                 JobSpec{op.key, nonces_[i].data(), op.aad, op.aad_len, op.data, op.data, op.len,
                         tag_out},
                 sealing);
        jobs[queued]->user_data = &op;
        ++queued;
    }
    if (queued == 0) return;

    // Completed jobs come back through `jobs` in submission order, but the op
    // (and from its position, its nonce and computed-tag slot) is found
    // through user_data, so nothing depends on that order.
    auto complete = [&](IMB_JOB* job) noexcept {
        auto* op = static_cast<AeadOp*>(job->user_data);
        if (job->status != IMB_STATUS_COMPLETED) [[unlikely]] {
            ++engine_errors_;
            return;
        }
        if (sealing) {
            op->ok = true;
        } else {
            const size_t slot = static_cast<size_t>(op - ops);
            op->ok = tags_equal(computed_tags_[slot].data(), op->tag);
        }
    };

    uint32_t done = IMB_SUBMIT_BURST(mgr_, queued, jobs);
    if (done == 0 && imb_get_errno(mgr_) != 0) [[unlikely]] {
        // The whole burst was refused and nothing was queued. Every op stays
        // !ok; count them so the bug is visible.
        engine_errors_ += queued;
        return;
    }
    for (uint32_t i = 0; i < done; ++i) complete(jobs[i]);
    // Multi-buffer lanes hold jobs until enough arrive to fill them; a burst
    // is all we will get for now, so force the rest out.
    while (done < queued) {
        const uint32_t flushed = IMB_FLUSH_BURST(mgr_, queued - done, jobs);
        if (flushed == 0) [[unlikely]] {
            engine_errors_ += queued - done;
            return;
        }
        for (uint32_t i = 0; i < flushed; ++i) complete(jobs[i]);
        done += flushed;
    }
}

void AeadEngine::seal_burst(AeadOp* ops, size_t n) noexcept {
    for (size_t start = 0; start < n; start += kMaxBurst) {
        run_chunk(ops + start, std::min(kMaxBurst, n - start), Direction::seal);
    }
}

void AeadEngine::open_burst(AeadOp* ops, size_t n) noexcept {
    for (size_t start = 0; start < n; start += kMaxBurst) {
        run_chunk(ops + start, std::min(kMaxBurst, n - start), Direction::open);
    }
}

}  // namespace sluice
