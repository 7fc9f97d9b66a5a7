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
`JSONDecoder.raw_decode` over a growing buffer (not ijson: its item builder keeps the last of
duplicate keys and gives no line numbers, and an element's start line is what an operator needs).

Absence is never inferred from an import: a record that cannot be read (not JSON, duplicate
keys, NaN, longer than `max_line_bytes`, nested deeper than `max_depth`) becomes a collection
error for the resource its raw text still names, or an export-level error with its line numbers,
so the controls give ERROR instead of treating the resource as absent. The file's sha256, size and
export time (its `read_time`, else the latest `update_time`) go to the manifest as provenance.
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
MAX_LINE_BYTES = 16 << 20  # one export line or array element; larger is an unreadable record
MAX_DEPTH = 200  # JSON nesting of one record
_SCOPE = re.compile(
    r"^(projects/[a-z][a-z0-9.:-]{3,61}[a-z0-9]|projects/\d+|folders/\d+|organizations/\d+)$"
)
_RETRYABLE = frozenset({"RESOURCE_EXHAUSTED", "UNAVAILABLE", "DEADLINE_EXCEEDED"})


def _float_or_int(text: str) -> float | int:
    value = float(text)
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object whose keys are unique: with a duplicate, which value is the evidence?"""
    value = dict(pairs)
    if len(value) != len(pairs):
        seen: set[str] = set()
        duplicate = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise ValueError(f"duplicate key {duplicate!r} in one object")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


_DECODER = json.JSONDecoder(
    parse_float=_float_or_int, object_pairs_hook=_unique_keys, parse_constant=_no_constant
)


def _loads(line: bytes | str) -> Any:
    """JSON with integral floats as ints, matching the gRPC path (Struct doubles -> ints).
    Duplicate keys and NaN/Infinity are refused, so evidence cannot be last-wins or non-JSON.
    (One decoder for every line: `json.loads` with options builds a new one per call.)"""
    text = line.decode("utf-8-sig") if isinstance(line, bytes) else line
    return _DECODER.decode(text)


class _Unreadable(MalformedRecord):
    """A record that could not be read, with the start of its raw text (to name the resource)
    and whether reading had to stop there (the rest of an array cannot be resynchronised)."""

    def __init__(self, reason: str, head: str = "", *, fatal: bool = False) -> None:
        super().__init__(reason)
        self.head = head
        self.fatal = fatal


_HEAD_CHARS = 4096
_STRING = r'"((?:[^"\\]|\\.){1,2000})"'
_NAME_RE = re.compile(r'"name"\s*:\s*' + _STRING)
_TYPE_RE = re.compile(r'"(?:asset_type|assetType)"\s*:\s*' + _STRING)


def _recover(head: str, raw: Any = None) -> tuple[str | None, str | None]:
    """The asset name and type an unreadable record still states, if any."""
    if isinstance(raw, dict):
        name, asset_type = raw.get("name"), raw.get("asset_type", raw.get("assetType"))
        if isinstance(name, str) and isinstance(asset_type, str) and name and asset_type:
            return name, asset_type
    name_match = _NAME_RE.search(head)
    type_match = _TYPE_RE.search(head)
    name = name_match.group(1) if name_match else None
    asset_type = type_match.group(1) if type_match else None
    if name is not None and not name.startswith("//"):
        name = None  # a nested "name", not the asset's full resource name
    return name, asset_type


def _too_deep(value: Any, limit: int) -> bool:
    """Whether a parsed value nests deeper than `limit` (iterative: no recursion limit)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if not isinstance(item, dict | list):
            continue
        children = item.values() if isinstance(item, dict) else item
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


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


def needs_credentials(endpoint: str | None = None) -> bool:
    """Whether a live collection through this endpoint needs Google credentials."""
    endpoint = endpoint or os.environ.get(ENDPOINT_ENV) or None
    return not (endpoint and _is_plaintext(endpoint))


def credentials_problem() -> str | None:
    """Why Application Default Credentials cannot be found, or None when they can."""
    import google.auth
    from google.auth import exceptions

    try:
        google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
    except exceptions.DefaultCredentialsError as error:
        return str(error).splitlines()[0]
    return None


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

    def __init__(
        self,
        path: str | os.PathLike[str],
        salt: bytes = b"auditor",
        *,
        max_line_bytes: int = MAX_LINE_BYTES,
        max_depth: int = MAX_DEPTH,
    ) -> None:
        self.path = Path(path)
        self.salt = salt
        self.max_line_bytes = max_line_bytes
        self.max_depth = max_depth

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
        except OSError as error:
            raise UserError(f"cannot read the asset export: {error}", file=str(self.path)) from None
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
        unidentified: list[int] = []  # lines that could not be read and name no resource
        export_time: str | None = None  # the export's own read_time, when records carry it
        update_time: str | None = None  # else the latest update_time of its assets
        provenance = _file_provenance(self.path)
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
                    self._unreadable(asm, line_no, bad, raw, unidentified)
                    continue
                records += 1
                export_time = _later(export_time, raw.get("read_time") or raw.get("readTime"))
                update_time = _later(update_time, record.update_time)
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
            if unidentified:
                listed = ", ".join(map(str, unidentified[:MAX_REJECTS_LISTED]))
                more = len(unidentified) - MAX_REJECTS_LISTED
                asm.error(
                    "MalformedExportLine",
                    f"{len(unidentified)} record(s) of {self.path.name} could not be read and "
                    f"name no resource (line{'s' if len(unidentified) > 1 else ''} {listed}"
                    f"{f' and {more} more' if more > 0 else ''}); whatever they described is "
                    "unknown, not absent",
                )
            if export_time or update_time:
                provenance["evidence_time"] = export_time or update_time
                provenance["evidence_time_source"] = "read_time" if export_time else "update_time"
            return {
                **asm.stats(),
                "provenance": provenance,
                "unidentified_lines": unidentified[:MAX_REJECTS_LISTED],
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

    def _unreadable(
        self,
        asm: _Assembler,
        line_no: int,
        bad: MalformedRecord,
        raw: Any,
        unidentified: list[int],
    ) -> None:
        """A record that cannot be read is not a resource that does not exist: an error for the
        resource it names (its controls give ERROR), or for the export when it names none."""
        head = bad.head if isinstance(bad, _Unreadable) else ""
        name, asset_type = _recover(head, raw)
        if name and asset_type:
            asm.error(
                "MalformedExportLine",
                f"line {line_no} of {self.path.name} could not be read ({bad}), so this "
                "resource's evidence is unknown",
                resource_type=asset_type,
                resource_id=name,
            )
        if isinstance(bad, _Unreadable) and bad.fatal:
            asm.error(
                "MalformedExportLine",
                f"reading {self.path.name} stopped at line {line_no} ({bad}); whatever the rest "
                "of the file described is unknown, not absent",
            )
        elif not (name and asset_type):
            unidentified.append(line_no)

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
                for line_no, value in _array_elements(handle, self.max_line_bytes):
                    if not isinstance(value, MalformedRecord):
                        value = self._checked(value)
                    yield line_no, value
                return
            for line_no, line, whole in _bounded_lines(handle, self.max_line_bytes):
                if early_only and not _may_matter_early(line):
                    continue
                if not whole:
                    yield (
                        line_no,
                        _Unreadable(
                            f"line longer than {self.max_line_bytes} bytes (collection.max_line_bytes)",
                            _head(line),
                        ),
                    )
                    continue
                if not line.strip():
                    continue
                try:
                    value = _loads(line)
                except RecursionError:
                    value = _Unreadable(f"nested deeper than {self.max_depth} levels", _head(line))
                except ValueError as error:
                    value = _Unreadable(f"not valid JSON: {_short(error)}", _head(line))
                else:
                    if line.count(b"{") + line.count(b"[") > self.max_depth:
                        value = self._checked(value, line)
                yield line_no, value

    def _checked(self, value: Any, line: bytes = b"") -> Any:
        """The value, or an unreadable record when it nests deeper than `max_depth`."""
        if _too_deep(value, self.max_depth):
            head = _head(line) if line else json.dumps(value)[:_HEAD_CHARS]
            return _Unreadable(
                f"nested deeper than {self.max_depth} levels (collection.max_depth)", head
            )
        return value


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


def _bounded_lines(handle: IO[bytes], limit: int) -> Iterator[tuple[int, bytes, bool]]:
    """(line number, line, whole) per line; a line over `limit` bytes is cut there (whole is
    False) and the rest of it skipped, so one huge line never has to fit in memory."""
    line_no = 0
    while True:
        line = handle.readline(limit + 1)
        if not line:
            return
        line_no += 1
        if len(line) <= limit or line.endswith(b"\n"):
            yield line_no, line, True
            continue
        while True:  # skip the rest of this line
            rest = handle.readline(1 << 20)
            if not rest or rest.endswith(b"\n"):
                break
        yield line_no, line[:_HEAD_CHARS], False


def _head(line: bytes) -> str:
    return line[:_HEAD_CHARS].decode("utf-8", "replace")


def _later(current: str | None, candidate: Any) -> str | None:
    """The later of two RFC 3339 timestamps (compared as instants), ignoring non-strings."""
    if not isinstance(candidate, str) or not candidate or candidate == current:
        return current
    if (
        current is not None
        and len(candidate) == len(current)
        and candidate[-1] == current[-1] == "Z"
    ):
        return candidate if candidate > current else current  # same UTC spelling: text order
    try:
        moment = _instant(candidate)
    except ValueError:
        return current
    if current is None or moment > _instant(current):
        return candidate
    return current


def _instant(text: str) -> Any:
    from datetime import UTC, datetime

    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _file_provenance(path: Path) -> dict[str, Any]:
    """What the imported file was: name, size and sha256, recorded beside its evidence."""
    import hashlib

    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
            size += len(block)
    return {"source": "file", "file": path.name, "sha256": digest.hexdigest(), "size": size}


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


def _array_elements(handle: IO[bytes], limit: int = MAX_LINE_BYTES) -> Iterator[tuple[int, Any]]:
    """Elements of a top-level JSON array, streamed; each with the line it starts on.

    A syntax error inside the array, or an element over `limit` characters, cannot be
    resynchronised reliably, so it is reported once (with its line, `fatal`) and the rest of the
    file is not read. An element that is valid JSON but refused (duplicate keys, NaN) is skipped.
    """
    decoder = json.JSONDecoder(
        parse_float=_float_or_int, object_pairs_hook=_unique_keys, parse_constant=_no_constant
    )
    plain = json.JSONDecoder()
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
            yield line, _Unreadable("expected a JSON array", fatal=True)
        return
    pos += 1
    started = True
    while started:
        skip(" \t\r\n,")
        if pos >= len(buffer):
            yield (
                line,
                _Unreadable("unexpected end of file: the JSON array is not closed", fatal=True),
            )
            return
        if buffer[pos] == "]":
            return
        refused: str | None = None
        while True:
            try:
                value, end = decoder.raw_decode(buffer, pos)
            except json.JSONDecodeError as error:
                if not eof and len(buffer) - pos <= limit and more():
                    continue
                head = buffer[pos : pos + _HEAD_CHARS]
                if len(buffer) - pos > limit:
                    reason = f"array element longer than {limit} bytes (collection.max_line_bytes)"
                else:
                    reason = f"not valid JSON: {_short(error)}"
                yield line, _Unreadable(f"{reason}; the rest of the file was not read", head,
                                        fatal=True)  # fmt: skip
                return
            except RecursionError:
                yield (
                    line,
                    _Unreadable(
                        "nested too deeply; the rest of the file was not read",
                        buffer[pos : pos + _HEAD_CHARS],
                        fatal=True,
                    ),
                )
                return
            except ValueError as error:  # valid JSON, refused: skip exactly this element
                try:
                    _, end = plain.raw_decode(buffer, pos)
                except json.JSONDecodeError:
                    if not eof and len(buffer) - pos <= limit and more():
                        continue
                    yield (
                        line,
                        _Unreadable(
                            f"not valid JSON: {_short(error)}; the rest of the file was not read",
                            buffer[pos : pos + _HEAD_CHARS],
                            fatal=True,
                        ),
                    )
                    return
                refused = f"not valid JSON: {_short(error)}"
            if end == len(buffer) and not eof and more():
                refused = None
                continue  # a number or literal cut at the chunk boundary: re-read whole
            if end - pos > limit:
                refused = f"array element longer than {limit} bytes (collection.max_line_bytes)"
            break
        if refused is not None:
            yield line, _Unreadable(refused, buffer[pos : pos + _HEAD_CHARS])
        else:
            yield line, value
        line += buffer.count("\n", pos, end)
        pos = end
        if pos > _ARRAY_CHUNK:
            buffer = buffer[pos:]
            pos = 0
