"""The view model: the counting and grouping the templates show, without rendering."""

from __future__ import annotations

import pytest

from auditor.models import FindingsDiff
from auditor.report.view import ReportView, coverage_rows, worst_status
from devtools import report_synthetic
from devtools.report_synthetic import Synthetic


@pytest.fixture(scope="module")
def view() -> tuple[Synthetic, ReportView]:
    syn = report_synthetic.build(120, failing=40)
    diff = FindingsDiff(
        old_label="v1",
        new_label="v2",
        new_failures=syn.result.findings[:2],
        resolved_failures=(),
        regressions=(),
        new_resources=("arn:aws:s3:::new",),
        removed_resources=(),
        controls_added=("ML-MON-004",),
        controls_removed=(),
        controls_changed=(),
    )
    return syn, report_synthetic.view_of(syn.result, diff=diff)


def test_coverage_matrix_distinguishes_automated_manual_and_none(
    view: tuple[Synthetic, ReportView],
) -> None:
    syn, _ = view
    rows = {(r["framework"], r["requirement"]): r for r in coverage_rows(syn.result)}
    assert rows[("pci-dss-4.0.1", "3.5.1")]["coverage"] == "automated"
    assert "ML-DATA-001" in rows[("pci-dss-4.0.1", "3.5.1")]["automated"]
    assert rows[("pci-dss-4.0.1", "12.10.1")]["coverage"] == "manual"
    assert rows[("gdpr", "Art. 44")]["coverage"] == "none"
    assert len(rows) == sum(len(v) for v in report_synthetic.REQUIREMENTS.values())


def test_not_applicable_controls_are_listed_not_hidden(view: tuple[Synthetic, ReportView]) -> None:
    _, v = view
    assert [c.id for c in v.not_applicable] == ["ML-MON-004"]
    assert "ML-MON-004" in [c.id for c in v.controls]


def test_waivers_attestations_and_errors(view: tuple[Synthetic, ReportView]) -> None:
    _, v = view
    expired = {w["control"]: w["expired"] for w in v.waivers}
    assert expired == {"ML-DATA-003": True, "ML-DATA-002": False}
    assert all(r.waiver.startswith("expired") for r in v.expired_waiver_findings)
    assert [m["requirement"] for m in v.missing_attestations] == ["gdpr:Art. 35"]
    assert v.collection_errors[0]["controls"] == "ML-MON-001"
    assert v.diff is not None and len(v.diff["new_failures"]) == 2


def test_control_status_is_the_worst_of_its_findings(view: tuple[Synthetic, ReportView]) -> None:
    syn, v = view
    by_id = {c.id: c for c in v.controls}
    assert by_id["ML-MON-001"].status in ("FAIL", "ERROR")
    assert by_id["ML-GOV-001"].status == "ATTESTED" and by_id["ML-GOV-002"].status == "MANUAL"
    assert worst_status(["PASS", "ERROR", "WAIVED"], default="NOT_APPLICABLE") == "ERROR"
    assert worst_status([], default="NOT_APPLICABLE") == "NOT_APPLICABLE"
    failing = sum(1 for f in syn.result.findings if str(f.status) in ("FAIL", "ERROR"))
    assert sum(c.failing_total for c in v.controls) == failing
    assert v.totals["FAIL"] + v.totals["PASS"] + v.totals["ERROR"] + v.totals["WAIVED"] + v.totals[
        "MANUAL"
    ] + v.totals["ATTESTED"] == len(syn.result.findings)


def test_the_management_assertion_cannot_claim_more_than_the_results() -> None:
    from auditor.report.view import management_assertion

    configured = {"name": "Dana", "title": "CISO", "wording": "All controls operated."}
    clean = management_assertion(
        configured,
        organisation="Acme",
        exceptions=0,
        exceptions_section="9",
        sufficient=True,
        effectiveness_section="13",
    )
    assert clean["text"] == "All controls operated." and clean["notes"] == ()
    open_exceptions = management_assertion(
        configured,
        organisation="Acme",
        exceptions=3,
        exceptions_section="9",
        sufficient=True,
        effectiveness_section="13",
    )
    assert open_exceptions["text"].endswith(
        "operated effectively throughout the period, except for the 3 exception(s) listed in "
        "section 9."
    )
    assert "3 exception(s) are open" in open_exceptions["notes"][0]
    thin = management_assertion(
        "All controls operated.",
        organisation="Acme",
        exceptions=0,
        exceptions_section="9",
        sufficient=False,
        effectiveness_section="13",
    )
    assert "operated effectively" not in thin["text"]
    assert "makes no assertion on their operation over the period" in thin["text"]
    assert "(section 13)" in thin["text"]
    default = management_assertion(
        {}, organisation="", exceptions=0, exceptions_section="9", sufficient=True,
        effectiveness_section="13",
    )  # fmt: skip
    assert default["text"].startswith("Management asserts that the controls")


def test_chapters_are_numbered_in_document_order() -> None:
    from auditor.report.view import SECTIONS, section_list

    sections = section_list(())
    anchors = [s["anchor"] for s in sections]
    assert anchors == [a for a, _, _ in SECTIONS if a != "@frameworks"]
    numbers = {s["anchor"]: s["number"] for s in sections}
    assert numbers["document-control"] == "1" and numbers["system-description"] == "2"
    assert numbers["exceptions"] == "7"
    assert numbers["all-findings"] == "" and numbers["signoff"] == ""
    assert (numbers["coverage"], numbers["evidence"]) == ("A", "B")
    # a report without a system description numbers the rest without a gap
    without = {
        s["anchor"]: s["number"] for s in section_list((), absent=frozenset({"system-description"}))
    }
    assert "system-description" not in without and without["exceptions"] == "6"
