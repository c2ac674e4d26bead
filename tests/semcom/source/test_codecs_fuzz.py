"""Image decoders behind the link, fuzzed with 10,000 corrupted streams each.

What a receiver guarantees for any bytes: an image of the expected shape (uint8, [H, W, 3]) or a
CodecError, never another exception, within a bounded time, and never a truncated stream taken
for an image (nor, measured, an extended one or random bytes). It does not guarantee that an
accepted stream is the one sent: a corruption that still parses decodes to an image with
artefacts. The streams carry no check of their own (it would
cost bits the separation bound does not have); their integrity is the link's CRC24A per code
block, and the separation scheme decodes only streams whose every block passed it.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import skimage.data

from semcom.errors import CodecError
from semcom.source.codecs import CODECS

CASES = 10_000
DECODE_S = 2.0  # seconds per stream (a 32 x 48 image decodes in well under 1 ms)
KINDS = ("flips", "bytes", "header", "truncate", "extend", "random")


def _corrupt(data: bytes, rng: np.random.Generator, kind: str) -> bytes:
    """A corrupted copy of ``data`` that differs from it (see :data:`KINDS`)."""
    while True:
        b = bytearray(data)
        if kind == "flips":  # 1 to 3 bit flips anywhere
            for _ in range(int(rng.integers(1, 4))):
                b[int(rng.integers(len(b)))] ^= 1 << int(rng.integers(8))
        elif kind == "bytes":  # a burst of 1 to 16 random bytes
            start = int(rng.integers(len(b)))
            stop = min(len(b), start + int(rng.integers(1, 17)))
            b[start:stop] = rng.integers(0, 256, size=stop - start, dtype=np.uint8).tobytes()
        elif kind == "header":  # a random byte among the first 40 (the parsed headers)
            b[int(rng.integers(min(40, len(b))))] = int(rng.integers(256))
        elif kind == "truncate":
            b = b[: int(rng.integers(len(b)))]
        elif kind == "extend":
            b += rng.integers(0, 256, size=int(rng.integers(1, 65)), dtype=np.uint8).tobytes()
        else:  # random bytes of 10 % to 150 % of the length
            size = max(1, int(len(data) * rng.uniform(0.1, 1.5)))
            b = bytearray(rng.integers(0, 256, size=size, dtype=np.uint8).tobytes())
        if bytes(b) != data:
            return bytes(b)


def _fuzz(name: str, image: np.ndarray, cases: int, seed: int) -> None:
    """``cases`` corrupted streams of ``image`` into the ``name`` decoder, with the guarantees above."""
    codec = CODECS.create(name)
    lo, hi = codec.quality_range
    data = codec.encode(image, (lo + hi) // 2)
    rng = np.random.default_rng(seed)
    accepted = {kind: 0 for kind in KINDS}
    worst = 0.0
    for i in range(cases):
        kind = KINDS[i % len(KINDS)]
        stream = _corrupt(data, rng, kind)
        t0 = time.perf_counter()
        try:
            out = codec.decode(stream, image.shape)
        except CodecError as err:
            assert str(err) and "\n" not in str(err)
        else:
            assert out.shape == image.shape and out.dtype == np.uint8
            accepted[kind] += 1
        worst = max(worst, time.perf_counter() - t0)
    assert worst < DECODE_S
    assert accepted["truncate"] == 0 and accepted["random"] == 0
    # an extension is refused unless it parses as whole units the format allows (none measured)
    per_kind = cases // len(KINDS)
    assert accepted["extend"] <= per_kind // 100
    assert all(n < per_kind for n in accepted.values())  # some of every kind are refused


@pytest.mark.parametrize("name", ["jpeg", "webp", "avif", "heif"])
def test_decoder_survives_corrupted_streams(name):
    _fuzz(name, np.ascontiguousarray(skimage.data.astronaut()[40:72, 180:228]), CASES, seed=18)  # 32 x 48


@pytest.mark.slow
@pytest.mark.parametrize("name", ["jpeg", "webp", "avif", "heif"])
def test_decoder_survives_corrupted_streams_of_a_large_image(name):
    """A larger stream: 256 x 384 pixels, tens of times the data of the small one."""
    _fuzz(name, np.ascontiguousarray(skimage.data.astronaut()[:256, 64:448]), CASES, seed=19)
