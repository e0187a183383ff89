#!/usr/bin/env bash
# src/VeilTun.Native/build.sh OUTDIR: builds libveiltun.so (Native AOT, a shared library) into OUTDIR with what a C
# host needs beside it: libsodium.so (which libveiltun.so opens from its own directory) and include/veiltun.h.
#
# Instruction set, as the daemon's (scripts/install.sh): VEILTUN_ISA, default `native` (this machine's CPU: Native
# AOT cannot use AVX2/AVX-512 behind a run-time check, and the vector ChaCha20-Poly1305 backends need them).
# VEILTUN_ISA=x86-64-v3 builds a portable library for CPUs with AVX2 (as scripts/package-deb.sh does),
# x86-64-v2 one for older CPUs (ChaCha20-Poly1305 from OpenSSL's libcrypto). VEILTUN_RID picks another runtime
# identifier (default linux-x64; linux-arm64 needs a cross linker: tests/interop/arm64.sh installs it and builds one).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$(realpath -m "${1:?usage: build.sh OUTDIR}")
rid=${VEILTUN_RID:-linux-x64}
# "native" means this machine's CPU: only for a build for this machine's architecture. A cross build (linux-arm64
# on x64) takes the target's baseline (ARMv8-A: AdvSimd included) unless VEILTUN_ISA names one.
case $rid in linux-x64) isa=${VEILTUN_ISA:-native} ;; *) isa=${VEILTUN_ISA:-} ;; esac
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
mkdir -p "$out/include"
dotnet publish "$here" -c Release -r "$rid" ${isa:+-p:IlcInstructionSet="$isa"} -o "$out" --nologo -v q
install -m 0644 "$here/include/veiltun.h" "$out/include/veiltun.h"
# The managed leftovers of a publish are not part of the C library.
rm -f "$out"/*.pdb "$out"/*.json "$out"/*.xml
echo "$out/libveiltun.so"
