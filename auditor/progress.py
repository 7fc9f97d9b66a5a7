"""A live progress display of a collection in work units: units done / total, calls, errors, ETA.

Drawn by rich on stderr, so stdout stays the snapshot ID for scripts. Shown on a terminal or when
asked for (`--progress`), never with `-q`. It only reads `distribute.UnitProgress` values the
conductor passes; it changes nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from auditor.distribute import OnProgress, UnitProgress


def wanted(asked: bool | None, verbosity: int, stream: TextIO | None = None) -> bool:
    """`-q` silences it; `--progress` / `--no-progress` decide; else only on a terminal."""
    if verbosity < 0:
        return False
    if asked is not None:
        return asked
    stream = stream or sys.stderr
    return bool(getattr(stream, "isatty", lambda: False)())


def _eta(progress: UnitProgress) -> str:
    seconds = progress.eta_seconds()
    if seconds is None:
        return "--:--" if progress.done < progress.total else "0:00"
    minutes, rest = divmod(int(seconds + 0.5), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{rest:02d}" if hours else f"{minutes}:{rest:02d}"


def describe(progress: UnitProgress) -> str:
    """One line of what the display shows (also what a log line would say)."""
    return (
        f"units {progress.done}/{progress.total}  calls {progress.calls:,}  "
        f"documents {progress.documents:,}  errors {progress.errors:,}  ETA {_eta(progress)}"
    )


@contextmanager
def unit_progress(enabled: bool, console: Console | None = None) -> Iterator[OnProgress | None]:
    """A callback for `pipeline.take_snapshot(on_progress=...)`, or None when not enabled."""
    if not enabled:
        yield None
        return
    console = console or Console(stderr=True)
    columns: Any = (
        TextColumn("collecting"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("calls {task.fields[calls]:,}  errors {task.fields[errors]:,}"),
        TextColumn("ETA {task.fields[eta]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("units", total=None, calls=0, errors=0, eta="--:--")

        def update(progress: UnitProgress) -> None:
            bar.update(
                task,
                total=progress.total,
                completed=progress.done,
                calls=progress.calls,
                errors=progress.errors,
                eta=_eta(progress),
            )

        yield update
