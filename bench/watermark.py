"""The watermark table: detection after each transformation, false positives, DNSMOS cost, embed time.

Marked clips: every sentence below spoken by the local engine (Piper converted to two enrolled
voices: speakers 1998 and 2609), plus the 40 real recordings in ../shared/voices/librispeech.
Unmarked clips: the same audio before embedding. Every clip goes through each transformation:
- none;
- MP3 from the product's own encoder (`encode(audio, "mp3")`, libsndfile/LAME, about 60 kbit/s VBR
  at 22.05 kHz);
- MP3 at 128 kbit/s CBR;
- resampling to 16 kHz;
- 5 % faster and 5 % slower (polyphase resampling, so pitch moves with the speed).
The detector is then run on each.
DNSMOS (P.835 overall) is scored on each clip before and after embedding. Embed time is measured
against the time the engine took to make the same sentence. Writes bench/results/watermark.json.

    nice .venv/bin/python bench/watermark.py            # about 20 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import subprocess
import time
from pathlib import Path

import numpy as np
import soundfile

from voice_avatar import watermark
from voice_avatar.audio import Audio, load_audio, resample
from voice_avatar.audio.encode import encode
from voice_avatar.engines.local import LocalCloneEngine, fit_profile
from voice_avatar.quality.dnsmos import dnsmos

ROOT = Path(__file__).resolve().parents[1]
VOICES = ROOT.parent / "shared" / "voices" / "librispeech"
SENTENCES = [
    "Thank you very much.",
    "See you tomorrow.",
    "The meeting is at noon.",
    "Your order has shipped.",
    "Please call me back when you get this message.",
    "I will be about ten minutes late, sorry about that.",
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "Please remember to bring your notebook to the meeting tomorrow morning.",
    "Your package will arrive on Thursday between nine and eleven.",
    "I am sorry, but the store is closed for the holiday weekend.",
    "Thank you for calling, how can I help you today?",
    "The weather will be sunny with a light breeze in the afternoon.",
    "We have moved your appointment to half past four.",
    "Could you please confirm your email address before we continue?",
    "Dinner is ready, so come downstairs when you are finished.",
    "The train to Boston leaves from platform seven in ten minutes.",
    "Happy birthday! I hope you have a wonderful day with your family.",
    "Remember that the library closes early on Fridays during the summer.",
    "Your prescription is ready for pickup at the pharmacy on Main Street.",
    "The presentation went well, and the client wants a follow up next week.",
    "Please do not forget to water the plants while I am away.",
    "The flight has been delayed by forty five minutes because of the fog.",
    "Good morning, here is your briefing for today.",
    "Traffic on the highway is heavy, so leave a little earlier than usual.",
    "I found your keys on the kitchen table, next to the fruit bowl.",
    "The concert starts at eight, and the doors open an hour before.",
    "Let me know if you need anything else from the shop.",
    "The report is due on Monday, but an early draft would help a lot.",
    "Your subscription will renew automatically at the end of the month.",
    "It was great to see you at the conference last week.",
    "The children have a dentist appointment after school on Wednesday.",
    "Once upon a time, in a small village by the sea, there lived an old fisherman who told wonderful stories.",
]
TRANSFORMS = ("none", "mp3", "mp3_128k_cbr", "resample_16k", "speed_+5%", "speed_-5%")
SETTINGS = ("TILE", "N_BANDS", "F_LO", "F_HI", "PERIOD", "SYNC_TARGET", "PAYLOAD_TARGET", "MIN_DB", "MAX_DB")
DECOYS = ["0" * 32, "5ca1ab1e" * 4, "deadbeef" * 4]


def transform(audio: Audio, name: str) -> Audio:
    if name == "none":
        return audio
    if name == "mp3":
        return load_audio(encode(audio, "mp3"))
    if name == "mp3_128k_cbr":
        buffer = io.BytesIO()
        level = (160 - 128) / (160 - 8) if audio.sample_rate < 32_000 else (320 - 128) / (320 - 32)
        soundfile.write(
            buffer,
            np.clip(audio.samples, -1, 1),
            audio.sample_rate,
            format="MP3",
            subtype="MPEG_LAYER_III",
            bitrate_mode="CONSTANT",
            compression_level=level,
        )
        return load_audio(buffer.getvalue())
    if name == "resample_16k":
        return audio.at_rate(16_000)
    factor = {"speed_+5%": 1.05, "speed_-5%": 0.95}[name]  # played faster: fewer samples at the same rate
    return Audio(resample(audio.samples, round(factor * 1000), 1000), audio.sample_rate)


def make_clips(quick: bool = False) -> list[dict]:
    engine = LocalCloneEngine()
    clips = []
    avatars = (("1998", "1998a0b1c2d3e4f5a6b7c8d9e0f1a2b3"), ("2609", "2609f0e1d2c3b4a5968778695a4b3c2d"))
    for speaker, avatar_id in avatars[:1] if quick else avatars:
        paths = sorted((VOICES / speaker).glob("*.flac"))
        profile = fit_profile([load_audio(p) for p in paths[:3]])
        for sentence in SENTENCES[::8] if quick else SENTENCES:
            started = time.perf_counter()
            plain = engine._converted(sentence, profile, 1.0)  # what synthesize_sentence marks
            seconds = time.perf_counter() - started
            started = time.perf_counter()  # timed right after, under the same load
            marked = watermark.embed(plain, watermark.Payload.for_avatar(avatar_id))
            embed_seconds = time.perf_counter() - started
            clips.append(
                {
                    "kind": "piper",
                    "name": f"{speaker}: {sentence}",
                    "avatar": avatar_id,
                    "plain": plain,
                    "synthesis_seconds": seconds,
                    "marked": marked,
                    "embed_seconds": embed_seconds,
                }
            )
    for path in sorted(VOICES.glob("*/*.flac"))[:: 10 if quick else 1]:
        avatar_id = hashlib.md5(path.name.encode()).hexdigest()  # a stand-in avatar id per recording
        clips.append(
            {
                "kind": "real",
                "name": path.name,
                "avatar": avatar_id,
                "plain": load_audio(path),
                "synthesis_seconds": None,
            }
        )
    return clips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "bench/results/watermark.json"))
    parser.add_argument("--no-dnsmos", action="store_true", help="skip the (slow) DNSMOS scoring")
    parser.add_argument("--quick", action="store_true", help="a few clips only, to try the script")
    args = parser.parse_args()

    clips = make_clips(args.quick)
    candidates = sorted({c["avatar"] for c in clips if c["kind"] == "piper"}) + DECOYS
    for clip in clips:
        if "marked" not in clip:
            started = time.perf_counter()
            clip["marked"] = watermark.embed(clip["plain"], watermark.Payload.for_avatar(clip["avatar"]))
            clip["embed_seconds"] = time.perf_counter() - started
        if not args.no_dnsmos:
            before = dnsmos(clip["plain"].samples, clip["plain"].sample_rate)["ovrl"]
            after = dnsmos(clip["marked"].samples, clip["marked"].sample_rate)["ovrl"]
            clip["dnsmos"] = (before, after)
        print(
            f"{clip['kind']:5s} {clip['plain'].duration:5.1f}s embedded in {clip['embed_seconds'] * 1000:4.0f} ms "
            f"dnsmos {clip.get('dnsmos')}",
            flush=True,
        )

    table = []
    for name in TRANSFORMS:
        hits = decoded = named = false = false_real = 0
        marked_scores, plain_scores, seconds = [], [], []
        for clip in clips:
            ids = [*candidates, clip["avatar"]] if clip["kind"] == "real" else candidates
            started = time.perf_counter()
            found = watermark.detect(transform(clip["marked"], name), avatar_ids=ids)
            seconds.append(time.perf_counter() - started)
            hits += found.found
            decoded += found.payload == watermark.Payload.for_avatar(clip["avatar"])
            named += found.avatar_id == clip["avatar"]
            marked_scores.append(found.score)
            unmarked = watermark.detect(transform(clip["plain"], name))
            false += unmarked.found
            false_real += unmarked.found and clip["kind"] == "real"
            plain_scores.append(unmarked.score)
        row = {
            "transformation": name,
            "marked_clips": len(clips),
            "detection_rate": hits / len(clips),
            "avatar_confirmed_rate": named / len(clips),
            "payload_decoded_blind_rate": decoded / len(clips),
            "unmarked_clips": len(clips),
            "false_positive_rate": false / len(clips),
            "false_positives_on_real_recordings": false_real,
            "min_marked_score": round(min(marked_scores), 2),
            "max_unmarked_score": round(max(plain_scores), 2),
            "detect_seconds_mean": round(float(np.mean(seconds)), 3),
        }
        table.append(row)
        print(json.dumps(row), flush=True)

    piper = [c for c in clips if c["kind"] == "piper"]
    result = {
        "git_sha": _git_sha(),
        "scheme": "tile-level spread spectrum, informed embedding (voice_avatar/watermark.py)",
        "settings": {k: getattr(watermark, k) for k in SETTINGS},
        "clips": {
            "piper_sentences": len(piper),
            "real_recordings": len(clips) - len(piper),
            "seconds_mean": round(float(np.mean([c["plain"].duration for c in clips])), 2),
            "piper_seconds_range": [
                round(min(c["plain"].duration for c in piper), 2),
                round(max(c["plain"].duration for c in piper), 2),
            ],
        },
        "table": table,
        "embed": {
            "ms_mean_piper": round(1000 * float(np.mean([c["embed_seconds"] for c in piper])), 1),
            "share_of_synthesis_time_mean": round(
                float(np.mean([c["embed_seconds"] / c["synthesis_seconds"] for c in piper])), 4
            ),
            "share_of_synthesis_time_median": round(
                float(np.median([c["embed_seconds"] / c["synthesis_seconds"] for c in piper])), 4
            ),
            "share_of_synthesis_time_max": round(
                float(np.max([c["embed_seconds"] / c["synthesis_seconds"] for c in piper])), 4
            ),
        },
    }
    if not args.no_dnsmos:
        drops = np.array([c["dnsmos"][0] - c["dnsmos"][1] for c in clips])
        result["dnsmos_ovrl"] = {
            "before_mean": round(float(np.mean([c["dnsmos"][0] for c in clips])), 3),
            "after_mean": round(float(np.mean([c["dnsmos"][1] for c in clips])), 3),
            "drop_mean": round(float(drops.mean()), 4),
            "drop_mean_piper": round(float(drops[: len(piper)].mean()), 4),
            "drop_mean_real": round(float(drops[len(piper) :].mean()), 4),
            "drop_max": round(float(drops.max()), 3),
        }
    result["passes"] = {
        "detection_rate_each_transformation_>=_0.99": all(r["detection_rate"] >= 0.99 for r in table),
        "false_positive_rate_<_0.01": all(r["false_positive_rate"] < 0.01 for r in table),
        "dnsmos_drop_<=_0.05": None if args.no_dnsmos else result["dnsmos_ovrl"]["drop_mean"] <= 0.05,
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("embed", "passes")} | {"dnsmos": result.get("dnsmos_ovrl")}, indent=2))


def _git_sha() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


if __name__ == "__main__":
    main()
