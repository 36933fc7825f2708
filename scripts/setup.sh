#!/usr/bin/env bash
# Create ./.venv in the checkout and install voice-avatar with its bundled models.
# Usage: bash scripts/setup.sh [extra ...]   (extras from pyproject, e.g. "test")
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "setup: voice-avatar needs Python 3.11 or newer ($python is $("$python" -V 2>&1))" >&2
    exit 2
fi
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip --disable-pip-version-check -q)
extras=$(IFS=,; echo "$*")
"${pip[@]}" install -e ".${extras:+[$extras]}"
# resemblyzer ships the GE2E weights we read, but declares torch and librosa, which the product
# never imports: install it without its dependencies.
"${pip[@]}" install --no-deps "resemblyzer==0.1.4"
