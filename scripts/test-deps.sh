#!/usr/bin/env bash
# Installs what the test suite needs beyond Rust and Java, from Debian's packages:
#   chromium    headless browser of the tutor-page test (tests/tutor_page_browser.rs)
#   prometheus  the server scraping churnwatch in tests/prometheus_scrape.rs, and
#               promtool for scripts/check-deploy.sh
#   python3-yaml  manifest checks of scripts/check-deploy.sh
# Does nothing when they are all present. Installing needs root (CI runs as root);
# otherwise it says what to install and fails.
set -euo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
{ command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; } \
    || missing+=(prometheus)
python3 -c 'import yaml' >/dev/null 2>&1 || missing+=(python3-yaml)
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "test-deps: missing ${missing[*]}; install them (Debian: apt-get install ${missing[*]})" >&2
    exit 1
fi
echo "test-deps: apt-get install ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The package may start its own Prometheus on :9090 where an init system runs; the tests
# start their own on a free port, so it is only stopped to keep the machine quiet.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
    systemctl stop prometheus || true
fi
