# shellcheck shell=bash disable=SC2015,SC2016,SC2034
# netns.bash — two network namespaces A and B joined by one veth pair, with a WireGuard daemon that has
# wireguard-go's command line (`IMPL -f wg0`) in each. Sourced by tests/interop/*.sh (not a .sh file on
# purpose: scripts/test.sh runs every tests/interop/*.sh).
#
#   underlay veth0   A 198.51.100.1/24 2001:db8:1::1/64   B 198.51.100.2/24 2001:db8:1::2/64
#   overlay  wg0     A 192.0.2.1/24    2001:db8:2::1/64   B 192.0.2.2/24    2001:db8:2::2/64   MTU 1420
#   listen ports     A 51820                              B 51821
#
# Documentation ranges only (RFC 5737, RFC 3849); nothing leaves the namespaces.
#
# Both daemons are called wg0, and wg(8) and the daemons only know the fixed UAPI path
# /var/run/wireguard/wg0.sock, which is not per network namespace. Every process of side S (its daemon and
# every wg call) therefore runs with $NN_DIR/run-S bind-mounted on /var/run/wireguard, inside the private
# mount namespace that `ip netns exec` creates anyway. The host's /var/run/wireguard stays empty.
#
# Every external command is bounded by timeout; processes are stopped by the PIDs recorded here.

: "${NN_PREFIX:=vtit-}"          # namespace prefix: NN_PREFIX<owner pid>-<tag>-a|b
NN_IF=wg0
NN_UL=veth0
NN_MTU=1420
NN_WG_TIMEOUT=10
NN_DIR=                          # temp dir of the current pair (keys, logs, sockets, captures)
NN_ERR=                          # why the last nn_* call failed
NN_BG=()                         # background PIDs to stop at teardown

declare -gA NS=() IMPL=() PID=() PUB=()
declare -gA PORT=([A]=51820 [B]=51821)
declare -gA UL4=([A]=198.51.100.1 [B]=198.51.100.2)
declare -gA UL6=([A]=2001:db8:1::1 [B]=2001:db8:1::2)
declare -gA OV4=([A]=192.0.2.1 [B]=192.0.2.2)
declare -gA OV6=([A]=2001:db8:2::1 [B]=2001:db8:2::2)

nn_other() { if [ "$1" = A ]; then echo B; else echo A; fi; }
nn_num() { if [[ ${1:-} =~ ^[0-9]+$ ]]; then echo "$1"; else echo 0; fi; }   # daemon output may be junk
nn_is_veiltun() { case ${IMPL[$1],,} in *veiltun*) return 0 ;; *) return 1 ;; esac; }

# nn_in SIDE CMD... : CMD in SIDE's network namespace
nn_in() { local s=$1; shift; ip netns exec "${NS[$s]}" "$@"; }

# nn_priv SIDE CMD... : CMD in SIDE's namespace with SIDE's private /var/run/wireguard, bounded by
# NN_WG_TIMEOUT (a wedged UAPI must not hang the run)
nn_priv() {
  local s=$1; shift
  timeout "$NN_WG_TIMEOUT" ip netns exec "${NS[$s]}" \
    sh -c 'mount --bind "$0" /var/run/wireguard && exec "$@"' "$NN_DIR/run-$s" "$@"
}

# nn_wg SIDE ARGS... : wg ARGS against SIDE's daemon
nn_wg() { local s=$1; shift; nn_priv "$s" wg "$@"; }

# nn_kill PID : TERM, up to 5 s, then KILL; reaps it. Only for PIDs this shell started.
nn_kill() {
  local p=$1 i
  [ -n "$p" ] || return 0
  if kill -TERM "$p" 2>/dev/null; then
    for ((i = 0; i < 50; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
  fi
  wait "$p" 2>/dev/null
  return 0
}

# nn_bg SIDE CMD... : background CMD in SIDE's namespace, stopped at teardown; PID in NN_LAST
nn_bg() {
  local s=$1; shift
  ip netns exec "${NS[$s]}" "$@" </dev/null &
  NN_LAST=$!
  NN_BG+=("$NN_LAST")
}

# nn_clean_stale : remove NN_PREFIX namespaces whose owner PID is gone (a killed earlier run), with
# whatever still runs inside them.
nn_clean_stale() {
  local ns owner p
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
    [[ $ns == "$NN_PREFIX"* ]] || continue
    owner=${ns#"$NN_PREFIX"}; owner=${owner%%-*}
    [[ $owner =~ ^[0-9]+$ ]] && [ "$owner" != $$ ] && kill -0 "$owner" 2>/dev/null && continue
    echo "# removing stale namespace $ns" >&2
    for p in $(ip netns pids "$ns" 2>/dev/null); do
      kill -KILL "$p" 2>/dev/null
    done
    ip netns del "$ns" 2>/dev/null
  done
  return 0
}

# nn_start SIDE : start IMPL[SIDE] -f wg0 in SIDE's namespace; wait (15 s) for its socket and interface.
nn_start() {
  local s=$1 run="$NN_DIR/run-$1" log="$NN_DIR/daemon-$1.log" i
  local -a argv
  read -r -a argv <<<"${IMPL[$s]}"
  mkdir -p "$run"; rm -f "$run/$NN_IF.sock"
  echo "=== $(date +%T) start: ${IMPL[$s]} -f $NN_IF" >>"$log"
  WG_PROCESS_FOREGROUND=1 ip netns exec "${NS[$s]}" \
    sh -c 'mount --bind "$0" /var/run/wireguard && exec "$@"' "$run" "${argv[@]}" -f "$NN_IF" \
    </dev/null >>"$log" 2>&1 &
  PID[$s]=$!
  for ((i = 0; i < 150; i++)); do
    if [ -S "$run/$NN_IF.sock" ] && ip -n "${NS[$s]}" link show "$NN_IF" >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "${PID[$s]}" 2>/dev/null; then
      wait "${PID[$s]}"; NN_ERR="daemon $s (${IMPL[$s]}) exited with $? at start: $(tail -n 3 "$log" | tr '\n' ' ')"
      PID[$s]=; return 1
    fi
    sleep 0.1
  done
  NN_ERR="daemon $s (${IMPL[$s]}): no $NN_IF / UAPI socket after 15 s"
  return 1
}

# nn_stop SIDE : stop SIDE's daemon and wait (5 s) for its TUN to disappear
nn_stop() {
  local s=$1 i
  [ -n "${PID[$s]:-}" ] || return 0
  nn_kill "${PID[$s]}"; PID[$s]=
  for ((i = 0; i < 50; i++)); do
    ip -n "${NS[$s]}" link show "$NN_IF" >/dev/null 2>&1 || break
    sleep 0.1
  done
}

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

# nn_ping SIDE DST COUNT [ping args] : 0 iff all COUNT replies came; PING_RX, PING_OUT
nn_ping() {
  local s=$1 d=$2 c=$3; shift 3
  PING_OUT=$(timeout $((c + 8)) ip netns exec "${NS[$s]}" ping -n -q -c "$c" -i 0.2 -W 1 "$@" "$d" 2>&1)
  PING_RX=$(sed -n 's/.*, \([0-9][0-9]*\) received.*/\1/p' <<<"$PING_OUT")
  PING_RX=${PING_RX:-0}
  [ "$PING_RX" = "$c" ]
}

# nn_reach SIDE DST SECS [ping args] : one ping at a time until one is answered, at most SECS seconds
nn_reach() {
  local s=$1 d=$2 end=$((SECONDS + $3)); shift 3
  while ((SECONDS < end)); do
    timeout 3 ip netns exec "${NS[$s]}" ping -n -q -c 1 -W 1 "$@" "$d" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}

# nn_pair_up TAG : namespaces, veth, keys, both daemons configured without peers. IMPL[A], IMPL[B] and
# NN_DIR must be set. On failure NN_ERR says why (nn_pair_down cleans up whatever was made).
nn_pair_up() {
  local tag=$1 s ns
  NS[A]="$NN_PREFIX$$-$tag-a"; NS[B]="$NN_PREFIX$$-$tag-b"
  for s in A B; do
    ns=${NS[$s]}
    ip netns add "$ns" || { NN_ERR="ip netns add $ns failed"; return 1; }
    ip -n "$ns" link set lo up
    # no DAD delay for v6; a secondary v4 address becomes primary when the primary goes (roaming checks)
    nn_in "$s" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
      net.ipv4.conf.all.promote_secondaries=1 net.ipv4.conf.default.promote_secondaries=1 >/dev/null
  done
  ip link add "$NN_UL" netns "${NS[A]}" type veth peer name "$NN_UL" netns "${NS[B]}" ||
    { NN_ERR="veth creation failed"; return 1; }
  for s in A B; do
    ip -n "${NS[$s]}" addr add "${UL4[$s]}/24" dev "$NN_UL" &&
      ip -n "${NS[$s]}" addr add "${UL6[$s]}/64" dev "$NN_UL" nodad &&
      ip -n "${NS[$s]}" link set "$NN_UL" up || { NN_ERR="underlay setup on $s failed"; return 1; }
  done
  ( umask 077; wg genkey >"$NN_DIR/A.key" && wg genkey >"$NN_DIR/B.key" &&
    wg genpsk >"$NN_DIR/psk1" && wg genpsk >"$NN_DIR/psk2" ) || { NN_ERR="key generation failed"; return 1; }
  PUB[A]=$(wg pubkey <"$NN_DIR/A.key"); PUB[B]=$(wg pubkey <"$NN_DIR/B.key")
  mkdir -p /var/run/wireguard    # mount point of the per-side bind mounts
  for s in A B; do
    nn_start "$s" && nn_configure "$s" || return 1
  done
}

# nn_pair_down : stop background jobs and daemons, delete the namespaces (and anything left in them)
nn_pair_down() {
  local p ns
  for p in "${NN_BG[@]}"; do nn_kill "$p"; done
  NN_BG=()
  nn_stop A; nn_stop B
  for ns in "${NS[A]:-}" "${NS[B]:-}"; do
    [ -n "$ns" ] && ip netns list 2>/dev/null | awk '{print $1}' | grep -qxF "$ns" || continue
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null
  done
  NS=()
  return 0
}
