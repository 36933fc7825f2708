"""Who may call what: every route of the app, for every kind of caller, against one table.

The routes come from `app.routes`, so a route added without a row in `TABLE` fails
`test_every_route_has_a_row`. Callers: no header, an unknown key, a revoked key, another user who
owns nothing, the owner, and an administrator who does not own the avatar. Someone else's avatar
or key answers 404 with nothing of it in the body, never 403 (which would confirm it exists).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Route

from voice_avatar.accounts import create_user, issue_key, revoke_key
from voice_avatar.engines.local.profile import VoiceProfile
from voice_avatar.enrollment import PROFILE_FILE, Upload, add_inputs
from voice_avatar.service.app import create_app
from voice_avatar.settings import ExperimentSpec, Settings
from voice_avatar.store import open_store, sessions_for

VOICES = Path(__file__).resolve().parents[2].parent / "shared" / "voices" / "librispeech"
AVATAR_NAME = "Quillon Secret Voice"
ROLES = ("anonymous", "wrong_key", "revoked_key", "other_user", "admin", "owner")  # the owner last
UNAUTHENTICATED = ("anonymous", "wrong_key", "revoked_key")


@dataclass
class World:
    client: TestClient
    auth: dict[str, dict[str, str]]
    ids: dict[str, str]  # avatar, doomed_avatar, owner, other, spare_key, doomed_user


@dataclass(frozen=True)
class Row:
    """How to call one route, and what each caller gets.

    kind: public (anyone, `ok`), user (any valid key, `ok`), owned (the owner gets `ok`, other users
    and admins 404), admin (administrators get `ok`, users 403). `ok` is a status or a set of them.
    """

    kind: str
    ok: int | frozenset[int]
    path: Callable[[dict[str, str]], str] | None = None
    json: Callable[[dict[str, str]], dict] | None = None
    files: Callable[[], list] | None = None
    optional: bool = False  # a route another change is adding: tested when present
    params: dict = field(default_factory=dict)


def _garbage() -> list:
    return [("samples", ("notes.wav", b"not audio at all" * 64, "audio/wav"))]


def _garbage_file() -> list:
    return [("file", ("notes.wav", b"not audio at all" * 64, "audio/wav"))]


SPEECH = {"text": "Hi.", "format": "flac"}
TABLE: dict[tuple[str, str], Row] = {
    # Public: probes, metrics, the browser pages and their files, the API's own documentation.
    ("GET", "/healthz"): Row("public", 200),
    ("GET", "/readyz"): Row("public", 200),
    ("GET", "/metrics"): Row("public", 200),
    ("GET", "/"): Row("public", 200),
    ("GET", "/dashboard"): Row("public", 200),
    ("GET", "/static/{name}"): Row("public", 200, path=lambda ids: "/static/api.js"),
    ("GET", "/openapi.json"): Row("public", 200),
    ("GET", "/docs"): Row("public", 200),
    ("GET", "/docs/oauth2-redirect"): Row("public", 200),
    ("GET", "/redoc"): Row("public", 200),
    # Any user, about their own things.
    ("GET", "/v1/avatars"): Row("user", 200),
    ("POST", "/v1/avatars"): Row("user", 415, files=_garbage, params={"data": {"name": "Nope"}}),
    ("GET", "/v1/consent/phrase"): Row("user", 200),
    ("GET", "/v1/usage"): Row("user", 200),
    ("GET", "/v1/onboarding"): Row("user", 200),
    ("POST", "/v1/samples/check"): Row("user", 415, files=_garbage),
    ("POST", "/v1/detect"): Row("user", 415, files=_garbage_file),
    ("POST", "/v1/ratings"): Row("user", 404, json=lambda ids: {"message_id": 1, "rating": 5}),
    ("GET", "/v1/keys"): Row("user", 200),
    ("POST", "/v1/keys"): Row("user", 201),
    # One user's avatar or key: 404 for everyone else, administrators included.
    ("GET", "/v1/avatars/{avatar_id}"): Row("owned", 200, path=lambda ids: f"/v1/avatars/{ids['avatar']}"),
    ("POST", "/v1/avatars/{avatar_id}/speech"): Row(
        "owned", 200, path=lambda ids: f"/v1/avatars/{ids['avatar']}/speech", json=lambda ids: SPEECH
    ),
    ("POST", "/v1/audio/speech"): Row(
        "owned",
        200,
        json=lambda ids: {"model": "tts-1", "input": "Hi.", "voice": ids["avatar"], "response_format": "flac"},
    ),
    ("DELETE", "/v1/avatars/{avatar_id}"): Row(
        "owned", 200, path=lambda ids: f"/v1/avatars/{ids['doomed_avatar']}"
    ),
    ("DELETE", "/v1/keys/{key_id}"): Row("owned", 200, path=lambda ids: f"/v1/keys/{ids['spare_key']}"),
    # Administrators only.
    ("GET", "/v1/admin/users"): Row("admin", 200),
    ("POST", "/v1/admin/users"): Row("admin", 201, json=lambda ids: {"name": "made-by-admin"}),
    ("PATCH", "/v1/admin/users/{user_id}"): Row(
        "admin", 200, path=lambda ids: f"/v1/admin/users/{ids['other']}", json=lambda ids: {"tier": "free"}
    ),
    ("DELETE", "/v1/admin/users/{user_id}"): Row(
        "admin", frozenset({200, 204}), path=lambda ids: f"/v1/admin/users/{ids['doomed_user']}", optional=True
    ),
    ("GET", "/v1/admin/providers"): Row("admin", 200),
    ("GET", "/v1/admin/audit"): Row("admin", 200),
    ("GET", "/v1/reports/daily"): Row("admin", 200),
    ("GET", "/v1/reports/history"): Row("admin", 200),
    ("GET", "/v1/experiments"): Row("admin", 200),
    ("GET", "/v1/experiments/{name}/report"): Row("admin", 200, path=lambda ids: "/v1/experiments/trial/report"),
}


def make_settings(home: Path) -> Settings:
    trial = ExperimentSpec(tiers=["premium"], arms={"a": {"engine": "local"}, "b": {"engine": "local"}})
    return Settings(home=home, require_consent=False, pregenerate_phrases=[], experiments={"trial": trial})


def app_routes() -> set[tuple[str, str]]:
    """(method, path) of every route; HEAD only mirrors GET, so it has no rows of its own."""
    found = set()
    for route in _flat(create_app(make_settings(Path("/nonexistent/authorization"))).routes):
        assert route.path and route.methods, f"{route!r}: teach app_routes() this kind of route"
        found |= {(method, route.path) for method in route.methods if method != "HEAD"}
    return found


def _flat(routes) -> Iterator:
    """Newer FastAPI keeps an included router as one entry that expands to its routes on demand."""
    for route in routes:
        if hasattr(route, "effective_route_contexts"):
            yield from route.effective_route_contexts()
        else:
            assert isinstance(route, APIRoute | Route), f"{route!r}: teach app_routes() this kind of route"
            yield route


ROUTES = app_routes()
CASES = [
    (method, path, role)
    # DELETE last: the owner's DELETE removes what it names, so everyone else tries first.
    for method, path in sorted(TABLE, key=lambda mp: (mp[0] == "DELETE", mp))
    for role in ROLES
]


def test_every_route_has_a_row() -> None:
    missing = sorted(ROUTES - set(TABLE))
    stale = sorted(k for k, row in TABLE.items() if k not in ROUTES and not row.optional)
    assert not missing, f"routes without a row in TABLE (say who may call them): {missing}"
    assert not stale, f"rows for routes the app no longer has: {stale}"
    open_v1 = sorted(k for k, row in TABLE.items() if row.kind == "public" and k[1].startswith("/v1/"))
    assert not open_v1, f"/v1 routes need a key: {open_v1}"


def identity_profile() -> bytes:
    """A profile that leaves Piper's voice unchanged: the owner's speech works without fitting (seconds)."""
    zeros = np.zeros((4, 39), dtype=np.float16)
    return VoiceProfile(1.0, 1.0, zeros, zeros, 1, 120.0, 120.0, 30.0).to_bytes()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    settings = make_settings(tmp_path_factory.mktemp("authz") / "home")
    auth, ids = {"anonymous": {}, "wrong_key": {"Authorization": f"Bearer va_{secrets.token_urlsafe(32)}"}}, {}
    with sessions_for(settings).begin() as session:
        owner, owner_key = create_user(session, "owner", "free", plans=settings.tiers)
        revoked, revoked_key = issue_key(session, owner)
        revoke_key(session, revoked.id)
        spare, _ = issue_key(session, owner)
        other, other_key = create_user(session, "other", "free", plans=settings.tiers)
        _, admin_key = create_user(session, "admin", "free", is_admin=True, plans=settings.tiers)
        doomed, _ = create_user(session, "doomed", "free", plans=settings.tiers)
        ids.update(owner=owner.id, other=other.id, spare_key=spare.id, doomed_user=doomed.id)
    keys = {"owner": owner_key, "revoked_key": revoked_key, "other_user": other_key, "admin": admin_key}
    auth |= {role: {"Authorization": f"Bearer {key}"} for role, key in keys.items()}
    store = open_store(settings, ids["owner"])
    clip = sorted((VOICES / "2609").glob("*.flac"))[0]
    for key, name in (("avatar", AVATAR_NAME), ("doomed_avatar", AVATAR_NAME + " Two")):
        record = store.create(name, engine="local")
        add_inputs(store, record, [Upload(clip.name, clip.read_bytes())])
        store.put_blob(record, PROFILE_FILE, identity_profile())
        record.status, record.stage, record.progress = "ready", "done", 1.0
        store.save(record)
        ids[key] = record.id
    with TestClient(create_app(settings)) as client:
        yield World(client, auth, ids)


def expected(row: Row, role: str) -> frozenset[int]:
    ok = row.ok if isinstance(row.ok, frozenset) else frozenset({row.ok})
    if row.kind == "public":
        return ok
    if role in UNAUTHENTICATED:
        return frozenset({401})
    if row.kind == "admin" and role != "admin":
        return frozenset({403})
    if row.kind == "owned" and role != "owner":
        return frozenset({404})
    return ok


@pytest.mark.parametrize(("method", "path", "role"), CASES, ids=[f"{m} {p} {r}" for m, p, r in CASES])
def test_each_caller_gets_what_the_table_says(world: World, method: str, path: str, role: str) -> None:
    row = TABLE[(method, path)]
    if (method, path) not in ROUTES:
        pytest.skip(f"{method} {path} is not in the app yet")
    url = row.path(world.ids) if row.path else path
    kwargs = dict(row.params)
    if row.json:
        kwargs["json"] = row.json(world.ids)
    if row.files:
        kwargs["files"] = row.files()
    response = world.client.request(method, url, headers=world.auth[role], **kwargs)
    assert response.status_code in expected(row, role), (role, method, url, response.status_code, response.text[:300])
    if response.status_code in (401, 403, 404):
        assert response.headers["content-type"].startswith("application/json")
        assert response.json()["error"]["code"] in ("unauthorized", "forbidden", "not_found")
    if response.status_code == 401:
        assert response.headers.get("www-authenticate") == "Bearer"
    if role != "owner" and row.kind in ("owned", "user"):
        # Nothing of the owner's avatar reaches anyone else: not its name, not its owner.
        text = response.text.lower()
        assert AVATAR_NAME.lower() not in text and world.ids["owner"] not in text, response.text[:300]
    if row.kind == "owned" and role != "owner":  # and none of its record either
        assert not any(word in response.text for word in ('"ready"', "samples", "scores", "engine"))
