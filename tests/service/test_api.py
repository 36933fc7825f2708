"""The HTTP API in embedded mode (SQLite, disk cache, in-process queue), end to end with real audio.

One avatar is enrolled through the API for the whole module (fitting takes tens of seconds);
the tests then speak with it through the native route, the official `openai` client, streaming,
the cache, quotas and the error paths.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import soundfile
from fastapi.testclient import TestClient
from sqlalchemy import delete
from standins.server import running_server

from voice_avatar.accounts import create_user, get_user
from voice_avatar.billing.quota import quota_status, reserve_message
from voice_avatar.db import QuotaCounter
from voice_avatar.service.app import create_app
from voice_avatar.settings import Settings
from voice_avatar.store import sessions_for

VOICES = Path(__file__).resolve().parents[2].parent / "shared" / "voices" / "librispeech"
SAMPLES = [sorted((VOICES / "2609").glob("*.flac"))[i] for i in (2, 4)]  # about 29 s of one reader
PREGENERATED = ["Hello!", "Done.", "42"]


def make_settings(home: Path, **overrides: object) -> Settings:
    overrides.setdefault("rate_limit_per_minute", 0)  # bursts on purpose here; test_rate_limit covers the limits
    return Settings(home=home, require_consent=False, pregenerate_phrases=PREGENERATED, **overrides)


def new_user(settings: Settings, tier: str = "free", admin: bool = False) -> tuple[str, dict[str, str]]:
    with sessions_for(settings).begin() as session:
        user, key = create_user(session, f"user-{tier}", tier, admin, plans=settings.tiers)
        return user.id, {"Authorization": f"Bearer {key}"}


def wait_until_done(client: TestClient | httpx.Client, avatar_id: str, auth: dict, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    seen_progress = set()
    while time.monotonic() < deadline:
        body = client.get(f"/v1/avatars/{avatar_id}", headers=auth).json()
        seen_progress.add(body["progress"])
        if body["status"] in ("failed", "rejected") or (body["status"] == "ready" and body["stage"] == "done"):
            body["seen_progress"] = sorted(seen_progress)
            return body
        time.sleep(0.5)
    raise AssertionError(f"avatar {avatar_id} still pending after {timeout} s")


def upload(paths: list[Path]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("samples", (p.name, p.read_bytes(), "audio/flac")) for p in paths]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Settings]]:
    settings = make_settings(tmp_path_factory.mktemp("api") / "home")
    with TestClient(create_app(settings)) as client:
        yield client, settings


@pytest.fixture(scope="module")
def avatar(service: tuple[TestClient, Settings]) -> tuple[str, dict[str, str], str]:
    """(avatar id, owner's auth header, owner id) of an avatar enrolled through the API."""
    client, settings = service
    user_id, auth = new_user(settings)
    created = client.post("/v1/avatars", data={"name": "Reader"}, files=upload(SAMPLES), headers=auth)
    assert created.status_code == 202, created.text
    assert created.json()["status"] == "pending"
    done = wait_until_done(client, created.json()["id"], auth)
    assert done["status"] == "ready", done
    assert len(done["seen_progress"]) >= 2  # progress moved while we watched
    assert done["scores"]["similarity"] > done["scores"]["stock_similarity"]
    return done["id"], auth, user_id


def test_every_v1_route_needs_a_key(service: tuple[TestClient, Settings]) -> None:
    client, _ = service
    for method, path in [
        ("get", "/v1/avatars"),
        ("post", "/v1/audio/speech"),
        ("get", "/v1/usage"),
        ("get", "/v1/consent/phrase"),
        ("get", "/v1/reports/daily"),
    ]:
        response = getattr(client, method)(path)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"
    bad = client.get("/v1/avatars", headers={"Authorization": "Bearer va_not-a-key"})
    assert bad.status_code == 401 and "not valid" in bad.json()["error"]["message"]


def test_admin_routes_are_for_admins(service: tuple[TestClient, Settings]) -> None:
    client, settings = service
    _, plain = new_user(settings)
    assert client.post("/v1/admin/users", json={"name": "x"}, headers=plain).status_code == 403
    _, admin = new_user(settings, admin=True)
    made = client.post("/v1/admin/users", json={"name": "Zoe", "tier": "starter"}, headers=admin)
    assert made.status_code == 201 and made.json()["api_key"].startswith("va_")
    changed = client.patch(f"/v1/admin/users/{made.json()['user_id']}", json={"tier": "premium"}, headers=admin)
    assert changed.json()["tier"] == "premium"
    wrong = client.patch(f"/v1/admin/users/{made.json()['user_id']}", json={"tier": "gold"}, headers=admin)
    assert wrong.status_code == 400 and "unknown tier" in wrong.json()["error"]["message"]


def test_speech_is_cached_and_pregenerated_phrases_are_hits(service, avatar) -> None:
    client, _ = service
    avatar_id, auth, _ = avatar
    for phrase in PREGENERATED:  # cached by the enrollment job, before anyone asked
        hit = client.post(f"/v1/avatars/{avatar_id}/speech", json={"text": phrase, "format": "mp3"}, headers=auth)
        assert hit.status_code == 200 and hit.headers["x-cache"] == "hit"
    body = {"text": "Your table for two is booked at 7:30 PM tomorrow.", "format": "wav"}
    first = client.post(f"/v1/avatars/{avatar_id}/speech", json=body, headers=auth)
    assert first.status_code == 200 and first.headers["x-cache"] == "miss"
    second = client.post(f"/v1/avatars/{avatar_id}/speech", json=body, headers=auth)
    assert second.headers["x-cache"] == "hit" and second.content == first.content
    audio, rate = soundfile.read(io.BytesIO(first.content))
    assert rate == 22050 and 1.5 < len(audio) / rate < 8


def test_streaming_sends_sentences_as_they_are_made(service, avatar) -> None:
    client, _ = service
    avatar_id, auth, _ = avatar
    text = "First, the weather. It will rain at noon. Take an umbrella!"
    with client.stream(
        "POST", f"/v1/avatars/{avatar_id}/speech", json={"text": text, "format": "pcm", "stream": True}, headers=auth
    ) as response:
        assert response.status_code == 200 and response.headers["x-cache"] == "miss"
        chunks = [c for c in response.iter_raw() if c]
    assert len(chunks) >= 3  # one piece per sentence at least
    assert sum(map(len, chunks)) / 2 / 22050 > 2.0


def test_the_official_openai_client_gets_speech(service, avatar) -> None:
    from openai import OpenAI

    _, settings = service
    avatar_id, auth, _ = avatar
    key = auth["Authorization"].removeprefix("Bearer ")
    with running_server(create_app(settings)) as base_url:
        client = OpenAI(base_url=f"{base_url}/v1", api_key=key)
        speech = client.audio.speech.create(
            model="tts-1", voice=avatar_id, input="Reading this aloud for you.", response_format="mp3"
        )
        audio, rate = soundfile.read(io.BytesIO(speech.content))
        assert rate == 22050 and len(audio) / rate > 1.0
        with client.audio.speech.with_streaming_response.create(
            model="tts-1", voice=avatar_id, input="Raw samples, please.", response_format="pcm"
        ) as streamed:
            pcm = b"".join(streamed.iter_bytes())
        assert len(pcm) / 2 / 24000 > 0.8  # OpenAI's pcm is 24 kHz


def test_usage_and_metrics_count_what_happened(service, avatar) -> None:
    client, _ = service
    avatar_id, auth, _ = avatar
    client.post(f"/v1/avatars/{avatar_id}/speech", json={"text": "Done.", "format": "mp3"}, headers=auth)
    usage = client.get("/v1/usage", headers=auth).json()
    assert usage["messages"] >= 1 and usage["cache_hits"] >= 1
    local = usage["by_engine"]["local"]
    misses = local["messages"] - local["cache_hits"]
    assert misses >= 1
    # Misses cost the local engine's compute price per character; hits cost nothing.
    assert 0 < local["cost_usd"] <= local["characters"] * 0.0002 / 1000 + 1e-6
    assert usage["quota"]["messages_used"] == usage["messages"]
    metrics = client.get("/metrics").text
    assert 'voice_avatar_generations_total{cache="hit",engine="local"}' in metrics


def test_bad_input_gets_json_errors_and_stores_nothing(service, avatar, tmp_path: Path) -> None:
    client, settings = service
    avatar_id, auth, _ = avatar
    before = client.get("/v1/avatars", headers=auth).json()
    garbage = client.post(
        "/v1/avatars",
        data={"name": "G"},
        headers=auth,
        files=[("samples", ("notes.wav", b"shopping list: milk, eggs" * 40, "audio/wav"))],
    )
    assert garbage.status_code == 415 and "notes.wav" in garbage.json()["error"]["message"]
    empty = client.post(
        "/v1/avatars", data={"name": "E"}, headers=auth, files=[("samples", ("e.wav", b"", "audio/wav"))]
    )
    assert empty.status_code == 400 and "empty" in empty.json()["error"]["message"]
    taken = client.post("/v1/avatars", data={"name": "reader"}, files=upload(SAMPLES[:1]), headers=auth)
    assert taken.status_code == 409
    assert client.get("/v1/avatars", headers=auth).json() == before
    cases = [
        (f"/v1/avatars/{avatar_id}/speech", {"text": "   "}, 400, "empty"),
        (f"/v1/avatars/{avatar_id}/speech", {"text": "hi", "format": "aiff"}, 422, "format"),
        (f"/v1/avatars/{avatar_id}/speech", {"text": "x" * 501}, 413, "500 characters"),
        ("/v1/avatars/nosuchavatar/speech", {"text": "hi"}, 404, "no avatar"),
        (
            "/v1/audio/speech",
            {"model": "tts-1", "input": "hi", "voice": avatar_id, "response_format": "opus"},
            400,
            "opus",
        ),
    ]
    for path, body, status, words in cases:
        response = client.post(path, json=body, headers=auth)
        assert response.status_code == status, (path, body, response.text)
        assert words in response.json()["error"]["message"]
    _, stranger = new_user(settings)
    assert client.get(f"/v1/avatars/{avatar_id}", headers=stranger).status_code == 404  # not theirs


def test_quota_edge_50_concurrent_requests_never_overspend_and_the_101st_is_refused(service, avatar) -> None:
    _, settings = service
    avatar_id, auth, user_id = avatar
    sessions = sessions_for(settings)
    with sessions() as session:
        user = get_user(session, user_id)
        used = quota_status(session, user, plans=settings.tiers).messages_used
    try:
        for _ in range(90 - used):
            reserve_message(sessions, user, 5, plans=settings.tiers)
        body = {"model": "tts-1", "input": "Hello!", "voice": avatar_id}  # a cached phrase: cheap to serve
        with running_server(create_app(settings)) as base_url, httpx.Client(base_url=base_url, timeout=120) as http:
            statuses = list(
                ThreadPoolExecutor(25).map(
                    lambda _: http.post("/v1/audio/speech", headers=auth, json=body).status_code, range(50)
                )
            )
            assert sorted(set(statuses)) == [200, 429] and statuses.count(200) == 10
            refused = http.post("/v1/audio/speech", headers=auth, json=body)
        with sessions() as session:
            assert quota_status(session, user, plans=settings.tiers).messages_used == 100
        assert refused.status_code == 429
        error = refused.json()["error"]
        assert error["code"] == "quota_exceeded"
        assert error["limit"] == "messages_per_month" and error["limit_value"] == 100
        assert error["resets_at"].endswith("-01T00:00:00+00:00")
    finally:
        with sessions.begin() as session:  # give the month back for the other tests
            session.execute(delete(QuotaCounter).where(QuotaCounter.user_id == user_id))


def test_consent_is_required_by_default_on_the_service(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", pregenerate_phrases=[])
    with TestClient(create_app(settings)) as client:
        _, auth = new_user(settings)
        refused = client.post("/v1/avatars", data={"name": "A"}, files=upload(SAMPLES), headers=auth)
        assert refused.status_code == 400 and "consent recording is required" in refused.json()["error"]["message"]
        phrase = client.get("/v1/consent/phrase", headers=auth).json()
        assert "My code is" in phrase["phrase"] and phrase["phrase_id"]
        consent = [("consent", ("consent.flac", SAMPLES[0].read_bytes(), "audio/flac"))]
        unknown = client.post(
            "/v1/avatars", data={"name": "A", "phrase_id": "nope"}, files=upload(SAMPLES) + consent, headers=auth
        )
        assert unknown.status_code == 400 and "unknown consent phrase_id" in unknown.json()["error"]["message"]
        wrong = client.post(
            "/v1/avatars",
            data={"name": "A", "phrase_id": phrase["phrase_id"]},
            files=upload(SAMPLES) + consent,
            headers=auth,
        )
        assert wrong.status_code == 202  # accepted for checking; the worker refuses it
        done = wait_until_done(client, wrong.json()["id"], auth)
        assert done["status"] == "failed" and "consent refused" in done["error"]
        again = client.post(
            "/v1/avatars",
            data={"name": "B", "phrase_id": phrase["phrase_id"]},
            files=upload(SAMPLES) + consent,
            headers=auth,
        )
        assert again.status_code == 400 and "already used" in again.json()["error"]["message"]
