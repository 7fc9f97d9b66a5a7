"""The meta-test's own checks must be able to fail: run them on the example catalog with good,
swapped, missing, out-of-scope and orphaned fixtures."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path
from types import ModuleType

import pytest
from catalog_support import EXAMPLES, REPO

from auditor.catalog import load_catalog
from auditor.models import Catalog

GOOD_FIXTURES = EXAMPLES / "fixtures"


@pytest.fixture(scope="module")
def meta() -> ModuleType:
    path = REPO / "tests" / "test_control_fixtures.py"
    spec = importlib.util.spec_from_file_location("control_fixtures_meta_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def catalog(shipped: Path) -> Catalog:
    return load_catalog([EXAMPLES / "basic"])


@pytest.fixture
def fixtures(tmp_path: Path) -> Path:
    root = tmp_path / "fixtures"
    shutil.copytree(GOOD_FIXTURES, root)
    return root


def _problems(
    meta: ModuleType, catalog: Catalog, root: Path, control_id: str, verdict: str
) -> list[str]:
    control = catalog.control(control_id)
    assert control is not None
    problems: list[str] = meta.fixture_problems(control, verdict, root)
    return problems


def test_good_fixtures_have_no_problems(meta: ModuleType, catalog: Catalog) -> None:
    automated = [c for c in catalog.controls if not c.manual]
    assert {c.id for c in automated} == {p.name for p in GOOD_FIXTURES.iterdir()}
    for control in automated:
        for verdict in ("pass", "fail"):
            assert meta.fixture_problems(control, verdict, GOOD_FIXTURES) == []
    assert meta.orphan_fixture_folders(catalog.controls, GOOD_FIXTURES) == []


def test_swapped_fixtures_are_caught(meta: ModuleType, catalog: Catalog, fixtures: Path) -> None:
    folder = fixtures / "ML-MON-901"
    (folder / "pass.json").rename(folder / "tmp.json")
    (folder / "fail.json").rename(folder / "pass.json")
    (folder / "tmp.json").rename(folder / "fail.json")
    for verdict in ("pass", "fail"):
        problems = _problems(meta, catalog, fixtures, "ML-MON-901", verdict)
        assert len(problems) == 1 and f"should {verdict.upper()}" in problems[0]


def test_missing_fixture_is_caught(meta: ModuleType, catalog: Catalog, fixtures: Path) -> None:
    (fixtures / "ML-DATA-901" / "fail.json").unlink()
    problems = _problems(meta, catalog, fixtures, "ML-DATA-901", "fail")
    assert len(problems) == 1 and "has no fixture" in problems[0]


def test_wrong_type_and_out_of_scope_are_caught(
    meta: ModuleType, catalog: Catalog, fixtures: Path
) -> None:
    path = fixtures / "ML-TRAIN-951" / "pass.json"
    document = json.loads(path.read_text())
    document["resource_type"] = "AWS::S3::Bucket"
    document["data"]["state"] = "JOB_STATE_CANCELLED"  # applies_if becomes falsy
    path.write_text(json.dumps(document))
    problems = _problems(meta, catalog, fixtures, "ML-TRAIN-951", "pass")
    assert any("is not one of ['aiplatform.googleapis.com/CustomJob']" in p for p in problems)
    assert any("applies_if is falsy" in p for p in problems)


def test_malformed_fixture_documents_are_caught(
    meta: ModuleType, catalog: Catalog, fixtures: Path
) -> None:
    path = fixtures / "ML-DATA-901" / "pass.json"
    path.write_text('{"data": {}}')
    assert "exactly the keys" in _problems(meta, catalog, fixtures, "ML-DATA-901", "pass")[0]
    path.write_text("{not json")
    assert "not JSON" in _problems(meta, catalog, fixtures, "ML-DATA-901", "pass")[0]


def test_orphan_fixture_folder_is_caught(
    meta: ModuleType, catalog: Catalog, fixtures: Path
) -> None:
    (fixtures / "ML-DATA-999").mkdir()
    (fixtures / "ML-GOV-001").mkdir()  # manual controls have no fixtures
    assert meta.orphan_fixture_folders(catalog.controls, fixtures) == ["ML-DATA-999", "ML-GOV-001"]
