"""AWS: a scope that lists nothing is not an empty estate, and operator mistakes (regions,
profiles, credentials) are exit 2 with file, line and field before anything is collected."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from aws_estate import Proxy, Request, json_error, reset

from auditor import evidence, pipeline
from auditor.cli import run
from auditor.collect.aws.scope import AwsCollector
from auditor.collect.aws.specs import SPECS
from auditor.errors import RunError


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _deny_everything_but_sts(request: Request) -> tuple[int, dict[str, str], bytes] | None:
    if request.service == "sts":
        return None
    return json_error("AccessDeniedException", f"not authorized to perform {request.target}")


def test_a_scope_that_lists_nothing_writes_no_snapshot(
    proxy: Proxy, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reset(proxy)
    folder = tmp_path / "store"
    boto3.client("logs", region_name="us-east-1").create_log_group(logGroupName="/ml/train")
    assert run(["--store", str(folder), "collect", "aws", "--regions", "us-east-1"]) == 0
    capsys.readouterr()
    before = _tree(folder)

    proxy.rules.append(_deny_everything_but_sts)
    try:
        code = run(["--store", str(folder), "collect", "aws", "--regions", "us-east-1"])
    finally:
        proxy.rules.clear()
    err = capsys.readouterr().err
    assert code == 3
    assert "aws scope listed nothing at all" in err and "AccessDenied" in err
    assert "no snapshot was written" in err
    assert _tree(folder) == before

    # an account with none of the types asked for: the same, through the pipeline
    store = evidence.open_store(str(folder))
    only = tuple(s for s in SPECS if s.resource_type == "AWS::SageMaker::Model")
    collector = AwsCollector(regions=["us-east-1"], specs=only, salt=store.redaction_salt())
    with pytest.raises(RunError, match="listed nothing at all"):
        pipeline.take_snapshot(store, collector, "c" * 64)
    assert _tree(folder) == before


def test_a_log_group_gone_is_a_real_deletion_below_the_threshold(
    proxy: Proxy, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reset(proxy)
    folder = tmp_path / "store"
    logs = boto3.client("logs", region_name="us-east-1")
    for index in range(4):
        logs.create_log_group(logGroupName=f"/ml/{index}")
    assert run(["--store", str(folder), "collect", "aws", "--regions", "us-east-1"]) == 0
    logs.delete_log_group(logGroupName="/ml/0")
    assert run(["--store", str(folder), "collect", "aws", "--regions", "us-east-1"]) == 0
    second = evidence.open_store(str(folder)).list_snapshots()[-1]
    assert second.warnings == () and not second.incomplete
    for index in range(1, 4):
        logs.delete_log_group(logGroupName=f"/ml/{index}")
    assert run(["--store", str(folder), "collect", "aws", "--regions", "us-east-1"]) == 0
    third = evidence.open_store(str(folder)).list_snapshots()[-1]
    (warning,) = third.warnings
    assert warning.resource_type == "AWS::Logs::LogGroup"
    assert (warning.previous_count, warning.count, warning.region) == (3, 0, "us-east-1")
    assert "warning: evidence missing compared with the previous snapshot" in (
        capsys.readouterr().err
    )


def _config(tmp_path: Path, aws: str) -> Path:
    path = tmp_path / "auditor.yaml"
    path.write_text(f"store:\n  url: store\naws:\n{aws}")
    return path


def test_unknown_region_is_exit_2_with_line_and_field(
    proxy: Proxy, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, "  regions:\n    - us-east-1\n    - eu-westt-1\n")
    assert run(["snapshot", "-c", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"{config}:6" in err and "aws.regions.1" in err and "eu-westt-1" in err
    assert not (tmp_path / "store").exists()
    assert run(["--store", str(tmp_path / "s2"), "collect", "aws", "--regions", "mars-1"]) == 2
    assert "unknown AWS region 'mars-1'" in capsys.readouterr().err


def test_unknown_profile_is_exit_2(
    proxy: Proxy, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, "  profile: nobody\n")
    for command in (["snapshot", "-c", str(config)], ["run", "-c", str(config)]):
        assert run(command) == 2
        err = capsys.readouterr().err
        assert "unknown AWS profile 'nobody'" in err and f"{config}:4" in err
        assert "aws.profile" in err and "internal error" not in err
    assert run(["collect", "aws", "--profile", "nobody"]) == 2
    assert "--profile" in capsys.readouterr().err


def test_source_profile_without_credentials_is_exit_2(
    proxy: Proxy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    aws_config = tmp_path / "aws-config"
    aws_config.write_text(
        "[profile parent]\nregion = us-east-1\n\n"
        "[profile child]\nrole_arn = arn:aws:iam::123456789012:role/audit\n"
        "source_profile = parent\n\n"
        "[profile keyed]\naws_access_key_id = testing\naws_secret_access_key = testing\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(aws_config))
    config = _config(tmp_path, "  profile: child\n  regions: [us-east-1]\n")
    assert run(["snapshot", "-c", str(config)]) == 2
    err = capsys.readouterr().err
    assert "AWS profile 'child' has no usable credentials" in err and "parent" in err
    assert "aws.profile" in err
    assert not (tmp_path / "store").exists()
    # a profile with keys passes the preflight (and collects from the moto server)
    pipeline.preflight_aws("keyed", ["us-east-1"])


def test_live_gcp_without_credentials_fails_before_the_aws_snapshot(
    proxy: Proxy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    reset(proxy)
    monkeypatch.delenv("AUDITOR_GCP_ASSET_ENDPOINT", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing-key.json"))
    path = tmp_path / "auditor.yaml"
    path.write_text(
        "store: {url: store}\naws: {regions: [us-east-1]}\n"
        "gcp: {enabled: true, scopes: [projects/acme-ml]}\n"
    )
    assert run(["snapshot", "-c", str(path)]) == 2
    assert "no GCP credentials" in capsys.readouterr().err
    assert not (tmp_path / "store").exists()  # the AWS snapshot was not taken first
