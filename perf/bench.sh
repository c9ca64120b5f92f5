#!/usr/bin/env bash
# Dataplane benchmark: sluice-perf (the real lcore loop on DPDK ports, see
# build/perf/sluice-perf --help) over modes × packet sizes × lcores, against
# the crypto limit measured in the same run by dpdk-test-crypto-perf
# (ChaCha20-Poly1305 on the ipsec-mb PMDs, burst 32, one core: the better of
# crypto_chacha20_poly1305 and crypto_aesni_mb per size, as crypto_limit.sh).
#
# Each cell gets a 1 s warm-up run, then RUNS runs of SECONDS s; the table
# shows the median Mpps (min-max), its CoV, the median Gbps and cycles per
# packet, and the median as a fraction of the limit (encrypt: the encrypt
# limit, decrypt: the decrypt limit, loopback and fwd: the lower of the two;
# times the lcores doing that work side by side, and fwd counts both ways,
# so twice that). The imix limit is 12 / (7/L(64) + 4/L(576) + 1/L(1420)).
# Loopback cells then get RUNS runs at half the median full rate (--tx-rate)
# for latency: medians of p50/p99/p99.9 and of the Mpps delivered. A cell
# that needs more lcores than the machine has CPUs (loopback and fwd: 2 × lcores) is
# skipped with a note unless --oversubscribe. Rows are appended to
# perf/results/bench.csv (date, commit, CPU, kernel; the limits as modes
# limit_encrypt/limit_decrypt) and perf/results/bench.png is drawn from this
# run's rows by perf/plot_bench.gp (gnuplot; gnuplot-nox is installed if
# missing). With --pipeline, every cell of 2 or more lcores runs a second
# time in pipeline mode (sluice-perf --pipeline: one rx/tx lcore, the rest
# crypto lcores), as mode MODE-pipeline, whose limit counts the crypto
# lcores only.
#
# usage: perf/bench.sh [--modes "encrypt decrypt loopback"] [--sizes "64 512 1420 imix"]
#                      [--lcores "1"] [--runs 5] [--seconds 3] [--quick] [--oversubscribe]
#                      [--pipeline]
#   --quick          1 run of 1 s per cell (checks the script, not the figures)
#   --oversubscribe  run cells that need more lcores than CPUs anyway
#                    (their figures then include the scheduler's sharing)
set -euo pipefail
cd "$(dirname "$0")/.."
modes="encrypt decrypt loopback"
sizes="64 512 1420 imix"
lcores_list="1"
runs=5
seconds=3
oversubscribe=0
pipeline=0
burst=32
while [ $# -gt 0 ]; do
    case $1 in
        --modes) modes=$2; shift 2 ;;
        --sizes) sizes=$2; shift 2 ;;
        --lcores) lcores_list=$2; shift 2 ;;
        --runs) runs=$2; shift 2 ;;
        --seconds) seconds=$2; shift 2 ;;
        --quick) runs=1; seconds=1; shift ;;
        --oversubscribe) oversubscribe=1; shift ;;
        --pipeline) pipeline=1; shift ;;
        -h|--help) sed -n '2,32p' "$0"; exit 0 ;;
        *) echo "bench.sh: unknown argument $1 (try --help)" >&2; exit 64 ;;
    esac
done
sizes=${sizes//,/ }
modes=${modes//,/ }
lcores_list=${lcores_list//,/ }
bad() { echo "bench.sh: $1 (try --help)" >&2; exit 64; }
for m in $modes; do
    case $m in encrypt|decrypt|loopback|fwd) ;; *) bad "mode $m: one of encrypt decrypt loopback fwd" ;; esac
done
for s in $sizes; do
    [ "$s" = imix ] || { [[ $s =~ ^[0-9]+$ ]] && [ "$s" -ge 64 ] && [ "$s" -le 1420 ]; } ||
        bad "size $s: 64..1420 or imix"
done
for l in $lcores_list; do [[ $l =~ ^[1-9][0-9]*$ ]] || bad "lcores $l: a positive integer"; done
[[ $runs =~ ^[1-9][0-9]*$ ]] || bad "--runs $runs: a positive integer"
[[ $seconds =~ ^[0-9]+(\.[0-9]+)?$ ]] || bad "--seconds $seconds: a number"
if [ -z "$modes" ] || [ -z "$sizes" ] || [ -z "$lcores_list" ]; then bad "empty --modes, --sizes or --lcores"; fi

if [ ! -f build/build.ninja ]; then meson setup build >/dev/null; fi
ninja -C build perf/sluice-perf >/dev/null
# shellcheck source=perf/cperf.sh
source perf/cperf.sh
cperf_check bench.sh
if ! command -v gnuplot >/dev/null; then
    echo "bench.sh: installing gnuplot-nox for the plot" >&2
    DEBIAN_FRONTEND=noninteractive apt-get -y -q install gnuplot-nox >/dev/null ||
        echo "bench.sh: gnuplot-nox did not install; there will be no plot" >&2
fi

cpus=$(nproc)
cperf_cpu=$((cpus > 1 ? cpus - 1 : 0))
work=$(mktemp -d /tmp/sluice-bench.XXXXXX)
perf_pid=""
cleanup() {
    if [ -n "$perf_pid" ]; then kill "$perf_pid" 2>/dev/null || true; wait "$perf_pid" 2>/dev/null || true; fi
    if [ -f "$work/pids" ]; then
        while read -r p; do rm -rf "/var/run/dpdk/sluice-perf-$p"; done < "$work/pids"
    fi
    rm -rf "$work" "/var/run/dpdk/sluice-cperf-$$"
}
trap cleanup EXIT
results=$work/results.txt
: > "$results"

# The crypto sizes: the sizes asked for, imix as its three.
crypto_sizes=$(for s in $sizes; do if [ "$s" = imix ]; then echo 64; echo 576; echo 1420; else echo "$s"; fi; done |
    sort -n -u | paste -s -d, -)

# perf TAG MODE SIZE LCORES DURATION [sluice-perf options...]: one run; its
# summary line goes to the results as "TAG MODE SIZE LCORES JSON", or a
# "fail" line and a note when it does not finish.
perf() {
    local tag=$1 mode=$2 size=$3 l=$4 dur=$5 rc=0
    shift 5
    local cmd=(build/perf/sluice-perf --mode "${mode%-pipeline}" --pkt-size "$size" --lcores "$l"
               --duration "$dur" --stats-period 0 --json "$@")
    "${cmd[@]}" > "$work/run.out" 2> "$work/run.err" &
    perf_pid=$!
    echo "$perf_pid" >> "$work/pids"
    wait "$perf_pid" || rc=$?
    rm -rf "/var/run/dpdk/sluice-perf-$perf_pid"
    perf_pid=""
    if [ "$rc" -ne 0 ] || ! grep -q '"type":"summary"' "$work/run.out"; then
        echo "bench: FAILED (exit $rc): ${cmd[*]}" >&2
        sed 's/^/    /' "$work/run.err" >&2
        echo "fail $tag $mode $size $l" >> "$results"
        return 0
    fi
    grep '"type":"summary"' "$work/run.out" | head -n 1 | sed "s/^/$tag $mode $size $l /" >> "$results"
}

# half_pps MODE SIZE LCORES → half of the median delivered packets/s of the
# cell's full-rate runs (0 when none finished)
half_pps() {
    python3 - "$results" "$1" "$2" "$3" <<'PY'
import json, statistics, sys
path, mode, size, l = sys.argv[1:5]
v = []
for line in open(path):
    f = line.split(" ", 4)
    if f[:4] == ["full", mode, size, l]:
        v.append(json.loads(f[4])["mpps"])
print(int(statistics.median(v) * 1e6 / 2) if v else 0)
PY
}

echo "bench: crypto limit, dpdk-test-crypto-perf at $crypto_sizes bytes, $runs run(s)" >&2
cperf "$cperf_cpu" "$crypto_sizes" "$burst" crypto_aesni_mb encrypt >/dev/null  # warm-up
for _ in $(seq "$runs"); do
    for op in encrypt decrypt; do
        for dev in crypto_aesni_mb crypto_chacha20_poly1305; do
            while read -r size mops cyc; do echo "cperf $dev $op $size $mops $cyc"; done < <(cperf "$cperf_cpu" "$crypto_sizes" "$burst" $dev $op) >> "$results"
        done
    done
done

for mode in $modes; do
    for l in $lcores_list; do
        need=$l
        case $mode in loopback|fwd) need=$((2 * l)) ;; esac
        if [ "$need" -gt "$cpus" ] && [ "$oversubscribe" = 0 ]; then
            echo "bench: skipping $mode with $l lcore(s): needs $need packet lcores, this machine has $cpus CPUs; --oversubscribe runs it anyway" >&2
            for size in $sizes; do echo "skip $mode $size $l $need" >> "$results"; done
            continue
        fi
        variants=("")
        [ "$pipeline" = 0 ] || [ "$l" -lt 2 ] || variants+=(-pipeline)
        for size in $sizes; do
            for v in "${variants[@]}"; do
                flags=()
                [ -z "$v" ] || flags=(--pipeline --peers 1)
                perf warmup "$mode$v" "$size" "$l" 1 "${flags[@]}" >/dev/null
                for _ in $(seq "$runs"); do perf full "$mode$v" "$size" "$l" "$seconds" "${flags[@]}"; done
                if [ "$mode" = loopback ]; then
                    rate=$(half_pps "$mode$v" "$size" "$l")
                    if [ "$rate" -gt 0 ]; then
                        for _ in $(seq "$runs"); do perf half "$mode$v" "$size" "$l" "$seconds" --tx-rate "$rate" "${flags[@]}"; done
                    fi
                fi
                echo "bench: $mode$v $size, $l lcore(s) done" >&2
            done
        done
    done
done

mkdir -p perf/results
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
python3 - "$results" "$commit" "$cpu" "$(uname -r)" "$cpus" "$runs" "$seconds" "$burst" "$sizes" <<'PY'
import csv, datetime, json, os, statistics, sys
path, commit, cpu, kernel, cpus, runs, seconds, burst, sizes = sys.argv[1:10]
sizes = sizes.split()
IMIX = (7 * 64 + 4 * 576 + 1420) / 12

def cov(v):
    return statistics.stdev(v) / statistics.mean(v) * 100 if len(v) > 1 and statistics.mean(v) > 0 else 0.0

def med(v):
    return statistics.median(v) if v else None

runs_by = {}      # (tag, mode, size, lcores) → [summary]
failed = {}       # (tag, mode, size, lcores) → count
skipped = []      # (mode, size, lcores, need)
cperf = {}        # (dev, op, size) → [(mops, cycles)]
cells = []        # (mode, size, lcores) in run order
for line in open(path):
    f = line.rstrip("\n").split(" ", 4)
    if f[0] == "cperf":
        dev, op, size, mops, cyc = line.split()[1:6]
        cperf.setdefault((dev, op, int(size)), []).append((float(mops), float(cyc)))
    elif f[0] == "skip":
        skipped.append((f[1], f[2], int(f[3]), int(f[4])))
    elif f[0] == "fail":
        key = tuple(line.split()[1:5])
        failed[key] = failed.get(key, 0) + 1
        if key[1:] not in cells:
            cells.append(key[1:])
    elif f[0] in ("full", "half"):
        runs_by.setdefault(tuple(f[:4]), []).append(json.loads(f[4]))
        if (f[1], f[2], f[3]) not in cells:
            cells.append((f[1], f[2], f[3]))

# The crypto limit per op and size: the better device's median.
limit = {}  # (op, size) → (mpps, dev, [mops], [cycles])
for op in ("encrypt", "decrypt"):
    for size in sorted({s for (_, o, s) in cperf if o == op}):
        best = None
        for dev in ("crypto_aesni_mb", "crypto_chacha20_poly1305"):
            v = cperf.get((dev, op, size))
            if v:
                m = med([x for x, _ in v])
                if best is None or m > best[0]:
                    best = (m, dev, [x for x, _ in v], [c for _, c in v])
        if best:
            limit[(op, size)] = best

def limit_mpps(op, size):
    if size == "imix":
        parts = [limit.get((op, s)) for s in (64, 576, 1420)]
        if not all(parts):
            return None
        return 12 / (7 / parts[0][0] + 4 / parts[1][0] + 1 / parts[2][0])
    got = limit.get((op, int(size)))
    return got[0] if got else None

def cell_limit(mode, size, lcores):
    # Pipeline mode: only the crypto lcores seal and open.
    if mode.endswith("-pipeline"):
        mode, lcores = mode[: -len("-pipeline")], lcores - 1
    e, d = limit_mpps("encrypt", size), limit_mpps("decrypt", size)
    if mode == "encrypt":
        return e * lcores if e else None
    if mode == "decrypt":
        return d * lcores if d else None
    if e is None or d is None:
        return None
    # loopback: lcores encrypt beside lcores decrypt, each packet once each;
    # fwd: every lcore does both, and both directions count.
    return min(e, d) * lcores * (2 if mode == "fwd" else 1)

def avg_size(size):
    return IMIX if size == "imix" else float(size)

date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
out = "perf/results/bench.csv"
header = ["date", "commit", "cpu", "kernel", "mode", "pkt_size", "lcores", "runs", "seconds",
          "mpps_median", "mpps_min", "mpps_max", "mpps_cov_pct", "gbps_median",
          "cycles_per_packet", "limit_mpps", "fraction_of_limit", "half_load_mpps",
          "p50_us", "p99_us", "p999_us"]
rows = []
r3 = lambda x: "" if x is None else round(x, 3)
r1 = lambda x: "" if x is None else round(x, 1)

print(f"\n{cpu}, {cpus} CPUs, kernel {kernel}, commit {commit}; {runs} run(s) of {seconds} s "
      f"per cell after a warm-up, burst {burst}")
print("\ncrypto limit, dpdk-test-crypto-perf ChaCha20-Poly1305, one core, burst "
      f"{burst}: Mpps median (min-max) of the better device")
print(f"{'op':<9}{'size':>6}{'Mpps':>26}{'CoV%':>7}{'Gbps':>8}{'cyc/op':>8}  device")
for op in ("encrypt", "decrypt"):
    lsizes = sorted({s for (o, s) in limit if o == op})
    for size in lsizes:
        m, dev, v, c = limit[(op, size)]
        print(f"{op:<9}{size:>6}{f'{m:.3f} ({min(v):.3f}-{max(v):.3f})':>26}{cov(v):>7.1f}"
              f"{m * size * 8 / 1000:>8.2f}{med(c):>8.0f}  {dev}")
        rows.append([date, commit, cpu, kernel, "limit_" + op, size, 1, len(v), "",
                     r3(m), r3(min(v)), r3(max(v)), r1(cov(v)), round(m * size * 8 / 1000, 2),
                     r1(med(c)), "", "", "", "", "", ""])
    if "imix" in sizes:
        m = limit_mpps(op, "imix")
        if m:
            print(f"{op:<9}{'imix':>6}{f'{m:.3f}':>26}{'':>7}{m * IMIX * 8 / 1000:>8.2f}{'':>8}  "
                  "12 / (7/L(64) + 4/L(576) + 1/L(1420))")
            rows.append([date, commit, cpu, kernel, "limit_" + op, "imix", 1, runs, "", r3(m),
                         "", "", "", round(m * IMIX * 8 / 1000, 2), "", "", "", "", "", "", ""])

print("\nsluice-perf: Mpps median (min-max) of the runs; limit = the crypto limit for the "
      "cell's work and lcores")
print(f"{'mode':<18}{'size':>6}{'lcores':>7}{'Mpps':>26}{'CoV%':>7}{'Gbps':>8}"
      f"{'cyc/pkt':>9}{'limit':>8}{'fraction':>10}")
notes = []
lat_rows = []
for mode, size, l in cells:
    key = (mode, size, l)
    full = runs_by.get(("full",) + key, [])
    half = runs_by.get(("half",) + key, [])
    nfail = failed.get(("full",) + key, 0) + failed.get(("half",) + key, 0) + \
        failed.get(("warmup",) + key, 0)
    if nfail:
        notes.append(f"{mode} {size}, {l} lcore(s): {nfail} run(s) failed (see the FAILED lines above)")
    if not full:
        print(f"{mode:<18}{size:>6}{l:>7}{'no finished run':>26}")
        continue
    mpps = [s["mpps"] for s in full]
    gbps = med([s["gbps"] for s in full])
    cyc = med([statistics.mean(s["cycles_per_packet"]) for s in full if s["cycles_per_packet"]])
    lim = cell_limit(mode, size, int(l))
    m = med(mpps)
    frac = m / lim if lim else None
    print(f"{mode:<18}{size:>6}{l:>7}{f'{m:.3f} ({min(mpps):.3f}-{max(mpps):.3f})':>26}"
          f"{cov(mpps):>7.1f}{gbps:>8.2f}{(cyc if cyc is not None else 0):>9.0f}"
          f"{(f'{lim:.3f}' if lim else '-'):>8}{(f'{frac:.2f}' if frac is not None else '-'):>10}")
    # Drops, by reason (median count per run).
    for what, group in (("full-rate", full), ("half-load", half)):
        reasons = sorted({r for s in group for r in (s.get("drops") or {})})
        if reasons:
            parts = []
            gen = med([s.get("generated", 0) for s in group]) or 1
            for r in reasons:
                v = [(s.get("drops") or {}).get(r, 0) for s in group]
                parts.append(f"{r} {med(v):.0f} ({med(v) / gen * 100:.2f}% of generated), "
                             f"max {max(v)}")
            notes.append(f"{mode} {size}, {l} lcore(s), drops per {what} run, median: " +
                         "; ".join(parts))
    lat = [None] * 4
    if half:
        with_lat = [s for s in half if s.get("latency_us")]
        lat = [med([s["mpps"] for s in half])] + \
            [med([s["latency_us"][p] for s in with_lat]) if with_lat else None
             for p in ("p50", "p99", "p999")]
        lat_rows.append((mode, size, l, m / 2, len(half), lat))
    rows.append([date, commit, cpu, kernel, mode, size, l, len(full), seconds, r3(m),
                 r3(min(mpps)), r3(max(mpps)), r1(cov(mpps)), round(gbps, 2), r1(cyc),
                 r3(lim), "" if frac is None else round(frac, 3),
                 r3(lat[0])] + ["" if x is None else round(x, 2) for x in lat[1:]])
for mode, size, l, need in skipped:
    if size == sizes[0]:
        notes.append(f"{mode}, {l} lcore(s): skipped, needs {need} packet lcores and this machine "
                     f"has {cpus} CPUs")

if lat_rows:
    print("\nloopback latency at half load (--tx-rate = half the median full rate): medians of the runs")
    print(f"{'mode':<18}{'size':>6}{'lcores':>7}{'offered':>10}{'Mpps':>9}{'runs':>6}"
          f"{'p50 us':>10}{'p99 us':>10}{'p99.9 us':>10}")
    fmt = lambda x: "-" if x is None else f"{x:.1f}"
    for mode, size, l, offered, n, (mp, p50, p99, p999) in lat_rows:
        print(f"{mode:<18}{size:>6}{l:>7}{offered:>10.3f}{fmt(None) if mp is None else f'{mp:.3f}':>9}"
              f"{n:>6}{fmt(p50):>10}{fmt(p99):>10}{fmt(p999):>10}")
if notes:
    print("\nnotes:")
    for n in notes:
        print("  " + n)

new = not os.path.exists(out) or os.path.getsize(out) == 0
with open(out, "a", newline="") as f:
    w = csv.writer(f)
    if new:
        w.writerow(header)
    w.writerows(rows)
print(f"\nappended {len(rows)} rows to {out}")
PY

if command -v gnuplot >/dev/null; then
    gnuplot -c perf/plot_bench.gp perf/results/bench.csv perf/results/bench.png &&
        echo "plotted perf/results/bench.png"
fi
