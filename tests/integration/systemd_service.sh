#!/usr/bin/env bash
# cost: 300 (seconds in a VM under TCG, its boot included)
# vm: --systemd
# stealtimed as its unit runs it, under systemd as PID 1, beside Debian's
# libvirt as its own units run it (libvirtd, virtlogd, systemd-machined):
# a throwaway VM of tests/vm/run.sh --systemd, where make install writes
# /usr/local and /etc. systemctl start reaches active (Type=notify) with
# its StatusText; the sandbox the unit sets is in force (capabilities,
# no_new_privs, seccomp, / and bpffs read-only but the pin directory) and
# the daemon still loads its programs and serves /metrics. A KVM domain of
# libvirt lands in
# machine.slice (machine-qemu\x2d1\x2dNAME.scope, registered with
# systemd-machined): the daemon names it by name and UUID, finds its vCPU
# threads in the scope's libvirt/vcpuN (QEMU in libvirt/emulator), each vCPU's steal_ns lies within
# virsh domstats' vcpu.N.delay read before and after beside a hog, and a
# vcpu_quota of virsh schedinfo is read as throttled_ns from those vcpuN
# cgroups, the VM's from those and the scope's. systemctl reload (SIGHUP) keeps the process and its VM;
# systemctl stop ends it with status 0; stealtimed.socket starts it again
# on the first connection, and the VM's steal goes on from where it was.
source "$(dirname "$0")/../lib.sh"
need_root
if [ -z "${STEALTIME_VM:-}" ]; then
	# systemd as PID 1, units installed and libvirt's edited: only in a VM
	command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86 not installed"
	cd "$ROOT" || fail "no $ROOT"
	bash tests/vm/run.sh --systemd --timeout 1200 -- env BUILD="$BUILD" bash "$0"
	exit $?
fi
need_kvm; need_btf
[ "$(cat /proc/1/comm)" = systemd ] || skip "systemd is not PID 1 (tests/vm/run.sh --systemd)"
[ "$(nproc)" -ge 2 ] || skip "needs 2 CPUs"
for c in virsh libvirtd virtlogd machinectl systemd-escape; do
	command -v "$c" >/dev/null || skip "$c not installed (libvirt-daemon-system, libvirt-clients, systemd-container)"
done
[ -x "$BUILD/stealtimed" ] || skip "$BUILD/stealtimed is not built (make)"

DOM=stt-sd
UUID=5ca1ab1e-0d0e-4f00-9a11-c0ffee000015
URL=http://127.0.0.1:9477 # the shipped configuration's, and the socket's
export LIBVIRT_DEFAULT_URI=qemu:///system
prop() { systemctl show -p "$1" --value "${2:-stealtimed.service}"; }
unit_log() { journalctl -b -u stealtimed.service --no-pager -o cat; }
fail_unit() { unit_log | tail -n 30 >&2; fail "$@"; }
trap 'virsh destroy "$DOM" >/dev/null 2>&1; systemctl stop stealtimed.socket stealtimed.service 2>/dev/null; cleanup' EXIT

# 1. make install, then the unit as systemd runs it
start=$SECONDS
make -s -C "$ROOT" BUILD="$BUILD" install >"$TMP/install.log" 2>&1 ||
	{ tail -n 30 "$TMP/install.log"; fail "make install"; }
note "make install: $((SECONDS - start)) s"
systemctl daemon-reload || fail "systemctl daemon-reload"
[ "$(prop FragmentPath)" = /etc/systemd/system/stealtimed.service ] || fail "unit from $(prop FragmentPath)"
[ "$(prop ExecStart | grep -o 'path=[^ ;]*')" = path=/usr/local/sbin/stealtimed ] ||
	fail "ExecStart= $(prop ExecStart)"
systemctl start stealtimed.service || fail_unit "systemctl start stealtimed"
# Type=notify: start returned once READY=1 came
[ "$(prop ActiveState)/$(prop SubState)" = active/running ] || fail_unit "stealtimed $(prop ActiveState)/$(prop SubState)"
MAIN=$(prop MainPID)
[ "$(readlink "/proc/$MAIN/exe")" = /usr/local/sbin/stealtimed ] || fail "MainPID $MAIN is $(readlink "/proc/$MAIN/exe")"
note "active, MainPID $MAIN, StatusText \"$(prop StatusText)\""
[[ $(prop StatusText) =~ ^tracking\ 0\ VMs,\ 0\ vCPUs$ ]] || fail "StatusText \"$(prop StatusText)\""
unit_log | grep -q "ready: HTTP 127.0.0.1:9477" || fail_unit "no readiness in the journal"

# the sandbox: CAP_CHOWN, DAC_READ_SEARCH, SYS_PTRACE, SYS_ADMIN, PERFMON, BPF and no other
status=/proc/$MAIN/status
for want in "CapEff:	000000c000280005" "CapBnd:	000000c000280005" "NoNewPrivs:	1" "Seccomp:	2"; do
	grep -qx "$want" "$status" || fail "stealtimed's $(grep "^${want%%:*}:" "$status"), want $want"
done
mnt_opts() { awk -v m="$1" '$5 == m {o = $6} END {print o}' "/proc/$MAIN/mountinfo"; }
[[ $(mnt_opts /) == ro,* ]] || fail "/ is $(mnt_opts /) for stealtimed (ProtectSystem=strict)"
[[ $(mnt_opts /sys/fs/bpf/stealtimed) == rw,* ]] || fail "the pin dir is $(mnt_opts /sys/fs/bpf/stealtimed) for stealtimed"
[[ $(mnt_opts /sys/fs/bpf) == ro,* ]] || fail "/sys/fs/bpf is $(mnt_opts /sys/fs/bpf) for stealtimed"
[ "$(stat -L -c %i "/proc/$MAIN/root/tmp")" != "$(stat -c %i /tmp)" ] || fail "no PrivateTmp"
note "sandbox: CapEff 000000c000280005, NoNewPrivs 1, Seccomp 2, / and /sys/fs/bpf ro, /sys/fs/bpf/stealtimed rw"
# and inside it the programs are loaded and pinned, /metrics served
pins=$(ls /sys/fs/bpf/stealtimed 2>/dev/null | wc -l)
[ "$pins" -gt 0 ] || fail "nothing pinned in /sys/fs/bpf/stealtimed"
progs=$(bpftool -j prog show 2>/dev/null | jq '[.[] | select(.name == "on_switch")] | length')
[ "${progs:-0}" -ge 1 ] || fail "no on_switch program loaded"
metrics=$(curl -fsS "$URL/metrics") && grep -q '^stealtime_vms 0$' <<<"$metrics" || fail "/metrics"
note "$pins pins in /sys/fs/bpf/stealtimed, on_switch loaded, /metrics served"

# 2. libvirt by its units: libvirtd (socket-activated virtlogd), systemd-machined
# QEMU keeps the host's /dev: libvirt's private /dev has no /dev/kvm here (no udev)
echo 'namespaces = []' >>/etc/libvirt/qemu.conf
chgrp kvm /dev/kvm && chmod 0660 /dev/kvm || fail "cannot give /dev/kvm to the kvm group"
systemctl start dbus.service systemd-machined.service libvirtd.service ||
	{ journalctl -b --no-pager | tail -n 40 >&2; fail "systemctl start libvirtd"; }
wait_for 60 virsh version >/dev/null 2>&1 || fail "libvirtd does not answer"
chmod 0755 "$TMP" # the ROM is read by QEMU as libvirt-qemu
smp_spin_bios "$TMP/spin.bin" || fail "cannot write the ROM"
libvirt_domain_xml "$DOM" "$UUID" "$TMP/spin.bin" >"$TMP/$DOM.xml"
virsh define "$TMP/$DOM.xml" >/dev/null || fail "virsh define"
virsh start "$DOM" >"$TMP/start.log" 2>&1 ||
	{ cat "$TMP/start.log" /var/log/libvirt/qemu/"$DOM".log >&2; fail "virsh start $DOM"; }
QPID=$(cat "/run/libvirt/qemu/$DOM.pid") || fail "no pid file of $DOM"
for u in libvirtd.service virtlogd.service systemd-machined.service; do
	[ "$(prop ActiveState "$u")" = active ] || fail "$u is $(prop ActiveState "$u")"
done
# the machine systemd-machined registered, and its scope in machine.slice
MACHINE=qemu-1-$DOM
SCOPE=machine-$(systemd-escape "$MACHINE").scope
[ "$(machinectl show "$MACHINE" -p Unit --value)" = "$SCOPE" ] ||
	fail "machinectl: $(machinectl list --no-legend) (no $MACHINE in $SCOPE)"
[ "$(prop Slice "$SCOPE")" = machine.slice ] || fail "$SCOPE in $(prop Slice "$SCOPE")"
[ "$(machinectl show "$MACHINE" -p Leader --value)" = "$QPID" ] || fail "the machine's leader is not QEMU ($QPID)"
# the VM's cgroup: the deepest that holds QEMU and its vCPU threads
VMCG=/machine.slice/$SCOPE
DOMCG=$VMCG/libvirt
[ "$(sed -n 's/^0:://p' "/proc/$QPID/cgroup")" = "$DOMCG/emulator" ] ||
	fail "QEMU in $(sed -n 's/^0:://p' "/proc/$QPID/cgroup"), not $DOMCG/emulator"
note "domain $DOM: QEMU $QPID, machine $MACHINE, $VMCG"

wait_for 30 vm_json "$QPID" >/dev/null || fail_unit "the domain's QEMU (pid $QPID) not in /v1/vms"
wait_for 20 vms_hold ".vms[] | select(.pid == $QPID) | .vcpus[0].tid > 0 and .vcpus[1].tid > 0" ||
	fail "vCPUs not both bound: $(vm_json "$QPID" | jq -c '[.vcpus[].tid]')"
vm=$(vm_json "$QPID")
ID=$(jq -r .id <<<"$vm")
jq_true "$vm" ".name == \"$DOM\" and .uuid == \"$UUID\" and (.vcpus | length) == 2" ||
	fail "not named as the domain: $(jq -c '{name, uuid, n: (.vcpus | length)}' <<<"$vm")"
[ "$(jq -r .cgroup <<<"$vm")" = "$VMCG" ] || fail "VM cgroup $(jq -r .cgroup <<<"$vm"), not $VMCG"
vcpu_tid() { vm_json "$QPID" | jq -r ".vcpus[] | select(.index == $1) | .tid"; }
cg_of() { sed -n 's/^0:://p' "/proc/$QPID/task/$1/cgroup"; }
CG0=$(cg_of "$(vcpu_tid 0)") CG1=$(cg_of "$(vcpu_tid 1)")
[ "$CG0" = "$DOMCG/vcpu0" ] && [ "$CG1" = "$DOMCG/vcpu1" ] || fail "vCPU threads in $CG0 and $CG1"
wait_for 15 sh -c "systemctl show -p StatusText --value stealtimed.service | grep -qx 'tracking 1 VMs, 2 vCPUs'" ||
	fail "StatusText \"$(prop StatusText)\" with the domain running"
note "named $DOM $UUID, vCPUs in $CG0 and $CG1, StatusText \"$(prop StatusText)\""

# 3. steal_ns within libvirt's vcpu.N.delay, beside a hog on the vCPUs' CPU
steal() { vm_json "$QPID" | jq -r ".vcpus[] | select(.index == $1) | .steal_ns"; }
vcpu_throttled() { vm_json "$QPID" | jq -r ".vcpus[] | select(.index == $1) | .throttled_ns // 0"; }
hog 1
sleep 2
st0=$(steal 0)
libvirt_steal_brackets 3
st1=$(steal 0)
note "beside the hog: vCPU 0 steal grew $(((st1 - st0) / 1000000)) ms"
[ $((st1 - st0)) -gt 300000000 ] || fail "vCPU 0 steal grew only $((st1 - st0)) ns beside a hog"
kill "${PIDS[-1]}"

# 4. vcpu_quota through libvirt: throttled_ns from machine.slice/.../libvirt/vcpuN
virsh schedinfo "$DOM" --live --set vcpu_period=100000 --set vcpu_quota=30000 >/dev/null ||
	fail "virsh schedinfo --set vcpu_quota"
[ "$(cat "/sys/fs/cgroup$CG0/cpu.max")" = "30000 100000" ] ||
	fail "vcpu0's cpu.max is $(cat "/sys/fs/cgroup$CG0/cpu.max") after vcpu_quota=30000"
# the VM's: each vCPU's cgroup and its ancestors up to the scope, once each
vm_throttled() { echo $(($(cgroup_throttled "$VMCG") + $(cgroup_throttled "$DOMCG") + $(cgroup_throttled "$CG0") + $(cgroup_throttled "$CG1"))); }
wait_for 15 vms_hold ".vms[] | select(.pid == $QPID) | .vcpus[0].throttled_ns > 0 and .vcpus[1].throttled_ns > 0" ||
	fail "no throttled_ns for the vCPUs in their vcpuN cgroups"
sleep 2
libvirt_throttle_brackets 2 "the VM's cgroups"

# 5. systemctl reload: SIGHUP, the same process, the same VM
systemctl reload stealtimed.service || fail_unit "systemctl reload"
wait_for 15 sh -c 'journalctl -b -u stealtimed.service --no-pager -o cat | grep -q "configuration reloaded"' ||
	fail_unit "no \"configuration reloaded\" after systemctl reload"
[ "$(prop MainPID)" = "$MAIN" ] && [ "$(prop ActiveState)" = active ] ||
	fail_unit "after reload: MainPID $(prop MainPID) (was $MAIN), $(prop ActiveState)"
jq_true "$(vm_json "$QPID")" ".id == \"$ID\"" || fail "the VM is not $ID after the reload"
note "reloaded: $(unit_log | grep "configuration reloaded" | tail -n 1)"

# 6. systemctl stop: STOPPING=1, exit status 0
before=$(steal 0)
systemctl stop stealtimed.service || fail_unit "systemctl stop"
[ "$(prop ActiveState)" = inactive ] || fail_unit "after stop: $(prop ActiveState)"
[ "$(prop Result)" = success ] && [ "$(prop ExecMainStatus)" = 0 ] ||
	fail_unit "stop: Result $(prop Result), ExecMainStatus $(prop ExecMainStatus)"
! kill -0 "$MAIN" 2>/dev/null || fail "stealtimed $MAIN still runs after systemctl stop"
! curl -fsS --max-time 2 "$URL/healthz" >/dev/null 2>&1 || fail "/healthz still answers after stop"
note "stopped: Result success, ExecMainStatus 0"

# 7. stealtimed.socket: the first connection starts the daemon on its socket
systemctl start stealtimed.socket || fail "systemctl start stealtimed.socket"
[ "$(prop ActiveState)" = inactive ] || fail "stealtimed started with its socket, before any connection"
curl -fsS --max-time 60 "$URL/healthz" >/dev/null || fail_unit "no answer through stealtimed.socket"
[ "$(prop ActiveState)" = active ] || fail_unit "stealtimed $(prop ActiveState) after a connection to its socket"
[ "$(prop TriggeredBy)" = stealtimed.socket ] || fail "TriggeredBy=$(prop TriggeredBy)"
[ "$(prop MainPID)" != "$MAIN" ] || fail "the same MainPID $MAIN after stop and start"
wait_for 30 vm_json "$QPID" >/dev/null || fail_unit "the domain not in /v1/vms of the socket-activated daemon"
after=$(steal 0)
note "socket-activated: MainPID $(prop MainPID), vCPU 0 steal_ns $before before the stop, $after now"
[ "$after" -ge "$before" ] || fail "vCPU 0 steal_ns went back from $before to $after across the restart"
echo "stealtimed under systemd: notify, sandbox, libvirt's machine.slice (name, uuid, steal, throttling), reload, stop, socket"
