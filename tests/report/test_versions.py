"""Version folders, manifest and verify: every file hashed, one flipped byte anywhere named,
v1 -> v2 with `supersedes`, nothing ever overwritten."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from auditor.errors import UserError
from auditor.models import ReportManifest
from auditor.report import available_formats, verify_report, write_report
from auditor.report.versions import manifest_bytes, rename_no_replace
from devtools.report_synthetic import Synthetic

FILES = ["report.html", "report.pdf", "findings.json", "findings.csv", "manifest.json"]


def test_folder_holds_exactly_the_contract_files(report_dir: Path, synthetic: Synthetic) -> None:
    assert report_dir.name == "v1" and report_dir.parent.name == "2026-Q4"
    assert sorted(p.name for p in report_dir.iterdir()) == sorted(FILES)
    manifest = json.loads((report_dir / "manifest.json").read_bytes())
    assert manifest["schema"] == "auditor.report/v1"
    assert sorted(manifest["files"]) == sorted(set(FILES) - {"manifest.json"})
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((report_dir / name).read_bytes()).hexdigest() == digest
    assert (report_dir / "findings.json").read_bytes() == synthetic.findings_json
    assert manifest["supersedes"] is None
    assert manifest["catalog_sha256"] == synthetic.result.catalog.sha256
    assert [s["id"] for s in manifest["snapshots"]] == sorted(
        (m.id for m in synthetic.result.snapshots),
        key=lambda i: next(m.finished_at for m in synthetic.result.snapshots if m.id == i),
    )
    assert re.fullmatch(r"AUD-2026-Q4-v1-[0-9a-f]{8}", manifest["report_id"])


def test_intact_folder_verifies(report_dir: Path) -> None:
    outcome = verify_report(report_dir)
    assert outcome.ok, outcome.problems
    assert outcome.problems == ()


@pytest.mark.parametrize("name", FILES)
def test_one_flipped_byte_in_any_file_is_named(report_copy: Path, name: str) -> None:
    path = report_copy / name
    data = bytearray(path.read_bytes())
    offsets = [len(data) // 2] if name != "manifest.json" else range(0, len(data), 37)
    for offset in offsets:
        tampered = bytearray(data)
        tampered[offset] ^= 0x01
        path.write_bytes(bytes(tampered))
        outcome = verify_report(report_copy)
        assert not outcome.ok, (name, offset)
        assert any(name in problem for problem in outcome.problems), (offset, outcome.problems)
    path.write_bytes(bytes(data))
    assert verify_report(report_copy).ok


def test_extra_and_missing_files_are_named(report_copy: Path) -> None:
    (report_copy / "notes.txt").write_text("added later")
    (report_copy / "findings.csv").unlink()
    problems = verify_report(report_copy).problems
    assert any(p.startswith("notes.txt: present but not listed") for p in problems)
    assert any(p.startswith("findings.csv: listed in manifest.json but missing") for p in problems)


def test_rehashed_manifest_still_fails_on_its_report_id(report_copy: Path) -> None:
    """Editing findings.json and updating its hash in the manifest breaks the report ID."""
    (report_copy / "findings.json").write_bytes(b'{"findings": []}\n')
    manifest = ReportManifest.from_dict(json.loads((report_copy / "manifest.json").read_bytes()))
    files = dict(manifest.files)
    files["findings.json"] = hashlib.sha256(b'{"findings": []}\n').hexdigest()
    forged = ReportManifest(**{**manifest.__dict__, "files": files})
    (report_copy / "manifest.json").write_bytes(manifest_bytes(forged))
    problems = verify_report(report_copy).problems
    assert problems == (f"manifest.json: content does not match report ID {manifest.report_id}",)


def test_second_version_supersedes_the_first_and_leaves_it_untouched(
    report_copy: Path, synthetic: Synthetic
) -> None:
    out = report_copy.parent.parent
    before = {p.name: p.read_bytes() for p in report_copy.iterdir()}
    v2 = write_report(
        synthetic.result,
        out,
        findings_json=synthetic.findings_json,
        findings_csv=synthetic.findings_csv,
        formats=("html",),
    )
    assert v2 == report_copy.parent / "v2"
    assert {p.name: p.read_bytes() for p in report_copy.iterdir()} == before
    m1 = json.loads(before["manifest.json"])
    m2 = json.loads((v2 / "manifest.json").read_bytes())
    assert m2["version"] == 2
    assert m2["supersedes"] == hashlib.sha256(before["manifest.json"]).hexdigest()
    assert sorted(m2["files"]) == ["findings.csv", "findings.json", "report.html"]
    html = (v2 / "report.html").read_text()
    assert m1["report_id"] in html and m2["supersedes"] in html  # document control history
    assert verify_report(v2).ok
    # Replace v1's manifest with a different, self-consistent one: v2's link breaks.
    (report_copy / "manifest.json").write_bytes(before["manifest.json"].replace(b"\n}", b"\n }"))
    problems = verify_report(v2).problems
    assert len(problems) == 1 and "supersedes" in problems[0] and "v1/manifest.json" in problems[0]


def test_a_taken_version_number_is_never_reused(tmp_path: Path, synthetic: Synthetic) -> None:
    squatter = tmp_path / "2026-Q4" / "v1"
    squatter.mkdir(parents=True)
    (squatter / "keep.txt").write_text("not ours")
    made = write_report(
        synthetic.result,
        tmp_path,
        findings_json=synthetic.findings_json,
        findings_csv=synthetic.findings_csv,
        formats=("html",),
    )
    assert made.name == "v2"
    assert (squatter / "keep.txt").read_text() == "not ours"
    assert [p.name for p in (tmp_path / "2026-Q4").iterdir() if p.name.startswith(".")] == []


def test_rename_never_replaces_even_an_empty_folder(tmp_path: Path) -> None:
    source = tmp_path / "staging"
    source.mkdir()
    (source / "a").write_text("x")
    target = tmp_path / "v1"
    target.mkdir()
    assert rename_no_replace(source, target) is False
    assert source.exists() and list(target.iterdir()) == []
    assert rename_no_replace(source, tmp_path / "v2") is True


def test_bad_inputs_are_user_errors(tmp_path: Path, synthetic: Synthetic) -> None:
    kwargs: dict[str, Any] = {
        "findings_json": synthetic.findings_json,
        "findings_csv": synthetic.findings_csv,
    }
    with pytest.raises(UserError, match="unknown report format 'docx'"):
        write_report(synthetic.result, tmp_path, formats=("docx",), **kwargs)
    with pytest.raises(UserError, match=r"signing applies to report\.pdf"):
        from auditor.report import SignOptions

        write_report(
            synthetic.result,
            tmp_path,
            formats=("html",),
            sign=SignOptions(tmp_path / "k"),
            **kwargs,
        )
    with pytest.raises(UserError, match="not valid JSON"):
        write_report(
            synthetic.result, tmp_path, formats=("html",), findings_json=b"{", findings_csv=b""
        )
    assert not any(tmp_path.rglob("v*"))
    assert available_formats() == ("html", "pdf")


def test_verify_of_a_folder_without_manifest(tmp_path: Path) -> None:
    outcome = verify_report(tmp_path)
    assert not outcome.ok and outcome.problems[0].startswith("manifest.json: cannot be read")
    shutil.rmtree(tmp_path)
    assert not verify_report(tmp_path).ok
