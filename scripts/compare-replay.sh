#!/usr/bin/env bash
# Behaviour unchanged across a refactoring: the generator's output, and replay output,
# --state-out and refused lines of two churnwatch binaries byte-identical on generated
# workloads (three seeds and sizes by default; eviction on in one of them so that dormant
# remainders are covered).
#
#   scripts/compare-replay.sh OLD_BINARY NEW_BINARY [WORKDIR]
#
# Build OLD from the commit before (e.g. `git worktree add /tmp/old HEAD~1 && cargo
# build --release --manifest-path /tmp/old/Cargo.toml`).
set -euo pipefail
old=${1:?old binary}
new=${2:?new binary}
work=${3:-$(mktemp -d)}
mkdir -p "$work"
now=2030-01-01T00:00:00Z
status=0
# seed members days extra-settings
while read -r seed members days sets; do
    name="seed$seed-$members"
    for which in old new; do
        bin=${!which}
        "$bin" generate --seed "$seed" --members "$members" --days "$days" --start 2026-01-01T00:00:00Z -o "$work/$name.$which.jsonl" 2>"$work/$name.generate.log"
    done
    if cmp -s "$work/$name.old.jsonl" "$work/$name.new.jsonl"; then
        echo "compare-replay: $name generated input identical ($(wc -l <"$work/$name.new.jsonl") lines)"
    else
        echo "compare-replay: $name generated input DIFFERS: diff $work/$name.old.jsonl $work/$name.new.jsonl" >&2
        status=1
    fi
    mv "$work/$name.new.jsonl" "$work/$name.jsonl"
    # Refused lines too, so that the dead letters are compared with something in them.
    cat >>"$work/$name.jsonl" <<'BAD'
{"event_id":"bad-1","member_id":"m0000001","ts":"2026-01-02T00:00:00Z","type":"order"}
not json at all
{"event_id":"bad-2","member_id":"m0000001","ts":"2026-13-40T00:00:00Z","type":"login"}
{"event_id":"bad-3","member_id":"m0000002","ts":"2026-01-03T00:00:00Z","type":"teleport"}
{"event_id":"bad-4","member_id":"","ts":"2026-01-03T00:00:00Z","type":"login"}
BAD
    for which in old new; do
        bin=${!which}
        # shellcheck disable=SC2086 # $sets is a list of --set flags
        "$bin" replay "$work/$name.jsonl" --now "$now" $sets \
            -o "$work/$name.$which.warnings" --state-out "$work/$name.$which.state" \
            --dead-letter "$work/$name.$which.dead" 2>"$work/$name.$which.log"
    done
    for part in warnings state dead; do
        if cmp -s "$work/$name.old.$part" "$work/$name.new.$part"; then
            echo "compare-replay: $name $part identical ($(wc -l <"$work/$name.new.$part") lines)"
        else
            echo "compare-replay: $name $part DIFFER: diff $work/$name.old.$part $work/$name.new.$part" >&2
            status=1
        fi
    done
done <<'WORKLOADS'
7 2000 120
42 20000 200 --set state.evict_dormant_after=120d
1234 100000 100
WORKLOADS
exit "$status"
