"""auditor.files: the one way every stage creates, replaces and makes durable a local file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from auditor.files import fsync_dir, write_atomic, write_new


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_write_new_sets_the_exact_mode_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        write_new(tmp_path / "a", b"hello", 0o640)
    finally:
        os.umask(old)
    assert (tmp_path / "a").read_bytes() == b"hello" and mode_of(tmp_path / "a") == 0o640


def test_write_new_never_replaces(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"first")
    with pytest.raises(FileExistsError):
        write_new(tmp_path / "a", b"second", 0o600)
    assert (tmp_path / "a").read_bytes() == b"first"


def test_write_atomic_replaces_whole_and_leaves_nothing_beside(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_bytes(b"old")
    write_atomic(target, b"x" * 100_000, 0o600)
    assert target.read_bytes() == b"x" * 100_000 and mode_of(target) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_a_failed_replace_keeps_the_old_state_and_removes_its_temporary(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    (target / "inside").mkdir(parents=True)  # a non-empty folder cannot be replaced by a file
    with pytest.raises(OSError):
        write_atomic(target, b"data")
    assert target.is_dir() and sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_fsync_dir_needs_a_folder_that_exists(tmp_path: Path) -> None:
    fsync_dir(tmp_path)
    with pytest.raises(FileNotFoundError):
        fsync_dir(tmp_path / "missing")
