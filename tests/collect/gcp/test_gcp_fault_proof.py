"""Proof: no fault on the way to Cloud Asset Inventory becomes a verdict.

A fault-injecting gRPC proxy on 127.0.0.1 (`tests/support/grpc_fault_proxy.py`) stands in front
of the local AssetService, and the real AssetServiceClient collects through it. For each fault
kind on each group of calls, and for faults mixed at random (hypothesis, derandomized, a few
examples), one live collection runs and is compared with the clean run: it completes within its
deadline, the errors are in the snapshot, the affected controls are ERROR, every other verdict is
the clean run's, and no resource without evidence is PASS or FAIL. Each run is recorded under
build/reliability/, from which scripts/reliability_report.py renders docs/RELIABILITY.md.
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.grpc_fault_proxy import (
    Call,
    GrpcFault,
    GrpcProxy,
    corrupt,
    cut_short,
    denied,
    internal,
    reset,
    serve_proxy,
    stall,
    throttled,
    unavailable,
)
from support.verdicts import assert_only_errors_changed, verdicts

from auditor.collect.gcp.assets import HIERARCHY_TYPES
from auditor.collect.gcp.live import DEADLINE, GcpAssetCollector
from auditor.models import MemorySink, Status
from devtools.asset_service import FakeAssetService, serve

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "scripts"))
import reliability_report  # noqa: E402  (a script, not a package)

EXPORT = ROOT / "tests" / "fixtures" / "gcp" / "assets_export.ndjson"
RECORDS = ROOT / "build" / "reliability"
ORG = "organizations/678901234567"
BUCKET = "storage.googleapis.com/Bucket"
DEADLINE_S = 8.0
TIMEOUT_S = 1.0  # per attempt
ATTEMPTS = 2
KINDS: dict[str, Callable[[], GrpcFault]] = {
    "RESOURCE_EXHAUSTED": throttled,
    "UNAVAILABLE": unavailable,
    "INTERNAL": internal,
    "PERMISSION_DENIED": denied,
    "reset (cancelled by the server)": reset,
    "stall past the call timeout": lambda: stall(TIMEOUT_S + 1.0),
    "truncated protobuf": lambda: cut_short(0.5),
    "corrupted protobuf": corrupt,
}
# Which calls a fault hits: the groups the collector lists, and one asset type inside them.
TARGETS: dict[str, Callable[[Call], bool]] = {
    "hierarchy": lambda c: bool(set(c.asset_types) & HIERARCHY_TYPES),
    "resources": lambda c: (
        c.content_type == "RESOURCE" and not set(c.asset_types) & HIERARCHY_TYPES
    ),
    "iam policies": lambda c: c.content_type == "IAM_POLICY",
    "one asset type": lambda c: BUCKET in c.asset_types,
}


@dataclass
class Outcome:
    sink: MemorySink
    seconds: float
    faults_served: int


@pytest.fixture(scope="module")
def proxy() -> Iterator[GrpcProxy]:
    service = FakeAssetService.from_records(
        json.loads(line) for line in EXPORT.read_text().splitlines()
    )
    with serve(service) as upstream, serve_proxy(upstream) as front:
        yield front


@pytest.fixture(scope="module")
def clean(proxy: GrpcProxy) -> dict[tuple[str, str], Status]:
    outcome = _collect(proxy, None)
    assert not outcome.sink.errors, outcome.sink.errors
    found = verdicts(outcome.sink.docs, outcome.sink.errors, "gcp")
    assert {Status.PASS, Status.FAIL} <= set(found.values())
    return found


def _collect(
    proxy: GrpcProxy, rule: Callable[[Call], GrpcFault | None] | None, deadline: float = DEADLINE_S
) -> Outcome:
    proxy.clear()
    if rule is not None:
        proxy.rules.append(rule)
    sink = MemorySink()
    begun = time.monotonic()
    GcpAssetCollector(
        ORG,
        endpoint=proxy.endpoint,
        salt=b"s",
        max_attempts=ATTEMPTS,
        backoff_initial=0.05,
        requests_per_minute=None,
        timeout=TIMEOUT_S,
        deadline_seconds=deadline,
    ).collect(sink)
    seconds = time.monotonic() - begun
    return Outcome(sink, seconds, sum(proxy.faults.values()))


def _check(clean: dict[tuple[str, str], Status], outcome: Outcome) -> dict[str, object]:
    """The properties every faulty run must have; returns the run's record."""
    # within the deadline, plus one attempt in flight when it passed and a second of slack
    assert outcome.seconds < DEADLINE_S + TIMEOUT_S + 1, outcome.seconds
    after = verdicts(outcome.sink.docs, outcome.sink.errors, "gcp")
    assert_only_errors_changed(clean, after)
    with_evidence = {d.resource_id for d in outcome.sink.docs}
    judged = [k for k, s in after.items() if s in (Status.PASS, Status.FAIL)]
    assert all(resource in with_evidence for _, resource in judged)
    if outcome.faults_served and not outcome.sink.errors:
        assert after == clean  # every fault was retried away
    errored = {k[0] for k, s in after.items() if s is Status.ERROR}
    return {
        "seconds": round(outcome.seconds, 2),
        "faults_served": outcome.faults_served,
        "errors": len(outcome.sink.errors),
        "error_codes": sorted({e.error_code for e in outcome.sink.errors}),
        "verdicts_changed_to_error": sum(1 for k, s in clean.items() if after.get(k) != s),
        "controls_error": len(errored),
    }


def _record(name: str, kind: str, record: dict[str, object]) -> None:
    RECORDS.mkdir(parents=True, exist_ok=True)
    with (RECORDS / f"{name}.jsonl").open("a", encoding="utf-8") as out:
        out.write(json.dumps({"kind": kind, **record}, sort_keys=True) + "\n")


@pytest.fixture(scope="module", autouse=True)
def _records_and_doc() -> Iterator[None]:
    """Fresh records for this module; when every case ran, docs/RELIABILITY.md must show them."""
    for path in RECORDS.glob("gcp-*.jsonl"):
        path.unlink()
    yield
    kinds = RECORDS / "gcp-kinds.jsonl"
    complete = kinds.is_file() and kinds.read_text().count("\n") == len(KINDS) * len(TARGETS)
    if complete and (RECORDS / "gcp-mixed.jsonl").exists():
        assert reliability_report.section_current(reliability_report.render_gcp_faults()), (
            "docs/RELIABILITY.md is not current: run python scripts/reliability_report.py"
        )


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("target", list(TARGETS))
def test_each_fault_kind_on_each_group_is_an_error_never_a_verdict(
    proxy: GrpcProxy, clean: dict[tuple[str, str], Status], kind: str, target: str
) -> None:
    make, hits = KINDS[kind], TARGETS[target]
    outcome = _collect(proxy, lambda call: make() if hits(call) else None)
    assert outcome.faults_served
    record = _check(clean, outcome)
    assert outcome.sink.errors  # persistent: every attempt failed, so it is in the snapshot
    assert record["verdicts_changed_to_error"]  # and the affected controls say ERROR
    if target == "one asset type" and kind == "PERMISSION_DENIED":  # retried per type: the
        # denial is the bucket type's alone, every other type is collected
        assert {e.resource_type for e in outcome.sink.errors} == {BUCKET}
    _record("gcp-kinds", kind, {"target": target, **record})


def test_a_burst_shorter_than_the_retries_changes_nothing(
    proxy: GrpcProxy, clean: dict[tuple[str, str], Status]
) -> None:
    served: list[str] = []

    def burst(call: Call) -> GrpcFault | None:
        if call.page_token or call.parent != ORG or (call.content_type, call.asset_types) in served:
            return None
        served.append((call.content_type, call.asset_types))  # type: ignore[arg-type]
        return throttled() if len(served) % 2 else unavailable()

    outcome = _collect(proxy, burst)
    assert outcome.faults_served >= 3 and not outcome.sink.errors
    assert verdicts(outcome.sink.docs, outcome.sink.errors, "gcp") == clean


def test_a_call_stalling_past_the_run_deadline_ends_in_errors_not_a_hang(
    proxy: GrpcProxy, clean: dict[tuple[str, str], Status]
) -> None:
    """Every call stalls 30 s, each attempt may take its timeout: without the run deadline the
    collection would take minutes; with 3 s it ends then, and what was not listed is ERROR."""
    collector_timeout = 30.0
    proxy.clear()
    proxy.rules.append(lambda call: stall(60.0) if call.content_type == "RESOURCE" else None)
    sink = MemorySink()
    begun = time.monotonic()
    GcpAssetCollector(
        ORG,
        endpoint=proxy.endpoint,
        salt=b"s",
        max_attempts=8,
        requests_per_minute=None,
        timeout=collector_timeout,
        deadline_seconds=3.0,
    ).collect(sink)
    seconds = time.monotonic() - begun
    assert seconds < 3.0 + 2.0, seconds
    codes = {e.error_code for e in sink.errors if e.field is None}
    assert DEADLINE in codes or "DEADLINE_EXCEEDED" in codes
    assert any(e.error_code == DEADLINE for e in sink.errors), sink.errors
    after = verdicts(sink.docs, sink.errors, "gcp")
    assert_only_errors_changed(clean, after)
    assert Status.ERROR in after.values()


@settings(
    derandomize=True,
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    plan=st.lists(
        st.tuples(
            st.sampled_from(sorted(TARGETS)),
            st.sampled_from(sorted(KINDS)),
            st.sampled_from([0.3, 0.6, 1.0]),
        ),
        min_size=1,
        max_size=4,
    ),
    seed=st.integers(0, 2**16),
)
def test_faults_mixed_at_random_never_become_verdicts(
    proxy: GrpcProxy,
    clean: dict[tuple[str, str], Status],
    plan: list[tuple[str, str, float]],
    seed: int,
) -> None:
    chance = random.Random(seed)

    def rule(call: Call) -> GrpcFault | None:
        for target, kind, probability in plan:
            if TARGETS[target](call) and chance.random() < probability:
                return KINDS[kind]()
        return None

    record = _check(clean, _collect(proxy, rule))
    _record("gcp-mixed", "mixed", {"plan": [list(p) for p in plan], **record})
