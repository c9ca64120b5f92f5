// What the operator sees: sluicectl's handlers and the DPDK telemetry
// commands. Handlers run on the control thread and read its state directly;
// lcore counters are read as DPDK's own stats are (a recent value).
#include <rte_telemetry.h>

#include <cerrno>
#include <mutex>

#include "control/dataplane_ports.hpp"
#include "control/gateway_peer.hpp"
#include "control/l2_control.hpp"
#include "control/log.hpp"

namespace sluice {

namespace {

ctl::PortCounters port_counters(const PortStats& s) {
    ctl::PortCounters c;
    c.rx_packets = s.rx_packets;
    c.rx_bytes = s.rx_bytes;
    c.rx_missed = s.rx_no_mbuf;
    c.rx_errors = s.rx_errors;
    c.tx_packets = s.tx_packets;
    c.tx_bytes = s.tx_bytes;
    c.tx_errors = s.tx_errors;
    return c;
}

ctl::LcoreCounters lcore_counters(const LcoreCounters& l) {
    ctl::LcoreCounters c;
    c.rx_packets = l.wan_rx_packets + l.lan_rx_packets;
    c.rx_bytes = l.wan_rx_bytes + l.lan_rx_bytes;
    c.tx_packets = l.transport.tx_packets + l.transport.rx_packets;
    c.tx_bytes = l.transport.tx_bytes + l.transport.rx_bytes;
    c.dropped = l.transport.total_drops();
    return c;
}

ctl::NeighbourState wire_state(NeighbourState state) {
    switch (state) {
        case NeighbourState::incomplete:
            return ctl::NeighbourState::incomplete;
        case NeighbourState::reachable:
            return ctl::NeighbourState::reachable;
        case NeighbourState::probing:
            return ctl::NeighbourState::probing;
        case NeighbourState::failed:
            return ctl::NeighbourState::failed;
        case NeighbourState::permanent:
            break;
    }
    return ctl::NeighbourState::permanent;
}

// Milliseconds from `from` to `to`; 0 when `to` has passed (a deadline the
// control loop has not reached yet).
uint64_t ms_until(std::chrono::nanoseconds from, std::chrono::nanoseconds to) {
    return to > from ? static_cast<uint64_t>((to - from).count() / 1'000'000) : 0;
}

ctl::NeighbourInfo neighbour_info(const NeighbourEntry& e, std::chrono::nanoseconds now) {
    ctl::NeighbourInfo n;
    n.address = e.address;
    n.state = wire_state(e.state);
    n.mac = e.mac;
    n.tries = e.tries;
    n.queued = static_cast<uint32_t>(e.queued);
    // A static entry was made without a clock: it has no age and no deadline.
    if (e.state != NeighbourState::permanent) {
        n.age_ms = ms_until(e.since, now);
        n.next_ms = ms_until(now, e.next);
    }
    return n;
}

ctl::NeighbourPortCounters neighbour_counters(const L2PortStatus& s) {
    ctl::NeighbourPortCounters c;
    c.requests_sent = s.counters.requests_sent;
    c.resolved = s.counters.resolved;
    c.changed = s.counters.changed;
    c.failed = s.counters.failed;
    c.queued = s.counters.queued;
    c.released = s.counters.released;
    c.dropped_queue_full = s.counters.dropped_queue_full;
    c.dropped_failed = s.counters.dropped_failed;
    c.dropped_table_full = s.counters.dropped_table_full;
    c.requests_failed = s.requests_failed;
    c.arp_replies = s.l2.arp_replies;
    c.nd_adverts = s.l2.nd_adverts;
    c.echo_replies = s.l2.echo_replies;
    c.time_exceeded_sent = s.l2.time_exceeded_sent;
    c.too_big_sent = s.l2.too_big_sent;
    c.punted_learn = s.l2.punted_learn;
    c.punted_await = s.l2.punted_await;
    c.punt_full = s.l2.punt_full;
    return c;
}

// The telemetry thread reads these; the control thread refreshes them.
struct TelemetryView {
    const std::vector<Lcore*>* lcores = nullptr;
    Port* wan = nullptr;
    Port* lan = nullptr;
    const ControlCounters* control = nullptr;
};
// The telemetry thread may ask while the gateway goes away: it holds the
// lock for the whole answer, and the gateway clears the view under it.
std::mutex g_telemetry_lock;
TelemetryView g_telemetry;

int telemetry_stats(const char*, const char*, rte_tel_data* d) {
    std::lock_guard lock(g_telemetry_lock);
    if (g_telemetry.lcores == nullptr) return -1;
    rte_tel_data_start_dict(d);
    uint64_t rx = 0, tx = 0, drops = 0, rx_bytes = 0, tx_bytes = 0;
    for (const Lcore* l : *g_telemetry.lcores) {
        const auto& t = l->counters().transport;
        rx += t.rx_packets;
        tx += t.tx_packets;
        rx_bytes += t.rx_bytes;
        tx_bytes += t.tx_bytes;
        drops += t.total_drops();
    }
    rte_tel_data_add_dict_u64(d, "tunnel_rx_packets", rx);
    rte_tel_data_add_dict_u64(d, "tunnel_rx_bytes", rx_bytes);
    rte_tel_data_add_dict_u64(d, "tunnel_tx_packets", tx);
    rte_tel_data_add_dict_u64(d, "tunnel_tx_bytes", tx_bytes);
    rte_tel_data_add_dict_u64(d, "dropped", drops);
    const PortStats w = g_telemetry.wan->stats();
    const PortStats l = g_telemetry.lan->stats();
    rte_tel_data_add_dict_u64(d, "wan_rx_packets", w.rx_packets);
    rte_tel_data_add_dict_u64(d, "wan_tx_packets", w.tx_packets);
    rte_tel_data_add_dict_u64(d, "lan_rx_packets", l.rx_packets);
    rte_tel_data_add_dict_u64(d, "lan_tx_packets", l.tx_packets);
    rte_tel_data_add_dict_u64(d, "handshakes_completed", g_telemetry.control->handshakes_completed);
    return 0;
}

int telemetry_drops(const char*, const char*, rte_tel_data* d) {
    std::lock_guard lock(g_telemetry_lock);
    if (g_telemetry.lcores == nullptr) return -1;
    rte_tel_data_start_dict(d);
    for (size_t r = 1; r < kDropReasonCount; ++r) {
        uint64_t sum = 0;
        for (const Lcore* l : *g_telemetry.lcores) sum += l->counters().transport.drops[r];
        rte_tel_data_add_dict_u64(d, std::string(kDropReasonNames[r]).c_str(), sum);
    }
    return 0;
}

}  // namespace

void Gateway::unregister_telemetry() {
    std::lock_guard lock(g_telemetry_lock);
    g_telemetry = TelemetryView{};
}

void Gateway::register_telemetry() {
    {
        std::lock_guard lock(g_telemetry_lock);
        g_telemetry = TelemetryView{&io_.lcores, io_.ports->wan(), io_.ports->lan(), &counters_};
    }
    rte_telemetry_register_cmd("/sluice/stats", telemetry_stats,
                               "sluice: tunnel and port packet counters. No parameters");
    rte_telemetry_register_cmd("/sluice/drops", telemetry_drops,
                               "sluice: dropped packets by reason, summed over lcores. No parameters");
}

void Gateway::register_ctl_handlers(ctl::HandlerTable& table) {
    using namespace ctl;
    table.add<VersionRequest>([this](const VersionRequest&) -> Outcome<VersionRequest> {
        VersionResponse r;
        r.daemon_version = SLUICE_VERSION;
        r.interface = config_.interface.name;
        r.driver = io_.ports->driver();
        r.uptime_s = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                               std::chrono::steady_clock::now() - started_)
                                               .count());
        return r;
    });
    table.add<ShowRequest>([this](const ShowRequest&) -> Outcome<ShowRequest> { return show(); });
    table.add<ShowLcoresRequest>(
        [this](const ShowLcoresRequest&) -> Outcome<ShowLcoresRequest> { return show_lcores(); });
    table.add<ShowPortsRequest>(
        [this](const ShowPortsRequest&) -> Outcome<ShowPortsRequest> { return show_ports(); });
    table.add<ShowNeighboursRequest>(
        [this](const ShowNeighboursRequest&) -> Outcome<ShowNeighboursRequest> {
            return show_neighbours();
        });
    table.add<ShowStreamsRequest>(
        [this](const ShowStreamsRequest&) -> Outcome<ShowStreamsRequest> { return show_streams(); });
    table.add<ShowDropsRequest>(
        [this](const ShowDropsRequest&) -> Outcome<ShowDropsRequest> { return show_drops(); });
    table.add<StatsRequest>([this](const StatsRequest&) -> Outcome<StatsRequest> { return stats(); });
    table.add<PeerAddRequest>([this](const PeerAddRequest& req) -> Outcome<PeerAddRequest> {
        if (device_.find_peer(req.public_key))
            return Failure{EEXIST, "a peer with that public key exists (use wg set to change it)"};
        if (!req.name.empty())
            for (const auto& [key, name] : names_)
                if (name == req.name && device_.find_peer(key))
                    return Failure{EEXIST, "a peer named \"" + req.name + "\" exists"};
        uapi::SetRequest set;
        uapi::PeerSet p;
        p.public_key = req.public_key;
        if (req.preshared_key) p.preshared_key = *req.preshared_key;
        if (req.endpoint) p.endpoint = uapi::SocketEndpoint{req.endpoint->address, req.endpoint->port};
        p.persistent_keepalive_interval = req.persistent_keepalive;
        p.allowed_ips = req.allowed_ips;
        set.peers.push_back(std::move(p));
        ApplyResult result = device_.apply(set);
        if (result.error)
            return Failure{static_cast<uint32_t>(result.error.code), result.error.message};
        if (!req.name.empty()) names_[req.public_key] = req.name;
        apply_changes(result.changes, Time(monotonic_ns()));
        log::info("peer added by sluicectl" + (req.name.empty() ? "" : ": " + req.name));
        return PeerAddResponse{};
    });
    table.add<PeerRemoveRequest>([this](const PeerRemoveRequest& req) -> Outcome<PeerRemoveRequest> {
        std::optional<Key> key;
        if (const Key* k = std::get_if<Key>(&req.peer)) {
            if (device_.find_peer(*k)) key = *k;
        } else {
            const auto& wanted = std::get<std::string>(req.peer);
            for (const auto& [k, name] : names_)
                if (name == wanted && device_.find_peer(k)) key = k;
            if (!key) return Failure{ENOENT, "no peer named \"" + wanted + "\""};
        }
        if (!key) return Failure{ENOENT, "no peer with that public key"};
        uapi::SetRequest set;
        uapi::PeerSet p;
        p.public_key = *key;
        p.remove = true;
        set.peers.push_back(std::move(p));
        ApplyResult result = device_.apply(set);
        if (result.error)
            return Failure{static_cast<uint32_t>(result.error.code), result.error.message};
        apply_changes(result.changes, Time(monotonic_ns()));
        PeerRemoveResponse r;
        r.public_key = *key;
        if (const auto it = names_.find(*key); it != names_.end()) {
            r.name = it->second;
            names_.erase(it);
        }
        return r;
    });
    table.add<ReloadRequest>([this](const ReloadRequest&) -> Outcome<ReloadRequest> {
        ReloadResponse r;
        std::string error;
        reload(&r, &error);
        if (!error.empty()) return Failure{EINVAL, one_line(error)};
        for (auto& w : r.warnings) w = one_line(w);
        return r;
    });
}

ctl::ShowResponse Gateway::show() const {
    ctl::ShowResponse r;
    r.interface.name = config_.interface.name;
    if (identity_) r.interface.public_key = identity_->public_key;
    r.interface.listen_port = io_.ports->listen_port();
    r.interface.driver = io_.ports->driver();
    r.interface.mtu = config_.interface.mtu;
    r.interface.addresses = config_.interface.addresses;
    const int64_t now = monotonic_ns();
    for (uint32_t id : peer_order_) {
        const Peer& peer = *peers_.at(id);
        const DevicePeer* dp = device_.find_peer(id);
        ctl::PeerInfo info;
        info.public_key = peer.public_key;
        if (const auto it = names_.find(peer.public_key); it != names_.end()) info.name = it->second;
        info.has_preshared_key = dp && dp->preshared_key.has_value();
        if (const auto a = address_of(peer.endpoint))
            info.endpoint = ctl::SocketAddress{*a, peer.endpoint.port};
        info.allowed_ips = device_.allowed_ips_of(peer.public_key);
        if (peer.last_handshake_mono_ns != 0)
            info.handshake_age_ms =
                static_cast<uint64_t>((now - peer.last_handshake_mono_ns) / 1'000'000);
        info.persistent_keepalive = peer.persistent_keepalive;
        info.rx_bytes = peer.shared->rx_bytes.load(std::memory_order_relaxed);
        info.tx_bytes = peer.shared->tx_bytes.load(std::memory_order_relaxed);
        const std::pair<ctl::KeypairSlot, const Keypair*> slots[] = {
            {ctl::KeypairSlot::current, peer.slots.current()},
            {ctl::KeypairSlot::previous, peer.slots.previous()},
            {ctl::KeypairSlot::next, peer.slots.next()}};
        for (const auto& [slot, kp] : slots) {
            if (kp == nullptr) continue;
            ctl::KeypairInfo k;
            k.slot = slot;
            k.local_index = kp->local_index;
            k.remote_index = kp->remote_index;
            k.age_ms = static_cast<uint64_t>((now - kp->birth_ns) / 1'000'000);
            k.we_initiated = kp->we_initiated;
            k.messages_sent = kp->send_counter.load(std::memory_order_relaxed);
            info.keypairs.push_back(k);
        }
        r.peers.push_back(std::move(info));
    }
    return r;
}

ctl::LcoresResponse Gateway::show_lcores() const {
    ctl::LcoresResponse r;
    for (const Lcore* l : io_.lcores) {
        ctl::LcoreInfo info;
        info.lcore_id = l->config().lcore_id;
        switch (l->config().role) {
            case LcoreRole::run_to_completion: info.role = "worker"; break;
            case LcoreRole::rx_tx: info.role = "rx/tx"; break;
            case LcoreRole::crypto: info.role = "crypto"; break;
        }
        info.counters = lcore_counters(l->counters());
        info.busy_cycles = l->counters().busy_cycles;
        info.total_cycles = l->counters().total_cycles;
        info.handed_out = l->counters().handed_out;
        info.handed_in = l->counters().handed_in;
        info.pipelined = l->counters().pipelined;
        r.lcores.push_back(info);
    }
    return r;
}

ctl::PortsResponse Gateway::show_ports() const {
    ctl::PortsResponse r;
    r.ports = io_.ports->describe();
    for (ctl::PortInfo& info : r.ports) {
        const Port* port = info.port_id == 0 ? io_.ports->wan() : io_.ports->lan();
        if (port != nullptr) info.counters = port_counters(port->stats());
    }
    return r;
}

// The L2 ports' neighbour tables. Without L2 ports (the kernel and AF_XDP
// drivers, DPDK in L3 mode) the list is empty: there is nothing to resolve,
// which is an answer, not a failure.
ctl::NeighboursResponse Gateway::show_neighbours() const {
    ctl::NeighboursResponse r;
    r.driver = io_.ports->driver();
    if (io_.l2 == nullptr) return r;
    const std::chrono::nanoseconds now(monotonic_ns());
    for (const L2PortStatus& s : io_.l2->status()) {
        ctl::NeighbourPort port;
        port.port = s.port;
        for (const NeighbourEntry& e : s.neighbours)
            port.neighbours.push_back(neighbour_info(e, now));
        port.counters = neighbour_counters(s);
        r.ports.push_back(std::move(port));
    }
    return r;
}

ctl::DropsResponse Gateway::show_drops() const {
    ctl::DropsResponse r;
    for (const Lcore* l : io_.lcores) r.lcore_ids.push_back(l->config().lcore_id);
    // The control thread's drops get a column of their own, under its lcore id.
    r.lcore_ids.push_back(io_.control_lcore_id);
    const size_t columns = r.lcore_ids.size();
    for (size_t reason = 1; reason < kDropReasonCount; ++reason) {
        ctl::DropRow row;
        row.reason = std::string(kDropReasonNames[reason]);
        for (const Lcore* l : io_.lcores) row.per_lcore.push_back(l->counters().transport.drops[reason]);
        row.per_lcore.push_back(0);
        r.rows.push_back(std::move(row));
    }
    const auto control_row = [&](std::string name, uint64_t value) {
        ctl::DropRow row;
        row.reason = std::move(name);
        row.per_lcore.assign(columns, 0);
        row.per_lcore.back() = value;
        r.rows.push_back(std::move(row));
    };
    const HandshakeGateCounters& g = gate_.counters();
    control_row("handshake_invalid_mac1", g.invalid_mac1);
    control_row("handshake_rate_limited", g.rate_limited);
    control_row("handshake_queue_full", counters_.handshake_queue_full);
    control_row("handshake_malformed", counters_.handshake_unknown_type);
    for (size_t e = 1; e < static_cast<size_t>(HandshakeError::count); ++e)
        control_row(std::string("handshake_") + to_string(static_cast<HandshakeError>(e)),
                    counters_.handshake_errors[e]);
    // The L2 framing counts per port, summed over its queues: in the control
    // column (not drops alone: replies sent too).
    for (const auto& [name, value] : io_.ports->framing_counts()) control_row(name, value);
    control_row("staged_dropped", counters_.staged_dropped);
    control_row("commands_dropped", counters_.commands_dropped);
    control_row("no_endpoint_for_handshake", counters_.no_endpoint);
    // Not drops, but what an operator under attack looks for next to them.
    control_row("cookie_replies_sent", g.cookie_replies);
    return r;
}

ctl::StatsResponse Gateway::stats() const {
    ctl::StatsResponse r;
    r.timestamp_ns = static_cast<uint64_t>(monotonic_ns());
    for (const auto& [id, port] : {std::pair{0, io_.ports->wan()}, std::pair{1, io_.ports->lan()}})
        r.ports.push_back(ctl::PortStats{static_cast<uint16_t>(id), port->name(), port_counters(port->stats())});
    for (const Lcore* l : io_.lcores)
        r.lcores.push_back(ctl::LcoreStats{l->config().lcore_id, lcore_counters(l->counters())});
    return r;
}

}  // namespace sluice
