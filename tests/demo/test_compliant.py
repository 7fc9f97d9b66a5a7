"""The compliant twin of the demo estate: a compliant estate must come out compliant.

The twin is planted into a real moto server, collected with the real AWS collector and judged by
the real evaluator with the demo organisation's approved regions. No control may FAIL, every
automated AWS control must PASS somewhere (except where moto cannot produce the evidence: those
must say ERROR, never PASS or FAIL), and every violation the demo estate plants has a twin here,
of the same type and name, on which the controls it failed do not FAIL.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from auditor.catalog import load_catalog
from auditor.collect.aws.engine import Scope
from auditor.collect.aws.scope import AwsCollector
from auditor.collect.aws.specs import SPECS
from auditor.demo import _approved_regions
from auditor.demo import aws_estate as estate
from auditor.evaluate import audit
from auditor.models import (
    AuditResult,
    Catalog,
    EvidenceDoc,
    MemorySink,
    RollupStatus,
    Status,
    provider_of_type,
    utcnow,
)
from devtools.factories import snapshot

FRAMEWORKS = ("gdpr", "hipaa", "pci-dss-4.0.1")
# Evidence moto cannot produce: these controls must ERROR (an error is never a verdict).
MOTO_GAPS = {
    "ML-MON-010": "moto has no ListMonitoringSchedules",
    "ML-DEPLOY-010": "moto has no Bedrock guardrails",
}
PER_REGION = {
    spec.resource_type
    for spec in SPECS
    if spec.scope in (Scope.REGION_DOCUMENT, Scope.ACCOUNT_DOCUMENT)
}


pytestmark = pytest.mark.moto(region=estate.HOME_REGION)


@pytest.fixture(scope="module")
def twin(aws: str) -> estate.EstateInfo:
    return estate.seed_compliant_estate()


@pytest.fixture(scope="module")
def sink(twin: estate.EstateInfo) -> MemorySink:
    sink = MemorySink()
    AwsCollector(regions=list(twin.regions)).collect(sink)
    return sink


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    """The default catalog with the demo organisation's answer to the residency question."""
    return load_catalog(params={"approved_regions": _approved_regions()})


@pytest.fixture(scope="module")
def result(catalog: Catalog, sink: MemorySink) -> AuditResult:
    taken = snapshot(
        "compliant", sink.docs, errors=sink.errors, taken_at=utcnow(), took=timedelta(0),
        scope={}, catalog_sha256=catalog.sha256,
    )  # fmt: skip
    return audit(
        catalog,
        [taken],
        period=None,
        frameworks=list(FRAMEWORKS),
        on=date.today(),
    )


def _aws_controls(catalog: Catalog) -> list[str]:
    return [
        c.id
        for c in catalog.controls
        if not c.manual and {provider_of_type(t) for t in c.resource_types} == {"aws"}
    ]


def test_the_compliant_twin_has_no_fail_in_any_framework(result: AuditResult) -> None:
    failed = [
        (f.control_id, f.resource_id, f.reason) for f in result.findings if f.status == Status.FAIL
    ]
    assert failed == []
    requirements = [
        (r.framework, r.requirement_id)
        for r in result.rollups
        if r.status == RollupStatus.NON_COMPLIANT
    ]
    assert requirements == []
    assert {r.framework for r in result.rollups} == set(FRAMEWORKS)


def test_every_automated_aws_control_passes_somewhere(
    catalog: Catalog, result: AuditResult
) -> None:
    statuses: dict[str, set[Status]] = {}
    for finding in result.findings:
        statuses.setdefault(finding.control_id, set()).add(finding.status)
    never_passed = {
        cid: sorted(str(s) for s in statuses.get(cid, set()))
        for cid in _aws_controls(catalog)
        if Status.PASS not in statuses.get(cid, set()) and cid not in MOTO_GAPS
    }
    assert never_passed == {}
    for cid in MOTO_GAPS:
        assert statuses.get(cid) == {Status.ERROR}, (cid, statuses.get(cid))


def test_unset_residency_question_is_manual_not_fail(sink: MemorySink) -> None:
    """With the default configuration and no approved regions, residency asks; nothing FAILs."""
    catalog = load_catalog()
    taken = snapshot(
        "compliant", sink.docs, errors=sink.errors, taken_at=utcnow(), took=timedelta(0),
        scope={}, catalog_sha256=catalog.sha256,
    )  # fmt: skip
    result = audit(
        catalog,
        [taken],
        period=None,
        frameworks=list(FRAMEWORKS),
        on=date.today(),
    )
    assert [f.control_id for f in result.findings if f.status == Status.FAIL] == []
    residency = {
        f.control_id: f.status
        for f in result.findings
        if f.control_id in ("ML-DATA-011", "ML-TRAIN-023", "ML-DEPLOY-007")
    }
    assert residency == dict.fromkeys(
        ("ML-DATA-011", "ML-TRAIN-023", "ML-DEPLOY-007"), Status.MANUAL
    )


def _doc(docs: list[EvidenceDoc], twin: estate.PlantedResource) -> EvidenceDoc:
    found = [
        d
        for d in docs
        if d.resource_type == twin.resource_type
        and (twin.region == "global" or d.region == twin.region)
        and (
            twin.resource_type in PER_REGION
            or twin.name in (d.name, d.data.get("DomainName"))
            or twin.name in d.data.get("Aliases", [])
        )
    ]
    assert len(found) == 1, (twin, len(found))
    return found[0]


def test_every_planted_violation_has_a_twin_that_does_not_fail(
    twin: estate.EstateInfo, sink: MemorySink, result: AuditResult
) -> None:
    planted = {(p.resource_type, p.name) for p in estate._PLANTED}
    assert planted, "the demo estate plants violations"
    assert {(t.resource_type, t.name) for t in twin.hardened} == planted
    by_resource = {(f.control_id, f.resource_id): f.status for f in result.findings}
    for resource in twin.hardened:
        assert resource.region in (*estate.COMPLIANT_REGIONS, "global")
        doc = _doc(sink.docs, resource)
        verdicts = {cid: by_resource.get((cid, doc.resource_id)) for cid in resource.controls}
        assert set(verdicts.values()) <= {Status.PASS, Status.NOT_APPLICABLE}, (
            resource.name,
            verdicts,
        )
        assert Status.PASS in verdicts.values() or resource.resource_type == "AWS::Logs::LogGroup"


def test_demo_compliant_runs_the_pipeline_and_finds_no_fail(tmp_path: Path) -> None:
    """`auditor demo --compliant`: the real store, evaluation and report on the compliant twin."""
    from auditor.demo import gcp_estate, run_compliant_demo

    outcome = run_compliant_demo(tmp_path / "out", formats=("html",))
    statuses = {f.status for f in outcome.result.findings}
    assert Status.PASS in statuses and Status.FAIL not in statuses
    assert not [r for r in outcome.result.rollups if r.status == RollupStatus.NON_COMPLIANT]
    providers = {s.provider for s in outcome.result.snapshots}
    # GCP joins when its compliant export exists in this build (another branch provides it).
    expected = {"aws", "gcp"} if hasattr(gcp_estate, "compliant_export") else {"aws"}
    assert providers == expected
    assert (outcome.report_dir / "report.html").is_file()
