#!/usr/bin/env bash
# A bounded libFuzzer run (about a minute in all) of every parser that takes
# outside input: control messages, configuration, VMM command lines,
# /proc cgroup files, HTTP Accept-Encoding. See tests/fuzz/run.sh.
source "$(dirname "$0")/../lib.sh"
command -v clang >/dev/null || skip "clang not installed"
echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }' >"$TMP/t.c"
clang -fsanitize=fuzzer "$TMP/t.c" -o "$TMP/t" 2>/dev/null || skip "clang has no libFuzzer runtime"
BUILD=$BUILD FUZZ_SECONDS=${FUZZ_SECONDS:-12} bash "$ROOT/tests/fuzz/run.sh"
