// What sluicectl prints for a reply with --json: one line of JSON per reply
// or per `stats --watch` period.
#include <cstdint>
#include <cstdio>

#include "control/json_writer.hpp"
#include "control/key_encoding.hpp"
#include "control/sluicectl_args.hpp"
#include "control/sluicectl_rates.hpp"

namespace sluice::sluicectl {

// ---- JSON -----------------------------------------------------------------------------

namespace {

void counters_json(JsonWriter& w, const ctl::PortCounters& c) {
    w.num("rx_packets", c.rx_packets).num("rx_bytes", c.rx_bytes).num("rx_missed", c.rx_missed);
    w.num("rx_errors", c.rx_errors).num("tx_packets", c.tx_packets).num("tx_bytes", c.tx_bytes);
    w.num("tx_errors", c.tx_errors);
}

void counters_json(JsonWriter& w, const ctl::LcoreCounters& c) {
    w.num("rx_packets", c.rx_packets).num("rx_bytes", c.rx_bytes);
    w.num("tx_packets", c.tx_packets).num("tx_bytes", c.tx_bytes).num("dropped", c.dropped);
}

void rates_json(JsonWriter& w, const std::optional<Rates>& r) {
    w.key("rates");
    if (!r) {
        w.null();
        return;
    }
    w.begin_object().num("rx_pps", r->rx_pps).num("rx_bps", r->rx_bps);
    w.num("tx_pps", r->tx_pps).num("tx_bps", r->tx_bps).end_object();
}

void json_of(JsonWriter& w, const ctl::VersionResponse& r) {
    w.key("sluicectl").begin_object().str("version", SLUICE_VERSION);
    w.num("protocol", ctl::kProtocolVersion).end_object();
    w.key("sluiced").begin_object().str("version", r.daemon_version).num("protocol", r.protocol);
    w.str("interface", r.interface).str("driver", r.driver).num("uptime_s", r.uptime_s);
    w.end_object();
}

void json_of(JsonWriter& w, const ctl::ShowResponse& r) {
    const ctl::InterfaceInfo& i = r.interface;
    w.key("interface").begin_object().str("name", i.name);
    w.str("public_key", key_to_base64(i.public_key)).num("listen_port", i.listen_port);
    w.str("driver", i.driver).num("mtu", i.mtu).prefixes("addresses", i.addresses).end_object();
    w.key("peers").begin_array();
    for (const ctl::PeerInfo& p : r.peers) {
        w.begin_object().str("public_key", key_to_base64(p.public_key));
        w.key("name");
        p.name.empty() ? w.null() : w.str(p.name);
        w.flag("preshared_key", p.has_preshared_key).key("endpoint");
        p.endpoint ? w.str(p.endpoint->to_string()) : w.null();
        w.prefixes("allowed_ips", p.allowed_ips).key("latest_handshake_age_ms");
        p.handshake_age_ms ? w.num(*p.handshake_age_ms) : w.null();
        w.num("persistent_keepalive", p.persistent_keepalive);
        w.num("rx_bytes", p.rx_bytes).num("tx_bytes", p.tx_bytes);
        w.key("keypairs").begin_array();
        for (const ctl::KeypairInfo& k : p.keypairs) {
            w.begin_object().str("slot", ctl::slot_name(k.slot));
            w.num("local_index", k.local_index).num("remote_index", k.remote_index);
            w.num("age_ms", k.age_ms).flag("we_initiated", k.we_initiated);
            w.num("messages_sent", k.messages_sent).end_object();
        }
        w.end_array().end_object();
    }
    w.end_array();
}

void json_of(JsonWriter& w, const ctl::LcoresResponse& r) {
    w.key("lcores").begin_array();
    for (const ctl::LcoreInfo& l : r.lcores) {
        w.begin_object().num("lcore_id", l.lcore_id).str("role", l.role);
        counters_json(w, l.counters);
        w.num("busy_cycles", l.busy_cycles).num("total_cycles", l.total_cycles);
        w.num("handed_out", l.handed_out).num("handed_in", l.handed_in);
        w.num("pipelined", l.pipelined).end_object();
    }
    w.end_array();
}

void json_of(JsonWriter& w, const ctl::PortsResponse& r) {
    w.key("ports").begin_array();
    for (const ctl::PortInfo& p : r.ports) {
        w.begin_object().num("port_id", p.port_id).str("name", p.name).str("driver", p.driver);
        w.str("device", p.device).flag("link_up", p.link_up).num("speed_mbps", p.speed_mbps);
        w.num("mtu", p.mtu).num("rx_queues", p.rx_queues).num("tx_queues", p.tx_queues);
        counters_json(w, p.counters);
        w.str("why", p.why).str("notes", p.notes).key("xstats").begin_object();
        for (const ctl::Xstat& x : p.xstats) w.num(x.name, x.value);
        w.end_object().end_object();
    }
    w.end_array();
}

void json_of(JsonWriter& w, const ctl::DropsResponse& r) {
    w.key("lcore_ids").begin_array();
    for (const uint32_t id : r.lcore_ids) w.num(id);
    w.end_array().key("drops").begin_array();
    for (const ctl::DropRow& row : r.rows) {
        uint64_t total = 0;
        for (const uint64_t n : row.per_lcore) total += n;
        w.begin_object().str("reason", row.reason).num("total", total);
        w.key("per_lcore").begin_array();
        for (const uint64_t n : row.per_lcore) w.num(n);
        w.end_array().end_object();
    }
    w.end_array();
}

void optional_num(JsonWriter& w, std::string_view key, const std::optional<uint64_t>& v) {
    w.key(key);
    v ? w.num(*v) : w.null();
}

void counters_json(JsonWriter& w, const ctl::NeighbourPortCounters& c) {
    w.num("requests_sent", c.requests_sent).num("requests_failed", c.requests_failed);
    w.num("resolved", c.resolved).num("changed", c.changed).num("failed", c.failed);
    w.num("queued", c.queued).num("released", c.released);
    w.num("dropped_queue_full", c.dropped_queue_full).num("dropped_failed", c.dropped_failed);
    w.num("dropped_table_full", c.dropped_table_full);
    w.num("arp_replies", c.arp_replies).num("nd_adverts", c.nd_adverts);
    w.num("echo_replies", c.echo_replies).num("time_exceeded_sent", c.time_exceeded_sent);
    w.num("too_big_sent", c.too_big_sent).num("punted_learn", c.punted_learn);
    w.num("punted_await", c.punted_await).num("punt_full", c.punt_full);
}

void json_of(JsonWriter& w, const ctl::NeighboursResponse& r) {
    w.str("driver", r.driver).key("ports").begin_array();
    for (const ctl::NeighbourPort& p : r.ports) {
        w.begin_object().str("port", p.port).key("neighbours").begin_array();
        for (const ctl::NeighbourInfo& n : p.neighbours) {
            w.begin_object().str("address", n.address.to_string()).key("mac");
            n.mac ? w.str(ctl::mac_text(*n.mac)) : w.null();
            w.str("state", ctl::neighbour_state_name(n.state));
            w.num("tries", n.tries).num("queued", n.queued);
            optional_num(w, "age_ms", n.age_ms);
            optional_num(w, "next_ms", n.next_ms);
            w.end_object();
        }
        w.end_array().key("counters").begin_object();
        counters_json(w, p.counters);
        w.end_object().end_object();
    }
    w.end_array();
}

// Empty text as null, like a peer without a name.
void text_or_null(JsonWriter& w, std::string_view key, const std::string& v) {
    w.key(key);
    v.empty() ? w.null() : w.str(v);
}

void json_of(JsonWriter& w, const ctl::StreamsResponse& r) {
    w.flag("enabled", r.enabled).num("memory_budget", r.memory_budget);
    w.num("memory_used", r.memory_used).key("counters").begin_object();
    for (const auto& [name, value] : r.counters) w.num(name, value);
    w.end_object().key("sessions").begin_array();
    for (const ctl::StreamSession& s : r.sessions) {
        w.begin_object().str("peer", s.peer).str("state", s.state);
        w.num("session_id", s.session_id).num("peer_session_id", s.peer_session_id);
        text_or_null(w, "close_error", s.close_error);
        w.flag("closed_by_peer", s.closed_by_peer);
        text_or_null(w, "close_reason", s.close_reason);
        w.num("srtt_us", s.srtt_us).num("min_rtt_us", s.min_rtt_us).num("rttvar_us", s.rttvar_us);
        w.num("cwnd", s.cwnd).key("ssthresh");
        s.ssthresh == UINT64_MAX ? w.null() : w.num(s.ssthresh);
        w.num("bytes_in_flight", s.bytes_in_flight);
        w.num("tx_max_data", s.tx_max_data).num("tx_data", s.tx_data);
        w.num("rx_max_data", s.rx_max_data).num("rx_data", s.rx_data).num("rx_window", s.rx_window);
        w.num("tx_max_streams", s.tx_max_streams).num("rx_max_streams", s.rx_max_streams);
        w.num("buffered", s.buffered).key("counters").begin_object();
        for (const auto& [name, value] : s.counters) w.num(name, value);
        w.end_object().key("streams").begin_array();
        for (const ctl::StreamEntry& e : s.streams) {
            w.begin_object().num("id", e.id).flag("local", e.local).str("state", e.state);
            text_or_null(w, "forward", e.forward);
            w.num("tx_written", e.tx_written).num("tx_acked", e.tx_acked);
            w.num("tx_credit", e.tx_credit).num("rx_received", e.rx_received);
            w.num("rx_read", e.rx_read).num("rx_credit", e.rx_credit);
            w.num("rx_window", e.rx_window).num("rx_buffered", e.rx_buffered);
            w.flag("fin_sent", e.fin_sent).flag("fin_received", e.fin_received).end_object();
        }
        w.end_array().end_object();
    }
    w.end_array();
}

void stats_json(JsonWriter& w, const ctl::StatsResponse* previous, const ctl::StatsResponse& r) {
    w.num("timestamp_ns", r.timestamp_ns).key("interval_ns");
    if (previous)
        w.num(elapsed_ns(*previous, r));
    else
        w.null();
    w.key("ports").begin_array();
    for (const ctl::PortStats& p : r.ports) {
        w.begin_object().num("port_id", p.port_id).str("name", p.name);
        counters_json(w, p.counters);
        rates_json(w, previous ? port_rates(*previous, r, p.port_id) : std::nullopt);
        w.end_object();
    }
    w.end_array().key("lcores").begin_array();
    for (const ctl::LcoreStats& l : r.lcores) {
        w.begin_object().num("lcore_id", l.lcore_id);
        counters_json(w, l.counters);
        rates_json(w, previous ? lcore_rates(*previous, r, l.lcore_id) : std::nullopt);
        w.end_object();
    }
    w.end_array();
}

void json_of(JsonWriter& w, const ctl::StatsResponse& r) {
    stats_json(w, nullptr, r);
}

void json_of(JsonWriter&, const ctl::PeerAddResponse&) {}

void json_of(JsonWriter& w, const ctl::PeerRemoveResponse& r) {
    w.str("removed", key_to_base64(r.public_key)).key("name");
    r.name.empty() ? w.null() : w.str(r.name);
}

void json_of(JsonWriter& w, const ctl::ReloadResponse& r) {
    w.num("peers_added", r.peers_added).num("peers_removed", r.peers_removed);
    w.num("peers_changed", r.peers_changed).key("warnings").begin_array();
    for (const std::string& warning : r.warnings) w.str(warning);
    w.end_array();
}

}  // namespace

std::string render_json(const ctl::Response& response) {
    JsonWriter w;
    w.begin_object();
    std::visit([&w](const auto& r) { json_of(w, r); }, response);
    w.end_object();
    return w.line();
}

std::string render_stats_json(const ctl::StatsResponse* previous,
                              const ctl::StatsResponse& current) {
    JsonWriter w;
    w.begin_object();
    stats_json(w, previous, current);
    w.end_object();
    return w.line();
}

}  // namespace sluice::sluicectl
