#!/usr/bin/env bash
# cost: 180 (seconds in a VM under TCG: tests/run.sh balances its VMs by it)
# The Debian packages of make deb, in a clean system: a throwaway VM of
# tests/vm/run.sh (this machine's file system under a tmpfs overlay; the
# packages are never installed on this machine itself). dpkg -i installs
# them; their files are where they should be, the unit's ExecStart= is the
# installed /usr/sbin/stealtimed and systemd-analyze verify accepts the
# units; the daemon, started as the unit starts it (its configuration, its
# pin_dir), finds a KVM VM of the test VMM and its steal, and a program
# built with pkg-config against libstealtime-vmm-dev talks to it. An
# upgrade (a newer version, dpkg -i) keeps the pins and the new daemon
# adopts them; dpkg --purge leaves nothing the packages brought (files,
# state, runtime directory, pins, attached programs), also when a daemon
# still ran at the removal.
source "$(dirname "$0")/../lib.sh"
need_root
cd "$ROOT" || fail "no $ROOT"
DEB_DIR=$BUILD/deb

if [ -z "${STEALTIME_VM:-}" ]; then
	# built here, then tested in a VM of its own
	make -s BUILD="$BUILD" deb >"$TMP/deb.log" 2>&1 || { tail -n 40 "$TMP/deb.log"; fail "make deb failed"; }
	command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86 not installed"
	bash tests/vm/run.sh --timeout 900 -- env BUILD="$BUILD" bash "$0"
	exit $?
fi
# In a VM (this script's, or tests/run.sh's): no network, and compiling
# under TCG is slow, so the packages come from make deb outside (make
# check makes them).
make -q BUILD="$BUILD" "$DEB_DIR/.built" 2>/dev/null ||
	fail "$DEB_DIR is missing or older than the sources: make deb (make check does) before running this in a VM"
need_kvm; need_btf
DEB=$(ls "$DEB_DIR"/stealtime_*_amd64.deb) || fail "no stealtime package in $DEB_DIR"
DEV_DEB=$(ls "$DEB_DIR"/libstealtime-vmm-dev_*_amd64.deb) || fail "no libstealtime-vmm-dev package in $DEB_DIR"
VERSION=$(dpkg-deb -f "$DEB" Version)
PINS=/sys/fs/bpf/stealtimed
STATE=/var/lib/stealtimed
UNIT=/lib/systemd/system/stealtimed.service
note "packages $VERSION: $(basename "$DEB") $(basename "$DEV_DEB")"

# whatever happens, the VM's later suites find no package and no pin
purge_at_exit() {
	local p
	for p in stealtime libstealtime-vmm-dev; do
		dpkg-query -W -f '${db:Status-Status}' "$p" 2>/dev/null | grep -qv '^not-installed$' &&
			dpkg --purge "$p" >/dev/null 2>&1
	done
	rm -rf "$PINS"
	cleanup
}
trap purge_at_exit EXIT
# the manual pages' index is not rebuilt at each dpkg run (slow under TCG)
rm -f /var/lib/man-db/auto-update
dpkg -s stealtime >/dev/null 2>&1 && fail "stealtime is installed before the test"

# what the packages bring that is not here before: all of it must be gone after purge
for d in "$DEB" "$DEV_DEB"; do dpkg-deb -c "$d" | awk '{print $6}' | sed 's|^\./|/|; s|/$||'; done |
	grep -v '^$' | sort -u >"$TMP/paths"
printf '%s\n' "$STATE" /run/stealtimed "$PINS" >>"$TMP/paths"
while read -r p; do [ -e "$p" ] || echo "$p"; done <"$TMP/paths" >"$TMP/new-paths"
grep -qx "$PINS" "$TMP/new-paths" || fail "$PINS exists before the install"
note "$(wc -l <"$TMP/new-paths") paths new with the packages"

switch_progs() { bpftool -j prog show | jq '[.[] | select(.name | startswith("on_switch"))] | length'; }
[ "$(switch_progs)" -eq 0 ] || fail "an on_switch program is loaded before the test"

# ---- install ----------------------------------------------------------------
# dpkg -i, not apt-get: the same dependency check against what is installed
# (every Depends must be there already: the VM has no network), without
# apt's parsing of the package lists, minutes under TCG
dpkg -i "$DEB" "$DEV_DEB" >"$TMP/install.log" 2>&1 || { cat "$TMP/install.log"; fail "dpkg -i failed"; }
for f in /usr/sbin/stealtimed /usr/bin/stealtimectl "$UNIT" /lib/systemd/system/stealtimed.socket \
	/usr/lib/tmpfiles.d/stealtimed.conf /etc/stealtimed/stealtimed.json \
	/usr/share/man/man8/stealtimed.8.gz /usr/share/man/man8/stealtimectl.8.gz; do
	dpkg -L stealtime | grep -qx "$f" || fail "stealtime does not list $f"
	[ -e "$f" ] || fail "$f is not installed"
done
for f in /usr/include/stealtime_vmm.h /usr/lib/x86_64-linux-gnu/libstealtime-vmm.a \
	/usr/lib/x86_64-linux-gnu/pkgconfig/stealtime-vmm.pc; do
	dpkg -L libstealtime-vmm-dev | grep -qx "$f" || fail "libstealtime-vmm-dev does not list $f"
	[ -e "$f" ] || fail "$f is not installed"
done
grep -qx /etc/stealtimed/stealtimed.json /var/lib/dpkg/info/stealtime.conffiles ||
	fail "/etc/stealtimed/stealtimed.json is not a conffile"
cmp -s /etc/stealtimed/stealtimed.json config/stealtimed.json || fail "the installed configuration is not config/stealtimed.json"
[ "$(stat -c '%a %U' /run/stealtimed 2>/dev/null)" = "755 root" ] || fail "postinst did not create /run/stealtimed (tmpfiles)"
# installed, not enabled (the operator enables it)
[ ! -e /etc/systemd/system/multi-user.target.wants/stealtimed.service ] || fail "the service was enabled"
exec_start=$(sed -n 's/^ExecStart=//p' "$UNIT")
[ "$exec_start" = /usr/sbin/stealtimed ] || fail "ExecStart=$exec_start in $UNIT"
SYSTEMD_LOG_LEVEL=notice systemd-analyze verify "$UNIT" /lib/systemd/system/stealtimed.socket >"$TMP/verify.log" 2>&1 ||
	{ cat "$TMP/verify.log"; fail "systemd-analyze verify of the installed units"; }
[ -s "$TMP/verify.log" ] && { cat "$TMP/verify.log"; fail "systemd-analyze verify printed warnings"; }
/usr/sbin/stealtimed --check-config /etc/stealtimed/stealtimed.json >/dev/null || fail "the installed configuration is invalid"
note "(${SECONDS}s) installed: files, conffile, /run/stealtimed, unit verified, ExecStart=$exec_start"

# ---- the installed daemon against a KVM VM ----------------------------------
# as the unit starts it (the installed configuration: pin_dir, control
# socket, state_dir), on a free port instead of the socket unit's
port=$(free_port)
URL=http://127.0.0.1:$port
CONTROL_SOCK=/run/stealtimed/control.sock
start_installed() { # LOG
	$exec_start --listen "127.0.0.1:$port" --rescan-interval 1 >"$1" 2>&1 &
	DAEMON_PID=$!; PIDS+=($DAEMON_PID)
	wait_for 30 curl -fsS "$URL/healthz" >/dev/null 2>&1 || { cat "$1"; fail "the installed stealtimed did not answer"; }
}
stop_installed() {
	kill "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null
}
start_installed "$TMP/daemon1.log"
start_testvmm --vcpus 1 --seconds 600 --control "$CONTROL_SOCK"
wait_for 20 vms_hold ".vms[] | select(.pid == $VMM_PID) | .registered and .vcpus[0].steal_ns > 0" ||
	{ api /v1/vms; fail "the VM is not listed with its steal"; }
id=$(vm_json "$VMM_PID" | jq -r .id)
s1=$(vm_json "$VMM_PID" | jq .vcpus[0].steal_ns)
[ -e "$PINS/vcpus" ] && [ -d "$PINS/links" ] || fail "nothing pinned under $PINS"
[ -d "$STATE" ] || fail "no $STATE"
stealtimectl --server "$URL" show "$VMM_PID" >"$TMP/ctl.out" 2>&1 ||
	{ cat "$TMP/ctl.out"; fail "the installed stealtimectl show failed"; }
grep -q "$id" "$TMP/ctl.out" || { cat "$TMP/ctl.out"; fail "stealtimectl show does not show VM $id"; }
note "(${SECONDS}s) VM $id listed, vCPU 0 steal ${s1} ns; pins under $PINS"

# ---- libstealtime-vmm-dev: a program built with pkg-config ------------------
cat >"$TMP/client.c" <<'EOF'
#include <stdio.h>
#include <stealtime_vmm.h>

/* connects to the daemon's default socket and asks to register: this
 * process has no KVM VM, so the daemon answers why not */
int main(void)
{
	struct st_vmm *c;
	int err = st_vmm_connect(&c, NULL);

	if (err) {
		fprintf(stderr, "connect: %d\n", err);
		return 1;
	}
	err = st_vmm_register(c, 0x40000000);
	printf("register: %d %s\n", err, st_vmm_error(c));
	st_vmm_close(c);
	return 0;
}
EOF
flags=$(pkg-config --cflags --libs stealtime-vmm) || fail "pkg-config stealtime-vmm"
cc -o "$TMP/client" "$TMP/client.c" $flags 2>"$TMP/cc.log" || { cat "$TMP/cc.log"; fail "cc $flags failed"; }
out=$("$TMP/client") || fail "the client failed: $out"
grep -q "has no KVM VM" <<<"$out" || fail "the client did not get the daemon's answer: $out"
note "(${SECONDS}s) pkg-config: $flags; client: $out"

# ---- upgrade: the pins stay, the new daemon adopts them ---------------------
stop_installed
[ -e "$PINS/vcpus" ] || fail "stopping the daemon removed the pins"
mkdir "$TMP/up"
dpkg-deb -R "$DEB" "$TMP/up/root"
sed -i "s/^Version: .*/Version: $VERSION+up1/" "$TMP/up/root/DEBIAN/control"
# uncompressed: xz under TCG takes minutes
dpkg-deb -Znone -b "$TMP/up/root" "$TMP/up/stealtime.deb" >/dev/null || fail "repacking a newer version"
dpkg -i "$TMP/up/stealtime.deb" >"$TMP/upgrade.log" 2>&1 || { cat "$TMP/upgrade.log"; fail "dpkg -i of $VERSION+up1"; }
[ "$(dpkg-query -W -f '${Version}' stealtime)" = "$VERSION+up1" ] || fail "not upgraded"
[ -e "$PINS/vcpus" ] && [ -d "$PINS/links" ] || fail "the upgrade removed the pins"
[ "$(switch_progs)" -eq 1 ] || fail "$(switch_progs) on_switch programs attached after the upgrade (want the pinned one)"
start_installed "$TMP/daemon2.log"
grep -q adopted "$TMP/daemon2.log" || { cat "$TMP/daemon2.log"; fail "the upgraded daemon did not adopt the pins"; }
wait_for 20 vms_hold ".vms[] | select(.pid == $VMM_PID) | .id == \"$id\" and .vcpus[0].steal_ns >= $s1" ||
	{ api /v1/vms; fail "VM $id lost its id or steal across the upgrade"; }
note "(${SECONDS}s) upgraded to $VERSION+up1: pins kept and adopted, VM $id kept"

# ---- purge ------------------------------------------------------------------
stop_installed
kill "$VMM_PID"; wait "$VMM_PID" 2>/dev/null
dpkg --purge stealtime libstealtime-vmm-dev >"$TMP/purge.log" 2>&1 || { cat "$TMP/purge.log"; fail "dpkg --purge"; }
left=$(while read -r p; do [ -e "$p" ] && echo "$p"; done <"$TMP/new-paths")
[ -z "$left" ] || fail "left after purge: $(tr '\n' ' ' <<<"$left")"
[ "$(switch_progs)" -eq 0 ] || fail "$(switch_progs) on_switch programs still attached after purge"
note "(${SECONDS}s) purged: nothing left, no program attached"

# a daemon still running at the removal (not stopped by systemd): its
# --cleanup is refused, and purge removes the pins
dpkg -i "$DEB" >"$TMP/install2.log" 2>&1 || { cat "$TMP/install2.log"; fail "dpkg -i again"; }
start_installed "$TMP/daemon3.log"
[ -e "$PINS/vcpus" ] || fail "nothing pinned"
dpkg --purge stealtime >"$TMP/purge2.log" 2>&1 || { cat "$TMP/purge2.log"; fail "dpkg --purge with a daemon running"; }
[ ! -e "$PINS" ] || fail "purge with a daemon running left $PINS"
stop_installed
[ "$(switch_progs)" -eq 0 ] || fail "$(switch_progs) on_switch programs attached after the daemon stopped"
left=$(while read -r p; do [ -e "$p" ] && echo "$p"; done <"$TMP/new-paths")
[ -z "$left" ] || fail "left after the second purge: $(tr '\n' ' ' <<<"$left")"
echo "(${SECONDS}s) debian packages ok: installed, ran against KVM, upgraded keeping pins, purged clean"
