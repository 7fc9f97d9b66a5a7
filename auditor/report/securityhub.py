"""Send ASFF findings to AWS Security Hub (`auditor publish --to securityhub`).

Its own module, not part of `publish.py`: a submodule named like a function of the package
(`auditor.report.publish`) would replace that function on the package once imported."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from auditor.errors import RunError


@dataclass(frozen=True)
class SecurityHubOutcome:
    """What BatchImportFindings accepted and refused, per finding ID."""

    imported: int
    failed: tuple[tuple[str, str, str], ...]  # (finding ID, error code, message)
    batches: int


def publish_to_securityhub(
    records: Sequence[Mapping[str, Any]], *, region: str | None = None
) -> SecurityHubOutcome:
    """Send ASFF records to Security Hub in batches of 100 (the API's limit); a partial failure
    is reported per finding, never hidden behind an overall success."""
    import boto3
    from boto3.exceptions import Boto3Error
    from botocore.exceptions import BotoCoreError, ClientError

    client = (
        boto3.client("securityhub", region_name=region) if region else boto3.client("securityhub")
    )
    imported = 0
    failed: list[tuple[str, str, str]] = []
    batches = [list(records[i : i + 100]) for i in range(0, len(records), 100)]
    for batch in batches:
        try:
            response = client.batch_import_findings(Findings=batch)
        except (Boto3Error, BotoCoreError, ClientError) as exc:
            raise RunError(
                f"Security Hub BatchImportFindings failed after {imported} findings: {exc}"
            ) from exc
        imported += int(response.get("SuccessCount", 0))
        for item in response.get("FailedFindings", []):
            failed.append(
                (
                    str(item.get("Id", "")),
                    str(item.get("ErrorCode", "")),
                    str(item.get("ErrorMessage", "")),
                )
            )
    return SecurityHubOutcome(imported=imported, failed=tuple(failed), batches=len(batches))
