#!/usr/bin/env bash
# Handshake flood with a valid mac1 against a veiltun responder, while a real wireguard-go initiator handshakes.
#   ns R: veiltun responder, veth0 198.51.100.1 (to I), veth1 203.0.113.1 (to F), tunnel 192.0.2.1
#   ns I: wireguard-go initiator, veth0 198.51.100.2, tunnel 192.0.2.2
#   ns F: flooder (python3), veth0 203.0.113.2
# The flood: handshake initiations whose mac1 is valid (keyed BLAKE2s-128, key BLAKE2s-256("mac1----" || Spub_R),
# over bytes 0..115; whitepaper §5.4.4) and whose ephemeral/static/timestamp are random, in bursts of 256 every 40 ms
# (6,400/s, bounded by time and count). A burst fills veiltun's handshake queue past 1024/8 = 128 entries, which
# (as in wireguard-go) means "under load" for 1 s: initiations without a valid mac2 get a 64-byte cookie reply.
# Checks: cookie replies reach the flooder (counted on the wire with nft, and each one decrypts with
# XChaCha20-Poly1305 under HASH("cookie--" || Spub_R) with the initiation's mac1 as AD, checked for a sample);
# the wireguard-go peer completes a fresh handshake during the flood (through the cookie/mac2 path); veiltun keeps
# running, counts the drops, and loses no peer. Prints PASS/FAIL lines and "N passed, N failed".
# shellcheck disable=SC2317 # helpers run through vt_check/vt_wait look unreachable to shellcheck
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../../scripts/lib/netns.bash
source "$here/../../scripts/lib/netns.bash"
vt_init flood 90
vt_require wireguard-go nft ping

R=vtflood-$VT_ID-r
I=vtflood-$VT_ID-i
F=vtflood-$VT_ID-f
IFR=vtf$VT_ID
IFI=vtfg$VT_ID
PORT=51820
FLOOD_SECONDS=25     # upper bound; the flood is stopped as soon as the checks that need it are done
FLOOD_MAX=300000     # upper bound on initiations sent
BURST=512
INTERVAL_MS=40
WARMUP=20            # paced initiations before the bursts: each must be counted as an invalid handshake

wgR() { timeout 15 ip netns exec "$R" wg "$@"; }
wgI() { timeout 15 ip netns exec "$I" wg "$@"; }
nft_count() { ip netns exec "$R" nft list counter inet vtflood "$1" 2>/dev/null | sed -n 's/.*packets \([0-9]*\).*/\1/p'; }

# The flooder. argv: ip port responder_pub_b64 seconds max burst interval_ms warmup out.json
# Sends mac1-valid garbage initiations with distinct sender indices, reads what comes back and classifies it.
# First `warmup` of them 20 ms apart: veiltun is not under load yet, so it runs the Noise checks on each and must
# count an invalid handshake (no reply); then the bursts.
FLOODER=$(cat <<'PY'
import base64, hashlib, json, os, signal, socket, struct, sys, time

ip, port, pub = sys.argv[1], int(sys.argv[2]), base64.b64decode(sys.argv[3])
seconds, maximum, burst, interval = float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7]) / 1000
warmup, out_path = int(sys.argv[8]), sys.argv[9]
mac1_key = hashlib.blake2s(b"mac1----" + pub).digest()
cookie_key = hashlib.blake2s(b"cookie--" + pub).digest()

# XChaCha20-Poly1305 open, pure Python (RFC 8439 ChaCha20 and Poly1305; HChaCha20 per draft-irtf-cfrg-xchacha §2.2),
# so the check needs nothing beyond the standard library. Used on a sample of replies only (it is slow).
def _rotl(v, c): return ((v << c) & 0xffffffff) | (v >> (32 - c))
def _qr(s, a, b, c, d):
    s[a] = (s[a] + s[b]) & 0xffffffff; s[d] = _rotl(s[d] ^ s[a], 16)
    s[c] = (s[c] + s[d]) & 0xffffffff; s[b] = _rotl(s[b] ^ s[c], 12)
    s[a] = (s[a] + s[b]) & 0xffffffff; s[d] = _rotl(s[d] ^ s[a], 8)
    s[c] = (s[c] + s[d]) & 0xffffffff; s[b] = _rotl(s[b] ^ s[c], 7)
def _rounds(s):
    for _ in range(10):
        _qr(s, 0, 4, 8, 12); _qr(s, 1, 5, 9, 13); _qr(s, 2, 6, 10, 14); _qr(s, 3, 7, 11, 15)
        _qr(s, 0, 5, 10, 15); _qr(s, 1, 6, 11, 12); _qr(s, 2, 7, 8, 13); _qr(s, 3, 4, 9, 14)
_C = (0x61707865, 0x3320646e, 0x79622d32, 0x6b206574)
def _block(key, counter, nonce12):
    init = list(_C) + list(struct.unpack('<8I', key)) + [counter] + list(struct.unpack('<3I', nonce12))
    s = init[:]; _rounds(s)
    return struct.pack('<16I', *[(x + y) & 0xffffffff for x, y in zip(s, init)])
def _hchacha(key, nonce16):
    s = list(_C) + list(struct.unpack('<8I', key)) + list(struct.unpack('<4I', nonce16)); _rounds(s)
    return struct.pack('<8I', *(s[0:4] + s[12:16]))
def _poly1305(key, msg):
    r = int.from_bytes(key[:16], 'little') & 0x0ffffffc0ffffffc0ffffffc0fffffff
    sk, p, acc = int.from_bytes(key[16:], 'little'), (1 << 130) - 5, 0
    for i in range(0, len(msg), 16):
        acc = (acc + int.from_bytes(msg[i:i + 16] + b'\x01', 'little')) * r % p
    return ((acc + sk) & ((1 << 128) - 1)).to_bytes(16, 'little')
def xaead_open(key, nonce24, sealed, ad):
    sub, n12 = _hchacha(key, nonce24[:16]), b'\0' * 4 + nonce24[16:]
    ct, tag = sealed[:-16], sealed[-16:]
    pad = lambda b: b + b'\0' * (-len(b) % 16)
    if _poly1305(_block(sub, 0, n12)[:32], pad(ad) + pad(ct) + struct.pack('<QQ', len(ad), len(ct))) != tag:
        return None
    return bytes(a ^ b for a, b in zip(ct, _block(sub, 1, n12)))

stop = False
def on_term(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_term)
signal.signal(signal.SIGINT, on_term)

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.connect((ip, port))
s.setblocking(False)
base = struct.unpack('<I', os.urandom(4))[0]
mac1_of = {}   # sender index -> mac1, for checking replies
st = dict(sent=0, send_errors=0, replies=0, replies_unknown_index=0, other=0, verified_ok=0, verified_bad=0,
          seconds=0.0)

def drain():
    while True:
        try:
            d = s.recv(2048)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:   # e.g. ICMP port unreachable surfaced as ECONNREFUSED
            st['other'] += 1
            continue
        if len(d) == 64 and d[:4] == b'\x03\0\0\0':
            ri = struct.unpack_from('<I', d, 4)[0]
            mac1 = mac1_of.get(ri)
            if mac1 is None:
                st['replies_unknown_index'] += 1
                continue
            st['replies'] += 1
            if st['verified_ok'] + st['verified_bad'] < 20:
                cookie = xaead_open(cookie_key, d[8:32], d[32:64], mac1)
                st['verified_ok' if cookie is not None and len(cookie) == 16 else 'verified_bad'] += 1
        else:
            st['other'] += 1

def send_one():
    idx = (base + st['sent']) & 0xffffffff
    # type 1 + 3 reserved zero bytes, sender index, then 108 random bytes (ephemeral, static, timestamp)
    body = struct.pack('<II', 1, idx) + os.urandom(108)
    mac1 = hashlib.blake2s(body, key=mac1_key, digest_size=16).digest()
    try:
        s.send(body + mac1 + bytes(16))   # mac2: zeros, no cookie
        mac1_of[idx] = mac1
    except (BlockingIOError, ConnectionRefusedError, OSError):
        st['send_errors'] += 1
    st['sent'] += 1

start = time.monotonic()
try:
    for _ in range(warmup):
        send_one()
        time.sleep(0.02)
        drain()
    st['warmup'] = warmup
    next_tick = time.monotonic()
    while not stop and st['sent'] < maximum and time.monotonic() - start < seconds:
        for _ in range(min(burst, maximum - st['sent'])):
            send_one()
        drain()
        next_tick += interval
        delay = next_tick - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            next_tick = time.monotonic()
    st['seconds'] = time.monotonic() - start
    end = time.monotonic() + 0.5   # late replies
    while time.monotonic() < end:
        drain()
        time.sleep(0.02)
finally:
    with open(out_path + '.tmp', 'w') as f:
        json.dump(st, f)
    os.rename(out_path + '.tmp', out_path)
PY
)

# --- setup ---------------------------------------------------------------------------------------------------------
if ! { vt_ns "$R" && vt_ns "$I" && vt_ns "$F" &&
    vt_veth "$R" veth0 198.51.100.1/24 "$I" veth0 198.51.100.2/24 &&
    vt_veth "$R" veth1 203.0.113.1/24 "$F" veth0 203.0.113.2/24; }; then
    vt_fail setup "cannot create namespaces/veths"
    exit 1
fi
for k in r i x; do vt_genkey "$k"; done
PUBR=$(cat "$VT_TMP/r.pub") PUBI=$(cat "$VT_TMP/i.pub") PUBX=$(cat "$VT_TMP/x.pub")

# Cookie replies (UDP payload 64 bytes = UDP length 72, starting 03 00 00 00) leaving veiltun, per direction, and
# initiations (156 = 8 + 148) arriving from the flooder.
ip netns exec "$R" nft -f - <<EOF || { vt_fail setup "nft ruleset rejected"; exit 1; }
table inet vtflood {
    counter cookie_flooder {}
    counter cookie_peer {}
    counter init_flooder {}
    chain out {
        type filter hook output priority 0; policy accept;
        oifname "veth1" udp sport $PORT udp length 72 @th,64,32 0x03000000 counter name cookie_flooder
        oifname "veth0" udp sport $PORT udp length 72 @th,64,32 0x03000000 counter name cookie_peer
    }
    chain in {
        type filter hook input priority 0; policy accept;
        iifname "veth1" udp dport $PORT udp length 156 counter name init_flooder
    }
}
EOF

# veiltun logs at "error" here: a flood at verbose would only fill the log.
if ! VT_LOG_LEVEL=error vt_start_veiltun "$R" "$IFR" ||
    ! wgR set "$IFR" private-key "$VT_TMP/r.key" listen-port "$PORT" \
        peer "$PUBI" allowed-ips 192.0.2.2/32 \
        peer "$PUBX" allowed-ips 192.0.2.3/32 endpoint 203.0.113.99:51820 ||
    ! ip -n "$R" addr add 192.0.2.1/24 dev "$IFR" || ! ip -n "$R" link set "$IFR" up; then
    vt_show_logs "$IFR"
    vt_fail setup "veiltun in $R did not come up"
    exit 1
fi
vtpid=$(vt_veiltun_pids "$R" | head -1)
add_peer_on_i() {
    wgI set "$IFI" peer "$PUBR" allowed-ips 192.0.2.1/32 endpoint "198.51.100.1:$PORT"
}
if ! vt_start_wggo "$I" "$IFI" || ! wgI set "$IFI" private-key "$VT_TMP/i.key" || ! add_peer_on_i ||
    ! ip -n "$I" addr add 192.0.2.2/24 dev "$IFI" || ! ip -n "$I" link set "$IFI" up; then
    vt_show_logs "$IFI"
    vt_fail setup "wireguard-go in $I did not come up"
    exit 1
fi

vt_check baseline-ping "no ping through the tunnel before the flood" vt_ping "$I" 192.0.2.1 3 10
config_before=$(vt_get_config "$IFR")
peers_before=$(wgR show "$IFR" peers | sort)

# --- flood -----------------------------------------------------------------------------------------------------------
timeout $((FLOOD_SECONDS + 10)) ip netns exec "$F" python3 -c "$FLOODER" 203.0.113.1 "$PORT" "$PUBR" \
    "$FLOOD_SECONDS" "$FLOOD_MAX" "$BURST" "$INTERVAL_MS" "$WARMUP" "$VT_TMP/flood.json" 2>"$VT_TMP/flooder.err" &
floodpid=$!
vt_track_pid "$floodpid"
flood_start=$SECONDS

# The clock starts when the first initiation reaches veiltun (the flooder's start-up and warm-up take a while on a
# busy machine), then veiltun must answer the flooder with cookie replies within 8 s.
got_init() { [ "$(nft_count init_flooder)" -gt 0 ] 2>/dev/null; }
got_cookie() { [ "$(nft_count cookie_flooder)" -gt 0 ] 2>/dev/null; }
vt_wait 30 got_init
if vt_wait 8 got_cookie; then
    vt_pass under-load-cookie-replies
else
    vt_fail under-load-cookie-replies "no cookie reply to the flooder within 8 s (initiations seen: $(nft_count init_flooder))"
fi

# A fresh session from wireguard-go while the flood runs: drop the peer on its side and add it back, then ping.
# veiltun is under load, so wireguard-go's first initiation (no mac2) gets a cookie reply; its retry about 5 s
# later carries mac2 and must be accepted.
hs0=$(vt_latest_handshake "$I" "$IFI" "$PUBR")
cookies_to_peer0=$(nft_count cookie_peer)
wgI set "$IFI" peer "$PUBR" remove && add_peer_on_i
sleep 1.1 # latest-handshake has 1 s resolution
if vt_ping "$I" 192.0.2.1 3 20; then ping_ok=1; else ping_ok=0; fi
kill -0 "$floodpid" 2>/dev/null && flood_alive=1 || flood_alive=0
hs1=$(vt_latest_handshake "$I" "$IFI" "$PUBR")
cookies_to_peer1=$(nft_count cookie_peer)
if [ "$ping_ok" = 1 ] && [ "$flood_alive" = 1 ] && [ "${hs1:-0}" -gt "${hs0:-0}" ]; then
    vt_pass handshake-during-flood
else
    vt_fail handshake-during-flood "ping ok=$ping_ok, flood still running=$flood_alive, wireguard-go latest handshake $hs0 -> $hs1"
fi
if [ "$((cookies_to_peer1 - cookies_to_peer0))" -ge 1 ] && [ "$ping_ok" = 1 ]; then
    vt_pass peer-handshake-via-cookie
else
    vt_fail peer-handshake-via-cookie "cookie replies to wireguard-go during its handshake: $((cookies_to_peer1 - cookies_to_peer0)) (expected >= 1: veiltun was not under load then, or the retry with mac2 failed)"
fi

# Stop the flood; the flooder writes its tallies on SIGTERM.
kill -TERM "$floodpid" 2>/dev/null
vt_wait 10 test -s "$VT_TMP/flood.json"
wait "$floodpid" 2>/dev/null
flood_secs=$((SECONDS - flood_start))
if [ -s "$VT_TMP/flood.json" ]; then
    read -r sent secs replies unknown verified_ok verified_bad < <(python3 -c '
import json, sys; d = json.load(open(sys.argv[1]))
print(d["sent"], d["seconds"], d["replies"], d["replies_unknown_index"], d["verified_ok"], d["verified_bad"])' "$VT_TMP/flood.json")
    vt_log "flooder: $(cat "$VT_TMP/flood.json")"
else
    sent=0 secs=0 replies=0 unknown=0 verified_ok=0 verified_bad=0
    vt_log "flooder wrote no results: $(cat "$VT_TMP/flooder.err")"
fi
rate=$(python3 -c 'import sys; s=float(sys.argv[2]); print(int(int(sys.argv[1]) / s) if s > 0 else 0)' "$sent" "$secs")
wire_init=$(nft_count init_flooder)
wire_cookie=$(nft_count cookie_flooder)
vt_log "flood: ${sent} initiations in ${secs}s (~${rate}/s), ${wire_init} reached veiltun's socket hook, ${wire_cookie} cookie replies on the wire, ${replies} read by the flooder"
if [ "$rate" -ge 2000 ] && [ "$sent" -ge 10000 ]; then
    vt_pass flood-strength
else
    vt_fail flood-strength "only $sent initiations at ~$rate/s: the flood was too weak to test anything"
fi
if [ "$replies" -ge 1 ] && [ "$unknown" -eq 0 ] && [ "$verified_ok" -ge 1 ] && [ "$verified_bad" -eq 0 ]; then
    vt_pass cookie-replies-valid
else
    vt_fail cookie-replies-valid "flooder read $replies cookie replies ($unknown with an index it never sent); of a sample, $verified_ok decrypted with HASH(\"cookie--\"||Spub) and the mac1 as AD, $verified_bad did not"
fi

# --- afterwards --------------------------------------------------------------------------------------------------------
if kill -0 "$vtpid" 2>/dev/null && [ "$(vt_veiltun_pids "$R" | head -1)" = "$vtpid" ]; then
    vt_pass veiltun-survives
else
    vt_fail veiltun-survives "veiltun (pid $vtpid) is gone after the flood"
fi
stats=$(timeout 10 ip netns exec "$R" "$VT_VEILTUN" stats "$IFR" 2>&1)
stats_rc=$?
vt_log "veiltun stats: $(tr '\n' ' ' <<<"$stats")"
cookie_sent=$(sed -n 's/^ *cookie_reply_sent: *\([0-9]*\)$/\1/p' <<<"$stats")
invalid=$(sed -n 's/^ *invalid_handshake: *\([0-9]*\)$/\1/p' <<<"$stats")
# Every cookie reply seen leaving on the wire (to the flooder and to wireguard-go) was counted as a drop.
wire_total=$((wire_cookie + cookies_to_peer1))
if [ "$stats_rc" -eq 0 ] && [ "${cookie_sent:-0}" -ge "$wire_total" ] && [ "$wire_total" -gt 0 ]; then
    vt_pass stats-count-cookie-replies
else
    vt_fail stats-count-cookie-replies "veiltun stats (exit $stats_rc) says cookie_reply_sent=${cookie_sent:-absent}, the wire saw $wire_total"
fi
if [ "${invalid:-0}" -ge "$WARMUP" ]; then
    vt_pass stats-count-invalid-handshakes
else
    vt_fail stats-count-invalid-handshakes "invalid_handshake=${invalid:-absent}, expected >= $WARMUP (the paced initiations sent before the bursts; stats: $(tr '\n' ' ' <<<"$stats"))"
fi
config_after=$(vt_get_config "$IFR")
peers_after=$(wgR show "$IFR" peers | sort)
if [ "$peers_after" = "$peers_before" ] && [ "$config_after" = "$config_before" ] && [ "$(wc -l <<<"$peers_after")" -eq 2 ]; then
    vt_pass peers-unchanged
else
    vt_fail peers-unchanged "before: $(tr '\n' ' ' <<<"$config_before") after: $(tr '\n' ' ' <<<"$config_after")"
fi
vt_check ping-after-flood-i-to-r "no ping I->R after the flood" vt_ping "$I" 192.0.2.1 3 10
vt_check ping-after-flood-r-to-i "no ping R->I after the flood" vt_ping "$R" 192.0.2.2 3 10
log_size=$(stat -c %s "$VT_TMP/$IFR.log" 2>/dev/null || echo 0)
vt_log "veiltun log: $log_size bytes; flood phase ${flood_secs}s"
[ "$VT_FAIL" -eq 0 ] || vt_show_logs "$IFR" "$IFI"
exit 0
