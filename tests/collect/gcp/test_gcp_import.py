"""Offline import: malformed lines, empty files, missing content types, spill, array streaming."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditor.collect.gcp import assembler, export
from auditor.collect.gcp.export import GcpExportCollector
from auditor.models import MemorySink as ListSink

FIXTURES = Path(__file__).parents[2] / "fixtures" / "gcp"
EXPORT = FIXTURES / "assets_export.ndjson"
LINES = EXPORT.read_text().splitlines()


def run(path: Path) -> tuple[ListSink, dict]:
    sink = ListSink()
    stats = GcpExportCollector(path, salt=b"s").collect(sink)
    return sink, stats


@pytest.fixture(scope="module")
def baseline() -> tuple[ListSink, dict]:
    return run(EXPORT)


def test_malformed_lines_are_reported_with_line_numbers_and_skipped(
    tmp_path: Path, baseline: tuple[ListSink, dict]
) -> None:
    lines = list(LINES)
    bucket_line = next(
        i
        for i, line in enumerate(lines)
        if '"storage.googleapis.com/Bucket"' in line and '"resource"' in line
    )
    truncated = lines[bucket_line][: len(lines[bucket_line]) // 2]
    bad = [
        truncated,
        "[1, 2, 3]",
        "42",
        json.dumps({"asset_type": "storage.googleapis.com/Bucket"}),
        json.dumps(
            {"name": "//x", "asset_type": "storage.googleapis.com/Bucket", "resource": "oops"}
        ),
    ]
    mixed = lines[:bucket_line] + bad + lines[bucket_line + 1 :] + [""]
    path = tmp_path / "bad.ndjson"
    path.write_text("\n".join(mixed) + "\n")
    sink, stats = run(path)
    assert stats["rejected_lines"] == 5
    first = bucket_line + 1
    assert [r["line"] for r in stats["rejects"]] == [
        first,
        first + 1,
        first + 2,
        first + 3,
        first + 4,
    ]
    reasons = [r["reason"] for r in stats["rejects"]]
    assert reasons[0].startswith("not valid JSON")
    assert reasons[1] == "expected a JSON object, got an array"
    assert reasons[2] == "expected a JSON object, got a number"
    assert "field 'name'" in reasons[3] and "field 'resource'" in reasons[4]
    # everything else kept: only the truncated bucket is missing
    base_ids = {d.resource_id for d in baseline[0].docs}
    got_ids = {d.resource_id for d in sink.docs}
    assert base_ids - got_ids == {json.loads(lines[bucket_line])["name"]}


def test_empty_and_blank_files(tmp_path: Path) -> None:
    for content in ("", "\n\n  \n"):
        path = tmp_path / "empty.ndjson"
        path.write_text(content)
        sink, stats = run(path)
        assert sink.docs == [] and sink.errors == []
        assert stats["assets"] == 0 and stats["rejected_lines"] == 0
    path = tmp_path / "empty.json"
    path.write_text("[]")
    sink, stats = run(path)
    assert sink.docs == [] and stats["format"] == "json-array"


def test_missing_file_is_a_user_error(tmp_path: Path) -> None:
    from auditor.errors import UserError

    with pytest.raises(UserError, match="not found"):
        run(tmp_path / "nope.ndjson")


def test_resource_only_export_marks_iam_policy_missing(tmp_path: Path) -> None:
    path = tmp_path / "resources.ndjson"
    path.write_text("\n".join(line for line in LINES if '"iam_policy"' not in line) + "\n")
    sink, _ = run(path)
    bucket = sink.by_id()["//storage.googleapis.com/ml-dev-1093-scratch"]
    assert "iamPolicy" not in bucket.data
    log_sink = next(d for d in sink.docs if d.resource_type == "logging.googleapis.com/LogSink")
    assert log_sink.data["iamPolicy"] is None  # type has no IAM policies to collect
    missing = {
        (e.resource_type, e.field) for e in sink.errors if e.error_code == "ContentTypeMissing"
    }
    assert ("storage.googleapis.com/Bucket", "iamPolicy") in missing
    project = sink.by_id()["//cloudresourcemanager.googleapis.com/projects/111111111111"]
    assert "effectiveAuditConfigs" not in project.data
    fields = {e.field for e in sink.errors if e.resource_id == project.resource_id}
    assert fields == {"effectiveAuditConfigs", "effectiveAuditLogTypes", "effectiveIamBindings"}


def test_iam_only_type_is_an_error_not_an_empty_type(tmp_path: Path) -> None:
    path = tmp_path / "iam.ndjson"
    keep = [
        line
        for line in LINES
        if not ('"storage.googleapis.com/Bucket"' in line and '"resource"' in line)
    ]
    path.write_text("\n".join(keep) + "\n")
    sink, stats = run(path)
    errors = [e for e in sink.errors if e.resource_type == "storage.googleapis.com/Bucket"]
    assert (
        len(errors) == 1
        and errors[0].error_code == "ContentTypeMissing"
        and errors[0].field is None
    )
    assert stats["iam_without_resource"] == 2


def test_missing_ancestor_in_export_gives_errors_not_partial_values(tmp_path: Path) -> None:
    path = tmp_path / "noorg.ndjson"
    path.write_text("\n".join(line for line in LINES if '/Organization"' not in line) + "\n")
    sink, _ = run(path)
    prod = sink.by_id()["//cloudresourcemanager.googleapis.com/projects/111111111111"]
    assert "effectiveAuditConfigs" not in prod.data
    err = next(e for e in sink.errors if e.resource_id == prod.resource_id)
    assert err.error_code == "AncestorPolicyMissing" and "organizations/678901234567" in err.message


def test_spill_to_disk_gives_identical_documents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, baseline: tuple[ListSink, dict]
) -> None:
    monkeypatch.setattr(assembler, "SPILL_THRESHOLD", 2)
    sink, stats = run(EXPORT)
    assert stats["spilled_policies"] > 0
    assert sorted(d.sha256 for d in sink.docs) == sorted(d.sha256 for d in baseline[0].docs)


def test_json_array_streams_across_chunk_boundaries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, baseline: tuple[ListSink, dict]
) -> None:
    monkeypatch.setattr(export, "_ARRAY_CHUNK", 97)
    sink, stats = run(FIXTURES / "assets_list.json")
    assert stats["rejected_lines"] == 0
    assert sorted(d.sha256 for d in sink.docs) == sorted(d.sha256 for d in baseline[0].docs)


def test_json_array_bad_element_and_truncation(tmp_path: Path) -> None:
    records = json.loads((FIXTURES / "assets_list.json").read_text())
    path = tmp_path / "list.json"
    text = json.dumps([records[0], 7, records[1]], indent=2)
    path.write_text(text)
    sink, stats = run(path)
    assert stats["rejected_lines"] == 1
    line_of_7 = text.splitlines().index("  7,") + 1
    assert stats["rejects"][0] == {
        "line": line_of_7,
        "reason": "expected a JSON object, got a number",
    }
    path.write_text(text[: len(text) - 40])
    sink, stats = run(path)
    assert stats["rejected_lines"] == 2  # the number, then the cut-off last element
    assert "not valid JSON" in stats["rejects"][1]["reason"]
    assert len(sink.docs) == 1  # the first element survives


def test_json_array_lines_duplicates_floats_and_nan_with_ijson(tmp_path: Path) -> None:
    """Pretty-printed like `gcloud asset list --format=json`: a refused element is named by the
    line it starts on and skipped; integral floats become ints, in objects and lists alike;
    NaN, which yajl does not read, stops the import at its element's line."""
    records = json.loads((FIXTURES / "assets_list.json").read_text())
    first = dict(
        records[0], resource=dict(records[0]["resource"], data={"n": 2.0, "l": [3.0, 0.5]})
    )
    text = json.dumps([first, {"name": "//x/dup", "name2": 1}, records[1]], indent=2)
    text = text.replace('"name2"', '"name"')
    path = tmp_path / "list.json"
    path.write_text(text)
    sink, stats = run(path)
    dup_line = text.splitlines().index('    "name": "//x/dup",')  # 1-based: the line before
    assert stats["rejects"] == [
        {"line": dup_line, "reason": "not valid JSON: duplicate key 'name' in one object"}
    ]
    doc = next(d for d in sink.docs if d.resource_id == first["name"])
    assert doc.data["n"] == 2 and type(doc.data["n"]) is int
    assert doc.data["l"] == [3, 0.5] and type(doc.data["l"][0]) is int
    path.write_text(text.replace('"name": 1', '"name": NaN'))
    sink, stats = run(path)
    assert stats["rejects"][0]["line"] == dup_line
    assert "the rest of the file was not read" in stats["rejects"][0]["reason"]
    assert [d.resource_id for d in sink.docs if d.resource_id == records[1]["name"]] == []
