#!/usr/bin/env bash
# Installs what the demo and the tests need on Debian 12 (as root), only if something is missing.
# --no-install-recommends matters: without it wireguard-tools pulls in a kernel image.
set -euo pipefail
pkgs=(wireguard-go wireguard-tools iperf3 iputils-ping iproute2 tshark jq nftables openssl libssl3 clang zlib1g-dev gcc libc6-dev procps afl++ python3-prometheus-client)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
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
