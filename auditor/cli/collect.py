"""`auditor collect aws|gcp` and `auditor snapshot`: evidence into the store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from auditor import pipeline
from auditor.cli import Context, config_option, main, pass_context
from auditor.config import CollectionSettings, Config, load_config
from auditor.models import SnapshotManifest
from auditor.progress import unit_progress, wanted


def executor_options(func: Any) -> Any:
    """`--executor` and `--progress`, shared by the commands that collect."""
    func = click.option(
        "--progress/--no-progress",
        default=None,
        help="Show units done, calls, errors and ETA on stderr (default: on a terminal; -q: off).",
    )(func)
    return click.option(
        "--executor",
        default=None,
        help="Where work units run: threads[:N], dask-local[:N] (a local Dask cluster of "
        "processes), tcp://HOST:PORT or tls://HOST:PORT (a Dask scheduler) (default: "
        "AUDITOR_EXECUTOR, else collection.executor, else threads).",
    )(func)


def _print_snapshot(ctx: Context, manifest: SnapshotManifest) -> None:
    documents = sum(manifest.counts.values())
    ctx.info(
        f"snapshot {manifest.id}: {manifest.provider}, {documents} documents, "
        f"{len(manifest.errors)} collection errors, {len(manifest.warnings)} warnings"
        + (" - INCOMPLETE: some evidence could not be read" if manifest.incomplete else "")
    )
    provenance = manifest.provenance
    if provenance.get("sha256"):
        ctx.info(
            f"  imported {provenance.get('file')} ({provenance.get('size')} bytes, sha256 "
            f"{provenance.get('sha256')}); evidence time "
            f"{provenance.get('evidence_time') or 'unknown'}"
        )
    rejected = int(manifest.stats.get("rejected_lines", 0) or 0)
    if rejected:
        ctx.info(f"  {rejected} unreadable lines were rejected (their controls give ERROR):")
        for reject in list(manifest.stats.get("rejects", []))[:10]:
            ctx.info(f"    line {reject.get('line')}: {reject.get('reason')}")
        if rejected > 10:
            ctx.info(f"    ... and {rejected - 10} more (in the manifest's stats)")
    for warning in manifest.warnings[:10]:
        ctx.info(f"  warning: {warning.message}")
    if len(manifest.warnings) > 10:
        ctx.info(f"  ... and {len(manifest.warnings) - 10} more warnings")
    shown = manifest.errors if ctx.verbosity > 0 else manifest.errors[:10]
    for error in shown:
        ctx.info(f"  error: {error.sentence()}")
    if len(manifest.errors) > len(shown):
        ctx.info(f"  ... and {len(manifest.errors) - len(shown)} more errors (-v shows all)")
    click.echo(manifest.id)


@main.group()
def collect() -> None:
    """Take one evidence snapshot from a cloud into the store."""


@collect.command("aws")
@click.option("--profile", help="AWS named profile (default: the default credential chain).")
@click.option(
    "--role-arn", "role_arns", multiple=True, help="Assume this role (repeatable: one per account)."
)
@click.option("--org-role-name", help="Assume this role in every account of the AWS Organization.")
@click.option(
    "--regions", help="Comma-separated regions, or 'all' (default: the session's region)."
)
@click.option(
    "--workers",
    "--max-workers",
    "max_workers",
    default=None,
    type=click.IntRange(1, 1024),
    help="Work units at once (default: aws.max_workers, else 16; --max-workers is an alias).",
)
@executor_options
@click.option(
    "--deadline-seconds",
    default=3600.0,
    show_default=True,
    type=click.FloatRange(min=1),
    help="Calls still running after this are recorded as collection errors (ERROR).",
)
@pass_context
def collect_aws(
    ctx: Context,
    profile: str | None,
    role_arns: tuple[str, ...],
    org_role_name: str | None,
    regions: str | None,
    max_workers: int | None,
    deadline_seconds: float,
    executor: str | None,
    progress: bool | None,
) -> None:
    """One AWS evidence snapshot (endpoints follow botocore: AWS_ENDPOINT_URL, profiles)."""
    spec = pipeline.collection_executor(None, executor=executor, workers=max_workers)
    pipeline.preflight_aws(profile, regions if regions and regions.strip() != "all" else None)
    store = pipeline.open_store(ctx.store)
    catalog = pipeline.load_catalog(ctx.controls)
    region_list: list[str] | str | None = None
    if regions:
        region_list = (
            "all"
            if regions.strip() == "all"
            else [r.strip() for r in regions.split(",") if r.strip()]
        )
    collector = pipeline.aws_collector(
        store,
        profile=profile,
        role_arns=role_arns,
        org_role_name=org_role_name,
        regions=region_list,
        max_workers=spec.workers,
        limits=CollectionSettings(deadline_seconds=deadline_seconds),
        executor=spec,
    )
    with unit_progress(wanted(progress, ctx.verbosity), ctx.console) as on_progress:
        manifest = pipeline.take_snapshot(
            store, collector, catalog.sha256, executor=spec, on_progress=on_progress
        )
    _print_snapshot(ctx, manifest)


@collect.command("gcp")
@click.option(
    "--scope", help="projects/ID, folders/N or organizations/N (live, via Cloud Asset Inventory)."
)
@click.option(
    "--asset-export",
    type=click.Path(path_type=Path),
    help="A `gcloud asset export` NDJSON file or `gcloud asset list --format=json` output.",
)
@click.option("--impersonate-service-account", help="Service account to impersonate (live only).")
@pass_context
def collect_gcp(
    ctx: Context,
    scope: str | None,
    asset_export: Path | None,
    impersonate_service_account: str | None,
) -> None:
    """One GCP evidence snapshot (endpoint override: env AUDITOR_GCP_ASSET_ENDPOINT)."""
    if bool(scope) == bool(asset_export):
        raise click.UsageError("give exactly one of --scope or --asset-export")
    if scope:
        pipeline.preflight_gcp([scope], None)
    store = pipeline.open_store(ctx.store)
    catalog = pipeline.load_catalog(ctx.controls)
    collector = pipeline.gcp_collector(
        store, scope=scope, asset_export=asset_export, impersonate=impersonate_service_account
    )
    _print_snapshot(ctx, pipeline.take_snapshot(store, collector, catalog.sha256))


@main.command()
@config_option
@click.option(
    "--workers",
    "max_workers",
    default=None,
    type=click.IntRange(1, 1024),
    help="Work units at once (default: aws.max_workers, else 16).",
)
@executor_options
@pass_context
def snapshot(
    ctx: Context,
    config_path: Path,
    max_workers: int | None,
    executor: str | None,
    progress: bool | None,
) -> None:
    """Collect the configured scope into the store (for schedulers: cron, systemd, Kubernetes)."""
    config = load_config(config_path)
    pipeline.preflight(config)
    spec = pipeline.collection_executor(config, executor=executor, workers=max_workers)
    store = pipeline.open_store(_store_url(ctx, config), config)
    catalog = pipeline.config_catalog(config, ctx.controls)
    threshold = config.collection.completeness_threshold
    for collector in pipeline.configured_collectors(config, store, spec):
        with unit_progress(wanted(progress, ctx.verbosity), ctx.console) as on_progress:
            manifest = pipeline.take_snapshot(
                store,
                collector,
                catalog.sha256,
                completeness_threshold=threshold,
                executor=spec,
                on_progress=on_progress,
                units_per_key=config.collection.units_per_key,
            )
        _print_snapshot(ctx, manifest)


def _store_url(ctx: Context, config: Config) -> str:
    """The store by the one precedence rule (auditor.settings)."""
    return ctx.store_for(config)
