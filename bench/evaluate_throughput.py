"""Evaluation throughput: 1,000,000 evidence documents against a realistic catalog.

Two catalogs (`--catalog`):

  synthetic (default)  29 controls with rules of the shapes the shipped catalog uses, two of which
                       only JMESPath can run (custom functions); 100,000 resources of six AWS types
  shipped              the real catalog (auditor.pipeline.load_catalog(), every framework), with
                       100,000 resources cloned from the per-control fixtures of every AWS resource
                       type that has some (tests/fixtures/controls/<ID>/{pass,fail}.json), pass and
                       fail variants alternating, each with its own name and ARN

Either way: 10 weekly snapshots in which 2% of the resources change each week (so ~118,000
distinct documents among 1,000,000); a shipped-catalog resource changes by switching to the other
variant of its fixture pair (the fields the rule reads) plus a version counter. Evaluations are
(documents x applicable controls): PASS + FAIL + ERROR + WAIVED verdicts. Measures audit() over all
10 snapshots (verdicts, period-end findings, effectiveness, roll-ups; the pandas summary tables
are built on demand, not by audit()), in
separate processes so each peak RSS is its own:

  fast+cache, sha from store   the production path: the store knows each document's sha256
  fast+cache, sha computed     documents arrive without their content address
  jmespath+cache               the fast path disabled (every rule through JMESPath)
  cold snapshot, fast / jmespath   one 100,000-document snapshot with an empty cache

Target (issue 7): >= 200,000 control evaluations/s on one core, peak memory < 4 GB.
Run: /tmp/venv/bin/python bench/evaluate_throughput.py [--catalog synthetic|shipped]
                                                        [--resources 100000 --snapshots 10]
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # devtools/, shared with the tests

from auditor.evaluate import VerdictCache, audit, evaluate_snapshot
from auditor.models import (
    Catalog,
    EvidenceDoc,
    Framework,
    Requirement,
    Snapshot,
)
from devtools.factories import control, snapshot

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
            control(
                f"ML-BENCH-{index:03d}",
                title=f"Bench control {index}",
                types=(resource_type,),
                rule=rule,
                applies_if=applies_if,
                pass_reason=f"{{{NAME_FIELD[resource_type]}}} meets control {index}.",
                fail_reason=f"{{{NAME_FIELD[resource_type]}}} does not meet control {index}; fix it.",
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

    def change(n: int, week: int) -> EvidenceDoc:
        old = current[n]
        _, data = make_data(old.resource_type, n, week, rng)
        return EvidenceDoc(old.provider, old.account, old.region, old.resource_type,
                           old.resource_id, old.name, data)  # fmt: skip

    return _weekly(current, change, snapshots, prime_sha, rng)


# ---------------------------------------------------------------- the shipped catalog

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "controls"

# Per AWS type with fixtures: (name field, ARN-like fields holding the name or identifying the
# resource, weight in the estate). Per-account or per-region singletons weigh little.
SHIPPED_TYPES: dict[str, tuple[str | None, tuple[str, ...], float]] = {
    "AWS::S3::Bucket": ("Name", (), 0.22),
    "AWS::SageMaker::TrainingJob": ("TrainingJobName", ("TrainingJobArn",), 0.18),
    "AWS::SageMaker::ProcessingJob": ("ProcessingJobName", ("ProcessingJobArn",), 0.06),
    "AWS::SageMaker::Model": ("ModelName", ("ModelArn",), 0.07),
    "AWS::SageMaker::EndpointConfig": ("EndpointConfigName", ("EndpointConfigArn",), 0.04),
    "AWS::SageMaker::Endpoint": ("EndpointName", ("EndpointArn",), 0.04),
    "AWS::SageMaker::NotebookInstance": ("NotebookInstanceName", ("NotebookInstanceArn",), 0.03),
    "AWS::SageMaker::ModelPackageGroup": ("ModelPackageGroupName", ("ModelPackageGroupArn",), 0.02),
    "AWS::SageMaker::Domain": ("DomainName", ("DomainArn",), 0.005),
    "AWS::KMS::Key": ("KeyId", ("Arn",), 0.06),
    "AWS::Logs::LogGroup": ("logGroupName", ("arn", "logGroupArn"), 0.12),
    "AWS::IAM::Role": ("RoleName", ("Arn",), 0.08),
    "AWS::ECR::Repository": ("repositoryName", ("repositoryArn", "repositoryUri"), 0.04),
    "AWS::CloudTrail::Trail": ("Name", ("TrailARN",), 0.01),
    "AWS::Bedrock::CustomModel": ("modelName", ("modelArn",), 0.005),
    "AWS::Bedrock::Guardrail": ("name", ("guardrailArn",), 0.005),
    "AWS::::Account": ("AccountId", (), 0.001),
    "AWS::Macie::Session": (None, (), 0.001),
    "AWS::GuardDuty::Detector": (None, (), 0.001),
    "AWS::ECR::RegistryScanningConfiguration": ("registryId", (), 0.001),
    "AWS::Bedrock::ModelInvocationLoggingConfiguration": (None, (), 0.001),
}


def shipped_catalog() -> Catalog:
    from auditor.pipeline import load_catalog

    return load_catalog()


def fixture_templates() -> dict[str, list[dict[str, Any]]]:
    """Every AWS fixture document by resource type, in (pass, fail) pairs control by control."""
    templates: dict[str, list[dict[str, Any]]] = {}
    for folder in sorted(FIXTURES.iterdir()):
        pair = [json.loads((folder / f"{v}.json").read_text("utf-8")) for v in ("pass", "fail")]
        if pair[0]["resource_type"] != pair[1]["resource_type"]:
            continue
        if pair[0]["resource_type"] in SHIPPED_TYPES:
            templates.setdefault(pair[0]["resource_type"], []).extend(p["data"] for p in pair)
    return templates


def clone_fixture(
    resource_type: str, template: dict[str, Any], n: int, version: int
) -> tuple[str, str, str, dict[str, Any]]:
    """(name, resource_id, region, data): a fixture document made into resource number n."""
    name_field, arn_fields, _ = SHIPPED_TYPES[resource_type]
    data = copy.deepcopy(template)
    region = data.get("Region") or "eu-west-1"
    suffix = f"-{n:06d}"
    name = f"{resource_type.rsplit(':', 1)[-1].lower()}{suffix}"
    if name_field is not None and isinstance(data.get(name_field), str):
        original = data[name_field]
        name = original + suffix
        data[name_field] = name
        for arn_field in arn_fields:
            value = data.get(arn_field)
            if isinstance(value, str):
                data[arn_field] = (
                    value.replace(original, name) if original in value else value + suffix
                )
    arn = next((data[f] for f in arn_fields if isinstance(data.get(f), str)), None)
    if resource_type == "AWS::S3::Bucket":
        arn = f"arn:aws:s3:::{name}"
    if arn is None:
        service = resource_type.split("::")[1].lower() or "account"
        arn = f"arn:aws:{service}:{region}:{ACCOUNT}:{name}"
    data["Version"] = version  # a change is new content even when it goes back to an old variant
    return name, arn, region, data


def build_shipped_snapshots(resources: int, snapshots: int, prime_sha: bool) -> list[Snapshot]:
    rng = random.Random(7)
    templates = fixture_templates()
    kinds = [t for t in SHIPPED_TYPES if t in templates]
    types = rng.choices(kinds, weights=[SHIPPED_TYPES[t][2] for t in kinds], k=resources)
    seen: dict[str, int] = {}
    variant: list[int] = []  # the template index each resource currently copies
    current: list[EvidenceDoc] = []
    for n, resource_type in enumerate(types):
        index = seen.get(resource_type, 0)
        seen[resource_type] = index + 1
        index %= len(templates[resource_type])  # pass, fail, pass, fail, ... control by control
        variant.append(index)
        name, arn, region, data = clone_fixture(
            resource_type, templates[resource_type][index], n, 0
        )
        current.append(EvidenceDoc("aws", ACCOUNT, region, resource_type, arn, name, data))

    def change(n: int, week: int) -> EvidenceDoc:
        old = current[n]
        variant[n] ^= 1  # the other fixture of the same control: what its rule reads changes
        template = templates[old.resource_type][variant[n]]
        _, _, _, data = clone_fixture(old.resource_type, template, n, week)
        return EvidenceDoc(old.provider, old.account, old.region, old.resource_type,
                           old.resource_id, old.name, data)  # fmt: skip

    return _weekly(current, change, snapshots, prime_sha, rng)


def _weekly(
    current: list[EvidenceDoc],
    change: Callable[[int, int], EvidenceDoc],
    snapshots: int,
    prime_sha: bool,
    rng: random.Random,
) -> list[Snapshot]:
    """Weekly snapshots, 2% of the resources changed each week; unchanged documents share one
    data object (as a store's document cache loads them) and, with `prime_sha`, the content
    address computed once when the document was made, set as the store sets it."""
    resources = len(current)
    shas: dict[int, str] = {}
    result = []
    for week in range(snapshots):
        if week:
            for n in rng.sample(range(resources), resources // 50):
                current[n] = change(n, week)
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
        result.append(
            snapshot(f"snap-{week:02d}", docs, taken_at=taken, took=timedelta(0), scope={})
        )
    return result


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_mode(mode: str, resources: int, snapshots: int, which: str = "synthetic") -> dict[str, Any]:
    shipped = which == "shipped"
    catalog = shipped_catalog() if shipped else build_catalog()
    frameworks = None if shipped else ["gdpr"]  # the shipped controls map to every framework
    prime = mode != "audit-sha-computed"
    build = build_shipped_snapshots if shipped else build_snapshots
    snaps = build(resources, 1 if mode.startswith("cold") else snapshots, prime)
    fast = mode not in ("audit-jmespath", "cold-jmespath")
    before = peak_rss_mb()
    started = time.perf_counter()
    if mode.startswith("cold"):
        findings = evaluate_snapshot(catalog, snaps[0], frameworks=frameworks, on=date(2026, 12, 31),
                                     cache=VerdictCache(), use_fast_path=fast)  # fmt: skip
        evaluations = sum(1 for f in findings if f.status in COUNTED)
    else:
        result = audit(catalog, snaps, period=None, frameworks=frameworks, on=date(2026, 12, 31),
                       metadata={}, use_fast_path=fast)  # fmt: skip
        evaluations = sum(sum(t.counts[s] for s in COUNTED) for t in result.trend)
    seconds = time.perf_counter() - started
    return {
        "mode": mode,
        "catalog": which,
        "controls": sum(1 for c in catalog.controls if not c.manual),
        "documents": sum(len(s.documents) for s in snaps),
        "distinct_documents": len({id(d.data) for s in snaps for d in s.documents}),
        "evaluations": evaluations,
        "seconds": round(seconds, 2),
        "evaluations_per_s": round(evaluations / seconds),
        "peak_rss_mb_before": round(before),
        "peak_rss_mb": round(peak_rss_mb()),
    }


COUNTED = ("PASS", "FAIL", "ERROR", "WAIVED")
MODES = ["audit-fast", "audit-sha-computed", "audit-jmespath", "cold-fast", "cold-jmespath"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", choices=["synthetic", "shipped"], default="synthetic")
    parser.add_argument("--resources", type=int, default=100_000)
    parser.add_argument("--snapshots", type=int, default=10)
    parser.add_argument("--mode", choices=MODES)
    parser.add_argument("--modes", default=",".join(MODES))
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(run_mode(args.mode, args.resources, args.snapshots, args.catalog)))
        return
    controls = (
        sum(1 for c in shipped_catalog().controls if not c.manual)
        if args.catalog == "shipped"
        else len(RULES)
    )
    print(
        f"{args.catalog} catalog, {controls} automated controls; {args.resources} resources x "
        f"{args.snapshots} snapshots; one core"
    )
    header = f"{'mode':<20}{'docs':>10}{'distinct':>10}{'evals':>10}{'s':>8}{'evals/s':>10}{'peak MB':>9}"
    print(header)
    for mode in args.modes.split(","):
        out = subprocess.run(
            [sys.executable, __file__, "--mode", mode, "--resources", str(args.resources),
             "--snapshots", str(args.snapshots), "--catalog", args.catalog],
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
