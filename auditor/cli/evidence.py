"""`auditor evidence show`: print the stored (redacted) evidence document a finding names."""

from __future__ import annotations

import json

import click

from auditor import pipeline
from auditor.cli import Context, main, pass_context


@main.group()
def evidence() -> None:
    """Evidence documents in the store, as findings reference them."""


@evidence.command("show")
@click.argument("key", metavar="SHA256|RESOURCE_ID")
@click.option(
    "--snapshot",
    "snapshot_id",
    help="Look the resource up in this snapshot (ID, ID prefix or latest); "
    "default: the latest snapshot of each provider.",
)
@pass_context
def show(ctx: Context, key: str, snapshot_id: str | None) -> None:
    """Print the stored (redacted) document with this sha256 (a finding's evidence_sha256),
    or the document(s) of this resource ID, as JSON."""
    found = pipeline.show_evidence(ctx.store, key, snapshot=snapshot_id)
    for entry in found:
        where = f" in snapshot {entry['snapshot_id']}" if entry["snapshot_id"] else ""
        ctx.info(f"evidence document sha256 {entry['sha256']}{where}")
    payload = found[0]["document"] if len(found) == 1 else [e for e in found]
    click.echo(json.dumps(payload, indent=2, sort_keys=True, ensure_ascii=False))
