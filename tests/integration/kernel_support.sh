#!/usr/bin/env bash
# cost: 15 (seconds in a VM under TCG: tests/run.sh balances its VMs by it)
# On a kernel that has what the BPF side needs (Linux 5.18 or later) the
# daemon starts; on an older one it refuses with one line naming each
# missing feature and the Linux version that brought it, and exits non-zero:
# never a verifier dump. (The kernel matrix runs this on each kernel.)
source "$(dirname "$0")/../lib.sh"
need_root; need_btf

rel=$(uname -r)
major=${rel%%.*}; minor=${rel#*.}; minor=${minor%%[!0-9]*}
if [ $((major * 1000 + minor)) -ge 5018 ]; then
	start_daemon
	api /healthz >/dev/null || fail "no /healthz"
	echo "kernel $rel: stealtimed started"
	exit 0
fi
timeout 60 "$BUILD/stealtimed" --listen "127.0.0.1:$(free_port)" --control-socket "$TMP/control.sock" \
	--pin-dir "/sys/fs/bpf/stealtime-test-$$" >"$TMP/daemon.log" 2>&1
rc=$?
cat "$TMP/daemon.log"
[ $rc -ne 124 ] || fail "stealtimed started on kernel $rel"
[ $rc -ne 0 ] || fail "stealtimed exited 0 on kernel $rel"
grep -qE "^<3>kernel $rel lacks .*\(Linux [0-9.]+\).*: stealtime needs Linux 5\.18 or later$" "$TMP/daemon.log" ||
	fail "no line naming what kernel $rel lacks"
! grep -qiE "verifier|PROG LOAD LOG|libbpf" "$TMP/daemon.log" || fail "a verifier or libbpf dump instead of one line"
[ "$(wc -l <"$TMP/daemon.log")" -le 2 ] || fail "more than the reason and the exit line"
echo "kernel $rel: refused in one line"
