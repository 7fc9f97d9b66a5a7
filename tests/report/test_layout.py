"""The print edition's layout, read back from the real PDF: no ID, status, date or column header
broken inside a word, no heading stranded at the foot of a page, the classification marking on
every page; and the honest conclusions: evidence coverage, the qualified management assertion,
and evidence references on failing resources."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from layout_checks import layout_problems, pdf_pages

from devtools.report_synthetic import Synthetic


@pytest.fixture(scope="module")
def pages(report_dir: Path) -> list[str]:
    return pdf_pages(report_dir / "report.pdf")


def flat(pages: list[str]) -> str:
    return " ".join(" ".join(pages).split())


def test_no_word_is_broken_and_no_heading_ends_a_page(
    report_dir: Path, synthetic: Synthetic
) -> None:
    catalog = synthetic.result.catalog
    problems = layout_problems(
        report_dir / "report.pdf",
        report_dir / "report.html",
        control_ids=[c.id for c in catalog.controls],
        requirement_ids=[r.id for fw in catalog.frameworks.values() for r in fw.requirements],
    )
    assert problems == []


def test_the_checker_sees_a_broken_id(tmp_path: Path) -> None:
    """Control for the test above: a PDF whose narrow cells must break IDs is caught."""
    import weasyprint

    html = tmp_path / "narrow.html"
    html.write_text(
        "<table style='width:20mm;table-layout:fixed;word-break:break-all'><tr><th>Control</th>"
        "</tr><tr><td>ML-DATA-001 ML-DEPLOY-060</td></tr></table><h2>Stranded heading</h2>"
        "<div style='height:265mm'></div><p>next</p>",
        encoding="utf-8",
    )
    pdf = tmp_path / "narrow.pdf"
    weasyprint.HTML(filename=str(html)).write_pdf(str(pdf))
    problems = layout_problems(
        pdf, html, control_ids=["ML-DATA-001", "ML-DEPLOY-060"], requirement_ids=[]
    )
    assert any("control ID broken" in p for p in problems), problems
    assert any("ends with the heading 'Stranded heading'" in p for p in problems), problems


def test_the_classification_is_on_every_page(pages: list[str]) -> None:
    for number, text in enumerate(pages, start=1):
        assert "Confidential" in text, number


def test_chapters_are_numbered_and_the_assertion_names_the_exceptions_section(
    pages: list[str],
) -> None:
    text = flat(pages)
    match = re.search(r"(\d+) Exceptions and waivers Open exceptions", text)
    assert match, "the exceptions chapter has a number"
    section = match.group(1)
    assertion = text[text.rindex("Management assertion") :]
    assert "except for the" in assertion
    assert f"listed in section {section}" in assertion
    # The configured wording claims operation throughout the period; the evidence does not
    # cover the period for GCP, so that wording is replaced and the report says why.
    assert "makes no assertion on their operation over the period" in assertion
    assert "The configured wording is not used" in assertion
    assert "Dana Example" in assertion and "Chief Information Security Officer" in assertion


def test_operating_effectiveness_states_its_evidence(pages: list[str]) -> None:
    text = flat(pages)
    chapter = text[text.index("Evidence over the period") :]
    dated = r"aws 13 13 2026-10-02 ?T03:00:00Z 2026-12-25 ?T03:00:00Z 7\.0 days"
    assert re.search(dated, chapter)  # a time may wrap below its date
    assert re.search(r"gcp 5 13 .* 21\.0 days", chapter)
    assert "insufficient evidence to conclude on operating effectiveness" in chapter
    assert "5 snapshot(s) where the" in chapter and "cadence expects 13" in chapter


def test_failing_resources_carry_snapshot_and_evidence_hash(
    pages: list[str], synthetic: Synthetic
) -> None:
    text = flat(pages)
    failing = next(
        f for f in synthetic.result.findings if str(f.status) == "FAIL" and f.evidence_sha256
    )
    assert f"snapshot {failing.snapshot_id}" in text
    assert (failing.evidence_sha256 or "")[:16] in text
