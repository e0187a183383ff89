#!/usr/bin/env bash
# TUN offloads end to end between two veiltun daemons: bursts of UDP datagrams that the receiving daemon
# coalesces into GSO_UDP_L4 super-packets (when the kernel accepts USO) and TCP segments it coalesces into TSO
# super-packets must reach the applications byte for byte, in order per flow; the sender's TSO/USO super-packets
# are split the other way. A Python sender/receiver pair checks every datagram's content and order; iperf3 checks
# TCP. Prints PASS/FAIL lines and "N passed, N failed".
# shellcheck disable=SC2317 # helpers run through vt_check/vt_wait look unreachable to shellcheck
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../../scripts/lib/netns.bash
source "$here/../../scripts/lib/netns.bash"
vt_init offload 90
vt_require iperf3 jq

A=vtoff-$VT_ID-a
B=vtoff-$VT_ID-b
IFA=vofa$VT_ID
IFB=vofb$VT_ID

if ! { vt_ns "$A" && vt_ns "$B" && vt_veth "$A" veth0 198.51.100.1/24 "$B" veth0 198.51.100.2/24; }; then
    vt_fail setup "cannot create namespaces/veth"
    exit 1
fi
for k in a b; do vt_genkey "$k"; done
up() {   # up NS IF KEY PORT PEERPUB PEERIP/PREFIX ENDPOINT ADDR ADDR6
    ip netns exec "$1" wg set "$2" private-key "$VT_TMP/$3.key" listen-port "$4" peer "$5" allowed-ips "$6" endpoint "$7" &&
        ip -n "$1" addr add "$8/24" dev "$2" && ip -n "$1" addr add "$9/64" dev "$2" nodad && ip -n "$1" link set "$2" up
}
if ! vt_start_veiltun "$A" "$IFA" || ! vt_start_veiltun "$B" "$IFB" ||
    ! up "$A" "$IFA" a 51820 "$(cat "$VT_TMP/b.pub")" 192.0.2.2/32,2001:db8:0ff::2/128 198.51.100.2:51821 192.0.2.1 2001:db8:0ff::1 ||
    ! up "$B" "$IFB" b 51821 "$(cat "$VT_TMP/a.pub")" 192.0.2.1/32,2001:db8:0ff::1/128 198.51.100.1:51820 192.0.2.2 2001:db8:0ff::2; then
    vt_show_logs "$IFA" "$IFB"
    vt_fail setup "veiltun did not come up"
    exit 1
fi
vt_check tunnel-up "no ping replies" vt_ping "$A" 192.0.2.2 2 10

# udp_burst FAMILY DEST: 3 flows x 600 datagrams of 1..1392 bytes sent in bursts; each payload carries its flow,
# sequence number and a digest of itself. The receiver reports what arrived: content errors, order errors per
# flow, count. Bursts make the receiving daemon see runs of same-flow datagrams (the ones it coalesces).
cat >"$VT_TMP/udp.py" <<'PY'
import hashlib, socket, struct, sys, time
role, family, addr = sys.argv[1], sys.argv[2], sys.argv[3]
fam = socket.AF_INET6 if family == "6" else socket.AF_INET
FLOWS, N = 3, 600
def payload(flow, seq):
    size = 1 + (seq * 97 + flow * 31) % 1392 if seq % 5 else 1392 - (40 if family == "6" else 20) - 8 - 8
    size = max(size, 40)
    head = struct.pack("!HI", flow, seq)
    body = bytes((seq + i) & 0xFF for i in range(size - len(head) - 32))
    return head + body + hashlib.sha256(head + body).digest()
if role == "recv":
    socks = []
    for f in range(FLOWS):
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        s.bind((addr, 7000 + f)); s.settimeout(0.2); socks.append(s)
    print("ready", flush=True)
    got, bad, order, last = 0, 0, 0, [-1] * FLOWS
    deadline = time.time() + 20
    while time.time() < deadline and got < FLOWS * N:
        for f, s in enumerate(socks):
            try:
                d = s.recv(65535)
            except socket.timeout:
                continue
            got += 1
            flow, seq = struct.unpack("!HI", d[:6])
            if flow != f or hashlib.sha256(d[:-32]).digest() != d[-32:] or d != payload(flow, seq): bad += 1
            if seq <= last[f]: order += 1
            last[f] = seq
        if got and all(l == N - 1 for l in last): break
    print("got=%d bad=%d order=%d" % (got, bad, order))
else:
    s = socket.socket(fam, socket.SOCK_DGRAM)
    for burst in range(0, N, 50):
        for f in range(FLOWS):
            for seq in range(burst, burst + 50):
                s.sendto(payload(f, seq), (addr, 7000 + f))
        time.sleep(0.01)
PY

udp_check() {   # udp_check NAME FAMILY DEST
    local out
    ip netns exec "$B" timeout 30 python3 "$VT_TMP/udp.py" recv "$2" "$3" >"$VT_TMP/$1.out" 2>&1 &
    local rp=$!
    vt_wait 10 grep -q ready "$VT_TMP/$1.out"
    ip netns exec "$A" timeout 30 python3 "$VT_TMP/udp.py" send "$2" "$3"
    wait "$rp"
    out=$(tail -n 1 "$VT_TMP/$1.out")
    # UDP may lose a datagram under load, never corrupt or reorder one within a flow.
    vt_check "$1" "receiver: $out" bash -c "[[ '$out' =~ ^got=([0-9]+)\ bad=0\ order=0$ ]] && [ \${BASH_REMATCH[1]} -ge 1750 ]"
}
udp_check udp-bursts-ipv4-intact 4 192.0.2.2
udp_check udp-bursts-ipv6-intact 6 2001:db8:0ff::2

# TCP both ways: iperf3 checks the stream; retransmits are fine, a stall or a reset is not.
vt_bg "$B" timeout 30 iperf3 -s -1 >/dev/null 2>&1
sleep 0.5
bytes=$(timeout 20 ip netns exec "$A" iperf3 -c 192.0.2.2 -t 3 -J 2>/dev/null | jq -r '.end.sum_received.bytes // 0')
vt_check tcp-a-to-b "received ${bytes:-0} bytes" test "${bytes:-0}" -gt 10000000
vt_bg "$B" timeout 30 iperf3 -s -1 >/dev/null 2>&1
sleep 0.5
bytes=$(timeout 20 ip netns exec "$A" iperf3 -c 2001:db8:0ff::2 -t 3 -R -J 2>/dev/null | jq -r '.end.sum_received.bytes // 0')
vt_check tcp-ipv6-b-to-a "received ${bytes:-0} bytes" test "${bytes:-0}" -gt 10000000
drops=$(vt_drops "$IFB" | grep -v -e '^pool_exhausted' -e '^no_route' | tr '\n' ' ')
vt_check no-invalid-packets "receiver drops: $drops" test -z "$drops"
