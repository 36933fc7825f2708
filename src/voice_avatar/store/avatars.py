"""Avatars: a row in the database for what we know, blobs for the audio and the fitted profile.

One store per owner: the CLI's avatars have no owner, each API user sees only their own. A
record's blobs live under its id (``<id>/samples/...``, ``<id>/profile.npz``).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from voice_avatar.db import Avatar, SessionFactory
from voice_avatar.errors import ConflictError, InputError, NotFoundError
from voice_avatar.store.blobs import BlobStore

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.\-]{0,63}$")
_FIELDS = (
    "status",
    "progress",
    "stage",
    "sample_seconds",
    "speech_seconds",
    "scores",
    "advice",
    "error",
    "samples",
    "consent",
)


@dataclass(frozen=True)
class AvatarRef:
    """Enough of an avatar to serve it from the cache; a miss reads the whole `AvatarRecord`."""

    id: str
    name: str
    status: str


@dataclass
class AvatarRecord:
    """What we know about one avatar; `scores` and `status` come from the quality gate."""

    id: str
    name: str
    engine: str
    status: str
    created_at: str
    owner_id: str | None = None
    progress: float = 0.0
    stage: str = ""
    samples: list[str] = field(default_factory=list)
    sample_seconds: float = 0.0
    speech_seconds: float = 0.0
    scores: dict[str, float] = field(default_factory=dict)
    advice: list[str] = field(default_factory=list)
    consent: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_row(cls, row: Avatar) -> AvatarRecord:
        return cls(
            id=row.id,
            name=row.name,
            engine=row.engine,
            status=row.status,
            created_at=row.created_at.isoformat(timespec="seconds"),
            owner_id=row.owner_id,
            **{name: getattr(row, name) for name in _FIELDS if name != "status"},
        )


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
    """One owner's avatars (`owner_id` None: the local CLI user's)."""

    def __init__(self, sessions: SessionFactory, blobs: BlobStore, owner_id: str | None = None) -> None:
        self.sessions = sessions
        self.blobs = blobs
        self.owner_id = owner_id

    def list(self) -> list[AvatarRecord]:
        with self.sessions() as session:
            rows = session.scalars(self._mine().order_by(Avatar.created_at, Avatar.id)).all()
            return [AvatarRecord.from_row(r) for r in rows]

    def get(self, name_or_id: str) -> AvatarRecord:
        """By id, or by name ignoring case."""
        with self.sessions() as session:
            row = session.scalar(self._mine().where(Avatar.id == name_or_id)) or session.scalar(
                self._mine().where(func.lower(Avatar.name) == name_or_id.strip().lower())
            )
            if row is None:
                raise NotFoundError(f"no avatar named {name_or_id!r} (see `voice-avatar avatars list`)")
            return AvatarRecord.from_row(row)

    def ensure_name_free(self, name: str) -> str:
        name = validate_name(name)
        with self.sessions() as session:
            taken = session.scalar(self._mine().where(func.lower(Avatar.name) == name.lower()))
        if taken is not None:
            raise ConflictError(
                f"an avatar named {name!r} already exists ({taken.status}); pick another name or delete it"
            )
        return name

    def create(self, name: str, engine: str) -> AvatarRecord:
        """A new `pending` avatar; the name must be free (checked again by the database under races)."""
        name = self.ensure_name_free(name)
        try:
            with self.sessions.begin() as session:
                row = Avatar(owner_id=self.owner_id, name=name, engine=engine, status="pending")
                session.add(row)
                session.flush()
                return AvatarRecord.from_row(row)
        except IntegrityError:
            raise ConflictError(f"an avatar named {name!r} already exists; pick another name or delete it") from None

    def save(self, record: AvatarRecord) -> None:
        """Write the record's mutable fields (status, progress, scores...)."""
        with self.sessions.begin() as session:
            row = session.scalar(self._mine().where(Avatar.id == record.id))
            if row is None:
                raise NotFoundError(f"avatar {record.id!r} was deleted")
            for name in _FIELDS:
                setattr(row, name, getattr(record, name))

    def delete(self, name_or_id: str) -> AvatarRecord:
        record = self.get(name_or_id)
        with self.sessions.begin() as session:
            row = session.scalar(self._mine().where(Avatar.id == record.id))
            if row is not None:
                session.delete(row)
        self.blobs.delete_prefix(record.id)
        return record

    def put_blob(self, record: AvatarRecord, name: str, data: bytes) -> str:
        key = f"{record.id}/{name}"
        self.blobs.put(key, data)
        return key

    def get_blob(self, record: AvatarRecord, name: str) -> bytes:
        return self.blobs.get(f"{record.id}/{name}")

    def _mine(self):
        owner = Avatar.owner_id.is_(None) if self.owner_id is None else Avatar.owner_id == self.owner_id
        return select(Avatar).where(owner)
