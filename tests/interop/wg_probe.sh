#!/usr/bin/env bash
# Interop probe: wg-probe (protocol core + a plain UDP socket) against a real
# wireguard-go configured with wg(8), in two network namespaces that this
# script creates and always removes.
#
#   1. wg-probe initiates, pings wireguard-go's tunnel address, and checks
#      every echo reply it decrypts (preshared key in use);
#   2. wireguard-go initiates (a ping from its namespace), wg-probe answers
#      the handshake and the echo requests;
#   3. wg(8) on the wireguard-go side reports a handshake and transfer for
#      the probe's key.
# Exit 77 (meson: skipped) when not root or wireguard-go is absent.
set -euo pipefail

probe=${1:?usage: wg_probe.sh PATH/TO/wg-probe}

if [ "$(id -u)" -ne 0 ]; then echo "wg_probe: needs root for network namespaces; skipped"; exit 77; fi
for tool in wireguard-go wg ip ping; do
    command -v "$tool" >/dev/null || { echo "wg_probe: $tool not installed; skipped"; exit 77; }
done

id=$$
ns_probe=sluice-probe-$id
ns_wg=sluice-wggo-$id
ifname=wgp$((id % 100000))   # unique across namespaces: the UAPI socket path is shared
tmp=$(mktemp -d)
wg_pid=

cleanup() {
    set +e
    [ -n "$wg_pid" ] && kill "$wg_pid" 2>/dev/null && wait "$wg_pid" 2>/dev/null
    ip netns del "$ns_probe" 2>/dev/null
    ip netns del "$ns_wg" 2>/dev/null
    rm -f "/var/run/wireguard/$ifname.sock"
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

in_probe() { ip netns exec "$ns_probe" "$@"; }
in_wg() { ip netns exec "$ns_wg" "$@"; }

ip netns add "$ns_probe"
ip netns add "$ns_wg"
vp=vp$id
vw=vw$id
ip link add "$vp" type veth peer name "$vw"
ip link set "$vp" netns "$ns_probe"
ip link set "$vw" netns "$ns_wg"
in_probe ip addr add 192.0.2.1/24 dev "$vp"
in_wg ip addr add 192.0.2.2/24 dev "$vw"
in_probe ip link set "$vp" up
in_wg ip link set "$vw" up
in_probe ip link set lo up
in_wg ip link set lo up

wg genkey > "$tmp/probe.key"
wg pubkey < "$tmp/probe.key" > "$tmp/probe.pub"
wg genkey > "$tmp/wg.key"
wg pubkey < "$tmp/wg.key" > "$tmp/wg.pub"
wg genpsk > "$tmp/psk"

WG_PROCESS_FOREGROUND=1 ip netns exec "$ns_wg" wireguard-go "$ifname" > "$tmp/wireguard-go.log" 2>&1 &
wg_pid=$!
for _ in $(seq 50); do [ -S "/var/run/wireguard/$ifname.sock" ] && break; sleep 0.1; done
[ -S "/var/run/wireguard/$ifname.sock" ] || { echo "wg_probe: wireguard-go did not start"; cat "$tmp/wireguard-go.log"; exit 1; }

in_wg wg set "$ifname" private-key "$tmp/wg.key" listen-port 51820 \
    peer "$(cat "$tmp/probe.pub")" preshared-key "$tmp/psk" allowed-ips 10.99.0.1/32
in_wg ip addr add 10.99.0.2/24 dev "$ifname"
in_wg ip link set "$ifname" up

echo "--- 1. wg-probe initiates"
in_probe "$probe" --private-key-file "$tmp/probe.key" --peer-public-key "$(cat "$tmp/wg.pub")" \
    --preshared-key-file "$tmp/psk" --endpoint 192.0.2.2:51820 \
    --tunnel-address 10.99.0.1 --ping 10.99.0.2 --count 5 --timeout 20

echo "--- 2. wireguard-go initiates"
# Forget the session so wireguard-go must start a new handshake, and tell it
# where the probe listens.
in_wg wg set "$ifname" peer "$(cat "$tmp/probe.pub")" remove
in_wg wg set "$ifname" peer "$(cat "$tmp/probe.pub")" preshared-key "$tmp/psk" \
    allowed-ips 10.99.0.1/32 endpoint 192.0.2.1:51999
in_probe "$probe" --respond --listen-port 51999 --private-key-file "$tmp/probe.key" \
    --peer-public-key "$(cat "$tmp/wg.pub")" --preshared-key-file "$tmp/psk" \
    --tunnel-address 10.99.0.1 --count 3 --timeout 20 > "$tmp/responder.log" 2>&1 &
responder=$!
sleep 0.3
ping_rc=0
in_wg ping -c 3 -i 0.3 -W 3 10.99.0.1 || ping_rc=$?
responder_rc=0
wait "$responder" || responder_rc=$?
cat "$tmp/responder.log"
[ "$ping_rc" -eq 0 ] || { echo "wg_probe: ping from the wireguard-go side failed"; exit 1; }
[ "$responder_rc" -eq 0 ] || { echo "wg_probe: responder failed"; exit 1; }

echo "--- 3. what wg(8) says on the wireguard-go side"
in_wg wg show "$ifname"
hs=$(in_wg wg show "$ifname" latest-handshakes | awk '{print $2}')
rx=$(in_wg wg show "$ifname" transfer | awk '{print $2}')
tx=$(in_wg wg show "$ifname" transfer | awk '{print $3}')
[ "${hs:-0}" -gt 0 ] || { echo "wg_probe: wg reports no handshake"; exit 1; }
[ "${rx:-0}" -gt 0 ] && [ "${tx:-0}" -gt 0 ] || { echo "wg_probe: wg reports no transfer"; exit 1; }
echo "wg_probe: PASS (handshake at $hs, rx $rx B, tx $tx B on the wireguard-go side)"
