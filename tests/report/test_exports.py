"""ASFF, OCSF and JUnit exports: each validated against its official schema, and Security Hub
publishing exercised on a moto server (batches of 100, refusals reported per finding)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import boto3
import botocore.session
import pytest
from botocore.validate import ParamValidator
from py_ocsf_models.events.findings.compliance_finding import ComplianceFinding

from auditor import pipeline
from auditor.cli import run
from auditor.models import Status
from auditor.report.exports import ASFF_BATCH, junit_xml
from auditor.report.securityhub import publish_to_securityhub
from devtools.report_synthetic import Synthetic

pytestmark = pytest.mark.moto(region="eu-west-1")  # as the demo points boto3


def _aws_failures(synthetic: Synthetic) -> list[object]:
    return [
        f
        for f in synthetic.result.findings
        if f.status is Status.FAIL and f.provider == "aws" and f.resource_id
    ]


def _batch_import_shape():  # type: ignore[no-untyped-def]
    model = botocore.session.get_session().get_service_model("securityhub")
    return model.operation_model("BatchImportFindings").input_shape


def test_asff_fits_botocores_securityhub_model(synthetic: Synthetic) -> None:
    files = pipeline.export_files(synthetic.result, ["asff"])
    records = json.loads(files["findings.asff.json"])
    assert len(records) == len(_aws_failures(synthetic)) > 0
    report = ParamValidator().validate({"Findings": records[:100]}, _batch_import_shape())
    assert not report.has_errors(), report.generate_report()
    for record in records:
        assert record["Compliance"]["Status"] == "FAILED"
        assert record["Compliance"]["RelatedRequirements"]
        assert record["ProductFields"]["auditor/SnapshotId"]
        assert len(record["Description"]) <= 1024
    assert len({r["Id"] for r in records}) == len(records)


def test_a_broken_asff_record_is_caught_by_the_model_check(synthetic: Synthetic) -> None:
    """The schema check itself can fail: a record without a required member does not pass."""
    records = json.loads(pipeline.export_files(synthetic.result, ["asff"])["findings.asff.json"])
    del records[0]["AwsAccountId"]
    assert ParamValidator().validate({"Findings": records[:1]}, _batch_import_shape()).has_errors()


def test_ocsf_events_validate_with_py_ocsf_models(synthetic: Synthetic) -> None:
    events = json.loads(pipeline.export_files(synthetic.result, ["ocsf"])["findings.ocsf.json"])
    judged = [
        f
        for f in synthetic.result.findings
        if f.resource_id and f.status in (Status.PASS, Status.FAIL, Status.WAIVED, Status.ERROR)
    ]
    assert len(events) == len(judged) > 0
    for event in events:
        parsed = ComplianceFinding.model_validate(event)
        assert parsed.class_uid == 2003
        assert parsed.compliance.control
    statuses = {e["compliance"]["status_id"] for e in events}
    assert {1, 3} <= statuses  # Pass and Fail both present


def test_junit_has_a_case_per_control_and_resource(synthetic: Synthetic) -> None:
    data = pipeline.export_files(synthetic.result, ["junit"])["findings.junit.xml"]
    root = ET.fromstring(data)
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == len(synthetic.result.findings)
    fails = [f for f in synthetic.result.findings if f.status is Status.FAIL]
    failures = root.findall("./testsuite/testcase/failure")
    assert len(failures) == len(fails) == int(root.get("failures", "-1"))
    assert all("Remediation:" in (f.text or "") for f in failures)
    errors = [f for f in synthetic.result.findings if f.status is Status.ERROR]
    assert len(root.findall("./testsuite/testcase/error")) == len(errors)


def test_junit_neutralises_characters_xml_and_terminals_misread(synthetic: Synthetic) -> None:
    from dataclasses import replace

    finding = replace(synthetic.result.findings[0], reason="bad\x1b[31m \u202eexe.txt\x00")
    context = pipeline.export_context(synthetic.result.catalog, synthetic.result.generated_at)
    text = junit_xml([finding], context).decode()
    ET.fromstring(text)  # still well-formed XML
    assert "\x1b" not in text and "\u202e" not in text and "\\u202e" in text


def test_publish_to_securityhub_in_batches(
    aws: str, synthetic: Synthetic, report_copy: Path
) -> None:
    expected = len(_aws_failures(synthetic))
    assert expected > ASFF_BATCH  # more than one batch
    assert run(["publish", str(report_copy), "--to", "securityhub", "--region", "eu-west-1"]) == 0
    client = boto3.client("securityhub", region_name="eu-west-1")
    found = client.get_findings(MaxResults=100)
    total = len(found["Findings"])
    while found.get("NextToken"):
        found = client.get_findings(MaxResults=100, NextToken=found["NextToken"])
        total += len(found["Findings"])
    assert total == expected


def test_securityhub_refusals_are_reported_per_finding(aws: str, synthetic: Synthetic) -> None:
    records = json.loads(pipeline.export_files(synthetic.result, ["asff"])["findings.asff.json"])
    broken = dict(records[1], Id="auditor/broken", Resources=[])
    outcome = publish_to_securityhub([records[0], broken], region="us-east-1")
    assert outcome.imported == 1
    assert [f[0] for f in outcome.failed] == ["auditor/broken"]
