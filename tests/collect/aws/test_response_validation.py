"""`response_problem`: which 2xx answers are their operation's answer (pure, no server)."""

from __future__ import annotations

import json
from typing import Any

import botocore.session
import pytest

from auditor.collect.aws.engine import response_problem

SESSION = botocore.session.get_session()


def _op(service: str, name: str) -> Any:
    return SESSION.get_service_model(service).operation_model(name)


def _answer(body: bytes, length: int | None = None) -> dict[str, Any]:
    headers = {"content-length": str(len(body) if length is None else length)}
    return {"status_code": 200, "headers": headers, "body": body, "context": {}}


ROTATION = json.dumps({"KeyRotationEnabled": True}).encode()
POLICY = json.dumps({"Statement": [{"Effect": "Deny", "Action": "s3:*"}]}).encode()


@pytest.mark.parametrize(
    ("service", "operation", "answer"),
    [
        ("kms", "GetKeyRotationStatus", _answer(ROTATION)),
        # a member this botocore does not know yet, beside known ones: AWS added a field
        ("kms", "GetKeyRotationStatus", _answer(b'{"KeyRotationEnabled": true, "NewField": 1}')),
        ("kms", "ListKeys", _answer(b'{"Keys": [], "Truncated": false}')),
        ("s3", "GetBucketPolicy", _answer(POLICY)),
        ("bedrock", "GetModelInvocationLoggingConfiguration", _answer(b"{}")),
    ],
)
def test_answers_that_fit_their_operation(service: str, operation: str, answer: dict) -> None:
    assert response_problem(_op(service, operation), answer) is None


@pytest.mark.parametrize(
    ("service", "operation", "answer", "words"),
    [
        ("kms", "GetKeyRotationStatus", _answer(ROTATION[:10], len(ROTATION)), "Content-Length"),
        ("kms", "GetKeyRotationStatus", _answer(ROTATION[:10]), "not JSON"),
        ("kms", "GetKeyRotationStatus", _answer(b'{"message": "timeout"}'), "none of"),
        ("kms", "ListKeys", _answer(b'{"Keys": [], "message": "partial"}'), "error members"),
        ("kms", "ListKeys", _answer(b"[1, 2]"), "not an object"),
        ("sagemaker", "DescribeTrainingJob", _answer(b"{}"), "empty object"),
        ("s3", "GetBucketPolicy", _answer(POLICY[:25]), "not valid JSON"),
        (
            "s3",
            "GetBucketEncryption",
            _answer(b"<ServerSideEncryptionConfiguration><Rule>"),
            "parsed",
        ),
        ("s3", "GetBucketEncryption", _answer(b""), "empty"),
        ("sts", "GetCallerIdentity", _answer(b"\x00<<\xff"), "parsed"),
    ],
)
def test_answers_that_do_not_fit_are_named(
    service: str, operation: str, answer: dict, words: str
) -> None:
    problem = response_problem(_op(service, operation), answer)
    assert problem is not None and words in problem and operation in problem


TRAINING_JOB = {
    "TrainingJobName": "churn",
    "TrainingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/churn",
    "ModelArtifacts": {"S3ModelArtifacts": "s3://m/churn.tar.gz"},
    "TrainingJobStatus": "Completed",
    "SecondaryStatus": "Completed",
    "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    "CreationTime": 1767225600,
    "EnableNetworkIsolation": True,
}


def test_an_answer_missing_one_required_member_is_partial() -> None:
    """One required member of the output shape gone (an intermediary dropped it) is not the
    operation's answer: it would read as that setting absent."""
    whole = _answer(json.dumps(TRAINING_JOB).encode())
    assert response_problem(_op("sagemaker", "DescribeTrainingJob"), whole) is None
    for member in ("TrainingJobStatus", "StoppingCondition", "ModelArtifacts"):
        partial = {k: v for k, v in TRAINING_JOB.items() if k != member}
        problem = response_problem(
            _op("sagemaker", "DescribeTrainingJob"), _answer(json.dumps(partial).encode())
        )
        assert problem is not None and member in problem and "lacks the required" in problem


def test_members_the_declarations_require_are_enforced_too() -> None:
    """GetKeyRotationStatus's KeyRotationEnabled is not `required` in the botocore model, but
    the API always returns it: declared by `Call.required`, an answer without it is partial."""
    op = _op("kms", "GetKeyRotationStatus")
    partial = _answer(b'{"KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab"}')
    assert response_problem(op, partial) is None  # the model alone cannot tell
    problem = response_problem(op, partial, ("KeyRotationEnabled",))
    assert problem is not None and "KeyRotationEnabled" in problem
    assert response_problem(op, _answer(ROTATION), ("KeyRotationEnabled",)) is None


def test_the_declared_members_cover_the_rotation_status() -> None:
    from auditor.collect.aws.engine import declared_required
    from auditor.collect.aws.specs import SPECS

    assert "KeyRotationEnabled" in declared_required(SPECS)["kms"]["GetKeyRotationStatus"]


@pytest.mark.parametrize(
    "body",
    [
        b'{"message": "upstream request timeout"}',  # a proxy's answer in place of the policy
        b"upstream request timeout",
        b'["not", "a", "policy"]',
    ],
)
def test_a_bucket_policy_without_a_statement_is_not_a_policy(body: bytes) -> None:
    """S3 returns the policy as the raw body, so any 200 body parses as GetBucketPolicy's
    answer; read as a policy with no statements it would make a log-delivery bucket look
    like a data bucket (ML-DATA-001 then applies and FAILs where it should say nothing)."""
    problem = response_problem(_op("s3", "GetBucketPolicy"), _answer(body))
    assert problem is not None and "GetBucketPolicy" in problem
    assert "not a policy" in problem or "not valid JSON" in problem
