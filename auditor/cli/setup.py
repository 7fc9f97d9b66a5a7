"""`auditor init` and `auditor permissions`: getting started and least privilege."""

from __future__ import annotations

import json
from pathlib import Path

import click

from auditor.cli import Context, config_option, main, pass_context
from auditor.config import STARTER
from auditor.errors import UserError


@main.command()
@config_option
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@pass_context
def init(ctx: Context, config_path: Path, force: bool) -> None:
    """Write a commented starter auditor.yaml."""
    if config_path.exists() and not force:
        raise UserError("already exists; use --force to overwrite", file=str(config_path))
    config_path.write_text(STARTER, encoding="utf-8")
    click.echo(str(config_path))


@main.command()
@click.argument("provider", type=click.Choice(["aws", "gcp"]))
@pass_context
def permissions(ctx: Context, provider: str) -> None:
    """Print the read-only permissions the collectors need (derived from their declarations)."""
    if provider == "aws":
        from auditor.collect.aws.permissions import aws_permissions_policy

        click.echo(json.dumps(aws_permissions_policy(), indent=2))
    else:
        from auditor.collect.gcp.permissions import gcp_permissions

        click.echo(json.dumps(gcp_permissions(), indent=2))
