"""Verdicts: every selected control against every in-scope document of one snapshot.

Design for speed (bench/evaluate_throughput.py measures it):
- a verdict depends only on the control's definition and the document's content, so it is cached
  by (control digest, document sha256): a document unchanged across snapshots is judged once per
  control version, and its reason rendered once;
- documents are dispatched by resource type through one dict lookup, so each control only sees
  its own types;
- rules and reason placeholders run as Python closures compiled from the JMESPath AST
  (`fastpath.py`), with JMESPath itself as the fallback for shapes the closures do not cover.

What is *not* cached: collection errors (they belong to the snapshot) and waivers (they belong to
the resource and the day), both applied after the cached verdict.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, NamedTuple

from jmespath.exceptions import JMESPathError

from auditor.evaluate.fastpath import CompiledRule
from auditor.evaluate.inputs import waiver_for
from auditor.evaluate.reasons import ReasonTemplate
from auditor.models import (
    FRAMEWORKS,
    Attestation,
    Catalog,
    CollectionError,
    Control,
    EvidenceDoc,
    Finding,
    ScopeResult,
    Snapshot,
    Status,
    Waiver,
    WaiverRef,
    canonical_json,
    provider_of_type,
    sha256_hex,
)
from auditor.rules import EVERY_FIELD, is_truthy, referenced_fields

PASS, FAIL, ERROR = Status.PASS, Status.FAIL, Status.ERROR
NOT_APPLICABLE, WAIVED = Status.NOT_APPLICABLE, Status.WAIVED
MANUAL, ATTESTED = Status.MANUAL, Status.ATTESTED


def selected_frameworks(catalog: Catalog, frameworks: Iterable[str] | None) -> tuple[str, ...]:
    """The frameworks to evaluate; none given means every framework the catalog defines."""
    chosen = tuple(frameworks or ())
    if chosen:
        return chosen
    return tuple(catalog.frameworks) or FRAMEWORKS


def requirements_in(control: Control, frameworks: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """The control's requirements restricted to the selected frameworks, in framework order."""
    return {fw: tuple(control.maps_to[fw]) for fw in frameworks if control.maps_to.get(fw)}


def control_key(control: Control) -> str:
    """The cache identity of a control version: its catalog digest, or a hash of what decides
    its verdicts and reasons when the control was built without one (tests, ad-hoc catalogs)."""
    if control.digest:
        return control.digest
    parts = [control.id, control.rule, control.applies_if, control.pass_reason, control.fail_reason]
    return sha256_hex(canonical_json(parts))


class VerdictCache:
    """Verdicts by control version and document content, shared across snapshots.

    Each entry is `[status, reason]`; status None means applies_if was falsy (the control says
    nothing about that document); reason is rendered the first time a finding needs it."""

    def __init__(self) -> None:
        self._by_control: dict[str, dict[str, list[Any]]] = {}

    def for_control(self, key: str) -> dict[str, list[Any]]:
        return self._by_control.setdefault(key, {})

    def __len__(self) -> int:
        return sum(len(entries) for entries in self._by_control.values())

    def merge(self, judged: JudgedPartition) -> None:
        """Add verdicts judged elsewhere (`judge_partition`); an entry already held is kept."""
        for key, shas in judged.shas.items():
            mine = self.for_control(key)
            reasons = judged.error_reasons.get(key, {})
            for sha256, code in zip(shas, judged.codes[key], strict=True):
                if sha256 not in mine:
                    mine[sha256] = [_CODES[code], reasons.get(sha256)]


@dataclass
class ControlPlan:
    """One control compiled for one provider: rule, applicability, reasons, errors it cares about."""

    index: int
    control: Control
    types: tuple[str, ...]
    rule: CompiledRule
    applies: CompiledRule | None
    fields: frozenset[str]
    pass_reason: ReasonTemplate
    fail_reason: ReasonTemplate
    requirements: dict[str, tuple[str, ...]]
    waivers: list[Waiver]
    cache: dict[str, list[Any]] = field(default_factory=dict)
    stage: str = ""
    severity: str = ""
    scoped: dict[tuple[str, ...], dict[str, tuple[str, ...]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.stage = str(self.control.stage)
        self.severity = str(self.control.severity)

    def judge(self, data: Mapping[str, Any]) -> list[Any]:
        """[status, reason] for one document, reason deferred (None) for PASS/FAIL."""
        try:
            if self.applies is not None and not is_truthy(self.applies.search(data)):
                return [None, None]
            verdict = is_truthy(self.rule.search(data))
        except (JMESPathError, TypeError, ValueError) as exc:
            message = " ".join(str(exc).split())
            return [
                ERROR,
                f"The rule of {self.control.id} could not be evaluated on this document "
                f"({message}); the control definition needs fixing for this evidence shape.",
            ]
        return [PASS if verdict else FAIL, None]

    def reason(self, entry: list[Any], data: Mapping[str, Any]) -> str:
        if entry[1] is None:
            template = self.pass_reason if entry[0] is PASS else self.fail_reason
            entry[1] = template.render(data)
        return str(entry[1])


def build_plans(
    catalog: Catalog,
    provider: str,
    frameworks: Sequence[str],
    waivers: Sequence[Waiver],
    cache: VerdictCache,
    *,
    use_fast_path: bool = True,
) -> list[ControlPlan]:
    """Compile every automated control of the selected frameworks that speaks about `provider`."""
    by_control: dict[str, list[Waiver]] = {}
    for waiver in waivers:
        by_control.setdefault(waiver.control, []).append(waiver)
    plans: list[ControlPlan] = []
    for control in catalog.controls:
        if control.manual or not control.rule or control.unset_params:
            continue
        requirements = requirements_in(control, frameworks)
        types = tuple(t for t in control.resource_types if provider_of_type(t) == provider)
        if not requirements or not types:
            continue
        fields = referenced_fields(control.rule)
        if control.applies_if:
            fields = fields | referenced_fields(control.applies_if)
        plans.append(
            ControlPlan(
                index=len(plans),
                control=control,
                types=types,
                rule=CompiledRule(control.rule, use_fast_path=use_fast_path),
                applies=CompiledRule(control.applies_if, use_fast_path=use_fast_path)
                if control.applies_if
                else None,
                fields=fields,
                pass_reason=ReasonTemplate(control.pass_reason, use_fast_path=use_fast_path),
                fail_reason=ReasonTemplate(control.fail_reason, use_fast_path=use_fast_path),
                requirements=requirements,
                waivers=by_control.get(control.id, []),
                cache=cache.for_control(control_key(control)),
            )
        )
    return plans


class Verdict(NamedTuple):
    """One verdict before it becomes a Finding: what audit() tracks for every snapshot.

    A NamedTuple rather than a frozen dataclass: millions are made per audit, and a tuple is
    built several times faster."""

    plan: ControlPlan
    status: Status
    resource_type: str
    resource_id: str
    account: str
    region: str
    doc: EvidenceDoc | None
    entry: list[Any] | None  # the cache entry (PASS/FAIL/rule ERROR); reason rendered lazily
    note: str | None  # the reason when it does not come from the cache entry
    waiver: WaiverRef | None = None

    def reason(self) -> str:
        if self.note is not None:
            return self.note
        assert self.entry is not None and self.doc is not None
        return self.plan.reason(self.entry, self.doc.data)


def scope_resource_id(error: CollectionError) -> str:
    """The pseudo resource an account/region-wide collection gap is reported against."""
    if error.provider == "aws":
        return f"arn:aws:{error.service}:{error.region}:{error.account}:*"
    scope = error.account
    if not scope.startswith(("projects/", "folders/", "organizations/")):
        scope = f"projects/{scope}"
    return f"//cloudresourcemanager.googleapis.com/{scope}"


def iter_verdicts(
    plans: Sequence[ControlPlan],
    snapshot: Snapshot,
    *,
    on: date,
    use_cache: bool = True,
    scope: ScopeResult | None = None,
) -> Iterator[Verdict]:
    """Every verdict of `plans` on one snapshot, in document order, then scope errors and
    NOT_APPLICABLE controls. With a defined `scope`, a plan skips a resource outside the scope
    of every framework it maps to (one set lookup per plan and document)."""
    by_type: dict[str, list[ControlPlan]] = {}
    for plan in plans:
        for resource_type in plan.types:
            by_type.setdefault(resource_type, []).append(plan)
    doc_errors: dict[str, list[CollectionError]] = {}
    type_field_errors: dict[str, list[CollectionError]] = {}  # one key missing on every doc
    scope_errors: list[CollectionError] = []
    for error in snapshot.manifest.gaps:
        if error.resource_id is not None:
            doc_errors.setdefault(error.resource_id, []).append(error)
        elif error.field is not None and error.resource_type is not None:
            type_field_errors.setdefault(error.resource_type, []).append(error)
        else:
            scope_errors.append(error)

    spoke = [False] * len(plans)  # the control found something in scope, or an error
    new_tuple = tuple.__new__
    any_doc_errors = bool(doc_errors or type_field_errors)
    in_scope = scope.in_scope_sets if scope is not None else None
    plan_frameworks = [frozenset(plan.requirements) for plan in plans]
    seen_ids: set[str] = set()  # resources with errors that do have a document
    for doc in snapshot.documents:
        resource_type = doc.resource_type
        doc_plans = by_type.get(resource_type)
        if not doc_plans:
            continue
        resource_id = doc.resource_id
        account = doc.account
        region = doc.region
        data = doc.data
        missing = None
        if any_doc_errors:
            missing = doc_errors.get(resource_id)
            if missing:
                seen_ids.add(resource_id)
            type_missing = type_field_errors.get(resource_type)
            if type_missing:
                missing = [*(missing or ()), *type_missing]
        key = doc.sha256 if use_cache else ""
        frameworks_here = in_scope.get(resource_id) if in_scope is not None else None
        for plan in doc_plans:
            if frameworks_here is not None and frameworks_here.isdisjoint(
                plan_frameworks[plan.index]
            ):
                continue  # outside the scope of every framework this control maps to
            if missing:
                gap = _field_gap(plan, missing)
                if gap is not None:
                    spoke[plan.index] = True
                    yield Verdict(
                        plan, ERROR, resource_type, resource_id, account, region, doc, None, gap,
                    )  # fmt: skip
                    continue
            if use_cache:
                cache = plan.cache
                entry = cache.get(key)
                if entry is None:
                    entry = cache[key] = plan.judge(data)
            else:
                entry = plan.judge(data)
            status = entry[0]
            if status is None:
                continue
            spoke[plan.index] = True
            if status is FAIL and plan.waivers:
                yield _waived(plan, doc, entry, on)
                continue
            # the hot path: tuple.__new__ skips NamedTuple's Python-level __new__
            yield new_tuple(Verdict, (
                plan, status, resource_type, resource_id, account, region, doc, entry, None, None,
            ))  # fmt: skip

    if doc_errors:
        yield from _docless_verdicts(by_type, doc_errors, seen_ids, spoke)
    yield from _scope_verdicts(plans, scope_errors, spoke)
    for plan in plans:
        if not spoke[plan.index]:
            yield _not_applicable(plan, snapshot)


def _field_gap(plan: ControlPlan, errors: list[CollectionError]) -> str | None:
    for error in errors:
        if error.field is None or error.field in plan.fields or EVERY_FIELD in plan.fields:
            what = f"evidence field '{error.field}'" if error.field else "this resource's evidence"
            return (
                f"{error.sentence()}; {what} could not be collected, so {plan.control.id} gives "
                "no verdict until it is collected again with the missing permission or API."
            )
    return None


def _waived(plan: ControlPlan, doc: EvidenceDoc, entry: list[Any], on: date) -> Verdict:
    match = waiver_for(plan.waivers, doc.resource_id, on)
    fail_reason = plan.reason(entry, doc.data).rstrip()
    if match is None:
        return Verdict(
            plan, FAIL, doc.resource_type, doc.resource_id, doc.account, doc.region,
            doc, entry, None,
        )  # fmt: skip
    waiver, active = match
    sentence = fail_reason.rstrip(".")
    if active:
        note = (
            f"{sentence} (waived until {waiver.expires.isoformat()} by {waiver.approved_by}: "
            f"{waiver.justification})."
        )
    else:
        note = (
            f"{sentence} (the waiver approved by {waiver.approved_by} expired on "
            f"{waiver.expires.isoformat()}; fix the resource or renew the waiver)."
        )
    ref = WaiverRef(
        justification=waiver.justification,
        approved_by=waiver.approved_by,
        expires=waiver.expires,
        expired=not active,
    )
    return Verdict(
        plan, WAIVED if active else FAIL, doc.resource_type, doc.resource_id, doc.account,
        doc.region, doc, entry, note, ref,
    )  # fmt: skip


def _docless_verdicts(
    by_type: Mapping[str, list[ControlPlan]],
    doc_errors: Mapping[str, list[CollectionError]],
    seen_ids: set[str],
    spoke: list[bool],
) -> Iterator[Verdict]:
    """A resource named by an error but with no document (listed, but its describe failed; or an
    export record that could not be read) is not a resource that does not exist: ERROR for every
    control of its type the missing evidence concerns, never silence (which would read as
    NOT_APPLICABLE)."""
    for resource_id, errors in doc_errors.items():
        if resource_id in seen_ids:
            continue
        first = next((e for e in errors if e.resource_type), None)
        if first is None or first.resource_type is None:
            continue
        for plan in by_type.get(first.resource_type, ()):
            gap = _field_gap(plan, errors)
            if gap is None:
                continue
            spoke[plan.index] = True
            yield Verdict(
                plan, ERROR, first.resource_type, resource_id, first.account, first.region,
                None, None, gap,
            )  # fmt: skip


def _scope_verdicts(
    plans: Sequence[ControlPlan], errors: list[CollectionError], spoke: list[bool]
) -> Iterator[Verdict]:
    emitted: dict[tuple[int, str], int] = {}
    pending: list[tuple[ControlPlan, CollectionError, str, str]] = []
    for error in errors:
        for plan in plans:
            if error.resource_type is not None and error.resource_type not in plan.types:
                continue
            resource_id = scope_resource_id(error)
            key = (plan.index, resource_id)
            if key in emitted:
                emitted[key] += 1
                continue
            emitted[key] = 1
            resource_type = error.resource_type or plan.types[0]
            pending.append((plan, error, resource_id, resource_type))
    for plan, error, resource_id, resource_type in pending:
        spoke[plan.index] = True
        what = error.resource_type or "resources"
        more = emitted[(plan.index, resource_id)] - 1
        extra = f" (and {more} more failed call{'s' if more > 1 else ''} there)" if more else ""
        note = (
            f"{error.sentence()}{extra}; {what} in {error.account}/{error.region} could not be "
            f"listed, so the verdict of {plan.control.id} is withheld there until collection "
            "succeeds."
        )
        yield Verdict(
            plan, ERROR, resource_type, resource_id, error.account, error.region, None, None, note
        )


def _not_applicable(plan: ControlPlan, snapshot: Snapshot) -> Verdict:
    types = ", ".join(plan.types)
    narrowed = " that the control applies to" if plan.applies is not None else ""
    note = (
        f"No {types} resources{narrowed} are in scope in this snapshot, so there is nothing to "
        "check; this is shown so that an empty scope is a visible decision."
    )
    return Verdict(plan, NOT_APPLICABLE, plan.types[0], "", "", "", None, None, note)


def to_finding(verdict: Verdict, snapshot_id: str, scope: ScopeResult | None = None) -> Finding:
    plan = verdict.plan
    control = plan.control
    doc = verdict.doc
    requirements = plan.requirements
    reasons: Mapping[str, str] = {}
    if scope is not None and doc is not None:
        reasons = scope.reasons_by_resource.get(verdict.resource_id, {})
        frameworks = tuple(fw for fw in requirements if fw in reasons)
        scoped = plan.scoped.get(frameworks)
        if scoped is None:
            scoped = plan.scoped[frameworks] = {fw: requirements[fw] for fw in frameworks}
        requirements = scoped
        reasons = {fw: reasons[fw] for fw in frameworks}
    return Finding(
        control.id,
        control.title,
        plan.stage,
        plan.severity,
        verdict.status,
        doc.provider if doc is not None else provider_of_type(verdict.resource_type),
        verdict.account,
        verdict.region,
        verdict.resource_type,
        verdict.resource_id,
        verdict.reason(),
        requirements,
        snapshot_id,
        verdict.waiver,
        doc.sha256 if doc is not None else None,
        reasons,
    )


# ---------------------------------------------------------------- manual controls


def manual_findings(
    catalog: Catalog,
    frameworks: Sequence[str],
    attestations: Sequence[Attestation],
    on: date,
) -> list[Finding]:
    """One finding per manual control: ATTESTED when every requirement it maps to (in the
    selected frameworks) has a current attestation whose files all exist, else MANUAL saying
    what is missing. Manual findings come from no snapshot: snapshot_id and provider are ""."""
    by_requirement: dict[str, list[Attestation]] = {}
    for attestation in attestations:
        by_requirement.setdefault(attestation.requirement, []).append(attestation)
    findings = []
    for control in catalog.controls:
        if not control.manual:
            continue
        requirements = requirements_in(control, frameworks)
        if not requirements:
            continue
        status, reason, used = _attestation_status(control, requirements, by_requirement, on)
        evidence = None
        if used:
            evidence = sha256_hex(
                canonical_json(
                    [{"requirement": a.requirement, "files": dict(a.file_sha256)} for a in used]
                )
            )
        findings.append(control_finding(control, status, reason, requirements, evidence))
    return findings


def control_finding(
    control: Control,
    status: Status,
    reason: str,
    requirements: Mapping[str, tuple[str, ...]],
    evidence_sha256: str | None = None,
) -> Finding:
    """A finding about a control as a whole, judged on no resource and from no snapshot (manual
    controls, undecided parameters): provider, resource and snapshot_id are empty."""
    return Finding(
        control_id=control.id,
        control_title=control.title,
        stage=str(control.stage),
        severity=str(control.severity),
        status=status,
        provider="",
        account="",
        region="",
        resource_type="",
        resource_id="",
        reason=reason,
        requirements=requirements,
        snapshot_id="",
        evidence_sha256=evidence_sha256,
    )


def undecided_findings(catalog: Catalog, frameworks: Sequence[str]) -> list[Finding]:
    """One MANUAL finding per automated control whose parameter only the organisation can set
    (approved regions, say) and has not: guessing a value would turn a decision into a FAIL."""
    findings = []
    for control in catalog.controls:
        unset = control.unset_params
        requirements = requirements_in(control, frameworks)
        if control.manual or not unset or not requirements:
            continue
        asks = " ".join(
            f"{p.question.rstrip('?. ')}? (set controls.params.{p.name} in auditor.yaml)"
            for p in unset
            if p.question
        )
        reason = f"Not judged until the organisation decides: {asks}"
        findings.append(control_finding(control, MANUAL, reason, requirements))
    return findings


def usable_attestation(
    candidates: Sequence[Attestation], on: date
) -> tuple[Attestation | None, str | None]:
    """The current attestation with all its files, or None and why none qualifies."""
    good = [
        a for a in candidates if a.is_current(on) and all(a.file_sha256.get(f) for f in a.files)
    ]
    if good:
        return max(good, key=lambda a: a.valid_until), None
    if not candidates:
        return None, None
    latest = max(candidates, key=lambda a: a.valid_until)
    current = [a for a in candidates if a.is_current(on)]
    if current:
        latest = max(current, key=lambda a: a.valid_until)
        missing = [f for f in latest.files if not latest.file_sha256.get(f)]
        return None, (
            f"the attestation for {latest.requirement} ({latest.source or 'attestations'}) cites "
            f"{', '.join(missing)}, which {'was' if len(missing) == 1 else 'were'} not found; "
            "provide the file"
        )
    if latest.date > on:
        return None, (
            f"the attestation for {latest.requirement} is dated {latest.date!s}, after "
            f"the evaluation day {on.isoformat()}"
        )
    return None, (
        f"the attestation for {latest.requirement} expired on {latest.valid_until!s}; renew it"
    )


def _attestation_status(
    control: Control,
    requirements: Mapping[str, tuple[str, ...]],
    by_requirement: Mapping[str, list[Attestation]],
    on: date,
) -> tuple[Status, str, list[Attestation]]:
    used: list[Attestation] = []
    problems: list[str] = []
    for framework, ids in requirements.items():
        for requirement_id in ids:
            key = f"{framework}:{requirement_id}"
            attestation, problem = usable_attestation(by_requirement.get(key, []), on)
            if attestation is not None:
                used.append(attestation)
            elif problem is not None:
                problems.append(problem)
            else:
                problems.append(f"no attestation is on file for {key}")
    if not problems:
        who = "; ".join(
            f"{a.requirement} attested by {a.attested_by} on {a.date!s}, valid until "
            f"{a.valid_until!s}"
            for a in used
        )
        return ATTESTED, f"Attested: {who}.", used
    question = control.attestation_question or "the control's attestation question"
    reason = (
        "Needs a current attestation answering: "
        + question.rstrip("?. ")
        + "? ("
        + "; ".join(problems)
        + ")."
    )
    return MANUAL, reason, used


# ---------------------------------------------------------------- public entry point


def evaluate_snapshot(
    catalog: Catalog,
    snapshot: Snapshot,
    *,
    frameworks: Iterable[str] | None,
    waivers: Sequence[Waiver] = (),
    attestations: Sequence[Attestation] = (),
    on: date,
    cache: VerdictCache | None = None,
    use_fast_path: bool = True,
    include_manual: bool = True,
    scope: ScopeResult | None = None,
) -> list[Finding]:
    """Every finding of one snapshot (and, unless `include_manual` is False, one per manual
    control). `cache` may be shared across calls so unchanged documents are judged once.
    `scope` (from `evaluate.scope.compute_scope`) narrows frameworks to the resources they hold."""
    chosen = selected_frameworks(catalog, frameworks)
    plans = build_plans(
        catalog,
        snapshot.manifest.provider,
        chosen,
        waivers,
        cache if cache is not None else VerdictCache(),
        use_fast_path=use_fast_path,
    )
    snapshot_id = snapshot.manifest.id
    scope = scope if scope is not None and scope.defined else None
    findings = [
        to_finding(v, snapshot_id, scope)
        for v in iter_verdicts(plans, snapshot, on=on, scope=scope)
    ]
    if include_manual:
        findings.extend(manual_findings(catalog, chosen, attestations, on))
        findings.extend(undecided_findings(catalog, chosen))
    return findings


# ---------------------------------------------------------------- partitions


_CODES: tuple[Status | None, ...] = (None, PASS, FAIL, ERROR)


@dataclass(frozen=True)
class JudgedPartition:
    """A partition's verdicts, compact for the trip back from a worker: per control version,
    the documents' sha256 and one status code each (0 = the control does not apply, then
    PASS, FAIL, ERROR), plus the reasons of rule errors. Unpickling millions of small lists and
    enum members costs the driver more than judging them did; strings and bytes do not."""

    shas: Mapping[str, tuple[str, ...]]
    codes: Mapping[str, bytes]
    error_reasons: Mapping[str, Mapping[str, str]]

    def __len__(self) -> int:
        return sum(len(v) for v in self.shas.values())


def judge_partition(
    catalog: Catalog,
    provider: str,
    frameworks: Sequence[str],
    documents: Sequence[EvidenceDoc],
    *,
    in_scope: Mapping[str, frozenset[str]] | None = None,
    use_fast_path: bool = True,
) -> JudgedPartition:
    """The verdicts of one partition of documents, for the driver's VerdictCache.

    The unit of parallel evaluation: pure (no I/O, no clock), picklable in and out, so a Dask
    worker can run it. A verdict depends only on the control version and the document's content
    (see VerdictCache), so verdicts judged anywhere and merged into the driver's cache give
    exactly the findings the driver would have reached itself; reasons are rendered by the
    driver for the findings it builds, and waivers, collection errors and scope reasons, which
    belong to the snapshot and the day, are applied there too. `in_scope` (resource id ->
    frameworks, from the scope computed over the whole snapshot before partitioning) skips work
    the driver would skip too; a resource it does not name is judged."""
    plans = build_plans(
        catalog, provider, frameworks, (), VerdictCache(), use_fast_path=use_fast_path
    )
    by_type: dict[str, list[ControlPlan]] = {}
    for plan in plans:
        for resource_type in plan.types:
            by_type.setdefault(resource_type, []).append(plan)
    plan_frameworks = [frozenset(plan.requirements) for plan in plans]
    for doc in documents:
        doc_plans = by_type.get(doc.resource_type)
        if not doc_plans:
            continue
        here = in_scope.get(doc.resource_id) if in_scope is not None else None
        key = doc.sha256
        data = doc.data
        for plan in doc_plans:
            if here is not None and here.isdisjoint(plan_frameworks[plan.index]):
                continue
            cache = plan.cache
            if key not in cache:
                cache[key] = plan.judge(data)
    code_of = {status: code for code, status in enumerate(_CODES)}
    shas: dict[str, tuple[str, ...]] = {}
    codes: dict[str, bytes] = {}
    errors: dict[str, dict[str, str]] = {}
    for plan in plans:
        if not plan.cache:
            continue
        key = control_key(plan.control)
        shas[key] = tuple(plan.cache)
        codes[key] = bytes(code_of[entry[0]] for entry in plan.cache.values())
        failed = {sha: str(e[1]) for sha, e in plan.cache.items() if e[0] is ERROR}
        if failed:
            errors[key] = failed
    return JudgedPartition(shas, codes, errors)
