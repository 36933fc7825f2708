"""Blobs (samples, consent recordings, fitted profiles) by key, on disk under HOME.

The interface is the small part of an object store that avatars need, so an S3-style store
can stand in for `DiskBlobStore` when API processes and workers do not share a disk.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Protocol

from voice_avatar.errors import NotFoundError

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$")


class BlobStore(Protocol):
    def put(self, key: str, data: bytes) -> None: ...
    def get(self, key: str) -> bytes: ...
    def exists(self, key: str) -> bool: ...
    def delete_prefix(self, prefix: str) -> None: ...


class DiskBlobStore:
    """Keys are relative paths (``avatar-id/profile.npz``); writes are atomic (temp file + rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"blob {key!r} is missing") from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete_prefix(self, prefix: str) -> None:
        """Remove everything under `prefix` (a folder): rename first, so no half-deleted folder is seen."""
        path = self._path(prefix)
        if path.is_dir():
            doomed = path.with_name(f".deleting-{path.name}")
            os.replace(path, doomed)
            shutil.rmtree(doomed, ignore_errors=True)
        elif path.exists():
            path.unlink()

    def _path(self, key: str) -> Path:
        if not _KEY.match(key) or ".." in key.split("/"):
            raise ValueError(f"unsafe blob key {key!r}")
        return self.root / key
