"""Reason templates compiled once, filled through the fast path.

`auditor.rules.render_reason` re-parses the template and runs JMESPath per placeholder on every
call; rendering a reason for each of hundreds of thousands of findings that way costs more than
the verdicts. A `ReasonTemplate` splits the template once and evaluates each placeholder with a
`CompiledRule`; tests assert it renders exactly what `render_reason` renders.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from auditor.evaluate.fastpath import CompiledRule
from auditor.rules import PLACEHOLDER, RuleError, show_value

# What `show_value`'s json.dumps(separators=(",", ":"), default=str) builds on every call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), default=str)
_JSON_TYPES = (list, dict, int, float, bool)


class ReasonTemplate:
    """A reason with `{expression}` placeholders, split into text and compiled expressions."""

    __slots__ = ("parts", "template")

    def __init__(self, template: str, *, use_fast_path: bool = True) -> None:
        self.template = template
        self.parts: list[str | CompiledRule | None] = []
        position = 0
        for match in PLACEHOLDER.finditer(template):
            self.parts.append(template[position : match.start()])
            try:
                self.parts.append(CompiledRule(match.group(1).strip(), use_fast_path=use_fast_path))
            except RuleError:
                self.parts.append(None)  # shown as "?", like render_reason does
            position = match.end()
        self.parts.append(template[position:])

    def render(self, data: Mapping[str, Any]) -> str:
        out: list[str] = []
        for part in self.parts:
            if type(part) is str:
                out.append(part)
            else:
                out.append(_show(part, data))  # type: ignore[arg-type]
        return "".join(out)


def _show(rule: CompiledRule | None, data: Mapping[str, Any]) -> str:
    if rule is None:
        return "?"
    try:
        value = rule.search(data)
    except Exception:  # a placeholder that cannot be evaluated never hides the verdict
        return "?"
    # show_value, with the common cases first and one JSON encoder for all calls
    kind = type(value)
    if kind is str:
        return value
    if value is None:
        return "not set"
    if kind in _JSON_TYPES:
        return _ENCODER.encode(value)
    return show_value(value)
