#!/usr/bin/env bash
# Make sure Debian's Chromium is at /usr/bin/chromium for the browser tests (tests/web). Playwright's
# own `playwright install` downloads a browser build from outside the package registries, which CI
# cannot reach, so the tests drive the distribution's package instead. Meant for CI on Debian 12 as
# root; returns at once when Chromium is already there.
# Usage: bash scripts/browser.sh
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "browser: $CHROMIUM is missing; run this as root, or: sudo apt-get install -y chromium" >&2
    exit 1
fi
echo "browser: installing chromium with apt" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >&2
# The fonts are only recommended by the package; screenshots need them whatever apt is told.
apt-get install -y -q chromium fonts-liberation >&2
"$CHROMIUM" --version >&2
