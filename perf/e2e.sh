#!/usr/bin/env bash
# End-to-end tunnel benchmark in network namespaces: the same topology, the
# same run, sluice ↔ sluice against wireguard-go ↔ wireguard-go.
#
#   host-a ── gw-a ══ WAN (veth) ══ gw-b ── host-b
#
# For each pair of gateways and each of RUNS rounds (after one warm-up round):
# iperf3 TCP one stream, TCP four streams, UDP with 1380-byte datagrams at
# full rate (the receiver's rate counts, so loss is charged), and ping
# latency (100 pings, 10 ms apart). Reports the median, min and max of each
# figure, and sluice's median as a multiple of wireguard-go's, measured in
# this one run. Appends the rows to perf/results/e2e.csv with the CPU model,
# kernel, date and commit.
#
# usage: perf/e2e.sh [--runs N] [--seconds S] [--pairs "sluice wggo"]
# Needs root; builds sluiced first. Nothing is asserted: this is a benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
runs=5
seconds=5
pairs="sluice wggo"
while [ $# -gt 0 ]; do
    case $1 in
        --runs) runs=$2; shift 2 ;;
        --seconds) seconds=$2; shift 2 ;;
        --pairs) pairs=$2; shift 2 ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "e2e.sh: unknown argument $1 (try --help)" >&2; exit 64 ;;
    esac
done

if [ ! -f build/build.ninja ]; then meson setup build >/dev/null; fi
ninja -C build control/sluiced >/dev/null
sluiced=$top/build/control/sluiced

id=$$
work=$(mktemp -d /tmp/sluice-e2e.XXXXXX)
pids=()
ns() { echo "e2e-$1-$id"; }

cleanup() {
    set +e
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
    for n in gw-a gw-b host-a host-b; do ip netns del "$(ns $n)" 2>/dev/null; done
    rm -f /var/run/wireguard/e2e"$id"*.sock
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

topology() {
    for n in gw-a gw-b host-a host-b; do ip netns add "$(ns $n)"; ip -n "$(ns $n)" link set lo up; done
    ip link add wa netns "$(ns gw-a)" type veth peer name wb netns "$(ns gw-b)"
    ip -n "$(ns gw-a)" addr add 192.0.2.1/24 dev wa
    ip -n "$(ns gw-b)" addr add 192.0.2.2/24 dev wb
    ip -n "$(ns gw-a)" link set wa up
    ip -n "$(ns gw-b)" link set wb up
    local s n
    for s in a b; do
        n=$([ $s = a ] && echo 1 || echo 2)
        ip link add "l$s" netns "$(ns gw-$s)" type veth peer name eth0 netns "$(ns host-$s)"
        ip -n "$(ns gw-$s)" addr add "192.168.$n.1/24" dev "l$s"
        ip -n "$(ns gw-$s)" link set "l$s" up
        ip -n "$(ns host-$s)" addr add "192.168.$n.2/24" dev eth0
        ip -n "$(ns host-$s)" link set eth0 up
        ip -n "$(ns host-$s)" route add default via "192.168.$n.1"
        ip netns exec "$(ns gw-$s)" sysctl -qw net.ipv4.ip_forward=1
        wg genkey > "$work/$s.key"
        wg pubkey < "$work/$s.key" > "$work/$s.pub"
        chmod 600 "$work/$s.key"
    done
}

# start_gateway KIND SITE: sluiced or wireguard-go, interface e2e<id><site>.
start_gateway() {
    local kind=$1 s=$2 n o m ifname
    n=$([ $s = a ] && echo 1 || echo 2)
    o=$([ $s = a ] && echo b || echo a)
    m=$([ $s = a ] && echo 2 || echo 1)
    ifname=e2e$id$s
    if [ "$kind" = sluice ]; then
        cat > "$work/$s.yaml" <<YAML
interface:
  name: $ifname
  private_key_file: $work/$s.key
  listen_port: 51820
  addresses: [10.88.0.$n/24]
dataplane:
  driver: kernel
peers:
  - public_key: $(cat "$work/$o.pub")
    endpoint: 192.0.2.$m:51820
    allowed_ips: [10.88.0.$m/32, 192.168.$m.0/24]
YAML
        chmod 600 "$work/$s.yaml"
        ip netns exec "$(ns gw-$s)" "$sluiced" --config "$work/$s.yaml" --foreground \
            > "$work/gw-$s.log" 2>&1 &
        pids+=($!)
    else
        WG_PROCESS_FOREGROUND=1 ip netns exec "$(ns gw-$s)" wireguard-go "$ifname" \
            > "$work/gw-$s.log" 2>&1 &
        pids+=($!)
        for _ in $(seq 50); do [ -S "/var/run/wireguard/$ifname.sock" ] && break; sleep 0.1; done
        ip netns exec "$(ns gw-$s)" wg set "$ifname" private-key "$work/$s.key" listen-port 51820 \
            peer "$(cat "$work/$o.pub")" endpoint "192.0.2.$m:51820" \
            allowed-ips "10.88.0.$m/32,192.168.$m.0/24"
        ip -n "$(ns gw-$s)" addr add "10.88.0.$n/24" dev "$ifname"
        ip -n "$(ns gw-$s)" link set "$ifname" mtu 1420 up
    fi
    for _ in $(seq 50); do [ -S "/var/run/wireguard/$ifname.sock" ] && break; sleep 0.1; done
    ip -n "$(ns gw-$s)" route replace "192.168.$m.0/24" dev "$ifname"
}

stop_gateways() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    pids=()
    rm -f /var/run/wireguard/e2e"$id"*.sock
}

# One measurement; prints one number.
iperf_tcp() {  # STREAMS → receiver Mbit/s
    ip netns exec "$(ns host-b)" iperf3 -s -1 -D -p 5201 >/dev/null
    sleep 0.3
    ip netns exec "$(ns host-a)" iperf3 -c 192.168.2.2 -p 5201 -t "$seconds" -P "$1" -J |
        python3 -c 'import json,sys; print(round(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e6, 1))'
}
iperf_udp() {  # → receiver Mbit/s of 1380-byte datagrams sent at full rate
    ip netns exec "$(ns host-b)" iperf3 -s -1 -D -p 5202 >/dev/null
    sleep 0.3
    ip netns exec "$(ns host-a)" iperf3 -c 192.168.2.2 -p 5202 -u -b 0 -l 1380 -t "$seconds" -J |
        python3 -c 'import json,sys; e=json.load(sys.stdin)["end"]["sum"]; print(round(e["bits_per_second"]*(1-e["lost_percent"]/100)/1e6, 1))'
}
ping_avg() {  # → average RTT in microseconds
    ip netns exec "$(ns host-a)" ping -q -c 100 -i 0.01 192.168.2.2 |
        awk -F/ '/rtt/ {printf "%.0f\n", $5 * 1000}'
}

topology
results=$work/results.txt
: > "$results"
for kind in $pairs; do
    start_gateway "$kind" a
    start_gateway "$kind" b
    ip netns exec "$(ns host-a)" ping -q -c 3 -w 15 192.168.2.2 >/dev/null  # handshake
    iperf_tcp 1 >/dev/null  # warm-up
    for r in $(seq "$runs"); do
        echo "$kind tcp1_mbps $(iperf_tcp 1)" >> "$results"
        echo "$kind tcp4_mbps $(iperf_tcp 4)" >> "$results"
        echo "$kind udp1380_mbps $(iperf_udp)" >> "$results"
        echo "$kind ping_us $(ping_avg)" >> "$results"
        echo "e2e: $kind round $r done" >&2
    done
    stop_gateways
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
kinds = sorted({k for k, _ in data}, key=lambda k: k != "sluice")
metrics = ["tcp1_mbps", "tcp4_mbps", "udp1380_mbps", "ping_us"]
date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
print(f"\n{cpu}, {cores} cores, kernel {kernel}, commit {commit}, {runs} runs of {seconds} s")
print(f"{'metric':<14}" + "".join(f"{k + ' median (min-max)':>32}" for k in kinds) + "   sluice/wggo")
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
            w.writerow([date, commit, cpu, cores, kernel, f"{k}-{k}", m, len(v), med[k], min(v), max(v)])
        if "sluice" in med and "wggo" in med and med["wggo"] > 0:
            row += f"   {med['sluice'] / med['wggo']:.2f}x"
        print(row)
print(f"\nappended to {out}")
PY
