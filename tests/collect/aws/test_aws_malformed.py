"""A 200 answer that is not its operation's answer is retried, then a collection error: ERROR.

Seen through a loopback proxy in front of moto: a body cut short (with and without a
Content-Length that admits it), corrupted bytes, a bare `{"message": ...}` object. Before the
response validation in the engine's clients, each became evidence and flipped a verdict.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import boto3
import pytest
from aws_estate import ACCOUNT, MemorySink, Proxy, Request, reset, seed_account
from support.verdicts import assert_only_errors_changed, verdicts

from auditor.collect.aws.scope import AwsCollector
from auditor.collect.aws.specs import SPECS
from auditor.models import Status
from devtools.aws_proxy import Fault, corrupt, cut_short

TYPES = (
    "AWS::KMS::Key",
    "AWS::SageMaker::TrainingJob",
    "AWS::SageMaker::NotebookInstance",
    "AWS::S3::Bucket",
)


@pytest.fixture(scope="module")
def estate(proxy: Proxy) -> Iterator[dict[str, str]]:
    reset(proxy)
    yield seed_account(boto3.Session(region_name="us-east-1"))
    proxy.rules.clear()


def _collect(proxy: Proxy, rule: Callable[[Request], Fault | None] | None) -> MemorySink:
    proxy.rules.clear()
    if rule is not None:
        proxy.rules.append(rule)
    sink = MemorySink()
    specs = tuple(s for s in SPECS if s.resource_type in TYPES)
    collector = AwsCollector(regions=["us-east-1"], specs=specs, max_attempts=2)
    collector.collect(sink)
    proxy.rules.clear()
    sink.call_log = collector.call_log  # type: ignore[attr-defined]
    return sink


def _on(target: str, fault: Fault) -> Callable[[Request], Fault | None]:
    return lambda request: fault if request.operation == target else None


def _policy(fault: Fault) -> Callable[[Request], Fault | None]:
    return lambda r: (
        fault if r.method == "GET" and r.path.endswith(f"ml-logs-{ACCOUNT}?policy") else None
    )


def _key(estate: dict[str, str]) -> str:
    return estate["key_arn"]


CASES = {
    "rotation status: bare message": (
        _on("GetKeyRotationStatus", corrupt("message")),
        "ML-STORE-003",
        lambda e: e["key_arn"],
    ),
    "rotation status: cut short": (
        _on("GetKeyRotationStatus", cut_short(0.5)),
        "ML-STORE-003",
        lambda e: e["key_arn"],
    ),
    "training job: garbage": (
        _on("DescribeTrainingJob", corrupt("garbage")),
        "ML-TRAIN-001",
        lambda e: f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:training-job/churn-train",
    ),
    "notebook: garbage": (
        _on("DescribeNotebookInstance", corrupt("garbage")),
        "ML-TRAIN-013",
        lambda e: f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:notebook-instance/research",
    ),
    "notebook: empty object": (
        _on("DescribeNotebookInstance", corrupt("empty")),
        "ML-TRAIN-013",
        lambda e: f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:notebook-instance/research",
    ),
    "bucket policy: cut short, length admits it": (
        _policy(cut_short(0.6, admit=True)),
        "ML-DATA-006",
        lambda e: f"arn:aws:s3:::ml-logs-{ACCOUNT}",
    ),
    "bucket policy: cut short": (
        _policy(cut_short(0.6)),
        "ML-DATA-006",
        lambda e: f"arn:aws:s3:::ml-logs-{ACCOUNT}",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_broken_answer_is_an_error_never_a_verdict(
    proxy: Proxy, estate: dict[str, str], case: str
) -> None:
    rule, control, resource = CASES[case]
    clean = _collect(proxy, None)
    assert not [e for e in clean.errors if e.resource_type in TYPES]
    before = verdicts(clean.docs, clean.errors)
    key = (control, resource(estate))
    assert before[key] in (Status.PASS, Status.FAIL)

    broken = _collect(proxy, rule)
    errors = [e for e in broken.errors if e.error_code == "MalformedResponse"]
    assert errors, [(e.operation, e.error_code) for e in broken.errors]
    after = verdicts(broken.docs, broken.errors)
    assert after[key] is Status.ERROR
    # retried like a transient fault: 1 + max_attempts attempts for the broken operation
    failed = [r for r in broken.call_log if r.error_code == "MalformedResponse"]  # type: ignore[attr-defined]
    assert failed and all(r.attempts == 3 for r in failed)
    assert_only_errors_changed(before, after)


def test_a_malformed_key_list_does_not_make_keys_vanish(
    proxy: Proxy, estate: dict[str, str]
) -> None:
    clean = _collect(proxy, None)
    assert verdicts(clean.docs, clean.errors)[("ML-STORE-003", estate["key_arn"])] is Status.PASS
    broken = _collect(proxy, _on("ListKeys", corrupt("message")))
    [error] = [e for e in broken.errors if e.resource_type == "AWS::KMS::Key"]
    assert (error.operation, error.error_code, error.resource_id) == (
        "ListKeys",
        "MalformedResponse",
        None,
    )
    statuses = {
        s for (c, _), s in verdicts(broken.docs, broken.errors).items() if c == "ML-STORE-003"
    }
    assert statuses == {Status.ERROR}  # not NOT_APPLICABLE: the keys are unknown, not absent


def test_one_broken_attempt_is_retried_into_the_clean_answer(
    proxy: Proxy, estate: dict[str, str]
) -> None:
    clean = _collect(proxy, None)
    served: list[int] = []

    def once(request: Request) -> Fault | None:
        if request.operation == "GetKeyRotationStatus" and not served:
            served.append(1)
            return corrupt("garbage")
        return None

    recovered = _collect(proxy, once)
    assert served and not [e for e in recovered.errors if e.resource_type in TYPES]
    assert verdicts(recovered.docs, recovered.errors) == verdicts(clean.docs, clean.errors)
