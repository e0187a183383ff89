#!/usr/bin/env bash
# bench/features.sh — what VeilTun's two privacy features cost against the plain tunnel: DAITA (decoys and
# padding) and multihop (the exit hop's WireGuard inside the entry hop's). Run by hand, as root; not part of CI.
#
# Two setups, built once and kept up for the whole run (every daemon runs `-f` with a private /var/run/wireguard
# bind-mounted inside its namespace, so nothing appears in the host's /var/run/wireguard):
#
# 1. plain / daita: two veiltun peers, namespaces A and B joined by a veth (as bench/throughput.sh's vt-vt).
#      A  veiltun wg0 192.0.2.129/25, veth0 198.51.100.193/26  <-->  B  veiltun wg0 192.0.2.130/25, veth0 198.51.100.194/26
#    `plain` and `daita` run on the SAME two daemons: before every run DAITA is switched on (both sides, each for
#    the other: `veiltun daita set wg0 PEER --machine M1 --machine M4 --max-decoy-frac F`) or off
#    (`veiltun daita off wg0 PEER`), so the only difference between the two is DAITA. The machines are Mullvad's
#    M1 and M4. `veiltun stats` gives the DAITA counters before and after each run; the report lists them per run.
#
# 2. singlehop / multihop: the four namespaces of tests/interop/multihop.sh, same addresses, same relays:
#
#    ns C (client)                ns E (entry relay)             ns X (exit relay)            ns S (server)
#    veiltun --via mhe mhx        wireguard-go wge 192.0.2.1/25  wireguard-go wgx             198.51.100.130 (multihop)
#      mhx 203.0.113.2/25 (1340)    nft: forwards only, masq.      203.0.113.1/25, masq.      198.51.100.131 (singlehop)
#      mhe (no TUN) 192.0.2.2     route 198.51.100.128/26 via X    ip_forward
#    veiltun sh0 192.0.2.3/32 (1340)
#    198.51.100.1 ---------- 198.51.100.2 | 198.51.100.65 ---------- 198.51.100.66 | 198.51.100.129 ---- .130/.131
#
#    multihop:  C's one veiltun process seals twice (exit hop, then entry hop); E's wireguard-go opens the outer
#               layer and forwards the inner WireGuard UDP to X (nft allows only that); X's wireguard-go opens it and
#               forwards to the server's 198.51.100.130.
#    singlehop: a second veiltun process in C, interface sh0, a second peer of the SAME entry relay wge (allowed-ips
#               192.0.2.3/32 there); E opens the one layer and routes the plain packet via X's kernel (no WireGuard
#               at X) to the server's 198.51.100.131 (a second address on the same veth of the same namespace, so
#               the client can route the two configurations to the same server by destination).
#    Both go C -> E -> X -> S over the same veths, relays and server; the client does one WireGuard layer or two.
#    sh0 gets the exit hop's MTU (1340) so both carry the same inner packets (same TCP MSS, same UDP datagram
#    size): the ratio then is the cost of the extra layer, not of a smaller MTU.
#
# Every configuration runs iperf3 client -> server (A -> B, C -> S): TCP with one stream, and UDP at full rate
# (-b 0) with the largest datagram the tunnel carries unfragmented (1392 bytes at MTU 1420 for plain/daita, 1312
# at MTU 1340 for singlehop/multihop). Each repetition runs every configuration for one test back to back, the
# order rotated from test to test and repetition to repetition; the report shows medians of VT_REPS runs.
# CPU s/GB = utime+stime of a daemon process (/proc/PID/stat) during the run per GB the receiver got.
# Markdown report on stdout, progress on stderr.
#
#   sudo bench/features.sh                       # 3 reps x 5 s: about 4 minutes
#   sudo VT_REPS=1 VT_TIME=3 bench/features.sh   # smoke run: under a minute
#   sudo VT_CONFIGS="plain daita" VT_TESTS=udp bench/features.sh
#
# Variables (defaults in brackets):
#   VT_REPS [3]              repetitions; the report shows medians
#   VT_TIME [5]              seconds per iperf3 run
#   VT_CONFIGS [plain daita singlehop multihop]   which configurations to measure
#   VT_TESTS [tcp udp]       tcp = TCP 1 stream; udp = UDP -b 0 -l (MTU - 28)
#   VT_DAITA_DECOY_FRAC [0.5]   --max-decoy-frac for DAITA (empty: veiltun's default)
#   VT_VEILTUN [veiltun]     VeilTun command;  VT_WIREGUARD_GO [wireguard-go]: the relays
#   VT_LOG_LEVEL [error]     LOG_LEVEL for every daemon
#   VT_KEEP_TMP [0]          1: keep the temp dir (daemon logs, iperf3 JSON, runs.jsonl) even on success
#
# Addresses are documentation ranges only (198.51.100.0/24, 192.0.2.0/24, 203.0.113.0/24). Everything this script
# starts is stopped by PID and its namespaces (vtf-<pid>-*) are deleted by an EXIT trap; leftovers of a killed
# earlier run whose PID is gone are removed on start. Every daemon, wg, veiltun and iperf3 call is bounded by timeout.
set -u -o pipefail
# shellcheck source=SCRIPTDIR/../scripts/lib/netns.bash
source "$(dirname "$0")/../scripts/lib/netns.bash"
vt_bench_init features
export LC_ALL=C

: "${VT_REPS:=3}"
: "${VT_TIME:=5}"
: "${VT_CONFIGS:=plain daita singlehop multihop}"
: "${VT_TESTS:=tcp udp}"
: "${VT_DAITA_DECOY_FRAC=0.5}"
: "${VT_VEILTUN:=veiltun}"
: "${VT_WIREGUARD_GO:=wireguard-go}"
: "${VT_LOG_LEVEL:=error}"
: "${VT_KEEP_TMP:=0}"

# Mullvad's DAITA machines M1 and M4 (maybenot machine strings).
DAITA_M1='02eNptjLsNwCAQQ++yQRZImTJlRIfYBDEJA7ERJQtQ0iC+dxSIJ1mWLcv5TsLH9wMmF4KLqwkRAawk2yPR00CHX3V3j1GziWvE09NBBWg9Fjk='
DAITA_M4='02eNpdjr0LQVEYxt9zGES5o4myKVksFM45lEHKx0LJYDAZ5C+QRTHIaGETViYDKYPp3ijFYLj3KkmGK2WwuVwiv3rrrafnA1Jm16ijKBQ+6NRDGPJ2E0Xe6YnAD0hFD9nm/ObIHumlv4imZ3Mm8DwvtaxB0Jy1IUex0pYIIB30lhuCYkYvwW6nQFSV41R1L8vkmwlgEOONVvEaYt1SwLhdhxn8gdBgEfXU7RFmzeR9YtPPxrbqOVkLsd29XJhIJfbqRomGheLcYUWeFgxQodrq9wcP1E88/w=='

PREFIX=vtf-
IPERF_PORT=5201
PAIR_MTU=1420; MH_MTU=1340; ENTRY_MTU=1420
HZ=$(getconf CLK_TCK 2>/dev/null || echo 100)

say() { printf '[%3ds] %s\n' "$((SECONDS - VT_START))" "$*" >&2; }
# shellcheck disable=SC2034 # the library reports through it
VT_SAY=say

case ${1:-} in -h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;; esac

# ---------------------------------------------------------------- checks

vt_require ip wg iperf3 jq timeout mount awk ss ping nft sysctl
[[ $VT_REPS =~ ^[1-9][0-9]*$ ]] || vt_die "VT_REPS must be a positive integer"
[[ $VT_TIME =~ ^[1-9][0-9]*$ ]] || vt_die "VT_TIME must be a positive integer (seconds)"
[ -z "$VT_DAITA_DECOY_FRAC" ] || [[ $VT_DAITA_DECOY_FRAC =~ ^(0(\.[0-9]+)?|1(\.0*)?)$ ]] ||
  vt_die "VT_DAITA_DECOY_FRAC must be a number in [0, 1]"
read -r -a CONFIGS <<< "$VT_CONFIGS"
read -r -a TESTS <<< "$VT_TESTS"
((${#CONFIGS[@]})) || vt_die "VT_CONFIGS is empty"
((${#TESTS[@]})) || vt_die "VT_TESTS is empty"
for c in "${CONFIGS[@]}"; do case $c in plain|daita|singlehop|multihop) ;; *) vt_die "unknown configuration '$c'" ;; esac; done
for t in "${TESTS[@]}"; do case $t in tcp|udp) ;; *) vt_die "unknown test '$t' (tcp or udp)" ;; esac; done
read -r -a VT_ARGV <<< "$VT_VEILTUN"
read -r -a GO_ARGV <<< "$VT_WIREGUARD_GO"
command -v "${VT_ARGV[0]}" >/dev/null 2>&1 || vt_die "veiltun command not found: ${VT_ARGV[0]}"
NEED_PAIR=0; NEED_MH=0
for c in "${CONFIGS[@]}"; do
  case $c in plain|daita) NEED_PAIR=1 ;; *) NEED_MH=1 ;; esac
done
if [ "$NEED_MH" = 1 ]; then
  command -v "${GO_ARGV[0]}" >/dev/null 2>&1 || vt_die "wireguard-go command not found: ${GO_ARGV[0]} (the relays)"
fi
if [[ " ${CONFIGS[*]} " == *" daita "* ]]; then
  for m in "$DAITA_M1" "$DAITA_M4"; do
    timeout "$VT_CMD_TIMEOUT" "${VT_ARGV[@]}" daita inspect "$m" >/dev/null 2>&1 || vt_die "veiltun rejects a DAITA machine (no DAITA support?)"
  done
fi

# ---------------------------------------------------------------- process and namespace bookkeeping

# Namespaces, daemons and the temp dir ($VT_TMP) are the library's (scripts/lib/netns.bash): everything started
# is stopped by PID, the namespaces deleted, by its EXIT trap.
declare -A NS RUN PID LOG EXE KIND KEY PUB
DAEMONS=()                       # keys of the daemons we started: a b mh sgl e x

# inns NSKEY CMD...: CMD in that namespace with its private /var/run/wireguard, bounded (vt_priv)
inns() { local k=$1; shift; vt_priv "${NS[$k]}" "${RUN[$k]}" "$@"; }

mkns() {                         # mkns KEY: namespace vtf-<pid>-KEY, lo up, a private run dir
  NS[$1]="${PREFIX}$$-$1"; RUN[$1]="$VT_TMP/run-$1"
  mkdir -p "${RUN[$1]}" && vt_ns "${NS[$1]}"
}

# veth NSKEY1 IF1 CIDR1 NSKEY2 IF2 CIDR2
veth() { vt_veth "${NS[$1]}" "$2" "$3" "${NS[$4]}" "$5" "$6"; }

genkey() { vt_genkey "$1" && KEY[$1]="$VT_TMP/$1.key" && PUB[$1]=$VT_PUB; }   # KEY[NAME] (file), PUB[NAME]

# start_daemon DKEY NSKEY KIND(vt|go) "SOCKETS" "TUN-INTERFACES" ARGV...: the daemon in the foreground, in the
# background of this script; waits until every socket and interface exists. PID[DKEY] is the daemon itself.
start_daemon() {
  local d=$1 nk=$2 kind=$3 socks=$4 tuns=$5
  shift 5
  LOG[$d]="$VT_TMP/daemon-$d.log"; KIND[$d]=$kind
  if ! LOG_LEVEL=$VT_LOG_LEVEL vt_daemon_start "${NS[$nk]}" "${RUN[$nk]}" "${LOG[$d]}" "$socks" "$tuns" "$@"; then
    say "daemon $d: $VT_ERR:"; tail -n 20 "${LOG[$d]}" >&2
    return 1
  fi
  PID[$d]=$VT_DAEMON_PID; EXE[$d]=$VT_DAEMON_EXE; DAEMONS+=("$d")
  case ${EXE[$d]##*/} in
    ip|sh|dash|bash|timeout) say "warning: daemon $d PID ${PID[$d]} is ${EXE[$d]}, not the daemon: its CPU will read 0" ;;
  esac
}

# ---------------------------------------------------------------- setups

setup_pair() {
  mkns a && mkns b || return 1
  veth a veth0 198.51.100.193/26 b veth0 198.51.100.194/26 || return 1
  genkey pa && genkey pb || return 1
  start_daemon a a vt wg0 wg0 "${VT_ARGV[@]}" -f wg0 || return 1
  start_daemon b b vt wg0 wg0 "${VT_ARGV[@]}" -f wg0 || return 1
  inns a wg set wg0 listen-port 51820 private-key "${KEY[pa]}" \
    peer "${PUB[pb]}" allowed-ips 192.0.2.130/32 endpoint 198.51.100.194:51821 || return 1
  inns b wg set wg0 listen-port 51821 private-key "${KEY[pb]}" \
    peer "${PUB[pa]}" allowed-ips 192.0.2.129/32 endpoint 198.51.100.193:51820 || return 1
  ip -n "${NS[a]}" addr add 192.0.2.129/25 dev wg0 && ip -n "${NS[a]}" link set wg0 mtu "$PAIR_MTU" up &&
    ip -n "${NS[b]}" addr add 192.0.2.130/25 dev wg0 && ip -n "${NS[b]}" link set wg0 mtu "$PAIR_MTU" up || return 1
  vt_reach "${NS[a]}" 192.0.2.130 15 && vt_reach "${NS[b]}" 192.0.2.129 15 || { say "plain pair: no traffic through the tunnel"; return 1; }
}

setup_multihop() {
  local k
  for k in c e x s; do mkns "$k" || return 1; done
  veth c veth0 198.51.100.1/26 e vethc 198.51.100.2/26 &&
    veth e vethx 198.51.100.65/26 x vethe 198.51.100.66/26 &&
    veth x veths 198.51.100.129/26 s veth0 198.51.100.130/26 &&
    ip -n "${NS[s]}" addr add 198.51.100.131/26 dev veth0 || return 1
  for k in c_entry c_exit c_single e x; do genkey "$k" || return 1; done

  # entry relay: wireguard-go with two peers (the multihop client's entry hop, the single-hop client)
  start_daemon e e go wge wge "${GO_ARGV[@]}" -f wge || return 1
  inns e wg set wge private-key "${KEY[e]}" listen-port 51820 \
    peer "${PUB[c_entry]}" allowed-ips 192.0.2.2/32 \
    peer "${PUB[c_single]}" allowed-ips 192.0.2.3/32 || return 1
  ip -n "${NS[e]}" addr add 192.0.2.1/25 dev wge && ip -n "${NS[e]}" link set wge mtu "$ENTRY_MTU" up &&
    ip -n "${NS[e]}" route add 198.51.100.128/26 via 198.51.100.66 dev vethx &&
    ip netns exec "${NS[e]}" sysctl -qw net.ipv4.ip_forward=1 || return 1
  # multihop.sh's rules, plus the single-hop client's plain packets to the server's second address
  ip netns exec "${NS[e]}" nft -f - <<'EOF' || return 1
table inet vtf {
  chain vtfwd { type filter hook forward priority 0; policy drop;
    iifname "wge" oifname "vethx" ip saddr 192.0.2.2 ip daddr 198.51.100.66 udp dport 51820 accept
    iifname "wge" oifname "vethx" ip saddr 192.0.2.3 ip daddr 198.51.100.131 accept
    iifname "vethx" oifname "wge" ct state established accept; }
  chain vtpost { type nat hook postrouting priority 100; oifname "vethx" masquerade; }
}
EOF

  # exit relay
  start_daemon x x go wgx wgx "${GO_ARGV[@]}" -f wgx || return 1
  inns x wg set wgx private-key "${KEY[x]}" listen-port 51820 peer "${PUB[c_exit]}" allowed-ips 203.0.113.2/32 || return 1
  ip -n "${NS[x]}" addr add 203.0.113.1/25 dev wgx && ip -n "${NS[x]}" link set wgx mtu "$MH_MTU" up &&
    ip netns exec "${NS[x]}" sysctl -qw net.ipv4.ip_forward=1 || return 1
  ip netns exec "${NS[x]}" nft -f - <<'EOF' || return 1
table inet vtf { chain vtpost { type nat hook postrouting priority 100; oifname "veths" masquerade; }; }
EOF

  # client: one veiltun process for both hops of multihop, a second one for the single hop
  start_daemon mh c vt "mhx mhe" mhx "${VT_ARGV[@]}" -f --via mhe --entry-address 192.0.2.2 --entry-mtu "$ENTRY_MTU" mhx || return 1
  inns c wg set mhe private-key "${KEY[c_entry]}" \
    peer "${PUB[e]}" endpoint 198.51.100.2:51820 allowed-ips 198.51.100.66/32 || return 1
  inns c wg set mhx private-key "${KEY[c_exit]}" \
    peer "${PUB[x]}" endpoint 198.51.100.66:51820 allowed-ips 0.0.0.0/0 || return 1
  ip -n "${NS[c]}" addr add 203.0.113.2/25 dev mhx && ip -n "${NS[c]}" link set mhx mtu "$MH_MTU" up &&
    ip -n "${NS[c]}" route add 198.51.100.130/32 dev mhx || return 1
  start_daemon sgl c vt sh0 sh0 "${VT_ARGV[@]}" -f sh0 || return 1
  inns c wg set sh0 private-key "${KEY[c_single]}" \
    peer "${PUB[e]}" endpoint 198.51.100.2:51820 allowed-ips 198.51.100.131/32 || return 1
  ip -n "${NS[c]}" addr add 192.0.2.3/32 dev sh0 && ip -n "${NS[c]}" link set sh0 mtu "$MH_MTU" up &&
    ip -n "${NS[c]}" route add 198.51.100.131/32 dev sh0 || return 1
  vt_reach "${NS[c]}" 198.51.100.130 20 || { say "multihop: no ping to the server through both hops"; return 1; }
  vt_reach "${NS[c]}" 198.51.100.131 20 || { say "singlehop: no ping to the server through the entry relay"; return 1; }
}

# ---------------------------------------------------------------- measurements

# shellcheck disable=SC2154 # out is a nameref to the caller's associative array
# snap NAME: every daemon's ticks, whole-machine process ticks, this shell's reaped children's ticks, the time
snap() {
  local -n out=$1
  local k line rest _c u n s
  local -a f
  out=()
  for k in "${DAEMONS[@]}"; do vt_ticks "${PID[$k]}"; out[$k]=$REPLY; done
  read -r _c u n s _ < /proc/stat
  out[proc]=$((u + n + s))
  read -r line < "/proc/$$/stat"; rest=${line##*) }; read -r -a f <<< "$rest"
  out[kids]=$((f[13] + f[14]))     # cutime + cstime: iperf3 and the helpers, once reaped
  out[t]=${EPOCHREALTIME/./}
}

# vtstats DKEY IFNAME -> JSON {key: number} of `veiltun stats` (drop counters, the peer's tx/rx bytes, DAITA's)
vtstats() {
  local v
  v=$(inns "$1" "${VT_ARGV[@]}" stats "$2" 2>/dev/null |
      awk '$1 ~ /^[a-z_0-9]+:$/ && $2 ~ /^[0-9]+$/ && NF == 2 {
             k = substr($1, 1, length($1) - 1); if (k != "last_handshake_time_sec") print k, $2 }' |
      jq -R -s -c 'split("\n") | map(select(length > 0) | split(" ") | {(.[0]): (.[1] | tonumber)}) | add // {}')
  printf '%s\n' "${v:-\{\}}"
}

# allstats "DKEY IFNAME"... -> JSON {"DKEY:IFNAME": vtstats}
allstats() {
  local e dk di
  for e in "$@"; do
    read -r dk di <<< "$e"
    jq -c --arg k "$dk:$di" '{($k): .}' <<< "$(vtstats "$dk" "$di")"
  done | jq -s -c 'add // {}'
}

# rcvbuf NSKEY -> UDP RcvbufErrors of that namespace
rcvbuf() {
  ip netns exec "${NS[$1]}" cat /proc/net/snmp 2>/dev/null |
    awk '/^Udp:/ { if (!h) { for (i = 2; i <= NF; i++) c[$i] = i; h = 1 } else r = $c["RcvbufErrors"] } END { print r + 0 }'
}

# daita_on / daita_off: both sides of the pair, each for the other
daita_on() {
  local -a opt=(--machine "$DAITA_M1" --machine "$DAITA_M4")
  [ -n "$VT_DAITA_DECOY_FRAC" ] && opt+=(--max-decoy-frac "$VT_DAITA_DECOY_FRAC")
  inns a "${VT_ARGV[@]}" daita set wg0 "${PUB[pb]}" "${opt[@]}" >>"$VT_TMP/daita-cmd.log" 2>&1 &&
    inns b "${VT_ARGV[@]}" daita set wg0 "${PUB[pa]}" "${opt[@]}" >>"$VT_TMP/daita-cmd.log" 2>&1
}
daita_off() {
  inns a "${VT_ARGV[@]}" daita off wg0 "${PUB[pb]}" >>"$VT_TMP/daita-cmd.log" 2>&1 &&
    inns b "${VT_ARGV[@]}" daita off wg0 "${PUB[pa]}" >>"$VT_TMP/daita-cmd.log" 2>&1
}

ROWS=
RUN_N=0
RUN_TOTAL=0

# run_one REP CONFIG TEST: one iperf3 run, one JSON line appended to ROWS
run_one() {
  local rep=$1 cfg=$2 test=$3
  local sk rk dst mtu cli srv out err="" i k srvpid clipid
  local -a args paths stats_if
  local -A S0 S1
  case $cfg in
    plain|daita) sk=a; rk=b; dst=192.0.2.130; mtu=$PAIR_MTU; cli=a; srv=b; paths=(a b); stats_if=("a wg0" "b wg0") ;;
    singlehop)   sk=c; rk=s; dst=198.51.100.131; mtu=$MH_MTU; cli=sgl; srv=; paths=(c e x s); stats_if=("sgl sh0") ;;
    multihop)    sk=c; rk=s; dst=198.51.100.130; mtu=$MH_MTU; cli=mh; srv=; paths=(c e x s); stats_if=("mh mhx" "mh mhe") ;;
  esac
  if [ "$test" = udp ]; then args=(-u -b 0 -l $((mtu - 28))); else args=(); fi
  RUN_N=$((RUN_N + 1))
  out="$VT_TMP/run-$RUN_N-$cfg-$test"
  case $cfg in
    plain) daita_off || err="veiltun daita off failed: $(tail -n 1 "$VT_TMP/daita-cmd.log")" ;;
    daita) daita_on || err="veiltun daita set failed: $(tail -n 1 "$VT_TMP/daita-cmd.log")" ;;
  esac
  for k in "${DAEMONS[@]}"; do kill -0 "${PID[$k]}" 2>/dev/null || err="${err:+$err; }daemon $k not running"; done
  [ -z "$err" ] && { vt_reach "${NS[$sk]}" "$dst" 10 || err="no ping through the tunnel before the run"; }
  local st0='{}' st1='{}' kb0='{}' kb1='{}'
  st0=$(allstats "${stats_if[@]}")
  kb0=$(for k in "${paths[@]}"; do printf '{"%s":%s}\n' "$k" "$(rcvbuf "$k")"; done | jq -s -c 'add // {}')

  timeout -k 5 $((VT_TIME + 40)) ip netns exec "${NS[$rk]}" \
    iperf3 -s -1 -J -B "$dst" -p "$IPERF_PORT" >"$out.srv.json" 2>"$out.srv.err" </dev/null &
  srvpid=$!
  for ((i = 0; i < 50; i++)); do
    ip netns exec "${NS[$rk]}" ss -Hltn "sport = :$IPERF_PORT" 2>/dev/null | grep -q . && break
    sleep 0.1
  done
  snap S0
  timeout -k 5 $((VT_TIME + 30)) ip netns exec "${NS[$sk]}" \
    iperf3 -c "$dst" -p "$IPERF_PORT" -t "$VT_TIME" -J --connect-timeout 5000 "${args[@]}" \
    >"$out.cli.json" 2>"$out.cli.err" </dev/null &
  clipid=$!
  wait "$clipid"; local irc=$?
  for ((i = 0; i < 50; i++)); do kill -0 "$srvpid" 2>/dev/null || break; sleep 0.1; done
  vt_kill_pids "$srvpid"
  snap S1
  for f in "$out.cli.json" "$out.srv.json"; do
    jq -e 'type == "object"' "$f" >/dev/null 2>&1 || echo '{"error":"no iperf3 JSON (killed by timeout?)"}' > "$f"
  done

  st1=$(allstats "${stats_if[@]}")
  kb1=$(for k in "${paths[@]}"; do printf '{"%s":%s}\n' "$k" "$(rcvbuf "$k")"; done | jq -s -c 'add // {}')
  for k in "${DAEMONS[@]}"; do kill -0 "${PID[$k]}" 2>/dev/null || err="${err:+$err; }daemon $k died"; done
  [ "$irc" -ne 0 ] && [ -z "$err" ] && err="iperf3 exit $irc: $(head -c 200 "$out.cli.err" | tr '\n' ' ')"

  local cpu='{}' all=0 d
  for k in "${DAEMONS[@]}"; do
    d=$(( ${S1[$k]} - ${S0[$k]} )); all=$((all + d))
    cpu=$(jq -c --arg k "$k" --argjson v "$d" '. + {($k): $v}' <<< "$cpu")
  done
  jq -n -c --slurpfile cli "$out.cli.json" --slurpfile srv "$out.srv.json" \
    --arg rep "$rep" --arg cfg "$cfg" --arg test "$test" --arg err "$err" --arg dgram "${args[4]:-}" \
    --arg clid "$cli" --arg srvd "$srv" --argjson cpu "$cpu" --argjson hz "$HZ" \
    --argjson wall_us "$(( ${S1[t]} - ${S0[t]} ))" \
    --argjson t_other "$(( ${S1[proc]} - ${S0[proc]} - (${S1[kids]} - ${S0[kids]}) - all ))" \
    --argjson st0 "$st0" --argjson st1 "$st1" --argjson kb0 "$kb0" --argjson kb1 "$kb1" '
    def delta($a; $b): reduce ($b | keys[]) as $k ({}; ($b[$k] - ($a[$k] // 0)) as $d | if $d != 0 then .[$k] = $d else . end);
    def perg(t; gb): if t == null or gb == 0 then null else t / $hz / gb end;
    ($cli[0]) as $c | ($srv[0]) as $s |
    (if $test == "udp" then
       ($s.end.sum_received // $s.end.sum // $c.end.sum // {}) as $r |
       { bytes: ($r.bytes // 0), seconds: ($r.seconds // 0),
         packets: (if $r.packets then $r.packets - ($r.lost_packets // 0) else null end),
         lost_percent: $r.lost_percent, retransmits: null }
     else
       { bytes: ($c.end.sum_received.bytes // 0), seconds: ($c.end.sum_received.seconds // 0),
         packets: null, lost_percent: null, retransmits: $c.end.sum_sent.retransmits }
     end) as $m |
    ($m.bytes / 1e9) as $gb | ($wall_us / 1e6) as $wall |
    ($st1 | with_entries(.value = delta($st0[.key] // {}; .value))) as $sd |
    { rep: ($rep | tonumber), config: $cfg, test: $test, datagram: (if $dgram == "" then null else ($dgram | tonumber) end),
      error: ([$err, $c.error, $s.error] | map(select(. != null and . != "")) | if length > 0 then join("; ") else null end),
      bytes: $m.bytes, seconds: $m.seconds, wall_s: $wall,
      gbps: (if $m.seconds > 0 then $m.bytes * 8 / $m.seconds / 1e9 else 0 end),
      pps: (if $m.packets != null and $m.seconds > 0 then $m.packets / $m.seconds else null end),
      lost_percent: $m.lost_percent, retransmits: $m.retransmits,
      cpu_s: ($cpu | map_values(. / $hz)),
      client_cpu_s_per_gb: perg($cpu[$clid]; $gb),
      server_cpu_s_per_gb: (if $srvd == "" then null else perg($cpu[$srvd]; $gb) end),
      entry_cpu_s_per_gb: (if $cfg == "singlehop" or $cfg == "multihop" then perg($cpu.e; $gb) else null end),
      exit_cpu_s_per_gb: (if $cfg == "singlehop" or $cfg == "multihop" then perg($cpu.x; $gb) else null end),
      other_procs_cores: (if $wall > 0 then ([$t_other, 0] | max) / $hz / $wall else null end),
      daita_active: ([$st1[] | keys[] | select(startswith("daita_"))] | length > 0),
      daita: (if ($st1["a:wg0"] // null) == null then null else
        { a_tx_bytes: ($sd["a:wg0"].tx_bytes // 0),
          a_tx_padding: ($sd["a:wg0"].daita_tx_padding_bytes // 0), a_tx_decoy: ($sd["a:wg0"].daita_tx_decoy_packet_bytes // 0),
          b_tx_bytes: ($sd["b:wg0"].tx_bytes // 0),
          b_tx_padding: ($sd["b:wg0"].daita_tx_padding_bytes // 0), b_tx_decoy: ($sd["b:wg0"].daita_tx_decoy_packet_bytes // 0) } end),
      veiltun_drops: ($sd | with_entries(.value |= with_entries(select(.key | test("^(tx_bytes|rx_bytes|daita_)") | not)))
                      | with_entries(select(.value | length > 0))),
      udp_rcvbuf_errors: delta($kb0; $kb1) }' >> "$ROWS" ||
    { echo "{\"rep\":$rep,\"config\":\"$cfg\",\"test\":\"$test\",\"error\":\"could not parse iperf3 output\",\"gbps\":0}" >> "$ROWS"; VT_FAIL=1; }
  tail -n 1 "$ROWS" | jq -r --arg n "$RUN_N/$RUN_TOTAL" --arg t "$((SECONDS - VT_START))" '
    def f(n): if . == null then "-" else (. * pow(10; n) | round / pow(10; n) | tostring) end;
    "[\($t | tonumber | tostring | (" " * (3 - length)) + .)s] [\($n)] rep \(.rep) \(.config) \(.test): \(.gbps | f(3)) Gbit/s" +
    (if .pps != null then ", \(.pps / 1000 | f(1)) kpps, lost \(.lost_percent | f(1))%"
     elif .retransmits != null then ", \(.retransmits) retr" else "" end) +
    " | client CPU s/GB \(.client_cpu_s_per_gb | f(2))" +
    (if .daita != null and .config == "daita" then " | DAITA A tx pad \(.daita.a_tx_padding) decoy \(.daita.a_tx_decoy), B tx pad \(.daita.b_tx_padding) decoy \(.daita.b_tx_decoy)" else "" end) +
    " | others \(.other_procs_cores | f(2)) cores" + (if .error then " | ERROR: \(.error)" else "" end)' >&2
  [ -z "$err" ] || VT_FAIL=1
}

# ---------------------------------------------------------------- report

daemons_json() {
  local k alive n e rss
  for k in "${DAEMONS[@]}"; do
    alive=false; kill -0 "${PID[$k]}" 2>/dev/null && alive=true
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/${PID[$k]}/status" 2>/dev/null); rss=${rss:-0}
    n=$(wc -l < "${LOG[$k]}"); e=$(grep -ciE 'error|panic|exception|fatal|segmentation|fail' "${LOG[$k]}")
    jq -n -c --arg k "$k" --arg kind "${KIND[$k]}" --argjson alive "$alive" --argjson rss "$rss" \
      --argjson n "$n" --argjson e "$e" --arg head "$(grep -iE 'error|panic|exception|fatal|segmentation|fail' "${LOG[$k]}" | head -n 5)" '
      { daemon: $k, impl: (if $kind == "vt" then "veiltun" else "wireguard-go" end), alive: $alive, rss_kib: $rss,
        log_lines: $n, error_lines: $e, first_error_lines: ($head | split("\n") | map(select(length > 0))) }'
  done | jq -s -c .
}

report() {
  local daemons=$1
  jq -r -n --argjson d "$daemons" --slurpfile rows "$ROWS" \
    --arg date "$(date -u +%Y-%m-%dT%H:%MZ)" --arg nproc "$(nproc)" \
    --arg cpu "$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)" --arg kernel "$(uname -r)" \
    --arg vt "$(timeout 5 "${VT_ARGV[@]}" --version 2>&1 </dev/null | head -n 1)" \
    --arg vtbin "$(readlink -f "$(type -P "${VT_ARGV[0]}")" 2>/dev/null)" \
    --arg go "$(timeout 5 "${GO_ARGV[@]}" --version 2>&1 </dev/null | head -n 1)" \
    --arg iperf "$(iperf3 --version 2>/dev/null | head -n 1)" \
    --arg reps "$VT_REPS" --arg time "$VT_TIME" --arg decoy "${VT_DAITA_DECOY_FRAC:-default}" \
    --arg log "$VT_LOG_LEVEL" --arg runtime "$((SECONDS - VT_START))" --arg configs "$VT_CONFIGS" --arg tests "$VT_TESTS" '
    def fx(n): if . == null then "-" else
        ((. * pow(10; n)) | round) as $i | ($i | fabs | tostring) as $d |
        ([range(0; n + 1 - ($d | length))] | map("0") | join("")) as $pad | ($pad + $d) as $p |
        (if $i < 0 then "-" else "" end) + (if n == 0 then $p else $p[0:($p | length) - n] + "." + $p[($p | length) - n:] end)
      end;
    def med: map(select(. != null)) | sort |
      if length == 0 then null elif length % 2 == 1 then .[(length - 1) / 2] else (.[length / 2 - 1] + .[length / 2]) / 2 end;
    def ratio(a; b): if a == null or b == null or b == 0 then null else a / b end;
    def mb: if . == null then "-" else (. / 1e6 | fx(3)) end;
    ($configs | split(" ") | map(select(length > 0))) as $corder | ($tests | split(" ") | map(select(length > 0))) as $torder |
    ($rows | group_by([.config, .test]) | map({
        config: .[0].config, test: .[0].test, n: length, errors: (map(select(.error)) | length),
        dgram: .[0].datagram,
        gbps: (map(.gbps) | med), gmin: (map(.gbps) | min), gmax: (map(.gbps) | max),
        pps: (map(.pps) | med), lost: (map(.lost_percent) | med), retr: (map(.retransmits) | med),
        cli: (map(.client_cpu_s_per_gb) | med), srv: (map(.server_cpu_s_per_gb) | med),
        ent: (map(.entry_cpu_s_per_gb) | med), ext: (map(.exit_cpu_s_per_gb) | med),
        other: (map(.other_procs_cores) | med),
        rcvbuf: (map(.udp_rcvbuf_errors // {} | to_entries[]) | group_by(.key) | map({key: .[0].key, value: (map(.value) | add)}) | from_entries),
        drops: (map(.veiltun_drops // {} | to_entries[] | .key as $ifn | .value | to_entries[] | {key: "\($ifn) \(.key)", value}) |
                group_by(.key) | map({key: .[0].key, value: (map(.value) | add)}) | from_entries)
      }) | sort_by([(.test as $t | $torder | index($t)), (.config as $c | $corder | index($c))])) as $g |
    ($g | map({key: "\(.config)|\(.test)", value: .}) | from_entries) as $by |
    def row: "| \(.config) | \(.test)\(if .test == "udp" then " \(.dgram)" else "" end) | \(.gbps | fx(3))\(if .n > 1 then " [\(.gmin | fx(3))-\(.gmax | fx(3))]" else "" end)\(if .errors > 0 then " (\(.errors) failed)" else "" end) | " +
      "\(.pps | if . == null then "-" else (. / 1000 | fx(1)) end) | " +
      (if .lost != null then "\(.lost | fx(1))%" elif .retr != null then "\(.retr | fx(0)) retr" else "-" end) + " | ";
    "### VeilTun feature cost, \($date)",
    "",
    "| | |", "|---|---|",
    "| machine | \($nproc) CPUs, \($cpu), kernel \($kernel) |",
    "| veiltun | \($vt) (`\($vtbin)`) |",
    "| relays | \($go) |",
    "| iperf3 | \($iperf) |",
    "| settings | VT_REPS=\($reps), VT_TIME=\($time) s, DAITA machines M1+M4, max decoy frac \($decoy), LOG_LEVEL=\($log) |",
    "| runtime | \($runtime) s in total (setup, \($rows | length) runs, report) |",
    "",
    "Gbit/s and kpps at the receiver (iperf3; UDP: datagrams received per second, the datagram size after `udp`);",
    "lost % = UDP datagrams lost; retr = TCP retransmits. CPU s/GB = a daemon process'"'"'s utime+stime per GB received.",
    "others = CPU used meanwhile by processes that are neither the daemons nor this script'"'"'s iperf3 (other tenants",
    "or kernel threads such as ksoftirqd), in cores: above ~0.1 the row is contended. Medians of \($reps) run(s) of \($time) s" +
      (if ($reps | tonumber) > 1 then "; Gbit/s [min-max]." else "." end),
    "",
    (($g | map(select(.config == "plain" or .config == "daita"))) as $p | if ($p | length) > 0 then
      "#### DAITA: the same two veiltun daemons, DAITA off (plain) or on (daita) for each run, MTU 1420, A → B",
      "",
      "| config | test | Gbit/s | kpps | lost % / retr | client (A) CPU s/GB | server (B) CPU s/GB | others |",
      "|---|---|---|---|---|---|---|---|",
      ($p[] | row + "\(.cli | fx(2)) | \(.srv | fx(2)) | \(.other | fx(2)) |"),
      "",
      ([$torder[] as $t | $by["plain|\($t)"] as $a | $by["daita|\($t)"] as $b | select($a != null and $b != null) |
        "| \($t) | \(ratio($b.gbps; $a.gbps) | fx(3)) | \(ratio($b.cli; $a.cli) | fx(3)) | \(ratio($b.srv; $a.srv) | fx(3)) |"]) as $r |
      (if ($r | length) > 0 then
        "daita / plain (medians): throughput <1 is slower, CPU/GB >1 is dearer.", "",
        "| test | throughput | client CPU/GB | server CPU/GB |", "|---|---|---|---|", $r[], ""
       else empty end)
     else empty end),
    (($rows | map(select(.config == "daita" or .config == "plain"))) as $dr | if ($dr | length) > 0 then
      "DAITA counters per run, in run order (`veiltun stats`, deltas over the run, MB = 10^6 bytes). tx = all the daemon",
      "sent to its peer; padding = bytes added to real packets (DAITA pads every packet to the MTU, so full-size data",
      "packets get none); decoy = bytes of decoy packets. A is the iperf3 sender, B sends the TCP ACKs.",
      "",
      "| rep | config | test | DAITA on | A tx MB | A padding MB | A decoy MB | B tx MB | B padding MB | B decoy MB | A (padding+decoy)/tx |",
      "|---|---|---|---|---|---|---|---|---|---|---|",
      ($dr[] | "| \(.rep) | \(.config) | \(.test) | \(if .daita_active then "yes" else "no" end)\(if (.config == "daita") != .daita_active then " **unexpected**" else "" end) | " +
        "\(.daita.a_tx_bytes | mb) | \(.daita.a_tx_padding | mb) | \(.daita.a_tx_decoy | mb) | " +
        "\(.daita.b_tx_bytes | mb) | \(.daita.b_tx_padding | mb) | \(.daita.b_tx_decoy | mb) | " +
        "\(if .daita == null or .daita.a_tx_bytes == 0 then "-" else ((.daita.a_tx_padding + .daita.a_tx_decoy) / .daita.a_tx_bytes | fx(3)) end) |"),
      ""
     else empty end),
    (($g | map(select(.config == "singlehop" or .config == "multihop"))) as $p | if ($p | length) > 0 then
      "#### Multihop: client C → entry relay E → exit relay X → server S, same relays and server, inner MTU 1340",
      "",
      "singlehop = veiltun sh0 → wireguard-go at E, routed on to S; multihop = veiltun --via (two layers) → E → wireguard-go",
      "at X → S. Client CPU = the client'"'"'s veiltun process (one process for both hops in multihop); entry/exit = the",
      "relays'"'"' wireguard-go (X'"'"'s is not on the single-hop path: idle there).",
      "",
      "| config | test | Gbit/s | kpps | lost % / retr | client CPU s/GB | entry relay CPU s/GB | exit relay CPU s/GB | others |",
      "|---|---|---|---|---|---|---|---|---|",
      ($p[] | row + "\(.cli | fx(2)) | \(.ent | fx(2)) | \(.ext | fx(2)) | \(.other | fx(2)) |"),
      "",
      ([$torder[] as $t | $by["singlehop|\($t)"] as $a | $by["multihop|\($t)"] as $b | select($a != null and $b != null) |
        "| \($t) | \(ratio($b.gbps; $a.gbps) | fx(3)) | \(ratio($b.cli; $a.cli) | fx(3)) | \(ratio($b.ent; $a.ent) | fx(3)) |"]) as $r |
      (if ($r | length) > 0 then
        "multihop / singlehop (medians): throughput <1 is slower, CPU/GB >1 is dearer.", "",
        "| test | throughput | client CPU/GB | entry relay CPU/GB |", "|---|---|---|---|", $r[], ""
       else empty end)
     else empty end),
    "#### Drops and health",
    "",
    "Summed over all runs: UDP RcvbufErrors per namespace on the path (a: A, b: B; c: client, e: entry, x: exit, s: server;",
    "a socket overflowed there) and veiltun'"'"'s own drop counters (`veiltun stats`, per daemon:interface).",
    "",
    "| config | test | UDP RcvbufErrors | veiltun drops |",
    "|---|---|---|---|",
    ($g[] | "| \(.config) | \(.test) | \(.rcvbuf | if length == 0 then "0" else to_entries | map("\(.key)=\(.value)") | join(" ") end) | " +
      "\(.drops | if length == 0 then "-" else to_entries | map("\(.key)=\(.value)") | join(", ") end) |"),
    "",
    "| daemon | impl | alive | VmRSS | log lines | error-like lines |",
    "|---|---|---|---|---|---|",
    ($d[] | "| \(.daemon) | \(.impl) | \(if .alive then "yes" else "**no**" end) | \(.rss_kib / 1024 | fx(1)) MiB | \(.log_lines) | \(.error_lines) |"),
    "",
    "(daemons: a, b = the plain/daita pair; mh = client veiltun --via; sgl = client veiltun sh0; e, x = relays)",
    "",
    (($rows | map(select(.error))) as $e | if ($e | length) > 0 then
      "Failed runs:", "", ($e[] | "- rep \(.rep) \(.config) \(.test): \(.error)"), "" else empty end),
    ($d | map(select(.error_lines > 0)) as $l | if ($l | length) > 0 then
      "Daemon log lines that look like errors (first 5 per daemon):", "", "```",
      ($l[] | "\(.daemon) (\(.impl)): \(.error_lines) lines", (.first_error_lines[] | "  " + .)), "```", "" else empty end)
  '
}

# ---------------------------------------------------------------- main

main() {
  vt_bench_start                # $VT_TMP, and the EXIT trap that cleans up
  vt_clean_stale "$PREFIX"
  ROWS="$VT_TMP/runs.jsonl"; : > "$ROWS"

  if [ "$NEED_PAIR" = 1 ]; then
    say "setting up the plain/daita pair (veiltun A <-> veiltun B)"
    setup_pair || { VT_FAIL=1; vt_die "setup of the pair failed (its logs are kept: see below)"; }
  fi
  if [ "$NEED_MH" = 1 ]; then
    say "setting up the multihop topology (client, entry relay, exit relay, server)"
    setup_multihop || { VT_FAIL=1; vt_die "setup of the multihop topology failed (its logs are kept: see below)"; }
  fi

  local n=${#CONFIGS[@]}
  RUN_TOTAL=$(( VT_REPS * ${#TESTS[@]} * n ))
  say "$RUN_TOTAL iperf3 runs of ${VT_TIME}s: about $(( (RUN_TOTAL * (VT_TIME + 3) + 59) / 60 )) min"
  local rep test j rot=0
  for ((rep = 1; rep <= VT_REPS; rep++)); do
    for test in "${TESTS[@]}"; do
      for ((j = 0; j < n; j++)); do run_one "$rep" "${CONFIGS[(j + rot) % n]}" "$test"; done
      rot=$((rot + 1))           # every configuration takes every position in turn
    done
  done
  # leave the pair as it was set up: DAITA off
  if [[ " ${CONFIGS[*]} " == *" daita "* ]]; then daita_off || true; fi

  local daemons; daemons=$(daemons_json)
  jq -e 'all(.alive)' <<< "$daemons" >/dev/null || VT_FAIL=1
  echo
  report "$daemons"
  say "done"
  if [ "$VT_FAIL" != 0 ]; then say "some runs failed or a daemon died (see the report)"; return 1; fi
  return 0
}

main
