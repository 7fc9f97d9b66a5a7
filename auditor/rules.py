"""The rule language: JMESPath over an evidence document, with parameters and reason templates.

Ground floor, shared by the catalog (which compiles and validates rules at load time) and the
evaluator (which runs them). Semantics, in one place:

- A rule is a JMESPath expression. Its result, read with JMESPath truthiness (false, null, empty
  string, list or object are false), decides PASS (true) or FAIL (false).
- `${name}` in an expression is a control parameter, substituted as a JMESPath JSON literal when
  the catalog loads, so `RetentionInDays >= ${min_retention_days}` compiles once per value.
- Reason templates may embed `{expression}` placeholders, evaluated against the same document and
  shown as text ("not set" for null); `${name}` in a reason shows the parameter's value.
- Extra functions: `re_search(pattern, subject)`, `lower(s)`, `days_between(a, b)`,
  `duration_days("7776000s")` (Google duration strings or seconds, in days).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any

import jmespath
from jmespath import exceptions as jp_exc
from jmespath import functions as jp_functions
from jmespath.parser import ParsedResult

from auditor.models import REDACTED_KEY

_PARAM = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# A reason placeholder: `{expression}`, but not `${param}` (the one pattern; evaluate reuses it).
PLACEHOLDER = re.compile(r"\{([^{}$][^{}]*)\}")


class RuleError(ValueError):
    """A rule that does not compile, or names a parameter the control does not declare."""


class _Functions(jp_functions.Functions):
    @jp_functions.signature({"types": ["string"]}, {"types": ["string", "null"]})
    def _func_re_search(self, pattern: str, subject: str | None) -> bool:
        return subject is not None and re.search(pattern, subject) is not None

    @jp_functions.signature({"types": ["string", "null"]})
    def _func_lower(self, value: str | None) -> str | None:
        return value.lower() if value is not None else None

    @jp_functions.signature({"types": ["string", "number", "null"]})
    def _func_duration_days(self, value: str | float | None) -> float | None:
        """Google duration strings ("7776000s", "3600.5s") or seconds, in days."""
        if value is None:
            return None
        if isinstance(value, str):
            match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)s?\s*", value)
            if not match:
                return None
            value = float(match.group(1))
        return float(value) / 86400.0

    @jp_functions.signature({"types": ["string", "null"]}, {"types": ["string", "null"]})
    def _func_days_between(self, start: str | None, end: str | None) -> float | None:
        if not start or not end:
            return None
        a = datetime.fromisoformat(start.replace("Z", "+00:00"))
        b = datetime.fromisoformat(end.replace("Z", "+00:00"))
        return (b - a).total_seconds() / 86400.0


OPTIONS = jmespath.Options(custom_functions=_Functions())


def substitute_params(expression: str, params: Mapping[str, Any]) -> str:
    """Replace `${name}` with a JMESPath literal of the parameter's value."""

    def literal(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in params:
            raise RuleError(f"unknown parameter '${{{name}}}'")
        return "`" + json.dumps(params[name]).replace("`", "\\`") + "`"

    return _PARAM.sub(literal, expression)


def substitute_params_text(text: str, params: Mapping[str, Any]) -> str:
    """Replace `${name}` in prose (reasons, remediation) with the value as people read it."""

    def plain(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in params:
            raise RuleError(f"unknown parameter '${{{name}}}'")
        value = params[name]
        if value is None:
            return "not set"
        return ", ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)

    return _PARAM.sub(plain, text)


# Deeper than this is not a rule a person wrote; JMESPath's recursive parser would overflow.
MAX_NESTING = 64


@lru_cache(maxsize=4096)
def compile_rule(expression: str) -> ParsedResult:
    """Compile once; raises RuleError with JMESPath's own explanation. A function JMESPath and
    our extras do not define is refused here, not at evaluation (where it would ERROR everywhere)."""
    depth = deepest = 0
    for char in expression:  # brackets inside string literals count too: a conservative bound
        if char in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]}":
            depth -= 1
    if deepest > MAX_NESTING:
        raise RuleError(f"expression nested more than {MAX_NESTING} levels deep")
    try:
        parsed = jmespath.compile(expression)
    except jp_exc.JMESPathError as exc:
        raise RuleError(str(exc).replace("\n", " ")) from None
    except RecursionError:
        raise RuleError("expression nested too deeply") from None
    _check_functions(parsed.parsed)
    return parsed


def _check_functions(tree: Mapping[str, Any]) -> None:
    known = OPTIONS.custom_functions.FUNCTION_TABLE  # type: ignore[union-attr]
    stack = [tree]
    while stack:
        node = stack.pop()
        if node.get("type") == "function_expression" and node.get("value") not in known:
            raise RuleError(
                f"unknown function {node.get('value')}(); known: {', '.join(sorted(known))}"
            )
        stack.extend(c for c in node.get("children", []) if isinstance(c, Mapping))


def check_placeholders(template: str) -> None:
    """Compile every `{expression}` in a reason template, so a typo fails at load time."""
    for match in PLACEHOLDER.finditer(template):
        compile_rule(match.group(1).strip())


def evaluate(expression: str, data: Mapping[str, Any]) -> Any:
    """Raw result of an expression; JMESPath runtime errors propagate as jmespath errors."""
    return compile_rule(expression).search(data, options=OPTIONS)


def holds(expression: str, data: Mapping[str, Any]) -> bool:
    """The verdict of a rule under JMESPath truthiness."""
    return is_truthy(evaluate(expression, data))


def is_truthy(value: Any) -> bool:
    if value is None or value is False:
        return False
    if isinstance(value, str | list | dict | tuple):
        return len(value) > 0
    return True


def render_reason(template: str, data: Mapping[str, Any]) -> str:
    """Fill `{expression}` placeholders from the document; a failing placeholder shows `?`."""

    def fill(match: re.Match[str]) -> str:
        try:
            value = evaluate(match.group(1).strip(), data)
        except (jp_exc.JMESPathError, RuleError, TypeError, ValueError):
            return "?"
        return show_value(value)

    return PLACEHOLDER.sub(fill, template)


def show_value(value: Any) -> str:
    """A placeholder's value as a reason shows it: text as is, null as "not set", else JSON."""
    if value is None:
        return "not set"
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), default=str)


def failed_placeholders(template: str, data: Mapping[str, Any]) -> list[str]:
    """The `{expression}` placeholders of a template that raise on this document."""
    failed = []
    for match in PLACEHOLDER.finditer(template):
        try:
            evaluate(match.group(1).strip(), data)
        except (jp_exc.JMESPathError, RuleError, TypeError, ValueError):
            failed.append(match.group(1))
    return failed


EVERY_FIELD = "*"  # in `referenced_fields`: the expression depends on every key


@lru_cache(maxsize=4096)
def referenced_fields(expression: str) -> frozenset[str]:
    """Top-level document keys an expression reads: a rule touching a key whose collection
    failed is an ERROR, not a verdict. Over-approximates (any field name in the AST).

    The redactor's list (`_redacted`) names secrets found anywhere in the document, so reading
    it reads every key (`EVERY_FIELD`): a secret in a part that failed to collect is missing
    from it. Filtered to one part (`_redacted[?starts_with(@, 'Tags')]`), it reads that part."""
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "filter_projection" and _is_redacted(node["children"][0]):
                part = _prefix_part(node["children"][2])
                names.add(part if part is not None else EVERY_FIELD)
                names.add(REDACTED_KEY)
                return
            if _is_redacted(node):
                names.add(EVERY_FIELD)
            if node.get("type") == "field":
                names.add(str(node.get("value")))
            for child in node.get("children", []):
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(compile_rule(expression).parsed)
    return frozenset(names)


def _is_redacted(node: Any) -> bool:
    return (
        isinstance(node, dict) and node.get("type") == "field" and node.get("value") == REDACTED_KEY
    )


def _prefix_part(condition: Any) -> str | None:
    """`starts_with(@, 'Tags')` -> "Tags": the top-level key a redacted path starts with."""
    if not (
        isinstance(condition, dict)
        and condition.get("type") == "function_expression"
        and condition.get("value") == "starts_with"
    ):
        return None
    subject, prefix = (condition.get("children") or [None, None])[:2]
    if not (isinstance(subject, dict) and subject.get("type") == "current"):
        return None
    if not (isinstance(prefix, dict) and prefix.get("type") == "literal"):
        return None
    text = str(prefix.get("value") or "")
    part = re.split(r"[.\[]", text, maxsplit=1)[0]
    return part or None
