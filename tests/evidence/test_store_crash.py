"""A run killed at any point leaves no half snapshot; the store verifies; the next run works.

A child process writes a snapshot and is SIGKILLed: at every write step in turn (its store's
backend, tests/support/faulty_store.py, kills it after each temporary file is written and after
each rename), and after a few wall-clock delays while it streams a larger snapshot. In-process,
the same backend raises at every step instead, so the writer's own clean-up runs as well.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from store_support import bucket, write
from support.faulty_store import InjectedFault, faulty_store

from auditor.evidence import open_store


def child(root: Path, documents: int, version: int, fault_after: int | None) -> subprocess.Popen:
    """`python -m support.faulty_store`, on this process's import path (tests/, tests/evidence)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    args = [str(root), str(documents), str(version)]
    if fault_after is not None:
        args.append(str(fault_after))
    return subprocess.Popen(
        [sys.executable, "-m", "support.faulty_store", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("crash") / "store"
    write(open_store(root), [bucket(i) for i in range(4)])
    return root


def check_after_crash(root: Path, documents: int) -> int:
    """The invariants; returns how many snapshots are visible."""
    store = open_store(root, lock_timeout=5)
    visible = store.list_snapshots()
    assert len(visible) in (1, 2)
    if len(visible) == 2:  # killed after its manifest was committed: complete, not half
        assert len(store.load_snapshot(visible[1].id).documents) == documents
    result = store.verify()
    assert result.ok, result.problems
    # No snapshot folder without a manifest is ever treated as a snapshot.
    folders = {p.name for p in (root / "snapshots").iterdir()}
    assert {m.id for m in visible} <= folders
    # The next run succeeds and cleans up what the killed one left.
    after = write(store, [bucket(i, version=7) for i in range(4)])
    assert store.verify().ok
    assert store.list_snapshots()[-1].id == after.id
    assert not list((root / "tmp").iterdir())
    assert {p.name for p in (root / "snapshots").iterdir()} == {
        m.id for m in store.list_snapshots()
    }
    return len(visible)


def run_kill_point(template: Path, workdir: Path, k: int) -> tuple[int, int, int]:
    root = workdir / f"k{k}"
    shutil.copytree(template, root)
    process = child(root, documents=4, version=1, fault_after=k)
    process.communicate(timeout=60)
    return k, process.returncode, check_after_crash(root, documents=4)


def test_kill_at_every_write_step(template: Path, tmp_path: Path) -> None:
    # 4 new objects, parquet, chain record, manifest: 2 steps each = 14 steps.
    points = list(range(1, 17))
    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(lambda k: run_kill_point(template, tmp_path, k), points))
    killed = [k for k, code, _ in outcomes if code == -signal.SIGKILL]
    finished = [k for k, code, _ in outcomes if code == 0]
    assert len(killed) >= 13, outcomes  # the loop really did hit many points mid-write
    assert finished and min(finished) > max(killed)  # beyond the last step it completes
    # Before the manifest is linked nothing is visible; killed after it, the snapshot is whole.
    visible = {k: n for k, _code, n in outcomes}
    assert visible[1] == 1 and visible[max(killed) - 1] == 1
    assert visible[max(killed)] == 2


def test_a_fault_raised_at_every_write_step(template: Path, tmp_path: Path) -> None:
    """The same points in-process: the run stops with the error, nothing half is visible."""
    outcomes: dict[int, int] = {}
    for k in range(1, 17):
        root = tmp_path / f"r{k}"
        shutil.copytree(template, root)
        store = faulty_store(root, fail_at=k, action="raise", lock_timeout=5)
        try:
            write(store, [bucket(i, version=1) for i in range(4)])
            raised = False
        except InjectedFault:
            raised = True
        outcomes[k] = check_after_crash(root, documents=4) if raised else -1
    raised_at = [k for k, n in outcomes.items() if n != -1]
    assert len(raised_at) >= 13 and raised_at == list(range(1, len(raised_at) + 1)), outcomes
    assert outcomes[1] == 1 and outcomes[max(raised_at) - 1] == 1  # before the manifest: nothing
    assert outcomes[max(raised_at)] == 2  # raised after the manifest was linked: whole


@pytest.mark.parametrize("delay", [0.0, 0.1, 0.3])
def test_kill_after_a_delay_while_streaming(template: Path, tmp_path: Path, delay: float) -> None:
    root = tmp_path / "store"
    shutil.copytree(template, root)
    process = child(root, documents=5000, version=2, fault_after=None)
    assert process.stdout is not None and process.stdout.readline() == b"begun\n"
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    out, _err = process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL and b"committed" not in out  # killed mid-run
    assert check_after_crash(root, documents=5000) == 1
