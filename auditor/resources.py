"""Where the bundled catalog, templates and demo data live, installed or in a source tree."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _find(name: str) -> Path:
    for candidate in (_PACKAGE / "data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"bundled folder '{name}' not found next to the auditor package")


def controls_dir() -> Path:
    """The shipped control catalog (`controls/` at the top of the source tree)."""
    return _find("controls")


def templates_dir() -> Path:
    """The report templates (`templates/` at the top of the source tree)."""
    return _find("templates")


def data_dir() -> Path:
    """Bundled data files (sample GCP asset export, ...)."""
    return _PACKAGE / "data"
