"""Voided snapshots are skipped by evaluate, chosen explicitly with --snapshots/--exclude; signed
manifests and void records are checked against --trust-root; S3 stores void the same way."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from store_support import bucket, write

from auditor.cli import run
from auditor.evidence import StoreSigner, open_store
from devtools.certs import make_signer

pytestmark = pytest.mark.moto(region="eu-west-1")


@pytest.fixture(scope="module")
def moto_s3(aws: str) -> Any:
    """boto3 unchanged, pointed at the moto server through AWS_ENDPOINT_URL."""
    return boto3.client("s3")


@pytest.fixture
def two(tmp_path: Path) -> tuple[Path, list[str]]:
    root = tmp_path / "store"
    store = open_store(root)
    now = datetime.now(UTC)
    ids = [
        write(store, [bucket(1)], taken_at=now - timedelta(hours=2)).id,
        write(store, [bucket(1), bucket(2)], taken_at=now - timedelta(hours=1)).id,
    ]
    return root, ids


def evaluated(root: Path, out: Path, *extra: str) -> list[str]:
    code = run(
        ["--store", str(root), "evaluate", "--frameworks", "gdpr", "--out", str(out), *extra]
    )
    assert code == 0
    document = json.loads((out / "findings.json").read_text())
    return [s["id"] for s in document["snapshots"]]


def test_evaluate_skips_voided_and_selects_explicitly(
    two: tuple[Path, list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, (old, new) = two
    period = ["--period", "current"]
    assert set(evaluated(root, tmp_path / "a", *period)) == {old, new}
    assert evaluated(root, tmp_path / "b", *period, "--exclude", new) == [old]
    assert evaluated(root, tmp_path / "c", "--snapshots", old) == [old]
    assert run(["--store", str(root), "store", "void", new, "--reason", "wrong account"]) == 0
    assert evaluated(root, tmp_path / "d", *period) == [old]
    assert evaluated(root, tmp_path / "e") == [old]  # latest per provider skips it too
    capsys.readouterr()
    base = ["--store", str(root), "evaluate", "--out", str(tmp_path / "f")]
    assert run([*base, "--snapshots", new]) == 2  # voided: refused, with the reason
    assert "wrong account" in capsys.readouterr().err
    assert run([*base, "--exclude", "no-such-id"]) == 2
    assert run(["--store", str(root), "store", "list"]) == 0
    listing = capsys.readouterr().out
    line = next(line for line in listing.splitlines() if new in line)
    assert "VOIDED: wrong account" in line
    assert run(["verify", str(root)]) == 0
    assert "vouched for only by its form (unsigned)" in capsys.readouterr().out


def test_signed_manifests_and_voids_check_against_the_trust_root(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    signer = make_signer(tmp_path, "store-signer", algorithm="ec")
    key, cert = signer.key, signer.cert
    other = make_signer(tmp_path, "someone-else", algorithm="ec").cert
    root = tmp_path / "store"
    signed = open_store(root, signer=StoreSigner(key, cert))
    first = write(signed, [bucket(1)]).id
    write(signed, [bucket(2)])
    config = tmp_path / "auditor.yaml"
    config.write_text(
        f"store:\n  url: {root}\n  sign: {{key: {key.name}, cert: {cert.name}}}\n", "utf-8"
    )
    assert run(["store", "void", first, "--reason", "test run", "-c", str(config)]) == 0
    sigs = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.sig"))
    assert len(sigs) == 3 and any(s.startswith("voids/") for s in sigs)
    capsys.readouterr()
    assert run(["verify", str(root), "--trust-root", str(cert)]) == 0
    assert "signed by CN=store-signer" in capsys.readouterr().out
    assert run(["verify", str(root), "--trust-root", str(other)]) == 1
    assert "no given trust root vouches for" in capsys.readouterr().err
    # A signature moved onto other bytes, or a changed signature file, is named.
    sig = root / sigs[-1]
    original = sig.read_bytes()
    doc = json.loads(original)
    doc["sha256"] = "0" * 64
    sig.write_bytes(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode())
    assert run(["verify", str(root), "--trust-root", str(cert)]) == 1
    assert sigs[-1] in capsys.readouterr().err
    sig.write_bytes(original)
    # Without signatures, a trust root cannot be satisfied.
    plain = tmp_path / "plain"
    write(open_store(plain), [bucket(1)])
    assert run(["verify", str(plain), "--trust-root", str(cert)]) == 1
    assert "newest manifest is not signed" in capsys.readouterr().err


def test_void_on_s3(moto_s3: Any, capsys: pytest.CaptureFixture[str]) -> None:
    name = "evidence-void"
    moto_s3.create_bucket(
        Bucket=name,
        CreateBucketConfiguration={"LocationConstraint": "eu-west-1"},
        ObjectLockEnabledForBucket=True,
    )
    url = f"s3://{name}/audit"
    store = open_store(url)
    first = write(store, [bucket(1)]).id
    write(store, [bucket(2)])
    assert run(["--store", url, "store", "void", first, "--reason", "sandbox"]) == 0
    assert run(["--store", url, "store", "void", "missing", "--reason", "x"]) == 2
    assert open_store(url).voided()[first]["reason"] == "sandbox"
    keys = [k["Key"] for k in moto_s3.list_objects_v2(Bucket=name)["Contents"]]
    void_key = next(k for k in keys if k.startswith("audit/voids/"))
    head = moto_s3.head_object(Bucket=name, Key=void_key)
    assert head.get("ObjectLockRetainUntilDate") is not None  # the record is retained
    assert run(["verify", url]) == 0
    body = moto_s3.get_object(Bucket=name, Key=void_key)["Body"].read()
    moto_s3.put_object(Bucket=name, Key=void_key, Body=body.replace(b"sandbox", b"sandbux"))
    capsys.readouterr()
    assert run(["verify", url]) == 1
    assert "voids/" in capsys.readouterr().err


def test_pkcs12_key_with_passphrase_env_and_a_missing_key_is_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    signer = make_signer(tmp_path, "p12-signer", algorithm="ec", p12_password=b"s3cret")
    assert signer.p12 is not None
    signer.p12.rename(tmp_path / "signer.p12")
    cert = signer.cert
    root = tmp_path / "store"
    first = write(open_store(root), [bucket(1)]).id
    config = tmp_path / "auditor.yaml"
    config.write_text(
        f"store:\n  url: {root}\n  sign: {{key: signer.p12, passphrase_env: STORE_PASS}}\n", "utf-8"
    )
    monkeypatch.setenv("STORE_PASS", "wrong")
    assert run(["store", "void", first, "--reason", "x", "-c", str(config)]) == 2
    assert "signer.p12" in capsys.readouterr().err and not (root / "voids").exists()
    monkeypatch.setenv("STORE_PASS", "s3cret")
    assert run(["store", "void", first, "--reason", "test run", "-c", str(config)]) == 0
    assert list((root / "voids").glob("*.json.sig"))
    assert run(["verify", str(root), "--trust-root", str(cert)]) == 1  # the manifest is unsigned
    err = capsys.readouterr().err
    assert "newest manifest is not signed" in err and "voids/" not in err
