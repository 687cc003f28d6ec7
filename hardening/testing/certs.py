"""Self-signed certificates for test servers (the local backend's TLS, the TLS tests)."""

from __future__ import annotations

import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def self_signed(days: int = 30) -> tuple[bytes, bytes]:
    """A self-signed certificate for ``localhost`` and its unencrypted key, both PEM.

    Args:
        days: valid until this many days from now; a negative number gives a certificate
            that expired then (valid from a day before).

    Example::

        cert, key = self_signed()
        Path("server.crt").write_bytes(cert)
    """
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    start = now - datetime.timedelta(minutes=5) if days > 0 else now + datetime.timedelta(days - 1)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(now + datetime.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    pem_key = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), pem_key
