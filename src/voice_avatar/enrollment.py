"""Turn a person's recordings into a stored avatar on the local engine.

Shared by the CLI and (later) the service's worker, so both refuse the same input the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

from voice_avatar.audio import load_audio
from voice_avatar.engines.local import fit_profile
from voice_avatar.store import AvatarRecord, AvatarStore

PROFILE_FILE = "profile.npz"
Progress = Callable[[float, str], None]


def enroll(
    store: AvatarStore,
    name: str,
    sample_paths: Sequence[str | Path],
    progress: Progress | None = None,
) -> AvatarRecord:
    """Validate the input, fit a voice profile and publish the avatar only if all of it worked."""
    store.ensure_name_free(name)
    report = progress or (lambda _fraction, _stage: None)
    samples = [load_audio(path) for path in sample_paths]
    with store.creating(name, engine="local") as (record, folder):
        profile = fit_profile(samples, progress=lambda f, stage: report(0.02 + 0.96 * f, stage))
        profile.save(folder / PROFILE_FILE)
        record.samples = _keep_samples(sample_paths, folder / "samples")
        record.sample_seconds = round(sum(s.duration for s in samples), 2)
        record.speech_seconds = round(profile.speech_seconds, 2)
        record.status = "ready"
    report(1.0, "done")
    return record


def _keep_samples(paths: Sequence[str | Path], folder: Path) -> list[str]:
    """Copy the original files (the user's consent to keep them is the enrollment itself)."""
    folder.mkdir(parents=True, exist_ok=True)
    kept = []
    for index, path in enumerate(paths, start=1):
        suffix = Path(path).suffix.lower()
        suffix = suffix if re.fullmatch(r"\.[a-z0-9]{1,5}", suffix) else ".audio"
        target = folder / f"sample-{index}{suffix}"
        target.write_bytes(Path(path).read_bytes())
        kept.append(target.name)
    return kept
