from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import Field, ValidationError

from voice_avatar.settings import Settings, masked_settings


def test_default_plan_and_engine_prices(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    free, starter, premium = (settings.tiers[name] for name in ("free", "starter", "premium"))
    assert (free.price_usd_per_month, free.messages_per_month, free.chars_per_message, free.engine) == (
        Decimal("0"),
        100,
        500,
        "local",
    )
    assert (starter.price_usd_per_month, starter.messages_per_month, starter.chars_per_message, starter.engine) == (
        Decimal("9.99"),
        1000,
        2000,
        "fishaudio",
    )
    assert (premium.price_usd_per_month, premium.messages_per_month, premium.chars_per_message, premium.engine) == (
        Decimal("29.99"),
        None,
        5000,
        "elevenlabs",
    )
    assert settings.engine_cost_per_1k_chars == {
        "local": Decimal("0.0002"),
        "fishaudio": Decimal("0.0075"),  # the product plan
        "elevenlabs": Decimal("0.22"),  # ElevenLabs creator plan: $22 / 100k characters
    }
    assert (starter.escalation_engine, premium.monthly_cost_ceiling_usd) == ("elevenlabs", Decimal("20.00"))
    assert settings.cache_ttl_seconds == 24 * 3600
    assert settings.effective_database_url == f"sqlite:///{tmp_path / 'voice-avatar.db'}"
    assert settings.cache_dir == tmp_path / "cache"


def test_plan_and_prices_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VOICE_AVATAR_DATABASE_URL", "postgresql://va@db/va")
    monkeypatch.setenv("VOICE_AVATAR_ENGINE_COST_PER_1K_CHARS", '{"local": 0, "fish": "0.02"}')
    monkeypatch.setenv(
        "VOICE_AVATAR_TIERS",
        json.dumps(
            {"free": {"price_usd_per_month": 0, "messages_per_month": 5, "chars_per_message": 50, "engine": "local"}}
        ),
    )
    settings = Settings(home=tmp_path)
    assert settings.effective_database_url == "postgresql://va@db/va"
    assert settings.engine_cost_per_1k_chars["fish"] == Decimal("0.02")
    assert settings.tiers["free"].messages_per_month == 5 and set(settings.tiers) == {"free"}


def test_a_tier_on_an_unpriced_engine_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="no price for engine"):
        Settings(home=tmp_path, engine_cost_per_1k_chars={"local": 0})


def test_masked_settings_hide_secrets_and_url_passwords(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path,
        database_url="postgresql+psycopg://va:s3cret@db:5432/va",
        redis_url="redis://:hunter2@cache:6379/0",
    )
    masked = masked_settings(settings)
    text = json.dumps(masked)
    assert "s3cret" not in text and "hunter2" not in text
    assert masked["database_url"] == "postgresql+psycopg://va:***@db:5432/va"
    assert masked["redis_url"] == "redis://:***@cache:6379/0"
    assert masked["tiers"]["free"]["messages_per_month"] == 100


def test_secret_named_fields_are_masked_at_any_depth(tmp_path: Path) -> None:
    class WithSecrets(Settings):
        elevenlabs_api_key: str | None = None
        fish_token: str = ""
        providers: dict = Field(default_factory=dict)

    settings = WithSecrets(
        home=tmp_path,
        elevenlabs_api_key="sk-live-123",
        providers={"fish": {"secret": "abc", "region": "eu"}, "webhook_password": "pw"},
    )
    masked = masked_settings(settings)
    assert masked["elevenlabs_api_key"] == "***"
    assert masked["fish_token"] == ""  # unset stays visibly unset
    assert masked["providers"] == {"fish": {"secret": "***", "region": "eu"}, "webhook_password": "***"}
