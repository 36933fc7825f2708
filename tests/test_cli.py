"""The command line: real enroll -> say round trip, and one clear line with exit 2 for bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from voice_avatar.audio import load_audio
from voice_avatar.cli import main
from voice_avatar.settings import get_settings

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SPEAKER = sorted((SHARED / "voices/librispeech/2609").glob("*.flac"))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VOICE_AVATAR_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    yield tmp_path / "home"
    get_settings.cache_clear()


def _run(*argv: str) -> int:
    return main(list(argv))


def _stored(home: Path) -> list[str]:
    """Every avatar the store knows, and every blob folder on disk: both must agree."""
    from voice_avatar.store import open_store

    names = sorted(r.id for r in open_store(get_settings()).list())
    blobs = home / "blobs"
    folders = sorted(p.name for p in blobs.iterdir() if not p.name.startswith(".")) if blobs.exists() else []
    assert names == folders
    return names


def test_enroll_say_list_show_delete(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("enroll", "--name", "Ann", "--json", *map(str, SPEAKER[:3])) == 0
    assert '"status": "ready"' in capsys.readouterr().out
    out = tmp_path / "hello.mp3"
    assert _run("say", "--avatar", "ann", "--out", str(out), "Meet me at 3:30 PM.") == 0
    spoken = load_audio(out)
    assert 1.0 < spoken.duration < 6.0
    assert _run("avatars", "list") == 0
    assert "Ann\tready" in capsys.readouterr().out
    assert _run("avatars", "show", "Ann") == 0
    assert "similarity to your sample" in capsys.readouterr().out
    assert _run("avatars", "show", "--json", "Ann") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["status"] == "ready" and 10 < shown["speech_seconds"] <= shown["sample_seconds"]
    assert shown["scores"]["similarity"] > shown["scores"]["stock_similarity"]
    assert _run("avatars", "delete", "Ann") == 0
    assert _stored(home) == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["enroll", "--name", "x", "/nonexistent/sample.wav"], "/nonexistent/sample.wav: no such file"),
        (["enroll", "--name", "../up", str(SPEAKER[0])], "invalid avatar name"),
        (["say", "--avatar", "ghost", "--out", "x.wav", "hi"], "no avatar named 'ghost'"),
        (["avatars", "show", "ghost"], "no avatar named 'ghost'"),
        (["avatars", "delete", "ghost"], "no avatar named 'ghost'"),
    ],
)
def test_bad_input_exits_2_with_one_line(home: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    assert _run(*argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert message in err
    assert _stored(home) == []


def test_garbage_and_too_little_speech_store_nothing(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    garbage = tmp_path / "notes.wav"
    garbage.write_text("shopping list: milk, eggs\n" * 50)
    assert _run("enroll", "--name", "g", str(garbage)) == 2
    assert "notes.wav" in capsys.readouterr().err
    short = tmp_path / "short.flac"
    shutil.copy(SPEAKER[3], short)  # a 3.4 s clip: too little speech for an avatar
    assert _run("enroll", "--name", "s", str(short)) == 2
    assert "speech" in capsys.readouterr().err
    assert _stored(home) == []


def test_existing_avatar_survives_a_failed_enrollment(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("enroll", "--name", "Keep", str(SPEAKER[4])) == 0
    before = _stored(home)
    assert _run("enroll", "--name", "keep", str(SPEAKER[0])) == 2
    assert "already exists" in capsys.readouterr().err
    assert _run("say", "--avatar", "Keep", "--out", str(tmp_path / "missing-dir" / "x.wav"), "hi") == 2
    assert _stored(home) == before


def test_installed_entry_point_usage_error() -> None:
    exe = Path(sys.executable).with_name("voice-avatar")
    result = subprocess.run([str(exe), "say", "--avatar"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "expected one argument" in result.stderr


def test_check_sample_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import numpy as np
    import soundfile

    assert _run("check-sample", *map(str, SPEAKER[:3])) == 0
    assert "fit for cloning" in capsys.readouterr().out
    clean = load_audio(SPEAKER[2])
    noisy = tmp_path / "kitchen.wav"
    rng = np.random.default_rng(0)
    soundfile.write(noisy, clean.samples + 0.2 * rng.standard_normal(len(clean.samples)).astype(np.float32) * clean.samples.std() * 5, 16000)
    assert _run("check-sample", "--json", str(noisy)) == 1
    out = capsys.readouterr().out
    assert '"ok": false' in out and "quieter room" in out
    assert _run("check-sample", "--tier", "premium", *map(str, SPEAKER[:3])) == 1
    assert "at least 60 s" in capsys.readouterr().out
    assert _run("check-sample", "--tier", "gold", str(SPEAKER[0])) == 2
    assert _run("check-sample", str(tmp_path / "missing.wav")) == 2


CONSENTING = sorted((SHARED / "voices/librispeech/3331").glob("*.flac"))
CONSENT_PHRASE = "He has known her all her life and has a good influence over her."  # what clip 7 says


def test_consent_is_checked_before_anything_is_stored(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    samples = [str(CONSENTING[i]) for i in (0, 2, 3)]
    monkeypatch.setenv("VOICE_AVATAR_REQUIRE_CONSENT", "true")
    get_settings.cache_clear()
    assert _run("enroll", "--name", "Eve", *samples) == 2
    assert "consent recording is required" in capsys.readouterr().err
    other_voice = str(SPEAKER[5])  # another person reading their own sentence
    assert _run("enroll", "--name", "Eve", "--consent", other_voice, "--phrase", CONSENT_PHRASE, *samples) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "consent refused" in err and "phrase" in err and "voice" in err
    assert _run("enroll", "--name", "Eve", "--consent", str(CONSENTING[7]), *samples) == 2
    assert "go together" in capsys.readouterr().err
    assert _stored(home) == []


def test_enroll_with_consent_keeps_the_consent_record(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    samples = [str(CONSENTING[i]) for i in (0, 2, 3)]
    code = _run("enroll", "--name", "Eve", "--json", "--consent", str(CONSENTING[7]), "--phrase", CONSENT_PHRASE, *samples)
    record = json.loads(capsys.readouterr().out)
    assert code == (0 if record["status"] == "ready" else 1)
    assert record["consent"]["phrase"] == CONSENT_PHRASE and record["consent"]["voice_similarity"] >= 0.75
    assert (home / "blobs" / record["consent"]["file"]).is_file()


def test_consent_phrase_has_a_fresh_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("consent-phrase", "--json") == 0
    first = json.loads(capsys.readouterr().out)
    assert first["phrase"].endswith(first["code"] + ".")
    assert len(first["code"].split()) >= 3


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty"), (b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(range(256)) * 4, "kitchen.wav"), (b"\x00" * 64, "kitchen.wav")],
)
def test_check_sample_refuses_unreadable_files_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, message: str
) -> None:
    bad = tmp_path / "kitchen.wav"
    bad.write_bytes(content)
    assert _run("check-sample", str(bad)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
