#!/usr/bin/env bash
# The demo tunnel: two VeilTun protocol engines in one process handshake and exchange packets over an
# in-memory wire, printing every message. (Needs only the .NET SDK; run as root on Debian 12.)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet run -c Release --project src/VeilTun.Cli -- demo --in-process
