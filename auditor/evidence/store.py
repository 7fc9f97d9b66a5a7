"""The evidence store: snapshots as hash-chained manifests over content-addressed documents.

Each snapshot's manifest records the sha256 of the manifest before it (like CloudTrail digest
files), and every file of the snapshot with its sha256; the Parquet change set records the hash
of every document it adds. So one hash, the newest manifest's, vouches for everything stored.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

from auditor import __version__
from auditor.errors import RunError, UserError
from auditor.evidence import documents as docs
from auditor.evidence import layout
from auditor.evidence.backend import Backend, LockedObjectError
from auditor.evidence.records import ChainEntry, ChainVerification, sealed
from auditor.evidence.signing import StoreSigner, load_key, signature_for
from auditor.evidence.verify import verify_chain
from auditor.models import (
    CollectionError,
    EvidenceDoc,
    Snapshot,
    SnapshotManifest,
    canonical_json,
    isoformat,
    parse_time,
    sha256_hex,
    utcnow,
)

DEFAULT_LOCK_TIMEOUT = 300.0
# A delta snapshot is written in full again once the change rows since the last full one exceed
# this share of the documents, or after this many deltas: bounds the work of reading one back.
REBASE_SHARE = 0.5
MAX_DELTA_DEPTH = 52


class EvidenceStore:
    """Open with `auditor.evidence.open_store`; every method is safe to call on an empty store."""

    def __init__(
        self,
        backend: Backend,
        *,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        signer: StoreSigner | None = None,
    ) -> None:
        self.backend = backend
        self.lock_timeout = lock_timeout
        self._salt: bytes | None = None
        self.signer = signer
        self._signing_key: tuple[Any, Any] | None = None

    @property
    def url(self) -> str:
        return self.backend.url

    def __repr__(self) -> str:
        return f"EvidenceStore({self.url!r})"

    # ------------------------------------------------------------------ setup

    def _ensure_created(self) -> None:
        if self.backend.exists(layout.STORE_FILE):
            return
        self.backend.write_new(layout.SALT_FILE, _random_salt(), retain=False)
        marker = {
            "schema": layout.STORE_SCHEMA,
            "created_at": isoformat(utcnow()),
            "salt_sha256": sha256_hex(self.backend.read(layout.SALT_FILE)),
        }
        self.backend.write_new(layout.STORE_FILE, canonical_json(sealed(marker)), retain=False)
        self.backend.sync()

    def _sign(self, key: str, data: bytes) -> None:
        """Write `key`.sig before the record itself, so a signed store never shows a committed
        record without its signature (a killed run leaves at most an orphan .sig)."""
        if self.signer is None:
            return
        self.backend.write(
            key + layout.SIGNATURE_SUFFIX, signature_for(key, data, self._signing_material())
        )

    def _signing_material(self) -> tuple[Any, Any]:
        """The loaded key and certificate; loaded before any work, so a wrong passphrase stops
        a run at its start, not at its commit."""
        if self._signing_key is None:
            assert self.signer is not None
            self._signing_key = load_key(self.signer)
        return self._signing_key

    def redaction_salt(self) -> bytes:
        """The store's random salt: redaction hashes are stable within a store, unlinkable
        across stores. Created with the store (0600 locally, SSE-KMS on S3)."""
        if self._salt is None:
            try:
                self._salt = self.backend.read(layout.SALT_FILE)
            except KeyError:
                self._ensure_created()
                self._salt = self.backend.read(layout.SALT_FILE)
        return self._salt

    # ------------------------------------------------------------------ reading

    def chain(self) -> list[ChainEntry]:
        """Every position of the chain, manifests and tombstones, in sequence order."""
        found: dict[tuple[int, str], dict[str, str]] = {}
        for prefix, kind in ((layout.MANIFESTS, "manifest"), (layout.TOMBSTONES, "tombstone")):
            for key in self.backend.keys(prefix):
                parsed = layout.parse_entry(key)
                if parsed is not None:
                    found.setdefault(parsed, {})[kind] = key
        return [
            ChainEntry(seq, sid, keys.get("manifest"), keys.get("tombstone"))
            for (seq, sid), keys in sorted(found.items())
        ]

    def stray_manifest_keys(self) -> list[str]:
        """Keys under manifests/, tombstones/ or voids/ whose names are not ours (for verify);
        signatures are checked on their own."""
        return [
            key
            for prefix in (layout.MANIFESTS, layout.TOMBSTONES, layout.VOIDS)
            for key in self.backend.keys(prefix)
            if layout.parse_entry(key) is None
            and not (prefix != layout.TOMBSTONES and key.endswith(layout.SIGNATURE_SUFFIX))
        ]

    def void_keys(self) -> list[str]:
        return [k for k in self.backend.keys(layout.VOIDS) if layout.parse_entry(k) is not None]

    def voids(self) -> list[dict[str, Any]]:
        """Void records in the order they were appended."""
        return [self._read_json(key) for key in self.void_keys()]

    def voided(self) -> dict[str, dict[str, Any]]:
        """Snapshot ID -> its void record (reason, voided_at, ...)."""
        return {str(record.get("snapshot_id")): record for record in self.voids()}

    def void(self, snapshot_id: str, reason: str, now: datetime | None = None) -> dict[str, Any]:
        """Exclude a snapshot from evaluation by appending a chained, sealed void record.

        Nothing is deleted or rewritten: the record names the snapshot's manifest hash, the
        void record before it and the chain's head; later chain records include it.
        """
        reason = reason.strip()
        if not reason:
            raise UserError("a void needs a reason", field="--reason")
        if self.signer is not None:
            self._signing_material()
        with self.backend.lock(self.lock_timeout):
            self._ensure_created()
            entry = self.resolve(snapshot_id)
            manifest_sha = sha256_hex(self.backend.read(_key(entry)))
            keys = self.void_keys()
            already = [k for k in keys if (layout.parse_entry(k) or (0, ""))[1] == entry.id]
            if already:
                raise UserError(f"snapshot {entry.id} is already voided ({already[0]})")
            previous = sha256_hex(self.backend.read(keys[-1])) if keys else None
            number = (layout.parse_entry(keys[-1]) or (0, ""))[0] + 1 if keys else 1
            record = {
                "schema": layout.VOID_SCHEMA,
                "number": number,
                "snapshot_id": entry.id,
                "manifest_sha256": manifest_sha,
                "reason": reason,
                "voided_at": isoformat(now or utcnow()),
                "previous_sha256": previous,
                "head_sha256": self._head_sha256(self.chain()),
            }
            data = canonical_json(sealed(record))
            key = layout.void_key(number, entry.id)
            self._sign(key, data)
            if not self.backend.write_new(key, data):
                raise RunError(
                    f"{key} already exists in {self.url}; the store lock was not respected"
                )
            self.backend.sync()
            return json.loads(data)

    def _head_sha256(self, entries: list[ChainEntry]) -> str | None:
        if not entries:
            return None
        head = entries[-1]
        if head.manifest_key is not None:
            return sha256_hex(self.backend.read(head.manifest_key))
        return str(self._read_json(_key(head, tombstone=True)).get("manifest_sha256"))

    def _voids_head(self) -> dict[str, Any]:
        keys = self.void_keys()
        return {
            "count": len(keys),
            "newest_sha256": sha256_hex(self.backend.read(keys[-1])) if keys else None,
        }

    def _read_manifest(self, key: str) -> SnapshotManifest:
        return SnapshotManifest.from_dict(json.loads(self.backend.read(key)))

    def _read_json(self, key: str) -> dict[str, Any]:
        value = json.loads(self.backend.read(key))
        if not isinstance(value, dict):
            raise ValueError(f"{key} is not a JSON object")
        return value

    def list_snapshots(self) -> list[SnapshotManifest]:
        """Live snapshots in chain order, oldest first."""
        return [
            self._read_manifest(entry.manifest_key)
            for entry in self.chain()
            if entry.manifest_key is not None
        ]

    def list_tombstones(self) -> list[dict[str, Any]]:
        return [
            self._read_json(entry.tombstone_key)
            for entry in self.chain()
            if entry.tombstone_key is not None and entry.manifest_key is None
        ]

    def resolve(self, snapshot_id: str, provider: str | None = None) -> ChainEntry:
        """A live snapshot by ID, unique ID prefix, or `latest` (optionally per provider)."""
        live = [e for e in self.chain() if e.manifest_key is not None]
        if snapshot_id == "latest":
            for entry in reversed(live):
                if provider is None or self._read_manifest(_key(entry)).provider == provider:
                    return entry
            scope = f" for provider {provider}" if provider else ""
            raise UserError(f"no snapshot in store {self.url}{scope}")
        matches = [e for e in live if e.id == snapshot_id] or [
            e for e in live if e.id.startswith(snapshot_id)
        ]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise UserError(f"snapshot ID {snapshot_id!r} is ambiguous in store {self.url}")
        if any(e.id == snapshot_id and e.manifest_key is None for e in self.chain()):
            raise UserError(f"snapshot {snapshot_id} was pruned from store {self.url}")
        raise UserError(f"no snapshot {snapshot_id!r} in store {self.url}")

    def manifest(self, snapshot_id: str, provider: str | None = None) -> SnapshotManifest:
        return self._read_manifest(_key(self.resolve(snapshot_id, provider)))

    def load_snapshot(self, snapshot_id: str, provider: str | None = None) -> Snapshot:
        """The manifest and every document of a snapshot (ID, ID prefix or `latest`)."""
        entry = self.resolve(snapshot_id, provider)
        manifest = self._read_manifest(_key(entry))
        state: dict[str, dict[str, Any]] = {}
        for link in self._delta_path(entry.id):
            docs.apply_rows(state, docs.read_rows(self.backend.read(layout.documents_key(link))))
        documents = tuple(docs.row_document(state[k]) for k in sorted(state))
        return Snapshot(manifest=manifest, documents=documents)

    def chain_record(self, snapshot_id: str) -> dict[str, Any]:
        return self._read_json(layout.chain_key(snapshot_id))

    def _delta_path(self, snapshot_id: str) -> list[str]:
        """Snapshot IDs whose change sets rebuild this one: the full one first."""
        path = [snapshot_id]
        record = self.chain_record(snapshot_id)
        while record.get("base"):
            base_id = str(record["base"]["id"])
            if base_id in path or len(path) > MAX_DELTA_DEPTH + 1:
                raise RunError(f"snapshot {snapshot_id}: delta chain loops at {base_id}")
            path.append(base_id)
            record = self.chain_record(base_id)
        return list(reversed(path))

    def document_index(self, snapshot_id: str) -> dict[str, docs.IndexRow]:
        """Document key -> (type, sha256) for every document of a snapshot."""
        state: dict[str, docs.IndexRow] = {}
        for link in self._delta_path(snapshot_id):
            docs.apply_index(state, docs.read_index(self.backend.read(layout.documents_key(link))))
        return state

    def put_documents(self, documents: Iterable[EvidenceDoc]) -> list[docs.StoredDocument]:
        """Write documents' objects (idempotent: the name is the content's hash) and return the
        entries a `SnapshotWriter` records with `add_entries`.

        Needs no lock and makes no snapshot: a worker of a distributed run calls it on its own
        store handle while the driver holds the lock and alone commits the manifest. An object
        written by a run that is then discarded is an orphan that `prune` collects.
        """
        entries: list[docs.StoredDocument] = []
        for doc in documents:
            created = self.backend.write_new(docs.object_key(doc.sha256), docs.encode_object(doc))
            entries.append(docs.StoredDocument.of(doc, created=created))
        return entries

    def read_object(self, sha256: str) -> EvidenceDoc:
        return docs.decode_object(self.backend.read(docs.object_key(sha256)))

    def total_bytes(self) -> int:
        return self.backend.total_bytes()

    # ------------------------------------------------------------------ writing

    def begin_snapshot(
        self,
        provider: str,
        scope: Mapping[str, Any],
        catalog_sha256: str,
        taken_at: datetime | None = None,
    ) -> SnapshotWriter:
        """Take the store lock and open a writer; commit on clean exit of its `with` block.

        `taken_at` backdates the snapshot (the demo's simulated quarter); it must not be earlier
        than the newest snapshot already in the chain.
        """
        if self.signer is not None:
            self._signing_material()
        stack = contextlib.ExitStack()
        stack.enter_context(self.backend.lock(self.lock_timeout))
        try:
            self._ensure_created()
            self._remove_leftovers()
            return self._open_writer(stack, provider, dict(scope), catalog_sha256, taken_at)
        except BaseException:
            stack.close()
            raise

    def _open_writer(
        self,
        stack: contextlib.ExitStack,
        provider: str,
        scope: dict[str, Any],
        catalog_sha256: str,
        taken_at: datetime | None,
    ) -> SnapshotWriter:
        entries = self.chain()
        previous_id: str | None = None
        previous_sha: str | None = None
        newest: datetime | None = None
        if entries:
            head = entries[-1]
            previous_id = head.id
            if head.manifest_key is not None:
                head_bytes = self.backend.read(head.manifest_key)
                previous_sha = sha256_hex(head_bytes)
                newest = SnapshotManifest.from_dict(json.loads(head_bytes)).finished_at
            else:
                tomb = self._read_json(_key(head, tombstone=True))
                previous_sha = str(tomb["manifest_sha256"])
                newest = parse_time(str(tomb["finished_at"]))
        clock = utcnow()
        started = (taken_at or clock).astimezone(UTC).replace(microsecond=0)
        if newest is not None and started < newest:
            if taken_at is not None:
                raise UserError(
                    f"taken_at {isoformat(started)} is earlier than the newest snapshot "
                    f"{previous_id} ({isoformat(newest)}); snapshots must stay in time order"
                )
            raise RunError(
                f"the clock ({isoformat(started)}) is behind the newest snapshot {previous_id} "
                f"({isoformat(newest)}) in {self.url}; fix the clock before taking a snapshot"
            )
        base = self._choose_base(entries, provider, scope)
        return SnapshotWriter(
            store=self,
            stack=stack,
            sequence=(entries[-1].sequence + 1) if entries else 1,
            snapshot_id=layout.new_snapshot_id(started, provider),
            provider=provider,
            scope=scope,
            catalog_sha256=catalog_sha256,
            started_at=started,
            clock_started=clock,
            previous_id=previous_id,
            previous_sha256=previous_sha,
            base=base,
        )

    def _choose_base(
        self, entries: list[ChainEntry], provider: str, scope: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """The newest live snapshot of the same provider and scope, unless it is time for a
        full one."""
        wanted = canonical_json(dict(scope))
        for entry in reversed(entries):
            if entry.manifest_key is None:
                continue
            manifest = self._read_manifest(entry.manifest_key)
            if manifest.provider != provider or canonical_json(dict(manifest.scope)) != wanted:
                continue
            record = self.chain_record(entry.id)
            depth = int(record.get("depth", 0))
            since_full = int(record.get("rows_since_full", 0))
            if depth >= MAX_DELTA_DEPTH or since_full > REBASE_SHARE * max(
                int(record.get("documents", 0)), 1
            ):
                return None
            return {
                "id": entry.id,
                "depth": depth,
                "rows_since_full": since_full,
                "documents_sha256": sha256_hex(self.backend.read(layout.documents_key(entry.id))),
                "chain_sha256": sha256_hex(self.backend.read(layout.chain_key(entry.id))),
            }
        return None

    def _remove_leftovers(self) -> None:
        """Called with the lock held: temp files and snapshot folders no manifest names
        (a run killed before its commit). Orphan objects are left for `prune` to collect."""
        self.backend.clean_scratch()
        known = {entry.id for entry in self.chain()}
        for prefix in (layout.MANIFESTS, layout.VOIDS):
            present = set(self.backend.keys(prefix))
            for key in present:
                if key.endswith(layout.SIGNATURE_SUFFIX) and (
                    key[: -len(layout.SIGNATURE_SUFFIX)] not in present
                ):
                    with contextlib.suppress(LockedObjectError):
                        self.backend.delete(key)  # signed, then killed before the commit
        for key in self.backend.keys(layout.SNAPSHOTS):
            owner = layout.snapshot_of(key)
            if owner is not None and owner not in known:
                with contextlib.suppress(LockedObjectError):
                    self.backend.delete(key)

    # ------------------------------------------------------------------ integrity

    def verify(
        self,
        *,
        deep: bool = True,
        expected_head: str | None = None,
        trust_roots: tuple[bytes, ...] = (),
    ) -> ChainVerification:
        """Walk the chain; see `auditor.evidence.verify`."""
        return verify_chain(self, deep=deep, expected_head=expected_head, trust_roots=trust_roots)

    def prune(self, older_than_days: int, now: datetime | None = None) -> list[str]:
        """Remove snapshots finished more than `older_than_days` ago, leaving tombstones.

        Never removes the newest snapshot of a provider, anything under retention, or a change
        set a newer snapshot is built on; documents no snapshot references are collected.
        """
        if older_than_days < 0:
            raise UserError(f"--older-than must be zero or more days, not {older_than_days}")
        moment = now or datetime.now(UTC)
        cutoff = moment - timedelta(days=older_than_days)
        with self.backend.lock(self.lock_timeout):
            entries = self.chain()
            live = [e for e in entries if e.manifest_key is not None]
            manifests = {e.id: self._read_manifest(_key(e)) for e in live}
            newest_per_provider = {manifests[e.id].provider: e.id for e in live}
            pruned: list[str] = []
            for entry in live:
                manifest = manifests[entry.id]
                if entry.id in newest_per_provider.values() or manifest.finished_at >= cutoff:
                    continue
                if self._is_locked([_key(entry), *manifest.files]):
                    continue
                self._write_tombstone(entry, manifest, moment)
                with contextlib.suppress(LockedObjectError):
                    self.backend.delete(_key(entry))
                pruned.append(entry.id)
            if pruned:
                self._collect_garbage()
            self.backend.sync()
            return pruned

    def _is_locked(self, keys: list[str]) -> bool:
        now = datetime.now(UTC)
        return any((until := self.backend.retained_until(k)) and until > now for k in keys)

    def _write_tombstone(
        self, entry: ChainEntry, manifest: SnapshotManifest, moment: datetime
    ) -> None:
        manifest_bytes = self.backend.read(_key(entry))
        try:
            previous_id = self.chain_record(entry.id).get("previous_id")
        except (KeyError, ValueError):
            previous_id = None
        tombstone = {
            "schema": layout.TOMBSTONE_SCHEMA,
            "id": entry.id,
            "sequence": entry.sequence,
            "provider": manifest.provider,
            "manifest_sha256": sha256_hex(manifest_bytes),
            "previous_id": previous_id,
            "previous_sha256": manifest.previous_sha256,
            "started_at": isoformat(manifest.started_at),
            "finished_at": isoformat(manifest.finished_at),
            "pruned_at": isoformat(moment),
        }
        self.backend.write_new(
            layout.tombstone_key(entry.sequence, entry.id), canonical_json(tombstone)
        )
        self.backend.sync()

    def _collect_garbage(self) -> None:
        """Delete change sets and objects that no live snapshot needs any more."""
        needed_snapshots: set[str] = set()
        needed_objects: set[str] = set()
        for entry in self.chain():
            if entry.manifest_key is None:
                continue
            needed_snapshots.update(self._delta_path(entry.id))
            needed_objects.update(row.sha256 for row in self.document_index(entry.id).values())
        for key in self.backend.keys(layout.SNAPSHOTS):
            owner = layout.snapshot_of(key)
            if owner is not None and owner not in needed_snapshots:
                with contextlib.suppress(LockedObjectError):
                    self.backend.delete(key)
        for key in self.backend.keys(layout.OBJECTS):
            sha = key.rsplit("/", 1)[-1].split(".", 1)[0]
            if sha not in needed_objects:
                with contextlib.suppress(LockedObjectError):
                    self.backend.delete(key)


class SnapshotWriter:
    """The EvidenceSink of one collection run. Documents stream to objects and to the Parquet
    change set as they arrive; the manifest is written only by a clean `__exit__`."""

    def __init__(
        self,
        *,
        store: EvidenceStore,
        stack: contextlib.ExitStack,
        sequence: int,
        snapshot_id: str,
        provider: str,
        scope: dict[str, Any],
        catalog_sha256: str,
        started_at: datetime,
        clock_started: datetime,
        previous_id: str | None,
        previous_sha256: str | None,
        base: dict[str, Any] | None,
    ) -> None:
        self.store = store
        self.id = snapshot_id
        self.sequence = sequence
        self.provider = provider
        self.scope = scope
        self.catalog_sha256 = catalog_sha256
        self.started_at = started_at
        self._clock_started = clock_started
        self.previous_id = previous_id
        self.previous_sha256 = previous_sha256
        self._stack = stack
        self._backend = store.backend
        self._mutex = threading.Lock()
        self._base = base
        self._base_index = store.document_index(base["id"]) if base else {}
        self._known_objects = {row.sha256 for row in self._base_index.values()}
        self._seen: set[str] = set()
        self._occurrences: Counter[tuple[str, str, str, str]] = Counter()
        self._counts: Counter[str] = Counter()
        self._errors: list[CollectionError] = []
        self._stats: dict[str, Any] = {}
        self._extra: dict[str, Any] = {}  # provenance, warnings, incomplete (manifest fields)
        self._new_objects = 0
        self._written: list[str] = []  # objects this run created: removed again if discarded
        self._parquet_path = self._backend.scratch_file(".parquet")
        self._changes = docs.ChangeSetWriter(self._parquet_path)
        self._manifest: SnapshotManifest | None = None
        self._closed = False

    # EvidenceSink ------------------------------------------------------------

    def add(self, doc: EvidenceDoc) -> None:
        with self._mutex:
            self._check_open()
            identity = (doc.resource_type, doc.account, doc.region, doc.resource_id)
            key = docs.document_key(doc, self._occurrences[identity])
            self._occurrences[identity] += 1
            sha = doc.sha256
            if sha not in self._known_objects:
                if self._backend.write_new(docs.object_key(sha), docs.encode_object(doc)):
                    self._new_objects += 1
                    self._written.append(docs.object_key(sha))
                self._known_objects.add(sha)
            self._seen.add(key)
            self._counts[doc.resource_type] += 1
            previous = self._base_index.get(key)
            if previous is None or previous.sha256 != sha:
                self._changes.put(key, doc)

    def add_entries(self, entries: Iterable[docs.StoredDocument]) -> None:
        """Documents a worker already put into the store (`EvidenceStore.put_documents`): only
        their index rows are recorded here, exactly as `add` would have."""
        with self._mutex:
            self._check_open()
            for entry in entries:
                identity = (entry.resource_type, entry.account, entry.region, entry.resource_id)
                key = docs.document_key(entry, self._occurrences[identity])
                self._occurrences[identity] += 1
                sha = entry.sha256
                if entry.created and sha not in self._known_objects:
                    self._new_objects += 1
                    self._written.append(docs.object_key(sha))
                self._known_objects.add(sha)
                self._seen.add(key)
                self._counts[entry.resource_type] += 1
                previous = self._base_index.get(key)
                if previous is None or previous.sha256 != sha:
                    self._changes.put_entry(key, entry)

    def add_error(self, error: CollectionError) -> None:
        with self._mutex:
            self._check_open()
            self._errors.append(error)

    def set_stats(self, stats: Mapping[str, Any]) -> None:
        """Collector statistics (calls, pages, rejected lines, ...) for the manifest."""
        with self._mutex:
            self._stats = json.loads(canonical_json(dict(stats)))

    def set_manifest_fields(self, **fields: Any) -> None:
        """Optional manifest fields the conductor works out: provenance, warnings, incomplete."""
        with self._mutex:
            self._extra.update(fields)

    def _check_open(self) -> None:
        if self._closed:
            raise RunError(f"snapshot {self.id} is already closed")

    # lifecycle ---------------------------------------------------------------

    @property
    def manifest(self) -> SnapshotManifest:
        if self._manifest is None:
            raise RunError(f"snapshot {self.id} has not been committed")
        return self._manifest

    def __enter__(self) -> SnapshotWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()

    def discard(self) -> None:
        """Drop the run: nothing becomes visible; the lock is released."""
        if self._closed:
            return
        self._closed = True
        try:
            self._changes.abort()
            for key in self._written:  # no manifest names them; the store stays as it was
                with contextlib.suppress(Exception):
                    self._backend.delete(key)
        finally:
            self._stack.close()

    def commit(self) -> SnapshotManifest:
        """Write change set, chain record and (last) the manifest, then release the lock."""
        with self._mutex:
            self._check_open()
            self._closed = True
        try:
            manifest = self._commit()
        except BaseException:
            with contextlib.suppress(Exception):
                self._changes.abort()
            self._stack.close()
            raise
        self._stack.close()
        self._manifest = manifest
        return manifest

    def _commit(self) -> SnapshotManifest:
        for key, row in self._base_index.items():
            if key not in self._seen:
                self._changes.delete(key, row.sha256, self.provider)
        self._changes.close()
        rows = self._changes.rows_written
        documents_key = layout.documents_key(self.id)
        documents_sha = sha256_hex(self._parquet_path.read_bytes())
        self._documents_bytes = self._parquet_path.stat().st_size
        self._backend.write_file(documents_key, self._parquet_path)
        base = self._base
        record = {
            "schema": layout.CHAIN_SCHEMA,
            "id": self.id,
            "sequence": self.sequence,
            "previous_id": self.previous_id,
            "previous_sha256": self.previous_sha256,
            "base": None
            if base is None
            else {
                "id": base["id"],
                "documents_sha256": base["documents_sha256"],
                "chain_sha256": base["chain_sha256"],
            },
            "depth": 0 if base is None else base["depth"] + 1,
            "rows_since_full": 0 if base is None else base["rows_since_full"] + rows,
            "documents": sum(self._counts.values()),
            # The store's own metadata and the void records, inside the chain:
            "documents_bytes": self._documents_bytes,
            "store_sha256": sha256_hex(self._backend.read(layout.STORE_FILE)),
            "salt_sha256": sha256_hex(self._backend.read(layout.SALT_FILE)),
            "voids": self.store._voids_head(),
        }
        chain_bytes = canonical_json(record)
        chain_key = layout.chain_key(self.id)
        self._backend.write(chain_key, chain_bytes)
        finished = self.started_at + (utcnow() - self._clock_started)
        stats = dict(self._stats)
        stats["store"] = {
            "documents": sum(self._counts.values()),
            "changed_rows": rows,
            "new_objects": self._new_objects,
            "base": base["id"] if base else None,
        }
        manifest = SnapshotManifest(
            id=self.id,
            provider=self.provider,
            scope=self.scope,
            started_at=self.started_at,
            finished_at=max(finished, self.started_at),
            tool_version=__version__,
            catalog_sha256=self.catalog_sha256,
            counts=dict(sorted(self._counts.items())),
            stats=stats,
            errors=tuple(self._errors),
            files={documents_key: documents_sha, chain_key: sha256_hex(chain_bytes)},
            previous_sha256=self.previous_sha256,
            **self._extra,
        ).sealed()
        manifest_bytes = canonical_json(manifest.to_dict())
        self.store._sign(layout.manifest_key(self.sequence, self.id), manifest_bytes)
        self._backend.sync()
        if not self._backend.write_new(layout.manifest_key(self.sequence, self.id), manifest_bytes):
            raise RunError(
                f"snapshot position {self.sequence} in {self.store.url} was taken by another "
                "writer; the store lock was not respected"
            )
        self._backend.sync()
        return manifest


def _key(entry: ChainEntry, *, tombstone: bool = False) -> str:
    key = entry.tombstone_key if tombstone else entry.manifest_key
    if key is None:
        raise RunError(f"snapshot {entry.id} has no {'tombstone' if tombstone else 'manifest'}")
    return key


def _random_salt() -> bytes:
    return secrets.token_bytes(32)
