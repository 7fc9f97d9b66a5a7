"""Proof: one flipped byte anywhere in a store or a report version is found, and the file named.

A small store (two snapshots, one voided) and a report version made from it through the real CLI;
then, for EVERY file of both, one byte is flipped at its start, middle and end in turn, and
`verify` must fail naming that file. Most checks run in-process; a sample runs as subprocesses,
which must exit 0 or 1 (never 134 from a native thread left running at exit). Planted symlinks,
FIFOs and device links are refused without being read.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from store_support import bucket, write

from auditor.cli import run
from auditor.evidence import open_store
from auditor.report import verify_report

ROOT = Path(__file__).resolve().parents[2]
ENTRY = "import sys; from auditor.cli import main_entry; sys.argv[0] = 'auditor'; main_entry()"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """(store, report version folder, voided snapshot ID)."""
    base = tmp_path_factory.mktemp("tamper")
    root = base / "store"
    store = open_store(root)
    voided = write(store, [bucket(i) for i in range(3)]).id
    write(store, [bucket(i, version=1) for i in range(4)])
    assert run(["--store", str(root), "store", "void", voided, "--reason", "sandbox test run"]) == 0
    out = base / "reports"
    code = run(
        ["--store", str(root), "report", "--period", "current", "--frameworks", "gdpr",
         "--formats", "html,pdf", "--out", str(out)]
    )  # fmt: skip
    assert code == 0
    (version,) = [p for p in out.glob("*/v1") if p.is_dir()]
    return root, version, voided


def store_files(root: Path) -> list[Path]:
    """Every file of the store; `lock` is the run lock's scratch, emptied after every run."""
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name != "lock")


@pytest.fixture
def quiet(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    yield capsys


def flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


def positions(path: Path) -> list[int]:
    size = path.stat().st_size
    return sorted({0, size // 2, size - 1})


def test_the_report_lists_the_voided_snapshot(built: tuple[Path, Path, str]) -> None:
    root, version, voided = built
    html = (version / "report.html").read_text(encoding="utf-8")
    assert 'id="set-aside"' in html and voided in html and "voided: sandbox test run" in html
    assert voided not in (version / "findings.json").read_text(encoding="utf-8")
    assert open_store(root).verify().ok


def test_every_byte_of_the_store_is_covered(
    built: tuple[Path, Path, str], tmp_path: Path, quiet: pytest.CaptureFixture[str]
) -> None:
    work = tmp_path / "store"
    shutil.copytree(built[0], work)
    files = store_files(work)
    names = {p.relative_to(work).as_posix() for p in files}
    assert {"store.json", "salt"} <= names
    assert any(n.startswith("voids/") for n in names) and sum("manifests/" in n for n in names) == 2
    missed = []
    for path in files:
        rel = path.relative_to(work).as_posix()
        for at in positions(path):
            flip(path, at)
            code = run(["verify", str(work)])
            err = quiet.readouterr().err
            flip(path, at)  # restore
            if code != 1 or rel not in err:
                missed.append((rel, at, code, err[-300:]))
    assert not missed, missed
    assert run(["verify", str(work)]) == 0


def test_every_byte_of_the_report_version_is_covered(
    built: tuple[Path, Path, str], tmp_path: Path
) -> None:
    work = tmp_path / "v1"
    shutil.copytree(built[1], work)
    files = sorted(p for p in work.iterdir() if p.is_file())
    assert {"manifest.json", "report.html", "report.pdf", "findings.json", "findings.csv"} <= {
        p.name for p in files
    }
    missed = []
    for path in files:
        for at in positions(path):
            flip(path, at)
            outcome = verify_report(work)
            flip(path, at)
            if outcome.ok or not any(path.name in p for p in outcome.problems):
                missed.append((path.name, at, outcome.problems))
    assert not missed, missed
    assert verify_report(work).ok


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", ENTRY, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_subprocess_verify_exits_0_or_1_never_134(
    built: tuple[Path, Path, str], tmp_path: Path
) -> None:
    """One flip per kind of file (the Parquet change sets are where pyarrow threads ran)."""
    work = tmp_path / "store"
    shutil.copytree(built[0], work)
    files = store_files(work)
    sample = [
        next(p for p in files if p.name == "documents.parquet"),
        next(p for p in files if p.parent.name == "manifests"),
        next(p for p in files if p.name.endswith(".json.gz")),
        work / "salt",
    ]
    runs = [cli("verify", str(work))]
    assert runs[0].returncode == 0, runs[0].stderr
    for path in sample:  # every position is checked in-process above; here the middle
        at = path.stat().st_size // 2
        flip(path, at)
        runs.append(cli("verify", str(work)))
        flip(path, at)
        assert runs[-1].returncode == 1, runs[-1].stderr
        assert path.relative_to(work).as_posix() in runs[-1].stderr
    assert all("terminate called" not in r.stderr for r in runs)


@pytest.mark.parametrize("kind", ["dev-zero", "fifo", "outside-copy", "folder-link"])
def test_planted_non_files_are_refused_not_read(
    built: tuple[Path, Path, str], tmp_path: Path, kind: str
) -> None:
    work = tmp_path / "store"
    shutil.copytree(built[0], work)
    parquet = sorted(work.glob("snapshots/*/documents.parquet"))[-1]
    target = parquet
    if kind == "dev-zero":
        parquet.unlink()
        parquet.symlink_to("/dev/zero")
    elif kind == "fifo":
        parquet.unlink()
        os.mkfifo(parquet)
    elif kind == "outside-copy":  # identical bytes, but outside the folder: still refused
        copy = tmp_path / "elsewhere.parquet"
        shutil.copy(parquet, copy)
        parquet.unlink()
        parquet.symlink_to(copy)
    else:
        shard = sorted(p for p in (work / "objects").iterdir())[0]
        moved = tmp_path / "shard"
        shutil.move(shard, moved)
        shard.symlink_to(moved, target_is_directory=True)
        target = shard
    result = cli("verify", str(work), timeout=60)
    assert result.returncode == 1, result.stderr
    assert target.relative_to(work).as_posix() in result.stderr
    assert "terminate called" not in result.stderr


def test_void_unknown_id_is_exit_2_and_voids_are_chained(
    built: tuple[Path, Path, str], tmp_path: Path, quiet: pytest.CaptureFixture[str]
) -> None:
    work = tmp_path / "store"
    shutil.copytree(built[0], work)
    assert run(["--store", str(work), "store", "void", "nope", "--reason", "x"]) == 2
    assert run(["--store", str(work), "store", "void", built[2], "--reason", "again"]) == 2
    # Removing the void record un-voids nothing silently: the next snapshot counted it.
    store = open_store(work)
    write(store, [bucket(9)])
    (record,) = (work / "voids").iterdir()
    record.unlink()
    assert run(["verify", str(work)]) == 1
    assert "void record" in quiet.readouterr().err
