"""Speech over HTTP: the native route and the OpenAI-compatible `POST /v1/audio/speech`.

Both run the same message flow: find the caller and their ready avatar (one query), look in the
cache, reserve the message against the plan (atomic), synthesise on a miss (whole or streamed by
sentence), then bill it. A cache hit is reserved and billed in one transaction (one commit,
nothing to give back); a synthesis is reserved first and billed after, and a message that fails
meanwhile is given back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Literal

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from voice_avatar.accounts import Caller
from voice_avatar.audio.encode import MEDIA_TYPES
from voice_avatar.billing.hits import record_hit_at_once
from voice_avatar.billing.ledger import insert_usage, usage_values
from voice_avatar.billing.quota import Reservation, check_length, release, reserve_in, reserve_message
from voice_avatar.db import UsageEvent, User
from voice_avatar.engines.router import Spoken
from voice_avatar.errors import ConflictError, InputError
from voice_avatar.experiments import experiment_for, record_outcome
from voice_avatar.routing import Context, Route, plan_route
from voice_avatar.service.auth import bearer_key, speaker
from voice_avatar.speaking import Utterance, prepare
from voice_avatar.store import open_store

router = APIRouter(prefix="/v1")


class SpeechContext(BaseModel):
    """Hints for routing between engines (used by the hybrid router)."""

    type: str | None = None
    audience: str | None = None
    quality: Literal["standard", "high"] | None = None


class SpeechRequest(BaseModel):
    text: str = Field(min_length=1)
    format: Literal["wav", "mp3", "ogg", "flac", "pcm"] = "wav"
    stream: bool = False
    speed: float = Field(default=1.0, ge=0.25, le=4.0)
    context: SpeechContext | None = None


class OpenAISpeechRequest(BaseModel):
    """The body of OpenAI's `POST /v1/audio/speech`; `voice` is an avatar id (or name)."""

    model: str = Field(min_length=1)
    input: str = Field(min_length=1)
    voice: str = Field(min_length=1)
    response_format: Literal["mp3", "opus", "aac", "flac", "wav", "pcm"] = "mp3"
    speed: float = Field(default=1.0, ge=0.25, le=4.0)
    instructions: str | None = None
    stream_format: Literal["audio", "sse"] | None = None


#: OpenAI's raw `pcm` is 24 kHz 16-bit little-endian mono; clients play it at that rate.
OPENAI_PCM_RATE = 24_000


@router.post("/avatars/{avatar_id}/speech")
async def avatar_speech(
    avatar_id: str, body: SpeechRequest, request: Request, key: str = Depends(bearer_key)
) -> Response:
    return await _deliver(request, lambda: native_message(request, key, avatar_id, body))


@router.post("/audio/speech")
async def openai_speech(body: OpenAISpeechRequest, request: Request, key: str = Depends(bearer_key)) -> Response:
    return await _deliver(request, lambda: openai_message(request, key, body))


def native_message(request: Request, key: str, avatar_id: str, body: SpeechRequest) -> Message:
    caller = speaker(request, key, avatar_id)
    check_length(caller.user, len(body.text), request.app.state.settings.tiers)
    utterance = prepare(body.text, body.format, body.speed)
    context = Context(**body.context.model_dump()) if body.context else Context()
    return Message(request, caller, body.text, utterance, body.stream, context)


def openai_message(request: Request, key: str, body: OpenAISpeechRequest) -> Message:
    caller = speaker(request, key, body.voice)
    if body.response_format in ("opus", "aac"):
        raise InputError(f"response_format {body.response_format!r} is not supported; use mp3, wav, flac or pcm")
    if body.stream_format == "sse":
        raise InputError("stream_format 'sse' is not supported; use 'audio'")
    rate = OPENAI_PCM_RATE if body.response_format == "pcm" else None
    check_length(caller.user, len(body.input), request.app.state.settings.tiers)
    utterance = prepare(body.input, body.response_format, body.speed, rate)
    stream = body.response_format in ("mp3", "pcm", "wav")
    return Message(request, caller, body.input, utterance, stream, Context())


async def _deliver(request: Request, make_message: Callable[[], Message]) -> Response:
    """The quick part on the process's few quick threads, a synthesis on the thread pool.

    Cache hits are a few milliseconds of mostly Python: on 40 threads they hand the GIL around
    and cost more CPU the more run at once; on `quick_threads` they take turns. A synthesis
    (seconds, mostly outside the GIL) never holds one of those threads.
    """

    def quick() -> tuple[Message, Response | None]:
        message = make_message()
        return message, message.from_cache()

    message, response = await anyio.to_thread.run_sync(quick, limiter=request.app.state.quick_threads)
    if response is not None:
        return response
    return await run_in_threadpool(message.synthesized)


class Message:
    """One message to speak: `from_cache()` first, then `synthesized()` if it missed."""

    def __init__(
        self, request: Request, caller: Caller, text: str, utterance: Utterance, stream: bool, context: Context
    ) -> None:
        if caller.avatar.status != "ready":
            raise ConflictError(f"avatar {caller.avatar.name!r} is {caller.avatar.status}, not ready to speak")
        self.request, self.state, self.caller = request, request.app.state, caller
        self.text, self.utterance, self.stream, self.context = text, utterance, stream, context
        self.experiment = experiment_for(self.state.settings, caller.user)
        self.started = time.perf_counter()

    def routes(self, month_cost_usd: Decimal) -> list[Route]:
        arm = (f"{self.experiment[0]}/{self.experiment[1]}", self.experiment[2].engine) if self.experiment else None
        return plan_route(
            self.state.settings,
            self.caller.user.tier,
            len(self.text),
            self.context,
            month_cost_usd,
            self.state.router.available,
            arm,
        )

    def from_cache(self) -> Response | None:
        """The cached audio, reserved and billed; None on a miss (nothing reserved).

        The cache is read before the quota row is locked: a hit holds that lock (one per user)
        only for its reservation and usage row. Routing here uses the month's cost as read a
        moment ago, which can only choose another engine's cached copy; a hit costs nothing.
        """
        spoken = self.state.router.cached(self.caller.avatar, self.utterance, self.routes(self.caller.month_cost_usd))
        if spoken is None:
            return None
        event = self._bill(spoken).charge_hit()
        return Response(spoken.data, media_type=MEDIA_TYPES[self.utterance.fmt], headers=_headers(spoken, event.id))

    def synthesized(self) -> Response:
        """Reserve, synthesise (whole or streamed), bill; a message that fails is given back."""
        state, user, fmt = self.state, self.caller.user, self.utterance.fmt
        reservation = reserve_message(state.sessions, user, len(self.text), plans=state.settings.tiers)
        try:  # routed on the month's cost as of the reservation, which counts every earlier message
            store = open_store(state.settings, user.id)
            record = store.get(self.caller.avatar.id)  # the whole record (samples, for a cloud clone)
            routes = self.routes(reservation.month_cost_usd)
            spoken = state.router.synthesize(store, record, self.utterance, routes, self.stream)
        except BaseException:
            release(reservation)
            raise
        bill = self._bill(spoken)
        if spoken.pieces is not None:
            pieces = _billed_stream(bill, spoken.pieces, reservation)
            return StreamingResponse(pieces, media_type=MEDIA_TYPES[fmt], headers=_headers(spoken))
        return Response(spoken.data, media_type=MEDIA_TYPES[fmt], headers=_headers(spoken, bill.charge()))

    def _bill(self, spoken: Spoken) -> _Bill:
        return _Bill(self.request, self.caller.user, self.caller.avatar.id, self.text, spoken, self.started, self.experiment)


def _headers(spoken: Spoken, message_id: int | None = None) -> dict[str, str]:
    headers = {
        "X-Cache": "hit" if spoken.cache_hit else "miss",
        "X-Engine": spoken.engine,
        "X-Route-Reason": spoken.reason,
    }
    if spoken.failed:
        headers["X-Failed-Engines"] = ",".join(spoken.failed)
    if message_id is not None:
        headers["X-Message-Id"] = str(message_id)
    return headers


class _Bill:
    """Bills one delivered message: usage ledger, cost alerts, metrics, experiment outcome."""

    def __init__(
        self, request: Request, user: User, avatar_id: str, text: str, spoken: Spoken, started: float, experiment
    ) -> None:
        self.state, self.user, self.avatar_id, self.text = request.app.state, user, avatar_id, text
        self.spoken, self.started, self.experiment = spoken, started, experiment

    def first_audio(self) -> None:
        self.state.metrics.first_audio(self.spoken.engine, time.perf_counter() - self.started)

    def charge(self) -> int:
        """Bill in a transaction of its own (after a synthesis); the usage event's id."""
        with self.state.sessions.begin() as session:
            event = self.charge_in(session)
        self.counted(event)
        return event.id

    def charge_hit(self) -> UsageEvent:
        """Reserve and bill a cache hit: one statement on PostgreSQL (billing/hits.py), else one
        transaction. Nothing is given back: if the quota is spent, nothing was served."""
        state, plans = self.state, self.state.settings.tiers
        event = None
        if self.experiment is None:  # an experiment's outcome row needs the transaction
            event = record_hit_at_once(state.autocommit, self.user, self._usage(), plans=plans)
        if event is None:
            with state.sessions.begin() as session:
                reserve_in(session, state.sessions, self.user, len(self.text), plans=plans)
                event = self.charge_in(session)
        self.counted(event)
        return event

    def _usage(self) -> dict:
        return usage_values(
            user=self.user,
            engine=self.spoken.engine,
            characters=len(self.text),
            cache_hit=self.spoken.cache_hit,
            latency_ms=round((time.perf_counter() - self.started) * 1000),
            avatar_id=self.avatar_id,
            rates=self.state.settings.engine_cost_per_1k_chars,
            route_reason=self.spoken.reason[:64],
        )

    def charge_in(self, session) -> UsageEvent:
        """The usage row (and cost alerts, experiment outcome) in the caller's transaction."""
        state = self.state
        event = insert_usage(session, self._usage())
        state.alerts(session, self.user, event)
        if self.experiment:
            record_outcome(
                session,
                experiment=self.experiment[0],
                arm=self.experiment[1],
                user_id=self.user.id,
                engine=self.spoken.engine,
                latency_ms=event.latency_ms,
                cost_usd=event.cost_usd,
                usage_event_id=event.id,
            )
        return event

    def counted(self, event) -> None:
        """Metrics, once the bill is committed."""
        seconds = time.perf_counter() - self.started
        self.state.metrics.generation(self.spoken.engine, self.spoken.cache_hit, seconds, float(event.cost_usd))


def _billed_stream(bill: _Bill, pieces: Iterator[bytes], reservation: Reservation) -> Iterator[bytes]:
    """Pass the pieces on; bill once all were made, give the message back if synthesis broke off."""
    first = True
    try:
        for piece in pieces:
            if first:
                bill.first_audio()
                first = False
            yield piece
    except BaseException:
        release(reservation)
        raise
    bill.charge()

