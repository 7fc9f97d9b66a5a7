"""publish: every file of a verified version uploaded to S3 (a moto server on 127.0.0.1 through
unchanged boto3), and a presigned link that fetches report.pdf and expires."""

from __future__ import annotations

import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest

from auditor.errors import RunError, UserError
from auditor.report import publish


@pytest.fixture(scope="module")
def s3_endpoint(aws: str) -> str:
    boto3.client("s3").create_bucket(Bucket="audit-delivery")
    return aws


def test_publish_uploads_every_file_and_returns_an_expiring_link(
    s3_endpoint: str, report_dir: Path
) -> None:
    url = publish(report_dir, "s3://audit-delivery/acme/reports")
    parts = urlsplit(url)
    assert url.startswith(s3_endpoint)
    assert parts.path.endswith("/acme/reports/2026-Q4/v1/report.pdf")
    assert parse_qs(parts.query)["X-Amz-Expires"] == ["604800"]
    listed = boto3.client("s3").list_objects_v2(Bucket="audit-delivery", Prefix="acme/reports/")
    keys = sorted(o["Key"].rsplit("/", 1)[-1] for o in listed["Contents"])
    assert keys == sorted(p.name for p in report_dir.iterdir())
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == (report_dir / "report.pdf").read_bytes()


def test_link_lifetime_is_honoured_and_bounded(s3_endpoint: str, report_dir: Path) -> None:
    url = publish(report_dir, "s3://audit-delivery/short", expires_seconds=60)
    assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == ["60"]
    with pytest.raises(UserError, match="7 days"):
        publish(report_dir, "s3://audit-delivery/x", expires_seconds=8 * 24 * 3600)
    with pytest.raises(UserError, match=r"s3://bucket/prefix"):
        publish(report_dir, "https://audit-delivery/x")


def test_a_tampered_version_is_not_published(s3_endpoint: str, report_copy: Path) -> None:
    (report_copy / "findings.csv").write_bytes(b"control_id\n")
    with pytest.raises(RunError, match=r"findings\.csv"):
        publish(report_copy, "s3://audit-delivery/tampered")
    listed = boto3.client("s3").list_objects_v2(Bucket="audit-delivery", Prefix="tampered/")
    assert listed.get("KeyCount", 0) == 0


def test_missing_bucket_is_a_run_error(s3_endpoint: str, report_dir: Path) -> None:
    with pytest.raises(RunError, match="publishing to s3://no-such-bucket"):
        publish(report_dir, "s3://no-such-bucket/x")
