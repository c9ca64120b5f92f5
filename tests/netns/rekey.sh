#!/usr/bin/env bash
# Rekeying under traffic: gateway A of kind A_KIND, B of kind B_KIND
# (default wggo). A initiates, so A's rekey timer drives every new handshake
# and B answers each; with B_KIND sluice this checks sluiced as the responder
# too (its new keypair must be ready for the first data message). Host A pings
# host B over IPv4 and host B pings host A over IPv6, every 0.2 s, while
# `wg show B latest-handshakes` is sampled every 0.5 s; no ping may be lost.
#
#   sluice: A runs with testing.rekey_after_seconds: 3 for 32 s, and B must
#           see at least 5 new handshakes (the real test). WireGuard sends
#           at most one initiation per REKEY_TIMEOUT (5 s), so a rekey comes
#           every 5 s, not 3: about 6 in 32 s;
#   wggo:   wireguard-go cannot shorten REKEY_AFTER_TIME (120 s), so this is
#           a 10 s development run: pings are still checked, the handshake
#           count is only reported.
#
# usage: rekey.sh A_KIND [B_KIND] [SLUICED SLUICECTL]
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

[ $# -ge 1 ] || { echo "usage: $0 A_KIND [B_KIND] [SLUICED SLUICECTL]" >&2; exit 2; }
kind=$1
shift
b_kind=wggo
case ${1:-} in wggo | sluice) b_kind=$1; shift ;; esac
netns_init "$kind" "$b_kind" -- "$@"
rekey_after=3
min_handshakes=5
if [ "$kind" = sluice ]; then seconds=32; else seconds=10; fi

setup_topology
# B first: A, starting last, initiates (a sluiced greets its peers at
# start-up), and only the initiator rekeys on time.
start_gateway "$b_kind" B
start_gateway "$kind" A --rekey-after "$rekey_after"
ping_hosts A # A initiates
ping_hosts B

count=$((seconds * 5))
( while [ ! -e "$TMP/stop-sampling" ]; do latest_handshake B; sleep 0.5; done ) >"$TMP/samples" &
sampler=$!
in_host A ping -n -q -i 0.2 -W 1 -c "$count" "${HOST4[B]}" >"$TMP/ping4" 2>&1 &
ping4=$!
in_host B ping -n -q -i 0.2 -W 1 -c "$count" "${HOST6[A]}" >"$TMP/ping6" 2>&1 &
ping6=$!
wait "$ping4" || true
wait "$ping6" || true
touch "$TMP/stop-sampling"
wait "$sampler" || true

received() { sed -n 's/.* \([0-9]*\) received.*/\1/p' "$1"; }
for f in ping4 ping6; do
    got=$(received "$TMP/$f")
    [ "${got:-0}" = "$count" ] ||
        fail "$f: ${got:-0} of $count replies during rekeying: $(grep transmitted "$TMP/$f")"
done
ok "host A -> host B (IPv4) and host B -> host A (IPv6): $count of $count replies each over $seconds s"

handshakes=$(($(sort -u "$TMP/samples" | grep -vc '^0*$') - 1))
if [ "$kind" = sluice ]; then
    [ "$handshakes" -ge "$min_handshakes" ] ||
        fail "B saw $handshakes new handshakes in $seconds s with rekey_after_seconds $rekey_after, want >= $min_handshakes"
    ok "B saw $handshakes new handshakes in $seconds s (rekey_after_seconds $rekey_after)"
else
    info "rekey count skipped for wggo (REKEY_AFTER_TIME is fixed at 120 s); B saw $handshakes new handshakes"
fi
gateway_alive A || fail "gateway A ($kind) died"
gateway_alive B || fail "gateway B ($b_kind) died"
pass "A=$kind B=$b_kind"
