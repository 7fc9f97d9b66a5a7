"""Optional PAdES signing of report.pdf with pyHanko (extra `sign`), and checking it.

The signature is an incremental update appended to the PDF/A-3b file: the original bytes, the
XMP metadata with `pdfaid:part=3`, `conformance=B` and the attachments are untouched; pyHanko adds
an invisible signature field (print flag set, as PDF/A requires for annotations) and its
AcroForm. pyHanko does not re-validate PDF/A, so a strict validator may still comment on the
signature dictionary; see the report package docs.
"""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

from auditor.errors import RunError, UserError

FIELD_NAME = "AuditorReportSignature"


@dataclass(frozen=True)
class SignOptions:
    """Key and certificate as PEM files, or `key_path` a PKCS#12 (.p12/.pfx) file holding both
    (then `cert_path` may be None)."""

    key_path: Path
    cert_path: Path | None = None
    passphrase: bytes | str | None = None
    reason: str = "Audit report issued"
    location: str | None = None


@dataclass(frozen=True)
class SignatureCheck:
    present: bool
    intact: bool
    covers_whole_file: bool
    trusted: bool
    signer: str
    problems: tuple[str, ...]


def _pyhanko() -> Any:
    try:
        from pyhanko.sign import signers
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise UserError("signing needs pyHanko: pip install 'auditor[sign]'", field="sign") from exc
    return signers


def _passphrase(value: bytes | str | None) -> bytes | None:
    return value.encode("utf-8") if isinstance(value, str) else value


def load_signer(options: SignOptions) -> Any:
    signers = _pyhanko()
    for path in (options.key_path, options.cert_path):
        if path is not None and not Path(path).is_file():
            raise UserError(f"{path}: signing key or certificate file not found", field="sign")
    is_pkcs12 = options.cert_path is None or Path(options.key_path).suffix.lower() in (
        ".p12",
        ".pfx",
    )
    if is_pkcs12:
        try:
            signer = signers.SimpleSigner.load_pkcs12_data(
                Path(options.key_path).read_bytes(),
                other_certs=(),
                passphrase=_passphrase(options.passphrase),
            )
        except ValueError as exc:
            raise UserError(
                f"{options.key_path}: not a PKCS#12 file this passphrase opens: {exc}", field="sign"
            ) from exc
    else:
        signer = signers.SimpleSigner.load(
            str(options.key_path),
            str(options.cert_path),
            key_passphrase=_passphrase(options.passphrase),
        )
    if signer is None:
        raise UserError(
            f"{options.key_path}: could not load the signing key and certificate "
            "(PEM key and certificate, or PKCS#12, with the right passphrase)",
            field="sign",
        )
    return signer


def sign_pdf(pdf: bytes, options: SignOptions) -> bytes:
    """The PDF with a PAdES baseline-B signature appended as an incremental update."""
    signers = _pyhanko()
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign.fields import SigFieldSpec, SigSeedSubFilter

    signer = load_signer(options)
    writer = IncrementalPdfFileWriter(BytesIO(pdf))
    metadata = signers.PdfSignatureMetadata(
        field_name=FIELD_NAME,
        reason=options.reason,
        location=options.location,
        subfilter=SigSeedSubFilter.PADES,
    )
    output = BytesIO()
    try:
        signers.sign_pdf(
            writer,
            metadata,
            signer=signer,
            new_field_spec=SigFieldSpec(sig_field_name=FIELD_NAME),
            output=output,
        )
    except Exception as exc:
        raise RunError(f"signing report.pdf failed: {exc}") from exc
    return output.getvalue()


def check_signatures(pdf: bytes, trust_roots: tuple[bytes, ...] = ()) -> SignatureCheck:
    """Integrity of every embedded signature; trust only against `trust_roots` (DER or PEM)."""
    try:
        from pyhanko.pdf_utils.reader import PdfFileReader
        from pyhanko.sign.validation import validate_pdf_signature
        from pyhanko_certvalidator import ValidationContext
    except ImportError:  # pragma: no cover - depends on the installed extras
        return SignatureCheck(True, False, False, False, "", ("pyHanko is not installed",))
    from asn1crypto import pem, x509

    problems: list[str] = []
    try:
        reader = PdfFileReader(BytesIO(pdf), strict=False)
        embedded = list(reader.embedded_signatures)
    except Exception as exc:
        return SignatureCheck(True, False, False, False, "", (f"unreadable PDF: {exc}",))
    if not embedded:
        return SignatureCheck(False, False, False, False, "", ("no signature found",))
    roots = []
    for blob in trust_roots:
        der = pem.unarmor(blob)[2] if pem.detect(blob) else blob
        roots.append(x509.Certificate.load(der))
    context = ValidationContext(trust_roots=roots)  # no OS trust store: only the roots given
    intact = covers = trusted = True
    signer = ""
    for signature in embedded:
        try:
            status = validate_pdf_signature(signature, context)
        except Exception as exc:
            problems.append(f"signature {signature.field_name}: cannot be validated: {exc}")
            intact = covers = trusted = False
            continue
        signer = status.signing_cert.subject.human_friendly if status.signing_cert else ""
        if not (status.intact and status.valid):
            intact = False
            problems.append(f"signature {signature.field_name}: signed bytes were changed")
        if status.coverage is None or status.coverage.name != "ENTIRE_FILE":
            covers = False
            problems.append(
                f"signature {signature.field_name}: the file was changed after signing "
                f"(coverage {getattr(status.coverage, 'name', 'unknown')})"
            )
        if not status.trusted:
            trusted = False
    return SignatureCheck(True, intact, covers, trusted, signer, tuple(problems))
