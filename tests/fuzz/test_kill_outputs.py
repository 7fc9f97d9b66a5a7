"""SIGKILL of `evaluate` and `report` at many points: what is visible is whole, the store and
every report version still verify, and the next run completes.

Complements tests/evidence/test_store_crash.py (collect killed at every write step)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import reliability

from auditor.cli import run
from auditor.report.verify import verify_report
from auditor.resources import data_dir

SAMPLE = data_dir() / "gcp" / "sample_export.ndjson"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("kill") / "store"
    assert (
        run(["--quiet", "--store", str(root), "collect", "gcp", "--asset-export", str(SAMPLE)]) == 0
    )
    return root


@pytest.fixture(scope="module", autouse=True)
def _records_and_doc() -> Iterator[None]:
    """Fresh records; when these and the store's kill cases all ran, the doc must show them."""
    reliability.fresh("kill-outputs")
    yield
    if reliability.count("kill-outputs") == 5 and reliability.count("kill-store") == 19:
        reliability.assert_current(reliability.report.render_kills())


def _child(args: list[str]) -> subprocess.Popen[bytes]:
    code = "import sys\nfrom auditor.cli import run\nsys.exit(run(sys.argv[1:]))\n"
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )


def _kill_after(process: subprocess.Popen[bytes], delay: float) -> int:
    time.sleep(delay)
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.communicate(timeout=120)
    return process.returncode


def _versions(out: Path) -> list[Path]:
    return sorted(p for p in out.glob("*/v*") if p.is_dir())


@pytest.mark.parametrize(("delay", "formats"), [(0.5, "html"), (2.0, "html"), (5.0, "html,pdf")])
def test_report_killed_leaves_only_whole_versions(
    store: Path, tmp_path: Path, delay: float, formats: str
) -> None:
    out = tmp_path / "reports"
    args = ["--quiet", "--store", str(store), "report", "--period", "current"]
    args += ["--formats", formats, "--out", str(out)]
    code = _kill_after(_child(args), delay)
    assert code in (0, -signal.SIGKILL)
    for version in _versions(out):  # anything that became visible is a complete version
        outcome = verify_report(version)
        assert outcome.ok, (version, outcome.problems)
    before = len(_versions(out))
    assert run(args) == 0  # the next run completes, next to whatever is there
    after = _versions(out)
    assert len(after) == before + 1
    assert verify_report(after[-1]).ok
    assert run(["--quiet", "verify", str(store)]) == 0
    reliability.record("kill-outputs", "report", at=f"{delay:g} s ({formats})")


@pytest.mark.parametrize("delay", [0.3, 1.5])
def test_evaluate_killed_leaves_no_partial_findings(
    store: Path, tmp_path: Path, delay: float
) -> None:
    out = tmp_path / "findings"
    args = ["--quiet", "--store", str(store), "evaluate", "--out", str(out)]
    code = _kill_after(_child(args), delay)
    assert code in (0, -signal.SIGKILL)
    target = out / "findings.json"
    if target.exists():  # written whole or not at all
        assert json.loads(target.read_text())["schema"] == "auditor.findings/v1"
    assert run(args) == 0
    assert json.loads(target.read_text())["findings"]
    reliability.record("kill-outputs", "evaluate", at=f"{delay:g} s")
