#!/usr/bin/env bash
# Start a throw-away single-node KRaft broker on 127.0.0.1 from the Maven jars and wait until it serves.
# Env: KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (PORT+1), KAFKA_WORK (state dir; default a folder under
# $TMPDIR named for the port), KAFKA_HEAP_OPTS, KAFKA_START_TIMEOUT (seconds, 90), KAFKA_RESUME=1 (restart on
# the state already in KAFKA_WORK, topics and offsets kept, instead of beginning empty).
# Prints "kafka ready on 127.0.0.1:PORT (pid N)" and exits 0 once the broker logged "Kafka Server started".
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
PORT="${KAFKA_PORT:-9092}"
CPORT="${KAFKA_CONTROLLER_PORT:-$((PORT + 1))}"
WORK="${KAFKA_WORK:-${TMPDIR:-/tmp}/tributary-kafka-$PORT}"
TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
[ -f "$HERE/lib/kafka_2.13-3.9.1.jar" ] || "$HERE/fetch.sh"

if [ -f "$WORK/kafka.pid" ] && kill -0 "$(cat "$WORK/kafka.pid")" 2>/dev/null; then
  echo "kafka already running on 127.0.0.1:$PORT (pid $(cat "$WORK/kafka.pid"))"; exit 0
fi
JAVA_COMMON=(-Djava.awt.headless=true -Dkafka.logs.dir="$WORK/logs"
  "-Dlog4j.configuration=file:$HERE/log4j.properties" -cp "$HERE/lib/*")
if [ "${KAFKA_RESUME:-0}" = 1 ] && [ -f "$WORK/data/meta.properties" ]; then
  # Restart on the kept state: only the old log goes (its "started" line would end the wait at once).
  mv -f "$WORK/logs/server.log" "$WORK/logs/server.log.previous" 2>/dev/null || true
else
# A stale meta.properties with another cluster id makes the broker refuse to start: always begin empty.
rm -rf "$WORK"; mkdir -p "$WORK/data" "$WORK/logs"
sed -e "s#@DATA@#$WORK/data#g" -e "s#@PORT@#$PORT#g" -e "s#@CPORT@#$CPORT#g" \
  "$HERE/server.properties.in" > "$WORK/server.properties"

# A random 16-byte id in URL-safe base64, as Kafka's Uuid; like Kafka, never one starting with '-' (the
# format tool would read it as an option).
CLUSTER_ID="-"
while [ "${CLUSTER_ID#-}" != "$CLUSTER_ID" ]; do
  CLUSTER_ID="$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
done
java -Xmx256m -XX:TieredStopAtLevel=1 "${JAVA_COMMON[@]}" kafka.tools.StorageTool format \
  --cluster-id="$CLUSTER_ID" -c "$WORK/server.properties" >"$WORK/logs/format.out" 2>&1 \
  || { cat "$WORK/logs/format.out" >&2; exit 1; }
fi

HEAP="${KAFKA_HEAP_OPTS:--Xms256m -Xmx768m}"
# setsid: the broker outlives this script and is not killed with the caller's process group.
setsid nohup java $HEAP -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
  -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 \
  "${JAVA_COMMON[@]}" kafka.Kafka "$WORK/server.properties" \
  >"$WORK/logs/kafka.out" 2>&1 </dev/null &
echo $! > "$WORK/kafka.pid"

deadline=$((SECONDS + TIMEOUT))
until grep -q "Kafka Server started" "$WORK/logs/server.log" 2>/dev/null; do
  if ! kill -0 "$(cat "$WORK/kafka.pid")" 2>/dev/null; then
    echo "kafka exited during start-up" >&2
    tail -n 50 "$WORK/logs/kafka.out" "$WORK/logs/server.log" >&2 2>/dev/null || true; exit 1
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then echo "kafka not ready after ${TIMEOUT}s" >&2; exit 1; fi
  sleep 0.3
done
echo "kafka ready on 127.0.0.1:$PORT (pid $(cat "$WORK/kafka.pid"))"
