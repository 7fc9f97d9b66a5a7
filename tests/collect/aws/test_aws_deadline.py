"""A run has a deadline: calls still stalling when it passes end in collection errors (ERROR),
never a hang, and every verdict that did not need them is the clean run's."""

from __future__ import annotations

import time
from collections.abc import Iterator

import boto3
import pytest
from aws_estate import MemorySink, Proxy, Request, reset
from support.verdicts import assert_only_errors_changed, verdicts

from auditor.collect.aws.scope import AwsCollector
from auditor.collect.aws.specs import SPECS
from auditor.models import Status
from devtools.aws_proxy import Fault, stall

TYPES = ("AWS::KMS::Key", "AWS::Logs::LogGroup")
SPECS_HERE = tuple(s for s in SPECS if s.resource_type in TYPES)


@pytest.fixture(scope="module")
def estate(proxy: Proxy) -> Iterator[None]:
    reset(proxy)
    kms = boto3.client("kms")
    for _ in range(3):
        kms.enable_key_rotation(KeyId=kms.create_key()["KeyMetadata"]["KeyId"])
    boto3.client("logs").create_log_group(logGroupName="/fine")
    yield
    proxy.rules.clear()


def _run(proxy: Proxy, fault: Fault | None, **options: float) -> tuple[MemorySink, float, dict]:
    proxy.rules.clear()
    if fault is not None:
        proxy.rules.append(lambda r: fault if r.operation == "DescribeKey" else None)
    sink = MemorySink()
    begun = time.monotonic()
    stats = AwsCollector(regions=["us-east-1"], specs=SPECS_HERE, **options).collect(sink)  # type: ignore[arg-type]
    proxy.rules.clear()
    return sink, time.monotonic() - begun, stats


def _stalls(request: Request) -> bool:
    return request.operation == "DescribeKey"


def test_a_call_stalling_on_every_attempt_stops_at_the_deadline(proxy: Proxy, estate: None) -> None:
    clean, _, _ = _run(proxy, None)
    # every attempt stalls past its 1 s read timeout; 1 + 8 attempts would take > 18 s. The
    # deadline leaves the calls that do not stall (the log groups) ample time on a busy machine.
    sink, took, stats = _run(proxy, stall(2), read_timeout=1, max_attempts=8, deadline_seconds=6)
    assert took < 6 + 1 + 2, took  # deadline + grace + one attempt in flight
    codes = {e.error_code for e in sink.errors}
    assert codes <= {"DeadlineExceeded", "Timeout"} and "DeadlineExceeded" in codes
    before, after = verdicts(clean.docs, clean.errors), verdicts(sink.docs, sink.errors)
    rotation = {k: s for k, s in after.items() if k[0] == "ML-STORE-003"}
    assert rotation and set(rotation.values()) == {Status.ERROR}
    assert_only_errors_changed(before, after)
    assert [d.name for d in sink.of("AWS::Logs::LogGroup")] == ["/fine"]
    assert stats["deadline_exceeded"] + stats["abandoned_tasks"] >= 1


def test_calls_still_in_flight_after_the_grace_are_abandoned_as_errors(
    proxy: Proxy, estate: None
) -> None:
    clean, _, _ = _run(proxy, None)
    # the deadline leaves the calls before the stalled one ample time on a busy machine
    sink, took, stats = _run(proxy, stall(15), read_timeout=30, max_attempts=0, deadline_seconds=5)
    assert took < 5 + 1 + 1.5, took  # not the 15 s stall, not the 30 s read timeout
    assert stats["abandoned_tasks"] >= 1, (stats, sink.errors)
    abandoned = [e for e in sink.errors if e.error_code == "DeadlineExceeded"]
    assert abandoned and all(e.resource_type == "AWS::KMS::Key" for e in abandoned)
    assert all(e.resource_id and e.resource_id.startswith("arn:aws:kms:") for e in abandoned)
    after = verdicts(sink.docs, sink.errors)
    assert {s for k, s in after.items() if k[0] == "ML-STORE-003"} == {Status.ERROR}
    assert_only_errors_changed(verdicts(clean.docs, clean.errors), after)
