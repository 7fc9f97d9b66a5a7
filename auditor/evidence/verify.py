"""Walk the hash chain and name the first snapshot that was modified, removed, reordered or
inserted.

Position by position: the manifest's sha256 must be what the next snapshot recorded as its
previous; its chain record (hashed in the manifest) must carry the same position and links; every
file it lists must hash as listed; and, deeply, every document it contains must be present under
its content address. A mismatched link is classified by where the recorded hash *does* appear:
later in the chain (reordered), further back (the ones in between were inserted), at a snapshot
of that ID with a different hash (that manifest was modified), or nowhere (it was removed without
a tombstone). Tombstones written by `prune` stand in for removed snapshots.

The store's metadata is in the chain too: store.json records the salt's sha256 and carries a
seal; every chain record records the sha256 of store.json, salt and the newest void record. Void
records chain to each other and to the snapshot they void. The newest manifest has no successor
to vouch for it: its seal catches a changed byte, a detached signature (`.sig`, checked against
`trust_roots`) vouches for its author; `expected_head` (recorded in every report manifest) or S3
Object Lock pin it as well.

Only regular files are read (the backend refuses symlinks, FIFOs and devices), JSON records up
to a size limit and change sets up to the size their chain record states.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from auditor.evidence import documents as docs
from auditor.evidence import layout
from auditor.evidence.backend import UnsafeObjectError
from auditor.evidence.records import ChainEntry, ChainSource, ChainVerification, seal_matches
from auditor.evidence.signing import check_signature
from auditor.models import SnapshotManifest, canonical_json, parse_time, sha256_hex

MAX_RECORD_BYTES = 64 * 1024 * 1024  # the largest JSON record or document object read


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
    store: ChainSource,
    *,
    deep: bool = True,
    expected_head: str | None = None,
    trust_roots: tuple[bytes, ...] = (),
) -> ChainVerification:
    report = _Report()
    notes: list[str] = []
    for key, kind in store.backend.irregular():
        report.add(-1, key, f"is {kind}, not a regular file: refused, not read")
    try:
        positions, checked = _verify(store, report, deep, expected_head)
        _check_metadata(store, positions, report)
        _check_voids(store, positions, report)
        _check_signatures(store, positions, report, notes, trust_roots)
    except UnsafeObjectError as exc:
        report.add(-1, exc.key, f"{exc.why}: refused, not read (verification stopped here)")
        positions, checked = [], 0
    report.items.sort(key=lambda item: item[0])
    return ChainVerification(
        ok=not report.items,
        problems=[message for _pos, _id, message in report.items],
        first_bad=report.items[0][1] if report.items else None,
        snapshots_checked=len(positions),
        objects_checked=checked,
        notes=notes,
    )


def _verify(
    store: ChainSource, report: _Report, deep: bool, expected_head: str | None
) -> tuple[list[_Position], int]:
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
    return positions, len(checked_objects)


def _load(store: ChainSource, entry: ChainEntry, report: _Report, i: int) -> _Position:
    pos = _Position(entry=entry, live=entry.manifest_key is not None)
    if entry.manifest_key is None:
        return _load_tombstone(store, pos, report, i)
    try:
        raw = store.backend.read(entry.manifest_key, limit=MAX_RECORD_BYTES)
    except KeyError:
        report.add(i, entry.id, f"{entry.manifest_key} vanished while verifying")
        return pos
    pos.sha256 = sha256_hex(raw)
    try:
        manifest = SnapshotManifest.from_dict(json.loads(raw))
    except (ValueError, KeyError, TypeError) as exc:
        report.add(i, entry.id, f"{entry.manifest_key} is unreadable ({exc}): modified")
        return pos
    pos.manifest = manifest
    pos.previous_sha256 = manifest.previous_sha256
    pos.started_at, pos.finished_at = manifest.started_at, manifest.finished_at
    if manifest.id != entry.id:
        report.add(
            i, entry.id, f"{entry.manifest_key} holds snapshot {manifest.id}: renamed or swapped"
        )
    if raw != canonical_json(manifest.to_dict()):
        report.add(i, entry.id, f"{entry.manifest_key} is not in its canonical form: modified")
    elif manifest.seal is not None and not manifest.seal_ok:
        report.add(i, entry.id, f"{entry.manifest_key} does not match its seal: modified")
    if manifest.started_at > manifest.finished_at:
        report.add(i, entry.id, f"{entry.manifest_key} finished before it started: modified")
    chain_key = layout.chain_key(entry.id)
    try:
        chain_bytes = store.backend.read(chain_key, limit=MAX_RECORD_BYTES)
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
    if manifest.seal is None and "store_sha256" in pos.record:
        report.add(i, entry.id, f"{entry.manifest_key} has lost its seal: modified")
    if pos.record.get("previous_sha256") != manifest.previous_sha256:
        report.add(i, entry.id, "chain record and manifest disagree on the previous snapshot")
    if entry.tombstone_key is not None:  # prune interrupted between tombstone and delete
        tomb = _read_json(store, entry.tombstone_key)
        if tomb.get("manifest_sha256") != pos.sha256:
            report.add(i, entry.id, f"{entry.tombstone_key} and the manifest disagree: modified")
    return pos


def _load_tombstone(store: ChainSource, pos: _Position, report: _Report, i: int) -> _Position:
    entry = pos.entry
    tomb = _read_json(store, entry.tombstone_key or "")
    if not tomb:
        report.add(i, entry.id, f"tombstone {entry.tombstone_key} is missing or unreadable")
        return pos
    pos.sha256 = tomb.get("manifest_sha256")
    pos.previous_sha256 = tomb.get("previous_sha256")
    pos.previous_id = tomb.get("previous_id")
    try:
        pos.started_at = parse_time(str(tomb["started_at"]))
        pos.finished_at = parse_time(str(tomb["finished_at"]))
    except (KeyError, ValueError):
        report.add(i, entry.id, f"{entry.tombstone_key} lacks its times: modified")
    if tomb.get("id") != entry.id or tomb.get("sequence") != entry.sequence:
        report.add(
            i, entry.id, f"{entry.tombstone_key} names another snapshot or position: modified"
        )
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
        where = positions[k].entry.manifest_key or positions[k].entry.tombstone_key
        report.add(
            k,
            pos.previous_id,
            f"{where} hashes to {positions[k].sha256}, but {this} recorded "
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


def _check_files(store: ChainSource, i: int, pos: _Position, report: _Report) -> None:
    assert pos.manifest is not None
    folder = f"{layout.SNAPSHOTS}{pos.entry.id}/"
    for key, expected in pos.manifest.files.items():
        if not key.startswith(folder):
            report.add(i, pos.entry.id, f"lists {key}, outside its own folder: modified")
            continue
        limit = pos.record.get("documents_bytes") if key.endswith("documents.parquet") else None
        try:
            actual = sha256_hex(store.backend.read(key, limit=_int_or_none(limit)))
        except KeyError:
            report.add(i, pos.entry.id, f"{key} is missing: removed")
            continue
        except UnsafeObjectError as exc:
            report.add(i, pos.entry.id, f"{key}: {exc.why}: refused: modified")
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
    store: ChainSource,
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
        limit = _int_or_none(pos.record.get("documents_bytes"))
        blob = store.backend.read(layout.documents_key(this), limit=limit)
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
            digest = docs.object_digest(store.backend.read(key, limit=MAX_RECORD_BYTES))
        except KeyError:
            report.add(i, this, f"document object {key} is missing: removed")
            continue
        except Exception:
            report.add(i, this, f"document object {key} is unreadable: modified")
            continue
        if digest != row.sha256:
            report.add(i, this, f"document object {key} hashes to {digest}: modified")


def _read_json(store: ChainSource, key: str) -> dict[str, Any]:
    try:
        value = json.loads(store.backend.read(key, limit=MAX_RECORD_BYTES))
    except (KeyError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _sha_or_none(store: ChainSource, key: str) -> str | None:
    try:
        return sha256_hex(store.backend.read(key, limit=MAX_RECORD_BYTES))
    except KeyError:
        return None


def _check_metadata(store: ChainSource, positions: list[_Position], report: _Report) -> None:
    """store.json (its form, seal and the salt hash it records) and salt, against every chain
    record that recorded them. Each file is named once, however many records disagree."""
    store_sha = _sha_or_none(store, layout.STORE_FILE)
    salt_sha = _sha_or_none(store, layout.SALT_FILE)
    if store_sha is None:
        if positions:
            report.add(-1, layout.STORE_FILE, "is missing: removed")
        return
    raw = store.backend.read(layout.STORE_FILE, limit=MAX_RECORD_BYTES)
    try:
        marker = json.loads(raw)
        if not isinstance(marker, dict):
            raise ValueError("not an object")
    except ValueError as exc:
        report.add(-1, layout.STORE_FILE, f"is unreadable ({exc}): modified")
        marker = {}
    named: set[str] = set()
    if marker:
        if raw != canonical_json(marker) or marker.get("schema") != layout.STORE_SCHEMA:
            report.add(-1, layout.STORE_FILE, "is not in its canonical form: modified")
            named.add(layout.STORE_FILE)
        elif "seal" in marker and not seal_matches(marker):
            report.add(-1, layout.STORE_FILE, "does not match its seal: modified")
            named.add(layout.STORE_FILE)
        elif "salt_sha256" in marker and marker["salt_sha256"] != salt_sha:
            what = "is missing" if salt_sha is None else f"hashes to {salt_sha}"
            report.add(-1, layout.SALT_FILE, f"{what}, store.json records {marker['salt_sha256']}")
            named.add(layout.SALT_FILE)
    for i, pos in enumerate(positions):
        for name, actual, field_name in (
            (layout.STORE_FILE, store_sha, "store_sha256"),
            (layout.SALT_FILE, salt_sha, "salt_sha256"),
        ):
            recorded = pos.record.get(field_name)
            if recorded is not None and recorded != actual and name not in named:
                named.add(name)
                report.add(
                    i,
                    name,
                    f"hashes to {actual}, but {layout.chain_key(pos.entry.id)} recorded "
                    f"{recorded}: modified",
                )


def _check_voids(store: ChainSource, positions: list[_Position], report: _Report) -> None:
    """Void records: sealed, chained to each other, naming a snapshot of this chain by its
    manifest hash; and each chain record's view of them still holds."""
    by_id = {p.entry.id: p for p in positions}
    known_heads = {p.sha256 for p in positions if p.sha256}
    hashes: list[str] = []
    previous: str | None = None
    for key in store.void_keys():
        parsed = layout.parse_entry(key)
        assert parsed is not None
        number, snapshot_id = parsed
        raw = store.backend.read(key, limit=MAX_RECORD_BYTES)
        hashes.append(sha256_hex(raw))
        try:
            record = json.loads(raw)
            if not isinstance(record, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            report.add(len(positions), key, f"is unreadable ({exc}): modified")
            previous = hashes[-1]
            continue
        problem = None
        if raw != canonical_json(record) or record.get("schema") != layout.VOID_SCHEMA:
            problem = "is not in its canonical form: modified"
        elif not seal_matches(record):
            problem = "does not match its seal: modified"
        elif record.get("number") != number or record.get("snapshot_id") != snapshot_id:
            problem = "names another position or snapshot than its file name: modified"
        elif record.get("previous_sha256") != previous:
            problem = "does not follow the void record before it: inserted, removed or modified"
        elif snapshot_id not in by_id or by_id[snapshot_id].sha256 != record.get("manifest_sha256"):
            problem = f"voids a snapshot {snapshot_id} that is not in the chain as recorded"
        elif record.get("head_sha256") is not None and record["head_sha256"] not in known_heads:
            problem = "was appended to a chain head that is not in this chain: inserted"
        if problem:
            report.add(len(positions), key, problem)
        previous = hashes[-1]
    for i, pos in enumerate(positions):
        view = pos.record.get("voids")
        if not isinstance(view, dict):
            continue
        count, newest = view.get("count"), view.get("newest_sha256")
        if not isinstance(count, int) or count > len(hashes):
            report.add(
                i,
                pos.entry.id,
                f"{layout.chain_key(pos.entry.id)} counted {count} void record(s); "
                f"{len(hashes)} remain in {layout.VOIDS}: removed",
            )
        elif count and hashes[count - 1] != newest:
            report.add(
                i,
                pos.entry.id,
                f"void record {count} of {layout.VOIDS} differs from the one "
                f"{layout.chain_key(pos.entry.id)} recorded: modified",
            )


def _check_signatures(
    store: ChainSource,
    positions: list[_Position],
    report: _Report,
    notes: list[str],
    trust_roots: tuple[bytes, ...],
) -> None:
    """Every `.sig` must verify; with trust roots, the head records must carry a trusted one."""
    records = [p.entry.manifest_key for p in positions if p.entry.manifest_key]
    voids = store.void_keys()
    present = set(store.backend.keys(layout.MANIFESTS)) | set(store.backend.keys(layout.VOIDS))
    suffix = layout.SIGNATURE_SUFFIX
    for key in sorted(k for k in present if k.endswith(suffix)):
        if key[: -len(suffix)] not in present:
            report.add(len(positions), key, "signature without its record: record removed")
    heads = [k for k in (records[-1:] + voids[-1:]) if k]
    if not heads:
        return
    signers: set[str] = set()
    for key in [*records, *voids]:
        sig_key = key + suffix
        if sig_key not in present:
            continue
        sig = store.backend.read(sig_key, limit=MAX_RECORD_BYTES)
        check = check_signature(
            key, store.backend.read(key, limit=MAX_RECORD_BYTES), sig, trust_roots
        )
        if not check.intact:
            report.add(len(positions), sig_key, f"{check.problem} ({key})")
        elif trust_roots and not check.trusted:
            report.add(
                len(positions),
                sig_key,
                f"signed by {check.signer}, which no given trust root vouches for",
            )
        else:
            signers.add(check.signer)
    for key in heads:
        what = "newest manifest" if key.startswith(layout.MANIFESTS) else "newest void record"
        if key + suffix not in present:
            if trust_roots:
                report.add(
                    len(positions), key, f"the {what} is not signed, but --trust-root was given"
                )
            else:
                notes.append(f"the {what} {key} is vouched for only by its form (unsigned)")
    if signers:
        trust = "checked against the trust root" if trust_roots else "no --trust-root given"
        notes.append(f"signed by {', '.join(sorted(signers))} ({trust})")
