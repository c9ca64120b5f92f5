#!/usr/bin/env bash
# sluice's main job (README command one). Installs dependencies, builds, and
# runs the demo.
#
# Until the gateway exists, the demo runs two WireGuard protocol endpoints in
# one process over an in-memory link: a handshake, a few hundred data
# messages each way through the ipsec-mb burst path, a rekey with keypair
# rotation, a replayed and a forged packet, and prints what happened.
set -euo pipefail
cd "$(dirname "$0")/.."

bash deploy/install-deps.sh
if [ -f build/build.ninja ]; then
    meson setup --reconfigure build >/dev/null
else
    meson setup build >/dev/null
fi
ninja -C build control/sluice-demo >/dev/null
exec build/control/sluice-demo "$@"
