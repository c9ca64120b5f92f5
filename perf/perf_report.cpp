// sluice-perf's output: testpmd-style text blocks, or one JSON object per
// line with --json (documented in docs/performance.md).
#include <cinttypes>
#include <cstdio>
#include <string>

#include "control/json_writer.hpp"
#include "perf/perf_run.hpp"

namespace sluice::perf {

namespace {

std::string si(double v) {
    char buf[32];
    if (v >= 1e9) {
        std::snprintf(buf, sizeof buf, "%.2fG", v / 1e9);
    } else if (v >= 1e6) {
        std::snprintf(buf, sizeof buf, "%.2fM", v / 1e6);
    } else if (v >= 1e3) {
        std::snprintf(buf, sizeof buf, "%.1fk", v / 1e3);
    } else {
        std::snprintf(buf, sizeof buf, "%.0f", v);
    }
    return buf;
}

void ports_json(JsonWriter& w, const Figures& f) {
    w.key("ports").begin_array();
    for (const PortFigures& p : f.ports) {
        w.begin_object().str("name", p.name).str("driver", p.driver);
        w.real("rx_pps", p.rx_pps, 0).real("tx_pps", p.tx_pps, 0);
        w.real("rx_bps", p.rx_bps, 0).real("tx_bps", p.tx_bps, 0);
        w.num("rx_packets", p.total.rx_packets).num("tx_packets", p.total.tx_packets);
        w.num("rx_errors", p.total.rx_errors).num("tx_errors", p.total.tx_errors).end_object();
    }
    w.end_array();
}

void lcores_json(JsonWriter& w, std::string_view key, const Figures& f) {
    w.key(key).begin_array();
    for (const LcoreFigures& l : f.lcores) {
        w.begin_object().num("lcore", l.lcore_id).str("role", l.label).real("packets", l.packets, 0);
        w.real("cycles_per_packet", l.cycles_per_packet, 1);
        w.real("gen_cycles_per_packet", l.gen_cycles_per_packet, 1);
        w.real("busy", l.busy, 4).end_object();
    }
    w.end_array();
}

void drops_json(JsonWriter& w, const Figures& f) {
    w.key("drops").begin_object();
    for (const auto& [name, count] : f.drops) w.num(name, count);
    w.end_object();
    w.num("generator_stalls", f.generator_stalls);
}

void print_blocks(const Figures& f) {
    for (const PortFigures& p : f.ports) {
        std::printf("  Port %-8s %-10s Rx-pps: %10s  Rx-bps: %8s  Tx-pps: %10s  Tx-bps: %8s\n",
                    p.name.c_str(), p.driver.c_str(), si(p.rx_pps).c_str(), si(p.rx_bps).c_str(),
                    si(p.tx_pps).c_str(), si(p.tx_bps).c_str());
    }
    for (const LcoreFigures& l : f.lcores) {
        std::printf("  Lcore %-3u %-10s %8.0f cycles/pkt  busy %5.1f%%  (traffic generation and "
                    "sink: %.0f cycles/pkt)\n",
                    l.lcore_id, l.label.c_str(), l.cycles_per_packet, l.busy * 100,
                    l.gen_cycles_per_packet);
    }
    if (f.drops.empty()) {
        std::printf("  Drops: none\n");
    } else {
        std::printf("  Drops:");
        for (const auto& [name, count] : f.drops) std::printf(" %s=%" PRIu64, name.c_str(), count);
        std::printf("\n");
    }
    if (f.generator_stalls > 0)
        std::printf("  Generator: %" PRIu64 " frames discarded waiting for the next key epoch\n",
                    f.generator_stalls);
}

}  // namespace

void print_period(const Figures& f, bool json) {
    if (json) {
        JsonWriter w;
        w.begin_object().str("type", "period").real("t", f.t, 3).real("seconds", f.seconds, 3);
        w.num("generated", f.generated).num("delivered", f.delivered);
        w.real("delivered_pps", f.delivered_pps, 0);
        ports_json(w, f);
        lcores_json(w, "lcores", f);
        drops_json(w, f);
        std::fputs(w.end_object().line().c_str(), stdout);
    } else {
        std::printf("  ---------- stats at %.1f s (last %.2f s): delivered %s pps ----------\n",
                    f.t, f.seconds, si(f.delivered_pps).c_str());
        print_blocks(f);
    }
    std::fflush(stdout);
}

void print_summary(const Summary& s, bool json) {
    const Figures& f = s.figures;
    if (json) {
        JsonWriter w;
        w.begin_object().str("type", "summary").str("mode", to_string(s.mode));
        w.str("pkt_size", s.size).real("avg_pkt_size", s.avg_size, 1);
        w.num("lcores", s.lcores).str("dataplane", s.pipeline ? "pipeline" : "run-to-completion");
        w.num("burst", s.burst).num("peers", s.peers).num("flows", s.flows);
        w.num("out_of_order", f.out_of_order);
        w.real("duration_s", f.seconds, 3).num("generated", f.generated).num("delivered", f.delivered);
        w.real("mpps", s.mpps, 4).real("gbps", s.gbps, 4);
        w.key("cycles_per_packet").begin_array();
        for (const LcoreFigures& l : f.lcores) w.real(l.cycles_per_packet, 1);
        w.end_array().key("latency_us");
        if (s.has_latency) {
            w.begin_object().real("p50", s.p50_us, 2).real("p99", s.p99_us, 2);
            w.real("p999", s.p999_us, 2).real("max", s.max_us, 2);
            w.num("samples", s.latency_samples).end_object();
        } else {
            w.null();
        }
        w.num("keypairs", s.keypairs).num("tsc_hz", s.tsc_hz);
        ports_json(w, f);
        lcores_json(w, "lcore_figures", f);
        drops_json(w, f);
        std::fputs(w.end_object().line().c_str(), stdout);
    } else {
        std::printf("  ================ summary: %s, %s B, %u lcore(s) per gateway%s, %u peer(s), "
                    "burst %u ================\n",
                    to_string(s.mode), s.size.c_str(), s.lcores, s.pipeline ? " (pipeline)" : "",
                    s.peers, s.burst);
        if (f.out_of_order > 0)
            std::printf("  %" PRIu64 " packets arrived behind a later one of their stream\n",
                        f.out_of_order);
        std::printf("  %.2f s: generated %" PRIu64 ", delivered %" PRIu64
                    " -> %.3f Mpps, %.3f Gbps of inner packets (%.0f B average)\n",
                    f.seconds, f.generated, f.delivered, s.mpps, s.gbps, s.avg_size);
        print_blocks(f);
        if (s.has_latency) {
            std::printf("  Latency (%" PRIu64 " samples): p50 %.2f us  p99 %.2f us  p99.9 %.2f us"
                        "  max %.2f us\n",
                        s.latency_samples, s.p50_us, s.p99_us, s.p999_us, s.max_us);
        }
        if (s.keypairs > 0) std::printf("  Keypairs made: %" PRIu64 "\n", s.keypairs);
    }
    std::fflush(stdout);
}

}  // namespace sluice::perf
