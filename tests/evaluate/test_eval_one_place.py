"""Evaluation keeps no copies of shared facts and no clock: counts follow `models.STATUS_ORDER`,
"now" is an argument, and summary tables are built only when asked for."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from datetime import UTC, date, datetime
from pathlib import Path

import auditor.evaluate
from auditor.evaluate import audit, build_summaries, summaries_csv
from auditor.models import STATUS_ORDER
from devtools.factories import catalog, control, doc, kms_bucket, snapshot, sse_bucket

EVALUATE = Path(auditor.evaluate.__file__).parent
ON = date(2026, 12, 20)
STATUSES = [str(s) for s in STATUS_ORDER]
CLOCK_ATTRIBUTES = {"now", "utcnow", "today", "time", "monotonic", "perf_counter", "time_ns"}
CLOCK_NAMES = {"utcnow", "now", "today", "monotonic", "perf_counter", "time_ns"}


def clock_reads(source: str) -> list[str]:
    """Calls that read the clock: `datetime.now()`, `date.today()`, `time.time()`, the
    `utcnow()` helper, and names imported from `time`."""
    found = []
    tree = ast.parse(source)
    from_time = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "time"
        for alias in node.names
    }
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in CLOCK_ATTRIBUTES:
            found.append(f"{ast.unparse(func)} (line {node.lineno})")
        elif isinstance(func, ast.Name) and (func.id in CLOCK_NAMES or func.id in from_time):
            found.append(f"{func.id} (line {node.lineno})")
    return found


def test_the_scanner_sees_every_kind_of_clock_read() -> None:
    source = textwrap.dedent(
        """
        import time
        from datetime import date, datetime
        from time import monotonic
        from auditor.models import utcnow
        a = datetime.now(UTC); b = datetime.utcnow(); c = date.today(); d = time.time()
        e = utcnow(); f = monotonic(); g = datetime.combine(date(2026, 1, 1), time.min)
        """
    )
    assert len(clock_reads(source)) == 6  # not datetime.combine, not the time.min constant


def test_evaluate_never_reads_the_clock() -> None:
    reads = {
        path.name: clock_reads(path.read_text(encoding="utf-8"))
        for path in sorted(EVALUATE.glob("*.py"))
    }
    assert len(reads) >= 10
    assert {name: found for name, found in reads.items() if found} == {}


def test_now_is_an_argument_and_without_it_the_result_is_the_same_every_time() -> None:
    cat = catalog(control())
    snap = snapshot("s1", [sse_bucket("a"), kms_bucket("b")])
    now = datetime(2026, 12, 20, 9, 30, 5, tzinfo=UTC)
    given = audit(cat, [snap], period=None, frameworks=["gdpr"], on=ON, now=now)
    assert given.generated_at == now
    first = audit(cat, [snap], period=None, frameworks=["gdpr"], on=ON)
    second = audit(cat, [snap], period=None, frameworks=["gdpr"], on=ON)
    assert first.generated_at == second.generated_at == datetime(2026, 12, 20, tzinfo=UTC)


def test_evaluation_counts_follow_the_models_status_order() -> None:
    cat = catalog(control())
    snap = snapshot("s1", [sse_bucket("a"), kms_bucket("b")])
    result = audit(cat, [snap], period=None, frameworks=["gdpr"], on=ON)
    assert result.trend and all(list(t.counts) == STATUSES for t in result.trend)
    assert result.rollups and all(list(r.counts) == STATUSES for r in result.rollups)
    assert result.trend[0].counts["PASS"] == 1 and result.trend[0].counts["FAIL"] == 1
    tables = build_summaries(result)
    for name in ("by_stage", "by_severity", "by_control", "by_requirement", "trend"):
        columns = [c for c in tables[name].columns if c in STATUSES]
        assert columns == STATUSES, name
    header = summaries_csv(result)["by_stage.csv"].splitlines()[0]
    assert header == ",".join(["stage", *STATUSES, "total"])


def test_audit_builds_no_summary_tables_until_asked() -> None:
    """pandas is what the summary tables need and nothing else in an audit does: a fresh
    interpreter that runs audit() has not loaded it; asking for the tables does."""
    script = textwrap.dedent(
        """
        import sys
        from datetime import date
        sys.path[:0] = sys.argv[1:3]  # the factories, and this checkout's auditor
        from devtools.factories import catalog, control, kms_bucket, snapshot, sse_bucket
        from auditor.evaluate import audit, summaries_csv
        snap = snapshot("s1", [sse_bucket("a"), kms_bucket("b")])
        result = audit(catalog(control()), [snap], period=None, frameworks=["gdpr"],
                       on=date(2026, 12, 20))
        print("after audit:", "pandas" in sys.modules)
        tables = summaries_csv(result)
        print("after summaries:", "pandas" in sys.modules, sorted(tables)[0])
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(Path(__file__).parent), str(EVALUATE.parent.parent)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.splitlines()
    assert out == ["after audit: False", "after summaries: True by_control.csv"]


HOSTILE_CELLS = [
    '=HYPERLINK("http://evil.example")',
    "+1",
    "-2+3",
    "@SUM(A1)",
    "\tx",
    "\rx",
    "gpu\u202etxt.exe",
    "\u202e=1+1",
    "bell\x07",
    "plain",
]


def test_every_csv_writer_neutralises_a_cell_with_the_one_models_function() -> None:
    """findings.csv, the summary tables and the catalog's CSV give a hostile cell the same
    text: `models.neutralise_cell` (formula prefix and invisible characters alike)."""
    import csv
    import io

    import pandas as pd

    from auditor.catalog.formats import safe_cell
    from auditor.evaluate import findings_csv, table_csv
    from auditor.models import neutralise_cell

    expected = [neutralise_cell(v) for v in HOSTILE_CELLS]
    assert expected[0].startswith("'=") and "\\u202e" in expected[6] and "\u202e" not in expected[6]
    assert [safe_cell(v) for v in HOSTILE_CELLS] == expected

    cat = catalog(control(rule="Encryption.SSEAlgorithm == 'aws:kms'", fail_reason="{Name}"))
    docs = [doc(f"b{i}", {"Name": v, "Encryption": {}}) for i, v in enumerate(HOSTILE_CELLS)]
    result = audit(cat, [snapshot("s1", docs)], period=None, frameworks=["gdpr"], on=ON)
    rows = list(csv.DictReader(io.StringIO(findings_csv(result.findings), newline="")))
    by_bucket = {r["resource_id"]: r["reason"] for r in rows}
    assert [by_bucket[f"arn:aws:s3:::b{i}"] for i in range(len(HOSTILE_CELLS))] == expected

    table = table_csv(pd.DataFrame({"cell": HOSTILE_CELLS}))
    cells = [r[0] for r in csv.reader(io.StringIO(table, newline=""))][1:]
    assert cells == expected
