#!/usr/bin/env bash
# build_release.sh NAME: builds stealtimed as an older release had it into
# $BUILD/releases/NAME/stealtimed (from this repository's history, through
# git archive), unless it is there already; for the tests that upgrade
# from it. Exit 77 when the history is not at hand (a source tarball).
#   layout1   the last commit whose pinned state has layout 1
#   layout2   the last release with layout 2 (no cpu_waiting, 40-byte bindings)
set -euo pipefail
declare -A commits=([layout1]=65be705856e98a6e4d1ab46aacec38299c194994
	[layout2]=9162fb2e444f25353a79096622ed05291336fe32)
name=$1
commit=${commits[$name]:?unknown release $name}
root=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$root/$BUILD ;; esac
dir=$BUILD/releases/$name
mkdir -p "$BUILD/releases"
exec 9>"$dir.lock"
flock 9 # VMs of the kernel matrix may build it at the same time
[ -x "$dir/stealtimed" ] && exit 0
git -C "$root" cat-file -e "$commit^{commit}" 2>/dev/null || { echo "no commit $commit in $root" >&2; exit 77; }
rm -rf "$dir.src" && mkdir -p "$dir.src" "$dir"
git -C "$root" archive "$commit" | tar -x -C "$dir.src"
make -C "$dir.src" -j"$(nproc)" BUILD=build build/stealtimed >"$dir.log" 2>&1 || { tail -20 "$dir.log" >&2; exit 1; }
cp "$dir.src/build/stealtimed" "$dir/stealtimed"
rm -rf "$dir.src"
