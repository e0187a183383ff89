# Shared helpers of the benchmark scripts (throughput.sh, features.sh). Sourced, never run.
# The sourcing script provides: say MESSAGE (progress to stderr), STOP_TIMEOUT (seconds), PREFIX (its namespace
# prefix, e.g. vtb-).

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
