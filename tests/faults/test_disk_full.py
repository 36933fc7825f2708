"""The blob store's disk fills up: uploads are refused cleanly and stored avatars are untouched.

The blob folder (HOME/blobs) is a real 2 MiB tmpfs, then filled by another file, so writes fail
with ENOSPC from the kernel (no mock of our code). Mounting needs root and a container that
allows it; elsewhere the test is skipped, saying why. The database (SQLite) is outside the tmpfs.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from voice_avatar.accounts import create_user
from voice_avatar.audio import load_audio
from voice_avatar.service.app import create_app
from voice_avatar.settings import Settings
from voice_avatar.store import sessions_for

from .conftest import make_ready_avatar, speech_files


@pytest.fixture
def small_blob_disk(tmp_path: Path) -> Iterator[Path]:
    blobs = tmp_path / "home" / "blobs"
    blobs.mkdir(parents=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs for the blob store needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(blobs)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"this machine does not allow mounting a tmpfs: {mounted.stderr.decode().strip()}")
    try:
        yield blobs
    finally:
        subprocess.run(["umount", "-l", str(blobs)], check=False)


def fill(disk: Path, leave_bytes: int) -> Path:
    """Another file takes the disk's space until `leave_bytes` are left."""
    stat = os.statvfs(disk)
    free = stat.f_bavail * stat.f_frsize
    filler = disk / "filler"
    with open(filler, "wb") as f:
        f.write(b"\0" * max(0, free - leave_bytes))
    return filler


def snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "filler"
    }


def test_an_upload_to_a_full_disk_is_refused_cleanly_and_stored_avatars_stay_intact(
    tmp_path: Path, small_blob_disk: Path
) -> None:
    """What the user sees when the blob store's disk is full.

    Uploading samples answers 507 with `{"error": {"code": "insufficient_storage", "message": "...
    disk space ..."}}`; the avatar list shows no half-made avatar (no row stuck `pending`, no
    partial sample left on disk, though the first sample had fitted); the avatars stored before
    are byte-for-byte intact and still speak (200 with audio). Once space is freed, the same
    upload is accepted (202) by the same process.
    """
    settings = Settings(
        home=tmp_path / "home",
        require_consent=False,
        pregenerate_phrases=[],
        # The upload accepted at the end is refused by its job at once, so the test need not wait for fitting.
        tier_min_speech_seconds={"free": 100_000.0},
    )
    with sessions_for(settings).begin() as session:
        user, key = create_user(session, "Ada", "free", plans=settings.tiers)
    auth = {"Authorization": f"Bearer {key}"}
    _, kept = make_ready_avatar(settings, user.id, "Kept")
    before = snapshot(small_blob_disk)
    assert any(name.endswith("profile.npz") for name in before)

    samples = [p for i, p in enumerate(speech_files("2609", 5)) if i in (2, 4)]  # about 220 kB, then 380 kB
    files = [("samples", (p.name, p.read_bytes(), "audio/flac")) for p in samples]
    filler = fill(small_blob_disk, leave_bytes=300_000)  # room for the first sample, not the second

    with TestClient(create_app(settings)) as client:
        refused = client.post("/v1/avatars", data={"name": "Second"}, files=files, headers=auth)
        assert refused.status_code == 507, refused.text
        error = refused.json()["error"]
        assert error["code"] == "insufficient_storage" and "disk space" in error["message"]

        listed = client.get("/v1/avatars", headers=auth).json()["avatars"]
        assert [(a["name"], a["status"]) for a in listed] == [("Kept", "ready")]
        leftovers = sorted(p.name for p in small_blob_disk.rglob("*") if p.name.startswith((".tmp-", ".deleting-")))
        assert leftovers == []
        assert sorted(p.name for p in small_blob_disk.iterdir()) == sorted([kept.id, "filler"])
        assert snapshot(small_blob_disk) == before

        speech = {"text": "Still here.", "format": "wav"}
        spoken = client.post(f"/v1/avatars/{kept.id}/speech", json=speech, headers=auth)
        assert spoken.status_code == 200, spoken.text
        assert load_audio(spoken.content, name="reply.wav").duration > 0.3

        filler.unlink()
        accepted = client.post("/v1/avatars", data={"name": "Second"}, files=files, headers=auth)
        assert accepted.status_code == 202, accepted.text
        deadline = time.monotonic() + 60
        while client.get(f"/v1/avatars/{accepted.json()['id']}", headers=auth).json()["status"] == "pending":
            assert time.monotonic() < deadline
            time.sleep(0.2)


def test_a_disk_that_fills_during_fitting_fails_the_avatar_with_a_clear_reason(
    tmp_path: Path, small_blob_disk: Path
) -> None:
    """The samples were stored, then the disk filled before the worker could save the fitted profile.

    What the user sees: GET /v1/avatars/{id} ends `failed` (never stuck `pending`) with an
    error naming disk space, and no partial profile is left behind.
    """
    from voice_avatar.enrollment import Upload, add_inputs
    from voice_avatar.jobs import run_enrollment
    from voice_avatar.store import open_store

    settings = Settings(home=tmp_path / "home", require_consent=False, pregenerate_phrases=[])
    with sessions_for(settings).begin() as session:
        user, key = create_user(session, "Bea", "free", plans=settings.tiers)
    store = open_store(settings, user.id)
    record = store.create("Filling", engine="local")  # what the API does on upload
    samples = [p for i, p in enumerate(speech_files("2609", 5)) if i in (2, 4)]
    add_inputs(store, record, [Upload(p.name, p.read_bytes()) for p in samples])
    fill(small_blob_disk, leave_bytes=20_000)  # the profile (about 200 kB) will not fit

    run_enrollment(settings, record.id, user.id, "free")  # what the worker runs

    with TestClient(create_app(settings)) as client:
        body = client.get(f"/v1/avatars/{record.id}", headers={"Authorization": f"Bearer {key}"}).json()
    assert body["status"] == "failed" and "disk space" in body["error"], body
    assert not list(small_blob_disk.rglob("profile.npz")) and not list(small_blob_disk.rglob(".tmp-*"))
