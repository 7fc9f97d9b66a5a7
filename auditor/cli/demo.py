"""`auditor demo`: the whole pipeline on embedded defaults, no cloud account needed."""

from __future__ import annotations

import time
from pathlib import Path

import click

from auditor import pipeline
from auditor.cli import Context, main, pass_context


@main.command()
@click.option(
    "--out",
    default=None,
    type=click.Path(path_type=Path),
    help="Output folder [default: ./demo-output, or ./demo-compliant-output with --compliant].",
)
@click.option(
    "--compliant",
    is_flag=True,
    help="Run on the compliant twin of the sample estate instead: expect no FAIL.",
)
@pass_context
def demo(ctx: Context, out: Path | None, compliant: bool) -> None:
    """Seed a local moto server and a sample GCP export, snapshot a simulated quarter, report."""
    started = time.monotonic()
    with ctx.console.status("starting", spinner="dots") as status:

        def progress(message: str) -> None:
            status.update(message)
            ctx.info(f"[{time.monotonic() - started:5.1f}s] {message}")

        default = Path("./demo-compliant-output" if compliant else "./demo-output")
        outcome = pipeline.run_demo(out or default, compliant=compliant, progress=progress)
    counts: dict[str, int] = {}
    for finding in outcome.result.findings:
        counts[str(finding.status)] = counts.get(str(finding.status), 0) + 1
    ctx.info(
        f"done in {time.monotonic() - started:.0f}s: {len(outcome.result.snapshots)} snapshots over "
        f"{outcome.period.label}; findings at period end: "
        + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    )
    ctx.info(f"evidence store: {outcome.store}")
    for path in outcome.report_files:
        click.echo(str(path))
