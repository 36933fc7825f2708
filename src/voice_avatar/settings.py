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


def _default_tiers() -> dict[str, TierPlan]:
    return {
        "free": TierPlan(
            price_usd_per_month=Decimal("0"), messages_per_month=100, chars_per_message=500, engine="local"
        ),
        "starter": TierPlan(
            price_usd_per_month=Decimal("9.99"), messages_per_month=1000, chars_per_message=2000, engine="fish"
        ),
        "premium": TierPlan(
            price_usd_per_month=Decimal("29.99"), messages_per_month=None, chars_per_message=5000, engine="elevenlabs"
        ),
    }


def _default_engine_costs() -> dict[str, Decimal]:
    return {"local": Decimal("0.0"), "fish": Decimal("0.015"), "elevenlabs": Decimal("0.30")}


class GateBars(BaseModel):
    """The clone gate's bars for one engine, on our scales: GE2E cosine, DNSMOS OVRL, WER fraction."""

    model_config = ConfigDict(frozen=True)

    min_similarity: float = Field(ge=0, le=1)
    min_dnsmos: float = Field(ge=1, le=5)
    max_wer: float = Field(ge=0)
    min_gain_over_stock: float | None = None


def _default_pregenerate_phrases() -> list[str]:
    greetings = ["Hello!", "Hi there!", "Good morning!", "Good afternoon!", "Good evening!", "Good night!"]
    confirmations = ["Okay.", "Done.", "Got it.", "Sure.", "Yes.", "No.", "Thank you!", "You're welcome.",
                     "Your reminder is set.", "Sorry, I didn't catch that.", "One moment, please."]
    days = ["Today.", "Tomorrow.", "Yesterday.", "Monday.", "Tuesday.", "Wednesday.", "Thursday.", "Friday.",
            "Saturday.", "Sunday."]
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
        "fish": GateBars(min_similarity=0.82, min_dnsmos=2.94, max_wer=0.10),
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
    tiers: dict[str, TierPlan] = Field(default_factory=_default_tiers, description="the product plan, by tier name")
    engine_cost_per_1k_chars: dict[str, Decimal] = Field(
        default_factory=_default_engine_costs, description="what each engine costs us, USD per 1000 characters"
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

    @model_validator(mode="after")
    def _every_tier_engine_has_a_price(self) -> Settings:
        """Billing must price every message, so a plan naming an unpriced engine is refused at startup."""
        unpriced = sorted({plan.engine for plan in self.tiers.values()} - set(self.engine_cost_per_1k_chars))
        if unpriced:
            raise ValueError(
                f"engine_cost_per_1k_chars has no price for engine(s) used by a tier: {', '.join(unpriced)}"
            )
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
