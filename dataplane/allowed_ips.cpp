// Allowed-IPs trie; see allowed_ips.hpp for the structure and why.
#include "dataplane/allowed_ips.hpp"

#include <algorithm>
#include <bit>
#include <new>

namespace sluice {

namespace {

uint64_t load_be64(const uint8_t* p) noexcept {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
    return v;
}

void store_be64(uint64_t v, uint8_t* p) noexcept {
    for (int i = 7; i >= 0; --i) {
        p[i] = static_cast<uint8_t>(v);
        v >>= 8;
    }
}

}  // namespace

// ---- Key arithmetic ----------------------------------------------------------

unsigned AllowedIps::common_length(const Key& a, const Key& b) noexcept {
    if (const uint64_t x = a.hi ^ b.hi) return static_cast<unsigned>(std::countl_zero(x));
    if (const uint64_t x = a.lo ^ b.lo) return 64 + static_cast<unsigned>(std::countl_zero(x));
    return 128;
}

AllowedIps::Key AllowedIps::mask(const Key& k, unsigned len) noexcept {
    // Written so that no shift is by 64 or more (undefined behaviour).
    if (len == 0) return Key{};
    if (len <= 64) return Key{k.hi & (~uint64_t{0} << (64 - len)), 0};
    return Key{k.hi, k.lo & (~uint64_t{0} << (128 - len))};
}

AllowedIps::Key AllowedIps::key_of(const IpPrefix& p) noexcept {
    // valid() guarantees a v4 prefix has zeros after its 4 bytes, so both
    // families load the same way and v4 lands in the top 32 bits of hi.
    return mask(Key{load_be64(p.addr.data()), load_be64(p.addr.data() + 8)}, p.length);
}

IpPrefix AllowedIps::prefix_of(IpFamily family, const Node& n) noexcept {
    IpPrefix p;
    p.family = family;
    store_be64(n.key.hi, p.addr.data());
    store_be64(n.key.lo, p.addr.data() + 8);
    p.length = n.length;
    return p;
}

// ---- Node pool ---------------------------------------------------------------

void AllowedIps::reserve_nodes(size_t count) {
    if (free_count_ >= count) return;
    const size_t need = nodes_.size() + (count - free_count_);
    if (need > kNil) throw std::bad_alloc();  // indices would collide with kNil
    if (need > nodes_.capacity()) {
        // Grow geometrically so that n inserts cost amortised O(1) copies.
        nodes_.reserve(std::min<size_t>(kNil, std::max<size_t>({need, 16, nodes_.capacity() * 2})));
    }
}

uint32_t AllowedIps::new_node(const Node& n) noexcept {
    // reserve_nodes() ran first, so neither branch can allocate.
    if (free_head_ != kNil) {
        const uint32_t i = free_head_;
        free_head_ = nodes_[i].child[0];
        --free_count_;
        nodes_[i] = n;
        return i;
    }
    nodes_.push_back(n);
    return static_cast<uint32_t>(nodes_.size() - 1);
}

void AllowedIps::free_node(uint32_t index) noexcept {
    nodes_[index] = Node{};
    nodes_[index].child[0] = free_head_;
    free_head_ = index;
    ++free_count_;
}

// ---- Edits -------------------------------------------------------------------

bool AllowedIps::insert(const IpPrefix& prefix, PeerId peer) {
    if (!prefix.valid()) return false;
    // An insert adds at most two nodes (a branch point and the leaf). Taking
    // the memory first means nothing below can fail half-way through an edit.
    reserve_nodes(2);

    const IpFamily family = prefix.family;
    const Key key = key_of(prefix);
    const unsigned len = prefix.length;
    Node leaf;
    leaf.key = key;
    leaf.length = static_cast<uint8_t>(len);
    leaf.peer = peer;
    leaf.has_peer = true;

    Link link{kNil, 0};
    for (uint32_t cur = root(family);;) {
        if (cur == kNil) {
            slot(family, link) = new_node(leaf);
            ++size_;
            return true;
        }
        Node& n = nodes_[cur];
        const unsigned common =
            std::min({common_length(n.key, key), static_cast<unsigned>(n.length), len});
        if (common == n.length) {
            if (n.length == len) {  // the same prefix: (re-)assign it
                if (!n.has_peer) ++size_;
                n.has_peer = true;
                n.peer = peer;
                return true;
            }
            // n covers the new prefix, which is longer: go down.
            link = Link{cur, static_cast<uint8_t>(bit_at(key, n.length))};
            cur = n.child[link.dir];
            continue;
        }
        // The new prefix and n part ways before n ends.
        const unsigned n_dir = bit_at(n.key, common);
        if (common == len) {
            // The new prefix covers n: it goes above n.
            leaf.child[n_dir] = cur;
            slot(family, link) = new_node(leaf);
            ++size_;
            return true;
        }
        // They differ at bit `common`: a peer-less branch point holds both.
        Node branch;
        branch.key = mask(key, common);
        branch.length = static_cast<uint8_t>(common);
        branch.child[n_dir] = cur;
        branch.child[n_dir ^ 1] = new_node(leaf);
        slot(family, link) = new_node(branch);
        ++size_;
        return true;
    }
}

bool AllowedIps::remove(const IpPrefix& prefix) noexcept {
    if (!prefix.valid()) return false;
    const IpFamily family = prefix.family;
    const Key key = key_of(prefix);
    const unsigned len = prefix.length;

    // Find the node, remembering where it and its parent hang.
    Link link{kNil, 0};
    Link parent_link{kNil, 0};
    uint32_t cur = root(family);
    while (cur != kNil) {
        const Node& n = nodes_[cur];
        if (n.length > len) return false;
        if (common_length(n.key, key) < n.length) return false;
        if (n.length == len) break;  // keys are both masked, so they are equal
        parent_link = link;
        link = Link{cur, static_cast<uint8_t>(bit_at(key, n.length))};
        cur = n.child[link.dir];
    }
    if (cur == kNil || !nodes_[cur].has_peer) return false;

    Node& n = nodes_[cur];
    n.has_peer = false;
    --size_;
    // Keep the invariant "a peer-less node has two children", which is what
    // bounds the depth and the node count (< 2 × size).
    if (n.child[0] != kNil && n.child[1] != kNil) return true;  // stays as a branch point
    const uint32_t only_child = n.child[0] != kNil ? n.child[0] : n.child[1];
    slot(family, link) = only_child;
    free_node(cur);
    if (only_child != kNil || link.parent == kNil) return true;

    // A leaf went away: a peer-less parent is now a branch with one child,
    // which then takes the parent's place.
    const uint32_t parent = link.parent;
    const Node& p = nodes_[parent];
    if (p.has_peer) return true;
    const uint32_t sibling = p.child[link.dir ^ 1];
    slot(family, parent_link) = sibling;
    free_node(parent);
    return true;
}

void AllowedIps::remove_peer(PeerId peer) {
    for (const IpPrefix& p : prefixes_of(peer)) remove(p);
}

void AllowedIps::clear() noexcept {
    nodes_.clear();
    free_head_ = kNil;
    free_count_ = 0;
    root_v4_ = kNil;
    root_v6_ = kNil;
    size_ = 0;
}

// ---- Queries -----------------------------------------------------------------

std::optional<AllowedIps::PeerId> AllowedIps::lookup_key(uint32_t node,
                                                         const Key& addr) const noexcept {
    // Walk down while the node's prefix still matches; the last node with a
    // peer on the way is the longest match, since lengths grow downwards.
    std::optional<PeerId> best;
    while (node != kNil) {
        const Node& n = nodes_[node];
        if (common_length(n.key, addr) < n.length) break;
        if (n.has_peer) best = n.peer;
        if (n.length == 128) break;  // a full-length key has no children (nor a bit 128)
        node = n.child[bit_at(addr, n.length)];
    }
    return best;
}

std::optional<AllowedIps::PeerId> AllowedIps::lookup_v4(const uint8_t addr[4]) const noexcept {
    const uint64_t a = (uint64_t{addr[0]} << 24) | (uint64_t{addr[1]} << 16) |
                       (uint64_t{addr[2]} << 8) | uint64_t{addr[3]};
    return lookup_key(root_v4_, Key{a << 32, 0});
}

std::optional<AllowedIps::PeerId> AllowedIps::lookup_v6(const uint8_t addr[16]) const noexcept {
    return lookup_key(root_v6_, Key{load_be64(addr), load_be64(addr + 8)});
}

void AllowedIps::collect(uint32_t node, IpFamily family, PeerId peer,
                         std::vector<IpPrefix>& out) const {
    // Pre-order, child 0 first: yields address order, shorter prefix first.
    // Recursion depth is bounded by the trie depth (≤ 129).
    if (node == kNil) return;
    const Node& n = nodes_[node];
    if (n.has_peer && n.peer == peer) out.push_back(prefix_of(family, n));
    collect(n.child[0], family, peer, out);
    collect(n.child[1], family, peer, out);
}

std::vector<IpPrefix> AllowedIps::prefixes_of(PeerId peer) const {
    std::vector<IpPrefix> out;
    collect(root_v4_, IpFamily::v4, peer, out);
    collect(root_v6_, IpFamily::v6, peer, out);
    return out;
}

// ---- Self-check ----------------------------------------------------------------

bool AllowedIps::well_formed_below(uint32_t node, const Node* parent, unsigned dir,
                                   unsigned max_length, size_t& prefixes,
                                   size_t& reached) const noexcept {
    if (node == kNil) return true;
    if (node >= nodes_.size() || ++reached > nodes_.size()) return false;  // bad link or a cycle
    const Node& n = nodes_[node];
    if (n.length > max_length || !(mask(n.key, n.length) == n.key)) return false;
    if (parent != nullptr) {
        if (n.length <= parent->length) return false;
        if (common_length(n.key, parent->key) < parent->length) return false;
        if (bit_at(n.key, parent->length) != dir) return false;
    }
    if (!n.has_peer && (n.child[0] == kNil || n.child[1] == kNil)) return false;
    if (n.has_peer) ++prefixes;
    return well_formed_below(n.child[0], &n, 0, max_length, prefixes, reached) &&
           well_formed_below(n.child[1], &n, 1, max_length, prefixes, reached);
}

bool AllowedIps::well_formed() const noexcept {
    size_t prefixes = 0;
    size_t reached = 0;
    if (!well_formed_below(root_v4_, nullptr, 0, 32, prefixes, reached)) return false;
    if (!well_formed_below(root_v6_, nullptr, 0, 128, prefixes, reached)) return false;
    size_t free = 0;
    for (uint32_t i = free_head_; i != kNil; i = nodes_[i].child[0]) {
        if (i >= nodes_.size() || ++free > nodes_.size() || nodes_[i].has_peer) return false;
    }
    return prefixes == size_ && free == free_count_ && reached + free == nodes_.size();
}

}  // namespace sluice
