// Configuration changes reach the running gateway here, whichever way they
// come: a UAPI set from wg(8), `sluicectl peer add|remove`, or a reload
// (SIGHUP, `sluicectl reload`). Each goes through DeviceConfig, which applies
// all or nothing and reports what changed; only that difference is acted on,
// so established sessions of unchanged peers carry on.
#include <netdb.h>
#include <rte_mbuf.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "control/dataplane_ports.hpp"
#include "control/gateway_peer.hpp"
#include "control/log.hpp"
#include "control/stream_forwarder.hpp"

namespace sluice {

// Host-name endpoints from the configuration, resolved when the file is read
// (start-up, reload), never on the packet path. The first address wins.
std::optional<uapi::SocketEndpoint> resolve_endpoint(const Endpoint& e) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_ADDRCONFIG;
    addrinfo* res = nullptr;
    if (getaddrinfo(e.host.c_str(), nullptr, &hints, &res) != 0 || res == nullptr) {
        log::warning("cannot resolve endpoint " + e.to_string() + "; the peer waits to be reached");
        return std::nullopt;
    }
    uapi::SocketEndpoint out;
    out.port = e.port;
    if (res->ai_family == AF_INET) {
        out.address.family = IpFamily::v4;
        std::memcpy(out.address.addr.data(),
                    &reinterpret_cast<const sockaddr_in*>(res->ai_addr)->sin_addr, 4);
    } else {
        out.address.family = IpFamily::v6;
        std::memcpy(out.address.addr.data(),
                    &reinterpret_cast<const sockaddr_in6*>(res->ai_addr)->sin6_addr, 16);
    }
    freeaddrinfo(res);
    return out;
}

std::optional<MbufEndpoint> Gateway::configured_endpoint(const DevicePeer& dp) const {
    if (!dp.endpoint) return std::nullopt;
    return to_mbuf_endpoint(dp.endpoint->address, dp.endpoint->port);
}

void Gateway::set_identity(Time now) {
    const auto& key = device_.interface().private_key;
    if (key) {
        identity_ = std::make_unique<StaticIdentity>(StaticIdentity::from_private_key(*key));
        cookie_checker_ = std::make_unique<CookieChecker>(identity_->public_key);
    } else {
        identity_.reset();
        cookie_checker_.reset();
    }
    // New static keys: every handshake and session restarts.
    for (auto& [id, peer] : peers_) {
        zero_keys(*peer);
        const DevicePeer* dp = device_.find_peer(peer->public_key);
        if (identity_ && dp)
            peer->handshake.configure(*identity_, peer->public_key,
                                      dp->preshared_key ? *dp->preshared_key : Key{});
    }
    (void)now;
}

void Gateway::add_peer(const DevicePeer& dp, Time now) {
    auto peer = std::make_unique<Peer>(timer_jitter_source());
    peer->id = dp.id;
    peer->public_key = dp.public_key;
    peer->jar = std::make_unique<CookieJar>(dp.public_key);
    if (identity_)
        peer->handshake.configure(*identity_, dp.public_key,
                                  dp.preshared_key ? *dp.preshared_key : Key{});
    if (const auto ep = configured_endpoint(dp)) peer->endpoint = *ep;
    peer->shared = new PeerShared();
    Peer& ref = *peer;
    peers_[dp.id] = std::move(peer);
    peer_order_.push_back(dp.id);
    ref.persistent_keepalive = dp.persistent_keepalive;
    dirty_ = true;
    sync_stream_peer(ref);
    if (dp.persistent_keepalive != 0)
        carry_out(ref, ref.timers.set_persistent_keepalive(
                           now, std::chrono::seconds(dp.persistent_keepalive)),
                  now);
}

void Gateway::remove_peer(uint32_t id) {
    const auto it = peers_.find(id);
    if (it == peers_.end()) return;
    Peer& peer = *it->second;
    if (streams_) streams_->remove_peer(id);
    peer.timers.stop();
    drop_staged(peer);
    zero_keys(peer);
    PeerShared* shared = peer.shared;
    io_.rcu->retire([shared] { delete shared; });
    peers_.erase(it);
    std::erase(peer_order_, id);
    dirty_ = true;
}

void Gateway::update_peer(const PeerUpdate& update, Time now) {
    Peer* peer = peer_by_id(update.id);
    const DevicePeer* dp = device_.find_peer(update.id);
    if (peer == nullptr || dp == nullptr) return;
    if ((update.fields & kPeerPresharedKey) && identity_)
        peer->handshake.configure(*identity_, peer->public_key,
                                  dp->preshared_key ? *dp->preshared_key : Key{});
    if (update.fields & kPeerEndpoint) {
        if (const auto ep = configured_endpoint(*dp)) peer->endpoint = *ep;
    }
    if (update.fields & kPeerPersistentKeepalive) {
        peer->persistent_keepalive = dp->persistent_keepalive;
        carry_out(*peer,
                  peer->timers.set_persistent_keepalive(
                      now, std::chrono::seconds(dp->persistent_keepalive)),
                  now);
    }
    dirty_ = true;  // endpoint or allowed IPs: the lcores' tables change
}

void Gateway::apply_changes(const DeviceChanges& changes, Time now) {
    for (const PeerRef& r : changes.removed) remove_peer(r.id);
    if (changes.private_key) set_identity(now);
    for (const PeerRef& r : changes.added)
        if (const DevicePeer* dp = device_.find_peer(r.id)) add_peer(*dp, now);
    for (const PeerUpdate& u : changes.updated) update_peer(u, now);
    if (dirty_) publish();
}

uapi::Error Gateway::uapi_set(const uapi::SetRequest& request) {
    // The socket and its mark belong to lcores that are running: changing
    // either needs a restart, and saying so beats pretending it worked.
    if (request.interface.listen_port && *request.interface.listen_port != 0 &&
        *request.interface.listen_port != io_.ports->listen_port())
        return uapi::Error{EOPNOTSUPP, "the listen port of a running sluiced cannot change"};
    if (request.interface.fwmark && *request.interface.fwmark != device_.interface().fwmark)
        return uapi::Error{EOPNOTSUPP, "sluiced does not support fwmark"};
    ApplyResult result = device_.apply(request);
    if (result.error) {
        log::warning("wg set refused: " + result.error.message);
        return result.error;
    }
    apply_changes(result.changes, Time(monotonic_ns()));
    return {};
}

uapi::DeviceStatus Gateway::uapi_get() const {
    return device_.snapshot(
        [this](const DevicePeer& dp) -> std::optional<PeerRuntime> {
            const auto it = peers_.find(dp.id);
            if (it == peers_.end()) return std::nullopt;
            const Peer& peer = *it->second;
            PeerRuntime rt;
            if (const auto a = address_of(peer.endpoint))
                rt.endpoint = uapi::SocketEndpoint{*a, peer.endpoint.port};
            rt.last_handshake_time_sec = peer.last_handshake_unix_ns / 1'000'000'000;
            rt.last_handshake_time_nsec = peer.last_handshake_unix_ns % 1'000'000'000;
            rt.rx_bytes = peer.shared->rx_bytes.load(std::memory_order_relaxed);
            rt.tx_bytes = peer.shared->tx_bytes.load(std::memory_order_relaxed);
            return rt;
        },
        io_.ports->listen_port());
}

void Gateway::reload(ctl::ReloadResponse* response, std::string* error) {
    Config fresh;
    try {
        fresh = load_config_file(config_.file);
    } catch (const ConfigError& e) {
        *error = e.what();
        return;
    }
    if (fresh.interface.listen_port != config_.interface.listen_port ||
        fresh.interface.name != config_.interface.name || fresh.interface.mtu != config_.interface.mtu ||
        fresh.interface.addresses != config_.interface.addresses)
        response->warnings.push_back(
            "interface name, listen_port, mtu and addresses apply at the next restart");
    ApplyResult result = device_.apply_config(fresh, resolve_endpoint);
    if (result.error) {
        *error = result.error.message;
        return;
    }
    names_.clear();
    for (const auto& p : fresh.peers)
        if (!p.name.empty()) names_[p.public_key] = p.name;
    for (const auto& w : fresh.warnings) response->warnings.push_back(w);
    response->peers_added = static_cast<uint32_t>(result.changes.added.size());
    response->peers_removed = static_cast<uint32_t>(result.changes.removed.size());
    response->peers_changed = static_cast<uint32_t>(result.changes.updated.size());
    apply_changes(result.changes, Time(monotonic_ns()));
    config_.peers = fresh.peers;
    config_.testing = fresh.testing;
    if (!streams_ && std::any_of(fresh.peers.begin(), fresh.peers.end(),
                                 [](const PeerConfig& p) { return p.streams.has_value(); }))
        response->warnings.push_back("streams start at the next restart");
    if (fresh.forwards != config_.forwards || fresh.streams != config_.streams)
        response->warnings.push_back("forwards and streams settings apply at the next restart");
    for (uint32_t id : peer_order_) sync_stream_peer(*peers_.at(id));
    log::info("reloaded " + config_.file + ": " + std::to_string(response->peers_added) +
              " peers added, " + std::to_string(response->peers_removed) + " removed, " +
              std::to_string(response->peers_changed) + " changed");
}

}  // namespace sluice
