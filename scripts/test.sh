#!/usr/bin/env bash
# The whole test suite: what README names and what CI runs.
#
# Installs the Debian packages the HTTP tests need (scripts/test-deps.sh: Chromium,
# Prometheus), starts the local Apache Kafka broker the integration tests talk to
# (scripts/kafka-local.sh: fetched with Maven into ~/.cache/churnwatch on first use), then
# runs every test target: unit, rule, property, golden, command-line, Kafka, HTTP,
# Prometheus and browser tests.
# A broker this script started is stopped at the end; one that was already running is
# left alone. There are no doc tests, so that target is left out (it would close the run
# on an empty "0 passed").
#
#   TEST_KAFKA_BROKERS=host:port scripts/test.sh   use another broker instead
set -euo pipefail
cd "$(dirname "$0")/.."

log=$(mktemp)
started_broker=0
cleanup() {
    rm -f "$log"
    if [ "$started_broker" = 1 ]; then
        KAFKA_WIPE=1 scripts/kafka-local.sh stop >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT

scripts/test-deps.sh

if [ -z "${TEST_KAFKA_BROKERS:-}" ]; then
    if ! scripts/kafka-local.sh status >/dev/null 2>&1; then
        started_broker=1
    fi
    scripts/kafka-local.sh start
    export TEST_KAFKA_BROKERS=127.0.0.1:9092
fi

status=0
# --no-fail-fast: one failing test binary must not hide the results of the others.
cargo test --locked --workspace --no-fail-fast --lib --bins --tests "$@" 2>&1 | tee "$log" || status=$?
# One closing line for the whole suite, summed over every test binary.
awk '/^test result:/ { p += $4; f += $6; i += $8 }
     END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, i }' "$log"
exit "$status"
