#!/usr/bin/env bash
# scripts/package-deb.sh [OUTDIR]: builds veiltun_<version>_<arch>.deb with dpkg-deb into OUTDIR (default dist/)
# and prints its path on the last line. Run as root on Debian 12 (it installs the build's dependencies).
#
# The package: the Native AOT binary in /usr/lib/veiltun/ with the libsodium it loads, /usr/bin/veiltun, the
# manual page veiltun(8), veiltun@.service (the daemon alone) and a drop-in that makes wg-quick@.service run
# veiltun where the kernel has no WireGuard.
#
# Instruction set: a package runs on CPUs other than the build machine's, so the binary is not built for `native`
# (as scripts/install.sh does) but for VEILTUN_ISA, default x86-64-v3 (AVX2: every x86-64 CPU since 2013-2015).
# Native AOT cannot use an instruction set above the one it was built for behind a run-time check, so the trade
# is: on an AVX-512 CPU this build uses the AVX2 ChaCha20-Poly1305 (the AVX-512 one is ~15-25 % faster per byte,
# docs/performance.md), and a CPU without AVX2 refuses to start it. VEILTUN_ISA=x86-64-v2 builds for those
# (ChaCha20-Poly1305 then comes from OpenSSL's libcrypto); VEILTUN_ISA=native gives a package for this CPU only.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$(realpath -m "${1:-dist}")
isa=${VEILTUN_ISA:-x86-64-v3}

scripts/deps.sh >&2
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

arch=$(dpkg --print-architecture)
case $arch in
amd64) rid=linux-x64 ;;
arm64) rid=linux-arm64 ;;
*) echo "package-deb: no .NET runtime identifier for $arch" >&2; exit 1 ;;
esac
# The one version, from the build (Directory.Build.props); a Debian version has no '+build' part.
version=$(dotnet msbuild src/VeilTun.Cli -getProperty:Version -nologo 2>/dev/null | tail -1)
version=${version%%+*}
[[ $version =~ ^[0-9][0-9A-Za-z.~-]*$ ]] || { echo "package-deb: bad version '$version'" >&2; exit 1; }
[ -f LICENSE ] || { echo "package-deb: LICENSE is missing" >&2; exit 1; }

work=$(mktemp -d /tmp/veiltun-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT
pub=$work/publish
pkg=$work/root
echo "package-deb: building veiltun $version for $rid ($isa)" >&2
dotnet publish src/VeilTun.Cli -c Release -r "$rid" -p:PublishAot=true -p:IlcInstructionSet="$isa" \
    -o "$pub" --nologo -v q >&2

# Timestamps from the last commit, so the same tree gives the same package.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || date +%s)}

install -d "$pkg/DEBIAN" "$pkg/usr/bin" "$pkg/usr/lib/veiltun" "$pkg/usr/share/man/man8" \
    "$pkg/usr/share/doc/veiltun" "$pkg/usr/lib/systemd/system/wg-quick@.service.d"
install -m 0755 "$pub/VeilTun.Cli" "$pkg/usr/lib/veiltun/veiltun"
install -m 0644 "$pub/libsodium.so" "$pkg/usr/lib/veiltun/libsodium.so"
strip --strip-unneeded "$pkg/usr/lib/veiltun/veiltun" 2>/dev/null || true
ln -s ../lib/veiltun/veiltun "$pkg/usr/bin/veiltun"
gzip -9n <packaging/man/veiltun.8 >"$pkg/usr/share/man/man8/veiltun.8.gz"
install -m 0644 packaging/systemd/veiltun@.service "$pkg/usr/lib/systemd/system/veiltun@.service"
install -m 0644 packaging/systemd/wg-quick@.service.d/veiltun.conf "$pkg/usr/lib/systemd/system/wg-quick@.service.d/veiltun.conf"
{
    echo "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
    echo "Upstream-Name: VeilTun"
    echo
    echo "Files: *"
    echo "Copyright: 2026 The VeilTun authors"
    echo "License: MIT"
    echo
    echo "License: MIT"
    # The licence text, indented as the format wants (an empty line becomes " .").
    sed -e 's/^$/./' -e 's/^/ /' LICENSE
} >"$pkg/usr/share/doc/veiltun/copyright"
chmod 0644 "$pkg/usr/share/doc/veiltun/copyright"
for s in postinst prerm postrm; do install -m 0755 "packaging/deb/$s" "$pkg/DEBIAN/$s"; done
size=$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" packaging/deb/control >"$pkg/DEBIAN/control"
find "$pkg" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

mkdir -p "$out"
deb=$out/veiltun_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$deb" >&2
echo "$deb"
