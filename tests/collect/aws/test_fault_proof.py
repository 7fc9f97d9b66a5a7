"""Proof: no fault on the way to AWS becomes a verdict.

A fault-injecting proxy on 127.0.0.1 stands in front of moto. For each fault kind, and for
faults mixed at random (hypothesis, derandomized, a bounded number of examples), one collection
runs against the same estate and is compared with the clean run: it completes within its
deadline, the errors are in the snapshot, every verdict is the clean run's or ERROR, and no
resource without evidence is PASS or FAIL. Each run is recorded under build/reliability/, from
which scripts/reliability_report.py renders docs/RELIABILITY.md.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from aws_estate import (
    MemorySink,
    Proxy,
    Request,
    bedrock_guardrails,
    no_monitoring_schedules,
    reset,
    seed_account,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.verdicts import assert_only_errors_changed, verdicts

from auditor import distribute, evidence
from auditor.collect.aws.scope import AwsCollector
from auditor.collect.aws.specs import SPECS
from auditor.evidence import StoredDocument
from auditor.executors import open_executor, parse_executor
from auditor.models import CollectionError, Status
from devtools.aws_proxy import (
    Fault,
    corrupt,
    cut_short,
    denied,
    reset_connection,
    server_error,
    stall,
    throttle,
)

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "scripts"))
import reliability_report  # noqa: E402  (a script, not a package)

RECORDS = ROOT / "build" / "reliability"
TYPES = (
    "AWS::KMS::Key",
    "AWS::S3::Bucket",
    "AWS::SageMaker::TrainingJob",
    "AWS::SageMaker::NotebookInstance",
    "AWS::SageMaker::Model",
    "AWS::Logs::LogGroup",
    "AWS::IAM::Role",
)
SPECS_HERE = tuple(s for s in SPECS if s.resource_type in TYPES)
SERVICES = ("kms", "s3", "sagemaker", "logs", "iam")
DEADLINE_S = 30.0
LIMITS = {"max_attempts": 1, "read_timeout": 2.0, "connect_timeout": 2.0}
# one maker per fault kind; the request decides the protocol where it matters
KINDS: dict[str, Callable[[Request], Fault]] = {
    "throttle": lambda r: throttle(service_json=bool(r.target)),
    "http503": lambda r: server_error(503),
    "reset": lambda r: reset_connection(),
    "stall past the read timeout": lambda r: stall(2.5),
    "access denied": lambda r: denied(json_protocol=bool(r.target)),
    "truncated (Content-Length claims more)": lambda r: cut_short(0.5),
    "truncated (Content-Length admits it)": lambda r: cut_short(0.5, admit=True),
    "malformed bytes": lambda r: corrupt("garbage"),
    "bare message object": lambda r: corrupt("message"),
}


@dataclass
class Outcome:
    sink: MemorySink
    seconds: float
    faults_served: int


@pytest.fixture(scope="module")
def clean(proxy: Proxy) -> Iterator[dict[tuple[str, str], Status]]:
    reset(proxy)
    seed_account(boto3.Session(region_name="us-east-1"))
    outcome = _collect(proxy, None)
    assert not outcome.sink.errors, outcome.sink.errors
    yield verdicts(outcome.sink.docs, outcome.sink.errors)
    proxy.rules.clear()


def _collect(
    proxy: Proxy, rule: Callable[[Request], Fault | None] | None, path: str = "engine"
) -> Outcome:
    """One collection through `path`: "engine", the collector in this process, or "units",
    work units on a thread pool writing into a store (what `auditor collect` runs)."""
    proxy.rules[:] = [bedrock_guardrails, no_monitoring_schedules]
    if rule is not None:
        proxy.rules.insert(0, rule)
    proxy.faults.clear()
    sink = MemorySink()
    begun = time.monotonic()
    options = {"regions": ["us-east-1"], "specs": SPECS_HERE, "deadline_seconds": DEADLINE_S}
    if path == "engine":
        AwsCollector(**options, **LIMITS).collect(sink)
    else:
        collector = AwsCollector(**options, **LIMITS, enter_on_workers=True)
        with tempfile.TemporaryDirectory() as folder:
            store = evidence.open_store(folder)
            backstop = begun + DEADLINE_S + 1
            with open_executor(parse_executor("threads:4", 4)) as pool:
                distribute.collect_units(
                    collector, pool, store, _Read(store, sink), deadline=backstop
                )
    seconds = time.monotonic() - begun
    return Outcome(sink, seconds, sum(proxy.faults.values()))


class _Read:
    """The driver's side of a units run, reading back what the workers stored."""

    def __init__(self, store: evidence.EvidenceStore, sink: MemorySink) -> None:
        self.store, self.sink = store, sink

    def add_entries(self, entries: Iterable[StoredDocument]) -> None:
        for entry in entries:
            self.sink.add(self.store.read_object(entry.sha256))

    def add_error(self, error: CollectionError) -> None:
        self.sink.add_error(error)


def _check(clean: dict[tuple[str, str], Status], outcome: Outcome) -> dict[str, object]:
    """The properties every faulty run must have; returns the run's record."""
    # within the deadline, plus the grace and one attempt in flight
    assert outcome.seconds < DEADLINE_S + 1 + LIMITS["read_timeout"] + 1, outcome.seconds
    after = verdicts(outcome.sink.docs, outcome.sink.errors)
    assert_only_errors_changed(clean, after)
    if outcome.faults_served and not outcome.sink.errors:
        # every fault was retried away: then the verdicts are exactly the clean run's
        assert after == clean
    errored = sorted({k[0] for k, s in after.items() if s is Status.ERROR})
    changed = sum(1 for k, s in clean.items() if after.get(k) != s)
    return {
        "seconds": round(outcome.seconds, 2),
        "faults_served": outcome.faults_served,
        "errors": len(outcome.sink.errors),
        "error_codes": sorted({e.error_code for e in outcome.sink.errors}),
        "verdicts_changed_to_error": changed,
        "controls_error": len(errored),
    }


def _record(name: str, kind: str, record: dict[str, object]) -> None:
    RECORDS.mkdir(parents=True, exist_ok=True)
    path = RECORDS / f"{name}.jsonl"
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps({"kind": kind, **record}, sort_keys=True) + "\n")


@pytest.fixture(scope="module", autouse=True)
def _records_and_doc() -> Iterator[None]:
    """Fresh records for this module; when every case ran, docs/RELIABILITY.md must show them."""
    for path in RECORDS.glob("aws-*.jsonl"):
        path.unlink()
    yield
    kinds = (RECORDS / "aws-kinds.jsonl").read_text().count("\n") if RECORDS.exists() else 0
    if kinds == len(KINDS) * 3 and (RECORDS / "aws-mixed.jsonl").exists():
        assert reliability_report.section_current(reliability_report.render_faults()), (
            "docs/RELIABILITY.md is not current: run python scripts/reliability_report.py"
        )


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("service", ["kms", "sagemaker", "s3"])
def test_each_fault_kind_on_one_service_is_an_error_never_a_verdict(
    proxy: Proxy, clean: dict[tuple[str, str], Status], kind: str, service: str
) -> None:
    make = KINDS[kind]
    outcome = _collect(proxy, lambda r: make(r) if r.service == service else None)
    assert outcome.faults_served
    record = _check(clean, outcome)
    assert outcome.sink.errors  # persistent: every attempt failed, so it is in the snapshot
    assert service in {e.service for e in outcome.sink.errors}  # (dependants may follow)
    assert record["verdicts_changed_to_error"]
    _record("aws-kinds", kind, {"service": service, **record})


@settings(
    derandomize=True,
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    plan=st.lists(
        st.tuples(
            st.sampled_from(SERVICES),
            st.sampled_from(sorted(KINDS)),
            st.sampled_from([0.2, 0.5, 1.0]),
        ),
        min_size=1,
        max_size=4,
    ),
    seed=st.integers(0, 2**16),
)
@pytest.mark.parametrize("path", ["engine", "units"])
def test_faults_mixed_at_random_never_become_verdicts(
    proxy: Proxy,
    clean: dict[tuple[str, str], Status],
    path: str,
    plan: list[tuple[str, str, float]],
    seed: int,
) -> None:
    chance = random.Random(seed)

    def rule(request: Request) -> Fault | None:
        for service, kind, probability in plan:
            if request.service == service and chance.random() < probability:
                return KINDS[kind](request)
        return None

    record = _check(clean, _collect(proxy, rule, path))
    _record("aws-mixed", "mixed", {"path": path, "plan": [list(p) for p in plan], **record})
