"""Key names inside a store, identical for a folder and an S3 prefix.

```
store.json                                  schema marker, created with the store
salt                                        32 random bytes: the redaction salt of this store
lock                                        the run lock (flock file, or conditional-put object)
objects/ab/<sha256>.json.gz                 documents, content-addressed, stored once
snapshots/<id>/documents.parquet            the snapshot's change set (or full set) of documents
snapshots/<id>/chain.json                   sequence, previous manifest, delta base (all hashed)
manifests/<sequence:08d>-<id>.json          the manifest, canonical JSON, written last = commit
tombstones/<sequence:08d>-<id>.json         what prune left in place of a manifest
voids/<number:08d>-<id>.json                a snapshot excluded from evaluation, with the reason
<manifest or void key>.sig                  detached signature of that record (when signing)
```

store.json records the salt's sha256; every chain record records the sha256 of store.json,
salt and the newest void record, so the store's metadata is inside the chain too.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime

STORE_SCHEMA = "auditor.store/v1"
CHAIN_SCHEMA = "auditor.chain/v1"
TOMBSTONE_SCHEMA = "auditor.tombstone/v1"
VOID_SCHEMA = "auditor.void/v1"
SIGNATURE_SUFFIX = ".sig"
STORE_FILE = "store.json"
SALT_FILE = "salt"
MANIFESTS = "manifests/"
TOMBSTONES = "tombstones/"
SNAPSHOTS = "snapshots/"
OBJECTS = "objects/"
VOIDS = "voids/"
_ENTRY = re.compile(r"^(?P<seq>\d{8})-(?P<id>[0-9]{8}T[0-9]{6}Z-[a-z0-9-]+-[0-9a-f]{8})\.json$")


def new_snapshot_id(started_at: datetime, provider: str) -> str:
    """`20261129T100000Z-aws-1a2b3c4d`: sorts by time, unique by its random tail."""
    safe = re.sub(r"[^a-z0-9-]", "-", provider.lower()) or "x"
    return f"{started_at:%Y%m%dT%H%M%SZ}-{safe}-{secrets.token_hex(4)}"


def manifest_key(sequence: int, snapshot_id: str) -> str:
    return f"{MANIFESTS}{sequence:08d}-{snapshot_id}.json"


def tombstone_key(sequence: int, snapshot_id: str) -> str:
    return f"{TOMBSTONES}{sequence:08d}-{snapshot_id}.json"


def void_key(number: int, snapshot_id: str) -> str:
    return f"{VOIDS}{number:08d}-{snapshot_id}.json"


def documents_key(snapshot_id: str) -> str:
    return f"{SNAPSHOTS}{snapshot_id}/documents.parquet"


def chain_key(snapshot_id: str) -> str:
    return f"{SNAPSHOTS}{snapshot_id}/chain.json"


def parse_entry(key: str) -> tuple[int, str] | None:
    """(sequence, id) of a manifest or tombstone key, or None when the name is not ours."""
    name = key.rsplit("/", 1)[-1]
    match = _ENTRY.match(name)
    if not match:
        return None
    return int(match["seq"]), match["id"]


def snapshot_of(key: str) -> str | None:
    """The snapshot ID a `snapshots/<id>/...` key belongs to."""
    if not key.startswith(SNAPSHOTS):
        return None
    rest = key[len(SNAPSHOTS) :]
    return rest.split("/", 1)[0] if "/" in rest else None
