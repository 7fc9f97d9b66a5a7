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
from auditor import collect, distribute, evidence
from auditor import evaluate as evaluate_stage
from auditor import report as report_stage
from auditor.config import AwsSettings, CollectionSettings, Config
from auditor.errors import RunError, UserError
from auditor.executors import ExecutorSpec, open_executor, parse_executor
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
    utcnow,
)

Progress = Callable[[str], None]


def no_progress(_: str) -> None:
    """The default progress callback: say nothing."""


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


def collection_executor(
    config: Config | None,
    *,
    executor: Any = None,
    workers: Any = None,
    environ: Mapping[str, str] | None = None,
) -> ExecutorSpec:
    """Where work units run: `--executor` > AUDITOR_EXECUTOR > collection.executor > threads,
    with `--workers` > aws.max_workers as the number of workers (auditor.settings' one rule)."""
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
) -> Collector:
    """`limits`: max_line_bytes and max_depth of one export record (auditor.yaml collection)."""
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
            with open_executor(executor) as pool:
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
    failed = f"; {len(errors)} collection error(s), first: {errors[0].sentence()}" if errors else ""
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
    today = today or utcnow().date()
    if label in (None, "", "current"):
        label = quarter_label(today)
    elif label == "previous":
        first = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
        label = quarter_label(first - timedelta(days=1))
    return evaluate_stage.parse_period(label)


def quarter_label(day: date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


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
    if on is None:
        on = utcnow().date()
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
    catalog = config_catalog(config, extra_dirs) if config else load_catalog(extra_dirs)
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


def write_findings(result: AuditResult, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    as_json, as_csv = findings_files(result)
    written = []
    for name, data in (("findings.json", as_json), ("findings.csv", as_csv)):
        target = out_dir / name
        temporary = target.with_name(f".{name}.tmp")
        temporary.write_bytes(data)
        temporary.replace(target)
        written.append(target)
    return written


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
    formats: Sequence[str] = ("html", "pdf"),
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
        formats=tuple(formats),
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
        if "_" in name:
            start, _, end = name.partition("_")
            return evaluate_stage.parse_period(start=start, end=end)
        return evaluate_stage.parse_period(name)
    except UserError:
        return None


def sign_options(key: Path | None, cert: Path | None, passphrase: str | None = None) -> Any:
    if key is None:
        return None
    return report_stage.SignOptions(key_path=key, cert_path=cert, passphrase=passphrase)


def report_metadata(config: Config | None, *, scope: str | None = None) -> dict[str, Any]:
    """Cover-page facts for the report: organisation, title, scope in words, sign-off parties."""
    org = config.organisation if config else None
    return {
        "organisation": org.name if org else "",
        "title": org.report_title if org else "Machine-learning workloads: compliance audit report",
        "management_assertion": _assertion(org.management_assertion) if org else {},
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
) -> ReportPlan:
    """Resolve every report setting (option given > environment > auditor.yaml > default).

    `options` maps a setting path to (option name, value or settings.NOT_GIVEN)."""
    from auditor import settings

    environ = os.environ if environ is None else environ
    chosen = settings.effective(config, options, environ)
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
    catalog = config_catalog(config, extra_dirs) if config else load_catalog(extra_dirs)
    taken: list[SnapshotManifest] = []
    if collect_first:
        if config is None:
            raise UserError("collecting needs an auditor.yaml naming the scope", field="--config")
        threshold = config.collection.completeness_threshold
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
    selection = Selection(period=plan.period, only=plan.only, exclude=plan.exclude)
    snapshots = select_snapshots(store, selection)
    result = run_evaluation(
        catalog,
        snapshots,
        frameworks=plan.frameworks,
        period=plan.period,
        waivers_path=plan.waivers,
        attestations_path=plan.attestations,
        metadata=report_metadata(config) | {"set_aside": set_aside(store, selection)},
        scope=scope_definition(config),
        interval=schedule_interval(config),
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
