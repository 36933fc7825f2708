"""The fitted voice profile: everything synthesis needs to sound like the enrolled speaker.

Stored as a plain .npz (no pickle, so loading a profile cannot run code), about 250 kB.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from voice_avatar.engines.local.mapping import DeltaKnn
from voice_avatar.errors import InputError

#: Bumped whenever the meaning of a field changes; older profiles must be re-enrolled.
FORMAT_VERSION = 1


@dataclass
class VoiceProfile:
    """A speaker's conversion from Piper's `joe` voice, fitted at enrollment.

    length_scale: Piper's length scale that matches the speaker's speaking rate.
    warp: frequency scale applied to Piper's envelope (vocal tract length; >1 = shorter tract).
    knn_keys: warped Piper coded envelopes without c0 (frames x 39, float16): lookup keys.
    knn_deltas: speaker minus Piper on the aligned frames (frames x 39, float16).
    knn_k: neighbours averaged per frame.
    speaker_f0_hz, piper_f0_hz: median F0 of the speaker and of Piper saying the same words.
    speech_seconds: voiced speech in the enrollment audio.
    version: `FORMAT_VERSION` at fitting time.
    """

    length_scale: float
    warp: float
    knn_keys: np.ndarray
    knn_deltas: np.ndarray
    knn_k: int
    speaker_f0_hz: float
    piper_f0_hz: float
    speech_seconds: float
    version: int = FORMAT_VERSION

    @property
    def envelope_map(self) -> DeltaKnn:
        return DeltaKnn(self.knn_keys, self.knn_deltas, self.knn_k)

    def save(self, path: str | Path) -> None:
        """Write the profile as an uncompressed .npz (the arrays are float16 already)."""
        Path(path).write_bytes(self.to_bytes())

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez(buffer, **{k: np.asarray(v) for k, v in asdict(self).items()})
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, name: str = "profile") -> VoiceProfile:
        return cls.load(io.BytesIO(data), name)

    @classmethod
    def load(cls, path: str | Path | io.BytesIO, name: str | None = None) -> VoiceProfile:
        """Read a profile written by `save`; refuses other files and format versions."""
        path_name = name or str(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                values = {f.name: data[f.name] for f in fields(cls)}
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(f"{path_name}: not a voice profile ({exc})") from exc
        if int(values["version"]) != FORMAT_VERSION:
            raise InputError(
                f"{path_name}: voice profile format {int(values['version'])}, this version reads "
                f"{FORMAT_VERSION}; enroll the voice again"
            )
        scalars = {k: v.item() for k, v in values.items() if v.ndim == 0}
        arrays = {k: v for k, v in values.items() if v.ndim > 0}
        return cls(**scalars, **arrays)
