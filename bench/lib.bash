# Shared helpers of the benchmark scripts (throughput.sh, features.sh). Sourced, never run.
# The sourcing script provides: say MESSAGE (progress to stderr), STOP_TIMEOUT (seconds), PREFIX (its namespace
# prefix, e.g. vtb-), SCRIPT_NAME; for cleanup also TMP, FAILED, VT_KEEP_TMP, T_START, CLI_PID, SRV_PID,
# DAEMONS/PID (the daemons it started) and NSLIST (the namespaces it created).

# kill_pid PID: SIGTERM, wait up to STOP_TIMEOUT, then SIGKILL. Only ever given PIDs the script started or found
# in its own namespaces.
kill_pid() {
  local pid=$1 i
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
  for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  return 0
}

# clean_stale: namespaces PREFIX<pid>-* left by an earlier run of the same script that was killed (its PID is gone).
clean_stale() {
  local ns id pid
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
    [[ $ns =~ ^${PREFIX}([0-9]+)- ]] || continue
    id=${BASH_REMATCH[1]}
    [ "$id" = $$ ] && continue
    kill -0 "$id" 2>/dev/null && continue
    say "removing stale namespace $ns"
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill_pid "$pid"; done
    ip netns del "$ns" 2>/dev/null
  done
}

# ticks PID -> REPLY = utime + stime of the process (all its threads), in clock ticks; 0 if it is gone
ticks() {
  local line rest; local -a f
  REPLY=0
  { read -r line < "/proc/$1/stat"; } 2>/dev/null || return 0
  rest=${line##*) }                # the command name may contain spaces and parentheses
  read -r -a f <<< "$rest"         # f[0] is field 3 (state): utime = field 14 = f[11], stime = f[12]
  REPLY=$((f[11] + f[12]))
}

# ping_until NS DST SECONDS: one ping a second inside namespace NS until DST answers.
ping_until() {
  local ns=$1 dst=$2 end=$((SECONDS + $3))
  while ((SECONDS < end)); do
    timeout 3 ip netns exec "$ns" ping -n -q -c 1 -W 1 "$dst" >/dev/null 2>&1 && return 0
  done
  return 1
}

# cleanup: the EXIT trap. Stops iperf3 and the daemons, deletes only our namespaces, keeps TMP when asked or when
# something failed, and exits with the script's status.
cleanup() {
  local rc=$? k ns pid
  set +e
  trap - EXIT INT TERM
  kill_pid "$CLI_PID"; kill_pid "$SRV_PID"
  for k in "${DAEMONS[@]}"; do kill_pid "${PID[$k]:-}"; done
  for ns in "${NSLIST[@]}"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill_pid "$pid"; done
    ip netns del "$ns" 2>/dev/null
  done
  if [ -n "$TMP" ] && [ -d "$TMP" ]; then
    if [ "$VT_KEEP_TMP" = 1 ] || [ "$rc" -ne 0 ] || [ "$FAILED" -ne 0 ]; then
      echo "$SCRIPT_NAME: logs and iperf3 JSON kept in $TMP" >&2
    else
      rm -rf "$TMP"
    fi
  fi
  echo "$SCRIPT_NAME: total runtime $((SECONDS - T_START)) s" >&2
  exit "$rc"
}
