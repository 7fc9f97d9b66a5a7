"""`report -c`, `evaluate -c` and `run -c` take every setting from auditor.yaml; an option
overrides its setting only when given (the one precedence rule in auditor.settings)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditor import pipeline, settings
from auditor.cli import run
from auditor.config import load_config
from auditor.resources import data_dir

SAMPLE = data_dir() / "gcp" / "sample_export.ndjson"
FAILING = "ML-TRAIN-051"  # fails on the bundled GCP sample


@pytest.fixture()
def estate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A config folder whose store holds one snapshot of the bundled GCP sample."""
    folder = tmp_path / "cfg"
    folder.mkdir()
    store = folder / "evidence"
    assert run(["--store", str(store), "collect", "gcp", "--asset-export", str(SAMPLE)]) == 0
    capsys.readouterr()
    (folder / "waivers.yaml").write_text(
        f"waivers:\n  - control: {FAILING}\n    justification: retired\n"
        "    approved_by: CISO\n    expires: 2099-12-31\n"
    )
    (folder / "attestations.yaml").write_text(
        'attestations:\n  - requirement: "pci-dss-4.0.1:12.10.1"\n    statement: tested\n'
        "    attested_by: Head of Security\n    date: 2026-01-14\n    valid_until: 2099-10-14\n"
        '  - requirement: "hipaa:164.308(a)(6)(ii)"\n    statement: tested\n'
        "    attested_by: Head of Security\n    date: 2026-01-14\n    valid_until: 2099-10-14\n"
    )
    return folder


def _config(folder: Path, extra: str = "") -> Path:
    path = folder / "auditor.yaml"
    path.write_text(
        "version: 1\n"
        "frameworks: [hipaa, pci-dss-4.0.1]\n"
        "store: {url: evidence}\n"
        "gcp: {enabled: true, asset_export: " + str(SAMPLE) + "}\n"
        "aws: {enabled: false}\n"
        "waivers: waivers.yaml\n"
        "attestations: attestations.yaml\n"
        "report:\n  out: out\n  formats: [html]\n  period: '2019'\n" + extra
    )
    return path


def _findings(version: Path) -> list[dict[str, object]]:
    return list(json.loads((version / "findings.json").read_text())["findings"])


def _last_line(capsys: pytest.CaptureFixture[str]) -> str:
    return capsys.readouterr().out.strip().splitlines()[-1]


def test_report_c_honours_frameworks_out_formats_waivers_attestations(
    estate: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AUDITOR_STORE", raising=False)
    config = _config(estate)
    # the file says 2019 (no snapshots): the option given wins over it
    assert run(["report", "-c", str(config), "--from", "2019-01-01", "--to", "2099-12-31"]) == 0
    version = Path(_last_line(capsys))
    assert version.parent.parent == estate / "out"  # report.out, relative to the file
    assert sorted(p.name for p in version.iterdir() if p.name.startswith("report")) == [
        "report.html"
    ]  # report.formats: [html]
    findings = _findings(version)
    frameworks = {name for f in findings for name in f["requirements"]}  # type: ignore[attr-defined]
    assert frameworks == {"hipaa", "pci-dss-4.0.1"}  # no GDPR came back
    statuses = {(f["control_id"], f["status"]) for f in findings}
    assert (FAILING, "WAIVED") in statuses and (FAILING, "FAIL") not in statuses
    assert ("ML-GOV-001", "ATTESTED") in statuses


def test_report_options_override_only_when_given(
    estate: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(estate)
    code = run(
        ["report", "-c", str(config), "--period", "current", "--frameworks", "gdpr",
         "--out", str(tmp_path / "elsewhere"), "--waivers", str(tmp_path / "none.yaml")]
    )  # fmt: skip
    assert code == 2  # --waivers given: the option's file, which does not exist
    assert "none.yaml" in capsys.readouterr().err
    code = run(
        ["report", "-c", str(config), "--period", "current", "--frameworks", "gdpr",
         "--out", str(tmp_path / "elsewhere")]
    )  # fmt: skip
    assert code == 0
    version = Path(_last_line(capsys))
    assert version.parent.parent == tmp_path / "elsewhere"
    assert {n for f in _findings(version) for n in f["requirements"]} == {"gdpr"}  # type: ignore[attr-defined]


def test_configured_period_and_fail_on_are_honoured(
    estate: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(estate, "  fail_on: fail\n")
    assert run(["report", "-c", str(config)]) == 3  # report.period 2019: nothing in it
    assert "no snapshots in period 2019" in capsys.readouterr().err
    assert run(["report", "-c", str(config), "--period", "current"]) == 1  # report.fail_on: fail
    assert run(["report", "-c", str(config), "--period", "current", "--fail-on", "error"]) == 1


def test_evaluate_c_takes_out_frameworks_and_waivers_from_the_file(
    estate: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(estate)
    assert run(["evaluate", "-c", str(config)]) == 0
    findings = _findings(estate / "out")
    assert {n for f in findings for n in f["requirements"]} == {"hipaa", "pci-dss-4.0.1"}  # type: ignore[attr-defined]
    assert any(f["status"] == "WAIVED" for f in findings)


def test_run_c_skip_collect_honours_the_file_and_global_options_after_it(
    estate: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(estate)
    code = run(
        ["run", "-c", str(config), "--skip-collect", "--period", "current", "--quiet",
         "--store", str(estate / "evidence")]
    )  # fmt: skip
    assert code == 0
    version = Path(_last_line(capsys))
    assert version.parent.parent == estate / "out"
    assert {n for f in _findings(version) for n in f["requirements"]} == {"hipaa", "pci-dss-4.0.1"}  # type: ignore[attr-defined]


def test_plan_report_resolves_each_setting_by_the_one_rule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Per setting: the file's value (paths against its folder) unless the option is given."""
    config = load_config(
        _config(tmp_path, "  sign: {key: k.pem, cert: c.pem, passphrase_env: MY_PASS}\n")
    )
    monkeypatch.setenv("MY_PASS", "s3cret")
    monkeypatch.delenv("AUDITOR_STORE", raising=False)
    none = settings.NOT_GIVEN
    cases = {
        "store.url": ("--store", "/opt/store", "store_url", str(tmp_path / "evidence"), "/opt/store"),
        "frameworks": ("--frameworks", ["gdpr"], "frameworks", ("hipaa", "pci-dss-4.0.1"), ("gdpr",)),
        "report.out": ("--out", Path("o2"), "out", tmp_path / "out", Path("o2")),
        "report.formats": ("--formats", ["pdf"], "formats", ("html",), ("pdf",)),
        "waivers": ("--waivers", Path("w2"), "waivers", tmp_path / "waivers.yaml", Path("w2")),
        "attestations": ("--attestations", Path("a2"), "attestations", tmp_path / "attestations.yaml", Path("a2")),
        "report.fail_on": ("--fail-on", "error", "fail_on", None, "error"),
    }  # fmt: skip
    for path, (name, value, field, from_file, from_option) in cases.items():
        plan = pipeline.plan_report(config, {path: (name, none)}, date_from="2020-01-01",
                                    date_to="2020-12-31")  # fmt: skip
        assert getattr(plan, field) == from_file, path
        plan = pipeline.plan_report(config, {path: (name, value)}, date_from="2020-01-01",
                                    date_to="2020-12-31")  # fmt: skip
        assert getattr(plan, field) == from_option, path
    plan = pipeline.plan_report(config, {})
    assert plan.period.label == "2019"
    assert plan.sign.key_path == tmp_path / "k.pem" and plan.sign.cert_path == tmp_path / "c.pem"
    assert plan.sign.passphrase == "s3cret"
    plan = pipeline.plan_report(config, {"report.sign.key": ("--sign-key", Path("x.p12"))})
    assert plan.sign.key_path == Path("x.p12")
    plan = pipeline.plan_report(config, {"report.period": ("--period", "2020-Q1")})
    assert plan.period.label == "2020-Q1"


@pytest.mark.parametrize("command", ["report", "evaluate", "run"])
def test_configured_parameters_reach_the_catalog(
    command: str, estate: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """controls.params from the file: a value looser than the framework's floor is refused,
    naming the file and line, by every command that reads the file."""
    config = _config(estate).read_text() + "controls:\n  params: {min_retention_days: 30}\n"
    path = estate / "auditor.yaml"
    path.write_text(config)
    args = [command, "-c", str(path)] + (["--skip-collect"] if command == "run" else [])
    assert run(args) == 2
    line = config.splitlines().index("  params: {min_retention_days: 30}") + 1
    assert f"{path}:{line}" in capsys.readouterr().err


@pytest.mark.parametrize("option", ["--frameworks", "--formats"])
def test_an_empty_list_option_is_bad_usage_not_nothing(
    option: str, estate: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["report", "-c", str(_config(estate)), option, ""]) == 2
    assert option in capsys.readouterr().err
