#!/usr/bin/env bash
# L2 gateway mode: gateway A is sluiced with the dpdk driver (kind "dpdk":
# net_af_packet on its wan0 and lan0, which keep no kernel addresses), B is
# of kind B_KIND (default sluice). What the kernel would do for a router,
# sluice does itself, and real tools check it from the hosts around A:
#
#   1. ARP and ND: arping and ndisc6 from host A for A's LAN addresses, and
#      from the attacker's namespace on the WAN for A's WAN addresses, get
#      the MAC of the right port (lan0, wan0);
#   2. ping: host A pings A's LAN addresses, the WAN pings A's WAN addresses
#      (IPv4 and IPv6);
#   3. host A <-> host B through the tunnel, IPv4 and IPv6;
#   4. TTL / hop limit: host A's `ping -t 1` to host B gets "time exceeded"
#      from A's LAN address; host B's packets that arrive at A with TTL 1
#      are dropped without an answer (and counted);
#   5. MTU 1420: over it, IPv4 without DF is dropped silently; with DF host A
#      gets "fragmentation needed" (mtu 1420), IPv6 "packet too big" (mtu
#      1420), and its kernel caches that MTU; a TCP transfer then still works
#      (path MTU discovery through sluice's ICMP, with host A's cache flushed);
#   6. sluicectl show ports lists both ports with net_af_packet; show drops
#      counts the expired and oversized frames and the ICMP errors sent;
#      show neighbours lists host A's IPv4 and IPv6 addresses on the LAN port
#      with host A's MAC, reachable (text and --json);
#   7. neighbours: host A's MAC changes and it sends a gratuitous ARP: B -> A
#      over IPv4 works at once (IPv6 too when host A announces its new MAC
#      with an unsolicited neighbour advertisement, ndisc_notify); then A is
#      restarted with neighbour_reachable_seconds 2, host A's MAC changes
#      again without a word: B -> A recovers over IPv4 and IPv6 when sluice
#      confirms its stale entries.
#
# usage: l2_gateway.sh [dpdk [B_KIND]] [SLUICED SLUICECTL]
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

usage() {
    echo "usage: $0 [dpdk [B_KIND]] [SLUICED SLUICECTL]  (gateway A is always dpdk; B_KIND defaults to sluice)" >&2
    exit 2
}
is_kind() { case $1 in wggo | sluice | dpdk | afxdp) true ;; *) false ;; esac; }
a_kind=dpdk b_kind=sluice
if [ "${1:-}" = dpdk ]; then shift; fi
if is_kind "${1:-}"; then b_kind=$1; shift; fi
if [ $# -gt 2 ] || is_kind "${1:-}"; then usage; fi
netns_init "$a_kind" "$b_kind" -- "$@"
command -v arping >/dev/null || skip "arping not installed (iputils-arping)"
arping -V 2>&1 | grep -q iputils || skip "arping is not the one from iputils-arping"
command -v ndisc6 >/dev/null || skip "ndisc6 not installed"
setup_topology

# mac_of PATTERN FILE: the distinct MACs on FILE's lines that match PATTERN,
# lower case, space-separated ("" for none).
mac_of() {
    { grep -i -- "$1" "$2" || true; } | tr 'A-F' 'a-f' |
        { grep -oE '([0-9a-f]{2}:){5}[0-9a-f]{2}' || true; } | sort -u | tr '\n' ' ' | sed 's/ $//'
}
link_mac() {  # NS IF
    in_ns "$1" cat "/sys/class/net/$2/address"
}
# The total of one reason in `sluicectl show drops --json` on A. Per-port
# frame counters (lan_frame_ttl_expired, ...) are listed only once non-zero:
# a reason not listed counts 0, and drop_listed says whether it is.
drop_count() {
    ctl A show drops --json >"$TMP/drops.json" || fail "sluicectl show drops --json on A failed"
    python3 "$NETNS_TOOL" drops "$TMP/drops.json" "$1" 2>/dev/null || echo 0
}
drop_listed() { grep -q "\"reason\":\"$1\"" "$TMP/drops.json"; }
# drop_rise REASON BEFORE AFTER WHAT: AFTER must be at least BEFORE + 2.
drop_rise() {
    local reason=$1 before=$2 after=$3 what=$4
    if ! drop_listed "$reason"; then
        info "sluicectl show drops on A lists no $reason after $what: $(ctl A show drops 2>&1 | awk '$2 != 0' | tr -s ' ' | tr '\n' ';')"
        return 0
    fi
    [ "$after" -ge $((before + 2)) ] || fail "sluicectl show drops on A: $reason $before -> $after after $what"
    ok "sluicectl show drops on A: $reason $before -> $after after $what"
}
# run_out FILE CMD...: CMD's output (both streams) into FILE; its status ignored.
run_out() {
    local file=$1
    shift
    "$@" >"$file" 2>&1 || true
}
oneline() { tr '\n' ' ' <"$1" | tr -s ' ' | cut -c1-400; }

start_gateway "$b_kind" B
start_gateway "$a_kind" A
lan_mac=$(link_mac "${NS_GW[A]}" lan0)
wan_mac=$(link_mac "${NS_GW[A]}" wan0)
info "gateway A: lan0 $lan_mac, wan0 $wan_mac"

# ---- 1. ARP and neighbour discovery ----------------------------------------------------

# expect_arp LABEL NS IF TARGET MAC: two requests (the first broadcast, the
# second unicast to the MAC learned), two replies from MAC.
expect_arp() {
    local label=$1 ns=$2 dev=$3 target=$4 want=$5 out=$TMP/arping.out macs
    run_out "$out" in_ns "$ns" timeout --foreground 10 arping -c 2 -w 4 -I "$dev" "$target"
    grep -q "Received 2 response" "$out" || fail "arping $target $label: not 2 replies: $(oneline "$out")"
    macs=$(mac_of 'reply from' "$out")
    [ "$macs" = "$want" ] || fail "arping $target $label: replies from $macs, want $want ($dev of gateway A)"
    ok "arping $target $label: 2 replies from $want"
}
expect_nd() {  # LABEL NS IF TARGET MAC
    local label=$1 ns=$2 dev=$3 target=$4 want=$5 out=$TMP/ndisc6.out macs
    run_out "$out" in_ns "$ns" timeout --foreground 10 ndisc6 -r 3 -w 1000 "$target" "$dev"
    macs=$(mac_of 'link-layer address' "$out")
    [ -n "$macs" ] || fail "ndisc6 $target $label: no advertisement: $(oneline "$out")"
    [ "$macs" = "$want" ] || fail "ndisc6 $target $label: target link-layer address $macs, want $want"
    ok "ndisc6 $target $label: advertised $want"
}
expect_arp "from host A" "${NS_HOST[A]}" lan0 "${GW_LAN4[A]}" "$lan_mac"
expect_arp "from the WAN" "$NS_ATK" wan0 "${WAN4[A]}" "$wan_mac"
expect_nd "from host A" "${NS_HOST[A]}" lan0 "${GW_LAN6[A]}" "$lan_mac"
expect_nd "from the WAN" "$NS_ATK" wan0 "${WAN6[A]}" "$wan_mac"

# ---- 2. Echo on A's own addresses ------------------------------------------------------

expect_ping "host A -> gateway A LAN, IPv4" "${NS_HOST[A]}" "${GW_LAN4[A]}" 5
expect_ping "host A -> gateway A LAN, IPv6" "${NS_HOST[A]}" "${GW_LAN6[A]}" 5
expect_ping "WAN -> gateway A WAN, IPv4" "$NS_ATK" "${WAN4[A]}" 5
expect_ping "WAN -> gateway A WAN, IPv6" "$NS_ATK" "${WAN6[A]}" 5

# ---- 3. Through the tunnel -------------------------------------------------------------

ping_hosts A
ping_hosts B

# ---- 4. TTL and hop limit --------------------------------------------------------------

ttl_before=$(drop_count lan_frame_ttl_expired)
out=$TMP/ttl4.out
run_out "$out" in_host A ping -n -c 1 -W 2 -t 1 "${HOST4[B]}"
grep -q "^From ${GW_LAN4[A]} .*Time to live exceeded" "$out" ||
    fail "host A: ping -t 1 ${HOST4[B]}: no \"Time to live exceeded\" from ${GW_LAN4[A]}: $(oneline "$out")"
ok "host A: ping -t 1 ${HOST4[B]}: $(grep '^From' "$out" | head -n 1)"
out=$TMP/ttl6.out
run_out "$out" in_host A ping -6 -n -c 1 -W 2 -t 1 "${HOST6[B]}"
grep -q "^From ${GW_LAN6[A]} .*Time exceeded" "$out" ||
    fail "host A: ping -6 -t 1 ${HOST6[B]}: no \"Time exceeded\" from ${GW_LAN6[A]}: $(oneline "$out")"
ok "host A: ping -6 -t 1 ${HOST6[B]}: $(grep '^From' "$out" | head -n 1)"
# TTL 2 from host B: gateway B forwards it with 1, A would send it on with 0.
ttl_mid=$(drop_count lan_frame_ttl_expired)
for fam in 4 6; do
    out=$TMP/ttl-b$fam.out
    if [ "$fam" = 4 ]; then dst=${HOST4[A]}; else dst=${HOST6[A]}; fi
    run_out "$out" in_host B ping "-$fam" -n -c 1 -W 2 -t 2 "$dst"
    if grep -q "bytes from" "$out"; then fail "host B: ping -$fam -t 2 $dst: a reply, though TTL/hop limit 1 arrived at A: $(oneline "$out")"; fi
    if grep -q "^From" "$out"; then fail "host B: ping -$fam -t 2 $dst: an ICMP error, though A must drop tunnel->LAN expiry silently: $(oneline "$out")"; fi
    ok "host B: ping -$fam -t 2 $dst: no reply, no error (expired at A on the way to the LAN)"
done
ttl_after=$(drop_count lan_frame_ttl_expired)
drop_rise lan_frame_ttl_expired "$ttl_before" "$ttl_mid" "host A's 2 pings expiring at A (LAN -> tunnel)"
drop_rise lan_frame_ttl_expired "$ttl_mid" "$ttl_after" "host B's 2 pings expiring at A (tunnel -> LAN)"

# ---- 5. Over the tunnel MTU ------------------------------------------------------------

in_host A ip route flush cache
in_host A ip -6 route flush cache
big_before=$(drop_count lan_frame_too_big)
out=$TMP/nodf.out
run_out "$out" in_host A ping -n -c 2 -i 0.3 -W 2 -M dont -s 1472 "${HOST4[B]}"
if grep -q "bytes from\|^From" "$out"; then
    fail "host A: 1500-byte ping without DF to ${HOST4[B]}: want no reply and no error (dropped at A): $(oneline "$out")"
fi
ok "host A: 1500-byte pings without DF to ${HOST4[B]}: no reply, no error (dropped at A)"
drop_rise lan_frame_too_big "$big_before" "$(drop_count lan_frame_too_big)" "host A's 2 oversized pings without DF"

# IPv4 with DF: "Frag needed" from A's LAN address; a second try at once meets
# the MTU the kernel cached from it.
out=$TMP/df4.out
run_out "$out" in_host A ping -n -c 2 -i 0.3 -W 2 -M 'do' -s 1472 "${HOST4[B]}"
grep -qE "^From ${GW_LAN4[A]} .*Frag needed and DF set \(mtu = 1420\)|message too long, mtu=1420" "$out" ||
    fail "host A: ping -M do -s 1472 ${HOST4[B]}: no fragmentation needed with mtu 1420: $(oneline "$out")"
ok "host A: ping -M do -s 1472 ${HOST4[B]}: $(grep -E '^From|message too long' "$out" | tr '\n' ';' | sed 's/;$//; s/;/; /g')"
route=$(in_host A ip route get "${HOST4[B]}" | tr '\n' ' ')
[[ $route == *" mtu 1420 "* ]] || fail "host A: route to ${HOST4[B]} has no cached mtu 1420: $route"
ok "host A: the kernel caches mtu 1420 for ${HOST4[B]}"

out=$TMP/df6.out
run_out "$out" in_host A ping -6 -n -c 2 -i 0.3 -W 2 -M 'do' -s 1452 "${HOST6[B]}"
grep -qE "^From ${GW_LAN6[A]} .*Packet too big: mtu=1420|message too long, mtu: ?1420" "$out" ||
    fail "host A: ping -6 -M do -s 1452 ${HOST6[B]}: no packet too big with mtu 1420: $(oneline "$out")"
ok "host A: ping -6 -M do -s 1452 ${HOST6[B]}: $(grep -E '^From|message too long' "$out" | tr '\n' ';' | sed 's/;$//; s/;/; /g')"
route=$(in_host A ip -6 route get "${HOST6[B]}" | tr '\n' ' ')
[[ $route == *" mtu 1420 "* ]] || fail "host A: route to ${HOST6[B]} has no cached mtu 1420: $route"
ok "host A: the kernel caches mtu 1420 for ${HOST6[B]}"

# TCP finds the MTU itself: host A's cache flushed, its first full-size
# segments meet sluice's "fragmentation needed".
in_host A ip route flush cache
route=$(in_host A ip route get "${HOST4[B]}" | tr '\n' ' ')
[[ $route != *" mtu 1420 "* ]] || fail "host A: mtu 1420 still cached for ${HOST4[B]} after a flush: $route"
transfer_sha256 8 A B
route=$(in_host A ip route get "${HOST4[B]}" | tr '\n' ' ')
[[ $route == *" mtu 1420 "* ]] || fail "host A: after the TCP transfer, no cached mtu 1420 for ${HOST4[B]}: $route"
ok "host A: TCP learned mtu 1420 for ${HOST4[B]} from sluice (path MTU discovery)"

# ---- 6. Counters -----------------------------------------------------------------------

ctl A show ports >"$TMP/ports.txt" 2>&1 || fail "sluicectl show ports on A failed: $(oneline "$TMP/ports.txt")"
for dev in wan0 lan0; do
    grep -qE "^port [0-9]+ .*net_af_packet on net_af_packet[0-9]+,iface=$dev" "$TMP/ports.txt" ||
        fail "sluicectl show ports on A: no net_af_packet port on $dev: $(oneline "$TMP/ports.txt")"
done
ok "sluicectl show ports on A: $(grep -E '^port ' "$TMP/ports.txt" | cut -d, -f1-3 | tr '\n' ';' | sed 's/;$//; s/;/; /g')"
if grep -q "driver chosen" "$TMP/ports.txt"; then
    info "sluicectl show ports on A: $(grep "driver chosen" "$TMP/ports.txt" | sed 's/^ *//' | head -n 1)"
fi
for mac in "$wan_mac" "$lan_mac"; do
    grep -qi "mac $mac" "$TMP/ports.txt" || fail "sluicectl show ports on A: no port with mac $mac: $(oneline "$TMP/ports.txt")"
done
ok "sluicectl show ports on A: the ports' MACs are wan0's and lan0's"

seen=() missing=()
for reason in lan_frame_ttl_expired lan_frame_too_big lan_time_exceeded_sent lan_too_big_sent \
    lan_arp_replies_sent lan_nd_adverts_sent wan_arp_replies_sent wan_nd_adverts_sent; do
    n=$(drop_count "$reason")
    if drop_listed "$reason"; then
        [ "$n" -gt 0 ] || fail "sluicectl show drops on A: $reason is 0 after the checks above"
        seen+=("$reason=$n")
    else
        missing+=("$reason")
    fi
done
[ ${#seen[@]} -eq 0 ] || ok "sluicectl show drops on A: ${seen[*]}"
if [ ${#missing[@]} -gt 0 ]; then
    info "sluicectl show drops on A lists no ${missing[*]}; its non-zero rows:"
    ctl A show drops 2>&1 | awk 'NR == 1 || $2 != 0' | sed "s/^/--   $TEST_NAME:   /"
fi

# Host A's addresses were resolved for the traffic from B above. An entry is
# probing for a moment every neighbour_reachable_seconds (host A answers at
# once), so the check is retried for a few seconds.
host_a_mac=$(link_mac "${NS_HOST[A]}" lan0)
host_a_reachable() {  # FILE: the text of `show neighbours` has both of host A's addresses
    local file=$1 addr
    ctl A show neighbours >"$file" 2>&1 || return 1
    for addr in "${HOST4[A]}" "${HOST6[A]}"; do
        awk -v a="$addr" -v m="$host_a_mac" '$1 == "lan" && $2 == a && $3 == m && $4 == "reachable" {f = 1}
            END {exit !f}' "$file" || return 1
    done
}
wait_for 5 host_a_reachable "$TMP/neighbours.txt" ||
    fail "sluicectl show neighbours on A: host A (${HOST4[A]}, ${HOST6[A]}) not reachable at $host_a_mac on lan: $(oneline "$TMP/neighbours.txt")"
ok "sluicectl show neighbours on A: ${HOST4[A]} and ${HOST6[A]} reachable at $host_a_mac on lan"
sed "s/^/--   $TEST_NAME:   /" "$TMP/neighbours.txt"
ctl A --json show neighbors >"$TMP/neighbours.json" 2>&1 || fail "sluicectl --json show neighbors on A failed: $(oneline "$TMP/neighbours.json")"
python3 - "$TMP/neighbours.json" "${HOST4[A]}" "${HOST6[A]}" "$host_a_mac" <<'PY' || fail "sluicectl --json show neighbors on A: $(oneline "$TMP/neighbours.json")"
import ipaddress, json, sys
path, v4, v6, mac = sys.argv[1:]
r = json.load(open(path))
lan = [p for p in r["ports"] if p["port"] == "lan"]
assert r["driver"] == "dpdk" and len(lan) == 1, "no lan port"
got = {ipaddress.ip_address(n["address"]): n for n in lan[0]["neighbours"]}
for a in (v4, v6):
    n = got.get(ipaddress.ip_address(a))
    assert n and n["mac"] == mac and n["state"] in ("reachable", "probing"), f"{a}: {n}"
PY
ok "sluicectl --json show neighbors on A: the same entries, $(python3 -c 'import json,sys; c=json.load(open(sys.argv[1]))["ports"]; print(", ".join(p["port"] + " resolved " + str(p["counters"]["resolved"]) for p in c))' "$TMP/neighbours.json")"

# ---- 7. Neighbours: host A's MAC changes -----------------------------------------------

# With a gratuitous ARP (and, for IPv6, the unsolicited neighbour
# advertisement the kernel sends with ndisc_notify): sluice updates the
# entries it has, at once, long before neighbour_reachable_seconds (30).
new_mac=02:00:5e:10:00:${RUN_ID:0:2}
in_host A sysctl -qw net.ipv6.conf.lan0.ndisc_notify=1
in_host A ip link set dev lan0 address "$new_mac"
run_out "$TMP/garp.out" in_host A timeout --foreground 10 arping -U -c 2 -I lan0 "${HOST4[A]}"
info "host A: lan0 now $new_mac, gratuitous ARP sent ($(oneline "$TMP/garp.out"))"
expect_ping "host B -> host A after its MAC change and gratuitous ARP, IPv4" "${NS_HOST[B]}" "${HOST4[A]}" 3
expect_ping "host B -> host A after its MAC change and unsolicited NA, IPv6" "${NS_HOST[B]}" "${HOST6[A]}" 3
in_host A sysctl -qw net.ipv6.conf.lan0.ndisc_notify=0

# Without a word: sluice must confirm its entries after 2 s and find the new MAC.
stop_gateway A
start_gateway "$a_kind" A --neighbour-reachable 2
grep -q "neighbour_reachable_seconds: 2" "${GW_CONF[A]}" || fail "start_gateway --neighbour-reachable: not in ${GW_CONF[A]}"
ping_hosts B
new_mac=02:00:5e:20:00:${RUN_ID:0:2}
in_host A ip link set dev lan0 address "$new_mac"
info "host A: lan0 now $new_mac, no announcement; waiting 5 s"
sleep 5
expect_ping "host B -> host A after a silent MAC change, IPv4" "${NS_HOST[B]}" "${HOST4[A]}" 10
expect_ping "host B -> host A after a silent MAC change, IPv6" "${NS_HOST[B]}" "${HOST6[A]}" 10

gateway_alive A || fail "gateway A ($a_kind) died"
gateway_alive B || fail "gateway B ($b_kind) died"
pass "A=$a_kind B=$b_kind"
