#!/usr/bin/env bash
# bench/churn.sh — peer churn under load: rounds of adding and removing many peers through the UAPI socket while
# a tunnel between two namespaces (veiltun A, wireguard-go B) carries iperf3 TCP the whole time. Run by hand, as root.
#
#   sudo bench/churn.sh                          # 20 rounds x 10,000 peers
#   sudo CH_ROUNDS=3 CH_PEERS=2000 bench/churn.sh
#   sudo CH_REPS=3 bench/churn.sh                # three runs (a fresh daemon each), then the medians
#   sudo bench/churn.sh b                        # part (b): 1,000 in-process peers handshaking with one tunnel
#                                                # for 10 minutes (bench/VeilTun.Benchmarks churn; see CH_B_* below)
#
# After every round (and CH_SETTLE seconds, default 1): veiltun's RSS, managed heap (veiltun_gc_live_bytes from a
# UAPI get: the heap the last full compacting collection left, which the daemon runs after a set that removes
# >= 1,024 peers, so live data after each round's removal; a later gen0 collection does not blur it), threads and
# open descriptors. "Start" is the median of rounds 1-3 (the first round grows pools and tables to their working
# size), "end" the median of the last three (CH_EDGE); the end is compared with the start (target: within 10 %).
# The tunnel must never stop: iperf3 reports every second, and a second with no bytes is a failure. Prints a
# markdown report on stdout; with CH_REPS > 1, one per run and then the median end/start ratios.
set -u -o pipefail
here=$(cd "$(dirname "$0")" && pwd)

if [[ ${1:-a} == b ]]; then
    # Part (b): an in-process program (no root, no namespaces). CH_B_CLIENTS (1000), CH_B_MINUTES (10),
    # CH_B_INTERVAL (seconds between one client's handshakes, 5 = REKEY_TIMEOUT), CH_B_SAMPLE (seconds, 10).
    cd "$here/.." || exit 1
    dotnet build bench/VeilTun.Benchmarks -c Release --nologo -v q >/dev/null || exit 1
    exec nice -n "${CH_NICE:-10}" dotnet bench/VeilTun.Benchmarks/bin/Release/net10.0/VeilTun.Benchmarks.dll churn \
        --clients "${CH_B_CLIENTS:-1000}" --minutes "${CH_B_MINUTES:-10}" --interval "${CH_B_INTERVAL:-5}" \
        --sample "${CH_B_SAMPLE:-10}"
fi

: "${CH_REPS:=1}"
if ((CH_REPS > 1)); then
    # One run per repetition (each with a fresh daemon and namespaces), then the median of each end/start ratio.
    ratios=()
    for ((rep = 1; rep <= CH_REPS; rep++)); do
        out=$(CH_REPS=1 "$0" a) || exit 1
        echo "$out"
        echo
        ratios+=("$(grep -m1 '^End / start' <<<"$out")")
    done
    echo "Medians over $CH_REPS runs (end / start):"
    printf '%s\n' "${ratios[@]}" | python3 -c '
import re, statistics, sys
rows = [dict((k, float(v)) for k, v in re.findall(r"(RSS|heap|threads|fds) ([0-9.]+)", line)) for line in sys.stdin]
meds = {k: statistics.median(r[k] for r in rows) for k in ("RSS", "heap", "threads", "fds")}
print(", ".join(f"{k} {m:.3f} [{min(r[k] for r in rows):.3f}-{max(r[k] for r in rows):.3f}]" for k, m in meds.items()))
# A leak grows: the verdict is one-sided (the heap of rounds 1-3 still holds what the TCP ramp left before the
# first trims, so the end often sits below the start).
print("PASS: no median grew more than 10 % over the start" if all(m <= 1.10 for m in meds.values())
      else "FAIL: a median grew more than 10 % over the start")'
    exit 0
fi
# shellcheck source=scripts/lib/netns.bash
source "$here/../scripts/lib/netns.bash"
: "${CH_ROUNDS:=20}"
: "${CH_PEERS:=10000}"
: "${CH_SETTLE:=1}"
vt_bench_init churn
vt_bench_start
vt_require wireguard-go iperf3 jq python3

A=vtch-$VT_ID-a
B=vtch-$VT_ID-b
IFA=vtc$VT_ID
IFB=vtcg$VT_ID
vt_ns "$A" && vt_ns "$B" && vt_veth "$A" veth0 198.51.100.1/24 "$B" veth0 198.51.100.2/24 || vt_die "namespaces"
for k in a b; do vt_genkey "$k"; done
PUBA=$(cat "$VT_TMP/a.pub") PUBB=$(cat "$VT_TMP/b.pub")
VT_LOG_LEVEL=error vt_start_veiltun "$A" "$IFA" || vt_die "veiltun did not start"
ip netns exec "$A" wg set "$IFA" private-key "$VT_TMP/a.key" listen-port 51820 peer "$PUBB" allowed-ips 192.0.2.2/32 \
    endpoint 198.51.100.2:51821
ip -n "$A" addr add 192.0.2.1/24 dev "$IFA" && ip -n "$A" link set "$IFA" up
VT_LOG_LEVEL=error vt_start_wggo "$B" "$IFB" || vt_die "wireguard-go did not start"
ip netns exec "$B" wg set "$IFB" private-key "$VT_TMP/b.key" listen-port 51821 peer "$PUBA" allowed-ips 192.0.2.1/32
ip -n "$B" addr add 192.0.2.2/24 dev "$IFB" && ip -n "$B" link set "$IFB" up
vt_ping "$A" 192.0.2.2 3 10 || vt_die "no ping through the tunnel"
pid=$(vt_veiltun_pids "$A" | head -1)

# The churn client: one UAPI set adds N random peers (each with a /32), a second removes them all.
CHURN=$(cat <<'PY'
import os, socket, sys
path, n = sys.argv[1], int(sys.argv[2])
keys = [os.urandom(32).hex() for _ in range(n)]
def uapi(body):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.settimeout(120); s.connect(path)
    s.sendall(body.encode()); reply = b""
    while not reply.endswith(b"\n\n"):
        chunk = s.recv(4096)
        if not chunk: break
        reply += chunk
    s.close()
    if b"errno=0" not in reply: sys.exit("uapi: " + reply.decode(errors="replace"))
add = ["set=1"] + [f"public_key={k}\nallowed_ip=10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}/32" for i, k in enumerate(keys)]
uapi("\n".join(add) + "\n\n")
uapi("\n".join(["set=1"] + [f"public_key={k}\nremove=true" for k in keys]) + "\n\n")
PY
)

GETHEAP=$(cat <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.settimeout(30); s.connect(sys.argv[1])
s.sendall(b"get=1\n\n"); reply = b""
while not reply.endswith(b"\n\n"):
    chunk = s.recv(65536)
    if not chunk: break
    reply += chunk
for line in reply.decode().split("\n"):
    if line.startswith("veiltun_gc_live_bytes="): print(line.split("=")[1]); break
else: print(0)
PY
)

sample() {  # prints "rss_kib heap_bytes threads fds"
    local rss heap
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
    heap=$(ip netns exec "$A" python3 -c "$GETHEAP" "$VT_RUNDIR/$IFA.sock")
    echo "$rss $heap $(find "/proc/$pid/task" -mindepth 1 -maxdepth 1 | wc -l) $(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 | wc -l)"
}
threadnames() { cat "/proc/$pid/task/"*/comm 2>/dev/null | sed 's/[0-9]*$//' | sort | uniq -c | awk '{c=$1; $1=""; printf "%s%s x%s", sep, substr($0,2), c; sep=", "}'; }

ip netns exec "$B" timeout $((CH_ROUNDS * 60 + 60)) iperf3 -s -1 -B 192.0.2.2 >/dev/null 2>&1 &
vt_track_pid $!
sleep 0.5
ip netns exec "$A" timeout $((CH_ROUNDS * 60 + 60)) iperf3 -c 192.0.2.2 -t $((CH_ROUNDS * 60)) -i 1 -J \
    >"$VT_TMP/iperf.json" 2>/dev/null &
iperf=$!
vt_track_pid "$iperf"
sleep 2

rows=()
t0=$SECONDS
for ((r = 1; r <= CH_ROUNDS; r++)); do
    ts=$SECONDS
    ip netns exec "$A" python3 -c "$CHURN" "$VT_RUNDIR/$IFA.sock" "$CH_PEERS" || vt_die "round $r: churn failed"
    sleep "$CH_SETTLE"
    rows+=("$r $((SECONDS - ts)) $(sample)")
    ((r == 1)) && threads1=$(threadnames)
    vt_log "round $r: ${rows[-1]}"
done
elapsed=$((SECONDS - t0))
kill -INT "$iperf" 2>/dev/null
wait "$iperf" 2>/dev/null
# Seconds of the transfer with no bytes, up to the end of the churn (the tunnel must never drop).
zero=$(jq -r --argjson t "$elapsed" '[.intervals[]?.sum | select(.start < $t and .bytes == 0)] | length' "$VT_TMP/iperf.json" 2>/dev/null)
seconds=$(jq -r '[.intervals[]?] | length' "$VT_TMP/iperf.json" 2>/dev/null)
gbits=$(jq -r '[.intervals[]?.sum.bits_per_second] | add / length / 1e9 | . * 1000 | round / 1000' "$VT_TMP/iperf.json" 2>/dev/null)

echo "### bench/churn.sh, $(date -u +%Y-%m-%dT%H:%MZ): $CH_ROUNDS rounds of adding and removing $CH_PEERS peers"
echo
echo "veiltun $("$VT_VEILTUN" --version | head -1); iperf3 TCP through the tunnel meanwhile: ${gbits:-?} Gbit/s mean,"
echo "${zero:-?} of ${seconds:-?} one-second intervals without bytes."
echo
echo "| round | seconds | RSS MiB | GC heap MiB | threads | fds |"
echo "|---|---|---|---|---|---|"
for row in "${rows[@]}"; do
    read -r n s rss heap th fd <<<"$row"
    printf '| %s | %s | %.1f | %.1f | %s | %s |\n' "$n" "$s" "$(echo "$rss / 1024" | bc -l)" "$(echo "$heap / 1048576" | bc -l)" "$th" "$fd"
done
# Each end is the median of CH_EDGE rounds (default 3): at 1 MiB of live heap, what is in flight when a round's
# collection runs moves one sample by tens of percent, so one round per end would measure that, not growth.
: "${CH_EDGE:=3}"
printf '%s\n' "${rows[@]}" | python3 -c '
import statistics, sys
rows = [list(map(float, line.split()[2:6])) for line in sys.stdin if line.strip()]
k = min(int(sys.argv[1]), len(rows))
first, last = rows[:k], rows[-k:]
med = lambda part, i: statistics.median(r[i] for r in part)
n = len(rows)
print(f"End / start (medians of rounds 1-{k} and {n - k + 1}-{n}): " + ", ".join(
    f"{name} {med(last, i) / med(first, i):.3f}" for i, name in enumerate(("RSS", "heap", "threads", "fds"))))
' "$CH_EDGE"
echo
echo "Threads after round 1: $threads1"
echo "Threads at the end:    $(threadnames)"
exit 0
