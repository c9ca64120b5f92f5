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
