"""The one set of model builders shared by the tests and the benchmarks: catalogs, controls,
evidence documents, collection errors, manifests and snapshots, straight from auditor.models
constructors with defaults a test overrides only where it matters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from auditor.models import (
    Catalog,
    CollectionError,
    Control,
    EvidenceDoc,
    Framework,
    Requirement,
    Severity,
    Snapshot,
    SnapshotManifest,
    Stage,
)

ACCOUNT = "123456789012"
REGION = "us-east-1"
BUCKET = "AWS::S3::Bucket"
ENDPOINT = "AWS::SageMaker::Endpoint"
GCS = "storage.googleapis.com/Bucket"

FRAMEWORK_REQUIREMENTS: dict[str, list[tuple[str, bool]]] = {
    "gdpr": [("Art. 32(1)(a)", False), ("Art. 30", True), ("Art. 44", False), ("Art. 35", True)],
    "hipaa": [("164.312(a)(2)(iv)", False), ("164.312(b)", False), ("164.308(a)(8)", False)],
    "pci-dss-4.0.1": [("3.5.1", False), ("10.2.1", False), ("12.10.1", True), ("11.3.1", False)],
}


def framework(fw: str) -> Framework:
    return Framework(
        id=fw,
        name=fw.upper(),
        version="1",
        source="https://example.org",
        requirements=tuple(
            Requirement(framework=fw, id=rid, title=f"Title of {rid}", manual=manual)
            for rid, manual in FRAMEWORK_REQUIREMENTS[fw]
        ),
    )


def control(
    control_id: str = "ML-DATA-001",
    *,
    types: Sequence[str] = (BUCKET,),
    rule: str | None = "Encryption.SSEAlgorithm == 'aws:kms'",
    applies_if: str | None = None,
    pass_reason: str = "Default encryption uses {Encryption.SSEAlgorithm}.",
    fail_reason: str = "Default encryption is {Encryption.SSEAlgorithm}; a KMS key is required.",
    maps_to: Mapping[str, Sequence[str]] | None = None,
    manual: bool = False,
    stage: Stage = Stage.DATA,
    severity: Severity = Severity.HIGH,
    digest: str = "",
    title: str | None = None,
    question: str | None = None,
) -> Control:
    mapping = (
        maps_to if maps_to is not None else {"gdpr": ["Art. 32(1)(a)"], "pci-dss-4.0.1": ["3.5.1"]}
    )
    return Control(
        id=control_id,
        title=title or f"Title of {control_id}",
        stage=stage,
        severity=severity,
        rationale="Because.",
        resource_types=tuple(types) if not manual else (),
        rule=rule if not manual else None,
        applies_if=applies_if,
        pass_reason=pass_reason,
        fail_reason=fail_reason,
        remediation="Fix it.",
        remediation_snippet="",
        references=(),
        maps_to={k: tuple(v) for k, v in mapping.items()},
        manual=manual,
        attestation_question=question,
        digest=digest,
    )


def catalog(*controls: Control) -> Catalog:
    return Catalog(
        frameworks={fw: framework(fw) for fw in FRAMEWORK_REQUIREMENTS},
        controls=tuple(controls),
        sha256="c" * 64,
    )


def doc(
    name: str,
    data: Mapping[str, Any],
    *,
    resource_type: str = BUCKET,
    account: str = ACCOUNT,
    region: str = REGION,
    provider: str = "aws",
    resource_id: str | None = None,
) -> EvidenceDoc:
    """One evidence document; the resource ID is made up from the name unless given."""
    if resource_id is not None:
        pass
    elif provider == "aws":
        resource_id = f"arn:aws:s3:::{name}" if resource_type == BUCKET else f"arn:aws:x:::{name}"
    else:
        resource_id = f"//storage.googleapis.com/{name}"
    return EvidenceDoc(provider, account, region, resource_type, resource_id, name, dict(data))


def kms_bucket(name: str) -> EvidenceDoc:
    return doc(name, {"Name": name, "Encryption": {"SSEAlgorithm": "aws:kms"}})


def sse_bucket(name: str) -> EvidenceDoc:
    return doc(name, {"Name": name, "Encryption": {"SSEAlgorithm": "AES256"}})


T0 = datetime(2026, 10, 5, 12, 0, tzinfo=UTC)


def manifest(
    snapshot_id: str = "s1",
    *,
    errors: Sequence[CollectionError] = (),
    provider: str = "aws",
    taken_at: datetime | None = None,
    took: timedelta = timedelta(minutes=5),
    scope: Mapping[str, Any] | None = None,
    catalog_sha256: str = "c" * 64,
) -> SnapshotManifest:
    """A snapshot's manifest: finished at `taken_at` (default T0) after `took`."""
    finished = taken_at or T0
    return SnapshotManifest(
        id=snapshot_id,
        provider=provider,
        scope=dict(scope) if scope is not None else {"accounts": [ACCOUNT]},
        started_at=finished - took,
        finished_at=finished,
        tool_version="test",
        catalog_sha256=catalog_sha256,
        counts={},
        stats={},
        errors=tuple(errors),
        files={},
        previous_sha256=None,
    )


def snapshot(snapshot_id: str, docs: Sequence[EvidenceDoc], **manifest_options: Any) -> Snapshot:
    """A snapshot as evaluate reads it: `manifest(snapshot_id, **manifest_options)` and `docs`."""
    return Snapshot(manifest=manifest(snapshot_id, **manifest_options), documents=tuple(docs))


def error(
    *,
    resource_type: str | None = None,
    resource_id: str | None = None,
    field: str | None = None,
    service: str = "s3",
    operation: str = "GetBucketEncryption",
    code: str = "AccessDenied",
    provider: str = "aws",
    account: str = ACCOUNT,
    region: str = REGION,
) -> CollectionError:
    return CollectionError(
        provider=provider,
        account=account,
        region=region,
        service=service,
        operation=operation,
        error_code=code,
        message="User is not authorized",
        resource_type=resource_type,
        resource_id=resource_id,
        field=field,
    )
