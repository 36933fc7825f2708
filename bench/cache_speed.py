"""Cache speed: a repeated message against its first synthesis, over real HTTP (embedded mode).

Starts the service on a free port with a temporary HOME, enrolls one dev speaker through the
API, then sends each message twice (`POST /v1/avatars/{id}/speech`, mp3) and times both
round trips from the client. The issue's bar: a hit at least 20x faster than the first request.

    .venv/bin/python bench/cache_speed.py        # writes bench/results/cache_speed.json
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "service"), str(ROOT / "tests")]
from standins.server import running_server  # noqa: E402
from test_api import make_settings, new_user, upload, wait_until_done  # noqa: E402

from voice_avatar.service.app import create_app  # noqa: E402

VOICES = ROOT.parent / "shared" / "voices" / "librispeech"
OUT = ROOT / "bench" / "results" / "cache_speed.json"
MESSAGES = (
    "Your meeting with the design team has been moved to four fifteen.",
    "Don't forget to call your sister, it's her birthday today.",
    "The package should arrive on Thursday between 9 AM and noon.",
    "It looks like rain later, so you may want to take an umbrella.",
    "Your balance is $1,284.50 after today's payment of $49.99.",
)


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="cache-bench-")) / "home"
    settings = make_settings(home)
    samples = [sorted((VOICES / "2609").glob("*.flac"))[i] for i in (2, 4)]
    rows = []
    with running_server(create_app(settings)) as base, httpx.Client(base_url=base, timeout=300) as client:
        _, auth = new_user(settings)
        created = client.post("/v1/avatars", data={"name": "Bench"}, files=upload(samples), headers=auth)
        avatar = wait_until_done(client, created.json()["id"], auth)
        assert avatar["status"] == "ready", avatar
        for text in MESSAGES:
            timings = {}
            for attempt in ("first", "repeat"):
                started = time.perf_counter()
                response = client.post(
                    f"/v1/avatars/{avatar['id']}/speech", json={"text": text, "format": "mp3"}, headers=auth
                )
                timings[attempt] = time.perf_counter() - started
                timings[f"{attempt}_cache"] = response.headers["x-cache"]
            rows.append(
                {
                    "text": text,
                    **{k: round(v, 4) if isinstance(v, float) else v for k, v in timings.items()},
                    "speedup": round(timings["first"] / timings["repeat"], 1),
                }
            )
            print(rows[-1], flush=True)
    result = {
        "bar_speedup": 20,
        "median_first_s": round(statistics.median(r["first"] for r in rows), 3),
        "median_repeat_s": round(statistics.median(r["repeat"] for r in rows), 4),
        "min_speedup": min(r["speedup"] for r in rows),
        "median_speedup": statistics.median(r["speedup"] for r in rows),
        "rows": rows,
    }
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}))


if __name__ == "__main__":
    main()
