#!/usr/bin/env bash
# fuzz/run.sh TARGET [SECONDS]: fuzzes one target under afl-fuzz (installs afl++ and the sharpfuzz tool if
# missing, publishes and instruments the driver). SECONDS (default: until Ctrl-C) bounds the run. Findings and
# afl's queue stay in fuzz/out/TARGET (git-ignored); a second run resumes there. Prints afl's totals at the end.
# Targets: engine uapi wgconfig daita offload reassembly unwrap (see fuzz/README.md).
set -uo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: fuzz/run.sh TARGET [SECONDS]}
seconds=${2:-0}
[ -d "fuzz/corpus/$target" ] || { echo "no corpus for target '$target'" >&2; exit 2; }
. fuzz/lib.bash
fuzz_tools || exit 1
bin=fuzz/out/bin
# Campaign build (X25519 stand-in, fuzz/lib.bash) unless FUZZ_REAL_CRYPTO=1; fuzz/ci.sh always uses real crypto.
if [ "${FUZZ_REAL_CRYPTO:-0}" = 1 ]; then fuzz_build "$bin" || exit 1; else fuzz_build "$bin" campaign || exit 1; fi

out=fuzz/out/$target
mkdir -p "$out"
args=(-i "fuzz/corpus/$target" -o "$out" -t "${FUZZ_TIMEOUT_MS:-2000}" -m none)
[ "$seconds" -gt 0 ] && args+=(-V "$seconds")
[ -t 1 ] || export AFL_NO_UI=1
export AFL_AUTORESUME=1
afl-fuzz "${args[@]}" -- "$bin/VeilTun.Fuzz" "$target"
rc=$?
stats=$out/default/fuzzer_stats
if [ -f "$stats" ]; then
    printf '%s: %s execs, %s exec/s, %s run_time s, edges %s (%s), corpus %s, crashes %s, hangs %s\n' "$target" \
        "$(fuzz_stat "$stats" execs_done)" "$(fuzz_stat "$stats" execs_per_sec)" "$(fuzz_stat "$stats" run_time)" \
        "$(fuzz_stat "$stats" edges_found)" "$(fuzz_stat "$stats" bitmap_cvg)" "$(fuzz_stat "$stats" corpus_count)" \
        "$(fuzz_stat "$stats" saved_crashes)" "$(fuzz_stat "$stats" saved_hangs)"
fi
exit $rc
