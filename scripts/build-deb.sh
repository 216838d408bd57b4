#!/usr/bin/env bash
# build-deb.sh OUTDIR VERSION: the Debian packages (debian/) in OUTDIR.
# Installs what is missing to build them (install-deps.sh), copies the
# sources to OUTDIR/stealtime-VERSION (the tree itself stays clean), runs
# dpkg-buildpackage -b there (the .deb files land in OUTDIR), then lintian:
# an error fails, warnings are listed.
set -euo pipefail
out=$1 version=$2
cd "$(dirname "$0")/.."

changelog_version=$(dpkg-parsechangelog -l debian/changelog -S Version 2>/dev/null || sed -n '1s/.*(\(.*\)).*/\1/p' debian/changelog)
[ "$changelog_version" = "$version" ] ||
	{ echo "build-deb.sh: debian/changelog says $changelog_version, the Makefile VERSION $version" >&2; exit 1; }

# what dpkg-buildpackage needs, and the Build-Depends of debian/control
need=(dpkg-dev debhelper lintian)
while read -r p; do need+=("$p"); done < <(
	sed -n '/^Build-Depends:/,/^[A-Z]/p' debian/control | sed '$d' | sed 's/^Build-Depends://' |
		tr ',' '\n' | sed 's/(.*)//; s/[[:space:]]//g' | grep -v '^$' | grep -v '^debhelper-compat$')
bash scripts/install-deps.sh "${need[@]}"

mkdir -p "$out"
out=$(cd "$out" && pwd)
# the package's build sets its own: nothing of the caller's make (BUILD,
# PREFIX, ... in the environment or in MAKEFLAGS) reaches it
unset MAKEFLAGS MFLAGS MAKELEVEL BUILD PREFIX DESTDIR SBINDIR BINDIR LIBDIR INCLUDEDIR MANDIR \
	PKGCONFIGDIR UNITDIR TMPFILESDIR VERSION INSTALL_DEPS OPTFLAGS EXTRA_CFLAGS CC CLANG BPFTOOL V
src=$out/stealtime-$version
rm -rf "$src" "$out"/*.deb "$out"/*.ddeb "$out"/*.changes "$out"/*.buildinfo
mkdir -p "$src"
tar -c Makefile README.md bpf config ctl daemon debian include man scripts systemd vmmlib |
	tar -x -C "$src"

echo "  DEB      $out (dpkg-buildpackage -b, log in $out/build.log)"
if ! (cd "$src" && dpkg-buildpackage -b -us -uc) >"$out/build.log" 2>&1; then
	tail -n 40 "$out/build.log" >&2
	echo "build-deb.sh: dpkg-buildpackage failed (whole log: $out/build.log)" >&2
	exit 1
fi
rm -rf "$src"

changes=$(ls "$out"/stealtime_"$version"_*.changes)
echo "  LINTIAN  $(basename "$changes")"
lintian --fail-on error "$changes" >"$out/lintian.log" 2>&1 && rc=0 || rc=$?
grep -v "running with root privileges" "$out/lintian.log" | sed "s/^/    /" || true
if [ $rc -ne 0 ]; then
	echo "build-deb.sh: lintian found errors" >&2
	exit 1
fi
ls "$out"/*.deb | sed 's/^/  OUT      /'
