"""`auditor config show` and `auditor config schema`: effective settings and where they came from."""

from __future__ import annotations

import json
from pathlib import Path

import click

from auditor import pipeline
from auditor.cli import Context, main, pass_context
from auditor.config import Config, load_config

safe_text = pipeline.neutralise_text


def config_or_none(config_path: Path | None) -> Config | None:
    """-c FILE when given (it must exist); else ./auditor.yaml when there is one; else none."""
    if config_path is not None:
        return load_config(config_path)
    default = Path("auditor.yaml")
    return load_config(default) if default.is_file() else None


@main.group("config")
def config_group() -> None:
    """The effective configuration: every setting and where it came from."""


@config_group.command("show")
@click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    help="The auditor.yaml to read (default: ./auditor.yaml when present).",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="table for people, json for scripts.",
)
@pass_context
def show(ctx: Context, config_path: Path | None, output_format: str) -> None:
    """Every effective setting, and its source: option, environment, file:line or default.

    Precedence: an option given > environment > auditor.yaml > default."""
    view = pipeline.settings_view(config_or_none(config_path), ctx.store_option)
    rows = [(s.path, s.value, s.source) for s in view.settings]
    effective_store = view.store
    if output_format == "json":
        document = {
            "config_file": view.config_file,
            "store": effective_store,
            "settings": {p: {"value": v, "source": src} for p, v, src in rows},
        }
        click.echo(json.dumps(document, indent=2, default=str))
        return
    width = max(len(p) for p, _, _ in rows)
    shown = [(p, _short(json.dumps(v, default=str)), src) for p, v, src in rows]
    value_width = min(60, max(len(v) for _, v, _ in shown))
    for path, value, source in shown:
        click.echo(safe_text(f"{path:<{width}}  {value:<{value_width}}  {source}"))
    ctx.info(f"store in use: {effective_store}")


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@config_group.command("schema")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["md", "json"]),
    default="md",
    show_default=True,
    help="md: the reference docs/configuration.md is generated from; json: JSON Schema.",
)
def schema(output_format: str) -> None:
    """Every setting auditor.yaml accepts: type, default, environment variable."""
    if output_format == "json":
        click.echo(json.dumps(Config.model_json_schema(), indent=2))
    else:
        click.echo(pipeline.settings_reference(), nl=False)
