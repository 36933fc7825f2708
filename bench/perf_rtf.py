"""Real-time factor of the local clone engine against raw Piper on the same texts, same process.

Fits one dev speaker's profile (as enrollment does), then says each text with
`LocalCloneEngine.synthesize` (Piper at the speaker's pace, then the fitted filter) and with
`synthesize_raw` (stock Piper `joe`, sentence by sentence, same gaps), interleaved so both see
the same machine load. RTF = seconds of compute / seconds of audio; the clone's audio can be
longer or shorter than Piper's (the profile sets the pace), which RTF accounts for. CPU time is
given too (both use onnxruntime's threads), as it moves less with other jobs' load.
Target: clone RTF <= 1.5x raw Piper's.

    nice .venv/bin/python bench/perf_rtf.py [--reps 3]   # writes bench/results/perf_rtf.json
"""

from __future__ import annotations

import argparse
import statistics
import time
from functools import partial

from perf_common import SAMPLES, git_sha, loadavg, machine, write_result

from voice_avatar.audio import load_audio
from voice_avatar.engines import piper_voice
from voice_avatar.engines.local import LocalCloneEngine, fit_profile
from voice_avatar.engines.local.engine import convert
from voice_avatar.text import normalize_for_speech, split_sentences

TEXTS = (
    "Done.",
    "Your meeting with the design team has been moved to four fifteen.",
    "Don't forget to call your sister, it's her birthday today.",
    "Your balance is $1,284.50 after today's payment of $49.99.",
    "Good morning, here is your briefing for today. Your meeting with the design team has been moved to four "
    "fifteen. Don't forget to call your sister, it's her birthday. It looks like rain later, so take an umbrella.",
    "The package should arrive on Thursday between 9 AM and noon. If nobody is home, the driver will leave it "
    "with your neighbour at number 12, who said that would be fine. You can change the delivery in the app "
    "until 8 PM tonight. The store also sent a coupon for 15% off your next order, valid until the end of March.",
)
TARGET_RATIO = 1.5


def _timed(call) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = call()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def _paced(sentences: list[str], length_scale: float) -> list:
    return [piper_voice.synthesize(s, length_scale=length_scale) for s in sentences]


def _convert_all(parts: list, profile) -> list:
    return [convert(a, profile) for a in parts]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    result = {"benchmark": "perf_rtf", "git_sha": git_sha(), **machine()}
    fit_s, _, profile = _timed(lambda: fit_profile([load_audio(p, 16000) for p in SAMPLES]))
    result["fit_profile_s"] = round(fit_s, 1)
    engine = LocalCloneEngine()
    engine.synthesize("Warming up the models.", profile)
    result["loadavg_before"] = loadavg()
    rows = []
    for text in TEXTS:
        spoken = normalize_for_speech(text)
        sentences = split_sentences(spoken)
        runs: dict[str, list[tuple[float, float]]] = {"raw": [], "clone": [], "piper_at_profile_pace": []}
        audio = {}
        for _ in range(args.reps):
            wall, cpu, raw = _timed(partial(engine.synthesize_raw, spoken))
            runs["raw"].append((wall, cpu))
            wall, cpu, clone = _timed(partial(engine.synthesize, spoken, profile))
            runs["clone"].append((wall, cpu))
            # The clone's two stages apart: Piper at the profile's pace, then the filter (convert).
            wall, cpu, paced = _timed(partial(_paced, sentences, profile.length_scale))
            runs["piper_at_profile_pace"].append((wall, cpu))
            audio = {"raw": raw.duration, "clone": clone.duration}
        convert_s = statistics.median(_timed(partial(_convert_all, paced, profile))[0] for _ in range(args.reps))
        row = {"text": text, "chars": len(spoken), "audio_s": {k: round(v, 2) for k, v in audio.items()}}
        for name in ("raw", "clone"):
            wall = statistics.median(w for w, _ in runs[name])
            cpu = statistics.median(c for _, c in runs[name])
            row[name] = {
                "wall_s": round(wall, 4),
                "cpu_s": round(cpu, 4),
                "rtf": round(wall / audio[name], 4),
                "cpu_rtf": round(cpu / audio[name], 4),
            }
        paced_s = statistics.median(w for w, _ in runs["piper_at_profile_pace"])
        row["clone_stages_wall_s"] = {
            "piper_at_profile_pace": round(paced_s, 4),
            "convert": round(convert_s, 4),
            "rest": round(row["clone"]["wall_s"] - paced_s - convert_s, 4),  # joining, watermarking if any
        }
        row["rtf_ratio"] = round(row["clone"]["rtf"] / row["raw"]["rtf"], 2)
        row["cpu_rtf_ratio"] = round(row["clone"]["cpu_rtf"] / row["raw"]["cpu_rtf"], 2)
        rows.append(row)
        print(
            f"{len(spoken):4d} chars: raw RTF {row['raw']['rtf']:.3f}, clone RTF {row['clone']['rtf']:.3f} "
            f"({row['rtf_ratio']}x wall, {row['cpu_rtf_ratio']}x CPU); stages {row['clone_stages_wall_s']}",
            flush=True,
        )
    result["loadavg_after"] = loadavg()

    def pooled(name: str, key: str) -> float:  # total compute over total audio, all texts
        return sum(r[name][key] for r in rows) / sum(r["audio_s"][name] for r in rows)

    summary = {
        "raw_piper_rtf": round(pooled("raw", "wall_s"), 4),
        "clone_rtf": round(pooled("clone", "wall_s"), 4),
        "ratio": round(pooled("clone", "wall_s") / pooled("raw", "wall_s"), 2),
        "raw_piper_cpu_rtf": round(pooled("raw", "cpu_s"), 4),
        "clone_cpu_rtf": round(pooled("clone", "cpu_s"), 4),
        "cpu_ratio": round(pooled("clone", "cpu_s") / pooled("raw", "cpu_s"), 2),
        "median_per_text_ratio": statistics.median(r["rtf_ratio"] for r in rows),
        "convert_share_of_clone_wall": round(
            sum(r["clone_stages_wall_s"]["convert"] for r in rows) / sum(r["clone"]["wall_s"] for r in rows), 2
        ),
        "target_ratio": TARGET_RATIO,
    }
    summary["meets_target"] = summary["ratio"] <= TARGET_RATIO
    result.update(summary=summary, rows=rows)
    path = write_result("perf_rtf", result)
    print(summary)
    print(f"load {result['loadavg_before']} -> {result['loadavg_after']}; wrote {path}")


if __name__ == "__main__":
    main()
