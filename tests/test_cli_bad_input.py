"""Every CLI command against bad input (issue 8): exit 2, exactly one line on stderr, no traceback,
and the stored avatar (and every other row and file under HOME) untouched.

Runs `main()` in process for most cases and the installed `voice-avatar` for what only a real
process shows (bytes on stdin and in argv that are not UTF-8).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from stored_state import assert_unchanged
import soundfile
from sqlalchemy import MetaData

from voice_avatar.cli import _parser, main
from voice_avatar.settings import get_settings
from voice_avatar.store import sessions_for

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SPEAKER = sorted((SHARED / "voices/librispeech/2609").glob("*.flac"))
EXE = Path(sys.executable).with_name("voice-avatar")


class Home:
    def __init__(self, path: Path, files: Path) -> None:
        self.path, self.files = path, files
        self.before: dict = {}

    def snapshot(self) -> dict:
        engine = sessions_for(get_settings()).kw["bind"]
        meta = MetaData()
        meta.reflect(bind=engine)
        with engine.connect() as connection:
            rows = {t.name: sorted(repr(tuple(r)) for r in connection.execute(t.select())) for t in meta.sorted_tables}
        files = {
            str(p.relative_to(self.path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(self.path.rglob("*"))
            if p.is_file() and not p.name.endswith((".db", ".db-wal", ".db-shm", ".db-journal"))
        }
        return {"rows": rows, "files": files}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Home]:
    """A HOME holding one ready avatar ('Keep') and one API user, and a folder of bad files."""
    root = tmp_path_factory.mktemp("cli-bad-input")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VOICE_AVATAR_HOME", str(root / "home"))
        mp.delenv("VOICE_AVATAR_REDIS_URL", raising=False)
        mp.delenv("VOICE_AVATAR_DATABASE_URL", raising=False)
        get_settings.cache_clear()
        assert main(["enroll", "--name", "Keep", *map(str, SPEAKER[:3])]) == 0
        assert main(["users", "create", "--name", "owner", "--json"]) == 0
        state = Home(root / "home", _bad_files(root / "files"))
        state.before = state.snapshot()
        assert state.before["rows"]["avatars"] and any(name.startswith("blobs/") for name in state.before["files"])
        yield state
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def untouched(home: Home) -> Iterator[None]:
    yield
    before, after = home.before, home.snapshot()
    home.before = after  # each change is reported once, by the test that made it
    assert_unchanged(before, after)


def _wav(rate: int = 16000, data: bytes = b"", data_size: int | None = None) -> bytes:
    fmt = struct.pack("<4sIHHIIHH", b"fmt ", 16, 1, 1, rate, rate * 2, 2, 16)
    size = len(data) if data_size is None else data_size
    body = b"WAVE" + fmt + b"data" + struct.pack("<I", size) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _bad_files(folder: Path) -> Path:
    folder.mkdir()
    (folder / "empty.wav").write_bytes(b"")
    (folder / "notes.wav").write_text("shopping list: milk, eggs\n" * 50)
    (folder / "noise.mp3").write_bytes(np.random.default_rng(2).integers(0, 256, 6000, dtype=np.uint8).tobytes())
    pcm = (0.3 * np.sin(np.arange(8000) / 5) * 32767).astype("<i2").tobytes()
    (folder / "lying.wav").write_bytes(_wav(data=pcm, data_size=16000 * 2 * 600))  # claims 10 minutes
    (folder / "one-hertz.wav").write_bytes(_wav(rate=1, data=pcm))
    buffer = io.BytesIO()
    soundfile.write(buffer, np.zeros(32000, np.float32), 16000, format="FLAC")
    (folder / "cut.flac").write_bytes(buffer.getvalue()[:50])
    (folder / "a-folder.wav").mkdir()
    (folder / "good-words.txt").write_text("hello there\n")
    return folder


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exit_:  # argparse's usage errors
        code = exit_.code if isinstance(exit_.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def refused(result: tuple[int, str, str], *words: str) -> str:
    code, _, err = result
    lines = err.strip().splitlines()
    assert "Traceback" not in err, err
    assert code == 2, (code, err)
    assert len(lines) == 1, err
    assert lines[0].startswith("voice-avatar"), err
    for word in words:
        assert word.lower() in lines[0].lower(), (word, err)
    return lines[0]


def every_command() -> list[list[str]]:
    """Each leaf command of the parser, e.g. ['avatars', 'show']."""

    def walk(parser: argparse.ArgumentParser, prefix: list[str]) -> Iterator[list[str]]:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            yield prefix
            return
        for name, child in subs[0].choices.items():
            yield from walk(child, [*prefix, name])

    return list(walk(_parser(), []))


COMMANDS = every_command()


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_refuses_an_unknown_option_in_one_line(home: Home, capsys, command: list[str]) -> None:
    refused(run(capsys, *command, "--no-such-option"), "error")


def test_the_command_list_is_complete() -> None:
    names = {" ".join(c) for c in COMMANDS}
    assert {
        "enroll",
        "check-sample",
        "say",
        "detect",
        "avatars show",
        "avatars delete",
        "users set-tier",
        "serve",
    } <= names


def test_usage_errors_are_one_line(home: Home, capsys) -> None:
    refused(run(capsys, "frobnicate"), "invalid choice")
    refused(run(capsys, "avatars"), "required")
    refused(run(capsys, "users"), "required")
    refused(run(capsys, "enroll", "--name", "x"), "required")
    refused(run(capsys, "enroll", str(SPEAKER[0])), "--name")
    refused(run(capsys, "say", "--avatar"), "expected one argument")
    refused(run(capsys, "say", "--avatar", "Keep", "--out", "x.wav", "--format", "aiff", "hi"), "invalid choice")
    refused(run(capsys, "say", "--avatar", "Keep", "hi"), "--out")
    refused(run(capsys, "serve", "--port", "abc"), "invalid int")
    refused(run(capsys, "serve", "--workers", "many"), "invalid int")
    refused(run(capsys, "check-sample"), "required")
    refused(run(capsys, "detect"), "required")
    refused(run(capsys, "avatars", "show"), "required")
    refused(run(capsys, "users", "set-tier", "only-one"), "required")


def test_missing_files_folders_and_bad_audio(home: Home, capsys) -> None:
    f = home.files
    for bad, words in [
        (f / "missing.wav", ["missing.wav", "no such file"]),
        (f / "a-folder.wav", ["a-folder.wav", "folder"]),
        (f / "empty.wav", ["empty.wav", "empty"]),
        (f / "notes.wav", ["notes.wav"]),
        (f / "noise.mp3", ["noise.mp3"]),
        (f / "lying.wav", ["lying.wav", "truncated"]),
        (f / "one-hertz.wav", ["one-hertz.wav", "sample rate"]),
        (f / "cut.flac", ["cut.flac"]),
        (f / ("x" * 5000 + ".wav"), ["name too long"]),
    ]:
        bad = str(bad)
        refused(run(capsys, "enroll", "--name", "New", str(SPEAKER[0]), bad), *words)
        refused(run(capsys, "check-sample", bad), *words)
        refused(run(capsys, "detect", bad), *words)
        refused(
            run(capsys, "enroll", "--name", "New", "--consent", bad, "--phrase", "I agree", str(SPEAKER[0])), *words[:1]
        )


def test_bad_names_tiers_and_options(home: Home, capsys, tmp_path: Path) -> None:
    sample = str(SPEAKER[0])
    for name in ("../../etc/passwd", "/etc/passwd", "..", "", "   ", "a\x00b", "line\nbreak", "\x1b[2J", "n" * 65):
        refused(run(capsys, "enroll", "--name", name, sample), "invalid avatar name")
    refused(run(capsys, "enroll", "--name", "keep", sample), "already exists")
    refused(run(capsys, "enroll", "--name", "New", "--tier", "gold", sample), "unknown tier")
    refused(run(capsys, "check-sample", "--tier", "gold", sample), "unknown tier")
    refused(run(capsys, "enroll", "--name", "New", "--consent", sample, sample), "go together")
    refused(run(capsys, "enroll", "--name", "New", "--phrase", "I agree", sample), "go together")
    refused(run(capsys, "serve", "--port", "99999"), "--port")
    refused(run(capsys, "serve", "--port", "-5"), "--port")
    refused(run(capsys, "serve", "--workers", "0"), "--workers")
    refused(run(capsys, "serve", "--workers", "2"), "REDIS_URL")
    refused(run(capsys, "worker"), "REDIS_URL")


def test_unknown_avatars_users_and_keys(home: Home, capsys) -> None:
    for ghost in ("ghost", "../../etc/passwd", "", "a\x00b", "' OR 1=1 --", "x" * 5000):
        refused(run(capsys, "avatars", "show", ghost), "no avatar")
        refused(run(capsys, "avatars", "show", "--json", ghost), "no avatar")
        refused(run(capsys, "avatars", "delete", ghost), "no avatar")
        refused(run(capsys, "say", "--avatar", ghost, "--out", str(home.files / "out.wav"), "hello"), "no avatar")
    for user in ("no-such-user", "", "a\x00b"):
        refused(run(capsys, "users", "set-tier", user, "premium"), "no user")
        for command in (["users", "delete"], ["keys", "create"], ["keys", "list"]):
            if " ".join(command) in {" ".join(c) for c in COMMANDS}:
                refused(run(capsys, *command, user), "no user")
    if ["keys", "revoke"] in COMMANDS:
        refused(run(capsys, "keys", "revoke", "no-such-key"), "no api key")
    with sessions_for(get_settings())() as session:
        from voice_avatar.accounts import list_users

        owner = list_users(session)[0].id
    refused(run(capsys, "users", "set-tier", owner, "gold"), "unknown tier")
    for name in ("", "   ", "a\x00b", "\x1b[2J", "n" * 101):
        refused(run(capsys, "users", "create", "--name", name), "invalid user name")
    refused(run(capsys, "users", "create", "--name", "Tiered", "--tier", "gold"), "unknown tier")
    assert not (home.files / "out.wav").exists()


def test_say_refuses_bad_text_and_outputs(home: Home, capsys, monkeypatch) -> None:
    out = str(home.files / "out.wav")
    for text in ("", "   ", "\x00", "hi\x00there", "\x1b[31mred", "...!?"):
        refused(run(capsys, "say", "--avatar", "Keep", "--out", out, text), "text")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"\xff\xfe not utf-8"), encoding="utf-8"))
    refused(run(capsys, "say", "--avatar", "Keep", "--out", out, "-"), "utf-8")
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    refused(run(capsys, "say", "--avatar", "Keep", "--out", out, "-"), "empty")
    refused(run(capsys, "say", "--avatar", "Keep", "--out", str(home.files / "a-folder.wav"), "hello"), "folder")
    refused(
        run(capsys, "say", "--avatar", "Keep", "--out", str(home.files / "no" / "x.wav"), "hello"), "does not exist"
    )
    refused(
        run(capsys, "say", "--avatar", "Keep", "--out", "/proc/voice-avatar.wav", "Hello."), "/proc/voice-avatar.wav"
    )
    assert not (home.files / "out.wav").exists()


def _exe(home: Home, *argv: str | bytes, stdin: bytes | None = None) -> tuple[int, str, str]:
    env = {**os.environ, "VOICE_AVATAR_HOME": str(home.path), "LC_ALL": "C.UTF-8"}
    env.pop("VOICE_AVATAR_REDIS_URL", None)
    done = subprocess.run([str(EXE), *argv], input=stdin, capture_output=True, timeout=120, env=env)
    return done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")


def test_a_real_process_with_bytes_that_are_not_utf8(home: Home) -> None:
    out = str(home.files / "out.wav")
    refused(_exe(home, "say", "--avatar", "Keep", "--out", out, "-", stdin=b"caf\xe9 \xff\xfe"), "utf-8")
    refused(_exe(home, "avatars", "show", b"Keep\xff"))
    refused(_exe(home, "say", "--avatar", b"\xc3\x28", "--out", out, "hello"))
    refused(_exe(home, "say", "--avatar", "Keep", "--out", out, b"hello \xff there"), "text")
    refused(_exe(home, "enroll", "--name", b"Caf\xe9", str(SPEAKER[0])), "invalid avatar name")
    refused(_exe(home, "check-sample", str(home.files).encode() + b"/\xff\xfe.wav"), "no such file")
    refused(_exe(home, "frobnicate"), "invalid choice")
    assert not (home.files / "out.wav").exists()
