"""Live GCP collection cut into work units: (scope, asset type).

A document of an asset type needs the hierarchy above it (projects, folders, organisation and
their IAM policies, for inherited settings), and a project's document needs every log sink that
routes its logs. So the driver lists those first, as `GcpAssetCollector.collect` does (they are
small: one record per container, a few sinks each), and ships the result, `HierarchyContext`,
with every unit. Each `AssetTypeUnit` then lists the IAM_POLICY and RESOURCE records of its one
type on the worker and joins them itself; one `HierarchyUnit` emits the log sinks and the
hierarchy documents and carries the errors the driver met. The documents are those of one
`collect` run (a test asserts the same snapshot on every executor); only the calls differ: a
listing per type instead of one grouped listing, spending more of the ListAssets quota.

Units are picklable frozen dataclasses holding no credentials and no client: a worker makes
its own client (Application Default Credentials there, optionally impersonating).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from auditor.collect.gcp.assembler import SERVICE, Assembler
from auditor.collect.gcp.assets import (
    HIERARCHY_TYPES,
    IAM_POLICY,
    LOG_SINK_TYPE,
    RESOURCE,
    AssetRecord,
    Hierarchy,
    parse_record,
    types_with,
)
from auditor.models import CollectionError, EvidenceDoc, EvidenceSink

if TYPE_CHECKING:
    from auditor.collect.gcp.live import GcpAssetCollector

# Units of one scope listing at once: the conductor's per-key limit (distribute), by which each
# unit's share of the per-minute quota is divided.
UNITS_PER_SCOPE = 2
_SUMMED = ("assets", "iam_without_resource", "spilled_policies", "errors", "pages", "calls",
           "retries")  # fmt: skip


@dataclass(frozen=True)
class UnitSettings:
    """What a worker needs to make its own collector: where and how to call, no secrets."""

    scope: str
    endpoint: str | None
    impersonate_service_account: str | None
    page_size: int
    max_attempts: int
    backoff_initial: float
    backoff_max: float
    requests_per_minute: float | None
    timeout: float
    retry_deadline: float

    def collector(self, asset_types: Sequence[str]) -> GcpAssetCollector:
        from auditor.collect.gcp.live import GcpAssetCollector

        rate = self.requests_per_minute
        return GcpAssetCollector(
            self.scope,
            endpoint=self.endpoint,
            impersonate_service_account=self.impersonate_service_account,
            page_size=self.page_size,
            asset_types=asset_types,
            max_attempts=self.max_attempts,
            backoff_initial=self.backoff_initial,
            backoff_max=self.backoff_max,
            requests_per_minute=rate / UNITS_PER_SCOPE if rate else rate,
            timeout=self.timeout,
            retry_deadline=self.retry_deadline,
        )


@dataclass(frozen=True)
class HierarchyContext:
    """The driver's listing of the hierarchy and log sinks, as every unit receives it."""

    hierarchy: Hierarchy
    iam_failed_types: frozenset[str]
    resource_failed_types: frozenset[str]
    sinks: tuple[AssetRecord, ...]
    ancestor_errors: Mapping[str, str]
    sink_errors: Mapping[str, str]
    errors: tuple[CollectionError, ...]  # met while listing them, recorded by HierarchyUnit

    def assembler(self, sink: EvidenceSink, salt: bytes, scope: str) -> Assembler:
        asm = Assembler(sink, salt, scope, "ListAssets")
        asm.hierarchy = self.hierarchy
        asm.iam_failed_types.update(self.iam_failed_types)
        asm.resource_failed_types.update(self.resource_failed_types)
        return asm


def _failed(scope: str, resource_type: str | None, error: BaseException) -> CollectionError:
    return CollectionError(
        provider="gcp",
        account=scope,
        region="global",
        service=SERVICE,
        operation="ListAssets",
        error_code=type(error).__name__,
        message=f"the collection unit did not complete: {error}",
        resource_type=resource_type,
    )


@dataclass(frozen=True)
class _ScopeUnit:
    """What every unit of a scope has: how to call, the driver's listing, and the scope's key
    (one ListAssets quota: the conductor keeps few of its units running at once)."""

    settings: UnitSettings
    context: HierarchyContext

    @property
    def key(self) -> str:
        return f"gcp:{self.settings.scope}"


@dataclass(frozen=True)
class AssetTypeUnit(_ScopeUnit):
    """The IAM_POLICY and RESOURCE records of one asset type in one scope, joined into
    documents on the worker."""

    asset_type: str = ""

    @property
    def label(self) -> str:
        return f"{self.settings.scope} {self.asset_type}"

    def collect(self, sink: EvidenceSink, salt: bytes) -> dict[str, Any]:
        collector = self.settings.collector([self.asset_type])
        return collector.collect_types(sink, salt, self.context)

    def failed(self, error: BaseException) -> tuple[CollectionError, ...]:
        return (_failed(self.settings.scope, self.asset_type, error),)


@dataclass(frozen=True)
class HierarchyUnit(_ScopeUnit):
    """The log sinks' and the hierarchy's documents (no calls: the driver listed them)."""

    @property
    def label(self) -> str:
        return f"{self.settings.scope} hierarchy"

    def collect(self, sink: EvidenceSink, salt: bytes) -> dict[str, Any]:
        context = self.context
        for error in context.errors:
            sink.add_error(error)
        asm = context.assembler(sink, salt, self.settings.scope)
        try:
            for record in context.sinks:
                asm.emit(record)
            asm.emit_hierarchy(context.ancestor_errors, context.sink_errors)
            return asm.stats()
        finally:
            asm.spill.close()

    def failed(self, error: BaseException) -> tuple[CollectionError, ...]:
        types = sorted(HIERARCHY_TYPES | {LOG_SINK_TYPE})
        return tuple(_failed(self.settings.scope, t, error) for t in types)


class _Recorder:
    """The driver's sink while it lists the hierarchy: errors kept for the HierarchyUnit."""

    def __init__(self) -> None:
        self.errors: list[CollectionError] = []

    def add(self, doc: EvidenceDoc) -> None:
        raise AssertionError(f"no document is emitted while listing the hierarchy: {doc}")

    def add_error(self, error: CollectionError) -> None:
        self.errors.append(error)


def list_hierarchy(collector: GcpAssetCollector) -> HierarchyContext:
    """On the driver: the hierarchy (both content types), the IAM policies of ancestors above
    the scope, and every log sink in and above it, as `collect` lists them."""
    recorder = _Recorder()
    asm = Assembler(recorder, collector.salt, collector.scope_name, "ListAssets")
    try:
        hierarchy_types = [t for t in collector.asset_types if t in HIERARCHY_TYPES]
        iam_types = set(types_with(IAM_POLICY))
        for content_type in (RESOURCE, IAM_POLICY):
            wanted = hierarchy_types
            if content_type == IAM_POLICY:
                wanted = [t for t in hierarchy_types if t in iam_types]
            for raw in collector._list_group(asm, wanted, content_type):
                asm.take(parse_record(raw))
        ancestor_errors = collector._fetch_outside_ancestors(asm)
        sinks: list[AssetRecord] = []
        if LOG_SINK_TYPE in collector.asset_types:
            for raw in collector._list_group(asm, [LOG_SINK_TYPE], RESOURCE):
                record = asm.take(parse_record(raw))
                if record is not None:
                    sinks.append(record)
                    asm.hierarchy.add_sink(record)
            if LOG_SINK_TYPE in iam_types:  # not today (RESOURCE only); joined here if it were
                for raw in collector._list_group(asm, [LOG_SINK_TYPE], IAM_POLICY):
                    asm.take(parse_record(raw))
                sinks = [_joined(asm, record) for record in sinks]
        else:
            asm.resource_failed_types.add(LOG_SINK_TYPE)  # not collected: sinks unknown
        sink_errors = collector._fetch_outside_sinks(asm)
        return HierarchyContext(
            hierarchy=asm.hierarchy,
            iam_failed_types=frozenset(asm.iam_failed_types),
            resource_failed_types=frozenset(asm.resource_failed_types),
            sinks=tuple(sinks),
            ancestor_errors=dict(ancestor_errors),
            sink_errors=dict(sink_errors),
            errors=tuple(recorder.errors),
        )
    finally:
        asm.spill.close()


def _joined(asm: Assembler, record: AssetRecord) -> AssetRecord:
    policy = asm.spill.pop(record.name)
    return record if policy is None else replace(record, iam_policy=policy)


def make_units(
    collector: GcpAssetCollector, context: HierarchyContext
) -> list[AssetTypeUnit | HierarchyUnit]:
    """One unit per asset type outside the hierarchy (log sinks included in the hierarchy
    unit), then the hierarchy unit."""
    settings = UnitSettings(
        scope=collector.scope_name,
        endpoint=collector.endpoint,
        impersonate_service_account=collector.impersonate_service_account,
        page_size=collector.page_size,
        max_attempts=collector.max_attempts,
        backoff_initial=collector.backoff_initial,
        backoff_max=collector.backoff_max,
        requests_per_minute=collector.requests_per_minute,
        timeout=collector.timeout,
        retry_deadline=collector.retry_deadline,
    )
    units: list[AssetTypeUnit | HierarchyUnit] = [
        AssetTypeUnit(settings, context, asset_type=asset_type)
        for asset_type in collector.asset_types
        if asset_type not in HIERARCHY_TYPES and asset_type != LOG_SINK_TYPE
    ]
    units.append(HierarchyUnit(settings, context))
    return units


def combine(
    scope: str, driver: Mapping[str, Any], stats: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """The statistics one `collect` run would have returned, from the driver's listing and the
    units'."""
    total: Counter[str] = Counter()
    by_type: Counter[str] = Counter()
    for part in (driver, *stats):
        for key in _SUMMED:
            total[key] += int(part.get(key, 0) or 0)
        by_type.update(part.get("documents_by_type") or {})
    return {
        **{key: total[key] for key in _SUMMED},
        "documents_by_type": dict(sorted(by_type.items())),
        "rejected_lines": 0,
        "scope": scope,
    }
