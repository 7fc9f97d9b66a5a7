"""The fast path on the shipped catalog: every control's rule, applies_if and reason placeholders
give what JMESPath gives on the pass and fail fixtures of every control of the same resource type
(tests/fixtures/controls/<ID>/{pass,fail}.json), and none of them needs JMESPath."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache, partial
from pathlib import Path
from typing import Any

import pytest

from auditor.evaluate.fastpath import CompiledRule, Fallback, compile_fast
from auditor.evaluate.reasons import ReasonTemplate
from auditor.models import Control
from auditor.pipeline import load_catalog
from auditor.rules import OPTIONS, PLACEHOLDER, compile_rule, holds, is_truthy, render_reason

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "controls"
# Parameters only the organisation can decide get a value, as in tests/test_control_fixtures.py.
ORGANISATION_PARAMS = {
    "approved_regions": ["eu-west-1", "eu-central-1", "europe-west4", "europe-west1", "EU", "eu"]
}
CONTROLS = [c for c in load_catalog(params=ORGANISATION_PARAMS).controls if not c.manual and c.rule]

# Shipped expressions the fast path leaves to JMESPath (a shape it does not compile). Keep this
# empty: a new rule shape belongs in auditor/evaluate/fastpath.py, with its property test.
JMESPATH_ONLY: frozenset[str] = frozenset()


@cache
def fixtures_by_type() -> dict[str, list[tuple[str, dict[str, Any]]]]:
    found: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for folder in sorted(FIXTURES.iterdir()):
        for verdict in ("pass", "fail"):
            document = json.loads((folder / f"{verdict}.json").read_text("utf-8"))
            found.setdefault(document["resource_type"], []).append(
                (f"{folder.name}/{verdict}", document["data"])
            )
    return found


def expressions(control: Control) -> list[str]:
    found = [control.rule or ""]
    if control.applies_if:
        found.append(control.applies_if)
    for template in (control.pass_reason, control.fail_reason):
        found.extend(m.group(1).strip() for m in PLACEHOLDER.finditer(template))
    return found


def outcome(call: Callable[[Any], Any], data: Any) -> tuple[str, str | None]:
    try:
        return ("ok", json.dumps(call(data), sort_keys=True, default=str))
    except Fallback:
        return ("fallback", None)
    except Exception as exc:
        return ("raise", type(exc).__name__)


def test_the_catalog_has_fixtures_for_every_automated_control() -> None:
    owned = {name.split("/")[0] for docs in fixtures_by_type().values() for name, _ in docs}
    assert {c.id for c in CONTROLS} <= owned


@pytest.mark.parametrize("control", CONTROLS, ids=[c.id for c in CONTROLS])
def test_shipped_expressions_compile_to_closures(control: Control) -> None:
    missing = [e for e in expressions(control) if compile_fast(e) is None]
    assert [e for e in missing if e not in JMESPATH_ONLY] == [], (
        "extend auditor/evaluate/fastpath.py (and its property tests) for these shapes"
    )


@pytest.mark.parametrize("control", CONTROLS, ids=[c.id for c in CONTROLS])
def test_fast_path_agrees_with_jmespath_on_the_fixtures(control: Control) -> None:
    documents = [d for t in control.resource_types for d in fixtures_by_type().get(t, [])]
    own = {f"{control.id}/pass", f"{control.id}/fail"}
    assert own <= {name for name, _ in documents}
    for expression in expressions(control):
        fast = compile_fast(expression)
        rule = CompiledRule(expression)
        jmespath_search = partial(compile_rule(expression).search, options=OPTIONS)
        for name, data in documents:
            reference = outcome(jmespath_search, data)
            if fast is not None:
                got = outcome(fast, data)
                if name in own:  # the closure decides the control's own fixtures by itself
                    assert got[0] != "fallback", (expression, name)
                if got[0] != "fallback":
                    assert got == reference, (expression, name)
            assert outcome(rule.search, data) == reference, (expression, name)
    # verdicts as the evaluator reads them, on the control's own fixtures
    rule = CompiledRule(control.rule or "")
    applies = CompiledRule(control.applies_if) if control.applies_if else None
    for name, data in documents:
        if name not in own:
            continue
        assert is_truthy(rule.search(data)) is holds(control.rule or "", data), name
        assert name.endswith("/pass") is holds(control.rule or "", data), name
        if applies is not None:
            assert is_truthy(applies.search(data)) is holds(control.applies_if or "", data), name
        for template in (control.pass_reason, control.fail_reason):
            assert ReasonTemplate(template).render(data) == render_reason(template, data), name
