"""The json-based normaliser: every asset type, both spellings, agreement with the library."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from google.cloud import asset_v1

from auditor.collect.gcp import assets as gcp_assets
from auditor.collect.gcp.assets import (
    Hierarchy,
    build_document,
    integral_floats_to_int,
    parse_record,
    resource_types,
)
from auditor.collect.gcp.export import GcpExportCollector
from auditor.models import MemorySink as ListSink

FIXTURES = Path(__file__).parents[2] / "fixtures" / "gcp"
EXPORT = FIXTURES / "assets_export.ndjson"
LIST = FIXTURES / "assets_list.json"
LINES = EXPORT.read_text().splitlines()
PROD = "//cloudresourcemanager.googleapis.com/projects/111111111111"
DEV = "//cloudresourcemanager.googleapis.com/projects/222222222222"


@pytest.fixture(scope="module")
def imported() -> ListSink:
    sink = ListSink()
    GcpExportCollector(EXPORT, salt=b"s").collect(sink)
    return sink


def test_every_declared_type_has_a_fixture_and_a_document(imported: ListSink) -> None:
    produced = {d.resource_type for d in imported.docs}
    assert produced == resource_types()
    assert "cloudresourcemanager.googleapis.com/Project" in gcp_assets.resource_types()


@pytest.mark.parametrize("line_no", range(len(LINES)))
def test_normaliser_agrees_with_asset_from_json(line_no: int) -> None:
    line = LINES[line_no]
    ours = parse_record(json.loads(line))
    asset = asset_v1.Asset.from_json(line, ignore_unknown_fields=True)
    raw = asset_v1.Asset.to_dict(asset, use_integers_for_enums=False)
    if raw.get("resource"):
        raw["resource"]["data"] = integral_floats_to_int(raw["resource"]["data"])
    theirs = parse_record(raw)
    assert ours.name == theirs.name and ours.asset_type == theirs.asset_type
    assert ours.ancestors == theirs.ancestors
    assert ours.update_time == theirs.update_time
    assert ours.iam_policy == theirs.iam_policy
    assert (ours.resource or {}).get("data") == (theirs.resource or {}).get("data")
    assert ((ours.resource or {}).get("location") or None) == (
        (theirs.resource or {}).get("location") or None
    )
    hierarchy = Hierarchy()
    doc_ours = build_document(ours, hierarchy, iam_collected=True)
    doc_theirs = build_document(theirs, hierarchy, iam_collected=True)
    assert doc_ours.sha256 == doc_theirs.sha256


def test_list_format_gives_the_same_documents_as_export(imported: ListSink) -> None:
    listed = ListSink()
    stats = GcpExportCollector(LIST, salt=b"s").collect(listed)
    assert stats["format"] == "json-array"
    assert sorted(d.sha256 for d in listed.docs) == sorted(d.sha256 for d in imported.docs)


def test_envelope_fields_and_account_mapping(imported: ListSink) -> None:
    docs = imported.by_id()
    bucket = docs["//storage.googleapis.com/ml-dev-1093-scratch"]
    assert (bucket.provider, bucket.account, bucket.region, bucket.name) == (
        "gcp",
        "ml-dev-1093",
        "us",
        "ml-dev-1093-scratch",
    )
    assert bucket.data["iamConfiguration"]["publicAccessPrevention"] == "inherited"
    assert {"role": "roles/storage.objectViewer", "members": ["allUsers"]} in bucket.data[
        "iamPolicy"
    ]["bindings"]
    assert bucket.data["ancestors"] == ["projects/222222222222", "organizations/678901234567"]
    assert bucket.data["assetType"] == "storage.googleapis.com/Bucket"
    assert bucket.data["updateTime"] == "2026-11-02T08:15:31.482913Z"
    table = docs[
        "//bigquery.googleapis.com/projects/ml-prod-4821/datasets/features/tables/transactions"
    ]
    assert table.data["iamPolicy"] is None  # IAM collected, this table has none
    sink_doc = docs["//logging.googleapis.com/projects/111111111111/sinks/audit-to-bq"]
    assert sink_doc.account == "ml-prod-4821" and sink_doc.region == "global"
    assert docs[PROD].name == "ml-prod-4821" and docs[PROD].account == "ml-prod-4821"
    folder = docs["//cloudresourcemanager.googleapis.com/folders/456789012345"]
    assert (folder.account, folder.name) == ("folders/456789012345", "Regulated ML")


def test_both_workbench_shapes(imported: ListSink) -> None:
    docs = imported.by_id()
    v1 = docs[
        "//notebooks.googleapis.com/projects/ml-dev-1093/locations/us-central1-a/instances/legacy-nb"
    ]
    v2 = docs[
        "//notebooks.googleapis.com/projects/ml-prod-4821/locations/europe-west4-a/instances/wb-risk"
    ]
    assert v1.data["workbenchVersion"] == "v1" and v1.data["noPublicIp"] is False
    assert v2.data["workbenchVersion"] == "v2" and v2.data["gceSetup"]["disablePublicIp"] is True
    assert v2.data["gceSetup"]["bootDisk"]["diskEncryption"] == "CMEK"
    assert v1.region == "us-central1-a"


def test_effective_audit_config_inherited_from_folder_and_organization(imported: ListSink) -> None:
    prod = imported.by_id()[PROD].data
    sources = [(c["source"], c["service"]) for c in prod["effectiveAuditConfigs"]]
    assert sources == [
        ("projects/111111111111", "aiplatform.googleapis.com"),
        ("folders/456789012345", "storage.googleapis.com"),
        ("organizations/678901234567", "allServices"),
    ]
    assert prod["effectiveAuditLogTypes"] == {
        "aiplatform.googleapis.com": ["DATA_READ", "DATA_WRITE"],
        "allServices": ["ADMIN_READ", "DATA_READ"],
        "storage.googleapis.com": ["DATA_READ", "DATA_WRITE"],
    }
    org_cfg = prod["effectiveAuditConfigs"][2]["auditLogConfigs"][1]
    assert org_cfg["exemptedMembers"] == ["serviceAccount:etl@ml-dev-1093.iam.gserviceaccount.com"]
    roles = {(b["role"], b["source"]) for b in prod["effectiveIamBindings"]}
    assert ("roles/owner", "projects/111111111111") in roles
    assert ("roles/viewer", "folders/456789012345") in roles
    assert ("roles/resourcemanager.organizationAdmin", "organizations/678901234567") in roles
    # the project's own policy only has its own audit config
    assert [c["service"] for c in prod["iamPolicy"]["auditConfigs"]] == [
        "aiplatform.googleapis.com"
    ]
    dev = imported.by_id()[DEV].data
    assert {c["source"] for c in dev["effectiveAuditConfigs"]} == {"organizations/678901234567"}
    assert "folders/456789012345" not in {b["source"] for b in dev["effectiveIamBindings"]}
    assert not imported.errors


def test_secrets_redacted(imported: ListSink) -> None:
    docs = imported.by_id()
    job = next(d for d in docs.values() if d.resource_type.endswith("CustomJob"))
    env = job.data["jobSpec"]["workerPoolSpecs"][0]["containerSpec"]["env"]
    assert env[0]["value"].startswith("[REDACTED sha256:") and env[1]["value"] == "offline"
    assert "hunter2" not in json.dumps(job.data)
    assert job.data["_redacted"]
    model = next(d for d in docs.values() if d.resource_type.endswith("/Model"))
    assert "tok_live" not in json.dumps(model.data)
    pipeline = next(d for d in docs.values() if d.resource_type.endswith("PipelineJob"))
    assert "AIzaSy" not in json.dumps(pipeline.data)


def test_policy_spellings_normalise_identically() -> None:
    snake = {
        "bindings": [{"role": "r", "members": ["m"]}],
        "audit_configs": [
            {"service": "s", "audit_log_configs": [{"log_type": 3, "exempted_members": ["x"]}]}
        ],
    }
    camel = {
        "bindings": [{"role": "r", "members": ["m"], "condition": {}}],
        "auditConfigs": [
            {
                "service": "s",
                "auditLogConfigs": [{"logType": "DATA_READ", "exemptedMembers": ["x"]}],
            }
        ],
    }
    assert gcp_assets.normalise_policy(snake) == gcp_assets.normalise_policy(camel)
    assert gcp_assets.normalise_policy({}) == {"bindings": []}


# ---------------------------------------------------------------- derivations declared as data


def _document(asset_type: str, data: dict) -> dict:
    record = gcp_assets.AssetRecord(
        f"//x.googleapis.com/projects/p/things/{asset_type.rsplit('/', 1)[-1].lower()}",
        asset_type,
        {"data": data},
        None,
        ("projects/123",),
        None,
    )
    return dict(build_document(record, Hierarchy(), iam_collected=False).data)


@pytest.mark.parametrize("spec", gcp_assets.ASSET_TYPES, ids=lambda s: s.asset_type)
def test_each_type_derives_exactly_what_its_declaration_says(
    spec: gcp_assets.AssetTypeSpec,
) -> None:
    document = _document(spec.asset_type, {"displayName": "Shown", "projectId": "shown-id"})
    assert (gcp_assets.ENCRYPTION_FIELD in document) is (spec.encryption is not None)
    shape = spec.shape_version
    assert (shape is not None and shape.field in document) is (shape is not None)
    if spec.encryption is not None:
        assert document[gcp_assets.ENCRYPTION_FIELD] == {
            "keyManagement": "GOOGLE_DEFAULT",
            "kmsKeyName": None,
        }
    assert (spec.asset_type in gcp_assets.HIERARCHY_TYPES) is (spec.container is not None)


def test_encryption_reads_the_declared_key_paths_and_cmek_settings() -> None:
    bucket = "storage.googleapis.com/Bucket"
    notebook = gcp_assets.NOTEBOOK_INSTANCE_TYPE
    key = "projects/p/locations/eu/keyRings/r/cryptoKeys/k"
    named = _document(bucket, {"encryption": {"defaultKmsKeyName": key}})
    assert named["encryptionAtRest"] == {"keyManagement": "CUSTOMER_MANAGED", "kmsKeyName": key}
    v2 = _document(notebook, {"gceSetup": {"bootDisk": {"kmsKey": key}}})
    assert v2["encryptionAtRest"]["kmsKeyName"] == key and v2["workbenchVersion"] == "v2"
    # a v1 instance that says CMEK but names no key contradicts itself, visibly
    v1 = _document(notebook, {"diskEncryption": "CMEK"})
    assert v1["encryptionAtRest"] == {"keyManagement": "CUSTOMER_MANAGED", "kmsKeyName": None}
    assert v1["workbenchVersion"] == "v1"
    # a CMEK setting is read only where it is declared
    assert _document(bucket, {"diskEncryption": "CMEK"})["encryptionAtRest"]["keyManagement"] == (
        "GOOGLE_DEFAULT"
    )


def test_containers_are_named_and_accounted_by_their_declared_fields() -> None:
    hierarchy = Hierarchy()
    project = parse_record(
        {
            "name": "//cloudresourcemanager.googleapis.com/projects/123",
            "asset_type": gcp_assets.PROJECT_TYPE,
            "resource": {"data": {"projectId": "acme-ml", "projectNumber": "123"}},
            "ancestors": ["projects/123", "folders/45"],
        }
    )
    folder = parse_record(
        {
            "name": "//cloudresourcemanager.googleapis.com/folders/45",
            "asset_type": gcp_assets.FOLDER_TYPE,
            "resource": {"data": {"displayName": "ML"}},
            "ancestors": ["folders/45"],
        }
    )
    hierarchy.add(project)
    hierarchy.add(folder)
    bucket = parse_record(
        {
            "name": "//storage.googleapis.com/b",
            "asset_type": "storage.googleapis.com/Bucket",
            "resource": {"data": {"name": "b"}},
            "ancestors": ["projects/123", "folders/45"],
        }
    )
    assert build_document(project, hierarchy, iam_collected=False).name == "acme-ml"
    assert build_document(folder, hierarchy, iam_collected=False).name == "ML"
    assert build_document(folder, hierarchy, iam_collected=False).account == "folders/45"
    assert build_document(bucket, hierarchy, iam_collected=False).account == "acme-ml"
