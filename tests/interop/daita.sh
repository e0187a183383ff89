#!/usr/bin/env bash
# DAITA between two veiltun daemons in two namespaces, then against a plain wireguard-go.
#   ns A: veiltun vda<pid> 192.0.2.1/24 on veth 198.51.100.1     ns B: veiltun vdb<pid> 192.0.2.2/24 on veth 198.51.100.2
# Both enable DAITA for each other with `veiltun daita set` (as a wg-quick PostUp line would) and a machine that
# answers every real packet with one decoy 10 ms later. A capture on A's veth, decoded by tshark, must show every
# non-keepalive data message at MTU + 32 bytes, the decoys, and exactly the counts the DAITA counters report
# (decoys sent and received, padding bytes). Then B becomes wireguard-go with the same key: A keeps DAITA on,
# wireguard-go drops the decoys as invalid packets and traffic still flows both ways.
# Prints PASS/FAIL lines and "N passed, N failed".
# shellcheck disable=SC2317 # helpers run through vt_check/vt_wait look unreachable to shellcheck
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../../scripts/lib/netns.bash
source "$here/../../scripts/lib/netns.bash"
vt_init daita 120
vt_require wireguard-go ping tshark

A=vtdaita-$VT_ID-a
B=vtdaita-$VT_ID-b
IFA=vda$VT_ID
IFB=vdb$VT_ID
MTU=1420
N=10                        # pings per size
SIZES=(56 500 1000)         # ping payloads: IP lengths 84, 528, 1028

# The machine (built here, not taken from the code under test): s0 --NormalSent--> s1; s1 = SendPadding after
# exactly 10 ms, --PaddingSent--> s0. maybenot's machine encoding: bincode, zlib, base64,
# "02" prefix.
MACHINE=$(python3 - <<'PY'
import base64, struct, zlib
f64 = lambda x: struct.pack('<d', x)
def trans(target): return b'\x01\x01' + bytes([target]) + struct.pack('<f', 1.0)
def state(action, edges):
    out = action + b'\x00\x00'                           # no counters
    for e in range(13): out += trans(edges[e]) if e in edges else b'\x00'
    return out
pad = b'\x01\x01\x00\x00' + b'\x00' + f64(0) + f64(0) + f64(10000.0) + f64(0) + b'\x00'
m = b'\x00' + f64(0) + b'\x00' + f64(0) + b'\x02' + state(b'\x00', {3: 1}) + state(pad, {4: 0})
print('02' + base64.b64encode(zlib.compress(m, 9)).decode())
PY
)

inA() { ip netns exec "$A" "$@"; }
inB() { ip netns exec "$B" "$@"; }
uapi_key() { printf 'get=1\n\n' | vt_uapi "$1" | sed -n "s/^$2=//p" | head -n 1; }

if ! { vt_ns "$A" && vt_ns "$B" && vt_veth "$A" veth0 198.51.100.1/24 "$B" veth0 198.51.100.2/24; }; then
    vt_fail setup "cannot create namespaces/veth"
    exit 1
fi
for k in a b; do vt_genkey "$k"; done
PUBA=$(cat "$VT_TMP/a.pub") PUBB=$(cat "$VT_TMP/b.pub")

# up NS IF KEY PORT PEERPUB PEERIP ENDPOINT: configure a started daemon with wg(8) and bring it up (IPv4 only,
# IPv6 off on the interface so that no stray packet becomes a NormalSent event).
up() {
    ip netns exec "$1" wg set "$2" private-key "$VT_TMP/$3.key" listen-port "$4" \
        peer "$5" allowed-ips "$6/32" endpoint "$7" &&
        ip netns exec "$1" sysctl -qw "net.ipv6.conf.$2.disable_ipv6=1" &&
        ip -n "$1" addr add "$8/24" dev "$2" && ip -n "$1" link set "$2" mtu $MTU up
}
if ! vt_start_veiltun "$A" "$IFA" || ! vt_start_veiltun "$B" "$IFB" ||
    ! up "$A" "$IFA" a 51820 "$PUBB" 192.0.2.2 198.51.100.2:51821 192.0.2.1 ||
    ! up "$B" "$IFB" b 51821 "$PUBA" 192.0.2.1 198.51.100.1:51820 192.0.2.2; then
    vt_show_logs "$IFA" "$IFB"
    vt_fail setup "veiltun did not come up"
    exit 1
fi
vt_check tunnel-up-before-daita "no ping replies" vt_ping "$A" 192.0.2.2 2 10

# --- DAITA on, both ways, through the command a wg-quick PostUp line would run ---------------------------------------
vt_check daita-inspect-accepts-machine "veiltun daita inspect refused the machine" \
    bash -c "'$VT_VEILTUN' daita inspect '$MACHINE' | grep -q SendPadding"
vt_check daita-set-a "veiltun daita set failed in A" inA "$VT_VEILTUN" daita set "$IFA" "$PUBB" --machine "$MACHINE"
vt_check daita-set-b "veiltun daita set failed in B" inB "$VT_VEILTUN" daita set "$IFB" "$PUBA" --machine "$MACHINE"
shown=$(printf 'get=1\n\n' | vt_uapi "$IFA" | grep -cx -e 'daita_enable=1' -e "daita_machine=$MACHINE")
vt_check daita-shown-in-get "get shows $shown of daita_enable=1 and the machine" test "$shown" = 2
vt_check daita-bad-machine-refused "an invalid machine was accepted" \
    bash -c "! ip netns exec '$A' '$VT_VEILTUN' daita set '$IFA' '$PUBB' --machine 02eNpjYE 2>/dev/null"

# --- capture while pinging --------------------------------------------------------------------------------------------
cap=$VT_TMP/daita.pcapng
vt_bg "$A" timeout 60 tshark -n -q -i veth0 -f udp -w "$cap" 2>"$VT_TMP/tshark.err"
tp=$VT_LAST
vt_wait 10 grep -q 'Capturing on' "$VT_TMP/tshark.err"
sleep 1
got=0
for s in "${SIZES[@]}"; do
    timeout 20 ip netns exec "$A" ping -n -q -c $N -i 0.2 -W 2 -s "$s" 192.0.2.2 >"$VT_TMP/ping-$s.txt" 2>&1 &&
        got=$((got + $(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$VT_TMP/ping-$s.txt")))
    sleep 0.1 # the next request must not fall into the 10 ms before the last one's decoy
done
sleep 1
vt_kill_pids "$tp"
vt_check pings-with-daita "$got of $((N * ${#SIZES[@]})) replies" test "$got" -eq $((N * ${#SIZES[@]}))

# Data messages (type 4) by direction and size, as tshark's WireGuard dissector decodes them.
fields() { tshark -n -r "$cap" -Y "wg.type == 4 && ip.src == $1" -T fields -e udp.length 2>/dev/null; }
a2b=$(fields 198.51.100.1) b2a=$(fields 198.51.100.2)
count_len() { grep -cx "$2" <<<"$1"; }
total() { grep -c . <<<"$1"; }
full=$((8 + 16 + MTU + 16))   # UDP header + WireGuard header + MTU + tag
ka=$((8 + 32))                # keepalive
others=$(printf '%s\n%s\n' "$a2b" "$b2a" | grep -vx -e "$full" -e "$ka" | grep -c .)
sizes=$(printf '%s\n%s\n' "$a2b" "$b2a" | sort -n | uniq -c | tr -s ' \n' ' ')
vt_check every-data-message-mtu-plus-32 "$others data messages of another size (count udp.length: $sizes)" \
    test "$others" -eq 0 -a "$(total "$a2b")" -gt 0
malformed=$(tshark -n -r "$cap" -Y '_ws.malformed || wg.bad_packet_length' -T fields -e frame.number 2>/dev/null | wc -l)
vt_check capture-valid-wireguard "$malformed malformed frames" test "$malformed" -eq 0

sent=$((N * ${#SIZES[@]}))
decoys_a2b=$(($(count_len "$a2b" $full) - sent))   # requests are the rest
decoys_b2a=$(($(count_len "$b2a" $full) - got))    # replies are the rest
vt_check decoys-on-the-wire "A->B $decoys_a2b, B->A $decoys_b2a decoys" test "$decoys_a2b" -gt 0 -a "$decoys_b2a" -gt 0
tx_a=$(uapi_key "$IFA" daita_tx_decoy_packet_bytes) rx_b=$(uapi_key "$IFB" daita_rx_decoy_packet_bytes)
tx_b=$(uapi_key "$IFB" daita_tx_decoy_packet_bytes) rx_a=$(uapi_key "$IFA" daita_rx_decoy_packet_bytes)
vt_check decoy-counters-match-capture "A tx ${tx_a:-?} / B rx ${rx_b:-?} bytes vs $decoys_a2b decoys; B tx ${tx_b:-?} / A rx ${rx_a:-?} vs $decoys_b2a" \
    test "${tx_a:-x}" = $((decoys_a2b * MTU)) -a "${rx_b:-x}" = $((decoys_a2b * MTU)) \
    -a "${tx_b:-x}" = $((decoys_b2a * MTU)) -a "${rx_a:-x}" = $((decoys_b2a * MTU))
# One decoy per real packet: the machine answers each NormalSent with exactly one decoy.
vt_check one-decoy-per-packet "$decoys_a2b decoys for $sent requests" test "$decoys_a2b" -eq "$sent"
# Padding: sum of (MTU - IP length) over the requests; the receiver counts length - round16(IP length).
want_tx=0 want_rx=0
for s in "${SIZES[@]}"; do
    ip=$((s + 28))
    want_tx=$((want_tx + N * (MTU - ip)))
    want_rx=$((want_rx + N * (MTU - (ip + 15) / 16 * 16)))
done
pad_tx=$(uapi_key "$IFA" daita_tx_padding_bytes) pad_rx=$(uapi_key "$IFB" daita_rx_padding_bytes)
vt_check padding-counters-exact "A tx_padding ${pad_tx:-?} (want $want_tx), B rx_padding ${pad_rx:-?} (want $want_rx)" \
    test "${pad_tx:-x}" = "$want_tx" -a "${pad_rx:-x}" = "$want_rx"

# --- the peer becomes a plain wireguard-go: DAITA on A must not break the tunnel ---------------------------------------
for p in $(vt_veiltun_pids "$B"); do kill -TERM "$p"; done
vt_wait 10 bash -c "! ip -n '$B' link show '$IFB' >/dev/null 2>&1 && [ ! -S '$VT_RUNDIR/$IFB.sock' ]"
if vt_start_wggo "$B" "$IFB" && up "$B" "$IFB" b 51821 "$PUBA" 192.0.2.1 198.51.100.1:51820 192.0.2.2; then
    vt_check daita-to-wireguard-go-a2b "no replies from wireguard-go" vt_ping "$A" 192.0.2.2 5 20
    vt_check daita-to-wireguard-go-b2a "wireguard-go gets no replies" vt_ping "$B" 192.0.2.1 5 20
    decoys=$(uapi_key "$IFA" daita_tx_decoy_packet_bytes)
    vt_check daita-still-on-towards-wireguard-go "decoy bytes stayed at ${decoys:-?}" test "${decoys:-0}" -gt "${tx_a:-0}"
else
    vt_show_logs "$IFB"
    vt_fail daita-to-wireguard-go "wireguard-go did not come up in B"
fi
