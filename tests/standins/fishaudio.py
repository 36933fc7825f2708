"""A stand-in for Fish Audio's HTTP API, for contract tests of our client over real HTTP.

It follows the documented API (fishaudio/docs ``api-reference/openapi.json``, ``errors.mdx``,
``endpoint/openapi-v1/text-to-speech.mdx``) and what the official SDK (fishaudio/fish-audio-python)
sends: ``POST /v1/tts`` with a JSON or msgpack body and the backend in the ``model`` header,
answered with chunked audio; ``POST /model`` as multipart (``voices`` file parts) answered 201 with
the model object; ``GET``/``DELETE /model/{id}``; ``GET /model``; ``GET /wallet/self/api-credit``.
Errors are ``{"status", "message"}`` bodies, 422s FastAPI-style ``{"detail": [...]}``.

The audio is real (a buzz shaped like syllables, encoded by our own encoder at the asked rate),
credit is charged at $15 per million UTF-8 bytes, and `control` makes the next requests fail on
demand. Not covered: opus, inline ``references``, ASR, the WebSocket and timestamp endpoints.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
import zlib
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

import msgpack
import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import UploadFile

from voice_avatar.audio.encode import MEDIA_TYPES, encode
from voice_avatar.audio.io import Audio, load_audio
from voice_avatar.errors import AudioDecodeError

PRICE_PER_BYTE = Decimal("15") / Decimal(1_000_000)
PCM_RATES = (8000, 16000, 24000, 32000, 44100)
MP3_RATES = (32000, 44100)
FAILURES = (
    "server_error",  # 500
    "unavailable",  # 503, "high load"
    "rate_limited",  # 429 with Retry-After (param retry_after, default "2")
    "no_credit",  # 402
    "forbidden",  # 403
    "unknown_reference",  # 400 "Reference not found", as if the voice had been deleted
    "slow",  # wait `seconds` before answering at all
    "stall",  # /v1/tts: send the first chunk, then wait `seconds`
    "malformed",  # 200 with `kind`: "json", "garbage", "empty" or "wrong_rate"
)


class Prosody(BaseModel):
    speed: float = Field(1.0, ge=0.5, le=2.0)
    volume: float = 0.0
    normalize_loudness: bool | None = None


class TTSRequest(BaseModel):
    """The documented body of ``POST /v1/tts`` with the spec's ranges (opus_bitrate also takes the SDK's kbps)."""

    model_config = ConfigDict(extra="ignore")

    text: str
    reference_id: str | list[str] | None = None
    references: list[Any] | None = None
    format: Literal["wav", "pcm", "mp3", "opus"] = "mp3"
    sample_rate: int | None = None
    mp3_bitrate: Literal[64, 128, 192] = 128
    opus_bitrate: Literal[-1000, 24, 32, 48, 64, 24000, 32000, 48000, 64000] = -1000
    latency: Literal["low", "normal", "balanced"] = "normal"
    chunk_length: int = Field(300, ge=100, le=300)
    min_chunk_length: int = Field(50, ge=0, le=100)
    normalize: bool = True
    prosody: Prosody | None = None
    temperature: float = Field(0.7, ge=0, le=1)
    top_p: float = Field(0.7, ge=0, le=1)
    max_new_tokens: int = 1024
    repetition_penalty: float = 1.2
    condition_on_previous_chunks: bool = True
    early_stop_threshold: float = 1.0


@dataclass
class Recorded:
    """One request as it arrived. `fields` holds the decoded body (a repeated form field is a list);
    `files` the uploaded parts as (field, filename, content type, size)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    fields: dict[str, Any] = field(default_factory=dict)
    files: list[tuple[str, str, str, int]] = field(default_factory=list)


@dataclass
class Failure:
    mode: str
    path: str | None
    params: dict[str, Any]


class StandinControl:
    """What the next requests should suffer, and the stand-in's pace."""

    def __init__(self) -> None:
        self._queue: deque[Failure] = deque()
        self._lock = threading.Lock()
        self.chunk_bytes = 4096
        self.chunk_delay = 0.005
        self.training_seconds = 0.0  # a new model reports "training" this long, then `training_outcome`
        self.training_outcome = "trained"

    def fail_next(self, mode: str, times: int = 1, path: str | None = None, **params: Any) -> None:
        """The next `times` requests (to `path`, if given) fail with `mode`, one of FAILURES."""
        if mode not in FAILURES:
            raise ValueError(f"unknown failure mode {mode!r}")
        with self._lock:
            self._queue.extend(Failure(mode, path, params) for _ in range(times))

    def take(self, path: str) -> Failure | None:
        with self._lock:
            for failure in self._queue:
                if failure.path in (None, path):
                    self._queue.remove(failure)
                    return failure
        return None

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()


class FishAudioStandin:
    """The stand-in's state; calling it as an ASGI app serves the API."""

    def __init__(self, api_key: str = "test-key", credit: str = "10.00") -> None:
        self.api_key = api_key
        self.control = StandinControl()
        self.requests: list[Recorded] = []
        self.models: dict[str, dict[str, Any]] = {}
        self.credit = self.cumulative_top_up = Decimal(credit)
        self.app = _build_app(self)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    def reset(self, credit: str = "10.00") -> None:
        """Back to a fresh account (for a server shared by several tests)."""
        self.control = StandinControl()
        self.requests.clear()
        self.models.clear()
        self.credit = self.cumulative_top_up = Decimal(credit)

    def requests_to(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path == path]

    def state_of(self, model_id: str) -> str:
        model = self.models[model_id]
        return model["state"] if time.monotonic() < model["_ready_at"] else self.control.training_outcome


def make_fishaudio_standin(api_key: str = "test-key", credit: str = "10.00") -> FishAudioStandin:
    return FishAudioStandin(api_key=api_key, credit=credit)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"status": status, "message": message}, status_code=status, headers=headers)


INJECTED = {
    "server_error": (500, "Internal Server Error"),
    "unavailable": (503, "The server cannot process the request due to a high load"),
    "no_credit": (402, "Insufficient API credit"),
    "forbidden": (403, "Forbidden"),
    "unknown_reference": (400, "Reference not found"),
}


def _build_app(standin: FishAudioStandin) -> FastAPI:
    app = FastAPI(title="Fish Audio stand-in")

    async def begin(request: Request, path: str) -> tuple[Recorded, Response | None, Failure | None]:
        """Record, authenticate, then apply an injected failure (a response ends the request)."""
        recorded = Recorded(
            request.method,
            request.url.path,
            dict(request.query_params),
            {k.lower(): v for k, v in request.headers.items()},
        )
        standin.requests.append(recorded)
        if request.headers.get("authorization") != f"Bearer {standin.api_key}":
            return recorded, _error(401, "Invalid Token"), None
        failure = standin.control.take(path)
        if failure is None:
            return recorded, None, None
        if failure.mode in INJECTED:
            return recorded, _error(*INJECTED[failure.mode]), failure
        if failure.mode == "rate_limited":
            retry_after = str(failure.params.get("retry_after", "2"))
            return recorded, _error(429, "Too many requests", {"Retry-After": retry_after}), failure
        if failure.mode == "slow" or (failure.mode == "stall" and path != "/v1/tts"):
            await asyncio.sleep(float(failure.params.get("seconds", 2.0)))
        return recorded, None, failure

    @app.post("/v1/tts")
    async def tts(request: Request) -> Response:
        recorded, refusal, failure = await begin(request, "/v1/tts")
        raw = await request.body()
        content_type = request.headers.get("content-type", "").split(";")[0].strip()
        try:
            body = msgpack.unpackb(raw) if content_type == "application/msgpack" else json.loads(raw)
        except Exception:  # the documented behaviour: an unparseable body gets a plain-text error
            return PlainTextResponse("Failed to parse request body", status_code=400)
        if not isinstance(body, dict):
            return PlainTextResponse("Failed to parse request body", status_code=400)
        recorded.fields = body
        if refusal is not None:
            return refusal
        if failure is not None and failure.mode == "malformed":
            return _malformed(failure.params.get("kind", "json"), body.get("format", "mp3"), body.get("sample_rate"))
        try:
            req = TTSRequest.model_validate(body)
        except ValidationError as exc:
            return JSONResponse({"detail": exc.errors(include_url=False, include_context=False)}, status_code=422)
        if not req.text.strip():
            return _error(400, "Text is empty")
        if req.format == "opus":
            return _error(400, "The stand-in does not produce opus")
        rate = req.sample_rate or 44100
        if rate not in (MP3_RATES if req.format == "mp3" else PCM_RATES):
            media = "audio/mpeg" if req.format == "mp3" else f"audio/{req.format}"
            return _error(400, f"Invalid sample rate {rate} for format {media}")
        voice = req.reference_id if isinstance(req.reference_id, str) else None
        if voice is not None and voice not in standin.models:
            return _error(400, "Reference not found")
        cost = len(req.text.encode("utf-8")) * PRICE_PER_BYTE
        if cost > standin.credit:
            return _error(402, "Insufficient API credit")
        standin.credit -= cost
        speed = req.prosody.speed if req.prosody else 1.0
        data = encode(_speech(req.text, rate, speed, voice or "default"), req.format)
        stall = float(failure.params.get("seconds", 2.0)) if failure and failure.mode == "stall" else 0.0
        return StreamingResponse(_chunks(data, standin.control, stall), media_type=MEDIA_TYPES[req.format])

    @app.post("/model")
    async def create_model(request: Request) -> Response:
        recorded, refusal, _ = await begin(request, "/model")
        form = await request.form()
        voices: list[bytes] = []
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                data = await value.read()
                recorded.files.append((key, value.filename or "", value.content_type or "", len(data)))
                if key == "voices":
                    voices.append(data)
            else:
                previous = recorded.fields.get(key)
                recorded.fields[key] = value if previous is None else [*_as_list(previous), value]
        if refusal is not None:
            return refusal
        fields = recorded.fields
        missing = [name for name in ("type", "title", "train_mode") if not fields.get(name)]
        if not voices:
            missing.append("voices")
        if missing:
            detail = [{"loc": ["body", name], "msg": "Field required", "type": "missing"} for name in missing]
            return JSONResponse({"detail": detail}, status_code=422)
        visibility = fields.get("visibility", "public")
        if fields["type"] != "tts" or fields["train_mode"] not in ("fast", "full"):
            return _error(400, "type must be tts and train_mode fast or full")
        if visibility not in ("public", "unlist", "private"):
            return _error(400, f"Invalid visibility {visibility!r}")
        if visibility == "public" and not any(f[0] == "cover_image" for f in recorded.files):
            return _error(400, "cover_image is required for public models")
        if len(voices) > 20:
            return _error(400, "At most 20 voices")
        for index, data in enumerate(voices):
            try:
                load_audio(data, name=f"voices[{index}]")
            except AudioDecodeError as exc:
                return _error(400, f"Invalid audio: {exc}")
        model = _model_entity(str(fields["title"]), fields["train_mode"], visibility, len(voices))
        ready_at = time.monotonic() + standin.control.training_seconds
        model["state"] = "training" if standin.control.training_seconds > 0 else standin.control.training_outcome
        standin.models[model["_id"]] = {**model, "_ready_at": ready_at}
        return JSONResponse(model, status_code=201)

    @app.get("/model")
    async def list_models(request: Request) -> Response:
        _, refusal, _ = await begin(request, "/model")
        if refusal is not None:
            return refusal
        items = [_public(standin, model_id) for model_id in standin.models]
        return JSONResponse({"total": len(items), "items": items})

    @app.get("/model/{model_id}")
    async def get_model(model_id: str, request: Request) -> Response:
        _, refusal, _ = await begin(request, f"/model/{model_id}")
        if refusal is not None:
            return refusal
        if model_id not in standin.models:
            return _error(404, "Model not found")
        return JSONResponse(_public(standin, model_id))

    @app.delete("/model/{model_id}")
    async def delete_model(model_id: str, request: Request) -> Response:
        _, refusal, _ = await begin(request, f"/model/{model_id}")
        if refusal is not None:
            return refusal
        if standin.models.pop(model_id, None) is None:
            return _error(404, "Model not found")
        return Response(status_code=200)

    @app.get("/wallet/{user_id}/api-credit")
    async def api_credit(user_id: str, request: Request) -> Response:
        _, refusal, _ = await begin(request, f"/wallet/{user_id}/api-credit")
        if refusal is not None:
            return refusal
        if user_id != "self":
            return _error(403, "Forbidden")
        now = _now()
        return JSONResponse(
            {
                "_id": "wallet-1",
                "user_id": "user-1",
                "credit": str(standin.credit),
                "cumulative_top_up": str(standin.cumulative_top_up),
                "created_at": now,
                "updated_at": now,
                "has_phone_sha256": False,
                "has_free_credit": None,
            }
        )

    return app


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _model_entity(title: str, train_mode: str, visibility: str, voices: int) -> dict[str, Any]:
    now = _now()
    return {
        "_id": uuid.uuid4().hex,
        "type": "tts",
        "title": title,
        "description": "",
        "cover_image": "",
        "train_mode": train_mode,
        "state": "created",
        "tags": [],
        "languages": ["en"],
        "visibility": visibility,
        "samples": [
            {"title": f"sample {i}", "text": "", "task_id": uuid.uuid4().hex, "audio": ""} for i in range(voices)
        ],
        "created_at": now,
        "updated_at": now,
        "lock_visibility": False,
        "like_count": 0,
        "mark_count": 0,
        "shared_count": 0,
        "task_count": 0,
        "liked": False,
        "marked": False,
        "author": {"_id": "user-1", "nickname": "stand-in", "avatar": ""},
    }


def _public(standin: FishAudioStandin, model_id: str) -> dict[str, Any]:
    model = {k: v for k, v in standin.models[model_id].items() if not k.startswith("_") or k == "_id"}
    return {**model, "state": standin.state_of(model_id)}


def _speech(text: str, rate: int, speed: float, voice: str) -> Audio:
    """A voiced buzz with a syllable envelope: about 65 ms a character at speed 1, pitch set by the voice."""
    seconds = max(0.3, 0.065 * len(text)) / speed
    t = np.arange(int(seconds * rate)) / rate
    pitch = 100.0 + zlib.crc32(voice.encode()) % 120
    buzz = sum(np.sin(2 * np.pi * pitch * k * t) / k for k in range(1, 6))
    envelope = 0.5 - 0.5 * np.cos(2 * np.pi * 4.0 * t)
    return Audio((0.3 * buzz * envelope).astype(np.float32), rate)


async def _chunks(data: bytes, control: StandinControl, stall: float) -> AsyncIterator[bytes]:
    for index, start in enumerate(range(0, len(data), control.chunk_bytes)):
        if index:
            await asyncio.sleep(stall if index == 1 and stall else control.chunk_delay)
        yield data[start : start + control.chunk_bytes]


def _malformed(kind: str, fmt: str, rate: int | None) -> Response:
    """A 200 that is not audio of the asked format (or, `wrong_rate`, not at the asked rate)."""
    if kind == "wrong_rate":
        other = 8000 if rate == 16000 else 16000
        return Response(encode(_speech("wrong rate", other, 1.0, "x"), fmt), media_type=MEDIA_TYPES.get(fmt))
    if kind == "json":
        return JSONResponse({"status": 200, "message": "queued"})
    if kind == "empty":
        return Response(b"", media_type=MEDIA_TYPES.get(fmt, "audio/mpeg"))
    if kind == "garbage":
        return Response(b"\x00garbage, not audio" * 51, media_type=MEDIA_TYPES.get(fmt, "audio/mpeg"))
    raise ValueError(f"unknown malformed kind {kind!r}")
