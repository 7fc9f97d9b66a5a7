"""Every broken catalog under tests/fixtures/broken_catalogs has exactly one defect; the loader
and the CLI must name its file, line and field, and the CLI must exit 2 without a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from catalog_support import BROKEN, KNOWN_TYPES

from auditor.catalog import load_catalog
from auditor.cli import run
from auditor.errors import UserError

# name -> (file inside the folder, line, field or None, words the message must contain)
CASES: dict[str, tuple[str, int, str | None, str]] = {
    "unknown_key": ("data/aws-example.yaml", 16, "controls.0.owner", "unknown key"),
    "bad_severity": (
        "data/aws-example.yaml",
        5,
        "controls.0.severity",
        "'critical', 'high', 'medium', 'low' or 'info' (got 'urgent')",
    ),
    "duplicate_id": (
        "data/aws-second.yaml",
        3,
        "controls.0.id",
        "duplicate control ID 'ML-DATA-901': already defined at {dir}/data/aws-first.yaml:2",
    ),
    "unknown_requirement": (
        "data/aws-example.yaml",
        14,
        "controls.0.maps_to.gdpr.1",
        "unknown requirement 'Art. 99' in framework 'gdpr'",
    ),
    "unknown_framework": (
        "data/aws-example.yaml",
        16,
        "controls.0.maps_to.sox",
        "unknown framework 'sox'",
    ),
    "rule_does_not_compile": (
        "data/aws-example.yaml",
        8,
        "controls.0.rule",
        "rule does not compile",
    ),
    "undeclared_param": (
        "data/aws-example.yaml",
        8,
        "controls.0.rule",
        "unknown parameter '${min_rules}' (declared parameters: none)",
    ),
    "unknown_resource_type": (
        "data/aws-example.yaml",
        7,
        "controls.0.resource_types.0",
        "unknown resource type 'AWS::S3::Bukket': no collector produces it; "
        "did you mean 'AWS::S3::Bucket'?",
    ),
    "param_below_floor": (
        "monitoring/aws-logs.yaml",
        13,
        "controls.0.params.min_retention_days.default",
        "is 30, looser than the framework minimum 365 (control ML-MON-901)",
    ),
    "manual_with_rule": (
        "governance/manual.yaml",
        7,
        "controls.0.rule",
        "a manual control has no rule",
    ),
    "yaml_syntax": ("data/aws-example.yaml", 5, None, "not valid YAML"),
    "missing_field": (
        "data/aws-example.yaml",
        2,
        "controls.0.severity",
        "required field is missing (control ML-DATA-901)",
    ),
    "bad_placeholder": (
        "data/aws-example.yaml",
        10,
        "controls.0.fail_reason",
        "a {placeholder} does not compile",
    ),
    "stage_mismatch": (
        "data/aws-example.yaml",
        4,
        "controls.0.stage",
        "ID 'ML-DATA-901' belongs to stage 'data', but stage is 'training'",
    ),
    "bad_control_id": (
        "data/aws-example.yaml",
        2,
        "controls.0.id",
        "expected PREFIX-STAGE-NNN such as ML-DATA-001",
    ),
    "manual_requirement_without_question": (
        "frameworks/acme-policy.yaml",
        9,
        "requirements.1.attestation_question",
        "a manual requirement needs an attestation_question",
    ),
}


def test_every_broken_catalog_has_a_case() -> None:
    assert sorted(p.name for p in BROKEN.iterdir() if p.is_dir()) == sorted(CASES)


def _expected_prefix(name: str) -> str:
    relative, line, field, _ = CASES[name]
    where = f"{BROKEN / name}/{relative}:{line}"
    return f"{where}: field '{field}': " if field else f"{where}: "


@pytest.mark.parametrize("name", sorted(CASES))
def test_loader_names_file_line_and_field(name: str, shipped: Path) -> None:
    relative, line, field, words = CASES[name]
    with pytest.raises(UserError) as caught:
        load_catalog([BROKEN / name], known_resource_types=KNOWN_TYPES)
    error = caught.value
    assert error.file == f"{BROKEN / name}/{relative}"
    assert error.line == line
    assert error.field == field
    assert words.replace("{dir}", str(BROKEN / name)) in error.message
    assert str(error).startswith(_expected_prefix(name))


@pytest.mark.parametrize("name", sorted(CASES))
def test_cli_validate_exits_2_with_the_precise_message(
    name: str, shipped: Path, known_types: frozenset[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(["controls", "validate", str(BROKEN / name)])
    out, err = capsys.readouterr()
    assert code == 2
    assert "Traceback" not in err
    assert "catalog OK" not in out
    assert err.startswith("auditor: error: " + _expected_prefix(name))
    assert CASES[name][3].replace("{dir}", str(BROKEN / name)) in " ".join(err.split())


def test_global_controls_option_is_validated_too(
    shipped: Path, known_types: frozenset[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(["--controls", str(BROKEN / "bad_severity"), "controls", "validate"])
    assert code == 2
    assert "got 'urgent'" in capsys.readouterr().err


def test_list_refuses_a_broken_catalog_as_well(
    shipped: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(["--controls", str(BROKEN / "unknown_requirement"), "controls", "list"])
    assert code == 2
    assert "unknown requirement 'Art. 99'" in capsys.readouterr().err


def test_missing_folder_is_a_user_error(shipped: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = BROKEN / "no-such-folder"
    assert run(["controls", "validate", str(missing)]) == 2
    assert f"{missing}: controls folder not found" in capsys.readouterr().err
