"""ElevenLabs as a `CloudEngine`: instant voice clones and text-to-speech over its HTTP API.

A thin httpx client, not the official `elevenlabs` SDK. The SDK does take a `base_url` and its
dependencies are light (httpx, pydantic, requests, websockets), but it retries 429 and 5xx by
itself (twice by default), hiding from the router the failures it must see to fail over; it
raises one generic `ApiError` for every status but 422, so we would parse the body anyway; and
it re-cuts streams into 1 KiB pieces. Five endpoints are less code than wrapping all that.

What the wire looks like (SDK 2.59.0 and ElevenLabs' docs; see /work/shared/providers/elevenlabs.md):
- `output_format` is a query parameter. `wav_*` exists on the whole-file endpoint only, not on
  `/stream`, so a streamed WAV is `pcm_*` behind a header we write ourselves.
- `pcm_*` is raw signed 16-bit little-endian mono.
- An error's body is `{"detail": {code|status, message, ...}}`, FastAPI's `{"detail": [...]}` (422),
  or plain text from a proxy; `quota_exceeded` comes as 401 in practice, `voice_not_found` as 400.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from voice_avatar.audio.encode import streaming_wav_header
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

if TYPE_CHECKING:
    from voice_avatar.settings import Settings

NAME = "elevenlabs"
#: The API's default mp3: 44.1 kHz at 128 kbps, on every plan (192 kbps needs Creator or above).
MP3_FORMAT = "mp3_44100_128"
#: Rates `pcm_*` (and, whole-file only, `wav_*`) come in; 44.1 kHz needs the Pro plan or above.
RATES = (8000, 16000, 22050, 24000, 32000, 44100, 48000)

#: Codes (`code`, or the legacy `status`) meaning the account cannot pay for this, whatever the status.
_QUOTA_CODES = frozenset({"quota_exceeded", "payment_required", "detected_unusual_activity", "only_for_creator+"})
_VOICE_CODES = frozenset({"voice_not_found"})
_CONTAINERS = (b"RIFF", b"ID3", b"OggS", b"fLaC")
_NOT_AUDIO = (b'{"', b"<!", b"<html", b"<HTML")
#: Bytes a stream's start is checked on: enough for two mp3 frames, which raw PCM must not look like.
_SNIFF_BYTES = {"pcm": 1024, "mp3": 4}


class ElevenLabsEngine:
    """One ElevenLabs account behind one connection pool; `close()` it (or use `with`) when done."""

    name = NAME

    def __init__(
        self,
        api_key: str,
        base_url: str = "https://api.elevenlabs.io",
        model_id: str = "eleven_flash_v2_5",
        timeout: float = 30.0,
    ) -> None:
        if not api_key:
            raise ValueError("an ElevenLabs API key is required")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.model_id, self.timeout = model_id, timeout
        self._http = httpx.Client(
            base_url=base_url,
            timeout=httpx.Timeout(timeout),
            headers={"xi-api-key": api_key, "user-agent": "voice-avatar"},
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> ElevenLabsEngine | None:
        """The engine the settings describe, or None when no key is set (the router then leaves it out)."""
        if not settings.elevenlabs_api_key:
            return None
        return cls(
            settings.elevenlabs_api_key,
            settings.elevenlabs_base_url,
            settings.elevenlabs_model_id,
            settings.elevenlabs_timeout_seconds,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ElevenLabsEngine:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def create_voice(self, name: str, samples: Sequence[Sample]) -> str:
        if not samples:
            raise ProviderBadRequest(NAME, "a voice clone needs at least one sample")
        files = sample_parts("files", samples)
        body = self._json(self._send("POST", "/v1/voices/add", data={"name": name}, files=files))
        if not isinstance(body.get("voice_id"), str) or not body["voice_id"]:
            raise ProviderServerError(NAME, f"/v1/voices/add answered without a voice_id: {body!r:.200}", status=200)
        return body["voice_id"]

    def delete_voice(self, voice_id: str) -> None:
        with suppress(VoiceMissing):  # already gone is what we wanted
            self._send("DELETE", f"/v1/voices/{quote(voice_id, safe='')}", voice_path=True)

    def synthesize(self, text: str, voice_id: str, fmt: str, speed: float = 1.0, sample_rate: int = 24000) -> bytes:
        params = {"output_format": _output_format(fmt, sample_rate, streaming=False)}
        response = self._send(
            "POST", _tts_path(voice_id), params=params, json=self._tts_body(text, speed), voice_path=True
        )
        _check_audio(response.content, fmt, response.headers.get("content-type", ""), complete=True)
        return response.content

    def stream(
        self, text: str, voice_id: str, fmt: str, speed: float = 1.0, sample_rate: int = 24000
    ) -> Iterator[bytes]:
        """Chunks as ElevenLabs sends them; pcm chunks are re-cut so none splits a sample.

        Nothing is sent until the first `next()`; every error before the first chunk is raised there.
        """
        wire = "pcm" if fmt == "wav" else fmt
        params = {"output_format": _output_format(wire, sample_rate, streaming=True)}
        header = streaming_wav_header(sample_rate) if fmt == "wav" else b""
        return self._stream(_tts_path(voice_id) + "/stream", params, self._tts_body(text, speed), wire, header)

    def usage(self) -> ProviderUsage:
        body = self._json(self._send("GET", "/v1/user/subscription"))
        return ProviderUsage(
            used=_number(body.get("character_count")),
            limit=_number(body.get("character_limit")),
            unit="characters",
            raw=body,
        )

    def _tts_body(self, text: str, speed: float) -> dict[str, Any]:
        return {"text": text, "model_id": self.model_id, "voice_settings": {"speed": speed}}

    def _stream(
        self, path: str, params: dict[str, str], body: dict[str, Any], wire: str, header: bytes
    ) -> Iterator[bytes]:
        with self._transport_errors(), self._http.stream("POST", path, params=params, json=body) as response:
            if not response.is_success:
                response.read()
                raise _error_for(response, voice_path=True)
            pieces = response.iter_bytes()
            if wire == "pcm":
                pieces = _whole_samples(pieces)
            head = b""
            for piece in pieces:
                head += piece
                if len(head) >= _SNIFF_BYTES[wire]:
                    break
            _check_audio(head, wire, response.headers.get("content-type", ""), complete=False)
            yield header + head
            yield from pieces

    def _send(self, method: str, path: str, voice_path: bool = False, **kwargs: Any) -> httpx.Response:
        with self._transport_errors():
            response = self._http.request(method, path, **kwargs)
        if not response.is_success:
            raise _error_for(response, voice_path)
        return response

    @contextmanager
    def _transport_errors(self) -> Iterator[None]:
        """No answer in time is a timeout; a refused, reset or torn connection counts as a server fault."""
        try:
            yield
        except httpx.TimeoutException as exc:
            raise ProviderTimeout(NAME, f"no answer within {self.timeout:g} s ({type(exc).__name__})") from exc
        except httpx.RequestError as exc:
            raise ProviderServerError(NAME, f"{type(exc).__name__}: {exc}") from exc

    @staticmethod
    def _json(response: httpx.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ProviderServerError(
                NAME,
                f"{response.url.path} answered {response.text[:200]!r}, not a JSON object",
                status=response.status_code,
            )
        return body


def _tts_path(voice_id: str) -> str:
    return f"/v1/text-to-speech/{quote(voice_id, safe='')}"


def _output_format(fmt: str, sample_rate: int, streaming: bool) -> str:
    """ElevenLabs' name for our format; refused here, before any request, when it has none."""
    if fmt not in CLOUD_FORMATS:
        raise ProviderBadRequest(NAME, f"unknown format {fmt!r}; choose one of {', '.join(CLOUD_FORMATS)}")
    if fmt == "mp3":
        return MP3_FORMAT
    if sample_rate not in RATES:
        raise ProviderBadRequest(NAME, f"{fmt} at {sample_rate} Hz is not offered; rates: {RATES}")
    if fmt == "wav" and streaming:
        raise ProviderBadRequest(NAME, "/stream has no wav_* output format")  # stream() asks for pcm instead
    return f"{fmt}_{sample_rate}"


def _whole_samples(pieces: Iterator[bytes]) -> Iterator[bytes]:
    """Re-cut raw PCM so that no piece splits a 16-bit sample; an odd byte left at the end is a torn stream."""
    carry = b""
    for piece in pieces:
        data = carry + piece
        cut = len(data) - len(data) % 2
        carry = data[cut:]
        if cut:
            yield data[:cut]
    if carry:
        raise ProviderServerError(NAME, "malformed audio: raw PCM ends in the middle of a sample", status=200)


def _check_audio(data: bytes, fmt: str, content_type: str, complete: bool) -> None:
    """A 200 must carry audio of the asked format; JSON, HTML, nothing or another container is a provider fault.

    Cheap on purpose, headers only: mp3 is an ID3 tag or Layer III frames; wav is RIFF/WAVE; pcm has no
    header, is not mp3 frames and (when complete) has an even length.
    """
    media = media_type(content_type)
    if fmt == "mp3":
        looks_right = is_mp3(data)
    elif fmt == "wav":
        looks_right = is_wav(data)
    else:
        looks_right = (
            not data.startswith(_CONTAINERS + _NOT_AUDIO) and not is_mp3(data) and (not complete or len(data) % 2 == 0)
        )
    if not data or not looks_right or is_text(media):
        raise ProviderServerError(
            NAME,
            f"malformed audio: asked for {fmt}, got {len(data)}{'' if complete else '+'} bytes of "
            f"{media or 'unlabelled content'} starting {data[:16]!r}",
            status=200,
        )


def _error_for(response: httpx.Response, voice_path: bool) -> ProviderError:
    """The taxonomy class for a failed answer: codes first (they are more specific), then the status."""
    status = response.status_code
    codes, message = _parse_error(response)
    args = (NAME, f"HTTP {status} {'/'.join(sorted(codes)) or response.reason_phrase}: {message}", status)
    if codes & _QUOTA_CODES or status == 402:
        return ProviderQuotaError(*args)
    if codes & _VOICE_CODES or (status == 404 and voice_path):
        return VoiceMissing(*args)
    if status in (401, 403):
        return ProviderAuthError(*args)
    if status == 429:
        return ProviderRateLimited(*args, retry_after=_retry_after(response.headers))
    if status == 408:
        return ProviderTimeout(*args)
    if 400 <= status < 500 and status != 404:
        return ProviderBadRequest(*args)
    return ProviderServerError(*args)  # 5xx, a 404 off a voice path (wrong base URL), anything undocumented


def _parse_error(response: httpx.Response) -> tuple[set[str], str]:
    """The error's codes (`code`, legacy `status`, `type`) and message, from whichever documented shape it has."""
    try:
        body = response.json()
    except ValueError:
        return set(), response.text.strip()[:300]
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, dict):
        codes = {str(detail[key]) for key in ("code", "status", "type") if isinstance(detail.get(key), str)}
        return codes, str(detail.get("message") or "")
    if isinstance(detail, list):  # FastAPI's validation errors: [{"loc": [...], "msg": ..., "type": ...}]
        problems = [
            f"{'.'.join(map(str, item.get('loc', [])))}: {item.get('msg', '')}"
            for item in detail
            if isinstance(item, dict)
        ]
        return {"validation_error"}, "; ".join(problems)
    return set(), str(detail)[:300]


def _retry_after(headers: httpx.Headers) -> float | None:
    """Seconds to wait: `retry-after-ms` (which the SDK reads) wins over `Retry-After`."""
    in_ms = retry_after(headers.get("retry-after-ms"), per_second=1000.0)
    return in_ms if in_ms is not None else retry_after(headers.get("retry-after"))


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
