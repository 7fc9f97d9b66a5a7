"""The demo's AWS estate, planted into a real moto server and read back with boto3.

The estate is what the demo's findings are made of, so these tests check that each planted
misconfiguration really exists, that the hardened twins are really hardened, that the weekly
changes do what they say, and (through the real collector) that the AWS controls fail exactly the
planted faults and pass the twins.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from auditor.catalog import load_catalog
from auditor.collect.aws.engine import Scope
from auditor.collect.aws.scope import AwsCollector
from auditor.collect.aws.specs import SPECS
from auditor.demo import _approved_regions
from auditor.demo import aws_estate as estate
from auditor.demo.moto import reset_moto
from auditor.models import EvidenceDoc, MemorySink
from auditor.rules import EVERY_FIELD, holds, referenced_fields, render_reason

EU, US = estate.HOME_REGION, estate.SECOND_REGION
# Types with one document per region (or account): found by region, not by name.
PER_REGION = {
    spec.resource_type
    for spec in SPECS
    if spec.scope in (Scope.REGION_DOCUMENT, Scope.ACCOUNT_DOCUMENT)
}


# AWS-managed policies (AdministratorAccess) exist in moto only with this set.
pytestmark = pytest.mark.moto(region=EU, MOTO_IAM_LOAD_MANAGED_POLICIES="true")


@pytest.fixture(scope="module")
def info(aws: str) -> estate.EstateInfo:
    return estate.seed_estate()


def client(service: str, region: str = EU) -> Any:
    return boto3.client(service, region_name=region)


# ---------------------------------------------------------------- the estate as boto3 sees it


def test_estate_info_names_real_controls_for_each_planted_resource(info: estate.EstateInfo) -> None:
    catalog = load_catalog()
    assert info.account_id == "123456789012"
    assert set(info.regions) == {EU, US}
    for resource in (*info.planted, *info.hardened):
        assert resource.controls, resource
        for control_id in resource.controls:
            control = catalog.control(control_id)
            assert control is not None, control_id
            assert resource.resource_type in control.resource_types, (control_id, resource)


def test_planted_buckets(info: estate.EstateInfo) -> None:
    s3 = client("s3")
    raw = estate.RAW_FEATURES_BUCKET_EU
    rule = s3.get_bucket_encryption(Bucket=raw)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    with pytest.raises(ClientError) as missing:
        s3.get_public_access_block(Bucket=raw)
    assert missing.value.response["Error"]["Code"] == "NoSuchPublicAccessBlockConfiguration"
    assert s3.get_bucket_policy_status(Bucket=raw)["PolicyStatus"]["IsPublic"] is True
    assert "Status" not in s3.get_bucket_versioning(Bucket=raw)
    assert "LoggingEnabled" not in s3.get_bucket_logging(Bucket=raw)
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=raw)["TagSet"]}
    assert estate.HOSTILE_SCRIPT_TAG in tags.values()
    assert any(v.startswith("=HYPERLINK(") for v in tags.values())

    s3_us = client("s3", US)
    assert s3_us.get_bucket_location(Bucket=estate.TRAINING_BUCKET_US)["LocationConstraint"] in (
        None,
        US,
    )
    with pytest.raises(ClientError):
        s3_us.get_object_lock_configuration(Bucket=estate.ARTIFACTS_BUCKET_US)


def test_hardened_bucket(info: estate.EstateInfo) -> None:
    s3 = client("s3")
    name = estate.TRAINING_BUCKET_EU
    default = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert default["ApplyServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": info.names["data_key_arn"],
    }
    assert all(s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"].values())
    policy = json.loads(s3.get_bucket_policy(Bucket=name)["Policy"])
    assert policy["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
    assert (
        s3.get_bucket_logging(Bucket=name)["LoggingEnabled"]["TargetBucket"]
        == estate.ACCESS_LOGS_BUCKET_EU
    )
    lock = s3.get_object_lock_configuration(Bucket=name)["ObjectLockConfiguration"]
    assert lock["ObjectLockEnabled"] == "Enabled"


def test_kms_keys(info: estate.EstateInfo) -> None:
    kms = client("kms")
    legacy = info.names["legacy_key_arn"].rsplit("/", 1)[1]
    assert kms.get_key_rotation_status(KeyId=legacy)["KeyRotationEnabled"] is False
    data = info.names["data_key_arn"].rsplit("/", 1)[1]
    assert kms.get_key_rotation_status(KeyId=data)["KeyRotationEnabled"] is True
    partner = info.names["partner_key_arn"].rsplit("/", 1)[1]
    policy = json.loads(kms.get_key_policy(KeyId=partner, PolicyName="default")["Policy"])
    assert {"AWS": "*"} in [s["Principal"] for s in policy["Statement"] if "Condition" not in s]


def test_training_and_processing_jobs(info: estate.EstateInfo) -> None:
    sm = client("sagemaker")
    sloppy = sm.describe_training_job(TrainingJobName=estate.SLOPPY_JOB)
    assert sloppy["EnableNetworkIsolation"] is False
    assert "VpcConfig" not in sloppy
    assert "KmsKeyId" not in sloppy["OutputDataConfig"]
    assert sloppy["HyperParameters"]["DB_PASSWORD"] == "Churn2026!prod"
    assert sloppy["AlgorithmSpecification"]["TrainingImage"].startswith("444455556666.dkr.ecr.")
    hardened = sm.describe_training_job(TrainingJobName=estate.HARDENED_JOB)
    assert hardened["EnableNetworkIsolation"] is True
    assert hardened["EnableInterContainerTrafficEncryption"] is True
    assert hardened["ResourceConfig"]["VolumeKmsKeyId"] == info.names["data_key_arn"]
    assert hardened["VpcConfig"]["Subnets"]
    assert hardened["AlgorithmSpecification"]["TrainingImage"].startswith(
        f"{info.account_id}.dkr.ecr.{EU}."
    )
    assert (
        client("sagemaker", US)
        .describe_training_job(TrainingJobName=estate.US_JOB)["TrainingJobArn"]
        .startswith(f"arn:aws:sagemaker:{US}:")
    )
    processing = sm.describe_processing_job(ProcessingJobName=estate.SLOPPY_PROCESSING)
    assert processing["NetworkConfig"]["EnableNetworkIsolation"] is False


def test_notebooks(info: estate.EstateInfo) -> None:
    sm = client("sagemaker")
    sloppy = sm.describe_notebook_instance(NotebookInstanceName=estate.SLOPPY_NOTEBOOK)
    assert (sloppy["DirectInternetAccess"], sloppy["RootAccess"]) == ("Enabled", "Enabled")
    assert "KmsKeyId" not in sloppy and "SubnetId" not in sloppy
    lifecycle = sm.describe_notebook_instance_lifecycle_config(
        NotebookInstanceLifecycleConfigName=sloppy["NotebookInstanceLifecycleConfigName"]
    )
    import base64

    assert "AKIA" in base64.b64decode(lifecycle["OnStart"][0]["Content"]).decode()
    hardened = sm.describe_notebook_instance(NotebookInstanceName=estate.HARDENED_NOTEBOOK)
    assert (hardened["DirectInternetAccess"], hardened["RootAccess"]) == ("Disabled", "Disabled")
    assert hardened["KmsKeyId"] == info.names["data_key_arn"]


def test_models_endpoint_configs_and_endpoints(info: estate.EstateInfo) -> None:
    sm = client("sagemaker")
    sloppy = sm.describe_endpoint_config(EndpointConfigName=estate.SLOPPY_EC)
    assert "KmsKeyId" not in sloppy and not sloppy.get("DataCaptureConfig")  # moto: {}
    assert sloppy["ProductionVariants"][0]["InitialInstanceCount"] == 1
    hardened = sm.describe_endpoint_config(EndpointConfigName=estate.HARDENED_EC)
    assert hardened["KmsKeyId"] and hardened["DataCaptureConfig"]["EnableCapture"] is True
    assert hardened["ProductionVariants"][0]["InitialInstanceCount"] == 2
    model = sm.describe_model(ModelName=estate.SLOPPY_MODEL)
    assert not model.get("VpcConfig")  # moto returns {}
    assert model["PrimaryContainer"]["Environment"]["DB_PASSWORD"]
    assert (
        sm.describe_endpoint(EndpointName=estate.SLOPPY_ENDPOINT)["EndpointStatus"] == "InService"
    )
    assert client("sagemaker", US).describe_endpoint(EndpointName=estate.US_ENDPOINT)["EndpointArn"]
    groups = {
        group: [
            p["ModelApprovalStatus"]
            for p in sm.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]
        ]
        for group in (estate.APPROVED_GROUP, estate.PENDING_GROUP)
    }
    assert groups == {
        estate.APPROVED_GROUP: ["Approved"],
        estate.PENDING_GROUP: ["PendingManualApproval"],
    }


def test_ecr_iam_and_monitoring(info: estate.EstateInfo) -> None:
    ecr = client("ecr")
    repo = ecr.describe_repositories(repositoryNames=[estate.SLOPPY_REPO])["repositories"][0]
    assert repo["imageTagMutability"] == "MUTABLE"
    assert repo["imageScanningConfiguration"]["scanOnPush"] is False
    assert (
        ecr.get_registry_scanning_configuration()["scanningConfiguration"]["scanType"] == "ENHANCED"
    )
    assert (
        client("ecr", US).get_registry_scanning_configuration()["scanningConfiguration"]["scanType"]
        == "BASIC"
    )

    iam = client("iam")
    attached = iam.list_attached_role_policies(RoleName=estate.ADMIN_ROLE)["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [estate.ADMIN_POLICY_ARN]
    assert iam.list_attached_role_policies(RoleName=estate.TRAINING_ROLE)["AttachedPolicies"] == []

    trails = {t["Name"]: t for t in client("cloudtrail", US).describe_trails()["trailList"]}
    assert trails[estate.ORG_TRAIL]["IsMultiRegionTrail"] is True
    assert trails[estate.LEGACY_TRAIL]["LogFileValidationEnabled"] is False
    assert client("cloudtrail", US).get_trail_status(Name=estate.LEGACY_TRAIL)["IsLogging"] is False
    groups = {g["logGroupName"]: g for g in client("logs").describe_log_groups()["logGroups"]}
    assert groups[estate.NOTEBOOK_LOGS]["retentionInDays"] == 30
    assert "kmsKeyId" not in groups[estate.NOTEBOOK_LOGS]
    assert len(client("guardduty").list_detectors()["DetectorIds"]) == 1
    assert client("guardduty", US).list_detectors()["DetectorIds"] == []
    with pytest.raises(ClientError):
        client("macie2", US).get_macie_session()
    assert client("macie2").get_macie_session()["status"] == "ENABLED"


# ---------------------------------------------------------------- through the collector and rules


def _collect() -> MemorySink:
    sink = MemorySink()
    AwsCollector(regions=[EU, US]).collect(sink)
    return sink


def _find(docs: list[EvidenceDoc], resource: estate.PlantedResource) -> EvidenceDoc:
    def matches(doc: EvidenceDoc) -> bool:
        if doc.resource_type != resource.resource_type:
            return False
        if resource.region != "global" and doc.region != resource.region:
            return False
        if resource.resource_type in PER_REGION:
            return True
        data = doc.data
        return resource.name in (doc.name, data.get("DomainName")) or resource.name in data.get(
            "Aliases", []
        )

    found = [doc for doc in docs if matches(doc)]
    assert len(found) == 1, (
        f"{resource.resource_type} {resource.name} in {resource.region}: {len(found)} documents"
    )
    return found[0]


def _verdicts(
    sink: MemorySink, resources: tuple[estate.PlantedResource, ...]
) -> dict[tuple[str, str], str]:
    """(control, resource name) -> PASS/FAIL/ERROR/NOT_APPLICABLE, as the evaluator decides it
    with the demo organisation's approved regions."""
    catalog = load_catalog(params={"approved_regions": _approved_regions()})
    failed = {(e.resource_id, e.field) for e in sink.errors if e.field}
    out = {}
    for resource in resources:
        doc = _find(sink.docs, resource)
        for control_id in resource.controls:
            control = catalog.control(control_id)
            assert control is not None and control.rule is not None
            if control.applies_if and not holds(control.applies_if, doc.data):
                verdict = "NOT_APPLICABLE"
            elif (gaps := {f for r, f in failed if r == doc.resource_id}) and (
                EVERY_FIELD in (fields := referenced_fields(control.rule)) or gaps & fields
            ):
                verdict = "ERROR"
            else:
                verdict = "PASS" if holds(control.rule, doc.data) else "FAIL"
                reason = control.pass_reason if verdict == "PASS" else control.fail_reason
                assert "?" not in render_reason(reason, doc.data).replace("[?", "")
            out[(control_id, resource.name)] = verdict
    return out


@pytest.fixture(scope="module")
def collected(info: estate.EstateInfo) -> MemorySink:
    return _collect()


def test_collected_estate_fails_the_planted_faults_and_passes_the_twins(
    info: estate.EstateInfo, collected: MemorySink
) -> None:
    sink = collected
    planted = _verdicts(sink, info.planted)
    assert {k: v for k, v in planted.items() if v != "FAIL"} == {}
    hardened = _verdicts(sink, info.hardened)
    assert {k: v for k, v in hardened.items() if v != "PASS"} == {}


def test_collected_estate_reports_gaps_as_errors_and_redacts_secrets(
    info: estate.EstateInfo, collected: MemorySink
) -> None:
    sink = collected
    # moto has no ListMonitoringSchedules: every endpoint's monitoring control is an ERROR.
    monitoring = tuple(
        estate.PlantedResource("AWS::SageMaker::Endpoint", name, region, ("ML-MON-010",), "")
        for name, region in (
            (estate.HARDENED_ENDPOINT, EU),
            (estate.SLOPPY_ENDPOINT, EU),
            (estate.US_ENDPOINT, US),
        )
    )
    assert set(_verdicts(sink, monitoring).values()) == {"ERROR"}

    job = _find(sink.docs, next(p for p in info.planted if p.name == estate.SLOPPY_JOB))
    assert "HyperParameters.DB_PASSWORD" in job.data["_redacted"]
    notebook = _find(sink.docs, next(p for p in info.planted if p.name == estate.SLOPPY_NOTEBOOK))
    assert notebook.data["_redacted"]
    everything = json.dumps([d.to_dict() for d in sink.docs], default=str)
    assert "Churn2026!prod" not in everything
    assert "AKIAZ7Q3EXAMPLE4NB2Q" not in everything
    assert estate.HOSTILE_SCRIPT_TAG in everything  # stored as data; escaping is the report's job


# ---------------------------------------------------------------- the simulated quarter (runs last: it mutates)


def _holds_now(check: Callable[[], bool]) -> bool:
    """A state check; a resource that does not exist (yet) is simply not in that state."""
    try:
        return bool(check())
    except ClientError:
        return False


def _private(s3: Any, bucket: str) -> bool:
    """All four public access block settings on, and no bucket policy left."""
    blocked = all(
        s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values()
    )
    try:
        s3.get_bucket_policy(Bucket=bucket)
    except ClientError as exc:
        return blocked and exc.response["Error"]["Code"] == "NoSuchBucketPolicy"
    return False


def _rotating(alias: str) -> bool:
    kms = client("kms")
    key_id = kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"]  # rotation status wants the ID
    return kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True


def test_apply_week_changes_what_it_says(aws: str) -> None:
    reset_moto(aws)  # slow on a busy machine: the managed policies are loaded again
    estate.seed_estate()
    s3, sm, logs = client("s3"), client("sagemaker"), client("logs")
    checks = {
        3: lambda: (
            sm.describe_notebook_instance(NotebookInstanceName=estate.WEEK3_NOTEBOOK)[
                "DirectInternetAccess"
            ]
            == "Enabled"
        ),
        4: lambda: (
            s3.get_bucket_encryption(Bucket=estate.RAW_FEATURES_BUCKET_EU)[
                "ServerSideEncryptionConfiguration"
            ]["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"]
            == "aws:kms"
        ),
        5: lambda: (
            client("ecr").describe_repositories(repositoryNames=[estate.SLOPPY_REPO])[
                "repositories"
            ][0]["imageScanningConfiguration"]["scanOnPush"]
            is True
        ),
        6: lambda: (
            estate.SLOPPY_NOTEBOOK
            not in [
                n["NotebookInstanceName"] for n in sm.list_notebook_instances()["NotebookInstances"]
            ]
        ),
        7: lambda: client("macie2", US).get_macie_session()["status"] == "ENABLED",
        8: lambda: (
            {
                g["logGroupName"]: g.get("retentionInDays")
                for g in logs.describe_log_groups()["logGroups"]
            }[estate.TRAINING_LOGS]
            == 30
        ),
        9: lambda: len(client("guardduty", US).list_detectors()["DetectorIds"]) == 1,
        10: lambda: _private(s3, estate.RAW_FEATURES_BUCKET_EU),
        11: lambda: _rotating(estate.LEGACY_KEY_ALIAS),
        12: lambda: (
            client("cloudtrail", US).get_trail_status(Name=estate.LEGACY_TRAIL)["IsLogging"]
            and {t["Name"]: t for t in client("cloudtrail", US).describe_trails()["trailList"]}[
                estate.LEGACY_TRAIL
            ]["LogFileValidationEnabled"]
        ),
    }
    assert set(checks) == set(estate.weeks_with_changes())
    for week in range(1, 14):
        before = _holds_now(checks[week]) if week in checks else None
        changes = estate.apply_week(week)
        if week not in checks:
            assert changes == [], week
            continue
        assert len(changes) == 1 and changes[0], week
        assert before is False, f"week {week} was already in its new state"
        assert _holds_now(checks[week]), f"week {week} did not do what it says: {changes[0]}"

    # Through the controls: the SSE fix and the retention regression show up as verdicts.
    sink = _collect()
    verdicts = _verdicts(
        sink,
        (
            estate.PlantedResource(
                "AWS::S3::Bucket",
                estate.RAW_FEATURES_BUCKET_EU,
                EU,
                ("ML-DATA-001", "ML-DATA-004"),
                "",
            ),
            estate.PlantedResource(
                "AWS::Logs::LogGroup", estate.TRAINING_LOGS, EU, ("ML-MON-006",), ""
            ),
            estate.PlantedResource("AWS::GuardDuty::Detector", "detector", US, ("ML-MON-008",), ""),
        ),
    )
    assert verdicts == {
        ("ML-DATA-001", estate.RAW_FEATURES_BUCKET_EU): "PASS",
        ("ML-DATA-004", estate.RAW_FEATURES_BUCKET_EU): "PASS",
        ("ML-MON-006", estate.TRAINING_LOGS): "FAIL",
        ("ML-MON-008", "detector"): "PASS",
    }
