"""`auditor collect aws|gcp` and `auditor snapshot`: evidence into the store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from auditor import pipeline
from auditor.cli import Context, config_option, main, pass_context
from auditor.config import CollectionSettings, load_config


def executor_options(func: Any) -> Any:
    """`--workers`, `--executor` and `--progress`, shared by the commands that collect."""
    func = click.option(
        "--workers",
        "--max-workers",
        "max_workers",
        default=None,
        type=click.IntRange(1, 1024),
        help="Work units at once (default: aws.max_workers, else 16; --max-workers is an alias).",
    )(func)
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


def _print_snapshot(ctx: Context, manifest: pipeline.SnapshotManifest) -> None:
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
    with pipeline.unit_progress(pipeline.wanted(progress, ctx.verbosity), ctx.console) as shown:
        manifest = pipeline.collect_aws(
            ctx.store,
            extra_dirs=ctx.controls,
            profile=profile,
            role_arns=role_arns,
            org_role_name=org_role_name,
            regions=regions,
            max_workers=max_workers,
            limits=CollectionSettings(deadline_seconds=deadline_seconds),
            executor=executor,
            on_progress=shown,
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
@click.option(
    "--deadline-seconds",
    default=3600.0,
    show_default=True,
    type=click.FloatRange(min=1),
    help="Live only: calls still running after this are recorded as collection errors (ERROR).",
)
@executor_options
@pass_context
def collect_gcp(
    ctx: Context,
    scope: str | None,
    asset_export: Path | None,
    impersonate_service_account: str | None,
    deadline_seconds: float = 3600.0,
    max_workers: int | None = None,
    executor: str | None = None,
    progress: bool | None = None,
) -> None:
    """One GCP evidence snapshot (endpoint override: env AUDITOR_GCP_ASSET_ENDPOINT). Live,
    the work goes as (scope, asset type) units to the executor; an export is read as one."""
    if bool(scope) == bool(asset_export):
        raise click.UsageError("give exactly one of --scope or --asset-export")
    with pipeline.unit_progress(pipeline.wanted(progress, ctx.verbosity), ctx.console) as shown:
        manifest = pipeline.collect_gcp(
            ctx.store,
            extra_dirs=ctx.controls,
            scope=scope,
            asset_export=asset_export,
            impersonate=impersonate_service_account,
            limits=CollectionSettings(deadline_seconds=deadline_seconds),
            executor=executor,
            workers=max_workers,
            on_progress=shown,
        )
    _print_snapshot(ctx, manifest)


@main.command()
@config_option
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
    with pipeline.unit_progress(pipeline.wanted(progress, ctx.verbosity), ctx.console) as shown:
        pipeline.snapshot_configured(
            config,
            ctx.store_for(config),
            extra_dirs=ctx.controls,
            on_snapshot=lambda manifest: _print_snapshot(ctx, manifest),
            executor=executor,
            workers=max_workers,
            on_progress=shown,
        )
