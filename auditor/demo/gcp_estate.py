"""The demo's GCP estate over a simulated quarter, as weekly `gcloud asset export` files.

The bundled `auditor/data/gcp/sample_export.ndjson` is the estate in week 1: an organisation with a
hardened production project (acme-ml-prod, europe-west4) and a neglected sandbox
(acme-ml-sandbox, us-central1). Each later week applies the changes listed in `CHANGES` on top,
so consecutive snapshots show findings being fixed, regressing and appearing. Deterministic: the
same week always gives the same bytes.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from auditor.files import write_atomic
from auditor.resources import data_dir

WEEKS = 13
QUARTER_START = datetime(2026, 10, 1, 6, 0, tzinfo=UTC)

Record = dict[str, Any]

PROD_NUMBER = "310000000011"
NOTEBOOK_TYPE = "notebooks.googleapis.com/Instance"
SCRATCH_BUCKET = "//storage.googleapis.com/acme-ml-sandbox-scratch"
ANALYST_NOTEBOOK = (
    "//notebooks.googleapis.com/projects/acme-ml-prod/locations/europe-west4-a/instances/analyst-wb"
)
SANDBOX_KEY = (
    "//cloudkms.googleapis.com/projects/acme-ml-sandbox/locations/us-central1/keyRings/sandbox/"
    "cryptoKeys/sandbox-data"
)
FRAUD_ENDPOINT = (
    f"//aiplatform.googleapis.com/projects/{PROD_NUMBER}/locations/europe-west4/"
    "endpoints/5120000000000000042"
)


def sample_path() -> Path:
    """The bundled week-1 export."""
    return data_dir() / "gcp" / "sample_export.ndjson"


def week_time(week: int) -> datetime:
    """When the weekly snapshot of `week` (1-based) is taken."""
    _check_week(week)
    return QUARTER_START + timedelta(weeks=week - 1)


def _stamp(week: int) -> str:
    return week_time(week).strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def _find(records: list[Record], name: str, *, iam: bool = False) -> Record:
    for record in records:
        if record["name"] == name and ("iam_policy" in record) is iam:
            return record
    raise KeyError(f"{name} ({'IAM_POLICY' if iam else 'RESOURCE'}) is not in the sample export")


def _remove_public_bucket_binding(records: list[Record], week: int) -> None:
    policy = _find(records, SCRATCH_BUCKET, iam=True)
    policy["iam_policy"]["bindings"] = [
        b for b in policy["iam_policy"]["bindings"] if "allUsers" not in b["members"]
    ]
    policy["update_time"] = _stamp(week)


def _add_fraud_endpoint(records: list[Record], week: int) -> None:
    template = _find(
        records,
        f"//aiplatform.googleapis.com/projects/{PROD_NUMBER}/locations/europe-west4/"
        "endpoints/4811223344556677889",
    )
    endpoint = copy.deepcopy(template)
    data = endpoint["resource"]["data"]
    endpoint["name"] = FRAUD_ENDPOINT
    data["name"] = FRAUD_ENDPOINT.removeprefix("//aiplatform.googleapis.com/")
    data["displayName"] = "fraud-scoring"
    data["labels"] = {"team": "payments-risk", "env": "prod"}
    data["deployedModels"][0].update(
        id="8800000000000000001",
        displayName="fraud-gbt-v1",
        serviceAccount="fraud-serving@acme-ml-prod.iam.gserviceaccount.com",
    )
    data["trafficSplit"] = {"8800000000000000001": 100}
    data["createTime"] = data["updateTime"] = _stamp(week)
    # shipped in a hurry: no request-response logging and no model monitoring yet
    del data["predictRequestResponseLoggingConfig"]
    del data["modelDeploymentMonitoringJob"]
    endpoint["update_time"] = _stamp(week)
    records.insert(records.index(template) + 1, endpoint)


def _notebook_gets_public_ip(records: list[Record], week: int) -> None:
    notebook = _find(records, ANALYST_NOTEBOOK)
    setup = notebook["resource"]["data"]["gceSetup"]
    setup["disablePublicIp"] = False
    setup["networkInterfaces"][0]["accessConfigs"] = [{"externalIp": "34.91.12.77"}]
    notebook["resource"]["data"]["updateTime"] = notebook["update_time"] = _stamp(week)


def _rotate_sandbox_key(records: list[Record], week: int) -> None:
    key = _find(records, SANDBOX_KEY)
    data = key["resource"]["data"]
    rotated = week_time(week)
    data["rotationPeriod"] = "7776000s"
    data["nextRotationTime"] = (rotated + timedelta(days=90)).strftime("%Y-%m-%dT%H:%M:%SZ")
    data["primary"] = {
        **data["primary"],
        "name": data["name"] + "/cryptoKeyVersions/2",
        "createTime": _stamp(week),
        "generateTime": _stamp(week),
    }
    key["update_time"] = _stamp(week)


@dataclass(frozen=True)
class Change:
    week: int
    description: str
    apply: Callable[[list[Record], int], None]


CHANGES: tuple[Change, ...] = (
    Change(
        5,
        "Public allUsers binding removed from bucket acme-ml-sandbox-scratch",
        _remove_public_bucket_binding,
    ),
    Change(
        7,
        "New Vertex AI endpoint fraud-scoring in acme-ml-prod, without request-response "
        "logging or model monitoring",
        _add_fraud_endpoint,
    ),
    Change(
        9,
        "Workbench instance analyst-wb (v2) regressed to a public IP address",
        _notebook_gets_public_ip,
    ),
    Change(
        11,
        "KMS key sandbox-data rotated and its rotation period cut from 730 to 90 days",
        _rotate_sandbox_key,
    ),
)


def _check_week(week: int) -> None:
    if not isinstance(week, int) or not 1 <= week <= WEEKS:
        raise ValueError(f"week must be an integer from 1 to {WEEKS}, not {week!r}")


def load_sample() -> list[Record]:
    """The week-1 records, one per export line, in file order."""
    with sample_path().open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def records_for_week(week: int) -> list[Record]:
    """The estate's records as exported in `week`: the sample plus every change up to it."""
    _check_week(week)
    records = load_sample()
    for change in CHANGES:
        if change.week <= week:
            change.apply(records, change.week)
    return records


def week_changes(week: int) -> list[str]:
    """What changed in the estate since the previous week's snapshot."""
    _check_week(week)
    return [change.description for change in CHANGES if change.week == week]


def export_for_week(week: int, out_dir: Path) -> Path:
    """Write the estate as `gcloud asset export` NDJSON for `week`; returns the file."""
    records = records_for_week(week)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"gcp-asset-export-week{week:02d}.ndjson"
    text = "".join(
        json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n" for record in records
    )
    write_atomic(path, text.encode("utf-8"))
    return path


# ------------------------------------------------------------------ the compliant twin

_PUBLIC_MEMBERS = frozenset({"allUsers", "allAuthenticatedUsers"})
_SECRET_NAME = re.compile(r"(pass(word)?|secret|token|api[_-]?key|credential)", re.IGNORECASE)
_TWIN_REGION = ("us-central1", "europe-west1")


def _twin_key(record: Record) -> str:
    """The estate's Cloud KMS key in the record's project (each project has one)."""
    if "acme-ml-sandbox" in json.dumps(record) or "/310000000022/" in record["name"]:
        return "projects/acme-ml-sandbox/locations/europe-west1/keyRings/sandbox/cryptoKeys/sandbox-data"
    return "projects/acme-ml-prod/locations/europe-west4/keyRings/ml-prod/cryptoKeys/ml-data"


def _project_of(record: Record) -> str:
    return (
        "acme-ml-sandbox"
        if _twin_key(record).startswith("projects/acme-ml-sandbox")
        else "acme-ml-prod"
    )


def _secret_references(node: Any, project: str) -> Any:
    """Credentials in env/parameters become Secret Manager references (what a compliant job has)."""
    if isinstance(node, dict):
        if (
            isinstance(node.get("name"), str)
            and "value" in node
            and _SECRET_NAME.search(node["name"])
        ):
            secret = node["name"].lower().replace("_", "-")
            return {**node, "value": f"projects/{project}/secrets/{secret}/versions/latest"}
        return {
            key: (
                f"projects/{project}/secrets/{key.lower().replace('_', '-')}/versions/latest"
                if isinstance(value, str) and _SECRET_NAME.search(key)
                else _secret_references(value, project)
            )
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_secret_references(item, project) for item in node]
    return node


def _harden_policy(record: Record) -> None:
    policy = record["iam_policy"]
    bindings = []
    for binding in policy.get("bindings", []):
        members = [
            m
            for m in binding["members"]
            if m not in _PUBLIC_MEMBERS
            and not (
                binding["role"] in ("roles/editor", "roles/owner")
                and m.endswith(
                    ("-compute@developer.gserviceaccount.com", "@appspot.gserviceaccount.com")
                )
            )
        ]
        if members:
            bindings.append({**binding, "members": members})
    policy["bindings"] = bindings
    if record["asset_type"] == "cloudresourcemanager.googleapis.com/Organization":
        policy["audit_configs"] = [
            {
                "service": "allServices",
                "audit_log_configs": [
                    {"log_type": t} for t in ("ADMIN_READ", "DATA_READ", "DATA_WRITE")
                ],
            }
        ]
    else:
        for config in policy.get("audit_configs", []):
            for log in config.get("audit_log_configs", []):
                log.pop("exempted_members", None)


def _harden_resource(record: Record) -> None:
    data = record["resource"]["data"]
    kind = record["asset_type"]
    key = _twin_key(record)
    project = _project_of(record)
    encryption = {"kmsKeyName": key}
    if kind == "storage.googleapis.com/Bucket":
        data["encryption"] = {"defaultKmsKeyName": key}
        iam = data.setdefault("iamConfiguration", {})
        iam["publicAccessPrevention"] = "enforced"
        iam["uniformBucketLevelAccess"] = {"enabled": True}
        iam["bucketPolicyOnly"] = {"enabled": True}
        data["versioning"] = {"enabled": True}
        data["logging"] = {"logBucket": f"{project}-access-logs", "logObjectPrefix": data["name"]}
        data["lifecycle"] = {
            "rule": [
                {"action": {"type": "Delete"}, "condition": {"age": 730}},
                {"action": {"type": "Delete"}, "condition": {"daysSinceNoncurrentTime": 30}},
            ]
        }
        if "retentionPolicy" in data and "audit" in data["name"]:
            data["retentionPolicy"]["isLocked"] = True
    elif kind == "bigquery.googleapis.com/Dataset":
        if str(data.get("location", "")).upper() == "US":  # the US multi-region -> the EU one
            data["location"], record["resource"]["location"] = "EU", "eu"
        data["defaultEncryptionConfiguration"] = {"kmsKeyName": key}
        data["defaultTableExpirationMs"] = "63072000000"
        data["access"] = [
            a
            for a in data.get("access", [])
            if a.get("iamMember") not in _PUBLIC_MEMBERS
            and a.get("specialGroup") != "allAuthenticatedUsers"
        ]
    elif kind == "bigquery.googleapis.com/Table":
        data["encryptionConfiguration"] = {"kmsKeyName": key}
    elif kind == "cloudkms.googleapis.com/CryptoKey":
        data["rotationPeriod"] = "7776000s"
        data["nextRotationTime"] = "2026-12-01T00:00:00Z"
        data["primary"]["state"] = "ENABLED"
    elif kind == "artifactregistry.googleapis.com/Repository":
        data["kmsKeyName"] = key
        data["vulnerabilityScanningConfig"] = {
            "enablementConfig": "INHERITED",
            "enablementState": "SCANNING_ACTIVE",
        }
        data.setdefault("dockerConfig", {})["immutableTags"] = True
    elif kind == "aiplatform.googleapis.com/Endpoint":
        data["encryptionSpec"] = encryption
        if not data.get("network"):
            data["privateServiceConnectConfig"] = {
                "enablePrivateServiceConnect": True,
                "projectAllowlist": [project],
            }
        for model in data.get("deployedModels", []):
            model.setdefault("serviceAccount", f"serving@{project}.iam.gserviceaccount.com")
        data.setdefault(
            "modelDeploymentMonitoringJob",
            data["name"].rsplit("/endpoints/", 1)[0] + "/modelDeploymentMonitoringJobs/1",
        )
        logging = data.get("predictRequestResponseLoggingConfig")
        if logging and logging.get("enabled") and not logging.get("bigqueryDestination"):
            data.pop("predictRequestResponseLoggingConfig")
    elif kind in (
        "aiplatform.googleapis.com/Model",
        "aiplatform.googleapis.com/Dataset",
        "aiplatform.googleapis.com/Featurestore",
        "aiplatform.googleapis.com/BatchPredictionJob",
        "aiplatform.googleapis.com/CustomJob",
        "aiplatform.googleapis.com/TrainingPipeline",
        "aiplatform.googleapis.com/PipelineJob",
        "aiplatform.googleapis.com/NotebookRuntimeTemplate",
    ):
        data["encryptionSpec"] = encryption
        account = f"ml-{kind.rsplit('/', 1)[1].lower()}@{project}.iam.gserviceaccount.com"
        image = f"europe-west4-docker.pkg.dev/{project}/serving/app:1.0"
        if kind == "aiplatform.googleapis.com/Model" and data.get("containerSpec"):
            data["containerSpec"]["imageUri"] = image
        if kind in (
            "aiplatform.googleapis.com/BatchPredictionJob",
            "aiplatform.googleapis.com/PipelineJob",
        ):
            data["serviceAccount"] = account
        spec = data.get("jobSpec") or data.get("trainingTaskInputs")
        if spec is not None:
            spec["serviceAccount"] = account
            number = record["ancestors"][0].split("/", 1)[1]
            spec["network"] = f"projects/{number}/global/networks/ml-vpc"
            spec.pop("enableWebAccess", None)
            for pool in spec.get("workerPoolSpecs", []):
                if "containerSpec" in pool:
                    pool["containerSpec"]["imageUri"] = image.replace("/serving/", "/training/")
        if kind == "aiplatform.googleapis.com/NotebookRuntimeTemplate":
            data.setdefault("networkSpec", {})["enableInternetAccess"] = False
        record["resource"]["data"] = _secret_references(data, project)
    elif kind == NOTEBOOK_TYPE:
        setup = data.get("gceSetup")
        if setup is not None:
            setup["disablePublicIp"] = True
            for nic in setup.get("networkInterfaces", []):
                nic.pop("accessConfigs", None)
            setup["bootDisk"].update(diskEncryption="CMEK", kmsKey=key)
            for disk in setup.get("dataDisks", []):
                disk.update(diskEncryption="CMEK", kmsKey=key)
            setup.setdefault("shieldedInstanceConfig", {})["enableSecureBoot"] = True
            setup.setdefault("metadata", {})["notebook-disable-root"] = "true"
        else:
            data.update(noPublicIp=True, diskEncryption="CMEK", kmsKey=key)
            data.setdefault("shieldedInstanceConfig", {})["enableSecureBoot"] = True
            data.setdefault("metadata", {})["notebook-disable-root"] = "true"
            data["serviceAccount"] = f"notebooks@{project}.iam.gserviceaccount.com"
    elif kind == "logging.googleapis.com/LogSink":
        data.pop("disabled", None)
    elif kind == "logging.googleapis.com/LogBucket":
        if "audit" in data["name"].lower():
            data["retentionDays"] = max(int(data.get("retentionDays", 0)), 400)
    elif kind == "iam.googleapis.com/ServiceAccountKey":
        if data.get("keyType") == "USER_MANAGED":
            start = datetime.fromisoformat(data["validAfterTime"].replace("Z", "+00:00"))
            data["validBeforeTime"] = (start + timedelta(days=90)).strftime("%Y-%m-%dT%H:%M:%SZ")
    elif kind == "monitoring.googleapis.com/AlertPolicy":
        data["enabled"] = True
        data["notificationChannels"] = data.get("notificationChannels") or [
            f"projects/{project}/notificationChannels/7002"
        ]


def compliant_records() -> list[Record]:
    """The week-1 estate with every planted violation fixed: the sandbox moved to europe-west1,
    customer-managed keys, no public grants, private networking, secrets in Secret Manager,
    audit logs on, exported and kept, keys rotating and expiring. Resource names stay, so each
    record is the compliant twin of the sample's."""
    old, new = _TWIN_REGION
    text = json.dumps(load_sample()).replace(old, new).replace(old.upper(), new.upper())
    records: list[Record] = json.loads(text)
    for record in records:
        if "iam_policy" in record:
            _harden_policy(record)
        else:
            _harden_resource(record)
    return records


def compliant_export(path: Path) -> Path:
    """Write the compliant twin as `gcloud asset export` NDJSON to `path` (a file with a suffix,
    or a folder, created if needed, to put gcp-asset-export-compliant.ndjson in); returns the file."""
    if path.is_dir() or not path.suffix:
        path = path / "gcp-asset-export-compliant.ndjson"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(
        json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n"
        for record in compliant_records()
    )
    write_atomic(path, text.encode("utf-8"))
    return path
