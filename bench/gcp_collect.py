"""GCP collection benchmark: live Cloud Asset listing of a large organization, and export import.

Live: an organization of 200 projects and 100,000 assets served by the local gRPC AssetService
(devtools/asset_service.py, in its own process so its memory is not counted),
collected with the real AssetServiceClient at page size 1000 and the default 100 req/min pacing.
Import: a generated 100,000-line `gcloud asset export` NDJSON file.
Targets: peak memory < 1 GB; import >= 20,000 assets/s.  Usage: python bench/gcp_collect.py
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # devtools/, shared with the tests

ORG = "organizations/900000000001"
CRM = "//cloudresourcemanager.googleapis.com/"
STAMP = "2026-11-02T08:15:31.482913Z"


def synthetic_records(projects: int, assets: int) -> list[dict[str, Any]]:
    """Export-spelling records: org, 10 folders, `projects` projects, the rest spread over the
    ML asset types; about one in five non-hierarchy assets also has an IAM_POLICY line."""
    out: list[dict[str, Any]] = []
    audit = [
        {
            "service": "allServices",
            "audit_log_configs": [{"log_type": "ADMIN_READ"}, {"log_type": "DATA_READ"}],
        }
    ]
    out.append(
        {
            "name": CRM + ORG,
            "asset_type": "cloudresourcemanager.googleapis.com/Organization",
            "resource": {"data": {"name": ORG, "displayName": "bench.example"}},
            "ancestors": [ORG],
            "update_time": STAMP,
        }
    )
    out.append(
        {
            "name": CRM + ORG,
            "asset_type": "cloudresourcemanager.googleapis.com/Organization",
            "iam_policy": {
                "bindings": [{"role": "roles/owner", "members": ["group:admins@bench.example"]}],
                "audit_configs": audit,
            },
            "ancestors": [ORG],
            "update_time": STAMP,
        }
    )
    folders = [f"folders/{800000000000 + i}" for i in range(10)]
    for folder in folders:
        out.append(
            {
                "name": CRM + folder,
                "asset_type": "cloudresourcemanager.googleapis.com/Folder",
                "resource": {"data": {"name": folder, "parent": ORG, "displayName": folder}},
                "ancestors": [folder, ORG],
                "update_time": STAMP,
            }
        )
    kinds = [
        (
            "storage.googleapis.com/Bucket",
            lambda p, i: (
                f"//storage.googleapis.com/{p}-b{i}",
                {
                    "name": f"{p}-b{i}",
                    "location": "EU",
                    "iamConfiguration": {
                        "uniformBucketLevelAccess": {"enabled": True},
                        "publicAccessPrevention": "enforced",
                    },
                    "encryption": {
                        "defaultKmsKeyName": f"projects/{p}/locations/eu/keyRings/k/cryptoKeys/k"
                    },
                    "versioning": {"enabled": True},
                    "labels": {"team": "ml"},
                },
            ),
        ),
        (
            "aiplatform.googleapis.com/CustomJob",
            lambda p, i: (
                f"//aiplatform.googleapis.com/projects/{p}/locations/europe-west4/customJobs/{i}",
                {
                    "name": f"projects/{p}/locations/europe-west4/customJobs/{i}",
                    "displayName": f"train-{i}",
                    "state": "JOB_STATE_SUCCEEDED",
                    "jobSpec": {
                        "workerPoolSpecs": [
                            {
                                "machineSpec": {"machineType": "n1-standard-8"},
                                "replicaCount": "1",
                                "containerSpec": {
                                    "imageUri": "europe-docker.pkg.dev/x/y:z",
                                    "env": [
                                        {"name": "EPOCHS", "value": "20"},
                                        {"name": "DB_PASSWORD", "value": f"pw{i}"},
                                    ],
                                },
                            }
                        ],
                        "serviceAccount": f"train@{p}.iam.gserviceaccount.com",
                    },
                    "encryptionSpec": {"kmsKeyName": "k"},
                },
            ),
        ),
        (
            "bigquery.googleapis.com/Table",
            lambda p, i: (
                f"//bigquery.googleapis.com/projects/{p}/datasets/d/tables/t{i}",
                {
                    "tableReference": {"projectId": p, "datasetId": "d", "tableId": f"t{i}"},
                    "type": "TABLE",
                    "location": "EU",
                    "encryptionConfiguration": {"kmsKeyName": "k"},
                    "labels": {"pii": "true"},
                },
            ),
        ),
        (
            "aiplatform.googleapis.com/Model",
            lambda p, i: (
                f"//aiplatform.googleapis.com/projects/{p}/locations/europe-west4/models/{i}",
                {
                    "name": f"projects/{p}/locations/europe-west4/models/{i}",
                    "displayName": f"m{i}",
                    "versionId": "1",
                    "containerSpec": {"imageUri": "x"},
                    "encryptionSpec": {"kmsKeyName": "k"},
                },
            ),
        ),
    ]
    per_project = (assets - len(out) - projects) * 9 // 10 // projects
    for n in range(projects):
        pid, number = f"bench-p{n:03d}", str(700000000000 + n)
        folder = folders[n % len(folders)]
        ancestors = [f"projects/{number}", folder, ORG]
        out.append(
            {
                "name": f"{CRM}projects/{number}",
                "asset_type": "cloudresourcemanager.googleapis.com/Project",
                "resource": {
                    "data": {
                        "projectId": pid,
                        "projectNumber": number,
                        "lifecycleState": "ACTIVE",
                        "parent": {"type": "folder", "id": folder.split("/")[1]},
                    }
                },
                "ancestors": ancestors,
                "update_time": STAMP,
            }
        )
        out.append(
            {
                "name": f"{CRM}projects/{number}",
                "asset_type": "cloudresourcemanager.googleapis.com/Project",
                "iam_policy": {
                    "bindings": [
                        {"role": "roles/editor", "members": [f"user:dev{n}@bench.example"]}
                    ]
                },
                "ancestors": ancestors,
                "update_time": STAMP,
            }
        )
        for i in range(per_project):
            asset_type, make = kinds[i % len(kinds)]
            name, data = make(pid, i)
            out.append(
                {
                    "name": name,
                    "asset_type": asset_type,
                    "resource": {
                        "data": data,
                        "location": "europe-west4",
                        "parent": f"{CRM}projects/{number}",
                    },
                    "ancestors": ancestors,
                    "update_time": STAMP,
                }
            )
            if i % 5 == 0 and asset_type in (
                "storage.googleapis.com/Bucket",
                "bigquery.googleapis.com/Table",
            ):
                out.append(
                    {
                        "name": name,
                        "asset_type": asset_type,
                        "iam_policy": {
                            "bindings": [
                                {
                                    "role": "roles/storage.objectViewer",
                                    "members": [f"group:readers{n}@bench.example"],
                                }
                            ]
                        },
                        "ancestors": ancestors,
                        "update_time": STAMP,
                    }
                )
    unique = len({r["name"] for r in out})
    for i in range(assets - unique):  # top up to exactly `assets` distinct assets
        out.append(
            {
                "name": f"//storage.googleapis.com/extra-{i}",
                "asset_type": "storage.googleapis.com/Bucket",
                "resource": {"data": {"name": f"extra-{i}"}, "location": "eu"},
                "ancestors": ancestors,
                "update_time": STAMP,
            }
        )
    return out


class CountingSink:
    def __init__(self) -> None:
        self.docs = 0
        self.errors = 0

    def add(self, doc: Any) -> None:
        self.docs += 1

    def add_error(self, error: Any) -> None:
        self.errors += 1


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _server(projects: int, assets: int, ready: Any, stop: Any) -> None:
    from devtools.asset_service import FakeAssetService, serve

    service = FakeAssetService.from_records(synthetic_records(projects, assets))
    with serve(service, workers=2) as endpoint:
        ready.put(endpoint)
        stop.wait()


def _live(endpoint: str, out: Any) -> None:
    from auditor.collect.gcp.live import GcpAssetCollector

    sink = CountingSink()
    start = time.perf_counter()
    stats = GcpAssetCollector(ORG, endpoint=endpoint, page_size=1000).collect(sink)
    out.put(
        {
            "wall_s": time.perf_counter() - start,
            "docs": sink.docs,
            "errors": sink.errors,
            "pages": stats["pages"],
            "calls": stats["calls"],
            "peak_mb": peak_mb(),
        }
    )


def _import(path: str, out: Any) -> None:
    from auditor.collect.gcp.export import GcpExportCollector

    sink = CountingSink()
    start, cpu = time.perf_counter(), time.process_time()
    stats = GcpExportCollector(path).collect(sink)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    out.put(
        {
            "wall_s": wall,
            "cpu_s": cpu,
            "docs": sink.docs,
            "records": stats["records"],
            "rejected": stats["rejected_lines"],
            "assets_per_s": stats["records"] / wall,
            "assets_per_cpu_s": stats["records"] / cpu,
            "peak_mb": peak_mb(),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--projects", type=int, default=200)
    parser.add_argument("--assets", type=int, default=100_000)
    args = parser.parse_args()
    ctx = mp.get_context("spawn")

    ready, done, stop = ctx.Queue(), ctx.Queue(), ctx.Event()
    server = ctx.Process(
        target=_server, args=(args.projects, args.assets, ready, stop), daemon=True
    )
    server.start()
    endpoint = ready.get(timeout=600)
    client = ctx.Process(target=_live, args=(endpoint, done))
    client.start()
    live = done.get(timeout=1200)
    client.join()
    stop.set()
    server.join(timeout=10)
    print(
        f"live: {args.projects} projects, {live['docs']:,} documents, {live['errors']} errors, "
        f"{live['pages']} pages, {live['calls']} calls, wall {live['wall_s']:.1f} s, "
        f"peak memory {live['peak_mb']:.0f} MB (target < 1024 MB)"
    )

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "export.ndjson"
        with path.open("w") as handle:
            for record in synthetic_records(args.projects, args.assets)[: args.assets]:
                handle.write(json.dumps(record, separators=(",", ":")) + "\n")
        size_mb = path.stat().st_size / 1e6
        proc = ctx.Process(target=_import, args=(str(path), done))
        proc.start()
        imp = done.get(timeout=1200)
        proc.join()
    print(
        f"import: {imp['records']:,} lines ({size_mb:.0f} MB) -> {imp['docs']:,} documents in "
        f"{imp['wall_s']:.2f} s = {imp['assets_per_s']:,.0f} assets/s wall, "
        f"{imp['assets_per_cpu_s']:,.0f} assets per CPU-second (target >= 20,000), "
        f"peak memory {imp['peak_mb']:.0f} MB"
    )


if __name__ == "__main__":
    main()
