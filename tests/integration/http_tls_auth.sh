#!/usr/bin/env bash
# cost: 40 (seconds in a VM under TCG: tests/run.sh balances its VMs by it)
# The HTTP API behind a web configuration file (exporter-toolkit's format):
# HTTPS with a self-signed certificate made here by openssl, basic auth
# with a bcrypt hash made by htpasswd. curl: right credentials 200, wrong
# or none 401 (with the challenge), plain HTTP fails, an unverified
# certificate fails; repeated good credentials cost no bcrypt (timed as a
# ratio against bad ones). Bad files stop the start with one line; on
# SIGHUP a bad file keeps the running settings and a good one applies.
# Debian's Prometheus scrapes it over TLS with basic_auth (up == 1; a job
# with a wrong password is down). Then slow clients: one address holding
# its limit of half-sent requests cannot stop a scrape from another, its
# connections beyond the limit are closed at once, and the held ones are
# closed after the timeout.
# Needs no VM: nothing here depends on one.
source "$(dirname "$0")/../lib.sh"
need_root; need_btf
for c in openssl htpasswd curl python3; do
	command -v $c >/dev/null || skip "$c not installed (scripts/install-deps.sh)"
done

TIMEOUT=3 PER_ADDR=8
WEB_USER=prom PASS='s3cret:with colon'

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
	-subj /CN=stealtimed-test -addext subjectAltName=IP:127.0.0.1,DNS:localhost \
	-keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>"$TMP/openssl.log" ||
	{ cat "$TMP/openssl.log" >&2; fail "openssl could not make a certificate"; }
hash=$(htpasswd -nbB -C 10 "$WEB_USER" "$PASS" | head -n 1 | cut -d: -f2-)
case $hash in '$2y$10$'*) ;; *) fail "htpasswd made no bcrypt hash: $hash" ;; esac
# web.yml names its files relative to its own folder, as exporter-toolkit reads them
web_yml() { # USER HASH [EXTRA LINE]
	printf 'tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\nbasic_auth_users:\n  %s: %s\n%s' \
		"$1" "'$2'" "${3:-}" >"$TMP/web.yml"
}
web_yml "$WEB_USER" "$hash"
cat >"$TMP/stealtimed.json" <<EOF
{ "http": { "connection_timeout_seconds": $TIMEOUT, "max_connections": 64,
            "max_connections_per_address": $PER_ADDR } }
EOF

# --- bad files: no start, one line --------------------------------------------
refused() { # WHAT EXPECTED-TEXT: the daemon exits 1 at once, one line naming it
	local rc=0 out
	out=$(timeout 20 "$BUILD/stealtimed" --web-config-file "$TMP/bad.yml" \
		--listen 127.0.0.1:1 --pin-dir "/sys/fs/bpf/stealtime-test-bad-$$" 2>&1) || rc=$?
	[ "$rc" = 1 ] || fail "$1: exit $rc, not 1: $out"
	[ "$(printf '%s\n' "$out" | wc -l)" = 1 ] || fail "$1: not one line: $out"
	case $out in *"$2"*) ;; *) fail "$1: '$out' does not say '$2'" ;; esac
	note "$1: $out"
}
cp "$TMP/web.yml" "$TMP/good.yml"
sed 's/cert.pem/missing.pem/' "$TMP/good.yml" >"$TMP/bad.yml"
refused "missing certificate" "tls_server_config.cert_file: $TMP/missing.pem: No such file or directory"
printf 'basic_auth_users: [\n' >"$TMP/bad.yml"
refused "bad YAML" "bad.yml:2:1: invalid YAML"
printf 'tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n  min_version: TLS13\n' >"$TMP/bad.yml"
refused "unknown key" "bad.yml:4:16: tls_server_config.min_version: not supported by stealtimed"
printf 'basic_auth_users:\n  %s: plaintext\n' "$WEB_USER" >"$TMP/bad.yml"
refused "plain password" "bad.yml:2:9: basic_auth_users.$WEB_USER: not a bcrypt hash"
printf 'tls_server_config:\n  cert_file: cert.pem\n  key_file: bad-key.pem\n' >"$TMP/bad.yml"
openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:prime256v1 -out "$TMP/bad-key.pem" 2>/dev/null
refused "key of another certificate" "cert_file and key_file cannot serve TLS"

# --- HTTPS and basic auth with curl ---------------------------------------------
HEALTH_CURL=(--cacert "$TMP/cert.pem" -u "$WEB_USER:$PASS")
DAEMON_SCHEME=https start_daemon --config "$TMP/stealtimed.json" --web-config-file "$TMP/web.yml"
PORT=${URL##*:}
grep -q 'HTTP serves: TLS, basic auth, timeout 3 s, at most 64 connections, 8 per address' "$TMP/daemon.log" ||
	fail "no start line for TLS and basic auth: $(cat "$TMP/daemon.log")"

status() { # curl options...: the HTTP status of GET /metrics, 000 when none
	curl -sS -o "$TMP/body" -D "$TMP/headers" -w '%{http_code}' --cacert "$TMP/cert.pem" "$@" 2>"$TMP/curl.err"
}
s=$(status -u "$WEB_USER:$PASS" "$URL/metrics")
[ "$s" = 200 ] || fail "right credentials: $s $(cat "$TMP/curl.err")"
grep -q '^stealtime_daemon_http_requests_total ' "$TMP/body" || fail "no metrics in the 200 answer"
challenged() { # WHAT CURL-OPTIONS...: 401 with the challenge
	local what=$1 s; shift
	s=$(status "$@" "$URL/metrics")
	[ "$s" = 401 ] || fail "$what: $s, not 401"
	tr -d '\r' <"$TMP/headers" | grep -qx 'WWW-Authenticate: Basic realm="stealtimed", charset="UTF-8"' ||
		fail "$what: no WWW-Authenticate challenge: $(cat "$TMP/headers")"
}
challenged "wrong password" -u "$WEB_USER:wrong"
challenged "unknown user" -u "nobody:$PASS"
challenged "no credentials"
s=$(status "$URL/healthz")
[ "$s" = 401 ] || fail "/healthz without credentials: $s, not 401 (every path asks)"
note "curl: right credentials 200, wrong user, wrong password, none: 401 with the challenge"

s=$(curl -sS -o /dev/null -w '%{http_code}' -u "$WEB_USER:$PASS" "http://127.0.0.1:$PORT/metrics" 2>/dev/null) &&
	fail "plain HTTP to the TLS port answered $s"
curl -sS -o /dev/null -u "$WEB_USER:$PASS" "$URL/metrics" 2>/dev/null &&
	fail "a client that does not trust the certificate got through"
note "plain HTTP and an untrusted certificate: refused"

# Good credentials are checked once (bcrypt cost 10), then come from the cache:
# 20 good requests take far less than 20 bad ones (ratio in this run, not a time)
urls() { local i; for i in $(seq 1 20); do printf '%s/healthz ' "$URL"; done; }
t0=$(date +%s%N)
# shellcheck disable=SC2046
curl -sS --cacert "$TMP/cert.pem" -u "$WEB_USER:$PASS" $(urls) >/dev/null || fail "20 good requests"
t1=$(date +%s%N)
# shellcheck disable=SC2046
curl -sS --cacert "$TMP/cert.pem" -u "$WEB_USER:wrong" $(urls) >/dev/null || fail "20 bad requests"
t2=$(date +%s%N)
good=$(( (t1 - t0) / 1000000 )) bad=$(( (t2 - t1) / 1000000 ))
note "20 good requests: $good ms, 20 bad ones: $bad ms"
[ "$bad" -gt $(( 3 * good )) ] || fail "good credentials cost as much as bad ones: not cached?"

# --- reload ----------------------------------------------------------------------
reload() { # wait for the reload's end (READY) by its log line
	local n; n=$(grep -c -e 'reload failed' -e 'configuration reloaded' "$TMP/daemon.log")
	kill -HUP "$DAEMON_PID"
	wait_for 10 sh -c "[ \$(grep -c -e 'reload failed' -e 'configuration reloaded' '$TMP/daemon.log') -gt $n ]" ||
		fail "no end of reload in the log"
}
printf 'basic_auth_users:\n  %s: not-a-hash\n' "$WEB_USER" >"$TMP/web.yml"
reload
grep -q "web configuration: $TMP/web.yml:2:9: basic_auth_users.$WEB_USER: not a bcrypt hash" "$TMP/daemon.log" ||
	fail "the bad file's error is not logged: $(tail -n 5 "$TMP/daemon.log")"
grep -q 'reload failed: keeping the running configuration' "$TMP/daemon.log" || fail "no 'reload failed'"
s=$(status -u "$WEB_USER:$PASS" "$URL/metrics")
[ "$s" = 200 ] || fail "after a bad reload the old settings do not serve: $s"
hash2=$(htpasswd -nbB -C 10 alice other | cut -d: -f2-)
web_yml alice "$hash2"
reload
wait_for 5 sh -c "[ \$(curl -s -o /dev/null -w '%{http_code}' --cacert '$TMP/cert.pem' -u alice:other '$URL/metrics') = 200 ]" ||
	fail "after a good reload the new user is refused"
s=$(status -u "$WEB_USER:$PASS" "$URL/metrics")
[ "$s" = 401 ] || fail "after a good reload the removed user still gets $s"
grep -q 'HTTP now serves: TLS, basic auth' "$TMP/daemon.log" || fail "no log line of the new settings"
note "reload: a bad file keeps the running settings, a good one replaces the users"
web_yml "$WEB_USER" "$hash"
reload
s=$(status -u "$WEB_USER:$PASS" "$URL/metrics")
[ "$s" = 200 ] || fail "back to the first file: $s"

# --- Debian's Prometheus over TLS with basic_auth ------------------------------------
if command -v prometheus >/dev/null; then
	pport=$(free_port)
	cat >"$TMP/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: stealtime
    scheme: https
    tls_config: { ca_file: $TMP/cert.pem }
    basic_auth: { username: $WEB_USER, password: '$PASS' }
    static_configs: [ { targets: ['127.0.0.1:$PORT'] } ]
  - job_name: wrong_password
    scheme: https
    tls_config: { ca_file: $TMP/cert.pem }
    basic_auth: { username: $WEB_USER, password: wrong }
    static_configs: [ { targets: ['127.0.0.1:$PORT'] } ]
EOF
	bg prometheus --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/tsdb" \
		--web.listen-address="127.0.0.1:$pport" --log.level=warn >"$TMP/prometheus.log" 2>&1
	prom_pid=$!
	P=http://127.0.0.1:$pport
	up() { # JOB VALUE: up{job=JOB} is VALUE (an empty answer never is)
		local r
		r=$(curl -fsS --get "$P/api/v1/query" --data-urlencode "query=up{job=\"$1\"}" 2>/dev/null) &&
			jq_true "$r" ".data.result[0].value[1] == \"$2\""
	}
	wait_for 60 up stealtime 1 ||
		fail "Prometheus does not see the daemon up over TLS: $(curl -s "$P/api/v1/targets" | jq -c '.data.activeTargets[] | {job: .labels.job, health, lastError}')"
	wait_for 20 up wrong_password 0 || fail "the job with a wrong password is not down"
	err=$(curl -fsS "$P/api/v1/targets" | jq -r '.data.activeTargets[] | select(.labels.job == "wrong_password") | .lastError')
	case $err in *401*) ;; *) fail "the wrong password's scrape failed otherwise: '$err'" ;; esac
	note "Prometheus: up{job=\"stealtime\"} == 1 over TLS with basic_auth; a wrong password: $err"
	kill "$prom_pid" 2>/dev/null
else
	note "prometheus not installed: the Prometheus part is not run"
fi

# --- slow clients ------------------------------------------------------------------------
# From 127.0.0.2: PER_ADDR connections that send half a TLS record and hold,
# then 4 more. A scrape from 127.0.0.1 meanwhile; then the held ones must be
# closed by the server after the timeout.
python3 - "$PORT" "$PER_ADDR" "$TIMEOUT" >"$TMP/slow.json" 2>"$TMP/slow.err" <<'EOF' &
import json, socket, sys, time
port, limit, timeout = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
def conn():
    s = socket.socket()
    s.bind(("127.0.0.2", 0))
    s.connect(("127.0.0.1", port))
    s.sendall(b"\x16\x03\x01\x02")  # the start of a TLS ClientHello, never finished
    return s
def closed(s, wait):  # EOF or reset within wait s (after a TLS alert, maybe)
    end = time.monotonic() + wait
    try:
        while True:
            s.settimeout(max(end - time.monotonic(), 0.001))
            if s.recv(64) == b"":
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False
held = []
for _ in range(limit):
    held.append(conn())
    time.sleep(0.05)  # taken by the server in this order
t0 = time.monotonic()
extra = [conn() for _ in range(4)]
extra_closed = sum(closed(s, 2) for s in extra)
print(json.dumps({"event": "holding", "extra_closed": extra_closed}), flush=True)
early = sum(closed(s, 0.01) for s in held)
ends = []
for s in held:
    left = t0 + timeout + 5 - time.monotonic()
    if closed(s, max(left, 0.01)):
        ends.append(time.monotonic() - t0)
print(json.dumps({"event": "done", "early": early, "closed": len(ends),
                  "first_s": min(ends, default=-1), "last_s": max(ends, default=-1)}), flush=True)
EOF
slow_pid=$!
wait_for 10 grep -q '"holding"' "$TMP/slow.json" || fail "the slow client did not start: $(cat "$TMP/slow.err")"
t0=$(date +%s%N)
s=$(status --max-time 3 -u "$WEB_USER:$PASS" "$URL/metrics")
took=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$s" = 200 ] || fail "a scrape while 127.0.0.2 holds $PER_ADDR connections: $s $(cat "$TMP/curl.err")"
note "scrape from 127.0.0.1 while 127.0.0.2 holds $PER_ADDR half-open connections: 200 in $took ms"
wait "$slow_pid" || fail "the slow client failed: $(cat "$TMP/slow.err")"
holding=$(grep '"holding"' "$TMP/slow.json") done=$(grep '"done"' "$TMP/slow.json")
jq_true "$holding" '.extra_closed == 4' || fail "connections beyond the per-address limit were not closed at once: $holding"
jq_true "$done" '.early == 0' || fail "held connections closed before the timeout: $done"
jq_true "$done" ".closed == $PER_ADDR and .first_s >= $TIMEOUT - 1 and .last_s <= $TIMEOUT + 5" ||
	fail "held connections not closed after the ${TIMEOUT} s timeout: $done"
note "beyond the limit: 4 of 4 closed at once; held ones closed after $(jq -r .first_s <<<"$done")..$(jq -r .last_s <<<"$done") s (timeout $TIMEOUT s)"
s=$(status -u "$WEB_USER:$PASS" "$URL/metrics")
[ "$s" = 200 ] || fail "after the slow clients: $s"
stop_daemon
echo "HTTPS, basic auth and slow-client limits hold"
