#!/usr/bin/env bash
# tests/interop/idle.sh — idle means asleep (issue #16), the CI version of bench/idle.sh: the veiltun daemon with one
# wireguard-go peer, handshake done, then 10 s with no traffic and 10 s with a 5 s persistent keepalive. Bounds
# are generous so that CI load cannot make it flake, yet a build that polls fails them: at most IDLE_MAX_WAKEUPS
# (3) context switches per second over the whole process, at most IDLE_MAX_THREADS (12) threads and IDLE_MAX_RSS_MIB
# (10) MiB resident; with the keepalive at most IDLE_MAX_KEEPALIVE_WAKEUPS (8) per second and the keepalives sent.
# The build before issue #16 measured 66-155 wake-ups/s, 17-18 threads, 11.3-12.2 MiB. About 45 s.
# As root, with wireguard-go installed; prints PASS/FAIL lines and "N passed, N failed".
set -u -o pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../scripts/lib/netns.bash
source "$here/../../scripts/lib/netns.bash"
: "${IDLE_MAX_WAKEUPS:=3}"
: "${IDLE_MAX_THREADS:=12}"
: "${IDLE_MAX_RSS_MIB:=10}"
: "${IDLE_MAX_KEEPALIVE_WAKEUPS:=8}"   # the 5 s keepalive window: each keepalive wakes the control thread and a worker
vt_init idle 180
vt_require wireguard-go bc

tsv=$VT_TMP/idle.tsv
out=$(IDLE_ONLY=vt IDLE_SECONDS=10 IDLE_SETTLE=12 IDLE_KEEPALIVE=5 IDLE_TSV=$tsv VT_VEILTUN=$VT_VEILTUN \
    timeout 150 "$here/../../bench/idle.sh" 2>"$VT_TMP/bench.log")
rc=$?
if [ "$rc" -ne 0 ] || [ ! -s "$tsv" ]; then
    vt_fail idle-bench "bench/idle.sh failed (exit $rc): $(tail -n 5 "$VT_TMP/bench.log")"
    exit 1
fi
vt_pass idle-bench
echo "$out" | sed 's/^/# /' >&2

# impl mode rep seconds wakeups cpu_ticks threads threads_max rss_kib sent/32
while IFS=$'\t' read -r impl mode _ secs wakeups _ threads thmax rss sent; do
    [ "$impl" = vt ] || continue
    rate=$(echo "scale=2; $wakeups / $secs" | bc)
    max=$IDLE_MAX_WAKEUPS
    [[ $mode == keepalive* ]] && max=$IDLE_MAX_KEEPALIVE_WAKEUPS
    if [ "$(echo "$rate <= $max" | bc)" = 1 ]; then
        vt_pass "idle-$mode-wakeups ($rate/s)"
    else
        vt_fail "idle-$mode-wakeups" "$rate wake-ups/s > $max (per thread: $(grep "vt: " "$VT_TMP/bench.log" | sed 's/.*; //' | tr '\n' ' '))"
    fi
    if [ "$thmax" -le "$IDLE_MAX_THREADS" ]; then
        vt_pass "idle-$mode-threads ($threads, max $thmax)"
    else
        vt_fail "idle-$mode-threads" "$thmax threads > $IDLE_MAX_THREADS"
    fi
    if [ "$rss" -le $((IDLE_MAX_RSS_MIB * 1024)) ]; then
        vt_pass "idle-$mode-rss ($((rss / 1024)) MiB)"
    else
        vt_fail "idle-$mode-rss" "$rss KiB > $IDLE_MAX_RSS_MIB MiB"
    fi
    # The keepalive must still go out on time: 10 s at 5 s is 2 (3 at most with the one sent when turned on).
    if [[ $mode == keepalive* ]]; then
        if [ "$sent" -ge 2 ]; then vt_pass "idle-keepalives-sent ($sent)"; else vt_fail idle-keepalives-sent "only $sent keepalive-sized sends in ${secs}s at 5 s"; fi
    fi
done <"$tsv"
