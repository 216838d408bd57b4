#!/usr/bin/env bash
# cost: 25
# A take-over that fails before the generation flips leaves the running
# programs attached and active. A directory where the next daemon pins its
# on_exit link under a temporary name makes its take-over fail after it
# pinned others (on_switch_next, ...): it removes those, and exits 1; the
# links pinned before (by id) and the generation are untouched. Once the
# obstacle is gone the next daemon takes over: a new generation, new links,
# no temporary pin left. Pins of a newer layout than this release's are
# refused and left as they are.
source "$(dirname "$0")/../lib.sh"
need_root; need_btf
command -v bpftool >/dev/null || skip "needs bpftool"

link_ids() { local f; for f in "$PIN_DIR"/links/*; do [ -f "$f" ] || continue; bpftool -j link show pinned "$f" | jq .id; done | sort -n | tr '\n' ' '; }
generation() { bpftool -j map dump pinned "$PIN_DIR/settings" | jq '.[] | select((.formatted.key // .key) == 1) | (.formatted.value // .value)'; }

start_daemon
ids0=$(link_ids); gen0=$(generation)
note "links $ids0, generation $gen0"
[ -n "$ids0" ] && [ "$gen0" -ge 1 ] || fail "no links or no generation pinned under $PIN_DIR"
kill "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null # its programs stay attached through the pins

mkdir "$PIN_DIR/links/on_exit_next"
rc=0; timeout 30 "$BUILD/stealtimed" --listen "127.0.0.1:$(free_port)" --control-socket "$TMP/control2.sock" \
	--pin-dir "$PIN_DIR" --state-dir "$TMP/state" >"$TMP/daemon2.log" 2>&1 || rc=$?
note "$(grep -m1 on_exit_next "$TMP/daemon2.log")"
[ $rc -eq 1 ] || { cat "$TMP/daemon2.log" >&2; fail "the take-over did not fail (exit $rc)"; }
[ "$(link_ids)" = "$ids0" ] || fail "pinned links changed by a failed take-over: $ids0 -> $(link_ids)"
[ "$(generation)" = "$gen0" ] || fail "generation flipped by a failed take-over: $gen0 -> $(generation)"
left=$(ls "$PIN_DIR" "$PIN_DIR/links" | grep _next | grep -vx on_exit_next) &&
	fail "temporary pins left by a failed take-over: $left"
rmdir "$PIN_DIR/links/on_exit_next"

start_daemon
ids1=$(link_ids); gen1=$(generation)
note "after the take-over: links $ids1, generation $gen1"
[ "$gen1" -eq $((gen0 + 1)) ] || fail "generation $gen0 -> $gen1 after a take-over"
for id in $ids0; do [[ " $ids1 " == *" $id "* ]] && fail "old link $id still pinned after the take-over"; done
ls "$PIN_DIR" "$PIN_DIR/links" | grep -q _next && fail "temporary pins left: $(ls -R "$PIN_DIR" | tr '\n' ' ')"

# pins of a newer layout than this release's: refused, untouched
kill "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null
ids2=$(link_ids)
bpftool map update pinned "$PIN_DIR/layout" key 0 0 0 0 value 99 0 0 0 0 0 0 0 || fail "cannot write the layout map"
rc=0; timeout 30 "$BUILD/stealtimed" --listen "127.0.0.1:$(free_port)" --control-socket "$TMP/control3.sock" \
	--pin-dir "$PIN_DIR" --state-dir "$TMP/state" >"$TMP/daemon3.log" 2>&1 || rc=$?
note "$(grep -m1 layout "$TMP/daemon3.log")"
[ $rc -eq 1 ] && grep -q "has layout 99, newer" "$TMP/daemon3.log" || { cat "$TMP/daemon3.log" >&2; fail "pins of layout 99 not refused (exit $rc)"; }
[ "$(link_ids)" = "$ids2" ] && [ "$(generation)" = "$gen1" ] || fail "pins of a newer layout were touched"
echo "a failed take-over left links $ids0 and generation $gen0 alone; the next one took over; layout 99 refused"
