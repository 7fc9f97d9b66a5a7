"""The evidence store: immutable, hash-chained snapshots in a local folder or on S3.

```python
store = open_store(".auditor/store")              # a folder, or "s3://bucket/prefix", kms_key_id=...
with store.begin_snapshot("aws", scope, catalog.sha256) as writer:   # an EvidenceSink
    writer.set_stats(collector.collect(writer))
writer.manifest                                     # committed on clean exit
entries = store.put_documents(docs)                 # a worker: objects only, no lock
writer.add_entries(entries)                         # the driver: their index rows
store.list_snapshots(); store.load_snapshot("latest"); store.verify(); store.prune(400)
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from auditor.errors import UserError
from auditor.evidence.backend import Backend, LockedObjectError, UnsafeObjectError
from auditor.evidence.documents import StoredDocument
from auditor.evidence.layout import STORE_FILE
from auditor.evidence.local import LocalBackend
from auditor.evidence.records import ChainEntry, ChainVerification
from auditor.evidence.s3 import S3Backend
from auditor.evidence.signing import StoreSigner
from auditor.evidence.store import DEFAULT_LOCK_TIMEOUT, EvidenceStore, SnapshotWriter

__all__ = [
    "Backend",
    "ChainEntry",
    "ChainVerification",
    "EvidenceStore",
    "LockedObjectError",
    "SnapshotWriter",
    "StoreSigner",
    "StoredDocument",
    "UnsafeObjectError",
    "open_store",
]

_OPTIONS = frozenset(
    {
        "kms_key_id",
        "object_lock_mode",
        "object_lock_days",
        "lock_timeout",
        "lock_lease_seconds",
        "durable",
        "client",
        "signer",
    }
)


def open_store(url: str | Path, **options: Any) -> EvidenceStore:
    """Open (lazily creating) a store at a folder path or `s3://bucket/prefix`.

    There is no default here: the default store path is a setting (`store.url` of
    auditor.yaml), and the conductor passes the one it resolved.

    Options: `kms_key_id` (S3 SSE-KMS), `object_lock_mode` GOVERNANCE|COMPLIANCE and
    `object_lock_days` (S3 buckets with Object Lock), `lock_timeout` seconds to wait for another
    run (default 300), `lock_lease_seconds` (S3: when a dead run's lock is taken over),
    `durable` (local: fsync, default True), `client` (a boto3 S3 client to use), `signer` (a
    `StoreSigner`: every new manifest and void record gets a detached `.sig`).
    """
    unknown = set(options) - _OPTIONS
    if unknown:
        raise UserError(f"unknown evidence store option(s): {', '.join(sorted(unknown))}")
    timeout_option = options.get("lock_timeout")
    lock_timeout = DEFAULT_LOCK_TIMEOUT if timeout_option is None else float(timeout_option)
    text = str(url)
    backend: Backend
    if text.startswith("s3://"):
        bucket, _, prefix = text[len("s3://") :].partition("/")
        if not bucket:
            raise UserError(f"evidence store URL {text!r} has no bucket (s3://bucket/prefix)")
        backend = S3Backend(
            bucket,
            prefix,
            kms_key_id=options.get("kms_key_id"),
            object_lock_mode=options.get("object_lock_mode"),
            object_lock_days=options.get("object_lock_days"),
            lock_lease_seconds=float(options.get("lock_lease_seconds", 3600.0)),
            client=options.get("client"),
        )
    elif "://" in text:
        raise UserError(f"evidence store {text!r}: expected a folder or s3://bucket/prefix")
    else:
        if options.get("kms_key_id") or options.get("object_lock_mode"):
            raise UserError("kms_key_id and object_lock_mode apply to s3:// stores only")
        backend = LocalBackend(Path(text).expanduser(), durable=bool(options.get("durable", True)))
        _refuse_foreign_folder(Path(text).expanduser())
    return EvidenceStore(backend, lock_timeout=lock_timeout, signer=options.get("signer"))


def _refuse_foreign_folder(root: Path) -> None:
    """Never scatter store files into a folder that holds something else."""
    if root.is_dir() and not (root / STORE_FILE).exists():
        allowed = {
            "tmp",
            "lock",
            "salt",
            "objects",
            "snapshots",
            "manifests",
            "tombstones",
            "voids",
        }
        foreign = [p.name for p in root.iterdir() if p.name not in allowed]
        if foreign:
            raise UserError(
                f"{root} is not an evidence store (it holds {', '.join(sorted(foreign)[:3])}); "
                "choose an empty or new folder"
            )
