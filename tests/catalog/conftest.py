"""Shared fixtures for the catalog tests.

The shipped `controls/` folder is being filled by other work at the same time, so loader tests
run against an isolated copy of the parts this area owns (framework files and the manual
governance controls), pointed to by monkeypatching `auditor.resources.controls_dir`.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from catalog_support import KNOWN_TYPES, REPO

from auditor import collect, resources


@pytest.fixture
def shipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A stand-in for the shipped catalog: the real framework files and manual controls."""
    folder = tmp_path / "controls"
    shutil.copytree(REPO / "controls" / "frameworks", folder / "frameworks")
    (folder / "governance").mkdir()  # the manual controls only: automated ones name real types
    shutil.copy(REPO / "controls" / "governance" / "manual.yaml", folder / "governance")
    monkeypatch.setattr(resources, "controls_dir", lambda: folder)
    yield folder


@pytest.fixture
def known_types(monkeypatch: pytest.MonkeyPatch) -> frozenset[str]:
    """What `auditor.collect.resource_types()` reports to the CLI during a test."""
    monkeypatch.setattr(collect, "resource_types", lambda provider=None: KNOWN_TYPES)
    return KNOWN_TYPES
