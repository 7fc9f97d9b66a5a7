"""The thin face: parse arguments, call the pipeline, print, and map failures to exit codes.

Command groups live in sibling modules (`auditor/cli/<name>.py`); each attaches its commands to
`main` with `@main.command()` / `@main.group()`. They are discovered by importing every module of
this package, so adding a command means adding a module, not editing a list.
"""

from __future__ import annotations

import importlib
import logging
import os
import pkgutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from auditor import __version__
from auditor.errors import AuditorError

DEFAULT_STORE = "./.auditor/store"


@dataclass
class Context:
    """Global options, shared by every command through click's context object."""

    store: str
    controls: tuple[Path, ...]
    verbosity: int
    console: Console = field(default_factory=lambda: Console(stderr=True, highlight=False))

    def info(self, message: str) -> None:
        if self.verbosity >= 0:
            self.console.print(message, markup=False, soft_wrap=True)

    def debug(self, message: str) -> None:
        if self.verbosity > 0:
            self.console.print(message, markup=False, style="dim", soft_wrap=True)


pass_context = click.make_pass_decorator(Context)

config_option = click.option(
    "-c",
    "--config",
    "config_path",
    default="auditor.yaml",
    show_default=True,
    type=click.Path(path_type=Path),
    help="The auditor.yaml to use.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="auditor")
@click.option(
    "--store",
    envvar="AUDITOR_STORE",
    default=DEFAULT_STORE,
    show_default=True,
    help="Evidence store: a folder or s3://bucket/prefix (env AUDITOR_STORE).",
)
@click.option(
    "--controls",
    "controls",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Extra or overriding control catalog folder (repeatable).",
)
@click.option("-v", "--verbose", count=True, help="More output.")
@click.option("--quiet", is_flag=True, help="Only errors.")
@click.pass_context
def main(
    ctx: click.Context, store: str, controls: tuple[Path, ...], verbose: int, quiet: bool
) -> None:
    """Audit ML workloads on AWS and GCP against GDPR, HIPAA and PCI DSS 4.0.1."""
    verbosity = -1 if quiet else verbose
    _configure_logging(verbosity)
    ctx.obj = Context(store=store, controls=controls, verbosity=verbosity)


# Loggers that write whole API request or response bodies at DEBUG: capped at INFO at any -v.
BODY_LOGGERS = ("botocore.endpoint", "botocore.parsers", "botocore.httpchecksum", "botocore.hooks")


def _configure_logging(verbosity: int) -> None:
    """Libraries (botocore, pyHanko, grpc, moto) log warnings with tracebacks for conditions the
    tool already reports as results; show their logs only when asked for with -v / -vv."""
    level = {1: logging.WARNING, 2: logging.INFO}.get(verbosity, logging.DEBUG)
    if verbosity <= 0:
        level = logging.CRITICAL
    root = logging.getLogger()
    root.setLevel(level)
    for name in BODY_LOGGERS:  # request and response bodies hold what redaction removes later
        logging.getLogger(name).setLevel(max(level, logging.INFO))
    if not any(getattr(h, "_auditor", False) for h in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        handler._auditor = True  # type: ignore[attr-defined]
        root.addHandler(handler)


def _register_commands() -> None:
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


_register_commands()


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return the exit code; AuditorErrors become messages, never tracebacks."""
    try:
        # Without standalone mode, click returns ctx.exit()'s code instead of raising (click >= 8.2).
        outcome = main.main(args=argv, prog_name="auditor", standalone_mode=False)
        if isinstance(outcome, int):
            return outcome
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 3
    except click.ClickException as exc:
        exc.show()
        return 2
    except AuditorError as exc:
        click.echo(f"auditor: error: {exc}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 3
    except Exception as exc:
        if os.environ.get("AUDITOR_DEBUG"):
            raise
        click.echo(
            f"auditor: internal error: {type(exc).__name__}: {exc} "
            "(set AUDITOR_DEBUG=1 for a traceback)",
            err=True,
        )
        return 3
    return 0


def main_entry() -> Any:
    sys.exit(run())
