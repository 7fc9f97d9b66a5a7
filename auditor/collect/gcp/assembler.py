"""Joins Cloud Asset records into evidence documents, for live collection and export import alike.

Both GCP collectors feed one `Assembler`, so live and offline give identical documents
(declarations, normaliser and document shapes: `assets.py`). Memory stays bounded: only the
resource hierarchy, the log sinks and IAM policies waiting for their RESOURCE record are held, the
policies in a `PolicySpill` (a dict up to `SPILL_THRESHOLD` entries, then SQLite on disk).
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from auditor.collect.gcp.assets import (
    EFFECTIVE_FIELDS,
    HIERARCHY_TYPES,
    LOG_SINK_TYPE,
    LOG_SINKS_FIELD,
    PROJECT_TYPE,
    AssetRecord,
    Hierarchy,
    build_document,
    hierarchy_documents,
)
from auditor.collect.redact import Redactor
from auditor.models import CollectionError, EvidenceDoc, EvidenceSink

SERVICE = "cloudasset.googleapis.com"
SPILL_THRESHOLD = 50_000


class PolicySpill:
    """IAM policies waiting for their RESOURCE record: a dict, then SQLite on disk when large."""

    def __init__(self, threshold: int | None = None) -> None:
        self._threshold = SPILL_THRESHOLD if threshold is None else threshold
        self._memory: dict[str, tuple[str, str]] = {}  # name -> (asset type, policy JSON)
        self._db: sqlite3.Connection | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._count = 0
        self.spilled = 0

    def __len__(self) -> int:
        return self._count

    def put(self, record: AssetRecord) -> None:
        value = (record.asset_type, json.dumps(record.iam_policy, separators=(",", ":")))
        if self._db is None and len(self._memory) >= self._threshold:
            self._open_db()
        if self._db is None:
            if record.name not in self._memory:
                self._count += 1
            self._memory[record.name] = value
            return
        if self._memory.pop(record.name, None) is not None:
            self._count -= 1
        cursor = self._db.execute(
            "INSERT OR REPLACE INTO policy VALUES (?, ?, ?)", (record.name, *value)
        )
        self._count += cursor.rowcount if cursor.rowcount > 0 else 0
        self.spilled += 1

    def pop(self, name: str) -> Mapping[str, Any] | None:
        if not self._count:
            return None
        found = self._memory.pop(name, None)
        if found is None and self._db is not None:
            row = self._db.execute("SELECT policy FROM policy WHERE name = ?", (name,)).fetchone()
            if row is not None:
                self._db.execute("DELETE FROM policy WHERE name = ?", (name,))
                found = ("", row[0])
        if found is None:
            return None
        self._count -= 1
        policy: Mapping[str, Any] = json.loads(found[1])
        return policy

    def remaining_types(self) -> Counter[str]:
        """Asset types of policies never joined with a resource."""
        counts: Counter[str] = Counter(t for t, _ in self._memory.values())
        if self._db is not None:
            for asset_type, count in self._db.execute(
                "SELECT asset_type, COUNT(*) FROM policy GROUP BY asset_type"
            ):
                counts[asset_type] += count
        return counts

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None
        self._memory.clear()
        self._count = 0

    def _open_db(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="auditor-gcp-spill-")
        self._db = sqlite3.connect(os.path.join(self._dir.name, "policies.sqlite"))
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute(
            "CREATE TABLE policy (name TEXT PRIMARY KEY, asset_type TEXT, policy TEXT)"
        )


class Assembler:
    """Joins records into documents, redacts them, and puts them and the errors in the sink."""

    def __init__(self, sink: EvidenceSink, salt: bytes, error_account: str, operation: str) -> None:
        self.sink = sink
        self.redactor = Redactor(salt)
        self.error_account = error_account
        self.operation = operation
        self.hierarchy = Hierarchy()
        self.spill = PolicySpill()
        self.iam_failed_types: set[str] = set()  # IAM policies could not be collected
        self.resource_failed_types: set[str] = set()  # RESOURCE records could not be collected
        self.documents: Counter[str] = Counter()
        self.errors = 0

    # -- intake
    def take(self, record: AssetRecord) -> AssetRecord | None:
        """Hold hierarchy records and lone IAM policies; return a RESOURCE record to emit."""
        if record.asset_type in HIERARCHY_TYPES:
            self.hierarchy.add(record)
            return None
        if record.resource is None:
            if record.iam_policy is not None:
                self.spill.put(record)
            return None
        return record

    def emit(self, record: AssetRecord) -> None:
        if record.asset_type == LOG_SINK_TYPE:
            self.hierarchy.add_sink(record)
        policy = self.spill.pop(record.name)
        if policy is not None:
            record = replace(record, iam_policy=policy)
        iam_collected = record.asset_type not in self.iam_failed_types
        self._add(build_document(record, self.hierarchy, iam_collected=iam_collected))

    def hierarchy_has_projects(self) -> bool:
        return any(r.asset_type == PROJECT_TYPE for r in self.hierarchy.records.values())

    def emit_hierarchy(
        self,
        ancestor_errors: Mapping[str, str] | None = None,
        sink_errors: Mapping[str, str] | None = None,
    ) -> None:
        """Documents of the hierarchy, after every LogSink record went through `emit`."""
        iam_collected = not (HIERARCHY_TYPES & self.iam_failed_types)
        sinks_collected = LOG_SINK_TYPE not in self.resource_failed_types
        for item in hierarchy_documents(
            self.hierarchy, iam_collected=iam_collected, sinks_collected=sinks_collected
        ):
            doc = item.doc
            self._add(doc)
            if item.missing_policies:
                detail = _reasons(item.missing_policies, ancestor_errors)
                for field in EFFECTIVE_FIELDS:
                    self.error(
                        "AncestorPolicyMissing",
                        f"IAM policy of ancestors unknown, so inherited settings cannot be "
                        f"determined ({detail})",
                        resource_type=doc.resource_type,
                        resource_id=doc.resource_id,
                        field=field,
                    )
            if item.sinks_unknown:
                self.error(
                    "LogSinksMissing",
                    "the LogSink assets could not be collected (or an export holds none, not "
                    "even the built-in _Required and _Default sinks Cloud Asset always exports), "
                    "so the sinks routing this project's logs are unknown",
                    resource_type=doc.resource_type,
                    resource_id=doc.resource_id,
                    field=LOG_SINKS_FIELD,
                )
            elif item.missing_sinks:
                self.error(
                    "AncestorSinksMissing",
                    f"log sinks of ancestors unknown, so inherited sinks cannot be determined "
                    f"({_reasons(item.missing_sinks, sink_errors)})",
                    resource_type=doc.resource_type,
                    resource_id=doc.resource_id,
                    field=LOG_SINKS_FIELD,
                )

    def _add(self, doc: EvidenceDoc) -> None:
        redacted = EvidenceDoc(
            doc.provider,
            doc.account,
            doc.region,
            doc.resource_type,
            doc.resource_id,
            doc.name,
            self.redactor.redact(doc.data),
        )
        self.sink.add(redacted)
        self.documents[doc.resource_type] += 1

    def error(
        self,
        code: str,
        message: str,
        *,
        resource_type: str | None = None,
        resource_id: str | None = None,
        field: str | None = None,
    ) -> None:
        self.errors += 1
        self.sink.add_error(
            CollectionError(
                provider="gcp",
                account=self.error_account,
                region="global",
                service=SERVICE,
                operation=self.operation,
                error_code=code,
                message=message,
                resource_type=resource_type,
                resource_id=resource_id,
                field=field,
            )
        )

    def wanted_ancestors(self, missing: Callable[[AssetRecord], list[str]]) -> list[str]:
        """Ancestors reported by `missing` for any listed project/folder/organisation, in order."""
        wanted: list[str] = []
        for record in list(self.hierarchy.records.values()):
            if record.resource is None:
                continue
            for ancestor in missing(record):
                if ancestor not in wanted:
                    wanted.append(ancestor)
        return wanted

    def report_missing_iam(self, types: Sequence[str], code: str, message: str) -> None:
        """IAM policies of these types are unknown: `iamPolicy` absent, one error per type."""
        for asset_type in types:
            self.error(code, message, resource_type=asset_type, field="iamPolicy")

    def stats(self) -> dict[str, Any]:
        leftovers = self.spill.remaining_types()
        return {
            "assets": sum(self.documents.values()),
            "documents_by_type": dict(sorted(self.documents.items())),
            "iam_without_resource": sum(leftovers.values()),
            "spilled_policies": self.spill.spilled,
            "errors": self.errors,
        }


def _reasons(ancestors: Sequence[str], errors: Mapping[str, str] | None) -> str:
    return "; ".join(f"{a}: {(errors or {}).get(a, 'not in scope')}" for a in ancestors)
