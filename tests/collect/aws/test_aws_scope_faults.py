"""Scope (accounts, regions, pagination) and faults that must become collection errors."""

from __future__ import annotations

import json
import time

import boto3
import pytest
from aws_estate import (
    ACCOUNT,
    OTHER_ACCOUNT,
    REGIONS,
    TRUST_SAGEMAKER,
    MemorySink,
    Proxy,
    Request,
    json_error,
    reset,
)

from auditor.collect.aws.engine import ResourceSpec
from auditor.collect.aws.scope import AwsCollector
from auditor.collect.aws.specs import SPECS


def only(*types: str) -> tuple[ResourceSpec, ...]:
    return tuple(s for s in SPECS if s.resource_type in types)


def _assumed(role_arn: str) -> boto3.Session:
    creds = boto3.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="seed")["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name="us-east-1",
    )


def test_service_denied_in_one_region_is_an_error_there_and_evidence_elsewhere(
    proxy: Proxy,
) -> None:
    reset(proxy)
    for region in REGIONS:
        sm = boto3.client("sagemaker", region_name=region)
        sm.create_model(
            ModelName=f"model-{region}",
            ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/x",
            PrimaryContainer={"Image": "img"},
        )
        boto3.client("logs", region_name=region).create_log_group(logGroupName=f"/g/{region}")

    def deny(request: Request) -> tuple[int, dict[str, str], bytes] | None:
        if request.service == "sagemaker" and request.region == "eu-west-1":
            return json_error(
                "AccessDeniedException", f"not authorized to perform sagemaker:{request.target}"
            )
        return None

    proxy.rules.append(deny)
    sink = MemorySink()
    specs = only("AWS::SageMaker::Model", "AWS::SageMaker::Endpoint", "AWS::Logs::LogGroup")
    AwsCollector(regions=list(REGIONS), specs=specs, max_attempts=0).collect(sink)
    errors = {(e.region, e.resource_type): e for e in sink.errors}
    assert set(errors) == {
        ("eu-west-1", "AWS::SageMaker::Model"),
        ("eu-west-1", "AWS::SageMaker::Endpoint"),
    }
    error = errors[("eu-west-1", "AWS::SageMaker::Model")]
    assert error.error_code == "AccessDeniedException"
    assert error.operation == "ListModels" and error.service == "sagemaker"
    assert error.resource_id is None and error.field is None  # the whole type, that region
    assert "sagemaker:ListModels" in error.message
    assert [d.name for d in sink.of("AWS::SageMaker::Model")] == ["model-us-east-1"]
    assert {d.region for d in sink.of("AWS::Logs::LogGroup")} == set(REGIONS)


def test_pagination_beyond_one_page(proxy: Proxy) -> None:
    reset(proxy)
    logs = boto3.client("logs")
    for index in range(120):
        logs.create_log_group(logGroupName=f"/big/{index:03d}")
    iam = boto3.client("iam")
    for index in range(12):
        iam.create_role(
            RoleName=f"sm-{index:02d}", AssumeRolePolicyDocument=json.dumps(TRUST_SAGEMAKER)
        )
    sm = boto3.client("sagemaker")
    sm.create_model(
        ModelName="m",
        ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/sm-00",
        PrimaryContainer={"Image": "img"},
    )
    for index in range(11):
        sm.create_endpoint_config(
            EndpointConfigName=f"c-{index:02d}",
            ProductionVariants=[
                {"VariantName": "v", "ModelName": "m", "InstanceType": "ml.m5.large"}
            ],
        )
    sink = MemorySink()
    collector = AwsCollector(specs=only("AWS::Logs::LogGroup"))
    stats = collector.collect(sink)
    assert len(sink.of("AWS::Logs::LogGroup")) == 120
    assert len({d.resource_id for d in sink.docs}) == 120
    assert stats["calls_by_operation"]["logs:DescribeLogGroups"] == 3  # 50 + 50 + 20
    small = MemorySink()
    stats = AwsCollector(
        specs=only("AWS::IAM::Role", "AWS::SageMaker::EndpointConfig"), page_size=5
    ).collect(small)
    assert sorted(d.name for d in small.of("AWS::IAM::Role")) == [f"sm-{i:02d}" for i in range(12)]
    assert len(small.of("AWS::SageMaker::EndpointConfig")) == 11
    # moto's ListRoles ignores MaxItems, so IAM paging is not observable here
    assert stats["calls_by_operation"]["sagemaker:ListEndpointConfigs"] == 3  # 5 + 5 + 1
    assert not small.errors


def test_two_accounts_by_assume_role_and_one_that_cannot_be_entered(proxy: Proxy) -> None:
    reset(proxy)
    roles = [f"arn:aws:iam::{a}:role/auditor" for a in (ACCOUNT, OTHER_ACCOUNT)]
    for role, account in zip(roles, (ACCOUNT, OTHER_ACCOUNT), strict=True):
        _assumed(role).client("s3").create_bucket(Bucket=f"data-{account}")
    locked = "arn:aws:iam::222222222222:role/auditor"

    def refuse(request: Request) -> tuple[int, dict[str, str], bytes] | None:
        if request.service == "sts" and b"222222222222" in request.body:
            body = (
                b"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>"
                b"<Message>not authorized to perform sts:AssumeRole</Message></Error>"
                b"</ErrorResponse>"
            )
            return 403, {"Content-Type": "text/xml"}, body
        return None

    proxy.rules.append(refuse)
    sink = MemorySink()
    collector = AwsCollector(
        role_arns=[*roles, locked],
        regions=["us-east-1"],
        specs=only("AWS::S3::Bucket", "AWS::::Account"),
        max_attempts=0,
    )
    assert collector.scope()["accounts"] == [ACCOUNT, OTHER_ACCOUNT]
    assert collector.scope()["unreachable_accounts"] == ["222222222222"]
    collector.collect(sink)
    buckets = {(d.account, d.name) for d in sink.of("AWS::S3::Bucket")}
    assert buckets == {(ACCOUNT, f"data-{ACCOUNT}"), (OTHER_ACCOUNT, f"data-{OTHER_ACCOUNT}")}
    assert {d.account for d in sink.of("AWS::::Account")} == {ACCOUNT, OTHER_ACCOUNT}
    [error] = sink.errors
    assert (error.account, error.operation, error.error_code) == (
        "222222222222",
        "AssumeRole",
        "AccessDenied",
    )
    assert error.resource_type is None  # everything in that account is missing


def test_organization_mode_and_all_regions_scope(proxy: Proxy) -> None:
    reset(proxy)
    org = boto3.client("organizations")
    org.create_organization(FeatureSet="ALL")
    org.create_account(AccountName="ml-prod", Email="ml@example.com")
    accounts = {a["Id"] for a in org.list_accounts()["Accounts"]}
    assert len(accounts) == 2
    collector = AwsCollector(org_role_name="OrganizationAccountAccessRole", regions="all")
    scope = collector.scope()
    assert set(scope["accounts"]) == accounts
    assert "us-east-1" in scope["regions"] and "eu-west-1" in scope["regions"]
    enabled = boto3.client("ec2").describe_regions()["Regions"]
    opted_out = {r["RegionName"] for r in enabled if r.get("OptInStatus") == "not-opted-in"}
    assert not opted_out & set(scope["regions"])


def test_throttling_after_retries_and_timeouts_are_errors(proxy: Proxy) -> None:
    reset(proxy)
    boto3.client("kms").create_key()
    boto3.client("logs").create_log_group(logGroupName="/slow")

    def throttle_or_stall(request: Request) -> tuple[int, dict[str, str], bytes] | None:
        if request.target == "DescribeKey":
            return json_error("ThrottlingException", "Rate exceeded")
        if request.target == "DescribeLogGroups":
            time.sleep(1.5)
        return None

    proxy.rules.append(throttle_or_stall)
    sink = MemorySink()
    collector = AwsCollector(
        specs=only("AWS::KMS::Key", "AWS::Logs::LogGroup"), max_attempts=1, read_timeout=0.5
    )
    collector.collect(sink)
    codes = {(e.operation, e.error_code) for e in sink.errors}
    assert ("DescribeKey", "ThrottlingException") in codes
    assert ("DescribeLogGroups", "Timeout") in codes
    throttled = [r for r in collector.call_log if r.operation == "DescribeKey"]
    assert throttled and all(r.attempts == 2 for r in throttled)  # retried, then recorded
    [key_error] = [e for e in sink.errors if e.operation == "DescribeKey"]
    assert key_error.resource_id and key_error.resource_id.startswith("arn:aws:kms:")
    assert not sink.of("AWS::KMS::Key")  # no document built from half the evidence


@pytest.mark.parametrize("regions", [None, ["eu-west-1"]])
def test_default_region_is_the_sessions(proxy: Proxy, regions: list[str] | None) -> None:
    collector = AwsCollector(regions=regions, specs=only("AWS::Logs::LogGroup"))
    assert collector.scope()["regions"] == (regions or ["us-east-1"])


def test_failed_join_leaves_its_key_and_derived_keys_absent(proxy: Proxy) -> None:
    reset(proxy)
    boto3.client("guardduty").create_detector(Enable=True)

    def deny(request: Request) -> tuple[int, dict[str, str], bytes] | None:
        if request.service == "guardduty" and request.path.startswith("/detector"):
            return 403, {"x-amzn-ErrorType": "AccessDeniedException"}, b'{"message": "denied"}'
        return None

    proxy.rules.append(deny)
    sink = MemorySink()
    AwsCollector(specs=only("AWS::GuardDuty::Detector"), max_attempts=0).collect(sink)
    [doc] = sink.docs
    assert doc.data == {"Region": "us-east-1"}  # neither Detectors nor DetectorIds: not "none"
    assert {(e.field, e.error_code, e.resource_id) for e in sink.errors} == {
        ("Detectors", "AccessDeniedException", doc.resource_id),
        ("DetectorIds", "AccessDeniedException", doc.resource_id),
    }
