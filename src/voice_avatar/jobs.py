"""Background work (fitting avatars, pre-generating phrases) on a queue.

Embedded mode runs jobs on one thread of the API process; with `REDIS_URL` they go to a Redis
queue (RQ) that `voice-avatar worker` processes, so they survive an API restart and can run on
another machine. Job functions take only ids, so any process can pick them up.

Recovery (issue 8): a worker killed mid-job (SIGKILL, OOM, a lost machine) leaves its job
"started" in RQ for the job's whole timeout, and RQ does not retry it by itself until then. So
each `voice-avatar worker` keeps a short-lived "alive" key in Redis and, at start and every
`SWEEP_SECONDS`, runs `sweep_orphans`: a `pending` avatar whose job is neither waiting nor held by
a live worker (its worker died, the job failed, or Redis lost it) is queued again, at most
`MAX_ATTEMPTS` times before the avatar is marked `failed`. The job is idempotent: it does nothing
for an avatar that is no longer pending. When Redis is down at upload time the avatar is kept
`pending` (202) and the sweep queues it once Redis is back.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from voice_avatar.errors import InputError, StorageFull
from voice_avatar.settings import Settings, get_settings

log = logging.getLogger("voice_avatar.jobs")
QUEUE_NAME = "voice-avatar"
#: Fitting plus the clone gate of a two-minute sample stays well under this.
JOB_TIMEOUT_SECONDS = 1800
#: A ready avatar's stage while its common phrases are said into the cache; then "done".
PREGENERATING = "pre-generating common phrases"
#: A worker says it is alive under this key, refreshed every HEARTBEAT_SECONDS by a thread.
ALIVE_KEY = "va:worker-alive:{}"
ALIVE_TTL_SECONDS = 15
HEARTBEAT_SECONDS = 3
#: How often each worker looks for orphaned enrollments (one sweeper at a time, by a Redis lock).
SWEEP_SECONDS = 15
SWEEP_LOCK = "va:orphan-sweep"
#: A pending avatar touched more recently than this is left alone (the API may be enqueueing it).
SWEEP_GRACE_SECONDS = 20
#: Re-queues of one avatar before it is marked failed (counted in Redis for a day).
MAX_ATTEMPTS = 3
ATTEMPTS_KEY = "va:enroll-attempts:{}"


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
        """Queue the job; with Redis down the avatar stays pending and a worker's sweep queues it later."""
        import redis

        try:
            _enqueue(self.queue, avatar_id, owner_id, tier)
        except redis.RedisError as exc:
            log.warning(
                "job queue unavailable (%s): avatar %s stays pending until a worker's sweep queues it", exc, avatar_id
            )

    def depth(self) -> int:
        import redis

        try:
            return len(self.queue)
        except redis.RedisError as exc:
            log.warning("job queue unavailable: %s", exc)
            return 0

    def shutdown(self) -> None:
        self.connection.close()


def make_queue(settings: Settings) -> InProcessQueue | RedisQueue:
    return RedisQueue(settings) if settings.redis_url else InProcessQueue(settings)


def _enqueue(queue, avatar_id: str, owner_id: str | None, tier: str) -> None:
    from rq import Retry

    queue.enqueue(
        enrollment_job,
        avatar_id,
        owner_id,
        tier,
        job_timeout=JOB_TIMEOUT_SECONDS,
        job_id=f"enroll-{avatar_id}",
        retry=Retry(max=2),  # RQ's own retry, for a job it finds abandoned or that raised
    )


def run_worker(settings: Settings) -> None:
    """`voice-avatar worker`: run queued jobs in this process, say so in Redis, sweep orphans."""
    import redis
    from rq import Queue, SimpleWorker

    connection = redis.Redis.from_url(settings.redis_url)
    queue = Queue(QUEUE_NAME, connection=connection)
    # SimpleWorker runs jobs in this process, so the models loaded by the first job stay loaded.
    worker = SimpleWorker([queue], connection=connection)
    stop = threading.Event()
    keeper = threading.Thread(
        target=_keep_alive, args=(settings, queue, worker.name, stop), name="voice-avatar-sweep", daemon=True
    )
    keeper.start()
    try:
        worker.work(with_scheduler=False)
    finally:
        stop.set()


def _keep_alive(settings: Settings, queue, worker_name: str, stop: threading.Event) -> None:
    next_sweep = 0.0
    while not stop.is_set():
        try:
            queue.connection.set(ALIVE_KEY.format(worker_name), "1", ex=ALIVE_TTL_SECONDS)
            if time.monotonic() >= next_sweep:
                next_sweep = time.monotonic() + SWEEP_SECONDS
                sweep_orphans(settings, queue)
        except Exception as exc:  # Redis or the database away: try again at the next beat
            log.warning("worker heartbeat or orphan sweep failed: %s", exc)
        stop.wait(HEARTBEAT_SECONDS)


def sweep_orphans(settings: Settings, queue) -> list[str]:
    """Queue again each pending avatar whose job nothing is doing; returns their ids."""
    connection = queue.connection
    if not connection.set(SWEEP_LOCK, "1", nx=True, ex=SWEEP_SECONDS):
        return []  # another worker is sweeping
    try:
        return _requeue_orphans(settings, queue)
    finally:
        connection.delete(SWEEP_LOCK)


def _requeue_orphans(settings: Settings, queue) -> list[str]:
    from datetime import UTC, datetime, timedelta

    from rq.exceptions import NoSuchJobError
    from rq.job import Job, JobStatus
    from rq.registry import StartedJobRegistry
    from sqlalchemy import select

    from voice_avatar.db import Avatar, User
    from voice_avatar.store import open_store, sessions_for

    connection = queue.connection
    cutoff = datetime.now(UTC) - timedelta(seconds=SWEEP_GRACE_SECONDS)
    with sessions_for(settings)() as session:
        rows = session.execute(
            select(Avatar.id, Avatar.owner_id, User.tier)
            .join(User, User.id == Avatar.owner_id)
            .where(Avatar.status == "pending", Avatar.updated_at < cutoff)
        ).all()
    requeued = []
    for avatar_id, owner_id, tier in rows:
        try:
            job = Job.fetch(f"enroll-{avatar_id}", connection=connection)
            status = job.get_status()
        except NoSuchJobError:
            job, status = None, None
        if status in (JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED):
            continue
        if status == JobStatus.STARTED and job.worker_name and connection.exists(ALIVE_KEY.format(job.worker_name)):
            continue
        attempts_key = ATTEMPTS_KEY.format(avatar_id)
        attempts = int(connection.incr(attempts_key))
        connection.expire(attempts_key, 24 * 3600)
        if attempts > MAX_ATTEMPTS:
            log.error("enrollment of avatar %s was interrupted %d times; giving up", avatar_id, attempts - 1)
            _fail(
                open_store(settings, owner_id),
                avatar_id,
                "the avatar could not be made: its enrollment was interrupted several times; try again",
            )
            continue
        if job is not None and status == JobStatus.STARTED:
            StartedJobRegistry(queue=queue).remove_executions(job)  # so RQ's cleanup does not fail the new run
        state = getattr(status, "value", "lost")
        log.warning("enrollment of avatar %s was orphaned (job %s); queueing it again", avatar_id, state)
        _enqueue(queue, avatar_id, owner_id, tier)
        requeued.append(avatar_id)
    return requeued


def enrollment_job(avatar_id: str, owner_id: str | None, tier: str) -> None:
    """The RQ entry point: settings come from the worker's environment."""
    run_enrollment(get_settings(), avatar_id, owner_id, tier)


def run_enrollment(settings: Settings, avatar_id: str, owner_id: str | None, tier: str) -> None:
    """Fit and gate a pending avatar, saving progress as it goes; a refusal marks it `failed`."""
    from voice_avatar.enrollment import fit_avatar
    from voice_avatar.store import open_store

    store = open_store(settings, owner_id)
    try:
        current = store.get(avatar_id)
    except InputError:
        return  # deleted before its turn
    if current.status != "pending":  # idempotent: a job run again after a crash does not redo a decided avatar
        log.info("avatar %s is already %s; nothing to do", avatar_id, current.status)
        return
    options = enrollment_options(settings, tier, surface="service")
    try:
        record = fit_avatar(store, avatar_id, options, _saving_progress(store, avatar_id), PREGENERATING)
    except (InputError, StorageFull) as refused:
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
