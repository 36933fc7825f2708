"""How long validating a 30 s sample takes (the quality gate's speed bar: under 5 s on 2 cores).

For each dev speaker, clips are joined to 30 s and `check_sample` is timed twice in one process:
`cold` includes loading the VAD, the speaker encoder and pyloudnorm (a fresh CLI run);
`warm` is what the service's worker pays per sample. Prompt matching (ASR) is timed separately,
since it runs only when a prompt is given.

    .venv/bin/python bench/validate_time.py        # writes bench/results/validate_time.json
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from voice_avatar.audio import Audio, load_audio
from voice_avatar.quality.sample_checks import check_sample

ROOT = Path(__file__).resolve().parents[1]
VOICES = ROOT.parent / "shared" / "voices" / "librispeech"
OUT = ROOT / "bench" / "results" / "validate_time.json"
SECONDS = 30.0


def thirty_seconds(speaker: str) -> Audio:
    clips = [load_audio(p, 16000).samples for p in sorted((VOICES / speaker).glob("*.flac"))]
    joined = np.concatenate(clips)[: int(SECONDS * 16000)]
    return Audio(joined, 16000)


def timed(fn) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def main() -> None:
    rows = []
    for index, speaker in enumerate(sorted(p.name for p in VOICES.iterdir() if p.is_dir())):
        sample = thirty_seconds(speaker)
        cold, _ = timed(lambda: check_sample([sample]))
        warm, report = timed(lambda: check_sample([sample]))
        prompt, _ = timed(lambda: check_sample([sample], prompt="a text the person was asked to read"))
        rows.append(
            {
                "speaker": speaker,
                "seconds_of_audio": round(sample.duration, 1),
                "cold_s": round(cold, 2) if index == 0 else None,
                "warm_s": round(warm, 2),
                "with_prompt_s": round(prompt, 2),
                "ok": report.ok,
            }
        )
        print(rows[-1], flush=True)
    result = {
        "cores": os.cpu_count(),
        "bar_s": 5.0,
        "worst_warm_s": max(r["warm_s"] for r in rows),
        "worst_with_prompt_s": max(r["with_prompt_s"] for r in rows),
        "cold_s": rows[0]["cold_s"],
        "rows": rows,
    }
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}))


if __name__ == "__main__":
    main()
