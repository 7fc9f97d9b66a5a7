"""Organisation parameter values: applied by name, typed, and never looser than the framework."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from catalog_support import EXAMPLES

from auditor.catalog import load_catalog
from auditor.cli import run
from auditor.errors import UserError
from auditor.rules import holds, render_reason

BASIC = EXAMPLES / "basic"


def test_override_changes_rule_reasons_and_digest(shipped: Path) -> None:
    default = load_catalog([BASIC])
    tighter = load_catalog([BASIC], params={"min_retention_days": 400})
    control = tighter.control("ML-MON-901")
    assert control is not None and control.rule is not None
    assert control.rule == "retentionInDays >= `400`"
    assert [(p.value, p.default) for p in control.params] == [(400, 365)]
    assert control.title.endswith("at least 400 days")
    doc = {"retentionInDays": 365}
    assert not holds(control.rule, doc)
    assert holds(default.control("ML-MON-901").rule or "", doc)  # type: ignore[union-attr]
    assert render_reason(control.fail_reason, doc).endswith("at least 400 are required.")
    assert control.digest != default.control("ML-MON-901").digest  # type: ignore[union-attr]
    assert tighter.sha256 != default.sha256
    # other controls are unaffected
    assert tighter.control("ML-DATA-901") == default.control("ML-DATA-901")


def test_value_looser_than_the_floor_is_refused(shipped: Path) -> None:
    with pytest.raises(UserError) as caught:
        load_catalog([BASIC], params={"min_retention_days": 90})
    error = caught.value
    assert error.field == "params.min_retention_days"
    assert "control ML-MON-901" in error.message
    assert "is 90, looser than the framework minimum 365" in error.message
    assert f"declared at {BASIC}/monitoring/aws-example.yaml:12" in error.message


def test_value_equal_to_the_floor_is_accepted(shipped: Path) -> None:
    catalog = load_catalog([BASIC], params={"min_retention_days": 365.0})
    assert catalog.control("ML-MON-901").rule == "retentionInDays >= `365.0`"  # type: ignore[union-attr]


def test_value_above_the_ceiling_is_refused(shipped: Path, tmp_path: Path) -> None:
    folder = tmp_path / "extra" / "data"
    folder.mkdir(parents=True)
    text = (BASIC / "monitoring" / "aws-example.yaml").read_text()
    text = text.replace("floor: 365", "ceiling: 365").replace("default: 365", "default: 90")
    (folder / "rotation.yaml").write_text(text.replace("ML-MON-901", "ML-MON-902"))
    # the file lives under data/ but the stage is monitoring: folders are not stages
    with pytest.raises(UserError) as caught:
        load_catalog([tmp_path / "extra"], params={"min_retention_days": 400})
    assert "is 400, looser than the framework maximum 365" in caught.value.message


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("400", "must be a number like the default 365 (got string '400')"),
        (True, "must be a number like the default 365 (got boolean True)"),
        ([400], "must be a number"),
    ],
)
def test_value_of_the_wrong_type_is_refused(shipped: Path, value: object, words: str) -> None:
    with pytest.raises(UserError) as caught:
        load_catalog([BASIC], params={"min_retention_days": value})
    assert words in caught.value.message
    assert caught.value.field == "params.min_retention_days"


def test_list_parameter_override(shipped: Path) -> None:
    catalog = load_catalog([BASIC], params={"approved_regions": ["us-central1"]})
    control = catalog.control("ML-TRAIN-951")
    assert control is not None and control.rule is not None
    assert holds(control.rule, {"location": "us-central1"})
    assert not holds(control.rule, {"location": "europe-west4"})
    with pytest.raises(UserError, match="must be a list of strings"):
        load_catalog([BASIC], params={"approved_regions": ["eu", 5]})
    with pytest.raises(UserError, match="must be a list like the default"):
        load_catalog([BASIC], params={"approved_regions": "europe-west1"})


def test_override_naming_no_declared_parameter_is_refused(shipped: Path) -> None:
    with pytest.raises(UserError) as caught:
        load_catalog([BASIC], params={"min_retention_day": 400})
    error = caught.value
    assert error.field == "params.min_retention_day"
    assert "no control declares parameter 'min_retention_day'" in error.message
    assert "did you mean 'min_retention_days'?" in error.message


def test_floor_on_a_non_number_is_refused(shipped: Path, tmp_path: Path) -> None:
    folder = tmp_path / "extra" / "training"
    folder.mkdir(parents=True)
    text = (BASIC / "training" / "gcp-example.yaml").read_text()
    (folder / "x.yaml").write_text(
        text.replace(
            "        description: Regions", "        floor: 1\n        description: Regions"
        )
    )
    with pytest.raises(UserError) as caught:
        load_catalog([tmp_path / "extra"])
    assert caught.value.field == "controls.0.params.approved_regions"
    assert "only numbers can have" in caught.value.message


def test_cli_param_option(shipped: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = run(
        ["--controls", str(BASIC), "controls", "show", "ML-MON-901", "--format", "json",
         "--param", "min_retention_days=400"]
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    shown = json.loads(out)[0]
    assert shown["rule"] == "retentionInDays >= `400`"
    assert shown["params"][0]["value"] == 400 and shown["params"][0]["floor"] == 365

    code = run(
        ["--controls", str(BASIC), "controls", "validate", "--param", "min_retention_days=30"]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "parameter 'min_retention_days' for control ML-MON-901 is 30" in err
    assert "framework minimum 365" in err

    assert run(["controls", "validate", "--param", "no-equals-sign"]) == 2
    assert "expected NAME=VALUE" in capsys.readouterr().err
