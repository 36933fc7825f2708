"""What the router needs from a cloud engine, and the errors every provider's failures map to.

Each provider client turns its HTTP failures into one of `ProviderError`'s subclasses, whose
`action` tells the router what to do: retry the same engine, fail over to the next one, or
stop and tell our caller (their request was wrong).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from voice_avatar.errors import EngineError

#: Formats the router asks cloud engines for; each client maps them to the provider's names.
CLOUD_FORMATS = ("mp3", "wav", "pcm")


class Action(StrEnum):
    RETRY = "retry"  # the same engine, after `retry_after` seconds if given
    FAILOVER = "failover"  # the next engine in the chain
    RECREATE_VOICE = "recreate_voice"  # make the provider voice again, once, then retry
    REFUSE = "refuse"  # our caller's request is wrong: a 4xx for them, no other engine will do better


class ProviderError(EngineError):
    """A provider failure, classified. `status` is the provider's HTTP status (None: no answer)."""

    action: Action = Action.FAILOVER

    def __init__(self, provider: str, message: str, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider, self.status, self.retry_after = provider, status, retry_after


class ProviderAuthError(ProviderError):
    """The API key is wrong or revoked: no retry helps until an operator fixes the key."""


class ProviderQuotaError(ProviderError):
    """The account is out of characters/credits or its payment failed."""


class ProviderRateLimited(ProviderError):
    """Too many requests or too much concurrency: retry after `retry_after`, or fail over."""

    action = Action.RETRY


class ProviderBadRequest(ProviderError):
    """The provider refused the request itself (text too long, bad parameter)."""

    action = Action.REFUSE


class VoiceMissing(ProviderError):
    """The provider no longer knows the voice id we stored: re-create it from the samples once."""

    action = Action.RECREATE_VOICE


class ProviderTimeout(ProviderError):
    """No (complete) answer in time."""


class ProviderServerError(ProviderError):
    """5xx, or an answer that is not what the API documents (e.g. malformed audio)."""


@dataclass(frozen=True)
class Sample:
    """One enrollment recording as uploaded: its file name (for the format) and bytes."""

    filename: str
    data: bytes


@dataclass(frozen=True)
class ProviderUsage:
    """The account's standing: characters (or credits) used and left, in the provider's own unit."""

    used: float | None
    limit: float | None
    unit: str
    raw: dict


class CloudEngine(Protocol):
    """A provider client. `fmt` is one of CLOUD_FORMATS; audio comes back encoded in it.

    `sample_rate` applies to wav and pcm (pcm: 16-bit little-endian mono at that rate); mp3 is
    whatever the provider sends at its standard quality.
    """

    name: str

    def create_voice(self, name: str, samples: Sequence[Sample]) -> str:
        """Clone a voice from the samples; returns the provider's voice id."""
        ...

    def delete_voice(self, voice_id: str) -> None:
        """Delete it; a voice that is already gone is not an error."""
        ...

    def synthesize(self, text: str, voice_id: str, fmt: str, speed: float = 1.0, sample_rate: int = 24000) -> bytes: ...

    def stream(
        self, text: str, voice_id: str, fmt: str, speed: float = 1.0, sample_rate: int = 24000
    ) -> Iterator[bytes]:
        """The audio in pieces as the provider sends them (their concatenation is the file)."""
        ...

    def usage(self) -> ProviderUsage: ...
