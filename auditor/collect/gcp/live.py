"""Live GCP collection through Cloud Asset Inventory (`AssetServiceClient.list_assets`).

Hierarchy types are listed first (both content types), then IAM_POLICY of the other types
(spilled), then their RESOURCE pages, each joined with its policy and emitted at once; LogSink
records are also indexed as they pass. The hierarchy documents are emitted last, when every sink
is known (sinks of ancestors above the scope are listed from those ancestors).
"""

from __future__ import annotations

import ipaddress
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from auditor.collect.gcp.assembler import Assembler
from auditor.collect.gcp.assets import (
    HIERARCHY_TYPES,
    IAM_POLICY,
    LOG_SINK_TYPE,
    PROJECT_TYPE,
    RESOURCE,
    SPECS,
    integral_floats_to_int,
    parse_record,
    types_with,
)
from auditor.errors import UserError
from auditor.models import EvidenceSink

ENDPOINT_ENV = "AUDITOR_GCP_ASSET_ENDPOINT"
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
_SCOPE = re.compile(
    r"^(projects/[a-z][a-z0-9.:-]{3,61}[a-z0-9]|projects/\d+|folders/\d+|organizations/\d+)$"
)
_RETRYABLE = frozenset({"RESOURCE_EXHAUSTED", "UNAVAILABLE", "DEADLINE_EXCEEDED"})
DEADLINE = "DeadlineExceeded"  # the error code of calls the run's deadline cut off (as on AWS)


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
    With `deadline_seconds`, no call (or retry, or backoff) runs past the run's deadline: each
    attempt's timeout is cut to the time left, and calls after it fail as `DeadlineExceeded`
    collection errors, so a stalling API ends in ERROR, never in a hang.
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
        deadline_seconds: float | None = None,
        retry_deadline: float = 600.0,
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
        self.deadline_seconds = deadline_seconds
        self._deadline = float("inf")
        self.retry_deadline = retry_deadline  # per call, across its retries
        self._sleep = sleep  # the rate limiter's (retries sleep inside google.api_core)
        self.requests_per_minute = requests_per_minute
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
        if self.deadline_seconds is not None:
            self._deadline = time.monotonic() + self.deadline_seconds
        asm = Assembler(sink, self.salt, self.scope_name, "ListAssets")
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

    # -- work units (collect/gcp/units.py): the driver lists the hierarchy, units the types
    def units(self) -> list[Any]:
        """(scope, asset type) units, after listing the hierarchy and log sinks here."""
        from auditor.collect.gcp import units

        if self._client is None:
            self._client = make_client(
                self.endpoint, self.credentials, self.impersonate_service_account
            )
        self._stats = Counter()
        context = units.list_hierarchy(self)
        self._driver_stats = {**self._stats, "errors": len(context.errors)}
        return units.make_units(self, context)

    def combine(self, stats: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        from auditor.collect.gcp import units

        return units.combine(self.scope_name, getattr(self, "_driver_stats", {}), stats)

    def collect_types(self, sink: EvidenceSink, salt: bytes, context: Any) -> dict[str, Any]:
        """On a worker: this collector's asset types (outside the hierarchy), each RESOURCE
        record joined with its IAM policy and the shipped hierarchy into a document."""
        if self._client is None:
            self._client = make_client(
                self.endpoint, self.credentials, self.impersonate_service_account
            )
        self._stats = Counter()
        asm = context.assembler(sink, salt, self.scope_name)
        try:
            iam_types = set(types_with(IAM_POLICY))
            wanted = [t for t in self.asset_types if t in iam_types]
            for raw in self._list_group(asm, wanted, IAM_POLICY):
                asm.take(parse_record(raw))
            for raw in self._list_group(asm, self.asset_types, RESOURCE):
                record = asm.take(parse_record(raw))
                if record is not None:
                    asm.emit(record)
            return {
                **asm.stats(),
                "pages": self._stats["pages"],
                "calls": self._stats["calls"],
                "retries": self._stats["retries"],
            }
        finally:
            asm.spill.close()

    # -- listing
    def _list_group(
        self, asm: Assembler, types: Sequence[str], content_type: str, parent: str | None = None
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
        """One ListAssets call, retried by `google.api_core.retry.Retry` on quota and
        availability errors (exponential backoff with full jitter, at most `max_attempts`
        attempts within `retry_deadline` seconds); each attempt waits for the rate limiter and
        counts as a call. A call that still fails raises _CallFailed (a collection error)."""
        from google.api_core import exceptions
        from google.api_core.retry import Retry

        attempts = 0

        def attempt() -> Any:
            nonlocal attempts
            attempts += 1
            self._limiter.acquire()
            left = self._deadline - time.monotonic()
            if left <= 0:
                raise _CallFailed(
                    DEADLINE,
                    f"the collection deadline of {self.deadline_seconds:g} s passed before this "
                    "call could be made",
                )
            self._stats["calls"] += 1
            return self._client.list_assets(
                request=request, retry=None, timeout=min(self.timeout, left)
            )

        def retryable(error: Exception) -> bool:
            return (
                isinstance(error, exceptions.GoogleAPICallError)
                and _status_name(error) in _RETRYABLE
                and attempts < self.max_attempts
            )

        retry = Retry(
            predicate=retryable,
            initial=self.backoff_initial,
            maximum=self.backoff_max,
            multiplier=2.0,
            timeout=max(0.0, min(self.retry_deadline, self._deadline - time.monotonic())),
        )
        try:
            return retry(attempt)()
        except exceptions.RetryError as error:  # the deadline passed between attempts
            cause = error.cause
            code = _status_name(cause) if cause is not None else "DEADLINE_EXCEEDED"
            message = cause.message if isinstance(cause, exceptions.GoogleAPICallError) else ""
            raise _CallFailed(
                code,
                f"{message or error} (still failing after {attempts} attempts and the retry "
                f"deadline of {self.retry_deadline:g} s)",
            ) from error
        except exceptions.GoogleAPICallError as error:
            raise _CallFailed(_status_name(error), error.message or str(error)) from error
        finally:
            self._stats["retries"] += attempts - 1

    def _fetch_outside_ancestors(self, asm: Assembler) -> dict[str, str]:
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

    def _fetch_outside_sinks(self, asm: Assembler) -> dict[str, str]:
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
