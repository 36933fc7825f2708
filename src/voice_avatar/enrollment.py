"""Turn a person's recordings into an avatar: keep the inputs, validate, check consent, fit, gate.

The work is split where the service splits it: `add_inputs` runs in the API process (it only
stores the uploads with a `pending` avatar), `fit_avatar` runs in a worker, possibly another
process, reading everything back from the store. The CLI calls both in turn (`enroll`).

Input that can never make an avatar (unfit sample, failed consent) raises `InputError`; an
avatar that was made but fails the clone gate is saved as `rejected` with its scores, so the
person can see why and record again.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from voice_avatar.audio import Audio, load_audio
from voice_avatar.engines.local import LocalCloneEngine, VoiceProfile, fit_profile
from voice_avatar.errors import InputError
from voice_avatar.quality.clone_gate import GateThresholds, judge, score_clone
from voice_avatar.quality.consent import code_of, sample_embedding, verify_consent
from voice_avatar.quality.sample_checks import SampleReport, Thresholds, check_sample
from voice_avatar.store import AvatarRecord, AvatarStore

PROFILE_FILE = "profile.npz"
Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class Upload:
    """One uploaded file: its original name (for the format) and its bytes."""

    filename: str
    data: bytes

    @classmethod
    def from_path(cls, path: str | Path) -> Upload:
        try:
            return cls(Path(path).name, Path(path).read_bytes())
        except FileNotFoundError:
            raise InputError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise InputError(f"{path}: is a folder, not an audio file") from None


@dataclass(frozen=True)
class EnrollOptions:
    """What an enrollment is held to: the tier's sample bars, consent, and the clone gate."""

    sample_thresholds: Thresholds = field(default_factory=Thresholds)
    gate: GateThresholds | None = None
    require_consent: bool = False


def enroll(
    store: AvatarStore,
    name: str,
    samples: Sequence[Upload],
    progress: Progress | None = None,
    options: EnrollOptions = EnrollOptions(),
    consent: Upload | None = None,
    phrase: str | None = None,
) -> AvatarRecord:
    """Make an avatar in this process (the CLI); a refusal or a crash stores nothing."""
    store.ensure_name_free(name)
    require_consent_input(options, consent)
    for upload in [*samples, *([consent] if consent else [])]:
        load_audio(upload.data, name=upload.filename)  # unreadable input is refused before anything is stored
    record = store.create(name, engine="local")
    try:
        add_inputs(store, record, samples, consent, phrase, code_of(phrase) if phrase else None)
        return fit_avatar(store, record.id, options, progress)
    except BaseException:
        store.delete(record.id)
        raise


def require_consent_input(options: EnrollOptions, consent: Upload | None) -> None:
    if options.require_consent and consent is None:
        raise InputError("a consent recording is required: read the phrase from `voice-avatar consent-phrase` aloud")


def add_inputs(
    store: AvatarStore,
    record: AvatarRecord,
    samples: Sequence[Upload],
    consent: Upload | None = None,
    phrase: str | None = None,
    code: str | None = None,
) -> AvatarRecord:
    """Keep the uploads with the pending avatar, where a worker in any process can read them."""
    if consent is not None and not phrase:
        raise InputError("a consent recording needs the phrase it says")
    record.samples = [
        store.put_blob(record, f"samples/sample-{i}{_safe_suffix(u.filename)}", u.data)
        for i, u in enumerate(samples, start=1)
    ]
    if consent is not None:
        key = store.put_blob(record, "consent" + _safe_suffix(consent.filename), consent.data)
        record.consent = {"file": key, "phrase": phrase, "code": code}
    store.save(record)
    return record


def fit_avatar(
    store: AvatarStore,
    avatar_id: str,
    options: EnrollOptions,
    progress: Progress | None = None,
    final_stage: str = "done",
) -> AvatarRecord:
    """Validate, check consent, fit and gate a pending avatar whose inputs are stored.

    `final_stage` is what the record says once its status is decided (the service follows a
    ready avatar with pre-generation, and says so).
    """
    report = progress or (lambda _fraction, _stage: None)
    record = store.get(avatar_id)
    samples = [load_audio(store.blobs.get(key), name=key.rsplit("/", 1)[-1]) for key in record.samples]
    # Checks first, with no progress shown: a refusal stays one clear line (the CLI's bar starts at the first report).
    _refuse_unfit(check_sample(samples, options.sample_thresholds))
    reference = sample_embedding(samples)
    if record.consent:
        record.consent = _verified_consent(store, record.consent, reference)
    elif options.require_consent:
        raise InputError("a consent recording is required for this enrollment")
    report(0.1, "fitting")

    profile = fit_profile(samples, progress=lambda f, stage: report(0.1 + 0.7 * f, stage))
    store.put_blob(record, PROFILE_FILE, profile.to_bytes())
    record.sample_seconds = round(sum(s.duration for s in samples), 2)
    record.speech_seconds = round(profile.speech_seconds, 2)
    record.status = "ready"
    if options.gate is not None:
        report(0.8, "testing the avatar")
        _gate(record, profile, reference, options.gate)
    record.progress, record.stage = 1.0, final_stage if record.status == "ready" else "done"
    store.save(record)
    report(1.0, record.stage)
    return record


def load_profile(store: AvatarStore, record: AvatarRecord) -> VoiceProfile:
    return VoiceProfile.from_bytes(store.get_blob(record, PROFILE_FILE), name=f"avatar {record.name!r} profile")


def _refuse_unfit(report: SampleReport) -> None:
    if not report.ok:
        failed = [c for c in report.checks if not c.passed]
        details = "; ".join(f"{c.name} {c.value} (needs {c.threshold})" for c in failed)
        raise InputError(f"the sample is not fit for cloning: {details}. {' '.join(report.advice)}")


def _verified_consent(store: AvatarStore, consent: dict, reference: np.ndarray) -> dict:
    audio: Audio = load_audio(store.blobs.get(consent["file"]), name="consent recording")
    result = verify_consent(audio, consent["phrase"], reference, code=consent.get("code"))
    if not result.accepted:
        raise InputError("consent refused: " + "; ".join(result.reasons))
    return {**consent, "heard": result.heard, "voice_similarity": result.voice_similarity}


def _gate(record: AvatarRecord, profile: VoiceProfile, reference: np.ndarray, bars: GateThresholds) -> None:
    engine = LocalCloneEngine()
    scores = score_clone(lambda text: engine.synthesize(text, profile), reference, speak_stock=engine.synthesize_raw)
    verdict = judge(scores, bars)
    record.scores, record.advice = verdict.scores, verdict.advice + verdict.reasons
    record.status = "ready" if verdict.passed else "rejected"


def _safe_suffix(filename: str) -> str:
    suffix = Path(filename).suffix.lower()
    return suffix if re.fullmatch(r"\.[a-z0-9]{1,5}", suffix) else ".audio"
