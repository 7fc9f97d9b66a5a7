"""`write_report`: render every requested format and publish them as a new version folder.

The folder is built under a temporary name beside its final place and renamed into
`<out>/<period>/v<N>/` in one step that refuses to replace anything; a run that loses a race
for v<N> renders again as v<N+1>. Nothing already written is ever touched.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from auditor import __version__
from auditor.errors import RunError, UserError
from auditor.files import fsync_dir, write_new
from auditor.models import (
    AuditResult,
    FindingsDiff,
    ReportManifest,
    isoformat,
    sha256_hex,
    utcnow,
)
from auditor.report import html as _html  # noqa: F401 - registers the html format
from auditor.report import pdf as _pdf  # noqa: F401 - registers the pdf format
from auditor.report.formats import OutputFormat, get_format
from auditor.report.sign import SignOptions, sign_pdf
from auditor.report.versions import (
    MANIFEST,
    existing_versions,
    make_report_id,
    manifest_bytes,
    next_version_number,
    previous_manifest_sha256,
    read_history,
    rename_no_replace,
    safe_period_label,
)
from auditor.report.view import build_view, evidence_index

FINDINGS_JSON = "findings.json"
FINDINGS_CSV = "findings.csv"
EVIDENCE_INDEX = "evidence-index.json"
EVIDENCE_INDEX_SCHEMA = "auditor.evidence-index/v1"
_MAX_ATTEMPTS = 50


def period_label(result: AuditResult) -> str:
    if result.period is not None:
        return safe_period_label(result.period.label)
    return safe_period_label(f"snapshot-{result.generated_at:%Y-%m-%d}")


def latest_version(out_dir: Path, result: AuditResult) -> Path | None:
    """The newest existing version folder this result's report would follow (its diff base)."""
    period_dir = Path(out_dir) / period_label(result)
    versions = existing_versions(period_dir)
    return period_dir / f"v{versions[-1]}" if versions else None


def newest_versions(out_dir: Path) -> dict[str, Path]:
    """The newest version folder of every period folder under `out_dir`, by period label."""
    out: dict[str, Path] = {}
    root = Path(out_dir)
    if not root.is_dir():
        return out
    for period_dir in sorted(root.iterdir()):
        versions = existing_versions(period_dir) if period_dir.is_dir() else []
        if versions:
            out[period_dir.name] = period_dir / f"v{versions[-1]}"
    return out


def _json_document(data: bytes | Mapping[str, Any] | None, what: str) -> Mapping[str, Any] | None:
    if data is None or isinstance(data, Mapping):
        return data
    try:
        parsed = json.loads(data)
    except ValueError as exc:
        raise UserError(f"{what}: not valid JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise UserError(f"{what}: expected a findings document (a JSON object)")
    return parsed


def _snapshot_hashes(result: AuditResult, document: Mapping[str, Any]) -> dict[str, str]:
    """Manifest hashes as the findings document states them, else computed from the manifest."""
    hashes = {m.id: m.sha256 for m in result.snapshots}
    for entry in document.get("snapshots", []) or []:
        if isinstance(entry, Mapping) and entry.get("id") and entry.get("manifest_sha256"):
            hashes[str(entry["id"])] = str(entry["manifest_sha256"])
    return hashes


def _evidence_index_bytes(
    result: AuditResult, manifest: ReportManifest, hashes: Mapping[str, str]
) -> bytes:
    index = {
        "schema": EVIDENCE_INDEX_SCHEMA,
        "report_id": manifest.report_id,
        "period": manifest.period,
        "version": manifest.version,
        "generated_at": isoformat(manifest.generated_at),
        "tool_version": manifest.tool_version,
        "catalog_sha256": manifest.catalog_sha256,
        "supersedes": manifest.supersedes,
        "files": dict(manifest.files),
        "snapshots": list(evidence_index(result, hashes, detail=True)),
        "note": "manifest.json of the report version folder lists this PDF's own sha256, "
        "so it cannot be embedded; this index and the findings files are.",
    }
    return (json.dumps(index, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


# Report versions are 0640 files in 0750 folders whatever the umask: readable by the owner's
# group (the people who hand reports to the assessor), never by everyone, never writable but by
# the owner. The evidence store is stricter still (0600/0700).
FILE_MODE = 0o640
FOLDER_MODE = 0o750


def _formats(names: Sequence[str], sign: SignOptions | None) -> list[OutputFormat]:
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    chosen = [get_format(name) for name in dict.fromkeys(names)]
    if not chosen:
        raise UserError("no report format chosen; expected html, pdf or both", field="formats")
    if sign is not None and not any(f.name == "pdf" for f in chosen):
        raise UserError("signing applies to report.pdf; add the pdf format", field="sign")
    return chosen


def write_report(
    result: AuditResult,
    out_dir: Path,
    *,
    findings_json: bytes,
    findings_csv: bytes,
    formats: Sequence[str] = ("html", "pdf"),
    sign: SignOptions | None = None,
    diff: FindingsDiff | None = None,
    previous_findings: bytes | Mapping[str, Any] | None = None,
    evidence_documents: Mapping[str, Mapping[str, Any]] | None = None,
) -> Path:
    """Write `<out_dir>/<period>/v<N>/` (N the next free number) and return its path.

    `evidence_documents` maps sha256 to the stored (redacted) evidence document of FAIL and
    ERROR findings; the HTML edition embeds them so each such finding opens its evidence."""
    chosen = _formats(formats, sign)
    period = period_label(result)
    period_dir = Path(out_dir) / period
    period_dir.mkdir(parents=True, exist_ok=True)
    document = _json_document(findings_json, FINDINGS_JSON) or {}
    previous_doc = _json_document(previous_findings, "previous findings")
    hashes = _snapshot_hashes(result, document)
    snapshots = tuple(
        {"id": row["id"], "manifest_sha256": row["manifest_sha256"]}
        for row in evidence_index(result, hashes)
    )
    generated_at = utcnow()
    data_files = {FINDINGS_JSON: findings_json, FINDINGS_CSV: findings_csv}
    for _attempt in range(_MAX_ATTEMPTS):
        version = next_version_number(period_dir)
        _previous, supersedes = previous_manifest_sha256(period_dir, version)
        draft = ReportManifest(
            report_id="",
            period=period,
            version=version,
            generated_at=generated_at,
            tool_version=__version__,
            catalog_sha256=result.catalog.sha256,
            snapshots=snapshots,
            files={name: sha256_hex(data) for name, data in data_files.items()},
            supersedes=supersedes,
            signed=sign is not None,
        )
        report_id = make_report_id(period, version, draft.to_dict())
        draft = replace(draft, report_id=report_id)
        view = build_view(
            result,
            report_id=report_id,
            period_label=period,
            version=version,
            generated_at=generated_at,
            tool_version=__version__,
            supersedes=supersedes,
            signed=sign is not None,
            history=read_history(period_dir, version),
            snapshot_hashes=hashes,
            diff=diff,
            previous_findings=previous_doc,
            evidence_documents=evidence_documents,
            attachments=(
                (FINDINGS_JSON, findings_json, "Every finding (auditor.findings/v1)", "Data"),
                (FINDINGS_CSV, findings_csv, "Every finding as CSV", "Data"),
                (
                    EVIDENCE_INDEX,
                    _evidence_index_bytes(result, draft, hashes),
                    "Snapshots, manifest hashes and document counts",
                    "Supplement",
                ),
            ),
        )
        files = dict(data_files)
        for fmt in chosen:
            rendered = fmt.render(view)
            if fmt.name == "pdf" and sign is not None:
                rendered = sign_pdf(rendered, sign)
            files[fmt.filename] = rendered
        manifest = replace(draft, files={name: sha256_hex(data) for name, data in files.items()})
        if make_report_id(period, version, manifest.to_dict()) != report_id:  # pragma: no cover
            raise RunError("internal error: report ID does not match the manifest")
        target = period_dir / f"v{version}"
        staging = Path(tempfile.mkdtemp(prefix=f".v{version}-", dir=period_dir))
        try:
            for name, data in files.items():
                write_new(staging / name, data, FILE_MODE)
            write_new(staging / MANIFEST, manifest_bytes(manifest), FILE_MODE)
            fsync_dir(staging)
            staging.chmod(FOLDER_MODE)
            if rename_no_replace(staging, target):
                fsync_dir(period_dir)
                return target
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    raise RunError(
        f"{period_dir}: could not claim a free version folder after {_MAX_ATTEMPTS} tries"
    )
