// A transport keypair: the symmetric session that one completed handshake
// yields. The control plane creates it (control/noise) and publishes it; the
// dataplane encrypts with the send half and decrypts with the receive half.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <optional>

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

// std::optional<Key> for private and preshared keys: the key is wiped when the
// object goes away, so a struct that holds one needs no destructor of its own.
class SecretKey : public std::optional<Key> {
public:
    using std::optional<Key>::optional;
    using std::optional<Key>::operator=;
    SecretKey() = default;
    SecretKey(const SecretKey&) = default;
    SecretKey(SecretKey&&) = default;  // the moved-from copy is wiped by its own destructor
    SecretKey& operator=(const SecretKey&) = default;
    SecretKey& operator=(SecretKey&&) = default;
    ~SecretKey() {
        if (has_value()) secure_wipe(&**this, sizeof(Key));
    }

    // std::optional's own comparisons are templates that find two equally
    // good matches for two SecretKeys; this one is exact.
    friend bool operator==(const SecretKey& a, const SecretKey& b) {
        return static_cast<const std::optional<Key>&>(a) ==
               static_cast<const std::optional<Key>&>(b);
    }
};

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
