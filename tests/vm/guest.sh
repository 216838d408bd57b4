#!/usr/bin/env bash
# Runs inside the VM (from tests/vm/init, or as the unit init wrote for
# run.sh --systemd), in the overlay root: the rest of
# a host-like environment, then the command that tests/vm/run.sh put in
# RUN/cmd, from RUN/cwd, with RUN/env. Writes RUN/output and RUN/rc, then
# powers the VM off.
run=$1
set -u

# under run.sh --systemd, systemd has mounted most of these already
mounted() { mountpoint -q "$1"; }
mkdir -p /dev/pts /dev/shm
mounted /dev/pts || mount -t devpts -o ptmxmode=0666 devpts /dev/pts
mounted /dev/shm || mount -t tmpfs tmpfs /dev/shm
ln -sfn /proc/self/fd /dev/fd
ln -sfn /proc/self/fd/0 /dev/stdin
ln -sfn /proc/self/fd/1 /dev/stdout
ln -sfn /proc/self/fd/2 /dev/stderr
mounted /sys/fs/cgroup || mount -t cgroup2 cgroup2 /sys/fs/cgroup
echo "+cpu +cpuset +memory +pids" >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null ||
	echo "+cpu" >/sys/fs/cgroup/cgroup.subtree_control
mounted /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
mounted /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing
mounted /sys/kernel/debug || mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
ip link set lo up
# run.sh --forward: QEMU's user network (its gateway 10.0.2.2), no DHCP
if grep -qE '(^| )stealtime\.net=[1-9]' /proc/cmdline; then
	nic=
	for n in /sys/class/net/*; do
		[ "${n##*/}" = lo ] || { nic=${n##*/}; break; }
	done
	if [ -n "$nic" ]; then
		ip addr add 10.0.2.15/24 dev "$nic"
		ip link set "$nic" up
	else
		echo "guest.sh: no network interface" >&2
	fi
fi
hostname stealtime-vm
[ -e /dev/kvm ] && chmod 0666 /dev/kvm

export HOME=/root STEALTIME_VM=1
# shellcheck disable=SC1091
source "$run/env"
cd "$(cat "$run/cwd")" || exit 1
if [ -e "$run/interactive" ]; then
	setsid -c bash -l <>/dev/ttyS0 >&0 2>&1
	echo $? >"$run/rc"
else
	bash "$run/cmd" </dev/null >"$run/output" 2>&1
	echo $? >"$run/rc"
fi
sync
echo o >/proc/sysrq-trigger
sleep 10
