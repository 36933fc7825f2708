"""Cache hits and misses under load, in embedded mode and on PostgreSQL + Redis, with references.

For each mode, over loopback with a lean asyncio HTTP/1.1 driver (`raw_http.py`, ~0.08 ms of
client CPU a request against httpx's ~0.8 ms, which on 2 cores took CPU from the server it
measured; closed loop: each client sends its next request when the last one is answered):

1. Latency, against a launcher process that is the service (`create_app`) plus two empty routes
   added here only (`/bench/empty-sync`, a threadpool route like the speech routes, and
   `/bench/empty-async`): cache-hit p50/p99 at 1 and 8 clients beside the empty routes in the
   same server process and a bare Redis GET of the same bytes. Short blocks of each kind
   alternate, so all see the same machine load.
2. Throughput and errors, against `voice-avatar serve` (embedded: one process; Redis mode:
   `--workers 2`): cache hits at 1, 8, 64 and 256 clients, `GET /healthz` as the reference,
   then misses (every text new, so each is a synthesis) bounded to a window per level. A miss
   started in the window may finish in the drain that follows; one still running after it is
   counted as unfinished (the server was working on it, not refusing it), then the bench waits
   for the server to go idle before the next level.
3. Peak RSS (the kernel's VmHWM) of the API processes and the worker; server and client CPU
   seconds per level, hence CPU milliseconds per hit and per miss.
4. Blended engine cost per message for a tier mix, from the settings' engine prices and the
   cache hit rate of the load run.

One premium user (unlimited messages) sends everything: a single hot user, the worst case for
its quota row and its month's usage aggregate. Targets: hit p99 < 10 ms at 8 clients,
>= 500 cached req/s, 0 errors at 256 clients, blended cost < $0.01 per message.

    nice .venv/bin/python bench/perf_cache_hits.py [--quick]   # writes bench/results/perf_cache_hits.json
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import httpx
from perf_common import (
    Service,
    busy_and_steal,
    cli_set_tier,
    cli_user,
    cpu_seconds,
    cpu_times,
    create_pg_database,
    drop_pg_database,
    empty_redis_url,
    enroll,
    flush_redis,
    git_sha,
    loadavg,
    machine,
    ms_stats,
    wait_idle,
    write_result,
)
from raw_http import raw_closed_loop

HIT_TEXTS = (
    "Your meeting with the design team has been moved to four fifteen.",
    "Don't forget to call your sister, it's her birthday today.",
    "The package should arrive on Thursday between 9 AM and noon.",
    "It looks like rain later, so you may want to take an umbrella.",
    "Your balance is $1,284.50 after today's payment of $49.99.",
)
FORMAT = "mp3"
LEVELS = (1, 8, 64, 256)
#: The tier mix the blended cost assumes: share of messages, and the share of starter messages
#: escalated to the premium engine (important, long, public or high-quality ones).
TIER_MIX = {"free": Decimal("0.70"), "starter": Decimal("0.25"), "premium": Decimal("0.05")}
STARTER_ESCALATED = Decimal("0.10")
CHARS_PER_MESSAGE = 120  # a typical assistant reply: one or two sentences
TARGETS = {
    "hit_p99_ms_at_8_clients": 10,
    "cached_req_per_s": 500,
    "errors_at_256_clients": 0,
    "cost_usd_per_message": 0.01,
}


def serve_with_empty_routes(port: int) -> None:
    """The launcher: the service as `voice-avatar serve` builds it, plus the reference routes."""
    import logging

    import uvicorn

    from voice_avatar.service.app import create_app

    app = create_app()

    def empty_sync() -> dict:
        return {}

    async def empty_async() -> dict:
        return {}

    app.add_api_route("/bench/empty-sync", empty_sync, methods=["POST"])
    app.add_api_route("/bench/empty-async", empty_async, methods=["POST"])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="info")


class Target:
    def __init__(self, base: str, avatar_id: str, auth: dict[str, str]) -> None:
        self.base, self.avatar_id, self.auth = base, avatar_id, auth
        self.miss_counter = 0

    def hit(self, client: int, n: int):
        body = {"text": HIT_TEXTS[(client + n) % len(HIT_TEXTS)], "format": FORMAT}
        return "POST", f"{self.base}/v1/avatars/{self.avatar_id}/speech", {"json": body, "headers": self.auth}

    def empty(self, route: str):
        def make(client: int, n: int):
            body = {"text": HIT_TEXTS[(client + n) % len(HIT_TEXTS)], "format": FORMAT}
            return "POST", f"{self.base}/bench/{route}", {"json": body, "headers": self.auth}

        return make

    def healthz(self, client: int, n: int):
        return "GET", f"{self.base}/healthz", {}

    def miss(self, client: int, n: int):
        self.miss_counter += 1
        body = {"text": f"Reminder number {self.miss_counter} for you.", "format": FORMAT}
        return "POST", f"{self.base}/v1/avatars/{self.avatar_id}/speech", {"json": body, "headers": self.auth}


async def redis_gets(url: str, key: str, clients: int, window: float) -> list[float]:
    import redis.asyncio as aredis

    client = aredis.Redis.from_url(url, max_connections=clients + 2)
    latencies: list[float] = []
    end = time.perf_counter() + window

    async def one() -> None:
        while time.perf_counter() < end:
            sent = time.perf_counter()
            value = await client.get(key)
            latencies.append(time.perf_counter() - sent)
            assert value

    try:
        await asyncio.gather(*(one() for _ in range(clients)))
    finally:
        await client.aclose()
    return latencies


def latency_phase(target: Target, redis_url: str, payload: bytes, rounds: int, block: float) -> dict:
    import redis

    key = "perf:reference-bytes"
    redis.Redis.from_url(redis_url).set(key, payload)
    out = {}
    for clients in (1, 8):
        samples: dict[str, list[float]] = {"hit": [], "empty_sync_route": [], "empty_async_route": [], "redis_get": []}
        errors = 0
        for _ in range(rounds):
            for kind, make in (
                ("hit", target.hit),
                ("empty_sync_route", target.empty("empty-sync")),
                ("empty_async_route", target.empty("empty-async")),
            ):
                level = asyncio.run(raw_closed_loop(make, clients, block, drain=5))
                samples[kind] += level.latencies
                errors += sum(level.errors.values())
                if kind == "hit":
                    assert level.cache.get("miss", 0) == 0, level.cache
            samples["redis_get"] += asyncio.run(redis_gets(redis_url, key, clients, block))
        out[f"{clients}_clients"] = {kind: ms_stats(values) for kind, values in samples.items()}
        out[f"{clients}_clients"]["errors"] = errors
        row = out[f"{clients}_clients"]
        print(
            f"  latency at {clients} clients: hit p50 {row['hit']['p50_ms']} p99 {row['hit']['p99_ms']} ms; "
            f"empty sync route p50 {row['empty_sync_route']['p50_ms']} p99 {row['empty_sync_route']['p99_ms']}; "
            f"empty async p50 {row['empty_async_route']['p50_ms']}; redis GET p50 {row['redis_get']['p50_ms']} "
            f"p99 {row['redis_get']['p99_ms']}",
            flush=True,
        )
    redis.Redis.from_url(redis_url).delete(key)
    return out


def run_level(server: Service, make, clients: int, window: float, drain: float) -> dict:
    pids = server.pids
    cpu_before, client_before, load_before, ticks = cpu_seconds(pids), time.process_time(), loadavg(), cpu_times()
    level = asyncio.run(raw_closed_loop(make, clients, window, drain=drain))
    row = level.summary()
    row["server_cpu_s"] = round(cpu_seconds(pids) - cpu_before, 2)
    row["client_cpu_s"] = round(time.process_time() - client_before, 2)
    done = row["ok_in_window"] + row["ok_after_window"]
    row["server_cpu_ms_per_ok_request"] = round(row["server_cpu_s"] * 1000 / done, 2) if done else None
    row["loadavg_before"], row["loadavg_after"] = load_before, loadavg()
    row.update(busy_and_steal(ticks, cpu_times()))
    row["idle_wait_s"] = wait_idle(pids)
    print(
        f"    {clients:3d} clients: {row['req_per_s']} req/s, p50 {row['latency'].get('p50_ms')} ms "
        f"p99 {row['latency'].get('p99_ms')} ms, errors {row['errors']} {row['error_kinds'] or ''}, "
        f"unfinished {row['unfinished_at_cutoff']}, server CPU {row['server_cpu_ms_per_ok_request']} ms/request, "
        f"machine busy {row['machine_busy']:.0%}, steal {row['steal']:.0%}",
        flush=True,
    )
    return row


def load_phase(server: Service, target: Target, windows: dict[str, float]) -> dict:
    out: dict[str, dict] = {"healthz_reference": {}, "hits": {}, "misses": {}}
    asyncio.run(raw_closed_loop(target.miss, 4, 0.1, drain=120))  # loads Piper in each API process
    wait_idle(server.pids)
    for name, make, window, drain in (
        ("healthz_reference", target.healthz, windows["reference"], 10.0),
        ("hits", target.hit, windows["hits"], 10.0),
        ("misses", target.miss, windows["misses"], windows["misses_drain"]),
    ):
        print(f"  {name}:", flush=True)
        for clients in LEVELS:
            out[name][str(clients)] = run_level(server, make, clients, window, drain)
    return out


def run_mode(mode: str, args: argparse.Namespace, logs: Path, windows: dict[str, float]) -> dict:
    print(f"== {mode} mode", flush=True)
    home = Path(tempfile.mkdtemp(prefix=f"perf-cache-{mode}-")) / "home"
    env = {
        **os.environ,
        "VOICE_AVATAR_HOME": str(home),
        "VOICE_AVATAR_REQUIRE_CONSENT": "false",
        # one key sends thousands of requests a second here: measure the service, not its rate limit
        "VOICE_AVATAR_RATE_LIMIT_PER_MINUTE": "0",
        "VOICE_AVATAR_PREGENERATE_PHRASES": '["Hello!", "Done."]',
    }
    for name in ("VOICE_AVATAR_DATABASE_URL", "VOICE_AVATAR_REDIS_URL"):
        env.pop(name, None)
    reference_redis = empty_redis_url()
    pg_url = None
    services: list[Service] = []
    result: dict = {"mode": mode}
    try:
        if mode == "redis":
            pg_url = create_pg_database()
            env["VOICE_AVATAR_DATABASE_URL"] = pg_url
            env["VOICE_AVATAR_REDIS_URL"] = reference_redis
        user_id, auth = cli_user(env, f"perf-{mode}")
        launcher = Service.api(f"{mode}-launcher", env, logs, argv=[sys.executable, __file__, "--serve"])
        services.append(launcher)
        worker = None
        if mode == "redis":
            worker = Service(
                f"{mode}-worker", [str(Path(sys.executable).with_name("voice-avatar")), "worker"], env, logs
            )
            services.append(worker)
        started = time.perf_counter()
        avatar = enroll(launcher.base, auth)
        assert avatar["status"] == "ready", avatar
        result["enroll_s"] = round(time.perf_counter() - started, 1)
        cli_set_tier(env, user_id, "premium")
        target = Target(launcher.base, avatar["id"], auth)
        with httpx.Client(timeout=300) as client:
            for text in HIT_TEXTS:  # the first asks synthesise; from here on these are hits
                method, url, kwargs = target.hit(0, HIT_TEXTS.index(text))
                payload = client.request(method, url, **kwargs).content
        result["hit_payload_bytes"] = len(payload)
        result["loadavg_before_latency"] = loadavg()
        result["latency"] = latency_phase(target, reference_redis, payload, args.rounds, windows["latency_block"])
        result["loadavg_after_latency"] = loadavg()
        result["launcher_memory"] = launcher.memory()
        launcher.stop()
        services.remove(launcher)

        extra = ["--workers", str(args.workers)] if mode == "redis" else []
        server = Service.api(f"{mode}-serve", env, logs, *extra)
        services.append(server)
        result["serve_command"] = " ".join(["voice-avatar", "serve", *extra])
        time.sleep(3)  # let every --workers child finish starting
        load_target = Target(server.base, avatar["id"], auth)
        result["loadavg_before_load"] = loadavg()
        result["load"] = load_phase(server, load_target, windows)
        result["loadavg_after_load"] = loadavg()
        result["serve_memory"] = server.memory()
        if worker is not None:
            result["worker_memory"] = worker.memory()
        with httpx.Client(timeout=60) as client:
            result["usage_after"] = client.get(f"{server.base}/v1/usage", headers=auth).json()
    finally:
        for service in services:
            service.stop()
        flush_redis(reference_redis)
        if pg_url:
            drop_pg_database(pg_url)
    return result


def blended_cost(hit_rate: float) -> dict:
    from voice_avatar.settings import Settings

    settings = Settings(home=Path(tempfile.gettempdir()) / "perf-cost-home")
    prices = settings.engine_cost_per_1k_chars
    per_tier = {}
    for tier in TIER_MIX:
        plan = settings.tiers[tier]
        engines = {plan.engine: Decimal(1)}
        if tier == "starter" and plan.escalation_engine:
            engines = {plan.engine: 1 - STARTER_ESCALATED, plan.escalation_engine: STARTER_ESCALATED}
        per_tier[tier] = sum(weight * prices[e] * CHARS_PER_MESSAGE / 1000 for e, weight in engines.items())
    at = lambda rate: sum(TIER_MIX[t] * per_tier[t] for t in TIER_MIX) * Decimal(1 - rate)  # noqa: E731
    return {
        "tier_mix": {k: float(v) for k, v in TIER_MIX.items()},
        "starter_escalated_share": float(STARTER_ESCALATED),
        "chars_per_message": CHARS_PER_MESSAGE,
        "engine_usd_per_1k_chars": {k: float(v) for k, v in prices.items()},
        "tier_engines": {t: settings.tiers[t].engine for t in TIER_MIX},
        "usd_per_message_by_tier_without_cache": {t: round(float(v), 6) for t, v in per_tier.items()},
        "cache_hit_rate": round(hit_rate, 3),
        "usd_per_message_at_measured_hit_rate": round(float(at(hit_rate)), 6),
        "usd_per_message_without_cache": round(float(at(0.0)), 6),
        "note": "cloud engines priced as in settings; the local engine's price is CPU time. The hit rate is the "
        "load run's own (the bench chose the share of repeated messages), so the no-cache figure is the bound.",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)  # the launcher process
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="short windows, to try the bench out")
    parser.add_argument("--modes", default="embedded,redis")
    parser.add_argument("--rounds", type=int, default=3, help="alternating latency blocks per client count")
    parser.add_argument("--workers", type=int, default=2, help="API processes in Redis mode")
    args = parser.parse_args()
    if args.serve:
        serve_with_empty_routes(args.port)
        return
    windows = {"latency_block": 3.0, "reference": 5.0, "hits": 10.0, "misses": 20.0, "misses_drain": 20.0}
    if args.quick:
        windows = {"latency_block": 1.0, "reference": 2.0, "hits": 3.0, "misses": 5.0, "misses_drain": 5.0}
        args.rounds = 1
    result = {
        "benchmark": "perf_cache_hits",
        "git_sha": git_sha(),
        **machine(),
        "windows_s": windows,
        "format": FORMAT,
        "targets": TARGETS,
        "driver": "raw_http.raw_closed_loop (asyncio HTTP/1.1, one keep-alive connection per client)",
    }
    logs = Path(tempfile.mkdtemp(prefix="perf-cache-logs-"))
    result["logs"] = str(logs)
    hits = misses = 0
    for mode in args.modes.split(","):
        result[mode] = run_mode(mode, args, logs, windows)
        for phase in ("hits", "misses"):
            for row in result[mode]["load"][phase].values():
                hits += row["x_cache"].get("hit", 0)
                misses += row["x_cache"].get("miss", 0)
    result["blended_cost"] = blended_cost(hits / (hits + misses) if hits + misses else 0.0)
    result["loadavg_at_end"] = loadavg()
    summary = {}
    for mode in args.modes.split(","):
        r = result[mode]
        summary[mode] = {
            "hit_p99_ms_8_clients": r["latency"]["8_clients"]["hit"]["p99_ms"],
            "empty_sync_route_p99_ms_8_clients": r["latency"]["8_clients"]["empty_sync_route"]["p99_ms"],
            "redis_get_p99_ms_8_clients": r["latency"]["8_clients"]["redis_get"]["p99_ms"],
            "best_cached_req_per_s": max(row["req_per_s"] for row in r["load"]["hits"].values()),
            "best_healthz_req_per_s": max(row["req_per_s"] for row in r["load"]["healthz_reference"].values()),
            "best_miss_req_per_s": max(row["req_per_s"] for row in r["load"]["misses"].values()),
            "errors_at_256": {k: r["load"][k]["256"]["errors"] for k in ("hits", "misses")},
            "api_peak_rss_mb": r["serve_memory"]["max_peak_rss_mb"],
            "worker_peak_rss_mb": r.get("worker_memory", {}).get("max_peak_rss_mb"),
        }
    summary["usd_per_message"] = result["blended_cost"]["usd_per_message_at_measured_hit_rate"]
    result["summary"] = summary
    path = write_result("perf_cache_hits", result)
    print(summary)
    print(f"wrote {path}; logs in {logs}")


if __name__ == "__main__":
    main()
