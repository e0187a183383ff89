#!/usr/bin/env bash
# Least privilege (docs/privileges.md): started as root, veiltun sets up the TUN and the UAPI socket and then runs
# as an unprivileged user with only CAP_NET_ADMIN and CAP_NET_BIND_SERVICE and no_new_privs, on EVERY thread
# (/proc/PID/task/*/status); a capability-less waiter removes the socket when it exits; --disable-drop-privileges /
# VEILTUN_KEEP_PRIVILEGES=1 keep root.
#   ns A: veiltun (detached as wg-quick starts it, -f, multihop, kept-root) (veth 198.51.100.1)
#   ns B: wireguard-go, the tunnel's peer                                   (veth 198.51.100.2)
# Tunnel addresses 192.0.2.1-2/24. Checks: uid/gid, CapEff/CapPrm/CapBnd/CapAmb and NoNewPrivs per thread, the log
# line, the waiter's privileges and descriptors, wg set (key, a low and a high listen port, fwmark, seen on the
# socket by ss), a tunnel carrying pings (also after an MTU change), wg-quick up/down with
# WG_QUICK_USERSPACE_IMPLEMENTATION=veiltun (port 51, FwMark), the socket(s) gone after the daemon stops (link
# deleted, SIGTERM), a refused non-searchable run or program directory, and the opt-outs. Prints PASS/FAIL lines and
# "N passed, N failed".
# shellcheck disable=SC2015,SC2016,SC2317 # `a && pass || fail` is meant; sh -c '...$0' is meant; helpers run through vt_wait look unreachable
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../../scripts/lib/netns.bash
source "$here/../../scripts/lib/netns.bash"
vt_init privileges 180
vt_require wireguard-go wg-quick ping ss setpriv

A=vtprv-$VT_ID-a
B=vtprv-$VT_ID-b
IFA=vtp$VT_ID       # detached, as wg-quick starts it
IFF=vtpf$VT_ID      # -f, private run dir
IFQ=vtpq$VT_ID      # wg-quick
IFK=vtpk$VT_ID      # privileges kept
IFM=vtpm$VT_ID      # multihop exit
IFE=vtpe$VT_ID      # multihop entry
IFB=vtpg$VT_ID      # wireguard-go
PORTB=51821
DROPPED_CAPS=0000000000001400   # CAP_NET_BIND_SERVICE (10) | CAP_NET_ADMIN (12)
vt_track_if "$IFA" "$IFF" "$IFQ" "$IFK" "$IFM" "$IFE"

inA() { timeout 15 ip netns exec "$A" "$@"; }
wgA() { inA wg "$@"; }
wgB() { timeout 15 ip netns exec "$B" wg "$@"; }
daemon_pid() { vt_veiltun_pids "$A" "$1" | head -1; }
no_daemon() { [ -z "$(daemon_pid "$1")" ]; }
no_socket() { [ ! -e "$VT_RUNDIR/$1.sock" ]; }
no_link() { ! ip -n "$A" link show "$1" >/dev/null 2>&1; }

# thread_report PID: one line per thread: "uid-fields gid-fields CapEff CapPrm CapBnd CapAmb NoNewPrivs"
thread_report() {
    local t
    for t in /proc/"$1"/task/*; do
        awk '/^Uid:/{u=$2","$3","$4","$5} /^Gid:/{g=$2","$3","$4","$5} /^CapEff:/{e=$2} /^CapPrm:/{p=$2}
             /^CapBnd:/{b=$2} /^CapAmb:/{a=$2} /^NoNewPrivs:/{n=$2} END{print u, g, e, p, b, a, n}' "$t/status" 2>/dev/null
    done
}

# check_dropped NAME PID: every thread of PID runs as a non-root uid and gid (real, effective, saved, fs) with
# exactly CAP_NET_ADMIN|CAP_NET_BIND_SERVICE effective, permitted, bounding and ambient, and no_new_privs.
check_dropped() {
    local name=$1 pid=$2 report bad n
    if [ -z "$pid" ] || [ ! -d "/proc/$pid" ]; then vt_fail "$name" "no daemon process"; return 1; fi
    report=$(thread_report "$pid")
    n=$(wc -l <<<"$report")
    bad=$(awk -v caps="$DROPPED_CAPS" '{
        split($1, u, ","); split($2, g, ",")
        ok = u[1] != 0 && u[2] != 0 && u[3] != 0 && u[4] != 0 && g[1] != 0 && g[2] != 0 && g[3] != 0 && g[4] != 0
        ok = ok && $3 == caps && $4 == caps && $5 == caps && $6 == caps && $7 == 1
        if (!ok) print
    }' <<<"$report")
    if [ "$n" -ge 2 ] && [ -z "$bad" ]; then
        vt_pass "$name"
        vt_log "$name: $n threads, all: $(head -n 1 <<<"$report")"
    else
        vt_fail "$name" "$n threads; not dropped: $(head -n 3 <<<"${bad:-only $n thread(s)}")"
    fi
}

# check_root NAME PID: every thread of PID is uid 0 with all of the caller's capabilities, no_new_privs off.
check_root() {
    local name=$1 pid=$2 report bad mine
    if [ -z "$pid" ] || [ ! -d "/proc/$pid" ]; then vt_fail "$name" "no daemon process"; return 1; fi
    mine=$(awk '/^CapEff:/{print $2}' /proc/self/status)
    report=$(thread_report "$pid")
    bad=$(awk -v caps="$mine" '{ if (!($1 == "0,0,0,0" && $3 == caps && $4 == caps && $7 == 0)) print }' <<<"$report")
    [ -z "$bad" ] && vt_pass "$name" || vt_fail "$name" "expected uid 0 and CapEff $mine on every thread: $(head -n 2 <<<"$bad")"
}

# waiter_of PID: the socket waiter started beside daemon PID (its child, /bin/sh ... veiltun-uapi-waiter)
waiter_of() {
    local p
    for p in $(ps -o pid= --ppid "$1"); do
        tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q veiltun-uapi-waiter && echo "$p"
    done
}

if ! { vt_ns "$A" && vt_ns "$B" && vt_veth "$A" veth0 198.51.100.1/24 "$B" veth0 198.51.100.2/24; }; then
    vt_fail setup "cannot create namespaces/veth"
    exit 1
fi
for k in a b q m e; do vt_genkey "$k"; done
PUBA=$(cat "$VT_TMP/a.pub") PUBB=$(cat "$VT_TMP/b.pub") PUBQ=$(cat "$VT_TMP/q.pub")

# --- wireguard-go in B, peer of A's daemons (a's key at port 51, then 40000; q's key via wg-quick) -----------
if ! vt_start_wggo "$B" "$IFB" ||
    ! wgB set "$IFB" private-key "$VT_TMP/b.key" listen-port "$PORTB" \
        peer "$PUBA" allowed-ips 192.0.2.1/32 endpoint 198.51.100.1:51 ||
    ! ip -n "$B" addr add 192.0.2.2/24 dev "$IFB" || ! ip -n "$B" link set "$IFB" up; then
    vt_show_logs "$IFB"
    vt_fail setup "wireguard-go in $B did not come up"
    exit 1
fi

# --- 1. detached, as wg-quick starts it ---------------------------------------------------------------------------
if ! vt_start_veiltun "$A" "$IFA"; then
    vt_show_logs "$IFA"
    vt_fail setup "veiltun $IFA did not start"
    exit 1
fi
PID=$(daemon_pid "$IFA")
check_dropped detached-every-thread-dropped "$PID"
grep -q "Running as uid [1-9][0-9]* gid [1-9][0-9]*, capabilities net_bind_service,net_admin (CapEff $DROPPED_CAPS), no_new_privs 1" \
    "$VT_TMP/$IFA.log" && vt_pass log-says-privileges || vt_fail log-says-privileges "$(grep -m1 'Running as' "$VT_TMP/$IFA.log")"
holds_tun() { local f; for f in /proc/"$1"/fd/*; do [ "$(readlink "$f" 2>/dev/null)" = /dev/net/tun ] && return 0; done; return 1; }
holds_tun "$PID" && vt_pass daemon-holds-tun || vt_fail daemon-holds-tun "no /dev/net/tun among its descriptors"

W=$(waiter_of "$PID")
if [ -n "$W" ]; then
    wr=$(thread_report "$W")
    [ "$wr" = "0,0,0,0 0,0,0,0 0000000000000000 0000000000000000 0000000000000000 0000000000000000 1" ] &&
        vt_pass waiter-root-without-capabilities || vt_fail waiter-root-without-capabilities "$wr"
    # It and its child (cat) hold no TUN, socket or other descriptor of the daemon's: only the pipe and stdio.
    held=$(for p in "$W" $(ps -o pid= --ppid "$W"); do ls -l "/proc/$p/fd" 2>/dev/null; done | grep -E 'net/tun|socket:' || true)
    [ -z "$held" ] && vt_pass waiter-holds-no-daemon-descriptors || vt_fail waiter-holds-no-daemon-descriptors "$held"
else
    vt_fail waiter-root-without-capabilities "no waiter process beside $PID"
    vt_fail waiter-holds-no-daemon-descriptors "no waiter process"
fi

vt_check wg-set-key-low-port "wg set private-key listen-port 51 fwmark 0x42 failed" \
    wgA set "$IFA" private-key "$VT_TMP/a.key" listen-port 51 fwmark 0x42 \
    peer "$PUBB" allowed-ips 192.0.2.2/32 endpoint "198.51.100.2:$PORTB"
ip -n "$A" addr add 192.0.2.1/24 dev "$IFA" && ip -n "$A" link set "$IFA" up
[ "$(wgA show "$IFA" listen-port)" = 51 ] && [ "$(wgA show "$IFA" fwmark)" = 0x42 ] &&
    vt_pass wg-show-port-51-fwmark || vt_fail wg-show-port-51-fwmark "port $(wgA show "$IFA" listen-port) fwmark $(wgA show "$IFA" fwmark)"
sock_line() { inA ss -Huanep "sport = :$1" 2>/dev/null | grep "pid=$PID,"; }
port51_marked() { sock_line 51 | grep -q 'fwmark:0x42'; }
vt_wait 5 port51_marked && vt_pass socket-port-51-has-fwmark || vt_fail socket-port-51-has-fwmark "ss: $(inA ss -Huanep 2>&1 | head -3)"
vt_reach "$A" 192.0.2.2 15 && vt_ping "$A" 192.0.2.2 5 10 && vt_pass tunnel-ping-to-wireguard-go ||
    vt_fail tunnel-ping-to-wireguard-go "no replies from 192.0.2.2"

# A high port, the peer told of the new endpoint; then an MTU change (netlink monitor) with the tunnel still up.
wgA set "$IFA" listen-port 40000 && wgB set "$IFB" peer "$PUBA" endpoint 198.51.100.1:40000 &&
    [ "$(wgA show "$IFA" listen-port)" = 40000 ] && vt_wait 5 bash -c "ip netns exec '$A' ss -Huan 'sport = :40000' | grep -q ." &&
    vt_pass listen-port-high || vt_fail listen-port-high "port now $(wgA show "$IFA" listen-port)"
ip -n "$A" link set "$IFA" mtu 1300
vt_reach "$A" 192.0.2.2 10 && vt_ping_n "$A" 192.0.2.2 3 -s 1200 && vt_pass tunnel-after-port-and-mtu-change ||
    vt_fail tunnel-after-port-and-mtu-change "$PING_RX/3 replies"
check_dropped still-dropped-after-use "$PID"

# wg-quick down deletes the link: the daemon ends, the interface and the socket go, the waiter too.
ip -n "$A" link del "$IFA"
vt_wait 5 no_daemon "$IFA" && vt_wait 5 no_socket "$IFA" && vt_wait 3 no_link "$IFA" && { [ -z "${W:-}" ] || vt_wait 3 bash -c "! kill -0 $W 2>/dev/null"; } &&
    vt_pass link-deleted-daemon-and-socket-gone || vt_fail link-deleted-daemon-and-socket-gone \
    "daemon $(daemon_pid "$IFA"), socket $(ls "$VT_RUNDIR/$IFA.sock" 2>&1), waiter $(ps -o pid= -p "${W:-0}")"

# --- 2. -f in a private run dir (the daemon's PID is the one started: the drop re-executes in place) -------------
RUN=$VT_TMP/run-f
if LOG_LEVEL=verbose vt_daemon_start "$A" "$RUN" "$VT_TMP/$IFF.log" "$IFF" "$IFF" "$VT_VEILTUN" -f "$IFF"; then
    vt_pass foreground-started
    check_dropped foreground-every-thread-dropped "$VT_DAEMON_PID"
    [ "$(readlink -f "/proc/$VT_DAEMON_PID/exe")" = "$(readlink -f "$VT_VEILTUN")" ] && vt_pass foreground-same-pid-is-daemon ||
        vt_fail foreground-same-pid-is-daemon "pid $VT_DAEMON_PID is $(readlink "/proc/$VT_DAEMON_PID/exe")"
    vt_check foreground-wg-set "wg set failed" vt_priv "$A" "$RUN" wg set "$IFF" private-key "$VT_TMP/q.key" listen-port 52 fwmark 7
    kill -TERM "$VT_DAEMON_PID"
    sock_gone() { [ ! -e "$RUN/$IFF.sock" ]; }
    vt_wait 5 bash -c "! kill -0 $VT_DAEMON_PID 2>/dev/null" && vt_wait 5 sock_gone && vt_wait 3 no_link "$IFF" &&
        vt_pass foreground-sigterm-socket-removed || vt_fail foreground-sigterm-socket-removed "$(find "$RUN" -mindepth 1 2>&1)"
    vt_kill_pids "$VT_DAEMON_PID"
else
    vt_fail foreground-started "$VT_ERR: $(tail -n 3 "$VT_TMP/$IFF.log")"
fi

# A run dir the unprivileged daemon could not search: refused at start, with the reason, and nothing left behind.
RUN2=$VT_TMP/run-closed
mkdir -p "$RUN2" && chmod 700 "$RUN2"
out=$(WG_PROCESS_FOREGROUND=1 timeout 15 ip netns exec "$A" sh -c 'mount --bind "$0" /var/run/wireguard && exec "$@"' \
    "$RUN2" "$VT_VEILTUN" "$IFF" 2>&1)
rc=$?
[ "$rc" = 1 ] && grep -q 'not searchable' <<<"$out" && [ -z "$(ls -A "$RUN2")" ] && no_link "$IFF" &&
    vt_pass closed-run-dir-refused || vt_fail closed-run-dir-refused "exit $rc: $out; left: $(ls -A "$RUN2")"

# A program in a directory the unprivileged user cannot reach ($VT_TMP is 0700): refused before dropping.
mkdir -p "$VT_TMP/bin" && cp "$(readlink -f "$VT_VEILTUN")" "$VT_TMP/bin/veiltun" &&
    cp "$(dirname "$(readlink -f "$VT_VEILTUN")")"/*.so "$VT_TMP/bin/" 2>/dev/null
out=$(timeout 15 ip netns exec "$A" "$VT_TMP/bin/veiltun" "$IFF" 2>&1)
rc=$?
[ "$rc" = 1 ] && grep -q 'is not searchable by others' <<<"$out" && no_link "$IFF" && no_socket "$IFF" &&
    vt_pass unreachable-program-refused || vt_fail unreachable-program-refused "exit $rc: $out"

# --- 3. wg-quick up/down with veiltun (ListenPort 51 and FwMark need the two capabilities) -----------------------
wgB set "$IFB" peer "$PUBA" remove peer "$PUBQ" allowed-ips 192.0.2.3/32 endpoint 198.51.100.1:51
cat >"$VT_TMP/$IFQ.conf" <<EOF
[Interface]
Address = 192.0.2.3/24
ListenPort = 51
FwMark = 0x51
PrivateKey = $(cat "$VT_TMP/q.key")

[Peer]
PublicKey = $PUBB
AllowedIPs = 192.0.2.2/32
Endpoint = 198.51.100.2:$PORTB
EOF
if WG_QUICK_USERSPACE_IMPLEMENTATION=$VT_VEILTUN LOG_LEVEL=verbose timeout 40 ip netns exec "$A" wg-quick up "$VT_TMP/$IFQ.conf" \
    >"$VT_TMP/up.log" 2>&1; then
    vt_pass wg-quick-up
    check_dropped wg-quick-every-thread-dropped "$(daemon_pid "$IFQ")"
    [ "$(wgA show "$IFQ" listen-port)" = 51 ] && [ "$(wgA show "$IFQ" fwmark)" = 0x51 ] && vt_pass wg-quick-port-51-fwmark ||
        vt_fail wg-quick-port-51-fwmark "port $(wgA show "$IFQ" listen-port) fwmark $(wgA show "$IFQ" fwmark)"
    vt_reach "$A" 192.0.2.2 15 && vt_pass wg-quick-tunnel-ping || vt_fail wg-quick-tunnel-ping "no reply from 192.0.2.2"
    if timeout 30 ip netns exec "$A" wg-quick down "$VT_TMP/$IFQ.conf" >"$VT_TMP/down.log" 2>&1; then
        vt_wait 5 no_daemon "$IFQ" && vt_wait 5 no_socket "$IFQ" && no_link "$IFQ" && vt_pass wg-quick-down-removes-all ||
            vt_fail wg-quick-down-removes-all "daemon $(daemon_pid "$IFQ"), socket $(ls "$VT_RUNDIR/$IFQ.sock" 2>&1)"
    else
        vt_fail wg-quick-down-removes-all "wg-quick down: $(tail -n 3 "$VT_TMP/down.log")"
    fi
else
    vt_fail wg-quick-up "$(tail -n 5 "$VT_TMP/up.log")"
fi

# --- 4. multihop: both sockets handed over, both removed --------------------------------------------------------
if LOG_LEVEL=verbose timeout 30 ip netns exec "$A" "$VT_VEILTUN" --via "$IFE" --entry-address 192.0.2.9 "$IFM" \
    >>"$VT_TMP/$IFM.log" 2>&1; then
    P=$(daemon_pid "$IFM")
    check_dropped multihop-every-thread-dropped "$P"
    wgA show "$IFE" >/dev/null && wgA set "$IFE" private-key "$VT_TMP/e.key" listen-port 53 && wgA show "$IFM" >/dev/null &&
        vt_pass multihop-both-uapi-served || vt_fail multihop-both-uapi-served "wg on $IFE/$IFM failed"
    ip -n "$A" link del "$IFM"
    vt_wait 5 no_daemon "$IFM" && vt_wait 5 no_socket "$IFM" && vt_wait 5 no_socket "$IFE" && vt_pass multihop-both-sockets-removed ||
        vt_fail multihop-both-sockets-removed "$(ls "$VT_RUNDIR/$IFM.sock" "$VT_RUNDIR/$IFE.sock" 2>&1)"
else
    vt_show_logs "$IFM"
    vt_fail multihop-every-thread-dropped "multihop daemon did not start"
fi

# --- 5. the opt-outs: variable (detached) and flag (-f) keep uid 0 and every capability --------------------------
if VEILTUN_KEEP_PRIVILEGES=1 vt_start_veiltun "$A" "$IFK"; then
    P=$(daemon_pid "$IFK")
    check_root keep-variable-stays-root "$P"
    [ -z "$(waiter_of "$P")" ] && vt_pass keep-no-waiter || vt_fail keep-no-waiter "a waiter was started"
    grep -q 'privileges kept on request' "$VT_TMP/$IFK.log" && vt_pass keep-logged || vt_fail keep-logged "no log line"
    ip -n "$A" link del "$IFK"
    vt_wait 5 no_daemon "$IFK" && vt_wait 5 no_socket "$IFK" && vt_pass keep-socket-removed || vt_fail keep-socket-removed "still there"
else
    vt_fail keep-variable-stays-root "did not start"
fi
ip netns exec "$A" "$VT_VEILTUN" -f --disable-drop-privileges "$IFK" 2>>"$VT_TMP/$IFK.log" &
vt_track_pid $!
sock_up() { [ -S "$VT_RUNDIR/$IFK.sock" ]; }
if vt_wait 10 sock_up; then
    P=$(daemon_pid "$IFK")
    check_root keep-flag-stays-root "$P"
    kill -TERM "$P"
    vt_wait 5 no_socket "$IFK" && vt_pass keep-flag-sigterm-socket-removed || vt_fail keep-flag-sigterm-socket-removed "still there"
else
    vt_fail keep-flag-stays-root "did not start"
fi
