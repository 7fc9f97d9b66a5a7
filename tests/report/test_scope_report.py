"""The system description: per framework in-scope data stores, pipelines, models and endpoints,
a lineage diagram as inline SVG, and the out-of-scope counts, in the HTML (also in headless
Chromium) and in the PDF text read back with pypdf."""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader
from scope_estate import aws_estate, bucket, gcp_estate

from auditor.catalog import load_catalog
from auditor.collect import resource_types
from auditor.evaluate import audit, findings_csv, findings_document
from auditor.models import AuditResult, ScopeDefinition, Snapshot
from auditor.report import write_report
from devtools.factories import snapshot

HOSTILE = "<img src=x onerror=alert(1)>"
T0 = datetime(2026, 10, 5, 12, 0, tzinfo=UTC)
DEFINITION = {
    "unclassified": "out_of_scope",
    "hipaa": {"include": [{"tag": {"key": "data-class", "values": ["phi"]}}]},
    "gdpr": {"include": [{"tag": {"key": "data-class", "values": ["pii"]}}]},
}


def _snapshot(provider: str, docs: list, minutes: int) -> Snapshot:
    taken = T0 + timedelta(minutes=minutes)
    return snapshot(
        f"s-{provider}", docs, provider=provider, taken_at=taken, took=timedelta(minutes=2)
    )


def _result(definition: dict | None) -> AuditResult:
    catalog = load_catalog(known_resource_types=resource_types())
    return audit(
        catalog,
        [
            _snapshot("aws", [*aws_estate(), bucket(HOSTILE, data_class="phi")], 0),
            _snapshot("gcp", gcp_estate(), 5),
        ],
        period=None,
        frameworks=["gdpr", "hipaa", "pci-dss-4.0.1"],
        on=date(2026, 11, 1),
        metadata={"organisation": "Scope Test Org", "title": "Scope test report"},
        scope=ScopeDefinition.from_dict(definition) if definition is not None else None,
    )


def _write(result: AuditResult, out: Path, formats: tuple[str, ...]) -> Path:
    as_json = json.dumps(findings_document(result)).encode()
    return write_report(
        result, out, findings_json=as_json, findings_csv=findings_csv(result.findings).encode(),
        formats=formats,
    )  # fmt: skip


@pytest.fixture(scope="module")
def scoped_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write(_result(DEFINITION), tmp_path_factory.mktemp("scoped"), ("html", "pdf"))


def test_html_opens_with_a_system_description_per_framework(scoped_report: Path) -> None:
    html = (scoped_report / "report.html").read_text()
    section = html[html.index('id="system-description"') : html.index('id="scope"')]
    assert html.index('id="system-description"') < html.index('id="summary"')
    assert "HIPAA Security Rule: " in section and "GDPR: " in section
    assert "No scope was defined for PCI DSS 4.0.1" in section
    for heading in ("Data stores", "Pipelines (jobs)", "Models", "Endpoints"):
        assert heading in section
    assert "trained on s3://claims-phi/train/ (tag data-class=phi)" in section
    assert "notes-endpoint" in section and "claims-endpoint" in section
    assert section.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart lineage"') == 2
    # the out-of-scope resources with counts and reasons
    assert "Out of scope (" in section
    assert "unclassified" in section
    # hostile names stay text, in the tables and in the SVG labels
    assert HOSTILE not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in section


def test_pdf_carries_the_system_description_and_the_diagram_text(scoped_report: Path) -> None:
    text = "\n".join(p.extract_text() for p in PdfReader(scoped_report / "report.pdf").pages)
    flat = " ".join(text.split())
    assert "System description" in flat
    assert "trained on s3://claims-phi/train/" in flat
    assert "SageMaker TrainingJob" in flat  # a box label of the lineage SVG
    assert "Out of scope (" in flat


def test_without_scope_the_report_says_no_scope_was_defined(tmp_path: Path) -> None:
    folder = _write(_result(None), tmp_path, ("html",))
    html = (folder / "report.html").read_text()
    section = html[html.index('id="system-description"') : html.index('id="scope"')]
    assert "No scope was defined" in section
    assert "All frameworks: " in section
    assert 'class="chart lineage"' in section


CHROMIUM = "/usr/bin/chromium"


@pytest.mark.browser
@pytest.mark.skipif(
    not os.path.exists(CHROMIUM) and not os.environ.get("CI"), reason="no Debian chromium"
)
def test_lineage_svg_renders_in_chromium_without_running_hostile_labels(
    scoped_report: Path,
) -> None:
    from playwright.sync_api import sync_playwright

    dialogs: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto((scoped_report / "report.html").as_uri())
        boxes = page.evaluate(
            "[...document.querySelectorAll('#system-description svg.lineage')]"
            ".map(s => s.getBoundingClientRect().width)"
        )
        labels = page.evaluate(
            "[...document.querySelectorAll('#system-description svg.lineage text')]"
            ".map(t => t.textContent)"
        )
        browser.close()
    assert len(boxes) == 2 and all(w > 300 for w in boxes)
    assert "claims-train" in labels
    assert not dialogs


def test_scoped_findings_json_validates_against_the_published_schema(scoped_report: Path) -> None:
    from jsonschema import Draft202012Validator

    schema = json.loads(
        (Path(__file__).resolve().parents[2] / "docs" / "findings.schema.json").read_text()
    )
    document = json.loads((scoped_report / "findings.json").read_text())
    assert not list(Draft202012Validator(schema).iter_errors(document))
    scoped = [f for f in document["findings"] if f["scope"]]
    assert scoped and all(set(f["scope"]) == set(f["requirements"]) for f in scoped)
