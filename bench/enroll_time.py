"""Enrollment time against sample length on this machine (the bar: 60 s of audio in under 60 s).

Each dev speaker's clips are joined (and cycled where a speaker has less audio than asked) and
cut to 10, 30, 60 and 120 s; `fit_profile` is timed on each. Writes
bench/results/enroll_time.json.

    .venv/bin/python bench/enroll_time.py
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import numpy as np

from voice_avatar.audio import Audio, load_audio
from voice_avatar.engines.local import fit_profile

ROOT = Path(__file__).resolve().parents[1]
VOICES = ROOT.parent / "shared" / "voices" / "librispeech"
LENGTHS = (10, 30, 60, 120)
RATE = 16000


def _speaker_audio(speaker: str, seconds: int) -> Audio:
    joined = np.concatenate([load_audio(p, RATE).samples for p in sorted((VOICES / speaker).glob("*.flac"))])
    repeats = int(np.ceil(seconds * RATE / len(joined)))
    return Audio(np.tile(joined, repeats)[: seconds * RATE], RATE)


def main() -> None:
    fit_profile([_speaker_audio("2033", 10)])  # load the models once, outside the timings
    rows = []
    for speaker in sorted(p.name for p in VOICES.iterdir() if p.is_dir()):
        for seconds in LENGTHS:
            audio = _speaker_audio(speaker, seconds)
            started = time.perf_counter()
            profile = fit_profile([audio])
            elapsed = time.perf_counter() - started
            rows.append({"speaker": speaker, "audio_seconds": seconds, "speech_seconds": round(profile.speech_seconds, 1),
                         "enroll_seconds": round(elapsed, 2)})
            print(f"{speaker} {seconds:4d} s of audio -> enrolled in {elapsed:5.1f} s")
    summary = {str(s): round(max(r["enroll_seconds"] for r in rows if r["audio_seconds"] == s), 2) for s in LENGTHS}
    print("worst enrollment time by sample length:", summary)
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()
    result = {"benchmark": "enroll_time", "git_sha": sha or None, "cpus": os.cpu_count(), "worst_by_length": summary, "rows": rows}
    (ROOT / "bench/results/enroll_time.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
