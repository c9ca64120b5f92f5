#!/usr/bin/env bash
# sluice's main job (README command one): three sites joined over a WAN, in
# network namespaces on this machine. Sites A and B run sluiced (kernel
# driver: a UDP socket and a TUN device, no NIC or hugepages needed); site C
# runs stock wireguard-go. Every site reaches the other two.
#
#                       ┌──────── wan (bridge, 192.0.2.0/24) ────────┐
#     host-a ── gw-a (sluiced)     gw-b (sluiced)     gw-c (wireguard-go) ── host-c
#  192.168.1.0/24           host-b ── 192.168.2.0/24          192.168.3.0/24
#
# It installs dependencies, builds, brings the sites up, pings between the
# hosts behind them, runs iperf3 A→B and A→C, then iperf3 through a TCP
# forward that site A publishes for host B's iperf3 server (a stream through
# the A–B tunnel), prints `sluicectl show streams`, `sluicectl show` and
# `wg show`, and removes everything again (also on Ctrl-C or an error).
# Options: --keep  stay up until Ctrl-C, to look around (see the printed hints).
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
keep=false
[ "${1:-}" = "--keep" ] && keep=true

bash deploy/install-deps.sh
if [ -f build/build.ninja ]; then
    meson setup --reconfigure build >/dev/null
else
    meson setup build >/dev/null
fi
ninja -C build control/sluiced control/sluicectl >/dev/null
sluiced=$top/build/control/sluiced
sluicectl=$top/build/control/sluicectl

id=$$
ns_wan=demo-wan-$id
work=$(mktemp -d /tmp/sluice-demo.XXXXXX)
pids=()

cleanup() {
    set +e
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
    for s in a b c; do
        ip netns del "demo-gw-$s-$id" 2>/dev/null
        ip netns del "demo-host-$s-$id" 2>/dev/null
    done
    ip netns del "$ns_wan" 2>/dev/null
    rm -f "/var/run/wireguard/dm$id-c.sock"
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n== %s\n' "$*"; }

step "WAN and sites"
ip netns add "$ns_wan"
ip -n "$ns_wan" link add br0 type bridge
ip -n "$ns_wan" link set br0 up
n=0
for s in a b c; do
    n=$((n + 1))
    gw=demo-gw-$s-$id
    host=demo-host-$s-$id
    ip netns add "$gw"
    ip netns add "$host"
    ip -n "$gw" link set lo up
    ip -n "$host" link set lo up
    # WAN side: gw ↔ bridge.
    ip link add "w$s$id" netns "$gw" type veth peer name "b$s$id" netns "$ns_wan"
    ip -n "$ns_wan" link set "b$s$id" master br0 up
    ip -n "$gw" addr add "192.0.2.$n/24" dev "w$s$id"
    ip -n "$gw" link set "w$s$id" up
    # LAN side: host ↔ gw.
    ip link add "l$s$id" netns "$gw" type veth peer name eth0 netns "$host"
    ip -n "$gw" addr add "192.168.$n.1/24" dev "l$s$id"
    ip -n "$gw" link set "l$s$id" up
    ip -n "$host" addr add "192.168.$n.2/24" dev eth0
    ip -n "$host" link set eth0 up
    ip -n "$host" route add default via "192.168.$n.1"
    ip netns exec "$gw" sysctl -qw net.ipv4.ip_forward=1
    wg genkey > "$work/$s.key"
    wg pubkey < "$work/$s.key" > "$work/$s.pub"
    chmod 600 "$work/$s.key"
done
echo "namespaces: $ns_wan, demo-{gw,host}-{a,b,c}-$id"

# A site's gateway configuration: peers are the other two sites.
site_config() {  # site_config SITE NUMBER
    local s=$1 n=$2 o m
    cat <<YAML
interface:
  name: dm$id-$s
  private_key_file: $work/$s.key
  listen_port: 51820
  addresses: [10.99.0.$n/24]
dataplane:
  driver: kernel
peers:
YAML
    m=0
    for o in a b c; do
        m=$((m + 1))
        [ "$o" = "$s" ] && continue
        cat <<YAML
  - name: site-$o
    public_key: $(cat "$work/$o.pub")
    endpoint: 192.0.2.$m:51820
    allowed_ips: [10.99.0.$m/32, 192.168.$m.0/24]
YAML
        # Streams between the two sluice sites only (site C is stock
        # WireGuard): each lets the other reach iperf3 on its host.
        if [ "$o" != c ] && [ "$s" != c ]; then
            cat <<YAML
    streams:
      allow: ["192.168.$n.2:5201"]
YAML
        fi
    done
    # Site A publishes host B's iperf3 on its own 127.0.0.1:15201.
    if [ "$s" = a ]; then
        cat <<YAML
forwards:
  - name: iperf-b
    listen: 127.0.0.1:15201
    peer: site-b
    target: 192.168.2.2:5201
YAML
    fi
}

step "sluiced on gw-a and gw-b"
for s in a b; do
    n=$([ $s = a ] && echo 1 || echo 2)
    site_config $s $n > "$work/$s.yaml"
    chmod 600 "$work/$s.yaml"
    ip netns exec "demo-gw-$s-$id" "$sluiced" --config "$work/$s.yaml" --foreground \
        > "$work/sluiced-$s.log" 2>&1 &
    pids+=($!)
done

step "wireguard-go on gw-c"
gwc=demo-gw-c-$id
WG_PROCESS_FOREGROUND=1 ip netns exec "$gwc" wireguard-go "dm$id-c" > "$work/wggo.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do [ -S "/var/run/wireguard/dm$id-c.sock" ] && break; sleep 0.1; done
ip netns exec "$gwc" wg set "dm$id-c" private-key "$work/c.key" listen-port 51820 \
    peer "$(cat "$work/a.pub")" endpoint 192.0.2.1:51820 allowed-ips 10.99.0.1/32,192.168.1.0/24 \
    peer "$(cat "$work/b.pub")" endpoint 192.0.2.2:51820 allowed-ips 10.99.0.2/32,192.168.2.0/24
ip -n "$gwc" addr add 10.99.0.3/24 dev "dm$id-c"
ip -n "$gwc" link set "dm$id-c" up

for s in a b; do
    for _ in $(seq 50); do [ -S "/var/run/wireguard/dm$id-$s.sock" ] && break; sleep 0.1; done
    [ -S "/var/run/wireguard/dm$id-$s.sock" ] || { cat "$work/sluiced-$s.log"; exit 1; }
done

# Each site routes the other sites' LANs into its tunnel interface.
n=0
for s in a b c; do
    n=$((n + 1))
    for o in 1 2 3; do
        [ $o = $n ] && continue
        ip -n "demo-gw-$s-$id" route replace "192.168.$o.0/24" dev "dm$id-$s"
    done
done

failed=0
check() {  # check DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@" > "$work/out" 2>&1; then
        printf '  ok    %s\n' "$what"
    else
        printf '  FAIL  %s\n' "$what"
        sed 's/^/        /' "$work/out" | tail -5
        failed=$((failed + 1))
    fi
}

step "ping between the sites' hosts"
for pair in "a 2" "a 3" "b 1" "b 3" "c 1" "c 2"; do
    set -- $pair
    check "host-$1 → 192.168.$2.2" ip netns exec "demo-host-$1-$id" ping -c 3 -i 0.2 -w 10 "192.168.$2.2"
done

step "iperf3 (TCP, 3 s)"
for pair in "a b 2" "a c 3"; do
    set -- $pair
    ip netns exec "demo-host-$2-$id" iperf3 -s -1 -D >/dev/null
    sleep 0.3
    if ip netns exec "demo-host-$1-$id" iperf3 -c "192.168.$3.2" -t 3 -f m > "$work/iperf" 2>&1; then
        printf '  ok    host-%s → host-%s: %s\n' "$1" "$2" \
            "$(awk '/receiver/ {print $(NF-2), $(NF-1)}' "$work/iperf")"
    else
        printf '  FAIL  host-%s → host-%s\n' "$1" "$2"
        failed=$((failed + 1))
    fi
done

step "iperf3 through a forward (gw-a 127.0.0.1:15201 → stream → gw-b → host-b:5201, 3 s)"
ip netns exec "demo-host-b-$id" iperf3 -s -1 -D >/dev/null
sleep 0.3
if ip netns exec "demo-gw-a-$id" iperf3 -c 127.0.0.1 -p 15201 -t 3 -f m > "$work/iperf" 2>&1; then
    printf '  ok    gw-a forward → host-b: %s\n' "$(awk '/receiver/ {print $(NF-2), $(NF-1)}' "$work/iperf")"
else
    printf '  FAIL  gw-a forward → host-b\n'
    sed 's/^/        /' "$work/iperf" | tail -5
    failed=$((failed + 1))
fi

step "sluicectl -i dm$id-a show streams"
"$sluicectl" -i "dm$id-a" show streams

step "sluicectl -i dm$id-a show"
"$sluicectl" -i "dm$id-a" show
step "sluicectl -i dm$id-a show drops"
"$sluicectl" -i "dm$id-a" show drops
step "wg show dm$id-a   (stock wg(8) talking to sluiced)"
wg show "dm$id-a"
step "wg show dm$id-c   (wireguard-go)"
wg show "dm$id-c"

if $keep; then
    step "up until Ctrl-C; try: ip netns exec demo-host-a-$id ping 192.168.3.2"
    echo "   sluicectl -i dm$id-a stats --watch      wg show all"
    while sleep 3600; do :; done
fi

step "teardown"
if [ $failed -eq 0 ]; then
    echo "demo: PASS"
else
    echo "demo: $failed check(s) failed; logs:"
    tail -n 20 "$work"/sluiced-*.log
    exit 1
fi
