"""The S3 backend against a moto server on 127.0.0.1: SSE-KMS, Object Lock, conditional lock."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from store_support import bucket, denied, write

from auditor.errors import RunError, UserError
from auditor.evidence import open_store
from auditor.evidence.documents import object_key

_names = itertools.count()


pytestmark = pytest.mark.moto(region="eu-west-1")


@pytest.fixture
def s3(aws: str) -> Any:
    return boto3.client("s3")


def new_bucket(s3: Any, *, object_lock: bool = False) -> str:
    name = f"evidence-{next(_names)}-{'locked' if object_lock else 'plain'}"
    args: dict[str, Any] = {
        "Bucket": name,
        "CreateBucketConfiguration": {"LocationConstraint": "eu-west-1"},
    }
    if object_lock:
        args["ObjectLockEnabledForBucket"] = True
    s3.create_bucket(**args)
    return name


def test_snapshots_round_trip_with_sse_kms(s3: Any) -> None:
    name = new_bucket(s3)
    key_id = boto3.client("kms").create_key()["KeyMetadata"]["KeyId"]
    store = open_store(f"s3://{name}/audit/store", kms_key_id=key_id)
    first = write(store, [bucket(i) for i in range(5)], errors=[denied()])
    second = write(store, [bucket(i, version=int(i == 3)) for i in range(5)])
    assert second.previous_sha256 == first.sha256
    assert [m.id for m in store.list_snapshots()] == [first.id, second.id]
    loaded = store.load_snapshot("latest")
    assert {d.sha256 for d in loaded.documents} == {
        bucket(i, version=int(i == 3)).sha256 for i in range(5)
    }
    assert store.load_snapshot(first.id).manifest.errors == (denied(),)
    assert store.verify().ok
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=name)["Contents"]]
    assert all(k.startswith("audit/store/") for k in keys)
    assert sum("/objects/" in k for k in keys) == 6  # five documents + one changed
    for key in keys:
        if key.endswith(("store.json", "salt")) or "/snapshots/" in key or "/manifests/" in key:
            head = s3.head_object(Bucket=name, Key=key)
            assert head["ServerSideEncryption"] == "aws:kms", key
            assert head["SSEKMSKeyId"].endswith(key_id), key
    head = s3.head_object(Bucket=name, Key="audit/store/" + object_key(bucket(0).sha256))
    assert head["ServerSideEncryption"] == "aws:kms"
    salt = store.redaction_salt()
    assert len(salt) == 32 and open_store(f"s3://{name}/audit/store").redaction_salt() == salt


def test_object_lock_retention_and_a_locked_snapshot_cannot_be_deleted(s3: Any) -> None:
    name = new_bucket(s3, object_lock=True)
    store = open_store(f"s3://{name}/ev", object_lock_mode="COMPLIANCE", object_lock_days=2)
    long_ago = datetime.now(UTC) - timedelta(days=90)
    old = write(store, [bucket(1)], taken_at=long_ago)
    write(store, [bucket(1), bucket(2)], taken_at=long_ago + timedelta(days=1))
    write(store, [bucket(2)])
    manifest_key = next(
        o["Key"] for o in s3.list_objects_v2(Bucket=name, Prefix="ev/manifests/")["Contents"]
    )
    head = s3.head_object(Bucket=name, Key=manifest_key)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    until = head["ObjectLockRetainUntilDate"]
    assert timedelta(days=1) < until - datetime.now(UTC) <= timedelta(days=2)
    for key in [manifest_key, *(f"ev/{k}" for k in old.files)]:
        assert s3.head_object(Bucket=name, Key=key)["ObjectLockMode"] == "COMPLIANCE"
    # Deleting the locked manifest's version is refused by S3 itself.
    version = head["VersionId"]
    with pytest.raises(ClientError) as refused:
        s3.delete_object(Bucket=name, Key=manifest_key, VersionId=version)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    # Prune leaves locked snapshots alone: nothing removed, no tombstone, chain intact.
    assert store.prune(30) == []
    assert len(store.list_snapshots()) == 3 and store.list_tombstones() == []
    assert store.verify().ok
    # The lock object is not retained, so runs keep taking and releasing it.
    write(store, [bucket(3)])
    assert store.verify().ok


def test_bucket_default_retention_is_used_when_no_mode_is_given(s3: Any) -> None:
    name = new_bucket(s3, object_lock=True)
    s3.put_object_lock_configuration(
        Bucket=name,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 5}},
        },
    )
    store = open_store(f"s3://{name}")
    manifest = write(store, [bucket(1)])
    head = s3.head_object(Bucket=name, Key=next(iter(manifest.files)))
    assert head["ObjectLockMode"] == "GOVERNANCE"
    assert head["ObjectLockRetainUntilDate"] - datetime.now(UTC) > timedelta(days=4)


def test_lock_mode_on_a_bucket_without_object_lock_is_a_clear_error(s3: Any) -> None:
    name = new_bucket(s3)
    with pytest.raises(UserError, match="has no Object Lock"):
        open_store(f"s3://{name}", object_lock_mode="COMPLIANCE")
    with pytest.raises(UserError, match="does not exist"):
        open_store("s3://no-such-evidence-bucket/x")
    with pytest.raises(UserError, match="GOVERNANCE or COMPLIANCE"):
        open_store(f"s3://{name}", object_lock_mode="FOREVER")


def test_tampering_on_s3_is_named(s3: Any) -> None:
    name = new_bucket(s3)
    store = open_store(f"s3://{name}/p")
    first = write(store, [bucket(i) for i in range(3)])
    second = write(store, [bucket(i, version=int(i == 1)) for i in range(3)])
    write(store, [bucket(i, version=int(i == 1)) for i in range(3)])
    key = "p/" + object_key(bucket(1, version=1).sha256)
    s3.put_object(Bucket=name, Key=key, Body=b"\x1f\x8b garbage")
    result = store.verify()
    assert not result.ok and result.first_bad == second.id
    s3.delete_object(
        Bucket=name,
        Key=next(k for k in s3.list_objects_v2(Bucket=name, Prefix="p/manifests/")["Contents"])[
            "Key"
        ],
    )
    assert store.verify().first_bad == first.id


def test_conditional_put_lock_serialises_runs_and_expires(s3: Any) -> None:
    name = new_bucket(s3)
    holder = open_store(f"s3://{name}")
    waiting = open_store(f"s3://{name}", lock_timeout=0.5)
    with holder.backend.lock(60):
        with pytest.raises(RunError, match="is locked by pid"):
            waiting.begin_snapshot("aws", {}, "c" * 64)
        # A lock left by a dead run is taken over once older than its lease.
        stale = open_store(f"s3://{name}", lock_timeout=5, lock_lease_seconds=0)
        with stale.backend.lock(5):
            pass
    write(waiting, [bucket(1)])
    assert waiting.verify().ok


def test_prune_on_s3_writes_tombstones_and_keeps_the_chain(s3: Any) -> None:
    name = new_bucket(s3)
    store = open_store(f"s3://{name}/ev")
    start = datetime.now(UTC) - timedelta(days=100)
    ids = [
        write(store, [bucket(1, version=v), bucket(2)], taken_at=start + timedelta(days=30 * v)).id
        for v in range(4)
    ]
    pruned = store.prune(45)
    assert pruned == ids[:2]
    assert [m.id for m in store.list_snapshots()] == ids[2:]
    assert [t["id"] for t in store.list_tombstones()] == ids[:2]
    assert store.verify().ok
    # Documents only the pruned snapshots held are gone; the change sets newer snapshots are
    # built on stay until a full snapshot replaces them.
    objects = {o["Key"] for o in s3.list_objects_v2(Bucket=name, Prefix="ev/objects/")["Contents"]}
    assert objects == {
        f"ev/{object_key(d.sha256)}" for d in (bucket(1, 2), bucket(1, 3), bucket(2))
    }
    assert s3.list_objects_v2(Bucket=name, Prefix=f"ev/snapshots/{ids[0]}/")["KeyCount"] == 2
    assert {d.sha256 for d in store.load_snapshot(ids[2]).documents} == {
        bucket(1, version=2).sha256,
        bucket(2).sha256,
    }


def test_scheduled_snapshot_needs_only_the_documented_store_permissions(s3: Any) -> None:
    """Every S3 call a snapshot makes is allowed by deploy/aws/store-writer-policy.json."""
    import json
    from pathlib import Path

    policy = json.loads(
        (Path(__file__).parents[2] / "deploy" / "aws" / "store-writer-policy.json").read_text()
    )
    allowed = {a for s in policy["Statement"] for a in s["Action"]}
    needs = {
        "PutObject": "s3:PutObject",
        "GetObject": "s3:GetObject",
        "HeadObject": "s3:GetObject",
        "ListObjectsV2": "s3:ListBucket",
        "DeleteObject": "s3:DeleteObject",
        "GetObjectLockConfiguration": "s3:GetBucketObjectLockConfiguration",
    }
    calls: list[str] = []
    client = boto3.client("s3")
    client.meta.events.register("before-call.s3.*", lambda model, **_: calls.append(model.name))
    name = new_bucket(s3, object_lock=True)
    store = open_store(f"s3://{name}/ev", client=client, object_lock_mode="GOVERNANCE")
    write(store, [bucket(1)])
    write(store, [bucket(1, 1)])
    assert "PutObject" in calls and "ListObjectsV2" in calls
    assert {needs[c] for c in calls} <= allowed, set(calls)
    assert "s3:PutObjectRetention" in allowed  # puts carry ObjectLockRetainUntilDate
    for deploy_file in (
        "cron/auditor.cron",
        "systemd/auditor-snapshot.service",
        "kubernetes/cronjob.yaml",
        "docker/Dockerfile",
        "aws/snapshot-schedule.yaml",
    ):
        text = (Path(__file__).parents[2] / "deploy" / deploy_file).read_text()
        assert "snapshot" in text and "/etc/auditor/auditor.yaml" in text, deploy_file
