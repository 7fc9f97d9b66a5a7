"""AWS work units: the same multi-account estate gives the same snapshot and findings on one
worker, a thread pool and a local Dask cluster; accounts are entered through botocore's own
assume-role fetcher (ExternalId, duration, source-profile chaining); botocore's retry settings
from the environment beat ours."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_estate import (
    ACCOUNT,
    OTHER_ACCOUNT,
    REGIONS,
    Proxy,
    Request,
    json_error,
    reset,
    seed_account,
)

from auditor import evaluate as evaluate_stage
from auditor import pipeline
from auditor.collect.aws.engine import service_groups
from auditor.collect.aws.scope import AwsCollector, RoleAccess, assumed_session
from auditor.collect.aws.specs import SPECS
from auditor.executors import parse_executor
from auditor.models import FRAMEWORKS, MemorySink, utcnow

THIRD_ACCOUNT = "222233334444"
ACCOUNTS = (ACCOUNT, OTHER_ACCOUNT, THIRD_ACCOUNT)
ROLES = [f"arn:aws:iam::{a}:role/auditor" for a in ACCOUNTS]


def _assumed(role_arn: str) -> boto3.Session:
    creds = boto3.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="seed")["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name="us-east-1",
    )


@pytest.fixture(scope="module")
def estate(proxy: Proxy) -> Iterator[Proxy]:
    """Three moto accounts, each with the whole test estate, entered by assume-role."""
    reset(proxy)
    for role, account in zip(ROLES, ACCOUNTS, strict=True):
        seed_account(_assumed(role), account)
    yield proxy


# moto stamps a trail's status with the time of each GetTrailStatus call: the emulator's clock,
# not the collector's doing. Those two fields are compared without their value.
_MOTO_CLOCK = ("LatestDeliveryTime", "LatestDeliveryAttemptTime", "LatestDeliveryAttemptSucceeded")


def _snapshot_documents(store: Any, snapshot_id: str) -> dict[tuple[str, str, str, str], str]:
    snapshot = store.load_snapshot(snapshot_id)
    found = {}
    for d in snapshot.documents:
        key = (d.resource_type, d.account, d.region, d.resource_id)
        if d.resource_type == "AWS::CloudTrail::Trail":
            data = dict(d.data)
            data["Status"] = {
                k: v for k, v in data.get("Status", {}).items() if k not in _MOTO_CLOCK
            }
            found[key] = json.dumps(data, sort_keys=True)
        else:
            found[key] = d.sha256
    return found


def _findings(catalog: Any, store: Any, snapshot_id: str) -> set[tuple[str, str, str]]:
    found = evaluate_stage.evaluate_snapshot(
        catalog,
        store.load_snapshot(snapshot_id),
        frameworks=FRAMEWORKS,
        waivers=(),
        attestations=(),
        on=utcnow().date(),
    )
    return {(f.control_id, f.resource_id, str(f.status)) for f in found}


def test_one_worker_threads_and_a_local_cluster_give_the_same_snapshot_and_findings(
    estate: Proxy, tmp_path: Path
) -> None:
    store = pipeline.open_store(str(tmp_path / "store"))
    catalog = pipeline.load_catalog()
    results = {}
    for text in ("threads:1", "threads:8", "dask-local:2"):
        spec = parse_executor(text, 8)
        collector = pipeline.aws_collector(
            store,
            role_arns=ROLES[:2],
            regions=list(REGIONS),
            max_workers=spec.workers,
            executor=spec,
        )
        manifest = pipeline.take_snapshot(store, collector, catalog.sha256, executor=spec)
        results[text] = manifest
    one, threads, cluster = results.values()
    documents = _snapshot_documents(store, one.id)
    assert {account for _, account, _, _ in documents} == set(ACCOUNTS[:2])
    assert len(documents) > 40
    assert _snapshot_documents(store, threads.id) == documents
    assert _snapshot_documents(store, cluster.id) == documents
    # the later snapshots are deltas of the first: only moto's trail clock changed
    trails = sum(1 for key in documents if key[0] == "AWS::CloudTrail::Trail")
    assert threads.stats["store"]["changed_rows"] <= trails
    assert sorted(e.sentence() for e in one.errors) == sorted(e.sentence() for e in cluster.errors)
    per_account = sum(
        1
        if any(s.after for s in group)
        else len({s.scope.value in ("global", "account_document") for s in group}) * 1
        for group in service_groups(SPECS).values()
    )
    assert one.stats["units"] == cluster.stats["units"] >= 2 * per_account
    assert cluster.stats["worker_processes"] == 2
    assert cluster.stats["peak_rss_mb_per_worker"] > 0  # reported; bench/aws_org.py judges it
    assert one.stats["documents"] == cluster.stats["documents"]
    findings = _findings(catalog, store, one.id)
    assert len(findings) > 100
    assert _findings(catalog, store, threads.id) == findings
    assert _findings(catalog, store, cluster.id) == findings
    # the workers entered the accounts themselves: one AssumeRole per account and process at most
    assume = [r for r in estate.seen if r.service == "sts" and b"AssumeRole" in r.body]
    assert {a for a in ACCOUNTS if any(a.encode() in r.body for r in assume)} >= set(ACCOUNTS[:2])
    assert store.verify().ok


def test_an_emptied_emulator_takes_the_role_sessions_it_issued_with_it(estate: Proxy) -> None:
    """moto forgets the keys it issued when it is emptied and answers unknown keys as its
    default account: a role session cached in this process across the reset would collect
    123456789012's estate under another account's label (how the identical-results test
    above failed after other modules). The reset forgets them; AWS's stay valid to expiry."""
    role = RoleAccess(ROLES[1])

    def caller() -> str:
        session = assumed_session(role, "us-east-1")
        return str(session.client("sts").get_caller_identity()["Account"])

    assert caller() == OTHER_ACCOUNT
    reset(estate)
    try:
        assert caller() == OTHER_ACCOUNT
    finally:
        for role_arn, account in zip(ROLES, ACCOUNTS, strict=True):
            seed_account(_assumed(role_arn), account)


def test_the_units_of_one_account_share_their_clients(
    estate: Proxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A botocore client costs about 11 ms of CPU to make, more than a small unit's calls: the
    units of one run and account that land in the same process make each (service, region)
    client once between them."""
    import botocore.session

    made: list[tuple[str, str]] = []
    create = botocore.session.Session.create_client

    def counted(self: Any, service_name: str, region_name: str | None = None, **kw: Any) -> Any:
        made.append((service_name, str(region_name)))
        return create(self, service_name, region_name, **kw)

    monkeypatch.setattr(botocore.session.Session, "create_client", counted)
    store = pipeline.open_store(str(tmp_path / "store"))
    spec = parse_executor("threads:4", 4)
    collector = pipeline.aws_collector(
        store, role_arns=ROLES[1:2], regions=list(REGIONS), max_workers=4, executor=spec
    )
    manifest = pipeline.take_snapshot(store, collector, "0" * 64, executor=spec)
    assert manifest.stats["units"] > 10 and sum(manifest.counts.values()) > 10
    engine_clients = [key for key in made if key[0] != "sts"]  # sts: the role's own fetcher
    assert len(engine_clients) == len(set(engine_clients)) > 10


def test_units_cut_by_account_region_and_service_group(estate: Proxy) -> None:
    collector = AwsCollector(role_arns=ROLES[:2], regions=list(REGIONS), enter_on_workers=True)
    units = collector.units()
    assert not any(r.service == "sts" and b"AssumeRole" in r.body for r in estate.seen[-5:])
    keys = {(u.account, u.region, u.group) for u in units}
    assert (ACCOUNT, "us-east-1", "sagemaker") in keys
    assert (ACCOUNT, "eu-west-1", "kms") in keys
    assert (ACCOUNT, "global", "iam") in keys  # account-level types once per account
    assert (OTHER_ACCOUNT, None, "cloudtrail+s3control") in keys  # the account document's group
    assert len(keys) == len(units)
    assert all("Secret" not in json.dumps(u.__dict__, default=str) for u in units)
    assert collector.scope()["accounts"] == [ACCOUNT, OTHER_ACCOUNT]


def test_an_account_that_cannot_be_entered_is_one_error_per_region(
    estate: Proxy, tmp_path: Path
) -> None:
    locked = "arn:aws:iam::999999999999:role/auditor"

    def refuse(request: Request) -> tuple[int, dict[str, str], bytes] | None:
        if request.service == "sts" and b"999999999999" in request.body:
            body = (
                b"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>"
                b"<Message>not authorized to perform sts:AssumeRole</Message></Error>"
                b"</ErrorResponse>"
            )
            return 403, {"Content-Type": "text/xml"}, body
        return None

    estate.rules.append(refuse)
    try:
        store = pipeline.open_store(str(tmp_path / "store"))
        spec = parse_executor("threads:4", 4)
        collector = pipeline.aws_collector(
            store, role_arns=[ROLES[0], locked], regions=list(REGIONS), executor=spec
        )
        manifest = pipeline.take_snapshot(store, collector, "c" * 64, executor=spec)
    finally:
        estate.rules.remove(refuse)
    locked_errors = [e for e in manifest.errors if e.account == "999999999999"]
    assert sorted((e.region, e.operation, e.error_code) for e in locked_errors) == [
        ("eu-west-1", "AssumeRole", "AccessDenied"),
        ("us-east-1", "AssumeRole", "AccessDenied"),
    ]
    assert manifest.stats["accounts_not_entered"] > 0
    assert {k.split("|")[1] for k in store.document_index(manifest.id)} == {ACCOUNT}


def test_external_id_duration_and_a_chained_source_profile_reach_sts(
    estate: Proxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config"
    config.write_text(
        "[profile hub]\naws_access_key_id = testing\naws_secret_access_key = testing\n"
        "region = us-east-1\n\n"
        f"[profile chained]\nrole_arn = arn:aws:iam::{OTHER_ACCOUNT}:role/hub\n"
        "source_profile = hub\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    role = RoleAccess(
        f"arn:aws:iam::{THIRD_ACCOUNT}:role/auditor",
        external_id="acme-7f3c",
        duration_seconds=1800,
        source_profile="chained",
    )
    before = len(estate.seen)
    logs = tuple(s for s in SPECS if s.resource_type == "AWS::Logs::LogGroup")
    collector = AwsCollector(roles=[role], regions=["us-east-1"], specs=logs)
    sink = MemorySink()
    collector.collect(sink)
    assert not sink.errors
    assert {d.account for d in sink.docs} == {THIRD_ACCOUNT}
    bodies = [r.body.decode() for r in estate.seen[before:] if r.service == "sts"]
    hub = [b for b in bodies if f"{OTHER_ACCOUNT}%3Arole%2Fhub" in b]
    ours = [b for b in bodies if f"{THIRD_ACCOUNT}%3Arole%2Fauditor" in b]
    assert hub and ours  # the source profile's own role first, then ours from its credentials
    assert "ExternalId=acme-7f3c" in ours[0] and "DurationSeconds=1800" in ours[0]
    assert "ExternalId" not in hub[0]


def test_the_environment_retry_setting_beats_ours(
    estate: Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    def throttle(request: Request) -> tuple[int, dict[str, str], bytes] | None:
        if request.target == "DescribeLogGroups":
            return json_error("ThrottlingException", "Rate exceeded")
        return None

    logs = tuple(s for s in SPECS if s.resource_type == "AWS::Logs::LogGroup")
    estate.rules.append(throttle)
    try:
        attempts = {}
        for value in (None, "2"):
            if value is None:
                monkeypatch.delenv("AWS_MAX_ATTEMPTS", raising=False)
            else:
                monkeypatch.setenv("AWS_MAX_ATTEMPTS", value)
            monkeypatch.setenv("AWS_RETRY_MODE", "standard")  # no client-side rate limiting
            collector = AwsCollector(regions=["us-east-1"], specs=logs, max_attempts=3)
            sink = MemorySink()
            collector.collect(sink)
            [record] = [r for r in collector.call_log if r.operation == "DescribeLogGroups"]
            attempts[value] = record.attempts
            assert [e.error_code for e in sink.errors] == ["ThrottlingException"]
    finally:
        estate.rules.remove(throttle)
    assert attempts == {None: 4, "2": 2}  # ours: 3 retries after the first; env: 2 in all
