"""Evaluation (pure: no cloud SDK, no file I/O): verdicts, waivers, attestations, roll-ups,
operating effectiveness over a period, findings files, summaries, diff and OSCAL.

Callers read files and pass their text (and the sha256 of attestation files); everything here
computes on the frozen types of auditor.models.
"""

from auditor.evaluate.audit import (
    DEFAULT_INTERVAL,
    audit,
    check_references,
    evidence_coverage,
    rollups,
)
from auditor.evaluate.diff import diff_findings, diff_to_dict, diff_to_text
from auditor.evaluate.inputs import (
    attestation_paths,
    parse_attestations,
    parse_period,
    parse_waivers,
)
from auditor.evaluate.oscal import oscal_assessment_results
from auditor.evaluate.outputs import CSV_COLUMNS, findings_csv, findings_document, neutralise_cell
from auditor.evaluate.scope import compute_scope, scope_dot
from auditor.evaluate.summaries import SUMMARY_NAMES, build_summaries, summaries_csv, table_csv
from auditor.evaluate.verdicts import (
    VerdictCache,
    evaluate_snapshot,
    judge_partition,
    manual_findings,
    selected_frameworks,
)

__all__ = [
    "CSV_COLUMNS",
    "DEFAULT_INTERVAL",
    "SUMMARY_NAMES",
    "VerdictCache",
    "attestation_paths",
    "audit",
    "build_summaries",
    "check_references",
    "compute_scope",
    "diff_findings",
    "diff_to_dict",
    "diff_to_text",
    "evaluate_snapshot",
    "evidence_coverage",
    "findings_csv",
    "findings_document",
    "judge_partition",
    "manual_findings",
    "neutralise_cell",
    "oscal_assessment_results",
    "parse_attestations",
    "parse_period",
    "parse_waivers",
    "rollups",
    "scope_dot",
    "selected_frameworks",
    "summaries_csv",
    "table_csv",
]
