#!/usr/bin/env bash
# bench/idle.sh — what an idle tunnel costs: veiltun and wireguard-go side by side in one run, each a daemon in its own
# pair of network namespaces (its own /var/run/wireguard) with one peer (wireguard-go in the other namespace), handshake done (a ping),
# then a quiet settle (the peer's passive keepalive, 10 s after the ping, passes) and IDLE_SECONDS with no traffic
# and no keepalive; then the same with persistent keepalive on the measured daemon's peer. For each daemon: wake-ups
# (voluntary + involuntary context switches summed over every thread in /proc/PID/task/*/status, sampled every
# IDLE_SAMPLE seconds so a thread that exits within the window still counts up to its last sample), CPU time
# (utime + stime of the process), threads and RSS (VmRSS) at the end, and the threads that woke most (by name, from
# /proc/PID/task/*/comm). Prints a markdown table on stdout; progress on stderr. Run by hand, as root; not CI
# (tests/interop/idle.sh is the short CI version, through this script with IDLE_ONLY=vt).
#
#   sudo bench/idle.sh                                   # 30 s idle + 30 s keepalive (5 s): about 1.5 minutes
#   sudo IDLE_REPS=3 bench/idle.sh                       # three windows of each
#   sudo VEILTUN=/opt/wt-x/veiltun PATH=/opt/wt-x:$PATH bench/idle.sh    # another build
#
# Variables (defaults in brackets):
#   IDLE_SECONDS [30]    length of each measured window
#   IDLE_REPS [1]        windows of each kind (idle, keepalive), one after the other on the same daemons
#   IDLE_SETTLE [12]     quiet seconds after the ping before the idle window (> the 10 s passive keepalive); the
#                        last UAPI request to the measured daemon is before it
#   IDLE_KEEPALIVE [5]   persistent-keepalive seconds for the keepalive windows (0: no keepalive windows)
#   IDLE_SAMPLE [1]      seconds between samples of the thread counters
#   IDLE_ONLY []         vt or go: measure only that daemon
#   IDLE_VEILTUN_BASE [] a second veiltun build (vb) measured in the same run, for before/after figures
#   IDLE_TSV []          file: one line per daemon and window: impl mode rep seconds wakeups cpu_ticks threads
#                        threads_max rss_kib keepalives
#   VEILTUN [veiltun]    the veiltun command;  WIREGUARD_GO [wireguard-go]
#
# Addresses are documentation ranges only: underlay 198.51.100.1-2/24, overlay 192.0.2.1-2/24 in each pair (the
# pairs never see each other). Everything is stopped by PID and its namespaces (vti-<pid>-*) deleted at exit.
set -u -o pipefail
# shellcheck source=SCRIPTDIR/../scripts/lib/netns.bash
source "$(dirname "$0")/../scripts/lib/netns.bash"
export LC_ALL=C

: "${IDLE_SECONDS:=30}"
: "${IDLE_REPS:=1}"
: "${IDLE_SETTLE:=12}"
: "${IDLE_KEEPALIVE:=5}"
: "${IDLE_SAMPLE:=1}"
: "${IDLE_ONLY:=}"
: "${IDLE_TSV:=}"
: "${IDLE_VEILTUN_BASE:=}"

say() { printf '# [%ss] %s\n' "$((SECONDS - VT_START))" "$*" >&2; }
VT_SAY=say
vt_bench_init idle
vt_require wg wireguard-go python3 timeout "$VT_VEILTUN"
vt_bench_start
vt_clean_stale vti-

impls=(vt go)
[ -n "$IDLE_VEILTUN_BASE" ] && impls=(vb vt go)
[ -n "$IDLE_ONLY" ] && impls=("$IDLE_ONLY")
declare -A NS_D NS_P IF_D IF_P PID PUB_P RUN_D RUN_P
wgd() { local impl=$1; shift; vt_priv "${NS_D[$impl]}" "${RUN_D[$impl]}" wg "$@"; }   # wg beside the measured daemon
wgp() { local impl=$1; shift; vt_priv "${NS_P[$impl]}" "${RUN_P[$impl]}" wg "$@"; }   # wg beside its peer
for impl in "${impls[@]}"; do
    NS_D[$impl]=vti-$VT_ID-$impl-d NS_P[$impl]=vti-$VT_ID-$impl-p
    IF_D[$impl]=vti$impl$VT_ID IF_P[$impl]=vtp$impl$VT_ID
    vt_ns "${NS_D[$impl]}" && vt_ns "${NS_P[$impl]}" &&
        vt_veth "${NS_D[$impl]}" veth0 198.51.100.1/24 "${NS_P[$impl]}" veth0 198.51.100.2/24 || vt_die "namespaces: $VT_ERR"
    vt_genkey "$impl-d" && vt_genkey "$impl-p" || vt_die "$VT_ERR"
    PUB_P[$impl]=$(cat "$VT_TMP/$impl-p.pub")
    # The daemon measured, in the foreground with its own /var/run/wireguard (nobody else's sockets come and go
    # there: the UAPI listener's inotify watch would see them); veiltun drops root through setpriv as by default.
    RUN_D[$impl]=$VT_TMP/run-$impl-d RUN_P[$impl]=$VT_TMP/run-$impl-p
    case $impl in vt) exe=$VT_VEILTUN ;; vb) exe=$IDLE_VEILTUN_BASE ;; *) exe=$VT_WGGO ;; esac
    LOG_LEVEL=error vt_daemon_start "${NS_D[$impl]}" "${RUN_D[$impl]}" "$VT_TMP/$impl-d.log" "${IF_D[$impl]}" "${IF_D[$impl]}" \
        "$exe" -f "${IF_D[$impl]}" || { tail -n 20 "$VT_TMP/$impl-d.log" >&2; vt_die "the $impl daemon did not start: $VT_ERR"; }
    PID[$impl]=$VT_DAEMON_PID
    # Its peer: always wireguard-go.
    LOG_LEVEL=error vt_daemon_start "${NS_P[$impl]}" "${RUN_P[$impl]}" "$VT_TMP/$impl-p.log" "${IF_P[$impl]}" "${IF_P[$impl]}" \
        "$VT_WGGO" -f "${IF_P[$impl]}" || vt_die "the peer's wireguard-go did not start: $VT_ERR"
    wgd "$impl" set "${IF_D[$impl]}" private-key "$VT_TMP/$impl-d.key" listen-port 51820 \
        peer "${PUB_P[$impl]}" allowed-ips 192.0.2.2/32 endpoint 198.51.100.2:51820 || vt_die "wg set ($impl)"
    wgp "$impl" set "${IF_P[$impl]}" private-key "$VT_TMP/$impl-p.key" listen-port 51820 \
        peer "$(cat "$VT_TMP/$impl-d.pub")" allowed-ips 192.0.2.1/32 endpoint 198.51.100.1:51820 || vt_die "wg set (peer of $impl)"
    ip -n "${NS_D[$impl]}" addr add 192.0.2.1/24 dev "${IF_D[$impl]}" && ip -n "${NS_D[$impl]}" link set "${IF_D[$impl]}" up &&
        ip -n "${NS_P[$impl]}" addr add 192.0.2.2/24 dev "${IF_P[$impl]}" && ip -n "${NS_P[$impl]}" link set "${IF_P[$impl]}" up ||
        vt_die "addresses ($impl)"
    say "$impl daemon: PID ${PID[$impl]} in ${NS_D[$impl]}"
done

# SAMPLER SECONDS INTERVAL LABEL=PID...: one line per PID: label wakeups cpu_ticks threads threads_max rss_kib
# top-wakers. Wake-ups: per thread (TID), the last counter seen minus the first (0 for a thread born in the window).
SAMPLER=$(cat <<'PY'
import os, sys, time
seconds, interval = float(sys.argv[1]), float(sys.argv[2])
procs = [a.split("=") for a in sys.argv[3:]]
def threads(pid):
    out = {}
    try: tids = os.listdir(f"/proc/{pid}/task")
    except OSError: return out
    for t in tids:
        try:
            n = 0
            with open(f"/proc/{pid}/task/{t}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")): n += int(line.split()[1])
            with open(f"/proc/{pid}/task/{t}/comm") as f: name = f.read().strip()
            out[t] = (n, name)
        except OSError: pass
    return out
def ticks(pid):
    try:
        with open(f"/proc/{pid}/stat") as f: rest = f.read().rsplit(")", 1)[1].split()
        return int(rest[11]) + int(rest[12])
    except OSError: return 0
def rss(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS"): return int(line.split()[1])
    except OSError: pass
    return 0
first = {}; last = {}; names = {}; maxthreads = {}; t0 = {}
for label, pid in procs:
    th = threads(pid)
    first[label] = {t: n for t, (n, _) in th.items()}
    last[label] = dict(first[label]); names[label] = {t: nm for t, (_, nm) in th.items()}
    maxthreads[label] = len(th); t0[label] = ticks(pid)
end = time.monotonic() + seconds
while True:
    now = time.monotonic()
    if now >= end: break
    time.sleep(min(interval, end - now))
    for label, pid in procs:
        th = threads(pid)
        maxthreads[label] = max(maxthreads[label], len(th))
        for t, (n, nm) in th.items():
            last[label][t] = n; names[label][t] = nm
            first[label].setdefault(t, 0)
for label, pid in procs:
    th = threads(pid)
    by = {}
    for t in last[label]:
        d = last[label][t] - first[label].get(t, 0)
        nm = names[label][t].rstrip("0123456789") or names[label][t]
        by[nm] = by.get(nm, 0) + d
    total = sum(by.values())
    top = ",".join(f"{k.replace(' ', '_')}:{v}" for k, v in sorted(by.items(), key=lambda kv: -kv[1]) if v > 0)
    print(label, total, ticks(pid) - t0[label], len(th), maxthreads[label], rss(pid), top or "-")
PY
)

# What the peer received from the daemon (rx bytes at the peer), to count the keepalives a window sent (32 bytes
# each). Asked of the peer, not of the measured daemon: a UAPI request wakes the daemon's thread pool for a while.
txbytes() { wgp "$1" show "${IF_P[$1]}" transfer 2>/dev/null | awk '{print $2}'; }

handshake() {
    local impl
    for impl in "${impls[@]}"; do
        vt_ping "${NS_P[$impl]}" 192.0.2.1 3 10 || vt_die "no ping through the $impl tunnel"
    done
}

rows=()
window() {  # MODE REP
    local mode=$1 rep=$2 impl args=() line label w cpu th thmax rss top ka
    declare -A tx0
    for impl in "${impls[@]}"; do
        args+=("$impl=${PID[$impl]}")
        tx0[$impl]=$(txbytes "$impl")
    done
    say "$mode window $rep: ${IDLE_SECONDS}s"
    local out
    out=$(timeout $((${IDLE_SECONDS%.*} + 30)) python3 -c "$SAMPLER" "$IDLE_SECONDS" "$IDLE_SAMPLE" "${args[@]}") || vt_die "sampler failed"
    while read -r label w cpu th thmax rss top; do
        kill -0 "${PID[$label]}" 2>/dev/null || vt_die "the $label daemon died"
        ka=$(( ($(txbytes "$label") - ${tx0[$label]:-0}) / 32 ))
        rows+=("$label $mode $rep $IDLE_SECONDS $w $cpu $th $thmax $rss $ka $top")
        say "  $label: $w wake-ups, $cpu ticks, $th threads (max $thmax), RSS $rss KiB, $ka keepalive-sized sends; $top"
    done <<<"$out"
}

for ((rep = 1; rep <= IDLE_REPS; rep++)); do
    for impl in "${impls[@]}"; do
        wgd "$impl" set "${IF_D[$impl]}" peer "${PUB_P[$impl]}" persistent-keepalive 0
    done
    handshake
    say "settling ${IDLE_SETTLE}s"
    sleep "$IDLE_SETTLE"
    window idle "$rep"
    if [ "$IDLE_KEEPALIVE" != 0 ]; then
        for impl in "${impls[@]}"; do
            wgd "$impl" set "${IF_D[$impl]}" peer "${PUB_P[$impl]}" persistent-keepalive "$IDLE_KEEPALIVE"
        done
        sleep 3   # turning it on sends one at once; the UAPI request's thread-pool activity ends
        window "keepalive-${IDLE_KEEPALIVE}s" "$rep"
    fi
done

if [ -n "$IDLE_TSV" ]; then
    : >"$IDLE_TSV"
    for r in "${rows[@]}"; do read -r -a f <<<"$r"; printf '%s\t' "${f[@]:0:10}" >>"$IDLE_TSV"; echo >>"$IDLE_TSV"; done
fi

name() { case $1 in vt) echo veiltun ;; vb) echo "veiltun (base)" ;; *) echo wireguard-go ;; esac; }
echo "### bench/idle.sh, $(date -u +%Y-%m-%dT%H:%MZ): one peer, ${IDLE_SECONDS} s windows, $(nproc) CPUs"
echo
[[ " ${impls[*]} " == *" vt "* ]] && echo "veiltun: $("$VT_VEILTUN" --version 2>/dev/null | head -1) ($VT_VEILTUN)"
[[ " ${impls[*]} " == *" vb "* ]] && echo "veiltun (base): $IDLE_VEILTUN_BASE"
[[ " ${impls[*]} " == *" go "* ]] && echo "wireguard-go: $("$VT_WGGO" --version 2>/dev/null | head -1)"
echo
echo "| daemon | window | wake-ups/s | CPU ms/s | threads (max) | RSS MiB | sent/32 B | top wakers (context switches) |"
echo "|---|---|---|---|---|---|---|---|"
hz=$(getconf CLK_TCK)
for r in "${rows[@]}"; do
    read -r label mode rep secs w cpu th thmax rss ka top <<<"$r"
    printf '| %s | %s #%s | %.2f | %.2f | %s (%s) | %.1f | %s | %s |\n' "$(name "$label")" "$mode" "$rep" \
        "$(echo "$w / $secs" | bc -l)" "$(echo "$cpu * 1000 / $hz / $secs" | bc -l)" "$th" "$thmax" \
        "$(echo "$rss / 1024" | bc -l)" "$ka" "$(sed 's/,/, /g' <<<"${top:0:160}")"
done
exit 0
