"""auditor.yaml: the starter file is valid, and every mistake names file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.cli import run
from auditor.config import STARTER, load_config
from auditor.errors import UserError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "auditor.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_starter_file_loads_with_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, STARTER))
    assert config.frameworks == ["gdpr", "hipaa", "pci-dss-4.0.1"]
    assert config.aws.regions == ["eu-west-1", "us-east-1"]
    assert config.store_url() == str(tmp_path / ".auditor/store")


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "waivers: policy/waivers.yaml\n"))
    assert config.path(config.waivers) == tmp_path / "policy/waivers.yaml"


@pytest.mark.parametrize(
    ("text", "line", "field", "expected"),
    [
        ("frameworks: [gdpr, sox]\n", 1, "frameworks", "unknown framework 'sox'"),
        ("aws:\n  regions: [eu-west-1]\n  profil: x\n", 3, "aws.profil", "unknown key"),
        ("gcp:\n  enabled: true\n  scopes: [project/x]\n", 3, "gcp.scopes", "projects/ID"),
        (
            "store:\n  object_lock_days: 0\n",
            2,
            "store.object_lock_days",
            "greater than or equal to 1",
        ),
        (
            "report:\n  formats: [html, docx]\n",
            2,
            "report.formats",
            "'docx'; expected 'html' or 'pdf'",
        ),
        ("aws:\n  role_arns: [arn:aws:iam::1:user/x]\n", 2, "aws.role_arns", "IAM role ARN"),
    ],
)
def test_bad_settings_name_file_line_and_field(
    tmp_path: Path, text: str, line: int, field: str, expected: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(UserError) as caught:
        load_config(path)
    error = caught.value
    assert error.file == str(path)
    assert error.line == line
    assert error.field == field
    assert expected in str(error)


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "aws:\n  regions: [eu-west-1\n")
    with pytest.raises(UserError) as caught:
        load_config(path)
    assert caught.value.file == str(path) and caught.value.line is not None


def test_cli_exit_code_2_and_no_traceback_on_bad_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "frameworks: [gdpr]\nstore:\n  url: x\n  colour: blue\n")
    code = run(["--store", str(tmp_path / "store"), "snapshot", "-c", str(path)])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{path}:4: field 'store.colour'" in err
    assert "Traceback" not in err


def test_init_writes_a_starter_and_refuses_to_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "auditor.yaml"
    assert run(["init", "-c", str(target)]) == 0
    assert target.read_text() == STARTER
    target.write_text("# mine\n")
    assert run(["init", "-c", str(target)]) == 2
    assert target.read_text() == "# mine\n"
    assert "already exists" in capsys.readouterr().err


def test_parameter_looser_than_the_framework_names_auditor_yaml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        "aws:\n  regions: [eu-west-1]\ncontrols:\n  params:\n    min_retention_days: 30\n",
    )
    code = run(["--store", str(tmp_path / "store"), "snapshot", "-c", str(path)])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{path}:5: field 'controls.params.min_retention_days'" in err
    assert not (tmp_path / "store").exists() or not any((tmp_path / "store").rglob("manifest.json"))


# ---------------------------------------------------------------- scope:


def test_starter_scope_example_uncommented_is_valid(tmp_path: Path) -> None:
    lines = STARTER.split("# scope:", 1)[1].splitlines()
    block = "scope:\n" + "\n".join(
        line.replace("# ", "", 1) for line in lines if line.startswith("#   ")
    )
    config = load_config(write(tmp_path, block + "\n"))
    assert config.scope is not None
    definition = config.scope.definition()
    assert set(definition.frameworks) == {"hipaa", "pci-dss-4.0.1"}
    hipaa = definition.frameworks["hipaa"]
    assert hipaa.include[0].tag_key == "data-class" and hipaa.include[0].tag_values == ("phi",)
    assert hipaa.include[1].accounts == ("111111111111",)
    assert hipaa.exclude[0].describe() == "tag env=sandbox"
    assert definition.unclassified_in_scope


def test_no_scope_means_none(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "version: 1\n")).scope is None


def test_scope_keys_are_exactly_the_frameworks() -> None:
    from auditor.config import ScopeSettings
    from auditor.models import FRAMEWORKS

    keys = {f.alias or name for name, f in ScopeSettings.model_fields.items()} - {"unclassified"}
    assert keys == set(FRAMEWORKS)


@pytest.mark.parametrize(
    ("text", "line", "field", "words"),
    [
        ("scope:\n  hipa: {}\n", 2, "scope.hipa", "unknown key"),
        ("scope:\n  unclassified: maybe\n", 2, "scope.unclassified", "in_scope"),
        (
            "scope:\n  hipaa:\n    include:\n      - accounts: [12345]\n",
            4,
            "scope.hipaa.include.0.accounts",
            "12-digit",
        ),
        (
            "scope:\n  gdpr:\n    exclude:\n      - {}\n",
            4,
            "scope.gdpr.exclude.0",
            "empty selector",
        ),
        (
            "scope:\n  gdpr:\n    include:\n      - tag: {values: [pii]}\n",
            4,
            "scope.gdpr.include.0.tag.key",
            "missing",
        ),
    ],
)
def test_bad_scope_names_file_line_and_field(
    tmp_path: Path, text: str, line: int, field: str, words: str
) -> None:
    with pytest.raises(UserError) as caught:
        load_config(write(tmp_path, text))
    error = caught.value
    assert error.line == line
    assert error.field == field
    assert words in error.message


def test_ou_selectors_are_refused_not_silently_empty(tmp_path: Path) -> None:
    """The collector does not record each account's OU, so an OU selector could only ever match
    nothing: it is refused with the file and line instead."""
    text = "scope:\n  hipaa:\n    include:\n      - organizational_units: [ou-ab12-cd34ef56]\n"
    with pytest.raises(UserError, match="list the accounts instead") as caught:
        load_config(write(tmp_path, text))
    assert caught.value.line == 4
