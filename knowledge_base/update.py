"""Knowledge-base updates as compact, signed bytes, and their checked, atomic application.

Wire format (all integers big-endian)::

    offset   size  field
    0        4     magic b"SKBU"
    4        1     format version (1)
    5        1     signature algorithm: 1 = HMAC-SHA256, 2 = Ed25519
    6        1     compression of the payload: 0 = none, 1 = zlib (raw deflate), 2 = lzma (raw LZMA2)
    7        1     flags, reserved (0)
    8        32    from-id: SHA-256 version id the diff starts from
    40       32    to-id: SHA-256 version id the diff leads to
    72       8     sequence number (1 or more, strictly increasing per sender and receiver)
    80       4     N: payload size as sent (compressed)
    84       4     payload size once decompressed
    88       N     payload (the diff, compressed)
    88+N     S     signature over bytes [0, 88+N): S = 32 (HMAC-SHA256) or 64 (Ed25519)
    88+N+S   4     CRC-32 over bytes [0, 88+N+S)

So an update costs 92 + S bytes on top of its payload (124 with HMAC, 156 with Ed25519).
The CRC tells bytes damaged on the way ("integrity") from a valid-looking update that was not
signed with the right key ("signature"); only the signature protects against an attacker.

Payload, before compression::

    u32 R, then R times:  str kind, str name                                (removed entries)
    u32 U, then U times:  str kind, str name, 32-byte blob sha256,
                          u32 M, M bytes of canonical JSON metadata         (added or changed)
    u32 B, then B times:  u32 L, L bytes of blob data                       (blobs the base lacks)

where ``str`` is a u16 byte length followed by UTF-8. A blob's hash is not sent: the receiver
computes it. An entry is "added" when the base lacks it and "changed" otherwise.

A receiver checks, in this order: length ("truncated"), structure ("malformed"), CRC
("integrity"), signature ("signature"), sequence against its replay counter ("replay"), from-id
against its head ("base-mismatch"), then rebuilds the target manifest and checks that every blob
is there and that the manifest hashes to to-id ("hash-mismatch"). Only then, in one SQLite
transaction, it stores the blobs and the version, moves its head and raises its counter to the
update's sequence number.

The replay counter lives in the receiver's store (:attr:`KnowledgeBase.last_sequence`): 0 for a
fresh store, so the first update may carry any number from 1; every later one must carry a larger
number than the last accepted. No update and no caller of :func:`apply_update` can lower it; only
:meth:`KnowledgeBase.reset_sequence`, an audited administrator's act, can.

Signatures: HMAC-SHA256 uses one secret that sender and receivers share, so any holder of it can
also forge updates for all the others. Ed25519 lets only the publisher sign (private key);
receivers hold the public key, which verifies but cannot sign.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import lzma
import struct
import zlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from knowledge_base.errors import KnowledgeBaseError, UpdateRejected
from knowledge_base.store import (
    EMPTY_VERSION,
    EntryChange,
    KBDiff,
    KnowledgeBase,
    _canonical_json,
    version_id_of,
)

MAGIC = b"SKBU"
FORMAT_VERSION = 1
HEADER = struct.Struct(">4sBBBB32s32sQII")
HEADER_SIZE = HEADER.size  # 88
CRC_SIZE = 4

ALG_HMAC_SHA256 = 1
ALG_ED25519 = 2
SIGNATURE_SIZES = {ALG_HMAC_SHA256: 32, ALG_ED25519: 64}
ALGORITHM_NAMES = {ALG_HMAC_SHA256: "hmac-sha256", ALG_ED25519: "ed25519"}

COMPRESSIONS = {"none": 0, "zlib": 1, "lzma": 2}
_COMPRESSION_NAMES = {v: k for k, v in COMPRESSIONS.items()}
_LZMA_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 9}]

#: Largest decompressed payload a receiver accepts by default (guards against decompression bombs).
DEFAULT_MAX_PAYLOAD = 1 << 30
MIN_HMAC_KEY_BYTES = 16


# ---------------------------------------------------------------------- signing


class Signer(ABC):
    """Signs updates. ``algorithm`` is the id written in the header."""

    algorithm: ClassVar[int]
    signature_size: ClassVar[int]

    @abstractmethod
    def sign(self, message: bytes) -> bytes: ...

    @property
    def algorithm_name(self) -> str:
        return ALGORITHM_NAMES[self.algorithm]


class Verifier(ABC):
    """Checks update signatures of one algorithm."""

    algorithm: ClassVar[int]
    signature_size: ClassVar[int]

    @abstractmethod
    def verify(self, message: bytes, signature: bytes) -> bool: ...

    @property
    def algorithm_name(self) -> str:
        return ALGORITHM_NAMES[self.algorithm]


def _hmac_key(key: bytes) -> bytes:
    if not isinstance(key, (bytes, bytearray)):
        raise KnowledgeBaseError(f"an HMAC key is bytes, got {type(key).__name__}")
    if len(key) < MIN_HMAC_KEY_BYTES:
        raise KnowledgeBaseError(f"an HMAC key needs at least {MIN_HMAC_KEY_BYTES} bytes, got {len(key)}")
    return bytes(key)


class HmacSigner(Signer):
    """HMAC-SHA256 with a key both ends share (at least 16 bytes)."""

    algorithm = ALG_HMAC_SHA256
    signature_size = 32

    def __init__(self, key: bytes):
        self._key = _hmac_key(key)

    def sign(self, message: bytes) -> bytes:
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def verifier(self) -> "HmacVerifier":
        return HmacVerifier(self._key)


class HmacVerifier(Verifier):
    algorithm = ALG_HMAC_SHA256
    signature_size = 32

    def __init__(self, key: bytes):
        self._key = _hmac_key(key)

    def verify(self, message: bytes, signature: bytes) -> bool:
        return hmac.compare_digest(hmac.new(self._key, message, hashlib.sha256).digest(), signature)


def _ed25519():
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:  # pragma: no cover - cryptography is a declared dependency
        raise KnowledgeBaseError("Ed25519 signatures need the 'cryptography' package") from None
    return ed25519, InvalidSignature


class Ed25519Signer(Signer):
    """Ed25519 signatures: the sender keeps the private key, receivers get :meth:`public_bytes`."""

    algorithm = ALG_ED25519
    signature_size = 64

    def __init__(self, private_key: Any):
        ed25519, _ = _ed25519()
        if isinstance(private_key, (bytes, bytearray)):
            if len(private_key) != 32:
                raise KnowledgeBaseError(f"a raw Ed25519 private key is 32 bytes, got {len(private_key)}")
            private_key = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(private_key))
        if not isinstance(private_key, ed25519.Ed25519PrivateKey):
            raise KnowledgeBaseError("Ed25519Signer takes an Ed25519PrivateKey or its 32 raw bytes")
        self._key = private_key

    @classmethod
    def generate(cls) -> "Ed25519Signer":
        ed25519, _ = _ed25519()
        return cls(ed25519.Ed25519PrivateKey.generate())

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def private_bytes(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return self._key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )

    def public_bytes(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return self._key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def private_pem(self) -> bytes:
        """The private key as unencrypted PKCS#8 PEM (a key file; keep it secret)."""
        from cryptography.hazmat.primitives import serialization

        return self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def public_pem(self) -> bytes:
        """The public key as SubjectPublicKeyInfo PEM (the file receivers get)."""
        from cryptography.hazmat.primitives import serialization

        return self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def verifier(self) -> "Ed25519Verifier":
        return Ed25519Verifier(self._key.public_key())


class Ed25519Verifier(Verifier):
    algorithm = ALG_ED25519
    signature_size = 64

    def __init__(self, public_key: Any):
        ed25519, self._invalid = _ed25519()
        if isinstance(public_key, (bytes, bytearray)):
            if len(public_key) != 32:
                raise KnowledgeBaseError(f"a raw Ed25519 public key is 32 bytes, got {len(public_key)}")
            public_key = ed25519.Ed25519PublicKey.from_public_bytes(bytes(public_key))
        if not isinstance(public_key, ed25519.Ed25519PublicKey):
            raise KnowledgeBaseError("Ed25519Verifier takes an Ed25519PublicKey or its 32 raw bytes")
        self._key = public_key

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            self._key.verify(bytes(signature), message)
        except self._invalid:
            return False
        return True


def as_signer(key: Signer | bytes) -> Signer:
    """``key`` as a :class:`Signer`: a Signer as it is, bytes as an HMAC key."""
    if isinstance(key, Signer):
        return key
    if isinstance(key, (bytes, bytearray)):
        return HmacSigner(bytes(key))
    raise KnowledgeBaseError(f"sign updates with a Signer or an HMAC key (bytes), got {type(key).__name__}")


def as_verifier(verifier: Verifier | bytes) -> Verifier:
    """``verifier`` as a :class:`Verifier`: a Verifier as it is, bytes as an HMAC key."""
    if isinstance(verifier, Verifier):
        return verifier
    if isinstance(verifier, (bytes, bytearray)):
        return HmacVerifier(bytes(verifier))
    raise KnowledgeBaseError(f"check updates with a Verifier or an HMAC key (bytes), got {type(verifier).__name__}")


# ---------------------------------------------------------------------- payload encoding


class _Malformed(Exception):
    pass


def _put_str(out: bytearray, text: str) -> None:
    raw = text.encode("utf-8")
    out += struct.pack(">H", len(raw))
    out += raw


def _encode_payload(diff: KBDiff) -> bytes:
    out = bytearray()
    out += struct.pack(">I", len(diff.removed))
    for change in diff.removed:
        _put_str(out, change.kind)
        _put_str(out, change.name)
    upserts = sorted(diff.added + diff.changed, key=lambda c: c.key)
    out += struct.pack(">I", len(upserts))
    for change in upserts:
        _put_str(out, change.kind)
        _put_str(out, change.name)
        out += bytes.fromhex(change.sha256)
        meta = _canonical_json(dict(change.meta or {})).encode("ascii")
        out += struct.pack(">I", len(meta))
        out += meta
    blobs = [diff.blobs[sha] for sha in sorted(diff.blobs)]
    out += struct.pack(">I", len(blobs))
    for data in blobs:
        if len(data) >= 1 << 32:
            raise KnowledgeBaseError("a blob of 4 GiB or more does not fit in an update")
        out += struct.pack(">I", len(data))
        out += data
    return bytes(out)


class _Reader:
    def __init__(self, data: bytes):
        self.data = memoryview(data)
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise _Malformed(f"payload ends early (needs {n} bytes at offset {self.pos})")
        out = bytes(self.data[self.pos : self.pos + n])
        self.pos += n
        return out

    def u16(self) -> int:
        return struct.unpack(">H", self.take(2))[0]

    def u32(self) -> int:
        return struct.unpack(">I", self.take(4))[0]

    def string(self) -> str:
        try:
            text = self.take(self.u16()).decode("utf-8")
        except UnicodeDecodeError:
            raise _Malformed("a kind or name is not UTF-8") from None
        if not text:
            raise _Malformed("empty kind or name")
        return text


def _decode_payload(payload: bytes) -> tuple[list[tuple[str, str]], list[tuple[str, str, str, dict]], list[bytes]]:
    reader = _Reader(payload)
    removed = [(reader.string(), reader.string()) for _ in range(reader.u32())]
    upserts = []
    for _ in range(reader.u32()):
        kind, name = reader.string(), reader.string()
        sha = reader.take(32).hex()
        try:
            meta = json.loads(reader.take(reader.u32()).decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            raise _Malformed(f"metadata of {kind}/{name} is not JSON") from None
        if not isinstance(meta, dict):
            raise _Malformed(f"metadata of {kind}/{name} is not a JSON object")
        upserts.append((kind, name, sha, meta))
    blobs = [reader.take(reader.u32()) for _ in range(reader.u32())]
    if reader.pos != len(payload):
        raise _Malformed(f"{len(payload) - reader.pos} stray bytes after the payload")
    keys = [(k, n) for k, n in removed] + [(k, n) for k, n, _, _ in upserts]
    if len(set(keys)) != len(keys):
        raise _Malformed("an entry appears twice in the payload")
    return removed, upserts, blobs


def _compress(raw: bytes, method: str) -> tuple[int, bytes]:
    if method == "auto":
        candidates = [_compress(raw, name) for name in ("none", "zlib", "lzma")]
        return min(candidates, key=lambda item: (len(item[1]), item[0]))
    if method not in COMPRESSIONS:
        raise KnowledgeBaseError(f"unknown compression {method!r}; known: auto, {', '.join(COMPRESSIONS)}")
    if method == "zlib":
        packer = zlib.compressobj(9, zlib.DEFLATED, -15)
        return COMPRESSIONS[method], packer.compress(raw) + packer.flush()
    if method == "lzma":
        return COMPRESSIONS[method], lzma.compress(raw, format=lzma.FORMAT_RAW, filters=_LZMA_FILTERS)
    return COMPRESSIONS[method], raw


def _decompress(method: int, payload: bytes, raw_size: int) -> bytes:
    try:
        if method == 0:
            raw = payload
        elif method == 1:
            unpacker = zlib.decompressobj(-15)
            raw = unpacker.decompress(payload, raw_size + 1)
            if not unpacker.eof or unpacker.unused_data or unpacker.unconsumed_tail:
                raise _Malformed("the compressed payload does not end where it should")
        else:
            unpacker = lzma.LZMADecompressor(format=lzma.FORMAT_RAW, filters=_LZMA_FILTERS)
            raw = unpacker.decompress(payload, raw_size + 1)
            if not unpacker.eof or unpacker.unused_data:
                raise _Malformed("the compressed payload does not end where it should")
    except (zlib.error, lzma.LZMAError) as err:
        raise _Malformed(f"cannot decompress the payload: {err}") from None
    if len(raw) != raw_size:
        raise _Malformed(f"payload decompresses to {len(raw)} bytes, the header says {raw_size}")
    return raw


# ---------------------------------------------------------------------- header


@dataclass(frozen=True)
class UpdateHeader:
    """The fixed header of an update, read without checking anything else."""

    format_version: int
    algorithm: int
    compression: str
    from_version: str
    to_version: str
    sequence: int
    payload_size: int
    raw_size: int
    signature_size: int

    @property
    def total_size(self) -> int:
        return HEADER_SIZE + self.payload_size + self.signature_size + CRC_SIZE


def read_header(data: bytes) -> UpdateHeader:
    """Parse an update's header; raises :class:`UpdateRejected` ("truncated"/"malformed")."""
    data = bytes(data)
    if len(data) < len(MAGIC) and MAGIC.startswith(data):
        raise UpdateRejected("truncated", f"only {len(data)} bytes arrived")
    if data[: len(MAGIC)] != MAGIC:
        raise UpdateRejected("malformed", "not a knowledge-base update (bad magic)")
    if len(data) < HEADER_SIZE:
        raise UpdateRejected("truncated", f"only {len(data)} bytes arrived, the header alone is {HEADER_SIZE}")
    _, fmt, alg, comp, flags, from_id, to_id, seq, size, raw_size = HEADER.unpack_from(data)
    if fmt != FORMAT_VERSION:
        raise UpdateRejected("malformed", f"update format {fmt} is not supported (this code reads {FORMAT_VERSION})")
    if alg not in SIGNATURE_SIZES:
        raise UpdateRejected("malformed", f"unknown signature algorithm {alg}")
    if comp not in _COMPRESSION_NAMES:
        raise UpdateRejected("malformed", f"unknown compression {comp}")
    if flags != 0:
        raise UpdateRejected("malformed", f"unknown flags {flags:#04x}")
    return UpdateHeader(
        fmt, alg, _COMPRESSION_NAMES[comp], from_id.hex(), to_id.hex(), seq, size, raw_size, SIGNATURE_SIZES[alg]
    )


# ---------------------------------------------------------------------- make and apply


def make_update(
    kb: KnowledgeBase,
    from_version: str | None,
    to_version: str | None,
    sequence: int,
    key: Signer | bytes,
    *,
    compression: str = "zlib",
) -> bytes:
    """Serialise the diff ``from_version -> to_version`` of ``kb`` as a signed update.

    ``from_version=None`` starts from the empty version (a receiver with nothing yet);
    ``to_version=None`` is the head. ``key`` is a :class:`Signer` or an HMAC key (bytes).
    ``compression`` is "zlib", "lzma", "none" or "auto" (the smallest of the three).
    """
    signer = as_signer(key)
    if not isinstance(sequence, int) or isinstance(sequence, bool) or not 1 <= sequence < 1 << 64:
        raise KnowledgeBaseError(f"sequence must be an int in [1, 2**64), got {sequence!r}")
    diff = kb.diff(from_version, to_version, include_blobs=True)
    raw = _encode_payload(diff)
    if len(raw) >= 1 << 32:
        raise KnowledgeBaseError("the update is too large (payload of 4 GiB or more)")
    method, payload = _compress(raw, compression)
    header = HEADER.pack(
        MAGIC,
        FORMAT_VERSION,
        signer.algorithm,
        method,
        0,
        bytes.fromhex(diff.from_version),
        bytes.fromhex(diff.to_version),
        sequence,
        len(payload),
        len(raw),
    )
    signed = header + payload
    signature = signer.sign(signed)
    if len(signature) != SIGNATURE_SIZES[signer.algorithm]:
        raise KnowledgeBaseError(f"{signer.algorithm_name} signer returned {len(signature)} bytes")
    body = signed + signature
    return body + struct.pack(">I", zlib.crc32(body))


@dataclass(frozen=True)
class ApplyResult:
    """What a receiver did with an update; doubles as the acknowledgement sent back.

    accepted:      whether the update was applied.
    head:          the receiver's head afterwards (unchanged on rejection).
    previous_head: its head before.
    sequence:      the update's sequence number, when it could be read.
    last_sequence: the receiver's replay counter afterwards (last accepted sequence number, 0 if none).
    added/removed/changed: entry counts of the applied diff.
    reason/error:  why it was rejected (see :data:`knowledge_base.errors.REJECTION_REASONS`).
    """

    accepted: bool
    head: str | None
    previous_head: str | None
    sequence: int | None
    last_sequence: int
    added: int = 0
    removed: int = 0
    changed: int = 0
    size: int = 0
    reason: str | None = None
    error: UpdateRejected | None = None


def _check_bytes(data: bytes, verifier: Verifier) -> tuple[UpdateHeader, bytes]:
    """Length, structure, CRC and signature; returns the header and the (compressed) payload."""
    header = read_header(data)
    seq = header.sequence
    if len(data) < header.total_size:
        raise UpdateRejected(
            "truncated", f"{len(data)} of the {header.total_size} bytes the header announces arrived", sequence=seq
        )
    if len(data) > header.total_size:
        raise UpdateRejected(
            "malformed", f"{len(data) - header.total_size} bytes more than the header announces", sequence=seq
        )
    body, crc = data[:-CRC_SIZE], struct.unpack(">I", data[-CRC_SIZE:])[0]
    if zlib.crc32(body) != crc:
        raise UpdateRejected("integrity", "checksum mismatch: the update was damaged on the way", sequence=seq)
    signed_end = HEADER_SIZE + header.payload_size
    if header.algorithm != verifier.algorithm:
        raise UpdateRejected(
            "signature",
            f"signed with {ALGORITHM_NAMES[header.algorithm]}, this receiver checks {verifier.algorithm_name}",
            sequence=seq,
        )
    if not verifier.verify(body[:signed_end], body[signed_end:]):
        raise UpdateRejected("signature", "the signature does not verify (forged or wrong key)", sequence=seq)
    return header, body[HEADER_SIZE:signed_end]


def apply_update(
    kb: KnowledgeBase,
    data: bytes,
    verifier: Verifier | bytes,
    *,
    raise_on_reject: bool = True,
    max_payload: int = DEFAULT_MAX_PAYLOAD,
) -> ApplyResult:
    """Check an update and, if every check passes, make its target version ``kb``'s head.

    Replay protection is always on: the update's sequence number must be above the store's
    counter (:attr:`KnowledgeBase.last_sequence`, 0 for a fresh store), which an accepted update
    raises to its own number in the same transaction. A rejection raises :class:`UpdateRejected`
    (or, with ``raise_on_reject=False``, returns an :class:`ApplyResult` with ``accepted=False``)
    and leaves ``kb`` as it was.
    """
    verifier = as_verifier(verifier)
    previous = kb.head
    try:
        if data is None:
            raise UpdateRejected("truncated", "nothing arrived")
        data = bytes(data)
        return _apply(kb, data, verifier, max_payload)
    except UpdateRejected as rejection:
        if raise_on_reject:
            raise
        return ApplyResult(
            accepted=False,
            head=kb.head,
            previous_head=previous,
            sequence=rejection.sequence,
            last_sequence=kb.last_sequence,
            size=0 if data is None else len(data),
            reason=rejection.reason,
            error=rejection,
        )


def _apply(kb: KnowledgeBase, data: bytes, verifier: Verifier, max_payload: int) -> ApplyResult:
    header, payload = _check_bytes(data, verifier)
    seq = header.sequence
    with kb._transaction():
        last_sequence = kb.last_sequence
        if seq <= last_sequence:
            raise UpdateRejected(
                "replay", f"sequence {seq} is not above the last accepted one ({last_sequence})", sequence=seq
            )
        if header.raw_size > max_payload:
            raise UpdateRejected(
                "malformed", f"payload of {header.raw_size} bytes exceeds the limit {max_payload}", sequence=seq
            )
        previous = kb.head
        base = previous if previous is not None else EMPTY_VERSION
        if header.from_version != base:
            raise UpdateRejected(
                "base-mismatch",
                f"the update starts from {header.from_version[:8]}, this receiver is on {base[:8]}; "
                "the sender must send a diff from the receiver's version",
                sequence=seq,
            )
        try:
            raw = _decompress(COMPRESSIONS[header.compression], payload, header.raw_size)
            removed, upserts, blobs = _decode_payload(raw)
        except _Malformed as err:
            raise UpdateRejected("malformed", str(err), sequence=seq) from None

        base_manifest = kb._manifest(base)
        blob_map = {hashlib.sha256(blob).hexdigest(): blob for blob in blobs}
        added, changed, gone = [], [], []
        for kind, name in removed:
            if (kind, name) not in base_manifest:
                raise UpdateRejected("malformed", f"removes {kind}/{name}, which the base does not hold", sequence=seq)
            gone.append(EntryChange(kind, name, None, None))
        for kind, name, sha, meta in upserts:
            if sha not in blob_map and not kb.has_blob(sha):
                raise UpdateRejected(
                    "hash-mismatch", f"no data hashes to {sha[:12]}, the blob of {kind}/{name}", sequence=seq
                )
            change = EntryChange(kind, name, sha, meta)
            (changed if (kind, name) in base_manifest else added).append(change)
        diff = KBDiff(base, header.to_version, tuple(added), tuple(gone), tuple(changed), blob_map)
        try:
            manifest = kb._patched_manifest(base, diff)
        except KnowledgeBaseError as err:
            raise UpdateRejected("malformed", str(err), sequence=seq) from None
        result_id = version_id_of(manifest)
        if result_id != header.to_version:
            raise UpdateRejected(
                "hash-mismatch",
                f"the patched content hashes to {result_id[:8]}, the update announces {header.to_version[:8]}",
                sequence=seq,
            )
        used = {sha for sha, _ in manifest.values()}
        kept = {sha: blob for sha, blob in blob_map.items() if sha in used}
        diff = KBDiff(base, result_id, diff.added, diff.removed, diff.changed, kept)
        kb.patch(base, diff, message=f"update #{seq}", expected=result_id, checkout=True)
        kb._advance_sequence(seq)
    return ApplyResult(
        accepted=True,
        head=result_id,
        previous_head=previous,
        sequence=seq,
        last_sequence=seq,
        added=len(added),
        removed=len(gone),
        changed=len(changed),
        size=len(data),
    )

