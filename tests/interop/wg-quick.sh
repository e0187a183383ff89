#!/usr/bin/env bash
# wg-quick drives veiltun as its userspace implementation, against a real wireguard-go, in two namespaces:
#   ns A: WG_QUICK_USERSPACE_IMPLEMENTATION=veiltun wg-quick up $VT_TMP/vtq<pid>.conf  (veth 198.51.100.1)
#   ns B: wireguard-go configured with wg(8)                                            (veth 198.51.100.2)
# Tunnel addresses 192.0.2.1-2/24 and 2001:db8:a::1-2/64. There is no kernel WireGuard module here, so wg-quick's
# `ip link add type wireguard` fails and it falls back to "$WG_QUICK_USERSPACE_IMPLEMENTATION IF" (wg-quick(8)).
# Checks: up, PostUp/PostDown hooks, wg show, pings both ways (v4, v6, full MTU), wg set (peer options with a PSK
# handshake, fwmark, listen port with the peer roaming), addconf, syncconf (keeping the session), showconf|setconf,
# an IPv6 underlay endpoint, and wg-quick down removing the interface and the socket and ending the daemon. Prints PASS/FAIL lines and "N passed, N failed".
# shellcheck disable=SC2317 # helpers run through vt_check/vt_wait look unreachable to shellcheck
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../../scripts/lib/netns.bash
source "$here/../../scripts/lib/netns.bash"
vt_init wg-quick 90
vt_require wg-quick wireguard-go ping

A=vtquick-$VT_ID-a
B=vtquick-$VT_ID-b
IFA=vtq$VT_ID    # the config file's name gives wg-quick the interface name
IFB=vtqg$VT_ID
PORTA=51820
PORTB=51821
CONF=$VT_TMP/$IFA.conf
export WG_QUICK_USERSPACE_IMPLEMENTATION=$VT_VEILTUN   # the veiltun the checks look for (VEILTUN, or on PATH)
export WG_HIDE_KEYS=never

wgA() { timeout 15 ip netns exec "$A" wg "$@"; }
wgB() { timeout 15 ip netns exec "$B" wg "$@"; }
# The peer lines of `wg show IF dump` without the volatile columns (handshake time, rx, tx):
# public-key preshared-key endpoint allowed-ips persistent-keepalive, sorted.
peers_of() { wgA show "$IFA" dump | tail -n +2 | awk '{print $1, $2, $3, $4, $8}' | sort; }

if ! { vt_ns "$A" && vt_ns "$B" && vt_veth "$A" veth0 198.51.100.1/24 "$B" veth0 198.51.100.2/24; }; then
    vt_fail setup "cannot create namespaces/veth"
    exit 1
fi
for k in a b c d; do vt_genkey "$k"; done
PUBA=$(cat "$VT_TMP/a.pub") PUBB=$(cat "$VT_TMP/b.pub") PUBC=$(cat "$VT_TMP/c.pub") PUBD=$(cat "$VT_TMP/d.pub")
# The interface and socket that wg-quick (through veiltun) will create: cleaned up at exit if still there.
vt_track_if "$IFA"

# --- ns B: wireguard-go, configured with wg(8) -----------------------------------------------------------------
if ! vt_start_wggo "$B" "$IFB" ||
    ! wgB set "$IFB" private-key "$VT_TMP/b.key" listen-port "$PORTB" \
        peer "$PUBA" allowed-ips 192.0.2.1/32,2001:db8:a::1/128 endpoint "198.51.100.1:$PORTA" ||
    ! ip -n "$B" addr add 192.0.2.2/24 dev "$IFB" ||
    ! ip -n "$B" addr add 2001:db8:a::2/64 dev "$IFB" nodad ||
    ! ip -n "$B" link set "$IFB" up; then
    vt_show_logs "$IFB"
    vt_fail setup "wireguard-go in $B did not come up"
    exit 1
fi

# --- ns A: wg-quick up with veiltun ------------------------------------------------------------------------------
umask 077
cat >"$CONF" <<EOF
[Interface]
Address = 192.0.2.1/24, 2001:db8:a::1/64
MTU = 1380
ListenPort = $PORTA
PrivateKey = $(cat "$VT_TMP/a.key")
PostUp = touch $VT_TMP/%i.up
PostDown = touch $VT_TMP/%i.down

[Peer]
PublicKey = $PUBB
AllowedIPs = 192.0.2.2/32, 2001:db8:a::2/128
Endpoint = 198.51.100.2:$PORTB
EOF

# LOG_LEVEL reaches veiltun through wg-quick; its log (stderr kept) lands in the wg-quick output file.
LOG_LEVEL=verbose timeout 40 ip netns exec "$A" wg-quick up "$CONF" >"$VT_TMP/up.log" 2>&1
rc=$?
if [ "$rc" -ne 0 ]; then
    vt_fail wg-quick-up "exit $rc: $(tail -n 5 "$VT_TMP/up.log")"
    exit 1
fi
vt_pass wg-quick-up
grep -q 'Missing WireGuard kernel module' "$VT_TMP/up.log" ||
    vt_log "note: wg-quick did not print its userspace fallback message"

vtpid=$(vt_veiltun_pids "$A" | head -1)
if [ -n "$vtpid" ]; then vt_pass veiltun-daemon-running; else vt_fail veiltun-daemon-running "no veiltun process in $A"; fi
if [ -S "$VT_RUNDIR/$IFA.sock" ]; then vt_pass uapi-socket-created; else vt_fail uapi-socket-created "$VT_RUNDIR/$IFA.sock missing"; fi
if [ -e "$VT_TMP/$IFA.up" ]; then vt_pass postup-hook; else vt_fail postup-hook "PostUp did not create $IFA.up"; fi

link=$(ip -n "$A" -o link show dev "$IFA" 2>&1)
addrs=$(ip -n "$A" -o addr show dev "$IFA" 2>&1)
if [[ $link == *"mtu 1380 "* && $link == *",UP"* && $addrs == *"192.0.2.1/24"* && $addrs == *"2001:db8:a::1/64"* ]]; then
    vt_pass interface-mtu-addresses
else
    vt_fail interface-mtu-addresses "link: $link; addrs: $addrs"
fi

# wg show: every field of the config.
dump=$(wgA show "$IFA" dump 2>&1)
read -r d_priv d_pub d_port d_fwmark <<<"$(head -1 <<<"$dump")"
want_peer="$PUBB (none) 198.51.100.2:$PORTB 192.0.2.2/32,2001:db8:a::2/128 off"
got_peer=$(peers_of)
if [ "$d_priv" = "$(cat "$VT_TMP/a.key")" ] && [ "$d_pub" = "$PUBA" ] && [ "$d_port" = "$PORTA" ] &&
    [ "$d_fwmark" = off ] && [ "$got_peer" = "$want_peer" ]; then
    vt_pass wg-show-config
else
    vt_fail wg-show-config "dump: $dump"
fi

# --- traffic both ways ------------------------------------------------------------------------------------------
vt_check ping-v4-a-to-b "no reply from 192.0.2.2 through the tunnel" vt_ping "$A" 192.0.2.2 3 10
vt_check ping-v4-b-to-a "no reply from 192.0.2.1 through the tunnel" vt_ping "$B" 192.0.2.1 3 10
vt_check ping-v6-a-to-b "no reply from 2001:db8:a::2" vt_ping "$A" 2001:db8:a::2 3 10
vt_check ping-v6-b-to-a "no reply from 2001:db8:a::1" vt_ping "$B" 2001:db8:a::1 3 10
# 1352 + 28 = 1380 bytes, the MTU exactly, DF set.
ping_mtu() { timeout 15 ip netns exec "$A" ping -n -q -c 2 -i 0.2 -w 10 -M "do" -s 1352 192.0.2.2 >/dev/null 2>&1; }
vt_check ping-full-mtu "1380-byte DF ping failed" ping_mtu
hsA=$(vt_latest_handshake "$A" "$IFA" "$PUBB")
hsB=$(vt_latest_handshake "$B" "$IFB" "$PUBA")
if [ "${hsA:-0}" -gt 0 ] && [ "${hsB:-0}" -gt 0 ]; then
    vt_pass latest-handshake-both-sides
else
    vt_fail latest-handshake-both-sides "veiltun: ${hsA:-?}, wireguard-go: ${hsB:-?}"
fi

# --- wg set -----------------------------------------------------------------------------------------------------
# Peer options: keepalive, one more allowed prefix, a preshared key.
head -c 32 /dev/urandom | base64 >"$VT_TMP/psk"
PSK=$(cat "$VT_TMP/psk")
wgA set "$IFA" peer "$PUBB" persistent-keepalive 25 preshared-key "$VT_TMP/psk" \
    allowed-ips 192.0.2.2/32,2001:db8:a::2/128,2001:db8:b::/48 >"$VT_TMP/set.log" 2>&1
rc=$?
want_peer="$PUBB $PSK 198.51.100.2:$PORTB 192.0.2.2/32,2001:db8:a::2/128,2001:db8:b::/48 25"
got_peer=$(peers_of)
if [ "$rc" -eq 0 ] && [ "$got_peer" = "$want_peer" ]; then
    vt_pass wg-set-peer
else
    vt_fail wg-set-peer "exit $rc $(cat "$VT_TMP/set.log"); got: $got_peer"
fi
# The same PSK on the wireguard-go side, then a fresh session from there (remove + re-add the peer): the new
# handshake must mix the PSK on both sides.
hs_before=$(vt_latest_handshake "$A" "$IFA" "$PUBB")
wgB set "$IFB" peer "$PUBA" remove &&
    wgB set "$IFB" peer "$PUBA" preshared-key "$VT_TMP/psk" allowed-ips 192.0.2.1/32,2001:db8:a::1/128 \
        endpoint "198.51.100.1:$PORTA"
sleep 1.1 # latest-handshake has 1 s resolution
if vt_ping "$B" 192.0.2.1 3 10; then
    hs_after=$(vt_latest_handshake "$A" "$IFA" "$PUBB")
    if [ "${hs_after:-0}" -gt "${hs_before:-0}" ]; then
        vt_pass handshake-with-psk
    else
        vt_fail handshake-with-psk "ping worked but veiltun's latest handshake did not advance ($hs_before -> $hs_after)"
    fi
else
    vt_fail handshake-with-psk "no ping from B after re-adding the peer with a PSK on both sides"
fi

# Device options: fwmark, then a new listen port (veiltun rebinds; wireguard-go learns the new source port from
# the next authenticated packet, so A pings first).
if wgA set "$IFA" fwmark 0x1234 && [ "$(wgA show "$IFA" fwmark)" = 0x1234 ] &&
    wgA set "$IFA" fwmark 0 && [ "$(wgA show "$IFA" fwmark)" = off ]; then
    vt_pass wg-set-fwmark
else
    vt_fail wg-set-fwmark "fwmark did not read back as set (now: $(wgA show "$IFA" fwmark 2>&1))"
fi
NEWPORT=51830
if wgA set "$IFA" listen-port "$NEWPORT" && [ "$(wgA show "$IFA" listen-port)" = "$NEWPORT" ] &&
    timeout 5 ip netns exec "$A" ss -Hlun "sport = :$NEWPORT" | grep -q . &&
    ! timeout 5 ip netns exec "$A" ss -Hlun "sport = :$PORTA" | grep -q .; then
    vt_pass wg-set-listen-port
else
    vt_fail wg-set-listen-port "port now $(wgA show "$IFA" listen-port 2>&1); sockets: $(ip netns exec "$A" ss -Hlun | tr '\n' ' ')"
fi
vt_check ping-after-port-change "no ping A->B after moving veiltun to port $NEWPORT" vt_ping "$A" 192.0.2.2 3 10
ep=$(wgB show "$IFB" endpoints | awk '{print $2}')
if [ "$ep" = "198.51.100.1:$NEWPORT" ] && vt_ping "$B" 192.0.2.1 3 10; then
    vt_pass peer-roams-to-new-port
else
    vt_fail peer-roams-to-new-port "wireguard-go's endpoint for veiltun is $ep, expected 198.51.100.1:$NEWPORT (or B->A ping failed)"
fi

# --- wg addconf: a second peer, the first untouched --------------------------------------------------------------
cat >"$VT_TMP/add.conf" <<EOF
[Peer]
PublicKey = $PUBC
AllowedIPs = 203.0.113.0/24
Endpoint = 198.51.100.3:51999
PersistentKeepalive = 0
EOF
wgA addconf "$IFA" "$VT_TMP/add.conf" >"$VT_TMP/add.log" 2>&1
rc=$?
want=$(printf '%s\n' \
    "$PUBB $PSK 198.51.100.2:$PORTB 192.0.2.2/32,2001:db8:a::2/128,2001:db8:b::/48 25" \
    "$PUBC (none) 198.51.100.3:51999 203.0.113.0/24 off" | sort)
got=$(peers_of)
if [ "$rc" -eq 0 ] && [ "$got" = "$want" ]; then
    vt_pass wg-addconf
else
    vt_fail wg-addconf "exit $rc $(cat "$VT_TMP/add.log"); got: $got"
fi

# --- wg syncconf: C goes, D comes, B's allowed IPs and keepalive change; B's session is not disturbed -------------
cat >"$VT_TMP/sync.conf" <<EOF
[Interface]
ListenPort = $NEWPORT
PrivateKey = $(cat "$VT_TMP/a.key")

[Peer]
PublicKey = $PUBB
PresharedKey = $PSK
AllowedIPs = 192.0.2.2/32, 2001:db8:a::2/128, 2001:db8:c::/48
Endpoint = 198.51.100.2:$PORTB
PersistentKeepalive = 15

[Peer]
PublicKey = $PUBD
AllowedIPs = 203.0.113.128/25, 2001:db8:d::/64
EOF
hs_before=$(vt_latest_handshake "$A" "$IFA" "$PUBB")
wgA syncconf "$IFA" "$VT_TMP/sync.conf" >"$VT_TMP/sync.log" 2>&1
rc=$?
want=$(printf '%s\n' \
    "$PUBB $PSK 198.51.100.2:$PORTB 192.0.2.2/32,2001:db8:a::2/128,2001:db8:c::/48 15" \
    "$PUBD (none) (none) 203.0.113.128/25,2001:db8:d::/64 off" | sort)
got=$(peers_of)
if [ "$rc" -eq 0 ] && [ "$got" = "$want" ] && [ "$(wgA show "$IFA" listen-port)" = "$NEWPORT" ]; then
    vt_pass wg-syncconf
else
    vt_fail wg-syncconf "exit $rc $(cat "$VT_TMP/sync.log"); got: $got"
fi
vt_check ping-after-syncconf "no ping B->A after syncconf" vt_ping "$B" 192.0.2.1 3 10
hs_after=$(vt_latest_handshake "$A" "$IFA" "$PUBB")
if [ -n "$hs_before" ] && [ "$hs_after" = "$hs_before" ]; then
    vt_pass syncconf-keeps-session
else
    vt_fail syncconf-keeps-session "latest handshake changed across syncconf ($hs_before -> $hs_after): session was reset"
fi

# --- wg showconf | wg setconf: the dump reads back the same (peer order is not part of the contract: wireguard-go
# lists peers in Go map order) --------------------------------------------------------------------------------------
before=$(wgA show "$IFA" dump | awk 'NR == 1 {print $1, $2, $3, $4; next} {print $1, $2, $3, $4, $8}' | sort)
if wgA showconf "$IFA" >"$VT_TMP/showconf.conf" 2>&1 && wgA setconf "$IFA" "$VT_TMP/showconf.conf" >"$VT_TMP/setconf.log" 2>&1 &&
    [ "$(wgA show "$IFA" dump | awk 'NR == 1 {print $1, $2, $3, $4; next} {print $1, $2, $3, $4, $8}' | sort)" = "$before" ]; then
    vt_pass wg-showconf-setconf-roundtrip
else
    vt_fail wg-showconf-setconf-roundtrip "$(cat "$VT_TMP/setconf.log") now: $(wgA show "$IFA" dump | tr '\n' ' ')"
fi
vt_check ping-after-setconf "no ping A->B after setconf" vt_ping "$A" 192.0.2.2 3 10

# --- IPv6 underlay: veiltun sends to B's v6 address; B roams to veiltun's v6 source ---------------------------------
ip -n "$A" addr add 2001:db8:ff::1/64 dev veth0 nodad && ip -n "$B" addr add 2001:db8:ff::2/64 dev veth0 nodad
if wgA set "$IFA" peer "$PUBB" endpoint "[2001:db8:ff::2]:$PORTB" && vt_ping "$A" 192.0.2.2 3 10; then
    ep=$(wgB show "$IFB" endpoints | awk '{print $2}')
    if [ "$ep" = "[2001:db8:ff::1]:$NEWPORT" ] && vt_ping "$B" 2001:db8:a::1 3 10; then
        vt_pass ipv6-underlay
    else
        vt_fail ipv6-underlay "wireguard-go sees veiltun at $ep, expected [2001:db8:ff::1]:$NEWPORT (or B->A ping failed)"
    fi
else
    vt_fail ipv6-underlay "no ping A->B with B's endpoint at [2001:db8:ff::2]:$PORTB"
fi

# --- wg-quick down: interface, socket and daemon gone ------------------------------------------------------------
timeout 40 ip netns exec "$A" wg-quick down "$CONF" >"$VT_TMP/down.log" 2>&1
rc=$?
if [ "$rc" -eq 0 ]; then vt_pass wg-quick-down; else vt_fail wg-quick-down "exit $rc: $(tail -n 5 "$VT_TMP/down.log")"; fi
if [ -e "$VT_TMP/$IFA.down" ]; then vt_pass postdown-hook; else vt_fail postdown-hook "PostDown did not create $IFA.down"; fi
if ! ip -n "$A" link show dev "$IFA" >/dev/null 2>&1; then
    vt_pass down-removes-interface
else
    vt_fail down-removes-interface "$IFA still exists in $A"
fi
if vt_wait 5 test ! -e "$VT_RUNDIR/$IFA.sock"; then
    vt_pass down-removes-socket
else
    vt_fail down-removes-socket "$VT_RUNDIR/$IFA.sock still there 5 s after wg-quick down"
fi
gone() { [ -z "$vtpid" ] || ! kill -0 "$vtpid" 2>/dev/null; }
if [ -n "$vtpid" ] && vt_wait 5 gone; then
    vt_pass down-ends-daemon
else
    vt_fail down-ends-daemon "veiltun (pid ${vtpid:-?}) still running 5 s after wg-quick down"
fi
if ! wgA show interfaces | tr ' ' '\n' | grep -qx "$IFA"; then
    vt_pass wg-show-interfaces-after-down
else
    vt_fail wg-show-interfaces-after-down "wg still lists $IFA"
fi
[ "$VT_FAIL" -eq 0 ] || { vt_show_logs "$IFB"; vt_log "wg-quick up output:"; sed 's/^/#   /' "$VT_TMP/up.log" >&2; }
exit 0
