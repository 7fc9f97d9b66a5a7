"""The fast path returns exactly what JMESPath returns: property tests on random documents and
random expressions of every shape the closures cover."""

from __future__ import annotations

import json

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
    st.sampled_from(["", "x", "aws:kms", "Enabled", "1"]),
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
def paths(draw, depth=2):
    path = draw(field)
    for _ in range(draw(st.integers(0, depth))):
        step = draw(
            st.sampled_from(
                [".{}", "[0]", "[-1]", "[*].{}", "[].{}", ".*.{}", "[?{}=='x'].{}", "[?{} > `0`]"]
            )
        )
        path += step.format(draw(field), draw(field))
    return path


@st.composite
def atoms(draw):
    kind = draw(st.integers(0, 6))
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


def outcome(call):
    try:
        return ("ok", json.dumps(call(), sort_keys=True))
    except Fallback:
        return ("fallback", None)
    except Exception as exc:  # JMESPath's own errors, and Python's TypeError it lets through
        return ("raise", type(exc).__name__)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expression=expressions, data=documents)
def test_closures_agree_with_jmespath(expression, data):
    fast = compile_fast(expression)
    assert fast is not None, f"grammar shape not covered by the fast path: {expression}"
    reference = outcome(lambda: compile_rule(expression).search(data, options=OPTIONS))
    got = outcome(lambda: fast(data))
    if got[0] == "fallback":
        # the closure hands over only where JMESPath itself fails
        assert reference[0] == "raise", (expression, data, reference)
    else:
        assert got == reference, (expression, data)
    assert outcome(lambda: CompiledRule(expression).search(data)) == reference


@settings(max_examples=300, deadline=None)
@given(expression=paths(), data=documents)
def test_reason_templates_render_like_render_reason(expression, data):
    template = f"Value {{{expression}}} and {{Status}}; param ${{p}} stays."
    assert ReasonTemplate(template).render(data) == render_reason(template, data)


def test_unsupported_shapes_fall_back_to_jmespath():
    assert compile_fast("a[0:2]") is None
    rule = CompiledRule("sort_by(a, &b)[0].b")
    assert rule.fast is None
    assert rule.search({"a": [{"b": 2}, {"b": 1}]}) == 1
    assert CompiledRule("re_search('^x', a)").search({"a": "xy"}) is True


TRICKY = [True, False, 0, 1, 0.0, 1.0, 2, "", "1", None, [], {}, [True], [1], {"k": 0}]


def test_corner_cases_of_equality_ordering_and_truthiness_agree():
    for left in TRICKY:
        for right in TRICKY:
            data = {"a": left, "b": right}
            for expression in (
                *("a == b", "a != b", "a < b", "a >= b", "a && b", "a || b", "!a"),
                *("a == `true`", "a == `false`", "a != `true`", "a == `1`", "a != `0`"),
                *("a == `1.0`", "a == `2`", "a == 'x'", "a != ''", "a == `null`", "a == `[]`"),
            ):
                fast = compile_fast(expression)
                assert fast is not None
                reference = outcome(
                    lambda e=expression, d=data: compile_rule(e).search(d, options=OPTIONS)
                )
                got = outcome(lambda f=fast, d=data: f(d))
                if got[0] == "fallback":
                    assert reference[0] == "raise", (expression, data)
                else:
                    assert got == reference, (expression, data)
