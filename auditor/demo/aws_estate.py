"""A sample ML estate on AWS, planted into a moto server for the demo and the tests.

It looks like a real team's account: two regions (eu-west-1 as home, us-east-1 as a drifted
second region), a hardened fraud-detection pipeline and a sloppy growth/churn pipeline next to
it. Every planted misconfiguration is listed in `EstateInfo.planted` with the controls it must
fail, and every hardened twin in `EstateInfo.hardened` with the controls it must pass, so the
tests and the demo can name them instead of guessing.

`apply_week(n)` changes the estate between the weekly snapshots of the simulated quarter: some
faults get fixed, one regresses, resources appear and disappear. The client endpoint comes from
botocore's own settings (`AWS_ENDPOINT_URL`), so nothing here knows it talks to moto.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from auditor.collect.aws.engine import allow_local_s3control

HOME_REGION = "eu-west-1"
SECOND_REGION = "us-east-1"
REGIONS = (HOME_REGION, SECOND_REGION)
# The compliant twin keeps everything in the EU: its second region is an approved one.
COMPLIANT_SECOND_REGION = "eu-central-1"
COMPLIANT_REGIONS = (HOME_REGION, COMPLIANT_SECOND_REGION)

# A third-party account's registry: neither the organisation's own nor AWS's published ML images
# (those, e.g. Deep Learning Containers in 763104351884, are trusted by default).
FOREIGN_REGISTRY = "444455556666.dkr.ecr.{region}.amazonaws.com"
ADMIN_POLICY_ARN = "arn:aws:iam::aws:policy/AdministratorAccess"
HOSTILE_SCRIPT_TAG = "<script>alert(1)</script>"
HOSTILE_FORMULA_TAG = '=HYPERLINK("http://attacker.example/x","Open invoice")'

_CONFIG = Config(retries={"max_attempts": 2, "mode": "standard"})


@dataclass(frozen=True)
class PlantedResource:
    """One resource the demo estate contains, and what the AWS controls must say about it."""

    resource_type: str
    name: str  # its own name (bucket, job, key alias, ...); a label for per-region documents
    region: str  # "global" for IAM roles and the account
    controls: tuple[str, ...]  # planted: must FAIL these; hardened: must PASS these
    description: str


@dataclass(frozen=True)
class EstateInfo:
    """What `seed_estate` planted: the faults, their hardened twins, and ARNs worth naming."""

    account_id: str
    regions: tuple[str, ...]
    planted: tuple[PlantedResource, ...]
    hardened: tuple[PlantedResource, ...]
    names: dict[str, str] = field(default_factory=dict)  # label -> name or ARN

    def planted_names(self) -> list[str]:
        return [p.name for p in self.planted]


# ---------------------------------------------------------------- names

TRAINING_BUCKET_EU = "acme-ml-training-data-eu"
RAW_FEATURES_BUCKET_EU = "acme-ml-feature-store-raw-eu"
ARTIFACTS_BUCKET_EU = "acme-ml-model-artifacts-eu"
ACCESS_LOGS_BUCKET_EU = "acme-ml-s3-access-logs-eu"
TRAIL_BUCKET = "acme-org-cloudtrail-logs"
TRAINING_BUCKET_US = "acme-ml-training-data-us"
ARTIFACTS_BUCKET_US = "acme-ml-model-artifacts-us"

DATA_KEY_ALIAS = "alias/acme-ml-data"
LEGACY_KEY_ALIAS = "alias/acme-ml-legacy"
PARTNER_KEY_ALIAS = "alias/acme-ml-partner-share"

TRAINING_ROLE = "AcmeSageMakerFraudTrainingRole"
ADMIN_ROLE = "AcmeSageMakerSandboxAdminRole"
WILDCARD_ROLE = "AcmeMLOpsPipelineRole"
CONSOLE_USER = "growth-contractor"  # console password, no MFA
MFA_USER = "dana.ml"  # console password with MFA
CAPTURE_RETENTION_TAG = "data-capture-retention-days"

HARDENED_REPO = "fraud-ml/xgb-trainer"
SLOPPY_REPO = "growth-ml/notebook-sandbox"

HARDENED_JOB = "fraud-xgb-train-2026-10-05"
SLOPPY_JOB = "churn-lgbm-train-adhoc-0917"
US_JOB = "fraud-xgb-train-us-backfill"
HARDENED_PROCESSING = "fraud-feature-prep-2026-10-05"
SLOPPY_PROCESSING = "churn-feature-prep-adhoc"

HARDENED_NOTEBOOK = "fraud-ml-research"
SLOPPY_NOTEBOOK = "growth-ml-sandbox"
WEEK3_NOTEBOOK = "growth-ml-intern-scratch"
CLEAN_LIFECYCLE = "fraud-ml-research-lc"
LEAKY_LIFECYCLE = "growth-ml-sandbox-setup"

HARDENED_MODEL = "fraud-xgb-model-v12"
SLOPPY_MODEL = "churn-lgbm-model-v3"
HARDENED_EC = "fraud-xgb-ec-v12"
SLOPPY_EC = "churn-lgbm-ec-v3"
HARDENED_ENDPOINT = "fraud-xgb-prod"
SLOPPY_ENDPOINT = "churn-lgbm-staging"
US_MODEL = "fraud-xgb-model-v12-us"
US_EC = "fraud-xgb-ec-v12-us"
US_ENDPOINT = "fraud-xgb-prod-us"

APPROVED_GROUP = "fraud-xgb-registry"
PENDING_GROUP = "churn-lgbm-registry"
STUDIO_DOMAIN_EU = "acme-ml-studio"
STUDIO_DOMAIN_US = "acme-ml-studio-us"

ORG_TRAIL = "acme-org-audit"
LEGACY_TRAIL = "acme-ml-legacy-trail"

TRAINING_LOGS = "/aws/sagemaker/TrainingJobs"
ENDPOINT_LOGS = f"/aws/sagemaker/Endpoints/{HARDENED_ENDPOINT}"
NOTEBOOK_LOGS = "/aws/sagemaker/NotebookInstances"

FRAUD_TAGS = {"team": "fraud-ml", "data-class": "pci", "env": "prod", "cost-center": "cc-4410"}
GROWTH_TAGS = {"team": "growth-ml", "data-class": "pii", "env": "dev", "cost-center": "cc-5120"}
ARTIFACT_TAGS = {**FRAUD_TAGS, "purpose": "model-artifacts"}


def _tags(values: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in values.items()]


# ---------------------------------------------------------------- clients


class _Clients:
    """boto3 clients per (service, region); endpoint and credentials from the environment."""

    def __init__(self) -> None:
        self._session = boto3.session.Session()
        self._cache: dict[tuple[str, str], Any] = {}

    def __call__(self, service: str, region: str = HOME_REGION) -> Any:
        key = (service, region)
        if key not in self._cache:
            config = _CONFIG
            if service == "s3control":
                # Account-ID host prefixes do not resolve on a custom endpoint.
                config = _CONFIG.merge(Config(inject_host_prefix=False))
            client: Any = self._session.client(  # type: ignore[call-overload]
                service, region_name=region, config=config
            )
            if service == "s3control":
                allow_local_s3control(client)  # the account-ID host label on a loopback server
            self._cache[key] = client
        return self._cache[key]


def _account_id(clients: _Clients, account_hint: str | None) -> str:
    if account_hint:
        return account_hint
    return str(clients("sts").get_caller_identity()["Account"])


def _image(account: str, region: str, repo: str, tag: str) -> str:
    return f"{account}.dkr.ecr.{region}.amazonaws.com/{repo}:{tag}"


# ---------------------------------------------------------------- what moto drops

# Settings the API calls below make but moto 5 leaves out of its own state or responses. The
# demo's moto server runs in this process, so the seeders write them onto moto's objects, and
# the evidence shows what the calls asked for. Against any other endpoint these do nothing.


def _moto_sagemaker(account: str, region: str) -> Any:
    try:
        from moto.sagemaker.models import sagemaker_backends
    except ImportError:  # not moto
        return None
    return sagemaker_backends[account][region]


def _moto_processing_resources(
    account: str, region: str, job: str, resources: dict[str, Any]
) -> None:
    """moto stores no ProcessingResources, and DescribeProcessingJob always returns them."""
    backend = _moto_sagemaker(account, region)
    if backend is not None and job in backend.processing_jobs:
        backend.processing_jobs[job].processing_resources = resources


def _moto_network_isolation(account: str, region: str, model: str) -> None:
    """moto's CreateModel ignores EnableNetworkIsolation and reports false."""
    backend = _moto_sagemaker(account, region)
    if backend is not None and model in backend._models:
        backend._models[model].enable_network_isolation = True


def _moto_root_mfa(account: str) -> None:
    """Root MFA can only be turned on in the console; moto keeps the flag on its IAM backend."""
    try:
        from moto.iam.models import iam_backends
    except ImportError:
        return
    iam_backends[account]["aws"].account_summary._account_mfa_enabled = 1


# ---------------------------------------------------------------- seeding


@dataclass
class _Network:
    vpc_id: str
    subnets: list[str]
    security_group: str


def _network(clients: _Clients, region: str, cidr: str) -> _Network:
    ec2 = clients("ec2", region)
    vpc = ec2.create_vpc(
        CidrBlock=cidr,
        TagSpecifications=[
            {
                "ResourceType": "vpc",
                "Tags": _tags({"Name": "acme-ml-private", "team": "ml-platform"}),
            }
        ],
    )["Vpc"]["VpcId"]
    base = cidr.split(".")
    subnets = []
    for index, zone in enumerate(("a", "b")):
        subnet_cidr = f"{base[0]}.{base[1]}.{index * 16}.0/20"
        subnets.append(
            ec2.create_subnet(VpcId=vpc, CidrBlock=subnet_cidr, AvailabilityZone=f"{region}{zone}")[
                "Subnet"
            ]["SubnetId"]
        )
    sg = ec2.create_security_group(
        GroupName="acme-ml-training",
        Description="SageMaker training, no egress to internet",
        VpcId=vpc,
    )["GroupId"]
    return _Network(vpc, subnets, sg)


def _kms_key(clients: _Clients, region: str, alias: str, description: str, *, rotate: bool) -> str:
    kms = clients("kms", region)
    meta = kms.create_key(
        Description=description,
        Tags=[
            {"TagKey": "team", "TagValue": "ml-platform"},
            {"TagKey": "managed-by", "TagValue": "terraform"},
        ],
    )["KeyMetadata"]
    kms.create_alias(AliasName=alias, TargetKeyId=meta["KeyId"])
    if rotate:
        kms.enable_key_rotation(KeyId=meta["KeyId"])
    return str(meta["Arn"])


def _partner_key_policy(
    clients: _Clients, key_arn: str, account: str, partner: str, policy_id: str | None = None
) -> None:
    """The partner-share key's policy: the account administers it, `partner` may decrypt."""
    policy: dict[str, Any] = {"Version": "2012-10-17"}
    if policy_id:
        policy["Id"] = policy_id
    policy["Statement"] = [
        {
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "AllowPartnerDecrypt",
            "Effect": "Allow",
            "Principal": {"AWS": partner},
            "Action": ["kms:Decrypt", "kms:DescribeKey"],
            "Resource": "*",
        },
    ]
    clients("kms", HOME_REGION).put_key_policy(
        KeyId=key_arn.rsplit("/", 1)[1], PolicyName="default", Policy=json.dumps(policy)
    )


def _create_bucket(clients: _Clients, region: str, name: str, *, object_lock: bool = False) -> None:
    s3 = clients("s3", region)
    kwargs: dict[str, Any] = {"Bucket": name}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    if object_lock:
        kwargs["ObjectLockEnabledForBucket"] = True
    s3.create_bucket(**kwargs)


def _tls_only_policy(name: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


_ALL_PUBLIC_ACCESS_BLOCKED = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}


def _block_public_access(clients: _Clients, region: str, name: str) -> None:
    clients("s3", region).put_public_access_block(
        Bucket=name,
        PublicAccessBlockConfiguration=_ALL_PUBLIC_ACCESS_BLOCKED,
    )


def _sse_kms(clients: _Clients, region: str, name: str, key_arn: str) -> None:
    clients("s3", region).put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {
                        "SSEAlgorithm": "aws:kms",
                        "KMSMasterKeyID": key_arn,
                    },
                    "BucketKeyEnabled": True,
                }
            ]
        },
    )


def _sse_s3(clients: _Clients, region: str, name: str) -> None:
    clients("s3", region).put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )


def _hardened_bucket(
    clients: _Clients,
    region: str,
    name: str,
    key_arn: str,
    tags: dict[str, str],
    *,
    log_bucket: str,
    retention_days: int = 365,
) -> None:
    """SSE-KMS, public access blocked, TLS-only, versioned, access-logged, Object Lock."""
    s3 = clients("s3", region)
    _create_bucket(clients, region, name, object_lock=True)
    _sse_kms(clients, region, name, key_arn)
    _block_public_access(clients, region, name)
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps(_tls_only_policy(name)))
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_logging(
        Bucket=name,
        BucketLoggingStatus={
            "LoggingEnabled": {"TargetBucket": log_bucket, "TargetPrefix": f"{name}/"}
        },
    )
    s3.put_object_lock_configuration(
        Bucket=name,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": retention_days}},
        },
    )
    s3.put_bucket_lifecycle_configuration(
        Bucket=name,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "retention",
                    "Status": "Enabled",
                    "Filter": {"Prefix": ""},
                    "Expiration": {"Days": 730},
                    "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
                }
            ]
        },
    )
    s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": _tags(tags)})


def _log_bucket(
    clients: _Clients, region: str, name: str, account: str, *, versioned: bool
) -> None:
    """The access-log target: SSE-S3 (the only encryption log delivery accepts), private,
    TLS-only, with the log-delivery grant first; versioned in the compliant estate."""
    s3 = clients("s3", region)
    _create_bucket(clients, region, name)
    _sse_s3(clients, region, name)
    _block_public_access(clients, region, name)
    policy = _tls_only_policy(name)
    # The log-delivery grant first: moto reads statements in order and stops at the first match.
    policy["Statement"].insert(
        0,
        {
            "Sid": "S3ServerAccessLogsPolicy",
            "Effect": "Allow",
            "Principal": {"Service": "logging.s3.amazonaws.com"},
            "Action": ["s3:PutObject"],
            "Resource": f"arn:aws:s3:::{name}/*",
            "Condition": {"StringEquals": {"aws:SourceAccount": account}},
        },
    )
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps(policy))
    if versioned:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_tagging(
        Bucket=name, Tagging={"TagSet": _tags({"team": "ml-platform", "data-class": "logs"})}
    )


def _seed_storage(clients: _Clients, account: str, keys: dict[str, str]) -> None:
    s3 = clients("s3", HOME_REGION)
    _log_bucket(clients, HOME_REGION, ACCESS_LOGS_BUCKET_EU, account, versioned=False)

    _hardened_bucket(
        clients,
        HOME_REGION,
        TRAINING_BUCKET_EU,
        keys["data"],
        FRAUD_TAGS,
        log_bucket=ACCESS_LOGS_BUCKET_EU,
    )
    _hardened_bucket(
        clients,
        HOME_REGION,
        ARTIFACTS_BUCKET_EU,
        keys["data"],
        ARTIFACT_TAGS,
        log_bucket=ACCESS_LOGS_BUCKET_EU,
        retention_days=730,
    )

    # The sloppy one: SSE-S3 only, no public access block, a public-read policy, no versioning,
    # no logging, and tags an attacker could have written.
    _create_bucket(clients, HOME_REGION, RAW_FEATURES_BUCKET_EU)
    _sse_s3(clients, HOME_REGION, RAW_FEATURES_BUCKET_EU)
    s3.put_bucket_policy(
        Bucket=RAW_FEATURES_BUCKET_EU,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "PublicReadForDashboard",
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "s3:GetObject",
                        "Resource": f"arn:aws:s3:::{RAW_FEATURES_BUCKET_EU}/*",
                    }
                ],
            }
        ),
    )
    s3.put_bucket_tagging(
        Bucket=RAW_FEATURES_BUCKET_EU,
        Tagging={
            "TagSet": _tags(
                {**GROWTH_TAGS, "owner": HOSTILE_SCRIPT_TAG, "invoice-ref": HOSTILE_FORMULA_TAG}
            )
        },
    )

    # us-east-1: a copy of EU training data (residency), artifacts without Object Lock.
    _create_bucket(clients, SECOND_REGION, TRAINING_BUCKET_US)
    _sse_kms(clients, SECOND_REGION, TRAINING_BUCKET_US, keys["us"])
    _block_public_access(clients, SECOND_REGION, TRAINING_BUCKET_US)
    clients("s3", SECOND_REGION).put_bucket_tagging(
        Bucket=TRAINING_BUCKET_US,
        Tagging={"TagSet": _tags({**FRAUD_TAGS, "replica-of": TRAINING_BUCKET_EU})},
    )
    _create_bucket(clients, SECOND_REGION, ARTIFACTS_BUCKET_US)
    _sse_kms(clients, SECOND_REGION, ARTIFACTS_BUCKET_US, keys["us"])
    _block_public_access(clients, SECOND_REGION, ARTIFACTS_BUCKET_US)
    clients("s3", SECOND_REGION).put_bucket_versioning(
        Bucket=ARTIFACTS_BUCKET_US, VersioningConfiguration={"Status": "Enabled"}
    )
    clients("s3", SECOND_REGION).put_bucket_tagging(
        Bucket=ARTIFACTS_BUCKET_US,
        Tagging={"TagSet": _tags(ARTIFACT_TAGS)},
    )


def _assume_sagemaker() -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "sagemaker.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )


def _sagemaker_role(iam: Any, name: str, description: str | None = None) -> str:
    """A role SageMaker assumes; its ARN."""
    kwargs: dict[str, Any] = {"Description": description} if description else {}
    return str(
        iam.create_role(
            RoleName=name,
            Path="/service-role/",
            AssumeRolePolicyDocument=_assume_sagemaker(),
            Tags=_tags({"team": "ml-platform"}),
            **kwargs,
        )["Role"]["Arn"]
    )


def _seed_iam(clients: _Clients, account: str) -> dict[str, str]:
    iam = clients("iam")
    roles: dict[str, str] = {}
    for name, description in (
        (TRAINING_ROLE, "Least-privilege execution role for fraud model training"),
        (ADMIN_ROLE, "Sandbox notebooks (temporary, ticket ML-1422)"),
        (WILDCARD_ROLE, "MLOps pipeline automation"),
    ):
        roles[name] = _sagemaker_role(iam, name, description)
    iam.put_role_policy(
        RoleName=TRAINING_ROLE,
        PolicyName="fraud-training-data-read",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": ["s3:GetObject", "s3:ListBucket"],
                        "Resource": [
                            f"arn:aws:s3:::{TRAINING_BUCKET_EU}",
                            f"arn:aws:s3:::{TRAINING_BUCKET_EU}/*",
                        ],
                    },
                    {
                        "Effect": "Allow",
                        "Action": ["s3:PutObject"],
                        "Resource": f"arn:aws:s3:::{ARTIFACTS_BUCKET_EU}/*",
                    },
                    {
                        "Effect": "Allow",
                        "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                        "Resource": f"arn:aws:kms:{HOME_REGION}:{account}:key/*",
                    },
                ],
            }
        ),
    )
    _console_user(iam, MFA_USER, mfa=True)
    _console_user(iam, CONSOLE_USER, mfa=False)
    _attach_admin(iam, ADMIN_ROLE)
    iam.put_role_policy(
        RoleName=WILDCARD_ROLE,
        PolicyName="pipeline-everything",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
            }
        ),
    )
    return roles


def _console_user(iam: Any, name: str, *, mfa: bool) -> None:
    """An IAM user with a console password, with or without a virtual MFA device."""
    iam.create_user(UserName=name, Tags=_tags({"team": "ml-platform"}))
    iam.create_login_profile(
        UserName=name, Password=secrets.token_urlsafe(18) + "-A1", PasswordResetRequired=False
    )
    if mfa:
        serial = iam.create_virtual_mfa_device(VirtualMFADeviceName=name)["VirtualMFADevice"][
            "SerialNumber"
        ]
        iam.enable_mfa_device(
            UserName=name,
            SerialNumber=serial,
            AuthenticationCode1="123456",
            AuthenticationCode2="654321",
        )


def _attach_admin(iam: Any, role: str) -> None:
    """Attach the AWS-managed AdministratorAccess policy.

    moto only knows AWS-managed policies when started with MOTO_IAM_LOAD_MANAGED_POLICIES=true;
    otherwise a customer-managed policy of the same name and document stands in for it.
    """
    try:
        iam.attach_role_policy(RoleName=role, PolicyArn=ADMIN_POLICY_ARN)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "NoSuchEntity":
            raise
        arn = iam.create_policy(
            PolicyName="AdministratorAccess",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
                }
            ),
        )["Policy"]["Arn"]
        iam.attach_role_policy(RoleName=role, PolicyArn=arn)


def _hardened_repository(ecr: Any, name: str, key: str) -> None:
    """Immutable tags, scan on push, KMS."""
    ecr.create_repository(
        repositoryName=name,
        imageTagMutability="IMMUTABLE",
        imageScanningConfiguration={"scanOnPush": True},
        encryptionConfiguration={"encryptionType": "KMS", "kmsKey": key},
        tags=_tags(FRAUD_TAGS),
    )


def _enhanced_scanning(ecr: Any) -> None:
    ecr.put_registry_scanning_configuration(
        scanType="ENHANCED",
        rules=[
            {
                "scanFrequency": "CONTINUOUS_SCAN",
                "repositoryFilters": [{"filter": "*", "filterType": "WILDCARD"}],
            }
        ],
    )


def _seed_ecr(clients: _Clients, keys: dict[str, str]) -> None:
    ecr = clients("ecr", HOME_REGION)
    _hardened_repository(ecr, HARDENED_REPO, keys["data"])
    ecr.create_repository(
        repositoryName=SLOPPY_REPO,
        imageTagMutability="MUTABLE",
        imageScanningConfiguration={"scanOnPush": False},
        tags=_tags(GROWTH_TAGS),
    )
    _enhanced_scanning(ecr)
    # us-east-1 keeps the default BASIC, manual-only registry scanning.
    _hardened_repository(clients("ecr", SECOND_REGION), HARDENED_REPO, keys["us"])


@dataclass(frozen=True)
class _Estate:
    """What the planted estate's workload seeders build on: networks, keys and roles by name."""

    clients: _Clients
    account: str
    nets: dict[str, _Network]
    keys: dict[str, str]
    roles: dict[str, str]


@dataclass(frozen=True)
class _Workload:
    """Where a hardened ML resource runs: account and region, its VPC, the customer-managed key
    that encrypts it and the role it runs as. Both estates plant hardened resources from one."""

    clients: _Clients
    account: str
    region: str
    net: _Network
    key: str
    role: str

    def image(self, tag: str) -> str:
        return _image(self.account, self.region, HARDENED_REPO, tag)

    def vpc(self) -> dict[str, Any]:
        return {"SecurityGroupIds": [self.net.security_group], "Subnets": self.net.subnets}


def _hardened_training_job(w: _Workload, name: str, bucket: str) -> None:
    key = w.key
    w.clients("sagemaker", w.region).create_training_job(
        TrainingJobName=name,
        HyperParameters={
            "max_depth": "6",
            "eta": "0.2",
            "objective": "binary:logistic",
            "num_round": "300",
        },
        AlgorithmSpecification={"TrainingImage": w.image("1.7-1"), "TrainingInputMode": "File"},
        RoleArn=w.role,
        InputDataConfig=[
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": f"s3://{bucket}/fraud/2026-10/train/",
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
                "ContentType": "text/csv",
            }
        ],
        OutputDataConfig={"KmsKeyId": key, "S3OutputPath": f"s3://{bucket}/fraud/models/"},
        ResourceConfig={
            "InstanceType": "ml.m5.2xlarge",
            "InstanceCount": 2,
            "VolumeSizeInGB": 50,
            "VolumeKmsKeyId": key,
        },
        VpcConfig=w.vpc(),
        StoppingCondition={"MaxRuntimeInSeconds": 86400},
        EnableNetworkIsolation=True,
        EnableInterContainerTrafficEncryption=True,
        Tags=_tags(FRAUD_TAGS),
    )


def _hardened_processing_job(w: _Workload, name: str, output_uri: str) -> None:
    """Own image, encrypted volume and output, network isolation in a VPC."""
    key = w.key
    resources = {
        "ClusterConfig": {
            "InstanceCount": 1,
            "InstanceType": "ml.m5.xlarge",
            "VolumeSizeInGB": 30,
            "VolumeKmsKeyId": key,
        }
    }
    w.clients("sagemaker", w.region).create_processing_job(
        ProcessingJobName=name,
        RoleArn=w.role,
        AppSpecification={"ImageUri": w.image("prep-1.4.0")},
        ProcessingResources=resources,
        NetworkConfig={
            "EnableNetworkIsolation": True,
            "EnableInterContainerTrafficEncryption": True,
            "VpcConfig": w.vpc(),
        },
        ProcessingOutputConfig={
            "Outputs": [
                {
                    "OutputName": "features",
                    "S3Output": {
                        "S3Uri": output_uri,
                        "LocalPath": "/opt/ml/processing/output",
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ],
            "KmsKeyId": key,
        },
        StoppingCondition={"MaxRuntimeInSeconds": 3600},
        Tags=_tags(FRAUD_TAGS),
    )
    _moto_processing_resources(w.account, w.region, name, resources)


def _seed_training(e: _Estate) -> None:
    clients, account, nets, keys, roles = e.clients, e.account, e.nets, e.keys, e.roles
    sm = clients("sagemaker", HOME_REGION)
    role = roles[TRAINING_ROLE]
    eu = _Workload(clients, account, HOME_REGION, nets[HOME_REGION], keys["data"], role)
    us = _Workload(clients, account, SECOND_REGION, nets[SECOND_REGION], keys["us"], role)
    _hardened_training_job(eu, HARDENED_JOB, TRAINING_BUCKET_EU)
    _hardened_training_job(us, US_JOB, TRAINING_BUCKET_US)
    sm.create_training_job(
        TrainingJobName=SLOPPY_JOB,
        HyperParameters={
            "num_leaves": "63",
            "learning_rate": "0.05",
            "DB_PASSWORD": "Churn2026!prod",
            "feature_db_url": "postgresql://ml_reader:Churn2026!prod@churn-db.internal:5432/features",
        },
        AlgorithmSpecification={
            "TrainingImage": f"{FOREIGN_REGISTRY.format(region=HOME_REGION)}/pytorch-training:2.3.0-cpu-py311",
            "TrainingInputMode": "File",
        },
        RoleArn=roles[WILDCARD_ROLE],
        InputDataConfig=[
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": f"s3://{RAW_FEATURES_BUCKET_EU}/churn/",
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
            }
        ],
        OutputDataConfig={"S3OutputPath": f"s3://{RAW_FEATURES_BUCKET_EU}/churn/models/"},
        ResourceConfig={"InstanceType": "ml.m5.xlarge", "InstanceCount": 2, "VolumeSizeInGB": 30},
        StoppingCondition={"MaxRuntimeInSeconds": 36000},
        EnableNetworkIsolation=False,
        EnableInterContainerTrafficEncryption=False,
        Tags=_tags(GROWTH_TAGS),
    )
    _hardened_processing_job(
        eu, HARDENED_PROCESSING, f"s3://{TRAINING_BUCKET_EU}/fraud/2026-10/train/"
    )
    sloppy_resources = {
        "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30}
    }
    sm.create_processing_job(
        ProcessingJobName=SLOPPY_PROCESSING,
        RoleArn=roles[WILDCARD_ROLE],
        AppSpecification={
            "ImageUri": f"{FOREIGN_REGISTRY.format(region=HOME_REGION)}/sklearn-processing:1.2-1"
        },
        ProcessingResources=sloppy_resources,
        NetworkConfig={"EnableNetworkIsolation": False},
        ProcessingOutputConfig={
            "Outputs": [
                {
                    "OutputName": "features",
                    "S3Output": {
                        "S3Uri": f"s3://{RAW_FEATURES_BUCKET_EU}/churn/features/",
                        "LocalPath": "/opt/ml/processing/output",
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ]
        },
        StoppingCondition={"MaxRuntimeInSeconds": 3600},
        Tags=_tags(GROWTH_TAGS),
    )
    _moto_processing_resources(account, HOME_REGION, SLOPPY_PROCESSING, sloppy_resources)


def _lifecycle(clients: _Clients, name: str, script: str) -> None:
    clients("sagemaker", HOME_REGION).create_notebook_instance_lifecycle_config(
        NotebookInstanceLifecycleConfigName=name,
        OnStart=[{"Content": base64.b64encode(script.encode()).decode()}],
    )


def _sloppy_notebook(clients: _Clients, name: str, role: str, lifecycle: str | None) -> None:
    kwargs: dict[str, Any] = {}
    if lifecycle:
        kwargs["LifecycleConfigName"] = lifecycle
    clients("sagemaker", HOME_REGION).create_notebook_instance(
        NotebookInstanceName=name,
        InstanceType="ml.t3.xlarge",
        RoleArn=role,
        DirectInternetAccess="Enabled",
        RootAccess="Enabled",
        VolumeSizeInGB=50,
        Tags=_tags(GROWTH_TAGS),
        **kwargs,
    )


def _hardened_notebook(clients: _Clients, name: str, net: _Network, role: str, key: str) -> None:
    """In a VPC subnet, no direct internet, no root, KMS volume, the clean lifecycle script."""
    clients("sagemaker", HOME_REGION).create_notebook_instance(
        NotebookInstanceName=name,
        InstanceType="ml.t3.large",
        SubnetId=net.subnets[0],
        SecurityGroupIds=[net.security_group],
        RoleArn=role,
        KmsKeyId=key,
        LifecycleConfigName=CLEAN_LIFECYCLE,
        DirectInternetAccess="Disabled",
        RootAccess="Disabled",
        VolumeSizeInGB=20,
        Tags=_tags(FRAUD_TAGS),
    )


def _seed_notebooks(e: _Estate) -> None:
    clients, nets, keys, roles = e.clients, e.nets, e.keys, e.roles
    net = nets[HOME_REGION]
    _lifecycle(
        clients,
        CLEAN_LIFECYCLE,
        "#!/bin/bash\nset -euo pipefail\nsudo -u ec2-user -i pip install --quiet -r /home/ec2-user/SageMaker/requirements.txt\n",
    )
    _lifecycle(
        clients,
        LEAKY_LIFECYCLE,
        "#!/bin/bash\nset -e\n"
        "aws configure set aws_access_key_id AKIAZ7Q3EXAMPLE4NB2Q\n"
        "aws configure set aws_secret_access_key wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"
        "pip install lightgbm==4.3.0\n",
    )
    _hardened_notebook(clients, HARDENED_NOTEBOOK, net, roles[TRAINING_ROLE], keys["data"])
    _sloppy_notebook(clients, SLOPPY_NOTEBOOK, roles[ADMIN_ROLE], LEAKY_LIFECYCLE)


def _hardened_endpoint(
    w: _Workload,
    names: tuple[str, str, str],
    tags: dict[str, str],
    *,
    model_data_url: str,
    capture_bucket: str,
    sampling: int,
) -> None:
    """Model, endpoint config and endpoint as they should be: own image, network isolation in
    a VPC, customer-managed keys, two instances, encrypted data capture with a retention tag."""
    model, ec, endpoint = names
    key = w.key
    sm = w.clients("sagemaker", w.region)
    sm.create_model(
        ModelName=model,
        ExecutionRoleArn=w.role,
        PrimaryContainer={
            "Image": w.image("serve-1.7-1"),
            "ModelDataUrl": model_data_url,
            "Environment": {"SAGEMAKER_PROGRAM": "inference.py", "MODEL_THRESHOLD": "0.82"},
        },
        VpcConfig=w.vpc(),
        EnableNetworkIsolation=True,
        Tags=_tags(tags),
    )
    _moto_network_isolation(w.account, w.region, model)
    sm.create_endpoint_config(
        EndpointConfigName=ec,
        KmsKeyId=key,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": model,
                "InitialInstanceCount": 2,
                "InstanceType": "ml.m5.large",
                "InitialVariantWeight": 1.0,
            }
        ],
        DataCaptureConfig={
            "EnableCapture": True,
            "InitialSamplingPercentage": sampling,
            "DestinationS3Uri": f"s3://{capture_bucket}/data-capture/{endpoint}/",
            "KmsKeyId": key,
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        },
        Tags=_tags({**tags, CAPTURE_RETENTION_TAG: "30"}),
    )
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=ec, Tags=_tags(tags))


def _seed_models(e: _Estate) -> None:
    clients, account, nets, keys, roles = e.clients, e.account, e.nets, e.keys, e.roles
    for region, names, key, bucket in (
        (HOME_REGION, (HARDENED_MODEL, HARDENED_EC, HARDENED_ENDPOINT), keys["data"], ARTIFACTS_BUCKET_EU),
        (SECOND_REGION, (US_MODEL, US_EC, US_ENDPOINT), keys["us"], ARTIFACTS_BUCKET_US),
    ):  # fmt: skip
        _hardened_endpoint(
            _Workload(clients, account, region, nets[region], key, roles[TRAINING_ROLE]),
            names,
            FRAUD_TAGS,
            model_data_url=f"s3://{bucket}/fraud/{HARDENED_JOB}/output/model.tar.gz",
            capture_bucket=bucket,
            sampling=20,
        )

    sm = clients("sagemaker", HOME_REGION)
    sm.create_model(
        ModelName=SLOPPY_MODEL,
        ExecutionRoleArn=roles[WILDCARD_ROLE],
        PrimaryContainer={
            "Image": f"{FOREIGN_REGISTRY.format(region=HOME_REGION)}/pytorch-inference:2.3.0-cpu-py311",
            "ModelDataUrl": f"s3://{RAW_FEATURES_BUCKET_EU}/churn/models/{SLOPPY_JOB}/output/model.tar.gz",
            "Environment": {"SAGEMAKER_PROGRAM": "serve.py", "DB_PASSWORD": "Churn2026!prod"},
        },
        EnableNetworkIsolation=False,
        Tags=_tags(GROWTH_TAGS),
    )
    sm.create_endpoint_config(
        EndpointConfigName=SLOPPY_EC,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": SLOPPY_MODEL,
                "InitialInstanceCount": 1,
                "InstanceType": "ml.t2.medium",
                "InitialVariantWeight": 1.0,
            }
        ],
        Tags=_tags(GROWTH_TAGS),
    )
    sm.create_endpoint(
        EndpointName=SLOPPY_ENDPOINT, EndpointConfigName=SLOPPY_EC, Tags=_tags(GROWTH_TAGS)
    )


def _model_package(
    clients: _Clients, account: str, group: str, status: str, description: str
) -> None:
    sm = clients("sagemaker", HOME_REGION)
    sm.create_model_package(
        ModelPackageGroupName=group,
        ModelPackageDescription=description,
        ModelApprovalStatus=status,
        InferenceSpecification={
            "Containers": [
                {
                    "Image": _image(account, HOME_REGION, HARDENED_REPO, "serve-1.7-1"),
                    "ModelDataUrl": f"s3://{ARTIFACTS_BUCKET_EU}/{group}/model.tar.gz",
                }
            ],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )


def _studio_domain(
    clients: _Clients,
    region: str,
    name: str,
    net: _Network,
    role: str,
    access: str,
    key: str | None,
) -> None:
    kwargs: dict[str, Any] = {"KmsKeyId": key} if key else {}
    clients("sagemaker", region).create_domain(
        DomainName=name,
        AuthMode="IAM",
        DefaultUserSettings={"ExecutionRole": role},
        SubnetIds=net.subnets,
        VpcId=net.vpc_id,
        AppNetworkAccessType=access,
        Tags=_tags({"team": "ml-platform"}),
        **kwargs,
    )


def _seed_registry(e: _Estate) -> None:
    clients, account, nets, keys, roles = e.clients, e.account, e.nets, e.keys, e.roles
    sm = clients("sagemaker", HOME_REGION)
    sm.create_model_package_group(
        ModelPackageGroupName=APPROVED_GROUP,
        ModelPackageGroupDescription="Fraud XGBoost releases, approved by model risk",
        Tags=_tags(FRAUD_TAGS),
    )
    _model_package(clients, account, APPROVED_GROUP, "Approved", "v12, MRM-2026-118 sign-off")
    sm.create_model_package_group(
        ModelPackageGroupName=PENDING_GROUP,
        ModelPackageGroupDescription="Churn LightGBM candidates",
        Tags=_tags(GROWTH_TAGS),
    )
    _model_package(clients, account, PENDING_GROUP, "PendingManualApproval", "v3 candidate")
    for region, name, access, key in (
        (HOME_REGION, STUDIO_DOMAIN_EU, "VpcOnly", keys["data"]),
        (SECOND_REGION, STUDIO_DOMAIN_US, "PublicInternetOnly", None),
    ):
        _studio_domain(clients, region, name, nets[region], roles[TRAINING_ROLE], access, key)


def _validated_trail(
    ct: Any,
    name: str,
    *,
    multi_region: bool,
    key: str,
    data_events: str,
    tags: dict[str, str] | None = None,
) -> None:
    """A logging trail into TRAIL_BUCKET with file validation, KMS, management events and S3
    data events (selector named `data_events`)."""
    kwargs: dict[str, Any] = {"TagsList": _tags(tags)} if tags else {}
    ct.create_trail(
        Name=name,
        S3BucketName=TRAIL_BUCKET,
        IsMultiRegionTrail=multi_region,
        IncludeGlobalServiceEvents=multi_region,
        EnableLogFileValidation=True,
        KmsKeyId=key,
        **kwargs,
    )
    ct.put_event_selectors(
        TrailName=name,
        AdvancedEventSelectors=[
            {
                "Name": "Management events",
                "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}],
            },
            {
                "Name": data_events,
                "FieldSelectors": [
                    {"Field": "eventCategory", "Equals": ["Data"]},
                    {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
                ],
            },
        ],
    )
    ct.start_logging(Name=name)


def _log_group(logs: Any, group: str, retention_days: int, key: str | None) -> None:
    kwargs: dict[str, Any] = {"kmsKeyId": key} if key else {}
    logs.create_log_group(logGroupName=group, tags={"team": "ml-platform"}, **kwargs)
    logs.put_retention_policy(logGroupName=group, retentionInDays=retention_days)


def _guardduty(clients: _Clients, region: str) -> None:
    clients("guardduty", region).create_detector(
        Enable=True,
        FindingPublishingFrequency="FIFTEEN_MINUTES",
        DataSources={"S3Logs": {"Enable": True}},
    )


def _bedrock_invocation_logging(clients: _Clients, region: str, account: str) -> None:
    clients("bedrock", region).put_model_invocation_logging_configuration(
        loggingConfig={
            "cloudWatchConfig": {
                "logGroupName": "/aws/bedrock/model-invocations",
                "roleArn": f"arn:aws:iam::{account}:role/service-role/AcmeBedrockLogging",
            },
            "textDataDeliveryEnabled": True,
            "imageDataDeliveryEnabled": False,
            "embeddingDataDeliveryEnabled": False,
        }
    )


def _seed_monitoring(clients: _Clients, account: str, keys: dict[str, str]) -> None:
    s3 = clients("s3", HOME_REGION)
    _create_bucket(clients, HOME_REGION, TRAIL_BUCKET)
    _block_public_access(clients, HOME_REGION, TRAIL_BUCKET)
    s3.put_bucket_tagging(
        Bucket=TRAIL_BUCKET, Tagging={"TagSet": _tags({"team": "security", "data-class": "logs"})}
    )
    _validated_trail(
        clients("cloudtrail", HOME_REGION),
        ORG_TRAIL,
        multi_region=True,
        key=keys["data"],
        data_events="S3 object-level events on ML data",
        tags={"team": "security"},
    )
    # A forgotten single-region trail: no validation, no KMS, logging stopped.
    legacy = clients("cloudtrail", SECOND_REGION)
    legacy.create_trail(Name=LEGACY_TRAIL, S3BucketName=TRAIL_BUCKET, IsMultiRegionTrail=False)
    legacy.stop_logging(Name=LEGACY_TRAIL)

    logs = clients("logs", HOME_REGION)
    for group, retention, key in (
        (TRAINING_LOGS, 400, keys["data"]),
        (ENDPOINT_LOGS, 731, keys["data"]),
        (NOTEBOOK_LOGS, 30, None),
    ):
        _log_group(logs, group, retention, key)

    _guardduty(clients, HOME_REGION)
    _enable_macie(clients, HOME_REGION)
    # moto starts every region with Macie on; the drifted region has it switched off.
    try:
        clients("macie2", SECOND_REGION).disable_macie()
    except ClientError as exc:  # already off
        if exc.response["Error"]["Code"] not in (
            "AccessDeniedException",
            "ResourceNotFoundException",
        ):
            raise
    _bedrock_invocation_logging(clients, HOME_REGION, account)


def _enable_macie(clients: _Clients, region: str) -> None:
    macie = clients("macie2", region)
    try:
        if macie.get_macie_session().get("status") == "ENABLED":
            return
    except ClientError:
        pass  # not enabled yet
    macie.enable_macie(findingPublishingFrequency="FIFTEEN_MINUTES", status="ENABLED")


def seed_estate(account_hint: str | None = None) -> EstateInfo:
    """Plant the sample estate into whatever endpoint botocore is configured for.

    `account_hint` is the account ID the credentials resolve to; when None it is asked of STS.
    """
    clients = _Clients()
    account = _account_id(clients, account_hint)
    nets = {
        HOME_REGION: _network(clients, HOME_REGION, "10.40.0.0/16"),
        SECOND_REGION: _network(clients, SECOND_REGION, "10.41.0.0/16"),
    }
    keys = {
        "data": _kms_key(
            clients, HOME_REGION, DATA_KEY_ALIAS, "ML training data and artifacts (eu)", rotate=True
        ),
        "legacy": _kms_key(
            clients, HOME_REGION, LEGACY_KEY_ALIAS, "Legacy churn pipeline key", rotate=False
        ),
        "partner": _kms_key(
            clients, HOME_REGION, PARTNER_KEY_ALIAS, "Share with scoring partner", rotate=True
        ),
        "us": _kms_key(
            clients,
            SECOND_REGION,
            DATA_KEY_ALIAS,
            "ML training data and artifacts (us)",
            rotate=True,
        ),
    }
    _partner_key_policy(clients, keys["partner"], account, "*", policy_id="partner-share")
    _seed_storage(clients, account, keys)
    roles = _seed_iam(clients, account)
    _seed_ecr(clients, keys)
    estate = _Estate(clients, account, nets, keys, roles)
    _seed_training(estate)
    _seed_notebooks(estate)
    _seed_models(estate)
    _seed_registry(estate)
    _seed_monitoring(clients, account, keys)
    return EstateInfo(
        account_id=account,
        regions=REGIONS,
        planted=_PLANTED,
        hardened=_HARDENED,
        names={
            "data_key_arn": keys["data"],
            "legacy_key_arn": keys["legacy"],
            "partner_key_arn": keys["partner"],
            "us_key_arn": keys["us"],
            "admin_role_arn": roles[ADMIN_ROLE],
            "wildcard_role_arn": roles[WILDCARD_ROLE],
            "training_role_arn": roles[TRAINING_ROLE],
            "vpc_eu": nets[HOME_REGION].vpc_id,
            "vpc_us": nets[SECOND_REGION].vpc_id,
        },
    )


_B = "AWS::S3::Bucket"
_SM = "AWS::SageMaker::"

# Control sets a planted resource and its hardened twin share (the twin may add to them).
_TRAINING_JOB_CONTROLS = (
    "ML-TRAIN-001",
    "ML-TRAIN-002",
    "ML-TRAIN-003",
    "ML-TRAIN-004",
    "ML-TRAIN-005",
    "ML-TRAIN-006",
    "ML-TRAIN-018",
)
_PROCESSING_JOB_CONTROLS = ("ML-TRAIN-007", "ML-TRAIN-008", "ML-TRAIN-018")
_NOTEBOOK_CONTROLS = (
    "ML-TRAIN-009",
    "ML-TRAIN-010",
    "ML-TRAIN-011",
    "ML-TRAIN-012",
    "ML-TRAIN-013",
)
_STUDIO_DOMAIN_CONTROLS = ("ML-TRAIN-021", "ML-TRAIN-022")
_MODEL_CONTROLS = ("ML-DEPLOY-005", "ML-DEPLOY-006", "ML-DEPLOY-008", "ML-DEPLOY-009")
_TRAIL_CONTROLS = ("ML-MON-002", "ML-MON-003", "ML-MON-004")
_LOG_GROUP_CONTROLS = ("ML-MON-006", "ML-MON-007")

_PLANTED: tuple[PlantedResource, ...] = (
    PlantedResource(
        _B,
        RAW_FEATURES_BUCKET_EU,
        HOME_REGION,
        ("ML-DATA-001", "ML-DATA-002", "ML-DATA-004", "ML-DATA-006", "ML-DATA-007", "ML-DATA-008"),
        "SSE-S3 only, no public access block, public-read policy, no TLS policy, no versioning, no logs; hostile tags",
    ),
    PlantedResource(
        _B,
        TRAINING_BUCKET_US,
        SECOND_REGION,
        ("ML-DATA-011",),
        "EU training data replicated to us-east-1",
    ),
    PlantedResource(
        _B,
        ARTIFACTS_BUCKET_US,
        SECOND_REGION,
        ("ML-STORE-001",),
        "model artifacts without Object Lock",
    ),
    PlantedResource(
        "AWS::KMS::Key",
        LEGACY_KEY_ALIAS,
        HOME_REGION,
        ("ML-STORE-003",),
        "customer key without rotation",
    ),
    PlantedResource(
        "AWS::KMS::Key",
        PARTNER_KEY_ALIAS,
        HOME_REGION,
        ("ML-STORE-005",),
        "key policy allows Principal * without condition",
    ),
    PlantedResource(
        "AWS::IAM::Role",
        ADMIN_ROLE,
        "global",
        ("ML-TRAIN-019", "ML-TRAIN-020"),
        "AdministratorAccess attached",
    ),
    PlantedResource(
        "AWS::IAM::Role", WILDCARD_ROLE, "global", ("ML-TRAIN-020",), "inline Allow * on *"
    ),
    PlantedResource(
        "AWS::ECR::Repository",
        SLOPPY_REPO,
        HOME_REGION,
        ("ML-TRAIN-016", "ML-TRAIN-017"),
        "mutable tags, AES256 (no scan on push either, but the registry's enhanced scanning covers it)",
    ),
    PlantedResource(
        "AWS::ECR::RegistryScanningConfiguration",
        "registry",
        SECOND_REGION,
        ("ML-TRAIN-015",),
        "basic manual registry scanning",
    ),
    PlantedResource(
        _SM + "TrainingJob",
        SLOPPY_JOB,
        HOME_REGION,
        _TRAINING_JOB_CONTROLS,
        "no isolation, no VPC, no encryption, DB_PASSWORD hyper-parameter, image from a foreign registry",
    ),
    PlantedResource(
        _SM + "TrainingJob",
        US_JOB,
        SECOND_REGION,
        ("ML-TRAIN-023",),
        "training outside approved regions",
    ),
    PlantedResource(
        _SM + "ProcessingJob",
        SLOPPY_PROCESSING,
        HOME_REGION,
        _PROCESSING_JOB_CONTROLS,
        "no isolation, no KMS, foreign image",
    ),
    PlantedResource(
        _SM + "NotebookInstance",
        SLOPPY_NOTEBOOK,
        HOME_REGION,
        _NOTEBOOK_CONTROLS,
        "direct internet, root, no KMS, no VPC, AWS keys in the lifecycle script",
    ),
    PlantedResource(
        _SM + "Domain",
        STUDIO_DOMAIN_US,
        SECOND_REGION,
        _STUDIO_DOMAIN_CONTROLS,
        "Studio domain with public internet, no KMS",
    ),
    PlantedResource(
        _SM + "ModelPackageGroup",
        PENDING_GROUP,
        HOME_REGION,
        ("ML-STORE-002",),
        "no approved model package",
    ),
    PlantedResource(
        _SM + "Model",
        SLOPPY_MODEL,
        HOME_REGION,
        _MODEL_CONTROLS,
        "no isolation, no VPC, foreign image, DB_PASSWORD env",
    ),
    PlantedResource(
        _SM + "EndpointConfig",
        SLOPPY_EC,
        HOME_REGION,
        ("ML-DEPLOY-001",),
        "no customer-managed key (one instance and no capture: fine for a dev endpoint)",
    ),
    PlantedResource(
        _SM + "Endpoint",
        US_ENDPOINT,
        SECOND_REGION,
        ("ML-DEPLOY-007",),
        "endpoint serving outside approved regions",
    ),
    PlantedResource(
        "AWS::CloudTrail::Trail",
        LEGACY_TRAIL,
        SECOND_REGION,
        _TRAIL_CONTROLS,
        "no validation, no KMS, logging stopped",
    ),
    PlantedResource(
        "AWS::Logs::LogGroup",
        NOTEBOOK_LOGS,
        HOME_REGION,
        _LOG_GROUP_CONTROLS,
        "30-day retention, no KMS",
    ),
    PlantedResource(
        "AWS::GuardDuty::Detector",
        "detector",
        SECOND_REGION,
        ("ML-MON-008",),
        "GuardDuty off in us-east-1",
    ),
    PlantedResource(
        "AWS::Macie::Session", "session", SECOND_REGION, ("ML-DATA-010",), "Macie off in us-east-1"
    ),
    PlantedResource(
        "AWS::Bedrock::ModelInvocationLoggingConfiguration",
        "logging",
        SECOND_REGION,
        ("ML-MON-011",),
        "no Bedrock invocation logging in us-east-1",
    ),
    PlantedResource(
        "AWS::::Account",
        "account",
        "global",
        ("ML-DATA-003", "ML-TRAIN-025"),
        "no account-level public access block, root user without MFA",
    ),
    PlantedResource(
        "AWS::IAM::User",
        CONSOLE_USER,
        "global",
        ("ML-TRAIN-024",),
        "console password without MFA",
    ),
)

_HARDENED: tuple[PlantedResource, ...] = (
    PlantedResource(
        _B,
        TRAINING_BUCKET_EU,
        HOME_REGION,
        (
            "ML-DATA-001",
            "ML-DATA-002",
            "ML-DATA-004",
            "ML-DATA-006",
            "ML-DATA-007",
            "ML-DATA-008",
            "ML-DATA-009",
            "ML-DATA-011",
            "ML-DATA-013",
        ),
        "hardened training data bucket",
    ),
    PlantedResource(
        _B,
        ARTIFACTS_BUCKET_EU,
        HOME_REGION,
        ("ML-STORE-001", "ML-DATA-001"),
        "versioned, locked model artifacts",
    ),
    PlantedResource(
        "AWS::KMS::Key",
        DATA_KEY_ALIAS,
        HOME_REGION,
        ("ML-STORE-003", "ML-STORE-004", "ML-STORE-005"),
        "rotated data key",
    ),
    PlantedResource(
        "AWS::IAM::Role",
        TRAINING_ROLE,
        "global",
        ("ML-TRAIN-019", "ML-TRAIN-020"),
        "least-privilege role",
    ),
    PlantedResource(
        "AWS::ECR::Repository",
        HARDENED_REPO,
        HOME_REGION,
        ("ML-TRAIN-014", "ML-TRAIN-016", "ML-TRAIN-017"),
        "immutable, scanned, KMS",
    ),
    PlantedResource(
        "AWS::ECR::RegistryScanningConfiguration",
        "registry",
        HOME_REGION,
        ("ML-TRAIN-015",),
        "enhanced continuous scanning",
    ),
    PlantedResource(
        _SM + "TrainingJob",
        HARDENED_JOB,
        HOME_REGION,
        (*_TRAINING_JOB_CONTROLS, "ML-TRAIN-023"),
        "hardened training job",
    ),
    PlantedResource(
        _SM + "ProcessingJob",
        HARDENED_PROCESSING,
        HOME_REGION,
        _PROCESSING_JOB_CONTROLS,
        "isolated processing job with customer-managed keys",
    ),
    PlantedResource(
        _SM + "NotebookInstance",
        HARDENED_NOTEBOOK,
        HOME_REGION,
        _NOTEBOOK_CONTROLS,
        "hardened notebook",
    ),
    PlantedResource(
        _SM + "Domain",
        STUDIO_DOMAIN_EU,
        HOME_REGION,
        _STUDIO_DOMAIN_CONTROLS,
        "VPC-only Studio domain",
    ),
    PlantedResource(
        _SM + "ModelPackageGroup",
        APPROVED_GROUP,
        HOME_REGION,
        ("ML-STORE-002",),
        "approved release",
    ),
    PlantedResource(
        _SM + "Model",
        HARDENED_MODEL,
        HOME_REGION,
        _MODEL_CONTROLS,
        "isolated model in VPC, own image",
    ),
    PlantedResource(
        _SM + "EndpointConfig",
        HARDENED_EC,
        HOME_REGION,
        ("ML-DEPLOY-001", "ML-DEPLOY-002", "ML-DEPLOY-003", "ML-DEPLOY-004"),
        "KMS, capture, 2 instances",
    ),
    PlantedResource(
        _SM + "Endpoint", HARDENED_ENDPOINT, HOME_REGION, ("ML-DEPLOY-007",), "EU endpoint"
    ),
    PlantedResource(
        "AWS::CloudTrail::Trail",
        ORG_TRAIL,
        HOME_REGION,
        (*_TRAIL_CONTROLS, "ML-MON-005", "ML-MON-012"),
        "multi-region validated trail",
    ),
    PlantedResource(
        "AWS::Logs::LogGroup",
        ENDPOINT_LOGS,
        HOME_REGION,
        _LOG_GROUP_CONTROLS,
        "731 days, KMS",
    ),
    PlantedResource(
        "AWS::GuardDuty::Detector",
        "detector",
        HOME_REGION,
        ("ML-MON-008", "ML-MON-009"),
        "GuardDuty with S3 protection",
    ),
    PlantedResource(
        "AWS::Macie::Session", "session", HOME_REGION, ("ML-DATA-010",), "Macie enabled"
    ),
    PlantedResource(
        "AWS::Bedrock::ModelInvocationLoggingConfiguration",
        "logging",
        HOME_REGION,
        ("ML-MON-011",),
        "invocation logging to CloudWatch",
    ),
    PlantedResource(
        "AWS::::Account",
        "account",
        "global",
        ("ML-MON-001", "ML-TRAIN-026"),
        "multi-region trail logging, no root access keys",
    ),
    PlantedResource(
        "AWS::IAM::User", MFA_USER, "global", ("ML-TRAIN-024",), "console user with MFA"
    ),
)


# ---------------------------------------------------------------- the simulated quarter


def _week3(clients: _Clients) -> str:
    role = clients("iam").get_role(RoleName=ADMIN_ROLE)["Role"]["Arn"]
    _sloppy_notebook(clients, WEEK3_NOTEBOOK, role, None)
    return f"new notebook instance {WEEK3_NOTEBOOK} appears with direct internet access and root"


def _week4(clients: _Clients) -> str:
    key = _key_arn(clients, HOME_REGION, DATA_KEY_ALIAS)
    _sse_kms(clients, HOME_REGION, RAW_FEATURES_BUCKET_EU, key)
    return f"bucket {RAW_FEATURES_BUCKET_EU} switches default encryption from SSE-S3 to SSE-KMS ({DATA_KEY_ALIAS})"


def _week5(clients: _Clients) -> str:
    clients("ecr", HOME_REGION).put_image_scanning_configuration(
        repositoryName=SLOPPY_REPO, imageScanningConfiguration={"scanOnPush": True}
    )
    return f"ECR repository {SLOPPY_REPO} enables scan on push"


def _week6(clients: _Clients) -> str:
    sm = clients("sagemaker", HOME_REGION)
    sm.stop_notebook_instance(NotebookInstanceName=SLOPPY_NOTEBOOK)
    sm.delete_notebook_instance(NotebookInstanceName=SLOPPY_NOTEBOOK)
    return f"notebook instance {SLOPPY_NOTEBOOK} is deleted"


def _week7(clients: _Clients) -> str:
    _enable_macie(clients, SECOND_REGION)
    return f"Amazon Macie enabled in {SECOND_REGION}"


def _week8(clients: _Clients) -> str:
    clients("logs", HOME_REGION).put_retention_policy(
        logGroupName=TRAINING_LOGS, retentionInDays=30
    )
    return f"log group {TRAINING_LOGS} retention shortened from 400 to 30 days (regression)"


def _week9(clients: _Clients) -> str:
    _guardduty(clients, SECOND_REGION)
    return f"GuardDuty enabled in {SECOND_REGION}"


def _week10(clients: _Clients) -> str:
    s3 = clients("s3", HOME_REGION)
    s3.delete_bucket_policy(Bucket=RAW_FEATURES_BUCKET_EU)
    _block_public_access(clients, HOME_REGION, RAW_FEATURES_BUCKET_EU)
    return f"bucket {RAW_FEATURES_BUCKET_EU} loses its public-read policy and gains a public access block"


def _week11(clients: _Clients) -> str:
    key_id = _key_arn(clients, HOME_REGION, LEGACY_KEY_ALIAS).rsplit("/", 1)[1]
    clients("kms", HOME_REGION).enable_key_rotation(KeyId=key_id)
    return f"KMS key {LEGACY_KEY_ALIAS} gets automatic rotation"


def _week12(clients: _Clients) -> str:
    # Fixed rather than deleted: a type that vanishes from a region is a completeness warning
    # (ERROR, "evidence missing compared with the previous snapshot") until someone confirms it.
    trail = clients("cloudtrail", SECOND_REGION)
    trail.update_trail(Name=LEGACY_TRAIL, EnableLogFileValidation=True)
    trail.start_logging(Name=LEGACY_TRAIL)
    return f"stale trail {LEGACY_TRAIL} gets log file validation and starts logging again"


_WEEKLY: dict[int, Callable[[_Clients], str]] = {
    3: _week3,
    4: _week4,
    5: _week5,
    6: _week6,
    7: _week7,
    8: _week8,
    9: _week9,
    10: _week10,
    11: _week11,
    12: _week12,
}


def _key_arn(clients: _Clients, region: str, alias: str) -> str:
    kms = clients("kms", region)
    for page in kms.get_paginator("list_aliases").paginate():
        for entry in page["Aliases"]:
            if entry["AliasName"] == alias and "TargetKeyId" in entry:
                return str(kms.describe_key(KeyId=entry["TargetKeyId"])["KeyMetadata"]["Arn"])
    raise LookupError(f"KMS alias {alias} not found in {region}")


def apply_week(week: int) -> list[str]:
    """Change the estate as it changes in week `week` (1-13) of the quarter; call in order,
    once per week, after `seed_estate`. Returns what changed, one sentence per change."""
    change = _WEEKLY.get(week)
    return [change(_Clients())] if change else []


def weeks_with_changes() -> list[int]:
    return sorted(_WEEKLY)


# ---------------------------------------------------------------- the compliant twin

# Regions of the planted estate -> where the compliant twin keeps the same resource.
_TWIN_REGION = {
    HOME_REGION: HOME_REGION,
    SECOND_REGION: COMPLIANT_SECOND_REGION,
    "global": "global",
}
COMPLIANT_MODEL = "fraud-xgb-bedrock-summariser"


def _scoped_policy(account: str, buckets: list[str]) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["s3:GetObject", "s3:PutObject", "s3:ListBucket"],
                    "Resource": [
                        f"arn:aws:s3:::{b}{suffix}" for b in buckets for suffix in ("", "/*")
                    ],
                },
                {
                    "Effect": "Allow",
                    "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                    "Resource": f"arn:aws:kms:*:{account}:key/*",
                },
            ],
        }
    )


def _compliant_jobs(
    w: _Workload, bucket: str, training: tuple[str, ...], processing: tuple[str, ...]
) -> None:
    for name in training:
        _hardened_training_job(w, name, bucket)
    for name in processing:
        _hardened_processing_job(w, name, f"s3://{bucket}/features/{name}/")


def seed_compliant_estate(account_hint: str | None = None) -> EstateInfo:
    """Plant the compliant twin of the demo estate into whatever endpoint botocore is set for.

    Every resource the demo estate plants as a violation exists here under the same name and type
    (in the approved `COMPLIANT_SECOND_REGION` where the original sat in the unapproved second
    region), configured so that no AWS control FAILs; `EstateInfo.hardened` lists them with the
    controls they had failed. Everything is in `COMPLIANT_REGIONS`.
    """
    clients = _Clients()
    account = _account_id(clients, account_hint)
    eu, eu2 = COMPLIANT_REGIONS
    nets = {eu: _network(clients, eu, "10.40.0.0/16"), eu2: _network(clients, eu2, "10.42.0.0/16")}
    keys = {
        "data": _kms_key(
            clients, eu, DATA_KEY_ALIAS, "ML training data and artifacts", rotate=True
        ),
        "legacy": _kms_key(clients, eu, LEGACY_KEY_ALIAS, "Churn pipeline key", rotate=True),
        "partner": _kms_key(
            clients, eu, PARTNER_KEY_ALIAS, "Share with scoring partner", rotate=True
        ),
        "eu2": _kms_key(clients, eu2, DATA_KEY_ALIAS, "ML data (eu-central-1)", rotate=True),
    }
    _partner_key_policy(
        clients, keys["partner"], account, "arn:aws:iam::210987654321:role/scoring-partner"
    )

    # Storage: log targets first, then every data bucket hardened.
    logs_eu, logs_eu2 = ACCESS_LOGS_BUCKET_EU, "acme-ml-s3-access-logs-eu2"
    _log_bucket(clients, eu, logs_eu, account, versioned=True)
    _log_bucket(clients, eu2, logs_eu2, account, versioned=True)
    for region, name, key, tags, log in (
        (eu, TRAINING_BUCKET_EU, keys["data"], FRAUD_TAGS, logs_eu),
        (
            eu,
            ARTIFACTS_BUCKET_EU,
            keys["data"],
            ARTIFACT_TAGS,
            logs_eu,
        ),
        (eu, RAW_FEATURES_BUCKET_EU, keys["legacy"], dict(GROWTH_TAGS), logs_eu),
        (eu, TRAIL_BUCKET, keys["data"], {"team": "security", "data-class": "logs"}, logs_eu),
        (eu2, TRAINING_BUCKET_US, keys["eu2"], FRAUD_TAGS, logs_eu2),
        (
            eu2,
            ARTIFACTS_BUCKET_US,
            keys["eu2"],
            ARTIFACT_TAGS,
            logs_eu2,
        ),
    ):
        _hardened_bucket(clients, region, name, key, tags, log_bucket=log, retention_days=400)
    clients("s3control", eu).put_public_access_block(
        AccountId=account,
        PublicAccessBlockConfiguration=_ALL_PUBLIC_ACCESS_BLOCKED,
    )

    # Identity: scoped roles, console users with MFA, root with MFA and no keys.
    iam = clients("iam")
    roles: dict[str, str] = {}
    for name in (TRAINING_ROLE, ADMIN_ROLE, WILDCARD_ROLE):
        roles[name] = _sagemaker_role(iam, name)
        iam.put_role_policy(
            RoleName=name,
            PolicyName="scoped-ml-data",
            PolicyDocument=_scoped_policy(account, [TRAINING_BUCKET_EU, ARTIFACTS_BUCKET_EU]),
        )
    for user in (MFA_USER, CONSOLE_USER):
        _console_user(iam, user, mfa=True)
    _moto_root_mfa(account)

    # Registries: immutable, scanned, KMS; enhanced scanning in both regions.
    for region, key in ((eu, keys["data"]), (eu2, keys["eu2"])):
        ecr = clients("ecr", region)
        for repo in (HARDENED_REPO, SLOPPY_REPO):
            _hardened_repository(ecr, repo, key)
        _enhanced_scanning(ecr)

    # Training, processing, notebooks, Studio, registry.
    role = roles[TRAINING_ROLE]
    work = {
        eu: _Workload(clients, account, eu, nets[eu], keys["data"], role),
        eu2: _Workload(clients, account, eu2, nets[eu2], keys["eu2"], role),
    }
    _compliant_jobs(
        work[eu],
        TRAINING_BUCKET_EU,
        (HARDENED_JOB, SLOPPY_JOB),
        (HARDENED_PROCESSING, SLOPPY_PROCESSING),
    )
    _compliant_jobs(work[eu2], TRAINING_BUCKET_US, (US_JOB,), ())
    _lifecycle(
        clients,
        CLEAN_LIFECYCLE,
        "#!/bin/bash\nset -euo pipefail\npip install -q -r requirements.txt\n",
    )
    for name in (HARDENED_NOTEBOOK, SLOPPY_NOTEBOOK):
        _hardened_notebook(clients, name, nets[eu], role, keys["data"])
    for region, name, key in (
        (eu, STUDIO_DOMAIN_EU, keys["data"]),
        (eu2, STUDIO_DOMAIN_US, keys["eu2"]),
    ):
        _studio_domain(clients, region, name, nets[region], role, "VpcOnly", key)
    sm = clients("sagemaker", eu)
    for group in (APPROVED_GROUP, PENDING_GROUP):
        sm.create_model_package_group(ModelPackageGroupName=group, Tags=_tags(FRAUD_TAGS))
        _model_package(clients, account, group, "Approved", "approved by model risk review")

    # Serving: every endpoint isolated, in a VPC, own images, customer-managed keys, 2 instances.
    for region, names, tags, bucket in (
        (eu, (HARDENED_MODEL, HARDENED_EC, HARDENED_ENDPOINT), FRAUD_TAGS, ARTIFACTS_BUCKET_EU),
        (eu, (SLOPPY_MODEL, SLOPPY_EC, SLOPPY_ENDPOINT), {**FRAUD_TAGS, "env": "staging"}, ARTIFACTS_BUCKET_EU),
        (eu2, (US_MODEL, US_EC, US_ENDPOINT), FRAUD_TAGS, ARTIFACTS_BUCKET_US),
    ):  # fmt: skip
        _hardened_endpoint(
            work[region],
            names,
            tags,
            model_data_url=f"s3://{bucket}/models/{names[0]}/model.tar.gz",
            capture_bucket=bucket,
            sampling=10,
        )
    clients("bedrock", eu).create_model_customization_job(
        jobName="fraud-summariser-ft-1",
        customModelName=COMPLIANT_MODEL,
        roleArn=role,
        baseModelIdentifier="amazon.titan-text-express-v1",
        trainingDataConfig={"s3Uri": f"s3://{TRAINING_BUCKET_EU}/bedrock/train.jsonl"},
        outputDataConfig={"s3Uri": f"s3://{ARTIFACTS_BUCKET_EU}/bedrock/"},
        hyperParameters={"epochCount": "2"},
        customModelKmsKeyId=keys["data"],
    )

    # Monitoring: one validated, encrypted, logging multi-region trail with S3 data events, and
    # the formerly stale single-region trail made whole; logs kept and encrypted; detection on.
    for region, trail, multi in ((eu, ORG_TRAIL, True), (eu2, LEGACY_TRAIL, False)):
        _validated_trail(
            clients("cloudtrail", region),
            trail,
            multi_region=multi,
            key=keys["data"] if region == eu else keys["eu2"],
            data_events="S3 object-level events",
        )
    logs = clients("logs", eu)
    for group in (TRAINING_LOGS, ENDPOINT_LOGS, NOTEBOOK_LOGS):
        _log_group(logs, group, 400, keys["data"])
    for region in COMPLIANT_REGIONS:
        _guardduty(clients, region)
        _enable_macie(clients, region)
        _bedrock_invocation_logging(clients, region, account)
    return EstateInfo(
        account_id=account,
        regions=COMPLIANT_REGIONS,
        planted=(),
        hardened=tuple(
            PlantedResource(
                p.resource_type,
                p.name,
                _TWIN_REGION[p.region],
                p.controls,
                f"compliant twin of: {p.description}",
            )
            for p in _PLANTED
        ),
        names={"data_key_arn": keys["data"], "eu2_key_arn": keys["eu2"]},
    )
