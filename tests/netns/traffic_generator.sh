#!/usr/bin/env bash
# sluice-perf as the traffic generator for a gateway under test: txonly on
# host A's LAN interface (DPDK's net_af_packet on the veth) sends numbered,
# timestamped IPv4/UDP packets to host B through the two gateways, and
# rxonly on host B's LAN interface counts what arrives and measures the
# one-way latency from the timestamps (both processes read one TSC).
#
# Checks that the probes cross the tunnel, are recognised at the far end and
# give sane latencies; the rate is modest and only "most of them arrived" is
# required (a kernel TUN path drops under pressure by design).
#
# usage: traffic_generator.sh A_KIND B_KIND SLUICED SLUICECTL SLUICE_PERF
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

[ $# -ge 5 ] || { echo "usage: $0 A_KIND B_KIND SLUICED SLUICECTL SLUICE_PERF" >&2; exit 2; }
a_kind=$1 b_kind=$2 perf=$5
netns_init "$a_kind" "$b_kind" -- "$3" "$4"
[ -x "$perf" ] || fail "sluice-perf not found at $perf"
setup_topology
start_gateway "$a_kind" A
start_gateway "$b_kind" B
expect_ping "tunnel up: host A -> host B" "${NS_HOST[A]}" "${HOST4[B]}"

gw_mac=$(ip -n "${NS_GW[A]}" -br link show lan0 | awk '{print $3}')
packets=20000
in_host B timeout 60 "$perf" --mode rxonly --port net_af_packet0,iface=lan0 \
    --duration 8 --stats-period 0 --json >"$TMP/rx.json" 2>"$TMP/rx.err" &
rx_pid=$!
sleep 1.5  # rxonly is listening (EAL start-up takes a moment)
in_host A timeout 60 "$perf" --mode txonly --port net_af_packet0,iface=lan0 \
    --eth-peer "$gw_mac" --src-ip "${HOST4[A]}" --dst-ip "${HOST4[B]}" --pkt-size 256 \
    --flows 4 --packets "$packets" --tx-rate 20000 --stats-period 0 --json \
    >"$TMP/tx.json" 2>"$TMP/tx.err" || fail "txonly failed: $(tail -3 "$TMP/tx.err")"
wait "$rx_pid" || fail "rxonly failed: $(tail -3 "$TMP/rx.err")"

python3 - "$TMP/tx.json" "$TMP/rx.json" "$packets" <<'PY' >"$TMP/verdict" || fail "$(cat "$TMP/verdict")"
import json, sys
tx = [json.loads(l) for l in open(sys.argv[1]) if '"summary"' in l][0]
rx = [json.loads(l) for l in open(sys.argv[2]) if '"summary"' in l][0]
n = int(sys.argv[3])
lat = rx["latency_us"]
print(f"txonly generated {tx['generated']}, port sent {tx['ports'][0]['tx_packets']}; "
      f"rxonly counted {rx['delivered']} frames, {lat['samples'] if lat else 0} probes; "
      f"one-way latency p50 {lat['p50'] if lat else '-'} us p99 {lat['p99'] if lat else '-'} us")
assert tx["generated"] == n, "txonly did not generate them all"
assert tx["ports"][0]["tx_packets"] == n, "the port did not send them all"
assert lat is not None and lat["samples"] >= n // 2, "fewer than half the probes arrived"
assert lat["samples"] <= n, "more probes than were sent"
assert 0 < lat["p50"] <= lat["p99"] <= lat["max"] < 1e6, "latency out of any sane range"
PY
ok "$(cat "$TMP/verdict")"
pass
