#!/usr/bin/env bash
# run.sh [OPTIONS] [--] CMD [ARG...]: runs CMD inside a throwaway VM that
# boots one of Debian's kernels and sees this machine's own file system:
# the host's / read-only under a tmpfs overlay, the project folder writable
# at its own path, so the same build and tests are at the same paths. CMD
# runs as root from the current folder with the current environment; its
# output is streamed, and its exit status becomes run.sh's.
#
# Inside: /dev/kvm (kvm-amd or kvm-intel; with the host's /dev/kvm when it
# offers nested virtualization, otherwise QEMU's TCG emulating AMD SVM with
# -cpu max), bpffs,
# tracefs, cgroup2 with the cpu controller, devpts, /dev/shm, /dev/fd,
# loopback up, fresh /tmp and /run, STEALTIME_VM=1.
#
#   --kernel SERIES   5.10, 6.1 or 6.12 (default: $VM_KERNEL or 6.12)
#   --timeout SECS    power off and fail after SECS (default 3600); the
#                     console's tail is printed
#   --mem SIZE        guest memory (default 6G); --cpus N (default 2)
#   --shell           an interactive shell on the console instead of CMD
#   --systemd         systemd as PID 1 (the host's own, with its units), CMD
#                     in a unit of its own (stealtime-vmtest.service, the
#                     only unit of the target booted): for suites of the
#                     units and of what systemd sets up (machine.slice)
#   --forward HOSTPORT:GUESTPORT
#                     user networking (virtio-net, no route out): TCP to
#                     127.0.0.1:HOSTPORT here reaches GUESTPORT in the VM,
#                     whose interface has 10.0.2.15/24 (repeatable)
# Exit status: CMD's; 124 on timeout; 125 when the VM did not run CMD.
# The last VM's console is kept in build/vm/console-SERIES.log.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
kernel=${VM_KERNEL:-6.12} timeout=3600 mem=6G cpus=2 shell=0 systemd=0
nic=none fwd=()
while [ $# -gt 0 ]; do
	case $1 in
	--kernel) kernel=$2; shift 2 ;;
	--timeout) timeout=$2; shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	--cpus) cpus=$2; shift 2 ;;
	--shell) shell=1; shift ;;
	--systemd) systemd=1; shift ;;
	--forward)
		[[ $2 =~ ^[0-9]+:[0-9]+$ ]] || { echo "run.sh: --forward HOSTPORT:GUESTPORT, not $2" >&2; exit 2; }
		fwd+=("hostfwd=tcp:127.0.0.1:${2%:*}-:${2#*:}"); shift 2 ;;
	--) shift; break ;;
	-*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
	*) break ;;
	esac
done
[ $shell -eq 1 ] || [ $# -gt 0 ] || { echo "usage: run.sh [--kernel SERIES] [--timeout SECS] -- CMD..." >&2; exit 2; }
case $(pwd -P)/ in "$ROOT"/*) ;; *) echo "run.sh: run it from inside $ROOT (the writable share)" >&2; exit 2 ;; esac

kdir=$(bash "$ROOT/tests/vm/kernel.sh" "$kernel") || { echo "run.sh: no kernel $kernel" >&2; exit 125; }
bash "$ROOT/tests/vm/initramfs.sh" "$kdir" || exit 125

mkdir -p "$BUILD/vm"
run=$(mktemp -d "$BUILD/vm/run.XXXXXX")
trap 'rm -rf "$run"' EXIT
pwd -P >"$run/cwd"
for v in $(compgen -e); do
	case $v in PWD | OLDPWD | SHLVL | _ | HOSTNAME | HOME | TMPDIR | DISPLAY | SSH_* | XDG_*) continue ;; esac
	printf 'export %s=%q\n' "$v" "${!v}"
done >"$run/env"
printf '%q ' "$@" >"$run/cmd"
echo >>"$run/cmd"
: >"$run/output"

# The host's KVM, if it lets a guest run KVM itself (nested); VM_NO_KVM=1
# forces emulation.
nested_kvm() {
	local f
	[ -w /dev/kvm ] && [ -z "${VM_NO_KVM:-}" ] || return 1
	for f in /sys/module/kvm_intel/parameters/nested /sys/module/kvm_amd/parameters/nested; do
		[ -r "$f" ] && grep -qE '^(Y|1)' "$f" && return 0
	done
	return 1
}
if nested_kvm; then
	accel=(-accel kvm -cpu host)
else
	# One TCG thread for all vCPUs: with multi-threaded TCG a vCPU can run
	# stale translated code while another patches kernel text (a tracepoint
	# or static key flips whenever a BPF program attaches or detaches), and
	# the guest kernel dies with "Oops: int3". VM_TCG_THREAD=multi to try it.
	accel=(-accel "tcg,thread=${VM_TCG_THREAD:-single}" -cpu max)
fi
# restrict=on: the guest reaches nothing outside, only the forwards reach it
if [ ${#fwd[@]} -gt 0 ]; then
	nic=user,model=virtio-net-pci,restrict=on$(printf ',%s' "${fwd[@]}")
fi
qemu=(qemu-system-x86_64 "${accel[@]}" -smp "$cpus" -m "$mem" -no-reboot -nic "$nic"
	-kernel "$kdir/vmlinuz" -initrd "$kdir/initramfs.cpio.gz"
	-append "console=ttyS0 quiet loglevel=4 panic=-1 stealtime.project=$ROOT stealtime.run=$run stealtime.net=${#fwd[@]} stealtime.systemd=$systemd"
	-virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"
	-virtfs "local,path=$ROOT,mount_tag=project,security_model=none,multidevs=remap")
if [ $shell -eq 1 ]; then
	touch "$run/interactive"
	"${qemu[@]}" -nographic
	exit 0
fi

timeout -k 10 "$timeout" "${qemu[@]}" -display none -monitor none -serial "file:$run/console" &
qpid=$!
tail -n +1 -F --pid=$qpid "$run/output" 2>/dev/null &
tpid=$!
set +e
wait $qpid
qrc=$?
wait $tpid 2>/dev/null
set -e
cp "$run/console" "$BUILD/vm/console-$kernel.log" 2>/dev/null || true
if [ $qrc -eq 124 ] || [ $qrc -eq 137 ]; then
	echo "run.sh: the VM (kernel $kernel) did not finish in ${timeout}s; its console ended:" >&2
	tail -n 30 "$run/console" | sed 's/^/    console| /' >&2
	exit 124
fi
if [ ! -s "$run/rc" ]; then
	echo "run.sh: the VM (kernel $kernel) stopped without running the command; its console ended:" >&2
	tail -n 30 "$run/console" | sed 's/^/    console| /' >&2
	exit 125
fi
exit "$(cat "$run/rc")"
