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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from auditor.resources import data_dir

WEEKS = 13
QUARTER_START = datetime(2026, 10, 1, 6, 0, tzinfo=UTC)

Record = dict[str, Any]

PROD_NUMBER = "310000000011"
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
    path.write_text(text, encoding="utf-8")
    return path
