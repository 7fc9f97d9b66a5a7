"""`auditor controls validate|list|show|matrix|mappings`: the control catalog from the command line."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click

from auditor import yamlfile
from auditor.catalog import coverage_matrix, load_catalog
from auditor.catalog import formats as fmt
from auditor.cli import Context, main, parse_frameworks, pass_context
from auditor.errors import UserError
from auditor.models import FRAMEWORKS, Catalog, Stage

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
    known = _known_resource_types(ctx)
    catalog = load_catalog(
        [*ctx.controls, *dirs], params=_parse_params(param_pairs), known_resource_types=known
    )
    automated = sum(1 for c in catalog.controls if not c.manual)
    manual = len(catalog.controls) - automated
    requirements = sum(len(f.requirements) for f in catalog.frameworks.values())
    click.echo(
        f"catalog OK: {len(catalog.controls)} controls ({automated} automated, {manual} manual), "
        f"{len(catalog.frameworks)} frameworks with {requirements} requirements"
        + ("" if known is not None else " (resource types not checked)")
    )
    click.echo(f"sha256 {catalog.sha256}")


@controls_group.command("list")
@click.option(
    "--frameworks",
    "--framework",
    "framework",
    help="Comma-separated: only controls mapped to one of these (gdpr, hipaa, pci-dss-4.0.1).",
)
@click.option("--stage", type=click.Choice([s.value for s in Stage]), help="Only this stage.")
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
    catalog = _load(ctx)
    wanted = parse_frameworks(framework) if framework else [None]
    picked = {c.id for f in wanted for c in fmt.select_controls(catalog, framework=f, stage=stage)}
    chosen = [c for c in catalog.controls if c.id in picked]
    if output_format == "csv":
        click.echo(fmt.controls_csv(chosen), nl=False)
    elif output_format == "json":
        click.echo(fmt.controls_json(chosen), nl=False)
    else:
        click.echo(fmt.controls_table(chosen), nl=False)
        ctx.info(f"{len(chosen)} controls")


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
    catalog = _load(ctx, params=_parse_params(param_pairs))
    control = catalog.control(control_id)
    if control is None:
        near = [c.id for c in catalog.controls if c.id.startswith(control_id[:7])][:5]
        hint = f"; similar: {', '.join(near)}" if near else ""
        raise UserError(f"no control '{control_id}' in the catalog{hint}", field="ID")
    if output_format == "json":
        click.echo(fmt.controls_json([control]).strip())
    else:
        click.echo(fmt.control_text(control), nl=False)


_catalog_frameworks_option = click.option(
    "--frameworks",
    "--framework",
    "frameworks",
    multiple=True,
    help="Comma-separated frameworks (gdpr, hipaa, pci-dss-4.0.1); default all.",
)


def _chosen_frameworks(catalog: Catalog, frameworks: tuple[str, ...]) -> list[str]:
    named = [f for text in frameworks for f in parse_frameworks(text)]
    return named or [f for f in FRAMEWORKS if f in catalog.frameworks]


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
    catalog = _load(ctx)
    chosen = _chosen_frameworks(catalog, frameworks)
    rows = coverage_matrix(catalog, chosen)
    text = fmt.matrix_csv(rows) if output_format == "csv" else fmt.matrix_html(catalog, rows)
    if out is None:
        click.echo(text, nl=False)
        return
    _write_atomically(out, text)
    uncovered = sum(1 for r in rows if r["coverage"] == "none")
    ctx.info(f"wrote {out} ({len(rows)} requirements, {uncovered} not covered)")


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
    catalog = _load(ctx)
    chosen = _chosen_frameworks(catalog, frameworks)
    text = fmt.mappings_markdown(catalog, chosen)
    if out is None:
        click.echo(text, nl=False)
        return
    _write_atomically(out, text)
    ctx.info(f"wrote {out}")


# ---------------------------------------------------------------- helpers


def _load(ctx: Context, params: dict[str, Any] | None = None) -> Catalog:
    return load_catalog(list(ctx.controls), params=params)


def _known_resource_types(ctx: Context) -> frozenset[str] | None:
    """Resource types the collectors produce; None (with a warning) if they cannot be imported,
    so a half-installed collector never blocks checking the rest of the catalog."""
    try:
        from auditor import collect

        return collect.resource_types()
    except Exception as exc:
        ctx.info(
            f"warning: resource types not checked: collectors unavailable "
            f"({type(exc).__name__}: {exc})"
        )
        return None


def _parse_params(pairs: Iterable[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name.strip():
            raise UserError(f"expected NAME=VALUE, got {pair!r}", field="--param")
        # through yamlfile like every YAML the tool reads: bounded aliases, checked scalars
        params[name.strip()] = _plain(yamlfile.load_text(raw, f"--param {name.strip()}"))
    return params


def _plain(value: Any) -> Any:
    """yamlfile's line-aware mappings and lists as plain ones."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _write_atomically(path: Path, text: str) -> None:
    """Write to a temporary file next to `path`, then rename: never a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
