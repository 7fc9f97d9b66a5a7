"""OSCAL assessment results (`--format oscal`), built and validated with compliance-trestle.

compliance-trestle is the optional extra `oscal`; it is imported only when this runs. The
document is built as OSCAL JSON and validated by trestle's own `AssessmentResults` model, so a
field we got wrong fails here rather than in the auditor's tool.

Mapping: one observation per period-end finding (per evidence item: the resource's document and
its sha256, or the attestation), one OSCAL finding per requirement of the selected frameworks
with its roll-up as the objective status, related to the observations of its controls.
UUIDs are derived from content (uuid5), so the same audit gives the same document.
"""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any

from auditor import __version__ as tool_version
from auditor.errors import UserError
from auditor.models import Finding, RollupStatus, isoformat

if TYPE_CHECKING:
    from auditor.models import AuditResult

_NAMESPACE = uuid.UUID("6f1d3c2a-6a61-4f1e-9d0b-8a9a3c6f2e11")


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "\x1f".join(parts)))


def oscal_token(framework: str, requirement_id: str) -> str:
    """An OSCAL control-id for a requirement: `Art. 32(1)(a)` -> `gdpr_art.-32-1-a`."""
    cleaned = re.sub(r"[^A-Za-z0-9.]+", "-", requirement_id).strip("-").lower()
    return f"{framework}_{cleaned or 'requirement'}"


def _prop(name: str, value: str) -> dict[str, str]:
    return {"name": name, "value": " ".join(value.split()) or "none"}


def _observation(finding: Finding, result: AuditResult) -> dict[str, Any]:
    collected = result.generated_at
    for manifest in result.snapshots:
        if manifest.id == finding.snapshot_id:
            collected = manifest.taken_at
    subject = finding.resource_id or f"control:{finding.control_id}"
    observation: dict[str, Any] = {
        "uuid": _uuid("observation", finding.control_id, subject, finding.snapshot_id),
        "title": f"{finding.control_id} on {subject}",
        "description": finding.reason or finding.control_title,
        "methods": ["EXAMINE"] if finding.status in ("MANUAL", "ATTESTED") else ["TEST"],
        "props": [
            _prop("control-id", finding.control_id),
            _prop("status", str(finding.status)),
            _prop("severity", finding.severity),
            _prop("stage", finding.stage),
        ],
        "subjects": [
            {
                "subject-uuid": _uuid("subject", subject),
                "type": "resource",
                "title": subject,
            }
        ],
        "collected": isoformat(collected),
    }
    if finding.evidence_sha256:
        where = f"snapshot {finding.snapshot_id}" if finding.snapshot_id else "attestation files"
        observation["relevant-evidence"] = [
            {
                "description": f"Evidence document sha256 {finding.evidence_sha256} in {where}.",
                "props": [_prop("evidence-sha256", finding.evidence_sha256)],
            }
        ]
    return observation


def oscal_assessment_results(result: AuditResult) -> dict[str, Any]:
    """The audit as an OSCAL `assessment-results` document (a dict ready for json.dumps).

    Raises UserError when compliance-trestle is not installed."""
    try:
        from trestle.oscal import OSCAL_VERSION
        from trestle.oscal.assessment_results import AssessmentResults
    except ImportError:
        raise UserError(
            "OSCAL output needs compliance-trestle: install it with pip install 'auditor[oscal]'"
        ) from None

    observations = [_observation(f, result) for f in result.findings]
    by_control: dict[str, list[str]] = {}
    for finding, observation in zip(result.findings, observations, strict=True):
        by_control.setdefault(finding.control_id, []).append(observation["uuid"])

    findings = []
    selected = []
    for rollup in result.rollups:
        token = oscal_token(rollup.framework, rollup.requirement_id)
        selected.append({"control-id": token})
        related = [u for cid in rollup.control_ids for u in by_control.get(cid, [])]
        satisfied = rollup.status is RollupStatus.COMPLIANT
        counts = ", ".join(f"{k} {v}" for k, v in rollup.counts.items() if v) or "no findings"
        entry: dict[str, Any] = {
            "uuid": _uuid("finding", rollup.framework, rollup.requirement_id),
            "title": f"{rollup.framework} {rollup.requirement_id}: {rollup.title}",
            "description": (
                f"Requirement {rollup.requirement_id} rolls up as {rollup.status} from "
                f"{len(rollup.control_ids)} control(s): {counts}."
            ),
            "props": [
                _prop("framework", rollup.framework),
                _prop("requirement-id", rollup.requirement_id),
                _prop("rollup-status", str(rollup.status)),
            ],
            "target": {
                "type": "objective-id",
                "target-id": token,
                "title": rollup.requirement_id,
                "status": {"state": "satisfied" if satisfied else "not-satisfied"},
            },
        }
        if related:
            entry["related-observations"] = [{"observation-uuid": u} for u in related]
        findings.append(entry)

    period = result.period
    start = (
        period.start
        if period
        else min((m.taken_at for m in result.snapshots), default=result.generated_at)
    )
    end = period.end if period else result.generated_at
    title = str(result.metadata.get("title") or "ML workload compliance assessment")
    document: dict[str, Any] = {
        "uuid": _uuid("assessment-results", result.catalog.sha256, isoformat(result.generated_at)),
        "metadata": {
            "title": title,
            "last-modified": isoformat(result.generated_at),
            "version": tool_version,
            "oscal-version": OSCAL_VERSION,
        },
        "import-ap": {
            "href": "#catalog",
            "remarks": (
                "No separate assessment plan: the plan is the auditor control catalog with "
                f"sha256 {result.catalog.sha256}, tested on the full population of resources."
            ),
        },
        "results": [
            {
                "uuid": _uuid("result", result.catalog.sha256, period.label if period else ""),
                "title": f"Assessment {period.label if period else 'snapshot'}",
                "description": (
                    f"Automated evaluation of {len(result.snapshots)} evidence snapshot(s) "
                    f"against {', '.join(result.frameworks)}."
                ),
                "start": isoformat(start),
                "end": isoformat(max(end, start)),
                "reviewed-controls": {
                    "control-selections": [{"include-controls": selected}]
                    if selected
                    else [{"include-all": {}}]
                },
                "observations": observations or None,
                "findings": findings or None,
            }
        ],
    }
    for key in ("observations", "findings"):
        if document["results"][0][key] is None:
            del document["results"][0][key]
    model = AssessmentResults.model_validate(document)
    validated: dict[str, Any] = model.oscal_dict()
    return validated
