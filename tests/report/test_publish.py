"""publish: every file of a verified version uploaded to S3 (a moto server on 127.0.0.1 through
unchanged boto3), and a presigned link that fetches report.pdf and expires."""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from moto.server import ThreadedMotoServer

from auditor.cli import run
from auditor.errors import RunError, UserError
from auditor.report import publish


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    patch = pytest.MonkeyPatch()
    patch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    patch.setenv("AWS_ACCESS_KEY_ID", "testing")
    patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    patch.delenv("AWS_PROFILE", raising=False)
    boto3.client("s3").create_bucket(Bucket="audit-delivery")
    yield f"http://127.0.0.1:{port}"
    patch.undo()
    server.stop()


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
    with pytest.raises(UserError, match=r"does not verify: findings\.csv"):
        publish(report_copy, "s3://audit-delivery/tampered")
    listed = boto3.client("s3").list_objects_v2(Bucket="audit-delivery", Prefix="tampered/")
    assert listed.get("KeyCount", 0) == 0


def test_missing_bucket_is_a_run_error(s3_endpoint: str, report_dir: Path) -> None:
    with pytest.raises(RunError, match="publishing to s3://no-such-bucket"):
        publish(report_dir, "s3://no-such-bucket/x")


def test_every_publish_route_refuses_a_tampered_version_by_the_same_check(
    s3_endpoint: str, report_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--to s3://` and `--to securityhub` both exit 2 with the one check's message, naming the
    folder and the file at fault, and nothing leaves the machine."""
    (report_copy / "findings.json").write_bytes(b"{}")
    hub = boto3.client("securityhub", region_name="us-east-1")
    before = len(hub.get_findings(MaxResults=100)["Findings"])  # moto state is per process
    for destination in ("s3://audit-delivery/cli-tampered", "securityhub"):
        code = run(["publish", str(report_copy), "--to", destination, "--region", "us-east-1"])
        err = " ".join(capsys.readouterr().err.split())  # the console may wrap long lines
        assert code == 2, err
        refusal = "refusing to publish a report that does not verify: findings.json"
        assert refusal in err and "internal error" not in err, err
        assert f"{report_copy.name}: {refusal}" in err  # the message names the folder
    listed = boto3.client("s3").list_objects_v2(Bucket="audit-delivery", Prefix="cli-tampered/")
    assert listed.get("KeyCount", 0) == 0
    assert len(hub.get_findings(MaxResults=100)["Findings"]) == before
