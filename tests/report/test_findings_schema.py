"""findings.json, as the pipeline writes it, validates against the published JSON Schema
(docs/findings.schema.json), and the schema is strict enough to catch a broken document."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from devtools.report_synthetic import Synthetic

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "docs" / "findings.schema.json").read_text()
)
VALIDATOR = Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)


def test_the_schema_is_a_valid_json_schema() -> None:
    Draft202012Validator.check_schema(SCHEMA)


def test_findings_json_validates(synthetic: Synthetic) -> None:
    document = json.loads(synthetic.findings_json)
    errors = sorted(VALIDATOR.iter_errors(document), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]
    assert document["findings"]


def test_the_report_version_findings_validate(report_dir: Path) -> None:
    document = json.loads((report_dir / "findings.json").read_text())
    assert not list(VALIDATOR.iter_errors(document))


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d["findings"][0].pop("status"),
        lambda d: d["findings"][0].__setitem__("status", "OK"),
        lambda d: d["findings"][0].__setitem__("requirements", {"gdpr": "Art. 32"}),
        lambda d: d.__setitem__("schema", "auditor.findings/v2"),
        lambda d: d["snapshots"][0].__setitem__("manifest_sha256", "abc"),
        lambda d: d.__setitem__("generated_at", "yesterday"),
    ],
    ids=["no status", "bad status", "requirements not lists", "schema", "bad sha", "bad time"],
)
def test_a_broken_document_fails(synthetic: Synthetic, damage: object) -> None:
    document = copy.deepcopy(json.loads(synthetic.findings_json))
    damage(document)  # type: ignore[operator]
    assert list(VALIDATOR.iter_errors(document))
