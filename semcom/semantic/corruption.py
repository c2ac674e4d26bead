"""Seeded corruptions of a sent bit stream, as a hostile channel could deliver them.

Used to measure how a receiver treats streams that are not what was sent (the prompt codec's
wrong-acceptance rate, its decode time on garbage). Every corruption differs from the sent bits.

Kinds (:data:`CORRUPTIONS`):

``flips``      1 to 3 bits flipped anywhere, header included;
``errors``     independent bit errors at a rate drawn log-uniformly in [0.3 %, 10 %] (at least one);
``burst``      a run of 2 to 32 bits replaced by random bits;
``truncate``   the first ``m < n`` bits only;
``extend``     1 to 40 random bits appended;
``random``     random bits, 50 % to 150 % of the sent length, behind the sent tag (``tag_bits``), so
               that a receiver cannot reject them on the tag alone.
"""

from __future__ import annotations

import numpy as np

from semcom.errors import InputError

CORRUPTIONS = ("flips", "errors", "burst", "truncate", "extend", "random")


def corrupt(bits: np.ndarray, rng: np.random.Generator, kind: str | None = None, tag_bits: int = 8) -> tuple[str, np.ndarray]:
    """``(kind, corrupted copy of bits)``; ``kind`` None draws one of :data:`CORRUPTIONS` uniformly."""
    sent = np.asarray(bits, dtype=np.uint8)
    if sent.ndim != 1 or sent.size < 2:
        raise InputError(f"corrupt needs a 1-D stream of at least 2 bits, got shape {sent.shape}")
    if kind is None:
        kind = CORRUPTIONS[int(rng.integers(len(CORRUPTIONS)))]
    if kind not in CORRUPTIONS:
        raise InputError(f"unknown corruption {kind!r}; known: {', '.join(CORRUPTIONS)}")
    while True:
        out = _apply(sent, rng, kind, tag_bits)
        if out.size != sent.size or not np.array_equal(out, sent):
            return kind, out


def _apply(sent: np.ndarray, rng: np.random.Generator, kind: str, tag_bits: int) -> np.ndarray:
    n = sent.size
    out = sent.copy()
    if kind == "flips":
        out[rng.choice(n, size=min(n, int(rng.integers(1, 4))), replace=False)] ^= 1
    elif kind == "errors":
        rate = float(np.exp(rng.uniform(np.log(0.003), np.log(0.1))))
        mask = rng.random(n) < rate
        mask[int(rng.integers(n))] = True
        out[mask] ^= 1
    elif kind == "burst":
        length = int(rng.integers(2, 33))
        start = int(rng.integers(0, max(1, n - length + 1)))
        out[start : start + length] = rng.integers(0, 2, size=out[start : start + length].size)
    elif kind == "truncate":
        out = sent[: int(rng.integers(0, n))].copy()
    elif kind == "extend":
        out = np.concatenate([sent, rng.integers(0, 2, size=int(rng.integers(1, 41))).astype(np.uint8)])
    else:
        tag = min(tag_bits, n)
        out = rng.integers(0, 2, size=max(tag, int(round(n * rng.uniform(0.5, 1.5))))).astype(np.uint8)
        out[:tag] = sent[:tag]
    return out.astype(np.uint8)


def forged_payloads(codec, sent: list, count: int, rng: np.random.Generator):
    """Corrupted payloads sealed with a matching check, to fuzz a prompt decoder behind its check.

    ``codec`` is a text codec (``header_bits``, ``version_bits``, ``max_bits``, ``seal``); ``sent``
    its encoded prompts, used in turn. Yields ``(sent prompt, sealed bits)`` for each of ``count``
    corruptions that changed the payload and fit the codec's limit (the others are skipped).
    """
    hb = codec.header_bits
    for i in range(count):
        enc = sent[i % len(sent)]
        _, bits = corrupt(enc.bits, rng, tag_bits=codec.version_bits)
        payload = bits[min(bits.size, hb) :]
        if np.array_equal(payload, enc.bits[hb:]) or payload.size + hb > codec.max_bits:
            continue
        yield enc, codec.seal(payload)
