"""A stand-in for ElevenLabs' HTTP API: its paths, fields, output formats and error bodies, on loopback.

It answers with real speech (a LibriSpeech reading cut to the text's length) encoded as asked,
charges characters against a quota, and fails on demand: `app.state.control.fail_next(kind)`.
Every request is recorded (method, path, headers, query, form fields, JSON) for assertions.

Sources: the official SDK (elevenlabs-python 2.59.0: paths, multipart `files`, output formats, `wav_*`
on the whole-file endpoint only), ElevenLabs' error docs (`detail` objects, 429 codes) and
error bodies seen in public bug reports (401 `quota_exceeded`, 500 `something_went_wrong`).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import string
import threading
import uuid
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.datastructures import UploadFile

from voice_avatar.audio import Audio, load_audio
from voice_avatar.audio.encode import encode

VOICES = Path(__file__).resolve().parents[2].parent / "shared" / "voices" / "librispeech"
SPEECH = VOICES / "2609" / "2609-156975-0000.flac"
RATES = (8000, 16000, 22050, 24000, 32000, 44100, 48000)
MP3_FORMATS = (
    "mp3_22050_32",
    "mp3_24000_48",
    "mp3_44100_32",
    "mp3_44100_64",
    "mp3_44100_96",
    "mp3_44100_128",
    "mp3_44100_192",
)
MODELS = {"eleven_flash_v2_5": 40_000, "eleven_turbo_v2_5": 40_000, "eleven_multilingual_v2": 10_000}
SECONDS_PER_CHAR = 0.06

Failure = Literal[
    "server_error",  # 500, detail something_went_wrong
    "bad_gateway",  # 502 in plain text, as a proxy in front would answer
    "rate_limited",  # 429, detail code/status too_many_concurrent_requests, Retry-After when given
    "system_busy",  # 429, legacy detail {status, message}
    "quota_exceeded",  # 401, legacy detail status quota_exceeded (what accounts out of credits see)
    "quota_exceeded_400",  # 400, current detail code quota_exceeded (the docs allow 400 or 401)
    "payment_required",  # 402, detail status payment_required
    "bad_request",  # 400, current detail validation_error / invalid_parameters
    "validation",  # 422, FastAPI's list detail
    "voice_missing",  # 400, detail voice_not_found
    "not_found",  # 404, {"detail": "Not Found"}
    "slow",  # sleep control.slow_seconds, then answer normally
    "stall",  # stream: first chunk, then sleep control.slow_seconds; otherwise like slow
    "malformed_json",  # 200 with a JSON body
    "malformed_html",  # 200 labelled audio, holding an HTML page
    "malformed_empty",  # 200 with no body
    "wrong_container",  # 200 with audio in another format than asked
    "odd_pcm",  # 200 with one byte too many, so the last sample is torn
]


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    query: dict[str, str]
    form_fields: list[str]
    filenames: list[str]
    json: Any


@dataclass
class StandinControl:
    """The account the stand-in serves, and the failures queued for its next requests."""

    api_key: str = "test-key"
    character_limit: int = 100_000
    character_count: int = 0
    slow_seconds: float = 1.0
    chunk_delay: float = 0.01
    requests: list[RecordedRequest] = field(default_factory=list)
    voices: dict[str, str] = field(default_factory=dict)
    _failures: deque[tuple[Failure, float | None]] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, kind: Failure, times: int = 1, retry_after: float | None = None) -> None:
        """The next `times` requests (after the key check) fail as `kind`."""
        with self._lock:
            self._failures.extend([(kind, retry_after)] * times)

    def add_voice(self, name: str = "stand-in voice") -> str:
        voice_id = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(20))
        self.voices[voice_id] = name
        return voice_id

    def reset(self) -> None:
        with self._lock:
            self._failures.clear()
        self.requests.clear()
        self.voices.clear()
        self.character_count, self.character_limit = 0, 100_000

    def take_failure(self) -> tuple[Failure, float | None] | None:
        with self._lock:
            return self._failures.popleft() if self._failures else None


def make_elevenlabs_standin(control: StandinControl | None = None) -> FastAPI:
    """The ASGI app; its `state.control` is the `StandinControl` the tests steer."""
    app = FastAPI()
    app.state.control = control = control or StandinControl()

    async def admit(request: Request) -> tuple[Response | None, Failure | None]:
        """Record, check the key, apply a queued failure: returns an early answer, or the failure left to apply."""
        request.state.recorded = await _record(request, control)
        if request.headers.get("xi-api-key") != control.api_key:
            return _legacy_error(401, "invalid_api_key", "Invalid API key"), None
        queued = control.take_failure()
        if queued is None:
            return None, None
        kind, retry_after = queued
        if kind in ("slow", "stall") and not request.url.path.endswith("/stream"):
            await asyncio.sleep(control.slow_seconds)
            return None, None
        if kind in _ERRORS:
            return _ERRORS[kind](retry_after), None
        return None, kind

    @app.post("/v1/voices/add")
    async def add_voice(request: Request) -> Response:
        early, failure = await admit(request)
        if early or failure:
            return early or _malformed(failure, "mp3")
        form = await request.form()
        files = [
            value for key, value in form.multi_items() if key in ("files", "files[]") and isinstance(value, UploadFile)
        ]
        missing = [name for name, value in (("name", form.get("name")), ("files", files)) if not value]
        if missing:
            return _validation_error([("body", name) for name in missing], "Field required")
        voice_id = control.add_voice(str(form["name"]))
        return JSONResponse({"voice_id": voice_id, "requires_verification": False})

    @app.delete("/v1/voices/{voice_id}")
    async def delete_voice(voice_id: str, request: Request) -> Response:
        early, failure = await admit(request)
        if early or failure:
            return early or _malformed(failure, "mp3")
        if control.voices.pop(voice_id, None) is None:
            return _voice_not_found(voice_id)
        return JSONResponse({"status": "ok"})

    @app.post("/v1/text-to-speech/{voice_id}")
    async def speech(voice_id: str, request: Request) -> Response:
        return await speak(voice_id, request, streaming=False)

    @app.post("/v1/text-to-speech/{voice_id}/stream")
    async def speech_stream(voice_id: str, request: Request) -> Response:
        return await speak(voice_id, request, streaming=True)

    async def speak(voice_id: str, request: Request, streaming: bool) -> Response:
        early, failure = await admit(request)
        if early:
            return early
        output_format = request.query_params.get("output_format", "mp3_44100_128")
        codec_rate = _parse_output_format(output_format, streaming)
        if codec_rate is None:
            return _validation_error([("query", "output_format")], f"unsupported output_format {output_format!r}")
        body = request.state.recorded.json
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            return _validation_error([("body", "text")], "Field required")
        text, model_id = body["text"], body.get("model_id", "eleven_multilingual_v2")
        if voice_id not in control.voices:
            return _voice_not_found(voice_id)
        if model_id not in MODELS:
            return _error(400, "invalid_parameters", f"A model with model ID {model_id} does not exist", "model_id")
        if len(text) > MODELS[model_id]:
            return _legacy_error(
                400,
                "max_character_limit_exceeded",
                f"This request's text has {len(text)} characters and exceeds the character limit "
                f"of {MODELS[model_id]} characters.",
            )
        if control.character_count + len(text) > control.character_limit:
            left = control.character_limit - control.character_count
            return _legacy_error(
                401,
                "quota_exceeded",
                f"This request exceeds your quota of {control.character_limit}."
                f" You have {left} credits remaining, while {len(text)} credits are required.",
            )
        control.character_count += len(text)
        codec, rate = codec_rate
        speed = float((body.get("voice_settings") or {}).get("speed") or 1.0)
        data = encode(_speech(len(text) * SECONDS_PER_CHAR / speed, rate), codec)
        if failure and failure not in ("slow", "stall"):
            return _malformed(failure, codec, data)
        headers = {"request-id": uuid.uuid4().hex, "character-cost": str(len(text))}
        if not streaming:
            return Response(data, media_type=_MEDIA[codec], headers=headers)
        stall = control.slow_seconds if failure in ("slow", "stall") else 0.0
        first_wait = stall if failure == "slow" else 0.0
        later_wait = stall if failure == "stall" else 0.0
        return StreamingResponse(
            _chunks(data, control.chunk_delay, first_wait, later_wait), media_type=_MEDIA[codec], headers=headers
        )

    @app.get("/v1/user/subscription")
    async def subscription(request: Request) -> Response:
        early, failure = await admit(request)
        if early or failure:
            return early or _malformed(failure, "mp3")
        return JSONResponse(
            {
                "tier": "creator",
                "character_count": control.character_count,
                "character_limit": control.character_limit,
                "can_extend_character_limit": True,
                "allowed_to_extend_character_limit": True,
                "next_character_count_reset_unix": 1_900_000_000,
                "voice_slots_used": len(control.voices),
                "voice_limit": 30,
                "professional_voice_limit": 1,
                "can_use_instant_voice_cloning": True,
                "can_use_professional_voice_cloning": True,
                "status": "active",
                "currency": "usd",
                "billing_period": "monthly_period",
            }
        )

    @app.get("/v1/models")
    async def models(request: Request) -> Response:
        early, failure = await admit(request)
        if early or failure:
            return early or _malformed(failure, "mp3")
        return JSONResponse(
            [
                {
                    "model_id": model_id,
                    "name": model_id.replace("_", " ").title(),
                    "can_do_text_to_speech": True,
                    "can_do_voice_conversion": False,
                    "maximum_text_length_per_request": limit,
                    "languages": [{"language_id": "en", "name": "English"}],
                }
                for model_id, limit in MODELS.items()
            ]
        )

    return app


_MEDIA = {"mp3": "audio/mpeg", "wav": "audio/wav", "pcm": "audio/pcm"}


def _parse_output_format(output_format: str, streaming: bool) -> tuple[str, int] | None:
    """(codec for `encode`, sample rate) for the formats we can produce; wav_* only off /stream, as in the SDK."""
    codec, _, rest = output_format.partition("_")
    rate = int(rest.split("_")[0]) if rest.split("_")[0].isdigit() else 0
    if output_format in MP3_FORMATS:
        return "mp3", rate
    if (codec == "pcm" or (codec == "wav" and not streaming)) and rest.isdigit() and rate in RATES:
        return codec, rate
    return None


@lru_cache(maxsize=8)
def _reading(rate: int) -> np.ndarray:
    """A real reading at `rate`, or a voiced-sounding tone when the shared recordings are absent."""
    if SPEECH.exists():
        return load_audio(SPEECH, sample_rate=rate).samples
    t = np.arange(rate * 4) / rate
    return (0.3 * np.sin(2 * np.pi * 140 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)


def _speech(seconds: float, rate: int) -> Audio:
    reading = _reading(rate)
    wanted = int(min(max(seconds, 0.4), 8.0) * rate)
    return Audio(np.resize(reading, wanted).astype(np.float32), rate)


async def _chunks(data: bytes, delay: float, first_wait: float, later_wait: float) -> AsyncIterator[bytes]:
    """Six-odd pieces of odd length (so PCM pieces split samples, as a network may), paced like a live stream."""
    size = max(1, len(data) // 6) | 1
    await asyncio.sleep(first_wait)
    for index, start in enumerate(range(0, len(data), size)):
        if index:
            await asyncio.sleep(later_wait if index == 1 else delay)
        yield data[start : start + size]


async def _record(request: Request, control: StandinControl) -> RecordedRequest:
    content_type = request.headers.get("content-type", "")
    body: Any = None
    fields: list[str] = []
    filenames: list[str] = []
    if content_type.startswith("multipart/form-data"):
        for key, value in (await request.form()).multi_items():
            fields.append(key)
            if isinstance(value, UploadFile):
                filenames.append(value.filename or "")
    elif "json" in content_type:
        try:
            body = json.loads(await request.body() or b"null")
        except ValueError:
            body = None
    recorded = RecordedRequest(
        request.method, request.url.path, dict(request.headers), dict(request.query_params), fields, filenames, body
    )
    control.requests.append(recorded)
    return recorded


def _error(
    status: int,
    code: str,
    message: str,
    param: str | None = None,
    error_type: str = "validation_error",
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """The current documented shape: `code` plus the legacy `status` holding the same value."""
    detail = {
        "type": error_type,
        "code": code,
        "message": message,
        "status": code,
        "request_id": uuid.uuid4().hex,
        "param": param,
    }
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _legacy_error(status: int, code: str, message: str) -> JSONResponse:
    """The older shape still seen in the wild: `{"detail": {"status", "message"}}`."""
    return JSONResponse({"detail": {"status": code, "message": message}}, status_code=status)


def _validation_error(locations: list[tuple[str, str]], message: str) -> JSONResponse:
    return JSONResponse(
        {"detail": [{"loc": list(loc), "msg": message, "type": "missing"} for loc in locations]}, status_code=422
    )


def _voice_not_found(voice_id: str) -> JSONResponse:
    return _error(
        400, "voice_not_found", f"A voice with voice_id {voice_id} was not found.", "voice_id", "not_found_error"
    )


def _rate_limited(retry_after: float | None) -> JSONResponse:
    headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else None
    return _error(
        429,
        "too_many_concurrent_requests",
        "Too many concurrent requests for your subscription.",
        error_type="rate_limit_error",
        headers=headers,
    )


_ERRORS = {
    "server_error": lambda _: _legacy_error(
        500, "something_went_wrong", "We are sorry, something went wrong. You are not charged for this request."
    ),
    "bad_gateway": lambda _: Response("Bad Gateway", status_code=502, media_type="text/plain"),
    "rate_limited": _rate_limited,
    "system_busy": lambda _: _legacy_error(429, "system_busy", "Our services are experiencing high traffic."),
    "quota_exceeded": lambda _: _legacy_error(401, "quota_exceeded", "This request exceeds your quota."),
    "quota_exceeded_400": lambda _: _error(
        400, "quota_exceeded", "You have insufficient quota.", error_type="billing_error"
    ),
    "payment_required": lambda _: _legacy_error(402, "payment_required", "Please upgrade your subscription."),
    "bad_request": lambda _: _error(400, "invalid_parameters", "The 'seed' parameter is out of range.", "seed"),
    "validation": lambda _: _validation_error([("body", "text")], "Field required"),
    "voice_missing": lambda _: _voice_not_found("the-one-you-asked-for"),
    "not_found": lambda _: JSONResponse({"detail": "Not Found"}, status_code=404),
}


def _malformed(kind: Failure | None, codec: str, audio: bytes = b"") -> Response:
    """A 200 that is not what was asked: JSON, an HTML page, nothing, another container, a torn PCM stream."""
    media = _MEDIA.get(codec, "audio/mpeg")
    if kind == "malformed_json":
        return JSONResponse({"audio_base64": None, "alignment": None})
    if kind == "malformed_empty":
        return Response(b"", media_type=media)
    if kind == "wrong_container":
        other = encode(_speech(0.5, 22050), "wav" if codec == "mp3" else "mp3")
        return Response(other, media_type=media)
    if kind == "odd_pcm":
        return Response((audio or b"\0\0") + b"\x01", media_type=media)
    return Response(b"<!DOCTYPE html><html><body>Service temporarily unavailable</body></html>", media_type=media)
