// A peer's keypairs: current, previous and next, rotated as WireGuard does.
//
//   initiator derives K:  previous = current (or an unconfirmed next), current = K
//   responder derives K:  next = K, previous dropped; K may not send yet
//   first authenticated packet received on next:  previous = current, current = next
//
// The responder cannot know that the initiator got its response until data
// arrives on the new keypair, so it keeps sending on the old current until
// then; the previous keypair keeps decrypting packets that were in flight
// during a rekey. Every keypair that falls out of the slots is handed back so
// the caller can unregister its receiver index and publish the change.
//
// Control thread only; lcores will read a published copy (RCU) later.
#pragma once

#include <memory>
#include <vector>

#include "dataplane/keypair.hpp"

namespace sluice {

class KeypairSlots {
public:
    using Retired = std::vector<std::unique_ptr<Keypair>>;

    // Installs a freshly derived keypair; returns the keypairs it displaced.
    Retired install(std::unique_ptr<Keypair> keypair);

    // Call for every authenticated transport packet: confirms `next` when the
    // packet came on it. Returns the keypair that fell out, if any. True in
    // `promoted` when next became current.
    Retired received_with(const Keypair* keypair, bool* promoted = nullptr);

    // Wipes and returns every keypair (key zeroing, peer removal).
    Retired clear();

    [[nodiscard]] Keypair* current() const noexcept { return current_.get(); }
    [[nodiscard]] Keypair* previous() const noexcept { return previous_.get(); }
    [[nodiscard]] Keypair* next() const noexcept { return next_.get(); }

    // The keypair whose local index is `index`, in any slot.
    [[nodiscard]] Keypair* find(uint32_t local_index) const noexcept;

private:
    std::unique_ptr<Keypair> current_, previous_, next_;
};

}  // namespace sluice
