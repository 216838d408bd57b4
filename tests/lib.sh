# Shared helpers for tests/integration/*.sh (bash). Source it.
# Each test exits 0 (pass), 77 (skip: say why on stderr) or 1 (fail).
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
TMP=$(mktemp -d /tmp/stealtime-test.XXXXXX)
PIDS=()

cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; kill -CONT "$p" 2>/dev/null; done # a stopped one too
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	[ -n "${PIN_DIR:-}" ] && "$BUILD/stealtimed" --cleanup --pin-dir "$PIN_DIR" >/dev/null 2>&1
	rm -rf "$TMP"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*" >&2; exit 77; }
note() { echo "# $*"; }

need_root() { [ "$(id -u)" -eq 0 ] || skip "needs root (BPF)"; }
need_kvm() { [ -w /dev/kvm ] || skip "no usable /dev/kvm"; }
need_btf() { [ -r /sys/kernel/btf/vmlinux ] || skip "no kernel BTF"; }

# bg CMD...: start in the background, killed at exit; sets $! as usual
bg() { "$@" & PIDS+=($!); }

# run_delay TID -> field 2 of /proc/TID/schedstat (ns), the kernel's own
run_delay() { awk '{print $2}' "/proc/$1/schedstat"; }

# hog CPU: a busy loop pinned to CPU, killed at exit
hog() { bg taskset -c "$1" bash -c 'while :; do :; done'; }

# cgroup2_cpu_root: R = the cgroup2 hierarchy's root, its cpu controller
# enabled for the cgroups below it (or the test is skipped, saying why)
cgroup2_cpu_root() {
	if [ -e /sys/fs/cgroup/cgroup.controllers ]; then
		R=/sys/fs/cgroup
	elif [ -e /sys/fs/cgroup/unified/cgroup.controllers ]; then
		R=/sys/fs/cgroup/unified
	else
		skip "no cgroup2 hierarchy"
	fi
	grep -qw cpu "$R/cgroup.controllers" || skip "the cpu controller is not on cgroup2 here (bound to v1)"
	grep -qw cpu "$R/cgroup.subtree_control" || echo +cpu >"$R/cgroup.subtree_control" ||
		skip "cannot enable the cpu controller below $R"
}

# free_port -> an unused TCP port on loopback
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000)); }

# start_daemon [ARGS...]: stealtimed on a free loopback port with a private
# control socket and pin dir; sets DAEMON_PID, URL, CONTROL_SOCK. With a web
# configuration: DAEMON_SCHEME=https, and HEALTH_CURL=(curl options: CA,
# credentials) for the /healthz that tells it is up. DAEMON_LISTEN=ADDR:PORT
# listens there instead (URL still on loopback).
start_daemon() {
	local listen=${DAEMON_LISTEN:-127.0.0.1:$(free_port)}
	URL=${DAEMON_SCHEME:-http}://127.0.0.1:${listen##*:}
	CONTROL_SOCK=$TMP/control.sock
	PIN_DIR=/sys/fs/bpf/stealtime-test-$$
	"$BUILD/stealtimed" --listen "$listen" --control-socket "$CONTROL_SOCK" \
		--pin-dir "$PIN_DIR" --state-dir "$TMP/state" --rescan-interval 1 "$@" >"$TMP/daemon.log" 2>&1 &
	DAEMON_PID=$!
	PIDS+=($DAEMON_PID)
	local i
	for i in $(seq 1 100); do
		curl -fsS ${HEALTH_CURL[@]+"${HEALTH_CURL[@]}"} "$URL/healthz" >/dev/null 2>&1 && return 0
		kill -0 $DAEMON_PID 2>/dev/null || { cat "$TMP/daemon.log" >&2; fail "stealtimed exited"; }
		sleep 0.1
	done
	cat "$TMP/daemon.log" >&2
	fail "stealtimed did not answer /healthz"
}

stop_daemon() {
	kill "$DAEMON_PID" 2>/dev/null
	wait "$DAEMON_PID" 2>/dev/null
	"$BUILD/stealtimed" --cleanup --pin-dir "$PIN_DIR" >/dev/null 2>&1
}

# wait_for SECONDS CMD...: retry CMD every 0.1 s until it succeeds
wait_for() {
	local n=$(( $1 * 10 )); shift
	local i
	for i in $(seq 1 "$n"); do "$@" && return 0; sleep 0.1; done
	return 1
}

# start_testvmm ARGS...: the test VMM in the background; sets VMM_PID,
# VMM_REPORT, and VMM_TIDS (vCPU thread ids in vCPU order) once it has started
start_testvmm() {
	VMM_REPORT=$TMP/vmm-$RANDOM.jsonl
	"$BUILD/tests/vmm/testvmm" --report "$VMM_REPORT" "$@" >"$VMM_REPORT.out" 2>&1 &
	VMM_PID=$!
	PIDS+=($VMM_PID)
	wait_for 10 grep -q '"event":"start"' "$VMM_REPORT" 2>/dev/null ||
		{ cat "$VMM_REPORT.out" >&2; fail "testvmm did not start"; }
	VMM_TIDS=$(grep -m1 '"event":"start"' "$VMM_REPORT" | jq -r '.vcpus | sort_by(.index) | .[].tid' | tr '\n' ' ')
}

# registered_guest_beside_hog: a registered 1-vCPU test VM on CPU 1 beside a
# CPU hog, its guest running; sets tid (its vCPU thread) and id (the VM's)
registered_guest_beside_hog() {
	start_testvmm --vcpus 1 --cpu 1 --seconds 600 --control "$CONTROL_SOCK"
	tid=${VMM_TIDS%% *}
	hog 1
	wait_for 20 grep -q '"event":"guest"' "$VMM_REPORT" || fail "guest reported nothing"
	sleep 2
	id=$(vm_json "$VMM_PID" | jq -r .id)
	[[ $id =~ ^[0-9a-f]{16}$ ]] || fail "VM id '$id' is not 16 hex digits"
}

# api PATH: GET from the daemon, JSON on stdout
api() { curl -fsS "$URL$1"; }

# vm_json PID: the /v1/vms entry of the VM whose VMM is PID
# (jq 1.6's -e passes on empty input: the answer is taken first, so that a
# daemon that does not answer never passes a check)
vm_json() { local r; r=$(api /v1/vms) && jq -e --argjson p "$1" '.vms[] | select(.pid == $p)' <<<"$r"; }

# vms_hold FILTER: the daemon answers /v1/vms and FILTER holds for it
vms_hold() { local r; r=$(api /v1/vms 2>/dev/null) && jq_true "$r" "$1"; }

# spin_bios FILE: 64 KiB of "jmp $" so QEMU's vCPU 0 spins forever
spin_bios() {
	local i
	printf '\xeb\xfe' >"$1"
	for i in $(seq 1 15); do cat "$1" "$1" >"$1.x" && mv "$1.x" "$1"; done
}

# ns_between LOW VALUE HIGH SLACK: LOW - SLACK <= VALUE <= HIGH + SLACK
ns_between() { [ "$2" -ge $(($1 - $4)) ] && [ "$2" -le $(($3 + $4)) ]; }

# guest_lines FILE VCPU: the "guest" reports of a vCPU, one JSON per line
guest_lines() { grep '"event":"guest"' "$1" | jq -c --argjson v "$2" 'select(.vcpu == $v)'; }

# next_guest_value FILE VCPU: waits (up to 20 s: a loaded VM under TCG can
# starve a guest beside a hog for seconds) for a guest report newer than
# now, prints its stolen_ns; fails the test if none comes
next_guest_value() {
	local n; n=$(wc -l <"$1")
	local end=$((SECONDS + 20)) v
	while [ $SECONDS -lt $end ]; do
		v=$(tail -n +$((n + 1)) "$1" | grep '"event":"guest"' | jq -r --argjson c "$2" 'select(.vcpu == $c) | .stolen_ns' | head -n 1)
		[ -n "$v" ] && { echo "$v"; return 0; }
		sleep 0.05
	done
	fail "no guest report from vCPU $2 in 20 s ($1)"
}

# jq_true JSON FILTER: FILTER holds for JSON (empty JSON never does)
jq_true() { [ -n "$1" ] && jq -e "$2" <<<"$1" >/dev/null; }

# vcpu_at_rest VMM_PID TID: stops the VMM (SIGSTOP; kill -CONT it after)
# and waits until its vCPU thread TID has left the CPU, so that neither
# counter moves: prints the daemon's steal_ns of vCPU 0 and the thread's
# run_delay, which are then equal to the nanosecond (its first thread
# counts from 0, each switch-in adds the wait that ends)
vcpu_at_rest() {
	local state i
	kill -STOP "$1"
	for i in $(seq 1 200); do
		state=$(sed 's/.*) //' "/proc/$1/task/$2/stat" 2>/dev/null | cut -d' ' -f1) # after "(comm) "
		[ "$state" = T ] || [ "$state" = t ] && break
		sleep 0.05
	done
	[ "$state" = T ] || [ "$state" = t ] || fail "vCPU thread $2 did not stop (state $state)"
	echo "$(vm_json "$1" | jq .vcpus[0].steal_ns) $(run_delay "$2")"
}

# start_prometheus CONFIG: Debian's Prometheus server with CONFIG on a free
# loopback port, its TSDB in $TMP/tsdb and its log in $TMP/prometheus.log;
# sets P, its URL
start_prometheus() {
	local port
	port=$(free_port)
	bg prometheus --config.file="$1" --storage.tsdb.path="$TMP/tsdb" \
		--web.listen-address="127.0.0.1:$port" --log.level=warn >"$TMP/prometheus.log" 2>&1
	P=http://127.0.0.1:$port
}
# query PROMQL: the answer of $P's query API
query() { curl -fsS --get "$P/api/v1/query" --data-urlencode "query=$1"; }
# query_holds PROMQL FILTER: Prometheus answered and FILTER holds (no answer
# never does); the answer stays in r
query_holds() { r=$(query "$1" 2>/dev/null) && jq_true "$r" "$2"; }

# smp_spin_bios FILE: spin_bios whose vCPU 0 first wakes the others, so that
# every vCPU spins: at the reset vector a jump to 0xff00, there x2APIC on,
# INIT then two SIPIs (vector 0xf0: they start at 0xf0000, the ROM's first
# "jmp $") to all but itself, then "jmp $"
smp_spin_bios() {
	spin_bios "$1"
	# mov ecx,0x1b; rdmsr; or eax,0xc00; wrmsr (IA32_APIC_BASE: EN, EXTD)
	# mov ecx,0x830; xor edx,edx; mov eax,0xc4500; wrmsr (ICR: INIT, all but self)
	# mov eax,0xc46f0; wrmsr; wrmsr (SIPI vector 0xf0, twice); jmp $
	printf '\x66\xb9\x1b\x00\x00\x00\x0f\x32\x66\x0d\x00\x0c\x00\x00\x0f\x30%b%b%b' \
		'\x66\xb9\x30\x08\x00\x00\x66\x31\xd2\x66\xb8\x00\x45\x0c\x00\x0f\x30' \
		'\x66\xb8\xf0\x46\x0c\x00\x0f\x30\x0f\x30' '\xeb\xfe' |
		dd of="$1" bs=1 seek=$((0xff00)) conv=notrunc status=none &&
		printf '\xe9\x0d\xff' | dd of="$1" bs=1 seek=$((0xfff0)) conv=notrunc status=none # jmp 0xff00
}

# libvirt_domain_xml NAME UUID ROM: a KVM domain of 2 vCPUs pinned to CPU 1
# (its emulator to CPU 0) that runs ROM (smp_spin_bios: both vCPUs spin)
libvirt_domain_xml() {
	cat <<EOF
<domain type='kvm'>
  <name>$1</name>
  <uuid>$2</uuid>
  <memory unit='MiB'>64</memory>
  <vcpu placement='static'>2</vcpu>
  <cputune>
    <vcpupin vcpu='0' cpuset='1'/>
    <vcpupin vcpu='1' cpuset='1'/>
    <emulatorpin cpuset='0'/>
  </cputune>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <loader type='rom'>$3</loader>
  </os>
  <devices>
    <emulator>$(command -v qemu-system-x86_64)</emulator>
    <memballoon model='none'/>
  </devices>
</domain>
EOF
}

# libvirt's domain of QEMU $QPID under a vcpu_quota: ROUNDS times, each
# vCPU's throttled_ns lies between its cgroup's (CG0, CG1) throttled_usec
# read just before and after, and the VM's between the test's vm_throttled
# (the sum of the VM's own cgroups); WHAT names those cgroups in the notes;
# the daemon's last answer for the VM stays in vm
libvirt_throttle_brackets() {
	local rounds=$1 what=$2 b0 b1 bvm a0 a1 avm v0 v1 total
	for _ in $(seq 1 "$rounds"); do
		b0=$(cgroup_throttled "$CG0") b1=$(cgroup_throttled "$CG1") bvm=$(vm_throttled)
		vm=$(vm_json "$QPID")
		a0=$(cgroup_throttled "$CG0") a1=$(cgroup_throttled "$CG1") avm=$(vm_throttled)
		v0=$(jq -r '.vcpus[] | select(.index == 0) | .throttled_ns' <<<"$vm")
		v1=$(jq -r '.vcpus[] | select(.index == 1) | .throttled_ns' <<<"$vm")
		total=$(jq -r .throttled_ns <<<"$vm")
		note "vcpu0 throttled_usec $b0..$a0 ns: vCPU 0 $v0; vcpu1 $b1..$a1: vCPU 1 $v1; $what $bvm..$avm ns: VM $total"
		[ "$b0" -gt 100000000 ] && [ "$b1" -gt 100000000 ] || fail "vcpu_quota did not throttle vcpu0 and vcpu1 ($b0, $b1 ns)"
		[ "$v0" != null ] && [ "$v0" -ge "$b0" ] && [ "$v0" -le "$a0" ] ||
			fail "vCPU 0 throttled_ns $v0 not within $CG0's throttled_usec [$b0, $a0]"
		[ "$v1" != null ] && [ "$v1" -ge "$b1" ] && [ "$v1" -le "$a1" ] ||
			fail "vCPU 1 throttled_ns $v1 not within $CG1's throttled_usec [$b1, $a1]"
		[ "$total" != null ] && [ "$total" -ge "$bvm" ] && [ "$total" -le "$avm" ] ||
			fail "VM throttled_ns $total not within $what [$bvm, $avm]"
		sleep 0.5
	done
}
# cgroup_throttled CGROUP: throttled_usec of /sys/fs/cgroup/CGROUP, in ns
cgroup_throttled() { awk '/^throttled_usec / {printf "%.0f\n", $2 * 1000}' "/sys/fs/cgroup$1/cpu.stat"; }

# libvirt's vcpu.0.delay and vcpu.1.delay of domain $DOM, and the daemon's
# steal_ns of its QEMU $QPID's vCPUs 0 and 1, each on one line
domain_delays() { virsh domstats "$DOM" --vcpu | awk -F= '/^ *vcpu\.[01]\.delay=/ {printf "%s ", $2}'; }
domain_steals() { vm_json "$QPID" | jq -r '[.vcpus[] | select(.index < 2)] | sort_by(.index) | map(.steal_ns) | join(" ")'; }
# libvirt_steal_brackets ROUNDS: each vCPU's steal_ns lies within libvirt's
# vcpu.N.delay read before and after (+-1 ms); each reading of libvirt's
# ends a bracket and starts the next (a virsh call takes seconds in an
# emulated VM)
libvirt_steal_brackets() {
	local p0 p1 s0 s1 d0 d1
	read -r p0 p1 <<<"$(domain_delays)"
	for _ in $(seq 1 "$1"); do
		read -r s0 s1 <<<"$(domain_steals)"
		read -r d0 d1 <<<"$(domain_delays)"
		note "vcpu.0.delay $p0 .. $d0, steal_ns $s0; vcpu.1.delay $p1 .. $d1, steal_ns $s1"
		[ -n "$p0" ] && [ -n "$s0" ] && [ -n "$d0" ] && ns_between "$p0" "$s0" "$d0" 1000000 ||
			fail "vCPU 0 steal_ns $s0 not within libvirt's vcpu.0.delay [$p0, $d0] +-1ms"
		[ -n "$p1" ] && [ -n "$s1" ] && [ -n "$d1" ] && ns_between "$p1" "$s1" "$d1" 1000000 ||
			fail "vCPU 1 steal_ns $s1 not within libvirt's vcpu.1.delay [$p1, $d1] +-1ms"
		p0=$d0 p1=$d1
	done
}

# median NUMBER...: the middle one (the lower of the two middle ones)
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# hook_ratio [--competitor]: the daemon's on_switch (pinned under $PIN_DIR)
# per event over an empty sched_switch program's, both attached at once
# (tests/bench/hookcost, kernel bpf_stats), while perf bench sched pipe runs
# $LOOPS loops on CPU $CPU
hook_ratio() {
	"$BUILD/tests/bench/hookcost" "$@" "$PIN_DIR/links/on_switch" -- \
		taskset -c "$CPU" perf bench sched pipe -l "$LOOPS" >"$TMP/hook.out" 2>&1 ||
		{ cat "$TMP/hook.out" >&2; fail "hookcost $* failed"; }
	awk '/^ratio/ {print $2}' "$TMP/hook.out"
}
