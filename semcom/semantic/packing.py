"""Compact, deterministic bytes for the prompt codec's knowledge base, and bits of integers.

:func:`pack_arrays` writes a JSON header and integer arrays as LEB128 varints (2-D id tables
sorted by row are stored column by column, delta-coded, so most numbers take one byte);
:func:`unpack_arrays` reads them back and refuses anything but that exact layout.
:func:`int_bits` and :func:`bits_int` convert between an integer and its big-endian bits.
"""

from __future__ import annotations

import json
import struct

import numpy as np

from semcom.errors import InputError

def _delta_rows(rows: np.ndarray) -> np.ndarray:
    """Columns of lexicographically sorted rows, each value replaced by its difference to the
    previous row's when the row shares every earlier column with it (small numbers compress)."""
    rows = rows.astype(np.int64)
    out = np.empty((rows.shape[1], rows.shape[0]), dtype=np.int64)
    same = np.zeros(rows.shape[0], dtype=bool)
    same[1:] = True
    for j in range(rows.shape[1]):
        col = rows[:, j]
        prev = np.concatenate([[0], col[:-1]])
        out[j] = np.where(same, col - prev, col)
        same &= np.concatenate([[False], col[1:] == col[:-1]])
    return out


def _undelta_rows(cols: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_delta_rows`."""
    ncol, n = cols.shape
    rows = np.empty((n, ncol), dtype=np.int64)
    same = np.zeros(n, dtype=bool)
    same[1:] = True
    for j in range(ncol):
        stored = cols[j]
        starts = np.flatnonzero(~same)
        seg = np.cumsum(~same) - 1
        cs = np.cumsum(stored)
        col = cs - (cs[starts] - stored[starts])[seg] if n else cs
        rows[:, j] = col
        same &= np.concatenate([[False], col[1:] == col[:-1]])
    return rows


def _varint_encode(values: np.ndarray) -> bytes:
    """LEB128 bytes of non-negative integers (7 bits a byte, high bit = more bytes follow)."""
    v = np.asarray(values, dtype=np.int64)
    if v.size and int(v.min()) < 0:
        raise ValueError("varints must be non-negative")
    if v.size == 0:
        return b""
    nbytes = np.ones(v.size, dtype=np.int64)
    for p in range(1, 10):
        nbytes += v >= (1 << (7 * p))
    width = int(nbytes.max())
    grid = np.zeros((v.size, width), dtype=np.uint8)
    for p in range(width):
        more = (nbytes > p + 1).astype(np.int64) << 7
        grid[:, p] = (((v >> (7 * p)) & 0x7F) | more).astype(np.uint8)
    keep = np.arange(width)[None, :] < nbytes[:, None]
    return grid[keep].tobytes()


def _varint_decode(data: bytes, count: int) -> tuple[np.ndarray, int]:
    """The first ``count`` LEB128 values of ``data`` and the number of bytes they took."""
    if count == 0:
        return np.zeros(0, dtype=np.int64), 0
    b = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(b < 0x80)
    if len(ends) < count:
        raise InputError("text codec blob is truncated")
    used = int(ends[count - 1]) + 1
    b = b[:used].astype(np.int64)
    ends = ends[:count]
    starts = np.concatenate([[0], ends[:-1] + 1])
    if int((ends - starts).max()) > 8:
        raise InputError("text codec blob has an oversized number")
    pos = np.arange(used) - np.repeat(starts, ends - starts + 1)
    return np.add.reduceat((b & 0x7F) << (7 * pos), starts), used


def pack_arrays(header: dict, arrays: list[np.ndarray]) -> bytes:
    """Canonical bytes: JSON header, then each array as (kind, columns, length) and varints.

    2-D id tables (sorted rows) are stored column by column, delta-coded (see
    :func:`_delta_rows`), so most numbers take one byte.
    """
    head = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    parts = [struct.pack("<I", len(head)), head, struct.pack("<I", len(arrays))]
    for a in arrays:
        a = np.ascontiguousarray(a)
        if a.ndim == 2:
            flat, kind, ncol = _delta_rows(a).reshape(-1), 1, a.shape[1]
        else:
            flat, kind, ncol = a.astype(np.int64), 0, 1
        parts.append(struct.pack("<BIQ", kind, ncol, flat.size))
        parts.append(_varint_encode(flat))
    return b"".join(parts)


def unpack_arrays(raw: bytes) -> tuple[dict, list[np.ndarray]]:
    """``(header, arrays)`` of :func:`pack_arrays` bytes; InputError when they are not in that layout."""
    off = 0
    (hl,) = struct.unpack_from("<I", raw, off)
    off += 4
    header = json.loads(raw[off : off + hl].decode())
    off += hl
    (na,) = struct.unpack_from("<I", raw, off)
    off += 4
    arrays = []
    for _ in range(na):
        kind, ncol, count = struct.unpack_from("<BIQ", raw, off)
        off += struct.calcsize("<BIQ")
        if ncol < 1 or count % ncol or count > len(raw):
            raise InputError("text codec blob is inconsistent")
        flat, used = _varint_decode(raw[off:], count)
        off += used
        arrays.append(_undelta_rows(flat.reshape(ncol, -1)) if kind == 1 else flat)
    if off != len(raw):
        raise InputError("text codec blob has trailing bytes")
    return header, arrays


def int_bits(value: int, width: int) -> list[int]:
    """The ``width`` bits of ``value``, most significant first."""
    return [(value >> (width - 1 - i)) & 1 for i in range(width)]


def bits_int(bits: np.ndarray) -> int:
    """The integer whose bits, most significant first, are ``bits``."""
    v = 0
    for b in bits.tolist():
        v = (v << 1) | int(b)
    return v
