"""Records of passing proof runs under build/reliability/, which scripts/reliability_report.py
renders into docs/RELIABILITY.md. A record is written only after its case passed its checks."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RECORDS = ROOT / "build" / "reliability"
sys.path.insert(0, str(ROOT / "scripts"))
import reliability_report  # noqa: E402  (a script, not a package)

report = reliability_report


def fresh(name: str) -> None:
    """Start `name`'s records over (at the start of the module that writes them)."""
    (RECORDS / f"{name}.jsonl").unlink(missing_ok=True)


def record(name: str, kind: str, **fields: Any) -> None:
    RECORDS.mkdir(parents=True, exist_ok=True)
    with (RECORDS / f"{name}.jsonl").open("a", encoding="utf-8") as out:
        out.write(json.dumps({"kind": kind, **fields}, sort_keys=True) + "\n")


def count(name: str) -> int:
    path = RECORDS / f"{name}.jsonl"
    return path.read_text(encoding="utf-8").count("\n") if path.is_file() else 0


def assert_current(section: str) -> None:
    """docs/RELIABILITY.md holds `section` as this run's records render it."""
    assert reliability_report.section_current(section), (
        "docs/RELIABILITY.md is not current: run python scripts/reliability_report.py"
    )
