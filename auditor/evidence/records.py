"""What the store writes and what `verify` reads back, below both.

The chain's positions, the verification result, the seal over a record, and the read-only face
of a store that `verify` walks. `store.py` (which writes) and `verify.py` (which checks) both
import this module and never each other's internals the other way round.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from auditor.evidence.backend import Backend
from auditor.evidence.documents import IndexRow
from auditor.models import canonical_json, sha256_hex


@dataclass(frozen=True)
class ChainVerification:
    """Result of walking the chain. `first_bad` names the earliest snapshot that was modified,
    removed, reordered or inserted (None when ok)."""

    ok: bool
    problems: list[str] = field(default_factory=list)
    first_bad: str | None = None
    snapshots_checked: int = 0
    objects_checked: int = 0
    notes: list[str] = field(default_factory=list)  # what vouches for the head; not problems


@dataclass(frozen=True)
class ChainEntry:
    """One position of the chain: a live manifest, a tombstone, or (mid-prune) both."""

    sequence: int
    id: str
    manifest_key: str | None
    tombstone_key: str | None


class ChainSource(Protocol):
    """What `verify` reads from a store: the backend and the chain as the store lists it."""

    @property
    def backend(self) -> Backend: ...

    def chain(self) -> list[ChainEntry]: ...

    def stray_manifest_keys(self) -> list[str]: ...

    def void_keys(self) -> list[str]: ...

    def document_index(self, snapshot_id: str) -> dict[str, IndexRow]: ...


def sealed(record: Mapping[str, Any]) -> dict[str, Any]:
    """`record` with a `seal`: the sha256 of its canonical JSON without the seal. A record no
    successor vouches for (store.json, the newest void) still shows a one-byte change."""
    body = {k: v for k, v in record.items() if k != "seal"}
    return {**body, "seal": sha256_hex(canonical_json(body))}


def seal_matches(record: Mapping[str, Any]) -> bool:
    return "seal" in record and sealed(record)["seal"] == record["seal"]
