"""Speech over HTTP: the native route and the OpenAI-compatible `POST /v1/audio/speech`.

Both run the same message flow: find the caller's ready avatar, reserve the message against the
plan (atomic), serve from the cache or synthesise (whole or streamed by sentence), then bill it.
A cache hit is reserved and billed in one transaction (one commit, nothing to give back); a
synthesis is reserved first and billed after, and a message that fails meanwhile is given back.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field

from voice_avatar.audio.encode import MEDIA_TYPES
from voice_avatar.billing.ledger import record_usage
from voice_avatar.billing.quota import Reservation, check_length, release, reserve_in
from voice_avatar.db import User
from voice_avatar.engines.router import Spoken
from voice_avatar.errors import ConflictError, InputError
from voice_avatar.experiments import experiment_for, record_outcome
from voice_avatar.routing import Context, plan_route
from voice_avatar.service.auth import current_user
from voice_avatar.speaking import Utterance, prepare
from voice_avatar.store import AvatarRecord, open_store

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
def avatar_speech(
    avatar_id: str, body: SpeechRequest, request: Request, user: User = Depends(current_user)
) -> Response:
    check_length(user, len(body.text), request.app.state.settings.tiers)
    utterance = prepare(body.text, body.format, body.speed)
    context = Context(**body.context.model_dump()) if body.context else Context()
    return _deliver(request, user, avatar_id, body.text, utterance, body.stream, context)


@router.post("/audio/speech")
def openai_speech(body: OpenAISpeechRequest, request: Request, user: User = Depends(current_user)) -> Response:
    if body.response_format in ("opus", "aac"):
        raise InputError(f"response_format {body.response_format!r} is not supported; use mp3, wav, flac or pcm")
    if body.stream_format == "sse":
        raise InputError("stream_format 'sse' is not supported; use 'audio'")
    rate = OPENAI_PCM_RATE if body.response_format == "pcm" else None
    check_length(user, len(body.input), request.app.state.settings.tiers)
    utterance = prepare(body.input, body.response_format, body.speed, rate)
    stream = body.response_format in ("mp3", "pcm", "wav")
    return _deliver(request, user, body.voice, body.input, utterance, stream, Context())


def _deliver(
    request: Request, user: User, avatar_id: str, text: str, utterance: Utterance, stream: bool, context: Context
) -> Response:
    state = request.app.state
    store = open_store(state.settings, user.id)
    record = store.get(avatar_id)
    if record.status != "ready":
        raise ConflictError(f"avatar {record.name!r} is {record.status}, not ready to speak")
    experiment = experiment_for(state.settings, user)
    started = time.perf_counter()
    with state.sessions.begin() as session:  # a hit is reserved and billed in one short transaction
        reservation = reserve_in(session, state.sessions, user, len(text), plans=state.settings.tiers)
        routes = plan_route(
            state.settings,
            user.tier,
            len(text),
            context,
            reservation.month_cost_usd,
            state.router.available,
            (f"{experiment[0]}/{experiment[1]}", experiment[2].engine) if experiment else None,
        )
        spoken = state.router.cached(record, utterance, routes)
        if spoken is not None:
            bill = _Bill(request, user, record, text, spoken, started, experiment)
            event = bill.charge_in(session)
    if spoken is not None:
        bill.counted(event)
        return Response(spoken.data, media_type=MEDIA_TYPES[utterance.fmt], headers=_headers(spoken, event.id))
    try:
        spoken = state.router.synthesize(store, record, utterance, routes, stream)
    except BaseException:
        release(reservation)
        raise
    bill = _Bill(request, user, record, text, spoken, started, experiment)
    if spoken.pieces is not None:
        return StreamingResponse(
            _billed_stream(bill, spoken.pieces, reservation), media_type=MEDIA_TYPES[utterance.fmt],
            headers=_headers(spoken),
        )
    return Response(spoken.data, media_type=MEDIA_TYPES[utterance.fmt], headers=_headers(spoken, bill.charge()))


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
        self, request: Request, user: User, record: AvatarRecord, text: str, spoken: Spoken, started: float, experiment
    ) -> None:
        self.state, self.user, self.record, self.text = request.app.state, user, record, text
        self.spoken, self.started, self.experiment = spoken, started, experiment

    def first_audio(self) -> None:
        self.state.metrics.first_audio(self.spoken.engine, time.perf_counter() - self.started)

    def charge(self) -> int:
        """Bill in a transaction of its own (after a synthesis); the usage event's id."""
        with self.state.sessions.begin() as session:
            event = self.charge_in(session)
        self.counted(event)
        return event.id

    def charge_in(self, session):
        """The usage row (and cost alerts, experiment outcome) in the caller's transaction."""
        state = self.state
        event = record_usage(
            session,
            user=self.user,
            engine=self.spoken.engine,
            characters=len(self.text),
            cache_hit=self.spoken.cache_hit,
            latency_ms=round((time.perf_counter() - self.started) * 1000),
            avatar_id=self.record.id,
            rates=state.settings.engine_cost_per_1k_chars,
            route_reason=self.spoken.reason[:64],
        )
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

