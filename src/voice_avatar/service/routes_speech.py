"""Speech over HTTP: the native route and the OpenAI-compatible `POST /v1/audio/speech`.

Both run the same message flow: find the caller's ready avatar, reserve the message against the
plan (atomic), serve from the cache or synthesise (whole or streamed by sentence), then bill it.
A message that fails after its reservation is given back.
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
from voice_avatar.billing.quota import Reservation, release, reserve_message
from voice_avatar.db import User
from voice_avatar.errors import ConflictError, InputError
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
def avatar_speech(avatar_id: str, body: SpeechRequest, request: Request, user: User = Depends(current_user)) -> Response:
    utterance = prepare(body.text, body.format, body.speed)
    return _deliver(request, user, avatar_id, body.text, utterance, body.stream)


@router.post("/audio/speech")
def openai_speech(body: OpenAISpeechRequest, request: Request, user: User = Depends(current_user)) -> Response:
    if body.response_format in ("opus", "aac"):
        raise InputError(f"response_format {body.response_format!r} is not supported; use mp3, wav, flac or pcm")
    if body.stream_format == "sse":
        raise InputError("stream_format 'sse' is not supported; use 'audio'")
    rate = OPENAI_PCM_RATE if body.response_format == "pcm" else None
    utterance = prepare(body.input, body.response_format, body.speed, rate)
    return _deliver(request, user, body.voice, body.input, utterance, stream=body.response_format in ("mp3", "pcm", "wav"))


def _deliver(request: Request, user: User, avatar_id: str, text: str, utterance: Utterance, stream: bool) -> Response:
    state = request.app.state
    store = open_store(state.settings, user.id)
    record = store.get(avatar_id)
    if record.status != "ready":
        raise ConflictError(f"avatar {record.name!r} is {record.status}, not ready to speak")
    reservation = reserve_message(state.sessions, user, len(text), plans=state.settings.tiers)
    started = time.perf_counter()
    media_type = MEDIA_TYPES[utterance.fmt]
    try:
        cached = state.voices.cached(record, utterance)
        if cached is not None:
            _bill(request, user, record, text, True, started)
            return Response(cached, media_type=media_type, headers={"X-Cache": "hit"})
        if stream:
            pieces = state.voices.stream(store, record, utterance)
            return StreamingResponse(
                _billed_stream(request, user, record, text, pieces, reservation, started),
                media_type=media_type,
                headers={"X-Cache": "miss"},
            )
        data = state.voices.whole(store, record, utterance)
    except BaseException:
        release(reservation)
        raise
    _bill(request, user, record, text, False, started)
    return Response(data, media_type=media_type, headers={"X-Cache": "miss"})


def _billed_stream(
    request: Request, user: User, record: AvatarRecord, text: str, pieces: Iterator[bytes],
    reservation: Reservation, started: float,
) -> Iterator[bytes]:
    """Pass the pieces on; bill once all were made, give the message back if synthesis broke off."""
    first = True
    try:
        for piece in pieces:
            if first:
                request.app.state.metrics.first_audio(record.engine, time.perf_counter() - started)
                first = False
            yield piece
    except BaseException:
        release(reservation)
        raise
    _bill(request, user, record, text, False, started)


def _bill(request: Request, user: User, record: AvatarRecord, text: str, cache_hit: bool, started: float) -> None:
    state = request.app.state
    seconds = time.perf_counter() - started
    with state.sessions.begin() as session:
        event = record_usage(
            session, user=user, engine=record.engine, characters=len(text), cache_hit=cache_hit,
            latency_ms=round(seconds * 1000), avatar_id=record.id, rates=state.settings.engine_cost_per_1k_chars,
        )
        state.alerts(session, user, event)
    state.metrics.generation(record.engine, cache_hit, seconds, float(event.cost_usd))
