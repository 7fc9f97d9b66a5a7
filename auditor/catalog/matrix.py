"""Requirement x control coverage: which requirements automated evidence can speak to, which
need an attestation, and which nothing in the catalog covers yet."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from auditor.errors import UserError
from auditor.models import Catalog

AUTOMATED = "automated"
MANUAL = "manual"
NONE = "none"


def coverage_matrix(catalog: Catalog, frameworks: Sequence[str]) -> list[dict[str, Any]]:
    """One row per requirement of each framework named, in the framework file's order.

    Row keys: framework, requirement, title, requirement_manual, automated_controls,
    manual_controls (lists of control IDs, sorted) and coverage: `manual` when the requirement
    itself is manual (only an attestation satisfies it, whatever automated controls add) or only
    manual controls map to it; `automated` when an automated control maps to it; else `none`.
    """
    rows: list[dict[str, Any]] = []
    for framework_id in frameworks:
        framework = catalog.frameworks.get(framework_id)
        if framework is None:
            known = ", ".join(catalog.frameworks) or "none"
            raise UserError(f"unknown framework '{framework_id}' (known: {known})")
        for requirement in framework.requirements:
            mapped = [
                c for c in catalog.controls if requirement.id in c.maps_to.get(framework_id, ())
            ]
            automated = sorted(c.id for c in mapped if not c.manual)
            manual = sorted(c.id for c in mapped if c.manual)
            if requirement.manual or (manual and not automated):
                coverage = MANUAL
            elif automated:
                coverage = AUTOMATED
            else:
                coverage = NONE
            rows.append(
                {
                    "framework": framework_id,
                    "requirement": requirement.id,
                    "title": requirement.title,
                    "requirement_manual": requirement.manual,
                    "automated_controls": automated,
                    "manual_controls": manual,
                    "coverage": coverage,
                }
            )
    return rows
