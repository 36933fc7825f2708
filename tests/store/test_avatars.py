"""The avatar store publishes whole avatars only, and finds them by name or id."""

from __future__ import annotations

from pathlib import Path

import pytest

from voice_avatar.errors import ConflictError, InputError, NotFoundError
from voice_avatar.store import AvatarStore


def _make(store: AvatarStore, name: str) -> str:
    with store.creating(name, engine="local") as (record, folder):
        (folder / "profile.npz").write_bytes(b"profile")
        record.status = "ready"
    return record.id


def test_create_list_get_delete(tmp_path: Path) -> None:
    store = AvatarStore(tmp_path / "avatars")
    avatar_id = _make(store, "Grandma June")
    assert [r.name for r in store.list()] == ["Grandma June"]
    assert store.get("grandma june").id == avatar_id
    assert store.get(avatar_id).status == "ready"
    assert (store.folder(store.get(avatar_id)) / "profile.npz").read_bytes() == b"profile"
    store.delete("Grandma June")
    assert store.list() == []
    assert list((tmp_path / "avatars").iterdir()) == []


def test_failure_inside_creation_leaves_nothing(tmp_path: Path) -> None:
    store = AvatarStore(tmp_path / "avatars")
    _make(store, "kept")
    with pytest.raises(RuntimeError), store.creating("broken", engine="local") as (_record, folder):
        (folder / "half-written").write_bytes(b"x")
        raise RuntimeError("fitting crashed")
    assert [r.name for r in store.list()] == ["kept"]
    assert sorted(p.name for p in (tmp_path / "avatars").iterdir()) == [store.get("kept").id]


def test_duplicate_names_are_refused_case_insensitively(tmp_path: Path) -> None:
    store = AvatarStore(tmp_path / "avatars")
    _make(store, "Max")
    with pytest.raises(ConflictError, match="already exists"):
        _make(store, "max")
    assert len(store.list()) == 1


@pytest.mark.parametrize("name", ["", "   ", "../etc", "a/b", ".hidden", "x" * 65, "tab\tname", "nul\x00"])
def test_unsafe_names_are_refused(tmp_path: Path, name: str) -> None:
    store = AvatarStore(tmp_path / "avatars")
    with pytest.raises(InputError, match="invalid avatar name"):
        _make(store, name)
    assert store.list() == []


def test_unknown_avatar(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no avatar named 'ghost'"):
        AvatarStore(tmp_path / "avatars").get("ghost")
