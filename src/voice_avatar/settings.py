"""One settings object, read from the environment (prefix ``VOICE_AVATAR_``) and validated once.

Only this module reads the environment; everything else receives a `Settings`.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from platformdirs import user_data_dir
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from voice_avatar.quality.clone_gate import GateThresholds


def _default_home() -> Path:
    return Path(user_data_dir("voice-avatar", appauthor=False))


class TierPlan(BaseModel):
    """One row of the product plan; billing reads limits from here so plans change without code."""

    model_config = ConfigDict(frozen=True)

    price_usd_per_month: Decimal = Field(ge=0)
    messages_per_month: int | None = Field(ge=0, description="None means unlimited")
    chars_per_message: int = Field(gt=0)
    engine: str
    escalation_engine: str | None = Field(
        default=None, description="engine for important, long, public or high-quality messages, if the plan allows"
    )
    monthly_cost_ceiling_usd: Decimal | None = Field(
        default=None, description="past this month's cost the router prefers cheaper engines"
    )
    fallback_engines: tuple[str, ...] = Field(
        default=(), description="engines to fail over to, in order, before the local engine (always last)"
    )


def _default_tiers() -> dict[str, TierPlan]:
    return {
        "free": TierPlan(
            price_usd_per_month=Decimal("0"), messages_per_month=100, chars_per_message=500, engine="local"
        ),
        "starter": TierPlan(
            price_usd_per_month=Decimal("9.99"),
            messages_per_month=1000,
            chars_per_message=2000,
            engine="fishaudio",
            escalation_engine="elevenlabs",
            monthly_cost_ceiling_usd=Decimal("5.00"),
        ),
        "premium": TierPlan(
            price_usd_per_month=Decimal("29.99"),
            messages_per_month=None,
            chars_per_message=5000,
            engine="elevenlabs",
            escalation_engine="elevenlabs",
            monthly_cost_ceiling_usd=Decimal("20.00"),
            fallback_engines=("fishaudio",),
        ),
    }


#: ElevenLabs plans from the product plan: (USD per month, characters per month).
ELEVENLABS_PLANS = {
    "starter": (Decimal("5"), 30_000),
    "creator": (Decimal("22"), 100_000),
    "pro": (Decimal("99"), 500_000),
    "scale": (Decimal("330"), 2_000_000),
}


def _default_engine_costs() -> dict[str, Decimal]:
    """USD per 1,000 characters. Local: CPU time (about 16 s per 1k characters at $0.05 per core-hour).

    ElevenLabs: the creator plan's $22 / 100k characters; Fish Audio: the product plan's $0.0075.
    """
    price, characters = ELEVENLABS_PLANS["creator"]
    return {
        "local": Decimal("0.0002"),
        "fishaudio": Decimal("0.0075"),
        "elevenlabs": (price * 1000 / characters).quantize(Decimal("0.000001")),
    }


class GateBars(BaseModel):
    """The clone gate's bars for one engine, on our scales: GE2E cosine, DNSMOS OVRL, WER fraction."""

    model_config = ConfigDict(frozen=True)

    min_similarity: float = Field(ge=0, le=1)
    min_dnsmos: float = Field(ge=1, le=5)
    max_wer: float = Field(ge=0)
    min_gain_over_stock: float | None = None


class ArmSpec(BaseModel):
    """One arm of an A/B experiment: the engine its users get, and its share of users."""

    model_config = ConfigDict(frozen=True)

    engine: str = Field(min_length=1)
    weight: float = Field(default=1.0, gt=0, allow_inf_nan=False)


class ExperimentSpec(BaseModel):
    """An A/B test of engines for some tiers; users are split between `arms` by weight (see experiments.py)."""

    model_config = ConfigDict(frozen=True)

    active: bool = True
    tiers: list[str] = Field(min_length=1, description="the tiers whose users take part")
    arms: dict[str, ArmSpec]

    @field_validator("arms")
    @classmethod
    def _at_least_two_arms(cls, arms: dict[str, ArmSpec]) -> dict[str, ArmSpec]:
        """One arm compares nothing; names are stored in a 64-character column."""
        if len(arms) < 2:
            raise ValueError("an experiment needs at least two arms")
        too_long = [name for name in arms if not 0 < len(name) <= 64]
        if too_long:
            raise ValueError(f"arm names must be 1..64 characters: {too_long}")
        return arms


def _default_pregenerate_phrases() -> list[str]:
    greetings = ["Hello!", "Hi there!", "Good morning!", "Good afternoon!", "Good evening!", "Good night!"]
    confirmations = [
        "Okay.",
        "Done.",
        "Got it.",
        "Sure.",
        "Yes.",
        "No.",
        "Thank you!",
        "You're welcome.",
        "Your reminder is set.",
        "Sorry, I didn't catch that.",
        "One moment, please.",
    ]
    days = [
        "Today.",
        "Tomorrow.",
        "Yesterday.",
        "Monday.",
        "Tuesday.",
        "Wednesday.",
        "Thursday.",
        "Friday.",
        "Saturday.",
        "Sunday.",
    ]
    return greetings + confirmations + days + [str(n) for n in range(101)]


def _default_gate_bars() -> dict[str, GateBars]:
    """Local: from bench/clone_gate.py, where good clones scored similarity 0.52-0.71 (0.04-0.18 above
    the stock voice), DNSMOS 3.0-3.2, WER <= 9 %, while clones of noisy samples fell below 2.9 DNSMOS, above
    15 % WER or within 0.03 of the stock voice. Cloud: the product plan's bars moved onto our scales.

    The plan asks ElevenLabs for MOS 4.5 / similarity 0.95 and Fish Audio for 4.2 / 0.90 on the
    providers' own scales. On ours a second real recording of the same person scores 0.91 GE2E
    and clean read speech 3.12 DNSMOS, so similarity maps as x0.91 and MOS 1..4.5 onto 1..3.12.
    """
    return {
        "local": GateBars(min_similarity=0.45, min_dnsmos=2.9, max_wer=0.15, min_gain_over_stock=0.03),
        "fishaudio": GateBars(min_similarity=0.82, min_dnsmos=2.94, max_wer=0.10),
        "elevenlabs": GateBars(min_similarity=0.86, min_dnsmos=3.12, max_wer=0.10),
    }


class Settings(BaseSettings):
    """Effective configuration; `voice-avatar config` prints it."""

    model_config = SettingsConfigDict(env_prefix="VOICE_AVATAR_", extra="ignore")

    home: Path = Field(default_factory=_default_home, description="where avatars and caches live")
    tier_min_speech_seconds: dict[str, float] = Field(
        default={"free": 10.0, "starter": 30.0, "premium": 60.0},
        description="voiced seconds a sample needs, per tier (the sample check's speech_duration)",
    )
    require_consent: bool | None = Field(
        default=None,
        description="demand a consent recording at enrollment; unset means on for the service, off for the CLI",
    )
    max_upload_bytes: int = Field(default=50 * 1024 * 1024, gt=0, description="largest audio file the API accepts")
    breaker_threshold: int = Field(default=3, ge=1, description="consecutive failures that open an engine's breaker")
    breaker_cooldown_seconds: float = Field(default=30.0, gt=0, description="how long an open breaker skips its engine")
    pregenerate_phrases: list[str] = Field(
        default_factory=_default_pregenerate_phrases,
        description="said into the cache right after enrollment (greetings, confirmations, numbers, days)",
    )
    pregenerate_formats: list[str] = Field(default=["mp3"], description="formats the phrases are cached in")
    clone_gate: dict[str, GateBars] = Field(
        default_factory=_default_gate_bars,
        description="per engine: the scores a new avatar needs to be ready (bench/clone_gate.py)",
    )

    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL (postgresql://... or sqlite:///...); unset means a SQLite file in home",
    )
    redis_url: str | None = Field(
        default=None, description="Redis for the audio cache and job queue; unset means embedded (disk cache)"
    )
    cache_ttl_seconds: int = Field(default=24 * 3600, gt=0, description="how long synthesised audio stays cached")
    quick_threads: int = Field(
        default=4,
        ge=1,
        description="threads per API process for a speech request's quick part (caller, avatar, cache, a hit's "
        "bill); syntheses run on the others. A few cover the database's round trips; many only hand the GIL around",
    )
    rate_limit_per_minute: int = Field(
        default=600, ge=0, description="requests per minute one API key may make on average; 0 disables the limit"
    )
    rate_limit_burst: int = Field(
        default=100, ge=1, description="requests one API key may make at once before the per-minute rate applies"
    )
    tiers: dict[str, TierPlan] = Field(default_factory=_default_tiers, description="the product plan, by tier name")
    engine_cost_per_1k_chars: dict[str, Decimal] = Field(
        default_factory=_default_engine_costs, description="what each engine costs us, USD per 1000 characters"
    )
    experiments: dict[str, ExperimentSpec] = Field(
        default_factory=dict,
        description="A/B tests of engines, by name (1..64 characters); a user takes part in the first active one "
        "listing their tier",
    )
    alert_user_daily_cost_usd: Decimal = Field(
        default=Decimal("1.00"),
        ge=0,
        description="log a cost alert when one user's engine cost in a UTC day exceeds this",
    )
    alert_daily_cost_usd: Decimal = Field(
        default=Decimal("50.00"),
        ge=0,
        description="log a cost alert when the service's engine cost in a UTC day exceeds this",
    )
    elevenlabs_api_key: str | None = Field(default=None, description="ElevenLabs API key; unset disables the engine")
    elevenlabs_base_url: str = Field(
        default="https://api.elevenlabs.io", description="ElevenLabs API root (regional hosts exist, e.g. api.eu...)"
    )
    elevenlabs_model_id: str = Field(default="eleven_flash_v2_5", description="ElevenLabs TTS model_id")
    elevenlabs_timeout_seconds: float = Field(
        default=30.0, gt=0, description="ElevenLabs connect/read timeout; a longer silence counts as a failure"
    )
    fishaudio_api_key: str | None = Field(default=None, description="Fish Audio API key; unset disables the engine")
    fishaudio_base_url: str = Field(default="https://api.fish.audio", description="Fish Audio API root")
    fishaudio_model: str = Field(
        default="s2.1-pro", description="Fish Audio TTS backend, sent as the `model` header (s1, s2-pro, s2.1-pro)"
    )
    fishaudio_timeout_seconds: float = Field(
        default=30.0, gt=0, description="Fish Audio connect/read timeout; a longer silence counts as a failure"
    )

    @model_validator(mode="after")
    def _every_tier_engine_has_a_price(self) -> Settings:
        """Billing must price every message, so a plan naming an unpriced engine is refused at startup."""
        used = {
            e
            for plan in self.tiers.values()
            for e in (plan.engine, plan.escalation_engine, *plan.fallback_engines)
            if e
        }
        unpriced = sorted(used - set(self.engine_cost_per_1k_chars))
        if unpriced:
            raise ValueError(
                f"engine_cost_per_1k_chars has no price for engine(s) used by a tier: {', '.join(unpriced)}"
            )
        return self

    @model_validator(mode="after")
    def _every_experiment_engine_has_a_price(self) -> Settings:
        """An experiment's messages are billed and compared on cost, so each arm's engine needs a price."""
        problems = [f"{name!r} is longer than 64 characters" for name in self.experiments if len(name) > 64]
        problems += [
            f"{name}.{arm}: no price for engine {spec.engine!r} in engine_cost_per_1k_chars"
            for name, experiment in self.experiments.items()
            for arm, spec in experiment.arms.items()
            if spec.engine not in self.engine_cost_per_1k_chars
        ]
        if problems:
            raise ValueError("experiments: " + "; ".join(problems))
        return self

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'voice-avatar.db'}"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    def gate_thresholds(self, engine: str) -> GateThresholds:
        """The clone gate's bars for `engine`; an engine without bars is a configuration error."""
        from voice_avatar.quality.clone_gate import GateThresholds

        if engine not in self.clone_gate:
            raise ValueError(f"clone_gate has no bars for engine {engine!r}")
        return GateThresholds(**self.clone_gate[engine].model_dump())

    def consent_required(self, surface: str) -> bool:
        """Whether enrollment on `surface` ("service" or "cli") needs a consent recording."""
        return self.require_consent if self.require_consent is not None else surface == "service"


_SECRET_WORDS = ("key", "secret", "password", "token")
MASK = "***"


def masked_settings(settings: Settings) -> dict[str, Any]:
    """Settings safe to print or log: secret-named fields and passwords inside URLs become ``***``."""
    return _mask(settings.model_dump(mode="json"), name="")


def _mask(value: Any, name: str) -> Any:
    if value not in (None, "") and any(word in name.lower() for word in _SECRET_WORDS):
        return MASK
    if isinstance(value, dict):
        return {key: _mask(item, str(key)) for key, item in value.items()}
    if isinstance(value, list):
        return [_mask(item, name) for item in value]
    if isinstance(value, str):
        return _mask_url_password(value)
    return value


def _mask_url_password(text: str) -> str:
    try:
        parts = urlsplit(text)
        has_password = bool(parts.password)
    except ValueError:
        return text
    if not has_password:
        return text
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{host}"))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read on first use."""
    return Settings()
