from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.exc import IntegrityError

from voice_avatar.db import ApiKey, Avatar, AvatarStatus, SessionFactory, User


def _user(session_factory: SessionFactory, name: str = "ann") -> User:
    with session_factory.begin() as session:
        user = User(name=name, tier="free")
        session.add(user)
    return user


def _add_avatar(session_factory: SessionFactory, owner_id: str | None, name: str) -> None:
    with session_factory.begin() as session:
        session.add(Avatar(owner_id=owner_id, name=name, engine="local"))


def test_local_avatar_names_are_unique_despite_null_owner(session_factory: SessionFactory) -> None:
    _add_avatar(session_factory, None, "narrator")
    with pytest.raises(IntegrityError):
        _add_avatar(session_factory, None, "narrator")


def test_avatar_names_are_unique_per_owner_only(session_factory: SessionFactory) -> None:
    ann, bob = _user(session_factory, "ann"), _user(session_factory, "bob")
    _add_avatar(session_factory, None, "narrator")
    _add_avatar(session_factory, ann.id, "narrator")
    _add_avatar(session_factory, bob.id, "narrator")
    with pytest.raises(IntegrityError):
        _add_avatar(session_factory, ann.id, "narrator")


def test_avatar_record_round_trips_with_defaults_and_json(session_factory: SessionFactory) -> None:
    with session_factory.begin() as session:
        avatar = Avatar(name="n", engine="local", scores={"dnsmos": 3.4}, advice=["speak closer"])
        session.add(avatar)
    with session_factory() as session:
        stored = session.get(Avatar, avatar.id)
        assert stored is not None
        assert len(stored.id) == 12
        assert stored.status == AvatarStatus.PENDING
        assert stored.progress == 0.0
        assert stored.scores == {"dnsmos": 3.4}
        assert stored.advice == ["speak closer"]
        assert stored.created_at.tzinfo is not None
        assert stored.created_at.utcoffset().total_seconds() == 0


@pytest.mark.parametrize("field, value", [("status", "done"), ("progress", 1.5)])
def test_avatar_status_and_progress_are_checked(session_factory: SessionFactory, field: str, value: object) -> None:
    with pytest.raises(IntegrityError), session_factory.begin() as session:
        session.add(Avatar(name="n", engine="local", **{field: value}))


def test_foreign_keys_are_enforced(session_factory: SessionFactory) -> None:
    with pytest.raises(IntegrityError), session_factory.begin() as session:
        session.add(ApiKey(user_id="no-such-user", key_hash="0" * 64, prefix="va_x"))


def test_datetimes_come_back_aware_utc(session_factory: SessionFactory) -> None:
    moment = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
    with session_factory.begin() as session:
        user = User(name="t", tier="free", created_at=moment)
        session.add(user)
    with session_factory() as session:
        assert session.get(User, user.id).created_at == moment
