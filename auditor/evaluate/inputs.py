"""Waiver and attestation files (docs/waivers-and-attestations.md), and the audit period.

Parsing is pure: the caller reads the files and passes their text (and, for attestations, the
sha256 of every cited file, or None when it is missing). Every problem becomes a `UserError` that
names file, line and field, so the CLI exits 2 with a message a person can fix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from fnmatch import fnmatchcase
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from auditor.errors import UserError
from auditor.models import FRAMEWORKS, Attestation, Period, Waiver
from auditor.yamlfile import line_of, load_text, validate

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _date_only(value: Any) -> Any:
    """Dates must be dates: a YAML date or a quoted YYYY-MM-DD, never a number or a timestamp."""
    if isinstance(value, datetime):
        raise ValueError("expected a date (YYYY-MM-DD), not a date and time")
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _ISO_DATE.match(value.strip()):
        return date.fromisoformat(value.strip())
    raise ValueError("expected a date written as YYYY-MM-DD")


StrictDate = Annotated[date, BeforeValidator(_date_only)]
Text = Annotated[str, Field(min_length=1)]


class _WaiverEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    control: Text
    resources: list[Text] = Field(default_factory=list)
    justification: Text
    approved_by: Text
    expires: StrictDate

    @field_validator("resources")
    @classmethod
    def _some_resources(cls, value: list[str]) -> list[str]:
        """`resources: []` reads as "none" but would waive every resource: refuse it."""
        if not value:
            raise ValueError(
                "an empty list would waive every resource; list the resources, or omit the key "
                "to mean all resources of the control"
            )
        return value


class _WaiverFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    waivers: list[_WaiverEntry] | None = None


class _AttestationEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    requirement: Text
    statement: Text
    attested_by: Text
    date: StrictDate
    valid_until: StrictDate
    files: list[Text] = Field(default_factory=list)

    @field_validator("requirement")
    @classmethod
    def _framework_prefixed(cls, value: str) -> str:
        framework, sep, requirement_id = value.partition(":")
        if not sep or not requirement_id.strip() or framework not in FRAMEWORKS:
            raise ValueError(
                "expected 'framework:requirement', e.g. 'pci-dss-4.0.1:12.10.1', with framework "
                "one of " + ", ".join(FRAMEWORKS)
            )
        return value


class _AttestationFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    attestations: list[_AttestationEntry] | None = None


def _load_mapping(text: str, filename: str, key: str) -> Any:
    raw = load_text(text, filename)
    if raw is None:
        return {key: []}
    if not isinstance(raw, dict):
        raise UserError(
            f"expected a mapping with a top-level '{key}:' list", file=filename, line=1, field=key
        )
    return raw


def _item_line(raw: Any, key: str, index: int) -> int | None:
    return line_of(raw, [key, index])


def parse_waivers(text: str, filename: str) -> list[Waiver]:
    """`waivers.yaml` text -> waivers; a malformed file raises UserError naming file:line:field."""
    raw = _load_mapping(text, filename, "waivers")
    parsed = validate(_WaiverFile, raw, filename)
    waivers = []
    for index, entry in enumerate(parsed.waivers or []):
        waivers.append(
            Waiver(
                control=entry.control,
                resources=tuple(entry.resources),
                justification=entry.justification,
                approved_by=entry.approved_by,
                expires=entry.expires,
                source=f"{filename}:{_item_line(raw, 'waivers', index) or '?'}",
            )
        )
    return waivers


def parse_attestations(
    text: str, filename: str, file_hashes: Mapping[str, str | None]
) -> list[Attestation]:
    """`attestations.yaml` text -> attestations, each with the sha256 of its files.

    `file_hashes` maps every path the caller was asked about to its sha256, or None when the
    file is missing; a path absent from the mapping counts as missing. A missing file is not an
    error here: the evaluation reports it as a finding (MANUAL, with the reason)."""
    raw = _load_mapping(text, filename, "attestations")
    parsed = validate(_AttestationFile, raw, filename)
    attestations = []
    for index, entry in enumerate(parsed.attestations or []):
        line = _item_line(raw, "attestations", index)
        if entry.valid_until <= entry.date:
            raise UserError(
                "valid_until must be after date",
                file=filename,
                line=line_of(raw, ["attestations", index, "valid_until"]) or line,
                field=f"attestations.{index}.valid_until",
            )
        attestations.append(
            Attestation(
                requirement=entry.requirement,
                statement=entry.statement,
                attested_by=entry.attested_by,
                date=entry.date,
                valid_until=entry.valid_until,
                files=tuple(entry.files),
                file_sha256={path: file_hashes.get(path) for path in entry.files},
                source=f"{filename}:{line or '?'}",
            )
        )
    return attestations


def attestation_paths(text: str, filename: str) -> list[str]:
    """Every file an attestation file cites, so the caller knows what to hash before parsing."""
    raw = _load_mapping(text, filename, "attestations")
    parsed = validate(_AttestationFile, raw, filename)
    return [path for entry in parsed.attestations or [] for path in entry.files]


def waiver_for(waivers: list[Waiver], resource_id: str, on: date) -> tuple[Waiver, bool] | None:
    """The waiver covering a resource: an active one if any (expires latest), else the expired
    one that expired last, so the report can say the exception lapsed. Returns (waiver, active)."""
    matching = [
        w
        for w in waivers
        if not w.resources or any(fnmatchcase(resource_id, g) for g in w.resources)
    ]
    if not matching:
        return None
    active = [w for w in matching if w.is_active(on)]
    if active:
        return max(active, key=lambda w: w.expires), True
    return max(matching, key=lambda w: w.expires), False


# ---------------------------------------------------------------- period

_QUARTER = re.compile(r"^(\d{4})-[Qq]([1-4])$")
_HALF = re.compile(r"^(\d{4})-[Hh]([12])$")
_YEAR = re.compile(r"^(\d{4})$")
# How a --from/--to period is named (FROM_TO), so a report folder's name reads back as its period.
_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})_(\d{4}-\d{2}-\d{2})$")


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _as_date(value: date | str, field: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise UserError(
            f"expected a date written as YYYY-MM-DD (got {value!r})", field=field
        ) from None


def _quarter(year: int, quarter: int) -> Period:
    first = date(year, 3 * quarter - 2, 1)
    after = date(year + 1, 1, 1) if quarter == 4 else date(year, 3 * quarter + 1, 1)
    return Period(f"{year}-Q{quarter}", _midnight(first), _midnight(after))


def _quarter_of(day: date) -> Period:
    return _quarter(day.year, (day.month - 1) // 3 + 1)


def parse_period(
    text: str | None = None,
    *,
    start: date | str | None = None,
    end: date | str | None = None,
    today: date | None = None,
) -> Period:
    """`2026-Q4`, `2026-H2`, `2026`, `current` or `previous` (the quarter holding `today`, or the
    one before it; `today` is given, never read from the clock), or `start`/`end` dates (the
    `--from`/`--to` options), whose label `2026-10-01_2026-12-31` reads back as the same period.
    The one period rule: the CLI, the pipeline and report folders all name periods through it.

    The returned Period is UTC with an exclusive end. An explicit `end` is the last day of the
    period as people write it (`--to 2026-12-31`), so the Period ends at the following midnight.
    """
    if text is not None and (start is not None or end is not None):
        raise UserError("give either a period label or --from/--to dates, not both", field="period")
    if text is not None:
        label = text.strip()
        year: int
        if label in ("current", "previous") and today is not None:
            this_quarter = _quarter_of(today)
            if label == "current":
                return this_quarter
            return _quarter_of(this_quarter.start.date() - timedelta(days=1))
        if match := _QUARTER.match(label):
            return _quarter(int(match.group(1)), int(match.group(2)))
        if match := _RANGE.match(label):
            return parse_period(start=match.group(1), end=match.group(2))
        if match := _HALF.match(label):
            year, half = int(match.group(1)), int(match.group(2))
            first = date(year, 1 if half == 1 else 7, 1)
            after = date(year, 7, 1) if half == 1 else date(year + 1, 1, 1)
            return Period(f"{year}-H{half}", _midnight(first), _midnight(after))
        if match := _YEAR.match(label):
            year = int(match.group(1))
            return Period(str(year), _midnight(date(year, 1, 1)), _midnight(date(year + 1, 1, 1)))
        raise UserError(
            f"expected a period like 2026-Q4, 2026-H2 or 2026 (got {text!r})", field="period"
        )
    if start is None or end is None:
        raise UserError("give a period label, or both --from and --to dates", field="period")
    first = _as_date(start, "from")
    last = _as_date(end, "to")
    if last < first:
        raise UserError(f"--to {last} is before --from {first}", field="to")
    return Period(
        f"{first.isoformat()}_{last.isoformat()}",
        _midnight(first),
        _midnight(last + timedelta(days=1)),
    )
