"""Verdicts of evaluate_snapshot: one test per status and per way evidence can be missing."""

from __future__ import annotations

from datetime import date

import pytest

from auditor.evaluate import VerdictCache, evaluate_snapshot
from auditor.evaluate.verdicts import ControlPlan
from auditor.models import Attestation, Stage, Status, Waiver
from devtools.factories import (
    BUCKET,
    ENDPOINT,
    GCS,
    catalog,
    control,
    doc,
    error,
    kms_bucket,
    snapshot,
    sse_bucket,
)

ON = date(2026, 11, 1)


def run(cat, snap, **kwargs):
    kwargs.setdefault("frameworks", ["gdpr", "hipaa", "pci-dss-4.0.1"])
    kwargs.setdefault("on", ON)
    return evaluate_snapshot(cat, snap, **kwargs)


def by_resource(findings):
    return {f.resource_id: f for f in findings}


def test_pass_and_fail_carry_rendered_reasons_requirements_and_evidence():
    good, bad = kms_bucket("good"), sse_bucket("bad")
    findings = by_resource(run(catalog(control()), snapshot("s1", [good, bad])))
    assert findings[good.resource_id].status is Status.PASS
    assert findings[good.resource_id].reason == "Default encryption uses aws:kms."
    assert findings[bad.resource_id].status is Status.FAIL
    assert findings[bad.resource_id].reason == (
        "Default encryption is AES256; a KMS key is required."
    )
    f = findings[bad.resource_id]
    assert f.snapshot_id == "s1" and f.evidence_sha256 == bad.sha256
    assert f.account == "123456789012" and f.region == "us-east-1" and f.provider == "aws"
    assert dict(f.requirements) == {"gdpr": ("Art. 32(1)(a)",), "pci-dss-4.0.1": ("3.5.1",)}


def test_requirements_are_limited_to_the_selected_frameworks_and_unselected_controls_skipped():
    cat = catalog(control(), control("ML-MON-001", maps_to={"hipaa": ["164.312(b)"]}))
    findings = run(cat, snapshot("s1", [sse_bucket("b")]), frameworks=["gdpr"])
    assert {f.control_id for f in findings} == {"ML-DATA-001"}
    assert dict(findings[0].requirements) == {"gdpr": ("Art. 32(1)(a)",)}


def test_a_missing_placeholder_value_reads_not_set():
    findings = run(catalog(control()), snapshot("s1", [doc("plain", {"Name": "plain"})]))
    assert findings[0].status is Status.FAIL
    assert findings[0].reason == "Default encryption is not set; a KMS key is required."


def test_jmespath_runtime_error_is_error_not_a_verdict():
    cat = catalog(control(rule="length(Encryption) > `0`"))
    findings = run(cat, snapshot("s1", [doc("n", {"Encryption": 5})]))
    assert findings[0].status is Status.ERROR
    assert "could not be evaluated" in findings[0].reason
    assert "length()" in findings[0].reason or "length" in findings[0].reason


def test_partial_field_error_gives_error_and_the_same_doc_without_it_a_verdict():
    cat = catalog(
        control(
            "ML-DEPLOY-001",
            types=[ENDPOINT],
            rule="length(MonitoringSchedules) > `0`",
            pass_reason="Monitored.",
            fail_reason="No monitoring schedule; create one.",
        )
    )
    endpoint = doc("ep", {"EndpointName": "ep"}, resource_type=ENDPOINT)
    gap = error(
        resource_type=ENDPOINT,
        resource_id=endpoint.resource_id,
        field="MonitoringSchedules",
        service="sagemaker",
        operation="ListMonitoringSchedules",
        code="NotImplemented",
    )
    with_gap = run(cat, snapshot("s1", [endpoint], errors=[gap]))
    assert [f.status for f in with_gap] == [Status.ERROR]
    assert (
        "sagemaker:ListMonitoringSchedules failed in 123456789012/us-east-1" in with_gap[0].reason
    )
    assert "MonitoringSchedules" in with_gap[0].reason
    assert with_gap[0].resource_id == endpoint.resource_id

    without_gap = run(cat, snapshot("s2", [endpoint]))
    # length(null) is a JMESPath type error: the doc without the key is judged by the rule itself
    assert (
        without_gap[0].status is Status.ERROR and "could not be evaluated" in without_gap[0].reason
    )
    present = doc("ep", {"EndpointName": "ep", "MonitoringSchedules": []}, resource_type=ENDPOINT)
    assert run(cat, snapshot("s3", [present]))[0].status is Status.FAIL


def test_a_field_error_the_rule_does_not_read_leaves_the_verdict_alone():
    bucket = sse_bucket("b")
    gap = error(resource_type=BUCKET, resource_id=bucket.resource_id, field="Logging")
    findings = run(catalog(control()), snapshot("s1", [bucket], errors=[gap]))
    assert findings[0].status is Status.FAIL


def test_field_error_read_only_by_applies_if_is_still_an_error():
    cat = catalog(control(applies_if="Tags[?Key=='data']"))
    bucket = sse_bucket("b")
    gap = error(resource_type=BUCKET, resource_id=bucket.resource_id, field="Tags")
    assert run(cat, snapshot("s1", [bucket], errors=[gap]))[0].status is Status.ERROR


def test_a_secrets_rule_reads_every_field_and_a_tags_secrets_rule_only_the_tags():
    """`_redacted` lists secrets found anywhere in the document: with one part missing (a
    notebook's lifecycle script whose describe failed), "no plaintext secrets" is not known,
    so it is ERROR, never PASS. Filtered to the tags, only a tags gap matters. (Found by the
    random fault mix: a stalled DescribeNotebookInstanceLifecycleConfig turned FAIL to PASS.)"""
    anywhere = control("ML-TRAIN-013", rule="!_redacted")
    in_tags = control("ML-GOV-016", rule="!(_redacted[?starts_with(@, 'Tags')]) || !Tags")
    bucket = doc("b", {"Name": "b", "Tags": [{"Key": "team", "Value": "ml"}]})
    script_gap = error(resource_type=BUCKET, resource_id=bucket.resource_id, field="Lifecycle")
    tags_gap = error(resource_type=BUCKET, resource_id=bucket.resource_id, field="Tags")
    cat = catalog(anywhere, in_tags)

    def statuses(*errors):
        found = run(cat, snapshot("s1", [bucket], errors=list(errors)))
        return {f.control_id: f.status for f in found}

    assert statuses() == {"ML-TRAIN-013": Status.PASS, "ML-GOV-016": Status.PASS}
    assert statuses(script_gap) == {"ML-TRAIN-013": Status.ERROR, "ML-GOV-016": Status.PASS}
    assert statuses(tags_gap) == {"ML-TRAIN-013": Status.ERROR, "ML-GOV-016": Status.ERROR}


def test_whole_type_error_gives_one_error_for_the_scope_aws():
    cat = catalog(control())
    gap = error(resource_type=BUCKET, operation="ListBuckets")
    findings = run(cat, snapshot("s1", [], errors=[gap, gap]))
    assert len(findings) == 1
    f = findings[0]
    assert f.status is Status.ERROR
    assert f.resource_id == "arn:aws:s3:us-east-1:123456789012:*"
    assert f.resource_type == BUCKET
    assert "s3:ListBuckets failed" in f.reason and "withheld" in f.reason
    assert "and 1 more failed call" in f.reason


def test_region_wide_error_without_type_touches_every_control_of_the_provider():
    cat = catalog(
        control(), control("ML-DEPLOY-001", types=[ENDPOINT]), control("ML-DATA-051", types=[GCS])
    )
    gap = error(service="sts", operation="AssumeRole")
    findings = run(cat, snapshot("s1", [], errors=[gap]))
    assert sorted((f.control_id, f.status) for f in findings) == [
        ("ML-DATA-001", Status.ERROR),
        ("ML-DEPLOY-001", Status.ERROR),
    ]


def test_error_for_another_type_does_not_touch_the_control():
    gap = error(resource_type=ENDPOINT, service="sagemaker", operation="ListEndpoints")
    findings = run(catalog(control()), snapshot("s1", [sse_bucket("b")], errors=[gap]))
    assert [f.status for f in findings] == [Status.FAIL]


def test_whole_type_error_gcp_uses_the_scope_as_resource():
    cat = catalog(control("ML-STORE-051", types=[GCS], rule="encryption.defaultKmsKeyName"))
    gap = error(
        provider="gcp",
        account="ml-prod",
        region="global",
        resource_type=GCS,
        service="cloudasset",
        operation="ListAssets",
        code="PERMISSION_DENIED",
    )
    findings = run(cat, snapshot("g1", [], errors=[gap], provider="gcp"))
    assert [(f.status, f.resource_id) for f in findings] == [
        (Status.ERROR, "//cloudresourcemanager.googleapis.com/projects/ml-prod")
    ]
    folder_gap = error(provider="gcp", account="folders/42", region="global", resource_type=GCS)
    findings = run(cat, snapshot("g2", [], errors=[folder_gap], provider="gcp"))
    assert findings[0].resource_id == "//cloudresourcemanager.googleapis.com/folders/42"


def test_not_applicable_when_nothing_of_the_type_is_in_scope():
    findings = run(catalog(control()), snapshot("s1", []))
    assert len(findings) == 1
    f = findings[0]
    assert f.status is Status.NOT_APPLICABLE
    assert f.resource_type == BUCKET and f.resource_id == ""
    assert BUCKET in f.reason


def test_not_applicable_when_applies_if_excludes_every_resource():
    cat = catalog(control(applies_if="Tags[?Key=='data']"))
    findings = run(cat, snapshot("s1", [sse_bucket("untagged")]))
    assert [f.status for f in findings] == [Status.NOT_APPLICABLE]
    assert "applies to" in findings[0].reason
    tagged = doc(
        "t", {"Tags": [{"Key": "data", "Value": "x"}], "Encryption": {"SSEAlgorithm": "AES256"}}
    )
    findings = run(cat, snapshot("s2", [sse_bucket("untagged"), tagged]))
    assert [(f.resource_id, f.status) for f in findings] == [(tagged.resource_id, Status.FAIL)]


def test_controls_of_the_other_provider_are_not_evaluated():
    cat = catalog(control(), control("ML-STORE-051", types=[GCS]))
    findings = run(cat, snapshot("s1", [sse_bucket("b")]))
    assert {f.control_id for f in findings} == {"ML-DATA-001"}


# ---------------------------------------------------------------- waivers


def waiver(expires: date, resources=("arn:aws:s3:::legacy-*",), control_id="ML-DATA-001"):
    return Waiver(
        control=control_id,
        resources=tuple(resources),
        justification="Retired in Q1",
        approved_by="CISO",
        expires=expires,
        source="waivers.yaml:2",
    )


def test_waiver_applies_the_day_before_expiry_and_not_on_the_expiry_day():
    cat = catalog(control())
    snap = snapshot("s1", [sse_bucket("legacy-1"), sse_bucket("other")])
    waivers = [waiver(date(2026, 12, 31))]

    day_before = by_resource(run(cat, snap, waivers=waivers, on=date(2026, 12, 30)))
    waived = day_before["arn:aws:s3:::legacy-1"]
    assert waived.status is Status.WAIVED
    assert waived.waiver is not None and waived.waiver.expired is False
    assert "waived until 2026-12-31 by CISO" in waived.reason
    assert day_before["arn:aws:s3:::other"].status is Status.FAIL
    assert day_before["arn:aws:s3:::other"].waiver is None

    expiry_day = by_resource(run(cat, snap, waivers=waivers, on=date(2026, 12, 31)))
    lapsed = expiry_day["arn:aws:s3:::legacy-1"]
    assert lapsed.status is Status.FAIL
    assert lapsed.waiver is not None and lapsed.waiver.expired is True
    assert "expired on 2026-12-31" in lapsed.reason


def test_waiver_without_resources_covers_every_resource_and_never_touches_pass_or_error():
    cat = catalog(control())
    bad, good, broken = sse_bucket("a"), kms_bucket("b"), sse_bucket("c")
    gap = error(resource_type=BUCKET, resource_id=broken.resource_id, field="Encryption")
    findings = by_resource(
        run(
            cat,
            snapshot("s1", [bad, good, broken], errors=[gap]),
            waivers=[waiver(date(2027, 1, 1), ())],
        )
    )
    assert findings[bad.resource_id].status is Status.WAIVED
    assert (
        findings[good.resource_id].status is Status.PASS
        and findings[good.resource_id].waiver is None
    )
    assert findings[broken.resource_id].status is Status.ERROR
    assert findings[broken.resource_id].waiver is None


def test_an_active_waiver_wins_over_an_expired_one():
    cat = catalog(control())
    waivers = [waiver(date(2026, 1, 1)), waiver(date(2027, 6, 30))]
    findings = run(cat, snapshot("s1", [sse_bucket("legacy-x")]), waivers=waivers)
    assert findings[0].status is Status.WAIVED and findings[0].waiver.expires == date(2027, 6, 30)


def test_waiver_of_another_control_does_not_apply():
    findings = run(
        catalog(control()),
        snapshot("s1", [sse_bucket("legacy-1")]),
        waivers=[waiver(date(2027, 1, 1), control_id="ML-DATA-002")],
    )
    assert findings[0].status is Status.FAIL and findings[0].waiver is None


# ---------------------------------------------------------------- manual controls


def manual_control():
    return control(
        "ML-GOV-001",
        manual=True,
        stage=Stage.GOVERNANCE,
        maps_to={"gdpr": ["Art. 30"], "pci-dss-4.0.1": ["12.10.1"]},
        question="Is there a tested incident response plan?",
    )


def attestation(requirement, *, start=date(2026, 1, 1), until=date(2026, 12, 1), files=None):
    files = files if files is not None else {"ir.pdf": "a" * 64}
    return Attestation(
        requirement=requirement,
        statement="Done",
        attested_by="Head of Security",
        date=start,
        valid_until=until,
        files=tuple(files),
        file_sha256=files,
        source="attestations.yaml:3",
    )


def test_manual_control_without_attestation_is_manual_and_says_what_is_missing():
    findings = run(catalog(manual_control()), snapshot("s1", []))
    assert len(findings) == 1
    f = findings[0]
    assert f.status is Status.MANUAL and f.resource_id == "" and f.resource_type == ""
    assert "incident response plan" in f.reason
    assert "no attestation is on file for gdpr:Art. 30" in f.reason


def test_attested_only_when_every_mapped_requirement_is_attested_and_until_valid_until():
    both = [attestation("gdpr:Art. 30"), attestation("pci-dss-4.0.1:12.10.1")]
    cat = catalog(manual_control())
    assert run(cat, snapshot("s1", []), attestations=both[:1])[0].status is Status.MANUAL
    attested = run(cat, snapshot("s1", []), attestations=both, on=date(2026, 11, 30))[0]
    assert attested.status is Status.ATTESTED
    assert "attested by Head of Security" in attested.reason
    assert attested.evidence_sha256 is not None
    expired = run(cat, snapshot("s1", []), attestations=both, on=date(2026, 12, 1))[0]
    assert expired.status is Status.MANUAL
    assert "expired on 2026-12-01" in expired.reason


def test_attestation_is_checked_against_selected_frameworks_only():
    cat = catalog(manual_control())
    only_gdpr = run(
        cat, snapshot("s1", []), attestations=[attestation("gdpr:Art. 30")], frameworks=["gdpr"]
    )
    assert only_gdpr[0].status is Status.ATTESTED


def test_missing_attestation_file_is_a_manual_finding_not_a_crash():
    atts = [
        attestation("gdpr:Art. 30", files={"ir.pdf": None}),
        attestation("pci-dss-4.0.1:12.10.1"),
    ]
    f = run(catalog(manual_control()), snapshot("s1", []), attestations=atts)[0]
    assert f.status is Status.MANUAL
    assert "cites ir.pdf, which was not found" in f.reason


# ---------------------------------------------------------------- cache and fast path


def test_identical_documents_are_judged_once_per_control_version(monkeypatch):
    calls = []
    original = ControlPlan.judge

    def counting(self, data):
        calls.append(self.control.id)
        return original(self, data)

    monkeypatch.setattr(ControlPlan, "judge", counting)
    cache = VerdictCache()
    cat = catalog(control(digest="v1"))
    for snap_id in ("s1", "s2", "s3"):
        findings = run(cat, snapshot(snap_id, [sse_bucket("b"), kms_bucket("k")]), cache=cache)
        assert sorted(f.status for f in findings) == [Status.FAIL, Status.PASS]
    assert len(calls) == 2
    changed = catalog(control(digest="v2", rule="Encryption.SSEAlgorithm == 'AES256'"))
    findings = by_resource(run(changed, snapshot("s4", [sse_bucket("b")]), cache=cache))
    assert findings["arn:aws:s3:::b"].status is Status.PASS
    assert len(calls) == 3


@pytest.mark.parametrize("fast", [True, False])
def test_fast_path_and_jmespath_give_the_same_findings(fast):
    cat = catalog(
        control(),
        control("ML-DATA-002", rule="!_redacted && Versioning.Status == 'Enabled'"),
        control("ML-DATA-003", rule="Logging != null || contains(Tags[].Key, 'nolog')"),
    )
    docs = [
        sse_bucket("a"),
        kms_bucket("b"),
        doc(
            "c", {"Versioning": {"Status": "Enabled"}, "Logging": None, "Tags": [{"Key": "nolog"}]}
        ),
        doc("d", {"_redacted": ["x"], "Versioning": {"Status": "Enabled"}, "Logging": {}}),
    ]
    reference = run(cat, snapshot("s1", docs), use_fast_path=False)
    assert run(cat, snapshot("s1", docs), use_fast_path=fast) == reference


def test_a_key_missing_for_a_whole_type_makes_every_doc_of_it_error():
    """GCP: IAM policies could not be listed for a type, so `iamPolicy` is absent everywhere."""
    cat = catalog(control(rule="!(iamPolicy.bindings[?contains(members, 'allUsers')])"))
    buckets = [doc("a", {"Name": "a"}), doc("b", {"Name": "b"})]
    gap = error(resource_type=BUCKET, resource_id=None, field="iamPolicy")
    findings = run(cat, snapshot("s1", buckets, errors=[gap]))
    assert [f.status for f in findings] == [Status.ERROR, Status.ERROR]
    assert all("iamPolicy" in f.reason for f in findings)
    # a control that does not read the key still judges the same documents
    other = catalog(control(rule="Name"))
    assert [f.status for f in run(other, snapshot("s2", buckets, errors=[gap]))] == [
        Status.PASS,
        Status.PASS,
    ]
