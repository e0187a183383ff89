#!/usr/bin/env bash
# The C ABI (libveiltun.so, src/VeilTun.Native/include/veiltun.h) as a C host uses it: builds the library with
# Native AOT (src/VeilTun.Native/build.sh, VEILTUN_ISA as the daemon's), checks that every function the header
# declares is exported, compiles tests/cabi/veiltun_test.c against the header with Debian's gcc (-Wall -Wextra
# -Werror), and runs it in a namespace with a wireguard-go peer in another. The C program opens the TUN itself
# (TUNSETIFF), hands the fd over, pings through the tunnel, reads and changes the config (UAPI text), bumps the
# sockets, turns off, twice; descriptors and threads after the second turn-off must equal those after the first.
# In round 1 the underlay address moves (192.0.2.1 -> .3) before the bump: wireguard-go must learn the new address
# from the bump alone and replies must come back within 5 s (the times are printed); the bump keeps the port.
# Bad input (configs, a non-TUN fd, stale and invalid handles, NULLs) must give negative codes and log lines.
# Its PASS/FAIL lines are this script's. VEILTUN_LIBDIR=DIR uses a libveiltun.so built before (skips the ~80 s
# publish). Prints PASS/FAIL lines and "N passed, N failed".
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# This test drives libveiltun.so, not the daemon: netns.bash's check for a veiltun binary is not needed.
export VEILTUN=${VEILTUN:-true}
# shellcheck source=SCRIPTDIR/../../scripts/lib/netns.bash
source "$here/../../scripts/lib/netns.bash"
vt_init cabi 420
vt_require gcc nm "$VT_WGGO"

A=vtcab-$VT_ID-a
B=vtcab-$VT_ID-b
TUN=vcat$VT_ID
IFB=vcab$VT_ID
vt_clean_stale vtcab-

# 1. libveiltun.so and the header, built as a packager would.
if [ -n "${VEILTUN_LIBDIR:-}" ]; then
    lib=$VEILTUN_LIBDIR
    vt_log "using $lib/libveiltun.so"
else
    lib=$VT_TMP/lib
    t0=$SECONDS
    if ! timeout 600 "$root/src/VeilTun.Native/build.sh" "$lib" >"$VT_TMP/build.log" 2>&1; then
        vt_fail build "src/VeilTun.Native/build.sh failed: $(tail -5 "$VT_TMP/build.log")"
        exit 1
    fi
    vt_log "libveiltun.so built in $((SECONDS - t0)) s (VEILTUN_ISA=${VEILTUN_ISA:-native})"
fi
vt_check build "no libveiltun.so, libsodium.so or include/veiltun.h in $lib" \
    test -f "$lib/libveiltun.so" -a -f "$lib/libsodium.so" -a -f "$lib/include/veiltun.h"

# 2. Every function the header declares is exported, and nothing else named veiltun_*.
declared=$(grep -oE '^[a-z].*\bveiltun_[a-z0-9_]+\(' "$lib/include/veiltun.h" | grep -oE 'veiltun_[a-z0-9_]+' | sort -u)
exported=$(nm -D --defined-only "$lib/libveiltun.so" | awk '$3 ~ /^veiltun_/ {sub(/@.*/, "", $3); print $3}' | sort -u)
vt_check exports "header declares [${declared//$'\n'/ }], library exports [${exported//$'\n'/ }]" \
    test -n "$declared" -a "$declared" = "$exported"

# 3. The C program, against the installed header only.
gcc -std=c11 -O2 -Wall -Wextra -Werror -pthread -I "$lib/include" "$root/tests/cabi/veiltun_test.c" \
    -L "$lib" -lveiltun -Wl,-rpath,"$lib" -o "$VT_TMP/veiltun_test" >"$VT_TMP/gcc.log" 2>&1
vt_check compile "gcc failed: $(cat "$VT_TMP/gcc.log")" test -x "$VT_TMP/veiltun_test" || exit 1

# 4. Side A runs the C program (its tunnel 198.51.100.1), side B wireguard-go (198.51.100.2); underlay 192.0.2.0/24.
if ! { vt_ns "$A" && vt_ns "$B" && vt_veth "$A" veth0 192.0.2.1/24 "$B" veth0 192.0.2.2/24; }; then
    vt_fail setup "cannot create namespaces/veth: $VT_ERR"
    exit 1
fi
if ! vt_genkey a || ! vt_genkey b; then vt_fail setup "$VT_ERR"; exit 1; fi
if ! vt_start_wggo "$B" "$IFB" ||
    ! ip netns exec "$B" wg set "$IFB" private-key "$VT_TMP/b.key" listen-port 51820 \
        peer "$(cat "$VT_TMP/a.pub")" allowed-ips 198.51.100.1/32 ||
    ! ip -n "$B" addr add 198.51.100.2/24 dev "$IFB" || ! ip -n "$B" link set "$IFB" up; then
    vt_show_logs "$IFB"
    vt_fail setup "wireguard-go did not come up"
    exit 1
fi
cat >"$VT_TMP/a.conf" <<EOF
# wg(8) text, as veiltun_turn_on takes it
[Interface]
PrivateKey = $(cat "$VT_TMP/a.key")

[Peer]
PublicKey = $(cat "$VT_TMP/b.pub")
Endpoint = 192.0.2.2:51820
AllowedIPs = 198.51.100.2/32
EOF

t0=$SECONDS
timeout 120 ip netns exec "$A" "$VT_TMP/veiltun_test" "$VT_TMP/a.conf" "$TUN" 198.51.100.2 \
    "$(vt_b64hex "$(cat "$VT_TMP/b.pub")")" \
    "ip addr add 198.51.100.1/24 dev $TUN && ip link set $TUN up" \
    "ip addr del 192.0.2.1/24 dev veth0 && ip addr add 192.0.2.3/24 dev veth0" \
    "ip netns exec $B wg show $IFB endpoints | grep -q '192.0.2.3:'" >"$VT_TMP/c.out" 2>"$VT_TMP/c.err"
rc=$?
vt_log "the C program ran $((SECONDS - t0)) s, exit $rc"
# Its checks are ours: count them into the summary.
while IFS= read -r line; do
    case $line in
    "PASS "*) vt_pass "${line#PASS }" ;;
    "FAIL "*) name=${line#FAIL }; vt_fail "${name%%: *}" "${name#*: }" ;;
    esac
done <"$VT_TMP/c.out"
if [ "$rc" -ne 0 ]; then
    grep -q '^FAIL ' "$VT_TMP/c.out" || vt_fail cabi-program "exited $rc without a FAIL line (crash?): $(tail -5 "$VT_TMP/c.err")"
    vt_log "---- the C program's log (last 40 lines)"
    tail -n 40 "$VT_TMP/c.err" | sed 's/^/#   /' >&2
    vt_show_logs "$IFB"
fi
grep -E '^# (libveiltun|after|network change)' "$VT_TMP/c.err" >&2
# No line the library logged carries a key (the private key of the config, in base64 or hex).
no_key_in_log() {
    local key
    key=$(cat "$VT_TMP/a.key")
    ! grep -qF -e "$key" -e "$(vt_b64hex "$key")" "$VT_TMP/c.err"
}
vt_check log-no-secrets "the private key appears in the library's log" no_key_in_log
