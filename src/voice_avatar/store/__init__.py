"""Persistence: where avatars, their samples and fitted profiles live."""

from voice_avatar.store.avatars import AvatarRecord, AvatarStore, validate_name

__all__ = ["AvatarRecord", "AvatarStore", "validate_name"]
