"""Evaluation in partitions on the executor seam: the same findings wherever the documents are
judged (in process, one worker, a thread pool, a LocalCluster of two processes)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from scope_estate import aws_estate, gcp_estate

from auditor import pipeline
from auditor.catalog import load_catalog
from auditor.errors import RunError
from auditor.evaluate import VerdictCache, findings_document, judge_partition
from auditor.evaluate.verdicts import ControlPlan
from auditor.executors import parse_executor
from auditor.models import Catalog, EvidenceDoc, ScopeDefinition, Snapshot, Status
from devtools.factories import T0, error, snapshot

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "controls"
PARAMS = {"approved_regions": ["eu-west-1", "europe-west4"]}
ON = date(2026, 10, 20)
SCOPE = ScopeDefinition.from_dict(
    {
        "unclassified": "out_of_scope",
        "hipaa": {"include": [{"tag": {"key": "data-class", "values": ["phi"]}}]},
        "gdpr": {"include": [{"accounts": ["123456789012"]}, {"projects": ["acme-phi"]}]},
    }
)


def _fixture_docs(provider: str, copies: int) -> list[EvidenceDoc]:
    """Every control's pass and fail fixture of one provider, cloned under distinct ids."""
    docs = []
    for path in sorted(FIXTURES.glob("*/*.json")):
        raw = json.loads(path.read_text(encoding="utf-8"))
        resource_type = raw["resource_type"]
        if not resource_type.startswith("AWS::") if provider == "aws" else "::" in resource_type:
            continue
        for n in range(copies):
            name = f"{path.parent.name.lower()}-{path.stem}-{n}"
            if provider == "aws":
                rid = f"arn:aws:x:eu-west-1:123456789012:{resource_type}/{name}"
                doc = EvidenceDoc("aws", "123456789012", "eu-west-1", resource_type, rid, name,
                                  raw["data"])  # fmt: skip
            else:
                rid = f"//x.googleapis.com/projects/acme-phi/{name}"
                doc = EvidenceDoc("gcp", "acme-phi", "europe-west4", resource_type, rid, name,
                                  raw["data"])  # fmt: skip
            docs.append(doc)
    return docs


def _estate() -> list[Snapshot]:
    """Two weeks of both providers, with a changed document, a document-level and a scope-wide
    collection error, so every kind of verdict (cached, gap, docless, scope, N/A) occurs."""
    aws_docs = [d for d in _fixture_docs("aws", 3) if d.resource_type != "AWS::Macie::Session"]
    aws_docs += aws_estate()  # no Macie session: its control is NOT_APPLICABLE
    gcp_docs = _fixture_docs("gcp", 3) + gcp_estate()
    bucket = next(d for d in aws_docs if d.resource_type == "AWS::S3::Bucket")
    errors = (
        error(resource_type="AWS::S3::Bucket", resource_id=bucket.resource_id, field="Policy"),
        error(resource_type="AWS::S3::Bucket", resource_id="arn:aws:s3:::vanished"),
        error(resource_type="AWS::SageMaker::Endpoint", region="eu-west-1", service="sagemaker"),
    )
    changed = [*aws_docs[1:], EvidenceDoc(**{**aws_docs[0].to_dict(), "data": {}})]
    return [
        snapshot("aws-1", aws_docs, taken_at=T0),
        snapshot("gcp-1", gcp_docs, provider="gcp", taken_at=T0 + timedelta(minutes=1)),
        snapshot("aws-2", changed, errors=errors, taken_at=T0 + timedelta(days=7)),
        snapshot(
            "gcp-2", gcp_docs[::-1], provider="gcp", taken_at=T0 + timedelta(days=7, minutes=1)
        ),
    ]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(params=PARAMS)


def _findings_json(catalog: Catalog, executor: str | None, tmp_path: Path) -> str:
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text(
        "waivers:\n  - control: ML-DATA-001\n    justification: retired\n"
        "    approved_by: CISO\n    expires: 2026-12-31\n",
        encoding="utf-8",
    )
    result = pipeline.run_evaluation(
        catalog,
        _estate(),
        frameworks=(),
        period=None,
        waivers_path=waivers,
        on=ON,
        scope=SCOPE,
        executor=parse_executor(executor, 1) if executor else None,
    )
    document = findings_document(result)
    document.pop("generated_at")
    return json.dumps(document, sort_keys=True)


def test_findings_are_identical_on_every_executor(
    catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "EVALUATION_PARTITION", 7)  # many partitions, split types
    baseline = _findings_json(catalog, None, tmp_path)
    statuses = {f["status"] for f in json.loads(baseline)["findings"]}
    assert {"PASS", "FAIL", "ERROR", "WAIVED", "NOT_APPLICABLE"} <= statuses
    for executor in ("threads:1", "threads:2", "dask-local:2"):
        assert _findings_json(catalog, executor, tmp_path) == baseline, executor


def test_the_driver_only_reads_the_judged_verdicts(
    catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the partitions ran, the conductor judges nothing itself: every verdict it needs
    came from a partition (so the work really was spread)."""
    snapshots = _estate()
    cache = pipeline.judge_verdicts(
        catalog, snapshots, frameworks=(), executor=parse_executor("threads:2", 1),
        partition_size=11,
    )  # fmt: skip
    assert len(cache) > 100

    def refuse(self: ControlPlan, data: Any) -> list[Any]:
        raise AssertionError(f"{self.control.id} judged in the driver")

    monkeypatch.setattr(ControlPlan, "judge", refuse)
    result = pipeline.evaluate_stage.audit(
        catalog, snapshots, period=None, frameworks=(), on=ON, cache=cache
    )
    assert any(f.status is Status.FAIL for f in result.findings)


def test_a_partition_is_pure_and_skips_what_scope_excludes(catalog: Catalog) -> None:
    docs = _fixture_docs("aws", 1)
    everything = judge_partition(catalog, "aws", ("gdpr", "hipaa"), docs)
    assert everything == judge_partition(catalog, "aws", ("gdpr", "hipaa"), docs)
    codes = {code for judged in everything.codes.values() for code in judged}
    assert {1, 2} <= codes  # PASS and FAIL travel as one byte each
    out_of_scope = {d.resource_id: frozenset({"pci-dss-4.0.1"}) for d in docs}
    assert len(judge_partition(catalog, "aws", ("gdpr", "hipaa"), docs, in_scope=out_of_scope)) == 0
    cache = VerdictCache()
    cache.merge(everything)
    assert len(cache) == len(everything)
    # the merged entries are the ones the driver would have made itself
    own = VerdictCache()
    pipeline.evaluate_stage.evaluate_snapshot(
        catalog, snapshot("s", docs), frameworks=("gdpr", "hipaa"), on=ON, cache=own
    )
    for key, entries in own._by_control.items():
        assert {sha: e[0] for sha, e in entries.items()} == {
            sha: e[0] for sha, e in cache.for_control(key).items()
        }


class _Exploding(dict[str, Any]):
    """Evidence whose reading fails in a way no rule error covers (a bug, a lost worker)."""

    def get(self, key: str, default: Any = None) -> Any:
        raise RuntimeError("worker lost")

    __getitem__ = get


def test_a_failing_partition_is_a_run_error(catalog: Catalog) -> None:
    doc = EvidenceDoc("aws", "1", "r", "AWS::S3::Bucket", "b", "b", _Exploding(Name="b"))
    doc.__dict__["sha256"] = "0" * 64
    broken = snapshot("aws-x", [doc])
    with pytest.raises(RunError, match=r"evaluation partition 0 failed on threads:1"):
        pipeline.judge_verdicts(
            catalog, [broken], frameworks=(), executor=parse_executor("threads:1", 1)
        )
