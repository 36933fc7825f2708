"""Which engine speaks a message, and why: the product's routing rules as one pure function.

Rules, in order:
1. the tier's engine (free: local, starter: Fish Audio, premium: ElevenLabs);
2. escalate to the plan's escalation engine for an important message, a long text (> 500
   characters), a public audience or high quality, when the plan has one;
3. an A/B experiment the user takes part in picks the arm's engine;
4. past the plan's monthly cost ceiling, the cheapest paid engine the plan allows instead;
5. then fail over along the rest of the plan's engines, always ending at the local engine, so
   speech is served while any engine works. Engines without an API key are not in the chain.
The first engine's reason travels in `X-Route-Reason` and the usage ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from voice_avatar.settings import Settings, TierPlan

LONG_TEXT_CHARS = 500
LOCAL = "local"


@dataclass(frozen=True)
class Context:
    """The caller's hints about a message (all optional)."""

    type: str | None = None
    audience: str | None = None
    quality: str | None = None


@dataclass(frozen=True)
class Route:
    engine: str
    reason: str


def plan_route(
    settings: Settings,
    tier: str,
    text_chars: int,
    context: Context = Context(),
    month_cost_usd: Decimal = Decimal(0),
    available: frozenset[str] = frozenset({LOCAL}),
    experiment_engine: tuple[str, str] | None = None,
) -> list[Route]:
    """The engines to try, in order, each with why it is there."""
    plan = settings.tiers[tier]
    first, reason = plan.engine, f"tier:{tier}"
    escalation = _escalation_reason(text_chars, context)
    if escalation and plan.escalation_engine:
        first, reason = plan.escalation_engine, f"escalated:{escalation}"
    if experiment_engine is not None:
        first, reason = experiment_engine[1], f"experiment:{experiment_engine[0]}"
    ceiling = plan.monthly_cost_ceiling_usd
    if ceiling is not None and month_cost_usd >= ceiling and first != LOCAL:
        cheaper = _cheapest_paid(settings, _allowed(plan), available)
        if cheaper is not None and _price(settings, cheaper) < _price(settings, first):
            first, reason = cheaper, "cost_ceiling"
    chain = [Route(first, reason)]
    for engine in _allowed(plan):
        if engine not in {r.engine for r in chain}:
            chain.append(Route(engine, f"failover:{engine}"))
    if LOCAL not in {r.engine for r in chain}:
        chain.append(Route(LOCAL, "failover:local"))
    return [r for r in chain if r.engine in available or r.engine == LOCAL]


def _escalation_reason(text_chars: int, context: Context) -> str | None:
    if context.type == "important_message":
        return "important_message"
    if text_chars > LONG_TEXT_CHARS:
        return "long_text"
    if context.audience == "public":
        return "public_audience"
    if context.quality == "high":
        return "high_quality"
    return None


def _allowed(plan: TierPlan) -> list[str]:
    """The plan's engines in failover order: escalation, the tier's own, its fallbacks, then local."""
    ordered = [e for e in (plan.escalation_engine, plan.engine, *plan.fallback_engines, LOCAL) if e]
    return list(dict.fromkeys(ordered))


def _cheapest_paid(settings: Settings, engines: list[str], available: frozenset[str]) -> str | None:
    paid = [e for e in engines if e != LOCAL and e in available]
    return min(paid, key=lambda e: _price(settings, e), default=None)


def _price(settings: Settings, engine: str) -> Decimal:
    return settings.engine_cost_per_1k_chars.get(engine, Decimal(0))
