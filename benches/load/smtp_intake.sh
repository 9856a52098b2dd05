#!/usr/bin/env bash
# SMTP intake under load: Postfix's smtp-source sends the same messages to mailcore-server and
# to a Postfix instance on this machine; both acknowledge only after a durable write (mailcore:
# fsync'd store commit; Postfix: fsync'd queue file). Prints messages/second for each and the
# ratio. Needs the Debian packages postfix (smtp-source, smtp-sink) - see
# ../shared/peers/install-peers.sh - and root (Postfix runs its own master).
#
# usage: benches/load/smtp_intake.sh [MESSAGES] [SESSIONS] [SIZE_BYTES]
set -euo pipefail
cd "$(dirname "$0")/../.."
MESSAGES=${1:-2000}
SESSIONS=${2:-10}
SIZE=${3:-5120}
PEERS=${PEERS:-/work/shared/peers}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/mailcore-ci-target}"
WORK=$(mktemp -d /tmp/mailcore-load.XXXXXX)
chmod 755 "$WORK"   # Postfix daemons (user postfix) must reach their queue inside
MC_PORT=12625; PF_PORT=12526; SINK_PORT=12525

cleanup() {
  [ -n "${MC_PID:-}" ] && kill "$MC_PID" 2>/dev/null || true
  [ -n "${SINK_PID:-}" ] && kill "$SINK_PID" 2>/dev/null || true
  if [ -f "$WORK/postfix/spool/pid/master.pid" ]; then
    postfix -c "$WORK/postfix/etc" stop >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

cargo build --release -q -p mailcore-examples --bin mailcore-server
BIN="$CARGO_TARGET_DIR/release/mailcore-server"

# mailcore: one domain, one account, MX only, no DNS lookups.
"$BIN" --data-dir "$WORK/mc" domain add example.com >/dev/null
"$BIN" --data-dir "$WORK/mc" account add bob@example.com --password pw >/dev/null
cat > "$WORK/mc.toml" <<TOML
[smtp]
max_connections_per_ip = 100
[[smtp.listeners]]
address = "127.0.0.1:$MC_PORT"
kind = "mx"
[authentication]
enabled = false
TOML
"$BIN" --config "$WORK/mc.toml" --data-dir "$WORK/mc" serve >"$WORK/mc.log" 2>&1 &
MC_PID=$!
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; return 1; }
wait_port $MC_PORT   # the dev certificate Postfix borrows exists once mailcore listens

# Postfix: relays everything to smtp-sink after queueing it durably.
smtp-sink -u nobody 127.0.0.1:$SINK_PORT 1024 >/dev/null 2>&1 &
SINK_PID=$!
CERT="$WORK/mc/tls/cert.pem" KEY="$WORK/mc/tls/key.pem" SMTP_PORT=$PF_PORT SUBM_PORT=12588 \
  RELAY="[127.0.0.1]:$SINK_PORT" "$PEERS/postfix/start-postfix.sh" "$WORK/postfix" >/dev/null

wait_port $PF_PORT

run() { # name port recipient
  local start end
  start=$(date +%s.%N)
  smtp-source -s "$SESSIONS" -m "$MESSAGES" -l "$SIZE" -f sender@example.org -t "$3" "127.0.0.1:$2"
  end=$(date +%s.%N)
  python3 -c "import sys; s=float(sys.argv[2])-float(sys.argv[1]); print(f'{sys.argv[3]}: {int(sys.argv[4])/s:.0f} msg/s ({s:.2f} s for {sys.argv[4]} messages)')" \
    "$start" "$end" "$1" "$MESSAGES"
}
echo "smtp-source -s $SESSIONS -m $MESSAGES -l $SIZE (each run on a fresh server, same machine)"
MC=$(run mailcore $MC_PORT bob@example.com); echo "$MC"
PF=$(run postfix $PF_PORT bob@example.org); echo "$PF"
python3 - "$MC" "$PF" <<'PY'
import re, sys
mc, pf = (float(re.search(r": (\d+) msg/s", a).group(1)) for a in sys.argv[1:3])
print(f"ratio mailcore / postfix: {mc / pf:.2f}x")
PY
STORED=$("$BIN" --data-dir "$WORK/mc" mailbox list bob@example.com | awk -F'\t' '$1=="INBOX"{print $3}')
echo "mailcore INBOX after the run: $STORED"
