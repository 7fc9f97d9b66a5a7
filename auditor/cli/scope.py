"""`auditor scope`: which resources each framework's scope holds, why, and the ML lineage."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from auditor import pipeline
from auditor.cli import Context, config_option, main, pass_context
from auditor.cli.settings import safe_text as safe
from auditor.config import Config, load_config


@main.command("scope")
@config_option
@click.option(
    "--snapshot", "snapshot_id", help="A snapshot ID or 'latest' (default: latest per provider)."
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json", "dot"]),
    default="table",
    show_default=True,
    help="table: per framework, in-scope resources with reasons; json; dot: Graphviz lineage.",
)
@click.pass_context
@pass_context
def scope_command(
    ctx: Context,
    click_ctx: click.Context,
    config_path: Path,
    snapshot_id: str | None,
    output_format: str,
) -> None:
    """Framework scope along the ML lineage of the latest snapshots (auditor.yaml `scope:`)."""
    explicit = (
        click_ctx.get_parameter_source("config_path") is not click.core.ParameterSource.DEFAULT
    )
    config: Config | None = None
    if explicit or config_path.is_file():
        config = load_config(config_path)
    store_url = ctx.store_for(config)  # --store > AUDITOR_STORE > store.url > default
    view = pipeline.scope_view(
        config, store_url=store_url, snapshot=snapshot_id, extra_dirs=ctx.controls
    )
    if output_format == "json":
        click.echo(json.dumps(view.to_dict(), indent=2))  # ASCII: no raw bidi or escapes
        return
    if output_format == "dot":
        click.echo(view.dot(), nl=False)
        return
    _print_table(view)


def _print_table(view: pipeline.ScopeView) -> None:
    console = Console(highlight=False, soft_wrap=True)
    if not console.is_terminal:
        console.width = max(console.width, 160)  # a file or pipe: do not fold reasons
    result = view.result
    if not result.defined:
        console.print(
            Text(
                "No scope was defined (auditor.yaml has no `scope:`): every resource is in scope "
                "for every framework."
            )
        )
    for scope in result.frameworks:
        label = view.labels.get(scope.framework, scope.framework)
        inside, outside = scope.in_scope, scope.out_of_scope
        heading = f"{label}: {len(inside)} resources in scope, {len(outside)} out of scope"
        if not scope.defined:
            heading += " (no scope defined for this framework)"
        console.print(Text(heading, style="bold"))
        if scope.defined:
            table = Table(show_lines=False)
            for column in ("type", "name", "reason"):
                table.add_column(column)
            for decision in sorted(
                inside, key=lambda d: (view.role_order(d.role), d.resource_type, d.name)
            ):
                table.add_row(
                    Text(safe(decision.resource_type)),
                    Text(safe(decision.name)),
                    Text(safe(decision.reason)),
                )
            console.print(table)
        if outside:
            counts = Counter(d.resource_type for d in outside)
            console.print(
                Text(
                    safe("out of scope: " + ", ".join(f"{t} {n}" for t, n in counts.most_common()))
                )
            )
    names = {d.resource_id: d.name for f in result.frameworks for d in f.decisions}
    console.print(Text(f"lineage: {len(result.edges)} edges", style="bold"))
    for edge in result.edges:
        console.print(
            Text(
                safe(
                    f"  {names.get(edge.source, edge.source)} -[{edge.relation}]-> "
                    f"{names.get(edge.target, edge.target)}"
                )
            )
        )
