"""The unit progress display: units done / total, calls, errors, ETA; off with -q or off a TTY."""

from __future__ import annotations

import io
import time

from rich.console import Console

from auditor.distribute import UnitProgress
from auditor.progress import describe, unit_progress, wanted


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_shown_on_a_terminal_or_when_asked_and_never_with_quiet() -> None:
    assert wanted(None, 0, _Tty())
    assert not wanted(None, 0, io.StringIO())  # a pipe or a log file
    assert wanted(True, 0, io.StringIO())  # --progress
    assert not wanted(False, 0, _Tty())  # --no-progress
    assert not wanted(True, -1, _Tty())  # -q silences it


def test_the_line_says_units_calls_errors_and_eta() -> None:
    progress = UnitProgress(total=10, done=5, calls=1234, errors=2, documents=40)
    progress.started = time.monotonic() - 50  # 10 s a unit so far
    line = describe(progress)
    assert "units 5/10" in line and "calls 1,234" in line and "errors 2" in line
    assert "ETA 0:50" in line or "ETA 0:49" in line or "ETA 0:51" in line


def test_the_display_draws_the_counts_it_is_given() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120, color_system=None)
    with unit_progress(True, console) as update:
        assert update is not None
        update(UnitProgress(total=4, done=3, calls=77, errors=1))
    text = out.getvalue()
    assert "3/4" in text and "calls 77" in text and "errors 1" in text
    with unit_progress(False) as nothing:
        assert nothing is None
