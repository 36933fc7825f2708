"""HTTP details every cloud provider shares: Retry-After, upload parts, and telling audio from an error page.

Providers answer 200 with JSON, HTML or nothing often enough that a client must look at the bytes
before passing them on as audio; these checks read headers only, so they cost nothing per chunk.
Which status means which error stays in each client: that is where providers differ.
"""

from __future__ import annotations

import email.utils
import math
import mimetypes
from collections.abc import Sequence
from datetime import UTC, datetime

from voice_avatar.engines.cloud.base import Sample

#: Layer III bitrates (kbps) and sample rates, keyed by the header's version bits: 3 MPEG-1, 2 MPEG-2, 0 MPEG-2.5.
_MP3_KBPS = {
    3: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    0: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def retry_after(value: str | None, per_second: float = 1.0) -> float | None:
    """Seconds to wait from one Retry-After-style value: a number (of `1/per_second` s) or an HTTP date.

    None when absent, unreadable or not finite, so the router falls back to its own backoff.
    """
    if not value:
        return None
    try:
        seconds = float(value) / per_second
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def sample_parts(field: str, samples: Sequence[Sample]) -> list[tuple[str, tuple[str, bytes, str]]]:
    """Multipart file parts for voice samples; the type comes from the file name, as providers sniff by it."""
    return [
        (field, (s.filename, s.data, mimetypes.guess_type(s.filename)[0] or "application/octet-stream"))
        for s in samples
    ]


def media_type(content_type: str) -> str:
    """The bare, lower-case media type of a Content-Type header (`audio/mpeg; x=y` is `audio/mpeg`)."""
    return content_type.split(";", 1)[0].strip().lower()


def is_text(media: str) -> bool:
    """JSON or text: an error or a proxy's page sent with a 200, never the audio asked for."""
    return "json" in media or media.startswith("text/")


def is_wav(head: bytes) -> bool:
    return head[:4] == b"RIFF" and head[8:12] == b"WAVE"


def is_mp3(data: bytes) -> bool:
    """An ID3 tag, or a Layer III frame header followed by another one where the data reaches that far.

    Two headers, not a bare frame sync: raw PCM (a sample 0xFFEx) starts with a sync often enough.
    """
    if data[:3] == b"ID3":
        return True
    length = _mp3_frame_length(data, 0)
    return length is not None and (len(data) < length + 4 or _mp3_frame_length(data, length) is not None)


def _mp3_frame_length(data: bytes, at: int) -> int | None:
    """The length of the MPEG Layer III frame whose header starts at `at`; None when there is no valid header."""
    if len(data) < at + 4 or data[at] != 0xFF or data[at + 1] & 0xE0 != 0xE0:
        return None
    version, layer = (data[at + 1] >> 3) & 3, (data[at + 1] >> 1) & 3
    bitrate, rate, padding = data[at + 2] >> 4, (data[at + 2] >> 2) & 3, (data[at + 2] >> 1) & 1
    if version == 1 or layer != 1 or bitrate in (0, 15) or rate == 3:
        return None
    bytes_per_kbps = 144 if version == 3 else 72  # 1152 (MPEG-1) or 576 samples a frame, over 8 bits
    return bytes_per_kbps * _MP3_KBPS[version][bitrate] * 1000 // _MP3_RATES[version][rate] + padding
