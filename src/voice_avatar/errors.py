"""The project's exception tree, mapped to exit codes (and later HTTP statuses) once, at the edge.

    VoiceAvatarError
    ├── InputError            the caller gave us something we cannot use (CLI exit 2, HTTP 4xx)
    │   ├── AudioDecodeError  a file that is not audio, is empty, truncated or lies in its header
    │   ├── NotFoundError     a named avatar (or other object) does not exist
    │   └── ConflictError     the name is already taken
    └── EngineError           synthesis or enrollment failed inside an engine
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


class EngineError(VoiceAvatarError):
    """Raised when an engine fails to enroll or synthesise."""
