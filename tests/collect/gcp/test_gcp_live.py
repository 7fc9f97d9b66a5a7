"""Live collection: the real AssetServiceClient against a local gRPC AssetService."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import pytest

from auditor.collect.gcp.assets import HIERARCHY_TYPES, resource_types
from auditor.collect.gcp.export import GcpExportCollector
from auditor.collect.gcp.live import GcpAssetCollector, make_client
from auditor.collect.gcp.permissions import gcp_permissions
from auditor.errors import UserError
from auditor.models import MemorySink as ListSink
from devtools.asset_service import FakeAssetService, Fault

EXPORT = Path(__file__).parents[2] / "fixtures" / "gcp" / "assets_export.ndjson"
ORG = "organizations/678901234567"
PROD = "//cloudresourcemanager.googleapis.com/projects/111111111111"


@pytest.fixture(scope="module")
def asset_records() -> list[dict]:
    return [json.loads(line) for line in EXPORT.read_text().splitlines()]


def collect(
    endpoint: str, scope: str = ORG, **options: object
) -> tuple[ListSink, dict, list[float]]:
    sleeps: list[float] = []
    collector = GcpAssetCollector(
        scope, endpoint=endpoint, salt=b"s", sleep=sleeps.append, **options
    )  # type: ignore[arg-type]
    sink = ListSink()
    return sink, collector.collect(sink), sleeps


def test_live_documents_equal_the_import_of_the_same_assets(asset_endpoint: str) -> None:
    live, stats, _ = collect(asset_endpoint)
    offline = ListSink()
    GcpExportCollector(EXPORT, salt=b"s").collect(offline)
    assert sorted(d.sha256 for d in live.docs) == sorted(d.sha256 for d in offline.docs)
    assert {d.resource_type for d in live.docs} == resource_types()
    assert live.errors == [] and stats["calls"] == stats["pages"] == 4


def test_pagination_over_several_pages(
    asset_endpoint: str, asset_service: FakeAssetService
) -> None:
    sink, stats, _ = collect(asset_endpoint, page_size=3)
    assert stats["pages"] >= 10 and stats["assets"] == len(sink.docs) == 28
    tokens = [c[3] for c in asset_service.calls if c[2] == "RESOURCE" and len(c[1]) > 3]
    assert tokens[:4] == ["", "3", "6", "9"]
    assert len({d.resource_id for d in sink.docs}) == len(sink.docs)


def test_resource_exhausted_then_success(
    asset_endpoint: str, asset_service: FakeAssetService
) -> None:
    asset_service.faults.append(
        Fault(grpc.StatusCode.RESOURCE_EXHAUSTED, times=2, message="Quota exceeded")
    )
    asset_service.faults.append(
        Fault(
            grpc.StatusCode.UNAVAILABLE,
            times=1,
            match=lambda r: r.content_type == 2 and len(r.asset_types) > 3,
        )
    )
    sink, stats, _ = collect(asset_endpoint, backoff_initial=0.05, backoff_max=0.1)
    assert stats["retries"] == 3 and stats["calls"] == 7 and sink.errors == []
    assert len(sink.docs) == 28


def test_retries_exhausted_is_an_error_not_a_gap(
    asset_endpoint: str, asset_service: FakeAssetService
) -> None:
    asset_service.faults.append(
        Fault(
            grpc.StatusCode.UNAVAILABLE,
            times=100,
            match=lambda r: (
                "storage.googleapis.com/Bucket" in r.asset_types and r.content_type == 1
            ),
        )
    )
    sink, stats, _ = collect(asset_endpoint, max_attempts=3, backoff_initial=0.01)
    type_errors = [e for e in sink.errors if e.field is None]
    failed = {e.resource_type for e in type_errors}
    assert all(e.error_code == "UNAVAILABLE" for e in type_errors)
    # the grouped RESOURCE listing of every non-hierarchy type failed: all of them are errors,
    # none has documents (never a silent empty type); the hierarchy was still collected
    assert failed == resource_types() - HIERARCHY_TYPES
    assert {d.resource_type for d in sink.docs} == HIERARCHY_TYPES
    # the LogSinks among them: every project's effectiveLogSinks is unknown, not empty
    projects = [d for d in sink.docs if d.resource_type.endswith("/Project")]
    assert projects and all("effectiveLogSinks" not in d.data for d in projects)
    assert sorted((e.resource_id, e.field) for e in sink.errors if e.field) == sorted(
        (d.resource_id, "effectiveLogSinks") for d in projects
    )
    assert stats["retries"] == 2 and stats["calls"] == stats["pages"] + 3  # 3 attempts, no page


def test_the_retry_deadline_ends_retries_as_an_error(
    asset_endpoint: str, asset_service: FakeAssetService
) -> None:
    asset_service.faults.append(
        Fault(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            times=100,
            match=lambda r: "storage.googleapis.com/Bucket" in r.asset_types,
        )
    )
    sink, stats, _ = collect(
        asset_endpoint, max_attempts=100, backoff_initial=0.2, backoff_max=0.2, retry_deadline=0.3
    )
    errors = [e for e in sink.errors if e.resource_type == "storage.googleapis.com/Bucket"]
    assert errors and {e.error_code for e in errors} == {"RESOURCE_EXHAUSTED"}
    assert all("retry deadline of 0.3 s" in e.message for e in errors)
    assert 0 < stats["retries"] < 10  # stopped by the deadline, not by the attempts


def test_permission_denied_on_one_asset_type(
    asset_endpoint: str, asset_service: FakeAssetService
) -> None:
    asset_service.deny_types.add("storage.googleapis.com/Bucket")
    sink, _, _ = collect(asset_endpoint)
    assert not [d for d in sink.docs if d.resource_type == "storage.googleapis.com/Bucket"]
    errors = [(e.resource_type, e.error_code, e.field) for e in sink.errors]
    assert ("storage.googleapis.com/Bucket", "PERMISSION_DENIED", None) in errors
    assert ("storage.googleapis.com/Bucket", "PERMISSION_DENIED", "iamPolicy") in errors
    assert {e.resource_type for e in sink.errors} == {"storage.googleapis.com/Bucket"}
    assert len(sink.docs) == 26  # every other asset collected
    assert all(e.account == ORG and e.operation == "ListAssets" for e in sink.errors)


def test_permission_denied_for_the_scope_makes_every_type_an_error(
    asset_endpoint: str, asset_service: FakeAssetService
) -> None:
    asset_service.deny_parents.add(ORG)
    sink, _, _ = collect(asset_endpoint)
    assert sink.docs == []
    assert {e.resource_type for e in sink.errors if e.field is None} == resource_types()


def test_project_scope_inherits_from_folder_and_organization(
    asset_endpoint: str, asset_service: FakeAssetService
) -> None:
    sink, _, _ = collect(asset_endpoint, scope="projects/ml-prod-4821")
    prod = sink.by_id()[PROD].data
    assert [c["source"] for c in prod["effectiveAuditConfigs"]] == [
        "projects/111111111111",
        "folders/456789012345",
        ORG,
    ]
    assert "DATA_READ" in prod["effectiveAuditLogTypes"]["allServices"]
    assert all(d.account == "ml-prod-4821" for d in sink.docs)
    assert (
        "folders/456789012345",
        ("cloudresourcemanager.googleapis.com/Folder",),
        "IAM_POLICY",
        "",
    ) in asset_service.calls
    assert sink.errors == []


def test_unreadable_ancestor_gives_errors_for_inherited_settings(
    asset_endpoint: str, asset_service: FakeAssetService
) -> None:
    asset_service.deny_parents.add(ORG)
    sink, _, _ = collect(asset_endpoint, scope="projects/ml-prod-4821")
    prod = sink.by_id()[PROD].data
    assert "effectiveAuditConfigs" not in prod and prod["iamPolicy"]["bindings"]
    errors = [e for e in sink.errors if e.resource_id == PROD]
    assert {e.field for e in errors} == {
        "effectiveAuditConfigs",
        "effectiveAuditLogTypes",
        "effectiveIamBindings",
        "effectiveLogSinks",  # the organisation's sinks could not be listed either
    }
    assert "effectiveLogSinks" not in prod
    assert all("PERMISSION_DENIED" in e.message and ORG in e.message for e in errors)


def test_endpoint_from_environment_and_scope_validation(
    asset_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUDITOR_GCP_ASSET_ENDPOINT", asset_endpoint)
    sink = ListSink()
    stats = GcpAssetCollector("folders/456789012345", salt=b"s").collect(sink)
    assert stats["assets"] > 0 and {d.account for d in sink.docs} == {
        "ml-prod-4821",
        "folders/456789012345",
    }
    assert make_client() is not None
    with pytest.raises(UserError):
        GcpAssetCollector("buckets/x")


def test_permissions_cover_every_content_type_and_scope() -> None:
    perms = gcp_permissions()
    assert set(perms["scopes"]) == {"projects", "folders", "organizations"}
    for scope in perms["scopes"].values():
        assert "roles/cloudasset.viewer" in scope["roles"]
        assert {"cloudasset.assets.listResource", "cloudasset.assets.listIamPolicy"} <= set(
            scope["permissions"]
        )
    assert perms["impersonation"]["roles"] == ["roles/iam.serviceAccountTokenCreator"]
    assert {a["asset_type"] for a in perms["asset_types"]} == resource_types()
