"""Evaluate collected evidence with the real catalog: {(control, resource): status}."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from auditor.evaluate import evaluate_snapshot
from auditor.models import (
    CollectionError,
    EvidenceDoc,
    Finding,
    Snapshot,
    SnapshotManifest,
    Status,
    utcnow,
)
from auditor.pipeline import load_catalog


def findings(docs: Sequence[EvidenceDoc], errors: Sequence[CollectionError]) -> list[Finding]:
    now = utcnow()
    manifest = SnapshotManifest(
        "s1", "aws", {}, now, now, "t", "c", {}, {}, tuple(errors), {}, None
    )
    return evaluate_snapshot(
        load_catalog(), Snapshot(manifest, tuple(docs)), frameworks=None, on=date(2026, 12, 1)
    )


def verdicts(
    docs: Sequence[EvidenceDoc], errors: Sequence[CollectionError]
) -> dict[tuple[str, str], Status]:
    return {(f.control_id, f.resource_id): f.status for f in findings(docs, errors)}


def assert_only_errors_changed(
    clean: dict[tuple[str, str], Status], faulty: dict[tuple[str, str], Status]
) -> None:
    """Every verdict of the faulty run is the clean run's or ERROR; a control that was
    NOT_APPLICABLE may instead be ERROR on a resource it could not judge."""
    errored = {control for (control, _), status in faulty.items() if status is Status.ERROR}
    for key, status in faulty.items():
        if status is not Status.ERROR:
            assert clean.get(key) is status, (key, clean.get(key), status)
    for key, status in clean.items():
        if key not in faulty:
            assert status is Status.NOT_APPLICABLE and key[0] in errored, (key, status)
