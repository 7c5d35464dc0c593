#!/usr/bin/env bash
# Stop the broker started by start.sh (same KAFKA_PORT / KAFKA_WORK) and remove its data (KAFKA_KEEP=1:
# keep it, for a restart with KAFKA_RESUME=1).
set -u
PORT="${KAFKA_PORT:-9092}"
WORK="${KAFKA_WORK:-${TMPDIR:-/tmp}/tributary-kafka-$PORT}"
[ -f "$WORK/kafka.pid" ] || exit 0
pid="$(cat "$WORK/kafka.pid")"
if kill -TERM "$pid" 2>/dev/null; then   # the shutdown hook runs a controlled shutdown
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -KILL "$pid" 2>/dev/null || true   # throw-away data: a hard kill is fine
fi
[ "${KAFKA_KEEP:-0}" = 1 ] || rm -rf "$WORK"
