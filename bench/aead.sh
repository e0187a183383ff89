#!/usr/bin/env bash
# bench/aead.sh — ChaCha20-Poly1305 per-packet cost on one core against `openssl speed` (the target:
# mean of seal and open GB/s at 1420 B >= 0.7 x `openssl speed -evp chacha20-poly1305 -bytes 1420`).
# Run by hand, not in CI. Each repetition measures, back to back: `openssl speed` (OpenSSL streaming one long
# message through one context, no per-packet nonce/final/tag), bench/aead/evp_sequence.c (the exact per-packet
# EVP call sequence VeilTun's libcrypto backend makes, in C: OpenSSL's own per-packet cost) and VeilTun's
# AeadBenchmarks (BenchmarkDotNet, short job) on its default backend (AVX-512 where the CPU has it, else AVX2), on
# the AVX2 backend (where the CPU has AVX2) and on libcrypto. Prints medians and the ratios. Needs gcc, libssl-dev
# and jq (installed when missing).
#
#   bench/aead.sh                   # 3 repetitions, 1420 B: about 8 minutes
#   VT_REPS=5 bench/aead.sh
set -eu -o pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
: "${VT_REPS:=3}"
LEN=1420
say() { echo "aead.sh: $*" >&2; }

if ! command -v gcc >/dev/null || ! command -v jq >/dev/null || [ ! -e /usr/include/openssl/evp.h ]; then
  say "installing gcc libssl-dev jq"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends gcc libc6-dev libssl-dev jq >/dev/null
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
gcc -O2 -Wall -o "$tmp/evp_sequence" bench/aead/evp_sequence.c -lcrypto
dotnet build -c Release bench/VeilTun.Benchmarks >/dev/null

median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }

# bdn NAME BACKEND: one short BenchmarkDotNet run of AeadBenchmarks at 1420 B with VEILTUN_AEAD=BACKEND; appends
# the means (ns, from the JSON exporter) to $tmp/NAME_seal and $tmp/NAME_open.
bdn() {
  local name=$1 backend=$2 json
  VEILTUN_AEAD=$backend dotnet run -c Release --no-build --project bench/VeilTun.Benchmarks -- \
    --filter '*AeadBenchmarks.*1420*' --job short --exporters json --artifacts "$tmp/bdn" >"$tmp/bdn.log"
  json=$(ls "$tmp"/bdn/results/*AeadBenchmarks-report-full-compressed.json 2>/dev/null || ls "$tmp"/bdn/results/*AeadBenchmarks*.json | head -1)
  # Statistics.Mean is in nanoseconds.
  jq -r '.Benchmarks[] | select(.Method == "Seal1420InPlace") | .Statistics.Mean * 10 | round / 10' "$json" >>"$tmp/${name}_seal"
  jq -r '.Benchmarks[] | select(.Method == "Open1420InPlace") | .Statistics.Mean * 10 | round / 10' "$json" >>"$tmp/${name}_open"
  grep -q . "$tmp/${name}_seal" || { cat "$tmp/bdn.log" >&2; exit 1; }
  rm -rf "$tmp/bdn"
}

avx2=false; grep -qw avx2 /proc/cpuinfo && avx2=true
for ((r = 1; r <= VT_REPS; r++)); do
  say "repetition $r/$VT_REPS"
  openssl speed -evp chacha20-poly1305 -bytes $LEN -seconds 3 2>/dev/null | tail -1 \
    | awk '{v=$NF; sub("k","",v); printf "%.4f\n", v*1000/1e9}' >>"$tmp/speed"          # GB/s
  read -r c_ctrl c_params c_open < <("$tmp/evp_sequence" $LEN 3000)
  echo "$c_ctrl" >>"$tmp/c_seal_ctrl"; echo "$c_params" >>"$tmp/c_seal"; echo "$c_open" >>"$tmp/c_open"
  bdn vt ""            # the default backend (AVX-512 where the CPU has it, else AVX2)
  $avx2 && bdn vtavx2 avx2  # VeilTun's AVX2 backend
  bdn vtssl openssl     # VeilTun's libcrypto EVP backend
  say "  openssl speed $(tail -1 "$tmp/speed") GB/s; C seal/open $c_params/$c_open ns;" \
    "VeilTun seal/open $(tail -1 "$tmp/vt_seal")/$(tail -1 "$tmp/vt_open") ns," \
    "on AVX2 $(tail -1 "$tmp/vtavx2_seal" 2>/dev/null)/$(tail -1 "$tmp/vtavx2_open" 2>/dev/null) ns," \
    "on libcrypto $(tail -1 "$tmp/vtssl_seal")/$(tail -1 "$tmp/vtssl_open") ns"
done

speed=$(median <"$tmp/speed")
gbps() { awk -v l=$LEN -v ns="$1" 'BEGIN {printf "%.3f", l/ns}'; }
mean_ratio() { awk -v l=$LEN -v s="$1" -v o="$2" -v sp="$speed" 'BEGIN {printf "%.2f", ((l/s)+(l/o))/2/sp}'; }
c_seal_ctrl=$(median <"$tmp/c_seal_ctrl"); c_seal=$(median <"$tmp/c_seal"); c_open=$(median <"$tmp/c_open")
vt_seal=$(median <"$tmp/vt_seal"); vt_open=$(median <"$tmp/vt_open")
vtssl_seal=$(median <"$tmp/vtssl_seal"); vtssl_open=$(median <"$tmp/vtssl_open")
cat <<REPORT
## AEAD at $LEN B, one core ($(date -u +%Y-%m-%d), $(nproc) cores, $(openssl version | cut -d' ' -f1-2), medians of $VT_REPS)

| what | seal ns | open ns | mean GB/s | x openssl speed |
|---|---|---|---|---|
| openssl speed -evp (streaming, no per-packet work) | | | $speed | 1.00 |
| C, VeilTun's EVP sequence, tag via ctrl | $c_seal_ctrl | | $(gbps "$c_seal_ctrl") (seal) | |
| C, VeilTun's EVP sequence, tag via params | $c_seal | $c_open | $(awk -v l=$LEN -v s="$c_seal" -v o="$c_open" 'BEGIN {printf "%.3f", ((l/s)+(l/o))/2}') | $(mean_ratio "$c_seal" "$c_open") |
| VeilTun ChaCha20Poly1305Context on libcrypto (VEILTUN_AEAD=openssl) | $vtssl_seal | $vtssl_open | $(awk -v l=$LEN -v s="$vtssl_seal" -v o="$vtssl_open" 'BEGIN {printf "%.3f", ((l/s)+(l/o))/2}') | $(mean_ratio "$vtssl_seal" "$vtssl_open") |
| VeilTun ChaCha20Poly1305Context, default (AVX-512 here: $(grep -q avx512f /proc/cpuinfo && echo yes || echo no)) | $vt_seal | $vt_open | $(awk -v l=$LEN -v s="$vt_seal" -v o="$vt_open" 'BEGIN {printf "%.3f", ((l/s)+(l/o))/2}') | $(mean_ratio "$vt_seal" "$vt_open") |
REPORT
if $avx2; then
  vtavx2_seal=$(median <"$tmp/vtavx2_seal"); vtavx2_open=$(median <"$tmp/vtavx2_open")
  echo "| VeilTun ChaCha20Poly1305Context on AVX2 (VEILTUN_AEAD=avx2) | $vtavx2_seal | $vtavx2_open | $(awk -v l=$LEN -v s="$vtavx2_seal" -v o="$vtavx2_open" 'BEGIN {printf "%.3f", ((l/s)+(l/o))/2}') | $(mean_ratio "$vtavx2_seal" "$vtavx2_open") |"
fi
