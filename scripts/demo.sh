#!/usr/bin/env bash
# The demo tunnel: VeilTun in one network namespace, Debian's wireguard-go in another, joined by a veth pair.
# Builds and installs veiltun (Native AOT, /usr/local/bin/veiltun), configures both sides with wg(8), shows the
# handshake and a ping through the tunnel, then removes everything. Run as root on Debian 12.
#
#   netns vtdemo-vt                                   netns vtdemo-go
#   veiltun  vtdemo0  192.0.2.1/24 ── UDP ──  wireguard-go vtdemo1 192.0.2.2/24
#   veth 198.51.100.1/24  ───────────────────────  veth 198.51.100.2/24
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh >/dev/null
[ "${1:-}" = "--in-process" ] && exec veiltun demo --in-process

A=vtdemo-vt B=vtdemo-go
tmp=
cleanup() {
    ip -n $A link del vtdemo0 2>/dev/null || true
    ip -n $B link del vtdemo1 2>/dev/null || true
    ip netns del $A 2>/dev/null || true
    ip netns del $B 2>/dev/null || true
    [ -z "$tmp" ] || rm -rf "$tmp"
}
cleanup 2>/dev/null || true
trap cleanup EXIT
tmp=$(mktemp -d /tmp/veiltun-demo.XXXXXX)
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "two namespaces joined by a veth pair (198.51.100.1 <-> 198.51.100.2)"
ip netns add $A; ip netns add $B
ip link add vtdemo-a netns $A type veth peer name vtdemo-b netns $B
ip -n $A addr add 198.51.100.1/24 dev vtdemo-a; ip -n $A link set vtdemo-a up; ip -n $A link set lo up
ip -n $B addr add 198.51.100.2/24 dev vtdemo-b; ip -n $B link set vtdemo-b up; ip -n $B link set lo up

step "start veiltun (vtdemo0) and wireguard-go (vtdemo1), exactly the same way"
ip netns exec $A veiltun vtdemo0
ip netns exec $B wireguard-go vtdemo1 2>/dev/null
umask 077
wg genkey >"$tmp/a.key"; wg genkey >"$tmp/b.key"
ip netns exec $A wg set vtdemo0 listen-port 51820 private-key "$tmp/a.key" \
    peer "$(wg pubkey <"$tmp/b.key")" allowed-ips 192.0.2.2/32 endpoint 198.51.100.2:51821
ip netns exec $B wg set vtdemo1 listen-port 51821 private-key "$tmp/b.key" \
    peer "$(wg pubkey <"$tmp/a.key")" allowed-ips 192.0.2.1/32
ip -n $A addr add 192.0.2.1/24 dev vtdemo0; ip -n $A link set vtdemo0 up
ip -n $B addr add 192.0.2.2/24 dev vtdemo1; ip -n $B link set vtdemo1 up
echo "configured with: wg set ... (the same commands for both implementations)"

step "ping 192.0.2.2 (wireguard-go) from the veiltun side: the first packet triggers the handshake"
ip netns exec $A ping -c 4 -i 0.3 -W 3 192.0.2.2

step "wg show on both sides"
echo "--- veiltun:"; ip netns exec $A wg show vtdemo0
echo "--- wireguard-go:"; ip netns exec $B wg show vtdemo1

step "veiltun stats: what wg does not show (drops by reason)"
veiltun stats vtdemo0

step "done: removing the interfaces stops both daemons"
