"""Waiver and attestation files, and audit periods: good input parses, bad input names file:line."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from auditor.errors import UserError
from auditor.evaluate import attestation_paths, parse_attestations, parse_period, parse_waivers

WAIVERS = """\
waivers:
  - control: ML-DATA-001
    resources: ["arn:aws:s3:::legacy-*"]
    justification: "Bucket retired in Q1"
    approved_by: "CISO"
    expires: 2026-12-31
  - control: ML-DATA-002
    justification: Accepted
    approved_by: CTO
    expires: "2027-01-15"
"""


def test_parse_waivers_reads_the_contract_format():
    first, second = parse_waivers(WAIVERS, "waivers.yaml")
    assert first.control == "ML-DATA-001"
    assert first.resources == ("arn:aws:s3:::legacy-*",)
    assert first.expires == date(2026, 12, 31)
    assert first.source == "waivers.yaml:2"
    assert second.resources == () and second.expires == date(2027, 1, 15)
    assert second.source == "waivers.yaml:7"


@pytest.mark.parametrize("text", ["", "waivers:\n", "waivers: []\n"])
def test_empty_waiver_files_mean_no_waivers(text):
    assert parse_waivers(text, "w.yaml") == []


@pytest.mark.parametrize(
    ("text", "line", "field", "words"),
    [
        (WAIVERS.replace("    expires: 2026-12-31\n", ""), 2, "waivers.0.expires", "required"),
        (WAIVERS.replace("2026-12-31", "31/12/2026"), 6, "waivers.0.expires", "YYYY-MM-DD"),
        (WAIVERS.replace("2026-12-31", "20261231"), 6, "waivers.0.expires", "YYYY-MM-DD"),
        (
            WAIVERS.replace("2026-12-31", "2026-12-31T10:00:00"),
            6,
            "waivers.0.expires",
            "not a date and time",
        ),
        (
            WAIVERS.replace("approved_by: CTO", "approved_by: CTO\n    approver: x"),
            10,
            "waivers.1.approver",
            "unknown key",
        ),
        (
            WAIVERS.replace('approved_by: "CISO"', "approved_by: 7"),
            5,
            "waivers.0.approved_by",
            "string",
        ),
        ("- control: x\n", 1, "waivers", "mapping"),
    ],
)
def test_bad_waiver_files_name_file_line_and_field(text, line, field, words):
    with pytest.raises(UserError) as caught:
        parse_waivers(text, "waivers.yaml")
    err = caught.value
    assert err.file == "waivers.yaml"
    assert err.line == line
    assert err.field == field
    assert words in err.message
    assert str(err).startswith(f"waivers.yaml:{line}: field '{field}'")


def test_yaml_syntax_error_names_the_line():
    with pytest.raises(UserError) as caught:
        parse_waivers("waivers:\n  - control: [unclosed\n", "w.yaml")
    assert caught.value.file == "w.yaml" and caught.value.line is not None


ATTESTATIONS = """\
attestations:
  - requirement: "pci-dss-4.0.1:12.10.1"
    statement: "Incident response plan tested in tabletop exercise"
    attested_by: "Head of Security"
    date: 2026-10-14
    valid_until: 2027-10-14
    files: ["evidence/ir-tabletop-2026.pdf", "evidence/missing.pdf"]
"""


def test_parse_attestations_records_file_hashes_and_missing_files():
    paths = attestation_paths(ATTESTATIONS, "att.yaml")
    assert paths == ["evidence/ir-tabletop-2026.pdf", "evidence/missing.pdf"]
    (att,) = parse_attestations(
        ATTESTATIONS,
        "att.yaml",
        {"evidence/ir-tabletop-2026.pdf": "f" * 64, "evidence/missing.pdf": None},
    )
    assert att.requirement == "pci-dss-4.0.1:12.10.1"
    assert att.date == date(2026, 10, 14) and att.valid_until == date(2027, 10, 14)
    assert dict(att.file_sha256) == {
        "evidence/ir-tabletop-2026.pdf": "f" * 64,
        "evidence/missing.pdf": None,
    }
    assert att.source == "att.yaml:2"
    (unhashed,) = parse_attestations(ATTESTATIONS, "att.yaml", {})
    assert unhashed.file_sha256["evidence/ir-tabletop-2026.pdf"] is None


@pytest.mark.parametrize(
    ("old", "new", "line", "field", "words"),
    [
        (
            '"pci-dss-4.0.1:12.10.1"',
            '"12.10.1"',
            2,
            "attestations.0.requirement",
            "framework:requirement",
        ),
        (
            '"pci-dss-4.0.1:12.10.1"',
            '"sox:404"',
            2,
            "attestations.0.requirement",
            "framework:requirement",
        ),
        (
            "valid_until: 2027-10-14",
            "valid_until: 2026-10-14",
            6,
            "attestations.0.valid_until",
            "after",
        ),
        ("date: 2026-10-14", "date: yesterday", 5, "attestations.0.date", "YYYY-MM-DD"),
        ('    attested_by: "Head of Security"\n', "", 2, "attestations.0.attested_by", "required"),
    ],
)
def test_bad_attestation_files_name_file_line_and_field(old, new, line, field, words):
    with pytest.raises(UserError) as caught:
        parse_attestations(ATTESTATIONS.replace(old, new), "att.yaml", {})
    err = caught.value
    assert (err.file, err.line, err.field) == ("att.yaml", line, field)
    assert words in err.message


def utc(*args):
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("label", "start", "end", "name"),
    [
        ("2026-Q4", utc(2026, 10, 1), utc(2027, 1, 1), "2026-Q4"),
        ("2026-q1", utc(2026, 1, 1), utc(2026, 4, 1), "2026-Q1"),
        ("2026-Q2", utc(2026, 4, 1), utc(2026, 7, 1), "2026-Q2"),
        ("2026-H1", utc(2026, 1, 1), utc(2026, 7, 1), "2026-H1"),
        ("2026-H2", utc(2026, 7, 1), utc(2027, 1, 1), "2026-H2"),
        ("2026", utc(2026, 1, 1), utc(2027, 1, 1), "2026"),
    ],
)
def test_parse_period_labels(label, start, end, name):
    period = parse_period(label)
    assert (period.start, period.end, period.label) == (start, end, name)
    assert period.contains(start) and not period.contains(end)


def test_parse_period_from_to_includes_the_last_day():
    period = parse_period(start="2026-10-01", end=date(2026, 12, 31))
    assert period.start == utc(2026, 10, 1) and period.end == utc(2027, 1, 1)
    assert period.contains(utc(2026, 12, 31, 23, 59))
    assert period.label == "2026-10-01_2026-12-31"


@pytest.mark.parametrize(
    ("args", "kwargs", "words"),
    [
        (("2026-Q5",), {}, "like 2026-Q4"),
        (("Q4",), {}, "like 2026-Q4"),
        ((), {"start": "2026-10-01"}, "both"),
        ((), {"start": "2026-10-01", "end": "2026-09-01"}, "before"),
        ((), {"start": "10/01/2026", "end": "2026-12-01"}, "YYYY-MM-DD"),
        (("2026",), {"start": "2026-01-01"}, "not both"),
    ],
)
def test_bad_periods_are_user_errors(args, kwargs, words):
    with pytest.raises(UserError) as caught:
        parse_period(*args, **kwargs)
    assert words in caught.value.message


@pytest.mark.parametrize(
    ("label", "today", "name"),
    [
        ("current", date(2026, 11, 15), "2026-Q4"),
        ("previous", date(2026, 11, 15), "2026-Q3"),
        ("previous", date(2026, 1, 1), "2025-Q4"),
        ("current", date(2026, 3, 31), "2026-Q1"),
    ],
)
def test_current_and_previous_are_quarters_around_the_day_given(label, today, name):
    assert parse_period(label, today=today) == parse_period(name)


def test_a_range_period_is_named_by_a_label_that_reads_back_as_the_same_period():
    ranged = parse_period(start="2026-10-05", end="2026-11-20")
    assert parse_period(ranged.label) == ranged
    with pytest.raises(UserError) as caught:
        parse_period("current")  # no day given: evaluation does not read the clock
    assert "like 2026-Q4" in caught.value.message
