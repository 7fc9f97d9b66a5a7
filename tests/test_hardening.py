"""Hostile and broken input: exit 2 with file and line (or the option), exit 3 with a sentence
when the disk or the folder says no, and no text from evidence that can reorder or drive what
people read (bidi overrides, terminal escapes)."""

from __future__ import annotations

import errno
import json
import os
import stat
import time
from pathlib import Path

import pytest

from auditor.cli import run
from auditor.resources import data_dir

SAMPLE = data_dir() / "gcp" / "sample_export.ndjson"
HOSTILE = "acme\u202eevil\x1b]0;pwned\x07\x1b[2J\x1b]8;;http://x\x07link"


def _bomb(levels: int = 9) -> str:
    lines = [
        "version: 1",
        "bomb:",
        '  a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
    ]
    for i in range(1, levels):
        lines.append(f"  a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


@pytest.fixture()
def store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    path = str(tmp_path / "store")
    assert run(["--store", path, "collect", "gcp", "--asset-export", str(SAMPLE)]) == 0
    capsys.readouterr()
    return path


# ---------------------------------------------------------------- YAML


def test_alias_bomb_in_auditor_yaml_is_exit_2_quickly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "auditor.yaml"
    config.write_text(_bomb())
    assert len(config.read_bytes()) < 600
    started = time.monotonic()
    assert run(["config", "show", "-c", str(config)]) == 2
    assert time.monotonic() - started < 5
    err = capsys.readouterr().err
    assert f"{config}:1" in err and "aliases" in err and len(err) < 300


def test_alias_bomb_in_waivers_and_in_a_param_is_refused(
    tmp_path: Path, store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    waivers = tmp_path / "w.yaml"
    waivers.write_text(_bomb().replace("version: 1", "waivers: []"))
    assert (
        run(["--store", store, "evaluate", "--waivers", str(waivers), "--out", str(tmp_path / "o")])
        == 2
    )
    assert "aliases" in capsys.readouterr().err
    param = "x=" + _bomb().replace("\n", "\n")
    assert run(["controls", "show", "ML-DATA-061", "--param", param]) == 2


def test_a_rejected_value_is_never_rendered_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "auditor.yaml"
    config.write_text("version: 1\norganisation:\n  name: [" + ", ".join(["x" * 40] * 5000) + "]\n")
    assert run(["config", "show", "-c", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"{config}:3" in err and "organisation.name" in err and len(err) < 400


@pytest.mark.parametrize(
    "value", ["2026-02-30", '!!int "abc"', '!!timestamp "x"', "!!python/object:os.system x"]
)
def test_bad_dates_and_tags_in_waivers_and_attestations_are_exit_2_with_line(
    value: str, tmp_path: Path, store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    waivers = tmp_path / "w.yaml"
    waivers.write_text(
        "waivers:\n  - control: ML-DATA-051\n    justification: x\n    approved_by: y\n"
        f"    expires: {value}\n"
    )
    attestations = tmp_path / "a.yaml"
    attestations.write_text(
        'attestations:\n  - requirement: "gdpr:Art. 30"\n    statement: s\n    attested_by: y\n'
        f"    date: {value}\n    valid_until: 2099-01-01\n"
    )
    out = str(tmp_path / "o")
    assert run(["--store", store, "evaluate", "--waivers", str(waivers), "--out", out]) == 2
    err = capsys.readouterr().err
    assert f"{waivers}:5" in err and "Traceback" not in err and "internal error" not in err
    assert (
        run(["--store", store, "evaluate", "--attestations", str(attestations), "--out", out]) == 2
    )
    err = capsys.readouterr().err
    assert f"{attestations}:5" in err and "internal error" not in err


def test_invalid_date_in_auditor_yaml_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "auditor.yaml"
    config.write_text("version: 1\nreport:\n  period: 2026-02-30\n")
    assert run(["config", "show", "-c", str(config)]) == 2
    assert f"{config}:3: not a valid date" in capsys.readouterr().err


def test_empty_waiver_resources_are_refused(
    tmp_path: Path, store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    waivers = tmp_path / "w.yaml"
    waivers.write_text(
        "waivers:\n  - control: ML-DATA-051\n    resources: []\n    justification: x\n"
        "    approved_by: y\n    expires: 2099-01-01\n"
    )
    assert (
        run(["--store", store, "evaluate", "--waivers", str(waivers), "--out", str(tmp_path / "o")])
        == 2
    )
    err = capsys.readouterr().err
    assert f"{waivers}:3" in err and "omit the key" in err


# ---------------------------------------------------------------- rules


def _override(tmp_path: Path, rule: str) -> Path:
    source = Path(__file__).resolve().parents[1] / "controls" / "data" / "gcp-vertex-data.yaml"
    text = source.read_text()
    start = text.index("  - id: ML-DATA-061")
    end = text.index("  - id: ML-DATA-062")
    control = text[start:end].replace(
        "rule: encryptionSpec.kmsKeyName", f"rule: {json.dumps(rule)}"
    )
    folder = tmp_path / "own"
    folder.mkdir()
    (folder / "data").mkdir()
    (folder / "data" / "gcp-override.yaml").write_text("controls:\n" + control)
    return folder


@pytest.mark.parametrize(
    ("rule", "words"),
    [("(" * 1000 + "a" + ")" * 1000, "nested"), ("no_such_fn(encryptionSpec)", "unknown function")],
)
def test_deep_or_unknown_function_rules_are_refused_at_load(
    rule: str, words: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _override(tmp_path, rule)
    assert run(["--controls", str(folder), "controls", "validate"]) == 2
    err = capsys.readouterr().err
    assert "gcp-override.yaml" in err and words in err and "internal error" not in err


# ---------------------------------------------------------------- output folders and the disk


@pytest.mark.parametrize("kind", ["file", "devnull", "empty", "under-file"])
def test_bad_out_is_exit_2_naming_the_option(
    kind: str, tmp_path: Path, store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    out = {"file": str(a_file), "devnull": os.devnull, "empty": "",
           "under-file": str(a_file / "reports")}[kind]  # fmt: skip
    for command in (["evaluate"], ["report", "--formats", "html"]):
        assert run(["--store", store, *command, "--out", out]) == 2
        assert "--out" in capsys.readouterr().err
    assert a_file.read_text() == "x"


def test_store_under_a_file_is_exit_3_with_a_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    code = run(["--store", str(a_file / "store"), "collect", "gcp", "--asset-export", str(SAMPLE)])
    assert code == 3
    err = capsys.readouterr().err
    assert "internal error" not in err and "a file is in the way" in err


def test_disk_full_is_exit_3_with_a_sentence(
    tmp_path: Path, store: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(args[0]))

    monkeypatch.setattr(os, "replace", full)
    assert run(["--store", store, "evaluate", "--out", str(tmp_path / "o")]) == 3
    err = capsys.readouterr().err
    assert "the disk is full" in err and "internal error" not in err


# ---------------------------------------------------------------- report versions


def test_stray_v1_file_is_skipped_never_overwritten_and_modes_ignore_the_umask(
    tmp_path: Path, store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "reports"
    args = ["--store", store, "report", "--from", "2019-01-01", "--to", "2099-12-31",
            "--formats", "html", "--out", str(out)]  # fmt: skip
    period = out / "2019-01-01_2099-12-31"
    assert run(args) == 0
    first = Path(capsys.readouterr().out.strip().splitlines()[-1])
    period = first.parent
    (period / "v2").write_text("not a report")
    (period / "v3").mkdir()  # an empty folder: not a version either
    old = os.umask(0)
    try:
        assert run(args) == 0
    finally:
        os.umask(old)
    version = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert version.name == "v4"
    assert (period / "v2").read_text() == "not a report"
    assert stat.S_IMODE(version.stat().st_mode) == 0o750
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in version.iterdir()}
    assert modes and set(modes.values()) == {0o640}, modes
    manifest = json.loads((version / "manifest.json").read_text())
    assert manifest["supersedes"]  # v1 is the real previous version


# ---------------------------------------------------------------- hostile text


def _hostile_export(tmp_path: Path) -> Path:
    lines = SAMPLE.read_text().splitlines()
    target = tmp_path / "hostile.ndjson"
    target.write_text("\n".join(line.replace("acme-ml-sandbox", HOSTILE.replace("\x1b", "\\u001b").replace("\x07", "\\u0007").replace("\u202e", "\\u202e")) for line in lines) + "\n")  # fmt: skip
    return target


def _assert_neutral(text: str) -> None:
    for char in ("\x1b", "\x07", "\u202e"):
        assert char not in text
    assert "\\u202e" in text and "\\u001b" in text


def test_bidi_and_escapes_are_neutralised_in_csv_html_and_diff(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = str(tmp_path / "store")
    assert (
        run(["--store", store, "collect", "gcp", "--asset-export", str(_hostile_export(tmp_path))])
        == 0
    )
    capsys.readouterr()
    code = run(["--store", store, "report", "--from", "2019-01-01", "--to", "2099-12-31",
                "--formats", "html", "--out", str(tmp_path / "r")])  # fmt: skip
    assert code == 0
    version = Path(capsys.readouterr().out.strip().splitlines()[-1])
    findings = json.loads((version / "findings.json").read_text())["findings"]
    assert any(HOSTILE in (f["resource_id"] or "") for f in findings)  # data stays data
    _assert_neutral((version / "findings.csv").read_text())
    _assert_neutral((version / "report.html").read_text())
    # diff: a clean evaluation against the hostile one prints the names neutralised
    clean = str(tmp_path / "clean-store")
    assert run(["--store", clean, "collect", "gcp", "--asset-export", str(SAMPLE)]) == 0
    assert run(["--store", clean, "evaluate", "--out", str(tmp_path / "clean")]) == 0
    capsys.readouterr()
    assert run(["diff", str(tmp_path / "clean"), str(version)]) == 0
    _assert_neutral(capsys.readouterr().out)


def test_bidi_and_escapes_are_neutralised_in_the_pdf(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pypdf import PdfReader

    store = str(tmp_path / "store")
    assert (
        run(["--store", store, "collect", "gcp", "--asset-export", str(_hostile_export(tmp_path))])
        == 0
    )
    code = run(["--store", store, "report", "--from", "2019-01-01", "--to", "2099-12-31",
                "--formats", "pdf", "--frameworks", "gdpr", "--out", str(tmp_path / "r")])  # fmt: skip
    assert code == 0
    version = Path(capsys.readouterr().out.strip().splitlines()[-1])
    text = "".join(page.extract_text() or "" for page in PdfReader(version / "report.pdf").pages)
    assert "\u202e" not in text and "\x1b" not in text
    assert "\\u202e" in text.replace("\n", "")
