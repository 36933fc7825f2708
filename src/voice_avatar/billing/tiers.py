"""Which plan applies: the one place that turns a tier name into its limits."""

from __future__ import annotations

from collections.abc import Mapping

from voice_avatar.db.models import User
from voice_avatar.errors import InputError
from voice_avatar.settings import TierPlan, get_settings

Plans = Mapping[str, TierPlan]


def resolve_plans(plans: Plans | None) -> Plans:
    """Callers that hold a `Settings` pass `settings.tiers`; None falls back to the process settings."""
    return plans if plans is not None else get_settings().tiers


def plan_named(tier: str, plans: Plans | None = None) -> TierPlan:
    """The plan called `tier`; an unknown name is the caller's mistake, so it is an `InputError`."""
    known = resolve_plans(plans)
    try:
        return known[tier]
    except KeyError:
        raise InputError(f"unknown tier {tier!r}; choose one of {', '.join(known)}") from None


def plan_for(user: User, plans: Plans | None = None) -> TierPlan:
    return plan_named(user.tier, plans)
