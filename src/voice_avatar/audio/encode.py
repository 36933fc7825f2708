"""Encode synthesised audio into the container a caller asked for.

libsndfile writes WAV, FLAC, OGG/Vorbis and MP3 (LAME) in-process, so no ffmpeg binary is
needed to serve any of the formats the product offers.
"""

from __future__ import annotations

import io
import struct
from typing import Literal

import numpy as np
import soundfile

from voice_avatar.audio.io import Audio
from voice_avatar.errors import InputError

AudioFormat = Literal["wav", "mp3", "ogg", "flac", "pcm"]
FORMATS: tuple[str, ...] = ("wav", "mp3", "ogg", "flac", "pcm")

_SOUNDFILE_ARGS: dict[str, tuple[str, str]] = {
    "wav": ("WAV", "PCM_16"),
    "flac": ("FLAC", "PCM_16"),
    "ogg": ("OGG", "VORBIS"),
    "mp3": ("MP3", "MPEG_LAYER_III"),
}

MEDIA_TYPES: dict[str, str] = {
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "ogg": "audio/ogg",
    "flac": "audio/flac",
    "pcm": "audio/L16",
}


def encode(audio: Audio, fmt: str) -> bytes:
    """The audio as a complete file of `fmt`; ``pcm`` is raw signed 16-bit little-endian mono."""
    if fmt not in FORMATS:
        raise InputError(f"unknown audio format {fmt!r}; choose one of {', '.join(FORMATS)}")
    clipped = np.clip(audio.samples, -1.0, 1.0)
    if fmt == "pcm":
        return (clipped * 32767.0).astype("<i2").tobytes()
    container, subtype = _SOUNDFILE_ARGS[fmt]
    buffer = io.BytesIO()
    soundfile.write(buffer, clipped, audio.sample_rate, format=container, subtype=subtype)
    return buffer.getvalue()


def format_for_path(path: str) -> str | None:
    """The format a file name's extension asks for, if it names one we write."""
    suffix = path.rsplit(".", 1)[-1].lower() if "." in path else ""
    return suffix if suffix in FORMATS and suffix != "pcm" else None


def streaming_wav_header(rate: int) -> bytes:
    """A 16-bit mono WAV header for data of unknown length (sizes 0xFFFFFFFF), as streaming servers send.

    Lets a WAV start playing before its length is known: raw pcm pieces simply follow it.
    """
    fmt_chunk = struct.pack("<4sIHHIIHH", b"fmt ", 16, 1, 1, rate, rate * 2, 2, 16)
    return b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + b"WAVE" + fmt_chunk + b"data" + struct.pack("<I", 0xFFFFFFFF)
