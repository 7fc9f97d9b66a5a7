"""The blob interface both store backends implement: keys are `/`-separated paths under the store.

The store logic (chain, deltas, verification, pruning) is written once against this interface;
a backend only knows how to put bytes somewhere atomically, list, read, delete and lock.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Protocol

from auditor.errors import RunError


class LockedObjectError(Exception):
    """A delete was refused because the object is under retention (S3 Object Lock)."""


class UnsafeObjectError(RunError):
    """A store key that is not a plain file of sane size: a symlink, FIFO, device or folder, or
    larger than the caller allows. Never read, so a planted /dev/zero cannot hang `verify`."""

    def __init__(self, key: str, why: str) -> None:
        super().__init__(f"{key}: {why}; refused")
        self.key = key
        self.why = why


class Backend(Protocol):
    url: str

    def read(self, key: str, *, limit: int | None = None) -> bytes:
        """The object's bytes; KeyError when it does not exist; UnsafeObjectError when it is not
        a regular file or holds more than `limit` bytes."""
        ...

    def irregular(self) -> list[tuple[str, str]]:
        """(key, what it is) for every entry that is not a regular file or folder (symlinks,
        FIFOs, devices, sockets): `verify` reports them; `read` refuses them."""
        ...

    def exists(self, key: str) -> bool: ...

    def write(self, key: str, data: bytes, *, retain: bool = True) -> None:
        """Atomically create or replace `key`. `retain`: apply the store's retention (S3)."""
        ...

    def write_new(self, key: str, data: bytes, *, retain: bool = True) -> bool:
        """Atomically create `key` only if absent; False when it already existed."""
        ...

    def write_file(self, key: str, path: Path) -> None:
        """Move (local) or upload (S3) a finished scratch file to `key`."""
        ...

    def keys(self, prefix: str) -> list[str]:
        """Every key under `prefix` (a folder ending in `/`), sorted, temporary files excluded."""
        ...

    def delete(self, key: str) -> None:
        """Remove `key` (every version); LockedObjectError while retention holds it."""
        ...

    def retained_until(self, key: str) -> datetime | None:
        """When the object's retention ends, or None if it has none."""
        ...

    def lock(self, timeout: float) -> AbstractContextManager[None]:
        """Exclusive store lock; raises auditor.errors.RunError after `timeout` seconds."""
        ...

    def scratch_file(self, suffix: str) -> Path:
        """A private local path to build a file in before `write_file`."""
        ...

    def sync(self) -> None:
        """Make every write so far durable before the commit point."""
        ...

    def clean_scratch(self) -> None:
        """Remove temporary files left by a killed run (called with the lock held)."""
        ...

    def total_bytes(self) -> int:
        """Bytes stored, for benchmarks and `store show`."""
        ...
