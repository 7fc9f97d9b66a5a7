"""Durable, atomic local file writes: the one helper every stage and the pipeline use.

A file the tool writes is either absent or whole: the bytes go to a temporary file beside the
target, are fsynced, and the temporary file is renamed over the target; the folder is fsynced so
the rename itself survives a power cut. A reader (or an assessor's script) never sees half a
findings.json, and a killed run leaves at most a hidden `.NAME.*.tmp` file behind.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries (a rename or a new file in it) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, mode: int | None = None) -> None:
    """Write `data` to `path` all at once, replacing what was there.

    `mode`: exact permission bits (whatever the umask); None: 0666 less the umask, as an
    ordinary write would give. Missing parent folders are created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 if mode is None else mode)
    try:
        with open(fd, "wb") as handle:
            if mode is not None:
                os.fchmod(handle.fileno(), mode)  # the umask may have taken bits away
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
