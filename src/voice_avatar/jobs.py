"""Background work (fitting avatars, pre-generating phrases) on a queue.

Embedded mode runs jobs on one thread of the API process; with `REDIS_URL` they go to a Redis
queue (RQ) that `voice-avatar worker` processes, so they survive an API restart and can run on
another machine. Job functions take only ids, so any process can pick them up.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from voice_avatar.errors import InputError
from voice_avatar.settings import Settings, get_settings

log = logging.getLogger("voice_avatar.jobs")
QUEUE_NAME = "voice-avatar"
#: Fitting plus the clone gate of a two-minute sample stays well under this.
JOB_TIMEOUT_SECONDS = 1800
#: A ready avatar's stage while its common phrases are said into the cache; then "done".
PREGENERATING = "pre-generating common phrases"


class JobQueue(Protocol):
    def enqueue_enrollment(self, avatar_id: str, owner_id: str | None, tier: str) -> None: ...
    def depth(self) -> int: ...


class InProcessQueue:
    """One worker thread: fitting is CPU-bound, so more threads would only slow each job down."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="voice-avatar-job")
        self._waiting = 0

    def enqueue_enrollment(self, avatar_id: str, owner_id: str | None, tier: str) -> None:
        self._waiting += 1
        self._pool.submit(self._run, avatar_id, owner_id, tier)

    def depth(self) -> int:
        return self._waiting

    def _run(self, avatar_id: str, owner_id: str | None, tier: str) -> None:
        try:
            run_enrollment(self.settings, avatar_id, owner_id, tier)
        finally:
            self._waiting -= 1

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class RedisQueue:
    """Jobs in Redis (RQ); `voice-avatar worker` runs them."""

    def __init__(self, settings: Settings) -> None:
        import redis
        from rq import Queue

        self.connection = redis.Redis.from_url(settings.redis_url)
        self.queue = Queue(QUEUE_NAME, connection=self.connection)

    def enqueue_enrollment(self, avatar_id: str, owner_id: str | None, tier: str) -> None:
        self.queue.enqueue(
            enrollment_job, avatar_id, owner_id, tier, job_timeout=JOB_TIMEOUT_SECONDS, job_id=f"enroll-{avatar_id}"
        )

    def depth(self) -> int:
        return len(self.queue)

    def shutdown(self) -> None:
        self.connection.close()


def make_queue(settings: Settings) -> InProcessQueue | RedisQueue:
    return RedisQueue(settings) if settings.redis_url else InProcessQueue(settings)


def enrollment_job(avatar_id: str, owner_id: str | None, tier: str) -> None:
    """The RQ entry point: settings come from the worker's environment."""
    run_enrollment(get_settings(), avatar_id, owner_id, tier)


def run_enrollment(settings: Settings, avatar_id: str, owner_id: str | None, tier: str) -> None:
    """Fit and gate a pending avatar, saving progress as it goes; a refusal marks it `failed`."""
    from voice_avatar.enrollment import fit_avatar
    from voice_avatar.store import open_store

    store = open_store(settings, owner_id)
    options = enrollment_options(settings, tier, surface="service")
    try:
        record = fit_avatar(store, avatar_id, options, _saving_progress(store, avatar_id), PREGENERATING)
    except InputError as refused:
        _fail(store, avatar_id, str(refused))
        return
    except Exception:
        log.exception("enrollment of avatar %s crashed", avatar_id)
        _fail(store, avatar_id, "the avatar could not be made because of an internal error; try again")
        return
    log.info("avatar %s is %s", avatar_id, record.status)
    if record.status == "ready":
        from voice_avatar.pregenerate import pregenerate

        pregenerate(settings, store, record)
        _set_stage(store, avatar_id, "done")


def enrollment_options(settings: Settings, tier: str, surface: str):
    from voice_avatar.enrollment import EnrollOptions
    from voice_avatar.quality.sample_checks import Thresholds

    return EnrollOptions(
        sample_thresholds=Thresholds(min_speech_seconds=settings.tier_min_speech_seconds.get(tier, 10.0)),
        gate=settings.gate_thresholds("local"),
        require_consent=settings.consent_required(surface),
    )


def _saving_progress(store, avatar_id: str):
    """A progress callback that writes to the avatar's row at each new stage, else at most twice a second."""
    last = {"at": 0.0, "stage": ""}

    def report(fraction: float, stage: str) -> None:
        now = time.monotonic()
        if now - last["at"] < 0.5 and stage == last["stage"] and fraction < 1.0:
            return
        last.update(at=now, stage=stage)
        try:
            record = store.get(avatar_id)
        except InputError:
            return  # deleted while it was being made
        record.progress, record.stage = round(max(0.0, min(1.0, fraction)), 3), stage[:64]
        store.save(record)

    return report


def _set_stage(store, avatar_id: str, stage: str) -> None:
    try:
        record = store.get(avatar_id)
    except InputError:
        return
    record.stage = stage
    store.save(record)


def _fail(store, avatar_id: str, message: str) -> None:
    try:
        record = store.get(avatar_id)
    except InputError:
        return
    record.status, record.error, record.stage = "failed", message, "failed"
    store.save(record)
