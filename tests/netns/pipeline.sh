#!/usr/bin/env bash
# Pipeline mode: gateway A is sluiced with the dpdk driver (L2 gateway mode on
# net_af_packet) and `dataplane.mode: pipeline` on two lcores (PIPELINE_LCORES,
# CPU ids): lcore 0 receives, reorders and sends on one queue pair, the other
# lcores seal and open. B is of kind B_KIND (default wggo, a stock peer).
#
#   1. `sluicectl show lcores` on A lists one rx/tx lcore and the rest as
#      crypto lcores;
#   2. pings host A <-> host B, IPv4 and IPv6;
#   3. one peer, a sequence-numbered UDP stream (iperf3 -u, 1200 B datagrams)
#      host A -> host B and host B -> host A: the receiving iperf3 server
#      counts no datagram out of order and loses under LOSS_PCT_MAX percent;
#   4. iperf3 TCP both ways, 32 MiB host A -> host B with matching SHA-256;
#   5. on A: the crypto lcores sealed and opened packets, and no packet was
#      dropped as reorder_failed.
#
# The order check can only fail with two or more crypto lcores: this machine
# class has two CPUs and `lcores` names each CPU once, so CI runs one crypto
# lcore here (end to end with a stock peer), and sluice-perf's pipeline check
# in tests/cli/sluice_perf_cli.sh runs two crypto lcores per gateway, where a
# reorder stage that did nothing is seen (out_of_order).
#
# usage: pipeline.sh [dpdk [B_KIND]] [SLUICED SLUICECTL]
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

a_kind=dpdk b_kind=wggo
if [ $# -gt 0 ] && [ "$1" = dpdk ]; then shift; fi
case ${1:-} in
    wggo | sluice | dpdk | afxdp) b_kind=$1; shift ;;
    "" | */*) ;;
    *) echo "usage: $0 [dpdk [B_KIND]] [SLUICED SLUICECTL]  (gateway A is always dpdk)" >&2; exit 2 ;;
esac
A_LCORES=${PIPELINE_LCORES:-0, 1}
LOSS_PCT_MAX=${LOSS_PCT_MAX:-5}
netns_init "$a_kind" "$b_kind" -- "$@"
command -v iperf3 >/dev/null || skip "iperf3 not installed"
setup_topology

# ctl_json NAME ARGS...: `sluicectl ARGS --json` on A into $TMP/NAME.json.
ctl_json() {
    local name=$1
    shift
    ctl A --json "$@" >"$TMP/$name.json" 2>"$TMP/$name.err" ||
        fail "sluicectl --json $* on A failed: $(tr '\n' ' ' <"$TMP/$name.err")"
}

# udp_stream FROM_SIDE TO_SIDE: 3 s of iperf3 UDP at 40 Mbit/s from host FROM
# to host TO; the server's own result counts what arrived out of order.
udp_stream() {
    local from=$1 to=$2 port=5203 spid server=$TMP/udp-server-$1$2.json client=$TMP/udp-client-$1$2.json
    in_host "$to" timeout --foreground 30 iperf3 -s -1 -p "$port" -J >"$server" 2>&1 &
    spid=$!
    wait_for 5 eval "in_host $to ss -Hlun 'sport = :$port' | grep -q . || in_host $to ss -Hltn 'sport = :$port' | grep -q LISTEN" ||
        fail "iperf3 server on host $to did not start"
    if ! in_host "$from" timeout --foreground 25 iperf3 -c "${HOST4[$to]}" -p "$port" -u -b 40M \
        -l 1200 -t 3 -J >"$client" 2>&1; then
        fail "iperf3 -u host $from -> host $to failed: $(python3 "$NETNS_TOOL" iperf-error "$client")"
    fi
    wait "$spid" 2>/dev/null || true
    local line
    line=$(python3 - "$server" "$LOSS_PCT_MAX" <<'PY'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
    udp = d["end"]["streams"][0]["udp"]
except (OSError, ValueError, KeyError, IndexError) as e:
    print(f"FAIL no UDP result from the iperf3 server: {e}"); sys.exit(0)
packets, lost, ooo = udp["packets"], udp["lost_packets"], udp.get("out_of_order")
if ooo is None:
    print("FAIL this iperf3 does not report out_of_order"); sys.exit(0)
pct = 100.0 * lost / packets if packets else 100.0
if packets < 1000:
    print(f"FAIL only {packets} datagrams counted"); sys.exit(0)
if ooo != 0:
    print(f"FAIL {ooo} of {packets} datagrams arrived out of order"); sys.exit(0)
if pct > float(sys.argv[2]):
    print(f"FAIL {lost} of {packets} datagrams lost ({pct:.1f}%)"); sys.exit(0)
print(f"OK {packets} datagrams, 0 out of order, {lost} lost ({pct:.2f}%)")
PY
)
    case $line in
        "OK "*) ok "UDP stream host $from -> host $to: ${line#OK }" ;;
        *) fail "UDP stream host $from -> host $to: ${line#FAIL }" ;;
    esac
}

# check_lcores NAME: A's lcores from show lcores NAME: one rx/tx, the rest
# crypto; with a second argument, the crypto lcores must have worked.
check_lcores() {
    python3 - "$TMP/$1.json" "${2:-}" <<'PY'
import json, sys
lcores = json.load(open(sys.argv[1]))["lcores"]
roles = [l["role"] for l in lcores]
if len(lcores) < 2 or roles[0] != "rx/tx" or any(r != "crypto" for r in roles[1:]):
    print(f"FAIL show lcores roles {roles}, want rx/tx then crypto"); sys.exit(0)
if sys.argv[2]:
    idle = [l["lcore_id"] for l in lcores[1:] if l.get("pipelined", 0) == 0]
    if idle:
        print(f"FAIL crypto lcores {idle} sealed and opened nothing"); sys.exit(0)
    print("OK " + ", ".join(f"lcore {l['lcore_id']} ({l['role']}) {l.get('pipelined', 0)} packets through the pipeline" for l in lcores))
else:
    print("OK show lcores: " + ", ".join(f"{l['lcore_id']} {l['role']}" for l in lcores))
PY
}
report() {
    local line
    line=$("$@")
    case $line in
        "OK "*) ok "${line#OK }" ;;
        *) fail "${line#FAIL }" ;;
    esac
}

# The side that starts last initiates (see tunnel.sh).
start_gateway "$b_kind" B
SLUICED_LCORES=$A_LCORES SLUICED_MODE=pipeline start_gateway "$a_kind" A
grep -q "pipeline mode" "${GW_LOG[A]}" || fail "sluiced's log does not say it runs pipeline mode"
info "gateway A: dpdk, pipeline mode on lcores [$A_LCORES]"
ctl_json lcores-start show lcores
report check_lcores lcores-start

ping_hosts A
ping_hosts B
udp_stream A B
udp_stream B A
iperf_tcp A B
iperf_tcp B A
transfer_sha256 32 A B

ctl_json lcores-end show lcores
report check_lcores lcores-end worked
ctl A show lcores | sed "s/^/--   $TEST_NAME: /"
ctl_json drops show drops
failed=$(python3 - "$TMP/drops.json" <<'PY'
import json, sys
rows = {r["reason"]: r["total"] for r in json.load(open(sys.argv[1]))["drops"]}
print(rows.get("reorder_failed", "missing"), rows.get("pipeline_full", "missing"))
PY
)
read -r reorder_failed pipeline_full <<<"$failed"
[ "$reorder_failed" = 0 ] || fail "show drops: reorder_failed $reorder_failed (want 0)"
ok "no reorder_failed drops; pipeline_full $pipeline_full"

gateway_alive A || fail "gateway A ($a_kind) died"
gateway_alive B || fail "gateway B ($b_kind) died"
pass "A=$a_kind pipeline lcores [$A_LCORES], B=$b_kind"
