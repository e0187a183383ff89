#!/usr/bin/env bash
# Daemon lifecycle, as a wireguard-go user relies on it: CLI, detaching, the UAPI socket, signals, interface and
# socket removal, a second instance, a stale socket, link down/up and MTU changes. Needs root.
#
#   netns vtd-$$ : veiltun vtd$$a (and short-lived others); nothing leaves the namespace. Every daemon this script
#   starts runs in that namespace: it finds them there by PID (vt_veiltun_pids), and clean-up ends whatever is left
#   in it, by PID.
# Prints PASS/FAIL lines and "N passed, N failed".
# shellcheck disable=SC2015,SC2317 # `a && pass || fail` is meant; helpers run through vt_wait look unreachable
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../../scripts/lib/netns.bash
source "$here/../../scripts/lib/netns.bash"
vt_init daemon 240
NS=vtd-$$
IF=vtd$$a
SOCK=$VT_RUNDIR/$IF.sock
vt_track_if "$IF" "${IF}b" "${IF}c" "${IF}d"
vt_ns "$NS" || vt_die "cannot create namespace $NS"
inns() { ip netns exec "$NS" "$@"; }
daemon_pid() { vt_veiltun_pids "$NS" "$1" | head -1; }
no_daemon() { [ -z "$(daemon_pid "$1")" ]; }
no_socket() { [ ! -S "$VT_RUNDIR/$1.sock" ]; }
has_socket() { [ -S "$VT_RUNDIR/$1.sock" ]; }
no_link() { ! inns ip link show "$1" >/dev/null 2>&1; }
gone() { no_socket "$1" && no_link "$1"; }
stopped() { no_daemon "$1" && no_socket "$1"; }

# CLI
"$VT_VEILTUN" --version | grep -q '^veiltun v' && vt_pass cli-version || vt_fail cli-version "no version line"
"$VT_VEILTUN" --help | grep -q 'Usage: veiltun \[-f/--foreground\] INTERFACE-NAME' && vt_pass cli-usage || vt_fail cli-usage "no usage"

# Multihop's --entry-address takes unicast host addresses only (it is the source of the exit hop's datagrams).
bad_entry=""
for a in 10.64.0.2/99 10.64.0.2/24 0.0.0.0 255.255.255.255 :: ::1 224.0.0.1 ff02::1 10 010.64.0.2 fe80::1%1; do
    out=$("$VT_VEILTUN" --via vtdent --entry-address "$a" vtdnone 2>&1); rc=$?
    [ $rc = 2 ] && grep -q "invalid entry address" <<<"$out" || bad_entry+="$a (rc=$rc) "
done
[ -z "$bad_entry" ] && vt_pass entry-address-host-only || vt_fail entry-address-host-only "accepted: $bad_entry"

# Detaching: the parent exits 0 only once the socket listens.
if inns "$VT_VEILTUN" $IF && [ -S "$SOCK" ] && inns wg show $IF >/dev/null; then vt_pass detach-exits-when-listening
else vt_fail detach-exits-when-listening "socket not ready when the parent returned"; fi
mode=$(stat -c %a "$SOCK" 2>/dev/null)
[ "$mode" = 600 ] && vt_pass socket-owner-only || vt_fail socket-owner-only "mode $mode"
inns ip link show $IF | grep -q 'mtu 1420' && vt_pass tun-created-mtu-1420 || vt_fail tun-created-mtu-1420 "$(inns ip link show $IF)"

# A second instance on the same interface is refused (exit 1) and the first keeps running.
inns "$VT_VEILTUN" $IF 2>"$VT_TMP/second.err"; rc=$?
[ $rc = 1 ] && [ -n "$(daemon_pid $IF)" ] && inns wg show $IF >/dev/null && vt_pass second-instance-refused \
    || vt_fail second-instance-refused "rc=$rc $(cat "$VT_TMP/second.err")"

# Setup failure: a name too long for an interface → exit 1, nothing left behind.
inns "$VT_VEILTUN" vtd-this-name-is-far-too-long 2>/dev/null; rc=$?
[ $rc = 1 ] && vt_pass setup-failure-exits-1 || vt_fail setup-failure-exits-1 "rc=$rc"

# Configuration survives link down/up; the MTU can change at run time.
key=$(wg genkey); peer=$(wg genkey | wg pubkey)
echo "$key" >"$VT_TMP/key"
inns wg set $IF private-key "$VT_TMP/key" listen-port 0 peer "$peer" allowed-ips 192.0.2.2/32
inns ip link set $IF up
inns ip link set $IF down
inns ip link set $IF up
inns wg show $IF peers | grep -q "$peer" && vt_pass config-survives-down-up || vt_fail config-survives-down-up "peer lost"
port=$(inns wg show $IF listen-port)
[ "${port:-0}" -gt 0 ] && vt_pass listen-port-0-picks-a-port || vt_fail listen-port-0-picks-a-port "port=$port"
inns ip link set $IF mtu 1280 && inns ip link show $IF | grep -q 'mtu 1280' && [ -n "$(daemon_pid $IF)" ] \
    && vt_pass mtu-change-at-run-time || vt_fail mtu-change-at-run-time "daemon gone or mtu not set"

# SIGTERM: clean shutdown, socket and interface removed.
kill -TERM "$(daemon_pid $IF)"
if vt_wait 5 gone "$IF"; then vt_pass sigterm-cleans-up
else vt_fail sigterm-cleans-up "socket or interface left"; fi

# Deleting the interface stops the daemon.
inns "$VT_VEILTUN" $IF
inns ip link del $IF
vt_wait 5 stopped "$IF" && vt_pass interface-deletion-stops-daemon \
    || vt_fail interface-deletion-stops-daemon "still running"

# Deleting the socket file stops the daemon (wireguard-go watches it).
inns "$VT_VEILTUN" $IF
rm -f "$SOCK"
vt_wait 4 no_daemon "$IF" && vt_pass socket-deletion-stops-daemon || vt_fail socket-deletion-stops-daemon "still running"
vt_wait 5 no_link "$IF" && vt_pass socket-deletion-removes-interface || vt_fail socket-deletion-removes-interface "interface left"

# A daemon killed with SIGKILL: the socket waiter it runs beside (docs/privileges.md) still removes its socket.
inns "$VT_VEILTUN" $IF
kill -KILL "$(daemon_pid $IF)"
vt_wait 5 no_link "$IF"
vt_wait 5 no_socket "$IF" && vt_pass sigkill-socket-removed-by-waiter || vt_fail sigkill-socket-removed-by-waiter "socket left"

# A stale socket from a killed daemon is replaced. Only a daemon that kept root has no waiter to remove it.
inns env VEILTUN_KEEP_PRIVILEGES=1 "$VT_VEILTUN" $IF
kill -KILL "$(daemon_pid $IF)"
vt_wait 5 no_link "$IF"
[ -S "$SOCK" ] || vt_fail stale-socket-replaced "kill -9 left no socket to test with"
inns "$VT_VEILTUN" $IF && inns wg show $IF >/dev/null && vt_pass stale-socket-replaced || vt_fail stale-socket-replaced "did not start"
kill -TERM "$(daemon_pid $IF)" 2>/dev/null; vt_wait 5 no_socket "$IF"

# Foreground (-f) with LOG_LEVEL=verbose logs to stderr and SIGINT stops it.
inns env LOG_LEVEL=verbose "$VT_VEILTUN" -f ${IF}b 2>"$VT_TMP/fg.log" &
vt_wait 5 has_socket "${IF}b"
kill -INT "$(daemon_pid ${IF}b)" 2>/dev/null
vt_wait 5 no_socket "${IF}b" && grep -q 'DEBUG: (' "$VT_TMP/fg.log" && vt_pass foreground-verbose-sigint \
    || vt_fail foreground-verbose-sigint "$(head -c 300 "$VT_TMP/fg.log")"

# Inherited descriptors (WG_TUN_FD, WG_UAPI_FD), as wireguard-go's own re-exec and Android-style hosts hand them
# over: the TUN and the listening UAPI socket are created here, veiltun only adopts them.
cat >"$VT_TMP/fds.py" <<'PY'
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
if [ "$(inns python3 "$VT_TMP/fds.py" ${IF}c "$VT_VEILTUN" 2>&1)" = ok ]; then vt_pass inherited-tun-and-uapi-fds
else vt_fail inherited-tun-and-uapi-fds "veiltun did not serve UAPI on the inherited descriptors"; fi
rm -f /var/run/wireguard/${IF}c.sock

# Descriptor exhaustion: under a low open-file limit, hundreds of UAPI clients that connect and never finish a
# request make accept() fail (EMFILE). The daemon must keep running and keep serving wg, and must not go quietly.
inns prlimit --nofile=48:48 env LOG_LEVEL=error "$VT_VEILTUN" -f "${IF}d" 2>"$VT_TMP/fd.log" &
vt_wait 5 has_socket "${IF}d"
cat >"$VT_TMP/hold.py" <<'PY'
import socket, subprocess, sys, time
path, n, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
held = []
for _ in range(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(0.5)
    try:
        s.connect(path); s.send(b"get")  # half a request, never finished
        held.append(s)
    except OSError:
        s.close()
during = subprocess.run(["wg", "show", name, "listen-port"], capture_output=True, timeout=30).returncode
for s in held: s.close()
time.sleep(1)
after = subprocess.run(["wg", "show", name, "listen-port"], capture_output=True, timeout=30).returncode
print("ok" if during == 0 and after == 0 else "wg show failed: during %d, after %d" % (during, after))
PY
out=$(inns python3 "$VT_TMP/hold.py" "$VT_RUNDIR/${IF}d.sock" 300 "${IF}d" 2>&1)
if [ "$out" = ok ] && [ -n "$(daemon_pid "${IF}d")" ] && grep -q 'UAPI accept' "$VT_TMP/fd.log"; then
    vt_pass descriptor-exhaustion-survived
else
    vt_fail descriptor-exhaustion-survived "$out; daemon $(daemon_pid "${IF}d" || true); log: $(head -c 300 "$VT_TMP/fd.log")"
fi
kill -TERM "$(daemon_pid "${IF}d")" 2>/dev/null; vt_wait 5 no_socket "${IF}d"

# The bad-key guard of wg itself: a wrong-length key never reaches the daemon.
inns "$VT_VEILTUN" $IF
inns wg set $IF peer AAAA 2>/dev/null && vt_fail wrong-key-length-refused "accepted" || vt_pass wrong-key-length-refused
[ -n "$(daemon_pid $IF)" ] && vt_pass daemon-alive-at-end || vt_fail daemon-alive-at-end "gone"
exit 0
