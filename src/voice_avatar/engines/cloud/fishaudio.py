"""Fish Audio as a cloud engine: clone with ``POST /model``, speak with ``POST /v1/tts``, read the credit.

A thin `httpx` client, not the official ``fish-audio-sdk``: the SDK's ``tts.stream()`` reads the
whole body before yielding (no real streaming), its exceptions drop the response headers (so
Retry-After is lost) and put 402 with every other 4xx, and it brings ormsgpack and httpx-ws for
features we do not use. Bodies go as JSON, which /v1/tts accepts beside msgpack; msgpack is only
needed for inline reference audio, and we clone once with /model instead.

Wire facts (fishaudio/fish-audio-python, fishaudio/docs ``api-reference/``):
- the TTS backend is the ``model`` header; an unknown or missing one means ``s2.1-pro``;
- wav/pcm come at 8, 16, 24, 32 or 44.1 kHz (pcm is 16-bit mono), mp3 at 32 or 44.1 kHz; other
  rates are refused, so we ask 44.1 kHz and resample here;
- ``mp3_bitrate`` goes only with mp3 (the docs list a mismatch as a validation error);
- an unknown ``reference_id`` in synthesis is a 400 "Reference not found", on ``/model/{id}`` a 404;
- a new model can still be ``created``/``training``: we poll ``GET /model/{id}`` until ``trained``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
import numpy as np

from voice_avatar.audio.encode import encode
from voice_avatar.audio.io import Audio, load_audio
from voice_avatar.engines.cloud.base import (
    CLOUD_FORMATS,
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderQuotaError,
    ProviderRateLimited,
    ProviderServerError,
    ProviderTimeout,
    ProviderUsage,
    Sample,
    VoiceMissing,
)
from voice_avatar.engines.cloud.wire import is_mp3, is_text, is_wav, media_type, retry_after, sample_parts

DEFAULT_BASE_URL = "https://api.fish.audio"
#: Rates Fish Audio produces wav/pcm at (docs: api-reference/endpoint/openapi-v1/text-to-speech.mdx).
PCM_RATES = (8000, 16000, 24000, 32000, 44100)
_FALLBACK_RATE = 44100
_HEAD_BYTES = {"mp3": 4, "wav": 28, "pcm": 2}


class FishAudioEngine:
    """A `CloudEngine` over Fish Audio's HTTP API; every failure leaves as a `ProviderError`."""

    name = "fishaudio"

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        model: str = "s2.1-pro",
        timeout: float = 30.0,
        *,
        latency: str = "normal",
        ready_timeout: float = 120.0,
        poll_interval: float = 1.0,
    ) -> None:
        if not api_key:
            raise ValueError("FishAudioEngine needs an API key")
        self.model, self.latency = model, latency
        self.ready_timeout, self.poll_interval = ready_timeout, poll_interval
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(timeout),
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": "voice-avatar"},
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> FishAudioEngine:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- voices ---------------------------------------------------------------------------------

    def create_voice(self, name: str, samples: Sequence[Sample]) -> str:
        """A private "fast" model from the samples; returns once Fish Audio says it is trained."""
        if not samples:
            raise ProviderBadRequest(self.name, "a voice needs at least one sample")
        form = {"type": "tts", "title": name, "train_mode": "fast", "visibility": "private"}
        model = self._json(self._request("POST", "/model", data=form, files=sample_parts("voices", samples)))
        voice_id = model.get("_id")
        if not isinstance(voice_id, str) or not voice_id:
            raise ProviderServerError(self.name, "model created without an _id")
        self._wait_until_trained(voice_id, model.get("state"))
        return voice_id

    def _wait_until_trained(self, voice_id: str, state: Any) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while state != "trained":
            if state == "failed":
                self._forget(voice_id)
                raise ProviderServerError(self.name, f"voice {voice_id} failed to train")
            if time.monotonic() > deadline:
                self._forget(voice_id)
                raise ProviderTimeout(self.name, f"voice {voice_id} still {state!r} after {self.ready_timeout:g} s")
            time.sleep(self.poll_interval)
            state = self._json(self._request("GET", f"/model/{voice_id}", voice=True)).get("state")

    def _forget(self, voice_id: str) -> None:
        """Best effort: a model that will never be used should not linger in the account."""
        with contextlib.suppress(ProviderError):
            self.delete_voice(voice_id)

    def delete_voice(self, voice_id: str) -> None:
        try:
            self._request("DELETE", f"/model/{voice_id}", voice=True)
        except VoiceMissing:
            return

    # -- speech ---------------------------------------------------------------------------------

    def synthesize(self, text: str, voice_id: str, fmt: str, speed: float = 1.0, sample_rate: int = 24000) -> bytes:
        body, rate = self._tts_body(text, voice_id, fmt, speed, sample_rate)
        data = b"".join(self._tts_chunks(body, fmt, rate))
        return data if rate in (None, sample_rate) else _convert(data, fmt, rate, sample_rate)

    def stream(
        self, text: str, voice_id: str, fmt: str, speed: float = 1.0, sample_rate: int = 24000
    ) -> Iterator[bytes]:
        """Chunks as Fish Audio sends them; a rate it cannot produce comes as one resampled chunk."""
        body, rate = self._tts_body(text, voice_id, fmt, speed, sample_rate)
        if rate in (None, sample_rate):
            yield from self._tts_chunks(body, fmt, rate)
        else:
            yield _convert(b"".join(self._tts_chunks(body, fmt, rate)), fmt, rate, sample_rate)

    def _tts_body(
        self, text: str, voice_id: str, fmt: str, speed: float, sample_rate: int
    ) -> tuple[dict[str, Any], int | None]:
        """The request and the rate Fish Audio will send (None: mp3 at its default)."""
        if fmt not in CLOUD_FORMATS:
            raise ProviderBadRequest(self.name, f"format {fmt!r} is not one of {', '.join(CLOUD_FORMATS)}")
        body: dict[str, Any] = {
            "text": text,
            "reference_id": voice_id,
            "format": fmt,
            "latency": self.latency,
            "prosody": {"speed": speed},
        }
        if fmt == "mp3":
            body["mp3_bitrate"] = 128
            return body, None
        rate = sample_rate if sample_rate in PCM_RATES else _FALLBACK_RATE
        body["sample_rate"] = rate
        return body, rate

    def _tts_chunks(self, body: dict[str, Any], fmt: str, rate: int | None) -> Iterator[bytes]:
        check = _AudioCheck(self.name, fmt, rate)
        try:
            with self._http.stream("POST", "/v1/tts", json=body, headers={"model": self.model}) as response:
                if not response.is_success:
                    response.read()
                    raise self._error(response, voice=True)
                check.content_type(response.headers.get("content-type", ""))
                for chunk in response.iter_bytes():
                    yield from check.feed(chunk)
            check.finish()
        except httpx.TimeoutException as exc:
            raise ProviderTimeout(self.name, f"no complete answer from /v1/tts: {exc!r}") from exc
        except httpx.RequestError as exc:  # refused, reset, cut short, undecodable
            raise ProviderServerError(self.name, f"/v1/tts connection failed: {exc!r}") from exc

    # -- account --------------------------------------------------------------------------------

    def usage(self) -> ProviderUsage:
        """Fish Audio bills a prepaid balance: `limit` is the credit left, `used` is not reported."""
        payload = self._json(self._request("GET", "/wallet/self/api-credit"))
        try:
            credit = float(Decimal(str(payload["credit"])))
        except (KeyError, InvalidOperation) as exc:
            raise ProviderServerError(self.name, f"unreadable credit answer: {payload!r}") from exc
        return ProviderUsage(used=None, limit=credit, unit="credits", raw=payload)

    # -- HTTP -----------------------------------------------------------------------------------

    def _request(self, method: str, path: str, *, voice: bool = False, **kwargs: Any) -> httpx.Response:
        """One call; `voice` says the path names a voice, so a 404 means that voice is gone."""
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise ProviderTimeout(self.name, f"{method} {path} timed out: {exc!r}") from exc
        except httpx.RequestError as exc:
            raise ProviderServerError(self.name, f"{method} {path} connection failed: {exc!r}") from exc
        if not response.is_success:
            raise self._error(response, voice=voice)
        return response

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise ProviderServerError(
                self.name, f"expected a JSON object, got {response.text[:80]!r}", response.status_code
            )
        return payload

    def _error(self, response: httpx.Response, *, voice: bool) -> ProviderError:
        """The taxonomy class for a non-2xx answer (fishaudio/docs api-reference/errors.mdx)."""
        status, message = response.status_code, _message(response)
        text = f"HTTP {status}: {message}"
        if status in (401, 403):
            return ProviderAuthError(self.name, text, status)
        if status == 402:
            return ProviderQuotaError(self.name, text, status)
        if status == 429:
            return ProviderRateLimited(self.name, text, status, retry_after(response.headers.get("retry-after")))
        if voice and (status == 404 or (status == 400 and _names_missing_voice(message))):
            return VoiceMissing(self.name, text, status)
        if status == 408:
            return ProviderTimeout(self.name, text, status)
        if status in (400, 413, 422):
            return ProviderBadRequest(self.name, text, status)
        return ProviderServerError(self.name, text, status)  # 5xx, or a path that is not the API's


class _AudioCheck:
    """Holds back the first bytes until the container is recognisable, so that a JSON page, an
    empty 200 or garbage never reaches the caller as audio. Cheap: headers and lengths only."""

    def __init__(self, provider: str, fmt: str, rate: int | None) -> None:
        self.provider, self.fmt, self.rate = provider, fmt, rate
        self.head, self.total, self.passed = b"", 0, False

    def content_type(self, value: str) -> None:
        kind = media_type(value)
        if is_text(kind):
            raise self._malformed(f"the body is {kind}")

    def feed(self, chunk: bytes) -> list[bytes]:
        self.total += len(chunk)
        if self.passed:
            return [chunk] if chunk else []
        self.head += chunk
        if len(self.head) < _HEAD_BYTES[self.fmt]:
            return []
        self._check_head()
        self.passed, out = True, self.head
        self.head = b""
        return [out]

    def finish(self) -> None:
        if self.total == 0:
            raise self._malformed("the body is empty")
        if not self.passed:
            raise self._malformed(f"only {self.total} bytes")
        if self.fmt == "pcm" and self.total % 2:
            raise self._malformed("16-bit pcm of odd length")

    def _check_head(self) -> None:
        head = self.head
        if self.fmt == "mp3" and not is_mp3(head):
            raise self._malformed("no ID3 tag or MPEG Layer III frame")
        if self.fmt == "wav":
            if not is_wav(head):
                raise self._malformed("no RIFF/WAVE header")
            rate = int.from_bytes(head[24:28], "little")
            if head[12:16] == b"fmt " and rate != self.rate:
                raise self._malformed(f"wav at {rate} Hz, asked {self.rate} Hz")

    def _malformed(self, why: str) -> ProviderServerError:
        return ProviderServerError(self.provider, f"malformed audio ({self.fmt}): {why}", 200)


def _convert(data: bytes, fmt: str, from_rate: int, to_rate: int) -> bytes:
    """Audio Fish Audio sent at `from_rate`, re-encoded at the rate our caller asked for."""
    if fmt == "pcm":
        audio = Audio(np.frombuffer(data, "<i2").astype(np.float32) / 32768.0, from_rate)
    else:
        audio = load_audio(data, name="fishaudio answer")
    return encode(audio.at_rate(to_rate), fmt)


def _message(response: httpx.Response) -> str:
    """The error's text: ``{"status", "message"}`` normally, ``{"detail": [...]}`` for 422, else plain text."""
    try:
        payload = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(payload, dict):
        detail = payload.get("message") or payload.get("detail")
        if isinstance(detail, list):
            return "; ".join(str(item.get("msg", item)) if isinstance(item, dict) else str(item) for item in detail)
        if detail:
            return str(detail)
    return response.text[:200]


def _names_missing_voice(message: str) -> bool:
    lowered = message.lower()
    return "not found" in lowered and any(word in lowered for word in ("reference", "model", "voice"))
