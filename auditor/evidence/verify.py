"""Walk the hash chain and name the first snapshot that was modified, removed, reordered or
inserted.

Position by position: the manifest's sha256 must be what the next snapshot recorded as its
previous; its chain record (hashed in the manifest) must carry the same position and links; every
file it lists must hash as listed; and, deeply, every document it contains must be present under
its content address. A mismatched link is classified by where the recorded hash *does* appear:
later in the chain (reordered), further back (the ones in between were inserted), at a snapshot
of that ID with a different hash (that manifest was modified), or nowhere (it was removed without
a tombstone). Tombstones written by `prune` stand in for removed snapshots.

The newest manifest has no successor to vouch for it: pass `expected_head` (recorded in every
report manifest) or keep the store on S3 with Object Lock to pin it.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from auditor.evidence import documents as docs
from auditor.evidence import layout
from auditor.models import SnapshotManifest, canonical_json, parse_time, sha256_hex

if TYPE_CHECKING:
    from auditor.evidence.store import ChainEntry, ChainVerification, EvidenceStore


@dataclass
class _Position:
    entry: ChainEntry
    sha256: str | None = None
    previous_sha256: str | None = None
    previous_id: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    manifest: SnapshotManifest | None = None
    record: dict[str, Any] = field(default_factory=dict)
    live: bool = True


class _Report:
    def __init__(self) -> None:
        self.items: list[tuple[float, str, str]] = []

    def add(self, position: float, snapshot_id: str, message: str) -> None:
        self.items.append((position, snapshot_id, f"{snapshot_id}: {message}"))


def verify_chain(
    store: EvidenceStore, *, deep: bool = True, expected_head: str | None = None
) -> ChainVerification:
    from auditor.evidence.store import ChainVerification

    report = _Report()
    entries = store.chain()
    positions = [_load(store, entry, report, i) for i, entry in enumerate(entries)]
    for key in store.stray_manifest_keys():
        report.add(len(entries), key, "file in the chain folders that is not a snapshot record")
    by_sha = {p.sha256: i for i, p in enumerate(positions) if p.sha256}
    by_id = {p.entry.id: i for i, p in enumerate(positions)}

    misplaced: set[str] = set()  # already reported as reordered; not "inserted" as well
    indexes: dict[str, dict[str, docs.IndexRow]] = {}
    checked_objects: set[str] = set()
    previous: _Position | None = None
    for i, pos in enumerate(positions):
        if pos.record and pos.record.get("sequence") != pos.entry.sequence:
            misplaced.add(pos.entry.id)
        _check_link(i, pos, previous, positions, by_sha, by_id, report, misplaced)
        if previous is not None:
            if pos.entry.sequence != previous.entry.sequence + 1 and pos.previous_sha256 == (
                previous.sha256
            ):
                report.add(i, pos.entry.id, "position number skips or repeats: renumbered")
            if pos.started_at and previous.finished_at and pos.started_at < previous.finished_at:
                report.add(
                    i, pos.entry.id, "started before the previous snapshot finished: out of order"
                )
        if pos.live and pos.manifest is not None:
            _check_files(store, i, pos, report)
            if deep:
                _check_documents(store, i, pos, report, indexes, checked_objects)
        previous = pos

    if expected_head is not None and positions and positions[-1].sha256 != expected_head:
        last = positions[-1]
        report.add(
            len(positions) - 1,
            last.entry.id,
            f"newest manifest hashes to {last.sha256}, expected {expected_head}: modified",
        )
    report.items.sort(key=lambda item: item[0])
    return ChainVerification(
        ok=not report.items,
        problems=[message for _pos, _id, message in report.items],
        first_bad=report.items[0][1] if report.items else None,
        snapshots_checked=len(positions),
        objects_checked=len(checked_objects),
    )


def _load(store: EvidenceStore, entry: ChainEntry, report: _Report, i: int) -> _Position:
    pos = _Position(entry=entry, live=entry.manifest_key is not None)
    if entry.manifest_key is None:
        return _load_tombstone(store, pos, report, i)
    try:
        raw = store.backend.read(entry.manifest_key)
    except KeyError:
        report.add(i, entry.id, "manifest vanished while verifying")
        return pos
    pos.sha256 = sha256_hex(raw)
    try:
        manifest = SnapshotManifest.from_dict(json.loads(raw))
    except (ValueError, KeyError, TypeError) as exc:
        report.add(i, entry.id, f"manifest is unreadable ({exc}): modified")
        return pos
    pos.manifest = manifest
    pos.previous_sha256 = manifest.previous_sha256
    pos.started_at, pos.finished_at = manifest.started_at, manifest.finished_at
    if manifest.id != entry.id:
        report.add(i, entry.id, f"manifest holds snapshot {manifest.id}: renamed or swapped")
    if raw != canonical_json(manifest.to_dict()):
        report.add(i, entry.id, "manifest is not in its canonical form: modified")
    if manifest.started_at > manifest.finished_at:
        report.add(i, entry.id, "finished before it started: modified")
    chain_key = layout.chain_key(entry.id)
    try:
        chain_bytes = store.backend.read(chain_key)
        pos.record = json.loads(chain_bytes)
    except (KeyError, ValueError):
        report.add(i, entry.id, f"chain record {chain_key} is missing or unreadable")
        return pos
    if manifest.files.get(chain_key) != sha256_hex(chain_bytes):
        report.add(i, entry.id, f"{chain_key} does not match the manifest: modified")
    pos.previous_id = pos.record.get("previous_id")
    if pos.record.get("sequence") != entry.sequence or pos.record.get("id") != entry.id:
        report.add(
            i,
            entry.id,
            f"stored at position {entry.sequence} but recorded at position "
            f"{pos.record.get('sequence')} as {pos.record.get('id')}: reordered",
        )
    if pos.record.get("previous_sha256") != manifest.previous_sha256:
        report.add(i, entry.id, "chain record and manifest disagree on the previous snapshot")
    if entry.tombstone_key is not None:  # prune interrupted between tombstone and delete
        tomb = _read_json(store, entry.tombstone_key)
        if tomb.get("manifest_sha256") != pos.sha256:
            report.add(i, entry.id, "tombstone and manifest disagree: modified")
    return pos


def _load_tombstone(store: EvidenceStore, pos: _Position, report: _Report, i: int) -> _Position:
    entry = pos.entry
    tomb = _read_json(store, entry.tombstone_key or "")
    if not tomb:
        report.add(i, entry.id, "tombstone is missing or unreadable")
        return pos
    pos.sha256 = tomb.get("manifest_sha256")
    pos.previous_sha256 = tomb.get("previous_sha256")
    pos.previous_id = tomb.get("previous_id")
    try:
        pos.started_at = parse_time(str(tomb["started_at"]))
        pos.finished_at = parse_time(str(tomb["finished_at"]))
    except (KeyError, ValueError):
        report.add(i, entry.id, "tombstone lacks its times: modified")
    if tomb.get("id") != entry.id or tomb.get("sequence") != entry.sequence:
        report.add(i, entry.id, "tombstone names another snapshot or position: modified")
    return pos


def _check_link(
    i: int,
    pos: _Position,
    previous: _Position | None,
    positions: list[_Position],
    by_sha: dict[str, int],
    by_id: dict[str, int],
    report: _Report,
    misplaced: set[str],
) -> None:
    expected = previous.sha256 if previous else None
    if pos.previous_sha256 == expected:
        return
    this = pos.entry.id
    if pos.previous_sha256 is None:
        report.add(i, this, "claims to be the first snapshot but is not: inserted")
        return
    j = by_sha.get(pos.previous_sha256)
    if j is not None and j > i:
        misplaced.add(this)
        report.add(i, this, f"placed before {positions[j].entry.id}, which it follows: reordered")
    elif j is not None and j < i - 1:
        inserted = [p.entry.id for p in positions[j + 1 : i]]
        if set(inserted) <= misplaced:
            return
        report.add(
            j + 1,
            inserted[0],
            f"not in the chain ({positions[j].entry.id} is followed by {this}): inserted"
            + (f" together with {', '.join(inserted[1:])}" if len(inserted) > 1 else ""),
        )
    elif pos.previous_id is not None and pos.previous_id in by_id:
        k = by_id[pos.previous_id]
        report.add(
            k,
            pos.previous_id,
            f"manifest hashes to {positions[k].sha256}, but {this} recorded "
            f"{pos.previous_sha256}: modified",
        )
    elif pos.previous_id is not None:
        report.add(
            i - 0.5,
            pos.previous_id,
            f"missing, with no tombstone ({this} follows it): removed",
        )
    else:
        report.add(i, this, f"its previous manifest {pos.previous_sha256} is nowhere: inserted")


def _check_files(store: EvidenceStore, i: int, pos: _Position, report: _Report) -> None:
    assert pos.manifest is not None
    folder = f"{layout.SNAPSHOTS}{pos.entry.id}/"
    for key, expected in pos.manifest.files.items():
        if not key.startswith(folder):
            report.add(i, pos.entry.id, f"lists {key}, outside its own folder: modified")
            continue
        try:
            actual = sha256_hex(store.backend.read(key))
        except KeyError:
            report.add(i, pos.entry.id, f"{key} is missing: removed")
            continue
        if actual != expected:
            report.add(i, pos.entry.id, f"{key} hashes to {actual}, manifest says {expected}")
    base = pos.record.get("base")
    if base:
        for key, field_name in (
            (layout.documents_key(str(base["id"])), "documents_sha256"),
            (layout.chain_key(str(base["id"])), "chain_sha256"),
        ):
            try:
                actual = sha256_hex(store.backend.read(key))
            except KeyError:
                report.add(i, pos.entry.id, f"base file {key} is missing: removed")
                continue
            if actual != base.get(field_name):
                report.add(i, pos.entry.id, f"base file {key} does not match: modified")


def _check_documents(
    store: EvidenceStore,
    i: int,
    pos: _Position,
    report: _Report,
    indexes: dict[str, dict[str, docs.IndexRow]],
    checked_objects: set[str],
) -> None:
    """Rebuild the snapshot's document set, compare counts, and check every object once."""
    assert pos.manifest is not None
    this = pos.entry.id
    try:
        blob = store.backend.read(layout.documents_key(this))
        base = pos.record.get("base")
        if base:
            base_id = str(base["id"])
            state = dict(indexes.get(base_id) or store.document_index(base_id))
        else:
            state = {}
        for raw in docs.read_rows(blob):
            if raw["op"] == docs.PUT:
                if docs.row_document(raw).sha256 != raw["sha256"]:
                    report.add(i, this, f"document {raw['key']} does not match its hash")
                state[raw["key"]] = docs.IndexRow(raw["key"], raw["resource_type"], raw["sha256"])
            else:
                state.pop(raw["key"], None)
    except Exception as exc:  # any unreadable part is a verdict about this snapshot
        report.add(i, this, f"documents cannot be rebuilt ({type(exc).__name__}: {exc})")
        return
    indexes[this] = state
    counts = Counter(row.resource_type for row in state.values())
    if dict(counts) != dict(pos.manifest.counts):
        report.add(i, this, "document counts differ from the manifest: modified")
    for row in state.values():
        if row.sha256 in checked_objects:
            continue
        checked_objects.add(row.sha256)
        key = docs.object_key(row.sha256)
        try:
            digest = docs.object_digest(store.backend.read(key))
        except KeyError:
            report.add(i, this, f"document object {key} is missing: removed")
            continue
        except Exception:
            report.add(i, this, f"document object {key} is unreadable: modified")
            continue
        if digest != row.sha256:
            report.add(i, this, f"document object {key} hashes to {digest}: modified")


def _read_json(store: EvidenceStore, key: str) -> dict[str, Any]:
    try:
        value = json.loads(store.backend.read(key))
    except (KeyError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}
