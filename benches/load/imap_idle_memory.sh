#!/usr/bin/env bash
# Memory per idle IMAP connection: opens CONNECTIONS connections that each LOGIN, SELECT INBOX
# and IDLE (benches/load/imap_idle_client.py, Python asyncio), and reports the server's
# (RSS with all of them idling - RSS before the first one) / CONNECTIONS, plus the time it took
# to establish them. Linux only (reads /proc/PID/status); raising the fd limit above the hard
# limit needs root.
#
# The server is benches/load/imap_idle_server.rs: mailcore_imap::server::serve over an embedded
# store as `mailcore-server serve` runs it, with a connection limiter that admits CONNECTIONS
# (mailcore-server hard-codes 1,000 connections in all per protocol). SERVER=mailcore-server
# measures the real binary instead (implicit-TLS listener from a config file; at most ~1,000
# connections then).
#
# usage: benches/load/imap_idle_memory.sh
#   CONNECTIONS=10000  connections to open (e.g. CONNECTIONS=2000 on a small machine)
#   MODE=tls           tls: implicit TLS (rustls state included); plain: LOGIN over plaintext
#   CONCURRENCY=32     connections being set up at once (each LOGIN is an argon2id check, so
#                      setup runs at ~45 logins/s on 2 cores: 10,000 take ~4 minutes)
#   SETUP_TIMEOUT=330  seconds for all connections to reach IDLE before giving up
#   SERVER=bench       bench: imap_idle_server; mailcore-server: the release binary (MODE=tls)
#   MMAP_THRESHOLD=131072  the server's MALLOC_MMAP_THRESHOLD_ (glibc); empty = glibc default
#
# Why MMAP_THRESHOLD: every LOGIN verifies an argon2id hash in a 19 MiB buffer on a blocking
# thread. With glibc's default dynamic mmap threshold those buffers move into per-thread malloc
# arenas after the first free and stay resident, so RSS would mostly measure retained password
# hashing buffers (GiBs), not connections. A fixed threshold keeps them mmap'd and returned on
# free; small allocations (the connections' state) are unaffected. Run with MMAP_THRESHOLD= to
# see the default behaviour.
set -euo pipefail
cd "$(dirname "$0")/../.."
CONNECTIONS=${CONNECTIONS:-10000}
MODE=${MODE:-tls}
CONCURRENCY=${CONCURRENCY:-32}
SERVER=${SERVER:-bench}
MMAP_THRESHOLD=${MMAP_THRESHOLD-131072}
SETUP_TIMEOUT=${SETUP_TIMEOUT:-330}   # seconds for all to reach IDLE (10,000: ~4 min on 2 cores)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/mailcore-ci-target}"
WORK=$(mktemp -d /tmp/mailcore-imap-idle.XXXXXX)
TLS_PORT=12993; PLAIN_PORT=12143; SMTP_PORT=12526

cleanup() {
  exec 3>&- 2>/dev/null || true
  [ -n "${CLIENT_PID:-}" ] && kill "$CLIENT_PID" 2>/dev/null || true
  [ -n "${SERVER_PID:-}" ] && kill "$SERVER_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# Server and client each hold one fd per connection.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((CONNECTIONS + 200)) ]; then
  echo "fd limit $(ulimit -n) is too low for $CONNECTIONS connections" >&2; exit 1
fi

SERVER_ENV=()
if [ -n "$MMAP_THRESHOLD" ]; then SERVER_ENV=(MALLOC_MMAP_THRESHOLD_="$MMAP_THRESHOLD"); fi
wait_port() { for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; return 1; }

if [ "$SERVER" = mailcore-server ]; then
  [ "$MODE" = tls ] || { echo "mailcore-server refuses LOGIN before TLS: use MODE=tls" >&2; exit 1; }
  cargo build --release -q -p mailcore-examples --bin mailcore-server
  BIN="$CARGO_TARGET_DIR/release/mailcore-server"
  "$BIN" --data-dir "$WORK/data" domain add example.com >/dev/null
  "$BIN" --data-dir "$WORK/data" account add u@example.com --password pw >/dev/null
  cat > "$WORK/mc.toml" <<TOML
[[smtp.listeners]]
address = "127.0.0.1:$SMTP_PORT"
kind = "mx"
[authentication]
enabled = false
[pop3]
listeners = []
[imap]
max_connections_per_ip = $((CONNECTIONS + 100))
[[imap.listeners]]
address = "127.0.0.1:$TLS_PORT"
implicit_tls = true
TOML
  env "${SERVER_ENV[@]}" "$BIN" --config "$WORK/mc.toml" --data-dir "$WORK/data" serve >"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
else
  cargo build --release -q -p mailcore-benches --example imap_idle_server
  env "${SERVER_ENV[@]}" "$CARGO_TARGET_DIR/release/examples/imap_idle_server" "$WORK/data" $TLS_PORT $PLAIN_PORT \
    $((CONNECTIONS + 100)) >"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
fi
wait_port $TLS_PORT
sleep 1
rss() { awk -v k="$1:" '$1==k{print $2}' "/proc/$SERVER_PID/status"; }   # KiB
fds() { ls "/proc/$SERVER_PID/fd" | wc -l; }
sockets() { find "/proc/$SERVER_PID/fd" -lname 'socket:*' | wc -l; }
RSS_BEFORE=$(rss VmRSS); FDS_BEFORE=$(fds)

if [ "$MODE" = tls ]; then PORT=$TLS_PORT; TLS_FLAG=--tls; else PORT=$PLAIN_PORT; TLS_FLAG=; fi
mkfifo "$WORK/hold"
python3 benches/load/imap_idle_client.py 127.0.0.1 $PORT "$CONNECTIONS" $TLS_FLAG \
  --concurrency "$CONCURRENCY" --timeout "$SETUP_TIMEOUT" <"$WORK/hold" >"$WORK/client.out" 2>&1 &
CLIENT_PID=$!
exec 3>"$WORK/hold"   # the client holds its connections until this closes
deadline=$((SECONDS + SETUP_TIMEOUT + 30))
until grep -qE '^(idle|failed)' "$WORK/client.out" 2>/dev/null; do
  if [ $SECONDS -ge $deadline ] || ! kill -0 "$CLIENT_PID" 2>/dev/null; then
    echo "client did not finish:" >&2; cat "$WORK/client.out" >&2; exit 1
  fi
  sleep 0.5
done
if grep -q '^failed' "$WORK/client.out"; then cat "$WORK/client.out" >&2; tail -5 "$WORK/server.log" >&2; exit 1; fi
read -r _ OPEN SETUP_SECS < <(grep '^idle' "$WORK/client.out")
sleep 3   # let the server settle (blocking-pool threads of the logins exit after 10 s idle)
RSS_IDLE=$(rss VmRSS); HWM=$(rss VmHWM); FDS_IDLE=$(fds)
sleep 10
RSS_IDLE_LATER=$(rss VmRSS)
exec 3>&-
for _ in $(seq 120); do grep -q '^closed' "$WORK/client.out" && break; sleep 0.5; done
wait "$CLIENT_PID" 2>/dev/null || true
CLIENT_PID=
sleep 3
RSS_CLOSED=$(rss VmRSS); FDS_CLOSED=$(fds); SOCKETS_CLOSED=$(sockets)

echo "server: $SERVER, mode: $MODE, MALLOC_MMAP_THRESHOLD_=${MMAP_THRESHOLD:-glibc default}, connections: $OPEN (set up $CONCURRENCY at a time)"
echo "established + LOGIN + SELECT + IDLE in ${SETUP_SECS} s ($(python3 -c "print(f'{$OPEN/$SETUP_SECS:.0f}')") connections/s)"
echo "server fds: before $FDS_BEFORE, idle $FDS_IDLE, after close $FDS_CLOSED ($SOCKETS_CLOSED sockets)"
echo "server VmRSS KiB: before $RSS_BEFORE, all idle $RSS_IDLE (+13 s: $RSS_IDLE_LATER), after close $RSS_CLOSED; VmHWM $HWM"
python3 - "$RSS_BEFORE" "$RSS_IDLE" "$RSS_IDLE_LATER" "$OPEN" <<'PY'
import sys
before, idle, later, n = map(float, sys.argv[1:5])
print(f"per idle connection: {(idle - before) / n:.1f} KiB (at +13 s: {(later - before) / n:.1f} KiB)")
PY
