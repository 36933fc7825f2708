"""Cloud providers that hang or rate-limit: failover, circuit breakers, and what it costs the user.

Premium speech goes to ElevenLabs, then Fish Audio, then the local engine. Both providers are
this repository's stand-in servers (tests/standins/) on loopback, with a 1 s client timeout.
Plain 500s failing over and opening the breaker are covered in tests/service/test_cloud_routing.py;
these add hangs past the client timeout and 429s with Retry-After.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from standins.elevenlabs import StandinControl, make_elevenlabs_standin
from standins.fishaudio import make_fishaudio_standin
from standins.server import running_server

from voice_avatar.accounts import create_user
from voice_avatar.audio import load_audio
from voice_avatar.engines.router import MAX_RETRY_WAIT_SECONDS
from voice_avatar.service.app import create_app
from voice_avatar.settings import Settings
from voice_avatar.store import sessions_for

from .conftest import make_ready_avatar

THRESHOLD = 2
TIMEOUT = 1.0
HANG = 4.0  # how long a hanging provider holds the request: well past TIMEOUT


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[dict]:
    eleven = StandinControl(api_key="el-key", slow_seconds=HANG)
    fish = make_fishaudio_standin(api_key="fish-key")
    with running_server(make_elevenlabs_standin(eleven)) as el_url, running_server(fish) as fish_url:
        settings = Settings(
            home=tmp_path / "home",
            require_consent=False,
            pregenerate_phrases=[],
            elevenlabs_api_key="el-key",
            elevenlabs_base_url=el_url,
            elevenlabs_timeout_seconds=TIMEOUT,
            fishaudio_api_key="fish-key",
            fishaudio_base_url=fish_url,
            fishaudio_timeout_seconds=TIMEOUT,
            breaker_threshold=THRESHOLD,
            breaker_cooldown_seconds=3600,
        )
        with sessions_for(settings).begin() as session:
            user, key = create_user(session, "Pat", "premium", plans=settings.tiers)
        _, record = make_ready_avatar(settings, user.id, "Pat")
        with TestClient(create_app(settings)) as client:
            state = {"client": client, "auth": {"Authorization": f"Bearer {key}"}, "avatar": record.id}
            state.update(eleven=eleven, fish=fish.control)
            # Both providers make their voice first, so later timings are speech alone.
            assert speak(state, "Warm up ElevenLabs.").headers["x-engine"] == "elevenlabs"
            eleven.fail_next("server_error")
            assert speak(state, "Warm up Fish Audio.").headers["x-engine"] == "fishaudio"
            speak(state, "ElevenLabs again, which closes its breaker's count.")
            yield state


def speak(cloud: dict, text: str):
    started = time.monotonic()
    response = cloud["client"].post(
        f"/v1/avatars/{cloud['avatar']}/speech", json={"text": text, "format": "mp3"}, headers=cloud["auth"]
    )
    response.elapsed_seconds = time.monotonic() - started
    assert response.status_code == 200, response.text
    assert load_audio(response.content, name="reply.mp3").duration > 0.3
    return response


def tts_calls(control: StandinControl) -> int:
    return sum(1 for r in control.requests if "/text-to-speech/" in r.path)


def test_a_provider_hanging_past_the_timeout_fails_over_and_then_is_skipped_without_waiting(cloud: dict) -> None:
    """ElevenLabs accepts the connection and then says nothing for 4 s (the client gives up at 1 s).

    What the user sees: 200 with audio, `X-Engine: fishaudio` and `X-Failed-Engines` naming
    `elevenlabs:ProviderTimeout`, after about one timeout of delay, not the hang. After THRESHOLD
    such messages the breaker is open: the next answers name `elevenlabs:breaker_open` and come
    without the timeout's delay, and no request reaches ElevenLabs.
    """
    cloud["eleven"].fail_next("slow", times=100)
    for i in range(THRESHOLD):
        response = speak(cloud, f"Message {i} while ElevenLabs hangs.")
        assert response.headers["x-engine"] == "fishaudio"
        assert "elevenlabs:ProviderTimeout" in response.headers["x-failed-engines"]
        assert TIMEOUT <= response.elapsed_seconds < HANG, response.elapsed_seconds
    reached = tts_calls(cloud["eleven"])
    response = speak(cloud, "Now the breaker is open.")
    assert response.headers["x-engine"] == "fishaudio"
    assert response.headers["x-failed-engines"] == "elevenlabs:breaker_open"
    assert response.elapsed_seconds < TIMEOUT, "an open breaker must not wait for the provider"
    assert tts_calls(cloud["eleven"]) == reached


def test_every_cloud_provider_hanging_still_gets_the_local_voice(cloud: dict) -> None:
    """Both providers hang past the timeout.

    What the user sees: 200 with audio from `X-Engine: local`, `X-Failed-Engines` naming both
    providers' timeouts, after about two timeouts, not two hangs.
    """
    cloud["eleven"].fail_next("slow", times=10)
    cloud["fish"].fail_next("slow", times=10, seconds=HANG)
    response = speak(cloud, "Everyone upstream is slow today.")
    assert response.headers["x-engine"] == "local"
    failed = response.headers["x-failed-engines"].split(",")
    assert failed == ["elevenlabs:ProviderTimeout", "fishaudio:ProviderTimeout"]
    assert 2 * TIMEOUT <= response.elapsed_seconds < 2 * HANG


def test_a_short_retry_after_429_is_waited_out_on_the_same_provider(cloud: dict) -> None:
    """ElevenLabs answers 429 `too_many_concurrent_requests` with `Retry-After: 0.5` once.

    What the user sees: 200 with audio still from `X-Engine: elevenlabs` (no failover, so the
    premium voice is kept), about half a second later than usual.
    """
    before = tts_calls(cloud["eleven"])
    cloud["eleven"].fail_next("rate_limited", retry_after=0.5)
    response = speak(cloud, "A short wait is better than another voice.")
    assert response.headers["x-engine"] == "elevenlabs"
    assert not response.headers.get("x-failed-engines")
    assert response.elapsed_seconds >= 0.5
    assert tts_calls(cloud["eleven"]) - before == 2  # the 429, then the retry


def test_a_long_retry_after_429_fails_over_at_once_and_repeated_ones_open_the_breaker(cloud: dict) -> None:
    """ElevenLabs keeps answering 429 with `Retry-After: 30`, longer than a request may wait.

    What the user sees: 200 with audio from `X-Engine: fishaudio` at once (no 30 s wait),
    `X-Failed-Engines` naming `elevenlabs:ProviderRateLimited`; after THRESHOLD of them the
    breaker opens and ElevenLabs is skipped (`elevenlabs:breaker_open`).
    """
    assert MAX_RETRY_WAIT_SECONDS < 30
    cloud["eleven"].fail_next("rate_limited", times=100, retry_after=30)
    for i in range(THRESHOLD):
        response = speak(cloud, f"Rate limited message {i}.")
        assert response.headers["x-engine"] == "fishaudio"
        assert "elevenlabs:ProviderRateLimited" in response.headers["x-failed-engines"]
        assert response.elapsed_seconds < 10
    reached = tts_calls(cloud["eleven"])
    response = speak(cloud, "Breaker open after the rate limits.")
    assert response.headers["x-failed-engines"] == "elevenlabs:breaker_open"
    assert tts_calls(cloud["eleven"]) == reached
