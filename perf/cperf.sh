# shellcheck shell=bash
# dpdk-test-crypto-perf as sluice's benchmarks run it: ChaCha20-Poly1305 on
# an ipsec-mb crypto PMD, one worker core, throughput test. Sourced by
# perf/crypto_limit.sh and perf/bench.sh.
#
# cperf_check NAME: sets CPERF_PMD to the ipsec-mb PMD (Debian ships DPDK
#   with shared linkage, so the tool loads it with -d); exits 69 with a line
#   naming NAME if the PMD or the tool is missing.
# cperf CPU SIZES BURST DEVTYPE OP: one run on worker CPU, buffer sizes SIZES
#   (comma-separated), devtype crypto_aesni_mb or crypto_chacha20_poly1305, OP
#   encrypt or decrypt; prints "size mops cycles_per_buffer" lines. Its EAL
#   files are /var/run/dpdk/sluice-cperf-$$ (the caller removes them).

cperf_check() {
    local pmd_dir
    pmd_dir=$(pkg-config --variable=pmdsdir libdpdk 2>/dev/null || true)
    [ -d "$pmd_dir" ] || pmd_dir=$(ls -d /usr/lib/*/dpdk/pmds-* | head -n 1)
    CPERF_PMD=$pmd_dir/librte_crypto_ipsec_mb.so
    [ -f "$CPERF_PMD" ] || { echo "$1: no ipsec-mb crypto PMD at $CPERF_PMD" >&2; exit 69; }
    command -v dpdk-test-crypto-perf >/dev/null ||
        { echo "$1: dpdk-test-crypto-perf not found (package dpdk-dev)" >&2; exit 69; }
}

cperf() {
    dpdk-test-crypto-perf -l "0,$1" --no-huge -m 512 --no-pci --file-prefix="sluice-cperf-$$" \
        --log-level=1 -d "$CPERF_PMD" --vdev "${4}0" -- \
        --ptest throughput --devtype "$4" --optype aead --aead-algo chacha20-poly1305 \
        --aead-op "$5" --aead-key-sz 32 --aead-iv-sz 12 --aead-aad-sz 0 --digest-sz 16 \
        --buffer-sz "$2" --burst-sz "$3" --total-ops 2000000 2>/dev/null |
        awk '$1 ~ /^[0-9]+$/ && NF >= 10 {print $2, $8, $10}'
}
