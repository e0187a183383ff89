#!/usr/bin/env bash
# Faults on the wire between veiltun (ns A) and Debian's wireguard-go (ns B), made with nftables:
#   loss: a random share (numgen random) of the underlay UDP is dropped at A: 10 % both ways, then 30 % of what
#         reaches A (handshake responses, B's ACKs): a fresh handshake still completes (WireGuard retries every 5 s),
#         and TCP through the tunnel keeps flowing. (At 30 % both ways half of all round trips fail and a 5 s TCP
#         stream moved nothing in one CI run of five: physics, not a property of the tunnel to assert.)
#   duplication: B's datagrams to A are duplicated (dup to) on their way out of B: veiltun's replay window rejects
#         every copy and counts it (replayed_counter), no duplicate reaches the inner network (ping shows no DUP!),
#         and TCP keeps flowing;
#   during a transfer: A's link flaps, then A's daemon restarts, each in the middle of a TCP stream: the tunnel
#         answers within 5 s and the same TCP connection carries data again;
#   routing loop: B's endpoint is routed into A's tunnel: our own datagrams come back from the TUN and are dropped
#         and counted (routing_loop) without spinning.
# Bounded: every wait has a deadline, iperf3 runs 3 s. Prints PASS/FAIL lines and "N passed, N failed". Needs root.
# shellcheck disable=SC2317 # helpers run through vt_check/vt_wait look unreachable to shellcheck
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../../scripts/lib/netns.bash
source "$here/../../scripts/lib/netns.bash"
vt_init faults 300
vt_require wireguard-go nft ping iperf3 jq

A=vtfault-$VT_ID-a
B=vtfault-$VT_ID-b
IFA=vtx$VT_ID
IFB=vtxg$VT_ID
PORTA=51820 PORTB=51821

wgA() { timeout 15 ip netns exec "$A" wg "$@"; }
wgB() { timeout 15 ip netns exec "$B" wg "$@"; }
drop_count() { vt_drops "$IFA" | awk -v r="$1" '$1 == r {print $2}'; }

if ! { vt_ns "$A" && vt_ns "$B" && vt_veth "$A" veth0 198.51.100.1/24 "$B" veth0 198.51.100.2/24; }; then
    vt_fail setup "cannot create namespaces/veth"
    exit 1
fi
for k in a b; do vt_genkey "$k"; done
PUBA=$(cat "$VT_TMP/a.pub") PUBB=$(cat "$VT_TMP/b.pub")
# start_a: veiltun in A, configured as wg-quick would (also used to restart it).
start_a() {
    VT_LOG_LEVEL=error vt_start_veiltun "$A" "$IFA" &&
        wgA set "$IFA" private-key "$VT_TMP/a.key" listen-port $PORTA peer "$PUBB" allowed-ips 192.0.2.2/32 \
            endpoint 198.51.100.2:$PORTB &&
        ip -n "$A" addr add 192.0.2.1/24 dev "$IFA" && ip -n "$A" link set "$IFA" up
}
if ! start_a ||
    ! VT_LOG_LEVEL=error vt_start_wggo "$B" "$IFB" ||
    ! wgB set "$IFB" private-key "$VT_TMP/b.key" listen-port $PORTB peer "$PUBA" allowed-ips 192.0.2.1/32 \
        endpoint 198.51.100.1:$PORTA ||
    ! ip -n "$B" addr add 192.0.2.2/24 dev "$IFB" || ! ip -n "$B" link set "$IFB" up; then
    vt_show_logs "$IFA" "$IFB"
    vt_fail setup "daemons did not come up"
    exit 1
fi
vt_check baseline-ping "no ping through the tunnel" vt_ping "$A" 192.0.2.2 3 10

# tcp_flows MIN_BYTES: a 5 s iperf3 TCP stream A → B through the tunnel moves at least MIN_BYTES.
tcp_flows() {
    local bytes
    ip netns exec "$B" timeout 20 iperf3 -s -1 -B 192.0.2.2 >/dev/null 2>&1 &
    vt_track_pid $!
    sleep 0.5
    bytes=$(timeout 25 ip netns exec "$A" iperf3 -c 192.0.2.2 -t 5 -J 2>/dev/null | jq -r '.end.sum_received.bytes // 0')
    TCP_BYTES=${bytes:-0}
    [ "$TCP_BYTES" -ge "$1" ] 2>/dev/null
}

# fresh_handshake_under PCT: drop PCT % of the underlay both ways at A, remove and re-add B's peer on A (so A has
# no session), then ping until one answer comes back (at most 45 s: 9 initiation attempts).
loss_case() {
    local pct=$1 out=$3 t0
    ip netns exec "$A" nft -f - <<EOF || { vt_fail "loss-$pct-setup" "nft ruleset rejected"; return; }
table inet vtloss {
    chain in { type filter hook input priority 0; policy accept; udp dport $PORTA numgen random mod 100 < $pct drop; }
    chain out { type filter hook output priority 0; policy accept; udp sport $PORTA numgen random mod 100 < $out drop; }
}
EOF
    wgA set "$IFA" peer "$PUBB" remove
    wgA set "$IFA" peer "$PUBB" allowed-ips 192.0.2.2/32 endpoint 198.51.100.2:$PORTB
    t0=$SECONDS
    if vt_reach "$A" 192.0.2.2 45; then
        vt_pass "loss-$pct-handshake-completes"
        vt_log "loss $pct %: first answer after $((SECONDS - t0)) s"
    else
        vt_fail "loss-$pct-handshake-completes" "no answer within 45 s at $pct % loss"
    fi
    if tcp_flows "$2"; then vt_pass "loss-$pct-tcp-flows"
    else vt_fail "loss-$pct-tcp-flows" "iperf3 moved $TCP_BYTES bytes in 5 s at $pct % loss"; fi
    ip netns exec "$A" nft delete table inet vtloss
}
loss_case 10 1000000 10
loss_case 30 1000000 0

# During a transfer: a 12 s TCP stream A → B; 3 s in, ACTION flaps A's link or restarts A's daemon. The tunnel
# must answer a ping within 5 s of the link (or the restarted daemon) being up again — the time is printed — and the
# same TCP connection must carry data again in its last 4 s (it survives a blackout of a few seconds).
during_transfer() {
    local name=$1 action=$2 json="$VT_TMP/$1.json" ipid late t0
    ip netns exec "$B" timeout 40 iperf3 -s -1 -B 192.0.2.2 >/dev/null 2>&1 &
    vt_track_pid $!
    sleep 0.5
    timeout 40 ip netns exec "$A" iperf3 -c 192.0.2.2 -t 12 -J >"$json" 2>/dev/null &
    ipid=$!
    vt_track_pid "$ipid"
    sleep 3
    if "$action"; then
        t0=${EPOCHREALTIME/./}
        if vt_reach "$A" 192.0.2.2 5; then
            vt_pass "$name-recovers"
            vt_log "$name during a transfer: answered again $(((${EPOCHREALTIME/./} - t0) / 1000)) ms after it was back"
        else
            vt_show_logs "$IFA"
            vt_fail "$name-recovers" "no answer within 5 s"
        fi
    else
        vt_fail "$name-recovers" "$name failed: $VT_ERR"
    fi
    wait "$ipid"
    late=$(jq '[.intervals[]? | select(.sum.start >= 8) | .sum.bytes] | add // 0' "$json" 2>/dev/null)
    if [ "${late:-0}" -gt 1000000 ] 2>/dev/null; then vt_pass "$name-tcp-resumes"
    else vt_fail "$name-tcp-resumes" "the stream moved ${late:-0} bytes in its last 4 s ($(jq -r '.error // "no error"' "$json" 2>/dev/null))"; fi
}
flap_a() { ip -n "$A" link set "$IFA" down && ip -n "$A" link set "$IFA" up || { VT_ERR="ip link"; return 1; }; }
# pids_gone PID...: none of them is alive any more.
pids_gone() {
    local p
    for p in "$@"; do kill -0 "$p" 2>/dev/null && return 1; done
    return 0
}
# Deleting the interface ends the daemon (as wg-quick down does); a new one takes the same configuration.
restart_a() {
    local old
    old=$(vt_veiltun_pids "$A")
    [ -n "$old" ] || { VT_ERR="no daemon running"; return 1; }
    ip -n "$A" link del "$IFA" || { VT_ERR="ip link del"; return 1; }
    # shellcheck disable=SC2086 # one word per pid
    vt_wait 5 pids_gone $old || { VT_ERR="daemon $old did not exit"; return 1; }
    start_a || { VT_ERR="the new daemon did not come up"; return 1; }
}
during_transfer link-flap flap_a
during_transfer restart restart_a

# Duplication: every datagram B sends to A arrives twice.
ip netns exec "$B" nft -f - <<EOF || vt_fail dup-setup "nft ruleset rejected"
table ip vtdup {
    chain out { type filter hook output priority 0; policy accept; udp sport $PORTB dup to 198.51.100.1 device "veth0"; }
}
EOF
replayed0=$(drop_count replayed_counter); replayed0=${replayed0:-0}
out=$(timeout 20 ip netns exec "$A" ping -n -c 20 -i 0.2 -W 1 192.0.2.2 2>&1)
rx=$(sed -n 's/.*, \([0-9][0-9]*\) received.*/\1/p' <<<"$out")
if [ "${rx:-0}" -ge 18 ] && ! grep -q 'DUP!' <<<"$out"; then vt_pass dup-ping-no-duplicates
else vt_fail dup-ping-no-duplicates "received ${rx:-0}/20; $(grep -c 'DUP!' <<<"$out") DUP! lines"; fi
replayed=$(drop_count replayed_counter); replayed=${replayed:-0}
if [ $((replayed - replayed0)) -ge 18 ]; then vt_pass dup-copies-rejected-and-counted
else vt_fail dup-copies-rejected-and-counted "replayed_counter grew by $((replayed - replayed0)) for 20 duplicated replies"; fi
if tcp_flows 10000000; then vt_pass dup-tcp-flows
else vt_fail dup-tcp-flows "iperf3 moved $TCP_BYTES bytes in 5 s with every reply duplicated"; fi
ip netns exec "$B" nft delete table ip vtdup

# Routing loop: the peer's endpoint routed into the tunnel itself (what wg-quick's fwmark rules prevent). Our own
# datagrams come back from the TUN: they must be dropped and counted, not sealed again and again (no spinning).
# The peer is added afresh: a cached sticky source (IP_PKTINFO with the interface) would still send out of veth0.
vtpid=$(vt_veiltun_pids "$A" | head -1)
ip -n "$A" route add 198.51.100.2/32 dev "$IFA"
wgA set "$IFA" peer "$PUBB" remove
wgA set "$IFA" peer "$PUBB" allowed-ips 192.0.2.2/32,198.51.100.2/32 endpoint 198.51.100.2:$PORTB
loops0=$(drop_count routing_loop); loops0=${loops0:-0}
vt_ticks "$vtpid"; ticks0=$REPLY
timeout 10 ip netns exec "$A" ping -n -c 10 -i 0.3 -W 1 192.0.2.2 >/dev/null 2>&1
vt_ticks "$vtpid"; ticks1=$REPLY
loops=$(drop_count routing_loop); loops=${loops:-0}
hz=$(getconf CLK_TCK)
if [ $((loops - loops0)) -gt 0 ] && [ $((ticks1 - ticks0)) -lt "$hz" ] && [ -n "$(vt_veiltun_pids "$A")" ]; then
    vt_pass routing-loop-dropped-and-counted
else
    vt_fail routing-loop-dropped-and-counted "routing_loop +$((loops - loops0)), daemon CPU $((ticks1 - ticks0)) ticks in 3 s"
fi
ip -n "$A" route del 198.51.100.2/32 dev "$IFA"
wgA set "$IFA" peer "$PUBB" allowed-ips 192.0.2.2/32
vt_check after-loop-ping "no ping after the loop was removed" vt_ping "$A" 192.0.2.2 3 10

[ -n "$(vt_veiltun_pids "$A")" ] && vt_pass veiltun-alive || vt_fail veiltun-alive "daemon gone"
exit 0
