#!/usr/bin/env bash
# churnwatch's churn-probability fit and predictions on the CDNOW sample (2,357
# customers, Fader & Hardie) against Python's lifetimes, which ships that sample: the
# published BG/NBD estimates, every customer's P(alive) and expected purchases to 1e-9,
# and the holdout table README quotes (scripts/cdnow/compare.py says what is checked).
#
#   scripts/cdnow-check.sh [CHURNWATCH_BINARY]
#
# Installs lifetimes 0.11.3 from PyPI into a virtualenv under ~/.cache/churnwatch on first
# use (pandas below 3: lifetimes' calibration summary fails on pandas 3; the venv's own
# setuptools, which still has pkg_resources, which lifetimes' datasets import). The data
# comes with the package and is not copied into the repository.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${1:-target/release/churnwatch}
[ -x "$bin" ] || cargo build --release --locked --bin churnwatch
venv=${CDNOW_VENV:-$HOME/.cache/churnwatch/lifetimes-0.11.3}
python=${PYTHON:-python3}
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import lifetimes' 2>/dev/null; then
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        "lifetimes==0.11.3" "pandas>=2,<3"
fi
data=$("$venv/bin/python" -c 'import lifetimes.datasets, os; print(os.path.join(os.path.dirname(lifetimes.datasets.__file__), "CDNOW_sample.txt"))')

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$venv/bin/python" scripts/cdnow/events.py "$data" > "$out/events.jsonl"
# The sample's 1997-09-30, moved 28 years as events.py moves every date.
end=2025-09-30T00:00:00Z
for model in bg-nbd mbg-nbd; do
    "$bin" fit "$out/events.jsonl" --calibration-end "$end" --model "$model" \
        --output "$out/$model.toml" --predictions "$out/$model-30d.jsonl" 2>/dev/null
    "$bin" fit "$out/events.jsonl" --calibration-end "$end" --model "$model" \
        --output /dev/null --predictions "$out/$model-holdout.jsonl" --horizon 273d 2>/dev/null
done
"$venv/bin/python" scripts/cdnow/compare.py "$data" "$out"
