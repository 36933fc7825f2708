"""The service's relational data: models, engines, sessions and packaged migrations.

Open it with ``migrate(settings.effective_database_url)`` once at startup, then
``session_factory_for(settings)``; the factory hands out sessions (``with factory.begin() as s:``).
"""

from voice_avatar.db.engine import create_engine_for, normalize_url
from voice_avatar.db.migrate import head_revision, migrate
from voice_avatar.db.models import (
    ApiKey,
    AuditEvent,
    Avatar,
    AvatarStatus,
    Base,
    ConsentChallenge,
    ExperimentOutcome,
    ProviderVoice,
    QuotaCounter,
    UsageEvent,
    User,
)
from voice_avatar.db.session import SessionFactory, make_session_factory, session_factory_for

__all__ = [
    "ApiKey",
    "AuditEvent",
    "Avatar",
    "AvatarStatus",
    "Base",
    "ConsentChallenge",
    "ExperimentOutcome",
    "ProviderVoice",
    "QuotaCounter",
    "SessionFactory",
    "UsageEvent",
    "User",
    "create_engine_for",
    "head_revision",
    "make_session_factory",
    "migrate",
    "normalize_url",
    "session_factory_for",
]
