"""Fuzzing GCP `--asset-export` files: NDJSON lines and JSON-array elements, random and mutated.

A valid export (the fixture) gets hypothesis-chosen damage on a few records: cut short, a
duplicate key, NaN/Infinity, nesting past `max_depth`, a string past `max_line_bytes`, bytes that
are not UTF-8, a BOM, random bytes, a line of another JSON type. Whatever the damage:

- the import never raises (an unusable file would be a UserError naming the file);
- every record it could not read is a collection error naming its line, or its resource;
- no resource of the file silently vanishes: each is a document, or an error names it (or an
  export-level error says what could not be read);
- time and memory stay bounded (a wall-clock bound, and tracemalloc's peak);
- through the real CLI, a run either commits a whole snapshot or none, and the store verifies.

Derandomized with small example counts, so CI runs the same examples every time, quickly.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.collect.gcp.export import GcpExportCollector
from auditor.errors import UserError
from auditor.evidence import open_store
from auditor.models import MemorySink

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import reliability_report  # noqa: E402  (a script, not a package)

EXPORT = ROOT / "tests" / "fixtures" / "gcp" / "assets_export.ndjson"
RECORDS = ROOT / "build" / "reliability"
LINES = EXPORT.read_text(encoding="utf-8").splitlines()
NAMES = {json.loads(line)["name"] for line in LINES}
MAX_LINE = 64 << 10  # collection.max_line_bytes for these runs
MAX_DEPTH = 64  # collection.max_depth
TIME_BOUND_S = 30.0
MEMORY_BOUND = 96 << 20  # bytes allocated at peak while importing (the file is ~40 KB)

FUZZ = settings(
    max_examples=20,
    deadline=None,  # bounded by TIME_BOUND_S below, not by a flaky per-example clock
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)


def _nest(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


MUTATIONS = (
    "truncate",
    "duplicate key",
    "duplicate nested key",
    "NaN",
    "Infinity",
    "deep nesting",
    "very deep nesting",
    "huge string",
    "bad UTF-8",
    "BOM",
    "random bytes",
    "other JSON type",
    "empty object",
)


def _mutate(line: bytes, kind: str, data: st.DataObject) -> bytes:
    if kind == "truncate":
        # (cut to nothing, a line is no record at all: a file may hold fewer records)
        return line[: data.draw(st.integers(1, max(len(line) - 1, 1)), label="cut")]
    if kind == "duplicate key":  # the same top-level key twice: which value is the evidence?
        return b'{"name": "//x/duplicate", ' + line.lstrip()[1:]
    if kind == "duplicate nested key":
        return line.replace(b'"data":{', b'"data":{"name":"shadow","name":"twice",', 1)
    if kind == "NaN":
        return re.sub(rb'"data":\{', b'"data":{"size":NaN,', line, count=1)
    if kind == "Infinity":
        return re.sub(rb'"data":\{', b'"data":{"size":-Infinity,', line, count=1)
    if kind == "deep nesting":
        return line.replace(
            b'"data":{', b'"data":{"deep":' + _nest(MAX_DEPTH + 5).encode() + b",", 1
        )
    if kind == "very deep nesting":  # past the C decoder's own recursion limit
        return line.replace(b'"data":{', b'"data":{"deep":' + _nest(5000).encode() + b",", 1)
    if kind == "huge string":
        size = data.draw(st.sampled_from([MAX_LINE, 4 * MAX_LINE, 1 << 20]), label="size")
        return line.rstrip()[:-1] + b',"blob":"' + b"A" * size + b'"}'
    if kind == "bad UTF-8":
        at = data.draw(st.integers(0, len(line)), label="at")
        return line[:at] + b"\xff\xfe\xc3" + line[at:]
    if kind == "BOM":
        return b"\xef\xbb\xbf" + line
    if kind == "random bytes":
        return data.draw(st.binary(min_size=1, max_size=200), label="bytes").replace(b"\n", b" ")
    if kind == "other JSON type":
        return data.draw(st.sampled_from([b"[]", b"null", b"42", b'"text"', b"[{}]"]), label="j")
    return b"{}"


def _damaged(data: st.DataObject) -> tuple[list[bytes], dict[int, str]]:
    """The fixture's lines with a few damaged; returns them and {line index: mutation}."""
    lines = [line.encode() for line in LINES]
    chosen = data.draw(
        st.dictionaries(
            st.integers(0, len(lines) - 1), st.sampled_from(MUTATIONS), min_size=1, max_size=4
        ),
        label="damage",
    )
    for index, kind in chosen.items():
        lines[index] = _mutate(lines[index], kind, data)
    return lines, chosen


def _import(path: Path) -> tuple[MemorySink, dict, float, int]:
    sink = MemorySink()
    tracemalloc.start()
    begun = time.monotonic()
    try:
        stats = GcpExportCollector(
            path, salt=b"s", max_line_bytes=MAX_LINE, max_depth=MAX_DEPTH
        ).collect(sink)
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return sink, stats, time.monotonic() - begun, peak


def _accounted(sink: MemorySink) -> list[str]:
    """Names of the file's resources that are neither a document nor named by any error."""
    documents = {d.resource_id for d in sink.docs}
    named = {e.resource_id for e in sink.errors}
    export_level = any(e.resource_type is None and e.resource_id is None for e in sink.errors)
    if export_level:
        return []  # an export-level error says what could not be read is unknown
    return sorted(n for n in NAMES if n not in documents and n not in named)


_records: Counter[str] = Counter()


def _record(kind: str, fields: dict[str, object]) -> None:
    RECORDS.mkdir(parents=True, exist_ok=True)
    with (RECORDS / "export-fuzz.jsonl").open("a", encoding="utf-8") as out:
        out.write(json.dumps({"kind": kind, **fields}, sort_keys=True) + "\n")
    _records[kind] += 1


@pytest.fixture(scope="module", autouse=True)
def _records_and_doc() -> Iterator[None]:
    """Fresh records for this module; when every case ran, docs/RELIABILITY.md must show them."""
    (RECORDS / "export-fuzz.jsonl").unlink(missing_ok=True)
    _records.clear()
    yield
    if _records["ndjson"] == 20 and _records["json-array"] == 20 and _records["cli"] == 8:
        assert reliability_report.section_current(reliability_report.render_export_fuzz()), (
            "docs/RELIABILITY.md is not current: run python scripts/reliability_report.py"
        )


@FUZZ
@given(data=st.data())
def test_ndjson_lines(tmp_path_factory: pytest.TempPathFactory, data: st.DataObject) -> None:
    lines, damage = _damaged(data)
    path = tmp_path_factory.mktemp("ndjson") / "export.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")
    try:
        sink, stats, seconds, peak = _import(path)
    except UserError as refused:  # an unusable file: named, exit 2
        assert path.name in str(refused)
        _record("ndjson", {"mutations": sorted(set(damage.values())), "outcome": "refused"})
        return
    assert seconds < TIME_BOUND_S and peak < MEMORY_BOUND, (seconds, peak)
    rejected = {r["line"] for r in stats["rejects"]}
    messages = " ".join(e.message for e in sink.errors)
    for line_no in rejected:  # every unreadable line is an error naming it
        assert re.search(rf"\blines? [0-9, ]*\b{line_no}\b", messages), (line_no, messages)
    assert rejected <= {i + 1 for i in damage}  # only damaged lines are refused
    assert _accounted(sink) == []
    _record(
        "ndjson",
        {
            "mutations": sorted(set(damage.values())),
            "rejected": len(rejected),
            "errors": len(sink.errors),
        },
    )


@FUZZ
@given(data=st.data())
def test_json_array_elements(tmp_path_factory: pytest.TempPathFactory, data: st.DataObject) -> None:
    lines, damage = _damaged(data)
    path = tmp_path_factory.mktemp("array") / "export.json"
    path.write_bytes(b"[\n" + b",\n".join(lines) + b"\n]\n")
    try:
        sink, stats, seconds, peak = _import(path)
    except UserError as refused:
        assert path.name in str(refused)
        _record("json-array", {"mutations": sorted(set(damage.values())), "outcome": "refused"})
        return
    assert seconds < TIME_BOUND_S and peak < MEMORY_BOUND, (seconds, peak)
    assert stats["format"] == "json-array"
    messages = " ".join(e.message for e in sink.errors)
    for reject in stats["rejects"]:
        assert f"line {reject['line']}" in messages or reject["line"] in stats["unidentified_lines"]
    assert _accounted(sink) == []
    _record(
        "json-array",
        {
            "mutations": sorted(set(damage.values())),
            "rejected": stats["rejected_lines"],
            "errors": len(sink.errors),
        },
    )


CLI = "import sys\nfrom auditor.cli import run\nsys.exit(run(sys.argv[1:]))\n"


@settings(FUZZ, max_examples=8)
@given(data=st.data())
def test_through_the_cli_a_whole_snapshot_or_none(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    """The real CLI in a child process: exit 0 (a snapshot with the errors in it), 2 (the file
    named) or 3 (nothing readable: no snapshot); never a traceback; the store always verifies."""
    folder = tmp_path_factory.mktemp("cli")
    lines, damage = _damaged(data)
    if data.draw(st.booleans(), label="all lines damaged"):
        lines = [_mutate(line, "truncate", data) for line in lines]
        damage = {**damage, -1: "truncate (every line)"}
    path = folder / "export.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")
    store = folder / "store"
    done = subprocess.run(
        [sys.executable, "-c", CLI, "--quiet", "--store", str(store), "collect", "gcp",
         "--asset-export", str(path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode in (0, 2, 3), done.stderr[-2000:]
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr.lower()
    if done.returncode == 2:
        assert path.name in done.stderr
    snapshots = open_store(store).list_snapshots() if store.exists() else []
    assert len(snapshots) == (1 if done.returncode == 0 else 0)
    if store.exists():
        assert open_store(store).verify().ok
    _record(
        "cli",
        {"mutations": sorted(set(damage.values())), "exit": done.returncode},
    )
