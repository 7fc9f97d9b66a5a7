"""Chain verification names the first snapshot modified, removed, reordered or inserted."""

from __future__ import annotations

import gzip
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from store_support import bucket, write

from auditor.evidence import open_store
from auditor.evidence.documents import object_key
from auditor.models import canonical_json

START = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A, B, C, D: six buckets; B, C and D each change one of them."""
    root = tmp_path_factory.mktemp("chain") / "store"
    store = open_store(root, durable=False)
    ids = [write(store, [bucket(i) for i in range(6)], taken_at=START).id]
    for week, changed in enumerate((2, 3, 4), start=1):
        docs = [bucket(i, version=1 if i <= changed and i >= 2 else 0) for i in range(6)]
        ids.append(write(store, docs, taken_at=START + timedelta(days=7 * week)).id)
    assert store.verify().ok
    return root, ids


@pytest.fixture
def copy(pristine: tuple[Path, list[str]], tmp_path: Path) -> tuple[Path, list[str]]:
    root, ids = pristine
    target = tmp_path / "store"
    shutil.copytree(root, target)
    return target, ids


def manifest_path(root: Path, snapshot_id: str) -> Path:
    (path,) = (root / "manifests").glob(f"*-{snapshot_id}.json")
    return path


def verify(root: Path, **kwargs: object) -> tuple[str | None, list[str]]:
    result = open_store(root).verify(**kwargs)  # type: ignore[arg-type]
    assert result.ok is (result.first_bad is None)
    return result.first_bad, result.problems


def test_intact_store_verifies(copy: tuple[Path, list[str]]) -> None:
    root, _ids = copy
    result = open_store(root).verify()
    assert result.ok and result.problems == [] and result.snapshots_checked == 4
    assert result.objects_checked == 9  # 6 originals + 3 changed versions


def test_modified_manifest_is_named(copy: tuple[Path, list[str]]) -> None:
    root, (_a, b, _c, _d) = copy
    path = manifest_path(root, b)
    manifest = json.loads(path.read_bytes())
    manifest["catalog_sha256"] = "0" * 64  # a careful forger keeps the canonical form
    path.write_bytes(canonical_json(manifest))
    first_bad, problems = verify(root)
    assert first_bad == b
    assert any("modified" in p and p.startswith(b) for p in problems)


def test_modified_document_object_is_named_at_its_first_snapshot(
    copy: tuple[Path, list[str]],
) -> None:
    root, (_a, b, _c, _d) = copy
    introduced_in_b = bucket(2, version=1)
    path = root / object_key(introduced_in_b.sha256)
    doc = json.loads(gzip.decompress(path.read_bytes()))
    doc["data"]["Encryption"] = None  # hide a finding
    path.write_bytes(gzip.compress(canonical_json(doc)))
    first_bad, problems = verify(root)
    assert first_bad == b
    assert any(object_key(introduced_in_b.sha256) in p for p in problems)


def test_modified_shared_object_is_named_at_the_oldest_snapshot(
    copy: tuple[Path, list[str]],
) -> None:
    root, (a, *_rest) = copy
    path = root / object_key(bucket(0).sha256)
    path.write_bytes(gzip.compress(b'{"tampered": true}'))
    first_bad, _problems = verify(root)
    assert first_bad == a


def test_modified_parquet_is_named(copy: tuple[Path, list[str]]) -> None:
    root, (_a, _b, c, _d) = copy
    path = root / "snapshots" / c / "documents.parquet"
    table = pq.read_table(path)
    rows = table.to_pylist()
    rows[0]["data"] = rows[0]["data"].replace("aws:kms", "AES256")
    pq.write_table(type(table).from_pylist(rows, schema=table.schema), path)
    first_bad, problems = verify(root)
    assert first_bad == c
    assert any("documents.parquet" in p for p in problems)


def test_removed_snapshot_is_named(copy: tuple[Path, list[str]]) -> None:
    root, (_a, b, _c, _d) = copy
    manifest_path(root, b).unlink()
    shutil.rmtree(root / "snapshots" / b)
    first_bad, problems = verify(root)
    assert first_bad == b
    assert "removed" in problems[0]
    assert [m.id for m in open_store(root).list_snapshots()] == [_a, _c, _d]


def test_removed_first_snapshot_is_named(copy: tuple[Path, list[str]]) -> None:
    root, (a, *_rest) = copy
    manifest_path(root, a).unlink()
    first_bad, _problems = verify(root)
    assert first_bad == a


def test_two_snapshots_reordered_are_named(copy: tuple[Path, list[str]]) -> None:
    root, (_a, b, c, _d) = copy
    b_path, c_path = manifest_path(root, b), manifest_path(root, c)
    b_path.rename(b_path.with_name(f"00000003-{b}.json"))
    c_path.rename(c_path.with_name(f"00000002-{c}.json"))
    store = open_store(root)
    assert [m.id for m in store.list_snapshots()][1:3] == [c, b]
    first_bad, problems = verify(root)
    assert first_bad == c
    assert any("reordered" in p for p in problems)


def _forge(root: Path, ids: list[str], tmp_path: Path) -> str:
    """Build a plausible snapshot X that follows A, as an attacker with the tool would."""
    _a, b, c, d = ids
    workshop = tmp_path / "workshop"
    shutil.copytree(root, workshop)
    for snapshot_id in (b, c, d):
        manifest_path(workshop, snapshot_id).unlink()
    forged = write(
        open_store(workshop),
        [bucket(i, version=9) for i in range(6)],
        taken_at=START + timedelta(days=2),
    )
    shutil.copytree(workshop / "snapshots" / forged.id, root / "snapshots" / forged.id)
    shutil.copytree(workshop / "objects", root / "objects", dirs_exist_ok=True)
    return forged.id


def test_inserted_snapshot_is_named_when_the_rest_is_renumbered(
    copy: tuple[Path, list[str]], tmp_path: Path
) -> None:
    root, ids = copy
    forged = _forge(root, ids, tmp_path)
    for position, snapshot_id in reversed(list(enumerate(ids[1:], start=3))):
        path = manifest_path(root, snapshot_id)
        path.rename(path.with_name(f"{position:08d}-{snapshot_id}.json"))
    shutil.copy(
        manifest_path(tmp_path / "workshop", forged),
        root / "manifests" / f"00000002-{forged}.json",
    )
    store = open_store(root)
    assert [m.id for m in store.list_snapshots()] == [ids[0], forged, *ids[1:]]
    first_bad, problems = verify(root)
    assert first_bad == forged
    assert any("inserted" in p for p in problems)


def test_inserted_snapshot_is_named_when_it_shares_a_position(
    copy: tuple[Path, list[str]], tmp_path: Path
) -> None:
    root, ids = copy
    forged = _forge(root, ids, tmp_path)
    shutil.copy(
        manifest_path(tmp_path / "workshop", forged),
        root / "manifests" / f"00000002-{forged}.json",
    )
    first_bad, _problems = verify(root)
    assert first_bad == forged


def test_modified_newest_manifest_needs_an_anchor(copy: tuple[Path, list[str]]) -> None:
    root, (*_older, d) = copy
    path = manifest_path(root, d)
    anchor = open_store(root).manifest(d).sha256  # as recorded in a report manifest
    manifest = json.loads(path.read_bytes())
    manifest["tool_version"] = "9.9.9"
    path.write_bytes(canonical_json(manifest))
    first_bad, problems = verify(root, expected_head=anchor)
    assert first_bad == d and any("expected" in p for p in problems)
    # Its seal catches the change without an anchor too (an attacker can reseal: see signing).
    assert any("seal" in p and path.name in p for p in verify(root)[1])
    # Changing what it says about its documents is caught even without an anchor.
    manifest["counts"] = {"AWS::S3::Bucket": 5}
    path.write_bytes(canonical_json(manifest))
    first_bad, problems = verify(root)
    assert first_bad == d and any("counts" in p for p in problems)


def test_edited_manifest_that_breaks_canonical_form_is_named(
    copy: tuple[Path, list[str]],
) -> None:
    root, (*_older, d) = copy
    path = manifest_path(root, d)
    path.write_text(json.dumps(json.loads(path.read_bytes()), indent=2))
    first_bad, problems = verify(root)
    assert first_bad == d and "canonical" in problems[0]
