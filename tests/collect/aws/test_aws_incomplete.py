"""A describe response that drops a security setting is incomplete evidence: ERROR, not a verdict.

moto stands in for an API or intermediary that drops fields: it ignores EnableNetworkIsolation on
create_model. Here a botocore after-call hook removes the key from moto's real response (the shape
moto cannot produce itself), and the real collector and evaluator take it from there.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import boto3
from aws_estate import ACCOUNT, MemorySink, Proxy, reset

from auditor.collect.aws.scope import AwsCollector
from auditor.collect.aws.specs import SPECS
from auditor.evaluate import evaluate_snapshot
from auditor.models import Status, utcnow
from auditor.pipeline import load_catalog
from devtools.factories import snapshot


def _collect(drop: bool) -> MemorySink:
    session = boto3.Session(region_name="us-east-1")
    if drop:

        def strip(parsed: dict[str, Any], **_: Any) -> None:
            parsed.pop("EnableNetworkIsolation", None)

        session.events.register("after-call.sagemaker.DescribeModel", strip)
    sink = MemorySink()
    specs = tuple(s for s in SPECS if s.resource_type == "AWS::SageMaker::Model")
    AwsCollector(regions=["us-east-1"], specs=specs, session=session).collect(sink)
    return sink


def _verdict(sink: MemorySink, control_id: str) -> Status:
    catalog = load_catalog()
    control = catalog.control(control_id)
    assert control is not None
    (finding,) = [
        f
        for f in evaluate_snapshot(
            catalog,
            snapshot("s1", sink.docs, errors=sink.errors, taken_at=utcnow(), scope={}),
            frameworks=None,
            on=date.today(),
        )
        if f.control_id == control_id
    ]
    return finding.status


def test_a_dropped_network_isolation_setting_gives_error(proxy: Proxy) -> None:
    reset(proxy)
    boto3.client("sagemaker", region_name="us-east-1").create_model(
        ModelName="fraud-xgb",
        ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/x",
        PrimaryContainer={"Image": f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/fraud:1"},
        EnableNetworkIsolation=True,
    )
    dropped = _collect(drop=True)
    (error,) = dropped.errors
    assert error.field == "EnableNetworkIsolation"
    assert error.error_code == "IncompleteResponse"
    assert error.operation == "DescribeModel"
    assert error.resource_id == dropped.docs[0].resource_id
    assert "EnableNetworkIsolation" not in dropped.docs[0].data
    assert _verdict(dropped, "ML-DEPLOY-005") is Status.ERROR

    complete = _collect(drop=False)
    assert complete.errors == []
    assert _verdict(complete, "ML-DEPLOY-005") in (Status.PASS, Status.FAIL)
