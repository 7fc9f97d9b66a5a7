"""The ground floor: the frozen types every stage speaks.

Stages never import each other; they exchange these types. Everything here is plain data with
JSON round-trips, so a snapshot manifest or a finding written today reads back identically
years later, when the auditor asks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime
from enum import StrEnum
from functools import cached_property
from typing import Any, Protocol, runtime_checkable

FRAMEWORKS: tuple[str, ...] = ("gdpr", "hipaa", "pci-dss-4.0.1")
FINDINGS_SCHEMA = "auditor.findings/v1"
SNAPSHOT_SCHEMA = "auditor.snapshot/v1"
REPORT_SCHEMA = "auditor.report/v1"


class Status(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    ERROR = "ERROR"
    NOT_APPLICABLE = "NOT_APPLICABLE"
    WAIVED = "WAIVED"
    MANUAL = "MANUAL"
    ATTESTED = "ATTESTED"


# The one reading order of statuses: every count, table column, chart legend and filter (the
# report's, evaluation's counts, the summary tables) follows it. Verdicts first, then the outcomes
# a person decided (waived, manual, attested), and last what had nothing to judge.
STATUS_ORDER: tuple[Status, ...] = (
    Status.PASS,
    Status.FAIL,
    Status.ERROR,
    Status.WAIVED,
    Status.MANUAL,
    Status.ATTESTED,
    Status.NOT_APPLICABLE,
)
# Worst first: the status a control shows when its resources disagree, and the findings' sort.
STATUS_PRECEDENCE: tuple[Status, ...] = (
    Status.FAIL,
    Status.ERROR,
    Status.MANUAL,
    Status.WAIVED,
    Status.ATTESTED,
    Status.PASS,
    Status.NOT_APPLICABLE,
)


class Stage(StrEnum):
    DATA = "data"
    TRAINING = "training"
    STORAGE = "storage"
    DEPLOYMENT = "deployment"
    MONITORING = "monitoring"
    GOVERNANCE = "governance"


# The ML lifecycle, data to governance: the order of stage rows in tables and charts.
STAGE_ORDER: tuple[Stage, ...] = tuple(Stage)


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"


# Most severe first: the order of severity rows in tables and charts.
SEVERITY_ORDER: tuple[Severity, ...] = tuple(Severity)


class RollupStatus(StrEnum):
    COMPLIANT = "compliant"
    NON_COMPLIANT = "non_compliant"
    INCONCLUSIVE = "inconclusive"
    MANUAL = "manual"
    NOT_COVERED = "not_covered"


# Roll-up statuses in reading order (compliant first), for tables and charts.
ROLLUP_ORDER: tuple[RollupStatus, ...] = tuple(RollupStatus)


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def isoformat(moment: datetime) -> str:
    """RFC 3339 in UTC with a Z, the one timestamp spelling in every file we write."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def canonical_json(value: Any) -> bytes:
    """The one byte form used for hashing: sorted keys, no spaces, UTF-8, datetimes as ISO."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default
    ).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return isoformat(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# ---------------------------------------------------------------- catalog


@dataclass(frozen=True)
class Requirement:
    """One requirement of a framework, with the ID as the framework's own text prints it."""

    framework: str  # "gdpr" | "hipaa" | "pci-dss-4.0.1"
    id: str  # "Art. 32(1)(a)", "164.312(a)(2)(iv)", "3.5.1"
    title: str
    manual: bool = False  # no automated evidence can satisfy it
    attestation_question: str | None = None  # what an attestation must answer when manual

    @property
    def key(self) -> str:
        """`framework:id`, the form attestations use."""
        return f"{self.framework}:{self.id}"


@dataclass(frozen=True)
class Framework:
    id: str
    name: str
    version: str
    source: str  # URL or citation of the official text
    requirements: tuple[Requirement, ...]
    short_name: str = ""  # for charts and tight tables ("GDPR"); `name` when empty

    @property
    def label(self) -> str:
        return self.short_name or self.name

    def requirement(self, requirement_id: str) -> Requirement | None:
        return next((r for r in self.requirements if r.id == requirement_id), None)


@dataclass(frozen=True)
class ControlParam:
    """A tunable value of a control. `floor`/`ceiling` are the framework's own limits: a value
    looser than them is refused at load time, so a parameter never quietly turns FAIL into PASS."""

    name: str
    default: Any
    value: Any  # the effective value after auditor.yaml overrides
    description: str = ""
    floor: Any = None  # for numbers: values below are refused (e.g. log retention >= 365)
    ceiling: Any = None  # for numbers: values above are refused (e.g. key rotation <= 365 days)
    question: str | None = (
        None  # for a parameter with no default: what the organisation must decide
    )

    @property
    def unset(self) -> bool:
        """No default and no organisation value: the control cannot judge until someone decides
        (e.g. approved regions), so it reports MANUAL with `question` instead of guessing."""
        return self.value is None


@dataclass(frozen=True)
class Control:
    """A control with its rule ready to evaluate.

    `rule` is a JMESPath expression over EvidenceDoc.data with parameters already substituted as
    JMESPath literals; truthy means PASS. `applies_if` (optional) narrows which resources of the
    control's types it is about; falsy means the control says nothing about that resource.
    A control with `manual=True` has no rule and no resource types: it is satisfied by attestations
    of the requirements it maps to.
    """

    id: str
    title: str
    stage: Stage
    severity: Severity
    rationale: str
    resource_types: tuple[str, ...]
    rule: str | None
    applies_if: str | None
    pass_reason: str
    fail_reason: str  # may contain {jmespath} placeholders evaluated against the document
    remediation: str
    remediation_snippet: str
    references: tuple[str, ...]
    maps_to: Mapping[str, tuple[str, ...]]  # framework id -> requirement ids
    params: tuple[ControlParam, ...] = ()
    manual: bool = False
    attestation_question: str | None = None
    source: str = ""  # "controls/data/aws-s3.yaml:12", for messages
    digest: str = ""  # sha256 of the control's effective definition; changes when it changes
    # framework id -> requirement id -> why this control is evidence for that requirement
    mapping_why: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    # framework id -> requirement ids this control only supports: shown beside the requirement,
    # never decides its roll-up (a FAIL rolls up only through mappings that evidence it)
    supporting: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def providers(self) -> frozenset[str]:
        return frozenset(provider_of_type(t) for t in self.resource_types)

    @property
    def unset_params(self) -> tuple[ControlParam, ...]:
        return tuple(p for p in self.params if p.unset)

    def why(self, framework: str, requirement_id: str) -> str:
        return self.mapping_why.get(framework, {}).get(requirement_id, "")

    def decides(self, framework: str, requirement_id: str) -> bool:
        """Whether this control's verdicts decide the requirement's roll-up (not merely support it)."""
        return requirement_id in self.maps_to.get(framework, ()) and requirement_id not in (
            self.supporting.get(framework, ())
        )


@dataclass(frozen=True)
class Catalog:
    frameworks: Mapping[str, Framework]
    controls: tuple[Control, ...]
    sha256: str  # hash over every loaded file's bytes and the effective parameters

    def control(self, control_id: str) -> Control | None:
        return next((c for c in self.controls if c.id == control_id), None)

    def requirement(self, framework: str, requirement_id: str) -> Requirement | None:
        fw = self.frameworks.get(framework)
        return fw.requirement(requirement_id) if fw else None

    def coverage(self, frameworks: Iterable[str]) -> list[CoverageRow]:
        """Requirements x controls, one row per requirement of each known framework named.

        `manual` when the requirement itself is manual (only an attestation satisfies it, whatever
        automated controls add) or only manual controls map to it; `automated` when an automated
        control maps to it; `none` when nothing in the catalog does. The catalog's `matrix`
        command and the report's appendix both print this, so they cannot disagree."""
        rows = []
        for framework_id in frameworks:
            framework = self.frameworks.get(framework_id)
            for req in framework.requirements if framework else ():
                mapped = [c for c in self.controls if req.id in c.maps_to.get(framework_id, ())]
                deciding = [c for c in mapped if c.decides(framework_id, req.id)]
                automated = tuple(sorted(c.id for c in deciding if not c.manual))
                manual = tuple(sorted(c.id for c in deciding if c.manual))
                supporting = tuple(
                    sorted(c.id for c in mapped if not c.decides(framework_id, req.id))
                )
                if req.manual or (manual and not automated):
                    coverage = "manual"
                else:
                    coverage = "automated" if automated else "none"
                rows.append(CoverageRow(framework_id, req, automated, manual, coverage, supporting))
        return rows


@dataclass(frozen=True)
class CoverageRow:
    framework: str
    requirement: Requirement
    automated_controls: tuple[str, ...]
    manual_controls: tuple[str, ...]
    coverage: str  # "automated" | "manual" | "none"
    supporting_controls: tuple[str, ...] = ()  # evidence shown beside it that does not decide it


def provider_of_type(resource_type: str) -> str:
    """`AWS::S3::Bucket` -> aws, `storage.googleapis.com/Bucket` -> gcp."""
    return "aws" if resource_type.startswith("AWS::") else "gcp"


# ---------------------------------------------------------------- evidence

# The key the collectors' redactor adds to a document: the paths of every value it replaced,
# wherever in the document they were. A rule reading it reads the whole document.
REDACTED_KEY = "_redacted"


@dataclass(frozen=True)
class EvidenceDoc:
    """One resource's configuration as the rules read it, already redacted.

    AWS: `data` is the describe/get response of the resource (PascalCase, as boto3 returns it,
    ResponseMetadata removed) with related evidence joined under fixed keys. GCP: the Cloud Asset
    `resource.data` (camelCase) with `iamPolicy`, `ancestors` and effective settings added.
    """

    provider: str  # "aws" | "gcp"
    account: str  # AWS account ID or GCP project ID
    region: str  # AWS region, GCP location, or "global"
    resource_type: str
    resource_id: str  # ARN, pseudo-ARN, or GCP full resource name
    name: str
    data: Mapping[str, Any]

    @cached_property
    def sha256(self) -> str:
        """Content address: equal documents share storage and evaluation results."""
        return sha256_hex(canonical_json(self.to_dict()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "account": self.account,
            "region": self.region,
            "resource_type": self.resource_type,
            "resource_id": self.resource_id,
            "name": self.name,
            "data": self.data,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> EvidenceDoc:
        return cls(
            provider=raw["provider"],
            account=raw["account"],
            region=raw["region"],
            resource_type=raw["resource_type"],
            resource_id=raw["resource_id"],
            name=raw["name"],
            data=raw["data"],
        )


@dataclass(frozen=True)
class CollectionError:
    """Evidence that could not be collected. Controls that needed it evaluate to ERROR.

    Scope of the gap: `resource_type` None means everything in (account, region) is missing;
    `resource_id` None means the whole type is missing there (the list call failed); with
    `resource_id` and `field` set, only that key of that one document is missing.
    """

    provider: str
    account: str
    region: str
    service: str
    operation: str
    error_code: str
    message: str
    resource_type: str | None = None
    resource_id: str | None = None
    field: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> CollectionError:
        return cls(**{k: raw.get(k) for k in cls.__dataclass_fields__})  # type: ignore[arg-type]

    def sentence(self) -> str:
        where = f"{self.account}/{self.region}"
        return (
            f"{self.service}:{self.operation} failed in {where}: {self.error_code}: {self.message}"
        )


class EvidenceSink(Protocol):
    """Where a collector puts what it finds; the store's snapshot writer is one."""

    def add(self, doc: EvidenceDoc) -> None: ...

    def add_error(self, error: CollectionError) -> None: ...


class MemorySink:
    """An EvidenceSink that keeps everything in memory: for library use of a collector without
    a store, and for tests."""

    def __init__(self) -> None:
        self.docs: list[EvidenceDoc] = []
        self.errors: list[CollectionError] = []

    def add(self, doc: EvidenceDoc) -> None:
        self.docs.append(doc)

    def add_error(self, error: CollectionError) -> None:
        self.errors.append(error)

    def of(self, resource_type: str) -> list[EvidenceDoc]:
        return [d for d in self.docs if d.resource_type == resource_type]

    def by_id(self) -> dict[str, EvidenceDoc]:
        return {d.resource_id: d for d in self.docs}


@dataclass(frozen=True)
class CompletenessWarning:
    """Evidence a snapshot lacks compared with the previous snapshot of the same provider and
    scope, with no collection error to explain it: absence is never inferred, so the controls
    of that type (or of everything, when `resource_type` is None) there give ERROR."""

    provider: str
    account: str
    region: str
    resource_type: str | None  # None: the whole account/region (or project) is gone
    previous_count: int
    count: int
    previous_snapshot: str

    @property
    def message(self) -> str:
        what = self.resource_type or "documents"
        return (
            f"evidence missing compared with the previous snapshot {self.previous_snapshot}: "
            f"{self.previous_count} {what} in {self.account}/{self.region} then, {self.count} now, "
            "and no collection error explains the difference"
        )

    def as_error(self) -> CollectionError:
        """The gap as evaluate treats it: a type (or scope) whose evidence could not be trusted."""
        return CollectionError(
            provider=self.provider,
            account=self.account,
            region=self.region,
            service="auditor",
            operation="CompletenessCheck",
            error_code="EvidenceMissing",
            message=self.message,
            resource_type=self.resource_type,
        )

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "completeness", **asdict(self)}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> CompletenessWarning:
        return cls(**{k: raw.get(k) for k in cls.__dataclass_fields__})  # type: ignore[arg-type]


class Collector(Protocol):
    """One source of evidence. Collectors stream into a sink and return statistics
    (calls made, pages, rejected lines, documents per type) that the manifest records."""

    provider: str

    def scope(self) -> dict[str, Any]: ...

    def collect(self, sink: EvidenceSink) -> dict[str, Any]: ...


class WorkUnit(Protocol):
    """One slice of a collection that can run anywhere (a thread, another process, a Dask
    worker): a small picklable frozen dataclass that says what to collect and never carries
    credentials or sessions; `collect` resolves its own on the worker. `key` names the rate
    limit it shares (an AWS account and region): the conductor keeps only a few units of one
    key running at once."""

    @property
    def key(self) -> str: ...

    @property
    def label(self) -> str: ...

    def collect(self, sink: EvidenceSink, salt: bytes) -> dict[str, Any]: ...

    def failed(self, error: BaseException) -> tuple[CollectionError, ...]:
        """The collection errors that stand for this unit's evidence when it could not run."""
        ...


@runtime_checkable
class UnitCollector(Protocol):
    """A collector whose work can be cut into `WorkUnit`s; `combine` merges the units'
    statistics into what `collect` would have returned."""

    provider: str

    def scope(self) -> dict[str, Any]: ...

    def units(self) -> Sequence[WorkUnit]: ...

    def combine(self, stats: Sequence[Mapping[str, Any]]) -> dict[str, Any]: ...


@dataclass(frozen=True)
class SnapshotManifest:
    """What one collection run found, hash-chained to the snapshot before it in the store."""

    id: str
    provider: str
    scope: Mapping[str, Any]
    started_at: datetime
    finished_at: datetime
    tool_version: str
    catalog_sha256: str
    counts: Mapping[str, int]  # documents per resource type
    stats: Mapping[str, Any]  # collector statistics: calls, pages, rejected_lines, ...
    errors: tuple[CollectionError, ...]
    files: Mapping[str, str]  # relative path -> sha256 (documents, parquet, ...)
    previous_sha256: str | None  # sha256 of the previous manifest in this store; None first
    schema: str = SNAPSHOT_SCHEMA
    # Added after v1's first release; written only when set, so older manifests hash unchanged.
    provenance: Mapping[str, Any] = field(default_factory=dict)  # imported file, evidence time
    warnings: tuple[CompletenessWarning, ...] = ()
    incomplete: bool = False  # some evidence could not be read (rejected lines, gaps)
    # sha256 of the manifest without this key: a one-byte change in the newest manifest, which no
    # successor vouches for yet, still shows. Absent in manifests written before it existed.
    seal: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "id": self.id,
            "provider": self.provider,
            "scope": dict(self.scope),
            "started_at": isoformat(self.started_at),
            "finished_at": isoformat(self.finished_at),
            "tool_version": self.tool_version,
            "catalog_sha256": self.catalog_sha256,
            "counts": dict(self.counts),
            "stats": dict(self.stats),
            "errors": [e.to_dict() for e in self.errors],
            "files": dict(self.files),
            "previous_sha256": self.previous_sha256,
            **({"provenance": dict(self.provenance)} if self.provenance else {}),
            **({"warnings": [w.to_dict() for w in self.warnings]} if self.warnings else {}),
            **({"incomplete": True} if self.incomplete else {}),
        } | ({"seal": self.seal} if self.seal is not None else {})

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> SnapshotManifest:
        return cls(
            schema=raw.get("schema", SNAPSHOT_SCHEMA),
            id=raw["id"],
            provider=raw["provider"],
            scope=raw.get("scope", {}),
            started_at=parse_time(raw["started_at"]),
            finished_at=parse_time(raw["finished_at"]),
            tool_version=raw.get("tool_version", ""),
            catalog_sha256=raw.get("catalog_sha256", ""),
            counts=raw.get("counts", {}),
            stats=raw.get("stats", {}),
            errors=tuple(CollectionError.from_dict(e) for e in raw.get("errors", [])),
            files=raw.get("files", {}),
            previous_sha256=raw.get("previous_sha256"),
            provenance=raw.get("provenance") or {},
            warnings=tuple(CompletenessWarning.from_dict(w) for w in raw.get("warnings") or ()),
            incomplete=bool(raw.get("incomplete", False)),
            seal=raw.get("seal"),
        )

    @cached_property
    def sha256(self) -> str:
        return sha256_hex(canonical_json(self.to_dict()))

    def sealed(self) -> SnapshotManifest:
        """This manifest with its `seal` set over every other key."""
        unsealed = {k: v for k, v in self.to_dict().items() if k != "seal"}
        return replace(self, seal=sha256_hex(canonical_json(unsealed)))

    @property
    def seal_ok(self) -> bool:
        return self.seal is not None and self.sealed().seal == self.seal

    @property
    def taken_at(self) -> datetime:
        return self.finished_at

    @property
    def evidence_time(self) -> datetime | None:
        """When the evidence itself was read (an import's export time); None: at collection."""
        value = self.provenance.get("evidence_time")
        return parse_time(str(value)) if value else None

    @property
    def gaps(self) -> tuple[CollectionError, ...]:
        """Collection errors and completeness warnings, as the controls they touch see them."""
        return self.errors + tuple(w.as_error() for w in self.warnings)


@dataclass(frozen=True)
class Snapshot:
    """A manifest with its documents. `documents` may be a lazy iterable for large snapshots."""

    manifest: SnapshotManifest
    documents: tuple[EvidenceDoc, ...]

    def __iter__(self) -> Iterator[EvidenceDoc]:
        return iter(self.documents)


# ---------------------------------------------------------------- evaluation inputs


@dataclass(frozen=True)
class Waiver:
    control: str
    resources: tuple[str, ...]  # globs; empty = every resource of the control
    justification: str
    approved_by: str
    expires: date  # from this day on the waiver no longer applies
    source: str = ""  # "waivers.yaml:3"

    def is_active(self, on: date) -> bool:
        return on < self.expires


_Date = date  # the Attestation field named `date` shadows the type inside its class body


@dataclass(frozen=True)
class Attestation:
    requirement: str  # "pci-dss-4.0.1:12.10.1"
    statement: str
    attested_by: str
    date: _Date
    valid_until: _Date
    files: tuple[str, ...] = ()
    file_sha256: Mapping[str, str | None] = field(default_factory=dict)  # None: file missing
    source: str = ""

    def is_current(self, on: _Date) -> bool:
        return self.date <= on < self.valid_until


# ---------------------------------------------------------------- evaluation results


@dataclass(frozen=True)
class WaiverRef:
    justification: str
    approved_by: str
    expires: date
    expired: bool  # True: the waiver existed but had expired, so the finding is FAIL again

    def to_dict(self) -> dict[str, Any]:
        return {
            "justification": self.justification,
            "approved_by": self.approved_by,
            "expires": self.expires.isoformat(),
            "expired": self.expired,
        }


@dataclass(frozen=True)
class Finding:
    """One verdict of one control on one resource in one snapshot (docs/findings.schema.json)."""

    control_id: str
    control_title: str
    stage: str
    severity: str
    status: Status
    provider: str
    account: str
    region: str
    resource_type: str
    resource_id: str
    reason: str
    requirements: Mapping[str, tuple[str, ...]]
    snapshot_id: str
    waiver: WaiverRef | None = None
    evidence_sha256: str | None = None  # the document the verdict used
    # framework -> why the resource is in its scope; empty when no scope was defined
    scope: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "control_id": self.control_id,
            "control_title": self.control_title,
            "stage": self.stage,
            "severity": self.severity,
            "status": str(self.status),
            "provider": self.provider,
            "account": self.account,
            "region": self.region,
            "resource_type": self.resource_type,
            "resource_id": self.resource_id,
            "reason": self.reason,
            "requirements": {k: list(v) for k, v in self.requirements.items()},
            "snapshot_id": self.snapshot_id,
            "waiver": self.waiver.to_dict() if self.waiver else None,
            "evidence_sha256": self.evidence_sha256,
            "scope": dict(self.scope),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Finding:
        w = raw.get("waiver")
        return cls(
            control_id=raw["control_id"],
            control_title=raw["control_title"],
            stage=raw["stage"],
            severity=raw["severity"],
            status=Status(raw["status"]),
            provider=raw["provider"],
            account=raw["account"],
            region=raw["region"],
            resource_type=raw["resource_type"],
            resource_id=raw["resource_id"],
            reason=raw["reason"],
            requirements={k: tuple(v) for k, v in raw["requirements"].items()},
            snapshot_id=raw["snapshot_id"],
            waiver=WaiverRef(
                justification=w["justification"],
                approved_by=w["approved_by"],
                expires=date.fromisoformat(w["expires"]),
                expired=bool(w.get("expired", False)),
            )
            if w
            else None,
            evidence_sha256=raw.get("evidence_sha256"),
            scope=dict(raw.get("scope") or {}),
        )

    @property
    def key(self) -> tuple[str, str]:
        """Identity across snapshots: the same control on the same resource."""
        return (self.control_id, self.resource_id)


@dataclass(frozen=True)
class RequirementRollup:
    framework: str
    requirement_id: str
    title: str
    status: RollupStatus
    control_ids: tuple[str, ...]
    counts: Mapping[str, int]  # findings per Status
    attestation: Attestation | None = None
    supporting_control_ids: tuple[str, ...] = ()  # shown as supporting evidence; never decide it


@dataclass(frozen=True)
class Deviation:
    """One period of non-compliance of one control on one resource."""

    control_id: str
    resource_id: str
    first_seen: datetime
    last_seen: datetime
    resolved_at: datetime | None  # first snapshot after last_seen in which it held
    days_to_remediate: float | None


@dataclass(frozen=True)
class ResolvedDeviation(Deviation):
    """A Deviation that also says how it ended and where: what evaluation produces, so the
    summary tables and the report read `resolution` without guessing."""

    resolution: str | None = None  # "fixed", "removed", or None while open
    provider: str = ""
    account: str = ""
    region: str = ""


@dataclass(frozen=True)
class ControlEffectiveness:
    """Operating effectiveness of one control over an audit period."""

    control_id: str
    snapshots_evaluated: int
    snapshots_held: (
        int  # evaluated snapshots with no FAIL (WAIVED holds; ERROR-only: not evaluated)
    )
    held_at_period_end: bool | None  # None: not evaluated at the end (ERROR/N/A)
    deviations: tuple[ResolvedDeviation, ...]
    # False when the snapshots of the providers it covers are too few or too far apart to
    # conclude on operation over the period (see EvidenceCoverage); the share is then not stated.
    sufficient_evidence: bool = True

    @property
    def share_held(self) -> float | None:
        if self.snapshots_evaluated == 0:
            return None
        return self.snapshots_held / self.snapshots_evaluated


@dataclass(frozen=True)
class Period:
    """An audit period: `2026-Q4`, `2026-H2`, `2026`, or an explicit range (end exclusive)."""

    label: str
    start: datetime
    end: datetime

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


@dataclass(frozen=True)
class SnapshotSummary:
    """Status counts of one snapshot, for the trend chart."""

    snapshot_id: str
    provider: str
    taken_at: datetime
    counts: Mapping[str, int]


@dataclass(frozen=True)
class EvidenceCoverage:
    """How much of the audit period one provider's snapshots cover, given the expected cadence.

    Operating effectiveness over a period can only be concluded from evidence spread over it:
    a percentage computed from two snapshots a quarter apart would mislead the reader."""

    provider: str
    period_start: datetime
    period_end: datetime  # the end of the period, or `on` when the period is still running
    interval_days: float  # the expected cadence (auditor.yaml schedule.interval)
    snapshots: int
    expected: int  # snapshots the cadence expects between period_start and period_end
    first: datetime | None
    last: datetime | None
    largest_gap_days: float  # between consecutive snapshots, or a period edge and a snapshot
    covered_share: float  # share of the period within one interval after some snapshot
    sufficient: bool
    reasons: tuple[str, ...] = ()  # why the evidence is insufficient, in words


@dataclass(frozen=True)
class AuditResult:
    """Everything the report needs, computed by the evaluate stage; the report reads only this."""

    generated_at: datetime
    period: Period | None
    catalog: Catalog
    frameworks: tuple[str, ...]
    snapshots: tuple[SnapshotManifest, ...]  # every snapshot evaluated
    findings: tuple[Finding, ...]  # the state at the end: latest snapshot per provider
    rollups: tuple[RequirementRollup, ...]
    effectiveness: tuple[ControlEffectiveness, ...]
    trend: tuple[SnapshotSummary, ...]
    waivers: tuple[Waiver, ...]
    attestations: tuple[Attestation, ...]
    collection_errors: tuple[CollectionError, ...]
    metadata: Mapping[str, Any] = field(default_factory=dict)  # organisation, scope text, ...
    scope: ScopeResult | None = None  # framework scope and lineage of the period-end documents
    evidence_coverage: tuple[EvidenceCoverage, ...] = ()  # one per provider; () without a period
    # snapshot ID -> why its evidence is older than the period it is used for
    stale_snapshots: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FindingsDiff:
    """What changed between two findings documents (two report versions or two periods)."""

    old_label: str
    new_label: str
    new_failures: tuple[Finding, ...]  # FAIL now, not present before
    resolved_failures: tuple[Finding, ...]  # FAIL before, PASS/WAIVED now (old finding shown)
    regressions: tuple[Finding, ...]  # PASS before, FAIL now
    new_resources: tuple[str, ...]
    removed_resources: tuple[str, ...]
    controls_added: tuple[str, ...]
    controls_removed: tuple[str, ...]
    controls_changed: tuple[str, ...]  # same ID, different definition digest or title
    status_changes: tuple[tuple[str, str, str, str], ...] = ()  # (control, resource, old, new)


@dataclass(frozen=True)
class ReportManifest:
    """`manifest.json` of a report version folder (the report version folder the README describes)."""

    report_id: str
    period: str
    version: int
    generated_at: datetime
    tool_version: str
    catalog_sha256: str
    snapshots: tuple[Mapping[str, str], ...]  # [{"id":..., "manifest_sha256":...}]
    files: Mapping[str, str]  # file name -> sha256
    supersedes: str | None  # sha256 of the previous version's manifest.json bytes
    signed: bool = False
    schema: str = REPORT_SCHEMA

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "report_id": self.report_id,
            "period": self.period,
            "version": self.version,
            "generated_at": isoformat(self.generated_at),
            "tool_version": self.tool_version,
            "catalog_sha256": self.catalog_sha256,
            "snapshots": [dict(s) for s in self.snapshots],
            "files": dict(self.files),
            "supersedes": self.supersedes,
            "signed": self.signed,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ReportManifest:
        return cls(
            schema=raw.get("schema", REPORT_SCHEMA),
            report_id=raw["report_id"],
            period=raw["period"],
            version=int(raw["version"]),
            generated_at=parse_time(raw["generated_at"]),
            tool_version=raw.get("tool_version", ""),
            catalog_sha256=raw.get("catalog_sha256", ""),
            snapshots=tuple(raw.get("snapshots", [])),
            files=raw.get("files", {}),
            supersedes=raw.get("supersedes"),
            signed=bool(raw.get("signed", False)),
        )


def requirements_cell(requirements: Mapping[str, Iterable[str]]) -> str:
    """`gdpr:Art. 32(1)(a);hipaa:164.312(a)(2)(iv)`, the flattened form findings.csv uses."""
    return ";".join(f"{fw}:{rid}" for fw, ids in requirements.items() for rid in ids)


# Characters that reorder or hide text (bidi embeddings, overrides, isolates and marks) and
# control characters other than tab and newline (C0, DEL, C1: terminal escapes, BEL, NUL).
# Evidence is attacker-controlled: a resource named "gpu\u202e..." must not reverse what follows
# it in a report, and ESC must not start a terminal sequence. Shown visibly as `\u202e`.
_INVISIBLE: dict[int, str] = {
    code: f"\\u{code:04x}"
    for code in (
        *(c for c in range(0x20) if c not in (0x09, 0x0A)),
        *range(0x7F, 0xA0),
        0x061C,
        0x200E,
        0x200F,
        *range(0x202A, 0x202F),
        *range(0x2066, 0x206A),
    )
}


def neutralise_text(value: str) -> str:
    """Bidi controls and C0/C1 control characters (but tab and newline) shown as `\\uXXXX`.

    The one neutraliser for evidence-derived text in every output: CSV, HTML, PDF, terminal."""
    return value.translate(_INVISIBLE)


# A cell starting with one of these is a formula to a spreadsheet (OWASP CSV injection).
CSV_FORMULA_START: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value: str) -> str:
    """The one CSV-cell neutraliser, used by every CSV writer: `neutralise_text`, then a leading
    quote on a cell a spreadsheet would run as a formula. Resource names and tags are
    attacker-controlled: `=HYPERLINK(...)` must stay inert text."""
    value = value.translate(_INVISIBLE)
    return "'" + value if value.startswith(CSV_FORMULA_START) else value


# ---------------------------------------------------------------- scope (framework scope along the ML lineage)

SCOPE_ROLES: tuple[str, ...] = (
    "data",
    "pipeline",
    "model",
    "endpoint",
    "dependency",
    "other",
    "account",
)


@dataclass(frozen=True)
class ScopeSelector:
    """One `include`/`exclude` entry of auditor.yaml's `scope:`; every key it sets must match
    (AND), and a framework's entries are alternatives (OR). Empty tuples match anything."""

    tag_key: str | None = None
    tag_values: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    organizational_units: tuple[str, ...] = ()
    projects: tuple[str, ...] = ()
    folders: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()

    def describe(self) -> str:
        """`tag data-class=phi`, `account 111111111111`: the words a scope reason quotes."""
        parts = []
        if self.tag_key is not None:
            shown = "|".join(self.tag_values)
            parts.append(f"tag {self.tag_key}={shown}" if shown else f"tag {self.tag_key}")
        for label, values in (
            ("account", self.accounts),
            ("organizational unit", self.organizational_units),
            ("project", self.projects),
            ("folder", self.folders),
            ("region", self.regions),
        ):
            if values:
                parts.append(f"{label} {', '.join(values)}")
        return " and ".join(parts) or "every resource"

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ScopeSelector:
        tag = raw.get("tag") or {}
        return cls(
            tag_key=tag.get("key"),
            tag_values=tuple(str(v) for v in tag.get("values") or ()),
            accounts=tuple(str(v) for v in raw.get("accounts") or ()),
            organizational_units=tuple(str(v) for v in raw.get("organizational_units") or ()),
            projects=tuple(str(v) for v in raw.get("projects") or ()),
            folders=tuple(str(v) for v in raw.get("folders") or ()),
            regions=tuple(str(v) for v in raw.get("regions") or ()),
        )


@dataclass(frozen=True)
class FrameworkScopeDefinition:
    include: tuple[ScopeSelector, ...] = ()
    exclude: tuple[ScopeSelector, ...] = ()


@dataclass(frozen=True)
class ScopeDefinition:
    """auditor.yaml's `scope:` as the evaluate stage reads it (built by the pipeline from config).

    A framework without an entry has every resource in scope. `unclassified_in_scope` decides
    resources no framework's selectors or lineage classified."""

    frameworks: Mapping[str, FrameworkScopeDefinition] = field(default_factory=dict)
    unclassified_in_scope: bool = True

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ScopeDefinition:
        """From plain data shaped like the YAML (`{unclassified: ..., hipaa: {include: [...]}}`)."""
        frameworks = {}
        for key, value in raw.items():
            if key == "unclassified":
                continue
            value = value or {}
            frameworks[str(key)] = FrameworkScopeDefinition(
                include=tuple(ScopeSelector.from_dict(s) for s in value.get("include") or ()),
                exclude=tuple(ScopeSelector.from_dict(s) for s in value.get("exclude") or ()),
            )
        return cls(
            frameworks=frameworks,
            unclassified_in_scope=str(raw.get("unclassified", "in_scope")) != "out_of_scope",
        )


@dataclass(frozen=True)
class ScopeDecision:
    """Whether one resource is in one framework's scope, and why (the nearest reason)."""

    framework: str
    resource_id: str
    in_scope: bool
    reason: str
    resource_type: str = ""
    name: str = ""
    role: str = "other"  # one of SCOPE_ROLES: how the system description groups it
    provider: str = ""
    account: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LineageEdge:
    """Data or dependency flow between two resources: `source` feeds or serves `target`."""

    source: str  # resource id
    target: str  # resource id
    relation: str  # "reads", "writes", "serves", "deploys", "captures", "uses"
    detail: str = ""  # the URI or field that links them

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FrameworkScope:
    """One framework's scope over a set of documents."""

    framework: str
    defined: bool  # False: no scope for this framework, every resource is in scope
    decisions: tuple[ScopeDecision, ...]

    @cached_property
    def by_resource(self) -> Mapping[str, ScopeDecision]:
        return {d.resource_id: d for d in self.decisions}

    @property
    def in_scope(self) -> tuple[ScopeDecision, ...]:
        return tuple(d for d in self.decisions if d.in_scope)

    @property
    def out_of_scope(self) -> tuple[ScopeDecision, ...]:
        return tuple(d for d in self.decisions if not d.in_scope)


@dataclass(frozen=True)
class ScopeResult:
    """Every framework's scope and the lineage graph it was propagated along."""

    defined: bool  # False: auditor.yaml has no `scope:`; every resource is in every scope
    frameworks: tuple[FrameworkScope, ...]
    edges: tuple[LineageEdge, ...]
    unclassified_in_scope: bool = True

    def framework(self, framework_id: str) -> FrameworkScope | None:
        return next((f for f in self.frameworks if f.framework == framework_id), None)

    @cached_property
    def in_scope_by_resource(self) -> Mapping[str, tuple[str, ...]]:
        """resource id -> the frameworks whose scope holds it (the evaluation's per-resource cache)."""
        out: dict[str, list[str]] = {}
        for scope in self.frameworks:
            for decision in scope.decisions:
                out.setdefault(decision.resource_id, [])
                if decision.in_scope:
                    out[decision.resource_id].append(scope.framework)
        return {k: tuple(v) for k, v in out.items()}

    @cached_property
    def in_scope_sets(self) -> Mapping[str, frozenset[str]]:
        """resource id -> frameworks holding it, as sets for the evaluation's hot loop."""
        return {k: frozenset(v) for k, v in self.in_scope_by_resource.items()}

    @cached_property
    def reasons_by_resource(self) -> Mapping[str, Mapping[str, str]]:
        """resource id -> {framework: reason} for the frameworks whose scope holds it."""
        out: dict[str, dict[str, str]] = {}
        for scope in self.frameworks:
            for decision in scope.decisions:
                if decision.in_scope:
                    out.setdefault(decision.resource_id, {})[scope.framework] = decision.reason
        return out

    def reasons(self, resource_id: str) -> dict[str, str]:
        """framework -> reason, for the frameworks whose scope holds the resource."""
        return dict(self.reasons_by_resource.get(resource_id, {}))

    def to_dict(self) -> dict[str, Any]:
        return {
            "defined": self.defined,
            "unclassified": "in_scope" if self.unclassified_in_scope else "out_of_scope",
            "frameworks": {
                f.framework: {
                    "defined": f.defined,
                    "in_scope": [d.to_dict() for d in f.in_scope],
                    "out_of_scope": [d.to_dict() for d in f.out_of_scope],
                }
                for f in self.frameworks
            },
            "edges": [e.to_dict() for e in self.edges],
        }
