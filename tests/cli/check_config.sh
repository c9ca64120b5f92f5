#!/usr/bin/env bash
# sluice-check-config as an operator uses it: exit 0 and "ok" for a valid
# file, exit 1 and one file:line:column line for a broken one, exit 2 for bad
# usage, and --dump never prints a secret.
set -euo pipefail
tool=${1:?usage: check_config.sh PATH/TO/sluice-check-config}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "check_config: $*"; exit 1; }

priv=$(head -c 32 /dev/urandom | base64)
peer=$(head -c 32 /dev/urandom | base64)
cat > "$tmp/good.yaml" <<YAML
interface:
  name: wg-test
  private_key: $priv
  addresses: [10.9.0.1/24]
peers:
  - name: other
    public_key: $peer
    endpoint: 192.0.2.7:51820
    allowed_ips: [10.9.0.2/32, 192.168.50.0/24]
YAML
chmod 600 "$tmp/good.yaml"

out=$("$tool" "$tmp/good.yaml") || fail "valid file rejected: $out"
[[ $out == *"ok (1 peers)"* ]] || fail "unexpected output for a valid file: $out"

dump=$("$tool" --dump "$tmp/good.yaml") || fail "--dump failed"
[[ $dump != *"$priv"* ]] || fail "--dump printed the private key"
[[ $dump == *"redacted"* ]] || fail "--dump did not say the key was redacted"

sed 's/10.9.0.2\/32/10.9.0.2\/33/' "$tmp/good.yaml" > "$tmp/bad.yaml"
rc=0
err=$("$tool" "$tmp/bad.yaml" 2>&1) || rc=$?
[ "$rc" -eq 1 ] || fail "broken file: exit $rc, expected 1"
[ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || fail "broken file: more than one line: $err"
[[ $err == "$tmp/bad.yaml:9:"*"peers[0].allowed_ips[0]"* ]] || fail "broken file: message lacks file:line or key: $err"

rc=0; "$tool" >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "no arguments: exit $rc, expected 2"
rc=0; "$tool" --no-such-flag "$tmp/good.yaml" >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "unknown flag: exit $rc, expected 2"
rc=0; "$tool" "$tmp/missing.yaml" >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "missing file: exit $rc, expected 1"
echo "check_config: PASS"
