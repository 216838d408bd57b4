#!/usr/bin/env bash
# cost: 66 (seconds in a VM under TCG: tests/run.sh balances its VMs by it)
# stealtimectl against a live daemon: two test VMs and a CPU hog share CPU 1.
# The interactive top (in tmux, 80x24) shows both VMs with a steal share
# between 20 and 80 % and quits on q with status 0; batch and JSON frames
# say the same; show names the hog among the culprits; show --json is the
# daemon's own document; an unreachable daemon is an error.
source "$(dirname "$0")/../lib.sh"
need_root; need_kvm; need_btf
command -v tmux >/dev/null || skip "tmux not installed"
[ "$(nproc)" -ge 2 ] || skip "needs 2 CPUs"
CTL=$BUILD/stealtimectl
[ -x "$CTL" ] || fail "$CTL not built"

start_daemon
start_testvmm --vcpus 1 --cpu 1 --seconds 600 --name topvm-a; pid_a=$VMM_PID
start_testvmm --vcpus 1 --cpu 1 --seconds 600 --name topvm-b; pid_b=$VMM_PID
hog 1
bound() { vm_json "$1" | jq -e '.vcpus | length == 1 and .[0].tid > 0' >/dev/null; }
wait_for 10 bound "$pid_a" || fail "VM a not listed with its vCPU"
wait_for 10 bound "$pid_b" || fail "VM b not listed with its vCPU"
name_a=$(vm_json "$pid_a" | jq -r .name); id_a=$(vm_json "$pid_a" | jq -r .id)
name_b=$(vm_json "$pid_b" | jq -r .name)
note "VMs: $name_a ($id_a), $name_b"
[[ $name_a == topvm-a* ]] && [[ $name_b == topvm-b* ]] || fail "unexpected names $name_a, $name_b"

# steal % of the row that starts with NAME in a text frame FILE (last one when several)
row_pct() { awk -v n="$2" '$1 == n { p = $3 } END { print p }' "$1"; }
pct_ok() { [ -n "$1" ] && awk -v p="$1" 'BEGIN { exit !(p >= 20 && p <= 80) }'; }

# --- interactive, in a terminal ------------------------------------------------------
sess=stealtime-top-$$
tmux kill-session -t "$sess" 2>/dev/null
tmux new-session -d -s "$sess" -x 80 -y 24 \
	"$CTL --server $URL top -d 0.5; echo \$? >$TMP/top.rc" || fail "tmux new-session"
sleep 2.5
tmux capture-pane -p -t "$sess" >"$TMP/pane" || fail "tmux capture-pane"
cat "$TMP/pane"
grep -q "last 0.5" "$TMP/pane" || fail "top does not show an interval frame"
for n in "$name_a" "$name_b"; do
	p=$(row_pct "$TMP/pane" "$n")
	pct_ok "$p" || fail "top shows steal '$p' for $n, expected 20..80"
done
awk 'length($0) > 80 { exit 1 }' "$TMP/pane" || fail "a line is wider than 80 columns"
tmux send-keys -t "$sess" n
sleep 0.3
tmux capture-pane -p -t "$sess" | grep -q "sort: name" || fail "key n did not sort by name"
tmux send-keys -t "$sess" q
for i in $(seq 1 20); do tmux has-session -t "$sess" 2>/dev/null || break; sleep 0.1; done
if tmux has-session -t "$sess" 2>/dev/null; then
	tmux kill-session -t "$sess"
	fail "top did not quit within 2 s of q"
fi
[ "$(cat "$TMP/top.rc" 2>/dev/null)" = 0 ] || fail "top exited with '$(cat "$TMP/top.rc" 2>/dev/null)'"

# --- batch and JSON frames -------------------------------------------------------------
"$CTL" --server "$URL" top -b -n 2 -d 0.5 >"$TMP/batch" || fail "top -b failed"
cat "$TMP/batch"
[ "$(grep -c '^stealtimectl top' "$TMP/batch")" = 2 ] || fail "top -b -n 2 did not print 2 frames"
grep -q "since start" "$TMP/batch" || fail "frame 0 is not since start"
tail -n +2 "$TMP/batch" | sed -n '/^stealtimectl top/,$p' >"$TMP/frame1"
for n in "$name_a" "$name_b"; do
	pct_ok "$(row_pct "$TMP/frame1" "$n")" || fail "batch frame 1: steal of $n out of 20..80"
done
"$CTL" --server "$URL" --json top -n 2 -d 0.5 >"$TMP/json" || fail "top --json failed"
[ "$(wc -l <"$TMP/json")" = 2 ] || fail "top --json -n 2 did not print 2 lines"
tail -n 1 "$TMP/json" | jq -e --arg a "$name_a" --arg b "$name_b" '
	.frame == 1 and .since_start == false and .interval_s > 0.3 and
	([.vms[] | select(.name == $a or .name == $b) | .steal_pct | select(. >= 20 and . <= 80)] | length == 2) and
	([.vms[] | select(.name == $a) | .vcpus] == [1])' >/dev/null ||
	fail "top --json frame: $(tail -n 1 "$TMP/json")"
head -n 1 "$TMP/json" | jq -e '.frame == 0 and .since_start and .interval_s == null' >/dev/null ||
	fail "top --json frame 0: $(head -n 1 "$TMP/json")"

# --- show ------------------------------------------------------------------------------------
"$CTL" --server "$URL" show "$id_a" >"$TMP/show" || fail "show failed"
cat "$TMP/show"
awk '/WHO RAN INSTEAD/ { t = 1; next } t && $1 == "bash" && $2 == "process" { f = 1 } END { exit !f }' \
	"$TMP/show" || fail "show does not name the hog (bash) among the culprits"
grep -Eq '^Waits +p50 <= .*, p99 <= .*, max ' "$TMP/show" || fail "show has no wait percentiles"
grep -q '^Throttled ' "$TMP/show" || fail "show has no throttled line"
"$CTL" --server "$URL" --json show "$id_a" >"$TMP/show.json" || fail "show --json failed"
api "/v1/vms/$id_a" >"$TMP/api.json" || fail "GET /v1/vms/$id_a"
stable='{name, id, pid, nvcpus: (.vcpus | length)}'
[ "$(jq -c "$stable" "$TMP/show.json")" = "$(jq -c "$stable" "$TMP/api.json")" ] ||
	fail "show --json $(jq -c "$stable" "$TMP/show.json") != API $(jq -c "$stable" "$TMP/api.json")"

# --- no daemon -----------------------------------------------------------------------------------
"$CTL" --server http://127.0.0.1:1 top -b -n 1 >/dev/null 2>"$TMP/err"; rc=$?
[ $rc = 1 ] || fail "top without a daemon exited $rc"
grep -q "cannot reach stealtimed" "$TMP/err" || fail "no clear message: $(cat "$TMP/err")"
echo "ctl top ok"
