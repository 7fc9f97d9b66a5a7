"""YAML catalog folders -> one validated `Catalog`.

Folders are layered: the shipped `controls/` first, then each `--controls DIR` in order. A
control or framework with the same ID in a later folder replaces the earlier one (that is how an
organisation tightens a shipped control); the same ID twice in one folder is a mistake and is
refused, naming both places. Every check runs at load time, so a catalog that loads is a catalog
the evaluator can run without surprises: rules compile, placeholders compile, parameters exist
and respect the framework's limits, and every mapping names a real requirement.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor import resources
from auditor.catalog.schema import (
    STAGE_OF_ID_PART,
    ControlFile,
    ControlModel,
    FrameworkFile,
    MappingModel,
    ParamModel,
)
from auditor.errors import UserError
from auditor.models import (
    Catalog,
    Control,
    ControlParam,
    Framework,
    Requirement,
    canonical_json,
    sha256_hex,
)
from auditor.rules import (
    RuleError,
    check_placeholders,
    compile_rule,
    substitute_params,
    substitute_params_text,
)
from auditor.yamlfile import line_of, load_text, validate

FRAMEWORKS_FOLDER = "frameworks"
_PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PARAM_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class _SourceFile:
    """One YAML file of one catalog folder."""

    path: Path
    display: str  # how messages and Control.source name it
    relative: str  # posix path inside its folder; what the catalog hash covers
    layer: int  # 0 = shipped, 1.. = --controls folders in order
    content: bytes


@dataclass(frozen=True)
class _Where:
    """Where a control came from, to point messages at the exact line."""

    file: _SourceFile
    raw_file: Any  # the parsed file (LineDict), which knows its lines
    index: int  # position in the file's `controls:` list
    control_id: str

    def loc(self, *parts: str | int) -> list[str | int]:
        return ["controls", self.index, *parts]

    def line(self, *parts: str | int) -> int | None:
        return line_of(self.raw_file, self.loc(*parts))

    def error(self, message: str, *parts: str | int) -> UserError:
        field = ".".join(str(p) for p in self.loc(*parts))
        return UserError(
            f"{message} (control {self.control_id})",
            file=self.file.display,
            line=self.line(*parts),
            field=field,
        )

    @property
    def source(self) -> str:
        return f"{self.file.display}:{self.line() or 1}"


@dataclass(frozen=True)
class _LoadedControl:
    model: ControlModel
    where: _Where


@dataclass(frozen=True)
class _LoadedFramework:
    framework: Framework
    file: _SourceFile


def load_catalog(
    extra_dirs: Sequence[Path] = (),
    *,
    params: Mapping[str, Any] | None = None,
    known_resource_types: frozenset[str] | None = None,
) -> Catalog:
    """Load the shipped catalog plus `extra_dirs` (later wins on the same ID) and validate it.

    `params` are organisation values by parameter name, applied to every control declaring that
    parameter. `known_resource_types`, when given, refuses controls naming a type no collector
    produces. Raises `UserError` (exit 2) naming file, line and field.
    """
    shipped = resources.controls_dir()
    folders: list[tuple[Path, str]] = [(shipped, shipped.name)]
    folders += [(Path(d), str(d)) for d in extra_dirs]

    files: list[_SourceFile] = []
    frameworks: dict[str, _LoadedFramework] = {}
    controls: dict[str, _LoadedControl] = {}
    for layer, (folder, display_root) in enumerate(folders):
        layer_files = _read_folder(folder, display_root, layer)
        files += layer_files
        layer_frameworks: dict[str, _LoadedFramework] = {}
        layer_controls: dict[str, _LoadedControl] = {}
        for source in layer_files:
            if _is_framework_file(source):
                loaded = _load_framework_file(source)
                earlier = layer_frameworks.get(loaded.framework.id)
                if earlier is not None:
                    raise UserError(
                        f"framework '{loaded.framework.id}' is defined twice; "
                        f"also in {earlier.file.display}",
                        file=source.display,
                        line=1,
                        field="framework",
                    )
                layer_frameworks[loaded.framework.id] = loaded
            else:
                for control in _load_control_file(source):
                    twin = layer_controls.get(control.model.id)
                    if twin is not None:
                        raise control.where.error(
                            f"duplicate control ID '{control.model.id}': "
                            f"already defined at {twin.where.source}",
                            "id",
                        )
                    layer_controls[control.model.id] = control
        frameworks.update(layer_frameworks)
        controls.update(layer_controls)

    framework_map = {fid: loaded.framework for fid, loaded in sorted(frameworks.items())}
    overrides = dict(params or {})
    _check_overrides_are_declared(overrides, controls.values())
    built = tuple(
        _build_control(loaded, framework_map, overrides, known_resource_types)
        for _, loaded in sorted(controls.items())
    )
    return Catalog(
        frameworks=framework_map,
        controls=built,
        sha256=_catalog_sha256(files, built),
    )


# ---------------------------------------------------------------- reading


def _read_folder(folder: Path, display_root: str, layer: int) -> list[_SourceFile]:
    if not folder.is_dir():
        raise UserError("controls folder not found (expected a directory)", file=str(folder))
    paths = sorted(
        p
        for p in folder.rglob("*")
        if p.suffix in (".yaml", ".yml")
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    found = []
    for path in paths:
        relative = path.relative_to(folder).as_posix()
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise UserError(f"cannot read file: {exc}", file=str(path)) from None
        found.append(
            _SourceFile(
                path=path,
                display=f"{display_root.rstrip('/')}/{relative}",
                relative=relative,
                layer=layer,
                content=content,
            )
        )
    return found


def _is_framework_file(source: _SourceFile) -> bool:
    return source.relative.split("/")[0] == FRAMEWORKS_FOLDER


def _parse(source: _SourceFile) -> Any:
    try:
        text = source.content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"not UTF-8 text: {exc}", file=source.display) from None
    data = load_text(text, source.display)
    if data is None:
        raise UserError("file is empty (expected a mapping)", file=source.display, line=1)
    return data


def _load_framework_file(source: _SourceFile) -> _LoadedFramework:
    raw = _parse(source)
    model = validate(FrameworkFile, raw, source.display)
    seen: dict[str, int] = {}
    requirements = []
    for index, req in enumerate(model.requirements):
        line = line_of(raw, ["requirements", index, "id"])
        field = f"requirements.{index}.id"
        if req.id in seen:
            raise UserError(
                f"duplicate requirement ID '{req.id}' (first at line {seen[req.id]})",
                file=source.display,
                line=line,
                field=field,
            )
        seen[req.id] = line or 0
        if req.manual and not req.attestation_question:
            raise UserError(
                "a manual requirement needs an attestation_question",
                file=source.display,
                line=line_of(raw, ["requirements", index]),
                field=f"requirements.{index}.attestation_question",
            )
        requirements.append(
            Requirement(
                framework=model.framework,
                id=req.id,
                title=req.title,
                manual=req.manual,
                attestation_question=req.attestation_question,
            )
        )
    framework = Framework(
        id=model.framework,
        name=model.name,
        version=model.version,
        source=model.source,
        requirements=tuple(requirements),
        short_name=model.short_name,
    )
    return _LoadedFramework(framework=framework, file=source)


def _load_control_file(source: _SourceFile) -> list[_LoadedControl]:
    raw = _parse(source)
    validate(ControlFile, raw, source.display)
    loaded = []
    for index, raw_control in enumerate(raw["controls"]):
        raw_id = raw_control.get("id") if isinstance(raw_control, dict) else None
        control_id = raw_id if isinstance(raw_id, str) else f"#{index + 1}"
        where = _Where(file=source, raw_file=raw, index=index, control_id=control_id)
        try:
            model = validate(ControlModel, raw_control, source.display, base_loc=where.loc())
        except UserError as exc:
            raise UserError(
                f"{exc.message} (control {control_id})",
                file=exc.file,
                line=exc.line,
                field=exc.field,
            ) from None
        loaded.append(_LoadedControl(model=model, where=where))
    return loaded


# ---------------------------------------------------------------- checking and building


def _build_control(
    loaded: _LoadedControl,
    frameworks: Mapping[str, Framework],
    overrides: Mapping[str, Any],
    known_resource_types: frozenset[str] | None,
) -> Control:
    model, where = loaded.model, loaded.where
    _check_stage(model, where)
    _check_kind(model, where)
    _check_mappings(model, where, frameworks)
    if known_resource_types is not None:
        _check_resource_types(model, where, known_resource_types)
    control_params = _effective_params(model, where, overrides)
    values = {p.name: p.value for p in control_params}
    declared = f" (declared parameters: {', '.join(values) or 'none'})"

    def expression(name: str) -> str | None:
        text = getattr(model, name)
        if text is None:
            return None
        try:
            substituted = substitute_params(text, values)
        except RuleError as exc:
            raise where.error(f"{exc}{declared}", name) from None
        try:
            compile_rule(substituted)
        except RuleError as exc:
            raise where.error(f"{name} does not compile: {_squeeze(exc)}", name) from None
        return substituted

    def prose(value: str, *loc: str | int, placeholders: bool = False) -> str:
        try:
            text = substitute_params_text(value, values)
        except RuleError as exc:
            raise where.error(f"{exc}{declared}", *loc) from None
        if placeholders:
            try:
                check_placeholders(text)
            except RuleError as exc:
                raise where.error(
                    f"a {{placeholder}} does not compile: {_squeeze(exc)}", *loc
                ) from None
        return text

    control = Control(
        id=model.id,
        title=prose(model.title, "title"),
        stage=model.stage,
        severity=model.severity,
        rationale=prose(model.rationale, "rationale"),
        resource_types=tuple(model.resource_types),
        rule=expression("rule"),
        applies_if=expression("applies_if"),
        pass_reason=prose(model.pass_reason, "pass_reason", placeholders=True),
        fail_reason=prose(model.fail_reason, "fail_reason", placeholders=True),
        remediation=prose(model.remediation.text, "remediation", "text"),
        remediation_snippet=_substitute_known(model.remediation.snippet, values),
        references=tuple(model.references),
        maps_to={fw: tuple(map(_mapping_id, entries)) for fw, entries in model.maps_to.items()},
        mapping_why={
            fw: {e.id: " ".join(e.why.split()) for e in entries if isinstance(e, MappingModel)}
            for fw, entries in model.maps_to.items()
        },
        supporting={
            fw: tuple(e.id for e in entries if isinstance(e, MappingModel) and e.supporting)
            for fw, entries in model.maps_to.items()
        },
        params=control_params,
        manual=model.manual,
        attestation_question=model.attestation_question,
        source=where.source,
    )
    return dataclasses.replace(control, digest=control_digest(control))


def control_digest(control: Control) -> str:
    """sha256 of the control's effective definition: changes when its rule, parameters or
    mappings change, not when the file merely moves."""
    definition = dataclasses.asdict(control)
    definition.pop("source")
    definition.pop("digest")
    return sha256_hex(canonical_json(definition))


def _check_stage(model: ControlModel, where: _Where) -> None:
    id_stage = STAGE_OF_ID_PART[model.id.split("-")[-2]]
    if id_stage != model.stage:
        raise where.error(
            f"ID '{model.id}' belongs to stage '{id_stage}', but stage is '{model.stage}'",
            "stage",
        )


def _check_kind(model: ControlModel, where: _Where) -> None:
    """Manual controls are satisfied by attestations; automated ones by a rule on evidence."""
    if model.manual:
        for name in ("rule", "applies_if"):
            if getattr(model, name) is not None:
                raise where.error(
                    f"a manual control has no {name} (it is satisfied by attestations); "
                    "remove it or set manual: false",
                    name,
                )
        if model.resource_types:
            raise where.error(
                "a manual control has no resource_types; remove them or set manual: false",
                "resource_types",
            )
        if not model.attestation_question:
            raise where.error(
                "a manual control needs an attestation_question", "attestation_question"
            )
        return
    if model.rule is None:
        raise where.error("an automated control needs a rule (or set manual: true)", "rule")
    if not model.resource_types:
        raise where.error("an automated control needs at least one resource type", "resource_types")
    for name in ("pass_reason", "fail_reason"):
        if not getattr(model, name).strip():
            raise where.error(f"an automated control needs a {name}", name)


def _mapping_id(entry: str | MappingModel) -> str:
    return entry if isinstance(entry, str) else entry.id


def _check_mappings(
    model: ControlModel, where: _Where, frameworks: Mapping[str, Framework]
) -> None:
    for framework_id, entries in model.maps_to.items():
        requirement_ids = [_mapping_id(e) for e in entries]
        framework = frameworks.get(framework_id)
        if framework is None:
            known = ", ".join(frameworks) or "none"
            raise where.error(
                f"unknown framework '{framework_id}' (frameworks defined: {known})",
                "maps_to",
                framework_id,
            )
        known_ids = [r.id for r in framework.requirements]
        for index, requirement_id in enumerate(requirement_ids):
            if requirement_id not in known_ids:
                raise where.error(
                    f"unknown requirement '{requirement_id}' in framework '{framework_id}'"
                    + _suggest(requirement_id, known_ids),
                    "maps_to",
                    framework_id,
                    index,
                )
            if requirement_ids.index(requirement_id) != index:
                raise where.error(
                    f"requirement '{requirement_id}' is mapped twice in framework '{framework_id}'",
                    "maps_to",
                    framework_id,
                    index,
                )


def _check_resource_types(model: ControlModel, where: _Where, known: frozenset[str]) -> None:
    for index, resource_type in enumerate(model.resource_types):
        if resource_type not in known:
            raise where.error(
                f"unknown resource type '{resource_type}': no collector produces it"
                + _suggest(resource_type, sorted(known)),
                "resource_types",
                index,
            )


def _squeeze(exc: Exception) -> str:
    """JMESPath messages carry a caret line; one line reads better in `file:line: ...`."""
    return " ".join(str(exc).split())


def _suggest(value: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(value, list(candidates), n=3, cutoff=0.6)
    return f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""


# ---------------------------------------------------------------- parameters


def _check_overrides_are_declared(
    overrides: Mapping[str, Any], controls: Iterable[_LoadedControl]
) -> None:
    declared = {name for c in controls for name in c.model.params}
    for name in overrides:
        if name not in declared:
            raise UserError(
                f"no control declares parameter '{name}'"
                + _suggest(name, sorted(declared))
                + f" (declared: {', '.join(sorted(declared)) or 'none'})",
                field=f"params.{name}",
            )


def _effective_params(
    model: ControlModel, where: _Where, overrides: Mapping[str, Any]
) -> tuple[ControlParam, ...]:
    built = []
    for name, param in model.params.items():
        _check_param_declaration(name, param, where)
        value = param.default
        if name in overrides:
            value = overrides[name]
            problem = _type_problem(value, param.default, param.type) or _bound_problem(
                value, param
            )
            if problem:
                raise UserError(
                    f"parameter '{name}' for control {model.id} {problem} "
                    f"(declared at {where.file.display}:{where.line('params', name)})",
                    field=f"params.{name}",
                )
        built.append(
            ControlParam(
                name=name,
                default=param.default,
                value=value,
                description=param.description,
                floor=param.floor,
                ceiling=param.ceiling,
                question=param.question,
            )
        )
    return tuple(built)


def _check_param_declaration(name: str, param: ParamModel, where: _Where) -> None:
    if not _PARAM_NAME.fullmatch(name):
        raise where.error(
            f"parameter name '{name}' must be letters, digits and _ (used as ${{{name}}})",
            "params",
            name,
        )
    if param.default is None and not (param.type and param.question):
        raise where.error(
            f"parameter '{name}' has no default, so it needs `type` and `question` (what the "
            "organisation must decide; the control reports MANUAL with it until set)",
            "params",
            name,
        )
    if param.default is not None and param.type and _kind(param.default) != param.type:
        raise where.error(
            f"parameter '{name}' default is a {_kind(param.default)}, not a {param.type}",
            "params",
            name,
            "type",
        )
    bounded = param.floor is not None or param.ceiling is not None
    if bounded and (param.type or _kind(param.default)) != "number":
        raise where.error(
            f"parameter '{name}' has floor/ceiling, which only numbers can have",
            "params",
            name,
        )
    if param.floor is not None and param.ceiling is not None and param.floor > param.ceiling:
        raise where.error(
            f"parameter '{name}' has floor {param.floor} above ceiling {param.ceiling}",
            "params",
            name,
            "floor",
        )
    problem = _bound_problem(param.default, param)
    if problem:
        raise where.error(f"default of parameter '{name}' {problem}", "params", name, "default")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, dict):
        return "mapping"
    return type(value).__name__


def _type_problem(value: Any, default: Any, declared: str | None = None) -> str | None:
    expected = declared or _kind(default)
    if expected == "null":
        return None
    got = _kind(value)
    if got != expected:
        like = f" like the default {default!r}" if default is not None else ""
        return f"must be a {expected}{like} (got {got} {value!r})"
    if expected == "list" and default:
        item_kind = _kind(default[0])
        for item in value:
            if _kind(item) != item_kind:
                return f"must be a list of {item_kind}s (got {item!r})"
    return None


def _bound_problem(value: Any, param: ParamModel) -> str | None:
    if _kind(value) != "number":
        return None
    if param.floor is not None and value < param.floor:
        return f"is {value}, looser than the framework minimum {param.floor}"
    if param.ceiling is not None and value > param.ceiling:
        return f"is {value}, looser than the framework maximum {param.ceiling}"
    return None


def _substitute_known(text: str, values: Mapping[str, Any]) -> str:
    """Substitute declared parameters in a shell snippet; leave other `${VAR}`s to the shell."""

    def plain(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            return match.group(0)
        return substitute_params_text(match.group(0), values)

    return _PARAM_REF.sub(plain, text)


# ---------------------------------------------------------------- hashing


def _catalog_sha256(files: Sequence[_SourceFile], controls: Sequence[Control]) -> str:
    """Every loaded file's bytes (by relative path, then layer) plus the effective parameters:
    the same catalog with a different retention parameter is a different catalog."""
    digest = hashlib.sha256()
    for source in sorted(files, key=lambda f: (f.relative, f.layer)):
        digest.update(f"{source.layer}:{source.relative}\0".encode())
        digest.update(hashlib.sha256(source.content).digest())
    effective = {c.id: {p.name: p.value for p in c.params} for c in controls if c.params}
    digest.update(canonical_json(effective))
    return digest.hexdigest()
