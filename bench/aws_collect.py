"""Benchmark of the AWS collector: a ~2,000-resource estate behind 40 ms of latency per call.

moto runs in its own process behind the shared proxy (devtools/aws_proxy.py), which adds the
latency and counts every HTTP request. The engine runs twice, with its default workers and with one worker,
and the script prints wall time, calls made, calls per resource, the minimum number of calls the
APIs allow for this estate, their ratio, the speed-up and the peak memory of this process.

    python bench/aws_collect.py                 # full size (>= 2,000 resources), ~5 minutes
    python bench/aws_collect.py --resources 400 # quicker, for iteration

Targets (issue #4): >= 8x faster than one worker; calls <= 1.05x the minimum; peak < 500 MB.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3

from auditor.collect.aws.engine import allow_local_s3control
from auditor.collect.aws.scope import AwsCollector
from auditor.models import CollectionError, EvidenceDoc

REGIONS = ("us-east-1", "eu-west-1")
ACCOUNT = "123456789012"
ROOT = Path(__file__).resolve().parents[1]

# Per region, at --resources 2000 (scaled linearly). Counts avoid exact page multiples.
PER_REGION = {
    "logs": 401,
    "kms": 97,
    "models": 97,
    "training": 97,
    "endpoint_configs": 49,
    "endpoints": 21,
    "notebooks": 23,
    "ecr": 97,
}
GLOBAL = {"buckets": 151, "roles": 99}  # buckets split over the two regions

# Calls per item that no batch API avoids, as declared in auditor/collect/aws/specs.py.
PER_ITEM = {
    "buckets": 10,  # location (moto's ListBuckets has no BucketRegion), encryption, PAB, policy,
    # policy status, versioning, logging, object lock, ACL, tagging
    "kms": 4,  # DescribeKey, GetKeyRotationStatus, GetKeyPolicy, ListResourceTags
    "models": 2,  # Describe + ListTags
    "training": 2,
    "endpoint_configs": 2,
    "endpoints": 4,  # Describe, ListTags, DescribeEndpointConfig, ListMonitoringSchedules
    "notebooks": 2,
    "ecr": 1,  # ListTagsForResource
    "logs": 0,  # everything is in DescribeLogGroups
    "roles": 4,  # GetRole, ListAttachedRolePolicies, ListRolePolicies, GetRolePolicy
}
PAGE = {"logs": 50, "kms": 1000, "sagemaker": 100, "ecr": 1000, "roles": 1000}


class CountingSink:
    """Counts what arrives; a store would write it, which is not what is measured here."""

    def __init__(self) -> None:
        self.documents = 0
        self.errors: list[CollectionError] = []
        self.bytes = 0

    def add(self, doc: EvidenceDoc) -> None:
        self.documents += 1
        self.bytes += len(json.dumps(doc.data))

    def add_error(self, error: CollectionError) -> None:
        self.errors.append(error)


def start_servers(latency_ms: float) -> tuple[subprocess.Popen[str], str, str]:
    """moto and the shared proxy (devtools.aws_proxy) in their own process, so the collecting
    process alone is measured; returns the process, moto's URL and the proxy's URL. Fake
    credentials and no config files, so nothing reaches beyond loopback."""
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE="/nonexistent",
        AWS_SHARED_CREDENTIALS_FILE="/nonexistent",
        AWS_EC2_METADATA_DISABLED="true",
        NO_PROXY="127.0.0.1,localhost",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "devtools.aws_proxy", "--latency-ms", str(latency_ms)],
        cwd=ROOT,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline().split()  # "moto URL proxy URL"
    if len(line) != 4:
        process.kill()
        raise RuntimeError("devtools.aws_proxy did not start")
    return process, line[1], line[3]


def proxy_stats(proxy_url: str, reset: bool = False) -> dict[str, Any]:
    parts = urlsplit(proxy_url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    connection.request("POST" if reset else "GET", "/__proxy/reset" if reset else "/__proxy/stats")
    stats: dict[str, Any] = json.loads(connection.getresponse().read())
    connection.close()
    return stats


def plan(resources: int) -> tuple[dict[str, int], dict[str, int]]:
    scale = resources / 2000
    per_region = {k: max(1, round(v * scale)) for k, v in PER_REGION.items()}
    global_ = {k: max(2, round(v * scale)) for k, v in GLOBAL.items()}
    return per_region, global_


def seed(per_region: dict[str, int], global_: dict[str, int]) -> int:
    """Creates the estate directly on moto (no latency); returns the resource count."""
    session = boto3.Session()
    iam = session.client("iam")
    trust = json.dumps(
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
    document = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
        }
    )
    managed = iam.create_policy(PolicyName="bench-managed", PolicyDocument=document)["Policy"][
        "Arn"
    ]
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/bench-role-0000"

    def role(index: int) -> None:
        name = f"bench-role-{index:04d}"
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)
        iam.attach_role_policy(RoleName=name, PolicyArn=managed)
        iam.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=document)

    def bucket(index: int) -> None:
        region = REGIONS[index % 2]
        s3 = session.client("s3", region_name=region)
        kwargs: dict[str, Any] = {"Bucket": f"bench-bucket-{index:05d}"}
        if region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        s3.create_bucket(**kwargs)

    def regional(region: str) -> None:
        logs = session.client("logs", region_name=region)
        for i in range(per_region["logs"]):
            logs.create_log_group(logGroupName=f"/bench/{region}/{i:05d}")
        kms = session.client("kms", region_name=region)
        for _ in range(per_region["kms"]):
            kms.create_key(Description="bench")
        sm = session.client("sagemaker", region_name=region)
        for i in range(per_region["models"]):
            sm.create_model(
                ModelName=f"model-{i:04d}",
                ExecutionRoleArn=role_arn,
                PrimaryContainer={"Image": "img", "Environment": {"API_TOKEN": "s3cr3t"}},
            )
        for i in range(per_region["training"]):
            sm.create_training_job(
                TrainingJobName=f"train-{i:04d}",
                AlgorithmSpecification={"TrainingImage": "img", "TrainingInputMode": "File"},
                RoleArn=role_arn,
                OutputDataConfig={"S3OutputPath": "s3://bench/out"},
                ResourceConfig={
                    "InstanceType": "ml.m5.large",
                    "InstanceCount": 1,
                    "VolumeSizeInGB": 10,
                },
                StoppingCondition={"MaxRuntimeInSeconds": 60},
                HyperParameters={"password": "s3cr3t"},
            )
        for i in range(per_region["endpoint_configs"]):
            sm.create_endpoint_config(
                EndpointConfigName=f"config-{i:04d}",
                ProductionVariants=[
                    {"VariantName": "v", "ModelName": "model-0000", "InstanceType": "ml.m5.large"}
                ],
            )
        for i in range(per_region["endpoints"]):
            sm.create_endpoint(
                EndpointName=f"endpoint-{i:04d}",
                EndpointConfigName=f"config-{i % per_region['endpoint_configs']:04d}",
            )
        for i in range(per_region["notebooks"]):
            sm.create_notebook_instance(
                NotebookInstanceName=f"nb-{i:04d}", InstanceType="ml.t3.medium", RoleArn=role_arn
            )
        ecr = session.client("ecr", region_name=region)
        for i in range(per_region["ecr"]):
            ecr.create_repository(repositoryName=f"repo-{i:04d}")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(role, range(global_["roles"])))
        list(pool.map(bucket, range(global_["buckets"])))
        list(pool.map(regional, REGIONS))
    allow_local_s3control(session.client("s3control")).put_public_access_block(
        AccountId=ACCOUNT,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    return sum(per_region.values()) * len(REGIONS) + sum(global_.values())


def minimum_calls(per_region: dict[str, int], global_: dict[str, int]) -> int:
    """One call per list page plus the per-item calls no batch API avoids."""
    pages = 0
    for _region in REGIONS:
        pages += math.ceil(per_region["logs"] / PAGE["logs"])
        pages += math.ceil(per_region["kms"] / PAGE["kms"]) + 1  # ListKeys + ListAliases (shared)
        sagemaker_lists = (
            "models", "training", "endpoint_configs", "endpoints", "notebooks",
        )  # fmt: skip
        pages += sum(max(1, math.ceil(per_region[k] / PAGE["sagemaker"])) for k in sagemaker_lists)
        pages += 4  # ListProcessingJobs, ListDomains, ListModelPackageGroups, ListModelPackages
        pages += math.ceil(per_region["ecr"] / PAGE["ecr"])
        pages += 1  # DescribeTrails
        pages += 2  # ListGuardrails, ListCustomModels
        pages += 4  # ListDetectors, GetMacieSession, GetRegistryScanningConfiguration, logging
        per_item = sum(per_region[k] * PER_ITEM[k] for k in per_region)
        pages += per_item
    pages += 1 + math.ceil(global_["roles"] / PAGE["roles"])  # ListBuckets, ListRoles
    pages += 1  # s3control GetPublicAccessBlock, shared by buckets and the account document
    pages += 2  # GetPolicy + GetPolicyVersion of the one managed policy, shared by all roles
    pages += global_["buckets"] * PER_ITEM["buckets"] + global_["roles"] * PER_ITEM["roles"]
    return pages


def run_once(proxy_url: str, workers: int) -> dict[str, Any]:
    os.environ["AWS_ENDPOINT_URL"] = proxy_url
    proxy_stats(proxy_url, reset=True)
    sink = CountingSink()
    collector = AwsCollector(regions=list(REGIONS), max_workers=workers)
    started, cpu = time.perf_counter(), time.process_time()
    stats = collector.collect(sink)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    observed = proxy_stats(proxy_url)
    return {
        "workers": workers,
        "wall_s": wall,
        "cpu_s": cpu,  # the collector's own: parsing, redaction, hashing (moto runs apart)
        "documents": sink.documents,
        "errors": len(sink.errors),
        "error_samples": [e.sentence() for e in sink.errors[:5]],
        "engine_calls": stats["calls"],
        "http_requests": observed["requests"],
        "evidence_mb": sink.bytes / 1e6,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--resources", type=int, default=2000)
    parser.add_argument("--latency-ms", type=float, default=40.0)
    parser.add_argument("--skip-single", action="store_true", help="skip the one-worker run")
    args = parser.parse_args()

    process, moto_url, proxy_url = start_servers(args.latency_ms)
    try:
        os.environ["AWS_ENDPOINT_URL"] = moto_url
        per_region, global_ = plan(args.resources)
        began = time.perf_counter()
        resources = seed(per_region, global_)
        print(
            f"seeded {resources} resources in {time.perf_counter() - began:.1f} s "
            f"across {len(REGIONS)} regions (per region {per_region}, global {global_})"
        )
        minimum = minimum_calls(per_region, global_)
        runs = [run_once(proxy_url, 16)]
        if not args.skip_single:
            runs.append(run_once(proxy_url, 1))
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # a loaded machine: the figures are already in
            process.kill()
            process.wait()

    print(f"latency per call: {args.latency_ms:.0f} ms; minimum calls for this estate: {minimum}")
    print(
        f"{'workers':>7} {'wall s':>8} {'docs':>6} {'errors':>6} {'calls':>6} "
        f"{'calls/res':>9} {'ratio':>6}"
    )
    for run in runs:
        print(
            f"{run['workers']:>7} {run['wall_s']:>8.2f} {run['documents']:>6} {run['errors']:>6} "
            f"{run['http_requests']:>6} {run['http_requests'] / resources:>9.2f} "
            f"{run['http_requests'] / minimum:>6.3f}"
        )
        for sample in run["error_samples"]:
            print(f"        error: {sample}")
    if len(runs) == 2:
        print(
            f"speed-up default workers vs 1 worker: {runs[1]['wall_s'] / runs[0]['wall_s']:.1f}x "
            "(target >= 8x)"
        )
    print(f"calls / minimum: {runs[0]['http_requests'] / minimum:.3f} (target <= 1.05)")
    cpu_ms = 1000 * runs[0]["cpu_s"] / max(1, runs[0]["http_requests"])
    print(f"collector CPU: {runs[0]['cpu_s']:.1f} s, {cpu_ms:.2f} ms per call (load average "
          f"{os.getloadavg()[0]:.1f})")  # fmt: skip
    print(f"peak memory (max RSS of the collecting process): {peak_mb:.0f} MB (target < 500 MB)")
    print(f"evidence produced: {runs[0]['evidence_mb']:.1f} MB of JSON")
    return 0


if __name__ == "__main__":
    sys.exit(main())
