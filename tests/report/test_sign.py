"""PAdES signing with pyHanko: a signed report verifies (with the signer named), keeps its
PDF/A-3b identification and attachments, and any change after signing fails verification."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from auditor.errors import UserError
from auditor.models import ReportManifest
from auditor.report import SignOptions, verify_report, write_report
from auditor.report.sign import check_signatures, sign_pdf
from auditor.report.versions import manifest_bytes
from devtools.certs import make_signer
from devtools.report_synthetic import Synthetic

pytest.importorskip("pyhanko")


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    signer = make_signer(
        tmp_path_factory.mktemp("keys"),
        "Example Audit Signer",
        signing_ca=True,
        key_password=b"s3cret",
        p12_password=b"p12pass",
    )
    assert signer.p12 is not None
    return {"key": signer.key, "cert": signer.cert, "p12": signer.p12}


@pytest.fixture(scope="module")
def signed_dir(
    keys: dict[str, Path], synthetic: Synthetic, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    return write_report(
        synthetic.result,
        tmp_path_factory.mktemp("signed"),
        findings_json=synthetic.findings_json,
        findings_csv=synthetic.findings_csv,
        formats=("pdf",),
        sign=SignOptions(keys["key"], keys["cert"], passphrase="s3cret"),
    )


def test_signed_report_verifies_and_names_the_signer(
    signed_dir: Path, keys: dict[str, Path]
) -> None:
    manifest = json.loads((signed_dir / "manifest.json").read_bytes())
    assert manifest["signed"] is True
    outcome = verify_report(signed_dir)
    assert outcome.ok, outcome.problems
    assert any("signature intact" in n and "Example Audit Signer" in n for n in outcome.notes)
    assert any("not chained to a given trust root" in n for n in outcome.notes)
    trusted = verify_report(signed_dir, trust_roots=(keys["cert"].read_bytes(),))
    assert trusted.ok and any("(trusted)" in n for n in trusted.notes)


def test_signature_keeps_pdfa_identification_and_attachments(
    signed_dir: Path, synthetic: Synthetic
) -> None:
    reader = PdfReader(signed_dir / "report.pdf")
    xmp = root_of(reader)["/Metadata"].get_object().get_data().decode()
    assert re.search(r'pdfaid:part(="|>)3', xmp) and re.search(r'pdfaid:conformance(="|>)B', xmp)
    assert reader.attachments["findings.csv"][0] == synthetic.findings_csv
    fields = reader.get_fields() or {}
    assert "AuditorReportSignature" in fields
    sig = fields["AuditorReportSignature"]["/V"]
    assert sig["/SubFilter"] == "/ETSI.CAdES.detached"  # PAdES
    widget = root_of(reader)["/AcroForm"]["/Fields"][0].get_object()
    assert int(widget.get("/F", 0)) & 4  # print flag, as PDF/A requires of annotations


def test_pdf_changed_after_signing_fails_even_with_a_rehashed_manifest(
    signed_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "v1"
    folder.mkdir()
    for p in signed_dir.iterdir():
        (folder / p.name).write_bytes(p.read_bytes())
    pdf = (folder / "report.pdf").read_bytes()
    appended = pdf + b"\n% an incremental update added after signing\n"
    (folder / "report.pdf").write_bytes(appended)
    manifest = ReportManifest.from_dict(json.loads((folder / "manifest.json").read_bytes()))
    files = {**manifest.files, "report.pdf": hashlib.sha256(appended).hexdigest()}
    (folder / "manifest.json").write_bytes(
        manifest_bytes(ReportManifest(**{**manifest.__dict__, "files": files}))
    )
    outcome = verify_report(folder)
    assert not outcome.ok
    assert all(p.startswith("report.pdf: signature") for p in outcome.problems), outcome.problems


def test_flipped_byte_inside_the_signed_range_breaks_the_signature(signed_dir: Path) -> None:
    pdf = bytearray((signed_dir / "report.pdf").read_bytes())
    assert check_signatures(bytes(pdf)).intact
    pdf[len(pdf) // 3] ^= 0x01
    check = check_signatures(bytes(pdf))
    assert not (check.intact and check.covers_whole_file)
    assert check.problems


def test_pkcs12_signing_and_wrong_passphrase(keys: dict[str, Path], signed_dir: Path) -> None:
    unsigned = _first_revision((signed_dir / "report.pdf").read_bytes())
    signed = sign_pdf(unsigned, SignOptions(keys["p12"], passphrase=b"p12pass"))
    check = check_signatures(signed)
    assert check.present and check.intact and check.covers_whole_file
    assert "Example Audit Signer" in check.signer
    with pytest.raises(UserError, match="PKCS#12"):
        sign_pdf(unsigned, SignOptions(keys["p12"], passphrase=b"wrong"))
    with pytest.raises(UserError, match="not found"):
        sign_pdf(unsigned, SignOptions(keys["key"].with_name("missing.pem"), keys["cert"]))


def _first_revision(pdf: bytes) -> bytes:
    """The PDF as WeasyPrint wrote it: everything up to and including the first %%EOF."""
    end = pdf.index(b"%%EOF") + len(b"%%EOF")
    return pdf[: end + 1] if pdf[end : end + 1] == b"\n" else pdf[:end]


def test_unsigned_pdf_has_no_signature() -> None:
    assert not check_signatures(b"%PDF-1.7\n%%EOF\n").intact


def root_of(reader: PdfReader) -> Any:
    return reader.trailer["/Root"]
