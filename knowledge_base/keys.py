"""Key files of the update signatures: generate them, read signers and verifiers from them.

Two kinds of key file, told apart by their content:

* Ed25519 (PEM): the publisher's private key (``-----BEGIN PRIVATE KEY-----``, PKCS#8) signs;
  receivers hold only the public key (``-----BEGIN PUBLIC KEY-----``), which verifies but
  cannot sign. A private key is refused where a verifier is wanted: it belongs to the publisher.
* HMAC-SHA256: any other content is a shared secret (its bytes, surrounding whitespace stripped,
  at least 16). Every holder can both sign and verify.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from knowledge_base.errors import KnowledgeBaseError
from knowledge_base.update import (
    MIN_HMAC_KEY_BYTES,
    Ed25519Signer,
    Ed25519Verifier,
    HmacSigner,
    HmacVerifier,
    Signer,
    Verifier,
)

ALGORITHMS = ("ed25519", "hmac")
_PEM = b"-----BEGIN "
_PUBLIC_PEM = b"-----BEGIN PUBLIC KEY-----"


def _pem_loaders():
    """(load_pem_private_key, load_pem_public_key, the errors they raise on a key they cannot read)."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    errors = (ValueError, TypeError, UnsupportedAlgorithm, KnowledgeBaseError)
    return serialization.load_pem_private_key, serialization.load_pem_public_key, errors


def _hmac_secret(data: bytes, source: str) -> bytes:
    key = data.strip()
    if len(key) < MIN_HMAC_KEY_BYTES:
        raise KnowledgeBaseError(f"the HMAC key in {source} is {len(key)} bytes; it must be at least {MIN_HMAC_KEY_BYTES}")
    return key


def signer_from_bytes(data: bytes, source: str) -> Signer:
    """The signer a key file's content holds: an Ed25519 private key (PEM) or an HMAC secret."""
    if not data.lstrip().startswith(_PEM):
        return HmacSigner(_hmac_secret(data, source))
    if data.lstrip().startswith(_PUBLIC_PEM):
        raise KnowledgeBaseError(
            f"{source} is an Ed25519 public key: it verifies updates but cannot sign them; "
            "signing needs the publisher's private key"
        )
    load_private, _, errors = _pem_loaders()
    try:
        return Ed25519Signer(load_private(data, password=None))
    except errors:
        raise KnowledgeBaseError(f"{source} is not an unencrypted Ed25519 private key") from None


def verifier_from_bytes(data: bytes, source: str) -> Verifier:
    """The verifier a key file's content holds: an Ed25519 public key (PEM) or an HMAC secret."""
    if not data.lstrip().startswith(_PEM):
        return HmacVerifier(_hmac_secret(data, source))
    if not data.lstrip().startswith(_PUBLIC_PEM):
        raise KnowledgeBaseError(
            f"{source} is not an Ed25519 public key; receivers check updates with the publisher's "
            "public key (the .pub file), the private key stays with the publisher"
        )
    _, load_public, errors = _pem_loaders()
    try:
        return Ed25519Verifier(load_public(data))
    except errors:
        raise KnowledgeBaseError(f"{source} is not an Ed25519 public key") from None


def read_key_file(path: str | os.PathLike) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise KnowledgeBaseError(f"cannot read key file {str(path)!r}: {err.strerror}") from None


def _write_new(path: Path, data: bytes, mode: int) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise KnowledgeBaseError(f"{path} already exists; pick another name or remove it") from None
    except OSError as err:
        raise KnowledgeBaseError(f"cannot write {path}: {err.strerror}") from None
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def generate_keys(algorithm: str, prefix: str | os.PathLike) -> dict[str, Path]:
    """Write a new key: ``PREFIX.key`` (private or shared secret, mode 0600) and, for Ed25519,
    ``PREFIX.pub`` (the public key to hand to receivers). Returns ``{"private"|"secret", "public"}``
    paths; existing files are never overwritten."""
    if algorithm not in ALGORITHMS:
        raise KnowledgeBaseError(f"unknown signature algorithm {algorithm!r}; known: {', '.join(ALGORITHMS)}")
    prefix = Path(prefix)
    key_path = prefix.with_name(prefix.name + ".key")
    if algorithm == "hmac":
        _write_new(key_path, (secrets.token_hex(32) + "\n").encode("ascii"), 0o600)
        return {"secret": key_path}
    signer = Ed25519Signer.generate()
    pub_path = prefix.with_name(prefix.name + ".pub")
    if pub_path.exists():
        raise KnowledgeBaseError(f"{pub_path} already exists; pick another name or remove it")
    _write_new(key_path, signer.private_pem(), 0o600)
    _write_new(pub_path, signer.public_pem(), 0o644)
    return {"private": key_path, "public": pub_path}
