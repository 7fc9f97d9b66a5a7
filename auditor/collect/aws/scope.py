"""The AWS collector: works out the scope (accounts, regions) and runs the engine over it.

Credentials and endpoints come from botocore's own chain (profiles, environment,
`AWS_ENDPOINT_URL`), so the same code audits a real organisation or a local moto server. An
account that cannot be entered is a collection error for that account, never a silent gap.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import (
    AssumeRoleCredentialFetcher,
    CredentialProvider,
    CredentialResolver,
    DeferredRefreshableCredentials,
)

from auditor.collect.aws import specs as aws_specs
from auditor.collect.aws.engine import (
    GLOBAL_REGION,
    PROVIDER,
    ClientCache,
    Engine,
    ResourceSpec,
    Scope,
    Target,
    classify,
    retry_settings,
    service_groups,
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
class RoleAccess:
    """How to enter an account: a role and what its trust policy asks of the caller.

    No secret is kept here (an ExternalId is an identifier, an MFA serial names a device): a
    work unit carries this to a worker, which asks STS there. `source_profile` names the
    profile whose credentials assume the role; that profile may itself be a role profile, which
    botocore chains."""

    role_arn: str
    external_id: str | None = None
    mfa_serial: str | None = None
    duration_seconds: int | None = None
    source_profile: str | None = None
    session_name: str = SESSION_NAME

    @property
    def account(self) -> str:
        parts = self.role_arn.split(":")
        return parts[4] if len(parts) >= 6 else self.role_arn

    def extra_args(self) -> dict[str, Any]:
        """The AssumeRole parameters besides the role (botocore's fetcher sends them)."""
        args: dict[str, Any] = {"RoleSessionName": self.session_name}
        if self.external_id:
            args["ExternalId"] = self.external_id
        if self.mfa_serial:
            args["SerialNumber"] = self.mfa_serial
        if self.duration_seconds:
            args["DurationSeconds"] = self.duration_seconds
        return args


# botocore's assume-role cache, one per process: the units of one account that run in the same
# process (threads, or one Dask worker) enter it once until the credentials near expiry.
_ASSUMED: dict[str, Any] = {}


# The sessions and clients of the units that run in this process, shared by the units of one
# run and account (making them costs more CPU than a small unit's calls).
_SESSIONS: dict[tuple[Any, ...], Any] = {}
_SESSIONS_LOCK = threading.Lock()
_SESSIONS_KEPT = 64
_CLIENTS = ClientCache()


def forget_assumed_roles() -> None:
    """Drop this process's assumed-role credentials, sessions and clients. For an emulator that
    was emptied: its old session keys no longer name an account (moto then answers as its
    default account, so one account's labels would carry another's evidence); AWS's keys stay
    valid until they expire."""
    _ASSUMED.clear()
    with _SESSIONS_LOCK:
        _SESSIONS.clear()
    _CLIENTS.clear()


class _Given(CredentialProvider):
    """A credential provider that hands out credentials made elsewhere (the assumed role's)."""

    METHOD = "assume-role"
    CANONICAL_NAME = "auditor-assume-role"

    def __init__(self, credentials: Any) -> None:
        super().__init__()
        self._given = credentials

    def load(self) -> Any:
        return self._given


_LOADER_LOCK = threading.Lock()
_LOADERS: list[Any] = []


def botocore_session(profile: str | None) -> botocore.session.Session:
    """A botocore session sharing one data loader per process: every unit builds its own
    sessions, and each would otherwise parse the same service models again (CPU and ~10 MB per
    service per session)."""
    session = botocore.session.Session(profile=profile)
    with _LOADER_LOCK:
        if not _LOADERS:
            _LOADERS.append(session.get_component("data_loader"))
        session.register_component("data_loader", _LOADERS[0])
    return session


def assumed_session(
    access: RoleAccess,
    region: str,
    *,
    profile: str | None = None,
    config: Config | None = None,
    max_attempts: int | None = None,
    on_call: Any = None,
) -> boto3.Session:
    """A session whose credentials botocore's own assume-role fetcher makes and renews.

    The source credentials are those of `access.source_profile` (else `profile`, else the
    default chain); the fetcher sends ExternalId, SerialNumber (prompting for the MFA code),
    DurationSeconds and caches per process. Credentials are fetched on first use, on the
    machine that uses them."""
    source = botocore_session(access.source_profile or profile)
    source.set_config_variable("region", region)

    def sts_client(service: str, **kwargs: Any) -> Any:
        if on_call is not None:
            on_call()
        client = source.create_client(service, region_name=region, config=config, **kwargs)
        return validate_responses(client, max_attempts)

    fetcher = AssumeRoleCredentialFetcher(
        client_creator=sts_client,
        source_credentials=source.get_credentials(),
        role_arn=access.role_arn,
        extra_args=access.extra_args(),
        cache=_ASSUMED,
    )
    credentials = DeferredRefreshableCredentials(
        refresh_using=fetcher.fetch_credentials, method="assume-role"
    )
    target = botocore_session(access.source_profile or profile)
    target.register_component("credential_provider", CredentialResolver([_Given(credentials)]))
    target.set_config_variable("region", region)
    return boto3.Session(botocore_session=target)


@dataclass(frozen=True)
class EngineOptions:
    """The engine's settings a unit carries to its worker."""

    max_attempts: int = 5
    connect_timeout: float = 10
    read_timeout: float = 60
    page_size: int | None = None
    threads: int = 8  # concurrent calls inside one unit


@dataclass(frozen=True)
class AwsUnit:
    """One AWS work unit: one account, one region (or its account-level types), one service
    group. Picklable and free of credentials: `collect` enters the account on the worker."""

    account: str
    partition: str
    group: str
    types: tuple[str, ...]
    regions: tuple[str, ...]  # every audited region (declarations read them)
    region: str | None  # the region collected; "global": account-level types; None: all
    profile: str | None = None
    role: RoleAccess | None = None
    options: EngineOptions = field(default_factory=EngineOptions)
    started_at: float = 0.0  # epoch seconds when the run began: the deadline counts from it
    deadline_seconds: float | None = None

    @property
    def key(self) -> str:
        """AWS rate limits are per account and region."""
        return f"{self.account}/{self.region or GLOBAL_REGION}"

    @property
    def label(self) -> str:
        return f"{self.account} {self.region or 'all regions'} {self.group}"

    def specs(self) -> tuple[ResourceSpec, ...]:
        wanted = set(self.types)
        return tuple(s for s in aws_specs.specs() if s.resource_type in wanted)

    def _covered_regions(self) -> tuple[str, ...]:
        return self.regions if self.region in (None, GLOBAL_REGION) else (str(self.region),)

    def _run_key(self) -> tuple[Any, ...]:
        """What makes two units' sessions the same: the run, the account and how it is entered."""
        return (
            self.started_at,
            self.account,
            self.profile,
            self.role,
            self.options,
            self.regions[0],
        )

    def session(self) -> Any:
        """This run's session for the account in this process (made by the first unit here)."""
        key = self._run_key()
        with _SESSIONS_LOCK:
            session = _SESSIONS.get(key)
            if session is None:
                session = self._new_session()
                if len(_SESSIONS) >= _SESSIONS_KEPT:
                    _SESSIONS.pop(next(iter(_SESSIONS)))
                _SESSIONS[key] = session
        return session

    def _new_session(self) -> Any:
        home = self.regions[0]
        if self.role is None:
            return boto3.Session(botocore_session=botocore_session(self.profile))
        source = botocore_session(self.role.source_profile or self.profile)
        config = Config(
            retries=retry_settings(source, self.options.max_attempts),
            connect_timeout=self.options.connect_timeout,
            read_timeout=self.options.read_timeout,
        )
        return assumed_session(
            self.role,
            home,
            profile=self.profile,
            config=config,
            max_attempts=self.options.max_attempts,
        )

    def collect(self, sink: EvidenceSink, salt: bytes) -> dict[str, Any]:
        elapsed = max(0.0, time.time() - self.started_at) if self.started_at else 0.0
        started = time.monotonic() - elapsed
        try:
            session = self.session()
            if self.role is not None:  # enter the account now: one error, not one per call
                _enter(session)
        except Exception as error:
            errors = self._entry_errors(error)
            for item in errors:
                sink.add_error(item)
            return {"calls": 0, "errors": len(errors), "accounts_not_entered": 1}
        engine = Engine(
            self.specs(),
            redact=Redactor(salt).redact,
            deadline_seconds=self.deadline_seconds,
            started=started,
            max_workers=self.options.threads,
            max_attempts=self.options.max_attempts,
            connect_timeout=self.options.connect_timeout,
            read_timeout=self.options.read_timeout,
            page_size=self.options.page_size,
            clients=_CLIENTS,
            clients_key=self._run_key(),
        )
        target = Target(self.account, session, self.partition)
        return engine.run([target], self.regions, sink, only_region=self.region)

    def _entry_errors(self, error: BaseException) -> tuple[CollectionError, ...]:
        code, message = classify(error) if isinstance(error, Exception) else ("Error", str(error))
        role = self.role.role_arn if self.role else self.account
        return tuple(
            CollectionError(
                provider=PROVIDER,
                account=self.account,
                region=region,
                service="sts",
                operation="AssumeRole",
                error_code=code,
                message=f"cannot enter {role}: {message}",
            )
            for region in self._covered_regions()
        )

    def failed(self, error: BaseException) -> tuple[CollectionError, ...]:
        """The unit could not run (or report): every type it covers, where it covers them."""
        code, message = classify(error) if isinstance(error, Exception) else ("Error", str(error))
        by_type = {s.resource_type: s for s in self.specs()}
        errors: list[CollectionError] = []
        for resource_type in self.types:
            spec = by_type.get(resource_type)
            if spec is None:
                continue
            if spec.scope in (Scope.GLOBAL, Scope.ACCOUNT_DOCUMENT):
                regions: tuple[str, ...] = (GLOBAL_REGION,)
            else:
                regions = tuple(r for r in self._covered_regions() if r != GLOBAL_REGION)
            errors.extend(
                CollectionError(
                    provider=PROVIDER,
                    account=self.account,
                    region=region,
                    service=spec.service,
                    operation="collect",
                    error_code=code,
                    message=f"work unit {self.label} did not complete: {message}",
                    resource_type=resource_type,
                )
                for region in regions
            )
        return tuple(errors)


_SUMMED = (
    "calls",
    "api_requests",
    "failed_calls",
    "deadline_exceeded",
    "abandoned_tasks",
    "errors",
    "accounts_not_entered",
)


@dataclass(frozen=True)
class _Resolved:
    targets: tuple[Target, ...]
    regions: tuple[str, ...]
    errors: tuple[CollectionError, ...]  # accounts that could not be entered


@dataclass(frozen=True)
class _Plan:
    """What the driver works out without entering any account: where to collect."""

    partition: str
    regions: tuple[str, ...]
    accounts: tuple[tuple[str, RoleAccess | None], ...]  # (account, how to enter it)


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
        roles: Sequence[RoleAccess] = (),
        assume: Mapping[str, Any] | None = None,
        enter_on_workers: bool = False,
        unit_threads: int = 8,
    ) -> None:
        """`roles`: roles with their own settings (ExternalId, MFA, duration, source
        profile); `assume`: those settings for `role_arns` and the organisation's roles.
        `enter_on_workers`: the run goes as `units()`; accounts are entered by the units."""
        self.profile = profile
        self.role_arns = tuple(role_arns)
        self._assume = dict(assume or {})
        self.roles = tuple(RoleAccess(arn, **self._assume) for arn in self.role_arns) + tuple(roles)
        self.enter_on_workers = enter_on_workers
        self.unit_threads = max(1, unit_threads)
        self.org_role_name = org_role_name
        self.requested_regions = regions
        self.max_workers = max_workers
        self._session = session
        self._redactor = Redactor(salt)
        self._max_attempts = max_attempts
        self.deadline_seconds = deadline_seconds
        self._config = Config(connect_timeout=connect_timeout, read_timeout=read_timeout)
        self._engine_options: dict[str, Any] = {
            "max_workers": max_workers,
            "max_attempts": max_attempts,
            "connect_timeout": connect_timeout,
            "read_timeout": read_timeout,
            "page_size": page_size,
        }
        self.specs = tuple(specs) if specs is not None else aws_specs.specs()
        self._resolved: _Resolved | None = None
        self._plan_cache: _Plan | None = None
        self._lock = threading.RLock()
        self.engine: Engine | None = None
        self.scope_calls = 0

    # ------------------------------------------------------------ Collector protocol

    def scope(self) -> dict[str, Any]:
        if self.enter_on_workers:  # no account is entered here: the units enter their own
            plan = self._planned()
            return {
                "provider": PROVIDER,
                "accounts": [account for account, _ in plan.accounts],
                "regions": list(plan.regions),
                "profile": self.profile,
                "role_arns": [role.role_arn for role in self.roles],
                "org_role_name": self.org_role_name,
            }
        resolved = self._resolve()
        return {
            "provider": PROVIDER,
            "accounts": [t.account for t in resolved.targets],
            "regions": list(resolved.regions),
            "profile": self.profile,
            "role_arns": [role.role_arn for role in self.roles],
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

    # ------------------------------------------------------------ work units

    def units(self) -> list[AwsUnit]:
        """(account, region, service group) units; account-level types once per account, and
        a group with types built from others' documents (the account document reads every
        region's trails) as one unit per account."""
        plan = self._planned()
        specs = self.specs
        options = EngineOptions(
            max_attempts=self._max_attempts,
            connect_timeout=float(self._engine_options["connect_timeout"]),
            read_timeout=float(self._engine_options["read_timeout"]),
            page_size=self._engine_options["page_size"],
            threads=self.unit_threads,
        )
        self._run_started = time.time()
        units: list[AwsUnit] = []
        for account, role in plan.accounts:
            for group, members in service_groups(specs).items():
                common: dict[str, Any] = {
                    "account": account,
                    "partition": plan.partition,
                    "group": group,
                    "regions": plan.regions,
                    "profile": self.profile,
                    "role": role,
                    "options": options,
                    "started_at": self._run_started,
                    "deadline_seconds": self.deadline_seconds,
                }
                if any(s.after for s in members):
                    types = tuple(s.resource_type for s in members)
                    units.append(AwsUnit(types=types, region=None, **common))
                    continue
                account_level = tuple(
                    s.resource_type
                    for s in members
                    if s.scope in (Scope.GLOBAL, Scope.ACCOUNT_DOCUMENT)
                )
                regional = tuple(
                    s.resource_type for s in members if s.resource_type not in account_level
                )
                if account_level:
                    units.append(AwsUnit(types=account_level, region=GLOBAL_REGION, **common))
                for region in plan.regions if regional else ():
                    units.append(AwsUnit(types=regional, region=region, **common))
        return units

    def combine(self, stats: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """The units' statistics as one run's (what `collect` returns)."""
        plan = self._planned()
        combined: dict[str, Any] = {name: 0 for name in _SUMMED}
        by_operation: Counter[str] = Counter()
        documents: Counter[str] = Counter()
        for item in stats:
            for name in _SUMMED:
                combined[name] += int(item.get(name, 0) or 0)
            by_operation.update(item.get("calls_by_operation") or {})
            documents.update(item.get("documents") or {})
        combined["calls_by_operation"] = dict(sorted(by_operation.items()))
        combined["documents"] = dict(sorted(documents.items()))
        combined["scope_calls"] = self.scope_calls
        combined["accounts"] = [account for account, _ in plan.accounts]
        combined["regions"] = list(plan.regions)
        started = getattr(self, "_run_started", None)
        combined["duration_s"] = round(time.time() - started, 3) if started else 0.0
        combined["max_workers"] = self.max_workers
        combined["derived_types"] = sorted(
            {s.resource_type for s in self.specs if s.scope is Scope.ACCOUNT_DOCUMENT}
        )
        return combined

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

    def _planned(self) -> _Plan:
        with self._lock:
            if self._plan_cache is None:
                self._plan_cache = self._plan()
            return self._plan_cache

    def _plan(self) -> _Plan:
        """Regions, partition and the accounts with how to enter each; enters none of them."""
        base = self._base_session()
        home = base.region_name or "us-east-1"
        regions = self._regions(base, home)
        partition = base.get_partition_for_region(regions[0]) or "aws"
        roles = list(self.roles)
        if self.org_role_name:
            roles += [
                RoleAccess(
                    f"arn:{partition}:iam::{account}:role/{self.org_role_name}", **self._assume
                )
                for account in self._organization_accounts(base, regions[0])
            ]
        if not roles:
            account = self._caller_account(base, regions[0])
            return _Plan(partition, regions, ((account, None),))
        unique = {role.role_arn: role for role in roles}  # the last settings of a role win
        return _Plan(partition, regions, tuple((r.account, r) for r in unique.values()))

    def _discover(self) -> _Resolved:
        plan = self._planned()
        base = self._base_session()
        regions = plan.regions
        if plan.accounts and plan.accounts[0][1] is None:
            return _Resolved((Target(plan.accounts[0][0], base, plan.partition),), regions, ())
        targets: list[Target] = []
        errors: list[CollectionError] = []
        for account, role in plan.accounts:
            assert role is not None
            try:
                session = self._assumed_session(role, regions[0])
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
                        message=f"cannot enter {role.role_arn}: {message}",
                    )
                    for region in regions
                )
                continue
            targets.append(Target(account, session, plan.partition))
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
        config = self._config.merge(Config(retries=retry_settings(session, self._max_attempts)))
        client = session.client(service, region_name=region, config=config)
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

    def _assumed_session(self, role: RoleAccess, region: str) -> Any:
        """A session on the role, entered now (botocore's fetcher renews it when it expires)."""

        def counted() -> None:
            self.scope_calls += 1

        session = assumed_session(
            role,
            region,
            profile=self.profile,
            config=self._config.merge(
                Config(retries=retry_settings(self._base_session(), self._max_attempts))
            ),
            max_attempts=self._max_attempts,
            on_call=counted,
        )
        _enter(session)
        return session


def _enter(session: Any) -> None:
    """Fetch a role's credentials now: a refusal is one error, not one per call."""
    credentials = session.get_credentials()
    if credentials is None:
        raise RunError("no credentials to assume the role with")
    credentials.get_frozen_credentials()
