"""`voice-avatar detect FILE`: exit 0 for our watermark, 1 for none, 2 for a file that is not audio."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from voice_avatar.audio import load_audio
from voice_avatar.audio.encode import encode
from voice_avatar.cli import main
from voice_avatar.settings import get_settings
from voice_avatar.watermark import Payload, embed

CLIP = sorted((Path(__file__).resolve().parents[1].parent / "shared/voices/librispeech/2033").glob("*.flac"))[0]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VOICE_AVATAR_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    yield tmp_path / "home"
    get_settings.cache_clear()


def test_detect_exit_codes(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    marked = tmp_path / "marked.mp3"
    marked.write_bytes(encode(embed(load_audio(CLIP), Payload.for_avatar("c0ffee" + "0" * 26)), "mp3"))
    assert main(["detect", str(marked)]) == 0
    assert capsys.readouterr().out.startswith("watermarked by voice-avatar")

    assert main(["detect", "--json", str(CLIP)]) == 1
    result = json.loads(capsys.readouterr().out)
    assert result["watermarked"] is False and result["service"] is None

    garbage = tmp_path / "notes.wav"
    garbage.write_text("not audio")
    assert main(["detect", str(garbage)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("voice-avatar: error: ") and err.count("\n") == 1
    assert main(["detect", str(tmp_path / "missing.wav")]) == 2
