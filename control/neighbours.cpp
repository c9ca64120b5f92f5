// Neighbour resolution for one L2 port: the per-address state machine that
// neighbours.hpp describes (incomplete, reachable, probing, failed, static).
// Every transition happens in one of three places: want() (a packet found no
// MAC), learned() (an ARP / ND message arrived) and tick() (a deadline passed).
// Each slot keeps one deadline, `next`, whose meaning depends on its state:
//   incomplete, probing  the next request, or giving up after the last one
//   reachable            when it goes stale and probing starts
//   failed               when the hold is over and the entry goes away
//   static               none
#include "control/neighbours.hpp"

#include <cstdio>
#include <utility>

namespace sluice {

namespace {

// Whether packets may be sent with the entry's MAC.
bool is_usable(NeighbourState state) noexcept {
    return state == NeighbourState::reachable || state == NeighbourState::probing ||
           state == NeighbourState::permanent;
}

// Moves every waiting packet to the end of `to`, oldest first; how many.
size_t move_queue(std::deque<void*>& queue, std::vector<void*>& to) {
    const size_t n = queue.size();
    to.insert(to.end(), queue.begin(), queue.end());
    queue.clear();
    return n;
}

// Queues `packet` and, while more than `limit` wait, moves the oldest to
// `dropped`; how many were dropped.
size_t enqueue(std::deque<void*>& queue, void* packet, size_t limit, std::vector<void*>& dropped) {
    queue.push_back(packet);
    size_t n = 0;
    while (queue.size() > limit) {
        dropped.push_back(queue.front());
        queue.pop_front();
        ++n;
    }
    return n;
}

}  // namespace

std::string mac_to_string(const MacAddress& mac) {
    char text[18];
    std::snprintf(text, sizeof text, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2],
                  mac[3], mac[4], mac[5]);
    return text;
}

const char* to_string(NeighbourState state) noexcept {
    switch (state) {
        case NeighbourState::incomplete:
            return "incomplete";
        case NeighbourState::reachable:
            return "reachable";
        case NeighbourState::probing:
            return "probing";
        case NeighbourState::failed:
            return "failed";
        case NeighbourState::permanent:
            return "static";
    }
    return "unknown";
}

// ---- Configuration -----------------------------------------------------------

void NeighbourResolver::add_static(const IpAddress& address, const MacAddress& mac) {
    // Configured entries do not count against max_entries (that bounds
    // learning). Packets that were waiting stay queued: there is no `out` to
    // release them into here, so the next want() sends them ahead of its own.
    Slot& slot = slots_[address];
    slot.state = NeighbourState::permanent;
    slot.mac = mac;
    slot.tries = 0;
    slot.since = Time{0};  // no clock here
    slot.next = Time{0};
}

// ---- A packet without a MAC --------------------------------------------------

void NeighbourResolver::want(const IpAddress& address, void* packet, Time now,
                             NeighbourActions& out) {
    auto it = slots_.find(address);
    if (it != slots_.end() && it->second.state == NeighbourState::failed &&
        it->second.next <= now) {
        // The hold is over even if tick() has not run yet: start over.
        slots_.erase(it);
        it = slots_.end();
    }

    if (it == slots_.end()) {
        if (slots_.size() >= options_.max_entries) {
            out.drop.push_back(packet);
            ++counters_.dropped_table_full;
            return;
        }
        // A new entry: the first request now, the packet queued below.
        it = slots_.emplace(address, Slot{}).first;
        Slot& slot = it->second;
        slot.state = NeighbourState::incomplete;
        slot.tries = 1;
        slot.since = now;
        slot.next = now + options_.retransmit;
        out.solicit.push_back(address);
        ++counters_.requests_sent;
    }

    Slot& slot = it->second;
    switch (slot.state) {
        case NeighbourState::incomplete:
            ++counters_.queued;
            counters_.dropped_queue_full +=
                enqueue(slot.queue, packet, options_.max_queued, out.drop);
            return;
        case NeighbourState::failed:
            out.drop.push_back(packet);
            ++counters_.dropped_failed;
            return;
        case NeighbourState::reachable:
        case NeighbourState::probing:
        case NeighbourState::permanent: {
            // The lcore's table was older than ours. Anything still queued
            // (see add_static) goes first, to keep the order.
            NeighbourActions::Release release{address, *slot.mac, {}};
            counters_.released += move_queue(slot.queue, release.packets);
            release.packets.push_back(packet);
            ++counters_.released;
            out.release.push_back(std::move(release));
            return;
        }
    }
}

// ---- An ARP / ND message -----------------------------------------------------

void NeighbourResolver::learned(const IpAddress& address, const MacAddress& mac, bool create,
                                Time now, NeighbourActions& out) {
    auto it = slots_.find(address);
    if (it == slots_.end()) {
        if (!create || slots_.size() >= options_.max_entries) return;
        // Created without a MAC or a queue, as a failed entry is; the code
        // below makes it reachable and says the table changed.
        it = slots_.emplace(address, Slot{}).first;
        it->second.state = NeighbourState::failed;
    }
    Slot& slot = it->second;
    if (slot.state == NeighbourState::permanent) return;  // configuration wins

    const bool known = slot.mac.has_value();
    const bool same_mac = known && *slot.mac == mac;
    if (known && !same_mac) ++counters_.changed;
    if (!(is_usable(slot.state) && same_mac)) out.table_changed = true;

    const bool was_incomplete = slot.state == NeighbourState::incomplete;
    slot.state = NeighbourState::reachable;
    slot.mac = mac;
    slot.tries = 0;
    slot.since = now;  // for a reachable entry: when it was last confirmed
    slot.next = now + options_.reachable;

    if (!was_incomplete) return;
    ++counters_.resolved;
    if (slot.queue.empty()) return;  // take_all_queued() may have emptied it
    NeighbourActions::Release release{address, mac, {}};
    counters_.released += move_queue(slot.queue, release.packets);
    out.release.push_back(std::move(release));
}

// ---- Deadlines ---------------------------------------------------------------

void NeighbourResolver::tick(Time now, NeighbourActions& out) {
    for (auto it = slots_.begin(); it != slots_.end();) {
        const IpAddress& address = it->first;
        Slot& slot = it->second;
        if (slot.state == NeighbourState::permanent || slot.next > now) {
            ++it;
            continue;
        }

        const auto solicit = [&] {
            out.solicit.push_back(address);
            ++counters_.requests_sent;
            ++slot.tries;
        };
        // Retransmissions keep their cadence (next += retransmit) unless this
        // tick is a whole period late, in which case they count from now:
        // a stalled caller gets one request, not a burst of catch-ups.
        const auto retransmit = [&] {
            solicit();
            const Time on_cadence = slot.next + options_.retransmit;
            slot.next = on_cadence > now ? on_cadence : now + options_.retransmit;
        };
        const bool round_over = slot.tries >= options_.probes;

        bool erase = false;
        switch (slot.state) {
            case NeighbourState::incomplete:
                if (!round_over) {
                    retransmit();
                    break;
                }
                // No answer: drop what waited, and what comes for failed_hold.
                ++counters_.failed;
                counters_.dropped_failed += move_queue(slot.queue, out.drop);
                slot.state = NeighbourState::failed;
                slot.since = now;
                slot.next = now + options_.failed_hold;
                break;
            case NeighbourState::probing:
                if (!round_over) {
                    retransmit();
                    break;
                }
                erase = true;  // the stale MAC goes out of the table
                out.table_changed = true;
                break;
            case NeighbourState::reachable:
                // Stale: keep using the MAC while asking whether it still holds.
                slot.state = NeighbourState::probing;
                slot.tries = 0;
                slot.since = now;
                solicit();
                slot.next = now + options_.retransmit;
                break;
            case NeighbourState::failed:
                erase = true;  // the next packet starts over
                break;
            case NeighbourState::permanent:
                break;
        }

        if (erase) {
            // Only incomplete entries queue, so this is empty; be safe anyway.
            counters_.dropped_failed += move_queue(slot.queue, out.drop);
            it = slots_.erase(it);
        } else {
            ++it;
        }
    }
}

std::optional<NeighbourResolver::Time> NeighbourResolver::next_deadline() const {
    std::optional<Time> soonest;
    for (const auto& [address, slot] : slots_) {
        if (slot.state == NeighbourState::permanent) continue;
        if (!soonest || slot.next < *soonest) soonest = slot.next;
    }
    return soonest;
}

// ---- Views -------------------------------------------------------------------

std::vector<std::pair<IpAddress, MacAddress>> NeighbourResolver::usable() const {
    std::vector<std::pair<IpAddress, MacAddress>> out;
    for (const auto& [address, slot] : slots_) {
        if (is_usable(slot.state) && slot.mac) out.emplace_back(address, *slot.mac);
    }
    return out;
}

std::vector<NeighbourEntry> NeighbourResolver::entries() const {
    std::vector<NeighbourEntry> out;
    out.reserve(slots_.size());
    for (const auto& [address, slot] : slots_) {
        out.push_back(
            {address, slot.state, slot.mac, slot.tries, slot.queue.size(), slot.since, slot.next});
    }
    return out;
}

std::vector<void*> NeighbourResolver::take_all_queued() {
    std::vector<void*> out;
    for (auto& [address, slot] : slots_) move_queue(slot.queue, out);
    return out;
}

}  // namespace sluice
