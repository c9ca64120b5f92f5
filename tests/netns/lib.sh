# shellcheck shell=bash disable=SC2034  # state (GW_CONF, GW_STATUS, ...) is read by the tests
# The network-namespace harness for sluice's gateway tests. Sourced by each
# test; it builds one two-site network per test run and always removes it.
#
#            host A                                         host B
#      192.168.1.2, fd00:1::2                         192.168.2.2, fd00:2::2
#              | lan0                                         | lan0
#          gateway A ---- wan0 ---[ wan: bridge br0 ]--- wan0 ---- gateway B
#   192.0.2.1, 2001:db8::1          |                   192.0.2.2, 2001:db8::2
#   tunnel 10.77.0.1, fd77::1       | wan0              tunnel 10.77.0.2, fd77::2
#                               attacker 192.0.2.66, 2001:db8::66
#
# A gateway is either stock wireguard-go configured with wg(8) and ip(8)
# (kind "wggo"), sluiced reading a YAML file with the kernel driver (kind
# "sluice"), or sluiced with the dpdk driver in L2 gateway mode (kind "dpdk":
# net_af_packet vdevs on the gateway's wan0 and lan0, which lose their kernel
# addresses; sluice answers ARP/ND and routes itself), or sluiced with the
# af_xdp driver (kind "afxdp": net_af_xdp on wan0 with sluice's XDP program;
# sluice owns WAN4/WAN6 there while the namespace's kernel keeps wan0 with
# KERNEL_WAN4/KERNEL_WAN6 for its own traffic; the LAN is a TUN device as
# with the kernel driver). The tests say
# which by argument, so each test runs unchanged against either. Every name
# (namespaces, tunnel interfaces) carries a random run id, so parallel runs
# never clash; the UAPI socket directory is shared by all namespaces.
#
# Output: one "ok   TEST: ..." line per check, "--   TEST: ..." for
# information, and at the end "PASS TEST ..." (exit 0) or one
# "FAIL TEST: ..." line (exit 1). Exit 77 (meson: skipped) when not root or a
# tool is missing.
set -euo pipefail
export LC_ALL=C
umask 077  # key and configuration files are created readable by root only

NETNS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$NETNS_DIR/../.." && pwd)
NETNS_TOOL=$NETNS_DIR/netns_tool.py
TEST_NAME=$(basename "$0" .sh)

# ---- Output ---------------------------------------------------------------------------

ok() { echo "ok   $TEST_NAME: $*"; }
info() { echo "--   $TEST_NAME: $*"; }
skip() {
    echo "SKIP $TEST_NAME: $*"
    exit 77
}
pass() {
    echo "PASS $TEST_NAME${1:+ ($1)}"
    exit 0
}
# One clear line, last. The gateways' log tails come first so that a failure
# in meson's test log shows what the daemon said.
fail() {
    set +x
    local side
    for side in A B; do
        if [ -z "${GW_LOG[$side]:-}" ] || [ ! -s "${GW_LOG[$side]}" ]; then continue; fi
        echo "---- gateway $side (${GW_KIND[$side]:-?}) log, last 15 lines:" >&2
        tail -n 15 "${GW_LOG[$side]}" | sed 's/^/  | /' >&2
    done
    # To the test's own stdout (fd 9, see netns_init) even when called where
    # stdout is redirected.
    if { true >&9; } 2>/dev/null; then echo "FAIL $TEST_NAME: $*" >&9; else echo "FAIL $TEST_NAME: $*"; fi
    exit 1
}

# ---- Time and polling -----------------------------------------------------------------

now_ms() { echo $((${EPOCHREALTIME/./} / 1000)); }

# wait_for SECONDS CMD...: runs CMD every 0.2 s until it succeeds (0) or
# SECONDS (a whole number) have passed (1). CMD's output is discarded.
wait_for() {
    local deadline=$(($(now_ms) + $1 * 1000))
    shift
    while :; do
        "$@" >/dev/null 2>&1 && return 0
        [ "$(now_ms)" -lt "$deadline" ] || return 1
        sleep 0.2
    done
}

# ---- Arguments ------------------------------------------------------------------------

# netns_init KIND... -- [SLUICED [SLUICECTL]]: checks kinds, root and tools,
# picks the run id and names, and installs the cleanup trap. SLUICED and
# SLUICECTL default to $SLUICED/$SLUICECTL, then to the build/ tree.
netns_init() {
    local kinds=() kind need_sluice=0
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        kinds+=("$1")
        shift
    done
    [ $# -gt 0 ] && shift
    for kind in "${kinds[@]}"; do
        case $kind in
            wggo) ;;
            sluice | dpdk | afxdp) need_sluice=1 ;;
            *)
                echo "$TEST_NAME: unknown gateway kind \"$kind\" (wggo, sluice, dpdk or afxdp)" >&2
                exit 2
                ;;
        esac
    done
    SLUICED=${1:-${SLUICED:-$REPO_ROOT/build/control/sluiced}}
    SLUICECTL=${2:-${SLUICECTL:-$REPO_ROOT/build/control/sluicectl}}

    [ "$(id -u)" -eq 0 ] || skip "needs root for network namespaces"
    local tool
    for tool in ip wg wireguard-go ping python3 sha256sum timeout ss; do
        command -v "$tool" >/dev/null || skip "$tool not installed"
    done
    if [ "$need_sluice" = 1 ]; then
        [ -x "$SLUICED" ] || fail "sluiced not found or not executable at $SLUICED"
        [ -x "$SLUICECTL" ] || fail "sluicectl not found or not executable at $SLUICECTL"
    fi

    RUN_ID=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
    TMP=$(mktemp -d "/tmp/sluice-netns-$TEST_NAME.XXXXXX")
    NS_WAN=snt-$RUN_ID-wan
    NS_ATK=snt-$RUN_ID-atk
    NS_GW=([A]=snt-$RUN_ID-gwa [B]=snt-$RUN_ID-gwb)
    NS_HOST=([A]=snt-$RUN_ID-ha [B]=snt-$RUN_ID-hb)
    GW_IF=([A]=slt-a$RUN_ID [B]=slt-b$RUN_ID) # at most 15 characters
    # The traps print to fd 9, the test's own stdout: a signal can arrive
    # while stdout is redirected for one command.
    exec 9>&1
    trap netns_cleanup EXIT
    trap 'echo "FAIL $TEST_NAME: interrupted" >&9; exit 130' INT
    trap netns_terminated TERM
}

# ---- Addresses ------------------------------------------------------------------------

declare -A NS_GW NS_HOST GW_IF
declare -A WAN4=([A]=192.0.2.1 [B]=192.0.2.2) WAN6=([A]=2001:db8::1 [B]=2001:db8::2)
declare -A TUN4=([A]=10.77.0.1 [B]=10.77.0.2) TUN6=([A]=fd77::1 [B]=fd77::2)
declare -A LAN4_NET=([A]=192.168.1.0/24 [B]=192.168.2.0/24) LAN6_NET=([A]=fd00:1::/64 [B]=fd00:2::/64)
declare -A GW_LAN4=([A]=192.168.1.1 [B]=192.168.2.1) GW_LAN6=([A]=fd00:1::1 [B]=fd00:2::1)
declare -A HOST4=([A]=192.168.1.2 [B]=192.168.2.2) HOST6=([A]=fd00:1::2 [B]=fd00:2::2)
declare -A GW_PORT=([A]=51820 [B]=51820)
# Kind afxdp: the kernel's own addresses on wan0, beside sluice's WAN4/WAN6.
declare -A KERNEL_WAN4=([A]=192.0.2.101 [B]=192.0.2.102) KERNEL_WAN6=([A]=2001:db8::101 [B]=2001:db8::102)
ATK4=192.0.2.66
ATK6=2001:db8::66
TUNNEL_MTU=1420

# Gateway state, by side.
declare -A GW_KIND GW_PID GW_OPTS GW_LOG GW_CONF GW_STATUS
declare -A KEY PUB
PSK_FILE=          # set by setup_topology --psk
NS_LIST=()

other() { [ "$1" = A ] && echo B || echo A; }
# Whether side $1's gateway is sluiced (either driver): sluicectl works there.
is_sluice() { [ "${GW_KIND[$1]}" != wggo ]; }
# Whether side $1's gateway has a kernel tunnel device (and tunnel addresses
# the kernel answers on): not in L2 gateway mode.
has_tunnel_device() { [ "${GW_KIND[$1]}" != dpdk ]; }
in_ns() {
    local ns=$1
    shift
    ip netns exec "$ns" "$@"
}
in_gw() {
    local side=$1
    shift
    ip netns exec "${NS_GW[$side]}" "$@"
}
in_host() {
    local side=$1
    shift
    ip netns exec "${NS_HOST[$side]}" "$@"
}
uapi_socket() { echo "/var/run/wireguard/${GW_IF[$1]}.sock"; }
ctl_socket() { echo "/run/sluice/${GW_IF[$1]}.ctl"; }

# The prefixes side $1 routes to its peer (the other side) and accepts from it.
peer_allowed_ips() {
    local p
    p=$(other "$1")
    echo "${TUN4[$p]}/32 ${TUN6[$p]}/128 ${LAN4_NET[$p]} ${LAN6_NET[$p]}"
}

# ---- Topology -------------------------------------------------------------------------

make_ns() {
    ip netns add "$1"
    NS_LIST+=("$1")
    in_ns "$1" ip link set lo up
    # No duplicate address detection: addresses are usable at once.
    in_ns "$1" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
}

# veth NS1 IF1 NS2 IF2: a veth pair created directly in its namespaces, so
# the short names never meet in the root namespace.
veth() {
    ip -n "$1" link add "$2" type veth peer name "$4" netns "$3"
    ip -n "$1" link set "$2" up
    ip -n "$3" link set "$4" up
}

# setup_topology [--psk]: namespaces, links, addresses, routes and keys.
# shellcheck disable=SC2120  # the option is optional
setup_topology() {
    local side ns
    make_ns "$NS_WAN"
    ip -n "$NS_WAN" link add br0 type bridge mcast_snooping 0
    ip -n "$NS_WAN" link set br0 up
    make_ns "$NS_ATK"
    veth "$NS_WAN" to-x "$NS_ATK" wan0
    ip -n "$NS_WAN" link set to-x master br0
    ip -n "$NS_ATK" addr add "$ATK4/24" dev wan0
    ip -n "$NS_ATK" addr add "$ATK6/64" dev wan0 nodad
    for side in A B; do
        ns=${NS_GW[$side]}
        make_ns "$ns"
        in_ns "$ns" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
        veth "$NS_WAN" "to-${side,,}" "$ns" wan0
        ip -n "$NS_WAN" link set "to-${side,,}" master br0
        ip -n "$ns" addr add "${WAN4[$side]}/24" dev wan0
        ip -n "$ns" addr add "${WAN6[$side]}/64" dev wan0 nodad

        make_ns "${NS_HOST[$side]}"
        veth "$ns" lan0 "${NS_HOST[$side]}" lan0
        ip -n "$ns" addr add "${GW_LAN4[$side]}/24" dev lan0
        ip -n "$ns" addr add "${GW_LAN6[$side]}/64" dev lan0 nodad
        ip -n "${NS_HOST[$side]}" addr add "${HOST4[$side]}/24" dev lan0
        ip -n "${NS_HOST[$side]}" addr add "${HOST6[$side]}/64" dev lan0 nodad
        ip -n "${NS_HOST[$side]}" route add default via "${GW_LAN4[$side]}"
        ip -n "${NS_HOST[$side]}" -6 route add default via "${GW_LAN6[$side]}"

        wg genkey >"$TMP/$side.key"
        KEY[$side]=$(cat "$TMP/$side.key")
        PUB[$side]=$(wg pubkey <"$TMP/$side.key")
    done
    if [ "${1:-}" = --psk ]; then
        PSK_FILE=$TMP/psk
        wg genpsk >"$PSK_FILE"
    fi
    # The WAN itself must work before any tunnel is judged.
    wait_for 5 in_gw A ping -n -c 1 -W 1 "${WAN4[B]}" || fail "WAN: 192.0.2.1 cannot reach 192.0.2.2"
    wait_for 5 in_gw A ping -n -c 1 -W 1 "${WAN6[B]}" || fail "WAN: 2001:db8::1 cannot reach 2001:db8::2"
    info "topology up (run id $RUN_ID, interfaces ${GW_IF[A]} ${GW_IF[B]})"
}

# release_resources NS... -- PATH...: ends what runs in the namespaces (all of
# it started by this test), deletes them, then the paths. Uses no globals, so
# that it can run detached (see netns_terminated).
release_resources() {
    local nss=() ns pids left
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        nss+=("$1")
        shift
    done
    [ $# -gt 0 ] && shift
    for ns in "${nss[@]}"; do
        pids=$(ip netns pids "$ns" 2>/dev/null)
        # shellcheck disable=SC2086  # one word per pid
        [ -n "$pids" ] && kill $pids 2>/dev/null
    done
    for _ in $(seq 20); do
        left=
        for ns in "${nss[@]}"; do left+=$(ip netns pids "$ns" 2>/dev/null); done
        [ -z "$left" ] && break
        sleep 0.1
    done
    for ns in "${nss[@]}"; do
        pids=$(ip netns pids "$ns" 2>/dev/null)
        # shellcheck disable=SC2086
        [ -n "$pids" ] && kill -KILL $pids 2>/dev/null
    done
    for ns in "${nss[@]}"; do ip netns del "$ns" 2>/dev/null; done
    [ $# -gt 0 ] && rm -rf "$@"
    return 0
}

# What release_resources gets: the namespaces, then the sockets and TMP.
resource_args() {
    local side
    printf '%s\n' "${NS_LIST[@]}" --
    for side in A B; do
        [ -n "${GW_IF[$side]:-}" ] && printf '%s\n' "$(uapi_socket "$side")" "$(ctl_socket "$side")"
    done
    if [ "${NETNS_KEEP_TMP:-0}" = 1 ]; then
        echo "--   $TEST_NAME: kept $TMP" >&2
    elif [ -n "${TMP:-}" ]; then
        printf '%s\n' "$TMP"
    fi
}

netns_cleanup() {
    local rc=$? args
    set +e
    trap - EXIT INT TERM
    mapfile -t args < <(resource_args)
    release_resources "${args[@]}"
    wait 2>/dev/null
    exit "$rc"
}

# SIGTERM (meson's timeout): meson sends SIGKILL to the whole process group
# 0.5 s later, too soon to clean up, so the cleanup runs in a session of its
# own and this shell exits at once. (Hence `timeout --foreground` in this
# harness: plain timeout moves its command out of our process group, and the
# shell would wait for it before running this trap.)
netns_terminated() {
    local args
    set +e
    trap - EXIT INT TERM
    echo "FAIL $TEST_NAME: terminated (SIGTERM), cleaning up in the background" >&9
    mapfile -t args < <(resource_args)
    setsid bash -c "$(declare -f release_resources); release_resources \"\$@\"" release "${args[@]}" \
        </dev/null >/dev/null 2>&1 9>&- &
    exit 143
}

# ---- Gateways -------------------------------------------------------------------------

# start_gateway KIND SIDE [OPTION...]: starts side's gateway, configured with
# its key, port, tunnel addresses, MTU and the other side as its one peer, and
# routes the other site's LAN into the tunnel. Returns when it is ready.
#   --no-endpoint      no endpoint for the peer (learn it from the peer)
#   --endpoint A:P     this endpoint for the peer instead of its WAN address
#                      (a WAN emulator in between: start_wan_emulator)
#   --wan6             the peer's endpoint is its IPv6 WAN address
#   --rekey-after S    sluice only: testing.rekey_after_seconds
#   --keepalive N      persistent keepalive towards the peer
#   --neighbour-reachable S
#                      dpdk only: dataplane.neighbour_reachable_seconds
start_gateway() {
    local kind=$1 side=$2
    shift 2
    GW_KIND[$side]=$kind
    GW_OPTS[$side]="$*"
    GW_LOG[$side]=$TMP/gateway-$side.log
    local peer endpoint='' rekey='' keepalive=0 reachable=''
    peer=$(other "$side")
    endpoint="${WAN4[$peer]}:${GW_PORT[$peer]}"
    while [ $# -gt 0 ]; do
        case $1 in
            --no-endpoint) endpoint= ;;
            --endpoint) endpoint=$2; shift ;;
            --wan6) endpoint="[${WAN6[$peer]}]:${GW_PORT[$peer]}" ;;
            --rekey-after) rekey=$2; shift ;;
            --keepalive) keepalive=$2; shift ;;
            --neighbour-reachable) reachable=$2; shift ;;
            *) fail "start_gateway: unknown option $1" ;;
        esac
        shift
    done
    [ -z "$reachable" ] || [ "$kind" = dpdk ] ||
        info "--neighbour-reachable is for kind dpdk only; ignored on $side ($kind)"
    echo "==== $(date +%T.%N) starting $kind" >>"${GW_LOG[$side]}"
    case $kind in
        wggo) start_wggo "$side" "$peer" "$endpoint" "$keepalive" "$rekey" ;;
        sluice) start_sluiced "$side" "$peer" "$endpoint" "$keepalive" "$rekey" ;;
        dpdk) start_sluiced "$side" "$peer" "$endpoint" "$keepalive" "$rekey" dpdk "$reachable" ;;
        afxdp) start_sluiced "$side" "$peer" "$endpoint" "$keepalive" "$rekey" af_xdp ;;
    esac
    has_tunnel_device "$side" || return 0  # sluice routes by itself
    # The other site's LAN goes into the tunnel (wg-quick would add these).
    in_gw "$side" ip route replace "${LAN4_NET[$peer]}" dev "${GW_IF[$side]}"
    in_gw "$side" ip -6 route replace "${LAN6_NET[$peer]}" dev "${GW_IF[$side]}"
}

# L2 gateway mode: sluice takes wan0 and lan0 over from the namespace's
# kernel (no addresses, no IPv6, no forwarding there), and the links' other
# ends send whole frames with full checksums: net_af_packet sees veth
# packets as the kernel left them, and a TSO super-packet or a checksum left
# to offload would reach sluice unfinished.
take_over_links() {
    local side=$1 dev
    for dev in wan0 lan0; do
        in_gw "$side" ip addr flush dev "$dev"
        in_gw "$side" sysctl -qw "net.ipv6.conf.$dev.disable_ipv6=1"
    done
    in_gw "$side" sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0
    command -v ethtool >/dev/null || skip "ethtool not installed"
    ip netns exec "$NS_WAN" ethtool -K "to-${side,,}" tx off tso off gso off >/dev/null 2>&1 || true
    in_host "$side" ethtool -K lan0 tx off tso off gso off >/dev/null 2>&1 || true
}

# A process that exists and is not a zombie.
pid_running() {
    local state
    state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$state" ] && [ "$state" != Z ]
}
gateway_alive() { pid_running "${GW_PID[$1]}"; }
uapi_ready() { wg show "${GW_IF[$1]}" >/dev/null 2>&1; }

# Polls for readiness, failing at once if the process has died.
wait_gateway_ready() {
    local side=$1 name=$2 deadline=$(($(now_ms) + 10000))
    until uapi_ready "$side"; do
        if ! gateway_alive "$side"; then
            local rc=0
            wait "${GW_PID[$side]}" || rc=$?
            fail "$name ($side) exited with status $rc while starting"
        fi
        [ "$(now_ms)" -lt "$deadline" ] || fail "$name ($side): 'wg show ${GW_IF[$side]}' not answered within 10 s of start"
        sleep 0.1
    done
}

start_wggo() {
    local side=$1 peer=$2 endpoint=$3 keepalive=$4 rekey=$5 ifname=${GW_IF[$1]}
    [ -z "$rekey" ] || info "wggo cannot shorten REKEY_AFTER_TIME; --rekey-after $rekey ignored on $side"
    local conf=$TMP/$side.conf
    {
        echo "[Interface]"
        echo "PrivateKey = ${KEY[$side]}"
        echo "ListenPort = ${GW_PORT[$side]}"
        echo
        echo "[Peer]"
        echo "PublicKey = ${PUB[$peer]}"
        [ -z "$PSK_FILE" ] || echo "PresharedKey = $(cat "$PSK_FILE")"
        echo "AllowedIPs = $(peer_allowed_ips "$side" | sed 's/ /, /g')"
        [ -z "$endpoint" ] || echo "Endpoint = $endpoint"
        [ "$keepalive" = 0 ] || echo "PersistentKeepalive = $keepalive"
    } >"$conf"
    GW_CONF[$side]=$conf
    # NETNS_WGGO_VERBOSE=1: wireguard-go logs every packet it rejects, and why.
    LOG_LEVEL=$([ "${NETNS_WGGO_VERBOSE:-0}" = 1 ] && echo verbose || echo error) \
        WG_PROCESS_FOREGROUND=1 ip netns exec "${NS_GW[$side]}" wireguard-go "$ifname" \
        >>"${GW_LOG[$side]}" 2>&1 9>&- &
    GW_PID[$side]=$!
    wait_gateway_ready "$side" wireguard-go
    in_gw "$side" wg setconf "$ifname" "$conf"
    in_gw "$side" ip addr add "${TUN4[$side]}/24" dev "$ifname"
    in_gw "$side" ip addr add "${TUN6[$side]}/64" dev "$ifname" nodad
    in_gw "$side" ip link set "$ifname" mtu "$TUNNEL_MTU" up
}

# AF_XDP: wan0 is shared. The kernel moves to KERNEL_WAN4/6 (sluice answers
# on WAN4/6 itself); the bridge side sends whole, checksummed frames (no
# GSO super-packets for the XDP program to see).
share_wan_link() {
    local side=$1
    in_gw "$side" ip addr flush dev wan0
    in_gw "$side" ip addr add "${KERNEL_WAN4[$side]}/24" dev wan0
    in_gw "$side" ip addr add "${KERNEL_WAN6[$side]}/64" dev wan0 nodad
    command -v ethtool >/dev/null || skip "ethtool not installed"
    ip netns exec "$NS_WAN" ethtool -K "to-${side,,}" tx off tso off gso off >/dev/null 2>&1 || true
}

# sluiced_yaml SIDE PEER ENDPOINT KEEPALIVE REKEY DRIVER [REACHABLE]: side's
# configuration on stdout. Its ports follow the driver (dpdk: net_af_packet
# on wan0 and lan0; af_xdp: wan0; kernel: none), or are SLUICED_PORT_LINES
# (each written under `ports:`) when a test sets that array. SLUICED_LCORES
# and SLUICED_MODE, when set, give dataplane.lcores and dataplane.mode.
SLUICED_PORT_LINES=()
# Per side, empty unless a test sets them (streams_peer, streams_setting,
# add_forward): YAML lines inside the peer's entry, and top-level YAML.
declare -A SLUICED_PEER_YAML=() SLUICED_TOP_YAML=()
sluiced_yaml() {
    local side=$1 peer=$2 endpoint=$3 keepalive=$4 rekey=$5 driver=$6 reachable=${7:-} ip line
    local ports=()
    case $driver in
        dpdk)
            ports=("wan:" "  device: \"net_af_packet0,iface=wan0\""
                "  addresses: [${WAN4[$side]}/24, \"${WAN6[$side]}/64\"]"
                "lan:" "  device: \"net_af_packet1,iface=lan0\""
                "  addresses: [${GW_LAN4[$side]}/24, \"${GW_LAN6[$side]}/64\"]")
            ;;
        af_xdp) ports=("wan:" "  device: wan0" "  addresses: [${WAN4[$side]}/24, \"${WAN6[$side]}/64\"]") ;;
    esac
    [ ${#SLUICED_PORT_LINES[@]} -eq 0 ] || ports=("${SLUICED_PORT_LINES[@]}")
    echo "interface:"
    echo "  name: ${GW_IF[$side]}"
    echo "  private_key_file: $TMP/$side.key"
    echo "  listen_port: ${GW_PORT[$side]}"
    echo "  addresses: [${TUN4[$side]}/24, \"${TUN6[$side]}/64\"]"
    echo "  mtu: $TUNNEL_MTU"
    echo "dataplane:"
    echo "  driver: $driver"
    if [ "$driver" != kernel ]; then
        [ -z "${SLUICED_LCORES:-}" ] || echo "  lcores: [$SLUICED_LCORES]"
        [ -z "${SLUICED_MODE:-}" ] || echo "  mode: $SLUICED_MODE"
        [ -z "$reachable" ] || echo "  neighbour_reachable_seconds: $reachable"
    fi
    if [ ${#ports[@]} -gt 0 ]; then
        echo "  ports:"
        for line in "${ports[@]}"; do echo "    $line"; done
    fi
    echo "peers:"
    echo "  - name: site-${peer,,}"
    echo "    public_key: ${PUB[$peer]}"
    [ -z "$PSK_FILE" ] || echo "    preshared_key_file: $PSK_FILE"
    [ -z "$endpoint" ] || echo "    endpoint: \"$endpoint\""
    echo "    allowed_ips:"
    for ip in $(peer_allowed_ips "$side"); do echo "      - \"$ip\""; done
    echo "    persistent_keepalive: $keepalive"
    # Streams (see streams_peer): lines inside the peer's entry.
    [ -z "${SLUICED_PEER_YAML[$side]:-}" ] || sed 's/^/    /' <<<"${SLUICED_PEER_YAML[$side]}"
    # Top-level sections a test adds (streams:, forwards:; see add_forward).
    [ -z "${SLUICED_TOP_YAML[$side]:-}" ] || echo "${SLUICED_TOP_YAML[$side]}"
    if [ -n "$rekey" ]; then
        echo "testing:"
        echo "  rekey_after_seconds: $rekey"
    fi
}

# launch_sluiced SIDE CONF LABEL tun|no-tun: checks CONF, starts sluiced on
# it in side's namespace and returns once it answers wg(8) (and, with tun,
# once its TUN device is up with the tunnel addresses and MTU).
launch_sluiced() {
    local side=$1 conf=$2 label=$3 tun=$4 ifname=${GW_IF[$1]}
    GW_CONF[$side]=$conf
    "$SLUICED" --check --config "$conf" >>"${GW_LOG[$side]}" 2>&1 ||
        fail "$label: sluiced --check rejects the generated configuration $conf: $(tail -n 1 "${GW_LOG[$side]}")"
    ip netns exec "${NS_GW[$side]}" "$SLUICED" --config "$conf" --foreground \
        >>"${GW_LOG[$side]}" 2>&1 9>&- &
    GW_PID[$side]=$!
    wait_gateway_ready "$side" "$label"
    [ "$tun" = tun ] || return 0
    # sluiced owns the TUN device: it must be up with the configured
    # addresses and MTU by the time it answers wg(8).
    wait_for 5 tun_configured "$side" ||
        fail "$label ($side): $ifname not up with ${TUN4[$side]}/24, ${TUN6[$side]}/64, mtu $TUNNEL_MTU: $(in_gw "$side" ip -o addr show dev "$ifname" 2>&1 | tr '\n' ' ')"
}

start_sluiced() {
    local side=$1 driver=${6:-kernel}
    case $driver in
        dpdk) take_over_links "$side" ;;
        af_xdp) share_wan_link "$side" ;;
    esac
    sluiced_yaml "$1" "$2" "$3" "$4" "$5" "$driver" "${7:-}" >"$TMP/$side.yaml"
    # L2 mode has no TUN device: sluice routes by itself.
    launch_sluiced "$side" "$TMP/$side.yaml" sluiced "$([ "$driver" = dpdk ] && echo no-tun || echo tun)"
}

tun_configured() {
    local side=$1 ifname=${GW_IF[$1]} link addrs
    link=$(in_gw "$side" ip -o link show dev "$ifname") || return 1
    [[ $link == *"<"*UP*">"* && $link == *" mtu $TUNNEL_MTU "* ]] || return 1
    addrs=$(in_gw "$side" ip -o addr show dev "$ifname")
    [[ $addrs == *" ${TUN4[$side]}/24 "* && $addrs == *" ${TUN6[$side]}/64 "* ]]
}

# stop_gateway SIDE [SIGNAL]: signals side's gateway (TERM by default) and
# waits up to 10 s for it to exit; its exit status lands in GW_STATUS[SIDE].
# After TERM the process must exit 0 and remove its sockets and its device.
stop_gateway() {
    local side=$1 sig=${2:-TERM} pid=${GW_PID[$1]} kind=${GW_KIND[$1]} rc=0
    pid_running "$pid" || fail "$kind ($side) was not running when told to stop"
    # stderr off meanwhile: bash reports a job killed by a signal ("Killed").
    { kill "-$sig" "$pid" && wait_for 10 eval "! pid_running $pid" && { wait "$pid" || rc=$?; }; } 2>/dev/null ||
        fail "$kind ($side) still running 10 s after SIG$sig"
    GW_STATUS[$side]=$rc
    echo "==== $(date +%T.%N) stopped by SIG$sig, status $rc" >>"${GW_LOG[$side]}"
    if [ "$sig" = TERM ] || [ "$sig" = INT ]; then
        [ "$rc" = 0 ] || fail "$kind ($side) exited with status $rc after SIG$sig (want 0)"
        ! [ -e "$(uapi_socket "$side")" ] || fail "$kind ($side) left $(uapi_socket "$side") behind after SIG$sig"
        if is_sluice "$side" && [ -e "$(ctl_socket "$side")" ]; then
            fail "sluiced ($side) left $(ctl_socket "$side") behind after SIG$sig"
        fi
    fi
    has_tunnel_device "$side" || return 0
    wait_for 5 eval "! in_gw $side ip link show dev ${GW_IF[$side]}" ||
        fail "$kind ($side): ${GW_IF[$side]} still exists after the process exited"
}

# restart_gateway SIDE [SIGNAL]: stop, then start with the same kind and options.
restart_gateway() {
    local side=$1
    stop_gateway "$side" "${2:-TERM}"
    # shellcheck disable=SC2086  # options are words
    start_gateway "${GW_KIND[$side]}" "$side" ${GW_OPTS[$side]}
}

gateway_rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/${GW_PID[$1]}/status"; }

# The peer's entry in `wg show IF dump` on side $1 (fields: public-key
# preshared-key endpoint allowed-ips latest-handshake rx tx keepalive).
wg_peer_field() {  # SIDE FIELD(1-based, public key = 1)
    wg show "${GW_IF[$1]}" dump | awk -v k="${PUB[$(other "$1")]}" -v f="$2" 'NR > 1 && $1 == k {print $f}'
}
latest_handshake() { wg_peer_field "$1" 5; }
peer_endpoint() { wg_peer_field "$1" 3; }

# sluicectl against side $1's daemon.
ctl() {
    local side=$1
    shift
    "$SLUICECTL" -i "${GW_IF[$side]}" "$@"
}

# ---- Traffic --------------------------------------------------------------------------

# ping_ok NS DST [WAIT_S]: a first reply within WAIT_S (default 10), then
# three more in a row. FIRST_REPLY_MS: how long the first reply took.
ping_ok() {
    local ns=$1 dst=$2 wait=${3:-10} t0
    t0=$(now_ms)
    wait_for "$wait" in_ns "$ns" ping -n -c 1 -W 1 "$dst" || return 1
    FIRST_REPLY_MS=$(($(now_ms) - t0))
    in_ns "$ns" ping -n -c 3 -i 0.2 -W 2 -q "$dst" >/dev/null 2>&1
}

# expect_ping LABEL NS DST [WAIT_S]: ping_ok as a check line.
expect_ping() {
    local label=$1 ns=$2 dst=$3 wait=${4:-10}
    ping_ok "$ns" "$dst" "$wait" || fail "ping $label ($dst): no reply within ${wait} s, or not 3 of 3 after"
    ok "ping $label ($dst), first reply after $FIRST_REPLY_MS ms"
}

# ping_hosts FROM_SIDE [WAIT_S]: host FROM pings the other host over IPv4
# and IPv6.
ping_hosts() {
    local from=$1 to
    to=$(other "$1")
    expect_ping "host $from -> host $to, IPv4" "${NS_HOST[$from]}" "${HOST4[$to]}" "${2:-10}"
    expect_ping "host $from -> host $to, IPv6" "${NS_HOST[$from]}" "${HOST6[$to]}" "${2:-10}"
}

# iperf_tcp FROM_SIDE TO_SIDE: 3 s of iperf3 TCP from host FROM to host TO.
iperf_tcp() {
    local from=$1 to=$2 port=5201 bps
    command -v iperf3 >/dev/null || skip "iperf3 not installed"
    in_host "$to" iperf3 -s -1 -p "$port" >"$TMP/iperf-server.log" 2>&1 &
    wait_for 5 eval "in_host $to ss -Hltn 'sport = :$port' | grep -q LISTEN" ||
        fail "iperf3 server on host $to did not start"
    if ! in_host "$from" timeout --foreground 20 iperf3 -c "${HOST4[$to]}" -p "$port" -t 3 -J \
        >"$TMP/iperf.json" 2>&1; then
        fail "iperf3 host $from -> host $to failed: $(python3 "$NETNS_TOOL" iperf-error "$TMP/iperf.json")"
    fi
    bps=$(python3 "$NETNS_TOOL" iperf-bps "$TMP/iperf.json") || fail "iperf3 host $from -> host $to: no result"
    [ "$bps" -gt 1000000 ] || fail "iperf3 host $from -> host $to: only $bps bit/s"
    ok "iperf3 TCP host $from -> host $to: $((bps / 1000000)) Mbit/s"
}

# transfer_sha256 SIZE_MIB FROM_SIDE TO_SIDE: SIZE_MIB of random bytes over
# TCP through the tunnel; the receiver's byte count and SHA-256 must match
# the sender's.
transfer_sha256() {
    local mib=$1 from=$2 to=$3 port=5301 t0 sent got
    in_host "$to" timeout --foreground 60 python3 "$NETNS_TOOL" recv --port "$port" >"$TMP/recv.out" 2>&1 &
    local rpid=$!
    t0=$(now_ms)
    sent=$(in_host "$from" timeout --foreground 60 python3 "$NETNS_TOOL" send --host "${HOST4[$to]}" \
        --port "$port" --mib "$mib" 2>&1) || fail "transfer host $from -> host $to: sender failed: $sent"
    wait "$rpid" || fail "transfer host $from -> host $to: receiver failed: $(cat "$TMP/recv.out")"
    got=$(cat "$TMP/recv.out")
    [ "$sent" = "$got" ] || fail "transfer host $from -> host $to: sent \"$sent\", received \"$got\""
    ok "transfer ${mib} MiB host $from -> host $to in $(($(now_ms) - t0)) ms, sha256 matches (${sent#* })"
}

# ---- af_xdp and fallback helpers ------------------------------------------------------

# xdp_prog_id NS IF: the id of the XDP program attached to IF in NS (any
# mode); status 1, nothing printed, when there is none.
xdp_prog_id() {
    local id
    id=$(ip -n "$1" -d link show dev "$2" | grep -oE 'prog/xdp[a-z]* id [0-9]+' | head -n 1) || return 1
    echo "${id##* }"
}

# ---- Streams: TCP forwards between two sluiced gateways -------------------------------
#
# Both gateways need `streams:` on their entry for each other; forwards name
# the peer as "site-a" / "site-b" (sluiced_yaml's peer names). Call these
# before start_gateway (they only change the YAML it writes):
#
#   streams_peer A                         A's entry for B gets `streams:` (allow: [])
#   streams_peer B 127.0.0.1:5201 "[fd00:2::/64]:80"   ... B lets A's forwards reach these
#   streams_setting A memory_budget 268435456          a key of A's top-level `streams:`
#   add_forward A NAME LISTEN TARGET       A listens on LISTEN; B connects to TARGET
#   streams_reset_config A                 none of the above for A any more

declare -A STREAMS_SETTINGS_YAML=() FORWARDS_YAML=()

streams_compose() {
    local side=$1 top=''
    [ -z "${STREAMS_SETTINGS_YAML[$side]:-}" ] || top+="streams:"$'\n'"${STREAMS_SETTINGS_YAML[$side]}"
    [ -z "${FORWARDS_YAML[$side]:-}" ] || top+="forwards:"$'\n'"${FORWARDS_YAML[$side]}"
    SLUICED_TOP_YAML[$side]=${top%$'\n'}
}

# streams_peer SIDE [TARGET...]: a stream session with the other side; TARGETs
# (ADDR:PORT, PREFIX:PORT, "[V6]:PORT") are what the other side's forwards may
# make SIDE's gateway connect to.
streams_peer() {
    local side=$1 t list=''
    shift
    for t in "$@"; do list+="${list:+, }\"$t\""; done
    SLUICED_PEER_YAML[$side]="streams:"$'\n'"  allow: [$list]"
}

streams_setting() {  # SIDE KEY VALUE
    STREAMS_SETTINGS_YAML[$1]+="  $2: $3"$'\n'
    streams_compose "$1"
}

# add_forward SIDE NAME LISTEN TARGET: LISTEN and TARGET as in the YAML
# (127.0.0.1:15201, "[::1]:15201"); the peer is the other side.
add_forward() {
    local side=$1 name=$2 listen=$3 target=$4
    FORWARDS_YAML[$side]+="  - name: $name"$'\n'"    listen: \"$listen\""$'\n'
    FORWARDS_YAML[$side]+="    peer: site-$(other "$side" | tr 'AB' 'ab')"$'\n'"    target: \"$target\""$'\n'
    streams_compose "$side"
}

streams_reset_config() {
    SLUICED_PEER_YAML[$1]=''
    STREAMS_SETTINGS_YAML[$1]=''
    FORWARDS_YAML[$1]=''
    SLUICED_TOP_YAML[$1]=''
}

# `sluicectl show streams --json` of side $1 into FILE; status 1 if it fails.
streams_json() { ctl "$1" show streams --json >"$2" 2>&1; }

# The session with the other side in a streams JSON file: "STATE" (opening,
# open, closed) or nothing.
streams_session_state() {
    python3 -c 'import json,sys
d=json.load(open(sys.argv[1])); s=d.get("sessions") or []
print(s[0]["state"] if s else "")' "$2" 2>/dev/null
}
# wait_streams_open SIDE SECONDS: until side's session with its peer is open.
streams_open_now() {
    streams_json "$1" "$TMP/streams-wait-$1.json" &&
        [ "$(streams_session_state "$1" "$TMP/streams-wait-$1.json")" = open ]
}
wait_streams_open() { wait_for "$2" streams_open_now "$1"; }

# stream_tool: the path of a python3 helper (written into TMP on first use)
# for forwarded TCP: servers and clients that check sizes and SHA-256, a
# connect-and-expect-close probe, a time-to-first-byte probe, connection
# holders for memory measurements, and a UDP WAN emulator (delay, loss).
# `python3 "$(stream_tool)" --help` lists the commands.
stream_tool() {
    local path=$TMP/stream_tool.py
    [ -s "$path" ] || write_stream_tool "$path"
    echo "$path"
}

write_stream_tool() {
    cat >"$1" <<'PY'
"""Forwarded-TCP helpers for the streams tests and benchmark (stdlib only).

  serve --port P [--bind A] --mode source|sink|echo1|hold [--file F] [--log F]
      source: send F to each connection, then FIN; sink: read to EOF, reply
      "BYTES SHA256\\n", FIN; echo1: echo byte by byte; hold: accept, never read.
      --log: one line per accepted connection.
  get --host H --port P [--expect "BYTES SHA"]        read to EOF, print "BYTES SHA SECONDS"
  put --host H --port P --mib N [--rate-mbps R]       send N MiB random, FIN, read the
      sink's reply; it must match; print "BYTES SHA SECONDS"
  multi --count N --put H:P --mib M [--get H:P --expect "BYTES SHA"]
      N connections at once (odd ones get when --get is given), all checked
  expect-close --host H --port P --within S   connect, send a little, wait for
      EOF or reset; prints "eof|reset after MS ms"; status 1 if still open
  ttfb --host H --port P --count N            connect+1 byte+1 byte back; median ms
  open --host H --port P --count N [--load] --stop-file F
      N connections (--load: each sends until blocked); prints "ready BYTES",
      holds them until F exists
  wan --listen-a A:P --a A:P --listen-b A:P --b A:P --delay-ms D --loss L
      UDP relay between two gateways: what arrives on listen-a goes to b from
      listen-b, and back; each direction delayed D ms, each packet dropped
      with probability L
"""
import argparse, hashlib, heapq, os, random, select, socket, statistics, sys, threading, time


def split_hp(s):
    host, _, port = s.rpartition(":")
    return host.strip("[]"), int(port)


def family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def connect(host, port, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return socket.create_connection((host, port), timeout=5)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def drain(c):
    while c.recv(1 << 16):
        pass


def cmd_serve(a):
    srv = socket.socket(family(a.bind), socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family(a.bind) == socket.AF_INET6:
        srv.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    srv.bind((a.bind, a.port))
    srv.listen(1024)
    held, lock = [], threading.Lock()
    log = open(a.log, "a", buffering=1) if a.log else None

    def handle(c):
        try:
            if a.mode == "source":
                with open(a.file, "rb") as f:
                    c.sendfile(f)
                c.shutdown(socket.SHUT_WR)
                drain(c)
            elif a.mode == "sink":
                h, n = hashlib.sha256(), 0
                while True:
                    b = c.recv(1 << 20)
                    if not b:
                        break
                    h.update(b)
                    n += len(b)
                c.sendall(f"{n} {h.hexdigest()}\n".encode())
                c.shutdown(socket.SHUT_WR)
                drain(c)
            elif a.mode == "echo1":
                while True:
                    b = c.recv(1)
                    if not b:
                        break
                    c.sendall(b)
        except OSError:
            pass
        finally:
            c.close()

    while True:
        c, peer = srv.accept()
        if log:
            log.write(f"accepted {peer[0]} {peer[1]}\n")
        if a.mode == "hold":
            with lock:
                held.append(c)
            continue
        threading.Thread(target=handle, args=(c,), daemon=True).start()


def do_get(host, port, timeout):
    t0 = time.monotonic()
    c = connect(host, port)
    c.settimeout(timeout)
    h, n = hashlib.sha256(), 0
    while True:
        b = c.recv(1 << 20)
        if not b:
            break
        h.update(b)
        n += len(b)
    c.close()
    return f"{n} {h.hexdigest()}", time.monotonic() - t0


def do_put(host, port, mib, timeout, rate_mbps=0.0):
    t0 = time.monotonic()
    c = connect(host, port)
    c.settimeout(timeout)
    h, n = hashlib.sha256(), 0
    chunk = 1 << 16
    for i in range(mib * 16):
        b = os.urandom(chunk)
        c.sendall(b)
        h.update(b)
        n += len(b)
        if rate_mbps:
            ahead = t0 + n * 8 / (rate_mbps * 1e6) - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
    c.shutdown(socket.SHUT_WR)
    reply = b""
    while True:
        b = c.recv(4096)
        if not b:
            break
        reply += b
    c.close()
    sent = f"{n} {h.hexdigest()}"
    got = reply.decode(errors="replace").strip()
    if got != sent:
        raise RuntimeError(f"sink received \"{got}\", sent \"{sent}\"")
    return sent, time.monotonic() - t0


def cmd_get(a):
    got, secs = do_get(a.host, a.port, a.timeout)
    if a.expect and got != a.expect:
        sys.exit(f"received \"{got}\", expected \"{a.expect}\"")
    print(f"{got} {secs:.2f}")


def cmd_put(a):
    try:
        sent, secs = do_put(a.host, a.port, a.mib, a.timeout, a.rate_mbps)
    except (OSError, RuntimeError) as e:
        sys.exit(f"put: {e}")
    print(f"{sent} {secs:.2f}")


def cmd_multi(a):
    results = [None] * a.count
    t0 = time.monotonic()

    def one(i):
        try:
            if a.get and i % 2 == 1:
                got, _ = do_get(*split_hp(a.get), a.timeout)
                results[i] = None if got == a.expect else f"#{i} get: \"{got}\" != \"{a.expect}\""
            else:
                do_put(*split_hp(a.put), a.mib, a.timeout)
        except Exception as e:  # noqa: BLE001 - reported below
            results[i] = f"#{i}: {type(e).__name__}: {e}"

    threads = [threading.Thread(target=one, args=(i,)) for i in range(a.count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    bad = [r for r in results if r]
    if bad:
        sys.exit(f"{len(bad)} of {a.count} failed: " + "; ".join(bad[:5]))
    print(f"{a.count} {time.monotonic() - t0:.2f}")


def cmd_expect_close(a):
    c = connect(a.host, a.port)
    t0 = time.monotonic()
    try:
        c.sendall(b"hello through a stream\n")
    except OSError:
        print(f"reset after {(time.monotonic() - t0) * 1000:.0f} ms")
        return
    c.settimeout(a.within)
    try:
        b = c.recv(4096)
        how = "eof" if not b else None
        if b:
            sys.exit(f"received {len(b)} bytes from the target: {b[:60]!r}")
    except (ConnectionResetError, BrokenPipeError):
        how = "reset"
    except socket.timeout:
        sys.exit(f"still open after {a.within} s")
    print(f"{how} after {(time.monotonic() - t0) * 1000:.0f} ms")


def cmd_ttfb(a):
    times = []
    for _ in range(a.count):
        t0 = time.perf_counter()
        c = socket.create_connection((a.host, a.port), timeout=10)
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.sendall(b"x")
        if c.recv(1) != b"x":
            sys.exit("ttfb: no echo")
        times.append((time.perf_counter() - t0) * 1000)
        c.close()
    print(f"{statistics.median(times):.3f} {min(times):.3f} {max(times):.3f}")


def cmd_open(a):
    conns = [connect(a.host, a.port) for _ in range(a.count)]
    total = 0
    if a.load:
        for c in conns:
            c.setblocking(False)
        block = os.urandom(1 << 16)
        live, idle_since = set(conns), time.monotonic()
        while time.monotonic() - idle_since < a.settle:
            _, w, _ = select.select([], list(live), [], 0.2)
            for c in w:
                try:
                    n = c.send(block)
                    total += n
                    idle_since = time.monotonic()
                except BlockingIOError:
                    pass
                except OSError:
                    live.discard(c)
    print(f"ready {total}", flush=True)
    while not os.path.exists(a.stop_file):
        time.sleep(0.2)
    for c in conns:
        c.close()


def cmd_wan(a):
    la, lb = split_hp(a.listen_a), split_hp(a.listen_b)
    dst_a, dst_b = split_hp(a.a), split_hp(a.b)
    sa = socket.socket(family(la[0]), socket.SOCK_DGRAM)
    sb = socket.socket(family(lb[0]), socket.SOCK_DGRAM)
    for s, addr in ((sa, la), (sb, lb)):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 23)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 23)
        s.bind(addr)
        s.setblocking(False)
    delay, heap, seq, written = a.delay_ms / 1000.0, [], 0, 0.0
    stats = {"a_to_b": 0, "b_to_a": 0, "dropped": 0}
    while True:
        now = time.monotonic()
        timeout = max(0.0, heap[0][0] - now) if heap else 1.0
        r, _, _ = select.select([sa, sb], [], [], timeout)
        now = time.monotonic()
        for s in r:
            while True:
                try:
                    data, _src = s.recvfrom(65535)
                except BlockingIOError:
                    break
                if random.random() < a.loss:
                    stats["dropped"] += 1
                    continue
                out = (sb, dst_b) if s is sa else (sa, dst_a)
                stats["a_to_b" if s is sa else "b_to_a"] += 1
                seq += 1
                heapq.heappush(heap, (now + delay, seq, out[0], data, out[1]))
        while heap and heap[0][0] <= now:
            _, _, s, data, dst = heapq.heappop(heap)
            try:
                s.sendto(data, dst)
            except OSError:
                pass
        if a.stats and now - written >= 1.0:
            written = now
            with open(a.stats, "w") as f:
                f.write(" ".join(f"{k}={v}" for k, v in stats.items()) + "\n")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--bind", default="0.0.0.0")
    s.add_argument("--mode", choices=["source", "sink", "echo1", "hold"], required=True)
    s.add_argument("--file")
    s.add_argument("--log")
    for name in ("get", "put", "expect-close", "ttfb", "open"):
        s = sub.add_parser(name)
        s.add_argument("--host", required=True)
        s.add_argument("--port", type=int, required=True)
        s.add_argument("--timeout", type=float, default=60)
        if name == "get":
            s.add_argument("--expect")
        if name == "put":
            s.add_argument("--mib", type=int, required=True)
            s.add_argument("--rate-mbps", type=float, default=0.0)
        if name == "expect-close":
            s.add_argument("--within", type=float, default=5)
        if name in ("ttfb", "open"):
            s.add_argument("--count", type=int, default=50)
        if name == "open":
            s.add_argument("--load", action="store_true")
            s.add_argument("--settle", type=float, default=2.0)
            s.add_argument("--stop-file", required=True)
    s = sub.add_parser("multi")
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--put", required=True)
    s.add_argument("--mib", type=int, default=4)
    s.add_argument("--get")
    s.add_argument("--expect")
    s.add_argument("--timeout", type=float, default=120)
    s = sub.add_parser("wan")
    for k in ("--listen-a", "--a", "--listen-b", "--b"):
        s.add_argument(k, required=True)
    s.add_argument("--delay-ms", type=float, default=25)
    s.add_argument("--loss", type=float, default=0.01)
    s.add_argument("--stats")
    a = p.parse_args()
    {"serve": cmd_serve, "get": cmd_get, "put": cmd_put, "multi": cmd_multi,
     "expect-close": cmd_expect_close, "ttfb": cmd_ttfb, "open": cmd_open, "wan": cmd_wan}[a.cmd](a)


if __name__ == "__main__":
    main()
PY
}

# A TCP server from stream_tool in a namespace, in the background; returns
# once it listens. serve_in NS PORT MODE [ARG...] (ARG: --file F, --bind A, --log F).
serve_in() {
    local ns=$1 port=$2 mode=$3
    shift 3
    in_ns "$ns" python3 "$(stream_tool)" serve --port "$port" --mode "$mode" "$@" \
        >>"$TMP/serve-$port.log" 2>&1 9>&- &
    wait_for 5 eval "in_ns $ns ss -Hltn 'sport = :$port' | grep -q LISTEN" ||
        fail "stream_tool serve $mode on port $port in $ns did not start: $(cat "$TMP/serve-$port.log")"
}

# The WAN emulator netem would be (this kernel may lack sch_netem): a UDP
# relay in the attacker's namespace (ATK4) between the two gateways, each
# direction delayed DELAY_MS and dropping LOSS (0..1) of the packets.
# Gateway A then needs `--endpoint "$(wan_emulator_endpoint)"` and B
# `--no-endpoint` (B learns A's address, the relay's, from A's first packet).
WAN_EMU_PORT_A=51901
WAN_EMU_PORT_B=51902
wan_emulator_endpoint() { echo "$ATK4:$WAN_EMU_PORT_A"; }
start_wan_emulator() {  # DELAY_MS LOSS
    in_ns "$NS_ATK" python3 "$(stream_tool)" wan --delay-ms "$1" --loss "$2" \
        --listen-a "$ATK4:$WAN_EMU_PORT_A" --b "${WAN4[B]}:${GW_PORT[B]}" \
        --listen-b "$ATK4:$WAN_EMU_PORT_B" --a "${WAN4[A]}:${GW_PORT[A]}" \
        --stats "$TMP/wan-emulator.stats" >>"$TMP/wan-emulator.log" 2>&1 9>&- &
    WAN_EMU_PID=$!
    wait_for 5 eval "in_ns $NS_ATK ss -Hlun 'sport = :$WAN_EMU_PORT_B' | grep -q ." ||
        fail "WAN emulator did not start: $(cat "$TMP/wan-emulator.log")"
}
stop_wan_emulator() {
    [ -n "${WAN_EMU_PID:-}" ] || return 0
    kill "$WAN_EMU_PID" 2>/dev/null || true
    wait "$WAN_EMU_PID" 2>/dev/null || true
    WAN_EMU_PID=
}
