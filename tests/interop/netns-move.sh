#!/usr/bin/env bash
# netns-move.sh — WireGuard interfaces moved to another network namespace (issue #18), veiltun against
# wireguard-go in both roles. Each daemon starts in an outer namespace (where its UDP socket stays) and its interface
# is moved into an inner one (`ip link set wg0 netns INNER`), as WireGuard documents for containers and as the
# kernel's selftest (and wireguard-go's port of it) builds its scenarios:
#
#   outer  oA 198.51.100.1/24 2001:db8:1::1/64  ===veth===  oB 198.51.100.2/24 2001:db8:1::2/64   daemons, sockets
#   inner  iA wg0 192.0.2.1/24 2001:db8:2::1/64             iB wg0 192.0.2.2/24 2001:db8:2::2/64  (moved from oX)
#   inner² jA wg1 203.0.113.1/24                             jB wg1 203.0.113.2/24 wg1's daemons run in iX, their
#                                                            socket rides wg0 (wg-through-wg), interface in jX
#
# Per pair: the moved daemon binds its socket in the outer namespace; ping and iperf3 (TCP, 2 s) over IPv4, then
# over IPv6 outer endpoints; roaming (new listen port); an MTU change in the inner namespace; a peer restart;
# wg-through-wg; sticky source following a better route (selftest 19: a second veth with its own src); and
# deleting the moved interface from its inner namespace stops the daemon. The veiltun daemons run unprivileged (no
# setns into the inner namespace): they must say once that they follow wg0 by netns id, see it go down (log, socket
# closed) and up again (socket, traffic), and see MTU changes made inside ("MTU updated: N"). Prints PASS/FAIL lines and
# "N passed, N failed". MV_PAIRS="veiltun-wggo wggo-veiltun" by default (veiltun-veiltun may be added).
# shellcheck disable=SC2015,SC2317  # helpers run through check/vt_wait look unreachable to shellcheck
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../../scripts/lib/netns.bash
source "$here/../../scripts/lib/netns.bash"
vt_init netns-move 240
vt_require wireguard-go iperf3 ping ss
: "${MV_PAIRS:=veiltun-wggo wggo-veiltun}"
export LOG_LEVEL=${LOG_LEVEL:-verbose}
vt_clean_stale vtmv

declare -gA IMPL=() OUT=() IN=() IN2=() PID=() PUB=() PUB1=()
declare -gA PORT=([A]=51820 [B]=51821) PORT1=([A]=52820 [B]=52821)
declare -gA UL4=([A]=198.51.100.1 [B]=198.51.100.2) UL6=([A]=2001:db8:1::1 [B]=2001:db8:1::2)
declare -gA OV4=([A]=192.0.2.1 [B]=192.0.2.2) OV6=([A]=2001:db8:2::1 [B]=2001:db8:2::2)
declare -gA OV14=([A]=203.0.113.1 [B]=203.0.113.2)
PAIR='' DIR='' ERR=''

other() { if [ "$1" = A ]; then echo B; else echo A; fi; }
impl_cmd() { case $1 in veiltun) echo "$VT_VEILTUN" ;; wggo) echo "$VT_WGGO" ;; esac; }
# wgo SIDE ARGS: wg(8) beside SIDE's wg0 daemon (outer namespace, its private run dir)
wgo() { local s=$1; shift; vt_priv "${OUT[$s]}" "$DIR/run-$s" wg "$@"; }
# wgi SIDE ARGS: wg(8) beside SIDE's wg1 daemon (inner namespace)
wgi() { local s=$1; shift; vt_priv "${IN[$s]}" "$DIR/run1-$s" wg "$@"; }
endpoint_of() { wgo "$1" show wg0 endpoints 2>/dev/null | awk -v k="${PUB[$(other "$1")]}" '$1 == k {print $2}'; }
check() { local name=$1; shift; if "$@"; then vt_pass "$PAIR/$name"; else vt_fail "$PAIR/$name" "$ERR"; fi; }

# start NS RUNDIR LOG IF IMPL: a daemon in NS, PID in VT_DAEMON_PID
start() {
    local -a argv
    read -r -a argv <<<"$(impl_cmd "$5")"
    vt_daemon_start "$1" "$2" "$3" "$4" "$4" "${argv[@]}" -f "$4"
}

# up_side SIDE: start wg0's daemon in the outer namespace, move wg0 inside, configure, bring it up
up_side() {
    local s=$1 o
    o=$(other "$s")
    start "${OUT[$s]}" "$DIR/run-$s" "$DIR/wg0-$s.log" wg0 "${IMPL[$s]}" || { ERR="daemon $s: $VT_ERR"; return 1; }
    PID[$s]=$VT_DAEMON_PID
    ip -n "${OUT[$s]}" link set wg0 netns "${IN[$s]}" || { ERR="moving $s's wg0"; return 1; }
    wgo "$s" set wg0 private-key "$DIR/$s.key" listen-port "${PORT[$s]}" \
        peer "${PUB[$o]}" allowed-ips "${OV4[$o]}/32,${OV6[$o]}/128" endpoint "${UL4[$o]}:${PORT[$o]}" ||
        { ERR="wg set on $s"; return 1; }
    ip -n "${IN[$s]}" addr add "${OV4[$s]}/24" dev wg0 && ip -n "${IN[$s]}" addr add "${OV6[$s]}/64" dev wg0 nodad &&
        ip -n "${IN[$s]}" link set wg0 mtu 1420 up || { ERR="addressing $s's wg0"; return 1; }
}

c_sockets() {   # the moved daemon binds its UDP socket(s) in the outer namespace, none inside
    local s
    for s in A B; do
        vt_wait 5 eval "ip netns exec ${OUT[$s]} ss -Huln | grep -q ':${PORT[$s]} '" ||
            { ERR="$s (${IMPL[$s]}): no UDP socket on ${PORT[$s]} in the outer namespace"; return 1; }
        ! ip netns exec "${IN[$s]}" ss -Huln | grep -q ":${PORT[$s]} " ||
            { ERR="$s (${IMPL[$s]}): a socket in the inner namespace"; return 1; }
    done
}
c_ping() {  # c_ping FROM DEST
    vt_reach "${IN[$1]}" "$2" 10 && vt_ping_n "${IN[$1]}" "$2" 5 || { ERR="$1 -> $2: ${PING_RX:-0}/5 replies"; return 1; }
}
c_iperf() { # c_iperf FROM DEST : 2 s of TCP from FROM's inner namespace
    local o
    o=$(other "$1")
    ip netns exec "${IN[$o]}" timeout 20 iperf3 -s -1 -B "$2" </dev/null >/dev/null 2>&1 &
    local srv=$!
    vt_track_pid "$srv"
    vt_wait 5 eval "ip netns exec ${IN[$o]} ss -Htln | grep -q ':5201 '" || { ERR="iperf3 server did not start"; vt_kill_pids "$srv"; return 1; }
    local out
    out=$(timeout 20 ip netns exec "${IN[$1]}" iperf3 -c "$2" -t 2 -f m 2>&1)
    local rc=$?
    vt_kill_pids "$srv"
    [ "$rc" -eq 0 ] || { ERR="iperf3 to $2 failed: $(tail -n 2 <<<"$out" | tr '\n' ' ')"; return 1; }
    vt_log "$PAIR iperf3 $1 -> $2: $(grep -E 'receiver' <<<"$out" | awk '{print $7, $8}')"
}
c_ipv6_outer() {    # endpoints switched to IPv6 outer addresses
    wgo A set wg0 peer "${PUB[B]}" endpoint "[${UL6[B]}]:${PORT[B]}" &&
        wgo B set wg0 peer "${PUB[A]}" endpoint "[${UL6[A]}]:${PORT[A]}" || { ERR="wg set endpoint"; return 1; }
    c_ping A "${OV4[B]}" && c_ping B "${OV6[A]}" || return 1
    [ "$(endpoint_of B)" = "[${UL6[A]}]:${PORT[A]}" ] || { ERR="B sees A at $(endpoint_of B)"; return 1; }
}
c_roaming() {   # A moves to another listen port; B learns it from the next authenticated packet
    wgo A set wg0 listen-port 9999 || { ERR="listen-port 9999"; return 1; }
    PORT[A]=9999
    c_ping A "${OV4[B]}" || return 1
    [ "$(endpoint_of B)" = "[${UL6[A]}]:9999" ] || { ERR="B sees A at $(endpoint_of B), not [${UL6[A]}]:9999"; return 1; }
    ip netns exec "${OUT[A]}" ss -Huln | grep -q ':9999 ' || { ERR="no socket on 9999 in A's outer namespace"; return 1; }
}
c_mtu() {   # MTU changed inside: full-size DF pings at the new MTU, both ways, and back
    local s
    for s in A B; do ip -n "${IN[$s]}" link set wg0 mtu 1280 || { ERR="mtu 1280 on $s"; return 1; }; done
    vt_ping_n "${IN[A]}" "${OV4[B]}" 3 -M "do" -s 1252 || { ERR="A->B 1280-byte DF: $PING_RX/3"; return 1; }
    vt_ping_n "${IN[B]}" "${OV6[A]}" 3 -M "do" -s 1232 || { ERR="B->A 1280-byte v6: $PING_RX/3"; return 1; }
    for s in A B; do ip -n "${IN[$s]}" link set wg0 mtu 1420 || { ERR="mtu 1420 on $s"; return 1; }; done
    vt_ping_n "${IN[A]}" "${OV4[B]}" 3 -M "do" -s 1392 || { ERR="A->B 1420-byte DF after the change back: $PING_RX/3"; return 1; }
}
# log_count SIDE TEXT: lines of SIDE's wg0 log that contain TEXT
log_count() { grep -cF -- "$2" "$DIR/wg0-$1.log" 2>/dev/null; }
# The veiltun daemons run unprivileged (the default since #14): no CAP_SYS_ADMIN, so no setns(2) into the inner
# namespace. They must still follow their moved wg0 (netns id + RTM_GETLINK from the outer namespace).
c_followed_by_nsid() {  # each veiltun side says once how it follows wg0, and never that it is degraded
    local s n
    for s in A B; do
        [ "${IMPL[$s]}" = veiltun ] || continue
        grep -q 'capabilities net_bind_service,net_admin ' "$DIR/wg0-$s.log" || { ERR="$s: daemon not unprivileged"; return 1; }
        n=$(log_count "$s" "followed by polling RTM_GETLINK with netns id")
        [ "$n" = 1 ] || { ERR="$s: 'followed by polling' logged $n times, not once"; return 1; }
        ! grep -q 'ERROR.*out of reach' "$DIR/wg0-$s.log" || { ERR="$s: degraded to the probe: $(grep 'out of reach' "$DIR/wg0-$s.log" | head -n 1)"; return 1; }
    done
}
c_link_down_up_seen() { # link down inside: the daemon sees it (closes its socket, logs it); up again: traffic
    local s o n
    for s in A B; do
        [ "${IMPL[$s]}" = veiltun ] || continue
        o=$(other "$s") n=$(log_count "$s" "interface is down")
        ip -n "${IN[$s]}" link set wg0 down || { ERR="link down on $s"; return 1; }
        # On failure the link is brought up again, so that the checks after this one are not failed by it.
        vt_wait 4 eval "[ \$(log_count $s 'interface is down') -gt $n ]" ||
            { ERR="$s: no 'interface is down' within 4 s of the link going down inside"; ip -n "${IN[$s]}" link set wg0 up; return 1; }
        vt_wait 2 eval "! ip netns exec ${OUT[$s]} ss -Huln | grep -q ':${PORT[$s]} '" ||
            { ERR="$s: UDP socket on ${PORT[$s]} still open with the link down"; ip -n "${IN[$s]}" link set wg0 up; return 1; }
        ip -n "${IN[$s]}" link set wg0 up || { ERR="link up on $s"; return 1; }
        vt_wait 4 eval "ip netns exec ${OUT[$s]} ss -Huln | grep -q ':${PORT[$s]} '" ||
            { ERR="$s: no UDP socket on ${PORT[$s]} within 4 s of the link coming back up"; return 1; }
        # IPv4 only: a link that went down lost its IPv6 addresses (keep_addr_on_down is 0)
        c_ping "$s" "${OV4[$o]}" && c_ping "$o" "${OV4[$s]}" || return 1
    done
}
c_mtu_seen() {  # an MTU change inside reaches the daemon ("MTU updated: N", as wireguard-go logs it)
    local s m n
    for s in A B; do
        [ "${IMPL[$s]}" = veiltun ] || continue
        for m in 1300 1420; do
            n=$(log_count "$s" "MTU updated: $m")
            ip -n "${IN[$s]}" link set wg0 mtu "$m" || { ERR="mtu $m on $s"; return 1; }
            vt_wait 4 eval "[ \$(log_count $s 'MTU updated: $m') -gt $n ]" || { ERR="$s: no 'MTU updated: $m' within 4 s"; return 1; }
        done
    done
    vt_ping_n "${IN[A]}" "${OV4[B]}" 3 -M "do" -s 1392 || { ERR="A->B 1420-byte DF after the changes: $PING_RX/3"; return 1; }
}
c_restart() {   # c_restart SIDE : the daemon of SIDE restarts (moved again); traffic resumes
    local s=$1 o
    o=$(other "$s")
    vt_daemon_stop "${PID[$s]}" "${IN[$s]}" wg0
    ip -n "${IN[$s]}" link show wg0 >/dev/null 2>&1 && { ERR="$s's wg0 still exists after its daemon stopped"; return 1; }
    up_side "$s" || return 1
    wgo "$o" set wg0 peer "${PUB[$s]}" endpoint "${UL4[$s]}:${PORT[$s]}" || { ERR="re-pointing $o at $s"; return 1; }
    # The restarted side speaks first, as in the kernel's selftest: the survivor would keep sending on its old
    # session (which the new daemon cannot know) until its 15 s rekey timeout.
    c_ping "$s" "${OV4[$o]}" && c_ping "$o" "${OV4[$s]}"
}
c_wg_in_wg() {  # wg1 daemons in the inner namespaces, their interface moved one level further in, carried by wg0
    local s o
    for s in A B; do
        o=$(other "$s")
        start "${IN[$s]}" "$DIR/run1-$s" "$DIR/wg1-$s.log" wg1 "${IMPL[$s]}" || { ERR="wg1 daemon $s: $VT_ERR"; return 1; }
        ip -n "${IN[$s]}" link set wg1 netns "${IN2[$s]}" || { ERR="moving $s's wg1"; return 1; }
        wgi "$s" set wg1 private-key "$DIR/$s.key1" listen-port "${PORT1[$s]}" \
            peer "${PUB1[$o]}" allowed-ips "${OV14[$o]}/32" endpoint "[${OV6[$o]}]:${PORT1[$o]}" || { ERR="wg set wg1 on $s"; return 1; }
        ip -n "${IN2[$s]}" addr add "${OV14[$s]}/24" dev wg1 && ip -n "${IN2[$s]}" link set wg1 mtu 1340 up ||
            { ERR="addressing $s's wg1"; return 1; }
    done
    vt_reach "${IN2[A]}" "${OV14[B]}" 10 && vt_ping_n "${IN2[A]}" "${OV14[B]}" 5 -s 1312 -M "do" ||
        { ERR="through wg1 (inside wg0): ${PING_RX:-0}/5"; return 1; }
    vt_ping_n "${IN2[B]}" "${OV14[A]}" 5 || { ERR="through wg1 B->A: ${PING_RX:-0}/5"; return 1; }
}
c_better_route() {  # selftest 19: a better route with its own src appears on A's side; B learns that source
    local vA=vmv3 vB=vmv4
    ip -n "${OUT[A]}" link add "$vA" type veth peer name "$vB" netns "${OUT[B]}" &&
        ip -n "${OUT[A]}" addr add 198.51.100.3/24 dev "$vA" && ip -n "${OUT[A]}" link set "$vA" up &&
        ip -n "${OUT[B]}" link set "$vB" up || { ERR="second veth"; return 1; }
    wgo A set wg0 peer "${PUB[B]}" endpoint "${UL4[B]}:${PORT[B]}" || { ERR="endpoint v4"; return 1; }
    ip -n "${OUT[A]}" route flush dev veth0 && ip -n "${OUT[A]}" route flush dev "$vA" &&
        ip -n "${OUT[A]}" route add 198.51.100.0/24 dev veth0 src 198.51.100.1 metric 2 || { ERR="routes"; return 1; }
    c_ping A "${OV4[B]}" || return 1
    [ "$(endpoint_of B)" = "${UL4[A]}:9999" ] || { ERR="before: B sees A at $(endpoint_of B)"; return 1; }
    ip -n "${OUT[A]}" route add 198.51.100.0/24 dev "$vA" src 198.51.100.3 metric 1 || { ERR="better route"; return 1; }
    local ns k
    for ns in "${OUT[A]}" "${OUT[B]}"; do
        for k in all veth0 "$vA" "$vB"; do ip netns exec "$ns" sh -c "echo 0 > /proc/sys/net/ipv4/conf/$k/rp_filter" 2>/dev/null; done
    done
    vt_ping_n "${IN[A]}" "${OV4[B]}" 2 || { ERR="after the route change: $PING_RX/2"; return 1; }
    [ "$(endpoint_of B)" = "198.51.100.3:9999" ] || { ERR="after: B sees A at $(endpoint_of B), not 198.51.100.3:9999"; return 1; }
}
c_delete() {    # deleting a moved wg0 from its inner namespace stops its daemon
    local s
    for s in A B; do
        ip -n "${IN[$s]}" link del wg0 || { ERR="ip link del on $s"; return 1; }
        vt_wait 5 eval "! kill -0 ${PID[$s]} 2>/dev/null" || { ERR="$s (${IMPL[$s]}) still running 5 s after its wg0 was deleted"; return 1; }
        wait "${PID[$s]}" 2>/dev/null
    done
}

run_pair() {
    local tag=$1 s
    IMPL[A]=${tag%-*} IMPL[B]=${tag#*-} PAIR=$tag
    DIR="$VT_TMP/$tag"; mkdir -p "$DIR"
    for s in A B; do
        OUT[$s]=vtmv$VT_ID-$tag-o${s,,} IN[$s]=vtmv$VT_ID-$tag-i${s,,} IN2[$s]=vtmv$VT_ID-$tag-j${s,,}
        vt_ns "${OUT[$s]}" && vt_ns "${IN[$s]}" && vt_ns "${IN2[$s]}" || { vt_fail "$PAIR/setup" "$VT_ERR"; return; }
        ( umask 077; wg genkey >"$DIR/$s.key"; wg genkey >"$DIR/$s.key1" )
        PUB[$s]=$(wg pubkey <"$DIR/$s.key") PUB1[$s]=$(wg pubkey <"$DIR/$s.key1")
    done
    vt_veth "${OUT[A]}" veth0 198.51.100.1/24 "${OUT[B]}" veth0 198.51.100.2/24 &&
        ip -n "${OUT[A]}" addr add 2001:db8:1::1/64 dev veth0 nodad && ip -n "${OUT[B]}" addr add 2001:db8:1::2/64 dev veth0 nodad ||
        { vt_fail "$PAIR/setup" "veth: $VT_ERR"; return; }
    if ! up_side A || ! up_side B; then vt_fail "$PAIR/setup" "$ERR"; tail -n 5 "$DIR"/*.log >&2; return; fi
    check sockets-stay-outside c_sockets
    check ping-ipv4-a-to-b c_ping A "${OV4[B]}"
    check ping-ipv6-b-to-a c_ping B "${OV6[A]}"
    check iperf3-ipv4-a-to-b c_iperf A "${OV4[B]}"
    check ipv6-outer-endpoints c_ipv6_outer
    check iperf3-over-ipv6-outer-b-to-a c_iperf B "${OV6[A]}"
    check roaming-listen-port c_roaming
    check mtu-change-inside c_mtu
    check followed-by-netns-id c_followed_by_nsid
    check daemon-sees-link-down-up c_link_down_up_seen
    check daemon-sees-mtu-change c_mtu_seen
    check restart-b c_restart B
    check restart-a c_restart A
    check wg-through-wg c_wg_in_wg
    check sticky-source-follows-better-route c_better_route
    check delete-inside-stops-daemon c_delete
    if [ "$VT_FAIL" -gt 0 ]; then
        for s in "$DIR"/*.log; do vt_log "---- $s"; tail -n 12 "$s" | sed 's/^/#   /' >&2; done
    fi
    vt_ns_del "${OUT[A]}" "${OUT[B]}" "${IN[A]}" "${IN[B]}" "${IN2[A]}" "${IN2[B]}"
}

for p in $MV_PAIRS; do run_pair "$p"; done
exit 0
