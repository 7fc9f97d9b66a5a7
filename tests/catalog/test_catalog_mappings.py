"""Mappings an auditor accepts: every shipped mapping says why; parameters only the organisation
can decide make their control MANUAL, never FAIL; supporting mappings and manual requirements
do not let an automated FAIL decide a requirement."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from auditor.catalog import load_catalog
from auditor.errors import UserError
from auditor.evaluate import audit
from auditor.models import RollupStatus, Snapshot, Status, utcnow
from devtools.factories import doc, snapshot

SHIPPED = load_catalog()


@pytest.mark.parametrize("control", SHIPPED.controls, ids=lambda c: c.id)
def test_every_shipped_mapping_says_why(control: object) -> None:
    missing = [
        f"{fw}:{rid}"
        for fw, ids in control.maps_to.items()  # type: ignore[attr-defined]
        for rid in ids
        if not control.why(fw, rid)  # type: ignore[attr-defined]
    ]
    assert not missing, f"{control.id} maps to {missing} without a `why`"  # type: ignore[attr-defined]


FRAMEWORK = """\
framework: demo
name: Demo framework
version: "1"
source: test
requirements:
  - {id: "R1", title: "Data is encrypted"}
  - {id: "R2", title: "Resilience"}
  - {id: "R3", title: "A policy exists", manual: true, attestation_question: "Is there a policy?"}
"""

CONTROLS = """\
controls:
  - id: T-DATA-001
    title: Buckets are encrypted
    stage: data
    severity: high
    rationale: r
    resource_types: ["AWS::S3::Bucket"]
    rule: encrypted
    pass_reason: ok
    fail_reason: not ok
    remediation: {text: fix}
    maps_to:
      demo:
        - {id: "R1", why: "encryption at rest is what R1 asks"}
        - {id: "R2", why: "shows the bucket exists, nothing more", supporting: true}
        - {id: "R3", why: "configuration evidence for the policy"}
  - id: T-DATA-002
    title: Buckets are in an approved region
    stage: data
    severity: medium
    rationale: r
    resource_types: ["AWS::S3::Bucket"]
    params:
      approved_regions: {default: null, type: list, question: "Which regions may hold the data"}
    rule: contains(${approved_regions}, region)
    pass_reason: ok
    fail_reason: outside ${approved_regions}
    remediation: {text: move it}
    maps_to:
      demo: ["R1"]
"""


def _catalog(tmp_path: Path, params: dict[str, object] | None = None, controls: str = CONTROLS):
    (tmp_path / "frameworks").mkdir(exist_ok=True)
    (tmp_path / "frameworks" / "demo.yaml").write_text(FRAMEWORK)
    (tmp_path / "c.yaml").write_text(controls)
    return load_catalog([tmp_path], params=params or {})


def _snapshot(encrypted: bool) -> Snapshot:
    bucket = doc(
        "b", {"encrypted": encrypted, "region": "eu-west-1"}, account="1", region="eu-west-1"
    )
    return snapshot("s1", [bucket], taken_at=utcnow(), took=timedelta(0), scope={})


def _rollups(catalog, encrypted: bool) -> dict[str, RollupStatus]:  # type: ignore[no-untyped-def]
    result = audit(
        catalog, [_snapshot(encrypted)], period=None, frameworks=["demo"], on=date(2026, 12, 1)
    )
    return {r.requirement_id: r.status for r in result.rollups}


def test_why_and_supporting_reach_the_control(tmp_path: Path) -> None:
    control = _catalog(tmp_path).control("T-DATA-001")
    assert control is not None
    assert control.why("demo", "R1") == "encryption at rest is what R1 asks"
    assert control.maps_to["demo"] == ("R1", "R2", "R3")
    assert control.decides("demo", "R1") and not control.decides("demo", "R2")


def test_a_fail_decides_only_requirements_it_evidences(tmp_path: Path) -> None:
    statuses = _rollups(_catalog(tmp_path, {"approved_regions": ["eu-west-1"]}), encrypted=False)
    assert statuses["R1"] == RollupStatus.NON_COMPLIANT
    assert statuses["R2"] == RollupStatus.NOT_COVERED  # supporting evidence only
    assert statuses["R3"] == RollupStatus.MANUAL  # a manual requirement waits for its attestation


def test_unset_parameter_is_manual_with_the_question(tmp_path: Path) -> None:
    catalog = _catalog(tmp_path)
    result = audit(
        catalog, [_snapshot(True)], period=None, frameworks=["demo"], on=date(2026, 12, 1)
    )
    regional = [f for f in result.findings if f.control_id == "T-DATA-002"]
    assert [f.status for f in regional] == [Status.MANUAL]
    assert "Which regions may hold the data?" in regional[0].reason
    assert "controls.params.approved_regions" in regional[0].reason
    assert {r.requirement_id: r.status for r in result.rollups}["R1"] == RollupStatus.MANUAL


def test_set_parameter_judges_again(tmp_path: Path) -> None:
    catalog = _catalog(tmp_path, {"approved_regions": ["us-east-1"]})
    result = audit(
        catalog, [_snapshot(True)], period=None, frameworks=["demo"], on=date(2026, 12, 1)
    )
    regional = [f for f in result.findings if f.control_id == "T-DATA-002"]
    assert [f.status for f in regional] == [Status.FAIL]
    assert "outside us-east-1" in regional[0].reason


def test_an_unset_parameter_needs_type_and_question(tmp_path: Path) -> None:
    broken = CONTROLS.replace(', type: list, question: "Which regions may hold the data"', "")
    with pytest.raises(UserError, match="needs `type` and `question`"):
        _catalog(tmp_path, controls=broken)


def test_a_value_of_the_wrong_type_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="must be a list"):
        _catalog(tmp_path, {"approved_regions": "eu-west-1"})


def test_a_mapping_entry_needs_its_why(tmp_path: Path) -> None:
    broken = CONTROLS.replace('why: "encryption at rest is what R1 asks"', 'why: ""')
    with pytest.raises(UserError):
        _catalog(tmp_path, controls=broken)
