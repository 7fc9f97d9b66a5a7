"""Report version folders and their manifest: `<out>/<period>/v<N>/`, never rewritten.

The manifest's bytes have one canonical form (`manifest_bytes`), so `verify` can tell a flipped
byte in manifest.json itself from a faithful copy. The report ID binds the rendered reports to
their evidence: `AUD-<period>-v<N>-<8 hex>`, the hex being the start of the sha256 of the
manifest's content other than the two rendered files (which carry the ID and so cannot be in it).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from auditor.errors import UserError
from auditor.models import ReportManifest, canonical_json, sha256_hex

MANIFEST = "manifest.json"
RENDERED_FILES = frozenset({"report.html", "report.pdf"})
_VERSION_DIR = re.compile(r"^v([1-9][0-9]*)$")
_SAFE_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def safe_period_label(label: str) -> str:
    """Period labels become folder names; refuse anything that could leave the output folder."""
    if not _SAFE_LABEL.match(label) or ".." in label:
        raise UserError(
            f"period label {label!r} cannot be a folder name; "
            "expected letters, digits, '.', '_' or '-' (e.g. 2026-Q4)"
        )
    return label


def existing_versions(period_dir: Path) -> list[int]:
    """Report versions: `v<N>` folders with a manifest.json. A stray file or an empty folder
    named v<N> is not a version (history and diffs skip it)."""
    if not period_dir.is_dir():
        return []
    found = []
    for entry in period_dir.iterdir():
        match = _VERSION_DIR.match(entry.name)
        if match and entry.is_dir() and (entry / MANIFEST).is_file():
            found.append(int(match.group(1)))
    return sorted(found)


def next_version_number(period_dir: Path) -> int:
    """The next free N: past every name `v<N>`, version or not, so nothing is ever overwritten
    and a stray file named v1 does not block every later report."""
    if not period_dir.is_dir():
        return 1
    taken = [int(m.group(1)) for e in period_dir.iterdir() if (m := _VERSION_DIR.match(e.name))]
    return max(taken, default=0) + 1


def manifest_bytes(manifest: ReportManifest) -> bytes:
    return (
        json.dumps(manifest.to_dict(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    ).encode("utf-8")


def report_id_digest(fields: Mapping[str, Any]) -> str:
    """The 8 hex digits of the report ID, from the manifest's content (see module docstring)."""
    core = {key: value for key, value in fields.items() if key not in ("report_id", "files")}
    core["files"] = {
        name: sha
        for name, sha in dict(fields.get("files", {})).items()
        if name not in RENDERED_FILES
    }
    return sha256_hex(canonical_json(core))[:8]


def make_report_id(period: str, version: int, fields: Mapping[str, Any]) -> str:
    return f"AUD-{period}-v{version}-{report_id_digest(fields)}"


def read_history(period_dir: Path, below: int) -> list[tuple[ReportManifest, str]]:
    """Earlier versions' manifests (with the sha256 of their bytes), oldest first; unreadable
    ones are skipped here and reported by `verify`."""
    history = []
    for number in existing_versions(period_dir):
        if number >= below:
            continue
        path = period_dir / f"v{number}" / MANIFEST
        try:
            raw = path.read_bytes()
            history.append((ReportManifest.from_dict(json.loads(raw)), sha256_hex(raw)))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return history


def previous_manifest_sha256(period_dir: Path, version: int) -> tuple[int | None, str | None]:
    """The highest version below `version` and the sha256 of its manifest.json bytes."""
    earlier = [n for n in existing_versions(period_dir) if n < version]
    if not earlier:
        return None, None
    previous = earlier[-1]
    try:
        return previous, sha256_hex((period_dir / f"v{previous}" / MANIFEST).read_bytes())
    except OSError:
        return previous, None


_RENAME_NOREPLACE = 1
_AT_FDCWD = -100


def _renameat2() -> Any:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    libc = ctypes.CDLL(name, use_errno=True)
    return getattr(libc, "renameat2", None)


def rename_no_replace(source: Path, target: Path) -> bool:
    """Rename a folder into place unless `target` exists; True on success.

    Linux `renameat2(RENAME_NOREPLACE)` makes the check and the rename one step; elsewhere a check
    then `os.rename`, which still refuses a non-empty target folder.
    """
    function = _renameat2()
    if function is not None:
        result = function(
            _AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target), _RENAME_NOREPLACE
        )
        if result == 0:
            return True
        err = ctypes.get_errno()
        if err in (errno.EEXIST, errno.ENOTEMPTY):
            return False
        if err not in (errno.EINVAL, errno.ENOSYS):
            raise OSError(err, os.strerror(err), str(target))
    if target.exists():
        return False
    try:
        os.rename(source, target)
    except OSError as exc:
        if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
            return False
        raise
    return True
