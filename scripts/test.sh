#!/usr/bin/env bash
# The whole test suite: what README names and what CI runs.
#
# Unit, rule, property and golden tests of the engine and the command line. Tests that
# need a Kafka broker join this script together with the broker they need
# (scripts/kafka-local.sh), so this one command stays the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --locked "$@"
