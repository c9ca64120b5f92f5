#!/usr/bin/env bash
# driver: auto falls back, and says why. Gateway A is sluiced with
# `dataplane.driver: auto` and ports that rule drivers out one by one; B is of
# kind B_KIND (default sluice). In each case A starts (ready), its log's
# "driver: DRIVER (auto: ...)" line names the driver and why, sluicectl show
# ports says the same reason, and host A <-> host B ping through the tunnel
# (IPv4 and IPv6, both ways):
#
#   a. wan "net_af_packet0,iface=nosuch0", lan "net_af_packet1,iface=lan0"
#      (a vdev on an absent interface; auto with a vdev needs both ports):
#      dpdk refused (the reason names the device), af_xdp "no kernel
#      interface", so the kernel driver;
#   b. wan "nosuch0", an absent kernel interface: dpdk "is a kernel
#      interface", af_xdp "no interface nosuch0", so the kernel driver;
#   c. wan "wan0" with a foreign XDP program (XDP_PASS, built here with clang)
#      attached: af_xdp refused naming that program, so the kernel driver;
#      the foreign program is still attached after sluiced exits;
#   d. wan "wan0" with nothing attached and sluice's own addresses (the
#      kernel moved to KERNEL_WAN4/6, as for kind afxdp): af_xdp chosen,
#      because wan0 is a kernel interface; no XDP program left after A stops.
#
# Without clang, case c is not run and the test ends as skipped (77) after
# the others pass.
#
# usage: fallback.sh [B_KIND] [SLUICED SLUICECTL]   (B_KIND: sluice or wggo)
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

b_kind=sluice
case ${1:-} in
    sluice | wggo) b_kind=$1; shift ;;
    "" | */*) ;;
    *) echo "usage: $0 [B_KIND] [SLUICED SLUICECTL]  (B_KIND: sluice or wggo; A is sluiced, driver auto)" >&2; exit 2 ;;
esac
netns_init sluice "$b_kind" -- "$@"
setup_topology

# start_auto CASE WAN_PORT_LINES...: starts A as start_sluiced would for kind
# "sluice", except that dataplane is `driver: auto` with the given lines
# under `ports:` (lib.sh's SLUICED_PORT_LINES). Its log is gateway-A-CASE.log.
start_auto() {
    local case=$1 side=A peer=B
    shift
    local ifname=${GW_IF[$side]} conf=$TMP/$side-$case.yaml
    GW_KIND[$side]=sluice
    GW_OPTS[$side]=
    GW_LOG[$side]=$TMP/gateway-$side-$case.log
    echo "==== $(date +%T.%N) starting sluice, driver auto, case $case" >>"${GW_LOG[$side]}"
    SLUICED_PORT_LINES=("$@")
    sluiced_yaml "$side" "$peer" "${WAN4[$peer]}:${GW_PORT[$peer]}" 0 "" auto >"$conf"
    SLUICED_PORT_LINES=()
    launch_sluiced "$side" "$conf" "case $case: sluiced (driver auto)" tun
    in_gw "$side" ip route replace "${LAN4_NET[$peer]}" dev "$ifname"
    in_gw "$side" ip -6 route replace "${LAN6_NET[$peer]}" dev "$ifname"
    ok "case $case: sluiced with driver auto started and answers wg(8)"
}

# expect_choice CASE DRIVER PORT_DRIVER TEXT...: A's log says "driver: DRIVER
# (auto: ...)", the reason holds every TEXT, sluicectl show ports has the
# same reason on its "driver chosen" line and PORT_DRIVER on the wan port.
# WHY: the reason, for the caller.
expect_choice() {
    local case=$1 driver=$2 port_driver=$3 text line chosen port0
    shift 3
    line=$(grep -m 1 -oE '\] driver: [a-z_]+ \(.*\)$' "${GW_LOG[A]}") ||
        fail "case $case: A's log has no \"driver: ...\" line: $(grep -i driver "${GW_LOG[A]}" | tr '\n' ' ')"
    line=${line#] }
    [[ $line == "driver: $driver (auto: "*")" ]] ||
        fail "case $case: A's log says \"$line\", want driver $driver chosen by auto"
    WHY=${line#"driver: $driver ("}
    WHY=${WHY%)}
    for text in "$@"; do
        [[ $WHY == *"$text"* ]] || fail "case $case: the reason \"$WHY\" does not say \"$text\""
    done
    ok "case $case: A's log: $line"
    ctl A show ports >"$TMP/ports-$case.txt" 2>&1 ||
        fail "case $case: sluicectl show ports on A failed: $(cat "$TMP/ports-$case.txt")"
    chosen=$(grep -E '^  driver chosen: ' "$TMP/ports-$case.txt") ||
        fail "case $case: sluicectl show ports on A has no \"driver chosen\" line: $(tr '\n' ' ' <"$TMP/ports-$case.txt")"
    [ "${chosen#  driver chosen: }" = "$WHY" ] ||
        fail "case $case: sluicectl show ports on A says \"${chosen#  }\", the log \"$WHY\""
    port0=$(grep -E '^port 0 \(wan\): ' "$TMP/ports-$case.txt") ||
        fail "case $case: sluicectl show ports on A: no wan port: $(tr '\n' ' ' <"$TMP/ports-$case.txt")"
    [[ $port0 == "port 0 (wan): $port_driver on "* ]] ||
        fail "case $case: sluicectl show ports on A: \"$port0\", want $port_driver"
    ok "case $case: sluicectl show ports on A: the same reason; ${port0%%, link*}"
}

pings_both_ways() {
    ping_hosts A
    ping_hosts B
}

start_gateway "$b_kind" B

info "case a: a vdev on an absent interface"
start_auto a \
    "wan:" \
    "  device: \"net_af_packet0,iface=nosuch0\"" \
    "  addresses: [${WAN4[A]}/24, \"${WAN6[A]}/64\"]" \
    "lan:" \
    "  device: \"net_af_packet1,iface=lan0\"" \
    "  addresses: [${GW_LAN4[A]}/24, \"${GW_LAN6[A]}/64\"]"
expect_choice a kernel kernel-udp "dpdk: " "net_af_packet0" "af_xdp: no kernel interface" "so the kernel driver"
[[ ${WHY%%;*} == *net_af_packet0* ]] || fail "case a: dpdk's reason \"${WHY%%;*}\" does not name the device"
pings_both_ways
stop_gateway A

info "case b: an absent kernel interface"
start_auto b \
    "wan:" \
    "  device: nosuch0" \
    "  addresses: [${WAN4[A]}/24, \"${WAN6[A]}/64\"]"
expect_choice b kernel kernel-udp "dpdk: nosuch0 is a kernel interface" "af_xdp: no interface nosuch0" "so the kernel driver"
pings_both_ways
stop_gateway A

clang_missing=
if ! command -v clang >/dev/null; then
    clang_missing=1
    info "case c: not run, clang not installed (it builds the foreign XDP program)"
else
    info "case c: another XDP program on wan0"
    cat >"$TMP/xdp_pass.c" <<'EOF'
/* A foreign XDP program: passes every frame to the kernel. */
__attribute__((section("xdp"), used)) int foreign_pass(void *ctx) { return 2; /* XDP_PASS */ }
char _license[] __attribute__((section("license"), used)) = "GPL";
EOF
    clang -O2 -target bpf -c "$TMP/xdp_pass.c" -o "$TMP/xdp_pass.o" >"$TMP/clang.log" 2>&1 ||
        fail "case c: clang cannot build the XDP program: $(tr '\n' ' ' <"$TMP/clang.log")"
    ip -n "${NS_GW[A]}" link set dev wan0 xdp obj "$TMP/xdp_pass.o" sec xdp >"$TMP/xdp-attach.log" 2>&1 ||
        fail "case c: ip link set dev wan0 xdp obj ... failed: $(tr '\n' ' ' <"$TMP/xdp-attach.log")"
    foreign=$(xdp_prog_id "${NS_GW[A]}" wan0) ||
        fail "case c: no XDP program on A's wan0 after attaching one: $(ip -n "${NS_GW[A]}" link show dev wan0 | tr '\n' ' ')"
    ok "case c: foreign XDP program $foreign attached to A's wan0"
    start_auto c \
        "wan:" \
        "  device: wan0" \
        "  addresses: [${WAN4[A]}/24, \"${WAN6[A]}/64\"]"
    expect_choice c kernel kernel-udp "dpdk: wan0 is a kernel interface" "af_xdp: " \
        "another XDP program $foreign" "so the kernel driver"
    pings_both_ways
    stop_gateway A
    now=$(xdp_prog_id "${NS_GW[A]}" wan0) ||
        fail "case c: the foreign XDP program $foreign is gone from A's wan0 after sluiced exited"
    [ "$now" = "$foreign" ] ||
        fail "case c: A's wan0 carries XDP program $now after sluiced exited, not the foreign $foreign"
    ok "case c: the foreign XDP program $foreign is still attached after sluiced exited"
    ip -n "${NS_GW[A]}" link set dev wan0 xdp off
    ! xdp_prog_id "${NS_GW[A]}" wan0 >/dev/null || fail "case c: cannot detach the foreign XDP program"
fi

info "case d: wan0, free, with sluice's own addresses (the kernel moves to ${KERNEL_WAN4[A]}, ${KERNEL_WAN6[A]})"
share_wan_link A
start_auto d \
    "wan:" \
    "  device: wan0" \
    "  addresses: [${WAN4[A]}/24, \"${WAN6[A]}/64\"]"
expect_choice d af_xdp net_af_xdp "dpdk: wan0 is a kernel interface" "af_xdp on wan0"
[[ $WHY != *"kernel driver"* ]] || fail "case d: the reason \"$WHY\" mentions the kernel driver"
prog=$(xdp_prog_id "${NS_GW[A]}" wan0) ||
    fail "case d: no XDP program on A's wan0 while sluiced runs af_xdp: $(ip -n "${NS_GW[A]}" link show dev wan0 | tr '\n' ' ')"
ok "case d: sluice's XDP program $prog on A's wan0"
pings_both_ways
stop_gateway A
if left=$(xdp_prog_id "${NS_GW[A]}" wan0); then
    fail "case d: A's wan0 still carries XDP program $left after sluiced exited"
fi
ok "case d: no XDP program on A's wan0 after sluiced exited"

gateway_alive B || fail "gateway B ($b_kind) died"
[ -z "$clang_missing" ] || skip "cases a, b and d passed; case c needs clang, not installed"
pass "A=sluice (driver auto) B=$b_kind"
