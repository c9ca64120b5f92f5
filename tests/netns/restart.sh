#!/usr/bin/env bash
# Restarts: gateway A of kind A_KIND, gateway B of kind B_KIND. Each side is
# stopped (SIGTERM: clean exit, status 0, sockets and device gone; SIGKILL:
# stale socket files left behind) and started again while the other keeps its
# old session:
#
#   1. A by SIGTERM, host A sends: A initiates, traffic within 10 s;
#   2. B by SIGKILL, host B sends: B initiates, traffic within 10 s;
#   3. A by SIGKILL, only host B sends: B still uses the old keys, which A
#      no longer has; B must start a new handshake on its own once its data
#      goes unanswered (KEEPALIVE_TIMEOUT + REKEY_TIMEOUT = 15 s): traffic
#      within 25 s;
#   4. B by SIGTERM, only host A sends: the same for A.
#
# usage: restart.sh A_KIND B_KIND [SLUICED SLUICECTL]
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

[ $# -ge 2 ] || { echo "usage: $0 A_KIND B_KIND [SLUICED SLUICECTL]" >&2; exit 2; }
netns_init "$1" "$2" -- "${@:3}"
setup_topology
start_gateway "$1" A
start_gateway "$2" B
ping_hosts A
ping_hosts B

round() {  # SIDE SIGNAL SENDER_SIDE WAIT_S
    local side=$1 sig=$2 sender=$3 wait=$4 receiver hs_before
    receiver=$(other "$sender")
    hs_before=$(latest_handshake "$(other "$side")")
    sleep 1  # latest-handshake counts seconds: let the next one differ
    info "restart $side (${GW_KIND[$side]}) by SIG$sig; host $sender sends first"
    restart_gateway "$side" "$sig"
    ok "$side (${GW_KIND[$side]}) stopped by SIG$sig (status ${GW_STATUS[$side]}) and started again"
    expect_ping "host $sender -> host $receiver after restarting $side" \
        "${NS_HOST[$sender]}" "${HOST4[$receiver]}" "$wait"
    [ "$(latest_handshake "$(other "$side")")" != "$hs_before" ] ||
        fail "the surviving side $(other "$side") reports no new handshake after $side restarted"
    ping_hosts "$receiver" 3
    ping_hosts "$sender" 3
}

round A TERM A 10
round B KILL B 10
round A KILL B 25
round B TERM A 25

gateway_alive A || fail "gateway A died"
gateway_alive B || fail "gateway B died"
pass "A=$1 B=$2"
