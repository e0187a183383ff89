#!/usr/bin/env bash
# Daemon lifecycle, as a wireguard-go user relies on it: CLI, detaching, the UAPI socket, signals, interface and
# socket removal, a second instance, a stale socket, link down/up and MTU changes. Needs root.
#
#   netns vtd-$$ : veiltun vtd$$a (and short-lived others); nothing leaves the namespace.
set -uo pipefail
VEILTUN=${VEILTUN:-veiltun}
NS=vtd-$$
IF=vtd$$a
SOCK=/var/run/wireguard/$IF.sock
pass=0 fail=0
ok() { echo "PASS $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1: $2"; fail=$((fail + 1)); }
check() { local name=$1; shift; if "$@" >/dev/null 2>&1; then ok "$name"; else bad "$name" "'$*' failed"; fi; }
tmp=$(mktemp -d /tmp/vtd.XXXXXX)
cleanup() {
    pkill -f "veiltun.* $IF\$" 2>/dev/null
    pkill -f "veiltun.* ${IF}b\$" 2>/dev/null
    ip netns del $NS 2>/dev/null
    rm -f "$SOCK" "/var/run/wireguard/${IF}b.sock" "/var/run/wireguard/${IF}c.sock"
    rm -rf "$tmp"
}
trap cleanup EXIT
# The sleep must not hold our stdout: a pipe reader (tee in scripts/test.sh) waits for every writer to exit.
( sleep 240 >/dev/null 2>&1; echo "FAIL watchdog: daemon.sh took over 240 s"; kill -TERM $$ ) 2>/dev/null &
watchdog=$!
ip netns add $NS
ip -n $NS link set lo up
inns() { ip netns exec $NS "$@"; }
daemon_pid() { pgrep -f "veiltun.* $1\$" | head -1; }
wait_for() { local i; for i in $(seq 1 "${2:-50}"); do eval "$1" && return 0; sleep 0.1; done; return 1; }

# CLI
$VEILTUN --version | grep -q '^veiltun v' && ok cli-version || bad cli-version "no version line"
$VEILTUN --help | grep -q 'Usage: veiltun \[-f/--foreground\] INTERFACE-NAME' && ok cli-usage || bad cli-usage "no usage"

# Detaching: the parent exits 0 only once the socket listens.
if inns $VEILTUN $IF && [ -S "$SOCK" ] && inns wg show $IF >/dev/null; then ok detach-exits-when-listening
else bad detach-exits-when-listening "socket not ready when the parent returned"; fi
mode=$(stat -c %a "$SOCK" 2>/dev/null)
[ "$mode" = 600 ] && ok socket-owner-only || bad socket-owner-only "mode $mode"
inns ip link show $IF | grep -q 'mtu 1420' && ok tun-created-mtu-1420 || bad tun-created-mtu-1420 "$(inns ip link show $IF)"

# A second instance on the same interface is refused (exit 1) and the first keeps running.
inns $VEILTUN $IF 2>"$tmp/second.err"; rc=$?
[ $rc = 1 ] && [ -n "$(daemon_pid $IF)" ] && inns wg show $IF >/dev/null && ok second-instance-refused \
    || bad second-instance-refused "rc=$rc $(cat "$tmp/second.err")"

# Setup failure: a name too long for an interface → exit 1, nothing left behind.
inns $VEILTUN vtd-this-name-is-far-too-long 2>/dev/null; rc=$?
[ $rc = 1 ] && ok setup-failure-exits-1 || bad setup-failure-exits-1 "rc=$rc"

# Configuration survives link down/up; the MTU can change at run time.
key=$(wg genkey); peer=$(wg genkey | wg pubkey)
echo "$key" >"$tmp/key"
inns wg set $IF private-key "$tmp/key" listen-port 0 peer "$peer" allowed-ips 192.0.2.2/32
inns ip link set $IF up
inns ip link set $IF down
inns ip link set $IF up
inns wg show $IF peers | grep -q "$peer" && ok config-survives-down-up || bad config-survives-down-up "peer lost"
port=$(inns wg show $IF listen-port)
[ "${port:-0}" -gt 0 ] && ok listen-port-0-picks-a-port || bad listen-port-0-picks-a-port "port=$port"
inns ip link set $IF mtu 1280 && inns ip link show $IF | grep -q 'mtu 1280' && [ -n "$(daemon_pid $IF)" ] \
    && ok mtu-change-at-run-time || bad mtu-change-at-run-time "daemon gone or mtu not set"

# SIGTERM: clean shutdown, socket and interface removed.
kill -TERM "$(daemon_pid $IF)"
if wait_for "[ ! -S $SOCK ] && ! inns ip link show $IF >/dev/null 2>&1"; then ok sigterm-cleans-up
else bad sigterm-cleans-up "socket or interface left"; fi

# Deleting the interface stops the daemon.
inns $VEILTUN $IF
inns ip link del $IF
wait_for "[ -z \"\$(daemon_pid $IF)\" ] && [ ! -S $SOCK ]" && ok interface-deletion-stops-daemon \
    || bad interface-deletion-stops-daemon "still running"

# Deleting the socket file stops the daemon (wireguard-go watches it).
inns $VEILTUN $IF
rm -f "$SOCK"
wait_for "[ -z \"\$(daemon_pid $IF)\" ]" 40 && ok socket-deletion-stops-daemon || bad socket-deletion-stops-daemon "still running"
wait_for "! inns ip link show $IF >/dev/null 2>&1" && ok socket-deletion-removes-interface || bad socket-deletion-removes-interface "interface left"

# A stale socket from a killed daemon is replaced.
inns $VEILTUN $IF
kill -KILL "$(daemon_pid $IF)"
wait_for "! inns ip link show $IF >/dev/null 2>&1"
[ -S "$SOCK" ] || bad stale-socket-replaced "kill -9 left no socket to test with"
inns $VEILTUN $IF && inns wg show $IF >/dev/null && ok stale-socket-replaced || bad stale-socket-replaced "did not start"
kill -TERM "$(daemon_pid $IF)" 2>/dev/null; wait_for "[ ! -S $SOCK ]"

# Foreground (-f) with LOG_LEVEL=verbose logs to stderr and SIGINT stops it.
inns env LOG_LEVEL=verbose $VEILTUN -f ${IF}b 2>"$tmp/fg.log" &
wait_for "[ -S /var/run/wireguard/${IF}b.sock ]"
kill -INT "$(daemon_pid ${IF}b)" 2>/dev/null
wait_for "[ ! -S /var/run/wireguard/${IF}b.sock ]" && grep -q 'DEBUG: (' "$tmp/fg.log" && ok foreground-verbose-sigint \
    || bad foreground-verbose-sigint "$(head -c 300 "$tmp/fg.log")"

# Inherited descriptors (WG_TUN_FD, WG_UAPI_FD), as wireguard-go's own re-exec and Android-style hosts hand them
# over: the TUN and the listening UAPI socket are created here, veiltun only adopts them.
cat >"$tmp/fds.py" <<'PY'
import fcntl, os, socket, struct, subprocess, sys, time
name, veiltun = sys.argv[1], sys.argv[2]
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, 0x400454ca, struct.pack("16sH", name.encode(), 0x0001 | 0x1000))  # TUNSETIFF, IFF_TUN|IFF_NO_PI
path = "/var/run/wireguard/%s.sock" % name
os.makedirs("/var/run/wireguard", exist_ok=True)
if os.path.exists(path): os.unlink(path)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.bind(path); s.listen(16)
env = dict(os.environ, WG_TUN_FD=str(fd), WG_UAPI_FD=str(s.fileno()), WG_PROCESS_FOREGROUND="1")
p = subprocess.Popen([veiltun, "-f", name], env=env, pass_fds=(fd, s.fileno()),
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
os.close(fd); s.close()
ok = False
for _ in range(50):
    r = subprocess.run(["wg", "show", name, "listen-port"], capture_output=True, text=True)
    if r.returncode == 0: ok = True; break
    time.sleep(0.1)
alive = p.poll() is None
p.terminate()
try: p.wait(5)
except subprocess.TimeoutExpired: p.kill()
print("ok" if ok and alive else "fail")
PY
if [ "$(inns python3 "$tmp/fds.py" ${IF}c "$(command -v $VEILTUN)" 2>&1)" = ok ]; then ok inherited-tun-and-uapi-fds
else bad inherited-tun-and-uapi-fds "veiltun did not serve UAPI on the inherited descriptors"; fi
rm -f /var/run/wireguard/${IF}c.sock

# The bad-key guard of wg itself: a wrong-length key never reaches the daemon.
inns $VEILTUN $IF
inns wg set $IF peer AAAA 2>/dev/null && bad wrong-key-length-refused "accepted" || ok wrong-key-length-refused
[ -n "$(daemon_pid $IF)" ] && ok daemon-alive-at-end || bad daemon-alive-at-end "gone"

kill $watchdog 2>/dev/null
echo "$pass passed, $fail failed"
[ $fail = 0 ]
