#!/usr/bin/env bash
# Builds veiltun as one Native AOT executable and installs it as /usr/local/bin/veiltun (where wg-quick finds
# it through WG_QUICK_USERSPACE_IMPLEMENTATION=veiltun). The libsodium it loads is installed beside the real
# binary in /usr/local/lib/veiltun/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
out=$(mktemp -d /tmp/veiltun-publish.XXXXXX)
trap 'rm -rf "$out"' EXIT
# The binary is built for this machine's CPU (like -march=native): AVX2/AVX-512 cannot be used behind a runtime check
# in Native AOT, and the AVX-512 and AVX2 ChaCha20-Poly1305 backends need it. VEILTUN_ISA=x86-64-v3 builds a portable
# binary for CPUs with AVX2 (it gets the AVX2 backend), x86-64-v2 one for older CPUs (libcrypto's AEAD).
dotnet publish src/VeilTun.Cli -c Release -r linux-x64 -p:PublishAot=true -p:IlcInstructionSet="${VEILTUN_ISA:-native}" -o "$out" --nologo -v q
install -d /usr/local/lib/veiltun
install -m 0755 "$out/VeilTun.Cli" /usr/local/lib/veiltun/veiltun
install -m 0644 "$out/libsodium.so" /usr/local/lib/veiltun/libsodium.so
ln -sf /usr/local/lib/veiltun/veiltun /usr/local/bin/veiltun
/usr/local/bin/veiltun --version | head -1
