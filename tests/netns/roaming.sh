#!/usr/bin/env bash
# Endpoint roaming: gateway A of kind A_KIND, configured without an endpoint
# for B, learns it from B (wireguard-go) and follows B when it moves, without
# being restarted:
#
#   1. B initiates from 192.0.2.2:51820; A's endpoint for B is that;
#   2. B's WAN address becomes 192.0.2.102 and its port 51999; host B pings,
#      A's endpoint follows, and host A's own traffic reaches B there;
#   3. B leaves IPv4 for [2001:db8::2]:52001 (its endpoint for A becomes
#      [2001:db8::1]:51820); the same again over IPv6.
#
# usage: roaming.sh A_KIND [SLUICED SLUICECTL]
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

[ $# -ge 1 ] || { echo "usage: $0 A_KIND [SLUICED SLUICECTL]" >&2; exit 2; }
kind=$1
netns_init "$kind" wggo -- "${@:2}"
setup_topology
start_gateway "$kind" A --no-endpoint
start_gateway wggo B
ifb=${GW_IF[B]}
pid_a=${GW_PID[A]}

expect_endpoint() {  # WANT LABEL: A's endpoint for B becomes WANT within 3 s
    wait_for 3 eval "[ \"\$(peer_endpoint A)\" = '$1' ]" ||
        fail "$2: A's endpoint for B is \"$(peer_endpoint A)\", want $1"
    ok "$2: A's endpoint for B is $1"
}

[ "$(peer_endpoint A)" = "(none)" ] || fail "A has endpoint \"$(peer_endpoint A)\" for B before any handshake, want (none)"
ok "before traffic: A has no endpoint for B"
ping_hosts B
expect_endpoint "${WAN4[B]}:${GW_PORT[B]}" "learned"
ping_hosts A

info "B moves to 192.0.2.102:51999"
in_gw B ip addr del "${WAN4[B]}/24" dev wan0
in_gw B ip addr add 192.0.2.102/24 dev wan0
wg set "$ifb" listen-port 51999
ping_hosts B 5
expect_endpoint "192.0.2.102:51999" "after moving to a new IPv4 address and port"
ping_hosts A 5

info "B moves to [2001:db8::2]:52001 and gives up IPv4"
in_gw B ip addr del 192.0.2.102/24 dev wan0
wg set "$ifb" listen-port 52001 peer "${PUB[A]}" endpoint "[${WAN6[A]}]:${GW_PORT[A]}"
ping_hosts B 5
expect_endpoint "[${WAN6[B]}]:52001" "after moving to IPv6"
ping_hosts A 5

if [ "${GW_PID[A]}" != "$pid_a" ] || ! gateway_alive A; then fail "gateway A ($kind) is not the process it was"; fi
ok "gateway A ran throughout (pid $pid_a)"
pass "A=$kind"
