#!/usr/bin/env bash
# Differential test of sluice's UAPI codec and device model against
# wireguard-go: the same wg(8) commands go to both, and after every step
#   - `wg showconf` must print the same text (peer blocks sorted by public key:
#     wireguard-go keeps peers in a Go map, so its order is random), and
#   - `wg show dump` must agree, less the runtime columns (latest handshake,
#     transfer rx/tx), peer lines sorted;
#   - each command must succeed on both or fail on both, with the same output.
# A last part sends raw malformed requests (uapi-model --send) and compares
# the errno replies.
#
# wireguard-go needs a TUN device, so it runs in a network namespace this
# script creates; uapi-model needs nothing. wg(8) finds both through their
# sockets in /var/run/wireguard, shared by every namespace, so the two
# interfaces get distinct names and wg runs here.
#
#   uapi_wg_diff.sh PATH/TO/uapi-model
# UAPI_RECORD_DIR=DIR keeps every request uapi-model received (fuzz seeds).
# Exit 77 (meson: skipped) when not root or a tool is missing.
set -euo pipefail

model=${1:?usage: uapi_wg_diff.sh PATH/TO/uapi-model}

if [ "$(id -u)" -ne 0 ]; then
    echo "uapi_wg_diff: needs root for a network namespace; skipped"
    exit 77
fi
for tool in wireguard-go wg ip awk sort diff base64 od; do
    command -v "$tool" >/dev/null || { echo "uapi_wg_diff: $tool not installed; skipped"; exit 77; }
done

id=$$
ns=sluice-uapi-$id
ifa=ug$((id % 100000))   # wireguard-go
ifb=um$((id % 100000))   # uapi-model
sock_a=/var/run/wireguard/$ifa.sock
sock_b=/var/run/wireguard/$ifb.sock
tmp=$(mktemp -d)
go_pid=
model_pid=

cleanup() {
    set +e
    [ -n "$go_pid" ] && kill "$go_pid" 2>/dev/null && wait "$go_pid" 2>/dev/null
    [ -n "$model_pid" ] && kill "$model_pid" 2>/dev/null && wait "$model_pid" 2>/dev/null
    ip netns del "$ns" 2>/dev/null
    rm -f "$sock_a" "$sock_b"
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

fail() {
    echo "uapi_wg_diff: FAIL: $*"
    echo "--- wireguard-go log"; tail -n 20 "$tmp/wireguard-go.log"
    echo "--- uapi-model log"; tail -n 20 "$tmp/uapi-model.log"
    exit 1
}

wait_for_socket() {
    for _ in $(seq 100); do [ -S "$1" ] && return 0; sleep 0.05; done
    return 1
}

ip netns add "$ns"
WG_PROCESS_FOREGROUND=1 ip netns exec "$ns" wireguard-go "$ifa" > "$tmp/wireguard-go.log" 2>&1 &
go_pid=$!
if [ -n "${UAPI_RECORD_DIR:-}" ]; then
    mkdir -p "$UAPI_RECORD_DIR"
    "$model" "$sock_b" --record "$UAPI_RECORD_DIR" > "$tmp/uapi-model.log" 2>&1 &
else
    "$model" "$sock_b" > "$tmp/uapi-model.log" 2>&1 &
fi
model_pid=$!
wait_for_socket "$sock_a" || fail "wireguard-go did not create $sock_a"
wait_for_socket "$sock_b" || fail "uapi-model did not create $sock_b"
[ "$(stat -c %a "$sock_b")" = 600 ] || fail "$sock_b is mode $(stat -c %a "$sock_b"), not 0600"

# ---- keys and configuration files ----------------------------------------------
umask 077
wg genkey > "$tmp/dev.key"
dev_pub=$(wg pubkey < "$tmp/dev.key")
for n in 1 2 3 4 5; do
    wg genkey > "$tmp/p$n.key"
    wg pubkey < "$tmp/p$n.key" > "$tmp/p$n.pub"
done
p1=$(cat "$tmp/p1.pub"); p2=$(cat "$tmp/p2.pub"); p3=$(cat "$tmp/p3.pub")
p4=$(cat "$tmp/p4.pub"); p5=$(cat "$tmp/p5.pub")
wg genpsk > "$tmp/psk1"
wg genpsk > "$tmp/psk2"

cat > "$tmp/setconf.conf" <<EOF
[Interface]
PrivateKey = $(cat "$tmp/dev.key")
ListenPort = 51821
FwMark = 7

[Peer]
PublicKey = $p1
PresharedKey = $(cat "$tmp/psk2")
AllowedIPs = 10.1.0.0/24, fd00:1::/64, 10.1.9.9/32
Endpoint = 192.0.2.1:51820
PersistentKeepalive = 15

[Peer]
PublicKey = $p5
AllowedIPs = 10.5.0.0/16, ::/0
Endpoint = [2001:db8::5]:4500
EOF

cat > "$tmp/addconf.conf" <<EOF
[Peer]
PublicKey = $p3
AllowedIPs = 10.3.0.0/16
Endpoint = 198.51.100.3:3333

[Peer]
PublicKey = $p1
AllowedIPs = 10.1.5.0/24, 10.5.0.0/16
EOF

cat > "$tmp/syncconf.conf" <<EOF
[Interface]
PrivateKey = $(cat "$tmp/dev.key")
ListenPort = 51822

[Peer]
PublicKey = $p1
AllowedIPs = 10.1.0.0/24
Endpoint = 192.0.2.11:51820

[Peer]
PublicKey = $p3
PresharedKey = $(cat "$tmp/psk1")
AllowedIPs = 10.3.0.0/16, 10.33.0.0/16
PersistentKeepalive = 5

[Peer]
PublicKey = $p4
AllowedIPs = 10.4.0.0/16
EOF

cat > "$tmp/bad.conf" <<EOF
[Interface]
PrivateKey = not-a-key
EOF

cat > "$tmp/empty.conf" <<EOF
[Interface]
PrivateKey = $(cat "$tmp/dev.key")
ListenPort = 51823
EOF

# ---- comparing ---------------------------------------------------------------------

# showconf with the [Interface] block first and [Peer] blocks sorted.
normalize_conf() {
    awk 'BEGIN { RS = "" } NR == 1 { print; print "" }' "$1"
    awk 'BEGIN { RS = "" } NR > 1 { gsub(/\n/, "|"); print }' "$1" | sort |
        awk '{ gsub(/\|/, "\n"); print; print "" }'
}

# dump without latest-handshake, transfer-rx, transfer-tx (columns 5-7 of
# peer lines); the interface line first, peer lines sorted.
normalize_dump() {
    head -n 1 "$1"
    tail -n +2 "$1" | cut -f 1-4,8 | sort
}

compare() {
    local what=$1
    wg showconf "$ifa" > "$tmp/a.conf" || fail "$what: wg showconf $ifa failed"
    wg showconf "$ifb" > "$tmp/b.conf" || fail "$what: wg showconf $ifb failed"
    normalize_conf "$tmp/a.conf" > "$tmp/a.norm"
    normalize_conf "$tmp/b.conf" > "$tmp/b.norm"
    diff -u "$tmp/a.norm" "$tmp/b.norm" > "$tmp/conf.diff" ||
        { cat "$tmp/conf.diff"; fail "$what: wg showconf differs (- wireguard-go, + uapi-model)"; }
    wg show "$ifa" dump > "$tmp/a.dump" || fail "$what: wg show $ifa dump failed"
    wg show "$ifb" dump > "$tmp/b.dump" || fail "$what: wg show $ifb dump failed"
    normalize_dump "$tmp/a.dump" > "$tmp/a.dnorm"
    normalize_dump "$tmp/b.dump" > "$tmp/b.dnorm"
    diff -u "$tmp/a.dnorm" "$tmp/b.dnorm" > "$tmp/dump.diff" ||
        { cat "$tmp/dump.diff"; fail "$what: wg show dump differs (- wireguard-go, + uapi-model)"; }
}

# step WHAT ok|fail CMD...: CMD with @IF replaced by each interface name in
# turn; both runs must end as expected, print the same, and leave the two
# configurations equal.
steps=0
step() {
    local what=$1 expect=$2
    shift 2
    local rc_a=0 rc_b=0 args_a=() args_b=()
    for a in "$@"; do args_a+=("${a//@IF/$ifa}"); args_b+=("${a//@IF/$ifb}"); done
    "${args_a[@]}" > "$tmp/out.a" 2>&1 || rc_a=$?
    "${args_b[@]}" > "$tmp/out.b" 2>&1 || rc_b=$?
    if [ "$expect" = ok ]; then
        [ "$rc_a" -eq 0 ] || { cat "$tmp/out.a"; fail "$what: failed on wireguard-go (rc $rc_a)"; }
        [ "$rc_b" -eq 0 ] || { cat "$tmp/out.b"; fail "$what: failed on uapi-model (rc $rc_b)"; }
    else
        [ "$rc_a" -ne 0 ] || fail "$what: succeeded on wireguard-go"
        [ "$rc_b" -ne 0 ] || fail "$what: succeeded on uapi-model"
    fi
    sed -i "s/$ifa/@IF/g" "$tmp/out.a"
    sed -i "s/$ifb/@IF/g" "$tmp/out.b"
    diff -u "$tmp/out.a" "$tmp/out.b" ||
        fail "$what: wg printed different things (- wireguard-go, + uapi-model)"
    compare "$what"
    steps=$((steps + 1))
    echo "ok $steps - $what"
}

# raw WHAT REQUEST: the same bytes to both sockets; the errno replies must match.
raw() {
    local what=$1 request=$2
    printf '%b' "$request" | "$model" --send "$sock_a" > "$tmp/raw.a" ||
        fail "$what: send to wireguard-go"
    printf '%b' "$request" | "$model" --send "$sock_b" > "$tmp/raw.b" ||
        fail "$what: send to uapi-model"
    diff -u "$tmp/raw.a" "$tmp/raw.b" || fail "$what: replies differ (- wireguard-go, + uapi-model)"
    grep -q '^errno=-[0-9]' "$tmp/raw.a" || { cat "$tmp/raw.a"; fail "$what: no error reply"; }
    compare "$what"
    steps=$((steps + 1))
    echo "ok $steps - $what ($(head -n 1 "$tmp/raw.a"))"
}

# ---- the steps ---------------------------------------------------------------------------

step "private key and listen port" ok wg set @IF private-key "$tmp/dev.key" listen-port 51820
step "peer with psk, endpoint, keepalive, two prefixes" ok \
    wg set @IF peer "$p1" preshared-key "$tmp/psk1" endpoint 192.0.2.1:51820 \
    persistent-keepalive 25 allowed-ips 10.1.0.0/24,fd00:1::/64
step "peer with an IPv6 endpoint" ok \
    wg set @IF peer "$p2" endpoint '[2001:db8::2]:51821' allowed-ips 10.2.0.0/24,10.2.1.5/32
step "move an allowed IP to another peer" ok \
    wg set @IF peer "$p2" allowed-ips 10.2.0.0/24,10.2.1.5/32,10.1.0.0/24
step "prefix with host bits" ok wg set @IF peer "$p3" allowed-ips 10.3.1.7/16,fd00:3::1/48
step "IPv4-mapped IPv6 endpoint" ok wg set @IF peer "$p3" endpoint '[::ffff:198.51.100.7]:7'
step "two peers in one command" ok \
    wg set @IF peer "$p4" allowed-ips 10.4.0.0/16 peer "$p5" allowed-ips 10.4.0.0/16,10.5.0.0/16
step "fwmark" ok wg set @IF fwmark 0x42
step "fwmark off" ok wg set @IF fwmark off
step "keepalive off, preshared key removed" ok \
    wg set @IF peer "$p1" persistent-keepalive off preshared-key /dev/null
step "remove a peer" ok wg set @IF peer "$p2" remove
step "remove a peer that is not there" ok wg set @IF peer "$p2" remove
step "own public key as a peer is ignored" ok wg set @IF peer "$dev_pub" allowed-ips 10.9.0.0/24
step "private key of a peer removes that peer" ok wg set @IF private-key "$tmp/p4.key"
step "private key back" ok wg set @IF private-key "$tmp/dev.key"
step "private key removed" ok wg set @IF private-key /dev/null
step "private key again" ok wg set @IF private-key "$tmp/dev.key"
step "empty allowed-ips clears them" ok wg set @IF peer "$p5" allowed-ips ""
step "setconf" ok wg setconf @IF "$tmp/setconf.conf"
step "addconf" ok wg addconf @IF "$tmp/addconf.conf"
step "syncconf" ok wg syncconf @IF "$tmp/syncconf.conf"
step "syncconf again (nothing to do)" ok wg syncconf @IF "$tmp/syncconf.conf"

step "bad: not a key" fail wg set @IF peer not-a-key
step "bad: prefix length" fail wg set @IF peer "$p1" allowed-ips 10.0.0.0/33
step "bad: endpoint without a port" fail wg set @IF peer "$p1" endpoint 192.0.2.1
step "bad: port" fail wg set @IF listen-port notaport
step "bad: missing key file" fail wg set @IF private-key "$tmp/absent.key"
step "bad: setconf syntax" fail wg setconf @IF "$tmp/bad.conf"
step "bad: keepalive" fail wg set @IF peer "$p1" persistent-keepalive 70000

raw "raw: non-numeric listen_port" 'set=1\nlisten_port=abc\n\n'
raw "raw: line without =" 'set=1\nlisten_port\n\n'
raw "raw: unknown interface key" 'set=1\nbogus=1\n\n'
raw "raw: peer key before public_key" 'set=1\nallowed_ip=10.0.0.0/8\n\n'
raw "raw: short public key" 'set=1\npublic_key=abcd\n\n'
# p1 exists by now, so wireguard-go (which applies line by line) creates
# nothing before it fails: the two stay comparable.
p1_hex=$(base64 -d <<< "$p1" | od -An -tx1 | tr -d ' \n')
raw "raw: interface key in a peer section" "set=1\npublic_key=$p1_hex\nlisten_port=1\n\n"
raw "raw: protocol version 2" 'set=1\nprotocol_version=2\n\n'
raw "raw: get with trailing bytes" 'get=1\nx'

step "setconf with no peers" ok wg setconf @IF "$tmp/empty.conf"

echo "uapi_wg_diff: PASS ($steps steps: wg showconf and wg show dump identical after each)"
