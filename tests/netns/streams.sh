#!/usr/bin/env bash
# Streams: TCP forwarded between two sluiced gateways (kernel driver) as
# reliable streams inside their tunnel (docs/streams.md). Both gateways have
# `streams:` on their entry for each other; B's `allow` list says what A's
# forwards may reach from B. Gateway A runs with testing.rekey_after_seconds
# 3 throughout, so a new handshake comes about every 5 s (REKEY_TIMEOUT)
# under every transfer. Servers and clients are tests/netns/lib.sh's
# stream_tool (python3): every transfer is checked by byte count and SHA-256.
#
#   Forwards on A (listen -> target, as B connects to it):
#     down    127.0.0.1:15001   -> 127.0.0.1:16001    gw B: sends a 100 MiB file
#     up      192.168.1.1:15002 -> 192.168.2.2:16002  host B: hashes what it gets
#     small   127.0.0.1:15003   -> 127.0.0.1:16003    gw B: sends a 4 MiB file
#     denied  127.0.0.1:15004   -> 127.0.0.1:16004    listening, but not in B's allow
#     refused 127.0.0.1:15005   -> 127.0.0.1:16005    allowed, nothing listening
#     up6     [::1]:15006       -> [fd00:2::2]:16002  IPv6 both sides (prefix allow)
#     lossy   127.0.0.1:15008   -> 127.0.0.1:16008    gw B: the phase-2 file
#   Forward on B: back 127.0.0.1:15007 -> 127.0.0.1:16007 (gw A sink): B opens too.
#
#   phase 1, direct WAN:
#     1. sessions open on both sides; `show streams` and `--json` sane;
#     2. 100 MiB download (B -> A) and 100 MiB upload (host A -> host B);
#     3. a paced 24 MiB upload over ~16 s: >= 2 new handshakes during it, the
#        stream visible in `show streams --json` of both sides meanwhile;
#     4. IPv6 forward, and B's forward towards A (8 MiB each);
#     5. 20 connections at once: 10 uploads of 4 MiB, 10 downloads of 4 MiB;
#     6. a target outside B's allow list and a refused target: the client's
#        connection ends (EOF or reset) within 5 s; B logs why and never
#        connects to the unlisted target;
#     7. counters: srtt > 0, packets and stream bytes both ways.
#   phase 2, WAN emulator (this kernel has no sch_netem; lib.sh's
#   start_wan_emulator is a UDP relay): 25 ms each way (RTT +50 ms) and 1 %
#   loss each way, A still rekeying every few seconds: LOSSY_MIB (default
#   100) MiB down and up with sha256, then 20 connections at once (10
#   uploads of 1 MiB, 10 downloads of 4 MiB); the senders must show lost
#   packets and retransmitted bytes. (With streams.congestion_control
#   newreno, 1 % loss holds a stream to a few Mbit/s at this RTT: lower
#   LOSSY_MIB to try it.)
#
# About 2 minutes on 2 cores. usage: streams.sh sluice sluice [SLUICED SLUICECTL]
# Environment: STREAMS_BIG_MIB (100), LOSSY_MIB (100).
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

[ $# -ge 2 ] || { echo "usage: $0 sluice sluice [SLUICED SLUICECTL]" >&2; exit 2; }
if [ "$1" != sluice ] || [ "$2" != sluice ]; then
    echo "$0: streams need sluiced with the kernel driver on both sides (sluice sluice)" >&2
    exit 2
fi
netns_init sluice sluice -- "${@:3}"
big_mib=${STREAMS_BIG_MIB:-100}
lossy_mib=${LOSSY_MIB:-100}
rekey_after=3
T0=$(now_ms)
setup_topology
ST=$(stream_tool)

# ---- Configuration -------------------------------------------------------------------

streams_peer A 127.0.0.1:16007
streams_peer B 127.0.0.1:16001 192.168.2.0/24:16002 127.0.0.1:16003 127.0.0.1:16005 \
    127.0.0.1:16008 "[fd00:2::/64]:16002"
streams_setting A memory_budget 268435456
streams_setting B memory_budget 268435456
add_forward A down 127.0.0.1:15001 127.0.0.1:16001
add_forward A up 192.168.1.1:15002 192.168.2.2:16002
add_forward A small 127.0.0.1:15003 127.0.0.1:16003
add_forward A denied 127.0.0.1:15004 127.0.0.1:16004
add_forward A refused 127.0.0.1:15005 127.0.0.1:16005
add_forward A up6 "[::1]:15006" "[fd00:2::2]:16002"
add_forward A lossy 127.0.0.1:15008 127.0.0.1:16008
add_forward B back 127.0.0.1:15007 127.0.0.1:16007

# ---- Files and servers ---------------------------------------------------------------

make_file() {  # NAME MIB → prints "BYTES SHA256"
    head -c "$(($2 << 20))" /dev/urandom >"$TMP/$1"
    echo "$(stat -c %s "$TMP/$1") $(sha256sum "$TMP/$1" | cut -d' ' -f1)"
}
big_sum=$(make_file big.bin "$big_mib")
small_sum=$(make_file small.bin 4)
lossy_sum=$(make_file lossy.bin "$lossy_mib")

start_servers() {
    serve_in "${NS_GW[B]}" 16001 source --bind 127.0.0.1 --file "$TMP/big.bin"
    serve_in "${NS_HOST[B]}" 16002 sink --bind ::
    serve_in "${NS_GW[B]}" 16003 source --bind 127.0.0.1 --file "$TMP/small.bin"
    serve_in "${NS_GW[B]}" 16004 sink --bind 127.0.0.1 --log "$TMP/denied-accepts.log"
    serve_in "${NS_GW[B]}" 16008 source --bind 127.0.0.1 --file "$TMP/lossy.bin"
    serve_in "${NS_GW[A]}" 16007 sink --bind 127.0.0.1
}

# ---- Helpers ---------------------------------------------------------------------------

# Handshakes seen by B (the responder) while a command runs: samples B's
# latest handshake every 0.5 s; HANDSHAKES is the number of new ones.
sample_start() {
    rm -f "$TMP/stop-sampling"
    ( while [ ! -e "$TMP/stop-sampling" ]; do latest_handshake B; sleep 0.5; done ) >"$TMP/samples" &
    SAMPLER=$!
}
sample_stop() {
    touch "$TMP/stop-sampling"
    wait "$SAMPLER" || true
    HANDSHAKES=$(($(sort -u "$TMP/samples" | grep -vc '^0*$') - 1))
    [ "$HANDSHAKES" -ge 0 ] || HANDSHAKES=0
}

json_check() {  # SIDE FILE PYTHON-EXPR-ON-d → prints what the expression returns; status 1 on error
    python3 - "$2" "$3" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
s = (d.get("sessions") or [{}])[0]
c = s.get("counters", {})
r = eval("(" + sys.argv[2] + "\n)")  # noqa: S307 - the test's own expressions
if r is False or r is None:
    sys.exit(1)
print(r)
PY
}

mbps() {  # BYTES SECONDS
    python3 -c 'import sys; b,s=float(sys.argv[1]),float(sys.argv[2]); print(f"{b*8/s/1e6:.0f}" if s>0 else "?")' "$1" "$2"
}

# download NAME PORT EXPECT TIMEOUT: from gw A through A's forward on PORT.
download() {
    local name=$1 port=$2 expect=$3 timeout=$4 out
    out=$(in_gw A timeout --foreground "$timeout" python3 "$ST" get --host 127.0.0.1 --port "$port" \
        --expect "$expect" --timeout 30 2>&1) ||
        fail "$name: download through 127.0.0.1:$port failed: $out"
    read -r BYTES _ SECS <<<"$out"
}
# upload NAME NS HOST PORT MIB TIMEOUT [RATE_MBPS]
upload() {
    local name=$1 ns=$2 host=$3 port=$4 mib=$5 timeout=$6 rate=${7:-0} out
    out=$(in_ns "$ns" timeout --foreground "$timeout" python3 "$ST" put --host "$host" --port "$port" \
        --mib "$mib" --rate-mbps "$rate" --timeout 30 2>&1) ||
        fail "$name: upload of $mib MiB through $host:$port failed: $out"
    read -r BYTES _ SECS <<<"$out"
}

# expect_closed NAME PORT: a client of A's forward on PORT sees its
# connection end (EOF or reset) within 5 s.
expect_closed() {
    local name=$1 port=$2 out
    out=$(in_gw A timeout --foreground 20 python3 "$ST" expect-close --host 127.0.0.1 --port "$port" \
        --within 5 2>&1) || fail "$name: client connection through 127.0.0.1:$port not closed: $out"
    ok "$name: the client's connection through 127.0.0.1:$port ended: $out"
}

streams_sane() {  # SIDE LABEL: the session with the other side is open; fields sane
    local side=$1 label=$2 f=$TMP/streams-$1.json out
    streams_json "$side" "$f" || fail "sluicectl show streams --json on $side failed: $(cat "$f")"
    out=$(json_check "$side" "$f" 'd["enabled"] and s.get("state") == "open" and s["srtt_us"] > 0 and
s["min_rtt_us"] > 0 and s["cwnd"] > 0 and s["session_id"] != 0 and s["peer_session_id"] != 0 and
c["packets_sent"] > 0 and c["packets_received"] > 0 and s["rx_max_data"] > 0 and s["tx_max_data"] > 0 and
"srtt %d us, cwnd %d, packets %d sent/%d received" % (s["srtt_us"], s["cwnd"], c["packets_sent"], c["packets_received"])') ||
        fail "sluicectl show streams --json on $side ($label): session not open or fields not sane: $(head -c 1500 "$f")"
    ok "sluicectl show streams --json on $side ($label): open, $out"
}

phase_checks_common() {  # a label for the lines
    local side
    for side in A B; do
        ctl "$side" show streams >"$TMP/streams-$side.txt" 2>&1 ||
            fail "sluicectl show streams on $side failed: $(cat "$TMP/streams-$side.txt")"
        grep -q "state: open" "$TMP/streams-$side.txt" ||
            fail "sluicectl show streams on $side: no open session: $(head -c 1200 "$TMP/streams-$side.txt")"
        streams_sane "$side" "$1"
    done
    ok "sluicectl show streams (text) on A and B: session open"
}

gateways_alive() {
    gateway_alive A || fail "gateway A died"
    gateway_alive B || fail "gateway B died"
}

# ---- Phase 1: direct WAN ---------------------------------------------------------------

info "phase 1: direct WAN, A rekeys every ${rekey_after} s (one handshake per ~5 s)"
start_servers
start_gateway sluice B
start_gateway sluice A --rekey-after "$rekey_after"
ping_hosts A
wait_streams_open A 15 || fail "A: stream session with B not open within 15 s: $(cat "$TMP/streams-wait-A.json")"
wait_streams_open B 5 || fail "B: stream session with A not open: $(cat "$TMP/streams-wait-B.json")"
ok "stream sessions open on A and B"
phase_checks_common "after opening"

sample_start
download "down" 15001 "$big_sum" 300
sample_stop
ok "download $big_mib MiB through forward down (gw B -> gw A) in $SECS s ($(mbps "$BYTES" "$SECS") Mbit/s), sha256 matches; $HANDSHAKES new handshakes meanwhile"
sample_start
upload "up" "${NS_HOST[A]}" 192.168.1.1 15002 "$big_mib" 300
sample_stop
ok "upload $big_mib MiB through forward up (host A -> host B) in $SECS s ($(mbps "$BYTES" "$SECS") Mbit/s), sha256 matches; $HANDSHAKES new handshakes meanwhile"

# Several rekeys during one transfer, and the stream in `show streams`.
hs_before=$(latest_handshake B)
sample_start
in_ns "${NS_HOST[A]}" timeout --foreground 90 python3 "$ST" put --host 192.168.1.1 --port 15002 \
    --mib 24 --rate-mbps 12 --timeout 30 >"$TMP/paced.out" 2>&1 &
paced=$!
sleep 4
streams_json A "$TMP/mid-A.json" || fail "sluicectl show streams --json on A failed during a transfer"
streams_json B "$TMP/mid-B.json" || fail "sluicectl show streams --json on B failed during a transfer"
json_check A "$TMP/mid-A.json" '[t for t in s.get("streams", []) if t["local"] and t.get("forward") == "up"
and t["tx_written"] > 0 and t["state"] == "open"] and "ok"' >/dev/null ||
    fail "show streams --json on A during the paced upload: no open local stream of forward up with bytes written: $(head -c 1500 "$TMP/mid-A.json")"
json_check B "$TMP/mid-B.json" '[t for t in s.get("streams", []) if not t["local"] and t["rx_received"] > 0]
and "ok"' >/dev/null || fail "show streams --json on B during the paced upload: no remote stream with bytes received: $(head -c 1500 "$TMP/mid-B.json")"
ok "show streams --json during a transfer: A has the local stream of forward up, B the remote one"
wait "$paced" || fail "paced upload through forward up failed: $(cat "$TMP/paced.out")"
sample_stop
read -r BYTES _ SECS <"$TMP/paced.out"
[ "$HANDSHAKES" -ge 2 ] ||
    fail "only $HANDSHAKES new handshakes during the paced ${SECS} s upload (want >= 2 with rekey_after_seconds $rekey_after)"
[ "$(latest_handshake B)" != "$hs_before" ] || fail "B's latest handshake unchanged over the paced upload"
ok "paced upload of 24 MiB over $SECS s with $HANDSHAKES rekeys during it, sha256 matches"

upload "up6" "${NS_GW[A]}" ::1 15006 8 60
ok "IPv6 forward up6 ([::1]:15006 -> [fd00:2::2]:16002): 8 MiB in $SECS s, sha256 matches"
upload "back" "${NS_GW[B]}" 127.0.0.1 15007 8 60
ok "B's forward back (gw B -> gw A sink): 8 MiB in $SECS s, sha256 matches"

out=$(in_gw A timeout --foreground 150 python3 "$ST" multi --count 20 --put 192.168.1.1:15002 --mib 4 \
    --get 127.0.0.1:15003 --expect "$small_sum" 2>&1) || fail "20 concurrent forwarded connections: $out"
ok "20 concurrent forwarded connections (10 uploads, 10 downloads of 4 MiB) in ${out#* } s, all sha256 match"

expect_closed "target not in B's allow list" 15004
[ ! -s "$TMP/denied-accepts.log" ] ||
    fail "gateway B connected to 127.0.0.1:16004, which its allow list for A does not list: $(cat "$TMP/denied-accepts.log")"
wait_for 3 grep -q "127.0.0.1:16004, which its streams.allow does not list" "${GW_LOG[B]}" ||
    fail "gateway B's log does not say it refused 127.0.0.1:16004 (not in streams.allow)"
ok "gateway B never connected to 127.0.0.1:16004 and logs: $(grep -m1 "16004, which its streams.allow" "${GW_LOG[B]}" | sed 's/.*streams:/streams:/')"
expect_closed "refused target (nothing listening)" 15005
wait_for 3 grep -q "connect to 127.0.0.1:16005 failed" "${GW_LOG[B]}" ||
    fail "gateway B's log does not say that connecting to 127.0.0.1:16005 failed"
ok "gateway B logs: $(grep -m1 "connect to 127.0.0.1:16005 failed" "${GW_LOG[B]}" | sed 's/.*streams:/streams:/')"
streams_json B "$TMP/streams-B.json" || fail "sluicectl show streams --json on B failed"
if na=$(python3 "$NETNS_TOOL" find-counter targets_not_allowed "$TMP/streams-B.json" 2>/dev/null) && [ -n "$na" ]; then
    [ "$na" -ge 1 ] || fail "B's targets_not_allowed is $na after a refused target"
    ok "B counts targets_not_allowed=$na"
fi
resets=$(json_check B "$TMP/streams-B.json" 'c["streams_reset"]') ||
    fail "B: no streams_reset counter in show streams --json: $(head -c 1500 "$TMP/streams-B.json")"
[ "$resets" -ge 2 ] || fail "B's streams_reset is $resets after a not-allowed and a refused target (want >= 2)"
ok "B counts streams_reset=$resets"

gateways_alive
phase_checks_common "after phase 1"
out=$(json_check A "$TMP/streams-A.json" 'c["stream_bytes_received"] >= '"$big_mib"' << 20 and
c["stream_bytes_sent"] >= ('"$big_mib"' + 24) << 20 and c["streams_opened_local"] >= 20 and
c["streams_opened_remote"] >= 1 and "%d MiB sent, %d MiB received, %d streams opened, %d by B" % (c["stream_bytes_sent"] >> 20, c["stream_bytes_received"] >> 20, c["streams_opened_local"], c["streams_opened_remote"])') ||
    fail "A's stream counters do not add up to phase 1's transfers: $(head -c 2000 "$TMP/streams-A.json")"
ok "A's counters: $out"
info "phase 1 took $((($(now_ms) - T0) / 1000)) s"

# ---- Phase 2: 50 ms RTT, 1 % loss each way -----------------------------------------------

info "phase 2: WAN emulator, 25 ms and 1 % loss each way; A rekeys every ${rekey_after} s"
stop_gateway A
stop_gateway B
start_wan_emulator 25 0.01
start_gateway sluice B --no-endpoint
start_gateway sluice A --rekey-after "$rekey_after" --endpoint "$(wan_emulator_endpoint)"
ping_hosts A 20
wait_streams_open A 20 || fail "A: stream session with B not open within 20 s behind the WAN emulator: $(cat "$TMP/streams-wait-A.json")"
wait_streams_open B 5 || fail "B: stream session with A not open: $(cat "$TMP/streams-wait-B.json")"
phase_checks_common "50 ms RTT, 1 % loss"
out=$(json_check A "$TMP/streams-A.json" 's["srtt_us"] >= 40000 and s["srtt_us"]') ||
    fail "A's srtt is under 40 ms behind a 50 ms WAN: $(head -c 1500 "$TMP/streams-A.json")"
ok "A's srtt reflects the WAN: $((out / 1000)) ms"

sample_start
download "lossy down" 15008 "$lossy_sum" 240
d_secs=$SECS d_bytes=$BYTES
upload "lossy up" "${NS_HOST[A]}" 192.168.1.1 15002 "$lossy_mib" 240
sample_stop
ok "$lossy_mib MiB each way at 50 ms RTT and 1 % loss, sha256 match: down in $d_secs s ($(mbps "$d_bytes" "$d_secs") Mbit/s), up in $SECS s ($(mbps "$BYTES" "$SECS") Mbit/s); $HANDSHAKES rekeys meanwhile"
out=$(in_gw A timeout --foreground 200 python3 "$ST" multi --count 20 --put 192.168.1.1:15002 --mib 1 \
    --get 127.0.0.1:15003 --expect "$small_sum" 2>&1) || fail "20 concurrent connections under loss: $out"
ok "20 concurrent forwarded connections under loss (10 uploads of 1 MiB, 10 downloads of 4 MiB) in ${out#* } s, all sha256 match"

for side in A B; do
    streams_json "$side" "$TMP/streams-$side.json" || fail "sluicectl show streams --json on $side failed"
    out=$(json_check "$side" "$TMP/streams-$side.json" 'c["packets_lost"] > 0 and c["stream_bytes_retransmitted"] > 0 and
"lost %d packets, retransmitted %d bytes, %d congestion events, %d PTOs" % (c["packets_lost"], c["stream_bytes_retransmitted"], c["congestion_events"], c["pto_fired"])') ||
        fail "$side under 1 % loss: no lost packets or no retransmitted bytes counted: $(head -c 2000 "$TMP/streams-$side.json")"
    ok "$side's counters under loss: $out"
done
[ -s "$TMP/wan-emulator.stats" ] && info "WAN emulator: $(cat "$TMP/wan-emulator.stats")"
gateways_alive
pass "sluice sluice, $((($(now_ms) - T0) / 1000)) s"
