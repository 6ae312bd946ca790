#!/usr/bin/env bash
# The engine crate stays pure (issue 15, CONTRIBUTING.md): nothing that does I/O, reads a
# clock or spawns threads in its dependency tree, so that `cargo test -p
# churnwatch-engine` builds without librdkafka; and it never names the service crate.
# In both crates no two modules import each other, directly or round a loop
# (scripts/module-cycles.py).
set -euo pipefail
cd "$(dirname "$0")/.."

forbidden='^(tokio|rdkafka|rdkafka-sys|axum|hyper|reqwest|prometheus|toml|tracing|librdkafka) '
tree=$(cargo tree --locked -p churnwatch-engine -e normal,build --prefix none | sed 's/ (.*//' | sort -u)
if bad=$(grep -E "$forbidden" <<<"$tree"); then
    echo "check-layout: the engine crate depends on: $bad" >&2
    exit 1
fi
if grep -rnE '\bchurnwatch::|crate::(config|kafka|http|cli|decode|output|metrics|notify|state|query)\b' crates/engine/src; then
    echo "check-layout: the engine crate reaches into the service (above)" >&2
    exit 1
fi
echo "check-layout: crates/engine: $(wc -l <<<"$tree") crates in its tree, none of tokio, rdkafka, axum, hyper, reqwest, prometheus, toml, tracing"
scripts/module-cycles.py src crates/engine/src
