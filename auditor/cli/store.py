"""`auditor store list|show|prune|void`: look after the evidence store named by the global --store."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from auditor import pipeline
from auditor.cli import Context, config_option, main, pass_context
from auditor.config import load_config


def _out() -> Console:
    """Tables to stdout; wide enough for snapshot IDs when piped or captured."""
    return Console(highlight=False, width=None if sys.stdout.isatty() else 160)


@main.group()
def store() -> None:
    """The evidence store: snapshots, their manifests, pruning, voiding.

    \b
    Integrity: every manifest records the previous one's sha256, every file of its snapshot,
    and the sha256 of store.json and salt; manifests and store.json carry a seal, so
    `auditor verify STORE` names any file changed by even one byte. `store void ID --reason`
    appends a chained void record (nothing is deleted): evaluate, report and run skip the
    snapshot and the report lists it with the reason. With `store.sign: {key, cert}` in
    auditor.yaml each new manifest and void record gets a detached .sig, checked by
    `auditor verify STORE --trust-root CERT`; unsigned, the newest manifest is vouched for
    only by its form.
    """


@store.command("list")
@pass_context
def list_snapshots(ctx: Context) -> None:
    """Every snapshot in chain order, oldest first."""
    listing = pipeline.store_listing(ctx.store)
    manifests, voided = listing.manifests, listing.voided
    if not manifests:
        click.echo(f"no snapshots in {listing.url}")
        return
    table = Table(title=f"Snapshots in {listing.url}", title_justify="left")
    for column in ("id", "provider", "taken at", "documents", "errors", "voided"):
        table.add_column(column, justify="right" if column in ("documents", "errors") else "left")
    for manifest in manifests:
        record = voided.get(manifest.id)
        table.add_row(
            manifest.id,
            manifest.provider,
            pipeline.isoformat(manifest.taken_at),
            str(sum(manifest.counts.values())),
            str(len(manifest.errors)),
            f"VOIDED: {record.get('reason')}" if record else "",
        )
    _out().print(table)
    if voided:
        click.echo(f"{len(voided)} snapshot(s) voided: not evaluated (the records stay chained).")
    if listing.pruned:
        click.echo(f"{listing.pruned} older snapshot(s) pruned; their tombstones keep the chain.")


@store.command("show")
@click.argument("snapshot_id")
@pass_context
def show(ctx: Context, snapshot_id: str) -> None:
    """A snapshot's manifest: scope, times, hashes, document counts and collection errors."""
    details = pipeline.snapshot_details(ctx.store, snapshot_id)
    manifest = details.manifest
    lines = [
        f"snapshot:        {manifest.id}",
        f"position:        {details.position}",
        f"provider:        {manifest.provider}",
        f"scope:           {dict(manifest.scope)}",
        f"started at:      {pipeline.isoformat(manifest.started_at)}",
        f"finished at:     {pipeline.isoformat(manifest.finished_at)}",
        f"tool version:    {manifest.tool_version}",
        f"catalog sha256:  {manifest.catalog_sha256}",
        f"manifest sha256: {details.manifest_sha256}",
        f"previous sha256: {manifest.previous_sha256 or '(first in chain)'}",
        f"documents:       {sum(manifest.counts.values())}",
    ]
    record = details.voided
    if record is not None:
        lines.append(f"VOIDED:          {record.get('reason')} (at {record.get('voided_at')})")
    click.echo(pipeline.neutralise_text("\n".join(lines)))
    if manifest.counts:
        table = Table(title="Documents per resource type", title_justify="left")
        table.add_column("resource type")
        table.add_column("documents", justify="right")
        for resource_type, count in sorted(manifest.counts.items()):
            table.add_row(pipeline.neutralise_text(resource_type), str(count))
        _out().print(table)
    if manifest.stats:
        click.echo("statistics:      " + ", ".join(f"{k}={v}" for k, v in manifest.stats.items()))
    if manifest.provenance:
        click.echo(
            "provenance:      " + ", ".join(f"{k}={v}" for k, v in manifest.provenance.items())
        )
    if manifest.incomplete:
        click.echo("INCOMPLETE:      some evidence could not be read (see errors and warnings)")
    for warning in manifest.warnings:
        click.echo(f"warning:         {warning.message}")
    click.echo("files:")
    for key, sha in sorted(manifest.files.items()):
        click.echo(pipeline.neutralise_text(f"  {sha}  {key}"))
    if not manifest.errors:
        click.echo("collection errors: none")
        return
    by_code = Counter(error.error_code for error in manifest.errors)
    click.echo(
        f"collection errors: {len(manifest.errors)} ("
        + ", ".join(f"{code} x{n}" for code, n in by_code.most_common())
        + ")"
    )
    table = Table(title="Collection errors", title_justify="left")
    for column in ("account", "region", "operation", "code", "resource", "message"):
        table.add_column(column)
    for error in manifest.errors:
        table.add_row(
            *(
                pipeline.neutralise_text(cell)
                for cell in (
                    error.account,
                    error.region,
                    f"{error.service}:{error.operation}",
                    error.error_code,
                    error.resource_id or error.resource_type or "(all)",
                    error.message,
                )
            )
        )
    _out().print(table)


@store.command("prune")
@click.option(
    "--older-than",
    "older_than",
    required=True,
    type=click.IntRange(min=0),
    help="Remove snapshots finished more than DAYS days ago.",
    metavar="DAYS",
)
@pass_context
def prune(ctx: Context, older_than: int) -> None:
    """Remove old snapshots, leaving tombstones so the chain still verifies.

    The newest snapshot of each provider, anything under S3 Object Lock retention, and change
    sets that newer snapshots build on are always kept.
    """
    url, pruned = pipeline.prune_store(ctx.store, older_than)
    if not pruned:
        click.echo(f"nothing to prune in {url} (older than {older_than} days)")
        return
    for snapshot_id in pruned:
        click.echo(f"pruned {snapshot_id}")
    click.echo(f"{len(pruned)} snapshot(s) pruned from {url}; tombstones written")


@store.command("void")
@click.argument("snapshot_id")
@click.option("--reason", required=True, help="Why this snapshot must not be evaluated.")
@config_option
@pass_context
def void(ctx: Context, snapshot_id: str, reason: str, config_path: Path) -> None:
    """Exclude a snapshot from evaluation (a test run, a wrong account) for good.

    Nothing is deleted or rewritten: a void record naming the snapshot's manifest hash and the
    reason is appended to the chain (signed when auditor.yaml has `store.sign`). evaluate,
    report and run skip it; the report lists it with the reason; `store list` marks it.
    """
    config = load_config(config_path) if config_path.is_file() else None
    url, record = pipeline.void_snapshot(ctx.store_for(config), snapshot_id, reason, config)
    click.echo(f"voided {record['snapshot_id']} in {url}: {record['reason']}")
