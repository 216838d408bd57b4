#!/usr/bin/env bash
# cost: 150 (seconds in a VM under TCG: tests/run.sh balances its VMs by it)
# A boot storm of VMMs registering at once (MANY_VMMS, 600 by default) with
# the default configuration: the daemon, started with the usual soft limit
# of 1,024 open files, has raised it (about 3 fds a registered VM); every
# VMM gets its VM, region and record, nothing fails in the daemon's log;
# when they all exit, every VM is retired and the fds are given back.
# MANY_WAVE (50) start at once, each wave registered before the next.
source "$(dirname "$0")/../lib.sh"
need_root; need_kvm; need_btf
N=${MANY_VMMS:-600} WAVE=${MANY_WAVE:-50}

ulimit -Sn 1024 # the soft limit a daemon usually starts with; the hard one stays
start_daemon
fds() { ls "/proc/$DAEMON_PID/fd" | wc -l; }
fd0=$(fds)
soft=$(awk '/^Max open files/ {print $4}' "/proc/$DAEMON_PID/limits")
note "daemon: soft open-files limit $soft, $fd0 fds open"
[ "$soft" -gt 1024 ] || fail "the daemon did not raise its soft open-files limit ($soft)"

# how many VMMs report their registration; none may report a refusal
regs() { cat "$TMP"/vmm-*.jsonl 2>/dev/null | grep -c '"event":"register".*"ok":true'; }
none_refused() {
	local refused
	! refused=$(cat "$TMP"/vmm-*.jsonl 2>/dev/null | grep -m1 '"event":"register".*"ok":false') ||
		{ tail -n 20 "$TMP/daemon.log" >&2; fail "a VMM's registration was refused: $refused"; }
}
pids=()
t0=$SECONDS
for i in $(seq 1 "$N"); do
	"$BUILD/tests/vmm/testvmm" --vcpus 1 --seconds 1800 --idle-us 10000000 --name "many-$i" \
		--control "$CONTROL_SOCK" --report "$TMP/vmm-$i.jsonl" >/dev/null 2>&1 &
	pids+=($!); PIDS+=($!)
	# a boot storm in waves of WAVE at once, each registered before the next
	[ $((i % WAVE)) -eq 0 ] || [ "$i" -eq "$N" ] || continue
	tw=$SECONDS
	while none_refused && [ "$(regs)" -lt "$i" ]; do
		[ $((SECONDS - tw)) -lt 300 ] || fail "$(regs) of $i VMMs registered $((SECONDS - tw)) s into their wave"
		sleep 1
	done
	[ "$N" -le "$WAVE" ] || note "$i registered, this wave in $((SECONDS - tw)) s; the daemon's log: $(tail -n 1 "$TMP/daemon.log")"
done
registered() { curl -fsS "$URL/v1/vms" | jq '[.vms[] | select(.registered and (.name | startswith("many-")))] | length'; }
note "$N VMMs report their registration after $((SECONDS - t0)) s"
[ "$(registered)" -eq "$N" ] || fail "$(registered) of $N VMs registered in /v1/vms"
note "$N VMMs registered in $((SECONDS - t0)) s; daemon holds $(fds) fds"
dead=0
for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || dead=$((dead + 1)); done
[ "$dead" -eq 0 ] || fail "$dead VMMs exited (registration refused?)"
commits=$(curl -fsS "$URL/v1/vms" | jq '[.vms[] | select(.name | startswith("many-")) | .vcpus[0].commit != null] | map(select(.)) | length')
[ "$commits" -eq "$N" ] || fail "$commits of $N VMs have their vCPU's record set"
! grep -qiE "too many open files|EMFILE|no region available|not tracked" "$TMP/daemon.log" ||
	fail "$(grep -iE "too many open files|EMFILE|no region available|not tracked" "$TMP/daemon.log" | head -3)"

kill "${pids[@]}" 2>/dev/null; wait "${pids[@]}" 2>/dev/null
wait_for 60 sh -c "[ \$(curl -fsS $URL/v1/vms | jq '[.vms[] | select(.name | startswith(\"many-\"))] | length') -eq 0 ]" ||
	fail "VMs left after every VMM exited"
wait_for 10 sh -c "[ \$(ls /proc/$DAEMON_PID/fd | wc -l) -le $((fd0 + 2)) ]" || fail "fds: $fd0 before, $(fds) after"
echo "$N VMMs registered at once and retired; fds back to $(fds)"
