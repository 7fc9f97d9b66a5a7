"""Every file a command writes is written whole, by one helper (`auditor.files.write_atomic`):
a new file renamed over the old one, never the old file rewritten in place.

The hard-link probe tells the two apart from outside: a file rewritten in place changes under
every name it has; a file replaced by rename leaves the other name holding the old bytes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from auditor import pipeline
from auditor.cli import run
from auditor.config import STARTER
from auditor.resources import data_dir

SAMPLE = data_dir() / "gcp" / "sample_export.ndjson"
OLD = b"an older copy the user keeps elsewhere\n"


def linked(target: Path, keep: Path) -> None:
    """`target` and `keep` are two names of one file holding OLD."""
    keep.write_bytes(OLD)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.link(keep, target)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = str(tmp_path_factory.mktemp("outputs") / "store")
    assert run(["--quiet", "--store", root, "collect", "gcp", "--asset-export", str(SAMPLE)]) == 0
    return root


def test_evaluate_replaces_every_output_whole(
    store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    names = ["findings.json", "findings.csv", "assessment-results.json", "findings.junit.xml"]
    for index, name in enumerate(names):
        linked(out / name, tmp_path / f"keep{index}")
    args = ["--store", store, "evaluate", "--out", str(out)]
    for fmt in ("findings", "summaries", "oscal", "junit"):
        args += ["--format", fmt]
    capsys.readouterr()
    assert run(args) == 0
    printed = capsys.readouterr().out.split()
    written = {p.name for p in out.iterdir()}
    assert set(names) <= written and any(n.startswith("summary-") for n in written)
    assert sorted(Path(p).name for p in printed) == sorted(written)  # each printed, no temporaries
    for index, name in enumerate(names):
        assert (tmp_path / f"keep{index}").read_bytes() == OLD, name
    assert json.loads((out / "findings.json").read_text())["schema"] == "auditor.findings/v1"
    assert json.loads((out / "assessment-results.json").read_text())  # OSCAL, whole


def test_matrix_and_mappings_out_are_replaced_whole(tmp_path: Path) -> None:
    matrix, mappings = tmp_path / "m.csv", tmp_path / "m.md"
    linked(matrix, tmp_path / "keep-matrix")
    linked(mappings, tmp_path / "keep-mappings")
    assert run(["--quiet", "controls", "matrix", "--out", str(matrix)]) == 0
    assert run(["--quiet", "controls", "mappings", "--out", str(mappings)]) == 0
    assert matrix.read_text().startswith("framework,")
    assert mappings.read_text().startswith("#")
    assert (tmp_path / "keep-matrix").read_bytes() == OLD
    assert (tmp_path / "keep-mappings").read_bytes() == OLD


def test_init_force_replaces_the_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "auditor.yaml"
    linked(target, tmp_path / "keep.yaml")
    assert run(["init", "-c", str(target)]) == 2  # an existing file is kept
    assert target.read_bytes() == OLD
    assert run(["init", "-c", str(target), "--force"]) == 0
    assert target.read_text() == STARTER
    assert (tmp_path / "keep.yaml").read_bytes() == OLD


def test_an_option_not_given_is_none_and_leaves_the_setting_to_the_file(tmp_path: Path) -> None:
    """The CLI hands the pipeline options as parsed (None: not given); the one precedence rule
    then decides, so the CLI never needs the settings module."""
    from auditor.config import load_config

    path = tmp_path / "auditor.yaml"
    path.write_text("store: {url: s3://bucket/evidence}\nreport: {out: ./r}\n")
    config = load_config(path)
    environ = {"AUDITOR_STORE": "/env/store"}
    plan = pipeline.plan_report(
        config, {"store.url": ("--store", None), "report.out": ("--out", None)}, environ=environ
    )
    assert plan.store_url == "/env/store"  # environment beats the file; None is not an option
    assert plan.out == tmp_path / "r"  # from the file, against the file's folder
    plan = pipeline.plan_report(config, {"store.url": ("--store", "./x")}, environ=environ)
    assert plan.store_url == str(Path("./x"))  # an option given beats the environment
