"""findings.json / findings.csv, diff, and OSCAL output."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import date

import pytest

from auditor.errors import UserError
from auditor.evaluate import (
    CSV_COLUMNS,
    audit,
    diff_findings,
    diff_to_dict,
    diff_to_text,
    findings_csv,
    findings_document,
    oscal_assessment_results,
)
from auditor.models import Finding, Status
from devtools.factories import T0, catalog, control, doc, kms_bucket, snapshot, sse_bucket

ON = date(2026, 11, 1)


def result_for(docs, cat=None, snapshot_id="s1"):
    cat = cat or catalog(
        control(), control("ML-GOV-001", manual=True, maps_to={"gdpr": ["Art. 30"]})
    )
    return audit(
        cat,
        [snapshot(snapshot_id, docs, taken_at=T0)],
        period=None,
        frameworks=["gdpr", "pci-dss-4.0.1"],
        on=ON,
        metadata={},
    )


def test_findings_document_has_exactly_the_contract_shape():
    result = result_for([sse_bucket("train-data")])
    document = findings_document(result)
    assert list(document) == ["schema", "generated_at", "catalog_sha256", "snapshots", "findings"]
    assert document["schema"] == "auditor.findings/v1"
    assert document["generated_at"].endswith("Z")
    assert document["catalog_sha256"] == "c" * 64
    (snap,) = document["snapshots"]
    assert snap == {
        "id": "s1",
        "provider": "aws",
        "taken_at": "2026-10-05T12:00:00Z",
        "manifest_sha256": result.snapshots[0].sha256,
    }
    failing = next(f for f in document["findings"] if f["status"] == "FAIL")
    assert set(failing) == {
        "control_id", "control_title", "stage", "severity", "status", "provider", "account",
        "region", "resource_type", "resource_id", "reason", "requirements", "snapshot_id",
        "waiver", "scope", "evidence_sha256",
    }  # fmt: skip
    assert failing["scope"] == {}  # no scope defined: every framework, no per-framework reason
    assert failing["snapshot_id"] == "s1"
    assert failing["evidence_sha256"] == sse_bucket("train-data").sha256
    assert failing["resource_id"] == "arn:aws:s3:::train-data"
    assert failing["requirements"] == {"gdpr": ["Art. 32(1)(a)"], "pci-dss-4.0.1": ["3.5.1"]}
    assert failing["waiver"] is None
    json.dumps(document)  # serialisable as is
    assert [Finding.from_dict(f) for f in document["findings"]] == list(result.findings)


def test_findings_csv_has_the_same_rows_and_neutralises_formulas():
    hostile = ['=HYPERLINK("http://x")', "+1+1", "-2", "@SUM(A1)", "\tcmd", "\rcmd"]
    docs = [doc(name, {"Encryption": {"SSEAlgorithm": name}}) for name in hostile]
    cat = catalog(control(fail_reason="{Encryption.SSEAlgorithm}"))
    result = result_for(docs, cat)
    rows = list(csv.reader(io.StringIO(findings_csv(result.findings))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == 1 + len(result.findings)
    reasons = [row[CSV_COLUMNS.index("reason")] for row in rows[1:]]
    # a formula start is quoted; a carriage return is a control character, shown as \u000d
    expected = ["'" + h if h != "\rcmd" else "\\u000dcmd" for h in hostile]
    assert sorted(reasons) == sorted(expected)
    for row in rows[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    req = rows[1][CSV_COLUMNS.index("requirements")]
    assert req == "gdpr:Art. 32(1)(a);pci-dss-4.0.1:3.5.1"


def test_csv_shows_the_waiver():
    from auditor.models import Waiver

    cat = catalog(control())
    result = audit(
        cat,
        [snapshot("s1", [sse_bucket("legacy")], taken_at=T0)],
        period=None,
        frameworks=["gdpr"],
        waivers=[Waiver("ML-DATA-001", (), "Retired", "CISO", date(2026, 10, 1), "w:1")],
        on=ON,
    )
    rows = list(csv.DictReader(io.StringIO(findings_csv(result.findings))))
    assert rows[0]["status"] == "FAIL"
    assert rows[0]["waiver"] == "expired until 2026-10-01; approved by CISO; Retired"


# ---------------------------------------------------------------- diff


def test_diff_classifies_every_kind_of_change():
    cat_old = catalog(
        control(), control("ML-DATA-002", rule="Name"), control("ML-DATA-003", rule="Name")
    )
    cat_new = catalog(
        control(),
        control("ML-DATA-002", rule="Name", title="Renamed"),
        control("ML-DATA-004", rule="Name"),
    )
    old = findings_document(
        result_for([sse_bucket("fixed"), kms_bucket("broke"), sse_bucket("gone")], cat_old)
    )
    new = findings_document(
        result_for([kms_bucket("fixed"), sse_bucket("broke"), sse_bucket("fresh")], cat_new)
    )
    diff = diff_findings(old, new, "v1", "v2")
    key = lambda fs: [(f.control_id, f.resource_id) for f in fs]  # noqa: E731
    assert key(diff.new_failures) == [("ML-DATA-001", "arn:aws:s3:::fresh")]
    assert key(diff.regressions) == [("ML-DATA-001", "arn:aws:s3:::broke")]
    assert key(diff.resolved_failures) == [("ML-DATA-001", "arn:aws:s3:::fixed")]
    assert diff.resolved_failures[0].status is Status.FAIL  # the old finding is shown
    assert diff.new_resources == ("arn:aws:s3:::fresh",)
    assert diff.removed_resources == ("arn:aws:s3:::gone",)
    assert diff.controls_added == ("ML-DATA-004",)
    assert diff.controls_removed == ("ML-DATA-003",)
    assert diff.controls_changed == ("ML-DATA-002",)
    assert ("ML-DATA-001", "arn:aws:s3:::broke", "PASS", "FAIL") in diff.status_changes

    text = diff_to_text(diff)
    assert "New failures (1)" in text and "Controls removed (1)" in text and "ML-DATA-003" in text
    as_json = diff_to_dict(diff)
    json.dumps(as_json)
    assert as_json["regressions"][0]["resource_id"] == "arn:aws:s3:::broke"
    assert as_json["controls_changed"] == ["ML-DATA-002"]


def test_diff_uses_per_control_digests_when_both_documents_carry_them():
    docs = [kms_bucket("a")]
    old = findings_document(result_for(docs))
    new = findings_document(result_for(docs))
    assert diff_findings(old, new, "a", "b").controls_changed == ()
    old["controls"] = {"ML-DATA-001": {"digest": "1"}}
    new["controls"] = {"ML-DATA-001": {"digest": "2"}}
    assert diff_findings(old, new, "a", "b").controls_changed == ("ML-DATA-001",)


def test_diff_refuses_something_that_is_not_a_findings_document():
    with pytest.raises(UserError, match="not a findings document"):
        diff_findings({"schema": "other"}, {}, "old.json", "new.json")


# ---------------------------------------------------------------- OSCAL


def test_oscal_assessment_results_validate_with_trestle():
    pytest.importorskip("trestle", reason="compliance-trestle (extra 'oscal') not installed")
    from trestle.oscal.assessment_results import AssessmentResults

    result = result_for([sse_bucket("bad"), kms_bucket("good")])
    document = oscal_assessment_results(result)
    body = document["assessment-results"]
    AssessmentResults.model_validate(body)  # round-trips through trestle's own model
    (res,) = body["results"]
    subjects = {o["subjects"][0]["title"] for o in res["observations"]}
    assert {"arn:aws:s3:::bad", "arn:aws:s3:::good", "control:ML-GOV-001"} <= subjects
    findings = {f["target"]["title"]: f for f in res["findings"]}
    assert findings["3.5.1"]["target"]["status"]["state"] == "not-satisfied"
    assert findings["Art. 32(1)(a)"]["target"]["target-id"] == "gdpr_art.-32-1-a"
    assert len(findings["3.5.1"]["related-observations"]) == 2
    assert json.loads(json.dumps(document)) == document
    assert oscal_assessment_results(result) == document  # deterministic


def test_oscal_without_trestle_is_a_clear_user_error(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_trestle(name, *args, **kwargs):
        if name.startswith("trestle"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_trestle)
    result = replace(result_for([kms_bucket("a")]))
    with pytest.raises(UserError, match=r"auditor\[oscal\]"):
        oscal_assessment_results(result)
