#!/usr/bin/env python3
"""Traffic and packet helpers for the netns tests (python3 standard library only).

  recv --port P                      accept one TCP connection, print "BYTES SHA256"
  send --host H --port P --mib N     send N MiB of random bytes, print "BYTES SHA256"
  iperf-bps FILE | iperf-error FILE  read an iperf3 -J result
  flood ...                          WireGuard handshake-initiation flood (see cmd_flood)
  sniff ...                          capture a peer's handshake and data at a gateway
  badinput ...                       malformed, truncated, oversized, replayed, forged
  compare-show DUMP JSON             `wg show IF dump` against `sluicectl show --json`
  drops FILE [REASON]                total of one drop reason (or of all) in
                                     `sluicectl show drops --json`
  json-get FILE KEY                  one top-level value of a JSON object
  find-counter NAME FILE...          the largest number called NAME in some JSON files
"""
import argparse
import base64
import hashlib
import ipaddress
import json
import os
import socket
import struct
import sys
import time

# ---- WireGuard message layout (the whitepaper, section 5.4) ----------------------------

MSG_INITIATION, MSG_RESPONSE, MSG_COOKIE_REPLY, MSG_TRANSPORT = 1, 2, 3, 4
INITIATION_SIZE, RESPONSE_SIZE, COOKIE_REPLY_SIZE = 148, 92, 64
TRANSPORT_HEADER_SIZE, TAG_SIZE = 16, 16


def mac1_key(responder_public_key: bytes) -> bytes:
    """HASH(LABEL_MAC1 || Spub_m): BLAKE2s-256 of the label and the receiver's public key."""
    return hashlib.blake2s(b"mac1----" + responder_public_key).digest()


def with_mac1(body: bytes, key: bytes) -> bytes:
    """body (everything before mac1) + mac1 = MAC(key, body) + an all-zero mac2."""
    return body + hashlib.blake2s(body, digest_size=16, key=key).digest() + bytes(16)


def header(msg_type: int, reserved: bytes = b"\0\0\0") -> bytes:
    return bytes([msg_type]) + reserved


def initiation(key, reserved=b"\0\0\0", body=None):
    body = body if body is not None else os.urandom(4 + 32 + 48 + 28)
    return with_mac1(header(MSG_INITIATION, reserved) + body, key)


def response(key):
    return with_mac1(header(MSG_RESPONSE) + os.urandom(4 + 4 + 32 + 16), key)


# ---- TCP transfer ------------------------------------------------------------------------

def cmd_recv(a):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", a.port))
    srv.listen(1)
    srv.settimeout(a.timeout)
    conn, _ = srv.accept()
    conn.settimeout(a.timeout)
    h, n = hashlib.sha256(), 0
    while True:
        chunk = conn.recv(1 << 20)
        if not chunk:
            break
        h.update(chunk)
        n += len(chunk)
    conn.close()
    print(n, h.hexdigest())


def cmd_send(a):
    deadline = time.monotonic() + a.timeout
    while True:
        try:
            conn = socket.create_connection((a.host, a.port), timeout=2)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    conn.settimeout(a.timeout)
    h, n = hashlib.sha256(), 0
    for _ in range(a.mib):
        chunk = os.urandom(1 << 20)
        conn.sendall(chunk)
        h.update(chunk)
        n += len(chunk)
    conn.shutdown(socket.SHUT_WR)
    conn.recv(1)  # the receiver closes once it has everything
    conn.close()
    print(n, h.hexdigest())


def cmd_iperf_bps(a):
    with open(a.file) as f:
        result = json.load(f)
    print(int(result["end"]["sum_received"]["bits_per_second"]))


def cmd_iperf_error(a):
    try:
        with open(a.file) as f:
            print(json.load(f).get("error", "no error reported"))
    except (OSError, ValueError):
        with open(a.file, errors="replace") as f:
            print(" ".join(f.read().split())[:300])


# ---- Handshake flood ---------------------------------------------------------------------

def cmd_flood(a):
    """Sends 148-byte initiations at A as fast as one socket allows (or at
    --pps), until --duration or until --stop-file exists; counts the cookie
    replies (type 3) that come back. Mode "random": random bytes behind a type-1 header, so
    mac1 is wrong and the gateway should drop them cheaply. Mode "mac1": a
    correct mac1 over random contents, which passes the cheap check and puts
    the gateway under load, where it must answer with cookie replies instead
    of doing Diffie-Hellman for each. Prints one JSON line."""
    key = mac1_key(base64.b64decode(a.pubkey))
    if a.mode == "mac1":
        packets = [initiation(key) for _ in range(1024)]
    else:
        packets = [header(MSG_INITIATION) + os.urandom(INITIATION_SIZE - 4) for _ in range(1024)]
    family = socket.AF_INET6 if ":" in a.target else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    addr = (a.target, a.port)
    sent = send_errors = cookies = other = 0
    start = time.monotonic()
    deadline = start + a.duration
    send = sock.sendto
    batch_interval = 256 / a.pps if a.pps else 0
    while True:
        if batch_interval:
            pause = start + (sent / 256) * batch_interval - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        for p in packets[(sent & 1023):(sent & 1023) + 256]:
            try:
                send(p, addr)
            except OSError:
                send_errors += 1
        sent += 256
        while True:
            try:
                reply = sock.recv(2048, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:  # ICMP port unreachable surfaces here
                other += 1
                break
            if len(reply) == COOKIE_REPLY_SIZE and reply[0] == MSG_COOKIE_REPLY:
                cookies += 1
            else:
                other += 1
        now = time.monotonic()
        if now >= deadline or (a.stop_file and os.path.exists(a.stop_file)):
            break
    elapsed = time.monotonic() - start
    report = {"mode": a.mode, "sent": sent, "send_errors": send_errors,
              "seconds": round(elapsed, 2), "pps": int(sent / elapsed),
              "cookie_replies_received": cookies, "other_replies": other}
    report["summary"] = (f"{sent} initiations in {report['seconds']} s ({report['pps']}/s), "
                         f"{cookies} cookie replies back")
    print(json.dumps(report))


# ---- Capture -----------------------------------------------------------------------------

ETH_P_ALL, PACKET_OUTGOING = 3, 4


def parse_udp(frame: bytes):
    """(src, sport, dst, dport, payload) of an unfragmented UDP/IP Ethernet frame, or None."""
    ethertype = struct.unpack_from("!H", frame, 12)[0]
    if ethertype == 0x0800:
        ihl = (frame[14] & 0x0F) * 4
        frag = struct.unpack_from("!H", frame, 20)[0]
        if frame[23] != 17 or frag & 0x3FFF:
            return None
        src, dst = socket.inet_ntoa(frame[26:30]), socket.inet_ntoa(frame[30:34])
        udp = 14 + ihl
    elif ethertype == 0x86DD:
        if frame[20] != 17:
            return None
        src = socket.inet_ntop(socket.AF_INET6, frame[22:38])
        dst = socket.inet_ntop(socket.AF_INET6, frame[38:54])
        udp = 54
    else:
        return None
    sport, dport, length = struct.unpack_from("!HHH", frame, udp)
    return src, sport, dst, dport, frame[udp + 8:udp + length]


def cmd_sniff(a):
    """At the gateway listening on --port: keeps the peer's first handshake
    initiation (in), our response (out) and up to five of the peer's data
    messages (in), for replaying later. Writes JSON to --out once it has them
    all, or at --timeout with what it has."""
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((a.iface, 0))
    s.settimeout(0.2)
    got = {"initiation": None, "response": None, "data": [], "peer": None}
    deadline = time.monotonic() + a.timeout
    # Tell the caller we are listening.
    if a.ready_file:
        open(a.ready_file, "w").close()
    while time.monotonic() < deadline:
        try:
            frame, addr = s.recvfrom(70000)
        except socket.timeout:
            continue
        udp = parse_udp(frame)
        if not udp or not udp[4]:
            continue
        src, sport, dst, dport, payload = udp
        incoming = dport == a.port and addr[2] != PACKET_OUTGOING
        outgoing = sport == a.port and addr[2] == PACKET_OUTGOING
        kind = payload[0]
        if incoming and kind == MSG_INITIATION and len(payload) == INITIATION_SIZE:
            got["initiation"] = payload.hex()
            got["peer"] = [src, sport]
        elif outgoing and kind == MSG_RESPONSE and len(payload) == RESPONSE_SIZE:
            got["response"] = payload.hex()
        elif incoming and kind == MSG_TRANSPORT and len(payload) > TRANSPORT_HEADER_SIZE + TAG_SIZE:
            if len(got["data"]) < 5:
                got["data"].append(payload.hex())
        if got["initiation"] and got["response"] and len(got["data"]) >= 3:
            break
    with open(a.out, "w") as f:
        json.dump(got, f)
    missing = [k for k in ("initiation", "response") if not got[k]]
    if len(got["data"]) < 3:
        missing.append("data")
    if missing:
        print("sniff: did not see " + ", ".join(missing), file=sys.stderr)
        sys.exit(1)


# ---- Bad input ---------------------------------------------------------------------------

def bad_cases(key):
    """(name, payload) for every kind of packet a gateway must survive."""
    R = os.urandom
    cases = [("zero-length", b"")]
    for t in (1, 2, 3, 4):
        for n in (1, 2, 3, 4, 7):
            cases.append((f"type{t}-truncated-{n}B", (header(t) + R(8))[:n]))
    cases += [
        # Handshake initiation: 148 bytes.
        ("type1-147B", header(1) + R(143)),
        ("type1-149B", header(1) + R(145)),
        ("type1-bad-mac1", header(1) + R(144)),
        ("type1-forged-valid-mac1", initiation(key)),
        ("type1-reserved-set-valid-mac1", initiation(key, reserved=b"\x01\x02\x03")),
        ("type1-zero-ephemeral-valid-mac1", initiation(key, body=bytes(112))),
        ("type1-valid-mac1-garbage-mac2", initiation(key)[:132] + R(16)),
        # Handshake response: 92 bytes, for a receiver index we never gave out.
        ("type2-91B", header(2) + R(87)),
        ("type2-93B", header(2) + R(89)),
        ("type2-bad-mac1", header(2) + R(88)),
        ("type2-forged-valid-mac1", response(key)),
        # Cookie reply: 64 bytes.
        ("type3-63B", header(3) + R(59)),
        ("type3-65B", header(3) + R(61)),
        ("type3-forged", header(3) + R(60)),
        # Transport data: 16-byte header, then at least a 16-byte tag.
        ("type4-header-only-16B", header(4) + R(12)),
        ("type4-31B", header(4) + R(27)),
        ("type4-keepalive-size-unknown-index", header(4) + R(28)),
        ("type4-100B-unknown-index", header(4) + R(96)),
        ("type4-1500B-unknown-index", header(4) + R(1496)),
        ("type4-reserved-set", header(4, b"\x09\x09\x09") + R(60)),
        # Oversized: far beyond any message (the datagram is IP-fragmented).
        ("random-65000B", R(65000)),
        ("type1-65000B", header(1) + R(64996)),
        ("type4-65000B", header(4) + R(64996)),
    ]
    for t in (0, 5, 6, 0x7F, 0xFF):
        for n in (4, 148, 1000):
            cases.append((f"unknown-type{t}-{n}B", header(t) + R(n - 4)))
    return cases


def ipv4_udp(src, sport, dst, dport, payload):
    """An IPv4/UDP datagram from a source address that is not ours (checksums: 0
    means "none" for UDP over IPv4; the kernel fills in the IP header's)."""
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    return ip + udp


def cmd_badinput(a):
    key = mac1_key(base64.b64decode(a.pubkey))
    targets = [(socket.AF_INET, a.target)] + ([(socket.AF_INET6, a.target6)] if a.target6 else [])
    socks = {fam: socket.socket(fam, socket.SOCK_DGRAM) for fam, _ in targets}
    counts = {}

    def send(label, fam, target, payload):
        try:
            socks[fam].sendto(payload, (target, a.port))
            counts[label] = counts.get(label, 0) + 1
        except OSError as e:
            print(f"badinput: {label}: {e}", file=sys.stderr)
        time.sleep(0.001)  # do not overrun the gateway's socket buffer: every one should be read

    for name, payload in bad_cases(key):
        for fam, target in targets:
            for _ in range(a.repeat):
                send("malformed/forged", fam, target, payload)

    if a.capture:
        with open(a.capture) as f:
            cap = json.load(f)
        replays = [bytes.fromhex(cap["initiation"]), bytes.fromhex(cap["response"])]
        replays += [bytes.fromhex(d) for d in cap["data"]]
        # From our own address: nothing here may move the peer's endpoint.
        for payload in replays:
            for _ in range(a.repeat):
                send("replayed", socket.AF_INET, a.target, payload)
        # From the peer's own address and port, as an on-path attacker would.
        if a.spoof_src:
            raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
            for payload in replays:
                for _ in range(a.repeat):
                    raw.sendto(ipv4_udp(a.spoof_src, a.spoof_port, a.target, a.port, payload),
                               (a.target, 0))
                    counts["replayed-spoofed"] = counts.get("replayed-spoofed", 0) + 1
                    time.sleep(0.001)
    print(" ".join(f"{k}={v}" for k, v in counts.items()))


# ---- sluicectl JSON ----------------------------------------------------------------------

def prefixes(items):
    """Canonical, sorted; anything that is not a prefix is kept as written."""
    out = []
    for p in items:
        try:
            out.append(str(ipaddress.ip_network(p, strict=False)))
        except ValueError:
            out.append(repr(p))
    return sorted(out)


def cmd_compare_show(a):
    """Every field that `wg show IF dump` and `sluicectl show --json` both
    report must agree. Byte counters may have grown between the two reads
    by a keepalive or so; handshake ages must agree within 2 s."""
    with open(a.dump) as f:
        lines = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    with open(a.json) as f:
        show = json.load(f)
    now = time.time() if a.now is None else a.now
    problems = []

    def differ(what, wg_value, ctl_value):
        problems.append(f"{what}: wg says {wg_value!r}, sluicectl says {ctl_value!r}")

    _, public_key, listen_port, _ = lines[0][:4]
    iface = show["interface"]
    if iface["public_key"] != public_key:
        differ("interface public key", public_key, iface["public_key"])
    if str(iface["listen_port"]) != listen_port:
        differ("listen port", listen_port, iface["listen_port"])
    wg_peers = {line[0]: line for line in lines[1:]}
    ctl_peers = {p["public_key"]: p for p in show["peers"]}
    if set(wg_peers) != set(ctl_peers):
        differ("peer keys", sorted(wg_peers), sorted(ctl_peers))
    for k in sorted(set(wg_peers) & set(ctl_peers)):
        _, psk, endpoint, allowed, handshake, rx, tx, keepalive = wg_peers[k][:8]
        p = ctl_peers[k]
        short = k[:8]
        if p["preshared_key"] != (psk != "(none)"):
            differ(f"peer {short} preshared key", psk != "(none)", p["preshared_key"])
        if (p["endpoint"] or "(none)") != endpoint:
            differ(f"peer {short} endpoint", endpoint, p["endpoint"])
        wg_allowed = prefixes([] if allowed == "(none)" else allowed.split(","))
        if wg_allowed != prefixes(p["allowed_ips"]):
            differ(f"peer {short} allowed ips", wg_allowed, prefixes(p["allowed_ips"]))
        if str(p["persistent_keepalive"]) != ("0" if keepalive == "off" else keepalive):
            differ(f"peer {short} persistent keepalive", keepalive, p["persistent_keepalive"])
        age = p["latest_handshake_age_ms"]
        if handshake == "0" or age is None:
            if not (handshake == "0" and age is None):
                differ(f"peer {short} latest handshake", handshake, age)
        elif abs((now - int(handshake)) - age / 1000) > 2:
            differ(f"peer {short} latest handshake (age s)", round(now - int(handshake), 1), age / 1000)
        for name, wg_count, ctl_count in (("rx", int(rx), p["rx_bytes"]), ("tx", int(tx), p["tx_bytes"])):
            if not wg_count <= ctl_count <= wg_count + 1024:
                differ(f"peer {short} {name} bytes", wg_count, ctl_count)
    if problems:
        print("; ".join(problems))
        sys.exit(1)
    print(f"{len(ctl_peers)} peers agree")


def cmd_drops(a):
    with open(a.file) as f:
        rows = json.load(f)["drops"]
    if a.reason:
        for row in rows:
            if row["reason"] == a.reason:
                print(row["total"])
                return
        print(f"no drop reason {a.reason!r} in {a.file}", file=sys.stderr)
        sys.exit(1)
    print(sum(row["total"] for row in rows))


def cmd_json_get(a):
    with open(a.file) as f:
        print(json.load(f)[a.key])


def cmd_find_counter(a):
    """A counter NAME anywhere in the JSON: as a key with a number
    ({"cookie_replies": 12}) or as a row ({"reason": "cookie_replies", "total": 12})."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == a.name and isinstance(v, int) and not isinstance(v, bool):
                    found.append(v)
            if node.get("reason") == a.name and isinstance(node.get("total"), int):
                found.append(node["total"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    for path in a.files:
        try:
            with open(path) as f:
                for line in f:
                    if line.strip():
                        walk(json.loads(line))
        except (OSError, ValueError):
            continue
    if not found:
        sys.exit(1)
    print(max(found))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("recv")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--timeout", type=float, default=30)
    s.set_defaults(fn=cmd_recv)
    s = sub.add_parser("send")
    s.add_argument("--host", required=True)
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--mib", type=int, required=True)
    s.add_argument("--timeout", type=float, default=30)
    s.set_defaults(fn=cmd_send)
    s = sub.add_parser("iperf-bps")
    s.add_argument("file")
    s.set_defaults(fn=cmd_iperf_bps)
    s = sub.add_parser("iperf-error")
    s.add_argument("file")
    s.set_defaults(fn=cmd_iperf_error)
    s = sub.add_parser("flood")
    s.add_argument("--target", required=True)
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--pubkey", required=True, help="the gateway's public key (for mac1)")
    s.add_argument("--mode", choices=["random", "mac1"], required=True)
    s.add_argument("--duration", type=float, default=5)
    s.add_argument("--pps", type=int, default=0, help="packets per second (0: as fast as possible)")
    s.add_argument("--stop-file")
    s.set_defaults(fn=cmd_flood)
    s = sub.add_parser("sniff")
    s.add_argument("--iface", required=True)
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--ready-file")
    s.add_argument("--timeout", type=float, default=15)
    s.set_defaults(fn=cmd_sniff)
    s = sub.add_parser("badinput")
    s.add_argument("--target", required=True)
    s.add_argument("--target6")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--pubkey", required=True)
    s.add_argument("--capture")
    s.add_argument("--spoof-src")
    s.add_argument("--spoof-port", type=int)
    s.add_argument("--repeat", type=int, default=3)
    s.set_defaults(fn=cmd_badinput)
    s = sub.add_parser("compare-show")
    s.add_argument("dump")
    s.add_argument("json")
    s.add_argument("--now", type=float)
    s.set_defaults(fn=cmd_compare_show)
    s = sub.add_parser("drops")
    s.add_argument("file")
    s.add_argument("reason", nargs="?")
    s.set_defaults(fn=cmd_drops)
    s = sub.add_parser("json-get")
    s.add_argument("file")
    s.add_argument("key")
    s.set_defaults(fn=cmd_json_get)
    s = sub.add_parser("find-counter")
    s.add_argument("name")
    s.add_argument("files", nargs="+")
    s.set_defaults(fn=cmd_find_counter)
    a = p.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
