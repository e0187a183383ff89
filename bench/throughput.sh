#!/usr/bin/env bash
# bench/throughput.sh — VeilTun's end-to-end throughput benchmark against wireguard-go. Run by hand, as root;
# not part of CI (it takes minutes and its numbers depend on the machine).
#
# One pair of network namespaces per implementation pair (A side first): go-go, vt-vt, vt-go, go-vt, where
# go = wireguard-go and vt = veiltun; vb, a second (baseline) veiltun build, can take either side too (see
# Before/after below). The two namespaces of a pair are joined by a veth pair; each runs `IMPL -f wg0` with a
# private /var/run/wireguard. All daemons stay up for the whole run. iperf3 runs through each tunnel: TCP 1 and
# 4 streams, UDP 64- and 1392-byte datagrams at full rate (-b 0), A->B and B->A.
# Each repetition runs every case on every pair back to back (pair order rotated from case to case and from
# repetition to repetition), so the ratios against go-go come from the same minutes on the same machine. The
# raw veth (no tunnel) is measured once. At the end, a markdown report on stdout: medians of VT_REPS runs,
# ratios against go-go, the raw baseline, memory, drops and daemon logs. Progress goes to stderr.
#
#   sudo bench/throughput.sh                                  # 5 reps x 10 s, everything: about 35 minutes
#   sudo VT_REPS=1 VT_TIME=3 bench/throughput.sh              # smoke run: about 3 minutes
#   sudo VT_SOAK=1 bench/throughput.sh                        # plus 60 s TCP through vt-vt, RSS every second
#   sudo VT_SOAK=only VT_SOAK_PAIRS="go-go vt-vt" bench/throughput.sh   # only soaks, wireguard-go's for comparison
#   sudo VT_PAIRS="go-go vt-vt" VT_TESTS="tcp1 udp64" VT_DIRS=a2b VT_JSON=/tmp/tp.json bench/throughput.sh
#
# Before/after: VT_PAIRS="vb-vb vt-vt" runs the baseline build (vb, VT_VEILTUN_BASE) and the new one (vt,
# VT_VEILTUN) interleaved, case by case, on the same minutes of the same machine; the report then has a table
# "vt / vb" (throughput and CPU s/GB of vt-vt over vb-vb; likewise vt-go over vb-go, go-vt over go-vb), with or
# without go-go in the run. The baseline is the commit to compare against, built as scripts/install.sh builds it
# but into its own directory (libsodium.so beside the binary), e.g. from a `git worktree add /tmp/vt-base REV`:
#   cd /tmp/vt-base && dotnet publish src/VeilTun.Cli -c Release -r linux-x64 -p:PublishAot=true \
#     -p:IlcInstructionSet=native -o /tmp/vt-base/out && install -d /opt/veiltun-base &&
#     install -m 0755 out/VeilTun.Cli /opt/veiltun-base/veiltun && install -m 0644 out/libsodium.so /opt/veiltun-base/
#   sudo VT_PAIRS="vb-vb vt-vt" VT_TESTS="tcp1 tcp4 udp1392" bench/throughput.sh
#
# Variables (defaults in brackets):
#   VT_REPS [5]            repetitions of the whole matrix; the report shows medians
#   VT_TIME [10]           seconds per iperf3 run
#   VT_TESTS [tcp1 tcp4 udp64 udp1392]   tcpN = TCP with N streams (-P N); udpN = UDP -b 0 -l N (N <= MTU-28)
#   VT_DIRS [a2b b2a]      directions (a2b: A sends)
#   VT_PAIRS [go-go vt-vt vt-go go-vt]   A-B implementation pairs (go, vt, vb); go-go must be in it for the
#                          ratios to wireguard-go, vb-vb (or vb-go, go-vb) for the ratios vt / vb
#   VT_RAW [1]             1: raw veth baseline once (a2b, same tests, MTU 1500, no tunnel)
#   VT_JSON []             file: every run, the soak and the machine description as JSON
#   VT_CPUS_A, VT_CPUS_B []              taskset -c list for the A / B daemons (empty: no pinning)
#   VT_CPUS_IPERF_A, VT_CPUS_IPERF_B []  taskset -c list for iperf3 in the A / B namespaces
#   VT_SOAK [0]            1: add the soak after the matrix; only: run just the soak
#   VT_SOAK_TIME [60]      soak seconds;  VT_SOAK_TEST [tcp4]: the soak's test (A->B)
#   VT_SOAK_PAIRS [vt-vt]  pairs soaked one after the other (RSS of both daemons sampled every second)
#   VT_VEILTUN [veiltun]   VeilTun command;  VT_WIREGUARD_GO [wireguard-go]: the reference command
#   VT_VEILTUN_BASE [/opt/veiltun-base/veiltun]   the baseline VeilTun command (vb), only needed when vb is used
#   VT_MTU [1420]          tunnel MTU;  VT_LOG_LEVEL [error]: LOG_LEVEL for both daemons
#   VT_KEEP_TMP [0]        1: keep the temp dir (daemon logs, iperf3 JSON) even on success
#
# Addresses are documentation ranges only: underlay 198.51.100.1-2/24 on veth0, overlay 192.0.2.1-2/24 on wg0,
# in every namespace pair (the pairs never see each other). Everything this script starts is stopped by PID
# and its namespaces (vtb-<pid>-*) are deleted by an EXIT trap; leftovers of a killed earlier run whose PID is
# gone are removed on start.
set -u -o pipefail
# shellcheck source=SCRIPTDIR/../scripts/lib/netns.bash
source "$(dirname "$0")/../scripts/lib/netns.bash"
export LC_ALL=C

: "${VT_REPS:=5}"
: "${VT_TIME:=10}"
: "${VT_TESTS:=tcp1 tcp4 udp64 udp1392}"
: "${VT_DIRS:=a2b b2a}"
: "${VT_PAIRS:=go-go vt-vt vt-go go-vt}"
: "${VT_RAW:=1}"
: "${VT_JSON:=}"
: "${VT_CPUS_A:=}"
: "${VT_CPUS_B:=}"
: "${VT_CPUS_IPERF_A:=}"
: "${VT_CPUS_IPERF_B:=}"
: "${VT_SOAK:=0}"
: "${VT_SOAK_TIME:=60}"
: "${VT_SOAK_TEST:=tcp4}"
: "${VT_SOAK_PAIRS:=vt-vt}"
: "${VT_VEILTUN:=veiltun}"
: "${VT_VEILTUN_BASE:=/opt/veiltun-base/veiltun}"
: "${VT_WIREGUARD_GO:=wireguard-go}"
: "${VT_MTU:=1420}"
: "${VT_LOG_LEVEL:=error}"
: "${VT_KEEP_TMP:=0}"

vt_bench_init throughput
PREFIX=vtb-                      # namespace prefix: not "vt-", so the harness's stale-namespace sweep ignores us
IFNAME=wg0
PORT_A=51820; PORT_B=51821
IPERF_PORT=5201
UL_A=198.51.100.1; UL_B=198.51.100.2
OV_A=192.0.2.1;    OV_B=192.0.2.2
HZ=$(getconf CLK_TCK 2>/dev/null || echo 100)

say() { printf '%s\n' "$*" >&2; }
# shellcheck disable=SC2034 # the library reports through it
VT_SAY=say

case ${1:-} in -h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;; esac

# ---------------------------------------------------------------- checks

vt_require ip wg iperf3 jq timeout mount awk ss ping
[[ $VT_REPS =~ ^[1-9][0-9]*$ ]] || vt_die "VT_REPS must be a positive integer"
[[ $VT_TIME =~ ^[1-9][0-9]*$ ]] || vt_die "VT_TIME must be a positive integer (seconds)"
[[ $VT_SOAK_TIME =~ ^[1-9][0-9]*$ ]] || vt_die "VT_SOAK_TIME must be a positive integer (seconds)"
[[ $VT_MTU =~ ^[0-9]+$ ]] && ((VT_MTU >= 1280)) || vt_die "VT_MTU must be >= 1280"
case $VT_SOAK in 0|1|only) ;; *) vt_die "VT_SOAK must be 0, 1 or only" ;; esac
read -r -a TESTS <<< "$VT_TESTS"
read -r -a DIRS <<< "$VT_DIRS"
read -r -a PAIRS <<< "$VT_PAIRS"
read -r -a SOAK_PAIRS <<< "$VT_SOAK_PAIRS"
for t in "${TESTS[@]}" "$VT_SOAK_TEST"; do
  if [[ $t =~ ^tcp([1-9][0-9]?)$ ]]; then :
  elif [[ $t =~ ^udp([0-9]+)$ ]]; then
    ((BASH_REMATCH[1] >= 16 && BASH_REMATCH[1] <= VT_MTU - 28)) || vt_die "test $t: UDP length must be 16..$((VT_MTU - 28))"
  else vt_die "unknown test '$t' (tcpN or udpN)"; fi
done
for d in "${DIRS[@]}"; do case $d in a2b|b2a) ;; *) vt_die "unknown direction '$d'" ;; esac; done
for p in "${PAIRS[@]}" "${SOAK_PAIRS[@]}"; do
  [[ $p =~ ^(go|vt|vb)-(go|vt|vb)$ ]] || vt_die "unknown pair '$p' (go-go, vt-vt, vt-go, go-vt; vb in place of vt: the baseline)"
done
[ "$VT_SOAK" = only ] || ((${#PAIRS[@]})) || vt_die "VT_PAIRS is empty"

impl_cmd() {
  case $1 in vt) printf '%s' "$VT_VEILTUN" ;; vb) printf '%s' "$VT_VEILTUN_BASE" ;; *) printf '%s' "$VT_WIREGUARD_GO" ;; esac
}
impl_name() { case $1 in vt) printf veiltun ;; vb) printf 'veiltun baseline' ;; *) printf wireguard-go ;; esac; }
is_veiltun() { [ "$1" = vt ] || [ "$1" = vb ]; }
USES_VB=0
[[ " $VT_PAIRS $([ "$VT_SOAK" = 0 ] || echo "$VT_SOAK_PAIRS") " == *vb* ]] && USES_VB=1
KINDS=(go vt); [ "$USES_VB" = 1 ] && KINDS+=(vb)
for k in "${KINDS[@]}"; do
  read -r -a argv <<< "$(impl_cmd $k)"
  command -v "${argv[0]}" >/dev/null 2>&1 || vt_die "$(impl_name $k) command not found: ${argv[0]}"
done

# pairs that need namespaces: the matrix's, plus the soak's
SETUP_PAIRS=()
[ "$VT_SOAK" = only ] || SETUP_PAIRS=("${PAIRS[@]}")
if [ "$VT_SOAK" != 0 ]; then
  ((${#SOAK_PAIRS[@]})) || vt_die "VT_SOAK_PAIRS is empty"
  for p in "${SOAK_PAIRS[@]}"; do
    [[ " ${SETUP_PAIRS[*]} " == *" $p "* ]] || SETUP_PAIRS+=("$p")
  done
fi

# ---------------------------------------------------------------- process and namespace bookkeeping

# Namespaces, daemons and the temp dir ($VT_TMP) are the library's (scripts/lib/netns.bash): everything started
# is stopped by PID, the namespaces deleted, by its EXIT trap. Each daemon runs with its own RUN dir bind-mounted
# on /var/run/wireguard (vt_daemon_start); `wg` or `veiltun stats` run the same way (vt_priv) find its wg0.sock.
declare -A NS PID RUN KIND LOG KEY PUB EXE
DAEMONS=()                       # "pair:side" keys of daemons we started

wg_side() { local k=$1; shift; vt_priv "${NS[$k]}" "${RUN[$k]}" wg "$@"; }
pin() { [ -n "$1" ] && printf '%s\n' taskset -c "$1"; return 0; }
other() { if [ "$1" = A ]; then echo B; else echo A; fi; }
ul() { if [ "$1" = A ]; then echo "$UL_A"; else echo "$UL_B"; fi; }
ov() { if [ "$1" = A ]; then echo "$OV_A"; else echo "$OV_B"; fi; }
port() { if [ "$1" = A ]; then echo "$PORT_A"; else echo "$PORT_B"; fi; }

# start_daemon KEY: KEY's daemon, in the foreground of its namespace; PID[KEY] is the daemon itself (whose
# /proc/PID/stat gives its CPU)
start_daemon() {
  local k=$1 side=${1#*:} log
  local -a argv cpus
  log="$VT_TMP/daemon-${k/:/-}.log"; LOG[$k]=$log
  read -r -a argv <<< "$(impl_cmd "${KIND[$k]}")"
  local v="VT_CPUS_$side"; mapfile -t cpus < <(pin "${!v}")
  if ! LOG_LEVEL=$VT_LOG_LEVEL vt_daemon_start "${NS[$k]}" "${RUN[$k]}" "$log" "$IFNAME" "$IFNAME" \
      "${cpus[@]}" "${argv[@]}" -f "$IFNAME"; then
    say "daemon $k: $VT_ERR:"; tail -n 20 "$log" >&2
    return 1
  fi
  PID[$k]=$VT_DAEMON_PID; EXE[$k]=$VT_DAEMON_EXE; DAEMONS+=("$k")
  case ${EXE[$k]##*/} in
    ip|sh|dash|bash|taskset|timeout) say "warning: daemon $k PID ${PID[$k]} is ${EXE[$k]}, not the daemon: its CPU will read 0" ;;
  esac
}


# setup_pair PAIR INDEX: namespaces, veth, keys, both daemons, configuration, a ping each way
setup_pair() {
  local p=$1 idx=$2 s k o ns
  for s in A B; do
    k="$p:$s"
    if [ "$s" = A ]; then KIND[$k]=${p%-*}; else KIND[$k]=${p#*-}; fi
    ns="${PREFIX}$$-${idx}${s,,}"
    vt_ns "$ns" || return 1
    NS[$k]=$ns; RUN[$k]="$VT_TMP/run-$p-$s"; KEY[$k]="$VT_TMP/key-$p-$s.key"
    vt_genkey "key-$p-$s" || return 1
    PUB[$k]=$VT_PUB
  done
  vt_veth "${NS[$p:A]}" veth0 "$UL_A/24" "${NS[$p:B]}" veth0 "$UL_B/24" || return 1
  for s in A B; do start_daemon "$p:$s" || return 1; done
  for s in A B; do
    k="$p:$s"; o=$(other $s); ns=${NS[$k]}
    wg_side "$k" set "$IFNAME" listen-port "$(port $s)" private-key "${KEY[$k]}" \
      peer "${PUB[$p:$o]}" allowed-ips "$(ov $o)/32" endpoint "$(ul $o):$(port $o)" || return 1
    ip -n "$ns" addr add "$(ov $s)/24" dev "$IFNAME" && ip -n "$ns" link set "$IFNAME" mtu "$VT_MTU" up || return 1
  done
  vt_reach "${NS[$p:A]}" "$OV_B" 15 && vt_reach "${NS[$p:B]}" "$OV_A" 15 ||
    { say "pair $p: no traffic through the tunnel"; return 1; }
}

# ---------------------------------------------------------------- measurements

# snap NAME: every daemon's ticks, whole-machine process and busy ticks, this shell's reaped children's ticks
snap() {
  local -n out=$1
  local k line rest _c u n s _i _w irq sirq
  local -a f
  out=()
  for k in "${DAEMONS[@]}"; do vt_ticks "${PID[$k]}"; out[$k]=$REPLY; done
  read -r _c u n s _i _w irq sirq _ < /proc/stat
  out[proc]=$((u + n + s)); out[busy]=$((u + n + s + irq + sirq))
  read -r line < "/proc/$$/stat"; rest=${line##*) }; read -r -a f <<< "$rest"
  out[kids]=$((f[13] + f[14]))     # cutime + cstime: iperf3, ip, ping, jq ... once reaped
  out[t]=${EPOCHREALTIME/./}       # microseconds
}

# kstats NS -> "udp_rcvbuf_errors udp_in_errors wg0_tx_dropped wg0_rx_dropped" as NS's kernel counts them
kstats() {
  ip netns exec "$1" sh -c 'cat /proc/net/snmp; d=/sys/class/net/$0/statistics
    echo "tun $(cat $d/tx_dropped 2>/dev/null || echo 0) $(cat $d/rx_dropped 2>/dev/null || echo 0)"' "$IFNAME" \
    2>/dev/null |
    awk '/^Udp:/ { if (!h) { for (i = 2; i <= NF; i++) c[$i] = i; h = 1 } else { r = $c["RcvbufErrors"]; e = $c["InErrors"] } }
         $1 == "tun" { t = $2; x = $3 }
         END { printf "%d %d %d %d\n", r, e, t, x }'
}

# daemon_drops KEY -> JSON object {reason: count} from `veiltun stats` (veiltun's own drop counters)
daemon_drops() {
  local k=$1 v
  local -a argv
  is_veiltun "${KIND[$k]}" || { echo '{}'; return; }
  read -r -a argv <<< "$(impl_cmd "${KIND[$k]}")"
  v=$(vt_priv "${NS[$k]}" "${RUN[$k]}" "${argv[@]}" stats "$IFNAME" 2>/dev/null |
      awk '$1 ~ /^[a-z_]+:$/ && $2 ~ /^[0-9]+$/ && NF == 2 {
             k = substr($1, 1, length($1) - 1)
             if (k != "tx_bytes" && k != "rx_bytes" && k != "last_handshake_time_sec" && k !~ /^(gc_|thread_pool_|buffers_)/) print k, $2 }' |
      jq -R -s -c 'split("\n") | map(select(length > 0) | split(" ") | {(.[0]): (.[1] | tonumber)}) | add // {}')
  [ -n "$v" ] || v='{}'
  printf '%s\n' "$v"
}

# mem PID -> "VmRSS VmHWM" in KiB
mem() {
  local f="/proc/${1:-0}/status" key val r=0 h=0
  if [ -n "${1:-}" ] && [ -r "$f" ]; then
    while read -r key val _; do
      case $key in VmRSS:) r=$val ;; VmHWM:) h=$val ;; esac
    done < "$f" 2>/dev/null
  fi
  echo "$r $h"
}

test_args() {
  local t=$1
  if [[ $t =~ ^tcp([0-9]+)$ ]]; then
    ((BASH_REMATCH[1] > 1)) && printf '%s\n' -P "${BASH_REMATCH[1]}"
  elif [[ $t =~ ^udp([0-9]+)$ ]]; then
    printf '%s\n' -u -b 0 -l "${BASH_REMATCH[1]}"
  fi
  return 0
}

# iperf_run SENDER_NS RECEIVER_NS DST SECONDS OUT SENDER_SIDE RECEIVER_SIDE ARGS...: one-off server (-1 -J) in
# the receiver, client in the sender; OUT.cli.json and OUT.srv.json. Snapshot S0 just before the client starts,
# S1 once client and server are both reaped.
iperf_run() {
  local sns=$1 rns=$2 dst=$3 secs=$4 out=$5 sside=$6 rside=$7; shift 7
  local i v srv cli
  local -a spin cpin
  v="VT_CPUS_IPERF_$rside"; mapfile -t spin < <(pin "${!v}")
  v="VT_CPUS_IPERF_$sside"; mapfile -t cpin < <(pin "${!v}")
  timeout -k 5 $((secs + 40)) ip netns exec "$rns" "${spin[@]}" \
    iperf3 -s -1 -J -B "$dst" -p "$IPERF_PORT" >"$out.srv.json" 2>"$out.srv.err" </dev/null &
  srv=$!
  for ((i = 0; i < 50; i++)); do
    ip netns exec "$rns" ss -Hltn "sport = :$IPERF_PORT" 2>/dev/null | grep -q . && break
    sleep 0.1
  done
  snap S0
  timeout -k 5 $((secs + 30)) ip netns exec "$sns" "${cpin[@]}" \
    iperf3 -c "$dst" -p "$IPERF_PORT" -t "$secs" -J --connect-timeout 5000 "$@" \
    >"$out.cli.json" 2>"$out.cli.err" </dev/null &
  cli=$!
  if [ -n "${SOAK_SAMPLES:-}" ]; then soak_sample "$cli" "$SOAK_PAIR"; fi
  wait "$cli"; IPERF_RC=$?
  # the server exits right after the client; S1 once it is reaped, so its CPU counts as ours, not "others"
  for ((i = 0; i < 50; i++)); do kill -0 "$srv" 2>/dev/null || break; sleep 0.1; done
  vt_kill_pids "$srv"
  snap S1
  for f in "$out.cli.json" "$out.srv.json"; do
    jq -e 'type == "object"' "$f" >/dev/null 2>&1 || echo '{"error":"no iperf3 JSON (killed by timeout?)"}' > "$f"
  done
}

ROWS=
RUN_N=0
RUN_TOTAL=0

# run_one REP PAIR TEST DIR MODE(tun|raw): one iperf3 run, one JSON line appended to ROWS
run_one() {
  local rep=$1 p=$2 test=$3 dir=$4 mode=$5
  local S R sk rk sns rns dst out err="" k dA dB didle
  local -a args
  local -A S0 S1
  if [ "$dir" = a2b ]; then S=A; R=B; else S=B; R=A; fi
  sk="$p:$S"; rk="$p:$R"; sns=${NS[$sk]}; rns=${NS[$rk]}
  if [ "$mode" = raw ]; then dst=$(ul $R); else dst=$(ov $R); fi
  mapfile -t args < <(test_args "$test")
  RUN_N=$((RUN_N + 1))
  out="$VT_TMP/run-$RUN_N-$mode-$p-$test-$dir"
  local drops0_s='{}' drops0_r='{}' drops1_s='{}' drops1_r='{}' ks0 kr0 ks1 kr1 mem_s="0 0" mem_r="0 0"
  if [ "$mode" = tun ]; then
    kill -0 "${PID[$sk]}" 2>/dev/null && kill -0 "${PID[$rk]}" 2>/dev/null || err="daemon not running"
    [ -z "$err" ] && { vt_reach "$sns" "$dst" 10 || err="no ping through the tunnel before the run"; }
    drops0_s=$(daemon_drops "$sk"); drops0_r=$(daemon_drops "$rk")
  fi
  ks0=$(kstats "$sns"); kr0=$(kstats "$rns")
  iperf_run "$sns" "$rns" "$dst" "$VT_TIME" "$out" "$S" "$R" "${args[@]}"
  ks1=$(kstats "$sns"); kr1=$(kstats "$rns")
  if [ "$mode" = tun ]; then
    drops1_s=$(daemon_drops "$sk"); drops1_r=$(daemon_drops "$rk")
    mem_s=$(mem "${PID[$sk]}"); mem_r=$(mem "${PID[$rk]}")
    kill -0 "${PID[$sk]}" 2>/dev/null && kill -0 "${PID[$rk]}" 2>/dev/null || err="${err:+$err; }daemon died during the run"
  fi
  [ "$IPERF_RC" -ne 0 ] && [ -z "$err" ] && err="iperf3 exit $IPERF_RC: $(head -c 200 "$out.cli.err" | tr '\n' ' ')"
  dA=0; dB=0; didle=0
  for k in "${DAEMONS[@]}"; do
    if [ "$mode" = tun ] && [ "$k" = "$sk" ]; then dA=$(( ${S1[$k]} - ${S0[$k]} ))      # sender
    elif [ "$mode" = tun ] && [ "$k" = "$rk" ]; then dB=$(( ${S1[$k]} - ${S0[$k]} ))    # receiver
    else didle=$(( didle + ${S1[$k]} - ${S0[$k]} )); fi
  done
  jq -n -c --slurpfile cli "$out.cli.json" --slurpfile srv "$out.srv.json" \
    --arg rep "$rep" --arg pair "$p" --arg mode "$mode" --arg test "$test" --arg dir "$dir" \
    --arg sender "${KIND[$sk]}" --arg receiver "${KIND[$rk]}" --arg err "$err" \
    --argjson hz "$HZ" --argjson wall_us "$(( ${S1[t]} - ${S0[t]} ))" \
    --argjson t_send "$dA" --argjson t_recv "$dB" --argjson t_idle "$didle" \
    --argjson t_proc "$(( ${S1[proc]} - ${S0[proc]} ))" --argjson t_busy "$(( ${S1[busy]} - ${S0[busy]} ))" \
    --argjson t_kids "$(( ${S1[kids]} - ${S0[kids]} ))" \
    --arg ks0 "$ks0" --arg ks1 "$ks1" --arg kr0 "$kr0" --arg kr1 "$kr1" \
    --argjson d0s "$drops0_s" --argjson d1s "$drops1_s" --argjson d0r "$drops0_r" --argjson d1r "$drops1_r" \
    --arg mem_s "$mem_s" --arg mem_r "$mem_r" '
    def nums: split(" ") | map(select(length > 0) | tonumber);
    def delta(a; b): reduce (b | keys[]) as $k ({}; (b[$k] - (a[$k] // 0)) as $d | if $d != 0 then .[$k] = $d else . end);
    ($cli[0]) as $c | ($srv[0]) as $s | ($test | startswith("udp")) as $udp |
    (if $udp then
       ($s.end.sum_received // $c.end.sum_received // {}) as $r |
       { bytes: ($r.bytes // 0), seconds: ($r.seconds // 0),
         packets: (if $r.packets then $r.packets - $r.lost_packets else null end),
         lost_packets: $r.lost_packets, lost_percent: $r.lost_percent,
         sent_packets: $c.end.sum_sent.packets,
         out_of_order: (if $s.end.streams then ([$s.end.streams[].udp.out_of_order // 0] | add) else null end),
         retransmits: null }
     else
       { bytes: ($c.end.sum_received.bytes // 0), seconds: ($c.end.sum_received.seconds // 0),
         packets: null, lost_packets: null, lost_percent: null, sent_packets: null, out_of_order: null,
         retransmits: $c.end.sum_sent.retransmits }
     end) as $m |
    ($wall_us / 1e6) as $wall | ($m.bytes / 1e9) as $gb | ($t_send / $hz) as $cs | ($t_recv / $hz) as $cr |
    (($t_proc - $t_kids - $t_send - $t_recv - $t_idle) / $hz | if . < 0 then 0 else . end) as $other |
    ($ks0 | nums) as $ks0 | ($ks1 | nums) as $ks1 | ($kr0 | nums) as $kr0 | ($kr1 | nums) as $kr1 |
    { rep: ($rep | tonumber), pair: $pair, mode: $mode, test: $test, dir: $dir,
      sender: (if $mode == "raw" then null else $sender end),
      receiver: (if $mode == "raw" then null else $receiver end),
      error: ([$err, $c.error, $s.error] | map(select(. != null and . != "")) | if length > 0 then join("; ") else null end),
      bytes: $m.bytes, seconds: $m.seconds,
      gbps: (if $m.seconds > 0 then $m.bytes * 8 / $m.seconds / 1e9 else 0 end),
      pps: (if $m.packets != null and $m.seconds > 0 then $m.packets / $m.seconds else null end),
      packets: $m.packets, sent_packets: $m.sent_packets, lost_packets: $m.lost_packets,
      lost_percent: $m.lost_percent, out_of_order: $m.out_of_order, retransmits: $m.retransmits,
      wall_s: $wall,
      cpu_sender_s: (if $mode == "raw" then null else $cs end),
      cpu_receiver_s: (if $mode == "raw" then null else $cr end),
      cpu_sender_s_per_gb: (if $mode == "raw" or $gb == 0 then null else $cs / $gb end),
      cpu_receiver_s_per_gb: (if $mode == "raw" or $gb == 0 then null else $cr / $gb end),
      cpu_daemons_s_per_gb: (if $mode == "raw" or $gb == 0 then null else ($cs + $cr) / $gb end),
      cpu_idle_daemons_s: ($t_idle / $hz),
      cpu_machine_s_per_gb: (if $gb == 0 then null else $t_busy / $hz / $gb end),
      other_procs_cores: (if $wall > 0 then $other / $wall else null end),
      min_interval_gbps: ([($s.intervals // $c.intervals // [])[] | .sum | select(.seconds > 0.5) | .bits_per_second / 1e9] | min),
      max_rtt_ms: ([$c.intervals[]?.streams[]?.rtt // empty] | if length > 0 then max / 1000 else null end),
      iperf3_cpu_sender_pct: $c.end.cpu_utilization_percent.host_total,
      iperf3_cpu_receiver_pct: $c.end.cpu_utilization_percent.remote_total,
      kernel_drops: { receiver_udp_rcvbuf_errors: ($kr1[0] - $kr0[0]), receiver_udp_in_errors: ($kr1[1] - $kr0[1]),
                      sender_tun_tx_dropped: ($ks1[2] - $ks0[2]), receiver_tun_rx_dropped: ($kr1[3] - $kr0[3]) },
      veiltun_drops: (if $mode == "raw" then null else
                      { sender: (if $sender == "vt" or $sender == "vb" then delta($d0s; $d1s) else null end),
                        receiver: (if $receiver == "vt" or $receiver == "vb" then delta($d0r; $d1r) else null end) } end),
      rss_kib: (if $mode == "raw" then null else
                { sender: ($mem_s | nums | .[0]), receiver: ($mem_r | nums | .[0]) } end) }' >> "$ROWS" ||
    { echo "{\"rep\":$rep,\"pair\":\"$p\",\"mode\":\"$mode\",\"test\":\"$test\",\"dir\":\"$dir\",\"error\":\"could not parse iperf3 output\",\"gbps\":0}" >> "$ROWS"; }
  tail -n 1 "$ROWS" | jq -r --arg n "$RUN_N/$RUN_TOTAL" '
    def f(n): if . == null then "-" else (. * pow(10; n) | round / pow(10; n) | tostring) end;
    "[\($n)] rep \(.rep) \(if .mode == "raw" then "raw-veth" else .pair end) \(.test) \(.dir): \(.gbps | f(3)) Gbit/s" +
    (if .pps != null then ", \(.pps / 1000 | f(1)) kpps, lost \(.lost_percent | f(1))%, ooo \(.out_of_order // "-")"
     elif .retransmits != null then ", \(.retransmits) retr" else "" end) +
    (if .min_interval_gbps != null then " (slowest 1 s \(.min_interval_gbps | f(3)))" else "" end) +
    (if .mode == "tun" then " | CPU s/GB send \(.cpu_sender_s_per_gb | f(1)) recv \(.cpu_receiver_s_per_gb | f(1))" else "" end) +
    " | others \(.other_procs_cores | f(2)) cores" + (if .error then " | ERROR: \(.error)" else "" end)' >&2
}

# ---------------------------------------------------------------- soak

SOAK_SAMPLES=
SOAK_PAIR=
# soak_sample CLIENT_PID PAIR: every second while the client runs, "elapsed rssA rssB" (KiB) of PAIR's daemons
soak_sample() {
  local cpid=$1 p=$2 t0=${EPOCHREALTIME/./} el a b next=1
  while kill -0 "$cpid" 2>/dev/null; do
    el=$(( ${EPOCHREALTIME/./} - t0 ))
    if ((el >= next * 1000000)); then
      read -r a _ < <(mem "${PID[$p:A]}"); read -r b _ < <(mem "${PID[$p:B]}")
      kill -0 "$cpid" 2>/dev/null && echo "$((el / 1000000)).$((el / 100000 % 10)) $a $b" >> "$SOAK_SAMPLES"
      next=$((next + 1))
    fi
    sleep 0.2
  done
}

SOAK_FILE=                       # one JSON line per soak
SOAK_N=0
# run_soak PAIR: VT_SOAK_TIME seconds of VT_SOAK_TEST A->B through PAIR, VmRSS of both daemons every second
run_soak() {
  local p=$1 out sA sB hA hB samples j
  SOAK_N=$((SOAK_N + 1)); out="$VT_TMP/soak-$SOAK_N-$p"
  local -a args
  local -A S0 S1
  mapfile -t args < <(test_args "$VT_SOAK_TEST")
  say "soak: ${VT_SOAK_TIME}s $VT_SOAK_TEST A->B through $p, VmRSS every second"
  vt_reach "${NS[$p:A]}" "$OV_B" 10 || say "soak: no ping through $p before the soak"
  read -r sA _ < <(mem "${PID[$p:A]}"); read -r sB _ < <(mem "${PID[$p:B]}")
  SOAK_SAMPLES="$out-samples.txt"; SOAK_PAIR=$p; : > "$SOAK_SAMPLES"
  iperf_run "${NS[$p:A]}" "${NS[$p:B]}" "$OV_B" "$VT_SOAK_TIME" "$out" A B "${args[@]}"
  samples=$SOAK_SAMPLES; SOAK_SAMPLES=
  read -r _ hA < <(mem "${PID[$p:A]}"); read -r _ hB < <(mem "${PID[$p:B]}")
  j=$(jq -n -c --slurpfile cli "$out.cli.json" --slurpfile srv "$out.srv.json" --rawfile smp "$samples" --arg pair "$p" \
    --arg ka "${KIND[$p:A]}" --arg kb "${KIND[$p:B]}" \
    --argjson hz "$HZ" --argjson secs "$VT_SOAK_TIME" --arg test "$VT_SOAK_TEST" \
    --argjson ta "$(( ${S1[$p:A]} - ${S0[$p:A]} ))" --argjson tb "$(( ${S1[$p:B]} - ${S0[$p:B]} ))" \
    --argjson sa "${sA:-0}" --argjson sb "${sB:-0}" --argjson ha "${hA:-0}" --argjson hb "${hB:-0}" --arg rc "$IPERF_RC" '
    ($smp | split("\n") | map(select(length > 0) | split(" ") | map(tonumber))) as $s |
    def at(t): ($s | map(select(.[0] >= t)) | .[0]) // null;
    ($s | last) as $fin | at(10) as $ten |
    ($cli[0]) as $c | ($c.end.sum_received // {}) as $r | (($r.bytes // 0) / 1e9) as $gb |
    ([($srv[0].intervals // $c.intervals // [])[] | .sum | select(.seconds > 0.5) | .bits_per_second / 1e9]) as $iv |
    { pair: $pair, impl_a: $ka, impl_b: $kb, test: $test, dir: "a2b", seconds_planned: $secs,
      iperf3_exit: ($rc | tonumber), error: $c.error,
      gbps: (if ($r.seconds // 0) > 0 then $r.bytes * 8 / $r.seconds / 1e9 else 0 end),
      retransmits: $c.end.sum_sent.retransmits,
      min_interval_gbps: ($iv | min),
      intervals_below_half_median: (($iv | sort | .[length / 2 | floor]) as $m | $iv | map(select(. < $m / 2)) | length),
      max_rtt_ms: ([$c.intervals[]?.streams[]?.rtt // empty] | if length > 0 then max / 1000 else null end),
      cpu_sender_s_per_gb: (if $gb > 0 then $ta / $hz / $gb else null end),
      cpu_receiver_s_per_gb: (if $gb > 0 then $tb / $hz / $gb else null end),
      rss_kib_before: { a: $sa, b: $sb },
      rss_kib_at_10s: (if $ten then { t: $ten[0], a: $ten[1], b: $ten[2] } else null end),
      rss_kib_at_end: (if $fin then { t: $fin[0], a: $fin[1], b: $fin[2] } else null end),
      rss_end_over_10s: (if $ten and $fin and $ten[1] > 0 and $ten[2] > 0
                         then { a: ($fin[1] / $ten[1]), b: ($fin[2] / $ten[2]) } else null end),
      rss_kib_max: { a: ([$s[][1]] | max), b: ([$s[][2]] | max) },
      hwm_kib_after: { a: $ha, b: $hb },
      interval_gbps: $iv, samples: $s }') ||
    j="{\"pair\":\"$p\",\"error\":\"could not parse the soak's iperf3 output\"}"
  printf '%s\n' "$j" >> "$SOAK_FILE"
  jq -r 'def f(n): if . == null then "-" else (. * pow(10; n) | round / pow(10; n) | tostring) end;
    "soak \(.pair): \(.gbps | f(3)) Gbit/s (slowest second \(.min_interval_gbps | f(3)), max RTT \(.max_rtt_ms | f(0)) ms); " +
    "VmRSS A \(.rss_kib_at_10s.a // "-") KiB at 10 s -> \(.rss_kib_at_end.a // "-") KiB at \(.rss_kib_at_end.t // "-") s (x\(.rss_end_over_10s.a | f(3))), " +
    "B \(.rss_kib_at_10s.b // "-") -> \(.rss_kib_at_end.b // "-") (x\(.rss_end_over_10s.b | f(3)))" +
    (if .error then " | ERROR: \(.error)" else "" end)' <<< "$j" >&2 || true
}

# ---------------------------------------------------------------- report

machine_json() {
  local cpu ram vtv gov gitrev gitbuild dirty repo bin bintime vbv='' vbbin='' vbbintime=''
  cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
  ram=$(awk '/^MemTotal:/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
  read -r -a argv <<< "$VT_VEILTUN"; vtv=$(timeout 5 "${argv[@]}" --version 2>&1 </dev/null | head -n 1)
  bin=$(type -P "${argv[0]}"); [ -n "$bin" ] && bin=$(readlink -f "$bin")
  bintime=$([ -n "$bin" ] && date -u -r "$bin" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null)
  if [ "$USES_VB" = 1 ]; then
    read -r -a argv <<< "$VT_VEILTUN_BASE"; vbv=$(timeout 5 "${argv[@]}" --version 2>&1 </dev/null | head -n 1)
    vbbin=$(type -P "${argv[0]}"); [ -n "$vbbin" ] && vbbin=$(readlink -f "$vbbin")
    vbbintime=$([ -n "$vbbin" ] && date -u -r "$vbbin" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null)
  fi
  read -r -a argv <<< "$VT_WIREGUARD_GO"; gov=$(timeout 5 "${argv[@]}" --version 2>&1 </dev/null | head -n 1)
  # which source the binary was built from is unknown; say what the repo looked like (read-only git calls)
  repo="$(dirname "$0")/.."
  gitrev=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo "?")
  gitbuild=$(git -C "$repo" log -1 --format=%h --before="$bintime" 2>/dev/null)
  dirty=$(git --no-optional-locks -C "$repo" status --porcelain -- src 2>/dev/null | head -n 1)
  jq -n -c --arg date "$(date -u +%Y-%m-%dT%H:%MZ)" --arg nproc "$(nproc)" --arg cpu "$cpu" --arg ram "$ram" \
    --arg kernel "$(uname -r)" --arg vt "$vtv" --arg vtbin "$bin" --arg vtbintime "$bintime" --arg git "$gitrev" \
    --arg gitbuild "$gitbuild" --arg dirty "${dirty:+yes}" \
    --arg usesvb "$USES_VB" --arg vb "$vbv" --arg vbbin "$vbbin" --arg vbbintime "$vbbintime" \
    --arg go "$gov" --arg godeb "$(dpkg-query -W -f '${Version}' wireguard-go 2>/dev/null)" \
    --arg iperf "$(iperf3 --version 2>/dev/null | head -n 1)" \
    --arg reps "$VT_REPS" --arg time "$VT_TIME" --arg mtu "$VT_MTU" --arg tests "$VT_TESTS" --arg dirs "$VT_DIRS" \
    --arg pairs "$VT_PAIRS" --arg pin "A=${VT_CPUS_A:-none} B=${VT_CPUS_B:-none} iperf3 A=${VT_CPUS_IPERF_A:-none} B=${VT_CPUS_IPERF_B:-none}" \
    --arg log "$VT_LOG_LEVEL" --arg soak "$VT_SOAK $VT_SOAK_PAIRS ${VT_SOAK_TIME}s $VT_SOAK_TEST" '
    { date: $date, nproc: ($nproc | tonumber), cpu: $cpu, ram: $ram, kernel: $kernel,
      veiltun: $vt, veiltun_binary: $vtbin, veiltun_binary_time: $vtbintime, repo_head: $git,
      repo_last_commit_before_binary: $gitbuild, repo_src_dirty: ($dirty == "yes"),
      veiltun_base: (if $usesvb == "1" then $vb else null end),
      veiltun_base_binary: (if $usesvb == "1" then $vbbin else null end),
      veiltun_base_binary_time: (if $usesvb == "1" then $vbbintime else null end),
      wireguard_go: $go, wireguard_go_deb: $godeb, iperf3: $iperf,
      settings: { reps: ($reps | tonumber), seconds: ($time | tonumber), mtu: ($mtu | tonumber), tests: $tests,
                  dirs: $dirs, pairs: $pairs, pinning: $pin, log_level: $log, soak: $soak } }'
}

# daemons_json: per daemon: alive, memory, log lines, error-looking lines
daemons_json() {
  local k alive m n e
  for k in "${DAEMONS[@]}"; do
    alive=false; kill -0 "${PID[$k]}" 2>/dev/null && alive=true
    m=$(mem "${PID[$k]}")
    n=$(wc -l < "${LOG[$k]}"); e=$(grep -ciE 'error|panic|exception|fatal|segmentation|fail' "${LOG[$k]}")
    jq -n -c --arg k "$k" --arg kind "${KIND[$k]}" --arg exe "${EXE[$k]:-}" --argjson alive "$alive" --arg m "$m" \
      --argjson n "$n" --argjson e "$e" --arg head "$(grep -iE 'error|panic|exception|fatal|segmentation|fail' "${LOG[$k]}" | head -n 5)" '
      { daemon: $k, impl: $kind, exe: $exe, alive: $alive, rss_kib: ($m | split(" ")[0] | tonumber),
        hwm_kib: ($m | split(" ")[1] | tonumber), log_lines: $n, error_lines: $e,
        first_error_lines: ($head | split("\n") | map(select(length > 0))) }'
  done | jq -s -c .
}

report() {
  local machine=$1 daemons=$2
  jq -r -n --argjson m "$machine" --argjson d "$daemons" --slurpfile soak "$SOAK_FILE" --slurpfile rows "$ROWS" '
    def fx(n): if . == null then "-" else
        ((. * pow(10; n)) | round) as $i | ($i | fabs | tostring) as $d |
        ([range(0; n + 1 - ($d | length))] | map("0") | join("")) as $pad | ($pad + $d) as $p |
        (if $i < 0 then "-" else "" end) + (if n == 0 then $p else $p[0:($p | length) - n] + "." + $p[($p | length) - n:] end)
      end;
    def med: map(select(. != null)) | sort |
      if length == 0 then null elif length % 2 == 1 then .[(length - 1) / 2] else (.[length / 2 - 1] + .[length / 2]) / 2 end;
    def ratio(a; b): if a == null or b == null or b == 0 then null else a / b end;
    def cpuratios($x; $b): "\(ratio($x.ct; $b.ct) | fx(3)) | \(ratio($x.cs; $b.cs) | fx(3)) | \(ratio($x.cr; $b.cr) | fx(3)) |";
    def sr: "\(.[0].sender) → \(.[0].receiver)";
    def tidx: . as $t | ($m.settings.tests | split(" ") | index($t)) // 99;
    def gkey: [(.test | tidx), .dir, .pair];
    ($rows | map(select(.mode == "tun"))) as $tun | ($rows | map(select(.mode == "raw"))) as $raw |
    ($m.settings.pairs | split(" ")) as $porder |
    ($tun | group_by([.pair, .test, .dir]) | map({
        pair: .[0].pair, test: .[0].test, dir: .[0].dir, sr: sr, n: length,
        errors: (map(select(.error)) | length),
        gbps: (map(.gbps) | med), gmin: (map(.gbps) | min), gmax: (map(.gbps) | max),
        byrep: (map({key: (.rep | tostring), value: .gbps}) | from_entries),
        pps: (map(.pps) | med), lost: (map(.lost_percent) | med), ooo: (map(.out_of_order) | med),
        ooomax: (map(.out_of_order) | map(select(. != null)) | max), retr: (map(.retransmits) | med),
        cs: (map(.cpu_sender_s_per_gb) | med), cr: (map(.cpu_receiver_s_per_gb) | med),
        ct: (map(.cpu_daemons_s_per_gb) | med), other: (map(.other_procs_cores) | med),
        kd: { rcvbuf: (map(.kernel_drops.receiver_udp_rcvbuf_errors // 0) | add),
              tuntx: (map(.kernel_drops.sender_tun_tx_dropped // 0) | add),
              tunrx: (map(.kernel_drops.receiver_tun_rx_dropped // 0) | add) },
        vd: { sender: (map(.veiltun_drops.sender // {} | to_entries[]) | group_by(.key) | map({key: .[0].key, value: (map(.value) | add)}) | from_entries),
              receiver: (map(.veiltun_drops.receiver // {} | to_entries[]) | group_by(.key) | map({key: .[0].key, value: (map(.value) | add)}) | from_entries) }
      })) as $g |
    ($g | sort_by([(.test | tidx), .dir, (.pair as $p | $porder | index($p))])) as $gs |
    ($g | map(select(.pair == "go-go")) | map({key: "\(.test)|\(.dir)", value: .}) | from_entries) as $base |
    ($g | map({key: "\(.pair)|\(.test)|\(.dir)", value: .}) | from_entries) as $bykey |
    # vt / vb: each pair with vt (and no vb) against the same pair with vb in vt'"'"'s place(s), if it ran
    [$gs[] | select((.pair | contains("vt")) and (.pair | contains("vb") | not)) |
      . as $x | $bykey["\(.pair | gsub("vt"; "vb"))|\(.test)|\(.dir)"] as $b | select($b != null) | {x: $x, b: $b}] as $vtvb |
    "### Run \($m.date)",
    "",
    "| | |", "|---|---|",
    "| machine | \($m.nproc) CPUs (`nproc`), \($m.cpu), \($m.ram) RAM, kernel \($m.kernel) |",
    "| veiltun | \($m.veiltun), `\($m.veiltun_binary)` built \($m.veiltun_binary_time) (newest repo commit before that: \($m.repo_last_commit_before_binary); HEAD at run time \($m.repo_head)\(if $m.repo_src_dirty then ", src/ with uncommitted changes" else "" end))\(if $m.veiltun_binary_replaced then "; **the binary was replaced during the run** (the daemons kept the one they started with)" else "" end) |",
    (if $m.veiltun_base != null then
      "| veiltun baseline (vb) | \($m.veiltun_base), `\($m.veiltun_base_binary)` built \($m.veiltun_base_binary_time)\(if $m.veiltun_base_binary_replaced then "; **the binary was replaced during the run** (the daemons kept the one they started with)" else "" end) |"
     else empty end),
    "| wireguard-go | \($m.wireguard_go)\(if $m.wireguard_go_deb != "" then " (Debian \($m.wireguard_go_deb))" else "" end) |",
    "| iperf3 | \($m.iperf3) |",
    "| settings | VT_REPS=\($m.settings.reps), VT_TIME=\($m.settings.seconds) s, MTU \($m.settings.mtu), tests `\($m.settings.tests)`, dirs `\($m.settings.dirs)`, pinning \($m.settings.pinning), LOG_LEVEL=\($m.settings.log_level) |",
    "",
    (if ($gs | length) > 0 then
      "go = wireguard-go, vt = veiltun\(if $m.veiltun_base != null then ", vb = veiltun baseline" else "" end); pair = A-B (namespace A first); `s → r` = sender → receiver. Gbit/s at the",
      "receiver (iperf3); kpps = UDP datagrams received per second; lost % and out-of-order (ooo, median [max]) as the",
      "UDP receiver counted them; retr = TCP retransmits. CPU s/GB = the daemon process'"'"'s utime+stime (/proc/PID/stat)",
      "during the run per GB received: sender, receiver, both. others = CPU used meanwhile by processes that are neither",
      "the daemons nor this benchmark (other tenants, kernel threads), in cores: above ~0.1 the row is contended.",
      "Medians of \($m.settings.reps) run(s) of \($m.settings.seconds) s" + (if $m.settings.reps > 1 then "; Gbit/s [min-max]." else "." end),
      "",
      "| pair | test | dir | s → r | Gbit/s | kpps | lost % / retr | ooo | CPU s/GB send | recv | both | others |",
      "|---|---|---|---|---|---|---|---|---|---|---|---|",
      ($gs[] | "| \(.pair) | \(.test) | \(.dir) | \(.sr) | \(.gbps | fx(3))\(if .n > 1 then " [\(.gmin | fx(3))-\(.gmax | fx(3))]" else "" end)\(if .errors > 0 then " (\(.errors) failed)" else "" end) | " +
        "\(.pps | if . == null then "-" else (. / 1000 | fx(1)) end) | " +
        (if .lost != null then "\(.lost | fx(1))%" elif .retr != null then "\(.retr | fx(0)) retr" else "-" end) + " | " +
        (if .ooo != null then "\(.ooo | fx(0)) [\(.ooomax)]" else "-" end) + " | " +
        "\(.cs | fx(2)) | \(.cr | fx(2)) | \(.ct | fx(2)) | \(.other | fx(2)) |"),
      ""
     else empty end),
    (if ($base | length) > 0 and ($gs | map(select(.pair != "go-go")) | length) > 0 then
      "Ratio to go-go (wireguard-go ↔ wireguard-go) for the same test and direction, medians: throughput >1 is",
      "faster; CPU/GB <1 is cheaper (send: the sender daemon against wireguard-go sending; recv: likewise receiving).",
      "",
      "| pair | test | dir | s → r | throughput | CPU/GB both | CPU/GB send | CPU/GB recv |",
      "|---|---|---|---|---|---|---|---|",
      ($gs[] | select(.pair != "go-go") | . as $x | $base["\(.test)|\(.dir)"] as $b |
        "| \(.pair) | \(.test) | \(.dir) | \(.sr) | \(ratio($x.gbps; $b.gbps) | fx(3)) | " + cpuratios($x; $b)),
      ""
     else empty end),
    (if ($vtvb | length) > 0 then
      "vt / vb: the new build (vt, `\($m.veiltun_binary)`) against the baseline build (vb, `\($m.veiltun_base_binary)`),",
      "each vt pair over the same pair with vb in its place, same test and direction, interleaved in the same run; ratio",
      "of the medians: throughput >1 is faster, CPU/GB <1 is cheaper. per rep: the throughput ratio of the two runs of",
      "the same repetition (they ran back to back), median [min-max].",
      "",
      "| pair | test | dir | s → r | throughput | per rep | CPU/GB both | CPU/GB send | CPU/GB recv |",
      "|---|---|---|---|---|---|---|---|---|",
      ($vtvb[] | .x as $x | .b as $b |
        [$x.byrep | keys[] as $r | ratio($x.byrep[$r]; $b.byrep[$r]) | select(. != null)] as $pr |
        "| \($x.pair) / \($b.pair) | \($x.test) | \($x.dir) | \($x.sr) | \(ratio($x.gbps; $b.gbps) | fx(3)) | " +
        "\($pr | med | fx(3))\(if ($pr | length) > 1 then " [\($pr | min | fx(3))-\($pr | max | fx(3))]" else "" end) | " +
        cpuratios($x; $b)),
      ""
     else empty end),
    (if ($raw | length) > 0 then
      "Raw veth baseline (no tunnel, MTU 1500 with GSO/TSO; measured once, A → B): the plumbing'"'"'s ceiling, not a target.",
      "",
      "| test | Gbit/s | kpps | lost % / retr | ooo | machine CPU s/GB | others |",
      "|---|---|---|---|---|---|---|",
      ($raw | sort_by(.test | tidx)[] |
        "| \(.test) | \(.gbps | fx(3))\(if .error then " (error)" else "" end) | \(.pps | if . == null then "-" else (. / 1000 | fx(1)) end) | " +
        (if .lost_percent != null then "\(.lost_percent | fx(1))%" elif .retransmits != null then "\(.retransmits) retr" else "-" end) +
        " | \(.out_of_order // "-") | \(.cpu_machine_s_per_gb | fx(2)) | \(.other_procs_cores | fx(2)) |"),
      ""
     else empty end),
    (if ($soak | length) > 0 then
      "Soak: \($soak[0].seconds_planned) s \($soak[0].test) A → B at full load, VmRSS (/proc/PID/status) of both daemons every",
      "second; the slowest 1-s interval at the receiver and the largest TCP RTT the sender saw (a stall shows as both).",
      "",
      "| pair | daemon | Gbit/s | slowest 1 s | max RTT | RSS before | RSS at 10 s | RSS at end | RSS(end)/RSS(10 s) | max RSS | VmHWM after |",
      "|---|---|---|---|---|---|---|---|---|---|---|",
      ($soak[] | . as $x | (["a", "A (sender)", $x.impl_a], ["b", "B (receiver)", $x.impl_b]) | . as [$k, $lab, $impl] |
        def mib: if . == null then "-" else (. / 1024 | fx(1)) + " MiB" end;
        "| \($x.pair) | \($impl) \($lab) | \($x.gbps | fx(3)) | \($x.min_interval_gbps | fx(3)) | \($x.max_rtt_ms | fx(0)) ms | " +
        "\($x.rss_kib_before[$k] // null | mib) | \($x.rss_kib_at_10s[$k] // null | mib) | " +
        "\($x.rss_kib_at_end[$k] // null | mib) (\($x.rss_kib_at_end.t // "-") s) | " +
        "\($x.rss_end_over_10s[$k] // null | fx(3)) | \($x.rss_kib_max[$k] // null | mib) | \($x.hwm_kib_after[$k] // null | mib) |"),
      ($soak[] | select(.error) | "", "Soak \(.pair) error: \(.error)"),
      ""
     else empty end),
    "Daemons at the end: memory, health, logs (LOG_LEVEL=\($m.settings.log_level)).",
    "",
    "| daemon | impl | alive | VmRSS | VmHWM | log lines | error-like lines |",
    "|---|---|---|---|---|---|---|",
    ($d[] | "| \(.daemon) | \(.impl) | \(if .alive then "yes" else "**no**" end) | \(.rss_kib / 1024 | fx(1)) MiB | \(.hwm_kib / 1024 | fx(1)) MiB | \(.log_lines) | \(.error_lines) |"),
    "",
    (if ($gs | length) > 0 then
      "Where packets were dropped, summed over all runs: kernel counters (receiver namespace: UDP RcvbufErrors = the",
      "daemon'"'"'s UDP socket overflowed; sender wg0 tx_dropped = the TUN queue overflowed before the daemon read it;",
      "receiver wg0 rx_dropped) and veiltun'"'"'s own drop counters (`veiltun stats`).",
      "",
      "| pair | test | dir | s → r | rx UDP RcvbufErrors | tx TUN drops | rx TUN drops | veiltun drops (sender / receiver) |",
      "|---|---|---|---|---|---|---|---|",
      ($gs[] | "| \(.pair) | \(.test) | \(.dir) | \(.sr) | \(.kd.rcvbuf) | \(.kd.tuntx) | \(.kd.tunrx) | " +
        ([.vd.sender, .vd.receiver] | map(if length == 0 then "-" else (to_entries | map("\(.key)=\(.value)") | join(" ")) end) | join(" / ")) + " |"),
      ""
     else empty end),
    (($rows | map(select(.error))) as $e | if ($e | length) > 0 then
      "Failed runs:", "", ($e[] | "- rep \(.rep) \(.pair) \(.test) \(.dir): \(.error)"), "" else empty end),
    ($d | map(select(.error_lines > 0)) as $l | if ($l | length) > 0 then
      "Daemon log lines that look like errors (first 5 per daemon):", "", "```",
      ($l[] | "\(.daemon) (\(.impl)): \(.error_lines) lines", (.first_error_lines[] | "  " + .)), "```", "" else empty end)
  '
}

# ---------------------------------------------------------------- main

main() {
  vt_bench_start                # $VT_TMP, and the EXIT trap that cleans up
  vt_clean_stale "$PREFIX"
  ROWS="$VT_TMP/rows.jsonl"; : > "$ROWS"
  SOAK_FILE="$VT_TMP/soak.jsonl"; : > "$SOAK_FILE"
  local machine k; machine=$(machine_json)
  local -A vtbin vtmtime          # vt's (and vb's) binary and its mtime: was it replaced during the run?
  for k in vt vb; do
    [ "$k" = vt ] || [ "$USES_VB" = 1 ] || continue
    read -r -a argv <<< "$(impl_cmd $k)"; vtbin[$k]=$(type -P "${argv[0]}"); vtmtime[$k]=
    [ -n "${vtbin[$k]}" ] && vtbin[$k]=$(readlink -f "${vtbin[$k]}") && vtmtime[$k]=$(stat -c %Y "${vtbin[$k]}" 2>/dev/null)
  done

  local i=0 p
  for p in "${SETUP_PAIRS[@]}"; do
    i=$((i + 1))
    say "setting up $p ($(impl_name "${p%-*}") in A, $(impl_name "${p#*-}") in B)"
    setup_pair "$p" "$i" || { VT_FAIL=1; vt_die "setup of pair $p failed (its logs are kept: see below)"; }
  done

  local per=$(( ${#TESTS[@]} * ${#DIRS[@]} * ${#PAIRS[@]} ))
  [ "$VT_SOAK" = only ] && per=0
  RUN_TOTAL=$(( VT_REPS * per ))
  [ "$VT_RAW" = 1 ] && [ "$VT_SOAK" != only ] && RUN_TOTAL=$((RUN_TOTAL + ${#TESTS[@]}))
  local est=$(( RUN_TOTAL * (VT_TIME + 3) ))
  [ "$VT_SOAK" != 0 ] && est=$((est + ${#SOAK_PAIRS[@]} * (VT_SOAK_TIME + 5)))
  if [ "$VT_SOAK" = only ]; then say "soaks only: ${#SOAK_PAIRS[@]} x ${VT_SOAK_TIME}s"
  else say "$RUN_TOTAL iperf3 runs of ${VT_TIME}s$([ "$VT_SOAK" = 1 ] && echo " + ${#SOAK_PAIRS[@]} soak(s) of ${VT_SOAK_TIME}s"): about $(( (est + 59) / 60 )) min"; fi

  if [ "$VT_SOAK" != only ]; then
    local rep test dir j rot n=${#PAIRS[@]}
    for ((rep = 1; rep <= VT_REPS; rep++)); do
      rot=$((rep - 1))           # and from one repetition to the next, each case starts with the next pair
      if [ "$rep" = 1 ] && [ "$VT_RAW" = 1 ]; then
        for test in "${TESTS[@]}"; do run_one 1 "${SETUP_PAIRS[0]}" "$test" a2b raw; done
      fi
      for test in "${TESTS[@]}"; do
        for dir in "${DIRS[@]}"; do
          for ((j = 0; j < n; j++)); do run_one "$rep" "${PAIRS[(j + rot) % n]}" "$test" "$dir" tun; done
          rot=$((rot + 1))       # each pair takes each position in turn: no pair always runs first
        done
      done
    done
  fi
  if [ "$VT_SOAK" != 0 ]; then for p in "${SOAK_PAIRS[@]}"; do run_soak "$p"; done; fi

  local daemons; daemons=$(daemons_json)
  local -A replaced=([vt]=false [vb]=false)
  for k in "${!vtbin[@]}"; do
    [ -z "${vtbin[$k]}" ] || [ "$(stat -c %Y "${vtbin[$k]}" 2>/dev/null)" = "${vtmtime[$k]}" ] || replaced[$k]=true
  done
  machine=$(jq -c --argjson r "${replaced[vt]}" --argjson rb "${replaced[vb]}" \
    '. + { veiltun_binary_replaced: $r, veiltun_base_binary_replaced: $rb }' <<< "$machine")
  jq -e 'all(.alive)' <<< "$daemons" >/dev/null || VT_FAIL=1
  jq -s -e 'all(.error == null)' "$ROWS" >/dev/null || VT_FAIL=1
  echo
  report "$machine" "$daemons"
  if [ -n "$VT_JSON" ]; then
    jq -n --argjson m "$machine" --argjson d "$daemons" --slurpfile soak "$SOAK_FILE" --slurpfile rows "$ROWS" \
      '{ machine: $m, runs: $rows, soaks: $soak, daemons: $d }' > "$VT_JSON" && say "JSON: $VT_JSON"
  fi
  if [ "$VT_FAIL" != 0 ]; then say "throughput: some runs failed or a daemon died (see the report)"; return 1; fi
  return 0
}

main
