#!/usr/bin/env bash
# Set up with the test extras and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test reference
# The encoder parity test compares against resemblyzer on torch. Install torch only from a local
# CPU wheel (the registry's default build is several GB of CUDA); without it that one test skips.
wheel=${VOICE_AVATAR_TORCH_WHEEL:-$(ls /opt/wheels/torch-*+cpu-cp311-*.whl 2>/dev/null | head -n 1 || true)}
if [ -n "$wheel" ] && ! .venv/bin/python -c 'import torch' 2>/dev/null; then
    # torch asks for setuptools; keep the <81 that pyworld needs (it imports pkg_resources).
    .venv/bin/python -m pip --disable-pip-version-check -q install "$wheel" "setuptools<81"
fi
# The service tests run against real PostgreSQL and Redis: start them (installing if need be).
bash scripts/services.sh
bash scripts/browser.sh
exec .venv/bin/python -m pytest "$@"
