"""Redis (audio cache + job queue) stops and comes back while one API process keeps running.

The API runs in-process against this test's own redis-server, which is stopped (SIGTERM, and
with no persistence it comes back empty, as after a crash) and started again on the same port.
Decision documented in voice_avatar.jobs: an upload made while the queue is down is kept and
answered 202 `pending`; a worker's orphan sweep queues it once Redis is back.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from fastapi.testclient import TestClient
from rq.job import Job

from voice_avatar.accounts import create_user
from voice_avatar.audio import load_audio
from voice_avatar.jobs import SWEEP_GRACE_SECONDS, SWEEP_SECONDS
from voice_avatar.service.app import create_app
from voice_avatar.settings import Settings
from voice_avatar.store import sessions_for

from .conftest import Processes, RedisServer, make_ready_avatar, speech_files


def test_speech_and_enrollment_ride_out_a_redis_outage_without_an_api_restart(
    tmp_path: Path, redis_server: RedisServer, processes: Processes, caplog
) -> None:
    """What the user sees while Redis is down and after it is back, with the API never restarted.

    Down: speaking still answers 200 with audio (`X-Cache: miss`: the cache degrades to misses and
    the server logs a warning); uploading samples still answers 202 `pending` (the job is queued
    later); /readyz says 503 naming Redis. Back: a repeated message is a cache hit again, a new
    upload's job is in the queue at once, and the upload made during the outage ends `ready` (or
    `rejected`) without being sent again.
    """
    home = tmp_path / "home"
    settings = Settings(home=home, redis_url=redis_server.url, require_consent=False, pregenerate_phrases=[])
    processes.env = {
        **os.environ,
        "VOICE_AVATAR_HOME": str(home),
        "VOICE_AVATAR_REDIS_URL": redis_server.url,
        "VOICE_AVATAR_REQUIRE_CONSENT": "false",
        "VOICE_AVATAR_PREGENERATE_PHRASES": "[]",
    }
    with sessions_for(settings).begin() as session:
        user, key = create_user(session, "Lee", "free", plans=settings.tiers)
    auth = {"Authorization": f"Bearer {key}"}
    _, speaker = make_ready_avatar(settings, user.id, "Speaker")
    samples = [p for i, p in enumerate(speech_files("2609", 5)) if i in (2, 4)]
    files = [("samples", (p.name, p.read_bytes(), "audio/flac")) for p in samples]

    with TestClient(create_app(settings)) as client:

        def speak(text: str):
            started = time.monotonic()
            response = client.post(
                f"/v1/avatars/{speaker.id}/speech", json={"text": text, "format": "wav"}, headers=auth
            )
            assert response.status_code == 200, response.text
            assert load_audio(response.content, name="reply.wav").duration > 0.3
            assert time.monotonic() - started < 60
            return response

        assert speak("Before the outage.").headers["x-cache"] == "miss"
        assert speak("Before the outage.").headers["x-cache"] == "hit"

        redis_server.stop()
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            during = speak("Before the outage.")  # cached, but the cache is gone: said again
            assert during.headers["x-cache"] == "miss"
            assert "audio cache unavailable" in caplog.text
            queued_later = client.post("/v1/avatars", data={"name": "Outage"}, files=files, headers=auth)
            assert queued_later.status_code == 202, queued_later.text
            assert queued_later.json()["status"] == "pending"
            assert "job queue unavailable" in caplog.text
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["redis"].startswith("error")
        assert ready.json()["checks"]["database"] == "ok"
        outage_avatar = queued_later.json()["id"]

        redis_server.start()  # empty, as after a crash: the queued job and the cache are gone
        assert client.get("/readyz").status_code == 200
        assert speak("After the outage.").headers["x-cache"] == "miss"
        assert speak("After the outage.").headers["x-cache"] == "hit"  # the same process caches again
        fresh = client.post("/v1/avatars", data={"name": "After"}, files=files, headers=auth)
        assert fresh.status_code == 202, fresh.text
        job = Job.fetch(f"enroll-{fresh.json()['id']}", connection=redis_server.client())
        assert job.get_status() == "queued"  # the same process queues again
        assert client.delete(f"/v1/avatars/{fresh.json()['id']}", headers=auth).status_code == 200

        processes.start("worker", "worker")
        deadline = time.monotonic() + SWEEP_GRACE_SECONDS + SWEEP_SECONDS + 400
        while (body := client.get(f"/v1/avatars/{outage_avatar}", headers=auth).json())["status"] == "pending":
            assert time.monotonic() < deadline, f"stuck pending: {body}\n{processes.log('worker')}"
            time.sleep(1)
        assert body["status"] in ("ready", "rejected"), (body, processes.log("worker"))
        assert "was orphaned (job lost); queueing it again" in (tmp_path / "worker.log").read_text()
