#!/usr/bin/env bash
# Streams benchmark: TCP forwarded through sluice's streams (docs/streams.md)
# against plain TCP routed through the same WireGuard tunnel, two sluiced
# gateways (kernel driver) in the netns harness's topology
# (tests/netns/lib.sh):
#
#   host A ── gw A ══ WAN ══ gw B ── host B
#   plain:   host A → 192.168.2.2 (routed through the tunnel)
#   forward: host A → 192.168.1.1:<port> (gw A's forward) ─stream─ gw B → 192.168.2.2
#
# Measured, for each WAN condition (CONDITIONS):
#   (a) throughput: iperf3 TCP, one connection, RUN_SECONDS s, plain and through
#       the forward alternately, REPEAT times each (receiver's Mbit/s); the
#       ratio forward/plain of the medians;
#   (b) time to first byte: connect, send 1 byte, get 1 byte back, close —
#       TTFB_COUNT tries per run (python3), median per run;
#   (c) memory (condition 0ms only): MEM_STREAMS idle forwarded connections,
#       then MEM_STREAMS loaded ones (the client sends until blocked, the
#       server never reads); each gateway's VmRSS before and after, divided
#       by the number of streams, and the engine's own accounting
#       (`sluicectl show streams --json`: memory_used, buffered).
# Conditions: "0ms" is the bare WAN bridge; "50ms" puts lib.sh's WAN emulator
# (a python3 UDP relay; this kernel has no sch_netem) between the gateways,
# WAN_DELAY_MS each way (25: RTT +50 ms) and WAN_LOSS of packets dropped each
# way (0.01). The relay is python, so it caps the rate at some hundreds of
# Mbit/s; under 1 % loss both kinds of TCP stay far below that.
#
# Prints a table (median, min, max over REPEAT) and appends the rows to
# perf/results/streams-<date>.csv with the CPU, kernel and commit.
# A benchmark, not a test: nothing is asserted (the harness still stops with
# one FAIL line if a gateway will not start or a transfer fails).
#
# usage: sudo perf/streams_bench.sh      (builds nothing: uses build/control/sluiced, sluicectl)
# Environment (defaults): REPEAT=5 RUN_SECONDS=10 TTFB_COUNT=50 MEM_STREAMS=200
#   CONDITIONS="0ms 50ms" WAN_DELAY_MS=25 WAN_LOSS=0.01
#   e.g. REPEAT=1 RUN_SECONDS=5 TTFB_COUNT=20 perf/streams_bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
case ${1:-} in -h | --help) sed -n '2,36p' "$0"; exit 0 ;; esac
repeat=${REPEAT:-5}
seconds=${RUN_SECONDS:-10}  # (not SECONDS: that is bash's own clock)
ttfb_count=${TTFB_COUNT:-50}
mem_streams=${MEM_STREAMS:-200}
conditions=${CONDITIONS:-0ms 50ms}
wan_delay=${WAN_DELAY_MS:-25}
wan_loss=${WAN_LOSS:-0.01}
for c in $conditions; do
    case $c in 0ms | 50ms) ;; *) echo "streams_bench: unknown condition $c (0ms, 50ms)" >&2; exit 64 ;; esac
done
for f in build/control/sluiced build/control/sluicectl; do
    [ -x "$f" ] || { echo "streams_bench: $f missing: ninja -C build control/sluiced control/sluicectl" >&2; exit 1; }
done

# The namespaces, gateways and cleanup are the netns tests' harness.
# shellcheck source=tests/netns/lib.sh
source tests/netns/lib.sh
netns_init sluice sluice -- "$top/build/control/sluiced" "$top/build/control/sluicectl"
command -v iperf3 >/dev/null || skip "iperf3 not installed"
setup_topology
ST=$(stream_tool)

# Forwards on A, all to host B; B lets A reach exactly these.
streams_peer A
streams_peer B 192.168.2.2:5201 192.168.2.2:16010 192.168.2.2:16020
for side in A B; do streams_setting "$side" max_streams 4096; done
add_forward A iperf 192.168.1.1:15201 192.168.2.2:5201
add_forward A echo 192.168.1.1:15210 192.168.2.2:16010
add_forward A hold 192.168.1.1:15220 192.168.2.2:16020
serve_in "${NS_HOST[B]}" 16010 echo1
serve_in "${NS_HOST[B]}" 16020 hold

results=$TMP/results.txt
: >"$results"
record() { echo "$1 $2 $3" >>"$results"; }  # CONDITION METRIC VALUE

# iperf3 to HOST:PORT from host A → receiver Mbit/s.
iperf_mbps() {
    local host=$1 port=$2 secs=$3
    in_host B iperf3 -s -1 -p 5201 >/dev/null 2>&1 9>&- &
    local srv=$!
    wait_for 5 eval "in_host B ss -Hltn 'sport = :5201' | grep -q LISTEN" || fail "iperf3 server did not start"
    if ! in_host A timeout --foreground $((secs + 30)) iperf3 -c "$host" -p "$port" -t "$secs" -J \
        >"$TMP/iperf.json" 2>&1; then
        wait "$srv" 2>/dev/null || true
        fail "iperf3 to $host:$port: $(python3 "$NETNS_TOOL" iperf-error "$TMP/iperf.json")"
    fi
    wait "$srv" 2>/dev/null || true
    python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"]/1e6, 1))' \
        "$TMP/iperf.json"
}

ttfb_ms() {  # HOST PORT → median ms of TTFB_COUNT tries
    local out
    out=$(in_host A timeout --foreground 300 python3 "$ST" ttfb --host "$1" --port "$2" --count "$ttfb_count" 2>&1) ||
        fail "ttfb to $1:$2: $out"
    echo "${out%% *}"
}

streams_field() {  # SIDE EXPR (python, d: the JSON, s: the session) → value
    streams_json "$1" "$TMP/bench-streams.json" || fail "sluicectl show streams --json on $1 failed"
    python3 -c 'import json,sys
d=json.load(open(sys.argv[1])); s=(d.get("sessions") or [{}])[0]
print(eval(sys.argv[2]))' "$TMP/bench-streams.json" "$2"
}
stream_count_is() { [ "$(streams_field "$1" 'len(s.get("streams", []))')" -ge "$2" ]; }
stream_count_below() { [ "$(streams_field "$1" 'len(s.get("streams", []))')" -lt "$2" ]; }

# Memory: N connections through forward hold (idle, or loaded: the client
# sends until blocked and host B's server never reads).
measure_memory() {  # CONDITION idle|loaded
    local cond=$1 kind=$2 n=$mem_streams load='' side a0 b0 a1 b1 out
    [ "$kind" = loaded ] && load=--load
    a0=$(gateway_rss_kib A)
    b0=$(gateway_rss_kib B)
    rm -f "$TMP/stop-$kind"
    in_host A python3 "$ST" open --host 192.168.1.1 --port 15220 --count "$n" $load --settle 3 \
        --stop-file "$TMP/stop-$kind" >"$TMP/open-$kind.out" 2>&1 9>&- &
    local holder=$!
    wait_for 120 grep -q '^ready' "$TMP/open-$kind.out" ||
        fail "memory ($kind): $n connections not ready: $(cat "$TMP/open-$kind.out")"
    wait_for 30 stream_count_is A "$n" || fail "memory ($kind): A does not show $n streams"
    wait_for 30 stream_count_is B "$n" || fail "memory ($kind): B does not show $n streams"
    sleep 2
    a1=$(gateway_rss_kib A)
    b1=$(gateway_rss_kib B)
    record "$cond" "mem_${kind}_rss_a_kib_per_stream" "$(python3 -c "print(round(($a1 - $a0) / $n, 1))")"
    record "$cond" "mem_${kind}_rss_b_kib_per_stream" "$(python3 -c "print(round(($b1 - $b0) / $n, 1))")"
    for side in A B; do
        out=$(streams_field "$side" '"%d %d" % (d["memory_used"], s["buffered"])')
        record "$cond" "mem_${kind}_used_${side,,}_kib_per_stream" "$(python3 -c "print(round(${out% *} / 1024 / $n, 1))")"
        record "$cond" "mem_${kind}_buffered_${side,,}_kib_per_stream" "$(python3 -c "print(round(${out#* } / 1024 / $n, 1))")"
    done
    [ "$kind" != loaded ] || record "$cond" "mem_loaded_client_sent_kib_per_stream" \
        "$(python3 -c "print(round($(sed -n 's/^ready //p' "$TMP/open-$kind.out") / 1024 / $n, 1))")"
    info "memory ($kind, $n streams): RSS A $a0 -> $a1 KiB, B $b0 -> $b1 KiB"
    touch "$TMP/stop-$kind"
    wait "$holder" || true
    wait_for 60 stream_count_below A 1 || info "memory ($kind): A still shows half-closed streams (the hold server never closes its side, as a TCP peer may not)"
}

start_pair() {  # CONDITION
    if [ "$1" = 50ms ]; then
        start_wan_emulator "$wan_delay" "$wan_loss"
        start_gateway sluice B --no-endpoint
        start_gateway sluice A --endpoint "$(wan_emulator_endpoint)"
    else
        start_gateway sluice B
        start_gateway sluice A
    fi
    ping_ok "${NS_HOST[A]}" "${HOST4[B]}" 20 || fail "$1: no ping through the tunnel"
    wait_streams_open A 20 || fail "$1: stream session not open: $(cat "$TMP/streams-wait-A.json")"
}
stop_pair() {
    stop_gateway A
    stop_gateway B
    stop_wan_emulator
}

for cond in $conditions; do
    info "condition $cond: starting"
    start_pair "$cond"
    iperf_mbps 192.168.2.2 5201 2 >/dev/null     # warm-up, both ways of getting there
    iperf_mbps 192.168.1.1 15201 2 >/dev/null
    for r in $(seq "$repeat"); do
        record "$cond" plain_mbps "$(iperf_mbps 192.168.2.2 5201 "$seconds")"
        record "$cond" forward_mbps "$(iperf_mbps 192.168.1.1 15201 "$seconds")"
        record "$cond" plain_ttfb_ms "$(ttfb_ms 192.168.2.2 16010)"
        record "$cond" forward_ttfb_ms "$(ttfb_ms 192.168.1.1 15210)"
        info "condition $cond: round $r of $repeat done"
    done
    if [ "$cond" = 0ms ] && [ "$mem_streams" -gt 0 ]; then
        measure_memory "$cond" idle
        measure_memory "$cond" loaded
    fi
    streams_json A "$TMP/final-$cond-A.json" || true
    stop_pair
done

mkdir -p perf/results
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
out=perf/results/streams-$(date -u +%Y-%m-%d).csv
python3 - "$results" "$out" "$commit" "$cpu" "$(uname -r)" "$(nproc)" "$repeat" "$seconds" <<'PY'
import csv, datetime, os, statistics, sys
path, out, commit, cpu, kernel, cores, repeat, seconds = sys.argv[1:9]
data, order = {}, []
for line in open(path):
    cond, metric, value = line.split()
    if (cond, metric) not in data:
        order.append((cond, metric))
    data.setdefault((cond, metric), []).append(float(value))
date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
print(f"\n{cpu}, {cores} cores, kernel {kernel}, commit {commit}; {repeat} runs of {seconds} s")
print(f"{'condition':<10}{'metric':<44}{'median':>12}{'min':>12}{'max':>12}{'runs':>6}")
new = not os.path.exists(out)
with open(out, "a", newline="") as f:
    w = csv.writer(f)
    if new:
        w.writerow(["date", "commit", "cpu", "cores", "kernel", "condition", "metric", "runs",
                    "median", "min", "max"])
    rows = list(order)
    med = {k: statistics.median(v) for k, v in data.items()}
    for cond in dict.fromkeys(c for c, _ in order):
        for num, den, name in (("forward_mbps", "plain_mbps", "ratio_forward_plain_mbps"),
                               ("forward_ttfb_ms", "plain_ttfb_ms", "ratio_forward_plain_ttfb")):
            if (cond, num) in med and med.get((cond, den)):
                data[(cond, name)] = [med[(cond, num)] / med[(cond, den)]]
                rows.append((cond, name))
    for k in rows:
        v = data[k]
        m = statistics.median(v)
        print(f"{k[0]:<10}{k[1]:<44}{m:>12.2f}{min(v):>12.2f}{max(v):>12.2f}{len(v):>6}")
        w.writerow([date, commit, cpu, cores, kernel, k[0], k[1], len(v), round(m, 3), min(v), max(v)])
print(f"\nappended to {out}")
PY
