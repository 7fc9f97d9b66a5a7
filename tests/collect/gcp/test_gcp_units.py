"""Live GCP collection in (scope, asset type) units: the same snapshot in one process, on one
worker, on a thread pool and on a LocalCluster of two processes (which reach the local gRPC
AssetService on 127.0.0.1 like any other client)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from auditor import pipeline
from auditor.collect.gcp.assets import HIERARCHY_TYPES, LOG_SINK_TYPE
from auditor.collect.gcp.live import GcpAssetCollector
from auditor.collect.gcp.units import AssetTypeUnit, HierarchyUnit
from auditor.evidence import open_store
from auditor.executors import parse_executor
from devtools.asset_service import FakeAssetService

ORG = "organizations/678901234567"
PROJECT = "projects/111111111111"  # below a folder: ancestors' policies and sinks from outside
DENIED = "storage.googleapis.com/Bucket"
EXPORT = Path(__file__).parents[2] / "fixtures" / "gcp" / "assets_export.ndjson"


@pytest.fixture(scope="module")
def asset_records() -> list[dict[str, Any]]:
    return [json.loads(line) for line in EXPORT.read_text().splitlines()]


def _snapshot(
    store_path: Path, scope: str, endpoint: str, executor: str | None
) -> tuple[list[tuple[str, str]], list[tuple[object, ...]], dict]:
    store = open_store(str(store_path))
    collector = GcpAssetCollector(scope, endpoint=endpoint, salt=store.redaction_salt(),
                                  requests_per_minute=None)  # fmt: skip
    manifest = pipeline.take_snapshot(
        store, collector, "c" * 64, executor=parse_executor(executor, 4) if executor else None
    )
    snapshot = store.load_snapshot(manifest.id)
    docs = sorted((d.resource_id, d.sha256) for d in snapshot.documents)
    errors = sorted(
        (e.resource_type or "", e.resource_id or "", e.field or "", e.error_code, e.message)
        for e in manifest.errors
    )
    return docs, errors, dict(manifest.stats)


@pytest.mark.parametrize("scope", [ORG, PROJECT])
def test_the_same_snapshot_on_every_executor(
    tmp_path: Path, asset_endpoint: str, asset_service: FakeAssetService, scope: str
) -> None:
    asset_service.deny_types.add(DENIED)  # one type's listing refused: the same errors everywhere
    try:
        store = tmp_path / "store"
        baseline = _snapshot(store, scope, asset_endpoint, None)
        docs, errors, _ = baseline
        assert len(docs) > 5 and not any(rid.startswith("//storage") for rid, _ in docs)
        assert {e[0] for e in errors if e[3] == "PERMISSION_DENIED"} == {DENIED}
        for executor in ("threads:1", "threads:4", "dask-local:2"):
            got_docs, got_errors, stats = _snapshot(store, scope, asset_endpoint, executor)
            assert got_docs == docs, executor
            assert got_errors == errors, executor
            assert stats["units"] > 10 and stats["executor"].startswith(executor.split(":")[0])
            assert stats["assets"] == len(docs)
        assert stats["worker_processes"] == 2  # the last run: the LocalCluster's two workers
    finally:
        asset_service.deny_types.clear()


def test_units_are_one_per_type_and_carry_no_client(asset_endpoint: str) -> None:
    import pickle

    collector = GcpAssetCollector(ORG, endpoint=asset_endpoint, salt=b"s", requests_per_minute=100)
    units = collector.units()
    typed = [u for u in units if isinstance(u, AssetTypeUnit)]
    assert [u for u in units if isinstance(u, HierarchyUnit)] == [units[-1]]
    assert {u.asset_type for u in typed} == set(collector.asset_types) - HIERARCHY_TYPES - {
        LOG_SINK_TYPE
    }
    assert {u.key for u in units} == {f"gcp:{ORG}"}  # one quota: the conductor limits per key
    assert typed[0].settings.collector([DENIED]).requests_per_minute == 50  # its share
    blob = pickle.dumps(units)
    assert b"AssetServiceClient" not in blob and b"Credentials" not in blob
    assert len(units[-1].context.sinks) > 0  # the driver listed the log sinks


def test_collect_gcp_runs_a_live_scope_as_units_on_the_executor_it_is_given(
    tmp_path: Path, asset_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`auditor collect gcp --executor`: a live scope goes as units there; an export file is
    read as one stream whatever the executor."""
    from auditor.cli import run

    monkeypatch.setenv("AUDITOR_GCP_ASSET_ENDPOINT", asset_endpoint)
    folder = str(tmp_path / "store")
    given = ["--store", folder, "collect", "gcp", "--executor", "threads:2"]
    assert run([*given, "--scope", PROJECT]) == 0
    live = open_store(folder).list_snapshots()[-1]
    assert live.stats["executor"] == "threads:2" and live.stats["units"] > 10
    assert run([*given, "--asset-export", str(EXPORT)]) == 0
    exported = open_store(folder).list_snapshots()[-1]
    assert exported.id != live.id and "units" not in exported.stats
