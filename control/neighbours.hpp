// Neighbour resolution for one L2 port (DESIGN §5, L2 gateway mode): which
// link-layer address each next hop has, as the control thread learns it from
// ARP and neighbour discovery, with the packets that wait for an answer.
// Pure state, no I/O and no clock of its own: the caller (control/l2_control)
// feeds it what the lcores punted up and the time, and carries out what it
// returns (send a request, release or drop packets, publish a new table).
//
// Per address, the states of RFC 4861 7.3.2 in the small:
//   incomplete  resolving: a request sent every `retransmit`, at most
//               `probes` of them; up to `max_queued` packets wait (the oldest
//               is dropped for a newer one); after the last try, failed.
//   reachable   a MAC, used; confirmed by any reply or request from it;
//               after `reachable` without one, probing.
//   probing     still used (stale MAC); requests sent as for incomplete;
//               no answer after `probes` tries: the entry goes away.
//   failed      no MAC; packets for it are dropped at once (counted) for
//               `failed_hold`, then the entry goes away and a new packet
//               starts over.
//   static      configured; never resolved, aged or replaced by learning.
//
// Learning: a reply, or a request addressed to one of our own addresses,
// creates or updates the sender's entry (`create`); any other ARP/ND message
// from a sender only updates an entry that already exists (a gratuitous ARP
// after a MAC change), as Linux does.
//
// Single-threaded: owned by the control thread.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "dataplane/ip_prefix.hpp"

namespace sluice {

using MacAddress = std::array<uint8_t, 6>;

[[nodiscard]] std::string mac_to_string(const MacAddress& mac);  // "02:00:00:00:00:01"

enum class NeighbourState : uint8_t { incomplete, reachable, probing, failed, permanent };
[[nodiscard]] const char* to_string(NeighbourState state) noexcept;  // "incomplete", ..., "static"

struct NeighbourOptions {
    std::chrono::nanoseconds reachable = std::chrono::seconds(30);
    std::chrono::nanoseconds retransmit = std::chrono::seconds(1);
    uint32_t probes = 3;
    std::chrono::nanoseconds failed_hold = std::chrono::seconds(3);
    size_t max_queued = 4;         // per address while incomplete
    size_t max_entries = 4096;     // learning never grows the table past this
};

struct NeighbourCounters {
    uint64_t requests_sent = 0;      // ARP requests / neighbour solicitations asked for
    uint64_t resolved = 0;           // incomplete -> reachable
    uint64_t changed = 0;            // a known MAC replaced by another
    uint64_t failed = 0;             // resolutions that got no answer
    uint64_t queued = 0;             // packets that waited
    uint64_t released = 0;           // and were sent once resolved
    uint64_t dropped_queue_full = 0; // the oldest waiting packet dropped for a newer one
    uint64_t dropped_failed = 0;     // dropped: resolution failed or is failing
    uint64_t dropped_table_full = 0; // dropped: no room for another entry
};

// What the caller must do after a call. Packets are opaque (the caller's
// rte_mbuf*); the resolver never touches them.
struct NeighbourActions {
    std::vector<IpAddress> solicit;  // send an ARP request / neighbour solicitation for each
    struct Release {
        IpAddress address;
        MacAddress mac;
        std::vector<void*> packets;  // in the order they arrived
    };
    std::vector<Release> release;  // send these to mac
    std::vector<void*> drop;       // free these (already counted)
    bool table_changed = false;    // the set of usable (address, MAC) pairs changed: publish
};

struct NeighbourEntry {
    IpAddress address;
    NeighbourState state = NeighbourState::incomplete;
    std::optional<MacAddress> mac;
    uint32_t tries = 0;  // requests sent in this round (incomplete / probing)
    size_t queued = 0;
    std::chrono::nanoseconds since{0};  // when it entered this state
    // Its next request, ageing or expiry (neighbours.cpp); 0 for static.
    std::chrono::nanoseconds next{0};
};

class NeighbourResolver {
public:
    using Time = std::chrono::nanoseconds;  // any monotonic clock

    explicit NeighbourResolver(NeighbourOptions options = {}) : options_(options) {}

    // A configured entry; replaces any learned one. table_changed is implied:
    // the caller publishes after adding its static entries.
    void add_static(const IpAddress& address, const MacAddress& mac);

    // A packet for `address` found no MAC in the published table. Queues it
    // and (for a new entry) asks for the first request; or releases it at once
    // when the entry is usable already (the lcore's table was older); or drops it.
    void want(const IpAddress& address, void* packet, Time now, NeighbourActions& out);

    // An ARP or ND message from `address` at `mac`; `create` as above.
    void learned(const IpAddress& address, const MacAddress& mac, bool create, Time now,
                 NeighbourActions& out);

    // Retransmissions, ageing, giving up. Call at next_deadline() or later.
    void tick(Time now, NeighbourActions& out);
    [[nodiscard]] std::optional<Time> next_deadline() const;

    // Every usable (address, MAC): reachable, probing and static entries.
    [[nodiscard]] std::vector<std::pair<IpAddress, MacAddress>> usable() const;
    // Every entry, in address order (sluicectl show neighbours).
    [[nodiscard]] std::vector<NeighbourEntry> entries() const;
    // Frees nothing: hands every queued packet back for the caller to free.
    [[nodiscard]] std::vector<void*> take_all_queued();

    [[nodiscard]] const NeighbourCounters& counters() const noexcept { return counters_; }

private:
    struct Slot {
        NeighbourState state = NeighbourState::incomplete;
        std::optional<MacAddress> mac;
        uint32_t tries = 0;
        Time since{0};
        Time next{0};  // the next retransmission, expiry or ageing
        std::deque<void*> queue;
    };

    NeighbourOptions options_;
    std::map<IpAddress, Slot> slots_;
    NeighbourCounters counters_;
};

}  // namespace sluice
