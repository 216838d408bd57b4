#!/usr/bin/env bash
# One daemon per pin directory. Two stealtimed started at the same instant:
# exactly one runs, the other exits 1 with one line naming the pid that
# holds the pins. A third started beside the survivor, and a --cleanup
# while it runs, touch nothing: its links (by id) and generation stay and
# its programs keep being the attached ones.
source "$(dirname "$0")/../lib.sh"
need_root; need_btf
command -v bpftool >/dev/null || skip "needs bpftool"

PIN_DIR=/sys/fs/bpf/stealtime-test-$$
launch() { # N PORT
	"$BUILD/stealtimed" --listen "127.0.0.1:$2" --control-socket "$TMP/control$1.sock" \
		--pin-dir "$PIN_DIR" >"$TMP/daemon$1.log" 2>&1 &
	PIDS+=($!)
}
p1=$(free_port); p2=$(free_port)
launch 1 "$p1"; a=$!
launch 2 "$p2"; b=$!
up() { curl -fsS "http://127.0.0.1:$1/healthz" >/dev/null 2>&1; }
winner=
for i in $(seq 1 100); do
	up "$p1" && { winner=$a; loser=$b; wlog=1; llog=2; port=$p1; break; }
	up "$p2" && { winner=$b; loser=$a; wlog=2; llog=1; port=$p2; break; }
	sleep 0.1
done
[ -n "$winner" ] || { cat "$TMP"/daemon*.log >&2; fail "neither daemon answered"; }
wait_for 10 sh -c "! kill -0 $loser 2>/dev/null" || fail "both daemons run on $PIN_DIR"
wait "$loser"; rc=$?
[ $rc -eq 1 ] || fail "the second daemon exited $rc, want 1"
cat "$TMP/daemon$llog.log"
grep -qx "<3>stealtimed (pid $winner) already runs on $PIN_DIR: not touching its pins" "$TMP/daemon$llog.log" ||
	fail "the second daemon did not name pid $winner"
[ "$(wc -l <"$TMP/daemon$llog.log")" -eq 1 ] || fail "more than one line from the second daemon"

links() { for l in "$PIN_DIR"/links/*; do bpftool -j link show pinned "$l" | jq -r '"\(.id):\(.prog_id)"'; done | sort; }
gen() { bpftool -j map lookup pinned "$PIN_DIR/settings" key 1 0 0 0 | jq -r '.value | join(" ")'; }
l0=$(links); g0=$(gen)
[ -n "$l0" ] || fail "no pinned links"

launch 3 "$(free_port)"; c=$!
wait "$c"; rc=$?
[ $rc -eq 1 ] || fail "a third daemon exited $rc, want 1"
"$BUILD/stealtimed" --cleanup --pin-dir "$PIN_DIR" >"$TMP/cleanup.log" 2>&1 && fail "--cleanup ran beside a daemon"
grep -q "already runs on $PIN_DIR" "$TMP/cleanup.log" || fail "--cleanup did not say why it refused"
[ "$(links)" = "$l0" ] || fail "the running daemon's links changed: $l0 -> $(links)"
[ "$(gen)" = "$g0" ] || fail "the generation changed: $g0 -> $(gen)"
up "$port" || fail "the running daemon stopped answering"
note "links (id:prog) $(echo $l0), generation bytes $g0: unchanged"
kill "$winner"; wait "$winner" 2>/dev/null
"$BUILD/stealtimed" --cleanup --pin-dir "$PIN_DIR" || fail "--cleanup after the daemon stopped failed"
echo "one daemon per pin directory; the others touched nothing"
