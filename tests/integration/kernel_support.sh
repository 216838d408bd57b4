#!/usr/bin/env bash
# cost: 20 (seconds in a VM under TCG: tests/run.sh balances its VMs by it)
# On every kernel from 5.10 the daemon starts, and picks the twins of its
# kernel-dependent programs from what the kernel has (bpf/core_fixes.bpf.h):
# sched_switch's prev_state from 5.18, task storage from 5.11, kvm's BTF
# where kvm is built in or its module has BTF (5.11). A kernel that lacks
# something with no fallback (here: BTF, taken away with STEALTIMED_WITHOUT)
# is refused with one line naming it and the Linux version that brought it,
# never a verifier dump. (The kernel matrix runs this on each kernel.)
source "$(dirname "$0")/../lib.sh"
need_root; need_btf

rel=$(uname -r)
major=${rel%%.*}; minor=${rel#*.}; minor=${minor%%[!0-9]*}
ver=$((major * 1000 + minor))

start_daemon
api /healthz >/dev/null || fail "no /healthz"
line=$(grep -m1 "BPF programs attached" "$TMP/daemon.log") || fail "no 'BPF programs attached' line"
note "$line"
want_switch="with prev_state"; [ $ver -ge 5018 ] || want_switch="reading prev's state"
want_home="task storage"; [ $ver -ge 5011 ] || want_home="a tid hash"
grep -q "sched_switch $want_switch, bindings in $want_home," <<<"$line" ||
	fail "kernel $rel: want sched_switch $want_switch and bindings in $want_home"
kvm_btf=0
[ -e /sys/kernel/btf/kvm ] && kvm_btf=1
[ -d /sys/module/kvm ] && [ ! -e /sys/module/kvm/refcnt ] && kvm_btf=1 # built in
want_kvm="kvm_entry"; [ $kvm_btf = 1 ] && [ $ver -ge 5011 ] && want_kvm="kvm's BTF"
grep -q "vCPU threads from $want_kvm" <<<"$line" || fail "kernel $rel: want vCPU threads from $want_kvm"
stop_daemon
desc=${line#*generation *; }
echo "kernel $rel: stealtimed started (${desc%%); maps*})"

# no fallback for BTF: one line, non-zero exit
STEALTIMED_WITHOUT=btf timeout 60 "$BUILD/stealtimed" --listen "127.0.0.1:$(free_port)" \
	--control-socket "$TMP/control.sock" --pin-dir "/sys/fs/bpf/stealtime-test-$$" \
	>"$TMP/refused.log" 2>&1
rc=$?
cat "$TMP/refused.log"
[ $rc -ne 124 ] || fail "stealtimed started without BTF"
[ $rc -ne 0 ] || fail "stealtimed exited 0 without BTF"
rel_re=$(sed 's/[].+*?^$()[]/\\&/g' <<<"$rel") # Debian's 6.12: 6.12.95+deb12-amd64
grep -qE "^<3>kernel $rel_re lacks BTF \(.*\): stealtime needs Linux 5\.10 or later$" "$TMP/refused.log" ||
	fail "no line naming what kernel $rel lacks"
! grep -qiE "verifier|PROG LOAD LOG|libbpf" "$TMP/refused.log" || fail "a verifier or libbpf dump instead of one line"
[ "$(wc -l <"$TMP/refused.log")" -le 2 ] || fail "more than the reason and the exit line"
echo "without BTF: refused in one line"
