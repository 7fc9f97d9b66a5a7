"""Benchmark: an AWS organisation (N accounts x 2 regions, entered by assume-role) collected as
work units on one worker, a thread pool and a Dask LocalCluster of 2 processes.

moto and the latency proxy (devtools.aws_proxy) run in their own process, adding latency to every
call. Each run goes through the product's path: `pipeline.aws_collector(executor=...)` and
`pipeline.take_snapshot`, into a fresh store. Printed per executor: wall time, documents, calls,
CPU seconds per 1,000 calls (this process plus its reaped children: the Dask workers; moto and
the proxy are not counted) and the peak RSS of each worker process.

    python bench/aws_org.py --accounts 50 --latency-ms 40 [--skip-single]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent))
from aws_collect import proxy_stats, start_servers

from auditor import pipeline
from auditor.executors import parse_executor

REGIONS = ("us-east-1", "eu-west-1")
FIRST_ACCOUNT = 100000000000


def accounts(count: int) -> list[str]:
    return [str(FIRST_ACCOUNT + n) for n in range(count)]


def _assumed(account: str) -> boto3.Session:
    creds = boto3.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/auditor", RoleSessionName="seed"
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=REGIONS[0],
    )


def seed_account(account: str) -> int:
    """A small ML account: per region 3 log groups, a KMS key, a SageMaker model; a bucket and
    two roles. Returns the resources made."""
    session = _assumed(account)
    made = 0
    iam = session.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": {
            "Effect": "Allow",
            "Principal": {"Service": "sagemaker.amazonaws.com"},
            "Action": "sts:AssumeRole",
        },
    }
    for name in ("sm-exec", "pipeline"):
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
        made += 1
    session.client("s3").create_bucket(Bucket=f"data-{account}")
    made += 1
    for region in REGIONS:
        logs = session.client("logs", region_name=region)
        for n in range(3):
            logs.create_log_group(logGroupName=f"/aws/sagemaker/job-{n}")
            made += 1
        session.client("kms", region_name=region).create_key(Description="training data")
        session.client("sagemaker", region_name=region).create_model(
            ModelName="fraud",
            ExecutionRoleArn=f"arn:aws:iam::{account}:role/sm-exec",
            PrimaryContainer={"Image": f"{account}.dkr.ecr.{region}.amazonaws.com/m:1"},
        )
        made += 2
    return made


def run_once(proxy_url: str, roles: list[str], executor: str, workers: int) -> dict[str, Any]:
    os.environ["AWS_ENDPOINT_URL"] = proxy_url
    proxy_stats(proxy_url, reset=True)
    spec = parse_executor(executor, workers)
    with tempfile.TemporaryDirectory() as folder:
        store = pipeline.open_store(str(Path(folder) / "store"))
        collector = pipeline.aws_collector(
            store, role_arns=roles, regions=list(REGIONS), max_workers=workers, executor=spec
        )
        cpu_before = _cpu()
        started = time.perf_counter()
        manifest = pipeline.take_snapshot(store, collector, "0" * 64, executor=spec)
        wall = time.perf_counter() - started
        cpu = _cpu() - cpu_before
    observed = proxy_stats(proxy_url)
    calls = int(manifest.stats["calls"])
    return {
        "executor": str(spec),
        "wall_s": wall,
        "cpu_s": cpu,
        "documents": sum(manifest.counts.values()),
        "errors": len(manifest.errors),
        "error_kinds": sorted({f"{e.operation}:{e.error_code}" for e in manifest.errors})[:5],
        "calls": calls,
        "http_requests": observed["requests"],
        "cpu_s_per_1000_calls": cpu / max(calls, 1) * 1000,
        "peak_rss_mb_per_worker": manifest.stats.get("peak_rss_mb_per_worker"),
        "worker_processes": manifest.stats.get("worker_processes"),
        "units": manifest.stats.get("units"),
    }


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--latency-ms", type=float, default=40.0)
    parser.add_argument("--workers", type=int, default=16, help="threads of the thread pool")
    parser.add_argument("--skip-single", action="store_true", help="skip the one-worker run")
    args = parser.parse_args()

    process, moto_url, proxy_url = start_servers(args.latency_ms)
    runs: list[dict[str, Any]] = []
    try:
        os.environ["AWS_ENDPOINT_URL"] = moto_url
        ids = accounts(args.accounts)
        began = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            resources = sum(pool.map(seed_account, ids))
        print(
            f"seeded {resources} resources in {args.accounts} accounts x {len(REGIONS)} regions "
            f"in {time.perf_counter() - began:.1f} s; latency per call {args.latency_ms:.0f} ms; "
            f"load average before the runs {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
        )
        roles = [f"arn:aws:iam::{a}:role/auditor" for a in ids]
        plan = [("dask-local:2", args.workers), ("threads", args.workers)]
        if not args.skip_single:
            plan.append(("threads:1", 1))
        for executor, workers in plan:
            runs.append(run_once(proxy_url, roles, executor, workers))
            print(json.dumps(runs[-1]), flush=True)
    finally:
        process.terminate()
        process.wait(timeout=10)

    print()
    print(
        f"{'executor':>14} {'wall s':>8} {'docs':>6} {'errors':>6} {'calls':>6} "
        f"{'CPU s':>7} {'CPU s/1k calls':>14} {'RSS MB/worker':>13}"
    )
    for run in runs:
        print(
            f"{run['executor']:>14} {run['wall_s']:>8.1f} {run['documents']:>6} "
            f"{run['errors']:>6} {run['calls']:>6} {run['cpu_s']:>7.1f} "
            f"{run['cpu_s_per_1000_calls']:>14.2f} {run['peak_rss_mb_per_worker']:>13}"
        )
    by = {run["executor"]: run for run in runs}
    cluster, threaded = runs[0], runs[1]
    pool_cpu_share = threaded["cpu_s"] / threaded["wall_s"]
    print(
        f"thread pool: {pool_cpu_share:.2f} CPU s per wall s "
        f"({'CPU-bound' if pool_cpu_share > 0.8 else 'not CPU-bound'} on one process)"
    )
    print(
        f"LocalCluster vs thread pool: {threaded['wall_s'] / cluster['wall_s']:.2f}x (target 1.6x)"
    )
    if "threads:1" in by:
        single = by["threads:1"]
        print(
            f"thread pool vs one worker: {single['wall_s'] / threaded['wall_s']:.1f}x (target 10x)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
