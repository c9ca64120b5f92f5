// The device-configuration model: what wg(8) sees and edits through the UAPI.
// One interface (private key, listen port, fwmark) and its peers, keyed by
// public key, with WireGuard's semantics for every set request:
//   - replace_peers removes every peer first; remove drops one; update_only
//     leaves a peer that does not exist alone;
//   - a prefix belongs to exactly one peer, the last one that claimed it (a
//     claim takes it from its previous owner, as the kernel and wireguard-go do);
//   - setting a private key removes the peer whose public key it yields, and a
//     peer section naming our own public key is ignored (both stock
//     implementations do this: a device cannot be its own peer);
//   - each peer lists its prefixes in the order it claimed them, a re-claim
//     moving the prefix to the end, which is the order both stock
//     implementations report; peers keep the order they were added in.
//
// apply() is all or nothing: it checks the whole request, applies it to a
// copy, and only then replaces the model, so a bad request, a limit or an
// allocation failure leaves the model exactly as it was. The copy costs
// O(model) per set, which the rate of wg(8) commands easily affords.
//
// The model holds configuration only. Runtime facts (the endpoint a peer
// roamed to, handshake time, byte counts, the port actually bound) come from
// the daemon when it asks for a snapshot().
//
// Owner: the control thread. Nothing here is shared with lcores; the daemon
// publishes tables built from it (allowed_ips() is copied, never shared).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <vector>

#include "control/config.hpp"
#include "control/uapi.hpp"
#include "dataplane/allowed_ips.hpp"
#include "dataplane/keypair.hpp"

namespace sluice {

using PeerId = AllowedIps::PeerId;

struct DeviceInterface {
    uapi::SecretKey private_key;  // nullopt: none (the device cannot handshake)
    Key public_key{};             // derived from private_key; zeros without one
    uint16_t listen_port = 0;     // as configured; 0: the daemon picks one
    uint32_t fwmark = 0;          // 0: off
};

struct DevicePeer {
    Key public_key{};
    // The model's handle for this peer, and its value in allowed_ips(): never
    // shared by two peers alive at once. A peer that is removed and added
    // again gets a new id, so the daemon can tell it apart from the old one.
    PeerId id = 0;
    uapi::SecretKey preshared_key;
    std::optional<uapi::SocketEndpoint> endpoint;  // as configured; roaming is runtime
    uint16_t persistent_keepalive = 0;             // seconds; 0: off
};

// ---- What a change did ----------------------------------------------------------

// Bits of PeerUpdate::fields.
enum PeerField : unsigned {
    kPeerPresharedKey = 1u << 0,
    kPeerEndpoint = 1u << 1,
    kPeerPersistentKeepalive = 1u << 2,
    kPeerAllowedIps = 1u << 3,
};

struct PeerRef {
    Key public_key{};
    PeerId id = 0;
    friend bool operator==(const PeerRef&, const PeerRef&) = default;
};

struct PeerUpdate {
    Key public_key{};
    PeerId id = 0;
    unsigned fields = 0;  // PeerField bits: what differs from before
    friend bool operator==(const PeerUpdate&, const PeerUpdate&) = default;
};

// The difference between the model before and after one apply, for the
// daemon to act on (drop sessions of removed peers, create added ones, push
// new tables). Handle removed before added: a peer that a request removed and
// created again (replace_peers, or remove and a later section) appears in both
// with different ids, and WireGuard drops its session in that case too.
struct DeviceChanges {
    bool private_key = false;  // set, changed or removed: sessions must restart
    bool listen_port = false;
    bool fwmark = false;
    std::vector<PeerRef> removed;     // in the order they were added
    std::vector<PeerRef> added;       // in the order they were added
    std::vector<PeerUpdate> updated;  // peers kept, with something changed

    [[nodiscard]] bool empty() const noexcept {
        return !private_key && !listen_port && !fwmark && removed.empty() && added.empty() &&
               updated.empty();
    }
};

struct ApplyResult {
    uapi::Error error;  // code 0: applied; otherwise nothing changed
    DeviceChanges changes;
};

// A request that would take the model past these fails with ENOMEM, what the
// kernel module answers at its own peer limit (MAX_PEERS_PER_DEVICE, 2^20).
// They bound what a client of the UAPI socket can make the daemon hold.
struct DeviceLimits {
    size_t max_peers = size_t{1} << 20;
    size_t max_allowed_ips = size_t{1} << 22;
};

// ---- Runtime facts for snapshots --------------------------------------------------

struct PeerRuntime {
    std::optional<uapi::SocketEndpoint> endpoint;  // where it roamed; nullopt: as configured
    int64_t last_handshake_time_sec = 0;
    int64_t last_handshake_time_nsec = 0;
    uint64_t tx_bytes = 0;
    uint64_t rx_bytes = 0;
};

// The daemon's per-peer runtime state; nullopt (or no function) means none yet.
using PeerRuntimeFn = std::function<std::optional<PeerRuntime>(const DevicePeer&)>;

// Resolves a configuration endpoint given as a host name (the model holds
// addresses only). nullopt: leave the peer's endpoint as it is.
using EndpointResolver = std::function<std::optional<uapi::SocketEndpoint>(const Endpoint&)>;

// ---- DeviceConfig -------------------------------------------------------------------

class DeviceConfig {
public:
    explicit DeviceConfig(DeviceLimits limits = {}) : limits_(limits) {}

    // The model a daemon starts with: `config` applied to an empty model.
    // Host-name endpoints go through `resolve`; without it they stay unset.
    // Start-up is an edge, so this throws: std::bad_alloc, or
    // std::invalid_argument for what the loader never lets through (a prefix
    // or resolved endpoint that is not valid in a Config built by hand).
    static DeviceConfig from_config(const Config& config, const EndpointResolver& resolve = {});

    // Applies a parsed UAPI set request; see the top of this file.
    // EINVAL: a value the parser would not have produced (an invalid prefix or
    // endpoint address in a request built by hand); ENOMEM: over the limits
    // or out of memory. On any error nothing changed.
    ApplyResult apply(const uapi::SetRequest& request);

    // Makes the model match `config` as `wg syncconf` would: peers not in the
    // file are removed, the others are updated in place (their ids, and so
    // their sessions, survive), endpoints are set only where the file has
    // one (a roamed peer stays where it is otherwise). For SIGHUP reloads.
    // The configuration is trusted, so the limits do not apply.
    ApplyResult apply_config(const Config& config, const EndpointResolver& resolve = {});

    // The request apply_config() applies, for logging or a dry run.
    [[nodiscard]] uapi::SetRequest sync_request(const Config& config,
                                                const EndpointResolver& resolve = {}) const;

    // The reply to get=1. `runtime` adds each peer's roamed endpoint,
    // handshake time and byte counts; `bound_port` the port actually bound
    // (needed when the configured one is 0).
    [[nodiscard]] uapi::DeviceStatus snapshot(
        const PeerRuntimeFn& runtime = {}, std::optional<uint16_t> bound_port = std::nullopt) const;

    [[nodiscard]] const DeviceInterface& interface() const noexcept { return interface_; }
    [[nodiscard]] size_t peer_count() const noexcept { return peers_.size(); }
    [[nodiscard]] const DevicePeer* find_peer(const Key& public_key) const;
    [[nodiscard]] const DevicePeer* find_peer(PeerId id) const;
    // Every peer, in the order they were added.
    [[nodiscard]] std::vector<const DevicePeer*> peers() const;
    // A peer's prefixes, masked, in the order it claimed them (empty for an
    // unknown key).
    [[nodiscard]] std::vector<IpPrefix> allowed_ips_of(const Key& public_key) const;
    // Longest-prefix-match table over every peer's prefixes, valued by PeerId:
    // the daemon copies it into the table it publishes to lcores.
    [[nodiscard]] const AllowedIps& allowed_ips() const noexcept { return table_; }
    [[nodiscard]] size_t allowed_ip_count() const noexcept { return owners_.size(); }

    // Checks that the indexes agree with each other: every peer reachable by
    // key and by id, every claim owned by a live peer and listed by it, the
    // table holding exactly the claimed prefixes for their owners. For tests.
    [[nodiscard]] bool well_formed() const;

private:
    struct PeerRecord {
        DevicePeer peer;
        // The peer's prefixes by claim sequence number: iteration is claim
        // order, and a prefix moving away is erased in O(log n).
        std::map<uint64_t, IpPrefix> claims;
    };
    struct Claim {
        uint64_t order;  // key of the owner in peers_
        uint64_t seq;    // key of the prefix in the owner's claims
    };

    ApplyResult apply_checked(const uapi::SetRequest& request, bool enforce_limits);
    void apply_unchecked(const uapi::SetRequest& request);
    void apply_peer(const uapi::PeerSet& set);
    void set_private_key(const Key& key);
    uint64_t create_peer(const Key& public_key);  // returns its key in peers_
    void remove_peer(uint64_t order);
    void clear_allowed_ips(PeerRecord& record);
    void claim(PeerRecord& record, uint64_t order, const IpPrefix& prefix);
    PeerId allocate_id();
    DeviceChanges changes_from(const DeviceConfig& before) const;

    DeviceLimits limits_;
    DeviceInterface interface_;
    std::map<uint64_t, PeerRecord> peers_;  // by creation order
    std::map<Key, uint64_t> by_key_;
    std::map<PeerId, uint64_t> by_id_;
    std::map<IpPrefix, Claim> owners_;  // masked prefix → its one owner
    AllowedIps table_;
    uint64_t next_order_ = 1;
    uint64_t next_claim_ = 1;
    PeerId next_id_ = 1;
};

}  // namespace sluice
