"""`auditor store list|show|prune` through the real CLI entry point."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from store_support import bucket, denied, endpoint, write

from auditor.cli import run
from auditor.evidence import open_store


@pytest.fixture
def populated(tmp_path: Path) -> tuple[Path, list[str]]:
    root = tmp_path / "store"
    store = open_store(root)
    now = datetime.now(UTC)
    ids = [
        write(store, [bucket(1), bucket(2)], taken_at=now - timedelta(days=90)).id,
        write(
            store,
            [bucket(1), bucket(2, 1), endpoint(0)],
            errors=[denied()],
            taken_at=now - timedelta(days=1),
        ).id,
    ]
    return root, ids


def test_store_list_shows_every_snapshot(
    populated: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    root, (old, new) = populated
    assert run(["--store", str(root), "store", "list"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if old in line or new in line]
    assert len(lines) == 2 and old in lines[0] and new in lines[1]
    assert "aws" in lines[1] and " 3 " in lines[1] and lines[1].rstrip(" │").endswith("1")
    for header in ("id", "provider", "taken at", "documents", "errors"):
        assert header in out


def test_store_show_prints_manifest_counts_and_errors(
    populated: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    root, (_old, new) = populated
    manifest = open_store(root).manifest(new)
    assert run(["--store", str(root), "store", "show", new]) == 0
    out = capsys.readouterr().out
    assert f"snapshot:        {new}" in out
    assert manifest.sha256 in out and (manifest.previous_sha256 or "") in out
    assert "AWS::SageMaker::Endpoint" in out and "AWS::S3::Bucket" in out
    assert "collection errors: 1 (NotImplemented x1)" in out
    assert "sagemaker:ListMonitoringSchedules" in out
    assert "documents.parquet" in out


def test_store_show_unknown_snapshot_is_a_clear_error(
    populated: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    root, _ids = populated
    assert run(["--store", str(root), "store", "show", "20990101T000000Z-aws-00000000"]) == 2
    err = capsys.readouterr().err
    assert "no snapshot '20990101T000000Z-aws-00000000'" in err and "Traceback" not in err


def test_store_prune_from_the_cli(
    populated: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    root, (old, new) = populated
    assert run(["--store", str(root), "store", "prune", "--older-than", "30"]) == 0
    out = capsys.readouterr().out
    assert f"pruned {old}" in out and "1 snapshot(s) pruned" in out
    assert [m.id for m in open_store(root).list_snapshots()] == [new]
    assert run(["--store", str(root), "store", "list"]) == 0
    assert "1 older snapshot(s) pruned" in capsys.readouterr().out
    assert run(["--store", str(root), "store", "prune", "--older-than", "30"]) == 0
    assert "nothing to prune" in capsys.readouterr().out
    assert run(["--store", str(root), "store", "prune", "--older-than", "-3"]) == 2
    assert open_store(root).verify().ok


def test_store_list_on_an_empty_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--store", str(tmp_path / "none"), "store", "list"]) == 0
    assert "no snapshots" in capsys.readouterr().out
