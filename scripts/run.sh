#!/usr/bin/env bash
# Set up, then run the service on its embedded defaults (SQLite, disk cache, in-process queue,
# local engine) at http://127.0.0.1:8000 (VOICE_AVATAR_PORT / VOICE_AVATAR_BIND to change).
# Create an API key first with: .venv/bin/voice-avatar users create --name me --admin
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/voice-avatar doctor
exec .venv/bin/voice-avatar serve --host "${VOICE_AVATAR_BIND:-127.0.0.1}" --port "${VOICE_AVATAR_PORT:-8000}"
