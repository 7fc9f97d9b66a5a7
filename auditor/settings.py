"""Where each effective setting comes from: option given > environment > auditor.yaml > default.

One rule, in one function (`resolve`), for every setting. "Not given" is an explicit sentinel
(`NOT_GIVEN`; click options default to None and the CLI passes None through `given()`), never a
comparison with a default value, so an option that happens to equal the default still wins and a
default never hides a configured value.

Why the environment beats the file: an operator's environment (a systemd `Environment=`, a pod's
`env:`) is the most specific thing for one run. That is why the container image bakes no
`AUDITOR_STORE`: an image-level default would silently beat the `store.url` the file names. The
deploy examples that want a local store set it themselves, or name it in their auditor.yaml.

Settings are addressed by dotted path (`store.url`, `report.sign.key`) and found by walking the
`Config` model, so a section added to the model gets sources for free.
"""

from __future__ import annotations

import json
import os
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel

from auditor import yamlfile
from auditor.config import Config


class _NotGiven:
    """The value of an option the user did not give (distinct from None and from any default)."""

    _instance: _NotGiven | None = None

    def __new__(cls) -> _NotGiven:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __bool__(self) -> bool:
        return False


NOT_GIVEN: Final = _NotGiven()

# Settings an environment variable may set, by dotted path. One fact in one place: the CLI's help
# text and `config show` read it from here.
ENVIRONMENT: Final[Mapping[str, str]] = {
    "store.url": "AUDITOR_STORE",
    "gcp.asset_api_endpoint": "AUDITOR_GCP_ASSET_ENDPOINT",
    "collection.executor": "AUDITOR_EXECUTOR",
}

# Settings whose value is a path: from the file they resolve against the file's folder, from an
# option or the environment against the working directory.
PATHS: Final = frozenset(
    {
        "store.url",
        "waivers",
        "attestations",
        "report.out",
        "report.sign.key",
        "report.sign.cert",
        "gcp.asset_export",
    }
)


@dataclass(frozen=True)
class Setting:
    """One effective setting: its value, and where it came from."""

    path: str
    value: Any
    source: str  # "option --store", "environment AUDITOR_STORE", "auditor.yaml:12", "default"

    @property
    def kind(self) -> str:
        """option | environment | file | default."""
        head = self.source.split(" ", 1)[0]
        return head if head in ("option", "environment", "default") else "file"


def given(value: Any) -> Any:
    """Click's None (the option was not given) as NOT_GIVEN; anything else as given."""
    return NOT_GIVEN if value is None else value


def _unwrap(annotation: Any) -> type[BaseModel] | None:
    """The model class inside `Model` or `Model | None`, else None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                return arg
    return None


def setting_paths(model: type[BaseModel] = Config, prefix: str = "") -> Iterator[str]:
    """Every leaf setting of the model, as a dotted path, in declaration order."""
    for name, info in model.model_fields.items():
        if not prefix and name == "base_dir":
            continue
        inner = _unwrap(info.annotation)
        path = f"{prefix}{name}"
        if inner is not None:
            yield from setting_paths(inner, f"{path}.")
        else:
            yield path


def default_of(path: str) -> Any:
    """The model's default for a dotted path (None inside an optional section that is unset)."""
    model: type[BaseModel] | None = Config
    value: Any = None
    for part in path.split("."):
        if model is None or part not in model.model_fields:
            raise KeyError(path)
        info = model.model_fields[part]
        value = info.get_default(call_default_factory=True)
        model = _unwrap(info.annotation)
        if model is not None and value is None:
            return None
    return value


def _from_file(config: Config, path: str) -> tuple[bool, Any, int | None]:
    """(set in the file?, value, line). Set means the key is written in the file."""
    node: Any = config
    for part in path.split("."):
        if not isinstance(node, BaseModel) or part not in node.model_fields_set:
            return False, None, None
        node = getattr(node, part)
    raw = config.raw_settings()
    return True, node, yamlfile.line_of(raw, path.split("."))


def resolve(
    path: str,
    *,
    config: Config | None = None,
    option: Any = NOT_GIVEN,
    option_name: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Setting:
    """The one precedence rule: option given > environment > auditor.yaml > default."""
    if option is not NOT_GIVEN:
        return Setting(path, option, f"option {option_name or '--' + path.replace('.', '-')}")
    env_name = ENVIRONMENT.get(path)
    environ = os.environ if environ is None else environ
    if env_name and environ.get(env_name):
        return Setting(path, environ[env_name], f"environment {env_name}")
    if config is not None:
        found, value, line = _from_file(config, path)
        if found:
            where = config.source_file() + (f":{line}" if line else "")
            return Setting(path, _plain(value), where)
    return Setting(path, _plain(default_of(path)), "default")


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump()
    if isinstance(value, tuple):
        return list(value)
    return value


def effective(
    config: Config | None = None,
    options: Mapping[str, tuple[str, Any]] | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Setting]:
    """Every setting of the model, resolved. `options` maps a dotted path to (option name, value
    or NOT_GIVEN)."""
    options = options or {}
    result: dict[str, Setting] = {}
    for path in setting_paths():
        name, value = options.get(path, (None, NOT_GIVEN))
        result[path] = resolve(path, config=config, option=value, option_name=name, environ=environ)
    return result


def as_path(setting: Setting, config: Config | None) -> Path | None:
    """A path setting as a Path: relative to the config file's folder when it came from the file,
    to the working directory otherwise."""
    if setting.value in (None, ""):
        return None
    if setting.kind == "file" and config is not None:
        return config.path(str(setting.value))
    return Path(str(setting.value)).expanduser()


def store_url(setting: Setting, config: Config | None) -> str:
    """The store URL a setting names: s3:// as is, a folder resolved like any path."""
    value = str(setting.value)
    if value.startswith("s3://"):
        return value
    return str(as_path(setting, config))


def _type_name(annotation: Any) -> str:
    text = str(annotation) if not isinstance(annotation, type) else annotation.__name__
    return text.replace("typing.", "").replace("pathlib.", "").replace("NoneType", "None")


def _field_info(path: str) -> Any:
    model: type[BaseModel] | None = Config
    info: Any = None
    for part in path.split("."):
        assert model is not None
        info = model.model_fields[part]
        model = _unwrap(info.annotation)
    return info


def schema_markdown() -> str:
    """docs/configuration.md, generated from the Config model (a test keeps the file current)."""
    lines = [
        "# Configuration reference",
        "",
        "<!-- Generated by `auditor config schema --format md`; do not edit by hand. -->",
        "",
        "Every setting of `auditor.yaml`, by dotted path. Each effective setting comes from the",
        "first of: a command-line option given, the environment variable, `auditor.yaml`, the",
        "default. `auditor config show [-c FILE]` prints every effective setting and its source",
        "(`option --store`, `environment AUDITOR_STORE`, `auditor.yaml:12`, `default`).",
        "",
        "Paths in the file resolve against the file's folder; paths given as options or in the",
        "environment resolve against the working directory. The container image sets no",
        "`AUDITOR_STORE`, so the `store.url` a configuration names is the store it uses.",
        "",
        "| setting | type | default | environment |",
        "|---|---|---|---|",
    ]
    for path in setting_paths():
        info = _field_info(path)
        default = default_of(path)
        shown = "(required)" if info.is_required() else f"`{json.dumps(default, default=str)}`"
        env = f"`{ENVIRONMENT[path]}`" if path in ENVIRONMENT else ""
        kind = _type_name(info.annotation).replace("|", "\\|")
        lines.append(f"| `{path}` | {kind} | {shown} | {env} |")
    lines += [
        "",
        "Options that override a setting when given: `--store` (`store.url`), `--frameworks`,",
        "`--out` (`report.out`), `--formats` (`report.formats`), `--period` (`report.period`),",
        "`--waivers`, `--attestations`, `--sign-key`/`--sign-cert` (`report.sign.*`), `--fail-on`",
        "(`report.fail_on`).",
        "",
    ]
    return "\n".join(lines)
