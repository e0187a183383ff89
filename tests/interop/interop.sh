#!/usr/bin/env bash
# interop.sh — VeilTun's interop checklist against wireguard-go (and itself), as root, in network namespaces.
#
# By default three pairs run one after the other, each on fresh namespaces and daemons:
#   veiltun-wggo (A=veiltun B=wireguard-go), wggo-veiltun, veiltun-veiltun.
# IMPL_A / IMPL_B (commands with wireguard-go's CLI, may carry arguments) run one pair instead; the one not
# given is veiltun ($VEILTUN, or the one on PATH). Topology and addresses: "the pair" below; helpers shared with the
# other namespace scripts: scripts/lib/netns.bash. Each check restores what it changed.
#
# Output: "PASS pair/check" or "FAIL pair/check: why" per check, comments on stderr, and as the very last line
# "N passed, N failed" summed over all pairs. Exit status 0 iff nothing failed. Every wait is bounded and the
# whole run is killed (and cleaned up) after IT_DEADLINE seconds. IT_KEEP=1 keeps the logs and captures;
# IT_STRICT=1 runs roaming-sender-source even when B is not veiltun.
# shellcheck disable=SC2015  # `a && b || note` is meant: note when either fails
set -u -o pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/../../scripts/lib/netns.bash
source "$here/../../scripts/lib/netns.bash"

: "${IT_DEADLINE:=840}"         # below scripts/test.sh's `timeout 900`, so the summary line still comes from us
: "${IT_STRICT:=0}"             # 1: roaming-sender-source for any B (Debian's wireguard-go is known to fail it)
: "${IT_KEEP:=0}"
export LOG_LEVEL=${LOG_LEVEL:-verbose}

PAIR="" PAIR_FAILED=0 WHY=""

# ---------------------------------------------------------------- the pair
# Two network namespaces A and B joined by one veth pair, with a WireGuard daemon that has wireguard-go's command
# line (`IMPL -f wg0`) in each:
#
#   underlay veth0   A 198.51.100.1/24 2001:db8:1::1/64   B 198.51.100.2/24 2001:db8:1::2/64
#   overlay  wg0     A 192.0.2.1/24    2001:db8:2::1/64   B 192.0.2.2/24    2001:db8:2::2/64   MTU 1420
#   listen ports     A 51820                              B 51821
#
# Both daemons are called wg0, and wg(8) and the daemons only know the fixed UAPI path /var/run/wireguard/wg0.sock,
# which is not per network namespace: every process of side S (its daemon and every wg call) therefore runs with
# $NN_DIR/run-S bind-mounted on /var/run/wireguard (vt_daemon_start, vt_priv). The host's directory stays empty.

NN_PREFIX=vtit-                  # namespace prefix: NN_PREFIX<owner pid>-<tag>-a|b
NN_IF=wg0
NN_UL=veth0
NN_MTU=1420
NN_DIR=                          # dir of the current pair (keys, logs, sockets, captures), under $VT_TMP
NN_ERR=                          # why the last nn_* call failed

declare -gA NS=() IMPL=() PID=() PUB=()
declare -gA PORT=([A]=51820 [B]=51821)
declare -gA UL4=([A]=198.51.100.1 [B]=198.51.100.2)
declare -gA UL6=([A]=2001:db8:1::1 [B]=2001:db8:1::2)
declare -gA OV4=([A]=192.0.2.1 [B]=192.0.2.2)
declare -gA OV6=([A]=2001:db8:2::1 [B]=2001:db8:2::2)

nn_other() { if [ "$1" = A ]; then echo B; else echo A; fi; }
nn_num() { if [[ ${1:-} =~ ^[0-9]+$ ]]; then echo "$1"; else echo 0; fi; }   # daemon output may be junk
nn_is_veiltun() { case ${IMPL[$1],,} in *veiltun*) return 0 ;; *) return 1 ;; esac; }
nn_in() { local s=$1; shift; ip netns exec "${NS[$s]}" "$@"; }
# nn_priv SIDE CMD... : CMD beside SIDE's daemon (its private /var/run/wireguard), bounded
nn_priv() { local s=$1; shift; vt_priv "${NS[$s]}" "$NN_DIR/run-$s" "$@"; }
nn_wg() { local s=$1; shift; nn_priv "$s" wg "$@"; }
# nn_ping SIDE DST COUNT [ping args] : 0 iff all COUNT replies came; PING_RX, PING_OUT
nn_ping() { local s=$1; shift; vt_ping_n "${NS[$s]}" "$@"; }
# nn_reach SIDE DST SECS [ping args] : one ping at a time until one is answered, at most SECS seconds
nn_reach() { local s=$1; shift; vt_reach "${NS[$s]}" "$@"; }

# nn_start SIDE : start IMPL[SIDE] -f wg0 in SIDE's namespace; wait for its socket and interface.
nn_start() {
  local s=$1 log="$NN_DIR/daemon-$1.log"
  local -a argv
  read -r -a argv <<<"${IMPL[$s]}"
  PID[$s]=
  echo "=== $(date +%T) start: ${IMPL[$s]} -f $NN_IF" >>"$log"
  if vt_daemon_start "${NS[$s]}" "$NN_DIR/run-$s" "$log" "$NN_IF" "$NN_IF" "${argv[@]}" -f "$NN_IF"; then
    PID[$s]=$VT_DAEMON_PID; return 0
  fi
  NN_ERR="daemon $s (${IMPL[$s]}) $VT_ERR: $(tail -n 3 "$log" | tr '\n' ' ')"
  return 1
}

# nn_stop SIDE : stop SIDE's daemon and wait (5 s) for its TUN to disappear
nn_stop() { vt_daemon_stop "${PID[$1]:-}" "${NS[$1]}" "$NN_IF"; PID[$1]=; }
nn_alive() { [ -n "${PID[$1]:-}" ] && kill -0 "${PID[$1]}" 2>/dev/null; }

# nn_configure SIDE : private key, listen port, overlay addresses, MTU, link up (no peer)
nn_configure() {
  local s=$1 ns=${NS[$1]}
  nn_wg "$s" set "$NN_IF" private-key "$NN_DIR/$s.key" listen-port "${PORT[$s]}" ||
    { NN_ERR="wg set private-key/listen-port on $s failed"; return 1; }
  ip -n "$ns" addr add "${OV4[$s]}/24" dev "$NN_IF" &&
    ip -n "$ns" addr add "${OV6[$s]}/64" dev "$NN_IF" nodad &&
    ip -n "$ns" link set "$NN_IF" mtu "$NN_MTU" up ||
    { NN_ERR="overlay address/MTU on $s failed"; return 1; }
}

# nn_peer SIDE [ep=4|6|none] [psk=FILE|none] : add or update the other side as SIDE's peer, allowed-ips its
# overlay /32 and /128. (An existing PSK or endpoint is kept when not given: use nn_unpeer first to reset.)
nn_peer() {
  local s=$1 o ep=4 psk=none kv; shift
  o=$(nn_other "$s")
  for kv; do
    case $kv in ep=*) ep=${kv#ep=} ;; psk=*) psk=${kv#psk=} ;; *) NN_ERR="nn_peer: bad option $kv"; return 2 ;; esac
  done
  local -a a=(set "$NN_IF" peer "${PUB[$o]}" allowed-ips "${OV4[$o]}/32,${OV6[$o]}/128")
  case $ep in
    4) a+=(endpoint "${UL4[$o]}:${PORT[$o]}") ;;
    6) a+=(endpoint "[${UL6[$o]}]:${PORT[$o]}") ;;
  esac
  [ "$psk" = none ] || a+=(preshared-key "$psk")
  nn_wg "$s" "${a[@]}"
}
nn_unpeer() { nn_wg "$1" set "$NN_IF" peer "${PUB[$(nn_other "$1")]}" remove; }

# nn_show SIDE FIELD : `wg show wg0 FIELD` for SIDE's peer (the other side), without the key column
nn_show() {
  nn_wg "$1" show "$NN_IF" "$2" 2>/dev/null |
    awk -v k="${PUB[$(nn_other "$1")]}" '$1 == k { $1 = ""; sub(/^ +/, ""); print }'
}
nn_handshake() { nn_num "$(nn_show "$1" latest-handshakes)"; }
nn_endpoint() { nn_show "$1" endpoints; }
nn_rx() { local -a t; read -r -a t <<<"$(nn_show "$1" transfer)"; nn_num "${t[0]:-}"; }
nn_tx() { local -a t; read -r -a t <<<"$(nn_show "$1" transfer)"; nn_num "${t[1]:-}"; }
nn_link_stat() { nn_num "$(nn_in "$1" cat "/sys/class/net/$NN_IF/statistics/$2" 2>/dev/null)"; }

# nn_veiltun_stats SIDE : `veiltun stats wg0` of SIDE's daemon (bounded); nothing if SIDE is not veiltun
nn_veiltun_stats() {
  local s=$1 cmd
  nn_is_veiltun "$s" || return 0
  read -r -a cmd <<<"${IMPL[$s]}"
  nn_priv "$s" "${cmd[@]}" stats "$NN_IF"
}

# nn_veiltun_drop SIDE REASON : veiltun's drop counter for REASON (0 if none), or empty if SIDE is not veiltun
nn_veiltun_drop() {
  nn_is_veiltun "$1" || return 0
  nn_num "$(nn_veiltun_stats "$1" 2>/dev/null | awk -v r="$2:" '$1 == r { print $2 }')"
}

# nn_pair_up TAG : namespaces, veth, keys, both daemons configured without peers. IMPL[A], IMPL[B] and
# NN_DIR must be set. On failure NN_ERR says why (nn_pair_down cleans up whatever was made).
nn_pair_up() {
  local tag=$1 s
  NS[A]="$NN_PREFIX$$-$tag-a"; NS[B]="$NN_PREFIX$$-$tag-b"
  for s in A B; do
    vt_ns "${NS[$s]}" || { NN_ERR=$VT_ERR; return 1; }
    # no DAD delay for v6; a secondary v4 address becomes primary when the primary goes (roaming checks)
    nn_in "$s" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
      net.ipv4.conf.all.promote_secondaries=1 net.ipv4.conf.default.promote_secondaries=1 >/dev/null
  done
  vt_veth "${NS[A]}" "$NN_UL" "${UL4[A]}/24" "${NS[B]}" "$NN_UL" "${UL4[B]}/24" || { NN_ERR=$VT_ERR; return 1; }
  for s in A B; do
    ip -n "${NS[$s]}" addr add "${UL6[$s]}/64" dev "$NN_UL" nodad || { NN_ERR="underlay setup on $s failed"; return 1; }
  done
  vt_genkey A "$NN_DIR" && vt_genkey B "$NN_DIR" && wg genpsk >"$NN_DIR/psk1" && wg genpsk >"$NN_DIR/psk2" ||
    { NN_ERR="key generation failed"; return 1; }
  PUB[A]=$(cat "$NN_DIR/A.pub"); PUB[B]=$(cat "$NN_DIR/B.pub")
  for s in A B; do
    nn_start "$s" && nn_configure "$s" || return 1
  done
}

# nn_pair_down : stop everything in the pair's namespaces (daemons, iperf3, tshark) by PID, delete them
nn_pair_down() {
  vt_ns_del "${NS[A]:-}" "${NS[B]:-}"
  NS=() PID=()
  return 0
}

# ---------------------------------------------------------------- bookkeeping

fail() { WHY=$*; return 1; }
note() { [ -n "$WHY" ] || WHY=$*; }      # first reason wins when a check also has to restore state

check() {
  local name=$1 dead; shift
  WHY=
  echo "--- $(date +%T) $name" >>"$NN_DIR/checks.log"
  dead=$(dead_daemons)
  if [ -n "$dead" ] && [ "$name" != daemons-alive ]; then   # no point waiting for timeouts: fail fast
    vt_fail "$PAIR/$name" "not run, $dead"; PAIR_FAILED=1
  elif "$@"; then
    vt_pass "$PAIR/$name"
  else
    dead=$(dead_daemons); [ "$name" = daemons-alive ] && dead=
    vt_fail "$PAIR/$name" "${WHY:-failed}${dead:+ ($dead)}"; PAIR_FAILED=1
    evidence
  fi
}

dead_daemons() {
  local s out=
  for s in A B; do nn_alive $s || out+="${out:+, }daemon $s (${IMPL[$s]}) is not running"; done
  echo "$out"
}

# evidence : state of both daemons after a failed check, as comments on stderr (wg hides private keys)
evidence() {
  local s
  for s in A B; do
    echo "#   wg show ($s, ${IMPL[$s]}):" >&2
    nn_wg "$s" show "$NN_IF" 2>&1 | sed '/^$/d; s/^/#     /' >&2
    nn_veiltun_stats "$s" 2>&1 | sed -n '/^drops/,/^$/{/^$/d; s/^/#     /p}' >&2
  done
}

short() { case ${1,,} in *wireguard-go*) echo wggo ;; *veiltun*) echo veiltun ;; *) basename "${1%% *}" ;; esac; }

# fresh [nn_peer options] : both peers removed and re-added (no session, no learned endpoint)
fresh() {
  nn_unpeer A >/dev/null 2>&1; nn_unpeer B >/dev/null 2>&1
  nn_peer A "$@" && nn_peer B "$@"
}

# ---------------------------------------------------------------- checks

# Only the initiator has an endpoint, so only it can start the handshake.
c_handshake() {
  local i=$1 r ha hb ep
  r=$(nn_other "$i")
  nn_unpeer A >/dev/null 2>&1; nn_unpeer B >/dev/null 2>&1
  nn_peer "$i" && nn_peer "$r" ep=none || fail "wg set peer failed" || return
  ha=$(nn_handshake A); hb=$(nn_handshake B)
  [ "$ha$hb" = 00 ] || fail "latest-handshake of a new peer is not 0 (A=$ha B=$hb)" || return
  nn_reach "$i" "${OV4[$r]}" 10 || fail "no reply $i->$r within 10 s" || return
  ha=$(nn_handshake A); hb=$(nn_handshake B)
  [ "$ha" -gt 0 ] && [ "$hb" -gt 0 ] || fail "latest-handshake A=$ha B=$hb after traffic" || return
  ep=$(nn_endpoint "$r")
  [ "$ep" = "${UL4[$i]}:${PORT[$i]}" ] || fail "responder $r did not learn $i's endpoint (shows '$ep')"
}

c_ping() {
  local s=$1 fam=$2 d
  if [ "$fam" = 6 ]; then d=${OV6[$(nn_other "$s")]}; else d=${OV4[$(nn_other "$s")]}; fi
  nn_reach "$s" "$d" 5 || fail "no reply from $d within 5 s" || return
  nn_ping "$s" "$d" 5 || fail "$PING_RX/5 replies from $d"
}

c_underlay6() {
  local ea eb
  nn_peer A ep=6 && nn_peer B ep=6 || fail "wg set endpoint [v6] failed" || return
  if ! nn_ping A "${OV4[B]}" 3; then note "A->B over the v6 underlay: $PING_RX/3"
  elif ! nn_ping B "${OV4[A]}" 3; then note "B->A over the v6 underlay: $PING_RX/3"
  else
    ea=$(nn_endpoint A); eb=$(nn_endpoint B)
    [ "$ea" = "[${UL6[B]}]:${PORT[B]}" ] && [ "$eb" = "[${UL6[A]}]:${PORT[A]}" ] ||
      note "endpoints are not the v6 underlay (A: '$ea', B: '$eb')"
  fi
  nn_peer A ep=4; nn_peer B ep=4
  nn_reach A "${OV4[B]}" 5 && nn_reach B "${OV4[A]}" 5 || note "no traffic after going back to v4 endpoints"
  [ -z "$WHY" ]
}

c_psk() {
  local s
  fresh psk="$NN_DIR/psk1" || fail "wg set preshared-key failed" || return
  for s in A B; do
    [ "$(nn_show $s preshared-keys)" = "$(cat "$NN_DIR/psk1")" ] ||
      fail "wg show preshared-keys on $s is not the key that was set" || return
  done
  nn_reach A "${OV4[B]}" 10 || fail "no A->B reply within 10 s with the same PSK" || return
  nn_ping B "${OV4[A]}" 3 || fail "B->A with PSK: $PING_RX/3"
}

# Different PSKs: B answers the initiation, but A cannot open the response (the PSK enters at msg 2).
c_psk_mismatch() {
  local ts
  nn_unpeer A >/dev/null 2>&1; nn_unpeer B >/dev/null 2>&1
  nn_peer A psk="$NN_DIR/psk1" && nn_peer B psk="$NN_DIR/psk2" || fail "wg set preshared-key failed" || return
  nn_ping A "${OV4[B]}" 3
  if [ "$PING_RX" != 0 ]; then note "$PING_RX/3 pings answered with mismatched PSKs"
  else
    ts=$(nn_handshake A)
    [ "$ts" = 0 ] || note "A reports a handshake ($ts) with a mismatched PSK"
  fi
  fresh
  nn_reach A "${OV4[B]}" 10 || note "no traffic after removing the PSKs"
  [ -z "$WHY" ]
}

# 1420-byte inner packets with DF both ways: 1392+8+20 (v4), 1372+8+40 (v6).
c_mtu_full() {
  local fam=$1 s d size
  for s in A B; do
    if [ "$fam" = 6 ]; then d=${OV6[$(nn_other $s)]}; size=$((NN_MTU - 48))
    else d=${OV4[$(nn_other $s)]}; size=$((NN_MTU - 28)); fi
    nn_ping "$s" "$d" 3 -M "do" -s "$size" ||
      fail "$s->$d ${NN_MTU}-byte DF: $PING_RX/3 ($(head -n 2 <<<"$PING_OUT" | tr '\n' ' '))" || return
  done
}

# One byte more must be refused by A's own stack (the TUN has MTU 1420), not sent.
c_mtu_oversize() {
  local fam d size out
  for fam in 4 6; do
    if [ $fam = 4 ]; then d=${OV4[B]}; size=$((NN_MTU - 27)); else d=${OV6[B]}; size=$((NN_MTU - 47)); fi
    if out=$(timeout 5 ip netns exec "${NS[A]}" ping -$fam -n -c 1 -W 1 -M "do" -s $size "$d" 2>&1); then
      fail "v$fam ping of MTU+1 bytes with DF was answered"; return
    fi
    grep -qi 'too long' <<<"$out" ||
      fail "v$fam: no local 'message too long': $(head -n 2 <<<"$out" | tr '\n' ' ')" || return
  done
}

# 3-second iperf3 TCP from client side C to the other side's overlay address.
c_iperf() {
  local c=$1 srv out i bytes err
  srv=$(nn_other "$c"); out="$NN_DIR/iperf-$c.json"
  vt_bg "${NS[$srv]}" timeout 30 iperf3 -s -1 -B "${OV4[$srv]}" >"$out.srv" 2>&1
  for ((i = 0; i < 50; i++)); do
    nn_in "$srv" ss -Hltn 'sport = :5201' 2>/dev/null | grep -q . && break
    sleep 0.1
  done
  timeout 20 ip netns exec "${NS[$c]}" iperf3 -c "${OV4[$srv]}" -t 3 -J >"$out" 2>"$out.err" </dev/null
  for ((i = 0; i < 20; i++)); do kill -0 "$VT_LAST" 2>/dev/null || break; sleep 0.1; done   # -1: it ends itself
  vt_kill_pids "$VT_LAST"
  [ -s "$out" ] || fail "iperf3 client gave no result: $(head -n 2 "$out.err" | tr '\n' ' ')" || return
  err=$(jq -r '.error // empty' "$out" 2>/dev/null)
  bytes=$(jq -r '.end.sum_received.bytes // 0 | floor' "$out" 2>/dev/null)
  [ -z "$err" ] || fail "iperf3: $err" || return
  [ "$(nn_num "$bytes")" -gt 1000000 ] || fail "only '$bytes' bytes received in 3 s" || return
  echo "iperf3 $c->$srv: $bytes bytes, $(jq -r '.end.sum_sent.retransmits // "?"' "$out") retransmits" >>"$NN_DIR/checks.log"
}

# wg show transfer grows by at least the payload on both sides, and A's tx matches B's rx (and vice versa)
# within 200 bytes: both must count whole WireGuard messages.
c_counters() {
  local n=10 sz=1000 s min=0 x y
  local -A r0 t0 r1 t1 dr dt
  for s in A B; do r0[$s]=$(nn_rx $s); t0[$s]=$(nn_tx $s); done
  nn_ping A "${OV4[B]}" $n -s $sz || fail "ping A->B $PING_RX/$n" || return
  sleep 0.5
  min=$((n * (sz + 8 + 20 + 32)))
  for s in A B; do
    r1[$s]=$(nn_rx $s); t1[$s]=$(nn_tx $s)
    dr[$s]=$((r1[$s] - r0[$s])); dt[$s]=$((t1[$s] - t0[$s]))
    [ "${dr[$s]}" -ge $min ] || fail "$s rx grew by ${dr[$s]} < $min" || return
    [ "${dt[$s]}" -ge $min ] || fail "$s tx grew by ${dt[$s]} < $min" || return
  done
  x=$((dt[A] - dr[B])); y=$((dt[B] - dr[A]))
  [ ${x#-} -le 200 ] || fail "A counted $((dt[A])) bytes sent, B $((dr[B])) received" || return
  [ ${y#-} -le 200 ] || fail "B counted $((dt[B])) bytes sent, A $((dr[A])) received"
}

# move_b FROM TO : B's underlay v4 address FROM -> TO (TO is added first and becomes primary)
move_b() { ip -n "${NS[B]}" addr add "$2/24" dev "$NN_UL" && ip -n "${NS[B]}" addr del "$1/24" dev "$NN_UL"; }

# B's underlay address changes; B re-applies its peer's endpoint (as a network-change hook does) and sends.
# A must learn the new endpoint from authenticated packets and answer there.
c_roaming() {
  local new=198.51.100.3 ep
  move_b "${UL4[B]}" $new || fail "could not move B's underlay address" || return
  nn_peer B >/dev/null 2>&1
  if ! nn_reach B "${OV4[A]}" 10; then note "B->A failed after B moved to $new"
  else
    ep=$(nn_endpoint A)
    if [ "$ep" != "$new:${PORT[B]}" ]; then note "A did not learn $new:${PORT[B]} (shows '$ep')"
    elif ! nn_ping A "${OV4[B]}" 3; then note "A->B after roaming: $PING_RX/3"; fi
  fi
  move_b $new "${UL4[B]}"; nn_peer B >/dev/null 2>&1
  nn_reach B "${OV4[A]}" 10
  ep=$(nn_endpoint A)
  [ "$ep" = "${UL4[B]}:${PORT[B]}" ] || note "A did not follow B back (shows '$ep')"
  [ -z "$WHY" ]
}

# A NAT in front of B: stateless nftables rewriting in B's namespace maps B's wg packets to
# 198.51.100.4:40000 and back. B's daemon knows nothing; A must follow, and follow back when it goes.
c_roaming_nat() {
  local nat=198.51.100.4 np=40000 ep
  ip -n "${NS[B]}" addr add $nat/24 dev "$NN_UL" || fail "could not add $nat on B" || return
  if ! nn_in B nft -f - <<EOF
table ip itnat {
  chain post {
    type filter hook postrouting priority 0; policy accept;
    ip saddr ${UL4[B]} ip daddr ${UL4[A]} udp sport ${PORT[B]} ip saddr set $nat udp sport set $np
  }
  chain pre {
    type filter hook prerouting priority -300; policy accept;
    ip daddr $nat udp dport $np ip daddr set ${UL4[B]} udp dport set ${PORT[B]}
  }
}
EOF
  then
    ip -n "${NS[B]}" addr del $nat/24 dev "$NN_UL"; fail "nft rules rejected"; return
  fi
  if ! nn_reach B "${OV4[A]}" 10; then note "B->A failed behind the NAT"
  else
    ep=$(nn_endpoint A)
    if [ "$ep" != "$nat:$np" ]; then note "A did not learn the NAT's $nat:$np (shows '$ep')"
    elif ! nn_ping A "${OV4[B]}" 3; then note "A->B through the NAT: $PING_RX/3"; fi
  fi
  nn_in B nft delete table ip itnat
  ip -n "${NS[B]}" addr del $nat/24 dev "$NN_UL"
  nn_reach B "${OV4[A]}" 10
  ep=$(nn_endpoint A)
  [ "$ep" = "${UL4[B]}:${PORT[B]}" ] || note "A did not return to ${UL4[B]}:${PORT[B]} without the NAT (shows '$ep')"
  [ -z "$WHY" ]
}

# B's address changes and nobody tells B's daemon: it must drop its cached source address by itself
# (Debian's wireguard-go 0.0.20220316 keeps sending from the vanished one; only run when B is veiltun).
c_roaming_source() {
  local new=198.51.100.3 ep
  move_b "${UL4[B]}" $new || fail "could not move B's underlay address" || return
  if ! nn_reach B "${OV4[A]}" 10; then
    note "B->A failed within 10 s after B's address changed (stale source address?)"
  else
    ep=$(nn_endpoint A)
    [ "$ep" = "$new:${PORT[B]}" ] || note "A did not learn $new:${PORT[B]} (shows '$ep')"
  fi
  move_b $new "${UL4[B]}"; nn_peer B >/dev/null 2>&1
  nn_reach B "${OV4[A]}" 10 || note "no traffic after B moved back"
  [ -z "$WHY" ]
}

# SENDER pings from overlay addresses outside the receiver's allowed-ips for it. It transmits, but the
# receiver must drop the decrypted packets: no reply and nothing written to its TUN.
c_allowed_ips() {
  local snd=$1 rcv s4 s6 rx0 rx1 tx0 tx1 d0 d1 r4 r6
  rcv=$(nn_other "$snd")
  if [ "$snd" = B ]; then s4=192.0.2.99 s6=2001:db8:2::99; else s4=192.0.2.98 s6=2001:db8:2::98; fi
  nn_ping "$snd" "${OV4[$rcv]}" 3 -I "${OV4[$snd]}" || fail "control ping from the allowed source: $PING_RX/3" ||
    return
  ip -n "${NS[$snd]}" addr add $s4/32 dev "$NN_IF" && ip -n "${NS[$snd]}" addr add $s6/128 dev "$NN_IF" nodad ||
    fail "could not add $s4/$s6 on $snd" || return
  rx0=$(nn_link_stat "$rcv" rx_packets); tx0=$(nn_tx "$snd"); d0=$(nn_veiltun_drop "$rcv" disallowed_source)
  nn_ping "$snd" "${OV4[$rcv]}" 3 -I $s4; r4=$PING_RX
  nn_ping "$snd" "${OV6[$rcv]}" 3 -I $s6; r6=$PING_RX
  sleep 0.3
  rx1=$(nn_link_stat "$rcv" rx_packets); tx1=$(nn_tx "$snd"); d1=$(nn_veiltun_drop "$rcv" disallowed_source)
  ip -n "${NS[$snd]}" addr del $s4/32 dev "$NN_IF"; ip -n "${NS[$snd]}" addr del $s6/128 dev "$NN_IF"
  [ "$r4$r6" = 00 ] || fail "$rcv answered pings from outside allowed-ips (v4 $r4/3, v6 $r6/3)" || return
  [ "$tx1" -gt "$tx0" ] || fail "inconclusive: $snd did not send the spoofed packets (tx $tx0 -> $tx1)" || return
  [ "$rx1" = "$rx0" ] || fail "$rcv wrote $((rx1 - rx0)) packets from outside allowed-ips to its TUN" || return
  # veiltun also says why it dropped them
  [ -z "$d1" ] || [ $((d1 - d0)) -ge 6 ] ||
    fail "$rcv (veiltun) counted $((d1 - d0)) disallowed_source drops for 6 spoofed packets"
}

c_peer_remove() {
  local peers
  nn_unpeer A || fail "wg set peer remove failed" || return
  peers=$(nn_wg A show "$NN_IF" peers)
  if [ -n "$peers" ]; then note "peer still listed after removal: $peers"
  else
    nn_ping A "${OV4[B]}" 2; [ "$PING_RX" = 0 ] || note "A->B still answered after A removed B"
    nn_ping B "${OV4[A]}" 2; [ "$PING_RX" = 0 ] || note "B->A still answered after A removed B"
  fi
  nn_peer A
  nn_reach A "${OV4[B]}" 10 || note "re-adding the peer did not restore traffic"
  [ -z "$WHY" ]
}

# showconf has the configured values; setconf of that output (after removing the peer) restores the same.
c_showconf() {
  c_showconf_steps && return
  [ -n "$(nn_wg A show "$NN_IF" peers)" ] || nn_peer A     # keep A's peer for the checks that follow
  return 1
}
c_showconf_steps() {
  local c1="$NN_DIR/showconf-1" c2="$NN_DIR/showconf-2" l
  nn_wg A showconf "$NN_IF" >"$c1" || fail "wg showconf failed" || return
  for l in "PrivateKey = $(cat "$NN_DIR/A.key")" "ListenPort = ${PORT[A]}" "PublicKey = ${PUB[B]}" \
           "Endpoint = ${UL4[B]}:${PORT[B]}"; do
    grep -qxF "$l" "$c1" || fail "showconf lacks '${l%% = *} = <expected>'" || return
  done
  grep -q "^AllowedIPs = .*${OV4[B]}/32" "$c1" && grep -q "^AllowedIPs = .*${OV6[B]}/128" "$c1" ||
    fail "showconf AllowedIPs: $(grep AllowedIPs "$c1")" || return
  nn_unpeer A
  [ -z "$(nn_wg A show "$NN_IF" peers)" ] || fail "peer removal before setconf failed" || return
  nn_wg A setconf "$NN_IF" "$c1" || fail "wg setconf of the showconf output failed" || return
  nn_wg A showconf "$NN_IF" >"$c2" || fail "second showconf failed" || return
  cmp -s "$c1" "$c2" || fail "showconf after setconf differs: $(diff "$c1" "$c2" | grep '^[<>]' | head -n 2 | tr '\n' ' ')" ||
    return
  nn_reach A "${OV4[B]}" 10 || fail "no traffic after setconf"
}

# Two fresh handshakes (one initiated by each side) + small and full-MTU pings, captured on the veiltun side's
# veth and decoded by tshark's WireGuard dissector: sizes, indices, counters; then, with both static private
# keys (keylog file), mac1 of every initiation and response must verify and each initiation's static key and
# timestamp must decrypt.
c_wire() {
  local s=A cap="$NN_DIR/wire.pcapng" err="$NN_DIR/tshark.err" i tp
  nn_is_veiltun A || ! nn_is_veiltun B || s=B
  command -v tshark >/dev/null || fail "tshark not installed" || return
  fresh || fail "re-adding peers failed" || return
  vt_bg "${NS[$s]}" timeout 40 tshark -n -q -i "$NN_UL" -f udp -w "$cap" 2>"$err"; tp=$VT_LAST
  for ((i = 0; i < 100; i++)); do grep -q 'Capturing on' "$err" 2>/dev/null && break; sleep 0.1; done
  grep -q 'Capturing on' "$err" || { vt_kill_pids "$tp"; fail "tshark did not start: $(head -n 2 "$err" | tr '\n' ' ')"; return; }
  sleep 1   # dumpcap announces itself slightly before it sees packets
  # two sessions, so that each implementation's initiation and response are on the wire: s initiates the
  # first (small pings), the other side the second (full-MTU pings both ways)
  local o got=
  o=$(nn_other "$s")
  nn_ping "$s" "${OV4[$o]}" 4; got+="$PING_RX/4 "
  fresh >/dev/null 2>&1
  nn_ping "$o" "${OV4[$s]}" 2 -M "do" -s $((NN_MTU - 28)); got+="$PING_RX/2 "
  nn_ping "$s" "${OV4[$o]}" 2 -M "do" -s $((NN_MTU - 28)); got+="$PING_RX/2"
  sleep 0.3
  vt_kill_pids "$tp"
  [ "$got" = "4/4 2/2 2/2" ] || fail "pings during the capture: $got" || return
  wire_verify "$cap"
}

# wire_verify PCAP : the checks of wire-format-tshark on a capture of the two handshakes and pings above
wire_verify() {
  local cap=$1 keys="$NN_DIR/wg.keylog" bad
  local -a dec=(-n -r "$cap" -d "udp.port==${PORT[A]},wg" -d "udp.port==${PORT[B]},wg")
  WHY=$(tshark "${dec[@]}" -T fields -E separator=, -E occurrence=f -e udp.srcport -e udp.length -e wg.type \
      -e wg.sender -e wg.receiver -e wg.counter 2>/dev/null |
    awk -F, -v pa="${PORT[A]}" -v pb="${PORT[B]}" -v mtu="$NN_MTU" '
      function bad(m) { if (err == "") err = m }
      {
        n++; len = $2 - 8; t = $3
        me = ($1 == pa) ? "A" : ($1 == pb) ? "B" : ""
        if (me == "") { bad("packet " n " from port " $1); next }
        peer = (me == "A") ? "B" : "A"
        if (t == 1) {
          init++; inits[me]++; if (len != 148) bad("initiation of " len " bytes, not 148"); announced[me, $4] = 1
        }
        else if (t == 2) {
          resp++; if (len != 92) bad("response of " len " bytes, not 92"); announced[me, $4] = 1
          if (!((peer, $5) in announced)) bad("response to index " $5 ", not an initiation sender index of " peer)
        }
        else if (t == 3) { if (len != 64) bad("cookie reply of " len " bytes, not 64") }
        else if (t == 4) {
          data[me]++
          if (len < 32 || ((len - 32) % 16 && len - 32 != mtu)) bad("data message of " len " bytes from " me " (not 32+16k or 32+MTU)")
          if (len - 32 == mtu) full[me]++
          if (!((peer, $5) in announced)) bad("data from " me " to index " $5 " that " peer " never announced")
          if ((me, $5) in last) { if ($6 + 0 <= last[me, $5]) bad("counter from " me " went " last[me, $5] " -> " $6) }
          else if ($6 != 0) bad("first data counter from " me " is " $6 ", not 0")
          last[me, $5] = $6 + 0
        }
        else bad("packet " n " (" len " bytes from " me ") not dissected as WireGuard (type \"" t "\")")
      }
      END {
        if (init != 2 || resp != 2) bad("expected 2 initiations and 2 responses, saw " init + 0 " and " resp + 0)
        if (inits["A"] != 1 || inits["B"] != 1) bad("expected one initiation from each side, A sent " inits["A"] + 0 ", B " inits["B"] + 0)
        if (!data["A"] || !data["B"]) bad("no data messages in both directions")
        if (!full["A"] || !full["B"]) bad("no 32+MTU (" 32 + mtu " byte) data message in both directions (full-size pings)")
        print err
      }')
  [ -z "$WHY" ] || return 1
  bad=$(tshark "${dec[@]}" -Y '_ws.malformed || _ws.expert.severity >= 6291456 || wg.bad_packet_length' \
          -T fields -e frame.number 2>/dev/null | tr '\n' ' ')
  [ -z "$bad" ] || fail "tshark flags frames $bad as malformed or with warnings" || return
  ( umask 077; printf 'LOCAL_STATIC_PRIVATE_KEY = %s\n' "$(cat "$NN_DIR/A.key")" "$(cat "$NN_DIR/B.key")" >"$keys" )
  WHY=$(tshark "${dec[@]}" -o "wg.keylog_file:$keys" -Y 'wg.type == 1 || wg.type == 2' -T fields -E separator=, \
      -E occurrence=f -e udp.srcport -e wg.type -e wg.receiver_pubkey -e wg.static -e wg.timestamp.tai64_label \
      -e frame.time_epoch 2>/dev/null |
    awk -F, -v pa="${PORT[A]}" -v ka="${PUB[A]}" -v kb="${PUB[B]}" '
      function bad(m) { if (err == "") err = m }
      {
        n++; me = ($1 == pa) ? "A" : "B"; mine = (me == "A") ? ka : kb; theirs = (me == "A") ? kb : ka
        if ($3 != theirs) bad("mac1 of type " $2 " from " me " does not verify with the peer key (dissector: \"" $3 "\")")
        if ($2 == 1) {
          if ($4 != mine) bad("initiation from " me ": static does not decrypt to its public key (\"" $4 "\")")
          # TAI64N label = 2^62 + 10 + unix seconds (tai64 spec as used by the kernel and wireguard-go)
          else if ($5 == "") bad("initiation from " me ": timestamp does not decrypt")
          else {
            # label ~ 4.6e18 is beyond a double: split it (label = 461168601*1e10 + 8427387914 + unix)
            unix = (substr($5, 1, 9) - 461168601) * 1e10 + substr($5, 10) - 8427387914
            d = unix - $6; if (d < -30 || d > 30) bad("initiation timestamp is " int(d) " s off the capture time")
          }
        }
      }
      END { if (n < 4) bad("only " n + 0 " handshake messages to verify"); print err }')
  [ -z "$WHY" ]
}

restart_b() { nn_stop B; nn_start B && nn_configure B && nn_peer B || fail "restarting B: $NN_ERR"; }

c_restart_b_first() {
  restart_b || return
  nn_reach B "${OV4[A]}" 10 || fail "B->A did not resume within 10 s after B restarted" || return
  nn_ping A "${OV4[B]}" 3 || fail "A->B after the restart: $PING_RX/3"
}

# Only A sends, on a session B no longer has: A must give up on it and handshake again by itself
# (KEEPALIVE_TIMEOUT + REKEY_TIMEOUT = 15 s).
c_restart_a_recovers() {
  local t0
  restart_b || return
  t0=$SECONDS
  nn_reach A "${OV4[B]}" 30 || fail "A->B did not recover within 30 s after B restarted" || return
  echo "A recovered after $((SECONDS - t0)) s" >>"$NN_DIR/checks.log"
}

# The link of side S goes down and up again (ip link set wg0 down; up): S wipes its sessions, the other side still
# sends under its old one. Traffic from the other side must flow again within 5 s (the time is printed).
c_link_flap() {
  local s=$1 o t0 ms
  o=$(nn_other "$s")
  nn_ping "$o" "${OV4[$s]}" 2 || fail "$o->$s before the flap: $PING_RX/2" || return
  nn_in "$s" ip link set "$NN_IF" down && nn_in "$s" ip link set "$NN_IF" up || fail "flapping $s's link" || return
  t0=$(date +%s%N)
  nn_reach "$o" "${OV4[$s]}" 5 || fail "$o->$s did not resume within 5 s after $s's link flapped" || return
  ms=$((($(date +%s%N) - t0) / 1000000))
  echo "# $PAIR: link flap on $s (${IMPL[$s]}): $o->$s answered again after $ms ms" >&2
}

c_alive() {
  local s pat='Unhandled exception|^panic:|Segmentation fault|fatal error:|SIGSEGV'
  for s in A B; do
    nn_alive $s || fail "daemon $s (${IMPL[$s]}) is not running" || return
    ! grep -Eq "$pat" "$NN_DIR/daemon-$s.log" ||
      fail "daemon $s log: $(grep -Em1 "$pat" "$NN_DIR/daemon-$s.log")" || return
  done
}

# ---------------------------------------------------------------- one pair

run_pair() {
  local tag=$1
  IMPL[A]=$2; IMPL[B]=$3
  PAIR="$(short "$2")-$(short "$3")"; PAIR_FAILED=0
  NN_DIR="$VT_TMP/$tag-$PAIR"; mkdir -p "$NN_DIR"
  echo "# $(date +%T) pair $PAIR: A='$2' B='$3'" >&2
  if ! nn_pair_up "$tag"; then
    vt_fail "$PAIR/setup" "$NN_ERR"
    nn_pair_down; return
  fi
  check handshake-initiated-by-a c_handshake A
  check handshake-initiated-by-b c_handshake B
  nn_peer A >/dev/null 2>&1; nn_peer B >/dev/null 2>&1        # both endpoints from here on
  check ping-ipv4-a-to-b c_ping A 4
  check ping-ipv4-b-to-a c_ping B 4
  check ping-ipv6-a-to-b c_ping A 6
  check ping-ipv6-b-to-a c_ping B 6
  check underlay-ipv6-endpoints c_underlay6
  check preshared-key c_psk
  check preshared-key-mismatch-rejected c_psk_mismatch
  check mtu-full-size-df-ipv4 c_mtu_full 4
  check mtu-full-size-df-ipv6 c_mtu_full 6
  check mtu-oversize-fails-locally c_mtu_oversize
  check tcp-iperf3-a-to-b c_iperf A
  check tcp-iperf3-b-to-a c_iperf B
  check transfer-counters c_counters
  check endpoint-roaming c_roaming
  check endpoint-roaming-nat-rebinding c_roaming_nat
  if nn_is_veiltun B || [ "$IT_STRICT" = 1 ]; then check roaming-sender-source c_roaming_source
  else echo "# $PAIR: roaming-sender-source not run (B is not veiltun; wireguard-go 0.0.20220316 fails it)" >&2; fi
  check allowed-ips-enforced-by-a c_allowed_ips B
  check allowed-ips-enforced-by-b c_allowed_ips A
  check peer-remove-stops-traffic c_peer_remove
  check showconf-roundtrip c_showconf
  check wire-format-tshark c_wire
  if nn_is_veiltun A; then check link-flap-a-recovers c_link_flap A; fi
  if nn_is_veiltun B; then check link-flap-b-recovers c_link_flap B; fi
  check peer-restart-b-initiates c_restart_b_first
  check peer-restart-a-recovers c_restart_a_recovers
  check daemons-alive c_alive
  if [ "$PAIR_FAILED" = 1 ]; then      # evidence before the pair's directory goes away
    local s
    for s in A B; do
      echo "# $PAIR daemon $s (${IMPL[$s]}) log tail:" >&2
      tail -n 15 "$NN_DIR/daemon-$s.log" | sed 's/^/#   /' >&2
    done
  fi
  nn_pair_down
}

# ---------------------------------------------------------------- main

[ "${BASH_SOURCE[0]}" = "$0" ] || return 0     # sourced: only define the checks (for ad-hoc use)

[ "$IT_KEEP" = 1 ] && VT_KEEP_TMP=1
vt_init interop "$IT_DEADLINE"       # the summary line "N passed, N failed" comes from its EXIT trap
vt_require jq iperf3 nft ping ss
vt_clean_stale "$NN_PREFIX"         # namespaces of killed earlier runs (their PID is gone)

if [ -n "${IMPL_A:-}${IMPL_B:-}" ]; then
  run_pair 1 "${IMPL_A:-$VT_VEILTUN}" "${IMPL_B:-$VT_VEILTUN}"
else
  run_pair 1 "$VT_VEILTUN" wireguard-go
  run_pair 2 wireguard-go "$VT_VEILTUN"
  run_pair 3 "$VT_VEILTUN" "$VT_VEILTUN"
fi
exit 0
