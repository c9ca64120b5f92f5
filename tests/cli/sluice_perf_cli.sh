#!/usr/bin/env bash
# sluice-perf smoke run (the README test command runs it so the tool cannot
# rot): every mode for a moment on virtual ports, the JSON it prints, and the
# exit codes of bad options and of runs that cannot start. No figure is
# asserted: only that packets went through, and where nothing can be lost
# (one lcore into net_null), that every generated packet was delivered.
set -euo pipefail
tool=${1:?usage: sluice_perf_cli.sh PATH/TO/sluice-perf}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "sluice_perf_cli: FAIL: $*"; exit 1; }

run() {
    rc=0
    timeout 120 "$tool" "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
}

# check_json MODE PY-EXPR: every stdout line is JSON; the summary satisfies EXPR
# (a Python expression over `s`, the summary dict).
check_summary() {
    local what=$1 expr=$2
    python3 - "$tmp/out" "$what" "$expr" <<'PY' || fail "$what: $(cat "$tmp/out" | tail -3)"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
summaries = [l for l in lines if l.get("type") == "summary"]
assert summaries, "no summary line"
for s in summaries:
    if not eval(sys.argv[3]):
        print(f"{sys.argv[2]}: summary fails {sys.argv[3]}: {s}")
        sys.exit(1)
PY
}

# Each mode, briefly. --packets makes the runs end on a count, not a clock.
run --mode encrypt --packets 50000 --pkt-size 64,1420 --json --stats-period 0.2
[ "$rc" -eq 0 ] || fail "encrypt: exit $rc: $(cat "$tmp/err")"
check_summary encrypt 's["delivered"] == s["generated"] == 50000 and s["drops"] == {} and s["mpps"] > 0'
grep -q '"type":"period"' "$tmp/out" || true  # periods only appear if the run lasts 0.2 s

run --mode decrypt --packets 50000 --pkt-size imix --flows 4 --json --stats-period 0
[ "$rc" -eq 0 ] || fail "decrypt: exit $rc: $(cat "$tmp/err")"
# 50000 packets cross key epochs (a few thousand templates each): fresh
# keypairs were made and nothing was refused as a replay.
check_summary decrypt 's["delivered"] == s["generated"] == 50000 and s["drops"] == {} and s["keypairs"] > 1'

run --mode loopback --duration 1 --pkt-size 512 --peers 3 --tx-rate 100000 --json --stats-period 0
[ "$rc" -eq 0 ] || fail "loopback: exit $rc: $(cat "$tmp/err")"
check_summary loopback 's["delivered"] > 0 and s["latency_us"] and s["latency_us"]["samples"] > 0 and s["latency_us"]["p50"] <= s["latency_us"]["p99"] <= s["latency_us"]["max"]'

run --mode fwd --duration 1 --pkt-size 1420 --tx-rate 100000 --json --stats-period 0
[ "$rc" -eq 0 ] || fail "fwd: exit $rc: $(cat "$tmp/err")"
check_summary fwd 's["delivered"] > 0 and s["latency_us"] is not None and len(s["lcore_figures"]) == 2'

# fwd with two lcores per gateway (four packet lcores, floating: more than
# some machines have CPUs, as bench.sh --oversubscribe runs them): 64 tunnels
# spread over the lcores, so both lcores of each gateway carry traffic (at
# least 5% of their gateway's packets each), and a packet for a keypair
# another lcore owns is handed over, never dropped as wrong_lcore. At full
# rate the rings between the gateways overflow (tx_full) when an lcore
# waits for a CPU, so generated == delivered is not asserted; with --packets
# every packet is accounted for: delivered or dropped as tx_full.
fwd2='sorted(l["role"] for l in s["lcore_figures"]) == ["a/0", "a/1", "b/0", "b/1"] and all(l["packets"] >= 0.05 * sum(m["packets"] for m in s["lcore_figures"] if m["role"][0] == l["role"][0]) > 0 for l in s["lcore_figures"]) and s["drops"].get("wrong_lcore", 0) == 0 and s["delivered"] > 0'
run --mode fwd --lcores 2 --peers 64 --flows 256 --duration 1 --json --stats-period 0
[ "$rc" -eq 0 ] || fail "fwd, 2 lcores: exit $rc: $(cat "$tmp/err")"
check_summary "fwd, 2 lcores" "$fwd2"
run --mode fwd --lcores 2 --peers 64 --flows 256 --packets 200000 --json --stats-period 0
[ "$rc" -eq 0 ] || fail "fwd, 2 lcores, --packets: exit $rc: $(cat "$tmp/err")"
check_summary "fwd, 2 lcores, --packets" "$fwd2"' and s["generated"] == 200000 == s["delivered"] + sum(s["drops"].values()) and all(d.startswith("tx_full:") for d in s["drops"])'

# Pipeline mode (dataplane/pipeline.hpp): one tunnel, an rx/tx lcore and two
# crypto lcores per gateway (six floating lcores in loopback). The crypto
# lcores hand bursts back in whatever order they finish; the probes of the one
# peer must still arrive in order (out_of_order counts probes behind a later
# one of their stream: with the reorder stage bypassed this run counts tens
# of thousands), and both crypto lcores of each gateway must have worked.
pipe='s["dataplane"] == "pipeline" and s["out_of_order"] == 0 and s["delivered"] > 0 and "reorder_failed" not in s["drops"]'
pipe_roles='sorted(l["role"] for l in s["lcore_figures"]) == ["a/0 rx/tx", "a/1 crypto", "a/2 crypto", "b/0 rx/tx", "b/1 crypto", "b/2 crypto"] and all(l["packets"] > 0 for l in s["lcore_figures"])'
run --mode loopback --pipeline --lcores 3 --packets 100000 --tx-rate 50000 --pkt-size 512 --json --stats-period 0
[ "$rc" -eq 0 ] || fail "loopback, pipeline: exit $rc: $(cat "$tmp/err")"
check_summary "loopback, pipeline" "$pipe and $pipe_roles"' and s["generated"] == 100000 == s["delivered"] + sum(s["drops"].values())'
# At full rate the generator outruns the crypto lcores: what does not fit is
# dropped as pipeline_full, and every packet is accounted for.
for mode in encrypt decrypt; do
    run --mode $mode --pipeline --lcores 2 --packets 200000 --pkt-size 64,1420 --json --stats-period 0
    [ "$rc" -eq 0 ] || fail "$mode, pipeline: exit $rc: $(cat "$tmp/err")"
    check_summary "$mode, pipeline" "$pipe"' and s["generated"] == 200000 == s["delivered"] + sum(s["drops"].values()) and set(s["drops"]) <= {"pipeline_full"}'
done

run --mode txonly --packets 10000 --json --stats-period 0
[ "$rc" -eq 0 ] || fail "txonly: exit $rc: $(cat "$tmp/err")"
check_summary txonly 's["generated"] == 10000 and s["ports"][0]["tx_packets"] == 10000'

run --mode rxonly --duration 0.3 --json --stats-period 0
[ "$rc" -eq 0 ] || fail "rxonly: exit $rc: $(cat "$tmp/err")"
check_summary rxonly 's["delivered"] > 0'

# Text output: the testpmd-style blocks.
run --mode encrypt --duration 0.5 --stats-period 0.2
[ "$rc" -eq 0 ] || fail "text: exit $rc"
grep -q "Rx-pps:" "$tmp/out" || fail "text: no port block"
grep -q "cycles/pkt" "$tmp/out" || fail "text: no lcore block"
grep -q "summary: encrypt, 64 B" "$tmp/out" || fail "text: no summary"

# Bad options: exit 64 and one line naming the option.
expect_usage() {
    local pattern=$1
    shift
    run "$@"
    [ "$rc" -eq 64 ] || fail "sluice-perf $*: exit $rc, expected 64"
    [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "sluice-perf $*: more than one error line"
    # shellcheck disable=SC2053
    [[ $(cat "$tmp/err") == $pattern ]] || fail "sluice-perf $*: '$(cat "$tmp/err")' !~ $pattern"
}
expect_usage "sluice-perf: --mode: 'warp' is not a mode*" --mode warp
expect_usage "sluice-perf: --burst: '0'*" --burst 0
expect_usage "sluice-perf: --burst: '513'*" --burst 513
expect_usage "sluice-perf: --pkt-size: '63'*" --pkt-size 63
expect_usage "sluice-perf: --pkt-size: 1500 is larger than the tunnel MTU*" --pkt-size 1500
expect_usage "sluice-perf: --pkt-size: '64,jumbo' is not*" --pkt-size 64,jumbo
expect_usage "sluice-perf: --duration: '151'*" --duration 151
expect_usage "sluice-perf: --peers 1 is fewer than --lcores 2*" --lcores 2 --peers 1
expect_usage "sluice-perf: --port is for txonly and rxonly*" --mode encrypt --port net_null9
expect_usage "sluice-perf: --cpus:*" --mode loopback --cpus 1
expect_usage "sluice-perf: unknown option '--warp'*" --warp
expect_usage "sluice-perf: --lcores needs a value" --lcores
expect_usage "sluice-perf: --tx-rate: 'fast'*" --tx-rate=fast
expect_usage "sluice-perf: --pipeline needs --lcores 2 or more*" --pipeline
expect_usage "sluice-perf: --pipeline runs gateways*" --mode txonly --pipeline --lcores 2

# Runs that cannot start: exit 2 and why.
run --mode txonly --port net_nosuchdriver0 --duration 0.2
[ "$rc" -eq 2 ] || fail "missing driver: exit $rc, expected 2"
grep -q "sluice-perf: port 'net_nosuchdriver0': cannot probe" "$tmp/err" || fail "missing driver: $(cat "$tmp/err")"
run --mode rxonly --port 0000:ff:1f.7 --duration 0.2
[ "$rc" -eq 2 ] || fail "missing PCI device: exit $rc, expected 2"
grep -q "sluice-perf: port '0000:ff:1f.7'" "$tmp/err" || fail "missing PCI device: $(cat "$tmp/err")"
run --mode loopback --memory 64 --duration 0.2
[ "$rc" -eq 2 ] || fail "no memory: exit $rc, expected 2"
grep -q "sluice-perf: cannot create a pool" "$tmp/err" || fail "no memory: $(cat "$tmp/err")"

run --help
[ "$rc" -eq 0 ] && grep -q -- "--pkt-size" "$tmp/out" || fail "--help"
echo "sluice_perf_cli: ok"
