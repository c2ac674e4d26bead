"""Model broadcasts and client updates as bytes: layout, update compression and checksum.

Everything a federated round moves over a link is one of two payloads, each closed by a CRC-32
over all of its bytes (checked before anything is parsed; the link's own per-block CRCs come first,
this one catches what they let through and any damage outside the link)::

    broadcast (server -> client)  b"SFLB" | version u8 | round u32 | header length u32
                                  | header JSON {"schema": [[name, shape], ...], "config": {...}}
                                  | float32 arrays in schema order | CRC-32
    update (client -> server)     b"SFLU" | version u8 | quantiser u8 | sparse u8 | round u32
                                  | client u32 | schema digest 8 B | examples u32 | loss f32 | flops f64
                                  | one section per tensor | CRC-32

An update carries the *change* of the client's arrays against the broadcast it trained from
(``delta = local - global``); the server adds it back. Its tensors follow the broadcast's schema,
of which the update carries only an 8-byte digest. A section is the tensor coded by an
:class:`UpdateCodec`:

* quantiser ``float32`` (4 bytes per value), ``float16`` (2 bytes; relative error <= 2**-11 for
  magnitudes in [6.1e-5, 65504], absolute <= 2**-25 below) or ``int8`` (per-tensor scale
  ``s = max|x| / 127`` as float32, then 1 byte per value; error <= s / 2);
* ``topk`` (fraction rho in (0, 1]): only the k = ceil(rho * n) largest magnitudes of the tensor,
  as k (u32), the gaps between their sorted positions (LEB128 varints) and their values in the
  quantiser's format; the others decode as 0.

What a lossy codec drops is kept by the client and added to its next update (error feedback,
:func:`error_feedback_step`), so nothing is lost for good, only delayed.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
import zlib
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from semcom.errors import CodecError, ConfigError

BROADCAST_MAGIC, UPDATE_MAGIC = b"SFLB", b"SFLU"
FORMAT_VERSION = 1
QUANTISERS = ("float32", "float16", "int8")
_QUANTISER_ID = {name: i for i, name in enumerate(QUANTISERS)}
_BROADCAST_HEAD = struct.Struct(">4sBII")
_UPDATE_HEAD = struct.Struct(">4sBBBII8sIfd")
_CRC = struct.Struct(">I")
MAX_ROUND = 2**32 - 1

#: Why a payload was refused (the ``reason`` of :class:`PayloadRejected`).
REJECTION_REASONS = ("checksum", "malformed", "schema", "round", "duplicate")


class PayloadRejected(CodecError):
    """A broadcast or update that is refused; ``reason`` is one of :data:`REJECTION_REASONS`."""

    def __init__(self, reason: str, message: str):
        super().__init__(f"{reason}: {message}")
        self.reason = reason


@dataclass(frozen=True)
class Schema:
    """Names and shapes of the arrays a model exchanges, in a fixed order.

    >>> s = Schema.of({"w": np.zeros((2, 3), np.float32), "b": np.zeros(3, np.float32)})
    >>> s.names, s.shapes, s.size
    (('w', 'b'), ((2, 3), (3,)), 9)
    """

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]

    @classmethod
    def of(cls, arrays: Mapping[str, np.ndarray]) -> "Schema":
        return cls(tuple(arrays), tuple(tuple(int(d) for d in np.shape(a)) for a in arrays.values()))

    @property
    def size(self) -> int:
        """Number of values of all arrays."""
        return sum(math.prod(s) for s in self.shapes)

    @property
    def digest(self) -> bytes:
        """8 bytes that name the schema (SHA-256 of its JSON)."""
        return hashlib.sha256(json.dumps(self.to_json()).encode()).digest()[:8]

    def to_json(self) -> list:
        return [[n, list(s)] for n, s in zip(self.names, self.shapes)]

    @classmethod
    def from_json(cls, items: Sequence) -> "Schema":
        try:
            return cls(tuple(str(n) for n, _ in items), tuple(tuple(int(d) for d in s) for _, s in items))
        except (TypeError, ValueError) as err:
            raise PayloadRejected("malformed", f"bad schema in the broadcast: {err}") from None

    def check(self, arrays: Mapping[str, np.ndarray]) -> None:
        """ConfigError unless ``arrays`` has exactly this schema's names and shapes."""
        if Schema.of(arrays) != Schema(self.names, self.shapes):
            raise ConfigError(f"arrays {Schema.of(arrays).to_json()} do not match the schema {self.to_json()}")


def _seal(body: bytes) -> bytes:
    return body + _CRC.pack(zlib.crc32(body))


def _unseal(payload: bytes, magic: bytes) -> bytes:
    payload = bytes(payload)
    if len(payload) < len(magic) + _CRC.size:
        raise PayloadRejected("malformed", f"payload of {len(payload)} bytes is too short")
    body, (crc,) = payload[: -_CRC.size], _CRC.unpack(payload[-_CRC.size :])
    if zlib.crc32(body) != crc:
        raise PayloadRejected("checksum", "CRC-32 of the payload does not match: it was corrupted on the way")
    if body[: len(magic)] != magic:
        raise PayloadRejected("malformed", f"payload starts with {body[:4]!r}, expected {magic!r}")
    return body


# --------------------------------------------------------------------------------- broadcast


@dataclass
class Broadcast:
    """A global model as sent to one client: round, the arrays and the round's config."""

    round: int
    arrays: dict[str, np.ndarray]
    config: dict = field(default_factory=dict)

    @property
    def schema(self) -> Schema:
        return Schema.of(self.arrays)


def encode_broadcast(broadcast: Broadcast) -> bytes:
    """The bytes of a broadcast (float32 arrays; config values JSON numbers, strings or booleans)."""
    if not 0 <= broadcast.round <= MAX_ROUND:
        raise ConfigError(f"round must be in 0..{MAX_ROUND}, got {broadcast.round}")
    header = json.dumps({"schema": broadcast.schema.to_json(), "config": broadcast.config},
                        separators=(",", ":")).encode()
    body = b"".join(np.ascontiguousarray(a, dtype="<f4").tobytes() for a in broadcast.arrays.values())
    return _seal(_BROADCAST_HEAD.pack(BROADCAST_MAGIC, FORMAT_VERSION, broadcast.round, len(header)) + header + body)


def decode_broadcast(payload: bytes) -> Broadcast:
    """Parse :func:`encode_broadcast`'s bytes; :class:`PayloadRejected` when damaged or malformed."""
    body = _unseal(payload, BROADCAST_MAGIC)
    if len(body) < _BROADCAST_HEAD.size:
        raise PayloadRejected("malformed", "broadcast header is truncated")
    _, version, rnd, n_header = _BROADCAST_HEAD.unpack_from(body)
    if version != FORMAT_VERSION:
        raise PayloadRejected("malformed", f"broadcast format {version}, expected {FORMAT_VERSION}")
    start = _BROADCAST_HEAD.size
    try:
        header = json.loads(body[start : start + n_header])
        schema, config = Schema.from_json(header["schema"]), dict(header["config"])
    except (ValueError, KeyError, TypeError) as err:
        raise PayloadRejected("malformed", f"broadcast header is unreadable: {err}") from None
    offset, arrays = start + n_header, {}
    if len(body) - offset != 4 * schema.size:
        raise PayloadRejected("malformed", f"broadcast holds {len(body) - offset} array bytes, schema needs {4 * schema.size}")
    for name, shape in zip(schema.names, schema.shapes):
        n = math.prod(shape)
        arrays[name] = np.frombuffer(body, dtype="<f4", count=n, offset=offset).astype(np.float32).reshape(shape)
        offset += 4 * n
    return Broadcast(rnd, arrays, config)


# ------------------------------------------------------------------------------------ update


@dataclass(frozen=True)
class UpdateCodec:
    """How a client codes its update: a quantiser and optional top-k sparsification.

    quantise: ``float32``, ``float16`` or ``int8`` (see the module doc for the error of each).
    topk:     fraction rho in (0, 1] of each tensor's values kept (largest magnitudes), or None.
    """

    quantise: str = "float32"
    topk: float | None = None

    def __post_init__(self) -> None:
        if self.quantise not in QUANTISERS:
            raise ConfigError(f"unknown quantiser {self.quantise!r}; known: {', '.join(QUANTISERS)}")
        if self.topk is not None and (isinstance(self.topk, bool) or not isinstance(self.topk, (int, float))
                                      or not 0 < self.topk <= 1):
            raise ConfigError(f"topk must be a fraction in (0, 1], got {self.topk!r}")

    @property
    def lossless(self) -> bool:
        return self.quantise == "float32" and self.topk is None

    def describe(self) -> str:
        return self.quantise + ("" if self.topk is None else f"+top{self.topk:g}")


@dataclass
class Update:
    """A client's update: the round it answers, the client index, its examples (the FedAvg weight n_k),
    training loss and FLOPs, and ``delta`` (name -> array of the schema's shape)."""

    round: int
    client: int
    num_examples: int
    loss: float
    flops: float
    delta: dict[str, np.ndarray]


def _quantise(values: np.ndarray, quantise: str) -> tuple[bytes, np.ndarray]:
    """(bytes, decoded float32 values) of a flat float32 vector."""
    if quantise == "float32":
        v = values.astype("<f4")
        return v.tobytes(), v.astype(np.float32)
    if quantise == "float16":
        if values.size and float(np.max(np.abs(values))) > float(np.finfo(np.float16).max):
            raise ConfigError("an update value exceeds the float16 range (65504); use float32 or int8")
        v = values.astype("<f2")
        return v.tobytes(), v.astype(np.float32)
    peak = float(np.max(np.abs(values))) if values.size else 0.0
    scale = np.float32(peak / 127.0) if peak > 0 else np.float32(1.0)
    q = np.clip(np.rint(values / scale), -127, 127).astype(np.int8)
    return struct.pack(">f", scale) + q.tobytes(), q.astype(np.float32) * scale


def _dequantise(buf: bytes, offset: int, n: int, quantise: str) -> tuple[np.ndarray, int]:
    if quantise == "float32":
        need = 4 * n
        values = np.frombuffer(buf, dtype="<f4", count=n, offset=offset) if need <= len(buf) - offset else None
    elif quantise == "float16":
        need = 2 * n
        values = np.frombuffer(buf, dtype="<f2", count=n, offset=offset) if need <= len(buf) - offset else None
    else:
        need = 4 + n
        values = None
        if need <= len(buf) - offset:
            (scale,) = struct.unpack_from(">f", buf, offset)
            values = np.frombuffer(buf, dtype=np.int8, count=n, offset=offset + 4).astype(np.float32) * np.float32(scale)
    if values is None:
        raise PayloadRejected("malformed", "update section is truncated")
    return values.astype(np.float32), offset + need


def varint_encode(values: np.ndarray) -> bytes:
    """LEB128 bytes of non-negative integers (< 2**35), 7 bits per byte, low groups first."""
    v = np.asarray(values, dtype=np.int64).reshape(-1)
    if v.size == 0:
        return b""
    if v.min() < 0 or v.max() >= 1 << 35:
        raise ConfigError("varints take integers in [0, 2**35)")
    nbytes = np.maximum(1, (np.floor(np.log2(np.maximum(v, 1))).astype(np.int64) // 7) + 1)
    out = np.zeros(int(nbytes.sum()), dtype=np.uint8)
    starts = np.concatenate([[0], np.cumsum(nbytes)[:-1]])
    for j in range(int(nbytes.max())):
        has = nbytes > j
        group = (v[has] >> (7 * j)) & 0x7F
        more = (nbytes[has] > j + 1).astype(np.int64) << 7
        out[starts[has] + j] = (group | more).astype(np.uint8)
    return out.tobytes()


def varint_decode(buf: bytes, offset: int, count: int) -> tuple[np.ndarray, int]:
    """``count`` LEB128 integers from ``buf[offset:]``; returns them and the offset after them."""
    if count == 0:
        return np.zeros(0, dtype=np.int64), offset
    raw = np.frombuffer(buf, dtype=np.uint8, offset=offset)
    ends = np.flatnonzero(raw < 0x80)
    if ends.size < count:
        raise PayloadRejected("malformed", "update indices are truncated")
    ends = ends[:count]
    starts = np.concatenate([[0], ends[:-1] + 1])
    lengths = ends - starts + 1
    if lengths.max() > 5:
        raise PayloadRejected("malformed", "update index out of range")
    values = np.zeros(count, dtype=np.int64)
    for j in range(int(lengths.max())):
        has = lengths > j
        values[has] |= (raw[starts[has] + j].astype(np.int64) & 0x7F) << (7 * j)
    return values, offset + int(ends[-1]) + 1


def _encode_tensor(x: np.ndarray, codec: UpdateCodec) -> tuple[bytes, np.ndarray]:
    flat = np.ascontiguousarray(x, dtype=np.float32).reshape(-1)
    if codec.topk is None:
        data, decoded = _quantise(flat, codec.quantise)
        return data, decoded.reshape(x.shape)
    k = min(flat.size, max(1, math.ceil(codec.topk * flat.size))) if flat.size else 0
    idx = np.sort(np.argpartition(-np.abs(flat), k - 1)[:k]) if 0 < k < flat.size else np.arange(k)
    gaps = np.diff(idx, prepend=0) if k else idx
    if k:
        gaps[1:] -= 1  # positions strictly increase: code gap - 1
    data, values = _quantise(flat[idx], codec.quantise)
    decoded = np.zeros(flat.size, dtype=np.float32)
    decoded[idx] = values
    return struct.pack(">I", k) + varint_encode(gaps) + data, decoded.reshape(x.shape)


def _decode_tensor(buf: bytes, offset: int, shape: tuple[int, ...], quantise: str, sparse: bool) -> tuple[np.ndarray, int]:
    n = math.prod(shape)
    if not sparse:
        values, offset = _dequantise(buf, offset, n, quantise)
        return values.reshape(shape), offset
    if len(buf) - offset < 4:
        raise PayloadRejected("malformed", "update section is truncated")
    (k,) = struct.unpack_from(">I", buf, offset)
    if k > n:
        raise PayloadRejected("malformed", f"update keeps {k} of {n} values")
    gaps, offset = varint_decode(buf, offset + 4, k)
    idx = np.cumsum(gaps + np.concatenate([[0], np.ones(max(k - 1, 0), dtype=np.int64)])) if k else gaps
    if k and idx[-1] >= n:
        raise PayloadRejected("malformed", "update index out of range")
    values, offset = _dequantise(buf, offset, k, quantise)
    out = np.zeros(n, dtype=np.float32)
    out[idx] = values
    return out.reshape(shape), offset


def encode_update(update: Update, schema: Schema, codec: UpdateCodec) -> tuple[bytes, dict[str, np.ndarray]]:
    """(payload bytes, the delta the server will decode from them) of ``update`` under ``codec``."""
    schema.check(update.delta)
    for name, value in (("round", update.round), ("client", update.client), ("num_examples", update.num_examples)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value <= MAX_ROUND:
            raise ConfigError(f"update {name} must be an integer in 0..{MAX_ROUND}, got {value!r}")
    head = _UPDATE_HEAD.pack(UPDATE_MAGIC, FORMAT_VERSION, _QUANTISER_ID[codec.quantise], int(codec.topk is not None),
                             int(update.round), int(update.client), schema.digest, int(update.num_examples),
                             float(update.loss), float(update.flops))
    sections, decoded = [head], {}
    for name in schema.names:
        data, decoded[name] = _encode_tensor(update.delta[name], codec)
        sections.append(data)
    return _seal(b"".join(sections)), decoded


def decode_update(payload: bytes, schema: Schema) -> Update:
    """Parse an update against the broadcast's ``schema``; :class:`PayloadRejected` (reason
    ``checksum``, ``malformed`` or ``schema``) when it cannot be trusted."""
    body = _unseal(payload, UPDATE_MAGIC)
    if len(body) < _UPDATE_HEAD.size:
        raise PayloadRejected("malformed", "update header is truncated")
    _, version, qid, sparse, rnd, client, digest, examples, loss, flops = _UPDATE_HEAD.unpack_from(body)
    if version != FORMAT_VERSION or qid >= len(QUANTISERS) or sparse > 1:
        raise PayloadRejected("malformed", f"unknown update format (version {version}, quantiser {qid}, sparse {sparse})")
    if digest != schema.digest:
        raise PayloadRejected("schema", "the update was made for another model schema")
    quantise, offset, delta = QUANTISERS[qid], _UPDATE_HEAD.size, {}
    for name, shape in zip(schema.names, schema.shapes):
        delta[name], offset = _decode_tensor(body, offset, shape, quantise, bool(sparse))
    if offset != len(body):
        raise PayloadRejected("malformed", f"{len(body) - offset} stray bytes after the last tensor")
    if not all(np.isfinite(d).all() for d in delta.values()):
        raise PayloadRejected("malformed", "the update holds values that are not finite")
    return Update(rnd, client, examples, float(loss), float(flops), delta)


def error_feedback_step(delta: Mapping[str, np.ndarray], residual: Mapping[str, np.ndarray] | None,
                        schema: Schema, codec: UpdateCodec, **header) -> tuple[bytes, dict[str, np.ndarray]]:
    """Code ``delta + residual`` and return (payload, new residual = what the payload left out).

    ``header``: the :class:`Update` fields other than ``delta`` (round, client, num_examples, loss, flops).
    """
    wanted = {n: np.asarray(delta[n], np.float32) + (residual[n] if residual is not None else 0.0) for n in schema.names}
    payload, sent = encode_update(Update(delta=wanted, **header), schema, codec)
    return payload, {n: (wanted[n] - sent[n]).astype(np.float32) for n in schema.names}
