"""Test support for the AWS collector: a sink and an estate; the proxy is `devtools.aws_proxy`.

The proxy forwards every request to moto unchanged unless a test installs a rule: that is how a
test makes one service answer AccessDenied in one region, cuts a body short, or answers an
operation moto lacks with the shape AWS documents. boto3 is never patched: it only sees
AWS_ENDPOINT_URL.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import boto3

from auditor.collect.aws.engine import allow_local_s3control
from auditor.models import EvidenceDoc
from auditor.models import MemorySink as _MemorySink
from devtools.aws_proxy import (  # noqa: F401  (re-exported for the tests)
    Fault,
    Proxy,
    Reply,
    Request,
    Rule,
    json_error,
    json_reply,
    no_monitoring_schedules,
    reset,
)

ACCOUNT = "123456789012"
OTHER_ACCOUNT = "111111111111"
REGIONS = ("us-east-1", "eu-west-1")
SECRET_VALUE = "hunter2-very-secret"
AWS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"


class MemorySink(_MemorySink):
    """The product's in-memory sink, with an assertion helper."""

    def one(self, resource_type: str, name: str, region: str | None = None) -> EvidenceDoc:
        found = [
            d
            for d in self.of(resource_type)
            if d.name == name and (region is None or d.region == region)
        ]
        assert len(found) == 1, (resource_type, name, [d.name for d in self.of(resource_type)])
        return found[0]


# ---------------------------------------------------------------- the estate

TRUST_SAGEMAKER = {
    "Version": "2012-10-17",
    "Statement": {
        "Effect": "Allow",
        "Principal": {"Service": "sagemaker.amazonaws.com"},
        "Action": "sts:AssumeRole",
    },
}
TRUST_EC2 = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}
CONTAINER = "123456789012.dkr.ecr.us-east-1.amazonaws.com/train:latest"


def _moto_sagemaker(account: str, region: str) -> Any:
    """moto's in-process SageMaker backend (the test server runs in this process)."""
    from moto.sagemaker.models import sagemaker_backends

    return sagemaker_backends[account][region]


def seed_account(session: boto3.Session, account: str = ACCOUNT) -> dict[str, Any]:
    """Every resource type in us-east-1, a few in eu-west-1; returns names the tests use."""
    r1, r2 = REGIONS
    iam = session.client("iam")
    role_arn = iam.create_role(
        RoleName="sm-exec", AssumeRolePolicyDocument=json.dumps(TRUST_SAGEMAKER)
    )["Role"]["Arn"]
    iam.create_role(RoleName="ec2-only", AssumeRolePolicyDocument=json.dumps(TRUST_EC2))
    iam.create_user(UserName="analyst")
    iam.create_login_profile(
        UserName="analyst", Password="x" * 8 + "A1!", PasswordResetRequired=True
    )
    managed = iam.create_policy(
        PolicyName="sm-data-access",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
            }
        ),
    )["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="sm-exec", PolicyArn=managed)
    iam.put_role_policy(
        RoleName="sm-exec",
        PolicyName="inline-kms",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}],
            }
        ),
    )

    kms = session.client("kms", region_name=r1)
    key = kms.create_key(Description="training data", Tags=[{"TagKey": "team", "TagValue": "ml"}])
    key_id = key["KeyMetadata"]["KeyId"]
    key_arn = key["KeyMetadata"]["Arn"]
    kms.enable_key_rotation(KeyId=key_id)
    kms.create_alias(AliasName="alias/ml-data", TargetKeyId=key_id)
    asym = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]

    s3 = session.client("s3", region_name=r1)
    s3.create_bucket(Bucket=f"ml-train-{account}")
    s3.put_bucket_encryption(
        Bucket=f"ml-train-{account}",
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {
                        "SSEAlgorithm": "aws:kms",
                        "KMSMasterKeyID": key_arn,
                    }
                }
            ]
        },
    )
    s3.put_public_access_block(
        Bucket=f"ml-train-{account}",
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_versioning(
        Bucket=f"ml-train-{account}", VersioningConfiguration={"Status": "Enabled"}
    )
    s3.put_bucket_tagging(
        Bucket=f"ml-train-{account}", Tagging={"TagSet": [{"Key": "data", "Value": "phi"}]}
    )
    s3.create_bucket(Bucket=f"ml-logs-{account}")
    s3.put_bucket_policy(
        Bucket=f"ml-logs-{account}",
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": service},
                        "Action": "s3:PutObject",
                        "Resource": f"arn:aws:s3:::ml-logs-{account}/*",
                    }
                    for service in ("logging.s3.amazonaws.com", "cloudtrail.amazonaws.com")
                ],
            }
        ),
    )
    s3.put_bucket_logging(
        Bucket=f"ml-train-{account}",
        BucketLoggingStatus={
            "LoggingEnabled": {"TargetBucket": f"ml-logs-{account}", "TargetPrefix": "s3/"}
        },
    )
    s3.create_bucket(
        Bucket=f"ml-eu-{account}",
        CreateBucketConfiguration={"LocationConstraint": r2},
        ObjectLockEnabledForBucket=True,
    )
    allow_local_s3control(session.client("s3control", region_name=r1)).put_public_access_block(
        AccountId=account,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": False,
        },
    )

    sm = session.client("sagemaker", region_name=r1)
    sm.create_model(
        ModelName="churn",
        ExecutionRoleArn=role_arn,
        PrimaryContainer={
            "Image": CONTAINER,
            "Environment": {"DB_PASSWORD": SECRET_VALUE, "LOG_LEVEL": "info"},
        },
        Tags=[{"Key": "owner", "Value": "ml"}],
    )
    sm.create_endpoint_config(
        EndpointConfigName="churn-config",
        ProductionVariants=[
            {
                "VariantName": "main",
                "ModelName": "churn",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
        KmsKeyId=key_arn,
    )
    sm.create_endpoint(EndpointName="churn-endpoint", EndpointConfigName="churn-config")
    sm.create_training_job(
        TrainingJobName="churn-train",
        AlgorithmSpecification={"TrainingImage": CONTAINER, "TrainingInputMode": "File"},
        RoleArn=role_arn,
        HyperParameters={"epochs": "10", "api_token": SECRET_VALUE},
        OutputDataConfig={"S3OutputPath": f"s3://ml-train-{account}/out"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        StoppingCondition={"MaxRuntimeInSeconds": 3600},
        Environment={"AWS_ACCESS_KEY_ID": AWS_KEY_ID},
    )
    processing_resources = {
        "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 10}
    }
    sm.create_processing_job(
        ProcessingJobName="churn-prep",
        ProcessingResources=processing_resources,
        AppSpecification={"ImageUri": CONTAINER},
        RoleArn=role_arn,
        Environment={"SECRET_KEY": SECRET_VALUE},
    )
    # moto stores no ProcessingResources; the API always returns them (a required field)
    _moto_sagemaker(account, r1).processing_jobs[
        "churn-prep"
    ].processing_resources = processing_resources
    script = f"#!/bin/bash\nexport AWS_ACCESS_KEY_ID={AWS_KEY_ID}\n"
    sm.create_notebook_instance_lifecycle_config(
        NotebookInstanceLifecycleConfigName="nb-setup",
        OnStart=[{"Content": base64.b64encode(script.encode()).decode()}],
    )
    sm.create_notebook_instance(
        NotebookInstanceName="research",
        InstanceType="ml.t3.medium",
        RoleArn=role_arn,
        LifecycleConfigName="nb-setup",
        DirectInternetAccess="Enabled",
    )
    sm.create_notebook_instance(
        NotebookInstanceName="plain-notebook", InstanceType="ml.t3.medium", RoleArn=role_arn
    )
    domain_id = sm.create_domain(
        DomainName="studio",
        AuthMode="IAM",
        DefaultUserSettings={"ExecutionRole": role_arn},
        SubnetIds=["subnet-1"],
        VpcId="vpc-1",
    )["DomainArn"].rsplit("/", 1)[1]
    sm.create_model_package_group(ModelPackageGroupName="churn-models")
    sm.create_model_package(
        ModelPackageGroupName="churn-models",
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [{"Image": CONTAINER}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )

    ecr = session.client("ecr", region_name=r1)
    ecr.create_repository(
        repositoryName="train",
        imageScanningConfiguration={"scanOnPush": True},
        imageTagMutability="IMMUTABLE",
        tags=[{"Key": "team", "Value": "ml"}],
    )
    ecr.put_registry_scanning_configuration(
        scanType="ENHANCED",
        rules=[
            {
                "scanFrequency": "SCAN_ON_PUSH",
                "repositoryFilters": [{"filter": "*", "filterType": "WILDCARD"}],
            }
        ],
    )

    trail = session.client("cloudtrail", region_name=r1)
    trail.create_trail(
        Name="org-trail",
        S3BucketName=f"ml-logs-{account}",
        IsMultiRegionTrail=True,
        EnableLogFileValidation=True,
    )
    trail.start_logging(Name="org-trail")
    trail.put_event_selectors(
        TrailName="org-trail",
        EventSelectors=[
            {
                "ReadWriteType": "All",
                "IncludeManagementEvents": True,
                "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3"]}],
            }
        ],
    )

    logs = session.client("logs", region_name=r1)
    logs.create_log_group(logGroupName="/aws/sagemaker/TrainingJobs", kmsKeyId=key_arn)
    logs.put_retention_policy(logGroupName="/aws/sagemaker/TrainingJobs", retentionInDays=400)
    session.client("logs", region_name=r2).create_log_group(logGroupName="/eu/app")

    session.client("guardduty", region_name=r1).create_detector(Enable=True)
    session.client("macie2", region_name=r2).disable_macie()

    bedrock = session.client("bedrock", region_name=r1)
    bedrock.create_model_customization_job(
        jobName="tune-1",
        customModelName="support-bot",
        roleArn=role_arn,
        baseModelIdentifier="amazon.titan-text-express-v1",
        trainingDataConfig={"s3Uri": f"s3://ml-train-{account}/train.jsonl"},
        outputDataConfig={"s3Uri": f"s3://ml-train-{account}/out/"},
        hyperParameters={"epochCount": "1"},
        customModelKmsKeyId=key_arn,
    )
    bedrock.put_model_invocation_logging_configuration(
        loggingConfig={
            "cloudWatchConfig": {
                "logGroupName": "/aws/bedrock",
                "roleArn": role_arn,
            },
            "textDataDeliveryEnabled": True,
        }
    )
    return {
        "role_arn": role_arn,
        "key_id": key_id,
        "key_arn": key_arn,
        "asym_key_id": asym,
        "domain_id": domain_id,
        "managed_policy": managed,
    }


GUARDRAIL = {
    "name": "pii-guard",
    "guardrailId": "gr0000001",
    "guardrailArn": "arn:aws:bedrock:us-east-1:123456789012:guardrail/gr0000001",
    "version": "DRAFT",
    "status": "READY",
    "sensitiveInformationPolicy": {
        "piiEntities": [{"type": "EMAIL", "action": "ANONYMIZE"}],
        "regexes": [],
    },
    "createdAt": "2026-01-05T10:00:00Z",
    "updatedAt": "2026-01-05T10:00:00Z",
    "blockedInputMessaging": "Sorry.",
    "blockedOutputsMessaging": "Sorry.",
    "kmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/abc",
}


def bedrock_guardrails(request: Request) -> Reply | None:
    """moto has no guardrails: answer ListGuardrails/GetGuardrail with AWS's documented shapes
    in us-east-1, an empty list elsewhere."""
    if request.service != "bedrock" or request.method != "GET":
        return None
    path = request.path.split("?")[0]
    if path == "/guardrails":
        items = []
        if request.region == "us-east-1":
            items = [
                {
                    "id": GUARDRAIL["guardrailId"],
                    "arn": GUARDRAIL["guardrailArn"],
                    "status": "READY",
                    "name": GUARDRAIL["name"],
                    "version": "DRAFT",
                    "createdAt": GUARDRAIL["createdAt"],
                    "updatedAt": GUARDRAIL["updatedAt"],
                }
            ]
        return json_reply({"guardrails": items})
    if path == f"/guardrails/{GUARDRAIL['guardrailId']}":
        return json_reply(GUARDRAIL)
    return None
