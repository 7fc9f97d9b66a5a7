"""audit(): period-end state, roll-ups per requirement, operating effectiveness, trend, summaries."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from auditor.errors import RunError, UserError
from auditor.evaluate import audit, build_summaries, parse_period, summaries_csv
from auditor.models import Attestation, RollupStatus, Stage, Status, Waiver
from devtools.factories import (
    BUCKET,
    ENDPOINT,
    T0,
    catalog,
    control,
    doc,
    error,
    kms_bucket,
    snapshot,
    sse_bucket,
)

ON = date(2026, 12, 20)
ALL = ["gdpr", "hipaa", "pci-dss-4.0.1"]


def week(n: int):
    return T0 + timedelta(days=7 * n)


def run(cat, snaps, **kwargs):
    kwargs.setdefault("frameworks", ALL)
    kwargs.setdefault("on", ON)
    kwargs.setdefault("period", parse_period("2026-Q4"))
    return audit(cat, snaps, metadata={"organisation": "Acme"}, **kwargs)


def test_period_aggregation_across_appearing_disappearing_and_fixed_resources():
    cat = catalog(control())
    s1 = snapshot("s1", [sse_bucket("a"), kms_bucket("b"), sse_bucket("d")], taken_at=week(0))
    s2 = snapshot(
        "s2",
        [sse_bucket("a"), kms_bucket("b"), sse_bucket("c")],
        errors=[error(resource_type=BUCKET, operation="ListBuckets", region="us-east-1")],
        taken_at=week(1),
    )
    s3 = snapshot("s3", [kms_bucket("a"), sse_bucket("b"), kms_bucket("d")], taken_at=week(2))
    s4 = snapshot("s4", [kms_bucket("a"), kms_bucket("b"), kms_bucket("d")], taken_at=week(3))
    # given out of order: audit sorts by time
    result = run(cat, [s3, s1, s4, s2])

    assert [m.id for m in result.snapshots] == ["s1", "s2", "s3", "s4"]
    assert {f.snapshot_id for f in result.findings} == {"s4"}
    assert all(f.status is Status.PASS for f in result.findings)

    (eff,) = result.effectiveness
    assert eff.control_id == "ML-DATA-001"
    assert (eff.snapshots_evaluated, eff.snapshots_held) == (4, 1)
    assert eff.share_held == pytest.approx(0.25)
    assert eff.held_at_period_end is True
    deviations = {d.resource_id.rsplit(":", 1)[-1]: d for d in eff.deviations}
    assert set(deviations) == {"a", "b", "c", "d"}

    a = deviations["a"]  # failed twice, fixed in s3
    assert (a.first_seen, a.last_seen, a.resolved_at) == (week(0), week(1), week(2))
    assert a.days_to_remediate == pytest.approx(14.0) and a.resolution == "fixed"

    b = deviations["b"]  # passed, then broke in s3, fixed in s4
    assert (b.first_seen, b.last_seen, b.resolved_at, b.resolution) == (
        week(2),
        week(2),
        week(3),
        "fixed",
    )

    c = deviations["c"]  # appeared failing in s2, gone in s3
    assert (c.first_seen, c.resolved_at, c.resolution) == (week(1), week(2), "removed")
    assert c.days_to_remediate == pytest.approx(7.0)

    d = deviations["d"]  # failing in s1, unlisted in s2 (list error): still open, fixed in s3
    assert (d.first_seen, d.last_seen, d.resolved_at, d.resolution) == (
        week(0),
        week(0),
        week(2),
        "fixed",
    )

    trend = {t.snapshot_id: t.counts for t in result.trend}
    assert trend["s1"]["FAIL"] == 2 and trend["s1"]["PASS"] == 1
    assert trend["s2"]["ERROR"] == 1 and trend["s2"]["FAIL"] == 2
    assert trend["s4"]["PASS"] == 3 and trend["s4"]["FAIL"] == 0


def test_an_open_deviation_at_period_end_and_error_only_snapshots_are_not_evaluated():
    cat = catalog(control())
    s1 = snapshot("s1", [sse_bucket("a")], taken_at=week(0))
    s2 = snapshot(
        "s2", [], errors=[error(resource_type=BUCKET, operation="ListBuckets")], taken_at=week(1)
    )
    result = run(cat, [s1, s2])
    (eff,) = result.effectiveness
    assert (eff.snapshots_evaluated, eff.snapshots_held) == (1, 0)
    assert eff.held_at_period_end is None
    (dev,) = eff.deviations
    assert dev.resolved_at is None and dev.days_to_remediate is None and dev.resolution is None
    assert [f.status for f in result.findings] == [Status.ERROR]
    assert result.collection_errors == s2.manifest.errors


def test_waivers_are_judged_on_each_snapshots_day_and_the_end_state_on_the_audit_day():
    cat = catalog(control())
    waiver = Waiver("ML-DATA-001", (), "Accepted", "CISO", date(2026, 10, 15), "w.yaml:2")
    s1 = snapshot("s1", [sse_bucket("a")], taken_at=week(0))  # Oct 5: waiver active
    s2 = snapshot("s2", [sse_bucket("a")], taken_at=week(2))  # Oct 19: expired
    result = run(cat, [s1, s2], waivers=[waiver])
    assert result.trend[0].counts["WAIVED"] == 1
    assert result.trend[1].counts["FAIL"] == 1
    (finding,) = result.findings
    assert finding.status is Status.FAIL and finding.waiver.expired is True
    eff = result.effectiveness[0]
    assert (eff.snapshots_evaluated, eff.snapshots_held) == (2, 1)
    assert eff.deviations[0].first_seen == week(0)


def test_latest_snapshot_per_provider_forms_the_end_state():
    gcs = "storage.googleapis.com/Bucket"
    cat = catalog(control(), control("ML-STORE-051", types=[gcs], rule="encryption"))
    aws1 = snapshot("a1", [sse_bucket("x")], taken_at=week(0))
    gcp1 = snapshot(
        "g1",
        [doc("g", {"encryption": {"k": 1}}, resource_type=gcs, provider="gcp")],
        provider="gcp",
        taken_at=week(1),
    )
    aws2 = snapshot("a2", [kms_bucket("x")], taken_at=week(2))
    result = run(cat, [aws1, gcp1, aws2])
    assert sorted((f.snapshot_id, f.status) for f in result.findings) == [
        ("a2", Status.PASS),
        ("g1", Status.PASS),
    ]


def test_snapshots_outside_the_period_are_not_evaluated_and_none_left_is_a_run_error():
    cat = catalog(control())
    inside = snapshot("in", [kms_bucket("a")], taken_at=week(0))
    outside = snapshot("out", [sse_bucket("a")], taken_at=week(0) - timedelta(days=120))
    result = run(cat, [outside, inside])
    assert [m.id for m in result.snapshots] == ["in"]
    with pytest.raises(RunError, match="no snapshot to evaluate in period 2026-Q4"):
        run(cat, [outside])


def test_unknown_waiver_control_and_attestation_requirement_are_user_errors():
    cat = catalog(control())
    snap = snapshot("s1", [kms_bucket("a")])
    bad_waiver = Waiver("ML-DTA-001", (), "x", "y", date(2027, 1, 1), "waivers.yaml:4")
    with pytest.raises(UserError) as caught:
        run(cat, [snap], waivers=[bad_waiver])
    assert (caught.value.file, caught.value.line, caught.value.field) == (
        "waivers.yaml",
        4,
        "control",
    )
    bad_att = Attestation(
        "gdpr:Art. 99", "s", "x", date(2026, 1, 1), date(2027, 1, 1), source="a.yaml:7"
    )
    with pytest.raises(UserError, match=r"a.yaml:7: field 'requirement': unknown requirement"):
        run(cat, [snap], attestations=[bad_att])


# ---------------------------------------------------------------- roll-ups


def rollup_catalog():
    gd = "AWS::GuardDuty::Detector"
    return catalog(
        control("FAILING", maps_to={"gdpr": ["Art. 32(1)(a)"]}),
        control(
            "ERRORING",
            types=[gd],
            rule="DetectorIds",
            maps_to={"hipaa": ["164.312(a)(2)(iv)"], "gdpr": ["Art. 32(1)(a)"]},
        ),
        control("PASSING", rule="Name", maps_to={"hipaa": ["164.312(b)"]}),
        control(
            "EMPTY",
            types=[ENDPOINT],
            rule="EndpointName",
            maps_to={"hipaa": ["164.312(b)"], "gdpr": ["Art. 44"]},
        ),
        control("WAIVED", maps_to={"pci-dss-4.0.1": ["3.5.1"]}),
        control("MANUAL", manual=True, stage=Stage.GOVERNANCE, maps_to={"gdpr": ["Art. 30"]}),
        control(
            "ATTESTED", manual=True, stage=Stage.GOVERNANCE, maps_to={"pci-dss-4.0.1": ["12.10.1"]}
        ),
    ), gd


def test_every_rollup_rule():
    cat, gd = rollup_catalog()
    snap = snapshot(
        "s1",
        [
            sse_bucket("legacy"),
            doc("named", {"Name": "named", "Encryption": {"SSEAlgorithm": "aws:kms"}}),
        ],
        errors=[error(resource_type=gd, service="guardduty", operation="ListDetectors")],
    )
    atts = [
        Attestation(
            "pci-dss-4.0.1:12.10.1",
            "IR tested",
            "CISO",
            date(2026, 1, 1),
            date(2027, 1, 1),
            source="a:1",
        ),
        Attestation(
            "gdpr:Art. 35", "DPIA done", "DPO", date(2026, 1, 1), date(2027, 1, 1), source="a:2"
        ),
    ]
    waivers = [Waiver("WAIVED", (), "Accepted", "CISO", date(2027, 1, 1), "w:1")]
    result = run(cat, [snap], attestations=atts, waivers=waivers)
    status = {(r.framework, r.requirement_id): r.status for r in result.rollups}
    assert status[("gdpr", "Art. 32(1)(a)")] is RollupStatus.NON_COMPLIANT  # FAIL beats ERROR
    assert status[("hipaa", "164.312(a)(2)(iv)")] is RollupStatus.INCONCLUSIVE
    assert status[("hipaa", "164.312(b)")] is RollupStatus.COMPLIANT  # PASS + NOT_APPLICABLE
    assert status[("gdpr", "Art. 44")] is RollupStatus.NOT_COVERED  # NOT_APPLICABLE only
    assert status[("pci-dss-4.0.1", "3.5.1")] is RollupStatus.COMPLIANT  # WAIVED only
    assert status[("gdpr", "Art. 30")] is RollupStatus.MANUAL
    assert status[("pci-dss-4.0.1", "12.10.1")] is RollupStatus.COMPLIANT  # ATTESTED
    assert status[("gdpr", "Art. 35")] is RollupStatus.COMPLIANT  # manual requirement, attested
    assert status[("hipaa", "164.308(a)(8)")] is RollupStatus.NOT_COVERED  # nothing maps
    assert status[("pci-dss-4.0.1", "11.3.1")] is RollupStatus.NOT_COVERED
    by_id = {(r.framework, r.requirement_id): r for r in result.rollups}
    art32 = by_id[("gdpr", "Art. 32(1)(a)")]
    assert art32.control_ids == ("FAILING", "ERRORING") and art32.counts["FAIL"] == 1
    assert art32.counts["ERROR"] == 1
    assert by_id[("gdpr", "Art. 44")].counts["NOT_APPLICABLE"] == 1
    assert by_id[("pci-dss-4.0.1", "12.10.1")].attestation is atts[0]
    assert len(result.rollups) == 11


def test_a_manual_requirement_without_controls_or_attestation_is_manual():
    cat, _ = rollup_catalog()
    result = run(cat, [snapshot("s1", [])], frameworks=["gdpr"])
    assert {r.requirement_id: r.status for r in result.rollups}["Art. 35"] is RollupStatus.MANUAL
    assert {r.framework for r in result.rollups} == {"gdpr"}


def test_summaries_are_dataframes_with_counts_per_status():
    cat, _ = rollup_catalog()
    snap = snapshot("s1", [sse_bucket("legacy"), kms_bucket("ok")])
    result = run(cat, [snap])
    tables = build_summaries(result)
    assert set(tables) >= {
        "by_requirement",
        "by_stage",
        "by_severity",
        "by_scope",
        "by_control",
        "trend",
    }
    for table in tables.values():
        assert isinstance(table, pd.DataFrame)
    stage = tables["by_stage"].set_index("stage")
    # FAILING and WAIVED fail "legacy"; with PASSING, three controls pass "ok"/"named" buckets
    assert stage.loc["data", "FAIL"] == 2 and stage.loc["data", "PASS"] == 4
    assert stage.loc["data", "NOT_APPLICABLE"] == 2  # ERRORING and EMPTY see nothing
    assert stage.loc["governance", "MANUAL"] == 2
    scope = tables["by_scope"]
    row = scope[(scope.provider == "aws") & (scope.account == "123456789012")].iloc[0]
    assert row["region"] == "us-east-1" and row["total"] == 6 and row["FAIL"] == 2
    req = tables["by_requirement"].set_index(["framework", "requirement_id"])
    assert req.loc[("gdpr", "Art. 32(1)(a)"), "status"] == "non_compliant"
    assert req.loc[("gdpr", "Art. 32(1)(a)"), "FAIL"] == 1
    control_table = tables["by_control"].set_index("control_id")
    assert control_table.loc["FAILING", "snapshots_evaluated"] == 1
    csvs = summaries_csv(result)
    assert "by_stage.csv" in csvs and csvs["by_stage.csv"].splitlines()[0].startswith(
        "stage,PASS,FAIL"
    )
