"""`auditor evaluate`, `auditor report`, `auditor run` and `auditor diff`."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import click

from auditor import evaluate as evaluate_stage
from auditor import pipeline
from auditor.cli import Context, config_option, main, pass_context
from auditor.cli.collect import _print_snapshot, _store_url
from auditor.config import load_config
from auditor.errors import UserError
from auditor.models import FRAMEWORKS, AuditResult

_frameworks_option = click.option(
    "--frameworks",
    default=",".join(FRAMEWORKS),
    show_default=True,
    help="Comma-separated: gdpr, hipaa, pci-dss-4.0.1.",
)


def _parse_frameworks(text: str) -> list[str]:
    chosen = [f.strip() for f in text.split(",") if f.strip()]
    unknown = [f for f in chosen if f not in FRAMEWORKS]
    if unknown or not chosen:
        raise UserError(
            f"unknown framework {unknown[0]!r}; expected {', '.join(FRAMEWORKS)}"
            if unknown
            else "no framework given",
            field="--frameworks",
        )
    return chosen


def _summary_line(ctx: Context, result: AuditResult) -> None:
    counts = Counter(str(f.status) for f in result.findings)
    ctx.info("findings: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))


@main.command()
@click.option(
    "--snapshot", "snapshot_id", help="A snapshot ID or 'latest' (default: latest per provider)."
)
@click.option("--period", help="An audit period: 2026-Q4, 2026-H2, 2026, current, previous.")
@click.option("--from", "date_from", help="Period start date (with --to), e.g. 2026-10-01.")
@click.option("--to", "date_to", help="Period end date, inclusive (with --from).")
@_frameworks_option
@click.option(
    "--waivers", type=click.Path(path_type=Path), help="Waivers YAML (docs/waivers-and-attestations.md)."
)
@click.option("--attestations", type=click.Path(path_type=Path), help="Attestations YAML.")
@click.option(
    "--out", required=True, type=click.Path(path_type=Path), help="Folder for findings.json/csv."
)
@click.option(
    "--format",
    "formats",
    multiple=True,
    type=click.Choice(["findings", "summaries", "csv", "oscal", "asff", "ocsf", "junit"]),
    default=("findings",),
    show_default=True,
    help="findings: findings.json + findings.csv; summaries (or csv): the summary tables as CSV; oscal: OSCAL assessment results; asff: AWS Security Hub findings; ocsf: OCSF Compliance Findings; junit: JUnit XML for CI.",
)
@click.option(
    "--fail-on", type=click.Choice(["fail", "error"]), help="Exit 1 when a FAIL (or ERROR) remains."
)
@pass_context
def evaluate(
    ctx: Context,
    snapshot_id: str | None,
    period: str | None,
    date_from: str | None,
    date_to: str | None,
    frameworks: str,
    waivers: Path | None,
    attestations: Path | None,
    out: Path,
    formats: tuple[str, ...],
    fail_on: str | None,
) -> None:
    """Evaluate snapshots against the catalog and write findings."""
    ranged = period or date_from or date_to
    if snapshot_id and ranged:
        raise click.UsageError("give --snapshot or a period, not both")
    chosen = _parse_frameworks(frameworks)
    catalog = pipeline.load_catalog(ctx.controls)
    store = pipeline.open_store(ctx.store)
    selected_period = pipeline.period_for(period, start=date_from, end=date_to) if ranged else None
    snapshots = pipeline.select_snapshots(store, pipeline.Selection(snapshot_id, selected_period))
    result = pipeline.run_evaluation(
        catalog,
        snapshots,
        frameworks=chosen,
        period=selected_period,
        waivers_path=waivers,
        attestations_path=attestations,
        metadata=pipeline.report_metadata(None),
    )
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if "findings" in formats:
        written += pipeline.write_findings(result, out)
    if "summaries" in formats or "csv" in formats:
        for name, text in evaluate_stage.summaries_csv(result).items():
            target = out / f"summary-{name}"
            target.write_text(text, encoding="utf-8")
            written.append(target)
    if "oscal" in formats:
        target = out / "assessment-results.json"
        target.write_text(
            json.dumps(evaluate_stage.oscal_assessment_results(result), indent=2), encoding="utf-8"
        )
        written.append(target)
    exports = [f for f in formats if f in ("asff", "ocsf", "junit")]
    for name, data in pipeline.export_files(result, exports).items():
        target = out / name
        target.write_bytes(data)
        written.append(target)
    _summary_line(ctx, result)
    for path in written:
        click.echo(str(path))
    if pipeline.failed_gate(result, fail_on):
        raise click.exceptions.Exit(1)


@main.command()
@click.option(
    "--period",
    default="current",
    show_default=True,
    help="2026-Q4, 2026-H2, 2026, current, previous.",
)
@click.option("--from", "date_from", help="Period start date (with --to), e.g. 2026-10-01.")
@click.option("--to", "date_to", help="Period end date, inclusive (with --from).")
@click.option(
    "--formats", default="html,pdf", show_default=True, help="Comma-separated: html, pdf."
)
@_frameworks_option
@click.option("--waivers", type=click.Path(path_type=Path))
@click.option("--attestations", type=click.Path(path_type=Path))
@click.option(
    "--sign-key",
    type=click.Path(path_type=Path),
    help="PEM private key or PKCS#12 file (passphrase from env AUDITOR_SIGN_PASSPHRASE).",
)
@click.option(
    "--sign-cert", type=click.Path(path_type=Path), help="PEM certificate (with a PEM key)."
)
@click.option("--out", default="./reports", show_default=True, type=click.Path(path_type=Path))
@click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    help="auditor.yaml for organisation details, waivers and attestations.",
)
@pass_context
def report(
    ctx: Context,
    period: str,
    date_from: str | None,
    date_to: str | None,
    formats: str,
    frameworks: str,
    waivers: Path | None,
    attestations: Path | None,
    sign_key: Path | None,
    sign_cert: Path | None,
    out: Path,
    config_path: Path | None,
) -> None:
    """Write a new report version under OUT/<period>/v<N>/."""
    config = load_config(config_path) if config_path else None
    chosen_formats = [f.strip() for f in formats.split(",") if f.strip()]
    for name in chosen_formats:
        if name not in ("html", "pdf"):
            raise UserError(f"unknown format {name!r}; expected html or pdf", field="--formats")
    catalog = (
        pipeline.config_catalog(config, ctx.controls)
        if config
        else pipeline.load_catalog(ctx.controls)
    )
    store = pipeline.open_store(_store_url(ctx, config) if config else ctx.store, config)
    selected = pipeline.period_for(period, start=date_from, end=date_to)
    snapshots = pipeline.select_snapshots(store, pipeline.Selection(period=selected))
    result = pipeline.run_evaluation(
        catalog,
        snapshots,
        frameworks=_parse_frameworks(frameworks),
        period=selected,
        waivers_path=waivers or (config.path(config.waivers) if config else None),
        attestations_path=attestations or (config.path(config.attestations) if config else None),
        metadata=pipeline.report_metadata(config),
    )
    folder = pipeline.write_report(
        result,
        out,
        formats=chosen_formats,
        sign=pipeline.sign_options(sign_key, sign_cert, os.environ.get("AUDITOR_SIGN_PASSPHRASE")),
    )
    _summary_line(ctx, result)
    click.echo(str(folder))


@main.command()
@config_option
@click.option(
    "--skip-collect", is_flag=True, help="Evaluate and report what is already in the store."
)
@click.option("--fail-on", type=click.Choice(["fail", "error"]), help="Overrides report.fail_on.")
@pass_context
def run(ctx: Context, config_path: Path, skip_collect: bool, fail_on: str | None) -> None:
    """Snapshot + evaluate + report, as configured in auditor.yaml."""
    config = load_config(config_path)
    store = pipeline.open_store(_store_url(ctx, config), config)
    catalog = pipeline.config_catalog(config, ctx.controls)
    if not skip_collect:
        for collector in pipeline.configured_collectors(config, store):
            _print_snapshot(ctx, pipeline.take_snapshot(store, collector, catalog.sha256))
    selected = pipeline.period_for(config.report.period)
    snapshots = pipeline.select_snapshots(store, pipeline.Selection(period=selected))
    result = pipeline.run_evaluation(
        catalog,
        snapshots,
        frameworks=config.frameworks,
        period=selected,
        waivers_path=config.path(config.waivers),
        attestations_path=config.path(config.attestations),
        metadata=pipeline.report_metadata(config),
    )
    sign = config.report.sign
    folder = pipeline.write_report(
        result,
        config.path(config.report.out) or Path("reports"),
        formats=config.report.formats,
        sign=pipeline.sign_options(
            config.path(sign.key),
            config.path(sign.cert),
            os.environ.get(sign.passphrase_env) if sign.passphrase_env else None,
        )
        if sign
        else None,
    )
    _summary_line(ctx, result)
    click.echo(str(folder))
    if pipeline.failed_gate(result, fail_on or config.report.fail_on):
        raise click.exceptions.Exit(1)


@main.command()
@click.argument("old")
@click.argument("new")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@_frameworks_option
@pass_context
def diff(ctx: Context, old: str, new: str, fmt: str, frameworks: str) -> None:
    """What changed between two report versions (folders or findings.json) or two periods."""
    documents = []
    for label in (old, new):
        path = Path(label)
        if path.exists():
            documents.append(pipeline.load_findings_document(path))
            continue
        try:
            selected = pipeline.period_for(label)
        except UserError:
            raise UserError(
                f"{label!r} is neither a report version folder, a findings.json, nor a period"
            ) from None
        catalog = pipeline.load_catalog(ctx.controls)
        store = pipeline.open_store(ctx.store)
        snapshots = pipeline.select_snapshots(store, pipeline.Selection(period=selected))
        result = pipeline.run_evaluation(
            catalog, snapshots, frameworks=_parse_frameworks(frameworks), period=selected
        )
        documents.append(json.loads(pipeline.findings_files(result)[0]))
    changes = evaluate_stage.diff_findings(documents[0], documents[1], old, new)
    if fmt == "json":
        click.echo(json.dumps(evaluate_stage.diff_to_dict(changes), indent=2))
    else:
        click.echo(evaluate_stage.diff_to_text(changes))
