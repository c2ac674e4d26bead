"""Seeded fuzzing of :func:`apply_update`: damaged updates end in the typed rejection, fast, never applied."""

from __future__ import annotations

import struct
import time
import zlib

import numpy as np

from knowledge_base import HmacSigner, KnowledgeBase, UpdateRejected, apply_update, make_update
from knowledge_base.update import HEADER_SIZE

KEY = b"test-key-0123456789abcdef"
CASES_PER_KIND = 1500  # seven kinds: 10,500 damaged updates
MAX_SECONDS_PER_CALL = 1.0


def _flip_bits(rng, good):
    data = bytearray(good)
    for pos in rng.integers(0, 8 * len(data), rng.integers(1, 9)):
        data[pos // 8] ^= 1 << (pos % 8)
    return bytes(data)


def _truncate(rng, good):
    return good[: rng.integers(0, len(good))]


def _random_bytes(rng, good):
    junk = rng.bytes(int(rng.integers(0, 2 * len(good))))
    return good[: rng.integers(0, HEADER_SIZE + 1)] + junk if rng.random() < 0.5 else junk


def _extend(rng, good):
    return good + rng.bytes(int(rng.integers(1, 64)))


def _overwrite_span(rng, good):
    data = bytearray(good)
    start = int(rng.integers(0, len(data)))
    stop = min(len(data), start + int(rng.integers(1, 32)))
    data[start:stop] = rng.bytes(stop - start)
    return bytes(data)


def _checksum_fixed(rng, good):
    """Bits flipped and the CRC recomputed, but no key to sign with: a forgery."""
    body = bytearray(good[:-4])
    for pos in rng.integers(0, 8 * len(body), rng.integers(1, 9)):
        body[pos // 8] ^= 1 << (pos % 8)
    return bytes(body) + struct.pack(">I", zlib.crc32(bytes(body)))


def _resigned(rng, good):
    """Header fields or payload bytes changed, then validly signed and checksummed: what a key
    holder (or a faulty sender) could send; it exercises every check behind the signature."""
    body = bytearray(good[:-36])  # header + payload (HMAC: 32-byte signature, 4-byte CRC)
    for pos in rng.integers(4, len(body), rng.integers(1, 5)):
        body[pos] ^= 1 << int(rng.integers(0, 8))
    body += HmacSigner(KEY).sign(bytes(body))
    return bytes(body) + struct.pack(">I", zlib.crc32(bytes(body)))


MUTATIONS = (_flip_bits, _truncate, _random_bytes, _extend, _overwrite_span, _checksum_fixed, _resigned)


def _fresh_receiver(kb, v1):
    rx = KnowledgeBase()
    apply_update(rx, make_update(kb, None, v1, 1, KEY), KEY)
    return rx


def test_ten_thousand_damaged_updates_are_refused_cleanly(sender):
    kb, v1, v2 = sender
    rng = np.random.default_rng(20)
    goods = [make_update(kb, v1, v2, 2, KEY, compression=c) for c in ("zlib", "lzma", "none")]
    expected = {(e.kind, e.name): (e.data, e.meta) for e in kb.entries(v2)}
    rx = _fresh_receiver(kb, v1)
    reasons: dict[str, int] = {}
    accepted, slowest, cases = 0, 0.0, 0
    for mutate in MUTATIONS:
        for _ in range(CASES_PER_KIND):
            good = goods[int(rng.integers(0, len(goods)))]
            data = mutate(rng, good)
            if data == good:
                continue
            cases += 1
            start = time.perf_counter()
            try:
                apply_update(rx, data, KEY)
            except UpdateRejected as rejection:
                reasons[rejection.reason] = reasons.get(rejection.reason, 0) + 1
                assert rx.head == v1 and rx.last_sequence == 1
            else:
                # Only a validly signed update can get in, and only with exactly the content announced.
                assert mutate is _resigned
                got = {(e.kind, e.name): (e.data, e.meta) for e in rx.entries()}
                assert rx.head == v2 and got == expected and rx.verify() == []
                accepted += 1
                rx = _fresh_receiver(kb, v1)
            slowest = max(slowest, time.perf_counter() - start)
    assert cases >= 10_000
    assert slowest < MAX_SECONDS_PER_CALL
    assert {"truncated", "malformed", "integrity", "signature", "base-mismatch", "hash-mismatch"} <= set(reasons)
    assert accepted < CASES_PER_KIND // 10
