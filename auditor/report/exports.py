"""Findings in the formats security teams already read: AWS Security Hub (ASFF), OCSF and JUnit.

Formatters return data; the pipeline writes files or calls Security Hub. Each takes the period-end
findings and an `ExportContext` (when, and the catalog's controls for titles and remediation), so a
report version's findings.json can be exported again later with the same result.

- ASFF: one `AwsSecurityFinding` per failing AWS control x resource (FAIL, including an expired
  waiver), Compliance.Status FAILED with the related requirements; validated against botocore's own
  `securityhub` service model in the tests. GCP findings have no place in Security Hub and are left
  out (their account is not an AWS account).
- OCSF: a Compliance Finding (class 2003) per automated verdict on a resource (PASS, FAIL, WAIVED,
  ERROR), built with py-ocsf-models, the library Prowler uses.
- JUnit: one test case per control x resource, grouped in a suite per control; a FAIL is a failure
  carrying the reason and the remediation, an ERROR an error, WAIVED / NOT_APPLICABLE / MANUAL
  skipped, so CI systems show results natively.
"""

from __future__ import annotations

import hashlib
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from auditor.errors import UserError
from auditor.models import Control, Finding, Status, isoformat

ASFF_SCHEMA_VERSION = "2018-10-08"
ASFF_TYPE = "Software and Configuration Checks/Industry and Regulatory Standards"
ASFF_BATCH = 100  # BatchImportFindings accepts at most 100 findings per call
_ASFF_SEVERITY = {
    "critical": "CRITICAL",
    "high": "HIGH",
    "medium": "MEDIUM",
    "low": "LOW",
    "info": "INFORMATIONAL",
}
# CloudFormation type -> ASFF resource type where Security Hub defines one; everything else "Other".
_ASFF_RESOURCE_TYPE = {
    "AWS::S3::Bucket": "AwsS3Bucket",
    "AWS::KMS::Key": "AwsKmsKey",
    "AWS::IAM::Role": "AwsIamRole",
    "AWS::IAM::User": "AwsIamUser",
    "AWS::ECR::Repository": "AwsEcrRepository",
    "AWS::CloudTrail::Trail": "AwsCloudTrailTrail",
    "AWS::SageMaker::NotebookInstance": "AwsSageMakerNotebookInstance",
    "AWS::Logs::LogGroup": "Other",
    "AWS::::Account": "AwsAccount",
}
_FRAMEWORK_LABEL = {"gdpr": "GDPR", "hipaa": "HIPAA", "pci-dss-4.0.1": "PCI DSS 4.0.1"}
_ACCOUNT_ID = re.compile(r"^\d{12}$")


@dataclass(frozen=True)
class ExportContext:
    """What every export needs beside the findings: when, and the controls they came from."""

    generated_at: datetime
    controls: Mapping[str, Control]
    tool_version: str = ""
    framework_labels: Mapping[str, str] | None = None

    def label(self, framework: str) -> str:
        labels = self.framework_labels or _FRAMEWORK_LABEL
        return labels.get(framework, framework)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def related_requirements(finding: Finding, context: ExportContext) -> list[str]:
    """`PCI DSS 4.0.1/3.5.1`-style requirement names, the form Security Hub standards use."""
    return [
        f"{context.label(framework)}/{requirement}"
        for framework, ids in finding.requirements.items()
        for requirement in ids
    ]


# ---------------------------------------------------------------- ASFF


def _partition(resource_id: str) -> str:
    parts = resource_id.split(":", 2)
    return parts[1] if len(parts) > 2 and parts[0] == "arn" and parts[1] else "aws"


def asff_findings(findings: Iterable[Finding], context: ExportContext) -> list[dict[str, Any]]:
    """`AwsSecurityFinding` records for every failing AWS control x resource."""
    created = isoformat(context.generated_at)
    records = []
    for finding in findings:
        if finding.status is not Status.FAIL or finding.provider != "aws":
            continue
        if not _ACCOUNT_ID.match(finding.account) or not finding.resource_id:
            continue
        control = context.controls.get(finding.control_id)
        partition = _partition(finding.resource_id)
        identity = hashlib.sha256(
            f"{finding.control_id}\n{finding.resource_id}".encode()
        ).hexdigest()[:32]
        resource: dict[str, Any] = {
            "Type": _ASFF_RESOURCE_TYPE.get(finding.resource_type, "Other"),
            "Id": _clip(finding.resource_id, 512),
            "Partition": partition,
        }
        if finding.region and finding.region != "global":
            resource["Region"] = finding.region
        region = finding.region if finding.region not in ("", "global") else "us-east-1"
        record: dict[str, Any] = {
            "SchemaVersion": ASFF_SCHEMA_VERSION,
            "Id": f"auditor/{finding.control_id}/{identity}",
            "ProductArn": (
                f"arn:{partition}:securityhub:{region}:{finding.account}:"
                f"product/{finding.account}/default"
            ),
            "GeneratorId": f"auditor/{finding.control_id}",
            "AwsAccountId": finding.account,
            "Types": [ASFF_TYPE],
            "CreatedAt": created,
            "UpdatedAt": created,
            "Severity": {"Label": _ASFF_SEVERITY.get(finding.severity, "INFORMATIONAL")},
            "Title": _clip(f"{finding.control_id} {finding.control_title}", 256),
            "Description": _clip(finding.reason or finding.control_title, 1024),
            "Resources": [resource],
            "Compliance": {
                "Status": "FAILED",
                "RelatedRequirements": related_requirements(finding, context)[:32],
            },
            "RecordState": "ACTIVE",
            "Workflow": {"Status": "NEW"},
            "ProductFields": {
                "auditor/ControlId": finding.control_id,
                "auditor/SnapshotId": finding.snapshot_id or "-",
                "auditor/EvidenceSha256": finding.evidence_sha256 or "-",
                "auditor/Stage": finding.stage,
            },
        }
        if control is not None:
            recommendation: dict[str, str] = {"Text": _clip(control.remediation, 512)}
            if control.references:
                recommendation["Url"] = control.references[0]
            record["Remediation"] = {"Recommendation": recommendation}
        records.append(record)
    return records


def asff_batches(records: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return [list(records[i : i + ASFF_BATCH]) for i in range(0, len(records), ASFF_BATCH)]


# ---------------------------------------------------------------- OCSF


def ocsf_findings(findings: Iterable[Finding], context: ExportContext) -> list[dict[str, Any]]:
    """OCSF Compliance Finding events (class 2003), one per automated verdict on a resource."""
    try:
        import py_ocsf_models  # noqa: F401
    except ImportError:
        raise UserError(
            "the ocsf format needs py-ocsf-models: pip install 'auditor[ocsf]'", field="--format"
        ) from None
    from py_ocsf_models.events.findings.activity_id import ActivityID
    from py_ocsf_models.events.findings.compliance_finding import ComplianceFinding
    from py_ocsf_models.events.findings.compliance_finding_type_id import (
        ComplianceFindingTypeID,
    )
    from py_ocsf_models.events.findings.severity_id import SeverityID
    from py_ocsf_models.events.findings.status_id import StatusID
    from py_ocsf_models.objects.compliance import Compliance
    from py_ocsf_models.objects.compliance_status import StatusID as ComplianceStatusID
    from py_ocsf_models.objects.finding_info import FindingInformation
    from py_ocsf_models.objects.metadata import Metadata
    from py_ocsf_models.objects.product import Product
    from py_ocsf_models.objects.remediation import Remediation
    from py_ocsf_models.objects.resource_details import ResourceDetails

    severity = {
        "critical": SeverityID.Critical,
        "high": SeverityID.High,
        "medium": SeverityID.Medium,
        "low": SeverityID.Low,
        "info": SeverityID.Informational,
    }
    compliance_status = {
        Status.PASS: ComplianceStatusID.Pass,
        Status.FAIL: ComplianceStatusID.Fail,
        Status.WAIVED: ComplianceStatusID.Fail,
        Status.ERROR: ComplianceStatusID.Unknown,
    }
    millis = int(context.generated_at.timestamp() * 1000)
    product = Product(name="auditor", vendor_name="auditor", version=context.tool_version or None)
    events = []
    for finding in findings:
        if finding.status not in compliance_status or not finding.resource_id:
            continue
        control = context.controls.get(finding.control_id)
        uid = hashlib.sha256(
            f"{finding.snapshot_id}\n{finding.control_id}\n{finding.resource_id}".encode()
        ).hexdigest()
        event = ComplianceFinding(
            activity_id=ActivityID.Create,
            activity_name="Create",
            type_uid=ComplianceFindingTypeID.Create,
            type_name="Compliance Finding: Create",
            time=millis,
            severity_id=severity.get(finding.severity, SeverityID.Unknown),
            severity=finding.severity.capitalize(),
            status_id=StatusID.Suppressed if finding.status is Status.WAIVED else StatusID.New,
            status=str(finding.status),
            message=finding.reason,
            metadata=Metadata(product=product, event_code=finding.control_id),
            finding_info=FindingInformation(
                uid=uid,
                title=f"{finding.control_id} {finding.control_title}",
                desc=finding.reason,
                created_time=millis,
                types=[finding.stage],
            ),
            compliance=Compliance(
                control=finding.control_id,
                requirements=related_requirements(finding, context),
                standards=sorted({context.label(fw) for fw in finding.requirements}),
                status_id=compliance_status[finding.status],
                desc=finding.reason,
            ),
            remediation=Remediation(
                desc=control.remediation, references=list(control.references) or None
            )
            if control is not None
            else None,
            resources=[
                ResourceDetails(
                    uid=finding.resource_id,
                    type=finding.resource_type,
                    region=finding.region or None,
                    cloud_partition=finding.provider or None,
                    data={
                        "account": finding.account,
                        "snapshot_id": finding.snapshot_id,
                        "evidence_sha256": finding.evidence_sha256,
                    },
                )
            ],
            unmapped={"auditor_status": str(finding.status)},
        )
        events.append(json.loads(event.model_dump_json(exclude_none=True)))
    return events


# ---------------------------------------------------------------- JUnit

# XML 1.0 cannot carry most control characters; bidi overrides would reorder text in CI UIs.
_NOT_XML_SAFE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufffe\uffff]"
)


def _xml_text(text: str) -> str:
    return _NOT_XML_SAFE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)


def junit_xml(findings: Iterable[Finding], context: ExportContext) -> bytes:
    """JUnit XML: a suite per control, a test case per resource (or one for the control)."""
    by_control: dict[str, list[Finding]] = {}
    for finding in findings:
        by_control.setdefault(finding.control_id, []).append(finding)
    root = ET.Element("testsuites", name="auditor", timestamp=isoformat(context.generated_at))
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for control_id in sorted(by_control):
        cases = by_control[control_id]
        suite = ET.SubElement(
            root, "testsuite", name=_xml_text(f"{control_id} {cases[0].control_title}")
        )
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        control = context.controls.get(control_id)
        for finding in cases:
            counts["tests"] += 1
            case = ET.SubElement(
                suite,
                "testcase",
                classname=control_id,
                name=_xml_text(finding.resource_id or f"{control_id} (control)"),
            )
            _junit_outcome(case, finding, control, counts)
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
    for key, value in totals.items():
        root.set(key, str(value))
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8")


def _junit_outcome(
    case: ET.Element, finding: Finding, control: Control | None, counts: dict[str, int]
) -> None:
    reason = _xml_text(finding.reason)
    status = finding.status
    if status is Status.FAIL:
        counts["failures"] += 1
        element = ET.SubElement(case, "failure", message=reason, type="FAIL")
        remediation = _xml_text(control.remediation) if control is not None else ""
        element.text = f"{reason}\n\nRemediation: {remediation}".rstrip()
    elif status is Status.ERROR:
        counts["errors"] += 1
        ET.SubElement(case, "error", message=reason, type="ERROR").text = reason
    elif status in (Status.WAIVED, Status.NOT_APPLICABLE, Status.MANUAL):
        counts["skipped"] += 1
        ET.SubElement(case, "skipped", message=f"{status}: {reason}")
    else:
        ET.SubElement(case, "system-out").text = f"{status}: {reason}"


# ---------------------------------------------------------------- the registry


@dataclass(frozen=True)
class ExportFormat:
    name: str
    filename: str
    render: Callable[[Sequence[Finding], ExportContext], bytes]


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, indent=2, ensure_ascii=False).encode("utf-8") + b"\n"


EXPORT_FORMATS: Mapping[str, ExportFormat] = {
    "asff": ExportFormat(
        "asff", "findings.asff.json", lambda f, c: _json_bytes(asff_findings(f, c))
    ),
    "ocsf": ExportFormat(
        "ocsf", "findings.ocsf.json", lambda f, c: _json_bytes(ocsf_findings(f, c))
    ),
    "junit": ExportFormat("junit", "findings.junit.xml", junit_xml),
}
