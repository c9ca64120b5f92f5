// The device-configuration model; see device_config.hpp for the semantics.
#include "control/device_config.hpp"

#include <algorithm>
#include <cerrno>
#include <new>
#include <set>
#include <stdexcept>
#include <utility>

#include "control/crypto.hpp"

namespace sluice {

namespace {

// IpAddress has no valid() of its own; an endpoint address is sound when its
// family is one of the two and an IPv4 address has nothing past its 4 bytes.
bool valid_address(const IpAddress& a) {
    IpPrefix p;
    p.family = a.family;
    p.addr = a.addr;
    p.length = 0;
    return p.valid();
}

std::vector<IpPrefix> sorted(std::vector<IpPrefix> v) {
    std::sort(v.begin(), v.end());
    return v;
}

std::optional<uapi::SocketEndpoint> endpoint_from_config(const Endpoint& e,
                                                         const EndpointResolver& resolve) {
    if (e.kind == Endpoint::Kind::hostname)
        return resolve ? resolve(e) : std::optional<uapi::SocketEndpoint>{};
    return uapi::SocketEndpoint{e.address, e.port};
}

}  // namespace

// ---- Building from the configuration file -------------------------------------------

uapi::SetRequest DeviceConfig::sync_request(const Config& config,
                                            const EndpointResolver& resolve) const {
    uapi::SetRequest r;
    r.interface.private_key = config.interface.private_key;
    r.interface.listen_port = config.interface.listen_port;
    // The file has no fwmark: whatever wg(8) set stays.

    std::set<Key> wanted;
    for (const PeerConfig& p : config.peers) wanted.insert(p.public_key);
    for (const auto& [order, record] : peers_) {
        if (wanted.count(record.peer.public_key)) continue;
        uapi::PeerSet gone;
        gone.public_key = record.peer.public_key;
        gone.remove = true;
        r.peers.push_back(std::move(gone));
    }
    for (const PeerConfig& p : config.peers) {
        uapi::PeerSet s;
        s.public_key = p.public_key;
        s.preshared_key = p.preshared_key.value_or(Key{});  // zeros: none, clearing an old one
        if (p.endpoint) s.endpoint = endpoint_from_config(*p.endpoint, resolve);
        s.persistent_keepalive_interval = p.persistent_keepalive;
        s.replace_allowed_ips = true;
        s.allowed_ips = p.allowed_ips;
        r.peers.push_back(std::move(s));
    }
    return r;
}

DeviceConfig DeviceConfig::from_config(const Config& config, const EndpointResolver& resolve) {
    DeviceConfig device;
    const ApplyResult r = device.apply_checked(device.sync_request(config, resolve), false);
    if (r.error.code == ENOMEM) throw std::bad_alloc();
    // The loader validates every prefix; this is a Config built by hand.
    if (r.error) throw std::invalid_argument("configuration: " + r.error.message);
    return device;
}

ApplyResult DeviceConfig::apply_config(const Config& config, const EndpointResolver& resolve) {
    return apply_checked(sync_request(config, resolve), false);
}

// ---- Applying ---------------------------------------------------------------------------

ApplyResult DeviceConfig::apply(const uapi::SetRequest& request) {
    return apply_checked(request, true);
}

ApplyResult DeviceConfig::apply_checked(const uapi::SetRequest& request, bool enforce_limits) {
    ApplyResult result;
    // parse_set() never produces these; a request built in code might.
    for (const uapi::PeerSet& p : request.peers) {
        if (p.endpoint && !valid_address(p.endpoint->address)) {
            result.error = {EINVAL, "endpoint: not a valid address"};
            return result;
        }
        for (const IpPrefix& prefix : p.allowed_ips) {
            if (!prefix.valid()) {
                result.error = {EINVAL, "allowed_ip: not a valid prefix"};
                return result;
            }
        }
    }
    try {
        DeviceConfig next = *this;
        next.apply_unchecked(request);
        // Only growth past a limit fails: a model that apply_config() took
        // past one may still be edited, and shrunk.
        if (enforce_limits && next.peers_.size() > limits_.max_peers &&
            next.peers_.size() > peers_.size()) {
            result.error = {ENOMEM, "more than " + std::to_string(limits_.max_peers) + " peers"};
            return result;
        }
        if (enforce_limits && next.owners_.size() > limits_.max_allowed_ips &&
            next.owners_.size() > owners_.size()) {
            result.error = {
                ENOMEM, "more than " + std::to_string(limits_.max_allowed_ips) + " allowed IPs"};
            return result;
        }
        result.changes = next.changes_from(*this);
        *this = std::move(next);
    } catch (const std::bad_alloc&) {
        result = ApplyResult{};
        result.error = {ENOMEM, "out of memory"};
    }
    return result;
}

void DeviceConfig::apply_unchecked(const uapi::SetRequest& request) {
    const uapi::InterfaceSet& i = request.interface;
    // The kernel's order (replace_peers, then the private key); wireguard-go's
    // line order gives the same result, since each only removes peers.
    if (i.replace_peers) {
        peers_.clear();
        by_key_.clear();
        by_id_.clear();
        owners_.clear();
        table_.clear();
    }
    if (i.private_key) set_private_key(*i.private_key);
    if (i.listen_port) interface_.listen_port = *i.listen_port;
    if (i.fwmark) interface_.fwmark = *i.fwmark;
    for (const uapi::PeerSet& p : request.peers) apply_peer(p);
}

void DeviceConfig::set_private_key(const Key& key) {
    if (uapi::is_zero(key)) {
        interface_.private_key.reset();
        interface_.public_key = Key{};
        return;
    }
    // Stored as given, as wireguard-go does; X25519 clamps when it uses it.
    interface_.private_key = key;
    interface_.public_key = crypto::public_key_of(key);
    // A device cannot be its own peer.
    if (auto it = by_key_.find(interface_.public_key); it != by_key_.end()) remove_peer(it->second);
}

void DeviceConfig::apply_peer(const uapi::PeerSet& set) {
    // Ignored without an error, so one set of commands can go to every
    // device of a mesh (the kernel's reason for doing the same).
    if (interface_.private_key && set.public_key == interface_.public_key) return;

    const auto found = by_key_.find(set.public_key);
    if (set.remove) {
        if (found != by_key_.end()) remove_peer(found->second);
        return;
    }
    if (found == by_key_.end() && set.update_only) return;

    const uint64_t order = found == by_key_.end() ? create_peer(set.public_key) : found->second;
    PeerRecord& record = peers_.at(order);
    DevicePeer& peer = record.peer;
    if (set.preshared_key) {
        if (uapi::is_zero(*set.preshared_key))
            peer.preshared_key.reset();
        else
            peer.preshared_key = *set.preshared_key;
    }
    if (set.endpoint) peer.endpoint = *set.endpoint;
    if (set.persistent_keepalive_interval)
        peer.persistent_keepalive = *set.persistent_keepalive_interval;
    if (set.replace_allowed_ips) clear_allowed_ips(record);
    for (const IpPrefix& prefix : set.allowed_ips) claim(record, order, prefix);
}

uint64_t DeviceConfig::create_peer(const Key& public_key) {
    const uint64_t order = next_order_++;
    PeerRecord record;
    record.peer.public_key = public_key;
    record.peer.id = allocate_id();
    by_id_.emplace(record.peer.id, order);
    by_key_.emplace(public_key, order);
    peers_.emplace(order, std::move(record));
    return order;
}

PeerId DeviceConfig::allocate_id() {
    // Ids only grow, so a re-created peer never gets its old id back. After
    // 2^32 creations they wrap; ids still in use are skipped (at most
    // max_peers of them, so this ends).
    for (;;) {
        const PeerId id = next_id_++;
        if (next_id_ == 0) next_id_ = 1;  // 0 stays unused: "no peer" to a reader
        if (id != 0 && !by_id_.count(id)) return id;
    }
}

void DeviceConfig::remove_peer(uint64_t order) {
    PeerRecord& record = peers_.at(order);
    clear_allowed_ips(record);
    by_key_.erase(record.peer.public_key);
    by_id_.erase(record.peer.id);
    peers_.erase(order);
}

void DeviceConfig::clear_allowed_ips(PeerRecord& record) {
    for (const auto& [seq, prefix] : record.claims) {
        owners_.erase(prefix);
        table_.remove(prefix);
    }
    record.claims.clear();
}

void DeviceConfig::claim(PeerRecord& record, uint64_t order, const IpPrefix& prefix) {
    const IpPrefix masked = prefix.masked();
    const uint64_t seq = next_claim_++;
    if (auto it = owners_.find(masked); it != owners_.end()) {
        // Taken from its owner, which may be this very peer: then the prefix
        // moves to the end of its list, as a re-claim does in both stock
        // implementations.
        peers_.at(it->second.order).claims.erase(it->second.seq);
        it->second = Claim{order, seq};
    } else {
        owners_.emplace(masked, Claim{order, seq});
    }
    record.claims.emplace(seq, masked);
    table_.insert(masked, record.peer.id);
}

// ---- What changed -------------------------------------------------------------------------

DeviceChanges DeviceConfig::changes_from(const DeviceConfig& before) const {
    DeviceChanges c;
    c.private_key = interface_.private_key != before.interface_.private_key;
    c.listen_port = interface_.listen_port != before.interface_.listen_port;
    c.fwmark = interface_.fwmark != before.interface_.fwmark;

    // Ids tell a kept peer from one removed and created again with the same key.
    for (const auto& [order, record] : before.peers_)
        if (!by_id_.count(record.peer.id))
            c.removed.push_back({record.peer.public_key, record.peer.id});
    for (const auto& [order, record] : peers_) {
        const DevicePeer& now = record.peer;
        const auto old_it = before.by_id_.find(now.id);
        if (old_it == before.by_id_.end()) {
            c.added.push_back({now.public_key, now.id});
            continue;
        }
        const PeerRecord& old = before.peers_.at(old_it->second);
        unsigned fields = 0;
        if (now.preshared_key != old.peer.preshared_key) fields |= kPeerPresharedKey;
        if (now.endpoint != old.peer.endpoint) fields |= kPeerEndpoint;
        if (now.persistent_keepalive != old.peer.persistent_keepalive)
            fields |= kPeerPersistentKeepalive;
        // Compared as sets: a re-claim that only reorders the list changes
        // what wg(8) prints, not where packets go.
        if (record.claims.size() != old.claims.size()) {
            fields |= kPeerAllowedIps;
        } else {
            std::vector<IpPrefix> a, b;
            for (const auto& [seq, p] : record.claims) a.push_back(p);
            for (const auto& [seq, p] : old.claims) b.push_back(p);
            if (sorted(std::move(a)) != sorted(std::move(b))) fields |= kPeerAllowedIps;
        }
        if (fields != 0) c.updated.push_back({now.public_key, now.id, fields});
    }
    return c;
}

// ---- Reading --------------------------------------------------------------------------------

uapi::DeviceStatus DeviceConfig::snapshot(const PeerRuntimeFn& runtime,
                                          std::optional<uint16_t> bound_port) const {
    uapi::DeviceStatus s;
    s.private_key = interface_.private_key;
    s.listen_port = bound_port.value_or(interface_.listen_port);
    s.fwmark = interface_.fwmark;
    s.peers.reserve(peers_.size());
    for (const auto& [order, record] : peers_) {
        const DevicePeer& peer = record.peer;
        uapi::PeerStatus& p = s.peers.emplace_back();
        p.public_key = peer.public_key;
        p.preshared_key = peer.preshared_key;
        p.endpoint = peer.endpoint;
        p.persistent_keepalive_interval = peer.persistent_keepalive;
        p.allowed_ips.reserve(record.claims.size());
        for (const auto& [seq, prefix] : record.claims) p.allowed_ips.push_back(prefix);
        if (!runtime) continue;
        if (const std::optional<PeerRuntime> rt = runtime(peer)) {
            if (rt->endpoint) p.endpoint = rt->endpoint;
            p.last_handshake_time_sec = rt->last_handshake_time_sec;
            p.last_handshake_time_nsec = rt->last_handshake_time_nsec;
            p.tx_bytes = rt->tx_bytes;
            p.rx_bytes = rt->rx_bytes;
        }
    }
    return s;
}

const DevicePeer* DeviceConfig::find_peer(const Key& public_key) const {
    const auto it = by_key_.find(public_key);
    return it == by_key_.end() ? nullptr : &peers_.at(it->second).peer;
}

const DevicePeer* DeviceConfig::find_peer(PeerId id) const {
    const auto it = by_id_.find(id);
    return it == by_id_.end() ? nullptr : &peers_.at(it->second).peer;
}

std::vector<const DevicePeer*> DeviceConfig::peers() const {
    std::vector<const DevicePeer*> out;
    out.reserve(peers_.size());
    for (const auto& [order, record] : peers_) out.push_back(&record.peer);
    return out;
}

std::vector<IpPrefix> DeviceConfig::allowed_ips_of(const Key& public_key) const {
    std::vector<IpPrefix> out;
    const auto it = by_key_.find(public_key);
    if (it == by_key_.end()) return out;
    for (const auto& [seq, prefix] : peers_.at(it->second).claims) out.push_back(prefix);
    return out;
}

bool DeviceConfig::well_formed() const {
    if (by_key_.size() != peers_.size() || by_id_.size() != peers_.size()) return false;
    size_t claims = 0;
    for (const auto& [order, record] : peers_) {
        const DevicePeer& peer = record.peer;
        if (order >= next_order_ || peer.id == 0) return false;
        const auto k = by_key_.find(peer.public_key);
        const auto i = by_id_.find(peer.id);
        if (k == by_key_.end() || k->second != order) return false;
        if (i == by_id_.end() || i->second != order) return false;
        if (interface_.private_key && peer.public_key == interface_.public_key) return false;
        std::vector<IpPrefix> mine;
        for (const auto& [seq, prefix] : record.claims) {
            const auto o = owners_.find(prefix);
            if (o == owners_.end() || o->second.order != order || o->second.seq != seq)
                return false;
            if (!prefix.is_masked() || seq >= next_claim_) return false;
            mine.push_back(prefix);
        }
        claims += record.claims.size();
        if (table_.prefixes_of(peer.id) != sorted(std::move(mine))) return false;
    }
    return claims == owners_.size() && table_.size() == owners_.size() && table_.well_formed();
}

}  // namespace sluice
