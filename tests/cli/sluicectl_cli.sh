#!/usr/bin/env bash
# sluicectl as an operator and a script see it: exit codes, one-line errors on
# stderr, and output, first without any daemon (help, version, bad usage, bad
# values, missing or dead sockets), then against a small fake daemon written
# in Python (skipped without python3) for replies, refusals and stats --watch.
set -euo pipefail
tool=${1:?usage: sluicectl_cli.sh PATH/TO/sluicectl}
tmp=$(mktemp -d)
daemon_pid=
cleanup() {
    [ -z "$daemon_pid" ] || kill "$daemon_pid" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "sluicectl_cli: FAIL: $*"; exit 1; }

# Runs sluicectl with the given arguments; sets rc, out (stdout) and err (stderr).
run() {
    rc=0
    "$tool" "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
    out=$(cat "$tmp/out")
    err=$(cat "$tmp/err")
}
# expect_error CODE PATTERN ARGS...: exit CODE, nothing on stdout, and exactly
# one stderr line that starts "sluicectl: " and matches the glob PATTERN.
expect_error() {
    local code=$1 pattern=$2
    shift 2
    run "$@"
    [ "$rc" -eq "$code" ] || fail "sluicectl $*: exit $rc, expected $code (stderr: $err)"
    [ -z "$out" ] || fail "sluicectl $*: printed on stdout: $out"
    [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || fail "sluicectl $*: not one stderr line: $err"
    [[ $err == "sluicectl: "* ]] || fail "sluicectl $*: stderr does not start 'sluicectl: ': $err"
    # shellcheck disable=SC2053  # the pattern is a glob on purpose
    [[ $err == $pattern ]] || fail "sluicectl $*: stderr '$err' does not match '$pattern'"
}

key=ERERERERERERERERERERERERERERERERERERERERERE=

# ---- Without a daemon ---------------------------------------------------------------------

run --help
[ "$rc" -eq 0 ] || fail "--help: exit $rc"
[ -z "$err" ] || fail "--help: wrote to stderr: $err"
for word in "show lcores" "show ports" "show drops" "show neighbours" "show streams" "stats" \
    "peer add" "peer remove" "reload" "version"; do
    [[ $out == *"$word"* ]] || fail "--help does not list '$word'"
done
run help
[ "$rc" -eq 0 ] || fail "help: exit $rc"
[[ $out == "usage: sluicectl"* ]] || fail "help printed: $out"

run --version
[ "$rc" -eq 0 ] || fail "--version: exit $rc"
[[ $out =~ ^sluicectl\ [0-9a-z.+-]+\ \(control\ protocol\ [0-9]+\)$ ]] ||
    fail "--version printed: $out"

expect_error 64 '*unknown command "frobnicate"*' frobnicate
expect_error 64 '*unknown option "--frob"*' --frob show
expect_error 64 '*unexpected argument "site-b"*' show streams site-b
expect_error 64 '*peer add needs*' peer add
expect_error 65 '*bad public key*' peer add not-a-key
expect_error 65 '*--allowed-ips*' peer add "$key" --allowed-ips 10.0.0.1/8

# The key file is read before anything is sent, so its error comes first.
expect_error 74 "*cannot read key file \"$tmp/missing.psk\"*" \
    --socket /nonexistent/x.ctl peer add "$key" --preshared-key-file "$tmp/missing.psk"

expect_error 69 '*no sluiced is listening on /nonexistent/x.ctl*' --socket /nonexistent/x.ctl show
expect_error 69 '*/nonexistent/x.ctl*' --socket=/nonexistent/x.ctl --json version

: >"$tmp/plain.ctl"
expect_error 69 "*$tmp/plain.ctl is not a socket*" --socket "$tmp/plain.ctl" show

if [ ! -e /run/sluice/sluicetst0.ctl ]; then
    expect_error 69 '*/run/sluice/sluicetst0.ctl*' -i sluicetst0 show
fi

# With neither --socket nor -i, sluicectl looks in /run/sluice/; on a machine
# with no daemon there is nothing to pick, and the line says what to do.
if ! compgen -G '/run/sluice/*.ctl' >/dev/null; then
    expect_error 69 '*--socket*' show
    expect_error 69 '*--socket*'
else
    echo "sluicectl_cli: /run/sluice/ holds sockets; skipping the no-daemon default check"
fi

# Standard output that cannot be written: one line, exit 74.
rc=0
"$tool" --help >/dev/full 2>"$tmp/err" || rc=$?
[ "$rc" -eq 74 ] || fail "--help >/dev/full: exit $rc, expected 74"
[[ $(cat "$tmp/err") == "sluicectl: cannot write to standard output: "* ]] ||
    fail "--help >/dev/full: stderr: $(cat "$tmp/err")"

# ---- Against a fake daemon ---------------------------------------------------------------

if ! command -v python3 >/dev/null 2>&1; then
    echo "sluicectl_cli: no python3; skipping the checks against a fake daemon"
    echo "sluicectl_cli: PASS"
    exit 0
fi

# Speaks just enough of docs/control-protocol.md: answers version, stats and
# show streams, refuses peer remove with ENOENT, and ignores reload (so the client times out
# unless it is interrupted). One connection at a time, many requests each.
cat >"$tmp/fake_daemon.py" <<'PY'
import os, socket, struct, sys

path = sys.argv[1]
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(4)
open(path + ".ready", "w").close()

def text(s):
    b = s.encode()
    return struct.pack("<H", len(b)) + b

def frame(cmd, rid, status, payload):
    return (b"SLCT" + struct.pack("<HHB3xIII", 1, cmd, 1, rid, status, len(payload)) + payload)

# show streams: one open session with a stream and two counters.
def streams():
    stream = (struct.pack("<QB", 4, 1) + text("open") + text("ssh") +
              struct.pack("<8Q", 1024, 1000, 65536, 2048, 2000, 65536, 65536, 48) + bytes([1, 0]))
    session = (text("site-b") + text("open") + struct.pack("<II", 42, 23) + text("") + bytes([0]) +
               text("") + struct.pack("<14Q", 12345, 850, 2500, 123456, 2**64 - 1, 4096, 4194304,
                                      1048576, 4194304, 524288, 2097152, 100, 64, 8192) +
               struct.pack("<I", 2) + text("packets_sent") + struct.pack("<Q", 10) +
               text("packets_lost") + struct.pack("<Q", 0) + struct.pack("<I", 1) + stream)
    return bytes([1]) + struct.pack("<QQII", 64 << 20, 20480, 0, 1) + session

snapshot = 0
def reply(cmd, rid):
    global snapshot
    if cmd == 1:
        return frame(1, rid, 0, text("0.1.0") + struct.pack("<H", 1) + text("wg7") +
                     text("kernel") + struct.pack("<Q", 65))
    if cmd == 6:
        snapshot += 1
        port = struct.pack("<H", 0) + text("wan") + struct.pack(
            "<7Q", 1000 * snapshot, 1500000 * snapshot, 0, 0, 500 * snapshot, 750000 * snapshot, 0)
        return frame(6, rid, 0, struct.pack("<Q", snapshot * 10**9) +
                     struct.pack("<I", 1) + port + struct.pack("<I", 0))
    if cmd == 8:
        return frame(8, rid, 2, text('no peer named "x"'))
    if cmd == 11:
        return frame(11, rid, 0, streams())
    return None

def read_exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data

while True:
    conn, _ = srv.accept()
    while True:
        header = read_exact(conn, 24)
        if header is None:
            break
        _, _, cmd, _, rid, _, length = struct.unpack("<4sHHB3xIII", header)
        if length and read_exact(conn, length) is None:
            break
        out = reply(cmd, rid)
        if out is not None:
            conn.sendall(out)
    conn.close()
PY
sock="$tmp/fake.ctl"
python3 "$tmp/fake_daemon.py" "$sock" &
daemon_pid=$!
for _ in $(seq 100); do [ -e "$sock.ready" ] && break; sleep 0.05; done
[ -e "$sock.ready" ] || fail "the fake daemon did not start"

run --socket "$sock" version
[ "$rc" -eq 0 ] || fail "version: exit $rc: $err"
[[ $out == *"sluiced 0.1.0 (control protocol 1), interface wg7, driver kernel, up 1 minute, 5 seconds"* ]] ||
    fail "version printed: $out"

run --socket "$sock" --json version
[ "$rc" -eq 0 ] || fail "--json version: exit $rc: $err"
[ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] || fail "--json version: not one line: $out"
[[ $out == "{"*'"wg7"'*"}" ]] || fail "--json version printed: $out"

expect_error 1 'sluicectl: peer remove: no peer named "x" (ENOENT)' --socket "$sock" peer remove --name x

run --socket "$sock" show streams
[ "$rc" -eq 0 ] || fail "show streams: exit $rc: $err"
[[ $out == "streams: buffers use 20.00 KiB of 64.00 MiB; 1 session"* ]] || fail "show streams printed: $out"
[[ $out == *"peer: site-b"* && $out == *"rtt: 12.3 ms (min 0.85 ms, var 2.50 ms)"* ]] ||
    fail "show streams session block: $out"
[[ $out =~ 4\ +local\ +open\ +ssh\ +1024/1000/65536\ fin\ +2048/2000/65536\ +48 ]] ||
    fail "show streams stream row: $out"
[[ $out == *"counters: packets_sent=10 packets_lost=0"* ]] || fail "show streams counters: $out"

run --socket "$sock" --json show streams
[ "$rc" -eq 0 ] || fail "--json show streams: exit $rc: $err"
[ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] || fail "--json show streams: not one line: $out"
[[ $out == '{"enabled":true,"memory_budget":67108864,"memory_used":20480,"counters":{},"sessions":[{"peer":"site-b"'* ]] ||
    fail "--json show streams printed: $out"
[[ $out == *'"ssthresh":null,'* && $out == *'"counters":{"packets_sent":10,"packets_lost":0}'* ]] ||
    fail "--json show streams fields: $out"

run --socket "$sock" stats
[ "$rc" -eq 0 ] || fail "stats: exit $rc: $err"
[[ $out == *"NIC statistics for port 0 (wan)"* ]] || fail "stats printed: $out"
[[ $out != *"Throughput"* ]] || fail "a single stats snapshot printed rates: $out"

run --socket "$sock" stats --watch --interval 0.1 --count 3
[ "$rc" -eq 0 ] || fail "stats --watch --count 3: exit $rc: $err"
[ "$(grep -c 'NIC statistics for port 0' "$tmp/out")" -eq 3 ] || fail "--count 3 periods: $out"
[ "$(grep -c 'Throughput' "$tmp/out")" -eq 2 ] || fail "rates in periods 2 and 3 only: $out"
# 1000 packets and 1.5 MB more per snapshot, snapshots 1 s apart by the daemon's clock.
grep -q 'Rx-pps: *1000 .*Rx-bps: *12000000' "$tmp/out" || fail "wrong rates: $out"

run --socket "$sock" --json stats --watch --interval 0.1 --count 2
[ "$rc" -eq 0 ] || fail "--json stats --watch: exit $rc: $err"
[ "$(wc -l <"$tmp/out")" -eq 2 ] || fail "--json stats --watch --count 2 lines: $out"

# Without --count, it runs until interrupted, and Ctrl-C is a normal end.
"$tool" --socket "$sock" stats --watch --interval 0.1 >"$tmp/out" 2>"$tmp/err" &
watch_pid=$!
sleep 0.5
kill -INT "$watch_pid"
rc=0
wait "$watch_pid" || rc=$?
[ "$rc" -eq 0 ] || fail "stats --watch stopped by SIGINT: exit $rc: $(cat "$tmp/err")"
[ "$(grep -c 'NIC statistics' "$tmp/out")" -ge 2 ] || fail "stats --watch printed: $(cat "$tmp/out")"

# A reader that goes away ends the watch quietly instead of killing it by SIGPIPE.
{
    rc=0
    "$tool" --socket "$sock" stats --watch --interval 0.1 2>"$tmp/err" || rc=$?
    echo "$rc" >"$tmp/rc"
} | head -n 3 >/dev/null
[ "$(cat "$tmp/rc")" -eq 74 ] || fail "stats --watch | head: exit $(cat "$tmp/rc"), expected 74"
[ ! -s "$tmp/err" ] || fail "stats --watch | head: wrote to stderr: $(cat "$tmp/err")"

kill "$daemon_pid"
wait "$daemon_pid" 2>/dev/null || true
daemon_pid=
# The fake daemon's socket file stays behind with nobody listening.
expect_error 69 "sluicectl: no sluiced is listening on $sock (connection refused); is the daemon running?" \
    --socket "$sock" show

echo "sluicectl_cli: PASS"
