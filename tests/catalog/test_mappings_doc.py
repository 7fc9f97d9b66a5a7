"""docs/mappings.md is generated from the catalog: the checked-in file must equal the generator's
output (a stale document fails CI), `controls show` and the matrix say why, and hostile text from
an organisation's own controls cannot break the Markdown."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from auditor.catalog import coverage_matrix, load_catalog
from auditor.catalog.formats import MAPPINGS_COMMAND, mappings_markdown
from auditor.cli import run
from auditor.models import FRAMEWORKS

DOC = Path(__file__).resolve().parents[2] / "docs" / "mappings.md"


def test_checked_in_mappings_doc_is_current() -> None:
    expected = mappings_markdown(load_catalog(), list(FRAMEWORKS))
    assert DOC.read_text(encoding="utf-8") == expected, (
        f"docs/mappings.md is stale: run `{MAPPINGS_COMMAND}`"
    )


def test_doc_lists_every_mapping_with_its_role_and_why() -> None:
    catalog = load_catalog()
    text = mappings_markdown(catalog, list(FRAMEWORKS))
    assert MAPPINGS_COMMAND in text.splitlines()[3]
    control = catalog.control("ML-DATA-067")
    assert control is not None
    why = control.why("gdpr", "Art. 32(1)(a)")
    assert f"| ML-DATA-067 {control.title} | deciding | {why} |" in text
    cmek = catalog.control("ML-DATA-051")
    assert cmek is not None
    assert f"| ML-DATA-051 {cmek.title} | supporting |" in text
    # a manual requirement says so; every requirement of every framework has a heading
    assert "*Decided by attestation.*" in text
    for framework in FRAMEWORKS:
        for requirement in catalog.frameworks[framework].requirements:
            assert f"### {requirement.id}: " in text


def test_cli_writes_the_doc(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "docs" / "mappings.md"
    assert run(["controls", "mappings", "--format", "md", "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == DOC.read_text(encoding="utf-8")
    assert run(["controls", "mappings", "--framework", "hipaa"]) == 0
    printed = capsys.readouterr().out
    assert "## " in printed and "164.312(b)" in printed and "Art. 32(1)(a)" not in printed


HOSTILE = """\
controls:
  - id: ACME-DATA-001
    title: "Pipes | and <script>alert(1)</script>"
    stage: data
    severity: low
    rationale: r
    resource_types: ["storage.googleapis.com/Bucket"]
    rule: name
    pass_reason: ok
    fail_reason: not ok
    remediation: {text: fix}
    maps_to:
      gdpr:
        - {id: "Art. 44", why: "a | b\\nsecond line <b>bold</b>"}
"""


def test_hostile_titles_and_whys_are_escaped(tmp_path: Path) -> None:
    (tmp_path / "acme.yaml").write_text(HOSTILE)
    text = mappings_markdown(load_catalog([tmp_path]), ["gdpr"])
    row = next(line for line in text.splitlines() if line.startswith("| ACME-DATA-001"))
    assert row == (
        "| ACME-DATA-001 Pipes \\| and &lt;script&gt;alert(1)&lt;/script&gt; | deciding | "
        "a \\| b second line &lt;b&gt;bold&lt;/b&gt; |"
    )
    assert len(re.findall(r"(?<!\\)\|", row)) == 4  # unescaped pipes: only the table's own


def test_show_and_matrix_say_why(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    catalog = load_catalog()
    control = catalog.control("ML-MON-054")
    assert control is not None
    why = control.why("pci-dss-4.0.1", "10.5.1")
    assert run(["controls", "show", "ML-MON-054"]) == 0
    assert f"pci-dss-4.0.1 10.5.1: {why}" in capsys.readouterr().out
    assert run(["controls", "show", "ML-DATA-051", "--format", "json"]) == 0
    mappings = json.loads(capsys.readouterr().out)[0]["mappings"]
    assert {k: v for k, v in mappings[-1].items() if k != "why"} == {
        "framework": "pci-dss-4.0.1",
        "id": "3.6.1",
        "supporting": True,
    }
    rows = coverage_matrix(catalog, ["pci-dss-4.0.1"])
    row = next(r for r in rows if r["requirement"] == "10.5.1")
    assert row["why"]["ML-MON-054"] == why and "ML-MON-057" in row["supporting_controls"]
    assert run(["controls", "matrix", "--framework", "pci-dss-4.0.1"]) == 0
    csv_rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    cell = next(r for r in csv_rows if r["requirement"] == "10.5.1")["why"]
    assert f"ML-MON-054: {why}" in cell
