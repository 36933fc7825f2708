"""A/B experiments for the engine router: who gets which engine, what came of it, and what it showed.

A user's arm is a pure function of the experiment's name and the user's id (sha256), so every API
process, worker and restart agrees without storing assignments. Changing a running experiment's arms
or weights moves users between arms; start a new experiment (a new name) instead.

The report compares arms as assigned (intent to treat): a message the router failed over to another
engine still counts for its arm, and `engines` shows how often that happened. Its confidence
intervals treat messages as independent; users, not messages, are randomised, so when a few users
send most messages or users differ a lot, the intervals are too narrow (compare `messages` with `users`).
Functions here flush but never commit: the caller owns the transaction.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, Protocol

import numpy as np
from scipy import stats
from sqlalchemy import select
from sqlalchemy.orm import Session

from voice_avatar.db.models import ExperimentOutcome, User
from voice_avatar.errors import InputError, NotFoundError
from voice_avatar.settings import ArmSpec, ExperimentSpec, Settings

CONFIDENCE = 0.95
RATINGS = range(1, 6)
_PLACES = 6
_METRICS = ("latency_ms", "cost_usd", "quality", "rating")


def assign(spec: ExperimentSpec, experiment_name: str, user_id: str) -> str:
    """The user's arm: sha256 places them in [0, 1), which the arms share by weight in name order."""
    position = _unit_interval(f"{experiment_name}:{user_id}")
    total = sum(arm.weight for arm in spec.arms.values())
    reached = 0.0
    names = sorted(spec.arms)
    for name in names:
        reached += spec.arms[name].weight / total
        if position < reached:
            return name
    return names[-1]  # rounding left `reached` a hair under 1


def _unit_interval(key: str) -> float:
    """53 bits of the digest as a float in [0, 1): exact, and the same on every platform and run."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return (int.from_bytes(digest[:8], "big") >> 11) / float(1 << 53)


def experiment_for(settings: Settings, user: User) -> tuple[str, str, ArmSpec] | None:
    """(experiment, arm, arm spec) for the first active experiment open to the user's tier, else None."""
    for name, spec in settings.experiments.items():
        if spec.active and user.tier in spec.tiers:
            arm = assign(spec, name, user.id)
            return name, arm, spec.arms[arm]
    return None


def record_outcome(
    session: Session,
    *,
    experiment: str,
    arm: str,
    user_id: str,
    engine: str,
    latency_ms: int,
    cost_usd: Decimal,
    quality: float | None = None,
    usage_event_id: int | None = None,
) -> ExperimentOutcome:
    """Add one served message to the caller's transaction; `engine` is the one that actually spoke."""
    outcome = ExperimentOutcome(
        experiment=experiment,
        arm=arm,
        user_id=user_id,
        usage_event_id=usage_event_id,
        engine=engine,
        latency_ms=latency_ms,
        cost_usd=cost_usd,
        quality=quality,
    )
    session.add(outcome)
    session.flush()
    return outcome


def rate_message(session: Session, user: User, usage_event_id: int, rating: int) -> ExperimentOutcome:
    """Set (or change) the user's 1..5 rating of one of their own messages served in an experiment."""
    if isinstance(rating, bool) or not isinstance(rating, int) or rating not in RATINGS:
        raise InputError(f"rating must be an integer from 1 to 5, not {rating!r}")
    outcome = session.scalars(
        select(ExperimentOutcome)
        .where(ExperimentOutcome.usage_event_id == usage_event_id, ExperimentOutcome.user_id == user.id)
        .order_by(ExperimentOutcome.id)
    ).first()
    if outcome is None:  # someone else's message looks the same as no message: ids reveal nothing
        raise NotFoundError(f"no message {usage_event_id} of yours was served in an experiment")
    outcome.rating = rating
    session.flush()
    return outcome


class OutcomeRow(Protocol):
    arm: str
    user_id: str
    engine: str
    latency_ms: int
    cost_usd: Decimal
    quality: float | None
    rating: int | None


def report(session: Session, experiment: str, arms: Iterable[str] = ()) -> dict[str, Any]:
    """The experiment's report from the database; `arms` lists configured arms to show even without data."""
    rows = session.execute(
        select(
            ExperimentOutcome.arm,
            ExperimentOutcome.user_id,
            ExperimentOutcome.engine,
            ExperimentOutcome.latency_ms,
            ExperimentOutcome.cost_usd,
            ExperimentOutcome.quality,
            ExperimentOutcome.rating,
        ).where(ExperimentOutcome.experiment == experiment)
    ).all()
    return summarize(experiment, rows, arms)


def summarize(experiment: str, rows: Iterable[OutcomeRow], arms: Iterable[str] = ()) -> dict[str, Any]:
    """Per arm: counts, means with 95% t intervals, latency percentiles; then each arm against the
    first arm by name (the baseline): difference in means with a 95% Welch interval."""
    by_arm: dict[str, list[OutcomeRow]] = {name: [] for name in arms}
    for row in rows:
        by_arm.setdefault(row.arm, []).append(row)
    names = sorted(by_arm)
    samples = {name: _samples(by_arm[name]) for name in names}
    result: dict[str, Any] = {
        "experiment": experiment,
        "confidence": CONFIDENCE,
        "baseline": names[0] if names else None,
        "arms": {name: _arm_summary(by_arm[name], samples[name]) for name in names},
        "comparisons": {},
    }
    for name in names[1:]:
        result["comparisons"][name] = {
            "vs": names[0],
            **{metric: _welch(samples[names[0]][metric], samples[name][metric]) for metric in _METRICS},
        }
    return result


def _samples(rows: Sequence[OutcomeRow]) -> dict[str, np.ndarray]:
    return {
        "latency_ms": np.array([row.latency_ms for row in rows], dtype=float),
        "cost_usd": np.array([float(row.cost_usd) for row in rows], dtype=float),
        "quality": np.array([row.quality for row in rows if row.quality is not None], dtype=float),
        "rating": np.array([row.rating for row in rows if row.rating is not None], dtype=float),
    }


def _arm_summary(rows: Sequence[OutcomeRow], samples: dict[str, np.ndarray]) -> dict[str, Any]:
    latency = samples["latency_ms"]
    has = latency.size > 0
    total = sum((Decimal(row.cost_usd) for row in rows), Decimal(0)).quantize(Decimal(1).scaleb(-_PLACES))
    return {
        "messages": len(rows),
        "users": len({row.user_id for row in rows}),
        "engines": dict(sorted(Counter(row.engine for row in rows).items())),
        "latency_ms": {
            **_mean_ci(latency),
            "p50": _round(np.percentile(latency, 50)) if has else None,
            "p95": _round(np.percentile(latency, 95)) if has else None,
        },
        "cost_usd": {**_mean_ci(samples["cost_usd"]), "total": str(total)},
        "quality": _mean_ci(samples["quality"]),
        "rating": _mean_ci(samples["rating"]),
    }


def _mean_ci(values: np.ndarray) -> dict[str, Any]:
    """Mean and its t interval; one value has no spread to estimate, so its interval is None."""
    n = int(values.size)
    if n == 0:
        return {"n": 0, "mean": None, "ci95": None}
    mean = float(values.mean())
    if n < 2:
        return {"n": n, "mean": _round(mean), "ci95": None}
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1)) * float(values.std(ddof=1)) / np.sqrt(n)
    return {"n": n, "mean": _round(mean), "ci95": [_round(mean - half), _round(mean + half)]}


def _welch(baseline: np.ndarray, other: np.ndarray) -> dict[str, Any]:
    """other - baseline with Welch's interval (unequal variances, Welch-Satterthwaite df)."""
    if baseline.size == 0 or other.size == 0:
        return {"diff": None, "ci95": None, "excludes_zero": None, "df": None}
    diff = float(other.mean() - baseline.mean())
    if baseline.size < 2 or other.size < 2:
        return {"diff": _round(diff), "ci95": None, "excludes_zero": None, "df": None}
    va, vb = baseline.var(ddof=1) / baseline.size, other.var(ddof=1) / other.size
    se = float(np.sqrt(va + vb))
    if se == 0.0:  # both arms constant: the difference is known exactly
        return {"diff": _round(diff), "ci95": [_round(diff), _round(diff)], "excludes_zero": diff != 0, "df": None}
    df = float((va + vb) ** 2 / (va**2 / (baseline.size - 1) + vb**2 / (other.size - 1)))
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, df)) * se
    low, high = diff - half, diff + half
    return {
        "diff": _round(diff),
        "ci95": [_round(low), _round(high)],
        "excludes_zero": low > 0 or high < 0,
        "df": _round(df),
    }


def _round(value: float) -> float:
    return round(float(value), _PLACES)
