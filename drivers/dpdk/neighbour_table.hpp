// The link-layer addresses of one L2 port's neighbours, as lcores read them
// (DESIGN §3, §5). Immutable once published: the control thread resolves
// neighbours (control/neighbours.hpp), builds a new table when one changes,
// publishes it with a release store into NeighbourShared::table and frees the
// old one after an RCU grace period. Lcores load the pointer when they send.
//
// A handful of entries (the WAN's gateway, the LAN's hosts and routers):
// a sorted vector and a binary search, no hashing.
#pragma once

#include <rte_ether.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <vector>

namespace sluice {

struct NeighbourKey {
    uint8_t family = 0;  // 4 or 6
    std::array<uint8_t, 16> addr{};  // IPv4 in the first 4 bytes, the rest zero

    static NeighbourKey of(uint8_t family, const uint8_t* a) noexcept {
        NeighbourKey k;
        k.family = family;
        std::memcpy(k.addr.data(), a, family == 4 ? 4 : 16);
        return k;
    }
    friend bool operator==(const NeighbourKey&, const NeighbourKey&) = default;
    friend auto operator<=>(const NeighbourKey&, const NeighbourKey&) = default;
};

class NeighbourTable {
public:
    struct Entry {
        NeighbourKey key;
        rte_ether_addr mac;
    };

    NeighbourTable() = default;
    // Entries in any order; a key given twice keeps its last MAC.
    explicit NeighbourTable(std::vector<Entry> entries) : entries_(std::move(entries)) {
        std::stable_sort(entries_.begin(), entries_.end(),
                         [](const Entry& a, const Entry& b) { return a.key < b.key; });
        std::vector<Entry> unique;
        for (const Entry& e : entries_) {
            if (!unique.empty() && unique.back().key == e.key) {
                unique.back() = e;
            } else {
                unique.push_back(e);
            }
        }
        entries_ = std::move(unique);
    }

    [[nodiscard]] const rte_ether_addr* lookup(const NeighbourKey& key) const noexcept {
        const auto it = std::lower_bound(entries_.begin(), entries_.end(), key,
                                         [](const Entry& e, const NeighbourKey& k) { return e.key < k; });
        return it != entries_.end() && it->key == key ? &it->mac : nullptr;
    }
    [[nodiscard]] const std::vector<Entry>& entries() const noexcept { return entries_; }

private:
    std::vector<Entry> entries_;
};

// One port's published table. Owner: the control thread stores (release)
// and retires; lcores load (acquire) while online in RCU.
struct NeighbourShared {
    std::atomic<const NeighbourTable*> table{nullptr};
};

}  // namespace sluice
