"""The least-privilege IAM policy the AWS collector needs, derived from the declarations.

Every operation a declaration can call maps to one IAM action: the API name under the service's
IAM prefix, except for the few operations whose action is named differently (kept explicit
below). A new call in `specs.py` therefore shows up here without anyone remembering to add it.
"""

from __future__ import annotations

from typing import Any

from auditor.collect.aws import specs as aws_specs

# boto3 service name -> IAM action prefix, where they differ.
IAM_PREFIX: dict[str, str] = {"s3control": "s3"}

# (service, operation) -> IAM action, where the action is not the operation's name.
ACTION_OVERRIDES: dict[tuple[str, str], str] = {
    ("s3", "ListBuckets"): "s3:ListAllMyBuckets",
    ("s3", "GetBucketEncryption"): "s3:GetEncryptionConfiguration",
    ("s3", "GetPublicAccessBlock"): "s3:GetBucketPublicAccessBlock",
    ("s3", "GetObjectLockConfiguration"): "s3:GetBucketObjectLockConfiguration",
    ("s3", "GetBucketLifecycleConfiguration"): "s3:GetLifecycleConfiguration",
    ("s3control", "GetPublicAccessBlock"): "s3:GetAccountPublicAccessBlock",
}

# Verbs of read-only API operations; anything else is refused when the policy is built.
READ_ONLY_VERBS = ("Get", "List", "Describe")


def iam_action(service: str, operation: str) -> str:
    """The IAM action that authorises `operation` of boto3 service `service`."""
    override = ACTION_OVERRIDES.get((service, operation))
    if override:
        return override
    return f"{IAM_PREFIX.get(service, service)}:{operation}"


def _actions(operations: frozenset[tuple[str, str]]) -> list[str]:
    actions = sorted({iam_action(service, op) for service, op in operations})
    for action in actions:
        verb = action.split(":", 1)[1]
        if not verb.startswith(READ_ONLY_VERBS):
            raise ValueError(f"declared operation {action} is not read-only")
    return actions


def aws_permissions_policy() -> dict[str, Any]:
    """IAM policy document (JSON-ready) with exactly the read-only actions the collector calls."""
    scope_operations = {
        op for op in aws_specs.SCOPE_OPERATIONS if op != ("sts", "AssumeRole")
    }  # AssumeRole is granted to the caller by the audited role's trust policy, not here
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AuditorReadEvidence",
                "Effect": "Allow",
                "Action": _actions(aws_specs.operations()),
                "Resource": "*",
            },
            {
                "Sid": "AuditorDiscoverScope",
                "Effect": "Allow",
                "Action": _actions(frozenset(scope_operations)),
                "Resource": "*",
            },
        ],
    }
