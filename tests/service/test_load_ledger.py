"""The ledger load run in small: concurrent clients of every tier at their quota edges, ledger exact.

bench/load_ledger.py runs 256 clients for 60 s; this runs the same driver and the same audit with
32 clients for 4 s on each deployment (embedded SQLite, and PostgreSQL + Redis with two API
processes), so CI catches a change that loses, doubles or misprices a message under concurrency.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import load_ledger  # noqa: E402

from voice_avatar.audio import load_audio  # noqa: E402
from voice_avatar.engines.local import fit_profile  # noqa: E402


@pytest.fixture(scope="module")
def profile() -> bytes:
    clips = sorted((load_ledger.VOICES / "3331").glob("*.flac"))[:3]
    return fit_profile([load_audio(p) for p in clips]).to_bytes()


@pytest.mark.parametrize("mode", ["embedded", "postgresql_redis"])
def test_under_concurrent_load_the_ledger_equals_what_was_served(mode: str, profile: bytes) -> None:
    result = load_ledger.run_mode(mode, clients=32, seconds=4, profile=profile, logs=Path(tempfile.mkdtemp()))
    failed = [name for name, ok in result["checks"].items() if not ok]
    assert not failed, (failed, result)
    assert result["served"] > 0 and result["status_counts"].get("429", 0) > 0  # both sides of the edge were hit
