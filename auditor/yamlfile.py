"""YAML with line numbers, and pydantic validation errors that name file, line and field.

Every YAML input (auditor.yaml, control catalogs, waivers, attestations) is read through here, so
every bad input gets the same kind of message: `controls/data/aws-s3.yaml:14: field 'severity': ...`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from auditor.errors import UserError

M = TypeVar("M", bound=BaseModel)


class LineDict(dict[Any, Any]):
    """A mapping that remembers the line (1-based) of itself and of each key."""

    line: int = 0
    key_lines: dict[str, int]


class LineList(list[Any]):
    line: int = 0
    item_lines: list[int]


_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ~10x faster


class _LineLoader(_BaseLoader):
    pass


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str | int | float | bool) and key is not None:
            raise UserError(
                "mapping keys must be plain values",
                file=getattr(loader, "name", None),
                line=key_node.start_mark.line + 1,
            )
        if key in result:
            raise UserError(
                f"duplicate key '{key}'",
                file=getattr(loader, "name", None),
                line=key_node.start_mark.line + 1,
            )
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[str(key)] = key_node.start_mark.line + 1
    return result


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> LineList:
    result = LineList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_text(text: str, filename: str) -> Any:
    """Parse YAML text; syntax errors become UserError with the file and line."""
    loader = _LineLoader(text)
    loader.name = filename
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise UserError(f"not valid YAML: {exc.problem or exc}", file=filename, line=line) from None
    finally:
        loader.dispose()


def load_file(path: Path | str) -> Any:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError("file not found", file=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read file: {exc}", file=str(path)) from None
    return load_text(text, str(path))


def line_of(data: Any, loc: Sequence[str | int]) -> int | None:
    """The line of the deepest node along `loc` that we know a line for."""
    line: int | None = getattr(data, "line", None) or None
    node = data
    for part in loc:
        if isinstance(node, LineDict) and isinstance(part, str) and part in node:
            line = node.key_lines.get(part, line)
            node = node[part]
        elif isinstance(node, LineList) and isinstance(part, int) and 0 <= part < len(node):
            line = node.item_lines[part]
            node = node[part]
        else:
            break
    return line


def validate(model: type[M], data: Any, filename: str, *, base_loc: Sequence[str | int] = ()) -> M:
    """Validate `data` against a pydantic model; the first error becomes a UserError naming file,
    line and the dotted field path, with what was expected."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, data, filename, base_loc=base_loc) from None


def validation_error(
    exc: ValidationError, data: Any, filename: str, *, base_loc: Sequence[str | int] = ()
) -> UserError:
    err = exc.errors()[0]
    loc = [p for p in err["loc"] if isinstance(p, str | int)]
    field = ".".join(str(p) for p in [*base_loc, *loc]) or None
    message = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        message = "unknown key (not allowed here; check the spelling)"
    elif err["type"] == "missing":
        message = "required field is missing"
        loc = loc[:-1]
    if "input" in err and err["type"] not in ("missing", "extra_forbidden"):
        shown = repr(err["input"])
        if len(shown) <= 80:
            message += f" (got {shown})"
    return UserError(message, file=filename, line=line_of(data, loc), field=field)
