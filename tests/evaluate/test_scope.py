"""Framework scope along the ML lineage: selectors, propagation, reasons, and evaluation."""

from __future__ import annotations

from datetime import date
from typing import Any

from scope_estate import ACCOUNT, PROJECT, aws_estate, bucket, gcp_estate, sm_arn

from auditor.evaluate import audit, compute_scope, findings_csv, findings_document, scope_dot
from auditor.models import ScopeDefinition, Status
from devtools.factories import T0, catalog, control, snapshot

ON = date(2026, 11, 1)
LABELS = {"gdpr": "GDPR", "hipaa": "HIPAA", "pci-dss-4.0.1": "PCI DSS"}


HIPAA_PHI = {"hipaa": {"include": [{"tag": {"key": "data-class", "values": ["phi"]}}]}}


def decisions(result: Any, framework: str) -> dict[str, Any]:
    scope = result.framework(framework)
    return {d.name: d for d in scope.decisions}


# ---------------------------------------------------------------- AWS lineage


def test_training_job_reading_a_phi_bucket_is_in_hipaa_scope_with_the_reason():
    result = compute_scope(
        aws_estate(), {**HIPAA_PHI, "unclassified": "out_of_scope"}, ["hipaa"], labels=LABELS
    )
    hipaa = decisions(result, "hipaa")
    assert hipaa["claims-phi"].in_scope
    assert hipaa["claims-phi"].reason == "in HIPAA scope: tag data-class=phi"
    job = hipaa["claims-train"]
    assert job.in_scope and job.role == "pipeline"
    assert job.reason == "in HIPAA scope: trained on s3://claims-phi/train/ (tag data-class=phi)"


def test_model_trained_on_phi_and_the_endpoint_serving_it_are_in_scope_with_nearest_reasons():
    result = compute_scope(
        aws_estate(), {**HIPAA_PHI, "unclassified": "out_of_scope"}, ["hipaa"], labels=LABELS
    )
    hipaa = decisions(result, "hipaa")
    assert hipaa["claims-model"].in_scope
    assert "model artifacts at s3://ml-artifacts/claims/claims-train/output/model.tar.gz" in (
        hipaa["claims-model"].reason
    )
    assert "lineage from S3 bucket claims-phi: tag data-class=phi" in hipaa["claims-model"].reason
    assert (
        hipaa["claims-ec"].in_scope
        and "serves SageMaker model claims-model" in hipaa["claims-ec"].reason
    )
    assert hipaa["claims-endpoint"].in_scope
    assert "deploys endpoint config claims-ec" in hipaa["claims-endpoint"].reason
    # the artifacts bucket holds the job's output; the capture bucket holds captured requests
    assert "holds output of training job claims-train at s3://ml-artifacts/claims/" in (
        hipaa["ml-artifacts"].reason
    )
    assert "holds captured requests" in hipaa["capture-logs"].reason
    # what they use: key, role, image repository
    assert hipaa["1111aaaa"].in_scope and hipaa["1111aaaa"].role == "dependency"
    assert hipaa["claims-trainer"].in_scope
    assert hipaa["claims-xgb"].in_scope and "used by" in hipaa["claims-xgb"].reason


def test_scope_follows_prefixes_not_whole_buckets():
    """The churn model reads the same artifacts bucket, under a prefix no PHI job wrote."""
    result = compute_scope(
        aws_estate(), {**HIPAA_PHI, "unclassified": "out_of_scope"}, ["hipaa"], labels=LABELS
    )
    hipaa = decisions(result, "hipaa")
    assert not hipaa["churn-model"].in_scope
    assert not hipaa["churn-train"].in_scope


def test_account_wide_resources_follow_what_the_account_holds():
    result = compute_scope(
        aws_estate(), {**HIPAA_PHI, "unclassified": "out_of_scope"}, ["hipaa"], labels=LABELS
    )
    hipaa = decisions(result, "hipaa")
    assert hipaa[ACCOUNT].in_scope and "account-wide control" in hipaa[ACCOUNT].reason
    assert hipaa["org"].in_scope
    only_other = [d for d in aws_estate() if d.name in ("marketing", ACCOUNT, "org")]
    empty = decisions(
        compute_scope(only_other, {**HIPAA_PHI, "unclassified": "out_of_scope"}, ["hipaa"]), "hipaa"
    )
    assert not empty[ACCOUNT].in_scope
    assert "holds no in-scope resource" in empty[ACCOUNT].reason


def test_unclassified_resources_follow_the_unclassified_setting_both_ways():
    definition = {
        **HIPAA_PHI,
        "gdpr": {"include": [{"tag": {"key": "data-class", "values": ["pii"]}}]},
    }
    inside = decisions(
        compute_scope(aws_estate(), definition, ["gdpr", "hipaa"], labels=LABELS), "hipaa"
    )
    assert inside["scratch"].in_scope
    assert "unclassified" in inside["scratch"].reason
    # classified for another framework: out of this one whatever `unclassified` says
    assert not inside["marketing"].in_scope
    assert inside["marketing"].reason == "out of HIPAA scope: classified for GDPR only"
    outside = decisions(
        compute_scope(
            aws_estate(), {**definition, "unclassified": "out_of_scope"}, ["gdpr", "hipaa"]
        ),
        "hipaa",
    )
    assert not outside["scratch"].in_scope
    assert "unclassified: out_of_scope" in outside["scratch"].reason


def test_exclude_wins_and_stops_the_lineage():
    definition = {
        "hipaa": {
            "include": [{"tag": {"key": "data-class", "values": ["phi"]}}],
            "exclude": [{"tag": {"key": "data-class", "values": ["pii"]}}],
        },
        "unclassified": "out_of_scope",
    }
    estate = [*aws_estate(), bucket("phi-but-pii", data_class="pii")]
    hipaa = decisions(compute_scope(estate, definition, ["hipaa"], labels=LABELS), "hipaa")
    assert not hipaa["marketing"].in_scope
    assert hipaa["marketing"].reason == "out of HIPAA scope: excluded by tag data-class=pii"


def test_selectors_by_account_and_region_and_and_within_an_entry():
    definition = ScopeDefinition.from_dict(
        {
            "pci-dss-4.0.1": {"include": [{"accounts": [ACCOUNT], "regions": ["eu-west-1"]}]},
            "unclassified": "out_of_scope",
        }
    )
    pci = decisions(compute_scope(aws_estate(), definition, ["pci-dss-4.0.1"]), "pci-dss-4.0.1")
    assert not pci["claims-phi"].in_scope  # right account, wrong region: both must match
    definition = ScopeDefinition.from_dict(
        {"pci-dss-4.0.1": {"include": [{"accounts": [ACCOUNT]}]}}
    )
    pci = decisions(compute_scope(aws_estate(), definition, ["pci-dss-4.0.1"]), "pci-dss-4.0.1")
    assert all(d.in_scope for d in pci.values())
    assert pci["scratch"].reason == f"in pci-dss-4.0.1 scope: account {ACCOUNT}"


def test_no_scope_defined_puts_everything_in_scope_and_says_so():
    result = compute_scope(aws_estate(), None, ["gdpr", "hipaa"])
    assert not result.defined
    assert all(d.in_scope for f in result.frameworks for d in f.decisions)
    assert {d.reason for f in result.frameworks for d in f.decisions} == {
        "no scope was defined: every resource is in scope"
    }
    assert result.edges  # the lineage is still drawn for the system description


def test_dot_output_is_graphviz_text_with_escaped_labels():
    estate = [*aws_estate(), bucket('evil"name', data_class="phi")]
    text = scope_dot(compute_scope(estate, HIPAA_PHI, ["hipaa"], labels=LABELS), LABELS)
    assert text.startswith("digraph lineage {")
    assert text.rstrip().endswith("}")
    assert 'evil\\"name' in text
    assert "-> " in text and '[label="reads"]' in text


# ---------------------------------------------------------------- GCP (Vertex) lineage


def test_vertex_custom_job_model_and_endpoint_follow_a_phi_gcs_bucket():
    result = compute_scope(
        gcp_estate(), {**HIPAA_PHI, "unclassified": "out_of_scope"}, ["hipaa"], labels=LABELS
    )
    hipaa = decisions(result, "hipaa")
    assert hipaa["notes-train"].in_scope
    assert (
        hipaa["notes-train"].reason
        == "in HIPAA scope: trained on gs://phi-notes/2026/ (tag data-class=phi)"
    )
    assert (
        hipaa["notes-model"].in_scope
        and "model artifacts at gs://vertex-models/notes/111/model/" in hipaa["notes-model"].reason
    )
    assert (
        hipaa["notes-endpoint"].in_scope
        and "serves Vertex model notes-model" in hipaa["notes-endpoint"].reason
    )
    assert "holds captured requests of Vertex endpoint notes-endpoint" in hipaa["logs"].reason
    assert hipaa["training"].in_scope  # the Artifact Registry repository of the job's image
    assert hipaa[PROJECT].in_scope and "account-wide control" in hipaa[PROJECT].reason


def test_both_clouds_together_keep_their_own_lineage():
    result = compute_scope(
        [*aws_estate(), *gcp_estate()], {**HIPAA_PHI, "unclassified": "out_of_scope"}, ["hipaa"]
    )
    inside = {d.name for d in result.framework("hipaa").in_scope}
    assert {"claims-train", "claims-endpoint", "notes-train", "notes-endpoint"} <= inside
    assert "churn-model" not in inside


# ---------------------------------------------------------------- evaluation


def scoped_catalog():
    return catalog(
        control("ML-DATA-001", maps_to={"gdpr": ["Art. 32(1)(a)"], "hipaa": ["164.312(a)(2)(iv)"]},
                rule="Encryption.Rules[0].ApplyServerSideEncryptionByDefault.SSEAlgorithm == 'aws:kms'",
                pass_reason="KMS.", fail_reason="Not KMS."),
        control("ML-DEP-001", types=("AWS::SageMaker::Endpoint",), maps_to={"gdpr": ["Art. 32(1)(a)"]},
                rule="EndpointConfig.KmsKeyId != null", pass_reason="Key.", fail_reason="No key."),
        control("ML-TRN-001", types=("AWS::SageMaker::TrainingJob",), maps_to={"hipaa": ["164.312(b)"]},
                rule="EnableNetworkIsolation", pass_reason="Isolated.", fail_reason="Open."),
    )  # fmt: skip


def run_audit(definition: dict[str, Any] | None):
    return audit(
        scoped_catalog(),
        [snapshot("s1", aws_estate(), taken_at=T0)],
        period=None,
        frameworks=["gdpr", "hipaa"],
        on=ON,
        scope=ScopeDefinition.from_dict(definition) if definition is not None else None,
    )


DEFINITION = {
    **HIPAA_PHI,
    "gdpr": {"include": [{"tag": {"key": "data-class", "values": ["pii"]}}]},
    "unclassified": "out_of_scope",
}


def test_a_resource_outside_every_scope_is_never_evaluated():
    result = run_audit(DEFINITION)
    assert not [f for f in result.findings if f.resource_id == "arn:aws:s3:::scratch"]
    unscoped = run_audit(None)
    assert [f for f in unscoped.findings if f.resource_id == "arn:aws:s3:::scratch"]


def test_findings_list_only_frameworks_whose_scope_holds_the_resource_with_reasons():
    result = run_audit(DEFINITION)
    by_resource = {(f.control_id, f.resource_id): f for f in result.findings}
    phi = by_resource[("ML-DATA-001", "arn:aws:s3:::claims-phi")]
    assert dict(phi.requirements) == {"hipaa": ("164.312(a)(2)(iv)",)}
    assert phi.scope == {"hipaa": "in HIPAA scope: tag data-class=phi"}
    pii = by_resource[("ML-DATA-001", "arn:aws:s3:::marketing")]
    assert dict(pii.requirements) == {"gdpr": ("Art. 32(1)(a)",)}
    job = by_resource[("ML-TRN-001", sm_arn("training-job", "claims-train"))]
    assert "trained on s3://claims-phi/train/" in job.scope["hipaa"]
    assert ("ML-TRN-001", sm_arn("training-job", "churn-train")) not in by_resource
    # findings.json and findings.csv carry the scope reasons
    row = next(
        f
        for f in findings_document(result)["findings"]
        if f["resource_id"] == "arn:aws:s3:::claims-phi"
    )
    assert row["scope"] == {"hipaa": "in HIPAA scope: tag data-class=phi"}
    assert "hipaa: in HIPAA scope: tag data-class=phi" in findings_csv(result.findings)
    assert result.scope is not None and result.scope.defined


def test_control_whose_types_have_nothing_in_scope_is_not_applicable():
    # the only endpoint serves a PHI model; GDPR's scope (pii) holds no endpoint
    result = run_audit(DEFINITION)
    dep = [f for f in result.findings if f.control_id == "ML-DEP-001"]
    assert [f.status for f in dep] == [Status.NOT_APPLICABLE]


def test_rollups_count_only_findings_in_the_frameworks_scope():
    result = run_audit(DEFINITION)
    rollup = {(r.framework, r.requirement_id): r for r in result.rollups}
    # gdpr Art. 32(1)(a): the pii bucket and the artifacts bucket its job writes to (both
    # AES256); the PHI and capture buckets are not in GDPR's scope, so they do not count
    assert rollup[("gdpr", "Art. 32(1)(a)")].counts["FAIL"] == 2
    assert rollup[("hipaa", "164.312(a)(2)(iv)")].counts["FAIL"] == 3  # phi, artifacts, capture


def test_an_organisation_log_sink_follows_what_the_organisation_holds():
    from auditor.models import EvidenceDoc

    sink = EvidenceDoc(
        "gcp", "", "global", "logging.googleapis.com/LogSink",
        "//logging.googleapis.com/organizations/410/sinks/org-audit", "org-audit",
        {"ancestors": ["organizations/410"], "destination": "storage.googleapis.com/audit"},
    )  # fmt: skip
    definition = {**HIPAA_PHI, "unclassified": "out_of_scope"}
    hipaa = decisions(compute_scope([*gcp_estate(), sink], definition, ["hipaa"]), "hipaa")
    assert hipaa["org-audit"].in_scope
    assert "organizations/410 holds in-scope resources" in hipaa["org-audit"].reason
    alone = decisions(compute_scope([sink], definition, ["hipaa"]), "hipaa")
    assert not alone["org-audit"].in_scope
