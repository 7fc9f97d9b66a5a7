"""The print edition read back with pypdf: sections, running header/footer, table of contents,
bookmarks, PDF/A-3b metadata, attachments with the exact bytes, bounded tables."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from report_synthetic import Synthetic

from auditor.report.view import PDF_ROW_LIMIT, evidence_index

SECTIONS = [
    "Contents",
    "Document control",
    "Scope and methodology",
    "Executive summary",
    "General Data Protection Regulation",
    "HIPAA Security Rule",
    "PCI DSS",
    "Control details",
    "Controls not applicable",
    "Exceptions and waivers",
    "Manual attestations",
    "Collection errors",
    "Changes since the previous version",
    "Operating effectiveness",
    "Appendix A: coverage matrix",
    "Appendix B: evidence index",
    "Sign-off",
]


@pytest.fixture(scope="module")
def reader(report_dir: Path) -> PdfReader:
    return PdfReader(report_dir / "report.pdf")


@pytest.fixture(scope="module")
def pages(reader: PdfReader) -> list[str]:
    return [page.extract_text() for page in reader.pages]


@pytest.fixture(scope="module")
def manifest(report_dir: Path) -> dict[str, Any]:
    return json.loads((report_dir / "manifest.json").read_bytes())


def test_every_section_is_present(pages: list[str]) -> None:
    text = "\n".join(pages)
    missing = [title for title in SECTIONS if title not in text]
    assert not missing
    assert "full population, not a sample" in text.replace("\n", " ")


def test_cover_names_organisation_period_version_and_report_id(
    pages: list[str], manifest: dict
) -> None:
    cover = pages[0]
    assert "Example Health & Payments Ltd" in cover
    assert "2026-Q4" in cover
    assert manifest["report_id"] in cover
    assert f"auditor {manifest['tool_version']}" in cover


def test_running_header_and_footer_on_every_page(
    pages: list[str], manifest: dict[str, Any]
) -> None:
    total = len(pages)
    assert total > 3
    for number, text in enumerate(pages, start=1):
        assert f"Page {number} of {total}" in text, number
        assert manifest["report_id"] in text, number
    assert "Version 1" in pages[1]


def test_table_of_contents_page_numbers_point_at_the_sections(pages: list[str]) -> None:
    toc = pages[0] + pages[1]
    checked = 0
    for title in ("Control details", "Collection errors", "Appendix B: evidence index", "Sign-off"):
        match = re.search(re.escape(title) + r"[ .]*?(\d+)\s*$", toc, re.MULTILINE)
        assert match, title
        page = int(match.group(1))
        heading = re.sub(r"^\d+ ", "", pages[page - 1].lstrip())  # chapters are numbered
        assert heading.startswith(title), (title, page)
        checked += 1
    assert checked == 4


def test_bookmarks_outline_lists_sections_and_frameworks(reader: PdfReader) -> None:
    def titles(outline: list[Any]) -> list[str]:
        out: list[str] = []
        for item in outline:
            out.extend(titles(item) if isinstance(item, list) else [item.title])
        return out

    flat = titles(reader.outline)
    top = [
        re.sub(r"^\d+ ", "", str(item.title))
        for item in reader.outline
        if not isinstance(item, list)
    ]
    assert "Control details" in top and "Sign-off" in top
    assert any(t.startswith("HIPAA Security Rule") for t in top)
    assert any(t.startswith("ML-DATA-001") for t in flat)  # a control, nested under its chapter


def test_pdfa3b_metadata_and_associated_files(reader: PdfReader) -> None:
    root: Any = reader.trailer["/Root"]
    xmp = root["/Metadata"].get_object().get_data().decode("utf-8")
    assert re.search(r'pdfaid:part(="|>)3', xmp)
    assert re.search(r'pdfaid:conformance(="|>)B', xmp)
    assert "/OutputIntents" in root
    associated = [ref.get_object() for ref in root["/AF"]]
    relationships = {str(f["/F"]): str(f["/AFRelationship"]) for f in associated}
    assert relationships == {
        "findings.json": "/Data",
        "findings.csv": "/Data",
        "evidence-index.json": "/Supplement",
    }


def test_attachments_hold_exactly_the_findings_files(
    reader: PdfReader, report_dir: Path, synthetic: Synthetic, manifest: dict
) -> None:
    attached = {name: data[0] for name, data in reader.attachments.items()}
    assert attached["findings.json"] == synthetic.findings_json
    assert attached["findings.csv"] == synthetic.findings_csv
    assert attached["findings.json"] == (report_dir / "findings.json").read_bytes()
    index = json.loads(attached["evidence-index.json"])
    assert index["report_id"] == manifest["report_id"]
    assert [s["manifest_sha256"] for s in index["snapshots"]] == [
        s["manifest_sha256"] for s in manifest["snapshots"]
    ]
    assert index["files"]["findings.csv"] == manifest["files"]["findings.csv"]


def test_the_attached_index_is_the_reports_index_with_counts_and_errors(
    reader: PdfReader, synthetic: Synthetic, manifest: dict
) -> None:
    """One builder: appendix B's rows, the manifest's snapshot list and evidence-index.json
    agree row for row; the attachment adds each snapshot's counts and errors themselves."""
    index = json.loads({n: d[0] for n, d in reader.attachments.items()}["evidence-index.json"])
    hashes = {s["id"]: s["manifest_sha256"] for s in manifest["snapshots"]}
    shown = [dict(row) for row in evidence_index(synthetic.result, hashes)]
    assert [s["id"] for s in manifest["snapshots"]] == [row["id"] for row in shown]
    by_id = {m.id: m for m in synthetic.result.snapshots}
    for row, plain in zip(index["snapshots"], shown, strict=True):
        assert {k: v for k, v in row.items() if k not in ("counts", "errors")} == {
            k: v for k, v in plain.items() if k != "errors"
        }
        assert row["counts"] == dict(by_id[row["id"]].counts)
        assert len(row["errors"]) == plain["errors"] == len(by_id[row["id"]].errors)
    assert any(row["errors"] for row in index["snapshots"])  # the fixture has errors to list


def test_failing_resources_are_bounded_with_a_pointer_to_the_csv(
    pages: list[str], synthetic: Synthetic
) -> None:
    failing = Counter(
        f.control_id for f in synthetic.result.findings if str(f.status) in ("FAIL", "ERROR")
    )
    big = {c: n for c, n in failing.items() if n > PDF_ROW_LIMIT}
    assert big, "fixture must have a control with more failing resources than the PDF lists"
    text = " ".join(pages).replace("\n", " ")
    for _control, count in big.items():
        assert f"and {count - PDF_ROW_LIMIT} more failing resources" in text
    assert "see the attached findings.csv" in text


def test_not_applicable_controls_waivers_and_errors_are_shown(pages: list[str]) -> None:
    text = " ".join(pages).replace("\n", " ")
    assert "ML-MON-004" in text  # no resources of its type: NOT APPLICABLE, still listed
    assert "EXPIRED" in text  # the expired versioning waiver is flagged
    assert "ListMonitoringSchedules" in text and "NotImplemented" in text
    assert "Incident response plan tested" in text
    assert "Art. 35" in text  # awaiting an attestation
