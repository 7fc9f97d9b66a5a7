"""Helpers for the evidence store tests: realistic small documents and snapshot writers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from auditor.evidence import EvidenceStore
from auditor.models import CollectionError, EvidenceDoc, SnapshotManifest

CATALOG_SHA = "c" * 64
SCOPE: Mapping[str, Any] = {"accounts": ["111111111111"], "regions": ["eu-west-1"]}


def bucket(i: int, version: int = 0, account: str = "111111111111") -> EvidenceDoc:
    name = f"ml-data-{i:05d}"
    return EvidenceDoc(
        provider="aws",
        account=account,
        region="eu-west-1",
        resource_type="AWS::S3::Bucket",
        resource_id=f"arn:aws:s3:::{name}",
        name=name,
        data={
            "Name": name,
            "Region": "eu-west-1",
            "CreationDate": "2026-01-05T10:00:00Z",
            "Tags": [{"Key": "team", "Value": "ml"}, {"Key": "rev", "Value": str(version)}],
            "Encryption": {
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]
            },
            "Versioning": {"Status": "Enabled"},
        },
    )


def endpoint(i: int, version: int = 0) -> EvidenceDoc:
    name = f"ep-{i}"
    return EvidenceDoc(
        provider="aws",
        account="111111111111",
        region="eu-west-1",
        resource_type="AWS::SageMaker::Endpoint",
        resource_id=f"arn:aws:sagemaker:eu-west-1:111111111111:endpoint/{name}",
        name=name,
        data={"EndpointName": name, "EndpointStatus": "InService", "Version": version},
    )


def gcp_bucket(i: int) -> EvidenceDoc:
    return EvidenceDoc(
        provider="gcp",
        account="acme-ml",
        region="europe-west4",
        resource_type="storage.googleapis.com/Bucket",
        resource_id=f"//storage.googleapis.com/acme-{i}",
        name=f"acme-{i}",
        data={"name": f"acme-{i}", "location": "EUROPE-WEST4"},
    )


def denied() -> CollectionError:
    return CollectionError(
        provider="aws",
        account="111111111111",
        region="eu-west-1",
        service="sagemaker",
        operation="ListMonitoringSchedules",
        error_code="NotImplemented",
        message="not implemented by the endpoint",
        resource_type="AWS::SageMaker::Endpoint",
        resource_id="arn:aws:sagemaker:eu-west-1:111111111111:endpoint/ep-0",
        field="MonitoringSchedules",
    )


def write(
    store: EvidenceStore,
    documents: Iterable[EvidenceDoc],
    *,
    provider: str = "aws",
    scope: Mapping[str, Any] = SCOPE,
    taken_at: datetime | None = None,
    errors: Iterable[CollectionError] = (),
    stats: Mapping[str, Any] | None = None,
) -> SnapshotManifest:
    with store.begin_snapshot(provider, scope, CATALOG_SHA, taken_at=taken_at) as writer:
        for doc in documents:
            writer.add(doc)
        for error in errors:
            writer.add_error(error)
        writer.set_stats(stats or {"calls": 3})
    return writer.manifest


def object_files(root: Path) -> set[str]:
    return {p.name for p in (root / "objects").rglob("*.json.gz")}
