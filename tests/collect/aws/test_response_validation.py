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
