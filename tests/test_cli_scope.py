"""`auditor scope`: table, JSON and Graphviz output over a real evidence store; config errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scope_estate import store_with_estate

from auditor.cli import run

CONFIG = """\
scope:
  unclassified: out_of_scope
  hipaa:
    include:
      - tag: {key: data-class, values: [phi]}
  gdpr:
    include: [{tag: {key: data-class, values: [pii]}}]
"""


@pytest.fixture()
def setup(tmp_path: Path) -> tuple[str, Path]:
    store = store_with_estate(str(tmp_path / "store"))
    config = tmp_path / "auditor.yaml"
    config.write_text(CONFIG)
    return store, config


def test_json_lists_in_scope_resources_with_reasons_and_the_lineage(
    setup: tuple[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    store, config = setup
    assert run(["--store", store, "scope", "-c", str(config), "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["defined"] is True
    assert {s["provider"] for s in document["snapshots"]} == {"aws", "gcp"}
    hipaa = {d["name"]: d for d in document["frameworks"]["hipaa"]["in_scope"]}
    assert hipaa["claims-train"]["reason"] == (
        "in HIPAA Security Rule scope: trained on s3://claims-phi/train/ (tag data-class=phi)"
    )
    assert {
        "claims-model",
        "claims-endpoint",
        "notes-train",
        "notes-model",
        "notes-endpoint",
    } <= set(hipaa)
    out = {d["name"] for d in document["frameworks"]["hipaa"]["out_of_scope"]}
    assert {"scratch", "churn-model", "marketing"} <= out
    assert document["frameworks"]["pci-dss-4.0.1"]["defined"] is False
    assert any(e["relation"] == "reads" for e in document["edges"])


def test_table_names_frameworks_counts_reasons_and_edges(
    setup: tuple[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    store, config = setup
    assert run(["--store", store, "scope", "-c", str(config)]) == 0
    text = capsys.readouterr().out
    assert "HIPAA Security Rule:" in text and "resources in scope" in text
    assert "trained on s3://claims-phi/train/ (tag data-class=phi)" in text
    assert "out of scope: " in text
    assert "claims-phi -[reads]-> claims-train" in text


def test_dot_is_graphviz_text(setup: tuple[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    store, config = setup
    assert run(["--store", store, "scope", "-c", str(config), "--format", "dot"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("digraph lineage {") and text.rstrip().endswith("}")
    assert "claims-train" in text and '[label="reads"]' in text


def test_without_scope_everything_is_in_scope_and_it_says_so(
    setup: tuple[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    store, _ = setup
    empty = tmp_path / "empty.yaml"
    empty.write_text("version: 1\n")
    assert run(["--store", store, "scope", "-c", str(empty)]) == 0
    text = capsys.readouterr().out
    assert "No scope was defined" in text


def test_unknown_framework_key_is_exit_2_with_file_and_line(
    setup: tuple[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    store, _ = setup
    bad = tmp_path / "bad.yaml"
    bad.write_text("scope:\n  unclassified: in_scope\n  hipa:\n    include: []\n")
    assert run(["--store", store, "scope", "-c", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml:3" in err and "scope.hipa" in err
    assert "Traceback" not in err
