"""One precedence rule (option given > environment > auditor.yaml > default), `config show`
under every deploy example, and the generated configuration reference."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from auditor import settings
from auditor.cli import main, run
from auditor.config import STARTER, load_config

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"


# ---------------------------------------------------------------- the rule


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "auditor.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_precedence_option_env_file_default(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, "version: 1\nstore:\n  url: s3://from-file/p\n"))
    env = {"AUDITOR_STORE": "/from/env"}
    chosen = settings.resolve("store.url", config=config, option="/opt", environ=env)
    assert (chosen.value, chosen.source) == ("/opt", "option --store-url")
    chosen = settings.resolve("store.url", config=config, environ=env)
    assert (chosen.value, chosen.source) == ("/from/env", "environment AUDITOR_STORE")
    chosen = settings.resolve("store.url", config=config, environ={})
    assert chosen.value == "s3://from-file/p" and chosen.source.endswith("auditor.yaml:3")
    chosen = settings.resolve("store.url", environ={})
    assert (chosen.value, chosen.source) == ("./.auditor/store", "default")


def test_an_option_equal_to_the_default_still_wins(tmp_path: Path) -> None:
    """No comparison with a default value: `--store ./.auditor/store` beats the file."""
    config = load_config(_write(tmp_path, "store: {url: s3://bucket/p}\n"))
    chosen = settings.resolve(
        "store.url", config=config, option="./.auditor/store", option_name="--store", environ={}
    )
    assert chosen.source == "option --store" and chosen.value == "./.auditor/store"
    unset = settings.resolve("store.url", config=config, option=settings.given(None), environ={})
    assert unset.value == "s3://bucket/p"


def test_every_setting_has_a_source_and_new_sections_come_for_free(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, "report:\n  formats: [html]\n  sign: {key: k.pem}\n"))
    resolved = settings.effective(config, environ={})
    assert set(resolved) == set(settings.setting_paths())
    assert resolved["report.formats"].source.endswith(":2")
    assert resolved["report.sign.key"].source.endswith(":3")
    assert resolved["report.sign.key"].value == "k.pem"
    assert resolved["report.sign.cert"].source == "default"
    assert resolved["frameworks"].source == "default"
    # a file path resolves against the file's folder; an option's against the working directory
    key = settings.as_path(resolved["report.sign.key"], config)
    assert key == tmp_path / "k.pem"


def test_store_option_before_or_after_the_subcommand(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AUDITOR_STORE", raising=False)
    path = _write(tmp_path, "store: {url: s3://bucket/p}\n")
    for argv in (
        ["--store", "/a", "config", "show", "-c", str(path), "--format", "json"],
        ["config", "show", "-c", str(path), "--format", "json", "--store", "/a"],
        ["config", "show", "--store=/a", "-c", str(path), "--format", "json", "--quiet"],
    ):
        assert run(argv) == 0
        document = json.loads(capsys.readouterr().out)
        assert document["store"] == "/a"
        assert document["settings"]["store.url"]["source"] == "option --store"


def test_config_show_table_names_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AUDITOR_STORE", raising=False)
    path = _write(tmp_path, "version: 1\nfr2: 1\n".replace("fr2: 1\n", "frameworks: [hipaa]\n"))
    assert run(["config", "show", "-c", str(path)]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("frameworks "))
    assert '["hipaa"]' in line and line.endswith(f"{path}:2")
    assert re.search(r"^store\.url .*default$", out, re.M)


# ---------------------------------------------------------------- deploy examples


class _TolerantLoader(yaml.SafeLoader):
    """CloudFormation's short tags (!Ref, !Sub) read as plain values."""


def _any_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)  # type: ignore[arg-type]


_TolerantLoader.add_multi_constructor("!", _any_tag)


def _dockerfile_env() -> dict[str, str]:
    text = (DEPLOY / "docker" / "Dockerfile").read_text().replace("\\\n", " ")
    env: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            for pair in line[4:].split():
                name, _, value = pair.partition("=")
                env[name] = value
    return env


def _kubernetes() -> tuple[dict[str, str], str]:
    documents = list(yaml.safe_load_all((DEPLOY / "kubernetes" / "cronjob.yaml").read_text()))
    config = next(d for d in documents if d["kind"] == "ConfigMap")["data"]["auditor.yaml"]
    job = next(d for d in documents if d["kind"] == "CronJob")
    container = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container.get("env", [])}
    return {**_dockerfile_env(), **env}, config


def _readme_store_yaml() -> str:
    """The auditor.yaml the deploy README tells S3 users to write (the ECS task reads it)."""
    text = (DEPLOY / "README.md").read_text()
    block = re.search(r"```yaml\n(store:.*?)```", text, re.S)
    assert block, "deploy/README.md lost its store example"
    return block.group(1)


def _ecs() -> tuple[dict[str, str], str]:
    template = yaml.load(
        (DEPLOY / "aws" / "snapshot-schedule.yaml").read_text(), Loader=_TolerantLoader
    )
    containers = template["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"]
    auditor = next(c for c in containers if c["Name"] == "auditor")
    env = {e["Name"]: str(e["Value"]) for e in auditor.get("Environment", [])}
    return {**_dockerfile_env(), **env}, _readme_store_yaml()


def _systemd() -> tuple[dict[str, str], str]:
    env: dict[str, str] = {}
    for line in (DEPLOY / "systemd" / "auditor-snapshot.service").read_text().splitlines():
        if line.startswith("Environment="):
            name, _, value = line.removeprefix("Environment=").partition("=")
            env[name] = value
    return env, STARTER


def _cron() -> tuple[dict[str, str], str]:
    env: dict[str, str] = {}
    for line in (DEPLOY / "cron" / "auditor.cron").read_text().splitlines():
        if re.match(r"^[A-Z_]+=", line):
            name, _, value = line.partition("=")
            env[name] = value
    return env, STARTER


def _configured_store(env: dict[str, str], config_text: str) -> str:
    """What the example means: its own AUDITOR_STORE when it sets one, else its store.url."""
    if "AUDITOR_STORE" in env:
        return env["AUDITOR_STORE"]
    return str(yaml.safe_load(config_text)["store"]["url"])


@pytest.mark.parametrize("example", ["kubernetes", "ecs", "systemd", "cron"])
def test_config_show_under_each_deploy_example_names_its_store(
    example: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env, config_text = {"kubernetes": _kubernetes, "ecs": _ecs, "systemd": _systemd,
                        "cron": _cron}[example]()  # fmt: skip
    for name in ("AUDITOR_STORE", "AUDITOR_GCP_ASSET_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    path = _write(tmp_path, config_text)
    assert run(["config", "show", "-c", str(path), "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    expected = _configured_store(env, config_text)
    assert document["store"] == expected
    source = document["settings"]["store.url"]["source"]
    if "AUDITOR_STORE" in env:
        assert source == "environment AUDITOR_STORE"
    else:
        file, _, line = source.rpartition(":")
        assert file == str(path)
        assert config_text.splitlines()[int(line) - 1].strip().startswith("url: s3://")


def test_the_image_bakes_no_store() -> None:
    """An image-level AUDITOR_STORE would beat every configured store.url."""
    assert "AUDITOR_STORE" not in _dockerfile_env()


# ---------------------------------------------------------------- help and docs


def _commands(command: click.Command, prefix: str = "auditor") -> list[tuple[str, click.Command]]:
    found = [(prefix, command)]
    if isinstance(command, click.Group):
        for name, child in command.commands.items():
            found += _commands(child, f"{prefix} {name}")
    return found


def test_every_option_of_every_command_has_help() -> None:
    missing = [
        f"{name} {'/'.join(param.opts)}"
        for name, command in _commands(main)
        for param in command.params
        if isinstance(param, click.Option) and not param.hidden and not (param.help or "").strip()
        and "--help" not in param.opts and "--version" not in param.opts
    ]  # fmt: skip
    assert missing == []
    undocumented = [name for name, command in _commands(main) if not (command.help or "").strip()]
    assert undocumented == []


def test_configuration_reference_is_current(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["config", "schema", "--format", "md"]) == 0
    generated = capsys.readouterr().out
    assert generated == settings.schema_markdown()
    current = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert current == generated, (
        "regenerate: auditor config schema --format md > docs/configuration.md"
    )
    for path in settings.setting_paths():
        assert f"`{path}`" in current


def test_snapshot_writes_to_the_store_the_rule_picks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not just what `config show` says: `snapshot -c` really writes there."""
    from auditor.resources import data_dir

    sample = data_dir() / "gcp" / "sample_export.ndjson"
    path = _write(
        tmp_path,
        f"store: {{url: configured}}\naws: {{enabled: false}}\n"
        f"gcp: {{enabled: true, asset_export: {sample}}}\n",
    )
    for name, value in _dockerfile_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AUDITOR_STORE", raising=False)
    assert run(["--quiet", "snapshot", "-c", str(path)]) == 0
    assert list((tmp_path / "configured" / "manifests").glob("*.json"))
    monkeypatch.setenv("AUDITOR_STORE", str(tmp_path / "from-env"))
    assert run(["snapshot", "-c", str(path)]) == 0
    assert list((tmp_path / "from-env" / "manifests").glob("*.json"))
    assert run(["snapshot", "-c", str(path), "--store", str(tmp_path / "opt")]) == 0
    assert list((tmp_path / "opt" / "manifests").glob("*.json"))


def test_store_option_equal_to_the_default_beats_a_configured_s3_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The old sentinel comparison let the file win whenever --store equalled the default."""
    monkeypatch.delenv("AUDITOR_STORE", raising=False)
    path = _write(tmp_path, "store: {url: s3://bucket/prefix}\n")
    assert (
        run(["--store", "./.auditor/store", "config", "show", "-c", str(path), "--format", "json"])
        == 0
    )
    document = json.loads(capsys.readouterr().out)
    assert document["store"] == str(Path("./.auditor/store"))
    assert document["settings"]["store.url"]["source"] == "option --store"


def test_frameworks_is_one_spelling_everywhere(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["controls", "list", "--frameworks", "gdpr", "--format", "json"]) == 0
    gdpr = {c["id"] for c in json.loads(capsys.readouterr().out)}
    assert run(["controls", "list", "--frameworks", "gdpr,hipaa", "--format", "json"]) == 0
    both = {c["id"] for c in json.loads(capsys.readouterr().out)}
    assert gdpr < both or gdpr == both
    assert run(["controls", "matrix", "--frameworks", "hipaa,pci-dss-4.0.1"]) == 0
    assert "gdpr" not in capsys.readouterr().out.split("\n", 1)[1]
    assert run(["controls", "list", "--frameworks", "sox"]) == 2
    assert "--frameworks" in capsys.readouterr().err
