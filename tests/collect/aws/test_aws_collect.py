"""The whole estate collected from moto across two regions: every type, every shape."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from aws_estate import (
    ACCOUNT,
    AWS_KEY_ID,
    REGIONS,
    SECRET_VALUE,
    MemorySink,
    Proxy,
    bedrock_guardrails,
    reset,
    seed_account,
)

from auditor.collect import resource_types
from auditor.collect.aws.permissions import aws_permissions_policy, iam_action
from auditor.collect.aws.scope import AwsCollector
from auditor.collect.aws.specs import SPECS
from auditor.collect.redact import MARKER_PREFIX, REDACTED_KEY


@pytest.fixture(scope="module")
def run(proxy: Proxy) -> tuple[MemorySink, dict[str, Any], dict[str, Any], AwsCollector]:
    reset(proxy)
    proxy.rules.append(bedrock_guardrails)
    names = seed_account(boto3.Session())
    sink = MemorySink()
    collector = AwsCollector(regions=list(REGIONS), salt=b"test-salt", max_attempts=2)
    stats = collector.collect(sink)
    return sink, stats, names, collector


@pytest.fixture(scope="module")
def sink(run: tuple[MemorySink, dict[str, Any], dict[str, Any], AwsCollector]) -> MemorySink:
    return run[0]


# Declared types moto cannot produce, and why. Their documents on the test estate come from the
# proxy answering the calls with AWS's documented shapes (`aws_estate.bedrock_guardrails`); the
# test below proves moto alone still cannot, so this list shrinks when moto grows.
MOTO_CANNOT = {
    "AWS::Bedrock::Guardrail": "moto implements no Bedrock guardrail API (ListGuardrails)",
}


def test_every_declared_resource_type_is_produced(sink: MemorySink) -> None:
    produced = {d.resource_type for d in sink.docs}
    assert [spec.resource_type for spec in SPECS if spec.resource_type not in produced] == []
    assert produced == resource_types("aws")
    assert all(d.provider == "aws" and d.account == ACCOUNT for d in sink.docs)


def test_documents_are_plain_json_with_region_and_no_metadata(sink: MemorySink) -> None:
    for doc in sink.docs:
        text = json.dumps(doc.data)  # datetimes became strings, or this raises
        assert "ResponseMetadata" not in text
        assert isinstance(doc.data["Region"], str)
    trail = sink.one("AWS::CloudTrail::Trail", "org-trail")
    assert trail.data["Status"]["StartLoggingTime"].endswith("Z")


def test_only_error_is_the_operation_moto_lacks_and_the_run_continued(sink: MemorySink) -> None:
    [error] = sink.errors
    endpoint = sink.one("AWS::SageMaker::Endpoint", "churn-endpoint")
    assert error.operation == "ListMonitoringSchedules"
    assert error.service == "sagemaker"
    assert error.resource_type == "AWS::SageMaker::Endpoint"
    assert error.resource_id == endpoint.resource_id
    assert error.field == "MonitoringSchedules"
    assert error.error_code in {"NotImplemented", "HTTP500"}
    assert error.account == ACCOUNT and error.region == "us-east-1"
    # the failed part is absent; everything else about the endpoint is there
    assert "MonitoringSchedules" not in endpoint.data
    assert endpoint.data["EndpointConfig"]["EndpointConfigName"] == "churn-config"
    assert endpoint.data["EndpointStatus"] == "InService"
    assert endpoint.data["Tags"] == []


def test_bucket_document_shape(sink: MemorySink) -> None:
    doc = sink.one("AWS::S3::Bucket", f"ml-train-{ACCOUNT}")
    data = doc.data
    assert doc.resource_id == f"arn:aws:s3:::ml-train-{ACCOUNT}"
    assert doc.region == data["Region"] == "us-east-1"
    expected = {
        "Name", "CreationDate", "Region", "Tags", "Encryption", "PublicAccessBlock",
        "AccountPublicAccessBlock", "Policy", "PolicyStatus", "Versioning", "Logging",
        "ObjectLock", "Acl",
    }  # fmt: skip
    assert expected <= set(data)
    rule = data["Encryption"]["Rules"][0]["ApplyServerSideEncryptionByDefault"]
    assert rule["SSEAlgorithm"] == "aws:kms"
    assert data["PublicAccessBlock"]["RestrictPublicBuckets"] is True
    assert data["AccountPublicAccessBlock"]["RestrictPublicBuckets"] is False
    assert data["Versioning"] == {"Status": "Enabled"}
    assert data["Logging"] == {"TargetBucket": f"ml-logs-{ACCOUNT}", "TargetPrefix": "s3/"}
    assert data["Tags"] == [{"Key": "data", "Value": "phi"}]
    assert set(data["Acl"]) == {"Owner", "Grants"}


def test_absent_configuration_is_null_not_an_error(sink: MemorySink) -> None:
    logs = sink.one("AWS::S3::Bucket", f"ml-logs-{ACCOUNT}").data
    assert logs["Encryption"] is None  # ServerSideEncryptionConfigurationNotFoundError
    assert logs["PublicAccessBlock"] is None  # NoSuchPublicAccessBlockConfiguration
    assert logs["ObjectLock"] is None  # ObjectLockConfigurationNotFoundError
    assert logs["Logging"] is None
    assert logs["Versioning"] == {}  # never enabled
    assert logs["Tags"] == []  # NoSuchTagSet
    assert isinstance(logs["Policy"]["Statement"], list)
    assert logs["PolicyStatus"] == {"IsPublic": False}
    eu = sink.one("AWS::S3::Bucket", f"ml-eu-{ACCOUNT}")
    assert eu.region == "eu-west-1" and eu.data["Policy"] is None
    assert eu.data["PolicyStatus"] is None  # NoSuchBucketPolicy
    assert eu.data["ObjectLock"]["ObjectLockEnabled"] == "Enabled"
    assert not [e for e in sink.errors if e.resource_type == "AWS::S3::Bucket"]


def test_kms_key_shape(sink: MemorySink, run: Any) -> None:
    names = run[2]
    keys = {d.data["KeyId"]: d for d in sink.of("AWS::KMS::Key")}
    key = keys[names["key_id"]]
    assert key.resource_id == names["key_arn"] == key.data["Arn"]
    assert key.data["KeyState"] == "Enabled" and key.data["KeyManager"] == "CUSTOMER"
    assert key.data["KeyRotationEnabled"] is True
    assert key.data["Aliases"] == ["alias/ml-data"]
    assert key.data["Tags"] == [{"TagKey": "team", "TagValue": "ml"}]
    assert isinstance(key.data["Policy"]["Statement"], list)
    asymmetric = keys[names["asym_key_id"]]
    assert asymmetric.data["KeyRotationEnabled"] is None  # rotation does not apply
    assert asymmetric.data["Aliases"] == []


def test_sagemaker_documents(sink: MemorySink) -> None:
    model = sink.one("AWS::SageMaker::Model", "churn")
    assert model.resource_id == "arn:aws:sagemaker:us-east-1:123456789012:model/churn"
    assert model.data["Tags"] == [{"Key": "owner", "Value": "ml"}]
    assert model.data["ExecutionRoleArn"].endswith("role/sm-exec")
    config = sink.one("AWS::SageMaker::EndpointConfig", "churn-config")
    assert config.data["KmsKeyId"].startswith("arn:aws:kms:")
    job = sink.one("AWS::SageMaker::TrainingJob", "churn-train")
    assert job.data["TrainingJobStatus"] == "Completed"
    assert job.data["HyperParameters"]["epochs"] == "10"
    processing = sink.one("AWS::SageMaker::ProcessingJob", "churn-prep")
    assert processing.data["RoleArn"].endswith("role/sm-exec")
    domain = sink.one("AWS::SageMaker::Domain", "d-studio")
    assert domain.data["AuthMode"] == "IAM" and "Tags" not in domain.data
    group = sink.one("AWS::SageMaker::ModelPackageGroup", "churn-models")
    [package] = group.data["ModelPackages"]
    assert package["ModelApprovalStatus"] == "Approved"
    assert package["ModelPackageVersion"] == 1
    [described] = sink.of("AWS::SageMaker::ModelPackage")
    assert described.resource_id == package["ModelPackageArn"]
    assert described.data["InferenceSpecification"]["SupportedContentTypes"] == ["text/csv"]


def test_notebook_lifecycle_is_decoded_then_redacted(sink: MemorySink) -> None:
    research = sink.one("AWS::SageMaker::NotebookInstance", "research").data
    [script] = research["LifecycleConfig"]["OnStart"]
    # decoded, and the AWS key ID inside it replaced in place: the script stays readable
    assert script["Content"].startswith("#!/bin/bash\nexport AWS_ACCESS_KEY_ID=" + MARKER_PREFIX)
    assert AWS_KEY_ID not in script["Content"]
    assert "LifecycleConfig.OnStart[0].Content" in research[REDACTED_KEY]
    assert research["DirectInternetAccess"] == "Enabled"
    plain = sink.one("AWS::SageMaker::NotebookInstance", "plain-notebook").data
    assert plain["LifecycleConfig"] is None
    assert REDACTED_KEY not in plain


def test_secrets_are_redacted_before_the_sink(sink: MemorySink) -> None:
    everything = json.dumps([d.to_dict() for d in sink.docs])
    assert SECRET_VALUE not in everything
    assert AWS_KEY_ID not in everything
    model = sink.one("AWS::SageMaker::Model", "churn").data
    env = model["PrimaryContainer"]["Environment"]
    assert env["LOG_LEVEL"] == "info"
    assert env["DB_PASSWORD"].startswith(MARKER_PREFIX)
    assert model[REDACTED_KEY] == ["PrimaryContainer.Environment.DB_PASSWORD"]
    job = sink.one("AWS::SageMaker::TrainingJob", "churn-train").data
    assert job["HyperParameters"]["api_token"].startswith(MARKER_PREFIX)
    assert "HyperParameters.api_token" in job[REDACTED_KEY]
    # the same secret under the same salt gives the same marker: a change would show
    assert job["HyperParameters"]["api_token"] == env["DB_PASSWORD"]


def test_ecr_documents(sink: MemorySink) -> None:
    repo = sink.one("AWS::ECR::Repository", "train")
    assert repo.resource_id == repo.data["repositoryArn"]
    assert repo.data["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repo.data["encryptionConfiguration"]["encryptionType"] == "AES256"
    assert repo.data["Tags"] == [{"Key": "team", "Value": "ml"}]
    registries = {d.region: d for d in sink.of("AWS::ECR::RegistryScanningConfiguration")}
    assert set(registries) == set(REGIONS)
    east = registries["us-east-1"]
    assert east.resource_id == f"arn:aws:ecr:us-east-1:{ACCOUNT}:registry"
    assert east.data["scanningConfiguration"]["scanType"] == "ENHANCED"
    assert registries["eu-west-1"].data["scanningConfiguration"]["scanType"] == "BASIC"


def test_multi_region_trail_appears_once_with_status_and_selectors(sink: MemorySink) -> None:
    [trail] = sink.of("AWS::CloudTrail::Trail")
    assert trail.region == "us-east-1"
    assert trail.data["IsMultiRegionTrail"] is True
    assert trail.data["LogFileValidationEnabled"] is True
    assert trail.data["Status"]["IsLogging"] is True
    selectors = trail.data["EventSelectors"]
    assert set(selectors) == {"EventSelectors", "AdvancedEventSelectors"}
    assert selectors["EventSelectors"][0]["DataResources"][0]["Type"] == "AWS::S3::Object"


def test_log_groups(sink: MemorySink) -> None:
    group = sink.one("AWS::Logs::LogGroup", "/aws/sagemaker/TrainingJobs")
    assert group.data["retentionInDays"] == 400
    assert group.data["kmsKeyId"].startswith("arn:aws:kms:")
    assert not group.resource_id.endswith(":*")
    assert sink.one("AWS::Logs::LogGroup", "/eu/app").region == "eu-west-1"


def test_region_documents_guardduty_macie_bedrock_logging(sink: MemorySink) -> None:
    guardduty = {d.region: d for d in sink.of("AWS::GuardDuty::Detector")}
    east = guardduty["us-east-1"]
    assert east.resource_id == f"arn:aws:guardduty:us-east-1:{ACCOUNT}:detector/*"
    [detector] = east.data["Detectors"]
    assert east.data["DetectorIds"] == [detector["DetectorId"]]
    assert detector["Status"] == "ENABLED"
    assert guardduty["eu-west-1"].data == {
        "Detectors": [],
        "DetectorIds": [],
        "Region": "eu-west-1",
    }
    macie = {d.region: d.data for d in sink.of("AWS::Macie::Session")}
    assert macie["us-east-1"]["status"] == "ENABLED"
    assert macie["eu-west-1"] == {"status": "DISABLED", "Region": "eu-west-1"}
    logging = {d.region: d for d in sink.of("AWS::Bedrock::ModelInvocationLoggingConfiguration")}
    assert logging["us-east-1"].resource_id == f"arn:aws:bedrock:us-east-1:{ACCOUNT}:logging"
    assert logging["us-east-1"].data["loggingConfig"]["textDataDeliveryEnabled"] is True
    assert logging["eu-west-1"].data["loggingConfig"] is None


def test_bedrock_models_and_guardrails(sink: MemorySink) -> None:
    model = sink.one("AWS::Bedrock::CustomModel", "support-bot")
    assert model.resource_id == model.data["modelArn"]
    assert model.data["baseModelName"] == "amazon.titan-text-express-v1"
    guardrail = sink.one("AWS::Bedrock::Guardrail", "pii-guard")
    assert guardrail.resource_id == guardrail.data["guardrailArn"]
    assert guardrail.data["sensitiveInformationPolicy"]["piiEntities"][0]["action"] == "ANONYMIZE"


def test_only_sagemaker_roles_with_policy_documents(sink: MemorySink) -> None:
    [role] = sink.of("AWS::IAM::Role")
    assert role.name == "sm-exec" and role.region == "global"
    trust = role.data["AssumeRolePolicyDocument"]["Statement"]
    assert trust == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "sagemaker.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ]
    [attached] = role.data["AttachedPolicies"]
    assert set(attached) == {"PolicyName", "PolicyArn", "Document"}
    assert attached["Document"]["Statement"] == [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
    ]
    [inline] = role.data["InlinePolicies"]
    assert inline["PolicyName"] == "inline-kms"
    assert inline["Document"]["Statement"][0]["Action"] == "kms:Decrypt"


def test_account_document(sink: MemorySink) -> None:
    [account] = sink.of("AWS::::Account")
    assert account.resource_id == f"arn:aws:iam::{ACCOUNT}:root"
    data = account.data
    assert data["AccountId"] == ACCOUNT
    assert data["Regions"] == list(REGIONS)
    assert data["PublicAccessBlock"]["BlockPublicAcls"] is True
    assert data["Trails"] == [
        {
            "Name": "org-trail",
            "TrailARN": f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/org-trail",
            "HomeRegion": "us-east-1",
            "IsMultiRegionTrail": True,
            "LogFileValidationEnabled": True,
            "KmsKeyId": None,
            "IsLogging": True,
        }
    ]


def test_call_log_counts_every_call_and_shared_calls_happen_once(run: Any) -> None:
    sink, stats, _, collector = run
    log = collector.call_log
    assert stats["calls"] == len(log) > 0
    assert stats["documents"] == {t: len(sink.of(t)) for t in {d.resource_type for d in sink.docs}}
    assert stats["errors"] == len(sink.errors) == 1
    by_op = stats["calls_by_operation"]
    assert by_op["s3control:GetPublicAccessBlock"] == 1  # shared by 3 buckets and the account
    assert by_op["kms:ListAliases"] == 1  # once for the region's two keys, not once per key
    assert by_op["kms:DescribeKey"] == 2
    assert by_op["s3:ListBuckets"] == 1 and by_op["iam:ListRoles"] == 1  # global: listed once
    failed = [r for r in log if not r.ok and not r.absent]
    assert stats["failed_calls"] == 1
    assert {r.error_code for r in log if r.absent} >= {"NoSuchBucketPolicy", "NoSuchTagSet"}
    assert [(r.service, r.operation) for r in failed] == [("sagemaker", "ListMonitoringSchedules")]
    assert failed[0].attempts == 3  # botocore retried the 5xx (max_attempts=2 retries) first
    assert all(r.account == ACCOUNT and r.duration_ms >= 0 for r in log)


def test_every_call_made_is_allowed_by_the_derived_policy(run: Any) -> None:
    collector = run[3]
    allowed = {a for s in aws_permissions_policy()["Statement"] for a in s["Action"]}
    made = {iam_action(r.service, r.operation) for r in collector.call_log}
    assert made <= allowed


def test_the_types_moto_cannot_produce_are_named_and_moto_still_cannot(
    sink: MemorySink, proxy: Proxy
) -> None:
    assert all(sink.of(resource_type) for resource_type in MOTO_CANNOT)
    specs = [spec for spec in SPECS if spec.resource_type in MOTO_CANNOT]
    assert len(specs) == len(MOTO_CANNOT)
    rules = list(proxy.rules)
    proxy.rules.clear()  # moto alone
    try:
        alone = MemorySink()
        AwsCollector(regions=list(REGIONS), specs=specs, max_attempts=1).collect(alone)
    finally:
        proxy.rules[:] = rules
    assert alone.docs == []
    assert {e.resource_type for e in alone.errors} == set(MOTO_CANNOT)
