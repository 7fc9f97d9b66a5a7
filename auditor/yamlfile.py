"""YAML with line numbers, and pydantic validation errors that name file, line and field.

Every YAML input (auditor.yaml, control catalogs, waivers, attestations) is read through here, so
every bad input gets the same kind of message: `controls/data/aws-s3.yaml:14: field 'severity': ...`.
"""

from __future__ import annotations

import reprlib
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


def _checked(tag: str, construct: Any) -> Any:
    """A scalar constructor whose bad value (`!!int "abc"`, `2026-02-30`, `!!timestamp "x"`)
    becomes a UserError with file and line instead of a Python exception."""

    def wrapper(loader: _LineLoader, node: yaml.Node) -> Any:
        try:
            return construct(loader, node)
        except (ValueError, TypeError, AttributeError, OverflowError, IndexError):
            kind = tag.rsplit(":", 1)[-1]
            what = "date" if kind == "timestamp" else kind
            raise UserError(
                f"not a valid {what}: {short_repr(node.value)}",
                file=getattr(loader, "name", None),
                line=node.start_mark.line + 1,
            ) from None

    return wrapper


for _tag, _construct in list(yaml.SafeLoader.yaml_constructors.items()):
    if _tag is not None and _tag not in (
        yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
        yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG,
    ):
        _LineLoader.add_constructor(_tag, _checked(_tag, _construct))
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)

# A document may not expand (aliases followed) to more nodes than this: nine levels of nine
# aliases in 527 bytes expand to 387 million. The largest shipped catalog file has ~5,000.
MAX_EXPANDED_NODES = 200_000


def _expanded_size(root: yaml.Node, filename: str) -> int:
    """Nodes in the document with every alias expanded, counted without expanding (each node
    once, memoised), refusing recursive aliases and anything beyond MAX_EXPANDED_NODES."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        if done:
            on_path.discard(key)
            total = 1 + sum(sizes[id(c)] for c in children)
            sizes[key] = min(total, MAX_EXPANDED_NODES + 1)
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise UserError(
                "a YAML alias refers to itself", file=filename, line=node.start_mark.line + 1
            )
        on_path.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)
    return sizes[id(root)]


def load_text(text: str, filename: str) -> Any:
    """Parse YAML text; syntax errors become UserError with the file and line. Alias expansion
    is bounded (a 'billion laughs' file is refused before anything is built from it)."""
    loader = _LineLoader(text)
    loader.name = filename
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node, filename) > MAX_EXPANDED_NODES:
            raise UserError(
                f"YAML aliases expand this document beyond {MAX_EXPANDED_NODES:,} values; "
                "refusing to read it",
                file=filename,
                line=node.start_mark.line + 1,
            )
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise UserError(
            f"not valid YAML: {short_repr(exc.problem or exc, quote=False)}",
            file=filename,
            line=line,
        ) from None
    except RecursionError:
        raise UserError("YAML nested too deeply", file=filename) from None
    finally:
        loader.dispose()


class _Shortener(reprlib.Repr):
    """reprlib, also bounded for our own mapping and list types (it would repr them whole)."""

    def repr_LineDict(self, x: Any, level: int) -> str:
        return self.repr_dict(x, level)

    def repr_LineList(self, x: Any, level: int) -> str:
        return self.repr_list(x, level)


def short_repr(value: Any, limit: int = 80, *, quote: bool = True) -> str:
    """A value for an error message, never longer than `limit` characters and never built
    whole (a rejected value may be an alias bomb or a megabyte string)."""
    shortener = _Shortener()
    shortener.maxstring = shortener.maxother = limit
    shortener.maxlist = shortener.maxtuple = shortener.maxdict = shortener.maxset = 6
    shortener.maxlevel = 3
    text = shortener.repr(value) if quote else shortener.repr(value).strip("'\"")
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
        message += f" (got {short_repr(err['input'])})"
    return UserError(message, file=filename, line=line_of(data, loc), field=field)
