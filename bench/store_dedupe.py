"""Evidence store dedupe: 13 weekly snapshots of a 10,000-resource estate, 2 % churn a week.

Prints the bytes of the store after one snapshot and after all 13, and their ratio (target: at
most 1.3x). Documents are shaped like the collector's: S3 buckets, SageMaker training jobs,
endpoints, models, IAM roles, KMS keys and log groups with realistic field sets.

    python bench/store_dedupe.py [--resources 10000] [--weeks 13] [--churn 0.02] [--store DIR]
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from auditor.evidence import open_store
from auditor.models import EvidenceDoc

ACCOUNT = "123456789012"
REGIONS = ("eu-west-1", "us-east-1")
KINDS = ("bucket", "training", "endpoint", "model", "role", "key", "loggroup")


def _tags(rng: random.Random, i: int) -> list[dict[str, str]]:
    return [
        {"Key": "team", "Value": rng.choice(["fraud", "search", "ads", "risk", "vision"])},
        {"Key": "cost-centre", "Value": f"cc-{rng.randint(100, 999)}"},
        {"Key": "owner", "Value": f"user{i % 313}@example.com"},
    ]


def make_doc(i: int, revision: int) -> EvidenceDoc:
    """Resource i at a given revision: the same inputs always give the same document."""
    rng = random.Random(i * 7919 + revision)
    kind = KINDS[i % len(KINDS)]
    region = REGIONS[i % 2]
    created = (datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=i * 37)).isoformat()
    kms = f"arn:aws:kms:{region}:{ACCOUNT}:key/{rng.getrandbits(128):032x}"
    data: dict[str, Any]
    if kind == "bucket":
        name = f"ml-data-{i:05d}"
        rtype, rid = "AWS::S3::Bucket", f"arn:aws:s3:::{name}"
        data = {
            "Name": name,
            "CreationDate": created,
            "Region": region,
            "Tags": _tags(rng, i),
            "Encryption": {
                "Rules": [
                    {
                        "ApplyServerSideEncryptionByDefault": {
                            "SSEAlgorithm": "aws:kms",
                            "KMSMasterKeyID": kms,
                        },
                        "BucketKeyEnabled": True,
                    }
                ]
            },
            "PublicAccessBlock": {
                k: True
                for k in (
                    "BlockPublicAcls",
                    "IgnorePublicAcls",
                    "BlockPublicPolicy",
                    "RestrictPublicBuckets",
                )
            },
            "Policy": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "DenyInsecureTransport",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:*",
                        "Resource": [rid, f"{rid}/*"],
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    }
                ],
            },
            "PolicyStatus": {"IsPublic": False},
            "Versioning": {"Status": "Enabled"},
            "Logging": {"TargetBucket": "access-logs", "TargetPrefix": f"{name}/"},
            "ObjectLock": None,
            "Acl": {
                "Owner": {"ID": f"{rng.getrandbits(256):064x}"},
                "Grants": [{"Permission": "FULL_CONTROL"}],
            },
        }
    elif kind == "training":
        name = f"train-{i:05d}-{revision}"
        rtype = "AWS::SageMaker::TrainingJob"
        rid = f"arn:aws:sagemaker:{region}:{ACCOUNT}:training-job/train-{i:05d}"
        data = {
            "TrainingJobName": name,
            "TrainingJobArn": rid,
            "TrainingJobStatus": "Completed",
            "SecondaryStatus": "Completed",
            "CreationTime": created,
            "HyperParameters": {
                "epochs": str(rng.randint(1, 50)),
                "lr": f"{rng.random():.5f}",
                "batch_size": str(rng.choice([32, 64, 128])),
                "api_token": "[REDACTED sha256:" + f"{rng.getrandbits(64):016x}]",
            },
            "AlgorithmSpecification": {
                "TrainingImage": f"{ACCOUNT}.dkr.ecr.{region}.amazonaws.com/"
                f"train:{rng.getrandbits(32):08x}",
                "TrainingInputMode": "File",
            },
            "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/sagemaker-exec-{i % 40}",
            "InputDataConfig": [
                {
                    "ChannelName": "train",
                    "DataSource": {
                        "S3DataSource": {
                            "S3Uri": f"s3://ml-data-{i % 997:05d}/train/",
                            "S3DataType": "S3Prefix",
                        }
                    },
                }
            ],
            "OutputDataConfig": {"KmsKeyId": kms, "S3OutputPath": f"s3://ml-models/{name}/"},
            "ResourceConfig": {
                "InstanceType": "ml.g5.2xlarge",
                "InstanceCount": 1,
                "VolumeSizeInGB": 100,
                "VolumeKmsKeyId": kms,
            },
            "VpcConfig": {
                "SecurityGroupIds": [f"sg-{rng.getrandbits(64):017x}"],
                "Subnets": [f"subnet-{rng.getrandbits(64):017x}"],
            },
            "EnableNetworkIsolation": True,
            "EnableInterContainerTrafficEncryption": True,
            "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
            "Tags": _tags(rng, i),
            "_redacted": ["HyperParameters.api_token"],
        }
    elif kind in ("endpoint", "model"):
        name = f"{kind}-{i:05d}"
        rtype = "AWS::SageMaker::Endpoint" if kind == "endpoint" else "AWS::SageMaker::Model"
        rid = f"arn:aws:sagemaker:{region}:{ACCOUNT}:{kind}/{name}"
        data = {
            f"{kind.title()}Name": name,
            f"{kind.title()}Arn": rid,
            "CreationTime": created,
            "EndpointStatus": "InService",
            "Tags": _tags(rng, i),
            "PrimaryContainer": {
                "Image": f"{ACCOUNT}.dkr.ecr.{region}.amazonaws.com/serve:"
                f"{rng.getrandbits(32):08x}",
                "Environment": {"LOG_LEVEL": "info", "MODEL_VERSION": str(revision)},
            },
            "EndpointConfig": {
                "KmsKeyId": kms,
                "ProductionVariants": [
                    {
                        "VariantName": "AllTraffic",
                        "InstanceType": "ml.m5.xlarge",
                        "InitialInstanceCount": rng.randint(1, 4),
                    }
                ],
                "DataCaptureConfig": {"EnableCapture": True, "InitialSamplingPercentage": 10},
            },
            "MonitoringSchedules": [],
        }
    elif kind == "role":
        name = f"sagemaker-exec-{i:05d}"
        rtype, rid = "AWS::IAM::Role", f"arn:aws:iam::{ACCOUNT}:role/{name}"
        data = {
            "RoleName": name,
            "Arn": rid,
            "RoleId": f"AROA{rng.getrandbits(80):020X}",
            "CreateDate": created,
            "MaxSessionDuration": 3600,
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "sagemaker.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            },
            "AttachedPolicies": [
                {
                    "PolicyName": "AmazonSageMakerFullAccess",
                    "PolicyArn": "arn:aws:iam::aws:policy/AmazonSageMakerFullAccess",
                }
            ],
            "InlinePolicies": [
                {
                    "PolicyName": "data",
                    "Document": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": ["s3:GetObject", "s3:ListBucket"],
                                "Resource": [f"arn:aws:s3:::ml-data-{i % 997:05d}/*"],
                            }
                        ],
                    },
                }
            ],
            "Tags": _tags(rng, i),
        }
    elif kind == "key":
        key_id = f"{rng.getrandbits(128):032x}"
        rtype, rid = "AWS::KMS::Key", f"arn:aws:kms:{region}:{ACCOUNT}:key/{key_id}"
        data = {
            "KeyId": key_id,
            "Arn": rid,
            "KeyState": "Enabled",
            "KeyManager": "CUSTOMER",
            "KeySpec": "SYMMETRIC_DEFAULT",
            "KeyUsage": "ENCRYPT_DECRYPT",
            "Origin": "AWS_KMS",
            "CreationDate": created,
            "KeyRotationEnabled": rng.random() > 0.1,
            "Aliases": [f"alias/ml-{i}"],
            "Tags": [{"TagKey": "team", "TagValue": "ml"}],
            "Policy": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "root",
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                        "Action": "kms:*",
                        "Resource": "*",
                    }
                ],
            },
        }
    else:
        name = f"/aws/sagemaker/TrainingJobs/{i:05d}"
        rtype = "AWS::Logs::LogGroup"
        rid = f"arn:aws:logs:{region}:{ACCOUNT}:log-group:{name}"
        data = {
            "logGroupName": name,
            "arn": rid,
            "creationTime": 1735689600000 + i,
            "retentionInDays": rng.choice([365, 400, 731]),
            "kmsKeyId": kms,
            "storedBytes": rng.randint(10**3, 10**9),
        }
    data.setdefault("Region", region)
    return EvidenceDoc("aws", ACCOUNT, region, rtype, rid, rid.rsplit("/", 1)[-1], data)


def disk_usage(root: Path) -> int:
    """Allocated bytes (st_blocks), which small files round up to the filesystem block."""
    return sum(p.stat().st_blocks * 512 for p in root.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, default=10_000)
    parser.add_argument("--weeks", type=int, default=13)
    parser.add_argument("--churn", type=float, default=0.02)
    parser.add_argument("--store", type=Path, default=None, help="default: a temporary folder")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="auditor-bench-"))
    root = args.store or workdir / "store"
    store = open_store(root)
    rng = random.Random(42)
    revisions = [0] * args.resources
    start = datetime(2026, 9, 7, 6, 0, tzinfo=UTC)
    one_snapshot = 0
    timings = []
    try:
        for week in range(args.weeks):
            if week:
                for i in rng.sample(range(args.resources), int(args.resources * args.churn)):
                    revisions[i] += 1
            began = time.perf_counter()
            with store.begin_snapshot(
                "aws", {"accounts": [ACCOUNT]}, "0" * 64, taken_at=start + timedelta(weeks=week)
            ) as writer:
                for i in range(args.resources):
                    writer.add(make_doc(i, revisions[i]))
            timings.append(time.perf_counter() - began)
            if week == 0:
                one_snapshot = store.total_bytes()
                one_disk = disk_usage(root)
        total = store.total_bytes()
        total_disk = disk_usage(root)
        began = time.perf_counter()
        result = store.verify()
        verify_seconds = time.perf_counter() - began
        began = time.perf_counter()
        latest = store.load_snapshot("latest")
        load_seconds = time.perf_counter() - began
        assert result.ok, result.problems
        assert len(latest.documents) == args.resources
        print(
            f"estate: {args.resources} resources, {args.weeks} weekly snapshots, "
            f"{args.churn:.0%} changing per week"
        )
        print(f"one snapshot:       {one_snapshot:>12,d} bytes")
        print(f"all {args.weeks} snapshots:  {total:>12,d} bytes")
        print(f"ratio:              {total / one_snapshot:>12.3f}x  (target <= 1.3x)")
        print(
            f"on disk (allocated blocks): one {one_disk:,d}, all {total_disk:,d}, "
            f"ratio {total_disk / one_disk:.3f}x"
        )
        print(f"naive (a full copy each week) would be {args.weeks:.3f}x")
        print(
            f"write: first {timings[0]:.2f} s, later mean "
            f"{sum(timings[1:]) / max(len(timings) - 1, 1):.2f} s per snapshot"
        )
        print(
            f"verify (deep, {result.objects_checked} objects): {verify_seconds:.2f} s; "
            f"load latest: {load_seconds:.2f} s"
        )
    finally:
        if args.store is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
