from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from voice_avatar import accounts
from voice_avatar.db import ApiKey, SessionFactory
from voice_avatar.errors import InputError, NotFoundError


def test_create_user_then_authenticate_round_trip(session_factory: SessionFactory) -> None:
    with session_factory.begin() as session:
        user, key = accounts.create_user(session, "Ann", "starter", is_admin=True)
    assert key.startswith("va_") and len(key) > 40
    with session_factory() as session:
        found = accounts.authenticate(session, key)
        assert found is not None
        assert (found.id, found.name, found.tier, found.is_admin) == (user.id, "Ann", "starter", True)


@pytest.mark.parametrize("wrong", ["", "va_", "va_nope", "not-a-key"])
def test_wrong_keys_are_rejected(session_factory: SessionFactory, wrong: str) -> None:
    with session_factory.begin() as session:
        accounts.create_user(session, "Ann", "free")
    with session_factory() as session:
        assert accounts.authenticate(session, wrong) is None


def test_a_key_one_character_off_is_rejected(session_factory: SessionFactory) -> None:
    with session_factory.begin() as session:
        _, key = accounts.create_user(session, "Ann", "free")
    tampered = key[:-1] + ("A" if key[-1] != "A" else "B")
    with session_factory() as session:
        assert accounts.authenticate(session, tampered) is None


def test_revoked_keys_fail_and_other_keys_keep_working(session_factory: SessionFactory) -> None:
    with session_factory.begin() as session:
        user, first = accounts.create_user(session, "Ann", "free")
        second_record, second = accounts.issue_key(session, user)
        first_record = next(k for k in accounts.list_keys(session, user) if k.id != second_record.id)
        accounts.revoke_key(session, first_record.id)
    with session_factory() as session:
        assert accounts.authenticate(session, first) is None
        found = accounts.authenticate(session, second)
        assert found is not None and found.id == user.id


def test_only_the_keys_hash_and_display_prefix_are_stored(session_factory: SessionFactory) -> None:
    with session_factory.begin() as session:
        _, key = accounts.create_user(session, "Ann", "free")
    with session_factory() as session:
        (record,) = session.scalars(select(ApiKey)).all()
        assert record.key_hash == hashlib.sha256(key.encode()).hexdigest()
        assert record.prefix == key[:8]
        stored = [getattr(record, column.key) for column in ApiKey.__table__.columns]
        assert not any(isinstance(value, str) and key in value for value in stored)


def test_unknown_tier_is_an_input_error_naming_the_choices(session_factory: SessionFactory) -> None:
    with session_factory.begin() as session, pytest.raises(InputError, match=r"unknown tier 'gold'.*free"):
        accounts.create_user(session, "Ann", "gold")


def test_set_tier_get_user_and_list_users(session_factory: SessionFactory) -> None:
    with session_factory.begin() as session:
        ann, _ = accounts.create_user(session, "Ann", "free")
        accounts.create_user(session, "Bob", "premium")
    with session_factory.begin() as session:
        assert accounts.set_tier(session, ann.id, "premium").tier == "premium"
        with pytest.raises(InputError):
            accounts.set_tier(session, ann.id, "platinum")
    with session_factory() as session:
        assert accounts.get_user(session, ann.id).tier == "premium"
        assert sorted(user.name for user in accounts.list_users(session)) == ["Ann", "Bob"]
        with pytest.raises(NotFoundError):
            accounts.get_user(session, "missing")


def test_blank_names_are_refused(session_factory: SessionFactory) -> None:
    with session_factory.begin() as session, pytest.raises(InputError, match="invalid user name"):
        accounts.create_user(session, "   ", "free")
