"""The conductor: catalog -> collect -> store -> evaluate -> report.

The only module that knows the order of the stages. Each function is one step a command (or a
scheduler, or the demo) asks for; file I/O around the pure evaluate stage happens here.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import pickle
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from auditor import catalog as catalog_stage
from auditor import collect, distribute, evidence, settings, yamlfile
from auditor import evaluate as evaluate_stage
from auditor import report as report_stage
from auditor.catalog import formats as catalog_formats
from auditor.config import (
    DEFAULT_ASSERTION_NOTE,
    AwsSettings,
    CollectionSettings,
    Config,
    Organisation,
)
from auditor.errors import RunError, UserError
from auditor.executors import ExecutorSpec, open_executor, parse_executor
from auditor.files import write_atomic

# Re-exported (`X as X`) for the CLI, which imports nothing but the pipeline, the configuration
# and the errors (tests/test_cli_layering.py).
from auditor.models import FRAMEWORKS as FRAMEWORKS
from auditor.models import (
    SCOPE_ROLES,
    Attestation,
    AuditResult,
    Catalog,
    CollectionError,
    Collector,
    CompletenessWarning,
    EvidenceDoc,
    EvidenceSink,
    Finding,
    FindingsDiff,
    Period,
    ScopeDefinition,
    ScopeResult,
    Snapshot,
    SnapshotManifest,
    Status,
    UnitCollector,
    Waiver,
    isoformat,
    parse_time,
    sha256_hex,
    utcnow,
)
from auditor.models import Stage as Stage
from auditor.models import neutralise_text as neutralise_text
from auditor.progress import unit_progress as unit_progress
from auditor.progress import wanted as wanted

Progress = Callable[[str], None]


def no_progress(_: str) -> None:
    """The default progress callback: say nothing."""


# ---------------------------------------------------------------- settings


def chosen_settings(
    config: Config | None,
    options: Mapping[str, tuple[str, Any]],
    environ: Mapping[str, str] | None = None,
) -> dict[str, settings.Setting]:
    """Every setting by the one precedence rule (option given > environment > auditor.yaml >
    default). `options` maps a setting path to (option name, value as parsed): None (click's
    "not given") or settings.NOT_GIVEN leave the setting to the environment, file or default."""
    given = {path: (name, settings.given(value)) for path, (name, value) in options.items()}
    return settings.effective(config, given, environ)


def store_url_for(option: str | None, config: Config | None = None) -> str:
    """The evidence store: --store > AUDITOR_STORE > store.url in auditor.yaml > default."""
    setting = settings.resolve(
        "store.url", config=config, option=settings.given(option), option_name="--store"
    )
    return settings.store_url(setting, config)


@dataclass(frozen=True)
class SettingsView:
    """What `auditor config show` prints: every effective setting with its source."""

    config_file: str | None
    store: str  # the store in use, resolved like any path setting
    settings: tuple[settings.Setting, ...]


def settings_view(config: Config | None, store_option: str | None) -> SettingsView:
    resolved = chosen_settings(config, {"store.url": ("--store", store_option)})
    return SettingsView(
        config.source_file() if config else None,
        settings.store_url(resolved["store.url"], config),
        tuple(resolved.values()),
    )


def settings_reference() -> str:
    """docs/configuration.md: every setting auditor.yaml accepts."""
    return settings.schema_markdown()


# ---------------------------------------------------------------- catalog


def load_catalog(
    extra_dirs: Iterable[Path] = (),
    params: Mapping[str, Any] | None = None,
    *,
    config: Config | None = None,
) -> Catalog:
    """The shipped catalog plus an organisation's folders, validated against what collectors produce.

    Parameter values come from auditor.yaml; an error about one names that file and line."""
    try:
        return catalog_stage.load_catalog(
            tuple(extra_dirs), params=params or {}, known_resource_types=collect.resource_types()
        )
    except UserError as exc:
        if config is None or exc.file or not (exc.field or "").startswith("params."):
            raise
        source, line = config.param_location((exc.field or "").removeprefix("params."))
        raise UserError(
            exc.message, file=source, line=line, field=f"controls.{exc.field}"
        ) from None


def config_catalog(config: Config, extra_dirs: Iterable[Path] = ()) -> Catalog:
    """The catalog as auditor.yaml configures it: its folders and parameter values."""
    dirs = [*extra_dirs, *(p for p in map(config.path, config.controls.extra_dirs) if p)]
    return load_catalog(dirs, config.controls.params, config=config)


def catalog_for(config: Config | None, extra_dirs: Iterable[Path] = ()) -> Catalog:
    """The configured catalog with an auditor.yaml, else the shipped one plus `extra_dirs`."""
    return config_catalog(config, extra_dirs) if config else load_catalog(extra_dirs)


# ---------------------------------------------------------------- collect


def open_store(url: str, config: Config | None = None) -> evidence.EvidenceStore:
    options: dict[str, Any] = {}
    if config is not None:
        if config.store.kms_key_id:
            options["kms_key_id"] = config.store.kms_key_id
        if config.store.object_lock_mode:
            options["object_lock_mode"] = config.store.object_lock_mode
            options["object_lock_days"] = config.store.object_lock_days
        if config.store.sign is not None:
            options["signer"] = store_signer(config)
    return evidence.open_store(url, **options)


def store_signer(config: Config) -> evidence.StoreSigner | None:
    """`store.sign` of auditor.yaml: the key that signs each new manifest and void record."""
    sign = config.store.sign
    if sign is None:
        return None
    return evidence.StoreSigner(
        key_path=config.path(sign.key) or Path(sign.key),
        cert_path=config.path(sign.cert),
        passphrase=os.environ.get(sign.passphrase_env) if sign.passphrase_env else None,
    )


def aws_collector(
    store: evidence.EvidenceStore,
    *,
    profile: str | None = None,
    role_arns: Sequence[str] = (),
    org_role_name: str | None = None,
    regions: Sequence[str] | str | None = None,
    max_workers: int = 16,
    limits: CollectionSettings | None = None,
    aws: AwsSettings | None = None,
    executor: ExecutorSpec | None = None,
) -> Collector:
    """`aws`: the assume-role settings of auditor.yaml; `executor`: the run goes as work
    units there, each entering its account on its worker."""
    from auditor.collect.aws.scope import RoleAccess

    limits = limits or CollectionSettings()
    aws = aws or AwsSettings()
    return collect.AwsCollector(
        profile=profile,
        role_arns=tuple(role_arns),
        org_role_name=org_role_name,
        regions=regions,
        salt=store.redaction_salt(),
        max_workers=max_workers,
        max_attempts=limits.max_attempts,
        connect_timeout=limits.connect_timeout,
        read_timeout=limits.read_timeout,
        deadline_seconds=limits.deadline_seconds,
        roles=[
            RoleAccess(role.arn, **role.model_dump(exclude={"arn"}, exclude_none=True))
            for role in aws.roles
        ],
        assume=aws.assume_role.model_dump(exclude_none=True),
        enter_on_workers=executor is not None,
        unit_threads=1 if executor is not None and executor.workers == 1 else UNIT_THREADS,
    )


UNIT_THREADS = 8  # concurrent calls inside one AWS unit (one thread in all with one worker)
# Units one local Dask worker process runs at once: units mostly wait on the network, so one
# at a time would leave a process idle; the thread pool runs `--workers` units at once.
UNITS_PER_PROCESS = 8


def collection_executor(
    config: Config | None,
    *,
    executor: Any = None,
    workers: Any = None,
    environ: Mapping[str, str] | None = None,
) -> ExecutorSpec:
    """Where work units run: `--executor` > AUDITOR_EXECUTOR > collection.executor (default:
    a thread pool), with `--workers` > aws.max_workers as the number of workers
    (auditor.settings' one rule)."""
    from auditor import settings

    chosen = settings.resolve(
        "collection.executor",
        config=config,
        option=settings.given(executor),
        option_name="--executor",
        environ=environ,
    )
    count = settings.resolve(
        "aws.max_workers", config=config, option=settings.given(workers), option_name="--workers"
    )
    try:
        return parse_executor(str(chosen.value), int(count.value))
    except ValueError as error:
        file, line = (None, None)
        if chosen.kind == "file" and config is not None:
            file, line = config.location("collection", "executor")
        raise UserError(
            str(error), file=file, line=line, field=chosen.source.removeprefix("option ")
        ) from None


def gcp_collector(
    store: evidence.EvidenceStore,
    *,
    scope: str | None = None,
    asset_export: Path | None = None,
    endpoint: str | None = None,
    impersonate: str | None = None,
    limits: Mapping[str, int] | None = None,
    collection: CollectionSettings | None = None,
) -> Collector:
    """`limits`: max_line_bytes and max_depth of one export record (auditor.yaml collection);
    `collection`: the run deadline and per-call timeout of a live collection."""
    if asset_export is not None:
        if not asset_export.is_file():
            raise UserError("asset export file not found", file=str(asset_export))
        return collect.GcpExportCollector(
            asset_export, salt=store.redaction_salt(), **(limits or {})
        )
    if not scope:
        raise UserError("give --scope projects/ID|folders/N|organizations/N or --asset-export FILE")
    return collect.GcpAssetCollector(
        scope=scope,
        endpoint=endpoint or os.environ.get("AUDITOR_GCP_ASSET_ENDPOINT"),
        impersonate_service_account=impersonate,
        salt=store.redaction_salt(),
        timeout=(collection or CollectionSettings()).read_timeout,
        deadline_seconds=(collection or CollectionSettings()).deadline_seconds,
    )


DEFAULT_COMPLETENESS_THRESHOLD = 0.5
# Units enforce the collection deadline themselves; a unit not back this long after it (a
# worker that hangs or vanished) is recorded as failed.
DEADLINE_GRACE_S = 120.0


class _TallySink:
    """Passes everything to the snapshot writer and counts documents per (type, account,
    region), for the emptiness and completeness checks. Thread-safe: the AWS engine is."""

    def __init__(self, sink: EvidenceSink) -> None:
        self.sink = sink
        self.counts: Counter[tuple[str, str, str]] = Counter()
        self.errors: list[CollectionError] = []
        self._ids: dict[str, set[str]] = {}  # resource IDs per type
        self._lock = threading.Lock()

    def add(self, doc: EvidenceDoc) -> None:
        self.sink.add(doc)
        with self._lock:
            self.counts[(doc.resource_type, doc.account, doc.region)] += 1
            self._ids.setdefault(doc.resource_type, set()).add(doc.resource_id)

    def listed(self, derived_types: set[str]) -> bool:
        """Whether anything was really read: a document that is not made for every account
        regardless (`derived_types`) and not itself named by a collection error."""
        failed = {e.resource_id for e in self.errors if e.resource_id is not None}
        return any(
            ids - failed for resource_type, ids in self._ids.items()
            if resource_type not in derived_types
        )  # fmt: skip

    def add_error(self, error: CollectionError) -> None:
        self.sink.add_error(error)
        with self._lock:
            self.errors.append(error)

    def add_entries(self, entries: Iterable[evidence.StoredDocument]) -> None:
        """Documents a work unit already stored (see `auditor.distribute`)."""
        entries = list(entries)
        self.sink.add_entries(entries)  # type: ignore[attr-defined]
        with self._lock:
            for entry in entries:
                self.counts[(entry.resource_type, entry.account, entry.region)] += 1
                self._ids.setdefault(entry.resource_type, set()).add(entry.resource_id)


def take_snapshot(
    store: evidence.EvidenceStore,
    collector: Collector,
    catalog_sha256: str,
    *,
    taken_at: datetime | None = None,
    completeness_threshold: float = DEFAULT_COMPLETENESS_THRESHOLD,
    executor: ExecutorSpec | None = None,
    on_progress: distribute.OnProgress | None = None,
    units_per_key: int = distribute.DEFAULT_UNITS_PER_KEY,
) -> SnapshotManifest:
    """Run one collector into one new snapshot; nothing is visible unless it completes.

    Absence is never inferred: a run that found nothing at all writes no snapshot (RunError,
    exit 3), and evidence that vanished since the previous snapshot of the same scope without
    an error to explain it is recorded as a completeness warning (its controls give ERROR).

    With an `executor`, a collector that cuts its work into units (`UnitCollector`) runs them
    there (`auditor.distribute`): workers store the documents, this process commits."""
    scope = collector.scope()
    previous = _previous_snapshot(store, collector.provider, scope)
    with store.begin_snapshot(
        collector.provider, scope, catalog_sha256, taken_at=taken_at
    ) as writer:
        tally = _TallySink(writer)
        if executor is not None and isinstance(collector, UnitCollector):
            seconds = getattr(collector, "deadline_seconds", None)
            backstop = None if seconds is None else time.monotonic() + seconds + DEADLINE_GRACE_S
            with open_executor(executor, threads_per_worker=UNITS_PER_PROCESS) as pool:
                stats = distribute.collect_units(
                    collector,
                    pool,
                    store,
                    tally,
                    per_key=units_per_key,
                    deadline=backstop,
                    on_progress=on_progress,
                )
            stats["executor"] = str(executor)
        else:
            stats = dict(collector.collect(tally))
        if not tally.listed(set(stats.get("derived_types") or ())):
            raise RunError(_nothing_collected(collector.provider, scope, stats, tally.errors))
        provenance = stats.pop("provenance", None) or {}
        warnings = (
            completeness_warnings(
                collector.provider,
                _scope_counts(store, previous),
                tally.counts,
                tally.errors,
                previous_snapshot=previous.id,
                threshold=completeness_threshold,
            )
            if previous is not None
            else ()
        )
        writer.set_stats(stats)
        writer.set_manifest_fields(
            provenance=provenance,
            warnings=warnings,
            incomplete=bool(warnings or int(stats.get("rejected_lines", 0) or 0)),
        )
    return writer.manifest


def _previous_snapshot(
    store: evidence.EvidenceStore, provider: str, scope: Mapping[str, Any]
) -> SnapshotManifest | None:
    """The newest live snapshot of the same provider and scope, if any."""
    from auditor.models import canonical_json

    wanted = canonical_json(dict(scope))
    for manifest in reversed(store.list_snapshots()):
        if manifest.provider == provider and canonical_json(dict(manifest.scope)) == wanted:
            return manifest
    return None


def _scope_counts(
    store: evidence.EvidenceStore, manifest: SnapshotManifest | None
) -> Counter[tuple[str, str, str]]:
    from auditor.evidence.documents import split_key

    counts: Counter[tuple[str, str, str]] = Counter()
    if manifest is None:
        return counts
    for key in store.document_index(manifest.id):
        resource_type, account, region, _ = split_key(key)
        counts[(resource_type, account, region)] += 1
    return counts


def completeness_warnings(
    provider: str,
    before: Mapping[tuple[str, str, str], int],
    now: Mapping[tuple[str, str, str], int],
    errors: Sequence[CollectionError],
    *,
    previous_snapshot: str,
    threshold: float = DEFAULT_COMPLETENESS_THRESHOLD,
) -> tuple[CompletenessWarning, ...]:
    """Types (or whole accounts/regions) that lost more than `threshold` of their documents
    since the previous snapshot with no collection error to explain it. Fewer losses are taken
    as real deletions."""
    doc_scopes = {(a, r) for _, a, r in (*before, *now)}

    def explained(resource_type: str | None, account: str, region: str) -> bool:
        for error in errors:
            if error.provider != provider or error.field is not None:
                continue
            if resource_type is not None and error.resource_type not in (None, resource_type):
                continue
            where = (error.account, error.region)
            if where == (account, region) or where not in doc_scopes:
                return True  # there, or scope-wide (an export file, a whole GCP scope)
        return False

    lost: dict[tuple[str, str], list[CompletenessWarning]] = {}
    for (resource_type, account, region), count_before in sorted(before.items()):
        count_now = now.get((resource_type, account, region), 0)
        if count_before <= 0 or (count_before - count_now) / count_before <= threshold:
            continue
        if explained(resource_type, account, region):
            continue
        lost.setdefault((account, region), []).append(
            CompletenessWarning(
                provider,
                account,
                region,
                resource_type,
                count_before,
                count_now,
                previous_snapshot,
            )
        )
    warnings: list[CompletenessWarning] = []
    for (account, region), items in lost.items():  # an account with nothing left: one per region
        gone_entirely = not any(n for (_, a, _r), n in now.items() if a == account)
        if gone_entirely and not explained(None, account, region):
            total = sum(n for (_, a, r), n in before.items() if (a, r) == (account, region))
            warnings.append(
                CompletenessWarning(provider, account, region, None, total, 0, previous_snapshot)
            )
        else:
            warnings.extend(items)
    return tuple(warnings)


def _nothing_collected(
    provider: str, scope: Mapping[str, Any], stats: Mapping[str, Any], errors: Sequence[Any]
) -> str:
    """Why an empty collection is refused, in the operator's terms."""
    if scope.get("kind") == "gcp-asset-export":
        rejected = int(stats.get("rejected_lines", 0) or 0)
        records = int(stats.get("records", 0) or 0)
        detail = f"{records} readable record(s)"
        if rejected:
            lines = ", ".join(str(r.get("line")) for r in list(stats.get("rejects", []))[:10])
            first: Mapping[str, Any] = next(iter(stats.get("rejects", [])), {})
            detail += (
                f", {rejected} unreadable (line{'s' if rejected > 1 else ''} {lines}; "
                f"first: {first.get('reason', '')})"
            )
        if records:
            detail += ", none of an asset type the controls read"
        return (
            f"the asset export {scope.get('file')} holds no evidence ({detail}); an empty or "
            "unreadable export is not an empty estate, so no snapshot was written"
        )
    failed = ""
    if errors:
        codes = Counter(str(e.error_code) for e in errors)
        common = sorted(codes.items(), key=lambda item: (-item[1], item[0]))[:3]
        failed = (
            f"; {len(errors)} collection error(s) ("
            + ", ".join(f"{code} x{count}" for code, count in common)
            + (", ..." if len(codes) > 3 else "")
            + f"), first: {errors[0].sentence()}"
        )
    return (
        f"the {provider} scope listed nothing at all{failed}; that is not evidence of an empty "
        "estate (check the credentials, regions and scope), so no snapshot was written"
    )


# ---------------------------------------------------------------- preflight

Where = Callable[[str], tuple[str | None, int | None, str]]  # setting -> (file, line, field)


def preflight(config: Config) -> None:
    """Operator mistakes in auditor.yaml, found before anything is collected (UserError, exit
    2, naming file, line and field): unknown AWS profiles and regions, a profile without
    credentials, a missing export file, a live GCP scope without credentials."""

    def where(*keys: str | int) -> Where:
        def locate(setting: str) -> tuple[str | None, int | None, str]:
            parts = [int(p) if p.isdigit() else p for p in setting.split(".") if p]
            path = [*keys, *parts]
            file, line = config.location(*path)
            return file, line, ".".join(map(str, path))

        return locate

    if config.aws.enabled:
        regions = config.aws.regions
        preflight_aws(config.aws.profile, regions, where("aws"))
    if config.gcp.enabled:
        export = config.path(config.gcp.asset_export)
        if export is not None and not export.is_file():
            file, line = config.location("gcp", "asset_export")
            raise UserError(
                f"asset export file not found: {export}", file=file, line=line,
                field="gcp.asset_export",
            )  # fmt: skip
        if config.gcp.scopes:
            preflight_gcp(config.gcp.scopes, config.gcp.asset_api_endpoint, where("gcp"))


def preflight_aws(
    profile: str | None, regions: Sequence[str] | str | None, where: Where | None = None
) -> None:
    """The AWS profile exists and has credentials (read locally, no call is made) and every
    region is one botocore knows."""
    import boto3
    from botocore import exceptions

    def fail(setting: str, message: str) -> UserError:
        file, line, field = where(setting) if where else (None, None, f"--{setting}")
        return UserError(message, file=file, line=line, field=field)

    try:
        session = boto3.session.Session(profile_name=profile)
    except exceptions.ProfileNotFound:
        known = ", ".join(sorted(boto3.session.Session().available_profiles)) or "none"
        raise fail(
            "profile", f"unknown AWS profile {profile!r} (profiles found: {known})"
        ) from None
    if isinstance(regions, str) and regions != "all":
        regions = [r.strip() for r in regions.split(",") if r.strip()]
    if regions and regions != "all":
        known_regions = _aws_region_names(session)
        for index, region in enumerate(regions):
            if region not in known_regions:
                setting = f"regions.{index}" if where else "regions"
                raise fail(setting, f"unknown AWS region {region!r}")
    if profile:
        _aws_profile_credentials(session, profile, fail)


def _aws_region_names(session: Any) -> set[str]:
    """Every region of every partition in botocore's own endpoint data."""
    names: set[str] = set()
    for partition in session.get_available_partitions():
        names.update(session.get_available_regions("ec2", partition_name=partition))
    endpoints = session._session.get_data("endpoints") or {}
    for partition in endpoints.get("partitions", []):
        names.update(partition.get("regions", {}))
    return names


def _aws_profile_credentials(
    session: Any, profile: str, fail: Callable[[str, str], UserError]
) -> None:
    """Resolve the profile's credentials the way botocore will, minus the instance and
    container metadata services (no network): a source profile without keys is found here."""
    from botocore import exceptions
    from botocore.credentials import create_credential_resolver

    resolver = create_credential_resolver(session._session)
    for method in ("iam-role", "container-role"):
        resolver.remove(method)
    try:
        credentials = resolver.load_credentials()
    except (exceptions.BotoCoreError, exceptions.ClientError) as error:
        raise fail(
            "profile", f"AWS profile {profile!r} has no usable credentials: {error}"
        ) from None
    if credentials is None:
        raise fail("profile", f"AWS profile {profile!r} has no credentials")


def preflight_gcp(scopes: Sequence[str], endpoint: str | None, where: Where | None = None) -> None:
    """Live GCP scopes are well formed and Application Default Credentials exist (unless the
    endpoint is a local plaintext one, which needs none)."""
    from auditor.collect.gcp import live as gcp

    def fail(setting: str, message: str) -> UserError:
        file, line, field = where(setting) if where else (None, None, f"--{setting}")
        return UserError(message, file=file, line=line, field=field)

    for index, scope in enumerate(scopes):
        try:
            gcp.validate_scope(scope)
        except UserError as error:
            raise fail(f"scopes.{index}" if where else "scope", error.message) from None
    if gcp.needs_credentials(endpoint):
        reason = gcp.credentials_problem()
        if reason is not None:
            raise fail(
                "scopes" if where else "scope", f"no GCP credentials for live collection: {reason}"
            )


def configured_collectors(
    config: Config, store: evidence.EvidenceStore, executor: ExecutorSpec | None = None
) -> list[Collector]:
    collectors: list[Collector] = []
    if config.aws.enabled:
        collectors.append(
            aws_collector(
                store,
                profile=config.aws.profile,
                role_arns=config.aws.role_arns,
                org_role_name=config.aws.organization_role_name,
                regions=config.aws.regions,
                max_workers=executor.workers if executor else config.aws.max_workers,
                limits=config.collection,
                aws=config.aws,
                executor=executor,
            )
        )
    if config.gcp.enabled:
        if config.gcp.asset_export:
            limits = {
                "max_line_bytes": config.collection.max_line_bytes,
                "max_depth": config.collection.max_depth,
            }
            collectors.append(
                gcp_collector(
                    store, asset_export=config.path(config.gcp.asset_export), limits=limits
                )
            )
        for scope in config.gcp.scopes:
            collectors.append(
                gcp_collector(
                    store,
                    scope=scope,
                    endpoint=config.gcp.asset_api_endpoint,
                    impersonate=config.gcp.impersonate_service_account,
                    collection=config.collection,
                )
            )
    if not collectors:
        raise UserError("nothing to collect: enable aws or gcp in the configuration")
    return collectors


# ---------------------------------------------------------------- evaluate


def period_for(
    label: str | None,
    *,
    today: date | None = None,
    start: str | None = None,
    end: str | None = None,
) -> Period:
    """`current`, `previous`, any label evaluate.parse_period understands, or --from/--to dates."""
    if start or end:
        if not (start and end):
            raise UserError("give both --from and --to", field="--from/--to")
        if label not in (None, "", "current"):
            raise UserError("give --period or --from/--to, not both", field="--period")
        return evaluate_stage.parse_period(start=start, end=end)
    return evaluate_stage.parse_period(label or "current", today=today or utcnow().date())


@dataclass(frozen=True)
class Selection:
    """Which snapshots to evaluate: one ID, the latest per provider, or a whole period."""

    snapshot: str | None = None  # an ID or "latest"
    period: Period | None = None
    only: tuple[str, ...] = ()  # --snapshots: exactly these (IDs or unique prefixes)
    exclude: tuple[str, ...] = ()  # --exclude: never these


def parse_ids(text: str | None) -> tuple[str, ...]:
    """`ID,ID` from --snapshots / --exclude."""
    return tuple(part.strip() for part in (text or "").split(",") if part.strip())


def _chosen_ids(store: evidence.EvidenceStore, ids: tuple[str, ...], option: str) -> list[str]:
    chosen = []
    for given in ids:
        try:
            chosen.append(store.resolve(given).id)
        except UserError as exc:
            raise UserError(str(exc), field=option) from None
    return chosen


def set_aside(store: evidence.EvidenceStore, selection: Selection) -> list[dict[str, str]]:
    """Snapshots in the selection's range that are not evaluated, with why: voided in the store
    (its recorded reason) or excluded on the command line. For the report's own section."""
    voided = store.voided()
    excluded = set(_chosen_ids(store, selection.exclude, "--exclude"))
    rows = []
    for manifest in store.list_snapshots():
        if selection.period is not None and not selection.period.contains(manifest.finished_at):
            continue
        record = voided.get(manifest.id)
        if record is None and manifest.id not in excluded:
            continue
        rows.append(
            {
                "id": manifest.id,
                "provider": manifest.provider,
                "finished_at": isoformat(manifest.finished_at),
                "reason": f"voided: {record.get('reason')}" if record else "excluded (--exclude)",
                "voided_at": str(record.get("voided_at")) if record else "",
            }
        )
    return rows


def select_snapshots(store: evidence.EvidenceStore, selection: Selection) -> list[Snapshot]:
    """The snapshots to evaluate. Voided ones never are; `only`/`exclude` pick explicitly."""
    voided = store.voided()
    everything = store.list_snapshots()
    if selection.only:
        wanted = _chosen_ids(store, selection.only, "--snapshots")
        for snapshot_id in wanted:
            if snapshot_id in voided:
                raise UserError(
                    f"snapshot {snapshot_id} is voided ({voided[snapshot_id].get('reason')}); "
                    "it is not evaluated",
                    field="--snapshots",
                )
        by_id = {m.id: m for m in everything}
        chosen = [by_id[i] for i in dict.fromkeys(wanted)]
        if selection.period is not None:
            outside = [m.id for m in chosen if not selection.period.contains(m.finished_at)]
            if outside:
                raise UserError(
                    f"snapshot {outside[0]} is outside period {selection.period.label}; "
                    "choose the period it belongs to",
                    field="--snapshots",
                )
        return [store.load_snapshot(m.id) for m in chosen]
    excluded = set(_chosen_ids(store, selection.exclude, "--exclude"))
    manifests = [m for m in everything if m.id not in voided and m.id not in excluded]
    if everything and not manifests:
        raise RunError(
            f"every snapshot in the evidence store {store} is voided or excluded; "
            "nothing to evaluate"
        )
    if not manifests:
        raise RunError(f"the evidence store {store} has no snapshots; run `auditor snapshot` first")
    if selection.period is not None:
        chosen = [m for m in manifests if selection.period.contains(m.finished_at)]
        if not chosen:
            raise RunError(
                f"no snapshots in period {selection.period.label} "
                f"({len(manifests)} snapshots in the store outside it)"
            )
    elif selection.snapshot and selection.snapshot != "latest":
        chosen = [m for m in manifests if m.id == selection.snapshot]
        if not chosen:
            raise UserError(
                f"no snapshot with ID {selection.snapshot!r} in the store", field="--snapshot"
            )
    else:
        latest: dict[str, SnapshotManifest] = {}
        for manifest in manifests:
            latest[manifest.provider] = manifest
        chosen = sorted(latest.values(), key=lambda m: m.finished_at)
    return [store.load_snapshot(m.id) for m in chosen]


def read_waivers(path: Path | None) -> list[Waiver]:
    if path is None:
        return []
    return evaluate_stage.parse_waivers(_read_text(path), str(path))


def read_attestations(path: Path | None) -> list[Attestation]:
    """Attestation files are hashed here, relative to the attestation file's folder."""
    if path is None:
        return []
    text = _read_text(path)
    hashes: dict[str, str | None] = {}
    for name in evaluate_stage.attestation_paths(text, str(path)):
        candidate = Path(name) if Path(name).is_absolute() else path.parent / name
        hashes[name] = _sha256_file(candidate) if candidate.is_file() else None
    return evaluate_stage.parse_attestations(text, str(path), hashes)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError("file not found", file=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read file: {exc}", file=str(path)) from None


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def run_evaluation(
    catalog: Catalog,
    snapshots: Sequence[Snapshot],
    *,
    frameworks: Sequence[str],
    period: Period | None,
    waivers_path: Path | None = None,
    attestations_path: Path | None = None,
    on: date | None = None,
    metadata: Mapping[str, Any] | None = None,
    scope: ScopeDefinition | None = None,
    interval: timedelta | None = None,
    executor: ExecutorSpec | None = None,
) -> AuditResult:
    """`interval` is the expected snapshot cadence (auditor.yaml schedule.interval, default 7
    days) that evidence coverage of the period is judged by. With an `executor`, the documents
    are judged in partitions there first (`judge_verdicts`); the findings are the same."""
    now = utcnow()  # the one clock read of an evaluation: evaluate itself never reads it
    if on is None:
        on = now.date()
        if period is not None and period.end.date() <= on:
            on = (period.end - timedelta(seconds=1)).date()  # a closed period is judged at its end
    cache = None
    if executor is not None:
        chosen = [s for s in snapshots if period is None or period.contains(s.manifest.taken_at)]
        cache = judge_verdicts(
            catalog, chosen, frameworks=frameworks, executor=executor, scope=scope
        )
    return evaluate_stage.audit(
        catalog,
        snapshots,
        cache=cache,
        period=period,
        frameworks=tuple(frameworks),
        waivers=read_waivers(waivers_path),
        attestations=read_attestations(attestations_path),
        on=on,
        metadata=dict(metadata or {}),
        scope=scope,
        interval=interval if interval is not None else evaluate_stage.DEFAULT_INTERVAL,
        now=now,
    )


EVALUATION_PARTITION = 5_000  # documents per unit: ~0.1 s of judging, small enough to balance


def judge_verdicts(
    catalog: Catalog,
    snapshots: Sequence[Snapshot],
    *,
    frameworks: Sequence[str],
    executor: ExecutorSpec,
    scope: ScopeDefinition | None = None,
    partition_size: int | None = None,
    use_fast_path: bool = True,
) -> evaluate_stage.VerdictCache:
    """Every distinct document of `snapshots` judged in partitions on `executor`, as the verdict
    cache `audit`/`evaluate_snapshot` then reads (so they only apply errors, waivers and scope
    reasons, and build findings). The scope is computed once, over the whole period-end
    snapshots as `audit` computes it, before partitioning; each partition gets its slice.
    At most two partitions per worker are in flight, and results merge in partition order."""
    size = partition_size or EVALUATION_PARTITION
    chosen = evaluate_stage.selected_frameworks(catalog, frameworks)
    in_scope: Mapping[str, frozenset[str]] | None = None
    if scope is not None:
        latest: dict[str, Snapshot] = {}
        for snapshot in sorted(snapshots, key=lambda s: s.manifest.taken_at):
            latest[snapshot.manifest.provider] = snapshot
        result = evaluate_stage.compute_scope(
            [d for s in latest.values() for d in s], scope, chosen
        )
        in_scope = result.in_scope_sets if result.defined else None

    def partitions() -> Iterable[tuple[str, list[EvidenceDoc]]]:
        seen: set[str] = set()
        for snapshot in snapshots:
            part: list[EvidenceDoc] = []
            for doc in snapshot:
                if doc.sha256 in seen:
                    continue  # judged once per content, whichever snapshot holds it
                seen.add(doc.sha256)
                part.append(doc)
                if len(part) >= size:
                    yield snapshot.manifest.provider, part
                    part = []
            if part:
                yield snapshot.manifest.provider, part

    cache = evaluate_stage.VerdictCache()
    judged: dict[int, Any] = {}
    merged = 0
    with open_executor(executor) as pool:
        pending: dict[concurrent.futures.Future[Any], int] = {}
        for index, (provider, part) in enumerate(partitions()):
            scope_slice = None
            if in_scope is not None:
                scope_slice = {d.resource_id: in_scope[d.resource_id] for d in part
                               if d.resource_id in in_scope}  # fmt: skip
            payload = pickle.dumps((part, scope_slice), protocol=pickle.HIGHEST_PROTOCOL)
            future = pool.submit(
                _judge_pickled, catalog, provider, chosen, payload, use_fast_path
            )  # fmt: skip
            pending[future] = index
            while len(pending) >= 2 * executor.workers:
                merged = _collect_partitions(pending, judged, cache, merged, executor)
        while pending:
            merged = _collect_partitions(pending, judged, cache, merged, executor)
    return cache


def _judge_pickled(
    catalog: Catalog,
    provider: str,
    frameworks: Sequence[str],
    payload: bytes,
    use_fast_path: bool,
) -> Any:
    """On a worker: one partition, its documents pickled once by the driver. (Handed over as
    objects, Dask walks every argument looking for futures inside: that cost the driver more
    than judging the documents costs a worker.)"""
    documents, in_scope = pickle.loads(payload)  # noqa: S301 - our own driver's bytes
    return evaluate_stage.judge_partition(
        catalog, provider, frameworks, documents, in_scope=in_scope, use_fast_path=use_fast_path
    )


def _collect_partitions(
    pending: dict[concurrent.futures.Future[Any], int],
    judged: dict[int, Any],
    cache: evaluate_stage.VerdictCache,
    merged: int,
    executor: ExecutorSpec,
) -> int:
    """Wait for some partitions, then merge every finished one that is next in order."""
    done, _ = concurrent.futures.wait(pending, return_when=concurrent.futures.FIRST_COMPLETED)
    for future in done:
        index = pending.pop(future)
        try:
            judged[index] = future.result()
        except Exception as error:  # a lost worker: the run cannot complete, nothing is judged
            raise RunError(f"evaluation partition {index} failed on {executor}: {error}") from error
    while merged in judged:
        cache.merge(judged.pop(merged))
        merged += 1
    return merged


def scope_definition(config: Config | None) -> ScopeDefinition | None:
    """auditor.yaml's `scope:` as the evaluate stage reads it; None when there is none."""
    if config is None or config.scope is None:
        return None
    return config.scope.definition()


@dataclass(frozen=True)
class ScopeView:
    """What `auditor scope` prints: each framework's scope over the chosen snapshots."""

    result: ScopeResult
    snapshots: tuple[SnapshotManifest, ...]
    labels: Mapping[str, str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "snapshots": [{"id": m.id, "provider": m.provider} for m in self.snapshots],
            **self.result.to_dict(),
        }

    def dot(self) -> str:
        return evaluate_stage.scope_dot(self.result, self.labels)

    @staticmethod
    def role_order(role: str) -> int:
        """Data stores first, then pipelines, models, endpoints, what they use, accounts."""
        return SCOPE_ROLES.index(role) if role in SCOPE_ROLES else len(SCOPE_ROLES)


def scope_view(
    config: Config | None,
    *,
    store_url: str | None = None,
    snapshot: str | None = None,
    extra_dirs: Iterable[Path] = (),
) -> ScopeView:
    """Scope and lineage of the latest snapshot per provider (or one snapshot), as configured."""
    catalog = catalog_for(config, extra_dirs)
    store = open_store(store_url or (config or Config()).store_url(), config)
    snapshots = select_snapshots(store, Selection(snapshot=snapshot))
    frameworks = tuple(config.frameworks) if config else tuple(catalog.frameworks)
    labels = {fw: catalog.frameworks[fw].label for fw in frameworks if fw in catalog.frameworks}
    result = evaluate_stage.compute_scope(
        [doc for s in snapshots for doc in s], scope_definition(config), frameworks, labels=labels
    )
    return ScopeView(result, tuple(s.manifest for s in snapshots), labels)


def schedule_interval(config: Config | None) -> timedelta | None:
    """The configured snapshot cadence, or None for the evaluate stage's default."""
    return timedelta(days=config.schedule.days()) if config is not None else None


def findings_files(result: AuditResult) -> tuple[bytes, bytes]:
    """findings.json and findings.csv as bytes, exactly as docs/findings.schema.json defines."""
    document = evaluate_stage.findings_document(result)
    as_json = json.dumps(document, indent=2, ensure_ascii=False).encode("utf-8") + b"\n"
    as_csv = evaluate_stage.findings_csv(result.findings).encode("utf-8")
    return as_json, as_csv


def export_context(catalog: Catalog, generated_at: datetime) -> Any:
    """What the ASFF, OCSF and JUnit exports need beside the findings."""
    from auditor import __version__

    return report_stage.ExportContext(
        generated_at=generated_at,
        controls={c.id: c for c in catalog.controls},
        tool_version=__version__,
        framework_labels={k: f.label for k, f in catalog.frameworks.items()},
    )


def export_files(result: AuditResult, names: Sequence[str]) -> dict[str, bytes]:
    """File name -> bytes for each export format named (asff, ocsf, junit)."""
    context = export_context(result.catalog, result.generated_at)
    files = {}
    for name in names:
        export = report_stage.EXPORT_FORMATS[name]
        files[export.filename] = export.render(result.findings, context)
    return files


def publish_securityhub(folder: Path, catalog: Catalog, region: str | None = None) -> Any:
    """Send a verified report version's failing AWS findings to Security Hub as ASFF."""
    report_stage.require_publishable(folder)
    document = load_findings_document(folder)
    findings = [Finding.from_dict(raw) for raw in document.get("findings", [])]
    context = export_context(catalog, parse_time(document["generated_at"]))
    records = report_stage.asff_findings(findings, context)
    return report_stage.publish_to_securityhub(records, region=region)


def failed_gate(result: AuditResult, fail_on: str | None) -> bool:
    """`--fail-on fail|error`: exit 1 when a FAIL (or, with error, a FAIL or ERROR) remains."""
    if not fail_on:
        return False
    statuses = {Status.FAIL} | ({Status.ERROR} if fail_on == "error" else set())
    return any(f.status in statuses for f in result.findings)


# ---------------------------------------------------------------- report


def load_findings_document(path: Path) -> dict[str, Any]:
    """findings.json from a report version folder, or the file itself."""
    candidate = path / "findings.json" if path.is_dir() else path
    if not candidate.is_file():
        raise UserError(
            "no findings.json here (expected a report version folder or a findings.json)",
            file=str(path),
        )
    try:
        document: dict[str, Any] = json.loads(candidate.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"not valid JSON: {exc}", file=str(candidate)) from None
    if document.get("schema") != "auditor.findings/v1":
        raise UserError("not an auditor.findings/v1 document", file=str(candidate), field="schema")
    return document


def write_report(
    result: AuditResult,
    out_dir: Path,
    *,
    formats: Sequence[str] | None = None,  # None: every format of the report registry
    sign: Any = None,
    store: evidence.EvidenceStore | None = None,
) -> Path:
    """A new `<out>/<period>/v<N>/`, with the changes since the previous version of the period
    (or, for a period's first version, since the latest version of the period before). With
    the evidence `store`, FAIL and ERROR findings carry their evidence documents in the HTML."""
    as_json, as_csv = findings_files(result)
    diff: FindingsDiff | None = None
    previous_doc: dict[str, Any] | None = None
    previous = report_stage.latest_version(out_dir, result)
    label = previous.name if previous is not None else ""
    if previous is None:
        previous = previous_period_report(out_dir, result.period)
        label = f"{previous.parent.name} {previous.name}" if previous is not None else ""
        if previous is not None:
            previous_doc = {**load_findings_document(previous), "period": previous.parent.name}
    if previous is not None:
        old = previous_doc or load_findings_document(previous)
        diff = evaluate_stage.diff_findings(old, json.loads(as_json), label, "this version")
    return report_stage.write_report(
        result,
        out_dir,
        findings_json=as_json,
        findings_csv=as_csv,
        formats=None if formats is None else tuple(formats),
        sign=sign,
        diff=diff,
        previous_findings=previous_doc,
        evidence_documents=failing_evidence(store, result) if store is not None else None,
    )


def failing_evidence(
    store: evidence.EvidenceStore, result: AuditResult
) -> dict[str, dict[str, Any]]:
    """The stored (redacted) documents that FAIL and ERROR findings were judged on, by sha256.

    Only failing findings: they are what an assessor opens, and it bounds the HTML's size."""
    wanted = sorted(
        {
            f.evidence_sha256
            for f in result.findings
            if f.evidence_sha256 and f.status in (Status.FAIL, Status.ERROR) and f.snapshot_id
        }
    )
    documents: dict[str, dict[str, Any]] = {}
    for sha in wanted:
        try:
            documents[sha] = store.read_object(sha).to_dict()
        except (OSError, KeyError, ValueError, RunError):
            continue  # a pruned or unreadable object: the finding still names its sha256
    return documents


_SHA256 = frozenset("0123456789abcdef")


def evidence_document(
    store: evidence.EvidenceStore, key: str, *, snapshot: str | None = None
) -> list[dict[str, Any]]:
    """`auditor evidence show`: the stored (redacted) document with this sha256, or the
    document(s) of this resource ID in a snapshot (default: the latest of each provider)."""
    key = key.strip()
    if len(key) == 64 and set(key) <= _SHA256 and snapshot is None:
        try:
            doc = store.read_object(key)
        except KeyError:
            raise UserError(
                f"no evidence document with sha256 {key} in store {store.url}", field="SHA256"
            ) from None
        if doc.sha256 != key:
            raise RunError(f"evidence object {key} does not hash to its name: the store is damaged")
        return [{"sha256": key, "snapshot_id": None, "document": doc.to_dict()}]
    if snapshot is not None:
        manifests = [store.manifest(snapshot)]
    else:
        latest: dict[str, SnapshotManifest] = {}
        for manifest in store.list_snapshots():
            latest[manifest.provider] = manifest
        manifests = list(latest.values())
    found = []
    for manifest in manifests:
        for row in store.document_index(manifest.id).values():
            if row.key.split("|", 4)[-1] == key:
                doc = store.read_object(row.sha256)
                found.append(
                    {"sha256": row.sha256, "snapshot_id": manifest.id, "document": doc.to_dict()}
                )
    if not found:
        where = f"snapshot {snapshot}" if snapshot else "the latest snapshot of each provider"
        raise UserError(f"no evidence for resource {key!r} in {where}", field="RESOURCE_ID")
    return found


def previous_period_report(out_dir: Path, period: Period | None) -> Path | None:
    """The newest version of the latest earlier period reported under `out_dir` (the one
    ending at or before this period starts), for the first version of a period to compare with."""
    if period is None:
        return None
    best: tuple[datetime, Path] | None = None
    for name, folder in report_stage.newest_versions(out_dir).items():
        other = _period_of_folder(name)
        if other is None or other.end > period.start or not (folder / "findings.json").is_file():
            continue
        if best is None or other.end > best[0]:
            best = (other.end, folder)
    return best[1] if best else None


def _period_of_folder(name: str) -> Period | None:
    """A report period folder's name read back as a Period (labels, or FROM_TO ranges)."""
    try:
        return evaluate_stage.parse_period(name)
    except UserError:
        return None


def report_formats() -> tuple[str, ...]:
    """The report formats' names (the report registry's one list), for --formats."""
    return tuple(report_stage.available_formats())


def sign_options(key: Path | None, cert: Path | None, passphrase: str | None = None) -> Any:
    if key is None:
        return None
    return report_stage.SignOptions(key_path=key, cert_path=cert, passphrase=passphrase)


def report_metadata(config: Config | None, *, scope: str | None = None) -> dict[str, Any]:
    """Cover-page facts for the report: organisation, title, scope in words, sign-off parties.
    Title and assertion come from config (its defaults without auditor.yaml): the one place."""
    org = config.organisation if config else None
    defaults = org or Organisation()
    return {
        "organisation": org.name if org else "",
        "title": defaults.report_title,
        "management_assertion": _assertion(defaults.management_assertion),
        "assertion_note": DEFAULT_ASSERTION_NOTE,
        "classification": config.report.classification if config else "",
        "auditor": org.auditor if org else "",
        "contact": org.contact if org else "",
        "scope": scope if scope is not None else (describe_scope(config) if config else ""),
    }


def _assertion(value: Any) -> dict[str, str]:
    """organisation.management_assertion as {name, title, wording}, whichever form it took."""
    if isinstance(value, str):
        return {"name": "", "title": "", "wording": value}
    return {"name": value.name, "title": value.title, "wording": value.wording}


def describe_scope(config: Config) -> str:
    """The configured scope in one line, as the cover page states it."""
    parts = []
    if config.aws.enabled:
        who = (
            f"Organization role {config.aws.organization_role_name}"
            if config.aws.organization_role_name
            else ", ".join(config.aws.role_arns)
            or (f"profile {config.aws.profile}" if config.aws.profile else "default credentials")
        )
        regions = config.aws.regions
        where = (
            "all enabled regions"
            if regions == "all"
            else ", ".join(regions or []) or "default region"
        )
        parts.append(f"AWS: {who}; regions {where}")
    if config.gcp.enabled:
        sources = [
            *config.gcp.scopes,
            *([f"export {config.gcp.asset_export}"] if config.gcp.asset_export else []),
        ]
        parts.append("GCP: " + ", ".join(sources))
    return ". ".join(parts)


# ---------------------------------------------------------------- report run, as configured


@dataclass(frozen=True)
class ReportPlan:
    """Everything one report run needs, each value already chosen by the precedence rule."""

    store_url: str
    frameworks: tuple[str, ...]
    period: Period
    out: Path
    formats: tuple[str, ...]
    waivers: Path | None = None
    attestations: Path | None = None
    sign: Any = None
    fail_on: str | None = None
    only: tuple[str, ...] = ()  # --snapshots
    exclude: tuple[str, ...] = ()  # --exclude


@dataclass(frozen=True)
class ReportOutcome:
    result: AuditResult
    folder: Path
    snapshots_taken: tuple[SnapshotManifest, ...]
    gate_failed: bool


def plan_report(
    config: Config | None,
    options: Mapping[str, tuple[str, Any]],
    *,
    date_from: str | None = None,
    date_to: str | None = None,
    environ: Mapping[str, str] | None = None,
    only: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> ReportPlan:
    """Resolve every report setting (option given > environment > auditor.yaml > default).

    `options` maps a setting path to (option name, value); None or settings.NOT_GIVEN: not given."""
    environ = os.environ if environ is None else environ
    chosen = chosen_settings(config, options, environ)
    label = None if (date_from or date_to) else chosen["report.period"].value
    key = settings.as_path(chosen["report.sign.key"], config)
    passphrase_env = chosen["report.sign.passphrase_env"].value or "AUDITOR_SIGN_PASSPHRASE"
    return ReportPlan(
        store_url=settings.store_url(chosen["store.url"], config),
        frameworks=tuple(chosen["frameworks"].value),
        period=period_for(label, start=date_from, end=date_to),
        out=settings.as_path(chosen["report.out"], config) or Path("reports"),
        formats=tuple(chosen["report.formats"].value),
        waivers=settings.as_path(chosen["waivers"], config),
        attestations=settings.as_path(chosen["attestations"], config),
        sign=sign_options(
            key, settings.as_path(chosen["report.sign.cert"], config), environ.get(passphrase_env)
        ),
        fail_on=chosen["report.fail_on"].value,
        only=tuple(only),
        exclude=tuple(exclude),
    )


def produce_report(
    plan: ReportPlan,
    *,
    config: Config | None,
    extra_dirs: Iterable[Path] = (),
    collect_first: bool = False,
    on_snapshot: Callable[[SnapshotManifest], None] | None = None,
    executor: ExecutorSpec | None = None,
    on_progress: distribute.OnProgress | None = None,
) -> ReportOutcome:
    """The steps `report` and `run` share: catalog, store, (collect), select, evaluate, write."""
    if collect_first and config is not None:
        preflight(config)  # operator mistakes before anything is collected or written
    prepare_output_folder(plan.out, "--out")
    store = open_store(plan.store_url, config)
    catalog = catalog_for(config, extra_dirs)
    taken: list[SnapshotManifest] = []
    if collect_first:
        if config is None:
            raise UserError("collecting needs an auditor.yaml naming the scope", field="--config")
        taken = collect_configured(
            config, store, catalog, on_snapshot, executor=executor, on_progress=on_progress
        )
    result = evaluate_selected(
        catalog,
        store,
        Selection(period=plan.period, only=plan.only, exclude=plan.exclude),
        config=config,
        frameworks=plan.frameworks,
        waivers=plan.waivers,
        attestations=plan.attestations,
        # judging is pure Python: threads would only add work under the GIL; processes help
        executor=executor if executor is not None and executor.distributed else None,
    )
    folder = write_report(result, plan.out, formats=plan.formats, sign=plan.sign, store=store)
    return ReportOutcome(result, folder, tuple(taken), failed_gate(result, plan.fail_on))


def prepare_output_folder(path: Path, option: str) -> None:
    """An output folder must be a folder (or creatable as one): a file or /dev/null is bad usage (exit 2), an unwritable place is a run that cannot complete (exit 3)."""
    if path.exists() and not path.is_dir():
        raise UserError(f"{path} exists and is not a folder", field=option)
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            raise UserError(f"{parent} is a file, so {path} cannot be a folder", field=option)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(f"cannot create the output folder {path}: {exc.strerror or exc}") from None


def collect_configured(
    config: Config,
    store: evidence.EvidenceStore,
    catalog: Catalog,
    on_snapshot: Callable[[SnapshotManifest], None] | None = None,
    *,
    executor: ExecutorSpec | None = None,
    on_progress: distribute.OnProgress | None = None,
) -> list[SnapshotManifest]:
    """One snapshot per configured collector (`auditor snapshot`, `auditor run`); with an
    `executor`, as work units there."""
    threshold = config.collection.completeness_threshold
    taken = []
    for collector in configured_collectors(config, store, executor):
        manifest = take_snapshot(
            store,
            collector,
            catalog.sha256,
            completeness_threshold=threshold,
            executor=executor,
            on_progress=on_progress,
            units_per_key=config.collection.units_per_key,
        )
        taken.append(manifest)
        if on_snapshot is not None:
            on_snapshot(manifest)
    return taken


def evaluate_selected(
    catalog: Catalog,
    store: evidence.EvidenceStore,
    selection: Selection,
    *,
    config: Config | None,
    frameworks: Sequence[str],
    waivers: Path | None = None,
    attestations: Path | None = None,
    executor: ExecutorSpec | None = None,
) -> AuditResult:
    """The snapshots a selection picks, evaluated with what auditor.yaml adds (cover facts, scope,
    cadence) and the snapshots set aside listed: the one evaluation `evaluate`, `report` and `run`
    share. `executor`: where the documents are judged in partitions (a process executor)."""
    snapshots = select_snapshots(store, selection)
    return run_evaluation(
        catalog,
        snapshots,
        frameworks=frameworks,
        period=selection.period,
        waivers_path=waivers,
        attestations_path=attestations,
        metadata=report_metadata(config) | {"set_aside": set_aside(store, selection)},
        scope=scope_definition(config),
        interval=schedule_interval(config),
        executor=executor,
    )


# ---------------------------------------------------------------- auditor evaluate, auditor diff


@dataclass(frozen=True)
class EvaluationOutcome:
    result: AuditResult
    written: tuple[Path, ...]
    gate_failed: bool


def produce_evaluation(
    config: Config | None,
    options: Mapping[str, tuple[str, Any]],
    *,
    extra_dirs: Iterable[Path] = (),
    selection: Selection | None = None,
    formats: Sequence[str] = ("findings",),
) -> EvaluationOutcome:
    """`auditor evaluate`: the selected snapshots evaluated, their findings (and the summaries,
    OSCAL or exports asked for) written into the output folder. `options` as `plan_report`."""
    chosen = chosen_settings(config, options)
    target_dir = settings.as_path(chosen["report.out"], config) or Path("reports")
    prepare_output_folder(target_dir, "--out")
    catalog = catalog_for(config, extra_dirs)
    store = open_store(settings.store_url(chosen["store.url"], config), config)
    result = evaluate_selected(
        catalog,
        store,
        selection or Selection(),
        config=config,
        frameworks=chosen["frameworks"].value,
        waivers=settings.as_path(chosen["waivers"], config),
        attestations=settings.as_path(chosen["attestations"], config),
    )
    written = write_evaluation(result, target_dir, formats)
    return EvaluationOutcome(
        result, tuple(written), failed_gate(result, chosen["report.fail_on"].value)
    )


def evaluation_formats() -> tuple[str, ...]:
    """`auditor evaluate --format` names: findings, the summary tables (`csv` is the old name),
    OSCAL, and each export of the report stage's registry."""
    return ("findings", "summaries", "csv", "oscal", *report_stage.EXPORT_FORMATS)


def evaluation_files(result: AuditResult, formats: Sequence[str]) -> dict[str, bytes]:
    """File name -> bytes for each `auditor evaluate --format` asked for, in a stable order."""
    found: dict[str, bytes] = {}
    if "findings" in formats:
        found["findings.json"], found["findings.csv"] = findings_files(result)
    if "summaries" in formats or "csv" in formats:
        for name, text in evaluate_stage.summaries_csv(result).items():
            found[f"summary-{name}"] = text.encode("utf-8")
    if "oscal" in formats:
        document = evaluate_stage.oscal_assessment_results(result)
        found["assessment-results.json"] = json.dumps(document, indent=2).encode("utf-8")
    exports = [f for f in formats if f in report_stage.EXPORT_FORMATS]
    found.update(export_files(result, exports))
    return found


def write_evaluation(result: AuditResult, out_dir: Path, formats: Sequence[str]) -> list[Path]:
    """Each file of `evaluation_files`, written atomically: never half a findings.json."""
    written = []
    for name, data in evaluation_files(result, formats).items():
        write_atomic(out_dir / name, data)
        written.append(out_dir / name)
    return written


def findings_for(
    label: str,
    *,
    store_url: str,
    extra_dirs: Iterable[Path] = (),
    frameworks: Sequence[str] = FRAMEWORKS,
) -> dict[str, Any]:
    """The findings document `auditor diff` compares: a report version folder, a findings.json,
    or a period evaluated from the store now."""
    path = Path(label)
    if path.exists():
        return load_findings_document(path)
    try:
        selected = period_for(label)
    except UserError:
        raise UserError(
            f"{label!r} is neither a report version folder, a findings.json, nor a period"
        ) from None
    catalog = load_catalog(extra_dirs)
    snapshots = select_snapshots(open_store(store_url), Selection(period=selected))
    result = run_evaluation(catalog, snapshots, frameworks=frameworks, period=selected)
    document: dict[str, Any] = json.loads(findings_files(result)[0])
    return document


def diff_text(
    old: str,
    new: str,
    *,
    output_format: str,
    store_url: str,
    extra_dirs: Iterable[Path] = (),
    frameworks: Sequence[str] = FRAMEWORKS,
) -> str:
    """`auditor diff`: json for scripts; text for people, control characters shown as \\uXXXX."""
    documents = [
        findings_for(label, store_url=store_url, extra_dirs=extra_dirs, frameworks=frameworks)
        for label in (old, new)
    ]
    changes = evaluate_stage.diff_findings(documents[0], documents[1], old, new)
    if output_format == "json":
        return json.dumps(evaluate_stage.diff_to_dict(changes), indent=2)
    return neutralise_text(evaluate_stage.diff_to_text(changes))


# ---------------------------------------------------------------- auditor collect, auditor snapshot


def collect_aws(
    store_url: str,
    *,
    extra_dirs: Iterable[Path] = (),
    profile: str | None = None,
    role_arns: Sequence[str] = (),
    org_role_name: str | None = None,
    regions: str | None = None,
    max_workers: int | None = None,
    limits: CollectionSettings | None = None,
    executor: str | None = None,
    on_progress: distribute.OnProgress | None = None,
) -> SnapshotManifest:
    """`auditor collect aws`: one AWS snapshot. `regions` as typed: `a,b`, `all` or None;
    `executor` as typed (`--executor`), else AUDITOR_EXECUTOR, else a thread pool."""
    spec = collection_executor(None, executor=executor, workers=max_workers)
    region_list: list[str] | str | None = None
    if regions:
        region_list = (
            "all"
            if regions.strip() == "all"
            else [r.strip() for r in regions.split(",") if r.strip()]
        )
    preflight_aws(profile, None if region_list == "all" else region_list)
    store = open_store(store_url)
    catalog = load_catalog(extra_dirs)
    collector = aws_collector(
        store,
        profile=profile,
        role_arns=role_arns,
        org_role_name=org_role_name,
        regions=region_list,
        max_workers=spec.workers,
        limits=limits,
        executor=spec,
    )
    return take_snapshot(store, collector, catalog.sha256, executor=spec, on_progress=on_progress)


def collect_gcp(
    store_url: str,
    *,
    extra_dirs: Iterable[Path] = (),
    scope: str | None = None,
    asset_export: Path | None = None,
    impersonate: str | None = None,
    limits: CollectionSettings | None = None,
    executor: str | None = None,
    workers: int | None = None,
    on_progress: distribute.OnProgress | None = None,
) -> SnapshotManifest:
    """`auditor collect gcp`: one GCP snapshot, live from a scope (as (scope, asset type) work
    units on the executor) or from an export file (read in this process, one stream).
    `limits`: the run deadline and per-call timeout of a live collection."""
    spec = collection_executor(None, executor=executor, workers=workers)
    if scope:
        preflight_gcp([scope], None)
    store = open_store(store_url)
    catalog = load_catalog(extra_dirs)
    collector = gcp_collector(
        store, scope=scope, asset_export=asset_export, impersonate=impersonate, collection=limits
    )
    return take_snapshot(store, collector, catalog.sha256, executor=spec, on_progress=on_progress)


def snapshot_configured(
    config: Config,
    store_url: str,
    *,
    extra_dirs: Iterable[Path] = (),
    on_snapshot: Callable[[SnapshotManifest], None] | None = None,
    executor: str | None = None,
    workers: int | None = None,
    on_progress: distribute.OnProgress | None = None,
) -> list[SnapshotManifest]:
    """`auditor snapshot`: the configured scope into the store, operator mistakes found first."""
    preflight(config)
    spec = collection_executor(config, executor=executor, workers=workers)
    store = open_store(store_url, config)
    return collect_configured(
        config,
        store,
        catalog_for(config, extra_dirs),
        on_snapshot,
        executor=spec,
        on_progress=on_progress,
    )


def permissions_policy(provider: str) -> dict[str, Any]:
    """`auditor permissions aws|gcp`: the read-only permissions derived from the declarations."""
    policy = collect.aws_permissions_policy() if provider == "aws" else collect.gcp_permissions()
    return dict(policy)


# ---------------------------------------------------------------- auditor controls


def parse_params(pairs: Iterable[str]) -> dict[str, Any]:
    """`--param NAME=VALUE`, VALUE read as YAML through yamlfile like every YAML the tool reads
    (bounded aliases, checked scalars)."""
    params: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name.strip():
            raise UserError(f"expected NAME=VALUE, got {pair!r}", field="--param")
        params[name.strip()] = _plain(yamlfile.load_text(raw, f"--param {name.strip()}"))
    return params


def _plain(value: Any) -> Any:
    """yamlfile's line-aware mappings and lists as plain ones."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def read_catalog(
    extra_dirs: Iterable[Path] = (), params: Mapping[str, Any] | None = None
) -> Catalog:
    """The catalog as written, to read it (list, show, matrix): resource types not checked."""
    return catalog_stage.load_catalog(tuple(extra_dirs), params=dict(params or {}))


@dataclass(frozen=True)
class CatalogCheck:
    catalog: Catalog
    types_checked: bool  # False: the collectors could not be imported, so types went unchecked


def validate_catalog(
    extra_dirs: Iterable[Path] = (),
    params: Mapping[str, Any] | None = None,
    *,
    warn: Progress = no_progress,
) -> CatalogCheck:
    """`auditor controls validate`: the catalog checked, resource types against what the
    collectors produce. A half-installed collector never blocks checking the rest: the types go
    unchecked, with a warning."""
    try:
        known: frozenset[str] | None = collect.resource_types()
    except Exception as exc:
        warn(
            f"warning: resource types not checked: collectors unavailable "
            f"({type(exc).__name__}: {exc})"
        )
        known = None
    catalog = catalog_stage.load_catalog(
        tuple(extra_dirs), params=dict(params or {}), known_resource_types=known
    )
    return CatalogCheck(catalog, known is not None)


def controls_listing(
    catalog: Catalog,
    *,
    frameworks: Sequence[str] = (),
    stage: str | None = None,
    output_format: str = "table",
) -> tuple[str, int]:
    """`auditor controls list`: (text, how many controls), mapped to any of `frameworks` (all
    when none) and of `stage`, as a table, CSV or JSON."""
    formats = catalog_formats
    wanted: list[str | None] = [*frameworks] or [None]  # None: every framework
    picked = {
        c.id for f in wanted for c in formats.select_controls(catalog, framework=f, stage=stage)
    }
    chosen = [c for c in catalog.controls if c.id in picked]
    render = {"csv": formats.controls_csv, "json": formats.controls_json}.get(
        output_format, formats.controls_table
    )
    return render(chosen), len(chosen)


def control_document(catalog: Catalog, control_id: str, output_format: str = "text") -> str:
    """`auditor controls show`: one control as text or JSON; an unknown ID names similar ones."""
    control = catalog.control(control_id)
    if control is None:
        near = [c.id for c in catalog.controls if c.id.startswith(control_id[:7])][:5]
        hint = f"; similar: {', '.join(near)}" if near else ""
        raise UserError(f"no control '{control_id}' in the catalog{hint}", field="ID")
    if output_format == "json":
        return catalog_formats.controls_json([control]).strip() + "\n"
    return catalog_formats.control_text(control)


@dataclass(frozen=True)
class CatalogDocument:
    """A document made from the catalog: its text, and the requirements it covers."""

    text: str
    rows: tuple[dict[str, Any], ...] = ()

    @property
    def uncovered(self) -> int:
        return sum(1 for r in self.rows if r["coverage"] == "none")


def _frameworks_of(catalog: Catalog, frameworks: Sequence[str]) -> list[str]:
    return list(frameworks) or [f for f in FRAMEWORKS if f in catalog.frameworks]


def coverage_document(
    catalog: Catalog,
    frameworks: Sequence[str] = (),
    output_format: str = "csv",
    out: Path | None = None,
) -> CatalogDocument:
    """`auditor controls matrix`: requirement x control coverage as CSV or a standalone HTML
    page, written atomically to `out` when given."""
    rows = catalog_stage.coverage_matrix(catalog, _frameworks_of(catalog, frameworks))
    formats = catalog_formats
    text = (
        formats.matrix_csv(rows) if output_format == "csv" else formats.matrix_html(catalog, rows)
    )
    if out is not None:
        _write_document(out, text)
    return CatalogDocument(text, tuple(rows))


def _write_document(out: Path, text: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out, text.encode("utf-8"))


def mappings_document(
    catalog: Catalog, frameworks: Sequence[str] = (), out: Path | None = None
) -> CatalogDocument:
    """`auditor controls mappings`: framework -> requirement -> controls -> why, in Markdown
    (docs/mappings.md), written atomically to `out` when given."""
    text = catalog_formats.mappings_markdown(catalog, _frameworks_of(catalog, frameworks))
    if out is not None:
        _write_document(out, text)
    return CatalogDocument(text)


# ---------------------------------------------------------------- auditor demo, auditor evidence


def run_demo(out: Path, *, compliant: bool = False, progress: Progress = no_progress) -> Any:
    """`auditor demo`: the embedded demo (a moto server, so the `demo` extra)."""
    import importlib.util

    if importlib.util.find_spec("moto") is None:  # the demo extra
        raise UserError("the demo needs moto: pip install 'auditor[demo]'")
    from auditor import demo

    run = demo.run_compliant_demo if compliant else demo.run_demo
    return run(out, progress=progress)


def show_evidence(store_url: str, key: str, *, snapshot: str | None = None) -> list[dict[str, Any]]:
    """`auditor evidence show`: `evidence_document` in the store at `store_url`."""
    return evidence_document(open_store(store_url), key, snapshot=snapshot)


# ---------------------------------------------------------------- auditor verify, auditor publish


@dataclass(frozen=True)
class Verification:
    """What `auditor verify` found: a report version's or an evidence store's integrity."""

    what: str  # "report version" | "evidence store"
    ok: bool
    problems: tuple[str, ...]
    notes: tuple[str, ...]


def is_report_version(path: Path) -> bool:
    """A folder whose manifest.json is a report manifest (or is damaged: verify_report says so)."""
    manifest = path / "manifest.json"
    if not manifest.is_file():
        return False
    try:
        return str(json.loads(manifest.read_text(encoding="utf-8")).get("schema", "")).startswith(
            "auditor.report/"
        )
    except (json.JSONDecodeError, UnicodeDecodeError, OSError):
        return True


def verify(
    target: str, *, trust_roots: Sequence[Path] = (), report_dir: Path | None = None
) -> Verification:
    """`auditor verify`: a report version folder, or an evidence store's chain; with
    `report_dir`, also that every snapshot that report version used is unchanged in the store."""
    local = not target.startswith("s3://")
    if local and not Path(target).exists():
        raise UserError("no such report folder or store", file=target)
    roots = tuple(p.read_bytes() for p in trust_roots)
    if local and is_report_version(Path(target)):
        outcome = report_stage.verify_report(Path(target), trust_roots=roots)
        return Verification(
            "report version", outcome.ok, tuple(outcome.problems), tuple(outcome.notes)
        )
    store = open_store(target)
    chain = store.verify(trust_roots=roots)
    ok, problems, notes = chain.ok, list(chain.problems), list(chain.notes)
    if report_dir is not None:
        used = snapshots_used_by(report_dir)
        behind = evidence_behind_report(store, used)
        problems += behind
        ok = ok and not behind
        notes.append(f"{len(used)} snapshot(s) used by {report_dir} checked against the store")
    return Verification("evidence store", ok, tuple(problems), tuple(notes))


def snapshots_used_by(report_dir: Path) -> list[tuple[str, str]]:
    """(snapshot ID, manifest sha256) pairs a report version's manifest.json records."""
    outcome = report_stage.verify_report(report_dir)
    if not outcome.ok:
        raise UserError(
            f"the report version does not verify: {outcome.problems[0]}", file=str(report_dir)
        )
    manifest = json.loads((report_dir / "manifest.json").read_text(encoding="utf-8"))
    return [(str(s["id"]), str(s["manifest_sha256"])) for s in manifest.get("snapshots", [])]


def evidence_behind_report(
    store: evidence.EvidenceStore, used: Sequence[tuple[str, str]]
) -> list[str]:
    """Problems: a snapshot the report used that is gone, or whose manifest changed since.
    A pruned snapshot counts as present when its tombstone records the same manifest hash."""
    tombstones = {str(t.get("id")): str(t.get("manifest_sha256")) for t in store.list_tombstones()}
    live = {m.id: m.sha256 for m in store.list_snapshots()}
    problems = []
    for snapshot_id, expected in used:
        found = live.get(snapshot_id) or tombstones.get(snapshot_id)
        if found is None:
            problems.append(f"snapshot {snapshot_id} used by the report is not in the store")
        elif found != expected:
            problems.append(
                f"snapshot {snapshot_id} differs from the one the report used "
                f"(manifest sha256 {found[:12]}..., report recorded {expected[:12]}...)"
            )
    return problems


def publish_link(folder: Path, destination: str, *, expires_seconds: int) -> str:
    """`auditor publish --to s3://...`: upload a report version (the report stage refuses one
    that does not verify); an expiring link."""
    return str(report_stage.publish(folder, destination, expires_seconds=expires_seconds))


# ---------------------------------------------------------------- auditor store


@dataclass(frozen=True)
class StoreListing:
    """`auditor store list`: every snapshot in chain order, with void records and tombstones."""

    url: str
    manifests: tuple[SnapshotManifest, ...]
    voided: Mapping[str, Mapping[str, Any]]
    pruned: int


def store_listing(store_url: str) -> StoreListing:
    store = open_store(store_url)
    return StoreListing(
        store.url, tuple(store.list_snapshots()), store.voided(), len(store.list_tombstones())
    )


@dataclass(frozen=True)
class SnapshotDetails:
    """`auditor store show`: a snapshot's manifest, its place in the chain and its own hash."""

    manifest: SnapshotManifest
    position: int
    manifest_sha256: str
    voided: Mapping[str, Any] | None


def snapshot_details(store_url: str, snapshot_id: str) -> SnapshotDetails:
    store = open_store(store_url)
    entry = store.resolve(snapshot_id)
    manifest = store.manifest(entry.id)
    digest = sha256_hex(store.backend.read(entry.manifest_key or ""))
    return SnapshotDetails(manifest, entry.sequence, digest, store.voided().get(manifest.id))


def prune_store(store_url: str, older_than_days: int) -> tuple[str, list[str]]:
    """`auditor store prune`: (the store's URL, the snapshots pruned; tombstones keep the chain)."""
    store = open_store(store_url)
    return store.url, list(store.prune(older_than_days))


def void_snapshot(
    store_url: str, snapshot_id: str, reason: str, config: Config | None = None
) -> tuple[str, dict[str, Any]]:
    """`auditor store void`: (the store's URL, the chained void record; signed when auditor.yaml
    has `store.sign`)."""
    store = open_store(store_url, config)
    return store.url, dict(store.void(snapshot_id, reason))
