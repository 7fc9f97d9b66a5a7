"""Requirement x control coverage: which requirements automated evidence can speak to, which
need an attestation, and which nothing in the catalog covers yet."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from auditor.errors import UserError
from auditor.models import Catalog, CoverageRow

AUTOMATED = "automated"
MANUAL = "manual"
NONE = "none"


def coverage_matrix(catalog: Catalog, frameworks: Sequence[str]) -> list[dict[str, Any]]:
    """One row per requirement of each framework named, in the framework file's order.

    Row keys: framework, requirement, title, requirement_manual, automated_controls,
    manual_controls, supporting_controls (lists of control IDs, sorted), why (control ID -> the
    mapping's one-line reason) and coverage: `manual` when the requirement
    itself is manual (only an attestation satisfies it, whatever automated controls add) or only
    manual controls map to it; `automated` when an automated control maps to it; else `none`.
    """
    for framework_id in frameworks:
        if framework_id not in catalog.frameworks:
            known = ", ".join(catalog.frameworks) or "none"
            raise UserError(f"unknown framework '{framework_id}' (known: {known})")
    return [
        {
            "framework": row.framework,
            "requirement": row.requirement.id,
            "title": row.requirement.title,
            "requirement_manual": row.requirement.manual,
            "automated_controls": list(row.automated_controls),
            "manual_controls": list(row.manual_controls),
            "coverage": row.coverage,
            "supporting_controls": list(row.supporting_controls),
            "why": _why(catalog, row.framework, row.requirement.id, mapped_ids(row)),
        }
        for row in catalog.coverage(frameworks)
    ]


def mapped_ids(row: CoverageRow) -> tuple[str, ...]:
    """Every control mapped to the row's requirement: deciding, manual, then supporting."""
    return (*row.automated_controls, *row.manual_controls, *row.supporting_controls)


def _why(catalog: Catalog, framework: str, requirement: str, ids: Sequence[str]) -> dict[str, str]:
    controls = {c.id: c for c in catalog.controls if c.id in ids}
    return {cid: controls[cid].why(framework, requirement) for cid in ids if cid in controls}
