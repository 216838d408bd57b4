#!/usr/bin/env bash
# The systemd units: make install (PREFIX=/usr/local and PREFIX=/usr)
# writes a service whose ExecStart= is the daemon it installed,
# systemd-analyze verify accepts the service and the socket (with the man
# pages they cite), the service's exposure level from systemd-analyze
# security stays at or below $MAX_EXPOSURE, the hardening keeps what the
# daemon needs, and the tmpfiles.d entry creates /run/stealtimed as
# documented. Needs no running systemd.
source "$(dirname "$0")/../lib.sh"

MAX_EXPOSURE=${MAX_EXPOSURE:-5.0}
UNITS=${UNITS:-$ROOT/systemd}
# the service as make writes it from $UNITS/stealtimed.service.in
SERVICE=${SERVICE:-$BUILD/systemd/stealtimed.service}

command -v systemd-analyze >/dev/null || skip "systemd-analyze is not installed"
[ -x "$BUILD/stealtimed" ] || skip "$BUILD/stealtimed is not built (make)"
[ -f "$SERVICE" ] || skip "$SERVICE is not made (make)"

# make install PREFIX=...: ExecStart= names the daemon where it was
# installed. /usr/local (the default) last: the build's own copy of the
# service ends as make leaves it.
check_install_paths() {
	local prefix dest exec
	for prefix in /usr /usr/local; do
		dest=$TMP/install$prefix
		make -C "$ROOT" BUILD="$BUILD" PREFIX="$prefix" DESTDIR="$dest" install >"$TMP/install.log" 2>&1 ||
			{ cat "$TMP/install.log"; fail "make install PREFIX=$prefix failed"; }
		exec=$(sed -n 's/^ExecStart=//p' "$dest/etc/systemd/system/stealtimed.service")
		[ "$exec" = "$prefix/sbin/stealtimed" ] ||
			fail "PREFIX=$prefix: ExecStart=$exec, not $prefix/sbin/stealtimed"
		[ -x "$dest$exec" ] || fail "PREFIX=$prefix: no daemon installed at ExecStart=$exec"
		note "PREFIX=$prefix: ExecStart=$exec installed"
	done
	grep -q '^ExecStart=/usr/local/sbin/stealtimed$' "$SERVICE" ||
		fail "$SERVICE: ExecStart= is not /usr/local/sbin/stealtimed after make install"
}

# verify needs ExecStart= to exist and man pages for Documentation=: point
# the copies at the built daemon and a private man tree holding ours.
verify_units() {
	local dir=$TMP/units
	mkdir -p "$dir" "$TMP/man/man8"
	cp "$SERVICE" "$UNITS/stealtimed.socket" "$dir/"
	cp "$ROOT"/man/*.8 "$TMP/man/man8/"
	sed -i "s|^ExecStart=/usr/local/sbin/stealtimed|ExecStart=$BUILD/stealtimed|" \
		"$dir/stealtimed.service"
	MANPATH=$TMP/man SYSTEMD_LOG_LEVEL=notice \
		systemd-analyze verify "$dir/stealtimed.service" "$dir/stealtimed.socket" \
		>"$TMP/verify.log" 2>&1
	local rc=$?
	cat "$TMP/verify.log"
	[ $rc -eq 0 ] || fail "systemd-analyze verify: exit $rc"
	# verify exits 0 on some warnings: any output is a finding
	[ -s "$TMP/verify.log" ] && fail "systemd-analyze verify printed warnings"
	note "verify: ok"
}

check_exposure() {
	local out level
	out=$(systemd-analyze security --offline=true --no-pager "$SERVICE" 2>&1) ||
		{ echo "$out"; fail "systemd-analyze security failed"; }
	level=$(sed -n 's/.*Overall exposure level for stealtimed.service: \([0-9.]*\).*/\1/p' <<<"$out")
	[ -n "$level" ] || { echo "$out"; fail "no exposure level in the output"; }
	note "exposure level: $level (limit $MAX_EXPOSURE)"
	awk -v l="$level" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(l <= m) }' ||
		{ echo "$out" | grep '✗'; fail "exposure $level is above $MAX_EXPOSURE"; }
}

# key VALUE: the service sets exactly this line
has() { grep -qxF "$1" "$SERVICE" || fail "stealtimed.service lacks '$1'"; }
lacks() { ! grep -qE "$1" "$SERVICE" || fail "stealtimed.service must not match '$1'"; }

check_needs() {
	has "Type=notify"
	has "NotifyAccess=main"
	has 'ExecReload=/bin/kill -HUP $MAINPID'
	has "WatchdogSec=30s"
	has "RuntimeDirectory=stealtimed"
	has "ReadWritePaths=-/sys/fs/bpf/stealtimed /run/stealtimed"
	has "ExecStartPre=+/bin/mkdir -p -m 0700 /sys/fs/bpf/stealtimed"
	# the daemon reads /proc/PID of VMMs owned by other users
	lacks '^ProtectProc=(invisible|noaccess)'
	lacks '^ProcSubset=pid'
	# it binds inet sockets and never talks netlink
	lacks '^PrivateNetwork=yes'
	local cap
	for cap in CAP_BPF CAP_PERFMON CAP_SYS_ADMIN CAP_CHOWN; do
		grep -q "^CapabilityBoundingSet=.*\b$cap\b" "$SERVICE" ||
			fail "CapabilityBoundingSet= lacks $cap"
	done
	grep -q '^SystemCallFilter=.*\bbpf\b' "$SERVICE" ||
		fail "SystemCallFilter= does not allow bpf()"
	grep -qx "ListenStream=127.0.0.1:9477" "$UNITS/stealtimed.socket" ||
		fail "stealtimed.socket does not listen on 127.0.0.1:9477"
	note "service settings: ok"
}

check_tmpfiles() {
	command -v systemd-tmpfiles >/dev/null || { note "no systemd-tmpfiles: not checked"; return; }
	mkdir -p "$TMP/root/run"
	systemd-tmpfiles --root="$TMP/root" --create "$UNITS/stealtimed.tmpfiles.conf" ||
		fail "systemd-tmpfiles --create failed"
	[ "$(stat -c '%a %U %G' "$TMP/root/run/stealtimed")" = "755 root root" ] ||
		fail "/run/stealtimed: $(stat -c '%a %U %G' "$TMP/root/run/stealtimed")"
	note "tmpfiles: ok"
}

check_install_paths
verify_units
check_exposure
check_needs
check_tmpfiles
exit 0
