"""`findings.json` and `findings.csv` (schema: docs/findings.schema.json). Formatters return data; the CLI
and the report write the files."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from auditor.models import (
    FINDINGS_SCHEMA,
    Finding,
    isoformat,
    neutralise_cell,
    requirements_cell,
)

if TYPE_CHECKING:
    from auditor.models import AuditResult

# The columns of findings.csv: the keys of a finding in findings.json, in the same order.
CSV_COLUMNS: tuple[str, ...] = (
    "control_id",
    "control_title",
    "stage",
    "severity",
    "status",
    "provider",
    "account",
    "region",
    "resource_type",
    "resource_id",
    "reason",
    "requirements",
    "snapshot_id",
    "waiver",
    "scope",
    "evidence_sha256",  # the stored document the verdict read: `auditor evidence show SHA256`
)


def findings_document(result: AuditResult) -> dict[str, Any]:
    """The findings.json document of an audit: period-end findings and the snapshots evaluated.

    Each finding has the keys of docs/findings.schema.json (auditor.findings/v1), including
    `evidence_sha256`: the stored document the verdict read (None for findings from no
    document), which `auditor evidence show` prints."""
    return {
        "schema": FINDINGS_SCHEMA,
        "generated_at": isoformat(result.generated_at),
        "catalog_sha256": result.catalog.sha256,
        "snapshots": [
            {
                "id": m.id,
                "provider": m.provider,
                "taken_at": isoformat(m.taken_at),
                "manifest_sha256": m.sha256,
                # additive keys, present only when they say something
                **({"evidence_time": isoformat(m.evidence_time)} if m.evidence_time else {}),
                **(
                    {"stale_evidence": result.stale_snapshots[m.id]}
                    if m.id in result.stale_snapshots
                    else {}
                ),
                **({"incomplete": True} if m.incomplete else {}),
            }
            for m in result.snapshots
        ],
        "findings": [_contract_finding(f) for f in result.findings],
    }


def _contract_finding(finding: Finding) -> dict[str, Any]:
    """The contract's keys plus `evidence_sha256` (an added key; v1 readers ignore it)."""
    return finding.to_dict()


def _waiver_cell(finding: Finding) -> str:
    waiver = finding.waiver
    if waiver is None:
        return ""
    state = "expired" if waiver.expired else "active"
    return (
        f"{state} until {waiver.expires.isoformat()}; approved by {waiver.approved_by}; "
        f"{waiver.justification}"
    )


def findings_csv(findings: Iterable[Finding]) -> str:
    """findings.csv: the same rows as findings.json, requirements flattened, formulas defused."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)  # RFC 4180: CRLF rows; CR or LF inside a cell gets quoted
    writer.writerow(CSV_COLUMNS)
    for finding in findings:
        row = [
            finding.control_id,
            finding.control_title,
            finding.stage,
            finding.severity,
            str(finding.status),
            finding.provider,
            finding.account,
            finding.region,
            finding.resource_type,
            finding.resource_id,
            finding.reason,
            requirements_cell(finding.requirements),
            finding.snapshot_id,
            _waiver_cell(finding),
            "; ".join(f"{fw}: {reason}" for fw, reason in finding.scope.items()),
            finding.evidence_sha256 or "",
        ]
        writer.writerow([neutralise_cell(cell) for cell in row])
    return buffer.getvalue()
