"""Absence is never inferred: empty or unreadable imports, unreadable records, completeness
against the previous snapshot, provenance of imports, and operator mistakes found up front."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from auditor import evidence, pipeline
from auditor.cli import run
from auditor.collect.gcp.export import GcpExportCollector
from auditor.errors import RunError
from auditor.evaluate import audit, parse_period
from auditor.models import CompletenessWarning, MemorySink, SnapshotManifest

FIXTURES = Path(__file__).parents[2] / "fixtures" / "gcp"
EXPORT = FIXTURES / "assets_export.ndjson"
LINES = EXPORT.read_text().splitlines()
BUCKET = "storage.googleapis.com/Bucket"


def _tree(folder: Path) -> dict[str, bytes]:
    """Every file of a store folder with its bytes, to prove a run left it unchanged."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _bucket_line() -> int:
    return next(i for i, line in enumerate(LINES) if f'"{BUCKET}"' in line and '"resource"' in line)


@pytest.fixture()
def store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A store that already holds one good snapshot."""
    folder = tmp_path / "store"
    assert run(["--store", str(folder), "collect", "gcp", "--asset-export", str(EXPORT)]) == 0
    capsys.readouterr()
    return folder


@pytest.mark.parametrize(
    "content",
    [
        "",
        "\n \n\n",
        "[]",
        "  [ ]\n",
        "garbage\n{not json}\n[1, 2]\n",
        '{"a": 1, "a": 2}\n{"x": NaN}\n',
        '{"name": "//x"}\n',  # one record, of no audited type and no asset type
    ],
    ids=["empty", "blank", "array", "array-spaces", "malformed", "refused", "no-asset"],
)
def test_an_empty_or_unreadable_import_leaves_the_store_unchanged(
    tmp_path: Path, store: Path, capsys: pytest.CaptureFixture[str], content: str
) -> None:
    export = tmp_path / "export.ndjson"
    export.write_text(content)
    before = _tree(store)
    code = run(["--store", str(store), "collect", "gcp", "--asset-export", str(export)])
    err = capsys.readouterr().err
    assert code == 3
    assert "no snapshot was written" in err and "export.ndjson" in err
    assert "internal error" not in err
    assert _tree(store) == before


def test_every_line_malformed_names_the_lines(
    tmp_path: Path, store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = tmp_path / "bad.ndjson"
    export.write_text("garbage\n\nmore garbage\n")
    assert run(["--store", str(store), "collect", "gcp", "--asset-export", str(export)]) == 3
    err = capsys.readouterr().err
    assert "2 unreadable (lines 1, 3" in err


def test_an_unreadable_record_makes_its_resource_error_not_absent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index = _bucket_line()
    name = json.loads(LINES[index])["name"]
    lines = list(LINES)
    lines[index] = LINES[index][: len(LINES[index]) // 2]  # cut mid-record: not JSON
    lines.append("this line names nothing")
    export = tmp_path / "partial.ndjson"
    export.write_text("\n".join(lines) + "\n")
    folder = tmp_path / "store"
    assert run(["--store", str(folder), "collect", "gcp", "--asset-export", str(export)]) == 0
    err = capsys.readouterr().err
    assert "INCOMPLETE" in err
    assert f"line {index + 1}:" in err and f"line {len(lines)}:" in err

    manifest = evidence.open_store(str(folder)).list_snapshots()[-1]
    assert manifest.incomplete
    named = [e for e in manifest.errors if e.resource_id == name]
    assert len(named) == 1
    assert named[0].error_code == "MalformedExportLine" and named[0].resource_type == BUCKET
    assert f"line {index + 1} of partial.ndjson" in named[0].message
    whole = [
        e for e in manifest.errors if e.error_code == "MalformedExportLine" and not e.resource_id
    ]
    assert len(whole) == 1 and f"line {len(lines)}" in whole[0].message

    out = tmp_path / "out"
    assert run(["--store", str(folder), "evaluate", "--snapshot", "latest", "--out", str(out)]) == 0
    document = json.loads((out / "findings.json").read_text())
    (entry,) = document["snapshots"]
    assert entry["incomplete"] is True and entry["evidence_time"] == "2026-11-02T08:15:31Z"
    findings = document["findings"]
    mine = [f for f in findings if f["resource_id"] == name]
    assert mine and {f["status"] for f in mine} == {"ERROR"}
    assert all("could not be read" in f["reason"] for f in mine)
    # the record that names nothing leaves every GCP control inconclusive somewhere
    export_level = [f for f in findings if "name no resource" in f["reason"]]
    assert export_level and {f["status"] for f in export_level} == {"ERROR"}


def _collect(path: Path, **limits: int) -> tuple[MemorySink, dict]:
    sink = MemorySink()
    return sink, GcpExportCollector(path, salt=b"s", **limits).collect(sink)


def test_oversized_and_too_deep_lines_are_errors_and_reading_goes_on(tmp_path: Path) -> None:
    index = _bucket_line()
    record = json.loads(LINES[index])
    huge = dict(record, resource=dict(record["resource"], padding="x" * 50_000))
    deep: object = {"leaf": 1}
    for _ in range(50):
        deep = {"d": deep}
    nested = dict(record, name=record["name"] + "-deep", resource=dict(record["resource"], x=deep))
    abyss = '{"name": "//x/abyss", "asset_type": "' + BUCKET + '", "a": ' + "[" * 100_000
    lines = [*LINES, json.dumps(huge), json.dumps(nested), abyss]
    path = tmp_path / "limits.ndjson"
    path.write_text("\n".join(lines) + "\n")

    sink, stats = _collect(path, max_line_bytes=20_000, max_depth=30)
    reasons = {r["line"]: r["reason"] for r in stats["rejects"]}
    assert "longer than 20000 bytes" in reasons[len(LINES) + 1]
    assert "nested deeper than 30" in reasons[len(LINES) + 2]
    assert len(LINES) + 3 in reasons  # far past Python's recursion limit: still just a record
    errors = {e.resource_id: e for e in sink.errors if e.error_code == "MalformedExportLine"}
    assert set(errors) == {record["name"], record["name"] + "-deep", "//x/abyss"}
    # the earlier copy of the bucket was read; nothing else was lost
    assert len([d for d in sink.docs if d.resource_id == record["name"]]) == 1
    assert stats["records"] == len(LINES)


def test_duplicate_keys_and_nan_are_refused_in_lines_and_arrays(tmp_path: Path) -> None:
    index = _bucket_line()
    record = json.loads(LINES[index])
    raw = LINES[index]
    duplicated = raw[:-1] + ', "name": "//storage.googleapis.com/other"}'
    not_a_number = raw.replace('"resource":{', '"resource":{"size": NaN,', 1)
    assert not_a_number != raw
    lines = [line for i, line in enumerate(LINES) if i != index]
    path = tmp_path / "dup.ndjson"
    path.write_text("\n".join([*lines, duplicated, not_a_number]) + "\n")
    sink, stats = _collect(path)
    reasons = [r["reason"] for r in stats["rejects"]]
    assert any("duplicate key 'name'" in r for r in reasons)
    assert any("NaN" in r for r in reasons)
    assert record["name"] not in {d.resource_id for d in sink.docs}
    assert {e.resource_id for e in sink.errors if e.error_code == "MalformedExportLine"} == {
        record["name"]
    }
    # the same records inside a JSON array: refused one by one, the rest still read
    array = tmp_path / "dup.json"
    array.write_text("[\n" + ",\n".join([*lines, duplicated, not_a_number]) + "\n]\n")
    sink2, stats2 = _collect(array)
    assert stats2["rejected_lines"] == 2 and stats2["records"] == len(lines)
    assert {d.resource_id for d in sink2.docs} == {d.resource_id for d in sink.docs}


def test_oversized_array_elements_are_errors(tmp_path: Path) -> None:
    records = [json.loads(line) for line in LINES]
    index = _bucket_line()
    big = dict(records[index], padding="x" * 40_000)
    path = tmp_path / "big.json"
    path.write_text(
        "[\n"
        + ",\n".join(json.dumps(r) for r in [*records[:index], big, *records[index + 1 :]])
        + "\n]\n"
    )
    sink, stats = _collect(path, max_line_bytes=10_000)
    assert stats["records"] == len(records) - 1 and stats["rejected_lines"] == 1
    assert "longer than 10000 bytes" in stats["rejects"][0]["reason"]
    (error,) = [e for e in sink.errors if e.error_code == "MalformedExportLine"]
    assert error.resource_id == big["name"] and error.resource_type == BUCKET
    # larger than what is buffered: cannot be skipped safely, so reading stops and says where
    huge = dict(records[3], padding="x" * (3 << 20))
    path.write_text(
        "[\n" + ",\n".join(json.dumps(r) for r in [*records[:3], huge, *records[4:]]) + "\n]\n"
    )
    sink, stats = _collect(path, max_line_bytes=10_000)
    assert stats["records"] == 3 and stats["rejected_lines"] == 1
    assert "the rest of the file was not read" in stats["rejects"][0]["reason"]
    whole = [e for e in sink.errors if e.error_code == "MalformedExportLine" and not e.resource_id]
    assert len(whole) == 1 and "stopped at line 5" in whole[0].message


def test_provenance_of_an_import(tmp_path: Path, store: Path) -> None:
    manifest = evidence.open_store(str(store)).list_snapshots()[-1]
    data = EXPORT.read_bytes()
    assert manifest.provenance["sha256"] == hashlib.sha256(data).hexdigest()
    assert manifest.provenance["size"] == len(data)
    assert manifest.provenance["evidence_time_source"] == "update_time"
    assert manifest.evidence_time == datetime(2026, 11, 2, 8, 15, 31, 482913, tzinfo=UTC)
    assert not manifest.incomplete and manifest.warnings == ()
    # an export that states its own read time: that wins over update times
    stamped = tmp_path / "stamped.ndjson"
    records = [json.loads(line) for line in LINES]
    records[0]["read_time"] = "2026-11-20T10:00:00Z"
    stamped.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    _, stats = _collect(stamped)
    assert stats["provenance"]["evidence_time"] == "2026-11-20T10:00:00Z"
    assert stats["provenance"]["evidence_time_source"] == "read_time"


def test_evidence_older_than_the_period_is_flagged(store: Path) -> None:
    snapshot = evidence.open_store(str(store)).load_snapshot("latest")
    catalog = pipeline.load_catalog()
    # the store's snapshot was taken now; the export it holds was read on 2026-11-02
    taken = snapshot.manifest.finished_at
    later = parse_period(start=date(2026, 12, 1).isoformat(), end=date(2100, 1, 1).isoformat())
    if not later.contains(taken):
        pytest.skip("the machine's clock is before 2026-12-01")
    result = audit(catalog, [snapshot], period=later, frameworks=None, on=taken.date(), metadata={})
    assert "before period" in result.stale_snapshots[snapshot.manifest.id]
    folder = pipeline.write_report(result, store.parent / "reports", formats=("html",))
    html = (folder / "report.html").read_text()
    assert "STALE: evidence read at 2026-11-02T08:15:31Z, before period" in html
    assert "<th>Evidence time</th>" in html
    findings = json.loads((folder / "findings.json").read_text())
    assert "before period" in findings["snapshots"][0]["stale_evidence"]
    earlier = parse_period(start="2026-10-01", end="2100-01-01")
    result = audit(
        catalog, [snapshot], period=earlier, frameworks=None, on=taken.date(), metadata={}
    )
    assert result.stale_snapshots == {}
    from auditor.report.view import evidence_index

    row = evidence_index(result, {})[0]
    assert row["evidence_time"] == "2026-11-02T08:15:31Z" and row["stale"] == ""


def test_evidence_gone_since_the_previous_snapshot_is_error_not_deleted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "store"
    export = tmp_path / "weekly.ndjson"
    export.write_text(EXPORT.read_text())
    assert run(["--store", str(folder), "collect", "gcp", "--asset-export", str(export)]) == 0
    export.write_text("\n".join(line for line in LINES if f'"{BUCKET}"' not in line) + "\n")
    assert run(["--store", str(folder), "collect", "gcp", "--asset-export", str(export)]) == 0
    err = capsys.readouterr().err
    assert "INCOMPLETE" in err and "warning: evidence missing compared with the previous" in err

    assert run(["--store", str(folder), "store", "show", "latest"]) == 0
    shown = capsys.readouterr().out
    assert "INCOMPLETE:" in shown and "warning:         evidence missing" in shown
    assert "provenance:" in shown and "sha256=" in shown
    store = evidence.open_store(str(folder))
    first, second = store.list_snapshots()
    assert second.incomplete and second.warnings
    assert {w.previous_snapshot for w in second.warnings} == {first.id}
    assert all(w.count == 0 for w in second.warnings)
    gone = {w.resource_type for w in second.warnings}
    assert BUCKET in gone or None in gone
    out = tmp_path / "out"
    assert run(["--store", str(folder), "evaluate", "--snapshot", "latest", "--out", str(out)]) == 0
    document = json.loads((out / "findings.json").read_text())
    bucket_findings = [
        f for f in document["findings"] if f["resource_type"] == BUCKET and f["provider"] == "gcp"
    ]
    assert bucket_findings and {f["status"] for f in bucket_findings} == {"ERROR"}
    assert all(
        "evidence missing compared with the previous snapshot" in f["reason"]
        for f in bucket_findings
    )
    # the report's collection-errors section lists them
    result = audit(
        pipeline.load_catalog(),
        [store.load_snapshot(second.id)],
        period=None,
        frameworks=None,
        on=second.finished_at.date(),
    )
    assert any(e.error_code == "EvidenceMissing" for e in result.collection_errors)


def test_completeness_threshold_keeps_real_deletions() -> None:
    key = (BUCKET, "ml-prod", "us")
    other = ("storage.googleapis.com/Other", "ml-prod", "us")
    before = {key: 10, other: 2}
    # 4 of 10 gone: below the default threshold, taken as deleted
    assert (
        pipeline.completeness_warnings("gcp", before, {key: 6, other: 2}, [], previous_snapshot="p")
        == ()
    )
    # 6 of 10 gone: more than half, a warning for that type only
    (warning,) = pipeline.completeness_warnings(
        "gcp", before, {key: 4, other: 2}, [], previous_snapshot="p"
    )
    assert (warning.resource_type, warning.previous_count, warning.count) == (BUCKET, 10, 4)
    # configurable
    assert (
        pipeline.completeness_warnings(
            "gcp", before, {key: 4, other: 2}, [], previous_snapshot="p", threshold=0.7
        )
        == ()
    )
    # the whole account gone: one warning for everything there
    (everything,) = pipeline.completeness_warnings(
        "gcp", before, {("t", "x", "y"): 1}, [], previous_snapshot="p"
    )
    assert everything.resource_type is None and everything.previous_count == 12
    # an error there explains the gap: no warning
    from auditor.models import CollectionError

    denied = CollectionError("gcp", "ml-prod", "us", "s", "op", "PERMISSION_DENIED", "m", BUCKET)
    assert (
        pipeline.completeness_warnings(
            "gcp", before, {key: 0, other: 2}, [denied], previous_snapshot="p"
        )
        == ()
    )


def test_manifest_fields_round_trip_and_old_manifests_hash_unchanged(store: Path) -> None:
    manifest = evidence.open_store(str(store)).list_snapshots()[-1]
    old = manifest.to_dict()
    for key in ("provenance", "warnings", "incomplete"):
        old.pop(key, None)
    legacy = SnapshotManifest.from_dict(old)
    assert legacy.to_dict() == old  # nothing added to an old manifest, so its sha256 holds
    assert legacy.provenance == {} and legacy.warnings == () and legacy.incomplete is False
    warning = CompletenessWarning("gcp", "p", "us", BUCKET, 4, 0, "S1")
    full = SnapshotManifest.from_dict(
        {**old, "provenance": {"sha256": "ab"}, "warnings": [warning.to_dict()], "incomplete": True}
    )
    again = SnapshotManifest.from_dict(json.loads(json.dumps(full.to_dict())))
    assert again == full and again.warnings == (warning,) and again.sha256 == full.sha256


def test_a_live_scope_that_lists_nothing_is_exit_3(
    tmp_path: Path, asset_endpoint: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    folder = tmp_path / "store"
    monkeypatch.setenv("AUDITOR_GCP_ASSET_ENDPOINT", asset_endpoint)
    code = run(["--store", str(folder), "collect", "gcp", "--scope", "projects/acme-empty"])
    assert code == 3
    assert "listed nothing at all" in capsys.readouterr().err
    assert not list((folder / "manifests").glob("*")) if (folder / "manifests").exists() else True
    store = evidence.open_store(str(folder))
    collector = pipeline.gcp_collector(store, scope="projects/acme-empty", endpoint=asset_endpoint)
    with pytest.raises(RunError, match="no snapshot was written"):
        pipeline.take_snapshot(store, collector, "c" * 64)
    assert store.list_snapshots() == []


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "auditor.yaml"
    path.write_text(text)
    return path


def test_missing_export_file_is_exit_2_before_anything_is_collected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(
        tmp_path,
        "store: {url: store}\naws: {enabled: false}\ngcp:\n  enabled: true\n"
        "  asset_export: exports/missing.ndjson\n",
    )
    assert run(["snapshot", "-c", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"{config}:5" in err and "gcp.asset_export" in err and "missing.ndjson" in err
    assert not (tmp_path / "store").exists()


def test_live_gcp_scope_without_credentials_is_exit_2_up_front(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AUDITOR_GCP_ASSET_ENDPOINT", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "no-such-key.json"))
    config = _config(
        tmp_path,
        "store: {url: store}\naws: {enabled: false}\n"
        "gcp:\n  enabled: true\n  scopes: [projects/acme-ml]\n",
    )
    for command in (["snapshot", "-c", str(config)], ["run", "-c", str(config)]):
        assert run(command) == 2
        err = capsys.readouterr().err
        assert "no GCP credentials" in err and "gcp.scopes" in err and f"{config}:5" in err
        assert "internal error" not in err
    assert not (tmp_path / "store").exists()
    assert run(["collect", "gcp", "--scope", "projects/acme-ml"]) == 2
    assert "no GCP credentials" in capsys.readouterr().err


def test_collection_limits_are_configurable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index = _bucket_line()
    record = json.loads(LINES[index])
    big = dict(record, resource=dict(record["resource"], padding="x" * 5000))
    export = tmp_path / "export.ndjson"
    export.write_text("\n".join([*LINES[:index], json.dumps(big), *LINES[index + 1 :]]) + "\n")
    config = _config(
        tmp_path,
        "store: {url: store}\naws: {enabled: false}\n"
        f"gcp: {{enabled: true, asset_export: {export.name}}}\n"
        "collection: {max_line_bytes: 4096, max_depth: 50, completeness_threshold: 0.25}\n",
    )
    assert run(["snapshot", "-c", str(config)]) == 0
    err = capsys.readouterr().err
    assert f"line {index + 1}: line longer than 4096 bytes" in err
    bad = _config(tmp_path, "collection: {completeness_threshold: 2}\n")
    assert run(["snapshot", "-c", str(bad)]) == 2
    assert "collection.completeness_threshold" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["snapshot", "run"])
def test_snapshot_and_run_refuse_an_empty_export(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    export = tmp_path / "export.ndjson"
    export.write_text(EXPORT.read_text())
    config = _config(
        tmp_path,
        f"store: {{url: store}}\naws: {{enabled: false}}\n"
        f"gcp: {{enabled: true, asset_export: {export.name}}}\n"
        f"report: {{out: reports, period: '2026-Q4', formats: [html]}}\n",
    )
    assert run(["snapshot", "-c", str(config)]) == 0
    before = _tree(tmp_path / "store")
    export.write_text("[]\n")
    capsys.readouterr()
    assert run([command, "-c", str(config)]) == 3
    assert "no snapshot was written" in capsys.readouterr().err
    assert _tree(tmp_path / "store") == before
    assert not list((tmp_path / "reports").rglob("findings.json"))  # no report either
