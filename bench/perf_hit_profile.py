"""Where a cache hit's time goes: the speech route's steps timed one by one, in process, no HTTP.

Builds the app (embedded: SQLite + disk cache; then PostgreSQL + Redis), makes a premium user
and a ready avatar row, puts one message's audio in the cache, then calls the route function
(what `avatar_speech` runs on its thread) directly in this thread, many times, with each step it takes wrapped in a
timer: the key, the avatar and the month's cost (one query), the cache read, then the quota
reservation and the usage row (one statement on PostgreSQL, a transaction of two on SQLite) and
the cost alerts. The same run is repeated after the ledger holds more usage rows: no step may grow with
them (the month's cost is a running total; a free hit skips the cost alerts' day sums).

    nice .venv/bin/python bench/perf_hit_profile.py   # writes bench/results/perf_hit_profile.json
"""

from __future__ import annotations

import argparse
import tempfile
import time
import types
from collections import defaultdict
from functools import partial
from pathlib import Path

from perf_common import (
    create_pg_database,
    drop_pg_database,
    empty_redis_url,
    flush_redis,
    git_sha,
    loadavg,
    machine,
    write_result,
)
from test_api import make_settings, new_user

from voice_avatar.service import routes_speech
from voice_avatar.service.app import create_app
from voice_avatar.speaking import prepare
from voice_avatar.store import open_store

TEXT = "Your meeting with the design team has been moved to four fifteen."
PAYLOAD = b"\xff\xfb" + bytes(30_000)  # about the size of that message as mp3


class Timers:
    def __init__(self) -> None:
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)

    def wrap(self, name: str, function):
        def timed(*args, **kwargs):
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                self.wall[name] += time.perf_counter() - wall
                self.cpu[name] += time.process_time() - cpu

        return timed


def _speak(avatar_id: str, body, request) -> None:
    """What the route runs on its quick thread for a hit (the route itself is async: one hand-off)."""
    response = routes_speech.native_message(request, request.headers["authorization"][7:], avatar_id, body).from_cache()
    assert response.headers["x-cache"] == "hit"


def measure(settings, requests: int, backlog: int) -> dict:
    app = create_app(settings)
    from fastapi.testclient import TestClient

    with TestClient(app):  # runs the lifespan: database, cache, router
        user_id, auth = new_user(settings, tier="premium")
        store = open_store(settings, user_id)
        record = store.create("Hot", "local")
        record.status, record.stage = "ready", "done"
        store.save(record)
        utterance = prepare(TEXT, "mp3")
        app.state.voices.cache.set(app.state.voices.key(record, utterance), PAYLOAD)
        request = types.SimpleNamespace(app=app, headers={"authorization": auth["Authorization"]})
        body = routes_speech.SpeechRequest(text=TEXT, format="mp3")

        once = partial(_speak, record.id, body, request)

        out = {}
        for phase, extra_rows in (("fresh_ledger", 20), ("with_backlog", backlog)):
            for _ in range(extra_rows):  # earlier messages of this month (and day)
                once()
            timers = Timers()
            steps_to_time = (  # (name, owner, attribute): what the route calls, swapped for a timed copy
                ("key and avatar lookup", routes_speech, "speaker"),
                ("reservation and usage row in one statement (PostgreSQL)", routes_speech, "record_hit_at_once"),
                ("quota reservation (SQLite)", routes_speech, "reserve_in"),
                ("usage row (SQLite)", routes_speech, "insert_usage"),
                ("cache read (router)", app.state.router, "cached"),
                ("cost alerts", app.state, "alerts"),
            )
            patched = []
            for name, owner, attribute in steps_to_time:
                original = getattr(owner, attribute)
                patched.append((owner, attribute, owner.__dict__.get(attribute, original)))
                setattr(owner, attribute, timers.wrap(name, original))
            total = timers.wrap("whole request", once)
            try:
                for _ in range(requests):
                    total()
            finally:
                for owner, attribute, original in patched:
                    if owner is app.state.router:
                        del owner.cached  # back to the class's method
                    else:
                        setattr(owner, attribute, original)
            whole = timers.wall["whole request"] / requests * 1000
            steps = {
                name: {
                    "wall_ms": round(timers.wall[name] / requests * 1000, 3),
                    "cpu_ms": round(timers.cpu[name] / requests * 1000, 3),
                    "share_of_wall": round(timers.wall[name] / timers.wall["whole request"], 3),
                }
                for name in timers.wall
                if name != "whole request"
            }
            named = sum(s["wall_ms"] for s in steps.values())
            out[phase] = {
                "usage_rows_before": extra_rows if phase == "fresh_ledger" else backlog + 20 + requests,
                "whole_request_wall_ms": round(whole, 3),
                "whole_request_cpu_ms": round(timers.cpu["whole request"] / requests * 1000, 3),
                "steps": steps,
                "other_wall_ms": round(whole - named, 3),  # normalising, routing rules, the response
            }
            print(
                f"  {phase}: {out[phase]['whole_request_wall_ms']} ms wall, "
                f"{out[phase]['whole_request_cpu_ms']} ms CPU per hit; "
                + ", ".join(f"{k} {v['wall_ms']}" for k, v in steps.items()),
                flush=True,
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--backlog", type=int, default=5000, help="usage rows added before the second run")
    args = parser.parse_args()
    result = {"benchmark": "perf_hit_profile", "git_sha": git_sha(), **machine(), "requests": args.requests}
    result["loadavg_before"] = loadavg()
    print("embedded (SQLite, disk cache)", flush=True)
    result["embedded"] = measure(make_settings(Path(tempfile.mkdtemp()) / "home"), args.requests, args.backlog)
    pg_url, redis_url = create_pg_database(), empty_redis_url()
    try:
        print("PostgreSQL + Redis", flush=True)
        settings = make_settings(Path(tempfile.mkdtemp()) / "home", database_url=pg_url, redis_url=redis_url)
        result["postgresql_redis"] = measure(settings, args.requests, args.backlog)
    finally:
        drop_pg_database(pg_url)
        flush_redis(redis_url)
    result["loadavg_after"] = loadavg()
    path = write_result("perf_hit_profile", result)
    print(f"load {result['loadavg_before']} -> {result['loadavg_after']}; wrote {path}")


if __name__ == "__main__":
    main()
