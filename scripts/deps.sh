#!/usr/bin/env bash
# Installs what the demo and the tests need on Debian 12 (as root), only if something is missing.
# --no-install-recommends matters: without it wireguard-tools pulls in a kernel image.
set -euo pipefail
pkgs=(wireguard-go wireguard-tools iperf3 iputils-ping iproute2 tshark jq nftables openssl libssl3 clang zlib1g-dev gcc libc6-dev procps afl++ python3-prometheus-client)
missing=()
# Installed for this machine's architecture (or arch-independent): with a foreign architecture added (arm64 for
# tests/interop/arm64.sh) `dpkg -s libssl3` fails as ambiguous, so ask dpkg-query for every instance instead.
arch=$(dpkg --print-architecture)
installed() { dpkg-query -W -f='${db:Status-Abbrev} ${Architecture}\n' "$1" 2>/dev/null | grep -Eq "^ii +($arch|all)\$"; }
for p in "${pkgs[@]}"; do installed "$p" || missing+=("$p"); done
if ((${#missing[@]})); then
    echo "deps: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! command -v dotnet >/dev/null; then
    echo "deps: the .NET 10 SDK is required (https://learn.microsoft.com/dotnet/core/install/linux-debian)" >&2
    exit 1
fi
