#!/usr/bin/env bash
# Multihop: one veiltun process with two devices, the exit hop's WireGuard carried inside the entry hop's.
#
#   ns C (client)              ns E (entry relay)               ns X (exit relay)              ns S (server)
#   veiltun --via ENT          wireguard-go, forwards only      wireguard-go, masquerades      198.51.100.130
#     EXIT 203.0.113.2/25        UDP to X:51820, masquerading     to the server                 2001:db8:5::2
#     ENT  (no TUN) 192.0.2.2    192.0.2.1/25                    203.0.113.1/25
#   198.51.100.1 ---------- 198.51.100.2 | 198.51.100.65 ---------- 198.51.100.66 | 198.51.100.129 ---- .130
#
# Checks: the daemon serves two UAPI sockets that wg(8) configures and shows; pings (IPv4 and IPv6) and an
# iperf3 transfer reach the server; a capture on the client's wire holds only WireGuard to the entry relay; the
# server sees the exit relay's address; the entry relay knows only the client, the exit relay only the entry
# relay; killing and restarting the exit relay, then the entry relay, recovers within 30 s each. Prints PASS/FAIL lines and "N passed, N failed".
# shellcheck disable=SC2317 # helpers run through vt_check/vt_wait look unreachable to shellcheck
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../../scripts/lib/netns.bash
source "$here/../../scripts/lib/netns.bash"
vt_init multihop 200
vt_require wireguard-go ping iperf3 nft tshark jq

C=vtmh-$VT_ID-c E=vtmh-$VT_ID-e X=vtmh-$VT_ID-x S=vtmh-$VT_ID-s
EXIT=vmx$VT_ID ENT=vme$VT_ID WGE=vre$VT_ID WGX=vrx$VT_ID
inC() { ip netns exec "$C" "$@"; }

if ! { vt_ns "$C" && vt_ns "$E" && vt_ns "$X" && vt_ns "$S" &&
    vt_veth "$C" veth0 198.51.100.1/26 "$E" vethc 198.51.100.2/26 &&
    vt_veth "$E" vethx 198.51.100.65/26 "$X" vethe 198.51.100.66/26 &&
    vt_veth "$X" veths 198.51.100.129/26 "$S" veth0 198.51.100.130/26 &&
    ip -n "$X" addr add 2001:db8:5::1/64 dev veths nodad && ip -n "$S" addr add 2001:db8:5::2/64 dev veth0 nodad; }; then
    vt_fail setup "cannot create namespaces/veth"
    exit 1
fi
for k in c_entry c_exit e x; do vt_genkey "$k"; done
pub() { cat "$VT_TMP/$1.pub"; }

# --- relays: wireguard-go, forwarding with nftables ----------------------------------------------------------------
relay_e() {
    vt_start_wggo "$E" "$WGE" &&
        ip netns exec "$E" wg set "$WGE" private-key "$VT_TMP/e.key" listen-port 51820 peer "$(pub c_entry)" allowed-ips 192.0.2.2/32 &&
        ip -n "$E" addr add 192.0.2.1/25 dev "$WGE" && ip -n "$E" link set "$WGE" mtu 1420 up &&
        ip netns exec "$E" sysctl -qw net.ipv4.ip_forward=1 &&
        ip netns exec "$E" nft -f - <<EOF
table inet vtmh {
  chain vtfwd { type filter hook forward priority 0; policy drop;
    iifname "$WGE" oifname "vethx" ip daddr 198.51.100.66 udp dport 51820 accept
    iifname "vethx" oifname "$WGE" ct state established accept; }
  chain vtpost { type nat hook postrouting priority 100; oifname "vethx" masquerade; }
}
EOF
}
relay_x() {
    vt_start_wggo "$X" "$WGX" &&
        ip netns exec "$X" wg set "$WGX" private-key "$VT_TMP/x.key" listen-port 51820 \
            peer "$(pub c_exit)" allowed-ips 203.0.113.2/32,2001:db8:f::2/128 &&
        ip -n "$X" addr add 203.0.113.1/25 dev "$WGX" && ip -n "$X" addr add 2001:db8:f::1/64 dev "$WGX" nodad &&
        ip -n "$X" link set "$WGX" mtu 1340 up
}
if ! relay_e || ! relay_x ||
    ! ip netns exec "$X" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 ||
    ! ip netns exec "$X" nft -f - <<EOF; then
table inet vtmh { chain vtpost { type nat hook postrouting priority 100; oifname "veths" masquerade; }; }
EOF
    vt_show_logs "$WGE" "$WGX"
    vt_fail setup "relays did not come up"
    exit 1
fi

# --- client: veiltun --via ---------------------------------------------------------------------------------------------
vt_track_if "$EXIT" "$ENT"
LOG_LEVEL=verbose timeout 30 ip netns exec "$C" "$VT_VEILTUN" --via "$ENT" --entry-address 192.0.2.2 "$EXIT" \
    >>"$VT_TMP/$EXIT.log" 2>&1
rc=$?
if [ "$rc" -ne 0 ]; then
    vt_fail daemon-starts-with-via "exit $rc: $(tail -n 3 "$VT_TMP/$EXIT.log")"
    exit 1
fi
vt_pass daemon-starts-with-via
vt_check two-uapi-sockets "missing $VT_RUNDIR/$EXIT.sock or $ENT.sock" test -S "$VT_RUNDIR/$EXIT.sock" -a -S "$VT_RUNDIR/$ENT.sock"
vt_check entry-has-no-tun "an interface $ENT exists" bash -c "! ip -n '$C' link show '$ENT' >/dev/null 2>&1"
vt_check exit-tun-created-with-exit-mtu "$(ip -n "$C" link show "$EXIT" | head -n 1)" \
    bash -c "ip -n '$C' link show '$EXIT' | grep -q 'mtu 1340'"

# Both hops configured with plain wg(8), as wg-quick or an app would.
cfg_ok=1
inC wg set "$ENT" private-key "$VT_TMP/c_entry.key" \
    peer "$(pub e)" endpoint 198.51.100.2:51820 allowed-ips 198.51.100.66/32 || cfg_ok=0
inC wg set "$EXIT" private-key "$VT_TMP/c_exit.key" \
    peer "$(pub x)" endpoint 198.51.100.66:51820 allowed-ips 0.0.0.0/0,::/0 || cfg_ok=0
ip -n "$C" addr add 203.0.113.2/25 dev "$EXIT" && ip -n "$C" addr add 2001:db8:f::2/64 dev "$EXIT" nodad &&
    ip -n "$C" link set "$EXIT" mtu 1340 up &&
    ip -n "$C" route add 198.51.100.128/26 dev "$EXIT" && ip -n "$C" -6 route add 2001:db8:5::/64 dev "$EXIT" || cfg_ok=0
vt_check configure-both-hops-with-wg "wg set or ip failed" test "$cfg_ok" = 1
vt_check wg-show-both-hops "wg show lists the wrong peers" bash -c \
    "[ \"\$(ip netns exec '$C' wg show '$ENT' peers)\" = '$(pub e)' ] && [ \"\$(ip netns exec '$C' wg show '$EXIT' peers)\" = '$(pub x)' ]"

# --- traffic, with a capture on the client's wire ------------------------------------------------------------------
cap=$VT_TMP/client-wire.pcapng
vt_bg "$C" timeout 60 tshark -n -q -i veth0 -w "$cap" 2>"$VT_TMP/tshark.err"
tp=$VT_LAST
vt_wait 10 grep -q 'Capturing on' "$VT_TMP/tshark.err"
sleep 1
scap=$VT_TMP/server-wire.pcapng
vt_bg "$S" timeout 60 tshark -n -q -i veth0 -f icmp -w "$scap" 2>"$VT_TMP/tshark-s.err"
tps=$VT_LAST
vt_wait 10 grep -q 'Capturing on' "$VT_TMP/tshark-s.err"
sleep 1

vt_check ping-ipv4-through-both-hops "no replies from 198.51.100.130" vt_ping "$C" 198.51.100.130 3 15
vt_check ping-ipv6-through-both-hops "no replies from 2001:db8:5::2" vt_ping "$C" 2001:db8:5::2 3 10
ping_mtu() { timeout 15 ip netns exec "$C" ping -n -q -c 2 -i 0.2 -W 2 -M "do" -s $((1340 - 28)) 198.51.100.130 >/dev/null 2>&1; }
vt_check ping-full-exit-mtu "1340-byte packets did not pass" ping_mtu
vt_bg "$S" timeout 30 iperf3 -s -1 >/dev/null 2>&1
sleep 0.5
bytes=$(timeout 25 ip netns exec "$C" iperf3 -c 198.51.100.130 -t 3 -J 2>/dev/null | jq -r '.end.sum_received.bytes // 0' 2>/dev/null)
vt_check iperf3-through-both-hops "received ${bytes:-0} bytes" test "${bytes:-0}" -gt 1000000
vt_log "iperf3 multihop: $((${bytes:-0} * 8 / 3 / 1000000)) Mbit/s (3 s, TCP)"
sleep 0.3
vt_kill_pids "$tp" "$tps"

# The client's wire: only UDP between the client and the entry relay's WireGuard port, every frame a valid
# WireGuard message (ARP and IPv6 neighbour discovery aside).
other=$(tshark -n -r "$cap" -Y '(ip || ipv6) && !icmpv6 && !(udp && ip.addr == 198.51.100.2 && udp.port == 51820 && wg)' \
    -T fields -e frame.number 2>/dev/null | wc -l)
wgframes=$(tshark -n -r "$cap" -Y 'wg' -T fields -e frame.number 2>/dev/null | wc -l)
vt_check client-wire-only-wireguard-to-entry "$other non-WireGuard frames, $wgframes WireGuard frames" \
    test "$other" -eq 0 -a "$wgframes" -gt 20
# The server: echo requests come from the exit relay's address.
srcs=$(tshark -n -r "$scap" -Y 'icmp.type == 8' -T fields -e ip.src 2>/dev/null | sort -u | tr '\n' ' ')
vt_check server-sees-exit-relay "echo requests from: ${srcs:-none}" test "$srcs" = "198.51.100.129 "
# Each relay knows only its neighbour.
ep_e=$(ip netns exec "$E" wg show "$WGE" endpoints | awk '{print $2}')
ep_x=$(ip netns exec "$X" wg show "$WGX" endpoints | awk '{print $2}')
vt_check entry-relay-sees-client "entry relay's peer endpoint: $ep_e" bash -c "[[ '$ep_e' == 198.51.100.1:* ]]"
vt_check exit-relay-sees-entry-relay "exit relay's peer endpoint: $ep_x" bash -c "[[ '$ep_x' == 198.51.100.65:* ]]"
hs_ent=$(vt_latest_handshake "$C" "$ENT" "$(pub e)")
hs_exit=$(vt_latest_handshake "$C" "$EXIT" "$(pub x)")
vt_check handshake-on-each-hop "entry ${hs_ent:-0}, exit ${hs_exit:-0}" test "${hs_ent:-0}" -gt 0 -a "${hs_exit:-0}" -gt 0

# stop_relay NS IF: TERM its wireguard-go and wait until the process, the interface and the socket are gone.
relay_gone() { [ -z "$(vt_pids_of "$1" "$(command -v "$VT_WGGO")")" ] && ! ip -n "$1" link show "$2" >/dev/null 2>&1; }
stop_relay() {
    local p
    for p in $(vt_pids_of "$1" "$(command -v "$VT_WGGO")"); do kill -TERM "$p"; done
    vt_wait 10 relay_gone "$1" "$2"
    rm -f "$VT_RUNDIR/$2.sock"
}

# restart_recovers CHECK START_FN WHICH: start the relay again; the client's ping through both hops must come back
# within 30 s.
restart_recovers() {
    if "$2"; then
        local start=$SECONDS
        vt_check "$1" "no reply within 30 s" vt_ping "$C" 198.51.100.130 1 30
        vt_log "recovered after $((SECONDS - start)) s"
    else
        vt_fail "$1" "the $3 relay did not come back up"
    fi
}

# --- the exit relay restarts: the exit hop heals within 30 s, the entry hop is untouched ------------------------------
stop_relay "$X" "$WGX"
hs_before=$(vt_latest_handshake "$C" "$ENT" "$(pub e)")
restart_recovers exit-relay-restart-recovers relay_x exit
vt_check entry-hop-untouched-by-exit-restart "entry handshake changed (${hs_before:-0})" \
    test "$(vt_latest_handshake "$C" "$ENT" "$(pub e)")" = "$hs_before"

# --- the entry relay restarts: both hops heal within 30 s (the exit hop's session survives inside) ------------------
stop_relay "$E" "$WGE"
ip netns exec "$E" nft delete table inet vtmh 2>/dev/null
restart_recovers entry-relay-restart-recovers relay_e entry

# --- fragments: with 1420-byte exit MTUs the exit relay's replies (1480-byte inner UDP) exceed the entry
# relay's tunnel MTU (1420); after one ICMP "fragmentation needed" the exit relay fragments them, the entry relay
# carries the fragments, and the client's link reassembles them before its exit device sees the datagram. ----
ip -n "$C" link set "$EXIT" mtu 1420 && ip -n "$X" link set "$WGX" mtu 1420
big_ping() { timeout 20 ip netns exec "$C" ping -n -q -c 3 -i 0.3 -W 2 -w 15 -M "do" -s $((1420 - 28)) 198.51.100.130 >/dev/null 2>&1; }
vt_check fragmented-replies-reassembled "1420-byte pings got no replies" big_ping
reassembled=$(printf 'get=1\n\n' | vt_uapi "$EXIT" | sed -n 's/^veiltun_multihop_reassembled=//p')
vt_check link-counted-reassemblies "veiltun_multihop_reassembled=${reassembled:-missing}" test "${reassembled:-0}" -gt 0
ip -n "$C" link set "$EXIT" mtu 1340 && ip -n "$X" link set "$WGX" mtu 1340

drops=$(vt_drops "$EXIT" | tr '\n' ' ')
vt_log "exit drops: ${drops:-none}; entry drops: $(vt_drops "$ENT" | tr '\n' ' ')"

# --- shutdown: SIGTERM removes both sockets and the TUN --------------------------------------------------------------
for p in $(vt_veiltun_pids "$C"); do kill -TERM "$p"; done
vt_check sigterm-removes-both-sockets "a socket or the interface is left" vt_wait 10 bash -c \
    "[ ! -S '$VT_RUNDIR/$EXIT.sock' ] && [ ! -S '$VT_RUNDIR/$ENT.sock' ] && ! ip -n '$C' link show '$EXIT' >/dev/null 2>&1"
