"""The coverage matrix and the CLI's list/show/matrix outputs."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
from catalog_support import EXAMPLES

from auditor.catalog import coverage_matrix, load_catalog
from auditor.catalog.formats import safe_cell
from auditor.cli import run
from auditor.errors import UserError

BASIC = EXAMPLES / "basic"


def _row(rows: list[dict], framework: str, requirement: str) -> dict:
    return next(r for r in rows if r["framework"] == framework and r["requirement"] == requirement)


def test_matrix_coverage_kinds(shipped: Path) -> None:
    catalog = load_catalog([BASIC])
    rows = coverage_matrix(catalog, ["gdpr", "pci-dss-4.0.1"])
    assert {r["framework"] for r in rows} == {"gdpr", "pci-dss-4.0.1"}
    assert len(rows) == len(catalog.frameworks["gdpr"].requirements) + len(
        catalog.frameworks["pci-dss-4.0.1"].requirements
    )
    # requirement order follows the framework file
    gdpr_ids = [r["requirement"] for r in rows if r["framework"] == "gdpr"]
    assert gdpr_ids == [r.id for r in catalog.frameworks["gdpr"].requirements]

    encryption = _row(rows, "gdpr", "Art. 32(1)(a)")
    assert encryption["coverage"] == "automated"
    assert encryption["automated_controls"] == ["ML-DATA-901"]
    assert encryption["manual_controls"] == ["ML-GOV-006"]

    assert _row(rows, "gdpr", "Art. 35")["coverage"] == "manual"
    assert _row(rows, "gdpr", "Art. 35")["manual_controls"] == ["ML-GOV-002"]
    # nothing maps to it in this catalog
    assert _row(rows, "pci-dss-4.0.1", "1.3.2") == {
        "framework": "pci-dss-4.0.1",
        "requirement": "1.3.2",
        "title": catalog.requirement("pci-dss-4.0.1", "1.3.2").title,  # type: ignore[union-attr]
        "requirement_manual": False,
        "automated_controls": [],
        "manual_controls": [],
        "coverage": "none",
        "supporting_controls": [],
        "why": {},
    }


def test_manual_requirement_stays_manual_even_with_automated_controls(
    shipped: Path, tmp_path: Path
) -> None:
    extra = tmp_path / "extra"
    shutil.copytree(BASIC, extra)
    path = extra / "data" / "aws-example.yaml"
    path.write_text(path.read_text().replace('gdpr: ["Art. 32(1)(a)"]', 'gdpr: ["Art. 33"]'))
    rows = coverage_matrix(load_catalog([extra]), ["gdpr"])
    breach = _row(rows, "gdpr", "Art. 33")
    assert breach["automated_controls"] == ["ML-DATA-901"]
    assert breach["coverage"] == "manual"


def test_matrix_unknown_framework(shipped: Path) -> None:
    with pytest.raises(UserError, match="unknown framework 'sox'"):
        coverage_matrix(load_catalog(), ["sox"])


def test_cli_matrix_csv_and_html(
    shipped: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["--controls", str(BASIC), "controls", "matrix", "--framework", "hipaa"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {r["framework"] for r in rows} == {"hipaa"}
    audit = next(r for r in rows if r["requirement"] == "164.312(b)")
    assert audit["coverage"] == "automated" and audit["automated_controls"] == "ML-MON-901"

    out = tmp_path / "reports" / "matrix.html"
    code = run(
        ["--controls", str(BASIC), "controls", "matrix", "--format", "html", "--out", str(out)]
    )
    assert code == 0
    html = out.read_text()
    assert "<h2>HIPAA Security Rule" in html and "164.312(a)(2)(iv)" in html
    assert "<script" not in html and 'http-equiv="Content-Security-Policy"' in html
    assert [p.name for p in out.parent.iterdir()] == ["matrix.html"]  # no temp files left
    total = sum(
        len(fw.requirements)
        for fw in load_catalog([BASIC], known_resource_types=None).frameworks.values()
    )
    assert f"wrote {out} ({total} requirements," in " ".join(capsys.readouterr().err.split())


def test_html_and_csv_neutralise_hostile_text(
    shipped: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = tmp_path / "extra"
    shutil.copytree(BASIC, extra)
    path = extra / "data" / "aws-example.yaml"
    path.write_text(
        path.read_text().replace(
            "title: Example training buckets use SSE-KMS",
            "title: '=HYPERLINK(\"http://evil.example\")'",
        )
    )
    frameworks = extra / "frameworks"
    frameworks.mkdir()
    gdpr = (shipped / "frameworks" / "gdpr.yaml").read_text()
    (frameworks / "gdpr.yaml").write_text(
        gdpr.replace(
            'title: "Data protection impact assessment"', 'title: "<script>alert(1)</script>"'
        )
    )
    assert run(["--controls", str(extra), "controls", "list", "--format", "csv"]) == 0
    listed = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    hostile = next(r for r in listed if r["id"] == "ML-DATA-901")
    assert hostile["title"] == '\'=HYPERLINK("http://evil.example")'

    assert run(["--controls", str(extra), "controls", "matrix", "--format", "html"]) == 0
    html = capsys.readouterr().out
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


@pytest.mark.parametrize(
    ("value", "cell"),
    [("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@SUM(A1)", "'@SUM(A1)"),
     ("\tx", "'\tx"), ("\rx", "\\u000dx"), ("plain", "plain"), (None, ""), (True, "true")],
)  # fmt: skip
def test_safe_cell(value: object, cell: str) -> None:
    assert safe_cell(value) == cell


def test_cli_list_filters_and_formats(shipped: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--controls", str(BASIC), "controls", "list"]
    assert run([*base, "--format", "json", "--stage", "monitoring"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [c["id"] for c in listed] == ["ML-MON-901"]

    assert run([*base, "--format", "json", "--framework", "pci-dss-4.0.1"]) == 0
    ids = [c["id"] for c in json.loads(capsys.readouterr().out)]
    assert "ML-DATA-901" in ids and "ML-GOV-001" in ids and "ML-TRAIN-951" not in ids

    assert run([*base, "--stage", "training"]) == 0
    out, err = capsys.readouterr()
    assert "ML-TRAIN-951" in out and "ML-DATA-901" not in out
    assert "1 controls" in " ".join(err.split())

    assert run([*base, "--stage", "nonsense"]) == 2


def test_cli_show(shipped: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--controls", str(BASIC), "controls", "show", "ML-DATA-901"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ML-DATA-901  Example training buckets use SSE-KMS")
    assert "gdpr:Art. 32(1)(a); hipaa:164.312(a)(2)(iv); pci-dss-4.0.1:3.5.1" in out
    assert f"source          {BASIC}/data/aws-example.yaml:3" in out

    assert run(["controls", "show", "ML-GOV-999"]) == 2
    err = capsys.readouterr().err
    assert "no control 'ML-GOV-999' in the catalog" in err and "ML-GOV-001" in err


def test_cli_validate_success_and_unavailable_collectors(
    shipped: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from auditor import collect

    monkeypatch.setattr(
        collect, "resource_types", lambda provider=None: frozenset({"AWS::S3::Bucket"})
    )
    assert run(["controls", "validate", str(BASIC)]) == 2  # LogGroup, CustomJob unknown
    assert "unknown resource type 'AWS::Logs::LogGroup'" in capsys.readouterr().err

    def broken(provider: str | None = None) -> frozenset[str]:
        raise ImportError("No module named 'auditor.collect.aws.specs'")

    monkeypatch.setattr(collect, "resource_types", broken)
    assert run(["controls", "validate", str(BASIC)]) == 0
    out, err = capsys.readouterr()
    assert "warning: resource types not checked" in " ".join(err.split())
    catalog = load_catalog([BASIC])
    manual = sum(1 for c in catalog.controls if c.manual)
    assert out.startswith(
        f"catalog OK: {len(catalog.controls)} controls ({len(catalog.controls) - manual} "
        f"automated, {manual} manual), 3 frameworks"
    )
    assert f"sha256 {catalog.sha256}" in out
