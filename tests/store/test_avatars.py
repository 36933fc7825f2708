"""The avatar store: rows in SQLite or PostgreSQL, blobs on disk, names unique per owner."""

from __future__ import annotations

from pathlib import Path

import pytest

from voice_avatar.accounts import create_user
from voice_avatar.db import SessionFactory
from voice_avatar.errors import ConflictError, InputError, NotFoundError
from voice_avatar.store import AvatarStore, DiskBlobStore


@pytest.fixture
def blobs(tmp_path: Path) -> DiskBlobStore:
    return DiskBlobStore(tmp_path / "blobs")


@pytest.fixture
def store(session_factory: SessionFactory, blobs: DiskBlobStore) -> AvatarStore:
    return AvatarStore(session_factory, blobs)


def test_create_save_list_get_delete(store: AvatarStore, blobs: DiskBlobStore) -> None:
    record = store.create("Grandma June", engine="local")
    assert record.status == "pending"
    store.put_blob(record, "profile.npz", b"profile")
    record.status, record.progress, record.scores = "ready", 1.0, {"similarity": 0.7}
    store.save(record)
    assert [r.name for r in store.list()] == ["Grandma June"]
    found = store.get("grandma june")
    assert (found.id, found.status, found.scores) == (record.id, "ready", {"similarity": 0.7})
    assert store.get_blob(found, "profile.npz") == b"profile"
    store.delete("Grandma June")
    assert store.list() == []
    assert not blobs.exists(f"{record.id}/profile.npz")


def test_duplicate_names_are_refused_case_insensitively(store: AvatarStore) -> None:
    store.create("Max", engine="local")
    with pytest.raises(ConflictError, match="already exists"):
        store.create("max", engine="local")
    assert len(store.list()) == 1


def test_owners_see_only_their_own_avatars(session_factory: SessionFactory, blobs: DiskBlobStore) -> None:
    with session_factory.begin() as session:
        ann, _ = create_user(session, "Ann", "free")
        bob, _ = create_user(session, "Bob", "free")
    ann_store, bob_store = AvatarStore(session_factory, blobs, ann.id), AvatarStore(session_factory, blobs, bob.id)
    mine = ann_store.create("Me", engine="local")
    bob_store.create("Me", engine="local")  # the same name is fine for another owner
    with pytest.raises(NotFoundError):
        bob_store.get(mine.id)
    with pytest.raises(NotFoundError):
        AvatarStore(session_factory, blobs).get("Me")  # nor does the local CLI user see it
    assert [r.id for r in ann_store.list()] == [mine.id]


@pytest.mark.parametrize("name", ["", "   ", "../etc", "a/b", ".hidden", "x" * 65, "tab\tname", "nul\x00"])
def test_unsafe_names_are_refused(store: AvatarStore, name: str) -> None:
    with pytest.raises(InputError, match="invalid avatar name"):
        store.create(name, engine="local")
    assert store.list() == []


def test_unknown_avatar(store: AvatarStore) -> None:
    with pytest.raises(NotFoundError, match="no avatar named 'ghost'"):
        store.get("ghost")


@pytest.mark.parametrize("key", ["../x", "/abs", "a/../b", "", ".hidden"])
def test_unsafe_blob_keys_are_refused(blobs: DiskBlobStore, key: str) -> None:
    with pytest.raises(ValueError, match="unsafe blob key"):
        blobs.put(key, b"x")
