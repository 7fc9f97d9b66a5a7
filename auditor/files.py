"""Writing files so that a crash leaves either the old file or the whole new one.

The ground floor for every stage that writes local files (the evidence store's folder backend,
report versions, files the CLI produces): one way to create a file with exact permissions, one
way to replace one atomically, and one way to make a rename durable.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def fsync_dir(path: Path | str) -> None:
    """Make the renames and creations inside folder `path` durable (a file's fsync does not
    cover the folder entry that names it)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_new(path: Path | str, data: bytes, mode: int, *, durable: bool = True) -> None:
    """Create `path` (FileExistsError if it exists) holding `data`, with exactly `mode`
    whatever the umask; with `durable`, fsync the file before returning."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), mode)
    try:
        os.fchmod(fd, mode)  # the umask may have taken bits away; set exactly
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path | str, data: bytes, mode: int = 0o644, *, durable: bool = True) -> None:
    """Replace (or create) `path` with `data` in one step: a temporary file beside it, then a
    rename. Readers see the old file or the new one, never a part; with `durable`, both the
    file and the rename reach the disk before returning."""
    target = Path(path)
    temp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    try:
        write_new(temp, data, mode, durable=durable)
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(target.parent)
