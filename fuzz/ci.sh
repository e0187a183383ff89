#!/usr/bin/env bash
# fuzz/ci.sh: the fuzzing share of CI, under ~80 s wall-clock in all.
#  1. Replays every committed corpus file (fuzz/corpus/*/*) through every target, in process, on the plain build:
#     a target may not throw anything it does not expect, and each input must finish within 2 s.
#  2. Fuzzes each target briefly under afl-fuzz with a fixed seed (-s 1), from its corpus; any crash or hang fails.
#     The fuzzing time is split evenly over the targets from what is left of FUZZ_CI_SECONDS (default 70, counted
#     from after the tools are installed: publishing, instrumenting and replaying come out of it; at most 9 s each).
# Prints a PASS/FAIL line per check and ends with "N passed, N failed". Findings are kept under $work on failure.
set -uo pipefail
cd "$(dirname "$0")/.."
. fuzz/lib.bash
budget=${FUZZ_CI_SECONDS:-70}
work=$(mktemp -d /tmp/veiltun-fuzz-ci.XXXXXX)
passed=0 failed=0
pass() { echo "PASS $*"; passed=$((passed + 1)); }
fail() { echo "FAIL $*"; failed=$((failed + 1)); }
finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ] && rm -rf "$work"
    [ "$failed" -eq 0 ]
    exit
}

fuzz_tools || { fail "fuzz-tools: afl++ or sharpfuzz missing"; finish; }
start=$SECONDS
fuzz_build "$work/bin" || { fail "fuzz-build"; finish; }

# 1. Replay (the driver prints its own PASS/FAIL per target; its summary line is ours to print).
"$work/bin.plain/VeilTun.Fuzz" replay all fuzz/corpus >"$work/replay.log" 2>&1
while IFS= read -r line; do
    case $line in
        "PASS "*) pass "${line#PASS }" ;;
        "FAIL "*) fail "${line#FAIL }" ;;
    esac
done < <(grep -E '^(PASS|FAIL) ' "$work/replay.log")
grep -qE '^(PASS|FAIL) ' "$work/replay.log" || { fail "replay: no result"; tail -20 "$work/replay.log"; }

# 2. Brief afl-fuzz runs.
targets=($("$work/bin.plain/VeilTun.Fuzz" list))
left=${#targets[@]}
for t in "${targets[@]}"; do
    remaining=$((budget - (SECONDS - start)))
    each=$((remaining / left))
    [ "$each" -gt 9 ] && each=9
    left=$((left - 1))
    if [ "$each" -lt 2 ]; then
        fail "fuzz $t: no time left in the ${budget} s budget"
        continue
    fi
    # afl aborts a start now and then with "No instrumentation detected" on its first dry-run execution: seen only
    # with the daita target, on any input (a 4-byte one too), any -t, with or without tiered compilation, in about
    # 1 of 3 starts on a loaded machine and never once a start got past it (fuzz/README.md). Not a finding about
    # VeilTun: such a start is retried, at most twice, and the PASS line says so.
    starts=0
    while :; do
        starts=$((starts + 1))
        rm -rf "${work:?}/$t"
        AFL_NO_UI=1 timeout $((each + 30)) afl-fuzz -i "fuzz/corpus/$t" -o "$work/$t" -s 1 -V "$each" -t 3000 -m none \
            -- "$work/bin/VeilTun.Fuzz" "$t" >"$work/$t.log" 2>&1
        [ "$starts" -lt 3 ] && grep -q 'No instrumentation detected' "$work/$t.log" || break
        echo "fuzz $t: afl's dry run saw no instrumentation (start $starts): starting again" >&2
    done
    stats=$work/$t/default/fuzzer_stats
    execs=$(fuzz_stat "$stats" execs_done)
    crashes=$(fuzz_stat "$stats" saved_crashes)
    hangs=$(fuzz_stat "$stats" saved_hangs)
    summary="$execs execs in ${each} s, $(fuzz_stat "$stats" execs_per_sec) exec/s, $(fuzz_stat "$stats" edges_found) edges"
    if [ -z "$execs" ] || [ "$execs" -eq 0 ]; then
        fail "fuzz $t: afl-fuzz did not run"
        tail -5 "$work/$t.log"
    elif [ "$crashes" != 0 ] || [ "$hangs" != 0 ]; then
        fail "fuzz $t: $crashes crashes, $hangs hangs ($summary); inputs in $work/$t/default/{crashes,hangs}"
        for f in "$work/$t/default/crashes"/id* "$work/$t/default/hangs"/id*; do
            [ -e "$f" ] || continue
            echo "  $f: $(base64 -w0 "$f" | head -c 400)"
            "$work/bin.plain/VeilTun.Fuzz" replay "$t" "$f" 2>&1 | grep -E '^(FAIL|PASS) ' | head -c 2000
            break
        done
    else
        pass "fuzz $t: $summary$([ "$starts" -gt 1 ] && echo " (afl started $starts times: no instrumentation seen on the first dry run)")"
    fi
done
echo "fuzz/ci.sh: $((SECONDS - start)) s" >&2
finish
