#!/usr/bin/env bash
# The whole test suite (README command two; .ci/run calls exactly this):
# installs dependencies, builds with -Werror, runs every meson test (unit,
# fuzz replays, the wireguard-go interop probe, sluiced in network namespaces
# against wireguard-go and itself), then runs the unit and fuzz suites and
# most namespace tests again under AddressSanitizer +
# UndefinedBehaviorSanitizer, and the fuzz targets under real libFuzzer.
# Ends with one "N passed, N failed" line.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)

bash deploy/install-deps.sh

jobs=$(nproc)
fuzz_runs=${SLUICE_FUZZ_RUNS:-20000}               # corpus replays in the gcc builds
libfuzzer_runs=${SLUICE_LIBFUZZER_RUNS:-200000}    # real fuzzing, coverage-guided

setup() {  # setup DIR [meson options...]
    local dir=$1
    shift
    if [ -f "$dir/build.ninja" ]; then
        meson setup --reconfigure "$dir" "$@" >/dev/null
    else
        meson setup "$dir" "$@" >/dev/null
    fi
}

summaries=()
run_suite() {  # run_suite LABEL DIR [meson test options...]
    local label=$1 dir=$2
    shift 2
    echo
    echo "=== meson test: $label ==="
    local rc=0
    # Each run keeps its own logs, so two runs in one build dir both count.
    local logbase=testlog-${#summaries[@]}
    meson test -C "$dir" --print-errorlogs --num-processes "$jobs" --logbase "$logbase" "$@" || rc=$?
    summaries+=("$dir/meson-logs/$logbase")
    return $rc
}

status=0

echo "=== build: gcc, -Werror ==="
setup build -Dwerror=true -Dfuzz_runs="$fuzz_runs"
ninja -C build
run_suite "everything (gcc)" build || status=1

echo
echo "=== build: gcc, ASan + UBSan ==="
setup build-asan -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false \
    -Dfuzz_runs="$fuzz_runs"
ninja -C build-asan
# tests/lsan.supp: leaks of DPDK's AF_XDP driver and libbpf, not ours.
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    run_suite "unit + fuzz replays (ASan + UBSan)" build-asan --suite unit --suite fuzz || status=1
# The daemon itself under the sanitizers: it must exit 0 after SIGTERM, so a
# leak or a memory error fails the test; the L2 gateway mode (DPDK ports:
# ARP/ND, ICMP, neighbours), the AF_XDP driver and pipeline mode too, and
# streams (TCP forwarding: sessions, spliced sockets, resets; with 16 MiB
# transfers instead of 100). (Not flood, whose memory bound
# means nothing under ASan's quarantine, nor rekey, which counts on timing.)
STREAMS_BIG_MIB=16 LOSSY_MIB=16 \
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    run_suite "sluiced in namespaces (ASan + UBSan)" build-asan --no-rebuild \
    netns_tunnel_sluice_sluice netns_restart_sluice_sluice netns_roaming_sluice \
    netns_wg_tool_sluice netns_bad_input_sluice netns_l2_gateway_dpdk_wggo \
    netns_af_xdp_afxdp_wggo netns_pipeline_dpdk_wggo netns_streams_sluice_sluice || status=1

echo
echo "=== build: clang, libFuzzer ==="
CXX=clang++ setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false \
    -Dfuzz_runs="$libfuzzer_runs"
ninja -C build-fuzz $(for t in tests/fuzz/fuzz_*.cpp; do basename "$t" .cpp; done | sed "s,^,tests/fuzz/,")
run_suite "libFuzzer" build-fuzz --suite fuzz --no-rebuild || status=1

# One closing line over every suite: each gtest case and each other test
# counted once per build, from meson's JUnit logs.
python3 - "${summaries[@]}" <<'PY'
import json
import sys
import xml.etree.ElementTree as ET
counts = {"passed": 0, "failed": 0, "skipped": 0}
for d in sys.argv[1:]:
    failed_cases = 0
    for case in ET.parse(f"{d}.junit.xml").iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed_cases += 1
        elif case.find("skipped") is not None:
            counts["skipped"] += 1
        else:
            counts["passed"] += 1
    # A test binary that crashed or timed out may leave no failed case behind:
    # never report fewer failures than meson saw failing tests.
    with open(f"{d}.json") as f:
        failed_tests = sum(json.loads(line)["result"] not in ("OK", "SKIP", "EXPECTEDFAIL")
                           for line in f)
    counts["failed"] += max(failed_cases, failed_tests)
print()
print(f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped")
PY
exit $status
