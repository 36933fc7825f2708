"""`POST /v1/detect` on audio the service really made: cloud speech, watermarked by the router, after MP3."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from test_cloud_routing import VOICES, cloud_service, speak

from voice_avatar.accounts import create_user
from voice_avatar.audio import Audio
from voice_avatar.audio.encode import encode
from voice_avatar.engines.router import CLOUD_RATE
from voice_avatar.store import sessions_for


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[dict]:
    yield from cloud_service(tmp_path)


def detect(cloud: dict, data: bytes, name: str = "reply.mp3", auth: dict | None = None):
    files = {"file": (name, data, "application/octet-stream")}
    return cloud["client"].post("/v1/detect", files=files, headers=cloud["auth"] if auth is None else auth)


def test_cloud_speech_is_marked_and_names_the_callers_avatar(cloud: dict) -> None:
    spoken = speak(cloud, "Your package will arrive on Thursday between nine and eleven.", "mp3")
    assert spoken.status_code == 200 and spoken.headers["x-engine"] == "elevenlabs"
    body = detect(cloud, spoken.content).json()
    assert body["watermarked"] is True and body["service"] == "voice-avatar"
    assert body["confidence"] > 0.9999 and body["avatar_id"] == cloud["avatar"]

    wav = speak(cloud, "Please remember to bring your notebook to the meeting tomorrow.", "wav")
    assert detect(cloud, wav.content, "reply.wav").json()["avatar_id"] == cloud["avatar"]

    pcm = speak(cloud, "Please remember to bring your notebook to the meeting tomorrow.", "pcm")
    samples = np.frombuffer(pcm.content, "<i2").astype(np.float32) / 32768  # raw, at the cloud default rate
    as_wav = encode(Audio(samples, CLOUD_RATE), "wav")
    assert detect(cloud, as_wav, "reply.wav").json()["avatar_id"] == cloud["avatar"]


def test_another_user_learns_it_is_ours_but_not_whose(cloud: dict) -> None:
    spoken = speak(cloud, "Your package will arrive on Thursday between nine and eleven.", "mp3")
    settings = cloud["client"].app.state.settings
    with sessions_for(settings).begin() as session:
        _, key = create_user(session, "Sam", "free", plans=settings.tiers)
    body = detect(cloud, spoken.content, auth={"Authorization": f"Bearer {key}"}).json()
    assert body["watermarked"] is True and body["avatar_id"] is None


def test_unmarked_unreadable_and_anonymous_uploads(cloud: dict) -> None:
    clip = sorted((VOICES / "1998").glob("*.flac"))[0]
    body = detect(cloud, clip.read_bytes(), clip.name).json()
    assert body == {
        "watermarked": False,
        "confidence": body["confidence"],
        "score": body["score"],
        "service": None,
        "avatar_id": None,
    }
    assert body["confidence"] < 0.5
    garbage = detect(cloud, b"<html>not audio</html>", "page.mp3")
    assert garbage.status_code == 415 and garbage.json()["error"]["code"] == "unreadable_audio"
    assert detect(cloud, clip.read_bytes(), auth={}).status_code == 401
