# Shared helpers for the namespace scripts in tests/interop/ (wg-quick.sh, flood.sh, badinput.sh).
# Sourced, never run: scripts/test.sh runs tests/interop/*.sh, so helpers live in lib/*.bash.
#
# What a script gets from vt_init NAME LIMIT:
#   - PASS/FAIL bookkeeping: vt_pass CHECK, vt_fail CHECK WHY, vt_check CHECK WHY CMD...; the EXIT trap prints
#     exactly one final line "N passed, N failed" and the script exits 0 iff nothing failed.
#   - $VT_TMP, a private temp dir; $VT_ID, a short unique id ($$) for namespace and interface names.
#   - Cleanup on every exit path (normal end, error, INT/TERM, watchdog): every process started in a namespace we
#     created (by pid, from `ip netns pids`), every process recorded with vt_track_pid, the namespaces, the
#     /var/run/wireguard/IF.sock files of the interfaces recorded with vt_track_if (and only those), the temp dir.
#   - A watchdog: after LIMIT seconds it records a FAIL, signals the script and ends what the script is waiting on.
# Only documentation address ranges are used by the scripts: 198.51.100.0/24, 192.0.2.0/24, 203.0.113.0/24,
# 2001:db8::/32. Interface names are at most 15 characters (IFNAMSIZ - 1): keep prefixes to 3-5 letters + $$.

VT_VEILTUN=${VEILTUN:-/usr/local/bin/veiltun}
VT_WGGO=${WIREGUARD_GO:-wireguard-go}
VT_RUNDIR=/var/run/wireguard
VT_PASS=0
VT_FAIL=0
VT_NAMESPACES=()
VT_IFACES=()
VT_PIDS=()
VT_WATCHDOG_PID=
VT_DONE=0
# shellcheck disable=SC2034 # used by the scripts that source this file
VT_ID=$$

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

# vt_wait SECONDS CMD...: runs CMD every 0.1 s until it succeeds (0) or SECONDS pass (1). Bounded by design.
vt_wait() {
    local limit=$1
    shift
    local deadline=$((SECONDS + limit))
    while true; do
        "$@" && return 0
        [ "$SECONDS" -ge "$deadline" ] && return 1
        sleep 0.1
    done
}

vt_require() {
    local missing=() t
    [ "$(id -u)" -eq 0 ] || { echo "FAIL $VT_NAME: must run as root"; echo "0 passed, 1 failed"; exit 1; }
    for t in "$@"; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "FAIL $VT_NAME: missing tools: ${missing[*]} (scripts/deps.sh installs them)"
        echo "0 passed, 1 failed"
        exit 1
    fi
}

# vt_init NAME LIMIT_SECONDS: bookkeeping, temp dir, traps and the watchdog. Call first.
vt_init() {
    VT_NAME=$1
    VT_START=$SECONDS
    local limit=$2
    vt_require ip python3 wg timeout "$VT_VEILTUN"
    VT_TMP=$(mktemp -d "/tmp/veiltun-$VT_NAME.XXXXXX")
    trap vt_on_exit EXIT
    trap 'vt_on_signal INT' INT
    trap 'vt_on_signal TERM' TERM
    mkdir -p "$VT_RUNDIR"
    # The watchdog: a FAIL line, then TERM to the script (the trap runs once the current foreground command
    # ends), then, 2 s later, TERM to the script's other children so a stuck foreground command does end.
    # The watchdog's sleep is its own process: its pid goes to a file so that cleanup can end it too.
    (
        trap - EXIT INT TERM
        sleep "$limit" &
        echo $! >"$VT_TMP/watchdog.sleep"
        wait $!
        echo "watchdog" >"$VT_TMP/watchdog"
        kill -TERM "$$" 2>/dev/null
        sleep 2
        local p
        for p in $(ps -o pid= --ppid "$$"); do
            [ "$p" = "$BASHPID" ] || kill -TERM "$p" 2>/dev/null
        done
    ) </dev/null >/dev/null 2>&1 &
    VT_WATCHDOG_PID=$!
    VT_WATCHDOG_LIMIT=$limit
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
    vt_cleanup >&2
    vt_log "$VT_NAME: $((SECONDS - VT_START))s"
    if [ "$VT_PASS" -eq 0 ] && [ "$VT_FAIL" -eq 0 ]; then
        # Ended before any check (a setup error with set -e, say): that is a failure, not a silent pass.
        vt_fail "$VT_NAME" "ended (exit $rc) before any check ran"
    fi
    printf '%d passed, %d failed\n' "$VT_PASS" "$VT_FAIL"
    [ "$VT_FAIL" -eq 0 ] && exit 0 || exit 1
}

# vt_kill_pids PID...: TERM, up to 3 s grace, then KILL. Only pids handed in (ours), never by name.
vt_kill_pids() {
    local p alive i
    [ "$#" -gt 0 ] || return 0
    for p in "$@"; do kill -TERM "$p" 2>/dev/null; done
    for i in $(seq 30); do
        alive=0
        for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ "$alive" -eq 0 ] && return 0
        sleep 0.1
    done
    for p in "$@"; do kill -KILL "$p" 2>/dev/null; done
}

vt_cleanup() {
    local ns i p pids
    if [ -n "$VT_WATCHDOG_PID" ]; then
        kill -TERM "$VT_WATCHDOG_PID" 2>/dev/null
        wait "$VT_WATCHDOG_PID" 2>/dev/null
        [ -s "$VT_TMP/watchdog.sleep" ] && kill -TERM "$(cat "$VT_TMP/watchdog.sleep")" 2>/dev/null
    fi
    [ "${#VT_PIDS[@]}" -gt 0 ] && vt_kill_pids "${VT_PIDS[@]}"
    for ns in "${VT_NAMESPACES[@]}"; do
        pids=$(ip netns pids "$ns" 2>/dev/null)
        # shellcheck disable=SC2086
        [ -n "$pids" ] && vt_kill_pids $pids
    done
    for ns in "${VT_NAMESPACES[@]}"; do ip netns del "$ns" 2>/dev/null; done
    for i in "${VT_IFACES[@]}"; do
        rm -f "$VT_RUNDIR/$i.sock" "$VT_RUNDIR/$i.name"
        # A TUN that somehow ended up in the root namespace (it should not): remove it too.
        ip link del "$i" 2>/dev/null
    done
    if [ "${VT_KEEP_TMP:-0}" = 1 ]; then
        vt_log "kept $VT_TMP (VT_KEEP_TMP=1)"
    elif [ -n "${VT_TMP:-}" ] && [ -d "$VT_TMP" ]; then
        rm -rf "$VT_TMP"
    fi
}

vt_track_pid() { VT_PIDS+=("$@"); }
vt_track_if() { VT_IFACES+=("$@"); }

# vt_ns NAME: a fresh namespace with lo up, removed at exit. Names should contain $VT_ID.
vt_ns() {
    ip netns add "$1" || return 1
    VT_NAMESPACES+=("$1")
    ip -n "$1" link set lo up
}

# vt_veth NS1 IF1 CIDR1 NS2 IF2 CIDR2: a veth pair between two namespaces, addressed and up.
vt_veth() {
    local ns1=$1 if1=$2 a1=$3 ns2=$4 if2=$5 a2=$6
    ip -n "$ns1" link add "$if1" type veth peer name "$if2" netns "$ns2" || return 1
    ip -n "$ns1" addr add "$a1" dev "$if1" || return 1
    ip -n "$ns2" addr add "$a2" dev "$if2" || return 1
    ip -n "$ns1" link set "$if1" up && ip -n "$ns2" link set "$if2" up
}

# vt_genkey NAME: writes $VT_TMP/NAME.key and NAME.pub (base64) and echoes nothing.
vt_genkey() {
    umask 077
    wg genkey >"$VT_TMP/$1.key" && wg pubkey <"$VT_TMP/$1.key" >"$VT_TMP/$1.pub"
}

# vt_b64hex B64KEY: the 64-hex-digit form the UAPI uses.
vt_b64hex() { printf '%s' "$1" | base64 -d | od -An -tx1 -v | tr -d ' \n'; }

# vt_pids_of NS EXE: pids in namespace NS whose executable resolves to EXE (a path).
vt_pids_of() {
    local ns=$1 exe p
    exe=$(readlink -f "$2")
    for p in $(ip netns pids "$ns" 2>/dev/null); do
        [ "$(readlink -f "/proc/$p/exe" 2>/dev/null)" = "$exe" ] && echo "$p"
    done
}
vt_veiltun_pids() { vt_pids_of "$1" "$VT_VEILTUN"; }

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

# vt_ping NS DEST [COUNT] [DEADLINE]: ping inside NS, one probe every 0.2 s; succeeds once COUNT replies have
# arrived, fails if DEADLINE seconds pass first (iputils ping with both -c and -w).
vt_ping() {
    local ns=$1 dest=$2 count=${3:-3} deadline=${4:-10}
    timeout $((deadline + 5)) ip netns exec "$ns" ping -n -q -c "$count" -i 0.2 -W 1 -w "$deadline" "$dest" >/dev/null 2>&1
}

# vt_latest_handshake NS IF PUBKEY: the peer's latest-handshake Unix time (0 if never), via wg(8).
vt_latest_handshake() {
    timeout 10 ip netns exec "$1" wg show "$2" latest-handshakes 2>/dev/null | awk -v k="$3" '$1 == k {print $2}'
}

# vt_show_logs IF...: dumps daemon logs to stderr (for a failing run).
vt_show_logs() {
    local i
    for i in "$@"; do
        [ -s "$VT_TMP/$i.log" ] || continue
        vt_log "---- $i.log (last 30 lines)"
        tail -n 30 "$VT_TMP/$i.log" | sed 's/^/#   /' >&2
    done
}
