// What sluicectl prints for a reply: wg(8)-style human-readable text, and
// `stats --watch` periods laid out like testpmd's "show port stats".
#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "control/key_encoding.hpp"
#include "control/sluicectl_args.hpp"
#include "dataplane/drop_reasons.hpp"

namespace sluice::sluicectl {

// ---- Formatting helpers -------------------------------------------------------------------

std::string human_duration(uint64_t seconds) {
    static constexpr std::array<std::pair<uint64_t, std::string_view>, 5> kUnits = {{
        {365ull * 24 * 3600, "year"},
        {24 * 3600, "day"},
        {3600, "hour"},
        {60, "minute"},
        {1, "second"},
    }};
    std::string out;
    for (const auto& [size, unit] : kUnits) {
        const uint64_t n = seconds / size;
        seconds %= size;
        if (n == 0) continue;
        if (!out.empty()) out += ", ";
        out += std::to_string(n) + " " + std::string(unit) + (n == 1 ? "" : "s");
    }
    return out;
}

std::string human_bytes(uint64_t bytes) {
    static constexpr std::array<std::string_view, 4> kUnits = {"KiB", "MiB", "GiB", "TiB"};
    if (bytes < 1024) return std::to_string(bytes) + " B";
    double value = static_cast<double>(bytes) / 1024;
    size_t unit = 0;
    while (value >= 1024 && unit + 1 < kUnits.size()) {
        value /= 1024;
        ++unit;
    }
    char buf[48];
    std::snprintf(buf, sizeof buf, "%.2f %s", value, std::string(kUnits[unit]).c_str());
    return buf;
}

namespace {

std::string joined(const std::vector<IpPrefix>& prefixes) {
    if (prefixes.empty()) return "(none)";
    std::string out;
    for (const IpPrefix& p : prefixes) out += (out.empty() ? "" : ", ") + p.to_string();
    return out;
}

std::string hex32(uint32_t v) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%08" PRIx32, v);
    return buf;
}

// Columns of text: left-aligned where `left` says so, else right-aligned,
// two spaces apart, no trailing spaces.
std::string table(const std::vector<std::vector<std::string>>& rows,
                  const std::vector<bool>& left) {
    std::vector<size_t> width;
    for (const auto& row : rows)
        for (size_t c = 0; c < row.size(); ++c) {
            if (width.size() <= c) width.resize(c + 1, 0);
            width[c] = std::max(width[c], row[c].size());
        }
    std::string out;
    for (const auto& row : rows) {
        std::string line;
        for (size_t c = 0; c < row.size(); ++c) {
            const bool l = c < left.size() && left[c];
            const std::string pad(width[c] - row[c].size(), ' ');
            if (c) line += "  ";
            line += l ? row[c] + pad : pad + row[c];
        }
        while (!line.empty() && line.back() == ' ') line.pop_back();
        out += line + "\n";
    }
    return out;
}

std::string num(uint64_t v) {
    return std::to_string(v);
}

// testpmd's "%-10" PRIu64: left-aligned in ten columns.
std::string left10(uint64_t v) {
    std::string s = num(v);
    if (s.size() < 10) s.append(10 - s.size(), ' ');
    return s;
}

// testpmd's "%12" PRIu64.
std::string right12(uint64_t v) {
    std::string s = num(v);
    if (s.size() < 12) s.insert(0, 12 - s.size(), ' ');
    return s;
}

}  // namespace

// ---- Text renderers -----------------------------------------------------------------------

namespace {

std::string text_of(const ctl::VersionResponse& r) {
    return client_version_text() + "\nsluiced " + r.daemon_version + " (control protocol " +
           std::to_string(r.protocol) + "), interface " + r.interface + ", driver " + r.driver +
           ", up " + (r.uptime_s ? human_duration(r.uptime_s) : "0 seconds") + "\n";
}

std::string text_of(const ctl::ShowResponse& r) {
    const ctl::InterfaceInfo& i = r.interface;
    std::string out = "interface: " + i.name + "\n";
    out += "  public key: " + key_to_base64(i.public_key) + "\n";
    out += "  listening port: " + num(i.listen_port) + "\n";
    out += "  driver: " + i.driver + "\n";
    out += "  mtu: " + num(i.mtu) + "\n";
    out += "  addresses: " + joined(i.addresses) + "\n";
    for (const ctl::PeerInfo& p : r.peers) {
        out += "\npeer: " + key_to_base64(p.public_key);
        if (!p.name.empty()) out += " (" + p.name + ")";
        out += "\n";
        if (p.has_preshared_key) out += "  preshared key: (hidden)\n";
        if (p.endpoint) out += "  endpoint: " + p.endpoint->to_string() + "\n";
        out += "  allowed ips: " + joined(p.allowed_ips) + "\n";
        if (p.handshake_age_ms) {
            const uint64_t s = *p.handshake_age_ms / 1000;
            out += "  latest handshake: " + (s ? human_duration(s) + " ago" : "Now") + "\n";
        }
        if (p.rx_bytes || p.tx_bytes)
            out += "  transfer: " + human_bytes(p.rx_bytes) + " received, " +
                   human_bytes(p.tx_bytes) + " sent\n";
        if (p.persistent_keepalive)
            out += "  persistent keepalive: every " + human_duration(p.persistent_keepalive) + "\n";
        for (const ctl::KeypairInfo& k : p.keypairs) {
            out += "  keypair " + std::string(ctl::slot_name(k.slot)) + ": index " +
                   hex32(k.local_index) + ", remote " + hex32(k.remote_index) + ", " +
                   (k.we_initiated ? "we initiated" : "they initiated") + ", " +
                   num(k.age_ms / 1000) + " s old, " + num(k.messages_sent) + " sent\n";
        }
    }
    return out;
}

std::string text_of(const ctl::LcoresResponse& r) {
    if (r.lcores.empty()) return "no lcores\n";
    // Pipeline mode adds a column: what went through the crypto lcores.
    const bool pipeline =
        std::any_of(r.lcores.begin(), r.lcores.end(), [](const ctl::LcoreInfo& l) {
            return l.role == "rx/tx" || l.role == "crypto";
        });
    std::vector<std::vector<std::string>> rows = {{"lcore", "role", "rx-packets", "rx-bytes",
                                                   "tx-packets", "tx-bytes", "dropped",
                                                   "handed-out", "handed-in", "busy"}};
    if (pipeline) rows[0].insert(rows[0].end() - 1, "pipelined");
    for (const ctl::LcoreInfo& l : r.lcores) {
        std::string busy = "-";
        if (l.total_cycles) {
            char buf[16];
            std::snprintf(buf, sizeof buf, "%.1f%%",
                          100.0 * static_cast<double>(std::min(l.busy_cycles, l.total_cycles)) /
                              static_cast<double>(l.total_cycles));
            busy = buf;
        }
        const ctl::LcoreCounters& c = l.counters;
        rows.push_back({num(l.lcore_id), l.role, num(c.rx_packets), num(c.rx_bytes),
                        num(c.tx_packets), num(c.tx_bytes), num(c.dropped), num(l.handed_out),
                        num(l.handed_in), busy});
        if (pipeline) rows.back().insert(rows.back().end() - 1, num(l.pipelined));
    }
    return table(rows, {false, true});
}

// "HEAD name=value name=value ...", wrapped before kWidth columns with the
// continuation lines under the first entry (an entry longer than a line gets
// one of its own).
std::string wrapped_pairs(const std::string& head,
                          const std::vector<std::pair<std::string_view, uint64_t>>& pairs) {
    constexpr size_t kWidth = 100;
    std::string out;
    std::string line = head;
    for (const auto& [name, value] : pairs) {
        const std::string entry = std::string(name) + "=" + num(value);
        const bool line_empty = line.size() == head.size();
        if (!line_empty && line.size() + 1 + entry.size() > kWidth) {
            out += line + "\n";
            line = std::string(head.size(), ' ');
        }
        if (line.size() != head.size()) line += ' ';
        line += entry;
    }
    return out + line + "\n";
}

std::string xstats_lines(const std::vector<ctl::Xstat>& xstats) {
    std::vector<std::pair<std::string_view, uint64_t>> pairs;
    for (const ctl::Xstat& x : xstats) pairs.emplace_back(x.name, x.value);
    return wrapped_pairs("  xstats: ", pairs);
}

std::string text_of(const ctl::PortsResponse& r) {
    if (r.ports.empty()) return "no ports\n";
    std::string out;
    for (const ctl::PortInfo& p : r.ports) {
        const ctl::PortCounters& c = p.counters;
        out += "port " + num(p.port_id) + " (" + p.name + "): " + p.driver + " on " + p.device +
               ", link " + (p.link_up ? "up" : "down") +
               (p.speed_mbps ? ", " + num(p.speed_mbps) + " Mbit/s" : "") + ", mtu " + num(p.mtu) +
               ", " + num(p.rx_queues) + " rx / " + num(p.tx_queues) + " tx queues\n";
        out += "  RX-packets: " + num(c.rx_packets) + "  RX-bytes: " + num(c.rx_bytes) +
               "  RX-missed: " + num(c.rx_missed) + "  RX-errors: " + num(c.rx_errors) + "\n";
        out += "  TX-packets: " + num(c.tx_packets) + "  TX-bytes: " + num(c.tx_bytes) +
               "  TX-errors: " + num(c.tx_errors) + "\n";
        if (!p.why.empty()) out += "  driver chosen: " + p.why + "\n";
        if (!p.notes.empty()) out += "  notes: " + p.notes + "\n";
        if (!p.xstats.empty()) out += xstats_lines(p.xstats);
    }
    return out;
}

// Seconds for neighbour ages and deadlines, which are seconds to minutes:
// "0.4s", "28.8s", "95s".
std::string seconds_ms(uint64_t ms) {
    if (ms >= 100'000) return num(ms / 1000) + "s";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%" PRIu64 ".%" PRIu64 "s", ms / 1000, ms % 1000 / 100);
    return buf;
}

// What happens to an entry next, and when (control/neighbours.hpp's states).
std::string next_action(const ctl::NeighbourInfo& n) {
    if (!n.next_ms) return "-";
    const std::string in = seconds_ms(*n.next_ms);
    switch (n.state) {
        case ctl::NeighbourState::incomplete:
            return num(n.tries) + (n.tries == 1 ? " request" : " requests") + " sent, next in " +
                   in;
        case ctl::NeighbourState::reachable:
            return "probe in " + in;
        case ctl::NeighbourState::probing:
            return num(n.tries) + (n.tries == 1 ? " probe" : " probes") + " sent, next in " + in;
        case ctl::NeighbourState::failed:
            return "forget in " + in;
        case ctl::NeighbourState::permanent:
            break;
    }
    return "-";
}

std::string neighbour_counter_lines(const ctl::NeighbourPort& p) {
    const ctl::NeighbourPortCounters& c = p.counters;
    return wrapped_pairs(p.port + " counters: ", {{"requests_sent", c.requests_sent},
                                                  {"requests_failed", c.requests_failed},
                                                  {"resolved", c.resolved},
                                                  {"changed", c.changed},
                                                  {"failed", c.failed},
                                                  {"queued", c.queued},
                                                  {"released", c.released},
                                                  {"dropped_queue_full", c.dropped_queue_full},
                                                  {"dropped_failed", c.dropped_failed},
                                                  {"dropped_table_full", c.dropped_table_full},
                                                  {"arp_replies", c.arp_replies},
                                                  {"nd_adverts", c.nd_adverts},
                                                  {"echo_replies", c.echo_replies},
                                                  {"time_exceeded_sent", c.time_exceeded_sent},
                                                  {"too_big_sent", c.too_big_sent},
                                                  {"punted_learn", c.punted_learn},
                                                  {"punted_await", c.punted_await},
                                                  {"punt_full", c.punt_full}});
}

// One table for every port's entries, then each port's counters.
std::string text_of(const ctl::NeighboursResponse& r) {
    if (r.ports.empty()) return "no L2 ports (driver " + r.driver + ")\n";
    std::vector<std::vector<std::string>> rows = {
        {"port", "address", "mac", "state", "age", "next", "queued"}};
    for (const ctl::NeighbourPort& p : r.ports)
        for (const ctl::NeighbourInfo& n : p.neighbours)
            rows.push_back({p.port, n.address.to_string(), n.mac ? ctl::mac_text(*n.mac) : "-",
                            std::string(ctl::neighbour_state_name(n.state)),
                            n.age_ms ? seconds_ms(*n.age_ms) : "-", next_action(n), num(n.queued)});
    std::string out = rows.size() == 1 ? "no neighbours\n"
                                       : table(rows, {true, true, true, true, false, true, false});
    for (const ctl::NeighbourPort& p : r.ports) out += neighbour_counter_lines(p);
    return out;
}

// Round-trip times, which are microseconds to seconds: "0.35 ms", "12.3 ms",
// "1250.0 ms"; UINT64_MAX (no sample) as "-".
std::string rtt_ms(uint64_t us) {
    if (us == UINT64_MAX) return "-";
    char buf[32];
    std::snprintf(buf, sizeof buf, us < 10'000 ? "%.2f ms" : "%.1f ms",
                  static_cast<double>(us) / 1000.0);
    return buf;
}

// Who closed a session, why, and the reason in words: "  closed by the
// peer: credit_overrun (stream 4: ...)". A session still up may carry a
// reason too (why the one before it closed): "  note: ...".
std::string close_line(const ctl::StreamSession& s) {
    if (s.state != "closed")
        return s.close_reason.empty() ? "" : "  note: " + s.close_reason + "\n";
    std::string out =
        std::string("  closed by ") + (s.closed_by_peer ? "the peer" : "this gateway");
    if (!s.close_error.empty() && s.close_error != "none") out += ": " + s.close_error;
    if (!s.close_reason.empty()) out += " (" + s.close_reason + ")";
    return out + "\n";
}

// "written/acked/credit", and " fin" once the end is sent or received.
std::string stream_cells(uint64_t a, uint64_t b, uint64_t c, bool fin) {
    return num(a) + "/" + num(b) + "/" + num(c) + (fin ? " fin" : "");
}

std::string session_block(const ctl::StreamSession& s) {
    std::string out = "\npeer: " + s.peer + "\n";
    out += "  state: " + s.state + ", session " + hex32(s.session_id) + ", peer session " +
           hex32(s.peer_session_id) + "\n";
    out += close_line(s);
    out += "  rtt: " + rtt_ms(s.srtt_us) + " (min " + rtt_ms(s.min_rtt_us) + ", var " +
           rtt_ms(s.rttvar_us) + ")\n";
    out += "  cwnd: " + num(s.cwnd) + ", in flight: " + num(s.bytes_in_flight) +
           ", ssthresh: " + (s.ssthresh == UINT64_MAX ? "-" : num(s.ssthresh)) + "\n";
    out += "  session credit: tx " + num(s.tx_data) + "/" + num(s.tx_max_data) + ", rx " +
           num(s.rx_data) + "/" + num(s.rx_max_data) + " (window " + num(s.rx_window) + ")\n";
    out += "  streams: " + num(s.streams.size()) + " (limit tx " + num(s.tx_max_streams) + ", rx " +
           num(s.rx_max_streams) + "), buffered: " + num(s.buffered) + "\n";
    if (!s.streams.empty()) {
        std::vector<std::vector<std::string>> rows = {{"id", "dir", "state", "forward",
                                                       "tx written/acked/credit",
                                                       "rx received/read/credit", "buf"}};
        for (const ctl::StreamEntry& e : s.streams)
            rows.push_back({num(e.id), e.local ? "local" : "remote", e.state,
                            e.forward.empty() ? "-" : e.forward,
                            stream_cells(e.tx_written, e.tx_acked, e.tx_credit, e.fin_sent),
                            stream_cells(e.rx_received, e.rx_read, e.rx_credit, e.fin_received),
                            num(e.rx_buffered)});
        const std::string lines = table(rows, {false, true, true, true, true, true, false});
        for (size_t at = 0; at < lines.size();) {
            const size_t end = lines.find('\n', at) + 1;
            out += "  " + lines.substr(at, end - at);
            at = end;
        }
    }
    if (!s.counters.empty()) {
        std::vector<std::pair<std::string_view, uint64_t>> pairs;
        for (const auto& [name, value] : s.counters) pairs.emplace_back(name, value);
        out += wrapped_pairs("  counters: ", pairs);
    }
    return out;
}

// A header line for the engine's buffer budget, then a block per session.
std::string text_of(const ctl::StreamsResponse& r) {
    if (!r.enabled) return "streams: not enabled (no peer has `streams:` in the configuration)\n";
    const std::string budget =
        r.memory_budget ? " of " + human_bytes(r.memory_budget) : std::string(" (no budget)");
    const size_t n = r.sessions.size();
    const std::string sessions =
        n == 0 ? std::string("no sessions") : num(n) + (n == 1 ? " session" : " sessions");
    std::string out =
        "streams: buffers use " + human_bytes(r.memory_used) + budget + "; " + sessions + "\n";
    if (!r.counters.empty()) {
        std::vector<std::pair<std::string_view, uint64_t>> pairs;
        for (const auto& [name, value] : r.counters) pairs.emplace_back(name, value);
        out += wrapped_pairs("  gateway: ", pairs);
    }
    for (const ctl::StreamSession& s : r.sessions) out += session_block(s);
    return out;
}

std::string text_of(const ctl::DropsResponse& r) {
    std::vector<std::string> head = {"reason", "total"};
    for (const uint32_t id : r.lcore_ids) head.push_back("lcore " + num(id));
    head.push_back("description");
    std::vector<std::vector<std::string>> rows = {head};
    std::vector<bool> left = {true};
    left.resize(head.size(), false);
    left.back() = true;
    for (const ctl::DropRow& row : r.rows) {
        uint64_t total = 0;
        std::vector<std::string> cells = {row.reason, ""};
        for (const uint64_t n : row.per_lcore) {
            total += n;
            cells.push_back(num(n));
        }
        cells[1] = num(total);
        // Reasons this build does not know still print, without a description.
        const auto known = drop_reason_from_name(row.reason);
        cells.emplace_back(known ? drop_reason_description(*known) : "");
        rows.push_back(std::move(cells));
    }
    return table(rows, left);
}

std::string text_of(const ctl::StatsResponse& r) {
    return render_stats_period(nullptr, r);
}

std::string text_of(const ctl::PeerAddResponse&) {
    return "";
}

std::string text_of(const ctl::PeerRemoveResponse& r) {
    return "removed peer " + key_to_base64(r.public_key) +
           (r.name.empty() ? "" : " (" + r.name + ")") + "\n";
}

std::string text_of(const ctl::ReloadResponse& r) {
    std::string out = "reloaded: " + num(r.peers_added) + " peers added, " + num(r.peers_removed) +
                      " removed, " + num(r.peers_changed) + " changed\n";
    for (const std::string& w : r.warnings) out += "warning: " + w + "\n";
    return out;
}

}  // namespace

std::string render_text(const ctl::Response& response) {
    return std::visit([](const auto& r) { return text_of(r); }, response);
}

// ---- Stats periods ------------------------------------------------------------------------

namespace {

constexpr std::string_view kBorder = "########################";

std::string throughput(const std::optional<Rates>& rates) {
    if (!rates) return "";
    return "\n  Throughput (since last show)\n  Rx-pps: " + right12(rates->rx_pps) +
           "          Rx-bps: " + right12(rates->rx_bps) + "\n  Tx-pps: " + right12(rates->tx_pps) +
           "          Tx-bps: " + right12(rates->tx_bps) + "\n";
}

}  // namespace

std::string render_stats_period(const ctl::StatsResponse* previous,
                                const ctl::StatsResponse& current) {
    const std::string border(kBorder);
    std::string out;
    for (const ctl::PortStats& p : current.ports) {
        const ctl::PortCounters& c = p.counters;
        out += "\n  " + border + " NIC statistics for port " + num(p.port_id) + " (" + p.name +
               ") " + border + "\n";
        out += "  RX-packets: " + left10(c.rx_packets) + " RX-missed: " + left10(c.rx_missed) +
               " RX-bytes:  " + num(c.rx_bytes) + "\n";
        out += "  RX-errors: " + num(c.rx_errors) + "\n";
        out += "  TX-packets: " + left10(c.tx_packets) + " TX-errors: " + left10(c.tx_errors) +
               " TX-bytes:  " + num(c.tx_bytes) + "\n";
        out += throughput(previous ? port_rates(*previous, current, p.port_id) : std::nullopt);
        out += "  " + border + "############################" + border + "\n";
    }
    for (const ctl::LcoreStats& l : current.lcores) {
        const ctl::LcoreCounters& c = l.counters;
        out += "\n  " + border + " statistics for lcore " + num(l.lcore_id) + " " + border + "\n";
        out += "  RX-packets: " + left10(c.rx_packets) + " RX-bytes:  " + num(c.rx_bytes) + "\n";
        out += "  TX-packets: " + left10(c.tx_packets) + " TX-bytes:  " + num(c.tx_bytes) + "\n";
        out += "  Dropped:    " + num(c.dropped) + "\n";
        out += throughput(previous ? lcore_rates(*previous, current, l.lcore_id) : std::nullopt);
        out += "  " + border + "############################" + border + "\n";
    }
    return out;
}

}  // namespace sluice::sluicectl
