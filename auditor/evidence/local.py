"""Local folder backend: private permissions, atomic renames, an flock lock.

Every file is written under `tmp/` first (0600) and renamed into place; before the commit one
`syncfs` makes all of it durable; a snapshot becomes visible only when its manifest is linked into
`manifests/`, last (and its folder fsynced). A run killed at any
instant leaves at worst unreferenced temporary files and objects, which the next run removes
or ignores. (The crash tests check that by failing a subclass at each write step.)
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import secrets
import socket
import stat
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from auditor.errors import RunError, UserError
from auditor.evidence.backend import UnsafeObjectError
from auditor.files import fsync_dir, write_new
from auditor.models import isoformat, utcnow

TMP_DIR = "tmp"
LOCK_FILE = "lock"
_FILE_MODE = 0o600
_DIR_MODE = 0o700


def _syncfs(path: Path) -> None:
    """Flush every dirty page of the filesystem holding `path` (Linux syncfs; else sync)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(path, os.O_RDONLY)
        try:
            if libc.syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    except (OSError, AttributeError):
        pass
    os.sync()


def _mode_kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISLNK, "a symlink"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a folder"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _kind(exc: OSError) -> str:
    return "a symlink" if exc.errno == errno.ELOOP else f"unreadable ({exc.strerror or exc})"


class LocalBackend:
    """A store in a local folder."""

    def __init__(self, root: Path, *, durable: bool = True) -> None:
        self.root = root.absolute()
        self.url = str(self.root)
        self.durable = durable
        self._dirty_dirs: set[Path] = set()
        if self.root.exists() and not self.root.is_dir():
            raise UserError(f"evidence store {self.root} exists and is not a folder")

    # ------------------------------------------------------------------ helpers

    def _path(self, key: str) -> Path:
        if key.startswith("/") or ".." in key.split("/"):
            raise ValueError(f"bad store key {key!r}")
        return self.root / key

    def _mkdirs(self, folder: Path) -> None:
        missing: list[Path] = []
        probe = folder
        while not probe.exists():
            missing.append(probe)
            probe = probe.parent
        for path in reversed(missing):
            with contextlib.suppress(FileExistsError):
                os.mkdir(path, _DIR_MODE)
            os.chmod(path, _DIR_MODE)
            self._dirty_dirs.add(path.parent)

    def _write_temp(self, data: bytes) -> Path:
        """A private temporary copy under tmp/, not yet fsynced: `sync` flushes them all."""
        tmp_dir = self.root / TMP_DIR
        self._mkdirs(tmp_dir)
        tmp = tmp_dir / f"{secrets.token_hex(8)}.tmp"
        write_new(tmp, data, _FILE_MODE, durable=False)
        return tmp

    # ------------------------------------------------------------------ Backend

    def read(self, key: str, *, limit: int | None = None) -> bytes:
        """Only a regular file reached through real folders under the root: every component is
        opened with O_NOFOLLOW, the file with O_NONBLOCK (a FIFO cannot block) and checked with
        fstat, so a symlink to /dev/zero or to a copy elsewhere is refused, not followed."""
        self._path(key)  # rejects absolute keys and `..`
        parts = key.split("/")
        flags = os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        except (FileNotFoundError, NotADirectoryError):
            raise KeyError(key) from None
        try:
            for part in parts[:-1]:
                try:
                    next_fd = os.open(part, flags | os.O_DIRECTORY, dir_fd=fd)
                except FileNotFoundError:
                    raise KeyError(key) from None
                except NotADirectoryError:
                    mode = os.lstat(part, dir_fd=fd).st_mode
                    if stat.S_ISLNK(mode):
                        raise UnsafeObjectError(key, "a folder on its path is a symlink") from None
                    raise KeyError(key) from None
                except OSError as exc:  # ELOOP: the folder is a symlink
                    raise UnsafeObjectError(key, f"a folder on its path is {_kind(exc)}") from None
                os.close(fd)
                fd = next_fd
            try:
                file_fd = os.open(parts[-1], flags | os.O_NONBLOCK, dir_fd=fd)
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                raise KeyError(key) from None
            except OSError as exc:
                raise UnsafeObjectError(key, f"it is {_kind(exc)}") from None
        finally:
            os.close(fd)
        try:
            info = os.fstat(file_fd)
            if stat.S_ISDIR(info.st_mode):
                raise KeyError(key)
            if not stat.S_ISREG(info.st_mode):
                raise UnsafeObjectError(key, f"it is {_mode_kind(info.st_mode)}, not a file")
            if limit is not None and info.st_size > limit:
                raise UnsafeObjectError(key, f"it holds {info.st_size} bytes, at most {limit}")
            chunks: list[bytes] = []
            total = 0
            while chunk := os.read(file_fd, 1 << 20):
                chunks.append(chunk)
                total += len(chunk)
                if limit is not None and total > limit:
                    raise UnsafeObjectError(key, f"it grew beyond {limit} bytes while read")
            return b"".join(chunks)
        finally:
            os.close(file_fd)

    def irregular(self) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        for folder, dirs, files in os.walk(self.root):  # does not descend into symlinked folders
            rel = Path(folder).relative_to(self.root).as_posix()
            for name in [*dirs, *files]:
                if rel == "." and name == LOCK_FILE:
                    continue
                path = os.path.join(folder, name)
                mode = os.lstat(path).st_mode
                if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                    found.append((name if rel == "." else f"{rel}/{name}", _mode_kind(mode)))
        return sorted(found)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def write(self, key: str, data: bytes, *, retain: bool = True) -> None:
        target = self._path(key)
        tmp = self._write_temp(data)
        self._mkdirs(target.parent)
        os.replace(tmp, target)
        self._dirty_dirs.add(target.parent)

    def write_new(self, key: str, data: bytes, *, retain: bool = True) -> bool:
        target = self._path(key)
        if target.exists():
            return False
        tmp = self._write_temp(data)
        self._mkdirs(target.parent)
        try:
            os.link(tmp, target)  # atomic create-if-absent
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)
        self._dirty_dirs.add(target.parent)
        return True

    def write_file(self, key: str, path: Path) -> None:
        target = self._path(key)
        os.chmod(path, _FILE_MODE)
        self._mkdirs(target.parent)
        os.replace(path, target)
        self._dirty_dirs.add(target.parent)

    def keys(self, prefix: str) -> list[str]:
        base = self._path(prefix.rstrip("/")) if prefix else self.root
        if not base.is_dir():
            return []
        found: list[str] = []
        for folder, dirs, files in os.walk(base):
            dirs[:] = [d for d in dirs if not (folder == str(self.root) and d == TMP_DIR)]
            rel = Path(folder).relative_to(self.root).as_posix()
            for name in files:
                if name.endswith(".tmp") or (rel == "." and name == LOCK_FILE):
                    continue
                found.append(name if rel == "." else f"{rel}/{name}")
        return sorted(found)

    def delete(self, key: str) -> None:
        path = self._path(key)
        path.unlink(missing_ok=True)
        parent = path.parent
        # Remove folders this leaves empty (snapshot folders, object shards), not the root.
        while parent != self.root and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent

    def retained_until(self, key: str) -> datetime | None:
        return None  # a local folder has no retention; protect it with backups or S3

    @contextlib.contextmanager
    def lock(self, timeout: float) -> Iterator[None]:
        self._mkdirs(self.root)
        path = self.root / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, _FILE_MODE)
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        holder = path.read_text(errors="replace").strip() or "another run"
                        raise RunError(
                            f"evidence store {self.root} is locked by {holder}; waited "
                            f"{timeout:g} s (another snapshot or prune is running; "
                            "try again later or raise lock_timeout)"
                        ) from None
                    time.sleep(0.05)
            os.ftruncate(fd, 0)
            holder = f"pid {os.getpid()} on {socket.gethostname()} since {isoformat(utcnow())}"
            os.pwrite(fd, holder.encode(), 0)
            try:
                yield
            finally:
                os.ftruncate(fd, 0)
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def scratch_file(self, suffix: str) -> Path:
        tmp_dir = self.root / TMP_DIR
        self._mkdirs(tmp_dir)
        return tmp_dir / f"{secrets.token_hex(8)}{suffix}.tmp"

    def sync(self) -> None:
        """One filesystem-wide flush instead of an fsync per file (10,000 small documents
        would otherwise cost a minute on a busy disk), then the folders renamed into."""
        if self.durable:
            _syncfs(self.root)
            for folder in sorted(self._dirty_dirs):
                if folder.is_dir():
                    fsync_dir(folder)
        self._dirty_dirs.clear()

    def clean_scratch(self) -> None:
        tmp_dir = self.root / TMP_DIR
        if tmp_dir.is_dir():
            for leftover in tmp_dir.iterdir():
                leftover.unlink(missing_ok=True)

    def total_bytes(self) -> int:
        total = 0
        for folder, _dirs, files in os.walk(self.root):
            for name in files:
                total += os.path.getsize(os.path.join(folder, name))
        return total
