"""Calibrate the sample checks on real speech and on degraded copies of it.

For every dev speaker in ../shared/voices/librispeech: the clean sample (clips 0-4 and, as a
second sample, clips 5-9) must pass; each degraded copy must fail, on the check named for its
kind. Writes bench/results/sample_checks.json and prints the table.

    .venv/bin/python bench/sample_checks.py
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

from voice_avatar.audio import Audio, load_audio
from voice_avatar.quality.degrade import degradations, joined
from voice_avatar.quality.sample_checks import Thresholds, check_sample

ROOT = Path(__file__).resolve().parents[1]
VOICES = ROOT.parent / "shared" / "voices" / "librispeech"
RATE = 16000


def _speaker_clips(speaker: str) -> list[Audio]:
    return [load_audio(p, RATE) for p in sorted((VOICES / speaker).glob("*.flac"))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "bench/results/sample_checks.json"))
    args = parser.parse_args()
    speakers = sorted(p.name for p in VOICES.iterdir() if p.is_dir())
    clips = {s: _speaker_clips(s) for s in speakers}
    thresholds = Thresholds()
    rows = []
    for index, speaker in enumerate(speakers):
        other = clips[speakers[(index + 1) % len(speakers)]]
        cases = {
            "clean_clips_0-4": ("", lambda s=speaker: joined(clips[s][:5])),
            "clean_clips_5-9": ("", lambda s=speaker: joined(clips[s][5:])),
            **degradations(clips[speaker], other, seed=index),
        }
        for kind, (expected, make) in cases.items():
            audio = make()
            started = time.perf_counter()
            report = check_sample([audio], thresholds)
            seconds = time.perf_counter() - started
            fired = report.failed()
            correct = (not fired) if not expected else (expected in fired)
            rows.append(
                {
                    "speaker": speaker,
                    "kind": kind,
                    "expected": expected or "pass",
                    "fired": fired,
                    "correct": correct,
                    "values": {c.name: c.value for c in report.checks},
                    "seconds_of_audio": round(audio.duration, 1),
                    "check_seconds": round(seconds, 2),
                }
            )
            print(
                f"{speaker} {kind:22s} expect {expected or 'pass':16s} fired {','.join(fired) or '-':30s} "
                f"{'ok' if correct else 'WRONG'}  {rows[-1]['values']}"
            )
    clean_rejected = sum(1 for r in rows if r["expected"] == "pass" and r["fired"])
    degraded_accepted = sum(1 for r in rows if r["expected"] != "pass" and not r["fired"])
    wrong_check = sum(1 for r in rows if r["expected"] != "pass" and r["fired"] and not r["correct"])
    summary = {
        "clean_samples": sum(1 for r in rows if r["expected"] == "pass"),
        "clean_rejected": clean_rejected,
        "degraded_samples": sum(1 for r in rows if r["expected"] != "pass"),
        "degraded_accepted": degraded_accepted,
        "degraded_wrong_check": wrong_check,
    }
    print(json.dumps(summary))
    result = {
        "benchmark": "sample_checks",
        "git_sha": _git_sha(),
        "thresholds": thresholds.__dict__,
        "summary": summary,
        "rows": rows,
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


def _git_sha() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return "unknown"


if __name__ == "__main__":
    main()
