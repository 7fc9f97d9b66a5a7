"""Summary tables (pandas) of an audit: what the report charts and `--format csv` exports.

Each table has one row per group and one integer column per status (in `models.STATUS_ORDER`) plus
`total`, so a chart or a CSV reader never has to pivot again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from auditor.models import SEVERITY_ORDER, STAGE_ORDER, STATUS_ORDER, isoformat, neutralise_cell

# pandas is imported inside the functions: only summaries need it, not every command.
if TYPE_CHECKING:
    import pandas as pd

    from auditor.models import AuditResult

STATUS_COLUMNS: tuple[str, ...] = tuple(str(s) for s in STATUS_ORDER)
SUMMARY_NAMES: tuple[str, ...] = (
    "by_requirement",
    "by_stage",
    "by_severity",
    "by_scope",
    "by_control",
    "deviations",
    "trend",
)


def _findings_frame(result: AuditResult) -> pd.DataFrame:
    import pandas as pd

    rows = [
        (f.control_id, f.stage, f.severity, str(f.status), f.provider, f.account, f.region)
        for f in result.findings
    ]
    return pd.DataFrame(
        rows,
        columns=["control_id", "stage", "severity", "status", "provider", "account", "region"],
    )


def _counts(
    frame: pd.DataFrame, keys: list[str], order: Sequence[Any] | None = None
) -> pd.DataFrame:
    """Status counts per group: the group columns, one column per status, and `total`."""
    import pandas as pd

    if frame.empty:
        table = pd.DataFrame(columns=[*keys, *STATUS_COLUMNS, "total"])
    else:
        pivot = pd.crosstab([frame[k] for k in keys], frame["status"])
        pivot = pivot.reindex(columns=list(STATUS_COLUMNS), fill_value=0)
        pivot.columns.name = None
        table = pivot.reset_index()
        table["total"] = table[list(STATUS_COLUMNS)].sum(axis=1)
    if order is not None and not table.empty:
        rank = {value: position for position, value in enumerate(order)}
        table = table.sort_values(
            keys[0], key=lambda col: col.map(lambda v: rank.get(v, len(rank)))
        )
    numbers = [*STATUS_COLUMNS, "total"]
    table[numbers] = table[numbers].astype("int64")
    return table.reset_index(drop=True)


def build_summaries(result: AuditResult) -> dict[str, pd.DataFrame]:
    """Every summary table by name (see SUMMARY_NAMES)."""
    import pandas as pd

    frame = _findings_frame(result)
    by_stage = _counts(frame, ["stage"], [str(s) for s in STAGE_ORDER])
    by_severity = _counts(frame, ["severity"], [str(s) for s in SEVERITY_ORDER])
    by_scope = _counts(frame[frame["provider"] != ""], ["provider", "account", "region"])

    requirement_rows = []
    for rollup in result.rollups:
        row: dict[str, Any] = {
            "framework": rollup.framework,
            "requirement_id": rollup.requirement_id,
            "title": rollup.title,
            "status": str(rollup.status),
            "controls": len(rollup.control_ids),
        }
        row.update({s: int(rollup.counts.get(s, 0)) for s in STATUS_COLUMNS})
        row["total"] = sum(int(rollup.counts.get(s, 0)) for s in STATUS_COLUMNS)
        requirement_rows.append(row)
    by_requirement = pd.DataFrame(
        requirement_rows,
        columns=[
            "framework",
            "requirement_id",
            "title",
            "status",
            "controls",
            *STATUS_COLUMNS,
            "total",
        ],
    )

    per_control = _counts(frame, ["control_id"])
    effectiveness = {e.control_id: e for e in result.effectiveness}
    controls = {c.id: c for c in result.catalog.controls}
    control_rows = []
    for record in per_control.to_dict("records"):
        control = controls.get(record["control_id"])
        eff = effectiveness.get(record["control_id"])
        control_rows.append(
            {
                "control_id": record["control_id"],
                "title": control.title if control else "",
                "stage": str(control.stage) if control else "",
                "severity": str(control.severity) if control else "",
                **{s: record[s] for s in STATUS_COLUMNS},
                "total": record["total"],
                "snapshots_evaluated": eff.snapshots_evaluated if eff else 0,
                "snapshots_held": eff.snapshots_held if eff else 0,
                "share_held": eff.share_held if eff else None,
                "held_at_period_end": eff.held_at_period_end if eff else None,
                "deviations": len(eff.deviations) if eff else 0,
            }
        )
    by_control = pd.DataFrame(
        control_rows,
        columns=[
            "control_id", "title", "stage", "severity", *STATUS_COLUMNS, "total",
            "snapshots_evaluated", "snapshots_held", "share_held", "held_at_period_end",
            "deviations",
        ],
    )  # fmt: skip

    deviation_rows = [
        {
            "control_id": d.control_id,
            "resource_id": d.resource_id,
            "first_seen": isoformat(d.first_seen),
            "last_seen": isoformat(d.last_seen),
            "resolved_at": isoformat(d.resolved_at) if d.resolved_at else None,
            "resolution": d.resolution,
            "days_to_remediate": d.days_to_remediate,
        }
        for e in result.effectiveness
        for d in e.deviations
    ]
    deviations = pd.DataFrame(
        deviation_rows,
        columns=[
            "control_id", "resource_id", "first_seen", "last_seen", "resolved_at", "resolution",
            "days_to_remediate",
        ],
    )  # fmt: skip

    trend = pd.DataFrame(
        [
            {
                "snapshot_id": t.snapshot_id,
                "provider": t.provider,
                "taken_at": isoformat(t.taken_at),
                **{s: int(t.counts.get(s, 0)) for s in STATUS_COLUMNS},
            }
            for t in result.trend
        ],
        columns=["snapshot_id", "provider", "taken_at", *STATUS_COLUMNS],
    )
    return {
        "by_requirement": by_requirement,
        "by_stage": by_stage,
        "by_severity": by_severity,
        "by_scope": by_scope,
        "by_control": by_control,
        "deviations": deviations,
        "trend": trend,
    }


def table_csv(table: pd.DataFrame) -> str:
    """One summary table as CSV text, with text cells neutralised against formula injection."""
    import pandas as pd

    safe = table.copy()
    for column in safe.columns:
        if safe[column].dtype == object or pd.api.types.is_string_dtype(safe[column]):
            safe[column] = safe[column].map(
                lambda v: neutralise_cell(v) if isinstance(v, str) else v
            )
    text: str = safe.to_csv(index=False, lineterminator="\r\n")
    return text


def summaries_csv(result: AuditResult) -> dict[str, str]:
    """`name.csv` contents for every summary table (what `--format csv` writes); the tables are
    built here, on demand: `audit()` does not build them, as most runs never ask."""
    tables = build_summaries(result)
    return {f"{name}.csv": table_csv(tables[name]) for name in SUMMARY_NAMES if name in tables}
