"""The report's view model: everything the templates show, computed once from an AuditResult.

Templates only lay out; all counting, grouping and ordering happens here, so the HTML and the PDF
say the same thing and the logic is testable without rendering.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from markupsafe import Markup

from auditor.models import (
    AuditResult,
    CollectionError,
    Control,
    EvidenceCoverage,
    Finding,
    FindingsDiff,
    ReportManifest,
    RollupStatus,
    Status,
    isoformat,
    requirements_cell,
)
from auditor.report import charts, lineage_svg

# Worst first: the status a control shows when its resources disagree.
STATUS_PRECEDENCE: tuple[str, ...] = (
    "FAIL",
    "ERROR",
    "MANUAL",
    "WAIVED",
    "ATTESTED",
    "PASS",
    "NOT_APPLICABLE",
)
STATUS_ORDER: tuple[str, ...] = (
    "PASS",
    "FAIL",
    "ERROR",
    "WAIVED",
    "MANUAL",
    "ATTESTED",
    "NOT_APPLICABLE",
)
ROLLUP_ORDER: tuple[str, ...] = tuple(str(s) for s in RollupStatus)
STAGE_ORDER: tuple[str, ...] = (
    "data",
    "training",
    "storage",
    "deployment",
    "monitoring",
    "governance",
)
SEVERITY_ORDER: tuple[str, ...] = ("critical", "high", "medium", "low", "info")
PCI_FRAMEWORK = "pci-dss-4.0.1"
# The PCI DSS v4.0.1 Report on Compliance response terms beside our roll-up statuses (one table).
# NOT_COVERED whose only findings are NOT_APPLICABLE becomes "Not Applicable" (see `pci_roc_term`).
PCI_ROC_TERMS: Mapping[str, str] = {
    str(RollupStatus.COMPLIANT): "In Place",
    str(RollupStatus.NON_COMPLIANT): "Not in Place",
    str(RollupStatus.INCONCLUSIVE): "Not Tested",
    str(RollupStatus.MANUAL): "Not Tested",
    str(RollupStatus.NOT_COVERED): "Not Tested",
}


def pci_roc_term(status: str, counts: Mapping[str, int] | None = None) -> str:
    """The ROC response for a requirement's roll-up: Not Applicable only when nothing was tested
    and every finding said the requirement's controls had nothing in scope."""
    findings = counts or {}
    only_na = findings.get("NOT_APPLICABLE", 0) > 0 and not any(
        n for s, n in findings.items() if s != "NOT_APPLICABLE"
    )
    if status == str(RollupStatus.NOT_COVERED) and only_na:
        return "Not Applicable"
    return PCI_ROC_TERMS.get(status, "Not Tested")


FAILING_STATUSES = frozenset({"FAIL", "ERROR"})

# The PDF lists at most this many failing resources per control; the rest are in the
# attached findings.csv. (10,000 rows in tables would cost WeasyPrint ~100 s and 1.3 GB.)
PDF_ROW_LIMIT = 25


@dataclass(frozen=True, slots=True)
class FindingRow:
    """One finding flattened for a table row; `frameworks` drives the HTML filter."""

    control_id: str
    control_title: str
    status: str
    severity: str
    stage: str
    frameworks: str  # space separated framework IDs
    provider: str
    account: str
    region: str
    resource_type: str
    resource_id: str
    reason: str
    requirements: str
    waiver: str
    snapshot_id: str = ""
    evidence_sha256: str = ""  # the stored document the verdict read (`auditor evidence show`)


@dataclass(frozen=True)
class ControlView:
    id: str
    title: str
    stage: str
    severity: str
    manual: bool
    status: str
    counts: Mapping[str, int]
    rationale: str
    remediation: str
    remediation_snippet: str
    references: tuple[str, ...]
    maps_to: str
    frameworks: str
    failing: tuple[FindingRow, ...]  # FAIL and ERROR, every one (the PDF slices)
    attestation_question: str | None
    # each mapping in scope: framework, id, why, supporting
    mappings: tuple[Mapping[str, Any], ...] = ()

    @property
    def failing_total(self) -> int:
        return len(self.failing)


@dataclass(frozen=True)
class RequirementView:
    id: str
    title: str
    status: str
    manual: bool
    controls: tuple[ControlView, ...]
    attestation: str | None
    why: Mapping[str, str] = field(default_factory=dict)  # control ID -> why it is evidence here
    supporting: tuple[ControlView, ...] = ()  # shown beside the requirement, never deciding it
    roc: str | None = None  # PCI DSS ROC response term (PCI requirements only)


@dataclass(frozen=True)
class FrameworkView:
    id: str
    name: str
    version: str
    source: str
    requirements: tuple[RequirementView, ...]
    rollup_counts: Mapping[str, int]
    anchor: str


@dataclass(frozen=True)
class VersionEntry:
    version: int
    report_id: str
    generated_at: str
    manifest_sha256: str | None
    signed: bool
    current: bool


@dataclass(frozen=True)
class ReportView:
    """What the templates receive as `r`."""

    title: str
    organisation: str
    scope_text: str
    period_label: str
    period_range: str
    version: int
    report_id: str
    generated_at: str
    tool_version: str
    catalog_sha256: str
    supersedes: str | None
    signed: bool
    versions: tuple[VersionEntry, ...]
    accounts: tuple[str, ...]
    projects: tuple[str, ...]
    regions: tuple[str, ...]
    collectors: tuple[Mapping[str, Any], ...]
    snapshots: tuple[Mapping[str, Any], ...]
    totals: Mapping[str, int]
    resource_count: int
    finding_count: int
    charts: Mapping[str, Markup]
    frameworks: tuple[FrameworkView, ...]
    controls: tuple[ControlView, ...]
    not_applicable: tuple[ControlView, ...]
    waivers: tuple[Mapping[str, Any], ...]
    expired_waiver_findings: tuple[FindingRow, ...]
    attestations: tuple[Mapping[str, Any], ...]
    missing_attestations: tuple[Mapping[str, Any], ...]
    collection_errors: tuple[Mapping[str, Any], ...]
    diff: Mapping[str, Any] | None
    effectiveness: tuple[Mapping[str, Any], ...]
    deviations: tuple[Mapping[str, Any], ...]
    coverage: tuple[Mapping[str, Any], ...]
    evidence_index: tuple[Mapping[str, Any], ...]
    findings: tuple[FindingRow, ...]
    filter_values: Mapping[str, tuple[str, ...]]
    management_assertion: str
    auditor_name: str
    row_limit: int = PDF_ROW_LIMIT
    attachments: tuple[tuple[str, bytes, str, str], ...] = field(default=())
    classification: str = ""  # e.g. "Confidential": every page and the HTML header
    sections: tuple[Mapping[str, Any], ...] = ()  # numbered chapters, in order (the TOC)
    section_numbers: Mapping[str, str] = field(default_factory=dict)  # anchor -> "7"
    evidence_coverage: tuple[Mapping[str, Any], ...] = ()
    evidence_sufficient: bool = True
    assertion: Mapping[str, Any] = field(default_factory=dict)  # name, title, text, notes
    open_exceptions: tuple[Mapping[str, Any], ...] = ()  # controls with FAIL/ERROR findings
    # sha256 -> the stored (redacted) document, for FAIL/ERROR findings; the HTML embeds them
    evidence_documents: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def number(self, anchor: str) -> str:
        """A chapter's number ("7", "A"), or "" for one outside the numbering."""
        return self.section_numbers.get(anchor, "")

    # snapshots of the period not evaluated: voided in the store or excluded by the command line
    set_aside: tuple[Mapping[str, Any], ...] = ()
    system: Mapping[str, Any] = field(default_factory=dict)  # system description, scope


def finding_row(finding: Finding) -> FindingRow:
    frameworks = " ".join(fw for fw, ids in finding.requirements.items() if ids)
    waiver = ""
    if finding.waiver is not None:
        state = "expired" if finding.waiver.expired else "until"
        waiver = f"{state} {finding.waiver.expires.isoformat()} ({finding.waiver.approved_by})"
    return FindingRow(
        control_id=finding.control_id,
        control_title=finding.control_title,
        status=str(finding.status),
        severity=finding.severity,
        stage=finding.stage,
        frameworks=frameworks,
        provider=finding.provider,
        account=finding.account,
        region=finding.region,
        resource_type=finding.resource_type,
        resource_id=finding.resource_id,
        reason=finding.reason,
        requirements=requirements_cell(finding.requirements),
        waiver=waiver,
        snapshot_id=finding.snapshot_id,
        evidence_sha256=finding.evidence_sha256 or "",
    )


def worst_status(statuses: Iterable[str], *, default: str) -> str:
    present = set(statuses)
    return next((s for s in STATUS_PRECEDENCE if s in present), default)


def _ordered_counts(counter: Mapping[str, int], order: Sequence[str]) -> dict[str, int]:
    return {key: counter.get(key, 0) for key in order}


def _anchor(prefix: str, text: str) -> str:
    return prefix + "-" + "".join(ch if ch.isalnum() else "-" for ch in text.lower())


def _relevant_controls(result: AuditResult) -> list[Control]:
    wanted = set(result.frameworks)
    return [
        c
        for c in result.catalog.controls
        if any(fw in wanted and ids for fw, ids in c.maps_to.items())
    ]


def _control_views(
    controls: Sequence[Control], by_control: Mapping[str, list[Finding]], frameworks: Sequence[str]
) -> dict[str, ControlView]:
    views: dict[str, ControlView] = {}
    for control in sorted(controls, key=lambda c: c.id):
        findings = by_control.get(control.id, [])
        counts = Counter(str(f.status) for f in findings)
        default = "MANUAL" if control.manual else "NOT_APPLICABLE"
        failing = sorted(
            (finding_row(f) for f in findings if str(f.status) in FAILING_STATUSES),
            key=lambda r: (r.status != "FAIL", r.account, r.resource_id),
        )
        maps = [
            f"{fw}: {', '.join(control.maps_to[fw])}"
            for fw in frameworks
            if control.maps_to.get(fw)
        ]
        views[control.id] = ControlView(
            id=control.id,
            title=control.title,
            stage=str(control.stage),
            severity=str(control.severity),
            manual=control.manual,
            status=worst_status(counts, default=default),
            counts=_ordered_counts(counts, STATUS_ORDER),
            rationale=control.rationale,
            remediation=control.remediation,
            remediation_snippet=control.remediation_snippet,
            references=tuple(control.references),
            maps_to="; ".join(maps),
            frameworks=" ".join(fw for fw in frameworks if control.maps_to.get(fw)),
            failing=tuple(failing),
            attestation_question=control.attestation_question,
            mappings=tuple(
                {
                    "framework": fw,
                    "id": rid,
                    "why": control.why(fw, rid),
                    "supporting": not control.decides(fw, rid),
                }
                for fw in frameworks
                for rid in control.maps_to.get(fw, ())
            ),
        )
    return views


def _framework_views(
    result: AuditResult, controls: Mapping[str, ControlView]
) -> tuple[FrameworkView, ...]:
    rollups = {(r.framework, r.requirement_id): r for r in result.rollups}
    views: list[FrameworkView] = []
    for fw_id in result.frameworks:
        framework = result.catalog.frameworks.get(fw_id)
        if framework is None:
            continue
        requirements: list[RequirementView] = []
        for req in framework.requirements:
            rollup = rollups.get((fw_id, req.id))
            supporting_ids: tuple[str, ...] = ()
            counts: Mapping[str, int] = {}
            if rollup is not None:
                control_ids = rollup.control_ids
                status = str(rollup.status)
                attestation = rollup.attestation
                supporting_ids = rollup.supporting_control_ids
                counts = rollup.counts
            else:
                control_ids = tuple(
                    c
                    for c, view in controls.items()
                    if fw_id in view.frameworks.split() and req.id in _maps(result, c, fw_id)
                )
                status = str(RollupStatus.NOT_COVERED) if not control_ids else "inconclusive"
                attestation = None
            att_text = None
            if attestation is not None:
                att_text = (
                    f"{attestation.statement} — {attestation.attested_by}, "
                    f"{attestation.date.isoformat()} (valid until {attestation.valid_until.isoformat()})"
                )
            requirements.append(
                RequirementView(
                    id=req.id,
                    title=req.title,
                    status=status,
                    manual=req.manual,
                    controls=tuple(controls[c] for c in control_ids if c in controls),
                    attestation=att_text,
                    why=_requirement_whys(result, fw_id, req.id, (*control_ids, *supporting_ids)),
                    supporting=tuple(controls[c] for c in supporting_ids if c in controls),
                    roc=pci_roc_term(status, counts) if fw_id == PCI_FRAMEWORK else None,
                )
            )
        views.append(
            FrameworkView(
                id=fw_id,
                name=framework.name,
                version=framework.version,
                source=framework.source,
                requirements=tuple(requirements),
                rollup_counts=_ordered_counts(
                    Counter(r.status for r in requirements), ROLLUP_ORDER
                ),
                anchor=_anchor("fw", fw_id),
            )
        )
    return tuple(views)


def _requirement_whys(
    result: AuditResult, framework: str, requirement: str, control_ids: Iterable[str]
) -> dict[str, str]:
    whys = {}
    for control_id in control_ids:
        control = result.catalog.control(control_id)
        if control is not None and control.why(framework, requirement):
            whys[control_id] = control.why(framework, requirement)
    return whys


def _maps(result: AuditResult, control_id: str, framework: str) -> tuple[str, ...]:
    control = result.catalog.control(control_id)
    return tuple(control.maps_to.get(framework, ())) if control else ()


def coverage_rows(result: AuditResult) -> tuple[Mapping[str, Any], ...]:
    """Requirements x controls, computed from the catalog (the same rule as `controls matrix`)."""
    return tuple(
        {
            "framework": row.framework,
            "requirement": row.requirement.id,
            "title": row.requirement.title,
            "automated": ", ".join(row.automated_controls),
            "manual": ", ".join(row.manual_controls),
            "coverage": row.coverage,
            "supporting": ", ".join(row.supporting_controls),
            "why": _requirement_whys(
                result,
                row.framework,
                row.requirement.id,
                (*row.automated_controls, *row.manual_controls, *row.supporting_controls),
            ),
        }
        for row in result.catalog.coverage(result.frameworks)
    )


def _collection_errors(
    errors: Sequence[CollectionError], findings: Sequence[Finding]
) -> tuple[Mapping[str, Any], ...]:
    """Each collection error with the controls it left inconclusive (their ERROR findings in
    the same provider, account, region and, when the error names one, resource type)."""
    error_findings = [f for f in findings if f.status == Status.ERROR]
    rows: list[Mapping[str, Any]] = []
    for error in errors:
        affected = sorted(
            {
                f.control_id
                for f in error_findings
                if f.provider == error.provider
                and f.account == error.account
                and (f.region == error.region or error.region in ("", "global"))
                and (error.resource_type is None or f.resource_type == error.resource_type)
                and (error.resource_id is None or f.resource_id == error.resource_id)
            }
        )
        rows.append(
            {
                "provider": error.provider,
                "account": error.account,
                "region": error.region,
                "operation": f"{error.service}:{error.operation}",
                "error_code": error.error_code,
                "message": error.message,
                "scope": error.resource_id or error.resource_type or "everything in this region",
                "field": error.field or "",
                "controls": ", ".join(affected) if affected else "none recorded",
            }
        )
    return tuple(rows)


def _diff_view(diff: FindingsDiff) -> Mapping[str, Any]:
    return {
        "old_label": diff.old_label,
        "new_label": diff.new_label,
        "new_failures": tuple(finding_row(f) for f in diff.new_failures),
        "resolved_failures": tuple(finding_row(f) for f in diff.resolved_failures),
        "regressions": tuple(finding_row(f) for f in diff.regressions),
        "new_resources": tuple(diff.new_resources),
        "removed_resources": tuple(diff.removed_resources),
        "controls_added": tuple(diff.controls_added),
        "controls_removed": tuple(diff.controls_removed),
        "controls_changed": tuple(diff.controls_changed),
        "status_changes": tuple(
            {"control": c, "resource": r, "old": o, "new": n} for c, r, o, n in diff.status_changes
        ),
    }


def _effectiveness(
    result: AuditResult,
) -> tuple[tuple[Mapping[str, Any], ...], tuple[Mapping[str, Any], ...]]:
    rows: list[Mapping[str, Any]] = []
    deviations: list[Mapping[str, Any]] = []
    for eff in sorted(result.effectiveness, key=lambda e: e.control_id):
        remediated = [
            d.days_to_remediate for d in eff.deviations if d.days_to_remediate is not None
        ]
        share = eff.share_held
        rows.append(
            {
                "control_id": eff.control_id,
                "evaluated": eff.snapshots_evaluated,
                "held": eff.snapshots_held,
                "share": "n/a"
                if share is None
                else (f"{share:.0%}" if eff.sufficient_evidence else INSUFFICIENT),
                "sufficient": eff.sufficient_evidence,
                "held_at_end": "n/a"
                if eff.held_at_period_end is None
                else ("yes" if eff.held_at_period_end else "no"),
                "deviations": len(eff.deviations),
                "open": sum(1 for d in eff.deviations if d.resolved_at is None),
                "mean_days": f"{sum(remediated) / len(remediated):.1f}" if remediated else "—",
            }
        )
        for dev in eff.deviations:
            deviations.append(
                {
                    "control_id": dev.control_id,
                    "resource_id": dev.resource_id,
                    "first_seen": isoformat(dev.first_seen),
                    "last_seen": isoformat(dev.last_seen),
                    "resolved_at": isoformat(dev.resolved_at) if dev.resolved_at else "open",
                    "days": "—"
                    if dev.days_to_remediate is None
                    else f"{dev.days_to_remediate:.1f}",
                }
            )
    deviations.sort(key=lambda d: (d["resolved_at"] != "open", d["control_id"], d["resource_id"]))
    return tuple(rows), tuple(deviations)


INSUFFICIENT = "insufficient evidence to conclude on operating effectiveness"

# The report's chapters in document order: (anchor, title, numbering). Numbered chapters get
# 1, 2, ...; appendices A, B, ...; "html" ones appear only in the HTML edition and, like
# "unnumbered" ones, carry no number, so both editions number alike. A new chapter is one entry here and one <section id=anchor> in the
# template; the TOC and every cross-reference ("section 7") follow from this list.
SECTIONS: tuple[tuple[str, str, str], ...] = (
    ("document-control", "Document control", "numbered"),
    ("system-description", "System description", "numbered"),  # when the evidence has any
    ("scope", "Scope and methodology", "numbered"),
    ("summary", "Executive summary", "numbered"),
    ("@frameworks", "", "numbered"),  # one chapter per framework in scope
    ("controls", "Control details", "numbered"),
    ("not-applicable", "Controls not applicable", "numbered"),
    ("exceptions", "Exceptions and waivers", "numbered"),
    ("attestations", "Manual attestations", "numbered"),
    ("errors", "Collection errors", "numbered"),
    ("changes", "Changes since the previous version", "numbered"),
    ("effectiveness", "Operating effectiveness", "numbered"),
    ("all-findings", "All findings", "html"),
    ("coverage", "Appendix A: coverage matrix", "appendix"),
    ("evidence", "Appendix B: evidence index", "appendix"),
    ("signoff", "Sign-off", "unnumbered"),
)


def section_list(
    frameworks: Sequence[FrameworkView], *, absent: frozenset[str] = frozenset()
) -> tuple[Mapping[str, Any], ...]:
    """The chapters in order, numbered; `absent` names chapters this report does not have."""
    out: list[Mapping[str, Any]] = []
    numbered = appendix = 0
    for anchor, title, kind in SECTIONS:
        if anchor in absent:
            continue
        entries = (
            [(fw.anchor, f"{fw.name} {fw.version}") for fw in frameworks]
            if anchor == "@frameworks"
            else [(anchor, title)]
        )
        for one_anchor, one_title in entries:
            number = ""
            if kind == "numbered":
                numbered += 1
                number = str(numbered)
            elif kind == "appendix":
                number = chr(ord("A") + appendix)
                appendix += 1
            out.append(
                {
                    "anchor": one_anchor,
                    "title": one_title,
                    "number": number,
                    "html_only": kind == "html",
                }
            )
    return tuple(out)


def coverage_rows_view(coverage: Sequence[EvidenceCoverage]) -> tuple[Mapping[str, Any], ...]:
    return tuple(
        {
            "provider": c.provider,
            "snapshots": c.snapshots,
            "expected": c.expected,
            "interval": f"{c.interval_days:g} days",
            "first": isoformat(c.first) if c.first else "none",
            "last": isoformat(c.last) if c.last else "none",
            "largest_gap": f"{c.largest_gap_days:.1f} days",
            "covered": f"{c.covered_share:.0%}",
            "sufficient": c.sufficient,
            "conclusion": "sufficient" if c.sufficient else INSUFFICIENT,
            "reasons": "; ".join(c.reasons),
            "range": f"{isoformat(c.period_start)} to {isoformat(c.period_end)}",
        }
        for c in coverage
    )


def _open_exceptions(
    controls: Sequence[ControlView], findings: Sequence[Finding]
) -> tuple[Mapping[str, Any], ...]:
    """Every control with a FAIL or ERROR at period end (expired waivers are FAIL again)."""
    expired = Counter(f.control_id for f in findings if f.waiver is not None and f.waiver.expired)
    return tuple(
        {
            "control": c.id,
            "title": c.title,
            "fail": c.counts.get("FAIL", 0),
            "error": c.counts.get("ERROR", 0),
            "expired_waivers": expired.get(c.id, 0),
        }
        for c in controls
        if c.counts.get("FAIL", 0) or c.counts.get("ERROR", 0)
    )


DEFAULT_ASSERTION = (
    "Management asserts that the scope described in this report is complete, that the evidence "
    "was collected by the tool as described, and that the waivers and attestations listed were "
    "approved by the persons named."
)


def management_assertion(
    configured: Any,
    *,
    organisation: str,
    exceptions: int,
    exceptions_section: str,
    sufficient: bool,
    effectiveness_section: str,
) -> Mapping[str, Any]:
    """Management's assertion, which may not claim more than the results show: with open
    exceptions it is made "except for" them (naming their section), and without sufficient
    evidence over the period it does not assert operation over the period. Configured wording
    that would say more is replaced by wording that does not, and the report says so."""
    if isinstance(configured, Mapping):
        name = str(configured.get("name") or "")
        title = str(configured.get("title") or "")
        wording = str(configured.get("wording") or "")
    else:
        name, title, wording = "", "", str(configured or "")
    who = f"The management of {organisation}" if organisation not in ("", "—") else "Management"
    operation = (
        "were suitably designed and operated effectively throughout the period"
        if sufficient
        else "were suitably designed and in place at the end of the period; it makes no "
        "assertion on their operation over the period, for which the evidence is insufficient "
        f"(section {effectiveness_section})"
    )
    qualified = f"{who} asserts that the controls described in this report {operation}"
    if exceptions:
        qualified += (
            f", except for the {exceptions} exception(s) listed in section {exceptions_section}"
        )
    qualified += "."
    notes: list[str] = []
    text = wording or qualified
    if wording and (exceptions or not sufficient):
        text = qualified
        why = []
        if exceptions:
            why.append(f"{exceptions} exception(s) are open")
        if not sufficient:
            why.append("the evidence does not cover the period")
        notes.append(
            "The configured wording is not used because " + " and ".join(why) + f": “{wording}”"
        )
    elif not wording:
        notes.append(DEFAULT_ASSERTION)
    return {"name": name, "title": title, "text": text, "notes": tuple(notes)}


def evidence_index(
    result: AuditResult, snapshot_hashes: Mapping[str, str], *, detail: bool = False
) -> tuple[Mapping[str, Any], ...]:
    """The one evidence index: each snapshot the report rests on, oldest first, as the report
    shows it (appendix B), the report manifest lists it and evidence-index.json (attached to the
    PDF) records it. `detail` adds per-type counts and the collection errors themselves."""
    return tuple(
        {
            "id": m.id,
            "provider": m.provider,
            "scope": json.dumps(dict(m.scope), sort_keys=True, default=str),
            "started_at": isoformat(m.started_at),
            "finished_at": isoformat(m.finished_at),
            "manifest_sha256": snapshot_hashes.get(m.id, m.sha256),
            "documents": sum(int(v) for v in m.counts.values()),
            "errors": len(m.errors),
            "files": len(m.files),
            "tool_version": m.tool_version,
            # when the evidence was read (an import's export time), and whether it predates
            # the period it is used for (evaluate decides; the report only shows it)
            "evidence_time": isoformat(m.evidence_time or m.finished_at),
            "stale": result.stale_snapshots.get(m.id, ""),
            "incomplete": m.incomplete,
            "warnings": len(m.warnings),
            **(
                {"counts": dict(m.counts), "errors": [e.to_dict() for e in m.errors]}
                if detail
                else {}
            ),
        }
        for m in sorted(result.snapshots, key=lambda s: (s.finished_at, s.id))
    )


def _scope(result: AuditResult) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    accounts = {f.account for f in result.findings if f.provider == "aws" and f.account}
    projects = {f.account for f in result.findings if f.provider == "gcp" and f.account}
    regions = {f.region for f in result.findings if f.region}
    for manifest in result.snapshots:
        scope = manifest.scope
        for key in ("accounts", "account_ids"):
            accounts.update(str(a) for a in scope.get(key, []) or [])
        for key in ("projects",):
            projects.update(str(p) for p in scope.get(key, []) or [])
        regions.update(str(r) for r in scope.get("regions", []) or [] if isinstance(r, str))
    return tuple(sorted(accounts)), tuple(sorted(projects)), tuple(sorted(regions))


def _previous_counts(previous: Mapping[str, Any] | None) -> Counter[str] | None:
    if not previous:
        return None
    return Counter(str(f.get("status", "")) for f in previous.get("findings", []))


def _label(result: AuditResult, framework_id: str) -> str:
    """Chart rows have room for a short label; the full names head each framework's chapter."""
    framework = result.catalog.frameworks.get(framework_id)
    return framework.label if framework else framework_id


def _charts(
    result: AuditResult,
    frameworks: Sequence[FrameworkView],
    previous: Mapping[str, Any] | None,
    previous_label: str,
) -> dict[str, Markup]:
    by_stage: dict[str, Counter[str]] = defaultdict(Counter)
    by_severity: dict[str, Counter[str]] = defaultdict(Counter)
    for f in result.findings:
        by_stage[f.stage][str(f.status)] += 1
        by_severity[f.severity][str(f.status)] += 1
    out = {
        "frameworks": charts.stacked_bars(
            "Requirements by roll-up status, per framework",
            [charts.Series(_label(result, fw.id), fw.rollup_counts) for fw in frameworks],
            ROLLUP_ORDER,
        ),
        "stages": charts.stacked_bars(
            "Findings by status, per ML lifecycle stage",
            [charts.Series(s, by_stage.get(s, Counter())) for s in STAGE_ORDER],
            STATUS_ORDER,
        ),
        "severities": charts.stacked_bars(
            "Findings by status, per severity",
            [charts.Series(s, by_severity.get(s, Counter())) for s in SEVERITY_ORDER],
            STATUS_ORDER,
        ),
    }
    trend = sorted(result.trend, key=lambda t: t.taken_at)
    if trend:
        out["trend"] = charts.stacked_columns(
            "Findings per snapshot across the period",
            [charts.Series(f"{t.taken_at:%m-%d} {t.provider}", t.counts) for t in trend],
            ("FAIL", "ERROR", "WAIVED", "PASS"),
        )
    previous_counts = _previous_counts(previous)
    if previous_counts is not None:
        out["previous"] = charts.stacked_bars(
            "Findings by status: previous period against this one",
            [
                charts.Series(previous_label, previous_counts),
                charts.Series(
                    result.period.label if result.period else "this report",
                    Counter(str(f.status) for f in result.findings),
                ),
            ],
            STATUS_ORDER,
        )
    return out


def build_view(
    result: AuditResult,
    *,
    report_id: str,
    period_label: str,
    version: int,
    generated_at: datetime,
    tool_version: str,
    supersedes: str | None,
    signed: bool,
    history: Sequence[tuple[ReportManifest, str]],
    snapshot_hashes: Mapping[str, str],
    diff: FindingsDiff | None = None,
    previous_findings: Mapping[str, Any] | None = None,
    attachments: Sequence[tuple[str, bytes, str, str]] = (),
    evidence_documents: Mapping[str, Mapping[str, Any]] | None = None,
) -> ReportView:
    """Everything the templates need. `history` holds earlier versions' manifests with the
    sha256 of their manifest.json bytes, oldest first."""
    meta = result.metadata
    today: date = result.generated_at.date()  # the day the verdicts were reached
    by_control: dict[str, list[Finding]] = defaultdict(list)
    for f in result.findings:
        by_control[f.control_id].append(f)
    relevant = _relevant_controls(result)
    control_views = _control_views(relevant, by_control, result.frameworks)
    framework_views = _framework_views(result, control_views)
    accounts, projects, regions = _scope(result)
    index = evidence_index(result, snapshot_hashes)
    effectiveness, deviations = _effectiveness(result)
    rows = tuple(
        finding_row(f)
        for f in sorted(
            result.findings,
            key=lambda f: (STATUS_PRECEDENCE.index(str(f.status)), f.control_id, f.resource_id),
        )
    )
    waiver_use = Counter(f.control_id for f in result.findings if f.status == Status.WAIVED)
    waivers = tuple(
        {
            "control": w.control,
            "resources": ", ".join(w.resources) or "all resources of the control",
            "justification": w.justification,
            "approved_by": w.approved_by,
            "expires": w.expires.isoformat(),
            "expired": not w.is_active(today),
            "covering": waiver_use.get(w.control, 0) if w.is_active(today) else 0,
            "source": w.source,
        }
        for w in sorted(result.waivers, key=lambda w: (w.expires, w.control))
    )
    attestations = tuple(
        {
            "requirement": a.requirement,
            "statement": a.statement,
            "attested_by": a.attested_by,
            "date": a.date.isoformat(),
            "valid_until": a.valid_until.isoformat(),
            "current": a.is_current(today),
            "files": tuple((name, a.file_sha256.get(name) or "MISSING") for name in a.files),
            "source": a.source,
        }
        for a in result.attestations
    )
    missing = tuple(
        {"requirement": f"{r.framework}:{r.requirement_id}", "title": r.title}
        for r in result.rollups
        if r.status == RollupStatus.MANUAL
    )
    versions = [
        VersionEntry(
            version=m.version,
            report_id=m.report_id,
            generated_at=isoformat(m.generated_at),
            manifest_sha256=sha,
            signed=m.signed,
            current=False,
        )
        for m, sha in history
    ]
    versions.append(
        VersionEntry(version, report_id, isoformat(generated_at), None, signed, current=True)
    )
    providers: dict[str, set[str]] = defaultdict(set)
    for m in result.snapshots:
        providers[m.provider].add(json.dumps(dict(m.scope), sort_keys=True, default=str))
    collectors = tuple(
        {"provider": p, "scopes": tuple(sorted(s))} for p, s in sorted(providers.items())
    )
    period_range = ""
    if result.period is not None:
        period_range = (
            f"{isoformat(result.period.start)} to {isoformat(result.period.end)} (end exclusive)"
        )
    previous_label = str((previous_findings or {}).get("period") or "previous period")
    system = system_description(result)
    sections = section_list(
        framework_views,
        absent=frozenset()
        if system and system.get("entries")
        else frozenset({"system-description"}),
    )
    numbers = {s["anchor"]: s["number"] for s in sections if s["number"]}
    controls_tuple = tuple(control_views.values())
    open_exceptions = _open_exceptions(controls_tuple, result.findings)
    sufficient = all(c.sufficient for c in result.evidence_coverage)
    assertion = management_assertion(
        meta.get("management_assertion"),
        organisation=str(meta.get("organisation") or meta.get("organization") or ""),
        exceptions=sum(e["fail"] + e["error"] for e in open_exceptions),
        exceptions_section=numbers.get("exceptions", ""),
        sufficient=sufficient,
        effectiveness_section=numbers.get("effectiveness", ""),
    )
    return ReportView(
        title=str(meta.get("title") or "ML workload compliance audit report"),
        organisation=str(meta.get("organisation") or meta.get("organization") or "—"),
        scope_text=str(meta.get("scope") or ""),
        period_label=period_label,
        period_range=period_range,
        version=version,
        report_id=report_id,
        generated_at=isoformat(generated_at),
        tool_version=tool_version,
        catalog_sha256=result.catalog.sha256,
        supersedes=supersedes,
        signed=signed,
        versions=tuple(versions),
        accounts=accounts,
        projects=projects,
        regions=regions,
        collectors=collectors,
        snapshots=index,
        set_aside=tuple(
            {str(k): str(v) for k, v in item.items()}
            for item in meta.get("set_aside", ())
            if isinstance(item, Mapping)
        ),
        totals=_ordered_counts(Counter(str(f.status) for f in result.findings), STATUS_ORDER),
        resource_count=len({f.resource_id for f in result.findings}),
        finding_count=len(result.findings),
        charts=_charts(result, framework_views, previous_findings, previous_label),
        frameworks=framework_views,
        controls=tuple(control_views.values()),
        not_applicable=tuple(v for v in control_views.values() if v.status == "NOT_APPLICABLE"),
        waivers=waivers,
        expired_waiver_findings=tuple(
            finding_row(f) for f in result.findings if f.waiver is not None and f.waiver.expired
        ),
        attestations=attestations,
        missing_attestations=missing,
        collection_errors=_collection_errors(result.collection_errors, result.findings),
        diff=_diff_view(diff) if diff is not None else None,
        effectiveness=effectiveness,
        deviations=deviations,
        coverage=coverage_rows(result),
        evidence_index=index,
        findings=rows,
        filter_values={
            "framework": tuple(result.frameworks),
            "stage": tuple(sorted({r.stage for r in rows})),
            "status": tuple(s for s in STATUS_ORDER if any(r.status == s for r in rows)),
            "account": tuple(sorted({r.account for r in rows})),
        },
        management_assertion=str(assertion["text"]),
        auditor_name=str(meta.get("auditor") or ""),
        attachments=tuple(attachments),
        system=system,
        classification=str(meta.get("classification") or ""),
        sections=sections,
        section_numbers=numbers,
        evidence_coverage=coverage_rows_view(result.evidence_coverage),
        evidence_sufficient=sufficient,
        assertion=assertion,
        open_exceptions=open_exceptions,
        evidence_documents=dict(evidence_documents or {}),
    )


# ---------------------------------------------------------------- system description (scope)

SYSTEM_GROUPS: tuple[tuple[str, str], ...] = (
    ("data", "Data stores"),
    ("pipeline", "Pipelines (jobs)"),
    ("model", "Models"),
    ("endpoint", "Endpoints"),
    ("dependency", "Keys, roles, service accounts and images they use"),
    ("other", "Other in-scope resources"),
    ("account", "Account- and project-wide controls"),
)
SYSTEM_ROW_LIMIT = 40  # per group and framework; findings.json holds every scope reason


def system_description(result: AuditResult) -> Mapping[str, Any]:
    """Per framework: the in-scope data stores, pipelines, models and endpoints with reasons,
    a lineage diagram, and the out-of-scope resources counted by type with reasons. Without a
    `scope:` one entry describes the whole estate, and says that no scope was defined."""
    scope = result.scope
    if scope is None:
        return {}
    labels = {fw: _label(result, fw) for fw in result.frameworks}
    entries = []
    chosen = [f for f in scope.frameworks if f.defined] if scope.defined else scope.frameworks[:1]
    undefined = [labels.get(f.framework, f.framework) for f in scope.frameworks if not f.defined]
    for framework_scope in chosen:
        label = (
            labels.get(framework_scope.framework, framework_scope.framework)
            if scope.defined
            else "All frameworks"
        )
        inside = framework_scope.in_scope
        ids = {d.resource_id for d in inside}
        groups = []
        for role, heading in SYSTEM_GROUPS:
            members = sorted((d for d in inside if d.role == role), key=lambda d: d.name)
            if members:
                groups.append(
                    {
                        "heading": heading,
                        "count": len(members),
                        "rows": tuple(
                            {"name": d.name, "type": d.resource_type, "id": d.resource_id,
                             "reason": d.reason}
                            for d in members[:SYSTEM_ROW_LIMIT]
                        ),
                        "more": max(0, len(members) - SYSTEM_ROW_LIMIT),
                    }
                )  # fmt: skip
        nodes = lineage_svg.lineage_nodes(
            [
                {"resource_id": d.resource_id, "name": d.name,
                 "resource_type": d.resource_type, "role": d.role}
                for d in inside
            ]
        )  # fmt: skip
        edges = [
            (e.source, e.target, e.relation)
            for e in scope.edges
            if e.source in ids and e.target in ids and e.relation != "uses"
        ]
        outside = framework_scope.out_of_scope
        by_type: dict[str, list[Any]] = defaultdict(list)
        for d in outside:
            by_type[d.resource_type].append(d)
        out_rows = tuple(
            {
                "type": t,
                "count": len(ds),
                "reasons": tuple(
                    f"{r} ({n})" if n > 1 else r
                    for r, n in Counter(_generic_reason(d.reason) for d in ds).most_common(3)
                ),
                "examples": ", ".join(d.name for d in ds[:3]) + (" …" if len(ds) > 3 else ""),
            }
            for t, ds in sorted(by_type.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        )
        entries.append(
            {
                "framework": label,
                "anchor": _anchor("system", label),
                "in_scope_count": len(inside),
                "out_of_scope_count": len(outside),
                "groups": tuple(groups),
                "svg": lineage_svg.lineage_svg(f"{label}: ML lineage in scope", nodes, edges),
                "has_lineage": bool(nodes),
                "out_of_scope": out_rows,
            }
        )
    return {
        "defined": scope.defined,
        "unclassified": "in scope" if scope.unclassified_in_scope else "out of scope",
        "undefined_frameworks": tuple(undefined) if scope.defined else (),
        "entries": tuple(entries),
    }


def _generic_reason(reason: str) -> str:
    """Out-of-scope reasons grouped by kind: the part before the first parenthesis."""
    return reason.split(" (", 1)[0]
