"""A malformed STS answer is a fault on the way, retried like any call; only a refused
credential is reported as one."""

from __future__ import annotations

import boto3
import pytest
from aws_estate import MemorySink, Proxy, Request, reset

from auditor.collect.aws.scope import AwsCollector
from auditor.collect.aws.specs import SPECS
from auditor.errors import RunError
from devtools.aws_proxy import Fault, corrupt, cut_short, xml_error

LOGS = tuple(s for s in SPECS if s.resource_type == "AWS::Logs::LogGroup")


def _sts(fault: Fault | tuple[int, dict[str, str], bytes], times: int) -> object:
    served: list[int] = []

    def rule(request: Request) -> object:
        if request.service == "sts" and len(served) < times:
            served.append(1)
            return fault
        return None

    return rule


@pytest.mark.parametrize("fault", [corrupt("garbage"), cut_short(0.5), cut_short(0.4, admit=True)])
def test_one_malformed_identity_answer_is_retried_and_the_run_completes(
    proxy: Proxy, fault: Fault
) -> None:
    reset(proxy)
    boto3.client("logs").create_log_group(logGroupName="/ok")
    proxy.rules.append(_sts(fault, times=1))  # type: ignore[arg-type]
    sink = MemorySink()
    collector = AwsCollector(regions=["us-east-1"], specs=LOGS, max_attempts=2)
    collector.collect(sink)
    assert [d.name for d in sink.docs] == ["/ok"] and not sink.errors
    assert collector.scope_calls == 1
    assert sum(1 for r in proxy.seen if r.service == "sts") == 2  # the broken one, then the retry


def test_a_persistently_malformed_identity_answer_is_not_called_a_credential_failure(
    proxy: Proxy,
) -> None:
    reset(proxy)
    proxy.rules.append(_sts(corrupt("garbage"), times=100))  # type: ignore[arg-type]
    with pytest.raises(RunError) as raised:
        AwsCollector(regions=["us-east-1"], specs=LOGS, max_attempts=1).collect(MemorySink())
    assert "MalformedResponse" in str(raised.value)
    assert "credentials are not usable" not in str(raised.value)
    assert sum(1 for r in proxy.seen if r.service == "sts") == 2


def test_a_refused_credential_is_reported_as_one_without_retries(proxy: Proxy) -> None:
    reset(proxy)
    refused = xml_error("InvalidClientTokenId", "The security token is invalid.", 403)
    proxy.rules.append(_sts(refused, times=100))  # type: ignore[arg-type]
    with pytest.raises(RunError) as raised:
        AwsCollector(regions=["us-east-1"], specs=LOGS, max_attempts=3).collect(MemorySink())
    assert "AWS credentials are not usable: InvalidClientTokenId" in str(raised.value)
    assert sum(1 for r in proxy.seen if r.service == "sts") == 1
