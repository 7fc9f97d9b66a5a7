"""GCP evidence from Cloud Asset Inventory: live (`list_assets`) or from an export file.

Both collectors feed one `_Assembler`, so live and offline give identical documents
(declarations, normaliser and the document shapes: `gcp_assets.py`).

Bounded memory. Assets are streamed one at a time into the sink; only two things are held:
- the resource hierarchy (projects, folders, organisations: a few thousand records at most), needed
  for inheritance and for project number -> ID;
- IAM policies of non-hierarchy assets until their RESOURCE record arrives, in a `PolicySpill`:
  a dict up to `SPILL_THRESHOLD` entries, then an on-disk SQLite table in a temporary file.
- the log sinks (a few per container, compact entries), for the projects' `effectiveLogSinks`.
Live: hierarchy types are listed first (both content types), then IAM_POLICY of the other types
(spilled), then their RESOURCE pages, each joined with its policy and emitted at once; LogSink
records are also indexed as they pass. The hierarchy documents are emitted last, when every sink
is known (sinks of ancestors above the scope are listed from those ancestors).
Import: two passes over the file. Pass 1 parses only lines that can matter early (hierarchy asset
types and IAM-policy lines, found by a byte-substring test before parsing) into the hierarchy and
the spill; pass 2 parses every line, rejects malformed ones with their line number, and emits
each RESOURCE record joined with its policy (indexing LogSinks); the hierarchy documents follow.
A `gcloud asset list --format=json` array is streamed element by element with
`JSONDecoder.raw_decode` over a growing buffer.
"""

from __future__ import annotations

import codecs
import gc
import ipaddress
import json
import os
import random
import re
import sqlite3
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

from auditor.collect.gcp_assets import (
    EFFECTIVE_FIELDS,
    HIERARCHY_TYPES,
    IAM_POLICY,
    LOG_SINK_TYPE,
    LOG_SINKS_FIELD,
    PROJECT_TYPE,
    RESOURCE,
    SPECS,
    AssetRecord,
    Hierarchy,
    MalformedRecord,
    build_document,
    hierarchy_documents,
    integral_floats_to_int,
    parse_record,
    types_with,
)
from auditor.collect.redact import Redactor
from auditor.errors import UserError
from auditor.models import CollectionError, EvidenceDoc, EvidenceSink

SERVICE = "cloudasset.googleapis.com"
ENDPOINT_ENV = "AUDITOR_GCP_ASSET_ENDPOINT"
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
SPILL_THRESHOLD = 50_000
MAX_REJECTS_LISTED = 100
_SCOPE = re.compile(
    r"^(projects/[a-z][a-z0-9.:-]{3,61}[a-z0-9]|projects/\d+|folders/\d+|organizations/\d+)$"
)
_RETRYABLE = frozenset({"RESOURCE_EXHAUSTED", "UNAVAILABLE", "DEADLINE_EXCEEDED"})


def _float_or_int(text: str) -> float | int:
    value = float(text)
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def _loads(line: bytes | str) -> Any:
    """JSON with integral floats as ints, matching the gRPC path (Struct doubles -> ints)."""
    return json.loads(line, parse_float=_float_or_int)


# ---------------------------------------------------------------- shared assembly


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


class _Assembler:
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


# ---------------------------------------------------------------- live collection


class _CallFailed(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class _RateLimiter:
    """Token bucket: bursts up to the per-minute quota, then one call per 60/quota seconds."""

    def __init__(self, per_minute: float | None, sleep: Callable[[float], None]) -> None:
        self._rate = (per_minute or 0) / 60.0
        self._capacity = float(per_minute or 0)
        self._tokens = self._capacity
        self._last = time.monotonic()
        self._sleep = sleep

    def acquire(self) -> None:
        if not self._rate:
            return
        now = time.monotonic()
        self._tokens = min(self._capacity, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens < 1:
            wait = (1 - self._tokens) / self._rate
            self._sleep(wait)
            self._tokens = 1.0
            self._last = time.monotonic()
        self._tokens -= 1


def make_client(
    endpoint: str | None = None,
    credentials: Any = None,
    impersonate_service_account: str | None = None,
) -> Any:
    """An AssetServiceClient: ADC (optionally impersonating), endpoint override, or a plaintext
    channel for a loopback endpoint (tests, local proxies)."""
    from google.cloud import asset_v1
    from google.cloud.asset_v1.services.asset_service.transports import AssetServiceGrpcTransport

    endpoint = endpoint or os.environ.get(ENDPOINT_ENV) or None
    if endpoint and _is_plaintext(endpoint):
        import grpc

        target = endpoint.split("://", 1)[-1].rstrip("/")
        channel = grpc.insecure_channel(
            target,
            options=[("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)],
        )
        return asset_v1.AssetServiceClient(transport=AssetServiceGrpcTransport(channel=channel))
    if credentials is None:
        import google.auth

        credentials, _ = google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
    if impersonate_service_account:
        from google.auth import impersonated_credentials

        credentials = impersonated_credentials.Credentials(
            source_credentials=credentials,
            target_principal=impersonate_service_account,
            target_scopes=[CLOUD_PLATFORM_SCOPE],
            lifetime=3600,
        )
    options = {"api_endpoint": endpoint.split("://", 1)[-1]} if endpoint else None
    return asset_v1.AssetServiceClient(credentials=credentials, client_options=options)


def _is_plaintext(endpoint: str) -> bool:
    if endpoint.startswith("http://") or endpoint.startswith("grpc://"):
        return True
    if endpoint.startswith("https://"):
        return False
    host = endpoint.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def validate_scope(scope: str) -> str:
    if not _SCOPE.match(scope):
        raise UserError(
            f"scope {scope!r} is not projects/ID, folders/NUMBER or organizations/NUMBER",
            field="scope",
        )
    return scope


class GcpAssetCollector:
    """Live collection with `AssetServiceClient.list_assets` (RESOURCE and IAM_POLICY).

    Calls are grouped (hierarchy types, then all other types, per content type) to spend few
    requests of the 100/min/project quota; a PERMISSION_DENIED on a group's first page is retried
    per asset type, so a denial is attributed to the exact types and the others are kept.
    """

    provider = "gcp"

    def __init__(
        self,
        scope: str,
        endpoint: str | None = None,
        credentials: Any = None,
        impersonate_service_account: str | None = None,
        salt: bytes = b"auditor",
        page_size: int = 1000,
        *,
        asset_types: Sequence[str] | None = None,
        client: Any = None,
        max_attempts: int = 8,
        backoff_initial: float = 1.0,
        backoff_max: float = 32.0,
        requests_per_minute: float | None = 100.0,
        timeout: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.scope_name = validate_scope(scope)
        self.endpoint = endpoint
        self.credentials = credentials
        self.impersonate_service_account = impersonate_service_account
        self.salt = salt
        self.page_size = page_size
        self.asset_types = tuple(asset_types) if asset_types else tuple(SPECS)
        self._client = client
        self.max_attempts = max_attempts
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.timeout = timeout
        self._sleep = sleep
        self._limiter = _RateLimiter(requests_per_minute, sleep)
        self._stats: Counter[str] = Counter()

    def scope(self) -> dict[str, Any]:
        return {
            "kind": "gcp-asset-inventory",
            "scope": self.scope_name,
            "asset_types": list(self.asset_types),
            "endpoint": self.endpoint
            or os.environ.get(ENDPOINT_ENV)
            or "cloudasset.googleapis.com",
            "impersonate_service_account": self.impersonate_service_account,
        }

    def collect(self, sink: EvidenceSink) -> dict[str, Any]:
        if self._client is None:
            self._client = make_client(
                self.endpoint, self.credentials, self.impersonate_service_account
            )
        self._stats = Counter()
        asm = _Assembler(sink, self.salt, self.scope_name, "ListAssets")
        try:
            hierarchy = [t for t in self.asset_types if t in HIERARCHY_TYPES]
            others = [t for t in self.asset_types if t not in HIERARCHY_TYPES]
            iam_types = set(types_with(IAM_POLICY))
            for content_type in (RESOURCE, IAM_POLICY):
                wanted = (
                    hierarchy
                    if content_type == RESOURCE
                    else [t for t in hierarchy if t in iam_types]
                )
                for raw in self._list_group(asm, wanted, content_type):
                    asm.take(parse_record(raw))
            ancestor_errors = self._fetch_outside_ancestors(asm)
            for raw in self._list_group(asm, [t for t in others if t in iam_types], IAM_POLICY):
                asm.take(parse_record(raw))
            for raw in self._list_group(asm, others, RESOURCE):
                record = asm.take(parse_record(raw))
                if record is not None:
                    asm.emit(record)
            if LOG_SINK_TYPE not in self.asset_types:
                asm.resource_failed_types.add(LOG_SINK_TYPE)  # not collected: sinks unknown
            asm.emit_hierarchy(ancestor_errors, self._fetch_outside_sinks(asm))
            return {
                **asm.stats(),
                "pages": self._stats["pages"],
                "calls": self._stats["calls"],
                "retries": self._stats["retries"],
                "rejected_lines": 0,
                "scope": self.scope_name,
            }
        finally:
            asm.spill.close()

    # -- listing
    def _list_group(
        self, asm: _Assembler, types: Sequence[str], content_type: str, parent: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Asset dicts (proto field names) of `types`; failures become collection errors."""
        if not types:
            return
        pages_done = 0
        try:
            for page in self._pages(parent or self.scope_name, types, content_type):
                pages_done += 1
                yield from page
        except _CallFailed as failed:
            if failed.code == "PERMISSION_DENIED" and pages_done == 0 and len(types) > 1:
                for asset_type in types:
                    yield from self._list_group(asm, [asset_type], content_type, parent)
                return
            message = f"{content_type} listing of {parent or self.scope_name}: {failed.message}"
            if content_type == IAM_POLICY:
                asm.iam_failed_types.update(types)
                asm.report_missing_iam(types, failed.code, message)
            else:
                asm.resource_failed_types.update(types)
                for asset_type in types:
                    asm.error(failed.code, message, resource_type=asset_type)

    def _pages(
        self, parent: str, types: Sequence[str], content_type: str
    ) -> Iterator[list[dict[str, Any]]]:
        from google.cloud import asset_v1
        from google.protobuf.json_format import MessageToDict

        token = ""
        while True:
            request = asset_v1.ListAssetsRequest(
                parent=parent,
                asset_types=list(types),
                content_type=getattr(asset_v1.ContentType, content_type),
                page_size=self.page_size,
                page_token=token,
            )
            pager = self._call(request)
            self._stats["pages"] += 1
            page = []
            for asset in pager.assets:
                raw = MessageToDict(asset_v1.Asset.pb(asset), preserving_proto_field_name=True)
                resource = raw.get("resource")
                if resource and "data" in resource:
                    resource["data"] = integral_floats_to_int(resource["data"])
                page.append(raw)
            yield page
            token = pager.next_page_token
            if not token:
                return

    def _call(self, request: Any) -> Any:
        """One ListAssets call with backoff and jitter on quota and availability errors."""
        from google.api_core import exceptions

        for attempt in range(self.max_attempts):
            self._limiter.acquire()
            self._stats["calls"] += 1
            try:
                return self._client.list_assets(request=request, retry=None, timeout=self.timeout)
            except exceptions.GoogleAPICallError as error:
                code = _status_name(error)
                if code not in _RETRYABLE or attempt == self.max_attempts - 1:
                    raise _CallFailed(code, error.message or str(error)) from error
                self._stats["retries"] += 1
                cap = min(self.backoff_max, self.backoff_initial * 2**attempt)
                self._sleep(cap / 2 + random.uniform(0, cap / 2))
        raise AssertionError("unreachable")

    def _fetch_outside_ancestors(self, asm: _Assembler) -> dict[str, str]:
        """IAM policies of folders/organisation above the scope, for inheritance. Returns the
        reason per ancestor that could not be fetched."""
        if HIERARCHY_TYPES & asm.iam_failed_types:
            return {}
        hierarchy = asm.hierarchy
        wanted = asm.wanted_ancestors(lambda r: hierarchy.missing_ancestors(r, iam_collected=True))
        reasons: dict[str, str] = {}
        for ancestor in wanted:
            asset_type = _container_type_of(ancestor)
            found: Mapping[str, Any] | None = None
            try:
                for page in self._pages(ancestor, [asset_type], IAM_POLICY):
                    for raw in page:
                        record = parse_record(raw)
                        if record.short_name == ancestor:
                            found = record.iam_policy
            except _CallFailed as failed:
                reasons[ancestor] = f"{failed.code}: {failed.message}"
                continue
            hierarchy.mark_policy_known(ancestor, found)
        return reasons

    def _fetch_outside_sinks(self, asm: _Assembler) -> dict[str, str]:
        """LogSinks owned by the folders/organisation above the scope (only those can be
        inherited by the projects in scope). Returns the reason per ancestor that failed."""
        if LOG_SINK_TYPE in asm.resource_failed_types:
            return {}
        hierarchy = asm.hierarchy
        wanted = asm.wanted_ancestors(
            lambda r: hierarchy.missing_sink_owners(r) if r.asset_type == PROJECT_TYPE else []
        )
        reasons: dict[str, str] = {}
        for ancestor in wanted:
            try:
                for page in self._pages(ancestor, [LOG_SINK_TYPE], RESOURCE):
                    for raw in page:
                        record = parse_record(raw)
                        if (record.ancestors or ("",))[0] == ancestor:
                            hierarchy.add_sink(record)
            except _CallFailed as failed:
                reasons[ancestor] = f"{failed.code}: {failed.message}"
                continue
            hierarchy.mark_sinks_known(ancestor)
        return reasons


def _container_type_of(short_name: str) -> str:
    kind = short_name.split("/", 1)[0]
    return {
        "projects": "cloudresourcemanager.googleapis.com/Project",
        "folders": "cloudresourcemanager.googleapis.com/Folder",
    }.get(kind, "cloudresourcemanager.googleapis.com/Organization")


def _status_name(error: Any) -> str:
    grpc_code = getattr(error, "grpc_status_code", None)
    if grpc_code is not None:
        return str(grpc_code.name)
    return type(error).__name__


# ---------------------------------------------------------------- offline import


class GcpExportCollector:
    """Offline import of `gcloud asset export` NDJSON or `gcloud asset list --format=json`."""

    provider = "gcp"

    def __init__(self, path: str | os.PathLike[str], salt: bytes = b"auditor") -> None:
        self.path = Path(path)
        self.salt = salt

    def scope(self) -> dict[str, Any]:
        return {"kind": "gcp-asset-export", "file": str(self.path)}

    def collect(self, sink: EvidenceSink) -> dict[str, Any]:
        if not self.path.is_file():
            raise UserError("asset export file not found", file=str(self.path))
        # Bulk load of acyclic JSON: the cyclic GC only costs time here (about 15%), so it is
        # paused for the import and restored after.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            return self._collect(sink)
        finally:
            if gc_was_enabled:
                gc.enable()

    def _collect(self, sink: EvidenceSink) -> dict[str, Any]:
        array = _is_json_array(self.path)
        asm = _Assembler(sink, self.salt, self.path.name, "ImportExport")
        rejects: list[dict[str, Any]] = []
        rejected = records = iam_records = 0
        resources_by_type: Counter[str] = Counter()
        ignored: Counter[str] = Counter()
        try:
            # pass 1: hierarchy and IAM policies (parsing errors are reported in pass 2)
            for _, raw in self._records(array, early_only=True):
                if isinstance(raw, MalformedRecord):
                    continue
                try:
                    record = parse_record(raw)
                except MalformedRecord:
                    continue
                if record.asset_type not in SPECS:
                    continue
                if record.iam_policy is not None:
                    iam_records += 1
                if record.asset_type in HIERARCHY_TYPES:
                    asm.take(record)
                elif record.iam_policy is not None:
                    asm.take(replace(record, resource=None))
            if not iam_records:
                asm.iam_failed_types.update(types_with(IAM_POLICY))
            # pass 2: every line; resources streamed out
            for line_no, raw in self._records(array, early_only=False):
                try:
                    if isinstance(raw, MalformedRecord):
                        raise raw
                    record = parse_record(raw)
                except MalformedRecord as bad:
                    rejected += 1
                    if len(rejects) < MAX_REJECTS_LISTED:
                        rejects.append({"line": line_no, "reason": str(bad)})
                    continue
                records += 1
                if record.asset_type not in SPECS:
                    ignored[record.asset_type] += 1
                    continue
                if record.asset_type in HIERARCHY_TYPES or record.resource is None:
                    continue
                resources_by_type[record.asset_type] += 1
                asm.emit(replace(record, iam_policy=None))
            # last: every LogSink has been indexed. Cloud Asset exports every project's built-in
            # _Required and _Default sinks, so a file without any LogSink record was exported
            # without that type: the sinks are unknown (ERROR), not absent (FAIL).
            if asm.hierarchy_has_projects() and not resources_by_type.get(LOG_SINK_TYPE):
                asm.resource_failed_types.add(LOG_SINK_TYPE)
            asm.emit_hierarchy()
            self._report_gaps(asm, iam_records, resources_by_type)
            return {
                **asm.stats(),
                "format": "json-array" if array else "ndjson",
                "records": records,
                "rejected_lines": rejected,
                "rejects": rejects,
                "ignored_asset_types": dict(sorted(ignored.items())),
                "pages": 0,
                "calls": 0,
            }
        finally:
            asm.spill.close()

    def _report_gaps(
        self, asm: _Assembler, iam_records: int, resources_by_type: Counter[str]
    ) -> None:
        """Missing content types become collection errors, so rules give ERROR, not a verdict."""
        if not iam_records:
            present = [t for t in types_with(IAM_POLICY) if asm.documents.get(t)]
            asm.report_missing_iam(
                present,
                "ContentTypeMissing",
                "the export file has no IAM_POLICY records (export with --content-type=iam-policy too)",
            )
        for asset_type, count in sorted(asm.spill.remaining_types().items()):
            if not resources_by_type.get(asset_type):
                asm.error(
                    "ContentTypeMissing",
                    f"the export file has {count} IAM_POLICY record(s) of this type but no RESOURCE "
                    "records (export with --content-type=resource too)",
                    resource_type=asset_type,
                )

    def _records(self, array: bool, *, early_only: bool) -> Iterator[tuple[int, Any]]:
        """(line number, parsed JSON or MalformedRecord) per record of the file."""
        with self.path.open("rb") as handle:
            if array:
                yield from _array_elements(handle)
                return
            for line_no, line in enumerate(handle, start=1):
                if early_only and not _may_matter_early(line):
                    continue
                if not line.strip():
                    continue
                try:
                    yield line_no, _loads(line)
                except (ValueError, RecursionError) as error:
                    yield line_no, MalformedRecord(f"not valid JSON: {_short(error)}")


_EARLY_MARKERS = (
    b'"iam_policy"',
    b'"iamPolicy"',
    b'"cloudresourcemanager.googleapis.com/Project"',
    b'"cloudresourcemanager.googleapis.com/Folder"',
    b'"cloudresourcemanager.googleapis.com/Organization"',
)


def _may_matter_early(line: bytes) -> bool:
    """Cheap pre-filter for pass 1: a line can only be a hierarchy asset or carry an IAM policy
    if one of these byte strings occurs in it (gcloud never escapes plain ASCII keys)."""
    return any(marker in line for marker in _EARLY_MARKERS)


def _short(error: BaseException) -> str:
    text = str(error)
    return text if len(text) < 200 else text[:200] + "..."


def _is_json_array(path: Path) -> bool:
    with path.open("rb") as handle:
        while chunk := handle.read(4096):
            stripped = chunk.lstrip()
            if stripped.startswith(b"\xef\xbb\xbf"):
                stripped = stripped[3:].lstrip()
            if stripped:
                return stripped.startswith(b"[")
    return False


_ARRAY_CHUNK = 1 << 20
_MAX_ELEMENT = 256 << 20


def _array_elements(handle: IO[bytes]) -> Iterator[tuple[int, Any]]:
    """Elements of a top-level JSON array, streamed; each with the line it starts on.

    A syntax error inside the array cannot be resynchronised reliably, so it is reported once
    (with its line) and the rest of the file is not read.
    """
    decoder = json.JSONDecoder(parse_float=_float_or_int)
    text_decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    buffer = ""
    pos = 0
    line = 1
    eof = False
    started = False

    def more() -> bool:
        nonlocal buffer, pos, eof
        chunk = handle.read(_ARRAY_CHUNK)
        if not chunk:
            eof = True
            buffer = buffer[pos:] + text_decoder.decode(b"", final=True)
            pos = 0
            return False
        buffer = buffer[pos:] + text_decoder.decode(chunk)
        pos = 0
        return True

    def skip(chars: str) -> None:
        nonlocal pos, line
        while True:
            while pos < len(buffer) and buffer[pos] in chars:
                if buffer[pos] == "\n":
                    line += 1
                pos += 1
            if pos < len(buffer) or not more():
                return

    skip(" \t\r\n\ufeff")
    if pos >= len(buffer) or buffer[pos] != "[":
        if pos < len(buffer):
            yield line, MalformedRecord("expected a JSON array")
        return
    pos += 1
    started = True
    while started:
        skip(" \t\r\n,")
        if pos >= len(buffer):
            yield line, MalformedRecord("unexpected end of file: the JSON array is not closed")
            return
        if buffer[pos] == "]":
            return
        while True:
            try:
                value, end = decoder.raw_decode(buffer, pos)
            except json.JSONDecodeError as error:
                if not eof and len(buffer) - pos < _MAX_ELEMENT and more():
                    continue
                yield line, MalformedRecord(f"not valid JSON: {_short(error)}")
                return
            if end == len(buffer) and not eof and more():
                continue  # a number or literal cut at the chunk boundary: re-read whole
            break
        yield line, value
        line += buffer.count("\n", pos, end)
        pos = end
        if pos > _ARRAY_CHUNK:
            buffer = buffer[pos:]
            pos = 0
