// sluice-perf's output: testpmd-style text blocks, or one JSON object per
// line with --json (documented in docs/performance.md).
#include <cinttypes>
#include <cstdio>
#include <string>

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

std::string json_string(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
        } else {
            out += c;
        }
    }
    return out + "\"";
}

std::string num(double v, int decimals = 3) {
    char buf[48];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}

std::string ports_json(const Figures& f) {
    std::string out = "[";
    for (size_t i = 0; i < f.ports.size(); ++i) {
        const PortFigures& p = f.ports[i];
        if (i) out += ",";
        out += "{\"name\":" + json_string(p.name) + ",\"driver\":" + json_string(p.driver) +
               ",\"rx_pps\":" + num(p.rx_pps, 0) + ",\"tx_pps\":" + num(p.tx_pps, 0) +
               ",\"rx_bps\":" + num(p.rx_bps, 0) + ",\"tx_bps\":" + num(p.tx_bps, 0) +
               ",\"rx_packets\":" + std::to_string(p.total.rx_packets) +
               ",\"tx_packets\":" + std::to_string(p.total.tx_packets) +
               ",\"rx_errors\":" + std::to_string(p.total.rx_errors) +
               ",\"tx_errors\":" + std::to_string(p.total.tx_errors) + "}";
    }
    return out + "]";
}

std::string lcores_json(const Figures& f) {
    std::string out = "[";
    for (size_t i = 0; i < f.lcores.size(); ++i) {
        const LcoreFigures& l = f.lcores[i];
        if (i) out += ",";
        out += "{\"lcore\":" + std::to_string(l.lcore_id) + ",\"role\":" + json_string(l.label) +
               ",\"packets\":" + num(l.packets, 0) +
               ",\"cycles_per_packet\":" + num(l.cycles_per_packet, 1) +
               ",\"gen_cycles_per_packet\":" + num(l.gen_cycles_per_packet, 1) +
               ",\"busy\":" + num(l.busy, 4) + "}";
    }
    return out + "]";
}

std::string drops_json(const Figures& f) {
    std::string out = "{";
    for (size_t i = 0; i < f.drops.size(); ++i) {
        if (i) out += ",";
        out += json_string(f.drops[i].first) + ":" + std::to_string(f.drops[i].second);
    }
    return out + "}";
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
        std::printf("{\"type\":\"period\",\"t\":%s,\"seconds\":%s,\"generated\":%" PRIu64
                    ",\"delivered\":%" PRIu64 ",\"delivered_pps\":%s,\"ports\":%s,\"lcores\":%s,"
                    "\"drops\":%s,\"generator_stalls\":%" PRIu64 "}\n",
                    num(f.t).c_str(), num(f.seconds).c_str(), f.generated, f.delivered,
                    num(f.delivered_pps, 0).c_str(), ports_json(f).c_str(),
                    lcores_json(f).c_str(), drops_json(f).c_str(), f.generator_stalls);
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
        std::string cpp = "[";
        for (size_t i = 0; i < f.lcores.size(); ++i)
            cpp += (i ? "," : "") + num(f.lcores[i].cycles_per_packet, 1);
        cpp += "]";
        std::string latency = "null";
        if (s.has_latency)
            latency = "{\"p50\":" + num(s.p50_us, 2) + ",\"p99\":" + num(s.p99_us, 2) +
                      ",\"p999\":" + num(s.p999_us, 2) + ",\"max\":" + num(s.max_us, 2) +
                      ",\"samples\":" + std::to_string(s.latency_samples) + "}";
        std::printf("{\"type\":\"summary\",\"mode\":\"%s\",\"pkt_size\":\"%s\",\"avg_pkt_size\":%s,"
                    "\"lcores\":%u,\"burst\":%u,\"peers\":%u,\"flows\":%u,\"duration_s\":%s,"
                    "\"generated\":%" PRIu64 ",\"delivered\":%" PRIu64 ",\"mpps\":%s,\"gbps\":%s,"
                    "\"cycles_per_packet\":%s,\"latency_us\":%s,\"keypairs\":%" PRIu64
                    ",\"tsc_hz\":%" PRIu64 ",\"ports\":%s,\"lcore_figures\":%s,\"drops\":%s,\"generator_stalls\":%" PRIu64 "}\n",
                    to_string(s.mode), s.size.c_str(), num(s.avg_size, 1).c_str(), s.lcores,
                    s.burst, s.peers, s.flows, num(f.seconds).c_str(), f.generated, f.delivered,
                    num(s.mpps, 4).c_str(), num(s.gbps, 4).c_str(), cpp.c_str(), latency.c_str(),
                    s.keypairs, s.tsc_hz, ports_json(f).c_str(), lcores_json(f).c_str(),
                    drops_json(f).c_str(), f.generator_stalls);
    } else {
        std::printf("  ================ summary: %s, %s B, %u lcore(s) per gateway, %u peer(s), "
                    "burst %u ================\n",
                    to_string(s.mode), s.size.c_str(), s.lcores, s.peers, s.burst);
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
