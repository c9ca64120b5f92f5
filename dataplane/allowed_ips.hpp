// Allowed-IPs: the longest-prefix-match table that maps an inner address to a
// peer, in both directions of the packet path (LAN rx: destination → peer to
// encrypt for; WAN rx: decrypted source must belong to the peer it came from).
//
// Structure: one path-compressed binary trie per address family, as the
// Linux module's allowedips.c uses. Every node stores a whole prefix (key and
// length), so a chain of single-child nodes never exists: a node either holds
// a peer or is a branch point with two children. Depth is therefore bounded by
// the number of distinct prefix lengths on a path (≤ 33 for IPv4, ≤ 129 for
// IPv6), and in practice by log2 of the table size.
//
// Nodes live in one std::vector and link by 32-bit index, not by pointer:
//   - a copy of the table is a plain vector copy, which is how the control
//     thread builds the next version to publish (DESIGN §3: never edit a table
//     an lcore reads; copy, edit, swap the pointer, free after quiescence);
//   - nodes are 32 bytes, two per cache line, with no per-node allocation.
// Lookups read only; they neither allocate nor throw.
//
// Owner: the control thread builds and edits; lcores only call lookup_*() on
// a published, immutable instance.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "dataplane/ip_prefix.hpp"

namespace sluice {

// ---- AllowedIps -------------------------------------------------------------
class AllowedIps {
public:
    using PeerId = uint32_t;

    // Stores the prefix with its host bits masked; an existing equal prefix is
    // re-assigned to `peer` (WireGuard semantics: a prefix belongs to exactly
    // one peer, the last one configured with it). Returns false, changing
    // nothing, if the prefix is not valid(). May throw std::bad_alloc.
    bool insert(const IpPrefix& prefix, PeerId peer);

    // Removes exactly this prefix (host bits masked first), whichever peer
    // holds it. Returns whether it was present. Never allocates.
    bool remove(const IpPrefix& prefix) noexcept;

    // Removes every prefix of `peer` (peer removed, or its allowed-ips replaced).
    void remove_peer(PeerId peer);

    // Longest-prefix match. Per packet: no allocation, no exception.
    [[nodiscard]] std::optional<PeerId> lookup_v4(const uint8_t addr[4]) const noexcept;
    [[nodiscard]] std::optional<PeerId> lookup_v6(const uint8_t addr[16]) const noexcept;
    [[nodiscard]] std::optional<PeerId> lookup(IpFamily family,
                                               const uint8_t* addr) const noexcept {
        return family == IpFamily::v4 ? lookup_v4(addr) : lookup_v6(addr);
    }

    // The peer's prefixes, masked, IPv4 first, each family in address order
    // and, for equal addresses, shorter first: a stable order for `wg show`
    // and configuration dumps.
    [[nodiscard]] std::vector<IpPrefix> prefixes_of(PeerId peer) const;

    // Number of prefixes stored (both families).
    [[nodiscard]] size_t size() const noexcept { return size_; }
    [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
    void clear() noexcept;

    // Trie nodes in use: at most 2 × size(), since every node without a peer
    // is a branch point with two children. For memory accounting.
    [[nodiscard]] size_t node_count() const noexcept { return nodes_.size() - free_count_; }
    // Checks every structural invariant (keys masked, children longer than
    // and inside their parent on the right side, peer-less nodes have two
    // children, no node lost or reachable twice, size() right). For tests and
    // debug assertions; O(nodes).
    [[nodiscard]] bool well_formed() const noexcept;

private:
    // A 128-bit key, most significant bit first: bit 0 is the top bit of the
    // first address byte. IPv4 addresses occupy the top 32 bits of `hi`.
    struct Key {
        uint64_t hi = 0;
        uint64_t lo = 0;
        friend bool operator==(const Key&, const Key&) = default;
    };

    static constexpr uint32_t kNil = UINT32_MAX;

    struct Node {
        Key key;                           // masked to `length` bits
        uint32_t child[2] = {kNil, kNil};  // by the bit at position `length`
        PeerId peer = 0;                   // meaningful only if has_peer
        uint8_t length = 0;
        bool has_peer = false;  // false: a branch point (then it has two children)
    };
    static_assert(sizeof(Node) == 32, "two nodes per cache line");

    // Where a node is linked from: a family's root, or a child slot of a node.
    struct Link {
        uint32_t parent;  // kNil: the root of the family
        uint8_t dir;
    };

    // Bit `i` (< 128) counted from the most significant bit.
    static unsigned bit_at(const Key& k, unsigned i) noexcept {
        return i < 64 ? (k.hi >> (63 - i)) & 1 : (k.lo >> (127 - i)) & 1;
    }
    // Number of leading bits two keys share (0..128).
    static unsigned common_length(const Key& a, const Key& b) noexcept;
    // `k` with every bit from `len` on cleared.
    static Key mask(const Key& k, unsigned len) noexcept;
    static Key key_of(const IpPrefix& p) noexcept;
    static IpPrefix prefix_of(IpFamily family, const Node& n) noexcept;

    uint32_t& root(IpFamily family) noexcept {
        return family == IpFamily::v4 ? root_v4_ : root_v6_;
    }
    uint32_t& slot(IpFamily family, Link link) noexcept {
        return link.parent == kNil ? root(family) : nodes_[link.parent].child[link.dir];
    }
    void reserve_nodes(size_t count);
    uint32_t new_node(const Node& n) noexcept;
    void free_node(uint32_t index) noexcept;
    std::optional<PeerId> lookup_key(uint32_t root, const Key& addr) const noexcept;
    void collect(uint32_t node, IpFamily family, PeerId peer, std::vector<IpPrefix>& out) const;
    bool well_formed_below(uint32_t node, const Node* parent, unsigned dir, unsigned max_length,
                           size_t& prefixes, size_t& reached) const noexcept;

    std::vector<Node> nodes_;
    // Unused entries of nodes_, chained through child[0], so that remove()
    // can give a node back without allocating.
    uint32_t free_head_ = kNil;
    size_t free_count_ = 0;
    uint32_t root_v4_ = kNil;
    uint32_t root_v6_ = kNil;
    size_t size_ = 0;
};

}  // namespace sluice
