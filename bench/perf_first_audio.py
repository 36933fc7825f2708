"""Time to first audio of a streamed message, against raw Piper saying only the first sentence.

Starts the service in this process (embedded mode, real uvicorn on loopback), enrolls one dev
speaker through the API (then moves the user to premium: unlimited messages), then streams
4-sentence messages (`POST /v1/avatars/{id}/speech`, `stream: true`, pcm). Every repetition
changes the last sentence, so each is a cache miss with the same first sentence. In the same
loop, interleaved so all see the same machine load, it times the reference:
`piper_voice.synthesize` of the message's first sentence (stock voice, nothing else), and the
clone engine on the first streamed piece (the part of the time that is synthesis; the rest is
HTTP, auth, quota and the database).

Two messages: one whose first sentence has a clause (the streaming split sends that clause
first) and one whose first sentence has none (nothing to cut: the whole sentence comes first);
and the first again as it was streamed before the first piece was shortened (first piece up to
80 characters, so that sentence whole), for the before/after in the same run. Also reports
playback stalls: a client that starts playing at the first byte, waiting whenever the next
piece is late. Targets: median first audio <= 1.5x the reference, and < 400 ms.

    nice .venv/bin/python bench/perf_first_audio.py [--reps 9]   # writes bench/results/perf_first_audio.json
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from perf_common import SAMPLES, git_sha, loadavg, machine, ms_stats, upload, wait_done, write_result
from standins.server import running_server
from test_api import make_settings, new_user

from voice_avatar import speaking
from voice_avatar.accounts import set_tier
from voice_avatar.engines import piper_voice
from voice_avatar.engines.local import LocalCloneEngine
from voice_avatar.enrollment import load_profile
from voice_avatar.service.app import create_app
from voice_avatar.speaking import FIRST_PIECE_CHARS
from voice_avatar.store import open_store, sessions_for
from voice_avatar.text import normalize_for_speech, split_for_streaming, split_sentences

RATE = 22050  # Piper joe's rate: the pcm stream is 16-bit mono at it
MESSAGES = {
    "clause_first": (
        "Good morning, here is your briefing for today. Your meeting with the design team has been moved "
        "to four fifteen. Don't forget to call your sister, it's her birthday. "
        "It looks like rain after {time}, so take an umbrella."
    ),
    "no_clause_first": (
        "Your package from the hardware store arrives today. The driver will call ten minutes ahead. "
        "Dinner with Sam is at seven thirty tonight. It looks like rain after {time}, so take an umbrella."
    ),
}
#: (message, first_piece_chars): the service as it is, and the first message as it was streamed
#: before the first piece was shortened (80 was `split_for_streaming`'s default).
CASES = {
    "clause_first": (MESSAGES["clause_first"], FIRST_PIECE_CHARS),
    "no_clause_first": (MESSAGES["no_clause_first"], FIRST_PIECE_CHARS),
    "clause_first_before_change": (MESSAGES["clause_first"], 80),
}
TARGET_RATIO, TARGET_MS = 1.5, 400


@contextmanager
def _first_piece_chars(chars: int) -> Iterator[None]:
    """The server runs in this process: set how long its streams' first piece may be."""
    saved, speaking.FIRST_PIECE_CHARS = speaking.FIRST_PIECE_CHARS, chars
    try:
        yield
    finally:
        speaking.FIRST_PIECE_CHARS = saved


def _text(template: str, rep: int) -> str:
    return template.format(time=f"{1 + rep % 11}:{(7 * rep) % 60:02d} PM")


def _stream(client: httpx.Client, avatar_id: str, auth: dict, text: str) -> dict:
    """First-byte time, total time, and the stall a player starting at the first byte would hear."""
    arrivals: list[tuple[float, int]] = []
    started = time.perf_counter()
    with client.stream(
        "POST", f"/v1/avatars/{avatar_id}/speech", json={"text": text, "format": "pcm", "stream": True}, headers=auth
    ) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["x-cache"] == "miss", "each repetition must be synthesised"
        for chunk in response.iter_raw():
            if chunk:
                arrivals.append((time.perf_counter() - started, len(chunk)))
    total = time.perf_counter() - started
    first = arrivals[0][0]
    played_until, stall = first, 0.0  # the player's clock: when the audio received so far runs out
    for at, size in arrivals:
        if at > played_until:
            stall += at - played_until
            played_until = at
        played_until += size / 2 / RATE
    audio = sum(size for _, size in arrivals) / 2 / RATE
    return {"first_s": first, "total_s": total, "stall_s": stall, "audio_s": audio, "chunks": len(arrivals)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=9)
    args = parser.parse_args()
    result = {"benchmark": "perf_first_audio", "git_sha": git_sha(), **machine()}
    home = Path(tempfile.mkdtemp(prefix="perf-first-audio-")) / "home"
    settings = make_settings(home)
    engine = LocalCloneEngine()
    with running_server(create_app(settings)) as base, httpx.Client(base_url=base, timeout=300) as client:
        user_id, auth = new_user(settings)  # free: its 10 s minimum fits the 29 s sample (premium asks 60 s)
        enroll_started = time.perf_counter()
        created = client.post("/v1/avatars", data={"name": "Bench"}, files=upload(SAMPLES), headers=auth)
        avatar = wait_done(client, created.json()["id"], auth)
        assert avatar["status"] == "ready", avatar
        result["enroll_s"] = round(time.perf_counter() - enroll_started, 1)
        with sessions_for(settings).begin() as session:
            set_tier(session, user_id, "premium", plans=settings.tiers)  # unlimited messages
        store = open_store(settings, user_id)
        profile = load_profile(store, store.get(avatar["id"]))
        result["profile_length_scale"] = round(float(profile.length_scale), 3)  # > 1: speaks slower than Piper
        result["loadavg_before"] = loadavg()
        cases = {}
        for name, (template, first_chars) in CASES.items():
            spoken = normalize_for_speech(_text(template, 0))
            cases[name] = {
                "template": template,
                "first_chars": first_chars,
                "first_sentence": split_sentences(spoken)[0],
                "first_piece": split_for_streaming(spoken, first_max_chars=first_chars)[0],
                "offset": 50 * list(CASES).index(name),  # each case its own texts: all misses
                "rows": [],
            }
            with _first_piece_chars(first_chars):
                _stream(client, avatar["id"], auth, _text(template, 1000 + cases[name]["offset"]))  # warm up
        for rep in range(1, args.reps + 1):  # the cases take turns, so all see the same machine load
            for name, case in cases.items():
                t0 = time.perf_counter()
                raw = piper_voice.synthesize(case["first_sentence"])
                t1 = time.perf_counter()
                engine.synthesize_sentence(case["first_piece"], profile)
                t2 = time.perf_counter()
                piper_voice.synthesize(case["first_piece"], length_scale=profile.length_scale)
                t3 = time.perf_counter()
                with _first_piece_chars(case["first_chars"]):
                    streamed = _stream(client, avatar["id"], auth, _text(case["template"], rep + case["offset"]))
                case["rows"].append(
                    {
                        "raw_piper_first_sentence_s": round(t1 - t0, 4),
                        "raw_piper_audio_s": round(len(raw.samples) / raw.sample_rate, 2),
                        "clone_first_piece_inprocess_s": round(t2 - t1, 4),
                        "piper_first_piece_at_profile_pace_s": round(t3 - t2, 4),
                        **{k: round(v, 4) if isinstance(v, float) else v for k, v in streamed.items()},
                    }
                )
                print(name, case["rows"][-1], flush=True)
        for name, case in cases.items():
            rows = case["rows"]
            first = [r["first_s"] for r in rows]
            reference = [r["raw_piper_first_sentence_s"] for r in rows]
            inprocess = [r["clone_first_piece_inprocess_s"] for r in rows]
            ratio = statistics.median(first) / statistics.median(reference)
            result[name] = {
                "first_piece_chars": case["first_chars"],
                "first_sentence": case["first_sentence"],
                "first_streamed_piece": case["first_piece"],
                "first_audio": ms_stats(first),
                "reference_raw_piper_first_sentence": ms_stats(reference),
                "clone_first_piece_in_process": ms_stats(inprocess),
                # Piper alone on the first piece at the speaker's pace: the clone minus its filter.
                "piper_first_piece_at_profile_pace": ms_stats([r["piper_first_piece_at_profile_pace_s"] for r in rows]),
                "service_overhead_median_ms": round(
                    (statistics.median(first) - statistics.median(inprocess)) * 1000, 1
                ),
                "ratio_median_first_audio_to_reference": round(ratio, 2),
                "whole_message": ms_stats([r["total_s"] for r in rows]),
                "audio_seconds_median": round(statistics.median(r["audio_s"] for r in rows), 2),
                "playback_stall": ms_stats([r["stall_s"] for r in rows]),
                "meets_ratio_target": ratio <= TARGET_RATIO,
                "meets_absolute_target": statistics.median(first) * 1000 < TARGET_MS,
                "rows": rows,
            }
        result["loadavg_after"] = loadavg()
    result["targets"] = {"ratio_to_raw_piper_first_sentence": TARGET_RATIO, "first_audio_ms": TARGET_MS}
    path = write_result("perf_first_audio", result)
    for name in CASES:
        r = result[name]
        print(
            f"{name}: first audio p50 {r['first_audio']['p50_ms']} ms (p90 {r['first_audio']['p90_ms']}) vs raw "
            f"Piper first sentence p50 {r['reference_raw_piper_first_sentence']['p50_ms']} ms -> "
            f"{r['ratio_median_first_audio_to_reference']}x; clone first piece in-process "
            f"{r['clone_first_piece_in_process']['p50_ms']} ms; stall p50 {r['playback_stall']['p50_ms']} ms"
        )
    print(f"load {result['loadavg_before']} -> {result['loadavg_after']}; wrote {path}")


if __name__ == "__main__":
    main()
