# shellcheck shell=bash disable=SC2015,SC2016,SC2034
# scripts/lib/netns.bash — the one library of VeilTun's namespace scripts: tests/interop/*.sh and bench/*.sh.
# Sourced, never run (not a .sh file: scripts/test.sh runs every tests/interop/*.sh). Needs bash 5.
#
#   namespaces and veths    vt_ns, vt_ns_del, vt_veth, vt_clean_stale
#   keys                    vt_genkey, vt_b64hex
#   processes, by PID only  vt_track_pid, vt_kill_pids, vt_bg, vt_pids_of, vt_veiltun_pids
#   daemons                 vt_daemon_start (foreground, private /var/run/wireguard, PID known: tests and benches),
#                           vt_priv (a command beside such a daemon), vt_daemon_stop,
#                           vt_start_veiltun, vt_start_wggo (detaching, as wg-quick starts them)
#   waiting and pinging     vt_wait, vt_ping, vt_ping_n, vt_reach
#   UAPI and wg             vt_uapi, vt_get_config, vt_drops, vt_latest_handshake
#   checks                  vt_pass, vt_fail, vt_check; the summary line "N passed, N failed" at exit
#   set-up and clean-up     vt_init (a test: temp dir, watchdog, summary), vt_bench_init + vt_bench_start (a
#                           benchmark: temp dir); both trap EXIT, INT and TERM and clean up on every path;
#                           vt_require, vt_die
#   benchmarks              vt_ticks (CPU of a process)
#
# Clean-up ends only what this script started: the PIDs it recorded (and only while they are still its own
# children, so that a recycled PID is never hit), every process inside the namespaces it created, those
# namespaces, the /var/run/wireguard sockets of the interfaces it recorded. Never by name (no pkill, no killall).
#
# Commands: VT_VEILTUN (the benchmarks' variable, may carry arguments) or else VEILTUN (the tests') or else
# `veiltun`, found on PATH (PATH=/opt/x:$PATH picks /opt/x/veiltun) and then the absolute path; WIREGUARD_GO
# (default wireguard-go) for the tests' wireguard-go.
# Only documentation address ranges are used by the scripts: 198.51.100.0/24, 192.0.2.0/24, 203.0.113.0/24,
# 2001:db8::/32. Interface names are at most 15 characters (IFNAMSIZ - 1): keep prefixes to 3-5 letters + $$.

VT_VEILTUN=${VT_VEILTUN:-${VEILTUN:-veiltun}}
if _vt_p=$(command -v -- "$VT_VEILTUN" 2>/dev/null) && [[ $_vt_p == /* ]]; then VT_VEILTUN=$_vt_p; fi
unset _vt_p
VT_WGGO=${WIREGUARD_GO:-wireguard-go}
VT_RUNDIR=/var/run/wireguard
: "${VT_START_TIMEOUT:=15}"     # seconds for a daemon's UAPI socket(s) and interface(s) to appear
: "${VT_STOP_TIMEOUT:=5}"       # seconds between SIGTERM and SIGKILL
: "${VT_CMD_TIMEOUT:=10}"       # bound on every wg / veiltun call made through vt_priv
: "${VT_KEEP_TMP:=0}"           # 1: keep the temp dir
VT_SAY=vt_log                   # how the library reports progress (a benchmark sets its own)
VT_PASS=0
VT_FAIL=0
VT_NAMESPACES=()
VT_IFACES=()
VT_PIDS=()
VT_TMP=
VT_ERR=                         # why the last vt_* call failed
VT_NAME=${VT_NAME:-${0##*/}}
VT_MODE=                        # test | bench, set by vt_init / vt_bench_init
VT_WATCHDOG_PID=
VT_TRAPPED=0                    # 1 once vt_init's EXIT trap prints the summary
VT_DONE=0
VT_ID=$$

# ---------------------------------------------------------------- output and checks

# Prints to stderr: diagnostics never mix with the PASS/FAIL lines a reader greps for on stdout.
vt_log() { printf '# [%ss] %s\n' "$((SECONDS - ${VT_START:-0}))" "$*" >&2; }

vt_pass() {
    VT_PASS=$((VT_PASS + 1))
    printf 'PASS %s\n' "$1"
}

# vt_fail CHECK WHY: WHY is flattened to one line so each failure stays one grep-able line.
vt_fail() {
    VT_FAIL=$((VT_FAIL + 1))
    local why=${2:-no reason given}
    why=${why//$'\n'/ | }
    printf 'FAIL %s: %s\n' "$1" "$why"
}

# vt_check CHECK WHY CMD...: PASS if CMD exits 0, else FAIL with WHY (and CMD's exit status).
vt_check() {
    local name=$1 why=$2
    shift 2
    "$@"
    local rc=$?
    if [ "$rc" -eq 0 ]; then vt_pass "$name"; else vt_fail "$name" "$why (exit $rc)"; fi
    return "$rc"
}

# vt_wait SECONDS CMD...: runs CMD every 0.1 s until it succeeds (0) or SECONDS (may be a fraction) pass (1).
vt_wait() {
    local us deadline
    printf -v us '%.0f' "${1}e6"
    shift
    deadline=$((${EPOCHREALTIME/./} + us))
    while true; do
        "$@" && return 0
        [ "${EPOCHREALTIME/./}" -ge "$deadline" ] && return 1
        sleep 0.1
    done
}

# vt_require TOOL...: root, and every TOOL on PATH. In a test a missing one is a FAIL and the summary line; in a
# benchmark an error on stderr. Either way the script ends.
vt_require() {
    local missing=() t
    if [ "$(id -u)" -ne 0 ]; then vt_die "must run as root (namespaces, TUN)"; fi
    for t in "$@"; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
    [ "${#missing[@]}" -eq 0 ] || vt_die "missing tools: ${missing[*]} (scripts/deps.sh installs them)"
}

# vt_die WHY: ends the script: a test with "FAIL NAME: WHY" and the summary, a benchmark with an error line.
vt_die() {
    if [ "$VT_MODE" = bench ]; then
        echo "$VT_NAME: error: $*" >&2
    else
        vt_fail "$VT_NAME" "$*"
        [ "$VT_TRAPPED" = 1 ] || echo "$VT_PASS passed, $VT_FAIL failed"   # no EXIT trap yet to print it
    fi
    exit 1
}

# ---------------------------------------------------------------- processes (by PID only)

vt_track_pid() { VT_PIDS+=("$@"); }
vt_track_if() { VT_IFACES+=("$@"); }

# vt_is_child PID: PID is still a child of this script (not a recycled PID of someone else's process)
vt_is_child() {
    local line rest
    { read -r line <"/proc/$1/stat"; } 2>/dev/null || return 1
    rest=${line##*) }
    read -r _ rest _ <<<"$rest"          # state, ppid
    [ "$rest" = $$ ]
}

# vt_kill_pids PID...: SIGTERM, up to VT_STOP_TIMEOUT s grace, then SIGKILL; reaps our children and forgets the
# PIDs. Only PIDs handed in (ours, or found in our own namespaces), never by name.
vt_kill_pids() {
    local p i alive
    local -a left=()
    [ "$#" -gt 0 ] || return 0
    for p in "$@"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null; done
    for ((i = 0; i < VT_STOP_TIMEOUT * 10; i++)); do
        alive=0
        for p in "$@"; do [ -n "$p" ] && kill -0 "$p" 2>/dev/null && { alive=1; break; }; done
        [ "$alive" -eq 0 ] && break
        sleep 0.1
    done
    for p in "$@"; do
        [ -n "$p" ] || continue
        kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null          # reaps it if it is our child; returns at once otherwise
    done
    for p in "${VT_PIDS[@]}"; do [[ " $* " == *" $p "* ]] || left+=("$p"); done
    VT_PIDS=("${left[@]}")
    return 0
}

# vt_bg NS CMD...: CMD in the background in namespace NS (stdin from /dev/null), tracked; its PID in VT_LAST.
vt_bg() {
    local ns=$1
    shift
    ip netns exec "$ns" "$@" </dev/null &
    VT_LAST=$!
    VT_PIDS+=("$VT_LAST")
}

# vt_pids_of NS EXE [LASTARG]: PIDs in namespace NS whose executable resolves to EXE (a path or a command on
# PATH), and, if given, whose command line ends with LASTARG (an interface name, say).
vt_pids_of() {
    local ns=$1 exe p last
    exe=$(readlink -f "$(command -v -- "$2" || echo "$2")")
    for p in $(ip netns pids "$ns" 2>/dev/null); do
        [ "$(readlink -f "/proc/$p/exe" 2>/dev/null)" = "$exe" ] || continue
        if [ "$#" -ge 3 ]; then
            last=$(tr '\0' '\n' <"/proc/$p/cmdline" 2>/dev/null | tail -n 1)
            [ "$last" = "$3" ] || continue
        fi
        echo "$p"
    done
}
vt_veiltun_pids() { vt_pids_of "$1" "$VT_VEILTUN" "${@:2}"; }

# vt_ticks PID -> REPLY = utime + stime of the process (all its threads), in clock ticks; 0 if it is gone
vt_ticks() {
    local line rest
    local -a f
    REPLY=0
    { read -r line <"/proc/$1/stat"; } 2>/dev/null || return 0
    rest=${line##*) }                # the command name may contain spaces and parentheses
    read -r -a f <<<"$rest"          # f[0] is field 3 (state): utime = field 14 = f[11], stime = f[12]
    REPLY=$((f[11] + f[12]))
}

# ---------------------------------------------------------------- namespaces, veths, keys

# vt_ns NAME: a fresh namespace with lo up, removed at exit. Names should contain $$ (see vt_clean_stale).
vt_ns() {
    ip netns add "$1" || { VT_ERR="ip netns add $1 failed"; return 1; }
    VT_NAMESPACES+=("$1")
    ip -n "$1" link set lo up
}

# vt_ns_del NAME...: ends every process inside (by PID), deletes the namespaces, forgets them.
vt_ns_del() {
    local ns pids
    local -a left=()
    for ns in "$@"; do
        [ -n "$ns" ] || continue
        pids=$(ip netns pids "$ns" 2>/dev/null)
        # shellcheck disable=SC2086
        [ -n "$pids" ] && vt_kill_pids $pids
    done
    for ns in "$@"; do [ -n "$ns" ] && ip netns del "$ns" 2>/dev/null; done
    for ns in "${VT_NAMESPACES[@]}"; do [[ " $* " == *" $ns "* ]] || left+=("$ns"); done
    VT_NAMESPACES=("${left[@]}")
    return 0
}

# vt_veth NS1 IF1 CIDR1 NS2 IF2 CIDR2: a veth pair between two namespaces, addressed and up. A CIDR may be empty.
vt_veth() {
    local ns1=$1 if1=$2 a1=$3 ns2=$4 if2=$5 a2=$6
    ip -n "$ns1" link add "$if1" type veth peer name "$if2" netns "$ns2" || { VT_ERR="veth $if1/$if2 failed"; return 1; }
    { [ -z "$a1" ] || ip -n "$ns1" addr add "$a1" dev "$if1"; } &&
        { [ -z "$a2" ] || ip -n "$ns2" addr add "$a2" dev "$if2"; } &&
        ip -n "$ns1" link set "$if1" up && ip -n "$ns2" link set "$if2" up || { VT_ERR="veth $if1/$if2 setup failed"; return 1; }
}

# vt_clean_stale PREFIX: remove namespaces PREFIX<pid>-* whose owner PID is gone (an earlier run that was killed),
# with whatever still runs inside them. Namespaces of a live run (another user's, say) are left alone.
vt_clean_stale() {
    local prefix=$1 ns owner
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
        [[ $ns == "$prefix"* ]] || continue
        owner=${ns#"$prefix"}; owner=${owner%%-*}
        [[ $owner =~ ^[0-9]+$ ]] || continue
        [ "$owner" != $$ ] && kill -0 "$owner" 2>/dev/null && continue
        "$VT_SAY" "removing stale namespace $ns"
        VT_NAMESPACES+=("$ns")
        vt_ns_del "$ns"
    done
    return 0
}

# vt_genkey NAME [DIR]: writes DIR/NAME.key (private, mode 600) and DIR/NAME.pub (base64); DIR is $VT_TMP unless
# given. Echoes nothing; VT_PUB is the public key.
vt_genkey() {
    local d=${2:-$VT_TMP}
    ( umask 077; wg genkey >"$d/$1.key" ) && VT_PUB=$(wg pubkey <"$d/$1.key") && echo "$VT_PUB" >"$d/$1.pub" ||
        { VT_ERR="key generation failed"; return 1; }
}

# vt_b64hex B64KEY: the 64-hex-digit form the UAPI uses.
vt_b64hex() { printf '%s' "$1" | base64 -d | od -An -tx1 -v | tr -d ' \n'; }

# ---------------------------------------------------------------- daemons

# vt_priv NS RUNDIR CMD...: CMD in NS with RUNDIR bind-mounted on /var/run/wireguard (in the private mount
# namespace `ip netns exec` creates anyway), bounded by VT_CMD_TIMEOUT: wg or `veiltun stats` beside a daemon
# started by vt_daemon_start. A wedged UAPI must not hang the run.
vt_priv() {
    local ns=$1 run=$2
    shift 2
    timeout "$VT_CMD_TIMEOUT" ip netns exec "$ns" sh -c 'mount --bind "$0" /var/run/wireguard && exec "$@"' "$run" "$@"
}

# vt_daemon_start NS RUNDIR LOG "SOCKETS" "TUNS" ARGV...: starts ARGV (a daemon with wireguard-go's command line,
# run with -f / WG_PROCESS_FOREGROUND=1, any prefix such as taskset included) in NS with RUNDIR as its private
# /var/run/wireguard: each daemon gets its own sockets, and nothing appears in the host's directory. Waits
# (VT_START_TIMEOUT) until every SOCKET (RUNDIR/SOCKET.sock) and every TUN interface exists. ip netns exec, sh and
# taskset all exec, so VT_DAEMON_PID is the daemon itself (its /proc/PID/stat is the daemon's CPU), tracked;
# VT_DAEMON_EXE is its executable. On failure VT_ERR says why (the log's tail is the caller's to show).
vt_daemon_start() {
    local ns=$1 run=$2 log=$3 socks=$4 tuns=$5 pid i ok s rc
    shift 5
    mkdir -p "$run" /var/run/wireguard      # the host's directory is only the mount point
    # 0755 as wireguard-go makes /var/run/wireguard (not the test's umask 077): the daemon, unprivileged once it
    # has dropped root, watches its socket file there.
    chmod 755 "$run"
    for s in $socks; do rm -f "$run/$s.sock"; done
    WG_PROCESS_FOREGROUND=1 ip netns exec "$ns" sh -c 'mount --bind "$0" /var/run/wireguard && exec "$@"' "$run" "$@" \
        </dev/null >>"$log" 2>&1 &
    pid=$!
    VT_DAEMON_PID=$pid VT_DAEMON_EXE=
    VT_PIDS+=("$pid")
    for ((i = 0; i < VT_START_TIMEOUT * 10; i++)); do
        ok=1
        for s in $socks; do [ -S "$run/$s.sock" ] || { ok=0; break; }; done
        [ "$ok" = 1 ] && for s in $tuns; do ip -n "$ns" link show "$s" >/dev/null 2>&1 || { ok=0; break; }; done
        if [ "$ok" = 1 ]; then
            VT_DAEMON_EXE=$(readlink "/proc/$pid/exe" 2>/dev/null)
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid"; rc=$?
            vt_kill_pids "$pid"
            VT_ERR="exited with $rc at start"
            return 1
        fi
        sleep 0.1
    done
    VT_ERR="no UAPI socket/interface after ${VT_START_TIMEOUT}s"
    return 1
}

# vt_daemon_stop PID [NS IF]: stops a daemon started by vt_daemon_start and waits (5 s) for its TUN to go.
vt_daemon_stop() {
    local i
    [ -n "$1" ] || return 0
    vt_kill_pids "$1"
    [ "$#" -ge 3 ] || return 0
    for ((i = 0; i < 50; i++)); do
        ip -n "$2" link show "$3" >/dev/null 2>&1 || break
        sleep 0.1
    done
    return 0
}

# vt_start_veiltun NS IF: starts the veiltun daemon in NS the way wg-quick does (it exits 0 once listening).
vt_start_veiltun() {
    local ns=$1 ifname=$2
    vt_track_if "$ifname"
    LOG_LEVEL=${VT_LOG_LEVEL:-verbose} timeout 30 ip netns exec "$ns" "$VT_VEILTUN" "$ifname" >>"$VT_TMP/$ifname.log" 2>&1
}

# vt_start_wggo NS IF: starts wireguard-go in NS (daemonises once listening).
vt_start_wggo() {
    local ns=$1 ifname=$2
    vt_track_if "$ifname"
    LOG_LEVEL=${VT_LOG_LEVEL:-verbose} timeout 30 ip netns exec "$ns" "$VT_WGGO" "$ifname" >>"$VT_TMP/$ifname.log" 2>&1 || return 1
    # Debian's 0.0.20220316 returns once the UAPI socket exists; wait for it anyway (bounded).
    vt_wait 5 test -S "$VT_RUNDIR/$ifname.sock"
}

# vt_show_logs IF...: dumps daemon logs ($VT_TMP/IF.log) to stderr (for a failing run).
vt_show_logs() {
    local i
    for i in "$@"; do
        [ -s "$VT_TMP/$i.log" ] || continue
        vt_log "---- $i.log (last 30 lines)"
        tail -n 30 "$VT_TMP/$i.log" | sed 's/^/#   /' >&2
    done
}

# ---------------------------------------------------------------- pings

# vt_ping NS DEST [COUNT] [DEADLINE]: ping inside NS, one probe every 0.2 s; succeeds once COUNT replies have
# arrived, fails if DEADLINE seconds pass first (iputils ping with both -c and -w).
vt_ping() {
    local ns=$1 dest=$2 count=${3:-3} deadline=${4:-10}
    timeout $((deadline + 5)) ip netns exec "$ns" ping -n -q -c "$count" -i 0.2 -W 1 -w "$deadline" "$dest" >/dev/null 2>&1
}

# vt_ping_n NS DEST COUNT [ping args]: exactly COUNT probes, 0.2 s apart; 0 iff every one was answered.
# PING_RX = replies, PING_OUT = ping's output.
vt_ping_n() {
    local ns=$1 d=$2 c=$3
    shift 3
    PING_OUT=$(timeout $((c + 8)) ip netns exec "$ns" ping -n -q -c "$c" -i 0.2 -W 1 "$@" "$d" 2>&1)
    PING_RX=$(sed -n 's/.*, \([0-9][0-9]*\) received.*/\1/p' <<<"$PING_OUT")
    PING_RX=${PING_RX:-0}
    [ "$PING_RX" = "$c" ]
}

# vt_reach NS DEST SECONDS [ping args]: one ping at a time until one is answered, at most SECONDS seconds
vt_reach() {
    local ns=$1 d=$2 end=$((SECONDS + $3))
    shift 3
    while ((SECONDS < end)); do
        timeout 3 ip netns exec "$ns" ping -n -q -c 1 -W 1 "$@" "$d" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}

# ---------------------------------------------------------------- UAPI and wg

# vt_uapi IF: sends stdin verbatim to /var/run/wireguard/IF.sock, half-closes (the daemon sees end of input after
# the request, as when wg(8) is done), and prints everything the daemon answers until it closes the connection
# (then a last line "<closed>") or 10 s pass (then "<timeout>").
vt_uapi() {
    python3 -c "$VT_PY_UAPI" "$VT_RUNDIR/$1.sock"
}
VT_PY_UAPI=$(cat <<'PY'
import socket, sys, time
data = sys.stdin.buffer.read()
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
try:
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
except OSError:   # the daemon may close on garbage before reading it all
    pass
out, end, deadline = b"", "<timeout>", time.monotonic() + 10
while time.monotonic() < deadline:
    s.settimeout(max(0.05, deadline - time.monotonic()))
    try:
        chunk = s.recv(65536)
    except socket.timeout:
        break
    except OSError:
        end = "<closed>"
        break
    if not chunk:
        end = "<closed>"
        break
    out += chunk
sys.stdout.write(out.decode("utf-8", "replace"))
sys.stdout.write(("" if out.endswith(b"\n") or not out else "\n") + end + "\n")
PY
)

# vt_get_config IF: the configuration part of a UAPI get (keys, port, peers, endpoints, allowed IPs, keepalive),
# without counters and handshake times, in the daemon's order; for "did anything change" comparisons.
vt_get_config() {
    printf 'get=1\n\n' | vt_uapi "$1" |
        grep -Ev '^(last_handshake_time_(n?sec)|tx_bytes|rx_bytes|veiltun_[a-z_0-9]+|errno)=|^$|^<(closed|timeout)>$'
}

# vt_drops IF: every veiltun_drop_REASON counter of a UAPI get, as "reason count" lines.
vt_drops() {
    printf 'get=1\n\n' | vt_uapi "$1" | sed -n 's/^veiltun_drop_\([a-z_0-9]*\)=\([0-9]*\)$/\1 \2/p'
}

# vt_latest_handshake NS IF PUBKEY: the peer's latest-handshake Unix time (0 if never), via wg(8).
vt_latest_handshake() {
    timeout 10 ip netns exec "$1" wg show "$2" latest-handshakes 2>/dev/null | awk -v k="$3" '$1 == k {print $2}'
}

# ---------------------------------------------------------------- set-up and clean-up

# _vt_tmp NAME: VT_TMP=/tmp/veiltun-NAME-<pid>.XXXXXX; first removes such dirs of earlier runs whose PID is gone.
_vt_tmp() {
    local d owner
    for d in "/tmp/veiltun-$1-"*.*; do
        [ -d "$d" ] || continue
        owner=${d#"/tmp/veiltun-$1-"}; owner=${owner%%.*}
        [[ $owner =~ ^[0-9]+$ ]] && ! kill -0 "$owner" 2>/dev/null && rm -rf "$d"
    done
    VT_TMP=$(mktemp -d "/tmp/veiltun-$1-$$.XXXXXX") || { VT_TMP=; vt_die "mktemp failed"; }
}

# vt_init NAME LIMIT_SECONDS: a test. Bookkeeping, umask 077, temp dir $VT_TMP, traps and the watchdog. Call first.
# The EXIT trap cleans up and prints exactly one final line "N passed, N failed"; the script exits 0 iff nothing
# failed. The watchdog: after LIMIT seconds a FAIL, TERM to the script (the trap runs once the current foreground
# command ends) and, 2 s later, TERM to the script's other children so that a stuck foreground command does end.
vt_init() {
    VT_NAME=$1 VT_MODE=test VT_START=$SECONDS
    local limit=$2
    umask 077
    vt_require ip python3 wg timeout "$VT_VEILTUN"
    _vt_tmp "$VT_NAME"
    trap vt_on_exit EXIT
    VT_TRAPPED=1
    trap 'vt_on_signal INT' INT
    trap 'vt_on_signal TERM' TERM
    mkdir -p "$VT_RUNDIR"
    _vt_watchdog "$limit"
}

# _vt_watchdog LIMIT: polls once a second (so it ends by itself if the script dies), never holds our stdout (a
# pipe reader such as tee in scripts/test.sh waits for every writer).
_vt_watchdog() {
    local main=$$
    VT_WATCHDOG_LIMIT=$1
    (
        trap - EXIT INT TERM
        end=$((SECONDS + VT_WATCHDOG_LIMIT))
        while kill -0 "$main" 2>/dev/null; do
            if ((SECONDS >= end)); then
                echo watchdog >"$VT_TMP/watchdog"
                kill -TERM "$main" 2>/dev/null
                sleep 2
                for p in $(ps -o pid= --ppid "$main"); do
                    [ "$p" = "$BASHPID" ] || kill -TERM "$p" 2>/dev/null
                done
                exit 0
            fi
            sleep 1
        done
    ) </dev/null >/dev/null 2>&1 &
    VT_WATCHDOG_PID=$!
}

vt_on_signal() {
    trap - INT TERM
    if [ -e "$VT_TMP/watchdog" ]; then
        vt_fail "$VT_NAME-watchdog" "still running after ${VT_WATCHDOG_LIMIT}s; stopped"
    else
        vt_fail "$VT_NAME-interrupted" "got SIG$1"
    fi
    exit 1
}

vt_on_exit() {
    local rc=$?
    [ "$VT_DONE" -eq 1 ] && return
    VT_DONE=1
    trap - INT TERM
    set +e
    vt_cleanup >&2
    vt_log "$VT_NAME: $((SECONDS - VT_START))s"
    if [ "$VT_PASS" -eq 0 ] && [ "$VT_FAIL" -eq 0 ]; then
        # Ended before any check (a setup error, say): that is a failure, not a silent pass.
        vt_fail "$VT_NAME" "ended (exit $rc) before any check ran"
    fi
    printf '%d passed, %d failed\n' "$VT_PASS" "$VT_FAIL"
    [ "$VT_FAIL" -eq 0 ] && exit 0 || exit 1
}

# vt_bench_init NAME: a benchmark; from here vt_die and vt_require end it with "NAME: error: WHY" on stderr.
# Progress goes through VT_SAY (set it to the script's own).
vt_bench_init() { VT_NAME=$1 VT_MODE=bench VT_START=$SECONDS; }

# vt_bench_start: temp dir $VT_TMP and traps. The EXIT trap cleans up, keeps the temp dir when VT_KEEP_TMP=1,
# the exit status is not 0 or VT_FAIL is not 0, prints the runtime, and exits with the script's status.
vt_bench_start() {
    _vt_tmp "$VT_NAME"
    trap vt_bench_exit EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    mkdir -p "$VT_RUNDIR"
}

vt_bench_exit() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    vt_cleanup
    echo "$VT_NAME: total runtime $((SECONDS - VT_START)) s" >&2
    exit "$rc"
}

# vt_cleanup: the watchdog, our recorded PIDs that are still our children, everything in our namespaces, the
# namespaces, the sockets of our recorded interfaces, the temp dir (kept, under a name no later run removes, with
# VT_KEEP_TMP=1, and by a benchmark when it failed).
vt_cleanup() {
    local i p keep=0
    local -a mine=()
    if [ -n "$VT_WATCHDOG_PID" ]; then
        kill -TERM "$VT_WATCHDOG_PID" 2>/dev/null
        wait "$VT_WATCHDOG_PID" 2>/dev/null
        VT_WATCHDOG_PID=
    fi
    for p in "${VT_PIDS[@]}"; do vt_is_child "$p" && mine+=("$p"); done
    vt_kill_pids "${mine[@]}"
    VT_PIDS=()
    vt_ns_del "${VT_NAMESPACES[@]}"
    for i in "${VT_IFACES[@]}"; do
        rm -f "$VT_RUNDIR/$i.sock" "$VT_RUNDIR/$i.name"
        # A TUN that somehow ended up in the root namespace (it should not): remove it too.
        ip link del "$i" 2>/dev/null
    done
    [ -n "$VT_TMP" ] && [ -d "$VT_TMP" ] || return 0
    [ "$VT_KEEP_TMP" = 1 ] && keep=1
    [ "$VT_MODE" = bench ] && [[ ${rc:-0} != 0 || $VT_FAIL != 0 ]] && keep=1   # rc: vt_bench_exit's
    if [ "$keep" = 1 ]; then
        local kept=${VT_TMP/-$$./-kept.}
        mv "$VT_TMP" "$kept" 2>/dev/null || kept=$VT_TMP
        "$VT_SAY" "$VT_NAME: logs kept in $kept"
    else
        rm -rf "$VT_TMP"
    fi
}
