#!/usr/bin/env bash
# Scale out on one machine: API processes and workers sharing PostgreSQL and Redis, then the
# scale-out bench (bench/perf_scale_out.py, which writes bench/results/perf_scale_out.json).
#
#   bash scripts/scale_out.sh [--apis 2] [--workers 2] [--quick] [bench options...]
#
# Creates a fresh PostgreSQL database (dropped on exit) and uses the first empty Redis database
# of 9-12 (flushed on exit). Needs PostgreSQL on 127.0.0.1:5432 (user postgres) and Redis on
# 127.0.0.1:6379, as the tests do. Production runs the same commands on several hosts: every
# process gets the same VOICE_AVATAR_DATABASE_URL, VOICE_AVATAR_REDIS_URL and blob store.
set -euo pipefail
cd "$(dirname "$0")/.."

APIS=2
WORKERS=2
BENCH_ARGS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --apis) APIS="$2"; shift 2 ;;
    --workers) WORKERS="$2"; shift 2 ;;
    *) BENCH_ARGS+=("$1"); shift ;;
  esac
done

PY=.venv/bin/python
CLI=.venv/bin/voice-avatar
PG_HOST=127.0.0.1
DB="voice_avatar_scale_$(date +%s)_$$"
RUN_DIR="$(mktemp -d -t voice-avatar-scale-XXXXXX)"
PIDS=()

REDIS_DB=""
for n in 9 10 11 12; do
  if [[ "$(redis-cli -n "$n" dbsize)" == "0" ]]; then REDIS_DB=$n; break; fi
done
[[ -n "$REDIS_DB" ]] || { echo "scale_out: no empty Redis database among 9-12" >&2; exit 1; }

cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  psql -h "$PG_HOST" -U postgres -q -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >/dev/null || true
  redis-cli -n "$REDIS_DB" flushdb >/dev/null || true
  echo "scale_out: stopped ${#PIDS[@]} processes, dropped $DB, flushed Redis db $REDIS_DB; logs in $RUN_DIR"
}
trap cleanup EXIT

psql -h "$PG_HOST" -U postgres -q -c "CREATE DATABASE \"$DB\""
export VOICE_AVATAR_DATABASE_URL="postgresql://postgres@$PG_HOST:5432/$DB"
export VOICE_AVATAR_REDIS_URL="redis://127.0.0.1:6379/$REDIS_DB"
export VOICE_AVATAR_HOME="$RUN_DIR/home"   # blobs: one directory every process shares (one host)
export VOICE_AVATAR_REQUIRE_CONSENT=false
export VOICE_AVATAR_RATE_LIMIT_PER_MINUTE=0   # one key drives the whole run: measure throughput, not the limit
export VOICE_AVATAR_PREGENERATE_PHRASES='["Hello!"]'
"$CLI" users list >/dev/null   # migrate once, before the processes race to

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

API_ARGS=()
for i in $(seq 1 "$APIS"); do
  port=$(free_port)
  "$CLI" serve --port "$port" >"$RUN_DIR/api-$i.log" 2>&1 &
  PIDS+=($!)
  API_ARGS+=(--api "http://127.0.0.1:$port" --api-pid "$!")
done
for i in $(seq 1 "$WORKERS"); do
  "$CLI" worker >"$RUN_DIR/worker-$i.log" 2>&1 &
  PIDS+=($!)
  API_ARGS+=(--worker-pid "$!")
done

for arg in "${API_ARGS[@]}"; do
  [[ "$arg" == http://* ]] || continue
  for _ in $(seq 1 200); do
    curl -fsS "$arg/readyz" >/dev/null 2>&1 && break
    sleep 0.3
  done
  curl -fsS "$arg/readyz" >/dev/null || { echo "scale_out: $arg not ready; see $RUN_DIR" >&2; exit 1; }
done
echo "scale_out: $APIS API processes and $WORKERS workers on $DB and Redis db $REDIS_DB (logs: $RUN_DIR)"

"$PY" bench/perf_scale_out.py "${API_ARGS[@]}" "${BENCH_ARGS[@]}"
