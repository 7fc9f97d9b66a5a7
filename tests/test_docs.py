"""The product documents itself: every file a doc, a comment or a help text names is in the repo,
nothing points outside it, and findings.json matches the published JSON Schema."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from auditor.cli import main

REPO = Path(__file__).resolve().parents[1]
DOCS = sorted(
    [
        REPO / "README.md",
        REPO / "ARCHITECTURE.md",
        *(REPO / "docs").glob("*.md"),
        *(REPO / "controls").glob("*.md"),
        *(REPO / "deploy").glob("**/*.md"),
        *(REPO / "bench").glob("*.md"),
    ]
)
SOURCES = sorted(
    [
        *(REPO / "auditor").rglob("*.py"),
        *(REPO / "templates").rglob("*.j2"),
        *(REPO / "controls").rglob("*.yaml"),
        *(p for p in (REPO / "deploy").rglob("*") if p.is_file()),
        *(REPO / "scripts").glob("*"),
        REPO / "Makefile",
        REPO / ".ci" / "run",
        REPO / "pyproject.toml",
    ]
)
OUTSIDE = re.compile(r"CONTRACTS\.md|SHAPE\.md|\.\./shared|/tmp/team")
LINK = re.compile(r"\]\(([^)\s]+)\)")
# A repo path named in prose or code: starts at a top-level folder of the repo.
REPO_PATH = re.compile(
    r"(?<![\w./-])((?:docs|controls|templates|deploy|bench|scripts|tests|auditor)/[\w./-]*[\w/])"
)


def _help_texts() -> list[str]:
    texts: list[str] = []

    def walk(command: click.Command) -> None:
        texts.append(command.help or "")
        texts.extend(getattr(p, "help", None) or "" for p in command.params)
        if isinstance(command, click.Group):
            for child in command.commands.values():
                walk(child)

    walk(main)
    return texts


@pytest.mark.parametrize("path", [*DOCS, *SOURCES], ids=lambda p: str(p.relative_to(REPO)))
def test_nothing_points_outside_the_repo(path: Path) -> None:
    text = path.read_text(encoding="utf-8", errors="replace")
    assert not OUTSIDE.search(text), f"{path} names a document outside the repo"


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves(path: Path) -> None:
    broken = []
    for target in LINK.findall(path.read_text(encoding="utf-8")):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue
        if not (path.parent / target.split("#")[0]).exists():
            broken.append(target)
    assert not broken, f"{path.name} links to missing files: {broken}"


def _named_paths(text: str) -> set[str]:
    """Repo paths a text names: a file with an extension, or a folder written with its slash."""
    return {
        path
        for path in (m.rstrip(".") for m in REPO_PATH.findall(text))
        if not re.search(r"[<>*{}$]", path) and re.search(r"(\.\w+|/)$", path)
    }


@pytest.mark.parametrize(
    "path", [*DOCS, *SOURCES, None], ids=lambda p: str(p.relative_to(REPO)) if p else "--help"
)
def test_every_named_repo_path_exists(path: Path | None) -> None:
    text = "\n".join(_help_texts()) if path is None else path.read_text("utf-8", "replace")
    missing = sorted(p for p in _named_paths(text) if not (REPO / p).exists())
    assert not missing, f"{path or 'help text'} names files that are not in the repo: {missing}"


def test_the_path_check_can_fail() -> None:
    assert _named_paths("see docs/nowhere.md, auditor/Field and controls/README.md") == {
        "docs/nowhere.md",
        "controls/README.md",
    }
