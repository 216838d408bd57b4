#!/usr/bin/env bash
# cost: 10 (seconds in a VM under TCG: tests/run.sh balances its VMs by it)
# The daemon's /metrics gzip-compressed when the client asks (curl
# --compressed, a bare Accept-Encoding: gzip through gunzip): the same
# families and series as the plain text, promtool accepts it, and
# stealtime_daemon_http_response_bytes_total counts exactly the bytes sent
# by encoding. Accept-Encoding identity, gzip;q=0 or none: plain text.
# Needs no VM: the families are written also when they have no series.
source "$(dirname "$0")/../lib.sh"
need_root; need_btf

start_daemon

# get FILE [CURL ARGS...]: GET /metrics, headers in FILE.h, body as sent in FILE
get() { local f=$1; shift; curl -fsS -D "$f.h" -o "$f" "$@" "$URL/metrics" || fail "GET /metrics $*"; }
encoding() { tr -d '\r' <"$1.h" | awk -F': ' 'tolower($1) == "content-encoding" {print $2}'; }
vary() { tr -d '\r' <"$1.h" | awk -F': ' 'tolower($1) == "vary" {print $2}'; }
bytes() { awk -v e="$1" '$1 == "stealtime_daemon_http_response_bytes_total{encoding=\"" e "\"}" {print $2}' "$2"; }
# series and families, without the daemon's counters that move between two scrapes
stable() { grep -v -e '^stealtime_daemon_' -e '^stealtime_bpf_' "$1" | sort; }
is_text() { [ "$(head -c 7 "$1")" = "# HELP " ]; }
names() { grep -o '^[a-z_]*' "$1" | sort -u; }

get "$TMP/plain"
[ -z "$(encoding "$TMP/plain")" ] || fail "no Accept-Encoding, yet Content-Encoding: $(encoding "$TMP/plain")"
[ "$(vary "$TMP/plain")" = Accept-Encoding ] || fail "no Vary: Accept-Encoding"
is_text "$TMP/plain" || fail "plain /metrics is not text"
plain_len=$(stat -c %s "$TMP/plain")

get "$TMP/gz" -H 'Accept-Encoding: gzip'
[ "$(encoding "$TMP/gz")" = gzip ] || fail "Accept-Encoding: gzip, no Content-Encoding: gzip"
[ "$(vary "$TMP/gz")" = Accept-Encoding ] || fail "gzip answer without Vary: Accept-Encoding"
gz_len=$(stat -c %s "$TMP/gz")
gunzip -c <"$TMP/gz" >"$TMP/gz.txt" || fail "the gzip body does not gunzip"
[ "$gz_len" -lt "$plain_len" ] || fail "gzip body ($gz_len bytes) not smaller than plain ($plain_len)"

get "$TMP/curl" --compressed
[ "$(encoding "$TMP/curl")" = gzip ] || fail "curl --compressed got no gzip"

for f in gz.txt curl; do
	diff <(names "$TMP/plain") <(names "$TMP/$f") >&2 || fail "$f: other metric names than the plain text"
	diff <(stable "$TMP/plain") <(stable "$TMP/$f") >&2 || fail "$f: other series than the plain text"
	command -v promtool >/dev/null && { promtool check metrics <"$TMP/$f" >&2 || fail "promtool rejects $f"; }
done

for ae in identity 'gzip;q=0' 'gzip;q=0, deflate' '*;q=0'; do
	get "$TMP/id" -H "Accept-Encoding: $ae"
	[ -z "$(encoding "$TMP/id")" ] || fail "Accept-Encoding: $ae got Content-Encoding: $(encoding "$TMP/id")"
	is_text "$TMP/id" || fail "Accept-Encoding: $ae: not plain text"
done

# The counters: a scrape shows them as they were before its own answer.
get "$TMP/a"
get "$TMP/b" -H 'Accept-Encoding: gzip'
get "$TMP/c"
a_len=$(stat -c %s "$TMP/a"); b_len=$(stat -c %s "$TMP/b")
dg=$(( $(bytes gzip "$TMP/c") - $(bytes gzip "$TMP/a") ))
di=$(( $(bytes identity "$TMP/c") - $(bytes identity "$TMP/a") ))
[ "$dg" -eq "$b_len" ] || fail "gzip bytes grew by $dg, the gzip answer was $b_len bytes"
[ "$di" -eq "$a_len" ] || fail "identity bytes grew by $di, the plain answer was $a_len bytes"
[ "$(bytes gzip "$TMP/c")" -gt 0 ] || fail "no gzip bytes counted"

note "/metrics of a daemon with $(grep -c '^stealtime_vm_info{' "$TMP/plain") VMs: $plain_len bytes, gzip $gz_len"
stop_daemon
