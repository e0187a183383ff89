#!/usr/bin/env bash
# The NuGet package as a .NET user gets it: packs src/VeilTun into a local folder feed, checks the package's
# metadata (licence, readme, repository and commit, Geralt for libsodium, XML docs, symbols), then creates a fresh
# console app, adds the package from the feed with `dotnet add package` and runs a two-peer in-memory tunnel
# through the public API only: the app exits 0 only if a packet sent into one tunnel comes out of the other, and
# the same app, told to drop every datagram on the wire, must fail. The app also compiles README.md's library
# example. No root, no network: Geralt and libsodium come from the machine's global packages folder (read as a
# fallback folder, so the package under test is extracted into a private folder and never cached where a later
# run would find a stale copy). Prints PASS/FAIL lines and "N passed, N failed".
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

pass=0 fail=0
ok() { pass=$((pass + 1)); printf 'PASS %s\n' "$1"; }
ko() { fail=$((fail + 1)); printf 'FAIL %s: %s\n' "$1" "${2//$'\n'/ | }"; }
check() { if [ "$2" = 0 ]; then ok "$1"; else ko "$1" "$3"; fi; }   # check NAME STATUS WHY

tmp=$(mktemp -d /tmp/veiltun-nuget.XXXXXX)
finish() {
    rm -rf "$tmp"
    echo "$pass passed, $fail failed"
}
trap finish EXIT
trap 'exit 1' INT TERM
start=$SECONDS

global=$(dotnet nuget locals global-packages --list 2>/dev/null | sed -n 's/^global-packages: //p')
global=${global%/}
[ -n "$global" ] || global=$HOME/.nuget/packages
version=$(dotnet msbuild "$root/src/VeilTun/VeilTun.csproj" -getProperty:Version 2>/dev/null)
[ -n "$version" ] || { ko version "cannot read the version from src/VeilTun"; exit 1; }

# 1. Pack, into a private artifacts path (the tree's bin/obj stay as the build left them).
feed=$tmp/feed
if ! timeout 300 dotnet pack "$root/src/VeilTun" -c Release -o "$feed" --artifacts-path "$tmp/artifacts" \
    --nologo -v q >"$tmp/pack.log" 2>&1; then
    ko pack "dotnet pack failed: $(tail -5 "$tmp/pack.log")"
    exit 1
fi
t_pack=$((SECONDS - start))
nupkg=$feed/VeilTun.$version.nupkg
[ -f "$nupkg" ] && [ -f "$feed/VeilTun.$version.snupkg" ]
check pack-nupkg-snupkg $? "expected VeilTun.$version.nupkg and .snupkg, got: $(ls "$feed")"

nuspec=$(unzip -p "$nupkg" VeilTun.nuspec 2>/dev/null)
files=$(unzip -Z1 "$nupkg" 2>/dev/null)
grep -q '<license type="expression">MIT</license>' <<<"$nuspec"
check nuspec-license-mit $? "no MIT licence expression"
grep -q '<readme>README.md</readme>' <<<"$nuspec" && grep -qx 'README.md' <<<"$files"
check nuspec-readme $? "no readme in the nuspec or the package"
commit=$(git -C "$root" rev-parse HEAD 2>/dev/null)
grep -Eq "<repository type=\"git\" url=\"https://[^\"]+\"[^>]* commit=\"$commit\"" <<<"$nuspec" && [ -n "$commit" ]
check nuspec-repository-commit $? "no repository url with commit ${commit:-?}: $(grep -o '<repository[^>]*>' <<<"$nuspec")"
grep -q '<dependency id="Geralt"' <<<"$nuspec"
check nuspec-geralt-dependency $? "Geralt (which brings libsodium) is not a dependency"
symbols=$(unzip -Z1 "$feed/VeilTun.$version.snupkg" 2>/dev/null)   # (not piped into grep -q: SIGPIPE + pipefail)
grep -qx 'lib/net10.0/VeilTun.dll' <<<"$files" && grep -qx 'lib/net10.0/VeilTun.xml' <<<"$files" &&
    grep -qx 'lib/net10.0/VeilTun.pdb' <<<"$symbols"
check package-dll-xmldocs-pdb $? "dll, XML docs or symbols missing: $files / $symbols"
# SourceLink: the PDB maps /_/ to the repository at this commit, and the path it was built in is not in it.
unzip -p "$feed/VeilTun.$version.snupkg" lib/net10.0/VeilTun.pdb >"$tmp/VeilTun.pdb" 2>/dev/null
links=$(grep -ac "\"/_/\*\":\"https://[^\"]*/$commit/\*\"" "$tmp/VeilTun.pdb")
paths=$(grep -ac -- "$root/" "$tmp/VeilTun.pdb")
[ -n "$commit" ] && [ "$links" = 1 ] && [ "$paths" = 0 ]
check symbols-sourcelink-deterministic $? "source link map for $commit: $links, build paths in the PDB: $paths"

# 2. A fresh console app that uses the package. Empty Directory.Build.* files stop MSBuild from looking above tmp.
app=$tmp/app
mkdir -p "$app" "$tmp/packages"
for f in Directory.Build.props Directory.Build.targets Directory.Packages.props; do echo '<Project />' >"$tmp/$f"; done
cat >"$tmp/nuget.config" <<EOF
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <add key="veiltun-local" value="$feed" />
  </packageSources>
  <fallbackPackageFolders>
    <add key="machine" value="$global" />
  </fallbackPackageFolders>
</configuration>
EOF
export NUGET_PACKAGES=$tmp/packages
if ! (cd "$app" && timeout 120 dotnet new console -n Consumer -o . --no-restore >"$tmp/new.log" 2>&1 &&
    timeout 120 dotnet add package VeilTun --version "$version" --source "$feed" >"$tmp/add.log" 2>&1); then
    ko consumer-add-package "$(tail -5 "$tmp/new.log" "$tmp/add.log" 2>/dev/null)"
    exit 1
fi
ok consumer-add-package
t_add=$((SECONDS - start - t_pack))

cat >"$app/Program.cs" <<'EOF'
// Two WireGuard tunnels in one process through VeilTun's public API: in-memory TUNs and an in-memory UDP network.
// Exit 0 only if an ICMP echo request injected into tunnel A's TUN comes out of tunnel B's TUN intact and B's
// reply comes back to A. With "--drop", the network loses every datagram, so nothing may arrive (exit 1).
using System.Buffers.Binary;
using System.Net;
using VeilTun.Crypto;
using VeilTun.Device;
using VeilTun.Tun;
using VeilTun.Udp;

if (args is ["--readme-example"]) await ReadmeExample(); // compiled so README.md's example stays true; never run here
bool drop = args is ["--drop"];
var wait = TimeSpan.FromSeconds(drop ? 3 : 10);
var network = new InMemoryNetwork();
if (drop) network.Filter = (_, _, _) => false;
using var keyA = SecretKey.Generate();
using var keyB = SecretKey.Generate();
var tunA = new InMemoryTun("consA");
var tunB = new InMemoryTun("consB");
IUdpTransport Bind(string address, int port) =>
    network.Bind(NetEndpoint.FromIPEndPoint(new IPEndPoint(IPAddress.Parse(address), port)));
using var a = new Tunnel(new TunnelOptions { Tun = tunA, BindUdp = port => Bind("198.51.100.1", port) });
using var b = new Tunnel(new TunnelOptions { Tun = tunB, BindUdp = port => Bind("198.51.100.2", port) });
a.Configure($"""
    [Interface]
    PrivateKey = {Convert.ToBase64String(keyA.Bytes)}
    ListenPort = 51820

    [Peer]
    PublicKey = {keyB.DerivePublicKey()}
    AllowedIPs = 192.0.2.2/32
    Endpoint = 198.51.100.2:51821
    """);
b.Configure($"""
    [Interface]
    PrivateKey = {Convert.ToBase64String(keyB.Bytes)}
    ListenPort = 51821

    [Peer]
    PublicKey = {keyA.DerivePublicKey()}
    AllowedIPs = 192.0.2.1/32
    """);
a.Start();
b.Start();

var request = Echo(8, "192.0.2.1", "192.0.2.2");
if (!tunA.Inject(request)) return Fail("A's TUN refused the packet");
if (!tunB.TryTake(out var received, wait)) return Fail("the echo request did not come out of tunnel B");
if (!received.AsSpan().SequenceEqual(request)) return Fail("the echo request came out of tunnel B altered");
var reply = Echo(0, "192.0.2.2", "192.0.2.1");
if (!tunB.Inject(reply)) return Fail("B's TUN refused the reply");
if (!tunA.TryTake(out var back, wait) || !back.AsSpan().SequenceEqual(reply)) return Fail("the reply did not come back to A");
var stats = a.GetPeerStats().Single();
Console.WriteLine($"OK: echo through the tunnel and back; A's peer {stats.PublicKey}: tx {stats.TxBytes} B, rx {stats.RxBytes} B");
return 0;

static async Task ReadmeExample()
{
    using var tunnel = new VeilTun.Device.Tunnel(new() { Tun = VeilTun.Tun.LinuxTun.Create("wg0") });
    tunnel.Configure(File.ReadAllText("/etc/wireguard/wg0.conf"));
    tunnel.EventRaised += e => Console.WriteLine($"{e.Kind} {e.Peer}");
    tunnel.Start();
    await tunnel.Stopped;
}

static int Fail(string why)
{
    Console.WriteLine($"FAILED: {why}");
    return 1;
}

// An IPv4 ICMP echo (type 8) or echo reply (type 0) with 32 bytes of payload and valid checksums.
static byte[] Echo(byte type, string source, string destination)
{
    var p = new byte[20 + 8 + 32];
    p[0] = 0x45;
    BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(2), (ushort)p.Length);
    p[8] = 64;
    p[9] = 1;
    IPAddress.Parse(source).TryWriteBytes(p.AsSpan(12, 4), out _);
    IPAddress.Parse(destination).TryWriteBytes(p.AsSpan(16, 4), out _);
    BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(10), Checksum(p.AsSpan(0, 20)));
    p[20] = type;
    BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(24), 0x7654);
    BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(26), 1);
    for (int i = 28; i < p.Length; i++) p[i] = (byte)i;
    BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(22), Checksum(p.AsSpan(20)));
    return p;
}

static ushort Checksum(ReadOnlySpan<byte> data)
{
    uint sum = 0;
    for (int i = 0; i + 1 < data.Length; i += 2) sum += BinaryPrimitives.ReadUInt16BigEndian(data[i..]);
    if ((data.Length & 1) != 0) sum += (uint)data[^1] << 8;
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
    return (ushort)~sum;
}
EOF

# 3. Build and run it.
if ! (cd "$app" && timeout 180 dotnet build -c Release --nologo -v q >"$tmp/build.log" 2>&1); then
    ko consumer-build "$(grep -E 'error|warn' "$tmp/build.log" | head -5)"
    exit 1
fi
ok consumer-build
t_build=$((SECONDS - start - t_pack - t_add))
sodium=$(find "$app/bin/Release" -name libsodium.so -path '*linux-x64*' | head -1)
[ -n "$sodium" ]
check consumer-gets-libsodium $? "no linux-x64 libsodium.so in the app's output (it comes through Geralt)"

out=$(cd "$app" && timeout 60 dotnet bin/Release/net10.0/Consumer.dll 2>&1)
rc=$?
echo "  $out"
check consumer-tunnel-delivers $rc "the consumer exited $rc: $out"
out=$(cd "$app" && timeout 60 dotnet bin/Release/net10.0/Consumer.dll --drop 2>&1)
rc=$?
[ "$rc" = 1 ] && grep -q '^FAILED: the echo request did not come out' <<<"$out"
check consumer-detects-loss $? "with every datagram dropped the consumer exited $rc, not 1: $out"
echo "  (VeilTun $version: pack ${t_pack} s, new + add package ${t_add} s, build ${t_build} s, all $((SECONDS - start)) s)"
[ "$fail" = 0 ]
