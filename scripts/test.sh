#!/usr/bin/env bash
# The whole test suite: what README names and what CI runs.
#
# Unit, rule, property, golden and command-line tests. Tests that need a Kafka broker
# join this script together with the broker they need (scripts/kafka-local.sh), so this
# one command stays the whole suite. There are no doc tests, so that target is left out
# (it would close the run on an empty "0 passed").
set -euo pipefail
cd "$(dirname "$0")/.."

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --locked --lib --bins --tests "$@" 2>&1 | tee "$log" || status=$?
# One closing line for the whole suite, summed over every test binary.
awk '/^test result:/ { p += $4; f += $6; i += $8 }
     END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, i }' "$log"
exit "$status"
