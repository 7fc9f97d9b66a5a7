"""The control catalog: YAML -> a validated `Catalog`, and its coverage matrix.

Public API (ARCHITECTURE.md): `load_catalog` and `coverage_matrix`. The formatters in
`auditor.catalog.formats` turn a catalog into table rows, CSV, JSON and HTML for the CLI.
"""

from __future__ import annotations

from auditor.catalog.loader import control_digest, load_catalog
from auditor.catalog.matrix import coverage_matrix

__all__ = ["control_digest", "coverage_matrix", "load_catalog"]
