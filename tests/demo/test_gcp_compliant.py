"""The compliant twin of the GCP sample estate, imported through the real export importer into a
real evidence store and evaluated by the shipped catalog: a compliant estate comes out compliant
(no FAIL in any framework) and every automated GCP control has something to PASS."""

from __future__ import annotations

import json
from collections import defaultdict
from functools import cache
from pathlib import Path

import pytest
from markupsafe import escape

from auditor import pipeline
from auditor.collect.gcp.export import GcpExportCollector
from auditor.demo import _approved_regions, gcp_estate
from auditor.models import AuditResult, Control, MemorySink, RollupStatus, Status
from auditor.report.html import render_html
from auditor.report.view import build_view, pci_roc_term
from auditor.rules import holds

FRAMEWORKS = ("gdpr", "hipaa", "pci-dss-4.0.1")


def _gcp_automated(control: Control) -> bool:
    return not control.manual and all(not t.startswith("AWS::") for t in control.resource_types)


@cache
def _result(tmp: str) -> AuditResult:
    export = gcp_estate.compliant_export(Path(tmp) / "export")
    store = pipeline.open_store(str(Path(tmp) / "store"))
    catalog = pipeline.load_catalog(params={"approved_regions": _approved_regions()})
    collector = pipeline.gcp_collector(store, asset_export=export)
    pipeline.take_snapshot(store, collector, catalog.sha256)
    snapshots = pipeline.select_snapshots(store, pipeline.Selection(snapshot="latest"))
    return pipeline.run_evaluation(catalog, snapshots, frameworks=FRAMEWORKS, period=None)


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> AuditResult:
    return _result(str(tmp_path_factory.mktemp("compliant")))


def test_the_twin_is_a_gcloud_export_of_the_same_estate(tmp_path: Path) -> None:
    path = gcp_estate.compliant_export(tmp_path)
    assert path.parent == tmp_path and path.suffix == ".ndjson"
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(records) == len(gcp_estate.load_sample())
    assert {r["asset_type"] for r in records} == {r["asset_type"] for r in gcp_estate.load_sample()}
    assert gcp_estate.compliant_export(tmp_path / "again.ndjson").read_bytes() == path.read_bytes()
    fresh = gcp_estate.compliant_export(tmp_path / "new-folder")  # a folder that does not exist yet
    assert fresh == tmp_path / "new-folder" / "gcp-asset-export-compliant.ndjson"


def test_nothing_fails_in_any_framework(result: AuditResult) -> None:
    assert result.collection_errors == ()
    failing = sorted(
        (f.control_id, f.resource_id) for f in result.findings if f.status == Status.FAIL
    )
    assert failing == []
    assert not [f for f in result.findings if f.status == Status.ERROR]
    statuses = {(r.framework, r.requirement_id): r.status for r in result.rollups}
    assert [k for k, s in statuses.items() if s == RollupStatus.NON_COMPLIANT] == []
    compliant = {k for k, s in statuses.items() if s == RollupStatus.COMPLIANT}
    assert len(compliant) >= 15
    # decided by GCP evidence; MANUAL where a governance control also awaits its attestation
    for requirement in (
        ("gdpr", "Art. 32(1)(a)"),
        ("hipaa", "164.312(a)(2)(iv)"),
        ("hipaa", "164.312(b)"),
        ("pci-dss-4.0.1", "10.2.1"),
        ("pci-dss-4.0.1", "10.5.1"),
        ("pci-dss-4.0.1", "7.2.1"),
    ):
        assert statuses[requirement] in (RollupStatus.COMPLIANT, RollupStatus.MANUAL), requirement


def test_every_automated_gcp_control_passes_somewhere(result: AuditResult) -> None:
    passed = {f.control_id for f in result.findings if f.status == Status.PASS}
    controls = [c.id for c in result.catalog.controls if _gcp_automated(c)]
    assert len(controls) >= 45
    assert sorted(set(controls) - passed) == []


def test_each_planted_violation_has_a_compliant_twin(tmp_path: Path) -> None:
    """Every (control, resource) that FAILs in the sample PASSes on the same resource in the twin
    (the sandbox moved from us-central1 to europe-west1, so its names moved with it)."""
    catalog = pipeline.load_catalog(params={"approved_regions": _approved_regions()})
    controls = [c for c in catalog.controls if _gcp_automated(c)]

    def verdicts(path: Path) -> dict[tuple[str, str], bool]:
        sink = MemorySink()
        GcpExportCollector(path).collect(sink)
        out = {}
        for control in controls:
            assert control.rule is not None
            for doc in sink.docs:
                if doc.resource_type not in control.resource_types:
                    continue
                if control.applies_if and not holds(control.applies_if, doc.data):
                    continue
                out[(control.id, doc.resource_id)] = holds(control.rule, doc.data)
        return out

    planted = [key for key, ok in verdicts(gcp_estate.sample_path()).items() if not ok]
    twin = verdicts(gcp_estate.compliant_export(tmp_path))
    moved = {(c, r.replace("us-central1", "europe-west1")) for c, r in planted}
    by_control: dict[str, int] = defaultdict(int)
    for key in moved:
        by_control[key[0]] += 1
        assert twin.get(key) is True, key
    assert len(planted) >= 40 and len(by_control) >= 35


# ------------------------------------------------------------------ the report shows why and ROC terms


@pytest.mark.parametrize(
    ("status", "counts", "term"),
    [
        ("compliant", {"PASS": 3}, "In Place"),
        ("non_compliant", {"FAIL": 1, "PASS": 2}, "Not in Place"),
        ("not_covered", {"NOT_APPLICABLE": 2}, "Not Applicable"),
        ("not_covered", {}, "Not Tested"),
        ("inconclusive", {"ERROR": 1}, "Not Tested"),
        ("manual", {"MANUAL": 1}, "Not Tested"),
    ],
)
def test_pci_roc_terms(status: str, counts: dict[str, int], term: str) -> None:
    assert pci_roc_term(status, counts) == term


def test_report_shows_why_and_the_roc_term(result: AuditResult) -> None:
    view = build_view(
        result,
        report_id="AUD-TEST-v1-00000000",
        period_label="test",
        version=1,
        generated_at=result.generated_at,
        tool_version="0",
        supersedes=None,
        signed=False,
        history=(),
        snapshot_hashes={},
    )
    pci = next(fw for fw in view.frameworks if fw.id == "pci-dss-4.0.1")
    retention = next(req for req in pci.requirements if req.id == "10.5.1")
    control = result.catalog.control("ML-MON-054")
    assert control is not None
    why = control.why("pci-dss-4.0.1", "10.5.1")
    assert retention.status == "compliant" and retention.roc == "In Place"
    assert retention.why["ML-MON-054"] == why
    assert "ML-MON-057" in [c.id for c in retention.supporting]
    assert {req.roc for req in pci.requirements} <= {"In Place", "Not Applicable", "Not Tested"}
    assert all(
        req.roc is None
        for fw in view.frameworks
        if fw.id != "pci-dss-4.0.1"
        for req in fw.requirements
    )
    details = next(c for c in view.controls if c.id == "ML-DATA-051")
    assert {k: v for k, v in details.mappings[-1].items() if k != "why"} == {
        "framework": "pci-dss-4.0.1",
        "id": "3.6.1",
        "supporting": True,
    }
    html = render_html(view).decode("utf-8")
    assert "ROC: In Place" in html
    assert escape(why) in html
    coverage = next(r for r in view.coverage if r["requirement"] == "10.5.1")
    assert coverage["why"]["ML-MON-054"] == why and "ML-MON-057" in coverage["supporting"]
