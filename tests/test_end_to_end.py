"""The whole pipeline, as users run it: `auditor demo`, and `auditor run` against a moto server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pypdf import PdfReader

from auditor.cli import run
from auditor.demo import DemoOutcome, run_demo
from auditor.demo import aws_estate as estate
from auditor.demo.moto import reset_moto
from auditor.resources import data_dir

pytestmark = [pytest.mark.slow, pytest.mark.moto(region="eu-west-1")]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoOutcome:
    return run_demo(tmp_path_factory.mktemp("demo") / "out")


def _findings(outcome: DemoOutcome) -> list[dict[str, object]]:
    document = json.loads((outcome.report_dir / "findings.json").read_text())
    assert document["schema"] == "auditor.findings/v1"
    return list(document["findings"])


def test_demo_pdf_names_a_planted_misconfiguration_and_every_framework(demo: DemoOutcome) -> None:
    text = "\n".join(
        page.extract_text() for page in PdfReader(demo.report_dir / "report.pdf").pages
    )
    flat = " ".join(text.split())
    assert "churn-lgbm-train-adhoc-0917" in flat  # planted: no network isolation, secret in HPs
    for title in (
        "General Data Protection Regulation",
        "HIPAA Security Rule",
        "Payment Card Industry Data Security Standard",
    ):
        assert title in flat


def test_demo_pdf_breaks_no_word_and_strands_no_heading(demo: DemoOutcome) -> None:
    from layout_checks import layout_problems

    catalog = demo.result.catalog
    problems = layout_problems(
        demo.report_dir / "report.pdf",
        demo.report_dir / "report.html",
        control_ids=[c.id for c in catalog.controls],
        requirement_ids=[r.id for fw in catalog.frameworks.values() for r in fw.requirements],
    )
    assert problems == []


def test_demo_findings_name_their_evidence_and_the_html_embeds_failing_ones(
    demo: DemoOutcome,
) -> None:
    findings = _findings(demo)
    documented = [f for f in findings if f["status"] in ("PASS", "FAIL", "WAIVED")]
    assert documented and all(f["snapshot_id"] and f["evidence_sha256"] for f in documented)
    html = (demo.report_dir / "report.html").read_text()
    failing = next(f for f in findings if f["status"] == "FAIL" and f["evidence_sha256"])
    assert f'data-evidence="{failing["evidence_sha256"]}"' in html
    assert "Evidence over the period" in html


def test_demo_findings_hold_the_planted_verdicts(demo: DemoOutcome) -> None:
    findings = _findings(demo)
    by_key = {(f["control_id"], f["resource_id"]): f for f in findings}
    job = next(f for f in findings if str(f["resource_id"]).endswith("churn-lgbm-train-adhoc-0917"))
    assert by_key[("ML-TRAIN-001", job["resource_id"])]["status"] == "FAIL"
    assert by_key[("ML-TRAIN-006", job["resource_id"])]["status"] == "FAIL"  # redacted secret
    monitoring = [f for f in findings if f["control_id"] == "ML-MON-010"]
    assert monitoring and all(f["status"] == "ERROR" for f in monitoring)  # moto lacks the call
    assert all("ListMonitoringSchedules" in str(f["reason"]) for f in monitoring)
    statuses = {f["status"] for f in findings}
    assert {"PASS", "FAIL", "ERROR", "WAIVED", "MANUAL", "ATTESTED", "NOT_APPLICABLE"} <= statuses
    assert any(f["provider"] == "gcp" and f["status"] == "FAIL" for f in findings)
    # the demo estate has no Bedrock custom models: shown as NOT_APPLICABLE, never hidden
    (custom_models,) = [f for f in findings if f["control_id"] == "ML-STORE-006"]
    assert custom_models["status"] == "NOT_APPLICABLE"
    # moto lacks ListGuardrails: the guardrail control is ERROR for each region, with the reason
    guardrails = [f for f in findings if f["control_id"] == "ML-DEPLOY-010"]
    assert guardrails and all(f["status"] == "ERROR" for f in guardrails)
    assert all("ListGuardrails" in str(f["reason"]) for f in guardrails)


def test_demo_secrets_never_reach_the_store_or_the_report(demo: DemoOutcome) -> None:
    secrets = [b"Churn2026!prod"]
    for folder in (demo.store, demo.report_dir):
        for path in folder.rglob("*"):
            if path.is_file() and path.suffix != ".gz" and path.suffix != ".parquet":
                data = path.read_bytes()
                assert not any(s in data for s in secrets), path


def test_demo_report_escapes_hostile_tags(demo: DemoOutcome) -> None:
    html = (demo.report_dir / "report.html").read_text()
    assert "<script>alert(1)</script>" not in html
    # escaped text in the page; the evidence data block holds the tags as JSON text (\u003c)
    opening = '<script type="application/json" id="evidence-data">'
    start = html.find(opening)
    outside_data = html if start < 0 else html[:start] + html[html.index("</script>", start) :]
    assert "<" not in html[start + len(opening) : html.index("</script>", start)] or start < 0
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html or "alert(1)" not in outside_data
    rows = (demo.report_dir / "findings.csv").read_text().splitlines()
    assert not any(cell.startswith(("=", "+", "@")) for row in rows for cell in row.split(","))


def test_demo_outputs_verify_and_tampering_is_caught(
    demo: DemoOutcome, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["verify", str(demo.report_dir)]) == 0
    assert run(["verify", str(demo.store)]) == 0
    csv = demo.report_dir / "findings.csv"
    original = csv.read_bytes()
    try:
        csv.write_bytes(original.replace(b"FAIL", b"PASS", 1))
        assert run(["verify", str(demo.report_dir)]) == 1
        assert "findings.csv" in capsys.readouterr().err
    finally:
        csv.write_bytes(original)


@pytest.fixture()
def moto_estate(aws: str) -> str:
    reset_moto(aws)
    estate.seed_estate()
    return aws


def test_run_collects_evaluates_and_reports_as_configured(
    tmp_path: Path, moto_estate: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "auditor.yaml"
    config.write_text(
        "organisation: {name: Acme Test}\n"
        "store: {url: store}\n"
        "aws: {regions: [eu-west-1, us-east-1]}\n"
        f"gcp: {{enabled: true, asset_export: {data_dir() / 'gcp' / 'sample_export.ndjson'}}}\n"
        "report: {out: reports, formats: [html]}\n"
    )
    assert run(["run", "-c", str(config)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    version = Path(out[-1])
    assert version.parent.parent == tmp_path / "reports" and version.name == "v1"
    assert {p.name for p in version.iterdir()} == {
        "report.html",
        "findings.json",
        "findings.csv",
        "manifest.json",
    }
    findings = json.loads((version / "findings.json").read_text())["findings"]
    assert {f["provider"] for f in findings} >= {"aws", "gcp"}
    # A FAIL remains, so the gate trips; a second run writes v2, never touching v1.
    before = (version / "manifest.json").read_bytes()
    assert run(["run", "-c", str(config), "--skip-collect", "--fail-on", "fail"]) == 1
    assert (version.parent / "v2" / "manifest.json").is_file()
    assert (version / "manifest.json").read_bytes() == before
    v2 = json.loads((version.parent / "v2" / "manifest.json").read_text())
    assert v2["supersedes"] is not None
