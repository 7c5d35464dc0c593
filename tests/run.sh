#!/usr/bin/env bash
# `npm test`: makes sure of what the tests need, then runs them (every tier, as CI does).
#   - the Kafka broker's jars (infra/kafka/fetch.sh, from Maven Central; once);
#   - Debian's chromium for the browser tests (apt-get, when /usr/bin/chromium or $CHROMIUM_PATH is missing);
#   - PostgreSQL on 127.0.0.1:5432 (trust auth, database `test`): checked, never faked;
#   - a Kafka broker: the one named by TRIBUTARY_TEST_KAFKA, else one started here on ports the OS
#     chooses and stopped at the end.
# Arguments are test files (default: every tier); `npm test -- tests/unit/*.test.ts` runs one tier.
set -euo pipefail
cd "$(dirname "$0")/.."

infra/kafka/fetch.sh >/dev/null
CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM" ]; then
  echo "tests: installing Debian's chromium for the browser tests (apt-get install chromium)" >&2
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get install -y --no-install-recommends chromium >/dev/null || {
    $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y --no-install-recommends chromium >/dev/null
  }
fi
if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
  echo "tests: PostgreSQL is not accepting connections on 127.0.0.1:5432; the store and end-to-end tests need it" >&2
  exit 1
fi

if [ -z "${TRIBUTARY_TEST_KAFKA:-}" ]; then
  port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
  export KAFKA_PORT="$(port)" KAFKA_CONTROLLER_PORT="$(port)"
  export KAFKA_WORK="$(mktemp -d "${TMPDIR:-/tmp}/tributary-test-kafka.XXXXXX")"
  trap 'infra/kafka/stop.sh >/dev/null 2>&1 || true' EXIT
  infra/kafka/start.sh
  export TRIBUTARY_TEST_KAFKA="127.0.0.1:${KAFKA_PORT}"
fi

npm run --silent typecheck
npm run --silent lint
if [ "$#" -eq 0 ]; then set -- tests/unit/*.test.ts tests/model/*.test.ts tests/integration/*.test.ts tests/faults/*.test.ts tests/browser/*.test.ts; fi
node --import tsx --test --test-concurrency=1 "$@"
