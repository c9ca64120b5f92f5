// The tables of sluice-perf's two gateways, A and B, built the way sluiced's
// control thread builds them (dataplane/snapshot.hpp) but without handshakes:
// sluice-perf is both gateways' control plane.
//
// Tunnel p (p < peers) joins A's subnet 10.(64 + p/256).(p%256).0/24 and B's
// subnet 10.(128 + p/256).(p%256).0/24. A's peer p has B's subnet as allowed
// IPs and B's WAN as endpoint, and the other way round; the two keypairs of
// tunnel p share random keys (A's send key is B's receive key).
//
// Decrypt mode (fresh counters without an encrypting lcore in front): B's
// peer p decrypts WAN frames copied from templates, `count` data messages
// encrypted once with counters 0..count-1. Each pass over the templates is a
// key epoch with a keypair of its own (same keys, a new receiver index and an
// empty replay window, as a rekey gives), so no counter is ever replayed into
// a window that has seen it. The control tick prepares epochs ahead of the
// generator, publishes them, and lets the generator use one only after a
// grace period, when every lcore is known to read a snapshot holding it.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/index_table.hpp"
#include "dataplane/rcu.hpp"
#include "dataplane/snapshot.hpp"
#include "drivers/dpdk/frame.hpp"

namespace sluice::perf {

// Whole WAN frames (Ethernet/IPv4/UDP/data message), `count` of them at a
// fixed stride.
struct TemplateSet {
    std::vector<uint8_t> bytes;
    std::vector<uint16_t> lengths;
    uint32_t stride = 0;
    uint32_t count = 0;
    // Where the receiver index sits in each frame.
    static constexpr size_t kIndexOffset = frame::kEthernetLen + frame::kIpv4Len + frame::kUdpLen + 4;
};

inline constexpr unsigned kEpochSlots = 32;

struct EpochTable {
    struct alignas(64) Peer {
        std::atomic<uint64_t> generator_epoch{0};  // generator: stores; control: loads
        // control: stores index, then (after a grace period) ready = epoch + 1;
        // generator: loads ready (acquire), then index.
        std::array<std::atomic<uint32_t>, kEpochSlots> index{};
        std::array<std::atomic<uint64_t>, kEpochSlots> ready{};
    };
    std::vector<std::unique_ptr<Peer>> peers;
};

class Tunnels {
public:
    struct Side {
        frame::UdpLocal wan;        // this gateway's WAN
        MbufEndpoint wan_endpoint;  // the same as the other side's peers' endpoint
    };

    Tunnels(uint32_t peers, uint16_t mtu, Side a, Side b);
    ~Tunnels();
    Tunnels(const Tunnels&) = delete;
    Tunnels& operator=(const Tunnels&) = delete;

    // Publishes the first snapshot of each side. Each side's RCU (its lcore
    // group's; null for a side that runs no lcores, whose snapshot is then
    // never replaced) reclaims what later publications replace.
    void start(Rcu* a, Rcu* b);
    // side 0: A, 1: B.
    [[nodiscard]] const std::atomic<const Snapshot*>* snapshot(int side) const noexcept {
        return &sides_[side].published;
    }

    // Decrypt mode: templates of `count` messages per peer (sizes cycled from
    // `sizes`, `flows` inner flows), addressed from A's WAN to B's WAN MAC.
    // Call before start(). false with `error` when memory runs out.
    bool enable_epochs(const std::vector<uint16_t>& sizes, uint32_t flows, uint32_t count,
                       const rte_ether_addr& b_mac, std::string* error);
    [[nodiscard]] const std::vector<TemplateSet>& templates() const noexcept { return templates_; }
    [[nodiscard]] EpochTable* epochs() noexcept { return &epochs_; }
    // The control tick: prepares epochs the generator will reach soon and
    // republishes B's table; returns the keypairs made.
    size_t rotate();
    [[nodiscard]] uint64_t keypairs_made() const noexcept { return keypairs_made_; }

    [[nodiscard]] uint32_t peers() const noexcept { return peers_; }

private:
    struct SideState {
        Side side;
        Rcu* rcu = nullptr;
        std::vector<std::unique_ptr<Keypair>> keypairs;  // per peer: current
        std::unique_ptr<PeerShared[]> shared;
        std::atomic<const Snapshot*> published{nullptr};
        uint64_t generation = 0;
    };
    std::unique_ptr<Keypair> make_keypair(const Key& send, const Key& receive);
    void publish(int s);

    uint32_t peers_;
    uint16_t mtu_;
    // Every receiver index handed out in this run (never reused: at most a
    // few thousand key epochs a second for 150 s).
    IndexTable<bool> indices_{size_t{1} << 24};
    std::array<SideState, 2> sides_;
    std::vector<Key> a_to_b_;  // per peer
    std::vector<Key> b_to_a_;
    // Decrypt mode.
    bool epochs_on_ = false;
    uint32_t template_count_ = 0;
    std::vector<TemplateSet> templates_;
    EpochTable epochs_;
    std::vector<std::array<std::unique_ptr<Keypair>, kEpochSlots>> slots_;  // B, per peer
    std::vector<uint64_t> prepared_;  // per peer: epochs up to this one have keypairs
    uint64_t keypairs_made_ = 0;
};

}  // namespace sluice::perf
