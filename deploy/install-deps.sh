#!/usr/bin/env bash
# Installs every Debian 12 package that sluice's build, tests and demo need.
# Idempotent and non-interactive: it asks apt only for what is missing.
set -euo pipefail

packages=(
    # build
    meson ninja-build pkg-config g++ python3
    dpdk-dev libdpdk-dev libipsec-mb-dev libyaml-cpp-dev
    # the DPDK virtual-device drivers sluice-perf and its tests open (dlopened,
    # so named here although libdpdk-dev pulls them in)
    librte-net-null23 librte-net-ring23 librte-net-af-packet23
    # the af_xdp driver: net_af_xdp, and libbpf/libxdp for sluice's XDP program
    # (compiled with clang -target bpf at build time)
    librte-net-af-xdp23 libbpf-dev libxdp-dev
    libgtest-dev libgmock-dev libsodium-dev libssl-dev
    # fuzz targets (libFuzzer) and sanitizer runtimes
    clang libclang-rt-14-dev
    # interop tests and the demo
    wireguard-go wireguard-tools iproute2 iputils-ping iperf3 procps
    # the L2 gateway tests: ARP and neighbour discovery probes, veth offloads
    iputils-arping ndisc6 ethtool
)

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: run as root (it calls apt-get)" >&2
    exit 1
fi

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#packages[@]} packages present"
    exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
