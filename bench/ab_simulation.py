"""A/B simulation: does the experiment report recover differences we planted ourselves?

1,000 messages from 200 simulated premium users go through the real machinery on a temporary,
migrated SQLite database: `experiment_for` picks each user's arm, `record_usage` prices the message
at the settings' `engine_cost_per_1k_chars`, `record_outcome` stores it, `rate_message` rates ~30 %
of them, and `report` summarises. Each arm's latency, quality and rating come from the seeded model
in MODEL below, so the true differences are known; the script checks that the report's 95 %
intervals contain them. One run can miss by chance (each interval does 5 % of the time), so it also
replays REPLICATES independent runs in memory through the same statistics (`summarize`) and reports
how often each interval covered the truth, which should be close to 95 %.

Messages are independent given the arm (no per-user effects), which is what the report's intervals
assume; real users differ, so real intervals are somewhat optimistic (see experiments.py).

    .venv/bin/python bench/ab_simulation.py       # writes bench/results/ab_simulation.json
"""

from __future__ import annotations

import json
import math
import subprocess
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from voice_avatar.billing.ledger import cost_usd, record_usage
from voice_avatar.db import User, create_engine_for, make_session_factory, migrate
from voice_avatar.experiments import experiment_for, rate_message, record_outcome, report, summarize
from voice_avatar.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "ab_simulation.json"

SEED = 20250310
MESSAGES = 1_000
USERS = 200
REPLICATES = 400
EXPERIMENT = "engine-ab"
SPEC = {"tiers": ["premium"], "arms": {"elevenlabs": {"engine": "elevenlabs"}, "fishaudio": {"engine": "fishaudio"}}}
CHARS = (20, 400)  # characters per message: uniform integers, both ends included, the same for both arms
RATED_FRACTION = 0.30  # chance that a message gets a rating
#: Per arm: latency is lognormal (median ms, sigma of its log); quality a DNSMOS-like normal(mean, sd);
#: the rating P(1..5). ElevenLabs is faster and better, so its users rate high more often.
MODEL = {
    "elevenlabs": {
        "latency_median_ms": 450.0,
        "latency_sigma": 0.35,
        "quality_mean": 3.10,
        "quality_sd": 0.12,
        "rating_p": [0.02, 0.04, 0.12, 0.37, 0.45],
    },
    "fishaudio": {
        "latency_median_ms": 650.0,
        "latency_sigma": 0.45,
        "quality_mean": 2.98,
        "quality_sd": 0.15,
        "rating_p": [0.04, 0.08, 0.20, 0.38, 0.30],
    },
}
METRICS = ("latency_ms", "cost_usd", "quality", "rating")


class Row(NamedTuple):
    """What `summarize` reads from an ExperimentOutcome, for the in-memory replicates."""

    arm: str
    user_id: str
    engine: str
    latency_ms: int
    cost_usd: Decimal
    quality: float | None
    rating: int | None


def main() -> None:
    started = time.perf_counter()
    home = Path(tempfile.mkdtemp(prefix="ab-sim-")) / "home"
    settings = Settings(home=home, experiments={EXPERIMENT: SPEC})
    rates = settings.engine_cost_per_1k_chars
    truth = true_means(settings)
    users = [User(id=f"sim-user-{i:03d}", name=f"Sim {i}", tier="premium") for i in range(USERS)]
    arm_of = {user.id: experiment_for(settings, user)[1] for user in users}

    url = f"sqlite:///{home.parent / 'ab.db'}"
    migrate(url)
    engine = create_engine_for(url)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        session.add_all(users)
    for draw in draw_messages(np.random.default_rng(SEED), [arm_of[u.id] for u in users], MESSAGES):
        with sessions.begin() as session:  # one transaction per message, as the speech route does
            user = session.get(User, users[draw["user"]].id)
            experiment, arm, arm_spec = experiment_for(settings, user)
            event = record_usage(
                session,
                user=user,
                engine=arm_spec.engine,
                characters=draw["chars"],
                cache_hit=False,
                latency_ms=draw["latency_ms"],
                rates=rates,
            )
            record_outcome(
                session,
                experiment=experiment,
                arm=arm,
                user_id=user.id,
                engine=arm_spec.engine,
                latency_ms=event.latency_ms,
                cost_usd=event.cost_usd,
                quality=draw["quality"],
                usage_event_id=event.id,
            )
            if draw["rating"] is not None:
                rate_message(session, user, event.id, draw["rating"])
    with sessions() as session:
        result = report(session, EXPERIMENT, arms=SPEC["arms"])
    engine.dispose()

    checks = recovery_checks(result, truth)
    calibration = coverage(settings, arm_of, truth)
    output = {
        "benchmark": "ab_simulation",
        "git_sha": _git_sha(),
        "seconds": round(time.perf_counter() - started, 1),
        "parameters": {
            "seed": SEED,
            "messages": MESSAGES,
            "users": USERS,
            "experiment": {EXPERIMENT: SPEC},
            "chars_uniform": list(CHARS),
            "rated_fraction": RATED_FRACTION,
            "model": MODEL,
            "engine_cost_per_1k_chars": {arm: str(rates[arm]) for arm in MODEL},
        },
        "true_means": truth,
        "true_differences": {m: truth["fishaudio"][m] - truth["elevenlabs"][m] for m in METRICS},
        "report": result,
        "recovery_checks": checks,
        "calibration": calibration,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(output, indent=2) + "\n")
    _print(output)


def draw_messages(rng: np.random.Generator, arms: list[str], n: int) -> list[dict[str, Any]]:
    """n messages from the model: a uniformly chosen user, and outcomes drawn from their arm's model."""
    user = rng.integers(0, len(arms), n)
    chars = rng.integers(CHARS[0], CHARS[1] + 1, n)
    z_latency, z_quality = rng.standard_normal(n), rng.standard_normal(n)
    rated, u_rating = rng.random(n) < RATED_FRACTION, rng.random(n)
    drawn = []
    for i in range(n):
        model = MODEL[arms[user[i]]]
        latency = math.exp(math.log(model["latency_median_ms"]) + model["latency_sigma"] * z_latency[i])
        rating = int(np.searchsorted(np.cumsum(model["rating_p"]), u_rating[i], side="right")) + 1
        drawn.append(
            {
                "user": int(user[i]),
                "chars": int(chars[i]),
                "latency_ms": round(latency),
                "quality": model["quality_mean"] + model["quality_sd"] * float(z_quality[i]),
                "rating": min(rating, 5) if rated[i] else None,
            }
        )
    return drawn


def true_means(settings: Settings) -> dict[str, dict[str, float]]:
    """The model's expected values; cost averages the billed (6-place) price over every message length."""
    truth = {}
    for arm, model in MODEL.items():
        engine = SPEC["arms"][arm]["engine"]
        costs = [
            float(cost_usd(engine, c, False, settings.engine_cost_per_1k_chars)) for c in range(CHARS[0], CHARS[1] + 1)
        ]
        truth[arm] = {
            "latency_ms": model["latency_median_ms"] * math.exp(model["latency_sigma"] ** 2 / 2),
            "cost_usd": float(np.mean(costs)),
            "quality": model["quality_mean"],
            "rating": float(np.dot(range(1, 6), model["rating_p"])),
        }
    return truth


def recovery_checks(result: dict[str, Any], truth: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    """Whether each true arm mean and each true difference lies inside the report's 95 % interval."""
    checks = []
    for arm in MODEL:
        for metric in METRICS:
            ci = result["arms"][arm][metric]["ci95"]
            checks.append(
                {
                    "what": f"{arm} {metric} mean",
                    "true": round(truth[arm][metric], 6),
                    "ci95": ci,
                    "covered": ci is not None and ci[0] <= truth[arm][metric] <= ci[1],
                }
            )
    for metric in METRICS:
        true = truth["fishaudio"][metric] - truth["elevenlabs"][metric]
        found = result["comparisons"]["fishaudio"][metric]
        checks.append(
            {
                "what": f"fishaudio - elevenlabs {metric}",
                "true": round(true, 6),
                "diff": found["diff"],
                "ci95": found["ci95"],
                "covered": found["ci95"] is not None and found["ci95"][0] <= true <= found["ci95"][1],
            }
        )
    return checks


def coverage(settings: Settings, arm_of: dict[str, str], truth: dict[str, dict[str, float]]) -> dict[str, Any]:
    """How often the report's intervals cover the truth over REPLICATES fresh runs of the same model."""
    user_ids = list(arm_of)
    arms = [arm_of[u] for u in user_ids]
    price = {
        (arm, c): cost_usd(spec["engine"], c, False, settings.engine_cost_per_1k_chars)
        for arm, spec in SPEC["arms"].items()
        for c in range(CHARS[0], CHARS[1] + 1)
    }
    hits = {f"diff {m}": 0 for m in METRICS} | {f"{a} {m}": 0 for a in MODEL for m in METRICS}
    for replicate in range(REPLICATES):
        rows = [
            Row(arm, user_ids[d["user"]], arm, d["latency_ms"], price[arm, d["chars"]], d["quality"], d["rating"])
            for d in draw_messages(np.random.default_rng([SEED, replicate + 1]), arms, MESSAGES)
            for arm in [arms[d["user"]]]
        ]
        for check in recovery_checks(summarize(EXPERIMENT, rows, SPEC["arms"]), truth):
            key = check["what"].replace("fishaudio - elevenlabs", "diff").replace(" mean", "")
            hits[key] += check["covered"]
    margin = 1.96 * math.sqrt(0.95 * 0.05 / REPLICATES)
    return {
        "replicates": REPLICATES,
        "nominal": 0.95,
        "binomial_95_band": [round(0.95 - margin, 3), round(0.95 + margin, 3)],
        "coverage": {key: round(n / REPLICATES, 3) for key, n in hits.items()},
    }


def _print(output: dict[str, Any]) -> None:
    result = output["report"]
    for arm, s in result["arms"].items():
        print(
            f"{arm:>10}: {s['messages']} messages, {s['users']} users | latency {s['latency_ms']['mean']:.0f} ms "
            f"{s['latency_ms']['ci95']} p50 {s['latency_ms']['p50']:.0f} p95 {s['latency_ms']['p95']:.0f} | cost "
            f"${s['cost_usd']['mean']:.6f}/msg (total ${s['cost_usd']['total']}) | quality "
            f"{s['quality']['mean']:.3f} | rating {s['rating']['mean']:.2f} (n={s['rating']['n']})"
        )
    for check in output["recovery_checks"]:
        print(
            f"  {'ok  ' if check['covered'] else 'MISS'} {check['what']:<34} true {check['true']:<12} "
            f"ci95 {check['ci95']}"
        )
    covered = sum(c["covered"] for c in output["recovery_checks"])
    print(f"recovered {covered}/{len(output['recovery_checks'])} true values within the report's 95 % intervals")
    print(
        f"coverage over {output['calibration']['replicates']} replicates "
        f"(expect {output['calibration']['binomial_95_band']}): {output['calibration']['coverage']}"
    )
    print(f"wrote {OUT.relative_to(ROOT)} in {output['seconds']} s")


def _git_sha() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


if __name__ == "__main__":
    main()
