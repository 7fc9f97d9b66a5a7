"""The audit over a period: period-end findings, requirement roll-ups, operating effectiveness.

Snapshots are evaluated oldest first, one at a time; only the latest snapshot of each provider is
turned into Findings (the period-end state). Earlier snapshots feed compact counters and the open
deviations, so memory stays bounded by one snapshot plus the verdict cache, however long the period.

Decisions (the report explains them in the same words):

Roll-up of a requirement, from the period-end findings of the controls mapped to it:
- `not_covered`: no selected control maps to it, or none of them produced a finding (e.g. only
  GCP controls map to it and only AWS was audited), or **every finding is NOT_APPLICABLE**. An
  empty scope gives no positive evidence: calling the requirement compliant would tell the
  auditor it was tested when nothing was. The counts (NOT_APPLICABLE > 0, control_ids non-empty)
  let the report say "nothing in scope" rather than "no control".
- `non_compliant`: any FAIL (an expired waiver is a FAIL).
- `inconclusive`: any ERROR and no FAIL.
- `manual`: no FAIL or ERROR, and a manual control lacks a current attestation.
- `compliant`: otherwise, i.e. every finding is PASS, WAIVED, ATTESTED or NOT_APPLICABLE with at
  least one that is not NOT_APPLICABLE.
- A requirement marked `manual` in its framework file is decided by attestation: `compliant` with a
  current attestation of the requirement itself (or when every manual control mapped to it is
  ATTESTED), `manual` without. Automated controls mapped to it are supporting evidence, listed
  beside it, and cannot make it non_compliant; so are mappings a control marks `supporting`.

Operating effectiveness of a control over the period's snapshots (of the providers it covers):
- a snapshot *evaluated* the control when it produced at least one FAIL, or verdicts
  (PASS/WAIVED) and no ERROR; ERROR without FAIL, or NOT_APPLICABLE only, means not evaluated;
- it *held* in an evaluated snapshot with no FAIL (a WAIVED resource counts as held: the
  exception was approved);
- a deviation is a run of snapshots in which the (control, resource) was FAIL or WAIVED (the
  configuration deviated, waived or not). An ERROR in between does not end it. It is resolved at
  the first later snapshot where the resource PASSes (`resolution="fixed"`) or is no longer in
  the control's scope (`resolution="removed"`: deleted, or applies_if no longer matches), unless
  that resource's account/region could not be listed then (unknown, still open).
- held_at_period_end: False on any FAIL in the latest snapshots, None when they did not evaluate
  the control, else True.

Waivers are judged on the day of each snapshot (capped at `on`) for earlier snapshots, so a
waiver that was active then counts as active then; the period-end state uses `on`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from auditor.errors import RunError, UserError
from auditor.evaluate.summaries import build_summaries
from auditor.evaluate.verdicts import (
    ControlPlan,
    VerdictCache,
    build_plans,
    iter_verdicts,
    manual_findings,
    requirements_in,
    selected_frameworks,
    to_finding,
    undecided_findings,
    usable_attestation,
)
from auditor.models import (
    Attestation,
    AuditResult,
    Catalog,
    CollectionError,
    ControlEffectiveness,
    Deviation,
    Finding,
    Period,
    RequirementRollup,
    RollupStatus,
    Snapshot,
    SnapshotSummary,
    Status,
    Waiver,
    utcnow,
)

STATUS_ORDER: tuple[Status, ...] = tuple(Status)


@dataclass(frozen=True)
class ResolvedDeviation(Deviation):
    """A Deviation that also says how it ended: "fixed", "removed", or None while open.

    (Kept here until auditor.models.Deviation grows the field; it is a Deviation everywhere.)"""

    resolution: str | None = None
    provider: str = ""
    account: str = ""
    region: str = ""


def check_references(
    catalog: Catalog, waivers: Sequence[Waiver], attestations: Sequence[Attestation]
) -> None:
    """A waiver for an unknown control, or an attestation of an unknown requirement, would
    silently do nothing: refuse it with the file and line it came from."""
    known = {c.id for c in catalog.controls}
    for waiver in waivers:
        if waiver.control not in known:
            file, _, line = waiver.source.rpartition(":")
            raise UserError(
                f"unknown control '{waiver.control}' (not in the catalog; check the ID)",
                file=file or None,
                line=int(line) if line.isdigit() else None,
                field="control",
            )
    for attestation in attestations:
        framework, _, requirement_id = attestation.requirement.partition(":")
        if catalog.frameworks and catalog.requirement(framework, requirement_id) is None:
            file, _, line = attestation.source.rpartition(":")
            raise UserError(
                f"unknown requirement '{attestation.requirement}' (not in the {framework} "
                "framework file; spell the ID as the framework prints it)",
                file=file or None,
                line=int(line) if line.isdigit() else None,
                field="requirement",
            )


class _Effectiveness:
    """Counters and open deviations, fed one snapshot at a time."""

    def __init__(self) -> None:
        self.evaluated: dict[str, int] = {}
        self.held: dict[str, int] = {}
        self.at_end: dict[str, list[bool | None]] = {}
        self.open: dict[tuple[str, str], list[Any]] = {}
        self.closed: list[ResolvedDeviation] = []

    def add_snapshot(
        self,
        index: int,
        taken_at: datetime,
        provider: str,
        plans: Sequence[ControlPlan],
        verdicts: Iterable[Any],
        counts: dict[str, int],
        final: bool,
    ) -> None:
        fails = [0] * len(plans)
        errors = [0] * len(plans)
        verdicts_seen = [0] * len(plans)
        unreadable: set[tuple[str, str, str]] = set()
        opened = self.open
        for verdict in verdicts:
            status = verdict.status
            counts[status] += 1
            plan_index = verdict.plan.index
            if status is Status.NOT_APPLICABLE:
                continue
            control_id = verdict.plan.control.id
            key = (control_id, verdict.resource_id)
            if status is Status.ERROR:
                errors[plan_index] += 1
                if verdict.doc is None:
                    unreadable.add((control_id, verdict.account, verdict.region))
                if key in opened:
                    opened[key][4] = index  # present but unknown: the deviation stays open
                continue
            verdicts_seen[plan_index] += 1
            if status is Status.PASS:
                if key in opened:
                    self._close(key, taken_at, "fixed")
                continue
            if status is Status.FAIL:
                fails[plan_index] += 1
            entry = opened.get(key)
            if entry is None:
                opened[key] = [
                    taken_at, taken_at, provider, (verdict.account, verdict.region), index,
                ]  # fmt: skip
            else:
                entry[1] = taken_at
                entry[4] = index
        for key in [k for k, e in opened.items() if e[2] == provider and e[4] != index]:
            account, region = opened[key][3]
            if (key[0], account, region) not in unreadable:
                self._close(key, taken_at, "removed")
        for plan in plans:
            control_id = plan.control.id
            i = plan.index
            outcome: bool | None
            if fails[i]:
                outcome = False
            elif verdicts_seen[i] and not errors[i]:
                outcome = True
            else:
                outcome = None
            if outcome is not None:
                self.evaluated[control_id] = self.evaluated.get(control_id, 0) + 1
                self.held[control_id] = self.held.get(control_id, 0) + int(outcome)
            if final:
                self.at_end.setdefault(control_id, []).append(outcome)

    def _close(self, key: tuple[str, str], resolved_at: datetime, how: str) -> None:
        first, last, provider, (account, region), _ = self.open.pop(key)
        self.closed.append(
            _deviation(key, first, last, resolved_at, how, provider, account, region)
        )

    def result(self, control_ids: Sequence[str]) -> tuple[ControlEffectiveness, ...]:
        deviations: dict[str, list[ResolvedDeviation]] = {}
        still_open = [
            _deviation(key, e[0], e[1], None, None, e[2], e[3][0], e[3][1])
            for key, e in self.open.items()
        ]
        for deviation in [*self.closed, *still_open]:
            deviations.setdefault(deviation.control_id, []).append(deviation)
        out = []
        for control_id in control_ids:
            outcomes = self.at_end.get(control_id, [])
            at_end: bool | None
            if any(o is False for o in outcomes):
                at_end = False
            elif outcomes and all(o is True for o in outcomes):
                at_end = True
            else:
                at_end = None
            out.append(
                ControlEffectiveness(
                    control_id=control_id,
                    snapshots_evaluated=self.evaluated.get(control_id, 0),
                    snapshots_held=self.held.get(control_id, 0),
                    held_at_period_end=at_end,
                    deviations=tuple(
                        sorted(
                            deviations.get(control_id, []),
                            key=lambda d: (d.first_seen, d.resource_id),
                        )
                    ),
                )
            )
        return tuple(out)


def _deviation(
    key: tuple[str, str],
    first: datetime,
    last: datetime,
    resolved_at: datetime | None,
    how: str | None,
    provider: str,
    account: str,
    region: str,
) -> ResolvedDeviation:
    days = (resolved_at - first).total_seconds() / 86400.0 if resolved_at else None
    return ResolvedDeviation(
        control_id=key[0],
        resource_id=key[1],
        first_seen=first,
        last_seen=last,
        resolved_at=resolved_at,
        days_to_remediate=days,
        resolution=how,
        provider=provider,
        account=account,
        region=region,
    )


def rollups(
    catalog: Catalog,
    frameworks: Sequence[str],
    findings: Sequence[Finding],
    attestations: Sequence[Attestation],
    on: date,
) -> tuple[RequirementRollup, ...]:
    """One roll-up per requirement of the selected frameworks (rules in the module docstring).

    Only controls that decide a requirement roll up into it: a requirement its framework file
    marks manual is decided by its attestation alone, and a mapping marked `supporting` is shown
    beside the requirement without deciding it."""
    statuses_by_control: dict[str, list[Status]] = {}
    for finding in findings:
        statuses_by_control.setdefault(finding.control_id, []).append(finding.status)
    deciding: dict[tuple[str, str], list[str]] = {}
    supporting: dict[tuple[str, str], list[str]] = {}
    for control in catalog.controls:
        for framework, ids in requirements_in(control, frameworks).items():
            for requirement_id in ids:
                requirement = catalog.requirement(framework, requirement_id)
                decides = control.decides(framework, requirement_id) and not (
                    requirement is not None and requirement.manual and not control.manual
                )
                into = deciding if decides else supporting
                into.setdefault((framework, requirement_id), []).append(control.id)
    by_key: dict[str, list[Attestation]] = {}
    for attestation in attestations:
        by_key.setdefault(attestation.requirement, []).append(attestation)
    out = []
    for framework in frameworks:
        definition = catalog.frameworks.get(framework)
        if definition is None:
            continue
        for requirement in definition.requirements:
            key = (framework, requirement.id)
            control_ids = tuple(deciding.get(key, []))
            statuses = [s for cid in control_ids for s in statuses_by_control.get(cid, [])]
            counts = {str(s): 0 for s in STATUS_ORDER}
            for one in statuses:
                counts[str(one)] += 1
            usable, _ = usable_attestation(by_key.get(requirement.key, []), on)
            rolled = _rollup_status(statuses, requirement.manual, usable)
            out.append(
                RequirementRollup(
                    framework=framework,
                    requirement_id=requirement.id,
                    title=requirement.title,
                    status=rolled,
                    control_ids=control_ids,
                    counts=counts,
                    attestation=usable,
                    supporting_control_ids=tuple(supporting.get(key, [])),
                )
            )
    return tuple(out)


def _rollup_status(
    statuses: Sequence[Status], manual_requirement: bool, attestation: Attestation | None
) -> RollupStatus:
    if manual_requirement:
        # Decided by the requirement's own attestation, or by the manual controls mapped to it.
        if attestation is not None or (statuses and set(statuses) == {Status.ATTESTED}):
            return RollupStatus.COMPLIANT
        return RollupStatus.MANUAL
    present = set(statuses)
    if Status.FAIL in present:
        return RollupStatus.NON_COMPLIANT
    if Status.ERROR in present:
        return RollupStatus.INCONCLUSIVE
    if Status.MANUAL in present:
        return RollupStatus.MANUAL
    if present - {Status.NOT_APPLICABLE}:
        return RollupStatus.COMPLIANT
    return RollupStatus.NOT_COVERED


def audit(
    catalog: Catalog,
    snapshots: Sequence[Snapshot],
    *,
    period: Period | None,
    frameworks: Iterable[str] | None,
    waivers: Sequence[Waiver] = (),
    attestations: Sequence[Attestation] = (),
    on: date,
    metadata: Mapping[str, Any] | None = None,
    cache: VerdictCache | None = None,
    use_fast_path: bool = True,
) -> AuditResult:
    """Evaluate every snapshot (of the period, when one is given) oldest first; see the module
    docstring for the period-end state, roll-ups and operating effectiveness."""
    chosen = selected_frameworks(catalog, frameworks)
    check_references(catalog, waivers, attestations)
    selected = [s for s in snapshots if period is None or period.contains(s.manifest.taken_at)]
    if not selected:
        where = f" in period {period.label}" if period else ""
        raise RunError(f"no snapshot to evaluate{where}; collect one first (auditor snapshot)")
    selected.sort(key=lambda s: s.manifest.taken_at)
    last_of_provider = {s.manifest.provider: s.manifest.id for s in selected}
    cache = cache if cache is not None else VerdictCache()
    plans_by_provider: dict[str, list[ControlPlan]] = {}
    tracker = _Effectiveness()
    findings: list[Finding] = []
    trend = []
    errors: list[CollectionError] = []
    for index, snapshot in enumerate(selected):
        manifest = snapshot.manifest
        provider = manifest.provider
        plans = plans_by_provider.get(provider)
        if plans is None:
            plans = plans_by_provider[provider] = build_plans(
                catalog, provider, chosen, waivers, cache, use_fast_path=use_fast_path
            )
        final = last_of_provider[provider] == manifest.id
        day = on if final else min(manifest.taken_at.date(), on)
        counts = {str(s): 0 for s in STATUS_ORDER}
        verdicts: Iterable[Any] = iter_verdicts(plans, snapshot, on=day)
        if final:
            materialised = list(verdicts)
            findings.extend(to_finding(v, manifest.id) for v in materialised)
            errors.extend(manifest.errors)
            verdicts = materialised
        tracker.add_snapshot(index, manifest.taken_at, provider, plans, verdicts, counts, final)
        trend.append(SnapshotSummary(manifest.id, provider, manifest.taken_at, counts))
    findings.extend(manual_findings(catalog, chosen, attestations, on))
    findings.extend(undecided_findings(catalog, chosen))
    automated_ids = list(
        dict.fromkeys(p.control.id for plans in plans_by_provider.values() for p in plans)
    )
    effectiveness = tracker.result(automated_ids)
    requirement_rollups = rollups(catalog, chosen, findings, attestations, on)
    result = AuditResult(
        generated_at=utcnow(),
        period=period,
        catalog=catalog,
        frameworks=chosen,
        snapshots=tuple(s.manifest for s in selected),
        findings=tuple(findings),
        rollups=requirement_rollups,
        effectiveness=effectiveness,
        trend=tuple(trend),
        waivers=tuple(waivers),
        attestations=tuple(attestations),
        collection_errors=tuple(errors),
        metadata=dict(metadata or {}),
    )
    summaries = build_summaries(result)
    return replace(result, summaries=summaries)
