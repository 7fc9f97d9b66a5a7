"""The two kinds of failure the CLI turns into exit codes.

`UserError` is bad input (usage, config, catalog, waiver file): exit 2 with a message that names
file, line and field. `RunError` is a run that could not complete: exit 3. Anything else is a bug.
"""

from __future__ import annotations


class AuditorError(Exception):
    exit_code = 3


class UserError(AuditorError):
    """Bad input. The message says where (file:line), which field, and what was expected."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.field = field
        super().__init__(self.render())

    def render(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "")
        parts = [p for p in (where, f"field '{self.field}'" if self.field else "") if p]
        prefix = ": ".join(parts)
        return f"{prefix}: {self.message}" if prefix else self.message


class RunError(AuditorError):
    """The run could not complete (store locked, nothing to evaluate, renderer failed)."""

    exit_code = 3
