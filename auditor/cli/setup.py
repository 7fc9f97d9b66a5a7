"""`auditor init` and `auditor permissions`: getting started and least privilege."""

from __future__ import annotations

import json
from pathlib import Path

import click

from auditor import pipeline
from auditor.cli import Context, config_option, main, pass_context
from auditor.config import write_starter


@main.command()
@config_option
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@pass_context
def init(ctx: Context, config_path: Path, force: bool) -> None:
    """Write a commented starter auditor.yaml."""
    write_starter(config_path, force=force)
    click.echo(str(config_path))


@main.command()
@click.argument("provider", type=click.Choice(["aws", "gcp"]))
@pass_context
def permissions(ctx: Context, provider: str) -> None:
    """Print the read-only permissions the collectors need (derived from their declarations)."""
    click.echo(json.dumps(pipeline.permissions_policy(provider), indent=2))
