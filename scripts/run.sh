#!/usr/bin/env bash
# Set up, then prove the offline install works end to end (every bundled model loads and speaks).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/voice-avatar doctor
