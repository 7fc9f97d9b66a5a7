"""A realistic synthetic AuditResult for the report tests and the report benchmarks.

Built only with auditor.models constructors (the report stage reads nothing else): three
frameworks, AWS in two accounts and two regions plus a GCP project, every status (PASS, FAIL,
ERROR from a collection error, NOT_APPLICABLE, WAIVED, FAIL under an expired waiver, MANUAL,
ATTESTED), weekly snapshots over a quarter, operating effectiveness with deviations. Optionally
plants hostile markup in resource names, reasons, a waiver and the organisation name.
"""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from auditor.config import DEFAULT_REPORT_TITLE
from auditor.evaluate import evidence_coverage, findings_csv, findings_document
from auditor.models import (
    Attestation,
    AuditResult,
    Catalog,
    CollectionError,
    Control,
    ControlEffectiveness,
    Finding,
    Framework,
    Period,
    Requirement,
    RequirementRollup,
    ResolvedDeviation,
    RollupStatus,
    Severity,
    SnapshotManifest,
    SnapshotSummary,
    Stage,
    Status,
    Waiver,
    WaiverRef,
    canonical_json,
    sha256_hex,
)
from auditor.report.view import ReportView, build_view

GEN_AT = datetime(2026, 12, 31, 12, 0, tzinfo=UTC)
TODAY = GEN_AT.date()
ACCOUNTS = ("111111111111", "222222222222")
REGIONS = ("us-east-1", "eu-west-1")
GCP_PROJECT = "ml-prod-project"

REQUIREMENTS = {
    "gdpr": [
        ("Art. 5(1)(f)", "Integrity and confidentiality", False),
        ("Art. 5(2)", "Accountability", False),
        ("Art. 25(2)", "Data protection by default", False),
        ("Art. 32(1)(a)", "Pseudonymisation and encryption of personal data", False),
        ("Art. 32(1)(c)", "Ability to restore availability and access", False),
        ("Art. 33", "Notification of a personal data breach", True),
        ("Art. 35", "Data protection impact assessment", True),
        ("Art. 44", "General principle for transfers", False),
    ],
    "hipaa": [
        ("164.312(a)(1)", "Access control", False),
        ("164.312(a)(2)(iv)", "Encryption and decryption", False),
        ("164.312(b)", "Audit controls", False),
        ("164.312(c)(1)", "Integrity", False),
        ("164.312(e)(1)", "Transmission security", False),
        ("164.316(b)(2)(i)", "Retention of documentation", False),
        ("164.308(a)(8)", "Evaluation", False),
    ],
    "pci-dss-4.0.1": [
        ("1.3.1", "Inbound traffic to the CDE is restricted", False),
        ("1.3.2", "Outbound traffic from the CDE is restricted", False),
        ("1.4.1", "NSCs are implemented between trusted and untrusted networks", False),
        ("3.5.1", "PAN is rendered unreadable anywhere it is stored", False),
        ("3.7.4", "Cryptographic key changes at the end of the cryptoperiod", False),
        ("6.3.3", "Security vulnerabilities are identified and addressed", False),
        ("7.2.1", "An access control model is defined", False),
        ("10.5.1", "Audit log history is retained for at least 12 months", False),
        ("11.3.1", "Internal vulnerability scans are performed", False),
        ("12.10.1", "An incident response plan exists and is ready", True),
        ("8.4.2", "MFA is implemented for all access into the CDE", False),
    ],
}

# id, stage, severity, resource type (None: manual), maps_to
CONTROL_SPECS: list[tuple[str, str, str, str | None, dict[str, list[str]]]] = [
    (
        "ML-DATA-001",
        "data",
        "high",
        "AWS::S3::Bucket",
        {"gdpr": ["Art. 32(1)(a)"], "hipaa": ["164.312(a)(2)(iv)"], "pci-dss-4.0.1": ["3.5.1"]},
    ),
    (
        "ML-DATA-002",
        "data",
        "critical",
        "AWS::S3::Bucket",
        {"gdpr": ["Art. 25(2)"], "pci-dss-4.0.1": ["1.4.1"]},
    ),
    (
        "ML-DATA-003",
        "data",
        "medium",
        "AWS::S3::Bucket",
        {"gdpr": ["Art. 32(1)(c)"], "hipaa": ["164.312(c)(1)"]},
    ),
    (
        "ML-TRAIN-001",
        "training",
        "high",
        "AWS::SageMaker::TrainingJob",
        {"pci-dss-4.0.1": ["1.3.1"], "hipaa": ["164.312(e)(1)"]},
    ),
    (
        "ML-TRAIN-002",
        "training",
        "high",
        "AWS::SageMaker::TrainingJob",
        {"gdpr": ["Art. 32(1)(a)"], "pci-dss-4.0.1": ["3.5.1"]},
    ),
    (
        "ML-TRAIN-003",
        "training",
        "medium",
        "AWS::SageMaker::NotebookInstance",
        {"pci-dss-4.0.1": ["7.2.1"], "hipaa": ["164.312(a)(1)"]},
    ),
    (
        "ML-STORE-001",
        "storage",
        "medium",
        "AWS::KMS::Key",
        {"pci-dss-4.0.1": ["3.7.4"], "hipaa": ["164.312(a)(2)(iv)"]},
    ),
    (
        "ML-STORE-002",
        "storage",
        "medium",
        "AWS::ECR::Repository",
        {"pci-dss-4.0.1": ["6.3.3", "11.3.1"]},
    ),
    (
        "ML-DEPLOY-001",
        "deployment",
        "high",
        "AWS::SageMaker::Endpoint",
        {"gdpr": ["Art. 32(1)(a)"]},
    ),
    (
        "ML-DEPLOY-002",
        "deployment",
        "medium",
        "AWS::SageMaker::Model",
        {"pci-dss-4.0.1": ["1.3.2"]},
    ),
    (
        "ML-MON-001",
        "monitoring",
        "medium",
        "AWS::SageMaker::Endpoint",
        {"gdpr": ["Art. 5(1)(f)"], "hipaa": ["164.312(b)"]},
    ),
    (
        "ML-MON-002",
        "monitoring",
        "high",
        "AWS::CloudTrail::Trail",
        {"gdpr": ["Art. 5(2)"], "hipaa": ["164.312(b)"], "pci-dss-4.0.1": ["10.5.1"]},
    ),
    (
        "ML-MON-003",
        "monitoring",
        "medium",
        "AWS::Logs::LogGroup",
        {"pci-dss-4.0.1": ["10.5.1"], "hipaa": ["164.316(b)(2)(i)"]},
    ),
    (
        "ML-MON-004",
        "monitoring",
        "low",
        "AWS::Bedrock::ModelInvocationLoggingConfiguration",
        {"gdpr": ["Art. 5(2)"]},
    ),
    (
        "ML-DATA-051",
        "data",
        "high",
        "storage.googleapis.com/Bucket",
        {"gdpr": ["Art. 32(1)(a)"], "pci-dss-4.0.1": ["3.5.1"]},
    ),
    (
        "ML-DEPLOY-051",
        "deployment",
        "medium",
        "aiplatform.googleapis.com/Endpoint",
        {"pci-dss-4.0.1": ["1.3.1"]},
    ),
    ("ML-GOV-001", "governance", "high", None, {"pci-dss-4.0.1": ["12.10.1"], "gdpr": ["Art. 33"]}),
    ("ML-GOV-002", "governance", "medium", None, {"gdpr": ["Art. 35"]}),
]

TYPE_WEIGHTS = {
    "AWS::S3::Bucket": 30,
    "AWS::SageMaker::TrainingJob": 20,
    "AWS::SageMaker::NotebookInstance": 6,
    "AWS::KMS::Key": 8,
    "AWS::ECR::Repository": 5,
    "AWS::SageMaker::Endpoint": 8,
    "AWS::SageMaker::Model": 10,
    "AWS::CloudTrail::Trail": 2,
    "AWS::Logs::LogGroup": 6,
    "storage.googleapis.com/Bucket": 3,
    "aiplatform.googleapis.com/Endpoint": 2,
}

HOSTILE_SCRIPT = "<script>alert(1)</script>"


def hostile_img(port: int) -> str:
    return f'<img src="http://127.0.0.1:{port}/x">'


@dataclass(frozen=True)
class Synthetic:
    result: AuditResult
    findings_json: bytes
    findings_csv: bytes
    findings_doc: dict[str, object]


def _control(spec: tuple[str, str, str, str | None, dict[str, list[str]]], hostile: str) -> Control:
    cid, stage, severity, rtype, maps = spec
    manual = rtype is None
    return Control(
        id=cid,
        title=f"{cid} synthetic control for {rtype or 'governance process'}",
        stage=Stage(stage),
        severity=Severity(severity),
        rationale=f"Why {cid} matters: configuration drift here exposes regulated data.",
        resource_types=() if manual else (rtype,),  # type: ignore[arg-type]
        rule=None if manual else "Encrypted == `true`",
        applies_if=None,
        pass_reason="Configured as required.",
        fail_reason="Not configured as required.",
        remediation=f"Fix {cid} by enabling the setting."
        + (hostile if cid == "ML-DATA-002" else ""),
        remediation_snippet="aws s3api put-bucket-encryption --bucket BUCKET"
        if cid == "ML-DATA-001"
        else "",
        references=("https://docs.aws.amazon.com/",),
        maps_to={k: tuple(v) for k, v in maps.items()},
        manual=manual,
        attestation_question="Is the plan current and tested?" if manual else None,
        source=f"controls/{stage}/synthetic.yaml:1",
        digest=sha256_hex(cid.encode()),
    )


def _catalog(hostile: str) -> Catalog:
    frameworks = {
        fw: Framework(
            id=fw,
            name={
                "gdpr": "General Data Protection Regulation",
                "hipaa": "HIPAA Security Rule",
                "pci-dss-4.0.1": "PCI DSS",
            }[fw],
            version={"gdpr": "2016/679", "hipaa": "45 CFR 164", "pci-dss-4.0.1": "4.0.1"}[fw],
            source="https://example.org/" + fw,
            requirements=tuple(
                Requirement(fw, rid, title, manual, "Answer this." if manual else None)
                for rid, title, manual in reqs
            ),
        )
        for fw, reqs in REQUIREMENTS.items()
    }
    controls = tuple(_control(spec, hostile) for spec in CONTROL_SPECS)
    return Catalog(
        frameworks=frameworks, controls=controls, sha256=sha256_hex(b"synthetic-catalog")
    )


def _resource(rtype: str, index: int, account: str, region: str) -> tuple[str, str]:
    if rtype == "AWS::S3::Bucket":
        name = f"ml-data-{index}" if index % 7 else f"legacy-{index}"
        return f"arn:aws:s3:::{name}", name
    if rtype.startswith("AWS::"):
        service = rtype.split("::")[1].lower()
        kind = rtype.split("::")[2].lower()
        name = f"{kind}-{index}"
        return f"arn:aws:{service}:{region}:{account}:{kind}/{name}", name
    name = f"{rtype.split('/')[-1].lower()}-{index}"
    return f"//{rtype.split('/')[0]}/projects/{GCP_PROJECT}/{name}", name


def _snapshots() -> tuple[list[SnapshotManifest], list[SnapshotManifest]]:
    aws: list[SnapshotManifest] = []
    gcp: list[SnapshotManifest] = []
    previous = None
    for week in range(13):
        taken = datetime(2026, 10, 2, 3, 0, tzinfo=UTC) + timedelta(days=7 * week)
        for provider, bucket in (("aws", aws), ("gcp", gcp)):
            if provider == "gcp" and week % 3:
                continue
            errors: tuple[CollectionError, ...] = ()
            if provider == "aws":
                errors = (
                    CollectionError(
                        provider="aws",
                        account=ACCOUNTS[1],
                        region="eu-west-1",
                        service="sagemaker",
                        operation="ListMonitoringSchedules",
                        error_code="NotImplemented",
                        message="The operation is not implemented by this endpoint",
                        resource_type="AWS::SageMaker::Endpoint",
                    ),
                )
            manifest = SnapshotManifest(
                id=f"{provider}-2026{taken:%m%d}T0300Z",
                provider=provider,
                scope={"accounts": list(ACCOUNTS), "regions": list(REGIONS)}
                if provider == "aws"
                else {"scope": f"projects/{GCP_PROJECT}"},
                started_at=taken - timedelta(minutes=4),
                finished_at=taken,
                tool_version="0.1.0",
                catalog_sha256=sha256_hex(b"synthetic-catalog"),
                counts={"AWS::S3::Bucket": 40}
                if provider == "aws"
                else {"storage.googleapis.com/Bucket": 5},
                stats={"calls": 120},
                errors=errors,
                files={"documents.parquet": sha256_hex(taken.isoformat().encode())},
                previous_sha256=previous,
            )
            previous = sha256_hex(canonical_json(manifest.to_dict()))
            bucket.append(manifest)
    return aws, gcp


def build(
    resources: int = 300,
    failing: int | None = None,
    *,
    seed: int = 7,
    hostile_port: int | None = None,
) -> Synthetic:
    rng = random.Random(seed)
    hostile = hostile_img(hostile_port) if hostile_port else ""
    catalog = _catalog(hostile)
    aws_snaps, gcp_snaps = _snapshots()
    last = {"aws": aws_snaps[-1], "gcp": gcp_snaps[-1]}
    types = [t for t, w in TYPE_WEIGHTS.items() for _ in range(w)]
    controls_by_type: dict[str, list[Control]] = defaultdict(list)
    for control in catalog.controls:
        for rtype in control.resource_types:
            controls_by_type[rtype].append(control)

    pairs: list[tuple[Control, str, str, str, str, str, str]] = []
    for index in range(resources):
        rtype = types[index % len(types)]
        provider = "aws" if rtype.startswith("AWS::") else "gcp"
        account = ACCOUNTS[index % 2] if provider == "aws" else GCP_PROJECT
        region = REGIONS[(index // 2) % 2] if provider == "aws" else "europe-west4"
        rid, name = _resource(rtype, index, account, region)
        if hostile_port and index in (0, 1):  # two S3 buckets named with markup
            name = hostile if index == 0 else HOSTILE_SCRIPT
            rid = f"arn:aws:s3:::{name}"
        for control in controls_by_type[rtype]:
            pairs.append((control, provider, account, region, rtype, rid, name))

    error_pairs = {
        i
        for i, p in enumerate(pairs)
        if p[0].id == "ML-MON-001" and p[2] == ACCOUNTS[1] and p[3] == "eu-west-1"
    }
    candidates = [i for i in range(len(pairs)) if i not in error_pairs]
    n_fail = failing if failing is not None else max(len(pairs) // 7, 10)
    fail_set = set(rng.sample(candidates, min(n_fail, len(candidates))))
    if hostile_port:
        fail_set.update(i for i, p in enumerate(pairs) if p[5].startswith("arn:aws:s3:::<"))

    active_waiver = Waiver(
        control="ML-DATA-002",
        resources=("arn:aws:s3:::legacy-*",),
        justification="Legacy buckets retired in Q1 " + hostile,
        approved_by="CISO",
        expires=date(2027, 3, 31),
        source="waivers.yaml:2",
    )
    expired_waiver = Waiver(
        control="ML-DATA-003",
        resources=("arn:aws:s3:::legacy-*",),
        justification="Versioning waived until migration",
        approved_by="CTO",
        expires=date(2026, 12, 1),
        source="waivers.yaml:8",
    )
    findings: list[Finding] = []
    for i, (control, provider, account, region, rtype, rid, name) in enumerate(pairs):
        waiver = None
        if i in error_pairs:
            status, reason = (
                Status.ERROR,
                (
                    "sagemaker:ListMonitoringSchedules failed in "
                    f"{account}/{region}: NotImplemented; monitoring cannot be assessed"
                ),
            )
        elif i in fail_set:
            status, reason = Status.FAIL, f"{name}: setting is off; {control.title} requires it on."
            if control.id == active_waiver.control and name.startswith("legacy-"):
                status = Status.WAIVED
                waiver = WaiverRef(
                    active_waiver.justification, "CISO", active_waiver.expires, False
                )
            elif control.id == expired_waiver.control and name.startswith("legacy-"):
                waiver = WaiverRef(
                    expired_waiver.justification, "CTO", expired_waiver.expires, True
                )
        else:
            status, reason = Status.PASS, f"{name}: configured as required."
        findings.append(
            Finding(
                control_id=control.id,
                control_title=control.title,
                stage=str(control.stage),
                severity=str(control.severity),
                status=status,
                provider=provider,
                account=account,
                region=region,
                resource_type=rtype,
                resource_id=rid,
                reason=reason,
                requirements=control.maps_to,
                snapshot_id=last[provider].id,
                waiver=waiver,
                evidence_sha256=sha256_hex(rid.encode()),
            )
        )
    attestation = Attestation(
        requirement="pci-dss-4.0.1:12.10.1",
        statement="Incident response plan tested in a tabletop exercise",
        attested_by="Head of Security",
        date=date(2026, 10, 14),
        valid_until=date(2027, 10, 14),
        files=("evidence/ir-tabletop-2026.pdf",),
        file_sha256={"evidence/ir-tabletop-2026.pdf": sha256_hex(b"tabletop")},
        source="attestations.yaml:2",
    )
    for control in catalog.controls:
        if not control.manual:
            continue
        attested = control.id == "ML-GOV-001"
        findings.append(
            Finding(
                control_id=control.id,
                control_title=control.title,
                stage="governance",
                severity=str(control.severity),
                status=Status.ATTESTED if attested else Status.MANUAL,
                provider="aws",
                account=ACCOUNTS[0],
                region="global",
                resource_type="manual",
                resource_id=f"manual:{control.id}",
                reason="Attested by Head of Security on 2026-10-14"
                if attested
                else "No attestation on file; an attestation must answer the question.",
                requirements=control.maps_to,
                snapshot_id=last["aws"].id,
            )
        )
    rollups = _rollups(catalog, findings, attestation)
    effectiveness = _effectiveness(catalog, findings, aws_snaps, rng)
    gcp_controls = {
        c.id for c in catalog.controls if any(not t.startswith("AWS::") for t in c.resource_types)
    }
    effectiveness = tuple(  # GCP's five snapshots in 13 weeks are too few to conclude on
        replace(e, sufficient_evidence=False) if e.control_id in gcp_controls else e
        for e in effectiveness
    )
    trend = tuple(
        SnapshotSummary(
            snapshot_id=m.id,
            provider=m.provider,
            taken_at=m.finished_at,
            counts={"PASS": 200 + 5 * k, "FAIL": max(60 - 3 * k, 5), "ERROR": 4, "WAIVED": 3},
        )
        for k, m in enumerate(sorted(aws_snaps + gcp_snaps, key=lambda s: s.finished_at))
    )
    result = AuditResult(
        generated_at=GEN_AT,
        period=Period(
            "2026-Q4",
            datetime(2026, 10, 1, tzinfo=UTC),
            datetime(2027, 1, 1, tzinfo=UTC),
        ),
        catalog=catalog,
        frameworks=("gdpr", "hipaa", "pci-dss-4.0.1"),
        snapshots=tuple(aws_snaps + gcp_snaps),
        findings=tuple(findings),
        rollups=rollups,
        effectiveness=effectiveness,
        trend=trend,
        waivers=(active_waiver, expired_waiver),
        attestations=(attestation,),
        collection_errors=last["aws"].errors,
        metadata={
            "organisation": "Example Health & Payments Ltd " + HOSTILE_SCRIPT
            if hostile_port
            else "Example Health & Payments Ltd",
            "scope": "Production ML platform (SageMaker, Vertex AI)",
            "auditor": "A. Auditor, Example Assurance LLP",
            "classification": "Confidential",
            "title": DEFAULT_REPORT_TITLE,
            "management_assertion": {
                "name": "Dana Example",
                "title": "Chief Information Security Officer",
                "wording": "Management asserts that every control operated effectively "
                "throughout the period.",
            },
        },
        evidence_coverage=(
            evidence_coverage(
                "aws",
                [m.taken_at for m in aws_snaps],
                Period(
                    "2026-Q4", datetime(2026, 10, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
                ),
                on=date(2026, 12, 31),
            ),
            evidence_coverage(
                "gcp",
                [m.taken_at for m in gcp_snaps],
                Period(
                    "2026-Q4", datetime(2026, 10, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
                ),
                on=date(2026, 12, 31),
            ),
        ),
    )
    doc = findings_document(result)
    return Synthetic(
        result=result,
        findings_json=(json.dumps(doc, indent=1, sort_keys=True) + "\n").encode(),
        findings_csv=findings_csv(result.findings).encode(),
        findings_doc=doc,
    )


def _rollups(
    catalog: Catalog, findings: list[Finding], attestation: Attestation
) -> tuple[RequirementRollup, ...]:
    by_control: dict[str, Counter[str]] = defaultdict(Counter)
    for f in findings:
        by_control[f.control_id][str(f.status)] += 1
    rollups = []
    for fw in catalog.frameworks.values():
        for req in fw.requirements:
            ids = tuple(c.id for c in catalog.controls if req.id in c.maps_to.get(fw.id, ()))
            counts: Counter[str] = Counter()
            for cid in ids:
                counts.update(by_control[cid])
            if not ids:
                status = RollupStatus.NOT_COVERED
            elif counts["FAIL"]:
                status = RollupStatus.NON_COMPLIANT
            elif counts["ERROR"]:
                status = RollupStatus.INCONCLUSIVE
            elif counts["MANUAL"]:
                status = RollupStatus.MANUAL
            elif counts["PASS"] + counts["WAIVED"] + counts["ATTESTED"]:
                status = RollupStatus.COMPLIANT
            else:
                status = RollupStatus.NOT_COVERED
            rollups.append(
                RequirementRollup(
                    framework=fw.id,
                    requirement_id=req.id,
                    title=req.title,
                    status=status,
                    control_ids=ids,
                    counts=dict(counts),
                    attestation=attestation if req.key == attestation.requirement else None,
                )
            )
    return tuple(rollups)


def _effectiveness(
    catalog: Catalog, findings: list[Finding], snaps: list[SnapshotManifest], rng: random.Random
) -> tuple[ControlEffectiveness, ...]:
    failing: dict[str, list[str]] = defaultdict(list)
    for f in findings:
        if f.status == Status.FAIL:
            failing[f.control_id].append(f.resource_id)
    out = []
    for control in catalog.controls:
        if control.manual or control.id == "ML-MON-004":
            continue
        deviations = []
        for rid in failing[control.id][:6]:
            first = rng.randrange(0, 8)
            fixed = rng.random() < 0.5
            last_idx = rng.randrange(first, 12) if fixed else 12
            deviations.append(
                ResolvedDeviation(
                    control_id=control.id,
                    resource_id=rid,
                    first_seen=snaps[first].finished_at,
                    last_seen=snaps[last_idx].finished_at,
                    resolved_at=snaps[last_idx + 1].finished_at if fixed else None,
                    days_to_remediate=float(7 * (last_idx + 1 - first)) if fixed else None,
                    resolution="fixed" if fixed else None,
                )
            )
        held = 13 - len({d.first_seen for d in deviations})
        out.append(
            ControlEffectiveness(
                control_id=control.id,
                snapshots_evaluated=13,
                snapshots_held=max(held, 0),
                held_at_period_end=not failing[control.id],
                deviations=tuple(deviations),
            )
        )
    return tuple(out)


def evidence_documents(synthetic: Synthetic) -> dict[str, dict[str, object]]:
    """A stand-in for the stored document of every FAIL/ERROR finding, keyed by the sha256 the
    finding names; each holds the resource ID (hostile ones included) and a planted closing tag."""
    return {
        f.evidence_sha256: {
            "provider": f.provider,
            "resource_type": f.resource_type,
            "resource_id": f.resource_id,
            "data": {"Encrypted": False, "Note": "</script><script>alert(2)</script>"},
        }
        for f in synthetic.result.findings
        if f.evidence_sha256 and str(f.status) in ("FAIL", "ERROR")
    }


def view_of(result: AuditResult, **overrides: Any) -> ReportView:
    """The view model of a result as version 1 of 2026-Q4 (what the view tests read)."""
    options: dict[str, Any] = {
        "report_id": "AUD-2026-Q4-v1-00000000",
        "period_label": "2026-Q4",
        "version": 1,
        "generated_at": datetime(2027, 1, 2, tzinfo=UTC),
        "tool_version": "0.1.0",
        "supersedes": None,
        "signed": False,
        "history": (),
        "snapshot_hashes": {},
    }
    return build_view(result, **(options | overrides))
