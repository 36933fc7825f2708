"""Blobs (samples, consent recordings, fitted profiles) by key, on disk under HOME.

The interface is the small part of an object store that avatars need, so an S3-style store
can stand in for `DiskBlobStore` when API processes and workers do not share a disk.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Protocol

from voice_avatar.errors import NotFoundError, StorageFull

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$")


class BlobStore(Protocol):
    def put(self, key: str, data: bytes) -> None: ...
    def get(self, key: str) -> bytes: ...
    def exists(self, key: str) -> bool: ...
    def delete_prefix(self, prefix: str) -> int: ...


class DiskBlobStore:
    """Keys are relative paths (``avatar-id/profile.npz``); writes are atomic (temp file + rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, key: str, data: bytes) -> None:
        """Write all of `data` or nothing: a failed write (a full disk: `StorageFull`) leaves no temp file."""
        path = self._path(key)
        tmp = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except OSError as exc:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StorageFull(
                    f"not enough disk space to store {key.rsplit('/', 1)[-1]!r}: the avatar store is full; "
                    "free disk space (or ask the operator to) and try again"
                ) from exc
            raise

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"blob {key!r} is missing") from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete_prefix(self, prefix: str) -> int:
        """Remove everything under `prefix` (a folder); returns how many files went.

        The folder is renamed first, so no half-deleted folder is seen. A failure to remove is
        raised, not ignored (these are people's voices); the renamed folder left by an interrupted
        deletion is finished off by the next call for the same prefix.
        """
        path = self._path(prefix)
        doomed = path.with_name(f".deleting-{path.name}")
        if path.is_dir():
            if doomed.exists():
                shutil.rmtree(doomed)
            os.replace(path, doomed)
        elif path.exists():
            path.unlink()
            return 1
        if not doomed.is_dir():
            return 0
        removed = sum(1 for p in doomed.rglob("*") if p.is_file())
        shutil.rmtree(doomed)
        return removed

    def _path(self, key: str) -> Path:
        if not _KEY.match(key) or ".." in key.split("/"):
            raise ValueError(f"unsafe blob key {key!r}")
        return self.root / key
