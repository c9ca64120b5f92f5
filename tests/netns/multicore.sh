#!/usr/bin/env bash
# Several packet lcores: gateway A is sluiced with the dpdk driver (kind
# "dpdk", L2 gateway mode on net_af_packet) and two lcores (SLUICED_LCORES
# "0, 1": one RX/TX queue pair per lcore on each port, the kernel spreading
# frames over the queues' packet sockets by flow hash); B is of kind B_KIND
# (default sluice).
#
#   1. pings host A <-> host B, IPv4 and IPv6, both ways;
#   2. iperf3 TCP with 8 parallel flows for 3 s host A -> host B, then
#      host B -> host A;
#   3. on A, over the iperf3 runs: both lcores received a share (at least
#      MIN_SHARE_PCT, default 5%) of the LAN port's packets (the LAN port's
#      per-queue counters in `sluicectl show ports --json`, queue i being
#      lcore i's; `show lcores` counts WAN and LAN together, and is printed),
#      and `sluicectl show drops --json` counts no wrong_lcore drop on any
#      lcore (a packet for a keypair another lcore owns is handed over its
#      ring, and dropped only when that ring is full);
#   4. 64 MiB host A -> host B with matching SHA-256; still no wrong_lcore.
#
# Environment: MULTICORE_LCORES, A's lcores (default "0, 1": CPU ids);
# MIN_SHARE_PCT, the least share of LAN packets each lcore must get.
#
# usage: multicore.sh [dpdk [B_KIND]] [SLUICED SLUICECTL]
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

a_kind=dpdk b_kind=sluice
if [ $# -gt 0 ] && [ "$1" = dpdk ]; then shift; fi
case ${1:-} in
    wggo | sluice | dpdk | afxdp) b_kind=$1; shift ;;
    "" | */*) ;;
    *) echo "usage: $0 [dpdk [B_KIND]] [SLUICED SLUICECTL]  (gateway A is always dpdk)" >&2; exit 2 ;;
esac
A_LCORES=${MULTICORE_LCORES:-0, 1}
MIN_SHARE_PCT=${MIN_SHARE_PCT:-5}
netns_init "$a_kind" "$b_kind" -- "$@"
command -v iperf3 >/dev/null || skip "iperf3 not installed"
setup_topology

# ctl_json SIDE NAME ARGS...: `sluicectl ARGS --json` on SIDE into $TMP/NAME.json.
ctl_json() {
    local side=$1 name=$2
    shift 2
    ctl "$side" --json "$@" >"$TMP/$name.json" 2>"$TMP/$name.err" ||
        fail "sluicectl --json $* on $side failed: $(tr '\n' ' ' <"$TMP/$name.err")"
}
# snapshot NAME: A's lcores, ports and drops into $TMP/NAME-{lcores,ports,drops}.json.
snapshot() {
    ctl_json A "$1-lcores" show lcores
    ctl_json A "$1-ports" show ports
    ctl_json A "$1-drops" show drops
}

# iperf_parallel FROM_SIDE TO_SIDE: 3 s of iperf3 TCP with 8 parallel flows
# from host FROM to host TO (lib.sh's iperf_tcp is a single flow).
iperf_parallel() {
    local from=$1 to=$2 port=5202 bps spid streams out=$TMP/iperf-$1$2.json
    in_host "$to" timeout --foreground 30 iperf3 -s -1 -p "$port" >"$TMP/iperf-server-$from$to.log" 2>&1 &
    spid=$!
    wait_for 5 eval "in_host $to ss -Hltn 'sport = :$port' | grep -q LISTEN" ||
        fail "iperf3 server on host $to did not start"
    if ! in_host "$from" timeout --foreground 25 iperf3 -c "${HOST4[$to]}" -p "$port" -t 3 -P 8 -J \
        >"$out" 2>&1; then
        fail "iperf3 -P 8 host $from -> host $to failed: $(python3 "$NETNS_TOOL" iperf-error "$out")"
    fi
    wait "$spid" 2>/dev/null || true
    bps=$(python3 "$NETNS_TOOL" iperf-bps "$out") || fail "iperf3 -P 8 host $from -> host $to: no result"
    streams=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["end"]["streams"]))' "$out")
    [ "$streams" = 8 ] || fail "iperf3 -P 8 host $from -> host $to: $streams streams in the result, not 8"
    [ "$bps" -gt 1000000 ] || fail "iperf3 -P 8 host $from -> host $to: only $bps bit/s"
    ok "iperf3 TCP, 8 flows, host $from -> host $to: $((bps / 1000000)) Mbit/s"
}

# The per-lcore figures between two snapshots, as checks (exit 1 with the
# reason) and info lines. Queue i of each port is lcore index i's, in the
# order `show lcores` and `show drops` list the lcores.
# shellcheck disable=SC2317  # called through report
check_spread() {  # BEFORE AFTER
    python3 - "$TMP/$1" "$TMP/$2" "$MIN_SHARE_PCT" <<'PY'
import json, re, sys
before, after, min_pct = sys.argv[1], sys.argv[2], float(sys.argv[3])
load = lambda p, what: json.load(open(f"{p}-{what}.json"))
lc0, lc1 = load(before, "lcores")["lcores"], load(after, "lcores")["lcores"]
ids = [l["lcore_id"] for l in lc1]
if len(lc1) != 2:
    print(f"FAIL show lcores lists {len(lc1)} lcores ({ids}), want 2"); sys.exit(1)
by_id0 = {l["lcore_id"]: l for l in lc0}
for l in lc1:
    d = {k: l[k] - by_id0.get(l["lcore_id"], {}).get(k, 0) for k in ("rx_packets", "tx_packets", "dropped")}
    print(f"INFO lcore {l['lcore_id']} ({l['role']}): rx {d['rx_packets']} (WAN+LAN), "
          f"tx {d['tx_packets']} (tunnel), dropped {d['dropped']} over the window; totals rx {l['rx_packets']}")
# A port's per-queue packet counters (DIR rx or tx) from its ethdev xstats;
# port_id 0 is the WAN, 1 the LAN.
def port(p, port_id):
    ports = load(p, "ports")["ports"]
    found = [x for x in ports if x["port_id"] == port_id]
    if not found:
        print(f"FAIL show ports: no port {port_id} in {[x['name'] for x in ports]}"); sys.exit(1)
    return found[0]
def queues(p, port_id, direction):
    q = {}
    for name, v in port(p, port_id)["xstats"].items():
        m = re.fullmatch(direction + r"_q(\d+)_packets", name)
        if m: q[int(m.group(1))] = v
    return q
q0, q1, lan = queues(before, 1, "rx"), queues(after, 1, "rx"), port(after, 1)
print(f"INFO LAN port: {lan['rx_queues']} rx queues, {lan['tx_queues']} tx queues, driver {lan['driver']}")
if lan["rx_queues"] != 2:
    print(f"FAIL the LAN port has {lan['rx_queues']} rx queues, want 2 (one per lcore)"); sys.exit(1)
# Only non-zero xstats are listed: a queue missing counts 0, but the port
# must list per-queue counters at all.
if not q1:
    print(f"FAIL the LAN port's xstats have no rx_qN_packets: {sorted(lan['xstats'])}"); sys.exit(1)
d = [q1[i] - q0.get(i, 0) for i in (0, 1)]
total = sum(d)
if total <= 0:
    print("FAIL the LAN port received nothing over the window"); sys.exit(1)
shares = [100.0 * x / total for x in d]
print(f"INFO LAN rx over the window: queue 0 (lcore {ids[0]}) {d[0]} = {shares[0]:.1f}%, "
      f"queue 1 (lcore {ids[1]}) {d[1]} = {shares[1]:.1f}%")
for i in (0, 1):
    if shares[i] < min_pct:
        print(f"FAIL lcore {ids[i]} (queue {i}) got {d[i]} of {total} LAN packets ({shares[i]:.1f}%), "
              f"under {min_pct:g}%: traffic not spread over both lcores"); sys.exit(1)
print(f"OK both lcores received LAN traffic: {shares[0]:.1f}% / {shares[1]:.1f}% of {total} packets")
# How WAN packets crossed lcores, from the queues (sluicectl does not show
# the lcores' handed_out/handed_in): a keypair's receive side belongs to one
# lcore, which decrypts and sends on its own LAN queue what any WAN queue got.
delta = lambda port_id, direction, i: queues(after, port_id, direction).get(i, 0) - \
    queues(before, port_id, direction).get(i, 0)
print("INFO WAN rx by queue: " + ", ".join(f"queue {i} (lcore {ids[i]}) {delta(0, 'rx', i)}" for i in (0, 1)) +
      "; LAN tx (decrypted) by queue: " + ", ".join(f"queue {i} {delta(1, 'tx', i)}" for i in (0, 1)) +
      "; WAN tx (encrypted) by queue: " + ", ".join(f"queue {i} {delta(0, 'tx', i)}" for i in (0, 1)))
PY
}

# No wrong_lcore drop on any lcore; all non-zero drop rows printed.
# shellcheck disable=SC2317  # called through report
check_wrong_lcore() {  # SNAPSHOT
    python3 - "$TMP/$1-drops.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
ids = r["lcore_ids"]
rows = {row["reason"]: row["per_lcore"] for row in r["drops"]}
nonzero = [f"{reason} " + "/".join(str(n) for n in per) for reason, per in rows.items() if any(per)]
print(f"INFO non-zero drop rows (lcores {'/'.join(map(str, ids))}, the last the control thread): " +
      (", ".join(nonzero) or "none"))
if "wrong_lcore" not in rows:
    print(f"FAIL show drops has no wrong_lcore row: {sorted(rows)}"); sys.exit(1)
per = rows["wrong_lcore"]
if any(per):
    print("FAIL wrong_lcore drops: " + ", ".join(f"lcore {i}: {n}" for i, n in zip(ids, per))); sys.exit(1)
print(f"OK no wrong_lcore drops on lcores {ids[:-1]} (and the control column {ids[-1]})")
PY
}

# Prints the python's lines as ok/info lines; fails on a FAIL line.
report() {
    local line status=0 out
    out=$("$@") || status=$?
    while IFS= read -r line; do
        case $line in
            "OK "*) ok "${line#OK }" ;;
            "INFO "*) info "${line#INFO }" ;;
            "FAIL "*) fail "${line#FAIL }" ;;
            *) info "$line" ;;
        esac
    done <<<"$out"
    [ "$status" = 0 ] || fail "check failed (status $status): $out"
}

# The side that starts last initiates (see tunnel.sh).
start_gateway "$b_kind" B
SLUICED_LCORES=$A_LCORES start_gateway "$a_kind" A
info "gateway A: dpdk with lcores [$A_LCORES]"
ping_hosts A
ping_hosts B

snapshot before
iperf_parallel A B
iperf_parallel B A
snapshot iperf
report check_spread before iperf
report check_wrong_lcore iperf

transfer_sha256 64 A B
snapshot end
report check_wrong_lcore end

gateway_alive A || fail "gateway A ($a_kind) died"
gateway_alive B || fail "gateway B ($b_kind) died"
pass "A=$a_kind lcores [$A_LCORES], B=$b_kind"
