# Shared by fuzz/run.sh and fuzz/ci.sh: tools, the instrumented build, afl's environment.
# Sourced from the repository root.

fuzz_tools() {
    if ! command -v afl-fuzz >/dev/null 2>&1; then
        apt-get install -y --no-install-recommends afl++ >/dev/null || { echo "cannot install afl++" >&2; return 1; }
    fi
    if [ ! -x fuzz/.tools/sharpfuzz ]; then
        dotnet tool install --tool-path fuzz/.tools SharpFuzz.CommandLine --version 2.3.0 >/dev/null \
            || { echo "cannot install the sharpfuzz tool" >&2; return 1; }
    fi
}

# fuzz_build DIR [campaign]: publishes the fuzz driver into DIR and instruments VeilTun.dll there (only the
# library: the driver, the BCL and Geralt are not instrumented, so afl's edges are VeilTun's). DIR.plain keeps the
# build before instrumentation: instrumented code needs afl's shared memory, so replays run the plain one.
# "campaign" builds the library with VeilTunFuzzingBuildMode (X25519 as a cheap stand-in, everything else real:
# the engine target's handshakes then cost microseconds instead of ~0.5 ms), in its own artifacts directory so
# the tree's normal build outputs are never replaced by it.
fuzz_build() {
    local dir=$1 mode=(-o "$1")
    [ "${2:-}" = campaign ] && mode+=(-p:VeilTunFuzzingBuildMode=true --artifacts-path "$dir.artifacts")
    rm -rf "$dir" "$dir.plain" && mkdir -p "$dir" || return 1
    dotnet publish fuzz/VeilTun.Fuzz -c Release "${mode[@]}" --nologo -v q >"$dir.log" 2>&1 \
        || { cat "$dir.log" >&2; return 1; }
    cp -a "$dir" "$dir.plain" || return 1
    fuzz/.tools/sharpfuzz "$dir/VeilTun.dll" >>"$dir.log" 2>&1 || { cat "$dir.log" >&2; return 1; }
}

# afl for a .NET target: no ELF instrumentation to check, no core_pattern or CPU governor changes on a shared box.
export AFL_SKIP_BIN_CHECK=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_AFFINITY=1
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_TieredPGO=0

# fuzz_stat FILE KEY: one value from afl's fuzzer_stats.
fuzz_stat() {
    sed -nE "s/^$2 +: (.*)$/\1/p" "$1" 2>/dev/null
}
