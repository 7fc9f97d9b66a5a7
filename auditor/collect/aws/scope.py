"""The AWS collector: works out the scope (accounts, regions) and runs the engine over it.

Credentials and endpoints come from botocore's own chain (profiles, environment,
`AWS_ENDPOINT_URL`), so the same code audits a real organisation or a local moto server. An
account that cannot be entered is a collection error for that account, never a silent gap.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.credentials import RefreshableCredentials
from botocore.session import get_session

from auditor.collect.aws import specs as aws_specs
from auditor.collect.aws.engine import (
    PROVIDER,
    Engine,
    ResourceSpec,
    Scope,
    Target,
    classify,
    validate_responses,
)
from auditor.collect.redact import Redactor
from auditor.errors import RunError
from auditor.models import CollectionError, EvidenceSink

SESSION_NAME = "auditor"
# Error codes that mean the credentials themselves are refused (not a fault on the way).
CREDENTIAL_FAILURES = frozenset(
    {
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
        "AccessDenied",
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidAccessKeyId",
        "AuthFailure",
        "IncompleteSignature",
        "MissingAuthenticationToken",
        "NoCredentialsError",
        "PartialCredentialsError",
        "CredentialRetrievalError",
        "TokenRetrievalError",
        "SSOTokenLoadError",
        "UnauthorizedSSOTokenError",
        "ProfileNotFound",
    }
)


@dataclass(frozen=True)
class _Resolved:
    targets: tuple[Target, ...]
    regions: tuple[str, ...]
    errors: tuple[CollectionError, ...]  # accounts that could not be entered


class AwsCollector:
    """Collects every declared AWS resource type across accounts and regions into a sink."""

    provider = PROVIDER

    def __init__(
        self,
        profile: str | None = None,
        role_arns: Sequence[str] = (),
        org_role_name: str | None = None,
        regions: Sequence[str] | str | None = None,
        salt: bytes = b"auditor",
        max_workers: int = 16,
        session: Any = None,
        *,
        max_attempts: int = 5,
        connect_timeout: float = 10,
        read_timeout: float = 60,
        page_size: int | None = None,
        specs: Sequence[ResourceSpec] | None = None,
        deadline_seconds: float | None = None,
    ) -> None:
        self.profile = profile
        self.role_arns = tuple(role_arns)
        self.org_role_name = org_role_name
        self.requested_regions = regions
        self.max_workers = max_workers
        self._session = session
        self._redactor = Redactor(salt)
        self._max_attempts = max_attempts
        self.deadline_seconds = deadline_seconds
        self._config = Config(
            retries={"mode": "adaptive", "max_attempts": max_attempts},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
        self._engine_options: dict[str, Any] = {
            "max_workers": max_workers,
            "max_attempts": max_attempts,
            "connect_timeout": connect_timeout,
            "read_timeout": read_timeout,
            "page_size": page_size,
        }
        self.specs = tuple(specs) if specs is not None else aws_specs.specs()
        self._resolved: _Resolved | None = None
        self._lock = threading.Lock()
        self.engine: Engine | None = None
        self.scope_calls = 0

    # ------------------------------------------------------------ Collector protocol

    def scope(self) -> dict[str, Any]:
        resolved = self._resolve()
        return {
            "provider": PROVIDER,
            "accounts": [t.account for t in resolved.targets],
            "regions": list(resolved.regions),
            "profile": self.profile,
            "role_arns": list(self.role_arns),
            "org_role_name": self.org_role_name,
            "unreachable_accounts": sorted({e.account for e in resolved.errors}),
        }

    def collect(self, sink: EvidenceSink) -> dict[str, Any]:
        started = time.monotonic()
        resolved = self._resolve()
        for error in resolved.errors:
            sink.add_error(error)
        self.engine = Engine(
            self.specs,
            redact=self._redactor.redact,
            deadline_seconds=self.deadline_seconds,
            started=started,  # the scope calls spent part of the deadline already
            **self._engine_options,
        )
        stats = self.engine.run(resolved.targets, resolved.regions, sink)
        stats["errors"] += len(resolved.errors)
        stats["scope_calls"] = self.scope_calls
        stats["accounts"] = [t.account for t in resolved.targets]
        stats["regions"] = list(resolved.regions)
        stats["duration_s"] = round(time.monotonic() - started, 3)
        # documents made for every account whatever the calls return: they prove nothing was
        # listed, so a run with only these is an empty collection
        stats["derived_types"] = sorted(
            {s.resource_type for s in self.specs if s.scope is Scope.ACCOUNT_DOCUMENT}
        )
        return stats

    @property
    def call_log(self) -> list[Any]:
        """Every API call of the last run (service, operation, region, account, outcome)."""
        return list(self.engine.call_log) if self.engine else []

    # ------------------------------------------------------------ scope

    def _base_session(self) -> Any:
        if self._session is None:
            self._session = boto3.Session(profile_name=self.profile)
        return self._session

    def _resolve(self) -> _Resolved:
        with self._lock:
            if self._resolved is None:
                self._resolved = self._discover()
            return self._resolved

    def _discover(self) -> _Resolved:
        base = self._base_session()
        home = base.region_name or "us-east-1"
        regions = self._regions(base, home)
        partition = base.get_partition_for_region(regions[0]) or "aws"
        role_arns = list(self.role_arns)
        if self.org_role_name:
            role_arns += [
                f"arn:{partition}:iam::{account}:role/{self.org_role_name}"
                for account in self._organization_accounts(base, regions[0])
            ]
        if not role_arns:
            account = self._caller_account(base, regions[0])
            return _Resolved((Target(account, base, partition),), regions, ())
        targets: list[Target] = []
        errors: list[CollectionError] = []
        for role_arn in dict.fromkeys(role_arns):
            account = role_arn.split(":")[4] if role_arn.count(":") >= 5 else role_arn
            try:
                session = self._assumed_session(base, role_arn, regions[0])
            except Exception as error:
                code, message = classify(error)
                errors.extend(
                    CollectionError(
                        provider=PROVIDER,
                        account=account,
                        region=region,
                        service="sts",
                        operation="AssumeRole",
                        error_code=code,
                        message=f"cannot enter {role_arn}: {message}",
                    )
                    for region in regions
                )
                continue
            targets.append(Target(account, session, partition))
        return _Resolved(tuple(targets), regions, tuple(errors))

    def _regions(self, base: Any, home: str) -> tuple[str, ...]:
        requested = self.requested_regions
        if requested is None:
            return (home,)
        if isinstance(requested, str) and requested != "all":
            requested = [r.strip() for r in requested.split(",") if r.strip()]
        if requested == "all":
            ec2 = self._scope_client(base, "ec2", home)
            try:
                self.scope_calls += 1
                answer = ec2.describe_regions(AllRegions=False)
            except Exception as error:
                code, message = classify(error)
                raise RunError(f"cannot list the enabled AWS regions: {code}: {message}") from error
            names = sorted(
                r["RegionName"]
                for r in answer.get("Regions", [])
                if r.get("OptInStatus") != "not-opted-in"
            )
            return tuple(names) or (home,)
        names = list(dict.fromkeys(requested))
        return tuple(names) or (home,)

    def _scope_client(self, session: Any, service: str, region: str) -> Any:
        """Scope calls get the same response validation and retries as the engine's calls."""
        client = session.client(service, region_name=region, config=self._config)
        return validate_responses(client, self._max_attempts)

    def _caller_account(self, session: Any, region: str) -> str:
        sts = self._scope_client(session, "sts", region)
        try:
            self.scope_calls += 1
            return str(sts.get_caller_identity()["Account"])
        except Exception as error:
            code, message = classify(error)
            if code in CREDENTIAL_FAILURES:
                raise RunError(f"AWS credentials are not usable: {code}: {message}") from error
            raise RunError(
                f"could not confirm the AWS identity (sts:GetCallerIdentity failed after "
                f"{self._max_attempts + 1} attempts): {code}: {message}"
            ) from error

    def _organization_accounts(self, base: Any, region: str) -> list[str]:
        client = self._scope_client(base, "organizations", region)
        accounts: list[str] = []
        try:
            for page in client.get_paginator("list_accounts").paginate():
                self.scope_calls += 1
                accounts += [
                    a["Id"] for a in page.get("Accounts", []) if a.get("Status") == "ACTIVE"
                ]
        except Exception as error:
            code, message = classify(error)
            raise RunError(
                f"cannot list the accounts of the AWS Organization: {code}: {message}"
            ) from error
        return accounts

    def _assumed_session(self, base: Any, role_arn: str, region: str) -> Any:
        """A session whose credentials renew themselves by assuming the role again."""
        sts = self._scope_client(base, "sts", region)

        def refresh() -> dict[str, Any]:
            self.scope_calls += 1
            credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName=SESSION_NAME)[
                "Credentials"
            ]
            return {
                "access_key": credentials["AccessKeyId"],
                "secret_key": credentials["SecretAccessKey"],
                "token": credentials["SessionToken"],
                "expiry_time": credentials["Expiration"].isoformat(),
            }

        credentials = RefreshableCredentials.create_from_metadata(
            metadata=refresh(), refresh_using=refresh, method="sts-assume-role"
        )
        botocore_session = get_session()
        botocore_session._credentials = credentials  # type: ignore[attr-defined]
        botocore_session.set_config_variable("region", region)
        return boto3.Session(botocore_session=botocore_session)
