#!/usr/bin/env bash
# kernel.sh SERIES: fetches Debian's amd64 kernel package of SERIES into
# build/vm/kernels/SERIES (cached) and prints that folder, which then holds
#   vmlinuz   the kernel image
#   version   its uname -r
#   root/     the package unpacked (lib/modules/VERSION, modules uncompressed)
# SERIES: 5.10 (Debian 11), 6.1 (Debian 12), 6.12 (Debian 12 backports).
# apt-get runs on a sources list and state of its own under build/vm/apt;
# the system's apt configuration is read (for its mirror), never changed.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
series=${1:?usage: kernel.sh SERIES}
case $series in
5.10) suite=bullseye ;;
6.1) suite=bookworm ;;
6.12) suite=bookworm-backports ;;
*) echo "kernel.sh: unknown series $series (5.10, 6.1 or 6.12)" >&2; exit 2 ;;
esac
out=$BUILD/vm/kernels/$series
mkdir -p "$BUILD/vm/kernels"
exec 9>"$out.lock" # one fetch at a time per series (VMs start side by side)
flock 9
if [ -s "$out/version" ] && [ -f "$out/vmlinuz" ]; then
	echo "$out"
	exit 0
fi

# The Debian mirror the system already uses (deb822 or one-line format).
mirror() {
	local f u
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		u=$(awk '/^URIs:/ {for (i = 2; i <= NF; i++) if ($i !~ /security/) {print $i; exit}}' "$f")
		[ -n "$u" ] && { echo "${u%/}"; return; }
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		u=$(awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) {print $i; exit}}' "$f")
		[ -n "$u" ] && { echo "${u%/}"; return; }
	done
	echo "kernel.sh: no Debian mirror found in the system's apt sources" >&2
	exit 1
}

apt=$BUILD/vm/apt/$suite
mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$apt/etc/preferences.d"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(mirror) $suite main" >"$apt/etc/sources.list"
APT=(-o "Dir::Etc::SourceList=$apt/etc/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
	-o "Dir::Etc::Preferences=/dev/null" -o "Dir::Etc::PreferencesParts=$apt/etc/preferences.d"
	-o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt" -o "Dir::Cache::Archives=$apt/archives"
	-o "Dir::State::Status=/dev/null" -o "APT::Architecture=amd64" -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root")
apt-get -qq "${APT[@]}" update >&2
# The meta package names the newest kernel of the suite.
pkg=$(apt-cache "${APT[@]}" show linux-image-amd64 | awk -F': ' '/^Depends:/ {print $2}' |
	tr ',' '\n' | sed -n 's/^ *\(linux-image-[0-9][^ ]*-amd64\).*/\1/p' | sort -V | tail -n 1)
[ -n "$pkg" ] || { echo "kernel.sh: no linux-image-amd64 in $suite" >&2; exit 1; }
(cd "$apt/archives" && apt-get -qq "${APT[@]}" download "$pkg" >&2)
deb=$(ls -t "$apt/archives/${pkg}"_*.deb | head -n 1)

tmp=$out.tmp
rm -rf "$tmp"
mkdir -p "$tmp/root"
dpkg-deb -x "$deb" "$tmp/root"
version=${pkg#linux-image-}
[ -d "$tmp/root/lib/modules/$version" ] || { echo "kernel.sh: $deb has no lib/modules/$version" >&2; exit 1; }
# Newer packages compress their modules; modprobe and insmod want them plain.
find "$tmp/root/lib/modules/$version" -name '*.ko.xz' -exec xz -d {} +
find "$tmp/root/lib/modules/$version" -name '*.ko.zst' -exec sh -c 'for f; do zstd -q -d --rm "$f"; done' sh {} +
depmod -b "$tmp/root" "$version"
cp "$tmp/root/boot/vmlinuz-$version" "$tmp/vmlinuz"
echo "$version" >"$tmp/version"
rm -rf "$out"
mv "$tmp" "$out"
echo "$out"
