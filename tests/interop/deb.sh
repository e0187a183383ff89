#!/usr/bin/env bash
# The Debian package, as an operator meets it: scripts/package-deb.sh builds it, `apt-get install ./veiltun_*.deb`
# installs it, and the installed binary is called by its absolute path (/usr/local/bin/veiltun from
# scripts/install.sh comes first in PATH). Checks: the package's metadata, --version, the manual page (found by
# `man -w`, rendered without a groff warning), `systemd-analyze verify` on veiltun@.service and on
# wg-quick@.service with the package's drop-in (any output to stderr fails: it exits 0 on unknown keys), an
# interop check (wg-quick brings the installed veiltun up in ns A, through the drop-in's
# WG_QUICK_USERSPACE_IMPLEMENTATION, against wireguard-go in ns B: handshake, pings v4 and v6, privileges dropped,
# wg-quick down), and `apt-get purge` leaving no file of the package behind.
# Prints PASS/FAIL lines and "N passed, N failed".
# shellcheck disable=SC2317 # helpers run through vt_check/vt_wait look unreachable to shellcheck
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export VEILTUN=/usr/bin/veiltun # what the checks look for, once installed
# shellcheck source=SCRIPTDIR/../../scripts/lib/netns.bash
source "$here/../../scripts/lib/netns.bash"
VT_NAME=deb
BIN=/usr/bin/veiltun
DROPIN=/usr/lib/systemd/system/wg-quick@.service.d/veiltun.conf
export DEBIAN_FRONTEND=noninteractive

# Tools the checks need, installed as a newcomer's machine would get them.
need=()
command -v man >/dev/null || need+=(man-db)
command -v systemd-analyze >/dev/null || need+=(systemd)
if ((${#need[@]})); then
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 ||
        { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; }
fi
# A package left by an interrupted run would make the install a no-op: remove it first.
dpkg -s veiltun >/dev/null 2>&1 && apt-get purge -y -qq veiltun >/dev/null 2>&1

# --- build --------------------------------------------------------------------------------------------------------
out=$(mktemp -d /tmp/veiltun-debtest.XXXXXX)
purge_on_exit() { dpkg -s veiltun >/dev/null 2>&1 && apt-get purge -y -qq veiltun >/dev/null 2>&1; rm -rf "$out"; }
VT_START=$SECONDS
if ! deb=$("$here/../../scripts/package-deb.sh" "$out" 2>"$out/build.log" | tail -1) || [ ! -f "$deb" ]; then
    echo "FAIL deb-build: $(tail -5 "$out/build.log")"
    echo "0 passed, 1 failed"
    rm -rf "$out"
    exit 1
fi
vt_log "built $(basename "$deb") in $((SECONDS - VT_START)) s"

# --- install (before vt_init, which wants the veiltun it checks to exist) --------------------------------------------
if ! apt-get install -y -qq --no-install-recommends "$deb" >"$out/install.log" 2>&1 || ! dpkg -s veiltun >/dev/null 2>&1; then
    echo "FAIL apt-install: $(tail -5 "$out/install.log")"
    echo "1 passed, 1 failed"
    purge_on_exit
    exit 1
fi

vt_init deb 240
vt_require wg-quick wireguard-go ping dpkg-deb apt-get man systemd-analyze
trap 'purge_on_exit; vt_on_exit' EXIT
vt_pass deb-build
vt_pass apt-install

version=$(dpkg-deb -f "$deb" Version)
contents=$(dpkg-deb -c "$deb") # not piped into grep -q: under pipefail its early exit (SIGPIPE) fails the pipeline
depends=$(dpkg-deb -f "$deb" Depends)
if [[ $(basename "$deb") == "veiltun_${version}_$(dpkg --print-architecture).deb" && $depends == *libc6* &&
    $depends == *libssl3* && $contents == *" ./usr/share/doc/veiltun/copyright"* ]]; then
    vt_pass deb-metadata
else
    vt_fail deb-metadata "name $(basename "$deb"), version '$version', depends '$depends'"
fi

dpkg -L veiltun | sort >"$VT_TMP/files"

v=$("$BIN" --version 2>&1 | head -1)
if [[ $v == "veiltun v$version"* ]]; then vt_pass installed-version; else vt_fail installed-version "'$v', package $version"; fi

page=$(man -w veiltun 2>&1)
warnings=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
rendered=$(MANWIDTH=80 man -l "$page" 2>/dev/null)
if [ "$page" = /usr/share/man/man8/veiltun.8.gz ] && [ -z "$warnings" ] && [[ $rendered == *"userspace WireGuard daemon"* ]]; then
    vt_pass man-page
else
    vt_fail man-page "man -w: '$page'; warnings: $warnings"
fi

# systemd-analyze verify checks the units as installed (template instances, the drop-in merged into wg-quick@).
verify() {
    local err
    err=$(systemd-analyze verify "$@" 2>&1 >/dev/null)
    [ -z "$err" ] || { VT_ERR=$err; return 1; }
}
if verify /usr/lib/systemd/system/veiltun@.service; then vt_pass systemd-verify-veiltun; else vt_fail systemd-verify-veiltun "$VT_ERR"; fi
if [ -f "$DROPIN" ] && verify wg-quick@wg0.service; then vt_pass systemd-verify-wg-quick-dropin; else vt_fail systemd-verify-wg-quick-dropin "${VT_ERR:-no $DROPIN}"; fi

# --- interop: wg-quick runs the installed veiltun, as the drop-in tells it to --------------------------------------
impl=$(sed -nE 's/^Environment=WG_QUICK_USERSPACE_IMPLEMENTATION=(.*)$/\1/p' "$DROPIN" 2>/dev/null)
A=vtdeb-$VT_ID-a
B=vtdeb-$VT_ID-b
IFA=vtd$VT_ID
IFB=vtdg$VT_ID
CONF=$VT_TMP/$IFA.conf
vt_track_if "$IFA"
if [ "$impl" != "$BIN" ]; then
    vt_fail dropin-implementation "the drop-in names '$impl', not $BIN"
elif ! { vt_ns "$A" && vt_ns "$B" && vt_veth "$A" veth0 198.51.100.1/24 "$B" veth0 198.51.100.2/24; }; then
    vt_fail setup "cannot create namespaces/veth"
else
    vt_pass dropin-implementation
    vt_genkey a
    vt_genkey b
    if ! vt_start_wggo "$B" "$IFB" ||
        ! ip netns exec "$B" wg set "$IFB" private-key "$VT_TMP/b.key" listen-port 51821 \
            peer "$(cat "$VT_TMP/a.pub")" allowed-ips 192.0.2.1/32,2001:db8:a::1/128 endpoint 198.51.100.1:51820 ||
        ! ip -n "$B" addr add 192.0.2.2/24 dev "$IFB" || ! ip -n "$B" addr add 2001:db8:a::2/64 dev "$IFB" nodad ||
        ! ip -n "$B" link set "$IFB" up; then
        vt_fail setup "wireguard-go in $B did not come up"
    else
        cat >"$CONF" <<EOF
[Interface]
Address = 192.0.2.1/24, 2001:db8:a::1/64
ListenPort = 51820
PrivateKey = $(cat "$VT_TMP/a.key")

[Peer]
PublicKey = $(cat "$VT_TMP/b.pub")
AllowedIPs = 192.0.2.2/32, 2001:db8:a::2/128
Endpoint = 198.51.100.2:51821
EOF
        if WG_QUICK_USERSPACE_IMPLEMENTATION=$impl timeout 40 ip netns exec "$A" wg-quick up "$CONF" >"$VT_TMP/up.log" 2>&1; then
            vt_pass wg-quick-up-installed
        else
            vt_fail wg-quick-up-installed "$(tail -3 "$VT_TMP/up.log")"
        fi
        pid=$(vt_veiltun_pids "$A" "$IFA" | head -1)
        uid=$(awk '/^Uid:/ {print $2}' "/proc/${pid:-0}/status" 2>/dev/null)
        if [ -n "$pid" ] && [ -n "$uid" ] && [ "$uid" != 0 ]; then vt_pass installed-daemon-unprivileged
        else vt_fail installed-daemon-unprivileged "pid '${pid:-none}', uid '${uid:-?}'"; fi
        vt_check ping-v4 "no reply from 192.0.2.2 through the installed veiltun" vt_ping "$A" 192.0.2.2 3 10
        vt_check ping-v6 "no reply from 2001:db8:a::2" vt_ping "$A" 2001:db8:a::2 3 10
        hs=$(vt_latest_handshake "$B" "$IFB" "$(cat "$VT_TMP/a.pub")")
        if [ "${hs:-0}" -gt 0 ]; then vt_pass handshake-wireguard-go; else vt_fail handshake-wireguard-go "wireguard-go saw no handshake"; fi
        daemon_gone() { [ -z "$(vt_veiltun_pids "$A" "$IFA")" ]; }
        if timeout 20 ip netns exec "$A" wg-quick down "$CONF" >"$VT_TMP/down.log" 2>&1 &&
            vt_wait 5 daemon_gone; then
            vt_pass wg-quick-down-installed
        else
            vt_fail wg-quick-down-installed "$(tail -3 "$VT_TMP/down.log")"
        fi
    fi
fi

# --- purge ----------------------------------------------------------------------------------------------------------
if apt-get purge -y -qq veiltun >"$VT_TMP/purge.log" 2>&1 && ! dpkg -s veiltun >/dev/null 2>&1; then
    left=()
    while read -r f; do
        # Directories the package shares with others (/usr, /usr/bin, ...) stay; its own files and directories go.
        [ -d "$f" ] && [ ! -L "$f" ] && [ "$(ls -A "$f" 2>/dev/null)" ] && continue
        [ -e "$f" ] || [ -L "$f" ] && left+=("$f")
    done <"$VT_TMP/files"
    if ((${#left[@]} == 0)); then vt_pass apt-purge-clean; else vt_fail apt-purge-clean "left behind: ${left[*]}"; fi
else
    vt_fail apt-purge-clean "$(tail -3 "$VT_TMP/purge.log")"
fi
