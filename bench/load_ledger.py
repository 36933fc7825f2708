"""Load with money exactness: many clients across the tiers, at their quota edges; the ledger must equal what was served.

Users of every tier speak at once through real provider clients (the ElevenLabs and Fish Audio
stand-ins of tests/standins, so starter and premium messages cost money) and the local engine.
Free and starter users start a few messages short of their monthly limit, so the quota runs out
mid-run while hundreds of requests race for the last messages. Most messages repeat (cache hits),
some are new (synthesis), a few are longer than the free plan allows.

No request is cut off: clients stop sending when the window closes and every request already
sent is waited for, so each one ends as a response the client saw. Then the database must agree
exactly with the responses:
  * the usage ledger holds one row per 200 response, and only those (matched by X-Message-Id);
  * each user's quota counter = messages used before + messages served, never over the limit;
  * every refusal names the plan's limit (429 out of messages, 413 too long); no 5xx, no transport error;
  * each row's cost = characters x the engine's rate (0 for a cache hit), and the counters'
    running month cost = the ledger's sum, to the micro-dollar.

    nice .venv/bin/python bench/load_ledger.py       # 256 clients, 60 s, embedded and PostgreSQL+Redis
    nice .venv/bin/python bench/load_ledger.py --clients 32 --seconds 5 --modes embedded --out /tmp/l.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from perf_common import (  # noqa: E402
    Service,
    create_pg_database,
    drop_pg_database,
    empty_redis_url,
    flush_redis,
    git_sha,
    loadavg,
    machine,
    write_result,
)
from standins.elevenlabs import StandinControl, make_elevenlabs_standin  # noqa: E402
from standins.fishaudio import make_fishaudio_standin  # noqa: E402
from standins.server import running_server  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from voice_avatar.accounts import create_user  # noqa: E402
from voice_avatar.audio import load_audio  # noqa: E402
from voice_avatar.billing.period import period_of  # noqa: E402
from voice_avatar.db import QuotaCounter, UsageEvent  # noqa: E402
from voice_avatar.db.types import utcnow  # noqa: E402
from voice_avatar.engines.local import fit_profile  # noqa: E402
from voice_avatar.enrollment import PROFILE_FILE, Upload, add_inputs  # noqa: E402
from voice_avatar.settings import Settings  # noqa: E402
from voice_avatar.store import open_store, sessions_for  # noqa: E402

VOICES = Path(__file__).resolve().parents[2] / "shared" / "voices" / "librispeech"
#: tier: (users, messages already used this month). Free allows 100 a month, starter 1000; the
#: warm-up takes len(CACHED_TEXTS) more, so free users start the run 9 messages from their limit.
USERS = {"free": (8, 88), "starter": (6, 980), "premium": (4, 0)}
CACHED_TEXTS = (
    "Your meeting with the design team has been moved to four fifteen.",
    "Don't forget to call your sister, it's her birthday today.",
    "The package should arrive on Thursday between 9 AM and noon.",
)
NEW_TEXT_SHARE = 0.05
OVERLONG_SHARE = 0.01
OVERLONG_TEXT = "This reminder goes on and on. " * 20  # 600 characters: over the free plan's 500


@dataclass
class Speaker:
    user_id: str
    tier: str
    auth: dict[str, str]
    avatar_id: str
    used_before: int


@dataclass
class Outcome:
    user_id: str
    status: int  # 0: no response (a transport error)
    characters: int
    message_id: int | None = None
    cache: str | None = None
    engine: str | None = None
    error_code: str | None = None


@dataclass
class Run:
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0


def make_world(settings: Settings, profile: bytes) -> list[Speaker]:
    """Users of each tier with one ready avatar each (sample + fitted profile), counters preset near the limit."""
    clip = sorted((VOICES / "3331").glob("*.flac"))[0]
    speakers = []
    period = period_of(utcnow())
    for tier, (count, used) in USERS.items():
        for n in range(count):
            with sessions_for(settings).begin() as session:
                user, key = create_user(session, f"{tier}-{n}", tier, plans=settings.tiers)
                if used:
                    session.add(QuotaCounter(user_id=user.id, period=period, messages=used, characters=used * 60))
                user_id = user.id
            store = open_store(settings, user_id)
            record = store.create(f"voice-{n}", engine="local")
            add_inputs(store, record, [Upload(clip.name, clip.read_bytes())])
            store.put_blob(record, PROFILE_FILE, profile)
            record = store.get(record.id)
            record.status, record.stage, record.progress = "ready", "done", 1.0
            store.save(record)
            speakers.append(Speaker(user_id, tier, {"Authorization": f"Bearer {key}"}, record.id, used))
    return speakers


def warm_up(base: str, speakers: list[Speaker]) -> None:
    """Each avatar says the repeated texts once (cached from then on, provider voices cloned).

    Paid for like any message: the audit counts these rows apart (`warm_up_ids`).
    """
    with httpx.Client(timeout=300) as client:
        for speaker in speakers:
            for text in CACHED_TEXTS:
                response = client.post(
                    f"{base}/v1/avatars/{speaker.avatar_id}/speech", json={"text": text, "format": "mp3"},
                    headers=speaker.auth,
                )
                response.raise_for_status()


async def drive(base: str, speakers: list[Speaker], clients: int, seconds: float, seed: int = 7) -> Run:
    """`clients` closed-loop clients, client i speaking for user i mod n, until the window closes."""
    run = Run()
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)

    async def client(index: int) -> None:
        speaker, rng = speakers[index % len(speakers)], random.Random(seed * 100_003 + index)
        async with httpx.AsyncClient(limits=limits, timeout=None) as http:
            n = 0
            while time.perf_counter() < deadline:
                n += 1
                roll = rng.random()
                if roll < OVERLONG_SHARE:
                    text = OVERLONG_TEXT
                elif roll < OVERLONG_SHARE + NEW_TEXT_SHARE:
                    text = f"Note {index}-{n}: call back before {n % 11 + 1} o'clock."
                else:
                    text = rng.choice(CACHED_TEXTS)
                run.outcomes.append(await _speak(http, base, speaker, text))

    started = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(clients)))
    run.seconds = time.perf_counter() - started
    return run


async def _speak(http: httpx.AsyncClient, base: str, speaker: Speaker, text: str) -> Outcome:
    outcome = Outcome(speaker.user_id, 0, len(text))
    try:
        response = await http.post(
            f"{base}/v1/avatars/{speaker.avatar_id}/speech", json={"text": text, "format": "mp3"},
            headers=speaker.auth,
        )
    except httpx.HTTPError as error:
        outcome.error_code = type(error).__name__
        return outcome
    outcome.status = response.status_code
    if response.status_code == 200:
        outcome.message_id = int(response.headers["x-message-id"])
        outcome.cache, outcome.engine = response.headers["x-cache"], response.headers["x-engine"]
    else:
        try:
            outcome.error_code = response.json()["error"]["code"]
        except (ValueError, KeyError, TypeError):
            outcome.error_code = f"unreadable {response.status_code} body"
    return outcome


def audit(settings: Settings, speakers: list[Speaker], run: Run, warm_up_ids: set[int]) -> dict:
    """What the database says against what the clients saw; `exact` is True only if every check holds."""
    period = period_of(utcnow())
    served = [o for o in run.outcomes if o.status == 200]
    served_ids = [o.message_id for o in served]
    by_user = Counter(o.user_id for o in served)
    rates = settings.engine_cost_per_1k_chars
    tier_of = {s.user_id: s.tier for s in speakers}
    checks: dict[str, bool] = {}
    with sessions_for(settings)() as session:
        ids = [s.user_id for s in speakers]
        rows = session.scalars(select(UsageEvent).where(UsageEvent.user_id.in_(ids))).all()
        ledger_ids = {r.id for r in rows} - warm_up_ids
        counters = {
            c.user_id: c
            for c in session.scalars(select(QuotaCounter).where(QuotaCounter.user_id.in_(ids), QuotaCounter.period == period))
        }
        ledger_cost = session.scalar(select(func.sum(UsageEvent.cost_usd)).where(UsageEvent.user_id.in_(ids)))
    checks["one ledger row per response served, no more"] = (
        len(served_ids) == len(set(served_ids)) and set(served_ids) == ledger_ids
    )
    warm = Counter(r.user_id for r in rows if r.id in warm_up_ids)
    over, mismatched = [], []
    for speaker in speakers:
        counter = counters.get(speaker.user_id)
        used = counter.messages if counter else 0
        if used != speaker.used_before + warm[speaker.user_id] + by_user[speaker.user_id]:
            mismatched.append(speaker.user_id)
        limit = settings.tiers[speaker.tier].messages_per_month
        if limit is not None and used > limit:
            over.append(speaker.user_id)
    checks["each counter = messages before + served"] = not mismatched
    checks["no quota overspent"] = not over
    checks["each row priced at its engine's rate, hits free"] = all(
        r.cost_usd == (Decimal(0) if r.cache_hit else (Decimal(r.characters) * rates[r.engine] / 1000).quantize(r.cost_usd))
        for r in rows
    )
    counter_micro = sum(c.cost_micro_usd for c in counters.values())
    checks["month cost counters = ledger sum"] = Decimal(counter_micro).scaleb(-6) == Decimal(ledger_cost or 0)
    refused = [o for o in run.outcomes if o.status != 200]
    checks["every refusal names a plan limit (429 quota, 413 too long)"] = all(
        (o.status, o.error_code) in {(429, "quota_exceeded"), (413, "message_too_long")} for o in refused
    ) and all(
        o.status == 413 for o in run.outcomes if o.characters > settings.tiers[tier_of[o.user_id]].chars_per_message
    )
    fives = sum(1 for o in run.outcomes if o.status >= 500)
    checks["no 5xx, no transport error"] = fives == 0 and all(o.status for o in run.outcomes)
    limited = [s for s in speakers if settings.tiers[s.tier].messages_per_month is not None]
    at_limit = sum(counters[s.user_id].messages == settings.tiers[s.tier].messages_per_month for s in limited)
    return {
        "requests": len(run.outcomes),
        "seconds": round(run.seconds, 1),
        "req_per_s": round(len(run.outcomes) / run.seconds, 1),
        "served": len(served),
        "status_counts": dict(Counter(str(o.status) for o in run.outcomes)),
        "refusal_codes": dict(Counter(o.error_code for o in refused)),
        "served_by_cache": dict(Counter(o.cache for o in served)),
        "served_by_engine": dict(Counter(o.engine for o in served)),
        "served_by_tier": dict(Counter(tier_of[o.user_id] for o in served)),
        "ledger_rows_in_run": len(ledger_ids),
        "ledger_cost_usd_incl_warm_up": str(Decimal(ledger_cost or 0)),
        "counters_cost_usd": str(Decimal(counter_micro).scaleb(-6)),
        "server_errors_5xx": fives,
        "limited_users_at_their_limit": f"{at_limit} of {len(limited)}",
        "checks": checks,
        "exact": all(checks.values()),
    }


def settings_for(home: Path, el_url: str, fish_url: str, **extra: object) -> Settings:
    return Settings(
        home=home,
        require_consent=False,
        pregenerate_phrases=[],
        rate_limit_per_minute=0,  # this run is about quotas; per-key rate limits have their own tests
        elevenlabs_api_key="el-key",
        elevenlabs_base_url=el_url,
        fishaudio_api_key="fish-key",
        fishaudio_base_url=fish_url,
        **extra,
    )


def env_for(settings: Settings) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("VOICE_AVATAR_")}
    env.update(
        VOICE_AVATAR_HOME=str(settings.home),
        VOICE_AVATAR_REQUIRE_CONSENT="false",
        VOICE_AVATAR_PREGENERATE_PHRASES="[]",
        VOICE_AVATAR_RATE_LIMIT_PER_MINUTE="0",
        VOICE_AVATAR_ELEVENLABS_API_KEY="el-key",
        VOICE_AVATAR_ELEVENLABS_BASE_URL=str(settings.elevenlabs_base_url),
        VOICE_AVATAR_FISHAUDIO_API_KEY="fish-key",
        VOICE_AVATAR_FISHAUDIO_BASE_URL=str(settings.fishaudio_base_url),
    )
    if settings.database_url:
        env["VOICE_AVATAR_DATABASE_URL"] = settings.database_url
    if settings.redis_url:
        env["VOICE_AVATAR_REDIS_URL"] = settings.redis_url
    return env


def warm_up_ids(settings: Settings, speakers: list[Speaker]) -> set[int]:
    with sessions_for(settings)() as session:
        return set(session.scalars(select(UsageEvent.id).where(UsageEvent.user_id.in_([s.user_id for s in speakers]))))


def run_mode(mode: str, clients: int, seconds: float, profile: bytes, logs: Path) -> dict:
    print(f"== {mode}: {clients} clients for {seconds:g} s", flush=True)
    eleven = StandinControl(api_key="el-key")
    with running_server(make_elevenlabs_standin(eleven)) as el_url, running_server(
        make_fishaudio_standin(api_key="fish-key")
    ) as fish_url:
        home = Path(tempfile.mkdtemp(prefix=f"load-ledger-{mode}-")) / "home"
        pg_url = redis_url = None
        extra: list[str] = []
        if mode == "postgresql_redis":
            pg_url, redis_url = create_pg_database("voice_avatar_load"), empty_redis_url()
            extra = ["--workers", "2"]
        settings = settings_for(home, el_url, fish_url, database_url=pg_url, redis_url=redis_url)
        server = None
        try:
            speakers = make_world(settings, profile)
            server = Service.api(f"load-{mode}", env_for(settings), logs, *extra)
            warm_up(server.base, speakers)
            before = warm_up_ids(settings, speakers)
            result = {"serve_command": " ".join(["voice-avatar", "serve", *extra]), "users": USERS}
            result["loadavg_before"] = loadavg()
            run = asyncio.run(drive(server.base, speakers, clients, seconds))
            result["loadavg_after"] = loadavg()
            result.update(audit(settings, speakers, run, before))
            print(json.dumps({k: result[k] for k in ("requests", "req_per_s", "status_counts", "checks")}, indent=1))
            return result
        finally:
            if server is not None:
                server.stop()
            if pg_url:
                drop_pg_database(pg_url)
            if redis_url:
                flush_redis(redis_url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=256)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--modes", default="embedded,postgresql_redis")
    parser.add_argument("--out", type=Path, help="write here instead of bench/results/load_ledger.json")
    args = parser.parse_args()
    profile = fit_profile([load_audio(p) for p in sorted((VOICES / "3331").glob("*.flac"))[:3]]).to_bytes()
    logs = Path(tempfile.mkdtemp(prefix="load-ledger-logs-"))
    result = {"benchmark": "load_ledger", "git_sha": git_sha(), **machine(), "clients": args.clients,
              "window_s": args.seconds, "logs": str(logs)}
    for mode in args.modes.split(","):
        result[mode] = run_mode(mode, args.clients, args.seconds, profile, logs)
    result["exact"] = all(result[m]["exact"] for m in args.modes.split(","))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1, default=str))
        print(f"wrote {args.out}")
    else:
        print(f"wrote {write_result('load_ledger', result)}")
    if not result["exact"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
