"""A resource that was listed but could not be described has an error and no document: its
controls say ERROR for it, never nothing (which would read as NOT_APPLICABLE)."""

from __future__ import annotations

from support.verdicts import findings

from auditor.models import CollectionError, Status

NOTEBOOK = "arn:aws:sagemaker:us-east-1:123456789012:notebook-instance/research"


def _error(resource_id: str | None) -> CollectionError:
    return CollectionError(
        provider="aws",
        account="123456789012",
        region="us-east-1",
        service="sagemaker",
        operation="DescribeNotebookInstance",
        error_code="MalformedResponse",
        message="DescribeNotebookInstance: the body is not JSON",
        resource_type="AWS::SageMaker::NotebookInstance",
        resource_id=resource_id,
    )


def test_a_described_resource_that_failed_is_error_for_every_control_of_its_type() -> None:
    result = [
        f for f in findings([], [_error(NOTEBOOK)]) if "SageMaker::Notebook" in f.resource_type
    ]
    assert result, "no finding at all for a resource that exists"
    assert {f.status for f in result} == {Status.ERROR}
    assert {f.resource_id for f in result} == {NOTEBOOK}
    assert all("MalformedResponse" in f.reason for f in result)
    control_ids = {f.control_id for f in result}
    assert "ML-TRAIN-013" in control_ids
