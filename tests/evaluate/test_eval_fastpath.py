"""The fast path returns exactly what JMESPath returns: property tests on random documents and
random expressions of every shape the closures cover."""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.evaluate.fastpath import CompiledRule, Fallback, compile_fast
from auditor.evaluate.reasons import ReasonTemplate
from auditor.rules import OPTIONS, compile_rule, render_reason

KEYS = ["a", "b", "Status", "c"]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from([0, 1, 2, -1, 0.0, 1.0, 2.5]),
    st.sampled_from(
        ["", "x", "aws:kms", "Enabled", "1", "(", "X:y", "2026-01-02T00:00:00Z", "60s"]
    ),
)
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.sampled_from(KEYS), children, max_size=4)
    ),
    max_leaves=12,
).map(lambda value: value if isinstance(value, dict) else {"a": value})

LITERALS = [
    "'x'",
    "'Enabled'",
    "`1`",
    "`0`",
    "`2`",
    "`true`",
    "`false`",
    "`null`",
    "`[]`",
    "`{}`",
    "`1.0`",
    "''",
]

field = st.sampled_from(KEYS)


@st.composite
def paths(draw: st.DrawFn, depth: int = 2) -> str:
    path = draw(field)
    for _ in range(draw(st.integers(0, depth))):
        step = draw(
            st.sampled_from(
                [".{}", "[0]", "[-1]", "[*].{}", "[].{}", ".*.{}", "[?{}=='x'].{}", "[?{} > `0`]"]
            )
        )
        path += step.format(draw(field), draw(field))
    return path


STRINGS = ["'x'", "'E'", "''", "'aws:'", "'*'"]
PATTERNS = ["'^x'", "'a|E'", "'('", "'[0-9]+'", "''", "'^(?!)'"]


@st.composite
def function_atoms(draw: st.DrawFn) -> str:
    """Calls of every function the fast path covers, with arguments of every type (so JMESPath's
    type errors are met too), alone and as filter conditions."""
    p, q = draw(st.one_of(field, paths())), draw(st.one_of(field, paths()))
    s = draw(st.sampled_from(STRINGS + LITERALS))
    pattern = draw(st.sampled_from(PATTERNS))
    return draw(
        st.sampled_from(
            [
                f"to_array({p})",
                f"contains(to_array({p}), {s})",
                f"starts_with({p}, {s})",
                f"ends_with({p}, {q})",
                f"ends_with({p}, {s})",
                f"starts_with({p}, {q})",
                f"starts_with({p} || '', 'E')",
                f"!ends_with({p}, {s})",
                f"lower({p})",
                f"contains(['x', 'e'], lower({p}))",
                f"re_search({pattern}, {p})",
                f"re_search({p}, {q})",
                f"re_search(join('|', `[\"x\", \"E\"]`[].join('', ['^', @])), lower({p}))",
                f"join({s}, {p})",
                f"join('', [{s}, {p}])",
                f"length({p} || `[]`) > `0`",
                f"abs({p})",
                f"to_string({p})",
                f"type({p})",
                f"keys({p})",
                f"sort({p})",
                f"max({p})",
                f"duration_days({p})",
                f"days_between({p}, {q})",
                f"{p}[?starts_with(@, {s})]",
                f"{p}[?!ends_with(@, 'x')]",
                f"{p}[?contains(to_array(@), {s})]",
                f"to_array({p})[?{q} == 'x' && !{q}]",
            ]
        )
    )


@st.composite
def atoms(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 7))
    if kind == 7:
        return draw(function_atoms())
    if kind == 0:
        return draw(paths())
    if kind == 1:
        op = draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="]))
        right = draw(st.one_of(st.sampled_from(LITERALS), paths()))
        return f"{draw(paths())} {op} {right}"
    if kind == 2:
        return f"length({draw(paths())})"
    if kind == 3:
        return f"contains({draw(paths())}, {draw(st.sampled_from(LITERALS))})"
    if kind == 4:
        return f"not_null({draw(paths())}, {draw(st.sampled_from(LITERALS))})"
    if kind == 5:
        return f"[{draw(paths())}, {draw(paths())}]"
    return f"{draw(paths())} | {draw(field)}"


expressions = st.recursive(
    atoms(),
    lambda inner: st.one_of(
        st.tuples(inner, inner).map(lambda p: f"({p[0]}) && ({p[1]})"),
        st.tuples(inner, inner).map(lambda p: f"({p[0]}) || ({p[1]})"),
        inner.map(lambda e: f"!({e})"),
    ),
    max_leaves=4,
)


def outcome(call: Callable[[], Any]) -> tuple[str, str | None]:
    try:
        return ("ok", json.dumps(call(), sort_keys=True))
    except Fallback:
        return ("fallback", None)
    except Exception as exc:  # JMESPath's own errors, and Python's TypeError it lets through
        return ("raise", type(exc).__name__)


def agree(expression: str, data: Any) -> None:
    """The closure returns what JMESPath returns, or hands over only where JMESPath fails."""
    fast = compile_fast(expression)
    assert fast is not None, f"grammar shape not covered by the fast path: {expression}"
    reference = outcome(lambda: compile_rule(expression).search(data, options=OPTIONS))
    got = outcome(lambda: fast(data))
    if got[0] == "fallback":
        assert reference[0] == "raise", (expression, data, reference)
    else:
        assert got == reference, (expression, data)
    assert outcome(lambda: CompiledRule(expression).search(data)) == reference


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expression=expressions, data=documents)
def test_closures_agree_with_jmespath(expression: str, data: Any) -> None:
    agree(expression, data)


@settings(max_examples=300, deadline=None)
@given(expression=paths(), data=documents)
def test_reason_templates_render_like_render_reason(expression: str, data: Any) -> None:
    template = f"Value {{{expression}}} and {{Status}}; param ${{p}} stays."
    assert ReasonTemplate(template).render(data) == render_reason(template, data)


# shallow documents, so that function arguments are often strings and lists of strings
texts = st.sampled_from(["", "x", "xE", "Ex", "Enabled", "aws:kms", "*", "(", "60s"])
flat_value = st.one_of(texts, scalars, st.lists(texts, max_size=3), st.lists(scalars, max_size=3))
flat_documents = st.fixed_dictionaries({key: flat_value for key in KEYS})


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expression=function_atoms(), data=st.one_of(flat_documents, documents))
def test_function_closures_agree_with_jmespath(expression: str, data: Any) -> None:
    agree(expression, data)


def test_function_corner_cases_agree() -> None:
    cases = {
        "re_search('(', a)": [{"a": None}, {"a": "x"}, {"a": 1}],
        "re_search(a, b)": [{"a": "(", "b": None}, {"a": "(", "b": "x"}, {"a": "^x", "b": "xy"}],
        "lower(a)": [{"a": "AbC"}, {"a": None}, {"a": 1}, {}],
        "starts_with(a, 'x')": [{"a": "xy"}, {"a": "yx"}, {"a": None}, {"a": ["x"]}],
        "ends_with(a, 'x')": [{"a": "xy"}, {"a": "yx"}, {"a": 1}],
        "starts_with(a, b)": [{"a": "xy", "b": "x"}, {"a": "xy", "b": "y"}, {"a": "x", "b": 1}],
        "ends_with(a, b)": [{"a": "xy", "b": "x"}, {"a": "xy", "b": "y"}, {"a": None, "b": ""}],
        "join(', ', a)": [{"a": ["x", "y"]}, {"a": ["x", 1]}, {"a": []}, {"a": "xy"}],
        "to_array(a)": [{"a": None}, {"a": [1]}, {"a": {"k": 1}}, {}],
        "days_between(a, b)": [
            {"a": "2026-01-01T00:00:00Z", "b": "2026-01-31T12:00:00Z"},
            {"a": "not a date", "b": "2026-01-01"},
            {"a": None, "b": "2026-01-01"},
        ],
        "duration_days(a)": [{"a": "86400s"}, {"a": 43200}, {"a": True}, {"a": "soon"}],
        "sort(a)": [{"a": [3, 1]}, {"a": ["b", "a"]}, {"a": [1, "a"]}, {"a": []}],
    }
    for expression, documents_ in cases.items():
        for data in documents_:
            agree(expression, data)


def test_fields_of_mappings_that_are_not_dicts_agree() -> None:
    for data in (
        {"a": OrderedDict(b=1)},
        {"a": MappingProxyType({"b": 1})},
        {"a": "text"},
        {"a": [{"b": 1}]},
    ):
        for expression in ("a.b", "a.b.c", "a", "!a.b"):
            agree(expression, data)


def test_unsupported_shapes_fall_back_to_jmespath() -> None:
    assert compile_fast("a[0:2]") is None
    rule = CompiledRule("sort_by(a, &b)[0].b")
    assert rule.fast is None
    assert rule.search({"a": [{"b": 2}, {"b": 1}]}) == 1
    assert CompiledRule("re_search('^x', a)").search({"a": "xy"}) is True
    for expression in ("nope(a)", "length(a, b)", "lower()", "map(&b, a)", "{x: a}"):
        assert compile_fast(expression) is None, expression


TRICKY = [True, False, 0, 1, 0.0, 1.0, 2, "", "1", None, [], {}, [True], [1], {"k": 0}]


def test_corner_cases_of_equality_ordering_and_truthiness_agree() -> None:
    for left in TRICKY:
        for right in TRICKY:
            data = {"a": left, "b": right}
            for expression in (
                *("a == b", "a != b", "a < b", "a >= b", "a && b", "a || b", "!a"),
                *("a == `true`", "a == `false`", "a != `true`", "a == `1`", "a != `0`"),
                *("a == `1.0`", "a == `2`", "a == 'x'", "a != ''", "a == `null`", "a == `[]`"),
            ):
                agree(expression, data)
