"""The one builder of signing keys and self-signed certificates for the tests: an organisation's
signer as PEM files, optionally encrypted, optionally also as a PKCS#12 bundle."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class Signer:
    key: Path  # PKCS#8 PEM
    cert: Path  # PEM
    p12: Path | None  # key and certificate as PKCS#12, when asked for


def _encryption(password: bytes | None) -> serialization.KeySerializationEncryption:
    if password is None:
        return serialization.NoEncryption()
    return serialization.BestAvailableEncryption(password)


def make_signer(
    folder: Path,
    name: str,
    *,
    algorithm: Literal["rsa", "ec"] = "rsa",
    signing_ca: bool = False,
    key_password: bytes | None = None,
    p12_password: bytes | None = None,
    days: int = 30,
) -> Signer:
    """A key and its self-signed certificate (common name `name`, valid from yesterday for
    `days`) written to `folder` as `<name>.key` and `<name>.pem` (and `<name>.p12` with
    `p12_password`). `signing_ca` adds the CA and key-usage extensions PDF signers check."""
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if algorithm == "rsa"
        else ec.generate_private_key(ec.SECP256R1())
    )
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=days))
    )
    if signing_ca:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=True, path_length=None), critical=True
        ).add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    cert = builder.sign(key, hashes.SHA256())
    folder.mkdir(parents=True, exist_ok=True)
    key_path, cert_path = folder / f"{name}.key", folder / f"{name}.pem"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            _encryption(key_password),
        )
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    p12_path = None
    if p12_password is not None:
        p12_path = folder / f"{name}.p12"
        p12_path.write_bytes(
            pkcs12.serialize_key_and_certificates(
                b"signer", key, cert, None, _encryption(p12_password)
            )
        )
    return Signer(key_path, cert_path, p12_path)
