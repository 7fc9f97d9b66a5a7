"""The CLI faces the README documents, run in-process on the bundled GCP sample (no cloud)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditor.cli import run
from auditor.resources import data_dir
from devtools.certs import make_signer

SAMPLE = data_dir() / "gcp" / "sample_export.ndjson"


@pytest.fixture()
def store(tmp_path: Path) -> str:
    return str(tmp_path / "store")


def collect(store: str, capsys: pytest.CaptureFixture[str], export: Path = SAMPLE) -> str:
    assert run(["--store", store, "collect", "gcp", "--asset-export", str(export)]) == 0
    return capsys.readouterr().out.strip().splitlines()[-1]


def test_collect_evaluate_writes_the_contract_files(
    tmp_path: Path, store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    snapshot_id = collect(store, capsys)
    assert "-gcp-" in snapshot_id
    out = tmp_path / "out"
    code = run(
        ["--store", store, "evaluate", "--snapshot", snapshot_id, "--frameworks", "gdpr",
         "--out", str(out), "--format", "findings", "--format", "summaries"]
    )  # fmt: skip
    assert code == 0
    document = json.loads((out / "findings.json").read_text())
    assert document["schema"] == "auditor.findings/v1"
    assert document["snapshots"][0]["id"] == snapshot_id
    assert {f["status"] for f in document["findings"]} >= {"PASS", "FAIL", "MANUAL"}
    assert all(set(f["requirements"]) <= {"gdpr"} for f in document["findings"])
    header = (out / "findings.csv").read_text().splitlines()[0]
    assert header.startswith("control_id,control_title,stage,severity,status")
    assert list(out.glob("summary-*.csv"))


def test_fail_on_gate_exits_1(
    tmp_path: Path, store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    collect(store, capsys)
    args = ["--store", store, "evaluate", "--out", str(tmp_path / "o")]
    assert run(args) == 0
    assert run([*args, "--fail-on", "fail"]) == 1


def test_period_without_snapshots_is_exit_3(
    tmp_path: Path, store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    collect(store, capsys)
    code = run(["--store", store, "evaluate", "--period", "2019-Q1", "--out", str(tmp_path / "o")])
    assert code == 3
    assert "no snapshots in period 2019-Q1" in capsys.readouterr().err


def test_from_to_period(tmp_path: Path, store: str, capsys: pytest.CaptureFixture[str]) -> None:
    collect(store, capsys)
    code = run(
        ["--store", store, "evaluate", "--from", "2019-01-01", "--to", "2099-12-31",
         "--out", str(tmp_path / "o")]
    )  # fmt: skip
    assert code == 0 and (tmp_path / "o" / "findings.json").is_file()


def test_malformed_waivers_are_exit_2_with_file_and_line(
    tmp_path: Path, store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    collect(store, capsys)
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text(
        "waivers:\n  - control: ML-DATA-051\n    justification: x\n    approved_by: y\n"
    )
    code = run(
        ["--store", store, "evaluate", "--waivers", str(waivers), "--out", str(tmp_path / "o")]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert f"{waivers}:2" in err and "expires" in err
    assert "Traceback" not in err
    assert not (tmp_path / "o" / "findings.json").exists()


def test_diff_between_two_evaluations(
    tmp_path: Path, store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from auditor.demo import gcp_estate

    collect(store, capsys, gcp_estate.export_for_week(1, tmp_path / "w1"))
    assert run(["--store", store, "evaluate", "--out", str(tmp_path / "old")]) == 0
    collect(store, capsys, gcp_estate.export_for_week(13, tmp_path / "w13"))
    assert run(["--store", store, "evaluate", "--out", str(tmp_path / "new")]) == 0
    capsys.readouterr()
    assert run(["diff", str(tmp_path / "old"), str(tmp_path / "new"), "--format", "json"]) == 0
    changes = json.loads(capsys.readouterr().out)
    resolved = json.dumps(changes["resolved_failures"])
    assert "acme-ml-sandbox" in resolved  # the public bucket binding removed in week 5
    assert changes["new_resources"]  # an endpoint appears in week 7


def test_collect_gcp_needs_exactly_one_source(
    store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["--store", store, "collect", "gcp"]) == 2
    code = run(["--store", store, "collect", "gcp", "--scope", "projects/x", "--asset-export", "f"])
    assert code == 2


def test_permissions_are_read_only(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["permissions", "aws"]) == 0
    policy = json.loads(capsys.readouterr().out)
    actions = [
        a
        for s in policy["Statement"]
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    ]
    assert "sagemaker:DescribeTrainingJob" in actions
    writes = ("Create", "Put", "Delete", "Update", "Tag", "Start", "Stop")
    assert not [a for a in actions if a.split(":")[1].startswith(writes)]
    assert run(["permissions", "gcp"]) == 0
    assert "roles/cloudasset.viewer" in capsys.readouterr().out


def test_verify_of_a_missing_path_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["verify", str(tmp_path / "nothing")]) == 2


def test_signed_report_from_the_cli_verifies_and_a_flipped_byte_fails(
    tmp_path: Path, store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    collect(store, capsys)
    signer = make_signer(tmp_path, "CLI Test Signer")
    key, cert = signer.key, signer.cert
    code = run(
        ["--store", store, "report", "--from", "2019-01-01", "--to", "2099-12-31",
         "--formats", "pdf", "--frameworks", "pci-dss-4.0.1",
         "--sign-key", str(key), "--sign-cert", str(cert), "--out", str(tmp_path / "reports")]
    )  # fmt: skip
    assert code == 0
    version = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert json.loads((version / "manifest.json").read_text())["signed"] is True
    assert run(["verify", str(version), "--trust-root", str(cert)]) == 0
    assert "signed by Common Name: CLI Test Signer (trusted)" in capsys.readouterr().out
    pdf = version / "report.pdf"
    data = bytearray(pdf.read_bytes())
    data[len(data) // 2] ^= 0x01
    pdf.write_bytes(bytes(data))
    assert run(["verify", str(version)]) == 1
    assert "report.pdf" in capsys.readouterr().err


def test_verify_store_against_a_report_catches_a_rewritten_head(
    tmp_path: Path, store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    collect(store, capsys)
    collect(store, capsys)
    code = run(
        ["--store", store, "report", "--from", "2019-01-01", "--to", "2099-12-31",
         "--formats", "html", "--out", str(tmp_path / "reports")]
    )  # fmt: skip
    assert code == 0
    version = capsys.readouterr().out.strip().splitlines()[-1]
    assert run(["verify", store, "--report", version]) == 0
    # Rewrite the newest manifest in canonical form, as a careful forger would: nothing after
    # it in the chain vouches for it, but the report recorded its hash.
    from auditor.models import canonical_json

    head = sorted((Path(store) / "manifests").glob("*.json"))[-1]
    manifest = json.loads(head.read_bytes())
    manifest["tool_version"] = "0.0.0-forged"
    head.write_bytes(canonical_json(manifest))
    assert run(["verify", store, "--report", version]) == 1
    assert "differs from the one the report used" in capsys.readouterr().err
