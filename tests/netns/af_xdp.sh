#!/usr/bin/env bash
# The af_xdp driver shares wan0 with the namespace's kernel: gateway A is
# sluiced with driver af_xdp (kind "afxdp": net_af_xdp on wan0 with sluice's
# XDP program; sluice owns WAN4/WAN6 there, the kernel keeps KERNEL_WAN4/6),
# gateway B is of kind B_KIND (sluice or wggo).
#
#   1. the tunnel: host A <-> host B, IPv4 and IPv6;
#   2. sluicectl show ports on A: net_af_xdp on wan0, and the line that says
#      why that driver (configured); the log's "driver: af_xdp" line;
#   3. while iperf3 TCP runs host A -> host B through the tunnel, the kernel
#      of A's namespace keeps its own traffic on wan0: a TCP echo server on
#      KERNEL_WAN4[A]:2222 and [KERNEL_WAN6[A]]:2222 answers the attacker's
#      namespace and B's namespace; the attacker's pings to KERNEL_WAN4/6[A]
#      are answered (by the kernel), and so are those to WAN4/6[A] (by
#      sluice: ICMP echo for its own addresses is steered to it);
#   4. after A stops, no XDP program is left on wan0.
#
# usage: af_xdp.sh afxdp B_KIND [SLUICED SLUICECTL]
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

usage() { echo "usage: $0 afxdp B_KIND [SLUICED SLUICECTL]  (B_KIND: sluice or wggo)" >&2; exit 2; }
[ $# -ge 2 ] || usage
[ "$1" = afxdp ] || usage
case $2 in sluice | wggo) ;; *) usage ;; esac
a_kind=$1 b_kind=$2
netns_init "$a_kind" "$b_kind" -- "${@:3}"
command -v iperf3 >/dev/null || skip "iperf3 not installed"
setup_topology

ECHO_PORT=2222

# A TCP server in A's namespace on ADDR:PORT that echoes what each client
# sends until the client closes; one connection after another, until killed.
start_echo_server() {  # ADDR
    in_gw A python3 -c '
import socket, sys
addr, port = sys.argv[1], int(sys.argv[2])
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
srv = socket.socket(fam, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((addr, port))
srv.listen(8)
while True:
    conn, peer = srv.accept()
    conn.settimeout(10)
    try:
        while True:
            data = conn.recv(65536)
            if not data:
                break
            conn.sendall(data)
    except OSError:
        pass
    conn.close()
' "$1" "$ECHO_PORT" >>"$TMP/echo-server.log" 2>&1 9>&- &
    # Its own namespace's ss says when it listens.
    wait_for 5 eval "in_gw A ss -Hltn 'sport = :$ECHO_PORT' | grep -qF '$1'" ||
        fail "echo server on $1:$ECHO_PORT in A's namespace did not start: $(cat "$TMP/echo-server.log")"
}

# echo_check LABEL NS ADDR: 256 KiB of random bytes from NS to ADDR:ECHO_PORT
# and back; what comes back must be what went.
echo_check() {
    local label=$1 ns=$2 addr=$3 out
    out=$(in_ns "$ns" timeout --foreground 20 python3 -c '
import os, socket, sys
addr, port = sys.argv[1], int(sys.argv[2])
data = os.urandom(256 * 1024)
c = socket.create_connection((addr, port), timeout=5)
c.settimeout(10)
src = c.getsockname()[0]
c.sendall(data)
c.shutdown(socket.SHUT_WR)
got = bytearray()
while True:
    chunk = c.recv(65536)
    if not chunk:
        break
    got += chunk
c.close()
if bytes(got) != data:
    sys.exit("echoed %d bytes, %s" % (len(got), "same length, different bytes" if len(got) == len(data) else "sent %d" % len(data)))
print("%d bytes echoed, from %s" % (len(got), src))
' "$addr" "$ECHO_PORT" 2>&1) || fail "TCP echo $label ($addr:$ECHO_PORT): $(echo "$out" | tail -n 1)"
    ok "TCP echo $label ($addr port $ECHO_PORT): $out"
}

# Sluice's ICMP echo replies on its WAN port (a framing counter in show
# drops, listed once non-zero).
echo_replies_sent() {
    ctl A show drops --json >"$TMP/drops.json" || fail "sluicectl show drops --json on A failed"
    python3 "$NETNS_TOOL" drops "$TMP/drops.json" wan_echo_replies_sent 2>/dev/null || echo 0
}

info "the tunnel: $b_kind (B), then afxdp (A), which initiates"
start_gateway "$b_kind" B
start_gateway "$a_kind" A
ping_hosts A
ping_hosts B

info "the driver and its port"
grep -q "driver: af_xdp (configured)" "${GW_LOG[A]}" ||
    fail "A's log has no \"driver: af_xdp (configured)\" line: $(grep 'driver' "${GW_LOG[A]}" | tr '\n' ' ')"
ok "A's log: $(grep -o 'driver: af_xdp (configured)' "${GW_LOG[A]}" | head -n 1)"
ctl A show ports >"$TMP/ports.txt" 2>&1 || fail "sluicectl show ports on A failed: $(cat "$TMP/ports.txt")"
port0=$(grep -E '^port 0 \(wan\):' "$TMP/ports.txt") || fail "sluicectl show ports on A: no wan port: $(tr '\n' ' ' <"$TMP/ports.txt")"
[[ $port0 == *": net_af_xdp on wan0,"* || $port0 == *": af_xdp on wan0,"* ]] ||
    fail "sluicectl show ports on A: wan port is \"$port0\", want net_af_xdp on wan0"
ok "sluicectl show ports on A: $port0"
chosen=$(grep -E '^  driver chosen: ' "$TMP/ports.txt") ||
    fail "sluicectl show ports on A: no \"driver chosen\" line: $(tr '\n' ' ' <"$TMP/ports.txt")"
[ "$chosen" = "  driver chosen: configured" ] ||
    fail "sluicectl show ports on A: \"$chosen\", want \"driver chosen: configured\" (dataplane.driver is af_xdp)"
ok "sluicectl show ports on A:${chosen# }"
prog=$(xdp_prog_id "${NS_GW[A]}" wan0) ||
    fail "no XDP program on A's wan0 while sluiced runs: $(ip -n "${NS_GW[A]}" link show dev wan0 | tr '\n' ' ')"
ok "A's wan0 carries an XDP program while sluiced runs (id $prog)"

info "the kernel keeps its own traffic on wan0 while iperf3 runs through the tunnel"
start_echo_server "${KERNEL_WAN4[A]}"
start_echo_server "${KERNEL_WAN6[A]}"
iperf_port=5201
in_host B iperf3 -s -1 -p "$iperf_port" >"$TMP/iperf-server.log" 2>&1 9>&- &
wait_for 5 eval "in_host B ss -Hltn 'sport = :$iperf_port' | grep -q LISTEN" ||
    fail "iperf3 server on host B did not start"
iperf_t0=$(now_ms)
in_host A timeout --foreground 30 iperf3 -c "${HOST4[B]}" -p "$iperf_port" -t 8 -J \
    >"$TMP/iperf.json" 2>&1 9>&- &
iperf_pid=$!
sleep 1  # the transfer under way

echo_check "attacker -> A's kernel, IPv4" "$NS_ATK" "${KERNEL_WAN4[A]}"
echo_check "gateway B's namespace -> A's kernel, IPv4" "${NS_GW[B]}" "${KERNEL_WAN4[A]}"
echo_check "attacker -> A's kernel, IPv6" "$NS_ATK" "${KERNEL_WAN6[A]}"
echo_check "gateway B's namespace -> A's kernel, IPv6" "${NS_GW[B]}" "${KERNEL_WAN6[A]}"
expect_ping "attacker -> A's kernel address, IPv4" "$NS_ATK" "${KERNEL_WAN4[A]}" 5
expect_ping "attacker -> A's kernel address, IPv6" "$NS_ATK" "${KERNEL_WAN6[A]}" 5
replies_before=$(echo_replies_sent)
expect_ping "attacker -> sluice's address on A, IPv4" "$NS_ATK" "${WAN4[A]}" 5
expect_ping "attacker -> sluice's address on A, IPv6" "$NS_ATK" "${WAN6[A]}" 5
replies_after=$(echo_replies_sent)
# Each expect_ping is at least 4 replies.
[ "$replies_after" -ge $((replies_before + 8)) ] ||
    fail "sluicectl show drops on A: wan_echo_replies_sent $replies_before -> $replies_after after 2 x 4 pings to sluice's addresses"
ok "sluicectl show drops on A: wan_echo_replies_sent $replies_before -> $replies_after"
# The kernel has none of sluice's addresses: sluice answered those pings.
kaddrs=$(in_gw A ip -o addr show dev wan0)
if [[ $kaddrs == *" ${WAN4[A]}/"* || $kaddrs == *" ${WAN6[A]}/"* ]]; then
    fail "A's kernel has sluice's address on wan0: $(echo "$kaddrs" | awk '{print $4}' | tr '\n' ' ')"
fi
ok "A's kernel holds only $(echo "$kaddrs" | awk '$3 != "inet6" || $4 !~ /^fe80/ {print $4}' | tr '\n' ' ')on wan0: sluice answered ${WAN4[A]} and ${WAN6[A]}"
iperf_elapsed=$(($(now_ms) - iperf_t0))

if ! wait "$iperf_pid"; then
    fail "iperf3 host A -> host B failed: $(python3 "$NETNS_TOOL" iperf-error "$TMP/iperf.json")"
fi
[ "$iperf_elapsed" -lt 8000 ] || info "the kernel checks took ${iperf_elapsed} ms, longer than the iperf3 run (8 s)"
bps=$(python3 "$NETNS_TOOL" iperf-bps "$TMP/iperf.json") || fail "iperf3 host A -> host B: no result"
[ "$bps" -gt 1000000 ] || fail "iperf3 host A -> host B: only $bps bit/s"
ok "iperf3 TCP host A -> host B: $((bps / 1000000)) Mbit/s; the kernel checks above ran during it ($iperf_elapsed ms of its 8 s)"
ping_hosts A 5

info "A stops: its XDP program goes with it"
gateway_alive B || fail "gateway B ($b_kind) died"
stop_gateway A
if left=$(xdp_prog_id "${NS_GW[A]}" wan0); then
    fail "A's wan0 still carries XDP program $left after sluiced exited (it ran $prog): $(ip -n "${NS_GW[A]}" link show dev wan0 | tr '\n' ' ')"
fi
link=$(ip -n "${NS_GW[A]}" link show dev wan0)
[[ $link != *xdp* ]] || fail "A's wan0 still has an xdp attribute after sluiced exited: $(echo "$link" | tr '\n' ' ')"
ok "no XDP program on A's wan0 after sluiced exited"
echo_check "attacker -> A's kernel after sluiced exited, IPv4" "$NS_ATK" "${KERNEL_WAN4[A]}"

pass "A=$a_kind B=$b_kind"
