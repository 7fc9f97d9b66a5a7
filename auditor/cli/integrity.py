"""`auditor verify` and `auditor publish`: integrity of what we hand to auditors."""

from __future__ import annotations

import json
from pathlib import Path

import click

from auditor import pipeline
from auditor import report as report_stage
from auditor.cli import Context, main, pass_context
from auditor.errors import UserError
from auditor.evidence import EvidenceStore


def _is_report_version(path: Path) -> bool:
    manifest = path / "manifest.json"
    if not manifest.is_file():
        return False
    try:
        return str(json.loads(manifest.read_text(encoding="utf-8")).get("schema", "")).startswith(
            "auditor.report/"
        )
    except (json.JSONDecodeError, UnicodeDecodeError, OSError):
        return True  # a report folder with a damaged manifest: verify_report says so


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
    target = Path(path)
    if not path.startswith("s3://") and not target.exists():
        raise UserError("no such report folder or store", file=path)
    notes: list[str] = []
    if not path.startswith("s3://") and _is_report_version(target):
        outcome = report_stage.verify_report(
            target, trust_roots=tuple(p.read_bytes() for p in trust_roots)
        )
        ok, problems, what = outcome.ok, list(outcome.problems), "report version"
        notes = list(outcome.notes)
    else:
        store = pipeline.open_store(path)
        chain = store.verify(trust_roots=tuple(p.read_bytes() for p in trust_roots))
        ok, problems, what = chain.ok, list(chain.problems), "evidence store"
        notes = list(chain.notes)
        if report_dir is not None:
            used = snapshots_used_by(report_dir)
            behind = evidence_behind_report(store, used)
            problems += behind
            ok = ok and not behind
            notes.append(f"{len(used)} snapshot(s) used by {report_dir} checked against the store")
    for note in notes:
        click.echo(note)
    for problem in problems:
        click.echo(f"TAMPERED: {problem}", err=True)
    if not ok:
        click.echo(f"{what} {path}: verification FAILED", err=True)
        raise click.exceptions.Exit(1)
    click.echo(f"{what} {path}: intact")


def snapshots_used_by(report_dir: Path) -> list[tuple[str, str]]:
    """(snapshot ID, manifest sha256) pairs a report version's manifest.json records."""
    outcome = report_stage.verify_report(report_dir)
    if not outcome.ok:
        raise UserError(
            f"the report version does not verify: {outcome.problems[0]}", file=str(report_dir)
        )
    manifest = json.loads((report_dir / "manifest.json").read_text(encoding="utf-8"))
    return [(str(s["id"]), str(s["manifest_sha256"])) for s in manifest.get("snapshots", [])]


def evidence_behind_report(store: EvidenceStore, used: list[tuple[str, str]]) -> list[str]:
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
    click.echo(report_stage.publish(path, destination, expires_seconds=seconds))


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
