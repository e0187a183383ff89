#!/usr/bin/env bash
# bench/scale.sh — 10,000 peers and 100,000 allowed IPs on one device, veiltun against
# wireguard-go, interleaved. Run by hand as root; not part of CI (the xunit ScaleTests check correctness).
#
# For each repetition and each implementation: start the daemon in a fresh namespace, `wg setconf` a generated
# config (10,000 peers, 8 IPv4 /32 + 2 IPv6 /128 each, an endpoint each), then time `wg show IF dump` and read the
# daemon's RSS. Prints a markdown table with medians and the veiltun/wireguard-go ratios.
#
#   sudo bench/scale.sh                     # 3 repetitions
#   sudo VT_REPS=1 VT_PEERS=2000 bench/scale.sh
#
# Variables: VT_REPS [3], VT_PEERS [10000], VT_VEILTUN [veiltun], VT_WIREGUARD_GO [wireguard-go].
set -uo pipefail
# shellcheck source=SCRIPTDIR/../scripts/lib/netns.bash
source "$(dirname "$0")/../scripts/lib/netns.bash"
vt_bench_init scale
vt_require ip wg python3 bc timeout
REPS=${VT_REPS:-3}
PEERS=${VT_PEERS:-10000}
VT=${VT_VEILTUN:-veiltun}
GO=${VT_WIREGUARD_GO:-wireguard-go}
NS=vtsc-$$
IF=vsc$$
vt_bench_start                  # $VT_TMP; the EXIT trap stops what runs in $NS (by PID) and deletes it
vt_track_if "$IF"

python3 - "$PEERS" >"$VT_TMP/scale.conf" <<'PY'
import base64, os, sys
n = int(sys.argv[1])
print("[Interface]\nPrivateKey = %s\nListenPort = 51820\n" % base64.b64encode(os.urandom(32)).decode())
for p in range(n):
    ips = ["%d.%d.%d.1/32" % (10 + i, p >> 8, p & 255) for i in range(8)]
    ips += ["2001:db8:%x:%x::1/128" % (p, i) for i in range(2)]
    print("[Peer]\nPublicKey = %s\nAllowedIPs = %s\nEndpoint = 198.51.100.%d:%d\n"
          % (base64.b64encode(os.urandom(32)).decode(), ", ".join(ips), p % 250 + 1, 10000 + p % 50000))
PY

now() { date +%s.%N; }
declare -A SET DUMP RSS
run_one() {   # run_one IMPL-NAME COMMAND
    local name=$1 cmd=$2 t0 t1 t2 pid lines
    vt_ns "$NS" || return 1
    ip netns exec "$NS" env LOG_LEVEL=error timeout 300 "$cmd" "$IF" >/dev/null 2>&1 || { echo "$name did not start" >&2; return 1; }
    for _ in $(seq 50); do [ -S "$VT_RUNDIR/$IF.sock" ] && break; sleep 0.1; done
    t0=$(now)
    timeout 120 ip netns exec "$NS" wg setconf "$IF" "$VT_TMP/scale.conf" || echo "$name: setconf failed" >&2
    t1=$(now)
    lines=$(timeout 120 ip netns exec "$NS" wg show "$IF" dump | wc -l)
    t2=$(now)
    pid=$(ip netns pids "$NS" | head -n 1)
    SET[$name]+="$(echo "$t1 - $t0" | bc) "
    DUMP[$name]+="$(echo "$t2 - $t1" | bc) "
    RSS[$name]+="$(awk '/VmRSS/ {print int($2/1024)}' "/proc/$pid/status") "
    [ "$lines" -eq $((PEERS + 1)) ] || echo "$name: dump has $lines lines, expected $((PEERS + 1))" >&2
    cleanup_ns
}
cleanup_ns() {
    vt_ns_del "$NS"
    rm -f "$VT_RUNDIR/$IF.sock"
}
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {printf "%.3f\n", (NR % 2 ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2)}'; }

for ((r = 1; r <= REPS; r++)); do
    if ((r % 2)); then order="vt go"; else order="go vt"; fi
    for i in $order; do
        echo "# rep $r: $i" >&2
        if [ "$i" = vt ]; then run_one vt "$VT"; else run_one go "$GO"; fi
    done
done

echo "### Scale: $PEERS peers, $((PEERS * 10)) allowed IPs, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, medians of $REPS"
echo
echo "| impl | wg setconf s | wg show dump s | RSS MiB |"
echo "|---|---|---|---|"
for i in go vt; do
    echo "| $i | $(echo "${SET[$i]}" | median) | $(echo "${DUMP[$i]}" | median) | $(echo "${RSS[$i]}" | median) |"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
echo
echo "veiltun / wireguard-go: setconf $(ratio "$(echo "${SET[vt]}" | median)" "$(echo "${SET[go]}" | median)")×, dump $(ratio "$(echo "${DUMP[vt]}" | median)" "$(echo "${DUMP[go]}" | median)")×, RSS $(ratio "$(echo "${RSS[vt]}" | median)" "$(echo "${RSS[go]}" | median)")× (lower is better)"
