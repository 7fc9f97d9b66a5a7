"""`verify_report`: is this version folder exactly what `write_report` wrote?

Checks, each naming the file at fault: manifest.json in its canonical byte form and consistent with
its report ID; every listed file present with its sha256; no file present that is not listed; the
`supersedes` hash against the previous version's manifest when that folder is beside this one; and,
for a signed report, the PAdES signature (intact, covering the whole file).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from auditor.errors import UserError
from auditor.models import ReportManifest, sha256_hex
from auditor.report.sign import check_signatures
from auditor.report.versions import (
    MANIFEST,
    existing_versions,
    make_report_id,
    manifest_bytes,
)


@dataclass(frozen=True)
class VerifyOutcome:
    ok: bool
    problems: tuple[str, ...]
    notes: tuple[str, ...] = ()
    report_id: str | None = None


def _load_manifest(folder: Path, problems: list[str]) -> ReportManifest | None:
    path = folder / MANIFEST
    try:
        raw = path.read_bytes()
    except OSError as exc:
        problems.append(f"{MANIFEST}: cannot be read: {exc.strerror or exc}")
        return None
    try:
        manifest = ReportManifest.from_dict(json.loads(raw))
    except (ValueError, KeyError, TypeError) as exc:
        problems.append(f"{MANIFEST}: not a report manifest: {exc}")
        return None
    if manifest_bytes(manifest) != raw:
        problems.append(f"{MANIFEST}: bytes differ from the manifest's canonical form (edited)")
    if make_report_id(manifest.period, manifest.version, manifest.to_dict()) != manifest.report_id:
        problems.append(f"{MANIFEST}: content does not match report ID {manifest.report_id}")
    return manifest


def _check_files(folder: Path, manifest: ReportManifest, problems: list[str]) -> None:
    present = {p.name for p in folder.iterdir() if p.name != MANIFEST}
    for name, expected in sorted(manifest.files.items()):
        path = folder / name
        if name not in present or not path.is_file():
            problems.append(f"{name}: listed in {MANIFEST} but missing")
            continue
        if sha256_hex(path.read_bytes()) != expected:
            problems.append(f"{name}: sha256 does not match {MANIFEST} (file changed)")
    for name in sorted(present - set(manifest.files)):
        problems.append(f"{name}: present but not listed in {MANIFEST}")


def _check_supersedes(
    folder: Path, manifest: ReportManifest, problems: list[str], notes: list[str]
) -> None:
    earlier = [n for n in existing_versions(folder.parent) if n < manifest.version]
    if not earlier:
        if manifest.supersedes:
            notes.append(
                f"supersedes {manifest.supersedes[:12]}…; the previous version is not beside this "
                "folder, so that link was not checked"
            )
        return
    previous = folder.parent / f"v{earlier[-1]}" / MANIFEST
    try:
        actual = sha256_hex(previous.read_bytes())
    except OSError:
        problems.append(f"v{earlier[-1]}/{MANIFEST}: previous version's manifest is missing")
        return
    if manifest.supersedes != actual:
        problems.append(
            f"{MANIFEST}: supersedes {manifest.supersedes} but v{earlier[-1]}/{MANIFEST} has "
            f"sha256 {actual} (previous version changed or replaced)"
        )


def _check_signature(
    folder: Path,
    manifest: ReportManifest,
    trust_roots: tuple[bytes, ...],
    problems: list[str],
    notes: list[str],
) -> None:
    pdf_path = folder / "report.pdf"
    if not manifest.signed or not pdf_path.is_file():
        return
    check = check_signatures(pdf_path.read_bytes(), trust_roots)
    if not check.present:
        problems.append(f"report.pdf: {MANIFEST} says signed but the PDF has no signature")
        return
    problems.extend(f"report.pdf: {p}" for p in check.problems)
    if check.intact and check.covers_whole_file:
        trust = "trusted" if check.trusted else "not chained to a given trust root"
        notes.append(f"report.pdf: signature intact, signed by {check.signer} ({trust})")


def verify_report(path: Path | str, *, trust_roots: tuple[bytes, ...] = ()) -> VerifyOutcome:
    """Check one report version folder; `ok` is False on any problem, each naming its file."""
    folder = Path(path)
    problems: list[str] = []
    notes: list[str] = []
    if not folder.is_dir():
        return VerifyOutcome(False, (f"{folder}: not a report version folder",))
    manifest = _load_manifest(folder, problems)
    if manifest is None:
        return VerifyOutcome(False, tuple(problems))
    if folder.name.startswith("v") and folder.name != f"v{manifest.version}":
        notes.append(f"folder is named {folder.name} but the manifest says v{manifest.version}")
    _check_files(folder, manifest, problems)
    _check_supersedes(folder, manifest, problems, notes)
    _check_signature(folder, manifest, trust_roots, problems, notes)
    return VerifyOutcome(not problems, tuple(problems), tuple(notes), manifest.report_id)


def require_publishable(path: Path | str) -> ReportManifest:
    """The one check before any report version leaves the machine (an S3 link, Security Hub):
    it must verify, including the signature its manifest says it carries. Returns its manifest;
    raises UserError naming the folder and every problem otherwise."""
    folder = Path(path)
    outcome = verify_report(folder)
    if not outcome.ok:
        raise UserError(
            "refusing to publish a report that does not verify: " + "; ".join(outcome.problems),
            file=str(folder),
        )
    return ReportManifest.from_dict(json.loads((folder / MANIFEST).read_bytes()))
