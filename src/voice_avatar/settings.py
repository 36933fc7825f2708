"""One settings object, read from the environment (prefix ``VOICE_AVATAR_``) and validated once.

Only this module reads the environment; everything else receives a `Settings`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from platformdirs import user_data_dir
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_home() -> Path:
    return Path(user_data_dir("voice-avatar", appauthor=False))


class Settings(BaseSettings):
    """Effective configuration; `voice-avatar config` prints it."""

    model_config = SettingsConfigDict(env_prefix="VOICE_AVATAR_", extra="ignore")

    home: Path = Field(default_factory=_default_home, description="where avatars and caches live")
    tier_min_speech_seconds: dict[str, float] = Field(
        default={"free": 10.0, "starter": 30.0, "premium": 60.0},
        description="voiced seconds a sample needs, per tier (the sample check's speech_duration)",
    )

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def avatars_dir(self) -> Path:
        return self.home / "avatars"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read on first use."""
    return Settings()
