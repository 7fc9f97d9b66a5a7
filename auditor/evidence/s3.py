"""S3 backend: SSE-KMS, Object Lock retention, a conditional-put lock.

The endpoint comes from botocore's own settings (`AWS_ENDPOINT_URL`, profiles), never from here.
When the bucket has Object Lock enabled every snapshot object is written with a retention
(GOVERNANCE or COMPLIANCE, `object_lock_days`), so even the account owner cannot alter or remove
it before the date. S3 has no rename: the manifest is simply written last, with `If-None-Match: *`
so two writers can never commit the same key.

The lock is an object `lock` created with `If-None-Match: *`; a run that dies holding it leaves it
behind, and it is taken over once older than `lock_lease_seconds` (default one hour).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from auditor.errors import RunError, UserError
from auditor.evidence.backend import LockedObjectError, UnsafeObjectError
from auditor.models import isoformat, parse_time, utcnow

LOCK_KEY = "lock"
LOCK_MODES = ("GOVERNANCE", "COMPLIANCE")


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


class S3Backend:
    """A store under `s3://bucket/prefix`."""

    def __init__(
        self,
        bucket: str,
        prefix: str,
        *,
        kms_key_id: str | None = None,
        object_lock_mode: str | None = None,
        object_lock_days: int | None = None,
        lock_lease_seconds: float = 3600.0,
        client: Any = None,
    ) -> None:
        import boto3

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.url = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self.kms_key_id = kms_key_id
        self.lock_lease_seconds = lock_lease_seconds
        self.client = client or boto3.client("s3")
        if object_lock_mode is not None and object_lock_mode.upper() not in LOCK_MODES:
            raise UserError(
                f"object_lock_mode must be GOVERNANCE or COMPLIANCE, not {object_lock_mode!r}"
            )
        if object_lock_days is not None and object_lock_days < 1:
            raise UserError(f"object_lock_days must be at least 1, not {object_lock_days}")
        self.lock_mode, self.lock_days = self._retention_settings(
            object_lock_mode, object_lock_days
        )

    # ------------------------------------------------------------------ setup

    def _retention_settings(
        self, mode: str | None, days: int | None
    ) -> tuple[str | None, int | None]:
        """Object Lock: on when the bucket has it; mode/days from options, else the bucket's
        default rule, else GOVERNANCE for 365 days."""
        try:
            config = self.client.get_object_lock_configuration(Bucket=self.bucket)
        except Exception as exc:
            code = _code(exc)
            if code in ("ObjectLockConfigurationNotFoundError", "NoSuchBucket"):
                if code == "NoSuchBucket":
                    raise UserError(f"evidence store bucket {self.bucket} does not exist") from exc
                if mode is not None:
                    raise UserError(
                        f"object_lock_mode is set but bucket {self.bucket} has no Object Lock "
                        "(it can only be enabled when the bucket is created)"
                    ) from exc
                return None, None
            raise RunError(
                f"cannot read Object Lock configuration of {self.bucket}: {exc}"
            ) from exc
        lock = config.get("ObjectLockConfiguration", {})
        if lock.get("ObjectLockEnabled") != "Enabled":
            return None, None
        default = lock.get("Rule", {}).get("DefaultRetention", {})
        default_days = default.get("Days") or (
            365 * default["Years"] if "Years" in default else None
        )
        return (
            (mode or default.get("Mode") or "GOVERNANCE").upper(),
            days or default_days or 365,
        )

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _put_args(self, retain: bool) -> dict[str, Any]:
        args: dict[str, Any] = {}
        if self.kms_key_id:
            args["ServerSideEncryption"] = "aws:kms"
            args["SSEKMSKeyId"] = self.kms_key_id
        if retain and self.lock_mode and self.lock_days:
            args["ObjectLockMode"] = self.lock_mode
            args["ObjectLockRetainUntilDate"] = datetime.now(UTC) + timedelta(days=self.lock_days)
        return args

    # ------------------------------------------------------------------ Backend

    def read(self, key: str, *, limit: int | None = None) -> bytes:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as exc:
            if _code(exc) in ("NoSuchKey", "404"):
                raise KeyError(key) from None
            raise
        size = int(response.get("ContentLength") or 0)
        if limit is not None and size > limit:
            response["Body"].close()
            raise UnsafeObjectError(key, f"it holds {size} bytes, at most {limit}")
        return bytes(response["Body"].read())

    def irregular(self) -> list[tuple[str, str]]:
        return []  # S3 holds only objects

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as exc:
            if _code(exc) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def write(self, key: str, data: bytes, *, retain: bool = True) -> None:
        self.client.put_object(
            Bucket=self.bucket, Key=self._key(key), Body=data, **self._put_args(retain)
        )

    def write_new(self, key: str, data: bytes, *, retain: bool = True) -> bool:
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=self._key(key),
                Body=data,
                IfNoneMatch="*",
                **self._put_args(retain),
            )
        except Exception as exc:
            if _code(exc) in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                return False
            raise
        return True

    def write_file(self, key: str, path: Path) -> None:
        try:
            with path.open("rb") as handle:
                self.client.put_object(
                    Bucket=self.bucket, Key=self._key(key), Body=handle, **self._put_args(True)
                )
        finally:
            path.unlink(missing_ok=True)

    def keys(self, prefix: str) -> list[str]:
        full = self._key(prefix)
        strip = len(self._key(""))
        keys: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=full):
            keys.extend(item["Key"][strip:] for item in page.get("Contents", []))
        return sorted(k for k in keys if k != LOCK_KEY)

    def _versions(self, key: str) -> list[str | None]:
        full = self._key(key)
        versions: list[str | None] = []
        paginator = self.client.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=full):
            for item in page.get("Versions", []) + page.get("DeleteMarkers", []):
                if item["Key"] == full:
                    versions.append(item.get("VersionId"))
        return versions

    def delete(self, key: str) -> None:
        """Delete every version: a plain delete on a versioned bucket only hides the object."""
        until = self.retained_until(key)
        if until is not None and until > datetime.now(UTC):
            raise LockedObjectError(f"{self.url}/{key} is retained until {isoformat(until)}")
        for version in self._versions(key) or [None]:
            args: dict[str, Any] = {"Bucket": self.bucket, "Key": self._key(key)}
            if version and version != "null":
                args["VersionId"] = version
            try:
                self.client.delete_object(**args)
            except Exception as exc:
                if _code(exc) in ("AccessDenied", "InvalidRequest"):
                    raise LockedObjectError(f"{self.url}/{key}: {exc}") from exc
                raise

    def retained_until(self, key: str) -> datetime | None:
        if not self.lock_mode:
            return None
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as exc:
            if _code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        until = head.get("ObjectLockRetainUntilDate")
        if until is None:
            return None
        return until.astimezone(UTC) if isinstance(until, datetime) else parse_time(until)

    @contextlib.contextmanager
    def lock(self, timeout: float) -> Iterator[None]:
        token = secrets.token_hex(8)
        body = json.dumps(
            {
                "token": token,
                "holder": f"pid {os.getpid()} on {socket.gethostname()}",
                "acquired_at": isoformat(utcnow()),
            }
        ).encode()
        deadline = time.monotonic() + timeout
        while not self.write_new(LOCK_KEY, body, retain=False):
            holder = self._lock_holder()
            if holder is not None and self._lock_is_stale(holder):
                with contextlib.suppress(Exception):
                    self.client.delete_object(Bucket=self.bucket, Key=self._key(LOCK_KEY))
                continue
            if time.monotonic() >= deadline:
                who = (holder or {}).get("holder", "another run")
                since = (holder or {}).get("acquired_at", "?")
                raise RunError(
                    f"evidence store {self.url} is locked by {who} since {since}; waited "
                    f"{timeout:g} s (another snapshot or prune is running; try again later)"
                )
            time.sleep(0.2)
        try:
            yield
        finally:
            current = self._lock_holder()
            if current is not None and current.get("token") == token:
                # A plain delete (a delete marker where versioned) frees the key for If-None-Match.
                self.client.delete_object(Bucket=self.bucket, Key=self._key(LOCK_KEY))

    def _lock_holder(self) -> dict[str, Any] | None:
        try:
            raw = json.loads(self.read(LOCK_KEY))
        except KeyError:
            return None
        except ValueError:
            return {}
        return raw if isinstance(raw, dict) else {}

    def _lock_is_stale(self, holder: dict[str, Any]) -> bool:
        try:
            acquired = parse_time(str(holder["acquired_at"]))
        except (KeyError, ValueError):
            return True
        return (utcnow() - acquired).total_seconds() >= self.lock_lease_seconds

    def scratch_file(self, suffix: str) -> Path:
        fd, name = tempfile.mkstemp(suffix=suffix, prefix="auditor-")
        os.close(fd)
        return Path(name)

    def sync(self) -> None:
        return None  # a successful PUT is durable

    def clean_scratch(self) -> None:
        return None  # scratch files are local temp files, removed after upload

    def total_bytes(self) -> int:
        total = 0
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key("")):
            total += sum(int(item.get("Size", 0)) for item in page.get("Contents", []))
        return total
