#!/usr/bin/env bash
# cost: 70 (seconds, here: it boots three VMs itself)
# The VM runner (tests/vm/run.sh) itself: a command runs from the same
# folder with the same environment, its output and exit status come back,
# the guest has what the suites need (/dev/kvm, bpffs, tracefs, cgroup2
# with cpu, devpts, /dev/shm, /dev/fd, loopback up and no other network
# interface, the project folder writable), the same under --systemd
# (systemd as PID 1, the command in a unit of its own), and a command that hangs is
# stopped at the timeout with the tail of the console. (--forward is
# tested by fleet_prometheus.sh.)
source "$(dirname "$0")/../lib.sh"
need_root
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86 not installed"
cd "$ROOT" || fail "no $ROOT"

# probe [RUN.SH OPTIONS...]: the checks below, in a VM of those options;
# the command exits 7
probe() {
	VM_RUNNER_PROBE=yes bash tests/vm/run.sh "$@" --timeout 300 -- bash -c '
	echo "pwd $(pwd)"; echo "env $VM_RUNNER_PROBE"
	test -c /dev/kvm && echo kvm
	mountpoint -q /sys/fs/bpf && echo bpffs
	mountpoint -q /sys/kernel/tracing && echo tracefs
	grep -qw cpu /sys/fs/cgroup/cgroup.subtree_control && echo cgroup-cpu
	mountpoint -q /dev/pts && mountpoint -q /dev/shm && echo devpts-shm
	cat <(echo dev-fd)
	ip -o link show lo | grep -q "UP" && echo lo-up
	[ "$(ls /sys/class/net)" = lo ] && echo no-network
	echo "pid1 $(cat /proc/1/comm)"
	echo "cgroup $(sed -n "s/^0:://p" /proc/self/cgroup)"
	echo written >"$1"
	echo "to stderr" >&2
	exit 7' probe "$probe" 2>&1
}
# check_probe PID1 CGROUP: what probe printed (in $out, status $rc)
check_probe() {
	echo "$out"
	[ $rc -eq 7 ] || fail "exit status $rc, want the command's 7"
	for want in "pwd $ROOT" "env yes" kvm bpffs tracefs cgroup-cpu devpts-shm dev-fd lo-up no-network "to stderr" \
		"pid1 $1" "cgroup $2"; do
		grep -qx "$want" <<<"$out" || fail "the VM's output lacks \"$want\""
	done
	[ "$(cat "$probe" 2>/dev/null)" = written ] || fail "a file written in the project folder did not come back"
	rm -f "$probe"
}
probe=$BUILD/vm-runner-probe.$$
rm -f "$probe"
out=$(probe)
rc=$?
check_probe bash /
# --systemd: systemd is PID 1, the command runs in the unit init wrote
out=$(probe --systemd)
rc=$?
check_probe systemd /system.slice/stealtime-vmtest.service

start=$SECONDS
out=$(bash tests/vm/run.sh --timeout 20 -- sleep 600 2>&1)
rc=$?
echo "$out" | tail -n 5
[ $rc -eq 124 ] || fail "a hung command gave $rc, want 124"
[ $((SECONDS - start)) -lt 120 ] || fail "the hung VM was stopped only after $((SECONDS - start)) s"
grep -q "did not finish in 20s" <<<"$out" || fail "no timeout message"
grep -q "console|" <<<"$out" || fail "no console tail"
echo "VM runner: status, output, environment, mounts and timeout as expected"
