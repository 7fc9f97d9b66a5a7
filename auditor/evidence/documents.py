"""How documents are laid out: content-addressed objects and per-snapshot Parquet change sets.

A document is stored once as `objects/ab/<sha256>.json.gz` (gzip of its canonical JSON), keyed by
`EvidenceDoc.sha256`. Each snapshot writes `documents.parquet` with one row per document that is
new or changed since its *base* (the previous snapshot of the same provider and scope), plus a
`del` row per document that disappeared; a snapshot without a base (or after many changes) is
written in full. That keeps 13 weekly snapshots with 2 % churn near 1.25x one snapshot, which a
full per-snapshot index of every hash could not.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from auditor.models import EvidenceDoc, canonical_json, sha256_hex

PUT = "put"
DEL = "del"
ROW_BATCH = 2000
SCHEMA = pa.schema(
    [
        ("op", pa.string()),
        ("key", pa.string()),
        ("provider", pa.string()),
        ("account", pa.string()),
        ("region", pa.string()),
        ("resource_type", pa.string()),
        ("resource_id", pa.string()),
        ("name", pa.string()),
        ("sha256", pa.string()),
        ("data", pa.string()),  # the document's data as canonical JSON text; null for `del`
    ]
)
INDEX_COLUMNS = ["op", "key", "resource_type", "sha256"]


def object_key(sha256: str) -> str:
    return f"objects/{sha256[:2]}/{sha256}.json.gz"


def encode_object(doc: EvidenceDoc) -> bytes:
    """gzip (mtime 0, so equal documents give equal bytes) of the canonical JSON."""
    return gzip.compress(canonical_json(doc.to_dict()), compresslevel=6, mtime=0)


def decode_object(blob: bytes) -> EvidenceDoc:
    return EvidenceDoc.from_dict(json.loads(gzip.decompress(blob)))


def object_digest(blob: bytes) -> str:
    """The sha256 the object's content hashes to (what its name must be)."""
    return sha256_hex(gzip.decompress(blob))


def document_key(doc: EvidenceDoc | StoredDocument, occurrence: int) -> str:
    """Identity of a document across snapshots. `occurrence` separates a resource reported twice
    in one run (the ID is last, so no field can forge another's boundary). A stored entry has the
    identity of the document it was made from."""
    return f"{doc.resource_type}|{doc.account}|{doc.region}|{occurrence}|{doc.resource_id}"


def split_key(key: str) -> tuple[str, str, str, str]:
    """(resource_type, account, region, resource_id) of a document key."""
    resource_type, account, region, _occurrence, resource_id = key.split("|", 4)
    return resource_type, account, region, resource_id


@dataclass(frozen=True)
class StoredDocument:
    """A document already written to the store's objects, as a snapshot's change set records it.

    Workers put documents into the store themselves and hand these back; the driver's
    `SnapshotWriter.add_entries` takes them. `data` is the canonical JSON text the change set
    stores for a new or changed document (the worker already made it, so the driver neither
    hashes nor reads the object back); `created` says this put wrote the object (it was not
    there before), so a discarded run can remove it again. Small and picklable.
    """

    provider: str
    account: str
    region: str
    resource_type: str
    resource_id: str
    name: str
    sha256: str
    data: str
    created: bool = False

    @classmethod
    def of(cls, doc: EvidenceDoc, created: bool = False) -> StoredDocument:
        return cls(
            provider=doc.provider,
            account=doc.account,
            region=doc.region,
            resource_type=doc.resource_type,
            resource_id=doc.resource_id,
            name=doc.name,
            sha256=doc.sha256,
            data=canonical_json(doc.data).decode("utf-8"),
            created=created,
        )


@dataclass(frozen=True)
class IndexRow:
    key: str
    resource_type: str
    sha256: str


class ChangeSetWriter:
    """Streams rows into a Parquet file in batches, so memory stays bounded for large runs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer = pq.ParquetWriter(str(path), SCHEMA, compression="zstd")
        self._rows: list[dict[str, Any]] = []
        self.rows_written = 0

    def put(self, key: str, doc: EvidenceDoc) -> None:
        self.put_entry(key, StoredDocument.of(doc))

    def put_entry(self, key: str, entry: StoredDocument) -> None:
        self._rows.append(
            {
                "op": PUT,
                "key": key,
                "provider": entry.provider,
                "account": entry.account,
                "region": entry.region,
                "resource_type": entry.resource_type,
                "resource_id": entry.resource_id,
                "name": entry.name,
                "sha256": entry.sha256,
                "data": entry.data,
            }
        )
        self._maybe_flush()

    def delete(self, key: str, sha256: str, provider: str) -> None:
        resource_type, account, region, resource_id = split_key(key)
        self._rows.append(
            {
                "op": DEL,
                "key": key,
                "provider": provider,
                "account": account,
                "region": region,
                "resource_type": resource_type,
                "resource_id": resource_id,
                "name": None,
                "sha256": sha256,
                "data": None,
            }
        )
        self._maybe_flush()

    def _maybe_flush(self, force: bool = False) -> None:
        if self._rows and (force or len(self._rows) >= ROW_BATCH):
            self._writer.write_table(pa.Table.from_pylist(self._rows, schema=SCHEMA))
            self.rows_written += len(self._rows)
            self._rows = []

    def close(self) -> None:
        self._maybe_flush(force=True)
        self._writer.close()

    def abort(self) -> None:
        self._rows = []
        try:
            self._writer.close()
        finally:
            self.path.unlink(missing_ok=True)


def _table(blob: bytes, columns: list[str] | None) -> pa.Table:
    """Read on this thread only. `pq.read_table` goes through the dataset scanner, which starts
    a pool thread even with use_threads=False; a native thread still alive at interpreter exit
    aborted verify ("terminate called without an active exception", exit 134). ParquetFile with
    use_threads=False starts none."""
    with pq.ParquetFile(pa.BufferReader(blob), pre_buffer=False) as parquet:
        return parquet.read(columns=columns, use_threads=False)


def read_index(blob: bytes) -> list[tuple[str, str, str, str]]:
    """(op, key, resource_type, sha256) of every row of a change set."""
    table = _table(blob, INDEX_COLUMNS)
    columns = [table.column(name).to_pylist() for name in INDEX_COLUMNS]
    return list(zip(*columns, strict=True))


def read_rows(blob: bytes) -> Iterator[dict[str, Any]]:
    """Every row of a change set, data still as JSON text."""
    yield from _table(blob, None).to_pylist()


def apply_index(
    state: dict[str, IndexRow], rows: Iterable[tuple[str, str, str, str]]
) -> dict[str, IndexRow]:
    for op, key, resource_type, sha in rows:
        if op == PUT:
            state[key] = IndexRow(key, resource_type, sha)
        else:
            state.pop(key, None)
    return state


def apply_rows(state: dict[str, dict[str, Any]], rows: Iterable[Mapping[str, Any]]) -> None:
    for row in rows:
        if row["op"] == PUT:
            state[row["key"]] = dict(row)
        else:
            state.pop(row["key"], None)


def row_document(row: Mapping[str, Any]) -> EvidenceDoc:
    doc = EvidenceDoc(
        provider=row["provider"],
        account=row["account"],
        region=row["region"],
        resource_type=row["resource_type"],
        resource_id=row["resource_id"],
        name=row["name"],
        data=json.loads(row["data"]),
    )
    if row.get("sha256"):
        # The content address the writer computed (verify() re-checks it against the objects);
        # reusing it spares evaluation a canonical-JSON hash per document.
        doc.__dict__["sha256"] = row["sha256"]
    return doc
