#!/usr/bin/env bash
# `veiltun metrics IFNAME` against a real parser and a real peer: veiltun (namespace A) and wireguard-go
# (namespace B) pass traffic, stop, and then the Prometheus text must
#   - parse with Debian's prometheus_client (python3-prometheus-client, run by /usr/bin/python3: the python3 first
#     on PATH may be another interpreter without it), which must also reject a broken copy of it;
#   - have one HELP and one TYPE per family, counters named *_total;
#   - give per-peer byte counters equal to `wg show IF dump`'s transfer columns, and a last-handshake time equal
#     to its latest-handshake column; veiltun's tx equal to wireguard-go's rx and the other way round;
#   - count a handshake, and a junk datagram as a drop with its reason.
# Prints PASS/FAIL lines and "N passed, N failed".
# shellcheck disable=SC2317 # helpers run through vt_check/vt_wait look unreachable to shellcheck
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../../scripts/lib/netns.bash
source "$here/../../scripts/lib/netns.bash"
vt_init metrics 60
vt_require /usr/bin/python3
/usr/bin/python3 -c 'import prometheus_client.parser' 2>/dev/null ||
    vt_die "/usr/bin/python3 has no prometheus_client (apt-get install python3-prometheus-client; scripts/deps.sh does)"

A=vtmet-$VT_ID-a
B=vtmet-$VT_ID-b
IFA=vmta$VT_ID
IFB=vmtb$VT_ID

if ! { vt_ns "$A" && vt_ns "$B" && vt_veth "$A" veth0 198.51.100.1/24 "$B" veth0 198.51.100.2/24; }; then
    vt_fail setup "cannot create namespaces/veth"
    exit 1
fi
vt_genkey a && PUBA=$VT_PUB
vt_genkey b && PUBB=$VT_PUB
up() {   # up NS IF KEY PORT PEERPUB PEERIP ENDPOINT ADDR
    ip netns exec "$1" wg set "$2" private-key "$VT_TMP/$3.key" listen-port "$4" peer "$5" allowed-ips "$6/32" endpoint "$7" &&
        ip -n "$1" addr add "$8/24" dev "$2" && ip -n "$1" link set "$2" up
}
if ! vt_start_veiltun "$A" "$IFA" || ! vt_start_wggo "$B" "$IFB" ||
    ! up "$A" "$IFA" a 51820 "$PUBB" 192.0.2.2 198.51.100.2:51821 192.0.2.1 ||
    ! up "$B" "$IFB" b 51821 "$PUBA" 192.0.2.1 198.51.100.1:51820 192.0.2.2; then
    vt_show_logs "$IFA" "$IFB"
    vt_fail setup "daemons did not come up"
    exit 1
fi

# Traffic both ways (pings of several sizes from each side), then nothing: no keepalive is configured.
vt_check tunnel-up "no ping replies" vt_ping "$A" 192.0.2.2 2 10
ip netns exec "$A" ping -n -q -c 20 -i 0.02 -s 1200 192.0.2.2 >/dev/null 2>&1
ip netns exec "$B" ping -n -q -c 20 -i 0.02 -s 300 192.0.2.1 >/dev/null 2>&1

# metrics IF: veiltun's Prometheus text (stdout only; a failure leaves the file empty).
metrics() { timeout 10 "$VT_VEILTUN" metrics "$IFA" >"$VT_TMP/$1.prom" 2>"$VT_TMP/$1.err"; }
dump() { timeout 10 ip netns exec "$1" wg show "$2" dump; }
# Quiet once two readings a second apart agree (the last reply's accounting and any handshake are done).
settled() {
    dump "$A" "$IFA" >"$VT_TMP/dumpA.1"; sleep 1; dump "$A" "$IFA" >"$VT_TMP/dumpA"
    cmp -s "$VT_TMP/dumpA.1" "$VT_TMP/dumpA"
}
vt_check traffic-stopped "counters still moving" vt_wait 10 settled
dump "$B" "$IFB" >"$VT_TMP/dumpB"
vt_check metrics-runs "veiltun metrics failed: $(cat "$VT_TMP/m.err" 2>/dev/null)" metrics m
dump "$A" "$IFA" >"$VT_TMP/dumpA.2"
vt_check still-quiet-while-read "counters moved while reading" cmp -s "$VT_TMP/dumpA" "$VT_TMP/dumpA.2"

# parse FILE: every sample as "name{labels sorted} value", through prometheus_client's parser; exits 1 on a
# parse error or when a counter family's samples do not end in _total.
cat >"$VT_TMP/parse.py" <<'PY'
import sys
from prometheus_client.parser import text_string_to_metric_families
text = open(sys.argv[1]).read()
if not text.strip():
    sys.exit("empty")
for family in text_string_to_metric_families(text):
    for s in family.samples:
        if family.type == "counter" and not s.name.endswith("_total"):
            sys.exit("counter sample without _total: " + s.name)
        if family.type not in ("counter", "gauge"):
            sys.exit("untyped family: " + family.name)
        labels = ",".join('%s=%s' % kv for kv in sorted(s.labels.items()))
        print("%s{%s} %r" % (s.name, labels, s.value))
PY
parse() { /usr/bin/python3 "$VT_TMP/parse.py" "$1" >"$1.parsed" 2>"$1.perr"; }
vt_check parses-with-prometheus-client "$(tail -n 1 "$VT_TMP/m.prom.perr" 2>/dev/null)" parse "$VT_TMP/m.prom"
# The parser check itself must be able to fail: a raw line feed in a label value (what a missing escape gives),
# a label value with no closing quote, a sample with no value.
sed '0,/interface="/s//interface="a\nb/' "$VT_TMP/m.prom" >"$VT_TMP/broken1.prom"
sed '0,/=",direction/s//=,direction/' "$VT_TMP/m.prom" >"$VT_TMP/broken2.prom"
{ cat "$VT_TMP/m.prom"; echo 'veiltun_tunnel_peers{interface="x"}'; } >"$VT_TMP/broken3.prom"
rejected() { ! parse "$VT_TMP/broken1.prom" && ! parse "$VT_TMP/broken2.prom" && ! parse "$VT_TMP/broken3.prom"; }
vt_check parser-rejects-broken-text "a broken copy parsed" rejected

# One HELP and one TYPE line per family, each HELP right before its TYPE, and every sample under its family.
headers() {
    awk '/^# HELP /{h[$3]++; last=$3; next}
         /^# TYPE /{t[$3]++; if ($3 != last) bad = bad " TYPE-without-HELP:" $3; fam=$3; next}
         { n=$1; sub(/\{.*/, "", n); if (n != fam) bad = bad " stray:" n }
         END { for (k in h) { n++; if (h[k] != 1 || t[k] != 1) bad = bad " twice:" k }
               if (n < 8) bad = bad " only " n+0 " families"; if (bad) { print bad; exit 1 } }' "$VT_TMP/m.prom"
}
vt_check help-and-type-once-per-family "$(headers)" headers

# sample NAME LABEL=VALUE...: the parsed value of the one sample with those labels (empty if none or several).
sample() {
    local name=$1 f
    shift
    f=$(grep -F "$name{" "$VT_TMP/m.prom.parsed")
    for l in "$@"; do f=$(grep -F -- "$l" <<<"$f"); done
    [ "$(grep -c . <<<"$f")" = 1 ] && sed 's/.* //; s/\.0$//' <<<"$f"
}
# dump columns of the one peer: public-key psk endpoint allowed-ips latest-handshake rx tx keepalive
read -r _ _ _ _ hsA rxA txA _ < <(sed -n 2p "$VT_TMP/dumpA")
read -r _ _ _ _ _ rxB txB _ < <(sed -n 2p "$VT_TMP/dumpB")
mrx=$(sample veiltun_peer_bytes_total "public_key=$PUBB" direction=rx "interface=$IFA")
mtx=$(sample veiltun_peer_bytes_total "public_key=$PUBB" direction=tx)
mhs=$(sample veiltun_peer_last_handshake_seconds "public_key=$PUBB")
vt_log "veiltun: rx $mrx tx $mtx (wg dump: rx $rxA tx $txA); wireguard-go: rx $rxB tx $txB; handshake $mhs ($hsA)"
vt_check peer-rx-bytes-equal-wg-dump "metrics rx '$mrx', wg dump rx '$rxA'" test -n "$mrx" -a "$mrx" = "${rxA:-x}"
vt_check peer-tx-bytes-equal-wg-dump "metrics tx '$mtx', wg dump tx '$txA'" test -n "$mtx" -a "$mtx" = "${txA:-x}"
# Traffic was real: more than the 40 pings of 1200 and 300 bytes.
vt_check bytes-counted "tx $mtx rx $mrx" test "${mtx:-0}" -gt $((20 * 1200)) -a "${mrx:-0}" -gt $((20 * 300))
# wireguard-go's own counters, on the other end of the same datagrams.
vt_check veiltun-tx-equals-wireguard-go-rx "veiltun tx $mtx, wireguard-go rx $rxB" test "${mtx:-x}" = "${rxB:-y}"
vt_check veiltun-rx-equals-wireguard-go-tx "veiltun rx $mrx, wireguard-go tx $txB" test "${mrx:-x}" = "${txB:-y}"
vt_check last-handshake-equals-wg-dump "metrics '$mhs', wg dump '$hsA'" \
    test -n "$mhs" -a "${mhs%%.*}" = "${hsA:-x}" -a "${hsA:-0}" -gt 0
vt_check tunnel-bytes-sum "tunnel tx $(sample veiltun_tunnel_bytes_total direction=tx)" \
    test -n "$mtx" -a "$(sample veiltun_tunnel_bytes_total direction=tx)" = "$mtx"
# Datagrams: at least the 40 pings each way went through (handshakes and keepalives add a few).
ptx=$(sample veiltun_tunnel_packets_total direction=tx) prx=$(sample veiltun_tunnel_packets_total direction=rx)
vt_check tunnel-packets-counted "packets tx '$ptx' rx '$prx'" test "${ptx:-0}" -ge 40 -a "${prx:-0}" -ge 40 -a "${ptx:-0}" -lt 1000
hs=$(sample veiltun_tunnel_handshakes_total result=completed)
vt_check handshake-counted "handshakes completed '$hs'" test "${hs:-0}" -ge 1
vt_check peers-gauge "peers '$(sample veiltun_tunnel_peers)'" test "$(sample veiltun_tunnel_peers)" = 1

# A junk transport message (an index nobody has) from B's side: one more drop, under its reason.
before=$(sample veiltun_tunnel_drops_total reason=unknown_index)
ip netns exec "$B" /usr/bin/python3 -c '
import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(bytes([4, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef]) + bytes(24), ("198.51.100.1", 51820))'
drop_counted() { metrics d && parse "$VT_TMP/d.prom" &&
    [ "$(grep -F 'veiltun_tunnel_drops_total{' "$VT_TMP/d.prom.parsed" | grep -F reason=unknown_index | sed 's/.* //; s/\.0$//')" = $((${before:-0} + 1)) ]; }
vt_check drop-counted-with-reason "unknown_index was '${before:-none}', now: $(grep -F drops_total "$VT_TMP/d.prom" 2>/dev/null | tr '\n' ' ')" \
    vt_wait 5 drop_counted

# An interface that does not exist: exit 1, a message on stderr, nothing on stdout.
nosuch() { ! timeout 10 "$VT_VEILTUN" metrics "vmtx$VT_ID" >"$VT_TMP/n.out" 2>"$VT_TMP/n.err" && [ ! -s "$VT_TMP/n.out" ] && [ -s "$VT_TMP/n.err" ]; }
vt_check missing-interface-fails "$(cat "$VT_TMP/n.err" 2>/dev/null)" nosuch
