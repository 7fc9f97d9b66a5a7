"""`publish`: upload a verified report version to S3 and hand back an expiring link.

Only a version that passes `require_publishable` (it verifies) is uploaded. The endpoint follows botocore's own settings
(`AWS_ENDPOINT_URL`, profiles), so the same code runs against a local S3-compatible server.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from urllib.parse import urlsplit

from auditor.errors import RunError, UserError
from auditor.report.verify import require_publishable
from auditor.report.versions import MANIFEST

DEFAULT_EXPIRY = 7 * 24 * 3600
MAX_EXPIRY = 7 * 24 * 3600  # SigV4 presigned URLs cannot live longer


def parse_s3_url(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise UserError(f"{url!r}: expected s3://bucket/prefix", field="to")
    return parts.netloc, parts.path.strip("/")


def publish(path: Path | str, s3_url: str, expires_seconds: int = DEFAULT_EXPIRY) -> str:
    """Upload every file of the version folder under `<prefix>/<period>/v<N>/` and return a
    presigned GET link to report.pdf (report.html when there is no PDF) valid for
    `expires_seconds`."""
    if not 1 <= expires_seconds <= MAX_EXPIRY:
        raise UserError(
            f"link lifetime {expires_seconds}s out of range; expected 1 to {MAX_EXPIRY} (7 days)",
            field="expires",
        )
    folder = Path(path)
    manifest = require_publishable(folder)
    bucket, prefix = parse_s3_url(s3_url)
    base = "/".join(p for p in (prefix, manifest.period, f"v{manifest.version}") if p)
    import boto3
    from boto3.exceptions import Boto3Error
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    # SigV4 links carry their lifetime (X-Amz-Expires) and cannot outlive 7 days.
    client = boto3.client("s3", config=Config(signature_version="s3v4"))
    names = [*sorted(manifest.files), MANIFEST]
    try:
        for name in names:
            content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
            client.upload_file(
                str(folder / name),
                bucket,
                f"{base}/{name}",
                ExtraArgs={"ContentType": content_type},
            )
        link_target = "report.pdf" if "report.pdf" in manifest.files else "report.html"
        url: str = client.generate_presigned_url(
            "get_object",
            Params={"Bucket": bucket, "Key": f"{base}/{link_target}"},
            ExpiresIn=expires_seconds,
        )
    except (Boto3Error, BotoCoreError, ClientError) as exc:
        raise RunError(f"publishing to {s3_url} failed: {exc}") from exc
    return url
