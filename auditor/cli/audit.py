"""`auditor evaluate`, `auditor report`, `auditor run` and `auditor diff`."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from auditor import evaluate as evaluate_stage
from auditor import pipeline, settings
from auditor.cli import Context, config_option, main, parse_frameworks, pass_context
from auditor.cli.collect import _print_snapshot, executor_options
from auditor.config import Config, load_config
from auditor.errors import UserError
from auditor.models import FRAMEWORKS, AuditResult, neutralise_text
from auditor.progress import unit_progress, wanted
from auditor.settings import given

_frameworks_option = click.option(
    "--frameworks",
    default=None,
    help="Comma-separated: gdpr, hipaa, pci-dss-4.0.1 (default: frameworks in auditor.yaml, "
    "else all).",
)
_parse_frameworks = parse_frameworks


def _parse_formats(text: str) -> list[str]:
    chosen = [f.strip() for f in text.split(",") if f.strip()]
    for name in chosen:
        if name not in ("html", "pdf"):
            raise UserError(f"unknown format {name!r}; expected html or pdf", field="--formats")
    if not chosen:
        raise UserError("no format given; expected html and/or pdf", field="--formats")
    return chosen


def _out_path(text: str | None, option: str = "--out") -> Path | None:
    """--out as given; an empty string is bad usage, not the current folder."""
    if text is None:
        return None
    if not text.strip():
        raise UserError("an empty path is not an output folder", field=option)
    return Path(text).expanduser()


_snapshots_option = click.option(
    "--snapshots",
    "only",
    help="Evaluate exactly these snapshots: ID,ID (IDs or unique prefixes; voided ones refused).",
)
_exclude_option = click.option(
    "--exclude", help="Leave these snapshots out: ID,ID (listed in the report as set aside)."
)


def _summary_line(ctx: Context, result: AuditResult) -> None:
    counts = Counter(str(f.status) for f in result.findings)
    ctx.info("findings: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))


def _optional_config(config_path: Path | None) -> Config | None:
    from auditor.cli.settings import config_or_none

    return config_or_none(config_path)


def _report_options(
    *,
    store: str | None,
    frameworks: str | None,
    out: str | None,
    formats: str | None,
    period: str | None,
    waivers: Path | None,
    attestations: Path | None,
    sign_key: Path | None,
    sign_cert: Path | None,
    fail_on: str | None,
) -> dict[str, tuple[str, Any]]:
    """Options as given, by setting path; settings.NOT_GIVEN where the user gave none."""
    return {
        "store.url": ("--store", given(store)),
        "frameworks": (
            "--frameworks",
            given(None if frameworks is None else _parse_frameworks(frameworks)),
        ),
        "report.out": ("--out", given(_out_path(out))),
        "report.formats": (
            "--formats",
            given(None if formats is None else _parse_formats(formats)),
        ),
        "report.period": ("--period", given(period)),
        "waivers": ("--waivers", given(waivers)),
        "attestations": ("--attestations", given(attestations)),
        "report.sign.key": ("--sign-key", given(sign_key)),
        "report.sign.cert": ("--sign-cert", given(sign_cert)),
        "report.fail_on": ("--fail-on", given(fail_on)),
    }


_waivers_option = click.option(
    "--waivers",
    type=click.Path(path_type=Path),
    help="Waivers YAML, see docs/waivers-and-attestations.md (default: waivers in auditor.yaml).",
)
_attestations_option = click.option(
    "--attestations",
    type=click.Path(path_type=Path),
    help="Attestations YAML (default: attestations in auditor.yaml).",
)
_fail_on_option = click.option(
    "--fail-on",
    type=click.Choice(["fail", "error"]),
    help="Exit 1 when a FAIL (or: a FAIL or ERROR) remains (default: report.fail_on).",
)
_optional_config_option = click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    help="auditor.yaml to read (default: ./auditor.yaml when present). Options given override it.",
)


def _report_run_options(func: Any) -> Any:
    """The options `report` and `run` share: each overrides its auditor.yaml setting when given."""
    for option in reversed(
        [
            click.option(
                "--period",
                default=None,
                help="2026-Q4, 2026-H2, 2026, current, previous (default: report.period, "
                "else current).",
            ),
            click.option(
                "--from", "date_from", help="Period start date (with --to), e.g. 2026-10-01."
            ),
            click.option("--to", "date_to", help="Period end date, inclusive (with --from)."),
            click.option(
                "--formats",
                default=None,
                help="Comma-separated: html, pdf (default: report.formats, else html,pdf).",
            ),
            _frameworks_option,
            _waivers_option,
            _attestations_option,
            click.option(
                "--sign-key",
                type=click.Path(path_type=Path),
                help="PEM private key or PKCS#12 file (default: report.sign.key; passphrase from "
                "env AUDITOR_SIGN_PASSPHRASE or report.sign.passphrase_env).",
            ),
            click.option(
                "--sign-cert",
                type=click.Path(path_type=Path),
                help="PEM certificate, with a PEM key (default: report.sign.cert).",
            ),
            click.option(
                "--out",
                default=None,
                help="Folder for report versions (default: report.out, else ./reports).",
            ),
            _fail_on_option,
        ]
    ):
        func = option(func)
    return func


@main.command()
@click.option(
    "--snapshot", "snapshot_id", help="A snapshot ID or 'latest' (default: latest per provider)."
)
@click.option("--period", help="An audit period: 2026-Q4, 2026-H2, 2026, current, previous.")
@click.option("--from", "date_from", help="Period start date (with --to), e.g. 2026-10-01.")
@click.option("--to", "date_to", help="Period end date, inclusive (with --from).")
@_frameworks_option
@_waivers_option
@_attestations_option
@click.option(
    "--out",
    default=None,
    help="Folder for findings.json/csv (default: report.out in auditor.yaml; required without it).",
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
@_fail_on_option
@_optional_config_option
@_snapshots_option
@_exclude_option
@pass_context
def evaluate(
    ctx: Context,
    snapshot_id: str | None,
    period: str | None,
    date_from: str | None,
    date_to: str | None,
    frameworks: str | None,
    waivers: Path | None,
    attestations: Path | None,
    out: str | None,
    formats: tuple[str, ...],
    fail_on: str | None,
    config_path: Path | None,
    only: str | None,
    exclude: str | None,
) -> None:
    """Evaluate snapshots against the catalog and write findings (voided snapshots skipped)."""
    ranged = period or date_from or date_to
    if snapshot_id and ranged:
        raise click.UsageError("give --snapshot or a period, not both")
    if snapshot_id and only:
        raise click.UsageError("give --snapshot or --snapshots, not both")
    config = _optional_config(config_path)
    if out is None and config is None:
        raise click.UsageError("give --out (or -c auditor.yaml with report.out)")
    options = _report_options(
        store=ctx.store_option, frameworks=frameworks, out=out, formats=None, period=None,
        waivers=waivers, attestations=attestations, sign_key=None, sign_cert=None,
        fail_on=fail_on,
    )  # fmt: skip
    chosen = settings.effective(config, options)
    target_dir = settings.as_path(chosen["report.out"], config) or Path("reports")
    pipeline.prepare_output_folder(target_dir, "--out")
    catalog = (
        pipeline.config_catalog(config, ctx.controls)
        if config
        else pipeline.load_catalog(ctx.controls)
    )
    store = pipeline.open_store(settings.store_url(chosen["store.url"], config), config)
    selected_period = pipeline.period_for(period, start=date_from, end=date_to) if ranged else None
    selection = pipeline.Selection(
        snapshot_id, selected_period, pipeline.parse_ids(only), pipeline.parse_ids(exclude)
    )
    snapshots = pipeline.select_snapshots(store, selection)
    result = pipeline.run_evaluation(
        catalog,
        snapshots,
        frameworks=chosen["frameworks"].value,
        period=selected_period,
        waivers_path=settings.as_path(chosen["waivers"], config),
        attestations_path=settings.as_path(chosen["attestations"], config),
        metadata=pipeline.report_metadata(config)
        | {"set_aside": pipeline.set_aside(store, selection)},
        scope=pipeline.scope_definition(config),
        interval=pipeline.schedule_interval(config),
    )
    written: list[Path] = []
    if "findings" in formats:
        written += pipeline.write_findings(result, target_dir)
    if "summaries" in formats or "csv" in formats:
        for name, text in evaluate_stage.summaries_csv(result).items():
            target = target_dir / f"summary-{name}"
            target.write_text(text, encoding="utf-8")
            written.append(target)
    if "oscal" in formats:
        target = target_dir / "assessment-results.json"
        document = evaluate_stage.oscal_assessment_results(result)
        target.write_text(json.dumps(document, indent=2), encoding="utf-8")
        written.append(target)
    exports = [f for f in formats if f in ("asff", "ocsf", "junit")]
    for name, data in pipeline.export_files(result, exports).items():
        target = target_dir / name
        target.write_bytes(data)
        written.append(target)
    _summary_line(ctx, result)
    for path in written:
        click.echo(str(path))
    if pipeline.failed_gate(result, chosen["report.fail_on"].value):
        raise click.exceptions.Exit(1)


@main.command()
@_report_run_options
@_optional_config_option
@_snapshots_option
@_exclude_option
@pass_context
def report(
    ctx: Context,
    config_path: Path | None,
    date_from: str | None,
    date_to: str | None,
    only: str | None,
    exclude: str | None,
    **given_options: Any,
) -> None:
    """Write a new report version under OUT/<period>/v<N>/, as auditor.yaml configures it
    (voided snapshots skipped and listed). Each option overrides its auditor.yaml setting only
    when given."""
    config = _optional_config(config_path)
    plan = replace(
        pipeline.plan_report(
            config,
            _report_options(store=ctx.store_option, **given_options),
            date_from=date_from,
            date_to=date_to,
        ),
        only=pipeline.parse_ids(only),
        exclude=pipeline.parse_ids(exclude),
    )
    outcome = pipeline.produce_report(plan, config=config, extra_dirs=ctx.controls)
    _finish(ctx, outcome)


@main.command()
@config_option
@click.option(
    "--skip-collect", is_flag=True, help="Evaluate and report what is already in the store."
)
@click.option(
    "--workers",
    "max_workers",
    default=None,
    type=click.IntRange(1, 1024),
    help="Work units at once (default: aws.max_workers, else 16).",
)
@executor_options
@_report_run_options
@pass_context
def run(
    ctx: Context,
    config_path: Path,
    skip_collect: bool,
    date_from: str | None,
    date_to: str | None,
    max_workers: int | None,
    executor: str | None,
    progress: bool | None,
    **given_options: Any,
) -> None:
    """Snapshot + evaluate + report, as configured in auditor.yaml (options given override it)."""
    config = load_config(config_path)
    spec = pipeline.collection_executor(config, executor=executor, workers=max_workers)
    plan = pipeline.plan_report(
        config,
        _report_options(store=ctx.store_option, **given_options),
        date_from=date_from,
        date_to=date_to,
    )
    with unit_progress(wanted(progress, ctx.verbosity), ctx.console) as on_progress:
        outcome = pipeline.produce_report(
            plan,
            config=config,
            extra_dirs=ctx.controls,
            collect_first=not skip_collect,
            on_snapshot=lambda manifest: _print_snapshot(ctx, manifest),
            executor=spec,
            on_progress=on_progress,
        )
    _finish(ctx, outcome)


def _finish(ctx: Context, outcome: pipeline.ReportOutcome) -> None:
    _summary_line(ctx, outcome.result)
    click.echo(str(outcome.folder))
    if outcome.gate_failed:
        raise click.exceptions.Exit(1)


@main.command()
@click.argument("old")
@click.argument("new")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text for people (control characters shown as \\uXXXX), json for scripts.",
)
@_frameworks_option
@pass_context
def diff(ctx: Context, old: str, new: str, fmt: str, frameworks: str | None) -> None:
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
            catalog,
            snapshots,
            frameworks=_parse_frameworks(frameworks) if frameworks is not None else FRAMEWORKS,
            period=selected,
        )
        documents.append(json.loads(pipeline.findings_files(result)[0]))
    changes = evaluate_stage.diff_findings(documents[0], documents[1], old, new)
    if fmt == "json":
        click.echo(json.dumps(evaluate_stage.diff_to_dict(changes), indent=2))
    else:
        click.echo(neutralise_text(evaluate_stage.diff_to_text(changes)))
