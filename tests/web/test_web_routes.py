"""The routes behind the pages, over HTTP without a browser: pages, assets, onboarding, checks, history."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from webtools import SPEECH_CLIPS

from voice_avatar.accounts import create_user
from voice_avatar.billing import record_usage
from voice_avatar.service.app import create_app
from voice_avatar.settings import Settings
from voice_avatar.store import sessions_for


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(home=tmp_path_factory.mktemp("routes") / "home", pregenerate_phrases=[])
    with TestClient(create_app(settings)) as http:
        yield http


def key_for(client: TestClient, tier: str = "free", admin: bool = False) -> dict[str, str]:
    settings = client.app.state.settings
    with sessions_for(settings).begin() as session:
        _, key = create_user(session, f"web-{tier}", tier, admin, plans=settings.tiers)
    return {"Authorization": f"Bearer {key}"}


def test_pages_and_their_assets_are_served_from_the_package_with_nothing_from_outside(client: TestClient) -> None:
    for page in ("/", "/dashboard"):
        response = client.get(page)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
        assert not re.search(r"(src|href)=\"(https?:)?//", response.text)  # no CDN: works offline
        for asset in re.findall(r"(?:src|href)=\"(/static/[^\"]+)\"", response.text):
            assert client.get(asset).status_code == 200, asset
    script = client.get("/static/onboarding.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert not re.search(r"from \"https?:", script.text)
    assert client.get("/static/style.css").headers["content-type"].startswith("text/css")
    for bad in ("/static/nope.js", "/static/..%2Fapp.py", "/static/index.html", "/static/.hidden.js"):
        response = client.get(bad)
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found", bad


def test_onboarding_says_what_the_tier_needs(client: TestClient) -> None:
    body = client.get("/v1/onboarding", headers=key_for(client, "starter")).json()
    assert body["tier"] == "starter" and body["min_speech_seconds"] == 30.0
    assert body["consent_required"] is True  # the service's default
    assert len(body["prompt_text"].split()) > 60
    assert client.get("/v1/onboarding").status_code == 401


def test_the_sample_check_uses_the_tier_and_refuses_unreadable_audio(client: TestClient) -> None:
    clip = SPEECH_CLIPS[1]  # 18 s, about 16 s of it speech
    sample = [("samples", (clip.name, clip.read_bytes(), "audio/flac"))]
    free = client.post("/v1/samples/check", files=sample, headers=key_for(client, "free")).json()
    assert free["ok"] is True and free["checks"][0]["name"] == "speech_duration"
    starter = client.post("/v1/samples/check", files=sample, headers=key_for(client, "starter")).json()
    duration = starter["checks"][0]
    assert starter["ok"] is False and duration["passed"] is False and duration["threshold"] == ">= 30 s"
    assert "record at least 30 s" in starter["advice"][0]
    garbage = [("samples", ("notes.wav", b"shopping list: milk, eggs" * 40, "audio/wav"))]
    refused = client.post("/v1/samples/check", files=garbage, headers=key_for(client))
    assert refused.status_code == 415 and "notes.wav" in refused.json()["error"]["message"]
    assert client.post("/v1/samples/check", files=sample).status_code == 401


def test_history_lists_daily_reports_with_latency_by_engine(client: TestClient, tmp_path: Path) -> None:
    settings = client.app.state.settings
    yesterday = datetime.now(UTC) - timedelta(days=1)
    with sessions_for(settings).begin() as session:
        user, _ = create_user(session, "Lat", "free", plans=settings.tiers)
        for latency, hit in ((800, False), (1200, False), (3, True)):
            record_usage(
                session, user=user, engine="local", characters=50, cache_hit=hit, latency_ms=latency, now=yesterday
            )
    admin = key_for(client, admin=True)
    history = client.get("/v1/reports/history?days=3", headers=admin).json()
    assert [d["day"] for d in history] == [
        (datetime.now(UTC).date() - timedelta(days=n)).isoformat() for n in (2, 1, 0)
    ]
    assert history[1]["generations"]["total"] == 3 and "margins" in history[1]
    assert history[1]["latency_by_engine"] == {
        "local": {
            "hit": {"messages": 1, "mean_ms": 3.0, "max_ms": 3},
            "miss": {"messages": 2, "mean_ms": 1000.0, "max_ms": 1200},
        }
    }
    assert history[2]["latency_by_engine"] == {}
    assert client.get("/v1/reports/history", headers=key_for(client)).status_code == 403
    assert client.get("/v1/reports/history?days=0", headers=admin).status_code == 422
    assert client.get("/v1/reports/history?days=91", headers=admin).status_code == 422
