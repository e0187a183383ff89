#!/usr/bin/env bash
# src/VeilTun.Native/build.sh OUTDIR: builds libveiltun.so (Native AOT, a shared library) into OUTDIR with what a C
# host needs beside it: libsodium.so (which libveiltun.so opens from its own directory) and include/veiltun.h.
#
# Instruction set, as the daemon's (scripts/install.sh): VEILTUN_ISA, default `native` (this machine's CPU: Native
# AOT cannot use AVX2/AVX-512 behind a run-time check, and the vector ChaCha20-Poly1305 backends need them).
# VEILTUN_ISA=x86-64-v3 builds a portable library for CPUs with AVX2 (as scripts/package-deb.sh does),
# x86-64-v2 one for older CPUs (ChaCha20-Poly1305 from OpenSSL's libcrypto). VEILTUN_RID picks another runtime
# identifier (default linux-x64; linux-arm64 needs a cross linker, and takes VEILTUN_ISA=armv8-a or similar).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$(realpath -m "${1:?usage: build.sh OUTDIR}")
rid=${VEILTUN_RID:-linux-x64}
isa=${VEILTUN_ISA:-native}
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
mkdir -p "$out/include"
dotnet publish "$here" -c Release -r "$rid" -p:IlcInstructionSet="$isa" -o "$out" --nologo -v q
install -m 0644 "$here/include/veiltun.h" "$out/include/veiltun.h"
# The managed leftovers of a publish are not part of the C library.
rm -f "$out"/*.pdb "$out"/*.json "$out"/*.xml
echo "$out/libveiltun.so"
