"""`auditor verify` and `auditor publish`: integrity of what we hand to auditors."""

from __future__ import annotations

from pathlib import Path

import click

from auditor import pipeline
from auditor.cli import Context, main, pass_context
from auditor.errors import UserError


@main.command()
@click.argument("path")
@click.option(
    "--trust-root",
    "trust_roots",
    multiple=True,
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="PEM certificate to trust when checking a signed PDF or signed store manifests "
    "(repeatable).",
)
@click.option(
    "--report",
    "report_dir",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    help="With a store: also check that every snapshot this report version used is unchanged.",
)
@pass_context
def verify(ctx: Context, path: str, trust_roots: tuple[Path, ...], report_dir: Path | None) -> None:
    """Check a report version folder, or an evidence store's snapshot chain (exit 1 if tampered)."""
    outcome = pipeline.verify(path, trust_roots=trust_roots, report_dir=report_dir)
    for note in outcome.notes:
        click.echo(note)
    for problem in outcome.problems:
        click.echo(f"TAMPERED: {problem}", err=True)
    if not outcome.ok:
        click.echo(f"{outcome.what} {path}: verification FAILED", err=True)
        raise click.exceptions.Exit(1)
    click.echo(f"{outcome.what} {path}: intact")


@main.command()
@click.argument("path", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option(
    "--to",
    "destination",
    required=True,
    help="s3://bucket/prefix (an expiring link), or securityhub (failing AWS findings as ASFF).",
)
@click.option("--region", help="Security Hub region (default: botocore's configured region).")
@click.option(
    "--expires", default="7d", show_default=True, help="Link lifetime: 3600s, 12h, 7d (max 7d)."
)
@pass_context
def publish(ctx: Context, path: Path, destination: str, region: str | None, expires: str) -> None:
    """Upload a report version and print an expiring link for the auditor, or send its failing
    AWS findings to AWS Security Hub (`--to securityhub`)."""
    if destination == "securityhub":
        outcome = pipeline.publish_securityhub(path, pipeline.load_catalog(ctx.controls), region)
        click.echo(
            f"Security Hub: {outcome.imported} findings imported in {outcome.batches} "
            f"batch{'es' if outcome.batches != 1 else ''}, {len(outcome.failed)} refused"
        )
        for finding_id, code, message in outcome.failed:
            ctx.info(f"refused {finding_id}: {code}: {message}")
        if outcome.failed:
            raise click.exceptions.Exit(3)
        return
    if not destination.startswith("s3://"):
        raise UserError(f"expected s3://bucket/prefix, got {destination!r}", field="--to")
    seconds = _duration_seconds(expires)
    click.echo(pipeline.publish_link(path, destination, expires_seconds=seconds))


def _duration_seconds(text: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    unit = text[-1:].lower()
    number = text[:-1] if unit in units else text
    if not number.isdigit():
        raise UserError(
            f"expected a duration like 3600s, 12h or 7d, got {text!r}", field="--expires"
        )
    seconds = int(number) * units.get(unit, 1)
    if not 1 <= seconds <= 7 * 86400:
        raise UserError("presigned links last at most 7 days (S3's limit)", field="--expires")
    return seconds
