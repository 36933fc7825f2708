"""The routing table: each product rule, and the cost ceiling switch."""

from __future__ import annotations

from decimal import Decimal

import pytest

from voice_avatar.routing import Context, Route, plan_route
from voice_avatar.settings import Settings

ALL = frozenset({"local", "fishaudio", "elevenlabs"})
SETTINGS = Settings()


def engines(routes: list[Route]) -> list[str]:
    return [r.engine for r in routes]


@pytest.mark.parametrize(
    ("tier", "chain", "reason"),
    [
        ("free", ["local"], "tier:free"),
        ("starter", ["fishaudio", "elevenlabs", "local"], "tier:starter"),
        ("premium", ["elevenlabs", "fishaudio", "local"], "tier:premium"),
    ],
)
def test_each_tier_starts_at_its_engine_and_ends_at_local(tier: str, chain: list[str], reason: str) -> None:
    routes = plan_route(SETTINGS, tier, 100, available=ALL)
    assert routes[0].reason == reason
    assert engines(routes)[0] == chain[0] and engines(routes)[-1] == "local"
    assert set(engines(routes)) == set(chain)


@pytest.mark.parametrize(
    ("chars", "context", "why"),
    [
        (100, Context(type="important_message"), "important_message"),
        (501, Context(), "long_text"),
        (100, Context(audience="public"), "public_audience"),
        (100, Context(quality="high"), "high_quality"),
    ],
)
def test_escalation_rules_move_starter_to_elevenlabs(chars: int, context: Context, why: str) -> None:
    routes = plan_route(SETTINGS, "starter", chars, context, available=ALL)
    assert routes[0] == Route("elevenlabs", f"escalated:{why}")
    assert engines(routes) == ["elevenlabs", "fishaudio", "local"]


def test_no_escalation_for_ordinary_messages_or_plans_without_one() -> None:
    assert plan_route(SETTINGS, "starter", 500, Context(type="reminder", audience="private"), available=ALL)[
        0
    ] == Route("fishaudio", "tier:starter")
    assert engines(plan_route(SETTINGS, "free", 900, Context(type="important_message"), available=ALL)) == ["local"]


def test_the_cost_ceiling_switches_premium_to_the_cheaper_engine() -> None:
    ceiling = SETTINGS.tiers["premium"].monthly_cost_ceiling_usd
    below = plan_route(SETTINGS, "premium", 100, month_cost_usd=ceiling - Decimal("0.01"), available=ALL)
    assert below[0] == Route("elevenlabs", "tier:premium")
    past = plan_route(SETTINGS, "premium", 100, month_cost_usd=ceiling, available=ALL)
    assert past[0] == Route("fishaudio", "cost_ceiling")
    assert engines(past)[-1] == "local"
    escalated = plan_route(SETTINGS, "premium", 100, Context(quality="high"), month_cost_usd=ceiling, available=ALL)
    assert escalated[0].reason == "cost_ceiling"  # the ceiling wins over escalation


def test_engines_without_keys_are_left_out() -> None:
    assert engines(plan_route(SETTINGS, "premium", 100, available=frozenset({"local", "fishaudio"}))) == [
        "fishaudio",
        "local",
    ]
    assert engines(plan_route(SETTINGS, "premium", 100, available=frozenset({"local"}))) == ["local"]


def test_an_experiment_arm_picks_the_first_engine() -> None:
    routes = plan_route(SETTINGS, "premium", 100, available=ALL, experiment_engine=("voices/fish", "fishaudio"))
    assert routes[0] == Route("fishaudio", "experiment:voices/fish")
    assert engines(routes) == ["fishaudio", "elevenlabs", "local"]
