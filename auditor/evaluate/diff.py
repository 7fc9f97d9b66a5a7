"""`auditor diff OLD NEW`: what changed between two findings documents.

Works on findings.json documents (not AuditResults) so any two report versions or periods can be
compared, including ones written by an older tool version. A finding's identity is
(control_id, resource_id).

Classification of a (control, resource) that is FAIL now:
- `new_failures`: it had no verdict before (absent, ERROR or NOT_APPLICABLE);
- `regressions`: it was PASS or WAIVED before (an expired waiver shows up here).
`resolved_failures`: FAIL before and PASS or WAIVED now (the old finding is listed).
`controls_changed`: same ID, different title or requirements, or a different per-control
digest when both documents carry one in an optional top-level `controls` mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from auditor.errors import UserError
from auditor.models import FINDINGS_SCHEMA, Finding, FindingsDiff

_NO_VERDICT = {"ERROR", "NOT_APPLICABLE"}
_VERDICTS = {"PASS", "FAIL", "WAIVED"}


def _findings(doc: Mapping[str, Any], label: str) -> dict[tuple[str, str], Finding]:
    if doc.get("schema") != FINDINGS_SCHEMA or not isinstance(doc.get("findings"), list):
        raise UserError(
            f"not a findings document (expected schema {FINDINGS_SCHEMA} with a findings list)",
            file=label,
        )
    out: dict[tuple[str, str], Finding] = {}
    for index, raw in enumerate(doc["findings"]):
        try:
            finding = Finding.from_dict(raw)
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(f"finding {index} is malformed: {exc}", file=label) from None
        out[finding.key] = finding
    return out


def _control_identity(
    doc: Mapping[str, Any], findings: Mapping[tuple[str, str], Finding]
) -> tuple[dict[str, Any], dict[str, str]]:
    """(control -> (title, requirements)) from the findings, and control -> digest when the
    document carries an optional `controls` mapping."""
    identity: dict[str, Any] = {}
    for finding in findings.values():
        requirements = tuple(sorted((fw, tuple(ids)) for fw, ids in finding.requirements.items()))
        identity.setdefault(finding.control_id, (finding.control_title, requirements))
    digests: dict[str, str] = {}
    declared = doc.get("controls")
    if isinstance(declared, Mapping):
        for control_id, info in declared.items():
            digest = info.get("digest") if isinstance(info, Mapping) else info
            if isinstance(digest, str) and digest:
                digests[str(control_id)] = digest
    return identity, digests


def diff_findings(
    old_doc: Mapping[str, Any], new_doc: Mapping[str, Any], old_label: str, new_label: str
) -> FindingsDiff:
    """Compare two findings.json documents (rules in the module docstring)."""
    old = _findings(old_doc, old_label)
    new = _findings(new_doc, new_label)
    new_failures, regressions, resolved, changes = [], [], [], []
    for key, finding in new.items():
        before = old.get(key)
        now = str(finding.status)
        was = str(before.status) if before else None
        if was != now and before is not None:
            changes.append((key[0], key[1], str(was), now))
        if now == "FAIL":
            if before is None or was in _NO_VERDICT:
                new_failures.append(finding)
            elif was in ("PASS", "WAIVED"):
                regressions.append(finding)
    for key, finding in old.items():
        after = new.get(key)
        if str(finding.status) != "FAIL" or after is None:
            continue
        if str(after.status) in ("PASS", "WAIVED"):
            resolved.append(finding)

    def resources(findings: Mapping[tuple[str, str], Finding]) -> set[str]:
        # real resources only: not manual controls, NOT_APPLICABLE or scope pseudo-resources
        return {
            f.resource_id
            for f in findings.values()
            if f.resource_id and (f.evidence_sha256 is not None or str(f.status) in _VERDICTS)
        }

    old_resources, new_resources = resources(old), resources(new)
    old_controls, old_digests = _control_identity(old_doc, old)
    new_controls, new_digests = _control_identity(new_doc, new)

    def changed_control(cid: str) -> bool:
        if cid in old_digests and cid in new_digests:
            return old_digests[cid] != new_digests[cid]
        return bool(old_controls[cid] != new_controls[cid])

    changed = sorted(
        cid for cid in old_controls.keys() & new_controls.keys() if changed_control(cid)
    )
    return FindingsDiff(
        old_label=old_label,
        new_label=new_label,
        new_failures=tuple(sorted(new_failures, key=lambda f: f.key)),
        resolved_failures=tuple(sorted(resolved, key=lambda f: f.key)),
        regressions=tuple(sorted(regressions, key=lambda f: f.key)),
        new_resources=tuple(sorted(new_resources - old_resources)),
        removed_resources=tuple(sorted(old_resources - new_resources)),
        controls_added=tuple(sorted(new_controls.keys() - old_controls.keys())),
        controls_removed=tuple(sorted(old_controls.keys() - new_controls.keys())),
        controls_changed=tuple(changed),
        status_changes=tuple(sorted(changes)),
    )


def diff_to_dict(diff: FindingsDiff) -> dict[str, Any]:
    """The diff as JSON-ready data (what `auditor diff --format json` prints)."""

    def brief(finding: Finding) -> dict[str, Any]:
        return {
            "control_id": finding.control_id,
            "resource_id": finding.resource_id,
            "status": str(finding.status),
            "severity": finding.severity,
            "reason": finding.reason,
        }

    return {
        "schema": "auditor.diff/v1",
        "old": diff.old_label,
        "new": diff.new_label,
        "new_failures": [brief(f) for f in diff.new_failures],
        "resolved_failures": [brief(f) for f in diff.resolved_failures],
        "regressions": [brief(f) for f in diff.regressions],
        "new_resources": list(diff.new_resources),
        "removed_resources": list(diff.removed_resources),
        "controls_added": list(diff.controls_added),
        "controls_removed": list(diff.controls_removed),
        "controls_changed": list(diff.controls_changed),
        "status_changes": [
            {"control_id": c, "resource_id": r, "old": o, "new": n}
            for c, r, o, n in diff.status_changes
        ],
    }


def diff_to_text(diff: FindingsDiff) -> str:
    """The diff as plain text for a terminal: one section per kind of change, empty ones said."""
    lines = [f"Changes from {diff.old_label} to {diff.new_label}"]

    def section(title: str, items: list[str]) -> None:
        lines.append("")
        lines.append(f"{title} ({len(items)})")
        lines.extend(f"  {item}" for item in items) if items else lines.append("  none")

    def describe(finding: Finding) -> str:
        return f"{finding.control_id} {finding.resource_id or '(control)'}: {finding.reason}"

    section("New failures", [describe(f) for f in diff.new_failures])
    section("Regressions (passed before, fail now)", [describe(f) for f in diff.regressions])
    section("Resolved failures", [describe(f) for f in diff.resolved_failures])
    section("New resources", list(diff.new_resources))
    section("Removed resources", list(diff.removed_resources))
    section("Controls added", list(diff.controls_added))
    section("Controls removed", list(diff.controls_removed))
    section("Controls changed", list(diff.controls_changed))
    return "\n".join(lines) + "\n"
