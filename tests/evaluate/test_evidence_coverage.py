"""Evidence coverage of an audit period: how many snapshots, how far apart, how much of the
period they cover at the expected cadence, and when that is too little to conclude on operating
effectiveness."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from auditor.errors import UserError
from auditor.evaluate import audit, evidence_coverage, parse_period
from devtools.factories import catalog, control, snapshot, sse_bucket

Q4 = parse_period("2026-Q4")
END = date(2026, 12, 31)
WEEK = timedelta(days=7)


def weekly(count: int, every: timedelta = WEEK) -> list[datetime]:
    start = datetime(2026, 10, 1, 6, 0, tzinfo=UTC)
    return [start + every * i for i in range(count)]


def test_weekly_snapshots_over_the_quarter_are_sufficient() -> None:
    cov = evidence_coverage("aws", weekly(13), Q4, on=END)
    assert (cov.snapshots, cov.expected) == (13, 13)
    assert cov.first == datetime(2026, 10, 1, 6, 0, tzinfo=UTC)
    assert cov.last == datetime(2026, 12, 24, 6, 0, tzinfo=UTC)
    assert cov.largest_gap_days == pytest.approx(7.75)  # last snapshot to the end of the period
    assert cov.covered_share == pytest.approx(91 / 92)  # 6 h before the first, 18 h at the end
    assert cov.sufficient and cov.reasons == ()


def test_too_few_snapshots_are_insufficient() -> None:
    fortnightly = [t + WEEK for t in weekly(6, 2 * WEEK)]  # no gap over three weeks
    cov = evidence_coverage("aws", fortnightly, Q4, on=END)
    assert (cov.snapshots, cov.expected) == (6, 13)
    assert not cov.sufficient
    assert cov.reasons == ("6 snapshot(s) where the 7-day cadence expects 13 (fewer than 50%)",)
    assert cov.covered_share == pytest.approx(42 / 92)


def test_a_long_gap_is_insufficient_even_with_enough_snapshots() -> None:
    taken = [*weekly(8), datetime(2026, 12, 30, tzinfo=UTC)]  # eight weeks, then a month off
    cov = evidence_coverage("aws", taken, Q4, on=END)
    assert cov.snapshots == 9 and cov.snapshots >= cov.expected / 2
    assert cov.largest_gap_days > 21
    assert not cov.sufficient
    assert any("a gap of" in r and "more than 3 intervals" in r for r in cov.reasons)


def test_a_running_period_is_judged_up_to_today_and_the_cadence_is_configurable() -> None:
    cov = evidence_coverage("gcp", weekly(2), Q4, on=date(2026, 10, 14))
    assert cov.period_end == datetime(2026, 10, 15, tzinfo=UTC)
    assert cov.expected == 2 and cov.sufficient
    daily = evidence_coverage("gcp", weekly(2), Q4, on=date(2026, 10, 14), interval=timedelta(1))
    assert daily.expected == 14 and not daily.sufficient


def test_no_snapshot_in_the_period_and_a_bad_interval() -> None:
    cov = evidence_coverage("aws", [datetime(2026, 9, 1, tzinfo=UTC)], Q4, on=END)
    assert cov.snapshots == 0 and cov.first is None and not cov.sufficient
    with pytest.raises(UserError):
        evidence_coverage("aws", weekly(3), Q4, on=END, interval=timedelta(0))


def test_audit_marks_the_controls_of_an_under_evidenced_provider() -> None:
    cat = catalog(control())
    snaps = [
        snapshot(f"s{i}", [sse_bucket("train-data")], taken_at=t)
        for i, t in enumerate(weekly(3, 4 * WEEK))
    ]
    result = audit(cat, snaps, period=Q4, frameworks=["gdpr"], on=END)
    (cov,) = result.evidence_coverage
    assert cov.provider == "aws" and cov.snapshots == 3 and not cov.sufficient
    assert [e.sufficient_evidence for e in result.effectiveness] == [False]
    weekly_result = audit(
        cat,
        [snapshot(f"w{i}", [sse_bucket("a")], taken_at=t) for i, t in enumerate(weekly(13))],
        period=Q4,
        frameworks=["gdpr"],
        on=END,
    )
    assert [e.sufficient_evidence for e in weekly_result.effectiveness] == [True]
    fortnightly = audit(cat, snaps, period=Q4, frameworks=["gdpr"], on=END, interval=4 * WEEK)
    assert fortnightly.evidence_coverage[0].sufficient
    assert audit(cat, snaps[:1], period=None, frameworks=["gdpr"], on=END).evidence_coverage == ()
