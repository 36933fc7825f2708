"""Clone-gate calibration: the gate's scores for good avatars and for avatars that should fail.

For each dev speaker in ../shared/voices/librispeech, the local engine is fitted on
  clean      clips 0-4 as recorded, scored against those clips (a good avatar)
  noisy      clips 0-4 with white noise at 0 dB and 5 dB SNR, scored against that noisy sample
             (the sample checks would refuse it; the gate must too, if it ever gets through)
  mismatch   the clean profile of the *next* speaker, scored against this speaker's sample
             (an avatar that does not sound like its person)
The gate's thresholds for the local engine (settings `clone_gate`) are set from this table.

    .venv/bin/python bench/clone_gate.py            # writes bench/results/clone_gate.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from voice_avatar.audio import load_audio
from voice_avatar.engines.local import LocalCloneEngine, fit_profile
from voice_avatar.errors import InputError
from voice_avatar.quality.clone_gate import judge, score_clone
from voice_avatar.quality.consent import sample_embedding
from voice_avatar.quality.degrade import degradations
from voice_avatar.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
VOICES = ROOT.parent / "shared" / "voices" / "librispeech"
DEFAULT_OUT = ROOT / "bench" / "results" / "clone_gate.json"
SPEAKERS = ("1998", "2033", "2609", "3331")


def clips(speaker: str):
    return [load_audio(p, 16000) for p in sorted((VOICES / speaker).glob("*.flac"))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    thresholds = Settings().gate_thresholds("local")
    engine = LocalCloneEngine()
    enrollment = {s: clips(s)[:5] for s in SPEAKERS}
    profiles = {s: fit_profile(enrollment[s]) for s in SPEAKERS}
    rows = []

    def row(speaker: str, case: str, profile, reference_clips) -> None:
        started = time.perf_counter()
        scores = score_clone(
            lambda text: engine.synthesize(text, profile),
            sample_embedding(reference_clips),
            speak_stock=engine.synthesize_raw,
        )
        result = judge(scores, thresholds)
        rows.append(
            {
                "speaker": speaker,
                "case": case,
                **scores,
                "passed": result.passed,
                "reasons": result.reasons,
                "seconds": round(time.perf_counter() - started, 1),
            }
        )
        print(rows[-1], flush=True)

    for i, speaker in enumerate(SPEAKERS):
        row(speaker, "clean", profiles[speaker], enrollment[speaker])
        row(speaker, "mismatch", profiles[SPEAKERS[(i + 1) % len(SPEAKERS)]], enrollment[speaker])
        other = enrollment[SPEAKERS[(i + 1) % len(SPEAKERS)]]
        for kind in ("noise_0db", "noise_5db"):
            noisy = degradations(enrollment[speaker], other, seed=i)[kind][1]()
            try:
                profile = fit_profile([noisy])
            except InputError as refused:  # enrollment itself gave up: no avatar to gate
                rows.append({"speaker": speaker, "case": kind, "passed": False, "reasons": [f"fit refused: {refused}"]})
                print(rows[-1], flush=True)
                continue
            row(speaker, kind, profile, [noisy])

    summary = {
        case: {
            "passed": sum(r["passed"] for r in rows if r["case"] == case),
            "of": sum(r["case"] == case for r in rows),
        }
        for case in ("clean", "mismatch", "noise_0db", "noise_5db")
    }
    result = {"thresholds": thresholds.__dict__, "summary": summary, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
