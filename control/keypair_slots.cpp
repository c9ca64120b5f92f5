#include "control/keypair_slots.hpp"

namespace sluice {
namespace {
void retire(KeypairSlots::Retired& out, std::unique_ptr<Keypair> kp) {
    if (kp) {
        kp->wipe();
        out.push_back(std::move(kp));
    }
}
}  // namespace

KeypairSlots::Retired KeypairSlots::install(std::unique_ptr<Keypair> keypair) {
    Retired out;
    if (!keypair) return out;
    if (keypair->we_initiated) {
        // An unconfirmed next is newer than current: it becomes previous, so a
        // packet the peer sent on it still decrypts.
        if (next_) {
            retire(out, std::move(previous_));
            previous_ = std::move(next_);
            retire(out, std::move(current_));
        } else {
            retire(out, std::move(previous_));
            previous_ = std::move(current_);
        }
        current_ = std::move(keypair);
    } else {
        retire(out, std::move(next_));
        retire(out, std::move(previous_));
        next_ = std::move(keypair);
    }
    return out;
}

KeypairSlots::Retired KeypairSlots::received_with(const Keypair* keypair, bool* promoted) {
    Retired out;
    if (promoted) *promoted = false;
    if (!keypair || keypair != next_.get()) return out;
    retire(out, std::move(previous_));
    previous_ = std::move(current_);
    current_ = std::move(next_);
    if (promoted) *promoted = true;
    return out;
}

KeypairSlots::Retired KeypairSlots::clear() {
    Retired out;
    retire(out, std::move(current_));
    retire(out, std::move(previous_));
    retire(out, std::move(next_));
    return out;
}

Keypair* KeypairSlots::find(uint32_t local_index) const noexcept {
    for (Keypair* kp : {current_.get(), previous_.get(), next_.get()})
        if (kp && kp->local_index == local_index) return kp;
    return nullptr;
}

}  // namespace sluice
