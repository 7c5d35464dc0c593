#!/usr/bin/env bash
# Fetch the Kafka broker's jars from Maven Central into infra/kafka/lib (idempotent).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
if [ -f "$HERE/lib/kafka_2.13-3.9.1.jar" ] && [ "${1:-}" != "--force" ]; then
  echo "kafka jars present in $HERE/lib"; exit 0
fi
rm -rf "$HERE/lib"
mvn -B -q -f "$HERE/pom.xml" \
  org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies \
  -DincludeScope=runtime -DoutputDirectory="$HERE/lib"
echo "fetched $(ls "$HERE/lib" | wc -l) jars into $HERE/lib"
