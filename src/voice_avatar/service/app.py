"""The HTTP service: one FastAPI app wired to the configured database, cache, queue and metrics.

Embedded defaults (SQLite, disk cache, in-process queue) need nothing installed; with
`DATABASE_URL` and `REDIS_URL` several API processes and `voice-avatar worker`s share the work.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI

from voice_avatar import __version__
from voice_avatar.settings import Settings, get_settings

log = logging.getLogger("voice_avatar.service")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        _open(app, settings)
        # ~200k objects live from start-up on (models, libraries); a full GC pass over them took
        # 155 ms, a pause for every request in the process. Frozen, the collector skips them.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            app.state.queue.shutdown()

    app = FastAPI(title="voice-avatar", version=__version__, lifespan=lifespan)
    from voice_avatar.service.errors import install_error_handlers
    from voice_avatar.service.routes_avatars import router as avatars
    from voice_avatar.service.routes_detect import router as detect
    from voice_avatar.service.routes_experiments import router as experiments
    from voice_avatar.service.routes_keys import router as keys
    from voice_avatar.service.routes_ops import router as ops
    from voice_avatar.service.routes_speech import router as speech
    from voice_avatar.service.routes_web import router as web

    install_error_handlers(app)
    for router in (avatars, speech, ops, experiments, web, detect, keys):
        app.include_router(router)
    return app


def _open(app: FastAPI, settings: Settings) -> None:
    """Connect everything once per process; in embedded mode, resume enrollments a restart interrupted."""
    from voice_avatar.cache import make_cache
    from voice_avatar.engines.breaker import CircuitBreaker
    from voice_avatar.engines.cloud.registry import cloud_engines
    from voice_avatar.engines.router import EngineRouter
    from voice_avatar.jobs import make_queue
    from voice_avatar.monitoring import Metrics
    from voice_avatar.reports import check_cost_alerts
    from voice_avatar.speaking import Voices
    from voice_avatar.store import autocommit_for, sessions_for

    settings.home.mkdir(parents=True, exist_ok=True)
    app.state.settings = settings
    app.state.sessions = sessions_for(settings)
    app.state.autocommit = autocommit_for(settings)
    app.state.metrics = Metrics(engines=settings.engine_cost_per_1k_chars)
    app.state.voices = Voices(make_cache(settings))
    cloud = cloud_engines(settings)
    breakers = {name: CircuitBreaker(settings.breaker_threshold, settings.breaker_cooldown_seconds) for name in cloud}
    app.state.router = EngineRouter(app.state.voices, cloud, breakers)
    app.state.queue = make_queue(settings)
    app.state.quick_threads = anyio.CapacityLimiter(settings.quick_threads)  # see routes_speech.py
    app.state.alerts = lambda session, user, event: check_cost_alerts(
        session, settings, user, event.created_at, event=event
    )
    if not settings.redis_url:
        _resume_pending(app)


def _resume_pending(app: FastAPI) -> None:
    from sqlalchemy import select

    from voice_avatar.db import Avatar, User

    with app.state.sessions() as session:
        rows = session.execute(
            select(Avatar.id, Avatar.owner_id, User.tier)
            .join(User, User.id == Avatar.owner_id)
            .where(Avatar.status == "pending")
        ).all()
    for avatar_id, owner_id, tier in rows:
        log.info("resuming the enrollment of avatar %s", avatar_id)
        app.state.queue.enqueue_enrollment(avatar_id, owner_id, tier)
