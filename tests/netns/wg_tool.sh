#!/usr/bin/env bash
# wg(8) against gateway A of kind KIND (B is wireguard-go), through the UAPI
# socket, with a preshared key in use:
#
#   1. after traffic, `wg show` and `wg show dump` report the keys, port,
#      endpoint, allowed IPs, a recent handshake and transfer both ways;
#   2. `wg showconf` prints the configuration back;
#   3. `wg set` adds a peer live and removes it, B's session untouched;
#   4. `wg syncconf` applies a changed file: one peer dropped, one added,
#      B's allowed IPs extended, B's session untouched;
#   5. sluice only: `sluicectl show --json` agrees with `wg show dump`, and
#      `sluicectl version --json` names the interface and the kernel driver.
#
# usage: wg_tool.sh KIND [SLUICED SLUICECTL]
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

[ $# -ge 1 ] || { echo "usage: $0 KIND [SLUICED SLUICECTL]" >&2; exit 2; }
kind=$1
netns_init "$kind" -- "${@:2}"
setup_topology --psk
start_gateway "$kind" A
start_gateway wggo B
ifa=${GW_IF[A]}
ping_hosts A

# Field FIELD of peer KEY's line in `wg show dump` (public key = 1).
dump_field() { wg show "$ifa" dump | awk -v k="$1" -v f="$2" 'NR > 1 && $1 == k {print $f}'; }
sorted_list() { tr ',' ' ' | tr -s ' ' '\n' | sed '/^$/d' | sort | tr '\n' ' '; }
want_allowed=$(peer_allowed_ips A | sorted_list)
psk=$(cat "$PSK_FILE")

echo "---- wg show $ifa"
wg show "$ifa" | sed 's/^/  | /'

# ---- 1. wg show ------------------------------------------------------------------------
text=$(wg show "$ifa")
for want in "interface: $ifa" "public key: ${PUB[A]}" "private key: (hidden)" \
    "listening port: ${GW_PORT[A]}" "peer: ${PUB[B]}" "preshared key: (hidden)" \
    "endpoint: ${WAN4[B]}:${GW_PORT[B]}" "latest handshake: " "transfer: "; do
    grep -qF "$want" <<<"$text" || fail "wg show $ifa: no \"$want\""
done
ok "wg show: interface, keys, port, peer, endpoint, handshake and transfer lines"

IFS=$'\t' read -r d_priv d_pub d_port _ < <(wg show "$ifa" dump | head -n 1)
[ "$d_priv" = "${KEY[A]}" ] || fail "wg show dump: private key differs from the configured one"
[ "$d_pub" = "${PUB[A]}" ] || fail "wg show dump: public key $d_pub, want ${PUB[A]}"
[ "$d_port" = "${GW_PORT[A]}" ] || fail "wg show dump: listen port $d_port, want ${GW_PORT[A]}"
ok "wg show dump: private key, public key, listen port ${GW_PORT[A]}"

[ "$(dump_field "${PUB[B]}" 2)" = "$psk" ] || fail "wg show dump: B's preshared key differs"
[ "$(dump_field "${PUB[B]}" 3)" = "${WAN4[B]}:${GW_PORT[B]}" ] ||
    fail "wg show dump: B's endpoint is $(dump_field "${PUB[B]}" 3)"
got_allowed=$(dump_field "${PUB[B]}" 4 | sorted_list)
[ "$got_allowed" = "$want_allowed" ] || fail "wg show dump: B's allowed ips are \"$got_allowed\", want \"$want_allowed\""
hs=$(dump_field "${PUB[B]}" 5)
age=$(($(date +%s) - hs))
if [ "$hs" -le 0 ] || [ "$age" -lt -1 ] || [ "$age" -ge 60 ]; then fail "wg show dump: B's latest handshake $hs is not recent"; fi
rx=$(dump_field "${PUB[B]}" 6)
tx=$(dump_field "${PUB[B]}" 7)
if [ "$rx" -le 0 ] || [ "$tx" -le 0 ]; then fail "wg show dump: transfer rx $rx tx $tx"; fi
[ "$(dump_field "${PUB[B]}" 8)" = off ] || fail "wg show dump: B's keepalive is $(dump_field "${PUB[B]}" 8), want off"
ok "wg show dump: B's preshared key, endpoint, allowed ips ($want_allowed), handshake ${age} s ago, rx $rx B, tx $tx B, keepalive off"

for sub in latest-handshakes transfer endpoints allowed-ips; do
    wg show "$ifa" "$sub" | grep -qF "${PUB[B]}" || fail "wg show $ifa $sub: no line for B"
done
ok "wg show latest-handshakes, transfer, endpoints, allowed-ips: one line for B each"

# ---- 2. wg showconf ---------------------------------------------------------------------
wg showconf "$ifa" >"$TMP/showconf"
conf_value() { awk -F' = ' -v k="$1" '$1 == k {print $2}' "$TMP/showconf"; }
[ "$(conf_value PrivateKey)" = "${KEY[A]}" ] || fail "wg showconf: PrivateKey differs"
[ "$(conf_value ListenPort)" = "${GW_PORT[A]}" ] || fail "wg showconf: ListenPort is $(conf_value ListenPort)"
[ "$(conf_value PublicKey)" = "${PUB[B]}" ] || fail "wg showconf: PublicKey is $(conf_value PublicKey)"
[ "$(conf_value PresharedKey)" = "$psk" ] || fail "wg showconf: PresharedKey differs"
[ "$(conf_value Endpoint)" = "${WAN4[B]}:${GW_PORT[B]}" ] || fail "wg showconf: Endpoint is $(conf_value Endpoint)"
[ "$(conf_value AllowedIPs | sorted_list)" = "$want_allowed" ] || fail "wg showconf: AllowedIPs are $(conf_value AllowedIPs)"
ok "wg showconf: PrivateKey, ListenPort, PublicKey, PresharedKey, Endpoint, AllowedIPs"

# ---- 3. wg set --------------------------------------------------------------------------
key_c=$(wg genkey | wg pubkey)
key_d=$(wg genkey | wg pubkey)
hs_before=$(latest_handshake A)
wg set "$ifa" peer "$key_c" allowed-ips 10.77.0.3/32,192.168.3.0/24 endpoint 192.0.2.3:51820 \
    persistent-keepalive 25 || fail "wg set: adding peer C failed"
[ "$(dump_field "$key_c" 3)" = 192.0.2.3:51820 ] || fail "wg set: peer C's endpoint is \"$(dump_field "$key_c" 3)\""
[ "$(dump_field "$key_c" 4 | sorted_list)" = "10.77.0.3/32 192.168.3.0/24 " ] ||
    fail "wg set: peer C's allowed ips are \"$(dump_field "$key_c" 4)\""
[ "$(dump_field "$key_c" 8)" = 25 ] || fail "wg set: peer C's keepalive is \"$(dump_field "$key_c" 8)\""
[ "$(wg show "$ifa" peers | wc -l)" = 2 ] || fail "wg set: $(wg show "$ifa" peers | wc -l) peers after adding C, want 2"
ok "wg set: peer C added live (endpoint, allowed ips, keepalive 25)"
wg set "$ifa" peer "$key_c" remove || fail "wg set: removing peer C failed"
! wg show "$ifa" peers | grep -qF "$key_c" || fail "wg set: peer C still listed after remove"
[ "$(wg show "$ifa" peers)" = "${PUB[B]}" ] || fail "wg set: peers after removing C: $(wg show "$ifa" peers | tr '\n' ' ')"
ok "wg set: peer C removed live"
expect_ping "host A -> host B after wg set" "${NS_HOST[A]}" "${HOST4[B]}" 3
[ "$(latest_handshake A)" = "$hs_before" ] || fail "wg set: B's session was reset (latest handshake $hs_before -> $(latest_handshake A))"
ok "wg set: B's session kept (latest handshake unchanged)"

# ---- 4. wg syncconf ---------------------------------------------------------------------
wg set "$ifa" peer "$key_c" allowed-ips 10.77.0.3/32 || fail "wg set: re-adding peer C failed"
{
    echo "[Interface]"
    echo "PrivateKey = ${KEY[A]}"
    echo "ListenPort = ${GW_PORT[A]}"
    echo
    echo "[Peer]"
    echo "PublicKey = ${PUB[B]}"
    echo "PresharedKey = $psk"
    echo "AllowedIPs = $(peer_allowed_ips A | sed 's/ /, /g'), 10.77.0.22/32"
    echo "Endpoint = ${WAN4[B]}:${GW_PORT[B]}"
    echo
    echo "[Peer]"
    echo "PublicKey = $key_d"
    echo "AllowedIPs = 10.77.0.4/32, 192.168.4.0/24"
} >"$TMP/sync.conf"
wg syncconf "$ifa" "$TMP/sync.conf" || fail "wg syncconf failed"
! wg show "$ifa" peers | grep -qF "$key_c" || fail "wg syncconf: peer C, absent from the file, is still there"
[ "$(dump_field "$key_d" 4 | sorted_list)" = "10.77.0.4/32 192.168.4.0/24 " ] ||
    fail "wg syncconf: peer D's allowed ips are \"$(dump_field "$key_d" 4)\""
got_allowed=$(dump_field "${PUB[B]}" 4 | sorted_list)
want_synced=$( (peer_allowed_ips A; echo 10.77.0.22/32) | sorted_list)
[ "$got_allowed" = "$want_synced" ] || fail "wg syncconf: B's allowed ips are \"$got_allowed\", want \"$want_synced\""
ok "wg syncconf: peer C removed, peer D added, B's allowed ips extended by 10.77.0.22/32"
expect_ping "host A -> host B after wg syncconf" "${NS_HOST[A]}" "${HOST4[B]}" 3
[ "$(latest_handshake A)" = "$hs_before" ] || fail "wg syncconf: B's session was reset (latest handshake $hs_before -> $(latest_handshake A))"
ok "wg syncconf: B's session kept (latest handshake unchanged)"

# ---- 5. sluicectl --------------------------------------------------------------------------
if [ "$kind" = sluice ]; then
    ctl A version --json >"$TMP/version.json" || fail "sluicectl -i $ifa version --json failed"
    python3 - "$TMP/version.json" "$ifa" <<'EOF' || fail "sluicectl version --json: $(cat "$TMP/version.json")"
import json, sys
d = json.load(open(sys.argv[1]))["sluiced"]
sys.exit(0 if d["interface"] == sys.argv[2] and d["driver"] == "kernel" else 1)
EOF
    ok "sluicectl version --json: interface $ifa, driver kernel"
    agree=
    for _ in 1 2 3; do  # a keepalive may land between the two reads
        wg show "$ifa" dump >"$TMP/dump"
        ctl A show --json >"$TMP/show.json" || fail "sluicectl -i $ifa show --json failed"
        agree=$(python3 "$NETNS_TOOL" compare-show "$TMP/dump" "$TMP/show.json") && break
        agree=
        sleep 0.5
    done
    [ -n "$agree" ] || fail "sluicectl show --json disagrees with wg show dump: $(python3 "$NETNS_TOOL" compare-show "$TMP/dump" "$TMP/show.json")"
    ok "sluicectl show --json agrees with wg show dump ($agree)"
else
    info "sluicectl checks skipped for kind $kind"
fi

gateway_alive A || fail "gateway A ($kind) died"
pass "A=$kind"
