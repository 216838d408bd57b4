#!/usr/bin/env bash
# Builds every libFuzzer harness in tests/fuzz (clang, ASan+UBSan) and runs
# each for FUZZ_SECONDS (default 12) on a scratch copy of its seed corpus.
# A harness names what it links and its seeds in its header comment:
#   fuzz-sources: daemon/x.c ...      fuzz-corpus: tests/fuzz/corpus/x
# A crash fails the run and leaves its input in build/fuzz/: fix it, then
# keep the input in the corpus as a regression case.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
out=$BUILD/fuzz
secs=${FUZZ_SECONDS:-12}
mkdir -p "$out"
rc=0
for h in tests/fuzz/fuzz_*.c; do
	name=$(basename "$h" .c)
	srcs=$(sed -n 's/^ \* fuzz-sources: //p' "$h")
	corpus=$(sed -n 's/^ \* fuzz-corpus: //p' "$h")
	dict=()
	[ -f "tests/fuzz/${name#fuzz_}.dict" ] && dict=(-dict="tests/fuzz/${name#fuzz_}.dict")
	if ! clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -D_GNU_SOURCE \
		-Iinclude -Idaemon "$h" $srcs -ljansson -lsystemd -lz -o "$out/$name"; then
		echo "$name: build failed"; rc=1; continue
	fi
	scratch=$(mktemp -d)
	cp -r "$corpus"/. "$scratch"/
	if "$out/$name" -max_total_time="$secs" -artifact_prefix="$out/$name-" "${dict[@]}" \
		"$scratch" >"$out/$name.log" 2>&1; then
		echo "$name: $(grep -E '^#[0-9]+' "$out/$name.log" | tail -n 1 | awk '{print $1, "runs,", $3, $4}') in ${secs}s, no crash"
	else
		echo "$name: CRASH"; tail -n 30 "$out/$name.log"; rc=1
	fi
	rm -rf "$scratch"
done
exit $rc
