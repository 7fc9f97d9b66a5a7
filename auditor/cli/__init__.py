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
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console

from auditor import __version__, pipeline
from auditor.config import StoreSettings
from auditor.errors import AuditorError, UserError

if TYPE_CHECKING:
    from auditor.config import Config

DEFAULT_STORE = StoreSettings.model_fields["url"].default  # the one default: config.py


@dataclass
class Context:
    """Global options, shared by every command through click's context object."""

    store_option: str | None  # --store as given; None when not given
    controls: tuple[Path, ...]
    verbosity: int
    console: Console = field(default_factory=lambda: Console(stderr=True, highlight=False))

    def store_for(self, config: Config | None = None) -> str:
        """The store by the one precedence rule: --store > AUDITOR_STORE > store.url > default."""
        return pipeline.store_url_for(self.store_option, config)

    @property
    def store(self) -> str:
        """The store when no auditor.yaml is read (commands without -c)."""
        return self.store_for(None)

    def info(self, message: str) -> None:
        """Progress to stderr; evidence-derived text in it cannot drive the terminal."""
        if self.verbosity >= 0:
            self.console.print(pipeline.neutralise_text(message), markup=False, soft_wrap=True)

    def debug(self, message: str) -> None:
        if self.verbosity > 0:
            self.console.print(
                pipeline.neutralise_text(message), markup=False, style="dim", soft_wrap=True
            )


pass_context = click.make_pass_decorator(Context)


def parse_frameworks(text: str) -> list[str]:
    """`--frameworks a,b`: the one spelling every command accepts."""
    chosen = [f.strip() for f in text.split(",") if f.strip()]
    unknown = [f for f in chosen if f not in pipeline.FRAMEWORKS]
    if unknown or not chosen:
        raise UserError(
            f"unknown framework {unknown[0]!r}; expected {', '.join(pipeline.FRAMEWORKS)}"
            if unknown
            else "no framework given",
            field="--frameworks",
        )
    return chosen


config_option = click.option(
    "-c",
    "--config",
    "config_path",
    default="auditor.yaml",
    show_default=True,
    type=click.Path(path_type=Path),
    help="The auditor.yaml to use.",
)


# Global options and whether they take a value; accepted before or after the subcommand.
_GLOBAL_OPTIONS = {"--store": True, "--controls": True, "-v": False, "--verbose": False,
                   "--quiet": False}  # fmt: skip


def hoist_global_options(args: list[str]) -> list[str]:
    """Move global options written after the subcommand (`auditor report --store X`) in front of
    it, so both spellings mean the same. Stops at `--`."""
    front: list[str] = []
    rest: list[str] = []
    index = 0
    while index < len(args):
        token = args[index]
        if token == "--":
            rest.extend(args[index:])
            break
        name = token.split("=", 1)[0]
        if name in _GLOBAL_OPTIONS or (token.startswith("-v") and set(token[1:]) == {"v"}):
            front.append(token)
            if _GLOBAL_OPTIONS.get(name) and "=" not in token and index + 1 < len(args):
                front.append(args[index + 1])
                index += 1
        else:
            rest.append(token)
        index += 1
    return front + rest


class _Main(click.Group):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_global_options(list(args)))


@click.group(
    cls=_Main,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="auditor")
@click.option(
    "--store",
    default=None,
    help=f"Evidence store: a folder or s3://bucket/prefix. Precedence: this option, env "
    f"AUDITOR_STORE, store.url in auditor.yaml, default {DEFAULT_STORE}.",
)
@click.option(
    "--controls",
    "controls",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Extra or overriding control catalog folder (repeatable).",
)
@click.option("-v", "--verbose", count=True, help="More output (-vv: library logs too).")
@click.option("--quiet", is_flag=True, help="Only errors.")
@click.pass_context
def main(
    ctx: click.Context, store: str | None, controls: tuple[Path, ...], verbose: int, quiet: bool
) -> None:
    """Audit ML workloads on AWS and GCP against GDPR, HIPAA and PCI DSS 4.0.1."""
    verbosity = -1 if quiet else verbose
    _configure_logging(verbosity)
    ctx.obj = Context(store_option=store, controls=controls, verbosity=verbosity)


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
    except OSError as exc:
        click.echo(f"auditor: error: {os_error_sentence(exc)}", err=True)
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


def os_error_sentence(exc: OSError) -> str:
    """A failed write or read as a plain sentence: what, where, and what to do."""
    import errno

    where = f" {exc.filename}" if exc.filename else ""
    if exc.errno == errno.ENOSPC:
        return f"the disk is full; could not write{where}. Free some space and run again."
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return f"not allowed to write{where} (read-only or no permission); nothing was changed."
    if exc.errno in (errno.ENOTDIR, errno.EEXIST):
        return f"could not create{where}: a file is in the way of a folder."
    return f"could not complete: {exc.strerror or exc}{where}."


def main_entry() -> Any:
    sys.exit(run())
