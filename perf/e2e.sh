#!/usr/bin/env bash
# End-to-end tunnel benchmark in network namespaces: the same topology, the
# same run, sluice ↔ sluice and sluice ↔ wireguard-go ("mixed": sluiced on
# gateway A, the sending side) against wireguard-go ↔ wireguard-go; and
# "dpdk-mixed": sluiced with the dpdk driver (L2 gateway mode on
# net_af_packet, one lcore) on gateway A against wireguard-go on B, beside
# the kernel driver's "mixed". A dpdk gateway takes its links over from the
# namespace's kernel, so dpdk pairs run after the others.
#
#   host-a ── gw-a ══ WAN (bridge) ══ gw-b ── host-b     (tests/netns/lib.sh)
#
# For each pair of gateways and each of RUNS rounds (after one warm-up round):
# iperf3 TCP one stream, TCP four streams, UDP with 1380-byte datagrams at
# full rate (the receiver's rate counts, so loss is charged), and ping
# latency (100 pings, 10 ms apart). Reports the median, min and max of each
# figure, and sluice's median as a multiple of wireguard-go's, measured in
# this one run. Appends the rows to perf/results/e2e.csv with the CPU model,
# kernel, date and commit.
#
# usage: perf/e2e.sh [--runs N] [--seconds S] [--pairs "sluice mixed wggo dpdk-mixed"]
# Needs root; builds sluiced first. Nothing is asserted: this is a benchmark
# (the harness still stops with one FAIL line if a gateway will not start).
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
runs=5
seconds=5
pairs="sluice mixed wggo dpdk-mixed"
while [ $# -gt 0 ]; do
    case $1 in
        --runs) runs=$2; shift 2 ;;
        --seconds) seconds=$2; shift 2 ;;
        --pairs) pairs=$2; shift 2 ;;
        -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
        *) echo "e2e.sh: unknown argument $1 (try --help)" >&2; exit 64 ;;
    esac
done

for p in $pairs; do
    case $p in
        sluice | mixed | wggo | dpdk-mixed) ;;
        *) echo "e2e.sh: unknown pair $p (sluice, mixed, wggo, dpdk-mixed)" >&2; exit 64 ;;
    esac
done
if [ ! -f build/build.ninja ]; then meson setup build >/dev/null; fi
ninja -C build control/sluiced control/sluicectl >/dev/null

# The namespaces, gateways and cleanup are the netns tests' own harness
# (tests/netns/lib.sh): the same two sites, either kind of gateway.
source tests/netns/lib.sh
# shellcheck disable=SC2046  # one word per kind
# pair_kinds PAIR → the kinds of gateway A and gateway B.
pair_kinds() {
    case $1 in
        sluice) echo "sluice sluice" ;;
        mixed) echo "sluice wggo" ;;
        wggo) echo "wggo wggo" ;;
        dpdk-mixed) echo "dpdk wggo" ;;
    esac
}
# dpdk pairs last: they leave gateway A's links without kernel addresses.
pairs="$(for p in $pairs; do case $p in dpdk*) ;; *) echo "$p" ;; esac; done) $(for p in $pairs; do case $p in dpdk*) echo "$p" ;; esac; done)"
kinds=$(for p in $pairs; do pair_kinds "$p"; done)
# shellcheck disable=SC2046,SC2086  # one word per kind
netns_init $kinds -- "$top/build/control/sluiced" "$top/build/control/sluicectl"
setup_topology

# One measurement; prints one number.
iperf_tcp() {  # STREAMS → receiver Mbit/s
    in_host B iperf3 -s -1 -D -p 5201 >/dev/null
    sleep 0.3
    in_host A iperf3 -c 192.168.2.2 -p 5201 -t "$seconds" -P "$1" -J |
        python3 -c 'import json,sys; print(round(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e6, 1))'
}
iperf_udp() {  # → receiver Mbit/s of 1380-byte datagrams sent at full rate
    in_host B iperf3 -s -1 -D -p 5202 >/dev/null
    sleep 0.3
    in_host A iperf3 -c 192.168.2.2 -p 5202 -u -b 0 -l 1380 -t "$seconds" -J |
        python3 -c 'import json,sys; e=json.load(sys.stdin)["end"]["sum"]; print(round(e["bits_per_second"]*(1-e["lost_percent"]/100)/1e6, 1))'
}
ping_avg() {  # → average RTT in microseconds
    in_host A ping -q -c 100 -i 0.01 192.168.2.2 |
        awk -F/ '/rtt/ {printf "%.0f\n", $5 * 1000}'
}

results=$TMP/results.txt
: > "$results"
for kind in $pairs; do
    read -r a_kind b_kind <<<"$(pair_kinds "$kind")"
    start_gateway "$b_kind" B
    start_gateway "$a_kind" A
    in_host A ping -q -c 3 -w 15 192.168.2.2 >/dev/null  # handshake
    iperf_tcp 1 >/dev/null  # warm-up
    for r in $(seq "$runs"); do
        echo "$kind tcp1_mbps $(iperf_tcp 1)" >> "$results"
        echo "$kind tcp4_mbps $(iperf_tcp 4)" >> "$results"
        echo "$kind udp1380_mbps $(iperf_udp)" >> "$results"
        echo "$kind ping_us $(ping_avg)" >> "$results"
        echo "e2e: $kind round $r done" >&2
    done
    stop_gateway A
    stop_gateway B
done

mkdir -p perf/results
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
python3 - "$results" "$commit" "$cpu" "$(uname -r)" "$(nproc)" "$runs" "$seconds" <<'PY'
import csv, datetime, os, statistics, sys
path, commit, cpu, kernel, cores, runs, seconds = sys.argv[1:8]
data = {}
for line in open(path):
    kind, metric, value = line.split()
    data.setdefault((kind, metric), []).append(float(value))
order = {"sluice": 0, "mixed": 1, "dpdk-mixed": 2, "wggo": 3}
kinds = sorted({k for k, _ in data}, key=lambda k: order.get(k, 3))
pair_name = {"sluice": "sluice-sluice", "mixed": "sluice-wggo", "wggo": "wggo-wggo",
             "dpdk-mixed": "sluice_dpdk-wggo"}
metrics = ["tcp1_mbps", "tcp4_mbps", "udp1380_mbps", "ping_us"]
date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
print(f"\n{cpu}, {cores} cores, kernel {kernel}, commit {commit}, {runs} runs of {seconds} s")
ratios = [k for k in ("sluice", "mixed", "dpdk-mixed") if k in kinds]
print(f"{'metric':<14}" + "".join(f"{k + ' median (min-max)':>32}" for k in kinds) +
      "".join(f"{k + '/wggo':>17}" for k in ratios))
out = "perf/results/e2e.csv"
new = not os.path.exists(out)
with open(out, "a", newline="") as f:
    w = csv.writer(f)
    if new:
        w.writerow(["date", "commit", "cpu", "cores", "kernel", "pair", "metric", "runs",
                    "median", "min", "max"])
    for m in metrics:
        row = f"{m:<14}"
        med = {}
        for k in kinds:
            v = data.get((k, m), [])
            if not v:
                row += f"{'-':>32}"
                continue
            med[k] = statistics.median(v)
            row += f"{med[k]:>14.1f} ({min(v):.1f}-{max(v):.1f})".rjust(32)
            w.writerow([date, commit, cpu, cores, kernel, pair_name.get(k, k), m, len(v), med[k], min(v), max(v)])
        for k in ratios:
            if k in med and "wggo" in med and med["wggo"] > 0:
                row += f"{med[k] / med['wggo']:.2f}x".rjust(17)
            else:
                row += "-".rjust(17)
        print(row)
print(f"\nappended to {out}")
PY
