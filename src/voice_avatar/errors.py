"""The project's exception tree, mapped to exit codes (and later HTTP statuses) once, at the edge.

    VoiceAvatarError
    ├── InputError            the caller gave us something we cannot use (CLI exit 2, HTTP 4xx)
    │   ├── AudioDecodeError  a file that is not audio, is empty, truncated or lies in its header
    │   ├── NotFoundError     a named avatar (or other object) does not exist
    │   ├── ConflictError     the name is already taken
    │   └── QuotaExceeded     the user's plan does not allow this message (HTTP 429 or 413)
    ├── EngineError           synthesis or enrollment failed inside an engine
    └── StorageFull           the blob store's disk is full (HTTP 507): nothing half-written is kept
"""

from __future__ import annotations


class VoiceAvatarError(Exception):
    """Base of every error the product raises on purpose."""

    retryable: bool = False


class InputError(VoiceAvatarError):
    """Raised when input from the user is unusable; the message says which input and why."""


class AudioDecodeError(InputError):
    """Raised when an audio file cannot be decoded into samples."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


class NotFoundError(InputError):
    """Raised when a named object (an avatar) does not exist."""


class ConflictError(InputError):
    """Raised when creating an object whose name is already taken."""


class QuotaExceeded(InputError):
    """Raised when a message is refused by the user's plan.

    `limit` names the rule ('messages_per_month' or 'chars_per_message') so the edge can pick a status;
    `resets_at` (ISO 8601, UTC) says when a monthly limit lifts, and is None for limits that never reset.
    """

    def __init__(self, message: str, *, limit: str, limit_value: int, resets_at: str | None = None) -> None:
        super().__init__(message)
        self.limit = limit
        self.limit_value = limit_value
        self.resets_at = resets_at


class EngineError(VoiceAvatarError):
    """Raised when an engine fails to enroll or synthesise."""


class StorageFull(VoiceAvatarError):
    """Raised when the blob store cannot write because its disk (or quota) is full."""

    retryable = True
