"""The AWS resource types auditor collects, declared as data for `engine.py`.

Each declaration says how to list a type, which calls describe one item and which related evidence
is joined under which key. The evidence shapes are fixed by the team brief (and read by the AWS
controls): describe/get responses as boto3 returns them plus the joined keys below. The IAM
policy in `permissions.py` is derived from these declarations, so a new call here is a new
permission there.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from auditor.collect.aws.engine import Call, Join, ResourceSpec, Scope, declared_operations

# ---------------------------------------------------------------- transforms


def policy_document(value: Any) -> Any:
    """A policy as parsed JSON with `Statement` always a list (IAM accepts a single object)."""
    if isinstance(value, str):
        text = unquote(value) if value.lstrip().startswith("%7B") else value
        try:
            value = json.loads(text)
        except ValueError:
            return value  # kept as text: a rule can still read it, nothing is lost
    if isinstance(value, Mapping):
        value = dict(value)
        statement = value.get("Statement")
        if isinstance(statement, Mapping):
            value["Statement"] = [dict(statement)]
    return value


def role_document(value: Any) -> Any:
    if isinstance(value, Mapping) and "AssumeRolePolicyDocument" in value:
        value = dict(value)
        value["AssumeRolePolicyDocument"] = policy_document(value["AssumeRolePolicyDocument"])
    return value


def bucket_region(value: Any) -> str:
    """GetBucketLocation: null means us-east-1 and the legacy `EU` means eu-west-1."""
    if not value:
        return "us-east-1"
    return "eu-west-1" if value == "EU" else str(value)


def decoded_lifecycle(value: Any) -> Any:
    """Lifecycle scripts are base64; decode them so the redactor sees secrets in the text."""
    if not isinstance(value, Mapping):
        return value
    value = dict(value)
    for hook in ("OnCreate", "OnStart"):
        scripts = []
        for script in value.get(hook) or []:
            script = dict(script)
            content = script.get("Content")
            if isinstance(content, str):
                with contextlib.suppress(binascii.Error, ValueError):  # not base64: kept
                    script["Content"] = base64.b64decode(content, validate=True).decode(
                        "utf-8", "replace"
                    )
            scripts.append(script)
        if hook in value:
            value[hook] = scripts
    return value


def event_selectors(value: Any) -> dict[str, Any]:
    value = value or {}
    return {
        "EventSelectors": value.get("EventSelectors") or [],
        "AdvancedEventSelectors": value.get("AdvancedEventSelectors") or [],
    }


def alias_names(value: Any) -> list[str]:
    return sorted(a["AliasName"] for a in value or [] if a.get("AliasName"))


def empty_to_none(value: Any) -> Any:
    return value or None


# ---------------------------------------------------------------- shared pieces

SAGEMAKER_PAGE = 100


def sagemaker_tags(arn_field: str) -> Join:
    return Join(
        "Tags",
        Call(
            "ListTags",
            {"ResourceArn": arn_field},
            result="Tags",
            paginate=True,
            page_size=SAGEMAKER_PAGE,
        ),
    )


def _sagemaker(
    resource_type: str,
    list_operation: str,
    list_result: str,
    describe: str,
    name_param: str,
    arn_field: str,
    *,
    tags: bool = True,
    extra: tuple[Join, ...] = (),
    list_constants: Mapping[str, Any] | None = None,
    describe_from: str | None = None,
    required: tuple[str, ...] = (),
) -> ResourceSpec:
    joins: list[Join] = [Join(None, Call(describe, {name_param: describe_from or name_param}))]
    if tags:
        joins.append(sagemaker_tags(arn_field))
    joins.extend(extra)
    return ResourceSpec(
        resource_type=resource_type,
        service="sagemaker",
        id="{" + arn_field + "}",
        name=name_param,
        list=Call(
            list_operation,
            result=list_result,
            paginate=True,
            page_size=SAGEMAKER_PAGE,
            constants=dict(list_constants or {}),
        ),
        joins=tuple(joins),
        required=required,
    )


# The account-level public access block: one call per account, shared by every bucket document
# and the account document.
ACCOUNT_PUBLIC_ACCESS_BLOCK = Call(
    "GetPublicAccessBlock",
    {"AccountId": "_account"},
    result="PublicAccessBlockConfiguration",
    absent={"NoSuchPublicAccessBlockConfiguration": ""},
    service="s3control",
    share="account",
)

S3_ABSENT_POLICY = {"NoSuchBucketPolicy": ""}
BUCKET_REGION = "Region || BucketRegion"


def _bucket(operation: str, **kwargs: Any) -> Call:
    return Call(operation, {"Bucket": "Name"}, region=BUCKET_REGION, **kwargs)


# ---------------------------------------------------------------- declarations

SPECS: tuple[ResourceSpec, ...] = (
    ResourceSpec(
        resource_type="AWS::S3::Bucket",
        service="s3",
        scope=Scope.GLOBAL,
        id="arn:{_partition}:s3:::{Name}",
        name="Name",
        list=Call("ListBuckets", result="Buckets", paginate=True),
        region_of="Region",
        joins=(
            # ListBuckets may name the region itself; else one GetBucketLocation per bucket.
            Join(
                "Region",
                _bucket("GetBucketLocation", result="LocationConstraint"),
                when="!BucketRegion",
                transform=bucket_region,
            ),
            Join(
                "Encryption",
                _bucket(
                    "GetBucketEncryption",
                    result="ServerSideEncryptionConfiguration",
                    absent={"ServerSideEncryptionConfigurationNotFoundError": ""},
                ),
            ),
            Join(
                "PublicAccessBlock",
                _bucket(
                    "GetPublicAccessBlock",
                    result="PublicAccessBlockConfiguration",
                    absent={"NoSuchPublicAccessBlockConfiguration": ""},
                ),
            ),
            Join("AccountPublicAccessBlock", ACCOUNT_PUBLIC_ACCESS_BLOCK),
            Join(
                "Policy",
                _bucket("GetBucketPolicy", result="Policy", absent=S3_ABSENT_POLICY),
                transform=policy_document,
            ),
            Join(
                "PolicyStatus",
                _bucket("GetBucketPolicyStatus", result="PolicyStatus", absent=S3_ABSENT_POLICY),
            ),
            Join("Versioning", _bucket("GetBucketVersioning")),
            Join("Logging", _bucket("GetBucketLogging", result="LoggingEnabled")),
            Join(
                "ObjectLock",
                _bucket(
                    "GetObjectLockConfiguration",
                    result="ObjectLockConfiguration",
                    absent={"ObjectLockConfigurationNotFoundError": ""},
                ),
            ),
            Join("Acl", _bucket("GetBucketAcl", result="{Owner: Owner, Grants: Grants}")),
            Join(
                "Lifecycle",
                _bucket(
                    "GetBucketLifecycleConfiguration",
                    result="Rules",
                    absent={"NoSuchLifecycleConfiguration": ""},
                ),
            ),
            Join(
                "Tags",
                _bucket("GetBucketTagging", result="TagSet", absent={"NoSuchTagSet": ""}),
                absent_value=[],
            ),
        ),
        derive={"Region": "Region || BucketRegion"},
    ),
    ResourceSpec(
        resource_type="AWS::KMS::Key",
        service="kms",
        id="{KeyArn || Arn}",
        name="KeyId",
        list=Call("ListKeys", result="Keys", paginate=True, page_size=1000),
        joins=(
            Join(
                None,
                Call(
                    "DescribeKey",
                    {"KeyId": "KeyId"},
                    result="KeyMetadata",
                    required=("KeyMetadata",),
                ),
            ),
            Join(
                "KeyRotationEnabled",
                Call(
                    "GetKeyRotationStatus",
                    {"KeyId": "KeyId"},
                    result="KeyRotationEnabled",
                    required=("KeyRotationEnabled",),
                    absent={
                        "UnsupportedOperationException": "",
                        "KMSInvalidStateException": "",
                    },
                ),
                # rotation applies to symmetric customer keys with KMS key material only
                when="KeyManager == 'CUSTOMER' && KeySpec == 'SYMMETRIC_DEFAULT' "
                "&& Origin == 'AWS_KMS'",
            ),
            Join(
                "Policy",
                Call(
                    "GetKeyPolicy",
                    {"KeyId": "KeyId"},
                    constants={"PolicyName": "default"},
                    result="Policy",
                ),
                transform=policy_document,
            ),
            Join(
                "Aliases",
                Call("ListAliases", result="Aliases", paginate=True, page_size=100, share="region"),
                match=("TargetKeyId", "KeyId"),
                transform=alias_names,
            ),
            Join(
                "Tags",
                Call(
                    "ListResourceTags",
                    {"KeyId": "KeyId"},
                    result="Tags",
                    paginate=True,
                    page_size=50,
                    absent={"AccessDeniedException": "(?i)aws.managed"},
                ),
                absent_value=[],
            ),
        ),
        derive={"Arn": "Arn || KeyArn"},
    ),
    _sagemaker(
        "AWS::SageMaker::Model",
        "ListModels",
        "Models",
        "DescribeModel",
        "ModelName",
        "ModelArn",
        required=("EnableNetworkIsolation",),
    ),
    _sagemaker(
        "AWS::SageMaker::EndpointConfig",
        "ListEndpointConfigs",
        "EndpointConfigs",
        "DescribeEndpointConfig",
        "EndpointConfigName",
        "EndpointConfigArn",
    ),
    _sagemaker(
        "AWS::SageMaker::Endpoint",
        "ListEndpoints",
        "Endpoints",
        "DescribeEndpoint",
        "EndpointName",
        "EndpointArn",
        extra=(
            Join(
                "EndpointConfig",
                Call("DescribeEndpointConfig", {"EndpointConfigName": "EndpointConfigName"}),
            ),
            Join(
                "MonitoringSchedules",
                Call(
                    "ListMonitoringSchedules",
                    {"EndpointName": "EndpointName"},
                    result="MonitoringScheduleSummaries",
                    paginate=True,
                    page_size=SAGEMAKER_PAGE,
                ),
                each=(
                    Join(
                        None,
                        Call(
                            "DescribeMonitoringSchedule",
                            {"MonitoringScheduleName": "MonitoringScheduleName"},
                        ),
                    ),
                ),
            ),
        ),
    ),
    _sagemaker(
        "AWS::SageMaker::TrainingJob",
        "ListTrainingJobs",
        "TrainingJobSummaries",
        "DescribeTrainingJob",
        "TrainingJobName",
        "TrainingJobArn",
    ),
    _sagemaker(
        "AWS::SageMaker::ProcessingJob",
        "ListProcessingJobs",
        "ProcessingJobSummaries",
        "DescribeProcessingJob",
        "ProcessingJobName",
        "ProcessingJobArn",
        required=("ProcessingResources",),
    ),
    _sagemaker(
        "AWS::SageMaker::NotebookInstance",
        "ListNotebookInstances",
        "NotebookInstances",
        "DescribeNotebookInstance",
        "NotebookInstanceName",
        "NotebookInstanceArn",
        extra=(
            Join(
                "LifecycleConfig",
                Call(
                    "DescribeNotebookInstanceLifecycleConfig",
                    {"NotebookInstanceLifecycleConfigName": "NotebookInstanceLifecycleConfigName"},
                ),
                when="NotebookInstanceLifecycleConfigName",
                transform=decoded_lifecycle,
            ),
        ),
    ),
    _sagemaker(
        "AWS::SageMaker::Domain",
        "ListDomains",
        "Domains",
        "DescribeDomain",
        "DomainId",
        "DomainArn",
        tags=False,
    ),
    _sagemaker(
        "AWS::SageMaker::ModelPackageGroup",
        "ListModelPackageGroups",
        "ModelPackageGroupSummaryList",
        "DescribeModelPackageGroup",
        "ModelPackageGroupName",
        "ModelPackageGroupArn",
        tags=False,
        extra=(
            Join(
                "ModelPackages",
                Call(
                    "ListModelPackages",
                    {"ModelPackageGroupName": "ModelPackageGroupName"},
                    result="ModelPackageSummaryList",
                    paginate=True,
                    page_size=SAGEMAKER_PAGE,
                ),
            ),
        ),
    ),
    _sagemaker(
        "AWS::SageMaker::ModelPackage",
        "ListModelPackages",
        "ModelPackageSummaryList",
        "DescribeModelPackage",
        "ModelPackageName",
        "ModelPackageArn",
        tags=False,
        list_constants={"ModelPackageType": "Both"},
        describe_from="ModelPackageArn",
    ),
    ResourceSpec(
        resource_type="AWS::ECR::Repository",
        service="ecr",
        id="{repositoryArn}",
        name="repositoryName",
        list=Call("DescribeRepositories", result="repositories", paginate=True, page_size=1000),
        joins=(
            # With enhanced scanning on, ECR ignores the repository's own scanOnPush.
            Join(
                "RegistryScanning",
                Call(
                    "GetRegistryScanningConfiguration",
                    result="scanningConfiguration",
                    share="region",
                ),
            ),
            Join(
                "Tags",
                Call("ListTagsForResource", {"resourceArn": "repositoryArn"}, result="tags"),
            ),
        ),
    ),
    ResourceSpec(
        resource_type="AWS::ECR::RegistryScanningConfiguration",
        service="ecr",
        scope=Scope.REGION_DOCUMENT,
        id="arn:{_partition}:ecr:{_region}:{_account}:registry",
        name="'registry'",
        joins=(Join(None, Call("GetRegistryScanningConfiguration")),),
    ),
    ResourceSpec(
        resource_type="AWS::CloudTrail::Trail",
        service="cloudtrail",
        id="{TrailARN}",
        name="Name",
        list=Call("DescribeTrails", result="trailList", constants={"includeShadowTrails": True}),
        # A multi-region trail shows in every region: keep it in its home region only, or in
        # the first audited region when its home region is not audited.
        list_filter="HomeRegion == _region || "
        "(!contains(_regions, HomeRegion) && _region == _regions[0])",
        joins=(
            Join("Status", Call("GetTrailStatus", {"Name": "TrailARN"}, region="HomeRegion")),
            Join(
                "EventSelectors",
                Call("GetEventSelectors", {"TrailName": "TrailARN"}, region="HomeRegion"),
                transform=event_selectors,
            ),
            # The audit log history lives in the trail's bucket: its lifecycle decides retention.
            Join(
                "BucketLifecycle",
                Call(
                    "GetBucketLifecycleConfiguration",
                    {"Bucket": "S3BucketName"},
                    result="Rules",
                    absent={"NoSuchLifecycleConfiguration": ""},
                    service="s3",
                ),
                when="S3BucketName",
                absent_value=[],
            ),
        ),
    ),
    ResourceSpec(
        resource_type="AWS::Logs::LogGroup",
        service="logs",
        id="{logGroupArn || arn}",
        name="logGroupName",
        list=Call("DescribeLogGroups", result="logGroups", paginate=True, page_size=50),
    ),
    ResourceSpec(
        resource_type="AWS::GuardDuty::Detector",
        service="guardduty",
        scope=Scope.REGION_DOCUMENT,
        id="arn:{_partition}:guardduty:{_region}:{_account}:detector/*",
        name="'guardduty'",
        joins=(
            Join(
                "Detectors",
                Call("ListDetectors", result="DetectorIds", paginate=True, page_size=50),
                item_key="DetectorId",
                each=(Join(None, Call("GetDetector", {"DetectorId": "DetectorId"})),),
            ),
        ),
        derive={"DetectorIds": "Detectors[].DetectorId"},
    ),
    ResourceSpec(
        resource_type="AWS::Macie::Session",
        service="macie2",
        scope=Scope.REGION_DOCUMENT,
        id="arn:{_partition}:macie2:{_region}:{_account}:session",
        name="'macie'",
        joins=(
            Join(
                None,
                Call(
                    "GetMacieSession",
                    # AWS answers AccessDenied "Macie is not enabled"; moto: ResourceNotFound
                    absent={
                        "AccessDeniedException": "(?i)not enabled",
                        "ResourceNotFoundException": "",
                    },
                ),
                absent_value={"status": "DISABLED"},
            ),
        ),
    ),
    ResourceSpec(
        resource_type="AWS::IAM::Role",
        service="iam",
        scope=Scope.GLOBAL,
        id="{Arn}",
        name="RoleName",
        list=Call("ListRoles", result="Roles", paginate=True, page_size=1000),
        list_filter="contains(to_string(AssumeRolePolicyDocument), 'sagemaker.amazonaws.com')",
        joins=(
            Join(
                None,
                Call("GetRole", {"RoleName": "RoleName"}, result="Role"),
                transform=role_document,
            ),
            Join(
                "AttachedPolicies",
                Call(
                    "ListAttachedRolePolicies",
                    {"RoleName": "RoleName"},
                    result="AttachedPolicies",
                    paginate=True,
                    page_size=1000,
                ),
                each=(
                    Join(
                        "DefaultVersionId",
                        Call(
                            "GetPolicy",
                            {"PolicyArn": "PolicyArn"},
                            result="Policy.DefaultVersionId",
                            share="account",
                        ),
                    ),
                    Join(
                        "Document",
                        Call(
                            "GetPolicyVersion",
                            {"PolicyArn": "PolicyArn", "VersionId": "DefaultVersionId"},
                            result="PolicyVersion.Document",
                            share="account",
                        ),
                        transform=policy_document,
                    ),
                ),
                keep=("PolicyName", "PolicyArn", "Document"),
            ),
            Join(
                "InlinePolicies",
                Call(
                    "ListRolePolicies",
                    {"RoleName": "RoleName"},
                    result="PolicyNames",
                    paginate=True,
                    page_size=1000,
                ),
                item_key="PolicyName",
                each=(
                    Join(
                        "Document",
                        Call(
                            "GetRolePolicy",
                            {"RoleName": "_parent.RoleName", "PolicyName": "PolicyName"},
                            result="PolicyDocument",
                        ),
                        transform=policy_document,
                    ),
                ),
                keep=("PolicyName", "Document"),
            ),
        ),
        derive={"Region": "'global'"},
    ),
    ResourceSpec(
        resource_type="AWS::IAM::User",
        service="iam",
        scope=Scope.GLOBAL,
        id="{Arn}",
        name="UserName",
        list=Call("ListUsers", result="Users", paginate=True, page_size=1000),
        joins=(
            # A user without a console password has no login profile: not an error.
            Join(
                "LoginProfile",
                Call(
                    "GetLoginProfile",
                    {"UserName": "UserName"},
                    result="LoginProfile",
                    absent={"NoSuchEntity": ""},
                ),
            ),
            Join(
                "MFADevices",
                Call(
                    "ListMFADevices",
                    {"UserName": "UserName"},
                    result="MFADevices",
                    paginate=True,
                    page_size=1000,
                ),
            ),
            Join(
                "AccessKeys",
                Call(
                    "ListAccessKeys",
                    {"UserName": "UserName"},
                    result="AccessKeyMetadata",
                    paginate=True,
                    page_size=1000,
                ),
            ),
        ),
        derive={"Region": "'global'"},
    ),
    ResourceSpec(
        resource_type="AWS::Bedrock::Guardrail",
        service="bedrock",
        id="{guardrailArn || arn}",
        name="name",
        list=Call("ListGuardrails", result="guardrails", paginate=True, page_size=1000),
        joins=(Join(None, Call("GetGuardrail", {"guardrailIdentifier": "id || guardrailId"})),),
    ),
    ResourceSpec(
        resource_type="AWS::Bedrock::CustomModel",
        service="bedrock",
        id="{modelArn}",
        name="modelName",
        list=Call("ListCustomModels", result="modelSummaries", paginate=True, page_size=1000),
        joins=(Join(None, Call("GetCustomModel", {"modelIdentifier": "modelArn"})),),
    ),
    ResourceSpec(
        resource_type="AWS::Bedrock::ModelInvocationLoggingConfiguration",
        service="bedrock",
        scope=Scope.REGION_DOCUMENT,
        id="arn:{_partition}:bedrock:{_region}:{_account}:logging",
        name="'bedrock-invocation-logging'",
        joins=(
            Join(
                "loggingConfig",
                Call("GetModelInvocationLoggingConfiguration", result="loggingConfig"),
                transform=empty_to_none,
            ),
        ),
    ),
    ResourceSpec(
        resource_type="AWS::::Account",
        service="s3control",
        scope=Scope.ACCOUNT_DOCUMENT,
        id="arn:{_partition}:iam::{_account}:root",
        name="_account",
        joins=(
            Join("PublicAccessBlock", ACCOUNT_PUBLIC_ACCESS_BLOCK),
            # Root MFA and root access keys: only the account summary shows them.
            Join("AccountSummary", Call("GetAccountSummary", result="SummaryMap", service="iam")),
        ),
        derive={
            "AccountId": "_account",
            "Regions": "_regions",
            "Trails": '_documents."AWS::CloudTrail::Trail"[].{Name: Name, TrailARN: TrailARN, '
            "HomeRegion: HomeRegion, IsMultiRegionTrail: IsMultiRegionTrail, "
            "LogFileValidationEnabled: LogFileValidationEnabled, KmsKeyId: KmsKeyId, "
            "IsLogging: Status.IsLogging}",
            "Region": "'global'",
        },
        after={"AWS::CloudTrail::Trail": "Trails"},
    ),
)

# Calls made to establish the scope, outside the declarations: who am I, which accounts,
# which regions.
SCOPE_OPERATIONS: frozenset[tuple[str, str]] = frozenset(
    {
        ("sts", "GetCallerIdentity"),
        ("sts", "AssumeRole"),
        ("organizations", "ListAccounts"),
        ("ec2", "DescribeRegions"),
    }
)


def specs() -> tuple[ResourceSpec, ...]:
    return SPECS


def resource_types() -> frozenset[str]:
    """Every AWS resource type the collector can produce (the catalog checks controls against it)."""
    return frozenset(spec.resource_type for spec in SPECS)


def operations() -> frozenset[tuple[str, str]]:
    """(service, operation) for every call the declarations can make."""
    return declared_operations(SPECS)
