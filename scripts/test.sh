#!/usr/bin/env bash
# Runs every test VeilTun has, as root on Debian 12: installs what it needs, builds, runs the xunit suite
# (namespace and wireguard-go interop tests included: VEILTUN_REQUIRE_ROOT=1 forbids skipping them) and the
# netns scripts in tests/interop/, then prints one line "N passed, N failed, N skipped" summed over all.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
log=$(mktemp -d /tmp/veiltun-test.XXXXXX)
trap 'rm -rf "$log"' EXIT

scripts/deps.sh || exit 1
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 VEILTUN_REQUIRE_ROOT=1
# The namespace tests drive the installed binary, as a user would: build and install it first.
scripts/install.sh || exit 1
dotnet restore --nologo -v q || exit 1
dotnet build -c Release --nologo -v q --no-restore || exit 1

status=0
# Every script-level check prints PASS/FAIL lines and ends with "N passed, N failed" in scripts.log.
: >"$log/scripts.log"

# Formatting: the tree must be exactly as `dotnet format` leaves it under .editorconfig.
if dotnet format VeilTun.slnx --verify-no-changes --no-restore -v q >"$log/format.log" 2>&1; then
    echo "PASS dotnet-format" | tee -a "$log/scripts.log"
    echo "1 passed, 0 failed" | tee -a "$log/scripts.log"
else
    { echo "FAIL dotnet-format: run 'dotnet format VeilTun.slnx'"; head -20 "$log/format.log"; } | tee -a "$log/scripts.log"
    echo "0 passed, 1 failed" | tee -a "$log/scripts.log"
    status=1
fi

dotnet test -c Release --no-build --nologo 2>&1 | tee "$log/dotnet-test.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

# Namespace scripts.
for t in tests/interop/*.sh; do
    [ -e "$t" ] || continue
    echo "== $t"
    t0=$SECONDS
    timeout 900 "$t" 2>&1 | tee -a "$log/scripts.log"
    [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
    echo "== $t took $((SECONDS - t0)) s (suite at $((SECONDS / 60)) min)"
done

# Fuzzing: corpus replay through every target, then each target briefly under afl-fuzz (~80 s in all).
echo "== fuzz/ci.sh"
timeout 300 fuzz/ci.sh 2>&1 | tee -a "$log/scripts.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

{
    sed -nE 's/.*Failed: +([0-9]+), Passed: +([0-9]+), Skipped: +([0-9]+).*/\2 \1 \3/p' "$log/dotnet-test.log"
    sed -nE 's/^([0-9]+) passed, ([0-9]+) failed(, ([0-9]+) skipped)?$/\1 \2 \4/p' "$log/scripts.log" | awk '{print $1, $2, ($3==""?0:$3)}'
} | awk '{p+=$1; f+=$2; s+=$3} END {printf "%d passed, %d failed, %d skipped\n", p, f, s}' | tee "$log/summary"
read -r _ _ failed _ <"$log/summary"
[ "${failed%,}" = "0" ] || status=1
exit $status
