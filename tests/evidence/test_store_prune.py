"""Prune: tombstones the verifier accepts, nothing a newer snapshot needs is removed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from store_support import bucket, gcp_bucket, object_files, write

from auditor.errors import UserError
from auditor.evidence import open_store

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def test_prune_replaces_old_snapshots_with_tombstones(tmp_path: Path) -> None:
    root = tmp_path / "store"
    store = open_store(root)
    old_scope = {"accounts": ["999999999999"]}  # an account no longer audited
    x1 = write(
        store, [bucket(1, 0, "999999999999")], scope=old_scope, taken_at=NOW - timedelta(100)
    )
    x2 = write(store, [bucket(1, 1, "999999999999")], scope=old_scope, taken_at=NOW - timedelta(90))
    g1 = write(
        store, [gcp_bucket(1)], provider="gcp", scope={"s": "p"}, taken_at=NOW - timedelta(85)
    )
    a1 = write(store, [bucket(5, 0), bucket(6)], taken_at=NOW - timedelta(80))
    a2 = write(store, [bucket(5, 1), bucket(6)], taken_at=NOW - timedelta(10))

    pruned = store.prune(30, now=NOW)

    assert pruned == [x1.id, x2.id, a1.id]  # g1 is the newest gcp snapshot: kept
    assert [m.id for m in store.list_snapshots()] == [g1.id, a2.id]
    tombstones = store.list_tombstones()
    assert [t["id"] for t in tombstones] == pruned
    assert tombstones[0]["manifest_sha256"] == x1.sha256
    assert tombstones[0]["pruned_at"] == "2026-11-29T12:00:00Z"
    result = store.verify()
    assert result.ok, result.problems
    # The old account's snapshots were nobody's base: their files and documents are gone.
    assert not (root / "snapshots" / x1.id).exists() and not (root / "snapshots" / x2.id).exists()
    assert f"{bucket(1, 1, '999999999999').sha256}.json.gz" not in object_files(root)
    # a1 is a2's base: its change set stays; the document only a1 held is collected.
    assert (root / "snapshots" / a1.id / "documents.parquet").exists()
    assert f"{bucket(5, 0).sha256}.json.gz" not in object_files(root)
    assert {d.sha256 for d in store.load_snapshot(a2.id).documents} == {
        bucket(5, 1).sha256,
        bucket(6).sha256,
    }
    with pytest.raises(UserError, match="pruned"):
        store.load_snapshot(x1.id)
    # The chain goes on from there.
    a3 = write(store, [bucket(5, 2), bucket(6)])
    assert a3.previous_sha256 == a2.sha256 and store.verify().ok
    assert store.prune(30, now=NOW) == []


def test_prune_never_removes_the_newest_snapshot_of_a_provider(tmp_path: Path) -> None:
    store = open_store(tmp_path / "store")
    only = write(store, [bucket(1)], taken_at=NOW - timedelta(days=400))
    assert store.prune(0, now=NOW) == []
    assert [m.id for m in store.list_snapshots()] == [only.id]
    with pytest.raises(UserError, match="zero or more"):
        store.prune(-1)


def test_a_forged_tombstone_is_caught(tmp_path: Path) -> None:
    root = tmp_path / "store"
    store = open_store(root)
    first = write(store, [bucket(1)], taken_at=NOW - timedelta(days=60))
    write(store, [bucket(1), bucket(2)], taken_at=NOW - timedelta(days=1))
    assert store.prune(30, now=NOW) == [first.id]
    (path,) = (root / "tombstones").iterdir()
    tombstone = json.loads(path.read_text())
    tombstone["manifest_sha256"] = "f" * 64
    path.write_text(json.dumps(tombstone))
    result = store.verify()
    assert not result.ok and result.first_bad == first.id


def test_interrupted_prune_still_verifies_and_completes(tmp_path: Path) -> None:
    """Killed between writing the tombstone and deleting the manifest: both exist."""
    root = tmp_path / "store"
    store = open_store(root)
    first = write(store, [bucket(1)], taken_at=NOW - timedelta(days=60))
    write(store, [bucket(1)], taken_at=NOW - timedelta(days=1))
    (manifest_path,) = (root / "manifests").glob(f"*-{first.id}.json")
    saved = manifest_path.read_bytes()
    store.prune(30, now=NOW)
    manifest_path.write_bytes(saved)  # as if the delete never happened
    assert store.verify().ok
    assert store.prune(30, now=NOW) == [first.id]
    assert store.verify().ok and not manifest_path.exists()
