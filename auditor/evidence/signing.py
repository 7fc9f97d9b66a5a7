"""Detached signatures over store records (manifests, void records), like CloudTrail digest files.

The newest manifest has no successor whose hash vouches for it; a signature does. The signed
string is `auditor.store-signature/v1\\n<key>\\n<sha256 of the record's bytes>`, so a signature
cannot be moved to another record. Key material is the same as for signing reports: an X.509 PEM
key and certificate, or one PKCS#12 file (`cryptography`, installed with the `sign` extra).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor.errors import UserError
from auditor.models import canonical_json, sha256_hex

SIGNATURE_SCHEMA = "auditor.store-signature/v1"
MAX_SIGNATURE_BYTES = 64 * 1024


@dataclass(frozen=True)
class StoreSigner:
    """Where the signing key is: PEM key + certificate, or `key_path` a .p12/.pfx alone."""

    key_path: Path
    cert_path: Path | None = None
    passphrase: bytes | str | None = None


@dataclass(frozen=True)
class SignatureCheck:
    intact: bool  # the signature is over these bytes at this key, by the embedded certificate
    trusted: bool  # that certificate is a trust root or directly issued by one
    signer: str
    problem: str | None = None


def _crypto() -> Any:
    try:
        from cryptography import x509
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise UserError(
            "signing the store needs cryptography: pip install 'auditor[sign]'", field="store.sign"
        ) from exc
    return x509


def _message(key: str, data: bytes) -> bytes:
    return f"{SIGNATURE_SCHEMA}\n{key}\n{sha256_hex(data)}".encode()


def load_key(signer: StoreSigner) -> tuple[Any, Any]:
    """(private key, certificate); UserError naming the file when they cannot be loaded."""
    _crypto()
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import load_pem_private_key, pkcs12

    passphrase = (
        signer.passphrase.encode("utf-8")
        if isinstance(signer.passphrase, str)
        else signer.passphrase
    )
    for path in (signer.key_path, signer.cert_path):
        if path is not None and not Path(path).is_file():
            raise UserError(f"{path}: store signing key or certificate file not found")
    key_bytes = Path(signer.key_path).read_bytes()
    try:
        if signer.cert_path is None or Path(signer.key_path).suffix.lower() in (".p12", ".pfx"):
            key, cert, _extra = pkcs12.load_key_and_certificates(key_bytes, passphrase)
        else:
            key = load_pem_private_key(key_bytes, passphrase)
            cert = x509.load_pem_x509_certificate(Path(signer.cert_path).read_bytes())
    except (ValueError, TypeError) as exc:
        raise UserError(
            f"{signer.key_path}: could not load the store signing key and certificate "
            f"(PEM key and certificate, or PKCS#12, with the right passphrase): {exc}"
        ) from exc
    if key is None or cert is None:
        raise UserError(f"{signer.key_path}: holds no key and certificate")
    return key, cert


def _sign(private_key: Any, message: bytes) -> tuple[str, bytes]:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

    if isinstance(private_key, rsa.RSAPrivateKey):
        return "rsa-pkcs1v15-sha256", private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        return "ecdsa-sha256", private_key.sign(message, ec.ECDSA(hashes.SHA256()))
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        return "ed25519", private_key.sign(message)
    raise UserError(f"store signing key type {type(private_key).__name__} is not supported")


def signature_for(key: str, data: bytes, loaded: tuple[Any, Any]) -> bytes:
    """The `.sig` file's bytes for the record `data` stored at `key`."""
    from cryptography.hazmat.primitives.serialization import Encoding

    private_key, cert = loaded
    algorithm, signature = _sign(private_key, _message(key, data))
    return canonical_json(
        {
            "schema": SIGNATURE_SCHEMA,
            "key": key,
            "sha256": sha256_hex(data),
            "algorithm": algorithm,
            "signature": base64.b64encode(signature).decode("ascii"),
            "certificate": cert.public_bytes(Encoding.PEM).decode("ascii"),
        }
    )


def check_signature(
    key: str, data: bytes, sig: bytes, trust_roots: tuple[bytes, ...] = ()
) -> SignatureCheck:
    """Is `sig` a signature over `data` at `key`; is its certificate trusted by `trust_roots`?"""
    _crypto()
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

    try:
        raw = json.loads(sig)
        if not isinstance(raw, dict) or raw.get("schema") != SIGNATURE_SCHEMA:
            raise ValueError("not a store signature")
        if canonical_json(raw) != sig:
            raise ValueError("not in its canonical form")
        cert = x509.load_pem_x509_certificate(str(raw["certificate"]).encode())
        signature = base64.b64decode(str(raw["signature"]), validate=True)
    except (ValueError, KeyError, TypeError) as exc:
        return SignatureCheck(False, False, "", f"signature file is unreadable ({exc})")
    signer = cert.subject.rfc4514_string()
    if raw.get("key") != key or raw.get("sha256") != sha256_hex(data):
        return SignatureCheck(False, False, signer, "signature is for other bytes: modified")
    public = cert.public_key()
    message = _message(key, data)
    try:
        if isinstance(public, rsa.RSAPublicKey):
            public.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        elif isinstance(public, ed25519.Ed25519PublicKey):
            public.verify(signature, message)
        else:
            return SignatureCheck(False, False, signer, "unsupported key type")
    except InvalidSignature:
        return SignatureCheck(False, False, signer, "signature does not verify: modified")
    return SignatureCheck(True, _trusted(cert, trust_roots), signer)


def _trusted(cert: Any, trust_roots: tuple[bytes, ...]) -> bool:
    from cryptography import x509

    for blob in trust_roots:
        try:
            roots = (
                x509.load_pem_x509_certificates(blob)
                if b"-----BEGIN" in blob
                else [x509.load_der_x509_certificate(blob)]
            )
        except ValueError:
            continue
        if any(root == cert or _issued_by(cert, root) for root in roots):
            return True
    return False


def _issued_by(cert: Any, root: Any) -> bool:
    from cryptography.exceptions import InvalidSignature

    try:
        cert.verify_directly_issued_by(root)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True
