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

Evidence coverage of the period, per provider (`evidence_coverage`): the snapshots in the period,
the first and last, the largest gap (period edges included), and the share of the period that
lies within one expected interval after some snapshot. With fewer than half the snapshots the
cadence expects, or a gap longer than three intervals, the evidence is insufficient to conclude
on operating effectiveness, and the report says so instead of stating a share.

Waivers are judged on the day of each snapshot (capped at `on`) for earlier snapshots, so a
waiver that was active then counts as active then; the period-end state uses `on`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from auditor.errors import RunError, UserError
from auditor.evaluate.scope import compute_scope
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
    STATUS_ORDER,
    Attestation,
    AuditResult,
    Catalog,
    CollectionError,
    ControlEffectiveness,
    EvidenceCoverage,
    Finding,
    Period,
    RequirementRollup,
    ResolvedDeviation,
    RollupStatus,
    ScopeDefinition,
    ScopeResult,
    Snapshot,
    SnapshotSummary,
    Status,
    Waiver,
    isoformat,
)

DEFAULT_INTERVAL = timedelta(days=7)  # auditor.yaml schedule.interval
MIN_SHARE_OF_EXPECTED = 0.5  # fewer snapshots than this share of the expected: insufficient
MAX_GAP_INTERVALS = 3.0  # a gap longer than this many intervals: insufficient


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


def evidence_coverage(
    provider: str,
    taken: Sequence[datetime],
    period: Period,
    *,
    on: date,
    interval: timedelta = DEFAULT_INTERVAL,
    min_share_of_expected: float = MIN_SHARE_OF_EXPECTED,
    max_gap_intervals: float = MAX_GAP_INTERVALS,
) -> EvidenceCoverage:
    """How well one provider's snapshot times cover the period up to `on` (rules above)."""
    if interval <= timedelta(0):
        raise UserError("the schedule interval must be positive", field="schedule.interval")
    start = period.start
    end = min(period.end, datetime.combine(on + timedelta(days=1), time(0), tzinfo=UTC))
    end = max(end, start)
    times = sorted(t for t in taken if start <= t < period.end)
    elapsed = end - start
    expected = max(1, int(elapsed / interval))
    edges = [start, *times, max(end, times[-1] if times else end)]
    largest_gap = max((b - a for a, b in itertools.pairwise(edges)), default=elapsed)
    covered = timedelta(0)
    reach = start
    for moment in times:
        lo = max(moment, reach)
        hi = min(moment + interval, end)
        if hi > lo:
            covered += hi - lo
        reach = max(reach, hi)
    share = covered / elapsed if elapsed > timedelta(0) else (1.0 if times else 0.0)
    reasons = []
    if len(times) < min_share_of_expected * expected:
        reasons.append(
            f"{len(times)} snapshot(s) where the {_days(interval)}-day cadence expects "
            f"{expected} (fewer than {min_share_of_expected:.0%})"
        )
    if largest_gap > interval * max_gap_intervals:
        reasons.append(
            f"a gap of {_days(largest_gap)} days without a snapshot (more than "
            f"{max_gap_intervals:g} intervals)"
        )
    return EvidenceCoverage(
        provider=provider,
        period_start=start,
        period_end=end,
        interval_days=interval / timedelta(days=1),
        snapshots=len(times),
        expected=expected,
        first=times[0] if times else None,
        last=times[-1] if times else None,
        largest_gap_days=largest_gap / timedelta(days=1),
        covered_share=share,
        sufficient=not reasons,
        reasons=tuple(reasons),
    )


def _days(span: timedelta) -> str:
    return f"{span / timedelta(days=1):.1f}".removesuffix(".0")


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
    beside the requirement without deciding it. A finding counts only for the frameworks its
    `requirements` name, i.e. those whose scope holds its resource."""
    statuses_by_control: dict[tuple[str, str], list[Status]] = {}
    for finding in findings:
        for framework in finding.requirements:
            statuses_by_control.setdefault((finding.control_id, framework), []).append(
                finding.status
            )
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
            statuses = [
                s for cid in control_ids for s in statuses_by_control.get((cid, framework), [])
            ]
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
    scope: ScopeDefinition | None = None,
    interval: timedelta = DEFAULT_INTERVAL,
    now: datetime | None = None,
) -> AuditResult:
    """Evaluate every snapshot (of the period, when one is given) oldest first; see the module
    docstring for the period-end state, roll-ups and operating effectiveness.

    `now` is the result's `generated_at`, given by the caller (the pipeline passes the clock):
    evaluation never reads the clock, so the same inputs give the same result. Without it, the
    start of day `on` (UTC).

    `scope` (auditor.yaml's `scope:`) narrows each framework to the resources its scope holds,
    computed once per snapshot (the period-end snapshots of both providers together, so the
    report's lineage spans them); None evaluates every resource for every framework."""
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
    labels = {fw: catalog.frameworks[fw].label for fw in chosen if fw in catalog.frameworks}
    final_scope = compute_scope(
        [d for s in selected if last_of_provider[s.manifest.provider] == s.manifest.id for d in s],
        scope,
        chosen,
        labels=labels,
    )
    scope_cache: dict[frozenset[str], ScopeResult] = {}
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
        scoped: ScopeResult | None = None
        if scope is not None and final:
            scoped = final_scope
        elif scope is not None:  # unchanged documents keep last week's scope
            key = frozenset(doc.sha256 for doc in snapshot)
            scoped = scope_cache.get(key)
            if scoped is None:
                scope_cache.clear()
                scoped = scope_cache[key] = compute_scope(snapshot, scope, chosen, labels=labels)
        verdicts: Iterable[Any] = iter_verdicts(plans, snapshot, on=day, scope=scoped)
        if final:
            materialised = list(verdicts)
            findings.extend(to_finding(v, manifest.id, scoped) for v in materialised)
            errors.extend(manifest.gaps)
            verdicts = materialised
        tracker.add_snapshot(index, manifest.taken_at, provider, plans, verdicts, counts, final)
        trend.append(SnapshotSummary(manifest.id, provider, manifest.taken_at, counts))
    findings.extend(manual_findings(catalog, chosen, attestations, on))
    findings.extend(undecided_findings(catalog, chosen))
    automated_ids = list(
        dict.fromkeys(p.control.id for plans in plans_by_provider.values() for p in plans)
    )
    effectiveness = tracker.result(automated_ids)
    coverage: tuple[EvidenceCoverage, ...] = ()
    if period is not None:
        coverage = tuple(
            evidence_coverage(
                provider,
                [s.manifest.taken_at for s in selected if s.manifest.provider == provider],
                period,
                on=on,
                interval=interval,
            )
            for provider in plans_by_provider
        )
        insufficient = {c.provider for c in coverage if not c.sufficient}
        if insufficient:
            effectiveness = tuple(
                replace(e, sufficient_evidence=False)
                if any(
                    p in insufficient and any(pl.control.id == e.control_id for pl in plans)
                    for p, plans in plans_by_provider.items()
                )
                else e
                for e in effectiveness
            )
    requirement_rollups = rollups(catalog, chosen, findings, attestations, on)
    result = AuditResult(
        generated_at=now if now is not None else datetime.combine(on, time.min, UTC),
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
        scope=final_scope,
        evidence_coverage=coverage,
        stale_snapshots=stale_evidence(selected, period),
    )
    return result


def stale_evidence(snapshots: Sequence[Snapshot], period: Period | None) -> dict[str, str]:
    """Snapshots whose evidence was read before the period began (an old export imported
    late): they are in the period by collection time only, which the report must say."""
    if period is None:
        return {}
    stale: dict[str, str] = {}
    for snapshot in snapshots:
        moment = snapshot.manifest.evidence_time
        if moment is not None and moment < period.start:
            stale[snapshot.manifest.id] = (
                f"evidence read at {isoformat(moment)}, before period {period.label} began "
                f"({isoformat(period.start)}); collected (imported) at "
                f"{isoformat(snapshot.manifest.finished_at)}"
            )
    return stale
