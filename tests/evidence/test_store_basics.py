"""Round trips, content-addressed dedupe, deltas, time order, discard, permissions, salt."""

from __future__ import annotations

import os
import stat
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from store_support import SCOPE, bucket, denied, endpoint, gcp_bucket, object_files, write

from auditor.errors import UserError
from auditor.evidence import open_store
from auditor.evidence.store import REBASE_SHARE
from auditor.models import SnapshotManifest, canonical_json, sha256_hex


def test_round_trip_documents_errors_stats_and_manifest(tmp_path: Path) -> None:
    store = open_store(tmp_path / "store")
    documents = [bucket(i) for i in range(5)] + [endpoint(0)]
    manifest = write(store, documents, errors=[denied()], stats={"calls": 12, "pages": 2})

    assert manifest.counts == {"AWS::S3::Bucket": 5, "AWS::SageMaker::Endpoint": 1}
    assert manifest.errors == (denied(),)
    assert manifest.stats["calls"] == 12 and manifest.stats["store"]["documents"] == 6
    assert manifest.previous_sha256 is None
    assert manifest.scope == SCOPE and manifest.provider == "aws"
    snapshot = store.load_snapshot(manifest.id)
    assert {d.sha256 for d in snapshot.documents} == {d.sha256 for d in documents}
    assert snapshot.manifest == manifest
    # The manifest on disk is the canonical JSON whose hash the model reports.
    (key,) = [e.manifest_key for e in store.chain()]
    raw = store.backend.read(key or "")
    assert sha256_hex(raw) == manifest.sha256
    assert SnapshotManifest.from_dict(__import__("json").loads(raw)) == manifest
    # Every file of the snapshot is listed with its hash.
    for file_key, digest in manifest.files.items():
        assert sha256_hex(store.backend.read(file_key)) == digest


def test_chain_links_each_manifest_to_the_previous(tmp_path: Path) -> None:
    store = open_store(tmp_path / "store")
    first = write(store, [bucket(1)])
    second = write(store, [bucket(1), bucket(2)])
    third = write(store, [bucket(2)], provider="gcp", scope={"scope": "projects/x"})
    assert [m.id for m in store.list_snapshots()] == [first.id, second.id, third.id]
    assert second.previous_sha256 == first.sha256
    assert third.previous_sha256 == second.sha256
    assert store.load_snapshot("latest", provider="aws").manifest.id == second.id
    assert store.load_snapshot("latest").manifest.id == third.id
    assert store.load_snapshot(second.id[:-1]).manifest.id == second.id  # unique prefix
    assert store.verify().ok


def test_unchanged_documents_are_stored_once(tmp_path: Path) -> None:
    root = tmp_path / "store"
    store = open_store(root)
    write(store, [bucket(i) for i in range(50)])
    before = object_files(root)
    assert len(before) == 50
    changed = [bucket(i, version=1 if i == 7 else 0) for i in range(50)]
    second = write(store, changed)
    after = object_files(root)
    assert len(after - before) == 1
    assert after - before == {f"{bucket(7, version=1).sha256}.json.gz"}
    assert second.stats["store"]["new_objects"] == 1
    # The second snapshot's change set holds only the changed document.
    assert second.stats["store"]["changed_rows"] == 1
    loaded = store.load_snapshot(second.id)
    assert sorted(d.sha256 for d in loaded.documents) == sorted(d.sha256 for d in changed)


def test_removed_and_added_documents_follow_through_deltas(tmp_path: Path) -> None:
    store = open_store(tmp_path / "store")
    write(store, [bucket(i) for i in range(10)])
    write(store, [bucket(i) for i in range(1, 10)] + [bucket(10)])
    third = write(store, [bucket(i) for i in range(2, 11)] + [endpoint(3)])
    ids = {d.resource_id for d in store.load_snapshot(third.id).documents}
    assert ids == {bucket(i).resource_id for i in range(2, 11)} | {endpoint(3).resource_id}
    assert third.counts == {"AWS::S3::Bucket": 9, "AWS::SageMaker::Endpoint": 1}
    assert store.chain_record(third.id)["depth"] == 2
    assert store.verify().ok


def test_a_resource_reported_twice_keeps_both_documents(tmp_path: Path) -> None:
    store = open_store(tmp_path / "store")
    manifest = write(store, [bucket(1), bucket(1, version=5), bucket(1)])
    loaded = store.load_snapshot(manifest.id)
    assert len(loaded.documents) == 3
    assert manifest.counts == {"AWS::S3::Bucket": 3}


def test_many_changes_write_a_full_snapshot_again(tmp_path: Path) -> None:
    store = open_store(tmp_path / "store")
    write(store, [bucket(i) for i in range(10)])
    depths = []
    for version in range(1, 5):
        manifest = write(store, [bucket(i, version) for i in range(10)])  # 100 % churn
        depths.append(store.chain_record(manifest.id)["depth"])
    # A delta after the full one, then the accumulated change exceeds REBASE_SHARE: full again.
    assert REBASE_SHARE < 1
    assert depths == [1, 0, 1, 0]
    assert store.verify().ok


def test_scope_or_provider_change_starts_a_new_base(tmp_path: Path) -> None:
    store = open_store(tmp_path / "store")
    write(store, [bucket(1)])
    other = write(store, [bucket(1)], scope={"accounts": ["222222222222"]})
    gcp = write(store, [gcp_bucket(1)], provider="gcp", scope={"scope": "projects/acme-ml"})
    assert store.chain_record(other.id)["base"] is None
    assert store.chain_record(gcp.id)["base"] is None


def test_taken_at_backdates_and_must_keep_time_order(tmp_path: Path) -> None:
    store = open_store(tmp_path / "store")
    start = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)
    first = write(store, [bucket(1)], taken_at=start)
    assert first.started_at == start and first.id.startswith("20261005T090000Z-aws-")
    assert first.finished_at >= first.started_at
    write(store, [bucket(1)], taken_at=start + timedelta(days=7))
    with pytest.raises(UserError, match="earlier than the newest snapshot"):
        store.begin_snapshot("aws", SCOPE, "c" * 64, taken_at=start + timedelta(days=3))
    # The refusal released the lock: the next (in-order) snapshot goes through.
    write(store, [bucket(1)], taken_at=start + timedelta(days=14))
    assert len(store.list_snapshots()) == 3
    assert store.verify().ok


def test_an_exception_discards_the_run_and_frees_the_store(tmp_path: Path) -> None:
    root = tmp_path / "store"
    store = open_store(root, lock_timeout=0.5)
    write(store, [bucket(1)])
    with pytest.raises(RuntimeError), store.begin_snapshot("aws", SCOPE, "c" * 64) as writer:
        writer.add(bucket(2))
        raise RuntimeError("collector crashed")
    assert len(store.list_snapshots()) == 1
    assert not list((root / "tmp").iterdir())
    write(store, [bucket(3)])  # the lock was released
    assert len(store.list_snapshots()) == 2 and store.verify().ok


def test_writer_accepts_documents_from_many_threads(tmp_path: Path) -> None:
    store = open_store(tmp_path / "store")
    with store.begin_snapshot("aws", SCOPE, "c" * 64) as writer:

        def add_fifty(k: int) -> None:
            for i in range(50):
                writer.add(bucket(k * 100 + i))

        threads = [threading.Thread(target=add_fifty, args=(k,)) for k in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert writer.manifest.counts == {"AWS::S3::Bucket": 200}
    assert len(store.load_snapshot("latest").documents) == 200


def test_files_are_private_and_folders_closed(tmp_path: Path) -> None:
    old = os.umask(0o022)  # a permissive umask must not leak into the store
    try:
        root = tmp_path / "store"
        store = open_store(root)
        write(store, [bucket(i) for i in range(3)], errors=[denied()])
        write(store, [bucket(i, 1) for i in range(3)])
        store.redaction_salt()
    finally:
        os.umask(old)
    paths = list(root.rglob("*"))
    assert any(p.is_file() for p in paths) and any(p.is_dir() for p in paths)
    for path in [root, *paths]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))


def test_redaction_salt_is_random_per_store_stable_and_private(tmp_path: Path) -> None:
    one = open_store(tmp_path / "one").redaction_salt()
    again = open_store(tmp_path / "one").redaction_salt()
    other = open_store(tmp_path / "two").redaction_salt()
    assert len(one) == 32 and one == again and one != other
    assert stat.S_IMODE((tmp_path / "one" / "salt").stat().st_mode) == 0o600


def test_refuses_a_folder_that_is_not_a_store(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="not an evidence store"):
        open_store(tmp_path)
    with pytest.raises(UserError, match="expected a folder or s3://"):
        open_store("gs://bucket/x")
    with pytest.raises(UserError, match="unknown evidence store option"):
        open_store(tmp_path / "s", colour="blue")


def test_reading_an_empty_or_missing_store(tmp_path: Path) -> None:
    store = open_store(tmp_path / "absent")
    assert store.list_snapshots() == []
    assert store.verify().ok
    with pytest.raises(UserError, match="no snapshot"):
        store.load_snapshot("latest")
    assert not (tmp_path / "absent").exists()  # reading creates nothing


def test_manifest_bytes_are_canonical_json(tmp_path: Path) -> None:
    store = open_store(tmp_path / "store")
    manifest = write(store, [bucket(1)], errors=[denied()])
    (entry,) = store.chain()
    assert store.backend.read(entry.manifest_key or "") == canonical_json(manifest.to_dict())
