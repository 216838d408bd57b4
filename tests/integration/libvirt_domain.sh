#!/usr/bin/env bash
# cost: 290 (seconds in a VM under TCG: tests/run.sh balances its VMs by it)
# A KVM domain of Debian's libvirt (libvirtd and virtlogd started by hand,
# in a throwaway VM of tests/vm/run.sh: the test edits qemu.conf), 2 vCPUs
# that spin. The daemon names the VM by the domain's name and UUID; each
# vCPU's steal_ns lies between libvirt's own vcpu.N.delay (virsh domstats)
# read just before and after, beside a CPU hog; with a vcpu_quota set
# through virsh schedinfo, each vCPU's throttled_ns lies between its vcpuN
# cgroup's throttled_usec read before and after, the VM's between the sums
# of its cgroups', and throttling is told apart from steal (none beside the
# hog alone; under the quota steal holds it); /metrics joins each vCPU
# series to the domain's UUID through stealtime_vm_info; virsh destroy
# retires the VM, and virsh start of the same domain is a new VM of the
# same name. README's PromQL joins are evaluated by Prometheus against
# Debian's prometheus-libvirt-exporter and the daemon.
source "$(dirname "$0")/../lib.sh"
need_root
if [ -z "${STEALTIME_VM:-}" ]; then
	# libvirtd and virtlogd started by hand, /etc/libvirt/qemu.conf edited:
	# only in a VM of its own, never on this machine
	command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86 not installed"
	cd "$ROOT" || fail "no $ROOT"
	bash tests/vm/run.sh --timeout 900 -- env BUILD="$BUILD" bash "$0"
	exit $?
fi
need_kvm; need_btf
[ "$(nproc)" -ge 2 ] || skip "needs 2 CPUs"
for c in virsh libvirtd virtlogd prometheus prometheus-libvirt-exporter; do
	command -v "$c" >/dev/null || skip "$c not installed (libvirt-daemon-system, libvirt-clients, prometheus, prometheus-libvirt-exporter)"
done

DOM=stt-lv
UUID=5ca1ab1e-0d0e-4f00-9a11-c0ffee000014
export LIBVIRT_DEFAULT_URI=qemu:///system

# the suites after this one in the same VM find no libvirt running
stop_libvirt() {
	virsh destroy "$DOM" >/dev/null 2>&1
	local f p
	for f in /run/libvirtd.pid /run/virtlogd.pid; do
		[ -s "$f" ] || continue
		p=$(cat "$f")
		kill "$p" 2>/dev/null && wait_for 10 sh -c "! kill -0 $p 2>/dev/null"
	done
}
trap 'stop_libvirt; cleanup' EXIT

# In this VM only: no systemd, so both daemons by hand; QEMU keeps the
# host's /dev (libvirt's private /dev has no /dev/kvm here)
echo 'namespaces = []' >>/etc/libvirt/qemu.conf
chgrp kvm /dev/kvm && chmod 0660 /dev/kvm || fail "cannot give /dev/kvm to the kvm group"
virtlogd -d || fail "virtlogd did not start"
libvirtd -d || fail "libvirtd did not start"
wait_for 60 virsh version >/dev/null 2>&1 || fail "libvirtd does not answer"

chmod 0755 "$TMP" # the ROM is read by QEMU as libvirt-qemu
smp_spin_bios "$TMP/spin.bin" || fail "cannot write the ROM"
libvirt_domain_xml "$DOM" "$UUID" "$TMP/spin.bin" >"$TMP/$DOM.xml"
virsh define "$TMP/$DOM.xml" >/dev/null || fail "virsh define"
start_domain() {
	virsh start "$DOM" >"$TMP/start.log" 2>&1 || {
		cat "$TMP/start.log" /var/log/libvirt/qemu/"$DOM".log >&2
		fail "virsh start $DOM"
	}
	QPID=$(cat "/run/libvirt/qemu/$DOM.pid") || fail "no pid file of $DOM"
}
start_domain
note "domain $DOM: QEMU pid $QPID, $(tr '\0' ' ' <"/proc/$QPID/cmdline" | grep -o -- '-name [^ ]*')"

start_daemon
wait_for 30 vm_json "$QPID" >/dev/null || fail "the domain's QEMU (pid $QPID) not in /v1/vms"

# 1. named by libvirt's domain name and UUID
vm=$(vm_json "$QPID")
[ "$(jq -r .name <<<"$vm")" = "$DOM" ] || fail "name $(jq -r .name <<<"$vm"), not $DOM"
[ "$(jq -r .uuid <<<"$vm")" = "$UUID" ] || fail "uuid $(jq -r .uuid <<<"$vm"), not $UUID"
[ "$(virsh domuuid "$DOM")" = "$UUID" ] || fail "virsh domuuid $(virsh domuuid "$DOM")"
[ "$(jq '.vcpus | length' <<<"$vm")" -eq 2 ] || fail "$(jq '.vcpus | length' <<<"$vm") vCPUs, not 2"
ID=$(jq -r .id <<<"$vm")

# each vCPU thread in the cgroup libvirt made for it (vcpuN)
cg_of() { sed -n 's/^0:://p' "/proc/$QPID/task/$1/cgroup"; }
vcpu_tid() { vm_json "$QPID" | jq -r ".vcpus[] | select(.index == $1) | .tid"; }
wait_for 20 vms_hold ".vms[] | select(.pid == $QPID) | .vcpus[0].tid > 0 and .vcpus[1].tid > 0" ||
	fail "vCPUs not both bound: $(vm_json "$QPID" | jq -c '[.vcpus[].tid]')"
tid0=$(vcpu_tid 0) tid1=$(vcpu_tid 1)
CG0=$(cg_of "$tid0") CG1=$(cg_of "$tid1")
[ "${CG0##*/}" = vcpu0 ] || fail "vCPU 0's thread $tid0 is in $CG0, not libvirt's vcpu0"
DOMCG=${CG0%/*}
[ "$CG1" = "$DOMCG/vcpu1" ] || fail "vCPU 1's thread $tid1 is in $CG1, not libvirt's $DOMCG/vcpu1"
note "vCPU threads $tid0 $tid1, domain cgroup $DOMCG"

# 2. steal_ns against libvirt's own vcpu.N.delay, beside a hog on the vCPUs' CPU:
# each reading of libvirt's ends a bracket and starts the next (a virsh
# call takes seconds in an emulated VM)
vcpu_throttled() { vm_json "$QPID" | jq -r ".vcpus[] | select(.index == $1) | .throttled_ns // 0"; }
steal() { vm_json "$QPID" | jq -r ".vcpus[] | select(.index == $1) | .steal_ns"; }
hog 1
sleep 1
st0=$(steal 0) th0=$(vcpu_throttled 0)
sleep 2
libvirt_steal_brackets 4
st1=$(steal 0) th1=$(vcpu_throttled 0)
note "beside the hog: vCPU 0 steal grew $(((st1 - st0) / 1000000)) ms, throttled $(((th1 - th0) / 1000000)) ms"
[ $((st1 - st0)) -gt 300000000 ] || fail "vCPU 0 steal grew only $((st1 - st0)) ns in >4 s beside a hog"
[ "$th1" -eq "$th0" ] || fail "throttled time grew ($th0 -> $th1) without a quota: steal taken for throttling"
kill "${PIDS[-1]}"

# 3. a vcpu_quota through libvirt: throttling from the vcpuN cgroups
virsh schedinfo "$DOM" --live --set vcpu_period=100000 --set vcpu_quota=30000 >/dev/null ||
	fail "virsh schedinfo --set vcpu_quota"
[ "$(cat "/sys/fs/cgroup$CG0/cpu.max")" = "30000 100000" ] ||
	fail "vcpu0's cpu.max is $(cat "/sys/fs/cgroup$CG0/cpu.max") after vcpu_quota=30000"
# the VM's own cgroups: the domain's and each vCPU's
vm_throttled() { echo $(($(cgroup_throttled "$DOMCG") + $(cgroup_throttled "$CG0") + $(cgroup_throttled "$CG1"))); }
wait_for 10 vms_hold ".vms[] | select(.pid == $QPID) | .vcpus[0].throttled_ns != null and .vcpus[1].throttled_ns != null" ||
	fail "no throttled_ns for the vCPUs in their vcpuN cgroups"
st0=$(steal 0) th0=$(vcpu_throttled 0)
sleep 3
libvirt_throttle_brackets 3 "the domain's cgroups"
for c in "/sys/fs/cgroup$DOMCG" "/sys/fs/cgroup$DOMCG"/*/; do
	note "${c#/sys/fs/cgroup}: cpu.max $(cat "$c/cpu.max"), throttled $(cgroup_throttled "${c#/sys/fs/cgroup}") ns"
done
[ "$(jq -r .cgroup <<<"$vm")" = "$DOMCG" ] || fail "VM cgroup $(jq -r .cgroup <<<"$vm"), not $DOMCG"
st1=$(steal 0) th1=$(vcpu_throttled 0)
note "under the quota: vCPU 0 steal grew $(((st1 - st0) / 1000000)) ms, throttled $(((th1 - th0) / 1000000)) ms"
# the kernel counts throttled time in run_delay: steal holds it, throttled_ns tells it apart
[ $((th1 - th0)) -gt 0 ] && [ $((st1 - st0)) -ge $(((th1 - th0) * 9 / 10)) ] ||
	fail "under the quota vCPU 0 throttled $((th1 - th0)) ns, steal grew $((st1 - st0)) ns"

# 4. /metrics: per-vCPU series by name and vm_id, stealtime_vm_info adds the UUID
metrics=$(curl -fsS "$URL/metrics") || fail "/metrics"
grep -E "^stealtime_vcpu_steal_seconds_total\{vm=\"$DOM\",vm_id=\"$ID\",vcpu=\"0\"\} " <<<"$metrics" >/dev/null ||
	fail "no steal series of $DOM's vCPU 0"
grep -E "^stealtime_vm_info\{vm=\"$DOM\",vm_id=\"$ID\",uuid=\"$UUID\"," <<<"$metrics" >/dev/null ||
	fail "no stealtime_vm_info with the domain's uuid"

# 4b. README's PromQL joins with Debian's prometheus-libvirt-exporter, both
# scraped by Prometheus: each query as README writes it, by its comment
readme_query() { # readme_query COMMENT: the query under "# COMMENT" in README's libvirt section
	awk -v c="# $1" '/^### libvirt/ {s = 1} s && /^```promql/ {b = 1; next} b && /^```/ {exit}
		b && /^# / {q = ($0 == c)} b && q && !/^# / {printf "%s ", $0}' "$ROOT/README.md"
}
xport=$(free_port)
bg prometheus-libvirt-exporter --web.listen-address="127.0.0.1:$xport" --libvirt.uri=qemu:///system \
	>"$TMP/exporter.log" 2>&1
cat >"$TMP/prometheus.yml" <<EOC
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: stealtime
    static_configs:
      - targets: ['${URL#http://}']
  - job_name: libvirt
    static_configs:
      - targets: ['127.0.0.1:$xport']
EOC
start_prometheus "$TMP/prometheus.yml"
wait_for 90 query_holds "libvirt_domain_info_virtual_cpus{uuid=\"$UUID\"}" '.data.result[0].value[1] == "2"' ||
	fail "the exporter's libvirt_domain_info_virtual_cpus of $UUID is not 2: $r $(tail -n 3 "$TMP/prometheus.log")"
for c in "per-vCPU steal with the domain's UUID" \
	"steal per second of CPU time the domain used (the exporter's cpu_time)" \
	"vCPUs per domain that stealtime measures: libvirt's count where they agree" \
	"domains with vCPUs that stealtime does not measure (an alert's expression)"; do
	q=$(readme_query "$c")
	[ -n "$q" ] || fail "README has no query under \"# $c\""
	case $c in
	per-vCPU*) want=".data.result | length == 2 and all(.[]; .metric.uuid == \"$UUID\" and .metric.vm == \"$DOM\")" ;;
	steal*) want=".data.result | length == 1 and .[0].metric.uuid == \"$UUID\" and (.[0].value[1] | tonumber > 0)" ;;
	vCPUs*) want=".data.result | length == 1 and .[0].metric.uuid == \"$UUID\" and .[0].value[1] == \"2\"" ;;
	domains*) want='.data.result | length == 0' ;;
	esac
	wait_for 30 query_holds "$q" "$want" || fail "README's \"$c\": $q gives $r"
	note "$c: $(jq -c '[.data.result[] | [.metric.uuid, .metric.vcpu // "", .value[1]]]' <<<"$r")"
done
# the alert's expression does fire for a domain whose vCPUs are not all measured
q=$(readme_query "domains with vCPUs that stealtime does not measure (an alert's expression)")
q=${q//stealtime_vcpu_steal_seconds_total/stealtime_vcpu_steal_seconds_total\{vcpu=\"0\"\}}
query_holds "$q" ".data.result | length == 1 and .[0].metric.uuid == \"$UUID\"" ||
	fail "the alert's expression misses a domain with a vCPU not measured: $q gives $r"

# 5. virsh destroy retires the VM; virsh start is a new VM of the same name
virsh destroy "$DOM" >/dev/null || fail "virsh destroy"
wait_for 20 vms_hold "[.vms[] | select(.id == \"$ID\" or .name == \"$DOM\")] | length == 0" ||
	fail "$DOM still in /v1/vms after virsh destroy"
old_pid=$QPID
start_domain
wait_for 30 vm_json "$QPID" >/dev/null || fail "the restarted domain (pid $QPID) not in /v1/vms"
vm=$(vm_json "$QPID")
note "restarted: $(jq -c '{id, name, uuid, pid}' <<<"$vm") (was $ID, pid $old_pid)"
jq_true "$vm" ".name == \"$DOM\" and .uuid == \"$UUID\" and .id != \"$ID\"" ||
	fail "the restarted domain is not a new VM named $DOM: $(jq -c '{id, name, uuid}' <<<"$vm")"
echo "libvirt domain named by name and uuid; steal within vcpu.N.delay; throttling from vcpuN; destroy and start"
