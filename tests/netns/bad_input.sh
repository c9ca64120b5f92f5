#!/usr/bin/env bash
# Hostile input at gateway A of kind A_KIND (B is wireguard-go). A capture at
# A's WAN port keeps B's handshake initiation, A's response and B's first
# data messages; then an attacker on the WAN sends A's UDP port, over IPv4
# and IPv6, three times each (netns_tool.py badinput):
#   - 0-length datagrams and every message type truncated to 1-7 bytes;
#   - each type (1, 2, 3, 4) one byte short and one byte long, random
#     contents, a wrong mac1, forged messages with a correct mac1 (which A
#     must decrypt and reject), reserved bytes set, an all-zero ephemeral;
#   - unknown types 0, 5, 6, 127, 255; 65000-byte datagrams;
#   - the captured messages replayed, from the attacker's address and from
#     B's own address and port (spoofed).
# Then A must still be running and carry traffic both ways; B's session must
# be the one it was (same handshake, same endpoint on A); for sluice, the
# session's keypairs are unchanged and `sluicectl show drops --json` counts
# went up: in total and for replay, unknown_index and too_short.
#
# usage: bad_input.sh A_KIND [SLUICED SLUICECTL]
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

[ $# -ge 1 ] || { echo "usage: $0 A_KIND [SLUICED SLUICECTL]" >&2; exit 2; }
kind=$1
netns_init "$kind" wggo -- "${@:2}"
setup_topology
start_gateway "$kind" A
start_gateway wggo B

in_gw A python3 "$NETNS_TOOL" sniff --iface wan0 --port "${GW_PORT[A]}" --out "$TMP/capture.json" \
    --ready-file "$TMP/sniffing" --timeout 15 >"$TMP/sniff.log" 2>&1 &
sniffer=$!
wait_for 5 test -e "$TMP/sniffing" || fail "the capture at A did not start: $(cat "$TMP/sniff.log")"
ping_hosts B # B initiates
ping_hosts A
wait "$sniffer" || fail "capture at A: $(cat "$TMP/sniff.log")"
ok "captured B's initiation, A's response and B's data messages for replay"

# The state that hostile packets must not change.
hs_before=$(latest_handshake A)
endpoint_before=$(peer_endpoint A)
keypairs() {  # sluice: "slot:local_index" of A's keypairs with B
    ctl A show --json >"$TMP/show.json" || fail "sluicectl show --json failed"
    python3 -c 'import json,sys; p=json.load(open(sys.argv[1]))["peers"][0]
print(" ".join(sorted("%s:%s" % (k["slot"], k["local_index"]) for k in p["keypairs"])))' "$TMP/show.json"
}
drops() {  # sluice: FILE [REASON]
    python3 "$NETNS_TOOL" drops "$@" || fail "sluicectl show drops --json: no ${2:-drops} in $(cat "$1")"
}
if [ "$kind" = sluice ]; then
    keypairs_before=$(keypairs)
    ctl A show drops --json >"$TMP/drops-before.json" || fail "sluicectl show drops --json failed"
fi

sent=$(in_ns "$NS_ATK" python3 "$NETNS_TOOL" badinput --target "${WAN4[A]}" --target6 "${WAN6[A]}" \
    --port "${GW_PORT[A]}" --pubkey "${PUB[A]}" --capture "$TMP/capture.json" \
    --spoof-src "${WAN4[B]}" --spoof-port "${GW_PORT[B]}" 2>"$TMP/badinput.log") ||
    fail "the bad-input sender failed: $(tail -n 3 "$TMP/badinput.log")"
ok "sent to A: $sent"
sleep 1

gateway_alive A || fail "gateway A ($kind) died from bad input"
ok "gateway A ($kind) still running"
ping_hosts A 5
ping_hosts B 5
[ "$(latest_handshake A)" = "$hs_before" ] ||
    fail "A's latest handshake with B changed from $hs_before to $(latest_handshake A): a replay or forgery was taken"
[ "$(peer_endpoint A)" = "$endpoint_before" ] ||
    fail "A's endpoint for B moved from $endpoint_before to $(peer_endpoint A)"
ok "B's session on A untouched: same latest handshake, endpoint $endpoint_before"

if [ "$kind" = sluice ]; then
    keypairs_after=$(keypairs)
    [ "$keypairs_after" = "$keypairs_before" ] ||
        fail "A's keypairs with B changed from \"$keypairs_before\" to \"$keypairs_after\""
    ok "sluicectl: A's keypairs with B unchanged ($keypairs_after)"
    ctl A show drops --json >"$TMP/drops-after.json" || fail "sluicectl show drops --json failed"
    before=$(drops "$TMP/drops-before.json")
    after=$(drops "$TMP/drops-after.json")
    [ "$after" -gt "$before" ] || fail "sluicectl show drops: total $before before, $after after"
    ok "sluicectl show drops: total $before -> $after"
    for reason in replay unknown_index too_short; do
        before=$(drops "$TMP/drops-before.json" "$reason")
        after=$(drops "$TMP/drops-after.json" "$reason")
        [ "$after" -gt "$before" ] || fail "sluicectl show drops: $reason $before before, $after after"
        ok "sluicectl show drops: $reason $before -> $after"
    done
else
    info "drop counters skipped for kind $kind"
fi
pass "A=$kind"
