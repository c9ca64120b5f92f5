#!/usr/bin/env bash
# Two sites through the tunnel: gateway A of kind A_KIND, gateway B of kind
# B_KIND (wggo, sluice or dpdk; see lib.sh).
#
#   1. A initiates (host A pings first), endpoints over IPv4: pings both
#      ways, host to host and gateway to gateway, IPv4 and IPv6 inside;
#   2. both gateways restarted with endpoints over IPv6, B initiates: the same
#      pings, host B first;
#   3. iperf3 TCP for 3 s each way, then 64 MiB host A -> host B with the
#      receiver's SHA-256 matching the sender's.
#
# usage: tunnel.sh A_KIND B_KIND [SLUICED SLUICECTL]
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

[ $# -ge 2 ] || { echo "usage: $0 A_KIND B_KIND [SLUICED SLUICECTL]" >&2; exit 2; }
a_kind=$1 b_kind=$2
netns_init "$a_kind" "$b_kind" -- "${@:3}"
setup_topology

# If a sluice side initiated, its current keypair says so.
expect_initiator() {
    local side=$1 we
    is_sluice "$side" || return 0
    ctl "$side" show --json >"$TMP/show.json" || fail "sluicectl show --json on $side failed"
    we=$(python3 -c 'import json,sys; p=json.load(open(sys.argv[1]))["peers"][0]
print(any(k["we_initiated"] for k in p["keypairs"] if k["slot"] == "current"))' "$TMP/show.json") ||
        fail "sluicectl show --json on $side: no current keypair"
    [ "$we" = True ] || fail "sluicectl on $side: current keypair has we_initiated=false, but $side initiated"
    ok "sluicectl on $side: current keypair was initiated by $side"
}

both_ways() {  # FIRST_SIDE: that side's host sends first
    local first=$1 second
    second=$(other "$1")
    ping_hosts "$first"
    expect_initiator "$first"
    ping_hosts "$second"
    if ! has_tunnel_device A || ! has_tunnel_device B; then
        info "a gateway in L2 gateway mode has no kernel tunnel device: no gateway-to-gateway pings"
        return 0
    fi
    expect_ping "gateway $first -> gateway $second tunnel address, IPv4" "${NS_GW[$first]}" "${TUN4[$second]}"
    expect_ping "gateway $first -> gateway $second tunnel address, IPv6" "${NS_GW[$first]}" "${TUN6[$second]}"
    expect_ping "gateway $second -> gateway $first tunnel address, IPv4" "${NS_GW[$second]}" "${TUN4[$first]}"
    expect_ping "gateway $second -> gateway $first tunnel address, IPv6" "${NS_GW[$second]}" "${TUN6[$first]}"
}

info "phase 1: $a_kind (A) initiates, endpoints over IPv4"
# The side that starts last initiates: a sluiced greets its peers at start-up,
# and the first side's greeting found nobody listening.
start_gateway "$b_kind" B
start_gateway "$a_kind" A
both_ways A
[ "$(peer_endpoint A)" = "${WAN4[B]}:${GW_PORT[B]}" ] || fail "A's endpoint for B is $(peer_endpoint A)"
[ "$(peer_endpoint B)" = "${WAN4[A]}:${GW_PORT[A]}" ] || fail "B's endpoint for A is $(peer_endpoint B)"
ok "endpoints: A sees ${WAN4[B]}:${GW_PORT[B]}, B sees ${WAN4[A]}:${GW_PORT[A]}"

info "phase 2: both restarted, endpoints over IPv6, $b_kind (B) initiates"
stop_gateway A
stop_gateway B
start_gateway "$a_kind" A --wan6
start_gateway "$b_kind" B --wan6
both_ways B
[ "$(peer_endpoint A)" = "[${WAN6[B]}]:${GW_PORT[B]}" ] || fail "A's endpoint for B is $(peer_endpoint A)"
[ "$(peer_endpoint B)" = "[${WAN6[A]}]:${GW_PORT[A]}" ] || fail "B's endpoint for A is $(peer_endpoint B)"
ok "endpoints over IPv6: A sees [${WAN6[B]}]:${GW_PORT[B]}, B sees [${WAN6[A]}]:${GW_PORT[A]}"

info "phase 3: bulk traffic"
iperf_tcp A B
iperf_tcp B A
transfer_sha256 64 A B

gateway_alive A || fail "gateway A ($a_kind) died"
gateway_alive B || fail "gateway B ($b_kind) died"
pass "A=$a_kind B=$b_kind"
