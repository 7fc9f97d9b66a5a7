"""Paths and constants shared by the catalog tests (a uniquely named module, because several
test folders have a conftest.py and `from conftest import ...` would be ambiguous)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
EXAMPLES = FIXTURES / "catalog_examples"
BROKEN = FIXTURES / "broken_catalogs"

KNOWN_TYPES = frozenset(
    {"AWS::S3::Bucket", "AWS::Logs::LogGroup", "aiplatform.googleapis.com/CustomJob"}
)
