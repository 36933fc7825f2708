"""Persistence: where avatars, their samples and fitted profiles live."""

from voice_avatar.store.avatars import AvatarRecord, AvatarRef, AvatarStore, validate_name
from voice_avatar.store.blobs import BlobStore, DiskBlobStore
from voice_avatar.store.open import open_store, autocommit_for, sessions_for

__all__ = ["AvatarRecord", "AvatarRef", "AvatarStore", "BlobStore", "DiskBlobStore", "open_store", "autocommit_for", "sessions_for", "validate_name"]
