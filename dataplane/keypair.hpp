// A transport keypair: the symmetric session that one completed handshake
// yields. The control plane creates it (control/noise) and publishes it; the
// dataplane encrypts with the send half and decrypts with the receive half.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>

#include "dataplane/replay_window.hpp"
#include "dataplane/wire.hpp"

namespace sluice {

using Key = std::array<uint8_t, wire::kKeyLen>;

// Overwrites memory in a way the compiler may not elide. (A volatile loop,
// not explicit_bzero: GCC 12's -fsanitize=undefined clones trip a false
// "argument 1 is null" warning on explicit_bzero under -Werror.)
inline void secure_wipe(void* p, size_t n) noexcept {
    volatile uint8_t* bytes = static_cast<volatile uint8_t*>(p);
    for (size_t i = 0; i < n; ++i) bytes[i] = 0;
}

struct Keypair {
    // All of these: control writes once before the keypair is published;
    // lcores read only.
    Key send_key{};
    Key receive_key{};
    uint32_t local_index = 0;   // the index peers put in messages to us
    uint32_t remote_index = 0;  // the index we put in messages to the peer
    bool we_initiated = false;  // the initiator may send first; the responder waits
    int64_t birth_ns = 0;       // when the handshake completed (injected clock)

    // lcores: fetch_add a whole burst at a time, so nonces never repeat even
    // when several lcores send on one keypair.
    std::atomic<uint64_t> send_counter{0};

    // lcores: set (relaxed) once an authenticated packet arrived on it. For a
    // responder's `next` keypair that is the initiator's confirmation, and
    // lcores send on it from then on, before the control thread has rotated
    // it into `current`: the peer may already have dropped the old one.
    std::atomic<bool> received{false};
    // The lcore that owns the receive side: -1 until the first lcore to
    // receive on the keypair claims it (compare-and-swap); fixed from then on.
    std::atomic<int32_t> rx_owner{-1};
    // Owner lcore of the receive side: reads and writes; nobody else touches it.
    ReplayWindow replay;

    Keypair() = default;
    Keypair(const Keypair&) = delete;
    Keypair& operator=(const Keypair&) = delete;
    ~Keypair() { wipe(); }

    void wipe() noexcept {
        secure_wipe(send_key.data(), send_key.size());
        secure_wipe(receive_key.data(), receive_key.size());
    }
};

}  // namespace sluice
