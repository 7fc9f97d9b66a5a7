"""Evaluate collected evidence with the real catalog: {(control, resource): status}."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from auditor.evaluate import evaluate_snapshot
from auditor.models import (
    CollectionError,
    EvidenceDoc,
    Finding,
    Status,
    utcnow,
)
from auditor.pipeline import load_catalog
from devtools.factories import snapshot


def findings(docs: Sequence[EvidenceDoc], errors: Sequence[CollectionError]) -> list[Finding]:
    taken = snapshot("s1", docs, errors=errors, taken_at=utcnow(), scope={})
    return evaluate_snapshot(load_catalog(), taken, frameworks=None, on=date(2026, 12, 1))


def verdicts(
    docs: Sequence[EvidenceDoc], errors: Sequence[CollectionError]
) -> dict[tuple[str, str], Status]:
    return {(f.control_id, f.resource_id): f.status for f in findings(docs, errors)}


def assert_only_errors_changed(
    clean: dict[tuple[str, str], Status], faulty: dict[tuple[str, str], Status]
) -> None:
    """Every verdict of the faulty run is the clean run's or ERROR, and no resource the faulty
    run has no evidence for is PASS or FAIL. A verdict of the clean run may be missing only
    where the faulty run gives that control an ERROR: a list call that failed gives one ERROR
    for its whole account/region, standing for the resources it could not name."""
    errored = {control for (control, _), status in faulty.items() if status is Status.ERROR}
    for key, status in faulty.items():
        if status is not Status.ERROR:
            assert clean.get(key) is status, (key, clean.get(key), status)
    for key, status in clean.items():
        if key not in faulty:
            assert key[0] in errored, (key, status)
