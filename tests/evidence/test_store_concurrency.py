"""Two runs at once: the second waits for the first, or fails clearly after lock_timeout."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from store_support import bucket, write

from auditor.errors import RunError
from auditor.evidence import open_store

HOLDER = """
import sys, time
sys.path.insert(0, {support!r})
from store_support import bucket
from auditor.evidence import open_store
store = open_store(sys.argv[1])
with store.begin_snapshot("aws", {{"accounts": ["111111111111"]}}, "c" * 64) as writer:
    print("holding", flush=True)
    time.sleep(float(sys.argv[2]))
    writer.add(bucket(1))
print(writer.manifest.id, flush=True)
"""


def start_holder(root: Path, seconds: float) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            HOLDER.format(support=str(Path(__file__).parent)),
            str(root),
            str(seconds),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "holding"
    return process


def test_second_run_fails_clearly_when_the_wait_runs_out(tmp_path: Path) -> None:
    root = tmp_path / "store"
    holder = start_holder(root, seconds=1.5)
    try:
        started = time.monotonic()
        with pytest.raises(RunError, match=r"locked by pid \d+ .* waited 0.3 s"):
            open_store(root, lock_timeout=0.3).begin_snapshot("aws", {}, "c" * 64)
        assert time.monotonic() - started < 2.0
    finally:
        out, err = holder.communicate(timeout=30)
    assert holder.returncode == 0, err
    store = open_store(root)
    assert [m.id for m in store.list_snapshots()] == [out.strip()]
    assert store.verify().ok


def test_second_run_waits_and_both_commit_in_order(tmp_path: Path) -> None:
    root = tmp_path / "store"
    holder = start_holder(root, seconds=1.0)
    try:
        started = time.monotonic()
        mine = write(open_store(root, lock_timeout=30), [bucket(2)])
        waited = time.monotonic() - started
    finally:
        out, err = holder.communicate(timeout=30)
    assert holder.returncode == 0, err
    assert waited > 0.5  # it really waited for the holder
    store = open_store(root)
    assert [m.id for m in store.list_snapshots()] == [out.strip(), mine.id]
    assert mine.previous_sha256 == store.list_snapshots()[0].sha256
    assert store.verify().ok
