"""Enrollment: fit a `VoiceProfile` from a short recording by the *parallel-data trick*.

Whisper transcribes the recording, Piper says the same words, and time-warping the two
renditions against each other gives pairs of frames (Piper, speaker) for the same sounds.
Every mapping in the profile is fitted on those pairs, so nothing is tuned per speaker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from voice_avatar import asr
from voice_avatar.audio import Audio
from voice_avatar.audio.vad import detect_speech
from voice_avatar.engines import piper_voice
from voice_avatar.engines.local import features
from voice_avatar.engines.local.align import dtw_path
from voice_avatar.engines.local.mapping import fit_warp, warp_envelope
from voice_avatar.engines.local.profile import VoiceProfile
from voice_avatar.errors import InputError

Progress = Callable[[float, str], None]

#: Least speech (by voice activity detection) we fit from; below this the mapping is mostly guesswork.
MIN_SPEECH_SECONDS = 5.0
#: DTW and the kNN table use every other WORLD frame (10 ms): half the cost, same fit.
DECIMATE = 2
#: Cap on stored kNN pairs, which bounds profile size (~40 s of speech at 10 ms).
MAX_PAIRS = 4000
#: Bounds on the speaking-rate ratio. Audiobook readers measure 1.3-1.4x slower than `joe`;
#: matching that fully moved SECS by less than Piper's own noise, made speech drag, and cost
#: synthesis time (Piper's time grows with the length it generates).
RATE_BOUNDS = (0.8, 1.2)
#: Fewest aligned speech frames (10 ms each) worth fitting an envelope map on.
MIN_PAIRS = 300
#: Neighbours averaged per frame: 32 sounded cleaner than 16 (DNSMOS +0.1) at equal SECS.
KNN_K = 32


@dataclass
class _Pair:
    """One transcribed stretch of the recording and Piper saying the same words."""

    target: features.Frames
    piper: features.Frames


def fit_profile(samples: list[Audio], progress: Progress | None = None) -> VoiceProfile:
    """Fit a profile from one or more recordings of the same speaker (10 s to 2 min in all)."""
    report = progress or (lambda _f, _m: None)
    clips = [s.at_rate(features.RATE) for s in samples if len(s.samples)]
    speech_seconds = sum(detect_speech(c).speech_seconds for c in clips)
    if speech_seconds < MIN_SPEECH_SECONDS:
        raise InputError(
            f"the recording holds {speech_seconds:.1f} s of speech; at least "
            f"{MIN_SPEECH_SECONDS:.0f} s are needed (10 s to 2 min of one person talking works best)"
        )
    report(0.0, "analysing the recording")
    analyses = [features.analyze(c.samples) for c in clips]

    report(0.15, "transcribing")
    transcripts = [asr.transcribe(c) for c in clips]
    segments = [(i, s) for i, t in enumerate(transcripts) for s in t.segments if s.text.strip()]
    if not segments:
        raise InputError("no words could be recognised in the recording; it must be English speech")

    pairs: list[_Pair] = []
    for n, (i, seg) in enumerate(segments):
        report(0.3 + 0.5 * n / len(segments), "comparing with the reference voice")
        lo, hi = _frame(seg.start), _frame(seg.end) + 1
        target = analyses[i][lo:hi]
        spoken = piper_voice.synthesize(seg.text).at_rate(features.RATE)
        if len(target.f0) < 20 or len(spoken.samples) < features.RATE // 10:
            continue
        pairs.append(_Pair(target, features.analyze(spoken.samples)))
    if not pairs:
        raise InputError("the recognised speech is too short to learn from")

    report(0.8, "fitting the voice")
    profile = _fit(pairs, speech_seconds)
    report(1.0, "done")
    return profile


def _frame(seconds: float) -> int:
    return round(seconds * 1000 / features.FRAME_MS)


def _fit(pairs: list[_Pair], speech_seconds: float) -> VoiceProfile:
    piper_span = sum(_speech_span(p.piper) for p in pairs)
    target_span = sum(_speech_span(p.target) for p in pairs)
    length_scale = float(np.clip(target_span / max(piper_span, 1), *RATE_BOUNDS))

    piper_sp, target_coded = _aligned_frames(pairs)
    if len(piper_sp) < MIN_PAIRS:
        raise InputError("too little clear speech could be matched to its transcript; record more, in a quiet room")
    warp = fit_warp(piper_sp, target_coded)
    keys = features.encode(warp_envelope(piper_sp, warp))
    deltas = target_coded - keys
    if len(keys) > MAX_PAIRS:
        keep = np.linspace(0, len(keys) - 1, MAX_PAIRS).astype(int)
        keys, deltas = keys[keep], deltas[keep]
    return VoiceProfile(
        length_scale=length_scale,
        warp=warp,
        knn_keys=keys[:, 1:].astype(np.float16),
        knn_deltas=deltas[:, 1:].astype(np.float16),
        knn_k=KNN_K,
        speaker_f0_hz=_median_f0([p.target for p in pairs]),
        piper_f0_hz=_median_f0([p.piper for p in pairs]),
        speech_seconds=speech_seconds,
    )


def _speech_span(frames: features.Frames) -> int:
    """Frames from the first to the last loud frame: the phrase's duration without edge silence.

    Counting voiced or loud frames instead misjudged creaky voices (few voiced frames) and
    noisy recordings (pauses above the floor); a span only depends on where speech starts
    and ends, and both renditions hold the same words.
    """
    loud = np.flatnonzero(features.speech_mask(frames, floor_db=25.0))
    return int(loud[-1] - loud[0] + 1) if len(loud) else 0


def _median_f0(frames: list[features.Frames]) -> float:
    f0 = np.concatenate([f.f0 for f in frames])
    return float(np.median(f0[f0 > 0]))


def _aligned_frames(pairs: list[_Pair]) -> tuple[np.ndarray, np.ndarray]:
    """Piper's envelopes and the speaker's coded envelopes on DTW-matched speech frames."""
    piper_sp: list[np.ndarray] = []
    target_coded: list[np.ndarray] = []
    for p in pairs:
        t_sp, p_sp = p.target.sp[::DECIMATE], p.piper.sp[::DECIMATE]
        t_coded, p_coded = features.encode(t_sp), features.encode(p_sp)
        t_mask = features.speech_mask(p.target)[::DECIMATE]
        p_mask = features.speech_mask(p.piper)[::DECIMATE]
        it, ip = dtw_path(t_coded[:, 1:], p_coded[:, 1:])
        keep = t_mask[it] & p_mask[ip]
        piper_sp.append(p_sp[ip[keep]])
        target_coded.append(t_coded[it[keep]])
    return np.concatenate(piper_sp), np.concatenate(target_coded)
