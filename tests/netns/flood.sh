#!/usr/bin/env bash
# Handshake flood: gateway A of kind A_KIND, B wireguard-go, an attacker on
# the WAN sending 148-byte handshake initiations at A's port
# (netns_tool.py flood). Each phase lasts at least 5 s:
#
#   random:   as fast as one socket goes, random contents, so mac1 is wrong
#             and A must drop them cheaply (no cookie replies). B's session
#             is reset after 1 s; its new handshake must complete within
#             12 s, while the flood goes on;
#   mac1:     40000/s (NETNS_FLOOD_MAC1_PPS) with a correct mac1 (BLAKE2s
#             keyed with HASH("mac1----" || A's public key)) over random
#             contents: more than A can answer with Diffie-Hellman, so A must
#             go under load and send cookie replies (the attacker counts
#             them). B gets a cookie and retries with mac2 (REKEY_TIMEOUT, 5 s
#             apart): its handshake must complete within 20 s, flood still on;
#   mac1-max: the same as fast as one socket goes, about 200000/s here: A
#             must survive, keep answering with cookies and stay within the
#             memory bound; no handshake is required meanwhile (wireguard-go,
#             whose one handshake queue overflows, often lets none through),
#             but B's must complete within 15 s after it.
#
# A's VmRSS may grow by at most 50 MiB over the whole test for sluice. For
# wireguard-go the bound is 256 MiB: it pools a 64 KiB buffer per queued
# message and grows by about 120 MiB here. Then check_flood_counters (sluice:
# the cookie_replies_sent row of show drops), and traffic still flows both ways.
#
# usage: flood.sh A_KIND [SLUICED SLUICECTL]
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

[ $# -ge 1 ] || { echo "usage: $0 A_KIND [SLUICED SLUICECTL]" >&2; exit 2; }
kind=$1
netns_init "$kind" wggo -- "${@:2}"
if [ "$kind" = sluice ]; then rss_bound_mib=50; else rss_bound_mib=256; fi
rss_bound_mib=${NETNS_FLOOD_RSS_MIB:-$rss_bound_mib}
min_flood_s=5
mac1_pps=${NETNS_FLOOD_MAC1_PPS:-40000}

# check_flood_counters SIDE: the gateway's own account of the flood. sluiced
# must report a counter named $flood_counter, greater than zero, in
# `sluicectl show drops --json` or `sluicectl stats --json`: either as a key
# with a number anywhere in the JSON ({"cookie_replies": 12}) or as a drops
# row ({"reason": "cookie_replies", "total": 12, ...}). wireguard-go keeps no
# such counter.
flood_counter=cookie_replies_sent
check_flood_counters() {
    local side=$1 n
    [ "${GW_KIND[$side]}" = sluice ] || { info "no flood counters to check for ${GW_KIND[$side]}"; return 0; }
    ctl "$side" show drops --json >"$TMP/drops.json" || fail "sluicectl show drops --json failed"
    ctl "$side" stats --json >"$TMP/stats.json" || fail "sluicectl stats --json failed"
    n=$(python3 "$NETNS_TOOL" find-counter "$flood_counter" "$TMP/drops.json" "$TMP/stats.json") ||
        fail "sluicectl show drops --json / stats --json: no counter named $flood_counter"
    [ "$n" -gt 0 ] || fail "sluicectl: $flood_counter is 0 after a flood with valid mac1"
    ok "sluicectl: $flood_counter = $n"
}

# reset_session SIDE: side (wireguard-go) forgets its session with the other,
# so that its next packet starts a new handshake.
reset_session() {
    wg set "${GW_IF[$1]}" peer "${PUB[$(other "$1")]}" remove
    wg setconf "${GW_IF[$1]}" "${GW_CONF[$1]}"
}

# flood_phase LABEL MODE PPS LEGIT_WAIT_S: floods A for at least 5 s (PPS 0:
# as fast as possible). With LEGIT_WAIT_S > 0, B's session is reset after 1 s
# and B must complete a new handshake within LEGIT_WAIT_S, before the flood
# ends (it runs on until then). Leaves the flooder's JSON in FLOOD_REPORT.
flood_phase() {
    local label=$1 mode=$2 pps=$3 wait=$4 t0 took flood rss
    rm -f "$TMP/stop-flood"
    FLOOD_REPORT=$TMP/flood-$label.json
    in_ns "$NS_ATK" python3 "$NETNS_TOOL" flood --target "${WAN4[A]}" --port "${GW_PORT[A]}" \
        --pubkey "${PUB[A]}" --mode "$mode" --pps "$pps" --duration 40 --stop-file "$TMP/stop-flood" \
        >"$FLOOD_REPORT" 2>&1 &
    flood=$!
    t0=$(now_ms)
    sleep 1
    pid_running "$flood" || fail "$label flood: the flooder exited early: $(cat "$FLOOD_REPORT")"
    if [ "$wait" -gt 0 ]; then
        reset_session B
        wait_for "$wait" in_host B ping -n -c 1 -W 1 "${HOST4[A]}" ||
            fail "$label flood: B's new handshake with A did not complete within $wait s"
        took=$(($(now_ms) - t0 - 1000))
        pid_running "$flood" || fail "$label flood: the flood ended before B's handshake completed"
        ok "$label flood: B completed a new handshake with A after $took ms, flood still running"
    fi
    while [ $(($(now_ms) - t0)) -lt $((min_flood_s * 1000)) ]; do sleep 0.2; done
    touch "$TMP/stop-flood"
    wait "$flood" || fail "$label flood: the flooder failed: $(cat "$FLOOD_REPORT")"
    rss=$(gateway_rss_kib A)
    ok "$label flood: $(python3 "$NETNS_TOOL" json-get "$FLOOD_REPORT" summary); A's VmRSS now $((rss / 1024)) MiB"
    [ $((rss - rss_before)) -le $((rss_bound_mib * 1024)) ] ||
        fail "$label flood: A's VmRSS grew from $((rss_before / 1024)) MiB to $((rss / 1024)) MiB, bound +$rss_bound_mib MiB"
    gateway_alive A || fail "$label flood: gateway A (${GW_KIND[A]}) died"
}

setup_topology
start_gateway "$kind" A
start_gateway wggo B
ping_hosts B
rss_before=$(gateway_rss_kib A)
info "A's VmRSS before the floods: $((rss_before / 1024)) MiB (bound +$rss_bound_mib MiB)"

flood_phase random random 0 12
cookies=$(python3 "$NETNS_TOOL" json-get "$FLOOD_REPORT" cookie_replies_received)
[ "$cookies" = 0 ] || fail "random flood: A sent $cookies cookie replies to initiations with a wrong mac1"
ok "random flood: no cookie replies to initiations with a wrong mac1"

flood_phase mac1 mac1 "$mac1_pps" 20
cookies=$(python3 "$NETNS_TOOL" json-get "$FLOOD_REPORT" cookie_replies_received)
[ "$cookies" -gt 0 ] || fail "mac1 flood: A sent no cookie replies under load"
ok "mac1 flood: A answered with $cookies cookie replies"

flood_phase mac1-max mac1 0 0
cookies=$(python3 "$NETNS_TOOL" json-get "$FLOOD_REPORT" cookie_replies_received)
[ "$cookies" -gt 0 ] || fail "mac1-max flood: A sent no cookie replies under load"
ok "mac1-max flood: A answered with $cookies cookie replies"
reset_session B
expect_ping "host B -> host A, a new handshake after the floods" "${NS_HOST[B]}" "${HOST4[A]}" 15

check_flood_counters A
ping_hosts A 5
ping_hosts B 5
pass "A=$kind"
