"""Avatars on disk: one folder per avatar under ``$VOICE_AVATAR_HOME/avatars``.

A folder holds ``avatar.json`` (the record), the fitted engine profile and the original samples.
Creation writes into a hidden temporary folder and renames it into place, and deletion renames
before removing, so a crash never leaves a half-written avatar visible.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from voice_avatar.errors import ConflictError, InputError, NotFoundError

RECORD_FILE = "avatar.json"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.\-]{0,63}$")


@dataclass
class AvatarRecord:
    """What we know about one avatar; `scores` and `status` come from the quality gate."""

    id: str
    name: str
    engine: str
    status: str
    created_at: str
    samples: list[str] = field(default_factory=list)
    sample_seconds: float = 0.0
    speech_seconds: float = 0.0
    scores: dict[str, float] = field(default_factory=dict)
    advice: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


def validate_name(name: str) -> str:
    """Names are shown to people and used on the command line: short, printable, no paths."""
    cleaned = name.strip()
    if not _NAME_RE.match(cleaned) or cleaned in {".", ".."}:
        raise InputError(
            f"invalid avatar name {name!r}: use 1-64 letters, digits, spaces, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return cleaned


class AvatarStore:
    """File-backed avatar records; the only code that knows the folder layout."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def list(self) -> list[AvatarRecord]:
        if not self.root.exists():
            return []
        records = [self._read(p) for p in sorted(self.root.iterdir()) if self._is_avatar(p)]
        return sorted(records, key=lambda r: r.created_at)

    def get(self, name_or_id: str) -> AvatarRecord:
        for record in self.list():
            if record.id == name_or_id or record.name.lower() == name_or_id.strip().lower():
                return record
        raise NotFoundError(f"no avatar named {name_or_id!r} (see `voice-avatar avatars list`)")

    def folder(self, record: AvatarRecord) -> Path:
        return self.root / record.id

    def ensure_name_free(self, name: str) -> str:
        name = validate_name(name)
        if any(r.name.lower() == name.lower() for r in self.list()):
            raise ConflictError(f"an avatar named {name!r} already exists; pick another name or delete it")
        return name

    @contextmanager
    def creating(self, name: str, engine: str) -> Iterator[tuple[AvatarRecord, Path]]:
        """Yield a new record and its private folder; publish both only if the block succeeds."""
        name = self.ensure_name_free(name)
        self.root.mkdir(parents=True, exist_ok=True)
        record = AvatarRecord(
            id=uuid.uuid4().hex[:12],
            name=name,
            engine=engine,
            status="pending",
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.root))
        try:
            yield record, staging
            self._write(staging, record)
            self.ensure_name_free(name)
            os.rename(staging, self.root / record.id)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)

    def save(self, record: AvatarRecord) -> None:
        self._write(self.folder(record), record)

    def delete(self, name_or_id: str) -> AvatarRecord:
        record = self.get(name_or_id)
        doomed = self.root / f".deleting-{record.id}"
        os.rename(self.folder(record), doomed)
        shutil.rmtree(doomed)
        return record

    @staticmethod
    def _is_avatar(path: Path) -> bool:
        return path.is_dir() and not path.name.startswith(".") and (path / RECORD_FILE).is_file()

    @staticmethod
    def _read(folder: Path) -> AvatarRecord:
        return AvatarRecord(**json.loads((folder / RECORD_FILE).read_text("utf-8")))

    @staticmethod
    def _write(folder: Path, record: AvatarRecord) -> None:
        tmp = folder / (RECORD_FILE + ".tmp")
        tmp.write_text(json.dumps(record.to_json(), indent=2, ensure_ascii=False), "utf-8")
        os.replace(tmp, folder / RECORD_FILE)
