"""A worker killed with SIGKILL in the middle of an enrollment: the avatar is still made.

The API runs in-process on a Redis queue (this test's own redis-server); `voice-avatar worker`
runs as a real subprocess on the same SQLite database and blob folder. RQ alone would leave the
killed job "started" for its whole timeout (30 min); the workers' orphan sweep (voice_avatar.jobs)
queues it again once the dead worker's alive key has expired.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from fastapi.testclient import TestClient
from rq.job import Job

from voice_avatar.accounts import create_user
from voice_avatar.jobs import ALIVE_TTL_SECONDS, SWEEP_GRACE_SECONDS, SWEEP_SECONDS
from voice_avatar.service.app import create_app
from voice_avatar.settings import Settings
from voice_avatar.store import sessions_for

from .conftest import Processes, RedisServer, speech_files


def test_a_worker_killed_mid_enrollment_is_replaced_and_the_avatar_is_still_made(
    tmp_path: Path, redis_server: RedisServer, processes: Processes
) -> None:
    """The user uploads samples and gets 202 `pending`; the worker fitting them dies (SIGKILL).

    What the user sees: polling GET /v1/avatars/{id} shows it still `pending` (never an error),
    and once a new worker is up it ends `ready` (or `rejected` with its scores), never stuck
    `pending`: the job was retried from the start, without the user doing anything.
    """
    home = tmp_path / "home"
    settings = Settings(home=home, redis_url=redis_server.url, require_consent=False, pregenerate_phrases=["Hello!"])
    processes.env = {
        **os.environ,
        "VOICE_AVATAR_HOME": str(home),
        "VOICE_AVATAR_REDIS_URL": redis_server.url,
        "VOICE_AVATAR_REQUIRE_CONSENT": "false",
        "VOICE_AVATAR_PREGENERATE_PHRASES": '["Hello!"]',
    }
    with sessions_for(settings).begin() as session:
        _, key = create_user(session, "Kim", "free", plans=settings.tiers)
    auth = {"Authorization": f"Bearer {key}"}
    samples = [p for i, p in enumerate(speech_files("2609", 5)) if i in (2, 4)]

    with TestClient(create_app(settings)) as client:
        files = [("samples", (p.name, p.read_bytes(), "audio/flac")) for p in samples]
        created = client.post("/v1/avatars", data={"name": "Reader"}, files=files, headers=auth)
        assert created.status_code == 202, created.text
        avatar_id = created.json()["id"]

        def avatar() -> dict:
            response = client.get(f"/v1/avatars/{avatar_id}", headers=auth)
            assert response.status_code == 200, response.text
            return response.json()

        first = processes.start("worker-1", "worker")
        deadline = time.monotonic() + 180
        while not (body := avatar())["stage"]:  # the worker has reported progress: the job is running
            assert first.poll() is None, processes.log("worker-1")
            assert time.monotonic() < deadline, processes.log("worker-1")
            time.sleep(0.2)
        job = Job.fetch(f"enroll-{avatar_id}", connection=redis_server.client())
        assert job.get_status() == "started"
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        assert avatar()["status"] == "pending", "killed before it finished"
        killed_at = time.monotonic()

        processes.start("worker-2", "worker")
        recovery = ALIVE_TTL_SECONDS + SWEEP_GRACE_SECONDS + SWEEP_SECONDS + 30
        deadline = time.monotonic() + recovery + 400
        while (body := avatar())["status"] == "pending":
            assert time.monotonic() < deadline, f"stuck pending: {body}\n{processes.log('worker-2')}"
            time.sleep(1)
        assert body["status"] in ("ready", "rejected"), (body, processes.log("worker-2"))
        assert body["progress"] == 1.0
        if body["status"] == "rejected":
            assert body["scores"], "a rejected avatar shows why"
        assert "was orphaned (job started); queueing it again" in (tmp_path / "worker-2.log").read_text()
        print(f"recovered and decided {time.monotonic() - killed_at:.0f}s after the kill: {body['status']}")


def test_an_enrollment_whose_worker_keeps_dying_ends_failed_not_pending(
    tmp_path: Path, redis_server: RedisServer, monkeypatch
) -> None:
    """An upload whose job kills every worker that takes it (say, out of memory each time).

    What the user sees: the avatar stays `pending` while it is retried (MAX_ATTEMPTS times), then
    ends `failed` with a message saying to try again, instead of `pending` forever. A job still
    waiting in the queue, or held by a live worker, is left alone by the sweep.
    """
    from rq import Queue
    from rq.job import JobStatus

    from voice_avatar import jobs
    from voice_avatar.store import open_store

    monkeypatch.setattr(jobs, "SWEEP_GRACE_SECONDS", 0)
    settings = Settings(home=tmp_path / "home", redis_url=redis_server.url, require_consent=False)
    with sessions_for(settings).begin() as session:
        user, key = create_user(session, "Max", "free", plans=settings.tiers)
    record = open_store(settings, user.id).create("Doomed", engine="local")
    connection = redis_server.client()
    queue = Queue(jobs.QUEUE_NAME, connection=connection)
    jobs.RedisQueue(settings).enqueue_enrollment(record.id, user.id, "free")
    time.sleep(0.01)

    def taken_by(worker: str) -> None:
        job = Job.fetch(f"enroll-{record.id}", connection=connection)
        job.worker_name = worker
        job.save()
        job.set_status(JobStatus.STARTED)

    assert jobs.sweep_orphans(settings, queue) == []  # queued: waiting its turn
    connection.set(jobs.ALIVE_KEY.format("alive-worker"), "1", ex=60)
    taken_by("alive-worker")
    assert jobs.sweep_orphans(settings, queue) == []  # held by a live worker
    for _ in range(jobs.MAX_ATTEMPTS):
        taken_by("killed-worker")  # no alive key: it died holding the job
        assert jobs.sweep_orphans(settings, queue) == [record.id]
        assert Job.fetch(f"enroll-{record.id}", connection=connection).get_status() == "queued"
    taken_by("killed-worker")
    assert jobs.sweep_orphans(settings, queue) == []

    with TestClient(create_app(settings)) as client:
        body = client.get(f"/v1/avatars/{record.id}", headers={"Authorization": f"Bearer {key}"}).json()
    assert body["status"] == "failed" and "try again" in body["error"], body
