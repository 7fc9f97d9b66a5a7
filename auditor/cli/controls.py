"""`auditor controls validate|list|show|matrix|mappings`: the control catalog from the command line."""

from __future__ import annotations

from pathlib import Path

import click

from auditor import pipeline
from auditor.cli import Context, main, parse_frameworks, pass_context

_param_option = click.option(
    "--param",
    "param_pairs",
    multiple=True,
    metavar="NAME=VALUE",
    help="Organisation value for a control parameter (VALUE is YAML: 400, [eu-west-1]).",
)


@main.group("controls")
def controls_group() -> None:
    """The control catalog: validate it, list and show controls, print the coverage matrix."""


@controls_group.command("validate")
@click.argument("dirs", nargs=-1, type=click.Path(path_type=Path))
@_param_option
@pass_context
def validate_command(ctx: Context, dirs: tuple[Path, ...], param_pairs: tuple[str, ...]) -> None:
    """Validate the shipped catalog plus --controls folders plus DIRS (exit 2 when invalid)."""
    check = pipeline.validate_catalog(
        [*ctx.controls, *dirs], pipeline.parse_params(param_pairs), warn=ctx.info
    )
    catalog = check.catalog
    automated = sum(1 for c in catalog.controls if not c.manual)
    manual = len(catalog.controls) - automated
    requirements = sum(len(f.requirements) for f in catalog.frameworks.values())
    click.echo(
        f"catalog OK: {len(catalog.controls)} controls ({automated} automated, {manual} manual), "
        f"{len(catalog.frameworks)} frameworks with {requirements} requirements"
        + ("" if check.types_checked else " (resource types not checked)")
    )
    click.echo(f"sha256 {catalog.sha256}")


@controls_group.command("list")
@click.option(
    "--frameworks",
    "--framework",
    "framework",
    help="Comma-separated: only controls mapped to one of these (gdpr, hipaa, pci-dss-4.0.1).",
)
@click.option(
    "--stage", type=click.Choice([s.value for s in pipeline.Stage]), help="Only this stage."
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
    help="table for people; csv or json for scripts.",
)
@pass_context
def list_command(
    ctx: Context, framework: str | None, stage: str | None, output_format: str
) -> None:
    """List controls, optionally of one framework and/or stage."""
    text, count = pipeline.controls_listing(
        pipeline.read_catalog(ctx.controls),
        frameworks=parse_frameworks(framework) if framework else (),
        stage=stage,
        output_format=output_format,
    )
    click.echo(text, nl=False)
    if output_format == "table":
        ctx.info(f"{count} controls")


@controls_group.command("show")
@click.argument("control_id")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text for people, json for scripts.",
)
@_param_option
@pass_context
def show_command(
    ctx: Context, control_id: str, output_format: str, param_pairs: tuple[str, ...]
) -> None:
    """Show one control: rule, reasons, parameters, mappings, remediation."""
    catalog = pipeline.read_catalog(ctx.controls, pipeline.parse_params(param_pairs))
    click.echo(pipeline.control_document(catalog, control_id, output_format), nl=False)


_catalog_frameworks_option = click.option(
    "--frameworks",
    "--framework",
    "frameworks",
    multiple=True,
    help="Comma-separated frameworks (gdpr, hipaa, pci-dss-4.0.1); default all.",
)


def _chosen_frameworks(frameworks: tuple[str, ...]) -> list[str]:
    """Every --frameworks given, each comma-separated; none: all the catalog has."""
    return [f for text in frameworks for f in parse_frameworks(text)]


@controls_group.command("matrix")
@_catalog_frameworks_option
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["csv", "html"]),
    default="csv",
    show_default=True,
    help="csv, or a standalone HTML page.",
)
@click.option("--out", type=click.Path(path_type=Path), help="Write to FILE instead of stdout.")
@pass_context
def matrix_command(
    ctx: Context, frameworks: tuple[str, ...], output_format: str, out: Path | None
) -> None:
    """Requirement x control coverage (automated / manual / none)."""
    document = pipeline.coverage_document(
        pipeline.read_catalog(ctx.controls), _chosen_frameworks(frameworks), output_format, out
    )
    if out is None:
        click.echo(document.text, nl=False)
        return
    ctx.info(f"wrote {out} ({len(document.rows)} requirements, {document.uncovered} not covered)")


@controls_group.command("mappings")
@_catalog_frameworks_option
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["md"]),
    default="md",
    show_default=True,
    help="md: Markdown, as docs/mappings.md.",
)
@click.option("--out", type=click.Path(path_type=Path), help="Write to FILE instead of stdout.")
@pass_context
def mappings_command(
    ctx: Context, frameworks: tuple[str, ...], output_format: str, out: Path | None
) -> None:
    """Framework -> requirement -> controls -> why (docs/mappings.md is this for the shipped catalog)."""
    document = pipeline.mappings_document(
        pipeline.read_catalog(ctx.controls), _chosen_frameworks(frameworks), out
    )
    if out is None:
        click.echo(document.text, nl=False)
        return
    ctx.info(f"wrote {out}")
