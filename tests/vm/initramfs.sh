#!/usr/bin/env bash
# initramfs.sh KDIR: builds KDIR/initramfs.cpio.gz for the kernel that
# kernel.sh unpacked in KDIR: static busybox, tests/vm/init as /init, and
# the modules that init loads (9p, overlay, KVM, virtio-net), in
# dependency order.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
kdir=${1:?usage: initramfs.sh KDIR}
out=$kdir/initramfs.cpio.gz
exec 9>"$out.lock"
flock 9
if [ -f "$out" ] && [ "$out" -nt "$here/init" ] && [ "$out" -nt "$0" ]; then
	exit 0
fi
version=$(cat "$kdir/version")
busybox=$(command -v busybox || true)
[ -n "$busybox" ] && file -L "$busybox" 2>/dev/null | grep -q 'statically linked' || busybox=/bin/busybox
[ -x "$busybox" ] || { echo "initramfs.sh: static busybox missing (package busybox-static)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin" "$tmp/modules" "$tmp/proc" "$tmp/sys" "$tmp/dev"
cp "$busybox" "$tmp/bin/busybox"
cp "$here/init" "$tmp/init"
chmod 0755 "$tmp/init"

# insmod order: modprobe's own resolution against the unpacked tree.
: >"$tmp/modules.list"
for m in virtio_pci 9p 9pnet_virtio overlay virtio_net kvm_amd kvm_intel; do
	modprobe -d "$kdir/root" -S "$version" --show-depends "$m" 2>/dev/null |
		awk '$1 == "insmod" {print $2}'
done | awk '!seen[$0]++' | while read -r ko; do
	name=$(basename "$ko")
	cp "$ko" "$tmp/modules/$name"
	echo "$name" >>"$tmp/modules.list"
done
grep -q '^9p.ko$' "$tmp/modules.list" || grep -q '=y' <(grep -E '^CONFIG_9P_FS=' "$kdir/root/boot/config-$version") ||
	{ echo "initramfs.sh: kernel $version has no 9p" >&2; exit 1; }
(cd "$tmp" && find . | cpio -o -H newc --quiet | gzip -1) >"$out.tmp"
mv "$out.tmp" "$out"
