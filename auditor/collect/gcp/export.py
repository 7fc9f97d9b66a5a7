"""Offline import of a Cloud Asset export: `gcloud asset export` NDJSON or `gcloud asset list
--format=json`.

Two passes over the file. Pass 1 parses only lines that can matter early (hierarchy asset
types and IAM-policy lines, found by a byte-substring test before parsing) into the hierarchy and
the spill; pass 2 parses every line, rejects malformed ones with their line number, and emits
each RESOURCE record joined with its policy (indexing LogSinks); the hierarchy documents follow.
A JSON array is streamed element by element by ijson's push parser (yajl).

Absence is never inferred from an import: a record that cannot be read (not JSON, duplicate
keys, NaN, longer than `max_line_bytes`, nested deeper than `max_depth`) becomes a collection
error for the resource its raw text still names, or an export-level error with its line numbers,
so the controls give ERROR instead of treating the resource as absent. The file's sha256, size and
export time (its `read_time`, else the latest `update_time`) go to the manifest as provenance.
"""

from __future__ import annotations

import gc
import json
import os
import re
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

import ijson

from auditor.collect.gcp.assembler import Assembler
from auditor.collect.gcp.assets import (
    HIERARCHY_TYPES,
    IAM_POLICY,
    LOG_SINK_TYPE,
    SPECS,
    MalformedRecord,
    parse_record,
    types_with,
)
from auditor.errors import UserError
from auditor.models import EvidenceSink

MAX_REJECTS_LISTED = 100
MAX_LINE_BYTES = 16 << 20  # one export line or array element; larger is an unreadable record
MAX_DEPTH = 200  # JSON nesting of one record


def _float_or_int(text: str) -> float | int:
    value = float(text)
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object whose keys are unique: with a duplicate, which value is the evidence?"""
    value = dict(pairs)
    if len(value) != len(pairs):
        seen: set[str] = set()
        duplicate = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise ValueError(f"duplicate key {duplicate!r} in one object")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


_DECODER = json.JSONDecoder(
    parse_float=_float_or_int, object_pairs_hook=_unique_keys, parse_constant=_no_constant
)


def _loads(line: bytes | str) -> Any:
    """JSON with integral floats as ints, matching the gRPC path (Struct doubles -> ints).
    Duplicate keys and NaN/Infinity are refused, so evidence cannot be last-wins or non-JSON.
    (One decoder for every line: `json.loads` with options builds a new one per call.)"""
    text = line.decode("utf-8-sig") if isinstance(line, bytes) else line
    return _DECODER.decode(text)


class _Unreadable(MalformedRecord):
    """A record that could not be read, with the start of its raw text (to name the resource)
    and whether reading had to stop there (the rest of an array cannot be resynchronised)."""

    def __init__(self, reason: str, head: str = "", *, fatal: bool = False) -> None:
        super().__init__(reason)
        self.head = head
        self.fatal = fatal


_HEAD_CHARS = 4096
_STRING = r'"((?:[^"\\]|\\.){1,2000})"'
_NAME_RE = re.compile(r'"name"\s*:\s*' + _STRING)
_TYPE_RE = re.compile(r'"(?:asset_type|assetType)"\s*:\s*' + _STRING)


def _recover(head: str, raw: Any = None) -> tuple[tuple[str, ...], str | None]:
    """The asset names and type an unreadable record still states, if any. A record naming
    two assets (a duplicate "name" key) could be either: both are named."""
    if isinstance(raw, dict):
        name, asset_type = raw.get("name"), raw.get("asset_type", raw.get("assetType"))
        if isinstance(name, str) and isinstance(asset_type, str) and name and asset_type:
            return (name,), asset_type
    # full resource names start with "//"; a nested "name" is not the asset's
    names = tuple(dict.fromkeys(m.group(1) for m in _NAME_RE.finditer(head)))
    names = tuple(n for n in names if n.startswith("//"))[:8]
    types = {m.group(1) for m in _TYPE_RE.finditer(head)}
    if len(types) != 1:
        return names, None  # no type, or two: which one the record is cannot be told
    return names, types.pop()


def _too_deep(value: Any, limit: int) -> bool:
    """Whether a parsed value nests deeper than `limit` (iterative: no recursion limit)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if not isinstance(item, dict | list):
            continue
        children = item.values() if isinstance(item, dict) else item
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


class GcpExportCollector:
    """Offline import of `gcloud asset export` NDJSON or `gcloud asset list --format=json`."""

    provider = "gcp"

    def __init__(
        self,
        path: str | os.PathLike[str],
        salt: bytes = b"auditor",
        *,
        max_line_bytes: int = MAX_LINE_BYTES,
        max_depth: int = MAX_DEPTH,
    ) -> None:
        self.path = Path(path)
        self.salt = salt
        self.max_line_bytes = max_line_bytes
        self.max_depth = max_depth

    def scope(self) -> dict[str, Any]:
        return {"kind": "gcp-asset-export", "file": str(self.path)}

    def collect(self, sink: EvidenceSink) -> dict[str, Any]:
        if not self.path.is_file():
            raise UserError("asset export file not found", file=str(self.path))
        # Bulk load of acyclic JSON: the cyclic GC only costs time here (about 15%), so it is
        # paused for the import and restored after.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            return self._collect(sink)
        except OSError as error:
            raise UserError(f"cannot read the asset export: {error}", file=str(self.path)) from None
        finally:
            if gc_was_enabled:
                gc.enable()

    def _collect(self, sink: EvidenceSink) -> dict[str, Any]:
        array = _is_json_array(self.path)
        asm = Assembler(sink, self.salt, self.path.name, "ImportExport")
        rejects: list[dict[str, Any]] = []
        rejected = records = iam_records = 0
        resources_by_type: Counter[str] = Counter()
        ignored: Counter[str] = Counter()
        unidentified: list[int] = []  # lines that could not be read and name no resource
        export_time: str | None = None  # the export's own read_time, when records carry it
        update_time: str | None = None  # else the latest update_time of its assets
        provenance = _file_provenance(self.path)
        try:
            # pass 1: hierarchy and IAM policies (parsing errors are reported in pass 2)
            for _, raw in self._records(array, early_only=True):
                if isinstance(raw, MalformedRecord):
                    continue
                try:
                    record = parse_record(raw)
                except MalformedRecord:
                    continue
                if record.asset_type not in SPECS:
                    continue
                if record.iam_policy is not None:
                    iam_records += 1
                if record.asset_type in HIERARCHY_TYPES:
                    asm.take(record)
                elif record.iam_policy is not None:
                    asm.take(replace(record, resource=None))
            if not iam_records:
                asm.iam_failed_types.update(types_with(IAM_POLICY))
            # pass 2: every line; resources streamed out
            for line_no, raw in self._records(array, early_only=False):
                try:
                    if isinstance(raw, MalformedRecord):
                        raise raw
                    record = parse_record(raw)
                except MalformedRecord as bad:
                    rejected += 1
                    if len(rejects) < MAX_REJECTS_LISTED:
                        rejects.append({"line": line_no, "reason": str(bad)})
                    self._unreadable(asm, line_no, bad, raw, unidentified)
                    continue
                records += 1
                export_time = _later(export_time, raw.get("read_time") or raw.get("readTime"))
                update_time = _later(update_time, record.update_time)
                if record.asset_type not in SPECS:
                    ignored[record.asset_type] += 1
                    continue
                if record.asset_type in HIERARCHY_TYPES or record.resource is None:
                    continue
                resources_by_type[record.asset_type] += 1
                asm.emit(record if record.iam_policy is None else replace(record, iam_policy=None))
            # last: every LogSink has been indexed. Cloud Asset exports every project's built-in
            # _Required and _Default sinks, so a file without any LogSink record was exported
            # without that type: the sinks are unknown (ERROR), not absent (FAIL).
            if asm.hierarchy_has_projects() and not resources_by_type.get(LOG_SINK_TYPE):
                asm.resource_failed_types.add(LOG_SINK_TYPE)
            asm.emit_hierarchy()
            self._report_gaps(asm, iam_records, resources_by_type)
            if unidentified:
                listed = ", ".join(map(str, unidentified[:MAX_REJECTS_LISTED]))
                more = len(unidentified) - MAX_REJECTS_LISTED
                asm.error(
                    "MalformedExportLine",
                    f"{len(unidentified)} record(s) of {self.path.name} could not be read and "
                    f"name no resource (line{'s' if len(unidentified) > 1 else ''} {listed}"
                    f"{f' and {more} more' if more > 0 else ''}); whatever they described is "
                    "unknown, not absent",
                )
            if export_time or update_time:
                provenance["evidence_time"] = export_time or update_time
                provenance["evidence_time_source"] = "read_time" if export_time else "update_time"
            return {
                **asm.stats(),
                "provenance": provenance,
                "unidentified_lines": unidentified[:MAX_REJECTS_LISTED],
                "format": "json-array" if array else "ndjson",
                "records": records,
                "rejected_lines": rejected,
                "rejects": rejects,
                "ignored_asset_types": dict(sorted(ignored.items())),
                "pages": 0,
                "calls": 0,
            }
        finally:
            asm.spill.close()

    def _unreadable(
        self,
        asm: Assembler,
        line_no: int,
        bad: MalformedRecord,
        raw: Any,
        unidentified: list[int],
    ) -> None:
        """A record that cannot be read is not a resource that does not exist: an error for the
        resource it names (its controls give ERROR), or for the export when it names none."""
        head = bad.head if isinstance(bad, _Unreadable) else ""
        names, asset_type = _recover(head, raw)
        for name in names if asset_type else ():
            asm.error(
                "MalformedExportLine",
                f"line {line_no} of {self.path.name} could not be read ({bad}), so this "
                "resource's evidence is unknown",
                resource_type=asset_type,
                resource_id=name,
            )
        if isinstance(bad, _Unreadable) and bad.fatal:
            asm.error(
                "MalformedExportLine",
                f"reading {self.path.name} stopped at line {line_no} ({bad}); whatever the rest "
                "of the file described is unknown, not absent",
            )
        elif not (names and asset_type):
            unidentified.append(line_no)

    def _report_gaps(
        self, asm: Assembler, iam_records: int, resources_by_type: Counter[str]
    ) -> None:
        """Missing content types become collection errors, so rules give ERROR, not a verdict."""
        if not iam_records:
            present = [t for t in types_with(IAM_POLICY) if asm.documents.get(t)]
            asm.report_missing_iam(
                present,
                "ContentTypeMissing",
                "the export file has no IAM_POLICY records (export with --content-type=iam-policy too)",
            )
        for asset_type, count in sorted(asm.spill.remaining_types().items()):
            if not resources_by_type.get(asset_type):
                asm.error(
                    "ContentTypeMissing",
                    f"the export file has {count} IAM_POLICY record(s) of this type but no RESOURCE "
                    "records (export with --content-type=resource too)",
                    resource_type=asset_type,
                )

    def _records(self, array: bool, *, early_only: bool) -> Iterator[tuple[int, Any]]:
        """(line number, parsed JSON or MalformedRecord) per record of the file."""
        with self.path.open("rb") as handle:
            if array:
                yield from _array_elements(handle, self.max_line_bytes, self.max_depth)
                return
            for line_no, line, whole in _bounded_lines(handle, self.max_line_bytes):
                if early_only and not _may_matter_early(line):
                    continue
                if not whole:
                    yield (
                        line_no,
                        _Unreadable(
                            f"line longer than {self.max_line_bytes} bytes (collection.max_line_bytes)",
                            _head(line),
                        ),
                    )
                    continue
                if not line.strip():
                    continue
                try:
                    value = _loads(line)
                except RecursionError:
                    value = _Unreadable(f"nested deeper than {self.max_depth} levels", _head(line))
                except ValueError as error:
                    value = _Unreadable(f"not valid JSON: {_short(error)}", _head(line))
                else:
                    if line.count(b"{") + line.count(b"[") > self.max_depth:
                        value = self._checked(value, line)
                yield line_no, value

    def _checked(self, value: Any, line: bytes = b"") -> Any:
        """The value, or an unreadable record when it nests deeper than `max_depth`."""
        if _too_deep(value, self.max_depth):
            head = _head(line) if line else json.dumps(value)[:_HEAD_CHARS]
            return _Unreadable(
                f"nested deeper than {self.max_depth} levels (collection.max_depth)", head
            )
        return value


_EARLY_MARKERS = (
    b'"iam_policy"',
    b'"iamPolicy"',
    b'"cloudresourcemanager.googleapis.com/Project"',
    b'"cloudresourcemanager.googleapis.com/Folder"',
    b'"cloudresourcemanager.googleapis.com/Organization"',
)


def _may_matter_early(line: bytes) -> bool:
    """Cheap pre-filter for pass 1: a line can only be a hierarchy asset or carry an IAM policy
    if one of these byte strings occurs in it (gcloud never escapes plain ASCII keys)."""
    return any(marker in line for marker in _EARLY_MARKERS)


def _bounded_lines(handle: IO[bytes], limit: int) -> Iterator[tuple[int, bytes, bool]]:
    """(line number, line, whole) per line; a line over `limit` bytes is cut there (whole is
    False) and the rest of it skipped, so one huge line never has to fit in memory."""
    line_no = 0
    while True:
        line = handle.readline(limit + 1)
        if not line:
            return
        line_no += 1
        if len(line) <= limit or line.endswith(b"\n"):
            yield line_no, line, True
            continue
        while True:  # skip the rest of this line
            rest = handle.readline(1 << 20)
            if not rest or rest.endswith(b"\n"):
                break
        yield line_no, line[:_HEAD_CHARS], False


def _head(line: bytes) -> str:
    return line[:_HEAD_CHARS].decode("utf-8", "replace")


def _later(current: str | None, candidate: Any) -> str | None:
    """The later of two RFC 3339 timestamps (compared as instants), ignoring non-strings."""
    if not isinstance(candidate, str) or not candidate or candidate == current:
        return current
    if (
        current is not None
        and len(candidate) == len(current)
        and candidate[-1] == current[-1] == "Z"
    ):
        return candidate if candidate > current else current  # same UTC spelling: text order
    try:
        moment = _instant(candidate)
    except ValueError:
        return current
    if current is None or moment > _instant(current):
        return candidate
    return current


def _instant(text: str) -> Any:
    from datetime import UTC, datetime

    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _file_provenance(path: Path) -> dict[str, Any]:
    """What the imported file was: name, size and sha256, recorded beside its evidence."""
    import hashlib

    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
            size += len(block)
    return {"source": "file", "file": path.name, "sha256": digest.hexdigest(), "size": size}


def _short(error: BaseException) -> str:
    text = str(error)
    return text if len(text) < 200 else text[:200] + "..."


def _is_json_array(path: Path) -> bool:
    with path.open("rb") as handle:
        while chunk := handle.read(4096):
            stripped = chunk.lstrip()
            if stripped.startswith(b"\xef\xbb\xbf"):
                stripped = stripped[3:].lstrip()
            if stripped:
                return stripped.startswith(b"[")
    return False


_ARRAY_CHUNK = (
    1 << 20
)  # bytes read at a time; an element larger than this and the limit stops reading
_ARRAY_PIECE = 64 << 10  # bytes fed to the parser at once: the precision of element sizes


class _StrictDict(dict[str, Any]):
    """The objects ijson builds: a key set twice is noted, so the element is refused (with a
    duplicate, which value is the evidence?) without stopping the stream; an integral float
    becomes an int here, as the gRPC path gives it (lists are settled by `_settle`)."""

    __slots__ = ()

    def __setitem__(self, key: str, value: Any) -> None:
        if key in self:
            _DUPLICATES.keys.append(key)
        if type(value) is float and value.is_integer() and abs(value) < 2**53:
            value = int(value)
        dict.__setitem__(self, key, value)


_DUPLICATES = threading.local()  # per thread: collection units may import in parallel


def _settle(value: Any, limit: int) -> str | None:
    """Integral floats in lists to ints in place, or why the element is refused: nested deeper
    than `limit`. Iterative, so no recursion limit; only containers are visited."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return f"nested deeper than {limit} levels (collection.max_depth)"
        if type(item) is list:
            for index, child in enumerate(item):
                if type(child) is float and child.is_integer() and abs(child) < 2**53:
                    item[index] = int(child)
            children = item
        else:
            children = item.values()
        depth += 1
        stack.extend((c, depth) for c in children if isinstance(c, dict | list))
    return None


def _array_elements(
    handle: IO[bytes], limit: int = MAX_LINE_BYTES, max_depth: int = MAX_DEPTH
) -> Iterator[tuple[int, Any]]:
    """Elements of a top-level JSON array, streamed by ijson (yajl), each with its first line.

    The file is fed to ijson's push parser line by line (a line longer than `_ARRAY_PIECE`
    bytes in pieces), so the line an element starts on is exact for one element per line and
    for pretty-printed output; an element that starts on the line where the previous one ended
    after other text (`}, {` then more lines) is given the next line. Sizes are counted per
    line fed: exact to within one line. An element that is valid JSON but refused (duplicate
    keys, over `limit` bytes, over `max_depth`) is skipped; a syntax error (which includes NaN
    and Infinity: yajl does not read them) or an element still unfinished after max(`limit`,
    `_ARRAY_CHUNK`) bytes cannot be skipped, so it is reported once (with its line, `fatal`)
    and the rest of the file is not read."""
    done = ijson.sendable_list()
    parser = ijson.items_coro(done, "item", map_type=_StrictDict, use_float=True)
    send = parser.send
    _DUPLICATES.keys = []
    stop_at = max(limit, _ARRAY_CHUNK)
    line = 1
    start = 0  # line the current element starts on (0: not started yet)
    fed = 0  # bytes fed since the last element ended
    kept: list[bytes] = []  # the current element's first lines, to name it if it is unreadable
    for text, ends_line in _array_lines(handle):
        if text is None:
            yield line, _Unreadable("expected a JSON array", fatal=True)
            return
        if not start and text.strip(b" \t\r\n,[]"):
            start = line
        if len(kept) < 64:
            kept.append(text)
        fed += len(text)
        try:
            for at in range(0, len(text), _ARRAY_PIECE):
                send(text[at : at + _ARRAY_PIECE])
        except ijson.JSONError as error:
            reason = f"not valid JSON: {_short(error)}; the rest of the file was not read"
            yield start or line, _Unreadable(reason, _kept_head(kept), fatal=True)
            return
        if not done:
            line += ends_line
            if fed > stop_at:
                reason = (
                    f"array element longer than {limit} bytes (collection.max_line_bytes); "
                    "the rest of the file was not read"
                )
                yield start or line, _Unreadable(reason, _kept_head(kept), fatal=True)
                return
            continue
        for value in done:
            yield start or line, _element(value, fed, limit, max_depth, kept)
            start = fed = 0
        done.clear()
        kept.clear()
        if text.rstrip()[-1:] not in (b",", b"}", b"]", b"["):
            start = line  # the next element begins on this line after the one that ended
            kept.append(text)
        line += ends_line
    try:
        parser.close()
    except ijson.JSONError as error:
        reason = "unexpected end of file: the JSON array is not closed"
        if start:  # inside an element
            reason = f"not valid JSON: {_short(error)} (the file ends inside this element)"
        yield start or line, _Unreadable(reason, _kept_head(kept), fatal=True)


def _array_lines(handle: IO[bytes]) -> Iterator[tuple[bytes | None, bool]]:
    """The file's lines (with their newlines, and whether one ends there), read `_ARRAY_CHUNK`
    at a time: a line longer than that comes in parts, so no line is held whole in memory.
    (None, False) first when the file does not open a JSON array."""
    first = True
    rest = b""
    while chunk := handle.read(_ARRAY_CHUNK):
        if first:
            chunk = chunk.lstrip()
            chunk = chunk[3:].lstrip() if chunk.startswith(b"\xef\xbb\xbf") else chunk
            if not chunk.startswith(b"["):
                if chunk:
                    yield None, False
                return
            first = False
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        for text in lines:
            yield text + b"\n", True
        if len(rest) > _ARRAY_CHUNK:
            yield rest, False
            rest = b""
    if rest:
        yield rest, False


def _kept_head(kept: list[bytes]) -> str:
    return b"".join(kept)[:_HEAD_CHARS].decode("utf-8", "replace")


def _element(value: Any, size: int, limit: int, max_depth: int, kept: list[bytes]) -> Any:
    """One parsed array element, or the unreadable record it is (named from its raw first
    lines: re-encoding a refused value could itself nest too deep)."""
    duplicates = _DUPLICATES.keys
    reason = None
    if duplicates:
        reason = f"not valid JSON: duplicate key {duplicates[0]!r} in one object"
        duplicates.clear()
    elif size > limit:
        reason = f"array element longer than {limit} bytes (collection.max_line_bytes)"
    elif isinstance(value, dict | list):
        reason = _settle(value, max_depth)
    elif type(value) is float and value.is_integer() and abs(value) < 2**53:
        value = int(value)
    if reason is None:
        return value
    return _Unreadable(reason, _kept_head(kept))
