"""The IAM policy is derived from the declarations, complete and read-only."""

from __future__ import annotations

import re

import botocore.session

from auditor.collect.aws import specs as aws_specs
from auditor.collect.aws.permissions import READ_ONLY_VERBS, aws_permissions_policy, iam_action

WRITE_VERBS = re.compile(
    r"^(Create|Put|Delete|Update|Tag|Untag|Start|Stop|Enable|Disable|Attach|Detach|Modify|"
    r"Set|Add|Remove|Associate|Disassociate|Invoke|Run|Send|Accept|Reject|Register|Deregister)"
)


def _actions() -> set[str]:
    return {a for statement in aws_permissions_policy()["Statement"] for a in statement["Action"]}


def test_every_declared_operation_is_allowed() -> None:
    actions = _actions()
    operations = aws_specs.operations() | (aws_specs.SCOPE_OPERATIONS - {("sts", "AssumeRole")})
    assert operations, "declarations are empty"
    for service, operation in operations:
        assert iam_action(service, operation) in actions, (service, operation)


def test_no_action_writes() -> None:
    for action in _actions():
        verb = action.split(":", 1)[1]
        assert not WRITE_VERBS.match(verb), action
        assert verb.startswith(READ_ONLY_VERBS), action


def test_policy_is_valid_iam_json_with_known_renames() -> None:
    policy = aws_permissions_policy()
    assert policy["Version"] == "2012-10-17"
    assert all(s["Effect"] == "Allow" and s["Resource"] == "*" for s in policy["Statement"])
    actions = _actions()
    assert "s3:GetEncryptionConfiguration" in actions  # GetBucketEncryption
    assert "s3:GetAccountPublicAccessBlock" in actions  # s3control GetPublicAccessBlock
    assert "s3:ListAllMyBuckets" in actions
    assert "s3:GetBucketEncryption" not in actions
    assert "sts:AssumeRole" not in actions


def test_declared_operations_exist_in_botocore() -> None:
    session = botocore.session.get_session()
    for service, operation in sorted(aws_specs.operations()):
        assert operation in session.get_service_model(service).operation_names, operation
