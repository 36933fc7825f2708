"""The audit trail: each change leaves exactly one row naming who did what to what, and only admins read it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from voice_avatar import audit
from voice_avatar.accounts import create_user
from voice_avatar.cli import main
from voice_avatar.db import AuditEvent, SessionFactory
from voice_avatar.service.app import create_app
from voice_avatar.settings import Settings, get_settings
from voice_avatar.store import sessions_for

VOICES = Path(__file__).resolve().parents[2].parent / "shared" / "voices" / "librispeech"
CLIP = sorted((VOICES / "2609").glob("*.flac"))[0]


def rows(sessions: SessionFactory, **where: str | None) -> list[AuditEvent]:
    with sessions() as session:
        query = select(AuditEvent).order_by(AuditEvent.id)
        for name, value in where.items():
            query = query.where(getattr(AuditEvent, name) == value)
        return list(session.scalars(query))


def only(sessions: SessionFactory, action: str) -> AuditEvent:
    found = rows(sessions, action=action)
    assert len(found) == 1, [(e.action, e.target_id) for e in found]
    return found[0]


def test_record_and_recent_on_both_databases(session_factory: SessionFactory) -> None:
    with session_factory.begin() as session:
        audit.record(session, "u1", "avatar.enroll", "avatar", "a1", name="Ann")
        audit.record(session, None, "user.create", "user", "u2", tier="free")
        audit.record(session, "u1", "avatar.delete", "avatar", "a1", name="Ann")
    with session_factory() as session:
        assert [e.action for e in audit.recent(session)] == ["avatar.delete", "user.create", "avatar.enroll"]
        assert [e.action for e in audit.recent(session, 1)] == ["avatar.delete"]
        assert [e.target_id for e in audit.recent(session, action="user.create")] == ["u2"]
        assert len(audit.recent(session, actor_id="u1")) == 2
        assert audit.event_json(audit.recent(session, target_id="u2")[0])["detail"] == {"tier": "free"}


@pytest.mark.parametrize("detail", [{"api_key": "va_x"}, {"key_hash": "ab"}, {"password": "p"}, {"audio": b"RIFF"}])
def test_secrets_and_audio_never_reach_the_log(tmp_path: Path, detail: dict) -> None:
    sessions = sessions_for(Settings(home=tmp_path))
    with pytest.raises(ValueError, match="must not be logged|binary data"), sessions.begin() as session:
        audit.record(session, None, "key.issue", "api_key", "k1", **detail)
    assert rows(sessions) == []


class NoQueue:
    """Accepts enrollments without fitting them: these tests are about the audit rows, not the avatars."""

    def enqueue_enrollment(self, avatar_id: str, owner_id: str | None, tier: str) -> None:
        pass

    def depth(self) -> int:
        return 0

    def shutdown(self) -> None:
        pass


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[TestClient, Settings]]:
    settings = Settings(home=tmp_path / "home", require_consent=False, pregenerate_phrases=[])
    with TestClient(create_app(settings)) as client:
        real, client.app.state.queue = client.app.state.queue, NoQueue()
        try:
            yield client, settings
        finally:
            real.shutdown()


def test_each_api_change_leaves_one_row_with_its_actor_and_target(service) -> None:
    client, settings = service
    sessions = sessions_for(settings)
    with sessions.begin() as session:
        admin, admin_key = create_user(session, "root", "free", is_admin=True, plans=settings.tiers)
        admin_id, admin_auth = admin.id, {"Authorization": f"Bearer {admin_key}"}
    made = client.post("/v1/admin/users", json={"name": "Ann", "tier": "starter"}, headers=admin_auth).json()
    ann_id, ann = made["user_id"], {"Authorization": f"Bearer {made['api_key']}"}
    event = only(sessions, "user.create")
    assert (event.actor_user_id, event.target_type, event.target_id) == (admin_id, "user", ann_id)
    assert event.detail == {"name": "Ann", "tier": "starter", "admin": False}

    assert client.patch(f"/v1/admin/users/{ann_id}", json={"tier": "premium"}, headers=admin_auth).status_code == 200
    event = only(sessions, "user.set_tier")
    assert (event.actor_user_id, event.target_id, event.detail) == (
        admin_id, ann_id, {"tier": "premium", "previous_tier": "starter"}
    )
    assert client.patch(f"/v1/admin/users/{ann_id}", json={"tier": "gold"}, headers=admin_auth).status_code == 400
    only(sessions, "user.set_tier")  # a refused change leaves no row

    issued = client.post("/v1/keys", headers=ann).json()
    event = only(sessions, "key.issue")
    assert (event.actor_user_id, event.target_type, event.target_id) == (ann_id, "api_key", issued["id"])
    for _ in range(2):  # revoking again changes nothing, so it is not logged again
        assert client.delete(f"/v1/keys/{issued['id']}", headers=ann).status_code == 200
    event = only(sessions, "key.revoke")
    assert (event.actor_user_id, event.target_id) == (ann_id, issued["id"])

    files = [("samples", (CLIP.name, CLIP.read_bytes(), "audio/flac"))]
    created = client.post("/v1/avatars", data={"name": "Reader"}, files=files, headers=ann)
    assert created.status_code == 202, created.text
    event = only(sessions, "avatar.enroll")
    assert (event.actor_user_id, event.target_type, event.target_id) == (ann_id, "avatar", created.json()["id"])
    assert event.detail == {"name": "Reader", "samples": 1, "consent": False}
    refused = client.post("/v1/avatars", data={"name": "Reader"}, files=files, headers=ann)
    assert refused.status_code == 409
    only(sessions, "avatar.enroll")

    assert client.delete(f"/v1/avatars/{created.json()['id']}", headers=ann).status_code == 200
    event = only(sessions, "avatar.delete")
    assert (event.actor_user_id, event.target_id, event.detail) == (ann_id, created.json()["id"], {})
    assert only(sessions, "avatar.enroll").detail == {}  # a deleted avatar's name leaves the trail too

    trail = client.get("/v1/admin/audit", headers=admin_auth)
    assert trail.status_code == 200
    events = trail.json()["events"]
    assert [e["action"] for e in events] == [
        "avatar.delete", "avatar.enroll", "key.revoke", "key.issue", "user.set_tier", "user.create"
    ]
    assert made["api_key"] not in trail.text and issued["api_key"] not in trail.text and admin_key not in trail.text
    two = client.get("/v1/admin/audit", params={"limit": 2, "actor": ann_id}, headers=admin_auth).json()["events"]
    assert [e["action"] for e in two] == ["avatar.delete", "avatar.enroll"]
    keys_only = client.get("/v1/admin/audit", params={"action": "key.issue"}, headers=admin_auth).json()["events"]
    assert [e["target_id"] for e in keys_only] == [issued["id"]]


def test_the_audit_route_is_for_admins_and_checks_its_limit(service) -> None:
    client, settings = service
    with sessions_for(settings).begin() as session:
        _, user_key = create_user(session, "ann", "free", plans=settings.tiers)
        _, admin_key = create_user(session, "root", "free", is_admin=True, plans=settings.tiers)
    assert client.get("/v1/admin/audit").status_code == 401
    assert client.get("/v1/admin/audit", headers={"Authorization": f"Bearer {user_key}"}).status_code == 403
    for limit in (0, 1001, "x"):
        bad = client.get("/v1/admin/audit", params={"limit": limit}, headers={"Authorization": f"Bearer {admin_key}"})
        assert bad.status_code == 422 and "limit" in bad.json()["error"]["message"]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("VOICE_AVATAR_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    yield tmp_path / "home"
    get_settings.cache_clear()


def test_each_cli_change_leaves_one_row_by_the_local_operator(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import voice_avatar.enrollment

    def instant_enroll(store, name, samples, progress, options, consent=None, phrase=None):
        record = store.create(name, engine="local")
        record.status = "ready"
        store.save(record)
        return record

    monkeypatch.setattr(voice_avatar.enrollment, "enroll", instant_enroll)  # no fitting: only the audit is tested
    sessions = sessions_for(get_settings())

    assert main(["users", "create", "--name", "Ann", "--json"]) == 0
    user = json.loads(capsys.readouterr().out)
    assert main(["users", "set-tier", user["user_id"], "premium"]) == 0
    capsys.readouterr()
    assert main(["keys", "create", user["user_id"], "--json"]) == 0
    key = json.loads(capsys.readouterr().out)
    assert main(["keys", "revoke", key["key_id"]]) == 0
    assert main(["keys", "revoke", key["key_id"]]) == 0  # already revoked: no second row
    capsys.readouterr()
    assert main(["enroll", "--name", "Bea", "--json", str(CLIP)]) == 0
    avatar = json.loads(capsys.readouterr().out)
    assert main(["avatars", "delete", "Bea"]) == 0

    expected = {
        "user.create": ("user", user["user_id"]),
        "user.set_tier": ("user", user["user_id"]),
        "key.issue": ("api_key", key["key_id"]),
        "key.revoke": ("api_key", key["key_id"]),
        "avatar.enroll": ("avatar", avatar["id"]),
        "avatar.delete": ("avatar", avatar["id"]),
    }
    for action, target in expected.items():
        event = only(sessions, action)
        assert (event.actor_user_id, event.target_type, event.target_id) == (None, *target)
    assert len(rows(sessions)) == len(expected)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == 6
        logged = json.dumps([audit.event_json(e) for e in audit.recent(session)])
    assert user["api_key"] not in logged and key["api_key"] not in logged
