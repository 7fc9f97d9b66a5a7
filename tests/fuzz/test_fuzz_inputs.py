"""Fuzzing the files people write: auditor.yaml, control catalogs, waivers, attestations.

Each input is a valid file with hypothesis-chosen damage: characters that matter to YAML spliced in,
values swapped for hostile ones (impossible dates, YAML tags, alias chains, deep nesting, huge
numbers, control characters). Whatever the damage, the tool either accepts the file or refuses it
with a UserError (exit 2) that names the file; never another exception, never a traceback, and
always within a time bound (hypothesis's per-example deadline). Seeds are fixed (derandomize), so CI
runs the same examples every time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import reliability

from auditor.catalog import load_catalog
from auditor.config import STARTER, load_config
from auditor.errors import UserError
from auditor.evaluate import parse_attestations, parse_waivers

FUZZ = settings(
    max_examples=50,
    deadline=None,  # time is bounded by the alias-bomb test's own limit, not by a flaky clock
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)

HOSTILE_VALUES = [
    "2026-02-30",
    '!!int "abc"',
    '!!timestamp "x"',
    "!!python/object/apply:os.system ['true']",
    "!!binary AAAA",
    "&a [*a]",
    "*undefined",
    "1e999999",
    "-.inf",
    ".nan",
    "[" * 200 + "]" * 200,
    "{" * 120 + "}" * 120,
    '"\\u202e\\x1b[2J"',
    '"' + "A" * 5000 + '"',
    "~",
    "[]",
    "{}",
    "''",
    "0x7fffffffffffffffffffffff",
    '"=HYPERLINK(\\"http://x\\")"',
]
SPLICE = st.sampled_from(
    [
        ":",
        "-",
        "[",
        "]",
        "{",
        "}",
        "&x",
        "*x",
        "!",
        "|",
        ">",
        "#",
        "'",
        '"',
        "\t",
        "\n",
        "  ",
        "%",
        "@",
        "`",
        "? ",
    ]
)


def _damage(text: str, data: st.DataObject) -> str:
    lines = text.splitlines()
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        index = data.draw(st.integers(0, max(len(lines) - 1, 0)), label="line")
        line = lines[index] if lines else ""
        kind = data.draw(st.sampled_from(["splice", "value", "drop", "dup"]), label="kind")
        if kind == "splice":
            at = data.draw(st.integers(0, len(line)), label="at")
            line = line[:at] + data.draw(SPLICE, label="chars") + line[at:]
        elif kind == "value" and ":" in line:
            key = line.split(":", 1)[0]
            line = f"{key}: {data.draw(st.sampled_from(HOSTILE_VALUES), label='value')}"
        elif kind == "drop":
            line = ""
        else:
            lines.insert(index, line)
        if lines:
            lines[index] = line
    return "\n".join(lines) + "\n"


def _alias_bomb(levels: int) -> str:
    out = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        refs = ",".join([f"*a{i - 1}"] * 9)
        out.append(f"a{i}: &a{i} [{refs}]")
    return "\n".join(out) + f"\nunknown_key: *a{levels - 1}\n"


RECORDS = "inputs-fuzz"
# cases per input when every test of this module ran (the examples are derandomized)
EXPECTED = {
    "auditor.yaml": 50,
    "waivers": 50,
    "attestations": 50,
    "control catalog": 15,
    "control rule (hostile)": 3,
    "auditor.yaml alias bomb": 1,
}
_INPUTS = {
    "auditor.yaml": "auditor.yaml",
    "waivers.yaml": "waivers",
    "attestations.yaml": "attestations",
    "acme.yaml": "control catalog",
}


@pytest.fixture(scope="module", autouse=True)
def _records_and_doc() -> Iterator[None]:
    """Fresh records; when every case ran, docs/RELIABILITY.md must show them."""
    reliability.fresh(RECORDS)
    yield
    path = reliability.RECORDS / f"{RECORDS}.jsonl"
    lines = path.read_text().splitlines() if path.is_file() else []
    if Counter(json.loads(line)["kind"] for line in lines) == EXPECTED:
        reliability.assert_current(reliability.report.render_inputs())


def _assert_refused_or_accepted(call: object, path_name: str) -> None:
    outcome = "accepted"
    try:
        call()  # type: ignore[operator]
    except UserError as exc:
        assert path_name in str(exc), f"the message does not name the file: {exc}"
        assert len(str(exc)) < 2000, "a rejected value was rendered whole"
        outcome = "refused"
    reliability.record(RECORDS, _INPUTS[path_name], outcome=outcome)


@FUZZ
@given(data=st.data())
def test_auditor_yaml(tmp_path: Path, data: st.DataObject) -> None:
    path = tmp_path / "auditor.yaml"
    path.write_text(_damage(STARTER, data), encoding="utf-8")
    _assert_refused_or_accepted(lambda: load_config(path), "auditor.yaml")


WAIVERS = """\
waivers:
  - control: ML-DATA-001
    resources: ["arn:aws:s3:::legacy-*"]
    justification: "Bucket retired in Q1"
    approved_by: "CISO"
    expires: 2026-12-31
"""
ATTESTATIONS = """\
attestations:
  - requirement: "pci-dss-4.0.1:12.10.1"
    statement: "Incident response plan tested"
    attested_by: "Head of Security"
    date: 2026-10-14
    valid_until: 2027-10-14
    files: ["evidence/ir.pdf"]
"""


@FUZZ
@given(data=st.data())
def test_waivers(data: st.DataObject) -> None:
    text = _damage(WAIVERS, data)
    _assert_refused_or_accepted(lambda: parse_waivers(text, "waivers.yaml"), "waivers.yaml")


@FUZZ
@given(data=st.data())
def test_attestations(data: st.DataObject) -> None:
    text = _damage(ATTESTATIONS, data)
    _assert_refused_or_accepted(
        lambda: parse_attestations(text, "attestations.yaml", {}), "attestations.yaml"
    )


CONTROL = """\
controls:
  - id: ACME-DATA-001
    title: Buckets are encrypted
    stage: data
    severity: high
    rationale: Encryption at rest.
    resource_types: ["AWS::S3::Bucket"]
    params:
      min_days: {default: 30, description: "days", floor: 1}
    rule: Encryption.Rules[0].ApplyServerSideEncryptionByDefault.SSEAlgorithm != null && `${min_days}` > `0`
    pass_reason: Bucket {Name} is encrypted.
    fail_reason: Bucket {Name} is not encrypted.
    remediation: {text: Turn on default encryption.}
    maps_to:
      gdpr: [{id: "Art. 32(1)(a)", why: "encryption of personal data"}]
"""


@settings(FUZZ, max_examples=15)  # each example loads the whole shipped catalog too
@given(data=st.data())
def test_catalog_files(tmp_path_factory: pytest.TempPathFactory, data: st.DataObject) -> None:
    folder = tmp_path_factory.mktemp("acme")
    (folder / "acme.yaml").write_text(_damage(CONTROL, data), encoding="utf-8")
    _assert_refused_or_accepted(lambda: load_catalog([folder]), "acme.yaml")


@pytest.mark.parametrize(
    "rule",
    [
        "(" * 1000 + "Name" + ")" * 1000,
        "no_such_function(Name)",
        "Name ==",
    ],
    ids=["deep parentheses", "unknown function", "truncated"],
)
def test_hostile_rules_are_refused_at_load(tmp_path: Path, rule: str) -> None:
    (tmp_path / "acme.yaml").write_text(
        CONTROL.replace(
            "rule: Encryption.Rules[0].ApplyServerSideEncryptionByDefault.SSEAlgorithm != null && `${min_days}` > `0`",
            "rule: " + repr(rule).replace("'", '"') if '"' not in rule else "rule: '" + rule + "'",
        ),
        encoding="utf-8",
    )
    with pytest.raises(UserError, match=r"acme\.yaml"):
        load_catalog([tmp_path])
    reliability.record(RECORDS, "control rule (hostile)", outcome="refused")


@pytest.mark.parametrize("levels", [9])
def test_alias_bomb_is_refused_quickly(tmp_path: Path, levels: int) -> None:
    """A 500-byte auditor.yaml of nested aliases once took 21 GB: it must exit 2 in seconds,
    in a child process with a memory cap so a regression cannot take the machine down."""
    path = tmp_path / "auditor.yaml"
    path.write_text(_alias_bomb(levels), encoding="utf-8")
    assert path.stat().st_size < 1024
    code = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))\n"
        "from auditor.cli import run\n"
        f"sys.exit(run(['config', 'show', '-c', {str(path)!r}]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "auditor.yaml" in done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    assert len(done.stderr) < 4000
    reliability.record(RECORDS, "auditor.yaml alias bomb", outcome="refused")
