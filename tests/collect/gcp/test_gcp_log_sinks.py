"""`effectiveLogSinks` on Project documents: own sinks plus ancestors' sinks with includeChildren,
live and import alike, absent (with a CollectionError) whenever the sinks are not known, and the
ML-MON-057 verdicts it gives."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from fake_asset_service import FakeAssetService

from auditor.catalog import load_catalog
from auditor.collect.gcp.assets import LOG_SINK_TYPE, AssetRecord, sink_owner
from auditor.collect.gcp.export import GcpExportCollector
from auditor.collect.gcp.live import GcpAssetCollector
from auditor.models import EvidenceDoc
from auditor.models import MemorySink as ListSink
from auditor.rules import holds

CRM = "//cloudresourcemanager.googleapis.com/"
LG = "logging.googleapis.com"
ORG = "organizations/900000000001"
FOLDER = "folders/910000000002"
STAMP = "2026-11-02T08:15:31.482913Z"
AUDIT_FILTER = 'logName:"cloudaudit.googleapis.com"'
REQUIRED_FILTER = 'LOG_ID("cloudaudit.googleapis.com/activity")'
# project ID -> (number, ancestors above it)
PROJECTS = {
    "p-own-sink": ("1000000001", [FOLDER, ORG]),
    "p-folder-only": ("1000000002", [FOLDER, ORG]),
    "p-disabled-sink": ("1000000003", [ORG]),
}


def _doc_id(project: str) -> str:
    return f"{CRM}projects/{PROJECTS[project][0]}"


def _container(short: str, asset_type: str, data: dict[str, Any], ancestors: list[str]) -> list:
    resource = {
        "name": CRM + short,
        "asset_type": f"cloudresourcemanager.googleapis.com/{asset_type}",
        "resource": {
            "version": "v1" if asset_type != "Folder" else "v2",
            "discovery_document_uri": "https://cloudresourcemanager.googleapis.com/$discovery/rest",
            "discovery_name": asset_type,
            "data": data,
            **({"parent": CRM + ancestors[1]} if len(ancestors) > 1 else {}),
        },
        "ancestors": ancestors,
        "update_time": STAMP,
    }
    policy = {
        "name": CRM + short,
        "asset_type": resource["asset_type"],
        "iam_policy": {
            "version": 1,
            "etag": "BwYXk3tq5Ng=",
            "bindings": [{"role": "roles/owner", "members": ["group:admins@example.com"]}],
        },
        "ancestors": ancestors,
        "update_time": STAMP,
    }
    return [resource, policy]


def _sink(owner: str, ancestors: list[str], name: str, **fields: Any) -> dict[str, Any]:
    kind, number = owner.split("/")
    data = {
        "name": name,
        "destination": fields.pop(
            "destination", "logging.googleapis.com/projects/log-hub/locations/eu/buckets/audit"
        ),
        "writerIdentity": f"serviceAccount:{kind[0]}{number}-1@gcp-sa-logging.iam.gserviceaccount.com",
        "createTime": "2025-01-01T00:00:00Z",
        **fields,
    }
    return {
        "name": f"//{LG}/{owner}/sinks/{name}",
        "asset_type": LOG_SINK_TYPE,
        "resource": {
            "version": "v2",
            "discovery_document_uri": "https://logging.googleapis.com/$discovery/rest?version=v2",
            "discovery_name": "LogSink",
            "data": data,
            "parent": CRM + owner,
            "location": "global",
        },
        "ancestors": ancestors,
        "update_time": STAMP,
    }


def estate(*, org_sink: bool, sinks: bool = True) -> list[dict[str, Any]]:
    """An organisation, a folder and three projects, with (`sinks`) their LogSinks:
    - the organisation: `org-audit` (includeChildren, audit filter) when `org_sink`, and always
      `org-local` (audit filter, includeChildren false: routes only the organisation's own logs);
    - the folder: `folder-local` (no filter, includeChildren false: not inherited);
    - p-own-sink: its own enabled `own-audit` (no filter), plus _Required and _Default;
    - p-folder-only: only _Required and _Default;
    - p-disabled-sink: its own `audit-to-gcs`, disabled, plus _Required and _Default.
    """
    records = _container(ORG, "Organization", {"name": ORG, "displayName": "example.com"}, [ORG])
    records += _container(
        FOLDER,
        "Folder",
        {"name": FOLDER, "parent": ORG, "displayName": "ml", "lifecycleState": "ACTIVE"},
        [FOLDER, ORG],
    )
    for project, (number, above) in PROJECTS.items():
        chain = [f"projects/{number}", *above]
        parent = {"type": above[0].split("/")[0][:-1], "id": above[0].split("/")[1]}
        data = {
            "projectNumber": number,
            "projectId": project,
            "lifecycleState": "ACTIVE",
            "name": project,
            "parent": parent,
        }
        records += _container(chain[0], "Project", data, chain)
    if not sinks:
        return records
    if org_sink:
        records.append(_sink(ORG, [ORG], "org-audit", filter=AUDIT_FILTER, includeChildren=True))
    records.append(_sink(ORG, [ORG], "org-local", filter=AUDIT_FILTER))
    records.append(_sink(FOLDER, [FOLDER, ORG], "folder-local"))
    for project, (number, above) in PROJECTS.items():
        owner = f"projects/{number}"
        chain = [owner, *above]
        bucket = f"logging.googleapis.com/projects/{project}/locations/global/buckets"
        records.append(
            _sink(
                owner, chain, "_Required", destination=f"{bucket}/_Required", filter=REQUIRED_FILTER
            )
        )
        records.append(
            _sink(
                owner,
                chain,
                "_Default",
                destination=f"{bucket}/_Default",
                filter="NOT " + REQUIRED_FILTER,
            )
        )
    own = ["projects/1000000001", FOLDER, ORG]
    records.append(_sink(own[0], own, "own-audit", destination="storage.googleapis.com/p-own-logs"))
    dis = ["projects/1000000003", ORG]
    records.append(
        _sink(
            dis[0],
            dis,
            "audit-to-gcs",
            filter=AUDIT_FILTER,
            disabled=True,
            destination="storage.googleapis.com/p-disabled-logs",
        )
    )
    return records


def write(tmp_path: Path, records: list[dict[str, Any]], name: str = "export.ndjson") -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records))
    return path


def imported(path: Path) -> ListSink:
    sink = ListSink()
    GcpExportCollector(path, salt=b"s").collect(sink)
    return sink


@cache
def _control() -> Any:
    return {c.id: c for c in load_catalog().controls}["ML-MON-057"]


def verdict(doc: EvidenceDoc) -> str:
    control = _control()
    assert doc.resource_type in control.resource_types
    return "PASS" if holds(control.rule, doc.data) else "FAIL"


def sinks_of(doc: EvidenceDoc) -> list[tuple[str, str]]:
    return [(s["source"], s["name"]) for s in doc.data["effectiveLogSinks"]]


# ------------------------------------------------------------------ import


def test_own_sink_counts_and_folder_sink_without_include_children_is_not_inherited(
    tmp_path: Path,
) -> None:
    sink = imported(write(tmp_path, estate(org_sink=False)))
    assert sink.errors == []
    doc = sink.by_id()[_doc_id("p-own-sink")]
    assert sinks_of(doc) == [
        ("projects/1000000001", "_Required"),
        ("projects/1000000001", "_Default"),
        ("projects/1000000001", "own-audit"),
    ]
    assert doc.data["effectiveLogSinks"][2] == {
        "name": "own-audit",
        "destination": "storage.googleapis.com/p-own-logs",
        "filter": "",  # Cloud Asset omits an empty filter: every log entry
        "disabled": False,  # omitted when false
        "includeChildren": False,
        "source": "projects/1000000001",
    }
    assert verdict(doc) == "PASS"
    # the folder's and the organisation's includeChildren=false sinks route only their own logs
    folder_only = sink.by_id()[_doc_id("p-folder-only")]
    assert sinks_of(folder_only) == [
        ("projects/1000000002", "_Required"),
        ("projects/1000000002", "_Default"),
    ]
    assert verdict(folder_only) == "FAIL"  # _Required/_Default keep logs in the project only


def test_org_sink_with_include_children_is_inherited_by_every_project(tmp_path: Path) -> None:
    sink = imported(write(tmp_path, estate(org_sink=True)))
    assert sink.errors == []
    for project in PROJECTS:
        doc = sink.by_id()[_doc_id(project)]
        inherited = [s for s in doc.data["effectiveLogSinks"] if s["source"] == ORG]
        assert inherited == [
            {
                "name": "org-audit",
                "destination": "logging.googleapis.com/projects/log-hub/locations/eu/buckets/audit",
                "filter": AUDIT_FILTER,
                "disabled": False,
                "includeChildren": True,
                "source": ORG,
            }
        ]
        assert sinks_of(doc)[-1] == (ORG, "org-audit")  # own first, then ancestors
        assert verdict(doc) == "PASS", project
    # only projects get the key
    assert all(
        "effectiveLogSinks" not in d.data
        for d in sink.docs
        if d.resource_type != "cloudresourcemanager.googleapis.com/Project"
    )


def test_disabled_sink_does_not_export(tmp_path: Path) -> None:
    sink = imported(write(tmp_path, estate(org_sink=False)))
    doc = sink.by_id()[_doc_id("p-disabled-sink")]
    own = [s for s in doc.data["effectiveLogSinks"] if s["name"] == "audit-to-gcs"]
    assert own and own[0]["disabled"] is True
    assert verdict(doc) == "FAIL"
    control = _control()
    from auditor.rules import render_reason

    reason = render_reason(control.fail_reason, doc.data)
    assert "projects/1000000003/sinks/audit-to-gcs (disabled=true" in reason
    assert "p-disabled-sink" in reason


def test_projects_with_only_built_in_sinks_fail(tmp_path: Path) -> None:
    """The gap ML-MON-057 closes: no audit export anywhere, only _Required and _Default."""
    sink = imported(write(tmp_path, estate(org_sink=False)))
    doc = sink.by_id()[_doc_id("p-folder-only")]
    assert {s["name"] for s in doc.data["effectiveLogSinks"]} >= {"_Required", "_Default"}
    assert verdict(doc) == "FAIL"


def test_an_export_without_any_log_sink_record_is_an_error_not_a_fail(tmp_path: Path) -> None:
    """Cloud Asset always exports the built-in sinks: none at all means the type was left out."""
    sink = imported(write(tmp_path, estate(org_sink=False, sinks=False)))
    for project in PROJECTS:
        doc = sink.by_id()[_doc_id(project)]
        assert "effectiveLogSinks" not in doc.data
        (error,) = [e for e in sink.errors if e.resource_id == doc.resource_id]
        assert error.field == "effectiveLogSinks" and error.error_code == "LogSinksMissing"


def test_filters_that_do_not_select_audit_logs_do_not_count() -> None:
    base = {"destination": "x", "disabled": False, "includeChildren": True, "source": ORG}

    def judged(filter_: str) -> bool:
        data = {"effectiveLogSinks": [{**base, "name": "s", "filter": filter_}]}
        return holds(_control().rule, data)

    assert judged("")
    assert judged(AUDIT_FILTER)
    assert judged('LOG_ID("cloudaudit.googleapis.com/data_access")')
    assert not judged('resource.type="gce_instance"')
    assert not judged('NOT logName:"cloudaudit.googleapis.com"')


def test_scoped_export_without_the_ancestors_gives_errors_not_a_verdict(tmp_path: Path) -> None:
    """A project-level export has no organisation record, so its sinks are unknown."""
    records = [
        r
        for r in estate(org_sink=True)
        if not r["name"].startswith((CRM + ORG, CRM + FOLDER, f"//{LG}/{ORG}", f"//{LG}/{FOLDER}"))
    ]
    sink = imported(write(tmp_path, records))
    doc = sink.by_id()[_doc_id("p-own-sink")]
    assert "effectiveLogSinks" not in doc.data
    errors = [e for e in sink.errors if e.resource_id == doc.resource_id]
    sink_errors = [e for e in errors if e.field == "effectiveLogSinks"]
    assert len(sink_errors) == 1 and sink_errors[0].error_code == "AncestorSinksMissing"
    assert FOLDER in sink_errors[0].message and ORG in sink_errors[0].message
    assert sink_errors[0].resource_type == "cloudresourcemanager.googleapis.com/Project"


def test_sink_owner_from_the_asset_name() -> None:
    def owner(name: str, ancestors: tuple[str, ...] = ()) -> str | None:
        return sink_owner(AssetRecord(name, LOG_SINK_TYPE, {"data": {}}, None, ancestors, None))

    assert owner(f"//{LG}/projects/123/sinks/audit-to-bq") == "projects/123"
    assert owner(f"//{LG}/organizations/678/sinks/org-audit", ("organizations/678",)) == (
        "organizations/678"
    )
    assert owner(f"//{LG}/folders/45/sinks/f") == "folders/45"
    assert owner(f"//{LG}/projects/my-proj/sinks/s", ("projects/123", ORG)) == "projects/123"
    assert owner(f"//{LG}/billingAccounts/0A-1B/sinks/s") is None


# ------------------------------------------------------------------ live


@pytest.fixture(scope="module")
def service() -> FakeAssetService:
    return FakeAssetService.from_records(estate(org_sink=True))


@pytest.fixture(autouse=True)
def _reset(service: FakeAssetService) -> Iterator[None]:
    yield
    service.deny_types.clear()
    service.deny_parents.clear()
    service.calls.clear()


def collect(endpoint: str, scope: str = ORG) -> ListSink:
    sink = ListSink()
    GcpAssetCollector(scope, endpoint=endpoint, salt=b"s", sleep=lambda _s: None).collect(sink)
    return sink


def test_live_gives_the_same_documents_as_the_import(endpoint: str, tmp_path: Path) -> None:
    live = collect(endpoint)
    offline = imported(write(tmp_path, estate(org_sink=True)))
    assert live.errors == [] == offline.errors
    assert sorted(d.sha256 for d in live.docs) == sorted(d.sha256 for d in offline.docs)
    assert verdict(live.by_id()[_doc_id("p-folder-only")]) == "PASS"


def test_live_log_sink_listing_denied_makes_the_key_absent_with_an_error(
    endpoint: str, service: FakeAssetService
) -> None:
    service.deny_types.add(LOG_SINK_TYPE)
    sink = collect(endpoint)
    projects = [d for d in sink.docs if d.resource_type.endswith("/Project")]
    assert len(projects) == 3
    for doc in projects:
        assert "effectiveLogSinks" not in doc.data
        assert "effectiveAuditConfigs" in doc.data  # the other derived keys are unaffected
        errors = [e for e in sink.errors if e.resource_id == doc.resource_id]
        assert [(e.field, e.error_code, e.resource_type) for e in errors] == [
            ("effectiveLogSinks", "LogSinksMissing", "cloudresourcemanager.googleapis.com/Project")
        ]
    type_errors = [e for e in sink.errors if e.resource_id is None]
    assert [(e.resource_type, e.error_code, e.field) for e in type_errors] == [
        (LOG_SINK_TYPE, "PERMISSION_DENIED", None)
    ]


def test_live_project_scope_fetches_the_ancestors_sinks(
    endpoint: str, service: FakeAssetService
) -> None:
    sink = collect(endpoint, scope="projects/p-folder-only")
    assert sink.errors == []
    doc = sink.by_id()[_doc_id("p-folder-only")]
    assert sinks_of(doc) == [
        ("projects/1000000002", "_Required"),
        ("projects/1000000002", "_Default"),
        (ORG, "org-audit"),
    ]
    assert verdict(doc) == "PASS"
    sink_calls = {c[0] for c in service.calls if c[1] == (LOG_SINK_TYPE,)}
    assert sink_calls == {FOLDER, ORG}
    # the ancestors' sinks are evidence for the project only, not documents of the scope
    assert not [d for d in sink.docs if d.resource_id.startswith(f"//{LG}/{ORG}")]


def test_live_unreadable_ancestor_sinks_give_an_error(
    endpoint: str, service: FakeAssetService
) -> None:
    service.deny_parents.add(ORG)
    sink = collect(endpoint, scope="projects/p-folder-only")
    doc = sink.by_id()[_doc_id("p-folder-only")]
    assert "effectiveLogSinks" not in doc.data
    error = next(e for e in sink.errors if e.field == "effectiveLogSinks")
    assert error.resource_id == doc.resource_id and error.error_code == "AncestorSinksMissing"
    assert f"{ORG}: PERMISSION_DENIED" in error.message
    assert FOLDER not in error.message  # the folder's sinks were listed
