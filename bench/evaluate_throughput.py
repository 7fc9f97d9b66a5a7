"""Evaluation throughput: 1,000,000 evidence documents against a realistic catalog.

Estate: 100,000 resources of six AWS types; 10 weekly snapshots in which 2% of the resources
change each week (so ~118,000 distinct documents among 1,000,000). The catalog has 29 controls
with rules of the shapes the shipped catalog uses, two of which only JMESPath can run
(custom functions). Measures audit() over all 10 snapshots (verdicts, period-end findings,
effectiveness, roll-ups and pandas summaries), in separate processes so each peak RSS is its own:

  fast+cache, sha from store   the production path: the store knows each document's sha256
  fast+cache, sha computed     documents arrive without their content address
  jmespath+cache               the fast path disabled (every rule through JMESPath)
  cold snapshot, fast / jmespath   one 100,000-document snapshot with an empty cache

Target (issue 7): >= 200,000 control evaluations/s on one core, peak memory < 4 GB.
Run: /tmp/venv/bin/python bench/evaluate_throughput.py [--resources 100000 --snapshots 10]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

from auditor.evaluate import VerdictCache, audit, evaluate_snapshot
from auditor.models import (
    Catalog,
    Control,
    EvidenceDoc,
    Framework,
    Requirement,
    Severity,
    Snapshot,
    SnapshotManifest,
    Stage,
)

ACCOUNT = "123456789012"
REGIONS = ("us-east-1", "eu-west-1")
T0 = datetime(2026, 10, 2, 6, 0, tzinfo=UTC)

S3, TRAIN, ENDPOINT = "AWS::S3::Bucket", "AWS::SageMaker::TrainingJob", "AWS::SageMaker::Endpoint"
KMS, LOGS, ROLE = "AWS::KMS::Key", "AWS::Logs::LogGroup", "AWS::IAM::Role"
NAME_FIELD = {S3: "Name", TRAIN: "TrainingJobName", ENDPOINT: "EndpointName", KMS: "KeyId",
              LOGS: "logGroupName", ROLE: "RoleName"}  # fmt: skip
TYPE_MIX = [(S3, 0.30), (TRAIN, 0.25), (ENDPOINT, 0.10), (KMS, 0.10), (LOGS, 0.15), (ROLE, 0.10)]

RULES: list[tuple[str, str, str | None]] = [
    (S3, "Encryption.Rules[0].ApplyServerSideEncryptionByDefault.SSEAlgorithm == 'aws:kms'", None),
    (
        S3,
        "PublicAccessBlock.BlockPublicAcls && PublicAccessBlock.IgnorePublicAcls && "
        "PublicAccessBlock.BlockPublicPolicy && PublicAccessBlock.RestrictPublicBuckets",
        None,
    ),
    (S3, "Versioning.Status == 'Enabled'", None),
    (S3, "Logging != null", None),
    (S3, "!_redacted", None),
    (
        S3,
        "contains(Policy.Statement[?Effect=='Deny'].Condition.Bool.\"aws:SecureTransport\" || `[]`, 'false')",
        None,
    ),
    (S3, "PolicyStatus.IsPublic == `false`", None),
    (S3, 'contains(`["us-east-1", "eu-west-1"]`, Region)', None),
    (S3, "ObjectLock.ObjectLockEnabled == 'Enabled'", "Tags[?Key=='retention']"),
    (TRAIN, "EnableNetworkIsolation == `true`", None),
    (TRAIN, "EnableInterContainerTrafficEncryption == `true`", None),
    (TRAIN, "OutputDataConfig.KmsKeyId != null && ResourceConfig.VolumeKmsKeyId != null", None),
    (TRAIN, "length(VpcConfig.Subnets || `[]`) > `0`", None),
    (TRAIN, "!_redacted", None),
    (TRAIN, "re_search('^arn:aws:iam::[0-9]+:role/sm-', RoleArn)", None),
    (
        TRAIN,
        "days_between(TrainingStartTime, TrainingEndTime) < `30`",
        "TrainingJobStatus == 'Completed'",
    ),
    (ENDPOINT, "length(MonitoringSchedules || `[]`) > `0`", None),
    (ENDPOINT, "EndpointConfig.KmsKeyId != null", None),
    (ENDPOINT, "EndpointConfig.DataCaptureConfig.EnableCapture == `true`", None),
    (
        ENDPOINT,
        "length(EndpointConfig.ProductionVariants[?InitialInstanceCount < `2`]) == `0`",
        None,
    ),
    (KMS, "KeyRotationEnabled == `true`", "KeyManager == 'CUSTOMER'"),
    (KMS, "KeyState == 'Enabled' || KeyState == 'PendingDeletion'", None),
    (KMS, "!contains(Policy.Statement[?Effect=='Allow'].Principal.AWS || `[]`, '*')", None),
    (LOGS, "retentionInDays >= `365`", None),
    (LOGS, "kmsKeyId != null", None),
    (
        ROLE,
        "!contains(AttachedPolicies[].PolicyArn, 'arn:aws:iam::aws:policy/AdministratorAccess')",
        None,
    ),
    (ROLE, "length(InlinePolicies[].Document.Statement[][?Action=='*']) == `0`", None),
    (
        ROLE,
        "AssumeRolePolicyDocument.Statement[0].Principal.Service == 'sagemaker.amazonaws.com'",
        None,
    ),
    (ROLE, "MaxSessionDuration <= `3600`", None),
]


def build_catalog() -> Catalog:
    requirement = Requirement("gdpr", "Art. 32(1)(a)", "Security of processing")
    controls = []
    for index, (resource_type, rule, applies_if) in enumerate(RULES, start=1):
        controls.append(
            Control(
                id=f"ML-BENCH-{index:03d}",
                title=f"Bench control {index}",
                stage=Stage.DATA,
                severity=Severity.HIGH,
                rationale="",
                resource_types=(resource_type,),
                rule=rule,
                applies_if=applies_if,
                pass_reason=f"{{{NAME_FIELD[resource_type]}}} meets control {index}.",
                fail_reason=f"{{{NAME_FIELD[resource_type]}}} does not meet control {index}; fix it.",
                remediation="",
                remediation_snippet="",
                references=(),
                maps_to={"gdpr": ("Art. 32(1)(a)",)},
                digest=f"digest-{index}",
            )
        )
    framework = Framework("gdpr", "GDPR", "2016/679", "", (requirement,))
    return Catalog({"gdpr": framework}, tuple(controls), "bench")


def _tags(rng: random.Random) -> list[dict[str, str]]:
    tags = [{"Key": "team", "Value": rng.choice(["ml", "data", "platform"])}]
    if rng.random() < 0.3:
        tags.append({"Key": "retention", "Value": "7y"})
    return tags


def make_data(
    resource_type: str, n: int, version: int, rng: random.Random
) -> tuple[str, dict[str, Any]]:
    ok = rng.random() < 0.7
    region = REGIONS[n % 2]
    if resource_type == S3:
        name = f"ml-data-{n}"
        return name, {
            "Name": name, "CreationDate": "2025-03-01T10:00:00Z", "Region": region, "Tags": _tags(rng),
            "Encryption": {"Rules": [{"ApplyServerSideEncryptionByDefault": {
                "SSEAlgorithm": "aws:kms" if ok else "AES256",
                "KMSMasterKeyID": f"arn:aws:kms:{region}:{ACCOUNT}:key/{n:08d}" if ok else None},
                "BucketKeyEnabled": True}]},
            "PublicAccessBlock": {"BlockPublicAcls": True, "IgnorePublicAcls": True,
                                  "BlockPublicPolicy": ok, "RestrictPublicBuckets": True},
            "AccountPublicAccessBlock": None,
            "Policy": {"Version": "2012-10-17", "Statement": [{"Sid": "DenyInsecureTransport", "Effect": "Deny",
                       "Principal": "*", "Action": "s3:*", "Resource": [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"],
                       "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]} if ok else None,
            "PolicyStatus": {"IsPublic": False}, "Versioning": {"Status": "Enabled"} if ok else {},
            "Logging": {"TargetBucket": "logs", "TargetPrefix": f"{name}/"} if rng.random() < 0.8 else None,
            "ObjectLock": {"ObjectLockEnabled": "Enabled"} if ok else None,
            "Acl": {"Owner": {"ID": "a" * 64}, "Grants": [{"Grantee": {"ID": "a" * 64, "Type": "CanonicalUser"},
                    "Permission": "FULL_CONTROL"}]}, "Version": version,
        }  # fmt: skip
    if resource_type == TRAIN:
        name = f"train-{n}"
        return name, {
            "TrainingJobName": name, "TrainingJobArn": f"arn:aws:sagemaker:{region}:{ACCOUNT}:training-job/{name}",
            "TrainingJobStatus": "Completed", "Region": region,
            "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/{'sm-' if ok else ''}train",
            "AlgorithmSpecification": {"TrainingImage": f"{ACCOUNT}.dkr.ecr.{region}.amazonaws.com/train:1",
                                       "TrainingInputMode": "File"},
            "HyperParameters": {"epochs": "10", "lr": "0.01"},
            "OutputDataConfig": {"KmsKeyId": "alias/ml" if ok else None, "S3OutputPath": f"s3://out/{name}"},
            "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 50,
                               "VolumeKmsKeyId": "alias/ml" if rng.random() < 0.8 else None},
            "VpcConfig": {"SecurityGroupIds": ["sg-1"], "Subnets": ["subnet-1"]} if ok else None,
            "EnableNetworkIsolation": ok, "EnableInterContainerTrafficEncryption": rng.random() < 0.6,
            "TrainingStartTime": "2026-09-01T00:00:00Z", "TrainingEndTime": "2026-09-02T00:00:00Z",
            "Tags": _tags(rng), "_redacted": [] if ok else ["HyperParameters.api_token"], "Version": version,
        }  # fmt: skip
    if resource_type == ENDPOINT:
        name = f"ep-{n}"
        return name, {
            "EndpointName": name, "EndpointArn": f"arn:aws:sagemaker:{region}:{ACCOUNT}:endpoint/{name}",
            "EndpointStatus": "InService", "Region": region, "Tags": _tags(rng),
            "EndpointConfig": {"EndpointConfigName": name, "KmsKeyId": "alias/ml" if ok else None,
                "ProductionVariants": [{"VariantName": "main", "InitialInstanceCount": 2 if ok else 1,
                                        "InstanceType": "ml.m5.large"}],
                "DataCaptureConfig": {"EnableCapture": ok, "InitialSamplingPercentage": 10}},
            "MonitoringSchedules": [{"MonitoringScheduleName": f"{name}-mon"}] if ok else [], "Version": version,
        }  # fmt: skip
    if resource_type == KMS:
        key = f"{n:08d}-0000-0000-0000-000000000000"
        return key, {
            "KeyId": key, "Arn": f"arn:aws:kms:{region}:{ACCOUNT}:key/{key}", "KeyState": "Enabled",
            "KeyManager": "CUSTOMER" if rng.random() < 0.8 else "AWS", "KeySpec": "SYMMETRIC_DEFAULT",
            "KeyUsage": "ENCRYPT_DECRYPT", "Origin": "AWS_KMS", "KeyRotationEnabled": ok, "Region": region,
            "Policy": {"Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                                      "Action": "kms:*", "Resource": "*"}]},
            "Aliases": [f"alias/k{n}"], "Tags": [{"TagKey": "team", "TagValue": "ml"}], "Version": version,
        }  # fmt: skip
    if resource_type == LOGS:
        name = f"/aws/sagemaker/TrainingJobs/{n}"
        return name, {"logGroupName": name, "arn": f"arn:aws:logs:{region}:{ACCOUNT}:log-group:{name}",
                      "retentionInDays": 400 if ok else 30, "kmsKeyId": "alias/logs" if ok else None,
                      "storedBytes": 1024 * n, "Region": region, "Version": version}  # fmt: skip
    name = f"sm-role-{n}"
    return name, {
        "RoleName": name, "Arn": f"arn:aws:iam::{ACCOUNT}:role/{name}", "MaxSessionDuration": 3600, "Region": "global",
        "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
        "AttachedPolicies": [{"PolicyName": "AmazonSageMakerFullAccess",
                              "PolicyArn": "arn:aws:iam::aws:policy/AmazonSageMakerFullAccess"}]
        + ([] if ok else [{"PolicyName": "AdministratorAccess",
                           "PolicyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}]),
        "InlinePolicies": [{"PolicyName": "s3", "Document": {"Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject" if ok else "*", "Resource": "*"}]}}],
        "Version": version,
    }  # fmt: skip


def build_snapshots(resources: int, snapshots: int, prime_sha: bool) -> list[Snapshot]:
    """Snapshots whose unchanged documents share one data object, as a store with a document
    cache would load them; `prime_sha` sets each document's content address as the store knows it."""
    rng = random.Random(7)
    types = rng.choices([t for t, _ in TYPE_MIX], weights=[w for _, w in TYPE_MIX], k=resources)
    current: list[EvidenceDoc] = []
    for n, resource_type in enumerate(types):
        name, data = make_data(resource_type, n, 0, rng)
        region = data["Region"] if data["Region"] != "global" else "us-east-1"
        resource_id = (
            data.get("Arn")
            or data.get("arn")
            or data.get("TrainingJobArn")
            or data.get("EndpointArn")
            or f"arn:aws:s3:::{name}"
        )
        current.append(EvidenceDoc("aws", ACCOUNT, region, resource_type, resource_id, name, data))
    shas: dict[int, str] = {}
    result = []
    for week in range(snapshots):
        if week:
            for n in rng.sample(range(resources), resources // 50):  # 2% change each week
                old = current[n]
                _, data = make_data(old.resource_type, n, week, rng)
                current[n] = EvidenceDoc(old.provider, old.account, old.region, old.resource_type,
                                         old.resource_id, old.name, data)  # fmt: skip
        docs = []
        for base in current:
            doc = EvidenceDoc(base.provider, base.account, base.region, base.resource_type,
                              base.resource_id, base.name, base.data)  # fmt: skip
            if prime_sha:
                key = id(base.data)
                if key not in shas:
                    shas[key] = base.sha256
                doc.__dict__["sha256"] = shas[key]
            docs.append(doc)
        taken = T0 + timedelta(days=7 * week)
        manifest = SnapshotManifest(
            id=f"snap-{week:02d}", provider="aws", scope={}, started_at=taken, finished_at=taken,
            tool_version="bench", catalog_sha256="bench", counts={}, stats={}, errors=(), files={},
            previous_sha256=None,
        )  # fmt: skip
        result.append(Snapshot(manifest, tuple(docs)))
    return result


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_mode(mode: str, resources: int, snapshots: int) -> dict[str, Any]:
    catalog = build_catalog()
    prime = mode != "audit-sha-computed"
    snaps = build_snapshots(resources, 1 if mode.startswith("cold") else snapshots, prime)
    fast = mode not in ("audit-jmespath", "cold-jmespath")
    before = peak_rss_mb()
    started = time.perf_counter()
    if mode.startswith("cold"):
        findings = evaluate_snapshot(catalog, snaps[0], frameworks=["gdpr"], on=date(2026, 12, 31),
                                     cache=VerdictCache(), use_fast_path=fast)  # fmt: skip
        evaluations = sum(1 for f in findings if f.status != "NOT_APPLICABLE")
    else:
        result = audit(catalog, snaps, period=None, frameworks=["gdpr"], on=date(2026, 12, 31),
                       metadata={}, use_fast_path=fast)  # fmt: skip
        evaluations = sum(
            t.counts["PASS"] + t.counts["FAIL"] + t.counts["ERROR"] + t.counts["WAIVED"]
            for t in result.trend
        )
    seconds = time.perf_counter() - started
    return {
        "mode": mode,
        "documents": sum(len(s.documents) for s in snaps),
        "distinct_documents": len({id(d.data) for s in snaps for d in s.documents}),
        "evaluations": evaluations,
        "seconds": round(seconds, 2),
        "evaluations_per_s": round(evaluations / seconds),
        "peak_rss_mb_before": round(before),
        "peak_rss_mb": round(peak_rss_mb()),
    }


MODES = ["audit-fast", "audit-sha-computed", "audit-jmespath", "cold-fast", "cold-jmespath"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, default=100_000)
    parser.add_argument("--snapshots", type=int, default=10)
    parser.add_argument("--mode", choices=MODES)
    parser.add_argument("--modes", default=",".join(MODES))
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(run_mode(args.mode, args.resources, args.snapshots)))
        return
    print(
        f"{len(RULES)} controls; {args.resources} resources x {args.snapshots} snapshots; one core"
    )
    header = f"{'mode':<20}{'docs':>10}{'distinct':>10}{'evals':>10}{'s':>8}{'evals/s':>10}{'peak MB':>9}"
    print(header)
    for mode in args.modes.split(","):
        out = subprocess.run(
            [sys.executable, __file__, "--mode", mode, "--resources", str(args.resources),
             "--snapshots", str(args.snapshots)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"{r['mode']:<20}{r['documents']:>10}{r['distinct_documents']:>10}{r['evaluations']:>10}"
            f"{r['seconds']:>8}{r['evaluations_per_s']:>10}{r['peak_rss_mb']:>9}",
            flush=True,
        )


if __name__ == "__main__":
    main()
