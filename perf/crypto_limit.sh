#!/usr/bin/env bash
# The AEAD limit: sluice's ChaCha20-Poly1305 burst path (aead-bench, the
# AeadEngine wrapper every lcore uses) against DPDK's own crypto benchmark,
# dpdk-test-crypto-perf, on the ipsec-mb crypto PMDs, in one run, at the same
# sizes and burst, one core each.
#
# Each tool runs RUNS times per operation after a warm-up; the table shows the
# median Mpps (min-max) of each and sluice's median as a fraction of the
# better PMD's. Rows are appended to perf/results/aead.csv with the CPU model,
# kernel, date and commit.
#
# usage: perf/crypto_limit.sh [--runs N] [--sizes 64,512,1420] [--cpu N]
#
# dpdk-test-crypto-perf's decrypt figures come from buffers whose tags do not
# verify (its throughput test does not make valid ciphertext); the PMD does
# the full work and reports the failure per op, so the rate still counts.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=5
sizes=64,512,1420
cpu=1
burst=32
while [ $# -gt 0 ]; do
    case $1 in
        --runs) runs=$2; shift 2 ;;
        --sizes) sizes=$2; shift 2 ;;
        --cpu) cpu=$2; shift 2 ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "crypto_limit.sh: unknown argument $1 (try --help)" >&2; exit 64 ;;
    esac
done

if [ ! -f build/build.ninja ]; then meson setup build >/dev/null; fi
ninja -C build perf/aead-bench >/dev/null
# shellcheck source=perf/cperf.sh
source perf/cperf.sh
cperf_check crypto_limit.sh

work=$(mktemp -d /tmp/sluice-aead.XXXXXX)
trap 'rm -rf "$work" /var/run/dpdk/sluice-cperf-$$' EXIT
results=$work/results.txt
: > "$results"


# sluice OP → "size mpps" lines (the wrapper's figures)
sluice() {
    local op=$1
    build/perf/aead-bench --sizes "$sizes" --ops "$op" --burst "$burst" --cpu "$cpu" \
        --seconds 1 --reps 1 --json |
        python3 -c 'import json,sys
for r in json.load(sys.stdin)["results"]:
    print(r["bytes"], r["wrapper"]["mpps"])'
}

cperf "$cpu" "$sizes" "$burst" crypto_aesni_mb encrypt >/dev/null  # warm-up
for r in $(seq "$runs"); do
    for op in encrypt decrypt; do
        sop=$([ $op = encrypt ] && echo seal || echo open)
        while read -r size mpps; do echo "sluice $op $size $mpps"; done < <(sluice $sop) >> "$results"
        for dev in crypto_aesni_mb crypto_chacha20_poly1305; do
            while read -r size mpps _; do echo "$dev $op $size $mpps"; done < <(cperf "$cpu" "$sizes" "$burst" $dev $op) >> "$results"
        done
    done
    echo "crypto_limit: round $r done" >&2
done

mkdir -p perf/results
python3 - "$results" "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
    "$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)" "$(uname -r)" "$burst" <<'PY'
import csv, datetime, os, statistics, sys
path, commit, cpu, kernel, burst = sys.argv[1:6]
data = {}
for line in open(path):
    tool, op, size, mpps = line.split()
    data.setdefault((tool, op, int(size)), []).append(float(mpps))
tools = ["sluice", "crypto_aesni_mb", "crypto_chacha20_poly1305"]
date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
print(f"\n{cpu}, kernel {kernel}, commit {commit}, burst {burst}, one core each; Mpps median (min-max)")
print(f"{'op':<8}{'bytes':>6}" + "".join(f"{t:>28}" for t in tools) + "   sluice/best PMD")
out = "perf/results/aead.csv"
new = not os.path.exists(out)
with open(out, "a", newline="") as f:
    w = csv.writer(f)
    if new:
        w.writerow(["date", "commit", "cpu", "kernel", "tool", "op", "bytes", "burst", "runs",
                    "mpps_median", "mpps_min", "mpps_max", "gbps_median"])
    for op in ("encrypt", "decrypt"):
        for size in sorted({s for (_, o, s) in data if o == op}):
            row = f"{op:<8}{size:>6}"
            med = {}
            for t in tools:
                v = data.get((t, op, size))
                if not v:
                    row += f"{'-':>28}"
                    continue
                med[t] = statistics.median(v)
                row += f"{med[t]:>10.3f} ({min(v):.3f}-{max(v):.3f})".rjust(28)
                w.writerow([date, commit, cpu, kernel, t, op, size, burst, len(v), med[t],
                            min(v), max(v), round(med[t] * size * 8 / 1000, 2)])
            pmds = [med[t] for t in tools[1:] if t in med]
            if "sluice" in med and pmds:
                row += f"   {med['sluice'] / max(pmds):.2f}"
            print(row)
print(f"\nappended to {out}")
PY
