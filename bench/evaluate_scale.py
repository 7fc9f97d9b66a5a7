"""Evaluation of 1,000,000 cold documents: one process vs a Dask LocalCluster of 2 processes.

"Cold": every document is new to the verdict cache. The estate is `evaluate_throughput.py`'s
synthetic one (29 controls, six AWS types) over 10 weekly snapshots in which *every* document
changes each week, so 1,000,000 documents are 1,000,000 distinct contents to judge. Measured:

  one process   `audit()` as `auditor evaluate` runs it, with an empty verdict cache
  dask-local:2  `pipeline.judge_verdicts` on a LocalCluster of 2 worker processes (documents
                shipped in partitions, verdict-cache entries back), then the same `audit()`
                reading that cache; the cluster's start-up is reported apart

Each mode runs in its own child process (peak RSS is its own; a worker's is reported by
Dask). Both must give the same statuses; the speed-up target (issue 15) is >= 1.7x.

    python bench/evaluate_scale.py [--documents 1000000] [--snapshots 10] [--partition 5000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from evaluate_throughput import (
    ACCOUNT,
    TYPE_MIX,
    _weekly,
    build_catalog,
    make_data,
    peak_rss_mb,
)

from auditor.models import EvidenceDoc, Snapshot

ON = date(2026, 12, 31)


def cold_snapshots(documents: int, snapshots: int) -> list[Snapshot]:
    """`snapshots` weeks of documents/snapshots resources, every document changed every week."""
    resources = documents // snapshots
    rng = random.Random(11)
    types = rng.choices([t for t, _ in TYPE_MIX], weights=[w for _, w in TYPE_MIX], k=resources)
    current: list[EvidenceDoc] = []
    for n, resource_type in enumerate(types):
        name, data = make_data(resource_type, n, 0, rng)
        region = data["Region"] if data["Region"] != "global" else "us-east-1"
        rid = data.get("Arn") or data.get("arn") or data.get("TrainingJobArn") or data.get(
            "EndpointArn") or f"arn:aws:s3:::{name}"  # fmt: skip
        current.append(EvidenceDoc("aws", ACCOUNT, region, resource_type, rid, name, data))

    def change(n: int, week: int) -> EvidenceDoc:
        old = current[n]
        data = dict(old.data, Version=week)  # new content, same verdicts' shape: all cold
        return EvidenceDoc(old.provider, old.account, old.region, old.resource_type,
                           old.resource_id, old.name, data)  # fmt: skip

    return _weekly(current, change, snapshots, True, _AllChange(rng))


class _AllChange:
    """A random source for `_weekly` under which every resource changes every week."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def random(self) -> float:
        return 0.0

    def sample(self, population: Any, k: int) -> list[Any]:
        return list(population)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._rng, name)


def run_mode(mode: str, documents: int, snapshots: int, partition: int) -> dict[str, Any]:
    from auditor import pipeline
    from auditor.evaluate import VerdictCache, audit
    from auditor.executors import parse_executor

    catalog = build_catalog()
    snaps = cold_snapshots(documents, snapshots)
    distinct = len({d.sha256 for s in snaps for d in s.documents})
    children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu0, started = time.process_time(), time.perf_counter()
    judge_s = 0.0
    cache = VerdictCache()
    if mode != "one-process":
        cache = pipeline.judge_verdicts(
            catalog, snaps, frameworks=["gdpr"], executor=parse_executor(mode, 2),
            partition_size=partition,
        )  # fmt: skip
        judge_s = time.perf_counter() - started
    result = audit(catalog, snaps, period=None, frameworks=["gdpr"], on=ON, cache=cache)
    seconds = time.perf_counter() - started
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # the cluster's workers, reaped
    workers_cpu = (children.ru_utime - children0.ru_utime) + (
        children.ru_stime - children0.ru_stime
    )
    statuses = Counter(str(f.status) for f in result.findings)
    evaluations = sum(sum(t.counts[s] for s in ("PASS", "FAIL", "ERROR", "WAIVED"))
                      for t in result.trend)  # fmt: skip
    return {
        "mode": mode,
        "documents": sum(len(s.documents) for s in snaps),
        "distinct": distinct,
        "evaluations": evaluations,
        "seconds": round(seconds, 2),
        "judge_s": round(judge_s, 2),
        "driver_cpu_s": round(time.process_time() - cpu0, 2),
        "workers_cpu_s": round(workers_cpu, 2),
        "peak_rss_mb": round(peak_rss_mb()),
        "statuses": dict(sorted(statuses.items())),
    }


def _cluster_start_seconds() -> float:
    from auditor.executors import open_executor, parse_executor

    started = time.perf_counter()
    with open_executor(parse_executor("dask-local:2", 2)) as pool:
        pool.submit(int, 1).result()
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=1_000_000)
    parser.add_argument("--snapshots", type=int, default=10)
    parser.add_argument("--partition", type=int, default=5_000)
    parser.add_argument("--modes", default="one-process,dask-local:2")
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:
        if args.mode == "cluster-start":
            print(json.dumps({"cluster_start_s": round(_cluster_start_seconds(), 2)}))
            return
        print(json.dumps(run_mode(args.mode, args.documents, args.snapshots, args.partition)))
        return
    print(f"{args.documents:,} cold documents ({args.snapshots} snapshots), synthetic catalog, "
          f"partitions of {args.partition:,}; load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores")  # fmt: skip
    results = {}
    for mode in [*args.modes.split(","), "cluster-start"]:
        out = subprocess.run(
            [sys.executable, __file__, "--mode", mode, "--documents", str(args.documents),
             "--snapshots", str(args.snapshots), "--partition", str(args.partition)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        results[mode] = json.loads(out.stdout.strip().splitlines()[-1])
        print(json.dumps(results[mode]), flush=True)
    one = results.get("one-process")
    cluster = results.get("dask-local:2")
    if one and cluster:
        assert one["statuses"] == cluster["statuses"], "the executors disagree"
        start = results["cluster-start"]["cluster_start_s"]
        print(
            f"one process {one['seconds']} s; LocalCluster:2 {cluster['seconds']} s "
            f"(judging {cluster['judge_s']} s) + {start} s cluster start: "
            f"{one['seconds'] / cluster['seconds']:.2f}x (target >= 1.7x), "
            f"{one['seconds'] / (cluster['seconds'] + start):.2f}x counting the start; "
            f"driver peak {one['peak_rss_mb']} / {cluster['peak_rss_mb']} MB; "
            f"load average now {os.getloadavg()[0]:.1f}"
        )
        # what the CPU seconds say, whatever else ran: the driver's work is serial, the
        # workers' is shared by two processes
        bound = max(cluster["driver_cpu_s"], cluster["workers_cpu_s"] / 2)
        print(
            f"CPU: one process {one['driver_cpu_s']} s; cluster driver {cluster['driver_cpu_s']} s"
            f" + workers {cluster['workers_cpu_s']} s: on two idle cores at best "
            f"{one['driver_cpu_s'] / bound:.2f}x"
        )


if __name__ == "__main__":
    main()
